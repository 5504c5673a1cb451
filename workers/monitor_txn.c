/* workers/monitor_txn.c — exactly-once mode's done markers: a job whose
 * terminal result joined the open transaction is remembered here and marked
 * done only once that transaction commits (an aborted one redoes the job,
 * which a marker would skip). */
#include <stdio.h>
#include <stdlib.h>

#include "cache/buildcache.h"
#include "common/log.h"
#include "workers/monitor_int.h"

#define FAC "monitor"

void monitor_pending_add(monitor_t *m, const char *job_id) {
        pthread_mutex_lock(&m->ack_lock);
        if (m->n_pending == m->cap_pending) {
                size_t cap = m->cap_pending ? m->cap_pending * 2 : 256;
                void *p    = realloc(m->pending, cap * sizeof(*m->pending));
                if (!p) {
                        pthread_mutex_unlock(&m->ack_lock);
                        LOG_WARN(FAC,
                                 "out of memory: job %s not marked done (a "
                                 "redelivery would report it again)",
                                 job_id);
                        return;
                }
                m->pending     = p;
                m->cap_pending = cap;
        }
        snprintf(m->pending[m->n_pending++], JOB_ID_MAX + 1, "%s", job_id);
        pthread_mutex_unlock(&m->ack_lock);
}

void monitor_txn_end(monitor_t *m, int committed) {
        char e[160]   = "";
        size_t failed = 0;
        if (!m)
                return;
        pthread_mutex_lock(&m->ack_lock);
        for (size_t i = 0; committed && i < m->n_pending; i++)
                if (monitor_mark_done(m, m->pending[i], e, sizeof(e)) < 0)
                        failed++;
        m->n_pending = 0;
        pthread_mutex_unlock(&m->ack_lock);
        if (failed) {
                metrics_counter_add(m->done_marks_failed, failed);
                LOG_WARN(FAC,
                         "cannot mark jobs done after their transaction "
                         "committed (the commit's offsets still cover most "
                         "redeliveries) count=%zu: %s",
                         failed, e);
        }
}
