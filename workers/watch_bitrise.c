/* workers/watch_bitrise.c — watch requests as Bitrise client requests on the
 * worker's loop (see watch_bitrise.h). */
#include "workers/watch_bitrise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

typedef struct wb_req { /* one request in flight: watch_request_t.handle */
        loop_t *loop;
        srvclock_t *clock;
        bitrise_req_t *br;
        logparse_t *lp;       /* RAW_LOG only */
        logcopy_t *copy;      /* RAW_LOG for log: full, may be NULL */
        logcopy_refs_t *refs; /* where the copy's reference goes */
        long http_status;     /* of the finished transfer, while settling */
        watch_request_t *wreq;
} wb_req_t;

watch_ans_class_t watch_bitrise_class(bitrise_class_t cls) {
        switch (cls) {
        case BITRISE_OK:
                return WATCH_ANS_OK;
        case BITRISE_TOKEN_INVALID:
                return WATCH_ANS_TOKEN_INVALID;
        case BITRISE_INSUFFICIENT_ROLE:
                return WATCH_ANS_INSUFFICIENT_ROLE;
        case BITRISE_NOT_FOUND:
                return WATCH_ANS_NOT_FOUND;
        case BITRISE_RATE_LIMITED:
                return WATCH_ANS_RATE_LIMITED;
        case BITRISE_TRANSIENT:
                return WATCH_ANS_TRANSIENT;
        default:
                return WATCH_ANS_PERMANENT;
        }
}

static void wb_list_free(watch_list_t *l) {
        for (size_t i = 0; i < l->n; i++)
                watch_bitrise_payload_free(WATCH_REQ_BUILD,
                                           l->items[i].payload);
        free(l->items);
        free(l->next);
        free(l);
}

/* A page of builds → a watch_list_t whose items own one build each. */
static watch_list_t *wb_list_take(bitrise_build_page_t *page) {
        watch_list_t *l = calloc(1, sizeof(*l));
        if (!l ||
            !(l->items = calloc(page->n ? page->n : 1, sizeof(*l->items)))) {
                free(l);
                return NULL;
        }
        for (size_t i = 0; i < page->n; i++) {
                bitrise_build_t *b = malloc(sizeof(*b));
                if (!b) {
                        wb_list_free(l);
                        return NULL;
                }
                *b = page->items[i];
                memset(&page->items[i], 0, sizeof(page->items[i]));
                l->items[l->n++] =
                    (watch_list_item_t){.build_slug    = b->slug,
                                        .payload       = b,
                                        .build_status  = b->status,
                                        .build_on_hold = b->is_on_hold};
        }
        l->next    = page->next;
        page->next = NULL;
        return l;
}

void watch_bitrise_build_facts(const void *payload, watch_build_facts_t *out) {
        const bitrise_build_t *b = payload;
        *out = (watch_build_facts_t){.triggered_ms = b->triggered_at,
                                     .started_ms   = b->started_at,
                                     .finished_ms  = b->finished_at,
                                     .workflow     = b->workflow};
}

void watch_bitrise_payload_free(watch_req_kind_t kind, void *payload) {
        if (!payload)
                return;
        if (kind == WATCH_REQ_BUILD_LIST) {
                wb_list_free(payload);
        } else if (kind == WATCH_REQ_BUILD) {
                bitrise_build_release(payload);
                free(payload);
        } else if (kind == WATCH_REQ_LOG_INFO) {
                bitrise_log_info_release(payload);
                free(payload);
        } else {
                logparse_destroy(payload);
        }
}

void *watch_bitrise_log_fallback(const watch_bitrise_t *wb,
                                 const void *log_info) {
        const bitrise_log_info_t *li = log_info;
        if (!li || li->nchunks == 0)
                return NULL;
        logparse_t *lp = logparse_new(&wb->logparse);
        if (!lp)
                return NULL;
        bitrise_log_info_feed(li, lp);
        logparse_finish(lp);
        return lp;
}

static void wb_req_free(wb_req_t *r) {
        logcopy_destroy(r->copy);
        bitrise_req_destroy(r->br);
        logparse_destroy(r->lp);
        free(r);
}

/* Moves the parsed result into a payload the watch owns. Returns 0, or -1
 * when out of memory (then the answer becomes transient). */
static int wb_take_payload(wb_req_t *r, bitrise_result_t *res,
                           watch_answer_t *ans) {
        if (r->wreq->kind == WATCH_REQ_BUILD) {
                bitrise_build_t *b = malloc(sizeof(*b));
                if (!b)
                        return -1;
                *b = res->build;
                memset(&res->build, 0, sizeof(res->build));
                ans->payload       = b;
                ans->build_status  = b->status;
                ans->build_on_hold = b->is_on_hold;
        } else if (r->wreq->kind == WATCH_REQ_BUILD_LIST) {
                if (!(ans->payload = wb_list_take(&res->page)))
                        return -1;
        } else if (r->wreq->kind == WATCH_REQ_LOG_INFO) {
                bitrise_log_info_t *li = malloc(sizeof(*li));
                if (!li)
                        return -1;
                *li = res->log_info;
                memset(&res->log_info, 0, sizeof(res->log_info));
                ans->payload      = li;
                ans->log_archived = li->is_archived;
                ans->log_has_url  = li->raw_log_url != NULL;
        } else {
                logparse_finish(r->lp);
                ans->payload = r->lp;
                r->lp        = NULL;
        }
        return 0;
}

/* Hands ans to the watch and frees r. */
static void wb_answer(wb_req_t *r, watch_answer_t *ans) {
        watch_request_t *wreq = r->wreq;
        watch_req_kind_t kind = wreq->kind;
        logcopy_refs_t *refs  = r->refs;
        wb_req_free(r);
        wreq->handle = NULL;
        wreq->cb(wreq->cb_arg, ans); /* may free wreq */
        if (kind == WATCH_REQ_RAW_LOG && ans->payload)
                logcopy_refs_drop(refs, ans->payload);
        watch_bitrise_payload_free(kind, ans->payload);
}

/* The copy of a `log: full` raw log is stored (rc 0) or failed. */
static void wb_copied(void *arg, int rc, const char *msg) {
        wb_req_t *r        = arg;
        char m[320]        = "";
        logseg_ref_t *ref  = rc == 0 ? logcopy_ref_take(r->copy) : NULL;
        watch_answer_t ans = {.cls            = WATCH_ANS_OK,
                              .http_status    = r->http_status,
                              .retry_after_ms = -1};
        if (ref && logcopy_refs_put(r->refs, r->lp, ref) == 0) {
                ans.payload = r->lp;
                r->lp       = NULL;
        } else {
                snprintf(m, sizeof(m),
                         "cannot store the log of build %s in the logs "
                         "topic: %s",
                         r->wreq->build_slug, rc == 0 ? "out of memory" : msg);
                ans.cls     = WATCH_ANS_TRANSIENT;
                ans.message = m;
        }
        wb_answer(r, &ans);
}

static void wb_done(void *arg, CURL *easy, CURLcode code) {
        wb_req_t *r           = arg;
        watch_request_t *wreq = r->wreq;
        watch_req_kind_t kind = wreq->kind;
        bitrise_result_t res;
        (void)easy;
        bitrise_req_finish(r->br, code, &res);
        if (kind == WATCH_REQ_RAW_LOG && r->copy &&
            code != LOOP_HTTP_CANCELLED && res.cls == BITRISE_OK) {
                /* answered once every segment is stored */
                r->http_status = res.http_status;
                bitrise_result_release(&res);
                logcopy_settle(r->copy, r->lp, wb_copied, r);
                return;
        }
        if (res.server_date_ms && kind != WATCH_REQ_RAW_LOG)
                srvclock_sample(r->clock, res.server_date_ms,
                                loop_now_ms(r->loop));
        watch_answer_t ans = {.cls            = watch_bitrise_class(res.cls),
                              .http_status    = res.http_status,
                              .retry_after_ms = res.retry_after_ms,
                              .message        = res.message,
                              .rl_present     = res.rl.present,
                              .rl_remaining   = res.rl.remaining,
                              .rl_reset_at_ms = res.rl.reset_at_ms};
        if (code == LOOP_HTTP_CANCELLED)
                ans.cls = WATCH_ANS_CANCELLED;
        else if (ans.cls == WATCH_ANS_OK && wb_take_payload(r, &res, &ans)) {
                ans.cls = WATCH_ANS_TRANSIENT;
                snprintf(res.message, sizeof(res.message),
                         "cannot keep the answer: out of memory");
        }
        wb_answer(r, &ans);
        bitrise_result_release(&res);
}

static bitrise_req_t *wb_req_make(const watch_bitrise_t *wb, wb_req_t *r,
                                  const watch_request_t *req, char *errstr,
                                  size_t errstr_size) {
        const bitrise_log_info_t *li = req->log_info;
        switch (req->kind) {
        case WATCH_REQ_BUILD:
                return bitrise_req_build_get(wb->client, req->token,
                                             req->app_slug, req->build_slug,
                                             errstr, errstr_size);
        case WATCH_REQ_LOG_INFO:
                return bitrise_req_log_info(wb->client, req->token,
                                            req->app_slug, req->build_slug,
                                            NULL, errstr, errstr_size);
        case WATCH_REQ_BUILD_LIST:
                return bitrise_req_build_page(
                    wb->client, req->token, req->app_slug, req->after_s,
                    req->running_first, req->next, errstr, errstr_size);
        case WATCH_REQ_RAW_LOG:
                if (!li || !li->raw_log_url) {
                        snprintf(errstr, errstr_size,
                                 "cannot download the raw log: no link");
                        return NULL;
                }
                if (!(r->lp = logparse_new(&wb->logparse))) {
                        snprintf(errstr, errstr_size,
                                 "cannot download the raw log: out of memory");
                        return NULL;
                }
                return bitrise_req_raw_log(wb->client, li->raw_log_url, r->lp,
                                           errstr, errstr_size);
        }
        snprintf(errstr, errstr_size, "unknown request kind %d",
                 (int)req->kind);
        return NULL;
}

int watch_bitrise_request_start(const watch_bitrise_t *wb, loop_t *loop,
                                watch_request_t *req, char *errstr,
                                size_t errstr_size) {
        wb_req_t *r = calloc(1, sizeof(*r));
        if (!r) {
                snprintf(errstr, errstr_size, "out of memory");
                return LOOP_ERR_OOM;
        }
        r->loop  = loop;
        r->clock = wb->clock;
        r->wreq  = req;
        r->refs  = wb->refs;
        r->br    = wb_req_make(wb, r, req, errstr, errstr_size);
        if (!r->br) {
                wb_req_free(r);
                return LOOP_ERR_STATE;
        }
        if (req->kind == WATCH_REQ_RAW_LOG && req->log == WATCH_LOG_FULL &&
            wb->copy && wb->copy->producer && wb->refs &&
            !(r->copy = logcopy_start(wb->copy, loop, r->br, req->app_slug,
                                      req->build_slug, errstr, errstr_size))) {
                wb_req_free(r);
                return LOOP_ERR_OOM;
        }
        int rc = loop_http_add(loop, bitrise_req_easy(r->br), wb_done, r);
        if (rc != 0) {
                snprintf(errstr, errstr_size, "cannot start request: %s",
                         rc == LOOP_ERR_STOPPING ? "worker stopping"
                                                 : "transfer refused");
                wb_req_free(r);
                return rc;
        }
        req->handle = r;
        return 0;
}

void watch_bitrise_request_cancel(watch_request_t *req) {
        wb_req_t *r = req->handle;
        if (!r)
                return;
        loop_http_cancel(r->loop, bitrise_req_easy(r->br));
        wb_req_free(r);
        req->handle = NULL;
}
