/* tests/sim/simlog.c — build logs in the Bitrise CLI format, generated lazily.
 *
 * A log is laid out as a short list of segments: static text (boxes, summary,
 * a few KB at most) and step bodies of fixed-width lines whose content is a
 * hash of (log seed, step, line). Any byte range is computed on demand, so a
 * 500 MB log costs a few KB of memory.
 */
#include "tests/sim/sim.h"

#include <inttypes.h>
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

typedef struct step_info {
        char title[SIM_STR_MAX];
        int result; /* 0 ok, 1 failed, 2 skipped, 3 not reached (aborted) */
        int exit_code;
        int64_t runtime_ms;
        int64_t started_ms;
        char last_line[160];
} step_info_t;

struct sim_loglayout {
        seg_t segs[SIM_MAX_STEPS * 4 + 4];
        int n_segs;
        buf_t text; /* all static text, back to back */
        int64_t size, lines;
        uint64_t seed;
        int n_steps;
        int final_status;
        bool has_summary;
        step_info_t steps[SIM_MAX_STEPS];
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
        for (; used < width; used++)
                buf_append(b, " ", 1);
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

static void box_row(buf_t *b, const char *text) {
        buf_append_str(b, "| ");
        buf_append_str(b, text);
        pad(b, visible_len(text), BOX_W - 4);
        buf_append_str(b, " |\n");
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
        char title[SIM_STR_MAX + 32], rt[32];
        if (s->result == 1)
                snprintf(title, sizeof(title), "%s (exit code: %d)", s->title,
                         s->exit_code);
        else
                snprintf(title, sizeof(title), "%s", s->title);
        runtime_str(s->result == 2 ? 0 : s->runtime_ms, rt, sizeof(rt));
        buf_printf(b, "| %s%s%s | %s%s%s", col, icon, RESET, col, title, RESET);
        pad(b, visible_len(title), 61);
        buf_printf(b, " | %-8s |\n", rt);
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
        char row[BOX_W * 2], t[40];
        box_rule(b, 0);
        snprintf(row, sizeof(row), "(%d) %s", i, s->title);
        box_row(b, row);
        box_rule(b, 0);
        snprintf(row, sizeof(row), "id: %s", s->title);
        box_row(b, row);
        box_row(b, "version: 1.2.3");
        box_row(
            b, "collection: https://github.com/bitrise-io/bitrise-steplib.git");
        box_row(b, "toolkit: go");
        snprintf(row, sizeof(row), "time: %s",
                 time_rfc3339_format(at_ms, 0, t, sizeof(t)));
        box_row(b, row);
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
        char row[BOX_W], rt[32];
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
        snprintf(row, sizeof(row), "Total runtime: %s", rt);
        box_row(b, row);
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
static void seg_static(sim_loglayout_t *l, size_t from) {
        seg_t *s    = &l->segs[l->n_segs++];
        s->step     = -1;
        s->text_off = (int64_t)from;
        s->len      = (int64_t)(l->text.len - from);
}

static void seg_body(sim_loglayout_t *l, int step, int64_t lines) {
        seg_t *s = &l->segs[l->n_segs++];
        s->step  = step;
        s->lines = lines;
        s->len   = lines * LINE_W;
}

/* Titles, results and runtimes (weights from the seed, summing to run_ms). */
static void plan_steps(sim_loglayout_t *l, const sim_build_t *b,
                       int64_t start_ms, int64_t run_ms) {
        const sim_logspec_t *ls = &b->log;
        uint64_t w[SIM_MAX_STEPS], sum = 0;
        for (int i = 0; i < l->n_steps; i++)
                sum += w[i] = 1 + sim_hash(ls->seed, (uint64_t)i + 200) % 9;
        for (int i = 0; i < l->n_steps; i++) {
                step_info_t *s   = &l->steps[i];
                uint64_t h       = sim_hash(ls->seed, (uint64_t)i + 100);
                const char *name = sim_step_names[h % sim_step_names_len];
                s->runtime_ms    = (int64_t)((uint64_t)run_ms * w[i] / sum);
                s->started_ms    = start_ms;
                start_ms += s->runtime_ms;
                if (i == ls->failing_step) {
                        snprintf(s->title, sizeof(s->title), "%s",
                                 ls->failing_title[0] ? ls->failing_title
                                                      : name);
                        s->result    = 1;
                        s->exit_code = ls->exit_code;
                        snprintf(s->last_line, sizeof(s->last_line),
                                 "Run: exit status %d", ls->exit_code);
                } else {
                        snprintf(s->title, sizeof(s->title), "%s", name);
                        s->result =
                            ls->failing_step >= 0 && i > ls->failing_step ? 2
                                                                          : 0;
                }
        }
}

static int64_t body_lines_total(const sim_logspec_t *ls, int64_t static_bytes,
                                int64_t static_lines) {
        if (ls->target_bytes > 0)
                return ls->target_bytes > static_bytes
                           ? (ls->target_bytes - static_bytes) / LINE_W
                           : 0;
        return ls->target_lines > static_lines ? ls->target_lines - static_lines
                                               : 0;
}

static int64_t count_lines(const char *p, size_t n) {
        int64_t c = 0;
        for (size_t i = 0; i < n; i++)
                c += p[i] == '\n';
        return c;
}

/* Lays out n_run steps with `body` lines spread over them; the step cut_step
 * (>= 0 for aborted builds) stops half way through its body. Sets size and
 * lines. The static text does not depend on `body`. */
static void lay_out(sim_loglayout_t *l, const sim_build_t *b, int64_t start_ms,
                    int n_run, int cut_step, int64_t body) {
        size_t from = 0;
        buf_reset(&l->text);
        l->n_segs = 0;
        preamble(&l->text, start_ms);
        for (int i = 0; i < n_run; i++) {
                int64_t n = body / n_run + (i == n_run - 1 ? body % n_run : 0);
                step_header(&l->text, i, &l->steps[i], l->steps[i].started_ms);
                seg_static(l, from);
                seg_body(l, i, i == cut_step ? n / 2 : n);
                from = l->text.len;
                if (i != cut_step)
                        step_footer(&l->text, &l->steps[i], i == n_run - 1);
        }
        l->has_summary = cut_step < 0;
        if (l->has_summary)
                summary(&l->text, l, b->running_ms);
        else
                buf_append_str(&l->text, "\n");
        seg_static(l, from);
        l->size = l->lines = 0;
        for (int i = 0; i < l->n_segs; i++) {
                seg_t *s = &l->segs[i];
                s->off   = l->size;
                l->size += s->len;
                l->lines += s->step >= 0
                                ? s->lines
                                : count_lines(l->text.data + s->text_off,
                                              (size_t)s->len);
        }
}

sim_loglayout_t *sim_loglayout_new(const sim_build_t *b,
                                   const sim_state_t *st) {
        sim_loglayout_t *l = calloc(1, sizeof(*l));
        int64_t start =
            st->started_ms ? st->started_ms : b->triggered_ms + b->on_hold_ms;
        int n_run, cut_step = -1;
        if (!l)
                return NULL;
        buf_init(&l->text, 0);
        l->seed         = b->log.seed;
        l->n_steps      = b->log.steps < 1               ? 1
                          : b->log.steps > SIM_MAX_STEPS ? SIM_MAX_STEPS
                                                         : b->log.steps;
        l->final_status = b->final_status;
        plan_steps(l, b, start, b->running_ms > 0 ? b->running_ms : 1000);
        n_run = b->log.failing_step >= 0 ? b->log.failing_step + 1 : l->n_steps;
        if (b->log.abort_cut) {
                cut_step = (int)(sim_hash(l->seed, 9) % (uint64_t)l->n_steps);
                n_run    = cut_step + 1;
                for (int i = cut_step; i < l->n_steps; i++)
                        l->steps[i].result = 3;
        }
        lay_out(l, b, start, n_run, cut_step,
                0); /* learns the size of the static text */
        lay_out(l, b, start, n_run, cut_step,
                body_lines_total(&b->log, l->size, l->lines));
        return l;
}

void sim_loglayout_destroy(sim_loglayout_t *l) {
        if (!l)
                return;
        buf_release(&l->text);
        free(l);
}

int64_t sim_loglayout_size(const sim_loglayout_t *l) {
        return l->size;
}

int64_t sim_loglayout_lines(const sim_loglayout_t *l) {
        return l->lines;
}

/* One body line: LINE_W bytes ending in '\n'. */
static void body_line(const sim_loglayout_t *l, int step, int64_t k,
                      char *out) {
        static const char *const verbs[] = {
            "Compiling",   "Linking",   "Processing", "Copying",
            "Downloading", "Resolving", "Testing",    "Signing"};
        uint64_t h = sim_hash(l->seed ^ (uint64_t)step << 40, (uint64_t)k);
        int n;
        if (h % 7 == 0)
                n = snprintf(out, LINE_W,
                             CYAN "INFO" RESET
                                  "[%02d:%02d:%02d] step %d line %" PRId64
                                  " cache hit %08" PRIx64,
                             (int)(k / 3600 % 24), (int)(k / 60 % 60),
                             (int)(k % 60), step, k, h >> 32);
        else
                n = snprintf(out, LINE_W,
                             "\xe2\x96\xb8 %s Module%04u/File%06" PRIu64
                             ".swift (%d:%" PRId64 ")",
                             verbs[h % 8], (unsigned)(h >> 48) % 10000,
                             (h >> 8) % 1000000, step, k);
        if (n < 0 || n > LINE_W - 1)
                n = LINE_W - 1;
        memset(out + n, ' ', (size_t)(LINE_W - 1 - n));
        out[LINE_W - 1] = '\n';
}

size_t sim_loglayout_read(const sim_loglayout_t *l, int64_t off, char *dst,
                          size_t n) {
        size_t done = 0;
        int i       = 0;
        while (i < l->n_segs && l->segs[i].off + l->segs[i].len <= off)
                i++;
        for (; i < l->n_segs && done < n; i++) {
                const seg_t *s = &l->segs[i];
                int64_t in     = off + (int64_t)done - s->off;
                while (in < s->len && done < n) {
                        size_t take;
                        if (s->step < 0) {
                                take = (size_t)(s->len - in);
                                if (take > n - done)
                                        take = n - done;
                                memcpy(dst + done,
                                       l->text.data + s->text_off + in, take);
                        } else {
                                char line[LINE_W];
                                int64_t col = in % LINE_W;
                                body_line(l, s->step, in / LINE_W, line);
                                take = (size_t)(LINE_W - col);
                                if (take > n - done)
                                        take = n - done;
                                memcpy(dst + done, line + col, take);
                        }
                        done += take;
                        in += (int64_t)take;
                }
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
