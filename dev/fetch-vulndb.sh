#!/bin/bash
# Downloads osv.dev's per-ecosystem exports (Debian, Alpine, Ubuntu) into
# .cache/vulndb/, where `make demo` and the workers (IMGASSURE_VULN_DB) find
# them as one folder of OSV .json records per ecosystem. Each ecosystem's
# folder is replaced only after its download completed and unpacked, so a
# failed run leaves the previous database in place.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
# The bucket osv.dev publishes its exports in; a mirror can stand in.
mirror=${IMGASSURE_OSV_MIRROR:-https://osv-vulnerabilities.storage.googleapis.com}
target=${IMGASSURE_VULN_DB_CACHE:-$repo_root/.cache/vulndb}
ecosystems=${IMGASSURE_OSV_ECOSYSTEMS:-Debian Alpine Ubuntu}

mkdir -p "$target"
failed=""
for ecosystem in $ecosystems; do
    partial="$target/$ecosystem.zip.partial"
    echo "fetching $mirror/$ecosystem/all.zip"
    if curl --fail --silent --show-error --location --connect-timeout 15 \
        --max-time 900 --output "$partial" "$mirror/$ecosystem/all.zip" &&
        rm -rf "$target/$ecosystem.new" &&
        /usr/bin/python3 -m zipfile -e "$partial" "$target/$ecosystem.new"; then
        rm -rf "$target/$ecosystem"
        mv "$target/$ecosystem.new" "$target/$ecosystem"
    else
        failed="$failed $ecosystem"
    fi
    rm -rf "$partial" "$target/$ecosystem.new"
done

if [ -n "$failed" ]; then
    echo "error: could not download the OSV export of:$failed from $mirror." >&2
    echo "This machine may have no access to it: unpack <Ecosystem>/all.zip" \
        "into $target/<Ecosystem>/ by hand, or point IMGASSURE_VULN_DB at OSV" \
        "records you have." >&2
    exit 1
fi
echo "vulnerability database ready in $target (set IMGASSURE_VULN_DB=$target)"
