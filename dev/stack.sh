#!/bin/bash
# Starts and stops the development stack on 127.0.0.1: the dev Kafka broker
# (librdkafka's mock cluster), redis-server and docker-registry, each on a
# free port, with all state, logs and pid files in one directory.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: dev/stack.sh start DIR [COMPONENT...]
       dev/stack.sh stop DIR
       dev/stack.sh status DIR

start   starts the components (default: broker redis registry) on free
        127.0.0.1 ports with their state in DIR, waits until each answers,
        then writes DIR/env with the IMGASSURE_* exports for them
        (IMGASSURE_BROKERS, IMGASSURE_DEV_BROKER_CONTROL, IMGASSURE_REDIS_URL,
        IMGASSURE_REGISTRY, IMGASSURE_INSECURE_REGISTRIES). The broker's
        fault-injection channel listens at IMGASSURE_DEV_BROKER_CONTROL
        (see imgassure-dev-broker --help). If one fails, the ones already
        started are stopped and the failed one's log tail is printed.
stop    stops every component recorded in DIR/pids: SIGTERM, then SIGKILL
        after IMGASSURE_STACK_STOP_TIMEOUT seconds. Safe to repeat.
status  lists the components recorded in DIR and whether they run.

Environment:
  IMGASSURE_BUILD                where imgassure-dev-broker is, relative to
                                 the repository root unless absolute
                                 (default build)
  IMGASSURE_STACK_TIMEOUT        seconds to wait for each component to
                                 answer (default 30)
  IMGASSURE_STACK_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL
                                 (default 10)
The broker also reads its own IMGASSURE_DEV_* and IMGASSURE_TOPIC_PREFIX
variables (see imgassure-dev-broker --help).
EOF
}

repo_root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${IMGASSURE_BUILD:-build}
case $build_dir in
/*) ;;
*) build_dir=$repo_root/$build_dir ;;
esac
ready_timeout=${IMGASSURE_STACK_TIMEOUT:-30}
stop_timeout=${IMGASSURE_STACK_STOP_TIMEOUT:-10}

all_components="broker redis registry"
# A server that loses its port to another process between the port probe
# and its own bind gets this many fresh ports before the start fails.
port_attempts=5
log_tail_lines=20

say() {
    printf 'stack: %s\n' "$*" >&2
}

die() {
    say "error: $*"
    exit 1
}

usage_error() {
    say "error: $* (see dev/stack.sh --help)"
    exit 2
}

check_number() {
    case $2 in
    '' | *[!0-9]*) usage_error "$1 must be a whole number of seconds, not '$2'" ;;
    esac
}

# The program name each component runs as, checked against /proc before
# any signal is sent, so a pid file left behind after a reboot or pid reuse
# never stops an unrelated process.
program_of() {
    case $1 in
    broker) echo imgassure-dev-broker ;;
    redis) echo redis-server ;;
    registry) echo docker-registry ;;
    esac
}

# Succeeds when pid is a live process. A child of this shell that has
# exited stays a zombie until it is reaped, so zombies count as gone.
is_alive() {
    local pid=$1 state

    state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# Succeeds when pid is a live process running program.
is_running() {
    local pid=$1 program=$2 command_line

    is_alive "$pid" || return 1
    command_line=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    case $command_line in
    *"$program"*) return 0 ;;
    *) return 1 ;;
    esac
}

# Pids this invocation launched, by component: known to be ours whatever
# name the process runs under now.
declare -A launched_pids=()

# Prints the recorded pid of component when that process still runs.
running_pid() {
    local file=$state_dir/pids/$1.pid pid

    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    case $pid in
    '' | *[!0-9]*) return 1 ;;
    esac
    if [ "${launched_pids[$1]:-}" = "$pid" ]; then
        is_alive "$pid" || return 1
    else
        is_running "$pid" "$(program_of "$1")" || return 1
    fi
    echo "$pid"
}

stop_component() {
    local component=$1 pid deadline

    if ! pid=$(running_pid "$component"); then
        rm -f "$state_dir/pids/$component.pid"
        return 0
    fi

    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + stop_timeout))
    while is_alive "$pid"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "$component (pid $pid) ignored SIGTERM for ${stop_timeout}s: sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    # Reaps the process when this shell started it, as on a failed start.
    wait "$pid" 2>/dev/null || true
    rm -f "$state_dir/pids/$component.pid"
    say "stopped $component (pid $pid)"
}

stop_all() {
    local component

    for component in registry redis broker; do
        stop_component "$component"
    done
    rm -f "$state_dir/env"
}

# Prints the failed component's log tail and exits. The exit trap that
# start sets then stops what was already started.
fail_start() {
    local component=$1 reason=$2 log=$state_dir/logs/$1.log

    say "error: $component failed to start: $reason"
    if [ -s "$log" ]; then
        say "last $log_tail_lines lines of $log:"
        tail -n "$log_tail_lines" "$log" >&2
    fi
    exit 1
}

# Waits until check succeeds for the process this shell just launched.
# Returns 0 when ready, 1 when the process exited first and 2 on timeout.
wait_ready() {
    local pid=$1 check=$2 deadline

    deadline=$((SECONDS + ready_timeout))
    while :; do
        if ! is_alive "$pid"; then
            return 1
        fi
        if "$check"; then
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            return 2
        fi
        sleep 0.1
    done
}

# Starts a server in the background with its output appended to its log
# and records its pid. Sets launched_pid.
launch() {
    local component=$1
    shift

    "$@" </dev/null >>"$state_dir/logs/$component.log" 2>&1 &
    launched_pid=$!
    launched_pids[$component]=$launched_pid
    echo "$launched_pid" >"$state_dir/pids/$component.pid"
}

broker_answers() {
    [ -s "$state_dir/broker/bootstrap" ]
}

start_broker() {
    local binary=$build_dir/imgassure-dev-broker status=0

    [ -x "$binary" ] || fail_start broker "$binary not found: run make first"
    mkdir -p "$state_dir/broker"
    rm -f "$state_dir/broker/bootstrap"

    # The broker binds port 0 itself, so it cannot lose a port race.
    launch broker "$binary" --bootstrap-file "$state_dir/broker/bootstrap" \
        --control-file "$state_dir/broker/control"
    wait_ready "$launched_pid" broker_answers || status=$?
    case $status in
    0) ;;
    1) fail_start broker "exited before writing its bootstrap file" ;;
    *) fail_start broker "no bootstrap file after ${ready_timeout}s" ;;
    esac

    brokers=$(cat "$state_dir/broker/bootstrap")
    broker_control=$(cat "$state_dir/broker/control")
    say "broker ready: $brokers (pid $launched_pid)"
}

redis_answers() {
    [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]
}

write_redis_config() {
    cat >"$state_dir/redis/redis.conf" <<EOF
# Written by dev/stack.sh: a throwaway Redis for development and tests.
bind 127.0.0.1
port $port
protected-mode yes
daemonize no
dir $state_dir/redis
logfile ""
save ""
appendonly no
EOF
}

registry_answers() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/v2/" 2>/dev/null
}

write_registry_config() {
    cat >"$state_dir/registry.yml" <<EOF
# Written by dev/stack.sh: a plain-HTTP registry on loopback for tests.
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $state_dir/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
}

# Starts component on a fresh port until it binds one or port_attempts run
# out. Sets port.
start_on_free_port() {
    local component=$1 check=$2 attempt log offset status
    shift 2
    log=$state_dir/logs/$component.log

    for attempt in $(seq 1 "$port_attempts"); do
        port=$("$repo_root/dev/free-port.sh") ||
            fail_start "$component" "no free port on 127.0.0.1"
        "write_${component}_config"
        offset=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))

        launch "$component" "$@"
        status=0
        wait_ready "$launched_pid" "$check" || status=$?
        case $status in
        0) return 0 ;;
        2) fail_start "$component" "no answer on port $port after ${ready_timeout}s" ;;
        esac

        wait "$launched_pid" 2>/dev/null || true
        rm -f "$state_dir/pids/$component.pid"
        if ! grep -qi 'address already in use' < <(tail -c "+$offset" "$log"); then
            fail_start "$component" "exited before answering on port $port"
        fi
        say "$component lost port $port to another process (attempt $attempt of $port_attempts)"
    done
    fail_start "$component" "every one of $port_attempts ports was taken before it could bind"
}

start_redis() {
    command -v redis-server >/dev/null || fail_start redis "redis-server not installed (make deps)"
    mkdir -p "$state_dir/redis"
    start_on_free_port redis redis_answers \
        redis-server "$state_dir/redis/redis.conf"
    redis_port=$port
    say "redis ready: 127.0.0.1:$redis_port (pid $launched_pid)"
}

start_registry() {
    command -v docker-registry >/dev/null ||
        fail_start registry "docker-registry not installed (make deps)"
    mkdir -p "$state_dir/registry"
    start_on_free_port registry registry_answers \
        docker-registry serve "$state_dir/registry.yml"
    registry_port=$port
    say "registry ready: 127.0.0.1:$registry_port (pid $launched_pid)"
}

# Writes DIR/env through a temporary file, so a script that waits for it
# never sources half of it.
write_env() {
    local file=$state_dir/env

    {
        echo "# Written by dev/stack.sh start; removed by dev/stack.sh stop."
        if [ -n "$brokers" ]; then
            echo "export IMGASSURE_BROKERS='$brokers'"
            echo "export IMGASSURE_DEV_BROKER_CONTROL='$broker_control'"
        fi
        if [ -n "$redis_port" ]; then
            echo "export IMGASSURE_REDIS_URL='redis://127.0.0.1:$redis_port'"
        fi
        if [ -n "$registry_port" ]; then
            echo "export IMGASSURE_REGISTRY='127.0.0.1:$registry_port'"
            echo "export IMGASSURE_INSECURE_REGISTRIES='127.0.0.1:$registry_port'"
        fi
    } >"$file.tmp"
    mv "$file.tmp" "$file"
}

# Fails when DIR already has a running component: two stacks in one
# directory would share data and overwrite each other's pid files.
check_not_running() {
    local component pid running=""

    for component in $all_components; do
        if pid=$(running_pid "$component"); then
            running="${running:+$running, }$component=$pid"
        fi
    done
    if [ -n "$running" ]; then
        die "a stack already runs in $state_dir ($running): run dev/stack.sh stop $state_dir first"
    fi
}

start() {
    local components=$* component

    check_number IMGASSURE_STACK_TIMEOUT "$ready_timeout"
    check_number IMGASSURE_STACK_STOP_TIMEOUT "$stop_timeout"
    for component in $components; do
        case " $all_components " in
        *" $component "*) ;;
        *) usage_error "unknown component '$component': expected broker, redis or registry" ;;
        esac
    done

    check_not_running
    mkdir -p "$state_dir/pids" "$state_dir/logs"
    rm -f "$state_dir/env"
    brokers="" broker_control="" redis_port="" registry_port=""

    # A failed start, Ctrl-C or a kill of this script must not leave
    # servers behind.
    start_complete=no
    trap 'if [ "$start_complete" = no ]; then stop_all; fi' EXIT
    trap 'say "interrupted"; exit 130' INT TERM
    for component in $components; do
        "start_$component"
    done
    write_env
    start_complete=yes

    say "started $components; run: . $state_dir/env"
}

status() {
    local component pid

    for component in $all_components; do
        if pid=$(running_pid "$component"); then
            echo "$component running (pid $pid)"
        elif [ -f "$state_dir/pids/$component.pid" ]; then
            echo "$component stopped (stale pid file)"
        fi
    done
}

# Resolves DIR to an absolute path, creating it for start. Paths go into
# YAML and Redis config files unquoted, so whitespace and quotes are
# rejected here.
set_state_dir() {
    local directory=$1 create=$2

    case $directory in
    *[[:space:]\"\'\\]*) usage_error "state directory '$directory' must not contain whitespace, quotes or backslashes" ;;
    esac
    if [ "$create" = yes ]; then
        mkdir -p "$directory"
    elif [ ! -d "$directory" ]; then
        say "$directory does not exist: nothing to do"
        exit 0
    fi
    state_dir=$(cd "$directory" && pwd)
}

main() {
    local command=${1:-}

    case $command in
    -h | --help | help)
        usage
        exit 0
        ;;
    start | stop | status) ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
    if [ $# -lt 2 ]; then
        usage >&2
        exit 2
    fi
    if [ "$command" = start ]; then
        set_state_dir "$2" yes
    else
        set_state_dir "$2" no
    fi
    shift 2

    case $command in
    start)
        if [ $# -eq 0 ]; then
            # shellcheck disable=SC2086 # the list is meant to split into words
            set -- $all_components
        fi
        start "$@"
        ;;
    stop)
        [ $# -eq 0 ] || usage_error "stop takes only the state directory"
        check_number IMGASSURE_STACK_STOP_TIMEOUT "$stop_timeout"
        stop_all
        ;;
    status)
        status
        ;;
    esac
}

main "$@"
