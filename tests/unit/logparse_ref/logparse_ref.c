/* tests/unit/logparse_ref/logparse_ref.c — the log parser as it was before
 * the speed work (commit e17e940: bitrise/logparse_int.h, logparse.c and
 * logparse_steps.c, the latter in logparse_ref_steps.c), every external
 * name prefixed with ref_, for the differential tests
 * (tests/unit/test_logparse_diff.c, tests/fuzz/fuzz_logparse.c).
 * Included into one translation unit; never linked into bitmon. Do not
 * change it: it is the behaviour the parser must keep.
 */
#ifndef BITMON_TESTS_LOGPARSE_REF_C
#define BITMON_TESTS_LOGPARSE_REF_C

#include "bitrise/logparse.h"

typedef struct ref_logparse ref_logparse_t;
ref_logparse_t *ref_logparse_new(const logparse_opts_t *opts);
void ref_logparse_destroy(ref_logparse_t *lp);
int ref_logparse_feed(ref_logparse_t *lp, const void *data, size_t len);
int ref_logparse_finish(ref_logparse_t *lp);
uint64_t ref_logparse_bytes(const ref_logparse_t *lp);
uint64_t ref_logparse_lines(const ref_logparse_t *lp);
int ref_logparse_truncated(const ref_logparse_t *lp);
const char *ref_logparse_sha256(const ref_logparse_t *lp);
size_t ref_logparse_failed_count(const ref_logparse_t *lp);
const logparse_step_t *ref_logparse_failed_step(const ref_logparse_t *lp,
                                                size_t i);
size_t ref_logparse_summary_steps(const ref_logparse_t *lp);
int ref_logparse_build_ok(const ref_logparse_t *lp);
const char *const *ref_logparse_tail(const ref_logparse_t *lp, size_t *n);

/* ==== bitrise/logparse_int.h ==== */

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ref_lp_slot {
        char *s;
        size_t len, cap;
} ref_lp_slot_t;

/* The last `cap` lines; slots keep their storage between pushes. */
typedef struct ref_lp_ring {
        ref_lp_slot_t *slots;
        size_t cap, start, count;
} ref_lp_ring_t;

int ref_lp_ring_init(ref_lp_ring_t *r, size_t cap);
void ref_lp_ring_release(ref_lp_ring_t *r);
void ref_lp_ring_clear(ref_lp_ring_t *r);
int ref_lp_ring_push(ref_lp_ring_t *r, const char *s, size_t len);
const char *ref_lp_ring_at(const ref_lp_ring_t *r, size_t i);
int ref_lp_ring_copy(const ref_lp_ring_t *r, char ***out, size_t *n);

/* A step whose header was seen and whose footer was not (yet). */
typedef struct ref_lp_step {
        int index;
        char title[128];
        char step_id[128];
        int exit_line_code; /* from an "exit code: N" line, -1 */
        int in_header;      /* still inside the header box */
        int nested;         /* a nested `bitrise run` opened inside */
        uint64_t summaries; /* summaries completed when it opened */
        ref_lp_ring_t ring; /* its last output lines */
} ref_lp_step_t;

typedef struct ref_lp_failed {
        logparse_step_t pub;
        int summary_seen; /* matched by a summary row already */
} ref_lp_failed_t;

#define REF_LP_STACK_MAX      4 /* nested `bitrise run` depth we follow */
#define REF_LP_UNRESOLVED_MAX 4 /* steps left without a footer */

enum ref_lp_kind { REF_LP_OTHER, REF_LP_RULE1, REF_LP_RULE3 };

struct ref_logparse {
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
        char sha256[65];
        ref_lp_ring_t tail;
        const char **tail_view;
        /* line layer */
        enum ref_lp_kind prev_kind;
        int in_summary;
        int after_footer; /* rows after a footer belong to it */
        uint64_t summaries;
        size_t summary_rows;
        int build_ok;
        ref_lp_step_t stack[REF_LP_STACK_MAX];
        size_t depth;
        ref_lp_step_t unresolved[REF_LP_UNRESOLVED_MAX];
        size_t nunresolved;
        ref_lp_ring_t orphan; /* output seen while no step is open */
        int orphan_exit_code;
        ref_lp_failed_t *failed;
        size_t nfailed;
};

int ref_lp_steps_init(ref_logparse_t *lp);
void ref_lp_steps_release(ref_logparse_t *lp);
void ref_lp_steps_finish(ref_logparse_t *lp);
/* One complete line (ANSI already stripped, NUL-terminated, may be edited
 * in place). */
void ref_lp_line_process(ref_logparse_t *lp, char *s, size_t len);

/* Helpers exposed for the unit tests. */
int ref_lp_duration_parse(const char *s, double *out);

/* ==== bitrise/logparse.c ==== */

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define DEF_MAX_BYTES  (512ull << 20)
#define DEF_TAIL_LINES 100
#define DEF_STEP_LINES 20
#define DEF_LINE_BYTES 2048
#define DEF_FAILED_MAX 32
#define MAX_TAIL_LINES 10000
#define MAX_LINE_BYTES (64u << 10)

enum esc_state {
        ESC_NONE,
        ESC_START,
        ESC_INTER,
        ESC_CSI,
        ESC_STRING,
        ESC_STRING_ESC
};

/* ---- rings of lines -------------------------------------------------- */

int ref_lp_ring_init(ref_lp_ring_t *r, size_t cap) {
        r->slots = calloc(cap ? cap : 1, sizeof(*r->slots));
        r->cap   = cap;
        r->start = r->count = 0;
        return r->slots ? 0 : -1;
}

void ref_lp_ring_release(ref_lp_ring_t *r) {
        if (!r->slots)
                return;
        for (size_t i = 0; i < r->cap; i++)
                free(r->slots[i].s);
        free(r->slots);
        r->slots = NULL;
        r->count = r->start = 0;
}

void ref_lp_ring_clear(ref_lp_ring_t *r) {
        r->start = r->count = 0;
}

/* Copies the line into the next slot, reusing its storage. */
int ref_lp_ring_push(ref_lp_ring_t *r, const char *s, size_t len) {
        if (!r->cap)
                return 0;
        size_t i = (r->start + r->count) % r->cap;
        if (r->count == r->cap) {
                i        = r->start;
                r->start = (r->start + 1) % r->cap;
        } else {
                r->count++;
        }
        ref_lp_slot_t *sl = &r->slots[i];
        if (sl->cap < len + 1) {
                size_t ncap = len + 1 < 64 ? 64 : len + 1;
                char *p     = realloc(sl->s, ncap);
                if (!p) {
                        sl->len = 0;
                        if (sl->s)
                                sl->s[0] = '\0';
                        return -1;
                }
                sl->s   = p;
                sl->cap = ncap;
        }
        memcpy(sl->s, s, len);
        sl->s[len] = '\0';
        sl->len    = len;
        return 0;
}

const char *ref_lp_ring_at(const ref_lp_ring_t *r, size_t i) {
        const ref_lp_slot_t *sl = &r->slots[(r->start + i) % r->cap];
        return sl->s ? sl->s : "";
}

/* Heap copy of the ring's lines, oldest first. */
int ref_lp_ring_copy(const ref_lp_ring_t *r, char ***out, size_t *n) {
        *out = NULL;
        *n   = 0;
        if (!r->count)
                return 0;
        char **v = calloc(r->count, sizeof(*v));
        if (!v)
                return -1;
        for (size_t i = 0; i < r->count; i++) {
                v[i] = strdup(ref_lp_ring_at(r, i));
                if (!v[i]) {
                        for (size_t j = 0; j < i; j++)
                                free(v[j]);
                        free(v);
                        return -1;
                }
        }
        *out = v;
        *n   = r->count;
        return 0;
}

/* ---- construction ---------------------------------------------------- */

static size_t clamp_size(size_t v, size_t def, size_t max) {
        if (!v)
                return def;
        return v > max ? max : v;
}

ref_logparse_t *ref_logparse_new(const logparse_opts_t *opts) {
        logparse_opts_t o = {0};
        if (opts)
                o = *opts;
        ref_logparse_t *lp = calloc(1, sizeof(*lp));
        if (!lp)
                return NULL;
        lp->max_bytes  = o.max_bytes ? o.max_bytes : DEF_MAX_BYTES;
        lp->step_lines = clamp_size(o.step_lines, DEF_STEP_LINES, 1000);
        lp->line_max =
            clamp_size(o.max_line_bytes, DEF_LINE_BYTES, MAX_LINE_BYTES);
        lp->failed_max = clamp_size(o.max_failed_steps, DEF_FAILED_MAX, 1000);
        lp->build_ok   = -1;
        lp->line       = malloc(lp->line_max + 1);
        lp->md         = EVP_MD_CTX_new();
        lp->failed     = calloc(lp->failed_max, sizeof(*lp->failed));
        if (!lp->line || !lp->md || !lp->failed ||
            EVP_DigestInit_ex(lp->md, EVP_sha256(), NULL) != 1 ||
            ref_lp_ring_init(&lp->tail, clamp_size(o.tail_lines, DEF_TAIL_LINES,
                                                   MAX_TAIL_LINES)) ||
            ref_lp_ring_init(&lp->orphan, lp->step_lines) ||
            ref_lp_steps_init(lp)) {
                ref_logparse_destroy(lp);
                return NULL;
        }
        return lp;
}

void ref_logparse_destroy(ref_logparse_t *lp) {
        if (!lp)
                return;
        ref_lp_steps_release(lp);
        ref_lp_ring_release(&lp->tail);
        ref_lp_ring_release(&lp->orphan);
        free(lp->tail_view);
        EVP_MD_CTX_free(lp->md);
        free(lp->line);
        free(lp);
}

/* ---- byte layer ------------------------------------------------------ */

static void line_putc(ref_logparse_t *lp, char c) {
        if (lp->cr_pending) {
                /* A lone CR: the terminal would overwrite the line. */
                lp->cr_pending = 0;
                lp->line_len   = 0;
        }
        if (lp->line_len < lp->line_max)
                lp->line[lp->line_len++] = c;
}

static void line_end(ref_logparse_t *lp) {
        lp->cr_pending = 0;
        lp->lines++;
        lp->line[lp->line_len] = '\0';
        ref_lp_line_process(lp, lp->line, lp->line_len);
        lp->line_len  = 0;
        lp->line_open = 0;
}

/* One byte through the escape-sequence state machine. A byte that cannot
 * continue a sequence ends it and is then handled as plain text. */
static void byte_feed(ref_logparse_t *lp, unsigned char c) {
        switch (lp->esc) {
        case ESC_START:
                if (c == '[') {
                        lp->esc = ESC_CSI;
                        return;
                }
                if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
                        lp->esc = ESC_STRING;
                        return;
                }
                if (c >= 0x20 && c <= 0x2f) {
                        lp->esc = ESC_INTER;
                        return;
                }
                lp->esc = ESC_NONE;
                if (c >= 0x30 && c <= 0x7e)
                        return; /* two-byte sequence (ESC 7, ESC c, ...) */
                break;
        case ESC_INTER:
        case ESC_CSI:
                if (c >= 0x20 && c <= 0x3f &&
                    !(lp->esc == ESC_INTER && c >= 0x30)) {
                        return;
                }
                lp->esc = ESC_NONE;
                if (c >= 0x30 && c <= 0x7e)
                        return; /* final byte */
                break;
        case ESC_STRING:
        case ESC_STRING_ESC:
                if (c == 0x07 || (lp->esc == ESC_STRING_ESC && c == '\\')) {
                        lp->esc = ESC_NONE;
                        return;
                }
                if (c != '\n') {
                        lp->esc = c == 0x1b ? ESC_STRING_ESC : ESC_STRING;
                        return;
                }
                lp->esc = ESC_NONE; /* unterminated: a newline ends it */
                break;
        default:
                break;
        }
        if (c == 0x1b) {
                lp->esc = ESC_START;
        } else if (c == '\n') {
                line_end(lp);
        } else if (c == '\r') {
                lp->cr_pending = 1;
                lp->line_open  = 1;
        } else {
                line_putc(lp, (char)c);
                lp->line_open = 1;
        }
}

/* The common case: runs of plain bytes copied at once. */
static void bytes_feed(ref_logparse_t *lp, const unsigned char *p, size_t n) {
        size_t i = 0;
        while (i < n) {
                if (lp->esc == ESC_NONE && !lp->cr_pending) {
                        size_t j = i;
                        while (j < n && p[j] != '\n' && p[j] != '\r' &&
                               p[j] != 0x1b)
                                j++;
                        if (j > i) {
                                size_t room = lp->line_max - lp->line_len;
                                size_t k    = j - i < room ? j - i : room;
                                memcpy(lp->line + lp->line_len, p + i, k);
                                lp->line_len += k;
                                lp->line_open = 1;
                                i             = j;
                                continue;
                        }
                }
                byte_feed(lp, p[i++]);
        }
}

int ref_logparse_feed(ref_logparse_t *lp, const void *data, size_t len) {
        if (lp->finished)
                return -1;
        int rc        = 0;
        uint64_t room = lp->max_bytes - lp->bytes;
        if (len > room) {
                len           = (size_t)room;
                lp->truncated = 1;
                rc            = LOGPARSE_FULL;
        }
        if (len) {
                if (EVP_DigestUpdate(lp->md, data, len) != 1)
                        return -1;
                lp->bytes += len;
                bytes_feed(lp, data, len);
        }
        return lp->oom ? -1 : rc;
}

int ref_logparse_finish(ref_logparse_t *lp) {
        if (lp->finished)
                return lp->oom ? -1 : 0;
        lp->finished = 1;
        if (lp->line_open || lp->line_len)
                line_end(lp);
        ref_lp_steps_finish(lp);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (EVP_DigestFinal_ex(lp->md, md, &mdlen) != 1)
                return -1;
        static const char hex[] = "0123456789abcdef";
        for (unsigned i = 0; i < mdlen && i < 32; i++) {
                lp->sha256[2 * i]     = hex[md[i] >> 4];
                lp->sha256[2 * i + 1] = hex[md[i] & 15];
        }
        lp->sha256[64] = '\0';
        lp->tail_view =
            calloc(lp->tail.count ? lp->tail.count : 1, sizeof(char *));
        if (!lp->tail_view)
                return -1;
        for (size_t i = 0; i < lp->tail.count; i++)
                lp->tail_view[i] = ref_lp_ring_at(&lp->tail, i);
        return lp->oom ? -1 : 0;
}

/* ---- accessors ------------------------------------------------------- */

uint64_t ref_logparse_bytes(const ref_logparse_t *lp) {
        return lp->bytes;
}
uint64_t ref_logparse_lines(const ref_logparse_t *lp) {
        return lp->lines;
}
int ref_logparse_truncated(const ref_logparse_t *lp) {
        return lp->truncated;
}
const char *ref_logparse_sha256(const ref_logparse_t *lp) {
        return lp->sha256;
}
size_t ref_logparse_failed_count(const ref_logparse_t *lp) {
        return lp->nfailed;
}
size_t ref_logparse_summary_steps(const ref_logparse_t *lp) {
        return lp->summary_rows;
}
int ref_logparse_build_ok(const ref_logparse_t *lp) {
        return lp->build_ok;
}

const logparse_step_t *ref_logparse_failed_step(const ref_logparse_t *lp,
                                                size_t i) {
        return i < lp->nfailed ? &lp->failed[i].pub : NULL;
}

const char *const *ref_logparse_tail(const ref_logparse_t *lp, size_t *n) {
        *n = lp->tail_view ? lp->tail.count : 0;
        return (const char *const *)lp->tail_view;
}

#include "tests/unit/logparse_ref/logparse_ref_steps.c"

#endif
