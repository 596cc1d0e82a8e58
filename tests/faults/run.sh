#!/bin/bash
# The fault suite. Scan requests over several real images flow through
# three workers. Meanwhile the suite kills a worker with SIGKILL in the
# middle of a scan, takes a broker down and up, makes Kafka requests fail,
# restarts Redis, stops a worker with SIGTERM in the middle of a scan, adds
# a worker and finally stops every worker with SIGTERM. Each
# fault hits one wave of requests; a fault is survived when every request
# of its wave ends in a SCANNED result. Prints one line per fault, then
#   faults survived N/N, requests R, results R, lost 0, duplicates D
# and exits 1 unless every request of the run has a result.
#
# usage: tests/faults/run.sh [--short]
#   --short   fewer requests, the same faults (make test runs this)
# IMGASSURE_FAULTS_REQUESTS overrides the request count (default 1000,
# 100 with --short); IMGASSURE_FAULTS_KEEP_LOGS=1 keeps the logs of a run
# that passed.
set -uo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
build_dir=${IMGASSURE_BUILD:-build}
imgassure="$build_dir/imgassure"
publish="$build_dir/tests/faults-publish"
requests=1000
if [ "${1:-}" = --short ]; then
    requests=100
elif [ -n "${1:-}" ]; then
    echo "usage: tests/faults/run.sh [--short]" >&2
    exit 2
fi
requests=${IMGASSURE_FAULTS_REQUESTS:-$requests}
wave_timeout_s=${IMGASSURE_FAULTS_WAVE_TIMEOUT_S:-300}
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/imgassure-faults.XXXXXX")
demo_layout=${IMGASSURE_IMAGE_CACHE:-$repo_root/.cache/images}/debian-bookworm-minbase
declare -A worker_pids=()
faults=0
survived=0
failed=0

say() {
    echo "faults: $*" >&2
}

stop_workers() {
    local name
    for name in "${!worker_pids[@]}"; do
        kill -TERM "${worker_pids[$name]}" 2>/dev/null || true
    done
    for name in "${!worker_pids[@]}"; do
        wait "${worker_pids[$name]}" 2>/dev/null || true
    done
    worker_pids=()
}

cleanup() {
    stop_workers
    dev/stack.sh stop "$state_dir" >/dev/null 2>&1 || true
    if [ "$failed" -eq 0 ] && [ -z "${IMGASSURE_FAULTS_KEEP_LOGS:-}" ]; then
        rm -rf "$state_dir"
    else
        say "logs kept in $state_dir"
    fi
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# Workers log at debug level: the SIGKILL fault reads their "message
# started" and "message finished" lines to catch one in the middle of a scan.
start_worker() {
    local name=$1 shutdown_timeout_s=${2:-10}
    "$build_dir/imgassure-worker" --worker-id "faults-$name" \
        --session-timeout-ms 6000 --concurrency 2 \
        --shutdown-timeout "$shutdown_timeout_s" \
        --log-level debug 2>>"$state_dir/worker-$name.log" &
    worker_pids[$name]=$!
}

# Sends one command to the dev broker's fault-injection channel. Fails
# unless the broker replies "ok".
broker_control() {
    local reply
    exec 3<>"/dev/tcp/${IMGASSURE_DEV_BROKER_CONTROL%:*}/${IMGASSURE_DEV_BROKER_CONTROL#*:}" ||
        return 1
    echo "$*" >&3
    read -r -t 10 reply <&3
    exec 3>&-
    say "broker control: $* -> $reply"
    [ "$reply" = ok ]
}

build_images() {
    say "building the fault images from the demo image's layer"
    dev/push-image.sh "$IMGASSURE_REGISTRY" >/dev/null || return 1
    /usr/bin/python3 tests/faults/make_images.py "$demo_layout" "$state_dir/images" \
        base=base-files \
        shell=base-files,libc6,bash,libtinfo6 \
        zlib=base-files,libc6,gcc-12-base,libgcc-s1,zlib1g,libzstd1 >/dev/null ||
        return 1
    local name
    for name in base shell zlib; do
        skopeo copy --quiet --dest-tls-verify=false \
            "oci:$state_dir/images/$name:faults" \
            "docker://$IMGASSURE_REGISTRY/faults/$name:1" || return 1
    done
}

# Publishes one wave; one request in twenty is for the demo image, whose
# scans take ten times longer than the small images'.
publish_wave() {
    local wave=$1 count=$2 registry=$IMGASSURE_REGISTRY
    local images=() i
    for i in $(seq 1 6); do
        images+=("$registry/faults/shell:1" "$registry/faults/base:1" "$registry/faults/zlib:1")
    done
    images+=("$registry/faults/shell:1" "$registry/demo/debian:bookworm")
    "$publish" "$count" "wave-$wave" "${images[@]}" >"$state_dir/wave-$wave.ids" ||
        return 1
    cat "$state_dir/wave-$wave.ids" >>"$state_dir/all.ids"
}

count_results() {
    "$imgassure" results --json >"$state_dir/results.json" || return 1
    /usr/bin/python3 tests/faults/count_results.py "$1" "$state_dir/results.json"
}

wait_for_wave() {
    local wave=$1 deadline=$((SECONDS + wave_timeout_s)) summary
    while [ "$SECONDS" -lt "$deadline" ]; do
        if summary=$(count_results "$state_dir/wave-$wave.ids" 2>/dev/null); then
            say "wave $wave: $summary"
            return 0
        fi
        sleep 2
    done
    summary=$(count_results "$state_dir/wave-$wave.ids")
    say "wave $wave: not finished within ${wave_timeout_s}s: $summary"
    return 1
}

# Scan-request messages a worker's log shows started but not ended.
in_flight() {
    /usr/bin/python3 - "$1" <<'PY'
import re, sys
open_messages = set()
for line in open(sys.argv[1], errors="replace"):
    match = re.search(r"message (started|finished|abandoned) topic=\S*scan\.requests "
                      r"partition=(\d+) offset=(\d+)", line)
    if match:
        key = match.group(2, 3)
        if match.group(1) == "started":
            open_messages.add(key)
        else:
            open_messages.discard(key)
print(len(open_messages))
PY
}

fault_sigkill_mid_scan() {
    local pid=${worker_pids[w1]} deadline=$((SECONDS + 60)) open
    # Freezing the worker first makes its log show exactly what it had in
    # flight when it dies.
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -STOP "$pid"
        open=$(in_flight "$state_dir/worker-w1.log")
        if [ "$open" -gt 0 ]; then
            kill -KILL "$pid"
            wait "$pid" 2>/dev/null
            unset 'worker_pids[w1]'
            say "killed worker w1 with SIGKILL while $open scans were in flight"
            return 0
        fi
        kill -CONT "$pid"
        sleep 0.05
    done
    say "worker w1 never had a scan in flight"
    return 1
}

fault_broker_down() {
    broker_control down 1 || return 1
    sleep 5
    broker_control up 1
}

# Produce requests fail with time-outs and dropped connections, not with
# NOT_LEADER_FOR_PARTITION: librdkafka 2.0.2's mock cluster does not check
# an idempotent producer's sequence numbers, and after that error the
# producer has reported a message delivered that the mock never appended,
# an acknowledgement a real broker does not give.
fault_request_errors() {
    broker_control errors produce 10 REQUEST_TIMED_OUT &&
        broker_control errors produce 3 _TRANSPORT &&
        broker_control errors fetch 10 NOT_LEADER_FOR_PARTITION &&
        broker_control errors offsetcommit 5 REQUEST_TIMED_OUT &&
        broker_control rtt all 100 || return 1
    sleep 5
    broker_control rtt all 0
}

fault_redis_restart() {
    local pid port=${IMGASSURE_REDIS_URL##*:}
    pid=$(cat "$state_dir/pids/redis.pid") || return 1
    kill -TERM "$pid" || return 1
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    say "redis stopped, restarting on port $port in 5 s"
    sleep 5
    redis-server "$state_dir/redis/redis.conf" </dev/null \
        >>"$state_dir/logs/redis.log" 2>&1 &
    echo $! >"$state_dir/pids/redis.pid"
    local deadline=$((SECONDS + 30))
    until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# Worker w2 runs with a shutdown deadline of 0 s, so SIGTERM abandons the
# scans it has in flight: it must still exit 0, and another worker must
# scan them.
fault_sigterm_mid_scan() {
    local pid=${worker_pids[w2]} deadline=$((SECONDS + 60)) open status=0
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -STOP "$pid"
        open=$(in_flight "$state_dir/worker-w2.log")
        if [ "$open" -gt 0 ]; then
            kill -TERM "$pid"
            kill -CONT "$pid"
            wait "$pid" || status=$?
            unset 'worker_pids[w2]'
            say "stopped worker w2 with SIGTERM while $open scans were in flight: $(grep -c 'message abandoned' "$state_dir/worker-w2.log") abandoned"
            [ "$status" -eq 0 ] || say "worker w2 exited $status after SIGTERM"
            return "$status"
        fi
        kill -CONT "$pid"
        sleep 0.05
    done
    say "worker w2 never had a scan in flight"
    return 1
}

fault_worker_added() {
    start_worker w4
}

# Every worker must leave within its shutdown deadline and exit 0.
fault_sigterm_all() {
    local name status=0
    for name in "${!worker_pids[@]}"; do
        kill -TERM "${worker_pids[$name]}"
    done
    for name in "${!worker_pids[@]}"; do
        wait "${worker_pids[$name]}" || {
            say "worker $name exited $? after SIGTERM"
            status=1
        }
    done
    worker_pids=()
    return $status
}

# Publishes a wave, applies the fault while the wave is processed, and
# counts the fault survived when the whole wave has results.
run_fault() {
    local wave=$1 fault=$2 per_wave=$3
    faults=$((faults + 1))
    publish_wave "$wave" "$per_wave" || {
        say "FAIL $fault: publishing wave $wave failed"
        failed=$((failed + 1))
        return
    }
    if "$fault" && wait_for_wave "$wave"; then
        say "ok   $fault"
        survived=$((survived + 1))
    else
        say "FAIL $fault"
        failed=$((failed + 1))
    fi
}

main() {
    local per_wave=$((requests / 6)) summary

    [ -x "$publish" ] || { echo "$publish not built: run make first" >&2; exit 1; }
    dev/stack.sh start "$state_dir" 2>"$state_dir/stack.log" || {
        cat "$state_dir/stack.log"
        exit 1
    }
    . "$state_dir/env"
    build_images || { failed=1; say "building the fault images failed"; exit 1; }
    : >"$state_dir/all.ids"

    start_worker w1
    start_worker w2 0
    start_worker w3
    run_fault 1 fault_sigkill_mid_scan "$per_wave"
    run_fault 2 fault_broker_down "$per_wave"
    run_fault 3 fault_request_errors "$per_wave"
    run_fault 4 fault_redis_restart "$per_wave"
    run_fault 5 fault_sigterm_mid_scan "$per_wave"
    run_fault 6 fault_worker_added "$((requests - 5 * per_wave))"

    # The last fault comes after every wave finished: nothing may be left
    # uncommitted or lost by the shutdown itself.
    faults=$((faults + 1))
    if fault_sigterm_all; then
        say "ok   fault_sigterm_all"
        survived=$((survived + 1))
    else
        say "FAIL fault_sigterm_all"
        failed=$((failed + 1))
    fi

    summary=$(count_results "$state_dir/all.ids") || failed=$((failed + 1))
    summary=${summary%, unexpected *}
    echo "faults survived $survived/$faults, $summary"
    [ "$failed" -eq 0 ]
}

main
