#!/bin/sh
# bench/run.sh BUILD [SECTION...]: runs the benchmarks against the binaries in BUILD and writes
# one report per section, bench/results/<date>-<section>.md, each starting with a description
# of the machine. `make bench` runs every section.
#
# Sections:
#   translate   the control plane: load + translate + status/IR/publish, at 1,000 / 5,000 /
#               10,000 HTTPRoutes (ROUTES="..." overrides; RUNS=k translations per size)
#   dataplane   HTTP/1.1 proxying side by side with nginx, HAProxy and Caddy (one worker each,
#               proxy on one CPU, wrk and the backend on the other): req/s, proxy CPU time per
#               request, and memory per idle keep-alive connection. Raw wrk output and the
#               config files used go to bench/results/<date>-dataplane/. Needs
#               scripts/bench-deps.sh (wrk, nginx, haproxy, caddy). Environment: DURATION
#               (per run, default 10s), CONNS ("16 64 256"), SIZES (body bytes, "0 4096"),
#               PROXIES ("torii nginx haproxy caddy"), WARMUP (s, default 1), REPEAT (runs
#               per case, the one with the most req/s is reported; default 1), IDLE_CONNS
#               (default 10000; 0 skips the memory part), BENCH_PORT (first of 10 loopback
#               ports, default 18100), CLIENT_CPU (0), PROXY_CPU (1).
#
# A section is a function section_<name> that prints Markdown on stdout; add one and list it
# in SECTIONS. A section that fails leaves what it printed in bench/results/<date>-<name>.FAILED.md.
#
# Environment: ROUTES, RUNS, BENCH_WORK (where generated manifests go; default BUILD/bench-data),
# BENCH_RESULTS (default bench/results).
set -eu

SECTIONS="translate dataplane"

usage() {
    echo "usage: bench/run.sh BUILD [SECTION...]   (sections: $SECTIONS)" >&2
    exit 2
}

[ $# -ge 1 ] || usage
BUILD=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
[ -d "$BUILD" ] || { echo "bench/run.sh: no build directory $BUILD" >&2; exit 2; }
WORK=${BENCH_WORK:-$BUILD/bench-data}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
DATE=$(date -u +%Y-%m-%d)
mkdir -p "$WORK" "$RESULTS"

# --- the machine -------------------------------------------------------------------------

build_option() {
    # The value of a meson option of BUILD ("buildtype", "b_sanitize"), or "?".
    meson introspect --buildoptions "$BUILD" 2>/dev/null |
        python3 -c 'import json,sys
o={x["name"]:x["value"] for x in json.load(sys.stdin)}
v=o.get(sys.argv[1],"?")
print(",".join(v) if isinstance(v,list) else v)' "$1" 2>/dev/null || echo "?"
}

machine() {
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    [ -n "$cpu" ] || cpu=$(uname -m)
    cc=$(sed -n "s/^C compiler for the host machine: //p" "$BUILD/meson-logs/meson-log.txt" 2>/dev/null | head -n 1)
    [ -n "$cc" ] || cc=$(${CC:-cc} --version | head -n 1)
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    gov=$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo "n/a")
    virt=$(systemd-detect-virt 2>/dev/null || true)
    echo "| machine | |"
    echo "|---|---|"
    echo "| CPU | $cpu |"
    echo "| cores | $(nproc) online ($(getconf _NPROCESSORS_CONF) configured) |"
    echo "| memory | $mem |"
    echo "| kernel | $(uname -sr) |"
    echo "| load average at start | $(cut -d' ' -f1-3 /proc/loadavg) |"
    echo "| virtualization | ${virt:-unknown} |"
    echo "| cpufreq governor | $gov |"
    echo "| compiler | $cc |"
    echo "| build | $(basename "$BUILD"): buildtype=$(build_option buildtype), b_sanitize=$(build_option b_sanitize) |"
    echo "| torii | $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown) |"
    echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
}

# --- processes ---------------------------------------------------------------------------
# Every process a section starts is listed in PIDS (spawn) and stopped on exit, however the
# script ends; a section that fails keeps its partial report as <date>-<name>.FAILED.md.

PIDS=""
CURRENT_TMP=""

spawn() {
    # spawn LOG CMD...: starts CMD in the background, output to LOG; its pid is in SPAWNED.
    log=$1
    shift
    "$@" > "$log" 2>&1 &
    SPAWNED=$!
    PIDS="$PIDS $SPAWNED"
}

stop() {
    # stop PID: TERM, then KILL after 3 s; forgets it.
    kill "$1" 2>/dev/null || true
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    rest=""
    for p in $PIDS; do [ "$p" = "$1" ] || rest="$rest $p"; done
    PIDS=$rest
}

cleanup() {
    for p in $PIDS; do stop "$p"; done
    if [ -n "$CURRENT_TMP" ] && [ -f "$CURRENT_TMP" ]; then
        failed=$(dirname "$CURRENT_TMP")/$(basename "$CURRENT_TMP" .md.tmp | sed 's/^\.//').FAILED.md
        mv "$CURRENT_TMP" "$failed"
        echo "bench/run.sh: FAILED; partial report in ${failed#"$ROOT"/}" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- sections ----------------------------------------------------------------------------

section_translate() {
    bin=$BUILD/bench/bench-translate
    [ -x "$bin" ] || { echo "bench/run.sh: $bin not built" >&2; return 1; }
    echo "## Control plane: translate"
    echo
    echo "bench/translate/gen.py makes the manifests (10 Gateways with an HTTP and an HTTPS"
    echo "listener, Services with 3-endpoint EndpointSlices, HTTPRoutes with 2-4 rules, ~5%"
    echo "cross-namespace with ReferenceGrants, ~2% to a missing Service; one file per object);"
    echo "bench-translate loads them once and times each step. Times are wall clock."
    echo
    summary=$WORK/translate-summary.md
    : > "$summary"
    for n in ${ROUTES:-1000 5000 10000}; do
        dir=$WORK/translate-$n
        python3 "$HERE/translate/gen.py" "$dir" --routes "$n" 2>&1 | sed 's/^/    /' >&2
        out=$WORK/translate-$n.out
        "$bin" "$dir" -k "${RUNS:-20}" > "$out"
        # One summary line per size: the medians that matter.
        awk -v n="$n" -F'|' '
            /^\| load:/ { load = $3 }
            /^\| \*\*translate\*\*/ { tx = $4 }
            /^\| publish \(/ { pub = $4 }
            /^\| \*\*incremental total/ { inc = $4 }
            /^\| \*\*one change end to end/ { e2e = $4 }
            /^\| peak RSS/ { rss = $3 }
            END { gsub(/ /, "", load); gsub(/ /, "", tx); gsub(/ /, "", pub); gsub(/ /, "", inc); gsub(/ /, "", e2e); gsub(/^ +| +$/, "", rss)
                  printf "| %d | %s | %s | %s | %s | %s | %s |\n", n, load, tx, inc, pub, e2e, rss }' "$out" >> "$summary"
    done
    echo "### Summary (medians, ms)"
    echo
    echo "| HTTPRoutes | load (once) | translate | one route changed: reload + view + translate | publish (status + IR JSON) | one route changed, end to end (+ publish) | peak RSS |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    cat "$summary"
    echo
    echo "## Raw output"
    echo
    for n in ${ROUTES:-1000 5000 10000}; do
        sed "s|$WORK/||" "$WORK/translate-$n.out"
        echo
    done
}

# --- section dataplane -------------------------------------------------------------------
# torii, nginx, HAProxy and Caddy in front of bench-backend (bench/backend.c), one at a time,
# each with one worker, a keep-alive pool to the backend and no access log; plus "direct",
# wrk straight to the backend. The proxy runs alone on PROXY_CPU; wrk and the backend share
# CLIENT_CPU, so "direct" is the most this client and backend can do on that one CPU.

dp_ports_free() {
    python3 - "$@" <<'PY'
import socket, sys
busy = []
for p in sys.argv[1:]:
    s = socket.socket()
    # SO_REUSEADDR as the servers set it: TIME-WAIT leftovers of an earlier run do not count.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(p)))
        s.listen(1)
    except OSError:
        busy.append(p)
    finally:
        s.close()
if busy:
    sys.exit("bench/run.sh: ports in use on 127.0.0.1: %s (set BENCH_PORT)" % " ".join(busy))
PY
}

dp_status() {
    # The status code of GET http://127.0.0.1:PORT/, or 000.
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null || true
}

dp_wait() {
    # dp_wait PORT PID NAME: until PORT answers 200 (10 s at most) while PID lives.
    i=0
    while [ "$(dp_status "$1")" != 200 ]; do
        if [ -n "$2" ] && ! kill -0 "$2" 2>/dev/null; then
            echo "bench/run.sh: $3 exited at start; its log:" >&2
            tail -n 20 "$DP/$3.log" >&2 || true
            return 1
        fi
        i=$((i + 1))
        if [ $i -ge 100 ]; then
            echo "bench/run.sh: $3 does not answer 200 on 127.0.0.1:$1 (got $(dp_status "$1"))" >&2
            tail -n 20 "$DP/$3.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
}

dp_cpu() {
    # Clock ticks of user + system time of the processes given (all their threads).
    t=0
    for p in "$@"; do
        t=$((t + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
    done
    echo $t
}

dp_rss() {
    # VmRSS of the processes given, KiB.
    r=0
    for p in "$@"; do
        r=$((r + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")))
    done
    echo $r
}

dp_configs() {
    # The config files of every proxy, in $DP/<proxy>/.
    mkdir -p "$DP/torii" "$DP/nginx/tmp" "$DP/haproxy" "$DP/caddy"
    cat > "$DP/torii/bench.yaml" <<YAML
# One Gateway with an HTTP listener on 127.0.0.1:$P_TORII, one route (every path, any host) to
# the bench backend on 127.0.0.1:$P_BACKEND.
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: torii
spec:
  controllerName: torii.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: bench
  namespace: default
spec:
  gatewayClassName: torii
  addresses:
  - type: IPAddress
    value: 127.0.0.1
  listeners:
  - name: http
    protocol: HTTP
    port: $P_TORII
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: bench
  namespace: default
spec:
  parentRefs:
  - name: bench
  rules:
  - backendRefs:
    - name: backend
      port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: backend
  namespace: default
spec:
  ports:
  - name: http
    port: 80
    targetPort: $P_BACKEND
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: backend-1
  namespace: default
  labels:
    kubernetes.io/service-name: backend
addressType: IPv4
ports:
- name: http
  port: $P_BACKEND
endpoints:
- addresses: ["127.0.0.1"]
  conditions:
    ready: true
YAML
    cat > "$DP/nginx/nginx.conf" <<NGINX
# One worker, no access log, keep-alive to the backend (up to 1024 idle connections), no limit
# on requests per connection either side.
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $DP/nginx/nginx.pid;
error_log $DP/nginx/error.log warn;
events {
    worker_connections $((NOFILE - 64));
}
http {
    access_log off;
    client_body_temp_path $DP/nginx/tmp/body;
    proxy_temp_path $DP/nginx/tmp/proxy;
    fastcgi_temp_path $DP/nginx/tmp/fastcgi;
    uwsgi_temp_path $DP/nginx/tmp/uwsgi;
    scgi_temp_path $DP/nginx/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    upstream backend {
        server 127.0.0.1:$P_BACKEND;
        keepalive 1024;
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }
    server {
        listen 127.0.0.1:$P_NGINX backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGINX
    cat > "$DP/haproxy/haproxy.cfg" <<HAPROXY
# One thread, no log, keep-alive both sides; idle server connections are shared between client
# connections (http-reuse always, as nginx's upstream keepalive does). maxconn leaves room for
# the idle connections of the memory test; HAProxy wants 2 fds per connection and refuses to
# start when ulimit -n ($NOFILE here) is lower unless told "no strict-limits" (it then says so
# in its log), which is harmless here: idle client connections hold no server connection.
global
    nbthread 1
    no strict-limits
    maxconn $((IDLE + 1000))
defaults
    mode http
    maxconn $((IDLE + 1000))
    timeout connect 5s
    timeout client 75s
    timeout server 75s
    timeout http-keep-alive 75s
    http-reuse always
frontend fe
    bind 127.0.0.1:$P_HAPROXY
    default_backend be
backend be
    server s1 127.0.0.1:$P_BACKEND
HAPROXY
    cat > "$DP/caddy/Caddyfile" <<CADDY
# GOMAXPROCS=1 in the environment; no admin endpoint, plain HTTP, no access log (the default),
# keep-alive to the backend with up to 1024 idle connections.
{
	admin off
	auto_https off
}
http://:$P_CADDY {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$P_BACKEND {
		transport http {
			keepalive 75s
			keepalive_idle_conns 1024
			keepalive_idle_conns_per_host 1024
		}
	}
}
CADDY
}

dp_start() {
    # dp_start PROXY: starts it pinned to PROXY_CPU and waits for a 200 through it. Sets
    # DP_PORT (where the client goes), DP_PID (what to stop; empty for direct) and DP_MEASURE
    # (the processes whose CPU and memory count: nginx's worker, otherwise the process).
    DP_PID=""
    case $1 in
        direct)
            DP_PORT=$P_BACKEND ;;
        torii)
            DP_PORT=$P_TORII
            spawn "$DP/torii.log" taskset -c "$PROXY_CPU" "$BUILD/torii" run --config "$DP/torii" \
                --admin "127.0.0.1:$P_ADMIN" --workers 1 ;;
        nginx)
            DP_PORT=$P_NGINX
            spawn "$DP/nginx.log" taskset -c "$PROXY_CPU" nginx -e "$DP/nginx/error.log" \
                -p "$DP/nginx" -c "$DP/nginx/nginx.conf" ;;
        haproxy)
            DP_PORT=$P_HAPROXY
            spawn "$DP/haproxy.log" taskset -c "$PROXY_CPU" haproxy -db -f "$DP/haproxy/haproxy.cfg" ;;
        caddy)
            DP_PORT=$P_CADDY
            spawn "$DP/caddy.log" env GOMAXPROCS=1 HOME="$DP/caddy" XDG_CONFIG_HOME="$DP/caddy" \
                XDG_DATA_HOME="$DP/caddy" taskset -c "$PROXY_CPU" caddy run \
                --config "$DP/caddy/Caddyfile" --adapter caddyfile ;;
        *)
            echo "bench/run.sh: no proxy $1 (PROXIES: torii nginx haproxy caddy)" >&2
            return 1 ;;
    esac
    [ "$1" = direct ] || DP_PID=$SPAWNED
    dp_wait "$DP_PORT" "$DP_PID" "$1"
    DP_MEASURE=$DP_PID
    if [ "$1" = nginx ]; then
        DP_MEASURE=$(pgrep -P "$DP_PID" || true)
        [ "$(echo "$DP_MEASURE" | wc -w)" -eq 1 ] || {
            echo "bench/run.sh: nginx should have one worker, has: $DP_MEASURE" >&2
            return 1
        }
    fi
}

dp_wrk() {
    # dp_wrk PORT CONNS SECONDS OUT: HTTP/1.1 keep-alive GETs of /, one wrk thread on CLIENT_CPU.
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$2" -d"$3"s --timeout 5s --latency \
        "http://127.0.0.1:$1/" > "$4" 2>&1
}

dp_parse() {
    # One line from wrk's output: requests seconds req/s p50_us p99_us non2xx socket_errors.
    awk '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return v * 1000
            if (v ~ /m$/) return v * 60e6
            if (v ~ /s$/) return v * 1e6
            return v + 0
        }
        / requests in / { req = $1; d = $4; sub(/,$/, "", d)
                          dur = (d ~ /ms$/) ? d / 1000 : (d ~ /m$/) ? d * 60 : d + 0 }
        /^Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = us($2) }
        /^ +99%/ { p99 = us($2) }
        /Non-2xx or 3xx responses:/ { non = $NF }
        /Socket errors:/ { se = $4 + $6 + $8 + $10 }
        END { if (req == "" || rps == "") exit 1
              printf "%d %s %s %s %s %d %d\n", req, dur, rps, p50, p99, non, se }' "$1"
}

dp_case() {
    # dp_case PROXY SIZE CONNS RUN: one wrk run against the proxy started by dp_start; appends
    # "proxy size conns run <dp_parse fields> cpu_ticks" to $tsv, and the case to $errors if
    # wrk saw any error.
    out=$raw/$1-${2}B-c$3.txt
    [ "$repeat" = 1 ] || out=$raw/$1-${2}B-c$3-run$4.txt
    # shellcheck disable=SC2086 # DP_MEASURE: a list of pids
    t0=$(dp_cpu $DP_MEASURE)
    dp_wrk "$DP_PORT" "$3" "$dur" "$out" || { echo "bench/run.sh: wrk failed:" >&2; cat "$out" >&2; return 1; }
    # shellcheck disable=SC2086
    t1=$(dp_cpu $DP_MEASURE)
    for p in $DP_PID $DP_MEASURE $backend_pid; do
        kill -0 "$p" 2>/dev/null || { echo "bench/run.sh: $1 (or the backend) died during $out" >&2; return 1; }
    done
    line=$(dp_parse "$out") || { echo "bench/run.sh: cannot read $out" >&2; return 1; }
    echo "$1 $2 $3 $4 $line $((t1 - t0))" >> "$tsv"
    # shellcheck disable=SC2086 # the fields of $line
    set -- "$1" "$2" "$3" $line
    if [ "$9" != 0 ] || [ "${10}" != 0 ]; then
        errors="$errors $1/${2}B/c$3"
        echo "bench/run.sh: ERRORS: $1, $2 B, $3 connections: $9 non-2xx/3xx, ${10} socket errors (${out#"$ROOT"/})" >&2
    fi
}

# TODO(h2): HTTP/2 downstream is being added to torii. When it lands, add h2c (and h2 over TLS)
# cases here with h2load (nghttp2-client, installed by scripts/bench-deps.sh), e.g.
#   taskset -c "$CLIENT_CPU" h2load -t1 -c "$c" -m 10 -D "$DURATION" "http://127.0.0.1:$DP_PORT/"
# parsing "finished in", "requests: N total, N started, N done, N succeeded, N failed, N errored"
# and "status codes: N 2xx" (fail on failed/errored or non-2xx), with the same CPU accounting
# (dp_cpu) and table; the proxies need: torii's HTTP listener (h2c upgrade / prior knowledge, as
# it ends up), nginx `listen ... http2`, HAProxy `bind ... proto h2`, Caddy `protocols h1 h2c`.
dp_h2() {
    echo "_HTTP/2 downstream (h2load): not benchmarked yet; see TODO(h2) in bench/run.sh._"
}

section_dataplane() {
    for tool in wrk taskset curl nginx haproxy caddy python3; do
        command -v "$tool" > /dev/null || {
            echo "bench/run.sh: $tool missing (run scripts/bench-deps.sh)" >&2
            return 1
        }
    done
    backend=$BUILD/bench/bench-backend
    [ -x "$backend" ] || { echo "bench/run.sh: $backend not built" >&2; return 1; }
    [ -x "$BUILD/torii" ] || { echo "bench/run.sh: $BUILD/torii not built" >&2; return 1; }
    DURATION=${DURATION:-10s}
    dur=${DURATION%s}
    conns=${CONNS:-16 64 256}
    sizes=${SIZES:-0 4096}
    proxies=${PROXIES:-torii nginx haproxy caddy}
    warmup=${WARMUP:-1}
    repeat=${REPEAT:-1}
    idle=${IDLE_CONNS:-10000}
    IDLE=$idle
    CLIENT_CPU=${CLIENT_CPU:-0}
    PROXY_CPU=${PROXY_CPU:-1}
    base=${BENCH_PORT:-18100}
    P_BACKEND=$base
    P_TORII=$((base + 1))
    P_NGINX=$((base + 2))
    P_HAPROXY=$((base + 3))
    P_CADDY=$((base + 4))
    P_ADMIN=$((base + 9))
    dp_ports_free "$P_BACKEND" "$P_TORII" "$P_NGINX" "$P_HAPROXY" "$P_CADDY" "$P_ADMIN"
    # dash and bash both have ulimit -n (raised for the idle connections)
    # shellcheck disable=SC3045
    ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"
    # shellcheck disable=SC3045
    NOFILE=$(ulimit -n)
    [ "$idle" -le $((NOFILE - 500)) ] || {
        echo "bench/run.sh: IDLE_CONNS=$idle needs ulimit -n above $((idle + 500)) (it is $NOFILE)" >&2
        return 1
    }
    hz=$(getconf CLK_TCK)

    DP=$WORK/dataplane
    raw=$RESULTS/$DATE-dataplane
    rm -rf "$DP" "$raw"
    mkdir -p "$DP" "$raw"
    dp_configs
    cp "$DP/torii/bench.yaml" "$raw/torii-bench.yaml"
    cp "$DP/nginx/nginx.conf" "$raw/nginx.conf"
    cp "$DP/haproxy/haproxy.cfg" "$raw/haproxy.cfg"
    cp "$DP/caddy/Caddyfile" "$raw/Caddyfile"
    tsv=$DP/results.tsv
    : > "$tsv"
    errors=""

    for size in $sizes; do
        spawn "$DP/backend.log" taskset -c "$CLIENT_CPU" "$backend" --listen "127.0.0.1:$P_BACKEND" --size "$size"
        backend_pid=$SPAWNED
        dp_wait "$P_BACKEND" "$backend_pid" backend
        for proxy in direct $proxies; do
            echo "bench/run.sh: dataplane: $proxy, ${size} B bodies ..." >&2
            dp_start "$proxy"
            [ "$warmup" = 0 ] || dp_wrk "$DP_PORT" 256 "$warmup" "$DP/warmup.txt"
            r=0
            while [ $r -lt "$repeat" ]; do
                r=$((r + 1))
                for c in $conns; do dp_case "$proxy" "$size" "$c" "$r"; done
            done
            [ -z "$DP_PID" ] || stop "$DP_PID"
        done
        stop "$backend_pid"
    done

    # Memory: RSS at start (after one request) and with IDLE_CONNS idle keep-alive connections
    # open (each has made one request), fresh processes, 0-byte bodies.
    mem=$DP/memory.tsv
    : > "$mem"
    if [ "$idle" -gt 0 ]; then
        spawn "$DP/backend.log" taskset -c "$CLIENT_CPU" "$backend" --listen "127.0.0.1:$P_BACKEND" --size 0
        backend_pid=$SPAWNED
        dp_wait "$P_BACKEND" "$backend_pid" backend
        for proxy in $proxies; do
            echo "bench/run.sh: dataplane: $proxy, memory with $idle idle connections ..." >&2
            dp_start "$proxy"
            sleep 1
            # shellcheck disable=SC2086
            rss0=$(dp_rss $DP_MEASURE)
            spawn "$raw/$proxy-idle-conns.txt" taskset -c "$CLIENT_CPU" python3 "$HERE/idle-conns.py" \
                127.0.0.1 "$DP_PORT" "$idle" --hold 300
            client=$SPAWNED
            i=0
            until grep -q '^ready' "$raw/$proxy-idle-conns.txt"; do
                kill -0 "$client" 2>/dev/null || {
                    echo "bench/run.sh: idle-conns failed against $proxy:" >&2
                    cat "$raw/$proxy-idle-conns.txt" >&2
                    return 1
                }
                i=$((i + 1))
                [ $i -lt 1200 ] || { echo "bench/run.sh: idle-conns against $proxy: no ready in 120 s" >&2; return 1; }
                sleep 0.1
            done
            sleep 1
            # shellcheck disable=SC2086
            rss1=$(dp_rss $DP_MEASURE)
            echo "$proxy $idle $rss0 $rss1" >> "$mem"
            stop "$client"
            stop "$DP_PID"
        done
        stop "$backend_pid"
    fi

    echo "## Data plane: HTTP/1.1 proxying beside nginx, HAProxy and Caddy"
    echo
    echo "Each proxy alone on CPU $PROXY_CPU with one worker (torii \`--workers 1\`, nginx"
    echo "\`worker_processes 1\`, HAProxy \`nbthread 1\`, Caddy \`GOMAXPROCS=1\`), no access log, a"
    echo "keep-alive pool to the backend; wrk (1 thread, HTTP/1.1 keep-alive, GET /) and"
    echo "bench-backend (bench/backend.c: epoll, a fixed 200 reply) share CPU $CLIENT_CPU. \"direct\" is"
    echo "wrk straight to the backend: the most the client side does on its CPU. Each case runs"
    echo "${dur}s after a ${warmup}s warm-up per proxy. Proxy CPU is utime+stime of the proxy (every"
    echo "thread; nginx: its worker) from /proc over the run, divided by the requests wrk counted;"
    echo "\"busy\" is that CPU time over the run's wall time (100% = the proxy's CPU was saturated)."
    echo "Configs and raw wrk output: \`bench/results/$DATE-dataplane/\`."
    echo
    echo "| software | version |"
    echo "|---|---|"
    if ninja -C "$BUILD" -n torii 2>/dev/null | grep -q 'no work to do'; then
        fresh="built from the tree as it is"
    else
        fresh="**older than the tree: rebuild (make bench does)**"
    fi
    echo "| torii | $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown), $(basename "$BUILD"): $fresh |"
    echo "| nginx | $(nginx -v 2>&1 | sed 's|.*nginx/||') |"
    echo "| HAProxy | $(haproxy -v | sed -n '1s/HAProxy version \([^ ]*\).*/\1/p') |"
    echo "| Caddy | $(caddy version | cut -d' ' -f1) |"
    echo "| wrk | $(wrk -v 2>&1 | sed -n '1s/^wrk \([^ ]*\).*/\1/p') |"
    echo
    python3 - "$tsv" "$mem" "$hz" <<'PY'
import math, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
mem = [l.split() for l in open(sys.argv[2]) if l.strip()]
hz = float(sys.argv[3])
res = {}
order = []
runs = {}
for proxy, size, c, run, req, dur, rps, p50, p99, non, se, ticks in rows:
    k = (proxy, int(size), int(c))
    cpu_us = float(ticks) / hz * 1e6 / int(req) if proxy != "direct" else None
    busy = float(ticks) / hz / float(dur) * 100 if proxy != "direct" else None
    r = dict(rps=float(rps), p50=float(p50), p99=float(p99), err=int(non) + int(se),
             non=int(non), se=int(se), cpu=cpu_us, busy=busy)
    runs.setdefault(k, []).append(r)
    if proxy not in order:
        order.append(proxy)
# Of several runs of a case, the one with the most req/s (the least disturbed); errors of any
# run are kept.
for k, rs in runs.items():
    best = dict(max(rs, key=lambda r: r["rps"]))
    best["non"] = sum(r["non"] for r in rs)
    best["se"] = sum(r["se"] for r in rs)
    best["err"] = best["non"] + best["se"]
    res[k] = best
nruns = max(len(rs) for rs in runs.values())
if nruns > 1:
    print("Each case ran %d times; the table shows the run with the most req/s.\n" % nruns)
sizes = sorted({k[1] for k in res})
conns = sorted({k[2] for k in res})
proxies = [p for p in order if p != "direct"]

def f(x, fmt):
    return "n/a" if x is None else fmt % x

def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b

flagged = False
for size in sizes:
    print("### %s bodies\n" % ("0-byte" if size == 0 else "%d-byte" % size))
    print("| proxy | conns | req/s | × direct | p50 ms | p99 ms | proxy CPU µs/req | CPU/req × torii | proxy CPU busy | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in order:
        for c in conns:
            r = res.get((p, size, c))
            if not r:
                continue
            d = res.get(("direct", size, c))
            t = res.get(("torii", size, c))
            err = "0" if not r["err"] else "**%d non-2xx, %d socket**" % (r["non"], r["se"])
            busy = f(r["busy"], "%.0f%%")
            if r["busy"] is not None and r["busy"] < 90:
                busy += " †"
                flagged = True
            print("| %s | %d | %.0f | %s | %.2f | %.2f | %s | %s | %s | %s |" % (
                p, c, r["rps"], f(ratio(r["rps"], d and d["rps"]), "%.2f"), r["p50"] / 1000,
                r["p99"] / 1000, f(r["cpu"], "%.1f"),
                f(ratio(r["cpu"], t and t["cpu"]), "%.2f"), busy, err))
    print()
if flagged:
    print("† The proxy's CPU was less than 90% busy: something else limited that run (the client")
    print("CPU, or other work on the machine), so its req/s understates the proxy; its CPU/request")
    print("still holds. REPEAT=3 (best of three) helps on a shared machine.\n")

# Headline: geometric means over every case of each proxy's ratios.
def gmean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None
print("### Summary (geometric mean over the %d cases)\n" % (len(sizes) * len(conns)))
print("| proxy | req/s × direct | req/s × torii | CPU/req µs (mean) | CPU/req × torii |")
print("|---|---:|---:|---:|---:|")
for p in proxies:
    ks = [(p, s, c) for s in sizes for c in conns if (p, s, c) in res]
    rd = gmean([ratio(res[k]["rps"], res.get(("direct",) + k[1:], {}).get("rps")) for k in ks])
    rt = gmean([ratio(res[k]["rps"], res.get(("torii",) + k[1:], {}).get("rps")) for k in ks])
    cm = sum(res[k]["cpu"] for k in ks) / len(ks)
    ct = gmean([ratio(res[k]["cpu"], res.get(("torii",) + k[1:], {}).get("cpu")) for k in ks])
    print("| %s | %s | %s | %.1f | %s |" % (p, f(rd, "%.2f"), f(rt, "%.2f"), cm, f(ct, "%.2f")))
print()

if mem:
    n = int(mem[0][1])
    print("### Memory: %d idle keep-alive connections\n" % n)
    print("Fresh processes; RSS (nginx: its worker) after one request, then with %d client" % n)
    print("connections open, each having made one request (0-byte body) and now idle (kernel")
    print("socket buffers are not in RSS).\n")
    print("| proxy | RSS at start | RSS with %d idle | per connection | × torii |" % n)
    print("|---|---:|---:|---:|---:|")
    per = {p: (int(b) - int(a)) * 1024 / int(k) for p, k, a, b in mem}
    for p, k, a, b in mem:
        print("| %s | %.1f MiB | %.1f MiB | %.1f KiB | %s |" % (
            p, int(a) / 1024, int(b) / 1024, per[p] / 1024, f(ratio(per[p], per.get("torii")), "%.2f")))
    print()
PY
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (at the start: see the machine table)."
    echo
    echo "### HTTP/2"
    echo
    dp_h2
    echo
    if [ -n "$errors" ]; then
        echo "**ERRORS** (non-2xx/3xx responses or socket errors, see the raw wrk output):$errors"
        echo
        echo "bench/run.sh: dataplane: errors in:$errors" >&2
        return 1
    fi
}

# --- main --------------------------------------------------------------------------------

[ $# -gt 0 ] || set -- $SECTIONS
for s in "$@"; do
    case " $SECTIONS " in *" $s "*) ;; *) echo "bench/run.sh: no section $s" >&2; usage ;; esac
done
for s in "$@"; do
    report=$RESULTS/$DATE-$s.md
    tmp=$RESULTS/.$DATE-$s.md.tmp
    CURRENT_TMP=$tmp
    echo "bench/run.sh: $s ..." >&2
    {
        echo "# torii benchmark: $s ($DATE)"
        echo
        machine
        echo
        "section_$s"
    } > "$tmp"
    mv "$tmp" "$report"
    rm -f "$RESULTS/$DATE-$s.FAILED.md"
    CURRENT_TMP=""
    echo "bench/run.sh: wrote ${report#"$ROOT"/}" >&2
done
