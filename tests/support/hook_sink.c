/* tests/support/hook_sink.c — records the webhooks a test receives
 * (libmicrohttpd, one internal thread). */
#include "tests/support/hook_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "tests/support/sim_proc.h"

#define SINK_BODY_MAX (64 << 10)
#define SINK_MAX_REQS 4096

struct hook_sink {
        struct MHD_Daemon *d;
        int port;
        pthread_mutex_t lock; /* everything below */
        int status;
        hook_sink_req_t *reqs;
        size_t n;
};

typedef struct conn {
        buf_t body;
} conn_t;

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value) {
        (void)kind;
        buf_printf(cls, "%s: %s\n", key, value ? value : "");
        return MHD_YES;
}

static void record(hook_sink_t *s, struct MHD_Connection *c, const char *url,
                   const char *method, conn_t *cn) {
        hook_sink_req_t q = {0};
        buf_t h;
        buf_init(&h, 1 << 16);
        MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &h);
        snprintf(q.method, sizeof(q.method), "%s", method);
        snprintf(q.path, sizeof(q.path), "%s", url);
        q.headers  = buf_detach(&h);
        q.body_len = cn->body.len;
        q.body     = buf_detach(&cn->body);
        if (!q.body)
                q.body = strdup("");
        pthread_mutex_lock(&s->lock);
        if (s->n < SINK_MAX_REQS)
                s->reqs[s->n++] = q;
        else
                hook_sink_req_release(&q);
        pthread_mutex_unlock(&s->lock);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
        hook_sink_t *s = cls;
        conn_t *cn     = *con_cls;
        (void)version;
        if (!cn) {
                if (!(cn = calloc(1, sizeof(*cn))))
                        return MHD_NO;
                buf_init(&cn->body, SINK_BODY_MAX);
                *con_cls = cn;
                return MHD_YES;
        }
        if (*upload_size) {
                buf_append(&cn->body, upload, *upload_size);
                *upload_size = 0;
                return MHD_YES;
        }
        record(s, c, url, method, cn);
        pthread_mutex_lock(&s->lock);
        int status = s->status;
        pthread_mutex_unlock(&s->lock);
        struct MHD_Response *r = MHD_create_response_from_buffer(
            2, (void *)(uintptr_t) "ok", MHD_RESPMEM_PERSISTENT);
        if (!r)
                return MHD_NO;
        enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
        MHD_destroy_response(r);
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        conn_t *cn = *con_cls;
        (void)cls, (void)c, (void)toe;
        if (!cn)
                return;
        buf_release(&cn->body);
        free(cn);
        *con_cls = NULL;
}

hook_sink_t *hook_sink_start(char *errstr, size_t errstr_size) {
        hook_sink_t *s        = calloc(1, sizeof(*s));
        struct sockaddr_in sa = {0};
        if (!s || !(s->reqs = calloc(SINK_MAX_REQS, sizeof(*s->reqs)))) {
                free(s);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&s->lock, NULL);
        s->status          = 200;
        sa.sin_family      = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s->d               = MHD_start_daemon(
                          MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                          on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
        if (!s->d) {
                snprintf(errstr, errstr_size, "cannot start the hook sink");
                hook_sink_stop(s);
                return NULL;
        }
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        s->port = di ? di->port : 0;
        return s;
}

int hook_sink_port(const hook_sink_t *s) {
        return s->port;
}

void hook_sink_set_status(hook_sink_t *s, int status) {
        pthread_mutex_lock(&s->lock);
        s->status = status;
        pthread_mutex_unlock(&s->lock);
}

size_t hook_sink_count(hook_sink_t *s) {
        pthread_mutex_lock(&s->lock);
        size_t n = s->n;
        pthread_mutex_unlock(&s->lock);
        return n;
}

size_t hook_sink_wait(hook_sink_t *s, size_t n, long timeout_ms) {
        int64_t end = time_mono_ms() +
                      (int64_t)((double)timeout_ms * sim_proc_timeout_scale());
        size_t got;
        while ((got = hook_sink_count(s)) < n && time_mono_ms() < end)
                usleep(10000);
        return got;
}

int hook_sink_get(hook_sink_t *s, size_t i, hook_sink_req_t *out) {
        int rc = -1;
        memset(out, 0, sizeof(*out));
        pthread_mutex_lock(&s->lock);
        if (i < s->n) {
                *out         = s->reqs[i];
                out->headers = strdup(s->reqs[i].headers);
                out->body    = malloc(s->reqs[i].body_len + 1);
                if (out->body) {
                        memcpy(out->body, s->reqs[i].body,
                               s->reqs[i].body_len + 1);
                        rc = 0;
                }
        }
        pthread_mutex_unlock(&s->lock);
        return rc;
}

void hook_sink_req_release(hook_sink_req_t *q) {
        free(q->headers);
        free(q->body);
        memset(q, 0, sizeof(*q));
}

const char *hook_sink_header(const hook_sink_req_t *q, const char *name,
                             char *out, size_t size) {
        size_t nl     = strlen(name);
        const char *p = q->headers;
        while (p && *p) {
                const char *eol = strchr(p, '\n');
                size_t len      = eol ? (size_t)(eol - p) : strlen(p);
                if (len > nl + 1 && strncasecmp(p, name, nl) == 0 &&
                    p[nl] == ':') {
                        snprintf(out, size, "%.*s", (int)(len - nl - 2),
                                 p + nl + 2);
                        return out;
                }
                p = eol ? eol + 1 : NULL;
        }
        return NULL;
}

void hook_sink_stop(hook_sink_t *s) {
        if (!s)
                return;
        if (s->d)
                MHD_stop_daemon(s->d);
        for (size_t i = 0; i < s->n; i++)
                hook_sink_req_release(&s->reqs[i]);
        free(s->reqs);
        pthread_mutex_destroy(&s->lock);
        free(s);
}
