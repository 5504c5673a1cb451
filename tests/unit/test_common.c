/* Unit tests for common/: buffers, RFC 3339 and HTTP dates, jitter. */
#include "common/buf.h"
#include "common/rand.h"
#include "common/timeutil.h"
#include "tests/assert.h"

static void test_buf_append_and_cap(void) {
        buf_t b;
        buf_init(&b, 10);
        T_EQ_STR(buf_cstr(&b), "");
        T_EQ_INT(buf_append_str(&b, "hello"), 0);
        T_EQ_INT(buf_printf(&b, "%d", 1234), 0);
        T_EQ_STR(buf_cstr(&b), "hello1234");
        T_EQ_INT(buf_append_str(&b, "xy"), BUF_ERR_CAP);
        T_EQ_STR(buf_cstr(&b), "hello1234"); /* nothing appended */
        T_EQ_INT(buf_append_str(&b, "z"), 0);
        T_EQ_INT(b.len, 10);
        T_EQ_INT(buf_printf(&b, "%s", "a"), BUF_ERR_CAP);
        char *s = buf_detach(&b);
        T_EQ_STR(s, "hello1234z");
        free(s);
        T_EQ_INT(b.len, 0);
        buf_release(&b);
}

static void test_buf_grows_unbounded(void) {
        buf_t b;
        buf_init(&b, 0);
        for (int i = 0; i < 10000; i++)
                T_EQ_INT(buf_append(&b, "0123456789", 10), 0);
        T_EQ_INT(b.len, 100000);
        T_EQ_INT(b.data[b.len], 0);
        buf_reset(&b);
        T_EQ_INT(b.len, 0);
        buf_release(&b);
        buf_release(&b); /* twice is fine */
}

static void test_rfc3339_table(void) {
        static const struct {
                const char *in;
                int rc;
                int64_t ms;
        } cases[] = {
            {"1970-01-01T00:00:00Z", 0, 0},
            {"2026-04-03T17:28:24Z", 0, 1775237304000LL},
            {"2026-04-03T17:28:24.5Z", 0, 1775237304500LL},
            {"2026-04-03T17:28:24.123Z", 0, 1775237304123LL},
            {"2026-04-03T17:28:24.123456789Z", 0, 1775237304123LL},
            {"2026-04-03T19:28:24+02:00", 0, 1775237304000LL},
            {"2026-04-03T17:28:24-00:30", 0, 1775239104000LL},
            {"0001-01-01T00:00:00Z", 0, 0}, /* Bitrise's "no time" */
            {"2000-02-29T12:00:00Z", 0, 951825600000LL},
            {"2026-04-03 17:28:24Z", 0, 1775237304000LL},
            {"2026-04-03T17:28:24", -1, 0},
            {"2026-13-03T17:28:24Z", -1, 0},
            {"2026-04-03T17:28:24.Z", -1, 0},
            {"2026-04-03T17:28:24Zjunk", -1, 0},
            {"", -1, 0},
            {"null", -1, 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t ms = -7;
                int rc     = time_rfc3339_parse(cases[i].in, &ms);
                T_ASSERTF(rc == cases[i].rc, "%s: rc %d", cases[i].in, rc);
                if (rc == 0)
                        T_ASSERTF(ms == cases[i].ms, "%s: %lld", cases[i].in,
                                  (long long)ms);
                else
                        T_EQ_INT(ms, -7);
        }
        T_EQ_INT(time_rfc3339_parse(NULL, &(int64_t){0}), -1);
}

static void test_rfc3339_format_roundtrip(void) {
        char buf[40];
        int64_t ms;
        T_EQ_STR(time_rfc3339_format(1775237304000LL, 1, buf, sizeof(buf)),
                 "2026-04-03T17:28:24Z");
        T_EQ_STR(time_rfc3339_format(1775237304123LL, 1, buf, sizeof(buf)),
                 "2026-04-03T17:28:24.123Z");
        T_EQ_STR(time_rfc3339_format(1775237304123LL, 0, buf, sizeof(buf)),
                 "2026-04-03T17:28:24Z");
        T_EQ_INT(time_rfc3339_parse(buf, &ms), 0);
        T_EQ_INT(ms, 1775237304000LL);
}

static void test_http_date(void) {
        int64_t ms;
        T_EQ_INT(time_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &ms), 0);
        T_EQ_INT(ms, 784111777000LL);
        T_EQ_INT(time_http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT", &ms),
                 -1);
        T_EQ_INT(time_http_date_parse("120", &ms), -1);
}

static void test_jitter_bounds(void) {
        for (int i = 0; i < 10000; i++) {
                int64_t v = rand_jitter(1000, 0.2);
                T_ASSERTF(v >= 800 && v <= 1200, "jitter %lld", (long long)v);
                double u = rand_unit();
                T_ASSERT(u >= 0.0 && u < 1.0);
        }
        T_EQ_INT(rand_jitter(0, 0.5), 0);
}

int main(void) {
        T_RUN(test_buf_append_and_cap);
        T_RUN(test_buf_grows_unbounded);
        T_RUN(test_rfc3339_table);
        T_RUN(test_rfc3339_format_roundtrip);
        T_RUN(test_http_date);
        T_RUN(test_jitter_bounds);
        return t_done();
}
