/* bitrise/logparse.c — streaming Bitrise log parser.
 *
 * Two layers: a byte layer (cap, sha256, ANSI escape state machine, line
 * assembly with `\r` overwrite) that survives any chunk split, and a line
 * layer that follows the CLI's step boxes, footers and summary tables (see
 * SOURCES.md in the shared fixtures for the layouts this has to read).
 */
#include "bitrise/logparse.h"
#include "bitrise/logparse_int.h"

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

int lp_ring_init(lp_ring_t *r, size_t cap) {
        r->slots       = calloc(cap ? cap : 1, sizeof(*r->slots));
        r->block       = NULL;
        r->block_tried = 0;
        r->cap         = cap;
        r->start = r->count = 0;
        return r->slots ? 0 : -1;
}

void lp_ring_release(lp_ring_t *r) {
        if (!r->slots)
                return;
        for (size_t i = 0; i < r->cap; i++)
                if (r->slots[i].own)
                        free(r->slots[i].s);
        free(r->slots);
        free(r->block);
        r->slots       = NULL;
        r->block       = NULL;
        r->block_tried = 0;
        r->count = r->start = 0;
}

void lp_ring_clear(lp_ring_t *r) {
        r->start = r->count = 0;
}

/* Gives every slot a slice of one block (a ring that never gets a line
 * costs only its slot array). On failure the slots allocate their own. */
void lp_ring_block_take(lp_ring_t *r) {
        r->block_tried = 1;
        if (r->cap > LP_BLOCK_SLOTS ||
            !(r->block = malloc(r->cap * LP_SLOT_BYTES)))
                return;
        for (size_t i = 0; i < r->cap; i++) {
                r->slots[i].s    = r->block + i * LP_SLOT_BYTES;
                r->slots[i].s[0] = '\0';
                r->slots[i].cap  = LP_SLOT_BYTES;
        }
}

/* Storage of its own for a slot that needs more than it has. */
int lp_slot_grow(lp_slot_t *sl, size_t need) {
        size_t ncap = need < 64 ? 64 : need;
        char *p     = sl->own ? realloc(sl->s, ncap) : malloc(ncap);
        if (!p) {
                sl->len = 0;
                if (sl->s)
                        sl->s[0] = '\0';
                return -1;
        }
        sl->s   = p;
        sl->cap = ncap;
        sl->own = 1;
        return 0;
}

const char *lp_ring_at(const lp_ring_t *r, size_t i) {
        const lp_slot_t *sl = &r->slots[(r->start + i) % r->cap];
        return sl->s ? sl->s : "";
}

/* Heap copy of the ring's lines, oldest first. */
int lp_ring_copy(const lp_ring_t *r, char ***out, size_t *n) {
        *out = NULL;
        *n   = 0;
        if (!r->count)
                return 0;
        char **v = calloc(r->count, sizeof(*v));
        if (!v)
                return -1;
        for (size_t i = 0; i < r->count; i++) {
                v[i] = strdup(lp_ring_at(r, i));
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

logparse_t *logparse_new(const logparse_opts_t *opts) {
        logparse_opts_t o = {0};
        if (opts)
                o = *opts;
        logparse_t *lp = calloc(1, sizeof(*lp));
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
            lp_ring_init(&lp->tail, clamp_size(o.tail_lines, DEF_TAIL_LINES,
                                               MAX_TAIL_LINES)) ||
            lp_ring_init(&lp->orphan, lp->step_lines) || lp_steps_init(lp)) {
                logparse_destroy(lp);
                return NULL;
        }
        return lp;
}

void logparse_destroy(logparse_t *lp) {
        if (!lp)
                return;
        lp_steps_release(lp);
        lp_ring_release(&lp->tail);
        lp_ring_release(&lp->orphan);
        free(lp->tail_view);
        EVP_MD_CTX_free(lp->md);
        free(lp->line);
        free(lp);
}

/* ---- byte layer ------------------------------------------------------ */

static void line_putc(logparse_t *lp, char c) {
        if (lp->cr_pending) {
                /* A lone CR: the terminal would overwrite the line. */
                lp->cr_pending = 0;
                lp->line_len   = 0;
        }
        if (lp->line_len < lp->line_max)
                lp->line[lp->line_len++] = c;
}

static void line_end(logparse_t *lp) {
        lp->cr_pending = 0;
        lp->lines++;
        lp->line[lp->line_len] = '\0';
        lp_line_process(lp, lp->line, lp->line_len);
        lp->line_len  = 0;
        lp->line_open = 0;
}

/* One byte through the escape-sequence state machine. A byte that cannot
 * continue a sequence ends it and is then handled as plain text. */
static void byte_feed(logparse_t *lp, unsigned char c) {
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

/* Length of the whole colour code (CSI: ESC '[', parameter bytes, a final
 * byte) at p, 0 when p holds something else or only part of one: what
 * byte_feed would drop byte by byte. */
static size_t csi_len(const unsigned char *p, size_t n) {
        if (n < 3 || p[0] != 0x1b || p[1] != '[')
                return 0;
        size_t j = 2;
        while (j < n && p[j] >= 0x20 && p[j] <= 0x3f)
                j++;
        return j < n && p[j] >= 0x40 && p[j] <= 0x7e ? j + 1 : 0;
}

/* The common case: runs without '\n', '\r' or ESC are copied at once
 * (found 16 bytes at a time), a '\n' ends the line right there, a whole
 * colour code is skipped; the rest, and feeds under 8 bytes, go through the
 * state machine byte by byte. */
static void bytes_feed(logparse_t *lp, const unsigned char *p, size_t n) {
        size_t i = 0;
        if (n < 8) {
                for (; i < n; i++)
                        byte_feed(lp, p[i]);
                return;
        }
        while (i < n) {
                if (lp->esc == ESC_NONE && !lp->cr_pending) {
                        size_t k = lp_scan_ctl(p + i, n - i);
                        if (k) {
                                size_t room = lp->line_max - lp->line_len;
                                memcpy(lp->line + lp->line_len, p + i,
                                       k < room ? k : room);
                                lp->line_len += k < room ? k : room;
                                lp->line_open = 1;
                                i += k;
                                if (i == n)
                                        return;
                        }
                        if (p[i] == '\n') {
                                line_end(lp);
                                i++;
                                continue;
                        }
                        size_t csi = csi_len(p + i, n - i);
                        if (csi) {
                                i += csi;
                                continue;
                        }
                }
                byte_feed(lp, p[i++]);
        }
}

/* Hashes small feeds in batches of up to sizeof(lp->stage) bytes. */
static int digest_feed(logparse_t *lp, const void *data, size_t len) {
        size_t room = sizeof(lp->stage) - lp->stage_len;
        if (len <= room) {
                memcpy(lp->stage + lp->stage_len, data, len);
                lp->stage_len += len;
                return 0;
        }
        if (lp->stage_len) {
                if (EVP_DigestUpdate(lp->md, lp->stage, lp->stage_len) != 1)
                        return -1;
                lp->stage_len = 0;
        }
        if (len < sizeof(lp->stage)) {
                memcpy(lp->stage, data, len);
                lp->stage_len = len;
                return 0;
        }
        return EVP_DigestUpdate(lp->md, data, len) == 1 ? 0 : -1;
}

int logparse_feed(logparse_t *lp, const void *data, size_t len) {
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
                if (digest_feed(lp, data, len))
                        return -1;
                lp->bytes += len;
                bytes_feed(lp, data, len);
        }
        return lp->oom ? -1 : rc;
}

int logparse_finish(logparse_t *lp) {
        if (lp->finished)
                return lp->oom ? -1 : 0;
        lp->finished = 1;
        if (lp->line_open || lp->line_len)
                line_end(lp);
        lp_steps_finish(lp);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if ((lp->stage_len &&
             EVP_DigestUpdate(lp->md, lp->stage, lp->stage_len) != 1) ||
            EVP_DigestFinal_ex(lp->md, md, &mdlen) != 1)
                return -1;
        lp->stage_len           = 0;
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
                lp->tail_view[i] = lp_ring_at(&lp->tail, i);
        return lp->oom ? -1 : 0;
}

/* ---- accessors ------------------------------------------------------- */

uint64_t logparse_bytes(const logparse_t *lp) {
        return lp->bytes;
}
uint64_t logparse_room(const logparse_t *lp) {
        return lp->finished ? 0 : lp->max_bytes - lp->bytes;
}
uint64_t logparse_lines(const logparse_t *lp) {
        return lp->lines;
}
int logparse_truncated(const logparse_t *lp) {
        return lp->truncated;
}
const char *logparse_sha256(const logparse_t *lp) {
        return lp->sha256;
}
size_t logparse_failed_count(const logparse_t *lp) {
        return lp->nfailed;
}
size_t logparse_summary_steps(const logparse_t *lp) {
        return lp->summary_rows;
}
int logparse_build_ok(const logparse_t *lp) {
        return lp->build_ok;
}

const logparse_step_t *logparse_failed_step(const logparse_t *lp, size_t i) {
        return i < lp->nfailed ? &lp->failed[i].pub : NULL;
}

const char *const *logparse_tail(const logparse_t *lp, size_t *n) {
        *n = lp->tail_view ? lp->tail.count : 0;
        return (const char *const *)lp->tail_view;
}
