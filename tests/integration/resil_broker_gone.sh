#!/usr/bin/env bash
# tests/integration/resil_broker_gone.sh — SIGTERM while the Kafka broker is
# gone: bitmon still exits within shutdown.timeout_s (DESIGN "Shutdown"),
# saying what it could not do, instead of waiting out the group session or
# the commit. Its broker is a private librdkafka mock cluster (build/
# kafka-mock), stopped (SIGSTOP: a hung broker or a network partition, the
# connections stay open and nothing answers) while 20 builds are watched
# and 20 jobs have ended with their offsets not yet committed; then five
# watched builds finish, whose results cannot be delivered; the exit status
# says the shutdown was not clean (3). The shared stack is untouched.
. "$(dirname "$0")/lib.sh"
lib_init resil_broker_gone
mock=$BITMON_BUILD/kafka-mock
[ -x "$mock" ] || die resil_broker_gone "no $mock (make tools)"
run_id="resil-gone-$$-$RANDOM"
"$mock" --brokers 1 --topic "$run_id.jobs:2" --topic "$run_id.results:2" \
        --topic "$run_id.dlq:2" >"$tmp/mock.log" 2>&1 </dev/null &
mock_pid=$!
lib_track "$mock_pid"
for _ in $(seq 100); do grep -q '^bootstrap ' "$tmp/mock.log" && break; sleep 0.1; done
BITMON_TEST_KAFKA=$(sed -n 's/^bootstrap //p' "$tmp/mock.log" | head -1)
[ -n "$BITMON_TEST_KAFKA" ] || die resil_broker_gone "mock did not start: $(tail -3 "$tmp/mock.log")"

A=a11e00000000e00b
# 20 builds running for good, 20 finished: those 20 jobs end, and their
# offsets wait for the commit at shutdown (no auto-commit before it)
gen_scenario 40 $A ws-resil-gone bitwat_resil_gone_dev 0 0 |
        jq '.apps[0].builds |= [to_entries[] | .value + (if .key < 20 then {running_s: 1000000} else {} end)]' \
                >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
printf 'bitwat_resil_gone_dev\n' >"$tmp/tokens/ws-resil-gone"
shutdown_s=$((5 * scale))
LIB_NO_TOPICS=1 BITMON_SHUTDOWN_TIMEOUT_S=$shutdown_s BITMON_TOPICS_PARTITIONS=2 bitmon_env "$run_id"
bitmon_start p1 -X kafka.session.timeout.ms=45000 -X kafka.auto.commit.interval.ms=600000
wait_assigned p1
tail_start
for k in $(seq 0 39); do job "g$k" ws-resil-gone $A "$(gen_slug "$k")"; done >"$tmp/jobs.jsonl"
enqueue_file "$tmp/jobs.jsonl"
watching() { jq -r 'select(.event == "status") | .job_id' "$tmp/results.jsonl" | sort -u | wc -l; }
for _ in $(seq $((200 * scale))); do
        [ "$(watching)" -ge 20 ] && [ "$(terminal_counts | wc -l)" -ge 20 ] && break
        sleep 0.1
done
n=$(watching) f=$(terminal_counts | wc -l)
[ "$n" -ge 20 ] && [ "$f" -ge 20 ] && ok watching_before ||
        bad watching_before "$n of 20 jobs watched, $f of 20 finished"
sleep 1 # their deliveries acknowledged, offsets stored

kill -STOP "$mock_pid" # a hung broker: connections stay, nothing answers
# five builds finish now: their results cannot be delivered
for k in $(seq 0 4); do
        curl -s -X POST -d "{\"app\":\"$A\",\"build\":\"$(gen_slug "$k")\",\"status\":1}" \
                "$sim_root/_sim/builds/finish" >/dev/null
done
sleep 3
bitmon_term p1
kill -CONT "$mock_pid"
note "broker gone: SIGTERM to exit ${term_ms} ms (shutdown.timeout_s=$shutdown_s), status $term_rc"
# the process exit after the deadline: ~50 ms, over a second under TSan
[ "$term_ms" -le $((shutdown_s * 1000 + 1000 * scale)) ] && ok exit_within_timeout ||
        bad exit_within_timeout "${term_ms} ms > ${shutdown_s} s"
grep -q '"msg":"stopped","clean":"no"' "$tmp/bitmon-p1.log" &&
        grep -q 'consumer not closed cleanly at shutdown: cannot commit offsets' "$tmp/bitmon-p1.log" &&
        ok says_unclean ||
        bad says_unclean "$(grep -E 'stopped|commit|leav' "$tmp/bitmon-p1.log" | tail -3)"
# an unclean shutdown exits 3 (docs/run.md), so supervisors can tell
[ "$term_rc" = 3 ] && ok exit_status_unclean ||
        bad exit_status_unclean "exit $term_rc, want 3 after clean=no"
grep -Eq 'AddressSanitizer|runtime error|Segmentation' "$tmp/bitmon-p1.log" &&
        bad no_crash "$(grep -E 'AddressSanitizer|runtime error' "$tmp/bitmon-p1.log" | head -2)" ||
        ok no_crash
