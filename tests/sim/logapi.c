/* tests/sim/logapi.c — GET /apps/{app}/builds/{build}/log.
 *
 * Running: is_archived false and the newest complete chunks (chunk i covers
 * bytes [i*C, (i+1)*C), moved back to a UTF-8 boundary), each stamped with the
 * time the build wrote its last byte; after_timestamp / before_timestamp page.
 * Finished: not archived (all chunks) until archive_lag has passed, then
 * archived with no chunks and a signed raw URL valid url_valid_s.
 */
#include "tests/sim/http.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rand.h"
#include "common/timeutil.h"

#define ZERO_TIME "0001-01-01T00:00:00Z"

typedef struct chunker {
        const sim_loglayout_t *l;
        int64_t size;
        int64_t start_ms, end_ms; /* the running phase as planned */
        int64_t finished_ms;      /* 0 while running; earlier than end_ms when
                                     finished early */
        int64_t chunk;
} chunker_t;

static int64_t chunk_off(const chunker_t *k, int64_t i) {
        int64_t off = i * k->chunk;
        if (off <= 0)
                return 0;
        if (off >= k->size)
                return k->size;
        for (int back = 0; back < 3; back++) {
                char ch;
                if (sim_loglayout_read(k->l, off, &ch, 1) != 1 ||
                    ((unsigned char)ch & 0xc0) != 0x80)
                        break;
                off--;
        }
        return off;
}

/* When chunk i was complete (simulated ms): its share of the planned running
 * time, capped at the finish when the admin API finished the build early (so
 * chunks already served keep their times). */
static int64_t chunk_time(const chunker_t *k, int64_t i) {
        int64_t end = chunk_off(k, i + 1), t = k->end_ms;
        if (k->size > 0)
                t = k->start_ms + (int64_t)((double)(k->end_ms - k->start_ms) *
                                            (double)end / (double)k->size);
        if (t > k->end_ms)
                t = k->end_ms;
        if (k->finished_ms && t > k->finished_ms)
                t = k->finished_ms;
        return t;
}

/* First chunk index in [0, n) whose time is > ts (strict) or >= ts. */
static int64_t first_after(const chunker_t *k, int64_t n, int64_t ts,
                           bool strict) {
        int64_t lo = 0, hi = n;
        while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                int64_t t   = chunk_time(k, mid);
                if (strict ? t > ts : t >= ts)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return lo;
}

static int64_t ts_arg(sim_arg_fn arg, void *ctx, const char *key, int *bad) {
        const char *s = arg(ctx, key);
        int64_t ms    = 0;
        if (s && *s && time_rfc3339_parse(s, &ms) < 0)
                *bad = 1;
        return ms;
}

static void add_ts(cJSON *o, const char *key, int64_t ms) {
        char buf[40];
        cJSON_AddStringToObject(
            o, key,
            ms ? time_rfc3339_format(ms, 1, buf, sizeof(buf)) : ZERO_TIME);
}

static cJSON *chunk_item(const chunker_t *k, const sim_chunking_t *cfg,
                         int64_t i) {
        int64_t a = chunk_off(k, i), b = chunk_off(k, i + 1);
        char *text = malloc((size_t)(b - a) + 1);
        cJSON *c   = cJSON_CreateObject();
        if (text) {
                size_t n = sim_loglayout_read(k->l, a, text, (size_t)(b - a));
                text[n]  = '\0';
                cJSON_AddStringToObject(c, "chunk", text);
                free(text);
        }
        int64_t pos =
            cfg->first_position + i + (int64_t)((double)i * cfg->gap_share);
        cJSON_AddNumberToObject(c, "position", (double)pos);
        return c;
}

/* The chunks [lo, hi) in the configured order, with repeats. */
static cJSON *chunk_list(const chunker_t *k, const sim_chunking_t *cfg,
                         int64_t lo, int64_t hi) {
        cJSON *arr   = cJSON_CreateArray();
        int64_t n    = hi - lo;
        int64_t *idx = malloc(sizeof(*idx) * (size_t)(n > 0 ? n : 1));
        if (!idx)
                return arr;
        for (int64_t j = 0; j < n; j++)
                idx[j] = cfg->order == 1 ? hi - 1 - j : lo + j;
        if (cfg->order == 2)
                for (int64_t j = n - 1; j > 0; j--) {
                        int64_t r = (int64_t)(rand_u64() % (uint64_t)(j + 1)),
                                t = idx[j];
                        idx[j]    = idx[r];
                        idx[r]    = t;
                }
        for (int64_t j = 0; j < n; j++) {
                cJSON_AddItemToArray(arr, chunk_item(k, cfg, idx[j]));
                if (cfg->repeat_share > 0 && rand_unit() < cfg->repeat_share)
                        cJSON_AddItemToArray(arr, chunk_item(k, cfg, idx[j]));
        }
        free(idx);
        return arr;
}

/* How many chunks exist now (n), and which of them this request gets
 * ([lo, hi)): after_timestamp pages forward, before_timestamp back, neither
 * gives the newest. */
static void chunk_window(const chunker_t *k, const sim_chunking_t *cfg,
                         const sim_build_t *b, const sim_state_t *st,
                         int64_t now, int64_t after, int64_t before, int64_t *n,
                         int64_t *lo, int64_t *hi) {
        *n = *lo = *hi = 0;
        if (st->status != 0) {
                *n = (k->size + k->chunk - 1) / k->chunk;
        } else if (!st->on_hold && b->running_ms > 0) {
                double frac =
                    (double)(now - k->start_ms) / (double)b->running_ms;
                int64_t avail = (int64_t)(frac * (double)k->size);
                *n = avail / k->chunk; /* only complete chunks while running */
                while (*n > 0 && chunk_off(k, *n) > avail)
                        (*n)--;
        }
        if (after) {
                *lo = first_after(k, *n, after, true);
                *hi = *lo + cfg->max_chunks < *n ? *lo + cfg->max_chunks : *n;
        } else {
                *hi = before ? first_after(k, *n, before, false) : *n;
                *lo = *hi > cfg->max_chunks ? *hi - cfg->max_chunks : 0;
        }
}

static void add_raw_url(cJSON *o, sim_t *sim, const sim_build_t *b,
                        int64_t now) {
        char url[512], sig[33];
        long long exp = (long long)((now + b->url_valid_ms) / 1000);
        sim_raw_sign(sim, b->app, b->slug, exp, sig);
        pthread_mutex_lock(&sim->lock);
        snprintf(url, sizeof(url), "%s/raw/%s/%s?expires=%lld&sig=%s",
                 sim->base_url, b->app, b->slug, exp, sig);
        pthread_mutex_unlock(&sim->lock);
        cJSON_AddStringToObject(o, "expiring_raw_log_url", url);
}

void sim_log_info(sim_t *sim, const sim_build_t *b, const sim_state_t *st,
                  int64_t now, sim_arg_fn arg, void *ctx, sim_reply_t *r) {
        int bad        = 0;
        int64_t after  = ts_arg(arg, ctx, "after_timestamp", &bad);
        int64_t before = ts_arg(arg, ctx, "before_timestamp", &bad);
        int64_t n, lo, hi, start = b->triggered_ms + b->on_hold_ms;
        if (bad) {
                sim_reply_message(r, 400,
                                  "invalid timestamp: expected RFC 3339");
                return;
        }
        if (now < b->triggered_ms + b->log_404_ms) {
                sim_reply_message(r, 404, "Not Found");
                return;
        }
        sim_build_t eb = *b;
        sim_build_effective(&eb, st);
        sim_loglayout_t *l = sim_loglayout_get(sim->logcache, &eb, st);
        if (!l) {
                sim_reply_message(r, 500, "out of memory");
                return;
        }
        chunker_t k = {l,
                       sim_loglayout_size(l),
                       start,
                       start + b->running_ms,
                       st->finished_ms,
                       sim->chunking.chunk_bytes};
        bool archived =
            st->status != 0 &&
            (b->log_deleted || now >= st->finished_ms + b->archive_lag_ms);
        chunk_window(&k, &sim->chunking, b, st, now, after, before, &n, &lo,
                     &hi);
        if (archived)
                lo = hi = 0;
        cJSON *o = cJSON_CreateObject();
        if (archived && !b->log_deleted)
                add_raw_url(o, sim, b, now);
        else
                cJSON_AddNullToObject(o, "expiring_raw_log_url");
        cJSON_AddNumberToObject(o, "generated_log_chunks_num", (double)n);
        cJSON_AddBoolToObject(o, "is_archived", archived);
        cJSON_AddItemToObject(o, "log_chunks",
                              chunk_list(&k, &sim->chunking, lo, hi));
        add_ts(o, "next_before_timestamp",
               lo > 0 && hi > lo ? chunk_time(&k, lo) : 0);
        add_ts(o, "next_after_timestamp",
               hi > lo ? chunk_time(&k, hi - 1) : after);
        sim_loglayout_release(l);
        sim_reply_json(r, 200, o);
}
