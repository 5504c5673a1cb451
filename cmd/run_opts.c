/* cmd/run_opts.c — configuration keys → each module's options for
 * `bitmon run`, in one place (see cmd/run.h). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/run.h"
#include "common/log.h"

static const char *nz(const char *s) {
        return s && *s ? s : NULL;
}

static int fill_tokens(run_opts_t *o) {
        const config_t *cfg = o->cfg;
        char err[256];
        const char *fpf = config_str(cfg, "tokens.fingerprint_key_file");
        if (!*fpf) {
                fprintf(stderr, "bitmon run: tokens.fingerprint_key_file is "
                                "required (the HMAC key that names tokens)\n");
                return -1;
        }
        int n = cache_fp_key_load(fpf, o->fp_key, sizeof(o->fp_key), err,
                                  sizeof(err));
        if (n < 0) {
                fprintf(stderr, "bitmon run: %s\n", err);
                return -1;
        }
        o->monitor.fp_key          = o->fp_key;
        o->monitor.fp_key_len      = (size_t)n;
        o->monitor.tokens_spec     = config_str(cfg, "tokens.store");
        o->monitor.tokens.key_file = nz(config_str(cfg, "tokens.key_file"));
        const char *old            = config_str(cfg, "tokens.old_key_files");
        if (*old) {
                size_t k   = 0;
                char *save = NULL;
                if (!(o->old_keys_buf = strdup(old)))
                        return -1;
                for (char *s = strtok_r(o->old_keys_buf, ",", &save); s;
                     s       = strtok_r(NULL, ",", &save)) {
                        while (*s == ' ')
                                s++;
                        if (!*s)
                                continue;
                        if (k == RUN_MAX_OLD_KEYS) {
                                fprintf(stderr,
                                        "bitmon run: tokens.old_key_files: "
                                        "more than %d files\n",
                                        RUN_MAX_OLD_KEYS);
                                return -1;
                        }
                        o->old_keys[k++] = s;
                }
                o->monitor.tokens.old_key_files   = o->old_keys;
                o->monitor.tokens.n_old_key_files = k;
        }
        return 0;
}

static void fill_redis(run_opts_t *o) {
        const config_t *cfg = o->cfg;
        o->monitor.redis    = cmd_redis_opts(cfg, NULL);
        o->monitor.validity = (cache_validity_opts_t){
            .valid_ttl_s   = (int)config_int(cfg, "cache.valid_ttl_s"),
            .invalid_ttl_s = (int)config_int(cfg, "cache.invalid_ttl_s"),
            .role_ttl_s    = (int)config_int(cfg, "cache.role_ttl_s"),
        };
        o->monitor.done_ttl_s      = (int)config_int(cfg, "cache.done_ttl_s");
        o->monitor.webhook_trust_s = (int)config_int(cfg, "webhook.trust_s");
        o->monitor.build_ttl_ms    = (int)config_int(cfg, "cache.build_ttl_ms");
}

static int fill_budget(run_opts_t *o) {
        const config_t *cfg = o->cfg;
        char err[256];
        if (cache_budget_overrides_parse(config_str(cfg, "budget.overrides"),
                                         &o->overrides, &o->n_overrides, err,
                                         sizeof(err)) < 0) {
                fprintf(stderr, "bitmon run: budget.overrides: %s\n", err);
                return -1;
        }
        o->budget = (cache_budget_opts_t){
            .rate  = config_double(cfg, "budget.rate"),
            .burst = (double)config_int(cfg, "budget.burst"),
            .expected_replicas =
                (int)config_int(cfg, "cache.expected_replicas"),
            .overrides   = o->overrides,
            .n_overrides = o->n_overrides,
        };
        return 0;
}

static void fill_bitrise(run_opts_t *o) {
        const config_t *cfg = o->cfg;
        o->bitrise          = (bitrise_client_opts_t){
                     .base_url           = config_str(cfg, "bitrise.base_url"),
                     .ca_file            = nz(config_str(cfg, "bitrise.ca_file")),
                     .connect_timeout_ms = config_int(cfg, "bitrise.connect_timeout_ms"),
                     .timeout_ms         = config_int(cfg, "bitrise.timeout_ms"),
                     .low_speed_time_s   = config_int(cfg, "bitrise.low_speed_time_s"),
                     .max_body_bytes = (size_t)config_int(cfg, "bitrise.max_body_bytes"),
        };
        o->monitor.logparse = (logparse_opts_t){
            .max_bytes  = (uint64_t)config_int(cfg, "bitrise.log_max_bytes"),
            .tail_lines = (size_t)config_int(cfg, "bitrise.log_tail_lines"),
            .step_lines = (size_t)config_int(cfg, "bitrise.step_last_lines"),
        };
}

/* A key in (fractional) seconds as ms. */
static int ms_of(const config_t *cfg, const char *key) {
        return (int)(config_double(cfg, key) * 1000 + 0.5);
}

/* poll.* and the log wait → the watch's timings. The /log retry interval
 * while a finished build's log is not archived yet is bitrise.log_retry_s,
 * at most the running poll interval. */
static void fill_workers(run_opts_t *o) {
        const config_t *cfg = o->cfg;
        watch_opts_t *w     = &o->workers.watch;
        memset(w, 0, sizeof(*w));
        w->on_hold_ms     = ms_of(cfg, "poll.on_hold_s");
        w->running_ms     = ms_of(cfg, "poll.running_s");
        w->batch          = config_bool(cfg, "poll.batch");
        w->adaptive       = config_bool(cfg, "poll.adaptive");
        w->min_ms         = ms_of(cfg, "poll.min_s");
        w->max_ms         = ms_of(cfg, "poll.max_s");
        w->target_ms      = ms_of(cfg, "poll.target_detect_s");
        w->list_margin_s  = (int)config_int(cfg, "poll.list_margin_s");
        w->list_max_pages = (int)config_int(cfg, "poll.list_max_pages");
        w->list_running_first =
            strcmp(config_str(cfg, "poll.list_sort"), "running_first") == 0;
        w->safety_ms       = ms_of(cfg, "webhook.safety_poll_s");
        w->jitter          = config_double(cfg, "poll.jitter");
        w->backoff_base_ms = (int)config_int(cfg, "poll.backoff_base_ms");
        w->backoff_max_ms  = (int)config_int(cfg, "poll.backoff_max_s") * 1000;
        w->retry_max       = (int)config_int(cfg, "poll.retry_budget");
        w->lease_ms        = (int)config_int(cfg, "cache.lease_ms");
        /* Another holder's answer comes within its lease: look again after
         * a fifth of it (1 s for the default 5 s). */
        w->lease_wait_ms  = w->lease_ms / 5 > 10 ? w->lease_ms / 5 : 10;
        w->max_in_flight  = (int)config_int(cfg, "workers.max_in_flight");
        int64_t archive   = config_int(cfg, "bitrise.log_archive_wait_s");
        w->log_archive_ms = archive > 0 ? (int)(archive * 1000) : 1;
        int log_retry     = ms_of(cfg, "bitrise.log_retry_s");
        w->log_retry_ms = w->running_ms < log_retry ? w->running_ms : log_retry;
        if (w->jitter <= 0)
                w->jitter = -1; /* 0 means "none" here, "default" there */
        if (w->retry_max <= 0)
                w->retry_max = 1;
        o->workers.threads = (int)config_int(cfg, "workers.threads");
        o->workers.loop.max_host_connections =
            (long)config_int(cfg, "bitrise.max_host_connections");
        o->workers.loop.max_connects =
            (long)config_int(cfg, "bitrise.max_connections");
        o->workers.seams_init    = monitor_seams_init;
        o->workers.seams_release = monitor_seams_release;
}

static void fill_kafka(run_opts_t *o) {
        const config_t *cfg = o->cfg;
        kafka_opts_t *k     = &o->kafka;
        int eos             = config_bool(cfg, "producer.exactly_once");
        o->producer         = (producer_opts_t){
                    .bootstrap = k->bootstrap,
                    .kafka     = kafka_opts_pairs(k),
        };
        if (eos) {
                snprintf(o->txn_id, sizeof(o->txn_id), "bitmon/%s/%s",
                         config_str(cfg, "consumer.group"),
                         config_str(cfg, "worker.id"));
                o->producer.transactional_id = o->txn_id;
                o->producer.txn_timeout_ms =
                    (int)config_int(cfg, "producer.txn_timeout_ms");
        }
        int64_t max    = config_int(cfg, "workers.max_watches");
        int64_t resume = config_int(cfg, "workers.resume_watches");
        o->consumer    = (consumer_opts_t){
               .bootstrap      = k->bootstrap,
               .kafka          = kafka_opts_pairs(k),
               .group          = config_str(cfg, "consumer.group"),
               .topic_jobs     = k->topic_jobs,
               .topic_dlq      = k->topic_dlq,
               .max_watches    = (size_t)max,
               .resume_watches = (size_t)(resume > 0 ? resume : max * 9 / 10),
               .exactly_once   = eos,
               .txn_ms         = (int)config_int(cfg, "producer.txn_ms"),
               .txn_max_messages =
                   (uint64_t)config_int(cfg, "producer.txn_max_messages"),
               .limits =
                   {
                       .max_bytes = (size_t)config_int(cfg, "job.max_bytes"),
                       .deadline_default_s =
                           config_int(cfg, "job.default_deadline_s"),
                       .deadline_max_s = config_int(cfg, "job.max_deadline_s"),
                },
        };
        o->monitor.topic_results = k->topic_results;
        o->producer.zstd_topic   = k->topic_logs;
        o->monitor.logcopy       = (logcopy_opts_t){
                  .topic         = k->topic_logs,
                  .segment_bytes = (size_t)config_int(cfg, "logs.segment_bytes"),
                  .max_in_flight = (int)config_int(cfg, "logs.max_in_flight"),
                  .in_flight     = &o->logs_in_flight,
                  .in_flight_max = (int64_t)config_int(cfg, "logs.max_buffer_bytes"),
                  .ref_ttl_s =
                      (int)(config_int(cfg, "topics.logs_retention_ms") / 1000),
        };
        o->monitor.worker_id    = config_str(cfg, "worker.id");
        o->monitor.exactly_once = eos;
}

/* webhook.* → the intake; a redis secrets store shares the redis.* keys
 * and the token key files. Called after fill_tokens and fill_redis. */
static void fill_webhook(run_opts_t *o) {
        const config_t *cfg = o->cfg;
        o->webhook          = (webhook_intake_opts_t){
                     .listen         = config_str(cfg, "webhook.listen"),
                     .max_body_bytes = (size_t)config_int(cfg, "webhook.max_body_bytes"),
                     .secrets_spec   = config_str(cfg, "webhook.secrets"),
                     .redis          = o->monitor.redis,
                     .secrets        = o->monitor.tokens,
                     .topic          = o->kafka.topic_jobs,
        };
        o->webhook_enabled = *o->webhook.listen != '\0';
}

int run_opts_fill(run_opts_t *o) {
        o->cfg = o->kafka.cfg;
        fill_bitrise(o);
        fill_redis(o);
        fill_workers(o);
        fill_kafka(o);
        o->http = (httpd_opts_t){.listen = config_str(o->cfg, "http.listen")};
        o->http_enabled = config_bool(o->cfg, "http.enabled");
        o->shutdown_ms  = (int)config_int(o->cfg, "shutdown.timeout_s") * 1000;
        if (fill_budget(o) < 0 || fill_tokens(o) < 0)
                return -1;
        fill_webhook(o);
        return 0;
}

void run_opts_release(run_opts_t *o) {
        cache_budget_overrides_free(o->overrides, o->n_overrides);
        o->overrides = NULL;
        free(o->old_keys_buf);
        o->old_keys_buf = NULL;
        OPENSSL_cleanse(o->fp_key, sizeof(o->fp_key));
        kafka_opts_release(&o->kafka);
}

void run_opts_log(const run_opts_t *o) {
        const config_t *cfg = o->cfg;
        LOG_INFO("run",
                 "starting worker=%s bootstrap=%s group=%s jobs=%s results=%s "
                 "dlq=%s threads=%d max_watches=%zu resume_watches=%zu "
                 "bitrise=%s tokens=%s redis=%s:%d prefix=%s "
                 "budget_rate=%g budget_burst=%g replicas=%d poll_on_hold_s=%g "
                 "poll_running_s=%g batch=%d adaptive=%d http=%s webhook=%s "
                 "shutdown_timeout_s=%d exactly_once=%s",
                 o->monitor.worker_id, o->kafka.bootstrap, o->consumer.group,
                 o->consumer.topic_jobs, o->monitor.topic_results,
                 o->consumer.topic_dlq, o->workers.threads,
                 o->consumer.max_watches, o->consumer.resume_watches,
                 o->bitrise.base_url, o->monitor.tokens_spec,
                 o->monitor.redis.host, o->monitor.redis.port,
                 o->monitor.redis.prefix, o->budget.rate, o->budget.burst,
                 o->budget.expected_replicas,
                 o->workers.watch.on_hold_ms / 1000.0,
                 o->workers.watch.running_ms / 1000.0, o->workers.watch.batch,
                 o->workers.watch.adaptive,
                 o->http_enabled ? config_str(cfg, "http.listen") : "off",
                 o->webhook_enabled ? o->webhook.listen : "off",
                 o->shutdown_ms / 1000,
                 o->producer.transactional_id ? o->producer.transactional_id
                                              : "off");
}
