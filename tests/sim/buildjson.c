/* tests/sim/buildjson.c — the Build object as JSON text.
 *
 * The hot path of the simulator (a build GET) writes its JSON by hand: cJSON
 * prints each number with snprintf and re-reads it with sscanf, which costs
 * more than the rest of the request. Field order and null-ness follow the
 * real captured responses (bitrise-api/real/mcp_before_get_build.json).
 */
#include "tests/sim/sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/timeutil.h"

static void put_str(buf_t *o, const char *s) {
        static const char hex[] = "0123456789abcdef";
        const char *run         = s;
        buf_append(o, "\"", 1);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                buf_append(o, run, (size_t)(s - run));
                if (c == '"' || c == '\\') {
                        char e[2] = {'\\', (char)c};
                        buf_append(o, e, 2);
                } else {
                        char e[6] = {'\\', 'u',         '0',
                                     '0',  hex[c >> 4], hex[c & 15]};
                        buf_append(o, e, 6);
                }
                run = s + 1;
        }
        buf_append(o, run, (size_t)(s - run));
        buf_append(o, "\"", 1);
}

/* ,"key": */
static void put_key(buf_t *o, const char *key, bool first) {
        if (!first)
                buf_append(o, ",", 1);
        put_str(o, key);
        buf_append(o, ":", 1);
}

static void put_str_or_null(buf_t *o, const char *key, const char *v) {
        put_key(o, key, false);
        if (v && v[0])
                put_str(o, v);
        else
                buf_append(o, "null", 4);
}

static void put_time(buf_t *o, const char *key, int64_t ms, bool first) {
        char t[40];
        put_key(o, key, first);
        if (ms)
                put_str(o, time_rfc3339_format(ms, 0, t, sizeof(t)));
        else
                buf_append(o, "null", 4);
}

static void put_int(buf_t *o, const char *key, int64_t v) {
        char n[24];
        int len = snprintf(n, sizeof(n), "%" PRId64, v);
        put_key(o, key, false);
        buf_append(o, n, (size_t)len);
}

static void put_bool(buf_t *o, const char *key, bool v) {
        put_key(o, key, false);
        buf_append_str(o, v ? "true" : "false");
}

static void put_params(buf_t *o, const sim_build_t *b) {
        char pr[24];
        put_key(o, "original_build_params", false);
        buf_append(o, "{", 1);
        put_key(o, "branch", true);
        put_str(o, b->branch);
        if (b->commit_hash[0]) {
                put_key(o, "commit_hash", false);
                put_str(o, b->commit_hash);
        }
        if (b->pull_request_id) {
                snprintf(pr, sizeof(pr), "%" PRId64, b->pull_request_id);
                put_key(o, "pull_request_id", false);
                put_str(o, pr);
                put_key(o, "branch_dest", false);
                put_str(o, b->pr_target);
        }
        put_key(o, "workflow_id", false);
        put_str(o, b->workflow);
        buf_append(o, "}", 1);
}

void sim_build_json_write(buf_t *o, const sim_build_t *b,
                          const sim_state_t *st) {
        bool done = st->status != 0;
        buf_append(o, "{", 1);
        put_time(o, "triggered_at", b->triggered_ms, true);
        put_time(o, "started_on_worker_at", st->started_ms, false);
        put_time(o, "environment_prepare_finished_at", st->started_ms, false);
        put_time(o, "finished_at", st->finished_ms, false);
        put_key(o, "slug", false);
        put_str(o, b->slug);
        put_int(o, "status", st->status);
        put_key(o, "status_text", false);
        put_str(o, sim_status_text(st->status, st->on_hold));
        put_str_or_null(o, "abort_reason",
                        st->status >= 3 ? b->abort_reason : NULL);
        put_bool(o, "is_on_hold", st->on_hold);
        put_bool(o, "is_processed", done);
        put_bool(o, "is_status_sent", done);
        put_str_or_null(o, "branch", b->branch);
        put_int(o, "build_number", b->build_number);
        put_str_or_null(o, "commit_hash", b->commit_hash);
        put_str_or_null(o, "commit_message", b->commit_message);
        put_str_or_null(o, "tag", b->tag);
        put_str_or_null(o, "triggered_workflow", b->workflow);
        put_str_or_null(o, "triggered_by", b->triggered_by);
        put_str_or_null(o, "machine_type_id", b->machine_type);
        put_str_or_null(o, "stack_identifier", b->stack);
        put_str_or_null(o, "stack_config_type",
                        "standard1"); /* older responses */
        put_params(o, b);
        put_str_or_null(o, "pipeline_workflow_id", NULL);
        put_int(o, "pull_request_id", b->pull_request_id);
        put_str_or_null(o, "pull_request_target_branch",
                        b->pull_request_id ? b->pr_target : NULL);
        put_str_or_null(o, "pull_request_view_url", NULL);
        put_str_or_null(o, "commit_view_url", NULL);
        if (done)
                put_int(o, "credit_cost",
                        (st->finished_ms - b->triggered_ms) / 60000 + 1);
        else
                put_str_or_null(o, "credit_cost", NULL);
        put_str_or_null(o, "log_format", "json");
        put_bool(o, "rebuildable", done);
        buf_append(o, "}", 1);
}

cJSON *sim_build_json(const sim_build_t *b, const sim_state_t *st) {
        buf_t o;
        cJSON *raw;
        buf_init(&o, 0);
        sim_build_json_write(&o, b, st);
        raw = cJSON_CreateRaw(buf_cstr(&o));
        buf_release(&o);
        return raw;
}
