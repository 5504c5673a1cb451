/* producer/kconf.c — build librdkafka configurations and route its logs. */
#include "producer/kconf.h"

#include <stdio.h>

#include "common/log.h"

/* Runs on librdkafka's threads: format and write, nothing else. */
static void kconf_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                         const char *buf) {
        log_level_t lvl = level <= 3   ? LOG_LVL_ERROR
                          : level <= 5 ? LOG_LVL_WARN
                          : level == 6 ? LOG_LVL_INFO
                                       : LOG_LVL_DEBUG;
        LOG_AT(lvl, "kafka", "%s client=%s kfac=%s", buf, rd_kafka_name(rk),
               fac);
}

int kconf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
              char *errstr, size_t errstr_size) {
        char why[256];
        if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "kafka.%s: %s", key, why);
                return -1;
        }
        return 0;
}

static int apply(rd_kafka_conf_t *conf, const kconf_pairs_t *p, char *errstr,
                 size_t errstr_size) {
        for (size_t i = 0; p && i < p->n; i++)
                if (kconf_set(conf, p->kv[2 * i], p->kv[2 * i + 1], errstr,
                              errstr_size) < 0)
                        return -1;
        return 0;
}

rd_kafka_conf_t *kconf_new(const char *bootstrap, const kconf_pairs_t *defaults,
                           const kconf_pairs_t *pairs, char *errstr,
                           size_t errstr_size) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (!conf) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        rd_kafka_conf_set_log_cb(conf, kconf_log_cb);
        if ((bootstrap && kconf_set(conf, "bootstrap.servers", bootstrap,
                                    errstr, errstr_size) < 0) ||
            apply(conf, defaults, errstr, errstr_size) < 0 ||
            apply(conf, pairs, errstr, errstr_size) < 0) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        return conf;
}

bool kconf_group_moved(rd_kafka_resp_err_t err) {
        return err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
               err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
               err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
}
