#!/usr/bin/env bash
# scripts/stack.sh — the local stack for tests, the demo and benchmarks:
# Redis (Debian's redis-server) and Kafka (scripts/kafka.sh: Kafka 4.x in KRaft
# mode, or librdkafka's mock cluster) on free random loopback ports, so that
# parallel runs never collide. Nothing is left running after stop.
#
#   scripts/stack.sh start DIR     start both; state and logs in DIR; writes
#                                  DIR/env (KEY=value lines to source)
#   scripts/stack.sh stop DIR      stop what start started; idempotent
#   scripts/stack.sh status DIR    say what is running
#   scripts/stack.sh run -- CMD... start in a temporary dir, run CMD with the
#                                  env exported, stop (also on failure, Ctrl-C)
#
# DIR/env: BITMON_TEST_REDIS=127.0.0.1:PORT, BITMON_TEST_KAFKA=127.0.0.1:PORT,
# BITMON_TEST_KAFKA_KIND=kafka|mock, BITMON_TEST_STACK_DIR, and the pids.
# A watchdog stops the stack when the process that started it dies without
# calling stop (BITMON_STACK_OWNER=PID names that process, default the
# caller; "none" turns it off). Other settings: scripts/kafka.sh.
#
# Sourced (". scripts/stack.sh"), it only defines its helper functions.

stack_prog=${stack_prog:-stack}
die() {
        echo "$stack_prog: $*" >&2
        exit 1
}
note() { echo "$stack_prog: $*" >&2; }

# A free TCP port on 127.0.0.1 below the ephemeral range, so that outgoing
# connections never hold it. Callers still retry when bind fails: another
# process may take the port between this check and the bind.
pick_port() {
        local lo hi p i
        read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
        hi=$((lo - 1))
        [ "$hi" -gt 20000 ] || hi=60999
        for ((i = 0; i < 100; i++)); do
                p=$((10000 + (RANDOM * 32768 + RANDOM) % (hi - 10000)))
                if ! ss -Htan "( sport = :$p )" 2>/dev/null | grep -q .; then
                        echo "$p"
                        return 0
                fi
        done
        return 1
}

# The start time of a process (clock ticks since boot): with the pid it names
# one process, so a stale pid file never makes us signal a stranger.
proc_stime() { # pid
        local s
        s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        s=${s##*) }
        # shellcheck disable=SC2086
        set -- $s
        echo "${20}"
}

# True when process PID listens on 127.0.0.1:PORT: the server that answered
# on a port is the one we started, not another run's that won a bind race.
proc_listens() { # pid port
        ss -Htlnp "( sport = :$2 )" 2>/dev/null | grep -q "pid=$1,"
}

# Records a process we started: "PID STARTTIME" in FILE.
proc_record() { # file pid
        echo "$2 $(proc_stime "$2")" >"$1"
}

# True while the process recorded in FILE runs (an exited process waiting to
# be reaped, a zombie, counts as gone).
proc_alive() { # file
        local pid st s
        [ -f "$1" ] || return 1
        read -r pid st <"$1" || return 1
        s=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
        s=${s##*) }
        [ "${s%% *}" != Z ] && [ "$(proc_stime "$pid")" = "$st" ]
}

# Stops the process recorded in FILE: TERM, then KILL after GRACE seconds;
# removes FILE. Returns 1 when it had to kill.
proc_stop() { # file grace
        local f=$1 grace=${2:-10} pid i rc=0
        [ -f "$f" ] || return 0
        read -r pid _ <"$f" || true
        if proc_alive "$f"; then
                kill -TERM "$pid" 2>/dev/null || true
                for ((i = 0; i < grace * 20; i++)); do
                        proc_alive "$f" || break
                        sleep 0.05
                done
                if proc_alive "$f"; then
                        note "pid $pid still running after ${grace}s, killing it"
                        kill -KILL "$pid" 2>/dev/null || true
                        rc=1
                        for ((i = 0; i < 100; i++)); do
                                proc_alive "$f" || break
                                sleep 0.05
                        done
                fi
        fi
        rm -f "$f"
        return $rc
}

# ---------------------------------------------------------------- Redis

redis_start() { # dir
        local dir=$1 port pid try i
        command -v redis-server >/dev/null 2>&1 || die "no redis-server (scripts/deps.sh installs it)"
        mkdir -p "$dir/redis"
        for try in 1 2 3 4 5; do
                port=$(pick_port) || die "no free port on 127.0.0.1"
                : >"$dir/redis.log"
                redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/redis" \
                        --save '' --appendonly no --daemonize no \
                        --logfile "$dir/redis.log" >/dev/null 2>&1 </dev/null &
                pid=$!
                proc_record "$dir/redis.pid" "$pid"
                for ((i = 0; i < 200; i++)); do
                        proc_alive "$dir/redis.pid" || break
                        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] &&
                                proc_listens "$pid" "$port"; then
                                echo "BITMON_TEST_REDIS=127.0.0.1:$port" >"$dir/redis.env"
                                echo "BITMON_TEST_REDIS_PID=$pid" >>"$dir/redis.env"
                                note "Redis up on 127.0.0.1:$port (pid $pid)"
                                return 0
                        fi
                        sleep 0.05
                done
                proc_stop "$dir/redis.pid" 2 || true
                if grep -q -i 'address already in use' "$dir/redis.log"; then
                        note "port $port taken, retrying with another (try $try)"
                        continue
                fi
                tail -n 20 "$dir/redis.log" >&2
                die "Redis did not come up on 127.0.0.1:$port (log: $dir/redis.log)"
        done
        die "Redis could not bind a free port after 5 tries"
}

# ---------------------------------------------------------------- watchdog

# Stops the stack once OWNER is gone (a killed test run, a closed terminal).
watchdog_start() { # dir owner
        local dir=$1 owner=$2 st
        [ "$owner" != none ] || return 0
        st=$(proc_stime "$owner") || return 0
        (
                trap '' INT HUP
                while [ "$(proc_stime "$owner")" = "$st" ]; do
                        sleep 1
                done
                BITMON_STACK_WATCHDOG=1 "$self" stop "$dir"
        ) >>"$dir/watchdog.log" 2>&1 </dev/null &
        proc_record "$dir/watchdog.pid" $!
}

# ---------------------------------------------------------------- commands

stack_stop() { # dir
        local dir=$1 rc=0
        [ -d "$dir" ] || return 0
        [ -n "${BITMON_STACK_WATCHDOG:-}" ] || proc_stop "$dir/watchdog.pid" 2 || true
        rm -f "$dir/env"
        "$here/kafka.sh" stop "$dir" || rc=1
        proc_stop "$dir/redis.pid" "${BITMON_STACK_GRACE:-15}" || true
        rm -f "$dir/redis.env" "$dir/kafka.env" "$dir/watchdog.pid"
        return $rc
}

# Exits the shell: run it in a subshell where the caller has traps of its own.
stack_start() { # dir
        local dir=$1
        mkdir -p "$dir" || die "cannot create $dir"
        dir=$(cd "$dir" && pwd)
        stack_stop "$dir"
        # Whatever goes wrong before the end (an error, Ctrl-C), stop what
        # did start.
        # shellcheck disable=SC2064
        trap "stack_stop '$dir' >/dev/null 2>&1 || true" EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        redis_start "$dir"
        "$here/kafka.sh" start "$dir" ||
                die "cannot start Kafka (BITMON_STACK_KAFKA=${BITMON_STACK_KAFKA:-auto}; logs in $dir)"
        watchdog_start "$dir" "${BITMON_STACK_OWNER:-$PPID}"
        {
                cat "$dir/redis.env" "$dir/kafka.env"
                echo "BITMON_TEST_STACK_DIR=$dir"
        } >"$dir/env.tmp"
        mv "$dir/env.tmp" "$dir/env"
        trap - EXIT INT TERM
}

stack_status() { # dir
        local dir=$1 f rc=0
        for f in redis kafka watchdog; do
                if proc_alive "$dir/$f.pid"; then
                        echo "$f: running (pid $(cut -d' ' -f1 "$dir/$f.pid"))"
                else
                        echo "$f: not running"
                        [ "$f" = watchdog ] || rc=1
                fi
        done
        [ -f "$dir/env" ] && cat "$dir/env"
        return $rc
}

stack_run() { # cmd...
        local dir rc child sig=0
        dir=$(mktemp -d -t bitmon-stack.XXXXXX) || die "cannot create a temporary dir"
        # shellcheck disable=SC2064
        trap "stack_stop '$dir' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        (BITMON_STACK_OWNER=$$ stack_start "$dir") || {
                tail -n 20 "$dir"/*.log >&2 2>/dev/null
                exit 1
        }
        set -a
        # shellcheck disable=SC1091
        . "$dir/env"
        set +a
        # In the background so that a signal to us is handled at once: it
        # asks CMD to stop (TERM), waits for it, then the EXIT trap stops
        # the stack.
        "$@" <&0 &
        child=$!
        trap 'sig=130; kill -TERM $child 2>/dev/null' INT
        trap 'sig=143; kill -TERM $child 2>/dev/null' TERM
        while :; do
                rc=0
                wait "$child" || rc=$?
                kill -0 "$child" 2>/dev/null || break
        done
        [ "$sig" -eq 0 ] || rc=$sig
        [ "$rc" -eq 0 ] || note "$1 exited with status $rc"
        exit "$rc"
}

stack_main() {
        set -euo pipefail
        here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
        self=$here/stack.sh
        local cmd=${1:-}
        [ $# -gt 0 ] && shift
        case "$cmd" in
        start | stop | status)
                [ $# -eq 1 ] || die "usage: stack.sh $cmd DIR"
                "stack_$cmd" "$1"
                ;;
        run)
                [ "${1:-}" = -- ] && shift
                [ $# -ge 1 ] || die "usage: stack.sh run -- CMD..."
                stack_run "$@"
                ;;
        *)
                sed -n '2,/^# Sourced/p' "$self" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
                exit 2
                ;;
        esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
        stack_main "$@"
fi
