/* tests/sim/api.c — the /v0.1 endpoints and the raw log URL.
 *
 * Visibility and roles follow BITRISE.md: apps outside the token's reach (or
 * role None) are 404, Tester/QA may list and show builds but gets 403 on /log,
 * Developer and up read logs. Lists page with `next` = slug of the first item
 * of the next page.
 */
#include "tests/sim/http.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "tests/sim/webhooks.h"
#include "tests/sim/workload.h"

#define ZERO_TIME "0001-01-01T00:00:00Z"

/* .../outgoing-webhooks[/H[/delivery-items[/I[/redeliver]]]] (n parts). */
static sim_ep_t classify_hooks(const char *method,
                               char parts[][SIM_SLUG_MAX * 2], int n) {
        bool get = strcmp(method, "GET") == 0;
        if (n == 3)
                return get                           ? SIM_EP_WEBHOOKS_LIST
                       : strcmp(method, "POST") == 0 ? SIM_EP_WEBHOOKS_CREATE
                                                     : SIM_EP_OTHER;
        if (n == 4)
                return strcmp(method, "PUT") == 0      ? SIM_EP_WEBHOOK_UPDATE
                       : strcmp(method, "DELETE") == 0 ? SIM_EP_WEBHOOK_DELETE
                                                       : SIM_EP_OTHER;
        if (strcmp(parts[4], "delivery-items") != 0)
                return SIM_EP_OTHER;
        if (n == 5)
                return get ? SIM_EP_DELIVERY_ITEMS : SIM_EP_OTHER;
        if (n == 6)
                return get ? SIM_EP_DELIVERY_ITEM : SIM_EP_OTHER;
        if (n == 7 && strcmp(parts[6], "redeliver") == 0)
                return strcmp(method, "POST") == 0 ? SIM_EP_REDELIVER
                                                   : SIM_EP_OTHER;
        return SIM_EP_OTHER;
}

sim_ep_t sim_api_classify(const char *method, const char *path, char *app,
                          size_t app_size) {
        char parts[7][SIM_SLUG_MAX * 2];
        int n         = 0;
        const char *p = path;
        while (*p && n < 7) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                size_t len = strcspn(p, "/");
                if (len >= sizeof(parts[0]))
                        return SIM_EP_OTHER;
                memcpy(parts[n], p, len);
                parts[n++][len] = '\0';
                p += len;
        }
        if (*p || n == 0 || strcmp(parts[0], "apps") != 0)
                return SIM_EP_OTHER;
        if (n >= 2)
                snprintf(app, app_size, "%s", parts[1]);
        if (n >= 3 && strcmp(parts[2], "outgoing-webhooks") == 0)
                return classify_hooks(method, parts, n);
        if (strcmp(method, "GET") != 0)
                return SIM_EP_OTHER;
        if (n == 1)
                return SIM_EP_APPS_LIST;
        if (n == 2)
                return SIM_EP_APP_GET;
        if (strcmp(parts[2], "builds") != 0)
                return SIM_EP_OTHER;
        if (n == 3)
                return SIM_EP_BUILDS_LIST;
        if (n == 4)
                return SIM_EP_BUILD_GET;
        if (n == 5 && strcmp(parts[4], "log") == 0)
                return SIM_EP_BUILD_LOG;
        return SIM_EP_OTHER;
}

static sim_role_t token_role(sim_t *sim, const sim_token_t *t,
                             const sim_app_t *a) {
        sim_role_t role = SIM_ROLE_NONE;
        pthread_mutex_lock(&sim->lock);
        if (t->all_apps) {
                if (!t->workspace[0] || !a->workspace[0] ||
                    strcmp(t->workspace, a->workspace) == 0)
                        role = t->role;
        } else {
                for (size_t i = 0; i < t->n_app_roles; i++)
                        if (strcmp(t->app_roles[i].app, a->slug) == 0)
                                role = t->app_roles[i].role;
        }
        pthread_mutex_unlock(&sim->lock);
        return role;
}

/* limit: default 50, clamped above 50; -1 when not a positive integer. */
static int parse_limit(const char *s) {
        char *end;
        long long v;
        if (!s)
                return 50;
        v = strtoll(s, &end, 10);
        if (end == s || *end || v < 1)
                return -1;
        return v > 50 ? 50 : (int)v;
}

static cJSON *paging(int64_t total, int limit, const char *next) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "total_item_count", (double)total);
        cJSON_AddNumberToObject(p, "page_item_limit", limit);
        if (next)
                cJSON_AddStringToObject(p, "next", next);
        return p;
}

static void apps_list(sim_t *sim, sim_token_t *t, sim_arg_fn arg, void *ctx,
                      sim_reply_t *r) {
        const char *next = arg(ctx, "next");
        int limit        = parse_limit(arg(ctx, "limit"));
        cJSON *o, *data;
        char next_slug[SIM_SLUG_MAX] = "";
        int64_t total                = 0;
        bool started                 = next == NULL;
        size_t n                     = sim_app_count(sim);
        if (limit < 0) {
                sim_reply_message(r, 400,
                                  "invalid limit: must be a positive integer");
                return;
        }
        o    = cJSON_CreateObject();
        data = cJSON_AddArrayToObject(o, "data");
        for (size_t i = 0; i < n; i++) {
                sim_app_t a;
                if (sim_app_at(sim, i, &a) < 0 ||
                    token_role(sim, t, &a) < SIM_ROLE_TESTER)
                        continue;
                total++;
                if (!started && strcmp(a.slug, next) == 0)
                        started = true;
                if (!started)
                        continue;
                if (cJSON_GetArraySize(data) < limit)
                        cJSON_AddItemToArray(data, sim_app_json(&a));
                else if (!next_slug[0])
                        snprintf(next_slug, sizeof(next_slug), "%s", a.slug);
        }
        if (!started) {
                cJSON_Delete(o);
                sim_reply_message(r, 400, "invalid next: no such item");
                return;
        }
        cJSON_AddItemToObject(
            o, "paging", paging(total, limit, next_slug[0] ? next_slug : NULL));
        sim_reply_json(r, 200, o);
}

void sim_raw_sign(const sim_t *sim, const char *app, const char *build,
                  long long expires, char out[33]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        size_t n = 0;
        char msg[160];
        int len = snprintf(msg, sizeof(msg), "%s/%s/%lld", app, build, expires);
        /* One keyed context, copied per signature; OpenSSL does not say
         * copying one source from several threads at once is safe. */
        static pthread_mutex_t dup_lock = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&dup_lock);
        EVP_MAC_CTX *c = EVP_MAC_CTX_dup(sim->raw_mac);
        pthread_mutex_unlock(&dup_lock);
        bool ok = c && len > 0 && (size_t)len < sizeof(msg) &&
                  EVP_MAC_update(c, (const unsigned char *)msg, (size_t)len) &&
                  EVP_MAC_final(c, md, &n, sizeof(md)) && n >= 16;
        EVP_MAC_CTX_free(c);
        memset(out, 0, 33); /* no signature matches an empty one */
        for (int i = 0; ok && i < 16; i++) {
                out[2 * i]     = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 15];
        }
}

static int find_app(sim_t *sim, sim_token_t *t, const char *slug,
                    sim_role_t min, sim_app_t *a, size_t *ai, sim_reply_t *r) {
        if (sim_app_find(sim, slug, a, ai) < 0 || token_role(sim, t, a) < min) {
                sim_reply_message(r, 404, "Not Found");
                return -1;
        }
        return 0;
}

static bool is_hook_ep(sim_ep_t ep) {
        return ep >= SIM_EP_WEBHOOKS_LIST && ep <= SIM_EP_REDELIVER;
}

void sim_api_handle(sim_t *sim, sim_token_t *t, sim_ep_t ep, const char *method,
                    const char *path, sim_arg_fn arg, void *ctx,
                    const char *body, sim_reply_t *r) {
        char app_slug[SIM_SLUG_MAX] = "", build_slug[SIM_SLUG_MAX * 2] = "";
        sim_app_t a;
        sim_build_t b;
        sim_state_t st;
        size_t ai;
        const char *p;
        if (ep == SIM_EP_OTHER) {
                sim_reply_message(r, 404, "Not Found");
                return;
        }
        if (ep == SIM_EP_APPS_LIST) {
                apps_list(sim, t, arg, ctx, r);
                return;
        }
        sim_api_classify(method, path, app_slug, sizeof(app_slug));
        if (find_app(sim, t, app_slug, SIM_ROLE_TESTER, &a, &ai, r) < 0)
                return;
        int64_t now = sim_now_ms(sim);
        if (ai >= sim_extra_first(sim))
                sim_workload_advance(sim, now);
        if (is_hook_ep(ep)) {
                if (token_role(sim, t, &a) < SIM_ROLE_ADMIN)
                        sim_reply_message(
                            r, 403,
                            "You do not have permission to manage the "
                            "outgoing webhooks of this app (requires the "
                            "Owner or Admin role)");
                else
                        sim_hooks_handle(sim, ep, &a, path, arg, ctx, body, r);
                return;
        }
        if (ep == SIM_EP_APP_GET) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "data", sim_app_json(&a));
                sim_reply_json(r, 200, o);
                return;
        }
        if (ep == SIM_EP_BUILDS_LIST) {
                sim_builds_list(sim, &a, ai, now, arg, ctx, r);
                return;
        }
        p = strstr(path, "/builds/") + 8;
        snprintf(build_slug, sizeof(build_slug), "%.*s", (int)strcspn(p, "/"),
                 p);
        if (sim_build_find(sim, &a, ai, build_slug, &b) < 0 ||
            b.triggered_ms > now) {
                sim_reply_message(r, 404, "Not Found");
                return;
        }
        sim_build_state(sim, &b, now, &st);
        sim_build_effective(&b, &st);
        if (ep == SIM_EP_BUILD_GET) {
                buf_t o;
                buf_init(&o, 0);
                buf_append_str(&o, "{\"data\":");
                sim_build_json_write(&o, &b, &st);
                buf_append_str(&o, "}");
                r->status       = 200;
                r->body_len     = o.len;
                r->body         = buf_detach(&o);
                r->content_type = "application/json";
                return;
        }
        if (token_role(sim, t, &a) < SIM_ROLE_DEVELOPER) {
                sim_reply_message(
                    r, 403,
                    "You do not have permission to read build logs of this app "
                    "(requires the Developer role or higher)");
                return;
        }
        sim_log_info(sim, &b, &st, now, arg, ctx, r);
}

static void s3_denied(sim_reply_t *r, const char *code, const char *msg) {
        char body[512];
        int n = snprintf(
            body, sizeof(body),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>%s</Message><RequestId>SIM0000000000000</RequestId></"
            "Error>",
            code, msg);
        free(r->body);
        r->status       = 403;
        r->body         = strndup(body, (size_t)n);
        r->body_len     = r->body ? (size_t)n : 0;
        r->content_type = "application/xml";
}

void sim_raw_handle(sim_t *sim, const char *path, sim_arg_fn arg, void *ctx,
                    sim_reply_t *r) {
        char app_slug[SIM_SLUG_MAX], build_slug[SIM_SLUG_MAX], want[33];
        const char *exp = arg(ctx, "expires"), *sig = arg(ctx, "sig");
        sim_app_t a;
        sim_build_t b;
        sim_state_t st;
        size_t ai;
        char *end;
        long long expires;
        if (sscanf(path, "/raw/%39[^/]/%39[^/?]", app_slug, build_slug) != 2 ||
            !exp || !sig) {
                s3_denied(r, "AccessDenied",
                          "Query-string authentication requires the Signature "
                          "and Expires parameters");
                return;
        }
        expires = strtoll(exp, &end, 10);
        sim_raw_sign(sim, app_slug, build_slug, *end ? -1 : expires, want);
        if (*end || strlen(sig) != 32 || CRYPTO_memcmp(want, sig, 32) != 0) {
                s3_denied(r, "SignatureDoesNotMatch",
                          "The request signature we calculated does not match "
                          "the signature you provided");
                return;
        }
        int64_t now = sim_now_ms(sim);
        sim_workload_advance(sim, now);
        if (now / 1000 > expires) {
                s3_denied(r, "AccessDenied", "Request has expired");
                return;
        }
        if (sim_app_find(sim, app_slug, &a, &ai) < 0 ||
            sim_build_find(sim, &a, ai, build_slug, &b) < 0) {
                s3_denied(r, "NoSuchKey", "The specified key does not exist.");
                r->status = 404;
                return;
        }
        sim_build_state(sim, &b, now, &st);
        sim_build_effective(&b, &st);
        r->status       = 200;
        r->log          = sim_loglayout_get(sim->logcache, &b, &st);
        r->content_type = "text/plain; charset=utf-8";
        if (!r->log)
                sim_reply_message(r, 500, "out of memory");
}
