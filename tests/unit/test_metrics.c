/* tests/unit/test_metrics.c — the Prometheus registry and the readiness
 * state without HTTP: exposition text byte for byte, label escaping, misuse
 * refused (names, labels, types, token-shaped values), histogram buckets,
 * exact totals under concurrent updates, health components.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/health.h"
#include "common/log.h"
#include "common/metrics.h"
#include "tests/assert.h"

/* Long texts: T_EQ_STR's message would be cut, so print both in full. */
#define T_EQ_TEXT(got, want)                                                   \
        do {                                                                   \
                const char *g_ = (got), *w_ = (want);                          \
                if (strcmp(g_, w_) != 0) {                                     \
                        fprintf(stderr, "  want:\n%s  got:\n%s", w_, g_);      \
                        T_ASSERTF(0, "%s differs", #got);                      \
                }                                                              \
        } while (0)

/* The rendering as a string; caller frees. */
static char *render(metrics_t *m) {
        buf_t b;
        buf_init(&b, 0);
        T_EQ_INT(metrics_render(m, &b), 0);
        return buf_detach(&b);
}

static void test_counter_and_gauge_text(void) {
        metrics_t *m = metrics_new();
        metrics_counter_t *fin =
            metrics_counter(m, "bitmon_results_total", "Results published.",
                            "event", "finished", NULL);
        metrics_counter_t *err =
            metrics_counter(m, "bitmon_results_total", "Results published.",
                            "event", "error", NULL);
        metrics_gauge_t *w =
            metrics_gauge(m, "bitmon_watches", "Active watches.", NULL);
        T_ASSERT(fin && err && w && fin != err);
        T_ASSERT(metrics_counter(m, "bitmon_results_total", "x", "event",
                                 "finished", NULL) == fin);
        metrics_counter_inc(fin);
        metrics_counter_add(fin, 41);
        metrics_counter_inc(err);
        metrics_gauge_set(w, 10);
        metrics_gauge_add(w, -2.5);
        char *t = render(m);
        T_EQ_TEXT(t, "# HELP bitmon_results_total Results published.\n"
                     "# TYPE bitmon_results_total counter\n"
                     "bitmon_results_total{event=\"finished\"} 42\n"
                     "bitmon_results_total{event=\"error\"} 1\n"
                     "# HELP bitmon_watches Active watches.\n"
                     "# TYPE bitmon_watches gauge\n"
                     "bitmon_watches 7.5\n");
        free(t);
        T_EQ_INT(metrics_counter_value(fin), 42);
        T_ASSERT(metrics_gauge_value(w) == 7.5);
        metrics_destroy(m);
        metrics_destroy(NULL);
}

static void test_histogram_buckets(void) {
        metrics_t *m           = metrics_new();
        const double b[]       = {0.05, 0.1, 0.5, 1, 10};
        metrics_histogram_t *h = metrics_histogram(
            m, "bitmon_bitrise_request_seconds", "Bitrise API call latency.", b,
            5, "endpoint", "build", NULL);
        T_ASSERT(h != NULL);
        const double obs[] = {0.01, 0.05, 0.07, 0.1, 0.3, 2, 100, NAN};
        for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
                metrics_histogram_observe(h, obs[i]);
        char *t = render(m);
        T_EQ_TEXT(
            t,
            "# HELP bitmon_bitrise_request_seconds Bitrise API call latency.\n"
            "# TYPE bitmon_bitrise_request_seconds histogram\n"
            "bitmon_bitrise_request_seconds_bucket{endpoint=\"build\",le=\"0."
            "05\"} 2\n"
            "bitmon_bitrise_request_seconds_bucket{endpoint=\"build\",le=\"0."
            "1\"} 4\n"
            "bitmon_bitrise_request_seconds_bucket{endpoint=\"build\",le=\"0."
            "5\"} 5\n"
            "bitmon_bitrise_request_seconds_bucket{endpoint=\"build\",le=\"1\"}"
            " 5\n"
            "bitmon_bitrise_request_seconds_bucket{endpoint=\"build\",le="
            "\"10\"} 6\n"
            "bitmon_bitrise_request_seconds_bucket{endpoint=\"build\",le=\"+"
            "Inf\"} 7\n"
            "bitmon_bitrise_request_seconds_sum{endpoint=\"build\"} 102.53\n"
            "bitmon_bitrise_request_seconds_count{endpoint=\"build\"} 7\n");
        free(t);
        /* no labels */
        metrics_histogram_t *h2 =
            metrics_histogram(m, "x_seconds", "x", b, 1, NULL);
        metrics_histogram_observe(h2, 1);
        t = render(m);
        T_ASSERT(strstr(
            t,
            "x_seconds_bucket{le=\"0.05\"} 0\nx_seconds_bucket{le=\"+Inf\"} 1\n"
            "x_seconds_sum 1\nx_seconds_count 1\n"));
        free(t);
        metrics_destroy(m);
}

static void test_label_escaping(void) {
        metrics_t *m = metrics_new();
        metrics_counter_t *c =
            metrics_counter(m, "esc_total", "Help with \\ and\nnewline.", "a",
                            "q\"uote", "b", "back\\slash\nnl", NULL);
        metrics_counter_inc(c);
        char *t = render(m);
        T_EQ_TEXT(t, "# HELP esc_total Help with \\\\ and\\nnewline.\n"
                     "# TYPE esc_total counter\n"
                     "esc_total{a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 1\n");
        free(t);
        metrics_destroy(m);
}

static void test_misuse_is_refused(void) {
        log_setup(LOG_LVL_OFF, LOG_FMT_TEXT, 2); /* the errors are expected */
        metrics_t *m     = metrics_new();
        const double b[] = {1, 2}, bad[] = {2, 1};
        metrics_counter_t *ok = metrics_counter(m, "ok_total", "ok", "ws",
                                                "a1b2c3d4e5f60718", NULL);
        T_ASSERT(ok != NULL);
        T_ASSERT(metrics_counter(m, "1bad", "x", NULL) == NULL);
        T_ASSERT(metrics_counter(m, "bad-name", "x", NULL) == NULL);
        T_ASSERT(metrics_counter(m, "", "x", NULL) == NULL);
        T_ASSERT(metrics_counter(m, "l_total", "x", "bad-label", "v", NULL) ==
                 NULL);
        T_ASSERT(metrics_counter(m, "l_total", "x", "__reserved", "v", NULL) ==
                 NULL);
        T_ASSERT(metrics_counter(m, "l_total", "x", "le", "v", NULL) == NULL);
        /* other labels or type than the family's */
        T_ASSERT(metrics_counter(m, "ok_total", "ok", "other", "a", NULL) ==
                 NULL);
        T_ASSERT(metrics_counter(m, "ok_total", "ok", NULL) == NULL);
        T_ASSERT(metrics_gauge(m, "ok_total", "ok", "ws", "a", NULL) == NULL);
        /* tokens and long values never become labels */
        T_ASSERT(metrics_counter(m, "ok_total", "ok", "ws", "bitwat_abcdef",
                                 NULL) == NULL);
        T_ASSERT(metrics_counter(m, "ok_total", "ok", "ws", "bitpat_abcdef",
                                 NULL) == NULL);
        char longv[METRICS_MAX_LABEL_VALUE + 2];
        memset(longv, 'a', sizeof(longv) - 1);
        longv[sizeof(longv) - 1] = '\0';
        T_ASSERT(metrics_counter(m, "ok_total", "ok", "ws", longv, NULL) ==
                 NULL);
        longv[METRICS_MAX_LABEL_VALUE] = '\0';
        T_ASSERT(metrics_counter(m, "ok_total", "ok", "ws", longv, NULL) !=
                 NULL);
        /* histograms */
        T_ASSERT(metrics_histogram(m, "h", "h", bad, 2, NULL) == NULL);
        T_ASSERT(metrics_histogram(m, "h", "h", b, 0, NULL) == NULL);
        T_ASSERT(metrics_histogram(m, "h", "h", b, 2, NULL) != NULL);
        T_ASSERT(metrics_histogram(m, "h", "h", b, 1, NULL) == NULL);
        /* NULL handles and registries are no-ops */
        metrics_counter_inc(NULL);
        metrics_gauge_set(NULL, 1);
        metrics_gauge_add(NULL, 1);
        metrics_histogram_observe(NULL, 1);
        T_ASSERT(metrics_counter(NULL, "x_total", "x", NULL) == NULL);
        buf_t out;
        buf_init(&out, 0);
        T_EQ_INT(metrics_render(NULL, &out), 0);
        buf_release(&out);
        char *t = render(m);
        T_ASSERT(!strstr(t, "bitwat_") && !strstr(t, "bitpat_"));
        T_ASSERT(!strstr(t, "l_total") && !strstr(t, "1bad"));
        free(t);
        metrics_destroy(m);
        log_setup(LOG_LVL_INFO, LOG_FMT_TEXT, 2);
}

static void test_series_cap(void) {
        log_setup(LOG_LVL_OFF, LOG_FMT_TEXT, 2);
        metrics_t *m = metrics_new();
        char v[32];
        for (int i = 0; i < METRICS_MAX_SERIES; i++) {
                snprintf(v, sizeof(v), "w%d", i);
                T_ASSERT(metrics_counter(m, "cap_total", "c", "ws", v, NULL) !=
                         NULL);
        }
        T_ASSERT(metrics_counter(m, "cap_total", "c", "ws", "one-more", NULL) ==
                 NULL);
        T_ASSERT(metrics_counter(m, "cap_total", "c", "ws", "w0", NULL) !=
                 NULL);
        metrics_destroy(m);
        log_setup(LOG_LVL_INFO, LOG_FMT_TEXT, 2);
}

static void test_render_cap(void) {
        metrics_t *m = metrics_new();
        metrics_counter_inc(
            metrics_counter(m, "a_total", "a fairly long help text", NULL));
        buf_t b;
        buf_init(&b, 16);
        T_EQ_INT(metrics_render(m, &b), BUF_ERR_CAP);
        buf_release(&b);
        metrics_destroy(m);
}

static double answer(void *opaque) {
        return *(double *)opaque;
}

static void test_gauge_fn_and_values(void) {
        metrics_t *m = metrics_new();
        double x     = 1e21;
        metrics_gauge_fn(m, "fn_gauge", "computed", answer, &x, NULL);
        metrics_gauge_t *g = metrics_gauge(m, "g", "g", NULL);
        char *t            = render(m);
        T_ASSERT(strstr(t, "fn_gauge 1e+21\n"));
        T_ASSERT(strstr(t, "g 0\n"));
        free(t);
        x = 0.1;
        metrics_gauge_set(g, INFINITY);
        t = render(m);
        T_ASSERT(strstr(t, "fn_gauge 0.1\n"));
        T_ASSERT(strstr(t, "g +Inf\n"));
        free(t);
        metrics_gauge_set(g, NAN);
        metrics_gauge_set(metrics_gauge(m, "h", "h", NULL), -1.0 / 3);
        t = render(m);
        T_ASSERT(strstr(t, "g NaN\n"));
        T_ASSERT(strstr(t, "h -0.3333333333333333\n"));
        free(t);
        metrics_destroy(m);
}

static void test_process_series(void) {
        metrics_t *m = metrics_new();
        T_EQ_INT(metrics_process_register(m, "1.2.3"), 0);
        char *t = render(m);
        T_ASSERT(strstr(t, "bitmon_build_info{version=\"1.2.3\"} 1\n"));
        const char *p = strstr(t, "\nprocess_start_time_seconds ");
        T_ASSERT(p && strtod(p + 28, NULL) > 1.7e9);
        p = strstr(t, "\nprocess_resident_memory_bytes ");
        T_ASSERT(p && strtod(p + 31, NULL) > 100000);
        p = strstr(t, "\nprocess_open_fds ");
        T_ASSERT(p && strtod(p + 18, NULL) >= 3);
        free(t);
        /* CPU time grows with work done in between. */
        volatile double x = 0;
        for (long i = 0; i < 30000000; i++)
                x += (double)i;
        t = render(m);
        p = strstr(t, "\nprocess_cpu_seconds_total ");
        T_ASSERT(p && strtod(p + 28, NULL) > 0.005);
        free(t);
        metrics_destroy(m);
}

enum { THREADS = 4, ROUNDS = 100000 };

typedef struct {
        metrics_counter_t *c;
        metrics_gauge_t *g;
        metrics_histogram_t *h;
} hot_t;

static void *hammer(void *arg) {
        hot_t *hot = arg;
        for (int i = 0; i < ROUNDS; i++) {
                metrics_counter_inc(hot->c);
                metrics_gauge_add(hot->g, 1);
                metrics_histogram_observe(hot->h, (i % 2) ? 0.5 : 5);
        }
        return NULL;
}

static void test_concurrent_updates_are_exact(void) {
        metrics_t *m     = metrics_new();
        const double b[] = {1};
        hot_t hot        = {metrics_counter(m, "hot_total", "h", NULL),
                            metrics_gauge(m, "hot_gauge", "h", NULL),
                            metrics_histogram(m, "hot_seconds", "h", b, 1, NULL)};
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++)
                T_EQ_INT(pthread_create(&th[i], NULL, hammer, &hot), 0);
        for (int i = 0; i < 20; i++) { /* scrape while they run */
                char *t = render(m);
                free(t);
        }
        for (int i = 0; i < THREADS; i++)
                pthread_join(th[i], NULL);
        T_EQ_INT(metrics_counter_value(hot.c), THREADS * ROUNDS);
        T_ASSERT(metrics_gauge_value(hot.g) == THREADS * ROUNDS);
        char *t = render(m);
        char want[200];
        snprintf(want, sizeof(want),
                 "hot_seconds_bucket{le=\"1\"} "
                 "%d\nhot_seconds_bucket{le=\"+Inf\"} %d\n"
                 "hot_seconds_sum %d\nhot_seconds_count %d\n",
                 THREADS * ROUNDS / 2, THREADS * ROUNDS,
                 THREADS * ROUNDS / 2 * 11 / 2, THREADS * ROUNDS);
        T_ASSERTF(strstr(t, want), "want:\n%s\ngot:\n%s", want, t);
        free(t);
        metrics_destroy(m);
}

static void test_health_components(void) {
        log_setup(LOG_LVL_OFF, LOG_FMT_TEXT, 2);
        metrics_t *m = metrics_new();
        health_t *h  = health_new(m);
        buf_t b;
        int err = -1;
        buf_init(&b, 0);
        T_ASSERT(!health_ready(h));
        T_ASSERT(!health_render(h, &b, &err));
        T_EQ_INT(err, 0);
        T_EQ_TEXT(buf_cstr(&b), "not ready\nprocess: not ready: starting\n");
        health_set(h, "process", HEALTH_OK, NULL);
        health_set(h, "consumer", HEALTH_NOT_READY, "consumer not assigned");
        health_set(h, "redis", HEALTH_DEGRADED,
                   "redis degraded:\nlocal budget");
        buf_reset(&b);
        T_ASSERT(!health_render(h, &b, &err));
        T_EQ_TEXT(buf_cstr(&b),
                  "not ready\nconsumer: not ready: consumer not assigned\n"
                  "redis: degraded: redis degraded: local budget\n");
        health_set(h, "consumer", HEALTH_OK, "");
        buf_reset(&b);
        T_ASSERT(health_render(h, &b, &err));
        T_ASSERT(health_ready(h));
        T_EQ_TEXT(buf_cstr(&b),
                  "ready\nredis: degraded: redis degraded: local budget\n");
        buf_release(&b);
        char *t = render(m);
        T_ASSERT(strstr(t, "bitmon_health_state{component=\"process\"} 0\n"));
        T_ASSERT(strstr(t, "bitmon_health_state{component=\"consumer\"} 0\n"));
        T_ASSERT(strstr(t, "bitmon_health_state{component=\"redis\"} 1\n"));
        free(t);
        /* full: new names refused, known ones still work */
        char name[16];
        for (int i = 0; i < HEALTH_MAX_COMPONENTS + 3; i++) {
                snprintf(name, sizeof(name), "c%d", i);
                health_set(h, name, HEALTH_NOT_READY, "x");
        }
        health_set(h, "consumer", HEALTH_NOT_READY, "revoked");
        T_ASSERT(!health_ready(h));
        health_destroy(h);
        health_destroy(NULL);
        metrics_destroy(m);
        log_setup(LOG_LVL_INFO, LOG_FMT_TEXT, 2);
}

int main(void) {
        T_RUN(test_counter_and_gauge_text);
        T_RUN(test_histogram_buckets);
        T_RUN(test_label_escaping);
        T_RUN(test_misuse_is_refused);
        T_RUN(test_series_cap);
        T_RUN(test_render_cap);
        T_RUN(test_gauge_fn_and_values);
        T_RUN(test_process_series);
        T_RUN(test_concurrent_updates_are_exact);
        T_RUN(test_health_components);
        return t_done();
}
