#!/bin/sh
# Runs every libFuzzer target of a fuzz build for FUZZ_SECONDS seconds
# each (default 30) and fails when one of them crashes, leaks or times
# out. Usage: fuzz/run.sh BUILD_DIR [TARGET...], a target being the part
# of fuzz/fuzz_TARGET.c after "fuzz_".
#
# Each target starts from its seeds in fuzz/corpus/TARGET/ and, when
# $IMGASSURE_FIXTURES is set, from the fixture files of its kind. The
# inputs it finds grow BUILD_DIR/corpus/TARGET/, which later runs reuse.
# A crashing input is saved as BUILD_DIR/artifacts/TARGET-crash-<sha1>.
set -eu

if [ $# -lt 1 ]; then
    echo "usage: fuzz/run.sh BUILD_DIR [TARGET...]" >&2
    exit 2
fi
build=$1
shift
seconds=${FUZZ_SECONDS:-30}
fixtures=${IMGASSURE_FIXTURES:-}
source_dir=$(cd "$(dirname "$0")" && pwd)

if [ $# -eq 0 ]; then
    set --
    for binary in "$build"/fuzzers/fuzz_*; do
        set -- "$@" "${binary##*/fuzz_}"
    done
fi

# Prints the fixture folders that hold inputs of a target's kind.
fixture_seeds() {
    [ -n "$fixtures" ] || return 0
    case $1 in
    apk) set -- pkgdb/apk ;;
    dpkg) set -- pkgdb/dpkg pkgdb/dpkg-status.d rootfs ;;
    layer_walk | manifest) set -- images/oci-layout ;;
    os_release) set -- os-release ;;
    osv_record) set -- osv ;;
    *) return 0 ;;
    esac
    for folder in "$@"; do
        if [ -d "$fixtures/$folder" ]; then
            echo "$fixtures/$folder"
        fi
    done
}

mkdir -p "$build/artifacts"
failed=""
for target in "$@"; do
    corpus="$build/corpus/$target"
    mkdir -p "$corpus"
    if [ "$target" = event ]; then
        "$build/fuzzers/event_seeds" "$corpus"
    fi
    seeds=""
    if [ -d "$source_dir/corpus/$target" ]; then
        seeds="$source_dir/corpus/$target"
    fi
    extra=$(fixture_seeds "$target")

    echo "== fuzz_$target: ${seconds}s"
    log="$build/artifacts/$target.log"
    # shellcheck disable=SC2086 # the folder lists are meant to split
    if "$build/fuzzers/fuzz_$target" -max_total_time="$seconds" \
        -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$build/artifacts/$target-" \
        "$corpus" $seeds $extra >"$log" 2>&1; then
        grep -E '^Done|^#[0-9]+.*DONE' "$log" | tail -n 1 || true
    else
        tail -n 40 "$log"
        echo "fuzz_$target FAILED (log: $log)"
        failed="$failed $target"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed"
    exit 1
fi
echo "fuzz: $# targets ran ${seconds}s each without a crash"
