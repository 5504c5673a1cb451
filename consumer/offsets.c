/* consumer/offsets.c — in-flight offsets per partition.
 *
 * Each partition keeps its in-flight offsets in a sorted array used as a
 * deque: tracking appends (offsets arrive in order), completion removes by
 * binary search. Most completions hit the front, which is O(1) by moving the
 * head; others shift the shorter side.
 */
#include "consumer/offsets.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct part {
        int64_t *v; /* in-flight offsets, sorted, v[head..head+n) */
        size_t head, n, cap;
        int64_t last;     /* last tracked offset, -1 = none */
        int64_t reported; /* position last given to foreach_advanced */
} part_t;

struct offsets {
        part_t *parts; /* indexed by partition id */
        size_t nparts;
        size_t inflight;
};

offsets_t *offsets_new(void) {
        return calloc(1, sizeof(offsets_t));
}

void offsets_destroy(offsets_t *o) {
        if (!o)
                return;
        for (size_t i = 0; i < o->nparts; i++)
                free(o->parts[i].v);
        free(o->parts);
        free(o);
}

static part_t *part_get(offsets_t *o, int32_t part, bool create) {
        if (part < 0 || part >= OFFSETS_MAX_PARTITION)
                return NULL;
        if ((size_t)part >= o->nparts) {
                if (!create)
                        return NULL;
                size_t n  = (size_t)part + 1;
                part_t *p = realloc(o->parts, n * sizeof(*p));
                if (!p)
                        return NULL;
                for (size_t i = o->nparts; i < n; i++)
                        p[i] = (part_t){.last = -1, .reported = -1};
                o->parts  = p;
                o->nparts = n;
        }
        return &o->parts[part];
}

static const part_t *part_peek(const offsets_t *o, int32_t part) {
        if (part < 0 || (size_t)part >= o->nparts)
                return NULL;
        return &o->parts[part];
}

int offsets_track(offsets_t *o, int32_t part, int64_t off) {
        part_t *p = part_get(o, part, true);
        if (!p)
                return part < 0 || part >= OFFSETS_MAX_PARTITION ? -1 : -2;
        if (off < 0 || off <= p->last)
                return -1;
        if (p->head + p->n == p->cap) {
                if (p->head > p->cap / 2) { /* reclaim the consumed front */
                        memmove(p->v, p->v + p->head, p->n * sizeof(*p->v));
                        p->head = 0;
                } else {
                        size_t cap = p->cap ? p->cap * 2 : 64;
                        int64_t *v = realloc(p->v, cap * sizeof(*v));
                        if (!v)
                                return -2;
                        p->v   = v;
                        p->cap = cap;
                }
        }
        p->v[p->head + p->n++] = off;
        p->last                = off;
        o->inflight++;
        return 0;
}

int offsets_done(offsets_t *o, int32_t part, int64_t off) {
        part_t *p = part_get(o, part, false);
        if (!p || p->n == 0)
                return -1;
        int64_t *v = p->v + p->head;
        size_t lo = 0, hi = p->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (v[mid] < off)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == p->n || v[lo] != off)
                return -1;
        if (lo == 0) {
                p->head++;
        } else if (lo < p->n / 2) {
                memmove(v + 1, v, lo * sizeof(*v));
                p->head++;
        } else {
                memmove(v + lo, v + lo + 1, (p->n - lo - 1) * sizeof(*v));
        }
        p->n--;
        if (p->n == 0)
                p->head = 0;
        o->inflight--;
        return 0;
}

int64_t offsets_committable(const offsets_t *o, int32_t part) {
        const part_t *p = part_peek(o, part);
        if (!p || p->last < 0)
                return -1;
        return p->n ? p->v[p->head] : p->last + 1;
}

void offsets_drop(offsets_t *o, int32_t part) {
        part_t *p = part_get(o, part, false);
        if (!p)
                return;
        o->inflight -= p->n;
        free(p->v);
        *p = (part_t){.last = -1, .reported = -1};
}

size_t offsets_inflight(const offsets_t *o, int32_t part) {
        const part_t *p = part_peek(o, part);
        return p ? p->n : 0;
}

size_t offsets_inflight_total(const offsets_t *o) {
        return o->inflight;
}

void offsets_foreach_advanced(offsets_t *o,
                              void (*fn)(int32_t part, int64_t pos, void *ctx),
                              void *ctx) {
        for (size_t i = 0; i < o->nparts; i++) {
                int64_t pos = offsets_committable(o, (int32_t)i);
                if (pos > o->parts[i].reported) {
                        o->parts[i].reported = pos;
                        fn((int32_t)i, pos, ctx);
                }
        }
}

size_t offsets_inflight_list(const offsets_t *o, int32_t part,
                             const int64_t **v) {
        const part_t *p = part_peek(o, part);
        *v              = p && p->n ? p->v + p->head : NULL;
        return p ? p->n : 0;
}

int64_t offsets_last(const offsets_t *o, int32_t part) {
        const part_t *p = part_peek(o, part);
        return p ? p->last : -1;
}

void offsets_foreach(const offsets_t *o,
                     void (*fn)(int32_t part, int64_t pos, void *ctx),
                     void *ctx) {
        for (size_t i = 0; i < o->nparts; i++) {
                int64_t pos = offsets_committable(o, (int32_t)i);
                if (pos >= 0)
                        fn((int32_t)i, pos, ctx);
        }
}
