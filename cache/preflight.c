/* cache/preflight.c — build cache, lease, validity and budget in one script
 * (see preflight.h for the answers). */
#include "cache/preflight.h"

#include <stdio.h>
#include <string.h>

#include "cache/budget_lua.h"
#include "cache/buildcache.h"

/* KEYS: build, lease, budget, tok:<fp>:state [, tok:<fp>:role:<app>]
 * ARGV: owner, lease ms, rate, burst
 * -> {kind, json | wait | 0, state, role}, kind as cache_preflight_kind_t. */
static const char preflight_src[] = LUA_PRELUDE LUA_TAKE
    "local st = redis.call('GET', KEYS[4])\n"
    "local role = false\n"
    "if KEYS[5] then role = redis.call('GET', KEYS[5]) end\n"
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then return {1, v, st, role} end\n"
    "if st == 'invalid' or role == 'insufficient_role' then\n"
    "  return {2, 0, st, role}\n"
    "end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {3, 0, st, role}\n"
    "end\n"
    "local wait = take(KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
    "if wait > 0 then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  return {4, wait, st, role}\n"
    "end\n"
    "return {5, 0, st, role}\n";

const cache_script_t cache_preflight_script = {"build_preflight",
                                               preflight_src};

static int preflight_reply(const redisReply *r, const char *build, buf_t *out,
                           cache_preflight_t *pf, char *errstr,
                           size_t errstr_size) {
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
            r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[0]->integer < CACHE_PREFLIGHT_HIT ||
            r->element[0]->integer > CACHE_PREFLIGHT_GO) {
                snprintf(errstr, errstr_size,
                         "preflight of build %s: odd reply", build);
                return CACHE_E_REPLY;
        }
        const redisReply *v = r->element[1];
        pf->kind            = (cache_preflight_kind_t)r->element[0]->integer;
        pf->verdict = cache_validity_verdict(r->element[2], r->element[3]);
        pf->wait_ms = 0;
        if (pf->kind == CACHE_PREFLIGHT_HIT) {
                if (v->type != REDIS_REPLY_STRING) {
                        snprintf(errstr, errstr_size,
                                 "preflight of build %s: odd reply", build);
                        return CACHE_E_REPLY;
                }
                if (buf_append(out, v->str, v->len)) {
                        snprintf(errstr, errstr_size,
                                 "cached build %s is larger than the buffer",
                                 build);
                        return CACHE_E_ARG;
                }
        } else if (pf->kind == CACHE_PREFLIGHT_WAIT) {
                pf->wait_ms = v->type == REDIS_REPLY_INTEGER ? v->integer : 1;
        }
        return CACHE_OK;
}

int cache_preflight(cache_redis_t *rc, cache_budget_t *b, const cache_fp_t *fp,
                    const char *workspace, const char *app, const char *build,
                    const char *owner, int lease_ms, buf_t *out,
                    cache_preflight_t *pf, char *errstr, size_t errstr_size) {
        char key[512], lkey[512], bkey[128], k_tok[256], k_role[256], ms[16],
            rate_s[32], burst_s[32];
        double rate, burst;
        redisReply *r = NULL;
        int nk;

        int err = cache_build_keys(rc, key, lkey, sizeof(key), app, build,
                                   owner, errstr, errstr_size);
        if (err)
                return err;
        if ((nk = cache_validity_keys(rc, fp, app, k_tok, k_role,
                                      sizeof(k_tok))) < 0 ||
            cache_budget_key(rc, fp, bkey, sizeof(bkey)) < 0) {
                snprintf(errstr, errstr_size, "preflight of build %s: bad key",
                         build);
                return CACHE_E_ARG;
        }
        cache_budget_limits(b, workspace, &rate, &burst);
        cache_budget_meet(b, rc);
        snprintf(ms, sizeof(ms), "%d", lease_ms);
        snprintf(rate_s, sizeof(rate_s), "%.6f", rate);
        snprintf(burst_s, sizeof(burst_s), "%.6f", burst);
        const char *argv[9] = {key, lkey, bkey, k_tok, k_role};
        argv[3 + nk]        = owner;
        argv[4 + nk]        = ms;
        argv[5 + nk]        = rate_s;
        argv[6 + nk]        = burst_s;
        err = cache_redis_eval(rc, &cache_preflight_script, 3 + nk, 7 + nk,
                               argv, NULL, &r, errstr, errstr_size);
        if (err)
                return err;
        err = preflight_reply(r, build, out, pf, errstr, errstr_size);
        freeReplyObject(r);
        if (!err && pf->kind == CACHE_PREFLIGHT_WAIT)
                pf->wait_ms = cache_budget_shared_wait(b, fp, pf->wait_ms);
        else if (!err && pf->kind == CACHE_PREFLIGHT_GO)
                (void)cache_budget_shared_wait(b, fp, 0);
        return err;
}
