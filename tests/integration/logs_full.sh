#!/usr/bin/env bash
# tests/integration/logs_full.sh — `log: full` (issue 13) on the local stack:
# the simulator serves every real captured log of bitrise-api/real/ (the
# 742 KB deploy failure among them) as a finished build's raw log, and one
# generated 40 MB log; bitmon copies each into the logs topic while it
# streams, and the results reference the copy.
#   - `bitmon log --job`, `bitmon log APP/BUILD` and `bitmon log --result`
#     give every real log back byte for byte (SHA-256 equal to the file's);
#     two `log: full` jobs of one build share one copy; a `log: summary` job
#     of the same build has no log.full;
#   - the 40 MB log is cut at bitrise.log_max_bytes (32 MiB), marked
#     truncated, and reads back as the first 32 MiB of the raw log; bitmon's
#     RSS grows by less than half of it while it streams;
#   - exactly once (producer.exactly_once): segments ride the transactions,
#     the result commits after them; a read_committed `bitmon log` reads
#     them back;
#   - --strip-ansi removes the escapes; a missing copy is a clear error;
#   - a logs topic that refuses the segments (it does not exist): the jobs
#     end `finished` with the log unavailable, never with a log.full.
# Needs the local stack, jq, sha256sum, and $BITMON_SHARED (the real logs).
. "$(dirname "$0")/lib.sh"
lib_init logs_full
real=${BITMON_SHARED:-/work/shared}/bitrise-api/real
[ -d "$real" ] || die logs_full_shared "no $real (set BITMON_SHARED)"
APP=10f0000000000001
mapfile -t files < <(cd "$real" && ls -- *.txt | sort)
[ "${#files[@]}" -ge 10 ] || die logs_full_files "only ${#files[@]} real logs in $real"

# ---- the world: one finished build per real log, and a 40 MB one --------
jq -n --arg real "$real" --arg app "$APP" '
        {speed: 20, defaults: {archive_lag_s: 0},
         workspaces: [{slug: "ws-logs"}],
         tokens: [{value: "bitwat_logs_dev", workspace: "ws-logs", role: "developer"}],
         apps: [{slug: $app, workspace: "ws-logs",
                 builds: ([$ARGS.positional | to_entries[] |
                           {slug: ("f1e" + ("0000000000000" + (.key | tostring))[-13:]),
                            triggered_at_s: -600, running_s: 60, status: 2,
                            log: {file: ($real + "/" + .value)}}] +
                          [{slug: "b16000000000000f", triggered_at_s: -600,
                            running_s: 60, status: 1, log: {bytes: 40000000, steps: 4}}])}]}' \
        --args "${files[@]}" >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
printf 'bitwat_logs_dev\n' >"$tmp/tokens/ws-logs"
export BITMON_BITRISE_LOG_MAX_BYTES=32MiB BITMON_LOGS_SEGMENT_BYTES=256KiB
bitmon_env "logs-$$-$RANDOM"
grep -q "^$run.logs: created (.*compression.type zstd)" "$tmp/topics.out" ||
        bad logs_full_topic "bitmon topics did not create $run.logs with zstd: $(cat "$tmp/topics.out")"
for _ in $(seq 50); do # a new topic's metadata takes a moment
        "$BIN" topics --check >"$tmp/check.out" 2>&1 && break
        sleep 0.1
done
grep -q "^$run.logs: ok (.*compression.type zstd)" "$tmp/check.out" &&
        ok "logs_full_topic (created and checked, zstd)" ||
        bad logs_full_topic "$(cat "$tmp/check.out")"
bitmon_start p1
tail_start

slug() { printf 'f1e%013d' "$1"; }
: >"$tmp/jobs.jsonl"
for i in "${!files[@]}"; do
        s=$(slug "$i")
        job "full-$i" ws-logs $APP "$s" ',"log":"full"' >>"$tmp/jobs.jsonl"
        job "twin-$i" ws-logs $APP "$s" ',"log":"full"' >>"$tmp/jobs.jsonl"
        job "sum-$i" ws-logs $APP "$s" ',"log":"summary"' >>"$tmp/jobs.jsonl"
done
job big ws-logs $APP b16000000000000f ',"log":"full"' >>"$tmp/jobs.jsonl"
n=$(wc -l <"$tmp/jobs.jsonl")
rss0=$(proc_rss_kb "${BM_PID[p1]}")
enqueue_file "$tmp/jobs.jsonl"
rss_max=$rss0
deadline=$((SECONDS + 90 * scale))
while [ $SECONDS -lt $deadline ] && [ "$(terminal_counts | wc -l)" -lt "$n" ]; do
        r=$(proc_rss_kb "${BM_PID[p1]}")
        [ "${r:-0}" -gt "$rss_max" ] && rss_max=$r
        sleep 0.1
done
check_one_terminal_each logs_full_terminal "$tmp/jobs.jsonl"
result() { jq -c --arg j "$run-$1" 'select(.job_id == $j and .event != "status")' "$tmp/results.jsonl" | tail -1; }

# ---- every real log back, byte for byte --------------------------------
bad_logs=0 shared=0
for i in "${!files[@]}"; do
        f=$real/${files[$i]} s=$(slug "$i")
        want=$(sha256sum <"$f" | cut -c1-64)
        r=$(result "full-$i")
        [ "$(jq -r .log.full.sha256 <<<"$r")" = "$want" ] &&
                [ "$(jq -r .log.sha256 <<<"$r")" = "$want" ] &&
                [ "$(jq -r .log.full.bytes <<<"$r")" = "$(stat -c %s "$f")" ] || {
                bad logs_full_ref "${files[$i]}: result $r"
                bad_logs=$((bad_logs + 1))
                continue
        }
        got_job=$("$BIN" log --job "$run-full-$i" 2>"$tmp/log.err" | sha256sum | cut -c1-64)
        got_build=$("$BIN" log "$APP/$s" 2>>"$tmp/log.err" | sha256sum | cut -c1-64)
        got_res=$(result "twin-$i" | "$BIN" log --result - 2>>"$tmp/log.err" | sha256sum | cut -c1-64)
        if [ "$got_job" != "$want" ] || [ "$got_build" != "$want" ] || [ "$got_res" != "$want" ]; then
                bad logs_full_readback "${files[$i]}: sha256 $got_job / $got_build / $got_res, want $want: $(head -3 "$tmp/log.err")"
                bad_logs=$((bad_logs + 1))
        fi
        [ "$(jq -r .log.full.copy <<<"$r")" = "$(result "twin-$i" | jq -r .log.full.copy)" ] &&
                shared=$((shared + 1))
        [ "$(result "sum-$i" | jq -r '.log | has("full")')" = false ] ||
                bad logs_full_summary "the summary job of ${files[$i]} has a log.full"
done
deploy=bitrise_log_analyzer_deploy_to_itunes_failed_REDACTED.log.txt
[ "$bad_logs" = 0 ] && printf '%s\n' "${files[@]}" | grep -qx "$deploy" &&
        ok "logs_full_readback (${#files[@]} real logs, the 742 KB $deploy among them, byte for byte by job, by build and by result)" ||
        bad logs_full_readback "$bad_logs of ${#files[@]} logs did not come back (or $deploy missing)"
[ "$shared" = "${#files[@]}" ] && ok "logs_full_shared (two log: full jobs per build, one copy)" ||
        bad logs_full_shared "only $shared of ${#files[@]} builds shared one copy"
i=$(printf '%s\n' "${files[@]}" | grep -n "^$deploy$" | cut -d: -f1)
segs=$(result "full-$((i - 1))" | jq .log.full.segments)
[ "$segs" = 3 ] && ok "logs_full_segments ($deploy: 3 segments of 256 KiB)" ||
        bad logs_full_segments "$deploy in $segs segments, want 3"

# ---- the cap, and memory while 32 MiB streams ---------------------------
r=$(result big)
cap=$((32 * 1024 * 1024))
raw_url=$(curl -s -H "Authorization: bitwat_logs_dev" "$sim_root/v0.1/apps/$APP/builds/b16000000000000f/log" | jq -r .expiring_raw_log_url)
want=$(curl -s "$raw_url" | head -c $cap | sha256sum | cut -c1-64)
big_want=$want
got=$("$BIN" log --job "$run-big" 2>"$tmp/big.err" | sha256sum | cut -c1-64)
if [ "$(jq -r .log.truncated <<<"$r")" = true ] && [ "$(jq -r .log.full.truncated <<<"$r")" = true ] &&
        [ "$(jq -r .log.full.bytes <<<"$r")" = "$cap" ] && [ "$got" = "$want" ]; then
        ok "logs_full_cap (40 MB log cut at 32 MiB, truncated, $(jq .log.full.segments <<<"$r") segments read back)"
else
        bad logs_full_cap "log $(jq -c '.log | del(.tail, .failed_steps)' <<<"$r"), read back $got, want $want: $(head -2 "$tmp/big.err")"
fi
grow=$(((rss_max - rss0) / 1024))
[ "$grow" -lt 16 ] && ok "logs_full_rss (RSS grew ${grow} MB while 32 MiB streamed)" ||
        bad logs_full_rss "RSS grew ${grow} MB (from $((rss0 / 1024)) MB) while 32 MiB streamed"

# ---- --strip-ansi, errors ----------------------------------------------
esc=$(printf '\033')
i=$(for k in "${!files[@]}"; do grep -q "$esc\[" "$real/${files[$k]}" && echo "$k" && break; done)
if [ -n "$i" ]; then
        "$BIN" log --strip-ansi --job "$run-full-$i" >"$tmp/plain.txt" 2>"$tmp/plain.err"
        ! grep -q "$esc" "$tmp/plain.txt" && [ -s "$tmp/plain.txt" ] &&
                ok "logs_full_strip_ansi (${files[$i]})" ||
                bad logs_full_strip_ansi "escapes left or empty: $(cat "$tmp/plain.err")"
fi
"$BIN" log --job "$run-nosuch" >/dev/null 2>"$tmp/none.err"
rc=$?
[ "$rc" = 1 ] && grep -q "no copy of the log of job" "$tmp/none.err" &&
        ok "logs_full_missing (exit 1: $(cat "$tmp/none.err"))" ||
        bad logs_full_missing "exit $rc: $(cat "$tmp/none.err")"
result "full-0" | jq -c '.log.full.offsets[0] += 1' | "$BIN" log --result - >/dev/null 2>"$tmp/wrong.err"
rc=$?
[ "$rc" = 1 ] && ok "logs_full_wrong_ref (exit 1: $(cat "$tmp/wrong.err"))" ||
        bad logs_full_wrong_ref "exit $rc: $(cat "$tmp/wrong.err")"
stored=$(bitmon_metric p1 'bitmon_log_copies_total{result="stored"}')
bytes=$(bitmon_metric p1 bitmon_log_copy_bytes_total)
want_bytes=$(($(cat "${files[@]/#/$real/}" | wc -c) + cap))
[ "$stored" = "$((${#files[@]} + 1))" ] && [ "$bytes" = "$want_bytes" ] &&
        ok "logs_full_metrics ($stored copies stored, $bytes bytes)" ||
        bad logs_full_metrics "copies stored $stored (want $((${#files[@]} + 1))), bytes $bytes (want $want_bytes)"
bitmon_term p1

# ---- exactly once: segments and result in committed transactions ---------
bitmon_start p3 -X producer.exactly_once=true -X producer.txn_ms=50
: >"$tmp/jobs3.jsonl"
for i in "${!files[@]}"; do
        job "eos-$i" ws-logs $APP "$(slug "$i")" ',"log":"full"' >>"$tmp/jobs3.jsonl"
done
job eos-big ws-logs $APP b16000000000000f ',"log":"full"' >>"$tmp/jobs3.jsonl"
enqueue_file "$tmp/jobs3.jsonl"
n=$((n + ${#files[@]} + 1))
wait_terminal $n 60
bad_eos=0
for i in "${!files[@]}"; do
        want=$(sha256sum <"$real/${files[$i]}" | cut -c1-64)
        got=$(result "eos-$i" | "$BIN" log --result - 2>"$tmp/eos.err" | sha256sum | cut -c1-64)
        [ "$got" = "$want" ] || { bad_eos=$((bad_eos + 1)); note "eos ${files[$i]}: $(cat "$tmp/eos.err")"; }
done
got=$(result eos-big | "$BIN" log --result - 2>"$tmp/eos.err" | sha256sum | cut -c1-64)
[ "$got" = "$big_want" ] || { bad_eos=$((bad_eos + 1)); note "eos big: $(cat "$tmp/eos.err")"; }
commits=$(bitmon_metric p3 bitmon_txn_commits)
[ "$bad_eos" = 0 ] && [ "${commits%.*}" -gt 0 ] &&
        ok "logs_full_exactly_once (${#files[@]} logs and 32 MiB read back committed, $commits transactions)" ||
        bad logs_full_exactly_once "$bad_eos of ${#files[@]} logs did not come back (commits $commits)"
bitmon_term p3

# ---- a logs topic that refuses the segments ------------------------------
export BITMON_TOPICS_LOGS=$run.nosuch
bitmon_start p2 -X kafka.topic.metadata.propagation.max.ms=1000
: >"$tmp/jobs2.jsonl"
job refused-0 ws-logs $APP "$(slug 0)" ',"log":"full"' >>"$tmp/jobs2.jsonl"
job refused-1 ws-logs $APP "$(slug 1)" ',"log":"full"' >>"$tmp/jobs2.jsonl"
enqueue_file "$tmp/jobs2.jsonl"
wait_terminal $((n + 2)) 60
r0=$(result refused-0) r1=$(result refused-1)
if [ -n "$r0" ] && [ -n "$r1" ] && [ "$(jq -s '[.[] | select(.log.full != null)] | length' <<<"$r0$r1")" = 0 ] &&
        [ "$(jq -s '[.[] | select(.event == "finished" and .log.available == false)] | length' <<<"$r0$r1")" = 2 ] &&
        grep -q "cannot store the log" "$tmp/bitmon-p2.log" &&
        [ "$(bitmon_metric p2 'bitmon_log_copies_total{result="failed"}')" -ge 2 ]; then
        ok "logs_full_refused (segments refused: finished, log unavailable, no log.full)"
else
        bad logs_full_refused "results: $r0 $r1"
fi
