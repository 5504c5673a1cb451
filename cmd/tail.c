/* cmd/tail.c — `bitmon tail`: follow the results topic and print one line per
 * result (time, app/build, event, status or error code, failed steps), or
 * the raw JSON with --json. Reads without a consumer group (no commits), from
 * now or from the beginning. */
#include <cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/kafka_opts.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/timeutil.h"

typedef struct tail_opts {
        kafka_opts_t kafka;
        int json;
        int from_beginning;
        int read_uncommitted; /* also results of open/aborted transactions */
        long long max;        /* stop after this many results; 0 = no limit */
        long long timeout_s;  /* stop after this long; 0 = never */
} tail_opts_t;

static volatile sig_atomic_t tail_stop;

static void on_signal(int sig) {
        (void)sig;
        tail_stop = 1;
}

static void usage(FILE *f) {
        fprintf(f,
                "usage: bitmon tail [options]\n\n"
                "  --from-beginning     start at the oldest result, not now\n"
                "  --json               print each result's raw JSON\n"
                "  --read-uncommitted   also show results of transactions not\n"
                "                       committed (yet, or ever: aborted);\n"
                "                       default: committed only\n"
                "  --max N              stop after N results (exit 0)\n"
                "  --timeout S          stop after S seconds (exit 1 if --max "
                "was not reached)\n"
                "%s",
                kafka_opts_usage);
}

static int parse_args(tail_opts_t *o, int argc, char **argv) {
        kafka_opts_init(&o->kafka);
        for (int i = 1; i < argc; i++) {
                const char *v = NULL;
                int r;
                if (strcmp(argv[i], "-h") == 0 ||
                    strcmp(argv[i], "--help") == 0) {
                        usage(stdout);
                        return 1;
                }
                if ((r = kafka_opts_parse(&o->kafka, argc, argv, &i)) != 0) {
                        if (r < 0)
                                return -1;
                } else if (strcmp(argv[i], "--json") == 0) {
                        o->json = 1;
                } else if (strcmp(argv[i], "--from-beginning") == 0) {
                        o->from_beginning = 1;
                } else if (strcmp(argv[i], "--read-uncommitted") == 0) {
                        o->read_uncommitted = 1;
                } else if ((r = cmd_opt_value(argc, argv, &i, "--max", &v))) {
                        if (r < 0 ||
                            cmd_opt_int("--max", v, 1, 1LL << 40, &o->max) < 0)
                                return -1;
                } else if ((r = cmd_opt_value(argc, argv, &i, "--timeout",
                                              &v))) {
                        if (r < 0 || cmd_opt_int("--timeout", v, 1, 1LL << 30,
                                                 &o->timeout_s) < 0)
                                return -1;
                } else {
                        fprintf(stderr, "bitmon tail: unknown option '%s'\n",
                                argv[i]);
                        return -1;
                }
        }
        return kafka_opts_load(&o->kafka);
}

static const char *jstr(const cJSON *o, const char *k) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
        return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* "Xcode Test (exit 65), Deploy (exit 1)" into buf. */
static void failed_steps(const cJSON *log, char *buf, size_t size) {
        const cJSON *steps =
            cJSON_GetObjectItemCaseSensitive(log, "failed_steps");
        const cJSON *s;
        size_t used = 0;
        buf[0]      = '\0';
        cJSON_ArrayForEach(s, steps) {
                const cJSON *ec =
                    cJSON_GetObjectItemCaseSensitive(s, "exit_code");
                const char *t = jstr(s, "title");
                int n =
                    cJSON_IsNumber(ec)
                        ? snprintf(buf + used, size - used, "%s%s (exit %d)",
                                   used ? ", " : "", t ? t : "?", ec->valueint)
                        : snprintf(buf + used, size - used, "%s%s",
                                   used ? ", " : "", t ? t : "?");
                if (n < 0 || (size_t)n >= size - used)
                        break;
                used += (size_t)n;
        }
}

/* Control characters from the topic never reach the terminal as such. */
static char *printable(char *s) {
        for (char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        return s;
}

static void print_human(const rd_kafka_message_t *rkm) {
        const char *end = NULL;
        cJSON *r = cJSON_ParseWithLengthOpts(rkm->payload, rkm->len, &end, 0);
        char key[160], steps[512] = "", what[1024] = "";
        snprintf(key, sizeof(key), "%.*s",
                 (int)(rkm->key_len < 150 ? rkm->key_len : 150),
                 rkm->key ? (const char *)rkm->key : "");
        if (!cJSON_IsObject(r)) {
                printf("%-24s %-52s unparseable result (%zu bytes)\n", "-",
                       printable(key), rkm->len);
                cJSON_Delete(r);
                return;
        }
        const char *ev     = jstr(r, "event");
        const cJSON *build = cJSON_GetObjectItemCaseSensitive(r, "build");
        const cJSON *num   = cJSON_GetObjectItemCaseSensitive(build, "number");
        const cJSON *err   = cJSON_GetObjectItemCaseSensitive(r, "error");
        if (ev && strcmp(ev, "error") == 0) {
                snprintf(what, sizeof(what), "%s: %s",
                         jstr(err, "code") ? jstr(err, "code") : "?",
                         jstr(err, "message") ? jstr(err, "message") : "");
        } else {
                const char *st   = jstr(build, "status_text");
                const char *wf   = jstr(build, "workflow");
                const cJSON *log = cJSON_GetObjectItemCaseSensitive(r, "log");
                const char *gone = jstr(log, "unavailable");
                const cJSON *full =
                    cJSON_GetObjectItemCaseSensitive(log, "full");
                const cJSON *nseg =
                    cJSON_GetObjectItemCaseSensitive(full, "segments");
                char fl[64] = "";
                if (cJSON_IsNumber(nseg)) /* log: full: `bitmon log` */
                        snprintf(fl, sizeof(fl), "  full log: %d segments",
                                 nseg->valueint);
                failed_steps(log, steps, sizeof(steps));
                snprintf(what, sizeof(what), "%s #%d %s%s%s%s%s%s",
                         st ? st : "?", cJSON_IsNumber(num) ? num->valueint : 0,
                         wf ? wf : "", steps[0] ? "  failed: " : "", steps,
                         gone ? "  log unavailable: " : "", gone ? gone : "",
                         fl);
        }
        char line[2048];
        snprintf(line, sizeof(line), "%-24s %-52s %-8s %s",
                 jstr(r, "observed_at") ? jstr(r, "observed_at") : "-", key,
                 ev ? ev : "?", what);
        printf("%s\n", printable(line));
        cJSON_Delete(r);
}

static rd_kafka_t *tail_open(const tail_opts_t *o, char *errstr, size_t size) {
        char group[64];
        kconf_pairs_t pairs = kafka_opts_pairs(&o->kafka);
        /* read_committed: what an exactly-once reader sees (results of
         * aborted transactions never, open ones once they commit) */
        const char *const defaults_kv[] = {
            "enable.auto.commit", "false",           "client.id",
            "bitmon-tail",        "isolation.level", "read_committed"};
        kconf_pairs_t defaults = {defaults_kv, 3};
        snprintf(group, sizeof(group), "bitmon-tail-%08llx",
                 (unsigned long long)(rand_u64() & 0xffffffffULL));
        rd_kafka_conf_t *conf =
            kconf_new(o->kafka.bootstrap, &defaults, &pairs, errstr, size);
        if (!conf || kconf_set(conf, "group.id", group, errstr, size) < 0 ||
            (o->read_uncommitted &&
             kconf_set(conf, "isolation.level", "read_uncommitted", errstr,
                       size) < 0)) {
                if (conf)
                        rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, size);
        if (!rk)
                rd_kafka_conf_destroy(conf);
        return rk;
}

/* Assigns every partition of the results topic at the start position.
 * Asks for all topics' metadata: naming the topic would let a broker with
 * auto.create.topics.enable create a mistyped one. */
static int tail_assign(rd_kafka_t *rk, const tail_opts_t *o, char *errstr,
                       size_t size) {
        const struct rd_kafka_metadata *md = NULL;
        const rd_kafka_metadata_topic_t *t = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
        int rc                  = -1;
        for (int i = 0; !err && i < md->topic_cnt; i++)
                if (strcmp(md->topics[i].topic, o->kafka.topic_results) == 0 &&
                    !md->topics[i].err)
                        t = &md->topics[i];
        if (!t) {
                snprintf(errstr, size, "cannot read topic %s: %s",
                         o->kafka.topic_results,
                         err ? rd_kafka_err2str(err) : "no such topic");
                goto out;
        }
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(t->partition_cnt);
        for (int i = 0; i < t->partition_cnt; i++)
                rd_kafka_topic_partition_list_add(l, o->kafka.topic_results,
                                                  t->partitions[i].id)
                    ->offset = o->from_beginning ? RD_KAFKA_OFFSET_BEGINNING
                                                 : RD_KAFKA_OFFSET_END;
        err = rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err)
                snprintf(errstr, size, "cannot assign: %s",
                         rd_kafka_err2str(err));
        rc = err ? -1 : 0;
out:
        if (md)
                rd_kafka_metadata_destroy(md);
        return rc;
}

static long long tail_loop(rd_kafka_t *rk, const tail_opts_t *o) {
        int64_t end = o->timeout_s ? time_mono_ms() + o->timeout_s * 1000 : 0;
        long long n = 0;
        while (!tail_stop && (!o->max || n < o->max) &&
               (!end || time_mono_ms() < end)) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 200);
                if (!rkm)
                        continue;
                if (rkm->err) {
                        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                fprintf(stderr, "bitmon tail: %s\n",
                                        rd_kafka_message_errstr(rkm));
                } else {
                        if (o->json)
                                printf("%.*s\n", (int)rkm->len,
                                       (const char *)rkm->payload);
                        else
                                print_human(rkm);
                        fflush(stdout);
                        n++;
                }
                rd_kafka_message_destroy(rkm);
        }
        return n;
}

int cmd_tail(int argc, char **argv) {
        tail_opts_t o = {0};
        char err[512];
        int rc = parse_args(&o, argc, argv);
        if (rc != 0) {
                kafka_opts_release(&o.kafka);
                return rc > 0 ? 0 : 2;
        }
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        rd_kafka_t *rk = tail_open(&o, err, sizeof(err));
        if (!rk || tail_assign(rk, &o, err, sizeof(err)) < 0) {
                fprintf(stderr, "bitmon tail: %s\n", err);
                if (rk)
                        rd_kafka_destroy(rk);
                kafka_opts_release(&o.kafka);
                return 1;
        }
        long long n = tail_loop(rk, &o);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        kafka_opts_release(&o.kafka);
        return o.max && n < o.max && !tail_stop ? 1 : 0;
}
