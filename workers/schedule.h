/* workers/schedule.h — when to look at a running build again, learnt from
 * how long the builds of its (app, workflow) took before.
 *
 * A build far from its expected end is looked at rarely, one near it
 * densely: with the median duration D and a spread S of recent builds, the
 * expected end is started + D and the window [end - S, end + S] is polled
 * every target_ms; before it the next look is when the window opens (at
 * most max_ms away), after it the plain running interval applies. Without
 * enough history (SCHED_MIN_HISTORY) the plain interval applies too. On
 * hold: the on-hold interval. An app that delivers webhooks: the safety
 * interval for every state, since a webhook says when a build ends. Every
 * answer is at least min_ms.
 *
 * Times of builds are on Bitrise's clock; intervals on the local one:
 * `rate` converts (Bitrise ms per local ms, 1 in production; the simulator
 * runs faster; 0 = not known yet: then the plain intervals apply). Pure
 * functions; any thread.
 */
#ifndef BITMON_WORKERS_SCHEDULE_H
#define BITMON_WORKERS_SCHEDULE_H

#include <stdint.h>

#include "workers/watch.h"

#define SCHED_MIN_HISTORY 3  /* durations needed before they are trusted */
#define SCHED_MAX_HISTORY 20 /* durations kept per (app, workflow) */

typedef struct sched_hist {
        int n;             /* durations it was made from; 0 = none */
        int64_t median_ms; /* expected running time */
        int64_t spread_ms; /* half-width of the window around the end */
} sched_hist_t;

/* The expectation from n durations (any order): the median, and as spread
 * the larger distance from the median to the 10th or 90th percentile, at
 * least 5 % of the median and 2 s. */
void sched_hist_from(sched_hist_t *h, const int64_t *durations_ms, int n);

typedef struct sched_build {
        int on_hold;
        int64_t started_ms;       /* Bitrise clock; 0 = unknown */
        const sched_hist_t *hist; /* NULL = none */
        int webhooks;             /* the app delivers webhooks */
} sched_build_t;

/* The interval before the next look at b, in local ms (jitter not
 * applied). now_ms on Bitrise's clock (0 = unknown: plain intervals). */
int64_t sched_interval_ms(const watch_opts_t *o, const sched_build_t *b,
                          int64_t now_ms, double rate);

/* 1 when b is near (or past) its expected end, or nothing is known of it:
 * such builds keep their turn when the token's budget is short; 0 when it
 * is far from it and can be stretched first. */
int sched_urgent(const watch_opts_t *o, const sched_build_t *b, int64_t now_ms);

/* Bitrise archives a finished build's log some seconds (to minutes) after
 * its end, and /log asked sooner costs a call for nothing. sched_lag_t
 * learns the SCHED_LAG_Q quantile of that lag (Bitrise ms) online from the
 * first /log answer of each build: up by q steps when it was not archived
 * yet though asked at (or after) the estimate, down by 1 - q when it was
 * archived though asked at (or before) it; other answers say nothing. */
#define SCHED_LAG_Q      0.9
#define SCHED_LAG_MAX_MS (10 * 60 * 1000)

typedef struct sched_lag {
        double est_ms; /* 0 = nothing learnt: ask at once */
} sched_lag_t;

/* Local ms to wait before the first /log of a build that finished at
 * finished_ms (Bitrise clock, now_ms the same; rate as above): 0 when the
 * estimate has passed or the clock is not known. */
int64_t sched_lag_wait_ms(const sched_lag_t *l, int64_t finished_ms,
                          int64_t now_ms, double rate);

/* The first /log answer of a build, asked elapsed_ms after its end. */
void sched_lag_learn(sched_lag_t *l, int64_t elapsed_ms, int archived);

#endif
