/* producer/result.h — the result message of the results topic (DESIGN
 * "Result"): plain input structs and the JSON encoder, plus the table of
 * terminal error codes with their operator messages.
 *
 * The structs borrow every string and array (NULL = unknown, encoded as
 * JSON null); nothing here allocates except result_to_json's output. There
 * is deliberately no field for the log's presigned URL: it can never reach
 * Kafka. All functions are thread-safe.
 */
#ifndef BITMON_PRODUCER_RESULT_H
#define BITMON_PRODUCER_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "producer/logseg.h"

#define RESULT_VERSION 1

typedef enum {
        RESULT_EVENT_STATUS = 0, /* status changed while watching */
        RESULT_EVENT_FINISHED,   /* terminal: the build is done */
        RESULT_EVENT_ERROR,      /* terminal: the job could not finish */
} result_event_t;

/* Build fields. Times are ms since the epoch, 0 = none (null); durations
 * and ids are -1 when unknown (null). */
typedef struct result_build {
        int64_t number;          /* build_number, -1 = unknown */
        int status;              /* Bitrise status 0..4, -1 = unknown */
        const char *status_text; /* "in-progress", "success", "error", ... */
        const char *workflow;    /* triggered_workflow */
        const char *branch;
        const char *commit_hash;
        int64_t pull_request_id; /* -1 = unknown; 0 = not a PR */
        int64_t triggered_at_ms, started_at_ms, finished_at_ms;
        int64_t queued_s;   /* triggered → started on a worker */
        int64_t duration_s; /* started → finished (or now) */
        const char *abort_reason;
        const char *machine_type; /* machine_type_id */
        const char *stack;        /* stack_identifier */
} result_build_t;

/* A failed step of the log summary. */
typedef struct result_step {
        const char *title;
        const char *step_id;
        int exit_code;      /* -1 = unknown (null) */
        int64_t duration_s; /* -1 = unknown (null) */
        const char *const *last_lines;
        size_t n_last_lines;
} result_step_t;

/* The log summary. A log that could not be read has `unavailable` set (why:
 * "deleted", "not_archived", "download_failed", "deadline") and nothing
 * else but `archived`; it is written with the same fields (zero, empty,
 * null), so readers see one shape. */
typedef struct result_log {
        bool archived;
        int64_t bytes, lines;
        bool truncated;     /* hit the download byte cap */
        const char *sha256; /* hex of the bytes read, NULL = not computed */
        const result_step_t *failed_steps;
        size_t n_failed_steps;
        const char *const *tail;
        size_t n_tail;
        const char *unavailable;  /* NULL = read (available) */
        bool full_asked;          /* log: full: write "full" (the copy in the
                                   * logs topic, or null without one) */
        const logseg_ref_t *full; /* NULL = "full": null */
} result_log_t;

typedef struct result_error {
        const char *code;    /* one of the RESULT_ERR_* codes below */
        const char *message; /* NULL = the code's default message */
        bool retryable;
} result_error_t;

/* One result. Job fields come from the job (attrs_json is its compact JSON
 * object text, copied in as JSON; NULL = {}). `build` NULL = null; `log` is
 * written on finished events only (omitted when NULL or on other events);
 * `error` on error events only (required there). */
typedef struct result {
        const char *job_id, *workspace, *app_slug, *build_slug;
        const char *attrs_json;
        result_event_t event;
        const result_build_t *build;
        const result_log_t *log;
        const result_error_t *error;
        int64_t observed_at_ms; /* 0 = now */
        const char *worker;     /* pod/host name and thread, e.g. "pod-7/w3" */
        bool final; /* a `status` that ends its job (follow=false on a
                     * running build): written as "final": true; omitted
                     * when false */
} result_t;

/* Encodes r as compact JSON with the fields in DESIGN order. Returns a
 * malloc'ed string (caller frees) or NULL with the reason in errstr
 * (missing job fields, an error event without error, invalid attrs,
 * allocation failure). */
char *result_to_json(const result_t *r, char *errstr, size_t errstr_size);

/* Writes the message key "<app_slug>/<build_slug>" into buf. */
void result_key(const result_t *r, char *buf, size_t size);

const char *result_event_name(result_event_t ev);

/* ---- terminal error codes (DESIGN "Result") ---- */

typedef enum {
        RESULT_ERR_TOKEN_MISSING = 0,
        RESULT_ERR_TOKEN_INVALID,
        RESULT_ERR_INSUFFICIENT_ROLE,
        RESULT_ERR_NOT_FOUND,
        RESULT_ERR_UPSTREAM_UNAVAILABLE,
        RESULT_ERR_RATE_LIMITED,
        RESULT_ERR_DEADLINE_EXCEEDED,
        RESULT_ERR__COUNT,
} result_errcode_t;

typedef struct result_errinfo {
        result_errcode_t id;
        const char *code;    /* "token_invalid" */
        const char *message; /* what the operator should do */
        bool retryable;      /* may succeed if the job is submitted again */
} result_errinfo_t;

/* The table row for a code; NULL for an out-of-range id. Static storage. */
const result_errinfo_t *result_errinfo(result_errcode_t id);

/* Looks a code up by name; NULL when unknown. */
const result_errinfo_t *result_errinfo_find(const char *code);

/* Fills an error from the table (message = the default one). */
result_error_t result_error_make(result_errcode_t id);

#endif
