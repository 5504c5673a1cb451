#!/usr/bin/env bash
# tests/integration/resil_eos_abort.sh — exactly-once: an aborted
# transaction re-watches its jobs instead of losing them. p2 is frozen
# (SIGSTOP) for 10 s while its open transaction holds terminal results,
# longer than the group's session timeout (6 s): the group gives its
# partitions to p1. Thawed, p2 finds its partitions lost (or its offsets
# refused for a stale generation), aborts the transaction and rewinds; the
# jobs are redone by whoever owns them now. A read_committed reader sees
# each job's terminal result exactly once; p2 counts the abort.
. "$(dirname "$0")/lib.sh"
lib_init resil_eos_abort
A=a11e00000000f004
eos_start abort $A 3000 uncommitted
for k in $(seq 0 59); do
        for i in $(seq 10); do job "$k-$i" ws-eos-abort $A "$(gen_slug "$k")"; done
done >"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
t0=$SECONDS
enqueue_file "$tmp/jobs.jsonl"
for _ in $(seq $((150 * scale))); do [ "$(terminal_counts | wc -l)" -ge 50 ] && break; sleep 0.1; done
ended_by() { # file worker-prefix
        jq -r --arg w "$2" 'select((.event != "status" or .final == true) and (.worker | startswith($w))) | .job_id' "$1" | sort -u
}
open=0
for _ in $(seq $((300 * scale))); do
        open=$(comm -13 <(ended_by "$tmp/results.jsonl" "$run-p2/") <(ended_by "$tmp/uncommitted.jsonl" "$run-p2/") | wc -l)
        [ "$open" -gt 0 ] && break
        sleep 0.05
done
kill -STOP "${BM_PID[p2]}"
note "t=$((SECONDS - t0)) s: p2 frozen with $open terminal results in its open transaction"
sleep 10
kill -CONT "${BM_PID[p2]}"
note "t=$((SECONDS - t0)) s: p2 thawed"
wait_terminal "$n" 60
sleep 3
aborts=$(bitmon_metric p2 bitmon_txn_aborts)
note "t=$((SECONDS - t0)) s: $(terminal_counts | wc -l) of $n jobs ended; p2 aborted $aborts transactions"
[ "$open" -gt 0 ] && [ "$aborts" -gt 0 ] &&
        grep -q '"msg":"transaction aborted: partitions rewound' "$tmp/bitmon-p2.log" &&
        ok "resil_eos_abort_rewound ($open results aborted, $aborts aborts)" ||
        bad resil_eos_abort_rewound "open $open, aborts $aborts: $(grep -E 'abort|lost' "$tmp/bitmon-p2.log" | tail -2 | cut -c1-200)"
check_one_terminal_each resil_eos_abort_exactly_once "$tmp/jobs.jsonl"
check_results_right resil_eos_abort_results_right
for p in p1 p2; do bitmon_term $p; [ "$term_rc" = 0 ] || bad resil_eos_abort_sigterm "$p exit $term_rc"; done
exit "$failed"
