# tests/integration/lib.sh — shared preamble of the shell integration tests
# (sourced, not run: not executable). Stack checks, ok/FAIL lines, a work dir
# kept under $BITMON_BUILD/test-artifacts/ (zz_leak_scan.sh scans it), the
# simulator, `bitmon run` processes with their own logs, results read back
# with `bitmon tail`, and cleanup of every process started (trap on EXIT).
#
#   . "$(dirname "$0")/lib.sh"; lib_init NAME   # cd to the repo, $tmp, trap
#   sim_start SCENARIO [sim args]               # $sim_root, $sim_pid
#   bitmon_env RUN                              # BITMON_* for RUN's topics/group/prefix
#   bitmon_start NAME [bitmon args]             # $BM_PID[NAME], $BM_PORT[NAME]
#   tail_start; terminal_counts; wait_terminal N SECONDS
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
BIN=${BITMON_BIN:-$PWD/build/bitmon}
SIM=${BITMON_SIM:-$PWD/build/bitrise-sim}
BITMON_BUILD=${BITMON_BUILD:-$PWD/build}
scale=${BITMON_TEST_TIMEOUT_SCALE:-1}
failed=0
tmp=
LIB_PIDS=()
declare -A BM_PID=() BM_PORT=()

ok() { echo "ok $1"; }
bad() {
        echo "FAIL $1: $2"
        failed=1
}
die() { # name reason: fail, show the newest bitmon log lines, stop
        bad "$1" "$2"
        local f
        for f in "$tmp"/bitmon-*.log; do
                [ -f "$f" ] || continue
                echo "    --- $(basename "$f")"
                tail -8 "$f" | sed 's/^/    /'
        done
        exit 1
}
note() { echo "# $*"; }

lib_cleanup() {
        local rc=$? p i
        for p in "${LIB_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
        for i in $(seq 50); do
                local alive=0
                for p in "${LIB_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
                [ "$alive" = 0 ] && break
                sleep 0.1
        done
        for p in "${LIB_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
        for p in "${LIB_PIDS[@]}"; do wait "$p" 2>/dev/null; done
        # Sanitizer builds: a report in any process's log fails the test.
        local rep
        rep=$(grep -l 'AddressSanitizer\|LeakSanitizer\|ThreadSanitizer\|runtime error:' \
                "$tmp"/*.log 2>/dev/null | tr '\n' ' ')
        if [ -n "$rep" ]; then
                echo "FAIL sanitizer_report: in $rep"
                failed=1
        fi
        [ "$failed" = 0 ] || echo "# files in $tmp"
        [ "$failed" = 0 ] || rc=1
        exit "$rc"
}

lib_track() { LIB_PIDS+=("$@"); }

lib_init() { # name
        if [ -z "${BITMON_TEST_KAFKA:-}" ] || [ -z "${BITMON_TEST_REDIS:-}" ]; then
                echo "FAIL $1: needs the local stack (run through tests/run.sh)"
                exit 1
        fi
        local art=$BITMON_BUILD/test-artifacts
        mkdir -p "$art"
        rm -rf "$art/$1".*
        tmp=$(mktemp -d "$art/$1.XXXXXX")
        trap lib_cleanup EXIT
        trap 'exit 130' INT TERM
        openssl rand -hex 32 >"$tmp/fp.key"
        mkdir -m 700 "$tmp/tokens"
}

sim_start() { # scenario [args...]
        local scen=$1
        shift
        "$SIM" --scenario "$scen" --listen 127.0.0.1:0 --port-file "$tmp/sim.port" "$@" \
                >"$tmp/sim.log" 2>&1 &
        sim_pid=$!
        lib_track "$sim_pid"
        for _ in $(seq 100); do [ -s "$tmp/sim.port" ] && break; sleep 0.1; done
        [ -s "$tmp/sim.port" ] || die sim_start "simulator did not start: $(tail -3 "$tmp/sim.log")"
        sim_root=http://127.0.0.1:$(cat "$tmp/sim.port")
}

sim_stats() { curl -s "$sim_root/_sim/stats"; }
sim_token_requests() { # token → its request count at the simulator
        sim_stats | jq -r --arg t "$1" '[.tokens[]? | select(.token == $t) | .requests] | add // 0'
}

bitmon_env() { # run id: topics, group and redis prefix of this run
        run=$1
        export BITMON_KAFKA_BOOTSTRAP_SERVERS=$BITMON_TEST_KAFKA
        export BITMON_REDIS_HOST=${BITMON_TEST_REDIS%:*} BITMON_REDIS_PORT=${BITMON_TEST_REDIS##*:}
        export BITMON_REDIS_PREFIX="$run:"
        export BITMON_TOPICS_JOBS=$run.jobs BITMON_TOPICS_RESULTS=$run.results BITMON_TOPICS_DLQ=$run.dlq
        export BITMON_TOPICS_LOGS=$run.logs
        export BITMON_TOPICS_REPLICATION=1 BITMON_TOPICS_PARTITIONS=${BITMON_TOPICS_PARTITIONS:-6}
        export BITMON_CONSUMER_GROUP=$run BITMON_WORKERS_THREADS=${BITMON_WORKERS_THREADS:-2}
        export BITMON_TOKENS_STORE=dir:$tmp/tokens BITMON_TOKENS_FINGERPRINT_KEY_FILE=$tmp/fp.key
        export BITMON_BITRISE_BASE_URL=$sim_root/v0.1 BITMON_HTTP_LISTEN=127.0.0.1:0
        export BITMON_POLL_RUNNING_S=${BITMON_POLL_RUNNING_S:-1} BITMON_POLL_ON_HOLD_S=${BITMON_POLL_ON_HOLD_S:-1}
        export BITMON_CACHE_BUILD_TTL_MS=${BITMON_CACHE_BUILD_TTL_MS:-1000}
        export BITMON_BUDGET_RATE=${BITMON_BUDGET_RATE:-500} BITMON_BUDGET_BURST=${BITMON_BUDGET_BURST:-500}
        export BITMON_LOG_FORMAT=json BITMON_LOG_LEVEL=${BITMON_LOG_LEVEL:-info}
        export BITMON_SHUTDOWN_TIMEOUT_S=${BITMON_SHUTDOWN_TIMEOUT_S:-$((10 * scale))}
        # LIB_NO_TOPICS: the caller made them (a mock broker has no admin API)
        [ -n "${LIB_NO_TOPICS:-}" ] ||
                "$BIN" topics >"$tmp/topics.out" 2>&1 || die topics "$(tail -3 "$tmp/topics.out")"
}

bitmon_start() { # name [args...]: start `bitmon run`, wait for "started"
        local name=$1 log=$tmp/bitmon-$1.log pid
        shift
        BITMON_WORKER_ID=$run-$name "$BIN" run "$@" >>"$log" 2>&1 &
        pid=$!
        lib_track "$pid"
        BM_PID[$name]=$pid
        for _ in $(seq $((200 * scale))); do
                [ "$(grep -c '"msg":"started"' "$log")" -ge "${BM_STARTS[$name]:-1}" ] && break
                kill -0 "$pid" 2>/dev/null || die "start_$name" "bitmon run $name exited"
                sleep 0.1
        done
        [ "$(grep -c '"msg":"started"' "$log")" -ge "${BM_STARTS[$name]:-1}" ] || die "start_$name" "not started"
        BM_STARTS[$name]=$((${BM_STARTS[$name]:-1} + 1))
        BM_PORT[$name]=$(sed -n 's/.*"msg":"http listening","port":"\([0-9]*\)".*/\1/p' "$log" | tail -1)
}
declare -A BM_STARTS=()

bitmon_metric() { # name series-regex → value (0 when absent)
        curl -s --max-time 2 "127.0.0.1:${BM_PORT[$1]}/metrics" |
                awk -v s="$2" '$1 == s { v = $2 } END { print (v == "" ? 0 : v) + 0 }'
}

bitmon_term() { # name: SIGTERM, wait; sets term_rc, term_ms
        local t0
        t0=$(date +%s%N)
        kill -TERM "${BM_PID[$1]}"
        wait "${BM_PID[$1]}"
        term_rc=$?
        term_ms=$((($(date +%s%N) - t0) / 1000000))
}

proc_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }

tail_start() { # results of this run, raw JSON lines in $tmp/results.jsonl
        "$BIN" tail --json --from-beginning >"$tmp/results.jsonl" 2>"$tmp/tail.err" &
        lib_track $!
}

terminal_counts() { # "count job_id" per job with a terminal result
        jq -r 'select(.event != "status" or .final == true) | .job_id' \
                "$tmp/results.jsonl" 2>/dev/null | sort | uniq -c
}

wait_terminal() { # jobs seconds: until that many jobs ended (or the time is up)
        local deadline=$((SECONDS + $2 * scale))
        while [ $SECONDS -lt $deadline ] && [ "$(terminal_counts | wc -l)" -lt "$1" ]; do
                sleep 0.5
        done
}

# One job line: id ws app build [extra json fields]
job() {
        printf '{"v":1,"job_id":"%s-%s","workspace":"%s","app_slug":"%s","build_slug":"%s","attrs":{"n":"%s"}%s}\n' \
                "$run" "$1" "$2" "$3" "$4" "$1" "${5:-}"
}

enqueue_file() { # file
        "$BIN" enqueue - <"$1" >"$tmp/enqueue.out" 2>&1 || die enqueue "$(tail -3 "$tmp/enqueue.out")"
}

check_one_terminal_each() { # test-name jobs-file: every job of the file ended exactly once
        local want got dups missing
        want=$(jq -r .job_id "$2" | sort -u)
        got=$(terminal_counts)
        dups=$(awk '$1 != 1 {print $2 "x" $1}' <<<"$got" | head -5 | tr '\n' ' ')
        missing=$(comm -23 <(echo "$want") <(awk '{print $2}' <<<"$got" | sort) | wc -l)
        if [ "$missing" = 0 ] && [ -z "$dups" ]; then
                ok "$1 ($(wc -l <<<"$want") jobs, one terminal result each)"
        else
                bad "$1" "$missing of $(wc -l <<<"$want") jobs without a terminal result; duplicates: ${dups:-none}"
        fi
}

check_results_right() { # test-name: every terminal result agrees with $tmp/scenario.json
        local wrong
        wrong=$(jq -r --slurpfile s "$tmp/scenario.json" '
                ([$s[0].apps[].builds[]] | map({(.slug): .status}) | add) as $st |
                select(.event != "status" or .final == true) |
                select(.event != "finished" or .build.status != $st[.build_slug]) |
                "\(.job_id) \(.event) \(.error.code // .build.status)"' "$tmp/results.jsonl")
        [ -z "$wrong" ] && ok "$1" || bad "$1" "$(head -3 <<<"$wrong" | tr '\n' '|')"
}

check_metadata_skips() { # test-name: redeliveries were skipped by the commits' done runs
        local skipped runs
        skipped=$(($(bitmon_metric p1 bitmon_jobs_skipped_committed) + $(bitmon_metric p2 bitmon_jobs_skipped_committed)))
        runs=$(cat "$tmp"/bitmon-p*.log | grep -c 'jobs done above its position')
        note "redelivered jobs skipped by the commits' metadata: $skipped ($runs assignments carried done runs)"
        [ "$skipped" -gt 0 ] && ok "$1 ($skipped)" ||
                bad "$1" "no redelivered job was skipped by a commit's done runs: the out-of-order case was not exercised"
}

done_markers_delete() { # → how many: this run's done markers deleted (Redis state lost)
        local h=${BITMON_TEST_REDIS%:*} p=${BITMON_TEST_REDIS##*:}
        redis-cli -h "$h" -p "$p" --scan --pattern "$run:done:*" | wc -l
        redis-cli -h "$h" -p "$p" --scan --pattern "$run:done:*" | xargs -r -n 100 redis-cli -h "$h" -p "$p" del >/dev/null
}

# A scenario with one app (slug $2) of N builds b<16 hex> in workspace $3 for
# token $4; running_s of build k (0-based) = $5 + k * $6 simulated seconds.
# Build slugs: printf '%016x' $((0xb1d0000000000000 + k)).
gen_scenario() { # n app ws token run0 step [speed]
        jq -n --argjson n "$1" --arg app "$2" --arg ws "$3" --arg tok "$4" \
                --argjson r0 "$5" --argjson step "$6" --argjson speed "${7:-20}" '
                {speed: $speed, defaults: {archive_lag_s: 0},
                 workspaces: [{slug: $ws}],
                 tokens: [{value: $tok, workspace: $ws, role: "developer"}],
                 apps: [{slug: $app, workspace: $ws, title: "generated",
                         builds: [range($n) as $k |
                                  {slug: ("b1d" + ("0000000000000" + ($k | tostring)) [-13:]),
                                   triggered_at_s: -1, running_s: ($r0 + $k * $step),
                                   status: (1 + $k % 4), log: {lines: 60, steps: 3}}]}]}'
}
gen_slug() { local k=$1; printf 'b1d%013d' "$k"; }

wait_assigned() { # name...: until each process was assigned partitions
        local p ok_all
        for _ in $(seq $((150 * scale))); do
                ok_all=1
                for p in "$@"; do
                        grep -q '"msg":"partitions assigned","count":"[1-9]' "$tmp/bitmon-$p.log" || ok_all=0
                done
                [ "$ok_all" = 1 ] && return 0
                sleep 0.1
        done
        note "not every process of $* got partitions"
}

# The exactly-once tests' start (resil_eos_*): 60 builds of app $2 in
# workspace ws-eos-$1 (token bitwat_eos_$1_dev), topics of 12 partitions,
# p1 and p2 with producer.exactly_once and transactions of $3 ms (the args
# in kx, for restarts), the committed reader, and with $4 = uncommitted
# also a read_uncommitted one into $tmp/uncommitted.jsonl.
eos_start() { # name app txn_ms [uncommitted]
        gen_scenario 60 "$2" "ws-eos-$1" "bitwat_eos_$1_dev" 100 5 20 >"$tmp/scenario.json"
        sim_start "$tmp/scenario.json"
        printf 'bitwat_eos_%s_dev\n' "$1" >"$tmp/tokens/ws-eos-$1"
        BITMON_TOPICS_PARTITIONS=12 bitmon_env "eos-$1-$$-$RANDOM"
        kx=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500
                -X producer.exactly_once=true -X producer.txn_ms="$3")
        for p in p1 p2; do bitmon_start $p "${kx[@]}"; done
        wait_assigned p1 p2
        tail_start
        if [ "${4:-}" = uncommitted ]; then
                "$BIN" tail --json --from-beginning --read-uncommitted >"$tmp/uncommitted.jsonl" 2>"$tmp/tail-u.err" &
                lib_track $!
        fi
}
