/* webhook/intake.h — the HTTP listener that takes Bitrise's outgoing
 * webhooks (`webhook.listen`, off by default; a server of its own, not the
 * metrics port) and turns each delivery into a hint on the jobs topic.
 *
 * One route: POST /webhooks/bitrise. Each request is authenticated by the
 * headers set at registration (`bitmon webhooks register`):
 *   X-Bitmon-Workspace: W        the workspace the app belongs to
 *   X-Bitmon-Webhook-Secret: S   W's secret in the secrets store
 * compared in constant time (HMAC-SHA256 of both under a per-process random
 * key, then CRYPTO_memcmp). The body is capped while it arrives. A valid
 * delivery becomes job_hint_to_json(...) produced to `topic` with the key
 * "<app_slug>/<build_slug>" — the key of the build's jobs, so the hint lands
 * on the partition (and the pod) that watches the build, provided every job
 * producer uses the same partitioner as bitmon (murmur2, docs/webhooks.md).
 *
 * Answers (each counted in bitmon_webhook_requests_total{outcome}):
 *   202 accepted            the hint was handed to the producer
 *   202 ignored             authenticated, but an event bitmon does not use
 *   400 bad_request         no event header, invalid JSON, missing field
 *   401 unauthorized        unknown workspace or wrong secret (no detail)
 *   404 not_found           another path
 *   405 method_not_allowed  not POST (Allow: POST)
 *   413 too_large           body over max_body_bytes
 *   503 unavailable         producer refused, secrets store unreachable
 * Neither the secret nor the body is ever logged; refused requests log at
 * debug level only (a flood must not flood the log).
 *
 * Threads: libmicrohttpd's one internal thread serves every request (so a
 * redis secrets store has one connection, used there and by
 * webhook_intake_probe under a lock).
 * webhook_intake_new and _destroy run on one thread (main); the producer and
 * metrics are thread-safe and must outlive the intake.
 */
#ifndef BITMON_WEBHOOK_INTAKE_H
#define BITMON_WEBHOOK_INTAKE_H

#include <stddef.h>

#include "cache/redis.h"
#include "cache/tokenstore.h"
#include "common/metrics.h"
#include "producer/producer.h"

#define WEBHOOK_PATH            "/webhooks/bitrise"
#define WEBHOOK_HDR_WORKSPACE   "X-Bitmon-Workspace"
#define WEBHOOK_HDR_SECRET      "X-Bitmon-Webhook-Secret"
#define WEBHOOK_HDR_EVENT       "Bitrise-Event-Type"
#define WEBHOOK_MAX_BODY        (64u * 1024)     /* webhook.max_body_bytes */
#define WEBHOOK_SECRET_MAX      256              /* longer header: 401 */
#define WEBHOOK_SECRETS_KEYNAME "webhook-secret" /* redis: webhook-secret:W */

typedef struct webhook_intake_opts {
        const char *listen;    /* "HOST:PORT" / "[IPV6]:PORT"; port 0 = any */
        size_t max_body_bytes; /* 0 = WEBHOOK_MAX_BODY */
        const char *secrets_spec; /* webhook.secrets: "dir:PATH" or "redis" */
        /* redis secrets store: the connection to open (copied) and the key
         * files (tokens.key_file...); rc and redis_name are set here */
        cache_redis_opts_t redis;
        tokenstore_opts_t secrets;
        producer_t *producer; /* borrowed */
        const char *topic;    /* the jobs topic (copied) */
        metrics_t *metrics;   /* borrowed; NULL = no metrics */
        int conn_limit;       /* simultaneous connections; 0 = 64 */
        int conn_timeout_s;   /* idle connection timeout; 0 = 10 */
} webhook_intake_opts_t;

typedef struct webhook_intake webhook_intake_t;

/* Registers bitmon_webhook_requests_total{outcome} (all zero), so the
 * series are on /metrics also where the intake is off. Any thread. */
void webhook_intake_metrics(metrics_t *m);

/* Opens the secrets store, binds and starts serving. Returns 0 and *out, or
 * a negative status with the reason in errstr ("cannot listen on
 * 0.0.0.0:8080: Address already in use"). Caller stops it with
 * webhook_intake_destroy. */
int webhook_intake_new(const webhook_intake_opts_t *opts,
                       webhook_intake_t **out, char *errstr,
                       size_t errstr_size);

/* Probes the secrets store's Redis connection (cache_redis_probe), unless
 * a request is using it: call about once a second from any thread, or an
 * idle intake keeps a connection down, and bitmon_redis_degraded at 1,
 * after Redis came back. NULL, or no Redis store: nothing. */
void webhook_intake_probe(webhook_intake_t *wi);

/* The bound port (the one chosen when the port was 0). */
int webhook_intake_port(const webhook_intake_t *wi);

/* Stops accepting and closes every connection (a request being handled
 * finishes first), then frees. NULL is a no-op. */
void webhook_intake_destroy(webhook_intake_t *wi);

#endif
