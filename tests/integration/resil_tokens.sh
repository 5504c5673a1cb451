#!/usr/bin/env bash
# tests/integration/resil_tokens.sh — token revocation and rotation (issue 3),
# asserted from the simulator's per-token request counters
# (tests/scenarios/resil_tokens.json, long running builds, poll 1 s):
#   revocation: three processes watch 60 jobs with one shared workspace
#     token; the token is revoked at the simulator → every job ends with
#     token_invalid, the 401s are at most the requests in flight then (one per
#     build: the shared cache lease), no request with the token reaches the
#     simulator afterwards (over 3 poll intervals), and new jobs for the
#     workspace end token_invalid without a request (validity cache);
#   rotation, plain dir: the workspace's file replaced (rename) → the next
#     calls use the new token, the old one is no longer sent, no restart;
#   rotation, Kubernetes layout (ws → ..data/ws, ..data → ..TIMESTAMP): the
#     ..data symlink swapped atomically → the same.
. "$(dirname "$0")/lib.sh"
lib_init resil_tokens
sim_start "$PWD/tests/scenarios/resil_tokens.json"
RV=bitwat_resil_revoke_shared
printf '%s\n' "$RV" >"$tmp/tokens/ws-resil-revoke"
printf 'bitwat_resil_rotate_one\n' >"$tmp/tokens/ws-resil-rotate"
BITMON_TOPICS_PARTITIONS=6 bitmon_env "resil-tok-$$-$RANDOM"
for p in p1 p2 p3; do bitmon_start $p; done
wait_assigned p1 p2 p3
tail_start
stat_of() { # token field
        sim_stats | jq -r --arg t "$1" --arg f "$2" '[.tokens[]? | select(.token == $t) | .[$f]] | add // 0'
}
count401() { sim_stats | jq -r --arg t "$1" '[.tokens[]? | select(.token == $t) | .status["4xx"] // 0] | add // 0'; }

# ---- revocation ----------------------------------------------------------------
RA=a11e0000000a0001
for b in 1 2 3 4 5 6; do
        for i in $(seq 10); do job "rv-$b-$i" ws-resil-revoke $RA "b000000000a0000$b"; done
done >"$tmp/revoke.jsonl"
enqueue_file "$tmp/revoke.jsonl"
statuses() { jq -r --arg p "$run-$1" 'select(.event == "status" and (.job_id | startswith($p))) | .job_id' "$tmp/results.jsonl" | sort -u | wc -l; }
for _ in $(seq $((200 * scale))); do [ "$(statuses rv)" -ge 60 ] && break; sleep 0.1; done
workers=$(jq -r --arg p "$run-rv" 'select(.job_id | startswith($p)) | .worker | split("/")[0]' "$tmp/results.jsonl" | sort -u | wc -l)
note "60 jobs watched by $workers processes, $(stat_of "$RV" requests) requests with the token so far"
[ "$(statuses rv)" = 60 ] && [ "$workers" -ge 2 ] || bad resil_tokens_revoke_setup "$(statuses rv) of 60 watched by $workers processes"
sleep 2
curl -s -X POST -d "{\"token\":\"$RV\"}" "$sim_root/_sim/tokens/revoke" >/dev/null
wait_terminal 60 20
errs=$(jq -r --arg p "$run-rv" 'select((.job_id | startswith($p)) and (.event != "status")) | .event + " " + (.error.code // "")' "$tmp/results.jsonl" | sort | uniq -c | tr -s ' \n' ' ')
[ "$errs" = " 60 error token_invalid " ] && ok "resil_tokens_revoked_jobs_end_token_invalid (60)" ||
        bad resil_tokens_revoked_jobs_end_token_invalid "endings:$errs"
r1=$(stat_of "$RV" requests) n401=$(count401 "$RV")
sleep 3
r2=$(stat_of "$RV" requests)
note "token requests: $r1 when the jobs ended ($n401 answered 401), $r2 three poll intervals later"
if [ "$n401" -ge 1 ] && [ "$n401" -le 6 ] && [ "$r2" = "$r1" ]; then
        ok "resil_tokens_no_request_after_401 ($n401 requests got a 401, none after)"
else
        bad resil_tokens_no_request_after_401 "$n401 requests got a 401 (at most 6 in flight); requests $r1 -> $r2 after the jobs ended"
fi
for i in $(seq 10); do job "rv-late-$i" ws-resil-revoke $RA b000000000a00001; done >"$tmp/late.jsonl"
enqueue_file "$tmp/late.jsonl"
wait_terminal 70 15
late=$(jq -r --arg p "$run-rv-late" 'select((.job_id | startswith($p)) and .event != "status") | .error.code // .event' "$tmp/results.jsonl" | sort | uniq -c | tr -s ' \n' ' ')
r3=$(stat_of "$RV" requests)
[ "$late" = " 10 token_invalid " ] && [ "$r3" = "$r1" ] &&
        ok "resil_tokens_invalid_cached (10 new jobs: token_invalid, no request)" ||
        bad resil_tokens_invalid_cached "new jobs ended:$late; requests $r1 -> $r3"

# ---- rotation: plain dir ------------------------------------------------------------
TA=a11e0000000b0001
job rot-1 ws-resil-rotate $TA b000000000b00001 >"$tmp/rot.jsonl"
job rot-2 ws-resil-rotate $TA b000000000b00001 >>"$tmp/rot.jsonl"
enqueue_file "$tmp/rot.jsonl"
for _ in $(seq 100); do [ "$(stat_of bitwat_resil_rotate_one requests)" -ge 3 ] && break; sleep 0.1; done
rotate_check() { # name old new swap-command...
        local name=$1 old=$2 new=$3 o0 o1 o2 n1 t0
        shift 3
        o0=$(stat_of "$old" requests)
        [ "$o0" -gt 0 ] || bad "$name" "the old token was never used"
        t0=$(date +%s%3N)
        "$@"
        o1=$(stat_of "$old" requests)
        for _ in $(seq $((50 * scale))); do [ "$(stat_of "$new" requests)" -gt 0 ] && break; sleep 0.1; done
        local ms=$(($(date +%s%3N) - t0))
        o1=$(stat_of "$old" requests)
        sleep 2.5
        o2=$(stat_of "$old" requests) n1=$(stat_of "$new" requests)
        note "$name: old token $o0 requests at the swap, $o1 when the new one first arrived ($ms ms), $o2 after 2.5 s; new token $n1"
        if [ "$n1" -ge 2 ] && [ $((o1 - o0)) -le 1 ] && [ "$o2" = "$o1" ]; then
                ok "$name (new token in $ms ms)"
        else
                bad "$name" "old token requests $o0 -> $o1 -> $o2, new token $n1"
        fi
}
replace_file() { # token: write aside, rename over (what a secret manager does)
        printf '%s\n' "$1" >"$tmp/tokens/.ws-resil-rotate.new"
        mv -f "$tmp/tokens/.ws-resil-rotate.new" "$tmp/tokens/ws-resil-rotate"
}
rotate_check resil_tokens_rotate_file bitwat_resil_rotate_one bitwat_resil_rotate_two replace_file bitwat_resil_rotate_two
# the other processes did not restart
starts=$(cat "$tmp"/bitmon-p*.log | grep -c '"msg":"started"')
[ "$starts" = 3 ] || bad resil_tokens_no_restart "$starts starts logged"

# ---- rotation: Kubernetes Secret volume layout ----------------------------------------
k8s=$tmp/tokens-k8s
mkdir -m 700 -p "$k8s/..2026_11_28_v1"
printf 'bitwat_resil_rotate_three\n' >"$k8s/..2026_11_28_v1/ws-resil-rotate"
ln -s ..2026_11_28_v1 "$k8s/..data"
ln -s ..data/ws-resil-rotate "$k8s/ws-resil-rotate"
swap_data() {
        mkdir -m 700 "$k8s/..2026_11_28_v2"
        printf 'bitwat_resil_rotate_four\n' >"$k8s/..2026_11_28_v2/ws-resil-rotate"
        ln -s ..2026_11_28_v2 "$k8s/..data_tmp"
        mv -T "$k8s/..data_tmp" "$k8s/..data"
        rm -rf "$k8s/..2026_11_28_v1"
}
# p4 reads this layout; p1-p3 leave so that p4 owns the rotation jobs.
for p in p1 p2 p3; do bitmon_term $p; done
BITMON_TOKENS_STORE=dir:$k8s bitmon_start p4
for _ in $(seq 100); do [ "$(stat_of bitwat_resil_rotate_three requests)" -ge 3 ] && break; sleep 0.1; done
rotate_check resil_tokens_rotate_k8s_data_swap bitwat_resil_rotate_three bitwat_resil_rotate_four swap_data
[ "$(grep -c '"msg":"started"' "$tmp/bitmon-p4.log")" = 1 ] || bad resil_tokens_no_restart "p4 restarted"
rot=$(jq -r --arg p "$run-rot" 'select((.job_id | startswith($p)) and .event == "error") | .error.code' "$tmp/results.jsonl" | sort | uniq -c | tr -s ' \n' ' ')
[ -z "$rot" ] && ok resil_tokens_rotation_no_errors || bad resil_tokens_rotation_no_errors "rotated jobs ended:$rot"
bitmon_term p4
exit "$failed"
