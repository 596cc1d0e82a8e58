#!/bin/sh
# Installs the Debian 12 packages that building, testing and the demo need.
# Quick when everything is present: only missing packages reach apt-get.
set -eu

packages="
build-essential pkg-config clang clang-format
librdkafka-dev libavro-dev libhiredis-dev libarchive-dev
libcurl4-openssl-dev libjansson-dev libssl-dev libcmocka-dev zlib1g-dev
libisal-dev libzstd-dev
redis-server docker-registry apache2-utils
mmdebstrap umoci skopeo
docker-compose curl ca-certificates openssl python3 kcat
isal libarchive-tools
rpm python3-apt
"

missing=""
for package in $packages; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing="$missing $package"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "installing Debian packages:$missing"
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root=sudo
    else
        echo "error: these packages are missing and installing them needs root:$missing" >&2
        exit 1
    fi
else
    as_root=
fi
log=$(mktemp)
# needrestart would otherwise ask about services after each install.
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
# shellcheck disable=SC2086 # the package list is meant to split into words
if ! { $as_root apt-get update -qq &&
    $as_root apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "error: apt-get failed to install:$missing (full log: $log)" >&2
    exit 1
fi
rm -f "$log"
echo "installed:$missing"
