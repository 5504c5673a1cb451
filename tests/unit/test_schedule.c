/* Unit tests for workers/schedule: the expectation from durations, and the
 * interval before the next look in each part of a build's life. */
#include "tests/assert.h"
#include "workers/schedule.h"

static watch_opts_t opts(void) {
        watch_opts_t o = {.adaptive = 1, .min_ms = 2000};
        watch_opts_defaults(&o); /* running 15 s, on hold 30 s, target 10 s,
                                  * max 120 s, safety 300 s */
        return o;
}

static void test_sched_hist(void) {
        sched_hist_t h;
        int64_t d[] = {600000, 610000, 590000, 605000, 595000, 0, -5};
        sched_hist_from(&h, d, 7);
        T_EQ_INT(h.n, 5); /* zero and negative durations are ignored */
        T_ASSERT(h.median_ms == 600000);
        T_ASSERT(h.spread_ms == 30000); /* 5 % of the median beats +-10 s */
        int64_t wide[] = {100000, 200000, 300000, 400000, 500000};
        sched_hist_from(&h, wide, 5);
        T_ASSERT(h.median_ms == 300000 && h.spread_ms == 200000);
        int64_t tiny[] = {1000, 1000, 1000};
        sched_hist_from(&h, tiny, 3);
        T_ASSERT(h.spread_ms == 2000); /* never under 2 s */
        sched_hist_from(&h, NULL, 0);
        T_EQ_INT(h.n, 0);
}

static void test_sched_interval(void) {
        watch_opts_t o  = opts();
        sched_hist_t h  = {.n = 5, .median_ms = 600000, .spread_ms = 30000};
        int64_t start   = 1000000000000;
        sched_build_t b = {.started_ms = start, .hist = &h};
        /* Far from the end: look when the window opens, at most the
         * ceiling away. */
        T_ASSERT(sched_interval_ms(&o, &b, start + 10000, 1) == 120000);
        T_ASSERT(sched_interval_ms(&o, &b, start + 500000, 1) == 70000);
        /* The simulator's clock runs 20x: the same wait is 20x shorter. */
        T_ASSERT(sched_interval_ms(&o, &b, start + 500000, 20) == 10000);
        /* In the window: the detection target. */
        T_ASSERT(sched_interval_ms(&o, &b, start + 590000, 1) == 10000);
        T_ASSERT(sched_interval_ms(&o, &b, start + 630000, 1) == 10000);
        /* Overdue, on hold, no history, too little history, not adaptive:
         * the plain intervals. */
        T_ASSERT(sched_interval_ms(&o, &b, start + 640000, 1) == 15000);
        b.on_hold = 1;
        T_ASSERT(sched_interval_ms(&o, &b, start + 10000, 1) == 30000);
        b.on_hold       = 0;
        sched_hist_t h2 = {.n = 2, .median_ms = 600000, .spread_ms = 30000};
        b.hist          = &h2;
        T_ASSERT(sched_interval_ms(&o, &b, start + 10000, 1) == 15000);
        b.hist = &h;
        T_ASSERT(sched_interval_ms(&o, &b, 0, 1) == 15000); /* clock unknown */
        o.adaptive = 0;
        T_ASSERT(sched_interval_ms(&o, &b, start + 10000, 1) == 15000);
        o.adaptive = 1;
        /* Webhooks: the safety interval, whatever the state. */
        b.webhooks = 1;
        T_ASSERT(sched_interval_ms(&o, &b, start + 590000, 1) == 300000);
        b.webhooks = 0;
        /* The floor. */
        o.target_ms = 500;
        T_ASSERT(sched_interval_ms(&o, &b, start + 600000, 1) == 2000);
}

static void test_sched_urgent(void) {
        watch_opts_t o  = opts();
        sched_hist_t h  = {.n = 5, .median_ms = 600000, .spread_ms = 30000};
        int64_t start   = 1000000000000;
        sched_build_t b = {.started_ms = start, .hist = &h};
        T_EQ_INT(sched_urgent(&o, &b, start + 10000), 0);
        T_EQ_INT(sched_urgent(&o, &b, start + 565000), 1); /* a target early */
        T_EQ_INT(sched_urgent(&o, &b, start + 700000), 1); /* overdue */
        b.hist = NULL;
        T_EQ_INT(sched_urgent(&o, &b, start + 10000), 1); /* unknown */
}

/* Lags uniform in [1, 5] s, each build's first /log asked when the
 * estimate says: the estimate settles near the 90th percentile (4.6 s),
 * so about nine first asks in ten find the log archived. */
static void test_sched_lag(void) {
        sched_lag_t l = {0};
        int64_t fin   = 1000000000000;
        T_ASSERT(sched_lag_wait_ms(&l, fin, fin, 1) == 0); /* nothing learnt */
        unsigned seed = 7;
        int archived = 0, n = 0;
        for (int i = 0; i < 4000; i++) {
                seed      = seed * 1103515245u + 12345u;
                int lag   = 1000 + (int)((seed >> 8) % 4001);
                int64_t e = (int64_t)l.est_ms;
                sched_lag_learn(&l, e, e >= lag);
                if (i >= 2000) {
                        archived += e >= lag;
                        n++;
                }
        }
        T_ASSERTF(l.est_ms > 4200 && l.est_ms < 5000, "est %.0f", l.est_ms);
        T_ASSERTF(archived * 100 > n * 82 && archived * 100 < n * 97,
                  "%d of %d archived", archived, n);
        /* The wait is what is left of it, in local ms. */
        sched_lag_t four = {.est_ms = 4000};
        T_ASSERT(sched_lag_wait_ms(&four, fin, fin + 1000, 1) == 3000);
        T_ASSERT(sched_lag_wait_ms(&four, fin, fin + 1000, 40) == 75);
        T_ASSERT(sched_lag_wait_ms(&four, fin, fin + 9000, 1) == 0);
        T_ASSERT(sched_lag_wait_ms(&four, fin, fin + 1000, 0) == 0);
        /* Archived when asked long after the estimate, or not archived
         * when asked long before it, teaches nothing; not archived long
         * after it says the lag is longer. */
        sched_lag_learn(&four, 60000, 1);
        sched_lag_learn(&four, 100, 0);
        T_ASSERT(four.est_ms == 4000);
        sched_lag_learn(&four, 60000, 0);
        T_ASSERT(four.est_ms > 4000);
        for (int i = 0; i < 100000; i++)
                sched_lag_learn(&four, (int64_t)four.est_ms, 0);
        T_ASSERT(four.est_ms == SCHED_LAG_MAX_MS);
}

int main(void) {
        T_RUN(test_sched_hist);
        T_RUN(test_sched_interval);
        T_RUN(test_sched_urgent);
        T_RUN(test_sched_lag);
        return t_done();
}
