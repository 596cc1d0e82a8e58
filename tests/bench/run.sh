#!/bin/bash
# Runs the benchmarks that `make bench` prints, after make has built the
# programs: vulnerability database load, matching per image, layer walk
# throughput, a rescan from the layer cache and peak memory by image size,
# each against a baseline measured in the same run. Then it times the
# image-seen events per second of one worker and the scans per minute of
# one and two workers. Prints one line per figure and writes them all to
# BUILD_DIR/results.json. The scan and worker figures start the embedded
# broker, redis-server and docker-registry on free loopback ports
# (dev/stack.sh) and stop them on exit.
# Nothing here asserts a time: a program fails only when its work fails.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tests/bench/run.sh [BUILD_DIR]

Runs BUILD_DIR/bench/bench_* (default BUILD_DIR: build/bench) on inputs
generated into BUILD_DIR/data, and writes BUILD_DIR/results.json.

Environment:
  IMGASSURE_FIXTURES        fixtures folder (default ../shared/fixtures)
  IMGASSURE_IMAGE_CACHE     cached images of dev/build-image.sh
                            (default .cache/images)
  IMGASSURE_BENCH_RECORDS   records of the synthetic database (50000)
  IMGASSURE_BENCH_PACKAGES  packages of the synthetic inventory (5000)
  IMGASSURE_BENCH_LAYER_MB  file contents of the synthetic layer, in
                            10^6 bytes before compression (500)
  IMGASSURE_BENCH_SMALL_MB  uncompressed size of the small image of the
                            memory figure, in 10^6 bytes (50)
  IMGASSURE_BENCH_LARGE_MB  the same for the large image (5000)
  IMGASSURE_BENCH_SEEN_EVENTS  image-seen events of the ingest figure
                            (200000)
  IMGASSURE_BENCH_SEEN_IMAGES  distinct images among them (5000)
  IMGASSURE_BENCH_SCANS     scan requests per round of the worker scan
                            figure (24)
EOF
}

case ${1:-} in
-h | --help)
    usage
    exit 0
    ;;
esac

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
build=${1:-build/bench}
fixtures=${IMGASSURE_FIXTURES:-../shared/fixtures}
image_cache=${IMGASSURE_IMAGE_CACHE:-.cache/images}
records=${IMGASSURE_BENCH_RECORDS:-50000}
packages=${IMGASSURE_BENCH_PACKAGES:-5000}
layer_mb=${IMGASSURE_BENCH_LAYER_MB:-500}
small_mb=${IMGASSURE_BENCH_SMALL_MB:-50}
large_mb=${IMGASSURE_BENCH_LARGE_MB:-5000}
seen_events=${IMGASSURE_BENCH_SEEN_EVENTS:-200000}
seen_images=${IMGASSURE_BENCH_SEEN_IMAGES:-5000}
scan_requests=${IMGASSURE_BENCH_SCANS:-24}

programs=$build/bench
data=$build/data
parts=$build/parts
python=/usr/bin/python3
report=tests/bench/report.py
started=$(date +%s)

say() {
    printf 'bench: %s\n' "$*" >&2
}

die() {
    say "error: $*"
    exit 1
}

for program in bench/bench_vulndb bench/bench_match bench/bench_layer_walk \
    bench/bench_scan imgassure-worker imgassure-dev-broker tests/seen-flood \
    tests/faults-publish; do
    [ -x "$build/$program" ] ||
        die "$build/$program is missing; run make bench"
done
rm -rf "$parts"
mkdir -p "$data" "$parts"
stack=$(mktemp -d "${TMPDIR:-/tmp}/imgassure-bench.XXXXXX")
worker_pids=()
stop_workers() {
    local pid
    for pid in "${worker_pids[@]}"; do
        kill -TERM "$pid" 2> /dev/null || true
    done
    for pid in "${worker_pids[@]}"; do
        wait "$pid" 2> /dev/null || true
    done
    worker_pids=()
}
trap 'stop_workers; dev/stack.sh stop "$stack" > /dev/null 2>&1 || true
rm -rf "$stack"' EXIT

# Installs the Debian package that provides a baseline command when it is
# missing and this is root. Returns 1, with the reason on stdout, when the
# command is still missing.
ensure_command() {
    local command=$1 package=$2
    command -v "$command" > /dev/null && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "$command is not installed (Debian package $package) and" \
            "installing it needs root"
        return 1
    fi
    say "installing $package for $command"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" \
        > /dev/null 2>&1; then
        apt-get update -qq > /dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" \
            > /dev/null 2>&1 || true
    fi
    command -v "$command" > /dev/null && return 0
    echo "$command is not installed and apt-get install $package failed"
    return 1
}

# Prints the nanoseconds of each of `runs` runs of a command whose output
# is discarded, separated by commas.
time_command() {
    local runs=$1
    shift
    local times="" start end
    for _ in $(seq "$runs"); do
        start=$(date +%s%N)
        "$@" > /dev/null
        end=$(date +%s%N)
        times=${times:+$times,}$((end - start))
    done
    echo "$times"
}

# Prints a stamp of the generator and its arguments: inputs are made anew
# when it changes.
input_stamp() {
    echo "$(sha256sum tests/bench/make_inputs.py | cut -c1-16) $*"
}

# ---- Inputs --------------------------------------------------------------

db=$data/osv-$records
inventory=$data/status-$packages
db_ready=no
if [ ! -d "$fixtures/osv" ]; then
    db_skip="$fixtures/osv not found"
    db_skip+=" (set IMGASSURE_FIXTURES to the fixtures folder)"
else
    fixtures_sum=$(find "$fixtures/osv" -name '*.json' -print0 | sort -z |
        xargs -0 sha256sum | sha256sum | cut -c1-16)
    stamp=$(input_stamp osv-db "$records" "$packages" "$fixtures_sum")
    if [ "$(cat "$db.stamp" 2> /dev/null)" != "$stamp" ]; then
        say "generating $db ($records records) and $inventory"
        rm -f "$db.stamp"
        "$python" tests/bench/make_inputs.py osv-db --fixtures "$fixtures/osv" \
            --records "$records" --packages "$packages" --out "$db" \
            --inventory "$inventory"
        echo "$stamp" > "$db.stamp"
    fi
    db_ready=yes
fi

synthetic_layer=$data/layer-${layer_mb}mb.tar.gz
stamp=$(input_stamp layer "$layer_mb")
if [ "$(cat "$synthetic_layer.stamp" 2> /dev/null)" != "$stamp" ]; then
    say "generating $synthetic_layer"
    rm -f "$synthetic_layer.stamp"
    "$python" tests/bench/make_inputs.py layer \
        --bytes "$((layer_mb * 1000000))" --out "$synthetic_layer"
    echo "$stamp" > "$synthetic_layer.stamp"
fi

# Layers of zeros for the memory figure: about 1000 to 1 compressed, so
# even the large one takes a few MB of disk.
sized_layer() {
    local mb=$1 layer=$data/sized-$1mb.tar.gz
    local stamp
    stamp=$(input_stamp sized-layer "$mb")
    if [ "$(cat "$layer.stamp" 2> /dev/null)" != "$stamp" ]; then
        say "generating $layer"
        rm -f "$layer.stamp"
        "$python" tests/bench/make_inputs.py sized-layer \
            --bytes "$((mb * 1000000))" --out "$layer"
        echo "$stamp" > "$layer.stamp"
    fi
    echo "$layer"
}
small_layer=$(sized_layer "$small_mb")
large_layer=$(sized_layer "$large_mb")

# The demo image's layer: the largest blob of its OCI layout.
demo_blobs=$image_cache/debian-bookworm-minbase/blobs/sha256
demo_layer=""
if [ -d "$demo_blobs" ]; then
    demo_layer=$(find "$demo_blobs" -type f -printf '%s %p\n' |
        sort -n | tail -n 1 | cut -d' ' -f2-)
fi

# ---- Figures ---------------------------------------------------------------

if [ "$db_ready" = yes ]; then
    "$programs/bench_vulndb" "$db" 5 > "$parts/db_load.raw"
    "$python" "$report" db --input "$parts/db_load.raw" \
        --label "synthetic $records records" --out "$parts/1-db_load.json"
else
    "$python" "$report" skip --figure db_load --label "db load" \
        --reason "$db_skip" --out "$parts/1-db_load.json"
fi

debian_status=$fixtures/rootfs/debian-12-minbase-mmdebstrap/var/lib/dpkg/status
if [ "$db_ready" = yes ]; then
    inventories=()
    if [ -f "$debian_status" ]; then
        inventories+=("debian-12=$debian_status")
    else
        "$python" "$report" skip --figure match --label "match debian-12" \
            --reason "$debian_status not found" \
            --out "$parts/2-match_debian.json"
    fi
    inventories+=("synthetic-$packages=$inventory")
    "$programs/bench_match" "$db" Debian:12 0.2 "${inventories[@]}" \
        > "$parts/match.raw"
    "$python" "$report" match --input "$parts/match.raw" \
        --out "$parts/2-match.json"
else
    "$python" "$report" skip --figure match --label match \
        --reason "$db_skip" --out "$parts/2-match.json"
fi

# Each is empty when the command is there, else the reason it is not.
igzip_missing=$(ensure_command igzip isal) || true
bsdtar_missing=$(ensure_command bsdtar libarchive-tools) || true
note=()
if [ -n "$igzip_missing" ]; then
    note=(--note "no igzip, so zlib gzread and zcat are the only \
decompression baselines: $igzip_missing")
fi

# Times one layer in 5 rounds. Each round runs the walk with its zlib
# baselines, then each program baseline once, so that a change in the
# load of a shared machine reaches every side alike.
bench_layer() {
    local label=$1 layer=$2 out=$3
    local zcat_times="" igzip_times="skip:$igzip_missing"
    local bsdtar_times="skip:$bsdtar_missing" inputs=() round

    [ -z "$igzip_missing" ] && igzip_times=""
    [ -z "$bsdtar_missing" ] && bsdtar_times=""
    for round in 1 2 3 4 5; do
        "$programs/bench_layer_walk" "$layer" 1 > "$out.$round.raw"
        inputs+=(--input "$out.$round.raw")
        zcat_times+=${zcat_times:+,}$(time_command 1 zcat "$layer")
        if [ -z "$igzip_missing" ]; then
            igzip_times+=${igzip_times:+,}$(time_command 1 igzip -dc "$layer")
        fi
        if [ -z "$bsdtar_missing" ]; then
            bsdtar_times+=${bsdtar_times:+,}$(time_command 1 bsdtar -tf "$layer")
        fi
    done
    "$python" "$report" layer "${inputs[@]}" --label "$label" --out "$out" \
        --baseline "zcat=$zcat_times" --baseline "igzip -dc=$igzip_times" \
        --baseline "bsdtar -tf=$bsdtar_times" "${note[@]}"
}

if [ -n "$demo_layer" ]; then
    bench_layer demo "$demo_layer" "$parts/3-layer_demo.json"
else
    "$python" "$report" skip --figure layer_walk --label "layer walk demo" \
        --reason "$demo_blobs not found (make image builds it)" \
        --out "$parts/3-layer_demo.json"
fi
bench_layer "synthetic-${layer_mb}mb" "$synthetic_layer" \
    "$parts/4-layer_synthetic.json"

# ---- Scans through a registry ------------------------------------------

stack_missing=""
if ! IMGASSURE_BUILD=$build dev/stack.sh start "$stack" broker redis \
    registry > "$stack/start.log" 2>&1; then
    stack_missing="dev/stack.sh could not start the broker, redis and \
docker-registry: $(tail -n 3 "$stack/start.log" | tr '\n' ' ')"
fi

if [ -n "$stack_missing" ]; then
    "$python" "$report" skip --figure cached_rescan --label "rescan" \
        --reason "$stack_missing" --out "$parts/5-rescan.json"
elif [ -z "$demo_layer" ]; then
    "$python" "$report" skip --figure cached_rescan --label "rescan demo" \
        --reason "$demo_blobs not found (make image builds it)" \
        --out "$parts/5-rescan.json"
else
    # shellcheck source=/dev/null
    . "$stack/env"
    dev/push-image.sh "$IMGASSURE_REGISTRY" bench/debian:bookworm \
        > "$stack/push.log" 2>&1 || die "pushing the demo image failed: \
$(tail -n 3 "$stack/push.log")"
    "$programs/bench_scan" rescan "$IMGASSURE_REGISTRY" bench/debian \
        bookworm "$IMGASSURE_REDIS_URL" 5 > "$parts/rescan.raw" \
        2> "$stack/rescan.log" || die "bench_scan rescan failed: \
$(tail -n 3 "$stack/rescan.log")"
    "$python" "$report" rescan --input "$parts/rescan.raw" --label demo \
        --out "$parts/5-rescan.json"
fi

# Each image is scanned in a process of its own, so that each peak
# resident set size is that image's alone.
if [ -n "$stack_missing" ]; then
    "$python" "$report" skip --figure scan_memory --label "scan memory" \
        --reason "$stack_missing" --out "$parts/6-memory.json"
else
    # shellcheck source=/dev/null
    . "$stack/env"
    for mb in "$small_mb" "$large_mb"; do
        "$python" tests/bench/push_image.py "$IMGASSURE_REGISTRY" \
            bench/sized "${mb}mb" "$data/sized-${mb}mb.tar.gz" > /dev/null
        "$programs/bench_scan" memory "$IMGASSURE_REGISTRY" bench/sized \
            "${mb}mb" "$IMGASSURE_REDIS_URL" > "$parts/memory-$mb.raw" \
            2> "$stack/memory-$mb.log" || die "bench_scan memory failed: \
$(tail -n 3 "$stack/memory-$mb.log")"
    done
    "$python" "$report" memory \
        --small "$parts/memory-$small_mb.raw" --small-label "${small_mb} MB" \
        --large "$parts/memory-$large_mb.raw" --large-label "${large_mb} MB" \
        --out "$parts/6-memory.json"
fi

# ---- Workers ---------------------------------------------------------------

# Prints the CPU seconds (user + system) a process has used so far.
cpu_seconds() {
    local ticks
    ticks=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}')
    awk -v ticks="$ticks" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.2f", ticks / hz}'
}

stack_pid() {
    cat "$stack/pids/$1.pid"
}

# Starts a worker with the given arguments; its pid joins worker_pids.
start_worker() {
    local name=$1
    shift
    "$build/imgassure-worker" --worker-id "bench-$name" \
        --session-timeout-ms 6000 "$@" 2>> "$stack/worker-$name.log" &
    worker_pids+=($!)
}

# Prints "NAME=SECONDS" for the broker, redis and the registry.
shared_cpu() {
    local part
    for part in broker redis registry; do
        printf '%s=%s ' "$part" "$(cpu_seconds "$(stack_pid "$part")")"
    done
}

# Image-seen events per second: every image is known (primed straight in
# Redis), as in a flood from many nodes that report running images, so
# no event produces to Kafka. The clock runs from the first commit to the
# last, which leaves out the worker's start and group join.
if [ -n "$stack_missing" ]; then
    "$python" "$report" skip --figure seen_ingest --label "seen ingest" \
        --reason "$stack_missing" --out "$parts/7-ingest.json"
elif ! benchmark_missing=$(ensure_command redis-benchmark redis-tools); then
    "$python" "$report" skip --figure seen_ingest --label "seen ingest" \
        --reason "$benchmark_missing" --out "$parts/7-ingest.json"
else
    # shellcheck source=/dev/null
    . "$stack/env"
    redis_port=${IMGASSURE_REDIS_URL##*:}
    "$build/tests/seen-flood" prime "$IMGASSURE_REDIS_URL" "$seen_images" 50 \
        "$IMGASSURE_REGISTRY"
    "$build/tests/seen-flood" publish "$seen_events" "$seen_images" 50 \
        "$IMGASSURE_REGISTRY"
    round_started=$(date +%s%N)
    shared_before=$(shared_cpu)
    start_worker seen
    "$build/tests/seen-flood" committed images.seen "$seen_events" 300 \
        > "$parts/ingest.raw" || die "the worker did not commit every event: \
$(tail -n 3 "$stack/worker-seen.log")"
    {
        echo "workers=$(cpu_seconds "${worker_pids[0]}")"
        echo "before $shared_before"
        echo "after $(shared_cpu)"
        echo "wall=$((($(date +%s%N) - round_started) / 1000000))"
    } > "$parts/ingest.cpu"
    stop_workers
    redis-benchmark -h 127.0.0.1 -p "$redis_port" -t set -n "$seen_events" \
        -P 16 -q 2> /dev/null | tr '\r' '\n' | grep '^SET: [0-9]' \
        > "$parts/redis-benchmark.raw"
    "$python" "$report" ingest --input "$parts/ingest.raw" \
        --baseline "$parts/redis-benchmark.raw" --cpu "$parts/ingest.cpu" \
        --images "$seen_images" --out "$parts/7-ingest.json"
fi

# Scans per minute with one, then two workers (each --concurrency 2)
# over rounds of the same requests for the demo image. The layer cache is
# off (--layer-cache-ttl 0), so every scan downloads and walks the layer.
if [ -n "$stack_missing" ]; then
    "$python" "$report" skip --figure worker_scans --label "worker scans" \
        --reason "$stack_missing" --out "$parts/8-scans.json"
elif [ -z "$demo_layer" ]; then
    "$python" "$report" skip --figure worker_scans --label "worker scans" \
        --reason "$demo_blobs not found (make image builds it)" \
        --out "$parts/8-scans.json"
else
    # shellcheck source=/dev/null
    . "$stack/env"
    scans_args=()
    published=0
    for workers in 1 2; do
        "$build/tests/faults-publish" "$scan_requests" "bench-$workers" \
            "$IMGASSURE_REGISTRY/bench/debian:bookworm" > /dev/null
        published=$((published + scan_requests))
        round_started=$(date +%s%N)
        shared_before=$(shared_cpu)
        for index in $(seq "$workers"); do
            start_worker "scan-$workers-$index" --layer-cache-ttl 0
        done
        "$build/tests/seen-flood" committed scan.requests "$published" 600 \
            > "$parts/scans-$workers.raw" ||
            die "the workers did not finish $scan_requests scans: \
$(tail -n 3 "$stack/worker-scan-$workers-1.log")"
        cpu=0
        for pid in "${worker_pids[@]}"; do
            cpu=$(awk -v a="$cpu" -v b="$(cpu_seconds "$pid")" \
                'BEGIN {printf "%.2f", a + b}')
        done
        {
            echo "workers=$cpu"
            echo "before $shared_before"
            echo "after $(shared_cpu)"
            echo "wall=$((($(date +%s%N) - round_started) / 1000000))"
        } > "$parts/scans-$workers.cpu"
        stop_workers
        scans_args+=(--run "$workers" "$parts/scans-$workers.raw" \
            "$parts/scans-$workers.cpu")
    done
    "$python" "$report" scans "${scans_args[@]}" --requests "$scan_requests" \
        --out "$parts/8-scans.json"
fi

OPTFLAGS=${OPTFLAGS:-} "$python" "$report" merge --out "$build/results.json" \
    "$parts"/[0-9]*.json
say "results in $build/results.json ($(($(date +%s) - started)) s)"
