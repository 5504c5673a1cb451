/* common/httpd.c — /metrics, /healthz and /readyz on libmicrohttpd's
 * internal thread. Each response is built whole in memory (capped) and
 * handed to MHD, which frees it.
 */
#include "common/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

#define HTTPD_MAX_BODY (32u * 1024 * 1024) /* cap on a /metrics rendering */

struct httpd {
        struct MHD_Daemon *d;
        metrics_t *metrics;
        health_t *health;
        int port;
};

/* Queues a response holding the buffer's bytes (moved to MHD). */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *type, buf_t *body) {
        size_t len = body->len;
        char *data = buf_detach(body);
        if (!data)
                return MHD_NO;
        struct MHD_Response *r =
            MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(data);
                return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
                                  const char *text) {
        buf_t b;
        buf_init(&b, 0);
        if (buf_append_str(&b, text) != 0) {
                buf_release(&b);
                return MHD_NO;
        }
        return reply(conn, status, "text/plain; charset=utf-8", &b);
}

static enum MHD_Result serve_metrics(httpd_t *h, struct MHD_Connection *conn) {
        buf_t b;
        buf_init(&b, HTTPD_MAX_BODY);
        int err = metrics_render(h->metrics, &b);
        if (err != 0) {
                buf_release(&b);
                LOG_ERROR("httpd", "cannot render metrics: %s",
                          err == BUF_ERR_CAP ? "larger than the cap"
                                             : "out of memory");
                return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "cannot render metrics\n");
        }
        return reply(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, &b);
}

static enum MHD_Result serve_ready(httpd_t *h, struct MHD_Connection *conn) {
        if (!h->health)
                return reply_text(conn, MHD_HTTP_OK, "ready\n");
        buf_t b;
        int err = 0;
        buf_init(&b, 64 * 1024);
        bool ready = health_render(h->health, &b, &err);
        if (err != 0) {
                buf_release(&b);
                return MHD_NO;
        }
        return reply(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                     "text/plain; charset=utf-8", &b);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **state) {
        static int first_call_seen;
        httpd_t *h = cls;
        (void)version;
        (void)upload;
        /* Wait for the whole request (a body, if any, is read and dropped). */
        if (*state == NULL) {
                *state = &first_call_seen;
                return MHD_YES;
        }
        if (*upload_size != 0) {
                *upload_size = 0;
                return MHD_YES;
        }
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
            strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                  "method not allowed\n");
        if (strcmp(url, "/metrics") == 0)
                return serve_metrics(h, conn);
        if (strcmp(url, "/healthz") == 0)
                return reply_text(conn, MHD_HTTP_OK, "ok\n");
        if (strcmp(url, "/readyz") == 0)
                return serve_ready(h, conn);
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        char msg[512];
        (void)cls;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        size_t n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
                msg[--n] = '\0';
        /* Mostly clients misbehaving; start failures surface in httpd_new. */
        LOG_DEBUG("httpd", "libmicrohttpd: %s", msg);
}

/* Splits "host:port" / "[v6]:port" and resolves it (numeric port). */
static int resolve(const char *listen, struct addrinfo **res, char *errstr,
                   size_t errstr_size) {
        char host[256];
        const char *colon = strrchr(listen, ':');
        size_t hl         = colon ? (size_t)(colon - listen) : 0;
        if (!colon || hl == 0 || hl >= sizeof(host) || !colon[1]) {
                snprintf(errstr, errstr_size,
                         "cannot listen on %s: expected HOST:PORT", listen);
                return -1;
        }
        memcpy(host, listen, hl);
        host[hl]         = '\0';
        const char *node = host;
        if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
                host[hl - 1] = '\0';
                node         = host + 1;
        }
        struct addrinfo hints = {.ai_family   = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags    = AI_PASSIVE | AI_NUMERICSERV};
        int rc                = getaddrinfo(node, colon + 1, &hints, res);
        if (rc != 0) {
                snprintf(errstr, errstr_size, "cannot listen on %s: %s", listen,
                         gai_strerror(rc));
                return -1;
        }
        return 0;
}

/* A listening socket for ai; -1 with errstr on failure. */
static int listen_ai(const char *listen_addr, const struct addrinfo *ai,
                     int *port, char *errstr, size_t errstr_size) {
        char ebuf[128];
        int one = 1;
        int fd  = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                         ai->ai_protocol);
        if (fd < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
                snprintf(errstr, errstr_size, "cannot listen on %s: %s",
                         listen_addr, log_errno_str(errno, ebuf, sizeof(ebuf)));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        *port        = 0;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
                *port = ntohs(ss.ss_family == AF_INET6
                                  ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                  : ((struct sockaddr_in *)&ss)->sin_port);
        return fd;
}

int httpd_new(const httpd_opts_t *opts, httpd_t **out, char *errstr,
              size_t errstr_size) {
        struct addrinfo *ai = NULL;
        httpd_t *h          = NULL;
        int err = -1, fd = -1;
        *out = NULL;
        if (resolve(opts->listen, &ai, errstr, errstr_size) < 0)
                goto done;
        if (!(h = calloc(1, sizeof(*h)))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        h->metrics = opts->metrics;
        h->health  = opts->health;
        fd         = listen_ai(opts->listen, ai, &h->port, errstr, errstr_size);
        if (fd < 0)
                goto done;
        h->d = MHD_start_daemon(
            MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
            on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)(opts->conn_limit > 0 ? opts->conn_limit : 32),
            MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)(opts->conn_timeout_s > 0 ? opts->conn_timeout_s : 10),
            MHD_OPTION_END);
        if (!h->d) {
                snprintf(errstr, errstr_size,
                         "cannot start the HTTP server on %s", opts->listen);
                goto done;
        }
        fd = -1; /* MHD closes it on stop */
        LOG_INFO("httpd", "serving /metrics /healthz /readyz listen=%s port=%d",
                 opts->listen, h->port);
        *out = h;
        h    = NULL;
        err  = 0;
done:
        if (fd >= 0)
                close(fd);
        if (ai)
                freeaddrinfo(ai);
        httpd_destroy(h);
        return err;
}

int httpd_listen_socket(const char *listen, int *port, char *errstr,
                        size_t errstr_size) {
        struct addrinfo *ai = NULL;
        if (resolve(listen, &ai, errstr, errstr_size) < 0)
                return -1;
        int fd = listen_ai(listen, ai, port, errstr, errstr_size);
        freeaddrinfo(ai);
        return fd;
}

int httpd_port(const httpd_t *h) {
        return h ? h->port : 0;
}

void httpd_destroy(httpd_t *h) {
        if (!h)
                return;
        if (h->d)
                MHD_stop_daemon(h->d);
        free(h);
}
