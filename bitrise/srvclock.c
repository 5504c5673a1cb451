/* bitrise/srvclock.c — a model of Bitrise's clock from Date headers (see
 * srvclock.h). */
#include "bitrise/srvclock.h"

#include <pthread.h>
#include <stdlib.h>

struct srvclock {
        pthread_mutex_t lock;
        int n; /* samples seen */
        int64_t first_srv, first_mono;
        int64_t last_srv, last_mono;
        double rate;
};

srvclock_t *srvclock_new(void) {
        srvclock_t *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        pthread_mutex_init(&c->lock, NULL);
        c->rate = 0; /* not measured yet */
        return c;
}

void srvclock_destroy(srvclock_t *c) {
        if (!c)
                return;
        pthread_mutex_destroy(&c->lock);
        free(c);
}

void srvclock_sample(srvclock_t *c, int64_t srv, int64_t mono) {
        if (!c || srv <= 0)
                return;
        pthread_mutex_lock(&c->lock);
        if (c->n++ == 0) {
                c->first_srv  = srv;
                c->first_mono = mono;
        }
        /* Date truncates to the second: keep the sample that says the
         * latest time for its moment (never move the model backwards). */
        int64_t predicted =
            c->n > 1 ? c->last_srv + (int64_t)((c->rate > 0 ? c->rate : 1) *
                                               (double)(mono - c->last_mono))
                     : srv;
        if (c->n == 1 || srv >= predicted) {
                c->last_srv  = srv;
                c->last_mono = mono;
        }
        int64_t span = mono - c->first_mono, moved = srv - c->first_srv;
        if (span >= 1000 && moved >= SRVCLOCK_RATE_SPAN_MS) {
                double r = (double)moved / (double)span;
                c->rate  = r > 0.97 && r < 1.03 ? 1 : r;
        }
        pthread_mutex_unlock(&c->lock);
}

double srvclock_now(srvclock_t *c, int64_t mono, int64_t *now_ms) {
        *now_ms = 0;
        if (!c)
                return 0;
        pthread_mutex_lock(&c->lock);
        double rate = c->rate;
        if (c->n)
                *now_ms =
                    c->last_srv + (int64_t)((rate > 0 ? rate : 1) *
                                            (double)(mono - c->last_mono));
        pthread_mutex_unlock(&c->lock);
        return rate;
}
