#!/bin/sh
# bench/run.sh BUILD [SECTION...]: runs the benchmarks against the binaries in BUILD and writes
# one report per section, bench/results/<date>-<section>.md, each starting with a description
# of the machine, and bench/results/<date>.md with every section of that date in one file.
# `make bench` runs every section.
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
#   h2          HTTP/2 downstream, the same proxies and CPUs as dataplane: h2load (-t1 -c H2_CONNS
#               (16) -m 1/10/100 (H2_STREAMS)) over h2c with prior knowledge and h2 over TLS
#               (H2_KINDS, "h2c tls"), upstream HTTP/1.1: req/s, × torii, proxy CPU per request.
#               Needs h2load (nghttp2-client). DURATION, SIZES, PROXIES, WARMUP, REPEAT as above.
#   grpc        gRPC unary calls (GrpcEcho/Echo of torii-echo --mode grpc, an empty message) with
#               h2load, GRPC_CONNS (16) connections and GRPC_STREAMS ("1 10 100") calls in flight
#               on each: directly to the backend, and through torii (one worker on PROXY_CPU, a
#               GRPCRoute, the backend spoken to in h2c): calls/s, torii's CPU per call. h2load
#               and the backend share CLIENT_CPU. DURATION, WARMUP, REPEAT as above; loopback
#               ports BENCH_PORT+40..+42.
#   tls         full TLS 1.3 handshakes (ECDSA P-256 certificate made with openssl, key share
#               TLS_GROUPS, default P-256, no resumption), each proxy with one worker on
#               PROXY_CPU, bench-handshake (bench/handshake.c, TLS_CONNS (16) connections, a
#               GET / on each) on CLIENT_CPU: handshakes/s, proxy CPU per handshake, beside the
#               ceiling from `openssl speed ecdsap256 ecdhp256` on PROXY_CPU
#   latency     open-loop latency: direct capacity with wrk (LAT_CAP_CONNS, 64), then
#               bench-latprobe (bench/latprobe.c; LAT_CONNS (64) connections, LAT_SCHEDULE
#               poisson|fixed, LAT_WARMUP (1 s) not counted, LAT_SIZE (0) body bytes) at
#               LAT_LOADS ("10 50 80") % of it, direct and through each proxy: p50/p99/p99.9/max
#               and the latency each proxy adds
#   uring       torii's event loop on epoll and on io_uring (--io-engine), beside nginx and
#               HAProxy: the dataplane section's HTTP/1.1 cases, CPUs, wrk and backend, with the
#               proxies taken in turn within each of REPEAT (default 3) rounds so that drift on
#               a shared machine touches all alike; reports the median and the spread (min-max)
#               of proxy CPU µs/request and req/s, and ratios to nginx and to torii on epoll.
#               DURATION, CONNS, SIZES ("0"), WARMUP, BENCH_PORT as dataplane. Needs a torii
#               built with io_uring (meson -Dio_uring=enabled) on a kernel that allows it.
#   mesh        what the mesh hop costs (docs/mesh.md; bench/mesh.py): a client and a server
#               workload in network namespaces of their own; wrk (MESH_CONNS, 16, keep-alive
#               connections, DURATION) from the client to the server's Pod address, then to its
#               Service's cluster address through torii --mesh (one worker on PROXY_CPU):
#               req/s and torii's CPU per request; then bench-latprobe at MESH_RATE (default half
#               the mesh's req/s) both ways: p50/p99/p99.9 and what the hop adds. MESH_SIZE body
#               bytes (0). Needs root; prints why it skips otherwise. Raw output in
#               bench/results/<date>-mesh/.
#   h2, tls and latency use loopback ports BENCH_PORT+20..+31 and write raw output and configs to
#   bench/results/<date>-<section>/.
#   propagation route propagation through the file provider: ROUTES (default 3,000) HTTPRoutes
#               added one file at a time; after each, the data plane is polled every POLL_MS
#               (5) ms for its hostname until it answers 200: latency from the rename, errors,
#               latency by route index (BUCKET routes per row, 500)
#   kube-propagation  the same through an API server: the fake one (tests/kube/fakeapi.py, TLS;
#               needs python3-yaml and openssl), torii --kubeconfig; ROUTES HTTPRoutes created
#               one at a time by POSTs (bench-propagation --api), each polled every POLL_MS
#               until 200: latency from the POST's answer to the 200 and to torii's status write
#               for the route (the fake's audit log), the fake's own share (POST round trip,
#               watch delivery to a second watcher, its CPU), status writes per route, and the
#               propagation section's figures beside them when it runs in the same invocation
#               (sections always run in the order of SECTIONS). KUBE_ARGS: more torii flags
#               (e.g. "--kube-qps 200 --kube-burst 400")
#   flips       one HTTPRoute switched between two backends FLIPS (20) times, FLIP_MS (200) ms
#               apart, under closed-loop load from FLIP_CONNS (16) keep-alive connections:
#               non-200 answers and socket errors (expected: none)
#   scale       torii's RSS at SCALE_ROUTES ("1000 5000 10000") HTTPRoutes, all Accepted, RSS
#               per route, full translation time at the largest (RUNS SIGHUPs, default 5), RSS
#               after deleting every route
#   memory      torii's whole-process memory per HTTPRoute on three mixes of MEM_ROUTES (10,000)
#               routes (MEM_MIXES, "lean scale translate": gen.py --lean, the scale section's
#               routes, gen.py's default mix): for each, a fresh torii on the mix's Gateways and
#               Services, RSS with no route, with every route Accepted, and after deleting them
#               all, each read after /status and /metrics were read (their caches count)
#   soak        SOAK_EDITS (100) route edits, SOAK_EDIT_MS (500) ms apart, while SOAK_CONNS
#               (1000) keep-alive connections each send a request every SOAK_INTERVAL_MS (100)
#               ms to SOAK_ROUTES (10) routes: errors, resets, RSS drift
#   The control-plane sections (propagation, kube-propagation, flips, scale, memory, soak) use
#   loopback ports BENCH_PORT+10..+15 (the fake API server picks a free one), torii --workers WORKERS
#   (default: the number of CPUs), bench/cp.py for manifests and reports, bench-propagation and
#   bench-load (bench/propagation.c, load.c) as clients; raw data and torii's log go to
#   bench/results/<date>-<section>/.
#
# A section is a function section_<name> ("-" in the name as "_") that prints Markdown on
# stdout; add one and list it in SECTIONS. A section that fails leaves what it printed in
# bench/results/<date>-<name>.FAILED.md.
#
# Environment: ROUTES, RUNS, BENCH_WORK (where generated manifests go; default BUILD/bench-data),
# BENCH_RESULTS (default bench/results).
set -eu

SECTIONS="translate propagation kube-propagation flips scale memory soak dataplane h2 grpc tls latency uring mesh"

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

torii_version() {
    # The commit of the tree; "-dirty" when it has changes outside bench/results (which every
    # run rewrites: committed reports of the same date are overwritten).
    v=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    [ -z "$(git -C "$ROOT" status --porcelain -- . ':!bench/results' 2>/dev/null)" ] || v="$v-dirty"
    echo "$v"
}

torii_row() {
    # The torii row of a software table: the tree's commit and whether BUILD's binary is current.
    if ninja -C "$BUILD" -n torii 2>/dev/null | grep -q 'no work to do'; then
        fresh="built from the tree as it is"
    else
        fresh="**older than the tree: rebuild (make bench does)**"
    fi
    echo "| torii | $(torii_version), $(basename "$BUILD"): $fresh |"
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
    echo "| torii | $(torii_version) |"
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

gateway_yaml() {
    # gateway_yaml COMMENT: the GatewayClass and a Gateway "bench" on 127.0.0.1 whose listener
    # list starts with an HTTP listener on P_TORII (what follows may add listeners).
    cat <<YAML
# $1
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
YAML
}

torii_manifest() {
    # torii_manifest COMMENT MORE: the data-plane sections' torii config on stdout: a Gateway
    # with an HTTP listener on P_TORII (MORE: YAML that follows it in the listener list, and
    # more documents), one route (every path, any host) to the bench backend on P_BACKEND.
    gateway_yaml "$1"
    [ -z "$2" ] || printf '%s\n' "$2"
    cat <<YAML
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
}

# dp_prepare SECTION: a data-plane section's work folder ($DP) and raw results ($raw), emptied,
# the proxies' configs made and copied beside the results, and an empty results table ($tsv).
dp_prepare() {
    DP=$WORK/$1
    raw=$RESULTS/$DATE-$1
    rm -rf "$DP" "$raw"
    mkdir -p "$DP" "$raw"
    dp_configs
    cp "$DP/torii/bench.yaml" "$raw/torii-bench.yaml"
    cp "$DP/nginx/nginx.conf" "$raw/nginx.conf"
    cp "$DP/haproxy/haproxy.cfg" "$raw/haproxy.cfg"
    tsv=$DP/results.tsv
    : > "$tsv"
    errors=""
}

dp_configs() {
    # The config files of every proxy, in $DP/<proxy>/.
    mkdir -p "$DP/torii" "$DP/nginx/tmp" "$DP/haproxy" "$DP/caddy"
    torii_manifest "One Gateway with an HTTP listener on 127.0.0.1:$P_TORII, one route (every path, any host) to
# the bench backend on 127.0.0.1:$P_BACKEND." "" > "$DP/torii/bench.yaml"
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
        torii | torii-uring)
            DP_PORT=$P_TORII
            engine=epoll
            [ "$1" = torii ] || engine=io_uring
            # No drain delay: stop() waits 3 s before SIGKILL, and nothing withdraws endpoints here.
            spawn "$DP/$1.log" taskset -c "$PROXY_CPU" "$BUILD/torii" run --config "$DP/torii" \
                --admin "127.0.0.1:$P_ADMIN" --workers 1 --drain-delay 0s --drain-grace 1s \
                --io-engine "$engine" ;;
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

# HTTP/2 downstream has its own section, h2 (section_h2, below): its proxies need listeners
# the HTTP/1.1 cases do not (nginx and HAProxy serve h2c on a port of its own, HTTPS).
dp_h2() {
    echo "In its own report: section h2 (\`bench/run.sh BUILD h2\`, \`bench/results/<date>-h2.md\`), h2c and"
    echo "h2 over TLS with h2load at 1, 10 and 100 streams per connection, the same proxies."
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

    dp_prepare dataplane
    cp "$DP/caddy/Caddyfile" "$raw/Caddyfile"

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
    torii_row
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

# --- section uring -----------------------------------------------------------------------
# torii on epoll and on io_uring beside nginx and HAProxy, the dataplane section's cases and
# helpers (dp_*). Rounds interleave the proxies: a disturbance of the shared machine lands on
# all of them in the same round rather than on one proxy's whole series.

section_uring() {
    for tool in wrk taskset curl nginx haproxy python3; do
        command -v "$tool" > /dev/null || {
            echo "bench/run.sh: $tool missing (run scripts/bench-deps.sh)" >&2
            return 1
        }
    done
    backend=$BUILD/bench/bench-backend
    [ -x "$backend" ] || { echo "bench/run.sh: $backend not built" >&2; return 1; }
    "$BUILD/torii" version | grep -q 'io engines: epoll, io_uring' || {
        echo "## io_uring beside epoll"
        echo
        echo "Not run: $("$BUILD/torii" version | sed -n 's/^io engines: //p')."
        echo
        return 0
    }
    DURATION=${DURATION:-10s}
    dur=${DURATION%s}
    conns=${CONNS:-16 64 256}
    sizes=${SIZES:-0}
    proxies="torii torii-uring nginx haproxy"
    warmup=${WARMUP:-1}
    repeat=${REPEAT:-3}
    CLIENT_CPU=${CLIENT_CPU:-0}
    PROXY_CPU=${PROXY_CPU:-1}
    base=${BENCH_PORT:-18100}
    P_BACKEND=$base
    P_TORII=$((base + 1))
    P_NGINX=$((base + 2))
    P_HAPROXY=$((base + 3))
    P_CADDY=$((base + 4))
    P_ADMIN=$((base + 9))
    dp_ports_free "$P_BACKEND" "$P_TORII" "$P_NGINX" "$P_HAPROXY" "$P_ADMIN"
    IDLE=0
    # shellcheck disable=SC3045
    ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"
    # shellcheck disable=SC3045
    NOFILE=$(ulimit -n)
    hz=$(getconf CLK_TCK)
    dp_prepare uring
    # dp_case names its raw files by run when repeat > 1.
    for size in $sizes; do
        spawn "$DP/backend.log" taskset -c "$CLIENT_CPU" "$backend" --listen "127.0.0.1:$P_BACKEND" --size "$size"
        backend_pid=$SPAWNED
        dp_wait "$P_BACKEND" "$backend_pid" backend
        r=0
        while [ $r -lt "$repeat" ]; do
            r=$((r + 1))
            for proxy in $proxies; do
                echo "bench/run.sh: uring: round $r, $proxy, ${size} B bodies ..." >&2
                dp_start "$proxy"
                [ "$warmup" = 0 ] || dp_wrk "$DP_PORT" 256 "$warmup" "$DP/warmup.txt"
                for c in $conns; do dp_case "$proxy" "$size" "$c" "$r"; done
                stop "$DP_PID"
            done
        done
        stop "$backend_pid"
    done

    # System calls per request: one more run per proxy at SYSCALL_CONNS (64) connections, 0-byte
    # bodies, counted by perf's syscall tracepoints (not strace: it would slow the proxy and
    # change how many events a turn batches). Skipped when perf cannot read them.
    sysc=$DP/syscalls.tsv
    : > "$sysc"
    sc_events="raw_syscalls:sys_enter"
    for n in read recvfrom write writev sendto epoll_wait io_uring_enter io_uring_register getsockopt; do
        sc_events="$sc_events,syscalls:sys_enter_$n"
    done
    if command -v perf > /dev/null && perf stat -x, -e "$sc_events" true > /dev/null 2>&1; then
        spawn "$DP/backend.log" taskset -c "$CLIENT_CPU" "$backend" --listen "127.0.0.1:$P_BACKEND" --size 0
        backend_pid=$SPAWNED
        dp_wait "$P_BACKEND" "$backend_pid" backend
        for proxy in $proxies; do
            echo "bench/run.sh: uring: $proxy, system calls per request ..." >&2
            dp_start "$proxy"
            dp_wrk "$DP_PORT" 256 1 "$DP/warmup.txt"
            perf stat -x, -e "$sc_events" -p "$DP_MEASURE" -o "$raw/$proxy-syscalls.csv" -- sleep 6 &
            perf_pid=$!
            sleep 0.5
            dp_wrk "$DP_PORT" "${SYSCALL_CONNS:-64}" 5 "$raw/$proxy-syscalls-wrk.txt"
            wait "$perf_pid" || true
            req=$(dp_parse "$raw/$proxy-syscalls-wrk.txt" | cut -d' ' -f1)
            awk -F, -v p="$proxy" -v req="$req" '$3 ~ /sys_enter/ { sub(/.*sys_enter_?/, "", $3);
                printf "%s %s %.3f\n", p, ($3 == "" ? "total" : $3), $1 / req }' "$raw/$proxy-syscalls.csv" >> "$sysc"
            stop "$DP_PID"
        done
        stop "$backend_pid"
    fi

    echo "## io_uring beside epoll: torii's event loop engines, HTTP/1.1"
    echo
    echo "The dataplane section's setup (each proxy alone on CPU $PROXY_CPU with one worker; wrk and"
    echo "bench-backend on CPU $CLIENT_CPU; keep-alive GET /, no access log). torii runs once with"
    echo "\`--io-engine epoll\` (\"torii\") and once with \`--io-engine io_uring\` (\"torii-uring\"). $repeat"
    echo "rounds, each running every proxy in turn for ${dur}s per case after a ${warmup}s warm-up."
    echo "Proxy CPU is utime+stime from /proc over the run divided by the requests wrk counted."
    echo "Raw wrk output: \`bench/results/$DATE-uring/\`."
    echo
    echo "| software | version |"
    echo "|---|---|"
    torii_row
    echo "| nginx | $(nginx -v 2>&1 | sed 's|.*nginx/||') |"
    echo "| HAProxy | $(haproxy -v | sed -n '1s/HAProxy version \([^ ]*\).*/\1/p') |"
    echo "| liburing | $(dpkg-query -W -f='${Version}' liburing-dev 2>/dev/null || echo '?') |"
    echo
    python3 - "$tsv" "$hz" "$sysc" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
sysc = [l.split() for l in open(sys.argv[3]) if l.strip()]
hz = float(sys.argv[2])
runs, order = {}, []
for proxy, size, c, run, req, dur, rps, p50, p99, non, se, ticks in rows:
    cpu = float(ticks) / hz * 1e6 / int(req)
    runs.setdefault((proxy, int(size), int(c)), []).append((cpu, float(rps), int(non) + int(se)))
    if proxy not in order:
        order.append(proxy)
nruns = max(len(v) for v in runs.values())
sizes = sorted({k[1] for k in runs})
conns = sorted({k[2] for k in runs})

def med(k, i):
    v = runs.get(k)
    return statistics.median(x[i] for x in v) if v else None

def spread(k, i, fmt):
    v = sorted(x[i] for x in runs[k])
    return (fmt + "–" + fmt) % (v[0], v[-1])

print("Medians of %d runs per case, with the spread (lowest–highest) beside them.\n" % nruns)
for size in sizes:
    print("### %d-byte bodies\n" % size)
    print("| proxy | conns | CPU µs/req | spread | × nginx | × torii (epoll) | req/s | spread | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in order:
        for c in conns:
            k = (p, size, c)
            if k not in runs:
                continue
            cpu = med(k, 0)
            n, t = med(("nginx", size, c), 0), med(("torii", size, c), 0)
            print("| %s | %d | %.2f | %s | %s | %s | %.0f | %s | %d |" % (
                p, c, cpu, spread(k, 0, "%.2f"), "%.2f" % (cpu / n) if n else "n/a",
                "%.2f" % (cpu / t) if t else "n/a", med(k, 1), spread(k, 1, "%.0f"),
                sum(x[2] for x in runs[k])))
    print()
if sysc:
    names = []
    per = {}
    for p, n, v in sysc:
        per.setdefault(p, {})[n] = float(v)
        if n not in names and n != "total":
            names.append(n)
    names = [n for n in names if any(per[p].get(n, 0) >= 0.005 for p in per)]
    print("### System calls per request\n")
    print("One 5 s run per proxy, 64 connections, 0-byte bodies; perf's syscall tracepoints on the")
    print("proxy process over the run, divided by the requests wrk counted.\n")
    print("| proxy | total | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for p in per:
        print("| %s | %.2f | %s |" % (p, per[p].get("total", 0),
                                      " | ".join("%.2f" % per[p].get(n, 0) for n in names)))
    print()
PY
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    if [ -n "$errors" ]; then
        echo "**ERRORS** (non-2xx/3xx responses or socket errors, see the raw wrk output):$errors"
        echo
        echo "bench/run.sh: uring: errors in:$errors" >&2
        return 1
    fi
}

# --- section grpc ------------------------------------------------------------------------

section_grpc() {
    DURATION=${DURATION:-10s}
    WARMUP=${WARMUP:-1}
    REPEAT=${REPEAT:-1}
    CLIENT_CPU=${CLIENT_CPU:-0}
    PROXY_CPU=${PROXY_CPU:-1}
    GRPC_CONNS=${GRPC_CONNS:-16}
    GRPC_STREAMS=${GRPC_STREAMS:-"1 10 100"}
    base=${BENCH_PORT:-18100}
    P_ECHO=$((base + 40))
    P_TORII=$((base + 41))
    P_ADMIN=$((base + 42))
    DP=$RESULTS/$DATE-grpc
    rm -rf "$DP"
    mkdir -p "$DP/torii"
    command -v h2load > /dev/null || { echo "bench/run.sh: grpc needs h2load (scripts/bench-deps.sh)" >&2; return 1; }
    dp_ports_free "$P_ECHO" "$P_TORII" "$P_ADMIN"
    method=/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo
    printf '\000\000\000\000\000' > "$DP/message" # one gRPC frame: uncompressed, empty message
    {
        gateway_yaml "One Gateway with an HTTP listener on 127.0.0.1:$P_TORII (h2c with prior knowledge), one
# GRPCRoute (every method) to torii-echo --mode grpc on 127.0.0.1:$P_ECHO, spoken to in h2c."
        cat <<YAML
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: bench
  namespace: default
spec:
  parentRefs:
  - name: bench
  rules:
  - backendRefs:
    - name: echo
      port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: default
spec:
  ports:
  - name: grpc
    port: 80
    targetPort: $P_ECHO
    appProtocol: kubernetes.io/h2c
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: default
  labels:
    kubernetes.io/service-name: echo
addressType: IPv4
ports:
- name: grpc
  port: $P_ECHO
  appProtocol: kubernetes.io/h2c
endpoints:
- addresses: ["127.0.0.1"]
  conditions:
    ready: true
YAML
    } > "$DP/torii/grpc.yaml"
    spawn "$DP/echo.log" taskset -c "$CLIENT_CPU" "$BUILD/tools/echo/torii-echo" --mode grpc --bind 127.0.0.1 \
        --http-port "$P_ECHO" --pod bench
    echo_pid=$SPAWNED
    spawn "$DP/torii.log" taskset -c "$PROXY_CPU" "$BUILD/torii" run --config "$DP/torii" \
        --admin "127.0.0.1:$P_ADMIN" --workers 1 --drain-delay 0s --drain-grace 1s --log-level warn
    torii_pid=$SPAWNED
    call() {
        # call PORT CONNS STREAMS DURATION: h2load's output for unary calls to PORT.
        taskset -c "$CLIENT_CPU" h2load -t 1 -c "$2" -m "$3" -D "$4" -d "$DP/message" \
            -H 'content-type: application/grpc' -H 'te: trailers' "http://127.0.0.1:$1$method" 2>&1
    }
    i=0
    until call "$P_TORII" 1 1 1 | grep -q ' 1 2xx\| [1-9][0-9]* 2xx'; do
        i=$((i + 1))
        if [ $i -ge 100 ] || ! kill -0 "$torii_pid" 2>/dev/null || ! kill -0 "$echo_pid" 2>/dev/null; then
            echo "bench/run.sh: no gRPC call succeeds through torii; its log:" >&2
            tail -n 20 "$DP/torii.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    echo "## gRPC unary calls"
    echo
    echo "| software | version |"
    echo "|---|---|"
    torii_row
    echo "| h2load | $(h2load --version 2>&1 | sed -n '1s/.*nghttp2\/\([^ ]*\).*/\1/p') |"
    echo
    echo "torii-echo's GrpcEcho/Echo with an empty message, $GRPC_CONNS h2c connections, DURATION $DURATION"
    echo "per run (best of $REPEAT by calls/s); h2load and the backend on CPU $CLIENT_CPU, torii (one worker) on"
    echo "CPU $PROXY_CPU. Every call must succeed (200 and grpc-status 0 are h2load's 2xx)."
    echo
    echo "| calls in flight per connection | direct calls/s | through torii calls/s | torii CPU per call (µs) |"
    echo "|---:|---:|---:|---:|"
    hz=$(getconf CLK_TCK)
    for m in $GRPC_STREAMS; do
        best_d=0
        best_t=0
        best_us=""
        r=0
        while [ $r -lt "$REPEAT" ]; do
            r=$((r + 1))
            out=$(call "$P_ECHO" "$GRPC_CONNS" "$m" "$DURATION")
            echo "$out" > "$DP/direct-m$m-$r.txt"
            rps=$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
            bad=$(echo "$out" | sed -n 's/^status codes: [0-9]* 2xx, \([0-9]*\) 3xx, \([0-9]*\) 4xx, \([0-9]*\) 5xx/\1\2\3/p')
            [ "${bad:-1}" = 000 ] || { echo "bench/run.sh: grpc direct m=$m: calls failed" >&2; return 1; }
            awk -v a="$rps" -v b="$best_d" 'BEGIN { exit !(a > b) }' && best_d=$rps
            call "$P_TORII" "$GRPC_CONNS" "$m" "$WARMUP" > /dev/null # warm-up, not counted
            t0=$(dp_cpu "$torii_pid")
            out=$(call "$P_TORII" "$GRPC_CONNS" "$m" "$DURATION")
            t1=$(dp_cpu "$torii_pid")
            echo "$out" > "$DP/torii-m$m-$r.txt"
            rps=$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
            n=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
            bad=$(echo "$out" | sed -n 's/^status codes: [0-9]* 2xx, \([0-9]*\) 3xx, \([0-9]*\) 4xx, \([0-9]*\) 5xx/\1\2\3/p')
            [ "${bad:-1}" = 000 ] || { echo "bench/run.sh: grpc through torii m=$m: calls failed" >&2; return 1; }
            if awk -v a="$rps" -v b="$best_t" 'BEGIN { exit !(a > b) }'; then
                best_t=$rps
                best_us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
            fi
        done
        echo "| $m | $best_d | $best_t | $best_us |"
    done
    echo
    echo "Raw h2load output: \`bench/results/$DATE-grpc/\`."
    stop "$torii_pid"
    stop "$echo_pid"
    # torii-echo logs a line per call: keep the start of its log, not 100 MB of it.
    truncate -s '<64K' "$DP/echo.log"
}

# --- sections h2, tls, latency -----------------------------------------------------------
# HTTP/2 downstream (h2load), full TLS 1.3 handshakes (bench-handshake, bench/handshake.c) and
# open-loop latency (bench-latprobe, bench/latprobe.c). Each proxy runs as in the dataplane
# section (dp_start: one worker, alone on PROXY_CPU; the client and bench-backend share
# CLIENT_CPU; upstream HTTP/1.1 keep-alive), from config files with three listeners each:
# plain HTTP (HTTP/1.1; h2c with prior knowledge too for torii and Caddy), h2c with prior
# knowledge (nginx `listen ... http2`, HAProxy `proto h2`) and HTTPS (an ECDSA P-256
# certificate made with the openssl CLI, ALPN h2 and http/1.1). Loopback ports BENCH_PORT+20
# to +31.

hx_setup() {
    # hx_setup NAME [TOOL...]: checks the tools and binaries, sets the ports and the variables
    # dp_start uses, makes the certificate and the config files in DP, and raw
    # (bench/results/<date>-NAME/) with copies of the configs.
    name=$1
    shift
    for tool in taskset curl openssl nginx haproxy caddy python3 "$@"; do
        command -v "$tool" > /dev/null || {
            echo "bench/run.sh: $tool missing (run scripts/bench-deps.sh)" >&2
            return 1
        }
    done
    for b in torii bench/bench-backend bench/bench-latprobe bench/bench-handshake; do
        [ -x "$BUILD/$b" ] || { echo "bench/run.sh: $BUILD/$b not built" >&2; return 1; }
    done
    backend=$BUILD/bench/bench-backend
    DURATION=${DURATION:-10s}
    dur=${DURATION%s}
    proxies=${PROXIES:-torii nginx haproxy caddy}
    warmup=${WARMUP:-1}
    repeat=${REPEAT:-1}
    CLIENT_CPU=${CLIENT_CPU:-0}
    PROXY_CPU=${PROXY_CPU:-1}
    base=$((${BENCH_PORT:-18100} + 20))
    P_BACKEND=$base
    P_TORII=$((base + 1))
    P_NGINX=$((base + 2))
    P_HAPROXY=$((base + 3))
    P_CADDY=$((base + 4))
    P_ADMIN=$((base + 5))
    P_TORII_TLS=$((base + 6))
    P_NGINX_TLS=$((base + 7))
    P_HAPROXY_TLS=$((base + 8))
    P_CADDY_TLS=$((base + 9))
    P_NGINX_H2C=$((base + 10))
    P_HAPROXY_H2C=$((base + 11))
    # shellcheck disable=SC2046 # the port numbers
    dp_ports_free $(seq "$base" $((base + 11)))
    # shellcheck disable=SC3045
    ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"
    # shellcheck disable=SC3045
    NOFILE=$(ulimit -n)
    hz=$(getconf CLK_TCK)
    DP=$WORK/$name
    raw=$RESULTS/$DATE-$name
    rm -rf "$DP" "$raw"
    mkdir -p "$DP" "$raw"
    hx_configs
    cp "$DP/torii/bench.yaml" "$raw/torii-bench.yaml"
    cp "$DP/nginx/nginx.conf" "$raw/nginx.conf"
    cp "$DP/haproxy/haproxy.cfg" "$raw/haproxy.cfg"
    cp "$DP/caddy/Caddyfile" "$raw/Caddyfile"
    cp "$DP/tls/cert.pem" "$raw/cert.pem"
}

hx_configs() {
    # The certificate (ECDSA P-256, self-signed, bench.example and 127.0.0.1) and the config
    # files of every proxy, in the places dp_start looks: $DP/<proxy>/.
    mkdir -p "$DP/tls" "$DP/torii" "$DP/nginx/tmp" "$DP/haproxy" "$DP/caddy"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 30 \
        -subj /CN=bench.example -addext "subjectAltName=DNS:bench.example,IP:127.0.0.1" \
        -keyout "$DP/tls/key.pem" -out "$DP/tls/cert.pem" 2> "$DP/tls/openssl.log" || {
        cat "$DP/tls/openssl.log" >&2
        return 1
    }
    cat "$DP/tls/cert.pem" "$DP/tls/key.pem" > "$DP/tls/haproxy.pem"
    torii_manifest "One Gateway: an HTTP listener on 127.0.0.1:$P_TORII (HTTP/1.1, and h2c with prior knowledge)
# and an HTTPS listener on 127.0.0.1:$P_TORII_TLS (the ECDSA P-256 certificate of Secret
# bench-tls; ALPN h2, http/1.1); one route (every path, any host) to the bench backend on
# 127.0.0.1:$P_BACKEND." "$(cat <<YAML
  - name: https
    protocol: HTTPS
    port: $P_TORII_TLS
    tls:
      mode: Terminate
      certificateRefs:
      - name: bench-tls
---
apiVersion: v1
kind: Secret
metadata:
  name: bench-tls
  namespace: default
type: kubernetes.io/tls
stringData:
  tls.crt: |
$(sed 's/^/    /' "$DP/tls/cert.pem")
  tls.key: |
$(sed 's/^/    /' "$DP/tls/key.pem")
YAML
)" > "$DP/torii/bench.yaml"
    cat > "$DP/nginx/nginx.conf" <<NGINX
# One worker, no access log, keep-alive to the backend (up to 4096 idle connections: h2load
# keeps up to 16 x 100 requests in flight), no limit on requests per connection either side
# (keepalive_requests covers HTTP/2 connections too since nginx 1.19.7). Listeners: HTTP/1.1,
# h2c with prior knowledge (nginx 1.22 serves only HTTP/2 on a plain "http2" listener), HTTPS
# with ALPN h2 and http/1.1 and TLS 1.3 (nginx 1.22's default ssl_protocols stops at TLS 1.2;
# otherwise its TLS defaults: session tickets on, no session cache).
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
        keepalive 4096;
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }
    server {
        listen 127.0.0.1:$P_NGINX backlog=4096;
        listen 127.0.0.1:$P_NGINX_H2C http2 backlog=4096;
        listen 127.0.0.1:$P_NGINX_TLS ssl http2 backlog=4096;
        ssl_certificate $DP/tls/cert.pem;
        ssl_certificate_key $DP/tls/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGINX
    cat > "$DP/haproxy/haproxy.cfg" <<HAPROXY
# One thread, no log, keep-alive both sides, idle server connections shared between client
# connections (http-reuse always). Listeners: HTTP/1.1, h2c with prior knowledge (proto h2),
# HTTPS with ALPN h2 and http/1.1 (TLS defaults otherwise).
global
    nbthread 1
    no strict-limits
    maxconn 20000
defaults
    mode http
    maxconn 20000
    timeout connect 5s
    timeout client 75s
    timeout server 75s
    timeout http-keep-alive 75s
    http-reuse always
frontend fe
    bind 127.0.0.1:$P_HAPROXY
    bind 127.0.0.1:$P_HAPROXY_H2C proto h2
    bind 127.0.0.1:$P_HAPROXY_TLS ssl crt $DP/tls/haproxy.pem alpn h2,http/1.1
    default_backend be
backend be
    server s1 127.0.0.1:$P_BACKEND
HAPROXY
    cat > "$DP/caddy/Caddyfile" <<CADDY
# GOMAXPROCS=1 in the environment; no admin endpoint, no automatic HTTPS, no access log (the
# default), keep-alive to the backend with up to 4096 idle connections. The plain listener
# takes HTTP/1.1 and h2c with prior knowledge; the HTTPS one the given certificate, ALPN h2
# and http/1.1 (no HTTP/3).
{
	admin off
	auto_https off
	servers {
		protocols h1 h2 h2c
	}
}
http://:$P_CADDY {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$P_BACKEND {
		transport http {
			keepalive 75s
			keepalive_idle_conns 4096
			keepalive_idle_conns_per_host 4096
		}
	}
}
https://:$P_CADDY_TLS {
	bind 127.0.0.1
	tls $DP/tls/cert.pem $DP/tls/key.pem
	reverse_proxy 127.0.0.1:$P_BACKEND {
		transport http {
			keepalive 75s
			keepalive_idle_conns 4096
			keepalive_idle_conns_per_host 4096
		}
	}
}
CADDY
}

hx_port() {
    # hx_port PROXY KIND: the port of PROXY's listener of KIND (h2c or tls).
    case $1/$2 in
        torii/h2c) echo "$P_TORII" ;;
        nginx/h2c) echo "$P_NGINX_H2C" ;;
        haproxy/h2c) echo "$P_HAPROXY_H2C" ;;
        caddy/h2c) echo "$P_CADDY" ;;
        torii/tls) echo "$P_TORII_TLS" ;;
        nginx/tls) echo "$P_NGINX_TLS" ;;
        haproxy/tls) echo "$P_HAPROXY_TLS" ;;
        caddy/tls) echo "$P_CADDY_TLS" ;;
        *) echo "bench/run.sh: no $2 listener for $1" >&2; return 1 ;;
    esac
}

hx_curl() {
    # hx_curl PROXY KIND: the status code of GET / on PROXY's KIND listener (h2c: HTTP/2 with
    # prior knowledge; tls: HTTPS to bench.example, HTTP/2 by ALPN), or 000.
    hc_port=$(hx_port "$1" "$2")
    case $2 in
        h2c) curl -s -o /dev/null -w '%{http_code}' --max-time 2 --http2-prior-knowledge \
                "http://127.0.0.1:$hc_port/" 2>/dev/null || true ;;
        tls) curl -s -o /dev/null -w '%{http_code}' --max-time 2 --http2 --cacert "$DP/tls/cert.pem" \
                --resolve "bench.example:$hc_port:127.0.0.1" "https://bench.example:$hc_port/" 2>/dev/null || true ;;
    esac
}

hx_start() {
    # hx_start PROXY: dp_start (waits for a 200 on the HTTP/1.1 listener), then for a 200 on
    # the h2c and HTTPS listeners.
    dp_start "$1"
    [ "$1" != direct ] || return 0
    for hs_kind in h2c tls; do
        i=0
        while [ "$(hx_curl "$1" $hs_kind)" != 200 ]; do
            i=$((i + 1))
            if [ $i -ge 50 ]; then
                echo "bench/run.sh: $1 does not answer 200 on its $hs_kind listener (got $(hx_curl "$1" $hs_kind))" >&2
                tail -n 20 "$DP/$1.log" >&2 || true
                return 1
            fi
            sleep 0.1
        done
    done
}

hx_backend() {
    # hx_backend SIZE: bench-backend on CLIENT_CPU; its pid in backend_pid.
    spawn "$DP/backend.log" taskset -c "$CLIENT_CPU" "$backend" --listen "127.0.0.1:$P_BACKEND" --size "$1"
    backend_pid=$SPAWNED
    dp_wait "$P_BACKEND" "$backend_pid" backend
}

hx_alive() {
    # hx_alive WHAT: fails, saying so, if the proxy or the backend has died.
    for p in $DP_PID $DP_MEASURE $backend_pid; do
        kill -0 "$p" 2>/dev/null || { echo "bench/run.sh: the proxy or the backend died during $1" >&2; return 1; }
    done
}

hx_rqwait() {
    # hx_rqwait PID: milliseconds the process (all its threads) has spent waiting for a CPU
    # while runnable (/proc/PID/task/TID/schedstat, second field): other work on its CPU.
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ w += $2 } END { printf "%d\n", w / 1e6 }'
}

hx_versions() {
    # The software table of the reports.
    echo "| software | version |"
    echo "|---|---|"
    torii_row
    echo "| nginx | $(nginx -v 2>&1 | sed 's|.*nginx/||') |"
    echo "| HAProxy | $(haproxy -v | sed -n '1s/HAProxy version \([^ ]*\).*/\1/p') |"
    echo "| Caddy | $(caddy version | cut -d' ' -f1) |"
    echo "| OpenSSL | $(openssl version | cut -d' ' -f2) |"
    for tool in "$@"; do
        case $tool in
            wrk) echo "| wrk | $(wrk -v 2>&1 | sed -n '1s/^wrk \([^ ]*\).*/\1/p') |" ;;
            h2load) echo "| h2load | $(h2load --version | sed 's/.*nghttp2\///') |" ;;
        esac
    done
    echo
}

# --- section h2 ---

hx_h2load() {
    # hx_h2load PROXY KIND STREAMS SECONDS OUT: h2load, one thread on CLIENT_CPU, H2_CONNS
    # connections with STREAMS concurrent streams each, GET /. KIND h2c: HTTP/2 with prior
    # knowledge on PROXY's h2c listener; tls: HTTPS to bench.example (SNI and :authority), h2
    # by ALPN; PROXY direct: HTTP/1.1 straight to the backend, STREAMS requests pipelined.
    # (Its variables start with hl_: the callers' are global too.)
    if [ "$1" = direct ]; then
        set -- "$@" --h1 "http://127.0.0.1:$P_BACKEND/"
    elif [ "$2" = h2c ]; then
        set -- "$@" "http://127.0.0.1:$(hx_port "$1" h2c)/"
    else
        hl_port=$(hx_port "$1" tls)
        set -- "$@" "--connect-to=127.0.0.1:$hl_port" "https://bench.example:$hl_port/"
    fi
    hl_out=$5
    hl_m=$3
    hl_secs=$4
    shift 5
    taskset -c "$CLIENT_CPU" h2load -t1 -c "$h2conns" -m "$hl_m" -D "$hl_secs" "$@" > "$hl_out" 2>&1
}

hx_h2parse() {
    # One line from h2load's output: succeeded seconds req/s mean_us errors non2xx protocol
    # (errors: failed + errored + timeout; non2xx: 3xx-5xx answers).
    awk '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return v * 1000
            if (v ~ /s$/) return v * 1e6
            return v + 0
        }
        /^finished in / { d = $3; sub(/,$/, "", d); dur = us(d) / 1e6; rps = $4 }
        /^requests: / { ok = $8; err = $10 + $12 + $14 }
        /^status codes: / { non = $5 + $7 + $9 }
        /^time for request:/ { mean = us($6) }
        /^Application protocol:/ { proto = $3 }
        END { if (ok == "" || rps == "") exit 1
              printf "%d %s %s %s %d %d %s\n", ok, dur, rps, mean, err, non, (proto == "" ? "?" : proto) }' "$1"
}

section_h2() {
    hx_setup h2 h2load
    h2conns=${H2_CONNS:-16}
    streams=${H2_STREAMS:-1 10 100}
    kinds=${H2_KINDS:-h2c tls}
    sizes=${SIZES:-0 4096}
    tsv=$DP/results.tsv
    : > "$tsv"
    errors=""
    for size in $sizes; do
        hx_backend "$size"
        for proxy in direct $proxies; do
            echo "bench/run.sh: h2: $proxy, ${size} B bodies ..." >&2
            hx_start "$proxy"
            for kind in $kinds; do
                # direct: HTTP/1.1 to the backend, once (it has no h2c or TLS listener).
                [ "$proxy" != direct ] || [ "$kind" = "${kinds%% *}" ] || continue
                [ "$warmup" = 0 ] || hx_h2load "$proxy" "$kind" 10 "$warmup" "$DP/warmup.txt" || true
                r=0
                while [ $r -lt "$repeat" ]; do
                    r=$((r + 1))
                    for m in $streams; do
                        out=$raw/$proxy-$kind-${size}B-m$m.txt
                        [ "$proxy" != direct ] || out=$raw/direct-h1-${size}B-m$m.txt
                        [ "$repeat" = 1 ] || out=${out%.txt}-run$r.txt
                        # shellcheck disable=SC2086 # DP_MEASURE: a list of pids
                        t0=$(dp_cpu $DP_MEASURE)
                        q0=$(hx_rqwait "${DP_MEASURE:-0}")
                        hx_h2load "$proxy" "$kind" "$m" "$dur" "$out" || true
                        # shellcheck disable=SC2086
                        t1=$(dp_cpu $DP_MEASURE)
                        q1=$(hx_rqwait "${DP_MEASURE:-0}")
                        hx_alive "$out"
                        line=$(hx_h2parse "$out") || {
                            echo "bench/run.sh: cannot read h2load's output:" >&2
                            cat "$out" >&2
                            return 1
                        }
                        k=$kind
                        [ "$proxy" != direct ] || k=h1
                        echo "$k $size $proxy $m $r $line $((t1 - t0)) $((q1 - q0))" >> "$tsv"
                        # shellcheck disable=SC2086 # the fields of $line
                        set -- $line
                        if [ "$5" != 0 ] || [ "$6" != 0 ]; then
                            errors="$errors $proxy/$kind/${size}B/m$m"
                            echo "bench/run.sh: ERRORS: $proxy, $kind, $size B, $m streams: $5 failed/errored, $6 non-2xx (${out#"$ROOT"/})" >&2
                        fi
                        case $proxy/$7 in
                            direct/*|*/h2|*/h2c) ;;
                            *)
                                errors="$errors $proxy/$kind/${size}B/m$m"
                                echo "bench/run.sh: ERRORS: $proxy, $kind: h2load spoke $7, not HTTP/2 (${out#"$ROOT"/})" >&2 ;;
                        esac
                    done
                done
            done
            [ -z "$DP_PID" ] || stop "$DP_PID"
        done
        stop "$backend_pid"
    done

    echo "## Data plane: HTTP/2 downstream beside nginx, HAProxy and Caddy"
    echo
    echo "As the dataplane section: each proxy alone on CPU $PROXY_CPU with one worker, no access log,"
    echo "HTTP/1.1 keep-alive to bench-backend; the client (h2load, one thread) and the backend"
    echo "share CPU $CLIENT_CPU. h2load keeps $h2conns connections open with 1, 10 or 100 concurrent"
    echo "streams each (\`h2load -t1 -c $h2conns -m M -D $dur\`, GET /), after a ${warmup}s warm-up per"
    echo "proxy: h2c is HTTP/2 with prior knowledge on a plain listener (torii and Caddy: the"
    echo "HTTP/1.1 listener; nginx: \`listen ... http2\`; HAProxy: \`bind ... proto h2\`), h2 over TLS is"
    echo "HTTPS with ALPN h2 (ECDSA P-256 certificate, TLS 1.3; the $h2conns handshakes are a"
    echo "negligible part of a run). \"direct\" is h2load speaking HTTP/1.1 straight to the backend,"
    echo "the M requests pipelined: a reference for the client side, not an HTTP/2 figure. Proxy CPU"
    echo "is utime+stime of the proxy (every thread; nginx: its worker) from /proc over the run,"
    echo "divided by the requests answered; \"busy\" is that CPU time over the run's wall time;"
    echo "\"waited for CPU\" is the time the proxy was runnable but not running (/proc schedstat:"
    echo "other work on its CPU; near 0 on a quiet machine)."
    echo "h2load reports no percentiles: \"mean ms\" is its mean time per request. Configs and raw"
    echo "output: \`bench/results/$DATE-h2/\`."
    echo
    hx_versions h2load
    python3 - "$tsv" "$hz" <<'PY'
import math, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
hz = float(sys.argv[2])
runs, order = {}, []
for kind, size, proxy, m, run, ok, dur, rps, mean, err, non, proto, ticks, wait_ms in rows:
    k = (kind, int(size), proxy, int(m))
    cpu = float(ticks) / hz * 1e6 / int(ok) if proxy != "direct" and int(ok) else None
    busy = float(ticks) / hz / float(dur) * 100 if proxy != "direct" else None
    wait = float(wait_ms) / 1000 / float(dur) * 100 if proxy != "direct" else None
    runs.setdefault(k, []).append(dict(rps=float(rps), mean=float(mean), err=int(err), non=int(non),
                                       cpu=cpu, busy=busy, wait=wait, proto=proto))
    if proxy not in order:
        order.append(proxy)
res = {}
for k, rs in runs.items():
    best = dict(max(rs, key=lambda r: r["rps"]))
    best["err"] = sum(r["err"] for r in rs)
    best["non"] = sum(r["non"] for r in rs)
    res[k] = best
nruns = max(len(rs) for rs in runs.values())
if nruns > 1:
    print("Each case ran %d times; the tables show the run with the most req/s.\n" % nruns)
f = lambda x, fmt: "n/a" if x is None else fmt % x
ratio = lambda a, b: None if a is None or not b else a / b
kinds = [k for k in ("h2c", "tls") if any(r[0] == k for r in res)]
sizes = sorted({k[1] for k in res})
streams = sorted({k[3] for k in res})
title = {"h2c": "h2c (prior knowledge)", "tls": "h2 over TLS"}
flagged = False
for kind in kinds:
    for size in sizes:
        print("### %s, %s bodies\n" % (title[kind], "0-byte" if size == 0 else "%d-byte" % size))
        print("| proxy | streams/conn | req/s | × torii | mean ms | proxy CPU µs/req | CPU/req × torii | proxy CPU busy | proxy waited for CPU | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for p in order:
            for m in streams:
                r = res.get(("h1" if p == "direct" else kind, size, p, m))
                if not r:
                    continue
                t = res.get((kind, size, "torii", m))
                busy = f(r["busy"], "%.0f%%")
                if r["busy"] is not None and r["busy"] < 90:
                    busy += " †"
                    flagged = True
                err = "0" if not (r["err"] or r["non"]) else "**%d failed, %d non-2xx**" % (r["err"], r["non"])
                name = "direct (HTTP/1.1)" if p == "direct" else p
                print("| %s | %d | %.0f | %s | %.2f | %s | %s | %s | %s | %s |" % (
                    name, m, r["rps"], f(ratio(r["rps"], t and t["rps"]), "%.2f") if p != "direct" else "",
                    r["mean"] / 1000, f(r["cpu"], "%.1f"), f(ratio(r["cpu"], t and t["cpu"]), "%.2f"), busy,
                    f(r["wait"], "%.0f%%"), err))
        print()
if flagged:
    print("† The proxy's CPU was less than 90% busy: something else limited that run (the client")
    print("CPU, or other work on the machine), so its req/s understates the proxy; its CPU/request")
    print("still holds. REPEAT=3 (best of three) helps on a shared machine.\n")
def gmean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None
print("### Summary (geometric means over the cases)\n")
print("| proxy | " + " | ".join("%s req/s × torii | %s CPU/req × torii" % (title[k], title[k]) for k in kinds) + " |")
print("|---|" + "---:|---:|" * len(kinds))
for p in order:
    if p == "direct":
        continue
    cells = []
    for kind in kinds:
        ks = [(kind, s, p, m) for s in sizes for m in streams if (kind, s, p, m) in res]
        tk = lambda k: res.get((k[0], k[1], "torii", k[3]), {})
        cells.append(f(gmean([ratio(res[k]["rps"], tk(k).get("rps")) for k in ks]), "%.2f"))
        cells.append(f(gmean([ratio(res[k]["cpu"], tk(k).get("cpu")) for k in ks]), "%.2f"))
    print("| %s | %s |" % (p, " | ".join(cells)))
print()
PY
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (at the start: see the machine table)."
    echo
    if [ -n "$errors" ]; then
        echo "**ERRORS** (failed requests, non-2xx answers or not HTTP/2; see the raw h2load output):$errors"
        echo
        echo "bench/run.sh: h2: errors in:$errors" >&2
        return 1
    fi
}

# --- section tls ---

section_tls() {
    hx_setup tls
    tconns=${TLS_CONNS:-16}
    groups=${TLS_GROUPS:-P-256}
    tsv=$DP/results.tsv
    : > "$tsv"
    errors=""
    # The ceiling: what one core does of the server's public-key work per full handshake,
    # one ECDSA P-256 signature and one P-256 ECDH (OpenSSL's own figures on PROXY_CPU).
    echo "bench/run.sh: tls: openssl speed ecdsap256 ecdhp256 on CPU $PROXY_CPU ..." >&2
    taskset -c "$PROXY_CPU" openssl speed -seconds 3 -mr ecdsap256 ecdhp256 > "$raw/openssl-speed.txt" 2>&1
    # shellcheck disable=SC2046
    set -- $(awk -F: '/^\+F4:/ { sign = $4; verify = $5 } /^\+F5:/ { ecdh = $4 }
        END { if (sign == "" || ecdh == "") exit 1; print sign, verify, ecdh }' "$raw/openssl-speed.txt") || {
        echo "bench/run.sh: cannot read openssl speed's output:" >&2
        cat "$raw/openssl-speed.txt" >&2
        return 1
    }
    sign=$1 verify=$2 ecdh=$3
    # OpenSSL's whole handshake, without sockets or a proxy: what it costs any server built on
    # this OpenSSL.
    echo "bench/run.sh: tls: OpenSSL handshakes in memory on CPU $PROXY_CPU ..." >&2
    taskset -c "$PROXY_CPU" "$BUILD/bench/bench-handshake" --in-memory "$DP/tls/cert.pem" "$DP/tls/key.pem" \
        --duration "$dur" --groups "$groups" > "$raw/openssl-in-memory.txt" 2>&1 || {
        echo "bench/run.sh: bench-handshake --in-memory failed:" >&2
        cat "$raw/openssl-in-memory.txt" >&2
        return 1
    }
    mem_server=$(awk '$1 == "server_us" { print $2 }' "$raw/openssl-in-memory.txt")
    mem_client=$(awk '$1 == "client_us" { print $2 }' "$raw/openssl-in-memory.txt")
    hx_backend 0
    for proxy in $proxies; do
        echo "bench/run.sh: tls: $proxy ..." >&2
        hx_start "$proxy"
        port=$(hx_port "$proxy" tls)
        [ "$warmup" = 0 ] || taskset -c "$CLIENT_CPU" "$BUILD/bench/bench-handshake" --connect "127.0.0.1:$port" \
            --conns "$tconns" --duration "$warmup" --groups "$groups" > "$DP/warmup.txt" 2>&1 || true
        r=0
        while [ $r -lt "$repeat" ]; do
            r=$((r + 1))
            out=$raw/$proxy.txt
            [ "$repeat" = 1 ] || out=$raw/$proxy-run$r.txt
            # shellcheck disable=SC2086
            t0=$(dp_cpu $DP_MEASURE)
            q0=$(hx_rqwait "$DP_MEASURE")
            taskset -c "$CLIENT_CPU" "$BUILD/bench/bench-handshake" --connect "127.0.0.1:$port" \
                --conns "$tconns" --duration "$dur" --groups "$groups" > "$out" 2>&1 || {
                echo "bench/run.sh: bench-handshake failed against $proxy:" >&2
                cat "$out" >&2
                return 1
            }
            # shellcheck disable=SC2086
            t1=$(dp_cpu $DP_MEASURE)
            q1=$(hx_rqwait "$DP_MEASURE")
            hx_alive "$out"
            line=$(awk '$1 ~ /^(handshakes|seconds|answered_200|non200|errors|resumed|client_cpu_s|protocol|cipher|group|server_key|signature)$/ { v[$1] = $2 }
                END { if (v["handshakes"] == "") exit 1
                      split("protocol cipher group server_key signature", s, " ")
                      for (i in s) if (v[s[i]] == "") v[s[i]] = "?"
                      printf "%d %s %d %d %d %d %s %s %s %s %s %s\n", v["handshakes"], v["seconds"], v["answered_200"],
                             v["non200"], v["errors"], v["resumed"], v["client_cpu_s"], v["protocol"], v["cipher"],
                             v["group"], v["server_key"], v["signature"] }' "$out") || {
                echo "bench/run.sh: cannot read $out" >&2
                return 1
            }
            echo "$proxy $r $line $((t1 - t0)) $((q1 - q0))" >> "$tsv"
            # shellcheck disable=SC2086
            set -- $line
            if [ "$4" != 0 ] || [ "$5" != 0 ] || [ "$6" != 0 ] || [ "$8" != TLSv1.3 ]; then
                errors="$errors $proxy"
                echo "bench/run.sh: ERRORS: tls, $proxy: $4 non-200, $5 errors, $6 resumed, protocol $8 (${out#"$ROOT"/})" >&2
            fi
        done
        stop "$DP_PID"
    done
    stop "$backend_pid"

    echo "## TLS: full TLS 1.3 handshakes beside nginx, HAProxy and Caddy"
    echo
    echo "Each proxy alone on CPU $PROXY_CPU with one worker, terminating TLS on an HTTPS listener"
    echo "with a self-signed ECDSA P-256 certificate (openssl CLI) and proxying to bench-backend"
    echo "(HTTP/1.1 keep-alive). bench-handshake (bench/handshake.c) shares CPU $CLIENT_CPU with the"
    echo "backend and keeps $tconns connections busy, each in a loop: TCP connect, a full TLS 1.3"
    echo "handshake (key share $groups only, no session resumption: the client keeps no session),"
    echo "\`GET /\` with \`Connection: close\`, the answer, close. ${dur}s per proxy after a ${warmup}s warm-up."
    echo "Proxy CPU is utime+stime of the proxy (nginx: its worker) from /proc over the run, per"
    echo "handshake (with its one small request); \"per core\" is 1 / that: what one core of the"
    echo "proxy would do if nothing else limited it. The client verifies the server's signature and"
    echo "does its own ECDH, more public-key work than the server: with one core each, it can be"
    echo "the limit (\"busy\" under 90%), and then only the CPU figures compare the proxies (\"waited"
    echo "for CPU\": the proxy runnable but not running, from /proc schedstat; other work on its CPU). Each"
    echo "proxy's TLS settings are its defaults (session tickets are issued; the client ignores"
    echo "them). Configs and raw output: \`bench/results/$DATE-tls/\`."
    echo
    hx_versions
    python3 - "$tsv" "$hz" "$sign" "$verify" "$ecdh" "$PROXY_CPU" "$mem_server" "$mem_client" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
hz = float(sys.argv[2])
sign, verify, ecdh = map(float, sys.argv[3:6])
cpu_n = sys.argv[6]
mem_server, mem_client = float(sys.argv[7]), float(sys.argv[8])
ceiling = 1 / (1 / sign + 1 / ecdh)
runs, order, info = {}, [], {}
for p, run, hs, secs, ok, non, err, res_, ccpu, proto, cipher, group, key, sig, ticks, wait_ms in rows:
    cpu = float(ticks) / hz * 1e6 / int(hs) if int(hs) else None
    r = dict(rate=int(hs) / float(secs), cpu=cpu, busy=float(ticks) / hz / float(secs) * 100,
             wait=float(wait_ms) / 1000 / float(secs) * 100,
             ccpu=float(ccpu) / float(secs) * 100, err=int(err) + int(non) + int(res_))
    runs.setdefault(p, []).append(r)
    info.setdefault(p, "%s, %s, %s, server key %s, %s" % (proto, cipher, group, key, sig))
    if p not in order:
        order.append(p)
res = {}
for p, rs in runs.items():
    best = dict(max(rs, key=lambda r: r["rate"]))
    best["err"] = sum(r["err"] for r in rs)
    res[p] = best
if max(len(rs) for rs in runs.values()) > 1:
    print("Each proxy ran %d times; the table shows the run with the most handshakes/s.\n" % max(len(rs) for rs in runs.values()))
print("OpenSSL on CPU %s (`openssl speed ecdsap256 ecdhp256`): %.0f P-256 signatures/s, %.0f"
      % (cpu_n, sign, ecdh))
print("P-256 ECDH derivations/s (and %.0f verifications/s, the client's part). One signature and" % verify)
print("one ECDH per handshake: at most **%.0f handshakes/s per core** (%.1f µs each), before the" % (ceiling, 1e6 / ceiling))
print("key share generation, key schedule, record layer, the request and the kernel.\n")
print("OpenSSL's whole handshake, in memory (`bench-handshake --in-memory`: the same client and an")
print("OpenSSL server with its defaults, two session tickets included, through a BIO pair in one")
print("thread on CPU %s, no sockets): **%.1f µs of server CPU per handshake** (%.0f per core), %.1f µs"
      % (cpu_n, mem_server, 1e6 / mem_server, mem_client))
print("on the client side. That is the floor for torii, nginx and HAProxy, which use this")
print("OpenSSL; \"beyond OpenSSL\" below is the rest of a proxy's CPU per handshake (TCP accept")
print("and close, its event loop, its TLS settings, the request). Caddy uses Go's crypto/tls.\n")
f = lambda x, fmt: "n/a" if x is None else fmt % x
t = res.get("torii")
print("| proxy | handshakes/s | × torii | proxy CPU µs/handshake | CPU × torii | beyond OpenSSL µs | per core (1/CPU) | × ceiling | proxy CPU busy | proxy waited for CPU | client CPU busy | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
flagged = False
for p in order:
    r = res[p]
    per_core = 1e6 / r["cpu"] if r["cpu"] else None
    busy = "%.0f%%" % r["busy"]
    if r["busy"] < 90:
        busy += " †"
        flagged = True
    print("| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %.0f%% | %.0f%% | %s |" % (
        p, r["rate"], f(t and r["rate"] / t["rate"], "%.2f"), f(r["cpu"], "%.1f"),
        f(t and r["cpu"] and t["cpu"] and r["cpu"] / t["cpu"], "%.2f"),
        "" if p == "caddy" else f(r["cpu"] and r["cpu"] - mem_server, "%.0f"), f(per_core, "%.0f"),
        f(per_core and per_core / ceiling, "%.2f"), busy, r["wait"], r["ccpu"],
        "0" if not r["err"] else "**%d**" % r["err"]))
print()
if flagged:
    print("† The proxy's CPU was less than 90% busy: the client (or other work on the machine) was")
    print("the limit, so handshakes/s understates the proxy; compare the CPU columns.\n")
print("Negotiated (first connection of each run):\n")
for p in order:
    print("- %s: %s" % (p, info[p]))
print()
PY
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (at the start: see the machine table)."
    echo
    if [ -n "$errors" ]; then
        echo "**ERRORS** (failed handshakes or requests, resumed sessions, not TLS 1.3; see the raw output):$errors"
        echo
        echo "bench/run.sh: tls: errors in:$errors" >&2
        return 1
    fi
}

# --- section latency ---

section_mesh() {
    command -v wrk > /dev/null || { echo "bench/run.sh: mesh needs wrk (scripts/bench-deps.sh)" >&2; return 1; }
    DP=$RESULTS/$DATE-mesh
    rm -rf "$DP"
    mkdir -p "$DP"
    echo "## The mesh hop"
    echo
    echo "What torii's mesh (\`torii run --mesh\`, docs/mesh.md) adds to a call between two workloads,"
    echo "beside the direct call between the same two network namespaces (bench/mesh.py)."
    echo
    python3 "$HERE/mesh.py" --build "$BUILD" --out "$DP" --duration "${DURATION:-10s}" \
        --conns "${MESH_CONNS:-16}" --size "${MESH_SIZE:-0}" --rate "${MESH_RATE:-0}" \
        --client-cpu "${CLIENT_CPU:-0}" --proxy-cpu "${PROXY_CPU:-1}"
}

section_latency() {
    hx_setup latency wrk
    loads=${LAT_LOADS:-10 50 80}
    lconns=${LAT_CONNS:-64}
    cap_conns=${LAT_CAP_CONNS:-64}
    size=${LAT_SIZE:-0}
    schedule=${LAT_SCHEDULE:-poisson}
    lwarm=${LAT_WARMUP:-1}
    case $schedule in
        poisson) sched_opt=--poisson ;;
        fixed) sched_opt="" ;;
        *) echo "bench/run.sh: LAT_SCHEDULE is poisson or fixed" >&2; return 1 ;;
    esac
    tsv=$DP/results.tsv
    : > "$tsv"
    errors=""
    hx_backend "$size"
    # Direct capacity: wrk straight to the backend, as the dataplane section's "direct".
    echo "bench/run.sh: latency: direct capacity (wrk, $cap_conns connections) ..." >&2
    [ "$warmup" = 0 ] || dp_wrk "$P_BACKEND" "$cap_conns" "$warmup" "$DP/warmup.txt"
    dp_wrk "$P_BACKEND" "$cap_conns" "$dur" "$raw/capacity-wrk.txt" || {
        echo "bench/run.sh: wrk failed:" >&2
        cat "$raw/capacity-wrk.txt" >&2
        return 1
    }
    # shellcheck disable=SC2046
    set -- $(dp_parse "$raw/capacity-wrk.txt")
    capacity=${3%.*}
    [ "${capacity:-0}" -gt 0 ] || { echo "bench/run.sh: no capacity from wrk" >&2; return 1; }
    for target in direct $proxies; do
        hx_start "$target"
        # A short warm-up at the lowest rate.
        [ "$warmup" = 0 ] || taskset -c "$CLIENT_CPU" "$BUILD/bench/bench-latprobe" --connect "127.0.0.1:$DP_PORT" \
            --rate $((capacity * ${loads%% *} / 100 + 1)) --duration "$warmup" --warmup 0 --conns "$lconns" \
            > "$DP/warmup.txt" 2>&1 || true
        for pct in $loads; do
            rate=$((capacity * pct / 100))
            echo "bench/run.sh: latency: $target at $pct% of direct capacity ($rate req/s) ..." >&2
            out=$raw/$target-$pct.txt
            # shellcheck disable=SC2086
            t0=$(dp_cpu $DP_MEASURE)
            q0=$(hx_rqwait "${DP_MEASURE:-0}")
            w0=$(date +%s%N)
            # shellcheck disable=SC2086 # sched_opt: one option or none
            taskset -c "$CLIENT_CPU" "$BUILD/bench/bench-latprobe" --connect "127.0.0.1:$DP_PORT" --rate "$rate" \
                --duration "$dur" --warmup "$lwarm" --conns "$lconns" $sched_opt > "$out" 2>&1 || {
                echo "bench/run.sh: bench-latprobe failed against $target:" >&2
                cat "$out" >&2
                return 1
            }
            w1=$(date +%s%N)
            # shellcheck disable=SC2086
            t1=$(dp_cpu $DP_MEASURE)
            q1=$(hx_rqwait "${DP_MEASURE:-0}")
            hx_alive "$out"
            line=$(awk '{ v[$1] = $2 } END { if (v["p50_us"] == "") exit 1
                printf "%s %s %s %s %s %s %s %s %s %s %s %s %s %s\n", v["target_rate"], v["answered_rate"], v["window_s"],
                       v["p50_us"], v["p99_us"], v["p999_us"], v["max_us"], v["errors"], v["non200"],
                       v["send_lag_p99_us"], v["client_cpu_s"], v["answered"], v["scheduled"], v["unsent"] + v["cut_off"] }' "$out") || {
                echo "bench/run.sh: cannot read $out" >&2
                return 1
            }
            echo "$target $pct $line $((t1 - t0)) $(( (w1 - w0) / 1000000 )) $((q1 - q0))" >> "$tsv"
            # shellcheck disable=SC2086
            set -- $line
            if [ "$8" != 0 ] || [ "$9" != 0 ]; then
                errors="$errors $target/$pct%"
                echo "bench/run.sh: ERRORS: latency, $target at $pct%: $8 errors, $9 non-200 (${out#"$ROOT"/})" >&2
            fi
        done
        [ -z "$DP_PID" ] || stop "$DP_PID"
    done
    stop "$backend_pid"

    echo "## Data plane: added latency beside nginx, HAProxy and Caddy (open loop)"
    echo
    echo "First the capacity of the client side: wrk (1 thread, $cap_conns keep-alive connections)"
    echo "straight to bench-backend, both on CPU $CLIENT_CPU: **$capacity req/s** (${dur}s,"
    echo "\`capacity-wrk.txt\`). Then bench-latprobe (bench/latprobe.c) sends GET / at $(echo "$loads" | sed 's/ /%, /g')% of"
    echo "that, open loop ($schedule arrivals, over $lconns keep-alive connections, one request"
    echo "at a time each), straight to the backend (\"direct\") and through each proxy (one worker,"
    echo "alone on CPU $PROXY_CPU; HTTP/1.1 keep-alive both sides); the probe shares CPU $CLIENT_CPU"
    echo "with the backend. Each request's latency runs from its scheduled send time to its whole"
    echo "answer (CLOCK_MONOTONIC), so waiting for a free connection and the probe's own lateness"
    echo "count (no coordinated omission). ${dur}s per run after ${lwarm}s not counted; $size-byte bodies."
    echo "\"added\" is the proxy's percentile minus direct's at the same rate. \"probe lag p99\" is"
    echo "how late the probe itself sent the requests that found a free connection (its timer"
    echo "wake-ups and its share of CPU $CLIENT_CPU): it is in every figure, direct's included. \"proxy"
    echo "waited for CPU\" is the time the proxy was runnable but not running (/proc schedstat): other"
    echo "work on its CPU, which shows in its latencies. Raw output: \`bench/results/$DATE-latency/\`."
    echo
    hx_versions wrk
    python3 - "$tsv" "$hz" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
hz = float(sys.argv[2])
res, order, loads = {}, [], []
for (t, pct, target, answered, window, p50, p99, p999, mx, err, non, lag, ccpu, n, sched, unsent, ticks,
     wall_ms, wait_ms) in rows:
    # Behind: requests not answered when the probe stopped, or answers at less than 97% of the
    # offered rate: the offered rate was above what the target did.
    behind = int(unsent) > 0 or float(answered) < 0.97 * float(target)
    res[(t, int(pct))] = dict(target=float(target), rate=float(answered), p50=float(p50), p99=float(p99),
                               p999=float(p999), max=float(mx), err=int(err) + int(non), lag=float(lag),
                               busy=None if t == "direct" else float(ticks) / hz / (float(wall_ms) / 1000) * 100,
                               wait=None if t == "direct" else float(wait_ms) / float(wall_ms) * 100,
                               behind=behind, unsent=int(unsent), sched=int(sched))
    if t not in order:
        order.append(t)
    if int(pct) not in loads:
        loads.append(int(pct))
ms = lambda us: "%.3f" % (us / 1000)
def added(a, b):
    return "%+.3f" % ((a - b) / 1000)
any_behind = False
for pct in loads:
    d = res.get(("direct", pct))
    print("### %d%% of direct capacity (%.0f req/s)\n" % (pct, d["target"] if d else 0))
    print("| target | answered req/s | p50 ms | p99 ms | p99.9 ms | max ms | added p50 | added p99 | added p99.9 | proxy CPU busy | proxy waited for CPU | probe lag p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in order:
        r = res.get((t, pct))
        if not r:
            continue
        dd = d if t != "direct" and d else None
        name = t
        if r["behind"]:
            any_behind = True
            name += (" **(behind: %d of %d not answered)**" % (r["unsent"], r["sched"]) if r["unsent"]
                     else " **(behind)**")
        print("| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, r["rate"], ms(r["p50"]), ms(r["p99"]), ms(r["p999"]), ms(r["max"]),
            added(r["p50"], dd["p50"]) if dd else "", added(r["p99"], dd["p99"]) if dd else "",
            added(r["p999"], dd["p999"]) if dd else "",
            "" if r["busy"] is None else "%.0f%%" % r["busy"], "" if r["wait"] is None else "%.0f%%" % r["wait"],
            ms(r["lag"]) if r["lag"] >= 0 else "n/a",
            "0" if not r["err"] else "**%d**" % r["err"]))
    print()
if any_behind:
    print("**behind**: the offered rate was more than that target did on its core (answers at less")
    print("than 97% of it): the queue of requests waiting for a connection grew for the whole run,")
    print("and the percentiles measure that backlog. \"answered req/s\" is then the target's")
    print("throughput. What was not answered when the probe stopped (5 s after the last scheduled")
    print("send) is not in the percentiles, which then understate even the backlog.\n")
print("A proxy near its capacity on one core (proxy CPU busy near 100%) queues: its tail grows")
print("long before it falls behind.\n")
PY
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (at the start: see the machine table)."
    echo
    if [ -n "$errors" ]; then
        echo "**ERRORS** (failed or non-200 requests; see the raw output):$errors"
        echo
        echo "bench/run.sh: latency: errors in:$errors" >&2
        return 1
    fi
}

# --- control-plane sections: propagation, flips, scale, soak ------------------------------
# Modelled on the gateway-api-bench tests, through torii's file provider (a watched manifest
# directory) instead of an API server. Everything on loopback: the Gateway's HTTP listener on
# BENCH_PORT+10, the admin API on +11, bench-backend on +12 (and +13 for flips). Manifests are
# made by bench/cp.py (one file per route, renamed into the watched directory in one step);
# bench-propagation and bench-load (bench/propagation.c, bench/load.c) are the clients. Raw
# data and torii's log go to bench/results/<date>-<section>/.

cp_setup() {
    # cp_setup NAME: checks the binaries, picks the ports, makes CP (work) and CPRAW (raw data).
    for b in torii bench/bench-backend bench/bench-propagation bench/bench-load; do
        [ -x "$BUILD/$b" ] || { echo "bench/run.sh: $BUILD/$b not built" >&2; return 1; }
    done
    for tool in curl python3; do
        command -v "$tool" > /dev/null || { echo "bench/run.sh: $tool missing" >&2; return 1; }
    done
    base=${BENCH_PORT:-18100}
    P_GW=$((base + 10))
    P_ADMIN=$((base + 11))
    P_BE_A=$((base + 12))
    P_BE_B=$((base + 13))
    ADMIN=127.0.0.1:$P_ADMIN
    dp_ports_free "$P_GW" "$P_ADMIN" "$P_BE_A" "$P_BE_B"
    # shellcheck disable=SC3045
    ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"
    CP=$WORK/$1
    CPRAW=$RESULTS/$DATE-$1
    rm -rf "$CP" "$CPRAW"
    mkdir -p "$CP/config" "$CP/stage" "$CPRAW"
    CP_WORKERS=${WORKERS:-$(nproc)}
}

cp_py() {
    python3 "$HERE/cp.py" "$@"
}

cp_status() {
    # cp_status HOST [PATH]: the status code of GET http://127.0.0.1:P_GW/PATH with that Host.
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Host: $1" "http://127.0.0.1:$P_GW${2:-/}" 2>/dev/null || true
}

cp_backend() {
    # cp_backend PORT SIZE NAME: a bench-backend; waits until it answers.
    spawn "$CP/$3.log" "$BUILD/bench/bench-backend" --listen "127.0.0.1:$1" --size "$2"
    i=0
    until [ "$(dp_status "$1")" = 200 ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "bench/run.sh: $3 does not answer on 127.0.0.1:$1" >&2; return 1; }
        sleep 0.1
    done
}

cp_torii() {
    # cp_torii LOG_LEVEL [SOURCE...]: torii on CP/config, or on SOURCE (--kubeconfig ... instead
    # of --config); waits for /readyz and the listener. Sets TORII_PID.
    level=$1
    shift
    [ $# -gt 0 ] || set -- --config "$CP/config"
    spawn "$CP/torii.log" "$BUILD/torii" run "$@" --admin "$ADMIN" \
        --workers "$CP_WORKERS" --log-level "$level" --drain-delay 0s --drain-grace 1s
    TORII_PID=$SPAWNED
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$ADMIN/readyz" 2>/dev/null)" = 200 ] &&
        [ "$(cp_status probe.invalid)" = 404 ]; do
        kill -0 "$TORII_PID" 2>/dev/null || { echo "bench/run.sh: torii exited; its log:" >&2; tail -n 20 "$CP/torii.log" >&2; return 1; }
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "bench/run.sh: torii not ready in 60 s" >&2; tail -n 20 "$CP/torii.log" >&2; return 1; }
        sleep 0.1
    done
}

cp_wait_200() {
    # cp_wait_200 HOST: until the data plane answers 200 for HOST (60 s at most).
    i=0
    until [ "$(cp_status "$1")" = 200 ]; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "bench/run.sh: no 200 for Host $1 (got $(cp_status "$1"))" >&2; return 1; }
        sleep 0.1
    done
}

cp_metric() {
    # cp_metric NAME: a metric of torii's /metrics (the first sample of that name).
    curl -s --max-time 10 "http://$ADMIN/metrics" | awk -v n="$1" '$1 == n { print $2; exit }'
}

cp_secs() {
    # cp_secs T0 T1: seconds between two `date +%s%N` readings, one decimal.
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'
}

cp_mib() {
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

cp_ready_load() {
    # cp_ready_load OUT PID: until bench-load (PID) prints "ready" in OUT (120 s at most).
    i=0
    until grep -q '^ready' "$1"; do
        kill -0 "$2" 2>/dev/null || { echo "bench/run.sh: bench-load exited:" >&2; cat "$1" >&2; return 1; }
        i=$((i + 1))
        [ $i -lt 1200 ] || { echo "bench/run.sh: bench-load not ready in 120 s" >&2; return 1; }
        sleep 0.1
    done
}

cp_finish() {
    # cp_finish: the end of a section: stops what it started, keeps torii's log, says the load.
    kill -0 "$TORII_PID" 2>/dev/null || {
        echo "bench/run.sh: torii ($TORII_PID) is gone before the end of the section; its log:" >&2
        tail -n 5 "$CP/torii.log" >&2
        return 1
    }
    # The last started first: torii before what it talks to (the fake API server's watches
    # would otherwise end under it and fill its log).
    rev=""
    for p in $PIDS; do rev="$p $rev"; done
    for p in $rev; do stop "$p"; done
    # Without the debug lines per file read (without problems) and per worker wake-up.
    grep -v -e 'msg="read [^"]*, 0 problems"' -e 'msg="worker [0-9]*: woken' "$CP/torii.log" > "$CPRAW/torii.log" || true
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (at the start: see the machine"
    echo "table). The machine is shared with other work; its load shows in the latencies."
    echo
}

section_propagation() {
    cp_setup propagation
    n=${ROUTES:-3000}
    interval=${POLL_MS:-5}
    cp_py config "$CP/config" --gw-port "$P_GW" --service "backend=$P_BE_A"
    cp_backend "$P_BE_A" 0 backend
    cp_torii debug
    cp_py routes "$CP/stage" --count "$n" --index "$CP/index"
    cp "$CP/config/base.yaml" "$CPRAW/base.yaml"
    cp "$CP/stage/route-00000.yaml" "$CPRAW/route-00000.yaml"
    rss0=$(dp_rss "$TORII_PID")
    echo "bench/run.sh: propagation: $n routes, one at a time ..." >&2
    t0=$(date +%s%N)
    "$BUILD/bench/bench-propagation" --addr "127.0.0.1:$P_GW" --dir "$CP/config" --index "$CP/index" \
        --interval-ms "$interval" > "$CPRAW/latency.txt" 2> "$CP/propagation.err" || {
        cat "$CP/propagation.err" >&2
        return 1
    }
    t1=$(date +%s%N)
    gen=$(cp_py settle "$ADMIN" --quiet-ms 500)
    # shellcheck disable=SC2046
    set -- $(cp_py accepted "$ADMIN")
    rss1=$(dp_rss "$TORII_PID")

    echo "## Control plane: route propagation"
    echo
    echo "One Gateway (an HTTP listener on 127.0.0.1:$P_GW), one Service and EndpointSlice to"
    echo "bench-backend; torii \`--workers $CP_WORKERS --log-level debug\`, watching a directory. $n HTTPRoutes are"
    echo "added one at a time, each in its own file renamed into the directory (staged outside it"
    echo "first), each with a unique hostname, two rules to the backend through RequestHeaderModifier"
    echo "filters and a third to a missing Service (bench/cp.py;"
    echo "\`bench/results/$DATE-propagation/route-00000.yaml\`)."
    echo "After each rename, bench-propagation (bench/propagation.c) asks the data plane for that"
    echo "hostname on one keep-alive connection every $interval ms until it answers 200 (the rule to the"
    echo "backend); latency is from the rename to the 200. 404 is \"not yet\"; anything else is an"
    echo "error. The $interval ms poll bounds the resolution: \"lower bound\" is when the last poll"
    echo "without 200 was sent (the route was programmed between the two)."
    echo
    cp_py report-propagation "$CPRAW/latency.txt" --bucket "${BUCKET:-500}" --log "$CP/torii.log"
    echo "| after the run | |"
    echo "|---|---|"
    echo "| wall time for $n routes | $(cp_secs "$t0" "$t1") s |"
    echo "| config generation | $gen |"
    echo "| HTTPRoutes in /status: Accepted / ResolvedRefs=True (False expected: the missing Service) | $2 / $3 of $1 |"
    echo "| rejected manifests | $4 |"
    echo "| torii RSS before / after | $(cp_mib "$rss0") / $(cp_mib "$rss1") MiB |"
    echo "| bench-propagation | $(sed 's/^bench-propagation: //' "$CP/propagation.err") |"
    echo
    echo "Raw: \`bench/results/$DATE-propagation/latency.txt\` (index name latency_us polls n404"
    echo "nerror last_status lower_bound_us), torii's log beside it."
    echo
    cp_finish
    # For kube-propagation, which runs after this section in the same invocation.
    PROPAGATION_RAW=$CPRAW/latency.txt
    PROPAGATION_WALL="$(cp_secs "$t0" "$t1") s"
    PROPAGATION_RSS="$(cp_mib "$rss0") / $(cp_mib "$rss1") MiB"
    [ "$2" = "$n" ] || echo "bench/run.sh: propagation: only $2 of $n routes Accepted" >&2
    errs=$(awk '{ e += $6; if ($3 < 0) e++ } END { print e + 0 }' "$CPRAW/latency.txt")
    [ "$errs" = 0 ] || echo "bench/run.sh: propagation: $errs error answers or routes never answered (see the report)" >&2
}

section_kube_propagation() {
    cp_setup kube-propagation
    n=${ROUTES:-3000}
    interval=${POLL_MS:-5}
    python3 -c 'import yaml' 2> /dev/null || { echo "bench/run.sh: python3-yaml missing (the fake API server needs it)" >&2; return 1; }
    command -v openssl > /dev/null || { echo "bench/run.sh: openssl missing (the fake API server's CA)" >&2; return 1; }
    fake=$CP/fake
    user=system:serviceaccount:torii-system:torii # the fake's --token-user: torii's requests
    mkdir -p "$fake"
    spawn "$CP/fake.log" python3 "$ROOT/tests/kube/fakeapi.py" --state-dir "$fake" --tls
    FAKE_PID=$SPAWNED
    i=0
    until grep -q '^ready ' "$CP/fake.log"; do
        kill -0 "$FAKE_PID" 2>/dev/null || { echo "bench/run.sh: the fake API server exited:" >&2; tail -n 20 "$CP/fake.log" >&2; return 1; }
        i=$((i + 1))
        [ $i -lt 300 ] || { echo "bench/run.sh: the fake API server not ready in 30 s" >&2; return 1; }
        sleep 0.1
    done
    url=$(cat "$fake/url")
    api="$url $fake/ca.crt $fake/admin-token"
    cp_py kube-objects "$CP/base.json" --gw-port "$P_GW" --service "backend=$P_BE_A"
    # shellcheck disable=SC2086
    cp_py kube-create $api "$CP/base.json"
    cp_backend "$P_BE_A" 0 backend
    # --address-pool: Gateways bound on this machine as in file mode (the Gateway names
    # 127.0.0.1 in spec.addresses); one replica, no Lease.
    # shellcheck disable=SC2086
    cp_torii debug --kubeconfig "$fake/kubeconfig-tokenfile" --address-pool 127.1.0.0/16 --leader-elect false ${KUBE_ARGS:-}
    # shellcheck disable=SC2086
    cp_py kube-wait $api --gateway bench
    cp_py settle "$ADMIN" --quiet-ms 500 > /dev/null
    cp_py kube-routes "$CP/stage" --count "$n" --index "$CP/index"
    cp "$CP/base.json" "$CPRAW/base.json"
    cp "$CP/stage/route-00000.json" "$CPRAW/route-00000.json"
    # shellcheck disable=SC2086
    spawn "$CP/watch.log" python3 "$HERE/cp.py" kube-watch $api --out "$CPRAW/watch.txt"
    WATCH_PID=$SPAWNED
    i=0
    until [ -s "$CPRAW/watch.txt" ]; do
        kill -0 "$WATCH_PID" 2>/dev/null || { echo "bench/run.sh: the watcher exited:" >&2; cat "$CP/watch.log" >&2; return 1; }
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "bench/run.sh: the watcher not ready in 10 s" >&2; return 1; }
        sleep 0.1
    done
    sleep 1 # the Gateway's and GatewayClass's status writes are done before the count starts
    since=$(cp_py audit-seq "$fake")
    rss0=$(dp_rss "$TORII_PID")
    cpu0_fake=$(dp_cpu "$FAKE_PID")
    cpu0_torii=$(dp_cpu "$TORII_PID")
    echo "bench/run.sh: kube-propagation: $n routes through the API server, one at a time ..." >&2
    t0=$(date +%s%N)
    "$BUILD/bench/bench-propagation" --addr "127.0.0.1:$P_GW" --index "$CP/index" --interval-ms "$interval" \
        --api "$url/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes" \
        --ca "$fake/ca.crt" --token-file "$fake/admin-token" > "$CPRAW/latency.txt" 2> "$CP/propagation.err" || {
        cat "$CP/propagation.err" >&2
        return 1
    }
    t1=$(date +%s%N)
    cpu1_fake=$(dp_cpu "$FAKE_PID")
    cpu1_torii=$(dp_cpu "$TORII_PID")
    # shellcheck disable=SC2086
    accepted=$(cp_py kube-wait $api --routes "$n" --timeout 120)
    gen=$(cp_py settle "$ADMIN" --quiet-ms 1000)
    rss1=$(dp_rss "$TORII_PID")
    stop "$WATCH_PID"
    tck=$(getconf CLK_TCK)
    wall=$(cp_secs "$t0" "$t1")

    echo "## Control plane: route propagation through the API server"
    echo
    echo "The propagation section's objects (one Gateway with an HTTP listener on 127.0.0.1:$P_GW,"
    echo "one Service and EndpointSlice to bench-backend; \`bench/results/$DATE-kube-propagation/base.json\`),"
    echo "created through the fake API server (tests/kube/fakeapi.py, TLS), and torii \`--kubeconfig"
    echo "--address-pool 127.1.0.0/16 --leader-elect false --workers $CP_WORKERS --log-level debug${KUBE_ARGS:+ $KUBE_ARGS}\`:"
    echo "it lists and watches the API server, binds the Gateway's spec.addresses on this machine"
    echo "as in file mode, and writes status back, rate limited (\`--kube-qps\`, \`--kube-burst\`:"
    echo "${KUBE_ARGS:+given above; }by default 50 writes/s with bursts of 100). $n HTTPRoutes of the same shape as the"
    echo "propagation section's (\`route-00000.json\`) are created one at a time, each by a POST on"
    echo "one keep-alive TLS connection (bench-propagation --api, the fake's admin token). After"
    echo "each POST's answer, bench-propagation asks the data plane for the route's hostname every"
    echo "$interval ms until it answers 200, then creates the next route. The $interval ms poll bounds the"
    echo "resolution of the first row. The status times are the fake's audit times of torii's"
    echo "PATCH .../status for each route (when the fake began handling it), against the wall-clock"
    echo "time the POST's answer was read: the same clock, one machine. A second watcher (bench/cp.py"
    echo "kube-watch) records when the fake delivers each event. A route's status write waits its"
    echo "turn behind torii's rate limit when routes come faster than the limit lets writes out:"
    echo "compare \"routes created per second\" with \"torii's writes per second\" below."
    echo
    echo "**The fake API server is a Python process on the same 2-core machine** as torii, the"
    echo "backend and bench-propagation: part of every figure is its own time (the POST, the delivery"
    echo "of the watch event to torii, the handling of torii's status write) and the CPU it takes from"
    echo "torii. The tables below measure that part; a real kube-apiserver would differ."
    echo
    set --
    if [ -n "${PROPAGATION_RAW:-}" ]; then
        set -- --file-raw "$PROPAGATION_RAW" --compare-row "wall time for the routes|$PROPAGATION_WALL|$wall s" \
            --compare-row "torii RSS before / after|$PROPAGATION_RSS|$(cp_mib "$rss0") / $(cp_mib "$rss1") MiB"
    fi
    cp_py report-kube-propagation "$CPRAW/latency.txt" --audit "$fake/audit.jsonl" --since "$since" --user "$user" \
        --watch "$CPRAW/watch.txt" --bucket "${BUCKET:-500}" --log "$CP/torii.log" --extract "$CPRAW/audit.txt" "$@"
    [ -n "${PROPAGATION_RAW:-}" ] || { echo "The file provider's figures: run propagation in the same invocation to compare"; echo "(\`bench/run.sh BUILD propagation kube-propagation\`)."; echo; }
    echo "| after the run | |"
    echo "|---|---|"
    echo "| wall time for $n routes | $wall s |"
    echo "| routes created per second | $(awk -v n="$n" -v w="$wall" 'BEGIN { printf "%.1f", (w > 0) ? n / w : 0 }') |"
    echo "| CPU during the run: the fake API server / torii | $(awk -v f=$((cpu1_fake - cpu0_fake)) -v t=$((cpu1_torii - cpu0_torii)) -v k="$tck" -v w="$wall" \
        'BEGIN { printf "%.1f s (%.0f%% of one core) / %.1f s (%.0f%%)", f / k, (w > 0) ? 100 * f / k / w : 0, t / k, (w > 0) ? 100 * t / k / w : 0 }') |"
    echo "| config generation | $gen |"
    echo "| HTTPRoutes with torii's Accepted=True for their generation, in the API server | $accepted of $n |"
    echo "| torii RSS before / after | $(cp_mib "$rss0") / $(cp_mib "$rss1") MiB |"
    echo "| bench-propagation | $(sed 's/^bench-propagation: //' "$CP/propagation.err") |"
    echo
    echo "Raw: \`bench/results/$DATE-kube-propagation/latency.txt\` (index name latency_us polls n404"
    echo "nerror last_status lower_bound_us post_rtt_us sent_unix_us answered_unix_us), \`watch.txt\`"
    echo "(the second watcher: unix_us type name generation accepted), \`audit.txt\` (the fake's"
    echo "audit records of the run: seq time user method resource/name/subresource code), torii's log."
    echo
    cp_finish
    errs=$(awk '{ e += $6; if ($3 < 0) e++ } END { print e + 0 }' "$CPRAW/latency.txt")
    [ "$errs" = 0 ] || echo "bench/run.sh: kube-propagation: $errs error answers or routes never answered (see the report)" >&2
}

section_flips() {
    cp_setup flips
    flips=${FLIPS:-20}
    every=${FLIP_MS:-200}
    conns=${FLIP_CONNS:-16}
    size_a=100
    size_b=200
    cp_py config "$CP/config" --gw-port "$P_GW" --service "backend-a=$P_BE_A" --service "backend-b=$P_BE_B"
    cp_py route "$CP/config" flip --backend backend-a
    cp_backend "$P_BE_A" "$size_a" backend-a
    cp_backend "$P_BE_B" "$size_b" backend-b
    cp_torii info
    cp_py wait-route "$ADMIN" flip
    cp_wait_200 flip.bench.example
    cp "$CP/config/base.yaml" "$CP/config/flip.yaml" "$CPRAW/"
    fails0=$(cp_metric torii_upstream_failures_total)
    echo "bench/run.sh: flips: $flips flips, $every ms apart, under load from $conns connections ..." >&2
    spawn "$CPRAW/load.txt" "$BUILD/bench/bench-load" --addr "127.0.0.1:$P_GW" --conns "$conns" \
        --interval-ms 0 --host flip.bench.example --timeline "$CPRAW/timeline.txt" \
        --switch-log "$CPRAW/switches.txt"
    load=$SPAWNED
    cp_ready_load "$CPRAW/load.txt" "$load"
    sleep 1
    cp_py flip "$CP/config" --count "$flips" --interval-ms "$every" --log "$CPRAW/flips.txt"
    sleep 1
    stop "$load"
    fails1=$(cp_metric torii_upstream_failures_total)
    gen=$(cp_py settle "$ADMIN" --quiet-ms 300)

    echo "## Control plane: route flips under load"
    echo
    echo "HTTPRoute \"flip\" (hostname flip.bench.example, the route of the propagation section) has"
    echo "its backendRef switched between two Services, backend-a and backend-b (two bench-backend"
    echo "instances answering $size_a-byte and $size_b-byte bodies), $flips times, $every ms apart: each time the"
    echo "route's file is rewritten and renamed into the watched directory. Meanwhile bench-load"
    echo "(bench/load.c) keeps $conns keep-alive connections busy, closed loop (the next request as soon as"
    echo "the answer is in), from 1 s before the first flip to 1 s after the last. Every non-200"
    echo "answer and every socket error counts. torii \`--workers $CP_WORKERS\`."
    echo
    cp_py report-load "$CPRAW/load.txt"
    echo "| torii_upstream_failures_total during the run | $(( ${fails1:-0} - ${fails0:-0} )) |"
    echo "| config generation at the end | $gen |"
    echo
    echo "### Each flip: from the rename to the first answer from the new backend"
    echo
    echo "(Answers from the old backend right after that are requests already in flight on other"
    echo "connections; they count in the last column.)"
    echo
    cp_py flip-latency "$CPRAW/flips.txt" "$CPRAW/switches.txt" --size "backend-a=$size_a" --size "backend-b=$size_b"
    echo "Raw: \`bench/results/$DATE-flips/\`: load.txt (bench-load's summary), timeline.txt (per"
    echo "second: sent answered 200 non200 errors open), flips.txt (rename times), switches.txt"
    echo "(when the answering backend changed), the manifests, torii's log."
    echo
    cp_finish
    errs=$(awk '$1 == "non200" || $1 == "errors" { e += $2 } END { print e + 0 }' "$CPRAW/load.txt")
    if [ "$errs" != 0 ]; then
        echo "**ERRORS during the flips: $errs** (non-200 answers + socket errors; torii should have none)."
        echo
        echo "bench/run.sh: flips: $errs errors (see the report)" >&2
        return 1 # the section's bar is zero (the report is kept as .FAILED.md)
    fi
}

section_scale() {
    cp_setup scale
    sizes=${SCALE_ROUTES:-1000 5000 10000}
    runs=${RUNS:-5}
    cp_py config "$CP/config" --gw-port "$P_GW" --service "backend=$P_BE_A"
    cp_backend "$P_BE_A" 0 backend
    cp_torii debug
    cp_py settle "$ADMIN" --quiet-ms 500 > /dev/null
    rss_base=$(dp_rss "$TORII_PID")
    tsv=$CP/scale.tsv
    : > "$tsv"
    cur=0
    max=0
    for n in $sizes; do
        [ "$n" -gt "$cur" ] || { echo "bench/run.sh: SCALE_ROUTES must grow: $sizes" >&2; return 1; }
        echo "bench/run.sh: scale: $n HTTPRoutes ..." >&2
        cp_py routes "$CP/stage" --start "$cur" --count $((n - cur))
        last=$(printf 'route-%05d' $((n - 1)))
        t0=$(date +%s%N)
        cp_py install "$CP/stage" "$CP/config" > /dev/null
        cp_py wait-route "$ADMIN" "$last" --timeout 600
        t1=$(date +%s%N)
        gen=$(cp_py settle "$ADMIN" --quiet-ms 2000 --timeout 600)
        # shellcheck disable=SC2046
        set -- $(cp_py accepted "$ADMIN")
        if [ "$1" != "$n" ] || [ "$2" != "$n" ]; then
            echo "bench/run.sh: scale: at $n routes, /status has $1 HTTPRoutes, $2 Accepted" >&2
            return 1
        fi
        if [ "$(cp_status "$last.bench.example")" != 200 ] || [ "$(cp_status route-00000.bench.example)" != 200 ]; then
            echo "bench/run.sh: scale: at $n routes, the data plane does not answer 200" >&2
            return 1
        fi
        sleep 1
        rss=$(dp_rss "$TORII_PID")
        ms=$(sed -n "s/.*config generation $gen: .* sockets, \([0-9]*\) ms.*/\1/p" "$CP/torii.log" | tail -n 1)
        echo "$n $(( (t1 - t0) / 1000000 )) $gen $2 $rss ${ms:-?}" >> "$tsv"
        cur=$n
        max=$n
    done
    # Full translate at the largest size: SIGHUP makes torii read every file again and
    # translate; its log says how long the translation (+ bind, snapshot, status) took.
    echo "bench/run.sh: scale: $runs full translations at $max routes (SIGHUP) ..." >&2
    hup=$CP/hup.txt
    : > "$hup"
    r=0
    while [ $r -lt "$runs" ]; do
        r=$((r + 1))
        g0=$(cp_metric torii_config_generation)
        kill -HUP "$TORII_PID"
        i=0
        while [ "$(cp_metric torii_config_generation)" = "$g0" ]; do
            i=$((i + 1))
            [ $i -lt 1200 ] || { echo "bench/run.sh: scale: no new generation after SIGHUP" >&2; return 1; }
            sleep 0.05
        done
        g=$(cp_py settle "$ADMIN" --quiet-ms 1000)
        sed -n "s/.*config generation $g: .* sockets, \([0-9]*\) ms.*/\1/p" "$CP/torii.log" | tail -n 1 >> "$hup"
    done
    rss_hup=$(dp_rss "$TORII_PID")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$TORII_PID/status")
    echo "bench/run.sh: scale: deleting the $max routes ..." >&2
    t0=$(date +%s%N)
    cp_py remove "$CP/config" --prefix route > /dev/null
    cp_py wait-route "$ADMIN" route-00000 --gone --timeout 600
    t1=$(date +%s%N)
    gen=$(cp_py settle "$ADMIN" --quiet-ms 2000 --timeout 600)
    # shellcheck disable=SC2046
    set -- $(cp_py accepted "$ADMIN")
    left=$1
    sleep 2
    rss_del=$(dp_rss "$TORII_PID")
    del_ms=$(( (t1 - t0) / 1000000 ))
    # The same routes once more: RSS back near its figure at $max means the memory kept after
    # the deletion is the allocator's, reused, not leaked.
    echo "bench/run.sh: scale: adding the $max routes again ..." >&2
    cp_py routes "$CP/stage" --count "$max"
    cp_py install "$CP/stage" "$CP/config" > /dev/null
    cp_py wait-route "$ADMIN" "$(printf 'route-%05d' $((max - 1)))" --timeout 600
    cp_py settle "$ADMIN" --quiet-ms 2000 --timeout 600 > /dev/null
    sleep 1
    rss_again=$(dp_rss "$TORII_PID")
    cp "$tsv" "$CPRAW/scale.tsv"
    cp "$hup" "$CPRAW/full-translate-ms.txt"

    echo "## Control plane: scale (memory and translation time by number of routes)"
    echo
    echo "One torii (\`--workers $CP_WORKERS --log-level debug\`) on one Gateway with an HTTP listener, one"
    echo "Service; HTTPRoutes of the propagation section (3 rules each, header filters, one"
    echo "missing backend) are added in bulk, one file each renamed into the watched directory, up to"
    echo "each size in turn. At each size: once the last route is Accepted and"
    echo "torii_config_generation has not moved for 2 s, /status is checked (every route"
    echo "Accepted), the data plane answers 200 for the first and the last route, and VmRSS is read"
    echo "from /proc. \"torii ms\" is torii's own figure for the generation in force (log line"
    echo "\"config generation N: ... X ms\": translate, bind, snapshot, status JSON), the one that took"
    echo "in the routes added at that step, whose status JSON is rendered for the first time."
    echo
    echo "| HTTPRoutes | added in (rename to last route Accepted) | generation | Accepted | RSS | RSS per route (over the empty config) | torii ms |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    echo "| 0 | | | | $(cp_mib "$rss_base") MiB | | |"
    while read -r n ms g acc rss tms; do
        echo "| $n | $ms ms | $g | $acc | $(cp_mib "$rss") MiB | $(awk -v a="$rss" -v b="$rss_base" -v n="$n" 'BEGIN { printf "%.1f KiB", (a - b) / n }') | $tms |"
    done < "$tsv"
    echo
    echo "### Full translation at $max routes"
    echo
    echo "SIGHUP, $runs times: torii reads every file again and translates everything; its log line"
    echo "for each new generation (translate + bind + snapshot + status JSON; the file reading is"
    echo "not in it):"
    echo
    echo "| runs | min ms | median ms | max ms |"
    echo "|---:|---:|---:|---:|"
    sort -n "$hup" | awk '{ v[NR] = $1 } END { printf "| %d | %s | %s | %s |\n", NR, v[1], v[int((NR + 1) / 2)], v[NR] }'
    echo
    echo "(The translate section's bench-translate times the same steps in-process, on a larger mix"
    echo "of 10 Gateways with HTTP and HTTPS listeners: see its report.)"
    echo
    echo "### Deleting them all"
    echo
    echo "| | |"
    echo "|---|---:|"
    echo "| RSS at $max routes, after the SIGHUPs | $(cp_mib "$rss_hup") MiB |"
    echo "| peak RSS (VmHWM) before deleting | $(cp_mib "$hwm") MiB |"
    echo "| all $max route files deleted: until route-00000 is gone from /status | $del_ms ms |"
    echo "| HTTPRoutes left in /status | $left |"
    echo "| config generation | $gen |"
    echo "| RSS after deleting every route | $(cp_mib "$rss_del") MiB |"
    echo "| RSS with no route at the start | $(cp_mib "$rss_base") MiB |"
    echo "| RSS after adding the $max routes again (leak check) | $(cp_mib "$rss_again") MiB |"
    echo
    echo "Raw: \`bench/results/$DATE-scale/\` (scale.tsv: routes add_ms generation accepted rss_kib"
    echo "torii_ms; full-translate-ms.txt; torii's debug log without the per-file lines)."
    echo
    cp_finish
}

mem_read_all() {
    # mem_read_all FILE: reads /status (into cp.py's count, printed) and /metrics (into FILE),
    # so that whatever the admin server keeps after serving them is in the RSS read next.
    cp_py accepted "$ADMIN"
    curl -s --max-time 60 "http://$ADMIN/metrics" > "$1"
}
mem_mix() {
    # mem_mix MIX N: a fresh torii on MIX's Gateways and Services, then its N HTTPRoutes in bulk,
    # then none. Appends "MIX N yaml_bytes rss_empty rss_full rss_deleted metrics_bytes" to
    # CP/mix.tsv. The previous mix's torii is stopped first; the last one is cp_finish's.
    mix=$1
    n=$2
    d=$CP/mix-$mix
    rm -rf "$d"
    mkdir -p "$d/config" "$d/stage"
    cp_py config "$d/config" --gw-port "$P_GW" --service "backend=$P_BE_A"
    case $mix in
    scale)
        cp_py routes "$d/stage" --count "$n"
        last=$(printf 'route-%05d' $((n - 1)))
        last_ns=default
        prefix=route
        ;;
    lean | translate)
        lean=""
        [ "$mix" = lean ] && lean=--lean
        # shellcheck disable=SC2086 # lean: empty or one flag
        python3 "$HERE/translate/gen.py" "$d/gen" --routes "$n" $lean --http-port "$P_MIX_HTTP" \
            --https-port "$P_MIX_HTTPS" 2>&1 | sed 's/^/    /' >&2
        find "$d/gen" -name 'httproute-*.yaml' -exec mv -t "$d/stage/" {} +
        rm -rf "$d/gen/.cert"
        cp -r "$d/gen/." "$d/config/"
        last=$(printf 'route-%05d' $((n - 1)))
        last_ns=$(printf 'app-%02d' $(((n - 1) % 50)))
        prefix=httproute
        ;;
    *)
        echo "bench/run.sh: memory: unknown mix $mix" >&2
        return 1
        ;;
    esac
    bytes=$(find "$d/stage" -name '*.yaml' -exec cat {} + | wc -c)
    [ -z "${TORII_PID:-}" ] || stop "$TORII_PID"
    cp_torii info --config "$d/config"
    cp_py settle "$ADMIN" --quiet-ms 1000 --timeout 600 > /dev/null
    mem_read_all "$d/metrics-empty.txt" > /dev/null
    sleep 1
    rss_empty=$(dp_rss "$TORII_PID")
    echo "bench/run.sh: memory: $mix, $n HTTPRoutes ..." >&2
    cp_py install "$d/stage" "$d/config" > /dev/null
    cp_py wait-route "$ADMIN" "$last" --namespace "$last_ns" --timeout 600
    cp_py settle "$ADMIN" --quiet-ms 2000 --timeout 600 > /dev/null
    # shellcheck disable=SC2046
    set -- $(mem_read_all "$d/metrics.txt")
    if [ "$1" != "$n" ] || [ "$2" != "$n" ]; then
        echo "bench/run.sh: memory: $mix: /status has $1 HTTPRoutes, $2 Accepted, not $n" >&2
        return 1
    fi
    sleep 1
    rss_full=$(dp_rss "$TORII_PID")
    echo "bench/run.sh: memory: $mix, deleting them ..." >&2
    cp_py remove "$d/config" --prefix "$prefix" > /dev/null
    cp_py wait-route "$ADMIN" "$last" --namespace "$last_ns" --gone --timeout 600
    cp_py settle "$ADMIN" --quiet-ms 2000 --timeout 600 > /dev/null
    # shellcheck disable=SC2046
    set -- $(mem_read_all "$d/metrics-deleted.txt")
    [ "$1" = 0 ] || { echo "bench/run.sh: memory: $mix: $1 HTTPRoutes left after deleting" >&2; return 1; }
    sleep 2
    rss_del=$(dp_rss "$TORII_PID")
    echo "$mix $n $bytes $rss_empty $rss_full $rss_del $(wc -c < "$d/metrics.txt")" >> "$CP/mix.tsv"
    cp "$d/metrics.txt" "$CPRAW/metrics-$mix.txt"
}
section_memory() {
    cp_setup memory
    P_MIX_HTTP=$((base + 14))
    P_MIX_HTTPS=$((base + 15))
    n=${MEM_ROUTES:-10000}
    : > "$CP/mix.tsv"
    cp_backend "$P_BE_A" 0 backend
    TORII_PID=""
    for mix in ${MEM_MIXES:-lean scale translate}; do
        mem_mix "$mix" "$n"
    done
    cp "$CP/mix.tsv" "$CPRAW/mix.tsv"

    echo "## Control plane: memory per HTTPRoute, the whole process"
    echo
    echo "For each mix, a fresh torii (\`--workers $CP_WORKERS\`) on the mix's Gateways, Services and"
    echo "EndpointSlices with no route; then its $n HTTPRoutes, one file each, renamed into the"
    echo "watched directory at once; then all of them deleted. At each step, once every route is"
    echo "Accepted (or gone) and torii_config_generation has not moved for 2 s, /status and"
    echo "/metrics are read in full (whatever the admin server keeps from serving them counts), then"
    echo "VmRSS from /proc: control plane, data plane and admin server together."
    echo
    echo "- **lean**: \`bench/translate/gen.py --lean\`: 3 rules of one PathPrefix match and 1-2"
    echo "  weighted backendRefs, attached to a Gateway with an HTTP and an HTTPS listener (10 Gateways,"
    echo "  $((n / 10)) Services in 50 namespaces)."
    echo "- **scale**: the scale section's routes (\`bench/cp.py routes\`: 3 rules, header filters, one"
    echo "  missing backend), one Gateway with an HTTP listener, one Service."
    echo "- **translate**: \`bench/translate/gen.py\`'s default mix (2-4 rules with header matches and"
    echo "  header filters, labels), the translate section's."
    echo
    echo "| mix | YAML per route | RSS, no route | RSS, $n routes | **RSS per route** | RSS after deleting all | after deleting × no route | /metrics per route |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    while read -r mix cnt bytes e f del mb; do
        echo "| $mix | $((bytes / cnt)) B | $(cp_mib "$e") MiB | $(cp_mib "$f") MiB |" \
            "**$(awk -v a="$f" -v b="$e" -v n="$cnt" 'BEGIN { printf "%.1f KiB", (a - b) / n }')** |" \
            "$(cp_mib "$del") MiB | $(awk -v a="$del" -v b="$e" 'BEGIN { printf "%.2f", a / b }') |" \
            "$((mb / cnt)) B |"
    done < "$CP/mix.tsv"
    echo
    echo "Raw: \`bench/results/$DATE-memory/\` (mix.tsv: mix routes yaml_bytes rss_empty_kib"
    echo "rss_full_kib rss_deleted_kib metrics_bytes; each mix's /metrics at $n routes; torii's log)."
    echo
    cp_finish
}
section_soak() {
    cp_setup soak
    conns=${SOAK_CONNS:-1000}
    every=${SOAK_INTERVAL_MS:-100}
    edits=${SOAK_EDITS:-100}
    edit_ms=${SOAK_EDIT_MS:-500}
    k=${SOAK_ROUTES:-10}
    cp_py config "$CP/config" --gw-port "$P_GW" --service "backend=$P_BE_A"
    cp_py routes "$CP/stage" --count "$k" --prefix soak
    cp_py install "$CP/stage" "$CP/config" > /dev/null
    cp_backend "$P_BE_A" 0 backend
    cp_torii info
    last=$(printf 'soak-%05d' $((k - 1)))
    cp_py wait-route "$ADMIN" "$last"
    cp_wait_200 "$last.bench.example"
    echo "bench/run.sh: soak: $conns connections, a request every $every ms each, $edits route edits $edit_ms ms apart ..." >&2
    spawn "$CPRAW/load.txt" "$BUILD/bench/bench-load" --addr "127.0.0.1:$P_GW" --conns "$conns" \
        --interval-ms "$every" --host 'soak-%05d.bench.example' --hosts "$k" --timeline "$CPRAW/timeline.txt"
    load=$SPAWNED
    cp_ready_load "$CPRAW/load.txt" "$load"
    sleep "${SOAK_WARMUP:-5}"
    rss0=$(dp_rss "$TORII_PID")
    gen0=$(cp_metric torii_config_generation)
    acc0=$(cp_metric torii_downstream_connections_total)
    cp_py edit "$CP/config" --count "$edits" --interval-ms "$edit_ms" --routes "$k" --pid "$TORII_PID" \
        --log "$CPRAW/edits.txt"
    gen1=$(cp_py settle "$ADMIN" --quiet-ms 1000)
    lastedit=$(printf 'soak-%05d' $(((edits - 1) % k)))
    curl -s "http://$ADMIN/status/HTTPRoute/default/$lastedit" | grep -q "$lastedit-edit-$((edits - 1))" || {
        echo "bench/run.sh: soak: the last edit is not in /status" >&2
        return 1
    }
    sleep "${SOAK_WARMUP:-5}"
    rss1=$(dp_rss "$TORII_PID")
    active=$(cp_metric torii_downstream_connections_active)
    acc1=$(cp_metric torii_downstream_connections_total)
    stop "$load"

    echo "## Control plane: soak (route edits under long-lived connections)"
    echo
    echo "$conns keep-alive connections (bench-load, bench/load.c), each sending GET / every $every ms"
    echo "(spread evenly), to $k HTTPRoutes (hostnames soak-00000..; the route of the propagation"
    echo "section). Once every connection has had an answer and ${SOAK_WARMUP:-5} s more, $edits route edits,"
    echo "$edit_ms ms apart, round robin over the $k routes (a header filter's value changes; file rewritten"
    echo "and renamed into place); ${SOAK_WARMUP:-5} s after the last edit is in /status, the load stops."
    echo "RSS is torii's VmRSS. torii \`--workers $CP_WORKERS\`."
    echo
    cp_py report-load "$CPRAW/load.txt"
    echo "| config generations during the edits | $gen0 → $gen1 |"
    echo "| torii_downstream_connections_total during the edits (new connections) | $(( ${acc1:-0} - ${acc0:-0} )) |"
    echo "| torii_downstream_connections_active before the load stopped | $active |"
    echo
    echo "| torii RSS | |"
    echo "|---|---:|"
    echo "| with the connections open, before the edits | $(cp_mib "$rss0") MiB |"
    awk '{ print $4 }' "$CPRAW/edits.txt" | sort -n | awk '
        { v[NR] = $1 } END { if (NR) printf "| during the edits (after each): min / max | %.1f / %.1f MiB |\n", v[1] / 1024, v[NR] / 1024 }'
    echo "| after the edits | $(cp_mib "$rss1") MiB |"
    echo "| drift | $(awk -v a="$rss0" -v b="$rss1" 'BEGIN { printf "%+.1f MiB (%+.1f%%)", (b - a) / 1024, (b - a) * 100 / a }') |"
    echo
    echo "Raw: \`bench/results/$DATE-soak/\`: load.txt, timeline.txt (per second: sent answered 200"
    echo "non200 errors open), edits.txt (edit route monotonic_s rss_kib), torii's log."
    echo
    cp_finish
    errs=$(awk '$1 == "non200" || $1 == "errors" { e += $2 } END { print e + 0 }' "$CPRAW/load.txt")
    if [ "$errs" != 0 ]; then
        echo "**ERRORS during the soak: $errs** (non-200 answers + socket errors; torii should have none)."
        echo
        echo "bench/run.sh: soak: $errs errors (see the report)" >&2
        return 1 # the section's bar is zero (the report is kept as .FAILED.md)
    fi
}

# --- main --------------------------------------------------------------------------------

[ $# -gt 0 ] || set -- $SECTIONS
for s in "$@"; do
    case " $SECTIONS " in *" $s "*) ;; *) echo "bench/run.sh: no section $s" >&2; usage ;; esac
done
# In the order of SECTIONS, whatever the order given: kube-propagation sets its figures beside
# those of a propagation section run just before it.
wanted=" $* "
set --
for s in $SECTIONS; do
    case $wanted in *" $s "*) set -- "$@" "$s" ;; esac
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
        "section_$(echo "$s" | tr - _)"
    } > "$tmp"
    mv "$tmp" "$report"
    rm -f "$RESULTS/$DATE-$s.FAILED.md"
    CURRENT_TMP=""
    echo "bench/run.sh: wrote ${report#"$ROOT"/}" >&2
done

# Every section of this date in one report, bench/results/<date>.md: the machine once, then
# each section's figures (the per-section reports and raw outputs stay beside it).
all=$RESULTS/$DATE.md
{
    echo "# torii benchmarks ($DATE)"
    echo
    echo "Every section of \`bench/run.sh\` that ran on this date, in one file; each section's own"
    echo "report (\`$DATE-<section>.md\`) and raw outputs (\`$DATE-<section>/\`) are beside it."
    echo
    machine
    for s in $SECTIONS; do
        [ -f "$RESULTS/$DATE-$s.md" ] || continue
        echo
        awk 'started || /^## / { started = 1; print }' "$RESULTS/$DATE-$s.md"
    done
} > "$all.tmp" && mv "$all.tmp" "$all"
echo "bench/run.sh: wrote ${all#"$ROOT"/}" >&2
