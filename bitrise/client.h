/* bitrise/client.h — the Bitrise REST API client (api.bitrise.io/v0.1).
 *
 * Built for libcurl's multi interface: one worker thread drives thousands of
 * requests at once. Each call is a request object that owns a configured easy
 * handle; the caller adds that handle to its own multi, and when the multi
 * reports it done, bitrise_req_finish() classifies the answer and parses the
 * body. bitrise_req_perform() is the same path driven by curl_easy_perform,
 * for blocking callers (bitmon connect, tests).
 *
 *   bitrise_req_t *req = bitrise_req_build_get(c, token, app, build,
 *                                              err, sizeof(err));
 *   bitrise_req_set_opaque(req, watch);
 *   curl_multi_add_handle(multi, bitrise_req_easy(req));
 *   ...                             // later, from curl_multi_info_read():
 *   bitrise_req_t *req = bitrise_req_from_easy(msg->easy_handle);
 *   curl_multi_remove_handle(multi, msg->easy_handle);
 *   bitrise_result_t res;
 *   switch (bitrise_req_finish(req, msg->data.result, &res)) {
 *   case BITRISE_OK: use res.build ...; break;
 *   case BITRISE_RATE_LIMITED: wait res.retry_after_ms (or back off) ...
 *   ...
 *   }
 *   bitrise_result_release(&res);
 *   bitrise_req_destroy(req);
 *
 * Threads: a bitrise_client_t is immutable after bitrise_client_new and may
 * be shared by every thread. A bitrise_req_t belongs to one thread at a time
 * (like the easy handle inside it). Nothing here calls curl_global_init: main
 * does that before any thread starts.
 *
 * Connections: requests do not share a connection cache of their own. The
 * caller's multi handle holds the pool (libcurl keeps connections of finished
 * easy handles in the multi's cache), so reuse and HTTP/2 multiplexing work
 * across requests as long as one multi drives them. Set CURLMOPT_PIPELINING
 * to CURLPIPE_MULTIPLEX on that multi (the default since 7.62).
 *
 * Tokens: the token is copied into the request's Authorization header only
 * (the raw form Bitrise documents: "Authorization: <token>"), wiped when the
 * request is destroyed, never logged, never put in a message. API calls do not
 * follow redirects, so the header never reaches another host; the raw log
 * download (a presigned S3 URL) carries no Authorization at all. The raw log
 * URL is kept in memory only and never appears in a message either.
 */
#ifndef BITMON_BITRISE_CLIENT_H
#define BITMON_BITRISE_CLIENT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "bitrise/logparse.h"

/* ------------------------------------------------------------------------ */
/* Client                                                                   */

typedef struct bitrise_client_opts {
        const char *base_url;    /* NULL = "https://api.bitrise.io/v0.1";
                                  * http:// is accepted for the simulator
                                  * and tests */
        const char *ca_file;     /* PEM bundle; NULL = libcurl's default.
                                  * Peer and host verification are always
                                  * on, whatever this says. */
        long connect_timeout_ms; /* 0 = 10000 */
        long timeout_ms;         /* whole API call; 0 = 30000 */
        long log_timeout_ms;     /* whole raw log download; 0 = 300000 */
        long low_speed_bytes;    /* abort below this many bytes/s ... */
        long low_speed_time_s;   /* ... for this long; 0 = 1 B/s for 30 s */
        size_t max_body_bytes;   /* cap on an API answer; 0 = 8 MiB */
        const char *user_agent;  /* NULL = "bitmon/1" */
} bitrise_client_opts_t;

typedef struct bitrise_client bitrise_client_t;

/* Creates a client; copies everything it needs from opts (may be NULL for all
 * defaults). Returns NULL with a reason in errstr on bad options (base_url not
 * http(s), ca_file unreadable). Destroy with bitrise_client_destroy once every
 * request built from it is destroyed. */
bitrise_client_t *bitrise_client_new(const bitrise_client_opts_t *opts,
                                     char *errstr, size_t errstr_size);
void bitrise_client_destroy(bitrise_client_t *c);

/* Token kinds, by prefix (BITRISE.md): a workspace API token ("bitwat_"),
 * a personal access token ("bitpat_"), or an old personal token without a
 * prefix. They authenticate the same way; `bitmon connect` uses the kind to
 * say "a personal token was given where a workspace token is expected". */
typedef enum {
        BITRISE_TOKEN_WORKSPACE,
        BITRISE_TOKEN_PERSONAL,
        BITRISE_TOKEN_LEGACY,
} bitrise_token_kind_t;

bitrise_token_kind_t bitrise_token_kind(const char *token);

/* ------------------------------------------------------------------------ */
/* Classification of every answer                                           */

typedef enum {
        BITRISE_OK = 0,
        BITRISE_TOKEN_INVALID,     /* 401: token wrong, expired or revoked */
        BITRISE_INSUFFICIENT_ROLE, /* 403: role too low for this call; for
                                    * the raw log: the URL expired, ask /log
                                    * again */
        BITRISE_NOT_FOUND,         /* 404: unknown or not visible to token */
        BITRISE_RATE_LIMITED,      /* 429: see retry_after_ms (a 503 may
                                    * carry Retry-After too) */
        BITRISE_TRANSIENT,         /* 5xx, timeouts, resets, truncated bodies,
                                    * network errors: retry with backoff */
        BITRISE_PERMANENT,         /* other 4xx, 2xx whose body does not
                                    * parse, body over the cap: don't retry */
} bitrise_class_t;

/* "ok", "token_invalid", "insufficient_role", "not_found", "rate_limited",
 * "transient", "permanent". Static string. */
const char *bitrise_class_name(bitrise_class_t cls);

/* X-RateLimit-* headers, adopted when present (Bitrise sends none today). */
typedef struct bitrise_ratelimit {
        int present;         /* 1 when at least one header was seen */
        long limit;          /* X-RateLimit-Limit, -1 when absent */
        long remaining;      /* X-RateLimit-Remaining, -1 when absent */
        int64_t reset_at_ms; /* X-RateLimit-Reset as wall-clock epoch ms
                              * (a value > 10^9 is epoch seconds, otherwise
                              * seconds from now); 0 when absent */
} bitrise_ratelimit_t;

/* ------------------------------------------------------------------------ */
/* Parsed payloads                                                          */

/* One build (GET /apps/{app}/builds/{build}). Strings are owned by the
 * struct (NULL when the field was absent, null, "", "null" or not a string);
 * times are epoch ms, 0 when absent/null/zero time/unparsable. Numbers that
 * arrive as strings ("7") are accepted; unknown fields are ignored. Only a
 * missing or non-numeric "status" makes the answer invalid. */
typedef struct bitrise_build {
        char *slug;
        long number; /* build_number */
        int status;  /* 0 running/on-hold, 1 success, 2 error,
                      * 3 aborted, 4 aborted-with-success */
        char *status_text;
        int is_on_hold;
        char *workflow; /* triggered_workflow */
        char *branch;
        char *commit_hash;
        long pull_request_id; /* 0 when not a PR */
        int64_t triggered_at;
        int64_t started_at; /* started_on_worker_at */
        int64_t finished_at;
        double queued_s;   /* started - triggered; -1 when unknown */
        double duration_s; /* finished - started; -1 when unknown */
        char *abort_reason;
        char *machine_type; /* machine_type_id */
        char *stack;        /* stack_identifier */
        /* The parser puts every string above into this one block (and
         * bitrise_build_release frees only it); NULL when each string is
         * its own allocation (a struct filled by hand). */
        char *strs;
} bitrise_build_t;

/* A build is finished exactly when status != 0. */
#define BITRISE_BUILD_FINISHED(b) ((b)->status != 0)

typedef struct bitrise_log_chunk {
        long position;
        char *chunk; /* owned; NUL-terminated; len bytes */
        size_t len;
} bitrise_log_chunk_t;

/* GET /apps/{app}/builds/{build}/log. Chunks are de-duplicated (same
 * position: the last one wins) and sorted by ascending position; a chunk
 * without a position is placed after the previous one. */
typedef struct bitrise_log_info {
        bitrise_log_chunk_t *chunks; /* owned array */
        size_t nchunks;
        int is_archived;
        char *raw_log_url;           /* expiring_raw_log_url, NULL when absent
                                      * or "null". A 10-minute secret: never
                                      * log, store or publish it. */
        char *next_after_timestamp;  /* as sent (RFC 3339), NULL when absent
                                      * or the zero time: pass it back as the
                                      * after_timestamp of the next call */
        int64_t next_after_ms;       /* the same, parsed; 0 = none */
        char *next_before_timestamp; /* older chunks: pass it back as the
                                      * before_timestamp to scroll back;
                                      * NULL when none */
        int64_t next_before_ms;
} bitrise_log_info_t;

/* Feeds the chunks in order into a log parser (the fallback when there is no
 * archived raw log). */
void bitrise_log_info_feed(const bitrise_log_info_t *li, logparse_t *lp);

/* A page of a list answer ({"data": [{"slug": ...}], "paging": {...}}):
 * GET /apps (one page, or every page for bitrise_apps_list_all) and
 * GET /apps/{app}/builds. */
typedef struct bitrise_apps_page {
        char **slugs;  /* owned array of owned strings */
        char **titles; /* same length; an entry may be NULL */
        size_t n;
        char *next; /* paging.next, NULL on the last page */
} bitrise_apps_page_t;

/* A page of GET /apps/{app}/builds with every build parsed (the items are
 * the same model as GET build). An item whose status is missing or bad is
 * left out (the caller never concludes anything from absence). */
typedef struct bitrise_build_page {
        bitrise_build_t *items; /* owned array */
        size_t n;
        char *next; /* paging.next, NULL on the last page */
} bitrise_build_page_t;

/* GET /apps/{app}. */
typedef struct bitrise_app {
        char *slug;
        char *title;
        char *project_type;
        int is_disabled;
} bitrise_app_t;

/* ------------------------------------------------------------------------ */
/* The outcome of one request                                               */

typedef enum {
        BITRISE_REQ_BUILD_GET = 1,
        BITRISE_REQ_LOG_INFO,
        BITRISE_REQ_APPS_LIST,
        BITRISE_REQ_APP_GET,
        BITRISE_REQ_RAW_LOG,
        BITRISE_REQ_BUILDS_LIST,
        BITRISE_REQ_BUILD_PAGE,
        BITRISE_REQ_API, /* bitrise_req_api: the body is the caller's */
} bitrise_req_kind_t;

typedef struct bitrise_result {
        bitrise_class_t cls;
        long http_status;       /* 0 when no HTTP answer arrived */
        CURLcode curl_code;     /* CURLE_OK when the transfer completed */
        int64_t retry_after_ms; /* from Retry-After (seconds or HTTP date),
                                 * relative to now, >= 0; -1 when absent */
        bitrise_ratelimit_t rl;
        int64_t server_date_ms; /* the answer's Date header (Bitrise's clock,
                                 * 1 s resolution), 0 when absent */
        char message[320];      /* "" on OK; else what failed and why, e.g.
                                 * "cannot get build 1a2b3c4d5e6f7a8b: HTTP
                                 * 502 (HTML page from a gateway)"; UUID slugs
                                 * are cut to 8 chars and "…". Never a token
                                 * (an echoed one is masked as "***") or the
                                 * raw log URL. */
        bitrise_req_kind_t kind;
        /* Payload, filled on BITRISE_OK only, per kind (zeroed otherwise). */
        bitrise_build_t build;       /* BITRISE_REQ_BUILD_GET */
        bitrise_log_info_t log_info; /* BITRISE_REQ_LOG_INFO */
        bitrise_apps_page_t apps;    /* BITRISE_REQ_APPS_LIST */
        bitrise_app_t app;           /* BITRISE_REQ_APP_GET */
        bitrise_apps_page_t builds;  /* BITRISE_REQ_BUILDS_LIST: build slugs
                                      * (titles all NULL) and paging.next */
        bitrise_build_page_t page;   /* BITRISE_REQ_BUILD_PAGE */
        char *body;      /* BITRISE_REQ_API: the answer, NUL-terminated */
        size_t body_len; /* (owned; NULL when empty) */
        /* BITRISE_REQ_RAW_LOG: the bytes went to the caller's logparse_t;
         * reaching its byte cap stops the download and is still OK (the
         * parser reports truncated). */
} bitrise_result_t;

/* Frees the payload and zeroes *res (safe on a zeroed or released result). */
void bitrise_result_release(bitrise_result_t *res);

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */

typedef struct bitrise_req bitrise_req_t;

/* Build a request. Slugs are checked (16 hex digits or a UUID-like
 * [0-9a-zA-Z-] string up to 64 chars) and the token must be non-empty
 * printable ASCII with no spaces; on a bad argument these return NULL with a
 * reason in errstr (never echoing the token). The token is copied; the
 * caller's copy may be wiped right after. The request borrows the client. */
bitrise_req_t *bitrise_req_build_get(const bitrise_client_t *c,
                                     const char *token, const char *app_slug,
                                     const char *build_slug, char *errstr,
                                     size_t errstr_size);

/* after_timestamp: the previous answer's next_after_timestamp, or NULL. */
bitrise_req_t *bitrise_req_log_info(const bitrise_client_t *c,
                                    const char *token, const char *app_slug,
                                    const char *build_slug,
                                    const char *after_timestamp, char *errstr,
                                    size_t errstr_size);

/* The same, with both paging parameters (either may be NULL):
 * before_timestamp = a previous answer's next_before_timestamp scrolls back
 * to older chunks of a running build. */
bitrise_req_t *bitrise_req_log_info_page(
    const bitrise_client_t *c, const char *token, const char *app_slug,
    const char *build_slug, const char *after_timestamp,
    const char *before_timestamp, char *errstr, size_t errstr_size);

/* limit 1..50 (0 = 50); next = previous page's next or NULL. */
bitrise_req_t *bitrise_req_apps_list(const bitrise_client_t *c,
                                     const char *token, int limit,
                                     const char *next, char *errstr,
                                     size_t errstr_size);

bitrise_req_t *bitrise_req_app_get(const bitrise_client_t *c, const char *token,
                                   const char *app_slug, char *errstr,
                                   size_t errstr_size);

/* GET /apps/{app}/builds?limit=&next= (newest first): one page of build
 * slugs, e.g. for `bitmon connect` to find a build whose log it can try.
 * limit 1..50 (0 = 50). */
bitrise_req_t *bitrise_req_builds_list(const bitrise_client_t *c,
                                       const char *token, const char *app_slug,
                                       int limit, const char *next,
                                       char *errstr, size_t errstr_size);

/* GET /apps/{app}/builds?sort_by=S&limit=50[&after=A][&next=N]: one page
 * of full builds, for following many builds of one app with one call.
 * S is running_first (running and on-hold builds first, then the newest:
 * the watched builds fit one page) or created_at (newest first). after_s >
 * 0 asks for builds "run after" that Unix time (Bitrise does not say which
 * timestamp it compares: keep a margin); next is a previous page's
 * paging.next or NULL. */
bitrise_req_t *bitrise_req_build_page(const bitrise_client_t *c,
                                      const char *token, const char *app_slug,
                                      int64_t after_s, int running_first,
                                      const char *next, char *errstr,
                                      size_t errstr_size);

/* Streams the archived raw log at url (http or https; no Authorization, no
 * cookies; up to 3 redirects followed, without credentials) into lp, which
 * the caller owns and must keep alive until the request is destroyed. Bytes
 * beyond the parser's byte cap stop the transfer (still BITRISE_OK, the
 * parser says truncated). On BITRISE_OK, bitrise_req_finish has called
 * logparse_finish(lp). On any other class the parser holds a partial log:
 * destroy it and start over with a new one. An error answer (403 when the
 * URL expired, 404) never reaches the parser. */
bitrise_req_t *bitrise_req_raw_log(const bitrise_client_t *c, const char *url,
                                   logparse_t *lp, char *errstr,
                                   size_t errstr_size);

/* A tee on a raw log request (before it starts): fn sees every byte the
 * parser will accept (never bytes past its cap), before the parser does,
 * on the thread that drives the transfer. fn returns 0 (go on),
 * BITRISE_TEE_PAUSE (nothing taken: the transfer pauses, and the same bytes
 * come again once the caller resumes it with curl_easy_pause(easy,
 * CURLPAUSE_CONT)) or < 0 (stop: the request ends BITRISE_TRANSIENT with
 * the message fn wrote into msg, at most BITRISE_TEE_MSG bytes). */
#define BITRISE_TEE_PAUSE 1
#define BITRISE_TEE_MSG   160
typedef int bitrise_tee_fn(void *arg, const void *data, size_t len, char *msg);
void bitrise_req_raw_log_tee(bitrise_req_t *req, bitrise_tee_fn *fn, void *arg);

/* Any other API call: `method` ("GET", "POST", "PUT", "DELETE") on
 * base_url + path (path starts with '/', the caller escapes what it puts
 * in), with json_body (may be NULL) sent as application/json. On OK the
 * answer's bytes are in res->body for the caller to parse (the calls of
 * bitrise/webhooks.h). `what` names the call in messages ("create the
 * webhook of app 1a2b…"). */
bitrise_req_t *bitrise_req_api(const bitrise_client_t *c, const char *token,
                               const char *method, const char *path,
                               const char *json_body, const char *what,
                               char *errstr, size_t errstr_size);

/* The configured easy handle, owned by the request: add it to your multi,
 * remove it from the multi before bitrise_req_finish/destroy. Its
 * CURLOPT_PRIVATE points to the request (see bitrise_req_from_easy); do not
 * change it or any option set here. */
CURL *bitrise_req_easy(bitrise_req_t *req);

/* The request whose easy handle this is (from CURLOPT_PRIVATE), or NULL. */
bitrise_req_t *bitrise_req_from_easy(CURL *easy);

/* A pointer of the caller's, carried with the request. */
void bitrise_req_set_opaque(bitrise_req_t *req, void *opaque);
void *bitrise_req_opaque(const bitrise_req_t *req);

bitrise_req_kind_t bitrise_req_kind(const bitrise_req_t *req);

/* Classifies and parses, after the multi reported the transfer done with
 * `code` (CURLMsg.data.result). Fills *res (release it with
 * bitrise_result_release) and returns res->cls. Call once per request. */
bitrise_class_t bitrise_req_finish(bitrise_req_t *req, CURLcode code,
                                   bitrise_result_t *res);

/* Blocking: runs the transfer on a private multi, then bitrise_req_finish.
 * For bitmon connect and tests; workers use their own multi. */
bitrise_class_t bitrise_req_perform(bitrise_req_t *req, bitrise_result_t *res);

/* Frees the request and its easy handle (it must not be in a multi) and
 * wipes the token. NULL is a no-op. */
void bitrise_req_destroy(bitrise_req_t *req);

/* Blocking: lists every app the token can see, following paging.next for at
 * most max_pages pages (0 = 100) of 50. On OK, res->apps holds all slugs
 * (res->apps.next is NULL unless max_pages stopped it early). On failure,
 * res describes the failing page. Returns res->cls. */
bitrise_class_t bitrise_apps_list_all(const bitrise_client_t *c,
                                      const char *token, int max_pages,
                                      bitrise_result_t *res);

/* ------------------------------------------------------------------------ */
/* Parsers and classifiers, exposed for tests, fuzzers and the simulator.   */

/* Parses a build answer ({"data": {...}}) or a bare build object. Returns 0,
 * or -1 with a reason in errstr. Frees with bitrise_build_release. */
int bitrise_build_parse(const char *body, size_t len, bitrise_build_t *out,
                        char *errstr, size_t errstr_size);
void bitrise_build_release(bitrise_build_t *b);

int bitrise_log_info_parse(const char *body, size_t len,
                           bitrise_log_info_t *out, char *errstr,
                           size_t errstr_size);
void bitrise_log_info_release(bitrise_log_info_t *li);

int bitrise_app_parse(const char *body, size_t len, bitrise_app_t *out,
                      char *errstr, size_t errstr_size);
void bitrise_app_release(bitrise_app_t *a);

int bitrise_apps_page_parse(const char *body, size_t len,
                            bitrise_apps_page_t *out, char *errstr,
                            size_t errstr_size);
void bitrise_apps_page_release(bitrise_apps_page_t *p);

int bitrise_build_page_parse(const char *body, size_t len,
                             bitrise_build_page_t *out, char *errstr,
                             size_t errstr_size);
void bitrise_build_page_release(bitrise_build_page_t *p);

/* Classifies a completed exchange without a network: what
 * bitrise_req_finish does before parsing. `headers` are raw header lines
 * ("Name: value", CRLF optional), NULL-terminated, or NULL. `now_ms` is the
 * wall clock used for HTTP dates and X-RateLimit-Reset deltas. `what` names
 * the call for the message ("get build 1a2b…"). */
bitrise_class_t bitrise_classify(CURLcode code, long http_status,
                                 const char *const *headers, const char *body,
                                 size_t body_len, int64_t now_ms,
                                 const char *what, bitrise_result_t *res);

#endif
