/* webhook/payload.h — what a Bitrise outgoing-webhook delivery says, read
 * without trusting a byte of it.
 *
 * Bitrise sends the event in the header `Bitrise-Event-Type`
 * ("build/triggered" or "build/finished") and a JSON body such as
 *   {"build_slug":"1234abcd…","build_number":3,"app_slug":"abcd1234…",
 *    "build_status":0,"build_triggered_workflow":"primary",
 *    "git":{"provider":"github","src_branch":"…",…}}
 * (devcenter.bitrise.io/api/outgoing-webhooks). A delivery is only a hint
 * to look at a build now: this parser keeps what a hint needs (event, app,
 * build, status) plus the build number and workflow for the log line, and
 * ignores every other field (`git` included).
 *
 * Pure: no I/O, no allocation that outlives a call, no shared state, so
 * any thread may call it. Every rejection names its first problem in a
 * short reason that never quotes the input.
 */
#ifndef BITMON_WEBHOOK_PAYLOAD_H
#define BITMON_WEBHOOK_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/job.h"

#define WEBHOOK_E_IGNORED (-1) /* an event bitmon does not follow (202) */
#define WEBHOOK_E_INVALID (-2) /* no event, bad JSON, missing field (400) */

#define WEBHOOK_WORKFLOW_MAX 128

typedef struct webhook_payload {
        job_hint_t hint;
        char app_slug[JOB_SLUG_MAX + 1];   /* 16 hex or a UUID */
        char build_slug[JOB_SLUG_MAX + 1]; /* 16 hex or a UUID */
        int build_status;     /* 0..100 as Bitrise sent it; -1 absent */
        int64_t build_number; /* >= 0; -1 absent */
        /* printable ASCII, at most WEBHOOK_WORKFLOW_MAX bytes; "" when
         * absent or unusable */
        char workflow[WEBHOOK_WORKFLOW_MAX + 1];
} webhook_payload_t;

/* Maps the `Bitrise-Event-Type` header value to a hint. Returns 0, or
 * WEBHOOK_E_INVALID when event is NULL or empty, WEBHOOK_E_IGNORED for any
 * other event (Bitrise may add some; they are not errors). */
int webhook_event_parse(const char *event, job_hint_t *out);

/* Parses one delivery: the event header (may be NULL) and the body
 * body[0..len) (need not be NUL-terminated; any bytes). Fills *out and
 * returns 0, or returns WEBHOOK_E_IGNORED or WEBHOOK_E_INVALID (also
 * when cJSON runs out of memory: it cannot tell) with the reason in errstr
 * ("missing field build_slug", "not JSON: syntax error at byte 12", "unknown
 * event"). The event is checked first: an ignored event's body is not read. */
int webhook_payload_parse(const char *event, const void *body, size_t len,
                          webhook_payload_t *out, char *errstr,
                          size_t errstr_size);

#endif
