/* cmd/run.h — internal to `bitmon run`: every module's options, filled from
 * the configuration in one place (cmd/run_opts.c), and what they own. */
#ifndef BITMON_CMD_RUN_H
#define BITMON_CMD_RUN_H

#include "bitrise/client.h"
#include "cache/budget.h"
#include "cmd/kafka_opts.h"
#include "common/httpd.h"
#include "consumer/consumer.h"
#include "producer/producer.h"
#include "workers/monitor.h"
#include "webhook/intake.h"
#include "workers/workers.h"

#define RUN_MAX_OLD_KEYS 16

typedef struct run_opts {
        kafka_opts_t kafka; /* the configuration and the Kafka flags */
        const config_t *cfg;
        bitrise_client_opts_t bitrise;
        producer_opts_t producer;
        consumer_opts_t consumer;
        cache_budget_opts_t budget;
        workers_opts_t workers;
        monitor_opts_t monitor; /* client, budget, producer, consumer,
                                 * health and metrics set by run.c */
        httpd_opts_t http;
        int http_enabled;
        webhook_intake_opts_t webhook; /* producer, metrics set by run.c */
        int webhook_enabled;           /* webhook.listen is set */
        int shutdown_ms;
        /* owned */
        char txn_id[512]; /* exactly-once: the producer's transactional.id */
        _Atomic int64_t logs_in_flight; /* log: full segments on their way
                                         * (logs.max_buffer_bytes) */
        cache_budget_override_t *overrides;
        size_t n_overrides;
        unsigned char fp_key[CACHE_FP_KEY_MAX];
        char *old_keys_buf;
        const char *old_keys[RUN_MAX_OLD_KEYS];
} run_opts_t;

/* Maps the loaded configuration (o->kafka.cfg) into the option structs.
 * Returns 0, or -1 after printing every problem to stderr. */
int run_opts_fill(run_opts_t *o);

/* Frees what run_opts_fill allocated (and the configuration). */
void run_opts_release(run_opts_t *o);

/* Logs the effective settings in one line (no secrets). */
void run_opts_log(const run_opts_t *o);

#endif
