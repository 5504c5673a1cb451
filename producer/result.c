/* producer/result.c — encode results as JSON, in DESIGN order, and the table
 * of terminal error codes with what the operator should do about each. */
#include "producer/result.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
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

/* ---- the encoder -------------------------------------------------------
 *
 * Results are written straight into one buffer: a finished result carries
 * ~150 strings (tail and step lines), and building a cJSON tree of them and
 * printing it cost ~30 instructions per output byte (allocations, and
 * cJSON's byte-at-a-time string printer); this costs ~3. Strings are escaped
 * exactly as cJSON_Print does (", \, \b \f \n \r \t, other bytes below 0x20
 * as \u00XX, everything else as is), so the bytes are those cJSON produced,
 * which test_result checks. attrs, an object from the job, still goes through
 * cJSON: it is parsed (an object, or the result is refused) and reprinted. */

#define RESULT_MAX_BYTES (16 * 1024 * 1024)

typedef struct jw {
        buf_t b;
        bool comma; /* a value was written at this level: next needs ',' */
        int err;
} jw_t;

static void jw_raw(jw_t *w, const char *p, size_t n) {
        if (!w->err && buf_append(&w->b, p, n) != 0)
                w->err = -1;
}

static void jw_sep(jw_t *w) {
        if (w->comma)
                jw_raw(w, ",", 1);
        w->comma = true;
}

/* Nonzero when one of the 8 bytes of x needs escaping: below 0x20, '"' or
 * '\' (the usual "has a zero byte" bit trick, exact for "any"). */
static uint64_t jw_special8(uint64_t x) {
        const uint64_t ones = 0x0101010101010101ULL, highs = ones * 0x80;
        uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
        return ((x - ones * 0x20) & ~x & highs) | ((q - ones) & ~q & highs) |
               ((b - ones) & ~b & highs);
}

static void jw_escaped(jw_t *w, const char *s) {
        static const char hex[] = "0123456789abcdef";
        size_t n = strlen(s), run = 0, i = 0;
        jw_raw(w, "\"", 1);
        while (i < n) {
                uint64_t x;
                if (i + 8 <= n) { /* plain text goes 8 bytes at a time */
                        memcpy(&x, s + i, 8);
                        if (!jw_special8(x)) {
                                i += 8;
                                continue;
                        }
                }
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c != '"' && c != '\\') {
                        i++;
                        continue;
                }
                jw_raw(w, s + run, i - run);
                char e[6] = {'\\', (char)c};
                size_t en = 2;
                switch (c) {
                case '"':
                case '\\':
                        break;
                case '\b':
                        e[1] = 'b';
                        break;
                case '\f':
                        e[1] = 'f';
                        break;
                case '\n':
                        e[1] = 'n';
                        break;
                case '\r':
                        e[1] = 'r';
                        break;
                case '\t':
                        e[1] = 't';
                        break;
                default:
                        memcpy(e + 1, "u00", 3);
                        e[4] = hex[c >> 4];
                        e[5] = hex[c & 15];
                        en   = 6;
                }
                jw_raw(w, e, en);
                run = ++i;
        }
        jw_raw(w, s + run, n - run);
        jw_raw(w, "\"", 1);
}

static void jw_key(jw_t *w, const char *k) { /* keys are our literals */
        jw_sep(w);
        jw_raw(w, "\"", 1);
        jw_raw(w, k, strlen(k));
        jw_raw(w, "\":", 2);
        w->comma = false;
}

static void jw_open(jw_t *w, const char *k, char c) {
        if (k)
                jw_key(w, k);
        else
                jw_sep(w);
        jw_raw(w, &c, 1);
        w->comma = false;
}

static void jw_close(jw_t *w, char c) {
        jw_raw(w, &c, 1);
        w->comma = true;
}

static void jw_str(jw_t *w, const char *k, const char *v) {
        jw_key(w, k);
        if (v)
                jw_escaped(w, v);
        else
                jw_raw(w, "null", 4);
        w->comma = true;
}

static void jw_int(jw_t *w, const char *k, int64_t v, int64_t unknown) {
        char n[24];
        jw_key(w, k);
        if (v == unknown)
                jw_raw(w, "null", 4);
        else
                jw_raw(w, n,
                       (size_t)snprintf(n, sizeof(n), "%lld", (long long)v));
        w->comma = true;
}

static void jw_bool(jw_t *w, const char *k, bool v) {
        jw_key(w, k);
        jw_raw(w, v ? "true" : "false", v ? 4 : 5);
        w->comma = true;
}

static void jw_time(jw_t *w, const char *k, int64_t ms, int frac) {
        char t[40];
        jw_str(w, k, ms ? time_rfc3339_format(ms, frac, t, sizeof(t)) : NULL);
}

static void jw_lines(jw_t *w, const char *k, const char *const *v, size_t n) {
        jw_open(w, k, '[');
        for (size_t i = 0; i < n; i++) {
                jw_sep(w);
                jw_escaped(w, v[i] ? v[i] : "");
        }
        jw_close(w, ']');
}

static void add_build(jw_t *w, const result_build_t *b) {
        if (!b) {
                jw_str(w, "build", NULL);
                return;
        }
        jw_open(w, "build", '{');
        jw_int(w, "number", b->number, -1);
        jw_int(w, "status", b->status, -1);
        jw_str(w, "status_text", b->status_text);
        jw_str(w, "workflow", b->workflow);
        jw_str(w, "branch", b->branch);
        jw_str(w, "commit_hash", b->commit_hash);
        jw_int(w, "pull_request_id", b->pull_request_id, -1);
        jw_time(w, "triggered_at", b->triggered_at_ms, 0);
        jw_time(w, "started_at", b->started_at_ms, 0);
        jw_time(w, "finished_at", b->finished_at_ms, 0);
        jw_int(w, "queued_s", b->queued_s, -1);
        jw_int(w, "duration_s", b->duration_s, -1);
        jw_str(w, "abort_reason", b->abort_reason);
        jw_str(w, "machine_type", b->machine_type);
        jw_str(w, "stack", b->stack);
        jw_close(w, '}');
}

static void add_step(jw_t *w, const result_step_t *s) {
        jw_open(w, NULL, '{');
        jw_str(w, "title", s->title);
        jw_str(w, "step_id", s->step_id);
        jw_int(w, "exit_code", s->exit_code, -1);
        jw_int(w, "duration_s", s->duration_s, -1);
        jw_lines(w, "last_lines", s->last_lines, s->n_last_lines);
        jw_close(w, '}');
}

/* log.full: where the copy of the whole log is (producer/logseg.h). */
static void add_full(jw_t *w, const logseg_ref_t *r) {
        if (!r) {
                jw_str(w, "full", NULL);
                return;
        }
        jw_open(w, "full", '{');
        jw_str(w, "topic", r->topic);
        jw_int(w, "partition", r->partition, INT64_MIN);
        jw_open(w, "offsets", '[');
        for (size_t i = 0; i < r->n; i++) {
                char n[24];
                jw_sep(w);
                jw_raw(w, n,
                       (size_t)snprintf(n, sizeof(n), "%lld",
                                        (long long)r->offsets[i]));
        }
        jw_close(w, ']');
        jw_int(w, "segments", (int64_t)r->n, INT64_MIN);
        jw_int(w, "bytes", (int64_t)r->bytes, INT64_MIN);
        jw_str(w, "sha256", r->sha256);
        jw_bool(w, "truncated", r->truncated);
        jw_str(w, "copy", r->copy);
        jw_close(w, '}');
}

static void add_log(jw_t *w, const result_log_t *l) {
        if (!l) {
                jw_str(w, "log", NULL);
                return;
        }
        jw_open(w, "log", '{');
        jw_bool(w, "available", l->unavailable == NULL);
        jw_str(w, "unavailable", l->unavailable);
        jw_bool(w, "archived", l->archived);
        jw_int(w, "bytes", l->bytes, -1);
        jw_int(w, "lines", l->lines, -1);
        jw_bool(w, "truncated", l->truncated);
        jw_str(w, "sha256", l->sha256);
        jw_open(w, "failed_steps", '[');
        for (size_t i = 0; i < l->n_failed_steps; i++)
                add_step(w, &l->failed_steps[i]);
        jw_close(w, ']');
        jw_lines(w, "tail", l->tail, l->n_tail);
        if (l->full_asked)
                add_full(w, l->full);
        jw_close(w, '}');
}

static void add_error(jw_t *w, const result_error_t *e) {
        const result_errinfo_t *info = result_errinfo_find(e->code);
        const char *msg = e->message ? e->message : info ? info->message : "";
        jw_open(w, "error", '{');
        jw_str(w, "code", e->code);
        jw_str(w, "message", msg);
        jw_bool(w, "retryable", e->retryable);
        jw_close(w, '}');
}

/* The job's attrs, an object, as cJSON prints it. 0 or -1 (errstr). */
static int add_attrs(jw_t *w, const char *attrs_json, char *errstr,
                     size_t errstr_size) {
        cJSON *attrs = cJSON_Parse(attrs_json ? attrs_json : "{}");
        char *text   = attrs && cJSON_IsObject(attrs)
                           ? cJSON_PrintUnformatted(attrs)
                           : NULL;
        cJSON_Delete(attrs);
        if (!text) {
                snprintf(errstr, errstr_size, "attrs is not a JSON object");
                return -1;
        }
        jw_key(w, "attrs");
        jw_raw(w, text, strlen(text));
        w->comma = true;
        free(text);
        return 0;
}

char *result_to_json(const result_t *r, char *errstr, size_t errstr_size) {
        jw_t w = {.comma = false};

        if (!r->job_id || !r->workspace || !r->app_slug || !r->build_slug) {
                snprintf(errstr, errstr_size, "result lacks its job fields");
                return NULL;
        }
        if (r->event == RESULT_EVENT_ERROR && (!r->error || !r->error->code)) {
                snprintf(errstr, errstr_size, "error event without error code");
                return NULL;
        }
        buf_init(&w.b, RESULT_MAX_BYTES);
        jw_open(&w, NULL, '{');
        jw_int(&w, "v", RESULT_VERSION, -1);
        jw_str(&w, "job_id", r->job_id);
        jw_str(&w, "workspace", r->workspace);
        jw_str(&w, "app_slug", r->app_slug);
        jw_str(&w, "build_slug", r->build_slug);
        if (add_attrs(&w, r->attrs_json, errstr, errstr_size) < 0) {
                buf_release(&w.b);
                return NULL;
        }
        jw_str(&w, "event", result_event_name(r->event));
        add_build(&w, r->build);
        if (r->event == RESULT_EVENT_FINISHED)
                add_log(&w, r->log);
        if (r->event == RESULT_EVENT_ERROR)
                add_error(&w, r->error);
        jw_time(&w, "observed_at",
                r->observed_at_ms ? r->observed_at_ms : time_wall_ms(), 1);
        jw_str(&w, "worker", r->worker);
        if (r->final)
                jw_bool(&w, "final", true);
        jw_close(&w, '}');
        if (w.err) {
                snprintf(errstr, errstr_size,
                         "result is larger than %d bytes or out of memory",
                         RESULT_MAX_BYTES);
                buf_release(&w.b);
                return NULL;
        }
        errstr[0] = '\0';
        return buf_detach(&w.b);
}
