/* workers/schedule.c — the learnt poll schedule (see schedule.h). */
#include "workers/schedule.h"

#include <stdlib.h>

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

void sched_hist_from(sched_hist_t *h, const int64_t *d, int n) {
        int64_t v[SCHED_MAX_HISTORY];
        int m = 0;
        for (int i = 0; i < n && m < SCHED_MAX_HISTORY; i++)
                if (d[i] > 0)
                        v[m++] = d[i];
        *h = (sched_hist_t){.n = m};
        if (m == 0)
                return;
        qsort(v, (size_t)m, sizeof(v[0]), cmp_i64);
        int64_t med = v[m / 2], lo = v[(m - 1) / 10],
                hi = v[m - 1 - (m - 1) / 10];
        int64_t s  = hi - med > med - lo ? hi - med : med - lo;
        if (s < med / 20)
                s = med / 20;
        if (s < 2000)
                s = 2000;
        h->median_ms = med;
        h->spread_ms = s;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) {
        return v < lo ? lo : v > hi ? hi : v;
}

/* The window of b's expected end on Bitrise's clock; 0 when unknown. */
static int sched_window(const sched_build_t *b, int64_t *lo, int64_t *hi) {
        if (!b->hist || b->hist->n < SCHED_MIN_HISTORY || !b->started_ms ||
            b->on_hold)
                return 0;
        int64_t end = b->started_ms + b->hist->median_ms;
        *lo         = end - b->hist->spread_ms;
        *hi         = end + b->hist->spread_ms;
        return 1;
}

int64_t sched_interval_ms(const watch_opts_t *o, const sched_build_t *b,
                          int64_t now_ms, double rate) {
        int64_t lo, hi, d;
        if (b->webhooks && o->safety_ms > 0)
                return o->safety_ms > o->min_ms ? o->safety_ms : o->min_ms;
        if (b->on_hold)
                d = o->on_hold_ms;
        else if (!o->adaptive || !now_ms || rate <= 0 ||
                 !sched_window(b, &lo, &hi))
                d = o->running_ms;
        else if (now_ms < lo) /* far: look again when the window opens */
                d = clamp((int64_t)((double)(lo - now_ms) / rate), o->target_ms,
                          o->max_ms);
        else if (now_ms <= hi)
                d = o->target_ms;
        else /* overdue: no better guess than the plain interval */
                d = o->running_ms;
        return d > o->min_ms ? d : o->min_ms;
}

int sched_urgent(const watch_opts_t *o, const sched_build_t *b,
                 int64_t now_ms) {
        int64_t lo, hi;
        if (!o->adaptive || !now_ms || !sched_window(b, &lo, &hi))
                return 1;
        return now_ms >= lo - o->target_ms;
}

static double lag_step(const sched_lag_t *l) {
        double step = l->est_ms / 8;
        return step > 500 ? step : 500;
}

int64_t sched_lag_wait_ms(const sched_lag_t *l, int64_t finished_ms,
                          int64_t now_ms, double rate) {
        if (rate <= 0 || !finished_ms || !now_ms || l->est_ms <= 0)
                return 0;
        double left = (double)finished_ms + l->est_ms - (double)now_ms;
        return left > 0 ? (int64_t)(left / rate) : 0;
}

void sched_lag_learn(sched_lag_t *l, int64_t elapsed_ms, int archived) {
        double step = lag_step(l), e = (double)elapsed_ms;
        /* Not archived yet: the lag is longer than e, so than the estimate
         * if e reached it. Archived: shorter than e, which says something
         * of the estimate only if e did not pass it (asked late: nothing). */
        if (elapsed_ms < 0 ||
            (archived ? e > l->est_ms + step : e < l->est_ms - step))
                return;
        l->est_ms += archived ? -step * (1 - SCHED_LAG_Q) : step * SCHED_LAG_Q;
        if (l->est_ms < 0)
                l->est_ms = 0;
        if (l->est_ms > SCHED_LAG_MAX_MS)
                l->est_ms = SCHED_LAG_MAX_MS;
}
