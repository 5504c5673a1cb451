/* tests/kafka-mock/kafka_mock.c — serves the Kafka protocol on loopback with
 * librdkafka's mock cluster, for machines without a JDK (scripts/kafka.sh).
 *
 * Prints "bootstrap HOST:PORT[,...]" once it listens, then runs until SIGTERM
 * or SIGINT. Reads control lines (create topics, inject broker faults) from a
 * FIFO or stdin and answers each with one line "ctl ok ..." or "ctl error ...".
 * Test-only: never linked into bitmon. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MOCK_LINE_MAX 1024
#define MOCK_ARGS_MAX 16

static volatile sig_atomic_t stop_signal;

typedef struct {
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;
        int brokers;
} mock_t;

static const char usage_text[] =
    "usage: kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... "
    "[--control FIFO|-] [--debug CONTEXTS]\n"
    "\n"
    "Serves the Kafka protocol on 127.0.0.1 (librdkafka's mock cluster) "
    "until SIGTERM.\n"
    "Control lines (from FIFO, or stdin with -), each answered by one line\n"
    "\"ctl ok LINE\" or \"ctl error LINE: REASON\" on stdout:\n"
    "  topic NAME PARTITIONS [REPLICAS]   create a topic\n"
    "  topic-error NAME ERR               fail requests on a topic (0 "
    "clears)\n"
    "  error API ERR [ERR...]             fail the next requests of API, in "
    "order\n"
    "  broker-error BROKER API ERR [RTT_MS [COUNT]]\n"
    "                                     fail requests on one broker\n"
    "  clear API                          drop pushed errors for API\n"
    "  down BROKER | up BROKER            take a broker down or bring it "
    "back\n"
    "  rtt BROKER MS                      delay a broker's responses\n"
    "  leader TOPIC PARTITION BROKER      move a partition's leader (-1: "
    "none)\n"
    "  coordinator group|transaction KEY BROKER\n"
    "  ping                               answer only (to synchronise)\n"
    "API: a Kafka API name (Produce, Fetch, Metadata, OffsetCommit, "
    "JoinGroup, ...)\n"
    "or key number; ERR: a broker error name (NOT_LEADER_FOR_PARTITION, "
    "...) or code.\n";

static void on_signal(int sig) {
        stop_signal = sig;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
        (void)rk;
        fprintf(stderr, "rdkafka %d %s: %s\n", level, fac, buf);
}

/* Parses a whole decimal integer in [min, max]. */
static int int_parse(const char *s, long min, long max, long *out) {
        char *end;
        errno  = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

static const struct {
        const char *name;
        int16_t key;
} api_names[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ListGroups", 16},
    {"SaslHandshake", 17},
    {"ApiVersions", 18},
    {"CreateTopics", 19},
    {"DeleteTopics", 20},
    {"DeleteRecords", 21},
    {"InitProducerId", 22},
    {"OffsetForLeaderEpoch", 23},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
    {"DescribeConfigs", 32},
    {"CreatePartitions", 37},
};

static int api_parse(const char *s, int16_t *out) {
        long v;
        for (size_t i = 0; i < sizeof(api_names) / sizeof(api_names[0]); i++) {
                if (strcasecmp(s, api_names[i].name) == 0) {
                        *out = api_names[i].key;
                        return 0;
                }
        }
        if (int_parse(s, 0, 32767, &v) != 0)
                return -1;
        *out = (int16_t)v;
        return 0;
}

/* An error by name (with or without the RD_KAFKA_RESP_ERR_ prefix) or code. */
static int err_parse(const char *s, rd_kafka_resp_err_t *out) {
        const struct rd_kafka_err_desc *descs;
        size_t cnt;
        long v;

        if (strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
                s += 18;
        rd_kafka_get_err_descs(&descs, &cnt);
        for (size_t i = 0; i < cnt; i++) {
                if (descs[i].name && strcasecmp(s, descs[i].name) == 0) {
                        *out = descs[i].code;
                        return 0;
                }
        }
        if (int_parse(s, -200, 1000, &v) != 0)
                return -1;
        *out = (rd_kafka_resp_err_t)v;
        return 0;
}

/* Writes the reason for a failed command into errstr; returns -1. */
static int fail(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *errstr, size_t errstr_size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
        return -1;
}

static int broker_parse(const mock_t *m, const char *s, int32_t *out,
                        char *errstr, size_t errstr_size) {
        long v;
        if (int_parse(s, 1, m->brokers, &v) != 0)
                return fail(errstr, errstr_size, "broker '%s' is not in 1..%d",
                            s, m->brokers);
        *out = (int32_t)v;
        return 0;
}

static int mock_err(rd_kafka_resp_err_t err, char *errstr, size_t errstr_size) {
        if (!err)
                return 0;
        return fail(errstr, errstr_size, "%s", rd_kafka_err2str(err));
}

static int cmd_topic(mock_t *m, int argc, char **argv, char *errstr,
                     size_t errstr_size) {
        long parts, repl = 1;
        if (argc < 3 || argc > 4)
                return fail(errstr, errstr_size,
                            "usage: topic NAME PARTITIONS [REPLICAS]");
        if (int_parse(argv[2], 1, 10000, &parts) != 0)
                return fail(errstr, errstr_size, "bad partition count '%s'",
                            argv[2]);
        if (argc == 4 && int_parse(argv[3], 1, m->brokers, &repl) != 0)
                return fail(errstr, errstr_size,
                            "replicas '%s' is not in 1..%d", argv[3],
                            m->brokers);
        return mock_err(rd_kafka_mock_topic_create(m->mcluster, argv[1],
                                                   (int)parts, (int)repl),
                        errstr, errstr_size);
}

static int cmd_topic_error(mock_t *m, int argc, char **argv, char *errstr,
                           size_t errstr_size) {
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (argc != 3)
                return fail(errstr, errstr_size, "usage: topic-error NAME ERR");
        if (err_parse(argv[2], &err) != 0)
                return fail(errstr, errstr_size, "unknown error '%s'", argv[2]);
        rd_kafka_mock_topic_set_error(m->mcluster, argv[1], err);
        return 0;
}

static int cmd_error(mock_t *m, int argc, char **argv, char *errstr,
                     size_t errstr_size) {
        rd_kafka_resp_err_t errs[MOCK_ARGS_MAX];
        int16_t api = 0;
        if (argc < 3)
                return fail(errstr, errstr_size,
                            "usage: error API ERR [ERR...]");
        if (api_parse(argv[1], &api) != 0)
                return fail(errstr, errstr_size, "unknown API '%s'", argv[1]);
        for (int i = 2; i < argc; i++)
                if (err_parse(argv[i], &errs[i - 2]) != 0)
                        return fail(errstr, errstr_size, "unknown error '%s'",
                                    argv[i]);
        rd_kafka_mock_push_request_errors_array(m->mcluster, api,
                                                (size_t)(argc - 2), errs);
        return 0;
}

static int cmd_broker_error(mock_t *m, int argc, char **argv, char *errstr,
                            size_t errstr_size) {
        int32_t broker          = 0;
        int16_t api             = 0;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        long rtt = 0, count = 1;
        if (argc < 4 || argc > 6)
                return fail(
                    errstr, errstr_size,
                    "usage: broker-error BROKER API ERR [RTT_MS [COUNT]]");
        if (broker_parse(m, argv[1], &broker, errstr, errstr_size) != 0)
                return -1;
        if (api_parse(argv[2], &api) != 0)
                return fail(errstr, errstr_size, "unknown API '%s'", argv[2]);
        if (err_parse(argv[3], &err) != 0)
                return fail(errstr, errstr_size, "unknown error '%s'", argv[3]);
        if (argc >= 5 && int_parse(argv[4], 0, 600000, &rtt) != 0)
                return fail(errstr, errstr_size, "bad RTT '%s'", argv[4]);
        if (argc == 6 && int_parse(argv[5], 1, 100000, &count) != 0)
                return fail(errstr, errstr_size, "bad count '%s'", argv[5]);
        for (long i = 0; i < count; i++) {
                rd_kafka_resp_err_t r =
                    rd_kafka_mock_broker_push_request_error_rtts(
                        m->mcluster, broker, api, 1, err, (int)rtt);
                if (r)
                        return mock_err(r, errstr, errstr_size);
        }
        return 0;
}

static int cmd_clear(mock_t *m, int argc, char **argv, char *errstr,
                     size_t errstr_size) {
        int16_t api = 0;
        if (argc != 2)
                return fail(errstr, errstr_size, "usage: clear API");
        if (api_parse(argv[1], &api) != 0)
                return fail(errstr, errstr_size, "unknown API '%s'", argv[1]);
        rd_kafka_mock_clear_request_errors(m->mcluster, api);
        return 0;
}

static int cmd_updown(mock_t *m, int argc, char **argv, char *errstr,
                      size_t errstr_size) {
        int32_t broker = 0;
        if (argc != 2)
                return fail(errstr, errstr_size, "usage: %s BROKER", argv[0]);
        if (broker_parse(m, argv[1], &broker, errstr, errstr_size) != 0)
                return -1;
        if (strcmp(argv[0], "down") == 0)
                return mock_err(
                    rd_kafka_mock_broker_set_down(m->mcluster, broker), errstr,
                    errstr_size);
        return mock_err(rd_kafka_mock_broker_set_up(m->mcluster, broker),
                        errstr, errstr_size);
}

static int cmd_rtt(mock_t *m, int argc, char **argv, char *errstr,
                   size_t errstr_size) {
        int32_t broker = 0;
        long ms;
        if (argc != 3)
                return fail(errstr, errstr_size, "usage: rtt BROKER MS");
        if (broker_parse(m, argv[1], &broker, errstr, errstr_size) != 0)
                return -1;
        if (int_parse(argv[2], 0, 600000, &ms) != 0)
                return fail(errstr, errstr_size, "bad RTT '%s'", argv[2]);
        return mock_err(
            rd_kafka_mock_broker_set_rtt(m->mcluster, broker, (int)ms), errstr,
            errstr_size);
}

static int cmd_leader(mock_t *m, int argc, char **argv, char *errstr,
                      size_t errstr_size) {
        long part, broker;
        if (argc != 4)
                return fail(errstr, errstr_size,
                            "usage: leader TOPIC PARTITION BROKER");
        if (int_parse(argv[2], 0, 100000, &part) != 0)
                return fail(errstr, errstr_size, "bad partition '%s'", argv[2]);
        if (int_parse(argv[3], -1, m->brokers, &broker) != 0 || broker == 0)
                return fail(errstr, errstr_size,
                            "broker '%s' is not -1 or in 1..%d", argv[3],
                            m->brokers);
        return mock_err(rd_kafka_mock_partition_set_leader(m->mcluster, argv[1],
                                                           (int32_t)part,
                                                           (int32_t)broker),
                        errstr, errstr_size);
}

static int cmd_coordinator(mock_t *m, int argc, char **argv, char *errstr,
                           size_t errstr_size) {
        int32_t broker = 0;
        if (argc != 4 || (strcmp(argv[1], "group") != 0 &&
                          strcmp(argv[1], "transaction") != 0))
                return fail(errstr, errstr_size,
                            "usage: coordinator group|transaction KEY BROKER");
        if (broker_parse(m, argv[3], &broker, errstr, errstr_size) != 0)
                return -1;
        return mock_err(rd_kafka_mock_coordinator_set(m->mcluster, argv[1],
                                                      argv[2], broker),
                        errstr, errstr_size);
}

static int cmd_ping(mock_t *m, int argc, char **argv, char *errstr,
                    size_t errstr_size) {
        (void)m;
        (void)argv;
        if (argc != 1)
                return fail(errstr, errstr_size, "usage: ping");
        return 0;
}

typedef int (*cmd_fn)(mock_t *m, int argc, char **argv, char *errstr,
                      size_t errstr_size);

static const struct {
        const char *name;
        cmd_fn fn;
} commands[] = {
    {"topic", cmd_topic},   {"topic-error", cmd_topic_error},
    {"error", cmd_error},   {"broker-error", cmd_broker_error},
    {"clear", cmd_clear},   {"down", cmd_updown},
    {"up", cmd_updown},     {"rtt", cmd_rtt},
    {"leader", cmd_leader}, {"coordinator", cmd_coordinator},
    {"ping", cmd_ping},
};

/* Runs one control line and answers it on stdout. */
static void control_line(mock_t *m, char *line) {
        char copy[MOCK_LINE_MAX], errstr[256] = "";
        char *argv[MOCK_ARGS_MAX + 2], *save  = NULL, *tok;
        int argc = 0, rc = -1;

        snprintf(copy, sizeof(copy), "%s", line);
        for (tok = strtok_r(line, " \t\r", &save); tok;
             tok = strtok_r(NULL, " \t\r", &save)) {
                if (argc == MOCK_ARGS_MAX + 1) {
                        snprintf(errstr, sizeof(errstr), "too many arguments");
                        goto answer;
                }
                argv[argc++] = tok;
        }
        if (argc == 0 || argv[0][0] == '#')
                return;
        snprintf(errstr, sizeof(errstr), "unknown command '%s'", argv[0]);
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[0], commands[i].name) == 0) {
                        rc = commands[i].fn(m, argc, argv, errstr,
                                            sizeof(errstr));
                        break;
                }
answer:
        if (rc == 0)
                printf("ctl ok %s\n", copy);
        else
                printf("ctl error %s: %s\n", copy, errstr);
        fflush(stdout);
}

/* Reads what the control fd has and runs each complete line. Lines longer
 * than MOCK_LINE_MAX are answered with an error and skipped. Returns -1 at
 * end of input (stdin closed). */
static int control_read(mock_t *m, int fd, char *buf, size_t *len,
                        int *overlong) {
        ssize_t n = read(fd, buf + *len, MOCK_LINE_MAX - 1 - *len);
        if (n == 0)
                return -1;
        if (n < 0)
                return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        *len += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', *len)) != NULL) {
                *nl = '\0';
                if (*overlong) {
                        printf("ctl error (line too long): at most %d bytes\n",
                               MOCK_LINE_MAX - 1);
                        fflush(stdout);
                        *overlong = 0;
                } else {
                        control_line(m, buf);
                }
                *len -= (size_t)(nl + 1 - buf);
                memmove(buf, nl + 1, *len);
        }
        if (*len == MOCK_LINE_MAX - 1) { /* no newline in a full buffer */
                *overlong = 1;
                *len      = 0;
        }
        return 0;
}

static void control_loop(mock_t *m, int fd) {
        char buf[MOCK_LINE_MAX];
        size_t len   = 0;
        int overlong = 0;

        while (!stop_signal) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                int r             = poll(&pfd, fd >= 0 ? 1 : 0, 500);
                if (r > 0 && control_read(m, fd, buf, &len, &overlong) < 0)
                        fd = -1; /* stdin closed: keep serving */
        }
}

static int mock_start(mock_t *m, const char *debug, char *errstr,
                      size_t errstr_size) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, log_cb);
        /* Warnings and worse only (this client has no bootstrap servers to
         * warn about), unless debugging. */
        if (rd_kafka_conf_set(conf, debug ? "debug" : "log_level",
                              debug ? debug : "4", errstr,
                              errstr_size) != RD_KAFKA_CONF_OK) {
                rd_kafka_conf_destroy(conf);
                return -1;
        }
        m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        if (!m->rk) {
                rd_kafka_conf_destroy(conf);
                return -1;
        }
        m->mcluster = rd_kafka_mock_cluster_new(m->rk, m->brokers);
        if (!m->mcluster)
                return fail(errstr, errstr_size,
                            "cannot create the mock cluster");
        return 0;
}

static int topic_arg(mock_t *m, const char *arg, char *errstr,
                     size_t errstr_size) {
        char name[256];
        const char *colon = strrchr(arg, ':');
        long parts        = 1;
        if (!colon || (size_t)(colon - arg) >= sizeof(name) || colon == arg ||
            int_parse(colon + 1, 1, 10000, &parts) != 0)
                return fail(errstr, errstr_size,
                            "--topic wants NAME:PARTITIONS, not '%s'", arg);
        snprintf(name, sizeof(name), "%.*s", (int)(colon - arg), arg);
        return mock_err(
            rd_kafka_mock_topic_create(m->mcluster, name, (int)parts, 1),
            errstr, errstr_size);
}

static int control_open(const char *path) {
        if (!path)
                return -1;
        if (strcmp(path, "-") == 0)
                return STDIN_FILENO;
        /* Read-write, so the FIFO never reports end of file between
         * writers. */
        return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
}

typedef struct {
        const char *control, *debug;
        const char *topics[64];
        int ntopics;
} opts_t;

/* Returns 0, 1 after printing the help, or -1 on a bad argument. */
static int opts_parse(int argc, char **argv, mock_t *m, opts_t *o) {
        long v;
        for (int i = 1; i < argc; i++) {
                const char *a   = argv[i],
                           *val = i + 1 < argc ? argv[i + 1] : NULL;
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        fputs(usage_text, stdout);
                        return 1;
                }
                if (!val)
                        return -1;
                i++;
                if (strcmp(a, "--brokers") == 0 &&
                    int_parse(val, 1, 16, &v) == 0)
                        m->brokers = (int)v;
                else if (strcmp(a, "--topic") == 0 && o->ntopics < 64)
                        o->topics[o->ntopics++] = val;
                else if (strcmp(a, "--control") == 0)
                        o->control = val;
                else if (strcmp(a, "--debug") == 0)
                        o->debug = val;
                else
                        return -1;
        }
        return 0;
}

static void signals_setup(void) {
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv) {
        mock_t m = {.brokers = 1};
        opts_t o = {0};
        char errstr[512];
        int fd = -1, rc = 1;

        int r = opts_parse(argc, argv, &m, &o);
        if (r != 0) {
                if (r < 0)
                        fputs(usage_text, stderr);
                return r < 0 ? 2 : 0;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        signals_setup();
        if (o.control && (fd = control_open(o.control)) < 0) {
                fprintf(stderr, "kafka-mock: cannot open control %s: %m\n",
                        o.control);
                return 1;
        }
        if (mock_start(&m, o.debug, errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "kafka-mock: %s\n", errstr);
                goto out;
        }
        for (int i = 0; i < o.ntopics; i++)
                if (topic_arg(&m, o.topics[i], errstr, sizeof(errstr)) != 0) {
                        fprintf(stderr, "kafka-mock: %s\n", errstr);
                        goto out;
                }
        printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(m.mcluster));
        control_loop(&m, fd);
        fprintf(stderr, "kafka-mock: stopping on signal %d\n",
                (int)stop_signal);
        rc = 0;
out:
        if (m.mcluster)
                rd_kafka_mock_cluster_destroy(m.mcluster);
        if (m.rk)
                rd_kafka_destroy(m.rk);
        if (fd > STDIN_FILENO)
                close(fd);
        return rc;
}
