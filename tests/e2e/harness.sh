# Helpers shared by the end-to-end scripts; source it after setting
# state_dir, passed and failed.

# Runs one test function; its output goes to the log unless it fails.
run_test() {
    local name=$1
    local log="$state_dir/test-$name.log"

    if "$name" >"$log" 2>&1; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        sed 's/^/     | /' "$log" | tail -n 30
        failed=$((failed + 1))
    fi
}

fail() {
    echo "assertion failed: $*"
    return 1
}
