#!/bin/bash
# End-to-end tests of the image lifecycle: rescans, expiry by the sweeper
# with ImageRemoved read back from images.removed, ECS and Fargate images
# matched by digest, and the findings a failed rescan keeps. One stack (the
# embedded broker, redis-server, docker-registry on 127.0.0.1) and one
# worker serve every case. Time moves through
# IMGASSURE_TEST_CLOCK_OFFSET_FILE, forward only, so each case uses
# accounts of its own. Prints one line per test and a closing
# "lifecycle: N passed, N failed" line; exits 1 when a test failed.
set -uo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root" || exit 1
build_dir=${IMGASSURE_BUILD:-build}
imgassure="$build_dir/imgassure"
result_timeout_s=${IMGASSURE_E2E_TIMEOUT_S:-240}
fixtures=${IMGASSURE_FIXTURES:-$repo_root/../shared/fixtures}
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/imgassure-lifecycle.XXXXXX")
database="$state_dir/vulndb"
worker_pid=""
passed=0
failed=0
offset_ms=0

export IMGASSURE_TEST_CLOCK_OFFSET_FILE="$state_dir/clock-offset"
echo 0 >"$IMGASSURE_TEST_CLOCK_OFFSET_FILE"

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

# Moves the clock of the worker and the CLI forward by SECONDS.
advance_clock() {
    offset_ms=$((offset_ms + $1 * 1000))
    echo "$offset_ms" >"$IMGASSURE_TEST_CLOCK_OFFSET_FILE"
}

rcli() {
    redis-cli -u "$IMGASSURE_REDIS_URL" "$@"
}

# seen ACCOUNT ENV KIND [ACTIVITY]: one sighting of the demo image.
seen() {
    "$imgassure" seen --account "$1" --env "$2" --kind "$3" \
        --activity "${4:-RUNNING}" --image "$image" --digest "$digest" \
        --workload deployment/lifecycle
}

# Saves the JSON results of ACCOUNT into $state_dir/results.json.
read_results() {
    "$imgassure" results --json --account "$1" >"$state_dir/results.json"
}

# Counts the results of ACCOUNT ENV with STATUS (and, given, a distinct
# request id other than EXCEPT_REQUEST).
count_results() {
    /usr/bin/python3 - "$state_dir/results.json" "$@" <<'PY'
import json, sys
path, environment, status = sys.argv[1:4]
except_request = sys.argv[4] if len(sys.argv) > 4 else None
requests = set()
for line in open(path):
    result = json.loads(line)
    if (result["image"]["environment_id"] == environment
            and result["status"] == status
            and result["request_id"] != except_request):
        requests.add(result["request_id"])
print(len(requests))
PY
}

# Waits until ACCOUNT ENV has a STATUS result (from a request other than
# EXCEPT_REQUEST, when given) and saves it as $state_dir/wanted.json.
wait_for_status() {
    local account=$1 environment=$2 wanted=$3 except=${4:-}
    local deadline=$((SECONDS + result_timeout_s))

    while [ "$SECONDS" -lt "$deadline" ]; do
        read_results "$account" || return 1
        if /usr/bin/python3 - "$state_dir/results.json" "$environment" "$wanted" \
            "$except" >"$state_dir/wanted.json" <<'PY'; then
import json, sys
path, environment, wanted, except_request = sys.argv[1:5]
for line in open(path):
    result = json.loads(line)
    if (result["image"]["environment_id"] == environment
            and result["status"] == wanted
            and result["request_id"] != except_request):
        print(line.strip())
        sys.exit(0)
sys.exit(1)
PY
            return 0
        fi
        sleep 1
    done
    fail "no $wanted result for $account/$environment within ${result_timeout_s}s"
}

field_of_wanted() {
    /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$state_dir/wanted.json" "$1"
}

# Prints "reason account/environment" for every ImageRemoved on the topic.
# kcat frames each message as key, tab, value length, tab, value, so that
# the binary Avro values need no delimiter of their own.
read_removals() {
    kcat -C -b "$IMGASSURE_BROKERS" -t imgassure.images.removed -o beginning \
        -e -q -f '%k\t%S\t%s' >"$state_dir/removed.bin" 2>/dev/null || true
    /usr/bin/python3 - "$state_dir/removed.bin" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
reasons = ["INACTIVE", "DELETED_FROM_REGISTRY", "SHIFTLEFT_EXPIRED"]

def varint(buffer, at):
    shift = value = 0
    while True:
        byte = buffer[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), at

def string(buffer, at):
    length, at = varint(buffer, at)
    return buffer[at:at + length].decode(), at + length

at = 0
while at < len(data):
    tab = data.index(b"\t", at)
    key = data[at:tab].decode()
    tab2 = data.index(b"\t", tab + 1)
    size = int(data[tab + 1:tab2])
    value = data[tab2 + 1:tab2 + 1 + size]
    at = tab2 + 1 + size
    # Single-object encoding: C3 01, 8-byte fingerprint, then the datum.
    assert value[:2] == b"\xc3\x01", value[:2]
    p = 10
    account, p = string(value, p)
    environment, p = string(value, p)
    _, p = varint(value, p)          # environment kind
    _, p = string(value, p)          # registry
    _, p = string(value, p)          # repository
    for _ in range(3):               # tag, digest, platform unions
        branch, p = varint(value, p)
        if branch == 1:
            _, p = string(value, p)
    reason, p = varint(value, p)
    print(reasons[reason], "%s/%s" % (account, environment), key)
PY
}

# Waits up to SECONDS for the sweeper to publish REASON for ACCOUNT/ENV.
wait_for_removal() {
    local reason=$1 where=$2 deadline=$((SECONDS + ${3:-30}))

    while [ "$SECONDS" -lt "$deadline" ]; do
        if read_removals | grep -q "^$reason $where "; then
            return 0
        fi
        sleep 1
    done
    fail "no ImageRemoved $reason for $where"
}

image_exists() {
    [ "$(rcli EXISTS "imgassure:{$1}:image:$2:$digest")" = 1 ]
}

# Waits for two full sweeps (one second apart) so that a state that
# should survive has had its chance to be removed.
let_sweeper_run() {
    sleep 3
}

test_image_state_scripts_on_redis() {
    IMGASSURE_TEST_REDIS_URL=$IMGASSURE_REDIS_URL "$build_dir/tests/test_image_state"
}

test_many_sightings_one_scan() {
    local i
    for i in 1 2 3 4 5; do
        seen lc-many prod KUBERNETES || return 1
    done
    wait_for_status lc-many prod SCANNED || return 1
    # A later environment shows the repeats were consumed before it. It
    # takes the fresh scan of the same digest instead of pulling it again.
    seen lc-many later KUBERNETES || return 1
    wait_for_status lc-many later SCANNED || return 1
    grep -q "taken by digest from the scan in environment prod" "$state_dir/wanted.json" ||
        fail "a new environment pulled a digest scanned a moment ago" || return 1
    read_results lc-many || return 1
    [ "$(count_results prod PENDING_SCAN)" = 1 ] || fail "more than one scan requested for five sightings"
    [ "$(count_results prod SCANNED)" = 1 ] || fail "more than one SCANNED request"
}

test_rescan_after_interval() {
    local first

    seen lc-rescan prod KUBERNETES || return 1
    wait_for_status lc-rescan prod SCANNED || return 1
    first=$(field_of_wanted request_id)

    # Seen again within the interval: no new scan.
    advance_clock 3600
    seen lc-rescan prod KUBERNETES || return 1
    seen lc-rescan other KUBERNETES || return 1
    wait_for_status lc-rescan other SCANNED || return 1
    read_results lc-rescan || return 1
    [ "$(count_results prod SCANNED "$first")" = 0 ] || fail "rescanned within the interval"

    advance_clock $((24 * 3600))
    seen lc-rescan prod KUBERNETES || return 1
    wait_for_status lc-rescan prod SCANNED "$first" || return 1
}

test_kubernetes_expires_after_ttl() {
    rcli HSET "imgassure:{lc-k8s}:settings" kubernetes_ttl_s 3600 activity_window_s 60 >/dev/null
    seen lc-k8s prod KUBERNETES || return 1
    wait_for_status lc-k8s prod SCANNED || return 1

    # Inactive after 60 s, removable 3600 s later: not yet at 3000 s.
    advance_clock 3000
    let_sweeper_run
    image_exists lc-k8s prod || fail "removed before its TTL ran out" || return 1

    advance_clock 700
    wait_for_removal INACTIVE lc-k8s/prod || return 1
    sleep 1
    ! image_exists lc-k8s prod || fail "state kept after ImageRemoved"
    [ "$(rcli ZCARD "imgassure:{lc-k8s}:seen:prod")" = 0 ] || fail "seen set keeps the image"
}

test_registry_deleted_expires() {
    seen lc-reg hub CONTAINER_REGISTRY PRESENT || return 1
    wait_for_status lc-reg hub SCANNED || return 1

    # A registry image stays however long nothing runs it...
    advance_clock $((40 * 86400))
    let_sweeper_run
    image_exists lc-reg hub || fail "registry image removed without a DELETED report" || return 1

    # ...and goes at the first sweep after the registry reports it deleted.
    seen lc-reg hub CONTAINER_REGISTRY DELETED || return 1
    wait_for_removal DELETED_FROM_REGISTRY lc-reg/hub || return 1
    sleep 1
    ! image_exists lc-reg hub || fail "state kept after ImageRemoved"
}

test_shiftleft_expires_after_ttl() {
    rcli HSET "imgassure:{lc-sl}:settings" shiftleft_ttl_s 600 >/dev/null
    seen lc-sl ci SHIFTLEFT PRESENT || return 1
    wait_for_status lc-sl ci SCANNED || return 1

    advance_clock 500
    let_sweeper_run
    image_exists lc-sl ci || fail "removed before the ShiftLeft TTL ran out" || return 1

    advance_clock 200
    wait_for_removal SHIFTLEFT_EXPIRED lc-sl/ci || return 1
}

test_ecs_and_fargate_matched_by_digest() {
    seen lc-ecs ecs1 ECS || return 1
    seen lc-ecs fargate1 FARGATE || return 1
    seen lc-ecs-other ecs1 ECS || return 1
    wait_for_status lc-ecs ecs1 UNMATCHED || return 1
    grep -q "ECS images are not pulled" "$state_dir/wanted.json" || fail "UNMATCHED without the reason"
    wait_for_status lc-ecs fargate1 PENDING_SCAN || return 1
    wait_for_status lc-ecs-other ecs1 UNMATCHED || return 1
    read_results lc-ecs || return 1
    grep -q "Fargate images are not pulled" "$state_dir/results.json" || fail "no Fargate detail"

    # A Kubernetes scan of the digest releases both waiting environments.
    seen lc-ecs k8s KUBERNETES || return 1
    wait_for_status lc-ecs k8s SCANNED || return 1
    wait_for_status lc-ecs ecs1 SCANNED || return 1
    grep -q "from the scan in environment k8s" "$state_dir/wanted.json" || fail "no source in the detail"
    [ "$(field_of_wanted package_count)" -gt 50 ] || fail "ECS result without the packages"
    wait_for_status lc-ecs fargate1 SCANNED || return 1
    [ "$(rcli HGET "imgassure:{lc-ecs}:image:fargate1:$digest" scanned_from)" = k8s ] ||
        fail "scanned_from not stored"

    # An ECS environment seen later matches at once.
    seen lc-ecs ecs2 ECS || return 1
    wait_for_status lc-ecs ecs2 SCANNED || return 1

    # Never across accounts.
    read_results lc-ecs-other || return 1
    [ "$(count_results ecs1 SCANNED)" = 0 ] || fail "another account's scan was shared"
}

test_failed_rescan_keeps_findings() {
    local closed_port before

    seen lc-fail prod KUBERNETES || return 1
    wait_for_status lc-fail prod SCANNED || return 1
    before=$(rcli HGET "imgassure:{lc-fail}:image:prod:$digest" last_scanned_at_ms)
    [ -n "$before" ] || fail "no last_scanned_at_ms after SCANNED" || return 1

    # The same digest from a registry that is not there fails the rescan.
    closed_port=$(dev/free-port.sh)
    "$imgassure" request-scan --account lc-fail --env prod --kind KUBERNETES \
        --image "127.0.0.1:$closed_port/demo/debian:bookworm" --digest "$digest" \
        >/dev/null || return 1
    wait_for_status lc-fail prod NETWORK_ERROR || return 1
    [ "$(rcli HGET "imgassure:{lc-fail}:image:prod:$digest" status)" = NETWORK_ERROR ] ||
        fail "status not updated" || return 1
    [ "$(rcli HGET "imgassure:{lc-fail}:image:prod:$digest" last_scanned_at_ms)" = "$before" ] ||
        fail "last_scanned_at_ms changed by a failed scan" || return 1
    [ "$(rcli HSTRLEN "imgassure:{lc-fail}:image:prod:$digest" last_scanned)" -gt 100 ] ||
        fail "last_scanned lost"
    [ -n "$(rcli HGET "imgassure:{lc-fail}:image:prod:$digest" vulnerability_level)" ] ||
        fail "vulnerability_level lost"
}

# Waits until the worker logged COUNT finished rematch walks.
wait_for_rematch_walks() {
    local count=$1 deadline=$((SECONDS + 60))

    while [ "$SECONDS" -lt "$deadline" ]; do
        [ "$(grep -c "rematch finished" "$state_dir/worker.log")" -ge "$count" ] && return 0
        sleep 1
    done
    fail "no rematch walk number $count in the worker log"
}

test_rematch_publishes_changed_findings() {
    local first

    seen lc-rematch prod KUBERNETES || return 1
    wait_for_status lc-rematch prod SCANNED || return 1
    first=$(field_of_wanted request_id)
    grep -q CVE-2023-4641 "$state_dir/wanted.json" && fail "CVE-2023-4641 found before its record was added"

    # A record for a package the image lacks: a new database version, a
    # walk, and no new result.
    sed -e 's/DEBIAN-CVE-2023-4641/DEBIAN-CVE-2099-0001/' \
        -e 's/CVE-2023-4641/CVE-2099-0001/' -e 's/"shadow"/"imgassure-absent"/' \
        "$state_dir/held-back.json" >"$database/DEBIAN-CVE-2099-0001.json" || return 1
    wait_for_rematch_walks 1 || return 1
    grep "rematch finished" "$state_dir/worker.log" | tail -n 1 | grep -q "changed=0" ||
        fail "findings changed by a record no image needs" || return 1
    read_results lc-rematch || return 1
    [ "$(count_results prod SCANNED)" = 1 ] || fail "a result was published without a change" || return 1

    # The record for shadow, installed in the image: one new result.
    mv "$state_dir/held-back.json" "$database/" || return 1
    wait_for_rematch_walks 2 || return 1
    wait_for_status lc-rematch prod SCANNED "$first" || return 1
    grep -q CVE-2023-4641 "$state_dir/wanted.json" || fail "rematched result lacks CVE-2023-4641" || return 1
    grep -q "matched again after the vulnerability database changed" "$state_dir/wanted.json" ||
        fail "rematched result does not say why it was published"
}

# Under make asan a leak or a sanitizer report makes the exit status
# non-zero, so this also checks the lifecycle code for them.
test_worker_stops_cleanly() {
    local status=0

    kill -TERM "$worker_pid"
    wait "$worker_pid" || status=$?
    worker_pid=""
    [ "$status" -eq 0 ] || fail "worker exited with $status after SIGTERM" || return 1
    ! grep -q "Sanitizer" "$state_dir/worker.log" || fail "sanitizer report in the worker log"
}

echo "building and pushing the test image"
dev/build-image.sh >"$state_dir/build-image.log" 2>&1 || {
    tail -n 20 "$state_dir/build-image.log"
    echo "lifecycle: 0 passed, 1 failed"
    exit 1
}
dev/stack.sh start "$state_dir" >"$state_dir/stack.log" 2>&1 || {
    tail -n 20 "$state_dir/stack.log"
    echo "lifecycle: 0 passed, 1 failed"
    exit 1
}
# shellcheck source=/dev/null
. "$state_dir/env"
dev/push-image.sh "$IMGASSURE_REGISTRY" >"$state_dir/push.log" 2>&1 || {
    tail -n 20 "$state_dir/push.log"
    echo "lifecycle: 0 passed, 1 failed"
    exit 1
}
image="$IMGASSURE_REGISTRY/demo/debian:bookworm"
digest=$(sed -n 's/^digest=//p' "$state_dir/push.log")
[ -n "$digest" ] || {
    echo "push-image printed no digest"
    echo "lifecycle: 0 passed, 1 failed"
    exit 1
}
# The database lacks one record, which the rematch test adds later.
database_options=()
if [ -d "$fixtures/osv/Debian" ]; then
    mkdir -p "$database" && cp "$fixtures"/osv/Debian/*.json "$database/" &&
        mv "$database/DEBIAN-CVE-2023-4641.json" "$state_dir/held-back.json" &&
        database_options=(--vuln-db "$database" --vuln-db-check-interval 1)
fi
"$build_dir/imgassure-worker" --worker-id lifecycle-worker \
    --session-timeout-ms 6000 --sweep-interval 1 "${database_options[@]}" \
    2>>"$state_dir/worker.log" &
worker_pid=$!

run_test test_image_state_scripts_on_redis
run_test test_many_sightings_one_scan
if [ ${#database_options[@]} -gt 0 ]; then
    run_test test_rematch_publishes_changed_findings
else
    echo "skip test_rematch_publishes_changed_findings: no $fixtures/osv/Debian (set IMGASSURE_FIXTURES)"
fi
run_test test_ecs_and_fargate_matched_by_digest
run_test test_failed_rescan_keeps_findings
run_test test_rescan_after_interval
run_test test_shiftleft_expires_after_ttl
run_test test_kubernetes_expires_after_ttl
run_test test_registry_deleted_expires
run_test test_worker_stops_cleanly

echo "lifecycle: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
