/* common/config_table.c — every configuration key bitmon has, one row each.
 *
 * Adding a setting is adding a row here (then `make` and
 * `build/bitmon config --reference > docs/configuration.md`). Bounds are
 * inclusive. Checks for string values and across keys live at the end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

#define KIB 1024.0
#define MIB (1024.0 * KIB)
#define GIB (1024.0 * MIB)

/* clang-format off */
#define STR(n, d, doc)             {n, CONFIG_STRING, d, 0, 0, NULL, NULL, false, doc}
#define STR_CK(n, d, ck, doc)      {n, CONFIG_STRING, d, 0, 0, NULL, ck, false, doc}
#define SECRET(n, d, doc)          {n, CONFIG_STRING, d, 0, 0, NULL, NULL, true, doc}
#define INT(n, d, lo, hi, doc)     {n, CONFIG_INT, d, lo, hi, NULL, NULL, false, doc}
#define SIZE(n, d, lo, hi, doc)    {n, CONFIG_SIZE, d, lo, hi, NULL, NULL, false, doc}
#define DBL(n, d, lo, hi, doc)     {n, CONFIG_DOUBLE, d, lo, hi, NULL, NULL, false, doc}
#define BOOL(n, d, doc)            {n, CONFIG_BOOL, d, 0, 0, NULL, NULL, false, doc}
#define ENUM(n, d, ch, doc)        {n, CONFIG_ENUM, d, 0, 0, ch, NULL, false, doc}
/* clang-format on */

static config_check_fn check_url, check_nonempty, check_topic, check_listen,
    check_listen_opt, check_tokens_store, check_overrides, check_list_sort;

/* clang-format off */
const config_key_t config_table[] = {
STR("worker.id", NULL, "name of this process in results and logs; default: the host name (the pod name under Kubernetes)"),
ENUM("log.level", "info", "debug|info|warn|error|off", "lowest level written"),
ENUM("log.format", "auto", "auto|json|text", "auto: readable text on a terminal, JSON lines otherwise"),

STR("kafka.bootstrap.servers", "localhost:9092", "Kafka brokers (host:port,...); every kafka.* key goes to librdkafka as is"),
STR_CK("topics.jobs", "bitmon.jobs", check_topic, "topic of monitor jobs"),
STR_CK("topics.results", "bitmon.results", check_topic, "topic results are published to"),
STR_CK("topics.dlq", "bitmon.jobs.dlq", check_topic, "topic invalid jobs are moved to, reason in headers"),
STR_CK("topics.logs", "bitmon.logs", check_topic, "topic the whole build logs of `log: full` jobs are copied to, in segments, compressed with zstd (docs/results.md \"The full log\")"),
INT("topics.logs_retention_ms", "259200000", 60000, 315360000000.0, "retention.ms of topics.logs when `bitmon topics` creates it (logs are large: shorter than the results' by default)"),
SIZE("logs.segment_bytes", "512KiB", 1 * KIB, 960 * KIB, "raw log bytes per message in topics.logs (before compression; below the brokers' message.max.bytes)"),
INT("logs.max_in_flight", "4", 1, 256, "segments of one log on their way to Kafka before its download pauses (with logs.segment_bytes, the memory one streaming log may hold)"),
SIZE("logs.max_buffer_bytes", "64MiB", 1 * MIB, 16 * GIB, "segment bytes of all streaming logs of the process on their way to Kafka; beyond it their downloads pause (each keeps at least one segment going)"),
INT("topics.partitions", "12", 1, 10000, "partitions when `bitmon topics` creates a topic"),
INT("topics.replication", "3", 1, 32, "replication factor when `bitmon topics` creates a topic"),
INT("topics.retention_ms", "604800000", 60000, 315360000000.0, "retention.ms when `bitmon topics` creates a topic"),
STR_CK("consumer.group", "bitmon", check_nonempty, "Kafka consumer group shared by every bitmon process"),
BOOL("producer.exactly_once", "false", "terminal results exactly once for read_committed readers: a transactional producer (transactional.id `bitmon/<consumer.group>/<worker.id>`, so worker.id must be stable and unique per process; a restarted process fences its previous self) commits results with the consumed offsets they finish, no auto-commit (docs/results.md \"Exactly once\")"),
INT("producer.txn_ms", "100", 1, 60000, "exactly-once: a transaction is committed this long after it began (results become visible to read_committed readers then)"),
INT("producer.txn_max_messages", "10000", 1, 1000000, "exactly-once: a transaction is committed once this many messages joined it, before producer.txn_ms"),
INT("producer.txn_timeout_ms", "60000", 1000, 900000, "exactly-once: transaction.timeout.ms; the broker aborts a transaction of a process that died after this long (unless its restart fences it sooner); read_committed readers wait for it meanwhile"),

SIZE("job.max_bytes", "64KiB", 1 * KIB, 16 * MIB, "largest job message accepted; larger ones go to the DLQ"),
INT("job.default_deadline_s", "21600", 60, 2592000, "how long a job watches its build when it gives no deadline_s"),
INT("job.max_deadline_s", "86400", 60, 2592000, "upper bound on a job's deadline_s"),

INT("workers.threads", "2", 1, 256, "worker threads, each with its own event loop"),
INT("workers.max_watches", "20000", 1, 10000000, "watches per process before the consumer pauses intake"),
INT("workers.resume_watches", "0", 0, 10000000, "intake resumes when watches fall to this many; 0 = 90% of workers.max_watches"),
INT("workers.max_in_flight", "512", 1, 1000000, "Bitrise requests in flight per worker thread; due watches beyond it wait in line"),

STR_CK("bitrise.base_url", "https://api.bitrise.io/v0.1", check_url, "Bitrise API base URL"),
STR("bitrise.ca_file", "", "CA bundle for TLS to Bitrise; empty = the system store"),
INT("bitrise.max_host_connections", "0", 0, 100000, "open connections per worker thread to one Bitrise host (API, log storage); 0 = unlimited (requests in flight stay below workers.max_in_flight); a limit below it queues requests inside libcurl, which cost CPU in the benchmark"),
INT("bitrise.max_connections", "1024", 0, 100000, "connections each worker thread keeps open for reuse; 0 = libcurl's default (4 x the transfers in the multi, so it shrinks as they end and the next burst connects again); a small cache closes and reopens connections under load"),
INT("bitrise.connect_timeout_ms", "5000", 100, 600000, "TCP + TLS connect timeout"),
INT("bitrise.timeout_ms", "30000", 1000, 3600000, "whole-request timeout of an API call (not the raw log download)"),
INT("bitrise.low_speed_time_s", "30", 1, 3600, "abort a transfer that moves no data for this long"),
SIZE("bitrise.max_body_bytes", "4MiB", 64 * KIB, 1 * GIB, "largest API response body accepted"),
SIZE("bitrise.log_max_bytes", "256MiB", 1 * MIB, 16 * GIB, "largest raw log read; beyond it the log is reported truncated"),
INT("bitrise.log_tail_lines", "100", 0, 10000, "last lines of the log kept in a result's tail"),
INT("bitrise.step_last_lines", "20", 0, 1000, "last lines kept per failed step"),
DBL("bitrise.log_retry_s", "10", 0.01, 3600, "between /log calls while a finished build's log is not archived yet (at most poll.running_s)"),
INT("bitrise.log_archive_wait_s", "600", 0, 86400, "how long to wait for a finished build's log to be archived"),

DBL("poll.on_hold_s", "30", 0.05, 3600, "poll interval while a build is on hold"),
DBL("poll.running_s", "15", 0.05, 3600, "poll interval while a build is running, when nothing better is known (no history, no webhooks)"),
BOOL("poll.batch", "true", "refresh the running builds of one app with one list call per interval instead of one GET per build (an app with one watched build is still polled per build)"),
BOOL("poll.adaptive", "true", "learn each (app, workflow)'s build durations (kept in Redis) and poll densely only around a build's expected end"),
DBL("poll.min_s", "2", 0, 3600, "floor: never look at an app (or a build) again sooner than this"),
DBL("poll.max_s", "120", 0.05, 86400, "ceiling: a running build far from its expected end is still looked at this often"),
DBL("poll.target_detect_s", "10", 0.05, 3600, "interval around a build's expected end: how soon a finish is seen there"),
INT("poll.list_margin_s", "600", 0, 86400, "a list call asks for builds run after the oldest watched trigger minus this (Bitrise does not say which time `after` compares)"),
STR_CK("poll.list_sort", "running_first", check_list_sort, "order of a list call: `running_first` (running and on-hold builds first: the watched builds fit one page) or `created_at` (newest first)"),
INT("poll.list_max_pages", "4", 1, 8, "pages of 50 one list call may follow while watched builds are missing from it"),
DBL("poll.jitter", "0.2", 0, 1, "random spread of poll intervals and backoffs (0.2 = +-20%)"),
INT("poll.backoff_base_ms", "500", 10, 60000, "first backoff after a transient failure; doubles each time"),
INT("poll.backoff_max_s", "60", 1, 3600, "cap on the backoff"),
INT("poll.retry_budget", "8", 0, 1000, "transient failures in a row before a job ends with upstream_unavailable"),

STR_CK("redis.host", "127.0.0.1", check_nonempty, "Redis host"),
INT("redis.port", "6379", 1, 65535, "Redis port"),
STR("redis.user", "", "Redis ACL user; empty = default user"),
SECRET("redis.password", "", "Redis password; empty = no AUTH"),
STR("redis.password_file", "", "file holding the Redis password, read at every connect; instead of redis.password"),
BOOL("redis.tls", "false", "connect to Redis over TLS (server certificate and name verified)"),
STR("redis.tls_ca_file", "", "PEM CA bundle for Redis TLS; empty with redis.tls_ca_dir empty = the system store"),
STR("redis.tls_ca_dir", "", "hashed CA directory (c_rehash) for Redis TLS"),
STR("redis.tls_cert_file", "", "client certificate (PEM) for Redis TLS; empty = none"),
STR("redis.tls_key_file", "", "private key (PEM) of redis.tls_cert_file"),
STR("redis.tls_server_name", "", "name the Redis certificate must carry, sent as SNI; empty = redis.host"),
INT("redis.db", "0", 0, 1000, "Redis database number"),
STR("redis.prefix", "bitmon:", "prefix of every Redis key"),
INT("redis.connect_timeout_ms", "2000", 10, 60000, "bound on resolving redis.host, connecting and the TLS handshake"),
INT("redis.command_timeout_ms", "1000", 10, 60000, "Redis command timeout"),

INT("cache.expected_replicas", "1", 1, 1000, "pods sharing the budget; with Redis down each uses budget.rate / this"),
INT("cache.valid_ttl_s", "3600", 1, 604800, "how long a token stays known-valid"),
INT("cache.invalid_ttl_s", "300", 1, 604800, "how long a token stays known-invalid (401)"),
INT("cache.role_ttl_s", "600", 1, 604800, "how long a token stays known to lack the role (403)"),
INT("cache.done_ttl_s", "604800", 60, 7776000, "how long a finished job_id is remembered (skips redeliveries)"),
INT("cache.build_ttl_ms", "10000", 1000, 3600000, "how long a build's status is shared from the cache"),
INT("cache.lease_ms", "5000", 100, 60000, "lease of the one pod refreshing a build's cached status"),

DBL("budget.rate", "1", 0.001, 10000, "requests per second per token, all pods together (Bitrise publishes no limit)"),
INT("budget.burst", "20", 1, 100000, "requests a token may make at once"),
STR_CK("budget.overrides", "", check_overrides, "per-workspace rate:burst, e.g. `ws1=2:40,ws2=0.5:10`"),

STR_CK("tokens.store", "dir:/var/run/secrets/bitmon/tokens", check_tokens_store, "`dir:PATH` (one file per workspace) or `redis` (encrypted)"),
STR("tokens.key_file", "", "AES-256 key file for tokens.store=redis"),
STR("tokens.old_key_files", "", "older AES-256 key files, comma separated: tokens sealed under them still open; `bitmon tokens rekey` re-seals them under tokens.key_file"),
SECRET("tokens.fingerprint_key_file", "", "HMAC key file for token fingerprints"),

BOOL("http.enabled", "true", "serve /metrics, /healthz and /readyz"),
DBL("webhook.safety_poll_s", "300", 1, 86400, "builds of an app that delivers webhooks are polled only this often (a lost delivery is never resent)"),
INT("webhook.trust_s", "3600", 60, 604800, "an app counts as delivering webhooks for this long after its last delivery"),
STR_CK("http.listen", "0.0.0.0:9090", check_listen, "address of /metrics, /healthz, /readyz (HOST:PORT, [IPV6]:PORT)"),
STR_CK("webhook.listen", "", check_listen_opt, "address of the webhook intake, POST /webhooks/bitrise (HOST:PORT, [IPV6]:PORT; not http.listen); empty = off (docs/webhooks.md)"),
STR_CK("webhook.secrets", "dir:/var/run/secrets/bitmon/webhook-secrets", check_tokens_store, "where the per-workspace webhook secrets are: `dir:PATH` (one file per workspace) or `redis` (encrypted with tokens.key_file, keys webhook-secret:W); written by `bitmon webhooks register`"),
SIZE("webhook.max_body_bytes", "64KiB", 1 * KIB, 1 * MIB, "largest webhook body accepted; larger ones get 413, checked as the bytes arrive"),
INT("shutdown.timeout_s", "25", 1, 300, "time allowed for a clean shutdown after SIGTERM"),
};
/* clang-format on */

const size_t config_table_len = sizeof(config_table) / sizeof(config_table[0]);

const char *const config_env_reserved[] = {
    "BITMON_CONFIG",  "BITMON_TEST_*",  "BITMON_BIN",
    "BITMON_SIM",     "BITMON_SHARED",  "BITMON_BUILD",
    "BITMON_BENCH_*", "BITMON_STACK_*", NULL,
};

static int fail(char *errstr, size_t errstr_size, const char *why) {
        snprintf(errstr, errstr_size, "%s", why);
        return -1;
}

static int check_nonempty(const char *v, char *errstr, size_t errstr_size) {
        return *v ? 0 : fail(errstr, errstr_size, "must not be empty");
}

static int check_url(const char *v, char *errstr, size_t errstr_size) {
        if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
                return fail(errstr, errstr_size,
                            "expected an http:// or https:// URL");
        if (v[strlen(v) - 1] == '/')
                return fail(errstr, errstr_size,
                            "must not end with '/' (e.g. "
                            "https://api.bitrise.io/v0.1)");
        return 0;
}

/* Kafka topic names: 1-249 of [a-zA-Z0-9._-]. */
static int check_topic(const char *v, char *errstr, size_t errstr_size) {
        size_t n = strlen(v);
        if (n == 0 || n > 249 ||
            strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._-") != n)
                return fail(errstr, errstr_size,
                            "expected 1-249 characters of a-z A-Z 0-9 . _ -");
        return 0;
}

static int check_listen(const char *v, char *errstr, size_t errstr_size) {
        const char *colon = strrchr(v, ':');
        if (!colon || colon == v)
                return fail(errstr, errstr_size, "expected HOST:PORT");
        if (v[0] == '[' && colon[-1] != ']')
                return fail(errstr, errstr_size, "expected [IPV6]:PORT");
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || port < 0 || port > 65535)
                return fail(errstr, errstr_size,
                            "expected a port between 0 and 65535");
        return 0;
}

static int check_listen_opt(const char *v, char *errstr, size_t errstr_size) {
        return *v ? check_listen(v, errstr, errstr_size) : 0;
}

static int check_tokens_store(const char *v, char *errstr, size_t errstr_size) {
        if (strcmp(v, "redis") == 0)
                return 0;
        if (strncmp(v, "dir:", 4) == 0 && v[4] == '/')
                return 0;
        return fail(errstr, errstr_size,
                    "expected dir:/ABSOLUTE/PATH or redis");
}

static int check_list_sort(const char *v, char *errstr, size_t errstr_size) {
        if (strcmp(v, "running_first") == 0 || strcmp(v, "created_at") == 0)
                return 0;
        return fail(errstr, errstr_size,
                    "expected running_first or created_at");
}

/* "ws=rate:burst,ws2=rate:burst" with rate > 0 and burst >= 1. */
static int check_overrides(const char *v, char *errstr, size_t errstr_size) {
        const char *p = v;
        while (*p) {
                const char *eq  = strchr(p, '=');
                const char *end = strchr(p, ',');
                if (!end)
                        end = p + strlen(p);
                if (!eq || eq >= end || eq == p)
                        goto bad;
                char *e     = NULL;
                double rate = strtod(eq + 1, &e);
                if (e == eq + 1 || *e != ':' || !isfinite(rate) || rate <= 0)
                        goto bad;
                const char *b   = e + 1;
                long long burst = strtoll(b, &e, 10);
                if (e == b || e != end || burst < 1)
                        goto bad;
                p = *end ? end + 1 : end;
                if (*end && !*p)
                        goto bad;
        }
        return 0;
bad:
        return fail(errstr, errstr_size,
                    "expected WORKSPACE=RATE:BURST[,...] with RATE > 0 and "
                    "BURST >= 1");
}

void config_table_check(config_t *cfg) {
        int64_t def = config_int(cfg, "job.default_deadline_s");
        int64_t max = config_int(cfg, "job.max_deadline_s");
        if (def > max)
                config_error_add(cfg,
                                 "job.default_deadline_s (%lld) must not "
                                 "exceed job.max_deadline_s (%lld)",
                                 (long long)def, (long long)max);
        int64_t resume  = config_int(cfg, "workers.resume_watches");
        int64_t watches = config_int(cfg, "workers.max_watches");
        if (resume >= watches)
                config_error_add(cfg,
                                 "workers.resume_watches (%lld) must be "
                                 "below workers.max_watches (%lld)",
                                 (long long)resume, (long long)watches);
        if (config_int(cfg, "poll.backoff_base_ms") >
            config_int(cfg, "poll.backoff_max_s") * 1000)
                config_error_add(cfg, "poll.backoff_base_ms must not exceed "
                                      "poll.backoff_max_s");
        if (strcmp(config_str(cfg, "tokens.store"), "redis") == 0 &&
            !*config_str(cfg, "tokens.key_file"))
                config_error_add(cfg, "tokens.key_file: required when "
                                      "tokens.store is redis");
        if (strcmp(config_str(cfg, "webhook.secrets"), "redis") == 0 &&
            !*config_str(cfg, "tokens.key_file"))
                config_error_add(cfg, "tokens.key_file: required when "
                                      "webhook.secrets is redis");
}
