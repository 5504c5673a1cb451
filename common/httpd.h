/* common/httpd.h — the operations HTTP server: GET /metrics (Prometheus text
 * from a metrics registry), /healthz (200 while the process serves) and
 * /readyz (200 when the health says ready, else 503; the body lists every
 * component that is not OK). HEAD works too; other methods get 405, other
 * paths 404.
 *
 * libmicrohttpd with one internal thread (poll/epoll, not select, so high
 * descriptor numbers are fine), a connection limit and a timeout, so a slow
 * or hostile client cannot pin it.
 *
 * Threads: httpd_new and httpd_destroy from one thread (main); the server
 * thread reads the registry and the health, which are thread-safe.
 */
#ifndef BITMON_COMMON_HTTPD_H
#define BITMON_COMMON_HTTPD_H

#include <stddef.h>

#include "common/health.h"
#include "common/metrics.h"

typedef struct httpd_opts {
        const char *listen; /* "HOST:PORT" or "[IPV6]:PORT"; port 0 = any */
        metrics_t *metrics; /* borrowed; NULL serves an empty /metrics */
        health_t *health;   /* borrowed; NULL = always ready */
        int conn_limit;     /* simultaneous connections; 0 = 32 */
        int conn_timeout_s; /* idle connection timeout; 0 = 10 */
} httpd_opts_t;

typedef struct httpd httpd_t;

/* Binds and starts serving. Returns 0 and *out, or a negative status with
 * the reason in errstr ("cannot listen on 0.0.0.0:9090: Address already in
 * use"). metrics and health must outlive the server. Caller stops it with
 * httpd_destroy. */
int httpd_new(const httpd_opts_t *opts, httpd_t **out, char *errstr,
              size_t errstr_size);

/* A bound, listening TCP socket (SO_REUSEADDR, close-on-exec) for "HOST:PORT"
 * or "[IPV6]:PORT", for servers of their own such as the webhook intake.
 * Returns the descriptor (caller closes it, or hands it to MHD with
 * MHD_OPTION_LISTEN_SOCKET) and the bound port in *port, or -1 with the
 * reason in errstr ("cannot listen on 0.0.0.0:8080: Address already in
 * use"). */
int httpd_listen_socket(const char *listen, int *port, char *errstr,
                        size_t errstr_size);

/* The bound port (the one chosen when the port was 0). */
int httpd_port(const httpd_t *h);

/* Stops the server thread, closing every connection. NULL is a no-op. */
void httpd_destroy(httpd_t *h);

#endif
