#!/bin/bash
# End-to-end tests of `imgassure scan SOURCE`. The real demo image is read
# from its OCI layout, from a layout with a nested index, from a docker
# save archive (plain and gzipped) and from a registry. Each scan is
# matched against the OSV fixtures, and one is published to the embedded
# broker. Everything runs on 127.0.0.1. Prints one line per test and a closing "scan command:
# N passed, N failed" line; exits 1 when a test failed.
set -uo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root" || exit 1
build_dir=${IMGASSURE_BUILD:-build}
imgassure="$build_dir/imgassure"
fixtures=${IMGASSURE_FIXTURES:-$repo_root/../shared/fixtures}
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/imgassure-scan-cli.XXXXXX")
layout="$repo_root/.cache/images/debian-bookworm-minbase"
packages_tsv="$layout/packages.tsv"
passed=0
failed=0

cleanup() {
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

database=(--vuln-db "$fixtures/osv" --cve-db "$fixtures/cve")

# Scans SOURCE with --json into $state_dir/scan.json; prints the exit code.
scan_json() {
    local source=$1
    shift
    "$imgassure" scan "$source" --json "${database[@]}" "$@" \
        >"$state_dir/scan.json" 2>"$state_dir/scan.err"
    echo $?
}

# Checks the scan of the demo image: OS, packages equal to what dpkg-query
# listed when the image was built, and the findings the fixtures give.
check_demo_result() {
    /usr/bin/python3 - "$state_dir/scan.json" "$packages_tsv" "$1" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
expected = set()
for line in open(sys.argv[2]):
    fields = line.rstrip("\n").split("\t")
    if fields and fields[0] == "installed":
        expected.add((fields[1], fields[2]))
scanned = {(p["name"], p["version"]) for p in result["packages"]}
assert result["status"] == "SCANNED", result["status_detail"]
assert result["source"] == sys.argv[3], result["source"]
assert result["os"]["id"] == "debian", result["os"]
assert result["os"]["version_id"] == "12", result["os"]
assert len(expected) > 50, "dpkg-query listed only %d packages" % len(expected)
assert scanned == expected, "differs from dpkg-query: missing %s, extra %s" % (
    sorted(expected - scanned)[:5], sorted(scanned - expected)[:5])
assert result["package_count"] == len(expected), result["package_count"]
assert result["image"]["environment_kind"] == "SHIFTLEFT", result["image"]
assert result["image"]["platform"] == "linux/amd64", result["image"]
assert result["manifest_digest"].startswith("sha256:"), result["manifest_digest"]
assert result["vulnerabilities_matched"] is True, result["status_detail"]
assert result["finding_count"] == len(result["findings"]) > 0
assert ("CVE-2023-4641", "login") in {(f["id"], f["package"]) for f in result["findings"]}
assert result["vulnerability_db_version"].startswith("osv-")
print("%d packages, %d findings" % (len(scanned), result["finding_count"]))
EOF
}

test_oci_layout_scanned() {
    local status
    status=$(scan_json "oci:$layout")
    [ "$status" -eq 0 ] || fail "exit $status: $(cat "$state_dir/scan.err")"
    check_demo_result "oci:$layout"
}

test_oci_layout_with_nested_index_scanned_by_tag() {
    local status
    status=$(scan_json "oci:$state_dir/nested:nested")
    [ "$status" -eq 0 ] || fail "exit $status: $(cat "$state_dir/scan.err")"
    check_demo_result "oci:$state_dir/nested:nested"
}

test_docker_archive_scanned() {
    local status
    status=$(scan_json "docker-archive:$state_dir/demo.tar")
    [ "$status" -eq 0 ] || fail "exit $status: $(cat "$state_dir/scan.err")"
    check_demo_result "docker-archive:$state_dir/demo.tar"
}

test_gzipped_docker_archive_scanned() {
    local status
    status=$(scan_json "docker-archive:$state_dir/demo.tar.gz")
    [ "$status" -eq 0 ] || fail "exit $status: $(cat "$state_dir/scan.err")"
    check_demo_result "docker-archive:$state_dir/demo.tar.gz"
}

test_registry_image_scanned() {
    local status
    status=$(scan_json "$IMGASSURE_REGISTRY/demo/debian:bookworm")
    [ "$status" -eq 0 ] || fail "exit $status: $(cat "$state_dir/scan.err")"
    check_demo_result "$IMGASSURE_REGISTRY/demo/debian:bookworm"
}

test_fail_on_sets_the_exit_code() {
    local status
    # The fixtures rate two findings MEDIUM and none HIGH or CRITICAL.
    "$imgassure" scan "oci:$layout" "${database[@]}" --fail-on MEDIUM >"$state_dir/table.txt"
    status=$?
    [ "$status" -eq 1 ] || fail "--fail-on MEDIUM: exit $status, expected 1"
    grep -q "SCANNED" "$state_dir/table.txt" || fail "no table: $(cat "$state_dir/table.txt")"
    "$imgassure" scan "oci:$layout" "${database[@]}" --fail-on HIGH >/dev/null
    status=$?
    [ "$status" -eq 0 ] || fail "--fail-on HIGH: exit $status, expected 0"
    # Without CVE records most Debian findings are unrated, which HIGH
    # cannot judge: the command must say so.
    "$imgassure" scan "oci:$layout" --vuln-db "$fixtures/osv" --fail-on HIGH \
        >/dev/null 2>"$state_dir/unrated.txt"
    grep -q "findings have no severity rating" "$state_dir/unrated.txt" ||
        fail "no warning about unrated findings: $(cat "$state_dir/unrated.txt")"
    "$imgassure" scan "oci:$layout" "${database[@]}" --fail-on SEVERE 2>/dev/null
    status=$?
    [ "$status" -eq 2 ] || fail "--fail-on SEVERE: exit $status, expected 2"
    "$imgassure" scan "oci:$layout" --fail-on HIGH 2>"$state_dir/usage.txt"
    status=$?
    [ "$status" -eq 2 ] || fail "--fail-on without a database: exit $status, expected 2"
    grep -q "vuln-db" "$state_dir/usage.txt" || fail "unclear: $(cat "$state_dir/usage.txt")"
    "$imgassure" scan --json 2>/dev/null
    status=$?
    [ "$status" -eq 2 ] || fail "no SOURCE: exit $status, expected 2"
}

# A database without the image's ecosystem cannot show that the image is
# clean, so the result must report "not matched" and --fail-on must fail.
test_database_without_the_ecosystem_is_not_matched() {
    local status
    status=$(scan_json "oci:$layout" --vuln-db "$fixtures/osv/Alpine")
    [ "$status" -eq 0 ] || fail "exit $status: $(cat "$state_dir/scan.err")" || return 1
    /usr/bin/python3 - "$state_dir/scan.json" <<'EOF2'
import json, sys
result = json.load(open(sys.argv[1]))
assert result["vulnerabilities_matched"] is False, result["status_detail"]
assert "no advisories for Debian:12" in result["status_detail"], result["status_detail"]
EOF2
    [ $? -eq 0 ] || return 1
    "$imgassure" scan "oci:$layout" --vuln-db "$fixtures/osv/Alpine" --fail-on HIGH \
        >/dev/null 2>&1
    status=$?
    [ "$status" -eq 3 ] || fail "--fail-on with an Alpine-only database: exit $status, expected 3"
}

test_corrupted_layer_reported() {
    local status layer
    cp -r "$layout" "$state_dir/corrupt" || return 1
    layer=$(/usr/bin/python3 -c '
import json, sys
index = json.load(open(sys.argv[1] + "/index.json"))
manifest = index["manifests"][0]["digest"].split(":")[1]
print(json.load(open(sys.argv[1] + "/blobs/sha256/" + manifest))["layers"][0]["digest"].split(":")[1])
' "$state_dir/corrupt") || return 1
    # Same size, one byte changed near the end.
    printf 'X' | dd of="$state_dir/corrupt/blobs/sha256/$layer" bs=1 \
        seek=$(($(stat -c %s "$state_dir/corrupt/blobs/sha256/$layer") - 100)) \
        conv=notrunc status=none || return 1
    status=$(scan_json "oci:$state_dir/corrupt")
    [ "$status" -eq 3 ] || fail "exit $status, expected 3"
    /usr/bin/python3 - "$state_dir/scan.json" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
assert result["status"] == "PARTIAL", result["status"]
assert "hashes to" in result["status_detail"], result["status_detail"]
assert "damaged" in result["status_detail"], result["status_detail"]
print(result["status_detail"])
EOF
}

# The walk stops at a package database over the kept-file limit while the
# layer is still being written into the pipe: the command must report
# that, not die of SIGPIPE.
test_oversized_package_database_reported() {
    local status
    /usr/bin/python3 - "$state_dir/oversized" <<'EOF' || return 1
import gzip, hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
os.makedirs(os.path.join(root, "blobs", "sha256"))
def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    open(os.path.join(root, "blobs", "sha256", digest), "wb").write(data)
    return "sha256:" + digest
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as tar:
    for name, data in [("etc/os-release", b"ID=debian\nVERSION_ID=12\n"),
                       ("var/lib/dpkg/status", b"Package: a\n" * (7 << 20))]:
        entry = tarfile.TarInfo(name)
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
raw = layer.getvalue()
compressed = gzip.compress(raw, 1)
config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {
    "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}}).encode()
manifest = json.dumps({"schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": blob(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": blob(compressed), "size": len(compressed)}]}).encode()
json.dump({"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": blob(manifest), "size": len(manifest)}]},
    open(os.path.join(root, "index.json"), "w"))
open(os.path.join(root, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
EOF
    status=$(scan_json "oci:$state_dir/oversized")
    [ "$status" -eq 3 ] || fail "exit $status, expected 3: $(cat "$state_dir/scan.err")"
    /usr/bin/python3 - "$state_dir/scan.json" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
assert result["status"] == "INSUFFICIENT_RESOURCES", result["status"]
assert "var/lib/dpkg/status" in result["status_detail"], result["status_detail"]
print(result["status_detail"])
EOF
    [ $? -eq 0 ] || return 1
    # Under a raised limit the database is read, and its repeated Package
    # fields make it unreadable.
    status=$(scan_json "oci:$state_dir/oversized" --max-kept-file-bytes 134217728)
    [ "$status" -eq 3 ] || fail "exit $status, expected 3: $(cat "$state_dir/scan.err")"
    grep -q '"status":"PARTIAL"' "$state_dir/scan.json" || fail "$(cat "$state_dir/scan.json")"
}

test_unreadable_archive_is_a_scan_failure() {
    local status
    printf 'not a tar' >"$state_dir/bad.tar"
    "$imgassure" scan "docker-archive:$state_dir/bad.tar" 2>"$state_dir/err.txt"
    status=$?
    [ "$status" -eq 3 ] || fail "exit $status, expected 3"
    grep -q "bad.tar" "$state_dir/err.txt" || fail "unclear: $(cat "$state_dir/err.txt")"
    cat "$state_dir/err.txt"
}

test_published_result_read_back() {
    local status request_id name="$IMGASSURE_REGISTRY/ci/demo:build-1"
    status=$(scan_json "docker-archive:$state_dir/demo.tar" \
        --brokers "$brokers" --account e2e-ci --env pipeline \
        --image "$name")
    [ "$status" -eq 0 ] || fail "exit $status: $(cat "$state_dir/scan.err")"
    request_id=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["request_id"])' \
        "$state_dir/scan.json") || return 1

    "$imgassure" results --brokers "$brokers" --json --request-id "$request_id" >"$state_dir/published.json" || return 1
    /usr/bin/python3 - "$state_dir/published.json" "$state_dir/scan.json" <<'EOF'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
printed = json.load(open(sys.argv[2]))
assert len(lines) == 1, "%d results published" % len(lines)
result = lines[0]
assert result["status"] == "SCANNED", result["status"]
assert result["image"]["environment_kind"] == "SHIFTLEFT", result["image"]
assert result["image"]["account"] == "e2e-ci", result["image"]
assert result["image"]["repository"] == "ci/demo", result["image"]
assert result["image"]["tag"] == "build-1", result["image"]
assert result["package_count"] == printed["package_count"]
assert result["finding_count"] == printed["finding_count"]
EOF
    [ $? -eq 0 ] || return 1
    kcat -b "$brokers" -C -t imgassure.images.seen -e -q -f '%k %s\n' \
        >"$state_dir/seen.txt" 2>/dev/null || return 1
    grep -q "^e2e-ci/pipeline/" "$state_dir/seen.txt" || fail "no image-seen event for e2e-ci"
    kcat -b "$brokers" -C -t imgassure.images.seen -c 1 -e -q -f '%s' \
        >"$state_dir/seen.avro" 2>/dev/null || return 1
    # Avro writes the kind as its symbol's index: read event_id, then the
    # image's account and environment_id, then the kind.
    /usr/bin/python3 - "$state_dir/seen.avro" schemas/ImageSeen.v1.avsc <<'EOF' ||
import json, sys
data = open(sys.argv[1], "rb").read()
def find_enum(node):
    if isinstance(node, dict):
        if node.get("name") == "EnvironmentKind":
            return node["symbols"]
        node = list(node.values())
    for child in node if isinstance(node, list) else []:
        found = find_enum(child)
        if found:
            return found
symbols = find_enum(json.load(open(sys.argv[2])))
position = 10  # C3 01 and the schema fingerprint
def read_long():
    global position
    shift = value = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return (value >> 1) ^ -(value & 1)
for field in ("event_id", "account", "environment_id"):
    length = read_long()
    position += length
kind = symbols[read_long()]
assert kind == "SHIFTLEFT", kind
EOF
        fail "the image-seen event is not SHIFTLEFT"
    ! grep -q "$state_dir" "$state_dir/seen.txt" || fail "an event names the local path"
}

# With --redis-url the published result becomes the image's state, and a
# worker that reads the SHIFTLEFT image-seen event records the sighting
# without pulling the image again.
test_published_state_and_no_worker_pull() {
    local status key worker_pid name="$IMGASSURE_REGISTRY/ci/demo:build-2"
    IMGASSURE_BROKERS=$brokers "$build_dir/imgassure-worker" \
        --worker-id scan-cli-worker --session-timeout-ms 6000 \
        2>"$state_dir/worker.log" &
    worker_pid=$!
    status=$(scan_json "docker-archive:$state_dir/demo.tar" \
        --brokers "$brokers" --redis-url "$IMGASSURE_REDIS_URL" \
        --account e2e-state --env pipeline --image "$name")
    [ "$status" -eq 0 ] || fail "exit $status: $(cat "$state_dir/scan.err")" || {
        kill "$worker_pid"
        return 1
    }
    key=$(redis-cli -u "$IMGASSURE_REDIS_URL" --scan --pattern 'imgassure:{e2e-state}:image:pipeline:*')
    [ -n "$key" ] || fail "no state hash for the published image" || {
        kill "$worker_pid"
        return 1
    }
    for _ in $(seq 1 150); do
        [ -n "$(redis-cli -u "$IMGASSURE_REDIS_URL" HGET "$key" last_seen_ms)" ] && break
        sleep 0.2
    done
    kill -TERM "$worker_pid"
    wait "$worker_pid"
    [ -n "$(redis-cli -u "$IMGASSURE_REDIS_URL" HGET "$key" last_seen_ms)" ] ||
        fail "the worker did not record the SHIFTLEFT sighting" || return 1
    [ "$(redis-cli -u "$IMGASSURE_REDIS_URL" HGET "$key" status)" = SCANNED ] ||
        fail "state status: $(redis-cli -u "$IMGASSURE_REDIS_URL" HGET "$key" status)" || return 1
    [ -n "$(redis-cli -u "$IMGASSURE_REDIS_URL" HGET "$key" last_scanned)" ] ||
        fail "the SCANNED result was not kept as last_scanned" || return 1
    kcat -b "$brokers" -C -t imgassure.scan.requests -e -q -f '%k\n' \
        >"$state_dir/requests.txt" 2>/dev/null || return 1
    ! grep -q "^e2e-state/" "$state_dir/requests.txt" ||
        fail "a worker requested a pull of a SHIFTLEFT image"
}

test_unreachable_broker_exits_4() {
    local status port
    port=$(dev/free-port.sh) || return 1
    "$imgassure" scan "oci:$layout" --brokers "127.0.0.1:$port" --timeout-ms 2000 \
        --account e2e-ci --env pipeline --image "$IMGASSURE_REGISTRY/ci/demo:1" \
        >"$state_dir/table.txt" 2>"$state_dir/err.txt"
    status=$?
    [ "$status" -eq 4 ] || fail "exit $status, expected 4"
    grep -q "SCANNED" "$state_dir/table.txt" || fail "the result was not printed first"
    grep -q "not published" "$state_dir/err.txt" || fail "unclear: $(cat "$state_dir/err.txt")"
}

test_local_image_without_name_is_not_published() {
    local status
    "$imgassure" scan "oci:$layout" --brokers "$brokers" \
        --account e2e-ci --env pipeline 2>"$state_dir/err.txt" >/dev/null
    status=$?
    [ "$status" -eq 2 ] || fail "exit $status, expected 2"
    grep -q -- "--image" "$state_dir/err.txt" || fail "unclear: $(cat "$state_dir/err.txt")"
}

test_events_cannot_name_local_sources() {
    local status
    "$imgassure" seen --account e2e-ci --env pipeline --kind SHIFTLEFT \
        --image "docker-archive:$state_dir/demo.tar" --brokers "$brokers" \
        2>"$state_dir/err.txt"
    status=$?
    [ "$status" -eq 2 ] || fail "exit $status, expected 2"
    grep -q "invalid image reference" "$state_dir/err.txt" || fail "$(cat "$state_dir/err.txt")"
}

test_help_documents_sources_and_exit_codes() {
    "$imgassure" scan --help >"$state_dir/help.txt" || return 1
    grep -q "docker-archive:PATH" "$state_dir/help.txt" || fail "no docker-archive in --help"
    grep -q "oci:DIR" "$state_dir/help.txt" || fail "no oci: in --help"
    grep -q "exit status" "$state_dir/help.txt" || fail "no exit codes in --help"
    grep -q -- "--fail-on" "$state_dir/help.txt" || fail "no --fail-on in --help"
}

# Writes an OCI layout whose index.json names an index, which names the
# demo image's manifest: the shape of a multi-platform layout.
write_nested_layout() {
    cp -r "$layout" "$state_dir/nested" && rm -f "$state_dir/nested/packages.tsv" &&
        /usr/bin/python3 - "$state_dir/nested" <<'EOF'
import hashlib, json, os, sys
root = sys.argv[1]
top = json.load(open(os.path.join(root, "index.json")))
child = dict(top["manifests"][0])
child.pop("annotations", None)
child["platform"] = {"os": "linux", "architecture": "amd64"}
nested = json.dumps({"schemaVersion": 2,
                     "mediaType": "application/vnd.oci.image.index.v1+json",
                     "manifests": [child]}).encode()
digest = hashlib.sha256(nested).hexdigest()
open(os.path.join(root, "blobs", "sha256", digest), "wb").write(nested)
json.dump({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.index.v1+json",
     "digest": "sha256:" + digest, "size": len(nested),
     "annotations": {"org.opencontainers.image.ref.name": "nested"}}]},
    open(os.path.join(root, "index.json"), "w"))
EOF
}

if [ ! -d "$fixtures/osv" ]; then
    echo "skip scan command tests: no $fixtures/osv (set IMGASSURE_FIXTURES)"
    echo "scan command: 0 passed, 0 failed"
    exit 0
fi
dev/build-image.sh >"$state_dir/build-image.log" 2>&1 || {
    tail -n 20 "$state_dir/build-image.log"
    echo "scan command: 0 passed, 1 failed"
    exit 1
}
dev/stack.sh start "$state_dir" broker registry redis >"$state_dir/stack.log" 2>&1 || {
    tail -n 20 "$state_dir/stack.log"
    echo "scan command: 0 passed, 1 failed"
    exit 1
}
# shellcheck source=/dev/null
. "$state_dir/env"
# Only the tests that publish name the broker.
brokers=$IMGASSURE_BROKERS
unset IMGASSURE_BROKERS
{
    dev/push-image.sh "$IMGASSURE_REGISTRY" &&
        skopeo copy -q "oci:$layout:bookworm" "docker-archive:$state_dir/demo.tar" &&
        gzip -c "$state_dir/demo.tar" >"$state_dir/demo.tar.gz" &&
        write_nested_layout
} >"$state_dir/sources.log" 2>&1 || {
    tail -n 20 "$state_dir/sources.log"
    echo "scan command: 0 passed, 1 failed"
    exit 1
}

run_test test_help_documents_sources_and_exit_codes
run_test test_oci_layout_scanned
run_test test_oci_layout_with_nested_index_scanned_by_tag
run_test test_docker_archive_scanned
run_test test_gzipped_docker_archive_scanned
run_test test_registry_image_scanned
run_test test_fail_on_sets_the_exit_code
run_test test_database_without_the_ecosystem_is_not_matched
run_test test_corrupted_layer_reported
run_test test_oversized_package_database_reported
run_test test_unreadable_archive_is_a_scan_failure
run_test test_published_result_read_back
run_test test_published_state_and_no_worker_pull
run_test test_unreachable_broker_exits_4
run_test test_local_image_without_name_is_not_published
run_test test_events_cannot_name_local_sources

echo "scan command: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
