/* common/config_print.c — what the configuration shows to people: the
 * effective values (`bitmon config --dump`, secrets masked), iteration by
 * prefix (the kafka.* passthrough) and the Markdown reference generated from
 * the table (docs/configuration.md).
 */
#include <stdlib.h>
#include <string.h>

#include "common/config_int.h"

#define MASK "******"

typedef struct entry {
        const char *key;
        const config_val_t *val;
        bool secret;
} entry_t;

static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const entry_t *)a)->key, ((const entry_t *)b)->key);
}

bool config_kafka_key_is_secret(const char *key) {
        static const char *const words[] = {
            "password",           "secret",       "key.pem", "sasl.jaas",
            "oauthbearer.config", "sasl.username"};
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
                if (strstr(key, words[i]))
                        return true;
        return false;
}

/* Every set value whose key starts with prefix, sorted; caller frees. */
static entry_t *entries(const config_t *cfg, const char *prefix, size_t *n) {
        entry_t *e  = calloc(config_table_len + cfg->extra_len + 1, sizeof(*e));
        size_t plen = strlen(prefix), k = 0;
        if (!e)
                return NULL;
        for (size_t i = 0; i < config_table_len; i++) {
                if (!cfg->vals[i].text ||
                    strncmp(config_table[i].name, prefix, plen) != 0)
                        continue;
                e[k++] = (entry_t){
                    config_table[i].name, &cfg->vals[i],
                    config_table[i].secret ||
                        (strncmp(config_table[i].name, "kafka.", 6) == 0 &&
                         config_kafka_key_is_secret(config_table[i].name))};
        }
        for (size_t i = 0; i < cfg->extra_len; i++) {
                if (strncmp(cfg->extra[i].key, prefix, plen) != 0)
                        continue;
                e[k++] =
                    (entry_t){cfg->extra[i].key, &cfg->extra[i],
                              config_kafka_key_is_secret(cfg->extra[i].key)};
        }
        qsort(e, k, sizeof(*e), entry_cmp);
        *n = k;
        return e;
}

int config_foreach_prefix(const config_t *cfg, const char *prefix,
                          config_foreach_cb *cb, void *opaque) {
        size_t n   = 0;
        int rc     = 0;
        entry_t *e = entries(cfg, prefix, &n);
        if (!e)
                return -1;
        for (size_t i = 0; i < n && rc == 0; i++)
                if (e[i].val->text[0])
                        rc = cb(e[i].key, e[i].val->text, opaque);
        free(e);
        return rc;
}

static void print_source(FILE *f, const config_val_t *v) {
        static const char *const names[] = {"default", "file", "env",
                                            "command line"};
        if (v->origin)
                fprintf(f, "(%s %s)\n", names[v->src], v->origin);
        else
                fprintf(f, "(%s)\n", names[v->src]);
}

void config_dump(const config_t *cfg, FILE *f) {
        size_t n   = 0;
        entry_t *e = entries(cfg, "", &n);
        if (!e) {
                fprintf(f, "# out of memory\n");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const char *t = e[i].val->text;
                if (e[i].secret && *t)
                        fprintf(f, "%s = " MASK " ", e[i].key);
                else if (!*t || strchr(" \t#\"", t[0]) ||
                         strchr(" \t", t[strlen(t) - 1]))
                        fprintf(f, "%s = \"%s\" ", e[i].key, t);
                else
                        fprintf(f, "%s = %s ", e[i].key, t);
                print_source(f, e[i].val);
        }
        free(e);
}

/* ---- the reference ---- */

static const char *const type_names[] = {"string", "int",  "size",
                                         "double", "bool", "enum"};

/* A table cell: '|' escaped so it stays one cell. */
static void md_cell(FILE *f, const char *s) {
        for (; *s; s++) {
                if (*s == '|')
                        fputc('\\', f);
                fputc(*s, f);
        }
}

static void md_range(FILE *f, const config_key_t *k) {
        char lo[32], hi[32];
        switch (k->type) {
        case CONFIG_INT:
                fprintf(f, "%.0f – %.0f", k->min, k->max);
                break;
        case CONFIG_SIZE:
                config_size_format((int64_t)k->min, lo, sizeof(lo));
                config_size_format((int64_t)k->max, hi, sizeof(hi));
                fprintf(f, "%s – %s", lo, hi);
                break;
        case CONFIG_DOUBLE:
                fprintf(f, "%g – %g", k->min, k->max);
                break;
        case CONFIG_ENUM:
                fputc('`', f);
                md_cell(f, k->choices);
                fputc('`', f);
                break;
        case CONFIG_BOOL:
                fprintf(f, "`true` \\| `false`");
                break;
        case CONFIG_STRING:
                break;
        }
}

static void md_row(FILE *f, const config_key_t *k) {
        char env[160];
        config_env_name(k->name, env, sizeof(env));
        fprintf(f, "| `%s` | %s | ", k->name, type_names[k->type]);
        if (!k->def)
                fprintf(f, "(computed)");
        else if (!*k->def)
                fprintf(f, "(empty)");
        else
                fprintf(f, "`%s`", k->def);
        fprintf(f, " | ");
        md_range(f, k);
        fprintf(f, " | `%s` | ", env);
        md_cell(f, k->doc);
        fprintf(f, "%s |\n", k->secret ? " **Secret**: masked in dumps." : "");
}

static const char intro[] =
    "# bitmon configuration reference\n"
    "\n"
    "<!-- Generated by `bitmon config --reference` from common/config_table.c."
    " Do not edit. -->\n"
    "\n"
    "Every key has a default; set only what differs. Sources, weakest first "
    "(a\nstronger one wins whatever the order):\n"
    "\n"
    "1. the defaults below;\n"
    "2. the file given with `--file` (or `$BITMON_CONFIG`): one `key = value` "
    "a line,\n"
    "   blank lines and lines starting with `#` ignored, a value may be "
    "wrapped in\n"
    "   double quotes to keep outer spaces (a `#` after a value is part of "
    "it);\n"
    "3. the environment: `BITMON_` and the key upper-cased with `.` turned "
    "into `_`\n"
    "   (`workers.threads` is `BITMON_WORKERS_THREADS`);\n"
    "4. the command line: `-X key=value`, repeatable. Command lines are "
    "visible to\n   every user of the machine (`ps`): give secrets in the "
    "file or the environment.\n"
    "\n"
    "Keys under `kafka.` go to librdkafka unchanged (without the prefix), so "
    "every\nlibrdkafka property works: `kafka.security.protocol`, "
    "`kafka.sasl.mechanism`,\n`kafka.ssl.ca.location`, tuning knobs. "
    "librdkafka checks them when bitmon\nstarts. In the environment, "
    "`BITMON_KAFKA_SASL_MECHANISM` sets\n`kafka.sasl.mechanism` (every `_` "
    "after `BITMON_KAFKA_` becomes `.`). Values of\nkafka keys naming a "
    "password, secret, private key or SASL credentials are\nmasked like "
    "secrets.\n"
    "\n"
    "Unknown keys and bad values are errors naming the key and the source:\n"
    "\n"
    "    bitmon.conf:12: workers.threads: must be between 1 and 256 (got 0)\n"
    "    env BITMON_FOO: unknown key foo\n"
    "\n"
    "All of them are reported before bitmon refuses to start. `bitmon config "
    "--check`\nvalidates a configuration, `bitmon config --dump` prints the "
    "effective values\nwith their sources.\n"
    "\n"
    "Types: `int` is a decimal integer (the key name carries the unit: `_ms`, "
    "`_s`);\n`size` is bytes, optionally with `KiB`, `MiB` or `GiB`; `bool` "
    "is `true`/`false`\n(also `yes`/`no`, `on`/`off`, `1`/`0`). Ranges are "
    "inclusive.\n";

void config_reference_md(FILE *f) {
        fputs(intro, f);
        const char *section = "";
        size_t slen         = 0;
        for (size_t i = 0; i < config_table_len; i++) {
                const config_key_t *k = &config_table[i];
                const char *dot       = strchr(k->name, '.');
                size_t len = dot ? (size_t)(dot - k->name) : strlen(k->name);
                if (len != slen || strncmp(section, k->name, len) != 0) {
                        section = k->name;
                        slen    = len;
                        fprintf(f, "\n## %.*s\n\n", (int)len, k->name);
                        fprintf(f, "| key | type | default | range | "
                                   "environment | description |\n"
                                   "|---|---|---|---|---|---|\n");
                }
                md_row(f, k);
        }
}
