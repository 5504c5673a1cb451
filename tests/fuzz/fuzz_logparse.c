/* tests/fuzz/fuzz_logparse.c — libFuzzer target for bitrise/logparse.
 *
 * The first two bytes choose the chunk size and the options, the rest is the
 * log, fed in chunks of that size. Checks the invariants a caller relies on:
 * bytes counted exactly, caps honoured, every reported string terminated;
 * and that the results are those of the frozen reference parser
 * (tests/unit/logparse_ref/), both fed the same chunks and both fed the
 * whole log at once.
 * Replay: run the binary on corpus files (libFuzzer), or see
 * tests/unit/test_bitrise_fuzz_replay.c for the replay in the unit suite.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitrise/logparse.h"
#include "tests/unit/logparse_ref/logparse_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 2)
                return 0;
        size_t chunk      = 1 + data[0] % 64;
        logparse_opts_t o = {0};
        if (data[1] & 1)
                o.max_bytes = 1 + data[1] * 16u;
        if (data[1] & 2)
                o.max_line_bytes = 1 + data[1] % 40;
        if (data[1] & 4)
                o.tail_lines = 1 + data[1] % 5;
        if (data[1] & 8)
                o.step_lines = 1 + data[1] % 3;
        if (data[1] & 16)
                o.max_failed_steps = 1;
        data += 2;
        size -= 2;
        logparse_t *lp = logparse_new(&o);
        if (!lp)
                return 0;
        size_t fed = 0;
        for (size_t off = 0; off < size; off += chunk) {
                size_t n = size - off < chunk ? size - off : chunk;
                int rc   = logparse_feed(lp, data + off, n);
                if (rc < 0)
                        abort();
                fed += n;
        }
        if (logparse_finish(lp))
                abort();
        if (!o.max_bytes && logparse_bytes(lp) != fed)
                abort();
        if (o.max_bytes && logparse_bytes(lp) > o.max_bytes)
                abort();
        if (strlen(logparse_sha256(lp)) != 64)
                abort();
        size_t limit            = o.max_line_bytes ? o.max_line_bytes : 2048;
        size_t n                = 0;
        const char *const *tail = logparse_tail(lp, &n);
        for (size_t i = 0; i < n; i++)
                if (strlen(tail[i]) > limit)
                        abort();
        for (size_t i = 0; i < logparse_failed_count(lp); i++) {
                const logparse_step_t *st = logparse_failed_step(lp, i);
                if (!st->title ||
                    st->nlast > (o.step_lines ? o.step_lines : 20))
                        abort();
                for (size_t j = 0; j < st->nlast; j++)
                        if (strlen(st->last_lines[j]) > limit)
                                abort();
        }
        logparse_destroy(lp);
        char msg[512];
        size_t whole = 0;
        if (lpdiff_run(data, size, &o, &chunk, 1, msg, sizeof(msg)) > 0 ||
            lpdiff_run(data, size, &o, &whole, 1, msg, sizeof(msg)) > 0) {
                fprintf(stderr, "logparse differs from the reference: %s\n",
                        msg);
                abort();
        }
        return 0;
}
