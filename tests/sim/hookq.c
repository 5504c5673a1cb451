/* tests/sim/hookq.c — the delivery thread of the outgoing webhooks.
 *
 * A bounded array of queued deliveries (scanned for due ones: a few at a
 * time in practice), a libcurl multi handle for the ones in flight, and a
 * tick callback per loop. curl_multi_wakeup interrupts the wait on push and
 * on stop.
 */
#include "tests/sim/hookq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/timeutil.h"

#define RESP_MAX 4096

typedef struct flight {
        struct flight *next, *prev; /* in flight, the thread's own list */
        sim_delivery_t d;
        CURL *easy;
        struct curl_slist *hdrs;
        buf_t body, head;
        int64_t t0;
} flight_t;

struct sim_hookq {
        pthread_mutex_t lock; /* queue, n_queue, stopping */
        sim_delivery_t *queue;
        size_t n_queue;
        size_t n_flight; /* written by the thread, read under lock */
        bool stopping;
        CURLM *multi;
        flight_t *flights; /* the thread's */
        pthread_t thread;
        bool started;
        sim_hookq_tick_fn tick;
        sim_hookq_done_fn done;
        void *ctx;
};

static void delivery_free(sim_delivery_t *d) {
        free(d->url);
        free(d->headers);
        free(d->payload);
        memset(d, 0, sizeof(*d));
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
        buf_t *b = ud;
        /* the cap only truncates what is kept: keep reading */
        buf_append(b, p, size * n);
        return size * n;
}

static struct curl_slist *header_list(const char *lines) {
        struct curl_slist *l = NULL, *t;
        const char *p        = lines;
        char one[1024];
        while (p && *p) {
                size_t n = strcspn(p, "\n");
                if (n > 0 && n < sizeof(one)) {
                        memcpy(one, p, n);
                        one[n] = '\0';
                        if (!(t = curl_slist_append(l, one))) {
                                curl_slist_free_all(l);
                                return NULL;
                        }
                        l = t;
                }
                p += n + (p[n] == '\n');
        }
        /* no "Expect: 100-continue" round trip */
        t = curl_slist_append(l, "Expect:");
        if (!t)
                curl_slist_free_all(l);
        return t;
}

static flight_t *flight_new(sim_hookq_t *q, sim_delivery_t *d) {
        flight_t *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        f->d = *d;
        memset(d, 0, sizeof(*d));
        buf_init(&f->body, RESP_MAX);
        buf_init(&f->head, RESP_MAX);
        f->easy = curl_easy_init();
        f->hdrs = header_list(f->d.headers);
        f->t0   = time_mono_ms();
        if (!f->easy || !f->hdrs) { /* reported as a failed delivery */
                curl_easy_cleanup(f->easy);
                f->easy = NULL;
                return f;
        }
        curl_easy_setopt(f->easy, CURLOPT_URL, f->d.url);
        curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, f->d.payload);
        curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->hdrs);
        curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "bitrise-sim-webhooks");
        curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS, 500L);
        curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(f->easy, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, &f->body);
        curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, on_body);
        curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, &f->head);
        curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
        if (curl_multi_add_handle(q->multi, f->easy) != CURLM_OK) {
                curl_easy_cleanup(f->easy);
                f->easy = NULL;
                return f;
        }
        f->next = q->flights;
        if (q->flights)
                q->flights->prev = f;
        q->flights = f;
        return f;
}

static void flight_free(sim_hookq_t *q, flight_t *f) {
        if (f->easy) {
                curl_multi_remove_handle(q->multi, f->easy);
                curl_easy_cleanup(f->easy);
                if (f->prev)
                        f->prev->next = f->next;
                else
                        q->flights = f->next;
                if (f->next)
                        f->next->prev = f->prev;
        }
        curl_slist_free_all(f->hdrs);
        buf_release(&f->body);
        buf_release(&f->head);
        delivery_free(&f->d);
        free(f);
}

static void flight_finish(sim_hookq_t *q, flight_t *f, long status) {
        sim_delivery_result_t res = {
            .http_status = status,
            .body        = buf_cstr(&f->body),
            .headers     = buf_cstr(&f->head),
            .elapsed_ms  = time_mono_ms() - f->t0,
        };
        q->done(q->ctx, &f->d, &res);
        flight_free(q, f);
}

/* Starts the due deliveries; returns ms until the next one is due. */
static int64_t start_due(sim_hookq_t *q, int64_t now) {
        int64_t wait = INT64_MAX;
        for (;;) {
                sim_delivery_t d = {0};
                bool found       = false;
                pthread_mutex_lock(&q->lock);
                for (size_t i = 0; i < q->n_queue; i++) {
                        if (q->queue[i].due_ms > now) {
                                if (q->queue[i].due_ms - now < wait)
                                        wait = q->queue[i].due_ms - now;
                                continue;
                        }
                        if (q->n_flight >= HOOKQ_IN_FLIGHT) {
                                wait = 5; /* look again soon */
                                break;
                        }
                        d           = q->queue[i];
                        q->queue[i] = q->queue[--q->n_queue];
                        q->n_flight++;
                        found = true;
                        break;
                }
                pthread_mutex_unlock(&q->lock);
                if (!found)
                        return wait;
                flight_t *f = flight_new(q, &d);
                if (!f) {
                        delivery_free(&d);
                        pthread_mutex_lock(&q->lock);
                        q->n_flight--;
                        pthread_mutex_unlock(&q->lock);
                } else if (!f->easy) {
                        flight_finish(q, f, 0);
                        pthread_mutex_lock(&q->lock);
                        q->n_flight--;
                        pthread_mutex_unlock(&q->lock);
                }
        }
}

static void reap(sim_hookq_t *q) {
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(q->multi, &left))) {
                flight_t *f = NULL;
                long status = 0;
                if (m->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &f);
                if (m->data.result == CURLE_OK)
                        curl_easy_getinfo(m->easy_handle,
                                          CURLINFO_RESPONSE_CODE, &status);
                flight_finish(q, f, status);
                pthread_mutex_lock(&q->lock);
                q->n_flight--;
                pthread_mutex_unlock(&q->lock);
        }
}

static bool is_stopping(sim_hookq_t *q) {
        pthread_mutex_lock(&q->lock);
        bool s = q->stopping;
        pthread_mutex_unlock(&q->lock);
        return s;
}

static void *hookq_main(void *arg) {
        sim_hookq_t *q = arg;
        int running;
        while (!is_stopping(q)) {
                int64_t wait = q->tick(q->ctx), next;
                next         = start_due(q, time_mono_ms());
                curl_multi_perform(q->multi, &running);
                reap(q);
                if (next < wait)
                        wait = next;
                if (wait > 50)
                        wait = 50;
                if (wait < 1)
                        wait = 1;
                curl_multi_poll(q->multi, NULL, 0, (int)wait, NULL);
        }
        /* drop what is in flight: the simulator is stopping */
        while (q->flights)
                flight_free(q, q->flights);
        return NULL;
}

sim_hookq_t *sim_hookq_start(sim_hookq_tick_fn tick, sim_hookq_done_fn done,
                             void *ctx, char *errstr, size_t errstr_size) {
        sim_hookq_t *q = calloc(1, sizeof(*q));
        if (!q || !(q->queue = calloc(HOOKQ_MAX, sizeof(*q->queue))) ||
            !(q->multi = curl_multi_init())) {
                snprintf(errstr, errstr_size,
                         "cannot start webhook deliveries: out of memory");
                if (q)
                        free(q->queue);
                free(q);
                return NULL;
        }
        pthread_mutex_init(&q->lock, NULL);
        q->tick = tick, q->done = done, q->ctx = ctx;
        if (pthread_create(&q->thread, NULL, hookq_main, q) != 0) {
                snprintf(errstr, errstr_size,
                         "cannot start the webhook delivery thread");
                sim_hookq_stop(q);
                return NULL;
        }
        q->started = true;
        return q;
}

void sim_hookq_stop(sim_hookq_t *q) {
        if (!q)
                return;
        pthread_mutex_lock(&q->lock);
        q->stopping = true;
        pthread_mutex_unlock(&q->lock);
        if (q->started) {
                curl_multi_wakeup(q->multi);
                pthread_join(q->thread, NULL);
        }
        for (size_t i = 0; i < q->n_queue; i++)
                delivery_free(&q->queue[i]);
        free(q->queue);
        curl_multi_cleanup(q->multi);
        pthread_mutex_destroy(&q->lock);
        free(q);
}

int sim_hookq_push(sim_hookq_t *q, const sim_delivery_t *d, const char *url,
                   const char *headers, const char *payload) {
        sim_delivery_t c = *d;
        int rc           = -1;
        c.url            = strdup(url);
        c.headers        = strdup(headers ? headers : "");
        c.payload        = strdup(payload);
        if (!c.url || !c.headers || !c.payload) {
                delivery_free(&c);
                return -1;
        }
        pthread_mutex_lock(&q->lock);
        if (q->n_queue < HOOKQ_MAX && !q->stopping) {
                q->queue[q->n_queue++] = c;
                rc                     = 0;
        }
        pthread_mutex_unlock(&q->lock);
        if (rc < 0)
                delivery_free(&c);
        else
                curl_multi_wakeup(q->multi);
        return rc;
}

void sim_hookq_counts(sim_hookq_t *q, size_t *queued, size_t *in_flight) {
        pthread_mutex_lock(&q->lock);
        *queued    = q->n_queue;
        *in_flight = q->n_flight;
        pthread_mutex_unlock(&q->lock);
}
