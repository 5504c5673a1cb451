/* Unit tests for workers/workers: jobs from other threads routed to the
 * worker of their build, per-thread seams, revoke (drop) and shutdown that
 * hand jobs back exactly once. Bitrise is a fake answering on the loop. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tests/assert.h"
#include "workers/workers.h"

static int scale = 1;

enum { BUILDS = 200, PER_BUILD = 4, JOBS = BUILDS * PER_BUILD };

typedef struct tjob {
        int id;
        char build[17];
        _Atomic int done;
        _Atomic int how;
        _Atomic int events;
        _Atomic int wrong_thread;
} tjob_t;

typedef struct world {
        int finish;    /* answer builds as finished (else running) */
        int fail_init; /* seams_init fails */
        _Atomic long requests;
        _Atomic int req_loop[BUILDS]; /* loop id + 1 that fetched a build */
        _Atomic long mixed;           /* a build fetched by two loops */
        _Atomic long inits, releases, payloads;
        tjob_t jobs[JOBS];
} world_t;

static world_t world;

typedef struct tctx { /* per worker thread */
        world_t *wd;
        loop_t *loop;
} tctx_t;

typedef struct tpending {
        tctx_t *c;
        watch_request_t *req;
        loop_timer_t *timer;
} tpending_t;

static int t_token(void *ctx, const char *ws, char *tok, size_t ts, char *fp,
                   size_t fs, char *err, size_t es) {
        (void)ctx, (void)ws, (void)err, (void)es;
        snprintf(tok, ts, "bitwat_x");
        snprintf(fp, fs, "fp");
        return 0;
}

static void t_deliver(void *arg) {
        tpending_t *p      = arg;
        world_t *wd        = p->c->wd;
        watch_answer_t ans = {.cls            = WATCH_ANS_OK,
                              .http_status    = 200,
                              .retry_after_ms = -1,
                              .build_status   = wd->finish ? 1 : 0};
        ans.payload        = malloc(1);
        atomic_fetch_add(&wd->payloads, 1);
        watch_request_t *req = p->req;
        loop_timer_free(p->timer);
        free(p);
        req->cb(req->cb_arg, &ans);
        if (ans.payload) {
                free(ans.payload);
                atomic_fetch_sub(&wd->payloads, 1);
        }
}

static int t_start(void *ctx, loop_t *loop, watch_request_t *req, char *err,
                   size_t es) {
        tctx_t *c = ctx;
        (void)err, (void)es;
        int b    = (int)strtol(req->build_slug, NULL, 16);
        int mine = loop_id(loop) + 1;
        int prev = 0;
        if (!atomic_compare_exchange_strong(&c->wd->req_loop[b], &prev, mine) &&
            prev != mine)
                atomic_fetch_add(&c->wd->mixed, 1);
        atomic_fetch_add(&c->wd->requests, 1);
        tpending_t *p = calloc(1, sizeof(*p));
        p->c          = c;
        p->req        = req;
        p->timer      = loop_timer_new(loop);
        req->handle   = p;
        loop_timer_start(p->timer, 2, t_deliver, p);
        return 0;
}

static void t_cancel(void *ctx, watch_request_t *req) {
        tpending_t *p = req->handle;
        (void)ctx;
        loop_timer_free(p->timer);
        free(p);
}

static void t_payload_free(void *ctx, watch_req_kind_t kind, void *payload) {
        tctx_t *c = ctx;
        (void)kind;
        free(payload);
        atomic_fetch_sub(&c->wd->payloads, 1);
}

static int t_publish(void *ctx, void *job, watch_event_t ev, int last,
                     const void *build, const void *log,
                     const watch_error_t *err) {
        tctx_t *c = ctx;
        tjob_t *j = job;
        (void)ev, (void)last, (void)build, (void)log, (void)err;
        if (!loop_on_thread(c->loop))
                atomic_fetch_add(&j->wrong_thread, 1);
        atomic_fetch_add(&j->events, 1);
        return 0;
}

static void t_job_done(void *ctx, void *job, watch_job_end_t how) {
        tctx_t *c = ctx;
        tjob_t *j = job;
        if (!loop_on_thread(c->loop))
                atomic_fetch_add(&j->wrong_thread, 1);
        atomic_store(&j->how, (int)how);
        atomic_fetch_add(&j->done, 1);
}

static int t_seams_init(loop_t *loop, void *ud, watch_seams_t *s, char *err,
                        size_t es) {
        world_t *wd = ud;
        if (wd->fail_init) {
                snprintf(err, es, "cannot connect to redis at 127.0.0.1:1");
                return -1;
        }
        tctx_t *c = calloc(1, sizeof(*c));
        c->wd     = wd;
        c->loop   = loop;
        *s        = (watch_seams_t){.ctx            = c,
                                    .token_get      = t_token,
                                    .request_start  = t_start,
                                    .request_cancel = t_cancel,
                                    .payload_free   = t_payload_free,
                                    .publish        = t_publish,
                                    .job_done       = t_job_done};
        atomic_fetch_add(&wd->inits, loop_on_thread(loop) ? 1 : 1000);
        return 0;
}

static void t_seams_release(loop_t *loop, void *ud, watch_seams_t *s) {
        world_t *wd = ud;
        (void)loop;
        free(s->ctx);
        atomic_fetch_add(&wd->releases, 1);
}

static workers_t *start_workers(int running_ms) {
        char err[256]     = "";
        workers_opts_t wo = {.threads = 4,
                             .watch = {.running_ms = running_ms, .jitter = -1},
                             .seams_init    = t_seams_init,
                             .seams_release = t_seams_release,
                             .ud            = &world};
        workers_t *w      = workers_new(&wo, err, sizeof(err));
        T_ASSERTF(w, "%s", err);
        T_ASSERTF(workers_start(w, err, sizeof(err)) == 0, "%s", err);
        return w;
}

static void world_reset(void) {
        memset(&world, 0, sizeof(world));
        for (int i = 0; i < JOBS; i++) {
                world.jobs[i].id = i;
                snprintf(world.jobs[i].build, sizeof(world.jobs[i].build),
                         "%016x", i % BUILDS);
        }
}

typedef struct submitter {
        workers_t *w;
        int from, to;
        int refused;
} submitter_t;

static void *submit_main(void *arg) {
        submitter_t *s = arg;
        for (int i = s->from; i < s->to; i++) {
                watch_job_t j = {.job        = &world.jobs[i],
                                 .workspace  = "ws",
                                 .app_slug   = "669403bffbe35909",
                                 .build_slug = world.jobs[i].build,
                                 .follow     = 1,
                                 .log        = WATCH_LOG_NONE};
                if (workers_submit(s->w, &j) != 0)
                        s->refused++;
        }
        return NULL;
}

static void submit_all(workers_t *w) {
        pthread_t th[2];
        submitter_t s[2] = {{w, 0, JOBS / 2, 0}, {w, JOBS / 2, JOBS, 0}};
        for (int i = 0; i < 2; i++)
                pthread_create(&th[i], NULL, submit_main, &s[i]);
        for (int i = 0; i < 2; i++) {
                pthread_join(th[i], NULL);
                T_EQ_INT(s[i].refused, 0);
        }
}

static int count_done(void) {
        int n = 0;
        for (int i = 0; i < JOBS; i++)
                n += atomic_load(&world.jobs[i].done) ? 1 : 0;
        return n;
}

static int count_events(void) {
        int n = 0;
        for (int i = 0; i < JOBS; i++)
                n += atomic_load(&world.jobs[i].events) ? 1 : 0;
        return n;
}

static void wait_until(int (*count)(void), int want, int ms) {
        int64_t until = time_mono_ms() + (int64_t)ms * scale;
        while (count() < want && time_mono_ms() < until)
                usleep(1000);
}

static void test_workers_route_by_build_and_finish(void) {
        world_reset();
        world.finish = 1;
        workers_t *w = start_workers(0);
        submit_all(w);
        wait_until(count_done, JOBS, 10000);
        T_EQ_INT(workers_jobs(w), 0);
        T_EQ_INT(workers_stop(w, 0, 5000 * scale), 0);
        workers_destroy(w);
        for (int i = 0; i < JOBS; i++) {
                tjob_t *j = &world.jobs[i];
                T_EQ_INT(atomic_load(&j->done), 1);
                T_EQ_INT(atomic_load(&j->how), WATCH_JOB_PUBLISHED);
                T_EQ_INT(atomic_load(&j->events), 1); /* finished */
                T_EQ_INT(atomic_load(&j->wrong_thread), 0);
        }
        T_EQ_INT(atomic_load(&world.mixed), 0); /* one worker per build */
        T_ASSERT(atomic_load(&world.requests) >= BUILDS);
        T_ASSERT(atomic_load(&world.requests) <= JOBS);
        T_EQ_INT(atomic_load(&world.inits), 4);
        T_EQ_INT(atomic_load(&world.releases), 4);
        T_EQ_INT(atomic_load(&world.payloads), 0);
}

static int is_odd(void *job, void *arg) {
        (void)arg;
        return ((tjob_t *)job)->id % 2;
}

static void test_workers_revoke_then_shutdown_hand_back(void) {
        world_reset();
        workers_t *w = start_workers(60000); /* running, long intervals */
        submit_all(w);
        wait_until(count_events, JOBS, 10000); /* each saw status:run */
        T_EQ_INT(workers_jobs(w), JOBS);
        loop_stats_t st;
        workers_stats_get(w, &st);
        T_EQ_INT(st.timers, BUILDS + 4); /* one per watch, all idle, and
                                          * each table's check */
        T_EQ_INT(st.http_active, 0);
        T_ASSERT(st.posts_run >= JOBS);
        T_EQ_INT(workers_drop(w, is_odd, NULL, 5000 * scale), JOBS / 2);
        T_EQ_INT(workers_jobs(w), JOBS / 2);
        T_EQ_INT(workers_stop(w, 0, 5000 * scale), 0);
        T_EQ_INT(workers_jobs(w), 0);
        watch_job_t late = {.job        = &world.jobs[0],
                            .workspace  = "ws",
                            .app_slug   = "669403bffbe35909",
                            .build_slug = "0000000000000001"};
        T_EQ_INT(workers_submit(w, &late), LOOP_ERR_STOPPING);
        workers_destroy(w);
        for (int i = 0; i < JOBS; i++) {
                tjob_t *j = &world.jobs[i];
                T_EQ_INT(atomic_load(&j->done), 1);
                T_EQ_INT(atomic_load(&j->how), WATCH_JOB_DROPPED);
                T_EQ_INT(atomic_load(&j->events), 1); /* status only */
                T_EQ_INT(atomic_load(&j->wrong_thread), 0);
        }
        T_EQ_INT(atomic_load(&world.requests), BUILDS);
        T_EQ_INT(atomic_load(&world.payloads), 0);
        T_EQ_INT(atomic_load(&world.releases), 4);
}

static void test_workers_init_failure_and_bad_options(void) {
        world_reset();
        world.fail_init   = 1;
        char err[256]     = "";
        workers_opts_t wo = {.threads       = 2,
                             .seams_init    = t_seams_init,
                             .seams_release = t_seams_release,
                             .ud            = &world};
        workers_t *w      = workers_new(&wo, err, sizeof(err));
        T_ASSERT(w);
        T_ASSERT(workers_start(w, err, sizeof(err)) != 0);
        T_EQ_STR(err, "cannot start worker thread 0: cannot connect to redis "
                      "at 127.0.0.1:1");
        workers_destroy(w);
        T_EQ_INT(atomic_load(&world.releases), 0);
        wo.seams_init = NULL;
        T_ASSERT(workers_new(&wo, err, sizeof(err)) == NULL);
        T_EQ_STR(err, "workers need a seams_init hook");
        wo.seams_init = t_seams_init;
        wo.threads    = 0;
        T_ASSERT(workers_new(&wo, err, sizeof(err)) == NULL);
        T_EQ_STR(err, "invalid workers.threads 0: must be 1..256");
        workers_destroy(NULL);
}

int main(void) {
        const char *s = getenv("BITMON_TEST_TIMEOUT_SCALE");
        if (s && *s >= '1' && *s <= '9')
                scale = *s - '0';
        T_RUN(test_workers_route_by_build_and_finish);
        T_RUN(test_workers_revoke_then_shutdown_hand_back);
        T_RUN(test_workers_init_failure_and_bad_options);
        return t_done();
}
