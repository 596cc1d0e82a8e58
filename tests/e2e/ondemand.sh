#!/bin/bash
# End-to-end tests of the on-demand commands: request-scan's refusals and
# the account's hourly quota, retry-failed, the images list and the
# settings, against the embedded broker and a real redis-server on
# 127.0.0.1. The image state a worker would write is seeded with
# redis-cli; one test goes through a real worker and `imgassure seen`.
# Prints one line per test and a closing "on-demand: N passed, N failed"
# line; exits 1 when a test failed.
set -uo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root" || exit 1
build_dir=${IMGASSURE_BUILD:-build}
imgassure="$build_dir/imgassure"
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/imgassure-ondemand.XXXXXX")
worker_pid=""
passed=0
failed=0

cleanup() {
    [ -z "$worker_pid" ] || stop_worker
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

# Every command reads the clock through this file, so a test can move it.
export IMGASSURE_TEST_CLOCK_OFFSET_FILE="$state_dir/clock-offset"
echo 0 >"$IMGASSURE_TEST_CLOCK_OFFSET_FILE"

now_ms() {
    echo $(($(date +%s%3N) + $(cat "$IMGASSURE_TEST_CLOCK_OFFSET_FILE")))
}

redis() {
    redis-cli -u "$IMGASSURE_REDIS_URL" "$@"
}

sha() {
    printf 'sha256:%064d' "$1"
}

# Seeded images name a closed loopback port as their registry, so that a
# worker scanning them fails at once without a DNS lookup.
registry=127.0.0.1:$(dev/free-port.sh)

# Writes the state a worker keeps for an image seen in an environment:
# seed_image ACCOUNT ENV KIND DIGEST REPOSITORY STATUS RUNNING_AGE_S
# [FIELD VALUE...]. STATUS "-" leaves the status unset, RUNNING_AGE_S "-"
# records no running sighting.
seed_image() {
    local account=$1 environment=$2 kind=$3 digest=$4 repository=$5
    local status=$6 running_age_s=$7 now
    shift 7
    now=$(now_ms)
    local fields=(environment_kind "$kind" registry "$registry"
        repository "$repository" tag v1 digest "$digest" last_seen_ms "$now")

    [ "$status" = - ] || fields+=(status "$status")
    if [ "$running_age_s" != - ]; then
        fields+=(last_running_ms $((now - running_age_s * 1000)))
        redis ZADD "imgassure:{$account}:running" $((now - running_age_s * 1000)) \
            "$digest" >/dev/null
    fi
    redis HSET "imgassure:{$account}:image:$environment:$digest" "${fields[@]}" "$@" \
        >/dev/null || return 1
    redis ZADD "imgassure:{$account}:seen:$environment" "$now" "$digest" >/dev/null
    redis HSET "imgassure:{$account}:environments" "$environment" "$kind" >/dev/null
}

# Runs request-scan for one seeded image; prints stderr and stdout and
# returns its exit status.
request() {
    local account=$1 environment=$2 repository=$3 digest=$4
    "$imgassure" request-scan --account "$account" --env "$environment" \
        --image "$registry/$repository:v1" --digest "$digest" \
        --timeout-ms 10000 2>&1
}

# Prints the scan requests of an account as JSON lines, decoded from
# imgassure.scan.requests by a reader written apart from the C decoder.
read_requests() {
    kcat -b "$IMGASSURE_BROKERS" -C -t imgassure.scan.requests -e -q \
        -f '%R%s' 2>/dev/null >"$state_dir/requests.bin"
    /usr/bin/python3 - "$1" "$state_dir/requests.bin" <<'EOF'
import json, struct, sys

account, data = sys.argv[1], open(sys.argv[2], "rb").read()
kinds = ["KUBERNETES", "CONTAINER_REGISTRY", "ECS", "FARGATE", "SHIFTLEFT", "UNKNOWN"]
reasons = ["NEW_IMAGE", "RESCAN", "ON_DEMAND", "RETRY_FAILED", "RESCHEDULED"]

def decode(body):
    position = 0
    def number():
        nonlocal position
        shift = value = 0
        while True:
            byte = body[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return (value >> 1) ^ -(value & 1)
    def text():
        nonlocal position
        length = number()
        position += length
        return body[position - length:position].decode()
    def optional():
        return text() if number() == 1 else None
    assert body[:2] == b"\xc3\x01", body[:2]
    position = 10
    request = {"request_id": text()}
    request["image"] = {"account": text(), "environment_id": text(),
                        "environment_kind": kinds[number()], "registry": text(),
                        "repository": text(), "tag": optional(),
                        "digest": optional(), "platform": optional()}
    request["reason"] = reasons[number()]
    request["attempt"] = number()
    return request

offset = 0
while offset < len(data):
    (length,) = struct.unpack(">i", data[offset:offset + 4])
    request = decode(data[offset + 4:offset + 4 + length])
    offset += 4 + length
    if request["image"]["account"] == account:
        print(json.dumps(request))
EOF
}

test_quota_accepts_200_of_300_concurrent() {
    local digest oldest retry_at output status
    digest=$(sha 1)
    "$imgassure" settings set --account quota activity_window_s 86400 >/dev/null ||
        return 1
    seed_image quota prod KUBERNETES "$digest" team/app SCANNED 60 || return 1

    seq 300 | xargs -P 8 -I{} sh -c '
        "$0" request-scan --account quota --env prod --digest "$1" \
            --image "$3/team/app:v1" --timeout-ms 20000 \
            >/dev/null 2>"$2/request-{}.err"
        echo $? >"$2/request-{}.status"' "$imgassure" "$digest" "$state_dir" \
        "$registry"
    [ "$(cat "$state_dir"/request-*.status | grep -cx 0)" -eq 200 ] ||
        fail "accepted: $(cat "$state_dir"/request-*.status | sort | uniq -c)" || return 1
    [ "$(cat "$state_dir"/request-*.status | grep -cx 3)" -eq 100 ] ||
        fail "refused: $(cat "$state_dir"/request-*.status | sort | uniq -c)" || return 1
    [ "$(redis ZCARD 'imgassure:{quota}:on-demand')" -eq 200 ] ||
        fail "the on-demand set does not hold 200 requests" || return 1

    # A refusal names the time the oldest request leaves the hour.
    oldest=$(redis ZRANGE 'imgassure:{quota}:on-demand' 0 0 WITHSCORES | tail -n 1)
    retry_at=$(date -u -d "@$(((oldest + 3600000) / 1000))" +%Y-%m-%dT%H:%M:%S)
    retry_at="$retry_at.$(printf '%03d' $(((oldest + 3600000) % 1000)))Z"
    grep -h "refused" "$state_dir"/request-*.err | head -n 1
    grep -q "next is accepted from $retry_at" "$state_dir"/request-*.err ||
        fail "no refusal names $retry_at" || return 1

    # Just before the oldest request is an hour old: still refused.
    echo $((oldest + 3600000 - 2000 - $(date +%s%3N))) >"$IMGASSURE_TEST_CLOCK_OFFSET_FILE"
    output=$(request quota prod team/app "$digest")
    status=$?
    [ "$status" -eq 3 ] || fail "before the hour: exit $status: $output" || return 1
    # Once it is: the 201st request is accepted.
    echo $((oldest + 3600000 - $(date +%s%3N))) >"$IMGASSURE_TEST_CLOCK_OFFSET_FILE"
    output=$(request quota prod team/app "$digest")
    status=$?
    echo 0 >"$IMGASSURE_TEST_CLOCK_OFFSET_FILE"
    [ "$status" -eq 0 ] || fail "after the hour: exit $status: $output" || return 1

    read_requests quota >"$state_dir/quota.json" || return 1
    [ "$(grep -c '"reason": "ON_DEMAND"' "$state_dir/quota.json")" -eq 201 ] ||
        fail "$(wc -l <"$state_dir/quota.json") requests published, expected 201"
}

# Expects exit status 3 and a phrase in the refusal.
expect_refused() {
    local phrase=$1 output status
    shift
    output=$(request "$@")
    status=$?
    echo "$output"
    [ "$status" -eq 3 ] || fail "exit $status, expected 3: $output" || return 1
    case $output in
    *"refused: "*"$phrase"*) ;;
    *) fail "refusal does not say '$phrase': $output" ;;
    esac
}

test_request_scan_refusals() {
    seed_image rules cluster KUBERNETES "$(sha 11)" team/idle SCANNED 7200 || return 1
    seed_image rules cluster KUBERNETES "$(sha 12)" team/live NETWORK_ERROR 30 || return 1
    seed_image rules ci SHIFTLEFT "$(sha 13)" team/built SCANNED 30 || return 1
    seed_image rules registry CONTAINER_REGISTRY "$(sha 12)" team/live SCANNED - ||
        return 1
    seed_image rules registry CONTAINER_REGISTRY "$(sha 14)" team/gone SCANNED - \
        deleted_at_ms "$(now_ms)" || return 1
    seed_image rules fleet ECS "$(sha 15)" team/task UNMATCHED 30 || return 1

    expect_refused "is inactive" rules cluster team/idle "$(sha 11)" || return 1
    expect_refused "ShiftLeft" rules ci team/built "$(sha 13)" || return 1
    expect_refused "deleted" rules registry team/gone "$(sha 14)" || return 1
    expect_refused "never seen" rules cluster team/other "$(sha 16)" || return 1
    [ "$(redis ZCARD 'imgassure:{rules}:on-demand')" -eq 0 ] ||
        fail "refusals took quota" || return 1

    # Active: running here, its digest running elsewhere, an ECS task.
    request rules cluster team/live "$(sha 12)" || return 1
    request rules registry team/live "$(sha 12)" || return 1
    request rules fleet team/task "$(sha 15)" || return 1
    # The digest seen, pulled from a mirror the caller names.
    "$imgassure" request-scan --account rules --env cluster \
        --image "$registry/mirror/live:v2" --digest "$(sha 12)" || return 1
    [ "$(redis ZCARD 'imgassure:{rules}:on-demand')" -eq 4 ] ||
        fail "four acceptances, but the quota counts otherwise" || return 1
    read_requests rules >"$state_dir/rules.json" || return 1
    cat "$state_dir/rules.json"
    /usr/bin/python3 - "$state_dir/rules.json" "$(sha 12)" <<'EOF'
import json, sys
requests = [json.loads(line) for line in open(sys.argv[1])]
kinds = sorted(r["image"]["environment_kind"] for r in requests)
assert kinds == ["CONTAINER_REGISTRY", "ECS", "KUBERNETES", "KUBERNETES"], kinds
assert all(r["reason"] == "ON_DEMAND" for r in requests), requests
mirrored = [r["image"] for r in requests if r["image"]["repository"] == "mirror/live"]
assert len(mirrored) == 1, requests
assert mirrored[0]["tag"] == "v2", mirrored
assert mirrored[0]["digest"] == sys.argv[2], mirrored
EOF
}

test_retry_failed_schedules_unscanned_active() {
    local output status
    seed_image retry cluster KUBERNETES "$(sha 21)" team/ok SCANNED 30 || return 1
    seed_image retry cluster KUBERNETES "$(sha 22)" team/net NETWORK_ERROR 30 || return 1
    seed_image retry cluster KUBERNETES "$(sha 23)" team/part PARTIAL 30 || return 1
    seed_image retry cluster KUBERNETES "$(sha 24)" team/new - 30 || return 1
    seed_image retry cluster KUBERNETES "$(sha 25)" team/old TIMEOUT 7200 || return 1
    seed_image retry other KUBERNETES "$(sha 26)" team/else PARTIAL 30 || return 1

    output=$("$imgassure" retry-failed --account retry --env cluster 2>&1)
    status=$?
    echo "$output"
    [ "$status" -eq 0 ] || fail "exit $status: $output" || return 1
    [ "$output" = "scheduled 3 scans in environment cluster" ] ||
        fail "unexpected output: $output" || return 1
    [ "$(redis ZCARD 'imgassure:{retry}:on-demand')" -eq 1 ] ||
        fail "retry-failed did not count as one request" || return 1

    read_requests retry >"$state_dir/retry.json" || return 1
    /usr/bin/python3 - "$state_dir/retry.json" "$(sha 22)" "$(sha 23)" "$(sha 24)" <<'EOF'
import json, sys
requests = [json.loads(line) for line in open(sys.argv[1])]
digests = sorted(r["image"]["digest"] for r in requests)
assert digests == sorted(sys.argv[2:]), digests
assert all(r["reason"] == "RETRY_FAILED" for r in requests), requests
assert all(r["image"]["environment_id"] == "cluster" for r in requests), requests
assert len({r["request_id"] for r in requests}) == 3, requests
EOF
    [ $? -eq 0 ] || return 1

    output=$("$imgassure" retry-failed --account retry --env nowhere 2>&1)
    status=$?
    [ "$status" -eq 3 ] || fail "unknown environment: exit $status: $output" || return 1
    echo "$output" | grep -q "never seen" || fail "unclear refusal: $output"
}

test_images_list_filters_and_json() {
    local output
    seed_image listing prod KUBERNETES "$(sha 31)" team/web SCANNED 30 \
        vulnerability_level HIGH risk_score 7.5 last_scanned_at_ms "$(now_ms)" || return 1
    seed_image listing prod KUBERNETES "$(sha 32)" team/api NETWORK_ERROR 30 \
        vulnerability_level MEDIUM risk_score 4.2 last_scanned_at_ms "$(now_ms)" || return 1
    seed_image listing staging KUBERNETES "$(sha 33)" team/web SCANNED 7200 \
        vulnerability_level LOW risk_score 1.0 || return 1
    # A SCANNED result without a database: level NONE and risk 0 stored.
    seed_image listing prod KUBERNETES "$(sha 35)" team/bare SCANNED 30 \
        vulnerability_level NONE risk_score 0.0 || return 1
    [ -s "$state_dir/unmatched-result.bin" ] || fail "no worker result was kept" || return 1
    redis -x HSET "imgassure:{listing}:image:prod:$(sha 35)" last_scanned \
        <"$state_dir/unmatched-result.bin" >/dev/null || return 1
    # State without a seen member: never listed.
    redis HSET "imgassure:{listing}:image:prod:$(sha 34)" repository team/ghost \
        status SCANNED >/dev/null

    "$imgassure" images --account listing | tee "$state_dir/table.txt"
    [ "$(wc -l <"$state_dir/table.txt")" -eq 6 ] ||
        fail "expected a header, 4 rows and a note" || return 1
    grep "team/bare" "$state_dir/table.txt" | grep -q "not matched" ||
        fail "an unmatched scan is shown with a level" || return 1
    grep -q "MEDIUM\* *4.2\*" "$state_dir/table.txt" ||
        fail "the failed rescan's kept level is not marked" || return 1
    ! grep -q ghost "$state_dir/table.txt" || fail "an image never seen is listed" ||
        return 1

    output=$("$imgassure" images --account listing --env prod --status NETWORK_ERROR --json)
    echo "$output"
    /usr/bin/python3 - "$output" "$(sha 32)" <<'EOF'
import json, sys
rows = [json.loads(line) for line in sys.argv[1].splitlines()]
assert len(rows) == 1, rows
row = rows[0]
assert row["digest"] == sys.argv[2], row
assert row["repository"] == "team/api", row
assert row["environment_id"] == "prod", row
assert row["status"] == "NETWORK_ERROR", row
assert row["active"] is True, row
assert row["vulnerability_level"] == "MEDIUM", row
assert row["risk_score"] == 4.2, row
assert row["vulnerabilities_matched"] is True, row
assert row["from_earlier_scan"] is True, row
EOF
    [ $? -eq 0 ] || return 1
    output=$("$imgassure" images --account listing --env staging --json)
    echo "$output" | grep -q '"active":false' || fail "staging image shown active: $output" ||
        return 1
    "$imgassure" images --account listing --status BROKEN 2>/dev/null
    [ $? -eq 2 ] || fail "an unknown status is not a usage error"
}

test_settings_round_trip_and_invalid_values() {
    local output status value
    "$imgassure" settings set --account tuned kubernetes_ttl_s 86400 || return 1
    value=$("$imgassure" settings get --account tuned kubernetes_ttl_s) || return 1
    [ "$value" = 86400 ] || fail "read back $value" || return 1
    "$imgassure" settings get --account tuned | tee "$state_dir/settings.txt"
    grep -qx "shiftleft_ttl_s 2592000" "$state_dir/settings.txt" ||
        fail "default shiftleft_ttl_s not shown" || return 1

    for bad in "kubernetes_ttl_s 59" "kubernetes_ttl_s 1h" "kubernetes_ttl_s -5" \
        "no_such_setting 100"; do
        # shellcheck disable=SC2086
        output=$("$imgassure" settings set --account tuned $bad 2>&1)
        status=$?
        echo "$output"
        [ "$status" -eq 2 ] || fail "'$bad': exit $status" || return 1
        case $output in
        *invalid* | *unknown*) ;;
        *) fail "'$bad': unclear message: $output" || return 1 ;;
        esac
    done
    value=$("$imgassure" settings get --account tuned kubernetes_ttl_s) || return 1
    [ "$value" = 86400 ] || fail "an invalid value changed the setting to $value"
}

stop_worker() {
    kill -TERM "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
    worker_pid=""
}

# Starts a worker while scan.requests is still empty and publishes one
# sighting to it. The registry port is closed: the scan fails, the
# sighting stays.
start_worker_with_sighting() {
    "$build_dir/imgassure-worker" --worker-id ondemand-worker \
        --session-timeout-ms 6000 2>>"$state_dir/worker.log" &
    worker_pid=$!
    "$imgassure" seen --account met --env prod --kind KUBERNETES \
        --image "$registry/team/app:v1" --digest "$(sha 41)" \
        --workload deployment/app
}

# Keeps the first result the worker published for the images test: a real
# ScanResult, not matched against a vulnerability database. Then stops the
# worker, so that it scans none of the later tests' requests.
keep_worker_result() {
    local deadline=$((SECONDS + 120))
    while [ "$SECONDS" -lt "$deadline" ]; do
        kcat -b "$IMGASSURE_BROKERS" -C -t imgassure.scan.results -c 1 -e -q \
            -f '%s' >"$state_dir/unmatched-result.bin" 2>/dev/null
        [ -s "$state_dir/unmatched-result.bin" ] && break
        sleep 1
    done
    stop_worker
}

test_worker_seen_image_is_listed_and_requestable() {
    local digest output deadline
    digest=$(sha 41)
    deadline=$((SECONDS + 120))
    while [ "$SECONDS" -lt "$deadline" ]; do
        output=$("$imgassure" images --account met --json)
        [ -n "$output" ] && break
        sleep 1
    done
    echo "$output"
    echo "$output" | grep -q '"active":true' || fail "the seen image is not listed as active" ||
        return 1
    "$imgassure" request-scan --account met --env prod \
        --image "$registry/team/app:v1" --digest "$digest"
}

test_redis_stopped_refuses_with_clear_error() {
    local output status before after
    before=$(read_requests quota | wc -l)
    kill -TERM "$(cat "$state_dir/pids/redis.pid")" || return 1
    sleep 1

    output=$(request quota prod team/app "$(sha 1)")
    status=$?
    echo "$output"
    [ "$status" -eq 1 ] || fail "request-scan: exit $status, expected 1" || return 1
    echo "$output" | grep -q "Redis" || fail "request-scan does not name Redis" || return 1
    output=$("$imgassure" retry-failed --account retry --env cluster 2>&1)
    status=$?
    [ "$status" -eq 1 ] || fail "retry-failed: exit $status: $output" || return 1
    "$imgassure" images --account listing >/dev/null 2>&1
    [ $? -eq 1 ] || fail "images does not fail without Redis" || return 1
    after=$(read_requests quota | wc -l)
    [ "$before" -eq "$after" ] || fail "a request was published without Redis"
}

for program in redis-cli kcat; do
    if ! command -v "$program" >/dev/null; then
        echo "skipped: $program not installed (make deps)"
        exit 0
    fi
done
dev/stack.sh start "$state_dir" broker redis >"$state_dir/stack.log" 2>&1 || {
    tail -n 20 "$state_dir/stack.log"
    echo "on-demand: 0 passed, 1 failed"
    exit 1
}
# shellcheck source=/dev/null
. "$state_dir/env"
start_worker_with_sighting || {
    echo "on-demand: 0 passed, 1 failed"
    exit 1
}

run_test test_worker_seen_image_is_listed_and_requestable
keep_worker_result
run_test test_quota_accepts_200_of_300_concurrent
run_test test_request_scan_refusals
run_test test_retry_failed_schedules_unscanned_active
run_test test_images_list_filters_and_json
run_test test_settings_round_trip_and_invalid_values
run_test test_redis_stopped_refuses_with_clear_error

echo "on-demand: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
