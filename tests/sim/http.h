/* tests/sim/http.h — what the request handlers (api.c, admin.c) share with
 * the server core (http.c): a reply under construction.
 *
 * A handler fills a sim_reply_t; http.c turns it into an MHD response and
 * applies the body faults (truncate, slow) on the way out.
 */
#ifndef BITMON_TESTS_SIM_HTTP_H
#define BITMON_TESTS_SIM_HTTP_H

#include "tests/sim/sim.h"

typedef struct sim_reply {
        int status;
        char *body; /* owned; malloc'd */
        size_t body_len;
        sim_loglayout_t *log; /* one reference; streamed instead of body */
        const char *content_type;
        char headers[4][2][64]; /* extra headers (name, value) */
        int n_headers;
} sim_reply_t;

/* Query/header lookup of the request being handled; NULL when absent. */
typedef const char *(*sim_arg_fn)(void *ctx, const char *key);

/* Sets a JSON reply and takes ownership of j (freed here). */
void sim_reply_json(sim_reply_t *r, int status, cJSON *j);
/* {"message": msg} */
void sim_reply_message(sim_reply_t *r, int status, const char *msg);
void sim_reply_header(sim_reply_t *r, const char *name, const char *value);

/* api.c: a /v0.1 request from an authenticated token; body is the request
 * body ("" when none). */
void sim_api_handle(sim_t *sim, sim_token_t *tok, sim_ep_t ep,
                    const char *method, const char *path, sim_arg_fn arg,
                    void *ctx, const char *body, sim_reply_t *r);
/* Endpoint of a request (method and /v0.1 path); writes the app slug (if
 * any) into app. SIM_EP_OTHER: unknown path, or a method the path does not
 * take. */
sim_ep_t sim_api_classify(const char *method, const char *path, char *app,
                          size_t app_size);
/* listapi.c: GET /apps/{app}/builds at simulated time now. */
void sim_builds_list(sim_t *sim, const sim_app_t *a, size_t ai, int64_t now,
                     sim_arg_fn arg, void *ctx, sim_reply_t *r);
/* api.c: GET /raw/<app>/<build>?expires=&sig= (no Authorization). */
void sim_raw_handle(sim_t *sim, const char *path, sim_arg_fn arg, void *ctx,
                    sim_reply_t *r);
/* The signature of a raw log URL (hex, 32 chars + NUL; empty when signing
 * fails). */
void sim_raw_sign(const sim_t *sim, const char *app, const char *build,
                  long long expires, char out[33]);

/* logapi.c: GET .../log of build b (state st at simulated time now). */
void sim_log_info(sim_t *sim, const sim_build_t *b, const sim_state_t *st,
                  int64_t now, sim_arg_fn arg, void *ctx, sim_reply_t *r);

/* admin.c: /_sim/... */
void sim_admin_handle(sim_t *sim, const char *method, const char *path,
                      sim_arg_fn arg, void *ctx, const char *body,
                      sim_reply_t *r);

#endif
