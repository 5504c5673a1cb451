/* cache/resolve.c — getaddrinfo on a detached thread, waited for with a
 * deadline (CLOCK_MONOTONIC); the job is reference counted so that either
 * side may be the last to let go of it.
 */
#include "cache/resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

typedef struct job {
        pthread_mutex_t mu;
        pthread_cond_t cond;
        int refs; /* 2 while both the caller and the thread hold it */
        bool done;
        int gai_err;
        cache_addrs_t addrs;
        char host[]; /* flexible: the name looked up */
} job_t;

static void job_unref(job_t *j) {
        pthread_mutex_lock(&j->mu);
        bool last = --j->refs == 0;
        pthread_mutex_unlock(&j->mu);
        if (!last)
                return;
        pthread_cond_destroy(&j->cond);
        pthread_mutex_destroy(&j->mu);
        free(j);
}

/* Copies up to CACHE_RESOLVE_MAX numeric addresses out of res. */
static void addrs_from(const struct addrinfo *res, cache_addrs_t *out) {
        out->n = 0;
        for (const struct addrinfo *a = res; a && out->n < CACHE_RESOLVE_MAX;
             a                        = a->ai_next) {
                if (getnameinfo(a->ai_addr, a->ai_addrlen, out->ip[out->n],
                                sizeof(out->ip[0]), NULL, 0,
                                NI_NUMERICHOST) == 0)
                        out->n++;
        }
}

static int lookup(const char *host, int flags, cache_addrs_t *out) {
        struct addrinfo hints = {.ai_family   = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags    = flags | AI_ADDRCONFIG};
        struct addrinfo *res  = NULL;
        int err               = getaddrinfo(host, NULL, &hints, &res);
        if (err == 0) {
                addrs_from(res, out);
                freeaddrinfo(res);
                if (out->n == 0)
                        err = EAI_NONAME;
        }
        return err;
}

static void *resolver_main(void *arg) {
        job_t *j = arg;
        cache_addrs_t a;
        int err = lookup(j->host, 0, &a);
        pthread_mutex_lock(&j->mu);
        j->gai_err = err;
        j->addrs   = a;
        j->done    = true;
        pthread_cond_signal(&j->cond);
        pthread_mutex_unlock(&j->mu);
        job_unref(j);
        return NULL;
}

static job_t *job_new(const char *host) {
        size_t len = strlen(host) + 1;
        job_t *j   = calloc(1, sizeof(*j) + len);
        if (!j)
                return NULL;
        memcpy(j->host, host, len);
        j->refs = 2;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&j->mu, NULL);
        pthread_cond_init(&j->cond, &ca);
        pthread_condattr_destroy(&ca);
        return j;
}

/* Starts the helper thread, detached. 0 or an errno. */
static int job_start(job_t *j) {
        pthread_attr_t at;
        pthread_t tid;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int err = pthread_create(&tid, &at, resolver_main, j);
        pthread_attr_destroy(&at);
        return err;
}

/* Waits for the job until timeout_ms; true when it finished. */
static bool job_wait(job_t *j, int timeout_ms) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&j->mu);
        int err = 0;
        while (!j->done && err != ETIMEDOUT)
                err = pthread_cond_timedwait(&j->cond, &j->mu, &dl);
        bool done = j->done;
        pthread_mutex_unlock(&j->mu);
        return done;
}

int cache_resolve(const char *host, int timeout_ms, cache_addrs_t *out,
                  char *errstr, size_t errstr_size) {
        out->n = 0;
        if (lookup(host, AI_NUMERICHOST, out) == 0)
                return 0;
        job_t *j = job_new(host);
        if (!j) {
                snprintf(errstr, errstr_size,
                         "cannot resolve %s: out of memory", host);
                return -1;
        }
        int err = job_start(j);
        if (err) {
                j->refs = 1; /* no thread holds it */
                job_unref(j);
                snprintf(errstr, errstr_size,
                         "cannot resolve %s: cannot start a thread (errno %d)",
                         host, err);
                return -1;
        }
        int rv = -1;
        if (!job_wait(j, timeout_ms))
                snprintf(errstr, errstr_size,
                         "cannot resolve %s: no answer within %d ms", host,
                         timeout_ms);
        else if (j->gai_err)
                snprintf(errstr, errstr_size, "cannot resolve %s: %s", host,
                         gai_strerror(j->gai_err));
        else {
                *out = j->addrs;
                rv   = 0;
        }
        job_unref(j);
        return rv;
}
