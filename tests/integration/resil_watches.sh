#!/usr/bin/env bash
# tests/integration/resil_watches.sh — 2,000 concurrent watches of long
# builds (1,000 running builds, 2 jobs each) in one `bitmon run` process:
#   - all 2,000 are watched (bitmon_watches) and each reported its first
#     status event;
#   - they keep being polled: over a measured interval the simulator sees
#     about one build call per build per poll interval (shared cache), and
#     no request fails, no error result, no error log line;
#   - RSS and CPU of the process (from /proc) over that interval printed.
. "$(dirname "$0")/lib.sh"
lib_init resil_watches
A=a11e00000000f001
nb=1000
gen_scenario $nb $A ws-resil-watch bitwat_resil_watches_dev 1000000 0 20 >"$tmp/scenario.json"
sim_start "$tmp/scenario.json" --threads 1
printf 'bitwat_resil_watches_dev\n' >"$tmp/tokens/ws-resil-watch"
poll=3
BITMON_POLL_RUNNING_S=$poll BITMON_CACHE_BUILD_TTL_MS=$((poll * 1000)) BITMON_BUDGET_RATE=2000 BITMON_BUDGET_BURST=2000 \
        bitmon_env "resil-watch-$$-$RANDOM"
bitmon_start p1
tail_start
pid=${BM_PID[p1]}
rss0=$(proc_rss_kb "$pid")
for k in $(seq 0 $((nb - 1))); do
        for i in 1 2; do job "$k-$i" ws-resil-watch $A "$(gen_slug "$k")"; done
done >"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
t0=$SECONDS
enqueue_file "$tmp/jobs.jsonl"
statuses() { jq -r 'select(.event == "status") | .job_id' "$tmp/results.jsonl" | sort -u | wc -l; }
for _ in $(seq $((300 * scale))); do [ "$(statuses)" -ge "$n" ] && break; sleep 0.2; done
w=$(bitmon_metric p1 bitmon_watches)
s=$(statuses)
note "$w watches, $s jobs with a status event, $((SECONDS - t0)) s after enqueue"
[ "$w" = "$n" ] && [ "$s" = "$n" ] && ok "resil_watches_all_watched ($n)" ||
        bad resil_watches_all_watched "$w watches, $s status events, want $n"

# Steady state: polls over an interval, RSS and CPU.
curl -s -X POST "$sim_root/_sim/stats/reset" >/dev/null
c0=$(proc_cpu_ticks "$pid") ms0=$(date +%s%3N)
secs=$((4 * poll))
sleep $secs
c1=$(proc_cpu_ticks "$pid") ms1=$(date +%s%3N)
rss=$(proc_rss_kb "$pid")
hz=$(getconf CLK_TCK)
cpu_pct=$(((c1 - c0) * 100000 / hz / (ms1 - ms0)))
stats=$(sim_stats)
gets=$(jq '[.tokens[] | select(.token == "bitwat_resil_watches_dev") | .endpoints.build_get // 0] | add' <<<"$stats")
non2xx=$(jq '[.tokens[] | select(.token == "bitwat_resil_watches_dev") | .status | to_entries[] | select(.key != "2xx") | .value] | add // 0' <<<"$stats")
want=$((nb * (ms1 - ms0) / 1000 / poll))
note "$n watches on $nb builds: RSS $rss0 kB at start -> $rss kB ($(((rss - rss0) * 1024 / n)) bytes per watch), CPU ${cpu_pct}% of a core over $(((ms1 - ms0) / 1000)) s, $gets build calls (about $want expected at one per build per ${poll} s), $non2xx non-2xx"
# A build is fetched when a poll finds its cached status older than the TTL
# (= the poll interval), so calls come every 1-2 intervals: between 40% and
# 150% of one per interval; fewer means watches stopped polling.
if [ "$gets" -ge $((want * 4 / 10)) ] && [ "$gets" -le $((want * 3 / 2)) ] && [ "$non2xx" = 0 ]; then
        ok "resil_watches_polled ($gets build calls in $(((ms1 - ms0) / 1000)) s)"
else
        bad resil_watches_polled "$gets build calls (want ~$want), $non2xx non-2xx answers"
fi
w=$(bitmon_metric p1 bitmon_watches)
errs=$(jq -r 'select(.event == "error") | .error.code' "$tmp/results.jsonl" | sort | uniq -c | tr '\n' ' ')
if [ "$w" = "$n" ] && [ -z "$errs" ] && ! grep -q '"level":"error"' "$tmp/bitmon-p1.log"; then
        ok "resil_watches_hold ($w watches, RSS $rss kB, CPU ${cpu_pct}%)"
else
        bad resil_watches_hold "$w watches; errors: ${errs:-none}; $(grep '"level":"error"' "$tmp/bitmon-p1.log" | head -2)"
fi
bitmon_term p1
note "SIGTERM with $n watches: exit $term_rc in $term_ms ms"
[ "$term_rc" = 0 ] && ok "resil_watches_sigterm (${term_ms} ms)" || bad resil_watches_sigterm "exit $term_rc"
exit "$failed"
