/* cmd/log.c — `bitmon log`: the whole log of a build that a `log: full` job
 * asked for, read back from the logs topic, checked (segment count, bytes,
 * SHA-256) and written to stdout (docs/results.md "The full log"). The copy
 * is found by build or job in Redis (cache/logref.h), or given as a result
 * (or its log.full object) with --result. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/logref.h"
#include "cmd/cmd.h"
#include "cmd/kafka_opts.h"
#include "common/buf.h"
#include "common/log.h"
#include "consumer/logread.h"

#define LOG_REF_MAX (4 * 1024 * 1024)

typedef struct log_opts {
        kafka_opts_t kafka;
        const char *build;  /* APP/BUILD */
        const char *job;    /* --job */
        const char *result; /* --result FILE or - */
        int strip_ansi, read_uncommitted;
        long long timeout_s;
} log_opts_t;

static void usage(FILE *f) {
        fprintf(f,
                "usage: bitmon log APP/BUILD | --job JOB_ID | --result FILE "
                "[options]\n\n"
                "Writes the whole log of a build that a `log: full` job "
                "asked for to stdout,\nafter checking its segments, size "
                "and SHA-256.\n\n"
                "  APP/BUILD            the newest copy of that build's log\n"
                "  --job JOB_ID         the copy a job's result points at\n"
                "  --result FILE        a result (or its log.full object) as "
                "JSON; - = stdin\n"
                "  --strip-ansi         remove ANSI escape sequences\n"
                "  --read-uncommitted   also segments of open or aborted "
                "transactions\n"
                "  --timeout S          without progress (default 15)\n"
                "%s\n"
                "exit status: 0 the log, 1 missing, expired, incomplete or "
                "corrupt (what was\nwritten is then not the log), 2 usage\n",
                kafka_opts_usage);
}

static int parse_args(log_opts_t *o, int argc, char **argv) {
        kafka_opts_init(&o->kafka);
        o->timeout_s = 15;
        for (int i = 1; i < argc; i++) {
                const char *v = NULL;
                int r;
                if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                        usage(stdout);
                        return 1;
                }
                if (!strcmp(argv[i], "--strip-ansi")) {
                        o->strip_ansi = 1;
                        continue;
                }
                if (!strcmp(argv[i], "--read-uncommitted")) {
                        o->read_uncommitted = 1;
                        continue;
                }
                if ((r = kafka_opts_parse(&o->kafka, argc, argv, &i)) ||
                    (r = cmd_opt_value(argc, argv, &i, "--job", &o->job)) ||
                    (r = cmd_opt_value(argc, argv, &i, "--result",
                                       &o->result))) {
                        if (r < 0)
                                return -1;
                        continue;
                }
                if ((r = cmd_opt_value(argc, argv, &i, "--timeout", &v))) {
                        if (r < 0 || cmd_opt_int("--timeout", v, 1, 3600,
                                                 &o->timeout_s) < 0)
                                return -1;
                        continue;
                }
                if (argv[i][0] != '-' && !o->build && strchr(argv[i], '/')) {
                        o->build = argv[i];
                        continue;
                }
                fprintf(stderr, "bitmon log: unknown argument '%s'\n", argv[i]);
                return -1;
        }
        if (!!o->build + !!o->job + !!o->result != 1) {
                fprintf(stderr, "bitmon log: give one of APP/BUILD, --job "
                                "JOB_ID or --result FILE\n");
                return -1;
        }
        return kafka_opts_load(&o->kafka);
}

static int read_all(const char *path, buf_t *b) {
        FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
        char chunk[8192];
        size_t n;
        int rc = 0;
        if (!f)
                return -1;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                if (buf_append(b, chunk, n) != 0)
                        rc = -1;
        if (f != stdin)
                fclose(f);
        return rc;
}

/* The reference from a result (log.full) or a log.full object itself. */
static logseg_ref_t *ref_parse(const buf_t *b, const char **key_out, char *key,
                               size_t key_size, char *errstr, size_t size) {
        cJSON *root    = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
        const cJSON *o = root, *log, *app, *build;
        logseg_ref_t *ref = NULL;
        if (!root) {
                snprintf(errstr, size, "the result is not JSON");
                return NULL;
        }
        if ((log = cJSON_GetObjectItemCaseSensitive(root, "log"))) {
                app   = cJSON_GetObjectItemCaseSensitive(root, "app_slug");
                build = cJSON_GetObjectItemCaseSensitive(root, "build_slug");
                o     = cJSON_GetObjectItemCaseSensitive(log, "full");
                if (cJSON_IsString(app) && cJSON_IsString(build)) {
                        snprintf(key, key_size, "%s/%s", app->valuestring,
                                 build->valuestring);
                        *key_out = key;
                }
                if (!o || cJSON_IsNull(o)) {
                        snprintf(errstr, size,
                                 "the result has no copy of the log "
                                 "(log.full is null or missing: the job did "
                                 "not ask for `log: full`, or the log was "
                                 "rebuilt from chunks)");
                        cJSON_Delete(root);
                        return NULL;
                }
        }
        ref = logseg_ref_from_json(o, errstr, size);
        cJSON_Delete(root);
        return ref;
}

/* The reference of o->build or o->job from Redis. */
static int ref_lookup(const log_opts_t *o, buf_t *b, char *errstr,
                      size_t size) {
        cache_redis_opts_t ro = cmd_redis_opts(o->kafka.cfg, "log");
        cache_redis_t *rc     = cache_redis_new(&ro, errstr, size);
        if (!rc)
                return -1;
        const char *by = o->job ? "job" : "build";
        const char *id = o->job ? o->job : o->build;
        int found      = cache_logref_get(rc, by, id, b, errstr, size);
        cache_redis_destroy(rc);
        if (found == 0)
                snprintf(errstr, size,
                         "no copy of the log of %s %s is known: no `log: "
                         "full` job finished for it, or its record expired "
                         "(topics.logs_retention_ms); pass its result with "
                         "--result",
                         by, id);
        return found == 1 ? 0 : -1;
}

/* --strip-ansi: ESC [ ... final, ESC ] ... BEL or ESC \, ESC x. */
typedef struct strip {
        int st; /* 0 text, 1 after ESC, 2 CSI, 3 OSC, 4 OSC after ESC */
} strip_t;

static int out_plain(void *arg, const void *data, size_t n) {
        (void)arg;
        return fwrite(data, 1, n, stdout) == n ? 0 : -1;
}

static int out_strip(void *arg, const void *data, size_t n) {
        strip_t *s             = arg;
        const unsigned char *p = data;
        char o[8192];
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = p[i];
                if (s->st == 0 && c != 0x1b) {
                        o[k++] = (char)c;
                } else if (s->st == 0) {
                        s->st = 1;
                } else if (s->st == 1) {
                        s->st = c == '[' ? 2 : c == ']' ? 3 : 0;
                } else if (s->st == 2) {
                        if (c >= 0x40 && c <= 0x7e)
                                s->st = 0;
                } else if (c == 0x07 || (s->st == 4 && c == '\\')) {
                        s->st = 0;
                } else {
                        s->st = c == 0x1b ? 4 : 3;
                }
                if (k == sizeof(o)) {
                        if (out_plain(NULL, o, k) < 0)
                                return -1;
                        k = 0;
                }
        }
        return out_plain(NULL, o, k);
}

static int log_run(log_opts_t *o) {
        char err[512], key[160];
        const char *kp = o->build;
        buf_t b;
        strip_t st        = {0};
        logseg_ref_t *ref = NULL;
        int rc            = 1;
        buf_init(&b, LOG_REF_MAX);
        if (o->result ? read_all(o->result, &b) < 0
                      : ref_lookup(o, &b, err, sizeof(err)) < 0) {
                if (o->result)
                        snprintf(err, sizeof(err), "cannot read %s", o->result);
                goto out;
        }
        if (!(ref = ref_parse(&b, &kp, key, sizeof(key), err, sizeof(err))))
                goto out;
        logread_opts_t lo = {.bootstrap        = o->kafka.bootstrap,
                             .kafka            = kafka_opts_pairs(&o->kafka),
                             .key              = kp,
                             .timeout_ms       = (int)o->timeout_s * 1000,
                             .read_uncommitted = o->read_uncommitted};
        int lr = logread_fetch(&lo, ref, o->strip_ansi ? out_strip : out_plain,
                               &st, err, sizeof(err));
        if (fflush(stdout) != 0 && lr == 0) {
                snprintf(err, sizeof(err), "cannot write the log");
                lr = LOGREAD_ERR;
        }
        rc = lr == LOGREAD_OK ? 0 : 1;
out:
        if (rc)
                fprintf(stderr, "bitmon log: %s\n", err);
        logseg_ref_free(ref);
        buf_release(&b);
        return rc;
}

int cmd_log(int argc, char **argv) {
        log_opts_t o = {0};
        int r        = parse_args(&o, argc, argv);
        if (r != 0) {
                kafka_opts_release(&o.kafka);
                return r > 0 ? 0 : 2;
        }
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        r = log_run(&o);
        kafka_opts_release(&o.kafka);
        return r;
}
