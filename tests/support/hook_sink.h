/* tests/support/hook_sink.h — an HTTP receiver for the simulator's outgoing
 * webhooks in tests.
 *
 * Listens on 127.0.0.1 at a random port (libmicrohttpd, its own thread),
 * records every request (method, path, headers, body up to 64 KiB) and
 * answers each with the status set (200 unless changed).
 *
 *   hook_sink_t *s = hook_sink_start(err, sizeof(err));
 *   ... register http://127.0.0.1:<hook_sink_port(s)>/hook ...
 *   hook_sink_wait(s, 2, 5000);       // until two requests arrived
 *   hook_sink_req_t q; hook_sink_get(s, 0, &q); ... hook_sink_req_release(&q);
 *   hook_sink_stop(s);
 *
 * Thread-safe.
 */
#ifndef BITMON_TESTS_SUPPORT_HOOK_SINK_H
#define BITMON_TESTS_SUPPORT_HOOK_SINK_H

#include <stddef.h>

typedef struct hook_sink hook_sink_t;

typedef struct hook_sink_req {
        char method[16];
        char path[256];
        char *headers; /* "Name: value\n" lines, names as sent */
        char *body;
        size_t body_len;
} hook_sink_req_t;

/* NULL with a reason on failure. Caller stops it with hook_sink_stop. */
hook_sink_t *hook_sink_start(char *errstr, size_t errstr_size);
int hook_sink_port(const hook_sink_t *s);
/* The HTTP status of the answers from now on. */
void hook_sink_set_status(hook_sink_t *s, int status);
/* Requests received so far. */
size_t hook_sink_count(hook_sink_t *s);
/* Waits until at least n requests arrived or timeout_ms passed (scaled by
 * $BITMON_TEST_TIMEOUT_SCALE); returns the count. */
size_t hook_sink_wait(hook_sink_t *s, size_t n, long timeout_ms);
/* A copy of request i (0 = first); -1 when there is none. Release with
 * hook_sink_req_release. */
int hook_sink_get(hook_sink_t *s, size_t i, hook_sink_req_t *out);
void hook_sink_req_release(hook_sink_req_t *q);
/* Value of header name (case-insensitive) in q into out; NULL if absent. */
const char *hook_sink_header(const hook_sink_req_t *q, const char *name,
                             char *out, size_t size);
void hook_sink_stop(hook_sink_t *s); /* NULL is a no-op */

#endif
