/* cache/budget_lua.h — Lua pieces shared by the scripts that take from a
 * token's budget (cache/budget_lua.c, cache/preflight.c). Internal to cache/.
 */
#ifndef BITMON_CACHE_BUDGET_LUA_H
#define BITMON_CACHE_BUDGET_LUA_H

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

/* take(key, rate, burst[, reserve]) -> 0 (one request taken) or ms to wait.
 * reserve (default 0): a background request goes only while more than
 * that many requests stay in the bucket for the others.
 * Blocked: wait for the block. Refill by elapsed time, cap at burst (a
 * lowered override takes effect at once). A missing bucket is full, unless
 * Redis lost its state since bitmon first met it: then `budget:epoch` is
 * missing too, is set to now, and every bucket fills from then (a
 * restarted Redis must not hand each token a fresh burst). A process sets
 * the epoch to 0 (NX) at its first contact (cache_budget_meet). An
 * adopted Remaining of 0 waits for its Reset; otherwise a taken request
 * also counts against it. */
#define LUA_TAKE                                                               \
        "local function take(key, rate, burst, reserve)\n"                     \
        "  local now = now_ms()\n"                                             \
        "  local h = redis.call('HMGET', key, 't', 'ts', 'bu', 'rr', 'rt')\n"  \
        "  local t, ts = tonumber(h[1]), tonumber(h[2])\n"                     \
        "  local bu = tonumber(h[3]) or 0\n"                                   \
        "  local rr, rt = tonumber(h[4]), tonumber(h[5])\n"                    \
        "  if bu > now then return bu - now end\n"                             \
        "  if t == nil or ts == nil then\n"                                    \
        "    t = burst; ts = now\n"                                            \
        "    local ek = (string.gsub(key, 'budget:[%w]*$', 'budget:epoch'))\n" \
        "    local e = tonumber(redis.call('GET', ek))\n"                      \
        "    if e == nil then e = now; redis.call('SET', ek, now) end\n"       \
        "    local f = (now - e) * rate / 1000\n"                              \
        "    if f < t then t = f end\n"                                        \
        "  end\n"                                                              \
        "  if now > ts then t = t + (now - ts) * rate / 1000; ts = now end\n"  \
        "  if t > burst then t = burst end\n"                                  \
        "  local rl = rr ~= nil and rt ~= nil and rt > now\n"                  \
        "  if rr ~= nil and not rl then redis.call('HDEL', key, 'rr', 'rt') "  \
        "end\n"                                                                \
        "  if rl and rr < 1 then return rt - now end\n"                        \
        "  local wait = 0\n"                                                   \
        "  local need = 1 + (reserve or 0)\n"                                  \
        "  if t >= need then\n"                                                \
        "    t = t - 1\n"                                                      \
        "    if rl then redis.call('HSET', key, 'rr', rr - 1) end\n"           \
        "  else\n"                                                             \
        "    wait = math.ceil((need - t) * 1000 / rate)\n"                     \
        "    if wait < 1 then wait = 1 end\n"                                  \
        "  end\n"                                                              \
        "  redis.call('HSET', key, 't', t, 'ts', ts)\n"                        \
        "  expire(key, burst * 1000 / rate)\n"                                 \
        "  return wait\n"                                                      \
        "end\n"

#endif
