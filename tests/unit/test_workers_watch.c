/* Unit tests for workers/watch: the state machine driven by scripted fake
 * seams on a real loop (tiny intervals). Each scenario is a table row: what
 * the token store, validity cache, budget and build cache say, the answers
 * the fake Bitrise gives in order, and the events each job must see. */
#include <curl/curl.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tests/assert.h"
#include "workers/loop.h"
#include "workers/watch.h"

static int scale = 1;

/* ---- the fake world ------------------------------------------------------ */

typedef struct step { /* one scripted answer */
        watch_req_kind_t kind;
        watch_ans_class_t cls;
        long http;
        int status, on_hold, archived, has_url;
        int64_t retry_after;
} step_t;

#define B_HOLD                                                                 \
        { WATCH_REQ_BUILD, WATCH_ANS_OK, 200, 0, 1, 0, 0, -1 }
#define B_RUN                                                                  \
        { WATCH_REQ_BUILD, WATCH_ANS_OK, 200, 0, 0, 0, 0, -1 }
#define B_DONE                                                                 \
        { WATCH_REQ_BUILD, WATCH_ANS_OK, 200, 2, 0, 0, 0, -1 }
#define B_ERR(c, h)                                                            \
        { WATCH_REQ_BUILD, (c), (h), 0, 0, 0, 0, -1 }
#define B_429(ra)                                                              \
        { WATCH_REQ_BUILD, WATCH_ANS_RATE_LIMITED, 429, 0, 0, 0, 0, ra }
#define L_WAIT                                                                 \
        { WATCH_REQ_LOG_INFO, WATCH_ANS_OK, 200, 0, 0, 0, 0, -1 }
#define L_GONE                                                                 \
        { WATCH_REQ_LOG_INFO, WATCH_ANS_OK, 200, 0, 0, 1, 0, -1 }
#define L_READY                                                                \
        { WATCH_REQ_LOG_INFO, WATCH_ANS_OK, 200, 0, 0, 1, 1, -1 }
#define L_404                                                                  \
        { WATCH_REQ_LOG_INFO, WATCH_ANS_NOT_FOUND, 404, 0, 0, 0, 0, -1 }
#define RAW_OK                                                                 \
        { WATCH_REQ_RAW_LOG, WATCH_ANS_OK, 200, 0, 0, 0, 0, -1 }
#define RAW_403                                                                \
        { WATCH_REQ_RAW_LOG, WATCH_ANS_INSUFFICIENT_ROLE, 403, 0, 0, 0, 0, -1 }
#define T_503 B_ERR(WATCH_ANS_TRANSIENT, 503)

typedef struct jobspec {
        const char *id;
        int follow;
        watch_log_t log;
        int64_t deadline_ms;
        const char *want; /* events, space-separated */
} jobspec_t;

enum { CACHE_NONE = 0, CACHE_HIT_DONE, CACHE_BUSY_THEN_HIT, CACHE_MISS };

typedef struct scenario {
        const char *name;
        int token_rc; /* token_get: 0, 1 missing, -1 transient */
        watch_validity_t validity;
        int64_t budget[4]; /* successive budget_take answers, then 0 */
        int cache;
        int cache_combined; /* the one-round-trip cache seams only */
        int checked;        /* budget_take_checked instead of budget_take */
        int preflight;      /* build_preflight (with the combined seams) */
        int already_done;   /* done_check answers 1 */
        int many; /* jobs join with watch_table_add_many, done_check_many */
        int reported_meanwhile; /* publish refuses the last event: skipped */
        int fallback;           /* log_fallback makes a log from the chunks */
        step_t steps[12];
        jobspec_t jobs[3];
        int want_requests;
        const char *want_calls; /* extra seam calls, in order */
} scenario_t;

typedef struct fake_job {
        const char *id;
        char log[160];
        int done; /* job_done calls */
} fake_job_t;

typedef struct fake {
        const scenario_t *sc;
        loop_t *loop;
        watch_table_t *tbl;
        watch_opts_t opts;
        fake_job_t jobs_small[4];
        fake_job_t *jobs; /* jobs_small unless a test gives more */
        int njobs;
        int latency_ms;   /* answers arrive after this; 0 = 1 */
        int *auto_builds; /* when set: per build, RUN then DONE */
        _Atomic long events;
        int pos; /* next step */
        int nreq;
        int inflight, peak; /* requests started and not answered */
        int budget_pos;
        int cache_calls;
        int payloads; /* live payloads */
        char calls[200];
        char errors[200];
        _Atomic long done;
        _Atomic long torn_down;
        _Atomic long ready; /* f_setup ran */
} fake_t;

typedef struct payload {
        watch_req_kind_t kind;
        int status, on_hold;
} payload_t;

typedef struct pending { /* an answer on its way */
        fake_t *f;
        watch_request_t *req;
        step_t step;
        loop_timer_t *timer;
} pending_t;

static void cat(char *dst, size_t size, const char *s) {
        size_t n = strlen(dst);
        snprintf(dst + n, size - n, "%s%s", n ? " " : "", s);
}

static payload_t *payload_new(fake_t *f, watch_req_kind_t kind, int status,
                              int on_hold) {
        payload_t *p = malloc(sizeof(*p));
        *p           = (payload_t){kind, status, on_hold};
        f->payloads++;
        return p;
}

static int f_token_get(void *ctx, const char *ws, char *tok, size_t tok_size,
                       char *fp, size_t fp_size, char *err, size_t err_size) {
        fake_t *f = ctx;
        (void)ws;
        if (f->sc->token_rc < 0)
                snprintf(err, err_size, "cannot read token: redis down");
        if (f->sc->token_rc != 0)
                return f->sc->token_rc;
        snprintf(tok, tok_size, "bitwat_secret");
        snprintf(fp, fp_size, "fp01");
        return 0;
}

static watch_validity_t f_validity_get(void *ctx, const char *fp,
                                       const char *app) {
        fake_t *f = ctx;
        (void)fp, (void)app;
        return f->sc->validity;
}

static void f_validity_record(void *ctx, const char *fp, const char *app,
                              long http) {
        fake_t *f = ctx;
        char s[64];
        (void)app;
        if (strcmp(fp, "fp01") != 0)
                cat(f->errors, sizeof(f->errors), "validity-fp");
        /* a 2xx when the cache already said valid writes nothing new */
        if (http == 200 && f->sc->validity == WATCH_VALIDITY_VALID)
                cat(f->errors, sizeof(f->errors), "needless-valid-record");
        if (http != 200) { /* 2xx noted only as a count to keep it short */
                snprintf(s, sizeof(s), "valid:%ld", http);
                cat(f->calls, sizeof(f->calls), s);
        }
}

static int64_t f_budget_take(void *ctx, const char *fp, const char *ws) {
        fake_t *f = ctx;
        (void)fp, (void)ws;
        return f->budget_pos < 4 ? f->sc->budget[f->budget_pos++] : 0;
}

/* As Redis does it: a refusing verdict takes nothing from the budget. */
static int64_t f_budget_take_checked(void *ctx, const char *fp, const char *ws,
                                     const char *app, watch_validity_t *v) {
        *v = f_validity_get(ctx, fp, app);
        if (*v == WATCH_VALIDITY_INVALID ||
            *v == WATCH_VALIDITY_INSUFFICIENT_ROLE)
                return 0;
        return f_budget_take(ctx, fp, ws);
}

static int f_cache_get(void *ctx, const char *app, const char *build,
                       watch_answer_t *ans);

/* As cache/preflight does it, from the scenario's cache, validity and
 * budget. */
static int f_build_preflight(void *ctx, const char *app, const char *build,
                             const char *fp, const char *ws, int lease_ms,
                             watch_answer_t *ans, int *lease,
                             watch_validity_t *v, int64_t *wait) {
        fake_t *f = ctx;
        (void)lease_ms;
        *v     = f->sc->validity;
        *lease = -1;
        *wait  = 0;
        if (f_cache_get(ctx, app, build, ans) == 1) {
                cat(f->calls, sizeof(f->calls), "pf:hit");
                return 1;
        }
        if (*v == WATCH_VALIDITY_INVALID ||
            *v == WATCH_VALIDITY_INSUFFICIENT_ROLE) {
                cat(f->calls, sizeof(f->calls), "pf:refused");
                return 0;
        }
        if (f->sc->cache == CACHE_BUSY_THEN_HIT) {
                *lease = 0;
                cat(f->calls, sizeof(f->calls), "pf:busy");
                return 0;
        }
        if ((*wait = f_budget_take(ctx, fp, ws)) > 0) {
                cat(f->calls, sizeof(f->calls), "pf:wait");
                return 0;
        }
        *lease = 1;
        cat(f->calls, sizeof(f->calls), "pf:go");
        return 0;
}

static int64_t f_budget_on_429(void *ctx, const char *fp, int64_t ra) {
        fake_t *f = ctx;
        (void)fp;
        cat(f->calls, sizeof(f->calls), "on429");
        return ra;
}

static int f_cache_get(void *ctx, const char *app, const char *build,
                       watch_answer_t *ans) {
        fake_t *f = ctx;
        (void)app, (void)build;
        f->cache_calls++;
        if (f->sc->cache == CACHE_HIT_DONE ||
            (f->sc->cache == CACHE_BUSY_THEN_HIT && f->cache_calls > 1)) {
                ans->payload      = payload_new(f, WATCH_REQ_BUILD, 1, 0);
                ans->build_status = 1;
                return 1;
        }
        return 0;
}

static int f_cache_lease(void *ctx, const char *app, const char *build,
                         int ms) {
        fake_t *f = ctx;
        (void)app, (void)build, (void)ms;
        cat(f->calls, sizeof(f->calls), "lease");
        return f->sc->cache == CACHE_BUSY_THEN_HIT ? 0 : 1;
}

static void f_cache_store(void *ctx, const char *app, const char *build,
                          const void *payload, int ttl) {
        fake_t *f = ctx;
        (void)app, (void)build;
        cat(f->calls, sizeof(f->calls), payload && ttl > 0 ? "store" : "bad");
}

static void f_cache_release(void *ctx, const char *app, const char *build) {
        fake_t *f = ctx;
        (void)app, (void)build;
        cat(f->calls, sizeof(f->calls), "release");
}

static int f_cache_get_lease(void *ctx, const char *app, const char *build,
                             int ms, watch_answer_t *ans, int *lease) {
        fake_t *f = ctx;
        int hit   = f_cache_get(ctx, app, build, ans);
        if (hit == 1) {
                cat(f->calls, sizeof(f->calls), "gethit");
                return 1;
        }
        *lease = ms > 0 && f->sc->cache != CACHE_BUSY_THEN_HIT;
        cat(f->calls, sizeof(f->calls), *lease ? "getlease=1" : "getlease=0");
        return 0;
}

static void f_cache_store_release(void *ctx, const char *app, const char *build,
                                  const void *payload, int ttl) {
        fake_t *f = ctx;
        (void)app, (void)build;
        cat(f->calls, sizeof(f->calls),
            payload && ttl > 0 ? "storerelease" : "bad");
}

static void f_deliver(void *arg) {
        pending_t *p         = arg;
        fake_t *f            = p->f;
        watch_request_t *req = p->req;
        const step_t *st     = &p->step;
        watch_answer_t ans   = {.cls            = st->cls,
                                .http_status    = st->http,
                                .retry_after_ms = st->retry_after,
                                .message        = "scripted failure",
                                .build_status   = st->status,
                                .build_on_hold  = st->on_hold,
                                .log_archived   = st->archived,
                                .log_has_url    = st->has_url};
        if (st->cls == WATCH_ANS_OK)
                ans.payload = payload_new(f, st->kind, st->status, st->on_hold);
        loop_timer_free(p->timer);
        free(p);
        f->inflight--;
        req->cb(req->cb_arg, &ans);
        if (ans.payload) { /* not taken: ours to free */
                free(ans.payload);
                f->payloads--;
        }
}

static int f_answer_later(fake_t *f, loop_t *loop, watch_request_t *req,
                          const step_t *st) {
        pending_t *p = calloc(1, sizeof(*p));
        if (++f->inflight > f->peak)
                f->peak = f->inflight;
        p->f        = f;
        p->req      = req;
        p->step     = *st;
        p->timer    = loop_timer_new(loop);
        req->handle = p;
        loop_timer_start(p->timer, f->latency_ms > 0 ? f->latency_ms : 1,
                         f_deliver, p);
        return 0;
}

static int f_request_start(void *ctx, loop_t *loop, watch_request_t *req,
                           char *err, size_t err_size) {
        fake_t *f = ctx;
        f->nreq++;
        if (f->auto_builds) {
                static const step_t run = B_RUN, fin = B_DONE;
                int i = (int)strtol(req->build_slug, NULL, 16);
                return f_answer_later(f, loop, req,
                                      f->auto_builds[i]++ ? &fin : &run);
        }
        if (f->pos >= 12 || f->sc->steps[f->pos].kind == 0) {
                cat(f->errors, sizeof(f->errors), "unscripted-request");
                snprintf(err, err_size, "no more answers");
                return -1;
        }
        const step_t *st = &f->sc->steps[f->pos++];
        if (st->kind != req->kind)
                cat(f->errors, sizeof(f->errors), "wrong-kind");
        int want_tok = req->kind != WATCH_REQ_RAW_LOG;
        if (want_tok != (req->token && !strcmp(req->token, "bitwat_secret")))
                cat(f->errors, sizeof(f->errors), "token");
        if (req->kind == WATCH_REQ_RAW_LOG &&
            (!req->log_info ||
             ((const payload_t *)req->log_info)->kind != WATCH_REQ_LOG_INFO))
                cat(f->errors, sizeof(f->errors), "raw-without-log-info");
        return f_answer_later(f, loop, req, st);
}

static void f_request_cancel(void *ctx, watch_request_t *req) {
        fake_t *f    = ctx;
        pending_t *p = req->handle;
        cat(f->calls, sizeof(f->calls), "cancel");
        f->inflight--;
        loop_timer_free(p->timer);
        free(p);
}

static void f_payload_free(void *ctx, watch_req_kind_t kind, void *payload) {
        fake_t *f    = ctx;
        payload_t *p = payload;
        if (p->kind != kind)
                cat(f->errors, sizeof(f->errors), "payload-kind");
        free(p);
        f->payloads--;
}

static const char *f_state(const void *build) {
        const payload_t *b = build;
        if (!b)
                return "none";
        return b->status ? "done" : b->on_hold ? "hold" : "run";
}

static int f_publish(void *ctx, void *job, watch_event_t ev, int last,
                     const void *build, const void *log,
                     const watch_error_t *err) {
        fake_t *f     = ctx;
        fake_job_t *j = job;
        char s[96];
        if (last && f->sc->reported_meanwhile) {
                cat(j->log, sizeof(j->log), "not-published");
                return WATCH_PUBLISH_SKIPPED;
        }
        if (ev == WATCH_EV_STATUS)
                snprintf(s, sizeof(s), "status:%s", f_state(build));
        else if (ev == WATCH_EV_FINISHED && !log && err)
                snprintf(s, sizeof(s), "finished:%s-log:%s%s", f_state(build),
                         watch_log_gone_name(err->log_gone),
                         err->log_archived ? "(archived)" : "");
        else if (ev == WATCH_EV_FINISHED)
                snprintf(s, sizeof(s), "finished:%s%s", f_state(build),
                         log ? "+log" : "");
        else
                snprintf(s, sizeof(s), "error:%s",
                         err ? watch_errcode_name(err->code) : "?");
        if (last) {
                size_t n = strlen(s);
                snprintf(s + n, sizeof(s) - n, "!");
        }
        if (err && (!err->message || strstr(err->message, "bitwat_")))
                cat(f->errors, sizeof(f->errors), "bad-message");
        cat(j->log, sizeof(j->log), s);
        atomic_fetch_add(&f->events, 1);
        return 0;
}

static void f_job_done(void *ctx, void *job, watch_job_end_t how) {
        fake_t *f     = ctx;
        fake_job_t *j = job;
        j->done++;
        cat(j->log, sizeof(j->log),
            how == WATCH_JOB_PUBLISHED ? "done"
            : how == WATCH_JOB_DROPPED ? "dropped"
            : how == WATCH_JOB_SKIPPED ? "skipped"
                                       : "publish-failed");
        atomic_fetch_add(&f->done, 1);
}

static int f_done_check(void *ctx, void *job) {
        fake_t *f = ctx;
        (void)job;
        return f->sc->already_done;
}

static void f_done_check_many(void *ctx, void *const *jobs, size_t n,
                              int *out) {
        fake_t *f = ctx;
        (void)jobs;
        for (size_t i = 0; i < n; i++)
                out[i] = f->sc->already_done;
        cat(f->calls, sizeof(f->calls), "done-many");
}

static void *f_log_fallback(void *ctx, const void *log_info) {
        fake_t *f           = ctx;
        const payload_t *li = log_info;
        if (li->kind != WATCH_REQ_LOG_INFO)
                cat(f->errors, sizeof(f->errors), "fallback-kind");
        return f->sc->fallback ? payload_new(f, WATCH_REQ_RAW_LOG, 0, 0) : NULL;
}

static watch_seams_t fake_seams(fake_t *f) {
        watch_seams_t s = {
            .ctx             = f,
            .token_get       = f_token_get,
            .validity_get    = f_validity_get,
            .validity_record = f_validity_record,
            .budget_take     = f_budget_take,
            .budget_on_429   = f_budget_on_429,
            .request_start   = f_request_start,
            .request_cancel  = f_request_cancel,
            .payload_free    = f_payload_free,
            .publish         = f_publish,
            .job_done        = f_job_done,
            .done_check      = f_done_check,
            .log_fallback    = f_log_fallback,
        };
        if (f->sc->preflight)
                s.build_preflight = f_build_preflight;
        if (f->sc->many)
                s.done_check_many = f_done_check_many;
        if (f->sc->checked) { /* validity_get stays for cache hits */
                s.budget_take         = NULL;
                s.budget_take_checked = f_budget_take_checked;
        }
        if (f->sc->cache != CACHE_NONE && f->sc->cache_combined) {
                s.cache_get_lease     = f_cache_get_lease;
                s.cache_store_release = f_cache_store_release;
                s.cache_release       = f_cache_release; /* as monitor.c */
        } else if (f->sc->cache != CACHE_NONE) {
                s.cache_get     = f_cache_get;
                s.cache_lease   = f_cache_lease;
                s.cache_store   = f_cache_store;
                s.cache_release = f_cache_release;
        }
        return s;
}

static watch_opts_t fast_opts(void) {
        return (watch_opts_t){.on_hold_ms      = 3,
                              .running_ms      = 2,
                              .jitter          = -1,
                              .backoff_base_ms = 1,
                              .backoff_max_ms  = 4,
                              .retry_max       = 3,
                              .lease_ms        = 100,
                              .lease_wait_ms   = 2,
                              .log_archive_ms  = 40,
                              .log_retry_ms    = 5,
                              .raw_log_retries = 2};
}

/* ---- running a scenario ---------------------------------------------- */

static void f_add_job_for(fake_t *f, const jobspec_t *js, const char *build) {
        fake_job_t *j  = &f->jobs[f->njobs++];
        j->id          = js->id;
        watch_job_t wj = {.job         = j,
                          .workspace   = "ws-1",
                          .app_slug    = "669403bffbe35909",
                          .build_slug  = build,
                          .follow      = js->follow,
                          .log         = js->log,
                          .deadline_ms = js->deadline_ms};
        if (watch_table_add(f->tbl, &wj) != 0)
                cat(f->errors, sizeof(f->errors), "add-failed");
}

static void f_add_job(fake_t *f, const jobspec_t *js) {
        f_add_job_for(f, js, "1a2b3c4d5e6f7a8b");
}

static void f_setup(void *arg) {
        fake_t *f       = arg;
        watch_seams_t s = fake_seams(f);
        f->tbl          = watch_table_new(f->loop, &f->opts, &s);
        watch_job_t wj[3];
        int n = 0, rcs[3];
        for (; n < 3 && f->sc->jobs[n].id && !f->sc->many; n++)
                f_add_job(f, &f->sc->jobs[n]);
        for (; n < 3 && f->sc->jobs[n].id; n++) { /* many: all at once */
                const jobspec_t *js = &f->sc->jobs[n];
                fake_job_t *j       = &f->jobs[f->njobs++];
                j->id               = js->id;
                wj[n]               = (watch_job_t){.job         = j,
                                                    .workspace   = "ws-1",
                                                    .app_slug    = "669403bffbe35909",
                                                    .build_slug  = "1a2b3c4d5e6f7a8b",
                                                    .follow      = js->follow,
                                                    .log         = js->log,
                                                    .deadline_ms = js->deadline_ms};
        }
        if (f->sc->many) {
                watch_table_add_many(f->tbl, wj, (size_t)n, rcs);
                for (int i = 0; i < n; i++)
                        if (rcs[i] != 0)
                                cat(f->errors, sizeof(f->errors), "add-failed");
        }
        atomic_store(&f->ready, 1);
}

static void f_teardown(void *arg) {
        fake_t *f = arg;
        watch_table_destroy(f->tbl);
        f->tbl = NULL;
        atomic_store(&f->torn_down, 1);
}

static int f_njobs(const scenario_t *sc) {
        int n = 0;
        while (n < 3 && sc->jobs[n].id)
                n++;
        return n;
}

static void wait_atomic(_Atomic long *v, long want, int ms) {
        int64_t until = time_mono_ms() + (int64_t)ms * scale;
        while (atomic_load(v) < want && time_mono_ms() < until)
                usleep(500);
}

static loop_t *start_loop(void) {
        char err[256];
        loop_t *loop = loop_new(NULL, err, sizeof(err));
        T_ASSERTF(loop && loop_start(loop, err, sizeof(err)) == 0, "%s", err);
        return loop;
}

#define CHECK(cond, ...)                                                       \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "  scenario \"%s\": ", sc->name);      \
                        fprintf(stderr, __VA_ARGS__);                          \
                        fputc('\n', stderr);                                   \
                        fails++;                                               \
                }                                                              \
        } while (0)

/* Runs one row; prints each mismatch and returns how many there were. */
static int run_scenario(const scenario_t *sc) {
        static fake_t f;
        int fails = 0;
        memset(&f, 0, sizeof(f));
        f.jobs = f.jobs_small;
        f.sc   = sc;
        f.opts = fast_opts();
        f.loop = start_loop();
        loop_post(f.loop, f_setup, &f);
        wait_atomic(&f.done, f_njobs(sc), 3000);
        loop_post(f.loop, f_teardown, &f);
        wait_atomic(&f.torn_down, 1, 3000);
        loop_destroy(f.loop);
        for (int i = 0; i < f.njobs; i++) {
                CHECK(strcmp(f.jobs[i].log, sc->jobs[i].want) == 0,
                      "job %s saw \"%s\", want \"%s\"", f.jobs[i].id,
                      f.jobs[i].log, sc->jobs[i].want);
                CHECK(f.jobs[i].done == 1, "job %s ended %d times",
                      f.jobs[i].id, f.jobs[i].done);
        }
        CHECK(f.errors[0] == 0, "fake saw: %s", f.errors);
        CHECK(sc->want_requests < 0 || f.nreq == sc->want_requests,
              "%d requests, want %d", f.nreq, sc->want_requests);
        CHECK(sc->want_requests >= 0 || f.nreq >= 2, "only %d requests",
              f.nreq);
        const char *wc = sc->want_calls ? sc->want_calls : "";
        CHECK(strcmp(f.calls, wc) == 0, "calls \"%s\", want \"%s\"", f.calls,
              wc);
        CHECK(f.payloads == 0, "%d payloads not freed", f.payloads);
        return fails;
}

#define FOLLOW(id, log, want)                                                  \
        { id, 1, log, 0, want }
#define ONCE(id, log, want)                                                    \
        { id, 0, log, 0, want }
#define DEADLINE(id, log, ms, want)                                            \
        { id, 1, log, ms, want }

static const scenario_t scenarios[] = {
    {.name  = "on-hold, running, finished, log after one wait",
     .steps = {B_HOLD, B_HOLD, B_RUN, B_RUN, B_DONE, L_WAIT, L_READY, RAW_OK},
     .jobs  = {FOLLOW("a", WATCH_LOG_SUMMARY,
                      "status:hold status:run finished:done+log! "
                       "done")},
     .want_requests = 8},
    {.name  = "log=none ends at the finish, no log calls",
     .steps = {B_RUN, B_DONE},
     .jobs  = {FOLLOW("a", WATCH_LOG_NONE, "status:run finished:done! done")},
     .want_requests = 2},
    {.name = "terminal result found reported meanwhile: skipped, not published",
     .reported_meanwhile = 1,
     .steps              = {B_RUN, B_DONE},
     .jobs = {FOLLOW("a", WATCH_LOG_NONE, "status:run not-published skipped")},
     .want_requests = 2},
    {.name          = "follow=false on a running build: one status report",
     .steps         = {B_RUN},
     .jobs          = {ONCE("a", WATCH_LOG_SUMMARY, "status:run! done")},
     .want_requests = 1},
    {.name          = "follow=false on a finished build: finished",
     .steps         = {B_DONE},
     .jobs          = {ONCE("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests = 1},
    {.name          = "cached valid: 2xx answers are not written back",
     .validity      = WATCH_VALIDITY_VALID,
     .steps         = {B_RUN, B_DONE, L_READY, RAW_OK},
     .jobs          = {FOLLOW("a", WATCH_LOG_SUMMARY,
                              "status:run finished:done+log! done")},
     .want_requests = 4},
    {.name          = "401 -> token_invalid, recorded",
     .steps         = {B_ERR(WATCH_ANS_TOKEN_INVALID, 401)},
     .jobs          = {FOLLOW("a", 1, "error:token_invalid! done")},
     .want_requests = 1,
     .want_calls    = "valid:401"},
    {.name          = "403 -> insufficient_role, recorded",
     .steps         = {B_ERR(WATCH_ANS_INSUFFICIENT_ROLE, 403)},
     .jobs          = {FOLLOW("a", 1, "error:insufficient_role! done")},
     .want_requests = 1,
     .want_calls    = "valid:403"},
    {.name          = "404 -> not_found",
     .steps         = {B_ERR(WATCH_ANS_NOT_FOUND, 404)},
     .jobs          = {FOLLOW("a", 1, "error:not_found! done")},
     .want_requests = 1},
    {.name          = "transient failures within the budget are retried",
     .steps         = {T_503, T_503, T_503, B_DONE},
     .jobs          = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests = 4},
    {.name          = "transient failures past the budget",
     .steps         = {B_RUN, T_503, T_503, T_503, T_503},
     .jobs          = {FOLLOW("a", 1,
                              "status:run error:upstream_unavailable! "
                                       "done")},
     .want_requests = 5},
    {.name          = "permanent failure is not retried",
     .steps         = {B_ERR(WATCH_ANS_PERMANENT, 400)},
     .jobs          = {FOLLOW("a", 1, "error:upstream_unavailable! done")},
     .want_requests = 1},
    {.name          = "429 waits Retry-After, then goes on",
     .steps         = {B_429(5), B_DONE},
     .jobs          = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests = 2,
     .want_calls    = "on429"},
    {.name          = "429 past the deadline -> rate_limited",
     .steps         = {B_429(60000)},
     .jobs          = {DEADLINE("a", 1, 30, "error:rate_limited! done")},
     .want_requests = 1,
     .want_calls    = "on429"},
    {.name          = "budget wait, then the call",
     .budget        = {5, 3},
     .steps         = {B_DONE},
     .jobs          = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests = 1},
    {.name          = "budget exhausted past the deadline -> rate_limited",
     .budget        = {60000},
     .jobs          = {DEADLINE("a", 1, 30, "error:rate_limited! done")},
     .want_requests = 0},
    {.name  = "still running at the deadline -> deadline_exceeded",
     .steps = {B_RUN, B_RUN, B_RUN, B_RUN, B_RUN, B_RUN, B_RUN, B_RUN, B_RUN,
               B_RUN, B_RUN, B_RUN},
     .jobs = {DEADLINE("a", 1, 15, "status:run error:deadline_exceeded! done")},
     .want_requests = -1 /* depends on timing; not checked */},
    {.name          = "no token stored -> token_missing, no calls",
     .token_rc      = 1,
     .jobs          = {FOLLOW("a", 1, "error:token_missing! done")},
     .want_requests = 0},
    {.name          = "token store down past the budget",
     .token_rc      = -1,
     .jobs          = {FOLLOW("a", 1, "error:upstream_unavailable! done")},
     .want_requests = 0},
    {.name          = "cached invalid token -> token_invalid, no calls",
     .validity      = WATCH_VALIDITY_INVALID,
     .jobs          = {FOLLOW("a", 1, "error:token_invalid! done")},
     .want_requests = 0},
    {.name          = "cached role below Developer, no calls",
     .validity      = WATCH_VALIDITY_INSUFFICIENT_ROLE,
     .jobs          = {FOLLOW("a", 1, "error:insufficient_role! done")},
     .want_requests = 0},
    {.name  = "log never archived, no chunks -> finished, not_archived",
     .steps = {B_DONE, L_WAIT, L_WAIT, L_WAIT, L_WAIT, L_WAIT, L_WAIT, L_WAIT,
               L_WAIT, L_WAIT, L_WAIT, L_WAIT},
     .jobs  = {FOLLOW("a", 1, "finished:done-log:not_archived! done")},
     .want_requests = -1},
    {.name     = "log never archived, reported from its chunks",
     .fallback = 1,
     .steps = {B_DONE, L_WAIT, L_WAIT, L_WAIT, L_WAIT, L_WAIT, L_WAIT, L_WAIT,
               L_WAIT, L_WAIT, L_WAIT, L_WAIT},
     .jobs  = {FOLLOW("a", 1, "finished:done+log! done")},
     .want_requests = -1},
    {.name  = "log archived without a link -> finished, deleted",
     .steps = {B_DONE, L_GONE},
     .jobs  = {FOLLOW("a", 1, "finished:done-log:deleted(archived)! done"),
               FOLLOW("b", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests = 2},
    {.name  = "deadline after the finish, log unread -> finished, deadline",
     .steps = {B_DONE, L_WAIT, L_WAIT, L_WAIT, L_WAIT, L_WAIT, L_WAIT, L_WAIT,
               L_WAIT, L_WAIT, L_WAIT, L_WAIT},
     .jobs  = {DEADLINE("a", 1, 15, "finished:done-log:deadline! done")},
     .want_requests = -1},
    {.name   = "deadline while waiting for budget after the finish",
     .budget = {0, 60000},
     .steps  = {B_DONE},
     .jobs   = {DEADLINE("a", 1, 30, "finished:done-log:deadline! done")},
     .want_requests = 1},
    {.name          = "early /log 404 is waited out",
     .steps         = {B_DONE, L_404, L_READY, RAW_OK},
     .jobs          = {FOLLOW("a", 1, "finished:done+log! done")},
     .want_requests = 4},
    {.name          = "raw log link expired: ask /log again",
     .steps         = {B_DONE, L_READY, RAW_403, L_READY, RAW_OK},
     .jobs          = {FOLLOW("a", 1, "finished:done+log! done")},
     .want_requests = 5},
    {.name  = "raw log keeps failing -> finished, download_failed",
     .steps = {B_DONE, L_READY, RAW_403, L_READY, RAW_403, L_READY, RAW_403},
     .jobs  = {FOLLOW("a", 1,
                      "finished:done-log:download_failed(archived)! done")},
     .want_requests = 7},
    {.name          = "three jobs share one watch and one poll",
     .steps         = {B_RUN, B_RUN, B_DONE, L_READY, RAW_OK},
     .jobs          = {FOLLOW("a", WATCH_LOG_SUMMARY,
                              "status:run finished:done+log! done"),
                       FOLLOW("b", WATCH_LOG_NONE, "status:run finished:done! done"),
                       ONCE("c", WATCH_LOG_FULL, "status:run! done")},
     .want_requests = 5},
    {.name          = "redelivered job already done: skipped, nothing sent",
     .already_done  = 1,
     .jobs          = {FOLLOW("a", 1, "skipped")},
     .want_requests = 0},
    {.name          = "jobs joining together ask their done markers at once",
     .many          = 1,
     .steps         = {B_RUN, B_DONE, L_READY, RAW_OK},
     .jobs          = {FOLLOW("a", WATCH_LOG_SUMMARY,
                              "status:run finished:done+log! done"),
                       ONCE("c", WATCH_LOG_NONE, "status:run! done")},
     .want_requests = 4,
     .want_calls    = "done-many"},
    {.name          = "redelivered jobs already done, asked together: skipped",
     .already_done  = 1,
     .many          = 1,
     .jobs          = {FOLLOW("a", 1, "skipped"), ONCE("b", 1, "skipped")},
     .want_requests = 0,
     .want_calls    = "done-many"},
    {.name          = "build cache hit: no Bitrise call",
     .cache         = CACHE_HIT_DONE,
     .jobs          = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests = 0},
    {.name          = "cache lease held elsewhere: read the cache again",
     .cache         = CACHE_BUSY_THEN_HIT,
     .jobs          = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests = 0,
     .want_calls    = "lease"},
    {.name          = "cache miss: lease, call, store, release",
     .cache         = CACHE_MISS,
     .steps         = {B_DONE},
     .jobs          = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests = 1,
     .want_calls    = "lease store release"},
    {.name           = "combined cache seams: hit, no Bitrise call",
     .cache          = CACHE_HIT_DONE,
     .cache_combined = 1,
     .jobs           = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests  = 0,
     .want_calls     = "gethit"},
    {.name           = "combined cache seams: lease held elsewhere, read again",
     .cache          = CACHE_BUSY_THEN_HIT,
     .cache_combined = 1,
     .jobs           = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests  = 0,
     .want_calls     = "getlease=0 gethit"},
    {.name           = "combined cache seams: miss, call, store+release once",
     .cache          = CACHE_MISS,
     .cache_combined = 1,
     .steps          = {B_DONE},
     .jobs           = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests  = 1,
     .want_calls     = "getlease=1 storerelease"},
    {.name          = "checked budget: cached valid, 2xx not written back",
     .checked       = 1,
     .validity      = WATCH_VALIDITY_VALID,
     .steps         = {B_RUN, B_DONE, L_READY, RAW_OK},
     .jobs          = {FOLLOW("a", WATCH_LOG_SUMMARY,
                              "status:run finished:done+log! done")},
     .want_requests = 4},
    {.name          = "checked budget: wait, then the call",
     .checked       = 1,
     .budget        = {5, 3},
     .steps         = {B_DONE},
     .jobs          = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests = 1},
    {.name          = "checked budget: cached role below Developer, no calls",
     .checked       = 1,
     .validity      = WATCH_VALIDITY_INSUFFICIENT_ROLE,
     .jobs          = {FOLLOW("a", 1, "error:insufficient_role! done")},
     .want_requests = 0},
    {.name           = "checked budget: invalid token gives the lease back",
     .checked        = 1,
     .validity       = WATCH_VALIDITY_INVALID,
     .cache          = CACHE_MISS,
     .cache_combined = 1,
     .jobs           = {FOLLOW("a", 1, "error:token_invalid! done")},
     .want_requests  = 0,
     .want_calls     = "getlease=1 release"},
    {.name           = "cached build is not served to an invalid token",
     .checked        = 1,
     .validity       = WATCH_VALIDITY_INVALID,
     .cache          = CACHE_HIT_DONE,
     .cache_combined = 1,
     .jobs = {FOLLOW("a", WATCH_LOG_NONE, "error:token_invalid! done")},
     .want_requests = 0,
     .want_calls    = "gethit"},
    {.name           = "preflight: hit, no Bitrise call",
     .preflight      = 1,
     .checked        = 1,
     .cache          = CACHE_HIT_DONE,
     .cache_combined = 1,
     .jobs           = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests  = 0,
     .want_calls     = "pf:hit"},
    {.name           = "preflight: a cached build is not served to an invalid "
                       "token",
     .preflight      = 1,
     .checked        = 1,
     .validity       = WATCH_VALIDITY_INVALID,
     .cache          = CACHE_HIT_DONE,
     .cache_combined = 1,
     .jobs = {FOLLOW("a", WATCH_LOG_NONE, "error:token_invalid! done")},
     .want_requests = 0,
     .want_calls    = "pf:hit"},
    {.name           = "preflight: lease held elsewhere, read again",
     .preflight      = 1,
     .checked        = 1,
     .cache          = CACHE_BUSY_THEN_HIT,
     .cache_combined = 1,
     .jobs           = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests  = 0,
     .want_calls     = "pf:busy pf:hit"},
    {.name           = "preflight: budget wait, then the call, stored once",
     .preflight      = 1,
     .checked        = 1,
     .budget         = {5},
     .cache          = CACHE_MISS,
     .cache_combined = 1,
     .steps          = {B_DONE},
     .jobs           = {FOLLOW("a", WATCH_LOG_NONE, "finished:done! done")},
     .want_requests  = 1,
     .want_calls     = "pf:wait pf:go storerelease"},
    {.name           = "preflight: refused, nothing taken",
     .preflight      = 1,
     .checked        = 1,
     .validity       = WATCH_VALIDITY_INSUFFICIENT_ROLE,
     .cache          = CACHE_MISS,
     .cache_combined = 1,
     .jobs           = {FOLLOW("a", 1, "error:insufficient_role! done")},
     .want_requests  = 0,
     .want_calls     = "pf:refused"},
};

static void test_watch_scenarios(void) {
        size_t n  = sizeof(scenarios) / sizeof(scenarios[0]);
        int fails = 0;
        for (size_t i = 0; i < n; i++)
                fails += run_scenario(&scenarios[i]);
        T_EQ_INT(fails, 0);
}

static void test_watch_backoff_and_names(void) {
        watch_opts_t o = {
            .backoff_base_ms = 100, .backoff_max_ms = 1000, .jitter = -1};
        watch_opts_defaults(&o);
        static const int64_t want[] = {100, 200, 400, 800, 1000, 1000};
        for (int i = 0; i < 6; i++)
                T_EQ_INT(watch_backoff_ms(&o, i + 1), want[i]);
        T_EQ_INT(watch_backoff_ms(&o, 1000), 1000); /* no overflow */
        o.jitter = 0.5;
        for (int i = 0; i < 200; i++) {
                int64_t d1 = watch_backoff_ms(&o, 1);
                int64_t d9 = watch_backoff_ms(&o, 9);
                T_ASSERTF(d1 >= 50 && d1 <= 150, "attempt 1: %lld",
                          (long long)d1);
                T_ASSERTF(d9 >= 500 && d9 <= 1000, "attempt 9: %lld",
                          (long long)d9);
        }
        watch_opts_t d = {0};
        watch_opts_defaults(&d);
        T_EQ_INT(d.running_ms, 15000);
        T_EQ_INT(d.on_hold_ms, 30000);
        T_EQ_INT(d.retry_max, 8);
        T_ASSERT(d.jitter > 0.09 && d.jitter < 0.11);
        static const char *names[] = {"token_missing",        "token_invalid",
                                      "insufficient_role",    "not_found",
                                      "upstream_unavailable", "rate_limited",
                                      "deadline_exceeded"};
        T_EQ_INT(WATCH_ERR__COUNT, 7);
        for (int i = 0; i < 7; i++)
                T_EQ_STR(watch_errcode_name((watch_errcode_t)i), names[i]);
        T_EQ_STR(watch_errcode_name((watch_errcode_t)99), "unknown");
        T_EQ_STR(watch_errcode_name(WATCH_ERR__COUNT), "unknown");
        T_EQ_STR(watch_log_gone_name(WATCH_LOG_GONE_DELETED), "deleted");
        T_EQ_STR(watch_log_gone_name(WATCH_LOG_GONE_DOWNLOAD_FAILED),
                 "download_failed");
}

/* Jobs joining a watch that knows its build, then revoke and shutdown. */
static const scenario_t join_sc    = {.name = "late joiners", .steps = {B_RUN}};
static const jobspec_t join_jobs[] = {FOLLOW("a", 1, ""), ONCE("c", 1, ""),
                                      FOLLOW("d", 1, "")};

static void join_add_a(void *arg) {
        fake_t *f       = arg;
        watch_seams_t s = fake_seams(f);
        f->tbl          = watch_table_new(f->loop, &f->opts, &s);
        f_add_job(f, &join_jobs[0]);
}

static void join_add_cd(void *arg) {
        fake_t *f = arg;
        f_add_job(f, &join_jobs[1]);
        f_add_job(f, &join_jobs[2]);
}

static int is_job_a(void *job, void *arg) {
        (void)arg;
        return strcmp(((fake_job_t *)job)->id, "a") == 0;
}

static size_t join_dropped, join_watches_after_drop, join_jobs_after_drop;

static void join_drop_a(void *arg) {
        fake_t *f               = arg;
        join_dropped            = watch_table_drop(f->tbl, is_job_a, NULL);
        join_watches_after_drop = watch_table_watches(f->tbl);
        join_jobs_after_drop    = watch_table_jobs(f->tbl);
        atomic_fetch_add(&f->events, 100);
}

static void test_watch_late_joiners_revoke_and_shutdown(void) {
        static fake_t f;
        memset(&f, 0, sizeof(f));
        f.jobs            = f.jobs_small;
        f.sc              = &join_sc;
        f.opts            = fast_opts();
        f.opts.running_ms = 60000; /* the watch idles after its poll */
        f.loop            = start_loop();
        loop_post(f.loop, join_add_a, &f);
        wait_atomic(&f.events, 1, 3000); /* a: status:run */
        loop_post(f.loop, join_add_cd, &f);
        wait_atomic(&f.done, 1, 3000); /* c: its one report */
        loop_post(f.loop, join_drop_a, &f);
        wait_atomic(&f.events, 103, 3000);
        loop_post(f.loop, f_teardown, &f);
        wait_atomic(&f.torn_down, 1, 3000);
        loop_destroy(f.loop);
        T_EQ_STR(f.jobs[0].log, "status:run dropped");
        T_EQ_STR(f.jobs[1].log, "status:run! done");
        T_EQ_STR(f.jobs[2].log, "status:run dropped");
        for (int i = 0; i < 3; i++)
                T_EQ_INT(f.jobs[i].done, 1);
        T_EQ_INT(f.nreq, 1); /* joiners cost no call */
        T_EQ_INT(join_dropped, 1);
        T_EQ_INT(join_watches_after_drop, 1);
        T_EQ_INT(join_jobs_after_drop, 1);
        T_EQ_INT(f.payloads, 0);
        T_EQ_STR(f.errors, "");
}

/* Loop shutdown with a request in flight: the owner drops its table in
 * on_thread_stop; the request is cancelled, the job handed back. */
static void stop_hook(loop_t *loop, void *ud) {
        (void)loop;
        f_teardown(ud);
}

static void test_watch_dropped_on_loop_stop(void) {
        static fake_t f;
        static const scenario_t sc = {
            .name = "stop", .steps = {B_RUN}, .jobs = {FOLLOW("a", 1, "")}};
        memset(&f, 0, sizeof(f));
        f.jobs         = f.jobs_small;
        f.sc           = &sc;
        f.opts         = fast_opts();
        f.latency_ms   = 60000;
        char err[256]  = "";
        loop_opts_t lo = {.on_thread_stop = stop_hook, .ud = &f};
        f.loop         = loop_new(&lo, err, sizeof(err));
        T_ASSERT(f.loop && loop_start(f.loop, err, sizeof(err)) == 0);
        loop_post(f.loop, f_setup, &f);
        wait_atomic(&f.ready, 1, 3000);
        usleep(20 * 1000); /* the first step runs on the next turn */
        int64_t t0 = time_mono_ms();
        loop_destroy(f.loop);
        T_ASSERT(time_mono_ms() - t0 < 1000 * scale);
        T_EQ_STR(f.jobs[0].log, "dropped");
        T_EQ_INT(f.nreq, 1);
        T_EQ_STR(f.calls, "cancel");
        T_EQ_INT(f.payloads, 0);
}

/* Many builds on one loop, two jobs each: one poll sequence per build. */
enum { MANY = 2000 };
static const scenario_t many_sc = {.name = "many"};

static void many_setup(void *arg) {
        fake_t *f                 = arg;
        watch_seams_t s           = fake_seams(f);
        f->tbl                    = watch_table_new(f->loop, &f->opts, &s);
        static const jobspec_t js = FOLLOW("m", WATCH_LOG_NONE, "");
        for (int i = 0; i < MANY; i++) {
                char slug[17];
                snprintf(slug, sizeof(slug), "%016x", i);
                f_add_job_for(f, &js, slug);
                f_add_job_for(f, &js, slug);
        }
        atomic_store(&f->torn_down, (long)watch_table_watches(f->tbl));
}

static void test_watch_many_builds_share_polls(void) {
        static fake_t f;
        static fake_job_t jobs[2 * MANY];
        static int per_build[MANY];
        memset(&f, 0, sizeof(f));
        memset(jobs, 0, sizeof(jobs));
        memset(per_build, 0, sizeof(per_build));
        f.jobs        = jobs;
        f.sc          = &many_sc;
        f.opts        = fast_opts();
        f.opts.jitter = 0.5;
        f.auto_builds = per_build;
        f.loop        = start_loop();
        loop_post(f.loop, many_setup, &f);
        wait_atomic(&f.done, 2 * MANY, 10000);
        long watches = atomic_load(&f.torn_down);
        atomic_store(&f.torn_down, 0);
        loop_post(f.loop, f_teardown, &f);
        wait_atomic(&f.torn_down, 1, 3000);
        loop_destroy(f.loop);
        T_EQ_INT(watches, MANY);
        T_EQ_INT(f.nreq, 2 * MANY);
        for (int i = 0; i < MANY; i++)
                T_EQ_INT(per_build[i], 2);
        for (int i = 0; i < 2 * MANY; i++) {
                T_EQ_STR(jobs[i].log, "status:run finished:done! done");
                T_EQ_INT(jobs[i].done, 1);
        }
        T_EQ_INT(f.payloads, 0);
        T_EQ_STR(f.errors, "");
}

/* opts.max_in_flight: a burst of new watches never has more requests in
 * flight than the limit; every job still gets its events, in order; a
 * table torn down while watches wait in line drops each job once. */
static void test_watch_in_flight_limit(void) {
        static fake_t f;
        static fake_job_t jobs[2 * MANY];
        static int per_build[MANY];
        for (int round = 0; round < 2; round++) {
                memset(&f, 0, sizeof(f));
                memset(jobs, 0, sizeof(jobs));
                memset(per_build, 0, sizeof(per_build));
                f.jobs               = jobs;
                f.sc                 = &many_sc;
                f.opts               = fast_opts();
                f.opts.max_in_flight = 16;
                f.auto_builds        = per_build;
                f.latency_ms         = round == 0 ? 1 : 5000;
                f.loop               = start_loop();
                loop_post(f.loop, many_setup, &f);
                if (round == 0)
                        wait_atomic(&f.done, 2 * MANY, 20000);
                else /* 16 in flight (answers in 5 s), the rest in line */
                        usleep(100 * 1000 * (useconds_t)scale);
                atomic_store(&f.torn_down, 0);
                loop_post(f.loop, f_teardown, &f);
                wait_atomic(&f.torn_down, 1, 3000);
                loop_destroy(f.loop);
                T_ASSERTF(f.peak <= 16, "peak %d requests in flight", f.peak);
                T_EQ_INT(f.inflight, 0);
                for (int i = 0; i < 2 * MANY; i++) {
                        if (round == 0)
                                T_EQ_STR(jobs[i].log,
                                         "status:run finished:done! done");
                        else /* torn down before any answer */
                                T_EQ_STR(jobs[i].log, "dropped");
                        T_EQ_INT(jobs[i].done, 1);
                }
                if (round == 0)
                        T_EQ_INT(f.nreq, 2 * MANY);
                else
                        T_EQ_INT(f.nreq, 16);
                T_EQ_INT(f.payloads, 0);
                T_EQ_STR(f.errors, "");
        }
}

int main(void) {
        const char *s = getenv("BITMON_TEST_TIMEOUT_SCALE");
        if (s && *s >= '1' && *s <= '9')
                scale = *s - '0';
        T_RUN(test_watch_backoff_and_names);
        T_RUN(test_watch_scenarios);
        T_RUN(test_watch_late_joiners_revoke_and_shutdown);
        T_RUN(test_watch_dropped_on_loop_stop);
        T_RUN(test_watch_many_builds_share_polls);
        T_RUN(test_watch_in_flight_limit);
        return t_done();
}
