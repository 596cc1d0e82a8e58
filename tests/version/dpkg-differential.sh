#!/bin/sh
# Writes OUTDIR/dpkg-pairs.tsv and OUTDIR/dpkg-validity.tsv: pairs of
# Debian versions with the order dpkg gives them, and strings with the
# verdict of dpkg's parser (see dpkg-pairs.py for the references used).
# The versions are every Version and Source version in this machine's apt
# lists, plus the hand-written dpkg-tricky.txt. tests/unit/test_version.c
# runs this script and checks version_compare() against every pair.
#
# Usage: tests/version/dpkg-differential.sh OUTDIR
# Exit status: 0 written, 77 skipped (the reason is printed), else failed.
set -eu

out=${1:?usage: dpkg-differential.sh OUTDIR}
here=$(dirname "$0")
# Debian's interpreter, because the first python3 on PATH may lack apt_pkg.
python=/usr/bin/python3

skip() {
    echo "skipped: $*"
    exit 77
}

# The Packages files apt has downloaded, whatever their compression.
package_lists() {
    # shellcheck disable=SC2016 # $(FILENAME) is apt's placeholder
    apt-get indextargets --format '$(FILENAME)' 'Created-By: Packages' |
        while read -r file; do
            if [ -e "$file" ]; then
                echo "$file"
            fi
        done
}

command -v dpkg >/dev/null 2>&1 || skip "dpkg is not installed"
command -v apt-get >/dev/null 2>&1 || skip "apt-get is not installed"
if ! "$python" -c 'import apt_pkg' 2>/dev/null; then
    skip "$python cannot import apt_pkg; install python3-apt (make deps)"
fi

lists=$(package_lists)
if [ -z "$lists" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        skip "no apt package lists in /var/lib/apt/lists, and only root" \
            "may run apt-get update"
    fi
    echo "no apt package lists; running apt-get update"
    apt-get update -qq
    lists=$(package_lists)
    [ -n "$lists" ] || skip "apt-get update fetched no package lists"
fi

mkdir -p "$out"
versions="$out/dpkg-list-versions.txt"
for file in $lists; do
    /usr/lib/apt/apt-helper cat-file "$file"
done | sed -n 's/^Version: //p; s/^Source: [^ ]* (\(.*\))$/\1/p' |
    sort -u >"$versions"

"$python" "$here/dpkg-pairs.py" "$versions" "$here/dpkg-tricky.txt" \
    "$here/dpkg-validity.txt" "$out"
