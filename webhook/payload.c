/* webhook/payload.c — the Bitrise delivery parser (see payload.h): event
 * header first, then size, encoding and syntax, then the fields. */
#include "webhook/payload.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int webhook_event_parse(const char *event, job_hint_t *out) {
        if (!event || !*event)
                return WEBHOOK_E_INVALID;
        return job_hint_parse(event, out) == 0 ? 0 : WEBHOOK_E_IGNORED;
}

/* A JSON number that is an integer within [lo, hi]. */
static int json_int_in(const cJSON *it, int64_t lo, int64_t hi, int64_t *out) {
        if (!cJSON_IsNumber(it))
                return -1;
        double d = it->valuedouble;
        if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi)
                return -1;
        *out = (int64_t)d;
        return 0;
}

/* A required slug field: a string that is 16 hex digits or a UUID. */
static int get_slug(const cJSON *obj, const char *name, char *dst, char *errstr,
                    size_t errstr_size) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
        if (!it || cJSON_IsNull(it)) {
                snprintf(errstr, errstr_size, "missing field %s", name);
                return -1;
        }
        if (!cJSON_IsString(it) || !it->valuestring ||
            strlen(it->valuestring) > JOB_SLUG_MAX ||
            !job_slug_valid(it->valuestring)) {
                snprintf(errstr, errstr_size,
                         "%s: expected 16 hex digits or a UUID", name);
                return -1;
        }
        memcpy(dst, it->valuestring, strlen(it->valuestring) + 1);
        return 0;
}

/* The optional fields: kept when well formed, else absent. */
static void get_optional(const cJSON *obj, webhook_payload_t *out) {
        int64_t v;
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "build_status");
        out->build_status = json_int_in(it, 0, 100, &v) == 0 ? (int)v : -1;
        it = cJSON_GetObjectItemCaseSensitive(obj, "build_number");
        out->build_number =
            json_int_in(it, 0, INT64_C(1) << 52, &v) == 0 ? v : -1;
        it = cJSON_GetObjectItemCaseSensitive(obj, "build_triggered_workflow");
        out->workflow[0] = '\0';
        if (!cJSON_IsString(it) || !it->valuestring)
                return;
        size_t n = strlen(it->valuestring);
        if (n > WEBHOOK_WORKFLOW_MAX)
                return;
        for (size_t i = 0; i < n; i++)
                if (it->valuestring[i] < 0x20 || it->valuestring[i] > 0x7e)
                        return;
        memcpy(out->workflow, it->valuestring, n + 1);
}

/* Encoding and syntax; returns the parsed object or NULL with errstr. */
static cJSON *parse_object(const char *p, size_t len, char *errstr,
                           size_t errstr_size) {
        if (!p || len == 0) {
                snprintf(errstr, errstr_size, "empty body");
                return NULL;
        }
        long bad = job_utf8_check(p, len);
        if (bad >= 0) {
                snprintf(errstr, errstr_size, "invalid UTF-8 at byte %ld", bad);
                return NULL;
        }
        const char *nul = memchr(p, '\0', len);
        if (nul) {
                snprintf(errstr, errstr_size, "NUL byte at byte %zu",
                         (size_t)(nul - p));
                return NULL;
        }
        const char *end = NULL;
        cJSON *root     = cJSON_ParseWithLengthOpts(p, len, &end, 0);
        if (!root) {
                size_t at = end && end >= p ? (size_t)(end - p) : 0;
                snprintf(errstr, errstr_size,
                         "not JSON: syntax error at byte %zu", at);
                return NULL;
        }
        for (size_t at = (size_t)(end - p); at < len; at++)
                if (!strchr(" \t\r\n", p[at])) {
                        snprintf(errstr, errstr_size,
                                 "not JSON: trailing data at byte %zu", at);
                        cJSON_Delete(root);
                        return NULL;
                }
        if (!cJSON_IsObject(root)) {
                snprintf(errstr, errstr_size, "not a JSON object");
                cJSON_Delete(root);
                return NULL;
        }
        return root;
}

int webhook_payload_parse(const char *event, const void *body, size_t len,
                          webhook_payload_t *out, char *errstr,
                          size_t errstr_size) {
        memset(out, 0, sizeof(*out));
        out->build_status = -1;
        out->build_number = -1;
        int err           = webhook_event_parse(event, &out->hint);
        if (err) {
                snprintf(errstr, errstr_size, "%s",
                         err == WEBHOOK_E_IGNORED
                             ? "unknown event"
                             : "missing header Bitrise-Event-Type");
                return err;
        }
        cJSON *root = parse_object(body, len, errstr, errstr_size);
        if (!root)
                return WEBHOOK_E_INVALID;
        err = WEBHOOK_E_INVALID;
        if (get_slug(root, "app_slug", out->app_slug, errstr, errstr_size) <
                0 ||
            get_slug(root, "build_slug", out->build_slug, errstr, errstr_size) <
                0)
                goto done;
        get_optional(root, out);
        err = 0;
done:
        cJSON_Delete(root);
        if (err)
                out->app_slug[0] = out->build_slug[0] = '\0';
        return err;
}
