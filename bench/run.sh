#!/usr/bin/env bash
# bench/run.sh — `make bench`: the end-to-end pipeline benchmarks of one
# `bitmon run` process on the local stack (scripts/stack.sh: Redis + Kafka)
# against the Bitrise simulator on the same machine:
#
#   throughput  finished builds (status + a 100 KB archived log) per second,
#               jobs produced to Kafka → terminal results on the results
#               topic, at 0 ms and at 50 ms simulated latency, alternating in
#               one bitmon process (ratio measured in the same run);
#   latency     produce → terminal result p50/p99 at a moderate rate, 0 ms
#               and 50 ms;
#   logs        `log: full` beside `log: summary` (issue 13): jobs/s and
#               bitmon CPU per job of finished builds, the two modes
#               alternating in one process (ratio in the same run), and the
#               compression ratio on the logs topic (the values' bytes, read
#               back with kcat, against the topic's files on the broker);
#   scale       RSS and CPU of bitmon with N concurrent watches of running
#               builds polled every 30 s (RSS delta / watches once they are
#               all established; CPU over two poll periods).
#
# Throughput and latency run twice per case in the same session: the
# at-least-once process (default) and, alternating with it, a second
# process with producer.exactly_once=true (its own topics and group), whose
# lines are tagged `throughput_eos_...` / `latency_eos_...`; `eos_cost:`
# sums up the ratio. BENCH_EOS=0 leaves the transactional process out.
#
# Every phase is bounded in count and time and prints `TAG: key=value ...`
# lines; exit 1 when a run did not get every terminal result in time.
# bench/bench_pipeline is the load side (produces the jobs, reads the
# results). Scenarios: tests/scenarios/bench_finished.json,
# tests/scenarios/bench_running.json.
#
# Env: BUILD (build), BENCH_PHASES ("throughput latency logs scale"),
# BENCH_LOG_JOBS (2000 per logs run),
# BENCH_JOBS (10000 per throughput run), BENCH_REPEAT (2), BENCH_WARMUP
# (jobs before any measured run, 3000: the JVM of Kafka compiles its hot
# paths in the first thousands; 500 left the first run paying for it),
# BENCH_RATE (latency phase jobs/s, 100), BENCH_LAT_JOBS (2000),
# BENCH_SCALE ("10000 50000"), BENCH_SCALE_CPU_S (60), BENCH_SCALE_RATE
# (jobs/s while the watches are set up; 0 = all at once), BENCH_SCALE_POLL_S
# (poll.running_s of the scale phase, 30), BENCH_THREADS
# (workers.threads, 2), BENCH_PERF=FILE records a perf profile of bitmon
# during the throughput/latency runs (BENCH_PERF_ARGS e.g. "-g"),
# BENCH_DUMP_DIR=DIR writes each latency run's per-job figures there
# ("i sent_ms latency_ms"), BENCH_SYSCALLS=1 counts bitmon's syscalls and
# task switches per job during each load (perf stat tracepoints; other
# events: BENCH_SYSCALL_EVENTS="syscalls:sys_enter_recvfrom,..."), BENCH_EOS (1), BENCH_EOS_TXN_MS
# (producer.txn_ms of the exactly-once process, 100), BENCH_AB=DIR runs
# DIR/bitmon (e.g. build-base, a build of main) as the second process
# instead, at-least-once, tagged `_base_` (lines `throughput_base_...`,
# summed up by `base_cost:`): before/after in one session on the same
# builds. KEEP_TMP=1 keeps logs.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
if [ -z "${BITMON_TEST_KAFKA:-}" ] || [ -z "${BITMON_TEST_REDIS:-}" ]; then
        exec scripts/stack.sh run -- "$0" "$@"
fi
BIN=$PWD/$BUILD/bitmon
SIM=$PWD/$BUILD/bitrise-sim
LOAD=$PWD/$BUILD/bench/bench_pipeline
for f in "$BIN" "$SIM" "$LOAD"; do
        [ -x "$f" ] || { echo "bench: $f missing: run make tools" >&2; exit 1; }
done
phases=${BENCH_PHASES:-throughput latency logs scale}
log_jobs=${BENCH_LOG_JOBS:-2000}
jobs=${BENCH_JOBS:-10000}
warmup=${BENCH_WARMUP:-3000}
repeat=${BENCH_REPEAT:-2}
lat_rate=${BENCH_RATE:-100}
lat_jobs=${BENCH_LAT_JOBS:-2000}
scales=${BENCH_SCALE:-10000 50000}
scale_cpu_s=${BENCH_SCALE_CPU_S:-60}
scale_rate=${BENCH_SCALE_RATE:-0}
scale_poll_s=${BENCH_SCALE_POLL_S:-30}
threads=${BENCH_THREADS:-2}
eos=${BENCH_EOS:-1}
eos_txn_ms=${BENCH_EOS_TXN_MS:-100}
ab=${BENCH_AB:-} other=eos # BENCH_AB=DIR: the second process is DIR/bitmon, at-least-once
if [ -n "$ab" ]; then
        [ -x "$PWD/$ab/bitmon" ] || { echo "bench: $ab/bitmon missing" >&2; exit 1; }
        eos=1 other=base
fi
apps=500 # both scenarios: 500 generated apps x 100 builds

failed=0
tmp=$(mktemp -d -t bitmon-bench.XXXXXX)
sim_pid= run_pid= other_pid=
stop_bitmon() {
        [ -n "$run_pid" ] || return 0
        kill -TERM "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
        run_pid=
}
stop_other() { # the second process of the throughput/latency phases
        [ -n "$other_pid" ] || return 0
        kill -TERM "$other_pid" 2>/dev/null && wait "$other_pid" 2>/dev/null
        other_pid=
}
stop_sim() {
        [ -n "$sim_pid" ] || return 0
        kill -TERM "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
        sim_pid=
}
cleanup() {
        stop_bitmon
        stop_other
        stop_sim
        if [ -n "${KEEP_TMP:-}" ]; then echo "bench: files kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() {
        echo "bench: $*" >&2
        exit 1
}

echo "bench: $(date -u +%FT%TZ) $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
echo "bench: kafka=${BITMON_TEST_KAFKA_KIND:-?} threads=$threads eos=$eos eos_txn_ms=$eos_txn_ms"

start_sim() { # scenario
        rm -f "$tmp/sim.port"
        "$SIM" --scenario "$1" --listen 127.0.0.1:0 --port-file "$tmp/sim.port" \
                --log-level warn >"$tmp/sim.log" 2>&1 &
        sim_pid=$!
        for _ in $(seq 100); do [ -s "$tmp/sim.port" ] && break; sleep 0.1; done
        [ -s "$tmp/sim.port" ] || die "the simulator did not start: $(tail -3 "$tmp/sim.log")"
        sim_root=http://127.0.0.1:$(cat "$tmp/sim.port")
}

sim_latency() { # ms
        curl -sf -X POST -d "{\"scope\":\"global\",\"faults\":{\"latency_ms\":$1}}" \
                "$sim_root/_sim/faults" >/dev/null || die "cannot set the simulator latency"
}

mkdir -m 700 "$tmp/tokens"
printf 'bitwat_bench_developer\n' >"$tmp/tokens/ws-bench"
openssl rand -hex 32 >"$tmp/fp.key"
chmod 600 "$tmp/tokens/ws-bench" "$tmp/fp.key"

# bitmon configuration: the environment, as in a pod. The benchmark token's
# budget is raised here (production default: 1 req/s, burst 20): Bitrise
# publishes no limit and the simulator enforces none for this token.
start_bitmon() { # run-id poll_running_s
        local run=$1
        export BITMON_KAFKA_BOOTSTRAP_SERVERS=$BITMON_TEST_KAFKA
        export BITMON_REDIS_HOST=${BITMON_TEST_REDIS%:*} BITMON_REDIS_PORT=${BITMON_TEST_REDIS##*:}
        export BITMON_REDIS_PREFIX="$run:"
        export BITMON_TOPICS_JOBS=$run.jobs BITMON_TOPICS_RESULTS=$run.results
        export BITMON_TOPICS_DLQ=$run.dlq BITMON_TOPICS_REPLICATION=1 BITMON_TOPICS_PARTITIONS=4
        export BITMON_TOPICS_LOGS=$run.logs
        export BITMON_CONSUMER_GROUP=$run BITMON_WORKER_ID=$run
        export BITMON_WORKERS_THREADS=$threads BITMON_WORKERS_MAX_WATCHES=${max_watches:-60000}
        export BITMON_TOKENS_STORE=dir:$tmp/tokens BITMON_TOKENS_FINGERPRINT_KEY_FILE=$tmp/fp.key
        export BITMON_BITRISE_BASE_URL=$sim_root/v0.1 BITMON_HTTP_LISTEN=127.0.0.1:0
        export BITMON_POLL_RUNNING_S=$2 BITMON_POLL_ON_HOLD_S=$2
        export BITMON_BUDGET_RATE=10000 BITMON_BUDGET_BURST=10000
        export BITMON_LOG_FORMAT=json BITMON_SHUTDOWN_TIMEOUT_S=10
        "$BIN" topics >"$tmp/topics.out" 2>&1 || die "bitmon topics: $(tail -3 "$tmp/topics.out")"
        "$BIN" run >"$tmp/bitmon-$run.log" 2>&1 &
        run_pid=$!
        for _ in $(seq 300); do
                grep -q '"msg":"started"' "$tmp/bitmon-$run.log" && break
                kill -0 "$run_pid" 2>/dev/null || die "bitmon run exited: $(tail -3 "$tmp/bitmon-$run.log")"
                sleep 0.1
        done
        grep -q '"msg":"started"' "$tmp/bitmon-$run.log" || die "bitmon run did not start"
        http_port=$(sed -n 's/.*"msg":"http listening","port":"\([0-9]*\)".*/\1/p' \
                "$tmp/bitmon-$run.log" | head -1)
        jobs_topic=$run.jobs results_topic=$run.results logs_topic=$run.logs
        # the consumer has joined its group when its partitions are assigned
        for _ in $(seq 300); do
                grep -q 'partitions assigned' "$tmp/bitmon-$run.log" && break
                sleep 0.1
        done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
watches() { curl -s "127.0.0.1:$http_port/metrics" | awk '$1 == "bitmon_watches" {print $2}'; }
requests() { # Bitrise requests made so far (every class)
        curl -s "127.0.0.1:$http_port/metrics" |
                awk '$1 ~ /^bitmon_bitrise_requests_total/ {n += $2} END {printf "%d\n", n}'
}
tck=$(getconf CLK_TCK)

redis_cmds() {
        redis-cli -h "${BITMON_TEST_REDIS%:*}" -p "${BITMON_TEST_REDIS##*:}" info stats |
                awk -F: '/^total_commands_processed/ {print $2 + 0}'
}

# CPU seconds of each process of the pipeline during one load run (the
# machine has 2 cores: where they go says what bounds the rate).
cpu_all() {
        local p
        for p in "$run_pid" "$sim_pid" "${BITMON_TEST_REDIS_PID:-}" "${BITMON_TEST_KAFKA_PID:-}"; do
                if [ -n "$p" ] && [ -r "/proc/$p/stat" ]; then cpu_ticks "$p"; else echo 0; fi
        done | tr '\n' ' '
}

load() { # tag first count rate [extra args]
        local tag=$1 first=$2 n=$3 rate=$4
        shift 4
        local c0 c1 r0 r1 sc_pid=
        if [ "${BENCH_SYSCALLS:-0}" = 1 ]; then # syscalls and task switches of bitmon
                perf stat -x, -e "${BENCH_SYSCALL_EVENTS:-raw_syscalls:sys_enter,context-switches}" -p "$run_pid" \
                        -o "$tmp/syscalls.txt" 2>/dev/null &
                sc_pid=$!
        fi
        c0=$(cpu_all)
        r0=$(redis_cmds)
        "$LOAD" -b "$BITMON_TEST_KAFKA" -j "$jobs_topic" -r "$results_topic" -s "$sim_root" \
                -w ws-bench -a "$apps" -o "$first" -n "$n" -R "$rate" -T 300 -t "$tag" "$@"
        local rc=$?
        c1=$(cpu_all)
        r1=$(redis_cmds)
        if [ -n "$sc_pid" ]; then
                kill -INT "$sc_pid" && wait "$sc_pid"
                awk -F, -v n="$n" -v tag="$tag" '$3 == "raw_syscalls:sys_enter" {$3 = "syscalls"}
                        $3 == "context-switches" {$3 = "cswitches"}
                        NF >= 3 && $1 ~ /^[0-9]+$/ && $1 > 0 {sub(/^syscalls:sys_enter_/, "", $3); l = l sprintf(" %s_per_job=%.1f", $3, $1 / n)}
                        END {print tag ":" l}' "$tmp/syscalls.txt"
        fi
        awk -v a="$c0" -v b="$c1" -v t="$tck" -v n="$n" -v tag="$tag" -v r=$((r1 - r0)) 'BEGIN {
                split(a, x, " "); split(b, y, " ")
                printf "%s: cpu_s bitmon=%.2f sim=%.2f redis=%.2f kafka=%.2f; bitmon_cpu_us_per_job=%.0f redis_cmds_per_job=%.1f\n",
                        tag, (y[1] - x[1]) / t, (y[2] - x[2]) / t, (y[3] - x[3]) / t, (y[4] - x[4]) / t,
                        (y[1] - x[1]) / t * 1e6 / n, r / n }'
        return $rc
}

# Builds of bench_finished.json are handed out in disjoint ranges, so no job
# is served from the build cache or another job's watch.
next_build=0
take() { # count → sets $first
        first=$next_build
        next_build=$((next_build + $1))
        [ "$next_build" -le $((apps * 100)) ] || die "out of generated builds (raise apps)"
}

# The two processes of the throughput/latency phases: at-least-once (the
# default) and exactly-once; use_mode points run_pid and the topics at one.
declare -A mode_pid=() mode_jobs=() mode_results=()
use_mode() { # alo|eos
        run_pid=${mode_pid[$1]} jobs_topic=${mode_jobs[$1]} results_topic=${mode_results[$1]}
}
keep_mode() { # alo|eos
        mode_pid[$1]=$run_pid mode_jobs[$1]=$jobs_topic mode_results[$1]=$results_topic
}
loads() { # tag first count rate [extra args]: load, its lines kept for eos_cost
        load "$@" | tee -a "$tmp/loads.txt"
        return "${PIPESTATUS[0]}"
}

if [[ " $phases " == *" throughput "* || " $phases " == *" latency "* ]]; then
        start_sim "$PWD/tests/scenarios/bench_finished.json"
        # The exactly-once process takes the same builds as the
        # at-least-once run it is paired with (its own Redis prefix: no
        # build is served from a cache), so both modes do the same work.
        take "$warmup"
        if [ -n "$ab" ]; then
                bin_keep=$BIN BIN=$PWD/$ab/bitmon
                start_bitmon "bench-base-$$-$RANDOM" 15
                BIN=$bin_keep
                keep_mode eos
                load warmup_base "$first" "$warmup" 0 >/dev/null || echo "bench: base warmup incomplete"
        elif [ "$eos" = 1 ]; then
                BITMON_PRODUCER_EXACTLY_ONCE=true BITMON_PRODUCER_TXN_MS=$eos_txn_ms \
                        start_bitmon "bench-eos-$$-$RANDOM" 15
                keep_mode eos
                n_eos=$((warmup < 1000 ? warmup : 1000))
                load warmup_eos "$first" "$n_eos" 0 >/dev/null || echo "bench: eos warmup incomplete"
        fi
        start_bitmon "bench-$$-$RANDOM" 15
        keep_mode alo
        load warmup "$first" "$warmup" 0 >/dev/null || echo "bench: warmup incomplete"
        if [ -n "${BENCH_PERF:-}" ]; then # profile bitmon during the throughput runs
                perf record -F 499 ${BENCH_PERF_ARGS:-} -o "$BENCH_PERF" -p "$run_pid" \
                        >"$tmp/perf.out" 2>&1 &
                perf_pid=$!
        fi
        if [[ " $phases " == *" throughput "* ]]; then
                for r in $(seq "$repeat"); do
                        for ms in 0 50; do
                                sim_latency "$ms"
                                use_mode alo
                                take "$jobs"
                                loads "throughput_${ms}ms_run$r" "$first" "$jobs" 0 || failed=1
                                [ "$eos" = 1 ] || continue
                                use_mode eos # the same builds
                                loads "throughput_${other}_${ms}ms_run$r" "$first" "$jobs" 0 || failed=1
                        done
                done
        fi
        if [[ " $phases " == *" latency "* ]]; then
                for ms in 0 50; do
                        sim_latency "$ms"
                        take "$lat_jobs" # the same builds for both modes
                        for m in alo eos; do
                                [ "$m" = alo ] || [ "$eos" = 1 ] || continue
                                use_mode "$m"
                                tag=latency_${ms}ms_at_${lat_rate}_per_s
                                [ "$m" = alo ] || tag=latency_${other}_${ms}ms_at_${lat_rate}_per_s
                                loads "$tag" "$first" "$lat_jobs" "$lat_rate" \
                                        ${BENCH_DUMP_DIR:+-D "$BENCH_DUMP_DIR/$tag.txt"} || failed=1
                        done
                done
        fi
        if [ -n "${perf_pid:-}" ]; then
                kill -INT "$perf_pid" && wait "$perf_pid"
                perf_pid=
        fi
        sim_latency 0
        if [ "$eos" = 1 ]; then
                use_mode eos
                other_pid=$run_pid
                use_mode alo
                stop_other
                # the exactly-once figures against the at-least-once ones of
                # the same session: mean jobs/s and p50/p99 latency
                awk -v o="$other" '
                function v(line, k,   m) { return match(line, " " k "=[0-9.]+") ? substr(line, RSTART + length(k) + 2, RLENGTH - length(k) - 2) + 0 : -1 }
                $1 ~ "^throughput_(" o "_)?[0-9]+ms_run[0-9]+:$" && / jobs_per_s=/ {
                        t = $1; e = (t ~ "_" o "_"); sub("^throughput_(" o "_)?", "", t); sub(/ms_run.*/, "", t)
                        sum[e, t] += v($0, "jobs_per_s"); cnt[e, t]++; ms[t] = 1 }
                $1 ~ "^latency_(" o "_)?[0-9]+ms_at_" && / lat_ms_p50=/ {
                        t = $1; e = (t ~ "_" o "_"); sub("^latency_(" o "_)?", "", t); sub(/ms_at_.*/, "", t)
                        p50[e, t] = v($0, "lat_ms_p50"); p99[e, t] = v($0, "p99"); lms[t] = 1 }
                END {
                        line = o "_cost:"
                        for (t in ms) if (cnt[0, t] && cnt[1, t]) {
                                a = sum[0, t] / cnt[0, t]; b = sum[1, t] / cnt[1, t]
                                line = line sprintf(" throughput_%sms_alo=%.0f %s=%.0f ratio=%.2f", t, a, o, b, b / a) }
                        for (t in lms) if (((0, t) in p50) && ((1, t) in p50))
                                line = line sprintf(" latency_%sms_p50_alo=%.1f %s=%.1f p99_alo=%.1f %s=%.1f", t, p50[0, t], o, p50[1, t], p99[0, t], o, p99[1, t])
                        print line }' "$tmp/loads.txt"
        fi
        stop_bitmon
        stop_sim
fi

if [[ " $phases " == *" logs "* ]]; then
        start_sim "$PWD/tests/scenarios/bench_finished.json"
        start_bitmon "bench-logs-$$-$RANDOM" 15
        take 500
        load warmup_logs "$first" 500 0 -L full >/dev/null || echo "bench: logs warmup incomplete"
        : >"$tmp/logs.txt"
        for r in $(seq "$repeat"); do
                for mode in summary full; do
                        take "$log_jobs"
                        load "logs_${mode}_run$r" "$first" "$log_jobs" 0 -L "$mode" |
                                tee -a "$tmp/logs.txt"
                        [ "${PIPESTATUS[0]}" = 0 ] || failed=1
                done
        done
        awk '
        function v(line, k,   m) { return match(line, " " k "=[0-9.]+") ? substr(line, RSTART + length(k) + 2, RLENGTH - length(k) - 2) + 0 : -1 }
        $1 ~ /^logs_(summary|full)_run[0-9]+:$/ {
                m = ($1 ~ /_full_/) ? "full" : "summary"
                if (/ jobs_per_s=/) { jps[m] += v($0, "jobs_per_s"); nj[m]++ }
                if (/ bitmon_cpu_us_per_job=/) { cpu[m] += v($0, "bitmon_cpu_us_per_job"); nc[m]++ } }
        END {
                if (nj["summary"] && nj["full"] && nc["summary"] && nc["full"]) {
                        a = jps["summary"] / nj["summary"]; b = jps["full"] / nj["full"]
                        c = cpu["summary"] / nc["summary"]; d = cpu["full"] / nc["full"]
                        printf "logs_cost: jobs_per_s summary=%.0f full=%.0f ratio=%.2f; bitmon_cpu_us_per_job summary=%.0f full=%.0f ratio=%.2f\n", a, b, b / a, c, d, d / c } }' "$tmp/logs.txt"
        # the values as produced against what the broker keeps on disk
        raw=$(kcat -C -b "$BITMON_TEST_KAFKA" -t "$logs_topic" -e -q -f '%S\n' 2>/dev/null |
                awk '{ s += $1 } END { print s + 0 }')
        disk=0
        if [ -n "${BITMON_TEST_STACK_DIR:-}" ] && [ -d "$BITMON_TEST_STACK_DIR/kafka/data" ]; then
                disk=$(cat "$BITMON_TEST_STACK_DIR/kafka/data/$logs_topic"-*/*.log 2>/dev/null | wc -c)
        fi
        awk -v r="$raw" -v d="$disk" 'BEGIN {
                printf "logs_topic: raw_bytes=%d disk_bytes=%d compression_ratio=%s\n", r, d,
                        (d > 0 ? sprintf("%.1f", r / d) : "unknown (no broker files: mock Kafka?)") }'
        stop_bitmon
        stop_sim
fi

if [[ " $phases " == *" scale "* ]]; then
        for n in $scales; do
                # 500 generated apps of 100 running builds, more beyond 50,000
                scale_apps=$(((n + 99) / 100 > apps ? (n + 99) / 100 : apps))
                sed "s/\"apps\": $apps,/\"apps\": $scale_apps,/" \
                        tests/scenarios/bench_running.json >"$tmp/bench_running.json"
                start_sim "$tmp/bench_running.json"
                max_watches=$((n + 10000 > 60000 ? n + 10000 : 60000))
                start_bitmon "bench-$$-$RANDOM" "$scale_poll_s"
                sleep 1
                rss0=$(rss_kb "$run_pid")
                t0=$SECONDS
                "$LOAD" -b "$BITMON_TEST_KAFKA" -j "$jobs_topic" -r "$results_topic" -s "$sim_root" \
                        -w ws-bench -a "$scale_apps" -o 0 -n "$n" -R "$scale_rate" -T 300 -t "scale_$n" -N ||
                        die "scale_$n: producing failed"
                while [ "$(watches)" != "$n" ] && [ $((SECONDS - t0)) -lt 300 ]; do sleep 1; done
                w=$(watches)
                [ "$w" = "$n" ] || failed=1
                est_s=$((SECONDS - t0))
                sleep 5 # first polls answered, payloads in place
                rss1=$(rss_kb "$run_pid")
                fds=$(ls "/proc/$run_pid/fd" | wc -l)
                c0=$(cpu_ticks "$run_pid")
                q0=$(requests)
                sleep "$scale_cpu_s"
                c1=$(cpu_ticks "$run_pid")
                q1=$(requests)
                rss2=$(rss_kb "$run_pid")
                # cpu_us_per_poll: per watch and poll period (one watch
                # looked at once, by its app's list call or its own GET);
                # cpu_us_per_request: per Bitrise request actually made
                awk -v n="$n" -v w="$w" -v r0="$rss0" -v r1="$rss1" -v r2="$rss2" \
                        -v c=$((c1 - c0)) -v t="$tck" -v s="$scale_cpu_s" -v e="$est_s" -v f="$fds" \
                        -v p="$scale_poll_s" -v q=$((q1 - q0)) 'BEGIN {
                        printf "scale_%d: watches=%s established_s=%d fds=%d rss_base_kb=%d rss_kb=%d rss_after_%ds_kb=%d bytes_per_watch=%.0f bytes_per_watch_after=%.0f cpu_pct=%.1f cpu_us_per_poll=%.0f requests=%d cpu_us_per_request=%.0f\n",
                                n, w, e, f, r0, r1, s, r2, (r1 - r0) * 1024 / n, (r2 - r0) * 1024 / n, 100 * c / t / s,
                                (c / t) * 1e6 / (n * s / p), q, q ? (c / t) * 1e6 / q : 0 }'
                stop_bitmon
                stop_sim
        done
fi
echo "bench: done $(date -u +%FT%TZ) load:$(uptime | sed 's/.*load average://')"
[ "$failed" -eq 0 ] || echo "bench: FAILED: a run did not complete (see above)"
exit "$failed"
