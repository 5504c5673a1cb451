/* tests/support/http_responder.c — scripted HTTP/1.1 responder (see .h). */
#include "tests/support/http_responder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define LOG_MAX  256

typedef struct hr_seen {
        char target[512];
        char head[HEAD_MAX];
} hr_seen_t;

struct http_responder {
        const hr_route_t *routes;
        size_t nroutes;
        int fd;
        int port;
        atomic_int stop;
        pthread_t thread;
        pthread_mutex_t mu;
        hr_seen_t *seen; /* ring of the last LOG_MAX requests */
        size_t nseen;
};

static int target_match(const char *pattern, const char *target) {
        size_t n = strlen(pattern);
        if (n && pattern[n - 1] == '*')
                return !strncmp(pattern, target, n - 1);
        return !strcmp(pattern, target);
}

/* Reads until the blank line ending the head (bodies are not expected). */
static int head_read(int fd, char *head, size_t size) {
        size_t len = 0;
        while (len + 1 < size) {
                struct pollfd p = {fd, POLLIN, 0};
                if (poll(&p, 1, 5000) <= 0)
                        return -1;
                ssize_t n = read(fd, head + len, size - 1 - len);
                if (n <= 0)
                        return -1;
                len += (size_t)n;
                head[len] = '\0';
                if (strstr(head, "\r\n\r\n"))
                        return 0;
        }
        return -1;
}

static void write_all(int fd, const char *p, size_t n) {
        while (n) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w <= 0)
                        return;
                p += w;
                n -= (size_t)w;
        }
}

static void close_reset(int fd) {
        struct linger l = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        close(fd);
}

static void stall(http_responder_t *r, int ms) {
        for (int waited = 0; waited < ms && !atomic_load(&r->stop);
             waited += 20)
                usleep(20000);
}

static void answer(http_responder_t *r, int fd, const hr_route_t *rt) {
        if (rt->fault == HR_FAULT_RESET) {
                close_reset(fd);
                return;
        }
        if (rt->fault == HR_FAULT_STALL) {
                stall(r, rt->stall_ms);
                close(fd);
                return;
        }
        size_t blen =
            rt->body ? (rt->body_len ? rt->body_len : strlen(rt->body)) : 0;
        size_t reps  = rt->repeat ? rt->repeat : 1;
        size_t total = blen * reps;
        char head[1024];
        int hn = snprintf(head, sizeof(head),
                          "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: "
                          "close\r\n%s\r\n",
                          rt->status, total, rt->headers ? rt->headers : "");
        write_all(fd, head, (size_t)hn);
        size_t limit = rt->fault == HR_FAULT_NONE ? total : total / 2;
        for (size_t sent = 0; sent < limit && !atomic_load(&r->stop);) {
                size_t off = sent % blen;
                size_t n =
                    blen - off < limit - sent ? blen - off : limit - sent;
                write_all(fd, rt->body + off, n);
                sent += n;
        }
        if (rt->fault == HR_FAULT_RESET_MIDBODY) {
                usleep(50000); /* let the bytes leave before the RST */
                close_reset(fd);
                return;
        }
        shutdown(fd, SHUT_WR);
        char sink[256];
        struct pollfd p = {fd, POLLIN, 0};
        while (poll(&p, 1, 1000) > 0 && read(fd, sink, sizeof(sink)) > 0)
                ;
        close(fd);
}

static void serve_one(http_responder_t *r, int fd) {
        char head[HEAD_MAX];
        if (head_read(fd, head, sizeof(head))) {
                close(fd);
                return;
        }
        char target[512] = "";
        const char *sp   = strchr(head, ' ');
        const char *sp2  = sp ? strchr(sp + 1, ' ') : NULL;
        if (sp && sp2 && (size_t)(sp2 - sp - 1) < sizeof(target))
                memcpy(target, sp + 1, (size_t)(sp2 - sp - 1));
        pthread_mutex_lock(&r->mu);
        hr_seen_t *s = &r->seen[r->nseen++ % LOG_MAX];
        snprintf(s->target, sizeof(s->target), "%s", target);
        snprintf(s->head, sizeof(s->head), "%s", head);
        pthread_mutex_unlock(&r->mu);
        static const hr_route_t not_found = {
            "",
            404,
            "Content-Type: application/json\r\n",
            "{\"message\":\"Not found\"}",
            0,
            0,
            HR_FAULT_NONE,
            0};
        const hr_route_t *rt = &not_found;
        for (size_t i = 0; i < r->nroutes; i++)
                if (target_match(r->routes[i].target, target)) {
                        rt = &r->routes[i];
                        break;
                }
        answer(r, fd, rt);
}

static void *serve(void *arg) {
        http_responder_t *r = arg;
        while (!atomic_load(&r->stop)) {
                struct pollfd p = {r->fd, POLLIN, 0};
                if (poll(&p, 1, 50) <= 0)
                        continue;
                int c = accept(r->fd, NULL, NULL);
                if (c >= 0)
                        serve_one(r, c);
        }
        return NULL;
}

http_responder_t *http_responder_start(const hr_route_t *routes, size_t nroutes,
                                       char *errstr, size_t errstr_size) {
        http_responder_t *r = calloc(1, sizeof(*r));
        if (!r || !(r->seen = calloc(LOG_MAX, sizeof(*r->seen)))) {
                free(r);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        r->routes  = routes;
        r->nroutes = nroutes;
        pthread_mutex_init(&r->mu, NULL);
        struct sockaddr_in a = {.sin_family      = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen       = sizeof(a);
        r->fd                = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&a, sizeof(a)) ||
            listen(r->fd, 128) ||
            getsockname(r->fd, (struct sockaddr *)&a, &alen) ||
            pthread_create(&r->thread, NULL, serve, r)) {
                snprintf(errstr, errstr_size,
                         "cannot start the HTTP responder: errno %d", errno);
                if (r->fd >= 0)
                        close(r->fd);
                pthread_mutex_destroy(&r->mu);
                free(r->seen);
                free(r);
                return NULL;
        }
        r->port = ntohs(a.sin_port);
        return r;
}

int http_responder_port(const http_responder_t *r) {
        return r->port;
}

unsigned http_responder_hits(http_responder_t *r, const char *target) {
        unsigned n = 0;
        pthread_mutex_lock(&r->mu);
        size_t have = r->nseen < LOG_MAX ? r->nseen : LOG_MAX;
        for (size_t i = 0; i < have; i++)
                n += target_match(target, r->seen[i].target);
        pthread_mutex_unlock(&r->mu);
        return n;
}

int http_responder_last_head(http_responder_t *r, const char *target, char *out,
                             size_t size) {
        int rc = -1;
        pthread_mutex_lock(&r->mu);
        size_t have = r->nseen < LOG_MAX ? r->nseen : LOG_MAX;
        for (size_t k = 0; k < have && rc; k++) {
                const hr_seen_t *s = &r->seen[(r->nseen - 1 - k) % LOG_MAX];
                if (target_match(target, s->target)) {
                        snprintf(out, size, "%s", s->head);
                        rc = 0;
                }
        }
        pthread_mutex_unlock(&r->mu);
        return rc;
}

void http_responder_stop(http_responder_t *r) {
        if (!r)
                return;
        atomic_store(&r->stop, 1);
        pthread_join(r->thread, NULL);
        close(r->fd);
        pthread_mutex_destroy(&r->mu);
        free(r->seen);
        free(r);
}
