/* consumer/txnmeta.c — encode and parse the done runs above a committed
 * position (see txnmeta.h). */
#include "consumer/txnmeta.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TXNMETA_TAG "bm1"

/* Appends ",GAP.LEN" for [start, end); 0 when it does not fit (the runs
 * after it are left out: duplicates at worst). */
static int put_run(char *buf, size_t size, size_t *len, int64_t *prev,
                   int64_t start, int64_t end) {
        char run[48];
        size_t head = *len ? 0 : strlen(TXNMETA_TAG);
        int k       = snprintf(run, sizeof(run), ",%" PRId64 ".%" PRId64,
                               start - *prev, end - start);
        if (k < 0 || *len + head + (size_t)k + 1 > size ||
            *len + head + (size_t)k > TXNMETA_MAX)
                return 0;
        if (head)
                memcpy(buf, TXNMETA_TAG, head);
        memcpy(buf + *len + head, run, (size_t)k + 1);
        *len += head + (size_t)k;
        *prev = end;
        return 1;
}

size_t txnmeta_encode(const offsets_t *o, int32_t part,
                      const txnmeta_range_t *later, size_t n_later, char *buf,
                      size_t size) {
        const int64_t *v = NULL;
        size_t n         = offsets_inflight_list(o, part, &v);
        int64_t last     = offsets_last(o, part);
        int64_t prev     = n ? v[0] : last + 1;
        size_t len       = 0;
        if (size == 0)
                return 0;
        buf[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                int64_t start = v[i] + 1;
                int64_t end   = i + 1 < n ? v[i + 1] : last + 1;
                if (end > start && !put_run(buf, size, &len, &prev, start, end))
                        return len;
        }
        for (size_t i = 0; i < n_later; i++) {
                int64_t start =
                    later[i].start > last ? later[i].start : last + 1;
                if (later[i].end > start &&
                    !put_run(buf, size, &len, &prev, start, later[i].end))
                        return len;
        }
        return len;
}

static int parse_num(const char **s, const char *end, int64_t *out) {
        int64_t v     = 0;
        const char *p = *s;
        if (p == end || *p < '0' || *p > '9')
                return -1;
        while (p < end && *p >= '0' && *p <= '9') {
                if (v > (INT64_MAX - 9) / 10)
                        return -1;
                v = v * 10 + (*p++ - '0');
        }
        *s   = p;
        *out = v;
        return 0;
}

int txnmeta_decode(const char *meta, size_t len, int64_t pos,
                   txnmeta_range_t **out, size_t *n) {
        const char *s = meta, *end = meta + len;
        size_t tag = strlen(TXNMETA_TAG), cap = 0;
        txnmeta_range_t *r = NULL;
        *out               = NULL;
        *n                 = 0;
        if (!meta || len == 0 || pos < 0)
                return len == 0 ? 0 : -1;
        if (len < tag || memcmp(s, TXNMETA_TAG, tag) != 0)
                return -1;
        s += tag;
        int64_t prev = pos;
        while (s < end) {
                int64_t gap, cnt;
                if (*s++ != ',' || parse_num(&s, end, &gap) < 0 || s == end ||
                    *s++ != '.' || parse_num(&s, end, &cnt) < 0 || cnt <= 0 ||
                    gap > INT64_MAX - prev - cnt)
                        goto bad;
                if (*n == cap) {
                        cap                = cap ? cap * 2 : 16;
                        txnmeta_range_t *g = realloc(r, cap * sizeof(*r));
                        if (!g)
                                goto bad;
                        r = g;
                }
                r[*n].start = prev + gap;
                r[*n].end   = prev + gap + cnt;
                prev        = r[(*n)++].end;
        }
        *out = r;
        return 0;
bad:
        free(r);
        *n = 0;
        return -1;
}

int txnmeta_contains(const txnmeta_range_t *r, size_t n, size_t *idx,
                     int64_t off) {
        while (*idx < n && off >= r[*idx].end)
                (*idx)++;
        return *idx < n && off >= r[*idx].start;
}
