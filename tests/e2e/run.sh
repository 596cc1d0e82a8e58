#!/bin/bash
# End-to-end tests on the development stack: the embedded Kafka broker,
# redis-server and docker-registry on free 127.0.0.1 ports, the real demo
# image, two workers and the imgassure command. Prints one line per test
# and a closing "N passed, N failed" line; exits 1 when a test failed.
set -uo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
build_dir=${IMGASSURE_BUILD:-build}
imgassure="$build_dir/imgassure"
result_timeout_s=${IMGASSURE_E2E_TIMEOUT_S:-240}
fixtures=${IMGASSURE_FIXTURES:-$repo_root/../shared/fixtures}
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/imgassure-e2e.XXXXXX")
worker_pids=()
passed=0
failed=0

cleanup() {
    stop_workers
    dev/stack.sh stop "$state_dir" >/dev/null 2>&1 || true
    if [ "$failed" -eq 0 ]; then
        rm -rf "$state_dir"
    else
        echo "logs kept in $state_dir"
    fi
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

stop_workers() {
    local pid
    for pid in "${worker_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${worker_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    worker_pids=()
}

# The mock cluster waits for the session timeout (45 s by default) before it
# completes a rebalance, so the workers here use a short one.
start_worker() {
    "$build_dir/imgassure-worker" --worker-id "e2e-worker-$1" \
        --session-timeout-ms 6000 \
        "${database_options[@]}" 2>>"$state_dir/worker-$1.log" &
    worker_pids+=($!)
}

# shellcheck source=tests/e2e/harness.sh
. "$repo_root/tests/e2e/harness.sh"

publish_seen() {
    "$imgassure" seen --account "$1" --env "$2" --kind KUBERNETES \
        --image "$image" --digest "$digest" --workload deployment/e2e
}

# Prints the JSON results of one account and environment until one has the
# wanted status, or fails after the timeout.
wait_for_status() {
    local account=$1 environment=$2 wanted=$3
    local deadline=$((SECONDS + result_timeout_s))

    while [ "$SECONDS" -lt "$deadline" ]; do
        "$imgassure" results --json --account "$account" >"$state_dir/results.json" ||
            return 1
        if /usr/bin/python3 - "$environment" "$wanted" "$state_dir/results.json" \
            >"$state_dir/wanted.json" <<'EOF'; then
import json, sys
environment, wanted = sys.argv[1], sys.argv[2]
for line in open(sys.argv[3]):
    result = json.loads(line)
    if result["image"]["environment_id"] == environment and result["status"] == wanted:
        print(line.strip())
        sys.exit(0)
sys.exit(1)
EOF
            return 0
        fi
        sleep 1
    done
    fail "no $wanted result for $account/$environment within ${result_timeout_s}s"
}

test_debian_image_scanned_with_dpkg_packages() {
    publish_seen e2e-first prod || return 1
    wait_for_status e2e-first prod PENDING_SCAN || return 1
    wait_for_status e2e-first prod SCANNED || return 1

    /usr/bin/python3 - "$state_dir/wanted.json" "$packages_tsv" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
expected = set()
for line in open(sys.argv[2]):
    fields = line.rstrip("\n").split("\t")
    if fields and fields[0] == "installed":
        expected.add((fields[1], fields[2]))
scanned = {(p["name"], p["version"]) for p in result["packages"]}
assert result["os"]["id"] == "debian", result["os"]
assert result["os"]["version_id"] == "12", result["os"]
assert result["package_count"] == len(result["packages"])
assert len(expected) > 50, "dpkg-query listed only %d packages" % len(expected)
missing, extra = expected - scanned, scanned - expected
assert not missing, "dpkg-query lists packages the scan missed: %s" % sorted(missing)[:10]
assert not extra, "the scan reports packages dpkg-query does not list: %s" % sorted(extra)[:10]
assert result["layer_count"] >= 1
assert result["image_size_bytes"] > 0
assert result["manifest_digest"].startswith("sha256:")
assert result["image"]["platform"] == "linux/amd64", result["image"]["platform"]
print("scanned %d packages, equal to dpkg-query" % len(scanned))
EOF
}

test_seen_again_does_not_rescan() {
    publish_seen e2e-first prod || return 1
    # A new environment after it shows the workers consumed the repeat.
    publish_seen e2e-first staging || return 1
    wait_for_status e2e-first staging SCANNED || return 1

    # Redelivery may publish a result twice, but always for the same
    # request: a repeat sighting must not create a second request.
    "$imgassure" results --json --account e2e-first >"$state_dir/results.json" || return 1
    /usr/bin/python3 - "$state_dir/results.json" <<'EOF'
import json, sys
requests = {json.loads(line)["request_id"] for line in open(sys.argv[1])
            if json.loads(line)["image"]["environment_id"] == "prod"}
assert len(requests) == 1, "prod has %d scan requests: %s" % (len(requests), requests)
EOF
}

# Produces raw bytes to a topic, then expects them on its dead-letter queue
# with the reason, and expects the workers to go on scanning.
check_dead_letter() {
    local topic=$1 key=$2 account=$3
    printf 'not an avro message' |
        kcat -b "$IMGASSURE_BROKERS" -P -t "imgassure.$topic" -k "$key" || return 1

    local deadline=$((SECONDS + 60)) found=""
    while [ "$SECONDS" -lt "$deadline" ] && [ -z "$found" ]; do
        found=$(kcat -b "$IMGASSURE_BROKERS" -C -t "imgassure.$topic.dlq" -e -q \
            -f '%k|%h|%s\n' 2>/dev/null | grep "^$key|" || true)
        sleep 1
    done
    [ -n "$found" ] || fail "no message with key $key on imgassure.$topic.dlq"
    echo "$found"
    case $found in
    *imgassure.error=*) ;;
    *) fail "dead-letter message has no imgassure.error header: $found" ;;
    esac
    case $found in
    *"|not an avro message") ;;
    *) fail "dead-letter message does not carry the original value: $found" ;;
    esac

    publish_seen "$account" prod || return 1
    wait_for_status "$account" prod SCANNED
}

test_malformed_seen_event_goes_to_dlq() {
    check_dead_letter images.seen bad-seen-key e2e-after-bad-seen
}

test_malformed_scan_request_goes_to_dlq() {
    check_dead_letter scan.requests bad-request-key e2e-after-bad-request
}

test_request_scan_rescans_on_demand() {
    local request_id
    request_id=$("$imgassure" request-scan --account e2e-first --env prod \
        --kind KUBERNETES --image "$image" --digest "$digest") || return 1
    local deadline=$((SECONDS + result_timeout_s))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if "$imgassure" results --json --request-id "$request_id" |
            grep -q '"status": *"SCANNED"'; then
            return 0
        fi
        sleep 1
    done
    fail "no SCANNED result for request $request_id"
}

test_debian_findings_match_the_database() {
    # The image scanned in the first test, matched against the OSV fixtures.
    wait_for_status e2e-first prod SCANNED || return 1

    /usr/bin/python3 - "$state_dir/wanted.json" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
order = ["NONE", "UNKNOWN", "NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
findings = result["findings"]
assert result["vulnerabilities_matched"] is True, result["status_detail"]
assert result["finding_count"] == len(findings) > 0, result["finding_count"]
assert sum(result["severity_counts"].values()) == len(findings), result["severity_counts"]
worst = max(order.index(f["severity"]) for f in findings)
assert result["vulnerability_level"] == order[worst], result["vulnerability_level"]
assert 0 < result["risk_score"] <= 10, result["risk_score"]
assert result["vulnerability_db_version"].startswith("osv-"), result["vulnerability_db_version"]
shadow = {(f["id"], f["package"]) for f in findings}
assert ("CVE-2023-4641", "login") in shadow, "login (source shadow, epoch 1:) not matched"
assert not any(f["package"] == "libc6" and f["id"] == "CVE-2023-4911" for f in findings), \
    "glibc CVE-2023-4911 is fixed in bookworm's version but was reported"
assert "vulnerabilities" in result["status_detail"], result["status_detail"]
EOF
}

test_alpine_image_scanned_with_apk_packages() {
    local archive="$fixtures/images/docker-save/alpine-3.10.tar.gz"
    local alpine="$IMGASSURE_REGISTRY/fixtures/alpine:3.10"

    zcat "$archive" >"$state_dir/alpine.tar" || return 1
    skopeo copy -q --dest-tls-verify=false "docker-archive:$state_dir/alpine.tar" \
        "docker://$alpine" || return 1
    "$imgassure" seen --account e2e-alpine --env prod --kind KUBERNETES \
        --image "$alpine" || return 1
    wait_for_status e2e-alpine prod SCANNED || return 1

    /usr/bin/python3 - "$state_dir/wanted.json" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
packages = {p["name"]: p for p in result["packages"]}
assert result["os"]["id"] == "alpine", result["os"]
assert result["os"]["version_id"] == "3.10.4", result["os"]
assert result["package_count"] == 14, result["package_count"]
assert packages["musl"]["version"] == "1.1.22-r3", packages["musl"]
assert packages["libcrypto1.1"]["source_name"] == "openssl", packages["libcrypto1.1"]
EOF
}

# Checks one SCANNED result of an account against tests/e2e/osv_oracle.py,
# which computes the expected findings with its own version order.
check_with_oracle() {
    local account=$1
    wait_for_status "$account" prod SCANNED || return 1
    /usr/bin/python3 tests/e2e/osv_oracle.py "$state_dir/wanted.json" "$fixtures/osv"
}

test_findings_agree_with_independent_oracle() {
    local tag account

    check_with_oracle e2e-first || return 1
    for tag in 3.10 3.11; do
        account="e2e-oracle-${tag/./-}"
        zcat "$fixtures/images/docker-save/alpine-$tag.tar.gz" >"$state_dir/alpine-$tag.tar" ||
            return 1
        skopeo copy -q --dest-tls-verify=false "docker-archive:$state_dir/alpine-$tag.tar" \
            "docker://$IMGASSURE_REGISTRY/fixtures/alpine:$tag" || return 1
        "$imgassure" seen --account "$account" --env prod --kind KUBERNETES \
            --image "$IMGASSURE_REGISTRY/fixtures/alpine:$tag" || return 1
        check_with_oracle "$account" || return 1
    done
}

test_cli_rejects_bad_arguments_with_exit_2() {
    local output status
    output=$("$imgassure" seen --no-such-option 2>&1)
    status=$?
    [ "$status" -eq 2 ] || fail "exit status $status, expected 2"
    [ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ] || fail "more than one line: $output"
    output=$("$imgassure" seen --account acme --env prod --image 'UPPER/Case:bad tag' 2>&1)
    status=$?
    [ "$status" -eq 2 ] || fail "invalid reference: exit status $status, expected 2"
    echo "$output" | grep -q "invalid image reference" || fail "unclear message: $output"
    output=$("$build_dir/imgassure-worker" --pull-timeout soon 2>&1)
    status=$?
    [ "$status" -eq 2 ] || fail "worker: exit status $status, expected 2"
    echo "$output"
}

test_help_lists_every_option_with_default() {
    local command
    for command in seen request-scan results; do
        "$imgassure" "$command" --help >"$state_dir/help.txt" || return 1
        grep -q -- "--brokers" "$state_dir/help.txt" || fail "$command --help lacks --brokers"
        grep -q "default:" "$state_dir/help.txt" || fail "$command --help shows no defaults"
    done
    # Through a file: grep -q would close a pipe before the worker's help,
    # longer than one stdio buffer, is all written, and fail it by SIGPIPE.
    "$build_dir/imgassure-worker" --help >"$state_dir/help.txt" || return 1
    grep -q "IMGASSURE_REDIS_URL" "$state_dir/help.txt" ||
        fail "worker --help lacks IMGASSURE_REDIS_URL"
}

test_worker_leaves_group_on_sigterm() {
    local pid=${worker_pids[0]}
    kill -TERM "$pid"
    local status=0
    wait "$pid" || status=$?
    worker_pids=("${worker_pids[@]:1}")
    [ "$status" -eq 0 ] || fail "worker exited with $status after SIGTERM"
    grep -q "stopping worker=e2e-worker-1" "$state_dir/worker-1.log" ||
        fail "no shutdown line in the worker log"
    # The remaining worker takes over all partitions and still scans.
    publish_seen e2e-after-sigterm prod || return 1
    wait_for_status e2e-after-sigterm prod SCANNED
}

# Requests a scan and prints its SCANNED result as JSON.
scan_on_demand() {
    local account=$1 request_id deadline=$((SECONDS + result_timeout_s))

    request_id=$("$imgassure" request-scan --account "$account" --env prod \
        --kind KUBERNETES --image "$image" --digest "$digest") || return 1
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$imgassure" results --json --request-id "$request_id" |
            grep '"status":"SCANNED"' | head -n 1 >"$state_dir/on-demand.json"
        if [ -s "$state_dir/on-demand.json" ]; then
            cat "$state_dir/on-demand.json"
            return 0
        fi
        sleep 1
    done
    fail "no SCANNED result for request $request_id"
}

# Prints "<database version> <1 when CVE-2023-4641 is found in login>" of a
# result read from standard input.
finding_summary() {
    /usr/bin/python3 -c '
import json, sys
result = json.load(sys.stdin)
found = any(f["id"] == "CVE-2023-4641" and f["package"] == "login"
            for f in result["findings"])
print(result["vulnerability_db_version"], int(found))
print(result["status_detail"], file=sys.stderr)'
}

# Runs alone, after the other workers stopped: one worker whose database
# is a copy that the test changes, checked for changes every second.
test_database_reloads_when_files_change() {
    local database="$state_dir/vulndb" before after pid

    stop_workers
    mkdir -p "$database" && cp "$fixtures"/osv/Debian/*.json "$database/" || return 1
    mv "$database/DEBIAN-CVE-2023-4641.json" "$state_dir/held-back.json" || return 1
    "$build_dir/imgassure-worker" --worker-id e2e-reload --vuln-db "$database" \
        --vuln-db-check-interval 1 --session-timeout-ms 6000 \
        2>>"$state_dir/worker-reload.log" &
    pid=$!
    worker_pids+=("$pid")

    before=$(scan_on_demand e2e-reload | finding_summary) || return 1
    [ "${before#* }" = 0 ] || fail "CVE-2023-4641 reported before its record was added: $before"

    mv "$state_dir/held-back.json" "$database/" || return 1
    sleep 3
    after=$(scan_on_demand e2e-reload | finding_summary) || return 1
    [ "${after#* }" = 1 ] || fail "CVE-2023-4641 not reported after its record was added: $after"
    [ "${before% *}" != "${after% *}" ] || fail "database version unchanged: $before"
    grep -q "reloaded vulnerability database" "$state_dir/worker-reload.log" ||
        fail "no reload line in the worker log"
}

test_database_reloads_on_sighup() {
    local database="$state_dir/vulndb-hup" before after pid

    stop_workers
    mkdir -p "$database" && cp "$fixtures"/osv/Debian/*.json "$database/" || return 1
    # Every record dated 2020, so the database counts as stale.
    sed -i 's/"modified": "[^"]*"/"modified": "2020-01-01T00:00:00Z"/' "$database"/*.json
    "$build_dir/imgassure-worker" --worker-id e2e-hup --vuln-db "$database" \
        --vuln-db-check-interval 0 --session-timeout-ms 6000 \
        2>>"$state_dir/worker-hup.log" &
    pid=$!
    worker_pids+=("$pid")

    before=$(scan_on_demand e2e-hup | finding_summary 2>"$state_dir/detail.txt") || return 1
    grep -q "days old" "$state_dir/detail.txt" ||
        fail "a database from 2020 is not called stale: $(cat "$state_dir/detail.txt")"

    rm "$database/DEBIAN-CVE-2023-4641.json" || return 1
    kill -HUP "$pid"
    sleep 3
    after=$(scan_on_demand e2e-hup | finding_summary) || return 1
    [ "${before#* }" = 1 ] || fail "CVE-2023-4641 missing before the reload: $before"
    [ "${after#* }" = 0 ] || fail "CVE-2023-4641 still reported after SIGHUP removed it: $after"
}

test_oversized_image_not_pulled() {
    local request_id deadline=$((SECONDS + result_timeout_s))

    stop_workers
    "$build_dir/imgassure-worker" --worker-id e2e-size --max-image-bytes 1000 \
        --session-timeout-ms 6000 2>>"$state_dir/worker-size.log" &
    worker_pids+=($!)

    request_id=$("$imgassure" request-scan --account e2e-size --env prod \
        --kind KUBERNETES --image "$image" --digest "$digest") || return 1
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$imgassure" results --json --request-id "$request_id" >"$state_dir/size.json"
        if [ -s "$state_dir/size.json" ]; then
            break
        fi
        sleep 1
    done
    /usr/bin/python3 - "$state_dir/size.json" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
result = json.loads(lines[0])
assert result["status"] == "INSUFFICIENT_RESOURCES", result["status"]
assert "IMGASSURE_MAX_IMAGE_BYTES" in result["status_detail"], result["status_detail"]
assert "no layer was downloaded" in result["status_detail"], result["status_detail"]
assert result["package_count"] == 0, result["package_count"]
EOF
}

echo "building and pushing the test image"
dev/build-image.sh >"$state_dir/build-image.log" 2>&1 || {
    tail -n 20 "$state_dir/build-image.log"
    echo "0 passed, 1 failed"
    exit 1
}
packages_tsv="$repo_root/.cache/images/debian-bookworm-minbase/packages.tsv"
dev/stack.sh start "$state_dir" >"$state_dir/stack.log" 2>&1 || {
    tail -n 20 "$state_dir/stack.log"
    echo "0 passed, 1 failed"
    exit 1
}
# shellcheck source=/dev/null
. "$state_dir/env"
dev/push-image.sh "$IMGASSURE_REGISTRY" >"$state_dir/push.log" 2>&1 || {
    tail -n 20 "$state_dir/push.log"
    echo "0 passed, 1 failed"
    exit 1
}
image="$IMGASSURE_REGISTRY/demo/debian:bookworm"
digest=$(curl -fsS -o /dev/null -D - \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$IMGASSURE_REGISTRY/v2/demo/debian/manifests/bookworm" |
    tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
database_options=()
if [ -d "$fixtures/osv" ]; then
    database_options=(--vuln-db "$fixtures/osv" --cve-db "$fixtures/cve")
fi
start_worker 1
start_worker 2

run_test test_cli_rejects_bad_arguments_with_exit_2
run_test test_help_lists_every_option_with_default
run_test test_debian_image_scanned_with_dpkg_packages
if [ -d "$fixtures/osv" ]; then
    run_test test_debian_findings_match_the_database
else
    echo "skip test_debian_findings_match_the_database: no $fixtures/osv (set IMGASSURE_FIXTURES)"
fi
run_test test_seen_again_does_not_rescan
if [ -f "$fixtures/images/docker-save/alpine-3.10.tar.gz" ]; then
    run_test test_alpine_image_scanned_with_apk_packages
    if [ -d "$fixtures/osv" ]; then
        run_test test_findings_agree_with_independent_oracle
    fi
else
    echo "skip test_alpine_image_scanned_with_apk_packages: no $fixtures/images/docker-save/alpine-3.10.tar.gz (set IMGASSURE_FIXTURES)"
fi
run_test test_malformed_seen_event_goes_to_dlq
run_test test_malformed_scan_request_goes_to_dlq
run_test test_request_scan_rescans_on_demand
run_test test_worker_leaves_group_on_sigterm
run_test test_oversized_image_not_pulled
if [ -d "$fixtures/osv/Debian" ]; then
    run_test test_database_reloads_when_files_change
    run_test test_database_reloads_on_sighup
else
    echo "skip database reload tests: no $fixtures/osv/Debian (set IMGASSURE_FIXTURES)"
fi

echo "end-to-end: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
