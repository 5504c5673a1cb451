/* bench/bench_loop.c — what one worker loop can do.
 *
 * HTTP requests per second driven by one loop thread against a local
 * libmicrohttpd responder (in this process, so it shares the CPU), with an
 * instant answer and with 50 ms latency; and the memory cost of an idle
 * timer (each watch holds one) measured as RSS growth over 50,000 timers.
 *
 *   build/bench/bench_loop [requests] [concurrency] [timers]
 *   defaults: 20000 100 50000
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tests/unit/test_loop_server.h"
#include "workers/loop.h"

typedef struct bench {
        loop_t *loop;
        long total;   /* requests to make */
        long started; /* loop thread only */
        _Atomic long done;
        _Atomic long failed;
        CURL **easies;
        int conc;
} bench_t;

static size_t bench_discard(char *p, size_t sz, size_t n, void *ud) {
        (void)p, (void)ud;
        return sz * n;
}

static void bench_http_done(void *arg, CURL *easy, CURLcode res) {
        bench_t *b  = arg;
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (res != CURLE_OK || status != 200)
                atomic_fetch_add(&b->failed, 1);
        atomic_fetch_add(&b->done, 1);
        if (b->started < b->total) {
                b->started++;
                if (loop_http_add(b->loop, easy, bench_http_done, b) != 0)
                        atomic_fetch_add(&b->done, 1);
        }
}

static void bench_http_start(void *arg) {
        bench_t *b = arg;
        for (int i = 0; i < b->conc && b->started < b->total; i++) {
                b->started++;
                loop_http_add(b->loop, b->easies[i], bench_http_done, b);
        }
}

static int bench_http(long total, int conc, int delay_ms) {
        tsrv_t *srv = tsrv_start("{\"data\":{\"status\":0}}", delay_ms);
        if (!srv) {
                fprintf(stderr, "cannot start the local responder\n");
                return -1;
        }
        char url[64], err[256];
        tsrv_url(srv, url, sizeof(url));
        loop_opts_t o = {.max_host_connections = conc};
        bench_t b     = {.total = total, .conc = conc};
        b.loop        = loop_new(&o, err, sizeof(err));
        if (!b.loop || loop_start(b.loop, err, sizeof(err)) != 0) {
                fprintf(stderr, "%s\n", err);
                return -1;
        }
        b.easies = calloc((size_t)conc, sizeof(*b.easies));
        for (int i = 0; i < conc; i++) {
                b.easies[i] = curl_easy_init();
                curl_easy_setopt(b.easies[i], CURLOPT_URL, url);
                curl_easy_setopt(b.easies[i], CURLOPT_WRITEFUNCTION,
                                 bench_discard);
        }
        int64_t t0 = time_mono_ms();
        loop_post(b.loop, bench_http_start, &b);
        while (atomic_load(&b.done) < total)
                usleep(1000);
        int64_t ms = time_mono_ms() - t0;
        loop_destroy(b.loop);
        tsrv_stop(srv);
        for (int i = 0; i < conc; i++)
                curl_easy_cleanup(b.easies[i]);
        free(b.easies);
        printf("loop http: delay=%dms concurrency=%d requests=%ld failed=%ld "
               "time=%.2fs rate=%.0f req/s\n",
               delay_ms, conc, total, atomic_load(&b.failed), ms / 1000.0,
               ms > 0 ? total * 1000.0 / (double)ms : 0.0);
        return 0;
}

/* ---- idle timers -------------------------------------------------------- */

typedef struct tbench {
        loop_t *loop;
        int n;
        loop_timer_t **t;
        _Atomic long phase;
        int64_t create_us;
} tbench_t;

static void tbench_never(void *arg) {
        (void)arg;
}

static void tbench_create(void *arg) {
        tbench_t *tb = arg;
        int64_t t0   = time_mono_ms();
        for (int i = 0; i < tb->n; i++) {
                tb->t[i] = loop_timer_new(tb->loop);
                /* Spread over an hour, as poll intervals would be. */
                loop_timer_start(tb->t[i], 3600000 + (i % 3600) * 1000,
                                 tbench_never, NULL);
        }
        tb->create_us = (time_mono_ms() - t0) * 1000;
        atomic_store(&tb->phase, 1);
}

static void tbench_free(void *arg) {
        tbench_t *tb = arg;
        for (int i = 0; i < tb->n; i++)
                loop_timer_free(tb->t[i]);
        atomic_store(&tb->phase, 2);
}

static long rss_kib(void) {
        FILE *f   = fopen("/proc/self/statm", "r");
        long size = 0, rss = 0;
        if (!f)
                return -1;
        if (fscanf(f, "%ld %ld", &size, &rss) != 2)
                rss = -1;
        fclose(f);
        return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int bench_timers(int n) {
        char err[256];
        tbench_t tb = {.n = n};
        tb.t        = calloc((size_t)n, sizeof(*tb.t));
        tb.loop     = loop_new(NULL, err, sizeof(err));
        if (!tb.t || !tb.loop || loop_start(tb.loop, err, sizeof(err)) != 0)
                return -1;
        usleep(100 * 1000);
        long before = rss_kib();
        loop_post(tb.loop, tbench_create, &tb);
        while (atomic_load(&tb.phase) < 1)
                usleep(1000);
        long after = rss_kib();
        loop_post(tb.loop, tbench_free, &tb);
        while (atomic_load(&tb.phase) < 2)
                usleep(1000);
        loop_destroy(tb.loop);
        free(tb.t);
        printf("loop timers: n=%d rss_growth=%ld KiB per_timer=%.0f bytes "
               "create=%.2f us/timer\n",
               n, after - before, (after - before) * 1024.0 / n,
               (double)tb.create_us / n);
        return 0;
}

/* argv[i] as a number in [min, max], def when absent, -1 when bad. */
static long arg_num(int argc, char **argv, int i, long def, long min,
                    long max) {
        if (argc <= i)
                return def;
        char *end;
        long long v = strtoll(argv[i], &end, 10);
        return *argv[i] && !*end && v >= min && v <= max ? (long)v : -1;
}

int main(int argc, char **argv) {
        long total = arg_num(argc, argv, 1, 20000, 1, 100000000);
        int conc   = (int)arg_num(argc, argv, 2, 100, 1, 5000);
        int timers = (int)arg_num(argc, argv, 3, 50000, 1, 10000000);
        if (total < 1 || conc < 1 || timers < 1) {
                fprintf(stderr, "usage: bench_loop [requests >= 1] "
                                "[concurrency 1..5000] [timers >= 1]\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = bench_timers(timers);
        if (rc == 0)
                rc = bench_http(total, conc, 0);
        if (rc == 0)
                rc = bench_http(total / 4 > 0 ? total / 4 : 1, conc, 50);
        if (rc == 0)
                rc = bench_http(total / 4 > 0 ? total / 4 : 1, conc * 10, 50);
        curl_global_cleanup();
        return rc == 0 ? 0 : 1;
}
