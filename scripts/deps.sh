#!/bin/sh
# Installs the Debian packages fossim needs that are missing; does nothing when
# all are there. Run as root (or with sudo available) on Debian 12.
set -eu

PKGS="gcc libc6-dev make cmake pkg-config libjemalloc-dev libnuma-dev libcriterion-dev libfyaml-dev libcjson-dev"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "fossim: installing missing packages:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "fossim: need root (or sudo) to install:$missing" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
