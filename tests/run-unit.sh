#!/bin/sh
# Runs every unit test binary given and prints one summary line. cmocka
# prints each test's own result; a binary that fails or crashes counts once.
set -u

passed=0
failed=0
failed_names=""
for test_binary in "$@"; do
    echo "== $test_binary"
    if "$test_binary"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_names="$failed_names $(basename "$test_binary")"
    fi
done

echo "unit: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
    echo "failed:$failed_names"
    exit 1
fi
