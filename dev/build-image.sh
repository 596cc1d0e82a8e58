#!/bin/bash
# Builds the demo image: Debian 12 (bookworm) minbase from mmdebstrap as an
# OCI image layout made with umoci, cached under .cache/images. Beside the
# layout's own files it writes packages.tsv: dpkg-query's view of the
# installed packages of the same root filesystem, one "installed<TAB>name
# <TAB>version" line each, sorted, which end-to-end tests compare with what
# the scanner finds.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: dev/build-image.sh [--force]

Builds .cache/images/debian-bookworm-minbase (an OCI image layout, tag
"bookworm") and its packages.tsv, unless both exist already.

  --force   rebuild even when the cached layout is complete

Environment:
  IMGASSURE_IMAGE_CACHE    directory of cached images
                           (default: .cache/images in the repository)
  IMGASSURE_DEBIAN_MIRROR  Debian mirror for mmdebstrap
                           (default http://deb.debian.org/debian)
EOF
}

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cache_dir=${IMGASSURE_IMAGE_CACHE:-$repo_root/.cache/images}
mirror=${IMGASSURE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
tag=bookworm
layout=$cache_dir/debian-$suite-minbase

say() {
    printf 'build-image: %s\n' "$*" >&2
}

die() {
    say "error: $*"
    exit 1
}

force=no
case ${1:-} in
'') ;;
--force) force=yes ;;
-h | --help)
    usage
    exit 0
    ;;
*)
    usage >&2
    exit 2
    ;;
esac

# The layout directory appears only by the final rename, so one that has
# both files is complete.
if [ "$force" = no ] && [ -f "$layout/index.json" ] &&
    [ -s "$layout/packages.tsv" ]; then
    say "cached: $layout"
    exit 0
fi

for tool in mmdebstrap umoci dpkg-query tar; do
    command -v "$tool" >/dev/null || die "$tool not installed (make deps)"
done

mkdir -p "$cache_dir"
work=$(mktemp -d "$cache_dir/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# Without root, mmdebstrap's automatic mode uses unshare (which needs
# subordinate uid ranges for the user) or fakechroot.
say "mmdebstrap --variant=minbase $suite from $mirror"
if ! mmdebstrap --quiet --variant=minbase --format=tar "$suite" \
    "$work/rootfs.tar" "$mirror"; then
    if [ "$(id -u)" -ne 0 ]; then
        die "mmdebstrap failed: as non-root it needs user namespaces with /etc/subuid and /etc/subgid entries, or fakechroot and fakeroot; running as root avoids both"
    fi
    die "mmdebstrap failed"
fi

say "packing the root filesystem into an OCI image layout"
umoci init --layout "$work/layout"
umoci new --image "$work/layout:$tag"
umoci raw add-layer --image "$work/layout:$tag" \
    --history.created_by "mmdebstrap --variant=minbase $suite $mirror" \
    "$work/rootfs.tar"
umoci config --image "$work/layout:$tag" \
    --os linux --architecture amd64 \
    --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --config.cmd /bin/bash --config.workingdir / \
    --config.label "org.opencontainers.image.title=debian-$suite-minbase" \
    --config.label "org.opencontainers.image.description=Debian $suite minbase from mmdebstrap, the imgassure demo image" \
    --history.created_by "imgassure dev/build-image.sh: image configuration"
# umoci keeps the blobs of every intermediate image until collected.
umoci gc --layout "$work/layout"

# Only the dpkg database is needed, not the whole tree.
say "listing installed packages"
mkdir "$work/dpkg"
tar -xf "$work/rootfs.tar" -C "$work/dpkg" ./var/lib/dpkg
dpkg-query --admindir="$work/dpkg/var/lib/dpkg" -W \
    -f='${db:Status-Status}\t${Package}\t${Version}\n' |
    awk -F '\t' '$1 == "installed"' | LC_ALL=C sort >"$work/layout/packages.tsv"
[ -s "$work/layout/packages.tsv" ] || die "dpkg-query found no installed packages"

rm -rf "$layout"
mv "$work/layout" "$layout"
say "built $layout ($(wc -l <"$layout/packages.tsv") packages) in $((SECONDS - started))s"
