/* bitrise/logparse_int.h — internals shared by logparse.c (bytes) and
 * logparse_steps.c (lines). Not an API: only those two files include it. */
#ifndef BITMON_BITRISE_LOGPARSE_INT_H
#define BITMON_BITRISE_LOGPARSE_INT_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The scanners below look at 16 bytes at a time with SSE2 (every x86-64);
 * elsewhere, or built with -DLOGPARSE_NO_SIMD, they loop over bytes. */
#if defined(__SSE2__) && !defined(LOGPARSE_NO_SIMD)
#include <emmintrin.h>
#define LP_SIMD 1
#else
#define LP_SIMD 0
#endif

#include "bitrise/logparse.h"

/* Index of the first '\n', '\r' or ESC in p[0..n), n when none: where the
 * byte layer has to leave its bulk copy. */
static inline size_t lp_scan_ctl(const unsigned char *p, size_t n) {
#if LP_SIMD
        if (n >= 16) {
                const __m128i nl  = _mm_set1_epi8('\n'),
                              cr  = _mm_set1_epi8('\r');
                const __m128i esc = _mm_set1_epi8(0x1b);
                /* the last block overlaps the one before: bytes seen
                 * already matched nothing, so its first hit is new */
                for (size_t i = 0;; i += 16) {
                        if (i + 16 > n)
                                i = n - 16;
                        __m128i v = _mm_loadu_si128(
                            (const __m128i *)(const void *)(p + i));
                        __m128i m =
                            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, nl),
                                                      _mm_cmpeq_epi8(v, cr)),
                                         _mm_cmpeq_epi8(v, esc));
                        unsigned bits = (unsigned)_mm_movemask_epi8(m);
                        if (bits)
                                return i + (size_t)__builtin_ctz(bits);
                        if (i + 16 == n)
                                return n;
                }
        }
#endif
        for (size_t i = 0; i < n; i++)
                if (p[i] == '\n' || p[i] == '\r' || p[i] == 0x1b)
                        return i;
        return n;
}

/* Length of the run at p of printable ASCII other than '[' (0x20..0x7e):
 * the bytes the line cleaner keeps as they are. */
static inline size_t lp_scan_plain(const unsigned char *p, size_t n) {
#if LP_SIMD
        if (n >= 16) {
                const __m128i lo   = _mm_set1_epi8(0x20);
                const __m128i span = _mm_set1_epi8(0x5e);
                const __m128i br   = _mm_set1_epi8('[');
                for (size_t i = 0;; i += 16) { /* overlapping last block */
                        if (i + 16 > n)
                                i = n - 16;
                        __m128i v = _mm_loadu_si128(
                            (const __m128i *)(const void *)(p + i));
                        __m128i t  = _mm_sub_epi8(v, lo); /* plain: 0..0x5e */
                        __m128i in = _mm_cmpeq_epi8(_mm_min_epu8(t, span), t);
                        __m128i m = _mm_andnot_si128(_mm_cmpeq_epi8(v, br), in);
                        unsigned bits =
                            (unsigned)_mm_movemask_epi8(m) ^ 0xffffu;
                        if (bits)
                                return i + (size_t)__builtin_ctz(bits);
                        if (i + 16 == n)
                                return n;
                }
        }
#endif
        for (size_t i = 0; i < n; i++)
                if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '[')
                        return i;
        return n;
}

/* n without the spaces and tabs that end p[0..n). */
static inline size_t lp_trim_blank_end(const char *p, size_t n) {
#if LP_SIMD
        const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t');
        for (; n >= 16; n -= 16) {
                __m128i v = _mm_loadu_si128(
                    (const __m128i *)(const void *)(p + n - 16));
                __m128i m =
                    _mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, tab));
                unsigned keep = (unsigned)_mm_movemask_epi8(m) ^ 0xffffu;
                if (keep) /* the last byte to keep is its highest bit */
                        return n - 16 + 32 - (size_t)__builtin_clz(keep);
        }
#endif
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
                n--;
        return n;
}

typedef struct lp_slot {
        char *s;
        size_t len, cap;
        int own; /* s is its own allocation, not a slice of the block */
} lp_slot_t;

/* The last `cap` lines; slots keep their storage between pushes. At the
 * first push every slot gets a slice of one block (LP_SLOT_BYTES each, for
 * rings up to LP_BLOCK_SLOTS slots); only a longer line allocates. */
typedef struct lp_ring {
        lp_slot_t *slots;
        char *block;
        int block_tried;
        size_t cap, start, count;
} lp_ring_t;

#define LP_SLOT_BYTES  128
#define LP_BLOCK_SLOTS 1024

int lp_ring_init(lp_ring_t *r, size_t cap);
void lp_ring_release(lp_ring_t *r);
void lp_ring_clear(lp_ring_t *r);
void lp_ring_block_take(lp_ring_t *r);
int lp_slot_grow(lp_slot_t *sl, size_t need);

/* Copies the line into the next slot, reusing its storage (inline: two
 * pushes per line). */
static inline int lp_ring_push(lp_ring_t *r, const char *s, size_t len) {
        if (!r->cap)
                return 0;
        if (!r->block_tried)
                lp_ring_block_take(r);
        size_t i;
        if (r->count == r->cap) {
                i = r->start;
                if (++r->start == r->cap)
                        r->start = 0;
        } else {
                i = r->start + r->count++;
                if (i >= r->cap)
                        i -= r->cap;
        }
        lp_slot_t *sl = &r->slots[i];
        if (sl->cap < len + 1 && lp_slot_grow(sl, len + 1))
                return -1;
        memcpy(sl->s, s, len);
        sl->s[len] = '\0';
        sl->len    = len;
        return 0;
}
const char *lp_ring_at(const lp_ring_t *r, size_t i);
int lp_ring_copy(const lp_ring_t *r, char ***out, size_t *n);

/* A step whose header was seen and whose footer was not (yet). */
typedef struct lp_step {
        int index;
        char title[128];
        char step_id[128];
        int exit_line_code; /* from an "exit code: N" line, -1 */
        int in_header;      /* still inside the header box */
        int nested;         /* a nested `bitrise run` opened inside */
        uint64_t summaries; /* summaries completed when it opened */
        lp_ring_t ring;     /* its last output lines */
} lp_step_t;

typedef struct lp_failed {
        logparse_step_t pub;
        int summary_seen; /* matched by a summary row already */
} lp_failed_t;

#define LP_STACK_MAX      4 /* nested `bitrise run` depth we follow */
#define LP_UNRESOLVED_MAX 4 /* steps left without a footer */

enum lp_kind { LP_OTHER, LP_RULE1, LP_RULE3 };

struct logparse {
        /* options */
        uint64_t max_bytes;
        size_t step_lines, line_max, failed_max;
        /* byte layer */
        uint64_t bytes, lines;
        int truncated, finished, oom;
        int esc;
        int cr_pending, line_open;
        char *line;
        size_t line_len;
        EVP_MD_CTX *md;
        /* small feeds are hashed in batches: EVP_DigestUpdate costs about
         * as much as hashing a block */
        unsigned char stage[256];
        size_t stage_len;
        char sha256[65];
        lp_ring_t tail;
        const char **tail_view;
        /* line layer */
        enum lp_kind prev_kind;
        int in_summary;
        int after_footer; /* rows after a footer belong to it */
        uint64_t summaries;
        size_t summary_rows;
        int build_ok;
        lp_step_t stack[LP_STACK_MAX];
        size_t depth;
        lp_step_t unresolved[LP_UNRESOLVED_MAX];
        size_t nunresolved;
        lp_ring_t orphan; /* output seen while no step is open */
        int orphan_exit_code;
        lp_failed_t *failed;
        size_t nfailed;
};

int lp_steps_init(logparse_t *lp);
void lp_steps_release(logparse_t *lp);
void lp_steps_finish(logparse_t *lp);
/* One complete line (ANSI already stripped, NUL-terminated, may be edited
 * in place). */
void lp_line_process(logparse_t *lp, char *s, size_t len);

/* Helpers exposed for the unit tests. */
int lp_duration_parse(const char *s, double *out);

#endif
