/* tests/sim/webhooks.h — outgoing webhooks: registered through the API
 * (`/apps/{app}/outgoing-webhooks`...) and delivered by the simulator
 * (webhooks.c registry and endpoints, hookq.c the delivery thread).
 *
 * For every build of an app with webhooks, `build/triggered` when it is
 * triggered and `build/finished` when it finishes are POSTed once, never
 * retried, to each webhook registered for that event, after the configured
 * delay; a configured share is dropped (recorded as a delivery item with
 * status 0, never sent). Only http URLs on loopback are accepted. All
 * functions are thread-safe; the registry's lock is a leaf (it is taken
 * inside the workload's lock, never the other way round).
 */
#ifndef BITMON_TESTS_SIM_WEBHOOKS_H
#define BITMON_TESTS_SIM_WEBHOOKS_H

#include "tests/sim/http.h"

#define SIM_HOOK_TRIGGERED 0
#define SIM_HOOK_FINISHED  1

/* An empty registry with no delay and no drops. Caller frees with
 * sim_hooks_destroy. NULL when out of memory. */
sim_hooks_t *sim_hooks_new(void);
/* Stops the delivery thread and frees everything. NULL is a no-op. */
void sim_hooks_destroy(sim_hooks_t *h);

/* {"drop_share": 0..1, "delay_ms": N | {"min", "max"}} (scenario
 * `webhooks` and POST /_sim/webhooks/config; absent keys = 0). */
int sim_hooks_configure(sim_hooks_t *h, const cJSON *j, char *errstr,
                        size_t errstr_size);

/* Starts the delivery thread (needs curl_global_init done). It also moves
 * simulated time on for the workload and notices scenario builds being
 * triggered and finishing. sim must outlive sim_hooks_destroy. */
int sim_hooks_start(sim_hooks_t *h, sim_t *sim, char *errstr,
                    size_t errstr_size);

/* True when app has a webhook (cheap; h may be NULL). */
bool sim_hooks_wants(sim_hooks_t *h, const char *app);
/* Queues event (SIM_HOOK_*) of build b, which has `status` now, happening at
 * simulated time at_ms, to every webhook of b->app that asked for it and
 * was registered by then. Never blocks on the network. */
void sim_hooks_build_event(sim_hooks_t *h, const sim_build_t *b, int status,
                           int event, int64_t at_ms);

/* The outgoing-webhooks endpoints for app a (the caller checked that the
 * token reaches it with role Owner/Admin). path is the /v0.1 path. */
void sim_hooks_handle(sim_t *sim, sim_ep_t ep, const sim_app_t *a,
                      const char *path, sim_arg_fn arg, void *ctx,
                      const char *body, sim_reply_t *r);

/* GET /_sim/webhooks/stats (caller cJSON_Deletes) and its reset. */
cJSON *sim_hooks_stats_json(sim_hooks_t *h);
void sim_hooks_stats_reset(sim_hooks_t *h);

#endif
