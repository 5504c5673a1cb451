/* workers/logcopy.c — the tee from a raw log download into the logs topic,
 * with pause and resume on the loop (see logcopy.h). */
#include "workers/logcopy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define LOGCOPY_RESUME_MS 5 /* a paused transfer is offered again after */
#define LOGCOPY_POLL_MS   2 /* settling: acknowledgements looked at every */

struct logcopy {
        const logcopy_opts_t *o; /* borrowed: its counters */
        int counted;             /* the copy's end is counted */
        loop_t *loop;
        CURL *easy; /* borrowed from the request */
        logseg_t *seg;
        loop_timer_t *timer;
        int paused;
        int finished; /* the last segment is sent */
        char sha256[65];
        int truncated;
        logcopy_done_fn *fn;
        void *arg;
};

/* One copy ends (stored: rc 0); counted once. */
static void lc_count(logcopy_t *c, int rc) {
        if (c->counted)
                return;
        c->counted = 1;
        metrics_counter_inc(rc == 0 ? c->o->stored : c->o->failed);
        if (rc == 0)
                metrics_counter_add(c->o->bytes, logseg_bytes(c->seg));
}

static void lc_resume(void *arg) {
        logcopy_t *c = arg;
        c->paused    = 0;
        curl_easy_pause(c->easy, CURLPAUSE_CONT); /* may pause again */
}

/* On the transfer's write callback: the bytes the parser will take. */
static int lc_tee(void *arg, const void *data, size_t len, char *msg) {
        logcopy_t *c = arg;
        char e[BITRISE_TEE_MSG];
        int rc = logseg_write(c->seg, data, len, e, sizeof(e));
        if (rc < 0) {
                snprintf(msg, BITRISE_TEE_MSG, "%s", e);
                lc_count(c, rc);
        }
        if (rc == LOGSEG_BUSY) {
                if (!c->paused) {
                        c->paused = 1;
                        loop_timer_start(c->timer, LOGCOPY_RESUME_MS, lc_resume,
                                         c);
                }
                return BITRISE_TEE_PAUSE;
        }
        return rc == 0 ? 0 : -1;
}

logcopy_t *logcopy_start(const logcopy_opts_t *o, loop_t *loop,
                         bitrise_req_t *br, const char *app_slug,
                         const char *build_slug, char *errstr,
                         size_t errstr_size) {
        logcopy_t *c = calloc(1, sizeof(*c));
        if (!c)
                goto oom;
        logseg_opts_t so = {
            .producer      = o->producer,
            .topic         = o->topic,
            .app_slug      = app_slug,
            .build_slug    = build_slug,
            .segment_bytes = o->segment_bytes,
            .max_in_flight = o->max_in_flight,
            .shared_bytes  = o->in_flight,
            .shared_max    = o->in_flight_max,
            .epoch         = producer_transactional(o->producer)
                                 ? producer_txn_epoch(o->producer)
                                 : PRODUCER_EPOCH_ANY,
        };
        c->o    = o;
        c->loop = loop;
        c->easy = bitrise_req_easy(br);
        if (!(c->seg = logseg_new(&so)) || !(c->timer = loop_timer_new(loop)))
                goto oom;
        bitrise_req_raw_log_tee(br, lc_tee, c);
        return c;
oom:
        logcopy_destroy(c);
        snprintf(errstr, errstr_size, "cannot copy the log: out of memory");
        return NULL;
}

static void lc_settle_step(void *arg) {
        logcopy_t *c  = arg;
        char msg[200] = "";
        int rc        = 0;
        if (!c->finished) {
                rc = logseg_finish(c->seg, c->sha256, c->truncated, msg,
                                   sizeof(msg));
                c->finished = rc == 0;
        }
        if (rc == 0)
                rc = logseg_poll(c->seg, msg, sizeof(msg));
        if (rc == LOGSEG_BUSY) {
                loop_timer_start(c->timer, LOGCOPY_POLL_MS, lc_settle_step, c);
                return;
        }
        lc_count(c, rc);
        c->fn(c->arg, rc, msg);
}

void logcopy_settle(logcopy_t *c, const logparse_t *lp, logcopy_done_fn *fn,
                    void *arg) {
        snprintf(c->sha256, sizeof(c->sha256), "%s",
                 logparse_sha256(lp) ? logparse_sha256(lp) : "");
        c->truncated = logparse_truncated(lp);
        c->fn        = fn;
        c->arg       = arg;
        loop_timer_start(c->timer, 0, lc_settle_step, c);
}

logseg_ref_t *logcopy_ref_take(logcopy_t *c) {
        return logseg_ref_take(c->seg);
}

void logcopy_destroy(logcopy_t *c) {
        if (!c)
                return;
        loop_timer_free(c->timer);
        logseg_destroy(c->seg);
        free(c);
}

/* ---- references by payload ---------------------------------------------- */

typedef struct lc_entry {
        const void *payload;
        logseg_ref_t *ref;
} lc_entry_t;

struct logcopy_refs {
        lc_entry_t *e;
        size_t n, cap;
};

logcopy_refs_t *logcopy_refs_new(void) {
        return calloc(1, sizeof(logcopy_refs_t));
}

void logcopy_refs_destroy(logcopy_refs_t *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++)
                logseg_ref_free(t->e[i].ref);
        free(t->e);
        free(t);
}

int logcopy_refs_put(logcopy_refs_t *t, const void *payload,
                     logseg_ref_t *ref) {
        if (t->n == t->cap) {
                size_t cap = t->cap ? 2 * t->cap : 8;
                void *p    = realloc(t->e, cap * sizeof(*t->e));
                if (!p) {
                        logseg_ref_free(ref);
                        return -1;
                }
                t->e   = p;
                t->cap = cap;
        }
        t->e[t->n++] = (lc_entry_t){payload, ref};
        return 0;
}

const logseg_ref_t *logcopy_refs_get(const logcopy_refs_t *t,
                                     const void *payload) {
        for (size_t i = 0; t && i < t->n; i++)
                if (t->e[i].payload == payload)
                        return t->e[i].ref;
        return NULL;
}

void logcopy_refs_drop(logcopy_refs_t *t, const void *payload) {
        for (size_t i = 0; t && i < t->n; i++)
                if (t->e[i].payload == payload) {
                        logseg_ref_free(t->e[i].ref);
                        t->e[i] = t->e[--t->n];
                        return;
                }
}
