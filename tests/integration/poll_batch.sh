#!/usr/bin/env bash
# tests/integration/poll_batch.sh — the running builds of one app are followed
# with one list call per interval between two `bitmon run` processes
# (issue 9), counted by the simulator per token and endpoint:
#   - app A: 12 running builds (spread over both processes' partitions), plus an old running build with 52 newer
#     finished ones in between, so the one page a list call may read
#     (poll.list_max_pages=1) never shows it: it must still be followed, with
#     its own GETs, to the right result;
#   - app B (its own token): one watched build, polled per build;
#   - every job ends once with the build's real outcome; app A costs about
#     one list call per interval for both processes together, far fewer
#     calls than polling each build.
. "$(dirname "$0")/lib.sh"
lib_init poll_batch
A=a11e00000000ba01 B=a11e00000000ba02
jq -n --arg a $A --arg b $B '
  def running($slug; $run; $st): {slug: $slug, triggered_at_s: -2, running_s: $run,
                                  status: $st, workflow: "primary", log: {lines: 40, steps: 3}};
  {speed: 1, defaults: {archive_lag_s: 0},
   workspaces: [{slug: "ws-batch-a"}, {slug: "ws-batch-b"}],
   tokens: [{value: "bitwat_batch_a", workspace: "ws-batch-a", role: "developer"},
            {value: "bitwat_batch_b", workspace: "ws-batch-b", role: "developer"}],
   apps: [{slug: $a, workspace: "ws-batch-a", title: "batched",
           builds: ([{slug: "01d0000000000001", triggered_at_s: -400, running_s: 428,
                      status: 2, workflow: "slow", log: {lines: 40, steps: 3}}]
                    + [range(52) as $k | {slug: ("f111" + ("000000000000" + ($k | tostring))[-12:]),
                        triggered_at_s: (-390 + $k * 5), running_s: 2, status: 1}]
                    + [range(12) as $k | running(("ba7c" + ("000000000000" + ($k | tostring))[-12:]);
                                                 (20 + $k); (1 + $k % 4))])},
          {slug: $b, workspace: "ws-batch-b", title: "single",
           builds: [running("5191e00000000001"; 20; 1)]}]}' >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
printf 'bitwat_batch_a\n' >"$tmp/tokens/ws-batch-a"
printf 'bitwat_batch_b\n' >"$tmp/tokens/ws-batch-b"
BITMON_POLL_RUNNING_S=1 bitmon_env "poll-batch-$$-$RANDOM"
args=(-X poll.min_s=0.5 -X poll.list_max_pages=1 -X poll.list_margin_s=0 -X poll.adaptive=false)
bitmon_start p1 "${args[@]}"
bitmon_start p2 "${args[@]}"
wait_assigned p1 p2
tail_start
{
        job old ws-batch-a $A 01d0000000000001
        for k in $(seq 0 11); do job "a$k" ws-batch-a $A "$(printf 'ba7c%012d' $k)"; done
        job b0 ws-batch-b $B 5191e00000000001
} >"$tmp/jobs.jsonl"
curl -s -X POST "$sim_root/_sim/stats/reset" >/dev/null
t0=$SECONDS
enqueue_file "$tmp/jobs.jsonl"
wait_terminal 14 60
T=$((SECONDS - t0))
check_one_terminal_each poll_batch_every_job_ends "$tmp/jobs.jsonl"

# Each terminal result is `finished` with the scenario's status.
check_results_right poll_batch_results_right
jq -se '[.[] | select((.job_id // "") | endswith("-old")) | select(.event == "finished")] |
        length == 1 and .[0].build.status == 2' "$tmp/results.jsonl" >/dev/null &&
        ok poll_batch_missing_build_followed ||
        bad poll_batch_missing_build_followed "the build no list page showed did not end finished/2"

r1=$(bitmon_metric p1 bitmon_jobs_received_total) r2=$(bitmon_metric p2 bitmon_jobs_received_total)
[ "$r1" -gt 1 ] && [ "$r2" -gt 1 ] && ok "poll_batch_both_processes_watch (jobs: $r1 and $r2)" ||
        bad poll_batch_both_processes_watch "jobs received: p1 $r1, p2 $r2"
calls() { # token endpoint
        sim_stats | jq -r --arg t "$1" --arg e "$2" \
                '[.tokens[]? | select(.token == $t) | .endpoints[$e] // 0] | add // 0'
}
la=$(calls bitwat_batch_a builds_list) ga=$(calls bitwat_batch_a build_get)
lb=$(calls bitwat_batch_b builds_list) gb=$(calls bitwat_batch_b build_get)
note "t=$T s: app A (13 watched builds, 2 processes): $la list calls, $ga build GETs; app B (1 build): $lb list, $gb GETs"
# One list call per interval (1 s, floor 0.5 s) for both processes: about
# T of them; each process calling for itself would make about 2T.
if [ "$la" -ge $((T / 3)) ] && [ "$la" -le $((T * 7 / 5 + 2)) ]; then
        ok "poll_batch_one_list_call_per_interval ($la list calls in $T s for 2 processes)"
else
        bad poll_batch_one_list_call_per_interval "$la list calls in $T s (want ~$T, at most $((T * 7 / 5 + 2)))"
fi
# Per-build GETs: the build the list never shows (about one per interval),
# first looks; polling each of 13 builds would be ~13T.
if [ "$ga" -le $((T * 2 + 16)) ]; then
        ok "poll_batch_few_build_gets ($ga GETs for 13 builds in $T s)"
else
        bad poll_batch_few_build_gets "$ga build GETs in $T s (per-build polling: ~$((13 * T)))"
fi
[ "$lb" = 0 ] && [ "$gb" -ge 3 ] && ok "poll_batch_single_build_per_build ($gb GETs, no list)" ||
        bad poll_batch_single_build_per_build "app B: $lb list calls, $gb GETs"
listed=$(($(bitmon_metric p1 'bitmon_list_calls_total{outcome="ok"}') + $(bitmon_metric p2 'bitmon_list_calls_total{outcome="ok"}')))
[ "$listed" = "$la" ] && ok "poll_batch_metric_list_calls ($listed)" ||
        bad poll_batch_metric_list_calls "bitmon counted $listed ok list calls, the simulator $la"
for p in p1 p2; do bitmon_term $p; [ "$term_rc" = 0 ] || bad poll_batch_sigterm "$p exit $term_rc"; done
exit "$failed"
