/* Integration tests of build/bitrise-sim's build list: filters (status,
 * after / before on each configurable after_field), sort_by, paging, omitted
 * builds, answers against bitrise-api/swagger.json, and list calls counted
 * apart from build_get. The workload: itest_sim_workload.c.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/integration/sim_test.h"
#include "tests/support/sim_proc.h"
#include "tests/support/swagger_check.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

static swagger_t *sw;

#define APP "669403bffbe35909"

/* b7 is the oldest but listed last: the order is by triggered_at. b4 and b5
 * were triggered together (the later in the file first). */
static const char builds[] =
    "\"tokens\": [{\"value\": \"bitwat_dev\", \"role\": \"developer\"}],"
    "\"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
    " {\"slug\": \"b1\", \"triggered_at_s\": -3600, \"running_s\": 60},"
    " {\"slug\": \"b2\", \"triggered_at_s\": -3000, \"running_s\": 60,"
    "  \"status\": 2, \"branch\": \"dev\"},"
    " {\"slug\": \"b3\", \"triggered_at_s\": -2000, \"running_s\": 0,"
    "  \"status\": 3},"
    " {\"slug\": \"b4\", \"triggered_at_s\": -10, \"on_hold_s\": 3600},"
    " {\"slug\": \"b5\", \"triggered_at_s\": -10, \"running_s\": 3600},"
    " {\"slug\": \"b6\", \"triggered_at_s\": 3600},"
    " {\"slug\": \"b7\", \"triggered_at_s\": -5000, \"running_s\": 60}]}]";

static sim_proc_t *start_with(const char *extra) {
        char json[4096];
        snprintf(json, sizeof(json), "{%s%s%s}", builds, extra[0] ? "," : "",
                 extra);
        return sim_test_start(json);
}

static int64_t started_s(sim_proc_t *p) {
        cJSON *h = NULL;
        char err[256];
        int64_t ms = 0;
        T_ASSERTF(sim_proc_admin_get(p, "/health", &h, err, sizeof(err)) == 0,
                  "%s", err);
        T_EQ_INT(time_rfc3339_parse(
                     cJSON_GetStringValue(cJSON_GetObjectItem(h, "started_at")),
                     &ms),
                 0);
        cJSON_Delete(h);
        return ms / 1000;
}

/* GET the app's builds with query q; the slugs in order, comma-separated,
 * into out. Returns the HTTP status; 200 answers are checked against the
 * spec and *total gets paging.total_item_count. */
static long list(sim_proc_t *p, const char *q, char *out, size_t size,
                 int *total) {
        char path[512], err[512];
        cJSON *b = NULL, *it;
        snprintf(path, sizeof(path), "/apps/" APP "/builds%s%s",
                 q[0] ? "?" : "", q);
        long st = sim_test_get(p, path, "bitwat_dev", &b);
        out[0]  = '\0';
        T_ASSERTF(b, "%s: not JSON", path);
        if (st == 200) {
                T_ASSERTF(swagger_check_response(sw, "/apps/{app-slug}/builds",
                                                 "get", 200, b, 0, err,
                                                 sizeof(err)) == 0,
                          "%s: %s", path, err);
                cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "data")) {
                        size_t n = strlen(out);
                        snprintf(out + n, size - n, "%s%s", n ? "," : "",
                                 cJSON_GetStringValue(
                                     cJSON_GetObjectItem(it, "slug")));
                }
                if (total)
                        *total = (int)cJSON_GetObjectItem(
                                     cJSON_GetObjectItem(b, "paging"),
                                     "total_item_count")
                                     ->valuedouble;
        } else {
                T_ASSERTF(cJSON_IsString(cJSON_GetObjectItem(b, "message")),
                          "%s: HTTP %ld without a message", path, st);
        }
        cJSON_Delete(b);
        return st;
}

#define EXPECT_LIST(p, q, want)                                                \
        do {                                                                   \
                char got_[512];                                                \
                T_EQ_INT(list(p, q, got_, sizeof(got_), NULL), 200);           \
                T_EQ_STR(got_, want);                                          \
        } while (0)

static void test_sort_and_status(void) {
        sim_proc_t *p = start_with("");
        char got[512];
        int total = 0;
        T_EQ_INT(list(p, "", got, sizeof(got), &total), 200);
        T_EQ_STR(got, "b5,b4,b3,b2,b1,b7"); /* b6 is in the future */
        T_EQ_INT(total, 6);
        EXPECT_LIST(p, "sort_by=created_at", "b5,b4,b3,b2,b1,b7");
        EXPECT_LIST(p, "sort_by=running_first", "b5,b4,b3,b2,b1,b7");
        EXPECT_LIST(p, "status=0", "b5,b4");
        EXPECT_LIST(p, "status=2", "b2");
        EXPECT_LIST(p, "status=1&sort_by=running_first", "b1,b7");
        EXPECT_LIST(p, "branch=dev", "b2");
        T_EQ_INT(list(p, "sort_by=newest", got, sizeof(got), NULL), 400);
        T_EQ_INT(list(p, "status=5", got, sizeof(got), NULL), 400);
        T_EQ_INT(list(p, "status=x", got, sizeof(got), NULL), 400);
        T_EQ_INT(list(p, "after=yesterday", got, sizeof(got), NULL), 400);
        T_EQ_INT(list(p, "before=-1", got, sizeof(got), NULL), 400);
        T_EQ_INT(list(p, "limit=0", got, sizeof(got), NULL), 400);
        T_EQ_INT(list(p, "next=nosuch", got, sizeof(got), NULL), 400);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* running_first puts builds of status 0 first however old they are. */
static void test_running_first_moves_old_running_builds(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"bitwat_dev\"}],"
            "\"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            " {\"slug\": \"old\", \"triggered_at_s\": -900, \"running_s\": "
            "3600},"
            " {\"slug\": \"mid\", \"triggered_at_s\": -600, \"running_s\": 1},"
            " {\"slug\": \"new\", \"triggered_at_s\": -300, \"running_s\": "
            "1}]}]}");
        EXPECT_LIST(p, "", "new,mid,old");
        EXPECT_LIST(p, "sort_by=running_first", "old,new,mid");
        EXPECT_LIST(p, "sort_by=running_first&limit=2", "old,new");
        EXPECT_LIST(p, "sort_by=running_first&limit=2&next=mid", "mid");
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_after_before_triggered(void) {
        sim_proc_t *p = start_with("");
        int64_t t0    = started_s(p);
        char q[128];
        snprintf(q, sizeof(q), "after=%lld", (long long)(t0 - 2500));
        EXPECT_LIST(p, q, "b5,b4,b3");
        snprintf(q, sizeof(q), "before=%lld", (long long)(t0 - 2500));
        EXPECT_LIST(p, q, "b2,b1,b7");
        snprintf(q, sizeof(q), "after=%lld&before=%lld", (long long)(t0 - 4000),
                 (long long)(t0 - 2500));
        EXPECT_LIST(p, q, "b2,b1");
        snprintf(q, sizeof(q), "after=%lld&status=0", (long long)(t0 - 2500));
        EXPECT_LIST(p, q, "b5,b4");
        snprintf(q, sizeof(q), "after=%lld", (long long)(t0 + 100));
        EXPECT_LIST(p, q, ""); /* b6 (t0 + 3600) is still hidden */
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* The field `after` compares is the scenario's; a null one never matches. */
static void test_after_field(void) {
        sim_proc_t *p = start_with(
            "\"builds_list\": {\"after_field\": \"started_on_worker_at\"}");
        int64_t t0 = started_s(p);
        char q[128];
        snprintf(q, sizeof(q), "after=%lld", (long long)(t0 - 4000));
        /* b3 never started, b4 is on hold, b7 started before */
        EXPECT_LIST(p, q, "b5,b2,b1");
        snprintf(q, sizeof(q), "before=%lld", (long long)(t0 - 4000));
        EXPECT_LIST(p, q, "b7");
        T_EQ_INT(sim_proc_stop(p), 0);
        p  = start_with("\"builds_list\": {\"after_field\": \"finished_at\"}");
        t0 = started_s(p);
        snprintf(q, sizeof(q), "after=%lld", (long long)(t0 - 4000));
        /* b4 and b5 have not finished: a client that lists running builds
         * with after= sees none of them */
        EXPECT_LIST(p, q, "b3,b2,b1");
        EXPECT_LIST(p, "", "b5,b4,b3,b2,b1,b7");
        T_EQ_INT(sim_proc_stop(p), 0);
        char err[2048];
        T_ASSERT(!sim_proc_start("{\"builds_list\": {\"after_field\": "
                                 "\"created\"}}",
                                 NULL, err, sizeof(err)));
        T_ASSERTF(strstr(err, "builds_list.after_field"), "%s", err);
        T_ASSERT(!sim_proc_start("{\"builds_list\": {\"omit_share\": 2}}", NULL,
                                 err, sizeof(err)));
        T_ASSERTF(strstr(err, "builds_list.omit_share"), "%s", err);
}

static void test_paging_follows_next(void) {
        sim_proc_t *p = start_with("");
        char got[512], q[128], all[512] = "";
        const char *next = "";
        int pages        = 0;
        /* limit 2: b5,b4 | b3,b2 | b1,b7 — each next is the first of the
         * page it leads to */
        static const char *const want[]  = {"b5,b4", "b3,b2", "b1,b7"};
        static const char *const nexts[] = {"b3", "b1", ""};
        for (; pages < 3; pages++) {
                snprintf(q, sizeof(q), "limit=2%s%s", next[0] ? "&next=" : "",
                         next);
                T_EQ_INT(list(p, q, got, sizeof(got), NULL), 200);
                T_EQ_STR(got, want[pages]);
                snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s",
                         pages ? "," : "", got);
                next = nexts[pages];
        }
        T_EQ_STR(all, "b5,b4,b3,b2,b1,b7");
        cJSON *b = NULL;
        T_EQ_INT(sim_test_get(p, "/apps/" APP "/builds?limit=2&next=b1",
                              "bitwat_dev", &b),
                 200);
        T_ASSERT(
            !cJSON_GetObjectItem(cJSON_GetObjectItem(b, "paging"), "next"));
        cJSON_Delete(b);
        T_EQ_INT(
            sim_test_get(p, "/apps/" APP "/builds?limit=2", "bitwat_dev", &b),
            200);
        T_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(b, "paging"), "next")),
                 "b3");
        cJSON_Delete(b);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* omit_share leaves matching builds out at random; never the same ones
 * every time, and the total still counts them. */
static void test_omit_share(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"bitwat_dev\"}],"
            " \"builds_list\": {\"omit_share\": 0.5},"
            " \"generate\": {\"seed\": 3, \"apps\": 1, \"builds_per_app\": 40,"
            "  \"running_last\": 0}}");
        cJSON *s = NULL, *b = NULL, *it;
        char err[256], path[256], seen[40][20];
        int n_seen = 0, short_answers = 0;
        T_ASSERTF(sim_proc_admin_get(p, "/slugs?app_index=0", &s, err,
                                     sizeof(err)) == 0,
                  "%s", err);
        snprintf(path, sizeof(path), "/apps/%s/builds",
                 cJSON_GetStringValue(cJSON_GetObjectItem(s, "app")));
        for (int round = 0; round < 20; round++) {
                T_EQ_INT(sim_test_get(p, path, "bitwat_dev", &b), 200);
                T_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "paging"),
                                             "total_item_count")
                             ->valuedouble,
                         40);
                int n = cJSON_GetArraySize(cJSON_GetObjectItem(b, "data"));
                short_answers += n < 40;
                cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "data")) {
                        const char *slug = cJSON_GetStringValue(
                            cJSON_GetObjectItem(it, "slug"));
                        bool known = false;
                        for (int i = 0; i < n_seen && !known; i++)
                                known = strcmp(seen[i], slug) == 0;
                        if (!known && n_seen < 40)
                                snprintf(seen[n_seen++], sizeof(seen[0]), "%s",
                                         slug);
                }
                cJSON_Delete(b);
        }
        T_ASSERTF(short_answers >= 18, "only %d of 20 answers left builds out",
                  short_answers);
        T_EQ_INT(n_seen, 40); /* each build showed up in some answer */
        cJSON_Delete(s);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static double ep_count(const cJSON *stats, const char *ep) {
        const cJSON *t =
            cJSON_GetArrayItem(cJSON_GetObjectItem(stats, "tokens"), 0);
        return cJSON_GetObjectItem(cJSON_GetObjectItem(t, "endpoints"), ep)
            ->valuedouble;
}

static void test_list_calls_counted_apart(void) {
        sim_proc_t *p = start_with("");
        cJSON *st     = NULL;
        char err[256], got[512];
        for (int i = 0; i < 3; i++)
                T_EQ_INT(list(p, "", got, sizeof(got), NULL), 200);
        T_EQ_INT(sim_test_get(p, "/apps/" APP "/builds/b1", "bitwat_dev", NULL),
                 200);
        T_ASSERTF(sim_proc_admin_get(p, "/stats", &st, err, sizeof(err)) == 0,
                  "%s", err);
        T_EQ_INT(ep_count(st, "builds_list"), 3);
        T_EQ_INT(ep_count(st, "build_get"), 1);
        T_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "endpoints"),
                                     "builds_list")
                     ->valuedouble,
                 3);
        cJSON_Delete(st);
        T_EQ_INT(sim_proc_stop(p), 0);
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
        T_RUN(test_sort_and_status);
        T_RUN(test_running_first_moves_old_running_builds);
        T_RUN(test_after_before_triggered);
        T_RUN(test_after_field);
        T_RUN(test_paging_follows_next);
        T_RUN(test_omit_share);
        T_RUN(test_list_calls_counted_apart);
        swagger_destroy(sw);
        return t_done();
}
