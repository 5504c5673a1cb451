/* bench/bench_result.c — cost of one `finished` result's JSON (producer/
 * result.c) of the size the throughput benchmark publishes: a 100-line tail
 * and two failed steps with 20 last lines each, 96-byte lines.
 *
 *     build/bench/bench_result [N]      N results (default 20000)
 *
 * Prints the time per result and its size; for instruction counts run it
 * under valgrind --tool=callgrind with a small N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "producer/result.h"

#define TAIL  100
#define STEPL 20

static char lines[TAIL + 2 * STEPL][97];

int main(int argc, char **argv) {
        long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
        const char *tail[TAIL], *l1[STEPL], *l2[STEPL];
        char err[256];
        for (int i = 0; i < TAIL + 2 * STEPL; i++)
                snprintf(lines[i], sizeof(lines[i]),
                         "\xe2\x96\xb8 Compiling Module%04d/File%06d.swift "
                         "(%d:%d) plain text, no escapes %20s",
                         i, i * 7, i % 12, i, "");
        for (int i = 0; i < TAIL; i++)
                tail[i] = lines[i];
        for (int i = 0; i < STEPL; i++) {
                l1[i] = lines[TAIL + i];
                l2[i] = lines[TAIL + STEPL + i];
        }
        result_step_t steps[2] = {
            {"xcode-test", "xcode-test@4", 65, 312, l1, STEPL},
            {"Script: run lints", "script@1", 1, 7, l2, STEPL}};
        result_build_t b = {.number      = 4211,
                            .status      = 2,
                            .status_text = "error",
                            .workflow    = "primary",
                            .branch      = "feature/login",
                            .commit_hash = "8f1e2d3c4b5a69788f1e2d3c4b5a6978",
                            .pull_request_id = 17,
                            .triggered_at_ms = 1764000000000,
                            .started_at_ms   = 1764000003000,
                            .finished_at_ms  = 1764000603000,
                            .queued_s        = 3,
                            .duration_s      = 600,
                            .machine_type    = "g2.mac.medium",
                            .stack           = "osx-xcode-16.0.x"};
        result_log_t lg  = {.archived       = true,
                            .bytes          = 100000,
                            .lines          = 1042,
                            .sha256         = "9f86d081884c7d659a2feaa0c55ad015"
                                               "a3bf4f1b2b0b822cd15d6c15b0f00a08",
                            .failed_steps   = steps,
                            .n_failed_steps = 2,
                            .tail           = tail,
                            .n_tail         = TAIL};
        result_t r       = {.job_id     = "job-00000001",
                            .workspace  = "ws-bench",
                            .app_slug   = "669403bffbe35909",
                            .build_slug = "1a2b3c4d5e6f7a8b",
                            .attrs_json = "{\"sent_us\":1764000603000123}",
                            .event      = RESULT_EVENT_FINISHED,
                            .build      = &b,
                            .log        = &lg,
                            .worker     = "bitmon-7c9f/w0"};
        size_t size      = 0;
        int64_t t0       = time_mono_ms();
        for (long i = 0; i < n; i++) {
                char *json = result_to_json(&r, err, sizeof(err));
                if (!json) {
                        fprintf(stderr, "bench_result: %s\n", err);
                        return 1;
                }
                size = strlen(json);
                free(json);
        }
        int64_t ms = time_mono_ms() - t0;
        printf("result_json: n=%ld bytes=%zu us_per_result=%.2f\n", n, size,
               n ? (double)ms * 1000.0 / (double)n : 0.0);
        return 0;
}
