#!/usr/bin/env bash
# tests/integration/zz_leak_scan.sh — runs last (tests/run.sh runs the
# integration scripts in glob order): no test token leaked anywhere the
# suite left traces (issue 3).
#   tokens: every `value` of tests/scenarios/*.json and every bitwat_…/
#     bitpat_… literal in the test sources (tests/);
#   files: every log in $BITMON_BUILD/test-logs and everything the tests kept
#     under $BITMON_BUILD/test-artifacts, except the token stores themselves
#     (tokens*/ dirs) and the simulator's scenario inputs (*scenario*.json);
#   Redis ($BITMON_TEST_REDIS, the shared one): every key name and every
#     value (strings, hashes, lists, sets, sorted sets, streams), scanned
#     inside Redis by one Lua script (the encrypted token store values are
#     included: their ciphertext must not contain a token either).
# A token counts as found only as a whole word ([A-Za-z0-9_] boundaries).
# Hits are printed with the token's fingerprint (first 12 hex of SHA-256),
# never the token. A planted canary (file + Redis key) is found first, so the
# scan is shown to work on every run.
. "$(dirname "$0")/lib.sh"
lib_init zz_leak_scan
RHOST=${BITMON_TEST_REDIS%:*} RPORT=${BITMON_TEST_REDIS##*:}
rcli() { redis-cli -h "$RHOST" -p "$RPORT" "$@"; }
fp() { printf '%s' "$1" | sha256sum | cut -c1-12; }

# ---- the tokens ------------------------------------------------------------------
{
        for f in tests/scenarios/*.json; do jq -r '.tokens[]?.value // empty' "$f" 2>/dev/null; done
        grep -rohE '\b(bitwat|bitpat)_[A-Za-z0-9_]+' tests/ 2>/dev/null
} | awk 'length >= 8' | sort -u >"$tmp/tokens.txt"
ntok=$(wc -l <"$tmp/tokens.txt")
[ "$ntok" -ge 20 ] || die leak_scan_tokens "only $ntok tokens collected"

# ---- files --------------------------------------------------------------------------
scan_files() { # dirs... → "path fp" per hit (fingerprint, never the token)
        grep -rlawF -f "$tmp/tokens.txt" --exclude-dir='tokens*' --exclude='*scenario*.json' \
                --exclude=tokens.txt "$@" 2>/dev/null | while read -r f; do
                grep -oawF -f "$tmp/tokens.txt" "$f" | sort -u | while read -r t; do
                        echo "$f $(fp "$t")"
                done
        done
}

# ---- Redis ----------------------------------------------------------------------------
cat >"$tmp/scan.lua" <<'LUA'
local toks = {}
for t in string.gmatch(ARGV[1], "[^\n]+") do toks[#toks + 1] = t end
local hits, nkeys, nbytes = {}, 0, 0
local function word(c) return c ~= "" and string.find(c, "^[%w_]$") ~= nil end
local function check(kind, key, s)
        if type(s) ~= "string" then return end
        nbytes = nbytes + #s
        for i, t in ipairs(toks) do
                local from = 1
                while true do
                        local a, b = string.find(s, t, from, true)
                        if not a then break end
                        if not word(string.sub(s, a - 1, a - 1)) and not word(string.sub(s, b + 1, b + 1)) then
                                hits[#hits + 1] = kind .. "\t" .. i .. "\t" .. key
                                break
                        end
                        from = a + 1
                end
        end
end
local function flat(kind, key, v)
        if type(v) == "table" then for _, x in ipairs(v) do flat(kind, key, x) end
        else check(kind, key, v) end
end
local cursor = "0"
repeat
        local r = redis.call("SCAN", cursor, "COUNT", 1000)
        cursor = r[1]
        for _, k in ipairs(r[2]) do
                nkeys = nkeys + 1
                check("key-name", k, k)
                local ty = redis.call("TYPE", k)["ok"]
                if ty == "string" then flat("string", k, redis.call("GET", k))
                elseif ty == "hash" then flat("hash", k, redis.call("HGETALL", k))
                elseif ty == "list" then flat("list", k, redis.call("LRANGE", k, 0, -1))
                elseif ty == "set" then flat("set", k, redis.call("SMEMBERS", k))
                elseif ty == "zset" then flat("zset", k, redis.call("ZRANGE", k, 0, -1))
                elseif ty == "stream" then flat("stream", k, redis.call("XRANGE", k, "-", "+"))
                end
        end
until cursor == "0"
table.insert(hits, 1, "scanned\t" .. nkeys .. "\t" .. nbytes)
return hits
LUA
scan_redis() { # → "kind key fp" per hit; first line "scanned KEYS BYTES"
        local out kind i key t
        out=$(rcli --raw -x EVAL "$(cat "$tmp/scan.lua")" 0 <"$tmp/tokens.txt") || {
                echo "error $out"
                return
        }
        while IFS=$'\t' read -r kind i key; do
                if [ "$kind" = scanned ]; then
                        echo "scanned $i keys, $key bytes of names and values"
                        continue
                fi
                t=$(sed -n "${i}p" "$tmp/tokens.txt")
                echo "$kind ${key//$t/<token $(fp "$t")>} $(fp "$t")"
        done <<<"$out"
}

# ---- the canary: the scan must find a planted token ------------------------------------
canary=$(grep -m1 '^bitwat_' "$tmp/tokens.txt")
canary_key="zz-leak-scan-$$:canary"
mkdir -p "$tmp/canary"
printf 'log line with %s in it\n' "$canary" >"$tmp/canary/planted.log"
rcli HSET "$canary_key" f "x $canary y" >/dev/null
f_hits=$(scan_files "$tmp/canary")
r_hits=$(scan_redis | grep -F "$canary_key")
rcli DEL "$canary_key" >/dev/null
rm -rf "$tmp/canary"
if grep -q "planted.log $(fp "$canary")" <<<"$f_hits" && grep -q "^hash .* $(fp "$canary")$" <<<"$r_hits"; then
        ok leak_scan_canary_found
else
        bad leak_scan_canary_found "planted token not found: files \"$f_hits\" redis \"$r_hits\""
fi

# ---- the real scan -------------------------------------------------------------------------
dirs=()
for d in "$BITMON_BUILD/test-logs" "$BITMON_BUILD/test-artifacts"; do [ -d "$d" ] && dirs+=("$d"); done
nfiles=$(find "${dirs[@]}" -type f -not -path '*/tokens*' 2>/dev/null | wc -l)
kb=$(du -sk --exclude='tokens*' "${dirs[@]}" 2>/dev/null | awk '{s += $1} END {print s + 0}')
hits=$(scan_files "${dirs[@]}")
note "$ntok tokens, $nfiles files ($kb kB) in ${dirs[*]}"
if [ -z "$hits" ]; then
        ok "leak_scan_files ($nfiles files, $ntok tokens)"
else
        bad leak_scan_files "$(wc -l <<<"$hits") hits (file, token fingerprint): $(head -10 <<<"$hits" | tr '\n' ';')"
fi
rh=$(scan_redis)
summary=$(head -1 <<<"$rh")
rhits=$(tail -n +2 <<<"$rh")
note "redis $BITMON_TEST_REDIS: $summary"
case "$summary" in
scanned\ *)
        if [ -z "$rhits" ]; then
                ok "leak_scan_redis (${summary#scanned })"
        else
                bad leak_scan_redis "$(wc -l <<<"$rhits") hits (type, key, fingerprint): $(head -10 <<<"$rhits" | tr '\n' ';')"
        fi
        ;;
*) bad leak_scan_redis "scan failed: $summary" ;;
esac
exit "$failed"
