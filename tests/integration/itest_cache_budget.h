/* tests/integration/itest_cache_budget.h — what the budget and preflight
 * integration tests share: a connection with short reconnect backoff, a
 * budget, a fingerprint under a fixed test key, and settle() for writes
 * sent without waiting. Include after itest_cache_redis.h and assert.h. */
#ifndef BITMON_ITEST_CACHE_BUDGET_H
#define BITMON_ITEST_CACHE_BUDGET_H

#include "cache/budget.h"

static inline cache_redis_t *conn(const tredis_t *t, const char *prefix) {
        char err[256];
        cache_redis_opts_t o = tredis_opts(t);
        o.prefix             = prefix;
        o.backoff_min_ms     = 50;
        o.backoff_max_ms     = 200;
        o.command_timeout_ms = 500;
        cache_redis_t *rc    = cache_redis_new(&o, err, sizeof(err));
        if (!rc)
                fprintf(stderr, "  %s\n", err);
        return rc;
}

static inline cache_budget_t *budget(double rate, double burst, int replicas) {
        char err[256];
        cache_budget_opts_t o = {.rate              = rate,
                                 .burst             = burst,
                                 .expected_replicas = replicas,
                                 .backoff_min_ms    = 200,
                                 .backoff_max_ms    = 800};
        cache_budget_t *b     = cache_budget_new(&o, err, sizeof(err));
        if (!b)
                fprintf(stderr, "  %s\n", err);
        return b;
}

static inline cache_fp_t fp_of(const char *token) {
        cache_fp_t fp;
        cache_fp_compute((const unsigned char *)"fp-key", 6, token,
                         strlen(token), &fp);
        return fp;
}

/* A write sent without waiting for its reply (cache_redis_send_argv) has
 * run once a PING on the same connection answered. */
static inline void settle(cache_redis_t *rc) {
        char err[256];
        redisReply *r = NULL;
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "PING"), 0);
        if (r)
                freeReplyObject(r);
}

#endif
