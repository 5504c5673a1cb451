/* tests/support/fixtures.h — reads the real Bitrise samples from
 * $BITMON_SHARED/bitrise-api/real/ (default ../shared, as tests/run.sh sets
 * it) for tests and benchmarks. Header-only: each binary gets a copy. */
#ifndef BITMON_TESTS_BITRISE_FIXTURES_H
#define BITMON_TESTS_BITRISE_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>

#include "common/buf.h"

/* Whole file at path, NUL-terminated, caller frees; NULL when
 * unreadable. */
static inline char *fixture_read_path(const char *path, size_t *len) {
        FILE *f = fopen(path, "rb");
        if (!f)
                return NULL;
        buf_t b;
        buf_init(&b, 0);
        char tmp[65536];
        size_t n;
        while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
                if (buf_append(&b, tmp, n)) {
                        buf_release(&b);
                        fclose(f);
                        return NULL;
                }
        fclose(f);
        *len = b.len;
        return buf_detach(&b);
}

/* A sample by name, as fixture_read_path. */
static inline char *fixture_read(const char *name, size_t *len) {
        const char *shared = getenv("BITMON_SHARED");
        char path[1024];
        snprintf(path, sizeof(path), "%s/bitrise-api/real/%s",
                 shared && *shared ? shared : "../shared", name);
        return fixture_read_path(path, len);
}

#endif
