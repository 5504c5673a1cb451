/* common/job.h — a message of the jobs topic: a "monitor build" job or a
 * webhook hint — parsing, validation and serialisation (DESIGN "Job"). The
 * consumer parses it, the workers take it: both include this header.
 *
 * A hint (issue 9) is what a webhook delivery becomes: the pod that received
 * it produces {"v":1,"hint":"build/finished","workspace":W,"app_slug":A,
 * "build_slug":B,"build_status":N,"received_at_ms":T} with the job key
 * "<app_slug>/<build_slug>", so it lands on the partition of the build's
 * jobs and reaches the worker that watches it. A hint asks that worker to
 * look at the build now; it is never a result and carries no job_id.
 *
 * job_parse never trusts its input: every rejection names the first problem
 * in a short reason ("missing field build_slug", "invalid UTF-8 at byte 17")
 * that goes into the DLQ header `bitmon-error` unchanged. All functions are
 * thread-safe (no shared state).
 */
#ifndef BITMON_COMMON_JOB_H
#define BITMON_COMMON_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOB_VERSION          1
#define JOB_MAX_BYTES        65536 /* default payload limit (job.max_bytes) */
#define JOB_ID_MAX           128
#define JOB_WORKSPACE_MAX    128
#define JOB_SLUG_MAX         36    /* a UUID; 16-hex slugs are shorter */
#define JOB_ATTRS_MAX        4096  /* serialised attrs, bytes */
#define JOB_DEADLINE_DEFAULT 21600 /* job.default_deadline_s */
#define JOB_DEADLINE_MAX     86400 /* job.max_deadline_s */

#define JOB_ERR_INVALID (-1) /* the job is bad: send it to the DLQ */
#define JOB_ERR_OOM     (-2) /* allocation failed: transient */

typedef enum {
        JOB_LOG_NONE = 0,
        JOB_LOG_SUMMARY, /* failed steps + tail (the default) */
        JOB_LOG_FULL,
} job_log_t;

typedef enum {
        JOB_KIND_MONITOR = 0, /* a "monitor build" job */
        JOB_KIND_HINT,        /* a webhook hint: look at the build now */
} job_kind_t;

typedef enum {
        JOB_HINT_TRIGGERED = 0, /* "build/triggered" */
        JOB_HINT_FINISHED,      /* "build/finished" */
} job_hint_t;

typedef struct job {
        int v;
        job_kind_t kind;
        /* JOB_KIND_HINT only (job_id, follow, log, deadline_s, attrs unset
         * but for attrs_json "{}"): the event, the build status the
         * delivery named (-1 absent) and when it was received (epoch ms, 0
         * absent). */
        job_hint_t hint;
        int hint_build_status;
        int64_t hint_received_ms;
        /* At most JOB_ID_MAX, JOB_WORKSPACE_MAX, JOB_SLUG_MAX bytes. A
         * parsed job holds them in its own allocation (strs; a watch holds
         * its job as long as it runs); a job made by hand points them at
         * storage of its own. */
        const char *job_id;
        const char *workspace;
        const char *app_slug;
        const char *build_slug;
        bool follow;        /* default true */
        job_log_t log;      /* default JOB_LOG_SUMMARY */
        int64_t deadline_s; /* > 0; default from job_limits_t */
        char *attrs_json;  /* owned; compact JSON object text, "{}" if absent */
        bool key_mismatch; /* the message key was not <app_slug>/<build_slug> */
        bool attrs_in_strs; /* attrs_json lives in strs (job_destroy) */
        char strs[];        /* job_parse: the strings above */
} job_t;

/* Limits from the configuration (job.max_bytes, deadlines). */
typedef struct job_limits {
        size_t max_bytes;           /* 0 = JOB_MAX_BYTES */
        int64_t deadline_default_s; /* 0 = JOB_DEADLINE_DEFAULT */
        int64_t deadline_max_s;     /* 0 = JOB_DEADLINE_MAX */
} job_limits_t;

/* Parses and validates one jobs-topic message. `key` may be NULL. The payload
 * need not be NUL-terminated. A key that is not "<app_slug>/<build_slug>" is
 * not an error: the payload's slugs win and job->key_mismatch is set so the
 * caller can warn (the key only decides the partition; the payload is what
 * the producer meant). On success *jobp is a new job, caller frees with
 * job_destroy. On failure returns JOB_ERR_INVALID (reason in errstr) or
 * JOB_ERR_OOM, and *jobp is NULL. `lim` may be NULL for the defaults. */
int job_parse(const void *payload, size_t len, const void *key, size_t key_len,
              const job_limits_t *lim, job_t **jobp, char *errstr,
              size_t errstr_size);

/* Serialises a hint as job_parse accepts it (kind JOB_KIND_HINT).
 * build_status < 0 and received_ms <= 0 are left out. Writes at most size
 * bytes; returns the length, or -1 when it does not fit. The strings must
 * already be valid (workspace, slugs). */
int job_hint_to_json(char *buf, size_t size, job_hint_t hint,
                     const char *workspace, const char *app_slug,
                     const char *build_slug, int build_status,
                     int64_t received_ms);

const char *job_hint_name(job_hint_t hint);
/* Parses "build/triggered", "build/finished"; returns 0 or -1. */
int job_hint_parse(const char *s, job_hint_t *out);

/* Frees a job; NULL is a no-op. */
void job_destroy(job_t *job);

/* Serialises a job as the compact JSON that job_parse accepts (for
 * `bitmon enqueue`). Returns a malloc'ed string or NULL on allocation
 * failure. */
char *job_to_json(const job_t *job);

/* Writes the message key "<app_slug>/<build_slug>" into buf (size >= 74). */
void job_key(const job_t *job, char *buf, size_t size);

/* 1 when s is 16 hex digits or a UUID (8-4-4-4-12 hex), else 0. */
int job_slug_valid(const char *s);

/* 1 when s is a usable workspace name: 1..128 of [A-Za-z0-9._-], not starting
 * with '.' (it names a token file and a Redis key). */
int job_workspace_valid(const char *s);

/* Returns the byte offset of the first invalid UTF-8 sequence (overlong
 * forms, surrogates and code points past U+10FFFF are invalid), or -1 when
 * all n bytes are valid. */
long job_utf8_check(const void *p, size_t n);

const char *job_log_name(job_log_t log);
/* Parses "none", "summary", "full"; returns 0 or -1. */
int job_log_parse(const char *s, job_log_t *out);

#endif
