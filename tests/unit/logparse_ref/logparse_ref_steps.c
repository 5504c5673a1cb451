/* tests/unit/logparse_ref/logparse_ref_steps.c — the line layer of the
 * frozen reference parser (bitrise/logparse_steps.c at e17e940, names
 * prefixed with ref_). Included by logparse_ref.c; do not change it.
 */
#ifndef BITMON_TESTS_LOGPARSE_REF_STEPS_C
#define BITMON_TESTS_LOGPARSE_REF_STEPS_C

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CELLS 8

typedef struct cell {
        const char *p;
        size_t n;
} cell_t;

enum step_status { ST_OK, ST_FAILED, ST_FAILED_OK, ST_SKIPPED, ST_UNKNOWN };

typedef struct row {
        enum step_status status;
        char title[128];
        int exit_code;   /* from "(exit code: N)", -1 */
        double duration; /* -1 unknown */
} row_t;

/* ---- small text helpers ---------------------------------------------- */

static cell_t cell_trim(const char *p, size_t n) {
        while (n && (*p == ' ' || *p == '\t')) {
                p++;
                n--;
        }
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
                n--;
        return (cell_t){p, n};
}

static int cell_eq(cell_t c, const char *s) {
        size_t n = strlen(s);
        return c.n == n && memcmp(c.p, s, n) == 0;
}

static int cell_starts(cell_t c, const char *s) {
        size_t n = strlen(s);
        return c.n >= n && memcmp(c.p, s, n) == 0;
}

static void cell_copy(cell_t c, char *dst, size_t size) {
        size_t n = c.n < size - 1 ? c.n : size - 1;
        /* do not cut a UTF-8 character in half */
        while (n && n < c.n && ((unsigned char)c.p[n] & 0xc0) == 0x80)
                n--;
        memcpy(dst, c.p, n);
        dst[n] = '\0';
}

/* Splits "|a|b|c|" into trimmed cells; returns the count (0 = not a row). */
static size_t row_split(const char *s, size_t len, cell_t *cells) {
        if (len < 2 || s[0] != '|' || s[len - 1] != '|')
                return 0;
        size_t n = 0, start = 1;
        for (size_t i = 1; i < len; i++) {
                if (s[i] != '|')
                        continue;
                if (n == MAX_CELLS)
                        return 0;
                cells[n++] = cell_trim(s + start, i - start);
                start      = i + 1;
        }
        return n;
}

/* 0 = not a rule, else the number of cells the rule frames. */
static int rule_cells(const char *s, size_t len) {
        if (len < 3 || s[0] != '+' || s[len - 1] != '+')
                return 0;
        int plus = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '+')
                        plus++;
                else if (s[i] != '-')
                        return 0;
        }
        return plus - 1;
}

/* Drops colour codes that lost their ESC ("[32;1m"), control characters
 * other than tab, invalid UTF-8 (as '?') and trailing blanks. */
static size_t line_clean(char *s, size_t len) {
        size_t o = 0;
        for (size_t i = 0; i < len;) {
                unsigned char c = (unsigned char)s[i];
                /* the common case first: a run of printable ASCII other
                 * than '[', kept as it is (moved only once something before
                 * it was dropped) */
                if (c >= 0x20 && c < 0x7f && c != '[') {
                        size_t j = i + 1;
                        while (j < len && (unsigned char)s[j] >= 0x20 &&
                               (unsigned char)s[j] < 0x7f && s[j] != '[')
                                j++;
                        if (o != i)
                                memmove(s + o, s + i, j - i);
                        o += j - i;
                        i = j;
                        continue;
                }
                if (c == '[') {
                        size_t j = i + 1;
                        while (j < len && j - i < 16 &&
                               (isdigit((unsigned char)s[j]) || s[j] == ';'))
                                j++;
                        if (j < len && s[j] == 'm' && j > i + 1 &&
                            isdigit((unsigned char)s[i + 1])) {
                                i = j + 1;
                                continue;
                        }
                }
                if (c < 0x80) {
                        if (c >= 0x20 || c == '\t')
                                s[o++] = (char)(c == 0x7f ? '?' : c);
                        i++;
                        continue;
                }
                size_t need = c >= 0xf0 && c <= 0xf4  ? 4
                              : c >= 0xe0             ? 3
                              : c >= 0xc2 && c < 0xe0 ? 2
                                                      : 0;
                size_t k    = 1;
                while (need && k < need && i + k < len &&
                       ((unsigned char)s[i + k] & 0xc0) == 0x80)
                        k++;
                if (!need || k != need) {
                        s[o++] = '?';
                        i += need ? k : 1;
                        continue;
                }
                for (size_t m = 0; m < need; m++) /* o <= i: in place */
                        s[o++] = s[i++];
        }
        while (o && (s[o - 1] == ' ' || s[o - 1] == '\t'))
                o--;
        s[o] = '\0';
        return o;
}

int ref_lp_duration_parse(const char *s, double *out) {
        char *end = NULL;
        double v  = strtod(s, &end);
        if (end == s || v < 0 || v != v)
                return -1;
        while (*end == '+' || *end == ' ')
                end++;
        double mul;
        if (!strncmp(end, "sec", 3) || !strcmp(end, "s"))
                mul = 1;
        else if (!strncmp(end, "min", 3) || !strcmp(end, "m"))
                mul = 60;
        else if (!strncmp(end, "hour", 4) || !strcmp(end, "h"))
                mul = 3600;
        else if (!strcmp(end, "ms"))
                mul = 0.001;
        else
                return -1;
        *out = v * mul;
        return 0;
}

/* "exit code: N" alone, or "...failed: exit code: N" (CLI 2.x, printed in
 * red above a failed step's footer). Returns N or -1. */
static int exit_code_line(const char *s, size_t len) {
        static const char key[] = "exit code: ";
        const char *hit         = NULL;
        for (const char *p = s; (p = strstr(p, key)) != NULL; p++)
                hit = p;
        if (!hit)
                return -1;
        size_t pre = (size_t)(hit - s);
        if (pre && !(pre >= 8 && !memcmp(hit - 8, "failed: ", 8)))
                return -1;
        const char *d = hit + sizeof(key) - 1;
        if (!isdigit((unsigned char)*d) || (size_t)(s + len - d) > 6)
                return -1;
        char *end = NULL;
        long v    = strtol(d, &end, 10);
        return *end == '\0' ? (int)v : -1;
}

/* ---- steps ----------------------------------------------------------- */

static void step_swap(ref_lp_step_t *a, ref_lp_step_t *b) {
        ref_lp_step_t t = *a;
        *a              = *b;
        *b              = t;
}

int ref_lp_steps_init(ref_logparse_t *lp) {
        for (size_t i = 0; i < REF_LP_STACK_MAX; i++)
                if (ref_lp_ring_init(&lp->stack[i].ring, lp->step_lines))
                        return -1;
        for (size_t i = 0; i < REF_LP_UNRESOLVED_MAX; i++)
                if (ref_lp_ring_init(&lp->unresolved[i].ring, lp->step_lines))
                        return -1;
        lp->orphan_exit_code = -1;
        return 0;
}

void ref_lp_steps_release(ref_logparse_t *lp) {
        for (size_t i = 0; i < REF_LP_STACK_MAX; i++)
                ref_lp_ring_release(&lp->stack[i].ring);
        for (size_t i = 0; i < REF_LP_UNRESOLVED_MAX; i++)
                ref_lp_ring_release(&lp->unresolved[i].ring);
        for (size_t i = 0; lp->failed && i < lp->nfailed; i++) {
                logparse_step_t *f = &lp->failed[i].pub;
                free(f->title);
                free(f->step_id);
                for (size_t j = 0; j < f->nlast; j++)
                        free(f->last_lines[j]);
                free(f->last_lines);
        }
        free(lp->failed);
        lp->failed = NULL;
}

static void orphan_reset(ref_logparse_t *lp) {
        ref_lp_ring_clear(&lp->orphan);
        lp->orphan_exit_code = -1;
}

/* Parks the open top step among the unresolved ones (its footer is missing);
 * a later summary row may still tell how it ended. */
static void step_park(ref_logparse_t *lp) {
        ref_lp_step_t *top = &lp->stack[--lp->depth];
        if (lp->nunresolved == REF_LP_UNRESOLVED_MAX) {
                for (size_t i = 0; i + 1 < REF_LP_UNRESOLVED_MAX; i++)
                        step_swap(&lp->unresolved[i], &lp->unresolved[i + 1]);
                lp->nunresolved--;
        }
        step_swap(&lp->unresolved[lp->nunresolved++], top);
}

static void step_open(ref_logparse_t *lp, int index, cell_t title) {
        /* A higher number than the open step's: its sibling (the open one's
         * footer is missing). Same or lower: a nested `bitrise run`. */
        if (lp->depth && index > lp->stack[lp->depth - 1].index &&
            !lp->stack[lp->depth - 1].nested)
                step_park(lp);
        if (lp->depth)
                lp->stack[lp->depth - 1].nested = 1;
        if (lp->depth == REF_LP_STACK_MAX) {
                for (size_t i = 0; i + 1 < REF_LP_STACK_MAX; i++)
                        step_swap(&lp->stack[i], &lp->stack[i + 1]);
                lp->depth--;
        }
        ref_lp_step_t *st = &lp->stack[lp->depth++];
        st->index         = index;
        cell_copy(title, st->title, sizeof(st->title));
        st->step_id[0]     = '\0';
        st->exit_line_code = -1;
        st->in_header      = 1;
        st->nested         = 0;
        st->summaries      = lp->summaries;
        ref_lp_ring_clear(&st->ring);
        lp->after_footer = 0;
        orphan_reset(lp);
}

static char *dup_or_null(const char *s) {
        return s && *s ? strdup(s) : NULL;
}

/* Records a failed step; ring may be NULL. */
static ref_lp_failed_t *failed_add(ref_logparse_t *lp, const row_t *r,
                                   const ref_lp_step_t *st,
                                   const ref_lp_ring_t *ring, int exit_code,
                                   int interrupted) {
        if (lp->nfailed == lp->failed_max)
                return NULL;
        ref_lp_failed_t *f = &lp->failed[lp->nfailed];
        memset(f, 0, sizeof(*f));
        f->pub.title       = strdup(r->title);
        f->pub.step_id     = dup_or_null(st ? st->step_id : NULL);
        f->pub.index       = st ? st->index : -1;
        f->pub.exit_code   = exit_code;
        f->pub.duration_s  = r->duration;
        f->pub.interrupted = interrupted;
        if (!f->pub.title || (st && st->step_id[0] && !f->pub.step_id) ||
            (ring &&
             ref_lp_ring_copy(ring, &f->pub.last_lines, &f->pub.nlast))) {
                lp->oom = 1;
                free(f->pub.title);
                free(f->pub.step_id);
                memset(f, 0, sizeof(*f));
                return NULL;
        }
        lp->nfailed++;
        return f;
}

/* ---- rows ------------------------------------------------------------ */

static enum step_status icon_status(cell_t c) {
        if (cell_eq(c, "x") || cell_eq(c, "/") ||
            cell_starts(c, "\xf0\x9f\x9a\xab"))
                return ST_FAILED; /* x, / (timed out), 🚫 */
        if (cell_eq(c, "!") || cell_starts(c, "\xe2\x9a\xa0"))
                return ST_FAILED_OK; /* !, ⚠️ */
        if (cell_eq(c, "\xe2\x9c\x93") || cell_starts(c, "\xe2\x9c\x85"))
                return ST_OK; /* ✓, ✅ */
        if (cell_eq(c, "-") || cell_starts(c, "\xe2\x9e\xa1"))
                return ST_SKIPPED; /* -, ➡ */
        return ST_UNKNOWN;
}

/* Strips "(exit code: N)", "(Failed)", "(Skipped)", "(timed out...)" and a
 * "[Deprecated]" prefix from a title; reports what they said. */
static void title_strip(char *t, int *exit_code, int *failed, int *skipped) {
        for (;;) {
                size_t n = strlen(t);
                while (n && t[n - 1] == ' ')
                        t[--n] = '\0';
                char *open = n && t[n - 1] == ')' ? strrchr(t, '(') : NULL;
                if (!open)
                        break;
                const char *in = open + 1;
                if (!strncmp(in, "exit code: ", 11) &&
                    isdigit((unsigned char)in[11])) {
                        *exit_code = (int)strtol(in + 11, NULL, 10);
                        *failed    = 1;
                } else if (!strcmp(in, "Failed)") ||
                           !strncmp(in, "timed out", 9)) {
                        *failed = 1;
                } else if (!strcmp(in, "Skipped)")) {
                        *skipped = 1;
                } else {
                        break;
                }
                *open = '\0';
        }
        static const char dep[] = "[Deprecated] ";
        if (!strncmp(t, dep, sizeof(dep) - 1))
                memmove(t, t + sizeof(dep) - 1, strlen(t) - (sizeof(dep) - 2));
}

/* A footer or summary row: 3 cells, the last one a time. 1 = parsed, 0 =
 * the column-title row, -1 = not such a row. */
static int status_row_parse(const cell_t *cells, size_t n, row_t *r) {
        if (n != 3)
                return -1;
        if (cell_eq(cells[2], "time (s)"))
                return 0;
        char tbuf[32];
        cell_copy(cells[2], tbuf, sizeof(tbuf));
        if (ref_lp_duration_parse(tbuf, &r->duration))
                return -1;
        cell_copy(cells[1], r->title, sizeof(r->title));
        int failed = 0, skipped = 0;
        r->exit_code = -1;
        title_strip(r->title, &r->exit_code, &failed, &skipped);
        r->status = icon_status(cells[0]);
        if (r->status == ST_UNKNOWN)
                r->status = failed ? ST_FAILED : skipped ? ST_SKIPPED : ST_OK;
        return 1;
}

static void footer_handle(ref_logparse_t *lp, const row_t *r) {
        ref_lp_step_t *st = lp->depth ? &lp->stack[lp->depth - 1] : NULL;
        if (r->status == ST_FAILED) {
                int code = r->exit_code;
                if (code < 0)
                        code = st ? st->exit_line_code : lp->orphan_exit_code;
                failed_add(lp, r, st, st ? &st->ring : &lp->orphan, code, 0);
        }
        if (st)
                lp->depth--;
        orphan_reset(lp);
}

/* A failed summary row confirms a footer seen before, or stands for a step
 * whose footer never came (then its parked or open step supplies id and
 * lines). */
static void summary_failed(ref_logparse_t *lp, const row_t *r) {
        for (size_t i = 0; i < lp->nfailed; i++) {
                ref_lp_failed_t *f = &lp->failed[i];
                if (f->summary_seen || strcmp(f->pub.title, r->title))
                        continue;
                f->summary_seen = 1;
                if (f->pub.exit_code < 0)
                        f->pub.exit_code = r->exit_code;
                if (f->pub.duration_s < 0)
                        f->pub.duration_s = r->duration;
                return;
        }
        ref_lp_step_t *st = NULL;
        for (size_t i = lp->nunresolved; i-- > 0 && !st;)
                if (!strcmp(lp->unresolved[i].title, r->title)) {
                        st = &lp->unresolved[i];
                        step_swap(st, &lp->unresolved[--lp->nunresolved]);
                        st = &lp->unresolved[lp->nunresolved];
                }
        if (!st && lp->depth &&
            !strcmp(lp->stack[lp->depth - 1].title, r->title))
                st = &lp->stack[--lp->depth];
        int code = r->exit_code >= 0 ? r->exit_code
                   : st              ? st->exit_line_code
                                     : -1;
        ref_lp_failed_t *f =
            failed_add(lp, r, st, st ? &st->ring : NULL, code, 0);
        if (f)
                f->summary_seen = 1;
}

/* A one-cell row right under a one-cell rule: a step header "(N) title"
 * or the summary's title. Returns 1 when it was one of them. */
static int title_row_handle(ref_logparse_t *lp, cell_t c) {
        if (cell_eq(c, "bitrise summary") ||
            cell_starts(c, "bitrise summary:")) {
                lp->in_summary = 1;
                return 1;
        }
        if (c.n < 4 || c.p[0] != '(' || !isdigit((unsigned char)c.p[1]))
                return 0;
        char *end = NULL;
        long idx  = strtol(c.p + 1, &end, 10);
        if (*end != ')' || idx >= 100000)
                return 0;
        const char *t = end + 1;
        step_open(lp, (int)idx, cell_trim(t, (size_t)(c.p + c.n - t)));
        return 1;
}

/* A three-cell row right under a three-cell rule: a summary row or a step
 * footer. Returns 1 when it was structure. */
static int status_row_handle(ref_logparse_t *lp, const cell_t *cells,
                             size_t n) {
        row_t r;
        int k = status_row_parse(cells, n, &r);
        if (k <= 0)
                return k == 0; /* the column titles, or not a status row */
        if (lp->in_summary) {
                lp->summary_rows++;
                if (r.status == ST_FAILED)
                        summary_failed(lp, &r);
        } else {
                footer_handle(lp, &r);
                lp->after_footer = 1;
        }
        return 1;
}

/* Rows and rules; returns 1 when the line was structure (not output). */
static int structure_handle(ref_logparse_t *lp, const char *s, size_t len,
                            int rule) {
        if (rule)
                return 1;
        cell_t cells[MAX_CELLS];
        size_t n           = row_split(s, len, cells);
        ref_lp_step_t *top = lp->depth ? &lp->stack[lp->depth - 1] : NULL;
        if (!n) { /* plain text ends a footer block or a cut summary */
                lp->after_footer = 0;
                lp->in_summary   = 0;
                return 0;
        }
        if (n == 1 && cells[0].n == 0) { /* blank box row */
                if (top)
                        top->in_header = 0;
                return 1;
        }
        if (lp->prev_kind == REF_LP_RULE1 && n == 1 &&
            title_row_handle(lp, cells[0]))
                return 1;
        if (lp->after_footer)
                return 1; /* "Update available", "Issue tracker", ... rows */
        if (n == 1 && lp->in_summary &&
            cell_starts(cells[0], "Total runtime:")) {
                lp->in_summary = 0;
                lp->summaries++;
                return 1;
        }
        if (top && top->in_header && n == 1) {
                if (cell_starts(cells[0], "id:"))
                        cell_copy(cell_trim(cells[0].p + 3, cells[0].n - 3),
                                  top->step_id, sizeof(top->step_id));
                return 1;
        }
        if (lp->prev_kind == REF_LP_RULE3 && status_row_handle(lp, cells, n))
                return 1;
        return lp->in_summary;
}

void ref_lp_line_process(ref_logparse_t *lp, char *s, size_t len) {
        len = line_clean(s, len);
        if (ref_lp_ring_push(&lp->tail, s, len))
                lp->oom = 1;
        int rc                = rule_cells(s, len);
        enum ref_lp_kind kind = rc == 1   ? REF_LP_RULE1
                                : rc == 3 ? REF_LP_RULE3
                                          : REF_LP_OTHER;
        int structure         = structure_handle(lp, s, len, rc != 0);
        lp->prev_kind         = kind;
        if (structure)
                return;
        ref_lp_step_t *top = lp->depth ? &lp->stack[lp->depth - 1] : NULL;
        if (top)
                top->in_header = 0;
        if (!strncmp(s, "Bitrise build failed", 20))
                lp->build_ok = 0;
        else if (!strncmp(s, "Bitrise build successful", 24))
                lp->build_ok = 1;
        int code = exit_code_line(s, len);
        if (code >= 0) {
                if (top)
                        top->exit_line_code = code;
                else
                        lp->orphan_exit_code = code;
        }
        if (ref_lp_ring_push(top ? &top->ring : &lp->orphan, s, len))
                lp->oom = 1;
}

/* The log ended inside a step (aborted, timed out, cut by the byte cap):
 * report that step as interrupted, unless a summary closed the run after
 * it opened. */
void ref_lp_steps_finish(ref_logparse_t *lp) {
        if (!lp->depth || lp->stack[0].summaries != lp->summaries ||
            lp->truncated) /* cut by our cap: we cannot tell */
                return;
        ref_lp_step_t *st = &lp->stack[lp->depth - 1];
        row_t r = {.status = ST_FAILED, .exit_code = -1, .duration = -1};
        memcpy(r.title, st->title, sizeof(r.title));
        failed_add(lp, &r, st, &st->ring, st->exit_line_code, 1);
}

#endif
