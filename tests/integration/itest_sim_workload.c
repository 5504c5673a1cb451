/* Integration tests of build/bitrise-sim's steady-state workload: same seed
 * same builds, constant concurrency, finishes spread evenly, consistent
 * durations per (app, workflow), max_builds, the admin listing, every
 * endpoint serving workload builds, /_sim/builds/finish, bounded memory.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/integration/sim_test.h"
#include "tests/support/sim_proc.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#define TOKEN                                                                  \
        "\"tokens\": [{\"value\": \"bitwat_b\", \"workspace\": "               \
        "\"ws-bench\", \"role\": \"developer\"}]"

static sim_proc_t *start(const char *workload, const char *speed) {
        char json[2048], err[2048];
        const char *args[] = {"--speed", speed, NULL};
        snprintf(json, sizeof(json), "{" TOKEN ", \"workload\": %s}", workload);
        sim_proc_t *p = sim_proc_start(json, args, err, sizeof(err));
        T_ASSERTF(p, "cannot start the simulator: %.400s", err);
        return p;
}

static cJSON *listing(sim_proc_t *p, long long since) {
        char path[64], err[256];
        cJSON *o = NULL;
        snprintf(path, sizeof(path), "/workload?since=%lld", since);
        T_ASSERTF(sim_proc_admin_get(p, path, &o, err, sizeof(err)) == 0, "%s",
                  err);
        return o;
}

static double num(const cJSON *o, const char *k) {
        const cJSON *v = cJSON_GetObjectItem(o, k);
        T_ASSERTF(cJSON_IsNumber(v), "field %s is not a number", k);
        return v->valuedouble;
}

static const char *str(const cJSON *o, const char *k) {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
        T_ASSERTF(s, "field %s is not a string", k);
        return s;
}

/* Builds running at simulated time t (triggered <= t < finished). */
static int running_at(const cJSON *builds, double t) {
        const cJSON *b;
        int n = 0;
        cJSON_ArrayForEach(b, builds) n +=
            num(b, "triggered_at_ms") <= t && t < num(b, "finished_at_ms");
        return n;
}

static double started_ms(sim_proc_t *p) {
        cJSON *h = NULL;
        char err[256];
        int64_t ms = 0;
        T_ASSERTF(sim_proc_admin_get(p, "/health", &h, err, sizeof(err)) == 0,
                  "%s", err);
        time_rfc3339_parse(str(h, "started_at"), &ms);
        cJSON_Delete(h);
        return (double)ms;
}

static const char small[] =
    "{\"seed\": 7, \"apps\": 4, \"workspace\": \"ws-bench\", "
    "\"workflows_per_app\": 3, \"concurrent\": 20, \"duration_s\": [60, 120],"
    " \"duration_jitter\": 0.05, \"on_hold_s\": [0, 5], \"archive_lag_s\": "
    "[1, 2], \"max_builds\": 100000}";

static void test_same_seed_same_builds(void) {
        sim_proc_t *a = start(small, "1"), *b = start(small, "1");
        cJSON *la = listing(a, 0), *lb = listing(b, 0);
        double ta = started_ms(a), tb = started_ms(b);
        const cJSON *ba = cJSON_GetObjectItem(la, "builds"),
                    *bb = cJSON_GetObjectItem(lb, "builds");
        T_EQ_INT(cJSON_GetArraySize(ba), 20);
        T_EQ_INT(cJSON_GetArraySize(bb), 20);
        for (int i = 0; i < 20; i++) {
                const cJSON *x = cJSON_GetArrayItem(ba, i),
                            *y = cJSON_GetArrayItem(bb, i);
                T_EQ_INT(num(x, "seq"), i);
                T_EQ_STR(str(x, "build"), str(y, "build"));
                T_EQ_STR(str(x, "app"), str(y, "app"));
                T_EQ_STR(str(x, "workflow"), str(y, "workflow"));
                T_EQ_INT(num(x, "status"), num(y, "status"));
                T_EQ_INT(num(x, "finished_at_ms") - ta,
                         num(y, "finished_at_ms") - tb);
                T_EQ_INT(num(x, "triggered_at_ms") - ta,
                         num(y, "triggered_at_ms") - tb);
                /* all running at start, triggered in sequence order */
                T_ASSERT(num(x, "triggered_at_ms") <= ta + 1000);
                T_ASSERT(num(x, "finished_at_ms") > ta);
                if (i)
                        T_ASSERT(num(x, "triggered_at_ms") >=
                                 num(cJSON_GetArrayItem(ba, i - 1),
                                     "triggered_at_ms"));
        }
        cJSON_Delete(la);
        cJSON_Delete(lb);
        T_EQ_INT(sim_proc_stop(b), 0);
        char other[sizeof(small)];
        snprintf(other, sizeof(other), "%s", small);
        memcpy(strstr(other, "\"seed\": 7"), "\"seed\": 8", 9);
        b  = start(other, "1");
        la = listing(a, 0);
        lb = listing(b, 0);
        T_ASSERT(
            strcmp(str(cJSON_GetArrayItem(cJSON_GetObjectItem(la, "builds"), 0),
                       "build"),
                   str(cJSON_GetArrayItem(cJSON_GetObjectItem(lb, "builds"), 0),
                       "build")) != 0);
        cJSON_Delete(la);
        cJSON_Delete(lb);
        T_EQ_INT(sim_proc_stop(b), 0);
        T_EQ_INT(sim_proc_stop(a), 0);
}

/* At 600x, 2 s are 20 simulated minutes: ten generations of builds. */
static void test_steady_concurrency(void) {
        sim_proc_t *p = start(small, "600");
        usleep(2000000);
        cJSON *l            = listing(p, 0);
        const cJSON *builds = cJSON_GetObjectItem(l, "builds"), *b;
        double t0 = started_ms(p), now = num(l, "sim_now_ms");
        int n = cJSON_GetArraySize(builds);
        T_ASSERTF(n > 120, "only %d builds after 20 simulated minutes", n);
        T_EQ_INT(num(l, "next"), n);
        for (double t = t0; t < now - 1000; t += (now - t0) / 97)
                T_EQ_INT(running_at(builds, t), 20);
        /* every finish triggers the next build of the same app at that
         * moment: each build after the first 20 starts a finished one's
         * successor */
        for (int i = 20; i < n; i++) {
                const cJSON *x = cJSON_GetArrayItem(builds, i);
                bool found     = false;
                cJSON_ArrayForEach(b, builds) found |=
                    num(b, "finished_at_ms") == num(x, "triggered_at_ms") &&
                    strcmp(str(b, "app"), str(x, "app")) == 0;
                T_ASSERTF(found, "build %d has no predecessor", i);
        }
        /* the API agrees: 5 running builds per app (20 over 4 apps) */
        char path[128];
        cJSON *r = NULL;
        snprintf(path, sizeof(path), "/apps/%s/builds?status=0",
                 str(cJSON_GetArrayItem(builds, 0), "app"));
        T_EQ_INT(sim_test_get(p, path, "bitwat_b", &r), 200);
        T_EQ_INT(num(cJSON_GetObjectItem(r, "paging"), "total_item_count"), 5);
        cJSON_Delete(r);
        /* since pages */
        cJSON *tail = listing(p, n - 3);
        T_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(tail, "builds")) >= 3);
        T_EQ_INT(num(cJSON_GetArrayItem(cJSON_GetObjectItem(tail, "builds"), 0),
                     "seq"),
                 n - 3);
        cJSON_Delete(tail);
        cJSON_Delete(l);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* Real workflows have consistent durations; the first finishes are spread
 * over the first minutes, not bunched. */
static void test_durations_and_spread(void) {
        sim_proc_t *p = start(
            "{\"seed\": 11, \"apps\": 10, \"workspace\": \"ws-bench\", "
            "\"workflows_per_app\": 3, \"concurrent\": 250, \"duration_s\": "
            "[300, 900], \"duration_jitter\": 0.05, \"on_hold_s\": [0, 20]}",
            "3000");
        usleep(1500000); /* 75 simulated minutes */
        cJSON *l            = listing(p, 0);
        const cJSON *builds = cJSON_GetObjectItem(l, "builds"), *b, *c;
        double t0 = started_ms(p), lo = 1e18, hi = 0;
        int buckets[10] = {0};
        cJSON_ArrayForEach(b, builds) {
                double run = num(b, "finished_at_ms") - num(b, "started_at_ms"),
                       f   = num(b, "finished_at_ms") - t0;
                if (num(b, "seq") < 250 && f < 300000)
                        buckets[(int)(f / 30000)]++;
                cJSON_ArrayForEach(c, builds) {
                        if (strcmp(str(b, "app"), str(c, "app")) ||
                            strcmp(str(b, "workflow"), str(c, "workflow")))
                                continue;
                        double other =
                            num(c, "finished_at_ms") - num(c, "started_at_ms");
                        T_ASSERTF(run <= other * 1.106 + 2,
                                  "%s/%s ran %.0f and %.0f ms", str(b, "app"),
                                  str(b, "workflow"), run, other);
                }
                lo = run < lo ? run : lo;
                hi = run > hi ? run : hi;
        }
        T_ASSERTF(lo < 450000 && hi > 750000, "durations %.0f..%.0f ms", lo,
                  hi);
        /* 250 builds of 5-15 min: about 0.42 finishes/s, 12.5 per 30 s */
        for (int i = 0; i < 10; i++)
                T_ASSERTF(buckets[i] >= 4 && buckets[i] <= 25,
                          "%d finishes in [%d, %d) s", buckets[i], i * 30,
                          (i + 1) * 30);
        cJSON_Delete(l);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_max_builds(void) {
        sim_proc_t *p = start(
            "{\"apps\": 2, \"workspace\": \"ws-bench\", \"concurrent\": 10, "
            "\"duration_s\": [10, 20], \"max_builds\": 30}",
            "1000");
        usleep(1000000); /* 1000 simulated seconds: far beyond 30 builds */
        cJSON *l = listing(p, 0);
        T_EQ_INT(num(l, "total"), 30);
        T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(l, "builds")), 30);
        T_EQ_INT(
            running_at(cJSON_GetObjectItem(l, "builds"), num(l, "sim_now_ms")),
            0);
        cJSON_Delete(l);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* GET build, /log, the raw log and /_sim/expected serve workload builds;
 * /_sim/builds/finish ends one now and its successor starts then. */
static void test_endpoints_and_finish(void) {
        sim_proc_t *p = start(small, "10");
        usleep(300000);
        cJSON *l = listing(p, 0), *r = NULL, *e = NULL;
        const cJSON *x =
            cJSON_GetArrayItem(cJSON_GetObjectItem(l, "builds"), 5);
        char path[256], err[256], body[256];
        snprintf(path, sizeof(path), "/apps/%s/builds/%s", str(x, "app"),
                 str(x, "build"));
        T_EQ_INT(sim_test_get(p, path, "bitwat_b", &r), 200);
        T_EQ_INT(num(cJSON_GetObjectItem(r, "data"), "status"), 0);
        T_EQ_STR(str(cJSON_GetObjectItem(r, "data"), "triggered_workflow"),
                 str(x, "workflow"));
        cJSON_Delete(r);
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "/log");
        T_EQ_INT(sim_test_get(p, path, "bitwat_b", NULL), 200);
        snprintf(body, sizeof(body),
                 "{\"app\": \"%s\", \"build\": \"%s\", \"status\": 3}",
                 str(x, "app"), str(x, "build"));
        T_ASSERTF(sim_proc_admin_post(p, "/builds/finish", body, NULL, err,
                                      sizeof(err)) == 0,
                  "%s", err);
        cJSON *l2 = listing(p, 0);
        const cJSON *y =
            cJSON_GetArrayItem(cJSON_GetObjectItem(l2, "builds"), 5);
        T_EQ_INT(num(y, "status"), 3);
        T_ASSERT(num(y, "finished_at_ms") < num(x, "finished_at_ms"));
        T_EQ_INT(running_at(cJSON_GetObjectItem(l2, "builds"),
                            num(l2, "sim_now_ms")),
                 20);
        snprintf(path, sizeof(path), "/apps/%s/builds/%s", str(x, "app"),
                 str(x, "build"));
        T_EQ_INT(sim_test_get(p, path, "bitwat_b", &r), 200);
        T_EQ_INT(num(cJSON_GetObjectItem(r, "data"), "status"), 3);
        cJSON_Delete(r);
        snprintf(path, sizeof(path), "/expected?app=%s&build=%s", str(x, "app"),
                 str(x, "build"));
        T_ASSERTF(sim_proc_admin_get(p, path, &e, err, sizeof(err)) == 0, "%s",
                  err);
        T_EQ_INT(num(e, "final_status"), 3);
        T_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(e, "has_summary")));
        cJSON_Delete(e);
        /* another app's build slug is not this app's */
        snprintf(
            path, sizeof(path), "/apps/%s/builds/%s",
            str(cJSON_GetArrayItem(cJSON_GetObjectItem(l, "builds"), 0), "app"),
            str(cJSON_GetArrayItem(cJSON_GetObjectItem(l, "builds"), 1),
                "build"));
        T_EQ_INT(sim_test_get(p, path, "bitwat_b", NULL), 404);
        cJSON_Delete(l);
        cJSON_Delete(l2);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* The raw log of an archived workload build downloads. */
static void test_archived_raw_log(void) {
        sim_proc_t *p = start(small, "600");
        usleep(500000); /* 5 simulated minutes: builds finished and archived */
        cJSON *l = listing(p, 0), *r = NULL;
        const cJSON *b;
        char path[256], url[512];
        double now = num(l, "sim_now_ms");
        cJSON_ArrayForEach(b, cJSON_GetObjectItem(l, "builds")) {
                if (num(b, "finished_at_ms") < now - 10000)
                        break;
        }
        T_ASSERT(b);
        snprintf(path, sizeof(path), "/apps/%s/builds/%s/log", str(b, "app"),
                 str(b, "build"));
        T_EQ_INT(sim_test_get(p, path, "bitwat_b", &r), 200);
        T_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(r, "is_archived")));
        snprintf(url, sizeof(url), "%s", str(r, "expiring_raw_log_url"));
        cJSON_Delete(r);
        sim_http_resp_t raw;
        T_EQ_INT(sim_http_get(url, NULL, 10000, 0, &raw), 0);
        T_EQ_INT(raw.status, 200);
        T_ASSERT(raw.body.len > 1000);
        sim_http_resp_release(&raw);
        cJSON_Delete(l);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* 200,000 builds cost a few MB (a record is 36 bytes). */
static void test_memory_bounded(void) {
        sim_proc_t *p = start(
            "{\"apps\": 20, \"workspace\": \"ws-bench\", \"concurrent\": 2000, "
            "\"duration_s\": [30, 60], \"max_builds\": 200000}",
            "20000");
        int64_t end = time_mono_ms() + 20000;
        cJSON *l    = NULL;
        for (;;) {
                l = listing(p, 1000000);
                if (num(l, "total") >= 200000 || time_mono_ms() > end)
                        break;
                cJSON_Delete(l);
                usleep(200000);
        }
        T_EQ_INT(num(l, "total"), 200000);
        cJSON_Delete(l);
        long rss = sim_proc_rss_kb(p);
        printf("# workload of 200000 builds: simulator VmRSS %ld KiB\n", rss);
        /* sanitizer builds (a scale above 1) shadow every byte */
        T_ASSERTF(rss > 0 && rss < 48 * 1024 * sim_proc_timeout_scale(),
                  "RSS %ld KiB", rss);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_bad_workloads_are_refused(void) {
        static const char *const bad[][2] = {
            {"{\"workload\": {\"apps\": 0}}", "workload.apps"},
            {"{\"workload\": {\"duration_s\": [900, 300]}}",
             "workload.duration_s"},
            {"{\"workload\": {\"mix\": {\"success\": 2}}}", "workload.mix"},
            {"{\"workload\": {\"workflows_per_app\": 100}}",
             "workload.workflows_per_app"},
            {"{\"workspaces\": [{\"slug\": \"a\"}], \"workload\": "
             "{\"workspace\": \"b\"}}",
             "workload: workspace b"},
        };
        char err[2048];
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                sim_proc_t *p =
                    sim_proc_start(bad[i][0], NULL, err, sizeof(err));
                T_ASSERTF(!p, "accepted %s", bad[i][0]);
                T_ASSERTF(strstr(err, bad[i][1]), "%s: %.300s", bad[i][0], err);
        }
}

int main(void) {
        T_RUN(test_same_seed_same_builds);
        T_RUN(test_steady_concurrency);
        T_RUN(test_durations_and_spread);
        T_RUN(test_max_builds);
        T_RUN(test_endpoints_and_finish);
        T_RUN(test_archived_raw_log);
        T_RUN(test_memory_bounded);
        T_RUN(test_bad_workloads_are_refused);
        return t_done();
}
