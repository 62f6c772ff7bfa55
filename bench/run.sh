#!/bin/sh
# bench/run.sh BUILD [SECTION...]: runs the benchmarks against the binaries in BUILD and writes
# one report per section, bench/results/<date>-<section>.md, each starting with a description
# of the machine. `make bench` runs every section.
#
# Sections:
#   translate   the control plane: load + translate + status/IR/publish, at 1,000 / 5,000 /
#               10,000 HTTPRoutes (ROUTES="..." overrides; RUNS=k translations per size)
#
# A section is a function section_<name> that prints Markdown on stdout; add one (the data
# plane side by side with nginx and HAProxy, say) and list it in SECTIONS.
#
# Environment: ROUTES, RUNS, BENCH_WORK (where generated manifests go; default BUILD/bench-data),
# BENCH_RESULTS (default bench/results).
set -eu

SECTIONS="translate"

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

# --- main --------------------------------------------------------------------------------

[ $# -gt 0 ] || set -- $SECTIONS
for s in "$@"; do
    case " $SECTIONS " in *" $s "*) ;; *) echo "bench/run.sh: no section $s" >&2; usage ;; esac
done
for s in "$@"; do
    report=$RESULTS/$DATE-$s.md
    tmp=$RESULTS/.$DATE-$s.md.tmp
    echo "bench/run.sh: $s ..." >&2
    {
        echo "# torii benchmark: $s ($DATE)"
        echo
        machine
        echo
        "section_$s"
    } > "$tmp"
    mv "$tmp" "$report"
    echo "bench/run.sh: wrote ${report#"$ROOT"/}" >&2
done
