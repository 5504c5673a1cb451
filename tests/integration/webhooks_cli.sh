#!/usr/bin/env bash
# tests/integration/webhooks_cli.sh — `bitmon webhooks register|list|remove`
# against the Bitrise simulator's outgoing webhooks: register creates the
# webhook with bitmon's headers and stores a new secret, a second register
# updates it and reuses the secret, list shows it and a failed delivery as
# FAILED, a Developer or wrong token gets its verdict and exit code, remove
# deletes it and a second remove says there is none — and neither the token
# nor the secret appears in any output.
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${BITMON_BIN:-$PWD/build/bitmon}
SIM=${BITMON_SIM:-$PWD/build/bitrise-sim}
scale=${BITMON_TEST_TIMEOUT_SCALE:-1}
tmp=$(mktemp -d -t bitmon-webhooks.XXXXXX)
sim_pid=
cleanup() {
        [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
failed=0
ok() { echo "ok $1"; }
bad() {
        echo "FAIL $1: $2"
        failed=1
}

run=$$-$RANDOM
TOK_ADMIN="bitwat_LEAKCANARY_admin_$run"
TOK_DEV="bitwat_LEAKCANARY_dev_$run"
APP=669403bffbe35909
BUILD=a1a1a1a1a1a1a1a1
URL="http://127.0.0.1:9/webhooks/bitrise" # nobody listens: deliveries fail
mkdir -p "$tmp/secrets" "$tmp/out"
cat >"$tmp/scenario.json" <<EOF2
{"workspaces": [{"slug": "ws-acme"}],
 "tokens": [
  {"value": "$TOK_ADMIN", "workspace": "ws-acme", "role": "admin"},
  {"value": "$TOK_DEV", "workspace": "ws-acme", "role": "developer"}],
 "apps": [{"slug": "$APP", "title": "Acme iOS", "workspace": "ws-acme",
   "builds": [{"slug": "$BUILD", "triggered_at_s": -60, "running_s": 3600, "status": 1}]}]}
EOF2
"$SIM" --scenario "$tmp/scenario.json" --listen 127.0.0.1:0 \
        --port-file "$tmp/sim.port" 2>"$tmp/out/sim.log" &
sim_pid=$!
for _ in $(seq 1 $((100 * scale))); do
        [ -s "$tmp/sim.port" ] && break
        sleep 0.05
done
if [ ! -s "$tmp/sim.port" ]; then
        echo "FAIL webhooks_setup: the simulator did not start"
        exit 1
fi
sim_url="http://127.0.0.1:$(cat "$tmp/sim.port")"

rc=0
wh() { # name token verb args...
        local name=$1 token=$2
        shift 2
        printf '%s\n' "$token" | env -u BITMON_CONFIG timeout $((30 * scale)) \
                "$BIN" webhooks "$@" --workspace ws-acme --app "$APP" \
                -X bitrise.base_url="$sim_url/v0.1" \
                -X webhook.secrets="dir:$tmp/secrets" \
                >"$tmp/out/$name.out" 2>"$tmp/out/$name.err"
        rc=$?
}

wh register1 "$TOK_ADMIN" register --url "$URL"
secret=$(cat "$tmp/secrets/ws-acme" 2>/dev/null)
if [ $rc -eq 0 ] && grep -q "ok: webhook created for app $APP -> $URL" "$tmp/out/register1.out" &&
        grep -q "new, stored" "$tmp/out/register1.out" && [ ${#secret} -eq 64 ]; then
        ok webhooks_register_creates
else
        bad webhooks_register_creates "rc=$rc $(cat "$tmp/out/register1.out" "$tmp/out/register1.err")"
fi
hooks=$(curl -s -H "Authorization: $TOK_ADMIN" "$sim_url/v0.1/apps/$APP/outgoing-webhooks")
n=$(printf '%s' "$hooks" | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(len(d))')
if [ "$n" = 1 ] && printf '%s' "$hooks" | python3 -c '
import json,sys
w=json.load(sys.stdin)["data"][0]
assert w["url"]==sys.argv[1], w
assert sorted(w["events"])==["build/finished","build/triggered"], w
assert w["headers"]["X-Bitmon-Workspace"]=="ws-acme", w
assert w["headers"]["X-Bitmon-Webhook-Secret"]==sys.argv[2], "secret header"
' "$URL" "$secret"; then
        ok webhooks_register_headers_on_bitrise
else
        bad webhooks_register_headers_on_bitrise "$n webhooks"
fi

wh register2 "$TOK_ADMIN" register --url "$URL"
n=$(curl -s -H "Authorization: $TOK_ADMIN" "$sim_url/v0.1/apps/$APP/outgoing-webhooks" |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')
if [ $rc -eq 0 ] && [ "$n" = 1 ] && grep -q "ok: webhook updated" "$tmp/out/register2.out" &&
        grep -q "reused from" "$tmp/out/register2.out" &&
        [ "$(cat "$tmp/secrets/ws-acme")" = "$secret" ]; then
        ok webhooks_register_again_updates
else
        bad webhooks_register_again_updates "rc=$rc n=$n $(cat "$tmp/out/register2.out" "$tmp/out/register2.err")"
fi

# a delivery to nowhere: list shows it FAILED
curl -s -X POST "$sim_url/_sim/builds/finish" -d "{\"app\":\"$APP\",\"build\":\"$BUILD\",\"status\":2}" >/dev/null
for _ in $(seq 1 $((60 * scale))); do
        wh list "$TOK_ADMIN" list
        grep -q "FAILED" "$tmp/out/list.out" && break
        sleep 0.1
done
if [ $rc -eq 0 ] && grep -q "$URL (bitmon)" "$tmp/out/list.out" &&
        grep -q "FAILED .*build=$BUILD" "$tmp/out/list.out" &&
        grep -q "1 failed" "$tmp/out/list.out"; then
        ok webhooks_list_shows_failed_delivery
else
        bad webhooks_list_shows_failed_delivery "rc=$rc $(cat "$tmp/out/list.out" "$tmp/out/list.err")"
fi

wh dev "$TOK_DEV" register --url "$URL"
if [ $rc -eq 12 ] && grep -q "Owner or Admin" "$tmp/out/dev.err"; then
        ok webhooks_developer_token_refused
else
        bad webhooks_developer_token_refused "rc=$rc $(cat "$tmp/out/dev.err")"
fi
wh wrong "bitwat_LEAKCANARY_wrong_$run" list
if [ $rc -eq 10 ] && grep -q "refused (401)" "$tmp/out/wrong.err"; then
        ok webhooks_wrong_token
else
        bad webhooks_wrong_token "rc=$rc $(cat "$tmp/out/wrong.err")"
fi
wh usage "$TOK_ADMIN" register
if [ $rc -eq 2 ]; then ok webhooks_usage; else bad webhooks_usage "rc=$rc"; fi

wh remove1 "$TOK_ADMIN" remove --url "$URL"
n=$(curl -s -H "Authorization: $TOK_ADMIN" "$sim_url/v0.1/apps/$APP/outgoing-webhooks" |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')
wh remove2 "$TOK_ADMIN" remove --url "$URL"
if [ "$n" = 0 ] && grep -q "removed" "$tmp/out/remove1.out" && [ $rc -eq 4 ]; then
        ok webhooks_remove
else
        bad webhooks_remove "n=$n rc=$rc $(cat "$tmp/out/remove1.out" "$tmp/out/remove1.err")"
fi

if grep -rq -e LEAKCANARY -e "$secret" "$tmp/out"/*.out "$tmp/out"/*.err; then
        bad webhooks_no_secret_in_output "$(grep -rl -e LEAKCANARY -e "$secret" "$tmp/out")"
else
        ok webhooks_no_secret_in_output
fi
exit $failed
