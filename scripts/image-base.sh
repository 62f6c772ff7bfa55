#!/bin/sh
# `make image-base`: Debian 12 base images made locally from Debian's apt mirror, for machines
# that reach no container registry. mmdebstrap --variant=minbase is what the official debian:12
# image is made from; the -slim one also leaves out documentation, man pages and locales, as
# debian:12-slim does. Then: make image IMAGE_BASE=localhost/debian
set -eu
BASE=${1:-localhost/debian}
if command -v podman >/dev/null 2>&1; then TOOL=podman
elif command -v buildah >/dev/null 2>&1; then TOOL=buildah
else echo "image-base: needs podman or buildah (apt-get install podman, or buildah)" >&2; exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
command -v mmdebstrap >/dev/null 2>&1 || $SUDO apt-get install -y -qq --no-install-recommends mmdebstrap
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

import() {  # import TARBALL NAME
    if [ "$TOOL" = podman ]; then
        podman import --change 'CMD ["bash"]' "$1" "$2" >/dev/null
    else
        c=$(buildah from scratch)
        buildah add "$c" "$1" / >/dev/null
        buildah config --cmd bash "$c"
        buildah commit -q --rm "$c" "$2" >/dev/null
    fi
    echo "$2"
}

$SUDO mmdebstrap --quiet --variant=minbase bookworm "$TMP/debian.tar"
import "$TMP/debian.tar" "$BASE:12"
$SUDO mmdebstrap --quiet --variant=minbase \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    bookworm "$TMP/debian-slim.tar"
import "$TMP/debian-slim.tar" "$BASE:12-slim"
