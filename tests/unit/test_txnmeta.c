/* Unit tests for consumer/txnmeta: the done runs above a committed position
 * survive encode → decode, the cap drops runs (never invents one), and
 * foreign or malformed metadata is refused. */
#include <stdlib.h>
#include <string.h>

#include "consumer/txnmeta.h"
#include "tests/assert.h"

static void test_txnmeta_roundtrip(void) {
        offsets_t *o = offsets_new();
        char buf[TXNMETA_MAX + 1];
        txnmeta_range_t *r = NULL;
        size_t n = 0, idx = 0;
        for (int64_t i = 10; i < 20; i++)
                T_EQ_INT(offsets_track(o, 0, i), 0);
        /* done: 11, 12, 15, 17, 18, 19; in flight: 10, 13, 14, 16 */
        int64_t done[] = {11, 12, 15, 17, 18, 19};
        for (size_t i = 0; i < 6; i++)
                T_EQ_INT(offsets_done(o, 0, done[i]), 0);
        T_EQ_INT(offsets_committable(o, 0), 10);
        size_t len = txnmeta_encode(o, 0, NULL, 0, buf, sizeof(buf));
        T_ASSERT(strcmp(buf, "bm1,1.2,2.1,1.3") == 0);
        T_EQ_INT(len, strlen(buf));
        T_EQ_INT(txnmeta_decode(buf, len, 10, &r, &n), 0);
        T_EQ_INT(n, 3);
        for (int64_t off = 10; off < 22; off++) {
                int want = 0;
                for (size_t i = 0; i < 6; i++)
                        want |= done[i] == off;
                T_EQ_INT(txnmeta_contains(r, n, &idx, off), want);
        }
        free(r);
        /* nothing in flight: nothing above the position */
        int64_t rest[] = {10, 13, 14, 16};
        for (size_t i = 0; i < 4; i++)
                T_EQ_INT(offsets_done(o, 0, rest[i]), 0);
        T_EQ_INT(txnmeta_encode(o, 0, NULL, 0, buf, sizeof(buf)), 0);
        T_ASSERT(strcmp(buf, "") == 0);
        offsets_destroy(o);
}

static void test_txnmeta_cap(void) {
        offsets_t *o = offsets_new();
        char buf[TXNMETA_MAX + 1];
        txnmeta_range_t *r = NULL;
        size_t n = 0, idx = 0;
        /* 4000 alternating: even in flight, odd done (2000 runs) */
        for (int64_t i = 0; i < 4000; i++)
                T_EQ_INT(offsets_track(o, 1, i), 0);
        for (int64_t i = 1; i < 4000; i += 2)
                T_EQ_INT(offsets_done(o, 1, i), 0);
        size_t len = txnmeta_encode(o, 1, NULL, 0, buf, sizeof(buf));
        T_ASSERT(len > 0 && len <= TXNMETA_MAX);
        T_EQ_INT(txnmeta_decode(buf, len, 0, &r, &n), 0);
        T_ASSERT(n > 100 && n < 2000);
        for (int64_t off = 0; off < 4000; off++)
                if (txnmeta_contains(r, n, &idx, off))
                        T_ASSERT(off % 2 == 1); /* never an in-flight one */
        free(r);
        offsets_destroy(o);
}

/* A commit made before every skipped offset came again keeps the runs
 * still to come (the bug: a commit right after an assignment dropped
 * them, and the jobs were reported again). */
static void test_txnmeta_carries_later_runs(void) {
        offsets_t *o = offsets_new();
        char buf[TXNMETA_MAX + 1];
        txnmeta_range_t *r = NULL;
        size_t n = 0, idx = 0;
        txnmeta_range_t later[] = {{30, 60}, {70, 75}};
        /* consumed again: 0 (in flight) .. 30 (skipped: done) */
        for (int64_t i = 0; i <= 30; i++)
                T_EQ_INT(offsets_track(o, 0, i), 0);
        for (int64_t i = 1; i <= 30; i++)
                T_EQ_INT(offsets_done(o, 0, i), 0);
        size_t len = txnmeta_encode(o, 0, later, 2, buf, sizeof(buf));
        T_ASSERT(strcmp(buf, "bm1,1.30,0.29,10.5") == 0);
        T_EQ_INT(txnmeta_decode(buf, len, 0, &r, &n), 0);
        for (int64_t off = 0; off < 80; off++)
                T_EQ_INT(txnmeta_contains(r, n, &idx, off),
                         (off >= 1 && off < 60) || (off >= 70 && off < 75));
        free(r);
        offsets_destroy(o);
}

static void test_txnmeta_bad(void) {
        txnmeta_range_t *r = NULL;
        size_t n           = 7;
        const char *bad[]  = {
             "x",        "bm2,1.1",  "bm1,",
             "bm1,1",    "bm1,1.",   "bm1,1.0",
             "bm1,-1.1", "bm1,1.1;", "bm1,99999999999999999999.1"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                T_EQ_INT(txnmeta_decode(bad[i], strlen(bad[i]), 5, &r, &n), -1);
                T_ASSERT(r == NULL && n == 0);
        }
        T_EQ_INT(txnmeta_decode("", 0, 5, &r, &n), 0);
        T_ASSERT(r == NULL && n == 0);
        T_EQ_INT(txnmeta_decode("bm1", 3, 5, &r, &n), 0);
        T_ASSERT(n == 0);
        free(r);
}

int main(void) {
        T_RUN(test_txnmeta_roundtrip);
        T_RUN(test_txnmeta_cap);
        T_RUN(test_txnmeta_carries_later_runs);
        T_RUN(test_txnmeta_bad);
        return t_done();
}
