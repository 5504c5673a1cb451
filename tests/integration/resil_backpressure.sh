#!/usr/bin/env bash
# tests/integration/resil_backpressure.sh — a full producer queue never blocks
# a worker's loop (issue 11): one worker thread, a producer queue of 3
# messages (kafka.queue.buffering.max.messages), 30 watched builds; the
# broker (a private librdkafka mock cluster, build/kafka-mock) hangs
# (SIGSTOP) and 10 builds finish, so their results cannot all be queued:
#   - they wait (bitmon_results_waiting > 0, bitmon_publish_retries_total
#     grows) while the loop keeps serving its timers: the 20 builds still
#     running keep being polled, and /metrics answers;
#   - once the broker is back and the other 20 builds finish, every job has
#     exactly one terminal result and nothing waits any more;
#   - the shutdown after that is clean (exit 0).
. "$(dirname "$0")/lib.sh"
lib_init resil_backpressure
mock=$BITMON_BUILD/kafka-mock
[ -x "$mock" ] || die resil_backpressure "no $mock (make tools)"
run_id="resil-bp-$$-$RANDOM"
"$mock" --brokers 1 --topic "$run_id.jobs:2" --topic "$run_id.results:2" \
        --topic "$run_id.dlq:2" >"$tmp/mock.log" 2>&1 </dev/null &
mock_pid=$!
lib_track "$mock_pid"
for _ in $(seq 100); do grep -q '^bootstrap ' "$tmp/mock.log" && break; sleep 0.1; done
BITMON_TEST_KAFKA=$(sed -n 's/^bootstrap //p' "$tmp/mock.log" | head -1)
[ -n "$BITMON_TEST_KAFKA" ] || die resil_backpressure "mock did not start: $(tail -3 "$tmp/mock.log")"

A=a11e00000000e0bb
gen_scenario 30 $A ws-resil-bp bitwat_resil_bp_dev 0 0 |
        jq '.apps[0].builds |= map(. + {running_s: 1000000})' >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
printf 'bitwat_resil_bp_dev\n' >"$tmp/tokens/ws-resil-bp"
LIB_NO_TOPICS=1 BITMON_WORKERS_THREADS=1 BITMON_TOPICS_PARTITIONS=2 bitmon_env "$run_id"
# poll.batch=false: per-build GETs are what shows the loop still polls (with
# one list call per interval there would be a call every 2 s at most).
bitmon_start p1 -X kafka.queue.buffering.max.messages=3 -X poll.batch=false
wait_assigned p1
tail_start
for k in $(seq 0 29); do job "bp$k" ws-resil-bp $A "$(gen_slug "$k")"; done >"$tmp/jobs.jsonl"
enqueue_file "$tmp/jobs.jsonl"
watching() { jq -r 'select(.event == "status") | .job_id' "$tmp/results.jsonl" | sort -u | wc -l; }
for _ in $(seq $((200 * scale))); do [ "$(watching)" -ge 30 ] && break; sleep 0.1; done
[ "$(watching)" -ge 30 ] && ok bp_watching_before || bad bp_watching_before "$(watching) of 30 jobs watched"
sleep 1

finish() { # first last: finish those builds at the simulator
        for k in $(seq "$1" "$2"); do
                curl -s -X POST -d "{\"app\":\"$A\",\"build\":\"$(gen_slug "$k")\",\"status\":$((1 + k % 4))}" \
                        "$sim_root/_sim/builds/finish" >/dev/null
        done
}
kill -STOP "$mock_pid" # a hung broker: nothing is acknowledged
finish 0 9
for _ in $(seq $((100 * scale))); do
        [ "$(bitmon_metric p1 bitmon_results_waiting)" -gt 0 ] && break
        sleep 0.1
done
waiting=$(bitmon_metric p1 bitmon_results_waiting)
[ "$waiting" -gt 0 ] && ok "bp_results_wait ($waiting waiting)" ||
        bad bp_results_wait "no result waiting with the broker hung and 10 builds finished"
# The loop goes on: the 20 running builds are still polled (1 s interval).
r0=$(sim_token_requests bitwat_resil_bp_dev)
t0=$(date +%s%N)
sleep 3
r1=$(sim_token_requests bitwat_resil_bp_dev)
m=$(curl -s --max-time 2 "127.0.0.1:${BM_PORT[p1]}/metrics" | grep -c '^bitmon_')
ms=$((($(date +%s%N) - t0) / 1000000 - 3000))
note "broker hung: $((r1 - r0)) Bitrise requests in 3 s, /metrics $m series in ${ms} ms, $waiting results waiting"
[ $((r1 - r0)) -ge 20 ] && ok bp_loop_keeps_polling ||
        bad bp_loop_keeps_polling "$((r1 - r0)) Bitrise requests in 3 s with 20 builds running"
[ "$m" -gt 10 ] && ok bp_metrics_served || bad bp_metrics_served "/metrics gave $m series"
retries=$(bitmon_metric p1 bitmon_publish_retries_total)
[ "$retries" -gt 0 ] && ok "bp_retries_counted ($retries)" || bad bp_retries_counted "bitmon_publish_retries_total $retries"

kill -CONT "$mock_pid"
finish 10 29
wait_terminal 30 60
sleep 1 # a duplicate would show up now
check_one_terminal_each bp_one_terminal_each "$tmp/jobs.jsonl"
fin=$(jq -r 'select(.event == "finished") | .job_id' "$tmp/results.jsonl" | sort -u | wc -l)
[ "$fin" = 30 ] && ok bp_all_finished || bad bp_all_finished "$fin of 30 jobs finished"
for _ in $(seq 50); do [ "$(bitmon_metric p1 bitmon_results_waiting)" = 0 ] && break; sleep 0.1; done
[ "$(bitmon_metric p1 bitmon_results_waiting)" = 0 ] && ok bp_drained ||
        bad bp_drained "$(bitmon_metric p1 bitmon_results_waiting) results still waiting"
bitmon_term p1
[ "$term_rc" = 0 ] && ok "bp_sigterm_clean (${term_ms} ms)" || bad bp_sigterm_clean "exit $term_rc"
grep -Eq 'AddressSanitizer|runtime error|Segmentation' "$tmp/bitmon-p1.log" &&
        bad bp_no_crash "$(grep -E 'AddressSanitizer|runtime error' "$tmp/bitmon-p1.log" | head -2)" ||
        ok bp_no_crash
exit "$failed"
