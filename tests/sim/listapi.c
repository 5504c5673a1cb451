/* tests/sim/listapi.c — GET /apps/{app}/builds.
 *
 * Filters `status`, `branch`, `workflow`, `after` / `before` (Unix seconds,
 * compared with the build time the scenario's builds_list.after_field names;
 * a null time never matches), `sort_by` created_at (newest triggered first)
 * or running_first (status 0 first, then newest first), `limit` and `next`.
 * Builds triggered in the future are hidden. builds_list.omit_share leaves
 * that share of the matching builds out of each answer at random.
 */
#include "tests/sim/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rand.h"

typedef struct list_q {
        const char *status, *branch, *workflow, *next;
        long long st, after_ms, before_ms; /* -1 = no filter */
        bool running_first;
        int limit;
} list_q_t;

/* An optional integer query argument >= 0 into *out (-1 when absent). */
static int arg_int(const char *s, long long max, long long *out) {
        char *end;
        *out = -1;
        if (!s)
                return 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || *end || v < 0 || v > max)
                return -1;
        *out = v;
        return 0;
}

static const char *query_parse(sim_arg_fn arg, void *ctx, list_q_t *q) {
        const char *sort = arg(ctx, "sort_by"), *limit = arg(ctx, "limit");
        long long lim;
        memset(q, 0, sizeof(*q));
        q->status   = arg(ctx, "status");
        q->branch   = arg(ctx, "branch");
        q->workflow = arg(ctx, "workflow");
        q->next     = arg(ctx, "next");
        q->limit    = 50;
        if (arg_int(limit, 1LL << 40, &lim) < 0 || lim == 0)
                return "invalid limit: must be a positive integer";
        if (lim > 0)
                q->limit = lim > 50 ? 50 : (int)lim;
        if (arg_int(q->status, 4, &q->st) < 0)
                return "invalid status: 0..4";
        if (arg_int(arg(ctx, "after"), 1LL << 40, &q->after_ms) < 0)
                return "invalid after: a Unix timestamp (seconds)";
        if (arg_int(arg(ctx, "before"), 1LL << 40, &q->before_ms) < 0)
                return "invalid before: a Unix timestamp (seconds)";
        if (q->after_ms >= 0)
                q->after_ms *= 1000;
        if (q->before_ms >= 0)
                q->before_ms *= 1000;
        if (sort && strcmp(sort, "running_first") != 0 &&
            strcmp(sort, "created_at") != 0)
                return "invalid sort_by: created_at or running_first";
        q->running_first = sort && strcmp(sort, "running_first") == 0;
        return NULL;
}

static bool matches(const sim_t *sim, const list_q_t *q, const sim_build_t *b,
                    const sim_state_t *st, int64_t now) {
        int64_t t;
        if (b->triggered_ms > now)
                return false; /* not triggered yet */
        if (q->branch && strcmp(q->branch, b->branch) != 0)
                return false;
        if (q->workflow && strcmp(q->workflow, b->workflow) != 0)
                return false;
        if (q->st >= 0 && q->st != st->status)
                return false;
        if (q->after_ms < 0 && q->before_ms < 0)
                return true;
        t = sim->listcfg.after_field == SIM_AFTER_STARTED    ? st->started_ms
            : sim->listcfg.after_field == SIM_AFTER_FINISHED ? st->finished_ms
                                                             : b->triggered_ms;
        if (t == 0)
                return false; /* null: no time to compare */
        if (q->after_ms >= 0 && t < q->after_ms)
                return false;
        if (q->before_ms >= 0 && t >= q->before_ms)
                return false;
        return true;
}

/* Explicit builds in the order a list shows them: newest triggered first
 * (ties: later in the scenario first). Generated and workload builds are
 * already in that order. */
static size_t *explicit_order(const sim_app_t *a) {
        size_t *o = malloc((a->n_builds + 1) * sizeof(*o));
        if (!o)
                return NULL;
        for (size_t i = 0; i < a->n_builds; i++) {
                size_t k = i, v = a->n_builds - 1 - i;
                while (k > 0 &&
                       a->builds[o[k - 1]].triggered_ms < a->builds[v].triggered_ms) {
                        o[k] = o[k - 1];
                        k--;
                }
                o[k] = v;
        }
        return o;
}

typedef struct page {
        cJSON *data;
        int64_t total;
        bool started;
        char next_slug[SIM_SLUG_MAX];
} page_t;

static void page_offer(const sim_t *sim, const list_q_t *q, page_t *p,
                       const sim_build_t *b, const sim_state_t *st) {
        p->total++;
        if (!p->started && strcmp(b->slug, q->next) == 0)
                p->started = true;
        if (!p->started)
                return;
        if (cJSON_GetArraySize(p->data) < q->limit) {
                if (sim->listcfg.omit_share > 0 &&
                    rand_unit() < sim->listcfg.omit_share)
                        return;
                cJSON_AddItemToArray(p->data, sim_build_json(b, st));
        } else if (!p->next_slug[0]) {
                snprintf(p->next_slug, sizeof(p->next_slug), "%s", b->slug);
        }
}

static cJSON *paging(int64_t total, int limit, const char *next) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "total_item_count", (double)total);
        cJSON_AddNumberToObject(p, "page_item_limit", limit);
        if (next)
                cJSON_AddStringToObject(p, "next", next);
        return p;
}

void sim_builds_list(sim_t *sim, const sim_app_t *a, size_t ai, int64_t now,
                     sim_arg_fn arg, void *ctx, sim_reply_t *r) {
        list_q_t q;
        const char *bad = query_parse(arg, ctx, &q);
        int64_t n       = sim_build_count(sim, a, ai);
        size_t *order   = NULL;
        page_t p        = {.started = q.next == NULL};
        cJSON *o;
        if (bad) {
                sim_reply_message(r, 400, bad);
                return;
        }
        if (ai < sim->n_apps && !(order = explicit_order(a))) {
                sim_reply_message(r, 500, "out of memory");
                return;
        }
        o      = cJSON_CreateObject();
        p.data = cJSON_AddArrayToObject(o, "data");
        for (int pass = q.running_first ? 0 : 1; pass < 2; pass++) {
                for (int64_t i = 0; i < n; i++) {
                        sim_build_t b;
                        sim_state_t st;
                        int64_t k = order ? (int64_t)(a->n_builds - 1 -
                                                      order[i])
                                          : i;
                        if (sim_build_at(sim, a, ai, k, &b) < 0)
                                continue;
                        sim_build_state(sim, &b, now, &st);
                        if (q.running_first && (pass == 0) != (st.status == 0))
                                continue;
                        if (matches(sim, &q, &b, &st, now))
                                page_offer(sim, &q, &p, &b, &st);
                }
        }
        free(order);
        if (!p.started) {
                cJSON_Delete(o);
                sim_reply_message(r, 400, "invalid next: no such item");
                return;
        }
        cJSON_AddItemToObject(
            o, "paging",
            paging(p.total, q.limit, p.next_slug[0] ? p.next_slug : NULL));
        sim_reply_json(r, 200, o);
}
