/* bitrise/srvclock.h — Bitrise's clock as its answers show it.
 *
 * Build times (started_on_worker_at, finished_at) are on Bitrise's clock;
 * the poll schedule compares them with "now". Every API answer's Date header
 * is a sample; the model is the latest sample plus the rate of Bitrise's
 * clock against the local monotonic clock, measured once Bitrise's clock
 * moved SRVCLOCK_RATE_SPAN_MS between the first and the latest sample
 * (Date's one-second resolution is then under 1 %) and taken as exactly 1
 * within 3 % (the real service; the simulator can run faster). Until then
 * the rate is unknown (0) and callers must not plan on the clock.
 *
 * Threads: any; one mutex.
 */
#ifndef BITMON_BITRISE_SRVCLOCK_H
#define BITMON_BITRISE_SRVCLOCK_H

#include <stdint.h>

#define SRVCLOCK_RATE_SPAN_MS 100000

typedef struct srvclock srvclock_t;

/* NULL on allocation failure. srvclock_destroy(NULL) is a no-op. */
srvclock_t *srvclock_new(void);
void srvclock_destroy(srvclock_t *c);

/* One answer's Date (epoch ms) seen at local monotonic time mono_ms. */
void srvclock_sample(srvclock_t *c, int64_t server_ms, int64_t mono_ms);

/* Bitrise's time at local monotonic time mono_ms into *now_ms (0 when no
 * sample yet, else the latest sample moved on at the rate, or at 1 while
 * unknown); returns the rate, 0 while unknown. */
double srvclock_now(srvclock_t *c, int64_t mono_ms, int64_t *now_ms);

#endif
