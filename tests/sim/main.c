/* tests/sim/main.c — bitrise-sim: a Bitrise API simulator for tests.
 *
 *   bitrise-sim --scenario FILE [--listen 127.0.0.1:0] [--port-file PATH]
 *               [--speed X] [--threads N] [--log-level LEVEL]
 *
 * Reads the scenario, listens, writes the chosen port to --port-file once the
 * socket is bound, and runs until SIGTERM or SIGINT. Scenario format:
 * tests/sim/README.md.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "tests/sim/sim.h"
#include "tests/sim/webhooks.h"

#define SCENARIO_MAX (64 << 20)

typedef struct opts {
        const char *scenario, *listen, *port_file, *log_level;
        double speed;
        int threads;
} opts_t;

static void usage(FILE *f) {
        fprintf(f, "usage: bitrise-sim --scenario FILE [--listen HOST:PORT] "
                   "[--port-file PATH]\n"
                   "                   [--speed X] [--threads N] [--log-level "
                   "debug|info|warn|error]\n");
}

static int parse_args(int argc, char **argv, opts_t *o) {
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                char *end;
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        usage(stdout);
                        exit(0);
                }
                if (!v) {
                        fprintf(stderr, "bitrise-sim: %s needs a value\n", a);
                        return -1;
                }
                i++;
                if (strcmp(a, "--scenario") == 0) {
                        o->scenario = v;
                } else if (strcmp(a, "--listen") == 0) {
                        o->listen = v;
                } else if (strcmp(a, "--port-file") == 0) {
                        o->port_file = v;
                } else if (strcmp(a, "--log-level") == 0) {
                        o->log_level = v;
                } else if (strcmp(a, "--speed") == 0) {
                        o->speed = strtod(v, &end);
                        if (*end || !(o->speed > 0)) {
                                fprintf(stderr, "bitrise-sim: --speed must be "
                                                "a number > 0\n");
                                return -1;
                        }
                } else if (strcmp(a, "--threads") == 0) {
                        long long n = strtoll(v, &end, 10);
                        if (*end || n < 1 || n > 64) {
                                fprintf(
                                    stderr,
                                    "bitrise-sim: --threads must be 1..64\n");
                                return -1;
                        }
                        o->threads = (int)n;
                } else {
                        fprintf(stderr, "bitrise-sim: unknown option %s\n", a);
                        return -1;
                }
        }
        if (!o->scenario) {
                usage(stderr);
                return -1;
        }
        return 0;
}

static char *read_file(const char *path, char *errstr, size_t errstr_size) {
        FILE *f = fopen(path, "rb");
        char eb[128], *data = NULL;
        size_t len = 0, cap = 0;
        if (!f) {
                snprintf(errstr, errstr_size, "cannot open scenario %s: %s",
                         path, log_errno_str(errno, eb, sizeof(eb)));
                return NULL;
        }
        for (;;) {
                if (cap - len < 65536) {
                        char *p = cap + 65536 > SCENARIO_MAX
                                      ? NULL
                                      : realloc(data, cap + 65537);
                        if (!p) {
                                snprintf(errstr, errstr_size,
                                         "cannot read scenario %s: larger than "
                                         "%d bytes",
                                         path, SCENARIO_MAX);
                                free(data);
                                fclose(f);
                                return NULL;
                        }
                        data = p;
                        cap += 65536;
                }
                size_t n = fread(data + len, 1, cap - len, f);
                len += n;
                if (n == 0)
                        break;
        }
        data[len] = '\0';
        fclose(f);
        return data;
}

static int write_port_file(const char *path, int port) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
        FILE *f = fopen(tmp, "w");
        if (!f)
                return -1;
        fprintf(f, "%d\n", port);
        if (fclose(f) != 0 || rename(tmp, path) != 0) {
                unlink(tmp);
                return -1;
        }
        return 0;
}

static int split_listen(const char *listen, char *host, size_t host_size,
                        int *port) {
        const char *colon = strrchr(listen, ':');
        char *end;
        if (!colon || (size_t)(colon - listen) >= host_size)
                return -1;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        long long p          = strtoll(colon + 1, &end, 10);
        if (*end || p < 0 || p > 65535)
                return -1;
        *port = (int)p;
        return 0;
}

int main(int argc, char **argv) {
        opts_t o          = {.listen = "127.0.0.1:0", .log_level = "info"};
        sim_t sim         = {0};
        sim_server_t *srv = NULL;
        char err[512], host[64], *json = NULL;
        int port, sig, rc              = 1;
        log_level_t lvl;
        sigset_t set;
        if (parse_args(argc, argv, &o) < 0)
                return 2;
        if (log_level_parse(o.log_level, &lvl) < 0) {
                fprintf(stderr, "bitrise-sim: unknown log level %s\n",
                        o.log_level);
                return 2;
        }
        log_setup(lvl, LOG_FMT_AUTO, 2);
        if (split_listen(o.listen, host, sizeof(host), &port) < 0) {
                LOG_ERROR("sim", "bad --listen %s: expected HOST:PORT",
                          o.listen);
                return 2;
        }
        /* Signals are taken by sigwait below; block them before threads start.
         */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);
        curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread */
        pthread_mutex_init(&sim.lock, NULL);
        sim.start_ms = time_wall_ms();
        if (!(json = read_file(o.scenario, err, sizeof(err))) ||
            sim_scenario_load(&sim, json, err, sizeof(err)) < 0) {
                LOG_ERROR("sim", "%s", err);
                goto out;
        }
        if (o.speed > 0)
                sim.speed = o.speed;
        /* /log, the raw download and /_sim/expected of a build share one
         * layout; 256 builds at about 20 KB each */
        sim.logcache = sim_logcache_new(256);
        size_t n_tokens =
            sim.n_tokens; /* the admin API may add tokens once we listen */
        if (sim_hooks_start(sim.hooks, &sim, err, sizeof(err)) < 0 ||
            !(srv = sim_server_start(&sim, host, port, o.threads, err,
                                     sizeof(err)))) {
                LOG_ERROR("sim", "%s", err);
                goto out;
        }
        pthread_mutex_lock(&sim.lock); /* requests may already be running */
        snprintf(sim.base_url, sizeof(sim.base_url), "http://%s:%d", host,
                 sim_server_port(srv));
        pthread_mutex_unlock(&sim.lock);
        if (o.port_file &&
            write_port_file(o.port_file, sim_server_port(srv)) < 0) {
                LOG_ERROR("sim", "cannot write port file %s", o.port_file);
                goto out;
        }
        LOG_INFO("sim",
                 "listening url=http://%s:%d/v0.1 apps=%zu tokens=%zu speed=%g",
                 host, sim_server_port(srv), sim_app_count(&sim), n_tokens,
                 sim.speed);
        if (sigwait(&set, &sig) == 0)
                LOG_INFO("sim", "stopping signal=%d", sig);
        rc = 0;
out:
        sim_server_stop(srv);
        sim_logcache_destroy(sim.logcache);
        sim_release(&sim);
        pthread_mutex_destroy(&sim.lock);
        free(json);
        curl_global_cleanup();
        return rc;
}
