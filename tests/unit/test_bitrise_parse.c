/* Unit tests for bitrise/parse.c and bitrise/classify.c: the real captured
 * JSON answers (every build field, nulls, "null" strings, unknown fields),
 * log info chunk ordering and de-duplication, paging, bad bodies, and a
 * table of status codes, bodies and headers for the classifier. */
#include "bitrise/client.h"
#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/support/fixtures.h"

static int64_t t_ms(const char *s) {
        int64_t ms = 0;
        T_ASSERTF(time_rfc3339_parse(s, &ms) == 0, "bad time %s", s);
        return ms;
}

static void build_from_fixture(const char *file, bitrise_build_t *b) {
        size_t len    = 0;
        char err[160] = "";
        char *body    = fixture_read(file, &len);
        T_ASSERTF(body != NULL, "cannot read %s", file);
        int rc = bitrise_build_parse(body, len, b, err, sizeof(err));
        free(body);
        T_ASSERTF(rc == 0, "%s: %s", file, err);
}

static void test_build_parse_mcp_all_fields(void) {
        bitrise_build_t b;
        build_from_fixture("mcp_before_get_build.json", &b);
        T_EQ_STR(b.slug, "7feee0a4-61f4-4eb6-a019-368cf9ac0d82");
        T_EQ_INT(b.number, 324524);
        T_EQ_INT(b.status, 1);
        T_EQ_STR(b.status_text, "success");
        T_EQ_INT(b.is_on_hold, 0);
        T_EQ_STR(b.workflow, "ci-lint-be-zeitwerk");
        T_EQ_STR(b.branch, "ER-2664-ai-agent-activity-history");
        T_EQ_STR(b.commit_hash, "792bc8fceb86bb8390ecc420fb4e6759959792b1");
        T_EQ_INT(b.pull_request_id, 19170);
        T_EQ_INT(b.triggered_at, t_ms("2026-04-03T17:28:24Z"));
        T_EQ_INT(b.started_at, t_ms("2026-04-03T17:28:26Z"));
        T_EQ_INT(b.finished_at, t_ms("2026-04-03T17:29:13Z"));
        T_ASSERT(b.queued_s == 2.0);
        T_ASSERT(b.duration_s == 47.0);
        T_ASSERT(b.abort_reason == NULL);
        T_EQ_STR(b.machine_type, "g2.linux.medium");
        T_EQ_STR(b.stack, "linux-docker-android-22.04");
        T_ASSERT(BITRISE_BUILD_FINISHED(&b));
        bitrise_build_release(&b);
        bitrise_build_release(&b); /* twice is fine */
}

static void test_build_parse_aborted_and_old_fields(void) {
        bitrise_build_t b;
        build_from_fixture("devcenter_get_build_aborted_by_user.json", &b);
        T_EQ_INT(b.status, 3);
        T_EQ_STR(b.status_text, "aborted");
        T_EQ_STR(b.abort_reason, "User api-demo requested to abort this build "
                                 "with reason: This is an example abort build");
        T_ASSERT(b.commit_hash == NULL);
        T_ASSERT(b.machine_type == NULL && b.stack == NULL);
        T_ASSERT(b.queued_s == 0.0);
        T_ASSERT(b.duration_s == 15.0);
        T_EQ_INT(b.pull_request_id, 0);
        bitrise_build_release(&b);

        build_from_fixture("gitrise_error_status_response.json", &b);
        T_EQ_INT(b.status, 2);
        T_EQ_STR(b.status_text, "error");
        T_EQ_STR(b.machine_type, "elite1"); /* older stack_config_type */
        T_EQ_STR(b.stack, "osx-xcode-10.1.x");
        T_ASSERT(b.duration_s == 98.0);
        bitrise_build_release(&b);
}

static void test_build_parse_running_nulls_and_null_strings(void) {
        bitrise_build_t b;
        build_from_fixture("bituncle_build_in_progress_waiting_for_worker.json",
                           &b);
        /* a bare build object, no "data" envelope */
        T_EQ_INT(b.status, 0);
        T_EQ_STR(b.status_text, "in-progress");
        T_EQ_INT(b.number, 80);
        T_EQ_INT(b.started_at, 0);
        T_EQ_INT(b.finished_at, 0);
        T_ASSERT(b.queued_s < 0 && b.duration_s < 0);
        T_ASSERT(!BITRISE_BUILD_FINISHED(&b));
        bitrise_build_release(&b);

        build_from_fixture("gitrise_wait_for_worker_build_status.json", &b);
        T_EQ_INT(b.status, 1);     /* inconsistent on purpose: taken as sent */
        T_EQ_INT(b.started_at, 0); /* "null" as a string */
        T_EQ_INT(b.finished_at, 0);
        T_ASSERT(b.commit_hash == NULL);
        bitrise_build_release(&b);

        build_from_fixture("gitrise_on_hold_status_response.json", &b);
        T_EQ_STR(b.status_text, "on-hold");
        T_ASSERT(b.commit_hash == NULL); /* "" */
        T_EQ_STR(b.machine_type, "elite");
        bitrise_build_release(&b);
}

static void test_build_parse_bad_bodies(void) {
        static const struct {
                const char *body;
                const char *err;
        } cases[] = {
            {"", "empty body"},
            {"{\"data\": {\"status\": 1", "invalid JSON at byte 20 of 21"},
            {"[]", "JSON body is not an object"},
            {"<!DOCTYPE html><html></html>", "invalid JSON at byte 0 of 28"},
            {"{\"data\": []}", "\"data\" is not an object"},
            {"{\"data\": {}}", "build has no valid \"status\""},
            {"{\"message\":\"Not found\"}", "build has no valid \"status\""},
            {"{\"data\": {\"status\": \"x\"}}",
             "build has no valid \"status\""},
            {"{\"data\": {\"status\": 1}} trailing",
             "invalid JSON at byte 24 of 32 (trailing data)"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bitrise_build_t b;
                char err[160] = "";
                T_EQ_INT(bitrise_build_parse(cases[i].body,
                                             strlen(cases[i].body), &b, err,
                                             sizeof(err)),
                         -1);
                T_EQ_STR(err, cases[i].err);
                T_ASSERT(b.slug == NULL && b.status_text == NULL);
        }
        /* unknown fields and odd types are ignored */
        const char *ok =
            "{\"data\": {\"status\": \"2\", \"build_number\": \"7\", "
            "\"branch\": 5,"
            " \"new_field\": {\"x\": [1,2]}, \"triggered_at\": \"garbage\"}}";
        bitrise_build_t b;
        char err[160];
        T_EQ_INT(bitrise_build_parse(ok, strlen(ok), &b, err, sizeof(err)), 0);
        T_EQ_INT(b.status, 2);
        T_EQ_INT(b.number, 7);
        T_ASSERT(b.branch == NULL);
        T_EQ_INT(b.triggered_at, 0);
        bitrise_build_release(&b);
}

static void log_info_from_fixture(const char *file, bitrise_log_info_t *li) {
        size_t len    = 0;
        char err[160] = "";
        char *body    = fixture_read(file, &len);
        T_ASSERTF(body != NULL, "cannot read %s", file);
        int rc = bitrise_log_info_parse(body, len, li, err, sizeof(err));
        free(body);
        T_ASSERTF(rc == 0, "%s: %s", file, err);
}

static void test_log_info_descending_chunks_sorted(void) {
        bitrise_log_info_t li;
        log_info_from_fixture("gitrise_log_info_response_1.json", &li);
        T_EQ_INT(li.nchunks, 3);
        T_EQ_INT(li.chunks[0].position, 1);
        T_EQ_INT(li.chunks[1].position, 2);
        T_EQ_INT(li.chunks[2].position, 3);
        T_ASSERT(!strncmp(li.chunks[0].chunk, "Agent version:", 14));
        T_EQ_INT(li.is_archived, 0);
        T_ASSERT(li.raw_log_url == NULL);
        /* the 2019 envelope's "timestamp" stands for next_after_timestamp */
        T_EQ_STR(li.next_after_timestamp, "2020-07-25T21:54:10.736Z");
        T_EQ_INT(li.next_after_ms, t_ms("2020-07-25T21:54:10.736Z"));
        bitrise_log_info_release(&li);
}

static void test_log_info_archived_and_not(void) {
        bitrise_log_info_t li;
        log_info_from_fixture("gitrise_archived_log_info_response.json", &li);
        T_EQ_INT(li.is_archived, 1);
        T_EQ_STR(li.raw_log_url, "https://bitrise_test_url.com");
        T_EQ_STR(li.next_after_timestamp, "2021-09-10T15:27:31.178Z");
        T_EQ_STR(li.next_before_timestamp, "2021-09-10T15:27:15.345Z");
        T_EQ_INT(li.next_before_ms, t_ms("2021-09-10T15:27:15.345Z"));
        for (size_t i = 1; i < li.nchunks; i++)
                T_ASSERT(li.chunks[i].position > li.chunks[i - 1].position);
        bitrise_log_info_release(&li);

        log_info_from_fixture("gitrise_not_archived_log_info_response.json",
                              &li);
        T_EQ_INT(li.is_archived, 0);
        T_ASSERT(li.raw_log_url == NULL); /* the string "null" */
        T_EQ_INT(li.nchunks, 4);
        T_EQ_STR(li.chunks[3].chunk, "exit status 0");
        bitrise_log_info_release(&li);

        /* a chunk without a position keeps its place before position 5 */
        log_info_from_fixture(
            "gitrise_not_archived_log_info_response_v2019.json", &li);
        T_EQ_INT(li.nchunks, 10);
        T_ASSERT(!strncmp(li.chunks[0].chunk, "+-------", 8));
        T_EQ_INT(li.chunks[1].position, 5);
        T_EQ_INT(li.chunks[9].position, 14);
        bitrise_log_info_release(&li);

        log_info_from_fixture(
            "devcenter_log_info_aborted_build_archived_6_chunks.json", &li);
        T_EQ_INT(li.nchunks, 6);
        T_EQ_INT(li.chunks[0].position, 0);
        T_ASSERT(li.next_after_timestamp == NULL);
        T_ASSERT(li.raw_log_url != NULL &&
                 !strncmp(li.raw_log_url, "https://bitrise-build-log", 25));
        bitrise_log_info_release(&li);
}

static void test_log_info_dedup_and_zero_time(void) {
        const char *body =
            "{\"log_chunks\":[{\"chunk\":\"c\",\"position\":3},"
            "{\"chunk\":\"a\",\"position\":1},{\"chunk\":\"b-old\","
            "\"position\":2},"
            "{\"chunk\":\"b\",\"position\":2},{\"chunk\":7,\"position\":4},"
            "{\"position\":5},{\"chunk\":\"c\",\"position\":3}],"
            "\"next_after_timestamp\":\"0001-01-01T00:00:00Z\",\"is_archived\":"
            "false}";
        bitrise_log_info_t li;
        char err[160];
        T_EQ_INT(
            bitrise_log_info_parse(body, strlen(body), &li, err, sizeof(err)),
            0);
        T_EQ_INT(li.nchunks, 3);
        T_EQ_STR(li.chunks[0].chunk, "a");
        T_EQ_STR(li.chunks[1].chunk, "b"); /* the later copy wins */
        T_EQ_STR(li.chunks[2].chunk, "c");
        T_ASSERT(li.next_after_timestamp == NULL);
        T_EQ_INT(li.next_after_ms, 0);
        bitrise_log_info_release(&li);

        const char *bad = "{\"log_chunks\": {}}";
        T_EQ_INT(
            bitrise_log_info_parse(bad, strlen(bad), &li, err, sizeof(err)),
            -1);
        T_EQ_STR(err, "\"log_chunks\" is not an array");
        const char *empty = "{\"log_chunks\": [], \"is_archived\": true}";
        T_EQ_INT(
            bitrise_log_info_parse(empty, strlen(empty), &li, err, sizeof(err)),
            0);
        T_EQ_INT(li.nchunks, 0);
        T_EQ_INT(li.is_archived, 1);
        T_ASSERT(li.raw_log_url ==
                 NULL); /* archived without URL: log deleted */
        bitrise_log_info_release(&li);
}

static void test_apps_page_parse(void) {
        static const struct {
                const char *file;
                size_t n;
                const char *first;
                const char *next;
        } cases[] = {
            {"zolee_list_builds_all_apps_aborted_error_success.json", 50,
             "25aad1db523294f4", "f5c70e531269157f"},
            {"mcp_before_list_builds.json", 3,
             "a165162b-17ea-4f4f-b992-952d25b9280a",
             "d4aea743-5f69-4f01-86a0-33c5522be391"},
            {"zolee_list_builds_empty.json", 0, NULL, NULL},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t len    = 0;
                char err[160] = "";
                char *body    = fixture_read(cases[i].file, &len);
                T_ASSERT(body != NULL);
                bitrise_apps_page_t p;
                T_EQ_INT(
                    bitrise_apps_page_parse(body, len, &p, err, sizeof(err)),
                    0);
                free(body);
                T_EQ_INT(p.n, cases[i].n);
                if (cases[i].first)
                        T_EQ_STR(p.slugs[0], cases[i].first);
                if (cases[i].next)
                        T_EQ_STR(p.next, cases[i].next);
                else
                        T_ASSERT(p.next == NULL);
                bitrise_apps_page_release(&p);
        }
        bitrise_apps_page_t p;
        char err[160];
        T_EQ_INT(
            bitrise_apps_page_parse("{\"data\":{}}", 11, &p, err, sizeof(err)),
            -1);
        T_EQ_STR(err, "\"data\" is not an array");
}

/* ---- classification table ------------------------------------------- */

#define NOW_MS 1764331200000LL /* 2025-11-28T12:00:00Z */

static void test_classify_table(void) {
        static const struct {
                CURLcode code;
                long status;
                const char *hdrs[4];
                const char *body;
                bitrise_class_t want;
                int64_t retry_after_ms;
                const char *message;
        } cases[] = {
            {CURLE_OK, 200, {0}, "{}", BITRISE_OK, -1, ""},
            {CURLE_OK, 204, {0}, "", BITRISE_OK, -1, ""},
            {CURLE_OK,
             401,
             {0},
             "{\"message\":\"Unauthorized\"}",
             BITRISE_TOKEN_INVALID,
             -1,
             "cannot get build 1a2b: HTTP 401 (\"Unauthorized\")"},
            {CURLE_OK,
             403,
             {0},
             "{\"message\":\"Forbidden\"}",
             BITRISE_INSUFFICIENT_ROLE,
             -1,
             "cannot get build 1a2b: HTTP 403 (\"Forbidden\")"},
            {CURLE_OK,
             404,
             {0},
             "{\n\t\"message\":\"Not found\"\n}",
             BITRISE_NOT_FOUND,
             -1,
             "cannot get build 1a2b: HTTP 404 (\"Not found\")"},
            {CURLE_OK,
             429,
             {"Retry-After: 30\r\n"},
             "",
             BITRISE_RATE_LIMITED,
             30000,
             "cannot get build 1a2b: HTTP 429 (empty body)"},
            {CURLE_OK,
             429,
             {"retry-after:  Fri, 28 Nov 2025 12:01:40 GMT\r\n"},
             "{}",
             BITRISE_RATE_LIMITED,
             100000,
             "cannot get build 1a2b: HTTP 429 (JSON without a message)"},
            {CURLE_OK,
             429,
             {"Retry-After: Fri, 28 Nov 2025 11:00:00 GMT"},
             "{}",
             BITRISE_RATE_LIMITED,
             0,
             NULL}, /* a date in the past: now */
            {CURLE_OK,
             429,
             {"Retry-After: soon"},
             "{}",
             BITRISE_RATE_LIMITED,
             -1,
             NULL},
            {CURLE_OK, 429, {0}, "", BITRISE_RATE_LIMITED, -1, NULL},
            {CURLE_OK,
             502,
             {"Content-Type: text/html; charset=utf-8"},
             "<html>bad gateway</html>",
             BITRISE_TRANSIENT,
             -1,
             "cannot get build 1a2b: HTTP 502 (HTML page from a gateway)"},
            {CURLE_OK,
             503,
             {0},
             "\n\t<!DOCTYPE html>\n<html>",
             BITRISE_TRANSIENT,
             -1,
             "cannot get build 1a2b: HTTP 503 (HTML page from a gateway)"},
            {CURLE_OK,
             500,
             {0},
             "{\n\t\"message\":\"Internal Server Error\"\n}",
             BITRISE_TRANSIENT,
             -1,
             "cannot get build 1a2b: HTTP 500 (\"Internal Server Error\")"},
            {CURLE_OK,
             503,
             {"Retry-After: 5"},
             "oops",
             BITRISE_TRANSIENT,
             5000,
             "cannot get build 1a2b: HTTP 503 (body is not JSON (4 bytes))"},
            {CURLE_OK,
             400,
             {0},
             "{\"error_msg\":\"Build already finished, can't abort it.\"}",
             BITRISE_PERMANENT,
             -1,
             "cannot get build 1a2b: HTTP 400 (\"Build already finished, can't "
             "abort it.\")"},
            {CURLE_OK, 408, {0}, "", BITRISE_TRANSIENT, -1, NULL},
            {CURLE_OK, 410, {0}, "", BITRISE_PERMANENT, -1, NULL},
            {CURLE_OK,
             302,
             {"Location: https://elsewhere/"},
             "",
             BITRISE_PERMANENT,
             -1,
             NULL},
            {CURLE_OPERATION_TIMEDOUT,
             0,
             {0},
             "",
             BITRISE_TRANSIENT,
             -1,
             "cannot get build 1a2b: timed out"},
            {CURLE_PARTIAL_FILE,
             200,
             {0},
             "{\"da",
             BITRISE_TRANSIENT,
             -1,
             "cannot get build 1a2b: HTTP 200, truncated body"},
            {CURLE_RECV_ERROR,
             0,
             {0},
             "",
             BITRISE_TRANSIENT,
             -1,
             "cannot get build 1a2b: connection reset while receiving"},
            {CURLE_COULDNT_CONNECT,
             0,
             {0},
             "",
             BITRISE_TRANSIENT,
             -1,
             "cannot get build 1a2b: cannot connect"},
            {CURLE_PEER_FAILED_VERIFICATION,
             0,
             {0},
             "",
             BITRISE_TRANSIENT,
             -1,
             "cannot get build 1a2b: TLS certificate verification failed"},
            {CURLE_URL_MALFORMAT, 0, {0}, "", BITRISE_PERMANENT, -1, NULL},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bitrise_result_t res;
                memset(&res, 0, sizeof(res));
                bitrise_class_t cls = bitrise_classify(
                    cases[i].code, cases[i].status, cases[i].hdrs,
                    cases[i].body, strlen(cases[i].body), NOW_MS,
                    "get build 1a2b", &res);
                T_ASSERTF(cls == cases[i].want, "case %zu: %s != %s", i,
                          bitrise_class_name(cls),
                          bitrise_class_name(cases[i].want));
                T_ASSERTF(res.retry_after_ms == cases[i].retry_after_ms,
                          "case %zu: retry %lld", i,
                          (long long)res.retry_after_ms);
                T_EQ_INT(res.http_status, cases[i].status);
                if (cases[i].message)
                        T_EQ_STR(res.message, cases[i].message);
                else
                        T_ASSERT(res.message[0] != '\0');
        }
}

static void test_classify_ratelimit_headers(void) {
        static const struct {
                const char *hdrs[4];
                int present;
                long limit, remaining;
                int64_t reset_at_ms;
        } cases[] = {
            {{0}, 0, -1, -1, 0},
            {{"X-RateLimit-Limit: 5000", "X-RateLimit-Remaining: 42",
              "X-RateLimit-Reset: 60"},
             1,
             5000,
             42,
             NOW_MS + 60000},
            {{"x-ratelimit-reset: 1764331500"}, 1, -1, -1, 1764331500000LL},
            {{"X-RateLimit-Remaining: 0\r\n"}, 1, -1, 0, 0},
            {{"X-RateLimit-Limit: lots", "X-RateLimit-Reset: -5"},
             0,
             -1,
             -1,
             0},
            /* a second response (after a 100 or a redirect) starts afresh */
            {{"X-RateLimit-Limit: 10", "HTTP/1.1 200 OK",
              "X-RateLimit-Remaining: 3"},
             1,
             -1,
             3,
             0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bitrise_result_t res;
                bitrise_classify(CURLE_OK, 200, cases[i].hdrs, "{}", 2, NOW_MS,
                                 "list apps", &res);
                T_ASSERTF(res.rl.present == cases[i].present,
                          "case %zu present", i);
                T_ASSERTF(res.rl.limit == cases[i].limit, "case %zu limit %ld",
                          i, res.rl.limit);
                T_ASSERTF(res.rl.remaining == cases[i].remaining,
                          "case %zu remaining", i);
                T_ASSERTF(res.rl.reset_at_ms == cases[i].reset_at_ms,
                          "case %zu reset %lld", i,
                          (long long)res.rl.reset_at_ms);
        }
}

static void test_classify_real_error_bodies(void) {
        static const struct {
                const char *file;
                long status;
                const char *message;
        } cases[] = {
            {"gitrise_html_response.html", 503,
             "cannot list apps: HTTP 503 (HTML page from a gateway)"},
            {"dotanuki_error_404.json", 404,
             "cannot list apps: HTTP 404 (\"Not found\")"},
            {"dotanuki_error_5xx.json", 500,
             "cannot list apps: HTTP 500 (\"Internal Server Error\")"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t len = 0;
                char *body = fixture_read(cases[i].file, &len);
                T_ASSERT(body != NULL);
                bitrise_result_t res;
                bitrise_classify(CURLE_OK, cases[i].status, NULL, body, len,
                                 NOW_MS, "list apps", &res);
                free(body);
                T_EQ_STR(res.message, cases[i].message);
        }
        T_EQ_STR(bitrise_class_name(BITRISE_RATE_LIMITED), "rate_limited");
}

int main(void) {
        T_RUN(test_build_parse_mcp_all_fields);
        T_RUN(test_build_parse_aborted_and_old_fields);
        T_RUN(test_build_parse_running_nulls_and_null_strings);
        T_RUN(test_build_parse_bad_bodies);
        T_RUN(test_log_info_descending_chunks_sorted);
        T_RUN(test_log_info_archived_and_not);
        T_RUN(test_log_info_dedup_and_zero_time);
        T_RUN(test_apps_page_parse);
        T_RUN(test_classify_table);
        T_RUN(test_classify_ratelimit_headers);
        T_RUN(test_classify_real_error_bodies);
        return t_done();
}
