#!/bin/bash
# Scans a real Debian image end to end on loopback. It starts the embedded
# Kafka broker, Redis and a registry, pushes a minbase bookworm image and
# runs two workers. It publishes one image-seen event as a Kubernetes
# workload would, prints the PENDING_SCAN and SCANNED results and the
# account's images list, then stops everything it started.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_root"
build_dir=${IMGASSURE_BUILD:-build}
timeout_s=${IMGASSURE_DEMO_TIMEOUT_S:-300}
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/imgassure-demo.XXXXXX")
worker_pids=()

cleanup() {
    local status=$?

    for pid in "${worker_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${worker_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ]; then
        for log in "$state_dir"/worker-*.log; do
            [ -f "$log" ] || continue
            echo "--- last lines of $log" >&2
            tail -n 15 "$log" >&2
        done
    fi
    dev/stack.sh stop "$state_dir" >/dev/null 2>&1 || true
    rm -rf "$state_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
    printf '\n== %s\n' "$*"
}

step "building the demo image: mmdebstrap minbase bookworm (cached in .cache/)"
dev/build-image.sh

step "starting the embedded Kafka broker, Redis and a registry on 127.0.0.1"
dev/stack.sh start "$state_dir"
# shellcheck source=/dev/null
. "$state_dir/env"

step "pushing the image to the registry"
dev/push-image.sh "$IMGASSURE_REGISTRY"
image="$IMGASSURE_REGISTRY/demo/debian:bookworm"
digest=$(curl -fsS -o /dev/null -D - \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$IMGASSURE_REGISTRY/v2/demo/debian/manifests/bookworm" |
    tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
echo "image $image digest $digest"

# The vulnerability database: the one the caller names, else the OSV
# fixtures beside the project, else what `make db` downloaded, else none.
fixtures=${IMGASSURE_FIXTURES:-$repo_root/../shared/fixtures}
if [ -n "${IMGASSURE_VULN_DB:-}" ]; then
    database_source="IMGASSURE_VULN_DB"
elif [ -d "$fixtures/osv" ]; then
    export IMGASSURE_VULN_DB="$fixtures/osv"
    [ -d "$fixtures/cve" ] && export IMGASSURE_CVE_DB="$fixtures/cve"
    database_source="the fixtures beside the project"
elif [ -d "$repo_root/.cache/vulndb" ]; then
    export IMGASSURE_VULN_DB="$repo_root/.cache/vulndb"
    database_source="make db's download"
else
    database_source=""
fi

step "starting two workers in one consumer group"
if [ -n "$database_source" ]; then
    echo "vulnerability database: $IMGASSURE_VULN_DB (from $database_source)"
else
    echo "no vulnerability database found: results will say that" \
        "vulnerabilities were not matched (set IMGASSURE_VULN_DB)"
fi
for number in 1 2; do
    # A short session: the embedded broker waits that long on rebalances.
    "$build_dir/imgassure-worker" --worker-id "demo-worker-$number" \
        --session-timeout-ms 6000 2>"$state_dir/worker-$number.log" &
    worker_pids+=($!)
done

step "a Kubernetes workload runs the image: publishing one image-seen event"
"$build_dir/imgassure" seen --account demo --env prod-cluster \
    --kind KUBERNETES --image "$image" --digest "$digest" \
    --workload deployment/web
echo "published"

step "scan results as they arrive (PENDING_SCAN first, then SCANNED)"
"$build_dir/imgassure" results --follow --image "$image" \
    --until-status SCANNED --timeout "$timeout_s"

step "the SCANNED result, in brief (imgassure results --json has every field)"
"$build_dir/imgassure" results --json --image "$image" |
    /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    result = json.loads(line)
    if result["status"] != "SCANNED":
        continue
    os = result["os"] or {}
    print("status      ", result["status"])
    print("os          ", os.get("pretty_name"))
    print("packages    ", result["package_count"])
    print("layers      ", result["layer_count"], "of", result["image_size_bytes"], "bytes")
    print("platform    ", result["image"]["platform"], result["manifest_digest"])
    print("scanned in  ", result["duration_ms"], "ms by", result["worker_id"])
    names = [p["name"] + " " + p["version"] for p in result["packages"][:5]]
    print("first five  ", ", ".join(names))
    if result["vulnerabilities_matched"]:
        counts = result["severity_counts"]
        print("vulnerabilities", result["finding_count"], "level",
              result["vulnerability_level"], "risk", result["risk_score"])
        print("by severity ", ", ".join("%s %d" % (name, counts[name]) for name in
              ("CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN")))
        print("database    ", result["vulnerability_db_version"])
    print("detail      ", result["status_detail"])
'

step "the account's images, as the workers recorded them (imgassure images)"
"$build_dir/imgassure" images --account demo

step "stopping the workers and the stack"
