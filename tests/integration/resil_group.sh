#!/usr/bin/env bash
# tests/integration/resil_group.sh — three `bitmon run` processes in one
# consumer group share 600 jobs on 60 builds that finish 5-20 s after the start
# (generated scenario, simulator at 20x); mid-run:
#   - kill -9 one process once 100 jobs ended, restart it 2 s later;
#   - a 4th process joins 1 s later and leaves (SIGTERM) about 1 s after that,
#     while it still watches jobs.
# Every job still gets a terminal result, and the right one (finished, the
# build's status); duplicates (at-least-once after the crash) are counted and
# printed. Short session timeout so the group notices the crash in seconds.
. "$(dirname "$0")/lib.sh"
lib_init resil_group
A=a11e00000000d001
gen_scenario 60 $A ws-resil-group bitwat_resil_group_dev 100 5 20 >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
printf 'bitwat_resil_group_dev\n' >"$tmp/tokens/ws-resil-group"
BITMON_TOPICS_PARTITIONS=12 bitmon_env "resil-group-$$-$RANDOM"
kx=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500)
for p in p1 p2 p3; do bitmon_start $p "${kx[@]}"; done
wait_assigned p1 p2 p3
tail_start

for k in $(seq 0 59); do
        for i in $(seq 10); do job "$k-$i" ws-resil-group $A "$(gen_slug "$k")"; done
done >"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
t0=$SECONDS
enqueue_file "$tmp/jobs.jsonl"
# Kill once jobs are ending: p2 then has results published whose offsets may
# not be committed yet (redelivered; the done markers should skip them).
for _ in $(seq $((150 * scale))); do [ "$(terminal_counts | wc -l)" -ge 100 ] && break; sleep 0.1; done
w2=$(bitmon_metric p2 bitmon_watches)
kill -KILL "${BM_PID[p2]}"
wait "${BM_PID[p2]}" 2>/dev/null
note "t=$((SECONDS - t0)) s: kill -9 p2 (it watched $w2 jobs); $(terminal_counts | wc -l) jobs ended so far"
[ "$w2" -gt 0 ] || bad resil_group_kill_mid_run "p2 watched nothing when killed"
sleep 2
bitmon_start p2 "${kx[@]}"
note "t=$((SECONDS - t0)) s: p2 restarted"
sleep 1
bitmon_start p4 "${kx[@]}"
note "t=$((SECONDS - t0)) s: p4 joined"
# Let p4 work for a second, then make it leave while it still watches jobs
# (a fixed wait let it finish all of them first on a fast run).
sleep 1
for _ in $(seq $((40 * scale))); do
        w4=$(bitmon_metric p4 bitmon_watches)
        [ "$w4" -gt 0 ] && break
        sleep 0.1
done
r4=$(bitmon_metric p4 bitmon_jobs_received_total)
bitmon_term p4
note "t=$((SECONDS - t0)) s: p4 left (SIGTERM, exit $term_rc in $term_ms ms) watching $w4 of the $r4 jobs it received"
[ "$r4" -gt 0 ] && [ "$w4" -gt 0 ] && [ "$term_rc" = 0 ] && ok "resil_group_join_leave (p4 took $r4 jobs)" ||
        bad resil_group_join_leave "p4 received $r4, watched $w4 at SIGTERM, exit $term_rc"

wait_terminal "$n" 45
note "t=$((SECONDS - t0)) s: $(terminal_counts | wc -l) of $n jobs ended"
sleep 1
ended=$(terminal_counts | wc -l)
dups=$(terminal_counts | awk '$1 > 1 {d += $1 - 1; j++} END {print j + 0 " jobs, " d + 0 " extra results"}')
skips=$(cat "$tmp"/bitmon-p*.log | grep -c 'already reported')
note "duplicates after kill -9: $dups; redeliveries skipped by their done marker: $skips"
if [ "$ended" = "$n" ]; then
        ok "resil_group_no_job_lost ($n jobs; duplicates: $dups)"
else
        missing=$(comm -23 <(jq -r .job_id "$tmp/jobs.jsonl" | sort) <(terminal_counts | awk '{print $2}' | sort) | head -3 | tr '\n' ' ')
        bad resil_group_no_job_lost "$ended of $n ended; e.g. missing $missing"
fi
# Every terminal result is the build's finish with its scenario status.
check_results_right resil_group_results_right
for p in p1 p2 p3; do bitmon_term $p; [ "$term_rc" = 0 ] || bad resil_group_sigterm "$p exit $term_rc"; done
exit "$failed"
