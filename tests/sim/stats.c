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
        toks = cJSON_AddArrayToObject(o, "tokens");
        for (size_t i = 0; i < sim->n_tokens; i++) {
                const sim_token_t *t = sim->tokens[i];
                int64_t w = t->quota.limit ? (int64_t)t->quota.window_s * 1000
                                           : sim->stats_window_ms;
                cJSON_AddItemToArray(toks, token_json(t, w));
        }
        return o;
}
