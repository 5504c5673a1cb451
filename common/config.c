/* common/config.c — loading the configuration: parsing values by type,
 * the three sources and their precedence, error collection, getters.
 * Dump and reference are in config_print.c; the keys in config_table.c.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/config_int.h"
#include "common/log.h"

#define CONFIG_MAX_LINE  8192 /* longest line of a config file */
#define CONFIG_MAX_VALUE 4096 /* longest value */

/* ---- errors ---- */

void config_error_add(config_t *cfg, const char *fmt, ...) {
        if (cfg->error_count < CONFIG_MAX_ERRORS) {
                char msg[1024];
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);
                cfg->errors[cfg->error_count] = strdup(msg);
        }
        cfg->error_count++;
}

size_t config_error_count(const config_t *cfg) {
        return cfg->error_count;
}

const char *config_error(const config_t *cfg, size_t i) {
        if (i >= cfg->error_count || i >= CONFIG_MAX_ERRORS)
                return NULL;
        return cfg->errors[i] ? cfg->errors[i] : "(out of memory)";
}

void config_errors_print(const config_t *cfg, FILE *f, const char *prefix) {
        for (size_t i = 0; i < cfg->error_count && i < CONFIG_MAX_ERRORS; i++)
                fprintf(f, "%s%s\n", prefix, config_error(cfg, i));
        if (cfg->error_count > CONFIG_MAX_ERRORS)
                fprintf(f, "%s... and %zu more errors\n", prefix,
                        cfg->error_count - CONFIG_MAX_ERRORS);
}

/* "bitmon.conf:12: ", "env BITMON_X: ", "command line -X: " */
static void where(char *out, size_t size, config_source_t src,
                  const char *origin, int line) {
        switch (src) {
        case CONFIG_SRC_FILE:
                snprintf(out, size, "%s:%d: ", origin ? origin : "?", line);
                break;
        case CONFIG_SRC_ENV:
                snprintf(out, size, "env %s: ", origin ? origin : "?");
                break;
        case CONFIG_SRC_CLI:
                snprintf(out, size, "command line -X: ");
                break;
        default:
                snprintf(out, size, "default: ");
        }
}

/* A value quoted for an error: at most 64 bytes, control bytes as '?'. */
static void quote_value(char *out, size_t size, const char *v) {
        size_t n = 0, i;
        for (i = 0; v[i] && i < 64 && n + 2 < size; i++)
                out[n++] = (unsigned char)v[i] < 0x20 ? '?' : v[i];
        if (v[i] && n + 4 < size) {
                memcpy(out + n, "...", 3);
                n += 3;
        }
        out[n] = '\0';
}

/* ---- lookups ---- */

static const config_key_t *row_find(const char *key, size_t *idx) {
        for (size_t i = 0; i < config_table_len; i++) {
                if (strcmp(config_table[i].name, key) == 0) {
                        if (idx)
                                *idx = i;
                        return &config_table[i];
                }
        }
        return NULL;
}

void config_env_name(const char *key, char *out, size_t out_size) {
        size_t n = (size_t)snprintf(out, out_size, "BITMON_");
        for (; *key && n + 1 < out_size; key++)
                out[n++] = (*key == '.' || *key == '-')
                               ? '_'
                               : (char)toupper((unsigned char)*key);
        if (n < out_size)
                out[n] = '\0';
}

/* Edit distance, for "did you mean"; large for long strings. */
static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        size_t prev[128], cur[128];
        if (la >= 128 || lb >= 128)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
                        size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
                        cur[j] = sub < del ? (sub < ins ? sub : ins)
                                           : (del < ins ? del : ins);
                }
                memcpy(prev, cur, (lb + 1) * sizeof(size_t));
        }
        return prev[lb];
}

/* The table key closest to `key` (compared as env names when as_env), or
 * NULL when none is close. */
static const char *suggest(const char *key, bool as_env) {
        const char *best = NULL;
        size_t best_d    = SIZE_MAX;
        for (size_t i = 0; i < config_table_len; i++) {
                char env[160];
                const char *cand = config_table[i].name;
                if (as_env) {
                        config_env_name(cand, env, sizeof(env));
                        cand = env;
                }
                size_t d = edit_distance(key, cand);
                if (d < best_d) {
                        best_d = d;
                        best   = config_table[i].name;
                }
        }
        size_t len = strlen(key);
        return best_d <= 3 && best_d * 3 <= len ? best : NULL;
}

/* ---- parsing values ---- */

static int parse_int(const char *s, int64_t *out) {
        char *end   = NULL;
        errno       = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || *end || errno == ERANGE || isspace((unsigned char)*s))
                return -1;
        *out = v;
        return 0;
}

static int parse_size(const char *s, int64_t *out) {
        static const struct {
                const char *suffix;
                int64_t mult;
        } units[]   = {{"", 1},
                       {"B", 1},
                       {"KiB", 1024},
                       {"MiB", 1024 * 1024},
                       {"GiB", 1024LL * 1024 * 1024}};
        char *end   = NULL;
        errno       = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno == ERANGE || isspace((unsigned char)*s))
                return -1;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcmp(end, units[i].suffix) != 0)
                        continue;
                if (v > INT64_MAX / units[i].mult ||
                    v < INT64_MIN / units[i].mult)
                        return -1;
                *out = v * units[i].mult;
                return 0;
        }
        return -1;
}

static int parse_double(const char *s, double *out) {
        char *end = NULL;
        errno     = 0;
        double v  = strtod(s, &end);
        if (end == s || *end || errno == ERANGE || !isfinite(v) ||
            isspace((unsigned char)*s))
                return -1;
        *out = v;
        return 0;
}

static int parse_bool(const char *s, bool *out) {
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[]  = {"false", "no", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
                if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
                        *out = strcasecmp(s, yes[i]) == 0;
                        return 0;
                }
        }
        return -1;
}

static bool enum_has(const char *choices, const char *s) {
        size_t n = strlen(s);
        for (const char *p = choices; *p;) {
                const char *bar = strchr(p, '|');
                size_t len      = bar ? (size_t)(bar - p) : strlen(p);
                if (len == n && strncmp(p, s, n) == 0)
                        return true;
                p += len + (bar ? 1 : 0);
        }
        return false;
}

void config_size_format(int64_t v, char *out, size_t size) {
        static const char *const units[] = {"GiB", "MiB", "KiB"};
        int64_t mult                     = 1024LL * 1024 * 1024;
        for (size_t i = 0; i < 3; i++, mult /= 1024) {
                if (v != 0 && v % mult == 0) {
                        snprintf(out, size, "%lld%s", (long long)(v / mult),
                                 units[i]);
                        return;
                }
        }
        snprintf(out, size, "%lld", (long long)v);
}

/* Parses `text` for row k into *val (numbers only; text is set by caller).
 * Returns 0 or -1 with the reason (without the value) in why. */
static int value_parse(const config_key_t *k, const char *text,
                       config_val_t *val, char *why, size_t why_size) {
        char lo[32], hi[32];
        double num = 0;
        switch (k->type) {
        case CONFIG_STRING:
                return k->check ? k->check(text, why, why_size) : 0;
        case CONFIG_ENUM:
                if (enum_has(k->choices, text))
                        return 0;
                snprintf(why, why_size, "expected one of %s", k->choices);
                return -1;
        case CONFIG_BOOL:
                if (parse_bool(text, &val->b) == 0)
                        return 0;
                snprintf(why, why_size, "expected true or false");
                return -1;
        case CONFIG_INT:
                if (parse_int(text, &val->i) < 0) {
                        snprintf(why, why_size, "expected an integer");
                        return -1;
                }
                num = (double)val->i;
                snprintf(lo, sizeof(lo), "%.0f", k->min);
                snprintf(hi, sizeof(hi), "%.0f", k->max);
                break;
        case CONFIG_SIZE:
                if (parse_size(text, &val->i) < 0) {
                        snprintf(why, why_size,
                                 "expected bytes, e.g. 65536 or 64KiB");
                        return -1;
                }
                num = (double)val->i;
                config_size_format((int64_t)k->min, lo, sizeof(lo));
                config_size_format((int64_t)k->max, hi, sizeof(hi));
                break;
        case CONFIG_DOUBLE:
                if (parse_double(text, &val->d) < 0) {
                        snprintf(why, why_size, "expected a number");
                        return -1;
                }
                num = val->d;
                snprintf(lo, sizeof(lo), "%g", k->min);
                snprintf(hi, sizeof(hi), "%g", k->max);
                break;
        }
        if (num < k->min || num > k->max) {
                snprintf(why, why_size, "must be between %s and %s", lo, hi);
                return -1;
        }
        return 0;
}

/* ---- setting ---- */

static void val_release(config_val_t *v) {
        free(v->key);
        free(v->text);
        free(v->origin);
        memset(v, 0, sizeof(*v));
}

/* Moves the new value into *dst, unless dst holds a stronger source. */
static int val_apply(config_val_t *dst, const config_val_t *nv,
                     const char *value, const char *origin, int line) {
        if (dst->text && dst->src > nv->src)
                return 0;
        char o[512] = "";
        if (nv->src == CONFIG_SRC_FILE)
                snprintf(o, sizeof(o), "%s:%d", origin ? origin : "?", line);
        else if (origin)
                snprintf(o, sizeof(o), "%s", origin);
        char *text = strdup(value);
        char *org  = *o ? strdup(o) : NULL;
        if (!text || (*o && !org)) {
                free(text);
                free(org);
                return -1;
        }
        free(dst->text);
        free(dst->origin);
        dst->text   = text;
        dst->origin = org;
        dst->i      = nv->i;
        dst->d      = nv->d;
        dst->b      = nv->b;
        dst->src    = nv->src;
        return 0;
}

static config_val_t *extra_slot(config_t *cfg, const char *key) {
        for (size_t i = 0; i < cfg->extra_len; i++)
                if (strcmp(cfg->extra[i].key, key) == 0)
                        return &cfg->extra[i];
        if (cfg->extra_len == cfg->extra_cap) {
                size_t cap      = cfg->extra_cap ? cfg->extra_cap * 2 : 16;
                config_val_t *n = realloc(cfg->extra, cap * sizeof(*n));
                if (!n)
                        return NULL;
                cfg->extra     = n;
                cfg->extra_cap = cap;
        }
        config_val_t *v = &cfg->extra[cfg->extra_len];
        memset(v, 0, sizeof(*v));
        if (!(v->key = strdup(key)))
                return NULL;
        cfg->extra_len++;
        return v;
}

static bool kafka_name_ok(const char *name) {
        size_t n = strlen(name);
        return n > 0 && n < 128 &&
               strspn(name, "abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Reports an unknown key (with a guess) from `pre` ("file:3: "). */
static int unknown_key(config_t *cfg, const char *pre, const char *key,
                       const char *guess) {
        if (guess)
                config_error_add(cfg, "%sunknown key %s (did you mean %s?)",
                                 pre, key, guess);
        else
                config_error_add(cfg, "%sunknown key %s", pre, key);
        return -1;
}

int config_set(config_t *cfg, const char *key, const char *value,
               config_source_t src, const char *origin, int line) {
        char pre[600], why[256], got[80];
        where(pre, sizeof(pre), src, origin, line);
        if (!key || !value) {
                config_error_add(cfg, "%s%s: no value", pre, key ? key : "?");
                return -1;
        }
        size_t idx            = 0;
        const config_key_t *k = row_find(key, &idx);
        config_val_t nv       = {.src = src};
        if (strlen(value) > CONFIG_MAX_VALUE) {
                config_error_add(cfg, "%s%s: value longer than %d bytes", pre,
                                 key, CONFIG_MAX_VALUE);
                return -1;
        }
        if (!k && strncmp(key, "kafka.", 6) == 0) {
                if (!kafka_name_ok(key + 6)) {
                        config_error_add(cfg,
                                         "%s%s: expected kafka.<librdkafka "
                                         "property>",
                                         pre, key);
                        return -1;
                }
                config_val_t *slot = extra_slot(cfg, key);
                if (!slot || val_apply(slot, &nv, value, origin, line) < 0)
                        goto oom;
                return 0;
        }
        if (!k)
                return unknown_key(cfg, pre, key, suggest(key, false));
        if (value_parse(k, value, &nv, why, sizeof(why)) < 0) {
                if (k->secret) {
                        config_error_add(cfg, "%s%s: %s", pre, key, why);
                } else {
                        quote_value(got, sizeof(got), value);
                        config_error_add(cfg, "%s%s: %s (got %s)", pre, key,
                                         why, *got ? got : "\"\"");
                }
                return -1;
        }
        if (val_apply(&cfg->vals[idx], &nv, value, origin, line) < 0)
                goto oom;
        return 0;
oom:
        config_error_add(cfg, "%s%s: out of memory", pre, key);
        return -1;
}

int config_set_arg(config_t *cfg, const char *kv) {
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
                config_error_add(cfg, "command line -X: expected key=value "
                                      "(got an argument without '=')");
                return -1;
        }
        char key[256];
        size_t n = (size_t)(eq - kv);
        if (n >= sizeof(key)) {
                config_error_add(cfg, "command line -X: key too long");
                return -1;
        }
        memcpy(key, kv, n);
        key[n] = '\0';
        return config_set(cfg, key, eq + 1, CONFIG_SRC_CLI, NULL, 0);
}

/* ---- sources ---- */

static char *trim(char *s) {
        while (isspace((unsigned char)*s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char)s[n - 1]))
                s[--n] = '\0';
        return s;
}

/* One line of a config file; returns 0 or -1 (recorded). */
static int file_line(config_t *cfg, const char *path, int lineno, char *line) {
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
                return 0;
        char *eq = strchr(s, '=');
        if (!eq) {
                config_error_add(cfg, "%s:%d: expected key = value", path,
                                 lineno);
                return -1;
        }
        *eq       = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t n = strlen(value);
        if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
                value[n - 1] = '\0';
                value++;
        }
        if (*key == '\0') {
                config_error_add(cfg, "%s:%d: missing key before '='", path,
                                 lineno);
                return -1;
        }
        return config_set(cfg, key, value, CONFIG_SRC_FILE, path, lineno);
}

int config_load_file(config_t *cfg, const char *path) {
        char ebuf[128];
        FILE *f = fopen(path, "r");
        if (!f) {
                config_error_add(cfg, "%s: cannot open: %s", path,
                                 log_errno_str(errno, ebuf, sizeof(ebuf)));
                return -1;
        }
        char line[CONFIG_MAX_LINE + 2];
        int lineno = 0, rc = 0;
        while (fgets(line, sizeof(line), f)) {
                lineno++;
                size_t n = strlen(line);
                if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
                        config_error_add(cfg,
                                         "%s:%d: line longer than %d "
                                         "bytes",
                                         path, lineno, CONFIG_MAX_LINE);
                        rc = -1;
                        int c;
                        while ((c = fgetc(f)) != EOF && c != '\n')
                                ;
                        continue;
                }
                char *start = line;
                if (lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
                        start += 3; /* a UTF-8 byte order mark */
                if (file_line(cfg, path, lineno, start) < 0)
                        rc = -1;
        }
        if (ferror(f)) {
                config_error_add(cfg, "%s: cannot read: %s", path,
                                 log_errno_str(errno, ebuf, sizeof(ebuf)));
                rc = -1;
        }
        fclose(f);
        return rc;
}

static bool env_reserved(const char *name, size_t n) {
        for (size_t i = 0; config_env_reserved[i]; i++) {
                const char *r = config_env_reserved[i];
                size_t rl     = strlen(r);
                if (rl > 0 && r[rl - 1] == '*') {
                        if (n >= rl - 1 && strncmp(name, r, rl - 1) == 0)
                                return true;
                } else if (rl == n && strncmp(name, r, n) == 0) {
                        return true;
                }
        }
        return false;
}

/* "BITMON_KAFKA_SASL_MECHANISM" -> "kafka.sasl.mechanism" */
static void env_to_key(const char *name, char *out, size_t size) {
        size_t n = 0;
        for (const char *p = name + 7; *p && n + 1 < size; p++)
                out[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        out[n] = '\0';
}

static int env_one(config_t *cfg, const char *entry) {
        const char *eq = strchr(entry, '=');
        char name[256], key[256], env[256];
        size_t n = eq ? (size_t)(eq - entry) : 0;
        if (!eq || n >= sizeof(name) || env_reserved(entry, n))
                return 0;
        memcpy(name, entry, n);
        name[n] = '\0';
        for (size_t i = 0; i < config_table_len; i++) {
                config_env_name(config_table[i].name, env, sizeof(env));
                if (strcmp(env, name) == 0)
                        return config_set(cfg, config_table[i].name, eq + 1,
                                          CONFIG_SRC_ENV, name, 0);
        }
        env_to_key(name, key, sizeof(key));
        if (strncmp(name, "BITMON_KAFKA_", 13) == 0)
                return config_set(cfg, key, eq + 1, CONFIG_SRC_ENV, name, 0);
        char pre[300];
        where(pre, sizeof(pre), CONFIG_SRC_ENV, name, 0);
        return unknown_key(cfg, pre, key, suggest(name, true));
}

int config_load_env(config_t *cfg, const char *const *envp) {
        int rc = 0;
        for (; envp && *envp; envp++)
                if (strncmp(*envp, "BITMON_", 7) == 0 &&
                    env_one(cfg, *envp) < 0)
                        rc = -1;
        return rc;
}

size_t config_check(config_t *cfg) {
        config_table_check(cfg);
        return cfg->error_count;
}

/* ---- life cycle ---- */

config_t *config_new(void) {
        config_t *cfg = calloc(1, sizeof(*cfg));
        if (!cfg ||
            !(cfg->vals = calloc(config_table_len, sizeof(*cfg->vals)))) {
                free(cfg);
                return NULL;
        }
        char host[256] = "bitmon";
        if (gethostname(host, sizeof(host)) < 0 || !host[0])
                snprintf(host, sizeof(host), "bitmon");
        host[sizeof(host) - 1] = '\0';
        for (size_t i = 0; i < config_table_len; i++) {
                const char *def = config_table[i].def;
                config_set(cfg, config_table[i].name, def ? def : host,
                           CONFIG_SRC_DEFAULT, NULL, 0);
        }
        return cfg;
}

void config_destroy(config_t *cfg) {
        if (!cfg)
                return;
        for (size_t i = 0; i < config_table_len; i++)
                val_release(&cfg->vals[i]);
        for (size_t i = 0; i < cfg->extra_len; i++)
                val_release(&cfg->extra[i]);
        for (size_t i = 0; i < cfg->error_count && i < CONFIG_MAX_ERRORS; i++)
                free(cfg->errors[i]);
        free(cfg->extra);
        free(cfg->vals);
        free(cfg);
}

/* ---- getters ---- */

static const config_val_t *get(const config_t *cfg, const char *key,
                               config_type_t want, const char *fn) {
        size_t idx;
        const config_key_t *k = row_find(key, &idx);
        bool ok               = k && (k->type == want ||
                        (want == CONFIG_INT && k->type == CONFIG_SIZE) ||
                        (want == CONFIG_STRING && k->type == CONFIG_ENUM));
        if (!ok) {
                LOG_ERROR("config", "%s(%s): %s", fn, key,
                          k ? "wrong type for key" : "no such key in table");
                return NULL;
        }
        return cfg->vals[idx].text ? &cfg->vals[idx] : NULL;
}

const char *config_str(const config_t *cfg, const char *key) {
        const config_val_t *v = get(cfg, key, CONFIG_STRING, "config_str");
        return v ? v->text : "";
}

int64_t config_int(const config_t *cfg, const char *key) {
        const config_val_t *v = get(cfg, key, CONFIG_INT, "config_int");
        return v ? v->i : 0;
}

double config_double(const config_t *cfg, const char *key) {
        const config_val_t *v = get(cfg, key, CONFIG_DOUBLE, "config_double");
        return v ? v->d : 0;
}

bool config_bool(const config_t *cfg, const char *key) {
        const config_val_t *v = get(cfg, key, CONFIG_BOOL, "config_bool");
        return v ? v->b : false;
}

config_source_t config_source_of(const config_t *cfg, const char *key) {
        size_t idx;
        if (row_find(key, &idx))
                return cfg->vals[idx].src;
        for (size_t i = 0; i < cfg->extra_len; i++)
                if (strcmp(cfg->extra[i].key, key) == 0)
                        return cfg->extra[i].src;
        return CONFIG_SRC_DEFAULT;
}
