/* bitrise/parse.c — JSON answers of the Bitrise API into plain structs.
 *
 * Tolerant the way real answers need: unknown fields ignored, nulls and the
 * string "null" taken as absent, numbers that arrive as strings accepted,
 * chunks de-duplicated and ordered. Strict where it matters: the body must
 * be one JSON value, and the fields a caller relies on must have the right
 * type, else a clear error.
 */
#include "bitrise/client.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

#define MAX_CHUNKS 100000

/* ---- field helpers --------------------------------------------------- */

static cJSON *body_parse(const char *body, size_t len, char *errstr,
                         size_t errstr_size) {
        const char *end = NULL;
        if (!body || !len) {
                snprintf(errstr, errstr_size, "empty body");
                return NULL;
        }
        cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
        if (!root) {
                size_t at = end && end >= body ? (size_t)(end - body) : 0;
                snprintf(errstr, errstr_size, "invalid JSON at byte %zu of %zu",
                         at, len);
                return NULL;
        }
        size_t at = (size_t)(end - body);
        while (at < len &&
               (body[at] == ' ' || body[at] == '\t' || body[at] == '\r' ||
                body[at] == '\n' || body[at] == '\0'))
                at++;
        if (at < len) {
                snprintf(errstr, errstr_size,
                         "invalid JSON at byte %zu of %zu (trailing data)", at,
                         len);
                cJSON_Delete(root);
                return NULL;
        }
        if (!cJSON_IsObject(root)) {
                snprintf(errstr, errstr_size, "JSON body is not an object");
                cJSON_Delete(root);
                return NULL;
        }
        return root;
}

/* A string field, or NULL when absent, null, not a string, "" or "null". */
static const char *field_str(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsString(v) || !v->valuestring || !*v->valuestring ||
            !strcmp(v->valuestring, "null"))
                return NULL;
        return v->valuestring;
}

static int field_dup(const cJSON *o, const char *key, char **out) {
        const char *s = field_str(o, key);
        *out          = s ? strdup(s) : NULL;
        return s && !*out ? -1 : 0;
}

/* A whole number (JSON number or numeric string); def when absent. */
static long field_long(const cJSON *o, const char *key, long def, int *found) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (found)
                *found = 0;
        if (cJSON_IsNumber(v) && v->valuedouble >= -9e15 &&
            v->valuedouble <= 9e15) {
                if (found)
                        *found = 1;
                return (long)v->valuedouble;
        }
        const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
        if (s && *s) {
                char *end = NULL;
                errno     = 0;
                long n    = strtol(s, &end, 10);
                if (!errno && *end == '\0') {
                        if (found)
                                *found = 1;
                        return n;
                }
        }
        return def;
}

static int field_bool(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (cJSON_IsBool(v))
                return cJSON_IsTrue(v);
        if (cJSON_IsNumber(v))
                return v->valuedouble != 0;
        return 0;
}

static int64_t field_time(const cJSON *o, const char *key) {
        const char *s = field_str(o, key);
        int64_t ms    = 0;
        if (!s || time_rfc3339_parse(s, &ms))
                return 0;
        return ms;
}

/* {"data": X} → X, or the object itself when it has no "data". */
static const cJSON *data_object(const cJSON *root) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "data");
        if (cJSON_IsObject(d))
                return d;
        return d ? NULL : root;
}

/* ---- build ----------------------------------------------------------- */

void bitrise_build_release(bitrise_build_t *b) {
        if (!b)
                return;
        if (b->strs) {
                free(b->strs);
        } else {
                free(b->slug);
                free(b->status_text);
                free(b->workflow);
                free(b->branch);
                free(b->commit_hash);
                free(b->abort_reason);
                free(b->machine_type);
                free(b->stack);
        }
        memset(b, 0, sizeof(*b));
}

/* The build's strings into one block (b->strs): a watch holds its build
 * for as long as it runs, and eight small allocations cost ~150 bytes more
 * than one. -1 on allocation failure (nothing set). */
static int build_strings(const cJSON *d, bitrise_build_t *b) {
        static const char *const keys[] = {"slug",
                                           "status_text",
                                           "triggered_workflow",
                                           "branch",
                                           "commit_hash",
                                           "abort_reason",
                                           "machine_type_id",
                                           "stack_identifier"};
        char **dst[] = {&b->slug,         &b->status_text, &b->workflow,
                        &b->branch,       &b->commit_hash, &b->abort_reason,
                        &b->machine_type, &b->stack};
        const char *v[8];
        size_t len[8], total = 0;
        for (size_t i = 0; i < 8; i++) {
                v[i] = field_str(d, keys[i]);
                /* Older answers name the machine "stack_config_type". */
                if (!v[i] && dst[i] == &b->machine_type)
                        v[i] = field_str(d, "stack_config_type");
                len[i] = v[i] ? strlen(v[i]) + 1 : 0;
                total += len[i];
        }
        if (!total)
                return 0;
        char *p = malloc(total);
        if (!p)
                return -1;
        b->strs = p;
        for (size_t i = 0; i < 8; i++) {
                if (!v[i])
                        continue;
                memcpy(p, v[i], len[i]);
                *dst[i] = p;
                p += len[i];
        }
        return 0;
}

static int build_fill(const cJSON *d, bitrise_build_t *b) {
        int found = 0;
        b->status = (int)field_long(d, "status", -1, &found);
        if (!found || b->status < 0 || b->status > 99)
                return -2;
        b->number          = field_long(d, "build_number", 0, NULL);
        b->pull_request_id = field_long(d, "pull_request_id", 0, NULL);
        b->is_on_hold      = field_bool(d, "is_on_hold");
        b->triggered_at    = field_time(d, "triggered_at");
        b->started_at      = field_time(d, "started_on_worker_at");
        b->finished_at     = field_time(d, "finished_at");
        b->queued_s =
            b->triggered_at && b->started_at && b->started_at >= b->triggered_at
                ? (double)(b->started_at - b->triggered_at) / 1000.0
                : -1;
        b->duration_s =
            b->started_at && b->finished_at && b->finished_at >= b->started_at
                ? (double)(b->finished_at - b->started_at) / 1000.0
                : -1;
        return build_strings(d, b);
}

int bitrise_build_parse(const char *body, size_t len, bitrise_build_t *out,
                        char *errstr, size_t errstr_size) {
        memset(out, 0, sizeof(*out));
        cJSON *root = body_parse(body, len, errstr, errstr_size);
        if (!root)
                return -1;
        int err        = 0;
        const cJSON *d = data_object(root);
        if (!d) {
                snprintf(errstr, errstr_size, "\"data\" is not an object");
                err = -1;
        } else if ((err = build_fill(d, out)) == -2) {
                snprintf(errstr, errstr_size, "build has no valid \"status\"");
        } else if (err) {
                snprintf(errstr, errstr_size, "out of memory");
        }
        if (err)
                bitrise_build_release(out);
        cJSON_Delete(root);
        return err ? -1 : 0;
}

/* ---- log info -------------------------------------------------------- */

void bitrise_log_info_release(bitrise_log_info_t *li) {
        if (!li)
                return;
        for (size_t i = 0; i < li->nchunks; i++)
                free(li->chunks[i].chunk);
        free(li->chunks);
        if (li->raw_log_url) /* a credential of sorts: do not leave it around */
                explicit_bzero(li->raw_log_url, strlen(li->raw_log_url));
        free(li->raw_log_url);
        free(li->next_after_timestamp);
        free(li->next_before_timestamp);
        memset(li, 0, sizeof(*li));
}

typedef struct chunk_ref {
        long pos;
        size_t idx; /* order in the answer */
        const cJSON *text;
} chunk_ref_t;

static int chunk_ref_cmp(const void *a, const void *b) {
        const chunk_ref_t *x = a, *y = b;
        if (x->pos != y->pos)
                return x->pos < y->pos ? -1 : 1;
        return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Collects string chunks; a chunk without a position takes the previous
 * one's (it sorts right after it and is never merged away). */
static size_t chunks_collect(const cJSON *arr, chunk_ref_t *refs,
                             int *has_pos) {
        size_t n  = 0;
        long prev = -1;
        const cJSON *c;
        cJSON_ArrayForEach(c, arr) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "chunk");
                if (!cJSON_IsString(t) || n == MAX_CHUNKS)
                        continue;
                int found  = 0;
                long pos   = field_long(c, "position", prev, &found);
                refs[n]    = (chunk_ref_t){found ? pos : prev, n, t};
                has_pos[n] = found;
                prev       = refs[n].pos;
                n++;
        }
        return n;
}

static int log_chunks_fill(const cJSON *arr, bitrise_log_info_t *li) {
        size_t cap = (size_t)cJSON_GetArraySize(arr);
        if (!cap)
                return 0;
        chunk_ref_t *refs = calloc(cap, sizeof(*refs));
        int *has_pos      = calloc(cap, sizeof(*has_pos));
        li->chunks        = calloc(cap, sizeof(*li->chunks));
        int err           = refs && has_pos && li->chunks ? 0 : -1;
        size_t n          = err ? 0 : chunks_collect(arr, refs, has_pos);
        for (size_t i = 0; i < n; i++) /* idx → has_pos survives the sort */
                refs[i].idx = i * 2 + (size_t)has_pos[i];
        qsort(refs, n, sizeof(*refs), chunk_ref_cmp);
        for (size_t i = 0; i < n && !err; i++) {
                /* same explicit position again: the later copy wins */
                if (i + 1 < n && refs[i + 1].pos == refs[i].pos &&
                    (refs[i].idx & 1) && (refs[i + 1].idx & 1))
                        continue;
                bitrise_log_chunk_t *ch = &li->chunks[li->nchunks];
                ch->position            = refs[i].pos;
                ch->len                 = strlen(refs[i].text->valuestring);
                ch->chunk               = strdup(refs[i].text->valuestring);
                if (!ch->chunk)
                        err = -1;
                else
                        li->nchunks++;
        }
        free(refs);
        free(has_pos);
        return err;
}

int bitrise_log_info_parse(const char *body, size_t len,
                           bitrise_log_info_t *out, char *errstr,
                           size_t errstr_size) {
        memset(out, 0, sizeof(*out));
        cJSON *root = body_parse(body, len, errstr, errstr_size);
        if (!root)
                return -1;
        int err          = 0;
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "log_chunks");
        if (arr && !cJSON_IsArray(arr) && !cJSON_IsNull(arr)) {
                snprintf(errstr, errstr_size, "\"log_chunks\" is not an array");
                err = -1;
                goto out;
        }
        out->is_archived = field_bool(root, "is_archived");
        const char *ts   = field_str(root, "next_after_timestamp");
        if (!ts)
                ts = field_str(root, "timestamp"); /* the 2019 envelope */
        int64_t ms = 0;
        if (ts && !time_rfc3339_parse(ts, &ms) && ms)
                out->next_after_ms = ms;
        const char *bts = field_str(root, "next_before_timestamp");
        if (bts && !time_rfc3339_parse(bts, &ms) && ms)
                out->next_before_ms = ms;
        const char *url = field_str(root, "expiring_raw_log_url");
        if ((arr && log_chunks_fill(arr, out)) ||
            (url && *url && !(out->raw_log_url = strdup(url))) ||
            (out->next_after_ms && !(out->next_after_timestamp = strdup(ts))) ||
            (out->next_before_ms &&
             !(out->next_before_timestamp = strdup(bts)))) {
                snprintf(errstr, errstr_size, "out of memory");
                err = -1;
        }
out:
        if (err)
                bitrise_log_info_release(out);
        cJSON_Delete(root);
        return err;
}

void bitrise_log_info_feed(const bitrise_log_info_t *li, logparse_t *lp) {
        for (size_t i = 0; i < li->nchunks; i++)
                if (logparse_feed(lp, li->chunks[i].chunk, li->chunks[i].len) !=
                    0)
                        break;
}

/* ---- apps ------------------------------------------------------------ */

void bitrise_apps_page_release(bitrise_apps_page_t *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++) {
                free(p->slugs[i]);
                free(p->titles[i]);
        }
        free(p->slugs);
        free(p->titles);
        free(p->next);
        memset(p, 0, sizeof(*p));
}

int bitrise_apps_page_parse(const char *body, size_t len,
                            bitrise_apps_page_t *out, char *errstr,
                            size_t errstr_size) {
        memset(out, 0, sizeof(*out));
        cJSON *root = body_parse(body, len, errstr, errstr_size);
        if (!root)
                return -1;
        int err           = 0;
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
        size_t cap = cJSON_IsArray(data) ? (size_t)cJSON_GetArraySize(data) : 0;
        if (!cJSON_IsArray(data)) {
                snprintf(errstr, errstr_size, "\"data\" is not an array");
                err = -1;
                goto out;
        }
        out->slugs          = calloc(cap ? cap : 1, sizeof(char *));
        out->titles         = calloc(cap ? cap : 1, sizeof(char *));
        const cJSON *paging = cJSON_GetObjectItemCaseSensitive(root, "paging");
        if (!out->slugs || !out->titles ||
            (cJSON_IsObject(paging) && field_dup(paging, "next", &out->next)))
                err = -1;
        const cJSON *app;
        cJSON_ArrayForEach(app, data) {
                const char *slug = field_str(app, "slug");
                if (err || !slug || out->n == cap)
                        continue;
                out->slugs[out->n] = strdup(slug);
                if (!out->slugs[out->n] ||
                    field_dup(app, "title", &out->titles[out->n])) {
                        free(out->slugs[out->n]);
                        err = -1;
                        continue;
                }
                out->n++;
        }
        if (err)
                snprintf(errstr, errstr_size, "out of memory");
out:
        if (err)
                bitrise_apps_page_release(out);
        cJSON_Delete(root);
        return err;
}

void bitrise_build_page_release(bitrise_build_page_t *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++)
                bitrise_build_release(&p->items[i]);
        free(p->items);
        free(p->next);
        memset(p, 0, sizeof(*p));
}

int bitrise_build_page_parse(const char *body, size_t len,
                             bitrise_build_page_t *out, char *errstr,
                             size_t errstr_size) {
        memset(out, 0, sizeof(*out));
        cJSON *root = body_parse(body, len, errstr, errstr_size);
        if (!root)
                return -1;
        int err             = 0;
        const cJSON *data   = cJSON_GetObjectItemCaseSensitive(root, "data");
        const cJSON *paging = cJSON_GetObjectItemCaseSensitive(root, "paging");
        const cJSON *it;
        if (!cJSON_IsArray(data)) {
                snprintf(errstr, errstr_size, "\"data\" is not an array");
                cJSON_Delete(root);
                return -1;
        }
        size_t cap = (size_t)cJSON_GetArraySize(data);
        out->items = calloc(cap ? cap : 1, sizeof(*out->items));
        if (!out->items ||
            (cJSON_IsObject(paging) && field_dup(paging, "next", &out->next)))
                err = -1;
        cJSON_ArrayForEach(it, data) {
                if (err || out->n == cap || !cJSON_IsObject(it))
                        continue;
                int rc = build_fill(it, &out->items[out->n]);
                if (rc == 0 && out->items[out->n].slug)
                        out->n++;
                else
                        bitrise_build_release(&out->items[out->n]);
                if (rc == -1)
                        err = -1;
        }
        if (err) {
                snprintf(errstr, errstr_size, "out of memory");
                bitrise_build_page_release(out);
        }
        cJSON_Delete(root);
        return err;
}

void bitrise_app_release(bitrise_app_t *a) {
        if (!a)
                return;
        free(a->slug);
        free(a->title);
        free(a->project_type);
        memset(a, 0, sizeof(*a));
}

int bitrise_app_parse(const char *body, size_t len, bitrise_app_t *out,
                      char *errstr, size_t errstr_size) {
        memset(out, 0, sizeof(*out));
        cJSON *root = body_parse(body, len, errstr, errstr_size);
        if (!root)
                return -1;
        int err        = 0;
        const cJSON *d = data_object(root);
        if (!d || !field_str(d, "slug")) {
                snprintf(errstr, errstr_size, "no app object with a \"slug\"");
                err = -1;
        } else if (field_dup(d, "slug", &out->slug) ||
                   field_dup(d, "title", &out->title) ||
                   field_dup(d, "project_type", &out->project_type)) {
                snprintf(errstr, errstr_size, "out of memory");
                err = -1;
        }
        out->is_disabled = d ? field_bool(d, "is_disabled") : 0;
        if (err)
                bitrise_app_release(out);
        cJSON_Delete(root);
        return err;
}
