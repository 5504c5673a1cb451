/* tests/tsan/c11threads.c — C11 threads on top of pthreads, for TSan builds.
 *
 * Debian's librdkafka uses C11 threads (thrd_create, mtx_lock, cnd_wait …).
 * glibc implements them by calling its internal pthread functions directly,
 * which ThreadSanitizer does not intercept: a thread started by thrd_create
 * has no TSan state and crashes in TSan's allocator, and librdkafka's locks
 * are invisible to it. Linked only into TSan binaries (see the Makefile), these
 * definitions take precedence over glibc's for every shared library, and go
 * through the intercepted pthread calls. glibc's mtx_t and cnd_t have the
 * layout of pthread_mutex_t and pthread_cond_t, so the casts are sound.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

struct trampoline {
        thrd_start_t fn;
        void *arg;
};

static void *start(void *p) {
        struct trampoline t = *(struct trampoline *)p;
        free(p);
        return (void *)(intptr_t)t.fn(t.arg);
}

static int thrd_status(int err) {
        return err == 0           ? thrd_success
               : err == ENOMEM    ? thrd_nomem
               : err == EBUSY     ? thrd_busy
               : err == ETIMEDOUT ? thrd_timedout
                                  : thrd_error;
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg) {
        struct trampoline *t = malloc(sizeof(*t));
        if (!t)
                return thrd_nomem;
        t->fn   = fn;
        t->arg  = arg;
        int err = pthread_create((pthread_t *)thr, NULL, start, t);
        if (err)
                free(t);
        return thrd_status(err);
}

int thrd_join(thrd_t thr, int *res) {
        void *ret = NULL;
        int err   = pthread_join((pthread_t)thr, &ret);
        if (!err && res)
                *res = (int)(intptr_t)ret;
        return thrd_status(err);
}

int thrd_detach(thrd_t thr) {
        return thrd_status(pthread_detach((pthread_t)thr));
}

int mtx_init(mtx_t *m, int type) {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        if (type & mtx_recursive)
                pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
        int err = pthread_mutex_init((pthread_mutex_t *)m, &a);
        pthread_mutexattr_destroy(&a);
        return thrd_status(err);
}

void mtx_destroy(mtx_t *m) {
        pthread_mutex_destroy((pthread_mutex_t *)m);
}

int mtx_lock(mtx_t *m) {
        return thrd_status(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_trylock(mtx_t *m) {
        return thrd_status(pthread_mutex_trylock((pthread_mutex_t *)m));
}

int mtx_unlock(mtx_t *m) {
        return thrd_status(pthread_mutex_unlock((pthread_mutex_t *)m));
}

int cnd_init(cnd_t *c) {
        return thrd_status(pthread_cond_init((pthread_cond_t *)c, NULL));
}

void cnd_destroy(cnd_t *c) {
        pthread_cond_destroy((pthread_cond_t *)c);
}

int cnd_signal(cnd_t *c) {
        return thrd_status(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c) {
        return thrd_status(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m) {
        return thrd_status(
            pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *c, mtx_t *m, const struct timespec *ts) {
        return thrd_status(pthread_cond_timedwait((pthread_cond_t *)c,
                                                  (pthread_mutex_t *)m, ts));
}
