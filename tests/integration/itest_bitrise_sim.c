/* Integration tests of bitrise/client against the Bitrise simulator
 * (build/bitrise-sim via tests/support/sim_proc.h): builds and logs of a
 * scenario parsed and compared with the simulator's own expectations
 * (/_sim/expected), tokens and roles, the 429 quota with its headers, every
 * fault the simulator injects, a running build followed by chunks, and a
 * 200 MB raw log streamed through the parser with flat memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitrise/client.h"
#include "tests/assert.h"
#include "tests/integration/sim_test.h"
#include "tests/support/sim_proc.h"

/* Assertion messages go into tests/assert.h's 512-byte buffer; cutting a long
 * one short is intended. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define APP "669403bffbe35909"
#define DEV "bitwat_dev"

static bitrise_client_t *client_for(sim_proc_t *p, long timeout_ms) {
        char err[256];
        bitrise_client_opts_t o = {.base_url           = sim_proc_base_url(p),
                                   .timeout_ms         = timeout_ms,
                                   .connect_timeout_ms = 5000};
        bitrise_client_t *c     = bitrise_client_new(&o, err, sizeof(err));
        T_ASSERTF(c, "%s", err);
        return c;
}

static bitrise_class_t build_get(bitrise_client_t *c, const char *token,
                                 const char *app, const char *build,
                                 bitrise_result_t *res) {
        char err[256];
        bitrise_req_t *req =
            bitrise_req_build_get(c, token, app, build, err, sizeof(err));
        T_ASSERTF(req, "%s", err);
        bitrise_class_t cls = bitrise_req_perform(req, res);
        bitrise_req_destroy(req);
        T_ASSERTF(!strstr(res->message, token), "token in: %s", res->message);
        return cls;
}

static bitrise_class_t log_info(bitrise_client_t *c, const char *token,
                                const char *build, const char *after,
                                bitrise_result_t *res) {
        char err[256];
        bitrise_req_t *req =
            bitrise_req_log_info(c, token, APP, build, after, err, sizeof(err));
        T_ASSERTF(req, "%s", err);
        bitrise_class_t cls = bitrise_req_perform(req, res);
        bitrise_req_destroy(req);
        return cls;
}

static const char *str(const cJSON *o, const char *k) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *k) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
        T_ASSERTF(cJSON_IsNumber(v), "no number %s", k);
        return v->valuedouble;
}

/* Streams the archived log of build into a new parser (caller destroys). */
static logparse_t *raw_log(bitrise_client_t *c, const char *build) {
        bitrise_result_t li, res;
        char err[256];
        T_EQ_INT(log_info(c, DEV, build, NULL, &li), BITRISE_OK);
        T_ASSERTF(li.log_info.is_archived && li.log_info.raw_log_url,
                  "%s: not archived", build);
        logparse_t *lp     = logparse_new(NULL);
        bitrise_req_t *req = bitrise_req_raw_log(c, li.log_info.raw_log_url, lp,
                                                 err, sizeof(err));
        T_ASSERTF(req, "%s", err);
        bitrise_class_t cls = bitrise_req_perform(req, &res);
        bitrise_req_destroy(req);
        bitrise_result_release(&li);
        T_ASSERTF(cls == BITRISE_OK, "%s", res.message);
        return lp;
}

static void test_sim_builds_and_logs_match_expected(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"" DEV "\", \"role\": \"developer\"}],"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            "  {\"slug\": \"b000000000000001\", \"triggered_at_s\": -1000, "
            "\"running_s\": 300, \"status\": 2,"
            "   \"log\": {\"lines\": 800, \"steps\": 5, \"failing_step\": 3, "
            "\"failing_title\": \"xcode-test\", \"exit_code\": 65}},"
            "  {\"slug\": \"b000000000000002\", \"triggered_at_s\": -1000, "
            "\"running_s\": 300, \"status\": 3, \"abort_reason\": \"User "
            "aborted\","
            "   \"log\": {\"bytes\": 20000}},"
            "  {\"slug\": \"b000000000000003\", \"triggered_at_s\": -1000, "
            "\"running_s\": 300, \"status\": 1,"
            "   \"log\": {\"bytes\": 20000, \"steps\": 7}}]}]}");
        bitrise_client_t *c  = client_for(p, 10000);
        const char *builds[] = {"b000000000000001", "b000000000000002",
                                "b000000000000003"};
        const int status[]   = {2, 3, 1};
        for (int i = 0; i < 3; i++) {
                char path[256], err[256];
                cJSON *exp = NULL;
                bitrise_result_t res;
                T_EQ_INT(build_get(c, DEV, APP, builds[i], &res), BITRISE_OK);
                T_EQ_INT(res.build.status, status[i]);
                T_EQ_STR(res.build.slug, builds[i]);
                T_ASSERT(res.build.finished_at > res.build.started_at);
                T_ASSERT(res.build.duration_s > 0);
                if (i == 1)
                        T_EQ_STR(res.build.abort_reason, "User aborted");
                bitrise_result_release(&res);

                snprintf(path, sizeof(path), "/expected?app=" APP "&build=%s",
                         builds[i]);
                T_ASSERTF(sim_proc_admin_get(p, path, &exp, err, sizeof(err)) ==
                              0,
                          "%s", err);
                logparse_t *lp = raw_log(c, builds[i]);
                T_EQ_INT(logparse_bytes(lp), num(exp, "bytes"));
                T_EQ_INT(logparse_lines(lp), num(exp, "lines"));
                T_EQ_INT(logparse_truncated(lp), 0);
                int has_summary = cJSON_IsTrue(
                    cJSON_GetObjectItemCaseSensitive(exp, "has_summary"));
                T_EQ_INT(logparse_summary_steps(lp) > 0, has_summary);
                const cJSON *failed =
                    cJSON_GetObjectItemCaseSensitive(exp, "failed_steps");
                size_t nexp = (size_t)cJSON_GetArraySize(failed), k = 0;
                for (size_t j = 0; j < logparse_failed_count(lp); j++) {
                        const logparse_step_t *st = logparse_failed_step(lp, j);
                        if (st->interrupted) {
                                T_ASSERT(!has_summary); /* aborted build */
                                continue;
                        }
                        T_ASSERTF(k < nexp, "%s: extra failed step %s",
                                  builds[i], st->title);
                        const cJSON *f = cJSON_GetArrayItem(failed, (int)k++);
                        T_EQ_STR(st->title, str(f, "title"));
                        T_EQ_INT(st->exit_code, num(f, "exit_code"));
                        T_EQ_INT(st->index, num(f, "index"));
                        T_ASSERT(st->nlast > 0);
                        T_EQ_STR(st->last_lines[st->nlast - 1],
                                 str(f, "last_line"));
                }
                T_EQ_INT(k, nexp);
                if (i == 0)
                        T_EQ_STR(logparse_failed_step(lp, 0)->title,
                                 "xcode-test");
                if (i == 1)
                        T_EQ_INT(logparse_failed_count(lp),
                                 1); /* interrupted */
                logparse_destroy(lp);
                cJSON_Delete(exp);
        }
        bitrise_client_destroy(c);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_sim_tokens_and_roles(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"" DEV "\", \"role\": \"developer\"},"
            "  {\"value\": \"bitwat_tester\", \"role\": \"tester\"},"
            "  {\"value\": \"bitwat_revoked\", \"role\": \"admin\", "
            "\"revoked\": true},"
            "  {\"value\": \"bitpat_per_app\", \"apps\": {\"" APP
            "\": \"none\"}}],"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            "  {\"slug\": \"b000000000000001\", \"triggered_at_s\": -1000, "
            "\"running_s\": 300, \"status\": 1, \"log\": {\"bytes\": 5000}}]},"
            "  {\"slug\": \"3247e2920496e846\"}, {\"slug\": "
            "\"c0ffee00c0ffee00\"}]}");
        bitrise_client_t *c = client_for(p, 10000);
        bitrise_result_t res;
        T_EQ_INT(build_get(c, "bitwat_tester", APP, "b000000000000001", &res),
                 BITRISE_OK);
        bitrise_result_release(&res);
        char err[256];
        bitrise_req_t *req = bitrise_req_builds_list(c, "bitwat_tester", APP, 0,
                                                     NULL, err, sizeof(err));
        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
        T_EQ_INT(res.builds.n, 1);
        T_EQ_STR(res.builds.slugs[0], "b000000000000001");
        bitrise_result_release(&res);
        bitrise_req_destroy(req);
        T_EQ_INT(log_info(c, "bitwat_tester", "b000000000000001", NULL, &res),
                 BITRISE_INSUFFICIENT_ROLE);
        T_EQ_INT(res.http_status, 403);
        T_EQ_INT(build_get(c, "bitwat_revoked", APP, "b000000000000001", &res),
                 BITRISE_TOKEN_INVALID);
        T_EQ_INT(build_get(c, "bitwat_unknown", APP, "b000000000000001", &res),
                 BITRISE_TOKEN_INVALID);
        T_EQ_INT(build_get(c, "bitpat_per_app", APP, "b000000000000001", &res),
                 BITRISE_NOT_FOUND);
        T_EQ_INT(build_get(c, DEV, APP, "ffffffffffffffff", &res),
                 BITRISE_NOT_FOUND);
        T_ASSERTF(strstr(res.message, "cannot get build ffffffffffffffff: HTTP "
                                      "404") == res.message,
                  "%s", res.message);
        T_EQ_INT(bitrise_apps_list_all(c, DEV, 0, &res), BITRISE_OK);
        T_EQ_INT(res.apps.n, 3);
        bitrise_result_release(&res);
        T_EQ_INT(bitrise_apps_list_all(c, "bitwat_revoked", 0, &res),
                 BITRISE_TOKEN_INVALID);
        bitrise_client_destroy(c);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_sim_quota_429(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"bitwat_quota\", \"role\": "
            "\"developer\","
            "  \"quota\": {\"limit\": 3, \"window_s\": 30, \"retry_after\": "
            "true,"
            "  \"headers\": true, \"reset\": \"epoch\"}}],"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            "  {\"slug\": \"b000000000000001\", \"triggered_at_s\": -1000, "
            "\"running_s\": 300, \"status\": 1}]}]}");
        bitrise_client_t *c = client_for(p, 10000);
        bitrise_result_t res;
        for (int i = 0; i < 3; i++) {
                T_EQ_INT(
                    build_get(c, "bitwat_quota", APP, "b000000000000001", &res),
                    BITRISE_OK);
                T_EQ_INT(res.rl.present, 1);
                T_EQ_INT(res.rl.limit, 3);
                T_EQ_INT(res.rl.remaining, 2 - i);
                bitrise_result_release(&res);
        }
        T_EQ_INT(build_get(c, "bitwat_quota", APP, "b000000000000001", &res),
                 BITRISE_RATE_LIMITED);
        T_EQ_INT(res.http_status, 429);
        T_ASSERTF(res.retry_after_ms > 0 && res.retry_after_ms <= 30000,
                  "retry after %lld", (long long)res.retry_after_ms);
        T_EQ_INT(res.rl.remaining, 0);
        /* epoch seconds: a reset within the window from now */
        T_ASSERT(res.rl.reset_at_ms > 1000000000000LL);
        bitrise_client_destroy(c);
        T_EQ_INT(sim_proc_stop(p), 0);
}

static void test_sim_faults(void) {
        static const struct {
                const char *faults;
                bitrise_class_t cls;
                const char *in_message;
        } cases[] = {
            {"{\"html\": 1}", BITRISE_TRANSIENT,
             "HTTP 502 (HTML page from a gateway)"},
            {"{\"error_5xx\": 1, \"status_5xx\": 504}", BITRISE_TRANSIENT,
             "HTTP 504 (\"simulated server error\")"},
            {"{\"invalid_json\": 1}", BITRISE_PERMANENT,
             "HTTP 200 with a bad body: invalid JSON"},
            {"{\"reset\": 1}", BITRISE_TRANSIENT, "cannot get build "},
            {"{\"truncate\": 1}", BITRISE_TRANSIENT, ", truncated body"},
            {"{\"slow_body\": 1, \"slow_bytes_per_s\": 1}", BITRISE_TRANSIENT,
             "timed out"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char scenario[1024];
                snprintf(scenario, sizeof(scenario),
                         "{\"tokens\": [{\"value\": \"" DEV
                         "\", \"role\": \"developer\"}],"
                         " \"apps\": [{\"slug\": \"" APP "\", \"faults\": %s,"
                         " \"builds\": [{\"slug\": \"b000000000000001\","
                         " \"triggered_at_s\": -1000, \"running_s\": 300, "
                         "\"status\": 1}]}]}",
                         cases[i].faults);
                sim_proc_t *p       = sim_test_start(scenario);
                bitrise_client_t *c = client_for(p, 1500);
                bitrise_result_t res;
                bitrise_class_t cls =
                    build_get(c, DEV, APP, "b000000000000001", &res);
                T_ASSERTF(cls == cases[i].cls, "%s: %s (%s)", cases[i].faults,
                          bitrise_class_name(cls), res.message);
                T_ASSERTF(strstr(res.message, cases[i].in_message), "%s: %s",
                          cases[i].faults, res.message);
                bitrise_result_release(&res);
                bitrise_client_destroy(c);
                T_EQ_INT(sim_proc_stop(p), 0);
        }
}

/* A running build: chunks arrive in pieces; following next_after_timestamp
 * and feeding chunks in position order gives the log the raw download will
 * give once archived. */
static void test_sim_running_build_chunks(void) {
        sim_proc_t *p = sim_test_start(
            "{\"log_chunks\": {\"chunk_bytes\": 512, \"max_chunks\": 5, "
            "\"order\": \"desc\"},"
            " \"tokens\": [{\"value\": \"" DEV "\", \"role\": \"developer\"}],"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            "  {\"slug\": \"b000000000000001\", \"triggered_at_s\": -3, "
            "\"running_s\": 4, \"status\": 2, \"archive_lag_s\": 1,"
            "   \"log\": {\"bytes\": 8000, \"steps\": 3, \"failing_step\": 2, "
            "\"exit_code\": 7}}]}]}");
        bitrise_client_t *c = client_for(p, 10000);
        bitrise_result_t res;
        T_EQ_INT(build_get(c, DEV, APP, "b000000000000001", &res), BITRISE_OK);
        T_EQ_INT(res.build.status, 0);
        T_ASSERT(!BITRISE_BUILD_FINISHED(&res.build));
        bitrise_result_release(&res);
        /* the simulator sends the newest chunks in descending order: the
         * client hands them over sorted, and following
         * next_after_timestamp only brings newer ones */
        T_EQ_INT(log_info(c, DEV, "b000000000000001", NULL, &res), BITRISE_OK);
        T_ASSERT(!res.log_info.is_archived && res.log_info.nchunks > 1);
        for (size_t i = 1; i < res.log_info.nchunks; i++)
                T_ASSERT(res.log_info.chunks[i].position >
                         res.log_info.chunks[i - 1].position);
        long last = res.log_info.chunks[res.log_info.nchunks - 1].position;
        T_ASSERT(res.log_info.next_after_timestamp != NULL);
        char after[64];
        snprintf(after, sizeof(after), "%s", res.log_info.next_after_timestamp);
        bitrise_result_release(&res);
        usleep(600000);
        T_EQ_INT(log_info(c, DEV, "b000000000000001", after, &res), BITRISE_OK);
        for (size_t i = 0; i < res.log_info.nchunks; i++)
                T_ASSERTF(res.log_info.chunks[i].position > last,
                          "chunk %ld after %ld",
                          res.log_info.chunks[i].position, last);
        bitrise_result_release(&res);
        /* wait for the build to finish and archive, then compare */
        int archived = 0;
        for (int i = 0; i < 100 && !archived; i++) {
                T_EQ_INT(log_info(c, DEV, "b000000000000001", NULL, &res),
                         BITRISE_OK);
                archived = res.log_info.is_archived;
                bitrise_result_release(&res);
                if (!archived)
                        usleep(100000);
        }
        T_ASSERT(archived);
        logparse_t *lp = raw_log(c, "b000000000000001");
        T_EQ_INT(logparse_failed_count(lp), 1);
        T_EQ_INT(logparse_failed_step(lp, 0)->exit_code, 7);
        T_EQ_INT(logparse_failed_step(lp, 0)->index, 2);
        logparse_destroy(lp);
        bitrise_client_destroy(c);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* Requests driven by one multi, one after the other, reuse the connection
 * the multi keeps: only the first one connects. */
static void test_sim_multi_reuses_connections(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"" DEV "\", \"role\": \"developer\"}],"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            "  {\"slug\": \"b000000000000001\", \"triggered_at_s\": -1000, "
            "\"running_s\": 300, \"status\": 1}]}]}");
        bitrise_client_t *c = client_for(p, 10000);
        CURLM *m            = curl_multi_init();
        long connects[10];
        for (int i = 0; i < 10; i++) {
                char err[256];
                bitrise_req_t *req = bitrise_req_build_get(
                    c, DEV, APP, "b000000000000001", err, sizeof(err));
                T_ASSERTF(req, "%s", err);
                curl_multi_add_handle(m, bitrise_req_easy(req));
                int running = 1, done = 0;
                for (int k = 0; k < 1000 && !done; k++) {
                        curl_multi_perform(m, &running);
                        CURLMsg *msg;
                        int left;
                        while ((msg = curl_multi_info_read(m, &left))) {
                                if (msg->msg != CURLMSG_DONE)
                                        continue;
                                curl_easy_getinfo(msg->easy_handle,
                                                  CURLINFO_NUM_CONNECTS,
                                                  &connects[i]);
                                curl_multi_remove_handle(m, msg->easy_handle);
                                bitrise_result_t res;
                                T_EQ_INT(bitrise_req_finish(
                                             req, msg->data.result, &res),
                                         BITRISE_OK);
                                bitrise_result_release(&res);
                                done = 1;
                        }
                        if (!done)
                                curl_multi_poll(m, NULL, 0, 20, NULL);
                }
                T_ASSERT(done);
                bitrise_req_destroy(req);
        }
        curl_multi_cleanup(m);
        T_EQ_INT(connects[0], 1);
        for (int i = 1; i < 10; i++)
                T_ASSERTF(connects[i] == 0, "request %d opened a connection",
                          i);
        bitrise_client_destroy(c);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* Chunks of a running build, shuffled, repeated and with position gaps,
 * collected through the client (newest first, scroll back with
 * before_timestamp, then follow after_timestamp) and fed to the parser in
 * position order give the same bytes and verdict as the archived raw log. */
static void test_sim_chunks_reassemble_like_raw_log(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"" DEV "\", \"role\": \"developer\"}],"
            " \"log_chunks\": {\"chunk_bytes\": 512, \"max_chunks\": 5, "
            "\"order\": \"shuffle\", \"repeat_share\": 0.3, \"gap_share\": "
            "0.25, "
            "\"first_position\": 0},"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": [{\"slug\": "
            "\"b000000000000001\", \"triggered_at_s\": 0, \"running_s\": 3, "
            "\"status\": 2, \"log\": {\"bytes\": 30000, \"steps\": 4, "
            "\"failing_step\": 2, \"exit_code\": 9, \"archive_lag_s\": "
            "1.5}}]}]}");
        bitrise_client_t *c = client_for(p, 10000);
        enum { MAXPOS = 512 };
        char *chunks[MAXPOS] = {0}, after[64] = "", err[256];
        int archived = 0, polls = 0;
        while (!archived && polls++ < 400) {
                bitrise_result_t res;
                bitrise_req_t *req =
                    bitrise_req_log_info_page(c, DEV, APP, "b000000000000001",
                                              after, NULL, err, sizeof(err));
                T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
                bitrise_req_destroy(req);
                archived        = res.log_info.is_archived;
                char before[64] = "";
                if (!after[0] && res.log_info.next_before_timestamp)
                        snprintf(before, sizeof(before), "%s",
                                 res.log_info.next_before_timestamp);
                for (int pass = 0; pass < 100; pass++) {
                        for (size_t i = 0; i < res.log_info.nchunks; i++) {
                                const bitrise_log_chunk_t *ch =
                                    &res.log_info.chunks[i];
                                T_ASSERT(ch->position >= 0 &&
                                         ch->position < MAXPOS);
                                if (!chunks[ch->position])
                                        chunks[ch->position] =
                                            strdup(ch->chunk);
                        }
                        if (res.log_info.next_after_timestamp && pass == 0)
                                snprintf(after, sizeof(after), "%s",
                                         res.log_info.next_after_timestamp);
                        bitrise_result_release(&res);
                        if (!before[0])
                                break;
                        req = bitrise_req_log_info_page(
                            c, DEV, APP, "b000000000000001", NULL, before, err,
                            sizeof(err));
                        T_EQ_INT(bitrise_req_perform(req, &res), BITRISE_OK);
                        bitrise_req_destroy(req);
                        snprintf(before, sizeof(before), "%s",
                                 res.log_info.next_before_timestamp
                                     ? res.log_info.next_before_timestamp
                                     : "");
                }
                if (!archived)
                        usleep(100000);
        }
        T_ASSERT(archived);
        logparse_t *from_chunks = logparse_new(NULL);
        for (int i = 0; i < MAXPOS; i++) {
                if (chunks[i])
                        logparse_feed(from_chunks, chunks[i],
                                      strlen(chunks[i]));
                free(chunks[i]);
        }
        T_EQ_INT(logparse_finish(from_chunks), 0);
        logparse_t *raw = raw_log(c, "b000000000000001");
        T_EQ_INT(logparse_bytes(from_chunks), logparse_bytes(raw));
        T_EQ_STR(logparse_sha256(from_chunks), logparse_sha256(raw));
        T_EQ_INT(logparse_failed_count(from_chunks), 1);
        T_EQ_INT(logparse_failed_step(from_chunks, 0)->exit_code, 9);
        T_EQ_STR(logparse_failed_step(from_chunks, 0)->title,
                 logparse_failed_step(raw, 0)->title);
        logparse_destroy(from_chunks);
        logparse_destroy(raw);
        bitrise_client_destroy(c);
        T_EQ_INT(sim_proc_stop(p), 0);
}

/* Archive lag, an expired raw log URL (403: ask /log again), a deleted log
 * (archived without URL) and the 404 on /log right after the trigger. */
static void test_sim_archive_lag_expiry_deleted_404(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"" DEV "\", \"role\": \"developer\"}],"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            "  {\"slug\": \"b000000000000001\", \"triggered_at_s\": -10, "
            "\"running_s\": 9.5, \"status\": 1, \"log\": {\"bytes\": 50000, "
            "\"archive_lag_s\": 2, \"url_valid_s\": 1}},"
            "  {\"slug\": \"b000000000000002\", \"triggered_at_s\": -100, "
            "\"running_s\": 10, \"status\": 1, \"log\": {\"deleted\": true}},"
            "  {\"slug\": \"b000000000000003\", \"triggered_at_s\": 0, "
            "\"running_s\": 100, \"status\": 1, \"log\": {\"not_found_s\": "
            "30}}]}]}");
        bitrise_client_t *c = client_for(p, 10000);
        bitrise_result_t res;
        char err[256];
        /* finished, not archived yet */
        T_EQ_INT(log_info(c, DEV, "b000000000000001", NULL, &res), BITRISE_OK);
        T_EQ_INT(res.log_info.is_archived, 0);
        T_ASSERT(res.log_info.raw_log_url == NULL);
        T_ASSERT(res.log_info.nchunks > 0);
        bitrise_result_release(&res);
        /* deleted: archived, no URL */
        T_EQ_INT(log_info(c, DEV, "b000000000000002", NULL, &res), BITRISE_OK);
        T_EQ_INT(res.log_info.is_archived, 1);
        T_ASSERT(res.log_info.raw_log_url == NULL);
        bitrise_result_release(&res);
        /* just triggered: /log is 404 for a while */
        T_EQ_INT(log_info(c, DEV, "b000000000000003", NULL, &res),
                 BITRISE_NOT_FOUND);
        /* once archived, the URL works, then expires: 403 */
        int archived = 0;
        for (int i = 0; i < 100 && !archived; i++) {
                T_EQ_INT(log_info(c, DEV, "b000000000000001", NULL, &res),
                         BITRISE_OK);
                archived = res.log_info.is_archived;
                if (!archived) {
                        bitrise_result_release(&res);
                        usleep(100000);
                }
        }
        T_ASSERT(archived && res.log_info.raw_log_url);
        usleep(3100000); /* expiry has one-second resolution */
        logparse_t *lp     = logparse_new(NULL);
        bitrise_req_t *req = bitrise_req_raw_log(c, res.log_info.raw_log_url,
                                                 lp, err, sizeof(err));
        bitrise_result_t dl;
        T_EQ_INT(bitrise_req_perform(req, &dl), BITRISE_INSUFFICIENT_ROLE);
        T_EQ_INT(dl.http_status, 403);
        T_EQ_INT(logparse_bytes(lp), 0);
        T_ASSERT(strstr(dl.message, "cannot download the raw log: HTTP 403") ==
                 dl.message);
        bitrise_req_destroy(req);
        logparse_destroy(lp);
        bitrise_result_release(&res);
        bitrise_client_destroy(c);
        T_EQ_INT(sim_proc_stop(p), 0);
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

static void test_sim_200mb_raw_log_flat_memory(void) {
        sim_proc_t *p = sim_test_start(
            "{\"tokens\": [{\"value\": \"" DEV "\", \"role\": \"developer\"}],"
            " \"apps\": [{\"slug\": \"" APP "\", \"builds\": ["
            "  {\"slug\": \"b000000000000001\", \"triggered_at_s\": -1000, "
            "\"running_s\": 600, \"status\": 2,"
            "   \"log\": {\"bytes\": 200000000, \"steps\": 20, "
            "\"failing_step\": 12}}]}]}");
        bitrise_client_t *c = client_for(p, 10000);
        cJSON *exp          = NULL;
        char err[256];
        T_ASSERTF(sim_proc_admin_get(
                      p, "/expected?app=" APP "&build=b000000000000001", &exp,
                      err, sizeof(err)) == 0,
                  "%s", err);
        double bytes = num(exp, "bytes"), lines = num(exp, "lines");
        cJSON_Delete(exp);
        T_ASSERT(bytes > 199e6);
        long before    = rss_kb();
        logparse_t *lp = raw_log(c, "b000000000000001");
        long after     = rss_kb();
        printf("  200 MB raw log: RSS before %ld kB, after %ld kB\n", before,
               after);
        T_EQ_INT(logparse_bytes(lp), bytes);
        T_EQ_INT(logparse_lines(lp), lines);
        T_EQ_INT(logparse_failed_count(lp), 1);
        T_EQ_INT(logparse_failed_step(lp, 0)->index, 12);
        T_ASSERTF(after - before < 16 * 1024, "RSS grew by %ld kB",
                  after - before);
        logparse_destroy(lp);
        bitrise_client_destroy(c);
        T_EQ_INT(sim_proc_stop(p), 0);
}

int main(void) {
        curl_global_init(CURL_GLOBAL_ALL);
        T_RUN(test_sim_builds_and_logs_match_expected);
        T_RUN(test_sim_tokens_and_roles);
        T_RUN(test_sim_quota_429);
        T_RUN(test_sim_faults);
        T_RUN(test_sim_running_build_chunks);
        T_RUN(test_sim_multi_reuses_connections);
        T_RUN(test_sim_chunks_reassemble_like_raw_log);
        T_RUN(test_sim_archive_lag_expiry_deleted_404);
        T_RUN(test_sim_200mb_raw_log_flat_memory);
        curl_global_cleanup();
        return t_done();
}
