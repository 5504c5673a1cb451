/* workers/monitor.c — the watch seams on the real services (see monitor.h):
 * per worker thread a Redis connection, a token store and the Bitrise
 * request seams; per process the ack path that turns a delivered terminal
 * result into a done marker and a stored offset. */
#include "workers/monitor.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/buildcache.h"
#include "cache/logref.h"
#include "cache/preflight.h"
#include "common/log.h"
#include "workers/monitor_int.h"
#include "workers/pubq.h"

#define FAC "monitor"

/* A request in flight: the watch's callback, wrapped to count the answer
 * and adopt X-RateLimit-* for the token that made it. */
typedef struct monitor_req {
        monitor_thread_t *t;
        watch_request_t *orig; /* the watch's, alive until its callback */
        watch_request_t copy;  /* what watch_bitrise holds */
        watch_answer_cb_t *cb;
        void *cb_arg;
        int has_fp;
        cache_fp_t fp;
        char workspace[TOKENSTORE_WS_MAX + 1];
} monitor_req_t;

/* The ack of one message that ends a job. */
typedef struct monitor_ack {
        monitor_t *m;
        char job_id[JOB_ID_MAX + 1];
} monitor_ack_t;

/* ---- job handles ----------------------------------------------------------
 */

monitor_job_t *monitor_job_new(job_t *job, int32_t partition, int64_t offset) {
        monitor_job_t *mj = malloc(sizeof(*mj));
        if (!mj) {
                job_destroy(job);
                return NULL;
        }
        *mj = (monitor_job_t){job, partition, offset, PRODUCER_EPOCH_ANY, 0};
        return mj;
}

void monitor_job_set_epoch(monitor_job_t *mj, int64_t epoch) {
        mj->epoch = epoch;
}

void monitor_job_free(monitor_job_t *mj) {
        if (!mj)
                return;
        job_destroy(mj->job);
        free(mj);
}

void monitor_job_describe(monitor_job_t *mj, watch_job_t *out) {
        const job_t *j = mj->job;
        *out           = (watch_job_t){
                      .job         = mj,
                      .workspace   = j->workspace,
                      .app_slug    = j->app_slug,
                      .build_slug  = j->build_slug,
                      .follow      = j->follow,
                      .log         = j->log == JOB_LOG_NONE   ? WATCH_LOG_NONE
                                     : j->log == JOB_LOG_FULL ? WATCH_LOG_FULL
                                                              : WATCH_LOG_SUMMARY,
                      .deadline_ms = j->deadline_s * 1000,
        };
}

int monitor_job_in_partitions(void *job, void *arg) {
        const monitor_job_t *mj       = job;
        const monitor_partitions_t *p = arg;
        for (size_t i = 0; i < p->n; i++)
                if (p->p[i] == mj->partition)
                        return 1;
        return 0;
}

/* ---- tokens, validity, budget ---------------------------------------------
 */

static void fp_from_str(const char *s, cache_fp_t *fp) {
        memset(fp, 0, sizeof(*fp));
        snprintf(fp->id, sizeof(fp->id), "%s", s);
        snprintf(fp->log, sizeof(fp->log), "%.*s", CACHE_FP_LOG_LEN, s);
}

static fp_memo_t *fp_memo_slot(monitor_thread_t *t, const char *ws) {
        uint32_t h = 2166136261u;
        for (; *ws; ws++)
                h = (h ^ (unsigned char)*ws) * 16777619u;
        return &t->fp_memo[h % FP_MEMO_SLOTS];
}

_Static_assert(WATCH_FP_MAX >= CACHE_FP_ID_LEN + 1,
               "a watch holds a whole fingerprint id");

/* The fingerprint of tok into fp, from the memo when tok is the one it
 * holds for ws. 0 or -1. */
static int token_fp(monitor_thread_t *t, const char *ws, const char *tok,
                    char *fp, size_t fp_size) {
        fp_memo_t *e = fp_memo_slot(t, ws);
        size_t len   = strlen(tok);
        cache_fp_t f;
        if (e->len == len && CRYPTO_memcmp(e->tok, tok, len) == 0) {
                snprintf(fp, fp_size, "%s", e->fp);
                return 0;
        }
        if (cache_fp_compute(t->m->fp_key, t->m->o.fp_key_len, tok, len, &f) <
            0)
                return -1;
        snprintf(fp, fp_size, "%s", f.id);
        OPENSSL_cleanse(e, sizeof(*e));
        if (len < FP_MEMO_TOKEN_MAX) {
                memcpy(e->tok, tok, len);
                memcpy(e->fp, f.id, sizeof(e->fp));
                e->len = len;
        }
        return 0;
}

static int seam_token_get(void *ctx, const char *ws, char *tok, size_t tok_size,
                          char *fp, size_t fp_size, char *errstr,
                          size_t errstr_size) {
        monitor_thread_t *t = ctx;
        int err = tokenstore_get(t->ts, ws, tok, tok_size, errstr, errstr_size);
        if (err == CACHE_E_NOTFOUND || err == CACHE_E_ARG)
                return 1;
        if (err < 0)
                return -1;
        if (token_fp(t, ws, tok, fp, fp_size) < 0) {
                OPENSSL_cleanse(tok, tok_size);
                snprintf(errstr, errstr_size,
                         "cannot fingerprint the token of %s", ws);
                return -1;
        }
        return 0;
}

static watch_validity_t validity_of(cache_validity_t v) {
        switch (v) {
        case CACHE_VALIDITY_VALID:
                return WATCH_VALIDITY_VALID;
        case CACHE_VALIDITY_INVALID:
                return WATCH_VALIDITY_INVALID;
        case CACHE_VALIDITY_INSUFFICIENT_ROLE:
                return WATCH_VALIDITY_INSUFFICIENT_ROLE;
        default:
                return WATCH_VALIDITY_UNKNOWN;
        }
}

static void seam_validity_record(void *ctx, const char *fps, const char *app,
                                 long http_status) {
        monitor_thread_t *t = ctx;
        cache_fp_t fp;
        char err[160];
        fp_from_str(fps, &fp);
        int rc = cache_validity_record(t->rc, &t->m->o.validity, &fp, app,
                                       (int)http_status, err, sizeof(err));
        if (rc < 0 && rc != CACHE_E_REFUSED && rc != CACHE_E_DOWN)
                LOG_WARN(FAC, "cannot record token validity fp=%s: %s", fp.log,
                         err);
}

/* share < 0: a foreground call; else a background one (its reserve share,
 * cache_budget_take_background). */
static int64_t budget_take(monitor_thread_t *t, const char *fps, const char *ws,
                           const char *app, double share, watch_validity_t *v) {
        cache_fp_t fp;
        cache_validity_t cv = CACHE_VALIDITY_UNKNOWN;
        fp_from_str(fps, &fp);
        int64_t wait =
            share >= 0 ? cache_budget_take_background(t->m->o.budget, t->rc,
                                                      &fp, ws, app, share, &cv)
                       : cache_budget_take_checked(t->m->o.budget, t->rc, &fp,
                                                   ws, app, &cv);
        *v = validity_of(cv);
        if (wait > 0)
                metrics_counter_inc(t->m->budget_waits);
        return wait;
}

static int64_t seam_budget_take_checked(void *ctx, const char *fps,
                                        const char *ws, const char *app,
                                        watch_validity_t *v) {
        return budget_take(ctx, fps, ws, app, -1, v);
}

static int64_t seam_budget_take_background(void *ctx, const char *fps,
                                           const char *ws, const char *app,
                                           double share, watch_validity_t *v) {
        return budget_take(ctx, fps, ws, app, share, v);
}

static int64_t seam_budget_on_429(void *ctx, const char *fps,
                                  int64_t retry_after_ms) {
        monitor_thread_t *t = ctx;
        cache_fp_t fp;
        char ra[32];
        fp_from_str(fps, &fp);
        if (retry_after_ms >= 0)
                snprintf(ra, sizeof(ra), "%lld",
                         (long long)((retry_after_ms + 999) / 1000));
        int64_t block = cache_budget_on_429(t->m->o.budget, t->rc, &fp,
                                            retry_after_ms >= 0 ? ra : NULL);
        return block < retry_after_ms ? retry_after_ms : block;
}

/* ---- build cache ----------------------------------------------------------
 */

/* Cached build JSON in b → a BUILD answer. 1, or 0 (ignored: bad JSON). */
static int cache_answer(const char *build, const buf_t *b,
                        watch_answer_t *ans) {
        char err[160];
        bitrise_build_t *bb = calloc(1, sizeof(*bb));
        if (!bb || bitrise_build_parse(b->data, b->len, bb, err, sizeof(err))) {
                if (bb)
                        LOG_WARN(FAC, "ignoring cached build %s: %s", build,
                                 err);
                free(bb);
                return 0;
        }
        ans->cls           = WATCH_ANS_OK;
        ans->payload       = bb;
        ans->build_status  = bb->status;
        ans->build_on_hold = bb->is_on_hold;
        return 1;
}

/* Cache, lease, validity and budget in one round trip. When Redis cannot
 * answer, or the cached value does not parse, the poll goes without the
 * lease: validity and budget are asked on their own (each falls back to
 * local state), and the cache is written over after the call. */
static int seam_build_preflight(void *ctx, const char *app, const char *build,
                                const char *fps, const char *ws, int lease_ms,
                                watch_answer_t *ans, int *lease,
                                watch_validity_t *v, int64_t *wait) {
        monitor_thread_t *t = ctx;
        cache_fp_t fp;
        cache_preflight_t pf;
        buf_t b;
        char err[160];
        fp_from_str(fps, &fp);
        buf_init(&b, CACHE_BUILD_MAX_JSON);
        int rc =
            cache_preflight(t->rc, t->m->o.budget, &fp, ws, app, build,
                            t->worker, lease_ms, &b, &pf, err, sizeof(err));
        int hit = rc == 0 && pf.kind == CACHE_PREFLIGHT_HIT &&
                  cache_answer(build, &b, ans);
        buf_release(&b);
        *lease = -1;
        *wait  = 0;
        if (hit) {
                *v = validity_of(pf.verdict);
                return 1;
        }
        if (rc < 0 || pf.kind == CACHE_PREFLIGHT_HIT) {
                if (rc < 0 && rc != CACHE_E_DOWN)
                        LOG_WARN(FAC, "build preflight failed: %s", err);
                *wait = seam_budget_take_checked(ctx, fps, ws, app, v);
                return 0;
        }
        *v = validity_of(pf.verdict);
        if (pf.kind == CACHE_PREFLIGHT_BUSY)
                *lease = 0;
        else if (pf.kind == CACHE_PREFLIGHT_GO)
                *lease = 1;
        else if (pf.kind == CACHE_PREFLIGHT_WAIT) {
                *wait = pf.wait_ms;
                metrics_counter_inc(t->m->budget_waits);
        }
        return 0;
}

static void seam_cache_store(void *ctx, const char *app, const char *build,
                             const void *payload, int ttl_ms) {
        monitor_thread_t *t = ctx;
        char err[160];
        char *json = monitor_build_to_json(payload);
        if (!json)
                return;
        if (t->m->o.build_ttl_ms > 0 && ttl_ms > t->m->o.build_ttl_ms)
                ttl_ms = t->m->o.build_ttl_ms;
        if (cache_build_store(t->rc, app, build, json, strlen(json), ttl_ms,
                              err, sizeof(err)) < 0 &&
            cache_redis_is_up(t->rc))
                LOG_WARN(FAC, "cannot cache build %s: %s", build, err);
        free(json);
}

static void seam_cache_store_release(void *ctx, const char *app,
                                     const char *build, const void *payload,
                                     int ttl_ms) {
        monitor_thread_t *t = ctx;
        char err[160];
        char *json = monitor_build_to_json(payload);
        if (!json) { /* not cached, but the lease must still go */
                cache_build_lease_release_send(t->rc, app, build, t->worker,
                                               err, sizeof(err));
                return;
        }
        if (t->m->o.build_ttl_ms > 0 && ttl_ms > t->m->o.build_ttl_ms)
                ttl_ms = t->m->o.build_ttl_ms;
        if (cache_build_store_release_send(t->rc, app, build, json,
                                           strlen(json), ttl_ms, t->worker, err,
                                           sizeof(err)) < 0 &&
            cache_redis_is_up(t->rc))
                LOG_WARN(FAC, "cannot cache build %s: %s", build, err);
        free(json);
}

static void seam_cache_release(void *ctx, const char *app, const char *build) {
        monitor_thread_t *t = ctx;
        char err[160];
        cache_build_lease_release_send(t->rc, app, build, t->worker, err,
                                       sizeof(err));
}

static void seam_stalled(void *ctx) {
        monitor_thread_t *t = ctx;
        metrics_counter_inc(t->m->stalled);
}

static int seam_done_check(void *ctx, void *job) {
        monitor_thread_t *t = ctx;
        monitor_job_t *mj   = job;
        char err[160];
        int done = cache_done_check(t->rc, mj->job->job_id, err, sizeof(err));
        mj->recheck = done < 0;
        return done;
}

static void seam_done_check_many(void *ctx, void *const *jobs, size_t n,
                                 int *out) {
        monitor_thread_t *t = ctx;
        const char *ids[256];
        char err[160];
        for (size_t at = 0; at < n; at += 256) {
                size_t k = n - at < 256 ? n - at : 256;
                for (size_t i = 0; i < k; i++)
                        ids[i] = ((monitor_job_t *)jobs[at + i])->job->job_id;
                cache_done_check_many(t->rc, ids, k, out + at, err,
                                      sizeof(err));
        }
        for (size_t i = 0; i < n; i++)
                ((monitor_job_t *)jobs[i])->recheck = out[i] < 0;
}

/* ---- requests -------------------------------------------------------------
 */

static void req_adopt_headers(monitor_req_t *r, const watch_answer_t *ans) {
        char rem[32], reset[32];
        if (!r->has_fp || !ans->rl_present)
                return;
        if (ans->rl_remaining >= 0)
                snprintf(rem, sizeof(rem), "%ld", ans->rl_remaining);
        if (ans->rl_reset_at_ms > 0)
                snprintf(reset, sizeof(reset), "%lld",
                         (long long)(ans->rl_reset_at_ms / 1000));
        cache_budget_on_headers(r->t->m->o.budget, r->t->rc, &r->fp,
                                ans->rl_remaining >= 0 ? rem : NULL,
                                ans->rl_reset_at_ms > 0 ? reset : NULL);
}

static void req_done(void *arg, watch_answer_t *ans) {
        monitor_req_t *r = arg;
        monitor_t *m     = r->t->m;
        if ((unsigned)ans->cls < MONITOR_N_CLASSES)
                metrics_counter_inc(m->requests[ans->cls]);
        if (ans->cls != WATCH_ANS_CANCELLED &&
            (unsigned)r->copy.kind <= WATCH_REQ_BUILD_LIST) {
                metrics_counter_inc(m->endpoint[r->copy.kind]);
                if (r->copy.kind == WATCH_REQ_BUILD_LIST)
                        metrics_counter_inc(ans->cls == WATCH_ANS_OK
                                                ? m->list_ok
                                                : m->list_failed);
        }
        if (ans->cls != WATCH_ANS_CANCELLED)
                req_adopt_headers(r, ans);
        watch_answer_cb_t *cb = r->cb;
        void *cb_arg          = r->cb_arg;
        r->orig->handle       = NULL; /* as watch_bitrise does */
        free(r);
        cb(cb_arg, ans); /* may free the watch's request */
}

static int seam_request_start(void *ctx, loop_t *loop, watch_request_t *req,
                              char *errstr, size_t errstr_size) {
        monitor_thread_t *t = ctx;
        monitor_req_t *r    = calloc(1, sizeof(*r));
        if (!r) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        r->t           = t;
        r->orig        = req;
        r->copy        = *req;
        r->cb          = req->cb;
        r->cb_arg      = req->cb_arg;
        r->copy.cb     = req_done;
        r->copy.cb_arg = r;
        if (req->token && *req->token && req->fp && *req->fp) {
                fp_from_str(req->fp, &r->fp);
                r->has_fp = 1;
        }
        int rc = watch_bitrise_request_start(&t->wb, loop, &r->copy, errstr,
                                             errstr_size);
        if (rc != 0) {
                free(r);
                return rc;
        }
        req->handle = r;
        return 0;
}

static void seam_request_cancel(void *ctx, watch_request_t *req) {
        monitor_req_t *r = req->handle;
        (void)ctx;
        if (!r)
                return;
        watch_bitrise_request_cancel(&r->copy);
        free(r);
        req->handle = NULL;
}

static int fallback_find(monitor_thread_t *t, const void *p) {
        for (size_t i = 0; i < t->n_fallback; i++)
                if (t->fallback[i] == p)
                        return (int)i;
        return -1;
}

static void seam_payload_free(void *ctx, watch_req_kind_t kind, void *payload) {
        monitor_thread_t *t = ctx;
        int i;
        if (kind == WATCH_REQ_RAW_LOG && (i = fallback_find(t, payload)) >= 0)
                t->fallback[i] = t->fallback[--t->n_fallback];
        if (kind == WATCH_REQ_RAW_LOG)
                logcopy_refs_drop(t->refs, payload);
        watch_bitrise_payload_free(kind, payload);
}

static void *seam_log_fallback(void *ctx, const void *log_info) {
        monitor_thread_t *t = ctx;
        if (t->n_fallback == t->cap_fallback) {
                size_t cap = t->cap_fallback ? 2 * t->cap_fallback : 8;
                void **p   = realloc(t->fallback, cap * sizeof(*p));
                if (!p)
                        return NULL;
                t->fallback     = p;
                t->cap_fallback = cap;
        }
        void *lp = watch_bitrise_log_fallback(&t->wb, log_info);
        if (lp)
                t->fallback[t->n_fallback++] = lp;
        return lp;
}

/* ---- publishing -----------------------------------------------------------
 */

void monitor_remark_if_due(monitor_t *m) {
        char e[160]   = "";
        size_t failed = 0, n = m->n_recent;
        if (!n || !atomic_exchange(&m->remark_due, 0))
                return;
        for (size_t i = 0; i < n; i++)
                if (cache_done_mark(m->ack_rc, m->recent[i], m->o.done_ttl_s, e,
                                    sizeof(e)) < 0)
                        failed++;
        if (failed) /* down again: its next return brings them */
                LOG_WARN(FAC,
                         "cannot write the recent done markers again "
                         "count=%zu failed=%zu: %s",
                         n, failed, e);
        else
                LOG_INFO(FAC,
                         "recent done markers written again after "
                         "redis came back count=%zu",
                         n);
}

int monitor_mark_done(monitor_t *m, const char *job_id, char *errstr,
                      size_t errstr_size) {
        if (!m->recent &&
            !(m->recent = calloc(MONITOR_RECENT_DONE, sizeof(*m->recent)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return CACHE_E_ARG;
        }
        snprintf(m->recent[m->recent_at], sizeof(*m->recent), "%s", job_id);
        m->recent_at = (m->recent_at + 1) % MONITOR_RECENT_DONE;
        if (m->n_recent < MONITOR_RECENT_DONE)
                m->n_recent++;
        int rc = cache_done_mark(m->ack_rc, job_id, m->o.done_ttl_s, errstr,
                                 errstr_size);
        monitor_remark_if_due(m); /* the mark may have reconnected */
        return rc;
}

/* On the producer's poll thread: the result is stored (or definitively
 * not). Done marker first, then the offset: a crash in between re-reads
 * the job and skips it. */
static void monitor_on_ack(void *ctx, int32_t part, int64_t off,
                           rd_kafka_resp_err_t err) {
        monitor_ack_t *a = ctx;
        monitor_t *m     = a->m;
        char e[160];
        if (!err && m->o.exactly_once) {
                /* the result is in the open transaction: marked done only
                 * once that commits (monitor_txn_end) */
                monitor_pending_add(m, a->job_id);
        } else if (!err) {
                pthread_mutex_lock(&m->ack_lock);
                int rc = monitor_mark_done(m, a->job_id, e, sizeof(e));
                pthread_mutex_unlock(&m->ack_lock);
                if (rc < 0) {
                        metrics_counter_inc(m->done_marks_failed);
                        LOG_WARN(FAC,
                                 "cannot mark job %s done (a redelivery "
                                 "would report it again): %s",
                                 a->job_id, e);
                }
        }
        if (!atomic_load(&m->detached))
                consumer_ack(m->o.consumer, part, off, err);
        free(a);
}

/* A `log: full` job's copy, findable by build and job (cache/logref.h). */
static void logref_record(monitor_thread_t *t, const monitor_job_t *mj,
                          const logseg_ref_t *full) {
        char e[160];
        cJSON *o   = logseg_ref_to_json(full);
        char *json = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (json &&
            cache_logref_put(t->rc, mj->job->app_slug, mj->job->build_slug,
                             mj->job->job_id, json, t->m->o.logcopy.ref_ttl_s,
                             e, sizeof(e)) < 0 &&
            cache_redis_is_up(t->rc))
                LOG_WARN(FAC, "cannot record the log copy of job %s: %s",
                         mj->job->job_id, e);
        free(json);
}

static int seam_publish(void *ctx, void *job, watch_event_t ev, int last,
                        const void *build, const void *log,
                        const watch_error_t *err) {
        monitor_thread_t *t = ctx;
        monitor_t *m        = t->m;
        monitor_job_t *mj   = job;
        char e[256], key[80];
        /* Taken while Redis was down: a redelivery whose first run may have
         * reported it meanwhile (its marker written again on Redis's
         * return, docs/redis-keys.md). */
        if (last && mj->recheck &&
            cache_done_check(t->rc, mj->job->job_id, e, sizeof(e)) == 1)
                return WATCH_PUBLISH_SKIPPED;
        int archived             = log && fallback_find(t, log) < 0;
        const logseg_ref_t *full = logcopy_refs_get(t->refs, log);
        char *json = monitor_result_json(mj, ev, last, build, log, archived,
                                         full, err, t->worker, e, sizeof(e));
        if (!json) {
                LOG_ERROR(FAC, "cannot encode the result of job %s: %s",
                          mj->job->job_id, e);
                return -1;
        }
        job_key(mj->job, key, sizeof(key));
        producer_ack_t ack = {monitor_on_ack, NULL, mj->partition, mj->offset};
        monitor_ack_t *a   = NULL;
        if (last) {
                if (!(a = malloc(sizeof(*a)))) {
                        free(json);
                        return -1;
                }
                a->m = m;
                snprintf(a->job_id, sizeof(a->job_id), "%s", mj->job->job_id);
                ack.ctx = a;
        }
        int rc =
            pubq_send(t->pq, mj->epoch, key, strlen(key), json, strlen(json),
                      last ? &ack : NULL, last, e, sizeof(e));
        free(json);
        if (rc == PRODUCER_ERR_STALE) {
                free(a);
                LOG_INFO(FAC, "result of job %s dropped: %s", mj->job->job_id,
                         e);
                return -1;
        }
        if (rc != 0) {
                free(a);
                LOG_ERROR(FAC, "cannot publish the result of job %s: %s",
                          mj->job->job_id, e);
                return -1;
        }
        metrics_counter_inc(m->results[ev]);
        if (ev == WATCH_EV_FINISHED && full && mj->job->log == JOB_LOG_FULL)
                logref_record(t, mj, full);
        if (ev == WATCH_EV_FINISHED)
                monitor_observe_detection(m, build);
        if (ev == WATCH_EV_ERROR && err && (unsigned)err->code < MONITOR_N_ERRS)
                metrics_counter_inc(m->errors[err->code]);
        if (ev == WATCH_EV_FINISHED && !log && err && err->log_gone > 0 &&
            err->log_gone < WATCH_LOG_GONE__COUNT)
                metrics_counter_inc(m->logs_gone[err->log_gone]);
        return 0;
}

static void seam_job_done(void *ctx, void *job, watch_job_end_t how) {
        monitor_thread_t *t = ctx;
        monitor_job_t *mj   = job;
        switch (how) {
        case WATCH_JOB_SKIPPED:
                metrics_counter_inc(t->m->skipped);
                LOG_INFO(FAC, "job %s already reported, skipped",
                         mj->job->job_id);
                if (!atomic_load(&t->m->detached))
                        consumer_job_done(t->m->o.consumer, mj->partition,
                                          mj->offset);
                break;
        case WATCH_JOB_DROPPED:
                metrics_counter_inc(t->m->dropped);
                break;
        case WATCH_JOB_PUBLISH_FAILED:
                metrics_counter_inc(t->m->pub_failed);
                LOG_ERROR(FAC,
                          "job %s: terminal result not published; its offset "
                          "stays unstored (redelivered after a restart)",
                          mj->job->job_id);
                break;
        case WATCH_JOB_PUBLISHED:
                break;
        }
        monitor_job_free(mj);
}

/* ---- threads and the process ----------------------------------------------
 */

/* Any connection's up/down edge: "redis" is degraded while any is down. */
static void monitor_redis_state(void *opaque, bool up, const char *reason) {
        monitor_t *m = opaque;
        int down     = cache_redis_down_count();
        if (down > 0)
                health_set(m->o.health, "redis", HEALTH_DEGRADED,
                           up ? "some connections down" : reason);
        else
                health_set(m->o.health, "redis", HEALTH_OK, NULL);
}

/* A connection idle while Redis was away (a thread without watches, the
 * done markers while nothing finishes) would stay down, and the process
 * degraded, until its next command: each thread probes its own every
 * second, thread 0 also the done markers' unless an ack is using it. */
#define MONITOR_REDIS_PROBE_MS 1000

static void redis_probe(void *arg) {
        monitor_thread_t *t = arg;
        monitor_t *m        = t->m;
        (void)cache_redis_probe(t->rc);
        if (t->index == 0 && pthread_mutex_trylock(&m->ack_lock) == 0) {
                (void)cache_redis_probe(m->ack_rc);
                monitor_remark_if_due(m);
                pthread_mutex_unlock(&m->ack_lock);
        }
        loop_timer_start(t->redis_probe, MONITOR_REDIS_PROBE_MS, redis_probe,
                         t);
}

/* The done markers' connection: on its return the recent marks are due
 * again (written by whoever holds ack_lock next, not from inside the
 * command that reconnected). */
static void monitor_ack_redis_state(void *opaque, bool up, const char *reason) {
        monitor_t *m = opaque;
        monitor_redis_state(m, up, reason);
        if (up)
                atomic_store(&m->remark_due, 1);
}

static void thread_free(monitor_thread_t *t) {
        if (!t)
                return;
        loop_timer_free(t->redis_probe);
        long lost = (long)pubq_destroy(t->pq); /* acks may still run */
        if (lost)
                atomic_fetch_add(&t->m->results_abandoned, lost);
        if (t->own_ts)
                tokenstore_destroy(t->ts);
        cache_redis_destroy(t->rc);
        free(t->fallback);
        logcopy_refs_destroy(t->refs);
        OPENSSL_cleanse(t->fp_memo, sizeof(t->fp_memo));
        free(t);
}

static void monitor_redis_flush(void *arg) {
        monitor_thread_t *t = arg;
        char err[192];
        if (cache_redis_flush(t->rc, err, sizeof(err)) != CACHE_OK)
                LOG_WARN(FAC, "cannot write to redis: %s", err);
}

int monitor_seams_init(loop_t *loop, void *ud, watch_seams_t *seams,
                       char *errstr, size_t errstr_size) {
        monitor_t *m        = ud;
        monitor_thread_t *t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        int n = atomic_fetch_add(&m->threads, 1);
        snprintf(t->worker, sizeof(t->worker), "%s/w%d", m->o.worker_id, n);
        t->index       = n;
        t->m           = m;
        t->wb.client   = m->o.client;
        t->wb.logparse = m->o.logparse;
        t->wb.clock    = m->clock;
        t->wb.copy     = &m->o.logcopy;
        if (!(t->refs = logcopy_refs_new())) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        t->wb.refs            = t->refs;
        cache_redis_opts_t ro = m->o.redis;
        ro.name               = t->worker;
        ro.on_state           = monitor_redis_state;
        ro.opaque             = m;
        if (!(t->rc = cache_redis_new(&ro, errstr, errstr_size)))
                goto fail;
        /* The writes nobody waits for leave once per loop turn. */
        cache_redis_defer_writes(t->rc, true);
        loop_before_poll(loop, monitor_redis_flush, t);
        if (!(t->redis_probe = loop_timer_new(loop))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        loop_timer_start(t->redis_probe, MONITOR_REDIS_PROBE_MS, redis_probe,
                         t);
        pubq_opts_t po = {.loop     = loop,
                          .producer = m->o.producer,
                          .topic    = m->o.topic_results,
                          .waiting  = &m->results_waiting,
                          .retries  = m->pub_retries,
                          .refused  = m->status_refused};
        if (!(t->pq = pubq_new(&po))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (m->dir_ts) {
                t->ts = m->dir_ts;
        } else {
                tokenstore_opts_t to = m->o.tokens;
                to.rc                = t->rc;
                if (!(t->ts = tokenstore_new(m->o.tokens_spec, &to, errstr,
                                             errstr_size)))
                        goto fail;
                t->own_ts = 1;
        }
        *seams = (watch_seams_t){
            .ctx                    = t,
            .token_get              = seam_token_get,
            .validity_record        = seam_validity_record,
            .budget_take_checked    = seam_budget_take_checked,
            .budget_take_background = seam_budget_take_background,
            .budget_on_429          = seam_budget_on_429,
            .cache_store            = seam_cache_store,
            .cache_release          = seam_cache_release,
            .cache_store_release    = seam_cache_store_release,
            .build_preflight        = seam_build_preflight,
            .request_start          = seam_request_start,
            .request_cancel         = seam_request_cancel,
            .payload_free           = seam_payload_free,
            .publish                = seam_publish,
            .job_done               = seam_job_done,
            .log_fallback           = seam_log_fallback,
            .done_check             = seam_done_check,
            .done_check_many        = seam_done_check_many,
            .stalled                = seam_stalled,
        };
        monitor_apps_seams(seams);
        return 0;
fail:
        loop_before_poll(loop, NULL, NULL);
        thread_free(t);
        return -1;
}

void monitor_seams_release(loop_t *loop, void *ud, watch_seams_t *seams) {
        (void)ud;
        loop_before_poll(loop, NULL, NULL);
        thread_free(seams->ctx);
        seams->ctx = NULL;
}

static double monitor_waiting_fn(void *opaque) {
        monitor_t *m = opaque;
        return (double)atomic_load(&m->results_waiting);
}

long monitor_results_abandoned(monitor_t *m) {
        return m ? atomic_load(&m->results_abandoned) : 0;
}

static void monitor_metrics_register(monitor_t *m) {
        metrics_t *mx            = m->o.metrics;
        static const char *ev[3] = {"status", "finished", "error"};
        static const char *cls[MONITOR_N_CLASSES] = {
            "ok",           "token_invalid", "insufficient_role", "not_found",
            "rate_limited", "transient",     "permanent",         "cancelled"};
        for (int i = 0; i < 3; i++)
                m->results[i] =
                    metrics_counter(mx, "bitmon_results_total",
                                    "Results handed to the producer, by event.",
                                    "event", ev[i], NULL);
        for (int i = 0; i < MONITOR_N_ERRS; i++)
                m->errors[i] = metrics_counter(
                    mx, "bitmon_result_errors_total",
                    "Terminal error results, by code.", "code",
                    watch_errcode_name((watch_errcode_t)i), NULL);
        for (int i = 1; i < WATCH_LOG_GONE__COUNT; i++)
                m->logs_gone[i] = metrics_counter(
                    mx, "bitmon_logs_unavailable_total",
                    "Finished builds reported without their log, by why.",
                    "why", watch_log_gone_name((watch_log_gone_t)i), NULL);
        for (int i = 0; i < MONITOR_N_CLASSES; i++)
                m->requests[i] =
                    metrics_counter(mx, "bitmon_bitrise_requests_total",
                                    "Bitrise requests by how they ended.",
                                    "class", cls[i], NULL);
        m->budget_waits = metrics_counter(
            mx, "bitmon_budget_waits_total",
            "Times a request had to wait for its token's budget.", NULL);
        m->skipped           = metrics_counter(mx, "bitmon_jobs_done_total",
                                               "Jobs that left their watch, by how.",
                                               "how", "skipped", NULL);
        m->dropped           = metrics_counter(mx, "bitmon_jobs_done_total",
                                               "Jobs that left their watch, by how.",
                                               "how", "dropped", NULL);
        m->pub_failed        = metrics_counter(mx, "bitmon_jobs_done_total",
                                               "Jobs that left their watch, by how.",
                                               "how", "publish_failed", NULL);
        m->done_marks_failed = metrics_counter(
            mx, "bitmon_done_marks_failed_total",
            "Done markers that could not be written (Redis down).", NULL);
        m->stalled = metrics_counter(
            mx, "bitmon_watches_stalled_total",
            "Watches found with nothing to step them again (a defect; each "
            "was made to look again and its error logged).",
            NULL);
        m->pub_retries = metrics_counter(
            mx, "bitmon_publish_retries_total",
            "Results offered to a full producer queue (they wait).", NULL);
        m->status_refused = metrics_counter(
            mx, "bitmon_status_refused_total",
            "Status events not sent: too many results waiting.", NULL);
        m->o.logcopy.stored = metrics_counter(
            mx, "bitmon_log_copies_total",
            "Whole logs of log: full watches copied to the logs topic, by "
            "result (failed: a segment refused or lost; the log is read "
            "again).",
            "result", "stored", NULL);
        m->o.logcopy.failed = metrics_counter(
            mx, "bitmon_log_copies_total",
            "Whole logs of log: full watches copied to the logs topic, by "
            "result (failed: a segment refused or lost; the log is read "
            "again).",
            "result", "failed", NULL);
        m->o.logcopy.bytes = metrics_counter(
            mx, "bitmon_log_copy_bytes_total",
            "Raw log bytes stored in the logs topic (before compression).",
            NULL);
        metrics_gauge_fn(mx, "bitmon_results_waiting",
                         "Results waiting for room in the producer queue.",
                         monitor_waiting_fn, m, NULL);
}

monitor_t *monitor_new(const monitor_opts_t *opts, char *errstr,
                       size_t errstr_size) {
        if (!opts->client || !opts->budget || !opts->producer ||
            !opts->consumer || !opts->topic_results || !opts->tokens_spec ||
            !opts->worker_id || opts->fp_key_len < CACHE_FP_KEY_MIN ||
            opts->fp_key_len > CACHE_FP_KEY_MAX) {
                snprintf(errstr, errstr_size,
                         "monitor: missing client, budget, producer, "
                         "consumer, topic, token store or fingerprint key");
                return NULL;
        }
        monitor_t *m = calloc(1, sizeof(*m));
        if (!m) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        m->o = *opts;
        memcpy(m->fp_key, opts->fp_key, opts->fp_key_len);
        pthread_mutex_init(&m->ack_lock, NULL);
        if (strncmp(opts->tokens_spec, "dir:", 4) == 0 &&
            !(m->dir_ts = tokenstore_new(opts->tokens_spec, &opts->tokens,
                                         errstr, errstr_size)))
                goto fail;
        cache_redis_opts_t ro = opts->redis;
        ro.name               = "done-markers";
        ro.on_state           = monitor_ack_redis_state;
        ro.opaque             = m;
        if (!(m->ack_rc = cache_redis_new(&ro, errstr, errstr_size)))
                goto fail;
        if (!(m->clock = srvclock_new())) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        monitor_metrics_register(m);
        monitor_apps_metrics(m);
        return m;
fail:
        monitor_destroy(m);
        return NULL;
}

void monitor_destroy(monitor_t *m) {
        if (!m)
                return;
        tokenstore_destroy(m->dir_ts);
        cache_redis_destroy(m->ack_rc);
        free(m->pending);
        free(m->recent);
        srvclock_destroy(m->clock);
        pthread_mutex_destroy(&m->ack_lock);
        OPENSSL_cleanse(m->fp_key, sizeof(m->fp_key));
        free(m);
}

void monitor_detach_consumer(monitor_t *m) {
        if (m)
                atomic_store(&m->detached, 1);
}
