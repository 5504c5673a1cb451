/* Tests of bitrise/client over real HTTP against a scripted local responder
 * (tests/support/http_responder.h): every classification, paging, chunk
 * ordering, body cap, HTML and truncated bodies, resets, timeouts, raw log
 * streaming without Authorization, and many requests on one curl multi. */
#include "bitrise/client.h"
#include "common/log.h"
#include "tests/assert.h"
#include "tests/support/http_responder.h"
#include "tests/support/fixtures.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define APP        "669403bffbe35909"
#define BUILD      "1a2b3c4d5e6f7a8b"
#define TOKEN      "bitwat_s3cr3t-token-value"
#define BUILD_PATH "/v0.1/apps/" APP "/builds/" BUILD

static char *fx_build, *fx_log, *fx_html, *fx_list;
static size_t fx_build_len, fx_log_len, fx_html_len, fx_list_len;

static const char page1[] =
    "{\"data\":[{\"slug\":\"a1\",\"title\":\"One\"},{\"slug\":\"a2\"}],"
    "\"paging\":{\"next\":\"a3\"}}";
static const char page2[] = "{\"data\":[{\"slug\":\"a3\"},{\"slug\":\"a4\"}],"
                            "\"paging\":{\"next\":\"a5\"}}";
static const char page3[] =
    "{\"data\":[{\"slug\":\"a5\",\"title\":\"Five\"}],\"paging\":{}}";
static const char loop_page[] =
    "{\"data\":[{\"slug\":\"x\"}],\"paging\":{\"next\":\"x\"}}";
static const char log_info[] =
    "{\"log_chunks\":[{\"chunk\":\"three\\n\",\"position\":3},{\"chunk\":"
    "\"one\\n\",\"position\":1},"
    "{\"chunk\":\"two\\n\",\"position\":2},{\"chunk\":\"three\\n\","
    "\"position\":3}],"
    "\"next_after_timestamp\":\"2026-04-03T17:28:24Z\",\"is_archived\":false,"
    "\"expiring_raw_log_url\":null}";
static const char echo_token[] =
    "{\"message\":\"token " TOKEN " is not valid\"}";
static const char kb[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static hr_route_t routes[32];
static size_t nroutes;
static http_responder_t *srv;

static void route(const char *target, int status, const char *headers,
                  const char *body, size_t len, size_t repeat, hr_fault_t fault,
                  int stall_ms) {
        routes[nroutes++] = (hr_route_t){target, status, headers, body,
                                         len,    repeat, fault,   stall_ms};
}

static void setup_routes(void) {
        const char *json = "Content-Type: application/json\r\n";
        route(BUILD_PATH, 200, json, fx_build, fx_build_len, 0, HR_FAULT_NONE,
              0);
        route("/v0.1/apps/" APP "/builds/" BUILD "/log*", 200, json, log_info,
              0, 0, HR_FAULT_NONE, 0);
        route("/v0.1/apps?limit=50", 200, json, page1, 0, 0, HR_FAULT_NONE, 0);
        route("/v0.1/apps?limit=50&next=a3", 200, json, page2, 0, 0,
              HR_FAULT_NONE, 0);
        route("/v0.1/apps?limit=50&next=a5", 200, json, page3, 0, 0,
              HR_FAULT_NONE, 0);
        route("/v0.1/apps/" APP "/builds?limit=1", 200, json, fx_list,
              fx_list_len, 0, HR_FAULT_NONE, 0);
        route("/v0.1/apps/" APP, 200, json,
              "{\"data\":{\"slug\":\"" APP "\",\"title\":\"My app\","
              "\"project_type\":\"ios\",\"is_disabled\":false}}",
              0, 0, HR_FAULT_NONE, 0);
        route("/loop/v0.1/apps*", 200, json, loop_page, 0, 0, HR_FAULT_NONE, 0);
        route("/401" BUILD_PATH, 401, json, "{\"message\":\"Unauthorized\"}", 0,
              0, HR_FAULT_NONE, 0);
        route("/403" BUILD_PATH, 403, json, "{\"message\":\"Forbidden\"}", 0, 0,
              HR_FAULT_NONE, 0);
        route("/429" BUILD_PATH, 429,
              "Retry-After: 7\r\nX-RateLimit-Limit: 100\r\n"
              "X-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: 30\r\n",
              "", 0, 0, HR_FAULT_NONE, 0);
        route("/503" BUILD_PATH, 503, json,
              "{\"message\":\"Internal Server Error\"}", 0, 0, HR_FAULT_NONE,
              0);
        route("/502" BUILD_PATH, 502, "Content-Type: text/html\r\n", fx_html,
              fx_html_len, 0, HR_FAULT_NONE, 0);
        route("/400" BUILD_PATH, 400, json, "{\"error_msg\":\"bad request\"}",
              0, 0, HR_FAULT_NONE, 0);
        route("/html200" BUILD_PATH, 200, "Content-Type: text/html\r\n",
              fx_html, fx_html_len, 0, HR_FAULT_NONE, 0);
        route("/badjson" BUILD_PATH, 200, json, "{\"data\":{\"status\":1,", 0,
              0, HR_FAULT_NONE, 0);
        route("/empty" BUILD_PATH, 200, json, "", 0, 0, HR_FAULT_NONE, 0);
        route("/big503" BUILD_PATH, 503, "Content-Type: text/html\r\n", kb, 0,
              200, HR_FAULT_NONE, 0);
        route("/big" BUILD_PATH, 200, json, kb, 0, 200, HR_FAULT_NONE, 0);
        route("/short" BUILD_PATH, 200, json, fx_build, fx_build_len, 0,
              HR_FAULT_SHORT_BODY, 0);
        route("/reset" BUILD_PATH, 200, json, fx_build, fx_build_len, 0,
              HR_FAULT_RESET, 0);
        route("/midreset" BUILD_PATH, 200, json, kb, 0, 64,
              HR_FAULT_RESET_MIDBODY, 0);
        route("/stall" BUILD_PATH, 200, json, "", 0, 0, HR_FAULT_STALL, 1500);
        route("/redirect" BUILD_PATH, 302, "Location: /elsewhere\r\n", "", 0, 0,
              HR_FAULT_NONE, 0);
        route("/echo" BUILD_PATH, 401, json, echo_token, 0, 0, HR_FAULT_NONE,
              0);
        route("/raw/log.txt", 200, "Content-Type: text/plain\r\n", fx_log,
              fx_log_len, 0, HR_FAULT_NONE, 0);
        route("/raw/expired.txt", 403, "Content-Type: application/xml\r\n",
              "<Error><Code>AccessDenied</Code></Error>", 0, 0, HR_FAULT_NONE,
              0);
        route("/raw/cut.txt", 200, "Content-Type: text/plain\r\n", fx_log,
              fx_log_len, 0, HR_FAULT_RESET_MIDBODY, 0);
        route("/raw/redirect.txt", 302, "Location: /raw/log.txt\r\n", "", 0, 0,
              HR_FAULT_NONE, 0);
}

static bitrise_client_t *client_at(const char *prefix, size_t max_body,
                                   long timeout_ms) {
        char url[256], err[160];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s/v0.1/",
                 http_responder_port(srv), prefix);
        bitrise_client_opts_t o = {.base_url           = url,
                                   .max_body_bytes     = max_body,
                                   .timeout_ms         = timeout_ms,
                                   .connect_timeout_ms = 2000};
        bitrise_client_t *c     = bitrise_client_new(&o, err, sizeof(err));
        T_ASSERTF(c != NULL, "%s", err);
        return c;
}

static bitrise_class_t get_build(const char *prefix, size_t max_body,
                                 long timeout_ms, bitrise_result_t *res) {
        char err[160];
        bitrise_client_t *c = client_at(prefix, max_body, timeout_ms);
        bitrise_req_t *req =
            bitrise_req_build_get(c, TOKEN, APP, BUILD, err, sizeof(err));
        T_ASSERTF(req != NULL, "%s", err);
        bitrise_class_t cls = bitrise_req_perform(req, res);
        bitrise_req_destroy(req);
        bitrise_client_destroy(c);
        T_ASSERTF(!strstr(res->message, TOKEN), "token in message: %s",
                  res->message);
        return cls;
}

static void test_client_build_get_ok(void) {
        bitrise_result_t res;
        T_EQ_INT(get_build("", 0, 0, &res), BITRISE_OK);
        T_EQ_INT(res.http_status, 200);
        T_EQ_INT(res.kind, BITRISE_REQ_BUILD_GET);
        T_EQ_INT(res.build.number, 324524);
        T_EQ_STR(res.build.workflow, "ci-lint-be-zeitwerk");
        T_EQ_STR(res.message, "");
        T_EQ_INT(res.rl.present, 0);
        T_EQ_INT(res.retry_after_ms, -1);
        bitrise_result_release(&res);
        char head[8192];
        T_EQ_INT(http_responder_last_head(srv, BUILD_PATH, head, sizeof(head)),
                 0);
        T_ASSERTF(strstr(head, "\r\nAuthorization: " TOKEN "\r\n") != NULL,
                  "%.300s", head);
        T_ASSERT(strstr(head, "\r\nAccept: application/json\r\n") != NULL);
        T_ASSERT(strstr(head, "User-Agent: bitmon/") != NULL);
}

static void test_client_classifications(void) {
        static const struct {
                const char *prefix;
                bitrise_class_t cls;
                long status;
                const char *message;
        } cases[] = {
            {"/401", BITRISE_TOKEN_INVALID, 401,
             "cannot get build " BUILD ": HTTP 401 (\"Unauthorized\")"},
            {"/403", BITRISE_INSUFFICIENT_ROLE, 403,
             "cannot get build " BUILD ": HTTP 403 (\"Forbidden\")"},
            {"/404", BITRISE_NOT_FOUND, 404,
             "cannot get build " BUILD ": HTTP 404 (\"Not found\")"},
            {"/429", BITRISE_RATE_LIMITED, 429,
             "cannot get build " BUILD ": HTTP 429 (empty body)"},
            {"/503", BITRISE_TRANSIENT, 503,
             "cannot get build " BUILD
             ": HTTP 503 (\"Internal Server Error\")"},
            {"/502", BITRISE_TRANSIENT, 502,
             "cannot get build " BUILD ": HTTP 502 (HTML page from a gateway)"},
            {"/400", BITRISE_PERMANENT, 400,
             "cannot get build " BUILD ": HTTP 400 (\"bad request\")"},
            {"/html200", BITRISE_PERMANENT, 200,
             "cannot get build " BUILD
             ": HTTP 200 with a bad body: invalid JSON at byte 0 of 507 "
             "(HTML page from a gateway)"},
            {"/badjson", BITRISE_PERMANENT, 200,
             "cannot get build " BUILD
             ": HTTP 200 with a bad body: invalid JSON at byte 19 of 20 "
             "(body is not JSON (20 bytes))"},
            {"/empty", BITRISE_PERMANENT, 200,
             "cannot get build " BUILD
             ": HTTP 200 with a bad body: empty body (empty body)"},
            {"/short", BITRISE_TRANSIENT, 200,
             "cannot get build " BUILD ": HTTP 200, truncated body"},
            {"/redirect", BITRISE_PERMANENT, 302, NULL},
            {"/echo", BITRISE_TOKEN_INVALID, 401, NULL},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bitrise_result_t res;
                bitrise_class_t cls = get_build(cases[i].prefix, 0, 0, &res);
                T_ASSERTF(cls == cases[i].cls, "%s: %s (%s)", cases[i].prefix,
                          bitrise_class_name(cls), res.message);
                T_EQ_INT(res.http_status, cases[i].status);
                if (cases[i].message)
                        T_EQ_STR(res.message, cases[i].message);
                if (cases[i].status == 429) {
                        T_EQ_INT(res.retry_after_ms, 7000);
                        T_EQ_INT(res.rl.present, 1);
                        T_EQ_INT(res.rl.limit, 100);
                        T_EQ_INT(res.rl.remaining, 0);
                        T_ASSERT(res.rl.reset_at_ms > 0);
                }
                bitrise_result_release(&res);
        }
        /* the redirect was not followed, so the token went nowhere else */
        T_EQ_INT(http_responder_hits(srv, "/elsewhere"), 0);
        /* the echoed token is masked */
        bitrise_result_t res;
        get_build("/echo", 0, 0, &res);
        T_ASSERTF(strstr(res.message, "(\"token *** is not valid\")") != NULL,
                  "%s", res.message);
}

static void test_client_network_faults(void) {
        bitrise_result_t res;
        T_EQ_INT(get_build("/reset", 0, 0, &res), BITRISE_TRANSIENT);
        T_EQ_INT(res.http_status, 0);
        T_ASSERT(strstr(res.message, "cannot get build " BUILD ": ") ==
                 res.message);
        T_EQ_INT(get_build("/midreset", 0, 0, &res), BITRISE_TRANSIENT);
        T_EQ_INT(res.http_status, 200);
        T_EQ_INT(get_build("/stall", 0, 300, &res), BITRISE_TRANSIENT);
        T_EQ_STR(res.message, "cannot get build " BUILD ": timed out");
        T_EQ_INT(res.curl_code, CURLE_OPERATION_TIMEDOUT);
        /* nobody listening */
        char err[160];
        bitrise_client_opts_t o = {.base_url = "http://127.0.0.1:1/v0.1",
                                   .connect_timeout_ms = 1000};
        bitrise_client_t *c     = bitrise_client_new(&o, err, sizeof(err));
        bitrise_req_t *req =
            bitrise_req_build_get(c, TOKEN, APP, BUILD, err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_TRANSIENT);
        T_EQ_STR(res.message, "cannot get build " BUILD ": cannot connect");
        bitrise_req_destroy(req);
        bitrise_client_destroy(c);
}

static void test_client_body_cap(void) {
        bitrise_result_t res;
        T_EQ_INT(get_build("/big", 1024, 0, &res), BITRISE_PERMANENT);
        T_EQ_STR(res.message, "cannot get build " BUILD
                              ": HTTP 200 body larger than 1024 bytes");
        T_EQ_INT(get_build("/big", 64 * 200, 0, &res),
                 BITRISE_PERMANENT); /* fits, not JSON */
        T_ASSERT(strstr(res.message, "bad body") != NULL);
        /* an error page over the cap is still the error it is */
        T_EQ_INT(get_build("/big503", 1024, 0, &res), BITRISE_TRANSIENT);
        T_EQ_INT(res.http_status, 503);
        T_EQ_STR(res.message, "cannot get build " BUILD
                              ": HTTP 503 (HTML page from a gateway)");
}

static void test_client_paging_and_app(void) {
        char err[160];
        bitrise_client_t *c = client_at("", 0, 0);
        bitrise_result_t res;
        T_EQ_INT(bitrise_apps_list_all(c, TOKEN, 0, &res), BITRISE_OK);
        T_EQ_INT(res.apps.n, 5);
        T_EQ_STR(res.apps.slugs[0], "a1");
        T_EQ_STR(res.apps.titles[0], "One");
        T_ASSERT(res.apps.titles[1] == NULL);
        T_EQ_STR(res.apps.slugs[4], "a5");
        T_ASSERT(res.apps.next == NULL);
        bitrise_result_release(&res);
        /* stopped early: next says where to go on */
        T_EQ_INT(bitrise_apps_list_all(c, TOKEN, 2, &res), BITRISE_OK);
        T_EQ_INT(res.apps.n, 4);
        T_EQ_STR(res.apps.next, "a5");
        bitrise_result_release(&res);

        bitrise_req_t *req =
            bitrise_req_builds_list(c, TOKEN, APP, 1, NULL, err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
        T_EQ_INT(res.kind, BITRISE_REQ_BUILDS_LIST);
        T_EQ_INT(res.builds.n, 3);
        T_EQ_STR(res.builds.slugs[0], "53e40ec7fccecd8f");
        T_EQ_STR(res.builds.next, "a38bec3ffe7bf674");
        bitrise_result_release(&res);
        bitrise_req_destroy(req);

        req = bitrise_req_app_get(c, TOKEN, APP, err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
        T_EQ_STR(res.app.title, "My app");
        T_EQ_STR(res.app.project_type, "ios");
        bitrise_result_release(&res);
        bitrise_req_destroy(req);
        bitrise_client_destroy(c);

        c = client_at("/loop", 0, 0);
        T_EQ_INT(bitrise_apps_list_all(c, TOKEN, 0, &res), BITRISE_PERMANENT);
        T_EQ_STR(res.message, "cannot list apps: paging.next repeats itself");
        T_EQ_INT(res.apps.n, 0);
        bitrise_client_destroy(c);

        c = client_at("/401", 0, 0); /* /401/v0.1/apps is unknown: 404 */
        T_EQ_INT(bitrise_apps_list_all(c, TOKEN, 0, &res), BITRISE_NOT_FOUND);
        bitrise_client_destroy(c);
}

static void test_client_log_info(void) {
        char err[160];
        bitrise_client_t *c = client_at("", 0, 0);
        bitrise_result_t res;
        bitrise_req_t *req = bitrise_req_log_info(
            c, TOKEN, APP, BUILD, "2026-04-03T17:28:24.5Z", err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
        T_EQ_INT(res.log_info.nchunks, 3);
        T_EQ_STR(res.log_info.chunks[0].chunk, "one\n");
        T_EQ_STR(res.log_info.chunks[2].chunk, "three\n");
        T_EQ_STR(res.log_info.next_after_timestamp, "2026-04-03T17:28:24Z");
        bitrise_result_release(&res);
        bitrise_req_destroy(req);
        char head[8192];
        T_EQ_INT(http_responder_last_head(srv, BUILD_PATH "/log*", head,
                                          sizeof(head)),
                 0);
        T_ASSERTF(
            !strncmp(
                head,
                "GET " BUILD_PATH
                "/log?after_timestamp=2026-04-03T17%3A28%3A24.5Z ",
                strlen("GET " BUILD_PATH
                       "/log?after_timestamp=2026-04-03T17%3A28%3A24.5Z ")),
            "%.120s", head);
        req =
            bitrise_req_log_info_page(c, TOKEN, APP, BUILD, NULL,
                                      "2026-04-03T17:00:00Z", err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
        bitrise_result_release(&res);
        bitrise_req_destroy(req);
        T_EQ_INT(http_responder_last_head(srv, BUILD_PATH "/log*", head,
                                          sizeof(head)),
                 0);
        T_ASSERTF(
            strstr(head, "/log?before_timestamp=2026-04-03T17%3A00%3A00Z "),
            "%.120s", head);
        req = bitrise_req_log_info_page(c, TOKEN, APP, BUILD, "a", "b", err,
                                        sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
        bitrise_result_release(&res);
        bitrise_req_destroy(req);
        T_EQ_INT(http_responder_last_head(srv, BUILD_PATH "/log*", head,
                                          sizeof(head)),
                 0);
        T_ASSERTF(strstr(head, "/log?after_timestamp=a&before_timestamp=b "),
                  "%.120s", head);
        bitrise_client_destroy(c);
}

static void test_client_raw_log(void) {
        char err[160], url[256], head[8192];
        bitrise_client_t *c = client_at("", 0, 0);
        bitrise_result_t res;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/raw/log.txt",
                 http_responder_port(srv));
        logparse_t *lp     = logparse_new(NULL);
        bitrise_req_t *req = bitrise_req_raw_log(c, url, lp, err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
        bitrise_req_destroy(req);
        T_EQ_INT(logparse_bytes(lp), fx_log_len);
        T_EQ_INT(logparse_failed_count(lp), 1);
        T_EQ_STR(logparse_failed_step(lp, 0)->title, "xcode-test");
        T_EQ_INT(
            http_responder_last_head(srv, "/raw/log.txt", head, sizeof(head)),
            0);
        T_ASSERTF(!strcasestr(head, "Authorization"), "%.300s", head);
        logparse_destroy(lp);

        /* the byte cap stops the download and is still OK */
        logparse_opts_t o = {.max_bytes = 1000};
        lp                = logparse_new(&o);
        req               = bitrise_req_raw_log(c, url, lp, err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
        bitrise_req_destroy(req);
        T_EQ_INT(logparse_bytes(lp), 1000);
        T_EQ_INT(logparse_truncated(lp), 1);
        logparse_destroy(lp);

        /* an expired URL: 403, and the error page never reaches the parser */
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/raw/expired.txt",
                 http_responder_port(srv));
        lp  = logparse_new(NULL);
        req = bitrise_req_raw_log(c, url, lp, err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_INSUFFICIENT_ROLE);
        T_EQ_STR(res.message, "cannot download the raw log: HTTP 403 (body is "
                              "not JSON (40 bytes))");
        T_ASSERT(!strstr(res.message, "raw/expired")); /* never the URL */
        T_EQ_INT(logparse_bytes(lp), 0);
        bitrise_req_destroy(req);
        logparse_destroy(lp);

        /* cut in the middle: transient, start over */
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/raw/cut.txt",
                 http_responder_port(srv));
        lp  = logparse_new(NULL);
        req = bitrise_req_raw_log(c, url, lp, err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_TRANSIENT);
        bitrise_req_destroy(req);
        logparse_destroy(lp);

        /* redirects are followed for the raw log, without credentials */
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/raw/redirect.txt",
                 http_responder_port(srv));
        lp  = logparse_new(NULL);
        req = bitrise_req_raw_log(c, url, lp, err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
        T_EQ_INT(logparse_bytes(lp), fx_log_len);
        bitrise_req_destroy(req);
        logparse_destroy(lp);

        T_ASSERT(bitrise_req_raw_log(c, "ftp://x/y", lp, err, sizeof(err)) ==
                 NULL);
        T_EQ_STR(err, "cannot download the raw log: not an http(s) URL");
        bitrise_client_destroy(c);
}

static void test_client_bad_arguments(void) {
        char err[160];
        bitrise_client_t *c = client_at("", 0, 0);
        T_ASSERT(bitrise_req_build_get(c, "", APP, BUILD, err, sizeof(err)) ==
                 NULL);
        T_EQ_STR(err,
                 "cannot get build " BUILD
                 ": the token is empty or has spaces or control characters");
        T_ASSERT(bitrise_req_build_get(c, "tok\r\nX-Evil: 1", APP, BUILD, err,
                                       sizeof(err)) == NULL);
        T_ASSERT(!strstr(err, "Evil"));
        T_ASSERT(bitrise_req_build_get(c, TOKEN, "../etc", BUILD, err,
                                       sizeof(err)) == NULL);
        T_EQ_STR(err, "cannot get build " BUILD ": invalid app or build slug");
        T_ASSERT(bitrise_req_build_get(c, TOKEN, APP, NULL, err, sizeof(err)) ==
                 NULL);
        bitrise_client_destroy(c);
        bitrise_client_opts_t o = {.base_url = "ftp://x"};
        T_ASSERT(bitrise_client_new(&o, err, sizeof(err)) == NULL);
        o = (bitrise_client_opts_t){.ca_file = "/nonexistent/ca.pem"};
        T_ASSERT(bitrise_client_new(&o, err, sizeof(err)) == NULL);
        T_EQ_STR(err, "cannot read CA bundle /nonexistent/ca.pem");
        T_EQ_INT(bitrise_token_kind("bitwat_abc"), BITRISE_TOKEN_WORKSPACE);
        T_EQ_INT(bitrise_token_kind("bitpat_abc"), BITRISE_TOKEN_PERSONAL);
        T_EQ_INT(bitrise_token_kind("0123abcd"), BITRISE_TOKEN_LEGACY);
        T_EQ_INT(bitrise_token_kind(NULL), BITRISE_TOKEN_LEGACY);
        bitrise_client_destroy(NULL);
        bitrise_req_destroy(NULL);
        bitrise_result_release(NULL);
}

/* ---- TLS: a custom CA works, an unknown one is refused ------------------ */

/* Runs `openssl s_server -www` with a fresh self-signed certificate for
 * 127.0.0.1; returns its pid and port, the cert path in ca (a temp dir). */
static pid_t tls_server_start(char *dir, char *ca, size_t ca_size, int *port) {
        char cmd[1024];
        snprintf(ca, ca_size, "%s/cert.pem", dir);
        snprintf(cmd, sizeof(cmd),
                 "openssl req -x509 -newkey ec -pkeyopt "
                 "ec_paramgen_curve:prime256v1 "
                 "-nodes -keyout %s/key.pem -out %s -subj /CN=127.0.0.1 "
                 "-addext subjectAltName=IP:127.0.0.1 -days 1 >/dev/null 2>&1",
                 dir, ca);
        if (system(cmd) != 0)
                return -1;
        int fds[2];
        if (pipe(fds))
                return -1;
        pid_t pid = fork();
        if (pid == 0) {
                char key[600];
                snprintf(key, sizeof(key), "%s/key.pem", dir);
                int null = open("/dev/null", O_WRONLY);
                dup2(fds[1], 1);
                if (null >= 0)
                        dup2(null, 2);
                close(fds[0]);
                execlp("openssl", "openssl", "s_server", "-accept",
                       "127.0.0.1:0", "-cert", ca, "-key", key, "-www",
                       "-naccept", "4", (char *)NULL);
                _exit(127);
        }
        close(fds[1]);
        FILE *f = fdopen(fds[0], "r");
        char line[256];
        *port = 0;
        while (f && fgets(line, sizeof(line), f))
                if (!strncmp(line, "ACCEPT ", 7)) {
                        const char *colon = strrchr(line, ':');
                        *port = colon ? (int)strtol(colon + 1, NULL, 10) : 0;
                        break;
                }
        if (f)
                fclose(f);
        if (*port <= 0) {
                kill(pid, SIGTERM);
                waitpid(pid, NULL, 0);
                return -1;
        }
        return pid;
}

static bitrise_class_t tls_get(int port, const char *ca,
                               bitrise_result_t *res) {
        char url[128], err[160];
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/v0.1", port);
        bitrise_client_opts_t o = {
            .base_url = url, .ca_file = ca, .timeout_ms = 5000};
        bitrise_client_t *c = bitrise_client_new(&o, err, sizeof(err));
        T_ASSERTF(c != NULL, "%s", err);
        bitrise_req_t *req =
            bitrise_req_build_get(c, TOKEN, APP, BUILD, err, sizeof(err));
        bitrise_class_t cls = bitrise_req_perform(req, res);
        bitrise_req_destroy(req);
        bitrise_client_destroy(c);
        return cls;
}

static void test_client_tls_verification(void) {
        char dir[] = "/tmp/bitmon-tls.XXXXXX", ca[600], cmd[700];
        T_ASSERT(mkdtemp(dir) != NULL);
        int port  = 0;
        pid_t pid = tls_server_start(dir, ca, sizeof(ca), &port);
        T_ASSERTF(pid > 0, "cannot start openssl s_server");
        bitrise_result_t untrusted, trusted;
        bitrise_class_t c1 = tls_get(port, NULL, &untrusted);
        bitrise_class_t c2 = tls_get(port, ca, &trusted);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        T_EQ_INT(system(cmd), 0);
        /* the system CAs do not know the certificate: refused */
        T_EQ_INT(c1, BITRISE_TRANSIENT);
        T_EQ_INT(untrusted.http_status, 0);
        T_EQ_STR(untrusted.message, "cannot get build " BUILD
                                    ": TLS certificate verification failed");
        /* with our CA the handshake works and s_server's HTML page arrives */
        T_EQ_INT(c2, BITRISE_PERMANENT);
        T_EQ_INT(trusted.http_status, 200);
        T_ASSERTF(strstr(trusted.message, "(HTML page from a gateway)") != NULL,
                  "%s", trusted.message);
}

/* The debug line per call names the call, never the token or the URL. */
static void test_client_debug_log_has_no_secrets(void) {
        char path[] = "/tmp/bitmon-log.XXXXXX", err[160], url[256];
        int fd      = mkstemp(path);
        T_ASSERT(fd >= 0);
        log_setup(LOG_LVL_DEBUG, LOG_FMT_TEXT, fd);
        bitrise_result_t res;
        get_build("", 0, 0, &res);
        bitrise_result_release(&res);
        get_build("/echo", 0, 0, &res);
        bitrise_client_t *c = client_at("", 0, 0);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/raw/log.txt",
                 http_responder_port(srv));
        logparse_t *lp     = logparse_new(NULL);
        bitrise_req_t *req = bitrise_req_raw_log(c, url, lp, err, sizeof(err));
        bitrise_req_perform(req, &res);
        bitrise_req_destroy(req);
        logparse_destroy(lp);
        bitrise_client_destroy(c);
        log_setup(LOG_LVL_INFO, LOG_FMT_AUTO, 2);
        char buf[8192] = "";
        ssize_t n      = pread(fd, buf, sizeof(buf) - 1, 0);
        close(fd);
        unlink(path);
        T_ASSERT(n > 0);
        buf[n] = '\0';
        T_ASSERTF(strstr(buf, "get build " BUILD " done class=ok http=200"),
                  "%.400s", buf);
        T_ASSERT(strstr(buf, "download the raw log done class=ok"));
        T_ASSERT(strstr(buf, "class=token_invalid http=401"));
        T_ASSERTF(!strstr(buf, TOKEN) && !strstr(buf, "raw/log.txt") &&
                      !strstr(buf, "127.0.0.1"),
                  "%.400s", buf);
}

/* The worker's way: many requests on one multi, finished as they complete. */
static void test_client_multi_many(void) {
        enum { N = 64 };
        char err[160];
        bitrise_client_t *c = client_at("", 0, 0);
        CURLM *m            = curl_multi_init();
        int ids[N];
        for (int i = 0; i < N; i++) {
                bitrise_req_t *req =
                    i % 2 ? bitrise_req_build_get(c, TOKEN, APP, BUILD, err,
                                                  sizeof(err))
                          : bitrise_req_log_info(c, TOKEN, APP, BUILD, NULL,
                                                 err, sizeof(err));
                T_ASSERT(req != NULL);
                ids[i] = i;
                bitrise_req_set_opaque(req, &ids[i]);
                T_EQ_INT(curl_multi_add_handle(m, bitrise_req_easy(req)),
                         CURLM_OK);
        }
        int running = 1, done = 0, ok = 0;
        int64_t deadline = 20000;
        while ((running || done < N) && deadline > 0) {
                curl_multi_perform(m, &running);
                CURLMsg *msg;
                int left;
                while ((msg = curl_multi_info_read(m, &left))) {
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        bitrise_req_t *req =
                            bitrise_req_from_easy(msg->easy_handle);
                        T_ASSERT(req != NULL);
                        CURLcode code = msg->data.result;
                        curl_multi_remove_handle(m, msg->easy_handle);
                        bitrise_result_t res;
                        int id = *(int *)bitrise_req_opaque(req);
                        bitrise_req_finish(req, code, &res);
                        T_EQ_INT(bitrise_req_kind(req),
                                 id % 2 ? BITRISE_REQ_BUILD_GET
                                        : BITRISE_REQ_LOG_INFO);
                        ok += res.cls == BITRISE_OK;
                        bitrise_result_release(&res);
                        bitrise_req_destroy(req);
                        done++;
                }
                curl_multi_poll(m, NULL, 0, 100, NULL);
                deadline -= 100;
        }
        curl_multi_cleanup(m);
        bitrise_client_destroy(c);
        T_EQ_INT(done, N);
        T_EQ_INT(ok, N);
}

int main(void) {
        curl_global_init(CURL_GLOBAL_ALL);
        fx_build = fixture_read("mcp_before_get_build.json", &fx_build_len);
        fx_log   = fixture_read("bitrisedebugtool_failure_xcode_test.log.txt",
                                &fx_log_len);
        fx_html  = fixture_read("gitrise_html_response.html", &fx_html_len);
        fx_list  = fixture_read(
             "devcenter_list_builds_in_progress_and_success.json", &fx_list_len);
        if (!fx_build || !fx_log || !fx_html || !fx_list) {
                printf("FAIL fixtures: set BITMON_SHARED\n");
                return 1;
        }
        setup_routes();
        char err[160];
        srv = http_responder_start(routes, nroutes, err, sizeof(err));
        if (!srv) {
                printf("FAIL responder: %s\n", err);
                return 1;
        }

        T_RUN(test_client_build_get_ok);
        T_RUN(test_client_classifications);
        T_RUN(test_client_network_faults);
        T_RUN(test_client_body_cap);
        T_RUN(test_client_paging_and_app);
        T_RUN(test_client_log_info);
        T_RUN(test_client_raw_log);
        T_RUN(test_client_bad_arguments);
        T_RUN(test_client_multi_many);
        T_RUN(test_client_tls_verification);
        T_RUN(test_client_debug_log_has_no_secrets);
        http_responder_stop(srv);
        free(fx_build);
        free(fx_log);
        free(fx_html);
        free(fx_list);
        curl_global_cleanup();
        return t_done();
}
