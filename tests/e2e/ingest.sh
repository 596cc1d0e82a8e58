#!/bin/bash
# End-to-end test of image-seen ingest in batches: a burst of sightings of
# a few hundred new images, with the worker killed (SIGKILL) once in the
# middle and started again, must decide exactly one scan (one request id)
# per image, send no request again that the first worker had noted as
# delivered, and leave every image's last_seen_ms at its newest event,
# although events arrive out of time order and some are consumed twice. Uses the embedded
# broker, redis-server and docker-registry on free 127.0.0.1 ports; the
# scans of the requested images end at the empty registry. Prints one line
# per test and a closing "N passed, N failed" line.
set -uo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
build_dir=${IMGASSURE_BUILD:-build}
flood="$build_dir/tests/seen-flood"
events=${IMGASSURE_INGEST_EVENTS:-6000}
images=${IMGASSURE_INGEST_IMAGES:-200}
accounts=7
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/imgassure-ingest.XXXXXX")
worker_pid=""
passed=0
failed=0

cleanup() {
    if [ -n "$worker_pid" ]; then
        kill -TERM "$worker_pid" 2>/dev/null || true
        wait "$worker_pid" 2>/dev/null || true
    fi
    dev/stack.sh stop "$state_dir" >/dev/null 2>&1 || true
    if [ "$failed" -eq 0 ]; then
        rm -rf "$state_dir"
    else
        echo "logs kept in $state_dir"
    fi
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# shellcheck source=tests/e2e/harness.sh
. "$repo_root/tests/e2e/harness.sh"

start_worker() {
    "$build_dir/imgassure-worker" --worker-id "ingest-$1" \
        --session-timeout-ms 6000 --concurrency 4 \
        2>>"$state_dir/worker-$1.log" &
    worker_pid=$!
}

# Waits until PATTERN is in FILE, or fails after SECONDS.
wait_for_log() {
    local file=$1 pattern=$2 deadline=$((SECONDS + $3))

    until grep -q "$pattern" "$file" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.01
    done
}

test_burst_with_kill_requests_one_scan_per_image() {
    local committed

    start_worker first
    wait_for_log "$state_dir/worker-first.log" "partitions assigned" 60 ||
        fail "the first worker joined no group" || return 1
    "$flood" publish "$events" "$images" "$accounts" "$IMGASSURE_REGISTRY" \
        "$state_dir/expected" || fail "publishing the burst failed" || return 1

    # A batch's requests are logged after they are noted delivered and
    # before the batch is committed; stopping the worker at the first line
    # usually catches a noted batch whose events are then redelivered.
    timeout 60 grep -q -m 1 "new image, scan requested" \
        <(tail --pid="$worker_pid" -n +1 -f "$state_dir/worker-first.log") ||
        fail "the first worker requested no scan" || return 1
    kill -STOP "$worker_pid"
    kill -KILL "$worker_pid"
    wait "$worker_pid" 2>/dev/null
    worker_pid=""
    committed=$("$flood" committed images.seen "$events" 1 |
        sed 's/.*"last_committed": \([0-9]*\).*/\1/')
    echo "killed with $committed of $events events committed, after" \
        "$(grep -c "new image, scan requested" "$state_dir/worker-first.log")" \
        "scan requests"
    [ "$committed" -lt "$events" ] ||
        fail "the worker finished the burst before it was killed"

    start_worker second
    "$flood" committed images.seen "$events" 120 >"$state_dir/committed.json" ||
        fail "the restarted worker did not commit every event:" \
            "$(cat "$state_dir/committed.json")" || return 1

    "$flood" requests 2000 >"$state_dir/requests" ||
        fail "reading scan.requests failed" || return 1
    /usr/bin/python3 - "$state_dir/requests" "$images" \
        "$state_dir/worker-first.log" <<'PY' ||
import collections, re, sys
requests = collections.defaultdict(list)
for line in open(sys.argv[1]):
    account, repository, request_id = line.split()
    requests[(account, repository)].append(request_id)
images = int(sys.argv[2])
# The first worker logs a request only after noting it delivered, so a
# redelivery of those events must not send it again. Requests delivered
# but not yet noted at the kill may come twice, with the same id.
noted = set(re.findall(r"new image, scan requested account=(\S+) env=\S+ "
                       r"image=[^/\s]+/(\S+) request=", open(sys.argv[3]).read()))
decisions = {image: set(ids) for image, ids in requests.items()}
split = [image for image, ids in decisions.items() if len(ids) != 1]
resent = [image for image in noted if len(requests.get(image, [])) != 1]
twice = [image for image, ids in requests.items() if len(ids) > 1]
print("%d scan requests for %d images; %d noted before the kill, %d sent "
      "twice with one id" % (sum(map(len, requests.values())), len(requests),
                             len(noted), len(twice)))
if len(requests) != images or split or resent or not noted:
    print("images without a request: %d; with two ids: %s; noted and sent "
          "again: %s" % (images - len(requests), split[:5], resent[:5]))
    sys.exit(1)
PY
        fail "not one scan per image"

    local key newest stored wrong=0
    while read -r key newest; do
        stored=$(redis-cli -u "$IMGASSURE_REDIS_URL" HGET "$key" last_seen_ms)
        if [ "$stored" != "$newest" ]; then
            wrong=$((wrong + 1))
            [ "$wrong" -le 3 ] && echo "$key: last_seen_ms $stored, newest event $newest"
        fi
    done <"$state_dir/expected"
    [ "$wrong" -eq 0 ] || fail "$wrong images do not hold their newest sighting"
    [ "$(wc -l <"$state_dir/expected")" -eq "$images" ] ||
        fail "expected $images images in $state_dir/expected"
}

dev/stack.sh start "$state_dir" >"$state_dir/stack.log" 2>&1 || {
    tail -n 20 "$state_dir/stack.log"
    echo "ingest: 0 passed, 1 failed"
    exit 1
}
# shellcheck source=/dev/null
. "$state_dir/env"

run_test test_burst_with_kill_requests_one_scan_per_image

echo "ingest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
