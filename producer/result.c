/* producer/result.c — encode results as JSON, in DESIGN order, and the table
 * of terminal error codes with what the operator should do about each. */
#include "producer/result.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"

/* Messages follow the Bitrise setup guide's wording for workspace API
 * tokens; each names the fix. */
static const result_errinfo_t errinfo[RESULT_ERR__COUNT] = {
    {RESULT_ERR_TOKEN_MISSING, "token_missing",
     "no Bitrise token is stored for this workspace: create a Workspace API "
     "token in Bitrise (Workspace settings > API tokens) with the Developer "
     "role or higher and store it with `bitmon connect --workspace`",
     false},
    {RESULT_ERR_TOKEN_INVALID, "token_invalid",
     "Bitrise rejected the workspace token (401): it is mistyped, expired or "
     "revoked; create a new Workspace API token in Bitrise and store it with "
     "`bitmon connect --workspace`",
     false},
    {RESULT_ERR_INSUFFICIENT_ROLE, "insufficient_role",
     "the workspace token's role for this app is below Developer (403): give "
     "the token the Developer role or higher for the app in Workspace "
     "settings > API tokens",
     false},
    {RESULT_ERR_NOT_FOUND, "not_found",
     "Bitrise does not know this app or build, or the workspace token cannot "
     "reach it (404): check the app and build slugs and that the app belongs "
     "to the token's workspace with a role other than None",
     false},
    {RESULT_ERR_UPSTREAM_UNAVAILABLE, "upstream_unavailable",
     "Bitrise was unreachable or answered 5xx past the retry budget: check "
     "status.bitrise.io and the network path; submitting the job again is "
     "safe",
     true},
    {RESULT_ERR_RATE_LIMITED, "rate_limited",
     "the workspace token's request budget stayed exhausted until the job's "
     "deadline: submit fewer jobs for this workspace or raise its budget",
     true},
    {RESULT_ERR_DEADLINE_EXCEEDED, "deadline_exceeded",
     "the build was still running at the job's deadline: submit the job "
     "again with a longer deadline_s to keep watching it",
     true},
    {RESULT_ERR_LOG_UNAVAILABLE, "log_unavailable",
     "the build finished but Bitrise did not archive its log within the "
     "budget: the build fields are filled; read the log in Bitrise later",
     true},
};

const result_errinfo_t *result_errinfo(result_errcode_t id) {
        return (unsigned)id < RESULT_ERR__COUNT ? &errinfo[id] : NULL;
}

const result_errinfo_t *result_errinfo_find(const char *code) {
        for (int i = 0; i < RESULT_ERR__COUNT; i++)
                if (strcmp(errinfo[i].code, code) == 0)
                        return &errinfo[i];
        return NULL;
}

result_error_t result_error_make(result_errcode_t id) {
        const result_errinfo_t *e = result_errinfo(id);
        if (!e)
                e = &errinfo[RESULT_ERR_UPSTREAM_UNAVAILABLE];
        return (result_error_t){e->code, e->message, e->retryable};
}

const char *result_event_name(result_event_t ev) {
        switch (ev) {
        case RESULT_EVENT_STATUS:
                return "status";
        case RESULT_EVENT_FINISHED:
                return "finished";
        case RESULT_EVENT_ERROR:
                return "error";
        }
        return "status";
}

void result_key(const result_t *r, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s", r->app_slug ? r->app_slug : "",
                 r->build_slug ? r->build_slug : "");
}

/* Helpers that add null for unknown values; each returns 0 or -1 (OOM). */
static int add_str(cJSON *o, const char *k, const char *v) {
        return (v ? cJSON_AddStringToObject(o, k, v)
                  : cJSON_AddNullToObject(o, k))
                   ? 0
                   : -1;
}

static int add_int(cJSON *o, const char *k, int64_t v, int64_t unknown) {
        return (v == unknown ? cJSON_AddNullToObject(o, k)
                             : cJSON_AddNumberToObject(o, k, (double)v))
                   ? 0
                   : -1;
}

static int add_time(cJSON *o, const char *k, int64_t ms) {
        char t[40];
        return add_str(o, k,
                       ms ? time_rfc3339_format(ms, 0, t, sizeof(t)) : NULL);
}

static int add_lines(cJSON *o, const char *k, const char *const *v, size_t n) {
        cJSON *a = cJSON_AddArrayToObject(o, k);
        if (!a)
                return -1;
        for (size_t i = 0; i < n; i++) {
                cJSON *s = cJSON_CreateString(v[i] ? v[i] : "");
                if (!s || !cJSON_AddItemToArray(a, s)) {
                        cJSON_Delete(s);
                        return -1;
                }
        }
        return 0;
}

static int add_build(cJSON *root, const result_build_t *b) {
        if (!b)
                return cJSON_AddNullToObject(root, "build") ? 0 : -1;
        cJSON *o = cJSON_AddObjectToObject(root, "build");
        if (!o)
                return -1;
        if (add_int(o, "number", b->number, -1) ||
            add_int(o, "status", b->status, -1) ||
            add_str(o, "status_text", b->status_text) ||
            add_str(o, "workflow", b->workflow) ||
            add_str(o, "branch", b->branch) ||
            add_str(o, "commit_hash", b->commit_hash) ||
            add_int(o, "pull_request_id", b->pull_request_id, -1) ||
            add_time(o, "triggered_at", b->triggered_at_ms) ||
            add_time(o, "started_at", b->started_at_ms) ||
            add_time(o, "finished_at", b->finished_at_ms) ||
            add_int(o, "queued_s", b->queued_s, -1) ||
            add_int(o, "duration_s", b->duration_s, -1) ||
            add_str(o, "abort_reason", b->abort_reason) ||
            add_str(o, "machine_type", b->machine_type) ||
            add_str(o, "stack", b->stack))
                return -1;
        return 0;
}

static int add_step(cJSON *arr, const result_step_t *s) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
                cJSON_Delete(o);
                return -1;
        }
        return add_str(o, "title", s->title) ||
                       add_str(o, "step_id", s->step_id) ||
                       add_int(o, "exit_code", s->exit_code, -1) ||
                       add_int(o, "duration_s", s->duration_s, -1) ||
                       add_lines(o, "last_lines", s->last_lines,
                                 s->n_last_lines)
                   ? -1
                   : 0;
}

static int add_log(cJSON *root, const result_log_t *l) {
        if (!l)
                return cJSON_AddNullToObject(root, "log") ? 0 : -1;
        cJSON *o = cJSON_AddObjectToObject(root, "log");
        cJSON *steps;
        if (!o || !cJSON_AddBoolToObject(o, "archived", l->archived) ||
            add_int(o, "bytes", l->bytes, -1) ||
            add_int(o, "lines", l->lines, -1) ||
            !cJSON_AddBoolToObject(o, "truncated", l->truncated) ||
            add_str(o, "sha256", l->sha256) ||
            !(steps = cJSON_AddArrayToObject(o, "failed_steps")))
                return -1;
        for (size_t i = 0; i < l->n_failed_steps; i++)
                if (add_step(steps, &l->failed_steps[i]) < 0)
                        return -1;
        return add_lines(o, "tail", l->tail, l->n_tail);
}

static int add_error(cJSON *root, const result_error_t *e) {
        const result_errinfo_t *info = result_errinfo_find(e->code);
        const char *msg = e->message ? e->message : info ? info->message : "";
        cJSON *o        = cJSON_AddObjectToObject(root, "error");
        return o && !add_str(o, "code", e->code) &&
                       !add_str(o, "message", msg) &&
                       cJSON_AddBoolToObject(o, "retryable", e->retryable)
                   ? 0
                   : -1;
}

static int add_job(cJSON *root, const result_t *r, char *errstr,
                   size_t errstr_size) {
        cJSON *attrs = cJSON_Parse(r->attrs_json ? r->attrs_json : "{}");
        if (!attrs || !cJSON_IsObject(attrs)) {
                snprintf(errstr, errstr_size, "attrs is not a JSON object");
                cJSON_Delete(attrs);
                return -1;
        }
        if (!cJSON_AddNumberToObject(root, "v", RESULT_VERSION) ||
            add_str(root, "job_id", r->job_id) ||
            add_str(root, "workspace", r->workspace) ||
            add_str(root, "app_slug", r->app_slug) ||
            add_str(root, "build_slug", r->build_slug) ||
            !cJSON_AddItemToObject(root, "attrs", attrs)) {
                cJSON_Delete(attrs);
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        return 0;
}

char *result_to_json(const result_t *r, char *errstr, size_t errstr_size) {
        cJSON *root = NULL;
        char *out   = NULL;
        char t[40];

        if (!r->job_id || !r->workspace || !r->app_slug || !r->build_slug) {
                snprintf(errstr, errstr_size, "result lacks its job fields");
                goto out;
        }
        if (r->event == RESULT_EVENT_ERROR && (!r->error || !r->error->code)) {
                snprintf(errstr, errstr_size, "error event without error code");
                goto out;
        }
        root = cJSON_CreateObject();
        if (!root) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        if (add_job(root, r, errstr, errstr_size) < 0)
                goto out;
        snprintf(errstr, errstr_size, "out of memory");
        if (!cJSON_AddStringToObject(root, "event",
                                     result_event_name(r->event)) ||
            add_build(root, r->build) < 0 ||
            (r->event == RESULT_EVENT_FINISHED && add_log(root, r->log) < 0) ||
            (r->event == RESULT_EVENT_ERROR && add_error(root, r->error) < 0))
                goto out;
        time_rfc3339_format(r->observed_at_ms ? r->observed_at_ms
                                              : time_wall_ms(),
                            1, t, sizeof(t));
        if (add_str(root, "observed_at", t) < 0 ||
            add_str(root, "worker", r->worker) < 0 ||
            (r->final && !cJSON_AddBoolToObject(root, "final", 1)))
                goto out;
        out = cJSON_PrintUnformatted(root);
        if (out)
                errstr[0] = '\0';
out:
        cJSON_Delete(root);
        return out;
}
