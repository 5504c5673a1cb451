/* producer/kconf.h — librdkafka configuration shared by the consumer, the
 * producer and the admin commands: bootstrap, `kafka.*` passthrough pairs and
 * the log callback that routes librdkafka's lines to common/log.h.
 *
 * Thread-safe (no shared state); the log callback runs on librdkafka's
 * threads and only formats and writes one line.
 */
#ifndef BITMON_PRODUCER_KCONF_H
#define BITMON_PRODUCER_KCONF_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

/* librdkafka properties as key/value pairs, e.g. from the `kafka.*` keys of
 * the configuration with the prefix removed. Borrowed. */
typedef struct kconf_pairs {
        const char *const *kv; /* kv[2*i] = key, kv[2*i+1] = value */
        size_t n;              /* number of pairs */
} kconf_pairs_t;

/* A new configuration: bootstrap.servers (when bootstrap is not NULL), then
 * `defaults`, then the operator's `pairs` (which win over defaults), and the
 * bitmon log callback. Returns NULL with the failing key in errstr. Caller
 * owns the result (rd_kafka_conf_destroy, or hand it to rd_kafka_new). */
rd_kafka_conf_t *kconf_new(const char *bootstrap, const kconf_pairs_t *defaults,
                           const kconf_pairs_t *pairs, char *errstr,
                           size_t errstr_size);

/* Sets one property; 0 or -1 with "kafka.KEY: reason" in errstr. */
int kconf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
              char *errstr, size_t errstr_size);

/* An offset commit refused because the consumer group moved on (a
 * rebalance under way, or this member's generation is over): the
 * partitions' next owners resume from the last commit that landed. */
bool kconf_group_moved(rd_kafka_resp_err_t err);

#endif
