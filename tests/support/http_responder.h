/* tests/support/http_responder.h — a scripted HTTP/1.1 server for client
 * tests.
 *
 * Listens on 127.0.0.1 at a random port and answers each request from a
 * table of canned routes, including the faults real networks produce: a
 * connection reset before or in the middle of a body, a body shorter than
 * its Content-Length, a server that stalls. One connection at a time on one
 * thread, `Connection: close` on every answer. It records the request heads
 * it saw, so tests can assert on headers (e.g. no Authorization on the raw
 * log download). Plain HTTP only; for TLS use the simulator.
 */
#ifndef BITMON_TESTS_HTTP_RESPONDER_H
#define BITMON_TESTS_HTTP_RESPONDER_H

#include <stddef.h>

typedef enum {
        HR_FAULT_NONE = 0,
        HR_FAULT_RESET,         /* read the request, then RST, no answer */
        HR_FAULT_RESET_MIDBODY, /* headers and half the body, then RST */
        HR_FAULT_SHORT_BODY,    /* full Content-Length, half the body, FIN */
        HR_FAULT_STALL,         /* read the request, say nothing for
                                 * stall_ms, then close */
} hr_fault_t;

typedef struct hr_route {
        const char *target; /* request target to match ("/v0.1/apps?limit=50");
                             * a trailing '*' matches any rest */
        int status;         /* e.g. 200 */
        const char
            *headers; /* extra header lines, each ending in "\r\n", or NULL */
        const char *body; /* may be NULL */
        size_t body_len;  /* 0 = strlen(body) */
        size_t repeat;    /* send the body this many times (0 = once) */
        hr_fault_t fault;
        int stall_ms;
} hr_route_t;

typedef struct http_responder http_responder_t;

/* Starts serving. The routes array and the strings it points to are
 * borrowed until http_responder_stop. Unknown targets get 404 with a JSON
 * message. NULL with a reason in errstr on failure. */
http_responder_t *http_responder_start(const hr_route_t *routes, size_t nroutes,
                                       char *errstr, size_t errstr_size);

int http_responder_port(const http_responder_t *r);

/* Requests served so far whose target matched the route's target. */
unsigned http_responder_hits(http_responder_t *r, const char *target);

/* Copies the head (request line + headers) of the last request whose target
 * matched, NUL-terminated; returns 0, or -1 when there was none. */
int http_responder_last_head(http_responder_t *r, const char *target, char *out,
                             size_t size);

/* Stops the thread, closes the socket, frees. NULL is a no-op. */
void http_responder_stop(http_responder_t *r);

#endif
