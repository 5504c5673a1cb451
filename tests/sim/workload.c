/* tests/sim/workload.c — a steady-state build workload (scenario `workload`).
 *
 * `concurrent` builds run at all times over `apps` generated apps: whenever
 * one finishes, a new build of the same app (random workflow) is triggered at
 * that simulated moment, until `max_builds`. Each (app, workflow) has a fixed
 * mean duration; a build runs that mean × (1 ± jitter). At start the builds'
 * phases are staggered so that finishes are spread evenly. Builds are made
 * when simulated time reaches them (sim_workload_advance: a heap of running
 * slots keyed by their finish) and kept as 36-byte records; everything else
 * about a build is a hash of (seed, sequence number). Same seed, same builds.
 */
#include "tests/sim/workload.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/webhooks.h"

#define WL_MAX_APPS      1000
#define WL_MAX_WORKFLOWS 64
#define WL_MAX_BUILDS    5000000
#define WL_LIST_MAX      10000 /* entries per /_sim/workload answer */
#define WL_KEY_APP       0xa9950000ULL
#define WL_KEY_BUILD     0x3017ad00ULL
#define WL_KEY_INIT      0x1417ULL

typedef struct wl_rec {
        int64_t triggered_ms;
        int64_t finished_ms; /* planned, or when the admin API finished it */
        uint32_t on_hold_ms;
        uint32_t build_number;
        uint32_t slot;
        uint16_t app;
        uint8_t workflow;
        uint8_t status; /* final status 1..4 */
} wl_rec_t;

typedef struct wl_cfg {
        uint64_t seed;
        int apps, workflows, concurrent;
        char workspace[SIM_STR_MAX];
        int64_t dur_min_ms, dur_max_ms, hold_min_ms, hold_max_ms;
        int64_t log_min, log_max, lag_min_ms, lag_max_ms, max_builds;
        int steps_min, steps_max;
        double jitter, mix[5];
} wl_cfg_t;

struct sim_workload {
        pthread_mutex_t lock; /* everything below the config */
        wl_cfg_t c;
        int64_t start_ms;
        int64_t *mean_ms;    /* [app * workflows + workflow] */
        char (*app_slug)[17];
        wl_rec_t *recs;      /* by sequence number = trigger order */
        size_t n_recs, cap_recs;
        uint32_t **by_app;   /* sequence numbers of each app, oldest first */
        size_t *n_by_app, *cap_by_app;
        uint32_t *slot_seq;  /* the build each slot runs now */
        uint32_t *heap;      /* slots by (finish of their build, slot) */
        uint32_t *heap_pos;  /* slot -> index in heap; UINT32_MAX = out */
        size_t n_heap;
};

static const char *const flow_names[] = {"primary",  "deploy",  "ci-test",
                                         "nightly",  "release", "ui-tests",
                                         "lint",     "beta"};

static int64_t span(uint64_t h, int64_t lo, int64_t hi) {
        return hi <= lo ? lo : lo + (int64_t)(h % (uint64_t)(hi - lo + 1));
}

static double unit(uint64_t h) {
        return (double)(h >> 11) * 0x1.0p-53;
}

static void flow_name(int wf, char *out, size_t size) {
        if (wf < (int)(sizeof(flow_names) / sizeof(flow_names[0])))
                snprintf(out, size, "%s", flow_names[wf]);
        else
                snprintf(out, size, "workflow-%d", wf + 1);
}

/* ---- heap of running slots, earliest finish on top ---- */

static bool slot_before(const sim_workload_t *w, uint32_t a, uint32_t b) {
        int64_t fa = w->recs[w->slot_seq[a]].finished_ms,
                fb = w->recs[w->slot_seq[b]].finished_ms;
        return fa < fb || (fa == fb && a < b);
}

static void heap_swap(sim_workload_t *w, size_t i, size_t j) {
        uint32_t t  = w->heap[i];
        w->heap[i]  = w->heap[j];
        w->heap[j]  = t;
        w->heap_pos[w->heap[i]] = (uint32_t)i;
        w->heap_pos[w->heap[j]] = (uint32_t)j;
}

static void heap_up(sim_workload_t *w, size_t i) {
        while (i > 0 && slot_before(w, w->heap[i], w->heap[(i - 1) / 2])) {
                heap_swap(w, i, (i - 1) / 2);
                i = (i - 1) / 2;
        }
}

static void heap_down(sim_workload_t *w, size_t i) {
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < w->n_heap && slot_before(w, w->heap[l], w->heap[m]))
                        m = l;
                if (r < w->n_heap && slot_before(w, w->heap[r], w->heap[m]))
                        m = r;
                if (m == i)
                        return;
                heap_swap(w, i, m);
                i = m;
        }
}

static void heap_pop(sim_workload_t *w) {
        w->heap_pos[w->heap[0]] = UINT32_MAX;
        w->n_heap--;
        if (w->n_heap) {
                w->heap[0]              = w->heap[w->n_heap];
                w->heap_pos[w->heap[0]] = 0;
                heap_down(w, 0);
        }
}

/* ---- records ---- */

/* A new build of `app` triggered at `at`, drawn from hash h. */
static void rec_draw(const sim_workload_t *w, int app, uint64_t h, int64_t at,
                     wl_rec_t *r) {
        const wl_cfg_t *c = &w->c;
        double u = unit(sim_hash(h, 1)), acc = 0;
        memset(r, 0, sizeof(*r));
        r->app          = (uint16_t)app;
        r->workflow     = (uint8_t)(sim_hash(h, 2) % (uint64_t)c->workflows);
        r->triggered_ms = at;
        r->on_hold_ms =
            (uint32_t)span(sim_hash(h, 3), c->hold_min_ms, c->hold_max_ms);
        double mean =
            (double)w->mean_ms[(size_t)app * (size_t)c->workflows + r->workflow];
        double run = mean * (1.0 + c->jitter * (2.0 * unit(sim_hash(h, 4)) - 1.0));
        r->finished_ms = at + r->on_hold_ms + (int64_t)llround(run < 0 ? 0 : run);
        r->status      = 1;
        for (int s = 1; s <= 4; s++) {
                acc += c->mix[s];
                if (u < acc) {
                        r->status = (uint8_t)s;
                        break;
                }
        }
}

static int rec_append(sim_workload_t *w, const wl_rec_t *r) {
        size_t a = r->app;
        if (w->n_recs == w->cap_recs) {
                size_t cap  = w->cap_recs ? w->cap_recs * 2 : 1024;
                wl_rec_t *p = realloc(w->recs, cap * sizeof(*p));
                if (!p)
                        return -1;
                w->recs     = p;
                w->cap_recs = cap;
        }
        if (w->n_by_app[a] == w->cap_by_app[a]) {
                size_t cap  = w->cap_by_app[a] ? w->cap_by_app[a] * 2 : 256;
                uint32_t *p = realloc(w->by_app[a], cap * sizeof(*p));
                if (!p)
                        return -1;
                w->by_app[a]     = p;
                w->cap_by_app[a] = cap;
        }
        w->recs[w->n_recs]                 = *r;
        w->recs[w->n_recs].build_number    = (uint32_t)w->n_by_app[a] + 1;
        w->by_app[a][w->n_by_app[a]++]     = (uint32_t)w->n_recs;
        w->n_recs++;
        return 0;
}

static void build_slug(const sim_workload_t *w, uint64_t seq, char *out) {
        sim_put_hex(out, sim_feistel(w->c.seed ^ WL_KEY_BUILD, seq, 0), 16);
}

/* The Build as the API shows it; runs without the lock (r is a copy). */
static void rec_fill(const sim_workload_t *w, uint64_t seq, const wl_rec_t *r,
                     sim_build_t *b) {
        static const char *const aborts[] = {
            "Automatically aborted via Rolling Builds.",
            "Lost connection to build agent", "User aborted"};
        uint64_t h = sim_hash(w->c.seed ^ WL_KEY_BUILD, seq);
        memset(b, 0, sizeof(*b));
        build_slug(w, seq, b->slug);
        memcpy(b->app, w->app_slug[r->app], 17);
        b->build_number = r->build_number;
        b->triggered_ms = r->triggered_ms;
        b->on_hold_ms   = r->on_hold_ms;
        b->running_ms   = r->finished_ms - r->triggered_ms - r->on_hold_ms;
        if (b->running_ms < 0) { /* finished by the admin API while on hold */
                b->on_hold_ms = r->finished_ms - r->triggered_ms;
                b->running_ms = 0;
        }
        b->final_status = r->status;
        flow_name(r->workflow, b->workflow, sizeof(b->workflow));
        snprintf(b->branch, sizeof(b->branch), "%s",
                 sim_hash(h, 5) % 4 ? "main" : "develop");
        sim_put_hex(sim_put_hex(sim_put_hex(b->commit_hash, sim_hash(h, 6), 16),
                                sim_hash(h, 7), 16),
                    (uint32_t)sim_hash(h, 8), 8);
        snprintf(b->commit_message, sizeof(b->commit_message), "change %" PRIu64,
                 h % 100000);
        snprintf(b->triggered_by, sizeof(b->triggered_by), "%s",
                 "webhook-github/sim-user");
        snprintf(b->machine_type, sizeof(b->machine_type), "g2.linux.medium");
        snprintf(b->stack, sizeof(b->stack), "linux-docker-android-22.04");
        if (r->status >= 3)
                snprintf(b->abort_reason, sizeof(b->abort_reason), "%s",
                         aborts[sim_hash(h, 9) % 3]);
        b->archive_lag_ms =
            span(sim_hash(h, 10), w->c.lag_min_ms, w->c.lag_max_ms);
        b->url_valid_ms     = 600000;
        b->log.seed         = sim_hash(h, 11);
        b->log.target_bytes = span(sim_hash(h, 12), w->c.log_min, w->c.log_max);
        b->log.steps =
            (int)span(sim_hash(h, 13), w->c.steps_min, w->c.steps_max);
        b->log.failing_step =
            r->status == 2 ? (int)(sim_hash(h, 14) % (uint64_t)b->log.steps)
                           : -1;
        b->log.exit_code = r->status == 2 ? 1 + (int)(sim_hash(h, 15) % 3) : 0;
        b->log.abort_cut = r->status >= 3;
}

/* Webhook events of the build `seq` (lock held; the hooks lock nests in). */
static void emit(sim_t *sim, sim_workload_t *w, uint32_t seq, int event,
                 int64_t at) {
        sim_build_t b;
        if (!sim_hooks_wants(sim->hooks, w->app_slug[w->recs[seq].app]))
                return;
        rec_fill(w, seq, &w->recs[seq], &b);
        sim_hooks_build_event(sim->hooks, &b,
                              event == SIM_HOOK_FINISHED ? b.final_status : 0,
                              event, at);
}

void sim_workload_advance(sim_t *sim, int64_t now) {
        sim_workload_t *w = sim->wl;
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        while (w->n_heap) {
                uint32_t slot = w->heap[0], old = w->slot_seq[slot];
                int64_t at    = w->recs[old].finished_ms;
                wl_rec_t r;
                if (at > now)
                        break;
                emit(sim, w, old, SIM_HOOK_FINISHED, at);
                if ((int64_t)w->n_recs >= w->c.max_builds) {
                        heap_pop(w);
                        continue;
                }
                rec_draw(w, w->recs[old].app,
                         sim_hash(w->c.seed, (uint64_t)w->n_recs), at, &r);
                r.slot = slot;
                if (rec_append(w, &r) < 0) {
                        heap_pop(w);
                        continue;
                }
                w->slot_seq[slot] = (uint32_t)(w->n_recs - 1);
                heap_down(w, 0);
                emit(sim, w, (uint32_t)(w->n_recs - 1), SIM_HOOK_TRIGGERED, at);
        }
        pthread_mutex_unlock(&w->lock);
}

int64_t sim_workload_next_due(sim_workload_t *w) {
        int64_t due = INT64_MAX;
        if (!w)
                return due;
        pthread_mutex_lock(&w->lock);
        if (w->n_heap)
                due = w->recs[w->slot_seq[w->heap[0]]].finished_ms;
        pthread_mutex_unlock(&w->lock);
        return due;
}

int sim_workload_finish(sim_t *sim, const char *slug, int status,
                        int64_t now) {
        sim_workload_t *w = sim->wl;
        uint64_t seq;
        int rc = -1;
        if (!w || sim_hex16_parse(slug, &seq) < 0)
                return -1;
        seq = sim_feistel(w->c.seed ^ WL_KEY_BUILD, seq, 1);
        pthread_mutex_lock(&w->lock);
        if (seq < w->n_recs) {
                wl_rec_t *r = &w->recs[seq];
                rc          = 0;
                if (r->finished_ms > now) {
                        r->finished_ms = now < r->triggered_ms ? r->triggered_ms
                                                               : now;
                        r->status      = (uint8_t)status;
                        if (w->slot_seq[r->slot] == seq &&
                            w->heap_pos[r->slot] != UINT32_MAX)
                                heap_up(w, w->heap_pos[r->slot]);
                }
        }
        pthread_mutex_unlock(&w->lock);
        sim_workload_advance(sim, now);
        return rc;
}

/* ---- the sim_source_t view ---- */

static void src_app_at(void *ctx, size_t i, sim_app_t *out) {
        sim_workload_t *w = ctx;
        memset(out, 0, sizeof(*out));
        memcpy(out->slug, w->app_slug[i], 17);
        snprintf(out->title, sizeof(out->title), "bench-app-%zu", i);
        snprintf(out->workspace, sizeof(out->workspace), "%s", w->c.workspace);
        snprintf(out->project_type, sizeof(out->project_type), "android");
        snprintf(out->repo_owner, sizeof(out->repo_owner), "bench-org");
        snprintf(out->repo_slug, sizeof(out->repo_slug), "bench-app-%zu", i);
}

static int src_app_find(void *ctx, const char *slug, size_t *i) {
        sim_workload_t *w = ctx;
        for (size_t k = 0; k < (size_t)w->c.apps; k++)
                if (strcmp(w->app_slug[k], slug) == 0) {
                        *i = k;
                        return 0;
                }
        return -1;
}

static int64_t src_build_count(void *ctx, size_t app) {
        sim_workload_t *w = ctx;
        pthread_mutex_lock(&w->lock);
        int64_t n = (int64_t)w->n_by_app[app];
        pthread_mutex_unlock(&w->lock);
        return n;
}

static int src_build_at(void *ctx, size_t app, int64_t i, sim_build_t *out) {
        sim_workload_t *w = ctx;
        wl_rec_t r;
        uint32_t seq = 0;
        bool ok;
        pthread_mutex_lock(&w->lock);
        ok = i >= 0 && (size_t)i < w->n_by_app[app];
        if (ok) {
                seq = w->by_app[app][w->n_by_app[app] - 1 - (size_t)i];
                r   = w->recs[seq];
        }
        pthread_mutex_unlock(&w->lock);
        if (!ok)
                return -1;
        rec_fill(w, seq, &r, out);
        return 0;
}

static int src_build_find(void *ctx, size_t app, const char *slug,
                          sim_build_t *out) {
        sim_workload_t *w = ctx;
        uint64_t seq;
        wl_rec_t r;
        bool ok;
        if (sim_hex16_parse(slug, &seq) < 0)
                return -1;
        seq = sim_feistel(w->c.seed ^ WL_KEY_BUILD, seq, 1);
        pthread_mutex_lock(&w->lock);
        ok = seq < w->n_recs && w->recs[seq].app == app;
        if (ok)
                r = w->recs[seq];
        pthread_mutex_unlock(&w->lock);
        if (!ok)
                return -1;
        rec_fill(w, seq, &r, out);
        return 0;
}

/* ---- admin listing ---- */

cJSON *sim_workload_json(sim_workload_t *w, int64_t since, int64_t now) {
        cJSON *o = cJSON_CreateObject(), *arr;
        char slug[17], flow[SIM_STR_MAX];
        pthread_mutex_lock(&w->lock);
        size_t from = since < 0 ? 0 : (size_t)since, to = w->n_recs;
        if (from > to)
                from = to;
        if (to - from > WL_LIST_MAX)
                to = from + WL_LIST_MAX;
        cJSON_AddNumberToObject(o, "next", (double)to);
        cJSON_AddNumberToObject(o, "total", (double)w->n_recs);
        cJSON_AddNumberToObject(o, "sim_now_ms", (double)now);
        arr = cJSON_AddArrayToObject(o, "builds");
        for (size_t k = from; k < to; k++) {
                const wl_rec_t *r = &w->recs[k];
                cJSON *e          = cJSON_CreateObject();
                int64_t start     = r->triggered_ms + r->on_hold_ms;
                build_slug(w, k, slug);
                flow_name(r->workflow, flow, sizeof(flow));
                cJSON_AddNumberToObject(e, "seq", (double)k);
                cJSON_AddStringToObject(e, "app", w->app_slug[r->app]);
                cJSON_AddStringToObject(e, "build", slug);
                cJSON_AddStringToObject(e, "workflow", flow);
                cJSON_AddNumberToObject(e, "triggered_at_ms",
                                        (double)r->triggered_ms);
                cJSON_AddNumberToObject(
                    e, "started_at_ms",
                    (double)(start > r->finished_ms ? r->finished_ms : start));
                cJSON_AddNumberToObject(e, "finished_at_ms",
                                        (double)r->finished_ms);
                cJSON_AddNumberToObject(e, "status", r->status);
                cJSON_AddItemToArray(arr, e);
        }
        pthread_mutex_unlock(&w->lock);
        return o;
}

/* ---- the scenario block ---- */

/* A number or [lo, hi] scaled by `scale`; 0 when absent, -1 when wrong. */
static int range(const cJSON *o, const char *key, double scale, double max,
                 int64_t *lo, int64_t *hi) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key), *a, *b;
        if (!v)
                return 0;
        if (cJSON_IsNumber(v)) {
                a = b = v;
        } else {
                a = cJSON_GetArrayItem(v, 0);
                b = cJSON_GetArrayItem(v, 1);
                if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 ||
                    !cJSON_IsNumber(a) || !cJSON_IsNumber(b))
                        return -1;
        }
        if (!(a->valuedouble >= 0) || !(b->valuedouble >= a->valuedouble) ||
            b->valuedouble > max)
                return -1;
        *lo = (int64_t)llround(a->valuedouble * scale);
        *hi = (int64_t)llround(b->valuedouble * scale);
        return 0;
}

/* An optional number in [lo, hi]; -1 when present and not that. */
static int number(const cJSON *o, const char *key, double lo, double hi,
                  double *out) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!v)
                return 0;
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo) ||
            !(v->valuedouble <= hi))
                return -1;
        *out = v->valuedouble;
        return 0;
}

static int mix_parse(const cJSON *mix, double out[5], char *errstr,
                     size_t errstr_size) {
        static const char *const keys[5] = {NULL, "success", "error", "aborted",
                                            "aborted_with_success"};
        double sum = 0;
        if (!mix)
                return 0;
        for (int i = 1; i <= 4; i++) {
                out[i] = 0;
                if (number(mix, keys[i], 0, 1, &out[i]) < 0) {
                        snprintf(errstr, errstr_size,
                                 "workload.mix.%s: a share 0..1", keys[i]);
                        return -1;
                }
                sum += out[i];
        }
        if (sum <= 0) {
                snprintf(errstr, errstr_size,
                         "workload.mix: shares must not all be 0");
                return -1;
        }
        for (int i = 1; i <= 4; i++)
                out[i] /= sum;
        return 0;
}

#define BAD(...)                                                               \
        do {                                                                   \
                snprintf(errstr, errstr_size, __VA_ARGS__);                    \
                return -1;                                                     \
        } while (0)

static int cfg_parse(const cJSON *j, wl_cfg_t *c, char *errstr,
                     size_t errstr_size) {
        double seed = 1, apps = 10, flows = 3, conc = 250, max = 50000,
               jit = 0.05;
        int64_t lo, hi;
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(j, "workspace");
        *c = (wl_cfg_t){.dur_min_ms = 300000, .dur_max_ms = 900000,
                        .hold_max_ms = 20000, .log_min = 2000, .log_max = 20000,
                        .steps_min = 3, .steps_max = 8, .lag_min_ms = 1000,
                        .lag_max_ms = 5000, .mix = {0, 0.7, 0.2, 0.05, 0.05}};
        if (!cJSON_IsObject(j))
                BAD("workload: expected an object");
        if (number(j, "seed", 0, 9007199254740991.0, &seed) < 0)
                BAD("workload.seed: a number >= 0");
        if (number(j, "apps", 1, WL_MAX_APPS, &apps) < 0)
                BAD("workload.apps: 1..%d", WL_MAX_APPS);
        if (number(j, "workflows_per_app", 1, WL_MAX_WORKFLOWS, &flows) < 0)
                BAD("workload.workflows_per_app: 1..%d", WL_MAX_WORKFLOWS);
        if (number(j, "concurrent", 0, 100000, &conc) < 0)
                BAD("workload.concurrent: 0..100000");
        if (number(j, "max_builds", 0, WL_MAX_BUILDS, &max) < 0)
                BAD("workload.max_builds: 0..%d", WL_MAX_BUILDS);
        if (number(j, "duration_jitter", 0, 1, &jit) < 0)
                BAD("workload.duration_jitter: 0..1");
        if (ws && (!cJSON_IsString(ws) ||
                   strlen(ws->valuestring) >= sizeof(c->workspace)))
                BAD("workload.workspace: a string");
        if (ws)
                snprintf(c->workspace, sizeof(c->workspace), "%s",
                         ws->valuestring);
        c->seed = (uint64_t)seed, c->apps = (int)apps;
        c->workflows = (int)flows, c->concurrent = (int)conc;
        c->max_builds = (int64_t)max, c->jitter = jit;
        if (range(j, "duration_s", 1000, 1e6, &c->dur_min_ms, &c->dur_max_ms) <
            0)
                BAD("workload.duration_s: seconds, a number or [min, max]");
        if (range(j, "on_hold_s", 1000, 1e6, &c->hold_min_ms, &c->hold_max_ms) <
            0)
                BAD("workload.on_hold_s: seconds, a number or [min, max]");
        if (range(j, "archive_lag_s", 1000, 1e6, &c->lag_min_ms,
                  &c->lag_max_ms) < 0)
                BAD("workload.archive_lag_s: seconds, a number or [min, max]");
        if (range(j, "log_bytes", 1, 1e10, &c->log_min, &c->log_max) < 0)
                BAD("workload.log_bytes: a number or [min, max]");
        lo = c->steps_min, hi = c->steps_max;
        if (range(j, "steps", 1, SIM_MAX_STEPS, &lo, &hi) < 0 || lo < 1)
                BAD("workload.steps: 1..%d or [min, max]", SIM_MAX_STEPS);
        c->steps_min = (int)lo, c->steps_max = (int)hi;
        return mix_parse(cJSON_GetObjectItemCaseSensitive(j, "mix"), c->mix,
                         errstr, errstr_size);
}

/* ---- set-up ---- */

static int initial_cmp(const void *a, const void *b) {
        const wl_rec_t *x = a, *y = b;
        if (x->triggered_ms != y->triggered_ms)
                return x->triggered_ms < y->triggered_ms ? -1 : 1;
        return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* The first `concurrent` builds: running at start, their phases spread so
 * that finishes are even (a slot's residual time is a golden-ratio fraction
 * of its duration). Sequence numbers follow the trigger order. */
static int start_slots(sim_workload_t *w) {
        size_t n = (size_t)w->c.concurrent;
        if ((int64_t)n > w->c.max_builds)
                n = (size_t)w->c.max_builds;
        wl_rec_t *init = calloc(n + 1, sizeof(*init));
        if (!init)
                return -1;
        for (size_t s = 0; s < n; s++) {
                wl_rec_t *r = &init[s];
                rec_draw(w, (int)(s % (size_t)w->c.apps),
                         sim_hash(w->c.seed ^ WL_KEY_INIT, s), 0, r);
                double frac = fmod(((double)s + 0.5) * 0.6180339887498949, 1.0);
                int64_t d   = r->finished_ms; /* triggered at 0 so far */
                r->finished_ms  = w->start_ms + (int64_t)llround(frac * (double)d);
                r->triggered_ms = r->finished_ms - d;
                r->slot         = (uint32_t)s;
        }
        qsort(init, n, sizeof(*init), initial_cmp);
        for (size_t k = 0; k < n; k++) {
                if (rec_append(w, &init[k]) < 0) {
                        free(init);
                        return -1;
                }
                w->slot_seq[init[k].slot] = (uint32_t)k;
        }
        free(init);
        for (size_t s = 0; s < n; s++) {
                w->heap[w->n_heap] = (uint32_t)s;
                w->heap_pos[s]     = (uint32_t)w->n_heap++;
                heap_up(w, w->n_heap - 1);
        }
        return 0;
}

static int alloc_tables(sim_workload_t *w) {
        size_t a = (size_t)w->c.apps, c = (size_t)w->c.concurrent + 1;
        w->mean_ms    = calloc(a * (size_t)w->c.workflows, sizeof(*w->mean_ms));
        w->app_slug   = calloc(a, sizeof(*w->app_slug));
        w->by_app     = calloc(a, sizeof(*w->by_app));
        w->n_by_app   = calloc(a, sizeof(*w->n_by_app));
        w->cap_by_app = calloc(a, sizeof(*w->cap_by_app));
        w->slot_seq   = calloc(c, sizeof(*w->slot_seq));
        w->heap       = calloc(c, sizeof(*w->heap));
        w->heap_pos   = calloc(c, sizeof(*w->heap_pos));
        if (!w->mean_ms || !w->app_slug || !w->by_app || !w->n_by_app ||
            !w->cap_by_app || !w->slot_seq || !w->heap || !w->heap_pos)
                return -1;
        for (size_t i = 0; i < a; i++) {
                sim_put_hex(w->app_slug[i],
                            sim_feistel(w->c.seed ^ WL_KEY_APP, i, 0), 16);
                for (int f = 0; f < w->c.workflows; f++)
                        w->mean_ms[i * (size_t)w->c.workflows + (size_t)f] =
                            span(sim_hash(w->c.seed ^ WL_KEY_APP,
                                          i * WL_MAX_WORKFLOWS + (size_t)f),
                                 w->c.dur_min_ms, w->c.dur_max_ms);
        }
        return 0;
}

int sim_workload_new(const cJSON *j, int64_t start_ms, sim_workload_t **out,
                     char *errstr, size_t errstr_size) {
        sim_workload_t *w = calloc(1, sizeof(*w));
        if (!w) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        pthread_mutex_init(&w->lock, NULL);
        w->start_ms = start_ms;
        if (cfg_parse(j, &w->c, errstr, errstr_size) < 0)
                goto fail;
        if (alloc_tables(w) < 0 || start_slots(w) < 0) {
                snprintf(errstr, errstr_size, "workload: out of memory");
                goto fail;
        }
        *out = w;
        return 0;
fail:
        sim_workload_destroy(w);
        return -1;
}

void sim_workload_source(sim_workload_t *w, sim_source_t *src) {
        memset(src, 0, sizeof(*src));
        if (!w)
                return;
        src->ctx         = w;
        src->n_apps      = (size_t)w->c.apps;
        src->app_at      = src_app_at;
        src->app_find    = src_app_find;
        src->build_count = src_build_count;
        src->build_at    = src_build_at;
        src->build_find  = src_build_find;
}

const char *sim_workload_workspace(const sim_workload_t *w) {
        return w->c.workspace;
}

void sim_workload_destroy(sim_workload_t *w) {
        if (!w)
                return;
        for (size_t i = 0; w->by_app && i < (size_t)w->c.apps; i++)
                free(w->by_app[i]);
        free(w->by_app);
        free(w->n_by_app);
        free(w->cap_by_app);
        free(w->mean_ms);
        free(w->app_slug);
        free(w->recs);
        free(w->slot_seq);
        free(w->heap);
        free(w->heap_pos);
        pthread_mutex_destroy(&w->lock);
        free(w);
}
