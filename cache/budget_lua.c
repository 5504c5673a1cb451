/* cache/budget_lua.c — the Lua scripts behind cache/budget.h.
 *
 * Each script runs atomically in Redis and reads the clock with TIME, so the
 * pods' own clocks never matter. State: one hash per token fingerprint,
 * KEYS[1] = "<prefix>budget:<fp>", fields (all numbers, times in epoch ms):
 *   t   tokens in the bucket (fractional)   ts  time of the last refill
 *   bu  blocked until (429)                 bo  last 429 backoff (ms)
 *   rr  X-RateLimit-Remaining adopted, less  rt  its Reset time
 *       the requests taken since
 * The hash expires after it has been idle long enough to be full again (or
 * past any block or Reset) plus a minute: idle tokens cost no memory.
 */
#include "cache/budget.h"
#include "cache/budget_lua.h"

/* take(rate, burst) on KEYS[1] -> as take above. */
static const char take_src[] = LUA_PRELUDE LUA_TAKE
    "return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))\n";

/* take_checked(rate, burst, reserve) -> {wait, state, role}: the token's
 * validity facts (KEYS[2] = tok:<fp>:state, optional KEYS[3] =
 * tok:<fp>:role:<app>, see cache/validity.h) read in the same round trip, and a
 * request taken only when they do not refuse the call (wait = -1 when they do).
 */
static const char take_checked_src[] = LUA_PRELUDE LUA_TAKE
    "local st = redis.call('GET', KEYS[2])\n"
    "local role = false\n"
    "if KEYS[3] then role = redis.call('GET', KEYS[3]) end\n"
    "if st == 'invalid' or role == 'insufficient_role' then\n"
    "  return {-1, st, role}\n"
    "end\n"
    "return {take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),\n"
    "             tonumber(ARGV[3])), st, role}\n";

/* block(retry_ms, retry_is_absolute, backoff_min, backoff_max) -> block ms.
 * retry_ms < 0: no Retry-After; the per-token backoff doubles on each 429,
 * but not while a block is still running (many pods see the same 429 wave),
 * and starts over after a quiet period as long as the last backoff. The
 * bucket is emptied and refills from the end of the block. */
static const char block_src[] = LUA_PRELUDE
    "local key = KEYS[1]\n"
    "local ra, abs = tonumber(ARGV[1]), ARGV[2] == '1'\n"
    "local bmin, bmax = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local now = now_ms()\n"
    "local h = redis.call('HMGET', key, 'bu', 'bo')\n"
    "local bu, bo = tonumber(h[1]) or 0, tonumber(h[2]) or 0\n"
    "local untl\n"
    "if ra >= 0 then\n"
    "  if abs then untl = ra else untl = now + ra end\n"
    "  if untl <= now then untl = now + 1000 end\n"
    "else\n"
    "  if bu <= now then\n"
    "    if bo <= 0 or now > bu + bo then bo = bmin\n"
    "    else bo = math.min(bmax, bo * 2) end\n"
    "    untl = now + bo\n"
    "  else untl = bu end\n"
    "end\n"
    "if untl > bu then bu = untl end\n"
    "redis.call('HSET', key, 'bu', bu, 'bo', bo, 't', 0, 'ts', bu)\n"
    "expire(key, bu - now + bo)\n"
    "return bu - now\n";

/* observe(remaining, reset, reset_is_absolute) -> remaining adopted, or -1
 * when Reset is already past. The latest answer wins: with a fixed window
 * Remaining only falls, and with a sliding one (slots free up before Reset)
 * the newest count is the true one; keeping the lowest would starve a token
 * that runs close to its quota. Answers arrive nearly in order, so a stale
 * one costs at most an early wait or one 429. */
static const char observe_src[] =
    LUA_PRELUDE "local key = KEYS[1]\n"
                "local rem, reset = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
                "local now = now_ms()\n"
                "local rt = reset\n"
                "if ARGV[3] ~= '1' then rt = now + reset end\n"
                "if rt <= now then return -1 end\n"
                "redis.call('HSET', key, 'rr', rem, 'rt', rt)\n"
                "expire(key, rt - now)\n"
                "return rem\n";

const cache_script_t cache_budget_script_take = {"budget_take", take_src};
const cache_script_t cache_budget_script_take_checked = {"budget_take_checked",
                                                         take_checked_src};
const cache_script_t cache_budget_script_block   = {"budget_block", block_src};
const cache_script_t cache_budget_script_observe = {"budget_observe",
                                                    observe_src};
