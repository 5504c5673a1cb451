/* Unit tests for common/job: a table of payloads with the exact reason
 * each rejection must give, defaults, key mismatch, UTF-8 and round trip. */
#include "common/job.h"
#include "tests/assert.h"

#define H16   "669403bffbe35909"
#define UUID  "0f3c8e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
#define BASE  "\"v\":1,\"job_id\":\"j1\",\"workspace\":\"acme\""
#define SLUGS "\"app_slug\":\"" H16 "\",\"build_slug\":\"" UUID "\""

static void test_job_reject_table(void) {
        static const struct {
                const char *payload;
                const char *reason;
        } cases[] = {
            {"", "empty payload"},
            {"not json", "not JSON: syntax error at byte 0"},
            {"{\"v\":1", "not JSON: syntax error at byte 5"},
            {"{} x", "not JSON: trailing data at byte 3"},
            {"[1,2]", "not a JSON object"},
            {"\"str\"", "not a JSON object"},
            {"{}", "missing field v"},
            {"{\"v\":\"1\"}", "v: expected integer"},
            {"{\"v\":1.5}", "v: expected integer"},
            {"{\"v\":2," SLUGS "}", "unsupported v 2"},
            {"{\"v\":0}", "unsupported v 0"},
            {"{\"v\":1}", "missing field job_id"},
            {"{\"v\":1,\"job_id\":7}", "job_id: expected string"},
            {"{\"v\":1,\"job_id\":\"\"}", "job_id: empty"},
            {"{\"v\":1,\"job_id\":\"a\\nb\"}",
             "job_id: control character at byte 1"},
            {"{\"v\":1,\"job_id\":\"j\"}", "missing field workspace"},
            {"{\"v\":1,\"job_id\":\"j\",\"workspace\":null}",
             "missing field workspace"},
            {"{\"v\":1,\"job_id\":\"j\",\"workspace\":\"../etc\"}",
             "workspace: only A-Z a-z 0-9 . _ - allowed, not starting with "
             "'.'"},
            {"{\"v\":1,\"job_id\":\"j\",\"workspace\":\"a b\"}",
             "workspace: only A-Z a-z 0-9 . _ - allowed, not starting with "
             "'.'"},
            {"{" BASE "}", "missing field app_slug"},
            {"{" BASE ",\"app_slug\":\"xyz\"}",
             "app_slug: not a 16-hex or UUID slug"},
            {"{" BASE ",\"app_slug\":\"669403bffbe3590\"}",
             "app_slug: not a 16-hex or UUID slug"},
            {"{" BASE ",\"app_slug\":\"669403bffbe3590g\"}",
             "app_slug: not a 16-hex or UUID slug"},
            {"{" BASE ",\"app_slug\":\"0f3c8e2a1b2c-4d5e-8f90-a1b2c3d4e5f6x\"}",
             "app_slug: not a 16-hex or UUID slug"},
            {"{" BASE ",\"app_slug\":12}", "app_slug: expected string"},
            {"{" BASE ",\"app_slug\":\"" H16 "\"}", "missing field build_slug"},
            {"{" BASE "," SLUGS ",\"follow\":\"yes\"}",
             "follow: expected boolean"},
            {"{" BASE "," SLUGS ",\"log\":\"all\"}",
             "log: expected none, summary or full"},
            {"{" BASE "," SLUGS ",\"log\":1}",
             "log: expected none, summary or full"},
            {"{" BASE "," SLUGS ",\"deadline_s\":\"60\"}",
             "deadline_s: expected integer"},
            {"{" BASE "," SLUGS ",\"deadline_s\":0}",
             "deadline_s: 0 out of range 1..86400"},
            {"{" BASE "," SLUGS ",\"deadline_s\":-5}",
             "deadline_s: -5 out of range 1..86400"},
            {"{" BASE "," SLUGS ",\"deadline_s\":86401}",
             "deadline_s: 86401 out of range 1..86400"},
            {"{" BASE "," SLUGS ",\"attrs\":[1]}", "attrs: expected object"},
            {"{" BASE "," SLUGS ",\"attrs\":\"x\"}", "attrs: expected object"},
            {"{\"v\":1,\"job_id\":\"\xc3\x28\"}", "invalid UTF-8 at byte 17"},
            {"{\"v\":1,\"x\":\"\xed\xa0\x80\"}", "invalid UTF-8 at byte 12"},
            {"{\"v\":1,\"job_id\":\"\\ud800\"}",
             "not JSON: syntax error at byte 17"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char err[256] = "";
                job_t *job    = (job_t *)1;
                int rc = job_parse(cases[i].payload, strlen(cases[i].payload),
                                   NULL, 0, NULL, &job, err, sizeof(err));
                T_ASSERTF(rc == JOB_ERR_INVALID && job == NULL,
                          "case %zu (%s) accepted", i, cases[i].payload);
                T_ASSERTF(strcmp(err, cases[i].reason) == 0,
                          "case %zu: \"%s\" != \"%s\"", i, err,
                          cases[i].reason);
        }
}

static void test_job_defaults(void) {
        const char *p = "{" BASE "," SLUGS ",\"unknown\":{\"deep\":[1,2]}}";
        char err[256];
        job_t *job       = NULL;
        job_limits_t lim = {.deadline_default_s = 3600};
        char key[]       = H16 "/" UUID;
        T_EQ_INT(job_parse(p, strlen(p), key, strlen(key), &lim, &job, err,
                           sizeof(err)),
                 0);
        T_EQ_INT(job->v, 1);
        T_EQ_STR(job->job_id, "j1");
        T_EQ_STR(job->workspace, "acme");
        T_EQ_STR(job->app_slug, H16);
        T_EQ_STR(job->build_slug, UUID);
        T_ASSERT(job->follow);
        T_EQ_INT(job->log, JOB_LOG_SUMMARY);
        T_EQ_INT(job->deadline_s, 3600);
        T_EQ_STR(job->attrs_json, "{}");
        T_ASSERT(!job->key_mismatch);
        job_destroy(job);
}

static void test_job_all_fields(void) {
        const char *p =
            "{" BASE "," SLUGS ",\"follow\":false,\"log\":\"full\","
            "\"deadline_s\":120,\"attrs\":{ \"pr\" : 42, \"t\":\"x\"}}";
        char err[256];
        job_t *job = NULL;
        T_EQ_INT(
            job_parse(p, strlen(p), "other", 5, NULL, &job, err, sizeof(err)),
            0);
        T_ASSERT(!job->follow);
        T_EQ_INT(job->log, JOB_LOG_FULL);
        T_EQ_INT(job->deadline_s, 120);
        T_EQ_STR(job->attrs_json, "{\"pr\":42,\"t\":\"x\"}");
        T_ASSERT(job->key_mismatch); /* accepted; the caller warns */
        char *s      = job_to_json(job);
        job_t *again = NULL;
        T_EQ_INT(
            job_parse(s, strlen(s), NULL, 0, NULL, &again, err, sizeof(err)),
            0);
        T_EQ_STR(again->job_id, "j1");
        T_EQ_STR(again->attrs_json, job->attrs_json);
        T_EQ_INT(again->deadline_s, 120);
        T_ASSERT(!again->follow);
        free(s);
        job_destroy(again);
        job_destroy(job);
}

static void test_job_limits(void) {
        char err[256];
        job_t *job = NULL;
        size_t n   = 1048576;
        char *big  = malloc(n);
        memset(big, ' ', n);
        T_EQ_INT(job_parse(big, n, NULL, 0, NULL, &job, err, sizeof(err)),
                 JOB_ERR_INVALID);
        T_EQ_STR(err, "payload is 1048576 bytes, limit 65536");
        free(big);

        /* job_id of 129 bytes; attrs over 4 KiB */
        char p[8192];
        char id[130];
        memset(id, 'a', 129);
        id[129] = 0;
        snprintf(p, sizeof(p), "{\"v\":1,\"job_id\":\"%s\"}", id);
        T_EQ_INT(job_parse(p, strlen(p), NULL, 0, NULL, &job, err, sizeof(err)),
                 JOB_ERR_INVALID);
        T_EQ_STR(err, "job_id: 129 bytes, limit 128");
        id[128] = 0; /* 128 is fine */
        snprintf(p, sizeof(p), "{" BASE "," SLUGS ",\"job_id\":\"%s\"}", id);
        T_EQ_INT(job_parse(p, strlen(p), NULL, 0, NULL, &job, err, sizeof(err)),
                 0);
        job_destroy(job);

        char val[4100];
        memset(val, 'x', 4090);
        val[4090] = 0;
        snprintf(p, sizeof(p), "{" BASE "," SLUGS ",\"attrs\":{\"k\":\"%s\"}}",
                 val);
        T_EQ_INT(job_parse(p, strlen(p), NULL, 0, NULL, &job, err, sizeof(err)),
                 JOB_ERR_INVALID);
        T_EQ_STR(err, "attrs: 4098 bytes, limit 4096");

        job_limits_t lim = {.max_bytes = 10};
        T_EQ_INT(job_parse(p, 11, NULL, 0, &lim, &job, err, sizeof(err)),
                 JOB_ERR_INVALID);
        T_EQ_STR(err, "payload is 11 bytes, limit 10");
}

static void test_job_utf8(void) {
        static const struct {
                const char *s;
                long bad;
        } cases[] = {
            {"plain", -1},
            {"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", -1},
            {"\xc0\xaf", 0},         /* overlong '/' */
            {"ab\xe0\x80\xaf", 2},   /* overlong 3-byte */
            {"\xed\xa0\x80", 0},     /* surrogate */
            {"\xf4\x90\x80\x80", 0}, /* > U+10FFFF */
            {"abc\xe2\x82", 3},      /* truncated */
            {"\xff", 0},
            {"x\x80", 1}, /* lone continuation */
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                T_ASSERTF(job_utf8_check(cases[i].s, strlen(cases[i].s)) ==
                              cases[i].bad,
                          "case %zu", i);
}

static void test_job_slugs(void) {
        T_ASSERT(job_slug_valid("669403BFFBE35909"));
        T_ASSERT(job_slug_valid(UUID));
        T_ASSERT(!job_slug_valid(""));
        T_ASSERT(!job_slug_valid("0f3c8e2a-1b2c-4d5e-8f90a-1b2c3d4e5f6"));
        T_ASSERT(job_workspace_valid("acme-corp_1.x"));
        T_ASSERT(!job_workspace_valid(".hidden"));
        T_ASSERT(!job_workspace_valid("a/b"));
        job_log_t l;
        T_EQ_INT(job_log_parse("none", &l), 0);
        T_EQ_INT(l, JOB_LOG_NONE);
        T_EQ_INT(job_log_parse("NONE", &l), -1);
        T_EQ_STR(job_log_name(JOB_LOG_FULL), "full");
}

/* A hint (webhook) parses without job_id, names its event, survives a
 * round trip, and is refused with a reason when malformed. */
static void test_job_hint(void) {
        char buf[512], err[256];
        job_t *job = NULL;
        int n = job_hint_to_json(buf, sizeof(buf), JOB_HINT_FINISHED, "acme",
                                 H16, UUID, 2, 1764800000123);
        T_ASSERT(n > 0);
        T_EQ_INT(
            job_parse(buf, (size_t)n, NULL, 0, NULL, &job, err, sizeof(err)),
            0);
        T_EQ_INT(job->kind, JOB_KIND_HINT);
        T_EQ_INT(job->hint, JOB_HINT_FINISHED);
        T_EQ_STR(job->workspace, "acme");
        T_EQ_STR(job->app_slug, H16);
        T_EQ_STR(job->build_slug, UUID);
        T_EQ_INT(job->hint_build_status, 2);
        T_ASSERT(job->hint_received_ms == 1764800000123);
        T_EQ_STR(job->job_id, "");
        job_destroy(job);

        n = job_hint_to_json(buf, sizeof(buf), JOB_HINT_TRIGGERED, "acme", H16,
                             UUID, -1, 0);
        T_EQ_INT(
            job_parse(buf, (size_t)n, NULL, 0, NULL, &job, err, sizeof(err)),
            0);
        T_EQ_INT(job->hint, JOB_HINT_TRIGGERED);
        T_EQ_INT(job->hint_build_status, -1);
        T_ASSERT(job->hint_received_ms == 0);
        job_destroy(job);
        T_EQ_INT(job_hint_to_json(buf, 20, JOB_HINT_TRIGGERED, "acme", H16,
                                  UUID, -1, 0),
                 -1);

        static const struct {
                const char *payload, *reason;
        } bad[] = {
            {"{\"v\":1,\"hint\":\"build/started\"}",
             "hint: expected build/triggered or build/finished"},
            {"{\"v\":1,\"hint\":7}",
             "hint: expected build/triggered or build/finished"},
            {"{\"v\":2,\"hint\":\"build/finished\"}", "unsupported v 2"},
            {"{\"v\":1,\"hint\":\"build/finished\"}",
             "missing field workspace"},
            {"{\"v\":1,\"hint\":\"build/finished\",\"workspace\":\"a\"}",
             "missing field app_slug"},
            {"{\"v\":1,\"hint\":\"build/finished\",\"workspace\":\"a\","
             "\"app_slug\":\"" H16 "\",\"build_slug\":\"x\"}",
             "build_slug: not a 16-hex or UUID slug"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                job = NULL;
                T_EQ_INT(job_parse(bad[i].payload, strlen(bad[i].payload), NULL,
                                   0, NULL, &job, err, sizeof(err)),
                         JOB_ERR_INVALID);
                T_EQ_STR(err, bad[i].reason);
                T_ASSERT(job == NULL);
        }
}

int main(void) {
        T_RUN(test_job_reject_table);
        T_RUN(test_job_defaults);
        T_RUN(test_job_all_fields);
        T_RUN(test_job_limits);
        T_RUN(test_job_utf8);
        T_RUN(test_job_slugs);
        T_RUN(test_job_hint);
        return t_done();
}
