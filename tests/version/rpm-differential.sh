#!/bin/sh
# Writes OUTDIR/rpm-pairs.tsv: every pair of a set of rpm versions with the
# order rpm 4.18 gives them, from rpm.vercmp() in rpm's Lua interpreter,
# all in one rpm run. The versions are those of the packages listed in
# $IMGASSURE_FIXTURES/pkgdb/rpm/*/expected-rpm-qa.tsv (version, release,
# version-release and epoch:version-release) and the hand-written
# rpm-tricky.txt. tests/unit/test_version.c runs this script and checks
# version_compare() against every pair.
#
# Usage: tests/version/rpm-differential.sh OUTDIR
# Exit status: 0 written, 77 skipped (the reason is printed), else failed.
set -eu

out=${1:?usage: rpm-differential.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
fixtures=${IMGASSURE_FIXTURES:-$repo/../shared/fixtures}

if ! command -v rpm >/dev/null 2>&1; then
    echo "skipped: rpm is not installed (make deps installs it)"
    exit 77
fi

mkdir -p "$out"
versions="$out/rpm-versions.txt"
grep -v '^#' "$here/rpm-tricky.txt" | grep -v '^$' >"$versions.tmp"

found=0
for table in "$fixtures"/pkgdb/rpm/*/expected-rpm-qa.tsv; do
    [ -e "$table" ] || continue
    found=1
    # name epoch version release arch sourcerpm
    awk -F '\t' '!/^#/ && NF >= 4 {
        print $3; print $4; print $3 "-" $4; print $2 ":" $3 "-" $4
    }' "$table" >>"$versions.tmp"
done
if [ "$found" -eq 0 ]; then
    echo "note: no $fixtures/pkgdb/rpm/*/expected-rpm-qa.tsv;" \
        "comparing the hand-written versions only"
fi
sort -u "$versions.tmp" >"$versions"
rm -f "$versions.tmp"

rpm --eval "%{lua: input = '$versions'; output = '$out/rpm-pairs.tsv';
dofile('$here/rpm-vercmp.lua')}" >/dev/null
count=$(wc -l <"$versions")
pairs=$(wc -l <"$out/rpm-pairs.tsv")
echo "rpm pairs: $pairs from $count versions"
