/* Integration tests of build/bitrise-sim's outgoing webhooks: the endpoints
 * with roles (answers against bitrise-api/swagger.json), loopback-only URLs,
 * delivery once with Bitrise's headers and body, delay, no retries after a
 * failure, redelivery, the drop share, and the counters.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/integration/sim_test.h"
#include "tests/support/hook_sink.h"
#include "tests/support/sim_proc.h"
#include "tests/support/swagger_check.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

static swagger_t *sw;

#define APP   "669403bffbe35909"
#define HOOKS "/apps/" APP "/outgoing-webhooks"
#define SPEC  "/apps/{app-slug}/outgoing-webhooks"

static const char scenario[] =
    "{\"tokens\": ["
    " {\"value\": \"bitwat_admin\", \"workspace\": \"ws-acme\", \"role\": "
    "\"admin\"},"
    " {\"value\": \"bitwat_dev\", \"workspace\": \"ws-acme\", \"role\": "
    "\"developer\"},"
    " {\"value\": \"bitwat_tester\", \"workspace\": \"ws-acme\", \"role\": "
    "\"tester\"},"
    " {\"value\": \"bitwat_other\", \"workspace\": \"ws-other\", \"role\": "
    "\"owner\"}],"
    "\"apps\": [{\"slug\": \"" APP "\", \"workspace\": \"ws-acme\", "
    "\"builds\": ["
    " {\"slug\": \"run1\", \"triggered_at_s\": -10, \"running_s\": 3600},"
    " {\"slug\": \"late\", \"triggered_at_s\": 3, \"running_s\": 1, "
    "  \"status\": 2, \"branch\": \"feature/x\", \"workflow\": \"ci-test\","
    "  \"pull_request_id\": 17, \"pull_request_target_branch\": \"main\"}]}]}";

/* A request to the simulator's API; *out = the parsed answer. */
static long call(sim_proc_t *p, const char *method, const char *path,
                 const char *token, const char *json, cJSON **out) {
        char url[1024];
        sim_http_resp_t r;
        snprintf(url, sizeof(url), "%s%s", sim_proc_base_url(p), path);
        int rc  = sim_http_request(method, url, token, json, 10000, &r);
        long st = r.status;
        if (out)
                *out = sim_http_resp_json(&r);
        sim_http_resp_release(&r);
        T_ASSERTF(rc == 0, "%s %s: curl error %d", method, path, rc);
        return st;
}

static void valid(const char *spec_path, const char *method, const cJSON *b) {
        char err[512];
        T_ASSERTF(b, "%s %s: not JSON", method, spec_path);
        T_ASSERTF(swagger_check_response(sw, spec_path, method, 200, b, 0, err,
                                         sizeof(err)) == 0,
                  "%s %s: %s", method, spec_path, err);
}

static void create_body(char *out, size_t size, int port, const char *events) {
        snprintf(out, size,
                 "{\"url\": \"http://127.0.0.1:%d/hook\", \"events\": %s, "
                 "\"secret\": \"unused\", \"headers\": {\"X-Bitmon-Secret\": "
                 "\"s3cr3t\"}}",
                 port, events);
}

/* Creates a webhook as bitwat_admin; its slug into slug. */
static void create(sim_proc_t *p, int port, const char *events, char slug[64]) {
        char body[512];
        cJSON *o = NULL;
        create_body(body, sizeof(body), port, events);
        T_EQ_INT(call(p, "POST", HOOKS, "bitwat_admin", body, &o), 200);
        valid(SPEC, "post", o);
        snprintf(slug, 64, "%s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(o, "data"), "slug")));
        cJSON_Delete(o);
}

static double stat_of(sim_proc_t *p, const char *event, const char *what) {
        cJSON *s = NULL;
        char err[256];
        T_ASSERTF(
            sim_proc_admin_get(p, "/webhooks/stats", &s, err, sizeof(err)) == 0,
            "%s", err);
        const cJSON *e =
            event ? cJSON_GetObjectItem(cJSON_GetObjectItem(s, "events"), event)
                  : cJSON_GetObjectItem(s, "total");
        double v = cJSON_GetObjectItem(e, what)->valuedouble;
        cJSON_Delete(s);
        return v;
}

/* Waits until nothing is queued or in flight (up to 5 s). */
static void wait_idle(sim_proc_t *p) {
        int64_t end = time_mono_ms() + 5000;
        for (;;) {
                cJSON *s = NULL;
                char err[256];
                T_ASSERTF(sim_proc_admin_get(p, "/webhooks/stats", &s, err,
                                             sizeof(err)) == 0,
                          "%s", err);
                double busy = cJSON_GetObjectItem(s, "queued")->valuedouble +
                              cJSON_GetObjectItem(s, "in_flight")->valuedouble;
                cJSON_Delete(s);
                if (busy == 0)
                        return;
                T_ASSERTF(time_mono_ms() < end, "deliveries still busy: %.0f",
                          busy);
                usleep(20000);
        }
}

static void test_crud_and_roles(void) {
        sim_proc_t *p = sim_test_start(scenario);
        cJSON *o = NULL, *st = NULL;
        char slug[64], path[256], body[512], err[256];
        create_body(body, sizeof(body), 9, "[\"build/finished\"]");
        T_EQ_INT(call(p, "POST", HOOKS, "bitwat_dev", body, &o), 403);
        T_ASSERT(cJSON_IsString(cJSON_GetObjectItem(o, "message")));
        cJSON_Delete(o);
        T_EQ_INT(call(p, "POST", HOOKS, "bitwat_tester", body, NULL), 403);
        T_EQ_INT(call(p, "GET", HOOKS, "bitwat_dev", NULL, NULL), 403);
        T_EQ_INT(call(p, "POST", HOOKS, "bitwat_other", body, NULL), 404);
        T_EQ_INT(call(p, "GET", HOOKS, "bitwat_other", NULL, NULL), 404);
        T_EQ_INT(call(p, "POST", HOOKS, "nosuchtoken", body, NULL), 401);
        create(p, 9, "[\"build/finished\"]", slug);
        T_EQ_INT(call(p, "GET", HOOKS, "bitwat_admin", NULL, &o), 200);
        valid(SPEC, "get", o);
        const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "data"), 0);
        T_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(d, "slug")), slug);
        T_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(d, "headers"), "X-Bitmon-Secret")),
                 "s3cr3t");
        T_ASSERT(!cJSON_GetObjectItem(d, "secret")); /* never shown */
        cJSON_Delete(o);
        snprintf(path, sizeof(path), HOOKS "/%s", slug);
        T_EQ_INT(call(p, "PUT", path, "bitwat_admin",
                      "{\"url\": \"http://localhost:9/h2\", \"events\": "
                      "[\"build/triggered\"]}",
                      &o),
                 200);
        valid(SPEC "/{app-webhook-slug}", "put", o);
        T_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(o, "data"), "url")),
                 "http://localhost:9/h2");
        cJSON_Delete(o);
        T_EQ_INT(call(p, "PUT", path, "bitwat_dev",
                      "{\"url\": \"http://localhost:9/h\", \"events\": "
                      "[\"all\"]}",
                      NULL),
                 403);
        T_EQ_INT(call(p, "PUT", HOOKS "/nosuch", "bitwat_admin",
                      "{\"url\": \"http://localhost:9/h\", \"events\": "
                      "[\"all\"]}",
                      NULL),
                 404);
        T_EQ_INT(call(p, "PATCH", path, "bitwat_admin", "{}", NULL), 405);
        T_EQ_INT(call(p, "DELETE", path, "bitwat_admin", NULL, &o), 200);
        valid(SPEC "/{app-webhook-slug}", "delete", o);
        cJSON_Delete(o);
        T_EQ_INT(call(p, "DELETE", path, "bitwat_admin", NULL, NULL), 404);
        T_EQ_INT(call(p, "GET", HOOKS, "bitwat_admin", NULL, &o), 200);
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "data")), 0);
        cJSON_Delete(o);
        /* bad bodies */
        static const char *const bad[] = {
            "not json",
            "{\"url\": \"http://127.0.0.1:9/\", \"secret\": \"s\"}",
            "{\"url\": \"http://127.0.0.1:9/\", \"events\": [], \"secret\": "
            "\"s\"}",
            "{\"url\": \"http://127.0.0.1:9/\", \"events\": [\"push\"], "
            "\"secret\": \"s\"}",
            "{\"url\": \"http://127.0.0.1:9/\", \"events\": [\"all\"]}",
            "{\"url\": \"http://127.0.0.1:9/\", \"events\": [\"all\"], "
            "\"secret\": \"s\", \"headers\": {\"X-A\": \"a\\r\\nX-B: b\"}}",
            "{\"url\": \"http://127.0.0.1:9/\", \"events\": [\"all\"], "
            "\"secret\": \"s\", \"headers\": {\"X A\": \"a\"}}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                T_EQ_INT(call(p, "POST", HOOKS, "bitwat_admin", bad[i], &o),
                         400);
                T_ASSERTF(cJSON_IsString(cJSON_GetObjectItem(o, "message")),
                          "%s", bad[i]);
                cJSON_Delete(o);
        }
        /* counters, one name per endpoint */
        T_ASSERTF(sim_proc_admin_get(p, "/stats", &st, err, sizeof(err)) == 0,
                  "%s", err);
        const cJSON *tok = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "tokens"),
                                              0),
                    *ep  = cJSON_GetObjectItem(tok, "endpoints");
        T_EQ_INT(cJSON_GetObjectItem(ep, "webhooks_create")->valuedouble,
                 1 + sizeof(bad) / sizeof(bad[0]));
        T_EQ_INT(cJSON_GetObjectItem(ep, "webhooks_list")->valuedouble, 2);
        T_EQ_INT(cJSON_GetObjectItem(ep, "webhook_update")->valuedouble, 2);
        T_EQ_INT(cJSON_GetObjectItem(ep, "webhook_delete")->valuedouble, 2);
        T_EQ_INT(cJSON_GetObjectItem(ep, "builds_list")->valuedouble, 0);
        cJSON_Delete(st);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_loopback_only(void) {
        sim_proc_t *p                      = sim_test_start(scenario);
        static const char *const refused[] = {
            "http://example.com/h",
            "https://127.0.0.1/h",
            "http://10.0.0.1/h",
            "ftp://127.0.0.1/h",
            "http://127.0.0.2/h",
            "not a url",
            "http://127.0.0.1.example.com/h",
        };
        static const char *const accepted[] = {
            "http://127.0.0.1:9/h", "http://localhost:9/h", "http://[::1]:9/h"};
        char body[512];
        cJSON *o = NULL;
        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                snprintf(body, sizeof(body),
                         "{\"url\": \"%s\", \"events\": [\"all\"], "
                         "\"secret\": \"s\"}",
                         refused[i]);
                T_EQ_INT(call(p, "POST", HOOKS, "bitwat_admin", body, &o), 400);
                T_ASSERTF(strstr(cJSON_GetStringValue(
                                     cJSON_GetObjectItem(o, "message")),
                                 "loopback"),
                          "%s", refused[i]);
                cJSON_Delete(o);
        }
        for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
                snprintf(body, sizeof(body),
                         "{\"url\": \"%s\", \"events\": [\"all\"], "
                         "\"secret\": \"s\"}",
                         accepted[i]);
                T_EQ_INT(call(p, "POST", HOOKS, "bitwat_admin", body, NULL),
                         200);
        }
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* Request i of the sink as JSON, with its event header checked. */
static cJSON *received(hook_sink_t *s, size_t i, const char *event) {
        hook_sink_req_t q;
        char v[128];
        T_EQ_INT(hook_sink_get(s, i, &q), 0);
        T_EQ_STR(q.method, "POST");
        T_EQ_STR(q.path, "/hook");
        T_EQ_STR(hook_sink_header(&q, "Bitrise-Event-Type", v, sizeof(v)),
                 event);
        T_EQ_STR(hook_sink_header(&q, "Content-Type", v, sizeof(v)),
                 "application/json");
        T_EQ_STR(hook_sink_header(&q, "X-Bitmon-Secret", v, sizeof(v)),
                 "s3cr3t");
        const char *end = NULL;
        cJSON *j        = cJSON_ParseWithOpts(q.body, &end, 1);
        hook_sink_req_release(&q);
        T_ASSERTF(j, "webhook body %zu is not JSON", i);
        return j;
}

static const char *sv(const cJSON *o, const char *k) {
        return cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
}

static double nv(const cJSON *o, const char *k) {
        const cJSON *v = cJSON_GetObjectItem(o, k);
        T_ASSERTF(cJSON_IsNumber(v), "%s is not a number", k);
        return v->valuedouble;
}

static void check_items(sim_proc_t *p, const char *hook, int want,
                        long last_status, char item[64]) {
        char path[256], err[512];
        cJSON *o = NULL, *one = NULL;
        const cJSON *it;
        snprintf(path, sizeof(path), HOOKS "/%s/delivery-items", hook);
        T_EQ_INT(call(p, "GET", path, "bitwat_admin", NULL, &o), 200);
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "data")), want);
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "data"))
            T_ASSERTF(swagger_check_definition(
                          sw, "v0.WebhookDeliveryItemResponseModel", it,
                          SWAGGER_NO_NULL, err, sizeof(err)) == 0,
                      "%s", err);
        it = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "data"), 0); /* newest */
        T_EQ_INT(nv(it, "response_http_status"), last_status);
        T_ASSERT(strstr(sv(it, "request_headers"), "Bitrise-Event-Type: "));
        snprintf(item, 64, "%s", sv(it, "slug"));
        snprintf(path, sizeof(path), HOOKS "/%s/delivery-items/%s", hook, item);
        T_EQ_INT(call(p, "GET", path, "bitwat_admin", NULL, &one), 200);
        valid(SPEC "/{app-webhook-slug}/delivery-items/"
                   "{webhook-delivery-item-slug}",
              "get", one);
        T_EQ_STR(sv(cJSON_GetObjectItem(one, "data"), "request_payload"),
                 sv(it, "request_payload"));
        cJSON_Delete(one);
        cJSON_Delete(o);
}

static void test_delivery_once(void) {
        char err[256], hook[64], item[64], path[256];
        hook_sink_t *s = hook_sink_start(err, sizeof(err));
        T_ASSERTF(s, "%s", err);
        sim_proc_t *p = sim_test_start(scenario);
        create(p, hook_sink_port(s),
               "[\"build/triggered\", \"build/finished\"]", hook);
        /* "late" is triggered at +3 s and finishes at +4 s */
        T_EQ_INT(hook_sink_wait(s, 2, 8000), 2);
        cJSON *t = received(s, 0, "build/triggered"),
              *f = received(s, 1, "build/finished");
        T_EQ_STR(sv(t, "build_slug"), "late");
        T_EQ_STR(sv(t, "app_slug"), APP);
        T_EQ_INT(nv(t, "build_number"), 2);
        T_EQ_INT(nv(t, "build_status"), 0);
        T_EQ_STR(sv(t, "build_triggered_workflow"), "ci-test");
        const cJSON *git = cJSON_GetObjectItem(t, "git");
        T_EQ_STR(sv(git, "provider"), "github");
        T_EQ_STR(sv(git, "src_branch"), "feature/x");
        T_EQ_STR(sv(git, "dst_branch"), "main");
        T_EQ_INT(nv(git, "pull_request_id"), 17);
        T_EQ_STR(sv(f, "build_slug"), "late");
        T_EQ_INT(nv(f, "build_status"), 2);
        cJSON_Delete(t);
        cJSON_Delete(f);
        usleep(1000000);
        T_EQ_INT(hook_sink_count(s), 2); /* once each */
        check_items(p, hook, 2, 200, item);
        /* a delay, then build/finished after /_sim/builds/finish */
        T_ASSERTF(sim_proc_admin_post(p, "/webhooks/config",
                                      "{\"delay_ms\": 600}", NULL, err,
                                      sizeof(err)) == 0,
                  "%s", err);
        T_ASSERTF(sim_proc_admin_post(p, "/builds/finish",
                                      "{\"app\": \"" APP
                                      "\", \"build\": \"run1\", \"status\": 3}",
                                      NULL, err, sizeof(err)) == 0,
                  "%s", err);
        usleep(300000);
        T_EQ_INT(hook_sink_count(s), 2);
        T_EQ_INT(hook_sink_wait(s, 3, 5000), 3);
        f = received(s, 2, "build/finished");
        T_EQ_STR(sv(f, "build_slug"), "run1");
        T_EQ_INT(nv(f, "build_status"), 3);
        cJSON_Delete(f);
        /* a receiver that fails: counted, recorded, never retried */
        hook_sink_set_status(s, 500);
        T_ASSERTF(sim_proc_admin_post(p, "/webhooks/config", "{}", NULL, err,
                                      sizeof(err)) == 0,
                  "%s", err);
        snprintf(path, sizeof(path), HOOKS "/%s/delivery-items/%s/redeliver",
                 hook, item);
        cJSON *o = NULL;
        T_EQ_INT(call(p, "POST", path, "bitwat_admin", NULL, &o), 200);
        valid(SPEC "/{app-webhook-slug}/delivery-items/"
                   "{webhook-delivery-item-slug}/redeliver",
              "post", o);
        cJSON_Delete(o);
        T_EQ_INT(hook_sink_wait(s, 4, 5000), 4);
        f = received(s, 3, "build/finished");
        T_EQ_STR(sv(f, "build_slug"), "late"); /* the item redelivered */
        cJSON_Delete(f);
        usleep(800000);
        T_EQ_INT(hook_sink_count(s), 4);
        check_items(p, hook, 4, 500, item);
        T_EQ_INT(stat_of(p, "build/triggered", "sent"), 1);
        T_EQ_INT(stat_of(p, "build/finished", "sent"), 2);
        T_EQ_INT(stat_of(p, "build/finished", "failed"), 1);
        T_EQ_INT(stat_of(p, NULL, "dropped"), 0);
        T_EQ_INT(sim_proc_stop(p), 0);
        hook_sink_stop(s);
}

/* A receiver that is not there: failed, once. Only the events asked for. */
static void test_unreachable_and_event_filter(void) {
        char err[256], hook[64], item[64];
        hook_sink_t *s = hook_sink_start(err, sizeof(err));
        T_ASSERTF(s, "%s", err);
        int port = hook_sink_port(s);
        hook_sink_stop(s); /* nobody listens there now */
        sim_proc_t *p = sim_test_start(scenario);
        create(p, port, "[\"build/finished\"]", hook);
        int64_t end = time_mono_ms() + 8000;
        while (stat_of(p, "build/finished", "failed") < 1 &&
               time_mono_ms() < end)
                usleep(50000);
        T_EQ_INT(stat_of(p, "build/finished", "failed"), 1);
        T_EQ_INT(stat_of(p, "build/triggered", "failed"), 0);
        T_EQ_INT(stat_of(p, NULL, "sent"), 0);
        check_items(p, hook, 1, 0, item);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* The workload's events, with a share dropped: every delivery that arrives
 * is a real transition, none twice; drops are about the share asked. */
static void test_drop_share_with_workload(void) {
        char err[2048], body[512];
        hook_sink_t *s = hook_sink_start(err, sizeof(err));
        T_ASSERTF(s, "%s", err);
        const char *args[] = {"--speed", "200", NULL};
        sim_proc_t *p      = sim_proc_start(
                 "{\"tokens\": [{\"value\": \"bitwat_admin\", \"role\": "
                      "\"admin\"}],"
                      " \"webhooks\": {\"drop_share\": 0.5, \"delay_ms\": {\"min\": 0, "
                      "\"max\": 5}},"
                      " \"workload\": {\"apps\": 2, \"concurrent\": 40, \"duration_s\": "
                      "[20, 40]}}",
                 args, err, sizeof(err));
        T_ASSERTF(p, "%s", err);
        cJSON *l = NULL, *o = NULL;
        T_ASSERTF(sim_proc_admin_get(p, "/workload", &l, err, sizeof(err)) == 0,
                  "%s", err);
        char app[32], path[128];
        snprintf(
            app, sizeof(app), "%s",
            sv(cJSON_GetArrayItem(cJSON_GetObjectItem(l, "builds"), 0), "app"));
        snprintf(path, sizeof(path), "/apps/%s/outgoing-webhooks", app);
        create_body(body, sizeof(body), hook_sink_port(s), "[\"all\"]");
        T_EQ_INT(call(p, "POST", path, "bitwat_admin", body, NULL), 200);
        usleep(1500000); /* 300 simulated s: about 400 events */
        T_ASSERTF(sim_proc_admin_post(p, "/webhooks/config",
                                      "{\"drop_share\": 1}", &o, err,
                                      sizeof(err)) == 0,
                  "%s", err);
        cJSON_Delete(o);
        wait_idle(p); /* let what was queued arrive */
        double sent    = stat_of(p, NULL, "sent"),
               dropped = stat_of(p, NULL, "dropped");
        size_t got     = hook_sink_count(s);
        T_EQ_INT(stat_of(p, NULL, "failed"), 0);
        T_EQ_INT(got, sent);
        T_ASSERTF(sent + dropped > 200, "only %.0f events", sent + dropped);
        T_ASSERTF(dropped > 0.35 * (sent + dropped) &&
                      dropped < 0.65 * (sent + dropped),
                  "%.0f of %.0f dropped", dropped, sent + dropped);
        usleep(300000);
        T_EQ_INT(hook_sink_count(s), got); /* drop_share 1: none arrive */
        T_ASSERT(stat_of(p, NULL, "dropped") > dropped);
        cJSON_Delete(l);
        T_ASSERTF(sim_proc_admin_get(p, "/workload", &l, err, sizeof(err)) == 0,
                  "%s", err);
        for (size_t i = 0; i < got; i++) {
                hook_sink_req_t q;
                char ev[64];
                T_EQ_INT(hook_sink_get(s, i, &q), 0);
                const char *end = NULL;
                cJSON *j        = cJSON_ParseWithOpts(q.body, &end, 1);
                bool fin = strcmp(hook_sink_header(&q, "Bitrise-Event-Type", ev,
                                                   sizeof(ev)),
                                  "build/finished") == 0;
                const cJSON *b;
                bool found = false;
                T_EQ_STR(sv(j, "app_slug"), app);
                cJSON_ArrayForEach(b, cJSON_GetObjectItem(l, "builds")) {
                        if (strcmp(sv(b, "build"), sv(j, "build_slug")) != 0)
                                continue;
                        found = true;
                        T_EQ_INT(nv(j, "build_status"),
                                 fin ? nv(b, "status") : 0);
                }
                T_ASSERTF(found, "delivery for unknown build %s",
                          sv(j, "build_slug"));
                for (size_t k = 0; k < i; k++) { /* never twice */
                        hook_sink_req_t r;
                        char ev2[64];
                        hook_sink_get(s, k, &r);
                        T_ASSERTF(strcmp(r.body, q.body) != 0 ||
                                      strcmp(hook_sink_header(
                                                 &r, "Bitrise-Event-Type", ev2,
                                                 sizeof(ev2)),
                                             ev) != 0,
                                  "delivered twice: %s", q.body);
                        hook_sink_req_release(&r);
                }
                cJSON_Delete(j);
                hook_sink_req_release(&q);
        }
        cJSON_Delete(l);
        T_ASSERTF(sim_proc_admin_post(p, "/webhooks/config",
                                      "{\"drop_share\": 3}", NULL, err,
                                      sizeof(err)) < 0,
                  "drop_share 3 accepted");
        T_EQ_INT(sim_proc_stop(p), 0);
        hook_sink_stop(s);
}

int main(void) {
        char path[1024], err[512];
        const char *shared = getenv("BITMON_SHARED");
        snprintf(path, sizeof(path), "%s/bitrise-api/swagger.json",
                 shared && *shared ? shared : "../shared");
        if (!(sw = swagger_load(path, err, sizeof(err)))) {
                printf("FAIL load_swagger: %s\n", err);
                return 1;
        }
        T_RUN(test_crud_and_roles);
        T_RUN(test_loopback_only);
        T_RUN(test_delivery_once);
        T_RUN(test_unreachable_and_event_filter);
        T_RUN(test_drop_share_with_workload);
        swagger_destroy(sw);
        return t_done();
}
