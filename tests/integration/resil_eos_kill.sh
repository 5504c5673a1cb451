#!/usr/bin/env bash
# tests/integration/resil_eos_kill.sh — exactly-once (producer.exactly_once):
# two `bitmon run` processes share 600 jobs on 60 builds that finish 5-20 s
# after the start; once 100 jobs ended, one is killed with SIGKILL at a
# moment when its open transaction holds terminal results (seen by a
# read_uncommitted reader, not yet by the read_committed one;
# producer.txn_ms=3000 keeps them open for a while) and restarted 2 s later with the same worker.id (its new producer fences
# the old transaction). A read_committed reader (`bitmon tail`, the default)
# sees every job's terminal result exactly once, and the right one; a
# read_uncommitted reader sees the aborted results too (printed, and at
# least one is required: the kill did hit an open transaction, so the test
# can fail). The jobs are enqueued in the reverse order of their builds'
# finish, so they complete out of order: committed positions stay behind
# jobs already done, and the done markers of the run are deleted after the
# kill (Redis state lost): only the commits' metadata (consumer/txnmeta.h)
# keeps those from being reported again (bitmon_jobs_skipped_committed > 0 required).
. "$(dirname "$0")/lib.sh"
lib_init resil_eos_kill
A=a11e00000000f001
eos_start kill $A 3000 uncommitted

for k in $(seq 59 -1 0); do
        for i in $(seq 10); do job "$k-$i" ws-eos-kill $A "$(gen_slug "$k")"; done
done >"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
t0=$SECONDS
enqueue_file "$tmp/jobs.jsonl"
for _ in $(seq $((150 * scale))); do [ "$(terminal_counts | wc -l)" -ge 100 ] && break; sleep 0.1; done
ended_by() { # file worker-prefix: job ids with a terminal result from that worker
        jq -r --arg w "$2" 'select((.event != "status" or .final == true) and (.worker | startswith($w))) | .job_id' "$1" | sort -u
}
for _ in $(seq $((300 * scale))); do
        open=$(comm -13 <(ended_by "$tmp/results.jsonl" "$run-p2/") <(ended_by "$tmp/uncommitted.jsonl" "$run-p2/") | wc -l)
        [ "$open" -gt 0 ] && break
        sleep 0.05
done
w2=$(bitmon_metric p2 bitmon_watches)
kill -KILL "${BM_PID[p2]}"
wait "${BM_PID[p2]}" 2>/dev/null
note "t=$((SECONDS - t0)) s: kill -9 p2 (it watched $w2 jobs, $open terminal results in its open transaction); $(terminal_counts | wc -l) jobs ended so far"
[ "$w2" -gt 0 ] || bad resil_eos_kill_mid_run "p2 watched nothing when killed"
marks=$(done_markers_delete)
note "deleted $marks done markers (Redis state lost)"
sleep 2
bitmon_start p2 "${kx[@]}"
note "t=$((SECONDS - t0)) s: p2 restarted"
wait_terminal "$n" 60
sleep 3 # a duplicate would come after the last first result
note "t=$((SECONDS - t0)) s: $(terminal_counts | wc -l) of $n jobs ended"
check_one_terminal_each resil_eos_kill_exactly_once "$tmp/jobs.jsonl"
check_results_right resil_eos_kill_results_right
extra=$(jq -r 'select(.event != "status" or .final == true) | .job_id' "$tmp/uncommitted.jsonl" |
        sort | uniq -c | awk '$1 > 1 {d += $1 - 1} END {print d + 0}')
aborts=$(bitmon_metric p1 bitmon_txn_aborts)
commits=$(bitmon_metric p1 bitmon_txn_commits)
note "read_uncommitted saw $extra extra terminal results (aborted with the killed process's transaction); p1 committed $commits transactions, aborted $aborts"
[ "$extra" -gt 0 ] && ok "resil_eos_kill_hit_open_txn ($extra aborted results)" ||
        bad resil_eos_kill_hit_open_txn "the kill caught no open transaction with results: the test proved nothing"
grep -q '"transactional producer ready' "$tmp/bitmon-p2.log" || bad resil_eos_kill_txn "p2 never said its producer was transactional"
check_metadata_skips resil_eos_kill_metadata_skips
for p in p1 p2; do bitmon_term $p; [ "$term_rc" = 0 ] || bad resil_eos_kill_sigterm "$p exit $term_rc"; done
exit "$failed"
