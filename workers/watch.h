/* workers/watch.h — following one build: the watch state machine.
 *
 * A watch follows one build (workspace, app, build) on one worker loop; every
 * job for that build on this worker subscribes to it, so N jobs cost one poll.
 * Each subscribed job sees every event from the moment it joined and exactly
 * one terminal event (finished or error), or is dropped (revoke, shutdown)
 * or skipped (its done marker says it was already reported) without one.
 * The watch is driven only by its loop timer and by completions of the
 * requests it starts; nothing blocks except the short synchronous seam calls
 * (Redis round trips).
 *
 *   NEW/BUILD: token → validity → build cache (hit: use it; lease held by
 *              someone else: look again shortly) → budget (wait W ms) →
 *              GET build → status changed? publish `status`
 *              not finished → next poll (on-hold/running interval, jitter)
 *              finished → jobs with log=none get `finished`; others:
 *   LOG_INFO:  token → budget → GET /log → not archived: retry within the
 *              archive budget, then `finished` from the chunks
 *              (log_fallback) or `finished` with the log unavailable
 *              (not_archived); archived without a link: unavailable
 *              (deleted)
 *   RAW_LOG:   stream + parse the raw log (no token) → `finished`; past
 *              raw_log_retries: unavailable (download_failed)
 *   errors:    401 token_invalid, 403 insufficient_role, 404 not_found,
 *              transient: backoff with jitter (capped) up to a retry budget,
 *              then upstream_unavailable; 429: wait Retry-After (shared
 *              block), rate_limited when that passes the job's deadline;
 *              a job's deadline: deadline_exceeded (rate_limited when the
 *              watch was waiting for budget); once the build has finished,
 *              `finished` with the log unavailable (deadline).
 *   A finished build ends its jobs `finished` (DESIGN "Result") whatever
 *   became of its log; only the /log call's own failures (401, 403, 5xx
 *   past the retry budget) still end them in `error`.
 *
 * Everything outside — token store, Redis, the Bitrise client, the producer,
 * the consumer — is reached through watch_seams_t, so the machine is tested
 * with scripted fakes (tests/unit/test_workers_watch.c).
 *
 * Threads: a watch table belongs to one loop; every function here and every
 * seam call runs on that loop's thread. Seams must not call back into the
 * table (no watch_table_* from inside a seam).
 */
#ifndef BITMON_WORKERS_WATCH_H
#define BITMON_WORKERS_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "workers/loop.h"

typedef struct watch_table watch_table_t;

/* ---- what the seams exchange -------------------------------------------- */

typedef enum {
        WATCH_LOG_NONE = 0,
        WATCH_LOG_SUMMARY,
        WATCH_LOG_FULL,
} watch_log_t;

typedef enum {
        WATCH_EV_STATUS = 0, /* status changed while watching */
        WATCH_EV_FINISHED,   /* terminal: the build is done */
        WATCH_EV_ERROR,      /* terminal: the job could not finish */
} watch_event_t;

/* Terminal error codes, in the order and spelling of DESIGN "Result". */
typedef enum {
        WATCH_ERR_TOKEN_MISSING = 0,
        WATCH_ERR_TOKEN_INVALID,
        WATCH_ERR_INSUFFICIENT_ROLE,
        WATCH_ERR_NOT_FOUND,
        WATCH_ERR_UPSTREAM_UNAVAILABLE,
        WATCH_ERR_RATE_LIMITED,
        WATCH_ERR_DEADLINE_EXCEEDED,
        WATCH_ERR__COUNT,
} watch_errcode_t;

/* "token_missing", ... ; "unknown" out of range. Static. */
const char *watch_errcode_name(watch_errcode_t code);

/* Why a finished build's log could not be read (a `finished` event without
 * a log, see publish). */
typedef enum {
        WATCH_LOG_READ = 0,             /* not gone: read, or not asked for */
        WATCH_LOG_GONE_DELETED,         /* archived without a download link */
        WATCH_LOG_GONE_NOT_ARCHIVED,    /* not archived within
                                         * log_archive_ms, and no chunks */
        WATCH_LOG_GONE_DOWNLOAD_FAILED, /* archived, but the raw log failed
                                         * past raw_log_retries */
        WATCH_LOG_GONE_DEADLINE,        /* the job's deadline came first */
        WATCH_LOG_GONE__COUNT,
} watch_log_gone_t;

/* "deleted", "not_archived", "download_failed", "deadline"; NULL for
 * WATCH_LOG_READ or out of range. Static. */
const char *watch_log_gone_name(watch_log_gone_t why);

/* What went wrong: on WATCH_EV_ERROR the job's error (code); on
 * WATCH_EV_FINISHED, when not NULL, why the build's log is unavailable
 * (log_gone, log_archived; code unused). */
typedef struct watch_error {
        watch_errcode_t code;
        const char *message; /* what happened ("cannot get build 1a2b…: HTTP
                              * 503"); never a token or a URL */
        watch_log_gone_t log_gone;
        int log_archived; /* log_gone: Bitrise had archived the log */
} watch_error_t;

/* The requests a watch makes (through seams->request_start). */
typedef enum {
        WATCH_REQ_BUILD = 1,  /* GET /apps/{app}/builds/{build} */
        WATCH_REQ_LOG_INFO,   /* GET .../log */
        WATCH_REQ_RAW_LOG,    /* the archived raw log, streamed into a parser */
        WATCH_REQ_BUILD_LIST, /* GET /apps/{app}/builds: one page of full
                               * builds, for the app poller (apppoll.h) */
} watch_req_kind_t;

/* The payload of a BUILD_LIST answer (not opaque: the app poller reads
 * it). Freed with seams->payload_free(WATCH_REQ_BUILD_LIST), which frees
 * the item payloads still set. */
typedef struct watch_list_item {
        const char *build_slug; /* borrowed from payload */
        void *payload;          /* a BUILD payload: take it by setting NULL */
        int build_status;       /* as in watch_answer_t */
        int build_on_hold;
} watch_list_item_t;

typedef struct watch_list {
        watch_list_item_t *items;
        size_t n;
        char *next; /* paging.next (owned), NULL on the last page */
} watch_list_t;

/* What the schedule needs of a BUILD payload (seams->build_facts): epoch
 * ms on Bitrise's clock, 0 when unknown; workflow borrowed from the
 * payload, NULL when unknown. */
typedef struct watch_build_facts {
        int64_t triggered_ms, started_ms, finished_ms;
        const char *workflow;
} watch_build_facts_t;

/* How a request ended (bitrise_class_t plus CANCELLED). */
typedef enum {
        WATCH_ANS_OK = 0,
        WATCH_ANS_TOKEN_INVALID,     /* 401 */
        WATCH_ANS_INSUFFICIENT_ROLE, /* 403 (raw log: URL expired) */
        WATCH_ANS_NOT_FOUND,         /* 404 */
        WATCH_ANS_RATE_LIMITED,      /* 429 */
        WATCH_ANS_TRANSIENT,         /* 5xx, network: retry */
        WATCH_ANS_PERMANENT,         /* other 4xx, unparseable body */
        WATCH_ANS_CANCELLED,         /* the loop stopped; nothing to do */
} watch_ans_class_t;

/* A request's answer, handed to the watch's callback (borrowed for the call;
 * the watch takes `payload` by setting it to NULL). */
typedef struct watch_answer {
        watch_ans_class_t cls;
        long http_status;       /* 0 when no HTTP answer */
        int64_t retry_after_ms; /* Retry-After, relative; -1 absent */
        const char *message;    /* on failure: what failed and why */
        /* On OK, per kind (opaque to the watch, freed with
         * seams->payload_free):
         *   BUILD:    the build (e.g. bitrise_build_t *); build_status and
         *             build_on_hold describe it
         *   LOG_INFO: the log info (holds the raw log URL, a secret);
         *             log_archived / log_has_url describe it
         *   RAW_LOG:  the parsed log summary */
        void *payload;
        int build_status;  /* 0 = running/on-hold, != 0 finished */
        int build_on_hold; /* 1 while on hold */
        int log_archived;
        int log_has_url;
        /* X-RateLimit-* when the answer carried them (rl_present 1):
         * remaining (-1 absent) and reset as epoch ms (0 absent). */
        int rl_present;
        long rl_remaining;
        int64_t rl_reset_at_ms;
} watch_answer_t;

typedef void(watch_answer_cb_t)(void *arg, watch_answer_t *ans);

/* One request in flight, described to the seam. */
typedef struct watch_request {
        watch_req_kind_t kind;
        const char *token; /* BUILD, LOG_INFO; wiped right after start */
        const char *fp;    /* the token's fingerprint (token_get) */
        const char *app_slug, *build_slug;
        const void *log_info; /* RAW_LOG: the LOG_INFO payload */
        watch_log_t log;      /* RAW_LOG: summary or full */
        int64_t after_s;      /* BUILD_LIST: builds run after (Unix s), 0 */
        int running_first;    /* BUILD_LIST: sort_by=running_first */
        const char *next;     /* BUILD_LIST: the page, NULL = first */
        watch_answer_cb_t *cb;
        void *cb_arg;
        void *handle; /* set by request_start for request_cancel */
} watch_request_t;

typedef enum {
        WATCH_VALIDITY_UNKNOWN = 0,
        WATCH_VALIDITY_VALID,
        WATCH_VALIDITY_INVALID,
        WATCH_VALIDITY_INSUFFICIENT_ROLE,
} watch_validity_t;

#define WATCH_TOKEN_MAX 4096
#define WATCH_FP_MAX    17

/* How a job left its watch (seams->job_done). */
typedef enum {
        WATCH_JOB_PUBLISHED = 0,  /* its terminal event was handed over */
        WATCH_JOB_PUBLISH_FAILED, /* publishing the terminal event failed */
        WATCH_JOB_DROPPED,        /* revoked or shut down: no terminal */
        WATCH_JOB_SKIPPED,        /* done_check: its terminal result was
                                   * already published (a redelivery) */
} watch_job_end_t;

#define WATCH_PUBLISH_SKIPPED 1 /* seams.publish: already reported */

/* Every call runs on the loop thread with `ctx` = watch_seams_t.ctx. The
 * synchronous ones return quickly (a Redis round trip at most). */
typedef struct watch_seams {
        void *ctx;
        /* Token of the workspace into tok (NUL-terminated, the watch wipes
         * it after use) and its fingerprint into fp. 0; 1 = no token stored
         * (token_missing); < 0 transient (retry with backoff). */
        int (*token_get)(void *ctx, const char *workspace, char *tok,
                         size_t tok_size, char *fp, size_t fp_size,
                         char *errstr, size_t errstr_size);
        /* Cached verdict for (fp, app). May be NULL (always UNKNOWN). */
        watch_validity_t (*validity_get)(void *ctx, const char *fp,
                                         const char *app_slug);
        /* Records an authoritative answer (2xx, 401, 403) of a call made
         * with fp about app. May be NULL. */
        void (*validity_record)(void *ctx, const char *fp, const char *app_slug,
                                long http_status);
        /* One request from fp's budget: 0 = go now, > 0 = ask again after
         * that many ms. May be NULL (always go). */
        int64_t (*budget_take)(void *ctx, const char *fp,
                               const char *workspace);
        /* Optional one-round-trip form of validity_get + budget_take (NULL
         * = those two): the cached verdict for (fp, app) into *v and, unless
         * it refuses the call (INVALID, INSUFFICIENT_ROLE), one request
         * from the budget: returns as budget_take. */
        int64_t (*budget_take_checked)(void *ctx, const char *fp,
                                       const char *workspace,
                                       const char *app_slug,
                                       watch_validity_t *v);
        /* budget_take_checked for a background call (the app poller's
         * list calls): it leaves part of the budget (share 0..1 of the
         * reserve; less for a caller long overdue) to the calls that
         * finish builds, and waits longer. May be NULL (= the former). */
        int64_t (*budget_take_background)(void *ctx, const char *fp,
                                          const char *workspace,
                                          const char *app_slug, double share,
                                          watch_validity_t *v);
        /* A 429 for fp; returns the shared block in ms (>= retry_after_ms
         * when that is >= 0). May be NULL. */
        int64_t (*budget_on_429)(void *ctx, const char *fp,
                                 int64_t retry_after_ms);
        /* Shared build cache (may all be NULL = no cache). cache_get:
         * 1 hit (fills *ans like a BUILD answer: payload, build_status,
         * build_on_hold), 0 miss, < 0 error. cache_lease: 1 taken, 0 held
         * by another, < 0 error. cache_store: keep payload for ttl_ms. */
        int (*cache_get)(void *ctx, const char *app_slug,
                         const char *build_slug, watch_answer_t *ans);
        int (*cache_lease)(void *ctx, const char *app_slug,
                           const char *build_slug, int lease_ms);
        void (*cache_store)(void *ctx, const char *app_slug,
                            const char *build_slug, const void *payload,
                            int ttl_ms);
        void (*cache_release)(void *ctx, const char *app_slug,
                              const char *build_slug);
        /* Optional one-round-trip forms (NULL = the calls above).
         * cache_get_lease: cache_get, then on a miss cache_lease: returns
         * as cache_get; on a miss *lease is what cache_lease returns (1, 0
         * or < 0). cache_store_release: cache_store then cache_release, used
         * when both are due. */
        int (*cache_get_lease)(void *ctx, const char *app_slug,
                               const char *build_slug, int lease_ms,
                               watch_answer_t *ans, int *lease);
        void (*cache_store_release)(void *ctx, const char *app_slug,
                                    const char *build_slug, const void *payload,
                                    int ttl_ms);
        /* Optional one-round-trip form of the build step's lookups (NULL =
         * cache_get_lease, then validity_get on a hit or
         * budget_take_checked on a miss). Always sets *v, the cached
         * verdict. Returns 1 on a hit (*ans as cache_get_lease fills it).
         * On a miss returns 0 with: a refusing *v — neither lease nor
         * budget taken; else *lease = 0 when another holds the lease;
         * else *wait > 0 when the budget says wait (no lease kept); else
         * the call may go, with *lease = 1 when the lease is ours (store
         * with cache_store_release after the call) or < 0 when unknown. */
        int (*build_preflight)(void *ctx, const char *app_slug,
                               const char *build_slug, const char *fp,
                               const char *workspace, int lease_ms,
                               watch_answer_t *ans, int *lease,
                               watch_validity_t *v, int64_t *wait);
        /* Starts req on loop (e.g. a bitrise_req_t added with
         * loop_http_add). Later req->cb(req->cb_arg, &answer) runs exactly
         * once, on the loop thread, never from inside request_start — unless
         * request_cancel ran first; the callback frees req (and may free
         * the watch): do not touch req after calling it. Returns 0,
         * or < 0 with errstr (counted as a transient failure). */
        int (*request_start)(void *ctx, loop_t *loop, watch_request_t *req,
                             char *errstr, size_t errstr_size);
        void (*request_cancel)(void *ctx, watch_request_t *req);
        /* Frees an answer payload of the given kind. */
        void (*payload_free)(void *ctx, watch_req_kind_t kind, void *payload);
        /* Publishes one event for job. build: the latest BUILD payload or
         * NULL; log: the RAW_LOG payload (finished only) or NULL; err: on
         * WATCH_EV_ERROR, and on a WATCH_EV_FINISHED whose log is
         * unavailable (log NULL, err->log_gone says why). `last` is 1 when this
         * event ends the job (every terminal event, and the one `status` report
         * of a follow=0 job): acknowledge the job's offset when that one is
         * delivered. Returns 0, < 0 (not handed over), or, for a `last`
         * event, WATCH_PUBLISH_SKIPPED: not published because the job's
         * terminal result is known to be out already (the job then ends
         * SKIPPED). */
        int (*publish)(void *ctx, void *job, watch_event_t ev, int last,
                       const void *build, const void *log,
                       const watch_error_t *err);
        /* The job leaves its watch; called exactly once per added job. */
        void (*job_done)(void *ctx, void *job, watch_job_end_t how);
        /* The log is still not archived when the archive budget runs out:
         * make a RAW_LOG payload from the last LOG_INFO payload's chunks
         * (DESIGN: fall back to the chunks), or NULL: the log is then
         * unavailable (not_archived).
         * May be NULL. */
        void *(*log_fallback)(void *ctx, const void *log_info);
        /* 1 when the job's terminal result was already published (its
         * done marker exists): the job ends at once, SKIPPED, nothing
         * published. 0 or < 0 (unknown: Redis down) = watch it. May be
         * NULL. */
        int (*done_check)(void *ctx, void *job);
        /* The same for n jobs at once (one round trip): out[i] as
         * done_check's answer for jobs[i]. May be NULL (done_check is
         * asked per job). */
        void (*done_check_many)(void *ctx, void *const *jobs, size_t n,
                                int *out);
        /* A webhook hint for a build of (workspace, app) reached this table
         * (watch_table_hint); routed = 1 when a watch of the build is here.
         * May be NULL. */
        void (*hint_seen)(void *ctx, const char *workspace,
                          const char *app_slug, int routed);
        /* The table found a stalled watch (a defect; it was restarted).
         * May be NULL. */
        void (*stalled)(void *ctx);
        /* ---- the app poller and the schedule (apppoll.h, schedule.h) ---
         * All may be NULL. */
        /* Facts of a BUILD payload (times, workflow). */
        void (*build_facts)(void *ctx, const void *payload,
                            watch_build_facts_t *out);
        /* Cluster-wide sharing of one list call per app and interval:
         * another process listed the app within max_age_ms with an `after`
         * no later than *after_s: returns 1, sets *age_ms to that list's age
         * and fills answers[i] (BUILD answers, payload NULL where build i
         * was not in that list). Else returns 0
         * with *lease = 1 (ours: call, then list_store), 0 (another process
         * is calling: look again shortly) or -1 (unknown: call anyway), and
         * *after_s lowered to the oldest `after` another caller needed
         * within need_ttl_ms (call with it: the answer then serves them). */
        int (*list_preflight)(void *ctx, const char *app_slug, int64_t *after_s,
                              const char *const *builds, size_t n, int lease_ms,
                              int max_age_ms, int need_ttl_ms,
                              watch_answer_t *answers, int64_t *age_ms,
                              int *lease);
        /* After our own list call: shares the builds of page (may be NULL)
         * for ttl_ms; mark = 1 also marks the app listed with after_s for
         * ttl_ms (the round is complete); release = 1 releases our lease. */
        void (*list_store)(void *ctx, const char *app_slug, int64_t after_s,
                           const watch_list_t *page, int ttl_ms, int mark,
                           int release);
        /* Recent durations (ms, Bitrise's clock) of finished builds of
         * (app, workflow), newest first, into out (at most max); returns how
         * many (0 when none or unknown). */
        int (*history_get)(void *ctx, const char *app_slug,
                           const char *workflow, int64_t *out, int max);
        /* Records one finished build's running time. */
        void (*history_add)(void *ctx, const char *app_slug,
                            const char *workflow, const char *build_slug,
                            int64_t duration_ms);
        /* 1 when the app delivered a webhook within the trust window (its
         * builds are then only polled at the safety interval). */
        int (*app_webhooks)(void *ctx, const char *app_slug);
        /* Bitrise's clock as answers showed it (their Date header): now
         * into *now_ms (epoch ms; 0 = unknown, then the local wall clock is
         * used) and its rate against the local clock (0 while unknown). */
        double (*server_clock)(void *ctx, int64_t *now_ms);
} watch_seams_t;

/* Timings (from the poll.* configuration). */
typedef struct watch_opts {
        int on_hold_ms;      /* poll.on_hold_s */
        int running_ms;      /* poll.running_s */
        double jitter;       /* fraction, e.g. 0.1 = ±10 %; < 0 = none */
        int backoff_base_ms; /* poll.backoff_base_ms */
        int backoff_max_ms;  /* poll.backoff_max_s */
        int retry_max;       /* transient failures in a row before
                              * upstream_unavailable */
        int lease_ms;        /* build cache refresh lease */
        int lease_wait_ms;   /* look again when someone else refreshes */
        int log_archive_ms;  /* how long a finished build's log may stay
                              * unarchived */
        int log_retry_ms;    /* between /log calls while not archived */
        int raw_log_retries; /* raw log 403 (URL expired) or transient:
                              * ask /log again this many times */
        int batch;           /* 1: running builds of one app are refreshed
                              * together by one list call (apppoll.h) */
        int list_margin_s;   /* `after` = oldest watched trigger - this */
        int list_max_pages;  /* pages per list call while builds are missing */
        int list_running_first; /* sort_by=running_first, not created_at */
        int min_ms;             /* poll.min_s: floor between looks at an app */
        int max_ms;             /* poll.max_s: ceiling */
        int target_ms;          /* poll.target_detect_s: interval near the
                                 * expected end of a build */
        int adaptive;           /* 1: learn durations (schedule.h) */
        int safety_ms;          /* webhook.safety_poll_s */
        int max_in_flight;      /* requests in flight per table (loop); a
                                 * watch due beyond it waits in line for a
                                 * slot, so a burst of new watches never holds
                                 * thousands of transfers (and their buffers)
                                 * at once */
} watch_opts_t;

/* Defaults for everything 0 in opts: on-hold 30 s, running 15 s, jitter 0.1,
 * backoff 1 s..60 s, 8 retries, lease 5 s, lease wait 1 s, log archive
 * budget 300 s, log retry 10 s, 3 raw log retries, 512 requests in
 * flight; list margin 600 s, 4 pages, ceiling 120 s, target 10 s, safety
 * 300 s, no floor. batch and adaptive stay as given (0 = off). */
void watch_opts_defaults(watch_opts_t *opts);

/* The backoff before retry number `attempt` (1, 2, ...): base * 2^(attempt
 * - 1), capped at max, then jittered and capped again. */
int64_t watch_backoff_ms(const watch_opts_t *opts, int attempt);

/* A job, as the watch needs it. Strings are copied. */
typedef struct watch_job {
        void *job; /* the caller's handle, passed to publish/job_done */
        const char *workspace, *app_slug, *build_slug;
        int follow; /* 0: report once (see watch_table_add) */
        watch_log_t log;
        int64_t deadline_ms; /* from now; <= 0 = no deadline */
} watch_job_t;

/* A table of watches for one loop. opts/seams are copied. NULL on
 * allocation failure. */
watch_table_t *watch_table_new(loop_t *loop, const watch_opts_t *opts,
                               const watch_seams_t *seams);

/* Drops every job (job_done DROPPED, nothing published), cancels requests,
 * frees. NULL is a no-op. */
void watch_table_destroy(watch_table_t *tbl);

/* Subscribes a job to the watch of its build (creating it). A job joining a
 * watch that already knows the build's state gets a `status` event for it
 * right away. follow = 0: the job ends after its first report: `finished` or
 * `error` when the build is done or fails, else one `status` event and then
 * job_done(PUBLISHED) — its one report. Returns 0 (job_done will be called),
 * or < 0 on allocation failure (it will not; the job is still the caller's). */
int watch_table_add(watch_table_t *tbl, const watch_job_t *job);

/* watch_table_add for n jobs, their done markers asked at once
 * (seams->done_check_many); rcs[i] is watch_table_add's return for jobs[i]. */
void watch_table_add_many(watch_table_t *tbl, const watch_job_t *jobs, size_t n,
                          int *rcs);

/* Drops the jobs for which pred(job, arg) is true (revoked partitions):
 * job_done(DROPPED), nothing published. Returns how many. */
size_t watch_table_drop(watch_table_t *tbl, int (*pred)(void *job, void *arg),
                        void *arg);

/* A webhook hint for (workspace, app, build); finished = 1 for
 * build/finished. When a watch of that build is here, returns 1 and, for a
 * finished hint, makes its next look at the build happen now (one GET),
 * unless it is past that stage, has a request in flight or waits for its
 * token's budget. Returns 0 when no watch of the build is here (the hint is
 * dropped). Calls seams->hint_seen. */
int watch_table_hint(watch_table_t *tbl, const char *workspace,
                     const char *app_slug, const char *build_slug,
                     int finished);

/* Keeps *counter (shared, atomic) up to date with the jobs in this table:
 * +1 per added job, -1 per job_done, so other threads can read the total
 * (back-pressure) without touching the table. NULL stops counting. */
void watch_table_count_into(watch_table_t *tbl, _Atomic long *counter);

/* Jobs and watches in the table. */
size_t watch_table_jobs(const watch_table_t *tbl);
size_t watch_table_watches(const watch_table_t *tbl);

#endif
