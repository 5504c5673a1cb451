#!/usr/bin/env bash
# tests/integration/resil_outcomes.sh — 1,100 jobs over every build outcome
# (tests/scenarios/resil_outcomes.json: success, error with a failing step,
# aborted, aborted-with-success, on hold then running, aborted with its log
# deleted; simulator at 10x),
# one `bitmon run` on the local stack:
#   - exactly one terminal result per job (counted by job_id);
#   - each result against the scenario and the simulator's /_sim/expected:
#     status, status_text, duration_s and queued_s within 2 s of the
#     scenario, failed step titles and exit codes, log=none has no log;
#   - a deleted log: `finished`, the build filled, log.available false and
#     log.unavailable "deleted"; every other log available;
#   - jobs on builds on hold saw on-hold, then in-progress, then the end;
#   - one Bitrise build or list call per build per poll interval, not per job.
. "$(dirname "$0")/lib.sh"
lib_init resil_outcomes
SCEN=$PWD/tests/scenarios/resil_outcomes.json
sim_start "$SCEN"
printf 'bitwat_resil_outcomes_dev\n' >"$tmp/tokens/ws-resil-out"
bitmon_env "resil-out-$$-$RANDOM"
bitmon_start p1
tail_start

A=a11e00000000c001
builds=$(jq -r '.apps[0].builds[].slug' "$SCEN")
logs=(none summary full summary)
n=0
for i in $(seq 100); do
        for b in $builds; do
                job "$b-$i" ws-resil-out "$A" "$b" ",\"log\":\"${logs[$((i % 4))]}\""
                n=$((n + 1))
        done
done >"$tmp/jobs.jsonl"
t0=$SECONDS
enqueue_file "$tmp/jobs.jsonl"
wait_terminal "$n" 60
note "$(terminal_counts | wc -l) of $n jobs ended in $((SECONDS - t0)) s"
sleep 1
check_one_terminal_each resil_outcomes_one_terminal_each "$tmp/jobs.jsonl"

# Expectations per build: the scenario's timeline + the simulator's log facts.
for b in $builds; do
        curl -s "$sim_root/_sim/expected?app=$A&build=$b" |
                jq -c --arg b "$b" --slurpfile s "$SCEN" '
                        ($s[0].apps[0].builds[] | select(.slug == $b)) as $sc |
                        {build: $b, status: .final_status, running: $sc.running_s,
                         onhold: ($sc.on_hold_s // 0), deleted: .log_deleted,
                         steps: [.failed_steps[] | {title, exit_code}]}'
done | jq -s 'map({(.build): .}) | add' >"$tmp/expected.json"
[ "$(jq -r 'keys | length' "$tmp/expected.json")" = 11 ] ||
        die resil_outcomes_expected "simulator gave no expectations: $(head -c 300 "$tmp/expected.json")"

# One jq pass over every terminal result: the list of what is wrong.
jq -r --slurpfile e "$tmp/expected.json" '
        def names: ["x", "success", "error", "aborted", "aborted-with-success"];
        def near(a; b): a != null and (a - b) <= 2 and (b - a) <= 2;
        select(.event != "status" or .final == true) |
        $e[0][.build_slug] as $x | .job_id as $id |
        [ (if .event != "finished" then "event \(.event) \(.error.code // "")" else empty end),
          (if .build.status != $x.status then "status \(.build.status) want \($x.status)" else empty end),
          (if .build.status_text != names[$x.status] then "status_text \(.build.status_text)" else empty end),
          (if near(.build.duration_s; $x.running) | not then "duration_s \(.build.duration_s) want ~\($x.running)" else empty end),
          (if near(.build.queued_s; $x.onhold) | not then "queued_s \(.build.queued_s) want ~\($x.onhold)" else empty end),
          (if .attrs.n != (.job_id | sub("^.*?-(?<r>[0-9a-f]{16}-[0-9]+)$"; "\(.r)")) then "attrs \(.attrs)" else empty end),
          (if ((.job_id | capture("-(?<i>[0-9]+)$").i | tonumber) % 4 == 0) then
                (if .log != null then "log on a log=none job" else empty end)
           elif $x.deleted then
                (if [.log.available, .log.unavailable, .log.archived, .log.bytes, (.log.failed_steps | length)] != [false, "deleted", true, 0, 0] then
                        "deleted log reported as \(.log)" else empty end)
           elif .log.available != true or .log.unavailable != null then "log unavailable: \(.log.unavailable)"
           elif $x.status == 2 then
                (if ([.log.failed_steps[]? | {title, exit_code}] != $x.steps) then
                        "failed_steps \([.log.failed_steps[]? | {title, exit_code}]) want \($x.steps)" else empty end)
           elif $x.status == 1 then
                (if (.log.failed_steps | length) != 0 then "failed steps on a success" else empty end)
           else empty end)
        ] | select(length > 0) | "\($id): \(join("; "))"' "$tmp/results.jsonl" >"$tmp/wrong.txt"
if [ -s "$tmp/wrong.txt" ]; then
        bad resil_outcomes_fields "$(wc -l <"$tmp/wrong.txt") results wrong, e.g. $(head -3 "$tmp/wrong.txt" | tr '\n' '|')"
else
        ok "resil_outcomes_fields ($(terminal_counts | wc -l) results vs /_sim/expected)"
fi
# Builds on hold first: every job saw on-hold, then in-progress, then the end.
onhold_bad=$(jq -rs '
        map(select(.build_slug | startswith("0000000000000c"))) | group_by(.job_id)[] |
        [.[] | select(.event == "status") | .build.status_text] as $seen |
        select(($seen | index("on-hold")) != 0 or ($seen | index("in-progress")) == null or
               (.[-1].event != "finished")) | "\(.[0].job_id): \($seen)"' "$tmp/results.jsonl")
n_onhold=$(jq -r 'select(.build_slug | startswith("0000000000000c")) | .job_id' "$tmp/results.jsonl" | sort -u | wc -l)
if [ -z "$onhold_bad" ] && [ "$n_onhold" = 300 ]; then
        ok "resil_outcomes_on_hold_then_running ($n_onhold jobs)"
else
        bad resil_outcomes_on_hold_then_running "$n_onhold jobs; e.g. $(head -2 <<<"$onhold_bad" | tr '\n' '|')"
fi
per_status=$(jq -r 'select(.event == "finished") | .build.status_text' "$tmp/results.jsonl" | sort | uniq -c | tr -s ' \n' ' ')
note "finished by status:$per_status"

# Shared build cache: 100 jobs per build must not cost 100 calls per poll.
# A build is looked at with GET build or through its app's list call
# (either may carry all of them, depending on timing), so both count.
calls=$(sim_stats | jq -r '.tokens[] | select(.token == "bitwat_resil_outcomes_dev") |
        "\(.endpoints.build_get // 0) \(.endpoints.builds_list // 0)"')
read -r gets lists <<<"${calls:-0 0}"
note "build calls to the simulator: $gets build_get + $lists builds_list for $n jobs on 11 builds"
looks=$((gets + lists))
if [ "$looks" -gt 0 ] && [ "$looks" -lt $((n / 2)) ]; then
        ok "resil_outcomes_shared_polls ($gets build + $lists list calls)"
else
        bad resil_outcomes_shared_polls "$gets build + $lists list calls for $n jobs"
fi
bitmon_term p1
[ "$term_rc" = 0 ] && ok "resil_outcomes_sigterm (${term_ms} ms)" || bad resil_outcomes_sigterm "exit $term_rc"
exit "$failed"
