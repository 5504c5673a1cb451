/* tests/unit/test_monitor_result.c — the monitor's JSON: a build survives
 * the build cache round trip (monitor_build_to_json → bitrise_build_parse),
 * and results carry the right event, final flag, log and error fields. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tests/assert.h"
#include "workers/monitor_int.h"

static bitrise_build_t sample_build(void) {
        bitrise_build_t b = {0};
        b.slug            = strdup("3247e2920496e846");
        b.number          = 12;
        b.status          = 2;
        b.status_text     = strdup("error");
        b.workflow        = strdup("primary");
        b.branch          = strdup("main");
        b.pull_request_id = 17;
        b.triggered_at    = 1764361200000;
        b.started_at      = 1764361230000;
        b.finished_at     = 1764361530000;
        b.queued_s        = 30;
        b.duration_s      = 300;
        b.abort_reason    = NULL;
        b.machine_type    = strdup("g2.linux.medium");
        return b;
}

static void test_build_roundtrip(void) {
        bitrise_build_t b = sample_build(), back;
        char err[200];
        char *json = monitor_build_to_json(&b);
        T_ASSERT(json != NULL);
        T_EQ_INT(
            bitrise_build_parse(json, strlen(json), &back, err, sizeof(err)),
            0);
        T_EQ_STR(back.slug, b.slug);
        T_EQ_INT(back.number, 12);
        T_EQ_INT(back.status, 2);
        T_EQ_STR(back.status_text, "error");
        T_EQ_STR(back.workflow, "primary");
        T_EQ_STR(back.branch, "main");
        T_ASSERT(back.commit_hash == NULL && back.abort_reason == NULL);
        T_EQ_INT(back.pull_request_id, 17);
        T_ASSERT(back.triggered_at == b.triggered_at);
        T_ASSERT(back.started_at == b.started_at);
        T_ASSERT(back.finished_at == b.finished_at);
        T_ASSERT(back.queued_s == 30 && back.duration_s == 300);
        T_EQ_STR(back.machine_type, "g2.linux.medium");
        free(json);
        bitrise_build_release(&back);
        bitrise_build_release(&b);
}

static cJSON *result(monitor_job_t *mj, watch_event_t ev, int last,
                     const bitrise_build_t *b, const logparse_t *lp,
                     const watch_error_t *e) {
        char err[200];
        char *json = monitor_result_json(mj, ev, last, b, lp, 1, NULL, e,
                                         "pod/w0", err, sizeof(err));
        T_ASSERTF(json != NULL, "%s", err);
        cJSON *o = json ? cJSON_Parse(json) : NULL;
        free(json);
        return o;
}

static monitor_job_t *sample_job(job_log_t log) {
        job_t *j      = calloc(1, sizeof(*j));
        j->job_id     = "job-1";
        j->workspace  = "ws-acme";
        j->app_slug   = "669403bffbe35909";
        j->build_slug = "3247e2920496e846";
        j->attrs_json = strdup("{\"trace\":\"t1\"}");
        j->log        = log;
        return monitor_job_new(j, 3, 42);
}

static const char *str(const cJSON *o, const char *path1, const char *k) {
        const cJSON *p = path1 ? cJSON_GetObjectItem(o, path1) : o;
        const cJSON *v = cJSON_GetObjectItem(p, k);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_status_final(void) {
        monitor_job_t *mj = sample_job(JOB_LOG_SUMMARY);
        bitrise_build_t b = sample_build();
        b.status          = 0;
        free(b.status_text);
        b.status_text = strdup("in-progress");
        cJSON *o      = result(mj, WATCH_EV_STATUS, 1, &b, NULL, NULL);
        T_EQ_STR(str(o, NULL, "event"), "status");
        T_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(o, "final")));
        T_EQ_STR(str(o, "attrs", "trace"), "t1");
        T_EQ_STR(str(o, NULL, "worker"), "pod/w0");
        cJSON_Delete(o);
        o = result(mj, WATCH_EV_STATUS, 0, &b, NULL, NULL);
        T_ASSERT(cJSON_GetObjectItem(o, "final") == NULL);
        cJSON_Delete(o);
        bitrise_build_release(&b);
        monitor_job_free(mj);
}

static void test_finished_log(void) {
        static const char log[] = "+-------------------------------------------"
                                  "-----------------------------------+\n"
                                  "| (0) git-clone                             "
                                  "                                   |\n"
                                  "+-------------------------------------------"
                                  "-----------------------------------+\n"
                                  "hello\n";
        monitor_job_t *mj       = sample_job(JOB_LOG_SUMMARY);
        monitor_job_t *mjn      = sample_job(JOB_LOG_NONE);
        bitrise_build_t b       = sample_build();
        logparse_t *lp          = logparse_new(NULL);
        logparse_feed(lp, log, sizeof(log) - 1);
        logparse_finish(lp);
        cJSON *o       = result(mj, WATCH_EV_FINISHED, 1, &b, lp, NULL);
        const cJSON *l = cJSON_GetObjectItem(o, "log");
        T_ASSERT(cJSON_IsObject(l));
        T_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(l, "archived")));
        T_ASSERT(cJSON_GetObjectItem(l, "bytes")->valuedouble ==
                 (double)(sizeof(log) - 1));
        T_ASSERT(cJSON_GetObjectItem(o, "final") == NULL);
        cJSON_Delete(o);
        o = result(mjn, WATCH_EV_FINISHED, 1, &b, lp, NULL);
        T_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(o, "log")));
        cJSON_Delete(o);
        logparse_destroy(lp);
        bitrise_build_release(&b);
        monitor_job_free(mj);
        monitor_job_free(mjn);
}

/* A finished build whose log is gone: `finished`, the build filled, the
 * log object in its one shape saying why; log=none jobs still get null. */
static void test_finished_log_gone(void) {
        static const struct {
                watch_log_gone_t why;
                int archived;
                const char *name;
        } rows[] = {
            {WATCH_LOG_GONE_DELETED, 1, "deleted"},
            {WATCH_LOG_GONE_NOT_ARCHIVED, 0, "not_archived"},
            {WATCH_LOG_GONE_DOWNLOAD_FAILED, 1, "download_failed"},
            {WATCH_LOG_GONE_DEADLINE, 0, "deadline"},
        };
        monitor_job_t *mj  = sample_job(JOB_LOG_SUMMARY);
        monitor_job_t *mjn = sample_job(JOB_LOG_NONE);
        bitrise_build_t b  = sample_build();
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                watch_error_t e = {.message      = "log of build x gone",
                                   .log_gone     = rows[i].why,
                                   .log_archived = rows[i].archived};
                cJSON *o       = result(mj, WATCH_EV_FINISHED, 1, &b, NULL, &e);
                const cJSON *l = cJSON_GetObjectItem(o, "log");
                T_EQ_STR(str(o, NULL, "event"), "finished");
                T_ASSERT(cJSON_GetObjectItem(o, "error") == NULL);
                T_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "build"),
                                             "status")
                             ->valueint,
                         2);
                T_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(l, "available")));
                T_EQ_STR(str(o, "log", "unavailable"), rows[i].name);
                T_EQ_INT(cJSON_IsTrue(cJSON_GetObjectItem(l, "archived")),
                         rows[i].archived);
                T_ASSERT(cJSON_GetObjectItem(l, "bytes")->valuedouble == 0);
                T_ASSERT(cJSON_GetArraySize(
                             cJSON_GetObjectItem(l, "failed_steps")) == 0);
                cJSON_Delete(o);
                o = result(mjn, WATCH_EV_FINISHED, 1, &b, NULL, &e);
                T_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(o, "log")));
                cJSON_Delete(o);
        }
        T_ASSERT(watch_log_gone_name(WATCH_LOG_READ) == NULL);
        T_ASSERT(watch_log_gone_name(WATCH_LOG_GONE__COUNT) == NULL);
        bitrise_build_release(&b);
        monitor_job_free(mj);
        monitor_job_free(mjn);
}

static void test_error(void) {
        monitor_job_t *mj = sample_job(JOB_LOG_SUMMARY);
        watch_error_t e   = {.code    = WATCH_ERR_TOKEN_INVALID,
                             .message = "cannot get build 3247e292: HTTP 401"};
        cJSON *o          = result(mj, WATCH_EV_ERROR, 1, NULL, NULL, &e);
        T_EQ_STR(str(o, NULL, "event"), "error");
        T_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(o, "build")));
        T_EQ_STR(str(o, "error", "code"), "token_invalid");
        const char *msg = str(o, "error", "message");
        T_ASSERT(msg && strstr(msg, "create a new Workspace API token") &&
                 strstr(msg, "(cannot get build 3247e292: HTTP 401)"));
        cJSON_Delete(o);
        char err[100];
        T_ASSERT(monitor_result_json(mj, WATCH_EV_ERROR, 1, NULL, NULL, 0, NULL,
                                     NULL, "w", err, sizeof(err)) == NULL);
        monitor_job_free(mj);
}

static void test_partitions_pred(void) {
        monitor_job_t *mj  = sample_job(JOB_LOG_NONE);
        const int32_t in[] = {1, 3}, out[] = {0, 2};
        monitor_partitions_t p_in  = {in, 2};
        monitor_partitions_t p_out = {out, 2};
        T_EQ_INT(monitor_job_in_partitions(mj, &p_in), 1);
        T_EQ_INT(monitor_job_in_partitions(mj, &p_out), 0);
        watch_job_t wj;
        monitor_job_describe(mj, &wj);
        T_ASSERT(wj.job == mj && wj.log == WATCH_LOG_NONE);
        T_EQ_STR(wj.workspace, "ws-acme");
        monitor_job_free(mj);
}

int main(void) {
        T_RUN(test_build_roundtrip);
        T_RUN(test_status_final);
        T_RUN(test_finished_log);
        T_RUN(test_finished_log_gone);
        T_RUN(test_error);
        T_RUN(test_partitions_pred);
        return t_done();
}
