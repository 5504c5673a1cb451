/* webhook/intake.c — POST /webhooks/bitrise on libmicrohttpd's internal
 * thread: route, authenticate on the headers, collect the capped body,
 * parse it (webhook/payload.h) and hand a hint to the producer. */
#include "webhook/intake.h"

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "webhook/payload.h"

#define FAC "webhook"

typedef enum {
        OUT_ACCEPTED = 0,
        OUT_IGNORED,
        OUT_BAD_REQUEST,
        OUT_UNAUTHORIZED,
        OUT_NOT_FOUND,
        OUT_METHOD,
        OUT_TOO_LARGE,
        OUT_UNAVAILABLE,
        OUT_N
} outcome_t;

static const struct {
        const char *name;
        unsigned status;
        const char *body;
} outcomes[OUT_N] = {
    {"accepted", MHD_HTTP_ACCEPTED, "accepted\n"},
    {"ignored", MHD_HTTP_ACCEPTED, "ignored\n"},
    {"bad_request", MHD_HTTP_BAD_REQUEST, NULL}, /* the parser's reason */
    {"unauthorized", MHD_HTTP_UNAUTHORIZED, "unauthorized\n"},
    {"not_found", MHD_HTTP_NOT_FOUND, "not found\n"},
    {"method_not_allowed", MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n"},
    {"too_large", MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n"},
    {"unavailable", MHD_HTTP_SERVICE_UNAVAILABLE, "try again later\n"},
};

struct webhook_intake {
        struct MHD_Daemon *d;
        int port;
        size_t max_body;
        producer_t *producer;
        char *topic;
        cache_redis_t *rc;
        pthread_mutex_t rc_lock; /* rc: the request thread, the probe */
        tokenstore_t *secrets;
        unsigned char mac_key[32]; /* per process, for the comparison */
        metrics_counter_t *count[OUT_N];
};

/* One request in flight (MHD's per-connection state). */
typedef struct req {
        buf_t body;
        char ws[TOKENSTORE_WS_MAX + 1];
        char event[64]; /* "" when absent; longer values are cut, and
                         * then unknown anyway */
        bool too_large;
} req_t;

/* ---- answers ------------------------------------------------------------ */

static enum MHD_Result reply(webhook_intake_t *wi, struct MHD_Connection *conn,
                             outcome_t o, const char *text) {
        const char *body = text ? text : outcomes[o].body;
        metrics_counter_inc(wi->count[o]);
        struct MHD_Response *r = MHD_create_response_from_buffer(
            strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; charset=utf-8");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (o == OUT_METHOD)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
        enum MHD_Result ret = MHD_queue_response(conn, outcomes[o].status, r);
        MHD_destroy_response(r);
        return ret;
}

/* ---- authentication ----------------------------------------------------- */

static void mac(const webhook_intake_t *wi, const char *s, size_t n,
                unsigned char out[32]) {
        unsigned int len = 32;
        if (!HMAC(EVP_sha256(), wi->mac_key, sizeof(wi->mac_key),
                  (const unsigned char *)s, n, out, &len))
                memset(out, 0, 32);
}

/* 0 when the headers name a workspace whose stored secret equals the one
 * sent; OUT_UNAUTHORIZED, or OUT_UNAVAILABLE when the store cannot answer.
 * Both secrets go through the HMAC before CRYPTO_memcmp, so the time taken
 * does not depend on where they differ (nor on their lengths). */
static int authenticate(webhook_intake_t *wi, struct MHD_Connection *conn,
                        req_t *rq) {
        char stored[TOKENSTORE_TOKEN_MAX + 1], err[256];
        unsigned char want[32], got[32];
        const char *ws     = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         WEBHOOK_HDR_WORKSPACE);
        const char *secret = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         WEBHOOK_HDR_SECRET);
        size_t slen        = secret ? strlen(secret) : 0;
        if (!ws || !tokenstore_ws_valid(ws) || slen == 0 ||
            slen > WEBHOOK_SECRET_MAX)
                return OUT_UNAUTHORIZED;
        mac(wi, secret, slen, got);
        pthread_mutex_lock(&wi->rc_lock);
        int rc = tokenstore_get(wi->secrets, ws, stored, sizeof(stored), err,
                                sizeof(err));
        pthread_mutex_unlock(&wi->rc_lock);
        if (rc == CACHE_E_DOWN) {
                LOG_WARN(FAC, "cannot check a webhook secret: %s", err);
                return OUT_UNAVAILABLE;
        }
        if (rc != 0) {
                /* compare anyway, against nothing, so that an unknown
                 * workspace costs the same as a wrong secret */
                if (rc != CACHE_E_NOTFOUND)
                        LOG_WARN(FAC, "cannot read a webhook secret: %s", err);
                stored[0] = '\0';
        }
        mac(wi, stored, strlen(stored), want);
        OPENSSL_cleanse(stored, sizeof(stored));
        if (rc != 0 || CRYPTO_memcmp(want, got, sizeof(got)) != 0)
                return OUT_UNAUTHORIZED;
        snprintf(rq->ws, sizeof(rq->ws), "%s", ws);
        return 0;
}

/* ---- the delivery -------------------------------------------------------- */

static enum MHD_Result deliver(webhook_intake_t *wi,
                               struct MHD_Connection *conn, req_t *rq) {
        char err[256], key[2 * JOB_SLUG_MAX + 2], msg[512];
        webhook_payload_t p;
        int rc = webhook_payload_parse(rq->event[0] ? rq->event : NULL,
                                       rq->body.data, rq->body.len, &p, err,
                                       sizeof(err));
        if (rc == WEBHOOK_E_IGNORED) {
                LOG_DEBUG(FAC, "delivery ignored workspace=%s reason=%s",
                          rq->ws, err);
                return reply(wi, conn, OUT_IGNORED, NULL);
        }
        if (rc != 0) {
                char text[300];
                LOG_DEBUG(FAC, "delivery refused workspace=%s reason=%s",
                          rq->ws, err);
                snprintf(text, sizeof(text), "%s\n", err);
                return reply(wi, conn, OUT_BAD_REQUEST, text);
        }
        int n = job_hint_to_json(msg, sizeof(msg), p.hint, rq->ws, p.app_slug,
                                 p.build_slug, p.build_status, time_wall_ms());
        snprintf(key, sizeof(key), "%s/%s", p.app_slug, p.build_slug);
        if (n < 0 ||
            producer_send(wi->producer, wi->topic, key, strlen(key), msg,
                          (size_t)n, NULL, 0, NULL, 0, err, sizeof(err)) != 0) {
                LOG_WARN(FAC,
                         "cannot hand a hint to the producer workspace=%s "
                         "app=%s build=%s: %s",
                         rq->ws, p.app_slug, p.build_slug,
                         n < 0 ? "too long" : err);
                return reply(wi, conn, OUT_UNAVAILABLE, NULL);
        }
        LOG_INFO(FAC,
                 "hint queued event=%s workspace=%s app=%s build=%s "
                 "build_number=%lld build_status=%d workflow=%s",
                 job_hint_name(p.hint), rq->ws, p.app_slug, p.build_slug,
                 (long long)p.build_number, p.build_status,
                 p.workflow[0] ? p.workflow : "-");
        return reply(wi, conn, OUT_ACCEPTED, NULL);
}

/* The first call of a request: headers only. Returns OUT_N to go on. */
static int on_headers(webhook_intake_t *wi, struct MHD_Connection *conn,
                      const char *url, const char *method, req_t *rq) {
        if (strcmp(url, WEBHOOK_PATH) != 0)
                return OUT_NOT_FOUND;
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
                return OUT_METHOD;
        int o = authenticate(wi, conn, rq);
        if (o != 0)
                return o;
        const char *cl = MHD_lookup_connection_value(
            conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
                char *end            = NULL;
                unsigned long long v = strtoull(cl, &end, 10);
                if (end != cl && v > wi->max_body)
                        return OUT_TOO_LARGE;
        }
        const char *ev = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     WEBHOOK_HDR_EVENT);
        snprintf(rq->event, sizeof(rq->event), "%s", ev ? ev : "");
        return OUT_N;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **state) {
        webhook_intake_t *wi = cls;
        req_t *rq            = *state;
        (void)version;
        if (!rq) {
                if (!(rq = calloc(1, sizeof(*rq))))
                        return MHD_NO;
                buf_init(&rq->body, wi->max_body);
                *state = rq;
                int o  = on_headers(wi, conn, url, method, rq);
                return o == OUT_N ? MHD_YES
                                  : reply(wi, conn, (outcome_t)o, NULL);
        }
        if (*upload_size != 0) {
                /* checked as the bytes arrive: past the cap, stop keeping
                 * them and answer once the client is done sending */
                if (!rq->too_large &&
                    buf_append(&rq->body, upload, *upload_size) != 0) {
                        rq->too_large = true;
                        buf_release(&rq->body);
                        buf_init(&rq->body, 1);
                }
                *upload_size = 0;
                return MHD_YES;
        }
        if (rq->too_large)
                return reply(wi, conn, OUT_TOO_LARGE, NULL);
        return deliver(wi, conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode toe) {
        req_t *rq = *state;
        (void)cls;
        (void)conn;
        (void)toe;
        if (!rq)
                return;
        buf_release(&rq->body);
        free(rq);
        *state = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        char msg[512];
        (void)cls;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        size_t n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
                msg[--n] = '\0';
        LOG_DEBUG(FAC, "libmicrohttpd: %s", msg);
}

/* ---- start and stop ------------------------------------------------------ */

void webhook_intake_metrics(metrics_t *m) {
        for (int i = 0; i < OUT_N; i++)
                metrics_counter(m, "bitmon_webhook_requests_total",
                                "Requests to the webhook intake, by outcome.",
                                "outcome", outcomes[i].name, NULL);
}

static void count_register(webhook_intake_t *wi, metrics_t *m) {
        for (int i = 0; i < OUT_N; i++)
                wi->count[i] = metrics_counter(
                    m, "bitmon_webhook_requests_total",
                    "Requests to the webhook intake, by outcome.", "outcome",
                    outcomes[i].name, NULL);
}

static int open_secrets(webhook_intake_t *wi, const webhook_intake_opts_t *o,
                        char *errstr, size_t errstr_size) {
        tokenstore_opts_t so = o->secrets;
        char err[256];
        if (o->secrets_spec && strcmp(o->secrets_spec, "redis") == 0) {
                cache_redis_opts_t ro = o->redis;
                ro.name               = "webhook-redis";
                if (!(wi->rc = cache_redis_new(&ro, err, sizeof(err)))) {
                        snprintf(errstr, errstr_size,
                                 "webhook secrets store: %s", err);
                        return -1;
                }
        }
        so.rc         = wi->rc;
        so.redis_name = WEBHOOK_SECRETS_KEYNAME;
        if (!(wi->secrets =
                  tokenstore_new(o->secrets_spec, &so, err, sizeof(err)))) {
                snprintf(errstr, errstr_size, "webhook secrets store: %s", err);
                return -1;
        }
        return 0;
}

static struct MHD_Daemon *start(webhook_intake_t *wi,
                                const webhook_intake_opts_t *o, int fd) {
        unsigned limit = (unsigned)(o->conn_limit > 0 ? o->conn_limit : 64);
        unsigned timeout =
            (unsigned)(o->conn_timeout_s > 0 ? o->conn_timeout_s : 10);
        return MHD_start_daemon(
            MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
            on_request, wi, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, wi,
            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, limit,
            MHD_OPTION_CONNECTION_TIMEOUT, timeout,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
            MHD_OPTION_END);
}

int webhook_intake_new(const webhook_intake_opts_t *o, webhook_intake_t **out,
                       char *errstr, size_t errstr_size) {
        webhook_intake_t *wi = NULL;
        int fd = -1, err = -1;
        *out = NULL;
        if (!o->producer || !o->topic || !o->listen || !*o->listen) {
                snprintf(errstr, errstr_size,
                         "webhook intake: no listen address, producer or "
                         "topic");
                return -1;
        }
        if (!(wi = calloc(1, sizeof(*wi)))) {
                snprintf(errstr, errstr_size, "webhook intake: out of memory");
                goto done;
        }
        pthread_mutex_init(&wi->rc_lock, NULL);
        if (!(wi->topic = strdup(o->topic)) ||
            RAND_bytes(wi->mac_key, sizeof(wi->mac_key)) != 1) {
                snprintf(errstr, errstr_size,
                         "webhook intake: out of memory "
                         "or no randomness");
                goto done;
        }
        wi->producer = o->producer;
        wi->max_body = o->max_body_bytes ? o->max_body_bytes : WEBHOOK_MAX_BODY;
        count_register(wi, o->metrics);
        if (open_secrets(wi, o, errstr, errstr_size) < 0)
                goto done;
        if ((fd = httpd_listen_socket(o->listen, &wi->port, errstr,
                                      errstr_size)) < 0)
                goto done;
        if (!(wi->d = start(wi, o, fd))) {
                snprintf(errstr, errstr_size,
                         "cannot start the webhook server on %s", o->listen);
                goto done;
        }
        fd = -1; /* MHD closes it on stop */
        LOG_INFO(FAC, "serving POST %s listen=%s port=%d secrets=%s",
                 WEBHOOK_PATH, o->listen, wi->port,
                 tokenstore_kind(wi->secrets));
        *out = wi;
        wi   = NULL;
        err  = 0;
done:
        if (fd >= 0)
                close(fd);
        webhook_intake_destroy(wi);
        return err;
}

void webhook_intake_probe(webhook_intake_t *wi) {
        if (!wi || !wi->rc || pthread_mutex_trylock(&wi->rc_lock) != 0)
                return; /* a request is using it */
        (void)cache_redis_probe(wi->rc);
        pthread_mutex_unlock(&wi->rc_lock);
}

int webhook_intake_port(const webhook_intake_t *wi) {
        return wi ? wi->port : 0;
}

void webhook_intake_destroy(webhook_intake_t *wi) {
        if (!wi)
                return;
        if (wi->d)
                MHD_stop_daemon(wi->d);
        tokenstore_destroy(wi->secrets);
        cache_redis_destroy(wi->rc);
        pthread_mutex_destroy(&wi->rc_lock);
        OPENSSL_cleanse(wi->mac_key, sizeof(wi->mac_key));
        free(wi->topic);
        free(wi);
}
