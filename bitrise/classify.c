/* bitrise/classify.c — what an answer means: status code, curl result,
 * Retry-After and X-RateLimit-* headers, and a one-line description of the
 * body for the error message (JSON message, HTML page, empty, garbage).
 */
#include "bitrise/classify_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "common/timeutil.h"

#define RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)

const char *bitrise_class_name(bitrise_class_t cls) {
        switch (cls) {
        case BITRISE_OK:
                return "ok";
        case BITRISE_TOKEN_INVALID:
                return "token_invalid";
        case BITRISE_INSUFFICIENT_ROLE:
                return "insufficient_role";
        case BITRISE_NOT_FOUND:
                return "not_found";
        case BITRISE_RATE_LIMITED:
                return "rate_limited";
        case BITRISE_TRANSIENT:
                return "transient";
        case BITRISE_PERMANENT:
                return "permanent";
        }
        return "unknown";
}

/* ---- headers --------------------------------------------------------- */

static void copy_value(char *dst, size_t size, const char *v, size_t n) {
        while (n && (*v == ' ' || *v == '\t')) {
                v++;
                n--;
        }
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' ||
                     v[n - 1] == '\n'))
                n--;
        if (n >= size)
                n = size - 1;
        memcpy(dst, v, n);
        dst[n] = '\0';
}

void bitrise_hdrs_reset(bitrise_hdrs_t *h) {
        memset(h, 0, sizeof(*h));
}

void bitrise_hdrs_line(bitrise_hdrs_t *h, const char *line, size_t n) {
        static const struct {
                const char *name;
                size_t off;
        } known[] = {
            {"retry-after", offsetof(bitrise_hdrs_t, retry_after)},
            {"x-ratelimit-limit", offsetof(bitrise_hdrs_t, rl_limit)},
            {"x-ratelimit-remaining", offsetof(bitrise_hdrs_t, rl_remaining)},
            {"x-ratelimit-reset", offsetof(bitrise_hdrs_t, rl_reset)},
            {"content-type", offsetof(bitrise_hdrs_t, content_type)},
            {"date", offsetof(bitrise_hdrs_t, date)},
        };
        if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
                bitrise_hdrs_reset(
                    h); /* a new response (after 100, redirect) */
                return;
        }
        const char *colon = memchr(line, ':', n);
        if (!colon)
                return;
        size_t nlen = (size_t)(colon - line);
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
                if (strlen(known[i].name) != nlen ||
                    strncasecmp(line, known[i].name, nlen))
                        continue;
                copy_value((char *)h + known[i].off, BITRISE_HDR_VALUE_MAX,
                           colon + 1, n - nlen - 1);
        }
}

static int parse_int64(const char *s, int64_t *out) {
        if (!*s)
                return -1;
        char *end   = NULL;
        errno       = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || *end || v < 0)
                return -1;
        *out = v;
        return 0;
}

/* Retry-After: delta seconds or an HTTP date; -1 when absent/invalid. */
static int64_t retry_after_ms(const char *v, int64_t now_ms) {
        int64_t n = 0;
        if (!*v)
                return -1;
        if (!parse_int64(v, &n))
                return n > RETRY_AFTER_MAX_MS / 1000 ? RETRY_AFTER_MAX_MS
                                                     : n * 1000;
        if (time_http_date_parse(v, &n))
                return -1;
        n -= now_ms;
        return n < 0 ? 0 : n > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : n;
}

static void ratelimit_fill(const bitrise_hdrs_t *h, int64_t now_ms,
                           bitrise_ratelimit_t *rl) {
        int64_t v   = 0;
        rl->present = 0;
        rl->limit = rl->remaining = -1;
        rl->reset_at_ms           = 0;
        if (!parse_int64(h->rl_limit, &v)) {
                rl->limit   = v > 0x7fffffff ? 0x7fffffff : (long)v;
                rl->present = 1;
        }
        if (!parse_int64(h->rl_remaining, &v)) {
                rl->remaining = v > 0x7fffffff ? 0x7fffffff : (long)v;
                rl->present   = 1;
        }
        if (!parse_int64(h->rl_reset, &v) && v < 100000000000LL) {
                rl->reset_at_ms =
                    v > 1000000000LL ? v * 1000 : now_ms + v * 1000;
                rl->present = 1;
        }
}

/* ---- body description ------------------------------------------------ */

static int looks_html(const char *ct, const char *body, size_t len) {
        if (ct && strcasestr(ct, "text/html"))
                return 1;
        size_t i = 0;
        while (i < len && isspace((unsigned char)body[i]))
                i++;
        if (i < len && body[i] == '<') {
                size_t k = len - i < 64 ? len - i : 64;
                char head[65];
                memcpy(head, body + i, k);
                head[k] = '\0';
                return strcasestr(head, "<!doctype html") ||
                       strcasestr(head, "<html") || strcasestr(head, "<head") ||
                       strcasestr(head, "<body");
        }
        return 0;
}

/* Copies printable ASCII only, at most max chars, so a message never carries
 * control bytes or half characters into a log line. */
static void safe_copy(char *dst, size_t size, const char *s, size_t max) {
        size_t o = 0;
        for (size_t i = 0; s[i] && o + 1 < size && o < max; i++) {
                unsigned char c = (unsigned char)s[i];
                dst[o++]        = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
        dst[o] = '\0';
}

void bitrise_body_describe(const char *ct, const char *body, size_t len,
                           char *out, size_t size) {
        if (!body || !len) {
                snprintf(out, size, "empty body");
                return;
        }
        if (looks_html(ct, body, len)) {
                snprintf(out, size, "HTML page from a gateway");
                return;
        }
        cJSON *root = cJSON_ParseWithLengthOpts(body, len, NULL, 0);
        if (!root) {
                snprintf(out, size, "body is not JSON (%zu bytes)", len);
                return;
        }
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "message");
        if (!cJSON_IsString(m))
                m = cJSON_GetObjectItemCaseSensitive(root, "error_msg");
        if (cJSON_IsString(m) && m->valuestring) {
                char msg[128];
                safe_copy(msg, sizeof(msg), m->valuestring, 100);
                snprintf(out, size, "\"%s\"", msg);
        } else {
                snprintf(out, size, "JSON without a message");
        }
        cJSON_Delete(root);
}

/* ---- classification -------------------------------------------------- */

static bitrise_class_t status_class(long st) {
        if (st >= 200 && st < 300)
                return BITRISE_OK;
        switch (st) {
        case 401:
                return BITRISE_TOKEN_INVALID;
        case 403:
                return BITRISE_INSUFFICIENT_ROLE;
        case 404:
                return BITRISE_NOT_FOUND;
        case 429:
                return BITRISE_RATE_LIMITED;
        case 408:
                return BITRISE_TRANSIENT;
        default:
                break;
        }
        return st >= 500 && st < 600 ? BITRISE_TRANSIENT : BITRISE_PERMANENT;
}

static bitrise_class_t curl_class(CURLcode code) {
        switch (code) {
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_BAD_FUNCTION_ARGUMENT:
        case CURLE_TOO_MANY_REDIRECTS:
                return BITRISE_PERMANENT;
        default:
                return BITRISE_TRANSIENT;
        }
}

static const char *curl_what(CURLcode code) {
        switch (code) {
        case CURLE_OPERATION_TIMEDOUT:
                return "timed out";
        case CURLE_PARTIAL_FILE:
                return "truncated body";
        case CURLE_RECV_ERROR:
                return "connection reset while receiving";
        case CURLE_SEND_ERROR:
                return "connection reset while sending";
        case CURLE_GOT_NOTHING:
                return "connection closed without an answer";
        case CURLE_COULDNT_CONNECT:
                return "cannot connect";
        case CURLE_COULDNT_RESOLVE_HOST:
                return "cannot resolve host";
        case CURLE_PEER_FAILED_VERIFICATION:
                return "TLS certificate verification failed";
        case CURLE_SSL_CACERT_BADFILE:
                return "cannot read the CA bundle";
        default:
                return curl_easy_strerror(code);
        }
}

bitrise_class_t bitrise_classify_ex(CURLcode code, long http_status,
                                    const bitrise_hdrs_t *h, const char *body,
                                    size_t body_len, int body_too_large,
                                    size_t body_cap, int64_t now_ms,
                                    const char *what, bitrise_result_t *res) {
        res->http_status    = http_status;
        res->curl_code      = code;
        res->retry_after_ms = h ? retry_after_ms(h->retry_after, now_ms) : -1;
        res->server_date_ms = 0;
        if (h && h->date[0] &&
            time_http_date_parse(h->date, &res->server_date_ms) != 0)
                res->server_date_ms = 0;
        if (h)
                ratelimit_fill(h, now_ms, &res->rl);
        else
                res->rl = (bitrise_ratelimit_t){0, -1, -1, 0};
        res->message[0] = '\0';
        char desc[160];
        if (body_too_large) {
                res->cls = BITRISE_PERMANENT;
                snprintf(res->message, sizeof(res->message),
                         "cannot %s: HTTP %ld body larger than %zu bytes", what,
                         http_status, body_cap);
        } else if (code != CURLE_OK) {
                res->cls = curl_class(code);
                if (http_status)
                        snprintf(res->message, sizeof(res->message),
                                 "cannot %s: HTTP %ld, %s", what, http_status,
                                 curl_what(code));
                else
                        snprintf(res->message, sizeof(res->message),
                                 "cannot %s: %s", what, curl_what(code));
        } else {
                res->cls = status_class(http_status);
                if (res->cls != BITRISE_OK) {
                        bitrise_body_describe(h ? h->content_type : NULL, body,
                                              body_len, desc, sizeof(desc));
                        snprintf(res->message, sizeof(res->message),
                                 "cannot %s: HTTP %ld (%s)", what, http_status,
                                 desc);
                }
        }
        return res->cls;
}

bitrise_class_t bitrise_classify(CURLcode code, long http_status,
                                 const char *const *headers, const char *body,
                                 size_t body_len, int64_t now_ms,
                                 const char *what, bitrise_result_t *res) {
        bitrise_hdrs_t h;
        bitrise_hdrs_reset(&h);
        for (size_t i = 0; headers && headers[i]; i++)
                bitrise_hdrs_line(&h, headers[i], strlen(headers[i]));
        return bitrise_classify_ex(code, http_status, &h, body, body_len, 0, 0,
                                   now_ms, what ? what : "call Bitrise", res);
}
