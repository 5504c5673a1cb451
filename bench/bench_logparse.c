/* bench/bench_logparse.c — throughput of the Bitrise log parser and the cost
 * of the JSON parsers: the real 742 KB failed deploy log streamed 256 times
 * in 16 KiB chunks (what libcurl hands the write callback), an ANSI-heavy
 * generated log, one byte at a time, and the build / log info JSON parses.
 * Prints one line per case: "name MB/s" or "name us/op".
 *
 *   make tools && BITMON_SHARED=../shared build/bench/bench_logparse
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bitrise/client.h"
#include "bitrise/logparse.h"
#include "common/buf.h"
#include "tests/support/fixtures.h"

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Streams data `times` times in chunks of `chunk` bytes; returns MB/s. */
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

static void bench_json(const char *file, int is_build) {
        size_t len = 0;
        char *body = fixture_read(file, &len);
        if (!body)
                return;
        char err[160];
        enum { N = 20000 };
        double t0 = now_s();
        for (int i = 0; i < N; i++) {
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
               (now_s() - t0) / N * 1e6, len);
        free(body);
}

int main(void) {
        size_t len = 0, failed = 0;
        char *log = fixture_read(
            "bitrise_log_analyzer_deploy_to_itunes_failed_REDACTED.log.txt",
            &len);
        if (!log) {
                fprintf(stderr, "cannot read fixtures: set BITMON_SHARED\n");
                return 1;
        }
        double mbs = stream(log, len, 256, 16384, &failed);
        printf("%-50s %8.1f MB/s (%zu failed steps)\n",
               "real deploy log x256, 16 KiB chunks", mbs, failed);
        mbs = stream(log, len, 4, 1, &failed);
        printf("%-50s %8.1f MB/s\n", "real deploy log x4, 1-byte chunks", mbs);

        buf_t gen;
        buf_init(&gen, 0);
        for (int i = 0; i < 20000; i++)
                buf_printf(&gen,
                           "\x1b[32;1mINFO\x1b[0m[12:00:%02d] \x1b[34mstep\x1b["
                           "0m line %d progress\r50%%\r100%%\n",
                           i % 60, i);
        mbs = stream(gen.data, gen.len, 100, 16384, &failed);
        printf("%-50s %8.1f MB/s\n", "generated ANSI + CR log, 16 KiB chunks",
               mbs);
        buf_release(&gen);
        free(log);

        bench_json("mcp_before_get_build.json", 1);
        bench_json("cianalyzer_log_info_long_summary.json", 0);
        return 0;
}
