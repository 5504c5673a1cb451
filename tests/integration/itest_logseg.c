/* Integration tests of a log's copy in the logs topic (producer/logseg.h,
 * consumer/logread.h) against the stack's broker: segment boundaries (an
 * empty log, exactly N segments, one byte more), the held-back last segment
 * with count and sha256, the in-flight cap answering busy, the reference's
 * JSON, and the reader's errors (wrong build, missing segment, missing
 * topic, wrong sha256, a topic that refuses the segments).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "consumer/logread.h"
#include "producer/logseg.h"
#include "tests/assert.h"
#include "tests/integration/itest_kafka_env.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#define SEG 1024

static kt_env_t env;
static char topic[160];
static producer_t *prod;
static _Atomic int64_t *g_shared; /* copy_make's shared cap, NULL = none */
static int64_t g_shared_max;

static void sha_hex(const void *p, size_t n, char out[65]) {
        unsigned char d[32];
        unsigned int len = 0;
        EVP_Digest(p, n, d, &len, EVP_sha256(), NULL);
        for (int i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void fill(char *p, size_t n, unsigned seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (char)('a' + (seed + i * 7 + i / 13) % 26);
}

typedef struct copy {
        logseg_ref_t *ref;
        int busy;            /* times the writer said busy */
        int rc;              /* logseg_poll's last answer */
        int64_t shared_peak; /* most shared bytes seen on their way */
        char err[256];
} copy_t;

/* Writes data in pieces of `piece` bytes, retrying busy answers, finishes
 * and waits for every acknowledgement. */
static void copy_make(const char *tpc, const char *build, const char *data,
                      size_t n, size_t piece, int in_flight, copy_t *c) {
        char sha[65];
        logseg_opts_t o = {.producer      = prod,
                           .topic         = tpc,
                           .app_slug      = "a0a0a0a0a0a0a0a0",
                           .build_slug    = build,
                           .segment_bytes = SEG,
                           .max_in_flight = in_flight,
                           .epoch         = PRODUCER_EPOCH_ANY,
                           .shared_bytes  = g_shared,
                           .shared_max    = g_shared_max};
        logseg_t *s     = logseg_new(&o);
        int64_t until   = time_mono_ms() + 30000L * kt_scale();
        memset(c, 0, sizeof(*c));
        T_ASSERT(s);
        sha_hex(data, n, sha);
        for (size_t off = 0; off < n;) {
                size_t k = n - off < piece ? n - off : piece;
                int rc = logseg_write(s, data + off, k, c->err, sizeof(c->err));
                T_ASSERTF(rc >= 0, "write: %s", c->err);
                T_ASSERT(time_mono_ms() < until);
                if (g_shared && atomic_load(g_shared) > c->shared_peak)
                        c->shared_peak = atomic_load(g_shared);
                if (rc == LOGSEG_BUSY) {
                        c->busy++;
                        kt_sleep_ms(2);
                        continue;
                }
                off += k;
        }
        while ((c->rc = logseg_finish(s, sha, 0, c->err, sizeof(c->err))) ==
                   LOGSEG_BUSY &&
               time_mono_ms() < until)
                kt_sleep_ms(2);
        if (c->rc == 0)
                while ((c->rc = logseg_poll(s, c->err, sizeof(c->err))) ==
                           LOGSEG_BUSY &&
                       time_mono_ms() < until)
                        kt_sleep_ms(2);
        if (c->rc == 0)
                c->ref = logseg_ref_take(s);
        T_EQ_INT(logseg_bytes(s), n);
        logseg_destroy(s);
}

static int out_buf(void *arg, const void *p, size_t n) {
        return buf_append(arg, p, n) == 0 ? 0 : -1;
}

static int read_back(const logseg_ref_t *ref, const char *key, buf_t *b,
                     char *err, size_t err_size) {
        logread_opts_t o = {.bootstrap  = env.bootstrap,
                            .key        = key,
                            .timeout_ms = 10000 * kt_scale()};
        buf_init(b, 64 * 1024 * 1024);
        return logread_fetch(&o, ref, out_buf, b, err, err_size);
}

/* A log of n bytes makes `want` segments and reads back whole. */
static void roundtrip(size_t n, size_t want, size_t piece) {
        char *data = malloc(n ? n : 1), err[512], sha[65];
        copy_t c;
        buf_t b;
        fill(data, n, (unsigned)n);
        sha_hex(data, n, sha);
        copy_make(topic, "b0b0b0b0b0b0b0b0", data, n, piece, 4, &c);
        T_ASSERTF(c.rc == 0 && c.ref, "copy: %s", c.err);
        T_EQ_INT(c.ref->n, want);
        T_EQ_INT(c.ref->bytes, n);
        T_EQ_STR(c.ref->sha256, sha);
        for (size_t i = 1; i < c.ref->n; i++)
                T_ASSERT(c.ref->offsets[i] > c.ref->offsets[i - 1]);
        int rc = read_back(c.ref, "a0a0a0a0a0a0a0a0/b0b0b0b0b0b0b0b0", &b, err,
                           sizeof(err));
        T_ASSERTF(rc == LOGREAD_OK, "read back %zu bytes: %s", n, err);
        T_EQ_INT(b.len, n);
        T_ASSERT(n == 0 || memcmp(b.data, data, n) == 0);
        buf_release(&b);
        logseg_ref_free(c.ref);
        free(data);
}

static void test_logseg_empty(void) {
        roundtrip(0, 1, 1); /* one empty segment carries count and sha256 */
}

static void test_logseg_exact_segments(void) {
        roundtrip(2 * SEG, 2, 100); /* held back: no empty third segment */
}

static void test_logseg_one_byte_more(void) {
        roundtrip(2 * SEG + 1, 3, 333);
}

static void test_logseg_large_writes(void) {
        roundtrip(10 * SEG + 17, 11, 5000); /* writes larger than a segment */
}

/* The last segment's headers: count, sha256, bytes (a reader that has no
 * result can trust them). */
static void test_logseg_last_headers(void) {
        char data[3 * SEG], sha[65];
        copy_t c;
        fill(data, sizeof(data), 3);
        sha_hex(data, sizeof(data), sha);
        copy_make(topic, "c0c0c0c0c0c0c0c0", data, sizeof(data), 512, 2, &c);
        T_ASSERTF(c.rc == 0 && c.ref, "copy: %s", c.err);
        kt_msg_t *m = NULL;
        long n      = kt_read_topic(&env, topic, &m);
        int found   = 0;
        for (long i = 0; i < n; i++) {
                if (m[i].part != c.ref->partition ||
                    m[i].off != c.ref->offsets[c.ref->n - 1])
                        continue;
                found = 1;
        }
        kt_msgs_free(m, (size_t)n);
        T_ASSERT(found);
        /* The headers themselves, read with librdkafka. */
        rd_kafka_t *rk = kt_client(&env, RD_KAFKA_CONSUMER, "logseg-hdr");
        rd_kafka_topic_partition_list_t *tp =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(tp, topic, c.ref->partition)->offset =
            c.ref->offsets[c.ref->n - 1];
        T_ASSERT(rd_kafka_assign(rk, tp) == 0);
        rd_kafka_message_t *rkm = NULL;
        for (int i = 0; i < 100 && !rkm; i++) {
                rkm = rd_kafka_consumer_poll(rk, 100);
                if (rkm && rkm->err) {
                        rd_kafka_message_destroy(rkm);
                        rkm = NULL;
                }
        }
        T_ASSERT(rkm);
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t vn;
        T_ASSERT(rd_kafka_message_headers(rkm, &h) == 0);
        T_ASSERT(rd_kafka_header_get_last(h, "bitmon-segments", &v, &vn) == 0);
        T_ASSERT(vn == 1 && memcmp(v, "3", 1) == 0);
        T_ASSERT(rd_kafka_header_get_last(h, "bitmon-segment", &v, &vn) == 0);
        T_ASSERT(vn == 1 && memcmp(v, "2", 1) == 0);
        T_ASSERT(rd_kafka_header_get_last(h, "bitmon-sha256", &v, &vn) == 0);
        T_ASSERT(vn == 64 && memcmp(v, sha, 64) == 0);
        rd_kafka_message_destroy(rkm);
        rd_kafka_topic_partition_list_destroy(tp);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        logseg_ref_free(c.ref);
}

/* One segment in flight at a time: the writer says busy, and the copy is
 * still whole. */
static void test_logseg_in_flight_cap(void) {
        char data[20 * SEG], err[512];
        copy_t c;
        buf_t b;
        fill(data, sizeof(data), 9);
        copy_make(topic, "d0d0d0d0d0d0d0d0", data, sizeof(data), 700, 1, &c);
        T_ASSERTF(c.rc == 0 && c.ref, "copy: %s", c.err);
        T_ASSERTF(c.busy > 0, "never busy with one segment in flight");
        T_EQ_INT(c.ref->n, 20);
        T_ASSERTF(read_back(c.ref, NULL, &b, err, sizeof(err)) == 0, "%s", err);
        T_ASSERT(b.len == sizeof(data) && !memcmp(b.data, data, b.len));
        buf_release(&b);
        logseg_ref_free(c.ref);
}

/* The process's cap across writers: one segment's worth makes a writer
 * with four allowed in flight wait for each ack; the count returns to 0. */
static void test_logseg_shared_cap(void) {
        static _Atomic int64_t shared;
        char data[12 * SEG], err[512];
        copy_t c;
        buf_t b;
        fill(data, sizeof(data), 11);
        g_shared     = &shared;
        g_shared_max = SEG;
        copy_make(topic, "d1d1d1d1d1d1d1d1", data, sizeof(data), 900, 4, &c);
        g_shared = NULL;
        T_ASSERTF(c.rc == 0 && c.ref, "copy: %s", c.err);
        T_ASSERTF(c.busy > 0, "never busy under a one-segment shared cap");
        T_ASSERTF(c.shared_peak > 0 && c.shared_peak <= SEG,
                  "%lld bytes on their way, cap %d", (long long)c.shared_peak,
                  SEG);
        T_EQ_INT(atomic_load(&shared), 0);
        T_ASSERTF(read_back(c.ref, NULL, &b, err, sizeof(err)) == 0, "%s", err);
        T_ASSERT(b.len == sizeof(data) && !memcmp(b.data, data, b.len));
        buf_release(&b);
        logseg_ref_free(c.ref);
}

static void test_logseg_ref_json(void) {
        int64_t offs[3]  = {5, 9, 12};
        logseg_ref_t ref = {.topic     = topic,
                            .partition = 2,
                            .offsets   = offs,
                            .n         = 3,
                            .bytes     = 3000,
                            .truncated = 1};
        char err[256];
        memset(ref.sha256, 'a', 64);
        memcpy(ref.copy, "0123456789abcdef", 17);
        cJSON *o = logseg_ref_to_json(&ref);
        T_ASSERT(o);
        logseg_ref_t *r = logseg_ref_from_json(o, err, sizeof(err));
        cJSON_Delete(o);
        T_ASSERTF(r, "%s", err);
        T_EQ_STR(r->topic, topic);
        T_ASSERT(r->partition == 2 && r->n == 3 && r->offsets[2] == 12 &&
                 r->bytes == 3000 && r->truncated);
        T_EQ_STR(r->sha256, ref.sha256);
        T_EQ_STR(r->copy, "0123456789abcdef");
        logseg_ref_free(r);
        cJSON *bad = cJSON_Parse("{\"topic\":\"t\",\"partition\":0,"
                                 "\"offsets\":[1,2],\"segments\":3}");
        T_ASSERT(!logseg_ref_from_json(bad, err, sizeof(err)));
        cJSON_Delete(bad);
}

/* The reader refuses what is not this build's whole copy. */
static void test_logread_errors(void) {
        char data[3 * SEG], err[512];
        copy_t c;
        buf_t b;
        fill(data, sizeof(data), 5);
        copy_make(topic, "e0e0e0e0e0e0e0e0", data, sizeof(data), 1000, 4, &c);
        T_ASSERTF(c.rc == 0 && c.ref, "copy: %s", c.err);
        logseg_ref_t *r = c.ref;
        T_EQ_INT(read_back(r, "a0a0a0a0a0a0a0a0/ffffffffffffffff", &b, err,
                           sizeof(err)),
                 LOGREAD_CORRUPT);
        buf_release(&b);
        char keep    = r->sha256[0];
        r->sha256[0] = keep == '0' ? '1' : '0';
        T_EQ_INT(read_back(r, NULL, &b, err, sizeof(err)), LOGREAD_CORRUPT);
        T_ASSERTF(strstr(err, "sha256"), "%s", err);
        buf_release(&b);
        r->sha256[0]         = keep;
        int64_t last         = r->offsets[r->n - 1];
        r->offsets[r->n - 1] = last + 1000;
        T_EQ_INT(read_back(r, NULL, &b, err, sizeof(err)), LOGREAD_INCOMPLETE);
        buf_release(&b);
        r->offsets[r->n - 1] = last;
        char *t              = r->topic;
        char nosuch[32]      = "bitmon-it-no-such-topic";
        r->topic             = nosuch;
        T_EQ_INT(read_back(r, NULL, &b, err, sizeof(err)), LOGREAD_MISSING);
        buf_release(&b);
        r->topic = t;
        T_EQ_INT(read_back(r, NULL, &b, err, sizeof(err)), LOGREAD_OK);
        buf_release(&b);
        logseg_ref_free(r);
}

/* Segments the broker refuses (no such topic) fail the copy. */
static void test_logseg_refused(void) {
        char data[2 * SEG];
        copy_t c;
        fill(data, sizeof(data), 1);
        copy_make("bitmon-it-logseg-missing-topic", "f0f0f0f0f0f0f0f0", data,
                  sizeof(data), 512, 4, &c);
        T_EQ_INT(c.rc, LOGSEG_FAILED);
        T_ASSERT(!c.ref);
        T_ASSERTF(strstr(c.err, "not stored") || strstr(c.err, "topic"), "%s",
                  c.err);
}

int main(void) {
        char err[256];
        if (kt_env_init(&env) < 0) {
                printf("FAIL logseg_env: no broker\n");
                return 1;
        }
        kt_unique("logs", topic, sizeof(topic));
        if (kt_topic_create(&env, topic, 3) < 0) {
                printf("FAIL logseg_topic: cannot create %s\n", topic);
                return 1;
        }
        const char *kv[]  = {"topic.metadata.propagation.max.ms", "1000"};
        producer_opts_t o = {
            .bootstrap = env.bootstrap, .kafka = {kv, 1}, .zstd_topic = topic};
        if (!(prod = producer_new(&o, err, sizeof(err)))) {
                printf("FAIL logseg_producer: %s\n", err);
                return 1;
        }
        T_RUN(test_logseg_empty);
        T_RUN(test_logseg_exact_segments);
        T_RUN(test_logseg_one_byte_more);
        T_RUN(test_logseg_large_writes);
        T_RUN(test_logseg_last_headers);
        T_RUN(test_logseg_in_flight_cap);
        T_RUN(test_logseg_shared_cap);
        T_RUN(test_logseg_ref_json);
        T_RUN(test_logread_errors);
        T_RUN(test_logseg_refused);
        producer_destroy(prod);
        kt_env_release(&env);
        return t_done();
}
