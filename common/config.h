/* common/config.h — the configuration: one table of keys, three sources.
 *
 * Every setting bitmon reads is a row of the table in common/config_table.c
 * (name, type, default, bounds, secret flag, one line of doc); the reference
 * in docs/configuration.md is generated from that table. Values come from, in
 * rising precedence: the defaults, a file (`key = value`), the environment
 * (`BITMON_*`) and the command line (`-X key=value`). A source never
 * overrides a value set by a stronger one, whatever the order of the calls.
 *
 * Keys under `kafka.` are passed to librdkafka untouched (librdkafka checks
 * them when the client is created); every other key must be in the table.
 *
 * Errors do not stop loading: each one is recorded with the key and where it
 * came from ("bitmon.conf:12: workers.threads: must be between 1 and 256
 * (got 0)") so that an operator sees all of them at once. Secret values never
 * appear in an error or a dump.
 *
 * Threads: build and load a config in main before any thread starts; after
 * that it is read-only and the getters may be called from any thread.
 */
#ifndef BITMON_COMMON_CONFIG_H
#define BITMON_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct config config_t;

typedef enum {
        CONFIG_STRING = 0,
        CONFIG_INT,    /* int64, decimal; names carry the unit (_ms, _s) */
        CONFIG_SIZE,   /* int64 bytes; accepts KiB, MiB, GiB suffixes */
        CONFIG_DOUBLE, /* finite */
        CONFIG_BOOL,   /* true/false, yes/no, on/off, 1/0 */
        CONFIG_ENUM,   /* a string from a fixed list */
} config_type_t;

/* Where a value came from, weakest first. */
typedef enum {
        CONFIG_SRC_DEFAULT = 0,
        CONFIG_SRC_FILE,
        CONFIG_SRC_ENV,
        CONFIG_SRC_CLI,
} config_source_t;

/* Checks a string value beyond its type; returns 0, or -1 with a reason
 * ("expected dir:PATH or redis") in errstr. */
typedef int(config_check_fn)(const char *value, char *errstr,
                             size_t errstr_size);

/* One row of the table. Rows are made with the CONFIG_ROW_* macros of
 * common/config_table.c. */
typedef struct config_key {
        const char *name;
        config_type_t type;
        const char *def;     /* default as text; NULL = computed (doc says) */
        double min, max;     /* bounds for INT, SIZE, DOUBLE (inclusive) */
        const char *choices; /* ENUM: "a|b|c" */
        config_check_fn *check; /* optional extra check for STRING */
        bool secret;            /* masked in dumps, never in errors */
        const char *doc;        /* one line; a computed default says so */
} config_key_t;

/* The table, sorted by nothing in particular (the order of the reference). */
extern const config_key_t config_table[];
extern const size_t config_table_len;

/* Environment variables with the BITMON_ prefix that are not configuration
 * (the test harness, BITMON_CONFIG naming the file); NULL-terminated. A
 * trailing '*' matches a prefix. */
extern const char *const config_env_reserved[];

/* Cross-key checks (e.g. job.default_deadline_s <= job.max_deadline_s),
 * run by config_check; records errors with config_error_add. */
void config_table_check(config_t *cfg);

/* A config holding the defaults (worker.id = host name). NULL on allocation
 * failure. Caller frees with config_destroy. */
config_t *config_new(void);
void config_destroy(config_t *cfg);

/* Reads `key = value` lines: blank lines and lines starting with '#' are
 * skipped; a value may be wrapped in double quotes to keep outer spaces; a '#'
 * after the value is part of the value. A later line wins over an earlier one.
 * Returns 0, or -1 when anything was wrong (each problem is recorded; a file
 * that cannot be opened is one error). */
int config_load_file(config_t *cfg, const char *path);

/* Applies every BITMON_* variable of `envp` (e.g. environ): the variable name
 * is the key upper-cased with '.' and '_' turned into '_'
 * (BITMON_WORKERS_THREADS = workers.threads). BITMON_KAFKA_X_Y that is not a
 * table row sets kafka.x.y (librdkafka's names contain no '_'). Returns 0 or
 * -1 when anything was wrong (recorded). */
int config_load_env(config_t *cfg, const char *const *envp);

/* Sets one key from a source. `origin` says where: the file name for FILE
 * (with `line`), the variable name for ENV, NULL otherwise. A value from a
 * weaker source than the current one is checked but not applied. Returns 0 or
 * -1 (recorded). */
int config_set(config_t *cfg, const char *key, const char *value,
               config_source_t src, const char *origin, int line);

/* Parses "key=value" (the argument of -X) and sets it from the command line.
 */
int config_set_arg(config_t *cfg, const char *kv);

/* Runs the cross-key checks; returns the total number of errors recorded. */
size_t config_check(config_t *cfg);

/* Recorded errors, in the order found. The strings are borrowed until
 * config_destroy. At most CONFIG_MAX_ERRORS are kept (the count goes on). */
#define CONFIG_MAX_ERRORS 100
size_t config_error_count(const config_t *cfg);
const char *config_error(const config_t *cfg, size_t i);
/* Prints every error, one a line, prefixed by `prefix` (e.g. "bitmon: "). */
void config_errors_print(const config_t *cfg, FILE *f, const char *prefix);
/* Records an error (printf-style). For table checks and callers. */
void config_error_add(config_t *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Typed getters by key. Asking for a key that is not in the table, or with
 * the wrong type, is a programmer error: it is logged and "" / 0 / false is
 * returned. Strings are borrowed until config_destroy. INT and SIZE keys are
 * read with config_int. */
const char *config_str(const config_t *cfg, const char *key);
int64_t config_int(const config_t *cfg, const char *key);
double config_double(const config_t *cfg, const char *key);
bool config_bool(const config_t *cfg, const char *key);

/* Where the value of `key` came from (CONFIG_SRC_DEFAULT for unknown keys). */
config_source_t config_source_of(const config_t *cfg, const char *key);

/* Calls cb for every key starting with `prefix` that has a non-empty value
 * (table rows and kafka passthrough keys), sorted by key. `key` is the full
 * name: for "kafka." the librdkafka property is key + 6. Stops at the first
 * non-zero return of cb and returns it; 0 otherwise. */
typedef int(config_foreach_cb)(const char *key, const char *value,
                               void *opaque);
int config_foreach_prefix(const config_t *cfg, const char *prefix,
                          config_foreach_cb *cb, void *opaque);

/* Prints the effective configuration, one `key = value (source)` a line,
 * sorted; secret values (and kafka passwords/keys) print as ******. */
void config_dump(const config_t *cfg, FILE *f);

/* Prints the Markdown reference of every key (docs/configuration.md). */
void config_reference_md(FILE *f);

/* The environment variable for a table key ("workers.threads" ->
 * "BITMON_WORKERS_THREADS"). */
void config_env_name(const char *key, char *out, size_t out_size);

/* True when a kafka.* key holds a credential (password, secret, private key,
 * SASL/OAuth configuration): such values are masked like secrets. */
bool config_kafka_key_is_secret(const char *key);

#endif
