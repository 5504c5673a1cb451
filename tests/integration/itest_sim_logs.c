/* Integration tests of the simulator's logs: chunks of a running build
 * (repeats, disorder, position gaps) reassemble into the archived raw log;
 * archive lag, URL expiry (403), deleted logs, 404 right after the trigger;
 * the admin API's expected parse results; a 500 MB log with flat RSS.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/integration/sim_test.h"
#include "tests/support/sim_proc.h"

/* Assertion messages go into tests/assert.h's 512-byte buffer; cutting a long
 * one short is intended. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define APP "669403bffbe35909"

/* GET a raw URL; returns the status and the body (caller frees). */
static long get_raw(const char *url, const char *auth, char **body,
                    size_t *len) {
        sim_http_resp_t r;
        int rc  = sim_http_get(url, auth, 30000, 0, &r);
        long st = r.status;
        T_ASSERTF(rc == 0, "GET raw log: curl error %d", rc);
        *len  = r.body.len;
        *body = buf_detach(&r.body);
        sim_http_resp_release(&r);
        return st;
}

static void sleep_ms(int ms) {
        usleep((useconds_t)((double)ms * 1000 * sim_proc_timeout_scale()));
}

static const char *str(const cJSON *o, const char *k) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Adds the chunks of one /log answer to chunks[position]; counts repeats
 * and out-of-order pairs. */
static void collect(const cJSON *b, char **chunks, int *repeats,
                    int *disorder) {
        const cJSON *it;
        int last = -1, n = 0;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "log_chunks")) {
                int pos = (int)cJSON_GetObjectItem(it, "position")->valuedouble;
                const char *text = str(it, "chunk");
                T_ASSERTF(pos >= 0 && pos < 512 && text, "bad chunk at %d",
                          pos);
                if (chunks[pos]) {
                        T_EQ_STR(chunks[pos],
                                 text); /* a repeat carries the same text */
                        (*repeats)++;
                } else {
                        chunks[pos] = strdup(text);
                }
                *disorder += pos < last;
                last = pos;
                n++;
        }
        T_ASSERTF(n <= 10, "%d chunks in one answer (max 5 + repeats)", n);
}

static bool is_zero_time(const char *t) {
        return !t || strcmp(t, "0001-01-01T00:00:00Z") == 0;
}

static void test_running_chunks_reassemble_to_raw_log(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"bitwat_dev\", \"role\": "
            "\"developer\"}],"
            " \"log_chunks\": {\"chunk_bytes\": 512, \"max_chunks\": 5, "
            "\"order\": \"shuffle\","
            "   \"repeat_share\": 0.3, \"gap_share\": 0.25, "
            "\"first_position\": 0},"
            " \"apps\": [{\"slug\": \"" APP
            "\", \"builds\": [{\"slug\": \"b000000000000001\","
            "   \"triggered_at_s\": 0, \"running_s\": 3, \"status\": 2, "
            "\"log\": {\"bytes\": 30000,"
            "   \"steps\": 4, \"archive_lag_s\": 1.5}}]}]}");
        char *chunks[512] = {0}, after[64] = "", path[256], *raw = NULL;
        int repeats = 0, disorder = 0, polls = 0, unarchived_finished = 0,
            back_pages = 0;
        bool archived  = false;
        int64_t deadline =
            time_mono_ms() + (int64_t)(20000 * sim_proc_timeout_scale());
        cJSON *b        = NULL;
        const char *url = NULL;
        while (!archived && time_mono_ms() < deadline) {
                snprintf(path, sizeof(path),
                         "/apps/" APP "/builds/b000000000000001/log%s%s",
                         after[0] ? "?after_timestamp=" : "", after);
                cJSON_Delete(b);
                T_EQ_INT(sim_test_get(p, path, "bitwat_dev", &b), 200);
                archived = cJSON_IsTrue(cJSON_GetObjectItem(b, "is_archived"));
                collect(b, chunks, &repeats, &disorder);
                /* first answer: the newest chunks; scroll back for the older
                 * ones */
                char before[64] = "";
                if (!after[0] && !is_zero_time(str(b, "next_before_timestamp")))
                        snprintf(before, sizeof(before), "%s",
                                 str(b, "next_before_timestamp"));
                while (before[0]) {
                        cJSON *older = NULL;
                        snprintf(
                            path, sizeof(path),
                            "/apps/" APP
                            "/builds/b000000000000001/log?before_timestamp=%s",
                            before);
                        T_EQ_INT(sim_test_get(p, path, "bitwat_dev", &older),
                                 200);
                        collect(older, chunks, &repeats, &disorder);
                        const char *nb = str(older, "next_before_timestamp");
                        if (is_zero_time(nb))
                                before[0] = '\0';
                        else
                                snprintf(before, sizeof(before), "%s", nb);
                        cJSON_Delete(older);
                        T_ASSERT(++back_pages < 100);
                }
                if (!is_zero_time(str(b, "next_after_timestamp")))
                        snprintf(after, sizeof(after), "%s",
                                 str(b, "next_after_timestamp"));
                cJSON *build = NULL;
                sim_test_get(p, "/apps/" APP "/builds/b000000000000001",
                             "bitwat_dev", &build);
                if (!archived &&
                    cJSON_GetObjectItem(cJSON_GetObjectItem(build, "data"),
                                        "status")
                            ->valuedouble != 0)
                        unarchived_finished++;
                cJSON_Delete(build);
                polls++;
                if (!archived)
                        sleep_ms(100);
        }
        T_ASSERTF(archived, "not archived after %d polls", polls);
        T_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(b, "log_chunks")) == 0);
        T_ASSERTF(unarchived_finished > 0, "archive lag never observed");
        T_ASSERTF(repeats > 0 && disorder > 0, "repeats %d, disorder %d",
                  repeats, disorder);
        url = str(b, "expiring_raw_log_url");
        T_ASSERT(url);
        size_t len;
        T_EQ_INT(get_raw(url, NULL, &raw, &len), 200);
        /* sorted by position, de-duplicated, the chunks are the raw log;
         * positions have gaps */
        size_t off = 0;
        int gaps = 0, prev = -1;
        for (int i = 0; i < 512; i++) {
                if (!chunks[i])
                        continue;
                gaps += prev >= 0 && i != prev + 1;
                prev     = i;
                size_t n = strlen(chunks[i]);
                T_ASSERTF(
                    off + n <= len && memcmp(raw + off, chunks[i], n) == 0,
                    "chunk at position %d differs from raw log at byte %zu", i,
                    off);
                off += n;
                free(chunks[i]);
                chunks[i] = NULL;
        }
        T_EQ_INT(off, len);
        T_ASSERT(gaps > 0);
        printf("# %d polls, %d pages back, %d repeated chunks, %d out-of-order "
               "pairs, %d gaps, %zu bytes\n",
               polls, back_pages, repeats, disorder, gaps, len);
        free(raw);
        cJSON_Delete(b);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_archive_lag_expiry_deleted_and_404(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"bitwat_dev\", \"role\": "
            "\"developer\"}],"
            " \"log_chunks\": {\"chunk_bytes\": 1024, \"max_chunks\": 10},"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            "  {\"slug\": \"b000000000000001\", \"triggered_at_s\": -10, "
            "\"running_s\": 9.5, \"status\": 1,"
            "   \"log\": {\"bytes\": 50000, \"archive_lag_s\": 2, "
            "\"url_valid_s\": 2}},"
            "  {\"slug\": \"b000000000000002\", \"triggered_at_s\": -100, "
            "\"running_s\": 10, \"status\": 1,"
            "   \"log\": {\"deleted\": true}},"
            "  {\"slug\": \"b000000000000003\", \"triggered_at_s\": 0, "
            "\"running_s\": 100, \"status\": 1,"
            "   \"log\": {\"not_found_s\": 1.5}}]}]}");
        const char *log1 = "/apps/" APP "/builds/b000000000000001/log";
        cJSON *b = NULL, *older = NULL, *exp = NULL;
        char url[512], path[256], err[256], *raw = NULL;
        size_t len;
        /* finished, not archived yet: no URL, the newest chunks, scroll back
         * works */
        T_EQ_INT(sim_test_get(p, log1, "bitwat_dev", &b), 200);
        T_ASSERT(!cJSON_IsTrue(cJSON_GetObjectItem(b, "is_archived")));
        T_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(b, "expiring_raw_log_url")));
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(b, "log_chunks")), 10);
        snprintf(path, sizeof(path), "%s?before_timestamp=%s", log1,
                 str(b, "next_before_timestamp"));
        T_EQ_INT(sim_test_get(p, path, "bitwat_dev", &older), 200);
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(older, "log_chunks")),
                 10);
        double newest_old = 0, oldest_new = 1e9;
        const cJSON *it;
        cJSON_ArrayForEach(
            it,
            cJSON_GetObjectItem(
                older, "log_chunks")) if (cJSON_GetObjectItem(it, "position")
                                              ->valuedouble > newest_old)
            newest_old = cJSON_GetObjectItem(it, "position")->valuedouble;
        cJSON_ArrayForEach(
            it, cJSON_GetObjectItem(
                    b, "log_chunks")) if (cJSON_GetObjectItem(it, "position")
                                              ->valuedouble < oldest_new)
            oldest_new = cJSON_GetObjectItem(it, "position")->valuedouble;
        T_ASSERTF(newest_old < oldest_new,
                  "before_timestamp page overlaps: %g >= %g", newest_old,
                  oldest_new);
        cJSON_Delete(older);
        /* a just-triggered build: 404 on /log first */
        T_EQ_INT(sim_test_get(p, "/apps/" APP "/builds/b000000000000003/log",
                              "bitwat_dev", NULL),
                 404);
        T_EQ_INT(sim_test_get(p, "/apps/" APP "/builds/b000000000000003",
                              "bitwat_dev", NULL),
                 200);
        /* deleted: archived, no URL */
        cJSON_Delete(b);
        T_EQ_INT(sim_test_get(p, "/apps/" APP "/builds/b000000000000002/log",
                              "bitwat_dev", &b),
                 200);
        T_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(b, "is_archived")));
        T_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(b, "expiring_raw_log_url")));
        cJSON_Delete(b);
        b = NULL;
        sleep_ms(2000);
        T_EQ_INT(sim_test_get(p, "/apps/" APP "/builds/b000000000000003/log",
                              "bitwat_dev", NULL),
                 200);
        T_EQ_INT(sim_test_get(p, log1, "bitwat_dev", &b), 200);
        T_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(b, "is_archived")));
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(b, "log_chunks")), 0);
        T_ASSERT(str(b, "expiring_raw_log_url"));
        snprintf(url, sizeof(url), "%s", str(b, "expiring_raw_log_url"));
        T_ASSERTF(strncmp(url, sim_proc_root_url(p),
                          strlen(sim_proc_root_url(p))) == 0,
                  "URL %s", url);
        T_ASSERTF(sim_proc_admin_get(
                      p, "/expected?app=" APP "&build=b000000000000001", &exp,
                      err, sizeof(err)) == 0,
                  "%s", err);
        /* no Authorization needed, and one sent is ignored */
        T_EQ_INT(get_raw(url, NULL, &raw, &len), 200);
        T_EQ_INT(len, cJSON_GetObjectItem(exp, "bytes")->valuedouble);
        free(raw);
        T_EQ_INT(get_raw(url, "bitwat_whatever", &raw, &len), 200);
        free(raw);
        /* a forged signature is refused */
        char forged[512];
        snprintf(forged, sizeof(forged), "%s", url);
        forged[strlen(forged) - 1] =
            forged[strlen(forged) - 1] == '0' ? '1' : '0';
        T_EQ_INT(get_raw(forged, NULL, &raw, &len), 403);
        free(raw);
        /* expired URL: 403 (S3-style XML); a new /log call gives a fresh one */
        sleep_ms(3100);
        T_EQ_INT(get_raw(url, NULL, &raw, &len), 403);
        T_ASSERTF(strstr(raw, "Request has expired"), "403 body: %s", raw);
        free(raw);
        cJSON_Delete(b);
        T_EQ_INT(sim_test_get(p, log1, "bitwat_dev", &b), 200);
        T_EQ_INT(get_raw(str(b, "expiring_raw_log_url"), NULL, &raw, &len),
                 200);
        free(raw);
        cJSON_Delete(b);
        cJSON_Delete(exp);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* The summary rows "x <title> (exit code: N)" between "bitrise summary" and
 * "Total runtime". */
static int parse_failed(const char *log, char titles[][64], int *codes,
                        int max) {
        const char *s   = strstr(log, "bitrise summary"), *p;
        const char *end = s ? strstr(s, "| Total runtime: ") : NULL;
        int n           = 0;
        while (s && (p = strstr(s, " (exit code: ")) && p < end && n < max) {
                const char *eol = strchr(p, '\n');
                if (!eol)
                        break;
                const char *t = p;
                while (t > s &&
                       t[-1] != 'm') /* title starts after the colour code */
                        t--;
                snprintf(titles[n], 64, "%.*s", (int)(p - t), t);
                codes[n++] = (int)strtol(p + 13, NULL, 10);
                s          = eol;
        }
        return n;
}

static void test_expected_results_match_the_log(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"bitwat_dev\", \"role\": "
            "\"developer\"}],"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            "  {\"slug\": \"b000000000000001\", \"triggered_at_s\": -1000, "
            "\"running_s\": 300, \"status\": 2,"
            "   \"log\": {\"lines\": 800, \"steps\": 5, \"failing_step\": 3, "
            "\"failing_title\": \"xcode-test\", \"exit_code\": 65}},"
            "  {\"slug\": \"b000000000000002\", \"triggered_at_s\": -1000, "
            "\"running_s\": 300, \"status\": 3,"
            "   \"log\": {\"bytes\": 20000}},"
            "  {\"slug\": \"b000000000000003\", \"triggered_at_s\": -1000, "
            "\"running_s\": 300, \"status\": 1,"
            "   \"log\": {\"bytes\": 20000, \"steps\": 7}}]}]}");
        const char *builds[] = {"b000000000000001", "b000000000000002",
                                "b000000000000003"};
        for (int i = 0; i < 3; i++) {
                char path[256], err[256], titles[8][64], *raw = NULL;
                int codes[8];
                size_t len;
                cJSON *exp = NULL, *b = NULL;
                snprintf(path, sizeof(path), "/expected?app=" APP "&build=%s",
                         builds[i]);
                T_ASSERTF(sim_proc_admin_get(p, path, &exp, err, sizeof(err)) ==
                              0,
                          "%s", err);
                snprintf(path, sizeof(path), "/apps/" APP "/builds/%s/log",
                         builds[i]);
                T_EQ_INT(sim_test_get(p, path, "bitwat_dev", &b), 200);
                T_EQ_INT(
                    get_raw(str(b, "expiring_raw_log_url"), NULL, &raw, &len),
                    200);
                long lines = 0;
                for (size_t k = 0; k < len; k++)
                        lines += raw[k] == '\n';
                T_EQ_INT(len, cJSON_GetObjectItem(exp, "bytes")->valuedouble);
                T_EQ_INT(lines, cJSON_GetObjectItem(exp, "lines")->valuedouble);
                T_EQ_INT(strstr(raw, "bitrise summary") != NULL,
                         cJSON_IsTrue(cJSON_GetObjectItem(exp, "has_summary")));
                const cJSON *failed = cJSON_GetObjectItem(exp, "failed_steps");
                int n               = parse_failed(raw, titles, codes, 8);
                T_EQ_INT(n, cJSON_GetArraySize(failed));
                for (int k = 0; k < n; k++) {
                        const cJSON *f = cJSON_GetArrayItem(failed, k);
                        T_EQ_STR(titles[k], str(f, "title"));
                        T_EQ_INT(
                            codes[k],
                            cJSON_GetObjectItem(f, "exit_code")->valuedouble);
                }
                if (i == 0) {
                        T_EQ_INT(lines, 800);
                        T_EQ_INT(n, 1);
                        T_EQ_STR(titles[0], "xcode-test");
                        T_EQ_INT(codes[0], 65);
                        T_ASSERT(strstr(raw, "| (3) xcode-test "));
                        T_ASSERT(strstr(raw, "| Total runtime: "));
                        T_ASSERT(strstr(raw, "\x1b[31;1mx\x1b[0m |"));
                }
                if (i == 2)
                        T_EQ_INT(cJSON_GetArraySize(
                                     cJSON_GetObjectItem(exp, "steps")),
                                 7);
                free(raw);
                cJSON_Delete(b);
                cJSON_Delete(exp);
        }
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_500mb_log_streams_with_flat_rss(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"bitwat_dev\", \"role\": "
            "\"developer\"}],"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            "  {\"slug\": \"b000000000000001\", \"triggered_at_s\": "
            "-1000, \"running_s\": 600, \"status\": 2,"
            "   \"log\": {\"bytes\": 500000000, \"steps\": 20, "
            "\"failing_step\": 12}}]}]}");
        cJSON *b = NULL, *exp = NULL;
        char err[256];
        sim_http_resp_t r;
        T_ASSERTF(sim_proc_admin_get(
                      p, "/expected?app=" APP "&build=b000000000000001", &exp,
                      err, sizeof(err)) == 0,
                  "%s", err);
        T_EQ_INT(sim_test_get(p, "/apps/" APP "/builds/b000000000000001/log",
                              "bitwat_dev", &b),
                 200);
        long before = sim_proc_rss_kb(p);
        int64_t t0  = time_mono_ms();
        int rc      = sim_http_get(str(b, "expiring_raw_log_url"), NULL,
                                   (long)(300000 * sim_proc_timeout_scale()), 1, &r);
        int64_t ms  = time_mono_ms() - t0;
        long after  = sim_proc_rss_kb(p);
        printf("# 500 MB log: %lld bytes in %lld ms; simulator VmRSS before "
               "%ld KiB, after %ld KiB\n",
               r.body_bytes, (long long)ms, before, after);
        T_EQ_INT(rc, 0);
        T_EQ_INT(r.status, 200);
        T_EQ_INT(r.body_bytes, cJSON_GetObjectItem(exp, "bytes")->valuedouble);
        T_ASSERT(r.body_bytes > 499000000);
        T_ASSERTF(after - before < 16 * 1024, "RSS grew by %ld KiB",
                  after - before);
        sim_http_resp_release(&r);
        cJSON_Delete(b);
        cJSON_Delete(exp);
        T_EQ_INT(sim_proc_stop(p), 0);
}

int main(void) {
        T_RUN(test_running_chunks_reassemble_to_raw_log);
        T_RUN(test_archive_lag_expiry_deleted_and_404);
        T_RUN(test_expected_results_match_the_log);
        T_RUN(test_500mb_log_streams_with_flat_rss);
        return t_done();
}
