#!/usr/bin/env bash
# tests/integration/pipeline_e2e.sh — bitmon's main job end to end: the
# Bitrise simulator (tests/scenarios/pipeline.json: every build outcome, on
# hold → running, a Tester token, a mistyped token, a workspace without a
# token), a token dir, topics unique to this run, `bitmon run` on the local
# stack; ~50 jobs in, results read back with `bitmon tail --json`:
#   - exactly one terminal result per job, and the right one: status,
#     status_text, failed step titles and exit codes as the simulator's
#     /_sim/expected says, plausible durations, attrs copied;
#   - error codes token_invalid, token_missing, not_found, insufficient_role;
#   - follow=false on a running build: one `status` marked "final": true;
#   - bad jobs land in the DLQ with a bitmon-error header;
#   - a redelivered job_id is skipped through its done marker;
#   - SIGTERM: exit 0 within shutdown.timeout_s, offsets committed.
# Needs the local stack (BITMON_TEST_KAFKA, BITMON_TEST_REDIS), jq and kcat.
# Leaves the jobs, the results and a /metrics scrape in
# $BITMON_TEST_ARTIFACTS/pipeline (default $BITMON_BUILD/artifacts) for
# deploy/check.sh (schemas, metric names of the dashboard and alerts).
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${BITMON_BIN:-$PWD/build/bitmon}
SIM=${BITMON_SIM:-$PWD/build/bitrise-sim}
SCENARIO=$PWD/tests/scenarios/pipeline.json
scale=${BITMON_TEST_TIMEOUT_SCALE:-1}
if [ -z "${BITMON_TEST_KAFKA:-}" ] || [ -z "${BITMON_TEST_REDIS:-}" ]; then
        echo "FAIL pipeline_e2e: needs the local stack (run through tests/run.sh)"
        exit 1
fi
tmp=$(mktemp -d -t bitmon-pipeline.XXXXXX)
art=${BITMON_TEST_ARTIFACTS:-${BITMON_BUILD:-$PWD/build}/artifacts}/pipeline
rm -rf "$art"
mkdir -p "$art"
sim_pid= run_pid= tail_pid=
cleanup() {
        for p in $tail_pid $run_pid $sim_pid; do
                kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
        done
        [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
failed=0
ok() { echo "ok $1"; }
bad() {
        echo "FAIL $1: $2"
        failed=1
}
die() {
        bad "$1" "$2"
        tail -20 "$tmp/bitmon.log" 2>/dev/null | sed 's/^/    /'
        exit 1
}

# ---- the world ---------------------------------------------------------------
"$SIM" --scenario "$SCENARIO" --listen 127.0.0.1:0 --port-file "$tmp/sim.port" \
        >"$tmp/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [ -s "$tmp/sim.port" ] && break; sleep 0.1; done
[ -s "$tmp/sim.port" ] || die pipeline_sim "simulator did not start"
sim_root=http://127.0.0.1:$(cat "$tmp/sim.port")

mkdir -m 700 "$tmp/tokens"
printf 'bitwat_pipeline_developer\n' >"$tmp/tokens/ws-pipe"
printf 'bitwat_pipeline_tester\n' >"$tmp/tokens/ws-tester"
printf 'bitwat_pipeline_mistyped\n' >"$tmp/tokens/ws-bad"
openssl rand -hex 32 >"$tmp/fp.key"

run=pipe-$$-$RANDOM
export BITMON_KAFKA_BOOTSTRAP_SERVERS=$BITMON_TEST_KAFKA
export BITMON_REDIS_HOST=${BITMON_TEST_REDIS%:*} BITMON_REDIS_PORT=${BITMON_TEST_REDIS##*:}
export BITMON_REDIS_PREFIX="$run:"
export BITMON_TOPICS_JOBS=$run.jobs BITMON_TOPICS_RESULTS=$run.results BITMON_TOPICS_DLQ=$run.dlq
export BITMON_TOPICS_LOGS=$run.logs
export BITMON_TOPICS_REPLICATION=1 BITMON_TOPICS_PARTITIONS=4
export BITMON_CONSUMER_GROUP=$run BITMON_WORKER_ID=$run BITMON_WORKERS_THREADS=2
export BITMON_TOKENS_STORE=dir:$tmp/tokens BITMON_TOKENS_FINGERPRINT_KEY_FILE=$tmp/fp.key
export BITMON_BITRISE_BASE_URL=$sim_root/v0.1 BITMON_HTTP_LISTEN=127.0.0.1:0
export BITMON_POLL_RUNNING_S=1 BITMON_POLL_ON_HOLD_S=1 BITMON_BUDGET_RATE=20 BITMON_BUDGET_BURST=40
export BITMON_LOG_FORMAT=json BITMON_LOG_LEVEL=info
shutdown_s=$((10 * scale))
export BITMON_SHUTDOWN_TIMEOUT_S=$shutdown_s

"$BIN" topics >"$tmp/topics.out" 2>&1 || die pipeline_topics "$(cat "$tmp/topics.out")"

"$BIN" run >"$tmp/bitmon.log" 2>&1 &
run_pid=$!
for _ in $(seq $((150 * scale))); do
        grep -q '"msg":"started"' "$tmp/bitmon.log" && break
        kill -0 "$run_pid" 2>/dev/null || die pipeline_start "bitmon run exited"
        sleep 0.1
done
grep -q '"msg":"started"' "$tmp/bitmon.log" || die pipeline_start "not started"
port=$(sed -n 's/.*"msg":"http listening","port":"\([0-9]*\)".*/\1/p' "$tmp/bitmon.log" | head -1)
[ "$(curl -s "127.0.0.1:$port/readyz")" = ready ] && ok pipeline_readyz ||
        bad pipeline_readyz "readyz: $(curl -s "127.0.0.1:$port/readyz")"

"$BIN" tail --json --from-beginning >"$tmp/results.jsonl" 2>"$tmp/tail.err" &
tail_pid=$!

# ---- the jobs ----------------------------------------------------------------
A=a11e000000000001
builds="5000000000000001 5000000000000002 e000000000000001 e000000000000002 ab00000000000001 ab00000000000002 0000000000000001 0000000000000002"
job() { # id ws app build [extra json]
        printf '{"v":1,"job_id":"%s-%s","workspace":"%s","app_slug":"%s","build_slug":"%s","attrs":{"run":"%s","n":"%s"}%s}\n' \
                "$run" "$1" "$2" "$3" "$4" "$run" "$1" "${5:-}"
}
{
        for b in $builds; do
                job "$b-1" ws-pipe $A "$b"
                job "$b-2" ws-pipe $A "$b" ',"log":"none"'
                job "$b-3" ws-pipe $A "$b" ',"log":"full"'
                job "$b-4" ws-pipe $A "$b"
                job "$b-5" ws-pipe $A "$b" ',"log":"summary"'
        done
        for i in 1 2; do
                job "tester-$i" ws-tester 7e57000000000001 7000000000000001
                job "badtoken-$i" ws-bad bad0000000000001 b000000000000001
                job "missing-$i" ws-missing 0155000000000001 c000000000000001
                job "noapp-$i" ws-pipe ffff000000000001 5000000000000001
        done
        job once-running ws-pipe $A 0000000000000001 ',"follow":false'
        job once-finished ws-pipe $A 5000000000000001 ',"follow":false'
} >"$tmp/jobs.jsonl"
njobs=$(wc -l <"$tmp/jobs.jsonl")
"$BIN" enqueue - <"$tmp/jobs.jsonl" >"$tmp/enqueue.out" 2>&1 ||
        die pipeline_enqueue "$(tail -3 "$tmp/enqueue.out")"
# Two bad jobs, straight to Kafka (enqueue refuses them).
printf 'not json at all\n{"v":1,"job_id":"%s-nobuild","workspace":"ws-pipe","app_slug":"%s"}\n' "$run" "$A" |
        kcat -P -q -b "$BITMON_TEST_KAFKA" -t "$run.jobs" -k "$A/x" 2>"$tmp/kcat.err" ||
        die pipeline_enqueue "kcat: $(cat "$tmp/kcat.err")"

terminal() { # "count job_id" per job with a terminal result
        jq -r 'select(.event != "status" or .final == true) | .job_id' \
                "$tmp/results.jsonl" 2>/dev/null | sort | uniq -c
}
deadline=$((SECONDS + 45 * scale))
while [ $SECONDS -lt $deadline ] && [ "$(terminal | wc -l)" -lt "$njobs" ]; do
        kill -0 "$run_pid" 2>/dev/null || die pipeline_alive "bitmon run died"
        sleep 0.5
done
sleep 1

# ---- exactly one terminal result per job ---------------------------------------
n_end=$(terminal | wc -l)
dups=$(terminal | awk '$1 != 1')
if [ "$n_end" -eq "$njobs" ] && [ -z "$dups" ]; then
        ok "pipeline_one_terminal_each ($njobs jobs)"
else
        bad pipeline_one_terminal_each "$n_end of $njobs ended; duplicates: ${dups:-none}"
fi
r() { # job suffix → its terminal result
        jq -c --arg j "$run-$1" 'select(.job_id == $j and (.event != "status" or .final == true))' "$tmp/results.jsonl" | head -1
}

# ---- finished builds against the simulator's expectations ----------------------
names=(x success error aborted aborted-with-success)
declare -A running=([5000000000000001]=100 [5000000000000002]=60 [e000000000000001]=80
        [e000000000000002]=120 [ab00000000000001]=40 [ab00000000000002]=50
        [0000000000000001]=60 [0000000000000002]=40)
declare -A onhold=([0000000000000001]=30 [0000000000000002]=20)
fin_ok=1
for b in $builds; do
        exp=$(curl -s "$sim_root/_sim/expected?app=$A&build=$b")
        st=$(jq -r .final_status <<<"$exp")
        want_steps=$(jq -c '[.failed_steps[] | {title, exit_code}]' <<<"$exp")
        for i in 1 2 3 4 5; do
                res=$(r "$b-$i")
                why=
                [ "$(jq -r .event <<<"$res")" = finished ] || why="event $(jq -r .event <<<"$res")"
                [ "$(jq -r .build.status <<<"$res")" = "$st" ] || why="$why status $(jq -r .build.status <<<"$res") want $st"
                [ "$(jq -r .build.status_text <<<"$res")" = "${names[$st]}" ] || why="$why status_text $(jq -r .build.status_text <<<"$res")"
                d=$(jq -r .build.duration_s <<<"$res")
                [ "$d" != null ] && [ $((d - running[$b])) -le 2 ] && [ $((running[$b] - d)) -le 2 ] ||
                        why="$why duration_s $d want ~${running[$b]}"
                q=$(jq -r .build.queued_s <<<"$res")
                [ "$q" != null ] && [ "$q" -ge $((${onhold[$b]:-0} - 2)) ] && [ "$q" -le $((${onhold[$b]:-0} + 3)) ] ||
                        why="$why queued_s $q want ~${onhold[$b]:-0}"
                [ "$(jq -r .attrs.n <<<"$res")" = "$b-$i" ] || why="$why attrs not copied"
                if [ "$i" = 2 ]; then
                        [ "$(jq -c .log <<<"$res")" = null ] || why="$why log on a log=none job"
                elif [ "$st" = 2 ]; then
                        got=$(jq -c '[.log.failed_steps[] | {title, exit_code}]' <<<"$res")
                        [ "$got" = "$want_steps" ] || why="$why failed_steps $got want $want_steps"
                        [ "$(jq -r '.log.archived and .log.bytes > 0 and (.log.tail | length) > 0 and (.log.sha256 | length) == 64' <<<"$res")" = true ] ||
                                why="$why log fields $(jq -c '.log | del(.failed_steps, .tail)' <<<"$res")"
                elif [ "$st" = 1 ]; then
                        [ "$(jq -r '.log.failed_steps | length' <<<"$res")" = 0 ] || why="$why failed steps on a success"
                fi
                [ -z "$why" ] || { bad "pipeline_finished_$b-$i" "$why"; fin_ok=0; }
        done
done
[ "$fin_ok" = 1 ] && ok "pipeline_finished_fields (8 builds x 5 jobs)"
ab=$(r ab00000000000001-1)
[ "$(jq -r .build.abort_reason <<<"$ab")" = "User aborted" ] && ok pipeline_abort_reason ||
        bad pipeline_abort_reason "$(jq -c .build <<<"$ab")"

# ---- error codes ----------------------------------------------------------------
for pair in tester:insufficient_role badtoken:token_invalid missing:token_missing noapp:not_found; do
        name=${pair%%:*} code=${pair#*:}
        e_ok=1
        for i in 1 2; do
                res=$(r "$name-$i")
                got=$(jq -r '.event + " " + .error.code' <<<"$res")
                msg=$(jq -r .error.message <<<"$res")
                [ "$got" = "error $code" ] && [ ${#msg} -gt 20 ] || { e_ok=0; bad "pipeline_error_$code" "$name-$i: $got"; }
        done
        [ "$e_ok" = 1 ] && ok "pipeline_error_$code"
done
if grep -q 'bitwat_pipeline' "$tmp/results.jsonl" "$tmp/bitmon.log"; then
        bad pipeline_no_token_leak "a token appears in the results or the log"
else
        ok pipeline_no_token_leak
fi

# ---- follow=false ---------------------------------------------------------------
once=$(jq -c --arg j "$run-once-running" 'select(.job_id == $j)' "$tmp/results.jsonl")
[ "$(wc -l <<<"$once")" = 1 ] && [ "$(jq -r '.event + " " + (.final | tostring)' <<<"$once")" = "status true" ] &&
        ok pipeline_follow_false_running ||
        bad pipeline_follow_false_running "$once"
once=$(jq -c --arg j "$run-once-finished" 'select(.job_id == $j)' "$tmp/results.jsonl")
[ "$(wc -l <<<"$once")" = 1 ] && [ "$(jq -r '.event + " " + (has("final") | tostring)' <<<"$once")" = "finished false" ] &&
        ok pipeline_follow_false_finished ||
        bad pipeline_follow_false_finished "$once"

# ---- DLQ ------------------------------------------------------------------------
dlq=$(timeout $((20 * scale)) kcat -C -q -b "$BITMON_TEST_KAFKA" -t "$run.dlq" -c 2 -e \
        -f '%h|%s\n' 2>/dev/null)
if [ "$(grep -c 'bitmon-error=' <<<"$dlq")" = 2 ] && grep -q 'not json at all' <<<"$dlq"; then
        ok pipeline_dlq
else
        bad pipeline_dlq "dlq: $dlq"
fi

# ---- redelivery: the same job_id again is skipped by its done marker ------------
before=$(wc -l <"$tmp/results.jsonl")
grep -- "\"$run-5000000000000001-1\"" "$tmp/jobs.jsonl" | "$BIN" enqueue - >/dev/null 2>&1
for _ in $(seq $((50 * scale))); do
        grep -q "already reported, skipped.*$run-5000000000000001-1\|$run-5000000000000001-1.*already reported" "$tmp/bitmon.log" && break
        sleep 0.1
done
sleep 1
if grep -q "already reported" "$tmp/bitmon.log" && [ "$(wc -l <"$tmp/results.jsonl")" = "$before" ]; then
        ok pipeline_redelivery_skipped
else
        bad pipeline_redelivery_skipped "results $before -> $(wc -l <"$tmp/results.jsonl"); skip logged: $(grep -c 'already reported' "$tmp/bitmon.log")"
fi

# ---- metrics ----------------------------------------------------------------------
m=$(curl -s "127.0.0.1:$port/metrics")
printf '%s\n' "$m" >"$art/metrics.txt"
if grep -q "^bitmon_jobs_received_total $((njobs + 1))$" <<<"$m" &&
        grep -q '^bitmon_result_errors_total{code="token_missing"} 2$' <<<"$m"; then
        ok pipeline_metrics
else
        bad pipeline_metrics "$(grep -E '^bitmon_(jobs|result_errors)' <<<"$m" | tr '\n' ' ')"
fi

# ---- a long watch in flight at SIGTERM is handed back ------------------------------
job long ws-pipe $A 1000000000000001 | "$BIN" enqueue - >/dev/null 2>&1
long_status() { jq -r --arg j "$run-long" 'select(.job_id == $j) | .event' "$tmp/results.jsonl" | grep -c status; }
for _ in $(seq $((100 * scale))); do [ "$(long_status)" -ge 1 ] && break; sleep 0.1; done
[ "$(long_status)" -ge 1 ] || bad pipeline_long_watch "no status for the long build"

# ---- SIGTERM ----------------------------------------------------------------------
t0=$(date +%s%N)
kill -TERM "$run_pid"
wait "$run_pid"
rc=$?
run_pid=
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$rc" = 0 ] && [ "$ms" -le $((shutdown_s * 1000)) ] && grep -q '"msg":"stopped","clean":"yes"' "$tmp/bitmon.log"; then
        ok "pipeline_sigterm_clean (${ms} ms)"
else
        bad pipeline_sigterm_clean "exit $rc after $ms ms: $(grep '"msg":"stopped"' "$tmp/bitmon.log")"
fi

# ---- restart: only the handed-back job comes again; the rest was committed -------
before=$(wc -l <"$tmp/results.jsonl")
"$BIN" run >"$tmp/bitmon2.log" 2>&1 &
run_pid=$!
for _ in $(seq $((200 * scale))); do [ "$(long_status)" -ge 2 ] && break; sleep 0.1; done
sleep 1
kill -TERM "$run_pid"
wait "$run_pid"
rc=$?
run_pid=
new_lines=$(tail -n +$((before + 1)) "$tmp/results.jsonl" | jq -r .job_id | sort -u | tr '\n' ' ')
if [ "$(long_status)" -ge 2 ] && [ "$new_lines" = "$run-long " ] &&
        ! grep -q 'already reported' "$tmp/bitmon2.log" && [ "$rc" = 0 ]; then
        ok pipeline_restart_resumes_handed_back
else
        bad pipeline_restart_resumes_handed_back "long status events $(long_status); new results for: $new_lines; skips $(grep -c 'already reported' "$tmp/bitmon2.log"); exit $rc"
fi
if grep -q '"level":"error"' "$tmp/bitmon.log"; then
        bad pipeline_no_errors_logged "$(grep '"level":"error"' "$tmp/bitmon.log" | head -3)"
else
        ok pipeline_no_errors_logged
fi
cp "$tmp/jobs.jsonl" "$art/jobs.jsonl"
job long ws-pipe $A 1000000000000001 >>"$art/jobs.jsonl"
printf '{"v":1,"job_id":"%s-nobuild","workspace":"ws-pipe","app_slug":"%s"}\n' "$run" "$A" >"$art/jobs-invalid.jsonl"
cp "$tmp/results.jsonl" "$art/results.jsonl"
[ "$failed" = 0 ] || { [ -n "${KEEP_TMP:-}" ] && echo "files in $tmp"; }
exit "$failed"
