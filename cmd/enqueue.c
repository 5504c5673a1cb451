/* cmd/enqueue.c — `bitmon enqueue`: submit monitor jobs to the jobs topic,
 * from flags (one job) or JSON lines on stdin (`-`). Every job is validated
 * with the consumer's own parser before it is produced, so what this command
 * accepts the workers accept. */
#include <cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/kafka_opts.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/timeutil.h"
#include "common/job.h"
#include "producer/producer.h"

typedef struct enqueue_opts {
        kafka_opts_t kafka;
        const char *workspace, *app, *build, *job_id, *log;
        int follow;
        long long deadline_s; /* 0 = the workers' default */
        cJSON *attrs;         /* --attr k=v, owned */
        int from_stdin;
        long long timeout_s;
        job_limits_t limits; /* from the configuration (job.*) */
} enqueue_opts_t;

typedef struct enqueue_state {
        atomic_int acked, failed;
        int total, sent, invalid;
} enqueue_state_t;

static void usage(FILE *f) {
        fprintf(
            f,
            "usage: bitmon enqueue --workspace W --app SLUG --build SLUG "
            "[options]\n"
            "       bitmon enqueue [options] -   (JSON lines on stdin)\n\n"
            "  --workspace W        workspace whose token is used\n"
            "  --app SLUG           app slug (16 hex or UUID)\n"
            "  --build SLUG         build slug (16 hex or UUID)\n"
            "  --job-id ID          default: generated\n"
            "  --no-follow          report once instead of watching\n"
            "  --log none|summary|full  default summary\n"
            "  --deadline S         stop watching after S seconds\n"
            "  --attr KEY=VALUE     copied into every result (repeatable)\n"
            "  --timeout S          wait for Kafka at most S s (default 30)\n"
            "%s",
            kafka_opts_usage);
}

static void on_ack(void *ctx, int32_t part, int64_t off,
                   rd_kafka_resp_err_t err) {
        enqueue_state_t *st = ctx;
        (void)part;
        (void)off;
        if (err)
                atomic_fetch_add(&st->failed, 1);
        else
                atomic_fetch_add(&st->acked, 1);
}

static int add_attr(enqueue_opts_t *o, const char *kv) {
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
                fprintf(stderr, "bitmon enqueue: --attr expects KEY=VALUE\n");
                return -1;
        }
        if (!o->attrs && !(o->attrs = cJSON_CreateObject()))
                return -1;
        char *k = strndup(kv, (size_t)(eq - kv));
        int ok  = k && cJSON_AddStringToObject(o->attrs, k, eq + 1) != NULL;
        free(k);
        return ok ? 0 : -1;
}

static int parse_one(enqueue_opts_t *o, int argc, char **argv, int *i) {
        const char *v = NULL;
        int r;
        if ((r = kafka_opts_parse(&o->kafka, argc, argv, i)))
                return r;
        if (strcmp(argv[*i], "-") == 0)
                return o->from_stdin = 1;
        if (strcmp(argv[*i], "--no-follow") == 0)
                return (o->follow = 0), 1;
        if ((r = cmd_opt_value(argc, argv, i, "--workspace", &o->workspace)) ||
            (r = cmd_opt_value(argc, argv, i, "--app", &o->app)) ||
            (r = cmd_opt_value(argc, argv, i, "--build", &o->build)) ||
            (r = cmd_opt_value(argc, argv, i, "--job-id", &o->job_id)) ||
            (r = cmd_opt_value(argc, argv, i, "--log", &o->log)))
                return r;
        if ((r = cmd_opt_value(argc, argv, i, "--deadline", &v)))
                return r < 0 ? r
                       : cmd_opt_int("--deadline", v, 1, 1LL << 40,
                                     &o->deadline_s) < 0
                           ? -1
                           : 1;
        if ((r = cmd_opt_value(argc, argv, i, "--timeout", &v)))
                return r < 0 ? r
                       : cmd_opt_int("--timeout", v, 1, 3600, &o->timeout_s) < 0
                           ? -1
                           : 1;
        if ((r = cmd_opt_value(argc, argv, i, "--attr", &v)))
                return r < 0 ? r : add_attr(o, v) < 0 ? -1 : 1;
        fprintf(stderr, "bitmon enqueue: unknown option '%s'\n", argv[*i]);
        return -1;
}

/* The job from the flags, as JSON text (caller frees) or NULL. */
static char *job_from_flags(const enqueue_opts_t *o) {
        job_t job = {.v          = JOB_VERSION,
                     .follow     = o->follow != 0,
                     .log        = JOB_LOG_SUMMARY,
                     .deadline_s = o->deadline_s};
        char genid[64], id[JOB_ID_MAX + 1], ws[JOB_WORKSPACE_MAX + 1];
        char app[JOB_SLUG_MAX + 1], build[JOB_SLUG_MAX + 1];
        char *attrs = o->attrs ? cJSON_PrintUnformatted(o->attrs) : NULL;
        if (!o->job_id)
                snprintf(genid, sizeof(genid), "bitmon-%llx-%08llx",
                         (unsigned long long)time_wall_ms(),
                         (unsigned long long)(rand_u64() & 0xffffffffULL));
        /* Overlong values are cut here and then named by job_parse. */
        snprintf(id, sizeof(id), "%s", o->job_id ? o->job_id : genid);
        snprintf(ws, sizeof(ws), "%s", o->workspace ? o->workspace : "");
        snprintf(app, sizeof(app), "%s", o->app ? o->app : "");
        snprintf(build, sizeof(build), "%s", o->build ? o->build : "");
        job.job_id     = id;
        job.workspace  = ws;
        job.app_slug   = app;
        job.build_slug = build;
        if (o->log && job_log_parse(o->log, &job.log) < 0) {
                fprintf(stderr, "bitmon enqueue: --log: expected none, "
                                "summary or full\n");
                free(attrs);
                return NULL;
        }
        job.attrs_json = attrs;
        char *s        = job_to_json(&job);
        free(attrs);
        return s;
}

/* Validates one job and queues it. Returns 0, or -1 (counted, reported). */
static int submit(producer_t *p, const enqueue_opts_t *o, enqueue_state_t *st,
                  const char *json, size_t len, const char *where) {
        char err[512], key[2 * JOB_SLUG_MAX + 2];
        job_t *job         = NULL;
        producer_ack_t ack = {on_ack, st, 0, 0};
        st->total++;
        if (job_parse(json, len, NULL, 0, &o->limits, &job, err, sizeof(err)) <
            0) {
                fprintf(stderr, "bitmon enqueue: %s: invalid job: %s\n", where,
                        err);
                st->invalid++;
                return -1;
        }
        job_key(job, key, sizeof(key));
        if (producer_send(p, o->kafka.topic_jobs, key, strlen(key), json, len,
                          NULL, 0, &ack, 1, err, sizeof(err)) < 0) {
                fprintf(stderr, "bitmon enqueue: %s: %s\n", where, err);
                atomic_fetch_add(&st->failed, 1);
                job_destroy(job);
                return -1;
        }
        st->sent++;
        printf("queued job_id=%s key=%s\n", job->job_id, key);
        job_destroy(job);
        return 0;
}

/* Reads one line into b (without its end of line). Returns 1 for a line,
 * 0 at end of input; *overlong is set when the line exceeded b's cap (the
 * rest of it is skipped): stdin is input too, and buffers have caps. */
static int read_line(FILE *f, buf_t *b, int *overlong) {
        int ch, any = 0;
        buf_reset(b);
        *overlong = 0;
        while ((ch = getc(f)) != EOF) {
                any = 1;
                if (ch == '\n')
                        break;
                char c = (char)ch;
                if (!*overlong && buf_append(b, &c, 1) == BUF_ERR_CAP)
                        *overlong = 1;
        }
        while (b->len > 0 && b->data[b->len - 1] == '\r')
                b->data[--b->len] = '\0';
        return any;
}

static void submit_stdin(producer_t *p, const enqueue_opts_t *o,
                         enqueue_state_t *st) {
        char where[32];
        buf_t line;
        int overlong;
        long lineno = 0;
        buf_init(&line, o->limits.max_bytes);
        while (read_line(stdin, &line, &overlong)) {
                lineno++;
                if (overlong) {
                        fprintf(stderr,
                                "bitmon enqueue: line %ld: invalid job: "
                                "payload is more than %zu bytes\n",
                                lineno, o->limits.max_bytes);
                        st->total++;
                        st->invalid++;
                        continue;
                }
                if (line.len == 0)
                        continue;
                snprintf(where, sizeof(where), "line %ld", lineno);
                (void)submit(p, o, st, line.data, line.len, where);
        }
        buf_release(&line);
}

static int parse_args(enqueue_opts_t *o, int argc, char **argv) {
        kafka_opts_init(&o->kafka);
        o->follow    = 1;
        o->timeout_s = 30;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "-h") == 0 ||
                    strcmp(argv[i], "--help") == 0) {
                        usage(stdout);
                        return 1;
                }
                if (parse_one(o, argc, argv, &i) < 0)
                        return -1;
        }
        if (!o->from_stdin && (!o->workspace || !o->app || !o->build)) {
                fprintf(stderr,
                        "bitmon enqueue: --workspace, --app and --build "
                        "are required (or - for JSON lines on stdin)\n");
                return -1;
        }
        if (kafka_opts_load(&o->kafka) < 0)
                return -1;
        o->limits = (job_limits_t){
            .max_bytes = (size_t)config_int(o->kafka.cfg, "job.max_bytes"),
            .deadline_default_s =
                config_int(o->kafka.cfg, "job.default_deadline_s"),
            .deadline_max_s = config_int(o->kafka.cfg, "job.max_deadline_s")};
        return 0;
}

static int run(enqueue_opts_t *o, enqueue_state_t *st) {
        char err[512], tmo[32];
        snprintf(tmo, sizeof(tmo), "%lld", o->timeout_s * 1000);
        /* Our delivery timeout first, then the configured kafka.* pairs
         * (which win); kv has room for one pair more than kafka_opts keeps. */
        const char *kv[2 * (KAFKA_OPTS_MAX_KV + 1)] = {"message.timeout.ms",
                                                       tmo};
        memcpy(kv + 2, o->kafka.kv, 2 * o->kafka.n_kv * sizeof(kv[0]));
        producer_opts_t po = {.bootstrap        = o->kafka.bootstrap,
                              .kafka            = {kv, o->kafka.n_kv + 1},
                              .flush_timeout_ms = (int)o->timeout_s * 1000};
        producer_t *p      = producer_new(&po, err, sizeof(err));
        if (!p) {
                fprintf(stderr, "bitmon enqueue: %s\n", err);
                return -1;
        }
        if (o->from_stdin) {
                submit_stdin(p, o, st);
        } else {
                char *json = job_from_flags(o);
                if (json) {
                        (void)submit(p, o, st, json, strlen(json), "flags");
                } else {
                        st->total++;
                        st->invalid++;
                }
                free(json);
        }
        producer_flush(p, (int)o->timeout_s * 1000);
        producer_destroy(p); /* purges what is left: counted as failed */
        return 0;
}

int cmd_enqueue(int argc, char **argv) {
        enqueue_opts_t o   = {0};
        enqueue_state_t st = {0};
        int rc             = parse_args(&o, argc, argv);
        if (rc != 0) {
                cJSON_Delete(o.attrs);
                kafka_opts_release(&o.kafka);
                return rc > 0 ? 0 : 2;
        }
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        rc = run(&o, &st);
        cJSON_Delete(o.attrs);
        if (rc < 0) {
                kafka_opts_release(&o.kafka);
                return 1;
        }
        int acked = atomic_load(&st.acked), failed = atomic_load(&st.failed);
        printf("enqueued %d of %d jobs to %s (%d invalid, %d not delivered)\n",
               acked, st.total, o.kafka.topic_jobs, st.invalid, failed);
        kafka_opts_release(&o.kafka);
        return acked == st.total && st.total > 0 ? 0 : 1;
}
