/* tests/integration/sim_test.h — starting the simulator and GETting from it
 * inside a test (tests/assert.h must be included first: failures end the
 * current test). Shared by the tests that talk to build/bitrise-sim. */
#ifndef BITMON_TESTS_SIM_TEST_H
#define BITMON_TESTS_SIM_TEST_H

#include <stdio.h>

#include "tests/support/sim_proc.h"

/* Starts the simulator on the scenario `json`, or fails the test. */
static inline sim_proc_t *sim_test_start(const char *json) {
        char err[2048];
        sim_proc_t *p = sim_proc_start(json, NULL, err, sizeof(err));
        T_ASSERTF(p, "cannot start the simulator: %.400s", err);
        return p;
}

/* GET base+path with auth; returns the status, *out = parsed JSON (or NULL).
 * A transport error fails the test. */
static inline long sim_test_get(sim_proc_t *p, const char *path,
                                const char *auth, cJSON **out) {
        char url[1024];
        sim_http_resp_t r;
        snprintf(url, sizeof(url), "%s%s", sim_proc_base_url(p), path);
        int rc  = sim_http_get(url, auth, 10000, 0, &r);
        long st = r.status;
        if (out)
                *out = sim_http_resp_json(&r);
        sim_http_resp_release(&r);
        T_ASSERTF(rc == 0, "GET %s: curl error %d", path, rc);
        return st;
}

#endif
