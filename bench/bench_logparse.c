/* bench/bench_logparse.c — throughput of the Bitrise log parser and the cost
 * of the JSON parsers: the real 742 KB failed deploy log streamed 256 times
 * in 16 KiB chunks (what libcurl hands the write callback), the simulator's
 * 100 KB logs (tests/sim/simlog.c, the logs of `make bench`) with one parser
 * per log, an ANSI-heavy generated log, one byte at a time, and the build /
 * log info JSON parses. Prints one line per case: "name MB/s" or
 * "name us/op".
 *
 *   make tools && build/bench/bench_logparse [--quick] [FILTER]
 *
 * Fixtures come from $BITMON_SHARED (../shared by default). FILTER runs only
 * the cases whose name contains it ("real", "sim", "ANSI", "json"); --quick
 * does 1/32 of the work (for valgrind --tool=callgrind
 * --toggle-collect='logparse_*': instructions per byte, noise-free).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bitrise/client.h"
#include "bitrise/logparse.h"
#include "common/buf.h"
#include "tests/support/fixtures.h"

/* The simulator's log generator, compiled in (it is not in libbitmon). */
#include "tests/sim/simlog.c"

static const char *filter;
static int quick;

static int want(const char *name) {
        return !filter || strstr(name, filter);
}

static int reps(int n) {
        return quick && n >= 32 ? n / 32 : quick ? 1 : n;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Streams data `times` times in chunks of `chunk` bytes through one parser;
 * returns MB/s. */
static double stream(const char *data, size_t len, int times, size_t chunk,
                     size_t *failed) {
        logparse_opts_t o = {.max_bytes = (uint64_t)len * (uint64_t)times};
        logparse_t *lp    = logparse_new(&o);
        double t0         = now_s();
        for (int i = 0; i < times; i++)
                for (size_t off = 0; off < len; off += chunk)
                        logparse_feed(lp, data + off,
                                      len - off < chunk ? len - off : chunk);
        logparse_finish(lp);
        double dt = now_s() - t0;
        *failed   = logparse_failed_count(lp);
        logparse_destroy(lp);
        return (double)len * times / dt / 1e6;
}

/* Logs like the benchmark scenario's (tests/scenarios/bench_finished.json):
 * ~100 KB, 3..12 steps, some failed, some aborted mid-step. */
enum { SIM_LOGS = 16 };

static char *sim_log(int i, size_t *len) {
        sim_build_t b      = {0};
        sim_state_t st     = {.status = 1};
        b.triggered_ms     = 1780000000000 + i * 600000LL;
        b.running_ms       = 60000 + i * 35000LL;
        b.final_status     = i % 4 == 1 ? 2 : i % 8 == 3 ? 3 : 1;
        b.log.target_bytes = 100000;
        b.log.steps        = 3 + i % 10;
        b.log.seed         = 7 + (uint64_t)i;
        b.log.failing_step = b.final_status == 2 ? b.log.steps - 1 : -1;
        b.log.exit_code    = 1 + i % 3;
        b.log.abort_cut    = b.final_status >= 3;
        st.started_ms      = b.triggered_ms;
        sim_loglayout_t *l = sim_loglayout_new(&b, &st);
        if (!l)
                return NULL;
        *len    = (size_t)sim_loglayout_size(l);
        char *p = malloc(*len);
        if (p)
                sim_loglayout_read(l, 0, p, *len);
        sim_loglayout_release(l);
        return p;
}

/* One parser per log (new, feed in 16 KiB chunks, finish, destroy), as a
 * worker does for each finished build; returns MB/s. */
static double sim_logs(char *const *logs, const size_t *lens, int times) {
        double bytes = 0, t0 = now_s();
        for (int r = 0; r < times; r++)
                for (int i = 0; i < SIM_LOGS; i++) {
                        logparse_t *lp = logparse_new(NULL);
                        for (size_t off = 0; off < lens[i]; off += 16384)
                                logparse_feed(lp, logs[i] + off,
                                              lens[i] - off < 16384
                                                  ? lens[i] - off
                                                  : 16384);
                        logparse_finish(lp);
                        logparse_destroy(lp);
                        bytes += (double)lens[i];
                }
        return bytes / (now_s() - t0) / 1e6;
}

static void bench_sim(void) {
        char *logs[SIM_LOGS] = {0};
        size_t lens[SIM_LOGS], total = 0;
        for (int i = 0; i < SIM_LOGS; i++) {
                if (!(logs[i] = sim_log(i, &lens[i]))) {
                        fprintf(stderr, "cannot generate simulator logs\n");
                        goto out;
                }
                total += lens[i];
        }
        double mbs = sim_logs(logs, lens, reps(128));
        printf("%-50s %8.1f MB/s (%d logs, %zu bytes)\n",
               "sim 100 KB logs, parser per log, 16 KiB chunks", mbs, SIM_LOGS,
               total);
out:
        for (int i = 0; i < SIM_LOGS; i++)
                free(logs[i]);
}

static void bench_json(const char *file, int is_build) {
        size_t len = 0;
        char *body = fixture_read(file, &len);
        if (!body)
                return;
        char err[160];
        int n     = reps(20000);
        double t0 = now_s();
        for (int i = 0; i < n; i++) {
                if (is_build) {
                        bitrise_build_t b;
                        bitrise_build_parse(body, len, &b, err, sizeof(err));
                        bitrise_build_release(&b);
                } else {
                        bitrise_log_info_t li;
                        bitrise_log_info_parse(body, len, &li, err,
                                               sizeof(err));
                        bitrise_log_info_release(&li);
                }
        }
        printf("%-50s %8.2f us/op (%zu bytes)\n", file,
               (now_s() - t0) / n * 1e6, len);
        free(body);
}

static void bench_generated(void) {
        size_t failed = 0;
        buf_t gen;
        buf_init(&gen, 0);
        for (int i = 0; i < 20000; i++)
                buf_printf(&gen,
                           "\x1b[32;1mINFO\x1b[0m[12:00:%02d] \x1b[34mstep\x1b["
                           "0m line %d progress\r50%%\r100%%\n",
                           i % 60, i);
        double mbs = stream(gen.data, gen.len, reps(100), 16384, &failed);
        printf("%-50s %8.1f MB/s\n", "generated ANSI + CR log, 16 KiB chunks",
               mbs);
        buf_release(&gen);
}

int main(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--quick"))
                        quick = 1;
                else
                        filter = argv[i];
        }
        /* OpenSSL loads its provider at the first digest (~5 M
         * instructions): not a per-byte cost, keep it out of the figures */
        unsigned char md[EVP_MAX_MD_SIZE];
        EVP_Digest("", 0, md, NULL, EVP_sha256(), NULL);
        size_t len = 0, failed = 0;
        char *log = fixture_read(
            "bitrise_log_analyzer_deploy_to_itunes_failed_REDACTED.log.txt",
            &len);
        if (!log) {
                fprintf(stderr, "cannot read fixtures: set BITMON_SHARED\n");
                return 1;
        }
        const char *name = "real deploy log x256, 16 KiB chunks";
        if (want(name))
                printf("%-50s %8.1f MB/s (%zu failed steps)\n", name,
                       stream(log, len, reps(256), 16384, &failed), failed);
        name = "real deploy log x4, 1-byte chunks";
        if (want(name))
                printf("%-50s %8.1f MB/s\n", name,
                       stream(log, len, quick ? 1 : 4, 1, &failed));
        free(log);
        if (want("sim 100 KB logs"))
                bench_sim();
        if (want("generated ANSI + CR log"))
                bench_generated();
        if (want("json")) {
                bench_json("mcp_before_get_build.json", 1);
                bench_json("cianalyzer_log_info_long_summary.json", 0);
        }
        return 0;
}
