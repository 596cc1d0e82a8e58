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
