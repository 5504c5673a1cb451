/* bitrise/client.c — request objects around libcurl easy handles.
 *
 * Builds each call's URL and headers, caps the body where the bytes arrive,
 * records the headers that matter, and on completion hands the exchange to
 * the classifier and the JSON parsers. Blocking calls reuse the same path.
 */
#include "bitrise/client.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitrise/classify_int.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/timeutil.h"

#define DEFAULT_BASE_URL   "https://api.bitrise.io/v0.1"
#define DEFAULT_USER_AGENT "bitmon/1"
#define ERROR_BODY_MAX     (64u << 10) /* raw log error answers */
#define TOKEN_MAX          512
#define SLUG_MAX           64

struct bitrise_client {
        char *base_url;
        char *ca_file;
        char *user_agent;
        long connect_timeout_ms, timeout_ms, log_timeout_ms;
        long low_speed_bytes, low_speed_time_s;
        size_t max_body_bytes;
};

struct bitrise_req {
        const bitrise_client_t *c;
        bitrise_req_kind_t kind;
        CURL *easy;
        struct curl_slist *headers;
        char *auth; /* "Authorization: <token>", wiped on destroy */
        size_t token_len;
        char *url;     /* wiped on destroy (raw log URL is a secret) */
        char what[96]; /* "get build 1a2b3c4d…" for messages */
        buf_t body;
        int body_too_large;
        logparse_t *lp; /* raw log only; borrowed */
        int log_full;
        bitrise_tee_fn *tee; /* raw log only, may be NULL */
        void *tee_arg;
        int tee_stopped;
        char tee_msg[BITRISE_TEE_MSG]; /* why the tee stopped it */
        bitrise_hdrs_t hdrs;
        void *opaque;
        int finished;
};

/* ---- client ---------------------------------------------------------- */

static char *dup_trimmed_url(const char *s) {
        size_t n = strlen(s);
        while (n && s[n - 1] == '/')
                n--;
        return strndup(s, n);
}

bitrise_client_t *bitrise_client_new(const bitrise_client_opts_t *opts,
                                     char *errstr, size_t errstr_size) {
        bitrise_client_opts_t o = {0};
        if (opts)
                o = *opts;
        const char *base = o.base_url ? o.base_url : DEFAULT_BASE_URL;
        if (strncmp(base, "https://", 8) && strncmp(base, "http://", 7)) {
                snprintf(errstr, errstr_size,
                         "bitrise base URL must start with https://");
                return NULL;
        }
        if (o.ca_file) {
                FILE *f = fopen(o.ca_file, "r");
                if (!f) {
                        snprintf(errstr, errstr_size,
                                 "cannot read CA bundle %s", o.ca_file);
                        return NULL;
                }
                fclose(f);
        }
        bitrise_client_t *c = calloc(1, sizeof(*c));
        if (!c)
                goto oom;
        c->base_url = dup_trimmed_url(base);
        c->ca_file  = o.ca_file ? strdup(o.ca_file) : NULL;
        c->user_agent =
            strdup(o.user_agent ? o.user_agent : DEFAULT_USER_AGENT);
        if (!c->base_url || !c->user_agent || (o.ca_file && !c->ca_file))
                goto oom;
        c->connect_timeout_ms =
            o.connect_timeout_ms > 0 ? o.connect_timeout_ms : 10000;
        c->timeout_ms       = o.timeout_ms > 0 ? o.timeout_ms : 30000;
        c->log_timeout_ms   = o.log_timeout_ms > 0 ? o.log_timeout_ms : 300000;
        c->low_speed_bytes  = o.low_speed_bytes > 0 ? o.low_speed_bytes : 1;
        c->low_speed_time_s = o.low_speed_time_s > 0 ? o.low_speed_time_s : 30;
        c->max_body_bytes   = o.max_body_bytes ? o.max_body_bytes : 8u << 20;
        return c;
oom:
        bitrise_client_destroy(c);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
}

void bitrise_client_destroy(bitrise_client_t *c) {
        if (!c)
                return;
        free(c->base_url);
        free(c->ca_file);
        free(c->user_agent);
        free(c);
}

/* ---- argument checks --------------------------------------------------- */

bitrise_token_kind_t bitrise_token_kind(const char *token) {
        if (token && !strncmp(token, "bitwat_", 7))
                return BITRISE_TOKEN_WORKSPACE;
        if (token && !strncmp(token, "bitpat_", 7))
                return BITRISE_TOKEN_PERSONAL;
        return BITRISE_TOKEN_LEGACY;
}

static int token_ok(const char *t) {
        size_t n = t ? strlen(t) : 0;
        if (!n || n > TOKEN_MAX)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (t[i] <= 0x20 || t[i] >= 0x7f)
                        return 0;
        return 1;
}

static int slug_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (!n || n > SLUG_MAX)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '-')
                        return 0;
        return 1;
}

/* "1a2b3c4d5e6f7a8b" stays whole; a UUID is cut to 8 chars and "…". */
static void slug_short(const char *slug, char *out, size_t size) {
        if (strlen(slug) <= 16)
                snprintf(out, size, "%s", slug);
        else
                snprintf(out, size, "%.8s\xe2\x80\xa6", slug);
}

#define RAW_LOG_READ_BYTES (64L * 1024)

/* ---- libcurl callbacks ------------------------------------------------- */

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
        bitrise_req_t *req = ud;
        bitrise_hdrs_line(&req->hdrs, p, size * n);
        return size * n;
}

/* Keeps what fits of an error answer (for the message) and never fails on
 * it: a huge 5xx page is still a 5xx. */
static size_t error_body_keep(bitrise_req_t *req, const char *p, size_t len) {
        size_t room = req->body.max - req->body.len;
        buf_append(&req->body, p, len < room ? len : room);
        return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
        bitrise_req_t *req = ud;
        size_t len         = size * n;
        long st            = 0;
        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &st);
        if (st < 200 || st >= 300)
                return error_body_keep(req, p, len);
        if (req->kind == BITRISE_REQ_RAW_LOG) {
                uint64_t room = logparse_room(req->lp);
                size_t take   = len < room ? len : (size_t)room;
                int trc       = req->tee && take
                                    ? req->tee(req->tee_arg, p, take, req->tee_msg)
                                    : 0;
                if (trc == BITRISE_TEE_PAUSE)
                        return CURL_WRITEFUNC_PAUSE;
                if (trc < 0) {
                        req->tee_stopped = 1;
                        if (!req->tee_msg[0])
                                snprintf(req->tee_msg, sizeof(req->tee_msg),
                                         "stopped by its reader");
                        return 0;
                }
                int rc = logparse_feed(req->lp, p, len);
                if (rc == LOGPARSE_FULL)
                        req->log_full = 1;
                return rc == 0 ? len : 0;
        }
        int rc = buf_append(&req->body, p, len);
        if (rc == BUF_ERR_CAP)
                req->body_too_large = 1;
        return rc == 0 ? len : 0;
}

/* ---- request construction ---------------------------------------------- */

static int easy_setup(bitrise_req_t *req, int with_auth) {
        const bitrise_client_t *c = req->c;
        CURL *e                   = req->easy;
        int raw                   = req->kind == BITRISE_REQ_RAW_LOG;
        CURLcode rc               = CURLE_OK;
#define SET(opt, val)                                                          \
        do {                                                                   \
                if (rc == CURLE_OK)                                            \
                        rc = curl_easy_setopt(e, opt, val);                    \
        } while (0)
        SET(CURLOPT_URL, req->url);
        SET(CURLOPT_PRIVATE, req);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_PROTOCOLS_STR, "https,http");
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        if (c->ca_file)
                SET(CURLOPT_CAINFO, c->ca_file);
        SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
        SET(CURLOPT_TIMEOUT_MS, raw ? c->log_timeout_ms : c->timeout_ms);
        SET(CURLOPT_LOW_SPEED_LIMIT, c->low_speed_bytes);
        SET(CURLOPT_LOW_SPEED_TIME, c->low_speed_time_s);
        SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        SET(CURLOPT_PIPEWAIT, 1L);
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_USERAGENT, c->user_agent);
        SET(CURLOPT_ACCEPT_ENCODING, ""); /* decoded bytes count against caps */
        SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
        SET(CURLOPT_FOLLOWLOCATION, raw ? 1L : 0L);
        SET(CURLOPT_MAXREDIRS, 3L);
        if (raw) {
                SET(CURLOPT_REDIR_PROTOCOLS_STR, "https,http");
                /* A log arrives in 64 KiB reads rather than 16 KiB ones
                 * (a 100 KB log: 2 recv calls and parser feeds, not 7). */
                SET(CURLOPT_BUFFERSIZE, RAW_LOG_READ_BYTES);
        }
        SET(CURLOPT_HEADERFUNCTION, on_header);
        SET(CURLOPT_HEADERDATA, req);
        SET(CURLOPT_WRITEFUNCTION, on_body);
        SET(CURLOPT_WRITEDATA, req);
        if (with_auth)
                SET(CURLOPT_HTTPHEADER, req->headers);
#undef SET
        return rc == CURLE_OK ? 0 : -1;
}

static bitrise_req_t *req_new(const bitrise_client_t *c,
                              bitrise_req_kind_t kind, const char *token,
                              char *url, const char *what, char *errstr,
                              size_t errstr_size) {
        bitrise_req_t *req = calloc(1, sizeof(*req));
        if (!req || !url) {
                free(req);
                free(url);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        req->c    = c;
        req->kind = kind;
        req->url  = url;
        snprintf(req->what, sizeof(req->what), "%s", what);
        buf_init(&req->body, kind == BITRISE_REQ_RAW_LOG ? ERROR_BODY_MAX
                                                         : c->max_body_bytes);
        req->easy = curl_easy_init();
        if (!req->easy)
                goto fail;
        if (token) {
                req->token_len = strlen(token);
                size_t n       = req->token_len + sizeof("Authorization: ");
                req->auth      = malloc(n);
                if (!req->auth)
                        goto fail;
                snprintf(req->auth, n, "Authorization: %s", token);
                struct curl_slist *l = curl_slist_append(NULL, req->auth);
                struct curl_slist *l2 =
                    l ? curl_slist_append(l, "Accept: application/json") : NULL;
                if (!l2) {
                        curl_slist_free_all(l);
                        goto fail;
                }
                req->headers = l2;
        }
        if (easy_setup(req, token != NULL))
                goto fail;
        return req;
fail:
        snprintf(errstr, errstr_size, "cannot %s: cannot set up the request",
                 what);
        bitrise_req_destroy(req);
        return NULL;
}

static char *url_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static char *url_printf(const char *fmt, ...) {
        buf_t b;
        buf_init(&b, 0);
        va_list ap;
        va_start(ap, fmt);
        int rc = buf_vprintf(&b, fmt, ap);
        va_end(ap);
        if (rc) {
                buf_release(&b);
                return NULL;
        }
        return buf_detach(&b);
}

static int args_check(const char *token, const char *app, const char *build,
                      const char *what, char *errstr, size_t errstr_size) {
        if (!token_ok(token)) {
                snprintf(errstr, errstr_size,
                         "cannot %s: the token is empty or has spaces or "
                         "control characters",
                         what);
                return -1;
        }
        if ((app && !slug_ok(app)) || (build && !slug_ok(build))) {
                snprintf(errstr, errstr_size,
                         "cannot %s: invalid app or build slug", what);
                return -1;
        }
        return 0;
}

bitrise_req_t *bitrise_req_build_get(const bitrise_client_t *c,
                                     const char *token, const char *app_slug,
                                     const char *build_slug, char *errstr,
                                     size_t errstr_size) {
        char what[64], s[32];
        slug_short(build_slug ? build_slug : "", s, sizeof(s));
        snprintf(what, sizeof(what), "get build %s", s);
        if (args_check(token, app_slug ? app_slug : "",
                       build_slug ? build_slug : "", what, errstr, errstr_size))
                return NULL;
        return req_new(c, BITRISE_REQ_BUILD_GET, token,
                       url_printf("%s/apps/%s/builds/%s", c->base_url, app_slug,
                                  build_slug),
                       what, errstr, errstr_size);
}

bitrise_req_t *bitrise_req_log_info_page(
    const bitrise_client_t *c, const char *token, const char *app_slug,
    const char *build_slug, const char *after_timestamp,
    const char *before_timestamp, char *errstr, size_t errstr_size) {
        char what[64], s[32];
        slug_short(build_slug ? build_slug : "", s, sizeof(s));
        snprintf(what, sizeof(what), "get the log of build %s", s);
        if (args_check(token, app_slug ? app_slug : "",
                       build_slug ? build_slug : "", what, errstr, errstr_size))
                return NULL;
        char *after  = after_timestamp && *after_timestamp
                           ? curl_easy_escape(NULL, after_timestamp, 0)
                           : NULL;
        char *before = before_timestamp && *before_timestamp
                           ? curl_easy_escape(NULL, before_timestamp, 0)
                           : NULL;
        char *url =
            url_printf("%s/apps/%s/builds/%s/log%s%s%s%s%s", c->base_url,
                       app_slug, build_slug, after || before ? "?" : "",
                       after ? "after_timestamp=" : "", after ? after : "",
                       after && before ? "&before_timestamp="
                       : before        ? "before_timestamp="
                                       : "",
                       before ? before : "");
        curl_free(after);
        curl_free(before);
        return req_new(c, BITRISE_REQ_LOG_INFO, token, url, what, errstr,
                       errstr_size);
}

bitrise_req_t *bitrise_req_log_info(const bitrise_client_t *c,
                                    const char *token, const char *app_slug,
                                    const char *build_slug,
                                    const char *after_timestamp, char *errstr,
                                    size_t errstr_size) {
        return bitrise_req_log_info_page(c, token, app_slug, build_slug,
                                         after_timestamp, NULL, errstr,
                                         errstr_size);
}

bitrise_req_t *bitrise_req_apps_list(const bitrise_client_t *c,
                                     const char *token, int limit,
                                     const char *next, char *errstr,
                                     size_t errstr_size) {
        const char *what = "list apps";
        if (args_check(token, NULL, next && *next ? next : NULL, what, errstr,
                       errstr_size))
                return NULL;
        if (limit <= 0 || limit > 50)
                limit = 50;
        char *url = next && *next
                        ? url_printf("%s/apps?limit=%d&next=%s", c->base_url,
                                     limit, next)
                        : url_printf("%s/apps?limit=%d", c->base_url, limit);
        return req_new(c, BITRISE_REQ_APPS_LIST, token, url, what, errstr,
                       errstr_size);
}

bitrise_req_t *bitrise_req_builds_list(const bitrise_client_t *c,
                                       const char *token, const char *app_slug,
                                       int limit, const char *next,
                                       char *errstr, size_t errstr_size) {
        char what[64], s[32];
        slug_short(app_slug ? app_slug : "", s, sizeof(s));
        snprintf(what, sizeof(what), "list the builds of app %s", s);
        if (args_check(token, app_slug ? app_slug : "",
                       next && *next ? next : NULL, what, errstr, errstr_size))
                return NULL;
        if (limit <= 0 || limit > 50)
                limit = 50;
        char *url = next && *next
                        ? url_printf("%s/apps/%s/builds?limit=%d&next=%s",
                                     c->base_url, app_slug, limit, next)
                        : url_printf("%s/apps/%s/builds?limit=%d", c->base_url,
                                     app_slug, limit);
        return req_new(c, BITRISE_REQ_BUILDS_LIST, token, url, what, errstr,
                       errstr_size);
}

bitrise_req_t *bitrise_req_build_page(const bitrise_client_t *c,
                                      const char *token, const char *app_slug,
                                      int64_t after_s, int running_first,
                                      const char *next, char *errstr,
                                      size_t errstr_size) {
        char what[64], s[32], after[40] = "", nextq[80] = "";
        slug_short(app_slug ? app_slug : "", s, sizeof(s));
        snprintf(what, sizeof(what), "list the builds of app %s", s);
        if (args_check(token, app_slug ? app_slug : "",
                       next && *next ? next : NULL, what, errstr, errstr_size))
                return NULL;
        if (after_s > 0)
                snprintf(after, sizeof(after), "&after=%lld",
                         (long long)after_s);
        if (next && *next)
                snprintf(nextq, sizeof(nextq), "&next=%s", next);
        char *url = url_printf(
            "%s/apps/%s/builds?sort_by=%s&limit=50%s%s", c->base_url, app_slug,
            running_first ? "running_first" : "created_at", after, nextq);
        return req_new(c, BITRISE_REQ_BUILD_PAGE, token, url, what, errstr,
                       errstr_size);
}

bitrise_req_t *bitrise_req_app_get(const bitrise_client_t *c, const char *token,
                                   const char *app_slug, char *errstr,
                                   size_t errstr_size) {
        char what[64], s[32];
        slug_short(app_slug ? app_slug : "", s, sizeof(s));
        snprintf(what, sizeof(what), "get app %s", s);
        if (args_check(token, app_slug ? app_slug : "", NULL, what, errstr,
                       errstr_size))
                return NULL;
        return req_new(c, BITRISE_REQ_APP_GET, token,
                       url_printf("%s/apps/%s", c->base_url, app_slug), what,
                       errstr, errstr_size);
}

bitrise_req_t *bitrise_req_raw_log(const bitrise_client_t *c, const char *url,
                                   logparse_t *lp, char *errstr,
                                   size_t errstr_size) {
        const char *what = "download the raw log";
        if (!url ||
            (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)) ||
            !lp) {
                snprintf(errstr, errstr_size, "cannot %s: not an http(s) URL",
                         what);
                return NULL;
        }
        for (const char *p = url; *p; p++)
                if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
                        snprintf(errstr, errstr_size,
                                 "cannot %s: malformed URL", what);
                        return NULL;
                }
        bitrise_req_t *req = req_new(c, BITRISE_REQ_RAW_LOG, NULL, strdup(url),
                                     what, errstr, errstr_size);
        if (req)
                req->lp = lp;
        return req;
}

void bitrise_req_raw_log_tee(bitrise_req_t *req, bitrise_tee_fn *fn,
                             void *arg) {
        if (req->kind != BITRISE_REQ_RAW_LOG)
                return;
        req->tee     = fn;
        req->tee_arg = arg;
}

/* ---- accessors ----------------------------------------------------------- */

CURL *bitrise_req_easy(bitrise_req_t *req) {
        return req->easy;
}
bitrise_req_t *bitrise_req_api(const bitrise_client_t *c, const char *token,
                               const char *method, const char *path,
                               const char *json_body, const char *what,
                               char *errstr, size_t errstr_size) {
        if (args_check(token, NULL, NULL, what, errstr, errstr_size) < 0)
                return NULL;
        if (!path || path[0] != '/' || strpbrk(path, " \r\n")) {
                snprintf(errstr, errstr_size, "cannot %s: bad path", what);
                return NULL;
        }
        bitrise_req_t *req = req_new(c, BITRISE_REQ_API, token,
                                     url_printf("%s%s", c->base_url, path),
                                     what, errstr, errstr_size);
        if (!req)
                return NULL;
        struct curl_slist *l =
            curl_slist_append(req->headers, "Content-Type: application/json");
        if (!l ||
            curl_easy_setopt(req->easy, CURLOPT_CUSTOMREQUEST, method) !=
                CURLE_OK ||
            (json_body && curl_easy_setopt(req->easy, CURLOPT_COPYPOSTFIELDS,
                                           json_body) != CURLE_OK)) {
                snprintf(errstr, errstr_size,
                         "cannot %s: cannot set up the request", what);
                bitrise_req_destroy(req);
                return NULL;
        }
        return req;
}

void bitrise_req_set_opaque(bitrise_req_t *req, void *opaque) {
        req->opaque = opaque;
}
void *bitrise_req_opaque(const bitrise_req_t *req) {
        return req->opaque;
}
bitrise_req_kind_t bitrise_req_kind(const bitrise_req_t *req) {
        return req->kind;
}

bitrise_req_t *bitrise_req_from_easy(CURL *easy) {
        char *p = NULL;
        if (!easy || curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK)
                return NULL;
        return (bitrise_req_t *)(void *)p;
}

static void wipe(char *s) {
        if (s)
                explicit_bzero(s, strlen(s));
}

static void wipe_free(char *s) {
        wipe(s);
        free(s);
}

void bitrise_req_destroy(bitrise_req_t *req) {
        if (!req)
                return;
        if (req->easy)
                curl_easy_cleanup(req->easy);
        /* curl_slist_append copied the header: wipe that copy too */
        for (struct curl_slist *l = req->headers; l; l = l->next)
                wipe(l->data);
        curl_slist_free_all(req->headers);
        wipe_free(req->auth);
        wipe_free(req->url);
        buf_release(&req->body);
        free(req);
}

/* ---- completion -----------------------------------------------------------
 */

/* Replaces any copy of the token in the message (a server could echo it). */
static void message_scrub(const bitrise_req_t *req, char *msg) {
        if (!req->auth || !req->token_len)
                return;
        const char *tok = req->auth + strlen("Authorization: ");
        char *hit;
        while ((hit = strstr(msg, tok)) != NULL) {
                memset(hit, '*', req->token_len);
                if (req->token_len > 3)
                        memmove(hit + 3, hit + req->token_len,
                                strlen(hit + req->token_len) + 1);
        }
}

static void parse_payload(bitrise_req_t *req, bitrise_result_t *res) {
        char err[160] = "";
        const char *b = req->body.data;
        size_t n      = req->body.len;
        int rc        = 0;
        switch (req->kind) {
        case BITRISE_REQ_BUILD_GET:
                rc = bitrise_build_parse(b, n, &res->build, err, sizeof(err));
                break;
        case BITRISE_REQ_LOG_INFO:
                rc = bitrise_log_info_parse(b, n, &res->log_info, err,
                                            sizeof(err));
                break;
        case BITRISE_REQ_APPS_LIST:
                rc =
                    bitrise_apps_page_parse(b, n, &res->apps, err, sizeof(err));
                break;
        case BITRISE_REQ_APP_GET:
                rc = bitrise_app_parse(b, n, &res->app, err, sizeof(err));
                break;
        case BITRISE_REQ_BUILDS_LIST:
                rc = bitrise_apps_page_parse(b, n, &res->builds, err,
                                             sizeof(err));
                break;
        case BITRISE_REQ_BUILD_PAGE:
                rc = bitrise_build_page_parse(b, n, &res->page, err,
                                              sizeof(err));
                break;
        case BITRISE_REQ_API:
                res->body_len = req->body.len;
                res->body     = req->body.len ? buf_detach(&req->body) : NULL;
                break;
        case BITRISE_REQ_RAW_LOG:
                rc = logparse_finish(req->lp);
                if (rc)
                        snprintf(err, sizeof(err), "out of memory");
                break;
        }
        if (!rc)
                return;
        char desc[160];
        bitrise_body_describe(req->hdrs.content_type, b, n, desc, sizeof(desc));
        res->cls = BITRISE_PERMANENT;
        snprintf(res->message, sizeof(res->message),
                 "cannot %.80s: HTTP %ld with a bad body: %.120s (%.60s)",
                 req->what, res->http_status, err, desc);
}

bitrise_class_t bitrise_req_finish(bitrise_req_t *req, CURLcode code,
                                   bitrise_result_t *res) {
        memset(res, 0, sizeof(*res));
        res->kind = req->kind;
        long st   = 0;
        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &st);
        if (req->finished) {
                res->cls = BITRISE_PERMANENT;
                snprintf(res->message, sizeof(res->message),
                         "cannot %s: request finished twice", req->what);
                return res->cls;
        }
        req->finished = 1;
        if (req->tee_stopped) { /* the tee stopped it (its reader failed) */
                res->cls            = BITRISE_TRANSIENT;
                res->http_status    = st;
                res->curl_code      = code;
                res->retry_after_ms = -1;
                snprintf(res->message, sizeof(res->message), "cannot %s: %s",
                         req->what, req->tee_msg);
                return res->cls;
        }
        if (req->kind == BITRISE_REQ_RAW_LOG && req->log_full &&
            code == CURLE_WRITE_ERROR)
                code = CURLE_OK; /* we stopped it at the byte cap */
        bitrise_classify_ex(code, st, &req->hdrs, req->body.data, req->body.len,
                            req->body_too_large, req->body.max, time_wall_ms(),
                            req->what, res);
        if (res->cls == BITRISE_OK)
                parse_payload(req, res);
        message_scrub(req, res->message);
        if (log_min_level <= LOG_LVL_DEBUG) {
                curl_off_t us = 0, bytes = 0;
                curl_easy_getinfo(req->easy, CURLINFO_TOTAL_TIME_T, &us);
                curl_easy_getinfo(req->easy, CURLINFO_SIZE_DOWNLOAD_T, &bytes);
                /* what names the call by slug; never the token or a URL */
                LOG_DEBUG(
                    "bitrise",
                    "%s done class=%s http=%ld curl=%d ms=%lld bytes=%lld",
                    req->what, bitrise_class_name(res->cls), st, (int)code,
                    (long long)(us / 1000), (long long)bytes);
        }
        return res->cls;
}

bitrise_class_t bitrise_req_perform(bitrise_req_t *req, bitrise_result_t *res) {
        CURLcode code = curl_easy_perform(req->easy);
        return bitrise_req_finish(req, code, res);
}

void bitrise_result_release(bitrise_result_t *res) {
        if (!res)
                return;
        bitrise_build_release(&res->build);
        bitrise_log_info_release(&res->log_info);
        bitrise_apps_page_release(&res->apps);
        bitrise_apps_page_release(&res->builds);
        bitrise_build_page_release(&res->page);
        bitrise_app_release(&res->app);
        free(res->body);
        memset(res, 0, sizeof(*res));
}

/* ---- paging -------------------------------------------------------------- */

/* Moves the page's apps to the end of all (both already allocated). */
static int apps_append(bitrise_apps_page_t *all, bitrise_apps_page_t *page) {
        size_t n = all->n + page->n;
        char **s = realloc(all->slugs, (n ? n : 1) * sizeof(char *));
        if (s)
                all->slugs = s;
        char **t =
            s ? realloc(all->titles, (n ? n : 1) * sizeof(char *)) : NULL;
        if (t)
                all->titles = t;
        if (!s || !t)
                return -1;
        memcpy(all->slugs + all->n, page->slugs, page->n * sizeof(char *));
        memcpy(all->titles + all->n, page->titles, page->n * sizeof(char *));
        all->n  = n;
        page->n = 0;
        free(all->next);
        all->next  = page->next;
        page->next = NULL;
        return 0;
}

bitrise_class_t bitrise_apps_list_all(const bitrise_client_t *c,
                                      const char *token, int max_pages,
                                      bitrise_result_t *res) {
        bitrise_apps_page_t all = {0};
        memset(res, 0, sizeof(*res));
        if (max_pages <= 0)
                max_pages = 100;
        for (int i = 0; i < max_pages; i++) {
                char err[160];
                bitrise_req_t *req = bitrise_req_apps_list(
                    c, token, 50, all.next, err, sizeof(err));
                if (!req) {
                        res->cls = BITRISE_PERMANENT;
                        snprintf(res->message, sizeof(res->message), "%s", err);
                        goto fail;
                }
                bitrise_result_release(res);
                bitrise_req_perform(req, res);
                bitrise_req_destroy(req);
                if (res->cls != BITRISE_OK)
                        goto fail;
                if (res->apps.next && all.next &&
                    !strcmp(res->apps.next, all.next)) {
                        res->cls = BITRISE_PERMANENT;
                        snprintf(
                            res->message, sizeof(res->message),
                            "cannot list apps: paging.next repeats itself");
                        goto fail;
                }
                if (apps_append(&all, &res->apps)) {
                        res->cls = BITRISE_PERMANENT;
                        snprintf(res->message, sizeof(res->message),
                                 "cannot list apps: out of memory");
                        goto fail;
                }
                bitrise_apps_page_release(&res->apps);
                if (!all.next)
                        break;
        }
        res->apps = all; /* status and headers are the last page's */
        return res->cls;
fail:
        bitrise_apps_page_release(&all);
        bitrise_apps_page_release(&res->apps);
        return res->cls;
}
