/* tests/sim/webhooks.c — the outgoing webhooks' registry, endpoints and
 * events (delivery: hookq.c).
 *
 * Webhooks live in one list under one lock; each keeps its newest 100
 * delivery items. Events come from the workload (as it makes builds), from
 * the delivery thread's tick (scenario builds whose trigger or planned finish
 * it has just passed) and from /_sim/builds/finish.
 */
#include "tests/sim/webhooks.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/rand.h"
#include "common/timeutil.h"
#include "tests/sim/hookq.h"
#include "tests/sim/workload.h"

#define HOOK_ITEMS       100 /* delivery items kept per webhook */
#define HOOK_MAX_HEADERS 16
#define HOOK_MAX_PER_APP 50
#define HOOK_URL_MAX     2048

static const char *const event_names[2] = {"build/triggered",
                                           "build/finished"};

typedef struct hook_item {
        char slug[37];
        int event;
        int64_t created_ms; /* simulated */
        char *url, *req_headers, *payload, *resp_body, *resp_headers;
        long status; /* 0: dropped or no answer */
        int64_t elapsed_ms;
} hook_item_t;

typedef struct hook {
        struct hook *next;
        char slug[37];
        char app[SIM_SLUG_MAX];
        char *url, *secret;
        cJSON *events, *headers; /* as registered */
        unsigned mask;           /* 1 << SIM_HOOK_* */
        int64_t created_ms, updated_ms;
        hook_item_t items[HOOK_ITEMS]; /* ring, newest at (head - 1) */
        size_t head, n_items;
} hook_t;

struct sim_hooks {
        pthread_mutex_t lock; /* everything below */
        hook_t *list;         /* newest first */
        atomic_size_t n_hooks;
        double drop_share;
        int delay_min_ms, delay_max_ms;
        uint64_t sent[2], dropped[2], failed[2], overflow;
        sim_t *sim;
        sim_hookq_t *q;
        int64_t scan_ms; /* simulated time the last tick looked up to */
};

static void uuid(char out[37]) {
        static const char hex[] = "0123456789abcdef";
        uint64_t a = rand_u64(), b = rand_u64();
        for (int i = 0, k = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        out[i] = '-';
                        continue;
                }
                uint64_t *src = k < 16 ? &a : &b;
                out[i]        = hex[*src & 15];
                *src >>= 4;
                k++;
        }
        out[36] = '\0';
}

static void item_release(hook_item_t *it) {
        free(it->url);
        free(it->req_headers);
        free(it->payload);
        free(it->resp_body);
        free(it->resp_headers);
        memset(it, 0, sizeof(*it));
}

static void hook_free(hook_t *k) {
        if (!k)
                return;
        for (size_t i = 0; i < HOOK_ITEMS; i++)
                item_release(&k->items[i]);
        free(k->url);
        free(k->secret);
        cJSON_Delete(k->events);
        cJSON_Delete(k->headers);
        free(k);
}

sim_hooks_t *sim_hooks_new(void) {
        sim_hooks_t *h = calloc(1, sizeof(*h));
        if (h)
                pthread_mutex_init(&h->lock, NULL);
        return h;
}

void sim_hooks_destroy(sim_hooks_t *h) {
        if (!h)
                return;
        sim_hookq_stop(h->q);
        while (h->list) {
                hook_t *k = h->list;
                h->list   = k->next;
                hook_free(k);
        }
        pthread_mutex_destroy(&h->lock);
        free(h);
}

int sim_hooks_configure(sim_hooks_t *h, const cJSON *j, char *errstr,
                        size_t errstr_size) {
        const cJSON *drop = cJSON_GetObjectItemCaseSensitive(j, "drop_share"),
                    *delay = cJSON_GetObjectItemCaseSensitive(j, "delay_ms");
        double share = 0, lo = 0, hi = 0;
        if (!cJSON_IsObject(j)) {
                snprintf(errstr, errstr_size, "webhooks: expected an object");
                return -1;
        }
        if (drop && (!cJSON_IsNumber(drop) || !(drop->valuedouble >= 0) ||
                     !(drop->valuedouble <= 1))) {
                snprintf(errstr, errstr_size,
                         "webhooks.drop_share: a share between 0 and 1");
                return -1;
        }
        share = drop ? drop->valuedouble : 0;
        if (cJSON_IsNumber(delay)) {
                lo = hi = delay->valuedouble;
        } else if (cJSON_IsObject(delay)) {
                const cJSON *a = cJSON_GetObjectItemCaseSensitive(delay, "min"),
                            *b = cJSON_GetObjectItemCaseSensitive(delay, "max");
                lo = cJSON_IsNumber(a) ? a->valuedouble : 0;
                hi = cJSON_IsNumber(b) ? b->valuedouble : lo;
        } else if (delay) {
                lo = -1;
        }
        if (!(lo >= 0) || !(hi >= lo) || hi > 600000) {
                snprintf(errstr, errstr_size,
                         "webhooks.delay_ms: a number or {\"min\", \"max\"}, "
                         "0..600000 real ms");
                return -1;
        }
        pthread_mutex_lock(&h->lock);
        h->drop_share   = share;
        h->delay_min_ms = (int)lo;
        h->delay_max_ms = (int)hi;
        pthread_mutex_unlock(&h->lock);
        return 0;
}

/* ---- registration ---- */

/* http on 127.0.0.1, localhost or ::1 only: nothing leaves loopback. */
static bool url_allowed(const char *url) {
        CURLU *u     = curl_url();
        char *scheme = NULL, *host = NULL;
        bool ok      = false;
        if (u && strlen(url) < HOOK_URL_MAX &&
            curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
                ok = strcmp(scheme, "http") == 0 &&
                     (strcmp(host, "127.0.0.1") == 0 ||
                      strcmp(host, "localhost") == 0 ||
                      strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0);
        curl_free(scheme);
        curl_free(host);
        curl_url_cleanup(u);
        return ok;
}

static bool header_name_ok(const char *s) {
        if (!*s || strlen(s) > 128)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
                        return false;
        return true;
}

/* Checks url, events and headers of a create/update body; 0 or -1 with a
 * message. *mask gets the events. */
static int params_check(const cJSON *j, unsigned *mask, const char **msg) {
        const cJSON *url    = cJSON_GetObjectItemCaseSensitive(j, "url"),
                    *events = cJSON_GetObjectItemCaseSensitive(j, "events"),
                    *hdrs = cJSON_GetObjectItemCaseSensitive(j, "headers"), *it;
        *mask = 0;
        if (!cJSON_IsString(url) || !url_allowed(url->valuestring)) {
                *msg = "url: must be an http URL on 127.0.0.1, localhost or "
                       "::1 (the simulator delivers on loopback only)";
                return -1;
        }
        if (!cJSON_IsArray(events) || cJSON_GetArraySize(events) == 0) {
                *msg = "events: a non-empty array";
                return -1;
        }
        cJSON_ArrayForEach(it, events) {
                const char *e = cJSON_GetStringValue(it);
                if (e && strcmp(e, "build/triggered") == 0)
                        *mask |= 1u << SIM_HOOK_TRIGGERED;
                else if (e && strcmp(e, "build/finished") == 0)
                        *mask |= 1u << SIM_HOOK_FINISHED;
                else if (e && (strcmp(e, "all") == 0 || strcmp(e, "build") == 0))
                        *mask |= 3u;
                else {
                        *msg = "events: build/triggered, build/finished or all";
                        return -1;
                }
        }
        if (hdrs && !cJSON_IsNull(hdrs)) {
                if (!cJSON_IsObject(hdrs) ||
                    cJSON_GetArraySize(hdrs) > HOOK_MAX_HEADERS) {
                        *msg = "headers: an object of at most 16 strings";
                        return -1;
                }
                cJSON_ArrayForEach(it, hdrs) {
                        if (!cJSON_IsString(it) || !header_name_ok(it->string) ||
                            strpbrk(it->valuestring, "\r\n") ||
                            strlen(it->valuestring) > 512) {
                                *msg = "headers: names of letters, digits, - "
                                       "and _; values without line breaks";
                                return -1;
                        }
                }
        }
        return 0;
}

/* Applies url, events, headers of a checked body to k. */
static int hook_set(hook_t *k, const cJSON *j, unsigned mask) {
        const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(j, "headers");
        char *url =
            strdup(cJSON_GetObjectItemCaseSensitive(j, "url")->valuestring);
        cJSON *ev = cJSON_Duplicate(
                  cJSON_GetObjectItemCaseSensitive(j, "events"), 1),
              *hd = cJSON_IsObject(hdrs) ? cJSON_Duplicate(hdrs, 1)
                                         : cJSON_CreateObject();
        if (!url || !ev || !hd) {
                free(url);
                cJSON_Delete(ev);
                cJSON_Delete(hd);
                return -1;
        }
        free(k->url);
        cJSON_Delete(k->events);
        cJSON_Delete(k->headers);
        k->url = url, k->events = ev, k->headers = hd, k->mask = mask;
        return 0;
}

static cJSON *hook_json(const hook_t *k) {
        cJSON *o = cJSON_CreateObject();
        char t[40];
        cJSON_AddStringToObject(o, "slug", k->slug);
        cJSON_AddStringToObject(o, "url", k->url);
        cJSON_AddItemToObject(o, "events", cJSON_Duplicate(k->events, 1));
        cJSON_AddItemToObject(o, "headers", cJSON_Duplicate(k->headers, 1));
        cJSON_AddBoolToObject(o, "registered_by_addon", 0);
        cJSON_AddStringToObject(
            o, "created_at", time_rfc3339_format(k->created_ms, 1, t, sizeof(t)));
        cJSON_AddStringToObject(
            o, "updated_at", time_rfc3339_format(k->updated_ms, 1, t, sizeof(t)));
        return o;
}

static cJSON *item_json(const hook_item_t *it) {
        cJSON *o = cJSON_CreateObject();
        char t[40];
        const char *ts = time_rfc3339_format(it->created_ms, 1, t, sizeof(t));
        cJSON_AddStringToObject(o, "slug", it->slug);
        cJSON_AddStringToObject(o, "created_at", ts);
        cJSON_AddStringToObject(o, "updated_at", ts);
        cJSON_AddStringToObject(o, "request_url", it->url ? it->url : "");
        cJSON_AddStringToObject(o, "request_headers",
                                it->req_headers ? it->req_headers : "");
        cJSON_AddStringToObject(o, "request_payload",
                                it->payload ? it->payload : "");
        cJSON_AddNumberToObject(o, "response_http_status", (double)it->status);
        cJSON_AddStringToObject(o, "response_headers",
                                it->resp_headers ? it->resp_headers : "");
        cJSON_AddStringToObject(o, "response_body",
                                it->resp_body ? it->resp_body : "");
        cJSON_AddNumberToObject(o, "response_seconds",
                                (double)(it->elapsed_ms / 1000));
        return o;
}

/* ---- endpoints ---- */

/* The webhook and item slugs of path .../outgoing-webhooks[/H[/x/I]]. */
static void path_slugs(const char *path, char hook[40], char item[40]) {
        const char *p = strstr(path, "/outgoing-webhooks");
        hook[0] = item[0] = '\0';
        if (!p || sscanf(p, "/outgoing-webhooks/%39[^/]", hook) != 1)
                return;
        p = strstr(p, "/delivery-items/");
        if (p)
                sscanf(p, "/delivery-items/%39[^/]", item);
}

static hook_t *hook_find(sim_hooks_t *h, const char *app, const char *slug) {
        for (hook_t *k = h->list; k; k = k->next)
                if (strcmp(k->slug, slug) == 0 && strcmp(k->app, app) == 0)
                        return k;
        return NULL;
}

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

/* {"data": [...], "paging": {...}} of up to `limit` of items from `next`
 * on; takes ownership of all (an array). */
static void reply_page(cJSON *all, sim_arg_fn arg, void *ctx, sim_reply_t *r) {
        const char *next = arg(ctx, "next");
        int limit        = parse_limit(arg(ctx, "limit"));
        cJSON *o, *data, *paging, *it;
        bool started = next == NULL;
        if (limit < 0) {
                cJSON_Delete(all);
                sim_reply_message(r, 400,
                                  "invalid limit: must be a positive integer");
                return;
        }
        o    = cJSON_CreateObject();
        data = cJSON_AddArrayToObject(o, "data");
        paging = cJSON_CreateObject();
        cJSON_AddNumberToObject(paging, "total_item_count",
                                cJSON_GetArraySize(all));
        cJSON_AddNumberToObject(paging, "page_item_limit", limit);
        while ((it = cJSON_DetachItemFromArray(all, 0))) {
                const char *slug = cJSON_GetStringValue(
                    cJSON_GetObjectItemCaseSensitive(it, "slug"));
                if (!started && slug && strcmp(slug, next) == 0)
                        started = true;
                if (started && cJSON_GetArraySize(data) < limit) {
                        cJSON_AddItemToArray(data, it);
                        continue;
                }
                if (started && !cJSON_GetObjectItem(paging, "next"))
                        cJSON_AddStringToObject(paging, "next", slug);
                cJSON_Delete(it);
        }
        cJSON_Delete(all);
        cJSON_AddItemToObject(o, "paging", paging);
        if (!started) {
                cJSON_Delete(o);
                sim_reply_message(r, 400, "invalid next: no such item");
                return;
        }
        sim_reply_json(r, 200, o);
}

static void hooks_list(sim_hooks_t *h, const sim_app_t *a, sim_arg_fn arg,
                       void *ctx, sim_reply_t *r) {
        cJSON *all = cJSON_CreateArray();
        pthread_mutex_lock(&h->lock);
        for (hook_t *k = h->list; k; k = k->next)
                if (strcmp(k->app, a->slug) == 0)
                        cJSON_AddItemToArray(all, hook_json(k));
        pthread_mutex_unlock(&h->lock);
        reply_page(all, arg, ctx, r);
}

static void hook_create(sim_t *sim, const sim_app_t *a, const cJSON *j,
                        sim_reply_t *r) {
        sim_hooks_t *h      = sim->hooks;
        const cJSON *secret = cJSON_GetObjectItemCaseSensitive(j, "secret");
        const char *msg     = NULL;
        unsigned mask;
        size_t n = 0;
        hook_t *k;
        if (params_check(j, &mask, &msg) < 0 || !cJSON_IsString(secret)) {
                sim_reply_message(r, 400, msg ? msg : "secret: a string");
                return;
        }
        if (!(k = calloc(1, sizeof(*k))) || hook_set(k, j, mask) < 0 ||
            !(k->secret = strdup(secret->valuestring))) {
                hook_free(k);
                sim_reply_message(r, 500, "out of memory");
                return;
        }
        uuid(k->slug);
        snprintf(k->app, sizeof(k->app), "%s", a->slug);
        k->created_ms = k->updated_ms = sim_now_ms(sim);
        pthread_mutex_lock(&h->lock);
        for (hook_t *o = h->list; o; o = o->next)
                n += strcmp(o->app, a->slug) == 0;
        if (n < HOOK_MAX_PER_APP) {
                k->next = h->list;
                h->list = k;
                atomic_fetch_add(&h->n_hooks, 1);
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "data", hook_json(k));
                k = NULL;
                sim_reply_json(r, 200, o);
        }
        pthread_mutex_unlock(&h->lock);
        if (k) {
                hook_free(k);
                sim_reply_message(r, 400, "too many webhooks for this app");
        }
}

static void hook_update(sim_t *sim, const sim_app_t *a, const char *slug,
                        const cJSON *j, sim_reply_t *r) {
        sim_hooks_t *h  = sim->hooks;
        const char *msg = NULL;
        unsigned mask;
        hook_t *k;
        if (params_check(j, &mask, &msg) < 0) {
                sim_reply_message(r, 400, msg);
                return;
        }
        pthread_mutex_lock(&h->lock);
        if ((k = hook_find(h, a->slug, slug)) && hook_set(k, j, mask) == 0) {
                cJSON *o      = cJSON_CreateObject();
                k->updated_ms = sim_now_ms(sim);
                cJSON_AddItemToObject(o, "data", hook_json(k));
                sim_reply_json(r, 200, o);
        } else {
                sim_reply_message(r, 404, "Not Found");
        }
        pthread_mutex_unlock(&h->lock);
}

static void hook_delete(sim_hooks_t *h, const sim_app_t *a, const char *slug,
                        sim_reply_t *r) {
        hook_t **pp, *k = NULL;
        pthread_mutex_lock(&h->lock);
        for (pp = &h->list; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->slug, slug) == 0 &&
                    strcmp((*pp)->app, a->slug) == 0) {
                        k   = *pp;
                        *pp = k->next;
                        atomic_fetch_sub(&h->n_hooks, 1);
                        break;
                }
        pthread_mutex_unlock(&h->lock);
        if (!k) {
                sim_reply_message(r, 404, "Not Found");
                return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "data", hook_json(k));
        hook_free(k);
        sim_reply_json(r, 200, o);
}

static hook_item_t *item_find(hook_t *k, const char *slug) {
        for (size_t i = 0; i < k->n_items; i++) {
                hook_item_t *it =
                    &k->items[(k->head + HOOK_ITEMS - 1 - i) % HOOK_ITEMS];
                if (strcmp(it->slug, slug) == 0)
                        return it;
        }
        return NULL;
}

static int enqueue(sim_hooks_t *h, hook_t *k, int event, const char *url,
                   const char *headers, const char *payload, int64_t at);

static void items(sim_t *sim, sim_ep_t ep, const sim_app_t *a,
                  const char *hook, const char *item, sim_arg_fn arg,
                  void *ctx, sim_reply_t *r) {
        sim_hooks_t *h = sim->hooks;
        cJSON *all     = NULL, *one = NULL;
        hook_item_t *it;
        bool queued = false;
        pthread_mutex_lock(&h->lock);
        hook_t *k = hook_find(h, a->slug, hook);
        if (k && ep == SIM_EP_DELIVERY_ITEMS) {
                all = cJSON_CreateArray();
                for (size_t i = 0; i < k->n_items; i++)
                        cJSON_AddItemToArray(
                            all, item_json(&k->items[(k->head + HOOK_ITEMS -
                                                      1 - i) %
                                                     HOOK_ITEMS]));
        } else if (k && (it = item_find(k, item))) {
                if (ep == SIM_EP_DELIVERY_ITEM)
                        one = item_json(it);
                else
                        queued = enqueue(h, k, it->event, it->url,
                                         it->req_headers, it->payload,
                                         sim_now_ms(sim)) == 0;
                if (ep == SIM_EP_REDELIVER)
                        one = cJSON_CreateObject();
        }
        pthread_mutex_unlock(&h->lock);
        if (all) {
                reply_page(all, arg, ctx, r);
        } else if (one && ep == SIM_EP_DELIVERY_ITEM) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "data", one);
                sim_reply_json(r, 200, o);
        } else if (one) {
                cJSON_AddStringToObject(one, "message",
                                        queued ? "OK" : "queue full");
                sim_reply_json(r, queued ? 200 : 503, one);
        } else {
                sim_reply_message(r, 404, "Not Found");
        }
}

void sim_hooks_handle(sim_t *sim, sim_ep_t ep, const sim_app_t *a,
                      const char *path, sim_arg_fn arg, void *ctx,
                      const char *body, sim_reply_t *r) {
        char hook[40], item[40];
        cJSON *j = NULL;
        path_slugs(path, hook, item);
        if (ep == SIM_EP_WEBHOOKS_CREATE || ep == SIM_EP_WEBHOOK_UPDATE) {
                const char *end = NULL;
                j = cJSON_ParseWithOpts(body ? body : "", &end, 1);
                if (!cJSON_IsObject(j)) {
                        cJSON_Delete(j);
                        sim_reply_message(r, 400,
                                          "body: expected a JSON object");
                        return;
                }
        }
        if (ep == SIM_EP_WEBHOOKS_LIST)
                hooks_list(sim->hooks, a, arg, ctx, r);
        else if (ep == SIM_EP_WEBHOOKS_CREATE)
                hook_create(sim, a, j, r);
        else if (ep == SIM_EP_WEBHOOK_UPDATE)
                hook_update(sim, a, hook, j, r);
        else if (ep == SIM_EP_WEBHOOK_DELETE)
                hook_delete(sim->hooks, a, hook, r);
        else
                items(sim, ep, a, hook, item, arg, ctx, r);
        cJSON_Delete(j);
}

/* ---- events and deliveries ---- */

/* The body Bitrise sends (devcenter "Outgoing webhooks"). */
static char *payload_json(const sim_build_t *b, int status) {
        cJSON *o = cJSON_CreateObject(), *git;
        cJSON_AddStringToObject(o, "build_slug", b->slug);
        cJSON_AddNumberToObject(o, "build_number", (double)b->build_number);
        cJSON_AddStringToObject(o, "app_slug", b->app);
        cJSON_AddNumberToObject(o, "build_status", status);
        cJSON_AddStringToObject(o, "build_triggered_workflow", b->workflow);
        git = cJSON_AddObjectToObject(o, "git");
        cJSON_AddStringToObject(git, "provider", "github");
        cJSON_AddStringToObject(git, "src_branch", b->branch);
        if (b->pull_request_id) {
                cJSON_AddStringToObject(git, "dst_branch", b->pr_target);
                cJSON_AddNumberToObject(git, "pull_request_id",
                                        (double)b->pull_request_id);
        }
        if (b->tag[0])
                cJSON_AddStringToObject(git, "tag", b->tag);
        char *text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return text;
}

/* "Name: value\n" lines: the fixed ones, then the registered ones. */
static char *headers_text(const hook_t *k, int event) {
        buf_t b;
        const cJSON *it;
        buf_init(&b, 0);
        buf_printf(&b, "Content-Type: application/json\nBitrise-Event-Type: %s\n",
                   event_names[event]);
        cJSON_ArrayForEach(it, k->headers)
            buf_printf(&b, "%s: %s\n", it->string, it->valuestring);
        return buf_detach(&b);
}

/* Records a delivery item on k (lock held); strings are copied. */
static void item_add(hook_t *k, int event, int64_t at, const char *url,
                     const char *headers, const char *payload, long status,
                     const char *body, const char *resp_headers,
                     int64_t elapsed_ms) {
        hook_item_t *it = &k->items[k->head];
        item_release(it);
        uuid(it->slug);
        it->event        = event;
        it->created_ms   = at;
        it->url          = strdup(url ? url : "");
        it->req_headers  = strdup(headers ? headers : "");
        it->payload      = strdup(payload ? payload : "");
        it->resp_body    = strdup(body ? body : "");
        it->resp_headers = strdup(resp_headers ? resp_headers : "");
        it->status       = status;
        it->elapsed_ms   = elapsed_ms;
        k->head          = (k->head + 1) % HOOK_ITEMS;
        if (k->n_items < HOOK_ITEMS)
                k->n_items++;
}

/* Drops or queues one delivery to k (lock held). 0 when queued or dropped
 * on purpose, -1 when the queue is full. */
static int enqueue(sim_hooks_t *h, hook_t *k, int event, const char *url,
                   const char *headers, const char *payload, int64_t at) {
        if (h->drop_share > 0 && rand_unit() < h->drop_share) {
                h->dropped[event]++;
                item_add(k, event, at, url, headers, payload, 0,
                         "dropped by the simulator (never sent)", "", 0);
                return 0;
        }
        int64_t delay = h->delay_min_ms;
        if (h->delay_max_ms > h->delay_min_ms)
                delay += (int64_t)(rand_unit() *
                                   (double)(h->delay_max_ms - h->delay_min_ms + 1));
        sim_delivery_t d = {.event      = event,
                            .due_ms     = time_mono_ms() + delay,
                            .created_ms = at};
        snprintf(d.hook, sizeof(d.hook), "%s", k->slug);
        if (!h->q || sim_hookq_push(h->q, &d, url, headers, payload) < 0) {
                h->overflow++;
                h->failed[event]++;
                item_add(k, event, at, url, headers, payload, 0,
                         "delivery queue full", "", 0);
                return -1;
        }
        return 0;
}

bool sim_hooks_wants(sim_hooks_t *h, const char *app) {
        bool found = false;
        if (!h || atomic_load(&h->n_hooks) == 0)
                return false;
        pthread_mutex_lock(&h->lock);
        for (hook_t *k = h->list; k && !found; k = k->next)
                found = strcmp(k->app, app) == 0;
        pthread_mutex_unlock(&h->lock);
        return found;
}

void sim_hooks_build_event(sim_hooks_t *h, const sim_build_t *b, int status,
                           int event, int64_t at_ms) {
        char *payload;
        if (!sim_hooks_wants(h, b->app) || !(payload = payload_json(b, status)))
                return;
        pthread_mutex_lock(&h->lock);
        for (hook_t *k = h->list; k; k = k->next) {
                if (strcmp(k->app, b->app) != 0 || !(k->mask & (1u << event)) ||
                    at_ms < k->created_ms)
                        continue;
                char *hdrs = headers_text(k, event);
                if (hdrs)
                        enqueue(h, k, event, k->url, hdrs, payload, at_ms);
                free(hdrs);
        }
        pthread_mutex_unlock(&h->lock);
        free(payload);
}

/* The delivery thread's report of one attempt. */
static void on_done(void *ctx, const sim_delivery_t *d,
                    const sim_delivery_result_t *res) {
        sim_hooks_t *h = ctx;
        bool ok        = res->http_status >= 200 && res->http_status < 300;
        pthread_mutex_lock(&h->lock);
        if (ok)
                h->sent[d->event]++;
        else
                h->failed[d->event]++;
        for (hook_t *k = h->list; k; k = k->next)
                if (strcmp(k->slug, d->hook) == 0)
                        item_add(k, d->event, d->created_ms, d->url,
                                 d->headers, d->payload, res->http_status,
                                 res->body, res->headers, res->elapsed_ms);
        pthread_mutex_unlock(&h->lock);
}

/* Scenario (not workload) builds of app slug triggered or finished as
 * planned in (from, to]; builds finished early by the admin API had their
 * event then. */
static void scan_app(sim_t *sim, const char *slug, int64_t from, int64_t to) {
        sim_app_t a;
        size_t ai;
        if (sim_app_find(sim, slug, &a, &ai) < 0 || ai >= sim_extra_first(sim))
                return;
        int64_t n = sim_build_count(sim, &a, ai);
        for (int64_t i = 0; i < n; i++) {
                sim_build_t b;
                sim_state_t st;
                if (sim_build_at(sim, &a, ai, i, &b) < 0)
                        continue;
                int64_t planned = b.triggered_ms + b.on_hold_ms + b.running_ms;
                if (b.triggered_ms > from && b.triggered_ms <= to)
                        sim_hooks_build_event(sim->hooks, &b, 0,
                                              SIM_HOOK_TRIGGERED,
                                              b.triggered_ms);
                if (planned <= from || planned > to)
                        continue;
                sim_build_state(sim, &b, to, &st);
                if (st.finished_ms == planned)
                        sim_hooks_build_event(sim->hooks, &b, st.status,
                                              SIM_HOOK_FINISHED, planned);
        }
}

/* Runs on the delivery thread every loop. */
static int64_t on_tick(void *ctx) {
        sim_hooks_t *h = ctx;
        sim_t *sim     = h->sim;
        int64_t now = sim_now_ms(sim), due, from = h->scan_ms;
        char apps[HOOK_MAX_PER_APP][SIM_SLUG_MAX];
        size_t n = 0;
        sim_workload_advance(sim, now);
        pthread_mutex_lock(&h->lock);
        for (hook_t *k = h->list; k && n < HOOK_MAX_PER_APP; k = k->next) {
                bool seen = false;
                for (size_t i = 0; i < n && !seen; i++)
                        seen = strcmp(apps[i], k->app) == 0;
                if (!seen)
                        snprintf(apps[n++], SIM_SLUG_MAX, "%s", k->app);
        }
        pthread_mutex_unlock(&h->lock);
        for (size_t i = 0; i < n; i++)
                scan_app(sim, apps[i], from, now);
        h->scan_ms = now;
        due        = sim_workload_next_due(sim->wl);
        if (due == INT64_MAX)
                return 50;
        return (int64_t)((double)(due - sim_now_ms(sim)) / sim->speed) + 1;
}

int sim_hooks_start(sim_hooks_t *h, sim_t *sim, char *errstr,
                    size_t errstr_size) {
        h->sim     = sim;
        h->scan_ms = sim_now_ms(sim);
        h->q = sim_hookq_start(on_tick, on_done, h, errstr, errstr_size);
        return h->q ? 0 : -1;
}

static cJSON *counts_json(uint64_t sent, uint64_t dropped, uint64_t failed) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "sent", (double)sent);
        cJSON_AddNumberToObject(o, "dropped", (double)dropped);
        cJSON_AddNumberToObject(o, "failed", (double)failed);
        return o;
}

cJSON *sim_hooks_stats_json(sim_hooks_t *h) {
        cJSON *o = cJSON_CreateObject(), *ev, *cfg, *d;
        size_t queued = 0, flight = 0;
        if (h->q)
                sim_hookq_counts(h->q, &queued, &flight);
        pthread_mutex_lock(&h->lock);
        ev = cJSON_AddObjectToObject(o, "events");
        for (int e = 0; e < 2; e++)
                cJSON_AddItemToObject(ev, event_names[e],
                                      counts_json(h->sent[e], h->dropped[e],
                                                  h->failed[e]));
        cJSON_AddItemToObject(o, "total",
                              counts_json(h->sent[0] + h->sent[1],
                                          h->dropped[0] + h->dropped[1],
                                          h->failed[0] + h->failed[1]));
        cJSON_AddNumberToObject(o, "queued", (double)queued);
        cJSON_AddNumberToObject(o, "in_flight", (double)flight);
        cJSON_AddNumberToObject(o, "overflow", (double)h->overflow);
        cJSON_AddNumberToObject(o, "webhooks", (double)atomic_load(&h->n_hooks));
        cfg = cJSON_AddObjectToObject(o, "config");
        cJSON_AddNumberToObject(cfg, "drop_share", h->drop_share);
        d = cJSON_AddObjectToObject(cfg, "delay_ms");
        cJSON_AddNumberToObject(d, "min", h->delay_min_ms);
        cJSON_AddNumberToObject(d, "max", h->delay_max_ms);
        pthread_mutex_unlock(&h->lock);
        return o;
}

void sim_hooks_stats_reset(sim_hooks_t *h) {
        pthread_mutex_lock(&h->lock);
        memset(h->sent, 0, sizeof(h->sent));
        memset(h->dropped, 0, sizeof(h->dropped));
        memset(h->failed, 0, sizeof(h->failed));
        h->overflow = 0;
        pthread_mutex_unlock(&h->lock);
}
