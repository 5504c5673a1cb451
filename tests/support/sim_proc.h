/* tests/support/sim_proc.h — run the Bitrise simulator from a C test.
 *
 * Starts build/bitrise-sim (path from $BITMON_SIM) on a free loopback port
 * with a scenario (JSON text or file; format in tests/sim/README.md), waits
 * until it answers, and hands back its base URL. Also small admin helpers
 * (GET/POST JSON under /_sim) and a plain HTTP GET for assertions.
 *
 *   char err[256];
 *   sim_proc_t *sim = sim_proc_start("{\"tokens\": [...], \"apps\": [...]}",
 * NULL, err, sizeof(err)); T_ASSERTF(sim, "%s", err); client_opts.base_url =
 * sim_proc_base_url(sim);      // http://127.0.0.1:PORT/v0.1
 *   ...
 *   cJSON *stats = NULL;
 *   sim_proc_admin_get(sim, "/stats", &stats, err, sizeof(err));
 *   ...
 *   sim_proc_stop(sim);
 *
 * Cleanup on failure paths: a failed T_ASSERT longjmps out of the test, so
 * sim_proc_stop may never run there. Every simulator still running is
 * therefore stopped at exit (atexit), and each one also dies with the test
 * process (PR_SET_PDEATHSIG). Calling sim_proc_stop is still the rule: call
 * it at the end of each test so the next test starts clean.
 *
 * The simulator's stderr goes to <tmpdir>/sim.log (sim_proc_log_path) and
 * the last lines are copied into errstr when it fails to start.
 *
 * Threads: a sim_proc_t belongs to one thread; different handles may be used
 * from different threads. Timeouts scale with $BITMON_TEST_TIMEOUT_SCALE.
 * Links libcurl and cJSON (build/libtestsupport.a; the Makefile already links
 * both into every test).
 */
#ifndef BITMON_TESTS_SUPPORT_SIM_PROC_H
#define BITMON_TESTS_SUPPORT_SIM_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "common/buf.h"

typedef struct sim_proc sim_proc_t;

/* Starts the simulator with the scenario given as JSON text. extra_args is
 * NULL or a NULL-terminated list of more command-line arguments (for example
 * {"--speed", "60", NULL}). Returns NULL and a reason in errstr on failure.
 * Caller stops it with sim_proc_stop. */
sim_proc_t *sim_proc_start(const char *scenario_json,
                           const char *const *extra_args, char *errstr,
                           size_t errstr_size);

/* The same with a scenario file (e.g. tests/scenarios/basic.json). */
sim_proc_t *sim_proc_start_file(const char *path, const char *const *extra_args,
                                char *errstr, size_t errstr_size);

/* Stops it: SIGTERM, waits up to 5 s (scaled), then SIGKILL; removes its temp
 * dir. Returns 0 when the simulator exited cleanly (status 0), -1 when it
 * crashed, was killed or a sanitizer reported at exit — then the tail of its
 * log is printed to stderr. NULL-safe (returns 0). Assert on it at the end of
 * a test: T_EQ_INT(sim_proc_stop(sim), 0). */
int sim_proc_stop(sim_proc_t *p);

/* "http://127.0.0.1:PORT/v0.1" — what a Bitrise client takes as base URL.
 * Borrowed until sim_proc_stop. */
const char *sim_proc_base_url(const sim_proc_t *p);
/* "http://127.0.0.1:PORT" (the admin API lives under /_sim there). */
const char *sim_proc_root_url(const sim_proc_t *p);
int sim_proc_port(const sim_proc_t *p);
pid_t sim_proc_pid(const sim_proc_t *p);
const char *sim_proc_log_path(const sim_proc_t *p);

/* Resident memory of the simulator (VmRSS from /proc/PID/status) in KiB,
 * or -1. */
long sim_proc_rss_kb(const sim_proc_t *p);

/* Admin API: GET or POST (JSON body, may be NULL) to /_sim<path>, e.g.
 * "/stats", "/tokens/revoke", "/expected?app=A&build=B". On a 2xx answer
 * returns 0 and, when out is not NULL, the parsed body (caller cJSON_Deletes).
 * Otherwise -1 with the status and body in errstr. */
int sim_proc_admin_get(sim_proc_t *p, const char *path, cJSON **out,
                       char *errstr, size_t errstr_size);
int sim_proc_admin_post(sim_proc_t *p, const char *path, const char *json,
                        cJSON **out, char *errstr, size_t errstr_size);

/* A plain HTTP GET for assertions. */
typedef struct sim_http_resp {
        long status;          /* 0 when no answer */
        int curl_code;        /* CURLcode; 0 = complete transfer */
        buf_t body;           /* capped at 1 GiB unless discard_body */
        buf_t headers;        /* raw response headers */
        long long body_bytes; /* bytes received, also when discarded */
        int discard;          /* as passed to sim_http_get */
} sim_http_resp_t;

/* GET url with an optional Authorization header value (sent verbatim; NULL =
 * none). discard_body: count the bytes but keep none (huge logs). Returns the
 * CURLcode (0 ok). Release resp with sim_http_resp_release. */
int sim_http_get(const char *url, const char *authorization, long timeout_ms,
                 int discard_body, sim_http_resp_t *resp);
void sim_http_resp_release(sim_http_resp_t *resp);
/* Any method (GET, POST, PUT, DELETE...) with an optional JSON body (sent
 * with Content-Type: application/json; NULL = none). As sim_http_get
 * otherwise. */
int sim_http_request(const char *method, const char *url,
                     const char *authorization, const char *json,
                     long timeout_ms, sim_http_resp_t *resp);

/* Value of header `name` (case-insensitive) in resp, copied to out; NULL when
 * absent. */
const char *sim_http_header(const sim_http_resp_t *resp, const char *name,
                            char *out, size_t size);

/* The body parsed as JSON, or NULL when it is not JSON. Caller cJSON_Deletes.
 */
cJSON *sim_http_resp_json(const sim_http_resp_t *resp);

/* $BITMON_TEST_TIMEOUT_SCALE (default 1). */
double sim_proc_timeout_scale(void);

#endif
