#!/usr/bin/env bash
# tests/integration/resil_eos_broker.sh — exactly-once: the Kafka broker
# stops (SIGSTOP: connections stay open, nothing answers) for 10 s while a
# transaction holds terminal results (seen by a read_uncommitted reader, not
# yet by a read_committed one), and more builds finish during the outage.
# After the broker returns, every job has its terminal result, exactly once
# for a read_committed reader, and `bitmon run` kept running.
# Round 2, the same with producer.txn_timeout_ms=4000 and 40 more jobs: the
# outage outlasts the transaction: either the broker times it out first
# (Kafka fences the process, as it would a twin; the process says so, exits
# 1 and is restarted as a supervisor would), or the producer's messages
# time out first (the transaction aborts and is rewound in place); each
# job still ends exactly once for read_committed.
# Round 3, with kafka.message.timeout.ms=3000 under the transaction's 60 s:
# builds finish during a 10 s outage, their results time out in the
# producer, so the transaction must abort
# (no rebalance: the session outlasts the outage); the process keeps its
# partitions, rewinds them to the last commit and watches their jobs again
# (bitmon_txn_aborts, the "rewound" line), and each job still ends exactly
# once. A private Kafka 4.x broker
# (scripts/kafka.sh) so the shared stack is untouched.
. "$(dirname "$0")/lib.sh"
lib_init resil_eos_broker
if [ "${BITMON_TEST_KAFKA_KIND:-}" != kafka ]; then
        ok "resil_eos_broker (skipped: needs a real Kafka broker, not the mock)"
        exit 0
fi
BITMON_STACK_OWNER=$$ scripts/kafka.sh start "$tmp/kafka" >"$tmp/kafka-start.out" 2>&1 ||
        die resil_eos_broker_kafka "$(tail -3 "$tmp/kafka-start.out")"
BITMON_TEST_KAFKA=$(sed -n 's/^BITMON_TEST_KAFKA=//p' "$tmp/kafka/kafka.env")
kpid=$(sed -n 's/^BITMON_TEST_KAFKA_PID=//p' "$tmp/kafka/kafka.env")
lib_track "$kpid"
trap 'kill -CONT "$kpid" 2>/dev/null; scripts/kafka.sh stop "$tmp/kafka" >/dev/null 2>&1; lib_cleanup' EXIT

A=a11e00000000f003
# builds 0-19 finish 2-6 s after the start; 20-119 run until finished below
gen_scenario 120 $A ws-eos-broker bitwat_eos_broker_dev 40 4 20 |
        jq '.apps[0].builds |= [to_entries[] | .value + (if .key >= 20 then {running_s: 1000000} else {} end)]' \
                >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
printf 'bitwat_eos_broker_dev\n' >"$tmp/tokens/ws-eos-broker"
BITMON_TOPICS_PARTITIONS=6 bitmon_env "eos-broker-$$-$RANDOM"
bitmon_start p1 -X producer.exactly_once=true -X producer.txn_ms=2000
wait_assigned p1
tail_start
"$BIN" tail --json --from-beginning --read-uncommitted >"$tmp/uncommitted.jsonl" 2>"$tmp/tail-u.err" &
lib_track $!
for k in $(seq 0 39); do
        for i in $(seq 5); do job "$k-$i" ws-eos-broker $A "$(gen_slug "$k")"; done
done >"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
t0=$SECONDS
enqueue_file "$tmp/jobs.jsonl"
ended() { jq -r 'select(.event != "status" or .final == true) | .job_id' "$1" | sort -u; }
# Stops the broker as soon as terminal results sit in an open transaction
# (seen uncommitted, not committed); $open says how many.
stop_with_open_txn() {
        open=0
        for _ in $(seq $((400 * scale))); do
                open=$(comm -13 <(ended "$tmp/results.jsonl") <(ended "$tmp/uncommitted.jsonl") | wc -l)
                [ "$open" -gt 0 ] && break
                sleep 0.05
        done
        kill -STOP "$kpid"
}
stop_with_open_txn
note "t=$((SECONDS - t0)) s: broker stopped with $open terminal results in an open transaction; $(ended "$tmp/results.jsonl" | wc -l) committed"
[ "$open" -gt 0 ] && ok "resil_eos_broker_txn_open ($open results)" ||
        bad resil_eos_broker_txn_open "no terminal result was in an open transaction when the broker stopped"
for k in $(seq 20 39); do
        curl -s -X POST -d "{\"app\":\"$A\",\"build\":\"$(gen_slug "$k")\",\"status\":1}" \
                "$sim_root/_sim/builds/finish" >/dev/null
done
sleep 10
kill -CONT "$kpid"
note "t=$((SECONDS - t0)) s: broker back"
wait_terminal "$n" 90
sleep 3
note "t=$((SECONDS - t0)) s: $(terminal_counts | wc -l) of $n jobs ended"
check_one_terminal_each resil_eos_broker_exactly_once "$tmp/jobs.jsonl"
kill -0 "${BM_PID[p1]}" 2>/dev/null && ok resil_eos_broker_kept_running ||
        bad resil_eos_broker_kept_running "bitmon run exited: $(tail -2 "$tmp/bitmon-p1.log")"
extra=$(jq -r 'select(.event != "status" or .final == true) | .job_id' "$tmp/uncommitted.jsonl" |
        sort | uniq -c | awk '$1 > 1 {d += $1 - 1} END {print d + 0}')
note "transactions committed $(bitmon_metric p1 bitmon_txn_commits), aborted $(bitmon_metric p1 bitmon_txn_aborts); read_uncommitted extra terminal results: $extra"
bitmon_term p1
[ "$term_rc" = 0 ] || bad resil_eos_broker_sigterm "exit $term_rc"

# ---- round 2: the outage outlasts the transaction (abort, rewind, redo)
bitmon_start p1 -X producer.exactly_once=true -X producer.txn_ms=2000 -X producer.txn_timeout_ms=4000
wait_assigned p1
for k in $(seq 40 79); do job "r2-$k" ws-eos-broker $A "$(gen_slug "$k")"; done >"$tmp/jobs2.jsonl"
enqueue_file "$tmp/jobs2.jsonl"
cat "$tmp/jobs2.jsonl" >>"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
watched2() { jq -r 'select(.event == "status" and (.job_id | contains("-r2-"))) | .job_id' "$tmp/results.jsonl" | sort -u | wc -l; }
for _ in $(seq $((300 * scale))); do [ "$(watched2)" -ge 40 ] && break; sleep 0.1; done
for k in $(seq 40 79); do
        curl -s -X POST -d "{\"app\":\"$A\",\"build\":\"$(gen_slug "$k")\",\"status\":1}" \
                "$sim_root/_sim/builds/finish" >/dev/null
done
stop_with_open_txn
note "round 2: broker stopped with $open terminal results in an open transaction (timeout 4 s)"
sleep 10
kill -CONT "$kpid"
# Two outcomes, as the timing falls: the broker timed the transaction out
# first (Kafka then fences the producer, or no longer knows its
# transaction): the process says so and exits 1, and is restarted here as
# a supervisor would; or the producer's own message timeout came first: the
# transaction aborts (epoch bumped) and the partitions are rewound in place;
# or the frozen broker had not timed it out yet and it commits late.
for _ in $(seq $((600 * scale))); do
        kill -0 "${BM_PID[p1]}" 2>/dev/null || break
        [ "$(terminal_counts | wc -l)" -ge "$n" ] && break
        sleep 0.1
done
if ! kill -0 "${BM_PID[p1]}" 2>/dev/null; then
        wait "${BM_PID[p1]}"
        rc1=$?
        grep -Eq '"msg":"(fenced|transaction lost): ' "$tmp/bitmon-p1.log" && [ "$rc1" = 1 ] &&
                ok "resil_eos_broker_timed_out (exit 1 with the fenced line; $open results in the timed-out transaction)" ||
                bad resil_eos_broker_timed_out "exit $rc1: $(grep -Ec '"msg":"(fenced|transaction lost): ' "$tmp/bitmon-p1.log") fenced lines"
        bitmon_start p1 -X producer.exactly_once=true -X producer.txn_ms=2000
else
        # or the broker (frozen too) had not timed it out yet when it came
        # back, and the commit went through late
        aborts=$(bitmon_metric p1 bitmon_txn_aborts)
        ok "resil_eos_broker_timed_out (kept running: $aborts aborts and rewinds, $(bitmon_metric p1 bitmon_txn_commits) commits)"
fi
wait_terminal "$n" 90
sleep 3
extra=$(jq -r 'select(.event != "status" or .final == true) | .job_id' "$tmp/uncommitted.jsonl" |
        sort | uniq -c | awk '$1 > 1 {d += $1 - 1} END {print d + 0}')
note "round 2: $(terminal_counts | wc -l) of $n jobs ended after the restart; read_uncommitted extra terminal results: $extra"
check_one_terminal_each resil_eos_broker_timeout_exactly_once "$tmp/jobs.jsonl"
bitmon_term p1
[ "$term_rc" = 0 ] || bad resil_eos_broker_sigterm2 "exit $term_rc"

# ---- round 3: messages time out in the outage (abort, rewind, redo in place)
bitmon_start p1 -X producer.exactly_once=true -X producer.txn_ms=2000 -X kafka.message.timeout.ms=3000
wait_assigned p1
for k in $(seq 80 119); do job "r3-$k" ws-eos-broker $A "$(gen_slug "$k")"; done >"$tmp/jobs3.jsonl"
enqueue_file "$tmp/jobs3.jsonl"
cat "$tmp/jobs3.jsonl" >>"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
watched3() { jq -r 'select(.event == "status" and (.job_id | contains("-r3-"))) | .job_id' "$tmp/results.jsonl" | sort -u | wc -l; }
for _ in $(seq $((300 * scale))); do [ "$(watched3)" -ge 40 ] && break; sleep 0.1; done
# the builds finish while the broker is away: their results wait in the
# producer and time out there (3 s), so their transaction cannot commit
kill -STOP "$kpid"
for k in $(seq 80 119); do
        curl -s -X POST -d "{\"app\":\"$A\",\"build\":\"$(gen_slug "$k")\",\"status\":1}" \
                "$sim_root/_sim/builds/finish" >/dev/null
done
note "round 3: broker stopped, 40 builds finished (their results time out after 3 s)"
sleep 10
kill -CONT "$kpid"
wait_terminal "$n" 90
sleep 3
aborts=$(bitmon_metric p1 bitmon_txn_aborts)
note "round 3: $(terminal_counts | wc -l) of $n jobs ended; transactions aborted $aborts"
[ "$aborts" -gt 0 ] && kill -0 "${BM_PID[p1]}" 2>/dev/null &&
        grep -q '"msg":"transaction aborted: partitions rewound' "$tmp/bitmon-p1.log" &&
        ok "resil_eos_broker_rewound ($aborts aborts, still running)" ||
        bad resil_eos_broker_rewound "aborts $aborts: $(grep -E 'aborting|rewound|fatal' "$tmp/bitmon-p1.log" | tail -2 | cut -c1-200)"
check_one_terminal_each resil_eos_broker_rewind_exactly_once "$tmp/jobs.jsonl"
bitmon_term p1
[ "$term_rc" = 0 ] || bad resil_eos_broker_sigterm3 "exit $term_rc"
exit "$failed"
