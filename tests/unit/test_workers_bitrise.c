/* Unit tests for workers/watch_bitrise: watch requests through the real
 * Bitrise client on a worker loop, against a local libmicrohttpd stand-in
 * for the API (answers by path), then a whole watch from running to a parsed
 * raw log. */
#include "workers/watch_bitrise.h"

#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/support/fixtures.h"

static int scale = 1;
static int port;
static char *raw_log; /* a real failed build log from shared/ */
static size_t raw_log_len;
static _Atomic long builds_served;

/* ---- the API stand-in ------------------------------------------------------
 */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *body, const char *retry_after) {
        struct MHD_Response *r = MHD_create_response_from_buffer(
            strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
        if (retry_after)
                MHD_add_response_header(r, "Retry-After", retry_after);
        enum MHD_Result rc = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return rc;
}

static enum MHD_Result api(void *cls, struct MHD_Connection *c, const char *url,
                           const char *method, const char *version,
                           const char *upload, size_t *upload_size,
                           void **con_cls) {
        (void)cls, (void)method, (void)version, (void)upload;
        (void)upload_size, (void)con_cls;
        const char *auth =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        static const char pre[] = "/v0.1/apps/669403bffbe35909/builds/";
        char body[512];
        if (strcmp(url, "/raw/1a2b3c4d5e6f7a8b") == 0) {
                if (auth) /* the raw log must go without credentials */
                        return reply(c, 400, "credentials sent", NULL);
                struct MHD_Response *r = MHD_create_response_from_buffer(
                    raw_log_len, raw_log, MHD_RESPMEM_PERSISTENT);
                enum MHD_Result rc = MHD_queue_response(c, 200, r);
                MHD_destroy_response(r);
                return rc;
        }
        if (strncmp(url, pre, sizeof(pre) - 1) != 0)
                return reply(c, 404, "{\"message\":\"Not Found\"}", NULL);
        if (!auth || strcmp(auth, "bitwat_test") != 0)
                return reply(c, 401, "{\"message\":\"Unauthorized\"}", NULL);
        const char *b = url + sizeof(pre) - 1;
        if (strcmp(b, "1a2b3c4d5e6f7a8b") == 0) {
                /* Running for the first two polls, then failed. */
                long n = atomic_fetch_add(&builds_served, 1);
                snprintf(body, sizeof(body),
                         "{\"data\":{\"slug\":\"1a2b3c4d5e6f7a8b\","
                         "\"build_number\":42,\"status\":%d,"
                         "\"status_text\":\"%s\",\"is_on_hold\":false,"
                         "\"triggered_workflow\":\"primary\"}}",
                         n < 2 ? 0 : 2, n < 2 ? "in-progress" : "error");
                return reply(c, 200, body, NULL);
        }
        if (strcmp(b, "1a2b3c4d5e6f7a8b/log") == 0) {
                snprintf(body, sizeof(body),
                         "{\"log_chunks\":[],\"is_archived\":true,"
                         "\"expiring_raw_log_url\":"
                         "\"http://127.0.0.1:%d/raw/1a2b3c4d5e6f7a8b\"}",
                         port);
                return reply(c, 200, body, NULL);
        }
        if (strcmp(b, "0000000000000401") == 0)
                return reply(c, 401, "{\"message\":\"Unauthorized\"}", NULL);
        if (strcmp(b, "0000000000000403") == 0)
                return reply(c, 403, "{\"message\":\"Forbidden\"}", NULL);
        if (strcmp(b, "0000000000000429") == 0)
                return reply(c, 429, "{\"message\":\"slow down\"}", "7");
        if (strcmp(b, "0000000000000503") == 0)
                return reply(c, 503, "<html><body>Bad gateway</body></html>",
                             NULL);
        return reply(c, 404, "{\"message\":\"Not Found\"}", NULL);
}

/* ---- requests one by one ----------------------------------------------------
 */

typedef struct one {
        watch_bitrise_t wb;
        loop_t *loop;
        const char *build;
        watch_request_t req;
        watch_ans_class_t cls;
        long http;
        int64_t retry_after;
        int build_status;
        char message[320];
        _Atomic long done;
} one_t;

static void one_cb(void *arg, watch_answer_t *ans) {
        one_t *o        = arg;
        o->cls          = ans->cls;
        o->http         = ans->http_status;
        o->retry_after  = ans->retry_after_ms;
        o->build_status = ans->build_status;
        snprintf(o->message, sizeof(o->message), "%s",
                 ans->message ? ans->message : "");
        atomic_store(&o->done, 1);
}

static void one_start(void *arg) {
        one_t *o = arg;
        char err[256];
        o->req = (watch_request_t){.kind       = WATCH_REQ_BUILD,
                                   .token      = "bitwat_test",
                                   .app_slug   = "669403bffbe35909",
                                   .build_slug = o->build,
                                   .cb         = one_cb,
                                   .cb_arg     = o};
        if (watch_bitrise_request_start(&o->wb, o->loop, &o->req, err,
                                        sizeof(err)) != 0) {
                snprintf(o->message, sizeof(o->message), "start: %s", err);
                atomic_store(&o->done, 1);
        }
}

static void test_bitrise_answers_are_classified(void) {
        static const struct {
                const char *build;
                watch_ans_class_t cls;
                long http;
                int64_t retry_after;
        } cases[] = {
            {"1a2b3c4d5e6f7a8b", WATCH_ANS_OK, 200, -1},
            {"0000000000000401", WATCH_ANS_TOKEN_INVALID, 401, -1},
            {"0000000000000403", WATCH_ANS_INSUFFICIENT_ROLE, 403, -1},
            {"0000000000000404", WATCH_ANS_NOT_FOUND, 404, -1},
            {"0000000000000429", WATCH_ANS_RATE_LIMITED, 429, 7000},
            {"0000000000000503", WATCH_ANS_TRANSIENT, 503, -1},
        };
        char err[256];
        char base[64];
        snprintf(base, sizeof(base), "http://127.0.0.1:%d/v0.1", port);
        bitrise_client_opts_t co = {.base_url = base};
        bitrise_client_t *client = bitrise_client_new(&co, err, sizeof(err));
        T_ASSERTF(client, "%s", err);
        loop_t *loop = loop_new(NULL, err, sizeof(err));
        T_ASSERT(loop && loop_start(loop, err, sizeof(err)) == 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                static one_t o;
                memset(&o, 0, sizeof(o));
                o.wb.client = client;
                o.loop      = loop;
                o.build     = cases[i].build;
                atomic_store(&builds_served, 0);
                loop_post(loop, one_start, &o);
                int64_t until = time_mono_ms() + 5000 * scale;
                while (!atomic_load(&o.done) && time_mono_ms() < until)
                        usleep(1000);
                T_ASSERTF(o.cls == cases[i].cls && o.http == cases[i].http,
                          "%s: class %d http %ld (%s)", cases[i].build,
                          (int)o.cls, o.http, o.message);
                T_EQ_INT(o.retry_after, cases[i].retry_after);
                T_ASSERT(!strstr(o.message, "bitwat_test"));
        }
        loop_destroy(loop);
        bitrise_client_destroy(client);
}

/* ---- a whole watch
 * ------------------------------------------------------------ */

typedef struct wctx {
        watch_bitrise_t wb;
        watch_table_t *tbl;
        loop_t *loop;
        char events[256];
        int failed_steps;
        long log_lines;
        long build_number;
        _Atomic long done;
} wctx_t;

static int w_token(void *ctx, const char *ws, char *tok, size_t ts, char *fp,
                   size_t fs, char *err, size_t es) {
        (void)ctx, (void)ws, (void)err, (void)es;
        snprintf(tok, ts, "bitwat_test");
        snprintf(fp, fs, "0badc0de");
        return 0;
}

static int w_start(void *ctx, loop_t *loop, watch_request_t *req, char *err,
                   size_t es) {
        wctx_t *c = ctx;
        return watch_bitrise_request_start(&c->wb, loop, req, err, es);
}

static void w_cancel(void *ctx, watch_request_t *req) {
        (void)ctx;
        watch_bitrise_request_cancel(req);
}

static void w_free(void *ctx, watch_req_kind_t kind, void *payload) {
        (void)ctx;
        watch_bitrise_payload_free(kind, payload);
}

static int w_publish(void *ctx, void *job, watch_event_t ev, int last,
                     const void *build, const void *log,
                     const watch_error_t *err) {
        wctx_t *c                = ctx;
        const bitrise_build_t *b = build;
        (void)job, (void)last;
        size_t n = strlen(c->events);
        snprintf(c->events + n, sizeof(c->events) - n, "%s%s:%s", n ? " " : "",
                 ev == WATCH_EV_STATUS     ? "status"
                 : ev == WATCH_EV_FINISHED ? "finished"
                                           : "error",
                 err ? watch_errcode_name(err->code)
                 : b ? (b->status_text ? b->status_text : "?")
                     : "nobuild");
        if (b)
                c->build_number = b->number;
        if (log) {
                c->failed_steps = (int)logparse_failed_count(log);
                c->log_lines    = (long)logparse_lines(log);
        }
        return 0;
}

static void w_done(void *ctx, void *job, watch_job_end_t how) {
        wctx_t *c = ctx;
        (void)job, (void)how;
        atomic_store(&c->done, 1);
}

static void w_setup(void *arg) {
        wctx_t *c       = arg;
        watch_seams_t s = {.ctx            = c,
                           .token_get      = w_token,
                           .request_start  = w_start,
                           .request_cancel = w_cancel,
                           .payload_free   = w_free,
                           .publish        = w_publish,
                           .job_done       = w_done};
        watch_opts_t o  = {.running_ms = 5, .jitter = -1};
        c->tbl          = watch_table_new(c->loop, &o, &s);
        watch_job_t j   = {.job        = c,
                           .workspace  = "ws-1",
                           .app_slug   = "669403bffbe35909",
                           .build_slug = "1a2b3c4d5e6f7a8b",
                           .follow     = 1,
                           .log        = WATCH_LOG_SUMMARY};
        watch_table_add(c->tbl, &j);
}

static void w_teardown(void *arg) {
        wctx_t *c = arg;
        watch_table_destroy(c->tbl);
        atomic_store(&c->done, 2);
}

static void test_bitrise_watch_to_parsed_log(void) {
        char err[256], base[64];
        snprintf(base, sizeof(base), "http://127.0.0.1:%d/v0.1", port);
        bitrise_client_opts_t co = {.base_url = base};
        static wctx_t c;
        memset(&c, 0, sizeof(c));
        atomic_store(&builds_served, 0);
        c.wb.client = bitrise_client_new(&co, err, sizeof(err));
        T_ASSERTF(c.wb.client, "%s", err);
        c.loop = loop_new(NULL, err, sizeof(err));
        T_ASSERT(c.loop && loop_start(c.loop, err, sizeof(err)) == 0);
        loop_post(c.loop, w_setup, &c);
        int64_t until = time_mono_ms() + 10000 * scale;
        while (atomic_load(&c.done) < 1 && time_mono_ms() < until)
                usleep(1000);
        loop_post(c.loop, w_teardown, &c);
        while (atomic_load(&c.done) < 2 && time_mono_ms() < until)
                usleep(1000);
        loop_destroy(c.loop);
        bitrise_client_destroy((bitrise_client_t *)(uintptr_t)c.wb.client);
        T_EQ_STR(c.events, "status:in-progress finished:error");
        T_EQ_INT(c.build_number, 42);
        T_EQ_INT(atomic_load(&builds_served), 3);
        T_ASSERTF(c.failed_steps >= 1, "failed steps %d", c.failed_steps);
        T_ASSERTF(c.log_lines > 10, "log lines %ld", c.log_lines);
}

/* Not archived in time: the chunks of the last /log answer become the
 * log (gitrise's real not-archived answer: 4 chunks, 4 lines). */
static void test_bitrise_log_fallback_from_chunks(void) {
        const char *name = "gitrise_not_archived_log_info_response.json";
        char err[256];
        size_t len = 0;
        char *json = fixture_read(name, &len);
        T_ASSERTF(json, "cannot read %s", name);
        bitrise_log_info_t li;
        int rc = bitrise_log_info_parse(json, len, &li, err, sizeof(err));
        free(json);
        T_ASSERTF(rc == 0, "%s", err);
        watch_bitrise_t wb = {0};
        logparse_t *lp     = watch_bitrise_log_fallback(&wb, &li);
        T_ASSERT(lp);
        T_EQ_INT(logparse_lines(lp), 4);
        size_t n                = 0;
        const char *const *tail = logparse_tail(lp, &n);
        T_EQ_INT(n, 4);
        T_EQ_STR(tail[0], "Build started.");
        watch_bitrise_payload_free(WATCH_REQ_RAW_LOG, lp);
        bitrise_log_info_release(&li);
        bitrise_log_info_t empty = {0};
        T_ASSERT(watch_bitrise_log_fallback(&wb, &empty) == NULL);
}

int main(void) {
        const char *s = getenv("BITMON_TEST_TIMEOUT_SCALE");
        if (s && *s >= '1' && *s <= '9')
                scale = *s - '0';
        const char *name = "bitrisedebugtool_failure_xcode_test.log.txt";
        raw_log          = fixture_read(name, &raw_log_len);
        if (!raw_log) {
                fprintf(stderr, "cannot read %s\n", name);
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        struct MHD_Daemon *d =
            MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0,
                             NULL, NULL, api, NULL, MHD_OPTION_END);
        const union MHD_DaemonInfo *di =
            d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
        port = di ? di->port : 0;
        if (!port) {
                fprintf(stderr, "cannot start the API stand-in\n");
                return 1;
        }
        T_RUN(test_bitrise_answers_are_classified);
        T_RUN(test_bitrise_watch_to_parsed_log);
        T_RUN(test_bitrise_log_fallback_from_chunks);
        MHD_stop_daemon(d);
        free(raw_log);
        curl_global_cleanup();
        return t_done();
}
