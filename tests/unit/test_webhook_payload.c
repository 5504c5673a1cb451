/* Unit tests for webhook/payload: Bitrise's documented deliveries, a table
 * of rejections with their class and reason, optional fields that are
 * kept or dropped, and the events bitmon ignores. */
#include "webhook/payload.h"
#include "tests/assert.h"

#define H16  "669403bffbe35909"
#define UUID "0f3c8e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6"

static int parse(const char *event, const char *body, webhook_payload_t *p,
                 char *err, size_t err_size) {
        return webhook_payload_parse(event, body, strlen(body), p, err,
                                     err_size);
}

static void test_webhook_documented_finished(void) {
        char err[256] = "";
        webhook_payload_t p;
        /* devcenter.bitrise.io/api/outgoing-webhooks, with real slugs */
        const char *body =
            "{\"build_slug\":\"" UUID
            "\",\"build_number\":3,\"app_slug\":\"" H16
            "\",\"build_status\":1,\"build_triggered_workflow\":\"primary\","
            "\"git\":{\"provider\":\"github\",\"src_branch\":\"feature/"
            "branch\","
            "\"dst_branch\":\"master\",\"pull_request_id\":32,\"tag\":\"v1\"}}";
        T_EQ_INT(parse("build/finished", body, &p, err, sizeof(err)), 0);
        T_EQ_INT(p.hint, JOB_HINT_FINISHED);
        T_EQ_STR(p.app_slug, H16);
        T_EQ_STR(p.build_slug, UUID);
        T_EQ_INT(p.build_status, 1);
        T_EQ_INT(p.build_number, 3);
        T_EQ_STR(p.workflow, "primary");
}

static void test_webhook_documented_triggered(void) {
        char err[256] = "";
        webhook_payload_t p;
        const char *body = "{\"build_slug\":\"" H16 "\",\"app_slug\":\"" UUID
                           "\",\"build_status\":0}\r\n";
        T_EQ_INT(parse("build/triggered", body, &p, err, sizeof(err)), 0);
        T_EQ_INT(p.hint, JOB_HINT_TRIGGERED);
        T_EQ_INT(p.build_status, 0);
        T_EQ_INT(p.build_number, -1);
        T_EQ_STR(p.workflow, "");
}

static void test_webhook_reject_table(void) {
        static const struct {
                const char *event, *body;
                int rc;
                const char *reason;
        } cases[] = {
            {NULL, "{}", WEBHOOK_E_INVALID,
             "missing header Bitrise-Event-Type"},
            {"", "{}", WEBHOOK_E_INVALID, "missing header Bitrise-Event-Type"},
            {"build/pipeline", "not even json", WEBHOOK_E_IGNORED,
             "unknown event"},
            {"Build/Finished", "{}", WEBHOOK_E_IGNORED, "unknown event"},
            {"build/finished", "", WEBHOOK_E_INVALID, "empty body"},
            {"build/finished", "{\"a\":", WEBHOOK_E_INVALID,
             "not JSON: syntax error at byte 4"},
            {"build/finished", "{} {}", WEBHOOK_E_INVALID,
             "not JSON: trailing data at byte 3"},
            {"build/finished", "[]", WEBHOOK_E_INVALID, "not a JSON object"},
            {"build/finished", "\"x\"", WEBHOOK_E_INVALID, "not a JSON object"},
            {"build/finished", "{\"app_slug\":\"\xc3\x28\"}", WEBHOOK_E_INVALID,
             "invalid UTF-8 at byte 13"},
            {"build/finished", "{\"build_slug\":\"" H16 "\"}",
             WEBHOOK_E_INVALID, "missing field app_slug"},
            {"build/finished", "{\"app_slug\":null,\"build_slug\":\"" H16 "\"}",
             WEBHOOK_E_INVALID, "missing field app_slug"},
            {"build/finished", "{\"app_slug\":\"" H16 "\"}", WEBHOOK_E_INVALID,
             "missing field build_slug"},
            {"build/finished",
             "{\"app_slug\":\"" H16 "\",\"build_slug\":\"1234abcd\"}",
             WEBHOOK_E_INVALID, "build_slug: expected 16 hex digits or a UUID"},
            {"build/finished",
             "{\"app_slug\":\"../../x\",\"build_slug\":\"" H16 "\"}",
             WEBHOOK_E_INVALID, "app_slug: expected 16 hex digits or a UUID"},
            {"build/finished", "{\"app_slug\":42,\"build_slug\":\"" H16 "\"}",
             WEBHOOK_E_INVALID, "app_slug: expected 16 hex digits or a UUID"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char err[256] = "";
                webhook_payload_t p;
                int rc =
                    parse(cases[i].event, cases[i].body, &p, err, sizeof(err));
                T_ASSERTF(rc == cases[i].rc, "case %zu: rc %d, want %d (%s)", i,
                          rc, cases[i].rc, err);
                T_ASSERTF(strcmp(err, cases[i].reason) == 0,
                          "case %zu: reason \"%s\", want \"%s\"", i, err,
                          cases[i].reason);
                T_ASSERTF(!p.app_slug[0] && !p.build_slug[0],
                          "case %zu: slugs left behind", i);
        }
}

static void test_webhook_nul_byte(void) {
        char err[256] = "";
        webhook_payload_t p;
        const char body[] = "{\"app_slug\":\"" H16 "\"}\0{}";
        T_EQ_INT(webhook_payload_parse("build/finished", body, sizeof(body) - 1,
                                       &p, err, sizeof(err)),
                 WEBHOOK_E_INVALID);
        T_EQ_STR(err, "NUL byte at byte 31");
        T_EQ_INT(webhook_payload_parse("build/finished", NULL, 0, &p, err,
                                       sizeof(err)),
                 WEBHOOK_E_INVALID);
}

/* Optional fields of the wrong type or range are dropped, not fatal. */
static void test_webhook_optional_dropped(void) {
        static const char *const bodies[] = {
            "\"build_status\":\"1\",\"build_number\":\"3\","
            "\"build_triggered_workflow\":7",
            "\"build_status\":1.5,\"build_number\":-2,"
            "\"build_triggered_workflow\":\"a\\nb\"",
            "\"build_status\":101,\"build_number\":1e300,"
            "\"build_triggered_workflow\":\"caf\xc3\xa9\"",
            "\"build_status\":-1,\"build_number\":null,"
            "\"build_triggered_workflow\":null",
        };
        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
                char body[512], err[256] = "";
                webhook_payload_t p;
                snprintf(body, sizeof(body),
                         "{\"app_slug\":\"" H16 "\",\"build_slug\":\"" H16
                         "\",%s}",
                         bodies[i]);
                T_ASSERTF(parse("build/finished", body, &p, err, sizeof(err)) ==
                              0,
                          "case %zu: %s", i, err);
                T_EQ_INT(p.build_status, -1);
                T_EQ_INT(p.build_number, -1);
                T_EQ_STR(p.workflow, "");
        }
}

static void test_webhook_long_workflow(void) {
        char body[1024], wf[WEBHOOK_WORKFLOW_MAX + 2], err[256];
        webhook_payload_t p;
        memset(wf, 'w', sizeof(wf) - 1);
        wf[sizeof(wf) - 1] = '\0'; /* one byte too long */
        snprintf(body, sizeof(body),
                 "{\"app_slug\":\"" H16 "\",\"build_slug\":\"" H16
                 "\",\"build_triggered_workflow\":\"%s\"}",
                 wf);
        T_EQ_INT(parse("build/finished", body, &p, err, sizeof(err)), 0);
        T_EQ_STR(p.workflow, "");
        wf[WEBHOOK_WORKFLOW_MAX] = '\0'; /* exactly the limit */
        snprintf(body, sizeof(body),
                 "{\"app_slug\":\"" H16 "\",\"build_slug\":\"" H16
                 "\",\"build_triggered_workflow\":\"%s\"}",
                 wf);
        T_EQ_INT(parse("build/finished", body, &p, err, sizeof(err)), 0);
        T_EQ_INT(strlen(p.workflow), WEBHOOK_WORKFLOW_MAX);
}

static void test_webhook_event_parse(void) {
        job_hint_t h;
        T_EQ_INT(webhook_event_parse("build/triggered", &h), 0);
        T_EQ_INT(h, JOB_HINT_TRIGGERED);
        T_EQ_INT(webhook_event_parse("build/finished", &h), 0);
        T_EQ_INT(h, JOB_HINT_FINISHED);
        T_EQ_INT(webhook_event_parse("build/finished ", &h), WEBHOOK_E_IGNORED);
        T_EQ_INT(webhook_event_parse(NULL, &h), WEBHOOK_E_INVALID);
}

int main(void) {
        T_RUN(test_webhook_documented_finished);
        T_RUN(test_webhook_documented_triggered);
        T_RUN(test_webhook_reject_table);
        T_RUN(test_webhook_nul_byte);
        T_RUN(test_webhook_optional_dropped);
        T_RUN(test_webhook_long_workflow);
        T_RUN(test_webhook_event_parse);
        return t_done();
}
