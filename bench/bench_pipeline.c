/* bench/bench_pipeline.c — the load side of the end-to-end benchmarks
 * (bench/run.sh): produces monitor jobs for distinct generated builds of
 * the Bitrise simulator to the jobs topic, each carrying its send time in
 * attrs, reads the terminal results back from the results topic and prints
 * throughput and produce → result latency. bitmon itself runs as its own
 * process (`bitmon run`); this program never links the pipeline.
 *
 *   bench_pipeline -b BROKERS -j JOBS_TOPIC -r RESULTS_TOPIC -s SIM_ROOT
 *                  -w WORKSPACE -a APPS -o FIRST -n COUNT [-R RATE]
 *                  [-T TIMEOUT_S] [-t TAG] [-N] [-D FILE]
 *
 * Job i targets generated app (FIRST + i) % APPS, build index
 * (FIRST + i) / APPS (0 = newest; slugs from the simulator's /_sim/slugs).
 * RATE jobs/s (0 = as fast as the producer takes them); -N: produce only,
 * do not wait for results (the scale benchmark); -D: write "i sent_ms
 * latency_ms" per job to FILE (where the slow ones are). Bounded by TIMEOUT_S
 * (default 120). Prints one line `TAG: ...` with the figures; exit 1 when
 * not every job got its terminal result in time. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"

typedef struct opts {
        const char *brokers, *jobs, *results, *sim, *ws, *tag, *dump;
        const char *log; /* -L: the jobs' "log" (none, summary, full) */
        long apps, first, count, timeout_s;
        double rate;
        int no_wait;
} opts_t;

static int64_t now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
        return buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

/* Slugs of every job's app and build: one keep-alive GET /_sim/slugs
 * each. */
static int slugs_fetch(const opts_t *o, char (*app)[40], char (*build)[40]) {
        CURL *c = curl_easy_init();
        buf_t b;
        int rc = -1;
        buf_init(&b, 1 << 16);
        if (!c)
                return -1;
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        for (long i = 0; i < o->count; i++) {
                char url[512];
                long k = o->first + i, st = 0;
                snprintf(url, sizeof(url),
                         "%s/_sim/slugs?app_index=%ld&build_index=%ld", o->sim,
                         k % o->apps, k / o->apps);
                buf_reset(&b);
                curl_easy_setopt(c, CURLOPT_URL, url);
                if (curl_easy_perform(c) != CURLE_OK ||
                    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st) !=
                        CURLE_OK ||
                    st != 200) {
                        fprintf(stderr, "bench_pipeline: %s: HTTP %ld\n", url,
                                st);
                        goto out;
                }
                cJSON *j       = cJSON_ParseWithOpts(buf_cstr(&b), NULL, 0);
                const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "app");
                const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "build");
                if (!cJSON_IsString(a) || !cJSON_IsString(s)) {
                        cJSON_Delete(j);
                        fprintf(stderr, "bench_pipeline: bad slugs answer\n");
                        goto out;
                }
                snprintf(app[i], sizeof(app[i]), "%s", a->valuestring);
                snprintf(build[i], sizeof(build[i]), "%s", s->valuestring);
                cJSON_Delete(j);
        }
        rc = 0;
out:
        buf_release(&b);
        curl_easy_cleanup(c);
        return rc;
}

static rd_kafka_t *kafka_new(rd_kafka_type_t type, const opts_t *o) {
        char err[512];
        char group[128];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        snprintf(group, sizeof(group), "bench-%s-%ld", o->tag, (long)now_us());
        if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, err,
                              sizeof(err)) != RD_KAFKA_CONF_OK ||
            (type == RD_KAFKA_PRODUCER &&
             rd_kafka_conf_set(conf, "linger.ms", "1", err, sizeof(err)) !=
                 RD_KAFKA_CONF_OK) ||
            (type == RD_KAFKA_CONSUMER &&
             (rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) !=
                  RD_KAFKA_CONF_OK ||
              rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err,
                                sizeof(err)) != RD_KAFKA_CONF_OK ||
              /* All jobs at once (throughput): read results in large
               * fetches, like a real downstream consumer under load — one
               * fetch per result batch cost the broker ~15 % more CPU. Paced
               * (latency): every result as soon as it is there. */
              rd_kafka_conf_set(conf, "fetch.min.bytes",
                                o->rate > 0 ? "1" : "262144", err,
                                sizeof(err)) != RD_KAFKA_CONF_OK))) {
                fprintf(stderr, "bench_pipeline: %s\n", err);
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
        if (!rk)
                fprintf(stderr, "bench_pipeline: %s\n", err);
        return rk;
}

/* Assigns every partition of the results topic at its current end, so only
 * results of this run's jobs are read. */
static int results_assign(rd_kafka_t *rk, const opts_t *o) {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->results, NULL);
        int rc                = -1;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            md->topic_cnt != 1 || md->topics[0].partition_cnt == 0) {
                fprintf(stderr, "bench_pipeline: no metadata for %s\n",
                        o->results);
                goto out;
        }
        int np = md->topics[0].partition_cnt;
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(np);
        for (int p = 0; p < np; p++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(rk, o->results, p, &lo,
                                                     &hi, 10000) != 0) {
                        rd_kafka_topic_partition_list_destroy(l);
                        goto out;
                }
                rd_kafka_topic_partition_list_add(l, o->results, p)->offset =
                    hi;
        }
        rc = rd_kafka_assign(rk, l) == 0 ? 0 : -1;
        rd_kafka_topic_partition_list_destroy(l);
out:
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return rc;
}

static int produce_one(rd_kafka_t *rk, const opts_t *o, long i, const char *app,
                       const char *build) {
        char key[96], val[600];
        int kl = snprintf(key, sizeof(key), "%s/%s", app, build);
        int vl = snprintf(val, sizeof(val),
                          "{\"v\":1,\"job_id\":\"%s-%ld\",\"workspace\":\"%s\","
                          "\"app_slug\":\"%s\",\"build_slug\":\"%s\","
                          "\"attrs\":{\"bench\":\"%s\",\"i\":%ld,\"t\":%" PRId64
                          "}%s%s%s}",
                          o->tag, i, o->ws, app, build, o->tag, i, now_us(),
                          o->log ? ",\"log\":\"" : "", o->log ? o->log : "",
                          o->log ? "\"" : "");
        for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(o->jobs),
                    RD_KAFKA_V_KEY(key, (size_t)kl),
                    RD_KAFKA_V_VALUE(val, (size_t)vl),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                        return 0;
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        fprintf(stderr, "bench_pipeline: produce: %s\n",
                                rd_kafka_err2str(err));
                        return -1;
                }
                rd_kafka_poll(rk, 10);
        }
}

typedef struct tally {
        int64_t *lat_us;  /* per job, -1 until its terminal result */
        int64_t *sent_us; /* per job, send time from the first send */
        long done, errors, dups, status;
        int64_t first_send_us, last_send_us, last_done_us;
        char first_error[160];
} tally_t;

/* One result message: counts it when it is a terminal result of ours. */
static void result_take(const opts_t *o, tally_t *t,
                        const rd_kafka_message_t *m) {
        int64_t now = now_us();
        /* the payload is not NUL-terminated: parse with its length */
        cJSON *j = cJSON_ParseWithLengthOpts(m->payload, m->len, NULL, 0);
        const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(j, "attrs");
        const cJSON *tag   = cJSON_GetObjectItemCaseSensitive(attrs, "bench");
        const cJSON *ii    = cJSON_GetObjectItemCaseSensitive(attrs, "i");
        const cJSON *ts    = cJSON_GetObjectItemCaseSensitive(attrs, "t");
        const cJSON *ev    = cJSON_GetObjectItemCaseSensitive(j, "event");
        if (!cJSON_IsString(tag) || strcmp(tag->valuestring, o->tag) != 0 ||
            !cJSON_IsNumber(ii) || !cJSON_IsNumber(ts) || !cJSON_IsString(ev))
                goto out;
        long i = (long)ii->valuedouble;
        if (i < 0 || i >= o->count)
                goto out;
        if (strcmp(ev->valuestring, "status") == 0 &&
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "final"))) {
                t->status++;
                goto out;
        }
        if (t->lat_us[i] >= 0) {
                t->dups++;
                goto out;
        }
        t->lat_us[i]  = now - (int64_t)ts->valuedouble;
        t->sent_us[i] = (int64_t)ts->valuedouble - t->first_send_us;
        t->done++;
        t->last_done_us = now;
        if (strcmp(ev->valuestring, "error") == 0) {
                if (t->errors++ == 0) {
                        const cJSON *e =
                            cJSON_GetObjectItemCaseSensitive(j, "error");
                        const cJSON *c =
                            cJSON_GetObjectItemCaseSensitive(e, "code");
                        const cJSON *msg =
                            cJSON_GetObjectItemCaseSensitive(e, "message");
                        snprintf(t->first_error, sizeof(t->first_error),
                                 "%s: %s",
                                 cJSON_IsString(c) ? c->valuestring : "?",
                                 cJSON_IsString(msg) ? msg->valuestring : "?");
                }
        }
out:
        cJSON_Delete(j);
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

static double pct_ms(const int64_t *sorted, long n, double p) {
        if (n == 0)
                return 0;
        long k = (long)(p * (double)(n - 1) + 0.5);
        return (double)sorted[k] / 1000.0;
}

static void report(const opts_t *o, tally_t *t) {
        int64_t *v = malloc(sizeof(*v) * (size_t)(o->count ? o->count : 1));
        long n     = 0;
        for (long i = 0; i < o->count; i++)
                if (t->lat_us[i] >= 0)
                        v[n++] = t->lat_us[i];
        qsort(v, (size_t)n, sizeof(*v), cmp_i64);
        double span_s = (double)(t->last_done_us - t->first_send_us) / 1e6;
        double send_s = (double)(t->last_send_us - t->first_send_us) / 1e6;
        printf("%s: jobs=%ld done=%ld errors=%ld dups=%ld send_s=%.2f "
               "span_s=%.2f jobs_per_s=%.0f lat_ms_p50=%.1f p90=%.1f "
               "p99=%.1f max=%.1f\n",
               o->tag, o->count, t->done, t->errors, t->dups, send_s, span_s,
               span_s > 0 ? (double)t->done / span_s : 0, pct_ms(v, n, 0.5),
               pct_ms(v, n, 0.9), pct_ms(v, n, 0.99), pct_ms(v, n, 1.0));
        if (t->errors)
                printf("%s: first error: %s\n", o->tag, t->first_error);
        fflush(stdout);
        free(v);
}

static int dump_write(const opts_t *o, const tally_t *t) {
        FILE *f = fopen(o->dump, "w");
        if (!f) {
                fprintf(stderr, "bench_pipeline: cannot write %s\n", o->dump);
                return -1;
        }
        for (long i = 0; i < o->count; i++)
                if (t->lat_us[i] >= 0)
                        fprintf(f, "%ld %.1f %.1f\n", i,
                                (double)t->sent_us[i] / 1000.0,
                                (double)t->lat_us[i] / 1000.0);
        return fclose(f) == 0 ? 0 : -1;
}

static void usage(void) {
        fprintf(
            stderr,
            "usage: bench_pipeline -b BROKERS -j JOBS_TOPIC -r RESULTS_TOPIC "
            "-s SIM_ROOT -w WORKSPACE -a APPS -o FIRST -n COUNT [-R RATE] "
            "[-T TIMEOUT_S] [-t TAG] [-N] [-D FILE] [-L none|summary|full]\n");
}

static int opts_parse(opts_t *o, int argc, char **argv) {
        int c;
        *o = (opts_t){.tag = "bench", .timeout_s = 120, .apps = 1};
        while ((c = getopt(argc, argv, "b:j:r:s:w:a:o:n:R:T:t:ND:L:")) != -1) {
                char *end = NULL;
                switch (c) {
                case 'b':
                        o->brokers = optarg;
                        break;
                case 'j':
                        o->jobs = optarg;
                        break;
                case 'r':
                        o->results = optarg;
                        break;
                case 's':
                        o->sim = optarg;
                        break;
                case 'w':
                        o->ws = optarg;
                        break;
                case 't':
                        o->tag = optarg;
                        break;
                case 'N':
                        o->no_wait = 1;
                        break;
                case 'D':
                        o->dump = optarg;
                        break;
                case 'L':
                        o->log = optarg;
                        break;
                case 'R':
                        o->rate = strtod(optarg, &end);
                        break;
                case 'a':
                        o->apps = strtol(optarg, &end, 10);
                        break;
                case 'o':
                        o->first = strtol(optarg, &end, 10);
                        break;
                case 'n':
                        o->count = strtol(optarg, &end, 10);
                        break;
                case 'T':
                        o->timeout_s = strtol(optarg, &end, 10);
                        break;
                default:
                        return -1;
                }
                if (end && *end) {
                        fprintf(stderr,
                                "bench_pipeline: -%c: not a number: %s\n", c,
                                optarg);
                        return -1;
                }
        }
        if (!o->brokers || !o->jobs || !o->results || !o->sim || !o->ws ||
            o->apps < 1 || o->first < 0 || o->count < 1 ||
            o->count > 10000000 || o->rate < 0 || o->timeout_s < 1)
                return -1;
        return 0;
}

/* Connections and metadata before the clock starts: without this the
 * first second of jobs measures the producer's connect and the consumer's
 * first fetch, not the pipeline. */
static int warm_up(const opts_t *o, rd_kafka_t *prod, rd_kafka_t *cons) {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_topic_t *rkt         = rd_kafka_topic_new(prod, o->jobs, NULL);
        rd_kafka_resp_err_t err = rd_kafka_metadata(prod, 0, rkt, &md, 10000);
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        if (err) {
                fprintf(stderr, "bench_pipeline: no metadata for %s: %s\n",
                        o->jobs, rd_kafka_err2str(err));
                return -1;
        }
        for (int64_t until = now_us() + 1500000; cons && now_us() < until;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
                if (m)
                        rd_kafka_message_destroy(m);
        }
        return 0;
}

/* Produces every job (paced at rate), polling results as it goes. */
static int run_load(const opts_t *o, rd_kafka_t *prod, rd_kafka_t *cons,
                    char (*app)[40], char (*build)[40], tally_t *t,
                    int64_t end_us) {
        t->first_send_us = now_us();
        for (long i = 0; i < o->count; i++) {
                if (o->rate > 0) {
                        int64_t due = t->first_send_us +
                                      (int64_t)((double)i * 1e6 / o->rate);
                        while (now_us() < due) {
                                rd_kafka_message_t *m =
                                    cons ? rd_kafka_consumer_poll(cons, 1)
                                         : NULL;
                                if (m) {
                                        if (!m->err)
                                                result_take(o, t, m);
                                        rd_kafka_message_destroy(m);
                                } else if (!cons) {
                                        struct timespec ts = {0, 200000};
                                        nanosleep(&ts, NULL);
                                }
                                rd_kafka_poll(prod, 0);
                        }
                }
                if (produce_one(prod, o, i, app[i], build[i]) < 0)
                        return -1;
                rd_kafka_poll(prod, 0);
                if (now_us() > end_us)
                        return -1;
        }
        t->last_send_us = now_us();
        return rd_kafka_flush(prod, 30000) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
        opts_t o;
        tally_t t;
        int rc           = 1;
        rd_kafka_t *prod = NULL, *cons = NULL;
        if (opts_parse(&o, argc, argv) < 0) {
                usage();
                return 2;
        }
        memset(&t, 0, sizeof(t));
        curl_global_init(CURL_GLOBAL_DEFAULT);
        char(*app)[40]   = calloc((size_t)o.count, sizeof(*app));
        char(*build)[40] = calloc((size_t)o.count, sizeof(*build));
        t.lat_us         = malloc(sizeof(*t.lat_us) * (size_t)o.count);
        t.sent_us        = calloc((size_t)o.count, sizeof(*t.sent_us));
        if (!app || !build || !t.lat_us || !t.sent_us)
                goto out;
        for (long i = 0; i < o.count; i++)
                t.lat_us[i] = -1;
        if (slugs_fetch(&o, app, build) < 0)
                goto out;
        if (!(prod = kafka_new(RD_KAFKA_PRODUCER, &o)))
                goto out;
        if (!o.no_wait && (!(cons = kafka_new(RD_KAFKA_CONSUMER, &o)) ||
                           results_assign(cons, &o) < 0))
                goto out;
        if (warm_up(&o, prod, cons) < 0)
                goto out;
        int64_t end_us = now_us() + o.timeout_s * 1000000;
        if (run_load(&o, prod, cons, app, build, &t, end_us) < 0) {
                fprintf(stderr,
                        "bench_pipeline: %s: producing failed or timed out\n",
                        o.tag);
                goto out;
        }
        if (o.no_wait) {
                printf("%s: produced=%ld send_s=%.2f\n", o.tag, o.count,
                       (double)(t.last_send_us - t.first_send_us) / 1e6);
                rc = 0;
                goto out;
        }
        while (t.done < o.count && now_us() < end_us) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
                if (!m)
                        continue;
                if (!m->err)
                        result_take(&o, &t, m);
                rd_kafka_message_destroy(m);
        }
        report(&o, &t);
        if (o.dump && dump_write(&o, &t) < 0)
                goto out;
        rc = t.done == o.count ? 0 : 1;
out:
        if (cons) {
                rd_kafka_consumer_close(cons);
                rd_kafka_destroy(cons);
        }
        if (prod)
                rd_kafka_destroy(prod);
        free(app);
        free(build);
        free(t.lat_us);
        free(t.sent_us);
        curl_global_cleanup();
        return rc;
}
