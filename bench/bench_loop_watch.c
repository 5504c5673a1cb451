/* bench/bench_loop_watch.c — the cost of a watch on one worker loop.
 *
 * N builds, one job each, are added to one loop's watch table; seams answer
 * every build request at once ("running") with no network, so the figures
 * are the state machine's own: time to take N jobs through their first poll
 * (token, budget, request, status event, next-poll timer) and the RSS each
 * idle watch then holds (watch + job + timer + the fake build payload).
 *
 *   build/bench/bench_loop_watch [watches]      default 50000
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "workers/loop.h"
#include "workers/watch.h"

typedef struct bench {
        loop_t *loop;
        watch_table_t *tbl;
        int n;
        _Atomic long events;
        _Atomic long phase;
        long payloads;
} bench_t;

static int b_token(void *ctx, const char *ws, char *tok, size_t ts, char *fp,
                   size_t fs, char *err, size_t es) {
        (void)ctx, (void)ws, (void)err, (void)es;
        snprintf(tok, ts, "bitwat_bench");
        snprintf(fp, fs, "fp");
        return 0;
}

static void b_answer(void *arg) {
        watch_request_t *req = arg;
        loop_timer_t *t      = req->handle;
        watch_answer_t ans   = {.cls            = WATCH_ANS_OK,
                                .http_status    = 200,
                                .retry_after_ms = -1,
                                .payload        = malloc(64)};
        req->handle          = NULL;
        loop_timer_free(t);
        req->cb(req->cb_arg, &ans);
        free(ans.payload);
}

static int b_start(void *ctx, loop_t *loop, watch_request_t *req, char *err,
                   size_t es) {
        (void)ctx, (void)err, (void)es;
        loop_timer_t *t = loop_timer_new(loop);
        req->handle     = t;
        loop_timer_start(t, 0, b_answer, req);
        return 0;
}

static void b_cancel(void *ctx, watch_request_t *req) {
        (void)ctx;
        loop_timer_free(req->handle);
}

static void b_free(void *ctx, watch_req_kind_t kind, void *payload) {
        (void)ctx, (void)kind;
        free(payload);
}

static int b_publish(void *ctx, void *job, watch_event_t ev, int last,
                     const void *build, const void *log,
                     const watch_error_t *err) {
        bench_t *b = ctx;
        (void)job, (void)ev, (void)last, (void)build, (void)log, (void)err;
        atomic_fetch_add_explicit(&b->events, 1, memory_order_relaxed);
        return 0;
}

static void b_done(void *ctx, void *job, watch_job_end_t how) {
        (void)ctx, (void)job, (void)how;
}

static void b_setup(void *arg) {
        bench_t *b      = arg;
        watch_seams_t s = {.ctx            = b,
                           .token_get      = b_token,
                           .request_start  = b_start,
                           .request_cancel = b_cancel,
                           .payload_free   = b_free,
                           .publish        = b_publish,
                           .job_done       = b_done};
        watch_opts_t o  = {.running_ms = 3600 * 1000}; /* idle after poll */
        b->tbl          = watch_table_new(b->loop, &o, &s);
        for (int i = 0; i < b->n; i++) {
                char build[17];
                snprintf(build, sizeof(build), "%016x", i);
                watch_job_t j = {.job         = b,
                                 .workspace   = "ws-1",
                                 .app_slug    = "669403bffbe35909",
                                 .build_slug  = build,
                                 .follow      = 1,
                                 .log         = WATCH_LOG_SUMMARY,
                                 .deadline_ms = 86400 * 1000};
                watch_table_add(b->tbl, &j);
        }
}

static void b_teardown(void *arg) {
        bench_t *b = arg;
        watch_table_destroy(b->tbl);
        atomic_store(&b->phase, 1);
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

int main(int argc, char **argv) {
        char *end;
        long n = argc > 1 ? strtol(argv[1], &end, 10) : 50000;
        if (argc > 1 && (*end || n < 1 || n > 10000000)) {
                fprintf(stderr, "usage: bench_loop_watch [watches 1..10^7]\n");
                return 2;
        }
        char err[256];
        bench_t b = {.n = (int)n};
        b.loop    = loop_new(NULL, err, sizeof(err));
        if (!b.loop || loop_start(b.loop, err, sizeof(err)) != 0) {
                fprintf(stderr, "%s\n", err);
                return 1;
        }
        usleep(100 * 1000);
        long before = rss_kib();
        int64_t t0  = time_mono_ms();
        loop_post(b.loop, b_setup, &b);
        while (atomic_load(&b.events) < n)
                usleep(1000);
        int64_t ms = time_mono_ms() - t0;
        long after = rss_kib();
        loop_post(b.loop, b_teardown, &b);
        while (!atomic_load(&b.phase))
                usleep(1000);
        loop_destroy(b.loop);
        printf("loop watches: n=%ld first_poll_all=%.2fs (%.0f watches/s) "
               "rss_growth=%ld KiB per_watch=%.0f bytes\n",
               n, ms / 1000.0, ms > 0 ? n * 1000.0 / (double)ms : 0.0,
               after - before, (after - before) * 1024.0 / (double)n);
        return 0;
}
