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

/* Shared prelude: the Redis clock in ms, and the idle expiry. Redis 7
 * replicates effects by default; older servers need replicate_commands()
 * before a write that follows TIME. */
#define LUA_PRELUDE                                                            \
        "if redis.replicate_commands then redis.replicate_commands() end\n"    \
        "local function now_ms()\n"                                            \
        "  local t = redis.call('TIME')\n"                                     \
        "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
        "end\n"                                                                \
        "local function expire(key, ms)\n"                                     \
        "  local cur = redis.call('PTTL', key)\n"                              \
        "  ms = math.ceil(ms) + 60000\n"                                       \
        "  if cur < ms then redis.call('PEXPIRE', key, ms) end\n"              \
        "end\n"

/* take(key, rate, burst) -> 0 (one request taken) or ms to wait.
 * Blocked: wait for the block. Refill by elapsed time, cap at burst (a
 * lowered override takes effect at once). An adopted Remaining of 0 waits
 * for its Reset; otherwise a taken request also counts against it. */
#define LUA_TAKE                                                               \
        "local function take(key, rate, burst)\n"                              \
        "  local now = now_ms()\n"                                             \
        "  local h = redis.call('HMGET', key, 't', 'ts', 'bu', 'rr', 'rt')\n"  \
        "  local t, ts = tonumber(h[1]), tonumber(h[2])\n"                     \
        "  local bu = tonumber(h[3]) or 0\n"                                   \
        "  local rr, rt = tonumber(h[4]), tonumber(h[5])\n"                    \
        "  if bu > now then return bu - now end\n"                             \
        "  if t == nil or ts == nil then t = burst; ts = now end\n"            \
        "  if now > ts then t = t + (now - ts) * rate / 1000; ts = now end\n"  \
        "  if t > burst then t = burst end\n"                                  \
        "  local rl = rr ~= nil and rt ~= nil and rt > now\n"                  \
        "  if rr ~= nil and not rl then redis.call('HDEL', key, 'rr', 'rt') "  \
        "end\n"                                                                \
        "  if rl and rr < 1 then return rt - now end\n"                        \
        "  local wait = 0\n"                                                   \
        "  if t >= 1 then\n"                                                   \
        "    t = t - 1\n"                                                      \
        "    if rl then redis.call('HSET', key, 'rr', rr - 1) end\n"           \
        "  else\n"                                                             \
        "    wait = math.ceil((1 - t) * 1000 / rate)\n"                        \
        "    if wait < 1 then wait = 1 end\n"                                  \
        "  end\n"                                                              \
        "  redis.call('HSET', key, 't', t, 'ts', ts)\n"                        \
        "  expire(key, burst * 1000 / rate)\n"                                 \
        "  return wait\n"                                                      \
        "end\n"

/* take(rate, burst) on KEYS[1] -> as take above. */
static const char take_src[] = LUA_PRELUDE LUA_TAKE
    "return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))\n";

/* take_checked(rate, burst) -> {wait, state, role}: the token's validity
 * facts (KEYS[2] = tok:<fp>:state, optional KEYS[3] = tok:<fp>:role:<app>,
 * see cache/validity.h) read in the same round trip, and a request taken
 * only when they do not refuse the call (wait = -1 when they do). */
static const char take_checked_src[] = LUA_PRELUDE LUA_TAKE
    "local st = redis.call('GET', KEYS[2])\n"
    "local role = false\n"
    "if KEYS[3] then role = redis.call('GET', KEYS[3]) end\n"
    "if st == 'invalid' or role == 'insufficient_role' then\n"
    "  return {-1, st, role}\n"
    "end\n"
    "return {take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])), st, role}\n";

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
