#!/usr/bin/env bash
# tests/integration/connect_cli.sh — `bitmon connect`, `disconnect` and
# `tokens` end to end against the Bitrise simulator: one scenario per verdict
# (exit code, message, fix), stored only when the token works (or --force),
# --json parsed, --check, disconnect (also from a Kubernetes Secret volume),
# the redis store round trip, rekey after a key rotation, usage errors, the
# terminal prompt without echo — and no token in any output, file or Redis
# value the test did not put there itself.
# shellcheck disable=SC2317 # the checks are called through check()
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${BITMON_BIN:-$PWD/build/bitmon}
SIM=${BITMON_SIM:-$PWD/build/bitrise-sim}
scale=${BITMON_TEST_TIMEOUT_SCALE:-1}
tmp=$(mktemp -d -t bitmon-connect.XXXXXX)
sim_pid=
redis_pid=
cleanup() {
        [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
        [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
        [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
failed=0
why=

# check NAME FUNC: runs FUNC; on failure FUNC has put the reason in $why.
check() {
        why="$2 failed"
        if "$2"; then
                echo "ok $1"
        else
                echo "FAIL $1: $why"
                failed=1
        fi
}

# ---- the world ---------------------------------------------------------------

run=$$-$RANDOM
TOK_GOOD="bitwat_LEAKCANARY_good_$run"
TOK_TESTER="bitwat_LEAKCANARY_tester_$run"
TOK_MIXED="bitwat_LEAKCANARY_mixed_$run"
TOK_NOAPPS="bitwat_LEAKCANARY_noapps_$run"
TOK_EXPIRED="bitwat_LEAKCANARY_expired_$run"
TOK_PERSONAL="bitpat_LEAKCANARY_personal_$run"
TOK_WRONG="bitwat_LEAKCANARY_wrong_$run"
TOK_REVOKE="bitwat_LEAKCANARY_revoke_$run"
TOK_TTY="bitwat_LEAKCANARY_tty_$run"
TOK_QUOTA="bitwat_LEAKCANARY_quota_$run"
ALL_TOKENS="$TOK_QUOTA $TOK_GOOD $TOK_TESTER $TOK_MIXED $TOK_NOAPPS $TOK_EXPIRED $TOK_PERSONAL $TOK_WRONG $TOK_REVOKE $TOK_TTY"
APP_A=669403bffbe35909
APP_B=3247e2920496e846

mkdir -p "$tmp/in" "$tmp/out" "$tmp/store"
cat >"$tmp/in/scenario.json" <<EOF
{"workspaces": [{"slug": "ws-acme"}],
 "tokens": [
  {"value": "$TOK_GOOD", "workspace": "ws-acme", "role": "developer"},
  {"value": "$TOK_REVOKE", "workspace": "ws-acme", "role": "admin"},
  {"value": "$TOK_TTY", "workspace": "ws-acme", "role": "developer"},
  {"value": "$TOK_TESTER", "workspace": "ws-acme", "role": "tester"},
  {"value": "$TOK_MIXED", "apps": {"$APP_A": "developer", "$APP_B": "tester"}},
  {"value": "$TOK_NOAPPS", "workspace": "ws-acme", "role": "none"},
  {"value": "$TOK_EXPIRED", "workspace": "ws-acme", "expires_at": "2026-01-01T00:00:00Z"},
  {"value": "$TOK_PERSONAL", "workspace": "ws-acme", "role": "admin"},
  {"value": "$TOK_QUOTA", "workspace": "ws-acme", "quota": {"limit": 1, "window_s": 600}}],
 "apps": [
  {"slug": "$APP_A", "title": "Acme iOS", "workspace": "ws-acme",
   "builds": [{"slug": "a1a1a1a1a1a1a1a1", "triggered_at_s": -900, "running_s": 60, "status": 1}]},
  {"slug": "$APP_B", "title": "Acme Android", "workspace": "ws-acme",
   "builds": [{"slug": "b2b2b2b2b2b2b2b2", "triggered_at_s": -900, "running_s": 60, "status": 2}]}]}
EOF
openssl rand -hex 32 >"$tmp/in/fp.key"
openssl rand -hex 32 >"$tmp/in/aes1.key"
openssl rand -hex 32 >"$tmp/in/aes2.key"

"$SIM" --scenario "$tmp/in/scenario.json" --listen 127.0.0.1:0 \
        --port-file "$tmp/sim.port" 2>"$tmp/out/sim.log" &
sim_pid=$!
for _ in $(seq 1 $((100 * scale))); do
        [ -s "$tmp/sim.port" ] && break
        sleep 0.05
done
if [ ! -s "$tmp/sim.port" ]; then
        echo "FAIL connect_setup: the simulator did not start"
        cat "$tmp/out/sim.log"
        exit 1
fi
sim_url="http://127.0.0.1:$(cat "$tmp/sim.port")"

# Redis: the stack's, or one of our own on a free port.
if [ -n "${BITMON_TEST_REDIS:-}" ]; then
        redis_host=${BITMON_TEST_REDIS%:*}
        redis_port=${BITMON_TEST_REDIS##*:}
else
        redis_host=127.0.0.1
        for _ in 1 2 3 4 5; do
                redis_port=$((20000 + RANDOM % 30000))
                redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
                        --appendonly no --dir "$tmp" >/dev/null 2>&1 &
                redis_pid=$!
                for _ in $(seq 1 $((40 * scale))); do
                        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break 2
                        sleep 0.05
                done
                kill "$redis_pid" 2>/dev/null
                wait "$redis_pid" 2>/dev/null
                redis_pid=
        done
fi
prefix="itest:connect:$run:"
rcli() { timeout $((5 * scale)) redis-cli -h "$redis_host" -p "$redis_port" "$@"; }
if ! rcli ping >/dev/null 2>&1; then
        echo "FAIL connect_setup: no Redis"
        exit 1
fi

# [input=TEXT] bm NAME COMMAND [args...]: runs bitmon COMMAND with a clean
# BITMON_* environment and the test's configuration (args come last, so
# their -X win), TEXT on its stdin (through a pipe, never a file);
# stdout/stderr go to out/NAME.out and
# out/NAME.err; the exit status is in $rc.
rc=0
bm() {
        local name=$1 command=$2
        shift 2
        printf '%s' "${input:-}" | env $(env | grep -o '^BITMON_[A-Z_]*' | sed 's/^/-u /') \
                timeout $((60 * scale)) "$BIN" "$command" \
                -X bitrise.base_url="$sim_url/v0.1" \
                -X tokens.fingerprint_key_file="$tmp/in/fp.key" \
                -X redis.host="$redis_host" -X redis.port="$redis_port" \
                -X redis.prefix="$prefix" -X poll.backoff_base_ms=10 "$@" \
                >"$tmp/out/$name.out" 2>"$tmp/out/$name.err"
        rc=${PIPESTATUS[1]}
}
dir_store="-X tokens.store=dir:$tmp/store"
out() { cat "$tmp/out/$1.out"; }
err() { cat "$tmp/out/$1.err"; }
show() { why="$why; exit $rc; stdout: $(out "$1" | head -c 600); stderr: $(err "$1" | head -c 600)"; }

# The first 8 / 16 hex digits of HMAC-SHA256(fingerprint key, token),
# computed independently with openssl.
fp_hex() {
        printf '%s' "$1" | openssl dgst -sha256 -mac HMAC \
                -macopt "key:$(tr -d ' \n' <"$tmp/in/fp.key")" | sed 's/.*= //'
}
fp8() { fp_hex "$1" | cut -c1-8; }
fp16() { fp_hex "$1" | cut -c1-16; }

# expect NAME CODE VERDICT: the last bm run exited CODE and printed VERDICT.
expect() {
        [ "$rc" -eq "$2" ] || { why="exit $rc, want $2"; show "$1"; return 1; }
        grep -q "^$3: " "$tmp/out/$1.out" || { why="no '$3:' line"; show "$1"; return 1; }
}
not_stored() { [ ! -e "$tmp/store/ws-acme" ] || { why="a token was stored"; return 1; }; }

# ---- one scenario per verdict --------------------------------------------------

t_ok_stores() {
        rm -f "$tmp/store/ws-acme"
        input=$'  '"$TOK_GOOD"$' \n\n' bm ok connect --workspace ws-acme $dir_store
        expect ok 0 ok || return 1
        [ "$(cat "$tmp/store/ws-acme")" = "$TOK_GOOD" ] || { why="stored file differs"; return 1; }
        [ "$(stat -c %a "$tmp/store/ws-acme")" = 600 ] || { why="mode not 0600"; return 1; }
        grep -q "token $(fp8 "$TOK_GOOD") " "$tmp/out/ok.out" || { why="fingerprint differs from HMAC"; show ok; return 1; }
        grep -q "2 apps visible, build logs readable" "$tmp/out/ok.out" &&
                grep -q "^stored in dir:$tmp/store" "$tmp/out/ok.out" || { why="text"; show ok; return 1; }
        [ "$(rcli get "${prefix}tok:$(fp16 "$TOK_GOOD"):state")" = valid ] || { why="validity not recorded as valid"; return 1; }
}
check connect_ok_stores_token_and_validity t_ok_stores

t_wrong() {
        rm -f "$tmp/store/ws-acme"
        input="$TOK_WRONG"$'\n' bm wrong connect --workspace ws-acme $dir_store
        expect wrong 10 token_invalid && not_stored || return 1
        grep -q "HTTP 401): it is mistyped, expired or revoked" "$tmp/out/wrong.out" &&
                grep -q "^fix: Create a new Workspace API token in Bitrise (Workspace settings → API tokens → Create token) with the Developer role" "$tmp/out/wrong.out" &&
                grep -q "^not stored" "$tmp/out/wrong.out" || { why="text"; show wrong; return 1; }
}
check connect_wrong_token_exit_10 t_wrong

t_expired() {
        input="$TOK_EXPIRED"$'\n' bm expired connect --workspace ws-acme $dir_store
        expect expired 10 token_invalid && not_stored
}
check connect_expired_token_exit_10 t_expired

t_tester() {
        input="$TOK_TESTER"$'\n' bm tester connect --workspace ws-acme $dir_store
        expect tester 12 insufficient_role && not_stored || return 1
        grep -q "sees builds but cannot read their logs in app 'Acme iOS' (${APP_A:0:8}) and other apps (HTTP 403): its role is below Developer$" "$tmp/out/tester.out" &&
                grep -q "^fix: .*Developer role (or higher).*Tester/QA can see builds but not their logs" "$tmp/out/tester.out" ||
                { why="text"; show tester; return 1; }
}
check connect_tester_role_exit_12 t_tester

t_mixed() {
        input="$TOK_MIXED"$'\n' bm mixed connect --workspace ws-acme $dir_store
        expect mixed 12 insufficient_role && not_stored || return 1
        grep -q "in app 'Acme Android' (${APP_B:0:8})" "$tmp/out/mixed.out" || { why="does not name the app lacking the role"; show mixed; return 1; }
        [ "$(rcli get "${prefix}tok:$(fp16 "$TOK_MIXED"):role:$APP_B")" = "" ] || { why="validity written for a token not stored"; return 1; }
}
check connect_per_app_role_names_the_app t_mixed

t_noapps() {
        input="$TOK_NOAPPS"$'\n' bm noapps connect --workspace ws-acme $dir_store
        expect noapps 11 no_apps && not_stored || return 1
        grep -q "reaches no app (Missing Build Data)" "$tmp/out/noapps.out" &&
                grep -q "^fix: .*give it access to the apps you want monitored" "$tmp/out/noapps.out" ||
                { why="text"; show noapps; return 1; }
}
check connect_no_apps_exit_11 t_noapps

t_personal() {
        input="$TOK_PERSONAL"$'\n' bm personal connect --workspace ws-acme $dir_store
        expect personal 13 personal_token && not_stored || return 1
        grep -q "is a personal access token (bitpat_...)" "$tmp/out/personal.out" &&
                grep -q "^fix: Create a new Workspace API token.*--force" "$tmp/out/personal.out" ||
                { why="text"; show personal; return 1; }
        input="$TOK_PERSONAL"$'\n' bm personal_force connect --workspace ws-acme --force $dir_store
        expect personal_force 13 personal_token || return 1
        [ "$(cat "$tmp/store/ws-acme")" = "$TOK_PERSONAL" ] || { why="--force did not store"; return 1; }
        grep -q "^stored in dir:.* anyway (--force)" "$tmp/out/personal_force.out" || { why="text"; show personal_force; return 1; }
        rm -f "$tmp/store/ws-acme"
}
check connect_personal_token_exit_13_stored_only_with_force t_personal

t_force_wrong() {
        input="$TOK_WRONG"$'\n' bm force_wrong connect --workspace ws-acme --force $dir_store
        expect force_wrong 10 token_invalid || return 1
        [ "$(cat "$tmp/store/ws-acme")" = "$TOK_WRONG" ] || { why="--force did not store"; return 1; }
        [ "$(rcli get "${prefix}tok:$(fp16 "$TOK_WRONG"):state")" = invalid ] || { why="401 not recorded as invalid"; return 1; }
        rm -f "$tmp/store/ws-acme"
}
check connect_force_stores_a_failing_token t_force_wrong

t_down() {
        # A port nobody listens on: bind one, note it, close it.
        local port
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
        input="$TOK_GOOD"$'\n' bm down connect --workspace ws-acme $dir_store \
                -X bitrise.base_url="http://127.0.0.1:$port/v0.1"
        expect down 14 unreachable && not_stored || return 1
        grep -q "Bitrise is unreachable after 3 attempts" "$tmp/out/down.out" &&
                grep -q "^fix: Check that this machine reaches http://127.0.0.1:$port/v0.1" "$tmp/out/down.out" ||
                { why="text"; show down; return 1; }
}
check connect_simulator_down_exit_14 t_down

t_5xx() {
        curl -sf -X POST "$sim_url/_sim/faults" -d '{"scope": "apps_list", "faults": {"error_5xx": 1}}' >/dev/null ||
                { why="cannot set faults"; return 1; }
        input="$TOK_GOOD"$'\n' bm fivexx connect --workspace ws-acme $dir_store
        curl -sf -X POST "$sim_url/_sim/faults" -d '{"scope": "apps_list", "faults": null}' >/dev/null
        expect fivexx 14 unreachable && not_stored || return 1
        grep -q "HTTP 503" "$tmp/out/fivexx.out" || { why="no HTTP 503 in the message"; show fivexx; return 1; }
        local n
        n=$(curl -sf "$sim_url/_sim/stats" | jq '[.tokens[] | select(.token == "'"$TOK_GOOD"'") | .endpoints.apps_list] | add')
        [ "$n" -ge 3 ] || { why="apps_list called $n times, want >= 3 (retries)"; return 1; }
}
check connect_5xx_past_retries_exit_14 t_5xx

t_429() {
        input="$TOK_QUOTA"$'\n' bm quota connect --workspace ws-acme $dir_store
        expect quota 15 rate_limited && not_stored || return 1
        grep -q "HTTP 429 (rate limited)" "$tmp/out/quota.out" &&
                grep -q "^fix: Wait a few minutes" "$tmp/out/quota.out" || { why="text"; show quota; return 1; }
}
check connect_rate_limited_exit_15 t_429

t_bad_json() {
        curl -sf -X POST "$sim_url/_sim/faults" -d '{"scope": "apps_list", "faults": {"invalid_json": 1}}' >/dev/null ||
                { why="cannot set faults"; return 1; }
        input="$TOK_GOOD"$'\n' bm badjson connect --workspace ws-acme $dir_store
        curl -sf -X POST "$sim_url/_sim/faults" -d '{"scope": "apps_list", "faults": null}' >/dev/null
        expect badjson 16 unexpected_answer && not_stored || return 1
        grep -q "^fix: Check that bitrise.base_url" "$tmp/out/badjson.out" || { why="text"; show badjson; return 1; }
}
check connect_unparsable_answer_exit_16 t_bad_json

# ---- --json ------------------------------------------------------------------

t_json() {
        input="$TOK_GOOD"$'\n' bm json_ok connect --workspace ws-acme --no-store --json $dir_store
        [ "$rc" -eq 0 ] || { why="exit $rc"; show json_ok; return 1; }
        jq -e --arg fp "$(fp8 "$TOK_GOOD")" '.verdict == "ok" and .workspace == "ws-acme" and
                .fingerprint == $fp and .apps_visible == 2 and .fix == null and
                .stored == false and .exit_code == 0 and (.message | test("works"))' \
                "$tmp/out/json_ok.out" >/dev/null || { why="ok JSON"; show json_ok; return 1; }
        [ "$(wc -l <"$tmp/out/json_ok.out")" -eq 1 ] || { why="not one line"; return 1; }
        input="$TOK_TESTER"$'\n' bm json_tester connect --workspace ws-acme --json $dir_store
        [ "$rc" -eq 12 ] || { why="exit $rc"; return 1; }
        jq -e '.verdict == "insufficient_role" and .apps_visible == 2 and
                (.fix | test("Developer role")) and .stored == false and .exit_code == 12' \
                "$tmp/out/json_tester.out" >/dev/null || { why="tester JSON"; show json_tester; return 1; }
        input="$TOK_WRONG"$'\n' bm json_wrong connect --workspace ws-acme --json $dir_store
        jq -e '.verdict == "token_invalid" and .apps_visible == null and .exit_code == 10' \
                "$tmp/out/json_wrong.out" >/dev/null || { why="wrong JSON"; show json_wrong; return 1; }
        not_stored
}
check connect_json_verdicts t_json

# ---- --check, disconnect ---------------------------------------------------------

t_check() {
        input="$TOK_REVOKE"$'\n' bm c1 connect --workspace ws-acme $dir_store
        expect c1 0 ok || return 1
        bm c2 connect --check ws-acme $dir_store
        expect c2 0 ok || return 1
        grep -q "^checked the token stored in" "$tmp/out/c2.out" || { why="text"; show c2; return 1; }
        curl -sf -X POST "$sim_url/_sim/tokens/revoke" -d "{\"token\": \"$TOK_REVOKE\"}" >/dev/null ||
                { why="cannot revoke"; return 1; }
        rcli del "${prefix}tok:$(fp16 "$TOK_REVOKE"):state" >/dev/null
        bm c3 connect --check ws-acme --json $dir_store
        [ "$rc" -eq 10 ] && jq -e '.verdict == "token_invalid" and .checked_stored' "$tmp/out/c3.out" >/dev/null ||
                { why="revoked token not reported"; show c3; return 1; }
        [ "$(cat "$tmp/store/ws-acme")" = "$TOK_REVOKE" ] || { why="--check changed the store"; return 1; }
        [ "$(rcli get "${prefix}tok:$(fp16 "$TOK_REVOKE"):state")" = invalid ] || { why="--check did not record invalid"; return 1; }
        bm c4 connect --check ws-other $dir_store
        [ "$rc" -eq 4 ] && grep -q "workspace ws-other is not connected" "$tmp/out/c4.err" ||
                { why="not connected"; show c4; return 1; }
}
check connect_check_revalidates_stored_token t_check

t_disconnect() {
        bm d1 disconnect ws-acme $dir_store
        [ "$rc" -eq 0 ] && [ ! -e "$tmp/store/ws-acme" ] &&
                grep -q "^removed the token of workspace ws-acme" "$tmp/out/d1.out" || { why="remove"; show d1; return 1; }
        bm d2 disconnect ws-acme $dir_store
        [ "$rc" -eq 0 ] && grep -q "nothing to remove" "$tmp/out/d2.out" || { why="again"; show d2; return 1; }
        # A Kubernetes Secret volume: PATH/ws -> ..data/ws -> ..2026_.../ws.
        local sec=$tmp/secret
        mkdir -p "$sec/..2026_11_28_22_00_00.1" &&
                printf '%s' "$TOK_GOOD" >"$sec/..2026_11_28_22_00_00.1/ws-acme" &&
                ln -s ..2026_11_28_22_00_00.1 "$sec/..data" && ln -s ..data/ws-acme "$sec/ws-acme"
        bm d3 disconnect ws-acme -X tokens.store=dir:"$sec"
        [ "$rc" -eq 3 ] && [ -e "$sec/ws-acme" ] &&
                grep -q "is a Kubernetes Secret volume (read-only), so bitmon cannot remove the token: remove key ws-acme from the Secret" "$tmp/out/d3.err" ||
                { why="secret volume disconnect"; show d3; return 1; }
        input="$TOK_GOOD"$'\n' bm d4 connect --workspace ws-new -X tokens.store=dir:"$sec"
        [ "$rc" -eq 3 ] && [ ! -e "$sec/ws-new" ] && grep -q "^ok: " "$tmp/out/d4.out" &&
                grep -q "add the token to the Secret instead" "$tmp/out/d4.err" ||
                { why="secret volume connect"; show d4; return 1; }
        bm d5 tokens list -X tokens.store=dir:"$sec"
        [ "$rc" -eq 0 ] && grep -q "^ws-acme  *$(fp8 "$TOK_GOOD")$" "$tmp/out/d5.out" &&
                grep -q "^1 token in" "$tmp/out/d5.out" || { why="list of a Secret volume"; show d5; return 1; }
}
check disconnect_dir_and_secret_volume t_disconnect

# ---- the redis store -------------------------------------------------------------

redis_store="-X tokens.store=redis"
t_redis_round_trip() {
        input="$TOK_GOOD"$'\n' bm r1 connect --workspace ws-acme $redis_store -X tokens.key_file="$tmp/in/aes1.key"
        expect r1 0 ok || return 1
        input="$TOK_REVOKE"$'\n' bm r2 connect --workspace ws-beta --force $redis_store -X tokens.key_file="$tmp/in/aes1.key"
        [ "$rc" -eq 10 ] || { why="ws-beta exit $rc"; show r2; return 1; }
        local v
        v=$(rcli get "${prefix}token:ws-acme")
        [[ "$v" == v1:* ]] && [[ "$v" != *LEAKCANARY* ]] || { why="stored value not sealed: ${v:0:20}"; return 1; }
        bm r3 tokens list --json $redis_store -X tokens.key_file="$tmp/in/aes1.key"
        [ "$rc" -eq 0 ] || { why="list exit $rc"; show r3; return 1; }
        jq -e --arg a "$(fp8 "$TOK_GOOD")" --arg b "$(fp8 "$TOK_REVOKE")" \
                '.store == "redis" and (.tokens | length) == 2 and
                 .tokens[0] == {"workspace": "ws-acme", "fingerprint": $a} and
                 .tokens[1] == {"workspace": "ws-beta", "fingerprint": $b}' \
                "$tmp/out/r3.out" >/dev/null || { why="list JSON"; show r3; return 1; }
        bm r4 connect --check ws-acme $redis_store -X tokens.key_file="$tmp/in/aes1.key"
        expect r4 0 ok || return 1
        input="$TOK_GOOD"$'\n' bm r5 connect --workspace ws-gamma $redis_store -X tokens.key_file="$tmp/in/aes1.key" -X redis.port=1
        [ "$rc" -eq 3 ] && grep -q "token store redis: .*:1 is unreachable" "$tmp/out/r5.err" ||
                { why="redis store down"; show r5; return 1; }
}
check tokens_redis_store_round_trip t_redis_round_trip

t_rekey() {
        local k1=$tmp/in/aes1.key k2=$tmp/in/aes2.key
        bm k0 tokens list $redis_store -X tokens.key_file="$k2"
        [ "$rc" -eq 3 ] || { why="new key alone opened old tokens (exit $rc)"; show k0; return 1; }
        bm k1 tokens rekey $redis_store -X tokens.key_file="$k2" -X tokens.old_key_files="/nonexistent.key, $k1"
        [ "$rc" -eq 3 ] && grep -q "cannot open token store redis: .*/nonexistent.key" "$tmp/out/k1.err" ||
                { why="missing old key file accepted (exit $rc)"; show k1; return 1; }
        bm k2 tokens rekey $redis_store -X tokens.key_file="$k2" -X tokens.old_key_files=" $k1 "
        [ "$rc" -eq 0 ] && grep -q "^2 tokens in redis: 2 re-encrypted under key [0-9a-f]\{8\}, 0 already under it, 0 failed$" "$tmp/out/k2.out" ||
                { why="rekey"; show k2; return 1; }
        bm k3 tokens rekey --json $redis_store -X tokens.key_file="$k2" -X tokens.old_key_files="$k1"
        jq -e '.tokens == 2 and .rekeyed == 0 and .already_current == 2 and .failed == 0' "$tmp/out/k3.out" >/dev/null ||
                { why="second rekey"; show k3; return 1; }
        bm k4 tokens list $redis_store -X tokens.key_file="$k2"
        [ "$rc" -eq 0 ] && grep -q "^ws-acme  *$(fp8 "$TOK_GOOD")$" "$tmp/out/k4.out" ||
                { why="list under the new key alone"; show k4; return 1; }
        bm k5 disconnect ws-beta $redis_store -X tokens.key_file="$k2"
        [ "$rc" -eq 0 ] && [ -z "$(rcli get "${prefix}token:ws-beta")" ] || { why="redis disconnect"; show k5; return 1; }
        bm k6 tokens rekey $dir_store
        [ "$rc" -eq 2 ] && grep -q "only the redis store is encrypted" "$tmp/out/k6.err" || { why="rekey of a dir store"; show k6; return 1; }
}
check tokens_rekey_after_key_rotation t_rekey

# ---- bad input -------------------------------------------------------------------

t_usage() {
        bm u1 connect $dir_store
        [ "$rc" -eq 2 ] && grep -q -- "--workspace W is required" "$tmp/out/u1.err" || { why="no workspace"; show u1; return 1; }
        bm u2 connect --workspace ../etc $dir_store
        [ "$rc" -eq 2 ] && grep -q "invalid workspace id" "$tmp/out/u2.err" || { why="bad workspace"; show u2; return 1; }
        input=$' \n ' bm u3 connect --workspace ws-acme $dir_store
        [ "$rc" -eq 2 ] && grep -q "no token given" "$tmp/out/u3.err" || { why="empty input"; show u3; return 1; }
        input="$TOK_GOOD extra" bm u4 connect --workspace ws-acme $dir_store
        [ "$rc" -eq 2 ] && grep -q "contains spaces" "$tmp/out/u4.err" || { why="two words"; show u4; return 1; }
        input=$(head -c 10000 /dev/zero | tr '\0' 'a') bm u5 connect --workspace ws-acme $dir_store
        [ "$rc" -eq 2 ] && grep -q "too long" "$tmp/out/u5.err" || { why="huge input"; show u5; return 1; }
        bm u6 connect --check ws-acme --force $dir_store
        [ "$rc" -eq 2 ] || { why="--check --force"; show u6; return 1; }
        input="$TOK_GOOD"$'\n' bm u7 connect --workspace ws-acme $dir_store -X tokens.fingerprint_key_file=
        [ "$rc" -eq 2 ] && grep -q "tokens.fingerprint_key_file is not set" "$tmp/out/u7.err" || { why="no fp key"; show u7; return 1; }
        bm u8 tokens frobnicate $dir_store
        [ "$rc" -eq 2 ] || { why="tokens bad action"; return 1; }
        input="$TOK_GOOD"$'\n' bm u9 connect --workspace ws-acme -X tokens.store=dir:/nonexistent/dir
        [ "$rc" -eq 3 ] && grep -q "cannot open token store" "$tmp/out/u9.err" || { why="missing store dir"; show u9; return 1; }
        not_stored
}
check connect_bad_input_exit_2 t_usage

# ---- the terminal ----------------------------------------------------------------

# Runs connect on a pseudo-terminal, types the token when asked; the echo of
# the terminal must not show it.
t_tty() {
        rm -f "$tmp/store/ws-acme"
        python3 - "$BIN" "$TOK_TTY" "$tmp/out/tty.out" \
                connect --workspace ws-acme $dir_store \
                -X bitrise.base_url="$sim_url/v0.1" -X tokens.fingerprint_key_file="$tmp/in/fp.key" \
                -X redis.host="$redis_host" -X redis.port="$redis_port" -X redis.prefix="$prefix" <<'EOF'
import os, pty, sys, time
binary, token, outpath, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    for k in [k for k in os.environ if k.startswith("BITMON_")]:
        del os.environ[k]
    os.execv(binary, [binary] + args)
seen = b""
deadline = time.time() + 30
typed = False
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if not typed and b"press Enter" in seen:
        time.sleep(0.2)
        os.write(fd, token.encode() + b"\n")
        typed = True
_, status = os.waitpid(pid, 0)
open(outpath, "wb").write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
EOF
        rc=$?
        [ "$rc" -eq 0 ] || { why="exit $rc: $(head -c 600 "$tmp/out/tty.out")"; return 1; }
        grep -q "Paste the Workspace API token for workspace ws-acme (input is hidden)" "$tmp/out/tty.out" &&
                grep -q "^ok: " <(tr -d '\r' <"$tmp/out/tty.out") || { why="text: $(head -c 600 "$tmp/out/tty.out")"; return 1; }
        ! grep -q "$TOK_TTY" "$tmp/out/tty.out" || { why="the token was echoed"; return 1; }
        [ "$(cat "$tmp/store/ws-acme")" = "$TOK_TTY" ] || { why="not stored"; return 1; }
        rm -f "$tmp/store/ws-acme"
}
check connect_terminal_prompt_without_echo t_tty

# ---- no token anywhere -----------------------------------------------------------

# Every output of every run above, the simulator's log and every Redis key
# and value under the test's prefix: no token. (The dir stores and the
# scenario hold tokens on purpose and are not scanned.)
t_no_leak() {
        local t k
        for t in $ALL_TOKENS; do
                if grep -rl -- "$t" "$tmp/out" >/dev/null; then
                        why="token found in $(grep -rl -- "$t" "$tmp/out" | head -3 | tr '\n' ' ')"
                        return 1
                fi
        done
        [ "$(ls "$tmp/out" | wc -l)" -gt 50 ] || { why="too few outputs scanned"; return 1; }
        rcli --scan --pattern "${prefix}*" >"$tmp/keys" || { why="scan"; return 1; }
        [ -s "$tmp/keys" ] || { why="no Redis keys to scan"; return 1; }
        while read -r k; do
                printf '%s\n' "$k"
                [ "$(rcli type "$k")" = string ] && rcli get "$k"
        done <"$tmp/keys" >"$tmp/redis-dump"
        for t in $ALL_TOKENS; do
                ! grep -q -- "$t" "$tmp/redis-dump" || { why="token found in Redis"; return 1; }
        done
}
check connect_no_token_in_outputs_logs_or_redis t_no_leak

rcli --scan --pattern "${prefix}*" | while read -r k; do rcli del "$k" >/dev/null; done
exit $failed
