/* Unit tests for the simulator's log generator (tests/sim/simlog.c): the
 * bytes of a set of logs are frozen (FNV-1a checksums taken from the
 * snprintf-based generator that the hand-written formatting replaced), any byte
 * range equals the same slice of the whole log, and the layout cache shares
 * equal layouts and keeps evicted ones alive while referenced.
 *
 * The simulator is a program of its own (build/bitrise-sim), not a library:
 * its two pure sources are compiled into this test. */
#include "common/rand.h"
#include "tests/assert.h"

#include "tests/sim/model.c"
#include "tests/sim/simlog.c"

typedef struct log_case {
        int64_t bytes, lines;
        int steps, failing_step, exit_code, abort_cut, final_status;
        const char *failing_title;
        int64_t running_ms, started_ms;
        uint64_t seed;
        /* expected */
        int64_t size, n_lines;
        uint64_t fnv; /* of bytes [size - fnv_tail, size), 0 = all */
        int64_t fnv_tail;
} log_case_t;

/* Sizes, line counts and checksums from the generator before commit 63700ff
 * (tests/sim/simlog.c formatting every body line with snprintf). */
static const log_case_t cases[] = {
    {100000, 0, 8, -1, 0, 0, 1, "", 300000, 0, 7, 99944, 1089,
     0x59be05aaa23f27f0ULL, 0},
    {20000, 0, 5, 3, 65, 0, 2, "xcode-test", 61000, 1780000005000, 42, 19918,
     239, 0xf608f7db604cab12ULL, 0},
    {0, 12345, 9, -1, 0, 1, 3, "", 7000, 0, 0xdeadbeef, 1107752, 11581,
     0x09e9fed722db3379ULL, 0},
    {100, 0, 1, -1, 0, 1, 4, "", 59000, 0, 3, 1166, 23, 0xd02526afe6762aa7ULL,
     0},
    {0, 3, 3, 1, 255, 0, 2, "", 4000000, 0, 11, 4463, 69, 0x6fdd75148dbb2dbcULL,
     0},
    {3000000, 0, 64, 40, 65, 0, 2,
     "a-very-long-step-title-that-goes-on-and-on-and-on-beyond-forty-chars",
     300000, 0, 99, 2999992, 31448, 0x6240757389fa5ed7ULL, 0},
    /* 480 MB: 7-digit line numbers; the last MB only */
    {0, 5000000, 12, -1, 0, 0, 1, "", 8000000, 0, 123456789, 479993672, 5000000,
     0xf1a80e8e27281f65ULL, 1000000},
};

static void case_build(const log_case_t *c, sim_build_t *b, sim_state_t *st) {
        memset(b, 0, sizeof(*b));
        memset(st, 0, sizeof(*st));
        b->log.target_bytes = c->bytes;
        b->log.target_lines = c->lines;
        b->log.steps        = c->steps;
        b->log.failing_step = c->failing_step;
        b->log.exit_code    = c->exit_code;
        b->log.abort_cut    = c->abort_cut;
        b->log.seed         = c->seed;
        snprintf(b->log.failing_title, sizeof(b->log.failing_title), "%s",
                 c->failing_title);
        b->final_status = c->final_status;
        b->running_ms   = c->running_ms;
        b->triggered_ms = 1780000000000;
        b->on_hold_ms   = 2000;
        st->started_ms  = c->started_ms;
}

static uint64_t fnv(uint64_t h, const char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
        return h;
}

/* Bytes [from, end) of the log through reads of `step` bytes at a time (0:
 * 64 KB). */
static uint64_t log_fnv(const sim_loglayout_t *l, int64_t from, size_t step) {
        static char buf[1 << 16];
        uint64_t h  = 0xcbf29ce484222325ULL;
        int64_t off = from, size = sim_loglayout_size(l);
        while (off < size) {
                size_t want = step ? step : sizeof(buf);
                size_t got  = sim_loglayout_read(l, off, buf, want);
                T_ASSERT(got > 0 && got <= want);
                h = fnv(h, buf, got);
                off += (int64_t)got;
        }
        T_EQ_INT(sim_loglayout_read(l, size, buf, 10), 0);
        return h;
}

static void test_sim_log_bytes_frozen(void) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const log_case_t *c = &cases[i];
                sim_build_t b;
                sim_state_t st;
                case_build(c, &b, &st);
                sim_loglayout_t *l = sim_loglayout_new(&b, &st);
                T_ASSERT(l != NULL);
                T_EQ_INT(sim_loglayout_size(l), c->size);
                T_EQ_INT(sim_loglayout_lines(l), c->n_lines);
                int64_t from = c->size - (c->fnv_tail ? c->fnv_tail : c->size);
                uint64_t h   = log_fnv(l, from, 0);
                T_ASSERTF(h == c->fnv, "case %zu: fnv %016" PRIx64, i, h);
                T_ASSERT(log_fnv(l, from, 4093) == h);
                sim_loglayout_release(l);
        }
}

/* Any [off, off+n) equals the slice of one whole read, lines stay LINE_W
 * wide. */
static void test_sim_log_ranges(void) {
        for (size_t i = 0; i < 6; i++) {
                sim_build_t b;
                sim_state_t st;
                case_build(&cases[i], &b, &st);
                sim_loglayout_t *l = sim_loglayout_new(&b, &st);
                int64_t size       = sim_loglayout_size(l);
                char *all = malloc((size_t)size), *part = malloc(5000);
                T_ASSERT(all && part);
                T_EQ_INT(sim_loglayout_read(l, 0, all, (size_t)size + 7), size);
                for (int r = 0; r < 2000; r++) {
                        int64_t off = (int64_t)(rand_u64() % (uint64_t)size);
                        size_t n    = r % 3 ? rand_u64() % 5000 : 1;
                        size_t want =
                            (int64_t)n > size - off ? (size_t)(size - off) : n;
                        T_EQ_INT(sim_loglayout_read(l, off, part, n), want);
                        T_ASSERTF(memcmp(part, all + off, want) == 0,
                                  "case %zu: %zu bytes at %" PRId64, i, n, off);
                }
                T_EQ_INT(all[size - 1], '\n');
                free(part);
                free(all);
                sim_loglayout_release(l);
        }
}

static void test_sim_log_cache(void) {
        sim_logcache_t *c = sim_logcache_new(1);
        sim_build_t b;
        sim_state_t st;
        T_ASSERT(c != NULL);
        case_build(&cases[1], &b, &st);
        sim_loglayout_t *a  = sim_loglayout_get(c, &b, &st);
        sim_loglayout_t *a2 = sim_loglayout_get(c, &b, &st);
        T_ASSERT(a != NULL && a == a2); /* equal inputs: shared */
        sim_build_t f      = b;
        f.final_status     = 1; /* finished otherwise (admin API) */
        f.log.failing_step = -1;
        sim_loglayout_t *o = sim_loglayout_get(c, &f, &st);
        T_ASSERT(o != NULL && o != a); /* evicts a from the one slot */
        T_ASSERT(sim_loglayout_size(o) != sim_loglayout_size(a));
        T_ASSERT(log_fnv(a, 0, 0) == cases[1].fnv); /* still ours */
        sim_loglayout_release(a);
        sim_loglayout_release(a2);
        sim_logcache_destroy(c); /* o outlives the cache */
        T_ASSERT(log_fnv(o, 0, 777) == log_fnv(o, 0, 0));
        sim_loglayout_release(o);
        sim_loglayout_release(NULL);
        sim_logcache_destroy(NULL);
        T_ASSERT(sim_logcache_new(0) == NULL);
        a = sim_loglayout_get(NULL, &b, &st); /* no cache: a fresh one */
        T_ASSERT(a != NULL && log_fnv(a, 0, 0) == cases[1].fnv);
        sim_loglayout_release(a);
}

int main(void) {
        T_RUN(test_sim_log_bytes_frozen);
        T_RUN(test_sim_log_ranges);
        T_RUN(test_sim_log_cache);
        return t_done();
}
