/* tests/sim/sim.h — internal types of the Bitrise simulator
 * (build/bitrise-sim).
 *
 * The scenario (scenario.c) is read once at start and is immutable except for
 * the parts the admin API changes (tokens, faults, build overrides), which
 * live behind sim_t.lock. Builds of a `generate` block are never stored: they
 * are derived from (seed, app index, build index) whenever a request needs
 * one (model.c). Logs are a pure function of the build and a byte offset
 * (simlog.c). The workload's builds (workload.c) are made as simulated time
 * passes and reached through sim_t.extra; outgoing webhooks (webhooks.c,
 * hookq.c) have a lock and a delivery thread of their own. Not part of
 * bitmon; never linked into it.
 */
#ifndef BITMON_TESTS_SIM_SIM_H
#define BITMON_TESTS_SIM_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define SIM_SLUG_MAX  40
#define SIM_STR_MAX   128
#define SIM_MAX_STEPS 64

typedef struct sim_logcache sim_logcache_t;

/* Request kinds, also the names of the per-endpoint counters. */
typedef enum {
        SIM_EP_APPS_LIST = 0,
        SIM_EP_APP_GET,
        SIM_EP_BUILDS_LIST,
        SIM_EP_BUILD_GET,
        SIM_EP_BUILD_LOG,
        SIM_EP_RAW_LOG,
        SIM_EP_WEBHOOKS_LIST,   /* GET .../outgoing-webhooks */
        SIM_EP_WEBHOOKS_CREATE, /* POST .../outgoing-webhooks */
        SIM_EP_WEBHOOK_UPDATE,  /* PUT .../outgoing-webhooks/{slug} */
        SIM_EP_WEBHOOK_DELETE,  /* DELETE .../outgoing-webhooks/{slug} */
        SIM_EP_DELIVERY_ITEMS,  /* GET .../{slug}/delivery-items */
        SIM_EP_DELIVERY_ITEM,   /* GET .../delivery-items/{item} */
        SIM_EP_REDELIVER,       /* POST .../delivery-items/{item}/redeliver */
        SIM_EP_OTHER,
        SIM_EP_COUNT
} sim_ep_t;

extern const char *const sim_ep_names[SIM_EP_COUNT];

typedef enum {
        SIM_ROLE_NONE = 0,
        SIM_ROLE_TESTER,
        SIM_ROLE_DEVELOPER,
        SIM_ROLE_ADMIN
} sim_role_t;

/* Faults applied to a request before (or instead of) its normal answer. */
typedef struct sim_faults {
        bool set;           /* false: this scope has no faults */
        int latency_min_ms; /* uniform in [min, max]; fixed when equal */
        int latency_max_ms;
        double share_5xx;   /* probability of each fault, checked in order */
        int status_5xx;     /* 500, 502, 503 ... (default 503) */
        double share_reset; /* connection reset, no answer */
        double share_html;  /* 502 with an HTML gateway page */
        double share_invalid_json;
        double share_truncate; /* body cut in half, connection closed */
        double share_slow;     /* body sent slowly */
        int slow_bytes_per_s;
        int64_t remaining; /* faults still to inject; -1 = unlimited */
} sim_faults_t;

typedef struct sim_quota {
        int limit; /* requests per window; 0 = no quota */
        int window_s;
        bool retry_after; /* send Retry-After on 429 */
        bool headers;     /* send X-RateLimit-Limit/Remaining/Reset */
        bool reset_epoch; /* X-RateLimit-Reset as epoch seconds (else delta) */
} sim_quota_t;

typedef struct sim_app_role {
        char app[SIM_SLUG_MAX];
        sim_role_t role;
} sim_app_role_t;

/* Sliding-window bookkeeping for one token (stats.c). */
typedef struct sim_window {
        int64_t *ts; /* ring of request times (ms) inside the window */
        size_t cap, head, len;
} sim_window_t;

/* Budget adherence of one token (POST /_sim/budget): requests per fixed
 * window against burst + rate x window, and the most in any sliding window. */
#define SIM_BUDGET_OVER_KEPT 16
typedef struct sim_tokbudget {
        int64_t index; /* current fixed window; -1 = none yet */
        uint64_t count, requests, windows, over, max_count;
        sim_window_t slide;
        uint64_t max_slide;
        struct {
                int64_t index;
                uint64_t count;
        } over_kept[SIM_BUDGET_OVER_KEPT]; /* the first windows over budget */
} sim_tokbudget_t;

typedef struct sim_budget {
        bool on;
        double rate, burst, slack_s;
        int64_t window_ms, start_ms; /* wall ms */
} sim_budget_t;

typedef struct sim_token {
        char *value;
        char fingerprint[17];
        char kind[16]; /* "workspace", "personal", "personal_legacy" */
        char workspace[SIM_STR_MAX];
        int64_t expires_ms; /* wall ms; 0 = never */
        bool revoked;
        bool all_apps;
        sim_role_t role; /* for all_apps */
        sim_app_role_t *app_roles;
        size_t n_app_roles;
        sim_quota_t quota;
        /* counters */
        uint64_t requests, throttled;
        uint64_t by_ep[SIM_EP_COUNT];
        uint64_t by_status[6]; /* 1xx..5xx by first digit; [0] = no answer */
        uint64_t max_window_count;
        sim_window_t seen;      /* every request, for max_window_count */
        sim_window_t quota_win; /* accepted requests, for the quota */
        sim_tokbudget_t bud;    /* budget adherence (stats.c) */
} sim_token_t;

/* Everything the log generator needs about one build. */
typedef struct sim_logspec {
        int64_t target_bytes; /* approximate size; 0 = use target_lines */
        int64_t target_lines;
        int steps;
        int failing_step; /* index of the failed step, -1 = none */
        int exit_code;
        char failing_title[SIM_STR_MAX];
        uint64_t seed;
        int abort_cut; /* aborted builds: 1 = log ends mid-step */
        /* "file": the raw log is that file's bytes, as they are (a real
         * captured log); owned by the scenario's explicit build, NULL =
         * generated */
        const char *file_data;
        int64_t file_len;
} sim_logspec_t;

typedef struct sim_build {
        char slug[SIM_SLUG_MAX];
        char app[SIM_SLUG_MAX];
        int64_t build_number;
        int64_t triggered_ms; /* simulated wall time */
        int64_t on_hold_ms;
        int64_t running_ms;
        int final_status; /* 1..4 */
        char abort_reason[SIM_STR_MAX];
        char branch[SIM_STR_MAX];
        char workflow[SIM_STR_MAX];
        char commit_hash[48];
        char commit_message[SIM_STR_MAX];
        char triggered_by[SIM_STR_MAX];
        char machine_type[64];
        char stack[64];
        char tag[64];
        int64_t pull_request_id;
        char pr_target[SIM_STR_MAX];
        int64_t archive_lag_ms;
        int64_t url_valid_ms;
        int64_t log_404_ms;
        bool log_deleted;
        sim_logspec_t log;
} sim_build_t;

typedef struct sim_app {
        char slug[SIM_SLUG_MAX];
        char title[SIM_STR_MAX];
        char workspace[SIM_STR_MAX];
        char project_type[32];
        char repo_owner[64];
        char repo_slug[64];
        sim_build_t *builds; /* explicit builds, newest last */
        size_t n_builds;
        sim_faults_t faults;
} sim_app_t;

typedef struct sim_generate {
        bool on;
        uint64_t seed;
        int64_t apps;
        int64_t builds_per_app;
        char workspace[SIM_STR_MAX];
        double mix[5];        /* shares of status 1..4 at index 1..4 */
        int64_t running_last; /* newest N builds of an app start at sim start */
        int64_t interval_ms;  /* between older builds */
        int64_t on_hold_ms;
        int64_t running_min_ms, running_max_ms;
        int64_t log_min_bytes, log_max_bytes;
        int steps_min, steps_max;
} sim_generate_t;

/* Chunk delivery for running builds (see README "log"). */
typedef struct sim_chunking {
        int chunk_bytes;
        int max_chunks;
        int first_position;
        int order; /* 0 asc, 1 desc, 2 shuffled */
        double repeat_share;
        double gap_share;
} sim_chunking_t;

/* A source of apps and builds after the scenario's and the generated ones
 * (the workload, workload.c), reached through model.c. Every function is
 * thread-safe; app indices are the source's own (0..n_apps-1). */
typedef struct sim_source {
        void *ctx;
        size_t n_apps;
        void (*app_at)(void *ctx, size_t i, sim_app_t *out);
        int (*app_find)(void *ctx, const char *slug, size_t *i);
        int64_t (*build_count)(void *ctx, size_t app);
        /* i = 0 is the newest build */
        int (*build_at)(void *ctx, size_t app, int64_t i, sim_build_t *out);
        int (*build_find)(void *ctx, size_t app, const char *slug,
                          sim_build_t *out);
} sim_source_t;

/* Which build time `after` / `before` of the build list compare. */
typedef enum {
        SIM_AFTER_TRIGGERED = 0,
        SIM_AFTER_STARTED,
        SIM_AFTER_FINISHED
} sim_after_field_t;

typedef struct sim_listcfg {
        sim_after_field_t after_field;
        double omit_share; /* share of matching builds left out of an answer */
} sim_listcfg_t;

typedef struct sim_workload sim_workload_t;
typedef struct sim_hooks sim_hooks_t;

typedef struct sim_override {
        char build[SIM_SLUG_MAX];
        int status;
        int64_t finished_ms;
        struct sim_override *next;
} sim_override_t;

typedef struct sim {
        pthread_mutex_t lock; /* tokens, counters, faults, overrides */
        int64_t start_ms;     /* wall ms at start */
        double speed;
        sim_app_t *apps;
        size_t n_apps;
        sim_generate_t gen;
        sim_token_t **tokens;
        size_t n_tokens;
        sim_faults_t faults_global;
        sim_faults_t faults_ep[SIM_EP_COUNT];
        sim_chunking_t chunking;
        int64_t
            stats_window_ms; /* max-window length for tokens without quota */
        sim_override_t *overrides;
        uint64_t ep_requests[SIM_EP_COUNT];
        uint64_t invalid_token_requests, revoked_token_requests,
            expired_token_requests, missing_token_requests;
        /* API requests received and not yet answered (latency included),
         * and the most at once since the last stats reset. */
        uint64_t api_in_flight, api_in_flight_max;
        unsigned char raw_key[32]; /* signs raw log URLs */
        /* EVP_MAC_CTX: HMAC-SHA256 keyed with raw_key, never used itself:
         * each signature works on a copy (cheaper than HMAC()'s fetches) */
        struct evp_mac_ctx_st *raw_mac;
        char base_url[96];        /* http://127.0.0.1:PORT; under lock */
        sim_logcache_t *logcache; /* NULL = lay out every time */
        sim_listcfg_t listcfg;
        sim_source_t extra;  /* n_apps 0 = none */
        sim_workload_t *wl;  /* NULL = no workload block */
        sim_hooks_t *hooks;  /* outgoing webhooks; NULL before start */
        sim_budget_t budget; /* adherence check; off until POST /_sim/budget */
} sim_t;

/* scenario.c */
int sim_scenario_load(sim_t *sim, const char *json, char *errstr,
                      size_t errstr_size);
void sim_release(sim_t *sim);
int sim_token_from_json(const cJSON *j, int64_t now_ms, sim_token_t **out,
                        char *errstr, size_t errstr_size);
void sim_token_destroy(sim_token_t *t);
int sim_faults_from_json(const cJSON *j, sim_faults_t *f, char *errstr,
                         size_t errstr_size);
sim_role_t sim_role_parse(const char *s, bool *ok);

/* model.c */
int64_t sim_now_ms(const sim_t *sim); /* simulated wall time */
/* The keyed 4-round Feistel permutation slugs are made of (inverse: 1). */
uint64_t sim_feistel(uint64_t key, uint64_t v, int inverse);
/* 16 lower-case hex digits -> value; -1 when s is not that. */
int sim_hex16_parse(const char *s, uint64_t *out);
/* Writes v as `digits` hex digits and a NUL at p; returns p + digits. */
char *sim_put_hex(char *p, uint64_t v, int digits);
/* The first workload app's index, after the explicit and generated ones. */
size_t sim_extra_first(const sim_t *sim);
size_t sim_app_count(const sim_t *sim);
int sim_app_at(const sim_t *sim, size_t i,
               sim_app_t *out); /* borrowed fields copied */
int sim_app_find(const sim_t *sim, const char *slug, sim_app_t *out,
                 size_t *index);
int64_t sim_build_count(const sim_t *sim, const sim_app_t *app,
                        size_t app_index);
/* i = 0 is the newest build. */
int sim_build_at(const sim_t *sim, const sim_app_t *app, size_t app_index,
                 int64_t i, sim_build_t *out);
int sim_build_find(const sim_t *sim, const sim_app_t *app, size_t app_index,
                   const char *slug, sim_build_t *out);
/* The build's state now: status 0..4, times (0 = null). Applies overrides. */
typedef struct sim_state {
        int status;
        bool on_hold;
        int64_t started_ms, finished_ms;
} sim_state_t;
void sim_build_state(sim_t *sim, const sim_build_t *b, int64_t now,
                     sim_state_t *st);
/* Adjusts b's log to a status forced by the admin API (finish now). */
void sim_build_effective(sim_build_t *b, const sim_state_t *st);
cJSON *sim_app_json(const sim_app_t *app);
/* The Build object; sim_build_json gives it as a raw cJSON item. */
cJSON *sim_build_json(const sim_build_t *b, const sim_state_t *st);
struct buf;
void sim_build_json_write(struct buf *out, const sim_build_t *b,
                          const sim_state_t *st);
const char *sim_status_text(int status, bool on_hold);
/* The hash every generated value is drawn from (splitmix64 finaliser).
 * Inline, so tests and benchmarks that compile simlog.c alone get it. */
static inline uint64_t sim_hash(uint64_t a, uint64_t b) {
        uint64_t x = a * 0x9e3779b97f4a7c15ULL ^
                     (b + 0x632be59bd9b4e019ULL + (a << 6) + (a >> 2));
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return x;
}

/* Step ids the log generator draws from (simlog.c). */
extern const char *const sim_step_names[];
extern const size_t sim_step_names_len;

/* simlog.c */
typedef struct sim_loglayout sim_loglayout_t;
/* A cache of the last laid-out logs, direct-mapped over n_slots (a layout of
 * 8-12 steps takes about 20 KB); NULL when n_slots is 0 or memory is short.
 * Thread-safe.
 * destroy(NULL) is a no-op; layouts still referenced outlive it. */
sim_logcache_t *sim_logcache_new(size_t n_slots);
void sim_logcache_destroy(sim_logcache_t *c);
/* The layout of the full log of build b in state st (small, immutable,
 * shareable between threads): from cache c when it holds an equal one (c may
 * be NULL), else laid out now. NULL when out of memory. The caller owns one
 * reference: give it back with sim_loglayout_release (NULL is a no-op). */
sim_loglayout_t *sim_loglayout_get(sim_logcache_t *c, const sim_build_t *b,
                                   const sim_state_t *st);
/* Always lays out a new one (one reference). */
sim_loglayout_t *sim_loglayout_new(const sim_build_t *b, const sim_state_t *st);
void sim_loglayout_release(sim_loglayout_t *l);
int64_t sim_loglayout_size(const sim_loglayout_t *l);
int64_t sim_loglayout_lines(const sim_loglayout_t *l);
/* Copies bytes [off, off+n) of the log into dst; returns the count. */
size_t sim_loglayout_read(const sim_loglayout_t *l, int64_t off, char *dst,
                          size_t n);
/* The exact results a log parser should find (admin /_sim/expected). */
cJSON *sim_loglayout_expected(const sim_loglayout_t *l);

/* stats.c */
void sim_window_release(sim_window_t *w);
/* Adds a request at `now`, drops those older than window; returns the count. */
size_t sim_window_push(sim_window_t *w, int64_t now, int64_t window_ms);
size_t sim_window_count(sim_window_t *w, int64_t now, int64_t window_ms);
int64_t sim_window_oldest(const sim_window_t *w);
void sim_stats_reset(sim_t *sim);
cJSON *sim_stats_json(sim_t *sim);
/* Budget adherence: counts one request of t at `now` (under lock). */
void sim_budget_account(sim_t *sim, sim_token_t *t, int64_t now);
/* POST /_sim/budget body; restarts the count for every token. */
int sim_budget_set(sim_t *sim, const cJSON *j, int64_t now, char *errstr,
                   size_t errstr_size);
cJSON *sim_budget_json(sim_t *sim, int64_t now);
sim_token_t *sim_token_find(sim_t *sim, const char *value);
void sim_token_fingerprint(const char *value, char out[17]);

/* http.c */
typedef struct sim_server sim_server_t;
sim_server_t *sim_server_start(sim_t *sim, const char *host, int port,
                               int threads, char *errstr, size_t errstr_size);
int sim_server_port(const sim_server_t *srv);
void sim_server_stop(sim_server_t *srv);

#endif
