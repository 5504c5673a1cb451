/* workers/workers.c — pool + one watch table per worker (see workers.h). */
#include "workers/workers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

/* Jobs posted to a loop together join its table together, from a post of
 * its own behind them (workers_intake): their done markers are asked in one
 * round trip. */
#define WORKERS_INTAKE_MAX 1024

typedef struct workers_submission workers_submission_t;

typedef struct workers_thread { /* one per loop, loop_ctx */
        workers_t *w;
        watch_seams_t seams;
        watch_table_t *tbl;
        int intake_posted; /* workers_intake is queued */
        workers_submission_t *pending[WORKERS_INTAKE_MAX];
        size_t npending;
} workers_thread_t;

struct workers {
        workers_opts_t opts;
        pool_t *pool;
        _Atomic long jobs;
};

typedef struct workers_submission { /* a job on its way to a worker */
        workers_t *w;
        loop_t *loop;
        void *job; /* NULL: a hint (hint_finished says which) */
        int hint_finished;
        int follow;
        watch_log_t log;
        int64_t deadline_ms;
        char *workspace, *app_slug, *build_slug; /* into strings */
        char strings[];
} workers_submission_t;

typedef struct workers_latch { /* workers_drop waits on it */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int pending;
        int refs; /* the waiter + posts not run yet */
        long dropped;
        int (*pred)(void *job, void *arg);
        void *arg;
} workers_latch_t;

static int workers_thread_start(loop_t *loop, void *ud, char *errstr,
                                size_t errstr_size) {
        workers_t *w        = ud;
        workers_thread_t *t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        t->w = w;
        if (w->opts.seams_init(loop, w->opts.ud, &t->seams, errstr,
                               errstr_size) != 0) {
                free(t);
                return -1;
        }
        t->tbl = watch_table_new(loop, &w->opts.watch, &t->seams);
        if (!t->tbl) {
                if (w->opts.seams_release)
                        w->opts.seams_release(loop, w->opts.ud, &t->seams);
                free(t);
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        watch_table_count_into(t->tbl, &w->jobs);
        loop_ctx_set(loop, t);
        return 0;
}

static void workers_intake(void *arg);

static void workers_thread_stop(loop_t *loop, void *ud) {
        workers_t *w        = ud;
        workers_thread_t *t = loop_ctx(loop);
        if (!t)
                return;
        workers_intake(t);
        size_t n = watch_table_jobs(t->tbl);
        if (n)
                LOG_INFO("workers",
                         "handing back watched jobs worker=%d jobs=%zu",
                         loop_id(loop), n);
        watch_table_destroy(t->tbl); /* job_done DROPPED for each */
        if (w->opts.seams_release)
                w->opts.seams_release(loop, w->opts.ud, &t->seams);
        loop_ctx_set(loop, NULL);
        free(t);
}

workers_t *workers_new(const workers_opts_t *opts, char *errstr,
                       size_t errstr_size) {
        if (!opts || !opts->seams_init) {
                snprintf(errstr, errstr_size, "workers need a seams_init hook");
                return NULL;
        }
        workers_t *w = calloc(1, sizeof(*w));
        if (!w) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        w->opts        = *opts;
        pool_opts_t po = {.threads = opts->threads, .loop = opts->loop};
        po.loop.on_thread_start = workers_thread_start;
        po.loop.on_thread_stop  = workers_thread_stop;
        po.loop.ud              = w;
        w->pool                 = pool_new(&po, errstr, errstr_size);
        if (!w->pool) {
                free(w);
                return NULL;
        }
        return w;
}

int workers_start(workers_t *w, char *errstr, size_t errstr_size) {
        return pool_start(w->pool, errstr, errstr_size);
}

/* The jobs posted since the last turn join the table, in posting order;
 * also before anything else that looks at the table (hints, drops, stop). */
static void workers_intake(void *arg) {
        workers_thread_t *t = arg;
        size_t n            = t->npending;
        watch_job_t jobs[WORKERS_INTAKE_MAX];
        int rcs[WORKERS_INTAKE_MAX];
        t->intake_posted = 0;
        if (!n)
                return;
        t->npending = 0;
        for (size_t i = 0; i < n; i++) {
                workers_submission_t *s = t->pending[i];
                jobs[i]                 = (watch_job_t){.job         = s->job,
                                                        .workspace   = s->workspace,
                                                        .app_slug    = s->app_slug,
                                                        .build_slug  = s->build_slug,
                                                        .follow      = s->follow,
                                                        .log         = s->log,
                                                        .deadline_ms = s->deadline_ms};
        }
        watch_table_add_many(t->tbl, jobs, n, rcs);
        for (size_t i = 0; i < n; i++) {
                workers_submission_t *s = t->pending[i];
                if (rcs[i] != 0) {
                        /* Accepted by workers_submit, so it must end: hand
                         * it back (its offset is not stored; it comes
                         * again). */
                        LOG_WARN("workers", "cannot take job app=%s build=%s",
                                 s->app_slug, s->build_slug);
                        t->seams.job_done(t->seams.ctx, s->job,
                                          WATCH_JOB_DROPPED);
                }
                free(s);
        }
}

static void workers_submission_run(void *arg) {
        workers_submission_t *s = arg;
        workers_thread_t *t     = loop_ctx(s->loop);
        if (!t) {
                /* Only when the worker failed to start (then it runs its
                 * queued posts on the way out and bitmon exits). */
                if (s->job)
                        LOG_ERROR("workers",
                                  "worker not running, job lost "
                                  "app=%s build=%s",
                                  s->app_slug, s->build_slug);
                free(s);
                return;
        }
        if (!s->job) { /* a hint */
                workers_intake(t);
                watch_table_hint(t->tbl, s->workspace, s->app_slug,
                                 s->build_slug, s->hint_finished);
                free(s);
                return;
        }
        if (t->npending == WORKERS_INTAKE_MAX)
                workers_intake(t);
        t->pending[t->npending++] = s;
        if (!t->intake_posted) {
                t->intake_posted = 1;
                if (loop_post(s->loop, workers_intake, t) != 0)
                        workers_intake(t); /* the loop stops: now */
        }
}

/* Copies the job's strings and posts it to the worker of its build. */
static int workers_post(workers_t *w, const watch_job_t *job,
                        int hint_finished) {
        size_t lw = strlen(job->workspace), la = strlen(job->app_slug),
               lb               = strlen(job->build_slug);
        workers_submission_t *s = malloc(sizeof(*s) + lw + la + lb + 3);
        if (!s)
                return LOOP_ERR_OOM;
        s->w             = w;
        s->job           = job->job;
        s->hint_finished = hint_finished;
        s->follow        = job->follow;
        s->log           = job->log;
        s->deadline_ms   = job->deadline_ms;
        s->workspace     = s->strings;
        s->app_slug      = s->workspace + lw + 1;
        s->build_slug    = s->app_slug + la + 1;
        memcpy(s->workspace, job->workspace, lw + 1);
        memcpy(s->app_slug, job->app_slug, la + 1);
        memcpy(s->build_slug, job->build_slug, lb + 1);
        /* Route by the jobs topic key, "<app_slug>/<build_slug>". */
        s->app_slug[la] = '/';
        int i           = pool_index_for(w->pool, s->app_slug, la + 1 + lb);
        s->app_slug[la] = '\0';
        s->loop         = pool_loop(w->pool, i);
        int rc          = loop_post(s->loop, workers_submission_run, s);
        if (rc != 0)
                free(s);
        return rc;
}

int workers_submit(workers_t *w, const watch_job_t *job) {
        return job->job ? workers_post(w, job, 0) : LOOP_ERR_OOM;
}

int workers_hint(workers_t *w, const char *workspace, const char *app_slug,
                 const char *build_slug, int finished) {
        watch_job_t hint = {.workspace  = workspace,
                            .app_slug   = app_slug,
                            .build_slug = build_slug};
        return workers_post(w, &hint, finished);
}

static void workers_latch_unref(workers_latch_t *l) {
        pthread_mutex_lock(&l->lock);
        int last = --l->refs == 0;
        pthread_mutex_unlock(&l->lock);
        if (last) {
                pthread_mutex_destroy(&l->lock);
                pthread_cond_destroy(&l->cond);
                free(l);
        }
}

typedef struct workers_drop_post {
        workers_latch_t *latch;
        loop_t *loop;
} workers_drop_post_t;

static void workers_drop_run(void *arg) {
        workers_drop_post_t *d = arg;
        workers_latch_t *l     = d->latch;
        workers_thread_t *t    = loop_ctx(d->loop);
        if (t)
                workers_intake(t);
        size_t n = t ? watch_table_drop(t->tbl, l->pred, l->arg) : 0;
        free(d);
        pthread_mutex_lock(&l->lock);
        l->dropped += (long)n;
        if (--l->pending == 0)
                pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
        workers_latch_unref(l);
}

/* Waits for the latch until deadline (monotonic ms; < 0 = forever).
 * Returns 1 when every post ran. */
static int workers_latch_wait(workers_latch_t *l, int64_t deadline) {
        pthread_mutex_lock(&l->lock);
        while (l->pending > 0) {
                int64_t left = deadline - time_mono_ms();
                if (deadline >= 0 && left <= 0)
                        break;
                if (deadline < 0) {
                        pthread_cond_wait(&l->cond, &l->lock);
                        continue;
                }
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += left / 1000;
                ts.tv_nsec += (long)(left % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&l->cond, &l->lock, &ts);
        }
        int all = l->pending == 0;
        pthread_mutex_unlock(&l->lock);
        return all;
}

long workers_drop(workers_t *w, int (*pred)(void *job, void *arg), void *arg,
                  int timeout_ms) {
        int64_t deadline =
            timeout_ms < 0 ? -1 : time_mono_ms() + (int64_t)timeout_ms;
        workers_latch_t *l = calloc(1, sizeof(*l));
        if (!l)
                return LOOP_ERR_OOM;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&l->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&l->lock, NULL);
        l->pred = pred;
        l->arg  = arg;
        l->refs = 1;
        for (int i = 0; i < pool_size(w->pool); i++) {
                workers_drop_post_t *d = malloc(sizeof(*d));
                if (!d)
                        continue; /* that worker keeps its jobs */
                d->latch = l;
                d->loop  = pool_loop(w->pool, i);
                pthread_mutex_lock(&l->lock);
                l->pending++;
                l->refs++;
                pthread_mutex_unlock(&l->lock);
                if (loop_post(d->loop, workers_drop_run, d) != 0) {
                        /* Stopping: its jobs are dropped anyway. */
                        free(d);
                        pthread_mutex_lock(&l->lock);
                        l->pending--;
                        l->refs--;
                        pthread_mutex_unlock(&l->lock);
                }
        }
        int all = workers_latch_wait(l, deadline);
        pthread_mutex_lock(&l->lock);
        long dropped = l->dropped;
        pthread_mutex_unlock(&l->lock);
        workers_latch_unref(l);
        return all ? dropped : LOOP_ERR_TIMEOUT;
}

long workers_jobs(const workers_t *w) {
        workers_t *m = (workers_t *)(uintptr_t)w; /* atomics: no const */
        return atomic_load_explicit(&m->jobs, memory_order_relaxed);
}

void workers_stats_get(const workers_t *w, loop_stats_t *out) {
        memset(out, 0, sizeof(*out));
        for (int i = 0; i < pool_size(w->pool); i++) {
                loop_stats_t st;
                loop_stats_get(pool_loop(w->pool, i), &st);
                out->posts_run += st.posts_run;
                out->wakeups += st.wakeups;
                out->http_started += st.http_started;
                out->http_done += st.http_done;
                out->http_active += st.http_active;
                out->timers += st.timers;
        }
}

int workers_stop(workers_t *w, int grace_ms, int timeout_ms) {
        return pool_stop(w->pool, grace_ms, timeout_ms);
}

void workers_destroy(workers_t *w) {
        if (!w)
                return;
        pool_destroy(w->pool);
        free(w);
}

pool_t *workers_pool(workers_t *w) {
        return w->pool;
}
