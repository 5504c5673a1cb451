/* Unit tests for cache/budget without Redis: the budget.overrides parser,
 * option validation, and the local limiter (rc NULL) at rate / replicas. */
#include "cache/budget.h"

#include <unistd.h>

#include "common/log.h"
#include "tests/assert.h"

static void test_budget_overrides_parse_table(void) {
        static const struct {
                const char *in;
                int rc;
                size_t n;
        } cases[] = {
            {"", 0, 0},
            {"ws1=2:40", 0, 1},
            {"ws1=2:40,ws2=0.5:10", 0, 2},
            {"a-b.c_d=0.001:1", 0, 1},
            {"ws1", CACHE_E_ARG, 0},
            {"=2:40", CACHE_E_ARG, 0},
            {"ws1=2", CACHE_E_ARG, 0},
            {"ws1=0:10", CACHE_E_ARG, 0},
            {"ws1=-1:10", CACHE_E_ARG, 0},
            {"ws1=2:0", CACHE_E_ARG, 0},
            {"ws1=2:1.5", CACHE_E_ARG, 0},
            {"ws1=2:10x", CACHE_E_ARG, 0},
            {"ws1=nan:10", CACHE_E_ARG, 0},
            {"ws1=inf:10", CACHE_E_ARG, 0},
            {"ws1=2:40,", CACHE_E_ARG, 0},
            {",ws1=2:40", CACHE_E_ARG, 0},
            {"ws1=2:40,,ws2=1:1", CACHE_E_ARG, 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                cache_budget_override_t *ov = NULL;
                size_t n                    = 99;
                char err[256]               = "";
                int rc = cache_budget_overrides_parse(cases[i].in, &ov, &n, err,
                                                      sizeof(err));
                T_ASSERTF(rc == cases[i].rc, "\"%s\": rc %d (%s)", cases[i].in,
                          rc, err);
                if (rc == 0) {
                        T_EQ_INT(n, cases[i].n);
                } else {
                        T_ASSERT(ov == NULL && n == 0);
                        T_ASSERT(strstr(err, "expected WORKSPACE=RATE:BURST"));
                }
                cache_budget_overrides_free(ov, n);
        }
        cache_budget_override_t *ov = NULL;
        size_t n                    = 0;
        char err[256];
        T_EQ_INT(cache_budget_overrides_parse("ws1=2:40,ws2=0.5:10", &ov, &n,
                                              err, sizeof(err)),
                 0);
        T_EQ_STR(ov[1].workspace, "ws2");
        T_ASSERT(ov[1].rate == 0.5 && ov[1].burst == 10);
        cache_budget_opts_t o = {
            .rate = 1, .burst = 5, .overrides = ov, .n_overrides = n};
        cache_budget_t *b = cache_budget_new(&o, err, sizeof(err));
        cache_budget_overrides_free(ov, n); /* the budget keeps its own copy */
        T_ASSERT(b);
        double r, bu;
        cache_budget_limits(b, "ws1", &r, &bu);
        T_ASSERT(r == 2 && bu == 40);
        cache_budget_limits(b, NULL, &r, &bu);
        T_ASSERT(r == 1 && bu == 5);
        cache_budget_destroy(b);
        cache_budget_destroy(NULL);
}

static void test_budget_local_share(void) {
        char err[256];
        cache_budget_opts_t o = {
            .rate = 100, .burst = 12, .expected_replicas = 3};
        cache_budget_t *b = cache_budget_new(&o, err, sizeof(err));
        T_ASSERT(b);
        cache_fp_t fp;
        T_EQ_INT(cache_fp_compute((const unsigned char *)"k", 1, "t", 1, &fp),
                 0);
        /* a local bucket starts empty (what the shared one had left is
         * unknown), fills at 100 / 3 replicas per second up to 12 / 3 */
        int64_t w = cache_budget_take(b, NULL, &fp, "ws");
        T_ASSERTF(w >= 1 && w <= 30, "wait %lld at 33.3/s", (long long)w);
        T_ASSERT(cache_budget_degraded(b));
        usleep(300 * 1000); /* 10 tokens' worth, capped at the burst of 4 */
        for (int i = 0; i < 4; i++)
                T_EQ_INT(cache_budget_take(b, NULL, &fp, "ws"), 0);
        w = cache_budget_take(b, NULL, &fp, "ws");
        T_ASSERTF(w >= 1 && w <= 30, "wait %lld after the burst", (long long)w);
        /* 429 without Redis: a local block, Retry-After honoured */
        T_EQ_INT(cache_budget_on_429(b, NULL, &fp, "3"), 3000);
        T_ASSERT(cache_budget_take(b, NULL, &fp, "ws") > 2900);
        /* Remaining 0 until Reset, locally */
        cache_fp_t fp2;
        T_EQ_INT(cache_fp_compute((const unsigned char *)"k", 1, "u", 1, &fp2),
                 0);
        T_EQ_INT(cache_budget_on_headers(b, NULL, &fp2, "0", "2"), 0);
        w = cache_budget_take(b, NULL, &fp2, "ws");
        T_ASSERTF(w > 1900 && w <= 2000, "local reset wait %lld", (long long)w);
        cache_budget_destroy(b);
}

int main(void) {
        log_setup(LOG_LVL_ERROR, LOG_FMT_AUTO, 2);
        T_RUN(test_budget_overrides_parse_table);
        T_RUN(test_budget_local_share);
        return t_done();
}
