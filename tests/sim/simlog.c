/* tests/sim/simlog.c — build logs in the Bitrise CLI format, generated lazily.
 *
 * A log is laid out as a short list of segments: static text (boxes, summary,
 * a few KB at most) and step bodies of fixed-width lines whose content is a
 * hash of (log seed, step, line). Any byte range is computed on demand, so a
 * 500 MB log costs a few KB of memory. Layouts are immutable and shared: a
 * small cache keyed by everything a layout depends on lets the /log call, the
 * raw download and /_sim/expected of one build lay it out once.
 */
#include "tests/sim/sim.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/timeutil.h"

#define LINE_W 96 /* bytes per body line, '\n' included */
#define BOX_W  80
#define GREEN  "\x1b[32;1m"
#define RED    "\x1b[31;1m"
#define YELLOW "\x1b[33;1m"
#define BLUE   "\x1b[34;1m"
#define CYAN   "\x1b[36m"
#define RESET  "\x1b[0m"

typedef struct seg {
        int64_t off, len; /* where the segment sits in the log */
        int step;         /* -1: static text at text_off in the layout's text */
        int64_t text_off; /* static segments */
        int64_t lines;    /* body segments: fixed-width lines of step `step` */
} seg_t;

/* Everything a layout depends on (zero-filled, so it compares with memcmp). */
typedef struct layout_key {
        int64_t start_ms, running_ms;
        int64_t target_bytes, target_lines;
        uint64_t seed;
        int steps, failing_step, exit_code, abort_cut, final_status;
        char failing_title[SIM_STR_MAX];
        const char *file_data; /* a file's bytes instead (log.file) */
        int64_t file_len;
} layout_key_t;

typedef struct step_info {
        char title[SIM_STR_MAX];
        int result; /* 0 ok, 1 failed, 2 skipped, 3 not reached (aborted) */
        int exit_code;
        int64_t runtime_ms;
        int64_t started_ms;
        char last_line[160];
        char rt[32]; /* runtime as the summary shows it */
} step_info_t;

struct sim_loglayout {
        atomic_int refs;
        layout_key_t key;
        seg_t *segs; /* 2 per step run + 1 */
        int n_segs;
        char *text; /* all static text, back to back */
        int64_t size, lines;
        uint64_t seed;
        int n_steps;
        int final_status;
        bool has_summary;
        step_info_t steps[]; /* n_steps */
};

struct sim_logcache {
        pthread_mutex_t lock;
        size_t n_slots;
        sim_loglayout_t *slots[]; /* direct-mapped by key hash; one ref each */
};

const char *const sim_step_names[] = {
    "activate-ssh-key",
    "git-clone",
    "cache-pull",
    "certificate-and-profile-installer",
    "cocoapods-install",
    "script",
    "xcode-test",
    "xcode-archive",
    "gradle-runner",
    "android-build",
    "flutter-build",
    "npm",
    "deploy-to-itunesconnect-deliver",
    "cache-push",
    "deploy-to-bitrise-io",
};
const size_t sim_step_names_len =
    sizeof(sim_step_names) / sizeof(sim_step_names[0]);

/* ---- decimal digits by hand ---- */

static const char digits2[201] = "00010203040506070809"
                                 "10111213141516171819"
                                 "20212223242526272829"
                                 "30313233343536373839"
                                 "40414243444546474849"
                                 "50515253545556575859"
                                 "60616263646566676869"
                                 "70717273747576777879"
                                 "80818283848586878889"
                                 "90919293949596979899";

/* v < 100: exactly two digits. */
static char *put_2(char *p, uint64_t v) {
        memcpy(p, digits2 + 2 * v, 2);
        return p + 2;
}

static char *put_dec(char *p, uint64_t v) {
        int n = 1;
        for (uint64_t t = v; t >= 10; t /= 10)
                n++;
        char *e = p + n;
        for (p = e; v >= 100; v /= 100) {
                p -= 2;
                memcpy(p, digits2 + 2 * (v % 100), 2);
        }
        if (v >= 10)
                memcpy(p - 2, digits2 + 2 * v, 2);
        else
                p[-1] = (char)('0' + v);
        return e;
}

static char *put_hex8(char *p, uint32_t v) {
        static const char hex[] = "0123456789abcdef";
        for (int i = 7; i >= 0; i--) {
                p[i] = hex[v & 15];
                v >>= 4;
        }
        return p + 8;
}

/* Visible width of s: ANSI sequences count 0, UTF-8 continuation bytes 0. */
static size_t visible_len(const char *s) {
        size_t n = 0;
        for (; *s; s++) {
                if (*s == '\x1b') {
                        while (*s && *s != 'm')
                                s++;
                        if (!*s)
                                break;
                        continue;
                }
                if (((unsigned char)*s & 0xc0) != 0x80)
                        n++;
        }
        return n;
}

static void pad(buf_t *b, size_t used, size_t width) {
        static const char spaces[BOX_W + 1] =
            "                                        "
            "                                        ";
        while (used < width) {
                size_t n = width - used < BOX_W ? width - used : BOX_W;
                buf_append(b, spaces, n);
                used += n;
        }
}

static void box_rule(buf_t *b, int cells) {
        if (cells)
                buf_append_str(b, "+---+---------------------------------------"
                                  "------------------------"
                                  "+----------+\n");
        else
                buf_append_str(b, "+-------------------------------------------"
                                  "-----------------------------------+\n");
}

/* A box row of head and text side by side. */
static void box_row2(buf_t *b, const char *head, const char *text) {
        buf_append_str(b, "| ");
        buf_append_str(b, head);
        buf_append_str(b, text);
        pad(b, visible_len(head) + visible_len(text), BOX_W - 4);
        buf_append_str(b, " |\n");
}

static void box_row(buf_t *b, const char *text) {
        box_row2(b, "", text);
}

static void runtime_str(int64_t ms, char *out, size_t size) {
        if (ms < 10000)
                snprintf(out, size, "%.2f sec", (double)ms / 1000.0);
        else if (ms < 60000)
                snprintf(out, size, "%d sec", (int)(ms / 1000));
        else
                snprintf(out, size, "%.1f min", (double)ms / 60000.0);
}

static void summary_row(buf_t *b, const step_info_t *s) {
        const char *col  = s->result == 0   ? GREEN
                           : s->result == 1 ? RED
                                            : YELLOW;
        const char *icon = s->result == 0   ? "\xe2\x9c\x93"
                           : s->result == 1 ? "x"
                                            : "\xe2\x9e\x9c";
        char failed[SIM_STR_MAX + 32];
        const char *title = s->title;
        if (s->result == 1) {
                snprintf(failed, sizeof(failed), "%s (exit code: %d)", s->title,
                         s->exit_code);
                title = failed;
        }
        buf_append_str(b, "| ");
        buf_append_str(b, col);
        buf_append_str(b, icon);
        buf_append_str(b, RESET " | ");
        buf_append_str(b, col);
        buf_append_str(b, title);
        buf_append_str(b, RESET);
        pad(b, visible_len(title), 61);
        buf_append_str(b, " | "); /* then "%-8s |\n" */
        buf_append_str(b, s->rt);
        pad(b, strlen(s->rt), 8);
        buf_append_str(b, " |\n");
        box_rule(b, 1);
        if (s->result == 1) {
                char row[BOX_W * 2];
                snprintf(
                    row, sizeof(row),
                    "Issue tracker: "
                    "https://github.com/bitrise-steplib/steps-%.40s/issues",
                    s->title);
                box_row(b, row);
                snprintf(
                    row, sizeof(row),
                    "Source: https://github.com/bitrise-steplib/steps-%.40s",
                    s->title);
                box_row(b, row);
                box_rule(b, 1);
        }
}

static void preamble(buf_t *b, int64_t start_ms) {
        char t[40];
        time_rfc3339_format(start_ms, 0, t, sizeof(t));
        buf_printf(
            b,
            "Agent version:\t1.36.1\nHostname:\tvm-sim-linux-docker\nStart "
            "time:\t%s\n"
            "$ bitrise \"run\" \"--config\" "
            "\"/tmp/bitrise-agent/bitrise.yml\"\n\n" GREEN
            "  version: 1.49.0" RESET "\n\n" CYAN "INFO" RESET
            "[00:00:01] " YELLOW "bitrise runs in CI mode" RESET " \n" CYAN
            "INFO" RESET "[00:00:01] Running workflows: primary --> " GREEN
            "primary" RESET " \n\n" BLUE "Switching to workflow:" RESET
            " primary\n\n",
            t);
}

static void step_header(buf_t *b, int i, const step_info_t *s, int64_t at_ms) {
        char head[16] = "(", t[40];
        char *p       = put_dec(head + 1, (uint64_t)i); /* "(%d) " */
        memcpy(p, ") ", 3);
        box_rule(b, 0);
        box_row2(b, head, s->title);
        box_rule(b, 0);
        box_row2(b, "id: ", s->title);
        box_row(b, "version: 1.2.3");
        box_row(
            b, "collection: https://github.com/bitrise-io/bitrise-steplib.git");
        box_row(b, "toolkit: go");
        box_row2(b, "time: ", time_rfc3339_format(at_ms, 0, t, sizeof(t)));
        box_rule(b, 0);
        box_row(b, "");
}

static void step_footer(buf_t *b, const step_info_t *s, bool last) {
        if (s->result == 1)
                buf_printf(b, RED "%s" RESET "\n", s->last_line);
        box_row(b, "");
        box_rule(b, 1);
        summary_row(b, s);
        if (!last)
                buf_append_str(b, "\n                                          "
                                  "\xe2\x96\xbc\n\n");
}

static void summary(buf_t *b, const sim_loglayout_t *l, int64_t total_ms) {
        char rt[32];
        buf_append_str(b, "\n\n");
        box_rule(b, 0);
        box_row(b, "                              bitrise summary");
        box_rule(b, 1);
        buf_append_str(b, "|   | title                                         "
                          "                | time (s) |\n");
        box_rule(b, 1);
        for (int i = 0; i < l->n_steps; i++)
                summary_row(b, &l->steps[i]);
        runtime_str(total_ms, rt, sizeof(rt));
        box_row2(b, "Total runtime: ", rt);
        box_rule(b, 0);
        buf_append_str(b, "\n" BLUE
                          "Submitting anonymized usage information..." RESET
                          "\n\n");
        if (l->final_status == 1)
                buf_append_str(b, GREEN "Bitrise build successful" RESET "\n");
        else
                buf_append_str(
                    b, RED "Bitrise build failed (exit code: 1)" RESET "\n");
}

/* Records a static segment covering the text appended since `from`. */
static void seg_static(sim_loglayout_t *l, const buf_t *text, size_t from) {
        seg_t *s    = &l->segs[l->n_segs++];
        s->step     = -1;
        s->text_off = (int64_t)from;
        s->len      = (int64_t)(text->len - from);
}

static void seg_body(sim_loglayout_t *l, int step) {
        seg_t *s = &l->segs[l->n_segs++];
        s->step  = step;
}

/* Titles, results and runtimes (weights from the seed, summing to run_ms). */
static void plan_steps(sim_loglayout_t *l, const layout_key_t *k,
                       int64_t run_ms) {
        uint64_t w[SIM_MAX_STEPS], sum = 0;
        int64_t start_ms = k->start_ms;
        for (int i = 0; i < l->n_steps; i++)
                sum += w[i] = 1 + sim_hash(k->seed, (uint64_t)i + 200) % 9;
        for (int i = 0; i < l->n_steps; i++) {
                step_info_t *s   = &l->steps[i];
                uint64_t h       = sim_hash(k->seed, (uint64_t)i + 100);
                const char *name = sim_step_names[h % sim_step_names_len];
                s->runtime_ms    = (int64_t)((uint64_t)run_ms * w[i] / sum);
                s->started_ms    = start_ms;
                start_ms += s->runtime_ms;
                if (i == k->failing_step) {
                        snprintf(s->title, sizeof(s->title), "%s",
                                 k->failing_title[0] ? k->failing_title : name);
                        s->result    = 1;
                        s->exit_code = k->exit_code;
                        snprintf(s->last_line, sizeof(s->last_line),
                                 "Run: exit status %d", k->exit_code);
                } else {
                        memcpy(s->title, name, strlen(name) + 1); /* short */
                        s->result =
                            k->failing_step >= 0 && i > k->failing_step ? 2 : 0;
                }
        }
}

static int64_t body_lines_total(const layout_key_t *k, int64_t static_bytes,
                                int64_t static_lines) {
        if (k->target_bytes > 0)
                return k->target_bytes > static_bytes
                           ? (k->target_bytes - static_bytes) / LINE_W
                           : 0;
        return k->target_lines > static_lines ? k->target_lines - static_lines
                                              : 0;
}

static int64_t count_lines(const char *p, size_t n) {
        int64_t c = 0;
        for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
                c++;
        return c;
}

/* Writes the static text of n_run steps (the step cut_step, >= 0 for aborted
 * builds, ends in its body) with an empty body segment in each; sets size and
 * lines of the static text alone. */
static void lay_out_static(sim_loglayout_t *l, const layout_key_t *k,
                           buf_t *text, int n_run, int cut_step) {
        size_t from = 0;
        preamble(text, k->start_ms);
        for (int i = 0; i < n_run; i++) {
                step_header(text, i, &l->steps[i], l->steps[i].started_ms);
                seg_static(l, text, from);
                seg_body(l, i);
                from = text->len;
                if (i != cut_step)
                        step_footer(text, &l->steps[i], i == n_run - 1);
        }
        l->has_summary = cut_step < 0;
        if (l->has_summary)
                summary(text, l, k->running_ms);
        else
                buf_append_str(text, "\n");
        seg_static(l, text, from);
        l->size  = (int64_t)text->len;
        l->lines = count_lines(text->data ? text->data : "", text->len);
}

/* Spreads `body` lines over the body segments (the last run step takes the
 * remainder, the cut step keeps half of its share) and places the segments. */
static void lay_out_body(sim_loglayout_t *l, int n_run, int cut_step,
                         int64_t body) {
        int64_t off = 0;
        for (int j = 0; j < l->n_segs; j++) {
                seg_t *s = &l->segs[j];
                if (s->step >= 0) {
                        int i = s->step;
                        int64_t n =
                            body / n_run + (i == n_run - 1 ? body % n_run : 0);
                        s->lines = i == cut_step ? n / 2 : n;
                        s->len   = s->lines * LINE_W;
                        l->lines += s->lines;
                }
                s->off = off;
                off += s->len;
        }
        l->size = off;
}

/* The log is a file's bytes (a real captured log), served as they are:
 * one static segment; the steps are the generated plan's (for chunks'
 * timing), not the file's. */
static sim_loglayout_t *layout_file(sim_loglayout_t *l, const layout_key_t *k) {
        if (!(l->text = malloc((size_t)k->file_len + 1))) {
                sim_loglayout_release(l);
                return NULL;
        }
        memcpy(l->text, k->file_data, (size_t)k->file_len);
        l->segs[0] = (seg_t){.off = 0, .len = k->file_len, .step = -1};
        l->n_segs  = 1;
        l->size    = k->file_len;
        l->lines   = count_lines(l->text, (size_t)k->file_len);
        return l;
}

static sim_loglayout_t *layout_new(const layout_key_t *k) {
        int n_steps = k->steps < 1               ? 1
                      : k->steps > SIM_MAX_STEPS ? SIM_MAX_STEPS
                                                 : k->steps;
        int n_run, cut_step = -1;
        size_t text_len;
        char *fit;
        buf_t text;
        sim_loglayout_t *l =
            calloc(1, sizeof(*l) + sizeof(step_info_t) * (size_t)n_steps);
        if (!l)
                return NULL;
        l->segs = calloc((size_t)(2 * n_steps + 1), sizeof(seg_t));
        if (!l->segs) {
                free(l);
                return NULL;
        }
        atomic_init(&l->refs, 1);
        l->key          = *k;
        l->seed         = k->seed;
        l->n_steps      = n_steps;
        l->final_status = k->final_status;
        plan_steps(l, k, k->running_ms > 0 ? k->running_ms : 1000);
        if (k->file_data)
                return layout_file(l, k);
        n_run = k->failing_step >= 0 ? k->failing_step + 1 : n_steps;
        if (k->abort_cut) {
                cut_step = (int)(sim_hash(l->seed, 9) % (uint64_t)n_steps);
                n_run    = cut_step + 1;
                for (int i = cut_step; i < n_steps; i++)
                        l->steps[i].result = 3;
        }
        for (int i = 0; i < n_steps; i++) {
                step_info_t *s = &l->steps[i];
                runtime_str(s->result == 2 ? 0 : s->runtime_ms, s->rt,
                            sizeof(s->rt));
        }
        buf_init(&text, 0);
        lay_out_static(l, k, &text, n_run, cut_step);
        lay_out_body(l, n_run, cut_step,
                     body_lines_total(k, l->size, l->lines));
        text_len = text.len;
        if (!(l->text = buf_detach(&text))) {
                sim_loglayout_release(l);
                return NULL;
        }
        if ((fit = realloc(l->text, text_len + 1))) /* kept while cached */
                l->text = fit;
        return l;
}

static void layout_key_make(layout_key_t *k, const sim_build_t *b,
                            const sim_state_t *st) {
        memset(k, 0, sizeof(*k));
        k->start_ms =
            st->started_ms ? st->started_ms : b->triggered_ms + b->on_hold_ms;
        k->running_ms   = b->running_ms;
        k->target_bytes = b->log.target_bytes;
        k->target_lines = b->log.target_lines;
        k->seed         = b->log.seed;
        k->steps        = b->log.steps;
        k->failing_step = b->log.failing_step;
        k->exit_code    = b->log.exit_code;
        k->abort_cut    = b->log.abort_cut;
        k->final_status = b->final_status;
        snprintf(k->failing_title, sizeof(k->failing_title), "%s",
                 b->log.failing_title);
        k->file_data = b->log.file_data;
        k->file_len  = b->log.file_len;
}

static uint64_t layout_key_hash(const layout_key_t *k) {
        const unsigned char *p = (const unsigned char *)k;
        uint64_t h             = 0xcbf29ce484222325ULL; /* FNV-1a */
        for (size_t i = 0; i < sizeof(*k); i++)
                h = (h ^ p[i]) * 0x100000001b3ULL;
        return h;
}

sim_loglayout_t *sim_loglayout_new(const sim_build_t *b,
                                   const sim_state_t *st) {
        layout_key_t k;
        layout_key_make(&k, b, st);
        return layout_new(&k);
}

sim_loglayout_t *sim_loglayout_get(sim_logcache_t *c, const sim_build_t *b,
                                   const sim_state_t *st) {
        layout_key_t k;
        sim_loglayout_t *l, *old;
        size_t slot;
        if (!c)
                return sim_loglayout_new(b, st);
        layout_key_make(&k, b, st);
        slot = (size_t)(layout_key_hash(&k) % c->n_slots);
        pthread_mutex_lock(&c->lock);
        l = c->slots[slot];
        if (l && memcmp(&l->key, &k, sizeof(k)) == 0) {
                atomic_fetch_add(&l->refs, 1);
                pthread_mutex_unlock(&c->lock);
                return l;
        }
        pthread_mutex_unlock(&c->lock);
        if (!(l = layout_new(&k)))
                return NULL;
        atomic_fetch_add(&l->refs, 1); /* the cache's */
        pthread_mutex_lock(&c->lock);
        old            = c->slots[slot];
        c->slots[slot] = l;
        pthread_mutex_unlock(&c->lock);
        sim_loglayout_release(old);
        return l;
}

void sim_loglayout_release(sim_loglayout_t *l) {
        if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
                return;
        free(l->segs);
        free(l->text);
        free(l);
}

sim_logcache_t *sim_logcache_new(size_t n_slots) {
        sim_logcache_t *c;
        if (n_slots == 0)
                return NULL;
        c = calloc(1, sizeof(*c) + n_slots * sizeof(c->slots[0]));
        if (!c)
                return NULL;
        pthread_mutex_init(&c->lock, NULL);
        c->n_slots = n_slots;
        return c;
}

void sim_logcache_destroy(sim_logcache_t *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_slots; i++)
                sim_loglayout_release(c->slots[i]);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

int64_t sim_loglayout_size(const sim_loglayout_t *l) {
        return l->size;
}

int64_t sim_loglayout_lines(const sim_loglayout_t *l) {
        return l->lines;
}

/* ---- body lines, formatted by hand (snprintf was most of their cost) ---- */

/* The longest body line: 54 fixed bytes of the INFO form, a step number of
 * at most 2 digits and a line number of at most 19: it never reaches the
 * padding's last byte, so no line is cut. */
_Static_assert(SIM_MAX_STEPS <= 99 && 54 + 2 + 19 < LINE_W - 1,
               "body lines fit LINE_W");

/* Consecutive lines of one step: the hash key and the decimal step and line
 * numbers, kept as text (the line number counts up in place). Both are
 * padded with spaces so that they are copied at a fixed size. */
typedef struct line_cursor {
        uint64_t key;
        int64_t k;
        char step[4], num[24];
        int step_n, num_n;
} line_cursor_t;

static void cursor_init(line_cursor_t *c, const sim_loglayout_t *l, int step,
                        int64_t k) {
        c->key = l->seed ^ (uint64_t)step << 40;
        c->k   = k;
        memset(c->step, ' ', sizeof(c->step));
        memset(c->num, ' ', sizeof(c->num));
        c->step_n = (int)(put_dec(c->step, (uint64_t)step) - c->step);
        c->num_n  = (int)(put_dec(c->num, (uint64_t)k) - c->num);
}

static void cursor_next(line_cursor_t *c) {
        int i = c->num_n - 1;
        c->k++;
        while (i >= 0 && c->num[i] == '9')
                c->num[i--] = '0';
        if (i >= 0) {
                c->num[i]++;
                return;
        }
        memmove(c->num + 1, c->num, (size_t)c->num_n++); /* 99 -> 100 */
        c->num[0] = '1';
}

/* One body line: LINE_W bytes ending in '\n', the same bytes as
 * snprintf(CYAN "INFO" RESET "[%02d:%02d:%02d] step %d line %" PRId64
 * " cache hit %08" PRIx64, ...) for one line in 7 and
 * snprintf("\xe2\x96\xb8 %s Module%04u/File%06" PRIu64 ".swift (%d:%" PRId64
 * ")", ...) for the others, padded with spaces. Fixed-size copies only: the
 * blank line first, then the fields over it (a field's padding lands on
 * blanks or on the next field, written after it). */
static void body_line(const line_cursor_t *c, char *out) {
        static const char blank[] =
            "                                                "
            "                                               \n";
        static const char info[16] = CYAN "INFO" RESET "[";
        static const struct {
                char s[24]; /* "\xe2\x96\xb8 VERB Module", padded */
                int n;
        } verbs[] = {
#define VERB(v) {"\xe2\x96\xb8 " v " Module", (int)sizeof(v) - 1 + 11}
            VERB("Compiling"), VERB("Linking"),     VERB("Processing"),
            VERB("Copying"),   VERB("Downloading"), VERB("Resolving"),
            VERB("Testing"),   VERB("Signing"),
#undef VERB
        };
        _Static_assert(sizeof(blank) == LINE_W + 1, "one blank line");
        uint64_t h = sim_hash(c->key, (uint64_t)c->k);
        uint64_t u = (uint64_t)c->k;
        char *p    = out;
        memcpy(out, blank, LINE_W);
        if (h % 7 == 0) {
                memcpy(p, info, 16); /* 14 bytes and "]s", rewritten */
                p    = put_2(p + 14, u / 3600 % 24);
                *p++ = ':';
                p    = put_2(p, u / 60 % 60);
                *p++ = ':';
                p    = put_2(p, u % 60);
                memcpy(p, "] step ", 7);
                memcpy(p + 7, c->step, sizeof(c->step));
                p += 7 + c->step_n;
                memcpy(p, " line ", 6);
                memcpy(p + 6, c->num, sizeof(c->num));
                p += 6 + c->num_n;
                memcpy(p, " cache hit ", 11);
                put_hex8(p + 11, (uint32_t)(h >> 32));
        } else {
                uint64_t m = (unsigned)(h >> 48) % 10000;
                uint64_t f = (h >> 8) % 1000000;
                memcpy(p, verbs[h % 8].s, 24);
                p = put_2(p + verbs[h % 8].n, m / 100);
                p = put_2(p, m % 100);
                memcpy(p, "/File", 5);
                p = put_2(p + 5, f / 10000);
                p = put_2(p, f / 100 % 100);
                p = put_2(p, f % 100);
                memcpy(p, ".swift (", 8);
                memcpy(p + 8, c->step, sizeof(c->step));
                p += 8 + c->step_n;
                *p++ = ':';
                memcpy(p, c->num, sizeof(c->num));
                p[c->num_n] = ')';
        }
}

/* Copies bytes [in, in+n) of body segment s (n > 0, in < s->len): whole
 * lines straight into dst, a partial first or last line through a copy. */
static size_t read_body(const sim_loglayout_t *l, const seg_t *s, int64_t in,
                        char *dst, size_t n) {
        line_cursor_t c;
        size_t done = 0;
        cursor_init(&c, l, s->step, in / LINE_W);
        while (in < s->len && done < n) {
                int64_t col = in % LINE_W;
                size_t take = (size_t)(LINE_W - col);
                if (take > n - done)
                        take = n - done;
                if (take == LINE_W) {
                        body_line(&c, dst + done);
                } else {
                        char line[LINE_W];
                        body_line(&c, line);
                        memcpy(dst + done, line + col, take);
                }
                cursor_next(&c);
                done += take;
                in += (int64_t)take;
        }
        return done;
}

size_t sim_loglayout_read(const sim_loglayout_t *l, int64_t off, char *dst,
                          size_t n) {
        size_t done = 0;
        int lo = 0, hi = l->n_segs;
        if (off < 0)
                return 0;
        while (lo < hi) { /* the first segment ending after off */
                int mid = lo + (hi - lo) / 2;
                if (l->segs[mid].off + l->segs[mid].len <= off)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (int i = lo; i < l->n_segs && done < n; i++) {
                const seg_t *s = &l->segs[i];
                int64_t in     = off + (int64_t)done - s->off;
                size_t take;
                if (in >= s->len)
                        continue;
                if (s->step >= 0) {
                        done += read_body(l, s, in, dst + done, n - done);
                        continue;
                }
                take = (size_t)(s->len - in);
                if (take > n - done)
                        take = n - done;
                memcpy(dst + done, l->text + s->text_off + in, take);
                done += take;
        }
        return done;
}

cJSON *sim_loglayout_expected(const sim_loglayout_t *l) {
        static const char *const results[] = {"success", "failed", "skipped",
                                              "not_reached"};
        cJSON *o = cJSON_CreateObject(), *steps, *failed;
        cJSON_AddNumberToObject(o, "bytes", (double)l->size);
        cJSON_AddNumberToObject(o, "lines", (double)l->lines);
        cJSON_AddBoolToObject(o, "has_summary", l->has_summary);
        steps  = cJSON_AddArrayToObject(o, "steps");
        failed = cJSON_AddArrayToObject(o, "failed_steps");
        for (int i = 0; i < l->n_steps; i++) {
                const step_info_t *s = &l->steps[i];
                cJSON *e             = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "index", i);
                cJSON_AddStringToObject(e, "title", s->title);
                cJSON_AddStringToObject(e, "result", results[s->result]);
                if (s->result == 1) {
                        cJSON_AddNumberToObject(e, "exit_code", s->exit_code);
                        cJSON_AddStringToObject(e, "last_line", s->last_line);
                        cJSON_AddItemToArray(failed, cJSON_Duplicate(e, 1));
                }
                cJSON_AddItemToArray(steps, e);
        }
        return o;
}
