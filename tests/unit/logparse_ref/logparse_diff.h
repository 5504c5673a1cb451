/* tests/unit/logparse_ref/logparse_diff.h — runs one input through the
 * parser (bitrise/logparse) and the frozen reference copy (logparse_ref.c)
 * with the same options and the same chunk boundaries, and describes the
 * first difference in anything a caller can observe: feed/finish return
 * codes, bytes, lines, truncated, sha256, tail, summary, build result and
 * every failed step. Header-only, for tests/unit/test_logparse_diff.c and
 * tests/fuzz/fuzz_logparse.c.
 */
#ifndef BITMON_TESTS_LOGPARSE_DIFF_H
#define BITMON_TESTS_LOGPARSE_DIFF_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bitrise/logparse.h"
#include "tests/unit/logparse_ref/logparse_ref.c"

#define LPDIFF_FAIL(...)                                                       \
        do {                                                                   \
                snprintf(msg, size, __VA_ARGS__);                              \
                return 1;                                                      \
        } while (0)

static int lpdiff_str(const char *a, const char *b) {
        if (!a || !b)
                return a != b;
        return strcmp(a, b) != 0;
}

static int lpdiff_lines(const char *what, const char *const *a, size_t na,
                        const char *const *b, size_t nb, char *msg,
                        size_t size) {
        if (na != nb)
                LPDIFF_FAIL("%s: %zu lines, reference %zu", what, na, nb);
        for (size_t i = 0; i < na; i++)
                if (lpdiff_str(a[i], b[i]))
                        LPDIFF_FAIL("%s[%zu]: \"%.120s\", reference \"%.120s\"",
                                    what, i, a[i] ? a[i] : "(null)",
                                    b[i] ? b[i] : "(null)");
        return 0;
}

static int lpdiff_step(size_t i, const logparse_step_t *a,
                       const logparse_step_t *b, char *msg, size_t size) {
        if (!a || !b)
                LPDIFF_FAIL("step %zu missing", i);
        if (lpdiff_str(a->title, b->title))
                LPDIFF_FAIL("step %zu title \"%.100s\", reference \"%.100s\"",
                            i, a->title ? a->title : "(null)",
                            b->title ? b->title : "(null)");
        if (lpdiff_str(a->step_id, b->step_id))
                LPDIFF_FAIL("step %zu id \"%.100s\", reference \"%.100s\"", i,
                            a->step_id ? a->step_id : "(null)",
                            b->step_id ? b->step_id : "(null)");
        if (a->index != b->index || a->exit_code != b->exit_code ||
            a->interrupted != b->interrupted)
                LPDIFF_FAIL("step %zu index/exit/interrupted %d/%d/%d, "
                            "reference %d/%d/%d",
                            i, a->index, a->exit_code, a->interrupted, b->index,
                            b->exit_code, b->interrupted);
        if (memcmp(&a->duration_s, &b->duration_s, sizeof(double)))
                LPDIFF_FAIL("step %zu duration %.17g, reference %.17g", i,
                            a->duration_s, b->duration_s);
        char what[48];
        snprintf(what, sizeof(what), "step %zu last_lines", i);
        return lpdiff_lines(what, (const char *const *)a->last_lines, a->nlast,
                            (const char *const *)b->last_lines, b->nlast, msg,
                            size);
}

static int lpdiff_results(const logparse_t *a, const ref_logparse_t *b,
                          char *msg, size_t size) {
        if (logparse_bytes(a) != ref_logparse_bytes(b) ||
            logparse_lines(a) != ref_logparse_lines(b) ||
            logparse_truncated(a) != ref_logparse_truncated(b))
                LPDIFF_FAIL("bytes/lines/truncated %llu/%llu/%d, reference "
                            "%llu/%llu/%d",
                            (unsigned long long)logparse_bytes(a),
                            (unsigned long long)logparse_lines(a),
                            logparse_truncated(a),
                            (unsigned long long)ref_logparse_bytes(b),
                            (unsigned long long)ref_logparse_lines(b),
                            ref_logparse_truncated(b));
        if (strcmp(logparse_sha256(a), ref_logparse_sha256(b)))
                LPDIFF_FAIL("sha256 %s, reference %s", logparse_sha256(a),
                            ref_logparse_sha256(b));
        if (logparse_summary_steps(a) != ref_logparse_summary_steps(b) ||
            logparse_build_ok(a) != ref_logparse_build_ok(b))
                LPDIFF_FAIL("summary steps/build ok %zu/%d, reference %zu/%d",
                            logparse_summary_steps(a), logparse_build_ok(a),
                            ref_logparse_summary_steps(b),
                            ref_logparse_build_ok(b));
        size_t na = 0, nb = 0;
        const char *const *ta = logparse_tail(a, &na);
        const char *const *tb = ref_logparse_tail(b, &nb);
        if (lpdiff_lines("tail", ta, na, tb, nb, msg, size))
                return 1;
        if (logparse_failed_count(a) != ref_logparse_failed_count(b))
                LPDIFF_FAIL("%zu failed steps, reference %zu",
                            logparse_failed_count(a),
                            ref_logparse_failed_count(b));
        for (size_t i = 0; i < logparse_failed_count(a); i++)
                if (lpdiff_step(i, logparse_failed_step(a, i),
                                ref_logparse_failed_step(b, i), msg, size))
                        return 1;
        return 0;
}

/* Feeds data to both parsers in chunks of chunks[0], chunks[1], ... (cycled;
 * nchunks 0 = all at once), finishes them and compares. Returns 0 when they
 * agree, 1 with msg set when not, -1 when a parser could not be made. */
static int lpdiff_run(const void *data, size_t len, const logparse_opts_t *o,
                      const size_t *chunks, size_t nchunks, char *msg,
                      size_t size) {
        const unsigned char *p = data;
        logparse_t *a          = logparse_new(o);
        ref_logparse_t *b      = ref_logparse_new(o);
        int rc                 = -1;
        msg[0]                 = '\0';
        if (!a || !b)
                goto out;
        rc = 0;
        for (size_t off = 0, k = 0; off < len && !rc; k++) {
                size_t n = nchunks ? chunks[k % nchunks] : len - off;
                if (n == 0 || n > len - off)
                        n = len - off;
                int ra = logparse_feed(a, p + off, n);
                int rb = ref_logparse_feed(b, p + off, n);
                if (ra != rb) {
                        snprintf(msg, size,
                                 "feed at %zu (+%zu) returned %d, reference %d",
                                 off, n, ra, rb);
                        rc = 1;
                }
                off += n;
        }
        if (!rc) {
                int fa = logparse_finish(a), fb = ref_logparse_finish(b);
                if (fa != fb) {
                        snprintf(msg, size, "finish %d, reference %d", fa, fb);
                        rc = 1;
                } else if (logparse_finish(a) != fa) {
                        snprintf(msg, size, "finish not idempotent");
                        rc = 1;
                } else {
                        rc = lpdiff_results(a, b, msg, size);
                }
        }
out:
        logparse_destroy(a);
        ref_logparse_destroy(b);
        return rc;
}

#undef LPDIFF_FAIL

#endif
