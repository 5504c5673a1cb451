#!/usr/bin/env bash
# tests/integration/resil_redis.sh — Redis killed (SIGKILL) and restarted
# mid-run (issue 3), on a redis-server of this test's own (the shared one is
# left alone). Two processes, 200 jobs on 40 builds finishing 4-20 s in:
#   - while Redis is down, /readyz stays 200 and names redis degraded,
#     bitmon_redis_degraded is 1, and jobs keep finishing;
#   - after the restart (same port, empty) the processes recover by
#     themselves: degraded back to 0, shared budget keys ({P}budget:*)
#     written again;
#   - every job gets its terminal result, the right one;
#   - the done markers the restart lost are back (written again).
. "$(dirname "$0")/../../scripts/stack.sh" # pick_port (before lib.sh: its die/note win)
. "$(dirname "$0")/lib.sh"
lib_init resil_redis
A=a11e00000000a0d1
gen_scenario 40 $A ws-resil-redis bitwat_resil_redis_dev 80 8 20 >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
printf 'bitwat_resil_redis_dev\n' >"$tmp/tokens/ws-resil-redis"
mkdir "$tmp/redis"
rport=$(pick_port)
redis_pid=
redis_up() {
        redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
                --dir "$tmp/redis" >>"$tmp/redis.log" 2>&1 &
        redis_pid=$!
        lib_track "$redis_pid"
        for _ in $(seq 50); do redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
        die resil_redis_server "redis-server did not start on $rport: $(tail -3 "$tmp/redis.log")"
}
redis_up
BITMON_TOPICS_PARTITIONS=4 bitmon_env "resil-redis-$$-$RANDOM"
export BITMON_REDIS_PORT=$rport BITMON_REDIS_HOST=127.0.0.1
bitmon_start p1
bitmon_start p2
wait_assigned p1 p2
tail_start
budget_keys() { redis-cli -p "$rport" --scan --pattern "$run:budget:*" 2>/dev/null | wc -l; }
for k in $(seq 0 39); do
        for i in $(seq 5); do job "$k-$i" ws-resil-redis $A "$(gen_slug "$k")"; done
done >"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
t0=$SECONDS
enqueue_file "$tmp/jobs.jsonl"
for _ in $(seq 50); do [ "$(budget_keys)" -ge 1 ] && break; sleep 0.1; done
b0=$(budget_keys)
[ "$b0" -ge 1 ] || bad resil_redis_budget_keys "no budget key before the kill"

wait_terminal 10 20 # some markers for the restart to lose
terminal_counts | awk '{print $2}' >"$tmp/ended-before.txt"
kill -KILL "$redis_pid"
wait "$redis_pid" 2>/dev/null
e0=$(terminal_counts | wc -l)
note "t=$((SECONDS - t0)) s: Redis killed ($b0 budget keys, $e0 jobs ended)"
deg= body=
for _ in $(seq $((50 * scale))); do
        deg=$(bitmon_metric p1 bitmon_redis_degraded)+$(bitmon_metric p2 bitmon_redis_degraded)
        [ "$deg" = "1+1" ] && break
        sleep 0.1
done
code=$(curl -s -o "$tmp/readyz.body" -w '%{http_code}' "127.0.0.1:${BM_PORT[p1]}/readyz")
body=$(tr '\n' ' ' <"$tmp/readyz.body")
logged=$(grep -c '"level":"\(warn\|error\)".*[Rr]edis' "$tmp/bitmon-p1.log")
note "degraded: metrics $deg, /readyz $code \"$body\", $logged warn/error log lines about Redis"
if [ "$deg" = "1+1" ] && [ "$code" = 200 ] && grep -q 'redis.*degraded\|degraded.*redis' <<<"$body"; then
        ok "resil_redis_degraded_reported (/readyz $code: $body)"
else
        bad resil_redis_degraded_reported "metrics $deg, /readyz $code: $body"
fi
# Stay down at least 3 s, until 20 more jobs ended (at most 10 s).
t_down=$SECONDS
while [ $((SECONDS - t_down)) -lt $((10 * scale)) ]; do
        e1=$(terminal_counts | wc -l)
        [ $((SECONDS - t_down)) -ge 3 ] && [ "$e1" -ge $((e0 + 20)) ] && break
        sleep 0.2
done
e1=$(terminal_counts | wc -l)
note "t=$((SECONDS - t0)) s: $((e1 - e0)) jobs ended while Redis was down"
[ "$e1" -gt "$e0" ] && ok "resil_redis_work_continues ($((e1 - e0)) jobs ended during the outage)" ||
        bad resil_redis_work_continues "no job ended while Redis was down ($e0 before, $e1 after)"

redis_up
note "t=$((SECONDS - t0)) s: Redis restarted (empty)"
for _ in $(seq $((100 * scale))); do
        deg=$(bitmon_metric p1 bitmon_redis_degraded)+$(bitmon_metric p2 bitmon_redis_degraded)
        [ "$deg" = "0+0" ] && [ "$(budget_keys)" -ge 1 ] && break
        sleep 0.1
done
b1=$(budget_keys)
body=$(curl -s "127.0.0.1:${BM_PORT[p1]}/readyz" | tr '\n' ' ')
note "t=$((SECONDS - t0)) s: degraded $deg, $b1 budget keys, /readyz \"$body\""
[ "$deg" = "0+0" ] && [ "$b1" -ge 1 ] && ! grep -q degraded <<<"$body" &&
        ok "resil_redis_recovered (shared budget keys back: $b1)" ||
        bad resil_redis_recovered "degraded $deg, $b1 budget keys, /readyz $body"

wait_terminal "$n" 30
check_one_terminal_each resil_redis_all_jobs_end "$tmp/jobs.jsonl"
check_results_right resil_redis_results_right
dm=$(redis-cli -p "$rport" --scan --pattern "$run:done:*" | wc -l)
# The markers the restart lost are written again by the processes that
# wrote them (their recent marks, when the connection comes back).
back=0 nb=$(wc -l <"$tmp/ended-before.txt")
while read -r id; do
        [ "$(redis-cli -p "$rport" exists "$run:done:$id")" = 1 ] && back=$((back + 1))
done <"$tmp/ended-before.txt"
note "done markers in the restarted Redis: $dm; of the $nb jobs that ended before the kill: $back"
[ "$nb" -ge 1 ] && [ "$back" = "$nb" ] &&
        ok "resil_redis_marks_written_again ($back of $nb lost markers back)" ||
        bad resil_redis_marks_written_again "$back of the $nb markers of jobs that ended before the kill are back"
for p in p1 p2; do bitmon_term $p; [ "$term_rc" = 0 ] || bad resil_redis_sigterm "$p exit $term_rc"; done
exit "$failed"
