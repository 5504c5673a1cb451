/* Integration tests of the simulator's quotas (429 + headers), every fault
 * type, and the admin API (counters, max window count, runtime switches).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/support/sim_proc.h"

/* Assertion messages go into tests/assert.h's 512-byte buffer; cutting a long
 * one short is intended. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define APP   "669403bffbe35909"
#define APP2  "3247e2920496e846"
#define BUILD "/apps/" APP "/builds/b000000000000001"

static const char scenario[] =
    "{\"stats_window_s\": 1,"
    " \"tokens\": ["
    "  {\"value\": \"bitwat_dev\", \"role\": \"developer\"},"
    "  {\"value\": \"bitwat_q\", \"role\": \"developer\", \"quota\": "
    "{\"limit\": 5, \"window_s\": 2,"
    "    \"headers\": true, \"retry_after\": true, \"reset\": \"delta\"}},"
    "  {\"value\": \"bitwat_q_epoch\", \"role\": \"developer\", \"quota\": "
    "{\"limit\": 2, \"window_s\": 60,"
    "    \"headers\": true, \"retry_after\": false, \"reset\": \"epoch\"}},"
    "  {\"value\": \"bitwat_q_bare\", \"role\": \"developer\", \"quota\": "
    "{\"limit\": 1, \"window_s\": 60,"
    "    \"headers\": false, \"retry_after\": false}},"
    "  {\"value\": \"bitwat_old\", \"role\": \"developer\", \"revoked\": "
    "true}],"
    " \"endpoint_faults\": {\"apps_list\": {\"error_5xx\": 1, \"count\": 1}},"
    " \"apps\": [{\"slug\": \"" APP
    "\", \"builds\": [{\"slug\": \"b000000000000001\","
    "   \"triggered_at_s\": -10, \"running_s\": 3600, \"status\": 1}]},"
    "  {\"slug\": \"" APP2 "\", \"builds\": [{\"slug\": \"b000000000000002\","
    "   \"triggered_at_s\": -1000, \"running_s\": 60, \"status\": 1}]}]}";

static sim_proc_t *start(const char *json, const char *const *args) {
        char err[2048];
        sim_proc_t *p = sim_proc_start(json, args, err, sizeof(err));
        T_ASSERTF(p, "cannot start the simulator: %s", err);
        return p;
}

/* GET base+path; the response stays in r (caller releases). */
static long req(sim_proc_t *p, const char *path, const char *auth,
                sim_http_resp_t *r) {
        char url[1024];
        snprintf(url, sizeof(url), "%s%s", sim_proc_base_url(p), path);
        sim_http_get(url, auth, 10000, 0, r);
        return r->status;
}

static long status_of(sim_proc_t *p, const char *path, const char *auth) {
        sim_http_resp_t r;
        long st = req(p, path, auth, &r);
        T_ASSERTF(r.curl_code == 0, "GET %s: curl error %d", path, r.curl_code);
        sim_http_resp_release(&r);
        return st;
}

static cJSON *admin_get(sim_proc_t *p, const char *path) {
        char err[512];
        cJSON *o = NULL;
        T_ASSERTF(sim_proc_admin_get(p, path, &o, err, sizeof(err)) == 0, "%s",
                  err);
        return o;
}

static void admin_post(sim_proc_t *p, const char *path, const char *json) {
        char err[512];
        T_ASSERTF(sim_proc_admin_post(p, path, json, NULL, err, sizeof(err)) ==
                      0,
                  "%s", err);
}

static const cJSON *token_stats(const cJSON *stats, const char *value) {
        const cJSON *it;
        cJSON_ArrayForEach(
            it,
            cJSON_GetObjectItem(
                stats, "tokens")) if (strcmp(cJSON_GetObjectItem(it, "token")
                                                 ->valuestring,
                                             value) == 0) return it;
        return NULL;
}

static double num(const cJSON *o, const char *k) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
        T_ASSERTF(cJSON_IsNumber(v), "no number %s", k);
        return v->valuedouble;
}

static void test_quota_429_and_headers(void) {
        sim_proc_t *p = start(scenario, NULL);
        sim_http_resp_t r;
        char v[64];
        for (int i = 0; i < 5; i++) {
                T_EQ_INT(req(p, BUILD, "bitwat_q", &r), 200);
                T_EQ_STR(sim_http_header(&r, "X-RateLimit-Limit", v, sizeof(v)),
                         "5");
                T_EQ_INT(strtol(sim_http_header(&r, "X-RateLimit-Remaining", v,
                                                sizeof(v)),
                                NULL, 10),
                         4 - i);
                sim_http_resp_release(&r);
        }
        T_EQ_INT(req(p, BUILD, "bitwat_q", &r), 429);
        T_ASSERT(sim_http_header(&r, "Retry-After", v, sizeof(v)));
        long ra = strtol(v, NULL, 10);
        T_ASSERTF(ra >= 1 && ra <= 2, "Retry-After %ld", ra);
        T_EQ_STR(sim_http_header(&r, "X-RateLimit-Remaining", v, sizeof(v)),
                 "0");
        long reset = strtol(
            sim_http_header(&r, "X-RateLimit-Reset", v, sizeof(v)), NULL, 10);
        T_ASSERTF(reset >= 1 && reset <= 2, "X-RateLimit-Reset %ld (delta)",
                  reset);
        cJSON *body = sim_http_resp_json(&r);
        T_ASSERT(body && cJSON_IsString(cJSON_GetObjectItem(body, "message")));
        cJSON_Delete(body);
        sim_http_resp_release(&r);
        /* epoch reset, no Retry-After */
        T_EQ_INT(status_of(p, BUILD, "bitwat_q_epoch"), 200);
        T_EQ_INT(status_of(p, BUILD, "bitwat_q_epoch"), 200);
        T_EQ_INT(req(p, BUILD, "bitwat_q_epoch", &r), 429);
        T_ASSERT(!sim_http_header(&r, "Retry-After", v, sizeof(v)));
        reset = strtol(sim_http_header(&r, "X-RateLimit-Reset", v, sizeof(v)),
                       NULL, 10);
        T_ASSERTF(reset > 1000000000L && reset <= time_wall_ms() / 1000 + 61,
                  "X-RateLimit-Reset %ld (epoch)", reset);
        sim_http_resp_release(&r);
        /* bare 429: no headers at all, as Bitrise documents */
        T_EQ_INT(status_of(p, BUILD, "bitwat_q_bare"), 200);
        T_EQ_INT(req(p, BUILD, "bitwat_q_bare", &r), 429);
        T_ASSERT(!sim_http_header(&r, "Retry-After", v, sizeof(v)));
        T_ASSERT(!sim_http_header(&r, "X-RateLimit-Limit", v, sizeof(v)));
        sim_http_resp_release(&r);
        cJSON *stats   = admin_get(p, "/stats");
        const cJSON *t = token_stats(stats, "bitwat_q");
        T_EQ_INT(num(t, "requests"), 6);
        T_EQ_INT(num(t, "throttled"), 1);
        T_EQ_INT(num(t, "max_window_count"), 6);
        T_EQ_INT(num(cJSON_GetObjectItem(t, "status"), "4xx"), 1);
        cJSON_Delete(stats);
        /* the window slides: allowed again */
        usleep(2100 * 1000);
        T_EQ_INT(status_of(p, BUILD, "bitwat_q"), 200);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_max_window_count_slides(void) {
        sim_proc_t *p = start(scenario, NULL);
        for (int i = 0; i < 7; i++)
                status_of(p, BUILD, "bitwat_dev");
        usleep(1200 * 1000);
        for (int i = 0; i < 3; i++)
                status_of(p, BUILD, "bitwat_dev");
        cJSON *stats   = admin_get(p, "/stats");
        const cJSON *t = token_stats(stats, "bitwat_dev");
        T_EQ_INT(num(t, "requests"), 10);
        T_EQ_INT(num(t, "max_window_count"), 7);
        T_EQ_INT(num(t, "window_s"), 1);
        cJSON_Delete(stats);
        admin_post(p, "/stats/reset", NULL);
        for (int i = 0; i < 3; i++)
                status_of(p, BUILD, "bitwat_dev");
        usleep(1200 * 1000);
        for (int i = 0; i < 4; i++)
                status_of(p, BUILD, "bitwat_dev");
        stats = admin_get(p, "/stats");
        T_EQ_INT(num(token_stats(stats, "bitwat_dev"), "max_window_count"), 4);
        cJSON_Delete(stats);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void set_fault(sim_proc_t *p, const char *scope, const char *faults) {
        char body[512];
        snprintf(body, sizeof(body), "{\"scope\": \"%s\", \"faults\": %s}",
                 scope, faults);
        admin_post(p, "/faults", body);
}

static void test_every_fault_type(void) {
        sim_proc_t *p = start(scenario, NULL);
        sim_http_resp_t r;
        char v[128];
        cJSON *j;
        /* from the scenario: apps_list fails once with 503, then works */
        T_EQ_INT(status_of(p, "/apps", "bitwat_dev"), 503);
        T_EQ_INT(status_of(p, "/apps", "bitwat_dev"), 200);
        set_fault(p, "build_get", "{\"error_5xx\": 1, \"status_5xx\": 500}");
        T_EQ_INT(req(p, BUILD, "bitwat_dev", &r), 500);
        j = sim_http_resp_json(&r);
        T_ASSERT(j && cJSON_GetObjectItem(j, "message"));
        cJSON_Delete(j);
        sim_http_resp_release(&r);
        set_fault(p, "build_get", "{\"html\": 1}");
        T_EQ_INT(req(p, BUILD, "bitwat_dev", &r), 502);
        T_ASSERT(strstr(sim_http_header(&r, "Content-Type", v, sizeof(v)),
                        "text/html"));
        T_ASSERT(strstr(buf_cstr(&r.body), "<title>Application Error</title>"));
        sim_http_resp_release(&r);
        set_fault(p, "build_get", "{\"invalid_json\": 1}");
        T_EQ_INT(req(p, BUILD, "bitwat_dev", &r), 200);
        j = sim_http_resp_json(&r);
        T_ASSERT(j == NULL && r.body.len > 0);
        sim_http_resp_release(&r);
        set_fault(p, "build_get", "{\"truncate\": 1}");
        req(p, BUILD, "bitwat_dev", &r);
        T_EQ_INT(r.curl_code, CURLE_PARTIAL_FILE);
        sim_http_resp_release(&r);
        set_fault(p, "build_get", "{\"reset\": 1}");
        req(p, BUILD, "bitwat_dev", &r);
        T_ASSERTF(r.curl_code == CURLE_RECV_ERROR ||
                      r.curl_code == CURLE_GOT_NOTHING,
                  "curl code %d", r.curl_code);
        T_EQ_INT(r.status, 0);
        sim_http_resp_release(&r);
        set_fault(p, "build_get",
                  "{\"slow_body\": 1, \"slow_bytes_per_s\": 2000}");
        int64_t t0 = time_mono_ms();
        T_EQ_INT(req(p, BUILD, "bitwat_dev", &r), 200);
        int64_t ms = time_mono_ms() - t0;
        j          = sim_http_resp_json(&r);
        T_ASSERTF(j && r.body.len > 500, "slow body: curl %d, %zu bytes",
                  r.curl_code, r.body.len);
        T_ASSERTF(ms >= (int64_t)r.body.len * 1000 / 2000 - 150,
                  "%zu bytes in %lld ms", r.body.len, (long long)ms);
        cJSON_Delete(j);
        sim_http_resp_release(&r);
        set_fault(p, "build_get", "{\"latency_ms\": 300}");
        t0 = time_mono_ms();
        T_EQ_INT(status_of(p, BUILD, "bitwat_dev"), 200);
        T_ASSERT(time_mono_ms() - t0 >= 300);
        set_fault(p, "build_get",
                  "{\"latency_ms\": {\"min\": 100, \"max\": 200}}");
        t0 = time_mono_ms();
        T_EQ_INT(status_of(p, BUILD, "bitwat_dev"), 200);
        T_ASSERT(time_mono_ms() - t0 >= 100);
        /* latency never blocks other requests (connections are suspended) */
        set_fault(p, "build_get", "{\"latency_ms\": 1500}");
        t0 = time_mono_ms();
        T_EQ_INT(status_of(p, "/apps", "bitwat_dev"), 200);
        T_ASSERT(time_mono_ms() - t0 < 1000);
        /* count: only the first N requests */
        set_fault(p, "build_get", "{\"error_5xx\": 1, \"count\": 2}");
        T_EQ_INT(status_of(p, BUILD, "bitwat_dev"), 503);
        T_EQ_INT(status_of(p, BUILD, "bitwat_dev"), 503);
        T_EQ_INT(status_of(p, BUILD, "bitwat_dev"), 200);
        /* per app: only that app */
        set_fault(p, "app:" APP2, "{\"error_5xx\": 1}");
        T_EQ_INT(status_of(p, "/apps/" APP2 "/builds/b000000000000002",
                           "bitwat_dev"),
                 503);
        T_EQ_INT(status_of(p, BUILD, "bitwat_dev"), 200);
        set_fault(p, "app:" APP2, "null");
        T_EQ_INT(status_of(p, "/apps/" APP2 "/builds/b000000000000002",
                           "bitwat_dev"),
                 200);
        /* global, and the raw log endpoint */
        set_fault(p, "global", "{\"error_5xx\": 0.5}");
        int fails = 0;
        for (int i = 0; i < 40; i++)
                fails += status_of(p, "/apps/" APP, "bitwat_dev") == 503;
        T_ASSERTF(fails > 5 && fails < 35, "%d of 40 failed at share 0.5",
                  fails);
        set_fault(p, "global", "null");
        T_EQ_INT(status_of(p, "/apps/" APP, "bitwat_dev"), 200);
        T_EQ_INT(sim_proc_admin_post(p, "/faults",
                                     "{\"scope\": \"nowhere\", \"faults\": {}}",
                                     NULL, v, sizeof(v)),
                 -1);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_admin_counters_and_switches(void) {
        const char *args[] = {"--log-level", "debug", NULL};
        sim_proc_t *p      = start(scenario, args);
        cJSON *stats, *o;
        admin_post(p, "/faults",
                   "{\"scope\": \"apps_list\", \"faults\": null}");
        for (int i = 0; i < 3; i++)
                T_EQ_INT(status_of(p, BUILD, "bitwat_dev"), 200);
        T_EQ_INT(status_of(p, "/apps", "token bitwat_dev"), 200);
        T_EQ_INT(status_of(p, BUILD "/log", "bitwat_dev"), 200);
        T_EQ_INT(status_of(p, BUILD, "bitwat_nope"), 401);
        T_EQ_INT(status_of(p, BUILD, "bitwat_old"), 401);
        T_EQ_INT(status_of(p, BUILD, "Bearer bitwat_dev"), 401);
        T_EQ_INT(
            status_of(p, "/apps/" APP "/builds/ffffffffffffffff", "bitwat_dev"),
            404);
        stats            = admin_get(p, "/stats");
        const cJSON *t   = token_stats(stats, "bitwat_dev"),
                    *eps = cJSON_GetObjectItem(stats, "endpoints");
        T_EQ_INT(num(t, "requests"), 6);
        T_EQ_INT(num(cJSON_GetObjectItem(t, "endpoints"), "build_get"), 4);
        T_EQ_INT(num(cJSON_GetObjectItem(t, "endpoints"), "apps_list"), 1);
        T_EQ_INT(num(cJSON_GetObjectItem(t, "endpoints"), "build_log"), 1);
        T_EQ_INT(num(cJSON_GetObjectItem(t, "status"), "2xx"), 5);
        T_EQ_INT(num(cJSON_GetObjectItem(t, "status"), "4xx"), 1);
        T_EQ_INT(strlen(cJSON_GetObjectItem(t, "fingerprint")->valuestring),
                 16);
        T_EQ_INT(num(eps, "build_get"), 7);
        T_EQ_INT(num(stats, "requests"), 9);
        T_EQ_INT(num(stats, "invalid_token_requests"),
                 2); /* unknown + Bearer */
        T_EQ_INT(num(stats, "revoked_token_requests"), 1);
        T_EQ_INT(num(token_stats(stats, "bitwat_old"), "requests"), 1);
        cJSON_Delete(stats);
        /* revoke, add, replace at run time */
        admin_post(p, "/tokens/revoke", "{\"token\": \"bitwat_dev\"}");
        T_EQ_INT(status_of(p, BUILD, "bitwat_dev"), 401);
        admin_post(p, "/tokens",
                   "{\"value\": \"bitwat_new\", \"role\": \"developer\"}");
        T_EQ_INT(status_of(p, BUILD "/log", "bitwat_new"), 200);
        admin_post(p, "/tokens",
                   "{\"value\": \"bitwat_new\", \"role\": \"tester\"}");
        T_EQ_INT(status_of(p, BUILD "/log", "bitwat_new"), 403);
        T_EQ_INT(status_of(p, BUILD, "bitwat_new"), 200);
        /* finish a running build now, with a status */
        admin_post(p, "/builds/finish",
                   "{\"app\": \"" APP
                   "\", \"build\": \"b000000000000001\", \"status\": 2}");
        sim_http_resp_t r;
        T_EQ_INT(req(p, BUILD, "bitwat_new", &r), 200);
        o              = sim_http_resp_json(&r);
        const cJSON *d = cJSON_GetObjectItem(o, "data");
        T_EQ_INT(num(d, "status"), 2);
        T_EQ_STR(cJSON_GetObjectItem(d, "status_text")->valuestring, "error");
        T_ASSERT(cJSON_IsString(cJSON_GetObjectItem(d, "finished_at")));
        cJSON_Delete(o);
        sim_http_resp_release(&r);
        o = admin_get(p, "/expected?app=" APP "&build=b000000000000001");
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "failed_steps")), 1);
        cJSON_Delete(o);
        /* reset */
        admin_post(p, "/stats/reset", NULL);
        stats = admin_get(p, "/stats");
        T_EQ_INT(num(stats, "requests"), 0);
        T_EQ_INT(num(token_stats(stats, "bitwat_new"), "requests"), 0);
        cJSON_Delete(stats);
        o = admin_get(p, "/health");
        T_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")));
        cJSON_Delete(o);
        /* the simulator's own log never shows a token, even at debug */
        char path[512];
        snprintf(path, sizeof(path), "%s", sim_proc_log_path(p));
        FILE *f = fopen(path, "r");
        T_ASSERT(f);
        static char logbuf[1 << 16];
        size_t n  = fread(logbuf, 1, sizeof(logbuf) - 1, f);
        logbuf[n] = '\0';
        fclose(f);
        T_ASSERTF(strstr(logbuf, "status=200") ||
                      strstr(logbuf, "\"status\":\"200\""),
                  "no debug request lines in the log");
        T_ASSERT(!strstr(logbuf, "bitwat_"));
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_sigterm_stops_cleanly_with_suspended_requests(void) {
        sim_proc_t *p = start(scenario, NULL);
        set_fault(p, "build_get",
                  "{\"slow_body\": 1, \"slow_bytes_per_s\": 10}");
        pid_t pid = fork();
        if (pid == 0) { /* a client stuck in a slow body */
                sim_http_resp_t r;
                char url[256];
                snprintf(url, sizeof(url), "%s%s", sim_proc_base_url(p), BUILD);
                sim_http_get(url, "bitwat_dev", 5000, 0, &r);
                _exit(0);
        }
        usleep(300 * 1000);
        int64_t t0 = time_mono_ms();
        kill(sim_proc_pid(p), SIGTERM);
        int status = -1;
        for (int i = 0;
             i < 300 && waitpid(sim_proc_pid(p), &status, WNOHANG) == 0; i++)
                usleep(10000);
        int64_t ms = time_mono_ms() - t0;
        T_ASSERTF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "exit status %d after %lld ms", status, (long long)ms);
        T_ASSERTF(ms < 3000, "took %lld ms to stop", (long long)ms);
        waitpid(pid, NULL, 0);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static const cJSON *budget_token(const cJSON *b, const char *value) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "tokens")) {
                if (strcmp(cJSON_GetObjectItem(it, "token")->valuestring,
                           value) == 0)
                        return it;
        }
        return NULL;
}

/* /_sim/budget: requests of each token per fixed window against burst +
 * rate x window, 429s and 401s included (the client made them). Windows of
 * 5 s: the requests of each step arrive well inside one. */
static void test_budget_windows(void) {
        sim_proc_t *p = start(scenario, NULL);
        char err[512];
        long st = 0;
        cJSON *b;
        const cJSON *t;
        b = admin_get(p, "/budget");
        T_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(b, "on")));
        cJSON_Delete(b);
        T_EQ_INT(sim_proc_admin_post(p, "/budget", "{\"rate\": 0}", NULL, err,
                                     sizeof(err)),
                 -1);
        T_ASSERTF(strstr(err, "rate"), "%s", err);
        admin_post(p, "/budget",
                   "{\"rate\": 1, \"burst\": 2, \"window_s\": 5}");
        /* limit 2 + 1 x 5 = 7: seven requests are within it */
        for (int i = 0; i < 7; i++)
                status_of(p, BUILD, "bitwat_dev");
        b = admin_get(p, "/budget");
        T_EQ_INT(num(b, "limit"), 7);
        t = budget_token(b, "bitwat_dev");
        T_ASSERT(t);
        T_EQ_INT(num(t, "requests"), 7);
        T_EQ_INT(num(t, "windows"), 1);
        T_EQ_INT(num(t, "over_budget_windows"), 0);
        T_EQ_INT(num(b, "over_budget_windows"), 0);
        cJSON_Delete(b);
        /* the quota token: 8 requests, 3 of them refused with 429, all count */
        for (int i = 0; i < 8; i++)
                st = status_of(p, BUILD, "bitwat_q");
        T_EQ_INT(st, 429);
        /* a revoked token's 401s count as well */
        for (int i = 0; i < 3; i++)
                T_EQ_INT(status_of(p, BUILD, "bitwat_old"), 401);
        b = admin_get(p, "/budget");
        t = budget_token(b, "bitwat_q");
        T_EQ_INT(num(t, "requests"), 8);
        T_EQ_INT(num(t, "over_budget_windows"), 1);
        T_EQ_INT(num(t, "max_window_requests"), 8);
        T_EQ_INT(num(t, "max_sliding_requests"), 8);
        const cJSON *ov = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "over"), 0);
        T_ASSERT(ov);
        T_EQ_INT(num(ov, "requests"), 8);
        T_EQ_INT(num(budget_token(b, "bitwat_old"), "requests"), 3);
        T_EQ_INT(num(budget_token(b, "bitwat_dev"), "over_budget_windows"), 0);
        T_EQ_INT(num(b, "over_budget_windows"), 1);
        cJSON_Delete(b);
        /* a new setting starts the count over; slack 1 s: limit 2 + 1 x 6 */
        admin_post(
            p, "/budget",
            "{\"rate\": 1, \"burst\": 2, \"window_s\": 5, \"slack_s\": 1}");
        b = admin_get(p, "/budget");
        T_EQ_INT(num(b, "limit"), 8);
        T_EQ_INT(num(budget_token(b, "bitwat_q"), "requests"), 0);
        cJSON_Delete(b);
        for (int i = 0; i < 8; i++)
                status_of(p, BUILD, "bitwat_dev");
        b = admin_get(p, "/budget");
        T_EQ_INT(num(budget_token(b, "bitwat_dev"), "over_budget_windows"), 0);
        cJSON_Delete(b);
        status_of(p, BUILD, "bitwat_dev");
        b = admin_get(p, "/budget");
        T_EQ_INT(num(budget_token(b, "bitwat_dev"), "over_budget_windows"), 1);
        cJSON_Delete(b);
        T_EQ_INT(sim_proc_stop(p), 0);
}

int main(void) {
        T_RUN(test_quota_429_and_headers);
        T_RUN(test_max_window_count_slides);
        T_RUN(test_budget_windows);
        T_RUN(test_every_fault_type);
        T_RUN(test_admin_counters_and_switches);
        T_RUN(test_sigterm_stops_cleanly_with_suspended_requests);
        return t_done();
}
