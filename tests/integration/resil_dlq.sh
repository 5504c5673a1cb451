#!/usr/bin/env bash
# tests/integration/resil_dlq.sh — bad jobs interleaved with valid ones in one
# partition, written straight to Kafka (kcat; `bitmon enqueue` refuses them):
# not JSON, not an object, trailing data, wrong types (v, job_id, follow,
# log, deadline_s, attrs), missing fields, bad slugs, unknown `v`, a payload
# of ~1 MiB (the largest a default broker takes), invalid UTF-8, a NUL byte,
# an empty payload, oversized attrs and job_id.
#   - each bad job lands in the DLQ once, with a bitmon-error header naming
#     its reason and the source topic/partition/offset headers;
#   - every valid job around them gets its one terminal result;
#   - the offsets are released: a restarted process reads nothing again.
# (pipeline_e2e.sh covers "not json" and a missing field next to its jobs.)
. "$(dirname "$0")/lib.sh"
lib_init resil_dlq
sim_start "$PWD/tests/scenarios/resil_outcomes.json"
printf 'bitwat_resil_outcomes_dev\n' >"$tmp/tokens/ws-resil-out"
BITMON_TOPICS_PARTITIONS=2 bitmon_env "resil-dlq-$$-$RANDOM"
bitmon_start p1
tail_start

A=a11e00000000c001
valid() { job "ok-$1" ws-resil-out "$A" "$2"; }
# name|expected reason (extended regex)|payload (printf format, no newline)
bad_jobs=(
        'notjson|^not JSON: syntax error at byte [0-9]+$|not json at all'
        'array|^not a JSON object$|[1,2,3]'
        'trailing|^not JSON: trailing data at byte|{"v":1} {"v":1}'
        'v_string|^v: expected integer$|{"v":"1","job_id":"J","workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"5000000000000c02"}'
        'v_2|^unsupported v 2$|{"v":2,"job_id":"J","workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"5000000000000c02"}'
        'v_missing|^missing field v$|{"job_id":"J","workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"5000000000000c02"}'
        'jobid_number|job_id: expected string|{"v":1,"job_id":17,"workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"5000000000000c02"}'
        'no_workspace|^missing field workspace$|{"v":1,"job_id":"J","app_slug":"a11e00000000c001","build_slug":"5000000000000c02"}'
        'bad_slug|build_slug: not a 16-hex or UUID slug|{"v":1,"job_id":"J","workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"../../etc/passwd"}'
        'follow_string|follow|{"v":1,"job_id":"J","workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"5000000000000c02","follow":"yes"}'
        'log_enum|log|{"v":1,"job_id":"J","workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"5000000000000c02","log":"verbose"}'
        'deadline_string|deadline_s|{"v":1,"job_id":"J","workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"5000000000000c02","deadline_s":"10"}'
        'attrs_array|^attrs: expected object$|{"v":1,"job_id":"J","workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"5000000000000c02","attrs":[1]}'
        'utf8|^invalid UTF-8 at byte [0-9]+$|{"v":1,"job_id":"J\xc3\x28","workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"5000000000000c02"}'
        'nul|^NUL byte at byte [0-9]+$|{"v":1,"job_id":"J\x00","workspace":"ws-resil-out","app_slug":"a11e00000000c001","build_slug":"5000000000000c02"}'
)
# Messages separated by \x1e, key and value by \x1f (kcat -D / -K).
{
        i=0
        for b in "${bad_jobs[@]}"; do
                i=$((i + 1))
                valid "$i" 5000000000000c02 | tr -d '\n'
                printf '\x1f'
                valid "$i" 5000000000000c02 | tr -d '\n'
                printf '\x1e%s/bad-%s\x1f' "$A" "${b%%|*}"
                printf -- "${b##*|}"
                printf '\x1e'
        done
        # ~1 MiB (16x the 64 KiB limit), oversized attrs and job_id, empty.
        printf '%s/bad-huge\x1f{"v":1,"job_id":"huge","pad":"' "$A"
        head -c 1047000 /dev/zero | tr '\0' 'x'
        printf '"}\x1e'
        valid huge-after e000000000000c03 | tr -d '\n'
        printf '\x1f'
        valid huge-after e000000000000c03 | tr -d '\n'
        printf '\x1e%s/bad-attrs_big\x1f{"v":1,"job_id":"J","workspace":"ws-resil-out","app_slug":"%s","build_slug":"5000000000000c02","attrs":{"a":"%s"}}\x1e' \
                "$A" "$A" "$(head -c 5000 /dev/zero | tr '\0' 'a')"
        printf '%s/bad-jobid_long\x1f{"v":1,"job_id":"%s","workspace":"ws-resil-out","app_slug":"%s","build_slug":"5000000000000c02"}\x1e' \
                "$A" "$(head -c 200 /dev/zero | tr '\0' 'j')" "$A"
        printf '%s/bad-empty\x1f\x1e' "$A"
        valid last e000000000000c03 | tr -d '\n'
        printf '\x1f'
        valid last e000000000000c03 | tr -d '\n'
        printf '\x1e'
} >"$tmp/messages.bin"
nbad=$((${#bad_jobs[@]} + 4))
nvalid=$((${#bad_jobs[@]} + 2))
kcat -P -q -b "$BITMON_TEST_KAFKA" -t "$run.jobs" -p 0 -D $'\x1e' -K $'\x1f' \
        -X message.max.bytes=1048000 -X max.in.flight=1 -l "$tmp/messages.bin" 2>"$tmp/kcat.err" ||
        die resil_dlq_produce "kcat: $(cat "$tmp/kcat.err")"
# valid jobs file for the terminal check
for i in $(seq ${#bad_jobs[@]}); do valid "$i" x; done >"$tmp/valid.jsonl"
valid huge-after x >>"$tmp/valid.jsonl"
valid last x >>"$tmp/valid.jsonl"

wait_terminal "$nvalid" 30
check_one_terminal_each resil_dlq_valid_jobs_finish "$tmp/valid.jsonl"
nfin=$(jq -r 'select(.event == "finished") | .job_id' "$tmp/results.jsonl" | sort -u | wc -l)
[ "$nfin" = "$nvalid" ] && ok "resil_dlq_valid_jobs_finished ($nfin)" ||
        bad resil_dlq_valid_jobs_finished "$nfin of $nvalid finished: $(jq -c 'select(.event == "error") | [.job_id, .error.code]' "$tmp/results.jsonl" | head -3)"

# The DLQ: key|reason|source headers|payload length
timeout $((20 * scale)) kcat -C -q -b "$BITMON_TEST_KAFKA" -t "$run.dlq" -c "$((nbad + 1))" -e \
        -X fetch.message.max.bytes=2000000 \
        -f '%k\x1f%h\x1f%S\x1e' >"$tmp/dlq.bin" 2>"$tmp/dlq.err"
ndlq=$(tr -cd '\036' <"$tmp/dlq.bin" | wc -c)
[ "$ndlq" = "$nbad" ] && ok "resil_dlq_count ($ndlq bad jobs)" || bad resil_dlq_count "$ndlq in the DLQ, want $nbad"
reason() { # key → bitmon-error header
        tr '\036' '\n' <"$tmp/dlq.bin" | grep -a "^$A/bad-$1"$'\x1f' | cut -d $'\x1f' -f2 |
                sed -n 's/^bitmon-error=\(.*\),bitmon-source-topic=.*/\1/p' | head -1
}
reasons_ok=1
check_reason() { # name regex
        local got
        got=$(reason "$1")
        if ! grep -Eq -- "$2" <<<"$got"; then
                bad "resil_dlq_reason_$1" "reason \"$got\" does not match /$2/"
                reasons_ok=0
        fi
}
for b in "${bad_jobs[@]}"; do
        name=${b%%|*} rest=${b#*|}
        check_reason "$name" "${rest%%|*}"
done
check_reason huge '^payload is 1047[0-9]{3} bytes, limit 65536'
check_reason attrs_big '^attrs: [0-9]+ bytes, limit 4096'
check_reason jobid_long '^job_id: 200 bytes, limit 128'
check_reason empty '^empty payload$'
[ "$reasons_ok" = 1 ] && ok "resil_dlq_reasons ($nbad reasons as expected)"
note "huge job's DLQ entry: $(reason huge); $(tr '\036' '\n' <"$tmp/dlq.bin" | grep -a "^$A/bad-huge"$'\x1f' | cut -d $'\x1f' -f3) payload bytes"
hdr_bad=$(tr '\036' '\n' <"$tmp/dlq.bin" | grep -a . | cut -d $'\x1f' -f2 |
        grep -avc "bitmon-source-topic=$run.jobs.*bitmon-source-partition=0.*bitmon-source-offset=[0-9]")
[ "$hdr_bad" = 0 ] && ok resil_dlq_source_headers || bad resil_dlq_source_headers "$hdr_bad entries without source headers"
# The payload is passed on unchanged (small ones; the huge one may be dropped).
want_len=$(printf -- "${bad_jobs[13]##*|}" | wc -c)
got_len=$(tr '\036' '\n' <"$tmp/dlq.bin" | grep -a "^$A/bad-utf8"$'\x1f' | cut -d $'\x1f' -f3)
[ "$got_len" = "$want_len" ] && ok resil_dlq_payload_unchanged || bad resil_dlq_payload_unchanged "utf8 job: $got_len bytes, sent $want_len"
bitmon_metric p1 bitmon_jobs_dlq >"$tmp/m"
[ "$(cat "$tmp/m")" = "$nbad" ] && ok resil_dlq_metric || bad resil_dlq_metric "bitmon_jobs_dlq $(cat "$tmp/m")"

# Offsets released: after a restart nothing is read again.
bitmon_term p1
[ "$term_rc" = 0 ] || bad resil_dlq_sigterm "exit $term_rc"
nres=$(wc -l <"$tmp/results.jsonl")
bitmon_start p1
sleep $((4 * scale))
again=$(bitmon_metric p1 bitmon_jobs_dlq)+$(bitmon_metric p1 bitmon_jobs_received_total)
if [ "$again" = "0+0" ] && [ "$(wc -l <"$tmp/results.jsonl")" = "$nres" ]; then
        ok resil_dlq_offsets_released
else
        bad resil_dlq_offsets_released "after restart: dlq+received $again, results $nres -> $(wc -l <"$tmp/results.jsonl")"
fi
if grep -q '"level":"error"' "$tmp"/bitmon-p1.log; then
        bad resil_dlq_no_errors_logged "$(grep '"level":"error"' "$tmp"/bitmon-p1.log | head -2)"
else
        ok resil_dlq_no_errors_logged
fi
exit "$failed"
