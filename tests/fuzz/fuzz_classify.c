/* tests/fuzz/fuzz_classify.c — libFuzzer target for bitrise_classify: the
 * response headers (lines before the first NUL byte) and the body (the rest)
 * of an answer with a status taken from the first two bytes. The message
 * must stay printable ASCII-or-UTF-8 text and never empty on a failure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bitrise/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 2)
                return 0;
        long status = 100 + (data[0] << 8 | data[1]) % 500;
        data += 2;
        size -= 2;
        const uint8_t *nul    = memchr(data, 0, size);
        size_t hlen           = nul ? (size_t)(nul - data) : size;
        char *hcopy           = malloc(hlen + 1);
        const char *lines[17] = {0};
        if (!hcopy)
                return 0;
        memcpy(hcopy, data, hlen);
        hcopy[hlen] = '\0';
        size_t n    = 0;
        for (char *p = hcopy; p && *p && n < 16;) {
                lines[n++] = p;
                p          = strchr(p, '\n');
                if (p)
                        *p++ = '\0';
        }
        const char *body = nul ? (const char *)nul + 1 : "";
        size_t blen      = nul ? size - hlen - 1 : 0;
        bitrise_result_t res;
        bitrise_classify(CURLE_OK, status, lines, body, blen, 1764331200000LL,
                         "fuzz", &res);
        if (res.cls != BITRISE_OK && !res.message[0])
                abort();
        for (const char *m = res.message; *m; m++)
                if ((unsigned char)*m < 0x20)
                        abort();
        if (res.retry_after_ms < -1 || res.retry_after_ms > 24LL * 3600 * 1000)
                abort();
        free(hcopy);
        return 0;
}
