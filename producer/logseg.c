/* producer/logseg.c — a raw log to the logs topic, segment by segment, while
 * it streams (see logseg.h). */
#include "producer/logseg.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rand.h"

#define LOGSEG_DEF_BYTES     (512 * 1024)
#define LOGSEG_DEF_IN_FLIGHT 4

struct logseg {
        pthread_mutex_t mu; /* refs, acked, failed, err, offsets, part */
        int refs;           /* the owner + one per segment on its way */
        producer_t *producer;
        char *topic, *key;
        size_t key_len;
        size_t seg;
        int max_in_flight;
        int64_t epoch;
        _Atomic int64_t *shared; /* opts.shared_bytes, may be NULL */
        int64_t shared_max;
        int64_t mine; /* of shared: this writer's bytes on their way */
        char copy[17];
        unsigned char *buf; /* the segment being filled (and what follows) */
        size_t len, cap;
        uint64_t bytes;   /* written */
        size_t sent;      /* segments produced */
        size_t acked;     /* ... acknowledged */
        int finished;     /* the last one is sent */
        int failed;       /* under mu */
        char err[200];    /* under mu */
        int64_t *offsets; /* [sent], filled by acks; under mu */
        size_t cap_off;
        int32_t part; /* -1 until the first ack */
        char sha256[65];
        int truncated;
};

typedef struct seg_ack {
        logseg_t *s;
        size_t idx;
        size_t len;
} seg_ack_t;

static void seg_unref(logseg_t *s) {
        pthread_mutex_lock(&s->mu);
        int last = --s->refs == 0;
        pthread_mutex_unlock(&s->mu);
        if (!last)
                return;
        pthread_mutex_destroy(&s->mu);
        free(s->topic);
        free(s->key);
        free(s->buf);
        free(s->offsets);
        free(s);
}

logseg_t *logseg_new(const logseg_opts_t *o) {
        logseg_t *s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        pthread_mutex_init(&s->mu, NULL);
        s->refs     = 1;
        s->producer = o->producer;
        s->seg      = o->segment_bytes ? o->segment_bytes : LOGSEG_DEF_BYTES;
        s->max_in_flight =
            o->max_in_flight > 0 ? o->max_in_flight : LOGSEG_DEF_IN_FLIGHT;
        s->epoch      = o->epoch;
        s->shared     = o->shared_bytes;
        s->shared_max = o->shared_max;
        s->part       = -1;
        snprintf(s->copy, sizeof(s->copy), "%016" PRIx64, rand_u64());
        s->key_len = strlen(o->app_slug) + 1 + strlen(o->build_slug);
        s->topic   = strdup(o->topic);
        s->key     = malloc(s->key_len + 1);
        s->cap     = 16 * 1024; /* grows to a segment and a write */
        s->buf     = malloc(s->cap);
        if (!s->topic || !s->key || !s->buf) {
                seg_unref(s);
                return NULL;
        }
        snprintf(s->key, s->key_len + 1, "%s/%s", o->app_slug, o->build_slug);
        return s;
}

void logseg_destroy(logseg_t *s) {
        if (s)
                seg_unref(s);
}

/* Delivery report of one segment (producer poll thread). */
static void seg_on_ack(void *ctx, int32_t part, int64_t off,
                       rd_kafka_resp_err_t err) {
        seg_ack_t *a = ctx;
        logseg_t *s  = a->s;
        pthread_mutex_lock(&s->mu);
        if (err && !s->failed) {
                s->failed = 1;
                snprintf(s->err, sizeof(s->err), "segment %zu not stored: %s",
                         a->idx, rd_kafka_err2str(err));
        } else if (!err && s->part >= 0 && part != s->part && !s->failed) {
                s->failed = 1;
                snprintf(s->err, sizeof(s->err),
                         "segment %zu went to partition %d, not %d (were "
                         "partitions added?)",
                         a->idx, (int)part, (int)s->part);
        }
        if (!err) {
                s->part            = part;
                s->offsets[a->idx] = off;
        }
        s->acked++;
        s->mine -= (int64_t)a->len;
        if (s->shared)
                atomic_fetch_sub(s->shared, (int64_t)a->len);
        pthread_mutex_unlock(&s->mu);
        free(a);
        seg_unref(s);
}

static int seg_failed(logseg_t *s, char *errstr, size_t errstr_size) {
        pthread_mutex_lock(&s->mu);
        int f = s->failed;
        if (f)
                snprintf(errstr, errstr_size, "%s", s->err);
        pthread_mutex_unlock(&s->mu);
        return f;
}

/* A segment counted as on its way was not sent after all. */
static void seg_unsend(logseg_t *s, size_t len) {
        pthread_mutex_lock(&s->mu);
        s->mine -= (int64_t)len;
        pthread_mutex_unlock(&s->mu);
        if (s->shared)
                atomic_fetch_sub(s->shared, (int64_t)len);
        seg_unref(s);
}

/* Room for one more segment of len bytes on its way (1), counted as on
 * its way then, with *grown = 0 when the offsets could not grow. */
static int seg_reserve(logseg_t *s, size_t len, int *grown) {
        pthread_mutex_lock(&s->mu);
        int room = (int)(s->sent - s->acked) < s->max_in_flight;
        /* the process's budget; a writer with nothing on its way may always
         * send one, so every copy makes progress */
        if (room && s->shared && s->mine > 0 &&
            atomic_load(s->shared) + (int64_t)len > s->shared_max)
                room = 0;
        if (room && s->sent == s->cap_off) {
                size_t cap = s->cap_off ? 2 * s->cap_off : 16;
                void *p    = realloc(s->offsets, cap * sizeof(*s->offsets));
                if (p) {
                        s->offsets = p;
                        s->cap_off = cap;
                }
        }
        int fits = s->sent < s->cap_off;
        if (room && fits) {
                s->refs++; /* the segment's ack holds one */
                s->mine += (int64_t)len;
                if (s->shared)
                        atomic_fetch_add(s->shared, (int64_t)len);
        }
        pthread_mutex_unlock(&s->mu);
        *grown = fits;
        return room;
}

/* Produces the first `len` bytes of buf as segment number s->sent. */
static int seg_send(logseg_t *s, size_t len, int last, char *errstr,
                    size_t errstr_size) {
        char idx[24], cnt[24], bytes[24];
        producer_header_t h[7] = {
            {"bitmon-build", s->key, s->key_len},
            {"bitmon-copy", s->copy, strlen(s->copy)},
            {"bitmon-segment", idx, 0},
            {"bitmon-segments", cnt, 0},
            {"bitmon-sha256", s->sha256, 64},
            {"bitmon-bytes", bytes, 0},
            {"bitmon-truncated", s->truncated ? "true" : "false",
             s->truncated ? 4 : 5},
        };
        h[2].len = (size_t)snprintf(idx, sizeof(idx), "%zu", s->sent);
        h[3].len = (size_t)snprintf(cnt, sizeof(cnt), "%zu", s->sent + 1);
        h[5].len = (size_t)snprintf(bytes, sizeof(bytes), "%" PRIu64, s->bytes);
        int grown, room = seg_reserve(s, len, &grown);
        if (!room)
                return LOGSEG_BUSY;
        seg_ack_t *a = grown ? malloc(sizeof(*a)) : NULL;
        if (!a) {
                if (grown)
                        seg_unsend(s, len);
                snprintf(errstr, errstr_size, "out of memory");
                return LOGSEG_FAILED;
        }
        *a                 = (seg_ack_t){s, s->sent, len};
        producer_ack_t ack = {seg_on_ack, a, PRODUCER_ACK_WHERE, 0};
        int rc = producer_send_for(s->producer, s->epoch, s->topic, s->key,
                                   s->key_len, s->buf, len, h, last ? 7 : 3,
                                   &ack, 0, errstr, errstr_size);
        if (rc != 0) {
                free(a);
                seg_unsend(s, len);
                if (rc == PRODUCER_ERR_TRANSIENT || rc == PRODUCER_ERR_WAIT)
                        return LOGSEG_BUSY;
                return LOGSEG_FAILED;
        }
        s->sent++;
        memmove(s->buf, s->buf + len, s->len - len);
        s->len -= len;
        return 0;
}

/* Sends every full segment that has a byte after it. */
static int seg_flush(logseg_t *s, char *errstr, size_t errstr_size) {
        while (s->len > s->seg) {
                int rc = seg_send(s, s->seg, 0, errstr, errstr_size);
                if (rc != 0)
                        return rc;
        }
        return 0;
}

int logseg_write(logseg_t *s, const void *data, size_t len, char *errstr,
                 size_t errstr_size) {
        if (seg_failed(s, errstr, errstr_size))
                return LOGSEG_FAILED;
        int rc = seg_flush(s, errstr, errstr_size);
        if (rc != 0)
                return rc;
        if (s->len + len > s->cap) { /* most logs stay small */
                size_t cap =
                    s->cap * 2 > s->len + len ? s->cap * 2 : s->len + len;
                void *p = realloc(s->buf, cap);
                if (!p) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return LOGSEG_FAILED;
                }
                s->buf = p;
                s->cap = cap;
        }
        memcpy(s->buf + s->len, data, len);
        s->len += len;
        s->bytes += len;
        rc = seg_flush(s, errstr, errstr_size);
        return rc == LOGSEG_FAILED ? rc : 0; /* taken; a busy flush waits */
}

int logseg_finish(logseg_t *s, const char *sha256, int truncated, char *errstr,
                  size_t errstr_size) {
        if (seg_failed(s, errstr, errstr_size))
                return LOGSEG_FAILED;
        if (s->finished)
                return 0;
        snprintf(s->sha256, sizeof(s->sha256), "%s", sha256 ? sha256 : "");
        if (strlen(s->sha256) != 64) {
                snprintf(errstr, errstr_size, "no sha256 of the log");
                return LOGSEG_FAILED;
        }
        s->truncated = truncated != 0;
        int rc       = seg_flush(s, errstr, errstr_size);
        if (rc == 0)
                rc = seg_send(s, s->len, 1, errstr, errstr_size);
        if (rc == 0)
                s->finished = 1;
        return rc;
}

int logseg_poll(logseg_t *s, char *errstr, size_t errstr_size) {
        if (seg_failed(s, errstr, errstr_size))
                return LOGSEG_FAILED;
        if (!s->finished)
                return LOGSEG_BUSY;
        pthread_mutex_lock(&s->mu);
        int done = s->acked == s->sent;
        pthread_mutex_unlock(&s->mu);
        if (!done)
                return LOGSEG_BUSY;
        if (producer_transactional(s->producer) &&
            s->epoch != PRODUCER_EPOCH_ANY &&
            producer_txn_epoch(s->producer) != s->epoch) {
                snprintf(errstr, errstr_size,
                         "a transaction was aborted while the log was "
                         "stored (its segments are gone)");
                return LOGSEG_FAILED;
        }
        return 0;
}

uint64_t logseg_bytes(const logseg_t *s) {
        return s->bytes;
}

logseg_ref_t *logseg_ref_take(logseg_t *s) {
        logseg_ref_t *r = calloc(1, sizeof(*r));
        if (!r || !(r->topic = strdup(s->topic)) ||
            !(r->offsets = malloc(s->sent * sizeof(*r->offsets)))) {
                logseg_ref_free(r);
                return NULL;
        }
        pthread_mutex_lock(&s->mu);
        memcpy(r->offsets, s->offsets, s->sent * sizeof(*r->offsets));
        r->partition = s->part;
        pthread_mutex_unlock(&s->mu);
        r->n         = s->sent;
        r->bytes     = s->bytes;
        r->truncated = s->truncated;
        memcpy(r->sha256, s->sha256, sizeof(r->sha256));
        memcpy(r->copy, s->copy, sizeof(r->copy));
        return r;
}

void logseg_ref_free(logseg_ref_t *ref) {
        if (!ref)
                return;
        free(ref->topic);
        free(ref->offsets);
        free(ref);
}

cJSON *logseg_ref_to_json(const logseg_ref_t *r) {
        cJSON *o = cJSON_CreateObject(), *offs;
        if (!o || !cJSON_AddStringToObject(o, "topic", r->topic) ||
            !cJSON_AddNumberToObject(o, "partition", r->partition) ||
            !(offs = cJSON_AddArrayToObject(o, "offsets")))
                goto fail;
        for (size_t i = 0; i < r->n; i++) {
                cJSON *n = cJSON_CreateNumber((double)r->offsets[i]);
                if (!n || !cJSON_AddItemToArray(offs, n)) {
                        cJSON_Delete(n);
                        goto fail;
                }
        }
        if (!cJSON_AddNumberToObject(o, "segments", (double)r->n) ||
            !cJSON_AddNumberToObject(o, "bytes", (double)r->bytes) ||
            !cJSON_AddStringToObject(o, "sha256", r->sha256) ||
            !cJSON_AddBoolToObject(o, "truncated", r->truncated) ||
            !cJSON_AddStringToObject(o, "copy", r->copy))
                goto fail;
        return o;
fail:
        cJSON_Delete(o);
        return NULL;
}

static int ref_num(const cJSON *o, const char *k, double lo, double hi,
                   double *out) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
        if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
                return -1;
        *out = v->valuedouble;
        return 0;
}

logseg_ref_t *logseg_ref_from_json(const cJSON *o, char *errstr,
                                   size_t errstr_size) {
        const cJSON *topic = cJSON_GetObjectItemCaseSensitive(o, "topic");
        const cJSON *offs  = cJSON_GetObjectItemCaseSensitive(o, "offsets");
        const cJSON *sha   = cJSON_GetObjectItemCaseSensitive(o, "sha256");
        const cJSON *copy  = cJSON_GetObjectItemCaseSensitive(o, "copy");
        const cJSON *tr    = cJSON_GetObjectItemCaseSensitive(o, "truncated");
        double part, bytes, n;
        logseg_ref_t *r = NULL;
        if (!cJSON_IsObject(o) || !cJSON_IsString(topic) ||
            !cJSON_IsArray(offs) || !cJSON_IsString(sha) ||
            strlen(sha->valuestring) != 64 || !cJSON_IsBool(tr) ||
            ref_num(o, "partition", 0, INT32_MAX, &part) < 0 ||
            ref_num(o, "bytes", 0, 9e15, &bytes) < 0 ||
            ref_num(o, "segments", 1, 1e9, &n) < 0 ||
            (size_t)n != (size_t)cJSON_GetArraySize(offs)) {
                snprintf(errstr, errstr_size,
                         "not a log reference (log.full): topic, partition, "
                         "offsets, segments, bytes, sha256 or truncated "
                         "missing or wrong");
                return NULL;
        }
        if (!(r = calloc(1, sizeof(*r))) ||
            !(r->topic = strdup(topic->valuestring)) ||
            !(r->offsets = malloc((size_t)n * sizeof(*r->offsets)))) {
                logseg_ref_free(r);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, offs) {
                if (!cJSON_IsNumber(it) || it->valuedouble < 0) {
                        logseg_ref_free(r);
                        snprintf(errstr, errstr_size,
                                 "log reference: bad offset");
                        return NULL;
                }
                r->offsets[r->n++] = (int64_t)it->valuedouble;
        }
        r->partition = (int32_t)part;
        r->bytes     = (uint64_t)bytes;
        r->truncated = cJSON_IsTrue(tr);
        snprintf(r->sha256, sizeof(r->sha256), "%s", sha->valuestring);
        if (cJSON_IsString(copy))
                snprintf(r->copy, sizeof(r->copy), "%s", copy->valuestring);
        return r;
}
