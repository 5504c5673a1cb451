/* consumer/logread.c — a build log's segments read back from the logs topic
 * and checked (see logread.h). */
#include "consumer/logread.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

typedef struct lr {
        const logread_opts_t *o;
        const logseg_ref_t *ref;
        logread_write_fn *out;
        void *arg;
        EVP_MD_CTX *md;
        size_t next; /* the segment expected next */
        uint64_t bytes;
        char *errstr;
        size_t errstr_size;
} lr_t;

static rd_kafka_t *lr_consumer(const logread_opts_t *o, char *errstr,
                               size_t size) {
        static const char *const defs[] = {"enable.auto.commit",
                                           "false",
                                           "enable.partition.eof",
                                           "true",
                                           "auto.offset.reset",
                                           "error",
                                           "group.id",
                                           "bitmon-log"};
        kconf_pairs_t d                 = {defs, 4};
        rd_kafka_conf_t *conf =
            kconf_new(o->bootstrap, &d, &o->kafka, errstr, size);
        if (!conf)
                return NULL;
        if (kconf_set(conf, "isolation.level",
                      o->read_uncommitted ? "read_uncommitted"
                                          : "read_committed",
                      errstr, size) < 0) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, size);
        if (!rk)
                rd_kafka_conf_destroy(conf);
        return rk;
}

/* The value of header name as a NUL-terminated string in v. */
static int lr_header(const rd_kafka_message_t *rkm, const char *name, char *v,
                     size_t size) {
        rd_kafka_headers_t *h = NULL;
        const void *p;
        size_t n;
        if (rd_kafka_message_headers(rkm, &h) || !h ||
            rd_kafka_header_get_last(h, name, &p, &n) || n >= size)
                return -1;
        memcpy(v, p, n);
        v[n] = '\0';
        return 0;
}

static int lr_fail(lr_t *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int lr_fail(lr_t *r, int rc, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->errstr, r->errstr_size, fmt, ap);
        va_end(ap);
        return rc;
}

/* One message of the partition: a segment of ours, or skipped. */
static int lr_message(lr_t *r, const rd_kafka_message_t *rkm) {
        const logseg_ref_t *ref = r->ref;
        char idx[24], copy[32];
        if (rkm->offset < ref->offsets[r->next])
                return 0; /* another build's */
        if (rkm->offset > ref->offsets[r->next])
                return lr_fail(r, LOGREAD_INCOMPLETE,
                               "segment %zu of %zu (offset %" PRId64
                               ") is not in the topic: its transaction was "
                               "aborted or is not committed yet",
                               r->next, ref->n, ref->offsets[r->next]);
        if ((r->o->key && (rkm->key_len != strlen(r->o->key) ||
                           memcmp(rkm->key, r->o->key, rkm->key_len))) ||
            lr_header(rkm, "bitmon-segment", idx, sizeof(idx)) < 0 ||
            strtoull(idx, NULL, 10) != r->next ||
            (ref->copy[0] &&
             (lr_header(rkm, "bitmon-copy", copy, sizeof(copy)) < 0 ||
              strcmp(copy, ref->copy) != 0)))
                return lr_fail(r, LOGREAD_CORRUPT,
                               "offset %" PRId64
                               " is not segment %zu of this build's copy",
                               rkm->offset, r->next);
        if (EVP_DigestUpdate(r->md, rkm->payload, rkm->len) != 1 ||
            r->out(r->arg, rkm->payload, rkm->len) < 0)
                return lr_fail(r, LOGREAD_ERR, "cannot write the log");
        r->bytes += rkm->len;
        r->next++;
        return 0;
}

/* Whether the partition still holds what ref names. */
static int lr_watermarks(lr_t *r, rd_kafka_t *rk) {
        const logseg_ref_t *ref = r->ref;
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk, ref->topic, ref->partition, &lo, &hi, 10000);
        if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
            err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
                return lr_fail(r, LOGREAD_MISSING,
                               "no partition %d in topic %s (topics.logs)",
                               (int)ref->partition, ref->topic);
        if (err)
                return lr_fail(r, LOGREAD_ERR, "cannot read topic %s: %s",
                               ref->topic, rd_kafka_err2str(err));
        if (lo > ref->offsets[0])
                return lr_fail(
                    r, LOGREAD_EXPIRED,
                    "the log has expired: its first segment "
                    "(offset %" PRId64 ") is gone, partition %d "
                    "of %s starts at %" PRId64 " (topics.logs_retention_ms)",
                    ref->offsets[0], (int)ref->partition, ref->topic, lo);
        if (hi <= ref->offsets[ref->n - 1])
                return lr_fail(r, LOGREAD_INCOMPLETE,
                               "the log is incomplete: partition %d of %s "
                               "ends at %" PRId64 ", before its last segment "
                               "(offset %" PRId64 ")",
                               (int)ref->partition, ref->topic, hi,
                               ref->offsets[ref->n - 1]);
        return 0;
}

static int lr_consume(lr_t *r, rd_kafka_t *rk) {
        int timeout   = r->o->timeout_ms > 0 ? r->o->timeout_ms : 15000;
        int64_t until = time_mono_ms() + timeout;
        int rc        = 0;
        while (rc == 0 && r->next < r->ref->n) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                if (!m) {
                        if (time_mono_ms() > until)
                                rc = lr_fail(r, LOGREAD_INCOMPLETE,
                                             "segment %zu of %zu did not "
                                             "arrive within %d ms",
                                             r->next, r->ref->n, timeout);
                        continue;
                }
                until = time_mono_ms() + timeout;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        rc = lr_fail(r, LOGREAD_INCOMPLETE,
                                     "the log is incomplete: the partition "
                                     "ends after %zu of its %zu segments "
                                     "(the rest aborted or not committed)",
                                     r->next, r->ref->n);
                else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                         m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
                        rc = lr_fail(r, LOGREAD_EXPIRED,
                                     "the log has expired (retention "
                                     "deleted its segments): %s",
                                     rd_kafka_message_errstr(m));
                else if (m->err)
                        rc = lr_fail(r, LOGREAD_ERR, "cannot read %s: %s",
                                     r->ref->topic, rd_kafka_message_errstr(m));
                else
                        rc = lr_message(r, m);
                rd_kafka_message_destroy(m);
        }
        return rc;
}

static int lr_verify(lr_t *r) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        char hex[65];
        if (EVP_DigestFinal_ex(r->md, d, &n) != 1 || n != 32)
                return lr_fail(r, LOGREAD_ERR, "cannot hash the log");
        for (unsigned i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", d[i]);
        if (r->bytes != r->ref->bytes)
                return lr_fail(r, LOGREAD_CORRUPT,
                               "the log has %" PRIu64
                               " bytes, its reference says %" PRIu64,
                               r->bytes, r->ref->bytes);
        if (strcmp(hex, r->ref->sha256) != 0)
                return lr_fail(r, LOGREAD_CORRUPT,
                               "the log's sha256 is %s, its reference says "
                               "%s",
                               hex, r->ref->sha256);
        return 0;
}

int logread_fetch(const logread_opts_t *o, const logseg_ref_t *ref,
                  logread_write_fn *out, void *arg, char *errstr,
                  size_t errstr_size) {
        lr_t r = {o, ref, out, arg, NULL, 0, 0, errstr, errstr_size};
        rd_kafka_topic_partition_list_t *tp = NULL;
        rd_kafka_t *rk                      = NULL;
        int rc                              = LOGREAD_ERR;
        if (!ref || ref->n == 0) {
                snprintf(errstr, errstr_size, "empty log reference");
                return LOGREAD_ERR;
        }
        if (!(r.md = EVP_MD_CTX_new()) ||
            EVP_DigestInit_ex(r.md, EVP_sha256(), NULL) != 1) {
                snprintf(errstr, errstr_size, "cannot hash: out of memory");
                goto out;
        }
        if (!(rk = lr_consumer(o, errstr, errstr_size)))
                goto out;
        if ((rc = lr_watermarks(&r, rk)) != 0)
                goto out;
        tp = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(tp, ref->topic, ref->partition)
            ->offset            = ref->offsets[0];
        rd_kafka_resp_err_t err = rd_kafka_assign(rk, tp);
        if (err) {
                rc = lr_fail(&r, LOGREAD_ERR, "cannot read %s: %s", ref->topic,
                             rd_kafka_err2str(err));
                goto out;
        }
        if ((rc = lr_consume(&r, rk)) == 0)
                rc = lr_verify(&r);
out:
        if (tp)
                rd_kafka_topic_partition_list_destroy(tp);
        if (rk) {
                rd_kafka_assign(rk, NULL);
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        EVP_MD_CTX_free(r.md);
        return rc;
}
