#!/bin/bash
# Tests of dev/stack.sh against the real servers it starts: readiness, the
# env file, a second start, stop (twice), a lost port race, a failed start
# and a start that times out. The last three put a stand-in docker-registry
# first on PATH. Run from the repository root after `make`; skips with a
# printed reason when a server binary is missing.
set -uo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
stack=$repo_root/dev/stack.sh
build_dir=${IMGASSURE_BUILD:-build}
case $build_dir in
/*) ;;
*) build_dir=$repo_root/$build_dir ;;
esac

for program in redis-server redis-cli docker-registry curl; do
    if ! command -v "$program" >/dev/null; then
        echo "skipped: $program not installed (make deps)"
        exit 0
    fi
done
if [ ! -x "$build_dir/imgassure-dev-broker" ]; then
    echo "skipped: $build_dir/imgassure-dev-broker not found (run make first)"
    exit 0
fi

work=$(mktemp -d /tmp/imgassure-stack-test.XXXXXX)
failures=0

cleanup() {
    local directory

    for directory in "$work"/*/; do
        [ -d "$directory/pids" ] && "$stack" stop "$directory" >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT

check() {
    local description=$1
    shift

    if "$@"; then
        echo "ok - $description"
    else
        echo "not ok - $description"
        failures=$((failures + 1))
    fi
}

# Succeeds when something accepts TCP connections on 127.0.0.1:port.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

all_ports_open() {
    local list=$1 address

    for address in ${list//,/ }; do
        port_open "${address##*:}" || return 1
    done
    return 0
}

all_ports_closed() {
    local list=$1 address

    for address in ${list//,/ }; do
        port_open "${address##*:}" && return 1
    done
    return 0
}

file_missing() {
    [ ! -e "$1" ]
}

file_lacks() {
    ! grep -q -- "$1" "$2"
}

directory_empty() {
    [ -z "$(ls -A "$1")" ]
}

process_gone() {
    ! kill -0 "$1" 2>/dev/null
}

output_contains() {
    grep -q -- "$2" <<<"$1"
}

# Installs a stand-in docker-registry in $work/bin. With a number N, its
# first N launches report a lost port race and later ones exec the real
# registry. With "hang", every launch sleeps without responding, and with
# "broken", every launch exits with a configuration error.
install_stand_in() {
    local mode=$1 real

    real=$(command -v docker-registry)
    mkdir -p "$work/bin"
    rm -f "$work/bin/launches"
    cat >"$work/bin/docker-registry" <<EOF
#!/bin/bash
launches=\$(( \$(cat "$work/bin/launches" 2>/dev/null || echo 0) + 1 ))
echo "\$launches" >"$work/bin/launches"
case "$mode" in
hang) exec sleep 300 ;;
broken) echo "configuration error: stand-in registry"; exit 1 ;;
esac
if [ "\$launches" -le "$mode" ]; then
    echo 'level=fatal msg="listen tcp: bind: address already in use"'
    exit 1
fi
exec "$real" "\$@"
EOF
    chmod +x "$work/bin/docker-registry"
}

test_full_start_and_stop() {
    local dir=$work/full output

    output=$("$stack" start "$dir" 2>&1)
    check "start of every component exits 0" [ $? -eq 0 ]
    check "env file written" [ -f "$dir/env" ]
    # shellcheck disable=SC1091 # written by the start above
    . "$dir/env"

    check "IMGASSURE_BROKERS lists three brokers" \
        output_contains "$IMGASSURE_BROKERS" '^127\.0\.0\.1:[0-9]*,127\.0\.0\.1:[0-9]*,127\.0\.0\.1:[0-9]*$'
    check "each broker port accepts connections" \
        all_ports_open "$IMGASSURE_BROKERS"
    check "redis answers PING at IMGASSURE_REDIS_URL" \
        [ "$(redis-cli -u "$IMGASSURE_REDIS_URL" ping)" = PONG ]
    check "registry answers /v2/ at IMGASSURE_REGISTRY" \
        curl -fsS -o /dev/null "http://$IMGASSURE_REGISTRY/v2/"
    check "insecure registries name the registry" \
        [ "$IMGASSURE_INSECURE_REGISTRIES" = "$IMGASSURE_REGISTRY" ]
    check "status lists three running components" \
        [ "$("$stack" status "$dir" | grep -c running)" -eq 3 ]

    output=$("$stack" start "$dir" 2>&1)
    check "second start in the same directory fails" [ $? -ne 0 ]
    check "second start names the running stack" \
        output_contains "$output" "already runs"

    "$stack" stop "$dir" 2>/dev/null
    check "stop exits 0" [ $? -eq 0 ]
    check "stop removes the env file" file_missing "$dir/env"
    check "broker ports closed after stop" all_ports_closed "$IMGASSURE_BROKERS"
    check "redis port closed after stop" all_ports_closed "${IMGASSURE_REDIS_URL#redis://}"
    check "registry port closed after stop" all_ports_closed "$IMGASSURE_REGISTRY"
    "$stack" stop "$dir" 2>/dev/null
    check "second stop exits 0" [ $? -eq 0 ]
}

test_only_redis() {
    local dir=$work/redis-only

    "$stack" start "$dir" redis 2>/dev/null
    check "start of redis alone exits 0" [ $? -eq 0 ]
    check "redis-only env file has the redis URL" grep -q IMGASSURE_REDIS_URL "$dir/env"
    check "redis-only env file has no brokers" \
        file_lacks IMGASSURE_BROKERS "$dir/env"
    "$stack" stop "$dir" 2>/dev/null
}

test_lost_port_race_retried() {
    local dir=$work/retry output

    install_stand_in 2
    output=$(PATH=$work/bin:$PATH "$stack" start "$dir" registry 2>&1)
    check "registry start after two lost port races exits 0" [ $? -eq 0 ]
    check "registry was launched three times" [ "$(cat "$work/bin/launches")" -eq 3 ]
    check "lost port races are reported" output_contains "$output" "attempt 2 of"
    "$stack" stop "$dir" 2>/dev/null
}

test_failed_start_stops_the_rest() {
    local dir=$work/broken output status=0 redis_url

    install_stand_in broken
    output=$(PATH=$work/bin:$PATH "$stack" start "$dir" redis registry 2>&1) || status=$?
    check "start with a broken registry fails" [ "$status" -ne 0 ]
    check "failure names the registry" output_contains "$output" "registry failed to start"
    check "failure prints the registry log tail" \
        output_contains "$output" "configuration error: stand-in registry"
    redis_url=$(grep -o 'redis ready: [0-9.:]*' <<<"$output" | cut -d' ' -f3)
    check "redis was started before the registry" [ -n "$redis_url" ]
    check "redis stopped after the failure" all_ports_closed "$redis_url"
    check "no env file after a failed start" file_missing "$dir/env"
    check "no pid files after a failed start" directory_empty "$dir/pids"
}

test_start_times_out() {
    local dir=$work/hang output status=0 pid

    install_stand_in hang
    output=$(PATH=$work/bin:$PATH IMGASSURE_STACK_TIMEOUT=2 \
        IMGASSURE_STACK_STOP_TIMEOUT=2 "$stack" start "$dir" registry 2>&1) ||
        status=$?
    check "start of a silent registry fails" [ "$status" -ne 0 ]
    check "timeout is reported" output_contains "$output" "no answer on port"
    pid=$(grep -o 'stopped registry (pid [0-9]*' <<<"$output" | grep -o '[0-9]*$')
    check "silent registry was stopped" [ -n "$pid" ]
    check "silent registry process is gone" process_gone "${pid:-0}"
}

test_full_start_and_stop
test_only_redis
test_lost_port_race_retried
test_failed_start_stops_the_rest
test_start_times_out

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
