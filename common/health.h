/* common/health.h — readiness as the application states it, for /readyz.
 *
 * Readiness is a small set of named components, each OK, DEGRADED (working
 * with reduced guarantees — still ready, but reported, e.g. "redis" using the
 * local budget) or NOT_READY (e.g. "consumer": "no partitions assigned").
 * The process is ready when no component is NOT_READY. A new health starts
 * with the component "process" NOT_READY ("starting"); main sets it OK once
 * everything is wired, and NOT_READY ("shutting down") on SIGTERM.
 *
 * With a metrics registry, each component is also exported as the gauge
 * bitmon_health_state{component="..."} (0 ok, 1 degraded, 2 not ready).
 *
 * Threads: every function may be called from any thread (one mutex; state
 * changes are rare). Reasons are copied; they must never contain a token.
 */
#ifndef BITMON_COMMON_HEALTH_H
#define BITMON_COMMON_HEALTH_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/metrics.h"

typedef enum {
        HEALTH_OK = 0,
        HEALTH_DEGRADED,
        HEALTH_NOT_READY,
} health_state_t;

#define HEALTH_MAX_COMPONENTS 32
#define HEALTH_MAX_NAME       32
#define HEALTH_MAX_REASON     200

typedef struct health health_t;

/* `metrics` may be NULL; borrowed, must outlive the health. NULL on
 * allocation failure. Caller frees with health_destroy. */
health_t *health_new(metrics_t *metrics);
void health_destroy(health_t *h);

/* Sets a component's state and reason (NULL or "" for none; longer reasons
 * are cut). A name longer than HEALTH_MAX_NAME - 1 is cut; beyond
 * HEALTH_MAX_COMPONENTS components new names are refused (logged). */
void health_set(health_t *h, const char *component, health_state_t state,
                const char *reason);

/* True when no component is NOT_READY. */
bool health_ready(health_t *h);

/* Appends the /readyz body: "ready" or "not ready", then one line per
 * component that is not OK ("redis: degraded: connection refused"). Returns
 * whether the process is ready; *err gets 0 or a BUF_ERR_*. */
bool health_render(health_t *h, buf_t *out, int *err);

#endif
