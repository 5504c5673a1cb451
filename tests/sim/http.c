/* tests/sim/http.c — the simulator's HTTP server (libmicrohttpd).
 *
 * epoll with a pool of internal threads. Per request: authenticate, count,
 * apply the token's quota, pick faults, then answer through api.c/admin.c.
 * Latency and slow bodies never block a thread: the connection is suspended
 * and a timer thread resumes it when it is due.
 */
#include "tests/sim/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/timeutil.h"

#define UPLOAD_MAX (1 << 20)

/* The HTML "Application Error" page of
 * bitrise-api/real/gitrise_html_response.html. */
static const char html_page[] =
    "<!DOCTYPE html>\n\t<html>\n\t  <head>\n\t\t<meta name=\"viewport\" "
    "content=\"width=device-width, "
    "initial-scale=1\">\n\t\t<meta charset=\"utf-8\">\n\t\t<title>Application "
    "Error</title>\n"
    "\t\t<style media=\"screen\">\n\t\t  html,body,iframe {\n\t\t\tmargin: "
    "0;\n\t\t\tpadding: 0;\n"
    "\t\t  }\n\t\t  html,body {\n\t\t\theight: 100%;\n\t\t\toverflow: "
    "hidden;\n\t\t  }\n"
    "\t\t  iframe {\n\t\t\twidth: 100%;\n\t\t\theight: 100%;\n\t\t\tborder: "
    "0;\n\t\t  }\n"
    "\t\t</style>\n\t  </head>\n\t  <body>\n\t\t<iframe "
    "src=\"//www.herokucdn.com/error-pages/"
    "application-error.html\"></iframe>\n\t  </body>\n\t</html>\n";

typedef enum {
        F_NONE = 0,
        F_5XX,
        F_RESET,
        F_HTML,
        F_INVALID_JSON,
        F_TRUNCATE,
        F_SLOW
} fault_t;

typedef struct pending {
        int64_t due;
        struct MHD_Connection *c;
} pending_t;

struct sim_server {
        sim_t *sim;
        struct MHD_Daemon *d;
        int port;
        pthread_t timer;
        bool timer_started;
        pthread_mutex_t tlock; /* pend, stopping */
        pthread_cond_t tcond;
        pending_t *pend;
        size_t n_pend, cap_pend;
        bool stopping;
};

typedef struct req {
        bool decided;
        buf_t upload;
        bool upload_too_big;
        sim_ep_t ep;
        sim_token_t *tok; /* tokens live until exit */
        fault_t fault;
        int status_5xx, slow_bps;
        bool throttled;
        bool in_flight; /* counted in sim->api_in_flight */
        char auth_err[80];
        sim_reply_t quota_reply; /* 429 prepared in the decision step */
} req_t;

typedef struct stream {
        sim_server_t *srv;
        struct MHD_Connection *c;
        char *mem;
        sim_loglayout_t *log;
        uint64_t size, stop_at;
        int bps;
        int64_t next_ms;
} stream_t;

void sim_reply_json(sim_reply_t *r, int status, cJSON *j) {
        free(r->body);
        r->status       = status;
        r->body         = j ? cJSON_PrintUnformatted(j) : NULL;
        r->body_len     = r->body ? strlen(r->body) : 0;
        r->content_type = "application/json";
        cJSON_Delete(j);
}

void sim_reply_message(sim_reply_t *r, int status, const char *msg) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "message", msg);
        sim_reply_json(r, status, j);
}

void sim_reply_header(sim_reply_t *r, const char *name, const char *value) {
        if (r->n_headers >= 4)
                return;
        snprintf(r->headers[r->n_headers][0], 64, "%s", name);
        snprintf(r->headers[r->n_headers][1], 64, "%s", value);
        r->n_headers++;
}

static void reply_release(sim_reply_t *r) {
        free(r->body);
        sim_loglayout_release(r->log);
        memset(r, 0, sizeof(*r));
}

/* ---- timer: resumes suspended connections when due ---- */

static void schedule(sim_server_t *srv, int64_t due, struct MHD_Connection *c) {
        pthread_mutex_lock(&srv->tlock);
        if (srv->stopping) { /* the timer is gone or leaving: never strand c */
                pthread_mutex_unlock(&srv->tlock);
                MHD_resume_connection(c);
                return;
        }
        if (srv->n_pend == srv->cap_pend) {
                size_t cap   = srv->cap_pend ? srv->cap_pend * 2 : 64;
                pending_t *p = realloc(srv->pend, cap * sizeof(*p));
                if (!p) { /* cannot wait: resume at once */
                        pthread_mutex_unlock(&srv->tlock);
                        MHD_resume_connection(c);
                        return;
                }
                srv->pend     = p;
                srv->cap_pend = cap;
        }
        srv->pend[srv->n_pend++] = (pending_t){due, c};
        pthread_cond_signal(&srv->tcond);
        pthread_mutex_unlock(&srv->tlock);
}

static void *timer_main(void *arg) {
        sim_server_t *srv = arg;
        pthread_mutex_lock(&srv->tlock);
        for (;;) {
                int64_t now = time_mono_ms(), next = now + 1000;
                for (size_t i = 0; i < srv->n_pend;) {
                        if (srv->pend[i].due <= now || srv->stopping) {
                                MHD_resume_connection(srv->pend[i].c);
                                srv->pend[i] = srv->pend[--srv->n_pend];
                                continue;
                        }
                        if (srv->pend[i].due < next)
                                next = srv->pend[i].due;
                        i++;
                }
                if (srv->stopping)
                        break;
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                int64_t wait = next - now;
                ts.tv_sec += wait / 1000;
                ts.tv_nsec += (wait % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&srv->tcond, &srv->tlock, &ts);
        }
        pthread_mutex_unlock(&srv->tlock);
        return NULL;
}

static bool stopping(sim_server_t *srv) {
        pthread_mutex_lock(&srv->tlock);
        bool s = srv->stopping;
        pthread_mutex_unlock(&srv->tlock);
        return s;
}

/* ---- bodies ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        stream_t *s = cls;
        if (pos >= s->stop_at)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        if (pos >= s->size)
                return MHD_CONTENT_READER_END_OF_STREAM;
        uint64_t n = max;
        if (n > s->size - pos)
                n = s->size - pos;
        if (n > s->stop_at - pos)
                n = s->stop_at - pos;
        if (s->bps) {
                int64_t now = time_mono_ms();
                if (stopping(s->srv))
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                if (now < s->next_ms) {
                        MHD_suspend_connection(s->c);
                        schedule(s->srv, s->next_ms, s->c);
                        return 0;
                }
                uint64_t per_tick = s->bps / 10 ? (uint64_t)s->bps / 10 : 1;
                if (n > per_tick)
                        n = per_tick;
                s->next_ms = now + 100;
        }
        if (s->log)
                return (ssize_t)sim_loglayout_read(s->log, (int64_t)pos, buf,
                                                   (size_t)n);
        memcpy(buf, s->mem + pos, (size_t)n);
        return (ssize_t)n;
}

static void stream_free(void *cls) {
        stream_t *s = cls;
        free(s->mem);
        sim_loglayout_release(s->log);
        free(s);
}

/* The Date header on the simulated clock: Bitrise's answers carry its own
 * clock, which bitmon's schedule reads (bitrise/srvclock.h). */
static void add_date(sim_server_t *srv, struct MHD_Response *resp) {
        static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed",
                                         "Thu", "Fri", "Sat"};
        static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr",
                                         "May", "Jun", "Jul", "Aug",
                                         "Sep", "Oct", "Nov", "Dec"};
        time_t t                      = (time_t)(sim_now_ms(srv->sim) / 1000);
        struct tm tm;
        char date[40];
        if (!gmtime_r(&t, &tm))
                return;
        snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 wd[tm.tm_wday], tm.tm_mday, mo[tm.tm_mon], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        MHD_add_response_header(resp, "Date", date);
}

/* Turns the reply into an MHD response, applying body faults. */
static struct MHD_Response *make_response(sim_server_t *srv,
                                          struct MHD_Connection *c, req_t *q,
                                          sim_reply_t *r) {
        struct MHD_Response *resp;
        bool stream = r->log || q->fault == F_TRUNCATE || q->fault == F_SLOW;
        if (!stream) {
                static char empty[1];
                resp = MHD_create_response_from_buffer(
                    r->body_len, r->body ? r->body : empty,
                    r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
                r->body = NULL;
        } else {
                stream_t *s = calloc(1, sizeof(*s));
                if (!s)
                        return NULL;
                s->srv  = srv;
                s->c    = c;
                s->mem  = r->body;
                s->log  = r->log;
                r->body = NULL;
                r->log  = NULL;
                s->size =
                    s->log ? (uint64_t)sim_loglayout_size(s->log) : r->body_len;
                s->stop_at = q->fault == F_TRUNCATE ? s->size / 2 : UINT64_MAX;
                s->bps     = q->fault == F_SLOW ? q->slow_bps : 0;
                resp       = MHD_create_response_from_callback(
                          s->size, 64 * 1024, stream_read, s, stream_free);
                if (!resp)
                        stream_free(s);
        }
        if (!resp)
                return NULL;
        MHD_add_response_header(resp, "Content-Type",
                                r->content_type ? r->content_type
                                                : "application/json");
        add_date(srv, resp);
        for (int i = 0; i < r->n_headers; i++)
                MHD_add_response_header(resp, r->headers[i][0],
                                        r->headers[i][1]);
        return resp;
}

/* ---- auth, quota, faults ---- */

static sim_token_t *authenticate(sim_t *sim, const char *hdr, int64_t now,
                                 char *err, size_t size) {
        sim_token_t *t;
        if (!hdr || !*hdr) {
                sim->missing_token_requests++;
                snprintf(err, size, "Unauthorized: no Authorization header");
                return NULL;
        }
        if (strncasecmp(hdr, "bearer ", 7) == 0) {
                sim->invalid_token_requests++;
                snprintf(
                    err, size,
                    "Unauthorized: Bearer authentication is not supported");
                return NULL;
        }
        if (strncasecmp(hdr, "token ", 6) == 0)
                hdr += 6;
        while (*hdr == ' ')
                hdr++;
        t = sim_token_find(sim, hdr);
        if (!t) {
                sim->invalid_token_requests++;
                snprintf(err, size, "Unauthorized: invalid token");
                return NULL;
        }
        if (t->revoked) {
                sim->revoked_token_requests++;
                snprintf(err, size, "Unauthorized: token revoked");
        } else if (t->expires_ms && now >= t->expires_ms) {
                sim->expired_token_requests++;
                snprintf(err, size, "Unauthorized: token expired");
        }
        return t;
}

/* Counts the request for the token; true when its quota refuses it. */
static bool token_account(sim_t *sim, sim_token_t *t, sim_ep_t ep, int64_t now,
                          sim_reply_t *r429) {
        sim_quota_t *qu = &t->quota;
        int64_t win =
            qu->limit ? (int64_t)qu->window_s * 1000 : sim->stats_window_ms;
        char v[64];
        t->requests++;
        t->by_ep[ep]++;
        sim_budget_account(sim, t, now);
        size_t n = sim_window_push(&t->seen, now, win);
        if (n > t->max_window_count)
                t->max_window_count = n;
        if (!qu->limit)
                return false;
        size_t used = sim_window_count(&t->quota_win, now, win);
        bool refuse = used >= (size_t)qu->limit;
        if (!refuse)
                used = sim_window_push(&t->quota_win, now, win);
        int64_t reset_ms =
            (used ? sim_window_oldest(&t->quota_win) : now) + win;
        int64_t delta_s = (reset_ms - now + 999) / 1000;
        if (delta_s < 1)
                delta_s = 1;
        if (refuse) {
                t->throttled++;
                sim_reply_message(r429, 429, "Too Many Requests");
                if (qu->retry_after) {
                        snprintf(v, sizeof(v), "%" PRId64, delta_s);
                        sim_reply_header(r429, "Retry-After", v);
                }
        }
        if (qu->headers) {
                sim_reply_t *h =
                    r429; /* also carried on accepted answers, see respond() */
                snprintf(v, sizeof(v), "%d", qu->limit);
                sim_reply_header(h, "X-RateLimit-Limit", v);
                snprintf(v, sizeof(v), "%zu",
                         refuse ? (size_t)0 : (size_t)qu->limit - used);
                sim_reply_header(h, "X-RateLimit-Remaining", v);
                snprintf(v, sizeof(v), "%" PRId64,
                         qu->reset_epoch ? reset_ms / 1000 + 1 : delta_s);
                sim_reply_header(h, "X-RateLimit-Reset", v);
        }
        return refuse;
}

static int64_t pick_faults(sim_t *sim, sim_ep_t ep, const char *app_slug,
                           req_t *q) {
        sim_faults_t *f = NULL;
        sim_app_t app;
        size_t idx;
        if (app_slug[0] && sim_app_find(sim, app_slug, &app, &idx) == 0 &&
            idx < sim->n_apps && sim->apps[idx].faults.set)
                f = &sim->apps[idx].faults;
        else if (sim->faults_ep[ep].set)
                f = &sim->faults_ep[ep];
        else if (sim->faults_global.set)
                f = &sim->faults_global;
        if (!f || f->remaining == 0)
                return 0;
        if (f->remaining > 0)
                f->remaining--;
        double u = rand_unit(), acc = 0;
        struct {
                double share;
                fault_t kind;
        } order[] = {
            {f->share_5xx, F_5XX},
            {f->share_reset, F_RESET},
            {f->share_html, F_HTML},
            {f->share_invalid_json, F_INVALID_JSON},
            {f->share_truncate, F_TRUNCATE},
            {f->share_slow, F_SLOW},
        };
        for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
                acc += order[i].share;
                if (order[i].share > 0 && u < acc) {
                        q->fault = order[i].kind;
                        break;
                }
        }
        q->status_5xx = f->status_5xx;
        q->slow_bps   = f->slow_bytes_per_s;
        if (f->latency_max_ms <= 0)
                return 0;
        return f->latency_min_ms +
               (int64_t)(rand_unit() *
                         (double)(f->latency_max_ms - f->latency_min_ms + 1));
}

/* Classifies, counts and decides; returns the latency to wait first. */
static int64_t decide(sim_server_t *srv, struct MHD_Connection *c, req_t *q,
                      const char *url, const char *method) {
        sim_t *sim             = srv->sim;
        char app[SIM_SLUG_MAX] = "";
        int64_t now = time_wall_ms(), latency = 0;
        bool api = strncmp(url, "/v0.1/", 6) == 0;
        if (strncmp(url, "/_sim", 5) == 0) {
                q->ep = SIM_EP_OTHER;
                return 0; /* the admin API is neither counted nor faulted */
        }
        q->ep = api ? sim_api_classify(method, url + 5, app, sizeof(app))
                : strncmp(url, "/raw/", 5) == 0 ? SIM_EP_RAW_LOG
                                                : SIM_EP_OTHER;
        pthread_mutex_lock(&sim->lock);
        sim->ep_requests[q->ep]++;
        if (api) {
                q->in_flight = true;
                if (++sim->api_in_flight > sim->api_in_flight_max)
                        sim->api_in_flight_max = sim->api_in_flight;
                const char *hdr = MHD_lookup_connection_value(
                    c, MHD_HEADER_KIND, "Authorization");
                q->tok = authenticate(sim, hdr, now, q->auth_err,
                                      sizeof(q->auth_err));
                if (q->tok)
                        q->throttled = token_account(sim, q->tok, q->ep, now,
                                                     &q->quota_reply) &&
                                       !q->auth_err[0];
        }
        if (!q->throttled && (api || q->ep == SIM_EP_RAW_LOG))
                latency = pick_faults(sim, q->ep, app, q);
        pthread_mutex_unlock(&sim->lock);
        return latency;
}

static const char *conn_arg(void *ctx, const char *key) {
        return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static void count_status(sim_server_t *srv, req_t *q, int status) {
        if (!q->tok)
                return;
        pthread_mutex_lock(&srv->sim->lock);
        q->tok->by_status[status / 100 >= 1 && status / 100 <= 5 ? status / 100
                                                                 : 0]++;
        pthread_mutex_unlock(&srv->sim->lock);
}

static void route(sim_server_t *srv, struct MHD_Connection *c, req_t *q,
                  const char *url, const char *method, sim_reply_t *r) {
        sim_t *sim = srv->sim;
        if (strncmp(url, "/_sim/", 6) == 0 || strcmp(url, "/_sim") == 0) {
                if (q->upload_too_big)
                        sim_reply_message(r, 413, "request body too large");
                else
                        sim_admin_handle(sim, method, url + 5, conn_arg, c,
                                         buf_cstr(&q->upload), r);
                return;
        }
        if (q->ep == SIM_EP_RAW_LOG) {
                sim_raw_handle(sim, url, conn_arg, c, r);
                return;
        }
        if (strncmp(url, "/v0.1/", 6) != 0) {
                sim_reply_message(r, 404, "Not Found");
                return;
        }
        if (q->ep == SIM_EP_OTHER && strcmp(method, "GET") != 0) {
                sim_reply_message(r, 405, "method not allowed");
                return;
        }
        if (!q->tok || q->auth_err[0]) {
                sim_reply_message(r, 401, q->auth_err);
                return;
        }
        if (q->upload_too_big) {
                sim_reply_message(r, 413, "request body too large");
                return;
        }
        sim_api_handle(sim, q->tok, q->ep, method, url + 5, conn_arg, c,
                       buf_cstr(&q->upload), r);
}

static void apply_body_fault(req_t *q, sim_reply_t *r) {
        if (q->fault == F_5XX) {
                reply_release(r);
                sim_reply_message(r, q->status_5xx, "simulated server error");
        } else if (q->fault == F_HTML) {
                reply_release(r);
                r->status       = 502;
                r->body         = strdup(html_page);
                r->body_len     = r->body ? strlen(r->body) : 0;
                r->content_type = "text/html; charset=utf-8";
        } else if (q->fault == F_INVALID_JSON) {
                reply_release(r);
                r->status = 200;
                r->body = strdup("{\"data\": {\"slug\": \"0000\", \"status\": "
                                 "1,, \"status_text\": \"succ");
                r->body_len     = r->body ? strlen(r->body) : 0;
                r->content_type = "application/json";
        }
}

static enum MHD_Result respond(sim_server_t *srv, struct MHD_Connection *c,
                               req_t *q, const char *url, const char *method) {
        sim_reply_t r = {0};
        struct MHD_Response *resp;
        enum MHD_Result ret;
        if (q->fault == F_RESET) {
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
                    c, MHD_CONNECTION_INFO_CONNECTION_FD);
                struct linger lg = {1, 0};
                if (ci)
                        setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg,
                                   sizeof(lg));
                count_status(srv, q, 0);
                return MHD_NO;
        }
        if (q->throttled) {
                r = q->quota_reply;
                memset(&q->quota_reply, 0, sizeof(q->quota_reply));
        } else {
                route(srv, c, q, url, method, &r);
                apply_body_fault(q, &r);
                for (int i = 0; i < q->quota_reply.n_headers; i++)
                        sim_reply_header(&r, q->quota_reply.headers[i][0],
                                         q->quota_reply.headers[i][1]);
        }
        count_status(srv, q, r.status);
        LOG_DEBUG("sim", "request method=%s ep=%s status=%d", method,
                  sim_ep_names[q->ep], r.status);
        resp = make_response(srv, c, q, &r);
        if (!resp) {
                reply_release(&r);
                return MHD_NO;
        }
        ret = MHD_queue_response(c, (unsigned)r.status, resp);
        MHD_destroy_response(resp);
        reply_release(&r);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
        sim_server_t *srv = cls;
        req_t *q          = *con_cls;
        (void)version;
        if (!q) {
                if (!(q = calloc(1, sizeof(*q))))
                        return MHD_NO;
                buf_init(&q->upload, UPLOAD_MAX);
                *con_cls = q;
                return MHD_YES;
        }
        if (*upload_size) {
                if (buf_append(&q->upload, upload, *upload_size) < 0)
                        q->upload_too_big = true;
                *upload_size = 0;
                return MHD_YES;
        }
        if (!q->decided) {
                int64_t latency = decide(srv, c, q, url, method);
                q->decided      = true;
                if (latency > 0 && !stopping(srv)) {
                        MHD_suspend_connection(c);
                        schedule(srv, time_mono_ms() + latency, c);
                        return MHD_YES;
                }
        }
        return respond(srv, c, q, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        sim_server_t *srv = cls;
        req_t *q          = *con_cls;
        (void)c, (void)toe;
        if (!q)
                return;
        if (q->in_flight) {
                pthread_mutex_lock(&srv->sim->lock);
                srv->sim->api_in_flight--;
                pthread_mutex_unlock(&srv->sim->lock);
        }
        buf_release(&q->upload);
        reply_release(&q->quota_reply);
        free(q);
        *con_cls = NULL;
}

sim_server_t *sim_server_start(sim_t *sim, const char *host, int port,
                               int threads, char *errstr, size_t errstr_size) {
        sim_server_t *srv     = calloc(1, sizeof(*srv));
        struct sockaddr_in sa = {0};
        if (!srv) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        sa.sin_family = AF_INET;
        sa.sin_port   = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
                snprintf(errstr, errstr_size,
                         "cannot listen on %s: not an IPv4 address", host);
                free(srv);
                return NULL;
        }
        srv->sim = sim;
        pthread_mutex_init(&srv->tlock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&srv->tcond, &ca);
        pthread_condattr_destroy(&ca);
        if (pthread_create(&srv->timer, NULL, timer_main, srv) != 0) {
                snprintf(errstr, errstr_size, "cannot start the timer thread");
                sim_server_stop(srv);
                return NULL;
        }
        srv->timer_started = true;
        srv->d             = MHD_start_daemon(
                        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                            MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC,
                        0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
                        (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
                        (unsigned)(threads > 0 ? threads : 2), MHD_OPTION_CONNECTION_LIMIT,
                        (unsigned)4096, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_END);
        if (!srv->d) {
                char eb[128];
                snprintf(errstr, errstr_size, "cannot listen on %s:%d: %s",
                         host, port, log_errno_str(errno, eb, sizeof(eb)));
                sim_server_stop(srv);
                return NULL;
        }
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
        srv->port = di ? di->port : port;
        return srv;
}

int sim_server_port(const sim_server_t *srv) {
        return srv->port;
}

void sim_server_stop(sim_server_t *srv) {
        if (!srv)
                return;
        if (srv->d)
                MHD_quiesce_daemon(srv->d);
        pthread_mutex_lock(&srv->tlock);
        srv->stopping = true;
        pthread_cond_signal(&srv->tcond);
        pthread_mutex_unlock(&srv->tlock);
        if (srv->timer_started)
                pthread_join(srv->timer, NULL);
        if (srv->d)
                MHD_stop_daemon(srv->d);
        pthread_cond_destroy(&srv->tcond);
        pthread_mutex_destroy(&srv->tlock);
        free(srv->pend);
        free(srv);
}
