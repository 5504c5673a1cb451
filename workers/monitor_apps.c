/* workers/monitor_apps.c — the seams of the app poller and the schedule on
 * the real services (see watch.h "the app poller and the schedule"): one
 * list call per app shared through Redis (cache/applist.h), build duration
 * history, webhook marks, Bitrise's clock, and their metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/applist.h"
#include "cache/buildcache.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "workers/monitor_int.h"

#define FAC "monitor"

/* Cached build JSON → a BUILD answer; 0 when it does not parse. */
static int json_answer(const buf_t *b, watch_answer_t *ans) {
        char err[160];
        bitrise_build_t *bb = calloc(1, sizeof(*bb));
        if (!bb || bitrise_build_parse(b->data, b->len, bb, err, sizeof(err))) {
                free(bb);
                return 0;
        }
        *ans = (watch_answer_t){.cls            = WATCH_ANS_OK,
                                .http_status    = 200,
                                .retry_after_ms = -1,
                                .payload        = bb,
                                .build_status   = bb->status,
                                .build_on_hold  = bb->is_on_hold};
        return 1;
}

static int seam_list_preflight(void *ctx, const char *app, int64_t *after_s,
                               const char *const *builds, size_t n,
                               int lease_ms, int max_age_ms, int need_ttl_ms,
                               watch_answer_t *answers, int64_t *age_ms,
                               int *lease) {
        monitor_thread_t *t = ctx;
        char err[160];
        *lease = -1;
        if (n > CACHE_APPLIST_MAX)
                return 0;
        buf_t *jsons = calloc(n ? n : 1, sizeof(*jsons));
        if (!jsons)
                return 0;
        for (size_t i = 0; i < n; i++)
                buf_init(&jsons[i], CACHE_BUILD_MAX_JSON);
        int rc = cache_applist_preflight(
            t->rc, app, after_s, builds, n, t->worker, lease_ms, max_age_ms,
            need_ttl_ms, jsons, age_ms, lease, err, sizeof(err));
        if (rc < 0 && rc != CACHE_E_DOWN)
                LOG_WARN(FAC, "list preflight failed app=%s: %s", app, err);
        for (size_t i = 0; i < n; i++) {
                answers[i] = (watch_answer_t){.retry_after_ms = -1};
                if (rc == 1 && jsons[i].len)
                        json_answer(&jsons[i], &answers[i]);
                buf_release(&jsons[i]);
        }
        free(jsons);
        return rc == 1;
}

static void seam_list_store(void *ctx, const char *app, int64_t after_s,
                            const watch_list_t *page, int ttl_ms, int mark,
                            int release) {
        monitor_thread_t *t = ctx;
        size_t n = page ? page->n : 0, k = 0;
        char err[160];
        /* Not capped by cache.build_ttl_ms: the marker and the builds it
         * stands for must live as long, one interval. */
        const char **slugs = calloc(n ? n : 1, sizeof(*slugs));
        char **jsons       = calloc(n ? n : 1, sizeof(*jsons));
        size_t *lens       = calloc(n ? n : 1, sizeof(*lens));
        if (!slugs || !jsons || !lens)
                goto out;
        for (size_t i = 0; i < n; i++) {
                const watch_list_item_t *it = &page->items[i];
                if (!it->payload ||
                    !(jsons[k] = monitor_build_to_json(it->payload)))
                        continue;
                slugs[k] = it->build_slug;
                lens[k]  = strlen(jsons[k]);
                k++;
        }
        if ((k || mark || release) &&
            cache_applist_store_send(
                t->rc, app, after_s, slugs, (const char *const *)jsons, lens, k,
                ttl_ms, mark, release, t->worker, err, sizeof(err)) < 0 &&
            cache_redis_is_up(t->rc))
                LOG_WARN(FAC, "cannot share the build list of app %s: %s", app,
                         err);
out:
        for (size_t i = 0; jsons && i < k; i++)
                free(jsons[i]);
        free(slugs);
        free(jsons);
        free(lens);
}

static int seam_history_get(void *ctx, const char *app, const char *workflow,
                            int64_t *out, int max) {
        monitor_thread_t *t = ctx;
        char err[160];
        int n =
            cache_history_get(t->rc, app, workflow, out, max, err, sizeof(err));
        return n > 0 ? n : 0;
}

static void seam_history_add(void *ctx, const char *app, const char *workflow,
                             const char *build, int64_t duration_ms) {
        monitor_thread_t *t = ctx;
        char err[160];
        cache_history_add_send(t->rc, app, workflow, build, duration_ms, err,
                               sizeof(err));
}

static int seam_app_webhooks(void *ctx, const char *app) {
        monitor_thread_t *t = ctx;
        char err[160];
        return cache_webhook_check(t->rc, app, err, sizeof(err)) == 1;
}

static void seam_hint_seen(void *ctx, const char *workspace, const char *app,
                           int routed) {
        monitor_thread_t *t = ctx;
        char err[160];
        (void)workspace;
        metrics_counter_inc(routed ? t->m->hints_routed : t->m->hints_dropped);
        cache_webhook_mark_send(t->rc, app, t->m->o.webhook_trust_s, err,
                                sizeof(err));
}

static void seam_build_facts(void *ctx, const void *payload,
                             watch_build_facts_t *out) {
        (void)ctx;
        watch_bitrise_build_facts(payload, out);
}

static double seam_server_clock(void *ctx, int64_t *now_ms) {
        monitor_thread_t *t = ctx;
        return srvclock_now(t->m->clock, time_mono_ms(), now_ms);
}

void monitor_apps_seams(watch_seams_t *s) {
        s->list_preflight = seam_list_preflight;
        s->list_store     = seam_list_store;
        s->history_get    = seam_history_get;
        s->history_add    = seam_history_add;
        s->app_webhooks   = seam_app_webhooks;
        s->hint_seen      = seam_hint_seen;
        s->build_facts    = seam_build_facts;
        s->server_clock   = seam_server_clock;
}

void monitor_observe_detection(monitor_t *m, const bitrise_build_t *b) {
        int64_t now = 0;
        if (!b || !b->finished_at)
                return;
        double rate = srvclock_now(m->clock, time_mono_ms(), &now);
        if (!now)
                now = time_wall_ms(), rate = 1;
        double s =
            (double)(now - b->finished_at) / 1000.0 / (rate > 0 ? rate : 1);
        metrics_histogram_observe(m->detection, s < 0 ? 0 : s);
}

void monitor_apps_metrics(monitor_t *m) {
        static const char *ep[WATCH_REQ_BUILD_LIST + 1] = {
            NULL, "build", "log", "raw_log", "builds_list"};
        static const double det[] = {0.5, 1,  2,  5,   10,  15,
                                     20,  30, 60, 120, 300, 600};
        metrics_t *mx             = m->o.metrics;
        for (int i = WATCH_REQ_BUILD; i <= WATCH_REQ_BUILD_LIST; i++)
                m->endpoint[i] = metrics_counter(
                    mx, "bitmon_bitrise_endpoint_requests_total",
                    "Bitrise requests made, by endpoint.", "endpoint", ep[i],
                    NULL);
        m->list_ok     = metrics_counter(mx, "bitmon_list_calls_total",
                                         "App build list calls, by outcome.",
                                         "outcome", "ok", NULL);
        m->list_failed = metrics_counter(mx, "bitmon_list_calls_total",
                                         "App build list calls, by outcome.",
                                         "outcome", "failed", NULL);
        m->hints_routed =
            metrics_counter(mx, "bitmon_hints_total",
                            "Webhook hints that reached a worker, "
                            "by whether a watch took them.",
                            "outcome", "routed", NULL);
        m->hints_dropped =
            metrics_counter(mx, "bitmon_hints_total",
                            "Webhook hints that reached a worker, "
                            "by whether a watch took them.",
                            "outcome", "dropped", NULL);
        m->detection = metrics_histogram(
            mx, "bitmon_detection_seconds",
            "From a build's finished_at (Bitrise's clock) to its terminal "
            "result being produced.",
            det, sizeof(det) / sizeof(det[0]), NULL);
}
