/* Multi-process budget test against the Bitrise simulator: PROCS processes,
 * each with its own Redis connection and budget (as pods do), share one token
 * whose simulated quota is Q requests per sliding window, for more than three
 * windows. The simulator's own count must never see more than Q requests in
 * any window, and the processes together must achieve at least 90% of Q.
 * Run once as Bitrise behaves (no rate-limit headers) and once with
 * X-RateLimit-* headers adopted through cache_budget_on_headers.
 */
#include <sys/wait.h>

#include "cache/budget.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/integration/itest_cache_redis.h"
#include "tests/support/sim_proc.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#define Q        40   /* quota: requests per window */
#define WINDOW_S 2    /* window length */
#define PROCS    4    /* processes sharing the token */
#define RUN_MS   7000 /* 3.5 windows */
#define BURST    2.0
#define TOKEN    "bitwat_budget_sim_token"
#define APP      "669403bffbe35909"
#define BUILD    "b000000000000001"

/* Any window of W seconds sees at most burst + rate * W grants: with one
 * request of margin for the jitter between Redis TIME and the simulator's
 * clock, rate = (Q - burst - 1) / W. The steady state is then
 * (Q - burst - 1) / Q = 92.5% of the quota. */
#define RATE ((Q - BURST - 1) / WINDOW_S)

static tredis_t srv;

static const char scenario_fmt[] =
    "{\"tokens\": [{\"value\": \"" TOKEN "\", \"role\": \"developer\","
    "  \"quota\": {\"limit\": %d, \"window_s\": %d, \"headers\": %s,"
    "  \"retry_after\": true, \"reset\": \"delta\"}}],"
    " \"apps\": [{\"slug\": \"" APP "\", \"builds\": [{\"slug\": \"" BUILD "\","
    "   \"triggered_at_s\": -10, \"running_s\": 3600, \"status\": 1}]}]}";

typedef struct {
        int sent, got429, errors;
} counts_t;

/* One "pod": take, call, feed 429s and headers back; until stop_ms. */
static counts_t pod(const char *url, const char *prefix, bool headers,
                    int64_t start_ms, int64_t stop_ms) {
        counts_t c = {0, 0, 0};
        char err[256], v1[64], v2[64];
        cache_redis_opts_t ro  = tredis_opts(&srv);
        ro.prefix              = prefix;
        ro.command_timeout_ms  = 500;
        cache_budget_opts_t bo = {
            .rate = RATE, .burst = BURST, .expected_replicas = PROCS};
        cache_redis_t *rc = cache_redis_new(&ro, err, sizeof(err));
        cache_budget_t *b = cache_budget_new(&bo, err, sizeof(err));
        cache_fp_t fp;
        cache_fp_compute((const unsigned char *)"k", 1, TOKEN, strlen(TOKEN),
                         &fp);
        if (!rc || !b) {
                c.errors++;
                goto out;
        }
        while (time_wall_ms() < start_ms)
                t_sleep_ms(1);
        for (int64_t now = time_wall_ms(); now < stop_ms;
             now         = time_wall_ms()) {
                int64_t w = cache_budget_take(b, rc, &fp, "ws");
                if (w > 0) {
                        t_sleep_ms(w < stop_ms - now ? w : stop_ms - now);
                        continue;
                }
                sim_http_resp_t r;
                int cc = sim_http_get(url, TOKEN, 5000, 1, &r);
                c.sent++;
                if (cc != 0)
                        c.errors++;
                if (r.status == 429) {
                        c.got429++;
                        cache_budget_on_429(
                            b, rc, &fp,
                            sim_http_header(&r, "Retry-After", v1, sizeof(v1)));
                }
                if (headers)
                        cache_budget_on_headers(
                            b, rc, &fp,
                            sim_http_header(&r, "X-RateLimit-Remaining", v1,
                                            sizeof(v1)),
                            sim_http_header(&r, "X-RateLimit-Reset", v2,
                                            sizeof(v2)));
                sim_http_resp_release(&r);
        }
out:
        cache_budget_destroy(b);
        cache_redis_destroy(rc);
        return c;
}

static const cJSON *token_stats(const cJSON *stats) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(stats, "tokens")) {
                const cJSON *v = cJSON_GetObjectItem(it, "token");
                if (cJSON_IsString(v) && strcmp(v->valuestring, TOKEN) == 0)
                        return it;
        }
        return NULL;
}

static double num(const cJSON *o, const char *k) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
        return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void run_pods(bool headers) {
        char scenario[1024], err[2048], prefix[64], url[512];
        int fds[PROCS][2];
        pid_t pids[PROCS];
        counts_t total = {0, 0, 0};

        snprintf(scenario, sizeof(scenario), scenario_fmt, Q, WINDOW_S,
                 headers ? "true" : "false");
        sim_proc_t *sim = sim_proc_start(scenario, NULL, err, sizeof(err));
        T_ASSERTF(sim, "cannot start the simulator: %s", err);
        snprintf(url, sizeof(url), "%s/apps/" APP "/builds/" BUILD,
                 sim_proc_base_url(sim));
        t_prefix(prefix, sizeof(prefix), "budgetsim");
        int64_t start = time_wall_ms() + 300, stop = start + RUN_MS;
        for (int i = 0; i < PROCS; i++) {
                T_ASSERT(pipe(fds[i]) == 0);
                pids[i] = fork();
                T_ASSERT(pids[i] >= 0);
                if (pids[i] == 0) {
                        close(fds[i][0]);
                        counts_t c = pod(url, prefix, headers, start, stop);
                        ssize_t n  = write(fds[i][1], &c, sizeof(c));
                        _exit(n == (ssize_t)sizeof(c) ? 0 : 1);
                }
                close(fds[i][1]);
        }
        for (int i = 0; i < PROCS; i++) {
                counts_t c = {0, 0, 1};
                int status = 0;
                ssize_t n  = read(fds[i][0], &c, sizeof(c));
                close(fds[i][0]);
                waitpid(pids[i], &status, 0);
                T_ASSERTF(n == (ssize_t)sizeof(c) && WIFEXITED(status) &&
                              WEXITSTATUS(status) == 0,
                          "pod %d failed", i);
                total.sent += c.sent;
                total.got429 += c.got429;
                total.errors += c.errors;
        }
        cJSON *stats = NULL;
        T_ASSERTF(sim_proc_admin_get(sim, "/stats", &stats, err, sizeof(err)) ==
                      0,
                  "%s", err);
        const cJSON *ts = token_stats(stats);
        T_ASSERT(ts);
        double max_window = num(ts, "max_window_count");
        double requests   = num(ts, "requests");
        double throttled  = num(ts, "throttled");
        double windows    = (double)RUN_MS / (WINDOW_S * 1000.0);
        double per_window = requests / windows;
        printf(
            "# headers=%s pods=%d sent=%d 429=%d errors=%d sim: requests=%.0f "
            "max_window_count=%.0f (Q=%d) throttled=%.0f achieved=%.1f per "
            "window (%.0f%% of Q)\n",
            headers ? "yes" : "no", PROCS, total.sent, total.got429,
            total.errors, requests, max_window, Q, throttled, per_window,
            100.0 * per_window / Q);
        cJSON_Delete(stats);
        sim_proc_stop(sim);
        T_EQ_INT(total.errors, 0);
        T_EQ_INT((long long)requests, total.sent);
        T_ASSERTF(max_window <= Q, "max window count %.0f > quota %d",
                  max_window, Q);
        T_ASSERTF(per_window >= 0.9 * Q,
                  "achieved %.1f per window < 90%% of %d", per_window, Q);
        T_EQ_INT((long long)throttled, 0);
}

static void test_budget_sim_four_pods_no_headers(void) {
        run_pods(false);
}

static void test_budget_sim_four_pods_with_headers(void) {
        run_pods(true);
}

int main(void) {
        signal(SIGPIPE,
               SIG_IGN); /* as main does: hiredis writes with write(2) */
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        if (tredis_start(&srv, false) != 0) {
                printf("FAIL cannot start redis-server\n");
                return 1;
        }
        T_RUN(test_budget_sim_four_pods_no_headers);
        T_RUN(test_budget_sim_four_pods_with_headers);
        tredis_stop(&srv);
        return t_done();
}
