/* Integration tests of build/bitrise-sim: every endpoint's answers against
 * bitrise-api/swagger.json, field sets against the real captured responses,
 * authentication forms, roles, paging, and scenario errors. Logs, faults,
 * quotas and the admin API: itest_sim_logs.c, itest_sim_faults.c.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/assert.h"
#include "tests/support/fixtures.h"
#include "tests/integration/sim_test.h"
#include "tests/support/sim_proc.h"
#include "tests/support/swagger_check.h"

/* Assertion messages go into tests/assert.h's 512-byte buffer; cutting a long
 * one short is intended. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static char shared[512];
static swagger_t *sw;

static const char scenario[] =
    "{\"tokens\": ["
    " {\"value\": \"bitwat_dev\", \"workspace\": \"ws-acme\", \"role\": "
    "\"developer\"},"
    " {\"value\": \"bitwat_tester\", \"workspace\": \"ws-acme\", \"role\": "
    "\"tester\"},"
    " {\"value\": \"bitpat_perapp\", \"apps\": {\"669403bffbe35909\": "
    "\"developer\", \"3247e2920496e846\": \"none\"}},"
    " {\"value\": \"oldstyle0123456789\", \"role\": \"admin\", "
    "\"expires_after_s\": 3600},"
    " {\"value\": \"bitwat_expired\", \"role\": \"admin\", \"expires_at\": "
    "\"2020-01-01T00:00:00Z\"},"
    " {\"value\": \"bitwat_revoked\", \"role\": \"admin\", \"revoked\": true}],"
    "\"apps\": ["
    " {\"slug\": \"669403bffbe35909\", \"workspace\": \"ws-acme\", \"builds\": "
    "["
    "  {\"slug\": \"aaaaaaaaaaaaaaa1\", \"triggered_at_s\": -3600, "
    "\"running_s\": 60, \"status\": 1, \"branch\": \"main\"},"
    "  {\"slug\": \"aaaaaaaaaaaaaaa2\", \"triggered_at_s\": -3000, "
    "\"running_s\": 60, \"status\": 2, \"branch\": \"dev\","
    "   \"pull_request_id\": 17, \"pull_request_target_branch\": \"main\", "
    "\"commit_hash\": \"abc123\"},"
    "  {\"slug\": \"aaaaaaaaaaaaaaa3\", \"triggered_at_s\": -2000, "
    "\"running_s\": 0, \"status\": 3},"
    "  {\"slug\": \"aaaaaaaaaaaaaaa4\", \"triggered_at_s\": -10, "
    "\"on_hold_s\": 3600, \"status\": 1},"
    "  {\"slug\": \"aaaaaaaaaaaaaaa5\", \"triggered_at_s\": -10, "
    "\"running_s\": 3600, \"status\": 1,"
    "   \"log\": {\"bytes\": 10000000}},"
    "  {\"slug\": \"aaaaaaaaaaaaaaa6\", \"triggered_at_s\": 3600, \"status\": "
    "1}]},"
    " {\"slug\": \"3247e2920496e846\", \"workspace\": \"ws-acme\", \"builds\": "
    "["
    "  {\"slug\": \"7feee0a4-61f4-4eb6-a019-368cf9ac0d82\", "
    "\"triggered_at_s\": -100, \"running_s\": 10, \"status\": 4}]},"
    " {\"slug\": \"c0ffee00c0ffee00\", \"workspace\": \"ws-other\"}]}";

static void expect_valid(const char *spec_path, int status, const cJSON *body) {
        char err[512];
        T_ASSERTF(body, "%s: answer is not JSON", spec_path);
        T_ASSERTF(swagger_check_response(sw, spec_path, "get", status, body, 0,
                                         err, sizeof(err)) == 0,
                  "%s %d: %s", spec_path, status, err);
}

static void expect_message_(long status, long want, cJSON *body) {
        T_EQ_INT(status, want);
        T_ASSERTF(body && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
                              body, "message")),
                  "HTTP %ld: body has no string \"message\"", status);
}

/* The GET runs before b is read (function arguments have no set order). */
#define expect_message(get_call, want, b)                                      \
        do {                                                                   \
                long st_ = (get_call);                                         \
                expect_message_(st_, (want), (b));                             \
        } while (0)

static void test_swagger_checker_reports_mismatch_path(void) {
        char err[512];
        const char *end = NULL;
        cJSON *ok       = cJSON_ParseWithOpts(
                  "{\"data\": {\"slug\": \"x\", \"status\": 1, \"tag\": null}}", &end,
                  1);
        cJSON *bad = cJSON_ParseWithOpts(
            "{\"data\": {\"slug\": \"x\", \"status\": \"1\"}}", &end, 1);
        cJSON *list = cJSON_ParseWithOpts(
            "{\"data\": [{\"slug\": \"x\"}, {\"slug\": 5}]}", &end, 1);
        cJSON *extra =
            cJSON_ParseWithOpts("{\"data\": {\"slugg\": \"x\"}}", &end, 1);
        T_EQ_INT(swagger_check_definition(sw, "v0.BuildShowResponseModel", ok,
                                          0, err, sizeof(err)),
                 0);
        T_EQ_INT(swagger_check_definition(sw, "v0.BuildShowResponseModel", ok,
                                          SWAGGER_NO_NULL, err, sizeof(err)),
                 -1);
        T_EQ_STR(err, "$.data.tag: expected a value, got null");
        T_EQ_INT(swagger_check_definition(sw, "v0.BuildShowResponseModel", bad,
                                          0, err, sizeof(err)),
                 -1);
        T_EQ_STR(err, "$.data.status: expected integer, got string");
        T_EQ_INT(swagger_check_response(sw, "/apps/{app-slug}/builds", "get",
                                        200, list, 0, err, sizeof(err)),
                 -1);
        T_EQ_STR(err, "$.data[1].slug: expected string, got number");
        T_EQ_INT(swagger_check_definition(sw, "v0.BuildShowResponseModel",
                                          extra, 0, err, sizeof(err)),
                 0);
        T_EQ_INT(swagger_check_definition(sw, "v0.BuildShowResponseModel",
                                          extra, SWAGGER_STRICT, err,
                                          sizeof(err)),
                 -1);
        T_EQ_STR(err, "$.data.slugg: property not in the definition");
        cJSON_Delete(ok);
        cJSON_Delete(bad);
        cJSON_Delete(list);
        cJSON_Delete(extra);
}

static void test_endpoints_match_swagger(void) {
        sim_proc_t *p        = sim_test_start(scenario);
        cJSON *b             = NULL;
        const char *builds[] = {"aaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaa2",
                                "aaaaaaaaaaaaaaa3", "aaaaaaaaaaaaaaa4",
                                "aaaaaaaaaaaaaaa5"};
        T_EQ_INT(sim_test_get(p, "/apps", "bitwat_dev", &b), 200);
        expect_valid("/apps", 200, b);
        cJSON_Delete(b);
        T_EQ_INT(sim_test_get(p, "/apps/669403bffbe35909", "bitwat_dev", &b),
                 200);
        expect_valid("/apps/{app-slug}", 200, b);
        cJSON_Delete(b);
        T_EQ_INT(
            sim_test_get(p, "/apps/669403bffbe35909/builds", "bitwat_dev", &b),
            200);
        expect_valid("/apps/{app-slug}/builds", 200, b);
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(b, "data")),
                 5); /* the future one is hidden */
        cJSON_Delete(b);
        /* the list's query parameters of the spec, and its 400 */
        T_EQ_INT(sim_test_get(p,
                              "/apps/669403bffbe35909/builds?sort_by=running_"
                              "first&after=1&before=99999999999&status=0&"
                              "limit=2",
                              "bitwat_dev", &b),
                 200);
        expect_valid("/apps/{app-slug}/builds", 200, b);
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(b, "data")), 2);
        cJSON_Delete(b);
        T_EQ_INT(sim_test_get(p, "/apps/669403bffbe35909/builds?after=x",
                              "bitwat_dev", &b),
                 400);
        expect_valid("/apps/{app-slug}/builds", 400, b);
        cJSON_Delete(b);
        for (size_t i = 0; i < sizeof(builds) / sizeof(*builds); i++) {
                char path[256];
                snprintf(path, sizeof(path), "/apps/669403bffbe35909/builds/%s",
                         builds[i]);
                T_EQ_INT(sim_test_get(p, path, "bitwat_dev", &b), 200);
                expect_valid("/apps/{app-slug}/builds/{build-slug}", 200, b);
                cJSON_Delete(b);
        }
        T_EQ_INT(sim_test_get(p, "/apps", "nope", &b), 401);
        expect_valid("/apps", 401, b);
        cJSON_Delete(b);
        T_EQ_INT(sim_test_get(p,
                              "/apps/669403bffbe35909/builds/ffffffffffffffff",
                              "bitwat_dev", &b),
                 404);
        expect_valid("/apps/{app-slug}/builds/{build-slug}", 404, b);
        cJSON_Delete(b);
        /* /log: the spec gives schemas for its errors only; check the 200 shape
         * by hand */
        T_EQ_INT(sim_test_get(
                     p, "/apps/669403bffbe35909/builds/ffffffffffffffff/log",
                     "bitwat_dev", &b),
                 404);
        expect_valid("/apps/{app-slug}/builds/{build-slug}/log", 404, b);
        cJSON_Delete(b);
        T_EQ_INT(sim_test_get(
                     p, "/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa5/log",
                     "bitwat_dev", &b),
                 200);
        T_ASSERT(cJSON_IsBool(cJSON_GetObjectItem(b, "is_archived")));
        T_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(b, "expiring_raw_log_url")));
        T_ASSERT(
            cJSON_IsString(cJSON_GetObjectItem(b, "next_after_timestamp")));
        T_ASSERT(
            cJSON_IsString(cJSON_GetObjectItem(b, "next_before_timestamp")));
        T_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(b, "log_chunks")) > 0);
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(b, "log_chunks")) {
                T_ASSERT(cJSON_IsString(cJSON_GetObjectItem(c, "chunk")));
                T_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(c, "position")));
        }
        cJSON_Delete(b);
        T_EQ_INT(sim_test_get(p, "/apps?next=doesnotexist", "bitwat_dev", &b),
                 400);
        expect_valid("/apps", 400, b);
        cJSON_Delete(b);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static cJSON *load_json(const char *name) {
        size_t len      = 0;
        char *data      = fixture_read(name, &len);
        const char *end = NULL;
        T_ASSERTF(data, "cannot read %s", name);
        cJSON *j = cJSON_ParseWithOpts(data, &end, 1);
        free(data);
        T_ASSERTF(j, "%s: not JSON", name);
        return j;
}

/* Every key of `real` is a key of `sim`. */
static void expect_keys_cover(const cJSON *real, const cJSON *sim,
                              const char *what) {
        const cJSON *it;
        int n = 0;
        cJSON_ArrayForEach(it, real) {
                if (strcmp(it->string, "repository") ==
                    0) /* only in GET /builds across apps */
                        continue;
                T_ASSERTF(cJSON_GetObjectItemCaseSensitive(sim, it->string),
                          "%s: simulator lacks field %s", what, it->string);
                const cJSON *s =
                    cJSON_GetObjectItemCaseSensitive(sim, it->string);
                if (!cJSON_IsNull(it) && !cJSON_IsNull(s))
                        T_ASSERTF(
                            (cJSON_IsNumber(it) && cJSON_IsNumber(s)) ||
                                (cJSON_IsString(it) && cJSON_IsString(s)) ||
                                (cJSON_IsBool(it) && cJSON_IsBool(s)) ||
                                (cJSON_IsObject(it) && cJSON_IsObject(s)),
                            "%s.%s: type differs from the real response", what,
                            it->string);
                n++;
        }
        T_ASSERTF(n >= 10, "%s: only %d fields compared", what, n);
}

/* Every key of sim is in the spec definition or in one of the real objects. */
static void expect_no_invented_keys(const cJSON *sim, const char *def,
                                    cJSON *const *real, int n_real) {
        const cJSON *props = cJSON_GetObjectItem(swagger_definition(sw, def),
                                                 "properties"),
                    *it;
        T_ASSERT(props);
        cJSON_ArrayForEach(it, sim) {
                bool known =
                    cJSON_GetObjectItemCaseSensitive(props, it->string) != NULL;
                for (int i = 0; i < n_real && !known; i++)
                        known = cJSON_GetObjectItemCaseSensitive(
                                    real[i], it->string) != NULL;
                T_ASSERTF(known,
                          "simulator field %s is neither in %s nor in a real "
                          "response",
                          it->string, def);
        }
}

static void test_fields_cover_real_responses(void) {
        sim_proc_t *p    = sim_test_start(scenario);
        cJSON *sim_build = NULL, *sim_running = NULL, *sim_app = NULL;
        const char *lists[] = {
            "mcp_before_list_builds.json",
            "devcenter_list_builds_in_progress_and_success.json",
            "devcenter2022_list_builds_status2_error.json",
            "dotanuki_list_builds_two_failed.json",
            "zolee_list_builds_all_apps_aborted_error_success.json"};
        T_EQ_INT(sim_test_get(p,
                              "/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa2",
                              "bitwat_dev", &sim_build),
                 200);
        T_EQ_INT(sim_test_get(p,
                              "/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa5",
                              "bitwat_dev", &sim_running),
                 200);
        T_EQ_INT(
            sim_test_get(p, "/apps/669403bffbe35909", "bitwat_dev", &sim_app),
            200);
        cJSON *real = load_json("mcp_before_get_build.json");
        expect_keys_cover(cJSON_GetObjectItem(real, "data"),
                          cJSON_GetObjectItem(sim_build, "data"), "build");
        expect_keys_cover(cJSON_GetObjectItem(real, "data"),
                          cJSON_GetObjectItem(sim_running, "data"),
                          "running build");
        cJSON_Delete(real);
        for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
                const cJSON *it;
                real = load_json(lists[i]);
                cJSON_ArrayForEach(it, cJSON_GetObjectItem(real, "data")) {
                        expect_keys_cover(
                            it, cJSON_GetObjectItem(sim_build, "data"),
                            lists[i]);
                        const cJSON *repo =
                            cJSON_GetObjectItem(it, "repository");
                        if (repo)
                                expect_keys_cover(
                                    repo, cJSON_GetObjectItem(sim_app, "data"),
                                    "app");
                }
                cJSON_Delete(real);
        }
        cJSON *olds[2] = {
            load_json("devcenter_list_builds_status3_aborted.json"),
            load_json("mcp_before_get_build.json")};
        cJSON *real_objs[2] = {
            cJSON_GetArrayItem(cJSON_GetObjectItem(olds[0], "data"), 0),
            cJSON_GetObjectItem(olds[1], "data")};
        expect_no_invented_keys(cJSON_GetObjectItem(sim_build, "data"),
                                "v0.BuildResponseItemModel", real_objs, 2);
        expect_no_invented_keys(cJSON_GetObjectItem(sim_app, "data"),
                                "v0.AppResponseItemModel", NULL, 0);
        cJSON_Delete(olds[0]);
        cJSON_Delete(olds[1]);
        /* nulls where the real ones are null: running build */
        const cJSON *d = cJSON_GetObjectItem(sim_running, "data");
        T_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(d, "finished_at")));
        T_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(d, "abort_reason")));
        T_EQ_STR(cJSON_GetObjectItem(d, "status_text")->valuestring,
                 "in-progress");
        T_EQ_INT(cJSON_GetObjectItem(d, "pull_request_id")->valuedouble, 0);
        d = cJSON_GetObjectItem(sim_build, "data");
        T_EQ_STR(cJSON_GetObjectItem(d, "status_text")->valuestring, "error");
        T_EQ_INT(cJSON_GetObjectItem(d, "pull_request_id")->valuedouble, 17);
        cJSON_Delete(sim_build);
        cJSON_Delete(sim_running);
        cJSON_Delete(sim_app);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_status_values(void) {
        sim_proc_t *p = sim_test_start(scenario);
        struct {
                const char *path;
                int status;
                const char *text;
                bool hold;
        } cases[] = {
            {"/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa1", 1, "success",
             false},
            {"/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa2", 2, "error",
             false},
            {"/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa3", 3, "aborted",
             false},
            {"/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa4", 0, "on-hold",
             true},
            {"/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa5", 0, "in-progress",
             false},
            {"/apps/3247e2920496e846/builds/"
             "7feee0a4-61f4-4eb6-a019-368cf9ac0d82",
             4, "aborted-with-success", false},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                cJSON *b = NULL;
                T_EQ_INT(sim_test_get(p, cases[i].path, "bitwat_dev", &b), 200);
                const cJSON *d = cJSON_GetObjectItem(b, "data");
                T_EQ_INT(cJSON_GetObjectItem(d, "status")->valuedouble,
                         cases[i].status);
                T_EQ_STR(cJSON_GetObjectItem(d, "status_text")->valuestring,
                         cases[i].text);
                T_EQ_INT(cJSON_IsTrue(cJSON_GetObjectItem(d, "is_on_hold")),
                         cases[i].hold);
                T_EQ_INT(cJSON_IsNull(cJSON_GetObjectItem(d, "finished_at")),
                         cases[i].status == 0);
                if (cases[i].status >= 3)
                        T_ASSERT(cJSON_IsString(
                            cJSON_GetObjectItem(d, "abort_reason")));
                if (cases[i].hold)
                        T_ASSERT(cJSON_IsNull(
                            cJSON_GetObjectItem(d, "started_on_worker_at")));
                cJSON_Delete(b);
        }
        /* aborted before a worker started: no start time */
        cJSON *b = NULL;
        sim_test_get(p, cases[2].path, "bitwat_dev", &b);
        T_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(
            cJSON_GetObjectItem(b, "data"), "started_on_worker_at")));
        cJSON_Delete(b);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_auth_forms(void) {
        sim_proc_t *p = sim_test_start(scenario);
        cJSON *b      = NULL;
        T_EQ_INT(sim_test_get(p, "/apps?limit=1", "bitwat_dev", NULL), 200);
        T_EQ_INT(sim_test_get(p, "/apps?limit=1", "token bitwat_dev", NULL),
                 200);
        T_EQ_INT(sim_test_get(p, "/apps?limit=1", "oldstyle0123456789", NULL),
                 200);
        T_EQ_INT(sim_test_get(p, "/apps?limit=1", "bitpat_perapp", NULL), 200);
        const char *bad[] = {"Bearer bitwat_dev",    "bitwat_devX",
                             "bitwat_expired",       "bitwat_revoked",
                             "token bitwat_revoked", NULL};
        for (int i = 0; bad[i]; i++) {
                expect_message(sim_test_get(p, "/apps?limit=1", bad[i], &b),
                               401, b);
                cJSON_Delete(b);
        }
        expect_message(sim_test_get(p, "/apps?limit=1", NULL, &b), 401, b);
        cJSON_Delete(b);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_roles_and_reach(void) {
        sim_proc_t *p   = sim_test_start(scenario);
        cJSON *b        = NULL;
        const char *log = "/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa1/log";
        /* tester: lists and shows, no log */
        T_EQ_INT(sim_test_get(p, "/apps/669403bffbe35909/builds",
                              "bitwat_tester", NULL),
                 200);
        T_EQ_INT(sim_test_get(p,
                              "/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa1",
                              "bitwat_tester", NULL),
                 200);
        expect_message(sim_test_get(p, log, "bitwat_tester", &b), 403, b);
        cJSON_Delete(b);
        T_EQ_INT(sim_test_get(p, log, "bitwat_dev", NULL), 200);
        /* other workspace: 404 and not listed */
        expect_message(
            sim_test_get(p, "/apps/c0ffee00c0ffee00", "bitwat_dev", &b), 404,
            b);
        cJSON_Delete(b);
        T_EQ_INT(sim_test_get(p, "/apps", "bitwat_dev", &b), 200);
        T_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "paging"),
                                     "total_item_count")
                     ->valuedouble,
                 2);
        cJSON_Delete(b);
        /* per-app roles: None = 404, apps not named = 404 */
        T_EQ_INT(sim_test_get(p,
                              "/apps/669403bffbe35909/builds/aaaaaaaaaaaaaaa1",
                              "bitpat_perapp", NULL),
                 200);
        T_EQ_INT(sim_test_get(p, log, "bitpat_perapp", NULL), 200);
        T_EQ_INT(
            sim_test_get(p, "/apps/3247e2920496e846", "bitpat_perapp", NULL),
            404);
        T_EQ_INT(
            sim_test_get(p, "/apps/c0ffee00c0ffee00", "bitpat_perapp", NULL),
            404);
        T_EQ_INT(sim_test_get(p, "/apps", "bitpat_perapp", &b), 200);
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(b, "data")), 1);
        cJSON_Delete(b);
        /* unknown app, unknown path */
        T_EQ_INT(sim_test_get(p, "/apps/0000000000000000", "bitwat_dev", NULL),
                 404);
        T_EQ_INT(sim_test_get(p, "/nothing", "bitwat_dev", NULL), 404);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* Walks every page; returns the number of items, checks uniqueness. */
static int walk_pages(sim_proc_t *p, const char *path, const char *extra,
                      int limit, int *pages) {
        char next[64] = "", url[512];
        char seen[512][40];
        int n  = 0;
        *pages = 0;
        do {
                cJSON *b = NULL;
                snprintf(url, sizeof(url), "%s?limit=%d%s%s%s", path, limit,
                         extra, next[0] ? "&next=" : "", next);
                T_EQ_INT(sim_test_get(p, url, "bitwat_dev", &b), 200);
                const cJSON *pg = cJSON_GetObjectItem(b, "paging"), *it;
                T_EQ_INT(
                    cJSON_GetObjectItem(pg, "page_item_limit")->valuedouble,
                    limit > 50 ? 50 : limit);
                const cJSON *nx = cJSON_GetObjectItem(pg, "next");
                const cJSON *first =
                    cJSON_GetArrayItem(cJSON_GetObjectItem(b, "data"), 0);
                if (next[0]) /* next names the first item of the page it leads
                                to */
                        T_EQ_STR(
                            cJSON_GetObjectItem(first, "slug")->valuestring,
                            next);
                cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "data")) {
                        const char *s =
                            cJSON_GetObjectItem(it, "slug")->valuestring;
                        for (int i = 0; i < n && i < 512; i++)
                                T_ASSERTF(strcmp(seen[i], s) != 0,
                                          "slug %s on two pages", s);
                        if (n < 512)
                                snprintf(seen[n], sizeof(seen[n]), "%s", s);
                        n++;
                }
                snprintf(next, sizeof(next), "%s",
                         cJSON_IsString(nx) ? nx->valuestring : "");
                cJSON_Delete(b);
                (*pages)++;
        } while (next[0] && *pages < 100);
        return n;
}

static void test_paging(void) {
        sim_proc_t *p =
            sim_test_start("{\"tokens\": [{\"value\": \"bitwat_dev\", "
                           "\"role\": \"developer\"}],"
                           " \"generate\": {\"seed\": 7, \"apps\": 120, "
                           "\"builds_per_app\": 23,"
                           " \"mix\": {\"success\": 0.5, \"error\": 0.5}}}");
        cJSON *b = NULL, *s = NULL;
        char err[256], path[256];
        int pages;
        T_EQ_INT(walk_pages(p, "/apps", "", 50, &pages), 120);
        T_EQ_INT(pages, 3);
        T_EQ_INT(walk_pages(p, "/apps", "", 500, &pages),
                 120); /* clamped to 50 */
        T_EQ_INT(pages, 3);
        T_EQ_INT(sim_test_get(p, "/apps", "bitwat_dev", &b),
                 200); /* default limit 50 */
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(b, "data")), 50);
        T_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "paging"),
                                     "total_item_count")
                     ->valuedouble,
                 120);
        cJSON_Delete(b);
        T_ASSERTF(sim_proc_admin_get(p, "/slugs?app_index=119", &s, err,
                                     sizeof(err)) == 0,
                  "%s", err);
        snprintf(path, sizeof(path), "/apps/%s/builds",
                 cJSON_GetObjectItem(s, "app")->valuestring);
        T_EQ_INT(walk_pages(p, path, "", 10, &pages), 23);
        T_EQ_INT(pages, 3);
        int ok  = walk_pages(p, path, "&status=1", 5, &pages),
            bad = walk_pages(p, path, "&status=2", 5, &pages);
        T_EQ_INT(ok + bad, 23);
        T_ASSERT(ok > 0 && bad > 0);
        T_EQ_INT(sim_test_get(p, "/apps?limit=0", "bitwat_dev", &b), 400);
        cJSON_Delete(b);
        T_EQ_INT(sim_test_get(p, "/apps?limit=abc", "bitwat_dev", &b), 400);
        cJSON_Delete(b);
        snprintf(path + strlen(path), sizeof(path) - strlen(path),
                 "?next=ffffffffffffffff");
        expect_message(sim_test_get(p, path, "bitwat_dev", &b), 400, b);
        cJSON_Delete(b);
        cJSON_Delete(s);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_generated_scenario_is_lazy_and_deterministic(void) {
        const char *json = "{\"tokens\": [{\"value\": \"bitwat_dev\", "
                           "\"role\": \"developer\"}],"
                           " \"generate\": {\"seed\": 42, \"apps\": 10000, "
                           "\"builds_per_app\": 100}}";
        sim_proc_t *p    = sim_test_start(json), *q;
        cJSON *s = NULL, *b1 = NULL, *b2 = NULL;
        char err[256], path[256];
        T_ASSERTF(sim_proc_admin_get(p, "/slugs?app_index=9999&build_index=99",
                                     &s, err, sizeof(err)) == 0,
                  "%s", err);
        snprintf(path, sizeof(path), "/apps/%s/builds/%s",
                 cJSON_GetObjectItem(s, "app")->valuestring,
                 cJSON_GetObjectItem(s, "build")->valuestring);
        T_EQ_INT(sim_test_get(p, path, "bitwat_dev", &b1), 200);
        expect_valid("/apps/{app-slug}/builds/{build-slug}", 200, b1);
        T_EQ_INT(
            cJSON_GetObjectItem(cJSON_GetObjectItem(b1, "data"), "build_number")
                ->valuedouble,
            1);
        long rss = sim_proc_rss_kb(p);
        printf("# 10000 apps x 100 builds: simulator VmRSS %ld KiB\n", rss);
        T_ASSERTF(rss > 0 && rss < 64 * 1024, "RSS %ld KiB", rss);
        q = sim_test_start(json); /* same seed, same world */
        T_EQ_INT(sim_test_get(q, path, "bitwat_dev", &b2), 200);
        T_EQ_STR(
            cJSON_GetObjectItem(cJSON_GetObjectItem(b1, "data"), "commit_hash")
                ->valuestring,
            cJSON_GetObjectItem(cJSON_GetObjectItem(b2, "data"), "commit_hash")
                ->valuestring);
        T_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(b1, "data"), "status")
                     ->valuedouble,
                 cJSON_GetObjectItem(cJSON_GetObjectItem(b2, "data"), "status")
                     ->valuedouble);
        /* a build slug of another app is not found under this app */
        snprintf(path, sizeof(path), "/apps/%s/builds/%s",
                 cJSON_GetObjectItem(s, "app")->valuestring,
                 "0123456789abcdef");
        T_EQ_INT(sim_test_get(p, path, "bitwat_dev", NULL), 404);
        cJSON_Delete(s);
        cJSON_Delete(b1);
        cJSON_Delete(b2);
        T_EQ_INT(sim_proc_stop(q), 0);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_bad_scenarios_are_refused(void) {
        struct {
                const char *json, *want;
        } cases[] = {
            {"{\"apps\": [{\"slug\": \"a\", \"builds\": [{\"slug\": \"b\", "
             "\"status\": 9}]}]}",
             "status must be 1..4"},
            {"{\"tokens\": [{\"value\": \"x\", \"role\": \"boss\"}]}",
             "token.role"},
            {"{\"faults\": {\"error_5xx\": 2}}", "faults.error_5xx"},
            {"{\"apps\": 5}", "apps: expected an array"},
            {"{\"tokens\": [", "invalid JSON"},
            {"{\"workspaces\": [{\"slug\": \"a\"}], \"apps\": [{\"slug\": "
             "\"x\", \"workspace\": \"b\"}]}",
             "app x: workspace b is not in workspaces"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                char err[2048];
                sim_proc_t *p =
                    sim_proc_start(cases[i].json, NULL, err, sizeof(err));
                sim_proc_stop(p);
                T_ASSERTF(!p, "scenario %zu was accepted", i);
                T_ASSERTF(strstr(err, cases[i].want),
                          "scenario %zu: error \"%s\" lacks \"%s\"", i, err,
                          cases[i].want);
        }
}

static const char *build_status_text(sim_proc_t *p, const char *path) {
        static char text[32];
        cJSON *b = NULL;
        T_EQ_INT(sim_test_get(p, path, "bitwat_dev", &b), 200);
        snprintf(
            text, sizeof(text), "%s",
            cJSON_GetObjectItem(cJSON_GetObjectItem(b, "data"), "status_text")
                ->valuestring);
        cJSON_Delete(b);
        return text;
}

/* Builds progress in real time from start; --speed 60 makes a simulated
 * minute last a second (and overrides the scenario's speed). */
static void test_speed_compresses_time(void) {
        const char *args[] = {"--speed", "60", NULL};
        char err[2048];
        const char *path = "/apps/669403bffbe35909/builds/b000000000000001";
        sim_proc_t *p =
            sim_proc_start("{\"speed\": 1, \"tokens\": [{\"value\": "
                           "\"bitwat_dev\", \"role\": \"developer\"}],"
                           " \"apps\": [{\"slug\": \"669403bffbe35909\", "
                           "\"builds\": [{\"slug\": \"b000000000000001\","
                           "   \"triggered_at_s\": 0, \"on_hold_s\": 90, "
                           "\"running_s\": 120, \"status\": 2}]}]}",
                           args, err, sizeof(err));
        T_ASSERTF(p, "%s", err);
        cJSON *h = NULL;
        T_ASSERTF(sim_proc_admin_get(p, "/health", &h, err, sizeof(err)) == 0,
                  "%s", err);
        T_EQ_INT(cJSON_GetObjectItem(h, "speed")->valuedouble, 60);
        cJSON_Delete(h);
        T_EQ_STR(build_status_text(p, path),
                 "on-hold"); /* < 90 simulated s = 1.5 s */
        usleep(2000 * 1000); /* ~120 simulated s */
        T_EQ_STR(build_status_text(p, path), "in-progress");
        usleep(2500 * 1000); /* ~270 simulated s > 210 */
        T_EQ_STR(build_status_text(p, path), "error");
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* Every sample scenario in tests/scenarios/ starts (run from the repo root,
 * as tests/run.sh does). */
static void test_sample_scenarios_start(void) {
        DIR *d = opendir("tests/scenarios");
        struct dirent *e;
        int n = 0;
        T_ASSERTF(d, "no tests/scenarios (run from the repository root)");
        while ((e = readdir(d))) {
                char path[512], err[2048];
                size_t len = strlen(e->d_name);
                if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
                        continue;
                snprintf(path, sizeof(path), "tests/scenarios/%s", e->d_name);
                sim_proc_t *p =
                    sim_proc_start_file(path, NULL, err, sizeof(err));
                if (!p)
                        closedir(d);
                T_ASSERTF(p, "%s: %s", path, err);
                T_EQ_INT(sim_proc_stop(p), 0);
                n++;
        }
        closedir(d);
        T_ASSERT(n >= 3);
}

int main(void) {
        char err[512], path[1024];
        const char *s = getenv("BITMON_SHARED");
        snprintf(shared, sizeof(shared), "%s", s && *s ? s : "../shared");
        snprintf(path, sizeof(path), "%s/bitrise-api/swagger.json", shared);
        sw = swagger_load(path, err, sizeof(err));
        if (!sw) {
                printf("FAIL load_swagger: %s\n", err);
                return 1;
        }
        T_RUN(test_swagger_checker_reports_mismatch_path);
        T_RUN(test_endpoints_match_swagger);
        T_RUN(test_fields_cover_real_responses);
        T_RUN(test_status_values);
        T_RUN(test_auth_forms);
        T_RUN(test_roles_and_reach);
        T_RUN(test_paging);
        T_RUN(test_generated_scenario_is_lazy_and_deterministic);
        T_RUN(test_bad_scenarios_are_refused);
        T_RUN(test_sample_scenarios_start);
        T_RUN(test_speed_compresses_time);
        swagger_destroy(sw);
        return t_done();
}
