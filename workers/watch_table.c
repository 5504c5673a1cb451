/* workers/watch_table.c — the table of watches of one loop: an index by
 * (workspace, app, build) so every job for a build joins the same watch, and
 * the add/drop/destroy entry points of watch.h.
 */
#include "workers/watch.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "workers/apppoll.h"
#include "workers/pool.h"
#include "workers/watch_int.h"

/* Every WATCH_CHECK_MS the table looks for stalled watches
 * (watch_stalled): a defect of the machine that would leave its jobs
 * without a result until the process stops. It is logged with the watch's
 * state, and the watch looks at its build again. */
#define WATCH_CHECK_MS 10000

static void watch_table_check(void *arg) {
        watch_table_t *tbl = arg;
        for (size_t i = 0; i < tbl->nbuckets; i++)
                for (watch_t *w = tbl->buckets[i], *next; w; w = next) {
                        next = w->hnext;
                        if (!watch_stalled(w))
                                continue;
                        char st[400];
                        watch_describe(w, st, sizeof(st));
                        LOG_ERROR(WATCH_FAC,
                                  "watch stalled (a defect), looking again "
                                  "app=%s build=%s: %s",
                                  watch_app(w), watch_build(w), st);
                        if (tbl->seams.stalled)
                                tbl->seams.stalled(tbl->seams.ctx);
                        watch_restart(w); /* may free w; next is kept */
                }
        watch_line_admit(tbl); /* a slot left free would be a defect too */
        loop_timer_start(tbl->check, WATCH_CHECK_MS, watch_table_check, tbl);
}

watch_table_t *watch_table_new(loop_t *loop, const watch_opts_t *opts,
                               const watch_seams_t *seams) {
        watch_table_t *tbl = calloc(1, sizeof(*tbl));
        if (!tbl)
                return NULL;
        tbl->loop  = loop;
        tbl->seams = *seams;
        if (opts)
                tbl->opts = *opts;
        watch_opts_defaults(&tbl->opts);
        tbl->nbuckets = 256;
        tbl->buckets  = calloc(tbl->nbuckets, sizeof(*tbl->buckets));
        if (!tbl->buckets || apppoll_init(tbl) != 0 ||
            !(tbl->check = loop_timer_new(loop))) {
                apppoll_release(tbl);
                free(tbl->buckets);
                free(tbl);
                return NULL;
        }
        loop_timer_start(tbl->check, WATCH_CHECK_MS, watch_table_check, tbl);
        return tbl;
}

static void watch_table_grow(watch_table_t *tbl) {
        size_t nb      = tbl->nbuckets * 2;
        watch_t **nbkt = calloc(nb, sizeof(*nbkt));
        if (!nbkt)
                return; /* longer chains, still correct */
        for (size_t i = 0; i < tbl->nbuckets; i++) {
                watch_t *w = tbl->buckets[i];
                while (w) {
                        watch_t *next            = w->hnext;
                        w->hnext                 = nbkt[w->hash & (nb - 1)];
                        nbkt[w->hash & (nb - 1)] = w;
                        w                        = next;
                }
        }
        free(tbl->buckets);
        tbl->buckets  = nbkt;
        tbl->nbuckets = nb;
}

static watch_t *watch_lookup(watch_table_t *tbl, const char *key, size_t len,
                             uint32_t hash) {
        for (watch_t *w = tbl->buckets[hash & (tbl->nbuckets - 1)]; w;
             w          = w->hnext)
                if (w->hash == hash && w->key_len == len &&
                    memcmp(w->key, key, len) == 0)
                        return w;
        return NULL;
}

void watch_table_unlink(watch_table_t *tbl, watch_t *w) {
        watch_t **pp = &tbl->buckets[w->hash & (tbl->nbuckets - 1)];
        while (*pp != w)
                pp = &(*pp)->hnext;
        *pp = w->hnext;
        tbl->nwatches--;
}

static watch_t *watch_create(watch_table_t *tbl, const char *key, size_t len,
                             uint32_t hash) {
        watch_t *w = calloc(1, offsetof(watch_t, key) + len);
        if (!w || !(w->timer = loop_timer_new(tbl->loop))) {
                free(w);
                return NULL;
        }
        memcpy(w->key, key, len);
        w->tbl       = tbl;
        w->key_len   = (uint16_t)len;
        w->hash      = hash;
        w->app_off   = (uint16_t)(strlen(key) + 1);
        w->build_off = (uint16_t)(w->app_off + strlen(key + w->app_off) + 1);
        w->stage     = WATCH_STAGE_BUILD;
        w->next_at   = loop_now_ms(tbl->loop); /* first step: next turn */
        apppoll_join(w);                       /* on failure it polls alone */
        if (tbl->nwatches >= tbl->nbuckets)
                watch_table_grow(tbl);
        size_t b        = hash & (tbl->nbuckets - 1);
        w->hnext        = tbl->buckets[b];
        tbl->buckets[b] = w;
        tbl->nwatches++;
        return w;
}

/* "workspace\0app\0build\0" into a new string; its length into *len. */
static char *watch_key_new(const char *workspace, const char *app,
                           const char *build, size_t *len) {
        size_t lw = strlen(workspace), la = strlen(app), lb = strlen(build);
        char *key = malloc(lw + la + lb + 3);
        if (!key)
                return NULL;
        memcpy(key, workspace, lw + 1);
        memcpy(key + lw + 1, app, la + 1);
        memcpy(key + lw + la + 2, build, lb + 1);
        *len = lw + la + lb + 3;
        return key;
}

/* The key's hash as the watch keeps it (32 bits). */
static uint32_t watch_key_hash(const char *key, size_t len) {
        return (uint32_t)pool_hash(key, len);
}

watch_t *watch_table_find(watch_table_t *tbl, const char *workspace,
                          const char *app, const char *build) {
        size_t len;
        char *key = watch_key_new(workspace, app, build, &len);
        if (!key)
                return NULL;
        watch_t *w = watch_lookup(tbl, key, len, watch_key_hash(key, len));
        free(key);
        return w;
}

int watch_table_hint(watch_table_t *tbl, const char *workspace, const char *app,
                     const char *build, int finished) {
        watch_t *w = watch_table_find(tbl, workspace, app, build);
        apppoll_webhook_seen(tbl, workspace, app);
        if (tbl->seams.hint_seen)
                tbl->seams.hint_seen(tbl->seams.ctx, workspace, app, w != NULL);
        if (!w)
                return 0;
        if (finished)
                watch_look_now(w);
        return 1;
}

/* watch_table_add once its done marker was asked: done = 1 ends it. */
static int watch_table_add_checked(watch_table_t *tbl, const watch_job_t *job,
                                   int done) {
        const watch_seams_t *s = &tbl->seams;
        if (done == 1) {
                s->job_done(s->ctx, job->job, WATCH_JOB_SKIPPED);
                return 0;
        }
        size_t len;
        char *key =
            watch_key_new(job->workspace, job->app_slug, job->build_slug, &len);
        watch_sub_t *sub = calloc(1, sizeof(*sub));
        if (!key || !sub || len > UINT16_MAX) { /* jobs are far shorter */
                free(key);
                free(sub);
                return -1;
        }
        uint32_t hash = watch_key_hash(key, len);
        watch_t *w    = watch_lookup(tbl, key, len, hash);
        if (!w && !(w = watch_create(tbl, key, len, hash))) {
                free(key);
                free(sub);
                return -1;
        }
        free(key);
        sub->job         = job->job;
        sub->follow      = job->follow;
        sub->log         = job->log;
        sub->deadline_at = job->deadline_ms > 0
                               ? loop_now_ms(tbl->loop) + job->deadline_ms
                               : WATCH_NEVER;
        sub->next        = w->subs;
        w->subs          = sub;
        w->nsubs++;
        tbl->njobs++;
        if (tbl->counter)
                atomic_fetch_add_explicit(tbl->counter, 1,
                                          memory_order_relaxed);
        watch_greet(w, sub);
        watch_settle(w);
        return 0;
}

int watch_table_add(watch_table_t *tbl, const watch_job_t *job) {
        const watch_seams_t *s = &tbl->seams;
        return watch_table_add_checked(
            tbl, job, s->done_check ? s->done_check(s->ctx, job->job) : 0);
}

#define WATCH_DONE_BATCH 256 /* done markers asked in one command */

void watch_table_add_many(watch_table_t *tbl, const watch_job_t *jobs, size_t n,
                          int *rcs) {
        const watch_seams_t *s = &tbl->seams;
        void *handles[WATCH_DONE_BATCH];
        int done[WATCH_DONE_BATCH];
        for (size_t at = 0; at < n; at += WATCH_DONE_BATCH) {
                size_t k =
                    n - at < WATCH_DONE_BATCH ? n - at : WATCH_DONE_BATCH;
                if (!s->done_check_many) {
                        for (size_t i = 0; i < k; i++)
                                rcs[at + i] =
                                    watch_table_add(tbl, &jobs[at + i]);
                        continue;
                }
                for (size_t i = 0; i < k; i++)
                        handles[i] = jobs[at + i].job;
                s->done_check_many(s->ctx, handles, k, done);
                for (size_t i = 0; i < k; i++)
                        rcs[at + i] = watch_table_add_checked(
                            tbl, &jobs[at + i], done[i]);
        }
}

size_t watch_table_drop(watch_table_t *tbl, int (*pred)(void *job, void *arg),
                        void *arg) {
        const watch_seams_t *s = &tbl->seams;
        size_t dropped         = 0;
        for (size_t b = 0; b < tbl->nbuckets; b++) {
                watch_t *w = tbl->buckets[b];
                while (w) {
                        watch_t *next    = w->hnext;
                        watch_sub_t **pp = &w->subs;
                        size_t before    = dropped;
                        while (*pp) {
                                if (pred && !pred((*pp)->job, arg)) {
                                        pp = &(*pp)->next;
                                        continue;
                                }
                                s->job_done(s->ctx, (*pp)->job,
                                            WATCH_JOB_DROPPED);
                                watch_sub_unlink(w, pp);
                                dropped++;
                        }
                        if (dropped != before)
                                watch_settle(w);
                        w = next;
                }
        }
        return dropped;
}

void watch_table_destroy(watch_table_t *tbl) {
        if (!tbl)
                return;
        watch_table_drop(tbl, NULL, NULL);
        loop_timer_free(tbl->check);
        apppoll_release(tbl);
        free(tbl->buckets);
        free(tbl);
}

void watch_table_count_into(watch_table_t *tbl, _Atomic long *counter) {
        tbl->counter = counter;
}

size_t watch_table_jobs(const watch_table_t *tbl) {
        return tbl->njobs;
}

size_t watch_table_watches(const watch_table_t *tbl) {
        return tbl->nwatches;
}
