#!/bin/sh
# `make image-check`: the Containerfile's runtime stage without an image build, for machines with
# no podman/buildah or no access to a container registry (only Debian's apt is needed).
#
# 1. mmdebstrap --variant=minbase (what debian:12-slim is built from) with the Containerfile's
#    RUNTIME_PACKAGES, into $ROOT (kept, and reused while the package list is the same);
# 2. TORII (default build/torii) copied to /usr/bin/torii, as the Containerfile's COPY does;
# 3. in a private mount namespace, the root made read-only (readOnlyRootFilesystem) and entered as
#    uid/gid 65532 (the image's USER): `ldd` finds every library, `torii version` and `torii check`
#    run, and `torii run` serves a Gateway on an unprivileged port and answers /healthz.
# Ends with "N passed, N failed".
set -eu
TORII=${1:-build/torii}
HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${ROOT:-$(dirname "$TORII")/image-rootfs}
[ "$(id -u)" -eq 0 ] || { echo "image-check: needs root (mmdebstrap, chroot, mount)" >&2; exit 2; }
[ -x "$TORII" ] || { echo "image-check: no $TORII: make build first" >&2; exit 2; }

PKGS=$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' "$HERE/Containerfile")
[ -n "$PKGS" ] || { echo "image-check: no ARG RUNTIME_PACKAGES line in Containerfile" >&2; exit 2; }

if ! command -v mmdebstrap >/dev/null 2>&1; then
    echo "installing: mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi
if [ "$(cat "$ROOT.packages" 2>/dev/null)" != "$PKGS" ]; then
    rm -rf "$ROOT" "$ROOT.packages"
    mkdir -p "$(dirname "$ROOT")"
    echo "mmdebstrap: bookworm minbase + $PKGS -> $ROOT"
    # apt's lists are removed, as the Containerfile's `rm -rf /var/lib/apt/lists/*` does.
    mmdebstrap --quiet --mode=root --variant=minbase --include="$(echo "$PKGS" | tr ' ' ',')" \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/*' bookworm "$ROOT"
    echo "$PKGS" > "$ROOT.packages"
fi
install -m 0755 "$TORII" "$ROOT/usr/bin/torii"

# A Gateway on a loopback address of its own (other tests use random ones too) and port 8080.
ADDR=127.$(shuf -i 100-199 -n 1).$(shuf -i 0-255 -n 1).$(shuf -i 2-254 -n 1)
ADMIN_PORT=$(shuf -i 20000-29999 -n 1)
mkdir -p "$ROOT/etc/torii"
cp "$HERE/deploy/gatewayclass.yaml" "$ROOT/etc/torii/"
cat > "$ROOT/etc/torii/gateway.yaml" <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  gatewayClassName: torii
  addresses: [{type: IPAddress, value: $ADDR}]
  listeners: [{name: http, protocol: HTTP, port: 8080}]
EOF

# Runs as the image would: private mounts, /proc and /dev from the host, a read-only root.
cat > "$ROOT.inner" <<'EOF'
set -eu
R=$1; shift
mount --bind "$R" "$R"
mount -o remount,bind,ro "$R"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
exec chroot --userspec=65532:65532 "$R" "$@"
EOF
inside() { unshare --mount --propagation private sh "$ROOT.inner" "$ROOT" "$@"; }

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }

out=$(inside /usr/bin/ldd /usr/bin/torii 2>&1) || true
if echo "$out" | grep -q "libc.so" && ! echo "$out" | grep -q "not found"; then
    ok "ldd finds every library"
else
    bad "ldd: $(echo "$out" | grep 'not found' | tr '\n' ' ')"
fi
if out=$(inside /usr/bin/torii version 2>&1); then ok "torii version: $out"; else bad "torii version: $out"; fi
if out=$(inside /usr/bin/torii check /etc/torii 2>&1); then ok "torii check"; else bad "torii check: $out"; fi
if out=$(inside /bin/sh -c 'touch /torii-write-test' 2>&1); then bad "root is writable"; else ok "root is read-only"; fi

LOG=$ROOT.log
unshare --mount --propagation private sh "$ROOT.inner" "$ROOT" \
    /usr/bin/torii run --config /etc/torii --admin 127.0.0.1:$ADMIN_PORT >"$LOG" 2>&1 &
PID=$!
served=""
for _ in $(seq 50); do
    if curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/healthz" &&
       code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR:8080/"); then
        served=$code
        break
    fi
    sleep 0.1
done
# No route matches: torii's own 404 shows the data plane listened and answered.
if [ "$served" = 404 ]; then ok "torii run: /healthz, and a Gateway on $ADDR:8080 answers 404"; else bad "torii run: got '${served}'; log: $(tail -5 "$LOG" | tr '\n' ' ')"; fi
kill -TERM "$PID" 2>/dev/null || true
wait "$PID" 2>/dev/null || true
rm -f "$ROOT.inner"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
