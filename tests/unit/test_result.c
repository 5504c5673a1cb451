/* Unit tests for producer/result: golden JSON for each event, nulls for
 * unknown values, the error table, and that no URL can leak. */
#include <cJSON.h>

#include "producer/result.h"
#include "tests/assert.h"

#define JOBF                                                                   \
        .job_id = "j-1", .workspace = "acme", .app_slug = "669403bffbe35909",  \
        .build_slug = "0f3c8e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6",                  \
        .attrs_json = "{\"pr\":42}", .observed_at_ms = 1775237304123LL,        \
        .worker = "pod-1/w0"

#define JOB_JSON                                                               \
        "{\"v\":1,\"job_id\":\"j-1\",\"workspace\":\"acme\","                  \
        "\"app_slug\":\"669403bffbe35909\","                                   \
        "\"build_slug\":\"0f3c8e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6\","             \
        "\"attrs\":{\"pr\":42},"
#define TAIL_JSON                                                              \
        "\"observed_at\":\"2026-04-03T17:28:24.123Z\",\"worker\":\"pod-1/"     \
        "w0\"}"

static const result_build_t build = {
    .number          = 77,
    .status          = 2,
    .status_text     = "error",
    .workflow        = "primary",
    .branch          = "main",
    .commit_hash     = "abc123",
    .pull_request_id = 0,
    .triggered_at_ms = 1775237000000LL,
    .started_at_ms   = 1775237010000LL,
    .finished_at_ms  = 1775237300000LL,
    .queued_s        = 10,
    .duration_s      = 290,
    .abort_reason    = NULL,
    .machine_type    = "g2.mac.medium",
    .stack           = "osx-xcode-16.0.x",
};

#define BUILD_JSON                                                             \
        "\"build\":{\"number\":77,\"status\":2,\"status_text\":\"error\","     \
        "\"workflow\":\"primary\",\"branch\":\"main\",\"commit_hash\":"        \
        "\"abc123\",\"pull_request_id\":0,\"triggered_at\":"                   \
        "\"2026-04-03T17:23:20Z\",\"started_at\":\"2026-04-03T17:23:30Z\","    \
        "\"finished_at\":\"2026-04-03T17:28:20Z\",\"queued_s\":10,"            \
        "\"duration_s\":290,\"abort_reason\":null,\"machine_type\":"           \
        "\"g2.mac.medium\",\"stack\":\"osx-xcode-16.0.x\"},"

static void check(const result_t *r, const char *want) {
        char err[128];
        char *s = result_to_json(r, err, sizeof(err));
        T_ASSERTF(s != NULL, "encode failed: %s", err);
        T_ASSERTF(strcmp(s, want) == 0, "\n got: %s\nwant: %s", s, want);
        T_ASSERT(strstr(s, "url") == NULL);
        free(s);
}

static void test_result_status_event(void) {
        result_build_t b = {.number          = 5,
                            .status          = 0,
                            .status_text     = "in-progress",
                            .pull_request_id = -1,
                            .queued_s        = -1,
                            .duration_s      = -1};
        result_t r       = {JOBF, .event = RESULT_EVENT_STATUS, .build = &b};
        check(&r, JOB_JSON "\"event\":\"status\",\"build\":{\"number\":5,"
                           "\"status\":0,\"status_text\":\"in-progress\","
                           "\"workflow\":null,\"branch\":null,"
                           "\"commit_hash\":null,\"pull_request_id\":null,"
                           "\"triggered_at\":null,\"started_at\":null,"
                           "\"finished_at\":null,\"queued_s\":null,"
                           "\"duration_s\":null,\"abort_reason\":null,"
                           "\"machine_type\":null,\"stack\":null}," TAIL_JSON);
}

static void test_result_finished_event(void) {
        const char *l1[]   = {"error: build failed", "exit status 65"};
        const char *tail[] = {"a \"quoted\" line", "last\tline"};
        result_step_t step = {.title        = "Xcode Test",
                              .step_id      = "xcode-test",
                              .exit_code    = 65,
                              .duration_s   = 120,
                              .last_lines   = l1,
                              .n_last_lines = 2};
        result_log_t log   = {.archived       = true,
                              .bytes          = 1234,
                              .lines          = 56,
                              .truncated      = false,
                              .sha256         = "ab12",
                              .failed_steps   = &step,
                              .n_failed_steps = 1,
                              .tail           = tail,
                              .n_tail         = 2};
        result_t r = {JOBF, .event = RESULT_EVENT_FINISHED, .build = &build,
                      .log = &log};
        check(&r, JOB_JSON "\"event\":\"finished\"," BUILD_JSON
                           "\"log\":{\"available\":true,\"unavailable\":"
                           "null,\"archived\":true,\"bytes\":1234,"
                           "\"lines\":56,\"truncated\":false,\"sha256\":"
                           "\"ab12\",\"failed_steps\":[{\"title\":"
                           "\"Xcode Test\",\"step_id\":\"xcode-test\","
                           "\"exit_code\":65,\"duration_s\":120,"
                           "\"last_lines\":[\"error: build failed\","
                           "\"exit status 65\"]}],\"tail\":[\"a \\\"quoted\\\" "
                           "line\",\"last\\tline\"]}," TAIL_JSON);
        /* finished without log summary (log: none) */
        r.log = NULL;
        check(&r, JOB_JSON "\"event\":\"finished\"," BUILD_JSON
                           "\"log\":null," TAIL_JSON);
        /* the log is gone: the same shape, empty, and why */
        result_log_t gone = {.unavailable = "deleted", .archived = true};
        r.log             = &gone;
        check(&r, JOB_JSON "\"event\":\"finished\"," BUILD_JSON
                           "\"log\":{\"available\":false,\"unavailable\":"
                           "\"deleted\",\"archived\":true,\"bytes\":0,"
                           "\"lines\":0,\"truncated\":false,\"sha256\":null,"
                           "\"failed_steps\":[],\"tail\":[]}," TAIL_JSON);
}

/* log: full: log.full references the copy in the logs topic (null
 * without one); not written for other jobs. */
static void test_result_full_log(void) {
        int64_t offs[3]  = {7, 12, 30};
        char topic[]     = "bitmon.logs";
        logseg_ref_t ref = {.topic     = topic,
                            .partition = 4,
                            .offsets   = offs,
                            .n         = 3,
                            .bytes     = 1234,
                            .sha256    = "ab12",
                            .truncated = 0,
                            .copy      = "00ff00ff00ff00ff"};
        result_log_t log = {.archived   = true,
                            .bytes      = 1234,
                            .lines      = 56,
                            .sha256     = "ab12",
                            .full_asked = true,
                            .full       = &ref};
        result_t r = {JOBF, .event = RESULT_EVENT_FINISHED, .build = &build,
                      .log = &log};
#define LOG_HEAD                                                               \
        "\"log\":{\"available\":true,\"unavailable\":null,\"archived\":true,"  \
        "\"bytes\":1234,\"lines\":56,\"truncated\":false,\"sha256\":"          \
        "\"ab12\",\"failed_steps\":[],\"tail\":[]"
        check(&r,
              JOB_JSON "\"event\":\"finished\"," BUILD_JSON LOG_HEAD
                       ",\"full\":{\"topic\":\"bitmon.logs\",\"partition\":4,"
                       "\"offsets\":[7,12,30],\"segments\":3,\"bytes\":1234,"
                       "\"sha256\":\"ab12\",\"truncated\":false,\"copy\":"
                       "\"00ff00ff00ff00ff\"}}," TAIL_JSON);
        log.full = NULL;
        check(&r, JOB_JSON "\"event\":\"finished\"," BUILD_JSON LOG_HEAD
                           ",\"full\":null}," TAIL_JSON);
        log.full_asked = false;
        check(&r, JOB_JSON "\"event\":\"finished\"," BUILD_JSON LOG_HEAD
                           "}," TAIL_JSON);
#undef LOG_HEAD
}

static void test_result_error_event(void) {
        result_error_t e = result_error_make(RESULT_ERR_TOKEN_INVALID);
        e.message        = "custom";
        result_t r       = {JOBF, .event = RESULT_EVENT_ERROR, .error = &e};
        check(&r, JOB_JSON "\"event\":\"error\",\"build\":null,\"error\":{"
                           "\"code\":\"token_invalid\",\"message\":\"custom\","
                           "\"retryable\":false}," TAIL_JSON);
        /* a log on a non-finished event is not written */
        result_log_t log = {0};
        r.log            = &log;
        e = (result_error_t){.code = "deadline_exceeded", .retryable = true};
        char err[128];
        char *s = result_to_json(&r, err, sizeof(err));
        T_ASSERT(s && strstr(s, "\"log\"") == NULL);
        T_ASSERT(
            strstr(s, result_errinfo(RESULT_ERR_DEADLINE_EXCEEDED)->message));
        free(s);
}

static void test_result_rejects(void) {
        char err[128];
        result_t r = {JOBF, .event = RESULT_EVENT_ERROR};
        T_ASSERT(result_to_json(&r, err, sizeof(err)) == NULL);
        T_EQ_STR(err, "error event without error code");
        r.event      = RESULT_EVENT_STATUS;
        r.attrs_json = "[1]";
        T_ASSERT(result_to_json(&r, err, sizeof(err)) == NULL);
        T_EQ_STR(err, "attrs is not a JSON object");
        r.attrs_json = NULL;
        r.job_id     = NULL;
        T_ASSERT(result_to_json(&r, err, sizeof(err)) == NULL);
        T_EQ_STR(err, "result lacks its job fields");
        r.job_id = "x";
        char key[100];
        result_key(&r, key, sizeof(key));
        T_EQ_STR(key, "669403bffbe35909/0f3c8e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6");
}

static void test_result_error_table(void) {
        static const struct {
                result_errcode_t id;
                const char *code;
                bool retryable;
        } want[] = {
            {RESULT_ERR_TOKEN_MISSING, "token_missing", false},
            {RESULT_ERR_TOKEN_INVALID, "token_invalid", false},
            {RESULT_ERR_INSUFFICIENT_ROLE, "insufficient_role", false},
            {RESULT_ERR_NOT_FOUND, "not_found", false},
            {RESULT_ERR_UPSTREAM_UNAVAILABLE, "upstream_unavailable", true},
            {RESULT_ERR_RATE_LIMITED, "rate_limited", true},
            {RESULT_ERR_DEADLINE_EXCEEDED, "deadline_exceeded", true},
        };
        T_EQ_INT(sizeof(want) / sizeof(want[0]), RESULT_ERR__COUNT);
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                const result_errinfo_t *e = result_errinfo(want[i].id);
                T_ASSERT(e && e->id == want[i].id);
                T_EQ_STR(e->code, want[i].code);
                T_EQ_INT(e->retryable, want[i].retryable);
                T_ASSERT(strlen(e->message) > 40);
                T_ASSERT(result_errinfo_find(want[i].code) == e);
        }
        T_ASSERT(result_errinfo_find("nope") == NULL);
        T_ASSERT(result_errinfo(RESULT_ERR__COUNT) == NULL);
        T_ASSERT(strstr(result_errinfo(RESULT_ERR_INSUFFICIENT_ROLE)->message,
                        "Developer"));
}

/* Strings are escaped byte for byte as cJSON prints them: random strings
 * of every byte value (1..255, runs of plain text between), in the tail
 * and in a build field, against cJSON_PrintUnformatted of the same string;
 * and the whole result parses back to the same strings. */
static void test_result_escaping_matches_cjson(void) {
        char err[128], s[64], want[512];
        unsigned seed = 12345;
        int bad       = 0;
        for (int k = 0; k < 5000 && bad < 3; k++) {
                size_t n = (seed = seed * 1103515245u + 12345u) % sizeof(s);
                for (size_t i = 0; i < n; i++) {
                        seed       = seed * 1103515245u + 12345u;
                        unsigned v = (seed >> 16) % 300;
                        s[i]       = (char)(v < 255 ? v + 1 : 'a' + v % 26);
                }
                s[n]               = '\0';
                const char *tail[] = {s};
                result_build_t b   = build;
                b.branch           = s;
                result_log_t lg = {.archived = true, .tail = tail, .n_tail = 1};
                result_t r = {JOBF, .event = RESULT_EVENT_FINISHED, .build = &b,
                              .log = &lg};
                char *out  = result_to_json(&r, err, sizeof(err));
                cJSON *str = cJSON_CreateString(s);
                char *esc  = cJSON_PrintUnformatted(str);
                snprintf(want, sizeof(want), "\"tail\":[%s]", esc);
                cJSON *back = out ? cJSON_Parse(out) : NULL;
                cJSON *blog = cJSON_GetObjectItemCaseSensitive(back, "log");
                cJSON *bt   = cJSON_GetObjectItemCaseSensitive(blog, "tail");
                cJSON *bb   = cJSON_GetObjectItemCaseSensitive(back, "build");
                cJSON *br   = cJSON_GetObjectItemCaseSensitive(bb, "branch");
                const char *t0 =
                    cJSON_GetStringValue(cJSON_GetArrayItem(bt, 0));
                if (!out || !strstr(out, want) || !t0 || strcmp(t0, s) != 0 ||
                    !cJSON_GetStringValue(br) ||
                    strcmp(cJSON_GetStringValue(br), s) != 0) {
                        bad++;
                        printf("  string %d: got %s\n  want %s\n", k,
                               out ? out : err, want);
                }
                cJSON_Delete(back);
                cJSON_Delete(str);
                free(esc);
                free(out);
        }
        T_EQ_INT(bad, 0);
}

int main(void) {
        T_RUN(test_result_status_event);
        T_RUN(test_result_finished_event);
        T_RUN(test_result_full_log);
        T_RUN(test_result_error_event);
        T_RUN(test_result_rejects);
        T_RUN(test_result_error_table);
        T_RUN(test_result_escaping_matches_cjson);
        return t_done();
}
