/* Unit tests for bitrise/logparse: every real sample in
 * shared/bitrise-api/real/ with its failed steps asserted exactly, random
 * chunk splits, escape sequences across chunks, caps, and a generated 500 MB
 * stream with flat memory. */
#include "bitrise/client.h"
#include "bitrise/logparse.h"
#include "tests/assert.h"
#include "tests/support/fixtures.h"

#include <stdint.h>

typedef struct want_step {
        const char *title;
        const char *step_id; /* NULL = none */
        int index;
        int exit_code;
        double duration_s;
        int interrupted;
        const char *last_line; /* NULL = no lines */
} want_step_t;

typedef struct sample {
        const char *file;
        uint64_t lines;
        size_t summary_rows;
        int build_ok;
        size_t nfailed;
        want_step_t failed[6];
} sample_t;

static const sample_t samples[] = {
    {"cocoapods_plugins_readme_cli_1.32.0_failed_cocoapods_install.log.txt",
     146,
     1,
     -1,
     1,
     {{"cocoapods-install@1.7.2", "cocoapods-install", 0, 1, 27, 0,
       "Command failed, error: exit status 1"}}},
    {"bitrise_log_analyzer_deploy_to_itunes_failed_REDACTED.log.txt",
     6490,
     16,
     -1,
     1,
     {{"deploy-to-itunesconnect-deliver", "deploy-to-itunesconnect-deliver", 14,
       1, 59, 0, "Deploy failed, error: exit status 1"}}},
    {"bitrisedebugtool_failure_xcode_test.log.txt",
     407,
     4,
     0,
     1,
     {{"xcode-test", "xcode-test", 2, 1, 174, 0, "Run: exit status 65"}}},
    {"hbehrens_bitrise_cli_1.3.5_failed_project_scanner.log.txt",
     132,
     3,
     -1,
     1,
     {{"Running project scanner", "project-scanner", 2, 1, 10, 0,
       "FATA[16:21:17] Analyzer failed, error: No valid solution file found"}}},
    {"DERIVED_devcenter_aborted_build_chunks_concatenated.log.txt",
     112,
     0,
     -1,
     1,
     {{"Sleep", "script", 2, -1, -1, 1, "+ sleep 30"}}},
    {"issue_steps-xcode-archive_216_failed_step_tail_EXCERPT.txt",
     13,
     0,
     -1,
     1,
     {{"xcode-archive@3", NULL, -1, 1, 516, 0,
       "Archive failed, error: exit status 65"}}},
    {"issue_steps-xcode-archive_76_failed_step_footer_EXCERPT.txt",
     12,
     0,
     -1,
     1,
     {{"xcode-archive@2.2.0", NULL, -1, 1, 41, 0,
       "Archive failed, error: exit status 65"}}},
    {"issue_steps-cocoapods-install_81_build_timeout_EXCERPT.txt",
     12,
     0,
     -1,
     0,
     {{0}}},
    {"DERIVED_cianalyzer_long_summary_chunks_concatenated_success.log.txt",
     489,
     22,
     -1,
     0,
     {{0}}},
    {"bitrise_log_analyzer_cli_1.4.0_emoji_icons_success.log.txt",
     70,
     2,
     -1,
     0,
     {{0}}},
    {"bitrise_log_analyzer_cli_1.4.3_nested_bitrise_run_success.log.txt",
     155,
     5,
     -1,
     0,
     {{0}}},
    {"bitrise_log_analyzer_cli_1.4.3_simple_success.log.txt",
     68,
     2,
     -1,
     0,
     {{0}}},
    {"bitrisedebugtool_success_xcode_test_esc_stripped.log.txt",
     359,
     4,
     1,
     0,
     {{0}}},
    /* not a real build: the CLI 2.x footers one after the other */
    {"bitrise_cli_v2_header_footer_expected_SYNTHETIC.txt",
     161,
     0,
     -1,
     6,
     {{"Loooooooooooooooooooooooooooooooooong step name", NULL, -1, 1, 10, 0,
       "exit code: 1"},
      {"Step", NULL, -1, 3, 11.11, 0,
       "Preparing Step (Step) failed: exit code: 3"},
      {"Step", NULL, -1, -1, 102, 0, "This Step timed out after 5m."},
      {"Step", NULL, -1, -1, 0.1, 0,
       "This Step failed, because it has not sent any output for 4m."},
      {"Failed step", NULL, -1, -1, 90, 0, "This is an error message"},
      {"Loooooooooong step naaaaaaaaaaaaaaaa...", NULL, -1, 42, 0.22, 0,
       "exit code: 42"}}},
};

static logparse_t *parse_whole(const char *data, size_t len,
                               const logparse_opts_t *o) {
        logparse_t *lp = logparse_new(o);
        T_ASSERT(lp != NULL);
        T_EQ_INT(logparse_feed(lp, data, len), 0);
        T_EQ_INT(logparse_finish(lp), 0);
        return lp;
}

static void check_sample(const sample_t *s, const logparse_t *lp, size_t len) {
        T_ASSERTF(logparse_bytes(lp) == len, "%s: bytes", s->file);
        T_ASSERTF(logparse_lines(lp) == s->lines, "%s: lines %llu != %llu",
                  s->file, (unsigned long long)logparse_lines(lp),
                  (unsigned long long)s->lines);
        T_ASSERTF(logparse_summary_steps(lp) == s->summary_rows,
                  "%s: summary %zu", s->file, logparse_summary_steps(lp));
        T_ASSERTF(logparse_build_ok(lp) == s->build_ok, "%s: build_ok",
                  s->file);
        T_ASSERTF(logparse_failed_count(lp) == s->nfailed,
                  "%s: %zu failed steps", s->file, logparse_failed_count(lp));
        T_EQ_INT(logparse_truncated(lp), 0);
        for (size_t i = 0; i < s->nfailed; i++) {
                const want_step_t *w     = &s->failed[i];
                const logparse_step_t *g = logparse_failed_step(lp, i);
                T_EQ_STR(g->title, w->title);
                if (w->step_id)
                        T_EQ_STR(g->step_id, w->step_id);
                else
                        T_ASSERTF(g->step_id == NULL, "%s: step_id %s", s->file,
                                  g->step_id);
                T_EQ_INT(g->index, w->index);
                T_EQ_INT(g->exit_code, w->exit_code);
                T_ASSERTF(g->duration_s > w->duration_s - 0.001 &&
                              g->duration_s < w->duration_s + 0.001,
                          "%s: duration %f != %f", s->file, g->duration_s,
                          w->duration_s);
                T_EQ_INT(g->interrupted, w->interrupted);
                T_ASSERT(g->nlast > 0 && g->nlast <= 20);
                T_EQ_STR(g->last_lines[g->nlast - 1], w->last_line);
        }
}

static void test_logparse_real_samples(void) {
        for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
                size_t len = 0;
                char *data = fixture_read(samples[i].file, &len);
                T_ASSERTF(data != NULL, "cannot read %s", samples[i].file);
                logparse_t *lp = parse_whole(data, len, NULL);
                check_sample(&samples[i], lp, len);
                logparse_destroy(lp);
                free(data);
        }
}

static void test_logparse_failed_step_lines(void) {
        size_t len = 0;
        char *data =
            fixture_read("bitrisedebugtool_failure_xcode_test.log.txt", &len);
        T_ASSERT(data != NULL);
        logparse_opts_t o         = {.step_lines = 5, .tail_lines = 3};
        logparse_t *lp            = parse_whole(data, len, &o);
        const logparse_step_t *st = logparse_failed_step(lp, 0);
        T_EQ_INT(st->nlast, 5);
        T_EQ_STR(st->last_lines[0],
                 "Xcode Test command failed: exit status 65");
        T_EQ_STR(st->last_lines[2], "Exporting test results");
        size_t n                = 0;
        const char *const *tail = logparse_tail(lp, &n);
        T_EQ_INT(n, 3);
        T_EQ_STR(tail[1],
                 "Bitrise build failed (exit code: 1)"); /* ANSI stripped */
        logparse_destroy(lp);
        free(data);
}

static void test_logparse_sha256(void) {
        size_t len = 0;
        char *data = fixture_read(
            "bitrise_log_analyzer_deploy_to_itunes_failed_REDACTED.log.txt",
            &len);
        T_ASSERT(data != NULL);
        logparse_t *lp = parse_whole(data, len, NULL);
        /* sha256sum of the fixture */
        T_EQ_STR(
            logparse_sha256(lp),
            "3b8ce9b198a1cc2798eac07f2236bbf54e0a241355f3c95293209168a0e3ecef");
        logparse_destroy(lp);
        free(data);
        lp = parse_whole("", 0, NULL);
        T_EQ_STR(
            logparse_sha256(lp),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        T_EQ_INT(logparse_lines(lp), 0);
        logparse_destroy(lp);
}

/* Everything the parser reports, as one string, to compare two runs. */
static void summarize(const logparse_t *lp, buf_t *out) {
        buf_reset(out);
        buf_printf(out, "%llu %llu %d %s %zu %d\n",
                   (unsigned long long)logparse_bytes(lp),
                   (unsigned long long)logparse_lines(lp),
                   logparse_truncated(lp), logparse_sha256(lp),
                   logparse_summary_steps(lp), logparse_build_ok(lp));
        for (size_t i = 0; i < logparse_failed_count(lp); i++) {
                const logparse_step_t *s = logparse_failed_step(lp, i);
                buf_printf(out, "%s|%s|%d|%d|%.3f|%d\n", s->title,
                           s->step_id ? s->step_id : "", s->index, s->exit_code,
                           s->duration_s, s->interrupted);
                for (size_t j = 0; j < s->nlast; j++)
                        buf_printf(out, "  %s\n", s->last_lines[j]);
        }
        size_t n                = 0;
        const char *const *tail = logparse_tail(lp, &n);
        for (size_t i = 0; i < n; i++)
                buf_printf(out, "> %s\n", tail[i]);
}

static uint64_t xorshift(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static void test_logparse_random_splits(void) {
        buf_t want, got;
        buf_init(&want, 0);
        buf_init(&got, 0);
        uint64_t seed       = 0x9e3779b97f4a7c15ull;
        const char *files[] = {
            "bitrisedebugtool_failure_xcode_test.log.txt",
            "bitrise_cli_v2_header_footer_expected_SYNTHETIC.txt",
            "hbehrens_bitrise_cli_1.3.5_failed_project_scanner.log.txt",
            "DERIVED_devcenter_aborted_build_chunks_concatenated.log.txt",
            "bitrise_log_analyzer_cli_1.4.3_nested_bitrise_run_success.log.txt",
            "bitrise_log_analyzer_deploy_to_itunes_failed_REDACTED.log.txt"};
        for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
                size_t len = 0;
                char *data = fixture_read(files[f], &len);
                T_ASSERT(data != NULL);
                logparse_t *lp = parse_whole(data, len, NULL);
                summarize(lp, &want);
                logparse_destroy(lp);
                for (int round = 0; round < 20; round++) {
                        lp         = logparse_new(NULL);
                        size_t max = round == 0
                                         ? 1
                                         : 1 + xorshift(&seed) %
                                                   (round < 10 ? 16 : 4096);
                        for (size_t off = 0; off < len;) {
                                size_t n = 1 + xorshift(&seed) % max;
                                if (n > len - off)
                                        n = len - off;
                                T_EQ_INT(logparse_feed(lp, data + off, n), 0);
                                off += n;
                        }
                        T_EQ_INT(logparse_finish(lp), 0);
                        summarize(lp, &got);
                        logparse_destroy(lp);
                        T_ASSERTF(!strcmp(buf_cstr(&want), buf_cstr(&got)),
                                  "%s round %d differs", files[f], round);
                }
                free(data);
        }
        buf_release(&want);
        buf_release(&got);
}

static void test_logparse_escape_split_and_cr(void) {
        static const char *parts[] = {"\x1b[3",
                                      "1;1mred\x1b",
                                      "[0m tail\r\n",
                                      "progress 10%\rprogress 100%\n",
                                      "\x1b]0;title\x07osc\n",
                                      "bare [32;1mgreen[0m text\n",
                                      "bad \xff\xfe utf8 \xe2\x9c\n",
                                      "no newline at end"};
        logparse_opts_t o          = {.tail_lines = 10};
        logparse_t *lp             = logparse_new(&o);
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
                T_EQ_INT(logparse_feed(lp, parts[i], strlen(parts[i])), 0);
        T_EQ_INT(logparse_finish(lp), 0);
        size_t n             = 0;
        const char *const *t = logparse_tail(lp, &n);
        T_EQ_INT(n, 6);
        T_EQ_STR(t[0], "red tail");
        T_EQ_STR(t[1], "progress 100%");
        T_EQ_STR(t[2], "osc");
        T_EQ_STR(t[3], "bare green text");
        T_EQ_STR(t[4], "bad ?? utf8 ?");
        T_EQ_STR(t[5], "no newline at end");
        T_EQ_INT(logparse_lines(lp), 6);
        T_EQ_INT(logparse_finish(lp), 0); /* idempotent */
        T_EQ_INT(logparse_feed(lp, "x", 1), -1);
        logparse_destroy(lp);
}

static void test_logparse_caps(void) {
        logparse_opts_t o = {
            .max_bytes = 100, .max_line_bytes = 16, .tail_lines = 2};
        logparse_t *lp = logparse_new(&o);
        char big[300];
        memset(big, 'a', sizeof(big));
        big[40] = '\n';
        T_EQ_INT(logparse_feed(lp, big, 60), 0);
        T_EQ_INT(logparse_feed(lp, big, 60), LOGPARSE_FULL);
        T_EQ_INT(logparse_feed(lp, big, 1), LOGPARSE_FULL);
        T_EQ_INT(logparse_finish(lp), 0);
        T_EQ_INT(logparse_bytes(lp), 100);
        T_EQ_INT(logparse_truncated(lp), 1);
        size_t n             = 0;
        const char *const *t = logparse_tail(lp, &n);
        T_EQ_INT(n, 2);
        T_EQ_INT(strlen(t[0]), 16); /* long lines are cut */
        T_EQ_INT(strlen(t[1]), 16);
        logparse_destroy(lp);
        logparse_destroy(NULL);
}

/* A cut inside a multi-byte character must not leave half of it. */
static void test_logparse_line_cut_utf8(void) {
        logparse_opts_t o = {.max_line_bytes = 5};
        logparse_t *lp    = logparse_new(&o);
        const char *s     = "abcd\xe2\x9c\x93zz\n"; /* "abcd✓zz" */
        T_EQ_INT(logparse_feed(lp, s, strlen(s)), 0);
        T_EQ_INT(logparse_finish(lp), 0);
        size_t n             = 0;
        const char *const *t = logparse_tail(lp, &n);
        T_EQ_INT(n, 1);
        T_EQ_STR(t[0], "abcd?");
        logparse_destroy(lp);
}

/* Chunks of log info answers, fed in position order (the fallback when the
 * raw log is not archived). */
static void test_logparse_from_log_info_chunks(void) {
        static const struct {
                const char *file;
                const char *title;
                int exit_code;
                double duration;
                size_t nlast_min;
        } cases[] = {
            {"gitrise_archived_log_info_response.json", "Install Docker", 3, 82,
             1},
            {"gitrise_archived_log_info_response_v2019.json", "Install Docker",
             3, 82, 1},
            {"cianalyzer_log_info_failed.json", "flutter-build", 1, 246, 0},
            {"cianalyzer_log_info_int_sec.json", "DeployGate Upload ipa", 1,
             4.18, 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t len = 0;
                char *body = fixture_read(cases[i].file, &len);
                T_ASSERT(body != NULL);
                bitrise_log_info_t li;
                char err[160];
                T_EQ_INT(
                    bitrise_log_info_parse(body, len, &li, err, sizeof(err)),
                    0);
                logparse_t *lp = logparse_new(NULL);
                bitrise_log_info_feed(&li, lp);
                T_EQ_INT(logparse_finish(lp), 0);
                T_ASSERTF(logparse_failed_count(lp) == 1, "%s: %zu failed",
                          cases[i].file, logparse_failed_count(lp));
                const logparse_step_t *st = logparse_failed_step(lp, 0);
                T_EQ_STR(st->title, cases[i].title);
                T_EQ_INT(st->exit_code, cases[i].exit_code);
                T_ASSERTF(st->duration_s > cases[i].duration - 0.01 &&
                              st->duration_s < cases[i].duration + 0.01,
                          "%s: duration %f", cases[i].file, st->duration_s);
                T_ASSERT(st->nlast >= cases[i].nlast_min);
                logparse_destroy(lp);
                bitrise_log_info_release(&li);
                free(body);
        }
}

#define RULE1                                                                  \
        "+-------------------------------------------------------------------" \
        "-----------+\n"
#define RULE3                                                                  \
        "+---+---------------------------------------------------------------" \
        "+----------+\n"
#define BLANK                                                                  \
        "|                                                                   " \
        "           |\n"
#define HEADER(n, title, id)                                                   \
        RULE1 "| (" #n ") " title " |\n" RULE1 "| id: " id " |\n"              \
              "| version: 1.0.0 |\n" RULE1 BLANK

/* A step that runs `bitrise run` and fails inside: both the inner and the
 * outer step are reported, each with its own id and lines, and the two
 * summaries confirm them without duplicates. */
static void test_logparse_nested_run_failure(void) {
        const char *log =
            HEADER(0, "script", "script") "+ bitrise run inner\n" HEADER(
                0, "inner-fail",
                "inner") "inner boom\n" BLANK RULE3
                         "| x | inner-fail (exit code: 5) | 1.0 sec |\n" RULE3
                         "\n" RULE1 "| bitrise summary |\n" RULE3
                         "| | title | time (s) |\n" RULE3
                         "| x | inner-fail (exit code: 5) | 1.0 sec |\n" RULE3
                         "| Total runtime: 1.0 sec |\n" RULE1
                         "Bitrise build failed (exit code: 1)\n"
                         "outer after\n" BLANK RULE3
                         "| x | script (exit code: 1) | 2.0 sec |\n" RULE3
                         "\n" RULE1 "| bitrise summary: primary |\n" RULE3
                         "| | title | time (s) |\n" RULE3
                         "| x | script (exit code: 1) | 2.0 sec |\n" RULE3
                         "| Total runtime: 2.0 sec |\n" RULE1;
        logparse_t *lp = parse_whole(log, strlen(log), NULL);
        T_EQ_INT(logparse_failed_count(lp), 2);
        const logparse_step_t *in  = logparse_failed_step(lp, 0);
        const logparse_step_t *out = logparse_failed_step(lp, 1);
        T_EQ_STR(in->title, "inner-fail");
        T_EQ_STR(in->step_id, "inner");
        T_EQ_INT(in->exit_code, 5);
        T_EQ_INT(in->nlast, 1);
        T_EQ_STR(in->last_lines[0], "inner boom");
        T_EQ_STR(out->title, "script");
        T_EQ_STR(out->step_id, "script");
        T_EQ_INT(out->exit_code, 1);
        T_EQ_STR(out->last_lines[0], "+ bitrise run inner");
        T_EQ_STR(out->last_lines[out->nlast - 1], "outer after");
        T_EQ_INT(logparse_summary_steps(lp), 2);
        logparse_destroy(lp);
}

/* A step whose footer is missing (CLI 1.3 README copies): the summary row
 * says it failed, and the parked step still gives its id and lines. */
static void test_logparse_missing_footer_resolved_by_summary(void) {
        const char *log =
            HEADER(0, "first", "first-id") "first output\nfirst last\n" HEADER(
                1, "second",
                "second-id") "second output\n" BLANK RULE3
                             "| \xe2\x9c\x93 | second | 3 sec |\n" RULE3
                             "\n" RULE1 "| bitrise summary |\n" RULE3
                             "| | title | time (s) |\n" RULE3
                             "| x | first (exit code: 2) | 1.5 min |\n" RULE3
                             "| \xe2\x9c\x93 | second | 3 sec |\n" RULE3
                             "| Total runtime: 1.6 min |\n" RULE1;
        logparse_t *lp = parse_whole(log, strlen(log), NULL);
        T_EQ_INT(logparse_failed_count(lp), 1);
        const logparse_step_t *st = logparse_failed_step(lp, 0);
        T_EQ_STR(st->title, "first");
        T_EQ_STR(st->step_id, "first-id");
        T_EQ_INT(st->index, 0);
        T_EQ_INT(st->exit_code, 2);
        T_ASSERT(st->duration_s == 90.0);
        T_EQ_INT(st->nlast, 2);
        T_EQ_STR(st->last_lines[1], "first last");
        T_EQ_INT(st->interrupted, 0);
        logparse_destroy(lp);
}

/* Tables inside a step's output are output, not footers. */
static void test_logparse_tables_in_output(void) {
        const char *log = HEADER(0, "deliver", "deliver") "+----+----+\n"
                                                          "| x | y | 3 sec |\n"
                                                          "| a | b |\n"
                                                          "+----+----+\n"
                                                          "done\n";
        logparse_t *lp  = parse_whole(log, strlen(log), NULL);
        /* no footer recognised: the build ended inside the step */
        T_EQ_INT(logparse_failed_count(lp), 1);
        const logparse_step_t *st = logparse_failed_step(lp, 0);
        T_EQ_INT(st->interrupted, 1);
        T_EQ_STR(st->title, "deliver");
        T_EQ_STR(st->last_lines[0], "| x | y | 3 sec |");
        T_EQ_STR(st->last_lines[st->nlast - 1], "done");
        logparse_destroy(lp);
}

/* Our cap cutting a step is not the build being aborted. */
static void test_logparse_cap_inside_step_not_interrupted(void) {
        const char *log   = HEADER(0, "long", "script") "line one\nline two\n";
        logparse_opts_t o = {.max_bytes = strlen(log) - 5};
        logparse_t *lp    = logparse_new(&o);
        T_EQ_INT(logparse_feed(lp, log, strlen(log)), LOGPARSE_FULL);
        T_EQ_INT(logparse_finish(lp), 0);
        T_EQ_INT(logparse_truncated(lp), 1);
        T_EQ_INT(logparse_failed_count(lp), 0);
        logparse_destroy(lp);
        lp = parse_whole(log, strlen(log), NULL); /* whole: interrupted */
        T_EQ_INT(logparse_failed_count(lp), 1);
        T_EQ_INT(logparse_failed_step(lp, 0)->interrupted, 1);
        logparse_destroy(lp);
}

/* A summary cut short (no "Total runtime") must not swallow what follows. */
static void test_logparse_cut_summary_ends_at_text(void) {
        const char *log = RULE1
            "| bitrise summary |\n" RULE3 "| | title | time (s) |\n" RULE3
            "| \xe2\x9c\x93 | a | 1 sec |\n"
            "log goes on\n" HEADER(
                1, "b", "b-id") "b failed\n" BLANK RULE3
                                "| x | b (exit code: 3) | 2 sec |\n" RULE3;
        logparse_t *lp = parse_whole(log, strlen(log), NULL);
        T_EQ_INT(logparse_summary_steps(lp), 1);
        T_EQ_INT(logparse_failed_count(lp), 1);
        T_EQ_STR(logparse_failed_step(lp, 0)->step_id, "b-id");
        T_EQ_INT(logparse_failed_step(lp, 0)->exit_code, 3);
        logparse_destroy(lp);
}

static long rss_kb(void) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        long kb = -1;
        while (f && fgets(line, sizeof(line), f))
                if (!strncmp(line, "VmRSS:", 6))
                        kb = strtol(line + 6, NULL, 10);
        if (f)
                fclose(f);
        return kb;
}

/* 500 MB of generated log, step after step, a failed one every 50th:
 * memory must stay flat and the counts exact. */
static void test_logparse_500mb_stream_flat_memory(void) {
        const uint64_t target = 500ull << 20;
        logparse_t *lp        = logparse_new(NULL);
        buf_t chunk;
        buf_init(&chunk, 0);
        long before  = rss_kb();
        uint64_t fed = 0, lines = 0, failed = 0;
        long peak = before;
        for (int step = 0; fed < target; step++) {
                buf_reset(&chunk);
                int fail = step % 50 == 49;
                buf_printf(&chunk,
                           "+--------------------------------------------------"
                           "----------------------------+\n"
                           "| (%d) step-%d                                     "
                           "                              |\n"
                           "+--------------------------------------------------"
                           "----------------------------+\n"
                           "| id: script                                       "
                           "                            |\n"
                           "+--------------------------------------------------"
                           "----------------------------+\n"
                           "|                                                  "
                           "                            |\n",
                           step, step);
                for (int i = 0; i < 2000; i++)
                        buf_printf(&chunk,
                                   "\x1b[32;1mstep %d\x1b[0m output line %d "
                                   "with some text\r\n",
                                   step, i);
                buf_printf(&chunk,
                           "|                                                  "
                           "                            |\n"
                           "+---+----------------------------------------------"
                           "-----------------+----------+\n"
                           "| %s | step-%d%s                                   "
                           "          | 1.5 min  |\n"
                           "+---+----------------------------------------------"
                           "-----------------+----------+\n",
                           fail ? "x" : "\xe2\x9c\x93", step,
                           fail ? " (exit code: 2)" : "");
                lines += 2000 + 10;
                failed += (uint64_t)fail;
                T_EQ_INT(logparse_feed(lp, chunk.data, chunk.len), 0);
                fed += chunk.len;
                if (step % 256 == 0) {
                        long now = rss_kb();
                        peak     = now > peak ? now : peak;
                }
        }
        T_EQ_INT(logparse_finish(lp), 0);
        long after = rss_kb();
        printf("  500 MB stream: fed %llu bytes, RSS before %ld kB, peak %ld "
               "kB, after %ld kB\n",
               (unsigned long long)fed, before, peak, after);
        T_EQ_INT(logparse_bytes(lp), fed);
        T_EQ_INT(logparse_lines(lp), lines);
        T_EQ_INT(logparse_failed_count(lp),
                 failed < 32 ? failed : 32); /* default cap */
        const logparse_step_t *st = logparse_failed_step(lp, 0);
        T_EQ_STR(st->title, "step-49");
        T_EQ_INT(st->exit_code, 2);
        T_EQ_STR(st->last_lines[st->nlast - 1],
                 "step 49 output line 1999 with some text");
        T_ASSERTF(peak - before < 16 * 1024, "RSS grew by %ld kB",
                  peak - before);
        logparse_destroy(lp);
        buf_release(&chunk);
}

static void test_logparse_duration_units(void) {
        static const struct {
                const char *s;
                double want;
        } cases[] = {{"5.72 sec", 5.72},
                     {"20 sec", 20},
                     {"2.9 min", 174},
                     {"12 hour", 43200},
                     {"999+ hour", 999 * 3600.0},
                     {"30.23 sec", 30.23}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char row[200];
                snprintf(row, sizeof(row),
                         "+---+------+----------+\n| x | s%zu (exit code: 4) | "
                         "%s|\n",
                         i, cases[i].s);
                logparse_t *lp = parse_whole(row, strlen(row), NULL);
                T_EQ_INT(logparse_failed_count(lp), 1);
                double d = logparse_failed_step(lp, 0)->duration_s;
                T_ASSERTF(d > cases[i].want - 0.001 &&
                              d < cases[i].want + 0.001,
                          "%s -> %f", cases[i].s, d);
                T_EQ_INT(logparse_failed_step(lp, 0)->exit_code, 4);
                logparse_destroy(lp);
        }
}

int main(void) {
        T_RUN(test_logparse_real_samples);
        T_RUN(test_logparse_failed_step_lines);
        T_RUN(test_logparse_sha256);
        T_RUN(test_logparse_random_splits);
        T_RUN(test_logparse_escape_split_and_cr);
        T_RUN(test_logparse_caps);
        T_RUN(test_logparse_line_cut_utf8);
        T_RUN(test_logparse_from_log_info_chunks);
        T_RUN(test_logparse_duration_units);
        T_RUN(test_logparse_nested_run_failure);
        T_RUN(test_logparse_missing_footer_resolved_by_summary);
        T_RUN(test_logparse_tables_in_output);
        T_RUN(test_logparse_cap_inside_step_not_interrupted);
        T_RUN(test_logparse_cut_summary_ends_at_text);
        T_RUN(test_logparse_500mb_stream_flat_memory);
        return t_done();
}
