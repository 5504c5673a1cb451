/* tests/sim/workload.h — the steady-state build workload of a scenario's
 * `workload` block (workload.c; format in tests/sim/README.md).
 *
 * Its apps come after the explicit and generated ones and are served through
 * a sim_source_t (model.c). Builds exist once simulated time has reached
 * their trigger: sim_workload_advance makes them and, for apps with outgoing
 * webhooks, queues the build/finished and build/triggered events. All
 * functions are thread-safe (one mutex of the workload's own; the webhooks'
 * lock nests inside it, never the other way round).
 */
#ifndef BITMON_TESTS_SIM_WORKLOAD_H
#define BITMON_TESTS_SIM_WORKLOAD_H

#include "tests/sim/sim.h"

/* Reads the block j and starts the `concurrent` slots at start_ms. Caller
 * frees *out with sim_workload_destroy. -1 with a reason naming the field. */
int sim_workload_new(const cJSON *j, int64_t start_ms, sim_workload_t **out,
                     char *errstr, size_t errstr_size);
void sim_workload_destroy(sim_workload_t *w); /* NULL is a no-op */

/* The apps and builds as a source for sim_t.extra (w borrowed; NULL gives
 * an empty source). */
void sim_workload_source(sim_workload_t *w, sim_source_t *src);
const char *sim_workload_workspace(const sim_workload_t *w);

/* Makes every build triggered by simulated time `now` (sim->wl may be NULL).
 * Cheap when nothing is due. */
void sim_workload_advance(sim_t *sim, int64_t now);
/* Simulated time of the next finish (INT64_MAX: none; w may be NULL). */
int64_t sim_workload_next_due(sim_workload_t *w);

/* /_sim/builds/finish of a workload build: it finishes at `now` with
 * `status` (unless it already has), its slot's next build is triggered then.
 * -1 when slug is no workload build. */
int sim_workload_finish(sim_t *sim, const char *slug, int status, int64_t now);

/* /_sim/workload?since=N: {"next", "total", "sim_now_ms", "builds": [...]}
 * (at most 10,000 builds from sequence number N). Caller cJSON_Deletes. */
cJSON *sim_workload_json(sim_workload_t *w, int64_t since, int64_t now);

#endif
