/* workers/monitor_result.c — turns what a watch learnt (the Bitrise build,
 * the parsed log, an error) into the result JSON of DESIGN "Result", and a
 * build into the JSON kept in the shared build cache. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "producer/result.h"
#include "workers/monitor_int.h"

#define MONITOR_MAX_STEPS 64

static int add_time(cJSON *o, const char *k, int64_t ms) {
        char t[40];
        if (!ms)
                return cJSON_AddNullToObject(o, k) ? 0 : -1;
        time_rfc3339_format(ms, 1, t, sizeof(t));
        return cJSON_AddStringToObject(o, k, t) ? 0 : -1;
}

static int add_str(cJSON *o, const char *k, const char *v) {
        return (v ? cJSON_AddStringToObject(o, k, v)
                  : cJSON_AddNullToObject(o, k))
                   ? 0
                   : -1;
}

char *monitor_build_to_json(const bitrise_build_t *b) {
        cJSON *root = cJSON_CreateObject(), *d;
        char *out   = NULL;
        if (!root || !(d = cJSON_AddObjectToObject(root, "data")))
                goto out;
        if (add_str(d, "slug", b->slug) < 0 ||
            !cJSON_AddNumberToObject(d, "build_number", (double)b->number) ||
            !cJSON_AddNumberToObject(d, "status", b->status) ||
            add_str(d, "status_text", b->status_text) < 0 ||
            !cJSON_AddBoolToObject(d, "is_on_hold", b->is_on_hold) ||
            add_str(d, "triggered_workflow", b->workflow) < 0 ||
            add_str(d, "branch", b->branch) < 0 ||
            add_str(d, "commit_hash", b->commit_hash) < 0 ||
            !cJSON_AddNumberToObject(d, "pull_request_id",
                                     (double)b->pull_request_id) ||
            add_time(d, "triggered_at", b->triggered_at) < 0 ||
            add_time(d, "started_on_worker_at", b->started_at) < 0 ||
            add_time(d, "finished_at", b->finished_at) < 0 ||
            add_str(d, "abort_reason", b->abort_reason) < 0 ||
            add_str(d, "machine_type_id", b->machine_type) < 0 ||
            add_str(d, "stack_identifier", b->stack) < 0)
                goto out;
        out = cJSON_PrintUnformatted(root);
out:
        cJSON_Delete(root);
        return out;
}

static int64_t secs(double s) {
        return s < 0 ? -1 : (int64_t)(s + 0.5);
}

static void build_fill(const bitrise_build_t *b, result_build_t *rb) {
        *rb = (result_build_t){
            .number          = b->number,
            .status          = b->status,
            .status_text     = b->status_text,
            .workflow        = b->workflow,
            .branch          = b->branch,
            .commit_hash     = b->commit_hash,
            .pull_request_id = b->pull_request_id,
            .triggered_at_ms = b->triggered_at,
            .started_at_ms   = b->started_at,
            .finished_at_ms  = b->finished_at,
            .queued_s        = secs(b->queued_s),
            .duration_s      = secs(b->duration_s),
            .abort_reason    = b->abort_reason,
            .machine_type    = b->machine_type,
            .stack           = b->stack,
        };
        /* Still running: the duration so far (DESIGN: started → now). */
        if (!BITRISE_BUILD_FINISHED(b) && b->started_at) {
                int64_t now = time_wall_ms();
                rb->duration_s =
                    now > b->started_at ? (now - b->started_at) / 1000 : 0;
        }
}

static size_t log_fill(const logparse_t *lp, int archived, result_log_t *rl,
                       result_step_t *steps) {
        size_t n = logparse_failed_count(lp), ntail = 0;
        if (n > MONITOR_MAX_STEPS)
                n = MONITOR_MAX_STEPS;
        for (size_t i = 0; i < n; i++) {
                const logparse_step_t *s = logparse_failed_step(lp, i);
                steps[i]                 = (result_step_t){
                                    .title        = s->title,
                                    .step_id      = s->step_id,
                                    .exit_code    = s->exit_code,
                                    .duration_s   = secs(s->duration_s),
                                    .last_lines   = (const char *const *)s->last_lines,
                                    .n_last_lines = s->nlast,
                };
        }
        const char *const *tail = logparse_tail(lp, &ntail);
        *rl                     = (result_log_t){
                                .archived       = archived,
                                .bytes          = (int64_t)logparse_bytes(lp),
                                .lines          = (int64_t)logparse_lines(lp),
                                .truncated      = logparse_truncated(lp) != 0,
                                .sha256         = logparse_sha256(lp),
                                .failed_steps   = steps,
                                .n_failed_steps = n,
                                .tail           = tail,
                                .n_tail         = ntail,
        };
        return n;
}

char *monitor_result_json(const monitor_job_t *mj, watch_event_t ev, int final,
                          const bitrise_build_t *b, const logparse_t *lp,
                          int log_archived, const logseg_ref_t *full,
                          const watch_error_t *err, const char *worker,
                          char *errstr, size_t errstr_size) {
        const job_t *j = mj->job;
        result_build_t rb;
        result_log_t rl;
        result_step_t steps[MONITOR_MAX_STEPS];
        result_error_t re;
        char msg[768];
        result_t r = {
            .job_id     = j->job_id,
            .workspace  = j->workspace,
            .app_slug   = j->app_slug,
            .build_slug = j->build_slug,
            .attrs_json = j->attrs_json,
            .event      = ev == WATCH_EV_STATUS     ? RESULT_EVENT_STATUS
                          : ev == WATCH_EV_FINISHED ? RESULT_EVENT_FINISHED
                                                    : RESULT_EVENT_ERROR,
            .worker     = worker,
            .final      = final && ev == WATCH_EV_STATUS,
        };
        if (b) {
                build_fill(b, &rb);
                r.build = &rb;
        }
        if (ev == WATCH_EV_FINISHED && j->log != JOB_LOG_NONE) {
                if (lp) {
                        log_fill(lp, log_archived, &rl, steps);
                        rl.full_asked = j->log == JOB_LOG_FULL;
                        rl.full       = full;
                        r.log         = &rl;
                } else if (err && watch_log_gone_name(err->log_gone)) {
                        rl = (result_log_t){
                            .archived    = err->log_archived != 0,
                            .unavailable = watch_log_gone_name(err->log_gone),
                        };
                        r.log = &rl;
                }
        }
        if (ev == WATCH_EV_ERROR) {
                if (!err) {
                        snprintf(errstr, errstr_size,
                                 "error event without error");
                        return NULL;
                }
                re = result_error_make((result_errcode_t)err->code);
                if (!re.code) {
                        snprintf(errstr, errstr_size, "unknown error code %d",
                                 (int)err->code);
                        return NULL;
                }
                if (err->message && *err->message) {
                        snprintf(msg, sizeof(msg), "%s (%s)", re.message,
                                 err->message);
                        re.message = msg;
                }
                r.error = &re;
        }
        return result_to_json(&r, errstr, errstr_size);
}
