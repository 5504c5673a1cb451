/* tests/unit/test_logparse_diff.c — the parser against a frozen copy of the
 * parser it replaced (tests/unit/logparse_ref/): the same results, to the
 * byte, for the real logs, the simulator's logs of every scenario, the fuzz
 * corpus, generated hostile inputs and mutated real logs, under several
 * option sets and chunk splits (whole, 1, 7, 4 KiB, 16 KiB, random).
 * LOGPARSE_DIFF_SEED=N changes the random inputs (the seed is printed on
 * failure); LOGPARSE_DIFF_ROUNDS=N runs more of them.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/assert.h"
#include "tests/support/fixtures.h"
#include "tests/unit/logparse_ref/logparse_diff.h"

/* The simulator's log generator (not in libbitmon). */
#include "tests/sim/simlog.c"

static uint64_t seed = 0x6c6f677061727365ULL;

static uint64_t rnd(void) { /* xorshift64*: reproducible from the seed */
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        return seed * 0x2545f4914f6cdd1dULL;
}

static size_t rnd_below(size_t n) {
        return n ? (size_t)(rnd() % n) : 0;
}

/* ---- option sets and splits ----------------------------------------- */

static logparse_opts_t opts_pick(int k, size_t len) {
        logparse_opts_t o = {0};
        switch (k) {
        case 1:
                o.max_line_bytes = 40;
                o.tail_lines     = 7;
                break;
        case 2:
                o.max_line_bytes   = 1;
                o.tail_lines       = 1;
                o.step_lines       = 1;
                o.max_failed_steps = 1;
                break;
        case 3:
                o.max_bytes = len > 2 ? len / 2 : 1;
                break;
        case 4:
                o.max_bytes  = 1000;
                o.tail_lines = 10000;
                o.step_lines = 1000;
                break;
        default:
                break;
        }
        return o;
}
#define OPTS_N 5

/* Runs data with option set k under every split; fails the test on the
 * first difference. */
static void diff_all_splits(const char *what, const char *data, size_t len,
                            int k) {
        static const size_t fixed[] = {0, 1, 7, 4096, 16384};
        logparse_opts_t o           = opts_pick(k, len);
        char msg[512];
        for (size_t s = 0; s <= sizeof(fixed) / sizeof(fixed[0]); s++) {
                size_t rand_chunks[16], n = 1;
                const size_t *chunks = &fixed[s];
                if (s == sizeof(fixed) / sizeof(fixed[0])) {
                        for (n = 0; n < 16; n++)
                                rand_chunks[n] =
                                    1 + rnd_below(rnd() % 2 ? 64 : 20000);
                        chunks = rand_chunks;
                } else if (fixed[s] == 0) {
                        n = 0;
                }
                int rc = lpdiff_run(data, len, &o, chunks, n, msg, sizeof(msg));
                T_ASSERTF(rc == 0, "%.200s, options %d, chunks %zu%s: %.250s",
                          what, k, n ? chunks[0] : len,
                          n > 1 ? " (random)" : "",
                          rc < 0 ? "cannot create parsers" : msg);
        }
}

/* ---- inputs ---------------------------------------------------------- */

typedef void (*file_fn)(const char *name, const char *data, size_t len);

/* Calls fn on every regular file in dir; returns how many. */
static int dir_each(const char *dir, file_fn fn) {
        DIR *d = opendir(dir);
        T_ASSERTF(d != NULL, "cannot open %.400s", dir);
        int count = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                        continue;
                char path[1024];
                size_t len = 0;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                char *data = fixture_read_path(path, &len);
                if (!data)
                        continue;
                fn(e->d_name, data, len);
                free(data);
                count++;
        }
        closedir(d);
        return count;
}

static void real_one(const char *name, const char *data, size_t len) {
        for (int k = 0; k < OPTS_N; k++)
                diff_all_splits(name, data, len, k);
}

static void test_logparse_diff_real_logs(void) {
        const char *shared = getenv("BITMON_SHARED");
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/bitrise-api/real",
                 shared && *shared ? shared : "../shared");
        T_ASSERT(dir_each(dir, real_one) >= 20);
}

static void test_logparse_diff_fuzz_corpus(void) {
        const char *build = getenv("BITMON_BUILD");
        char dir[512];
        snprintf(dir, sizeof(dir), "%s%stests/fuzz/corpus/logparse",
                 build ? build : ".", build ? "/../" : "/");
        T_ASSERT(dir_each(dir, real_one) >= 15);
}

/* A simulator log: i picks the scenario (success, failed at some step,
 * aborted mid-step, odd titles), bytes its size. */
static char *sim_log(int i, int64_t bytes, size_t *len) {
        static const char *const titles[] = {
            "", "Xcode Test for iOS", "script (exit code: 3)",
            "[Deprecated] deploy \xe2\x9c\x93 \xf0\x9f\x9a\x80", "a|b"};
        sim_build_t b      = {0};
        sim_state_t st     = {.status = 1};
        b.triggered_ms     = 1780000000000 + i * 600000LL;
        b.running_ms       = 1000 + i * 95000LL;
        b.final_status     = 1 + i % 4;
        b.log.target_bytes = bytes;
        b.log.steps        = 1 + i % SIM_MAX_STEPS;
        b.log.seed         = 1000 + (uint64_t)i;
        b.log.failing_step = b.final_status == 2
                                 ? (int)((unsigned)i % (unsigned)b.log.steps)
                                 : -1;
        b.log.exit_code    = 1 + i % 255;
        snprintf(b.log.failing_title, sizeof(b.log.failing_title), "%s",
                 titles[i % 5]);
        b.log.abort_cut    = b.final_status >= 3;
        st.started_ms      = b.triggered_ms;
        sim_loglayout_t *l = sim_loglayout_new(&b, &st);
        if (!l)
                return NULL;
        *len    = (size_t)sim_loglayout_size(l);
        char *p = malloc(*len + 1);
        if (p)
                sim_loglayout_read(l, 0, p, *len);
        sim_loglayout_release(l);
        return p;
}

static void test_logparse_diff_sim_logs(void) {
        static const int64_t sizes[] = {500, 20000, 100000, 300000};
        for (int i = 0; i < 24; i++) {
                size_t len = 0;
                char *log  = sim_log(i, sizes[i % 4], &len);
                T_ASSERT(log != NULL);
                char what[64];
                snprintf(what, sizeof(what), "sim log %d (%zu bytes)", i, len);
                diff_all_splits(what, log, len, i % OPTS_N);
                if (i % OPTS_N)
                        diff_all_splits(what, log, len, 0);
                free(log);
        }
}

/* Pieces of the layouts the parser reads and of what breaks them. */
static const char *const pieces[] = {
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "\x1b[32;1m",
    "\x1b[0m",
    "\x1b",
    "\x1b[",
    "\x1b]0;title\x07",
    "\x1b]x\x1b\\",
    "\x1bP",
    "\x1b(B",
    "\x1b"
    "7",
    "[32m",
    "[0;1m",
    "[",
    "[1",
    "[12:00:00]",
    "m",
    ";",
    "\t",
    " ",
    "        ",
    "\xe2\x96\xb8",
    "\xe2\x9c\x93",
    "\xe2\x9c\x85",
    "\xf0\x9f\x9a\xab",
    "\xe2\x9a\xa0\xef\xb8\x8f",
    "\xe2\x9e\xa1",
    "\xc3",
    "\x80",
    "\xff",
    "\x7f",
    "\x01",
    "|",
    "+",
    "-",
    "+---+---+---+\n",
    "+------+\n",
    "+---+-----------------+----------+\n",
    "+----------------------------------+\n",
    "| (1) script |\n",
    "| (2) xcode-test |\n",
    "| (0) git-clone \xe2\x9c\x93 |\n",
    "| id: script |\n",
    "| id:  |\n",
    "|  |\n",
    "| version: 1.2 |\n",
    "| x | script (exit code: 2) | 12.3 sec |\n",
    "| \xe2\x9c\x93 | git-clone | 5 sec |\n",
    "| / | slow (timed out) | 1 h |\n",
    "| ! | foo (Failed) | 1.2 min |\n",
    "| - | bar (Skipped) | 0 sec |\n",
    "| \xf0\x9f\x9a\xab | xcode-test | 20 ms |\n",
    "|   | title | time (s) |\n",
    "| bitrise summary |\n",
    "|      bitrise summary: primary |\n",
    "| Total runtime: 5 min |\n",
    "| Update available |\n",
    "exit code: 5\n",
    "failed: exit code: 12",
    "exit code: ",
    "exit code: 1234567",
    "exit code: 123456\n",
    "exit code: 12345\n",
    "failed: exit code: 123456\n",
    "step failed: exit code: 7\n",
    "failed: exit code: 0",
    "| x | script | 1 sec |\n",
    "| x | xcode-test | 2.5 min |\n",
    "Bitrise build failed\n",
    "Bitrise build successful\n",
    "Bitrise build ",
    "[Deprecated] ",
    "(exit code: 3)",
    "Run: exit status 1",
    "INFO",
    "word",
    "0",
    "42",
    "12.5 sec",
    "abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOP"};
#define PIECES_N (sizeof(pieces) / sizeof(pieces[0]))

static void soup(buf_t *b, size_t npieces) {
        for (size_t i = 0; i < npieces; i++) {
                if (rnd() % 8 == 0) {
                        char c = (char)rnd();
                        buf_append(b, &c, 1);
                } else {
                        buf_append_str(b, pieces[rnd_below(PIECES_N)]);
                }
        }
}

static size_t rounds(size_t def) {
        const char *s = getenv("LOGPARSE_DIFF_ROUNDS");
        char *end     = NULL;
        long long v   = s ? strtoll(s, &end, 10) : 0;
        return s && end && *end == '\0' && v > 0 ? (size_t)v : def;
}

/* Line-shaped logs: step boxes, output, footers and summaries with parts
 * left out, repeated or disturbed, so that structure meets structure. */
static const char *const blocks[][2] = {
    {"+------------------+\n", "+---+-----+------+\n"},
    {"| (%d) step-%d |\n", "|      bitrise summary |\n"},
    {"| id: step-%d |\n", "|   | title | time (s) |\n"},
    {"| version: 1.%d |\n", "| Total runtime: %d min |\n"},
    {"|   |\n", "Bitrise build failed (exit code: %d)\n"},
    {"output line %d \x1b[32mok\x1b[0m   \n", "exit code: %d\n"},
    {"\x1b[31;1mstep failed: exit code: %d\x1b[0m\n",
     "x failed: exit code: 12345%d\n"},
    {"| x | step-%d | 1.5 sec |\n", "| x | step-%d (exit code: 4) | 2 min |\n"},
    {"| \xe2\x9c\x93 | step-%d | 3 sec |\n", "| ! | step-%d | 0.25 sec |\n"},
    {"| - | step-%d (Skipped) | 0 sec |\n",
     "| / | step-%d (timed out) | 1 h |\n"},
    {"| Update available %d |\n", "Bitrise build successful %d\n"},
};
#define BLOCKS_N (sizeof(blocks) / sizeof(blocks[0]))

static void lines(buf_t *b, size_t nlines) {
        for (size_t i = 0; i < nlines; i++) {
                size_t k;
                switch (rnd() % 6) { /* mostly the usual order */
                case 0:
                        k = rnd_below(BLOCKS_N);
                        break;
                default:
                        k = i % BLOCKS_N;
                        break;
                }
                int v = (int)rnd_below(rnd() % 2 ? 4 : 1000);
                buf_printf(b, blocks[k][rnd() % 3 == 0], v, v);
                if (rnd() % 12 == 0)
                        soup(b, 1);
                if (rnd() % 10 == 0) /* a rule after any line */
                        buf_append_str(b, blocks[0][rnd() % 2]);
        }
}

static void test_logparse_diff_generated_lines(void) {
        uint64_t start = seed;
        size_t n       = rounds(2000);
        for (size_t r = 0; r < n; r++) {
                buf_t b;
                buf_init(&b, 0);
                lines(&b, 1 + rnd_below(rnd() % 4 ? 60 : 600));
                char what[96];
                snprintf(what, sizeof(what),
                         "generated lines %zu (seed %llu, %zu bytes)", r,
                         (unsigned long long)start, b.len);
                diff_all_splits(what, b.data ? b.data : "", b.len,
                                (int)rnd_below(OPTS_N));
                buf_release(&b);
        }
}

static void test_logparse_diff_generated(void) {
        uint64_t start = seed;
        size_t n       = rounds(3000);
        for (size_t r = 0; r < n; r++) {
                buf_t b;
                buf_init(&b, 0);
                soup(&b, 1 + rnd_below(rnd() % 4 ? 200 : 3000));
                char what[96];
                snprintf(what, sizeof(what),
                         "generated input %zu (seed %llu, %zu bytes)", r,
                         (unsigned long long)start, b.len);
                diff_all_splits(what, b.data ? b.data : "", b.len,
                                (int)rnd_below(OPTS_N));
                buf_release(&b);
        }
}

/* Real logs with pieces spliced in at random places. */
static void mutate_one(const char *name, const char *data, size_t len) {
        for (int m = 0; m < 3; m++) {
                buf_t b;
                buf_init(&b, 0);
                size_t off = 0;
                while (off < len) {
                        size_t step = 1 + rnd_below(len / 20 + 1);
                        if (step > len - off)
                                step = len - off;
                        buf_append(&b, data + off, step);
                        off += step;
                        soup(&b, 1 + rnd_below(4));
                }
                char what[160];
                snprintf(what, sizeof(what), "%.100s mutated %d", name, m);
                diff_all_splits(what, b.data ? b.data : "", b.len,
                                (int)rnd_below(OPTS_N));
                buf_release(&b);
        }
}

static void test_logparse_diff_mutated_logs(void) {
        const char *shared = getenv("BITMON_SHARED");
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/bitrise-api/real",
                 shared && *shared ? shared : "../shared");
        T_ASSERT(dir_each(dir, mutate_one) >= 20);
}

/* The check itself must see a difference: a different option set or a
 * different input has to show up. */
static void test_logparse_diff_detects(void) {
        static const char log[] =
            "+------+\n| (1) script |\n+------+\n| id: s |\nboom\n"
            "+---+---+---+\n| x | script (exit code: 2) | 3 sec |\n";
        logparse_opts_t o = {.tail_lines = 2};
        logparse_t *a     = logparse_new(&o);
        ref_logparse_t *b = ref_logparse_new(NULL);
        T_ASSERT(a && b);
        logparse_feed(a, log, sizeof(log) - 1);
        ref_logparse_feed(b, log, sizeof(log) - 1);
        logparse_finish(a);
        ref_logparse_finish(b);
        char msg[512];
        T_EQ_INT(lpdiff_results(a, b, msg, sizeof(msg)), 1);
        T_ASSERT(strstr(msg, "tail") != NULL);
        logparse_destroy(a);
        ref_logparse_destroy(b);
        T_EQ_INT(
            lpdiff_run(log, sizeof(log) - 1, NULL, NULL, 0, msg, sizeof(msg)),
            0);
}

int main(void) {
        const char *s = getenv("LOGPARSE_DIFF_SEED");
        if (s && *s)
                seed = strtoull(s, NULL, 10) | 1;
        T_RUN(test_logparse_diff_detects);
        T_RUN(test_logparse_diff_real_logs);
        T_RUN(test_logparse_diff_fuzz_corpus);
        T_RUN(test_logparse_diff_sim_logs);
        T_RUN(test_logparse_diff_generated);
        T_RUN(test_logparse_diff_generated_lines);
        T_RUN(test_logparse_diff_mutated_logs);
        return t_done();
}
