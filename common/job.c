/* common/job.c — parse and validate jobs from the jobs topic.
 *
 * The bytes are checked (size, UTF-8) before cJSON sees them; then each field
 * is checked in the order of the DESIGN table, so the first problem found is
 * the reason reported. Unknown fields are ignored; `null` counts as absent
 * for the optional fields.
 */
#include "common/job.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_hex(int c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
               (c >= 'A' && c <= 'F');
}

int job_slug_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 16) {
                for (size_t i = 0; i < n; i++)
                        if (!is_hex((unsigned char)s[i]))
                                return 0;
                return 1;
        }
        if (n != 36)
                return 0;
        for (size_t i = 0; i < n; i++) {
                int dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i]))
                        return 0;
        }
        return 1;
}

int job_workspace_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > JOB_WORKSPACE_MAX || s[0] == '.')
                return 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-'))
                        return 0;
        }
        return 1;
}

long job_utf8_check(const void *p, size_t n) {
        const unsigned char *s = p;
        size_t i               = 0;
        while (i < n) {
                unsigned char c = s[i];
                size_t need;
                uint32_t cp, min;
                if (c < 0x80) {
                        i++;
                        continue;
                } else if ((c & 0xE0) == 0xC0) {
                        need = 1, cp = c & 0x1F, min = 0x80;
                } else if ((c & 0xF0) == 0xE0) {
                        need = 2, cp = c & 0x0F, min = 0x800;
                } else if ((c & 0xF8) == 0xF0) {
                        need = 3, cp = c & 0x07, min = 0x10000;
                } else {
                        return (long)i;
                }
                if (n - i - 1 < need)
                        return (long)i;
                for (size_t k = 1; k <= need; k++) {
                        if ((s[i + k] & 0xC0) != 0x80)
                                return (long)i;
                        cp = (cp << 6) | (s[i + k] & 0x3F);
                }
                if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        return (long)i;
                i += need + 1;
        }
        return -1;
}

static const char *const log_names[] = {"none", "summary", "full"};

const char *job_log_name(job_log_t log) {
        return (unsigned)log < 3 ? log_names[log] : "summary";
}

int job_log_parse(const char *s, job_log_t *out) {
        for (int i = 0; i < 3; i++)
                if (strcmp(s, log_names[i]) == 0) {
                        *out = (job_log_t)i;
                        return 0;
                }
        return -1;
}

static const char *const hint_names[] = {"build/triggered", "build/finished"};

const char *job_hint_name(job_hint_t hint) {
        return (unsigned)hint < 2 ? hint_names[hint] : "unknown";
}

int job_hint_parse(const char *s, job_hint_t *out) {
        for (int i = 0; i < 2; i++)
                if (strcmp(s, hint_names[i]) == 0) {
                        *out = (job_hint_t)i;
                        return 0;
                }
        return -1;
}

void job_destroy(job_t *job) {
        if (!job)
                return;
        if (!job->attrs_in_strs)
                free(job->attrs_json);
        free(job);
}

void job_key(const job_t *job, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s", job->app_slug, job->build_slug);
}

/* A JSON number that is an integer in int64 range. */
static int json_int(const cJSON *it, int64_t *out) {
        if (!cJSON_IsNumber(it))
                return -1;
        double d = it->valuedouble;
        if (!isfinite(d) || d != floor(d) || d < -9.0e18 || d > 9.0e18)
                return -1;
        *out = (int64_t)d;
        return 0;
}

/* Copies a required string field of at most max bytes into dst. */
static int get_str(const cJSON *obj, const char *name, size_t max, char *dst,
                   char *errstr, size_t errstr_size) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
        if (!it || cJSON_IsNull(it)) {
                snprintf(errstr, errstr_size, "missing field %s", name);
                return -1;
        }
        if (!cJSON_IsString(it) || !it->valuestring) {
                snprintf(errstr, errstr_size, "%s: expected string", name);
                return -1;
        }
        size_t n = strlen(it->valuestring);
        if (n == 0) {
                snprintf(errstr, errstr_size, "%s: empty", name);
                return -1;
        }
        if (n > max) {
                snprintf(errstr, errstr_size, "%s: %zu bytes, limit %zu", name,
                         n, max);
                return -1;
        }
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)it->valuestring[i] < 0x20) {
                        snprintf(errstr, errstr_size,
                                 "%s: control character at byte %zu", name, i);
                        return -1;
                }
        memcpy(dst, it->valuestring, n + 1);
        return 0;
}

static int check_version(const cJSON *obj, job_t *job, char *errstr,
                         size_t errstr_size) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "v");
        int64_t v;
        if (!it || cJSON_IsNull(it)) {
                snprintf(errstr, errstr_size, "missing field v");
                return -1;
        }
        if (json_int(it, &v) < 0) {
                snprintf(errstr, errstr_size, "v: expected integer");
                return -1;
        }
        if (v != JOB_VERSION) {
                snprintf(errstr, errstr_size, "unsupported v %lld",
                         (long long)v);
                return -1;
        }
        job->v = (int)v;
        return 0;
}

/* A required slug field; any string that is not a slug, overlong ones
 * included, gets the same reason. */
static int get_slug(const cJSON *obj, const char *name, char *dst, char *errstr,
                    size_t errstr_size) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
        if (!it || cJSON_IsNull(it)) {
                snprintf(errstr, errstr_size, "missing field %s", name);
                return -1;
        }
        if (!cJSON_IsString(it) || !it->valuestring) {
                snprintf(errstr, errstr_size, "%s: expected string", name);
                return -1;
        }
        if (!job_slug_valid(it->valuestring)) {
                snprintf(errstr, errstr_size, "%s: not a 16-hex or UUID slug",
                         name);
                return -1;
        }
        memcpy(dst, it->valuestring, strlen(it->valuestring) + 1);
        return 0;
}

/* The strings of a job while it is parsed (job_pack moves them into it). */
typedef struct job_strs {
        char job_id[JOB_ID_MAX + 1];
        char workspace[JOB_WORKSPACE_MAX + 1];
        char app_slug[JOB_SLUG_MAX + 1];
        char build_slug[JOB_SLUG_MAX + 1];
} job_strs_t;

static int check_ids(const cJSON *obj, job_strs_t *ids, char *errstr,
                     size_t errstr_size) {
        if (get_str(obj, "job_id", JOB_ID_MAX, ids->job_id, errstr,
                    errstr_size) < 0 ||
            get_str(obj, "workspace", JOB_WORKSPACE_MAX, ids->workspace, errstr,
                    errstr_size) < 0)
                return -1;
        if (!job_workspace_valid(ids->workspace)) {
                snprintf(errstr, errstr_size,
                         "workspace: only A-Z a-z 0-9 . _ - allowed, "
                         "not starting with '.'");
                return -1;
        }
        if (get_slug(obj, "app_slug", ids->app_slug, errstr, errstr_size) < 0 ||
            get_slug(obj, "build_slug", ids->build_slug, errstr, errstr_size) <
                0)
                return -1;
        return 0;
}

static int check_options(const cJSON *obj, const job_limits_t *lim, job_t *job,
                         char *errstr, size_t errstr_size) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "follow");
        if (it && !cJSON_IsNull(it)) {
                if (!cJSON_IsBool(it)) {
                        snprintf(errstr, errstr_size,
                                 "follow: expected boolean");
                        return -1;
                }
                job->follow = cJSON_IsTrue(it);
        }
        it = cJSON_GetObjectItemCaseSensitive(obj, "log");
        if (it && !cJSON_IsNull(it) &&
            (!cJSON_IsString(it) ||
             job_log_parse(it->valuestring, &job->log))) {
                snprintf(errstr, errstr_size,
                         "log: expected none, summary or full");
                return -1;
        }
        it = cJSON_GetObjectItemCaseSensitive(obj, "deadline_s");
        if (it && !cJSON_IsNull(it)) {
                int64_t d;
                if (json_int(it, &d) < 0) {
                        snprintf(errstr, errstr_size,
                                 "deadline_s: expected integer");
                        return -1;
                }
                if (d <= 0 || d > lim->deadline_max_s) {
                        snprintf(errstr, errstr_size,
                                 "deadline_s: %lld out of range 1..%lld",
                                 (long long)d, (long long)lim->deadline_max_s);
                        return -1;
                }
                job->deadline_s = d;
        }
        return 0;
}

static int check_attrs(const cJSON *obj, job_t *job, char *errstr,
                       size_t errstr_size) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "attrs");
        if (it && !cJSON_IsNull(it) && !cJSON_IsObject(it)) {
                snprintf(errstr, errstr_size, "attrs: expected object");
                return -1;
        }
        job->attrs_json = (it && cJSON_IsObject(it))
                              ? cJSON_PrintUnformatted(it)
                              : strdup("{}");
        if (!job->attrs_json)
                return JOB_ERR_OOM;
        size_t n = strlen(job->attrs_json);
        if (n > JOB_ATTRS_MAX) {
                snprintf(errstr, errstr_size, "attrs: %zu bytes, limit %d", n,
                         JOB_ATTRS_MAX);
                return -1;
        }
        return 0;
}

/* The fields of a hint after v: event, workspace, slugs, and the optional
 * build status and receive time (ignored when malformed: a hint is only a
 * hint). */
static int check_hint(const cJSON *obj, const cJSON *hint, job_t *job,
                      job_strs_t *ids, char *errstr, size_t errstr_size) {
        if (!cJSON_IsString(hint) ||
            job_hint_parse(hint->valuestring, &job->hint) < 0) {
                snprintf(errstr, errstr_size,
                         "hint: expected build/triggered or build/finished");
                return -1;
        }
        job->kind = JOB_KIND_HINT;
        if (get_str(obj, "workspace", JOB_WORKSPACE_MAX, ids->workspace, errstr,
                    errstr_size) < 0)
                return -1;
        if (!job_workspace_valid(ids->workspace)) {
                snprintf(errstr, errstr_size,
                         "workspace: only A-Z a-z 0-9 . _ - allowed, "
                         "not starting with '.'");
                return -1;
        }
        if (get_slug(obj, "app_slug", ids->app_slug, errstr, errstr_size) < 0 ||
            get_slug(obj, "build_slug", ids->build_slug, errstr, errstr_size) <
                0)
                return -1;
        int64_t v;
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "build_status");
        job->hint_build_status =
            it && json_int(it, &v) == 0 && v >= 0 && v <= 100 ? (int)v : -1;
        it = cJSON_GetObjectItemCaseSensitive(obj, "received_at_ms");
        job->hint_received_ms = it && json_int(it, &v) == 0 && v > 0 ? v : 0;
        job->follow           = false;
        job->attrs_json       = strdup("{}");
        if (!job->attrs_json) {
                snprintf(errstr, errstr_size, "out of memory");
                return JOB_ERR_OOM;
        }
        return 0;
}

int job_hint_to_json(char *buf, size_t size, job_hint_t hint,
                     const char *workspace, const char *app_slug,
                     const char *build_slug, int build_status,
                     int64_t received_ms) {
        char status[32] = "", received[48] = "";
        if (build_status >= 0)
                snprintf(status, sizeof(status), ",\"build_status\":%d",
                         build_status);
        if (received_ms > 0)
                snprintf(received, sizeof(received),
                         ",\"received_at_ms\":%" PRId64, received_ms);
        int n = snprintf(buf, size,
                         "{\"v\":%d,\"hint\":\"%s\",\"workspace\":\"%s\","
                         "\"app_slug\":\"%s\",\"build_slug\":\"%s\"%s%s}",
                         JOB_VERSION, job_hint_name(hint), workspace, app_slug,
                         build_slug, status, received);
        return n < 0 || (size_t)n >= size ? -1 : n;
}

static void check_key(const void *key, size_t key_len, job_t *job) {
        char want[2 * JOB_SLUG_MAX + 2];
        job_key(job, want, sizeof(want));
        job->key_mismatch =
            key && (key_len != strlen(want) || memcmp(key, want, key_len) != 0);
}

/* The parsed job, its strings moved into its own allocation (it may move:
 * the returned job replaces job); NULL when out of memory (job freed). */
static job_t *job_pack(job_t *job, const job_strs_t *ids) {
        char *attrs        = job->attrs_json;
        const char *src[5] = {ids->job_id, ids->workspace, ids->app_slug,
                              ids->build_slug, attrs};
        size_t len[5], total = 0;
        for (int i = 0; i < 5; i++)
                total += len[i] = src[i] ? strlen(src[i]) + 1 : 0;
        job_t *p = realloc(job, sizeof(*job) + total);
        if (!p) {
                job_destroy(job);
                return NULL;
        }
        const char **dst[4] = {&p->job_id, &p->workspace, &p->app_slug,
                               &p->build_slug};
        char *at            = p->strs;
        for (int i = 0; i < 4; i++) {
                memcpy(at, src[i], len[i]);
                *dst[i] = at;
                at += len[i];
        }
        if (attrs) {
                memcpy(at, attrs, len[4]);
                free(attrs);
                p->attrs_json    = at;
                p->attrs_in_strs = true;
        }
        return p;
}

static void limits_fill(const job_limits_t *in, job_limits_t *out) {
        *out = in ? *in : (job_limits_t){0};
        if (!out->max_bytes)
                out->max_bytes = JOB_MAX_BYTES;
        if (!out->deadline_max_s)
                out->deadline_max_s = JOB_DEADLINE_MAX;
        if (!out->deadline_default_s)
                out->deadline_default_s = JOB_DEADLINE_DEFAULT;
        if (out->deadline_default_s > out->deadline_max_s)
                out->deadline_default_s = out->deadline_max_s;
}

/* Size, encoding and JSON syntax; returns the parsed object or NULL. */
static cJSON *parse_bytes(const char *p, size_t len, const job_limits_t *lim,
                          char *errstr, size_t errstr_size) {
        if (len > lim->max_bytes) {
                snprintf(errstr, errstr_size, "payload is %zu bytes, limit %zu",
                         len, lim->max_bytes);
                return NULL;
        }
        if (len == 0 || !p) {
                snprintf(errstr, errstr_size, "empty payload");
                return NULL;
        }
        long bad = job_utf8_check(p, len);
        if (bad >= 0) {
                snprintf(errstr, errstr_size, "invalid UTF-8 at byte %ld", bad);
                return NULL;
        }
        if (memchr(p, '\0', len)) {
                snprintf(errstr, errstr_size, "NUL byte at byte %zu",
                         (size_t)((const char *)memchr(p, '\0', len) - p));
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

int job_parse(const void *payload, size_t len, const void *key, size_t key_len,
              const job_limits_t *limits, job_t **jobp, char *errstr,
              size_t errstr_size) {
        job_limits_t lim;
        cJSON *root = NULL;
        job_t *job  = NULL;
        int err     = JOB_ERR_INVALID;
        job_strs_t ids;

        *jobp = NULL;
        limits_fill(limits, &lim);
        root = parse_bytes(payload, len, &lim, errstr, errstr_size);
        if (!root)
                goto out;
        job = calloc(1, sizeof(*job));
        if (!job) {
                err = JOB_ERR_OOM;
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        memset(&ids, 0, sizeof(ids));
        job->job_id       = ids.job_id;
        job->workspace    = ids.workspace;
        job->app_slug     = ids.app_slug;
        job->build_slug   = ids.build_slug;
        job->follow       = true;
        job->log          = JOB_LOG_SUMMARY;
        job->deadline_s   = lim.deadline_default_s;
        const cJSON *hint = cJSON_GetObjectItemCaseSensitive(root, "hint");
        if (hint && !cJSON_IsNull(hint)) {
                if (check_version(root, job, errstr, errstr_size) < 0)
                        goto out;
                err = check_hint(root, hint, job, &ids, errstr, errstr_size);
                if (err < 0)
                        goto out;
        } else {
                if (check_version(root, job, errstr, errstr_size) < 0 ||
                    check_ids(root, &ids, errstr, errstr_size) < 0 ||
                    check_options(root, &lim, job, errstr, errstr_size) < 0)
                        goto out;
                err = check_attrs(root, job, errstr, errstr_size);
                if (err == JOB_ERR_OOM)
                        snprintf(errstr, errstr_size, "out of memory");
                if (err < 0)
                        goto out;
        }
        check_key(key, key_len, job);
        if (!(*jobp = job_pack(job, &ids))) {
                err = JOB_ERR_OOM;
                snprintf(errstr, errstr_size, "out of memory");
        }
        job = NULL;
out:
        cJSON_Delete(root);
        job_destroy(job);
        return *jobp ? 0 : err;
}

char *job_to_json(const job_t *job) {
        cJSON *o = cJSON_CreateObject(), *attrs = NULL;
        char *s = NULL;
        if (!o)
                return NULL;
        if (job->attrs_json) {
                attrs = cJSON_Parse(job->attrs_json);
                if (!attrs)
                        goto out;
        }
        if (!cJSON_AddNumberToObject(o, "v", job->v ? job->v : JOB_VERSION) ||
            !cJSON_AddStringToObject(o, "job_id", job->job_id) ||
            !cJSON_AddStringToObject(o, "workspace", job->workspace) ||
            !cJSON_AddStringToObject(o, "app_slug", job->app_slug) ||
            !cJSON_AddStringToObject(o, "build_slug", job->build_slug) ||
            !cJSON_AddBoolToObject(o, "follow", job->follow) ||
            !cJSON_AddStringToObject(o, "log", job_log_name(job->log)) ||
            (job->deadline_s > 0 &&
             !cJSON_AddNumberToObject(o, "deadline_s",
                                      (double)job->deadline_s)))
                goto out;
        if (attrs) {
                if (!cJSON_AddItemToObject(o, "attrs", attrs))
                        goto out;
                attrs = NULL;
        }
        s = cJSON_PrintUnformatted(o);
out:
        cJSON_Delete(attrs);
        cJSON_Delete(o);
        return s;
}
