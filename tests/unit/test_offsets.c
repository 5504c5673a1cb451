/* Unit tests for consumer/offsets: watermark over out-of-order completions,
 * gaps, revoke, and a randomized run checked against a brute-force model. */
#include "common/rand.h"
#include "consumer/offsets.h"
#include "tests/assert.h"

static void test_offsets_in_order(void) {
        offsets_t *o = offsets_new();
        T_EQ_INT(offsets_committable(o, 0), -1);
        for (int64_t i = 10; i < 15; i++)
                T_EQ_INT(offsets_track(o, 0, i), 0);
        T_EQ_INT(offsets_committable(o, 0), 10);
        T_EQ_INT(offsets_inflight(o, 0), 5);
        for (int64_t i = 10; i < 15; i++) {
                T_EQ_INT(offsets_done(o, 0, i), 0);
                T_EQ_INT(offsets_committable(o, 0), i + 1);
        }
        T_EQ_INT(offsets_inflight_total(o), 0);
        T_EQ_INT(offsets_done(o, 0, 12), -1); /* twice */
        offsets_destroy(o);
}

static void test_offsets_out_of_order_and_gaps(void) {
        offsets_t *o = offsets_new();
        /* 3, 4 and 7 never arrive (compaction, transaction markers) */
        int64_t offs[] = {0, 1, 2, 5, 6, 8};
        for (size_t i = 0; i < 6; i++)
                T_EQ_INT(offsets_track(o, 2, offs[i]), 0);
        T_EQ_INT(offsets_done(o, 2, 5), 0);
        T_EQ_INT(offsets_done(o, 2, 1), 0);
        T_EQ_INT(offsets_committable(o, 2), 0);
        T_EQ_INT(offsets_done(o, 2, 0), 0);
        T_EQ_INT(offsets_committable(o, 2), 2);
        T_EQ_INT(offsets_done(o, 2, 2), 0);
        T_EQ_INT(offsets_committable(o, 2), 6); /* over the gap 3,4 */
        T_EQ_INT(offsets_done(o, 2, 8), 0);
        T_EQ_INT(offsets_committable(o, 2), 6);
        T_EQ_INT(offsets_done(o, 2, 6), 0);
        T_EQ_INT(offsets_committable(o, 2), 9);
        T_EQ_INT(offsets_done(o, 2, 7), -1);  /* never tracked */
        T_EQ_INT(offsets_track(o, 2, 8), -1); /* not above the last */
        T_EQ_INT(offsets_track(o, -1, 8), -1);
        T_EQ_INT(offsets_track(o, OFFSETS_MAX_PARTITION, 8), -1);
        T_EQ_INT(offsets_committable(o, 1), -1); /* untouched partition */
        offsets_destroy(o);
}

static void test_offsets_revoke(void) {
        offsets_t *o = offsets_new();
        for (int64_t i = 0; i < 5; i++) {
                T_EQ_INT(offsets_track(o, 0, i), 0);
                T_EQ_INT(offsets_track(o, 1, 100 + i), 0);
        }
        T_EQ_INT(offsets_done(o, 0, 0), 0);
        offsets_drop(o, 0);
        T_EQ_INT(offsets_committable(o, 0), -1);
        T_EQ_INT(offsets_inflight_total(o), 5);
        T_EQ_INT(offsets_done(o, 0, 1), -1); /* late completion: ignored */
        T_EQ_INT(offsets_committable(o, 1), 100);
        /* reassigned later: starts fresh, from wherever Kafka resumes */
        T_EQ_INT(offsets_track(o, 0, 1), 0);
        T_EQ_INT(offsets_committable(o, 0), 1);
        offsets_drop(o, 7); /* unknown partition: no-op */
        offsets_destroy(o);
}

struct adv {
        int calls;
        int32_t part[4];
        int64_t pos[4];
};

static void on_adv(int32_t part, int64_t pos, void *ctx) {
        struct adv *a = ctx;
        if (a->calls < 4) {
                a->part[a->calls] = part;
                a->pos[a->calls]  = pos;
        }
        a->calls++;
}

static void test_offsets_advanced(void) {
        offsets_t *o = offsets_new();
        struct adv a = {0};
        T_EQ_INT(offsets_track(o, 0, 0), 0);
        T_EQ_INT(offsets_track(o, 3, 50), 0);
        T_EQ_INT(offsets_track(o, 3, 51), 0);
        offsets_foreach_advanced(o, on_adv, &a);
        T_EQ_INT(a.calls, 2); /* first positions are reported */
        a = (struct adv){0};
        offsets_foreach_advanced(o, on_adv, &a);
        T_EQ_INT(a.calls, 0);
        T_EQ_INT(offsets_done(o, 3, 51), 0);
        offsets_foreach_advanced(o, on_adv, &a);
        T_EQ_INT(a.calls, 0); /* 50 still in flight */
        T_EQ_INT(offsets_done(o, 3, 50), 0);
        offsets_foreach_advanced(o, on_adv, &a);
        T_EQ_INT(a.calls, 1);
        T_EQ_INT(a.part[0], 3);
        T_EQ_INT(a.pos[0], 52);
        offsets_destroy(o);
}

/* Random tracking (with gaps) and completion in random order; after every
 * step the position must equal the model's: the lowest in-flight offset,
 * or last tracked + 1. */
static void test_offsets_randomized(void) {
        enum { N = 3000, P = 3 };
        static int64_t offs[P][N];
        static char done[P][N];
        size_t tracked[P] = {0}, ndone = 0;
        int64_t next[P] = {0};
        offsets_t *o    = offsets_new();
        memset(done, 0, sizeof(done));
        while (ndone < (size_t)P * N) {
                int32_t p = (int32_t)(rand_u64() % P);
                if (tracked[p] < N && rand_u64() % 2) {
                        next[p] += 1 + (int64_t)(rand_u64() % 3); /* gaps */
                        offs[p][tracked[p]++] = next[p];
                        T_EQ_INT(offsets_track(o, p, next[p]), 0);
                } else if (tracked[p] > 0) {
                        size_t i = rand_u64() % tracked[p];
                        int rc   = offsets_done(o, p, offs[p][i]);
                        T_EQ_INT(rc, done[p][i] ? -1 : 0);
                        if (!done[p][i]) {
                                done[p][i] = 1;
                                ndone++;
                        }
                } else {
                        continue;
                }
                int64_t want = tracked[p] ? offs[p][tracked[p] - 1] + 1 : -1;
                size_t infl  = 0;
                for (size_t i = 0; i < tracked[p]; i++)
                        if (!done[p][i]) {
                                if (!infl)
                                        want = offs[p][i];
                                infl++;
                        }
                T_EQ_INT(offsets_committable(o, p), want);
                T_EQ_INT(offsets_inflight(o, p), infl);
        }
        T_EQ_INT(offsets_inflight_total(o), 0);
        for (int32_t p = 0; p < P; p++)
                T_EQ_INT(offsets_committable(o, p), next[p] + 1);
        offsets_destroy(o);
}

int main(void) {
        T_RUN(test_offsets_in_order);
        T_RUN(test_offsets_out_of_order_and_gaps);
        T_RUN(test_offsets_revoke);
        T_RUN(test_offsets_advanced);
        T_RUN(test_offsets_randomized);
        return t_done();
}
