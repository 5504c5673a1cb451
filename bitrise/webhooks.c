/* bitrise/webhooks.c — outgoing webhooks through bitrise_req_api, and the
 * parsers of their answers (cJSON; any body, never trusted). */
#include "bitrise/webhooks.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *str_dup(const cJSON *obj, const char *name) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
        return cJSON_IsString(it) && it->valuestring && *it->valuestring
                   ? strdup(it->valuestring)
                   : NULL;
}

static long num(const cJSON *obj, const char *name, long dflt) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
        return cJSON_IsNumber(it) && it->valuedouble >= 0 &&
                       it->valuedouble < 1e9
                   ? (long)it->valuedouble
                   : dflt;
}

/* Joins the strings of an array (events) or the names of an object's
 * members (headers) with commas, cut to size. */
static void join(const cJSON *it, bool names, char *out, size_t size) {
        size_t o = 0;
        out[0]   = '\0';
        const cJSON *e;
        cJSON_ArrayForEach(e, it) {
                const char *s = names ? e->string : e->valuestring;
                if (!s || (!names && !cJSON_IsString(e)))
                        continue;
                int n = snprintf(out + o, size - o, "%s%s", o ? "," : "", s);
                if (n < 0 || (size_t)n >= size - o)
                        break;
                o += (size_t)n;
        }
}

/* {"data": [...], "paging": {"next": ...}}; NULL with errstr otherwise. */
static cJSON *parse_data(const char *body, size_t len, cJSON **root,
                         char *errstr, size_t errstr_size) {
        *root = body ? cJSON_ParseWithLength(body, len) : NULL;
        cJSON *d =
            *root ? cJSON_GetObjectItemCaseSensitive(*root, "data") : NULL;
        if (!cJSON_IsArray(d)) {
                snprintf(errstr, errstr_size, "expected {\"data\": [...]}");
                cJSON_Delete(*root);
                *root = NULL;
                return NULL;
        }
        return d;
}

int bitrise_webhook_list_parse(const char *body, size_t len,
                               bitrise_webhook_list_t *out, char **next,
                               char *errstr, size_t errstr_size) {
        cJSON *root = NULL, *e;
        cJSON *d    = parse_data(body, len, &root, errstr, errstr_size);
        if (next)
                *next = NULL;
        if (!d)
                return -1;
        cJSON_ArrayForEach(e, d) {
                if (!cJSON_IsObject(e) || out->n >= BITRISE_WEBHOOKS_MAX)
                        continue;
                bitrise_webhook_t *ni =
                    realloc(out->items, (out->n + 1) * sizeof(*ni));
                if (!ni)
                        break;
                out->items           = ni;
                bitrise_webhook_t *w = &out->items[out->n++];
                memset(w, 0, sizeof(*w));
                w->slug       = str_dup(e, "slug");
                w->url        = str_dup(e, "url");
                w->created_at = str_dup(e, "created_at");
                join(cJSON_GetObjectItemCaseSensitive(e, "events"), false,
                     w->events, sizeof(w->events));
                const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "headers");
                join(h, true, w->header_names, sizeof(w->header_names));
                w->bitmon_headers =
                    cJSON_IsObject(h) &&
                    cJSON_GetObjectItem(h, "X-Bitmon-Webhook-Secret") != NULL;
        }
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "paging");
        if (next && p)
                *next = str_dup(p, "next");
        cJSON_Delete(root);
        return 0;
}

static void payload_build(const cJSON *e, char *out, size_t size) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "request_payload");
        out[0]         = '\0';
        if (!cJSON_IsString(p) || !p->valuestring)
                return;
        cJSON *j = cJSON_Parse(p->valuestring);
        const cJSON *b =
            j ? cJSON_GetObjectItemCaseSensitive(j, "build_slug") : NULL;
        if (cJSON_IsString(b) && b->valuestring &&
            strspn(b->valuestring, "0123456789abcdef-") ==
                strlen(b->valuestring))
                snprintf(out, size, "%.36s", b->valuestring);
        cJSON_Delete(j);
}

int bitrise_delivery_list_parse(const char *body, size_t len,
                                bitrise_delivery_list_t *out, char *errstr,
                                size_t errstr_size) {
        cJSON *root = NULL, *e;
        cJSON *d    = parse_data(body, len, &root, errstr, errstr_size);
        if (!d)
                return -1;
        cJSON_ArrayForEach(e, d) {
                if (!cJSON_IsObject(e))
                        continue;
                bitrise_delivery_t *ni =
                    realloc(out->items, (out->n + 1) * sizeof(*ni));
                if (!ni)
                        break;
                out->items            = ni;
                bitrise_delivery_t *x = &out->items[out->n++];
                memset(x, 0, sizeof(*x));
                x->slug        = str_dup(e, "slug");
                x->created_at  = str_dup(e, "created_at");
                x->http_status = num(e, "response_http_status", 0);
                x->seconds     = num(e, "response_seconds", -1);
                payload_build(e, x->build_slug, sizeof(x->build_slug));
        }
        cJSON_Delete(root);
        return 0;
}

void bitrise_webhook_list_release(bitrise_webhook_list_t *l) {
        for (size_t i = 0; l && i < l->n; i++) {
                free(l->items[i].slug);
                free(l->items[i].url);
                free(l->items[i].created_at);
        }
        if (l) {
                free(l->items);
                memset(l, 0, sizeof(*l));
        }
}

void bitrise_delivery_list_release(bitrise_delivery_list_t *l) {
        for (size_t i = 0; l && i < l->n; i++) {
                free(l->items[i].slug);
                free(l->items[i].created_at);
        }
        if (l) {
                free(l->items);
                memset(l, 0, sizeof(*l));
        }
}

/* One blocking call; a failure to build the request is PERMANENT. */
static bitrise_class_t call(const bitrise_client_t *c, const char *token,
                            const char *method, const char *path,
                            const char *body, const char *what,
                            bitrise_result_t *res) {
        char err[256];
        bitrise_req_t *req = bitrise_req_api(c, token, method, path, body, what,
                                             err, sizeof(err));
        if (!req) {
                memset(res, 0, sizeof(*res));
                res->cls = BITRISE_PERMANENT;
                snprintf(res->message, sizeof(res->message), "%s", err);
                return res->cls;
        }
        bitrise_class_t cls = bitrise_req_perform(req, res);
        bitrise_req_destroy(req);
        return cls;
}

static bool slug_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;
        return n > 0 && n <= 64 && strspn(s, "0123456789abcdefABCDEF-") == n;
}

static bitrise_class_t bad_slug(bitrise_result_t *res) {
        memset(res, 0, sizeof(*res));
        res->cls = BITRISE_PERMANENT;
        snprintf(res->message, sizeof(res->message), "invalid slug");
        return res->cls;
}

bitrise_class_t bitrise_webhooks_list(const bitrise_client_t *c,
                                      const char *token, const char *app,
                                      bitrise_webhook_list_t *out,
                                      bitrise_result_t *res) {
        char path[256], err[160], *next = NULL;
        memset(out, 0, sizeof(*out));
        if (!slug_ok(app))
                return bad_slug(res);
        for (int page = 0; page < 10; page++) {
                snprintf(path, sizeof(path),
                         "/apps/%s/outgoing-webhooks?limit=50%s%s", app,
                         next ? "&next=" : "", next ? next : "");
                free(next);
                next = NULL;
                if (call(c, token, "GET", path, NULL, "list the webhooks",
                         res) != BITRISE_OK)
                        break;
                if (bitrise_webhook_list_parse(res->body, res->body_len, out,
                                               &next, err, sizeof(err)) < 0) {
                        res->cls = BITRISE_PERMANENT;
                        snprintf(res->message, sizeof(res->message),
                                 "cannot list the webhooks: %s", err);
                        break;
                }
                if (!next || !slug_ok(next) || out->n >= BITRISE_WEBHOOKS_MAX)
                        break;
                bitrise_result_release(res);
        }
        free(next);
        if (res->cls != BITRISE_OK)
                bitrise_webhook_list_release(out);
        return res->cls;
}

bitrise_class_t bitrise_webhook_put(const bitrise_client_t *c,
                                    const char *token, const char *app,
                                    const char *slug, const char *url,
                                    const char *ws, const char *secret,
                                    char *slug_out, bitrise_result_t *res) {
        char path[256];
        if (!slug_ok(app) || (slug && !slug_ok(slug)))
                return bad_slug(res);
        cJSON *b  = cJSON_CreateObject(),
              *ev = cJSON_AddArrayToObject(b, "events");
        cJSON *h  = cJSON_AddObjectToObject(b, "headers");
        cJSON_AddItemToArray(ev, cJSON_CreateString("build/triggered"));
        cJSON_AddItemToArray(ev, cJSON_CreateString("build/finished"));
        cJSON_AddStringToObject(b, "url", url);
        cJSON_AddStringToObject(h, "X-Bitmon-Workspace", ws);
        cJSON_AddStringToObject(h, "X-Bitmon-Webhook-Secret", secret);
        cJSON_AddStringToObject(b, "secret", secret);
        char *json = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
        if (slug)
                snprintf(path, sizeof(path), "/apps/%s/outgoing-webhooks/%s",
                         app, slug);
        else
                snprintf(path, sizeof(path), "/apps/%s/outgoing-webhooks", app);
        if (!json)
                return bad_slug(res);
        bitrise_class_t cls =
            call(c, token, slug ? "PUT" : "POST", path, json,
                 slug ? "update the webhook" : "create the webhook", res);
        OPENSSL_cleanse(json, strlen(json));
        free(json);
        if (cls == BITRISE_OK && slug_out) {
                cJSON *r = res->body
                               ? cJSON_ParseWithLength(res->body, res->body_len)
                               : NULL;
                cJSON *d =
                    r ? cJSON_GetObjectItemCaseSensitive(r, "data") : NULL;
                char *s = d ? str_dup(d, "slug") : NULL;
                snprintf(slug_out, 64, "%s",
                         s && slug_ok(s) ? s : (slug ? slug : ""));
                free(s);
                cJSON_Delete(r);
        }
        if (res->body) /* the answer may echo the headers */
                OPENSSL_cleanse(res->body, res->body_len);
        return cls;
}

bitrise_class_t bitrise_webhook_delete(const bitrise_client_t *c,
                                       const char *token, const char *app,
                                       const char *slug,
                                       bitrise_result_t *res) {
        char path[256];
        if (!slug_ok(app) || !slug_ok(slug))
                return bad_slug(res);
        snprintf(path, sizeof(path), "/apps/%s/outgoing-webhooks/%s", app,
                 slug);
        return call(c, token, "DELETE", path, NULL, "delete the webhook", res);
}

bitrise_class_t bitrise_webhook_deliveries(const bitrise_client_t *c,
                                           const char *token, const char *app,
                                           const char *slug, int limit,
                                           bitrise_delivery_list_t *out,
                                           bitrise_result_t *res) {
        char path[256], err[160];
        memset(out, 0, sizeof(*out));
        if (!slug_ok(app) || !slug_ok(slug))
                return bad_slug(res);
        snprintf(path, sizeof(path),
                 "/apps/%s/outgoing-webhooks/%s/delivery-items?limit=%d", app,
                 slug,
                 limit < 1    ? 1
                 : limit > 50 ? 50
                              : limit);
        if (call(c, token, "GET", path, NULL, "list the deliveries", res) ==
                BITRISE_OK &&
            bitrise_delivery_list_parse(res->body, res->body_len, out, err,
                                        sizeof(err)) < 0) {
                res->cls = BITRISE_PERMANENT;
                snprintf(res->message, sizeof(res->message),
                         "cannot list the deliveries: %s", err);
        }
        if (res->cls != BITRISE_OK)
                bitrise_delivery_list_release(out);
        return res->cls;
}
