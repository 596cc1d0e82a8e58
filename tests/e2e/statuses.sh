#!/bin/bash
# End-to-end tests of the scan statuses. Each test builds an image or a
# reference with one real cause (a Helm chart, a Windows-only index, a
# closed port, wrong credentials, a token that expires mid-pull, a padded
# package database, a corrupted blob). The worker must report the matching
# status with a specific status_detail. Everything runs on 127.0.0.1: the
# development stack, registries with password, token and TLS
# authentication, and one worker. Prints one line per test and a closing
# "statuses: N passed, N failed" line; exits 1 when a test failed.
set -uo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root" || exit 1
build_dir=${IMGASSURE_BUILD:-build}
imgassure="$build_dir/imgassure"
result_timeout_s=${IMGASSURE_E2E_TIMEOUT_S:-240}
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/imgassure-statuses.XXXXXX")
layout="$repo_root/.cache/images/debian-bookworm-minbase"
worker_pids=()
auth_registry_pid=""
passed=0
failed=0
stall_pid=""
tls_registry_pid=""
token_issuer_pid=""
token_registry_pid=""
delay_proxy_pid=""
token_lifetime_s=3

cleanup() {
    local pid
    for pid in "${worker_pids[@]}" $auth_registry_pid $stall_pid $tls_registry_pid \
        $token_issuer_pid $token_registry_pid $delay_proxy_pid; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${worker_pids[@]}" $auth_registry_pid $stall_pid $tls_registry_pid \
        $token_issuer_pid $token_registry_pid $delay_proxy_pid; do
        wait "$pid" 2>/dev/null || true
    done
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

setup_failed() {
    tail -n 20 "$1"
    echo "statuses: 0 passed, 1 failed"
    exit 1
}

sha256_of() {
    echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"
}

# Uploads a file as a blob of a repository of the dev registry with the
# two-step upload of the distribution API. Prints its digest.
push_blob() {
    local repository=$1 file=$2 digest location separator

    digest=$(sha256_of "$file")
    location=$(curl -fsS -o /dev/null -D - -X POST \
        "http://$IMGASSURE_REGISTRY/v2/$repository/blobs/uploads/" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p') || return 1
    [ -n "$location" ] || fail "no upload location for $repository" || return 1
    case $location in
    /*) location="http://$IMGASSURE_REGISTRY$location" ;;
    esac
    separator='?'
    case $location in
    *'?'*) separator='&' ;;
    esac
    curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
        --data-binary "@$file" "$location${separator}digest=$digest" || return 1
    echo "$digest"
}

# Stores a manifest or index under a tag; prints its digest.
push_manifest() {
    local repository=$1 tag=$2 media_type=$3 file=$4

    curl -fsS -o /dev/null -X PUT -H "Content-Type: $media_type" \
        --data-binary "@$file" \
        "http://$IMGASSURE_REGISTRY/v2/$repository/manifests/$tag" || return 1
    sha256_of "$file"
}

# Prints a descriptor object for a file pushed as digest.
descriptor() {
    local media_type=$1 digest=$2 file=$3
    printf '{"mediaType":"%s","digest":"%s","size":%s}' "$media_type" \
        "$digest" "$(stat -c %s "$file")"
}

# Requests a scan of an image reference, with any further request-scan
# options, and writes the first result of the request to
# $state_dir/<name>.json.
scan_to_file() {
    local name=$1 account=$2 reference=$3 request_id
    local deadline=$((SECONDS + result_timeout_s))
    shift 3

    mark_running "$account" prod "$reference" || return 1
    request_id=$("$imgassure" request-scan --account "$account" --env prod \
        --image "$reference" "$@") || return 1
    echo "request $request_id for $reference"
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$imgassure" results --json --request-id "$request_id" |
            head -n 1 >"$state_dir/$name.json"
        if [ -s "$state_dir/$name.json" ]; then
            cat "$state_dir/$name.json"
            return 0
        fi
        sleep 1
    done
    fail "no result for request $request_id within ${result_timeout_s}s"
}

# Checks the status of a result and that its detail contains every phrase.
expect_status() {
    local name=$1 wanted=$2
    shift 2

    /usr/bin/python3 - "$state_dir/$name.json" "$wanted" "$@" <<'EOF'
import json, sys
result = json.loads(open(sys.argv[1]).readline())
wanted, phrases = sys.argv[2], sys.argv[3:]
detail = result.get("status_detail") or ""
assert result["status"] == wanted, "status %s, expected %s: %s" % (
    result["status"], wanted, detail)
assert detail.strip(), "empty status_detail"
for phrase in phrases:
    assert phrase in detail, "status_detail lacks %r: %s" % (phrase, detail)
assert result["package_count"] == 0, result["package_count"]
print("%s: %s" % (result["status"], detail))
EOF
}

test_helm_chart_is_not_an_image() {
    local work="$state_dir/helm" repository=charts/demo config layer
    mkdir -p "$work/chart/demo/templates" || return 1
    printf 'apiVersion: v2\nname: demo\nversion: 0.1.0\n' >"$work/chart/demo/Chart.yaml"
    printf 'replicaCount: 1\n' >"$work/chart/demo/values.yaml"
    tar -C "$work/chart" -czf "$work/chart.tgz" demo || return 1
    printf '{"name":"demo","version":"0.1.0","apiVersion":"v2"}' >"$work/config.json"

    config=$(push_blob "$repository" "$work/config.json") || return 1
    layer=$(push_blob "$repository" "$work/chart.tgz") || return 1
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
        "$(descriptor application/vnd.cncf.helm.config.v1+json "$config" "$work/config.json")" \
        "$(descriptor application/vnd.cncf.helm.chart.content.v1.tar+gzip "$layer" "$work/chart.tgz")" \
        >"$work/manifest.json"
    push_manifest "$repository" 0.1.0 application/vnd.oci.image.manifest.v1+json \
        "$work/manifest.json" || return 1

    scan_to_file helm status-helm "$IMGASSURE_REGISTRY/$repository:0.1.0" || return 1
    expect_status helm NOT_AN_IMAGE "application/vnd.cncf.helm.config.v1+json" \
        "not a container image"
}

test_cosign_signature_is_not_an_image() {
    local work="$state_dir/cosign" repository=demo/signed config layer
    mkdir -p "$work" || return 1
    printf '{"critical":{"identity":{"docker-reference":"%s/demo/signed"},"image":{"docker-manifest-digest":"sha256:%064d"},"type":"cosign container image signature"},"optional":null}' \
        "$IMGASSURE_REGISTRY" 0 >"$work/payload.json"
    printf '{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
        "$(sha256_of "$work/payload.json")" >"$work/config.json"

    config=$(push_blob "$repository" "$work/config.json") || return 1
    layer=$(push_blob "$repository" "$work/payload.json") || return 1
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
        "$(descriptor application/vnd.oci.image.config.v1+json "$config" "$work/config.json")" \
        "$(descriptor application/vnd.dev.cosign.simplesigning.v1+json "$layer" "$work/payload.json")" \
        >"$work/manifest.json"
    push_manifest "$repository" sha256-0.sig application/vnd.oci.image.manifest.v1+json \
        "$work/manifest.json" || return 1

    scan_to_file cosign status-cosign "$IMGASSURE_REGISTRY/$repository:sha256-0.sig" ||
        return 1
    expect_status cosign NOT_AN_IMAGE "application/vnd.dev.cosign.simplesigning.v1+json" \
        "not a tar layer"
}

# Pushes one Windows image manifest (config and a small layer) and prints
# its index entry.
push_windows_child() {
    local repository=$1 work=$2 os_version=$3 config layer digest
    mkdir -p "$work/rootfs/Files" || return 1
    printf 'MZ\220\0' >"$work/rootfs/Files/app.exe"
    tar -C "$work/rootfs" -cf "$work/layer.tar" Files || return 1
    gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz" || return 1
    printf '{"architecture":"amd64","os":"windows","os.version":"%s","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
        "$os_version" "$(sha256_of "$work/layer.tar")" >"$work/config.json"

    config=$(push_blob "$repository" "$work/config.json") || return 1
    layer=$(push_blob "$repository" "$work/layer.tar.gz") || return 1
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
        "$(descriptor application/vnd.oci.image.config.v1+json "$config" "$work/config.json")" \
        "$(descriptor application/vnd.oci.image.layer.v1.tar+gzip "$layer" "$work/layer.tar.gz")" \
        >"$work/manifest.json"
    digest=$(push_manifest "$repository" "$os_version" \
        application/vnd.oci.image.manifest.v1+json "$work/manifest.json") || return 1
    printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"windows","os.version":"%s"}}' \
        "$digest" "$(stat -c %s "$work/manifest.json")" "$os_version"
}

test_windows_only_index_is_unsupported_os() {
    local work="$state_dir/windows" repository=demo/windows first second
    first=$(push_windows_child "$repository" "$work/ltsc2022" 10.0.20348.2227) || return 1
    second=$(push_windows_child "$repository" "$work/ltsc2019" 10.0.17763.5329) || return 1
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' \
        "$first" "$second" >"$work/index.json"
    push_manifest "$repository" latest application/vnd.oci.image.index.v1+json \
        "$work/index.json" || return 1

    scan_to_file windows status-windows "$IMGASSURE_REGISTRY/$repository:latest" || return 1
    expect_status windows UNSUPPORTED_OS "windows" "no linux/amd64 image in index" \
        "imgassure scans Linux images only"
}

# An index whose linux/amd64 entry is itself an index: the scan follows
# one level of index only.
test_nested_index_is_not_an_image() {
    local work="$state_dir/nested" repository=demo/nested child inner outer
    mkdir -p "$work" || return 1
    child=$(push_windows_child "$repository" "$work/child" 10.0.20348.2227) || return 1
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' \
        "$child" >"$work/inner.json"
    inner=$(push_manifest "$repository" inner application/vnd.oci.image.index.v1+json \
        "$work/inner.json") || return 1
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
        "$inner" "$(stat -c %s "$work/inner.json")" >"$work/outer.json"
    push_manifest "$repository" latest application/vnd.oci.image.index.v1+json \
        "$work/outer.json" || return 1

    scan_to_file nested status-nested "$IMGASSURE_REGISTRY/$repository:latest" || return 1
    expect_status nested NOT_AN_IMAGE "index child $inner is itself an index" \
        "nested indexes are not images"
}

test_scratch_image_is_unsupported_os() {
    local work="$state_dir/scratch" repository=demo/scratch config layer
    mkdir -p "$work/rootfs" || return 1
    # An ELF header is enough to look like a static binary.
    printf '\177ELF\002\001\001\000static binary' >"$work/rootfs/server"
    chmod 755 "$work/rootfs/server"
    tar -C "$work/rootfs" --owner=0 --group=0 -cf "$work/layer.tar" server || return 1
    gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz" || return 1
    printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/server"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
        "$(sha256_of "$work/layer.tar")" >"$work/config.json"

    config=$(push_blob "$repository" "$work/config.json") || return 1
    layer=$(push_blob "$repository" "$work/layer.tar.gz") || return 1
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
        "$(descriptor application/vnd.oci.image.config.v1+json "$config" "$work/config.json")" \
        "$(descriptor application/vnd.oci.image.layer.v1.tar+gzip "$layer" "$work/layer.tar.gz")" \
        >"$work/manifest.json"
    push_manifest "$repository" v1 application/vnd.oci.image.manifest.v1+json \
        "$work/manifest.json" || return 1

    scan_to_file scratch status-scratch "$IMGASSURE_REGISTRY/$repository:v1" || return 1
    expect_status scratch UNSUPPORTED_OS "no operating system found" "os-release"
}

test_stalled_registry_is_timeout() {
    scan_to_file stalled status-stalled "127.0.0.1:$stall_port/demo/debian:bookworm" ||
        return 1
    expect_status stalled TIMEOUT "manifest fetch failed" "IMGASSURE_LOW_SPEED_BYTES_S"
}

test_closed_port_is_network_error() {
    scan_to_file closed status-closed "127.0.0.1:$closed_port/demo/debian:bookworm" ||
        return 1
    expect_status closed NETWORK_ERROR "manifest fetch failed" \
        "check that the workers can reach 127.0.0.1:$closed_port"
}

test_wrong_password_is_unauthorized() {
    scan_to_file wrong-password status-unauthorized \
        "$auth_registry/demo/debian:bookworm" || return 1
    expect_status wrong-password UNAUTHORIZED "manifest fetch failed" \
        "give the workers credentials for $auth_registry"
}

test_corrupted_layer_is_partial() {
    local repository=demo/corrupted layer blob size

    skopeo copy -q --dest-tls-verify=false "oci:$layout:bookworm" \
        "docker://$IMGASSURE_REGISTRY/$repository:bookworm" || return 1
    layer=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$IMGASSURE_REGISTRY/v2/$repository/manifests/bookworm" |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][0]["digest"])') ||
        return 1
    blob="$state_dir/registry/docker/registry/v2/blobs/sha256/${layer:7:2}/${layer#sha256:}/data"
    blob_of_corrupted=$blob
    [ -f "$blob" ] || fail "no blob file $blob" || return 1
    size=$(stat -c %s "$blob")
    cp "$blob" "$state_dir/layer.original" || return 1
    # Same size, different bytes in the middle, so only the digest check
    # can detect the change.
    printf 'corrupted by statuses.sh' |
        dd of="$blob" bs=1 seek=$((size / 2)) conv=notrunc status=none || return 1
    [ "$(stat -c %s "$blob")" -eq "$size" ] || fail "blob size changed" || return 1
    [ "$(sha256_of "$blob")" != "$layer" ] || fail "blob unchanged" || return 1

    scan_to_file corrupted status-corrupted "$IMGASSURE_REGISTRY/$repository:bookworm" ||
        return 1
    expect_status corrupted PARTIAL "$layer" "blob hashes to" \
        "attempt 1 of 3, next attempt at"
}

# The layer corrupted above is repaired in the registry; the scheduled
# retry must scan it to SCANNED without anyone asking.
test_repaired_layer_rescanned_by_itself() {
    local request_id deadline=$((SECONDS + result_timeout_s))

    request_id=$(/usr/bin/python3 -c 'import json, sys
print(json.loads(open(sys.argv[1]).readline())["request_id"])' \
        "$state_dir/corrupted.json") || return 1
    cp "$state_dir/layer.original" "$blob_of_corrupted" || return 1
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$imgassure" results --json --request-id "$request_id" >"$state_dir/repaired.json"
        # The retry may have run once more before the repair landed, so any
        # attempt after the first counts.
        if /usr/bin/python3 -c 'import json, sys
results = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
sys.exit(0 if any(r["status"] == "SCANNED" and r["attempt"] >= 2
                  for r in results) else 1)' "$state_dir/repaired.json"; then
            grep -q "rescheduled request=$request_id attempt=" "$state_dir/worker.log" ||
                fail "no rescheduling line in the worker log"
            return
        fi
        sleep 1
    done
    fail "request $request_id was not rescanned to SCANNED after the repair"
}

# Pushes the demo image under repository:tag and prints its manifest
# digest.
push_demo_image() {
    local repository=$1 tag=$2
    skopeo copy -q --dest-tls-verify=false "oci:$layout:bookworm" \
        "docker://$IMGASSURE_REGISTRY/$repository:$tag" || return 1
    curl -fsS -o /dev/null -D - \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$IMGASSURE_REGISTRY/v2/$repository/manifests/$tag" |
        tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'
}

# Checks a result's status, platform and manifest digest, and for SCANNED
# that it lists packages.
expect_platform() {
    local name=$1 status=$2 platform=$3 manifest=$4
    /usr/bin/python3 - "$state_dir/$name.json" "$status" "$platform" "$manifest" <<'EOF'
import json, sys
result = json.loads(open(sys.argv[1]).readline())
status, platform, manifest = sys.argv[2:5]
assert result["status"] == status, "status %s, expected %s: %s" % (
    result["status"], status, result.get("status_detail"))
assert (result.get("status_detail") or "").strip(), "empty status_detail"
assert result["image"]["platform"] == platform, result["image"]["platform"]
assert result["manifest_digest"] == manifest, result["manifest_digest"]
if status == "SCANNED":
    assert result["package_count"] > 50, result["package_count"]
print("%s %s: %s" % (result["status"], platform, result["status_detail"]))
EOF
}

# An index lists a linux/arm64 image before the linux/amd64 one. The
# result must name the platform the worker chose, both by default and
# when the request names the other one.
test_platform_chosen_from_index_is_named() {
    local work="$state_dir/multi" repository=demo/multi amd64 arm64 config layer
    mkdir -p "$work/rootfs" || return 1
    printf '\177ELF\002\001\001\000arm64 binary' >"$work/rootfs/server"
    tar -C "$work/rootfs" --owner=0 --group=0 -cf "$work/layer.tar" server || return 1
    gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz" || return 1
    printf '{"architecture":"arm64","variant":"v8","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
        "$(sha256_of "$work/layer.tar")" >"$work/config.json"
    config=$(push_blob "$repository" "$work/config.json") || return 1
    layer=$(push_blob "$repository" "$work/layer.tar.gz") || return 1
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
        "$(descriptor application/vnd.oci.image.config.v1+json "$config" "$work/config.json")" \
        "$(descriptor application/vnd.oci.image.layer.v1.tar+gzip "$layer" "$work/layer.tar.gz")" \
        >"$work/arm64.json"
    arm64=$(push_manifest "$repository" arm64 application/vnd.oci.image.manifest.v1+json \
        "$work/arm64.json") || return 1
    amd64=$(push_demo_image "$repository" amd64) || return 1
    [ -n "$amd64" ] || fail "no digest for the amd64 manifest" || return 1
    curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        -o "$work/amd64.json" \
        "http://$IMGASSURE_REGISTRY/v2/$repository/manifests/$amd64" || return 1
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"arm64","variant":"v8","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
        "$arm64" "$(stat -c %s "$work/arm64.json")" "$amd64" \
        "$(stat -c %s "$work/amd64.json")" >"$work/index.json"
    push_manifest "$repository" latest application/vnd.oci.image.index.v1+json \
        "$work/index.json" || return 1

    scan_to_file multi-default platform-default "$IMGASSURE_REGISTRY/$repository:latest" ||
        return 1
    expect_platform multi-default SCANNED linux/amd64 "$amd64" || return 1
    scan_to_file multi-arm64 platform-arm64 "$IMGASSURE_REGISTRY/$repository:latest" \
        --platform linux/arm64/v8 || return 1
    expect_platform multi-arm64 UNSUPPORTED_OS linux/arm64/v8 "$arm64"
}

# The demo image with one more layer whose dpkg status file is larger than
# the worker's --max-kept-file-bytes: the scan must refuse to hold it.
test_oversized_package_database_is_insufficient_resources() {
    local work="$state_dir/padded" repository=demo/padded base config layer
    mkdir -p "$work/rootfs" || return 1
    push_demo_image "$repository" base >/dev/null || return 1
    curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        -o "$work/base.json" "http://$IMGASSURE_REGISTRY/v2/$repository/manifests/base" ||
        return 1
    base=$(/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' "$work/base.json") || return 1
    tar -xzf "$layout/blobs/sha256/${base#sha256:}" -C "$work/rootfs" \
        ./var/lib/dpkg/status || return 1
    # The real stanzas, then one package whose description pads the file
    # past the limit the worker was started with.
    /usr/bin/python3 - "$work/rootfs/var/lib/dpkg/status" "$max_kept_file_bytes" <<'EOF' || return 1
import sys
path, limit = sys.argv[1], int(sys.argv[2])
with open(path, "a") as status:
    status.write("\nPackage: padding\nStatus: install ok installed\n"
                 "Version: 1.0\nArchitecture: all\nDescription: padding\n")
    line = " " + "x" * 78 + "\n"
    for _ in range(limit // len(line) + 1):
        status.write(line)
EOF
    tar -C "$work/rootfs" --owner=0 --group=0 -cf "$work/layer.tar" ./var || return 1
    gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz" || return 1
    config=$(/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["config"]["digest"])' "$work/base.json") || return 1
    curl -fsS -o "$work/base-config.json" \
        "http://$IMGASSURE_REGISTRY/v2/$repository/blobs/$config" || return 1
    /usr/bin/python3 - "$work/base-config.json" "$(sha256_of "$work/layer.tar")" \
        >"$work/config.json" <<'EOF' || return 1
import json, sys
config = json.load(open(sys.argv[1]))
config["rootfs"]["diff_ids"].append(sys.argv[2])
print(json.dumps(config), end="")
EOF
    config=$(push_blob "$repository" "$work/config.json") || return 1
    layer=$(push_blob "$repository" "$work/layer.tar.gz") || return 1
    /usr/bin/python3 - "$work/base.json" "$config" "$(stat -c %s "$work/config.json")" \
        "$layer" "$(stat -c %s "$work/layer.tar.gz")" >"$work/manifest.json" <<'EOF' || return 1
import json, sys
manifest = json.load(open(sys.argv[1]))
manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
manifest["config"]["digest"], manifest["config"]["size"] = sys.argv[2], int(sys.argv[3])
manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                           "digest": sys.argv[4], "size": int(sys.argv[5])})
print(json.dumps(manifest), end="")
EOF
    push_manifest "$repository" padded application/vnd.oci.image.manifest.v1+json \
        "$work/manifest.json" || return 1

    scan_to_file padded status-padded "$IMGASSURE_REGISTRY/$repository:padded" || return 1
    expect_status padded INSUFFICIENT_RESOURCES "layer 2 ($layer)" \
        "var/lib/dpkg/status is $(stat -c %s "$work/rootfs/var/lib/dpkg/status") bytes" \
        "limit of $max_kept_file_bytes bytes" "IMGASSURE_MAX_KEPT_FILE_BYTES"
}

# An account with a credentials file of its own gets into the password
# registry. The account of test_wrong_password_is_unauthorized has none,
# so it falls back to the shared file, whose password is wrong.
test_account_credentials_win_over_shared_file() {
    printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$auth_registry" \
        "$(printf 'user:right' | base64)" >"$auth_dir/own-credentials.json" || return 1
    scan_to_file own-credentials own-credentials "$auth_registry/demo/debian:bookworm" ||
        return 1
    /usr/bin/python3 - "$state_dir/own-credentials.json" <<'EOF'
import json, sys
result = json.loads(open(sys.argv[1]).readline())
assert result["status"] == "SCANNED", "%s: %s" % (result["status"], result["status_detail"])
assert result["package_count"] > 50, result["package_count"]
print(result["status_detail"])
EOF
}

# A per-account credentials file breaks while the worker runs. The scan
# cannot start, which is INTERNAL_ERROR and rescheduled; once the file is
# repaired, the retry scans the image without anyone asking.
test_broken_credentials_file_is_internal_error_then_retried() {
    local request_id deadline=$((SECONDS + result_timeout_s))
    printf '{"auths": {' >"$auth_dir/broken-credentials.json" || return 1

    scan_to_file broken-credentials broken-credentials \
        "$IMGASSURE_REGISTRY/demo/scratch:v1" || return 1
    expect_status broken-credentials INTERNAL_ERROR "registry client setup failed" \
        "$auth_dir/broken-credentials.json is not valid JSON" \
        "attempt 1 of 3, next attempt at" || return 1

    request_id=$(/usr/bin/python3 -c 'import json, sys
print(json.loads(open(sys.argv[1]).readline())["request_id"])' \
        "$state_dir/broken-credentials.json") || return 1
    printf '{"auths": {}}\n' >"$auth_dir/broken-credentials.json" || return 1
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$imgassure" results --json --request-id "$request_id" \
            >"$state_dir/repaired-credentials.json"
        if /usr/bin/python3 -c 'import json, sys
results = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
sys.exit(0 if any(r["status"] == "UNSUPPORTED_OS" and r["attempt"] >= 2
                  for r in results) else 1)' "$state_dir/repaired-credentials.json"; then
            return 0
        fi
        sleep 1
    done
    fail "request $request_id was not retried after the credentials were repaired"
}

# docker-registry with bearer-token authentication from tests/e2e/token_issuer.py,
# whose tokens live token_lifetime_s seconds, behind tests/e2e/delay_proxy.py,
# which holds back the first request for each blob until the token it
# carries has expired. The image is pushed to the registry directly.
start_token_registry() {
    local dir="$state_dir/token-registry" port issuer_port proxy_port deadline
    mkdir -p "$dir" || return 1
    port=$(dev/free-port.sh) || return 1
    issuer_port=$(dev/free-port.sh) || return 1
    proxy_port=$(dev/free-port.sh) || return 1
    token_issuer="127.0.0.1:$issuer_port"
    token_registry="127.0.0.1:$proxy_port"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=statuses-issuer \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null || return 1
    cat >"$dir/config.yml" <<EOF
version: 0.1
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
auth:
  token:
    realm: http://$token_issuer/token
    service: statuses-registry
    issuer: statuses-issuer
    rootcertbundle: $dir/cert.pem
EOF
    /usr/bin/python3 tests/e2e/token_issuer.py "$issuer_port" "$dir/key.pem" \
        "$dir/cert.pem" statuses-issuer statuses-registry token-user:right \
        "$token_lifetime_s" >"$state_dir/token-issuer.log" 2>&1 &
    token_issuer_pid=$!
    docker-registry serve "$dir/config.yml" </dev/null >"$state_dir/token-registry.log" 2>&1 &
    token_registry_pid=$!
    /usr/bin/python3 tests/e2e/delay_proxy.py "$proxy_port" "$port" \
        "$((token_lifetime_s + 2))" >"$state_dir/delay-proxy.log" 2>&1 &
    delay_proxy_pid=$!

    deadline=$((SECONDS + 30))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$token_registry/v2/")" = 401 ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$token_issuer/")" = 404 ]; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
    skopeo copy -q --dest-creds token-user:right --dest-tls-verify=false \
        "oci:$layout:bookworm" "docker://127.0.0.1:$port/demo/debian:bookworm"
}

# Tokens expire while the blobs are held back: the worker must fetch a new
# token on the registry's 401 and finish the scan.
test_token_expired_mid_pull_is_refreshed() {
    local issued_before issued_after
    printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$token_registry" \
        "$(printf 'token-user:right' | base64)" >"$auth_dir/token-user.json" || return 1
    issued_before=$(grep -c '^issued token' "$state_dir/token-issuer.log")

    scan_to_file token-expired token-user "$token_registry/demo/debian:bookworm" ||
        return 1
    /usr/bin/python3 - "$state_dir/token-expired.json" <<'EOF' || return 1
import json, sys
result = json.loads(open(sys.argv[1]).readline())
assert result["status"] == "SCANNED", "%s: %s" % (result["status"], result["status_detail"])
assert result["package_count"] > 50, result["package_count"]
print(result["status_detail"])
EOF
    # The registry refused each held-back blob request, then served it
    # with the next token.
    /usr/bin/python3 - "$state_dir/delay-proxy.log" <<'EOF' || return 1
import sys
refused, served = set(), set()
for line in open(sys.argv[1]):
    method, path, status, delayed = line.split()
    if "/blobs/" not in path:
        continue
    if status == "401" and delayed != "delayed=0s":
        refused.add(path)
    if status == "200" and path in refused:
        served.add(path)
assert refused, "no blob request was refused with an expired token"
assert served == refused, "refused but never served: %s" % (refused - served)
print("%d blobs refused with an expired token, then served" % len(refused))
EOF
    issued_after=$(grep -c '^issued token' "$state_dir/token-issuer.log")
    [ "$((issued_after - issued_before))" -ge 3 ] ||
        fail "only $((issued_after - issued_before)) tokens issued for the scan"
}

test_token_service_refusing_credentials_is_unauthorized() {
    scan_to_file token-refused token-refused "$token_registry/demo/debian:bookworm" ||
        return 1
    expect_status token-refused UNAUTHORIZED "manifest fetch failed" \
        "token service rejected the credentials" \
        "give the workers credentials for $token_registry"
    grep -q '^refused credentials' "$state_dir/token-issuer.log" ||
        fail "the token service was not asked"
}

# A registry of its own that requires a password, on plain HTTP.
# A registry with a self-signed certificate that nothing trusts.
start_tls_registry() {
    local port deadline dir="$state_dir/tls-registry"
    port=$(dev/free-port.sh) || return 1
    tls_registry="127.0.0.1:$port"
    mkdir -p "$dir" || return 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" \
        -out "$dir/cert.pem" 2>/dev/null || return 1
    cat >"$dir/config.yml" <<EOF
version: 0.1
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: $tls_registry
  tls:
    certificate: $dir/cert.pem
    key: $dir/key.pem
EOF
    docker-registry serve "$dir/config.yml" </dev/null >"$state_dir/tls-registry.log" 2>&1 &
    tls_registry_pid=$!
    deadline=$((SECONDS + 30))
    until curl -s -o /dev/null --cacert "$dir/cert.pem" "https://$tls_registry/v2/"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        kill -0 "$tls_registry_pid" 2>/dev/null || return 1
        sleep 0.2
    done
}

test_untrusted_certificate_is_unauthorized() {
    scan_to_file untrusted status-untrusted "$tls_registry/demo/debian:bookworm" ||
        return 1
    expect_status untrusted UNAUTHORIZED "certificate" "trust store"
}

start_auth_registry() {
    local port deadline
    port=$(dev/free-port.sh) || return 1
    auth_registry="127.0.0.1:$port"
    mkdir -p "$state_dir/auth-registry" || return 1
    htpasswd -Bbn user right >"$state_dir/auth-registry/htpasswd" || return 1
    cat >"$state_dir/auth-registry/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $state_dir/auth-registry/data
http:
  addr: $auth_registry
auth:
  htpasswd:
    realm: statuses-test
    path: $state_dir/auth-registry/htpasswd
EOF
    docker-registry serve "$state_dir/auth-registry/config.yml" \
        </dev/null >"$state_dir/auth-registry.log" 2>&1 &
    auth_registry_pid=$!
    deadline=$((SECONDS + 30))
    # Returns 401 to a request without credentials once it listens.
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$auth_registry/v2/")" = 401 ]; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        kill -0 "$auth_registry_pid" 2>/dev/null || return 1
        sleep 0.2
    done
    [ "$(curl -s -o /dev/null -w '%{http_code}' -u user:right "http://$auth_registry/v2/")" = 200 ] ||
        return 1
    skopeo copy -q --dest-creds user:right --dest-tls-verify=false \
        "oci:$layout:bookworm" "docker://$auth_registry/demo/debian:bookworm" || return 1
}

echo "building the test image"
dev/build-image.sh >"$state_dir/build-image.log" 2>&1 ||
    setup_failed "$state_dir/build-image.log"
dev/stack.sh start "$state_dir" >"$state_dir/stack.log" 2>&1 ||
    setup_failed "$state_dir/stack.log"
# shellcheck source=/dev/null
. "$state_dir/env"
start_auth_registry >"$state_dir/auth-setup.log" 2>&1 || {
    cat "$state_dir/auth-registry.log" >>"$state_dir/auth-setup.log"
    setup_failed "$state_dir/auth-setup.log"
}
start_tls_registry >"$state_dir/tls-setup.log" 2>&1 || {
    cat "$state_dir/tls-registry.log" >>"$state_dir/tls-setup.log"
    setup_failed "$state_dir/tls-setup.log"
}
start_token_registry >"$state_dir/token-setup.log" 2>&1 || {
    cat "$state_dir/token-issuer.log" "$state_dir/token-registry.log" \
        >>"$state_dir/token-setup.log"
    setup_failed "$state_dir/token-setup.log"
}
# The shared credentials, wrong for both registries that require them.
printf '{"auths": {"%s": {"auth": "%s"}, "%s": {"auth": "%s"}}}\n' \
    "$auth_registry" "$(printf 'user:wrong' | base64)" \
    "$token_registry" "$(printf 'token-user:wrong' | base64)" >"$state_dir/auth.json"
# A port that was free a moment ago; nothing in this script listens on it.
closed_port=$(dev/free-port.sh) || exit 1

# A registry that starts every response and then stalls.
stall_port=$(dev/free-port.sh) || exit 1
/usr/bin/python3 - "$stall_port" >"$state_dir/stall.log" 2>&1 <<'EOF' &
import socket, sys, threading, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
def stall(connection):
    connection.recv(65536)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: "
                       b"application/vnd.oci.image.manifest.v1+json\r\n"
                       b"Content-Length: 5000\r\n\r\n{")
    time.sleep(600)
deadline = time.time() + 600
while time.time() < deadline:
    connection, _ = server.accept()
    threading.Thread(target=stall, args=(connection,), daemon=True).start()
EOF
stall_pid=$!

# Large enough for the demo image's package database, small enough to pad
# past cheaply.
max_kept_file_bytes=4194304
auth_dir="$state_dir/auth.d"
mkdir -p "$auth_dir" || exit 1
# Without the layer cache: these statuses come from what the registry
# serves, and a layer analysed once (the demo image's, in several tests)
# would otherwise be taken from the cache instead of downloaded.
"$build_dir/imgassure-worker" --worker-id e2e-statuses --session-timeout-ms 6000 \
    --retry-backoff 2 --retry-max-attempts 3 --layer-cache-ttl 0 \
    --auth-file "$state_dir/auth.json" --auth-dir "$auth_dir" \
    --max-kept-file-bytes "$max_kept_file_bytes" \
    --insecure-registries "$IMGASSURE_REGISTRY,$auth_registry,127.0.0.1:$closed_port,127.0.0.1:$stall_port,$token_registry,$token_issuer" \
    --low-speed-limit 100 --low-speed-window 8 \
    2>>"$state_dir/worker.log" &
worker_pids+=($!)

run_test test_helm_chart_is_not_an_image
run_test test_cosign_signature_is_not_an_image
run_test test_windows_only_index_is_unsupported_os
run_test test_nested_index_is_not_an_image
run_test test_scratch_image_is_unsupported_os
run_test test_broken_credentials_file_is_internal_error_then_retried
run_test test_platform_chosen_from_index_is_named
run_test test_oversized_package_database_is_insufficient_resources
run_test test_closed_port_is_network_error
run_test test_wrong_password_is_unauthorized
run_test test_account_credentials_win_over_shared_file
run_test test_token_expired_mid_pull_is_refreshed
run_test test_token_service_refusing_credentials_is_unauthorized
run_test test_stalled_registry_is_timeout
run_test test_untrusted_certificate_is_unauthorized
run_test test_corrupted_layer_is_partial
run_test test_repaired_layer_rescanned_by_itself

echo "statuses: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
