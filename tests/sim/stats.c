/* tests/sim/stats.c — request counters and sliding windows.
 *
 * A sliding window keeps the times of the requests inside it in a ring that
 * grows as needed, so "requests in the last W seconds" and the maximum of that
 * over the run are exact. All functions run under sim_t.lock.
 */
#include "tests/sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

void sim_window_release(sim_window_t *w) {
        free(w->ts);
        memset(w, 0, sizeof(*w));
}

static void window_drop(sim_window_t *w, int64_t now, int64_t window_ms) {
        while (w->len && w->ts[w->head] <= now - window_ms) {
                w->head = (w->head + 1) % w->cap;
                w->len--;
        }
}

size_t sim_window_count(sim_window_t *w, int64_t now, int64_t window_ms) {
        window_drop(w, now, window_ms);
        return w->len;
}

int64_t sim_window_oldest(const sim_window_t *w) {
        return w->len ? w->ts[w->head] : 0;
}

size_t sim_window_push(sim_window_t *w, int64_t now, int64_t window_ms) {
        window_drop(w, now, window_ms);
        if (w->len == w->cap) {
                size_t cap  = w->cap ? w->cap * 2 : 64;
                int64_t *ts = malloc(cap * sizeof(*ts));
                if (!ts)
                        return w->len; /* count stays exact up to here */
                for (size_t i = 0; i < w->len; i++)
                        ts[i] = w->ts[(w->head + i) % w->cap];
                free(w->ts);
                w->ts   = ts;
                w->cap  = cap;
                w->head = 0;
        }
        w->ts[(w->head + w->len) % w->cap] = now;
        w->len++;
        return w->len;
}

void sim_token_fingerprint(const char *value, char out[17]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        EVP_Digest(value, strlen(value), md, &n, EVP_sha256(), NULL);
        for (int i = 0; i < 8; i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
}

sim_token_t *sim_token_find(sim_t *sim, const char *value) {
        for (size_t i = 0; i < sim->n_tokens; i++)
                if (strcmp(sim->tokens[i]->value, value) == 0)
                        return sim->tokens[i];
        return NULL;
}

void sim_stats_reset(sim_t *sim) {
        memset(sim->ep_requests, 0, sizeof(sim->ep_requests));
        sim->invalid_token_requests = sim->revoked_token_requests = 0;
        sim->expired_token_requests = sim->missing_token_requests = 0;
        sim->api_in_flight_max = sim->api_in_flight;
        for (size_t i = 0; i < sim->n_tokens; i++) {
                sim_token_t *t = sim->tokens[i];
                t->requests = t->throttled = t->max_window_count = 0;
                memset(t->by_ep, 0, sizeof(t->by_ep));
                memset(t->by_status, 0, sizeof(t->by_status));
                sim_window_release(&t->seen);
                /* the quota window is the server's state, not a counter: kept
                 */
        }
}

static cJSON *ep_json(const uint64_t *counts) {
        cJSON *o = cJSON_CreateObject();
        for (int i = 0; i < SIM_EP_COUNT; i++)
                cJSON_AddNumberToObject(o, sim_ep_names[i], (double)counts[i]);
        return o;
}

static cJSON *token_json(const sim_token_t *t, int64_t window_ms) {
        static const char *const st[] = {"none", "1xx", "2xx",
                                         "3xx",  "4xx", "5xx"};
        cJSON *o                      = cJSON_CreateObject(), *s;
        cJSON_AddStringToObject(o, "fingerprint", t->fingerprint);
        cJSON_AddStringToObject(o, "token", t->value);
        cJSON_AddStringToObject(o, "kind", t->kind);
        cJSON_AddBoolToObject(o, "revoked", t->revoked);
        cJSON_AddNumberToObject(o, "requests", (double)t->requests);
        cJSON_AddNumberToObject(o, "throttled", (double)t->throttled);
        cJSON_AddNumberToObject(o, "max_window_count",
                                (double)t->max_window_count);
        cJSON_AddNumberToObject(o, "window_s", (double)window_ms / 1000.0);
        cJSON_AddItemToObject(o, "endpoints", ep_json(t->by_ep));
        s = cJSON_AddObjectToObject(o, "status");
        for (int i = 0; i < 6; i++)
                cJSON_AddNumberToObject(s, st[i], (double)t->by_status[i]);
        return o;
}

cJSON *sim_stats_json(sim_t *sim) {
        cJSON *o       = cJSON_CreateObject(), *toks;
        uint64_t total = 0;
        for (int i = 0; i < SIM_EP_COUNT; i++)
                total += sim->ep_requests[i];
        cJSON_AddNumberToObject(o, "requests", (double)total);
        cJSON_AddItemToObject(o, "endpoints", ep_json(sim->ep_requests));
        cJSON_AddNumberToObject(o, "invalid_token_requests",
                                (double)sim->invalid_token_requests);
        cJSON_AddNumberToObject(o, "revoked_token_requests",
                                (double)sim->revoked_token_requests);
        cJSON_AddNumberToObject(o, "expired_token_requests",
                                (double)sim->expired_token_requests);
        cJSON_AddNumberToObject(o, "missing_token_requests",
                                (double)sim->missing_token_requests);
        cJSON_AddNumberToObject(o, "api_in_flight_max",
                                (double)sim->api_in_flight_max);
        toks = cJSON_AddArrayToObject(o, "tokens");
        for (size_t i = 0; i < sim->n_tokens; i++) {
                const sim_token_t *t = sim->tokens[i];
                int64_t w = t->quota.limit ? (int64_t)t->quota.window_s * 1000
                                           : sim->stats_window_ms;
                cJSON_AddItemToArray(toks, token_json(t, w));
        }
        return o;
}

/* ---- budget adherence ----------------------------------------------------
 *
 * A client that keeps a token bucket (rate r per second, burst b) never makes
 * more than b + r x W requests in any interval of W seconds. Every request
 * with a known token (answered, refused with 429 or 401 alike: the client
 * made it) counts in the fixed window (now - start) / W it arrives in; a
 * window over b + r x (W + slack) is over budget. slack_s allows for the time
 * between the client taking from its bucket and the request arriving. The
 * most requests of any sliding window of W are reported too.
 */

static double budget_limit(const sim_budget_t *b) {
        return b->burst +
               b->rate * ((double)b->window_ms / 1000.0 + b->slack_s);
}

static void budget_close(const sim_budget_t *b, sim_tokbudget_t *tb) {
        if (tb->index < 0 || tb->count == 0)
                return;
        tb->windows++;
        if ((double)tb->count > budget_limit(b)) {
                if (tb->over < SIM_BUDGET_OVER_KEPT) {
                        tb->over_kept[tb->over].index = tb->index;
                        tb->over_kept[tb->over].count = tb->count;
                }
                tb->over++;
        }
}

void sim_budget_account(sim_t *sim, sim_token_t *t, int64_t now) {
        const sim_budget_t *b = &sim->budget;
        sim_tokbudget_t *tb   = &t->bud;
        if (!b->on || now < b->start_ms)
                return;
        int64_t k = (now - b->start_ms) / b->window_ms;
        if (tb->index != k) {
                budget_close(b, tb);
                tb->index = k;
                tb->count = 0;
        }
        tb->count++;
        tb->requests++;
        if (tb->count > tb->max_count)
                tb->max_count = tb->count;
        size_t n = sim_window_push(&tb->slide, now, b->window_ms);
        if (n > tb->max_slide)
                tb->max_slide = n;
}

int sim_budget_set(sim_t *sim, const cJSON *j, int64_t now, char *errstr,
                   size_t errstr_size) {
        const cJSON *rate  = cJSON_GetObjectItemCaseSensitive(j, "rate");
        const cJSON *burst = cJSON_GetObjectItemCaseSensitive(j, "burst");
        const cJSON *win   = cJSON_GetObjectItemCaseSensitive(j, "window_s");
        const cJSON *slack = cJSON_GetObjectItemCaseSensitive(j, "slack_s");
        if (!cJSON_IsNumber(rate) || rate->valuedouble <= 0) {
                snprintf(errstr, errstr_size, "rate: expected a number > 0");
                return -1;
        }
        if (!cJSON_IsNumber(burst) || burst->valuedouble < 1) {
                snprintf(errstr, errstr_size, "burst: expected a number >= 1");
                return -1;
        }
        if (win && (!cJSON_IsNumber(win) || win->valuedouble < 0.1 ||
                    win->valuedouble > 3600)) {
                snprintf(errstr, errstr_size,
                         "window_s: expected a number in 0.1..3600");
                return -1;
        }
        if (slack && (!cJSON_IsNumber(slack) || slack->valuedouble < 0 ||
                      slack->valuedouble > 60)) {
                snprintf(errstr, errstr_size,
                         "slack_s: expected a number in 0..60");
                return -1;
        }
        sim->budget = (sim_budget_t){
            .on        = true,
            .rate      = rate->valuedouble,
            .burst     = burst->valuedouble,
            .slack_s   = slack ? slack->valuedouble : 0,
            .window_ms = (int64_t)((win ? win->valuedouble : 10) * 1000),
            .start_ms  = now,
        };
        for (size_t i = 0; i < sim->n_tokens; i++) {
                sim_tokbudget_t *tb = &sim->tokens[i]->bud;
                sim_window_release(&tb->slide);
                memset(tb, 0, sizeof(*tb));
                tb->index = -1;
        }
        return 0;
}

cJSON *sim_budget_json(sim_t *sim, int64_t now) {
        const sim_budget_t *b = &sim->budget;
        cJSON *o              = cJSON_CreateObject(), *toks;
        uint64_t over_all = 0, windows_all = 0;
        cJSON_AddBoolToObject(o, "on", b->on);
        if (!b->on)
                return o;
        cJSON_AddNumberToObject(o, "rate", b->rate);
        cJSON_AddNumberToObject(o, "burst", b->burst);
        cJSON_AddNumberToObject(o, "window_s", (double)b->window_ms / 1000.0);
        cJSON_AddNumberToObject(o, "slack_s", b->slack_s);
        cJSON_AddNumberToObject(o, "limit", budget_limit(b));
        cJSON_AddNumberToObject(o, "elapsed_s",
                                (double)(now - b->start_ms) / 1000.0);
        toks = cJSON_AddArrayToObject(o, "tokens");
        for (size_t i = 0; i < sim->n_tokens; i++) {
                const sim_token_t *t = sim->tokens[i];
                sim_tokbudget_t tb   = t->bud; /* the open window counts too */
                cJSON *to            = cJSON_CreateObject(), *ov;
                tb.slide             = (sim_window_t){0};
                budget_close(b, &tb);
                over_all += tb.over;
                windows_all += tb.windows;
                cJSON_AddStringToObject(to, "fingerprint", t->fingerprint);
                cJSON_AddStringToObject(to, "token", t->value);
                cJSON_AddNumberToObject(to, "requests", (double)tb.requests);
                cJSON_AddNumberToObject(to, "windows", (double)tb.windows);
                cJSON_AddNumberToObject(to, "over_budget_windows",
                                        (double)tb.over);
                cJSON_AddNumberToObject(to, "max_window_requests",
                                        (double)tb.max_count);
                cJSON_AddNumberToObject(to, "max_sliding_requests",
                                        (double)tb.max_slide);
                ov = cJSON_AddArrayToObject(to, "over");
                for (uint64_t k = 0; k < tb.over && k < SIM_BUDGET_OVER_KEPT;
                     k++) {
                        cJSON *w = cJSON_CreateObject();
                        cJSON_AddNumberToObject(
                            w, "start_s",
                            (double)(tb.over_kept[k].index * b->window_ms) /
                                1000.0);
                        cJSON_AddNumberToObject(w, "requests",
                                                (double)tb.over_kept[k].count);
                        cJSON_AddItemToArray(ov, w);
                }
                cJSON_AddItemToArray(toks, to);
        }
        cJSON_AddNumberToObject(o, "windows", (double)windows_all);
        cJSON_AddNumberToObject(o, "over_budget_windows", (double)over_all);
        return o;
}
