/* tests/assert.h — the tiny test harness every C test uses.
 *
 * A test file defines `static void test_x(void)` functions and a main() that
 * calls T_RUN(test_x) for each and ends with `return t_done();`. Each test
 * prints one line, "ok <name>" or "FAIL <name>", which tests/run.sh counts;
 * assertion failures print the file, line and values first. A failed
 * assertion ends the current test (longjmp), not the process.
 */
#ifndef BITMON_TESTS_ASSERT_H
#define BITMON_TESTS_ASSERT_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_count;
static int t_passed_count;
static int t_cur_failed;
static jmp_buf t_jmp;

static inline void t_fail_here(const char *file, int line, const char *what) {
        fprintf(stderr, "  %s:%d: %s\n", file, line, what);
        t_cur_failed = 1;
        longjmp(t_jmp, 1);
}

#define T_ASSERT(cond)                                                         \
        do {                                                                   \
                if (!(cond))                                                   \
                        t_fail_here(__FILE__, __LINE__, "assert " #cond);      \
        } while (0)

#define T_ASSERTF(cond, ...)                                                   \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        char t_msg_[512];                                      \
                        snprintf(t_msg_, sizeof(t_msg_), __VA_ARGS__);         \
                        t_fail_here(__FILE__, __LINE__, t_msg_);               \
                }                                                              \
        } while (0)

#define T_EQ_INT(a, b)                                                         \
        do {                                                                   \
                long long t_a_ = (long long)(a), t_b_ = (long long)(b);        \
                T_ASSERTF(t_a_ == t_b_, "%s == %s: %lld != %lld", #a, #b,      \
                          t_a_, t_b_);                                         \
        } while (0)

#define T_EQ_STR(a, b)                                                         \
        do {                                                                   \
                const char *t_a_ = (a), *t_b_ = (b);                           \
                T_ASSERTF(t_a_ &&t_b_ &&strcmp(t_a_, t_b_) == 0,               \
                          "%s == %s: \"%s\" != \"%s\"", #a, #b,                \
                          t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");     \
        } while (0)

#define T_RUN(fn)                                                              \
        do {                                                                   \
                t_cur_failed = 0;                                              \
                if (setjmp(t_jmp) == 0)                                        \
                        fn();                                                  \
                if (t_cur_failed) {                                            \
                        t_failed_count++;                                      \
                        printf("FAIL %s\n", #fn);                              \
                } else {                                                       \
                        t_passed_count++;                                      \
                        printf("ok %s\n", #fn);                                \
                }                                                              \
                fflush(stdout);                                                \
        } while (0)

static inline int t_done(void) {
        return t_failed_count ? 1 : 0;
}

#endif
