/* tests/unit/test_config.c — the configuration table and its sources:
 * every type and bound (table-driven), precedence file < env < -X, errors
 * with key and line (all collected), env names, kafka passthrough, secret
 * masking, and that docs/configuration.md matches the table.
 */
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "tests/assert.h"

static char tmpdir[128];

/* Writes `text` to a file in the temp dir; returns its path (static). */
static const char *write_file(const char *name, const char *text) {
        static char path[200];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        FILE *f = fopen(path, "w");
        T_ASSERT(f != NULL);
        fputs(text, f);
        fclose(f);
        return path;
}

/* The dump as a string; caller frees. */
static char *dump(const config_t *cfg) {
        char *s  = NULL;
        size_t n = 0;
        FILE *f  = open_memstream(&s, &n);
        config_dump(cfg, f);
        fclose(f);
        return s;
}

static void test_table_is_well_formed(void) {
        char env[160], env2[160];
        for (size_t i = 0; i < config_table_len; i++) {
                const config_key_t *k = &config_table[i];
                size_t n              = strlen(k->name);
                T_ASSERTF(strspn(k->name,
                                 "abcdefghijklmnopqrstuvwxyz0123456789._") == n,
                          "bad key name %s", k->name);
                T_ASSERTF(strchr(k->name, '.') != NULL, "%s has no section",
                          k->name);
                T_ASSERTF(k->doc && *k->doc, "%s has no doc", k->name);
                T_ASSERTF(k->min <= k->max, "%s: min > max", k->name);
                T_ASSERTF(k->type != CONFIG_ENUM || k->choices,
                          "%s: no choices", k->name);
                config_env_name(k->name, env, sizeof(env));
                for (size_t j = i + 1; j < config_table_len; j++) {
                        T_ASSERTF(strcmp(k->name, config_table[j].name) != 0,
                                  "duplicate key %s", k->name);
                        config_env_name(config_table[j].name, env2,
                                        sizeof(env2));
                        T_ASSERTF(strcmp(env, env2) != 0, "%s and %s share %s",
                                  k->name, config_table[j].name, env);
                }
        }
}

static void test_defaults_are_valid(void) {
        config_t *cfg = config_new();
        T_ASSERT(cfg != NULL);
        T_EQ_INT(config_check(cfg), 0);
        T_EQ_INT(config_int(cfg, "workers.threads"), 2);
        T_EQ_INT(config_int(cfg, "bitrise.max_body_bytes"), 4 * 1024 * 1024);
        T_EQ_INT(config_int(cfg, "bitrise.log_max_bytes"), 256LL * 1024 * 1024);
        T_EQ_INT(config_int(cfg, "topics.retention_ms"), 7LL * 86400 * 1000);
        T_EQ_INT(config_int(cfg, "shutdown.timeout_s"), 25);
        T_EQ_STR(config_str(cfg, "topics.dlq"), "bitmon.jobs.dlq");
        T_EQ_STR(config_str(cfg, "log.level"), "info");
        T_ASSERT(config_double(cfg, "poll.jitter") == 0.2);
        T_ASSERT(config_bool(cfg, "http.enabled"));
        char host[256] = "";
        gethostname(host, sizeof(host));
        T_EQ_STR(config_str(cfg, "worker.id"), host);
        T_EQ_INT(config_source_of(cfg, "workers.threads"), CONFIG_SRC_DEFAULT);
        config_destroy(cfg);
        config_destroy(NULL);
}

/* One value for one key: accepted (with the value read back) or the exact
 * error. */
static const struct {
        const char *key, *value;
        const char *err; /* NULL = accepted */
        long long i;     /* INT/SIZE expectation */
        double d;        /* DOUBLE expectation */
        int b;           /* BOOL expectation */
} cases[] = {
    {"workers.threads", "1", NULL, 1, 0, 0},
    {"workers.threads", "256", NULL, 256, 0, 0},
    {"workers.threads", "+7", NULL, 7, 0, 0},
    {"workers.threads", "0", "must be between 1 and 256 (got 0)", 0, 0, 0},
    {"workers.threads", "257", "must be between 1 and 256 (got 257)", 0, 0, 0},
    {"workers.threads", "-1", "must be between 1 and 256 (got -1)", 0, 0, 0},
    {"workers.threads", "abc", "expected an integer (got abc)", 0, 0, 0},
    {"workers.threads", "3x", "expected an integer (got 3x)", 0, 0, 0},
    {"workers.threads", "", "expected an integer (got \"\")", 0, 0, 0},
    {"workers.threads", " 3", "expected an integer (got  3)", 0, 0, 0},
    {"workers.threads", "1.5", "expected an integer (got 1.5)", 0, 0, 0},
    {"workers.threads", "99999999999999999999",
     "expected an integer (got 99999999999999999999)", 0, 0, 0},
    {"topics.retention_ms", "315360000000", NULL, 315360000000LL, 0, 0},
    {"job.max_bytes", "65536", NULL, 65536, 0, 0},
    {"job.max_bytes", "64KiB", NULL, 65536, 0, 0},
    {"job.max_bytes", "1MiB", NULL, 1048576, 0, 0},
    {"job.max_bytes", "2048B", NULL, 2048, 0, 0},
    {"job.max_bytes", "16MiB", NULL, 16 * 1048576, 0, 0},
    {"job.max_bytes", "17MiB", "must be between 1KiB and 16MiB (got 17MiB)", 0,
     0, 0},
    {"job.max_bytes", "512", "must be between 1KiB and 16MiB (got 512)", 0, 0,
     0},
    {"job.max_bytes", "1KB", "expected bytes, e.g. 65536 or 64KiB (got 1KB)", 0,
     0, 0},
    {"job.max_bytes", "9999999999999GiB",
     "expected bytes, e.g. 65536 or 64KiB (got 9999999999999GiB)", 0, 0, 0},
    {"bitrise.log_max_bytes", "16GiB", NULL, 16LL << 30, 0, 0},
    {"poll.jitter", "0", NULL, 0, 0.0, 0},
    {"poll.jitter", "1", NULL, 0, 1.0, 0},
    {"poll.jitter", "1e-1", NULL, 0, 0.1, 0},
    {"poll.jitter", "1.01", "must be between 0 and 1 (got 1.01)", 0, 0, 0},
    {"poll.jitter", "-0.1", "must be between 0 and 1 (got -0.1)", 0, 0, 0},
    {"poll.jitter", "nan", "expected a number (got nan)", 0, 0, 0},
    {"poll.jitter", "inf", "expected a number (got inf)", 0, 0, 0},
    {"poll.jitter", "0.2s", "expected a number (got 0.2s)", 0, 0, 0},
    {"budget.rate", "0.001", NULL, 0, 0.001, 0},
    {"budget.rate", "0", "must be between 0.001 and 10000 (got 0)", 0, 0, 0},
    {"http.enabled", "false", NULL, 0, 0, 0},
    {"http.enabled", "TRUE", NULL, 0, 0, 1},
    {"http.enabled", "no", NULL, 0, 0, 0},
    {"http.enabled", "on", NULL, 0, 0, 1},
    {"http.enabled", "1", NULL, 0, 0, 1},
    {"http.enabled", "0", NULL, 0, 0, 0},
    {"http.enabled", "maybe", "expected true or false (got maybe)", 0, 0, 0},
    {"log.level", "debug", NULL, 0, 0, 0},
    {"log.level", "loud",
     "expected one of debug|info|warn|error|off (got loud)", 0, 0, 0},
    {"log.level", "debu",
     "expected one of debug|info|warn|error|off (got debu)", 0, 0, 0},
    {"log.format", "json", NULL, 0, 0, 0},
    {"log.format", "xml", "expected one of auto|json|text (got xml)", 0, 0, 0},
    {"tokens.store", "redis", NULL, 0, 0, 0},
    {"tokens.store", "dir:/var/tokens", NULL, 0, 0, 0},
    {"tokens.store", "dir:tokens",
     "expected dir:/ABSOLUTE/PATH or redis (got dir:tokens)", 0, 0, 0},
    {"tokens.store", "vault",
     "expected dir:/ABSOLUTE/PATH or redis (got vault)", 0, 0, 0},
    {"http.listen", "127.0.0.1:0", NULL, 0, 0, 0},
    {"http.listen", "[::1]:9090", NULL, 0, 0, 0},
    {"http.listen", "9090", "expected HOST:PORT (got 9090)", 0, 0, 0},
    {"http.listen", "host:70000",
     "expected a port between 0 and 65535 (got host:70000)", 0, 0, 0},
    {"http.listen", "host:", "expected a port between 0 and 65535 (got host:)",
     0, 0, 0},
    {"budget.overrides", "ws1=2:40,ws2=0.5:10", NULL, 0, 0, 0},
    {"budget.overrides", "", NULL, 0, 0, 0},
    {"budget.overrides", "ws1=2",
     "expected WORKSPACE=RATE:BURST[,...] with RATE > 0 and BURST >= 1 (got "
     "ws1=2)",
     0, 0, 0},
    {"budget.overrides", "ws1=0:4",
     "expected WORKSPACE=RATE:BURST[,...] with RATE > 0 and BURST >= 1 (got "
     "ws1=0:4)",
     0, 0, 0},
    {"budget.overrides", "ws1=1:4,",
     "expected WORKSPACE=RATE:BURST[,...] with RATE > 0 and BURST >= 1 (got "
     "ws1=1:4,)",
     0, 0, 0},
    {"budget.overrides", "=1:4",
     "expected WORKSPACE=RATE:BURST[,...] with RATE > 0 and BURST >= 1 (got "
     "=1:4)",
     0, 0, 0},
    {"budget.overrides", "a=1:4x",
     "expected WORKSPACE=RATE:BURST[,...] with RATE > 0 and BURST >= 1 (got "
     "a=1:4x)",
     0, 0, 0},
    {"bitrise.base_url", "http://127.0.0.1:8080/v0.1", NULL, 0, 0, 0},
    {"bitrise.base_url", "ftp://x",
     "expected an http:// or https:// URL (got ftp://x)", 0, 0, 0},
    {"bitrise.base_url", "https://api.bitrise.io/v0.1/",
     "must not end with '/' (e.g. https://api.bitrise.io/v0.1) (got "
     "https://api.bitrise.io/v0.1/)",
     0, 0, 0},
    {"topics.jobs", "my jobs",
     "expected 1-249 characters of a-z A-Z 0-9 . _ - (got my jobs)", 0, 0, 0},
    {"consumer.group", "", "must not be empty (got \"\")", 0, 0, 0},
    {"redis.password", "", NULL, 0, 0, 0},
};

static void test_types_and_bounds(void) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                config_t *cfg   = config_new();
                const char *key = cases[i].key;
                int rc = config_set(cfg, key, cases[i].value, CONFIG_SRC_CLI,
                                    NULL, 0);
                if (!cases[i].err) {
                        T_ASSERTF(rc == 0 && config_error_count(cfg) == 0,
                                  "%s=%s rejected: %s", key, cases[i].value,
                                  config_error(cfg, 0));
                        const config_key_t *k = NULL;
                        for (size_t j = 0; j < config_table_len; j++)
                                if (strcmp(config_table[j].name, key) == 0)
                                        k = &config_table[j];
                        T_ASSERT(k != NULL);
                        if (k->type == CONFIG_INT || k->type == CONFIG_SIZE)
                                T_EQ_INT(config_int(cfg, key), cases[i].i);
                        else if (k->type == CONFIG_DOUBLE)
                                T_ASSERTF(config_double(cfg, key) == cases[i].d,
                                          "%s=%s read %g", key, cases[i].value,
                                          config_double(cfg, key));
                        else if (k->type == CONFIG_BOOL)
                                T_EQ_INT(config_bool(cfg, key), cases[i].b);
                        else
                                T_EQ_STR(config_str(cfg, key), cases[i].value);
                        T_EQ_INT(config_source_of(cfg, key), CONFIG_SRC_CLI);
                } else {
                        char want[240];
                        snprintf(want, sizeof(want), "command line -X: %s: %s",
                                 key, cases[i].err);
                        T_EQ_INT(rc, -1);
                        T_EQ_INT(config_error_count(cfg), 1);
                        T_EQ_STR(config_error(cfg, 0), want);
                        /* the default stays */
                        T_EQ_INT(config_source_of(cfg, key),
                                 CONFIG_SRC_DEFAULT);
                }
                config_destroy(cfg);
        }
}

static void test_precedence_file_env_cli(void) {
        const char *path   = write_file("prec.conf", "workers.threads = 3\n"
                                                       "poll.running_s = 7\n"
                                                       "redis.db = 4\n");
        const char *envp[] = {"BITMON_WORKERS_THREADS=4",
                              "BITMON_POLL_RUNNING_S=8", NULL};
        config_t *cfg      = config_new();
        /* strongest first: the order of the calls must not matter */
        T_EQ_INT(config_set_arg(cfg, "workers.threads=5"), 0);
        T_EQ_INT(config_load_env(cfg, envp), 0);
        T_EQ_INT(config_load_file(cfg, path), 0);
        T_EQ_INT(config_check(cfg), 0);
        T_EQ_INT(config_int(cfg, "workers.threads"), 5);
        T_EQ_INT(config_source_of(cfg, "workers.threads"), CONFIG_SRC_CLI);
        T_ASSERT(config_double(cfg, "poll.running_s") == 8);
        T_EQ_INT(config_source_of(cfg, "poll.running_s"), CONFIG_SRC_ENV);
        T_EQ_INT(config_int(cfg, "redis.db"), 4);
        T_EQ_INT(config_source_of(cfg, "redis.db"), CONFIG_SRC_FILE);
        char *d = dump(cfg), want[240];
        snprintf(want, sizeof(want), "redis.db = 4 (file %s:3)\n", path);
        T_ASSERTF(strstr(d, want), "dump lacks [%s]:\n%s", want, d);
        T_ASSERT(strstr(d, "poll.running_s = 8 (env BITMON_POLL_RUNNING_S)\n"));
        T_ASSERT(strstr(d, "workers.threads = 5 (command line)\n"));
        T_ASSERT(strstr(d, "poll.on_hold_s = 30 (default)\n"));
        free(d);
        config_destroy(cfg);

        /* the usual order gives the same answer; a later line wins in a file */
        cfg  = config_new();
        path = write_file("prec2.conf",
                          "workers.threads = 3\nworkers.threads = 6\n");
        config_load_file(cfg, path);
        T_EQ_INT(config_int(cfg, "workers.threads"), 6);
        config_load_env(cfg, envp);
        T_EQ_INT(config_int(cfg, "workers.threads"), 4);
        config_set_arg(cfg, "workers.threads=5");
        T_EQ_INT(config_int(cfg, "workers.threads"), 5);
        T_EQ_INT(config_error_count(cfg), 0);
        config_destroy(cfg);
}

static void test_weaker_source_is_still_checked(void) {
        config_t *cfg = config_new();
        config_set_arg(cfg, "workers.threads=5");
        const char *path = write_file("weak.conf", "workers.threads = 0\n");
        T_EQ_INT(config_load_file(cfg, path), -1);
        T_EQ_INT(config_error_count(cfg), 1);
        T_EQ_INT(config_int(cfg, "workers.threads"), 5);
        config_destroy(cfg);
}

static void test_all_errors_collected_with_lines(void) {
        const char *path =
            write_file("bitmon.conf", "# a comment\n"
                                      "\n"
                                      "workers.threads = 0\n"
                                      "   # indented comment\n"
                                      "foo.bar = 1\n"
                                      "just words\n"
                                      "= 3\n"
                                      "workers.max_watches = 100\n"
                                      "workers.resume_watches = 100\n"
                                      "log.level = loud\r\n"
                                      "kafka. = x\n");
        const char *envp[] = {
            "BITMON_FOO=1",    "BITMON_POLL_JITTER=2",
            "HOME=/root",      "BITMON_TEST_REDIS=127.0.0.1:1",
            "BITMON_NOEQUALS", NULL};
        config_t *cfg = config_new();
        T_EQ_INT(config_load_file(cfg, path), -1);
        T_EQ_INT(config_load_env(cfg, envp), -1);
        T_EQ_INT(config_set_arg(cfg, "shutdown.timeout_s=301"), -1);
        T_EQ_INT(config_set_arg(cfg, "novalue"), -1);
        T_EQ_INT(config_check(cfg), 11);
        const char *want[] = {
            "%s:3: workers.threads: must be between 1 and 256 (got 0)",
            "%s:5: unknown key foo.bar",
            "%s:6: expected key = value",
            "%s:7: missing key before '='",
            "%s:10: log.level: expected one of debug|info|warn|error|off (got "
            "loud)",
            "%s:11: kafka.: expected kafka.<librdkafka property>",
            "env BITMON_FOO: unknown key foo",
            "env BITMON_POLL_JITTER: poll.jitter: must be between 0 and 1 (got "
            "2)",
            "command line -X: shutdown.timeout_s: must be between 1 and 300 "
            "(got 301)",
            "command line -X: expected key=value (got an argument without '=')",
            "workers.resume_watches (100) must be below workers.max_watches "
            "(100)",
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                char w[240];
                snprintf(w, sizeof(w), want[i], path);
                T_EQ_STR(config_error(cfg, i), w);
        }
        char *s  = NULL;
        size_t n = 0;
        FILE *f  = open_memstream(&s, &n);
        config_errors_print(cfg, f, "bitmon: ");
        fclose(f);
        T_ASSERT(strstr(s, "bitmon: env BITMON_FOO: unknown key foo\n"));
        free(s);
        config_destroy(cfg);
}

static void test_error_cap(void) {
        config_t *cfg = config_new();
        for (int i = 0; i < CONFIG_MAX_ERRORS + 50; i++)
                config_set(cfg, "nope", "1", CONFIG_SRC_FILE, "x.conf", i + 1);
        T_EQ_INT(config_error_count(cfg), CONFIG_MAX_ERRORS + 50);
        T_EQ_STR(config_error(cfg, CONFIG_MAX_ERRORS - 1),
                 "x.conf:100: unknown key nope");
        T_ASSERT(config_error(cfg, CONFIG_MAX_ERRORS) == NULL);
        char *s  = NULL;
        size_t n = 0;
        FILE *f  = open_memstream(&s, &n);
        config_errors_print(cfg, f, "");
        fclose(f);
        T_ASSERT(strstr(s, "... and 50 more errors\n"));
        free(s);
        config_destroy(cfg);
}

static void test_did_you_mean(void) {
        const char *envp[] = {"BITMON_WORKER_THREADS=3", NULL};
        config_t *cfg      = config_new();
        config_set(cfg, "redis.pasword", "hunter2", CONFIG_SRC_FILE, "a.conf",
                   2);
        config_set(cfg, "workers.thread", "3", CONFIG_SRC_CLI, NULL, 0);
        config_set(cfg, "zzzzzz", "3", CONFIG_SRC_CLI, NULL, 0);
        config_load_env(cfg, envp);
        T_EQ_STR(config_error(cfg, 0), "a.conf:2: unknown key redis.pasword "
                                       "(did you mean redis.password?)");
        T_EQ_STR(config_error(cfg, 1),
                 "command line -X: unknown key workers.thread "
                 "(did you mean workers.threads?)");
        T_EQ_STR(config_error(cfg, 2), "command line -X: unknown key zzzzzz");
        T_EQ_STR(config_error(cfg, 3),
                 "env BITMON_WORKER_THREADS: unknown key "
                 "worker.threads (did you mean workers.threads?)");
        config_destroy(cfg);
}

static void test_env_name_mapping(void) {
        char env[128];
        config_env_name("workers.threads", env, sizeof(env));
        T_EQ_STR(env, "BITMON_WORKERS_THREADS");
        config_env_name("bitrise.connect_timeout_ms", env, sizeof(env));
        T_EQ_STR(env, "BITMON_BITRISE_CONNECT_TIMEOUT_MS");
        const char *envp[] = {"BITMON_BITRISE_CONNECT_TIMEOUT_MS=777",
                              "BITMON_REDIS_PREFIX=a=b:",
                              "BITMON_KAFKA_SASL_MECHANISM=PLAIN",
                              "BITMON_KAFKA_BOOTSTRAP_SERVERS=k1:9092,k2:9092",
                              "BITMON_CONFIG=/etc/bitmon.conf",
                              "BITMON_TEST_KAFKA=127.0.0.1:1",
                              "BITMON_BIN=/x",
                              "PATH=/bin",
                              NULL};
        config_t *cfg      = config_new();
        T_EQ_INT(config_load_env(cfg, envp), 0);
        T_EQ_INT(config_error_count(cfg), 0);
        T_EQ_INT(config_int(cfg, "bitrise.connect_timeout_ms"), 777);
        T_EQ_STR(config_str(cfg, "redis.prefix"), "a=b:");
        T_EQ_INT(config_source_of(cfg, "kafka.sasl.mechanism"), CONFIG_SRC_ENV);
        T_EQ_STR(config_str(cfg, "kafka.bootstrap.servers"), "k1:9092,k2:9092");
        config_destroy(cfg);
}

typedef struct {
        char text[256];
        int calls, stop_at;
} collect_t;

static int collect_cb(const char *key, const char *value, void *opaque) {
        collect_t *c = opaque;
        size_t n     = strlen(c->text);
        snprintf(c->text + n, sizeof(c->text) - n, "%s=%s;", key, value);
        return ++c->calls == c->stop_at ? 42 : 0;
}

static void test_kafka_passthrough(void) {
        const char *path =
            write_file("kafka.conf", "kafka.security.protocol = SASL_SSL\n"
                                     "kafka.sasl.password = pw-from-file\n"
                                     "kafka.linger.ms = 5\n");
        const char *envp[] = {"BITMON_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
                              "BITMON_KAFKA_LINGER_MS=10", NULL};
        config_t *cfg      = config_new();
        config_load_file(cfg, path);
        config_load_env(cfg, envp);
        config_set_arg(cfg, "kafka.client.id=bitmon-test");
        T_EQ_INT(config_check(cfg), 0);
        collect_t c = {.stop_at = -1};
        T_EQ_INT(config_foreach_prefix(cfg, "kafka.", collect_cb, &c), 0);
        T_ASSERTF(strcmp(c.text, "kafka.bootstrap.servers=localhost:9092;"
                                 "kafka.client.id=bitmon-test;"
                                 "kafka.linger.ms=10;"
                                 "kafka.sasl.mechanism=SCRAM-SHA-512;"
                                 "kafka.sasl.password=pw-from-file;"
                                 "kafka.security.protocol=SASL_SSL;") == 0,
                  "foreach gave %.250s", c.text);
        collect_t stop = {.stop_at = 2};
        T_EQ_INT(config_foreach_prefix(cfg, "kafka.", collect_cb, &stop), 42);
        T_EQ_INT(stop.calls, 2);
        /* a table row with the prefix is a kafka key too, and empty values
         * are not passed */
        collect_t r = {.stop_at = -1};
        config_foreach_prefix(cfg, "redis.", collect_cb, &r);
        T_ASSERT(strstr(r.text, "redis.port=6379;"));
        T_ASSERT(!strstr(r.text, "redis.password"));
        char *d = dump(cfg);
        T_ASSERT(!strstr(d, "pw-from-file"));
        T_ASSERT(strstr(d, "kafka.sasl.password = ****** (file "));
        T_ASSERT(
            strstr(d, "kafka.linger.ms = 10 (env BITMON_KAFKA_LINGER_MS)\n"));
        free(d);
        config_destroy(cfg);
        T_ASSERT(config_kafka_key_is_secret("kafka.ssl.key.password"));
        T_ASSERT(
            config_kafka_key_is_secret("kafka.sasl.oauthbearer.client.secret"));
        T_ASSERT(config_kafka_key_is_secret("kafka.ssl.key.pem"));
        T_ASSERT(!config_kafka_key_is_secret("kafka.ssl.ca.location"));
}

static int to_rdkafka(const char *key, const char *value, void *opaque) {
        char errstr[256];
        rd_kafka_conf_t *conf = opaque;
        if (rd_kafka_conf_set(conf, key + 6, value, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
                fprintf(stderr, "  librdkafka: %s: %s\n", key, errstr);
                return -1;
        }
        return 0;
}

/* The passthrough feeds rd_kafka_conf_set; librdkafka judges the names. */
static void test_kafka_keys_reach_librdkafka(void) {
        config_t *cfg         = config_new();
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char v[64];
        size_t vn = sizeof(v);
        config_set_arg(cfg, "kafka.linger.ms=7");
        config_set_arg(cfg, "kafka.client.id=cfg-test");
        T_EQ_INT(config_foreach_prefix(cfg, "kafka.", to_rdkafka, conf), 0);
        T_EQ_INT(rd_kafka_conf_get(conf, "linger.ms", v, &vn),
                 RD_KAFKA_CONF_OK);
        T_EQ_STR(v, "7");
        vn = sizeof(v);
        rd_kafka_conf_get(conf, "bootstrap.servers", v, &vn);
        T_EQ_STR(v, "localhost:9092");
        config_set_arg(cfg, "kafka.no.such.property=1");
        T_EQ_INT(config_error_count(cfg), 0); /* not ours to judge */
        T_EQ_INT(config_foreach_prefix(cfg, "kafka.", to_rdkafka, conf), -1);
        rd_kafka_conf_destroy(conf);
        config_destroy(cfg);
}

static void test_secret_masking(void) {
        const char *envp[] = {"BITMON_REDIS_PASSWORD=hunter2-very-secret",
                              NULL};
        config_t *cfg      = config_new();
        config_load_env(cfg, envp);
        config_set(cfg, "tokens.fingerprint_key_file", "/secret/fp-path",
                   CONFIG_SRC_FILE, "b.conf", 1);
        /* an unknown key never echoes its value */
        config_set(cfg, "redis.passwd", "hunter2-very-secret", CONFIG_SRC_CLI,
                   NULL, 0);
        T_EQ_STR(config_str(cfg, "redis.password"), "hunter2-very-secret");
        char *d = dump(cfg);
        T_ASSERTF(!strstr(d, "hunter2"), "secret in dump:\n%s", d);
        T_ASSERT(!strstr(d, "fp-path"));
        T_ASSERT(
            strstr(d, "redis.password = ****** (env BITMON_REDIS_PASSWORD)\n"));
        T_ASSERT(strstr(
            d, "tokens.fingerprint_key_file = ****** (file b.conf:1)\n"));
        T_ASSERT(strstr(d, "redis.user = \"\" (default)\n"));
        free(d);
        T_EQ_INT(config_error_count(cfg), 1);
        T_ASSERT(!strstr(config_error(cfg, 0), "hunter2"));
        config_destroy(cfg);
}

static void test_file_syntax(void) {
        const char *path = write_file(
            "syntax.conf", "\xEF\xBB\xBF  redis.prefix=\"  spaced: \"  \n"
                           "redis.user = name # not a comment\n"
                           "budget.overrides = ws1=2:40\r\n"
                           "bitrise.ca_file =\n"
                           "redis.host = \"\n");
        config_t *cfg = config_new();
        T_EQ_INT(config_load_file(cfg, path), 0);
        T_EQ_STR(config_str(cfg, "redis.prefix"), "  spaced: ");
        T_EQ_STR(config_str(cfg, "redis.user"), "name # not a comment");
        T_EQ_STR(config_str(cfg, "budget.overrides"), "ws1=2:40");
        T_EQ_STR(config_str(cfg, "bitrise.ca_file"), "");
        T_EQ_STR(config_str(cfg, "redis.host"), "\"");
        char *d = dump(cfg);
        T_ASSERT(strstr(d, "redis.prefix = \"  spaced: \" (file "));
        free(d);
        config_destroy(cfg);

        cfg = config_new();
        T_EQ_INT(config_load_file(cfg, tmpdir), -1); /* a directory */
        T_EQ_INT(config_error_count(cfg), 1);
        T_ASSERT(strstr(config_error(cfg, 0), ": cannot read: Is a directory"));
        config_destroy(cfg);

        cfg = config_new();
        T_EQ_INT(config_load_file(cfg, "/nonexistent/bitmon.conf"), -1);
        T_EQ_STR(
            config_error(cfg, 0),
            "/nonexistent/bitmon.conf: cannot open: No such file or directory");
        config_destroy(cfg);

        char *big = malloc(20000);
        memset(big, 'a', 19998);
        memcpy(big, "redis.user = ", 13);
        big[19998] = '\n';
        big[19999] = '\0';
        path       = write_file("long.conf", big);
        free(big);
        FILE *f = fopen(path, "a");
        fputs("workers.threads = 9\n", f);
        fclose(f);
        cfg = config_new();
        T_EQ_INT(config_load_file(cfg, path), -1);
        T_EQ_INT(config_error_count(cfg), 1);
        T_ASSERT(
            strstr(config_error(cfg, 0), ":1: line longer than 8192 bytes"));
        T_EQ_INT(config_int(cfg, "workers.threads"), 9);
        config_destroy(cfg);
}

static void test_getter_misuse_is_harmless(void) {
        config_t *cfg = config_new();
        T_EQ_INT(config_int(cfg, "no.such.key"), 0);
        T_EQ_STR(config_str(cfg, "workers.threads"), "");
        T_EQ_INT(config_bool(cfg, "log.level"), 0);
        T_ASSERT(config_double(cfg, "redis.host") == 0);
        T_EQ_INT(config_int(cfg, "job.max_bytes"), 65536); /* SIZE via int */
        T_EQ_STR(config_str(cfg, "log.format"), "auto");   /* ENUM via str */
        T_EQ_INT(config_source_of(cfg, "no.such.key"), CONFIG_SRC_DEFAULT);
        config_destroy(cfg);
}

static void test_cross_key_checks(void) {
        config_t *cfg = config_new();
        config_set_arg(cfg, "job.default_deadline_s=90000");
        config_set_arg(cfg, "tokens.store=redis");
        config_set_arg(cfg, "poll.backoff_base_ms=60000");
        config_set_arg(cfg, "poll.backoff_max_s=59");
        T_EQ_INT(config_check(cfg), 3);
        T_EQ_STR(config_error(cfg, 0),
                 "job.default_deadline_s (90000) must not exceed "
                 "job.max_deadline_s (86400)");
        T_EQ_STR(config_error(cfg, 1),
                 "poll.backoff_base_ms must not exceed poll.backoff_max_s");
        T_EQ_STR(config_error(cfg, 2),
                 "tokens.key_file: required when tokens.store is redis");
        config_destroy(cfg);
}

/* docs/configuration.md is the output of `bitmon config --reference`. */
static void test_reference_doc_is_current(void) {
        char *gen = NULL;
        size_t n  = 0;
        FILE *f   = open_memstream(&gen, &n);
        config_reference_md(f);
        fclose(f);
        T_ASSERT(strstr(gen, "| `workers.threads` | int | `2` | 1 – 256 | "
                             "`BITMON_WORKERS_THREADS` |"));
        T_ASSERT(strstr(gen, "`debug\\|info\\|warn\\|error\\|off`"));
        char path[512];
        const char *b = getenv("BITMON_BUILD");
        snprintf(path, sizeof(path), "%s/../docs/configuration.md",
                 b ? b : "build");
        FILE *d = fopen(path, "r");
        if (!d)
                d = fopen("docs/configuration.md", "r");
        T_ASSERTF(d != NULL,
                  "docs/configuration.md not found (run from the repo root)");
        char *have = calloc(1, n + 2);
        size_t got = fread(have, 1, n + 1, d);
        fclose(d);
        bool same = got == n && memcmp(have, gen, n) == 0;
        free(have);
        free(gen);
        T_ASSERTF(same,
                  "docs/configuration.md is stale: run "
                  "build/bitmon config --reference > docs/configuration.md");
}

int main(void) {
        snprintf(tmpdir, sizeof(tmpdir), "%s/bitmon-config.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmpdir))
                return 2;
        T_RUN(test_table_is_well_formed);
        T_RUN(test_defaults_are_valid);
        T_RUN(test_types_and_bounds);
        T_RUN(test_precedence_file_env_cli);
        T_RUN(test_weaker_source_is_still_checked);
        T_RUN(test_all_errors_collected_with_lines);
        T_RUN(test_error_cap);
        T_RUN(test_did_you_mean);
        T_RUN(test_env_name_mapping);
        T_RUN(test_kafka_passthrough);
        T_RUN(test_kafka_keys_reach_librdkafka);
        T_RUN(test_secret_masking);
        T_RUN(test_file_syntax);
        T_RUN(test_getter_misuse_is_harmless);
        T_RUN(test_cross_key_checks);
        T_RUN(test_reference_doc_is_current);
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", tmpdir);
        return t_done();
}
