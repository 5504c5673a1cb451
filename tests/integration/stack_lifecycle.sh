#!/usr/bin/env bash
# tests/integration/stack_lifecycle.sh — scripts/stack.sh keeps its contract:
# parallel stacks get different ports, stop is idempotent and leaves no
# process, a failed start leaves nothing running, the watchdog stops a stack
# whose owner died, `run` passes CMD's status through and cleans up.
# Uses the mock cluster (a fraction of a second per stack), so it does not
# depend on the kind of the shared stack that tests/run.sh started.
# shellcheck disable=SC2317 # the checks are called through check()
set -u
cd "$(dirname "$0")/../.." || exit 1
export BITMON_STACK_KAFKA=mock
scale=${BITMON_TEST_TIMEOUT_SCALE:-1}
failed=0
why=
tmp=$(mktemp -d -t bitmon-lifecycle.XXXXXX)
cleanup() {
        local d
        for d in "$tmp"/s*; do
                [ -d "$d" ] && scripts/stack.sh stop "$d" >/dev/null 2>&1
        done
        rm -rf "$tmp"
}
trap cleanup EXIT

check() {
        why="$2 failed"
        if "$2"; then
                echo "ok $1"
        else
                echo "FAIL $1: $why"
                failed=1
        fi
}

envget() { sed -n "s/^$2=//p" "$1/env" 2>/dev/null; }
# The pids a stack recorded, one a line.
pids_of() { cat "$1"/*.pid 2>/dev/null | cut -d' ' -f1; }
# True while any of the given pids runs (zombies count as gone).
any_alive() {
        local p
        for p in "$@"; do
                [ -r "/proc/$p/stat" ] || continue
                grep -q '^[0-9]* (.*) Z' "/proc/$p/stat" || return 0
        done
        return 1
}

parallel_ports() {
        local pids=() i
        for i in 1 2 3; do
                scripts/stack.sh start "$tmp/s$i" 2>"$tmp/start$i.err" &
                pids+=($!)
        done
        for i in 0 1 2; do
                wait "${pids[$i]}" || {
                        why="parallel start $((i + 1)) failed: $(tail -n 2 "$tmp/start$((i + 1)).err")"
                        return 1
                }
        done
        local all
        all=$(for i in 1 2 3; do envget "$tmp/s$i" BITMON_TEST_REDIS; envget "$tmp/s$i" BITMON_TEST_KAFKA | tr ',' '\n'; done)
        why="three parallel stacks share a port: $(echo "$all" | tr '\n' ' ')"
        [ "$(echo "$all" | sort | uniq -d | wc -l)" -eq 0 ] && [ "$(echo "$all" | wc -l)" -eq 6 ]
}

env_complete() {
        local k
        for k in BITMON_TEST_REDIS BITMON_TEST_KAFKA BITMON_TEST_KAFKA_KIND BITMON_TEST_STACK_DIR \
                BITMON_TEST_REDIS_PID BITMON_TEST_KAFKA_PID; do
                why="$k missing from DIR/env"
                [ -n "$(envget "$tmp/s1" "$k")" ] || return 1
        done
        why="BITMON_TEST_KAFKA_KIND is '$(envget "$tmp/s1" BITMON_TEST_KAFKA_KIND)', not mock"
        [ "$(envget "$tmp/s1" BITMON_TEST_KAFKA_KIND)" = mock ] || return 1
        why="BITMON_TEST_STACK_DIR does not name the stack's dir"
        [ "$(envget "$tmp/s1" BITMON_TEST_STACK_DIR)" = "$(cd "$tmp/s1" && pwd)" ]
}

stop_clean() {
        local pids
        mapfile -t pids < <(pids_of "$tmp/s1")
        why="the stack recorded fewer than 3 processes (${pids[*]})"
        [ "${#pids[@]}" -ge 3 ] || return 1
        if ! scripts/stack.sh stop "$tmp/s1" 2>"$tmp/stop.err"; then
                why="stop failed: $(tail -n 2 "$tmp/stop.err")"
                return 1
        fi
        why="processes still running after stop: ${pids[*]}"
        ! any_alive "${pids[@]}" || return 1
        why="DIR/env still there after stop"
        [ ! -e "$tmp/s1/env" ]
}

stop_idempotent() {
        why="a second stop failed"
        scripts/stack.sh stop "$tmp/s1" && scripts/stack.sh stop "$tmp/nonexistent" || return 1
        why="status says a stopped stack runs"
        ! scripts/stack.sh status "$tmp/s1" >/dev/null
}

watchdog_stops() {
        local pids i
        # The owner is a shell that starts the stack and exits at once.
        bash -c "scripts/stack.sh start '$tmp/s4' && true" 2>/dev/null || {
                why="start for the watchdog check failed"
                return 1
        }
        mapfile -t pids < <(pids_of "$tmp/s4")
        for ((i = 0; i < 100 * scale; i++)); do
                any_alive "${pids[@]}" || return 0
                sleep 0.1
        done
        why="the stack of a dead owner still runs after $((10 * scale)) s: ${pids[*]}"
        return 1
}

failed_start_clean() {
        local rc redis
        BITMON_STACK_KAFKA=nonsense scripts/stack.sh start "$tmp/s5" 2>"$tmp/bad.err"
        rc=$?
        why="start with a bad setting exited 0"
        [ "$rc" -ne 0 ] || return 1
        why="the reason is not named: $(cat "$tmp/bad.err")"
        grep -q "BITMON_STACK_KAFKA must be" "$tmp/bad.err" || return 1
        # Redis came up first; its log names its pid.
        redis=$(sed -n 's/.*just started.*pid=\([0-9]*\).*/\1/p; s/.* pid=\([0-9]*\), just started/\1/p' "$tmp/s5/redis.log" | head -n 1)
        why="no Redis pid in $tmp/s5/redis.log"
        [ -n "$redis" ] || return 1
        why="a failed start left its Redis (pid $redis) running"
        ! any_alive "$redis" || return 1
        why="a failed start left DIR/env behind"
        [ ! -e "$tmp/s5/env" ]
}

run_status() {
        local out rc
        out=$(scripts/stack.sh run -- sh -c 'echo "$BITMON_TEST_REDIS $BITMON_TEST_KAFKA_KIND"; exit 7' 2>/dev/null)
        rc=$?
        why="run exited $rc, not CMD's 7"
        [ "$rc" -eq 7 ] || return 1
        why="CMD did not see the stack's env: '$out'"
        [[ "$out" == 127.0.0.1:*" mock" ]]
}

# The stack's settings are exported into every test; bitmon must not take
# them for configuration (it rejects unknown BITMON_* variables).
settings_not_config() {
        local bin=${BITMON_BIN:-build/bitmon} out
        why="no $bin to check"
        [ -x "$bin" ] || return 1
        out=$(BITMON_STACK_KAFKA_CACHE=/x BITMON_STACK_OWNER=none "$bin" config --check 2>&1)
        local rc=$?
        why="bitmon config --check with BITMON_STACK_* set: $out"
        [ "$rc" -eq 0 ]
}

check stack_settings_not_config settings_not_config
check stack_parallel_ports parallel_ports
check stack_env_complete env_complete
check stack_stop_clean stop_clean
check stack_stop_idempotent stop_idempotent
check stack_watchdog watchdog_stops
check stack_failed_start_clean failed_start_clean
check stack_run_status run_status
exit $failed
