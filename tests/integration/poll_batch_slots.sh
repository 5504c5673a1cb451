#!/usr/bin/env bash
# tests/integration/poll_batch_slots.sh — list calls keep to the worker's
# request slots (workers.max_in_flight) like every other Bitrise request:
# 30 apps with 3 running builds each on one worker thread with 4 slots, the
# simulator answering every API request after 400 ms. All 30 app groups come
# due together each interval; without the line they would have ~30 list
# calls in flight at once (at 250,000 watches over 2,500 apps: 2,500 list
# answers of ~47 KB each in memory together). The simulator counts the most
# API requests it held at once.
. "$(dirname "$0")/lib.sh"
lib_init poll_batch_slots
napps=30 slots=4
jq -n --argjson napps $napps '
  {speed: 1, defaults: {archive_lag_s: 0},
   workspaces: [{slug: "ws-slots"}],
   tokens: [{value: "bitwat_slots", workspace: "ws-slots", role: "developer"}],
   faults: {latency_ms: {min: 400, max: 400}},
   apps: [range($napps) as $a |
          {slug: ("5a0" + ("0000000000000" + ($a | tostring))[-13:]), workspace: "ws-slots",
           title: "slots \($a)",
           builds: [range(3) as $k |
                    {slug: ("5b0" + ("0000000000000" + (($a * 3 + $k) | tostring))[-13:]),
                     triggered_at_s: -5, running_s: 600, status: 1, workflow: "primary",
                     log: {lines: 20, steps: 2}}]}]}' >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
printf 'bitwat_slots\n' >"$tmp/tokens/ws-slots"
BITMON_WORKERS_THREADS=1 bitmon_env "poll-slots-$$-$RANDOM"
bitmon_start p1 -X workers.max_in_flight=$slots -X poll.adaptive=false -X poll.min_s=0.5
wait_assigned p1
jq -r '.apps[] | .slug as $a | .builds[] | "\($a) \(.slug)"' "$tmp/scenario.json" |
        while read -r app build; do job "$build" ws-slots "$app" "$build"; done >"$tmp/jobs.jsonl"
enqueue_file "$tmp/jobs.jsonl"
# Past the first looks (90 GETs through 4 slots at 400 ms: ~9 s), groups list.
for _ in $(seq 60); do
        [ "$(sim_stats | jq '.endpoints.builds_list')" -ge $napps ] && break
        sleep 0.5
done
curl -s -X POST "$sim_root/_sim/stats/reset" >/dev/null
sleep 8
st=$(sim_stats)
lists=$(jq '.endpoints.builds_list' <<<"$st") most=$(jq '.api_in_flight_max' <<<"$st")
note "$napps apps x 3 running builds, $slots slots: $lists list calls in 8 s, at most $most API requests at once"
[ "$lists" -ge 20 ] && ok "poll_batch_slots_lists_made ($lists list calls in 8 s)" ||
        bad poll_batch_slots_lists_made "$lists list calls in 8 s (want >= 20: about one per 400 ms slot)"
# A request is still the simulator's for a moment after bitmon has its
# answer and started the next: one more than the slots at most.
[ "$most" -le $((slots + 1)) ] && ok "poll_batch_slots_within_slots ($most at once)" ||
        bad poll_batch_slots_within_slots "$most API requests at once with workers.max_in_flight=$slots"
bitmon_term p1
[ "$term_rc" = 0 ] && ok poll_batch_slots_sigterm || bad poll_batch_slots_sigterm "exit $term_rc"
exit "$failed"
