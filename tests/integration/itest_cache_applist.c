/* Integration tests for cache/applist on a real Redis: one list call per
 * app between callers whose `after` differ (two worker loops, or pods,
 * each watching some of the app's builds). The oldest `after` asked for
 * is kept for need_ttl_ms and lowers every caller's, so whoever calls
 * covers the others, and their next preflight takes its answer instead of
 * calling again. */
#include "cache/applist.h"
#include "common/log.h"
#include "tests/assert.h"
#include "tests/integration/itest_cache_redis.h"

#include "tests/integration/itest_cache_budget.h" /* after the above */

static tredis_t srv;

typedef struct pre {
        int rc, lease;
        int64_t after, age;
        buf_t json;
} pre_t;

/* One preflight of app for build by owner, asking for `after`. */
static void pre(cache_redis_t *rc, const char *owner, int64_t after,
                const char *build, int need_ttl_ms, pre_t *p) {
        char err[256];
        const char *builds[] = {build};
        buf_reset(&p->json);
        p->after = after;
        p->lease = -1;
        p->rc = cache_applist_preflight(rc, "app", &p->after, builds, 1, owner,
                                        5000, 60000, need_ttl_ms, &p->json,
                                        &p->age, &p->lease, err, sizeof(err));
        if (p->rc < 0)
                fprintf(stderr, "  preflight: %s\n", err);
}

/* The caller's list call came back: its build shared, the app marked
 * listed with `after`, the lease released. */
static void store(cache_redis_t *rc, const char *owner, int64_t after,
                  const char *build) {
        char err[256];
        const char *builds[] = {build}, *jsons[] = {"{\"s\":0}"};
        size_t lens[] = {7};
        T_EQ_INT(cache_applist_store_send(rc, "app", after, builds, jsons, lens,
                                          1, 60000, 1, 1, owner, err,
                                          sizeof(err)),
                 0);
        settle(rc);
}

static void release(cache_redis_t *rc, const char *owner) {
        char err[256];
        T_EQ_INT(cache_applist_store_send(rc, "app", 0, NULL, NULL, NULL, 0, 1,
                                          0, 1, owner, err, sizeof(err)),
                 0);
        settle(rc);
}

static void test_applist_oldest_after_covers_all(void) {
        char prefix[64];
        t_prefix(prefix, sizeof(prefix), "al");
        cache_redis_t *a = conn(&srv, prefix), *b = conn(&srv, prefix);
        pre_t p = {0};
        T_ASSERT(a && b);
        buf_init(&p.json, 4096);

        /* A follows an old build (after 100): nothing listed yet, its call */
        pre(a, "wa", 100, "old", 60000, &p);
        T_EQ_INT(p.rc, 0);
        T_EQ_INT(p.lease, 1);
        T_EQ_INT((int)p.after, 100);
        release(a, "wa"); /* say its call failed: nothing marked */

        /* B follows a newer one (after 200): its call must reach back to
         * A's builds, so it is told to list from 100 */
        pre(b, "wb", 200, "new", 60000, &p);
        T_EQ_INT(p.rc, 0);
        T_EQ_INT(p.lease, 1);
        T_EQ_INT((int)p.after, 100);
        store(b, "wb", p.after, "new");

        /* A's next look takes B's answer instead of calling again */
        pre(a, "wa", 100, "old", 60000, &p);
        T_EQ_INT(p.rc, 1);
        /* and so does B's */
        pre(b, "wb", 200, "new", 60000, &p);
        T_EQ_INT(p.rc, 1);
        T_ASSERT(p.json.len == 7 && memcmp(p.json.data, "{\"s\":0}", 7) == 0);

        buf_release(&p.json);
        cache_redis_destroy(a);
        cache_redis_destroy(b);
}

static void test_applist_need_lowers_and_expires(void) {
        char prefix[64];
        t_prefix(prefix, sizeof(prefix), "al2");
        cache_redis_t *a = conn(&srv, prefix);
        pre_t p          = {0};
        T_ASSERT(a);
        buf_init(&p.json, 4096);

        pre(a, "wa", 300, "x", 200, &p); /* needs 300 for 200 ms */
        T_EQ_INT((int)p.after, 300);
        release(a, "wa");
        pre(a, "wb", 250, "y", 200, &p); /* an older need replaces it */
        T_EQ_INT((int)p.after, 250);
        release(a, "wb");
        pre(a, "wa", 300, "x", 200, &p);
        T_EQ_INT((int)p.after, 250);
        release(a, "wa");
        /* 0 (a build whose trigger is not known: list from the start)
         * is the oldest of all */
        pre(a, "wc", 0, "z", 200, &p);
        T_EQ_INT((int)p.after, 0);
        release(a, "wc");
        pre(a, "wa", 300, "x", 200, &p);
        T_EQ_INT((int)p.after, 0);
        release(a, "wa");
        /* nobody asked for 0 again within 200 ms: each caller its own */
        t_sleep_ms(400);
        pre(a, "wa", 300, "x", 200, &p);
        T_EQ_INT((int)p.after, 300);

        buf_release(&p.json);
        cache_redis_destroy(a);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN); /* as main does (hiredis uses write) */
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        if (tredis_start(&srv, false) != 0) {
                printf("FAIL cannot start redis-server\n");
                return 1;
        }
        T_RUN(test_applist_oldest_after_covers_all);
        T_RUN(test_applist_need_lowers_and_expires);
        tredis_stop(&srv);
        return t_done();
}
