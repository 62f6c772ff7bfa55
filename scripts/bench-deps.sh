#!/bin/sh
# Installs the Debian packages `make bench` needs (load generators and the proxies torii is
# compared with), when any is missing. Safe to run again.
#
# The distro's nginx, haproxy and caddy services are never wanted: the benchmarks start their own
# instances with their own config files on loopback ports. So the install runs with a
# policy-rc.d that forbids starting services, and any distro instance found running afterwards
# (one started by the package's postinst on an earlier install, say) is stopped and disabled.
set -eu
PKGS="wrk nghttp2-client nginx haproxy caddy python3 openssl"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ -n "$missing" ]; then
    echo "installing:$missing"
    policy=/usr/sbin/policy-rc.d
    ours=""
    if [ ! -e "$policy" ]; then
        # 101: "action forbidden by policy": invoke-rc.d / deb-systemd-invoke start nothing.
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod 755 "$policy"
        ours=1
    fi
    cleanup() { [ -z "$ours" ] || $SUDO rm -f "$policy"; }
    trap cleanup EXIT INT TERM
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
    cleanup
    trap - EXIT INT TERM
fi
# Keep the distro services off: disabled for the next boot, and stopped if running now.
for svc in nginx haproxy caddy; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    else
        [ -x "/etc/init.d/$svc" ] && { $SUDO update-rc.d "$svc" disable >/dev/null 2>&1 || true; }
        # Only the distro's own instance (its pid file), never a process of ours.
        for pidf in /run/$svc.pid /run/$svc/$svc.pid /var/run/$svc.pid; do
            [ -s "$pidf" ] || continue
            pid=$(cat "$pidf")
            kill -0 "$pid" 2>/dev/null && { echo "stopping the distro's $svc (pid $pid)"; $SUDO kill "$pid" || true; }
        done
    fi
done
exit 0
