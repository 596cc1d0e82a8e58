#!/bin/bash
# Pushes the demo image (dev/build-image.sh, built first when missing) to a
# plain-HTTP registry, such as the one dev/stack.sh starts on loopback, and
# prints the pushed reference and its manifest digest.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: dev/push-image.sh REGISTRY [NAME:TAG]

Copies the demo image layout to docker://REGISTRY/NAME:TAG with skopeo
(default NAME:TAG demo/debian:bookworm), without TLS because the
development registry serves plain HTTP. Prints two lines:
  reference=REGISTRY/NAME:TAG
  digest=sha256:...
EOF
}

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cache_dir=${IMGASSURE_IMAGE_CACHE:-$repo_root/.cache/images}
layout=$cache_dir/debian-bookworm-minbase
tag=bookworm

say() {
    printf 'push-image: %s\n' "$*" >&2
}

case ${1:-} in
-h | --help)
    usage
    exit 0
    ;;
'')
    usage >&2
    exit 2
    ;;
esac
[ $# -le 2 ] || {
    usage >&2
    exit 2
}
registry=$1
name=${2:-demo/debian:bookworm}

case $registry in
*/* | *[[:space:]]*)
    say "error: invalid registry '$registry': expected HOST:PORT"
    exit 2
    ;;
esac
case $name in
*:*) ;;
*)
    say "error: invalid image name '$name': expected NAME:TAG"
    exit 2
    ;;
esac
command -v skopeo >/dev/null || {
    say "error: skopeo not installed (make deps)"
    exit 1
}

"$repo_root/dev/build-image.sh"

reference=$registry/$name
digest_file=$(mktemp)
trap 'rm -f "$digest_file"' EXIT

# The development registry serves plain HTTP on loopback, so TLS is off.
skopeo copy --quiet --dest-tls-verify=false --digestfile "$digest_file" \
    "oci:$layout:$tag" "docker://$reference"

digest=$(cat "$digest_file")
case $digest in
sha256:*) ;;
*)
    say "error: skopeo reported no manifest digest for $reference"
    exit 1
    ;;
esac
echo "reference=$reference"
echo "digest=$digest"
