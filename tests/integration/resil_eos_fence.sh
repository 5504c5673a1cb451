#!/usr/bin/env bash
# tests/integration/resil_eos_fence.sh — exactly-once: a second `bitmon run`
# started with the same worker.id as a running one (a pod's replacement
# while the old one still runs, or a misconfigured worker.id) fences the
# first: the first logs one clear "fenced" line and exits non-zero (1), the
# second takes over, and a read_committed reader still sees every job's
# terminal result exactly once. A third process (p2) shares the group.
. "$(dirname "$0")/lib.sh"
lib_init resil_eos_fence
A=a11e00000000f002
eos_start fence $A 500
for k in $(seq 0 59); do
        for i in $(seq 10); do job "$k-$i" ws-eos-fence $A "$(gen_slug "$k")"; done
done >"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
t0=$SECONDS
enqueue_file "$tmp/jobs.jsonl"
for _ in $(seq $((150 * scale))); do [ "$(terminal_counts | wc -l)" -ge 100 ] && break; sleep 0.1; done
w1=$(bitmon_metric p1 bitmon_watches)
# the twin: the same worker.id as p1, so the same transactional.id
BITMON_WORKER_ID=$run-p1 "$BIN" run "${kx[@]}" >"$tmp/bitmon-twin.log" 2>&1 &
twin=$!
lib_track "$twin"
note "t=$((SECONDS - t0)) s: twin of p1 started (p1 watched $w1 jobs); $(terminal_counts | wc -l) jobs ended so far"
for _ in $(seq $((300 * scale))); do kill -0 "${BM_PID[p1]}" 2>/dev/null || break; sleep 0.1; done
if kill -0 "${BM_PID[p1]}" 2>/dev/null; then
        bad resil_eos_fence_first_exits "p1 still runs 30 s after its twin started"
        rc1=none
else
        wait "${BM_PID[p1]}"
        rc1=$?
fi
line=$(grep -m1 '"msg":"fenced: a newer producer took this transactional.id over' "$tmp/bitmon-p1.log")
note "p1 exit status $rc1 after $((SECONDS - t0)) s; its line: ${line:0:220}"
[ "$rc1" != none ] && [ "$rc1" != 0 ] && [ -n "$line" ] && ok "resil_eos_fence_first_exits (status $rc1, fenced line)" ||
        bad resil_eos_fence_first_exits "status $rc1, line '${line:0:200}'"
# p1 is fenced as the twin's init_transactions completes, so the twin may log
# "started" a moment after p1 has gone
for _ in $(seq $((100 * scale))); do grep -q '"msg":"started"' "$tmp/bitmon-twin.log" && break; sleep 0.1; done
grep -q '"msg":"started"' "$tmp/bitmon-twin.log" && kill -0 "$twin" 2>/dev/null &&
        ok resil_eos_fence_twin_runs || bad resil_eos_fence_twin_runs "$(tail -3 "$tmp/bitmon-twin.log")"
wait_terminal "$n" 60
sleep 3
note "t=$((SECONDS - t0)) s: $(terminal_counts | wc -l) of $n jobs ended"
check_one_terminal_each resil_eos_fence_exactly_once "$tmp/jobs.jsonl"
by_twin=$(grep -c . <(jq -r --arg w "$run-p1/" 'select(.event == "finished" and (.worker | startswith($w))) | .observed_at' "$tmp/results.jsonl"))
note "finished results by p1 or its twin: $by_twin"
kill -TERM "$twin"
wait "$twin"
[ $? = 0 ] || bad resil_eos_fence_twin_exit "twin exit status not 0"
bitmon_term p2
[ "$term_rc" = 0 ] || bad resil_eos_fence_sigterm "p2 exit $term_rc"
exit "$failed"
