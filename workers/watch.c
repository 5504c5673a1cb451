/* workers/watch.c — the watch state machine (see watch.h; the table of
 * watches is in watch_table.c). A watch acts only in its timer callback and
 * in request completions; each of those entry points ends in watch_settle,
 * which frees the watch once no job is left or arms its timer for the next
 * moment that matters (the next step or the earliest job deadline).
 */
#include "workers/watch.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rand.h"
#include "workers/apppoll.h"
#include "workers/watch_int.h"

static const char *const watch_errcode_names[] = {
    "token_missing",        "token_invalid", "insufficient_role", "not_found",
    "upstream_unavailable", "rate_limited",  "deadline_exceeded",
};

static const char *const watch_log_gone_names[] = {
    NULL, "deleted", "not_archived", "download_failed", "deadline",
};

const char *watch_log_gone_name(watch_log_gone_t why) {
        return (unsigned)why < WATCH_LOG_GONE__COUNT ? watch_log_gone_names[why]
                                                     : NULL;
}

const char *watch_errcode_name(watch_errcode_t code) {
        return (unsigned)code < sizeof(watch_errcode_names) /
                                    sizeof(watch_errcode_names[0])
                   ? watch_errcode_names[code]
                   : "unknown";
}

static void watch_def(int *v, int def) {
        if (*v <= 0)
                *v = def;
}

void watch_opts_defaults(watch_opts_t *o) {
        watch_def(&o->on_hold_ms, 30000);
        watch_def(&o->running_ms, 15000);
        watch_def(&o->backoff_base_ms, 1000);
        watch_def(&o->backoff_max_ms, 60000);
        watch_def(&o->retry_max, 8);
        watch_def(&o->lease_ms, 5000);
        watch_def(&o->lease_wait_ms, 1000);
        watch_def(&o->log_archive_ms, 300000);
        watch_def(&o->log_retry_ms, 10000);
        watch_def(&o->raw_log_retries, 3);
        watch_def(&o->max_in_flight, 512);
        watch_def(&o->list_margin_s, 600);
        watch_def(&o->list_max_pages, 4);
        watch_def(&o->max_ms, 120000);
        watch_def(&o->target_ms, 10000);
        watch_def(&o->safety_ms, 300000);
        if (o->min_ms < 0)
                o->min_ms = 0;
        if (o->jitter == 0) /* < 0 stays: explicitly none */
                o->jitter = 0.1;
        if (o->jitter > 0.9)
                o->jitter = 0.9;
}

static double watch_jitter(const watch_opts_t *o) {
        return o->jitter > 0 ? o->jitter : 0;
}

int64_t watch_backoff_ms(const watch_opts_t *o, int attempt) {
        int64_t max = o->backoff_max_ms > 0 ? o->backoff_max_ms : 1;
        int64_t d   = o->backoff_base_ms > 0 ? o->backoff_base_ms : 1;
        for (int i = 1; i < attempt && d < max; i++)
                d *= 2;
        if (d > max)
                d = max;
        d = rand_jitter(d, watch_jitter(o));
        return d > max ? max : d < 1 ? 1 : d;
}

/* ---- helpers ------------------------------------------------------------- */

static int64_t watch_now(const watch_t *w) {
        return loop_now_ms(w->tbl->loop);
}

static void watch_schedule(watch_t *w, int64_t delay_ms) {
        w->next_at = watch_now(w) + (delay_ms > 0 ? delay_ms : 0);
}

int64_t watch_jittered(const watch_table_t *tbl, int64_t ms) {
        return rand_jitter(ms, watch_jitter(&tbl->opts));
}

/* The next own look in state st: the schedule (apppoll.h, schedule.h). */
static int64_t watch_interval_ms(watch_t *w, watch_state_t st) {
        return watch_jittered(w->tbl, apppoll_interval_ms(w, st));
}

static void watch_payload_free(watch_t *w, watch_req_kind_t kind, void **p) {
        if (*p && w->tbl->seams.payload_free)
                w->tbl->seams.payload_free(w->tbl->seams.ctx, kind, *p);
        *p = NULL;
}

static void watch_wipe(char *tok, size_t n) {
        explicit_bzero(tok, n); /* not optimised away */
}

/* Publishes ev to sub; for a terminal (last) event also ends the job. */
static void watch_sub_publish(watch_t *w, watch_sub_t *sub, watch_event_t ev,
                              int last, const void *log,
                              const watch_error_t *err) {
        const watch_seams_t *s = &w->tbl->seams;
        int rc = s->publish(s->ctx, sub->job, ev, last, w->build, log, err);
        if (rc < 0)
                LOG_WARN(WATCH_FAC,
                         "cannot publish event app=%s build=%s event=%d",
                         watch_app(w), watch_build(w), (int)ev);
        if (last)
                s->job_done(s->ctx, sub->job,
                            rc == 0  ? WATCH_JOB_PUBLISHED
                            : rc > 0 ? WATCH_JOB_SKIPPED
                                     : WATCH_JOB_PUBLISH_FAILED);
}

void watch_sub_unlink(watch_t *w, watch_sub_t **pp) {
        watch_sub_t *sub = *pp;
        *pp              = sub->next;
        free(sub);
        w->nsubs--;
        w->tbl->njobs--;
        if (w->tbl->counter)
                atomic_fetch_sub_explicit(w->tbl->counter, 1,
                                          memory_order_relaxed);
}

/* Ends every job for which `which` matches with one terminal event. */
enum { WATCH_SUBS_ALL, WATCH_SUBS_LOG_NONE };

static int watch_sub_matches(const watch_sub_t *sub, int which) {
        return which == WATCH_SUBS_ALL ||
               (which == WATCH_SUBS_LOG_NONE && sub->log == WATCH_LOG_NONE);
}

static void watch_finish(watch_t *w, int which, watch_event_t ev,
                         const void *log, const watch_error_t *err) {
        watch_sub_t **pp = &w->subs;
        while (*pp) {
                if (!watch_sub_matches(*pp, which)) {
                        pp = &(*pp)->next;
                        continue;
                }
                watch_sub_publish(w, *pp, ev, 1, log, err);
                watch_sub_unlink(w, pp);
        }
}

static void watch_fail(watch_t *w, watch_errcode_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void watch_fail(watch_t *w, watch_errcode_t code, const char *fmt, ...) {
        char msg[320];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        LOG_INFO(WATCH_FAC, "watch failed: %s app=%s build=%s jobs=%zu code=%s",
                 msg, watch_app(w), watch_build(w), (size_t)w->nsubs,
                 watch_errcode_name(code));
        watch_error_t err = {.code = code, .message = msg};
        watch_finish(w, WATCH_SUBS_ALL, WATCH_EV_ERROR, NULL, &err);
}

/* A transient failure: back off, or give up past the retry budget. */
static void watch_transient(watch_t *w, const char *why) {
        const watch_opts_t *o = &w->tbl->opts;
        w->attempts++;
        if (w->attempts > o->retry_max) {
                watch_fail(w, WATCH_ERR_UPSTREAM_UNAVAILABLE,
                           "%s (gave up after %d attempts)", why,
                           (int)w->attempts);
                return;
        }
        LOG_DEBUG(WATCH_FAC, "retrying: %s app=%s build=%s attempt=%d", why,
                  watch_app(w), watch_build(w), w->attempts);
        watch_schedule(w, watch_backoff_ms(o, w->attempts));
}

/* ---- steps --------------------------------------------------------------- */

/* The token into tok and its fingerprint into w->fp. Returns 1, or 0 when
 * the watch failed or was rescheduled (tok wiped). */
static int watch_token(watch_t *w, char *tok, size_t tok_size) {
        const watch_seams_t *s = &w->tbl->seams;
        char err[256]          = "";
        int rc = s->token_get(s->ctx, watch_workspace(w), tok, tok_size, w->fp,
                              sizeof(w->fp), err, sizeof(err));
        if (rc == 0)
                return 1;
        watch_wipe(tok, tok_size);
        if (rc == 1)
                watch_fail(w, WATCH_ERR_TOKEN_MISSING,
                           "no token stored for workspace %s: connect it "
                           "with bitmon connect --workspace %s",
                           watch_workspace(w), watch_workspace(w));
        else
                watch_transient(w, err[0] ? err : "cannot read token");
        return 0;
}

/* Acts on a cached validity verdict: 1 when it lets the call go, 0 when
 * it refuses it (the watch failed). */
static int watch_verdict(watch_t *w, watch_validity_t v) {
        w->valid_cached = v == WATCH_VALIDITY_VALID;
        if (v == WATCH_VALIDITY_INVALID)
                watch_fail(w, WATCH_ERR_TOKEN_INVALID,
                           "token of workspace %s was rejected (401, cached)",
                           watch_workspace(w));
        else if (v == WATCH_VALIDITY_INSUFFICIENT_ROLE)
                watch_fail(w, WATCH_ERR_INSUFFICIENT_ROLE,
                           "token of workspace %s has a role below "
                           "Developer for app %s (403, cached)",
                           watch_workspace(w), watch_app(w));
        else
                return 1;
        return 0;
}

static watch_validity_t watch_validity(watch_t *w) {
        const watch_seams_t *s = &w->tbl->seams;
        return s->validity_get ? s->validity_get(s->ctx, w->fp, watch_app(w))
                               : WATCH_VALIDITY_UNKNOWN;
}

/* Cached validity, then one request from the budget (one round trip when
 * the seam allows). Returns 1 when the call may go now; else the watch
 * failed or waits. */
static int watch_admit(watch_t *w) {
        const watch_seams_t *s = &w->tbl->seams;
        int64_t wait           = 0;
        if (s->budget_take_checked) {
                watch_validity_t v = WATCH_VALIDITY_UNKNOWN;
                wait = s->budget_take_checked(s->ctx, w->fp, watch_workspace(w),
                                              watch_app(w), &v);
                if (!watch_verdict(w, v))
                        return 0;
        } else {
                if (!watch_verdict(w, watch_validity(w)))
                        return 0;
                if (s->budget_take)
                        wait =
                            s->budget_take(s->ctx, w->fp, watch_workspace(w));
        }
        if (wait <= 0)
                return 1;
        w->rate_wait = 1;
        watch_schedule(w, wait);
        return 0;
}

static void watch_on_answer(void *arg, watch_answer_t *ans);

static void watch_start(watch_t *w, watch_req_kind_t kind, const char *tok) {
        const watch_seams_t *s = &w->tbl->seams;
        char err[256]          = "";
        watch_log_t mode       = WATCH_LOG_SUMMARY;
        for (watch_sub_t *sub = w->subs; sub; sub = sub->next)
                if (sub->log == WATCH_LOG_FULL)
                        mode = WATCH_LOG_FULL;
        /* Allocated per request: an idle watch (most of them) holds none. */
        watch_request_t *req = malloc(sizeof(*req));
        w->rate_wait         = 0;
        if (!req) {
                watch_transient(w, "cannot start request: out of memory");
                return;
        }
        *req   = (watch_request_t){.kind       = kind,
                                   .token      = tok,
                                   .fp         = tok ? w->fp : NULL,
                                   .app_slug   = watch_app(w),
                                   .build_slug = watch_build(w),
                                   .log_info   = w->log_info,
                                   .log        = mode,
                                   .cb         = watch_on_answer,
                                   .cb_arg     = w};
        int rc = s->request_start(s->ctx, w->tbl->loop, req, err, sizeof(err));
        req->token = NULL;
        if (rc != 0) {
                free(req);
                watch_transient(w, err[0] ? err : "cannot start request");
                return;
        }
        w->req       = req;
        w->in_flight = 1;
        w->tbl->in_flight++;
}

static void watch_on_build(watch_t *w, watch_answer_t *ans);
static void watch_on_timer(void *arg);

/* ---- the line for request slots ---------------------------------------- */

/* A slot is free when the requests in flight and the watches already let
 * out of the line stay below opts.max_in_flight. */
static int watch_slot_free(const watch_table_t *tbl) {
        return tbl->in_flight + tbl->admitted < (size_t)tbl->opts.max_in_flight;
}

static void watch_line_push(watch_t *w) {
        watch_table_t *tbl = w->tbl;
        w->waiting         = WATCH_WAIT_QUEUED;
        w->wait_next       = NULL;
        w->wait_prev       = tbl->wait_tail;
        if (tbl->wait_tail)
                tbl->wait_tail->wait_next = w;
        else
                tbl->wait_head = w;
        tbl->wait_tail = w;
}

static void watch_line_unlink(watch_t *w) {
        watch_table_t *tbl = w->tbl;
        if (w->wait_prev)
                w->wait_prev->wait_next = w->wait_next;
        else
                tbl->wait_head = w->wait_next;
        if (w->wait_next)
                w->wait_next->wait_prev = w->wait_prev;
        else
                tbl->wait_tail = w->wait_prev;
        w->wait_next = w->wait_prev = NULL;
        w->waiting                  = WATCH_WAIT_NONE;
}

/* Lets waiting watches out of the line for the free slots: their timers
 * fire at once and they step from there (never from inside a callback of
 * another watch). */
void watch_line_admit(watch_table_t *tbl) {
        while (tbl->wait_head && watch_slot_free(tbl)) {
                watch_t *w = tbl->wait_head;
                watch_line_unlink(w);
                w->waiting = WATCH_WAIT_ADMITTED;
                tbl->admitted++;
                loop_timer_start(w->timer, 0, watch_on_timer, w);
        }
}

/* The build cache, then on a miss the refresh lease (*lease: 1 taken, 0
 * held by another, < 0 none): one round trip when the seam allows. */
static int watch_cache_lookup(watch_t *w, watch_answer_t *ans, int *lease) {
        const watch_seams_t *s = &w->tbl->seams;
        int lease_ms           = w->tbl->opts.lease_ms;
        if (s->cache_get_lease)
                return s->cache_get_lease(s->ctx, watch_app(w), watch_build(w),
                                          lease_ms, ans, lease);
        int hit = s->cache_get(s->ctx, watch_app(w), watch_build(w), ans);
        if (hit == 0 && s->cache_lease)
                *lease = s->cache_lease(s->ctx, watch_app(w), watch_build(w),
                                        lease_ms);
        return hit;
}

/* A build from the cache, served only to a token not known to be refused. */
static void watch_serve_cached(watch_t *w, watch_answer_t *ans,
                               watch_validity_t v) {
        if (watch_verdict(w, v)) {
                w->attempts = 0;
                watch_on_build(w, ans);
        }
        watch_payload_free(w, WATCH_REQ_BUILD, &ans->payload);
}

static void watch_wait_lease(watch_t *w) { /* another pod refreshes */
        watch_schedule(w, rand_jitter(w->tbl->opts.lease_wait_ms,
                                      watch_jitter(&w->tbl->opts)));
}

/* The build step's lookups in one round trip (seams.build_preflight).
 * Returns 1 when the call may go now. */
static int watch_preflight(watch_t *w) {
        const watch_seams_t *s = &w->tbl->seams;
        watch_answer_t ans     = {.retry_after_ms = -1};
        watch_validity_t v     = WATCH_VALIDITY_UNKNOWN;
        int lease              = -1;
        int64_t wait           = 0;
        if (s->build_preflight(s->ctx, watch_app(w), watch_build(w), w->fp,
                               watch_workspace(w), w->tbl->opts.lease_ms, &ans,
                               &lease, &v, &wait) == 1) {
                LOG_DEBUG(WATCH_FAC, "build from the cache app=%s build=%s",
                          watch_app(w), watch_build(w));
                watch_serve_cached(w, &ans, v);
                return 0;
        }
        if (!watch_verdict(w, v))
                return 0;
        if (lease == 0) {
                watch_wait_lease(w);
                return 0;
        }
        if (wait > 0) {
                w->rate_wait = 1;
                watch_schedule(w, wait);
                return 0;
        }
        w->lease_held = lease == 1;
        return 1;
}

/* The same with the separate seams: the cache (a miss takes the refresh
 * lease), then validity and budget, which give the lease back when they
 * refuse the call or make it wait. */
static int watch_lookup_admit(watch_t *w) {
        const watch_seams_t *s = &w->tbl->seams;
        if (s->cache_get || s->cache_get_lease) {
                watch_answer_t ans = {.retry_after_ms = -1};
                int lease          = -1;
                if (watch_cache_lookup(w, &ans, &lease) == 1) {
                        watch_serve_cached(w, &ans, watch_validity(w));
                        return 0;
                }
                if (lease == 0) {
                        watch_wait_lease(w);
                        return 0;
                }
                w->lease_held = lease == 1;
        }
        if (watch_admit(w))
                return 1;
        if (w->lease_held && s->cache_release)
                s->cache_release(s->ctx, watch_app(w), watch_build(w));
        w->lease_held = 0;
        return 0;
}

static void watch_step_build(watch_t *w) {
        const watch_seams_t *s = &w->tbl->seams;
        char tok[WATCH_TOKEN_MAX];
        if (apppoll_defer(w)) /* its app's list call looks for it */
                return;
        if (!watch_token(w, tok, sizeof(tok)))
                return;
        /* After a hint the cache is no answer: the build may have changed
         * since it was stored. */
        if (w->fresh             ? watch_admit(w)
            : s->build_preflight ? watch_preflight(w)
                                 : watch_lookup_admit(w))
                watch_start(w, WATCH_REQ_BUILD, tok);
        watch_wipe(tok, sizeof(tok));
}

static void watch_step_log_info(watch_t *w) {
        char tok[WATCH_TOKEN_MAX];
        if (!watch_token(w, tok, sizeof(tok)))
                return;
        if (watch_admit(w))
                watch_start(w, WATCH_REQ_LOG_INFO, tok);
        watch_wipe(tok, sizeof(tok));
}

static void watch_step(watch_t *w) {
        switch (w->stage) {
        case WATCH_STAGE_BUILD:
                watch_step_build(w);
                break;
        case WATCH_STAGE_LOG_INFO:
                watch_step_log_info(w);
                break;
        case WATCH_STAGE_RAW_LOG:
                watch_start(w, WATCH_REQ_RAW_LOG, NULL);
                break;
        }
}

/* ---- answers ------------------------------------------------------------- */

/* Publishes the current status to every job (or only one). For a follow=0
 * job that is its one report, which ends it. */
static void watch_report_status(watch_t *w, const watch_sub_t *only) {
        watch_sub_t **pp = &w->subs;
        while (*pp) {
                watch_sub_t *sub = *pp;
                if (only && sub != only) {
                        pp = &sub->next;
                        continue;
                }
                watch_sub_publish(w, sub, WATCH_EV_STATUS, !sub->follow, NULL,
                                  NULL);
                if (!sub->follow)
                        watch_sub_unlink(w, pp);
                else
                        pp = &sub->next;
        }
}

static void watch_on_build(watch_t *w, watch_answer_t *ans) {
        watch_state_t st = ans->build_status != 0 ? WATCH_STATE_FINISHED
                           : ans->build_on_hold   ? WATCH_STATE_ON_HOLD
                                                  : WATCH_STATE_RUNNING;
        int changed      = !w->known || st != w->state;
        watch_payload_free(w, WATCH_REQ_BUILD, &w->build);
        w->build     = ans->payload;
        ans->payload = NULL;
        w->known     = 1;
        w->state     = st;
        if (st != WATCH_STATE_FINISHED) {
                if (changed)
                        watch_report_status(w, NULL);
                watch_schedule(w, watch_interval_ms(w, st));
                return;
        }
        apppoll_finished(w);
        apppoll_leave(w);
        watch_finish(w, WATCH_SUBS_LOG_NONE, WATCH_EV_FINISHED, NULL, NULL);
        w->stage     = WATCH_STAGE_LOG_INFO;
        w->log_since = watch_now(w);
        w->raw_tries = 0;
        w->log_first = 1;
        watch_schedule(w, apppoll_log_wait_ms(w));
}

/* The build is finished but its log cannot be read: every job still ends
 * `finished`, its log marked unavailable and why. */
static void watch_log_gone(watch_t *w, watch_log_gone_t why, int archived,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void watch_log_gone(watch_t *w, watch_log_gone_t why, int archived,
                           const char *fmt, ...) {
        char msg[320];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        LOG_INFO(WATCH_FAC,
                 "log unavailable: %s app=%s build=%s jobs=%zu why=%s", msg,
                 watch_app(w), watch_build(w), (size_t)w->nsubs,
                 watch_log_gone_name(why));
        watch_error_t gone = {
            .message = msg, .log_gone = why, .log_archived = archived};
        watch_finish(w, WATCH_SUBS_ALL, WATCH_EV_FINISHED, NULL, &gone);
}

/* The log is not there (yet): ask /log again within the archive budget. */
static void watch_log_give_up(watch_t *w, const char *why) {
        const watch_seams_t *s = &w->tbl->seams;
        void *log              = w->log_info && s->log_fallback
                                     ? s->log_fallback(s->ctx, w->log_info)
                                     : NULL;
        if (log) { /* the chunks /log gave while not archived */
                LOG_INFO(WATCH_FAC,
                         "log not archived in time, reporting its chunks "
                         "app=%s build=%s",
                         watch_app(w), watch_build(w));
                watch_finish(w, WATCH_SUBS_ALL, WATCH_EV_FINISHED, log, NULL);
                watch_payload_free(w, WATCH_REQ_RAW_LOG, &log);
                return;
        }
        watch_log_gone(w, WATCH_LOG_GONE_NOT_ARCHIVED, 0,
                       "log of build %s not archived within %.1f s: %s",
                       watch_build(w), w->tbl->opts.log_archive_ms / 1000.0,
                       why);
}

static void watch_log_wait(watch_t *w, const char *why) {
        const watch_opts_t *o = &w->tbl->opts;
        int64_t left          = w->log_since + o->log_archive_ms - watch_now(w);
        if (left <= 0) {
                watch_log_give_up(w, why);
                return;
        }
        int64_t d = rand_jitter(o->log_retry_ms, watch_jitter(o));
        watch_schedule(w, d < left ? d : left);
}

static void watch_on_log_info(watch_t *w, watch_answer_t *ans) {
        /* Keep the latest answer: the raw log link, or the chunks for
         * watch_log_give_up. */
        watch_payload_free(w, WATCH_REQ_LOG_INFO, &w->log_info);
        w->log_info  = ans->payload;
        ans->payload = NULL;
        if (w->log_first) {
                w->log_first = 0;
                apppoll_log_answer(w, ans->log_archived);
        }
        if (ans->log_archived && ans->log_has_url) {
                w->stage = WATCH_STAGE_RAW_LOG;
                watch_schedule(w, 0);
                return;
        }
        if (ans->log_archived) {
                watch_log_gone(w, WATCH_LOG_GONE_DELETED, 1,
                               "log of build %s is archived without a "
                               "download link (deleted)",
                               watch_build(w));
                return;
        }
        watch_log_wait(w, "not archived yet");
}

/* The raw log could not be read: get a fresh link from /log, a few times. */
static void watch_raw_log_retry(watch_t *w, const watch_answer_t *ans) {
        const char *why = ans->message ? ans->message : "raw log failed";
        watch_payload_free(w, WATCH_REQ_LOG_INFO, &w->log_info);
        if (++w->raw_tries > w->tbl->opts.raw_log_retries) {
                watch_log_gone(w, WATCH_LOG_GONE_DOWNLOAD_FAILED, 1,
                               "cannot download the log of build %s: %s",
                               watch_build(w), why);
                return;
        }
        w->stage = WATCH_STAGE_LOG_INFO;
        watch_schedule(w, ans->cls == WATCH_ANS_INSUFFICIENT_ROLE
                              ? 0 /* the link expired */
                              : watch_backoff_ms(&w->tbl->opts, w->raw_tries));
}

static void watch_on_rate_limited(watch_t *w, const watch_answer_t *ans) {
        const watch_seams_t *s = &w->tbl->seams;
        int64_t block          = ans->retry_after_ms;
        if (s->budget_on_429)
                block = s->budget_on_429(s->ctx, w->fp, ans->retry_after_ms);
        if (block < 0)
                block = watch_backoff_ms(&w->tbl->opts, w->attempts + 1);
        w->rate_wait = 1;
        watch_schedule(w, block);
}

static void watch_on_failure(watch_t *w, watch_req_kind_t kind,
                             const watch_answer_t *ans) {
        const char *msg = ans->message ? ans->message : "request failed";
        if (kind == WATCH_REQ_RAW_LOG && ans->cls != WATCH_ANS_RATE_LIMITED) {
                watch_raw_log_retry(w, ans);
                return;
        }
        switch (ans->cls) {
        case WATCH_ANS_TOKEN_INVALID:
                watch_fail(w, WATCH_ERR_TOKEN_INVALID, "%s", msg);
                break;
        case WATCH_ANS_INSUFFICIENT_ROLE:
                watch_fail(w, WATCH_ERR_INSUFFICIENT_ROLE, "%s", msg);
                break;
        case WATCH_ANS_NOT_FOUND:
                if (kind == WATCH_REQ_LOG_INFO) /* early /log 404s */
                        watch_log_wait(w, msg);
                else
                        watch_fail(w, WATCH_ERR_NOT_FOUND, "%s", msg);
                break;
        case WATCH_ANS_RATE_LIMITED:
                watch_on_rate_limited(w, ans);
                break;
        case WATCH_ANS_PERMANENT:
                watch_fail(w, WATCH_ERR_UPSTREAM_UNAVAILABLE, "%s", msg);
                break;
        default:
                watch_transient(w, msg);
                break;
        }
}

/* Build cache bookkeeping after our own BUILD call. */
static void watch_cache_after(watch_t *w, const watch_answer_t *ans) {
        const watch_seams_t *s = &w->tbl->seams;
        int store              = ans->cls == WATCH_ANS_OK && ans->payload;
        watch_state_t st =
            ans->build_on_hold ? WATCH_STATE_ON_HOLD : WATCH_STATE_RUNNING;
        int ttl_ms = store ? (int)watch_interval_ms(w, st) : 0;
        if (store && w->lease_held && s->cache_store_release) {
                s->cache_store_release(s->ctx, watch_app(w), watch_build(w),
                                       ans->payload, ttl_ms);
                w->lease_held = 0;
                return;
        }
        if (store && s->cache_store)
                s->cache_store(s->ctx, watch_app(w), watch_build(w),
                               ans->payload, ttl_ms);
        if (w->lease_held && s->cache_release)
                s->cache_release(s->ctx, watch_app(w), watch_build(w));
        w->lease_held = 0;
}

static void watch_on_answer(void *arg, watch_answer_t *ans) {
        watch_t *w             = arg;
        const watch_seams_t *s = &w->tbl->seams;
        watch_table_t *tbl     = w->tbl;
        watch_req_kind_t kind  = w->req->kind;
        free(w->req);
        w->req       = NULL;
        w->in_flight = 0;
        tbl->in_flight--;
        if (ans->cls == WATCH_ANS_CANCELLED) {
                /* The loop stops; the table is dropped in on_thread_stop. */
                watch_payload_free(w, kind, &ans->payload);
                return;
        }
        long hs = ans->http_status;
        /* A 2xx confirms what the cache said when it said valid: nothing
         * to write (the entry lapses after its TTL and the next 2xx writes
         * it again). 401/403 always overwrite it. */
        if (kind != WATCH_REQ_RAW_LOG && s->validity_record &&
            ((hs >= 200 && hs < 300 && !w->valid_cached) || hs == 401 ||
             hs == 403))
                s->validity_record(s->ctx, w->fp, watch_app(w), hs);
        if (kind == WATCH_REQ_BUILD)
                watch_cache_after(w, ans);
        if (ans->cls != WATCH_ANS_OK) {
                watch_on_failure(w, kind, ans);
        } else {
                w->attempts = 0;
                if (kind == WATCH_REQ_BUILD) {
                        w->solo  = 0; /* parks again at its next look */
                        w->fresh = 0;
                        watch_on_build(w, ans);
                } else if (kind == WATCH_REQ_LOG_INFO)
                        watch_on_log_info(w, ans);
                else
                        watch_finish(w, WATCH_SUBS_ALL, WATCH_EV_FINISHED,
                                     ans->payload, NULL);
        }
        watch_payload_free(w, kind, &ans->payload);
        watch_settle(w);
        watch_line_admit(tbl);
}

/* ---- timer, deadlines, lifetime ------------------------------------------ */

/* What a job whose deadline has come gets: once the build has finished,
 * `finished` with the log unavailable; else the error that kept it. */
static watch_event_t watch_expiry(const watch_t *w, watch_error_t *err) {
        if (w->stage != WATCH_STAGE_BUILD) {
                *err = (watch_error_t){
                    .message      = "the build finished but its log was not "
                                    "read by the job's deadline",
                    .log_gone     = WATCH_LOG_GONE_DEADLINE,
                    .log_archived = w->stage == WATCH_STAGE_RAW_LOG};
                return WATCH_EV_FINISHED;
        }
        if (w->rate_wait)
                *err = (watch_error_t){.code = WATCH_ERR_RATE_LIMITED,
                                       .message =
                                           "the token's request budget stayed "
                                           "exhausted past the job's deadline"};
        else
                *err = (watch_error_t){
                    .code    = WATCH_ERR_DEADLINE_EXCEEDED,
                    .message = "the build was still running at the job's "
                               "deadline"};
        return WATCH_EV_ERROR;
}

/* Ends the jobs whose deadline has come. */
static void watch_expire(watch_t *w, int64_t now) {
        watch_sub_t **pp = &w->subs;
        while (*pp) {
                watch_sub_t *sub = *pp;
                if (sub->deadline_at > now) {
                        pp = &sub->next;
                        continue;
                }
                watch_error_t err;
                watch_event_t ev = watch_expiry(w, &err);
                watch_sub_publish(w, sub, ev, 1, NULL, &err);
                watch_sub_unlink(w, pp);
        }
}

static void watch_free(watch_t *w) {
        watch_table_t *tbl     = w->tbl;
        const watch_seams_t *s = &tbl->seams;
        if (w->waiting == WATCH_WAIT_QUEUED)
                watch_line_unlink(w);
        else if (w->waiting == WATCH_WAIT_ADMITTED)
                tbl->admitted--;
        if (w->in_flight) {
                tbl->in_flight--;
                if (s->request_cancel)
                        s->request_cancel(s->ctx, w->req);
                free(w->req);
        }
        if (w->lease_held && s->cache_release)
                s->cache_release(s->ctx, watch_app(w), watch_build(w));
        apppoll_leave(w);
        watch_payload_free(w, WATCH_REQ_BUILD, &w->build);
        watch_payload_free(w, WATCH_REQ_LOG_INFO, &w->log_info);
        loop_timer_free(w->timer);
        watch_table_unlink(tbl, w);
        free(w);
        watch_line_admit(tbl);
}

/* Frees the watch when no job is left, else arms its timer for the next
 * step or the earliest deadline. */
void watch_settle(watch_t *w) {
        if (!w->subs) {
                watch_free(w);
                return;
        }
        int64_t at =
            w->in_flight || w->parked || w->waiting == WATCH_WAIT_QUEUED
                ? WATCH_NEVER
                : w->next_at;
        for (watch_sub_t *sub = w->subs; sub; sub = sub->next)
                if (sub->deadline_at < at)
                        at = sub->deadline_at;
        if (at == WATCH_NEVER)
                loop_timer_stop(w->timer);
        else
                loop_timer_start(w->timer, at - watch_now(w), watch_on_timer,
                                 w);
}

static void watch_on_timer(void *arg) {
        watch_t *w  = arg;
        int64_t now = watch_now(w);
        if (w->waiting == WATCH_WAIT_ADMITTED) {
                w->waiting = WATCH_WAIT_NONE;
                w->tbl->admitted--;
        }
        watch_expire(w, now);
        if (w->subs && !w->in_flight && w->waiting == WATCH_WAIT_NONE &&
            now >= w->next_at) {
                if (watch_slot_free(w->tbl))
                        watch_step(w);
                else
                        watch_line_push(w); /* admitted when a slot frees */
        }
        watch_settle(w);
}

void watch_look_now(watch_t *w) {
        if (w->stage != WATCH_STAGE_BUILD || w->in_flight || w->rate_wait ||
            w->waiting != WATCH_WAIT_NONE)
                return;
        w->attempts = 0;
        apppoll_unpark(w); /* its own GET, not the group's next call */
        w->solo  = 1;
        w->fresh = 1;
        watch_due_now(w);
}

int watch_stalled(const watch_t *w) {
        if (w->in_flight || w->waiting == WATCH_WAIT_QUEUED)
                return 0;
        if (w->parked)
                return !apppoll_will_call(w);
        return w->next_at == WATCH_NEVER || !loop_timer_armed(w->timer);
}

void watch_describe(const watch_t *w, char *buf, size_t size) {
        int64_t now = watch_now(w);
        snprintf(
            buf, size,
            "stage=%d state=%d known=%d in_flight=%d waiting=%d "
            "parked=%d solo=%d rate_wait=%d lease_held=%d attempts=%d "
            "next_in_ms=%lld timer=%d group=%d group_calls=%d jobs=%zu",
            (int)w->stage, (int)w->state, w->known, w->in_flight, w->waiting,
            w->parked, w->solo, w->rate_wait, w->lease_held, (int)w->attempts,
            w->next_at == WATCH_NEVER ? -1LL : (long long)(w->next_at - now),
            loop_timer_armed(w->timer), w->grp != NULL, apppoll_will_call(w),
            (size_t)w->nsubs);
}

void watch_restart(watch_t *w) {
        apppoll_unpark(w);
        w->solo      = 1;
        w->rate_wait = 0;
        watch_due_now(w);
}

void watch_due_now(watch_t *w) {
        watch_schedule(w, 0);
        watch_settle(w);
}

void watch_feed_build(watch_t *w, watch_answer_t *ans) {
        watch_serve_cached(w, ans, WATCH_VALIDITY_UNKNOWN);
        watch_settle(w);
}

/* What a job joining a watch that already knows its build gets at once. */
void watch_greet(watch_t *w, watch_sub_t *sub) {
        if (!w->known)
                return;
        if (w->state != WATCH_STATE_FINISHED) {
                watch_report_status(w, sub);
                return;
        }
        if (sub->log == WATCH_LOG_NONE)
                watch_finish(w, WATCH_SUBS_LOG_NONE, WATCH_EV_FINISHED, NULL,
                             NULL);
}
