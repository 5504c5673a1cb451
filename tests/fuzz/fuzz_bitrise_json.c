/* tests/fuzz/fuzz_bitrise_json.c — libFuzzer target for the JSON parsers of
 * bitrise/parse.c: one input through the build, log info, apps page and app
 * parsers; the log info's chunks then go through the log parser, as the
 * worker does when the raw log is not archived. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bitrise/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *body = (const char *)data;
        char err[160];
        bitrise_build_t b;
        if (bitrise_build_parse(body, size, &b, err, sizeof(err)) == 0) {
                if (b.status < 0 || (b.duration_s < 0 && b.duration_s != -1))
                        abort();
                bitrise_build_release(&b);
        } else if (!err[0]) {
                abort(); /* a failure always says why */
        }
        bitrise_log_info_t li;
        if (bitrise_log_info_parse(body, size, &li, err, sizeof(err)) == 0) {
                for (size_t i = 1; i < li.nchunks; i++)
                        if (li.chunks[i].position < li.chunks[i - 1].position)
                                abort();
                logparse_t *lp = logparse_new(NULL);
                if (lp) {
                        bitrise_log_info_feed(&li, lp);
                        logparse_finish(lp);
                        logparse_destroy(lp);
                }
                bitrise_log_info_release(&li);
        }
        bitrise_apps_page_t p;
        if (bitrise_apps_page_parse(body, size, &p, err, sizeof(err)) == 0) {
                for (size_t i = 0; i < p.n; i++)
                        if (!p.slugs[i])
                                abort();
                bitrise_apps_page_release(&p);
        }
        bitrise_app_t a;
        if (bitrise_app_parse(body, size, &a, err, sizeof(err)) == 0)
                bitrise_app_release(&a);
        return 0;
}
