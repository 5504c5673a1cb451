/* bench/bench_metrics.c — cost of the metrics hot path and of a scrape:
 * counter increments (one thread, and two threads on the same counter),
 * gauge adds and histogram observations; rendering a registry of 1000
 * series. Prints one line per case: "name ns/op" or "name ms/render".
 *
 *   make tools && build/bench/bench_metrics
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/metrics.h"

enum { OPS = 20 * 1000 * 1000 };

static double now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static metrics_counter_t *counter;
static metrics_gauge_t *gauge;
static metrics_histogram_t *hist;

static void *inc_loop(void *arg) {
        (void)arg;
        for (int i = 0; i < OPS; i++)
                metrics_counter_inc(counter);
        return NULL;
}

static void bench_threads(const char *name, int threads) {
        pthread_t th[8];
        double t0 = now_ns();
        for (int i = 0; i < threads; i++)
                pthread_create(&th[i], NULL, inc_loop, NULL);
        for (int i = 0; i < threads; i++)
                pthread_join(th[i], NULL);
        double dt = now_ns() - t0;
        printf("%-40s %8.2f ns/op (per thread)\n", name, dt / OPS);
}

int main(void) {
        metrics_t *m     = metrics_new();
        const double b[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                            0.5,   1,    2.5,   5,    10};
        counter          = metrics_counter(m, "bench_total", "b", "ws",
                                           "a1b2c3d4e5f60718", NULL);
        gauge            = metrics_gauge(m, "bench_gauge", "b", NULL);
        hist = metrics_histogram(m, "bench_seconds", "b", b, 11, NULL);
        if (!counter || !gauge || !hist)
                return 1;

        bench_threads("counter_inc 1 thread", 1);
        bench_threads("counter_inc 2 threads, same counter", 2);

        double t0 = now_ns();
        for (int i = 0; i < OPS; i++)
                metrics_gauge_add(gauge, 1);
        printf("%-40s %8.2f ns/op\n", "gauge_add 1 thread",
               (now_ns() - t0) / OPS);

        t0 = now_ns();
        for (int i = 0; i < OPS; i++)
                metrics_histogram_observe(hist, (double)(i % 1000) / 100.0);
        printf("%-40s %8.2f ns/op\n", "histogram_observe (11 buckets)",
               (now_ns() - t0) / OPS);

        char ws[32];
        for (int i = 0; i < 1000; i++) {
                snprintf(ws, sizeof(ws), "%016x", i);
                metrics_counter_inc(metrics_counter(m, "bench_ws_total", "b",
                                                    "ws", ws, "event",
                                                    "finished", NULL));
        }
        enum { RENDERS = 200 };
        size_t bytes = 0;
        t0           = now_ns();
        for (int i = 0; i < RENDERS; i++) {
                buf_t out;
                buf_init(&out, 0);
                if (metrics_render(m, &out) != 0)
                        return 1;
                bytes = out.len;
                buf_release(&out);
        }
        printf("%-40s %8.3f ms/render (%zu bytes)\n", "render 1000+ series",
               (now_ns() - t0) / RENDERS / 1e6, bytes);
        metrics_destroy(m);
        return 0;
}
