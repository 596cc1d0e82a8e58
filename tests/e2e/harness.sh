# Helpers shared by the end-to-end scripts; source it after setting
# state_dir, passed and failed.

# Runs one test function; its output goes to the log unless it fails. A
# test fails when it returns non-zero or when any fail call ran, so a
# check in the middle of a test counts as much as its last command.
run_test() {
    local name=$1
    local log="$state_dir/test-$name.log"

    assertion_failed=0
    if "$name" >"$log" 2>&1 && [ "$assertion_failed" -eq 0 ]; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        sed 's/^/     | /' "$log" | tail -n 30
        failed=$((failed + 1))
    fi
}

fail() {
    assertion_failed=1
    echo "assertion failed: $*"
    return 1
}

# Writes to Redis what a worker records for an image that a Kubernetes
# workload runs now (state hash, seen set, environment, running digest),
# so that request-scan, which refuses images never seen or inactive,
# accepts it. Usage: mark_running ACCOUNT ENV REGISTRY/REPOSITORY:TAG
# [DIGEST]; needs IMGASSURE_REDIS_URL.
mark_running() {
    local account=$1 environment=$2 reference=$3 digest=${4:-}
    local registry=${reference%%/*} rest=${reference#*/}
    local repository=${rest%:*} tag=${rest##*:} now member
    now=$(date +%s%3N)
    member=${digest:-$registry/$repository:$tag}

    redis-cli -u "$IMGASSURE_REDIS_URL" HSET \
        "imgassure:{$account}:image:$environment:$member" \
        environment_kind KUBERNETES registry "$registry" \
        repository "$repository" tag "$tag" digest "$digest" \
        last_seen_ms "$now" last_running_ms "$now" >/dev/null || return 1
    redis-cli -u "$IMGASSURE_REDIS_URL" ZADD \
        "imgassure:{$account}:seen:$environment" "$now" "$member" >/dev/null &&
        redis-cli -u "$IMGASSURE_REDIS_URL" HSET \
            "imgassure:{$account}:environments" "$environment" KUBERNETES \
            >/dev/null || return 1
    [ -z "$digest" ] || redis-cli -u "$IMGASSURE_REDIS_URL" ZADD \
        "imgassure:{$account}:running" "$now" "$digest" >/dev/null
}
