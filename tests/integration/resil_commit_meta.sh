#!/usr/bin/env bash
# tests/integration/resil_commit_meta.sh — at-least-once (the default): the
# consumer's commits carry the jobs done above each partition's position
# (consumer/commits.c), so a process that takes a partition over skips them
# even when Redis lost the done markers. Two `bitmon run` processes, 12
# partitions; 10 builds run ~30 s (2 jobs each, enqueued first: they hold
# their partitions' committed positions) and 50 builds finish after 5-11 s
# (10 jobs each, enqueued after them: done above the held positions). Once
# every short job ended and two commit intervals passed, the done markers
# are deleted (Redis state lost) and p2 is killed with SIGKILL, then
# restarted. Every job must end exactly once: the short jobs of p2's
# partitions are consumed again by their next owner and skipped by the
# commit's metadata (bitmon_jobs_skipped_committed > 0 required; without it
# they are all reported again), the long ones are watched again and end
# once.
. "$(dirname "$0")/lib.sh"
lib_init resil_commit_meta
A=a11e0000000c0001
gen_scenario 60 $A ws-cmeta bitwat_cmeta_dev 100 2 20 |
        jq '.apps[0].builds |= map(if (.slug[3:] | tonumber) < 10 then .running_s = 600 else . end)' >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
printf 'bitwat_cmeta_dev\n' >"$tmp/tokens/ws-cmeta"
BITMON_TOPICS_PARTITIONS=12 bitmon_env "cmeta-$$-$RANDOM"
kx=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500 -X kafka.auto.commit.interval.ms=500)
for p in p1 p2; do bitmon_start $p "${kx[@]}"; done
wait_assigned p1 p2
tail_start

{
        for k in $(seq 0 9); do for i in 1 2; do job "long$k-$i" ws-cmeta $A "$(gen_slug "$k")"; done; done
        for k in $(seq 10 59); do for i in $(seq 10); do job "short$k-$i" ws-cmeta $A "$(gen_slug "$k")"; done; done
} >"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
t0=$SECONDS
enqueue_file "$tmp/jobs.jsonl"
wait_terminal 500 40
ended=$(terminal_counts | wc -l)
note "t=$((SECONDS - t0)) s: $ended jobs ended (500 short ones expected)"
[ "$ended" -ge 500 ] || die resil_commit_meta_short "only $ended jobs ended"
sleep 1.5 # two commits of kafka.auto.commit.interval.ms=500 carry them
w2=$(bitmon_metric p2 bitmon_watches)
marks=$(done_markers_delete)
kill -KILL "${BM_PID[p2]}"
wait "${BM_PID[p2]}" 2>/dev/null
note "t=$((SECONDS - t0)) s: deleted $marks done markers (Redis state lost), kill -9 p2 (it watched $w2 jobs)"
[ "$w2" -gt 0 ] || bad resil_commit_meta_mid_run "p2 watched nothing when killed: no partition of it held a long build"
sleep 2
bitmon_start p2 "${kx[@]}"
note "t=$((SECONDS - t0)) s: p2 restarted"
wait_terminal "$n" 60
sleep 3 # a duplicate would come after the last first result
note "t=$((SECONDS - t0)) s: $(terminal_counts | wc -l) of $n jobs ended"
check_one_terminal_each resil_commit_meta_once "$tmp/jobs.jsonl"
check_results_right resil_commit_meta_results_right
check_metadata_skips resil_commit_meta_skips
for p in p1 p2; do bitmon_term $p; [ "$term_rc" = 0 ] || bad resil_commit_meta_sigterm "$p exit $term_rc"; done
exit "$failed"
