/* tests/sim/admin.c — the admin API under /_sim (outside /v0.1).
 *
 * For tests only: it shows token values and changes the scenario at run time
 * (revoke or add tokens, change faults, finish builds, reset counters), and
 * tells the exact results a log parser must find for a build. JSON in, JSON
 * out.
 */
#include "tests/sim/http.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "tests/sim/webhooks.h"
#include "tests/sim/workload.h"

static cJSON *parse_body(const char *body, sim_reply_t *r) {
        const char *end = NULL;
        cJSON *j        = cJSON_ParseWithOpts(body ? body : "", &end, 1);
        if (!j || !cJSON_IsObject(j)) {
                cJSON_Delete(j);
                sim_reply_message(r, 400, "body: expected a JSON object");
                return NULL;
        }
        return j;
}

static void ok(sim_reply_t *r) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "ok", 1);
        sim_reply_json(r, 200, o);
}

static void health(sim_t *sim, sim_reply_t *r) {
        cJSON *o = cJSON_CreateObject();
        char t[40];
        cJSON_AddBoolToObject(o, "ok", 1);
        cJSON_AddStringToObject(
            o, "sim_now",
            time_rfc3339_format(sim_now_ms(sim), 1, t, sizeof(t)));
        cJSON_AddStringToObject(
            o, "started_at",
            time_rfc3339_format(sim->start_ms, 1, t, sizeof(t)));
        cJSON_AddNumberToObject(o, "speed", sim->speed);
        cJSON_AddNumberToObject(o, "apps", (double)sim_app_count(sim));
        sim_reply_json(r, 200, o);
}

/* Moves the settings of `src` into `dst`, keeping dst's counters. */
static void token_replace(sim_token_t *dst, sim_token_t *src) {
        free(dst->app_roles);
        memcpy(dst->kind, src->kind, sizeof(dst->kind));
        memcpy(dst->workspace, src->workspace, sizeof(dst->workspace));
        dst->expires_ms  = src->expires_ms;
        dst->revoked     = src->revoked;
        dst->all_apps    = src->all_apps;
        dst->role        = src->role;
        dst->app_roles   = src->app_roles;
        dst->n_app_roles = src->n_app_roles;
        dst->quota       = src->quota;
        src->app_roles   = NULL;
        sim_token_destroy(src);
}

static void token_put(sim_t *sim, const char *body, sim_reply_t *r) {
        char err[256];
        sim_token_t *t = NULL, *old, **arr;
        cJSON *j       = parse_body(body, r), *o;
        if (!j)
                return;
        if (sim_token_from_json(j, time_wall_ms(), &t, err, sizeof(err)) < 0) {
                cJSON_Delete(j);
                sim_reply_message(r, 400, err);
                return;
        }
        cJSON_Delete(j);
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "fingerprint", t->fingerprint);
        pthread_mutex_lock(&sim->lock);
        if ((old = sim_token_find(sim, t->value))) {
                token_replace(old, t);
                cJSON_AddBoolToObject(o, "replaced", 1);
        } else if ((arr = realloc(sim->tokens,
                                  (sim->n_tokens + 1) * sizeof(*arr)))) {
                sim->tokens                  = arr;
                sim->tokens[sim->n_tokens++] = t;
                cJSON_AddBoolToObject(o, "replaced", 0);
        } else {
                sim_token_destroy(t);
        }
        pthread_mutex_unlock(&sim->lock);
        sim_reply_json(r, 200, o);
}

static void token_revoke(sim_t *sim, const char *body, sim_reply_t *r) {
        cJSON *j = parse_body(body, r);
        const cJSON *v, *fp;
        bool found = false;
        if (!j)
                return;
        v  = cJSON_GetObjectItemCaseSensitive(j, "token");
        fp = cJSON_GetObjectItemCaseSensitive(j, "fingerprint");
        pthread_mutex_lock(&sim->lock);
        for (size_t i = 0; i < sim->n_tokens; i++) {
                sim_token_t *t = sim->tokens[i];
                if ((cJSON_IsString(v) &&
                     strcmp(t->value, v->valuestring) == 0) ||
                    (cJSON_IsString(fp) &&
                     strcmp(t->fingerprint, fp->valuestring) == 0)) {
                        t->revoked = true;
                        found      = true;
                }
        }
        pthread_mutex_unlock(&sim->lock);
        cJSON_Delete(j);
        if (found)
                ok(r);
        else
                sim_reply_message(r, 404, "no such token");
}

static void faults_put(sim_t *sim, const char *body, sim_reply_t *r) {
        char err[256];
        sim_faults_t f, *dst = NULL;
        cJSON *j = parse_body(body, r);
        const cJSON *scope;
        if (!j)
                return;
        scope = cJSON_GetObjectItemCaseSensitive(j, "scope");
        if (sim_faults_from_json(cJSON_GetObjectItemCaseSensitive(j, "faults"),
                                 &f, err, sizeof(err)) < 0) {
                cJSON_Delete(j);
                sim_reply_message(r, 400, err);
                return;
        }
        pthread_mutex_lock(&sim->lock);
        if (!cJSON_IsString(scope) ||
            strcmp(scope->valuestring, "global") == 0) {
                dst = &sim->faults_global;
        } else if (strncmp(scope->valuestring, "app:", 4) == 0) {
                for (size_t i = 0; i < sim->n_apps; i++)
                        if (strcmp(sim->apps[i].slug, scope->valuestring + 4) ==
                            0)
                                dst = &sim->apps[i].faults;
        } else {
                for (int i = 0; i < SIM_EP_COUNT; i++)
                        if (strcmp(scope->valuestring, sim_ep_names[i]) == 0)
                                dst = &sim->faults_ep[i];
        }
        if (dst)
                *dst = f;
        pthread_mutex_unlock(&sim->lock);
        cJSON_Delete(j);
        if (dst)
                ok(r);
        else
                sim_reply_message(r, 400,
                                  "scope: global, an endpoint name or "
                                  "app:<slug of a scenario app>");
}

/* Finds app + build named in a JSON body or query. */
static int lookup(sim_t *sim, const char *app, const char *build, sim_app_t *a,
                  size_t *ai, sim_build_t *b, sim_reply_t *r) {
        if (!app || !build || sim_app_find(sim, app, a, ai) < 0 ||
            sim_build_find(sim, a, *ai, build, b) < 0) {
                sim_reply_message(r, 404, "no such app/build");
                return -1;
        }
        return 0;
}

/* A scenario build finished now: an override, and its build/finished. */
static void finish_scenario(sim_t *sim, const sim_build_t *b, int st) {
        sim_override_t *o = calloc(1, sizeof(*o));
        sim_state_t before, after;
        int64_t now = sim_now_ms(sim);
        if (!o)
                return;
        sim_build_state(sim, b, now, &before);
        snprintf(o->build, sizeof(o->build), "%s", b->slug);
        o->status      = st;
        o->finished_ms = now;
        pthread_mutex_lock(&sim->lock);
        o->next        = sim->overrides;
        sim->overrides = o;
        pthread_mutex_unlock(&sim->lock);
        sim_build_state(sim, b, now, &after);
        if (before.status == 0 && after.status != 0 && b->triggered_ms <= now)
                sim_hooks_build_event(sim->hooks, b, after.status,
                                      SIM_HOOK_FINISHED, now);
}

static void build_finish(sim_t *sim, const char *body, sim_reply_t *r) {
        cJSON *j = parse_body(body, r);
        sim_app_t a;
        sim_build_t b;
        size_t ai;
        if (!j)
                return;
        const cJSON *app    = cJSON_GetObjectItemCaseSensitive(j, "app"),
                    *build  = cJSON_GetObjectItemCaseSensitive(j, "build"),
                    *status = cJSON_GetObjectItemCaseSensitive(j, "status");
        int st = cJSON_IsNumber(status) ? (int)status->valuedouble : 1;
        if (st < 1 || st > 4) {
                sim_reply_message(r, 400, "status: 1..4");
        } else if (lookup(sim, cJSON_GetStringValue(app),
                          cJSON_GetStringValue(build), &a, &ai, &b, r) == 0) {
                if (ai >= sim_extra_first(sim))
                        sim_workload_finish(sim, b.slug, st, sim_now_ms(sim));
                else
                        finish_scenario(sim, &b, st);
                ok(r);
        }
        cJSON_Delete(j);
}

static void workload(sim_t *sim, sim_arg_fn arg, void *ctx, sim_reply_t *r) {
        const char *s = arg(ctx, "since");
        char *end;
        long long since = s ? strtoll(s, &end, 10) : 0;
        if (!sim->wl) {
                sim_reply_message(r, 404, "the scenario has no workload");
                return;
        }
        if (s && (*end || since < 0)) {
                sim_reply_message(r, 400, "since: a sequence number >= 0");
                return;
        }
        int64_t now = sim_now_ms(sim);
        sim_workload_advance(sim, now);
        sim_reply_json(r, 200, sim_workload_json(sim->wl, since, now));
}

static void hooks_config(sim_t *sim, const char *body, sim_reply_t *r) {
        char err[256];
        cJSON *j = parse_body(body, r);
        if (!j)
                return;
        if (sim_hooks_configure(sim->hooks, j, err, sizeof(err)) < 0)
                sim_reply_message(r, 400, err);
        else
                sim_reply_json(r, 200, sim_hooks_stats_json(sim->hooks));
        cJSON_Delete(j);
}

static void expected(sim_t *sim, sim_arg_fn arg, void *ctx, sim_reply_t *r) {
        sim_app_t a;
        sim_build_t b;
        sim_state_t st;
        size_t ai;
        char t[40];
        if (lookup(sim, arg(ctx, "app"), arg(ctx, "build"), &a, &ai, &b, r) < 0)
                return;
        int64_t now = sim_now_ms(sim);
        sim_build_state(sim, &b, now, &st);
        sim_build_effective(&b, &st);
        sim_loglayout_t *l = sim_loglayout_get(sim->logcache, &b, &st);
        if (!l) {
                sim_reply_message(r, 500, "out of memory");
                return;
        }
        cJSON *o = sim_loglayout_expected(l);
        sim_loglayout_release(l);
        cJSON_AddNumberToObject(o, "status", st.status);
        cJSON_AddNumberToObject(o, "final_status", b.final_status);
        cJSON_AddBoolToObject(o, "finished", st.status != 0);
        if (st.finished_ms)
                cJSON_AddStringToObject(
                    o, "archived_at",
                    time_rfc3339_format(st.finished_ms + b.archive_lag_ms, 1, t,
                                        sizeof(t)));
        cJSON_AddBoolToObject(o, "log_deleted", b.log_deleted);
        sim_reply_json(r, 200, o);
}

static void slugs(sim_t *sim, sim_arg_fn arg, void *ctx, sim_reply_t *r) {
        const char *as = arg(ctx, "app_index"), *bs = arg(ctx, "build_index");
        char *end;
        long long ai = as ? strtoll(as, &end, 10) : 0;
        sim_app_t a;
        sim_build_t b;
        cJSON *o;
        if ((as && *end) || ai < 0 || sim_app_at(sim, (size_t)ai, &a) < 0) {
                sim_reply_message(r, 404, "no such app index");
                return;
        }
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "app", a.slug);
        cJSON_AddNumberToObject(o, "builds",
                                (double)sim_build_count(sim, &a, (size_t)ai));
        if (bs) {
                long long bi = strtoll(bs, &end, 10);
                if (*end || sim_build_at(sim, &a, (size_t)ai, bi, &b) < 0) {
                        cJSON_Delete(o);
                        sim_reply_message(r, 404, "no such build index");
                        return;
                }
                cJSON_AddStringToObject(o, "build", b.slug);
        }
        sim_reply_json(r, 200, o);
}

static void budget_put(sim_t *sim, const char *body, sim_reply_t *r) {
        char err[128];
        cJSON *j = parse_body(body, r), *o;
        int rc;
        if (!j)
                return;
        pthread_mutex_lock(&sim->lock);
        rc = sim_budget_set(sim, j, time_wall_ms(), err, sizeof(err));
        o  = rc == 0 ? sim_budget_json(sim, time_wall_ms()) : NULL;
        pthread_mutex_unlock(&sim->lock);
        cJSON_Delete(j);
        if (rc < 0)
                sim_reply_message(r, 400, err);
        else
                sim_reply_json(r, 200, o);
}

void sim_admin_handle(sim_t *sim, const char *method, const char *path,
                      sim_arg_fn arg, void *ctx, const char *body,
                      sim_reply_t *r) {
        bool get  = strcmp(method, "GET") == 0,
             post = strcmp(method, "POST") == 0;
        if (get && strcmp(path, "/health") == 0) {
                health(sim, r);
        } else if (get && strcmp(path, "/stats") == 0) {
                pthread_mutex_lock(&sim->lock);
                cJSON *o = sim_stats_json(sim);
                pthread_mutex_unlock(&sim->lock);
                sim_reply_json(r, 200, o);
        } else if (post && strcmp(path, "/stats/reset") == 0) {
                pthread_mutex_lock(&sim->lock);
                sim_stats_reset(sim);
                pthread_mutex_unlock(&sim->lock);
                ok(r);
        } else if (get && strcmp(path, "/budget") == 0) {
                pthread_mutex_lock(&sim->lock);
                cJSON *o = sim_budget_json(sim, time_wall_ms());
                pthread_mutex_unlock(&sim->lock);
                sim_reply_json(r, 200, o);
        } else if (post && strcmp(path, "/budget") == 0) {
                budget_put(sim, body, r);
        } else if (post && strcmp(path, "/tokens") == 0) {
                token_put(sim, body, r);
        } else if (post && strcmp(path, "/tokens/revoke") == 0) {
                token_revoke(sim, body, r);
        } else if (post && strcmp(path, "/faults") == 0) {
                faults_put(sim, body, r);
        } else if (post && strcmp(path, "/builds/finish") == 0) {
                build_finish(sim, body, r);
        } else if (get && strcmp(path, "/expected") == 0) {
                expected(sim, arg, ctx, r);
        } else if (get && strcmp(path, "/slugs") == 0) {
                slugs(sim, arg, ctx, r);
        } else if (get && strcmp(path, "/workload") == 0) {
                workload(sim, arg, ctx, r);
        } else if (post && strcmp(path, "/webhooks/config") == 0) {
                hooks_config(sim, body, r);
        } else if (get && strcmp(path, "/webhooks/stats") == 0) {
                sim_reply_json(r, 200, sim_hooks_stats_json(sim->hooks));
        } else if (post && strcmp(path, "/webhooks/stats/reset") == 0) {
                sim_hooks_stats_reset(sim->hooks);
                ok(r);
        } else {
                sim_reply_message(
                    r, 404, "unknown admin path (see tests/sim/README.md)");
        }
}
