/* tests/integration/itest_webhook_intake.c — the webhook intake for real:
 * libcurl posts deliveries to an intake bound on a random loopback port,
 * whose producer writes to a fresh jobs topic on the stack's Kafka. A valid
 * delivery becomes exactly one hint with the build's key, on the partition
 * Java's murmur2 picks and `bitmon enqueue` uses for that build's jobs;
 * forged, unknown, oversize, malformed, unknown-event, wrong-method and
 * wrong-path requests get their status and metric and produce nothing; a
 * producer that refuses answers 503; the log never holds the secret. */
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/job.h"
#include "common/log.h"
#include "tests/assert.h"
#include "tests/integration/itest_kafka_env.h"
#include "webhook/intake.h"

#define APP    "669403bffbe35909"
#define BUILD  "0f3c8e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
#define SECRET "wh-secret-7f0c2d9e4b1a6c3f8e5d2a9b"
#define PARTS  12

static kt_env_t env;
static char secrets_dir[] = "/tmp/bitmon-itest-whsec.XXXXXX";
static char log_path[]    = "/tmp/bitmon-itest-whlog.XXXXXX";

typedef struct fx {
        char topic[128];
        metrics_t *m;
        producer_t *p;
        webhook_intake_t *wi;
        int port;
} fx_t;

typedef struct post {
        const char *method, *path, *ws, *secret, *event;
        const char *body;
        size_t body_len; /* 0 = strlen(body) */
        int chunked;     /* no Content-Length */
} post_t;

/* Java's Utils.murmur2 (the default partitioner of the Java client). */
static uint32_t murmur2(const void *key, size_t len) {
        const unsigned char *d = key;
        const uint32_t m       = 0x5bd1e995u;
        uint32_t h             = 0x9747b28cu ^ (uint32_t)len;
        size_t i;
        for (i = 0; i + 4 <= len; i += 4) {
                uint32_t k = (uint32_t)d[i] | (uint32_t)d[i + 1] << 8 |
                             (uint32_t)d[i + 2] << 16 |
                             (uint32_t)d[i + 3] << 24;
                k *= m;
                k ^= k >> 24;
                k *= m;
                h *= m;
                h ^= k;
        }
        switch (len & 3) {
        case 3:
                h ^= (uint32_t)d[i + 2] << 16; /* fall through */
        case 2:
                h ^= (uint32_t)d[i + 1] << 8; /* fall through */
        case 1:
                h ^= d[i];
                h *= m;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return h;
}

typedef struct upload {
        const char *p;
        size_t left;
} upload_t;

static size_t on_read(char *buf, size_t sz, size_t n, void *ud) {
        upload_t *u = ud;
        size_t k    = sz * n < u->left ? sz * n : u->left;
        memcpy(buf, u->p, k);
        u->p += k;
        u->left -= k;
        return k;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
        return buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

/* One request; returns the HTTP status (0 when curl failed). */
static long send_req(int port, const post_t *q, buf_t *resp) {
        char url[256], h1[300], h2[400], h3[200];
        struct curl_slist *hs = NULL;
        long status           = 0;
        size_t len =
            q->body ? (q->body_len ? q->body_len : strlen(q->body)) : 0;
        upload_t up = {q->body, len};
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port,
                 q->path ? q->path : WEBHOOK_PATH);
        if (q->ws &&
            snprintf(h1, sizeof(h1), WEBHOOK_HDR_WORKSPACE ": %s", q->ws) > 0)
                hs = curl_slist_append(hs, h1);
        if (q->secret &&
            snprintf(h2, sizeof(h2), WEBHOOK_HDR_SECRET ": %s", q->secret) > 0)
                hs = curl_slist_append(hs, h2);
        if (q->event &&
            snprintf(h3, sizeof(h3), WEBHOOK_HDR_EVENT ": %s", q->event) > 0)
                hs = curl_slist_append(hs, h3);
        hs = curl_slist_append(hs, "Content-Type: application/json");
        if (q->chunked)
                hs = curl_slist_append(hs, "Transfer-Encoding: chunked");
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L * kt_scale());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
        const char *method = q->method ? q->method : "POST";
        if (strcmp(method, "POST") == 0) {
                curl_easy_setopt(c, CURLOPT_POST, 1L);
                curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(c, CURLOPT_READDATA, &up);
                if (!q->chunked)
                        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                         (curl_off_t)len);
        } else {
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        }
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        curl_slist_free_all(hs);
        return status;
}

static long post(int port, const post_t *q) {
        buf_t b;
        buf_init(&b, 1 << 20);
        long s = send_req(port, q, &b);
        buf_release(&b);
        return s;
}

static uint64_t outcome(const fx_t *f, const char *name) {
        return metrics_counter_value(metrics_counter(
            f->m, "bitmon_webhook_requests_total", "", "outcome", name, NULL));
}

static void fx_start(fx_t *f, const char *bootstrap, const char *queue_max) {
        char err[512];
        memset(f, 0, sizeof(*f));
        kt_unique("whjobs", f->topic, sizeof(f->topic));
        const char *kv[]   = {"queue.buffering.max.messages", queue_max};
        producer_opts_t po = {.bootstrap        = bootstrap,
                              .kafka            = {kv, queue_max ? 1 : 0},
                              .flush_timeout_ms = 200};
        f->m               = metrics_new();
        f->p               = producer_new(&po, err, sizeof(err));
        T_ASSERTF(f->p, "producer: %.400s", err);
        char spec[600];
        snprintf(spec, sizeof(spec), "dir:%s", secrets_dir);
        webhook_intake_opts_t o = {.listen       = "127.0.0.1:0",
                                   .secrets_spec = spec,
                                   .producer     = f->p,
                                   .topic        = f->topic,
                                   .metrics      = f->m};
        T_ASSERTF(webhook_intake_new(&o, &f->wi, err, sizeof(err)) == 0,
                  "%.400s", err);
        f->port = webhook_intake_port(f->wi);
        T_ASSERT(f->port > 0);
}

static void fx_stop(fx_t *f) {
        webhook_intake_destroy(f->wi);
        producer_destroy(f->p);
        metrics_destroy(f->m);
}

static const char *const finished_body =
    "{\"build_slug\":\"" BUILD "\",\"build_number\":7,\"app_slug\":\"" APP
    "\",\"build_status\":2,\"build_triggered_workflow\":\"primary\","
    "\"git\":{\"provider\":\"github\",\"src_branch\":\"BODYMARKER\"}}";

/* A valid delivery: 202, one hint with the build's key on murmur2's
 * partition, the same partition as a job `bitmon enqueue` writes. */
static void test_webhook_delivery_becomes_one_hint(void) {
        fx_t f;
        char err[256], key[] = APP "/" BUILD, *out = NULL;
        fx_start(&f, env.bootstrap, NULL);
        T_EQ_INT(kt_topic_create(&env, f.topic, PARTS), 0);
        post_t q   = {.ws     = "acme",
                      .secret = SECRET,
                      .event  = "build/finished",
                      .body   = finished_body};
        int64_t t0 = time_wall_ms();
        T_EQ_INT(post(f.port, &q), 202);
        T_EQ_INT(outcome(&f, "accepted"), 1);
        T_EQ_INT(producer_flush(f.p, 10000 * kt_scale()), 0);
        int rc = kt_run(NULL, &out,
                        "enqueue -b %s --jobs-topic %s --workspace acme "
                        "--app " APP " --build " BUILD " --job-id j1",
                        env.bootstrap, f.topic);
        T_ASSERTF(rc == 0, "enqueue: %s", out ? out : "");
        free(out);

        kt_msg_t *m = NULL;
        T_EQ_INT(kt_read_topic(&env, f.topic, &m), 2);
        job_t *hint = NULL, *job = NULL;
        for (int i = 0; i < 2; i++) {
                job_t *j = NULL;
                T_EQ_STR(m[i].key, key);
                T_EQ_INT(job_parse(m[i].val, m[i].vlen, m[i].key, m[i].klen,
                                   NULL, &j, err, sizeof(err)),
                         0);
                if (j->kind == JOB_KIND_HINT)
                        hint = j;
                else
                        job = j;
        }
        T_ASSERT(hint && job);
        T_EQ_INT(hint->hint, JOB_HINT_FINISHED);
        T_EQ_STR(hint->workspace, "acme");
        T_EQ_STR(hint->app_slug, APP);
        T_EQ_STR(hint->build_slug, BUILD);
        T_EQ_INT(hint->hint_build_status, 2);
        T_ASSERT(hint->hint_received_ms >= t0 &&
                 hint->hint_received_ms <= time_wall_ms());
        int32_t want =
            (int32_t)((murmur2(key, strlen(key)) & 0x7fffffff) % PARTS);
        T_EQ_INT(m[0].part, want);
        T_EQ_INT(m[1].part, want);
        T_ASSERT(!strstr(m[0].val, "BODYMARKER") &&
                 !strstr(m[1].val, "BODYMARKER"));
        job_destroy(hint);
        job_destroy(job);
        kt_msgs_free(m, 2);
        fx_stop(&f);
}

/* Every refusal: its status, its counter, nothing produced. */
static void test_webhook_refusals(void) {
        static char big[WEBHOOK_MAX_BODY + 2];
        fx_t f;
        memset(big, ' ', sizeof(big) - 1);
        big[0] = '{';
        fx_start(&f, env.bootstrap, NULL);
        T_EQ_INT(kt_topic_create(&env, f.topic, 3), 0);
        const struct {
                post_t q;
                long status;
                const char *outcome;
        } cases[] = {
            {{.ws     = "acme",
              .secret = "forged",
              .event  = "build/finished",
              .body   = finished_body},
             401,
             "unauthorized"},
            {{.ws     = "acme",
              .secret = SECRET "x",
              .event  = "build/finished",
              .body   = finished_body},
             401,
             "unauthorized"},
            {{.ws     = "nobody",
              .secret = SECRET,
              .event  = "build/finished",
              .body   = finished_body},
             401,
             "unauthorized"},
            {{.ws     = "../acme",
              .secret = SECRET,
              .event  = "build/finished",
              .body   = finished_body},
             401,
             "unauthorized"},
            {{.event = "build/finished", .body = finished_body},
             401,
             "unauthorized"},
            {{.ws       = "acme",
              .secret   = SECRET,
              .event    = "build/finished",
              .body     = big,
              .body_len = sizeof(big) - 1},
             413,
             "too_large"},
            {{.ws       = "acme",
              .secret   = SECRET,
              .event    = "build/finished",
              .body     = big,
              .body_len = sizeof(big) - 1,
              .chunked  = 1},
             413,
             "too_large"},
            {{.ws     = "acme",
              .secret = SECRET,
              .event  = "build/finished",
              .body   = "{\"build_slug\":"},
             400,
             "bad_request"},
            {{.ws     = "acme",
              .secret = SECRET,
              .event  = "build/finished",
              .body   = "{\"build_slug\":\"" BUILD "\"}"},
             400,
             "bad_request"},
            {{.ws = "acme", .secret = SECRET, .body = finished_body},
             400,
             "bad_request"},
            {{.ws     = "acme",
              .secret = SECRET,
              .event  = "build/pipeline",
              .body   = finished_body},
             202,
             "ignored"},
            {{.method = "GET", .ws = "acme", .secret = SECRET},
             405,
             "method_not_allowed"},
            {{.method = "PUT", .ws = "acme", .secret = SECRET},
             405,
             "method_not_allowed"},
            {{.path   = "/webhooks/github",
              .ws     = "acme",
              .secret = SECRET,
              .event  = "build/finished",
              .body   = finished_body},
             404,
             "not_found"},
            {{.path = "/metrics", .method = "GET"}, 404, "not_found"},
        };
        size_t n = sizeof(cases) / sizeof(cases[0]);
        for (size_t i = 0; i < n; i++) {
                uint64_t before = outcome(&f, cases[i].outcome);
                long s          = post(f.port, &cases[i].q);
                T_ASSERTF(s == cases[i].status,
                          "case %zu: status %ld, want %ld", i, s,
                          cases[i].status);
                T_ASSERTF(outcome(&f, cases[i].outcome) == before + 1,
                          "case %zu: %s not counted", i, cases[i].outcome);
        }
        T_EQ_INT(outcome(&f, "accepted"), 0);
        T_EQ_INT(outcome(&f, "unauthorized"), 5);
        /* one valid delivery last: the topic holds it and nothing else */
        post_t ok = {.ws     = "acme",
                     .secret = SECRET,
                     .event  = "build/triggered",
                     .body   = finished_body};
        T_EQ_INT(post(f.port, &ok), 202);
        T_EQ_INT(producer_flush(f.p, 10000 * kt_scale()), 0);
        kt_msg_t *m = NULL;
        T_EQ_INT(kt_read_topic(&env, f.topic, &m), 1);
        T_ASSERT(strstr(m[0].val, "\"hint\":\"build/triggered\""));
        kt_msgs_free(m, 1);
        fx_stop(&f);
}

/* A producer that refuses (queue full: the broker is unreachable and the
 * queue holds one message) answers 503, counted unavailable. */
static void test_webhook_producer_refuses(void) {
        fx_t f;
        fx_start(&f, "127.0.0.1:1", "1");
        post_t q = {.ws     = "acme",
                    .secret = SECRET,
                    .event  = "build/finished",
                    .body   = finished_body};
        T_EQ_INT(post(f.port, &q), 202);
        T_EQ_INT(post(f.port, &q), 503);
        T_EQ_INT(outcome(&f, "accepted"), 1);
        T_EQ_INT(outcome(&f, "unavailable"), 1);
        fx_stop(&f);
}

/* The intake's log, at debug level, never holds the secret or the body. */
static void test_webhook_log_has_no_secret(void) {
        buf_t b;
        char tmp[4096];
        ssize_t k;
        buf_init(&b, 0);
        int fd = open(log_path, O_RDONLY);
        T_ASSERT(fd >= 0);
        while ((k = read(fd, tmp, sizeof(tmp))) > 0)
                buf_append(&b, tmp, (size_t)k);
        close(fd);
        const char *s = buf_cstr(&b);
        T_ASSERTF(strstr(s, "hint queued event=build/finished"), "%s", s);
        T_ASSERT(!strstr(s, SECRET));
        T_ASSERT(!strstr(s, "forged"));
        T_ASSERT(!strstr(s, "BODYMARKER"));
        buf_release(&b);
}

static int setup(void) {
        char path[600];
        if (!mkdtemp(secrets_dir))
                return -1;
        snprintf(path, sizeof(path), "%s/acme", secrets_dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, SECRET "\n", strlen(SECRET) + 1) < 0)
                return -1;
        close(fd);
        int lfd = mkstemp(log_path);
        if (lfd < 0)
                return -1;
        log_setup(LOG_LVL_DEBUG, LOG_FMT_TEXT, lfd);
        return 0;
}

int main(void) {
        char path[600];
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (kt_env_init(&env) < 0 || setup() < 0) {
                printf("FAIL itest_webhook_intake: setup\n");
                return 1;
        }
        T_RUN(test_webhook_delivery_becomes_one_hint);
        T_RUN(test_webhook_refusals);
        T_RUN(test_webhook_producer_refuses);
        T_RUN(test_webhook_log_has_no_secret);
        snprintf(path, sizeof(path), "%s/acme", secrets_dir);
        unlink(path);
        rmdir(secrets_dir);
        unlink(log_path);
        kt_env_release(&env);
        curl_global_cleanup();
        return t_done();
}
