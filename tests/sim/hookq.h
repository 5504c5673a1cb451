/* tests/sim/hookq.h — the outgoing webhooks' delivery thread (hookq.c).
 *
 * One thread of its own with a libcurl multi handle: deliveries wait in a
 * bounded queue until they are due (the configured delay), then are POSTed,
 * at most HOOKQ_IN_FLIGHT at a time, with short timeouts, once and never
 * retried. Pushing never blocks on the network (the API threads push). The
 * thread also calls a tick function every loop (at most 50 ms apart), which
 * the webhooks use to make due workload builds and notice scenario builds'
 * transitions.
 */
#ifndef BITMON_TESTS_SIM_HOOKQ_H
#define BITMON_TESTS_SIM_HOOKQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOOKQ_MAX       10000 /* queued deliveries */
#define HOOKQ_IN_FLIGHT 32

typedef struct sim_hookq sim_hookq_t;

/* One POST. The queue owns the strings once pushed. */
typedef struct sim_delivery {
        char hook[40];       /* webhook slug, for the delivery item */
        int event;           /* SIM_HOOK_TRIGGERED / SIM_HOOK_FINISHED */
        char *url;           /* http://127.0.0.1... (checked by the caller) */
        char *headers;       /* "Name: value\n" lines */
        char *payload;       /* the JSON body */
        int64_t due_ms;      /* monotonic ms */
        int64_t created_ms;  /* simulated ms, for the delivery item */
} sim_delivery_t;

typedef struct sim_delivery_result {
        long http_status; /* 0: no answer (connection error, timeout) */
        const char *body; /* the response body (capped at 4 KiB) */
        const char *headers;
        int64_t elapsed_ms;
} sim_delivery_result_t;

/* Called on the delivery thread after each attempt (d is freed after). */
typedef void (*sim_hookq_done_fn)(void *ctx, const sim_delivery_t *d,
                                  const sim_delivery_result_t *res);
/* Called on the delivery thread every loop; returns how long (real ms) the
 * thread may sleep before calling it again. */
typedef int64_t (*sim_hookq_tick_fn)(void *ctx);

/* Starts the thread. NULL with a reason on failure. */
sim_hookq_t *sim_hookq_start(sim_hookq_tick_fn tick, sim_hookq_done_fn done,
                             void *ctx, char *errstr, size_t errstr_size);
/* Stops the thread; deliveries not yet sent are dropped. NULL: no-op. */
void sim_hookq_stop(sim_hookq_t *q);

/* Queues a delivery of payload to url with headers ("Name: value\n" lines),
 * copied, to be sent at d->due_ms; d's string fields are ignored. -1 when the
 * queue is full or memory is short. Any thread. */
int sim_hookq_push(sim_hookq_t *q, const sim_delivery_t *d, const char *url,
                   const char *headers, const char *payload);
/* Deliveries queued and in flight now. */
void sim_hookq_counts(sim_hookq_t *q, size_t *queued, size_t *in_flight);

#endif
