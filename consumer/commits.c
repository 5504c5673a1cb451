/* consumer/commits.c — what the group's committed offsets say about each
 * partition, in both delivery modes: the position, and the jobs done above
 * it (consumer/txnmeta.h), so that whoever consumes a partition next skips
 * them without relying on the done markers in Redis.
 *
 * At-least-once, the consumer commits itself (auto-commit would write the
 * positions without the metadata): every auto.commit.interval.ms (bitmon's
 * default 1 s: a job finished since the last commit is only as safe as its
 * done marker) when something finished or the last commit failed,
 * synchronously on revoke and at close. Exactly-once,
 * the same list goes into the producer's transaction (consumer/txn.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "consumer/consumer_int.h"

#define FAC            "consumer"
#define COMMIT_WARN_MS 5000 /* "commit failed" at most this often */

static commit_part_t *cpart(consumer_t *c, int32_t part, bool create) {
        if (part < 0 || part >= OFFSETS_MAX_PARTITION)
                return NULL;
        if ((size_t)part >= c->n_cparts) {
                if (!create)
                        return NULL;
                size_t n         = (size_t)part + 1;
                commit_part_t *t = realloc(c->cparts, n * sizeof(*t));
                if (!t)
                        return NULL;
                for (size_t i = c->n_cparts; i < n; i++)
                        t[i] = (commit_part_t){.pos = -1};
                c->cparts   = t;
                c->n_cparts = n;
        }
        return &c->cparts[part];
}

static void cpart_clear(commit_part_t *t) {
        free(t->meta);
        free(t->skip);
        *t = (commit_part_t){.pos = -1};
}

/* (Re)arms the skip runs of the committed metadata: after an assignment
 * and after a rewind, the done offsets above the position come again. */
static void cpart_rearm(commit_part_t *t) {
        free(t->skip);
        t->skip     = NULL;
        t->n_skip   = 0;
        t->skip_idx = 0;
        if (t->meta && t->pos >= 0 &&
            txnmeta_decode(t->meta, strlen(t->meta), t->pos, &t->skip,
                           &t->n_skip) < 0)
                LOG_WARN(FAC, "ignoring commit metadata that is not bitmon's "
                              "(nothing skipped)");
}

/* Records what is committed for a partition (where an abort rewinds to);
 * with `arm`, also what to skip above it from now on (at assignment; after
 * a commit the skip runs still to come stay as they are: the commit's
 * metadata carries them on). */
static void cpart_set(commit_part_t *t, int64_t pos, const char *meta,
                      size_t len, bool arm) {
        free(t->meta);
        t->meta = NULL;
        t->pos  = pos;
        if (meta && len) {
                t->meta = malloc(len + 1);
                if (t->meta) {
                        memcpy(t->meta, meta, len);
                        t->meta[len] = '\0';
                }
        }
        if (arm)
                cpart_rearm(t);
}

void commits_forget(consumer_t *c, int32_t part) {
        commit_part_t *t = cpart(c, part, false);
        if (t)
                cpart_clear(t);
}

void commits_release(consumer_t *c) {
        for (size_t i = 0; i < c->n_cparts; i++)
                cpart_clear(&c->cparts[i]);
        free(c->cparts);
        c->cparts   = NULL;
        c->n_cparts = 0;
}

void commits_assigned(consumer_t *c,
                      const rd_kafka_topic_partition_list_t *parts) {
        /* Leaving the group: nothing more is consumed, and the blocking
         * read would spend the shutdown's time (a rebalance while we leave
         * still assigns). */
        if (c->closing)
                return;
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_copy(parts);
        rd_kafka_resp_err_t err = rd_kafka_committed(c->rk, l, 10000);
        if (err)
                LOG_WARN(FAC,
                         "cannot read the committed offsets of the assigned "
                         "partitions (jobs done above them may be reported "
                         "again): %s",
                         rd_kafka_err2str(err));
        for (int i = 0; i < l->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &l->elems[i];
                commit_part_t *t;
                if (strcmp(tp->topic, c->topic_jobs) != 0 ||
                    !(t = cpart(c, tp->partition, true)))
                        continue;
                cpart_set(t, err || tp->err || tp->offset < 0 ? -1 : tp->offset,
                          tp->metadata, tp->metadata_size, true);
                if (t->n_skip)
                        LOG_INFO(FAC,
                                 "partition assigned with jobs done above its "
                                 "position partition=%" PRId32
                                 " position=%" PRId64 " done_runs=%zu",
                                 tp->partition, t->pos, t->n_skip);
        }
        rd_kafka_topic_partition_list_destroy(l);
}

int commits_consumed(consumer_t *c, int32_t part, int64_t off) {
        commit_part_t *t = cpart(c, part, true);
        if (!t)
                return 0;
        if (t->pos < 0) /* nothing committed: an abort rewinds to here */
                t->pos = off;
        return t->n_skip &&
               txnmeta_contains(t->skip, t->n_skip, &t->skip_idx, off);
}

struct collect {
        consumer_t *c;
        rd_kafka_topic_partition_list_t *l;
};

static void collect_pos(int32_t part, int64_t pos, void *ctx) {
        struct collect *col = ctx;
        char meta[TXNMETA_MAX + 1];
        const commit_part_t *t = cpart(col->c, part, false);
        size_t len             = txnmeta_encode(
                        col->c->offsets, part, t ? t->skip + t->skip_idx : NULL,
            t ? t->n_skip - t->skip_idx : 0, meta, sizeof(meta));
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_add(col->l, col->c->topic_jobs, part);
        tp->offset = pos;
        if (len) {
                tp->metadata = malloc(len);
                if (tp->metadata) { /* freed with the list */
                        memcpy(tp->metadata, meta, len);
                        tp->metadata_size = len;
                }
        }
}

rd_kafka_topic_partition_list_t *commits_list(consumer_t *c) {
        struct collect col = {c, rd_kafka_topic_partition_list_new(8)};
        offsets_foreach(c->offsets, collect_pos, &col);
        return col.l;
}

void commits_committed(consumer_t *c,
                       const rd_kafka_topic_partition_list_t *l) {
        for (int i = 0; l && i < l->cnt; i++) {
                commit_part_t *t = cpart(c, l->elems[i].partition, true);
                if (t)
                        cpart_set(t, l->elems[i].offset, l->elems[i].metadata,
                                  l->elems[i].metadata_size, false);
        }
}

int64_t commits_rewind(consumer_t *c, int32_t part) {
        commit_part_t *t = cpart(c, part, false);
        if (!t || t->pos < 0)
                return -1;
        cpart_rearm(t);
        return t->pos;
}

/* ---- at-least-once: the consumer's own commits ---- */

void commits_result(consumer_t *c, rd_kafka_resp_err_t err) {
        if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return;
        c->commit_dirty = true; /* the next tick tries again */
        if (time_mono_ms() - c->commit_warned >= COMMIT_WARN_MS) {
                c->commit_warned = time_mono_ms();
                LOG_WARN(FAC,
                         "cannot commit offsets (finished jobs stay "
                         "uncommitted until the next commit): %s",
                         rd_kafka_err2str(err));
        }
}

/* A commit of the positions and done runs: async (the result comes to the
 * offset_commit callback, on the consumer thread) or sync. */
static rd_kafka_resp_err_t commit(consumer_t *c, int async) {
        rd_kafka_topic_partition_list_t *l = commits_list(c);
        rd_kafka_resp_err_t err            = RD_KAFKA_RESP_ERR__NO_OFFSET;
        if (l->cnt > 0)
                err = rd_kafka_commit(c->rk, l, async);
        rd_kafka_topic_partition_list_destroy(l);
        c->commit_dirty = false;
        c->commit_last  = time_mono_ms();
        return err;
}

void commits_tick(consumer_t *c) {
        if (!c->commit_dirty ||
            time_mono_ms() - c->commit_last < c->commit_interval_ms)
                return;
        rd_kafka_resp_err_t err = commit(c, 1);
        if (err) /* not sent at all; the callback reports the rest */
                commits_result(c, err);
}

rd_kafka_resp_err_t commits_now(consumer_t *c) {
        rd_kafka_resp_err_t err = commit(c, 0);
        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return RD_KAFKA_RESP_ERR_NO_ERROR;
        if (err)
                c->commit_dirty = true;
        return err;
}
