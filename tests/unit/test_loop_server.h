/* tests/unit/test_loop_server.h — a tiny local HTTP responder for the loop
 * tests and bench/bench_loop.c (libmicrohttpd, header-only).
 *
 * Serves a fixed body to every GET on 127.0.0.1, a random free port. With a
 * delay, each request is suspended and resumed by a helper thread `delay_ms`
 * later, so thousands of slow requests cost no thread each. Counts requests.
 */
#ifndef BITMON_TESTS_LOOP_SERVER_H
#define BITMON_TESTS_LOOP_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct tsrv_pending {
        struct MHD_Connection *conn;
        int64_t due_ms;
        struct tsrv_pending *next;
} tsrv_pending_t;

typedef struct tsrv {
        struct MHD_Daemon *d;
        int port;
        int delay_ms;
        struct MHD_Response *resp;
        _Atomic long requests;
        pthread_t resumer;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        tsrv_pending_t *head, *tail; /* FIFO: every delay is the same */
        int stop;
} tsrv_t;

static int64_t tsrv_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *tsrv_resumer_main(void *arg) {
        tsrv_t *s = arg;
        pthread_mutex_lock(&s->lock);
        for (;;) {
                if (!s->head) {
                        if (s->stop)
                                break;
                        pthread_cond_wait(&s->cond, &s->lock);
                        continue;
                }
                int64_t wait = s->head->due_ms - tsrv_now_ms();
                if (wait > 0 && !s->stop) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += wait / 1000;
                        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
                        if (ts.tv_nsec >= 1000000000L) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
                        continue;
                }
                tsrv_pending_t *p = s->head;
                s->head           = p->next;
                if (!s->head)
                        s->tail = NULL;
                MHD_resume_connection(p->conn);
                free(p);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

static enum MHD_Result tsrv_handler(void *cls, struct MHD_Connection *conn,
                                    const char *url, const char *method,
                                    const char *version,
                                    const char *upload_data,
                                    size_t *upload_data_size, void **con_cls) {
        tsrv_t *s = cls;
        (void)url, (void)method, (void)version, (void)upload_data;
        (void)upload_data_size;
        /* *con_cls: NULL on the first call, then 1 (suspended), 2 (due). */
        uintptr_t st = (uintptr_t)*con_cls;
        if (st == 0) {
                atomic_fetch_add(&s->requests, 1);
                if (s->delay_ms <= 0) {
                        *con_cls = (void *)2;
                        return MHD_YES; /* answer on the next call */
                }
                tsrv_pending_t *p = calloc(1, sizeof(*p));
                if (!p)
                        return MHD_NO;
                p->conn   = conn;
                p->due_ms = tsrv_now_ms() + s->delay_ms;
                *con_cls  = (void *)1;
                pthread_mutex_lock(&s->lock);
                if (s->tail)
                        s->tail->next = p;
                else
                        s->head = p;
                s->tail = p;
                MHD_suspend_connection(conn);
                pthread_cond_signal(&s->cond);
                pthread_mutex_unlock(&s->lock);
                return MHD_YES;
        }
        return MHD_queue_response(conn, MHD_HTTP_OK, s->resp);
}

/* Starts the responder; returns NULL on failure. */
static tsrv_t *tsrv_start(const char *body, int delay_ms) {
        tsrv_t *s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        s->delay_ms = delay_ms;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        s->resp = MHD_create_response_from_buffer(
            strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
        if (pthread_create(&s->resumer, NULL, tsrv_resumer_main, s) != 0) {
                MHD_destroy_response(s->resp);
                free(s);
                return NULL;
        }
        s->d = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                MHD_ALLOW_SUSPEND_RESUME,
            0, NULL, NULL, tsrv_handler, s, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned int)8000, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096, MHD_OPTION_END);
        if (s->d) {
                const union MHD_DaemonInfo *di =
                    MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
                s->port = di ? di->port : 0;
        }
        if (!s->d || !s->port) {
                pthread_mutex_lock(&s->lock);
                s->stop = 1;
                pthread_cond_signal(&s->cond);
                pthread_mutex_unlock(&s->lock);
                pthread_join(s->resumer, NULL);
                if (s->d)
                        MHD_stop_daemon(s->d);
                MHD_destroy_response(s->resp);
                free(s);
                return NULL;
        }
        return s;
}

static void tsrv_url(const tsrv_t *s, char *buf, size_t size) {
        snprintf(buf, size, "http://127.0.0.1:%d/x", s->port);
}

/* Resumes whatever is still suspended, then stops and frees. */
static void tsrv_stop(tsrv_t *s) {
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        s->stop = 1;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->resumer, NULL);
        MHD_stop_daemon(s->d);
        MHD_destroy_response(s->resp);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s);
}

#endif
