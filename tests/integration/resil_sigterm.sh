#!/usr/bin/env bash
# tests/integration/resil_sigterm.sh — SIGTERM on a process with 500 running
# watches while another process of the group is up: it exits (status 0,
# "stopped clean=yes") within shutdown.timeout_s (measured and printed),
# and the other process resumes those 500 jobs and finishes them once the
# builds finish (/_sim/builds/finish). Which process watches which job is
# read from the `worker` field of the first status event; jobs for builds
# owned by p1 are added until p1 watches exactly 500.
. "$(dirname "$0")/lib.sh"
lib_init resil_sigterm
A=a11e00000000e001
gen_scenario 100 $A ws-resil-term bitwat_resil_sigterm_dev 1000000 0 20 >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
printf 'bitwat_resil_sigterm_dev\n' >"$tmp/tokens/ws-resil-term"
shutdown_s=$((8 * scale))
BITMON_SHUTDOWN_TIMEOUT_S=$shutdown_s BITMON_POLL_RUNNING_S=2 BITMON_TOPICS_PARTITIONS=12 \
        bitmon_env "resil-term-$$-$RANDOM"
kx=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500)
bitmon_start p1 "${kx[@]}"
bitmon_start p2 "${kx[@]}"
wait_assigned p1 p2
tail_start
for k in $(seq 0 99); do
        for i in $(seq 6); do job "$k-$i" ws-resil-term $A "$(gen_slug "$k")"; done
done >"$tmp/jobs.jsonl"
enqueue_file "$tmp/jobs.jsonl"
watched() { jq -r 'select(.event == "status") | "\(.job_id) \(.worker) \(.build_slug)"' "$tmp/results.jsonl" | sort -u -k1,1; }
wait_watched() { # n
        for _ in $(seq $((300 * scale))); do [ "$(watched | wc -l)" -ge "$1" ] && break; sleep 0.1; done
}
wait_watched 600
p1n=$(watched | awk -v w="$run-p1/" 'index($2, w) == 1' | wc -l)
note "600 jobs: p1 watches $p1n, p2 $(watched | awk -v w="$run-p2/" 'index($2, w) == 1' | wc -l)"
[ "$p1n" -gt 0 ] || die resil_sigterm_split "p1 got no job"
# Top p1 up to exactly 500 with more jobs for builds it owns.
mapfile -t p1builds < <(watched | awk -v w="$run-p1/" 'index($2, w) == 1 {print $3}' | sort -u)
i=0
while [ "$p1n" -lt 500 ]; do
        job "x$i" ws-resil-term $A "${p1builds[$((i % ${#p1builds[@]}))]}"
        i=$((i + 1)) p1n=$((p1n + 1))
done >"$tmp/more.jsonl"
[ -s "$tmp/more.jsonl" ] && enqueue_file "$tmp/more.jsonl"
cat "$tmp/more.jsonl" >>"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
wait_watched "$n"
for _ in $(seq 50); do [ "$(bitmon_metric p1 bitmon_watches)" -ge "$p1n" ] && break; sleep 0.1; done
w1=$(bitmon_metric p1 bitmon_watches)
w2=$(bitmon_metric p2 bitmon_watches)
note "p1 watches $w1 (want $p1n), p2 $w2, $n jobs in all"
[ "$w1" -ge 500 ] || bad resil_sigterm_500_watches "p1 watches $w1, want 500"

bitmon_term p1
if [ "$term_rc" = 0 ] && [ "$term_ms" -le $((shutdown_s * 1000)) ] &&
        grep -q '"msg":"stopped","clean":"yes"' "$tmp/bitmon-p1.log"; then
        ok "resil_sigterm_within_timeout ($w1 watches, exit in $term_ms ms, limit ${shutdown_s} s)"
else
        bad resil_sigterm_within_timeout "exit $term_rc after $term_ms ms with $w1 watches: $(grep '"msg":"stopped"' "$tmp/bitmon-p1.log")"
fi
# p2 takes p1's partitions over and resumes the watches.
t0=$SECONDS
for _ in $(seq $((200 * scale))); do [ "$(bitmon_metric p2 bitmon_watches)" -ge "$n" ] && break; sleep 0.1; done
w2=$(bitmon_metric p2 bitmon_watches)
note "p2 watches $w2 of $n after $((SECONDS - t0)) s"
[ "$w2" = "$n" ] && ok "resil_sigterm_taken_over ($w2 watches on p2)" || bad resil_sigterm_taken_over "p2 watches $w2 of $n"
for k in $(seq 0 99); do
        curl -s -X POST -d "{\"app\":\"$A\",\"build\":\"$(gen_slug "$k")\",\"status\":1}" "$sim_root/_sim/builds/finish" >/dev/null
done
wait_terminal "$n" 30
check_one_terminal_each resil_sigterm_all_finish "$tmp/jobs.jsonl"
by_p2=$(jq -r --arg w "$run-p2/" 'select(.event == "finished" and (.worker | startswith($w))) | .job_id' "$tmp/results.jsonl" | sort -u | wc -l)
[ "$by_p2" = "$n" ] && ok "resil_sigterm_finished_by_p2 ($by_p2)" || bad resil_sigterm_finished_by_p2 "$by_p2 of $n finished by p2"
bitmon_term p2
exit "$failed"
