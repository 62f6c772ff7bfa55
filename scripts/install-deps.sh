#!/bin/sh
# Installs the Debian packages torii needs to build and test, when any is missing.
# Used by `make run` and `make test`; safe to run again. testssl.sh serves `make testssl` only.
set -eu
PKGS="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev libyaml-dev libssl-dev \
libnghttp2-dev liburing-dev libpcre2-dev libcurl4-openssl-dev libc-ares-dev libnftables-dev nftables python3 python3-yaml python3-grpcio python3-h2 python3-kubernetes openssl curl \
nghttp2-client \
testssl.sh"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
