/* workers/apppoll.h — following the running builds of one app together:
 * one list call per app and interval instead of one GET per build.
 *
 * The watches of one table are grouped by (workspace, app): the token is the
 * workspace's, so a group is a (token, app). While a group has two or more
 * watches in their build stage (opts.batch), they park: none polls on its
 * own; the group makes one `GET /apps/{app}/builds?after=...` (newest first,
 * following `next` up to opts.list_max_pages while parked builds are still
 * missing) and hands each parked watch its build from the answer exactly as
 * its own GET would have (status events, finish → log); a member idle until
 * its own next look takes the answer for its build too. A build the answer
 * does not show is never concluded upon: that watch looks at it with its own
 * GET (and its 401/403/404 verdicts), then parks again. When the list call
 * fails, every parked watch falls back to its own GET; 401 and 403 are
 * recorded as verdicts first, so the fallbacks end without a call. A group
 * of one polls per build (cheaper), and a hint makes its watch look now.
 *
 * Across processes the seams list_preflight/list_store share one list call
 * per app and interval (a Redis marker, the build cache and a lease). When
 * the group calls next follows the schedule (schedule.h): the earliest look
 * any member needs, never sooner than opts.min_ms after the last call.
 *
 * Loop thread only, like watch.h; used by watch.c and watch_table.c.
 */
#ifndef BITMON_WORKERS_APPPOLL_H
#define BITMON_WORKERS_APPPOLL_H

#include <stdint.h>

#include "workers/watch_int.h"

/* The table's group index; 0 or -1 (out of memory). */
int apppoll_init(watch_table_t *tbl);
/* Frees every group (their watches must be gone). */
void apppoll_release(watch_table_t *tbl);

/* A new watch joins the group of its app (creating it). -1 when out of
 * memory: the watch then simply polls on its own. */
int apppoll_join(watch_t *w);
/* The watch leaves its group (its build finished, or it is freed). */
void apppoll_leave(watch_t *w);

/* In the build stage, before the watch's own GET: 1 when the group looks
 * for it (the watch is parked until then), 0 when it must look itself. */
int apppoll_defer(watch_t *w);

/* 1 when the watch's group will look for it: a call in flight, or its
 * timer armed. */
int apppoll_will_call(const watch_t *w);

/* The watch stops waiting for its group (a hint: it looks itself now). */
void apppoll_unpark(watch_t *w);

/* The watch's build was just seen finished, with its facts: records its
 * running time in the history of (app, workflow). */
void apppoll_finished(watch_t *w);

/* Local ms the finished build's first /log waits for the archive lag
 * learnt so far (schedule.h); apppoll_log_answer learns from its answer. */
int64_t apppoll_log_wait_ms(watch_t *w);
void apppoll_log_answer(watch_t *w, int archived);

/* The interval before the watch's next own look in state st (the
 * schedule, with its group's history and webhook knowledge). */
int64_t apppoll_interval_ms(watch_t *w, watch_state_t st);

/* A webhook of this app reached the table: its builds are known to be
 * pushed (safety interval). */
void apppoll_webhook_seen(watch_table_t *tbl, const char *workspace,
                          const char *app_slug);

#endif
