/* tests/sim/scenario.c — reads a scenario file (JSON) into sim_t.
 *
 * Every field is optional unless stated in tests/sim/README.md; wrong types and
 * out-of-range values are errors that name the field. Durations in the file are
 * simulated seconds (compressed by `speed`).
 */
#include "tests/sim/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/timeutil.h"
#include "tests/sim/webhooks.h"
#include "tests/sim/workload.h"

#define ERR(...)                                                               \
        do {                                                                   \
                snprintf(errstr, errstr_size, __VA_ARGS__);                    \
                goto fail;                                                     \
        } while (0)

/* Reads an optional number field into *out (scaled); -1 on wrong type. */
static int num_opt(const cJSON *o, const char *key, double *out) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!v || cJSON_IsNull(v))
                return 0;
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return -1;
        *out = v->valuedouble;
        return 1;
}

static int ms_opt(const cJSON *o, const char *key, int64_t *out) {
        double d;
        int rc = num_opt(o, key, &d);
        if (rc == 1) {
                if (d < -1e9 || d > 1e9)
                        return -1;
                *out = (int64_t)llround(d * 1000.0);
        }
        return rc;
}

static int str_opt(const cJSON *o, const char *key, char *dst, size_t size) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!v || cJSON_IsNull(v))
                return 0;
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= size)
                return -1;
        memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
        return 1;
}

static int share_opt(const cJSON *o, const char *key, double *out) {
        int rc = num_opt(o, key, out);
        if (rc == 1 && (*out < 0 || *out > 1))
                return -1;
        return rc;
}

sim_role_t sim_role_parse(const char *s, bool *ok) {
        static const char *const names[] = {"none", "tester", "developer",
                                            "admin"};
        *ok                              = true;
        for (int i = 0; i < 4; i++)
                if (strcasecmp(s, names[i]) == 0)
                        return (sim_role_t)i;
        if (strcasecmp(s, "qa") == 0 || strcasecmp(s, "tester/qa") == 0)
                return SIM_ROLE_TESTER;
        if (strcasecmp(s, "owner") == 0)
                return SIM_ROLE_ADMIN;
        *ok = false;
        return SIM_ROLE_NONE;
}

int sim_faults_from_json(const cJSON *j, sim_faults_t *f, char *errstr,
                         size_t errstr_size) {
        memset(f, 0, sizeof(*f));
        f->status_5xx       = 503;
        f->remaining        = -1;
        f->slow_bytes_per_s = 1024;
        if (!j || cJSON_IsNull(j))
                return 0;
        if (!cJSON_IsObject(j))
                ERR("faults: expected an object");
        f->set           = true;
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(j, "latency_ms");
        if (cJSON_IsNumber(lat)) {
                f->latency_min_ms = f->latency_max_ms = (int)lat->valuedouble;
        } else if (cJSON_IsObject(lat)) {
                double a = 0, b = 0;
                if (num_opt(lat, "min", &a) < 0 || num_opt(lat, "max", &b) < 0)
                        ERR("faults.latency_ms: min/max must be numbers");
                f->latency_min_ms = (int)a;
                f->latency_max_ms = (int)(b < a ? a : b);
        } else if (lat && !cJSON_IsNull(lat)) {
                ERR("faults.latency_ms: a number (fixed) or {\"min\",\"max\"} "
                    "(uniform)");
        }
        if (f->latency_min_ms < 0 || f->latency_max_ms > 600000)
                ERR("faults.latency_ms: out of range 0..600000");
        struct {
                const char *key;
                double *dst;
        } shares[] = {
            {"error_5xx", &f->share_5xx},
            {"reset", &f->share_reset},
            {"html", &f->share_html},
            {"invalid_json", &f->share_invalid_json},
            {"truncate", &f->share_truncate},
            {"slow_body", &f->share_slow},
        };
        for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++)
                if (share_opt(j, shares[i].key, shares[i].dst) < 0)
                        ERR("faults.%s: a share between 0 and 1",
                            shares[i].key);
        double d;
        if (num_opt(j, "status_5xx", &d) == 1) {
                if (d < 500 || d > 599)
                        ERR("faults.status_5xx: must be 500..599");
                f->status_5xx = (int)d;
        }
        if (num_opt(j, "slow_bytes_per_s", &d) == 1) {
                if (d < 1 || d > 1e9)
                        ERR("faults.slow_bytes_per_s: must be >= 1");
                f->slow_bytes_per_s = (int)d;
        }
        if (num_opt(j, "count", &d) == 1)
                f->remaining = d < 0 ? -1 : (int64_t)d;
        return 0;
fail:
        return -1;
}

static int quota_from_json(const cJSON *q, sim_quota_t *out, char *errstr,
                           size_t errstr_size) {
        double d;
        char reset[16]   = "delta";
        out->window_s    = 60;
        out->retry_after = true;
        if (num_opt(q, "limit", &d) != 1 || d < 1 || d > 1e7)
                ERR("quota.limit: required, 1..10000000");
        out->limit = (int)d;
        if (num_opt(q, "window_s", &d) == 1) {
                if (d < 1 || d > 86400)
                        ERR("quota.window_s: 1..86400");
                out->window_s = (int)d;
        }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(q, "retry_after");
        if (v)
                out->retry_after = cJSON_IsTrue(v);
        v = cJSON_GetObjectItemCaseSensitive(q, "headers");
        if (v)
                out->headers = cJSON_IsTrue(v);
        if (str_opt(q, "reset", reset, sizeof(reset)) < 0 ||
            (strcmp(reset, "epoch") && strcmp(reset, "delta")))
                ERR("quota.reset: \"epoch\" or \"delta\"");
        out->reset_epoch = strcmp(reset, "epoch") == 0;
        return 0;
fail:
        return -1;
}

void sim_token_destroy(sim_token_t *t) {
        if (!t)
                return;
        free(t->value);
        free(t->app_roles);
        sim_window_release(&t->seen);
        sim_window_release(&t->quota_win);
        sim_window_release(&t->bud.slide);
        free(t);
}

static int token_roles(const cJSON *j, sim_token_t *t, char *errstr,
                       size_t errstr_size) {
        char role[32] = "developer";
        bool ok;
        const cJSON *apps = cJSON_GetObjectItemCaseSensitive(j, "apps");
        if (str_opt(j, "role", role, sizeof(role)) < 0)
                ERR("token.role: a string");
        t->role = sim_role_parse(role, &ok);
        if (!ok)
                ERR("token.role: none, tester, developer or admin");
        t->all_apps = apps == NULL;
        if (!apps)
                return 0;
        if (!cJSON_IsObject(apps))
                ERR("token.apps: an object {app slug: role}");
        t->app_roles =
            calloc((size_t)cJSON_GetArraySize(apps) + 1, sizeof(*t->app_roles));
        if (!t->app_roles)
                ERR("out of memory");
        const cJSON *it;
        cJSON_ArrayForEach(it, apps) {
                sim_app_role_t *r = &t->app_roles[t->n_app_roles++];
                if (!cJSON_IsString(it) || strlen(it->string) >= sizeof(r->app))
                        ERR("token.apps.%s: role must be a string", it->string);
                memcpy(r->app, it->string, strlen(it->string) + 1);
                r->role = sim_role_parse(it->valuestring, &ok);
                if (!ok)
                        ERR("token.apps.%s: unknown role", it->string);
        }
        return 0;
fail:
        return -1;
}

int sim_token_from_json(const cJSON *j, int64_t now_ms, sim_token_t **out,
                        char *errstr, size_t errstr_size) {
        sim_token_t *t = calloc(1, sizeof(*t));
        const cJSON *v;
        double d;
        char when[64];
        if (!t)
                ERR("out of memory");
        if (!cJSON_IsObject(j))
                ERR("token: expected an object");
        v = cJSON_GetObjectItemCaseSensitive(j, "value");
        if (!cJSON_IsString(v) || !v->valuestring[0] ||
            strlen(v->valuestring) > 512 || strpbrk(v->valuestring, " \t\r\n"))
                ERR("token.value: a non-empty string without spaces");
        if (!(t->value = strdup(v->valuestring)))
                ERR("out of memory");
        sim_token_fingerprint(t->value, t->fingerprint);
        snprintf(t->kind, sizeof(t->kind), "%s",
                 strncmp(t->value, "bitwat_", 7) == 0   ? "workspace"
                 : strncmp(t->value, "bitpat_", 7) == 0 ? "personal"
                                                        : "personal_legacy");
        if (str_opt(j, "workspace", t->workspace, sizeof(t->workspace)) < 0)
                ERR("token.workspace: a string");
        if (token_roles(j, t, errstr, errstr_size) < 0)
                goto fail;
        if (str_opt(j, "expires_at", when, sizeof(when)) == 1 &&
            time_rfc3339_parse(when, &t->expires_ms) < 0)
                ERR("token.expires_at: not an RFC 3339 time");
        if (num_opt(j, "expires_after_s", &d) == 1)
                t->expires_ms = now_ms + (int64_t)(d * 1000.0);
        t->revoked =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "revoked"));
        v = cJSON_GetObjectItemCaseSensitive(j, "quota");
        if (v && !cJSON_IsNull(v) &&
            quota_from_json(v, &t->quota, errstr, errstr_size) < 0)
                goto fail;
        *out = t;
        return 0;
fail:
        sim_token_destroy(t);
        return -1;
}

/* log.file: the raw log is a file's bytes (a real captured log), read once
 * at load; relative paths from $BITMON_SHARED (else the working dir). */
static int log_file_opt(const cJSON *j, sim_logspec_t *l, char *errstr,
                        size_t errstr_size) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "file");
        char path[1024];
        if (!f)
                return 0;
        if (!cJSON_IsString(f))
                ERR("log.file must be a string");
        const char *root = getenv("BITMON_SHARED");
        snprintf(path, sizeof(path), "%s%s%s",
                 f->valuestring[0] != '/' && root ? root : "",
                 f->valuestring[0] != '/' && root ? "/" : "", f->valuestring);
        FILE *fp   = fopen(path, "rb");
        char *data = NULL;
        long n     = -1;
        if (fp && fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
            fseek(fp, 0, SEEK_SET) == 0 && (data = malloc((size_t)n + 1)) &&
            fread(data, 1, (size_t)n, fp) == (size_t)n) {
                fclose(fp);
                l->file_data = data;
                l->file_len  = n;
                return 0;
        }
        if (fp)
                fclose(fp);
        free(data);
        ERR("log.file %s: cannot read it", path);
fail:
        return -1;
}

static int logspec_from_json(const cJSON *j, sim_build_t *b, char *errstr,
                             size_t errstr_size) {
        double d;
        sim_logspec_t *l = &b->log;
        l->target_bytes  = 20000;
        l->steps         = 5;
        l->failing_step  = -2; /* decided below */
        l->exit_code     = 1;
        l->seed          = sim_hash(0x5eed, (uint64_t)b->build_number) ^
                  sim_hash(b->slug[0], b->slug[1]);
        if (!j)
                goto decide;
        if (!cJSON_IsObject(j))
                ERR("build %s: log must be an object", b->slug);
        if (log_file_opt(j, l, errstr, errstr_size) < 0)
                goto fail;
        if (num_opt(j, "bytes", &d) == 1) {
                if (d < 0 || d > 1e12)
                        ERR("build %s: log.bytes out of range", b->slug);
                l->target_bytes = (int64_t)d;
        }
        if (num_opt(j, "lines", &d) == 1) {
                if (d < 0 || d > 1e10)
                        ERR("build %s: log.lines out of range", b->slug);
                l->target_lines = (int64_t)d;
                l->target_bytes = 0;
        }
        if (num_opt(j, "steps", &d) == 1) {
                if (d < 1 || d > SIM_MAX_STEPS)
                        ERR("build %s: log.steps must be 1..%d", b->slug,
                            SIM_MAX_STEPS);
                l->steps = (int)d;
        }
        if (num_opt(j, "failing_step", &d) == 1)
                l->failing_step = (int)d;
        if (num_opt(j, "exit_code", &d) == 1) {
                if (d < 1 || d > 255)
                        ERR("build %s: log.exit_code must be 1..255", b->slug);
                l->exit_code = (int)d;
        }
        if (str_opt(j, "failing_title", l->failing_title,
                    sizeof(l->failing_title)) < 0)
                ERR("build %s: log.failing_title must be a string", b->slug);
        if (ms_opt(j, "archive_lag_s", &b->archive_lag_ms) < 0 ||
            ms_opt(j, "url_valid_s", &b->url_valid_ms) < 0 ||
            ms_opt(j, "not_found_s", &b->log_404_ms) < 0)
                ERR("build %s: log durations must be numbers", b->slug);
        b->log_deleted =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "deleted"));
decide:
        if (l->failing_step == -2)
                l->failing_step = b->final_status == 2 ? l->steps - 1 : -1;
        if (b->final_status != 2)
                l->failing_step = -1;
        if (l->failing_step >= l->steps)
                ERR("build %s: log.failing_step beyond log.steps", b->slug);
        if (l->failing_step >= 0 && !l->failing_title[0])
                snprintf(
                    l->failing_title, sizeof(l->failing_title), "%s",
                    sim_step_names[sim_hash(l->seed, 7) % sim_step_names_len]);
        l->abort_cut = b->final_status >= 3;
        return 0;
fail:
        return -1;
}

/* Fills the fields every build has from the scenario defaults. */
static void build_defaults(sim_build_t *b, const cJSON *defaults,
                           const char *app) {
        snprintf(b->app, sizeof(b->app), "%s", app);
        snprintf(b->branch, sizeof(b->branch), "main");
        snprintf(b->workflow, sizeof(b->workflow), "primary");
        snprintf(b->triggered_by, sizeof(b->triggered_by), "manual-sim");
        snprintf(b->machine_type, sizeof(b->machine_type), "g2.linux.medium");
        snprintf(b->stack, sizeof(b->stack), "linux-docker-android-22.04");
        b->final_status = 1;
        b->running_ms   = 60000;
        b->url_valid_ms = 600000;
        if (defaults) {
                ms_opt(defaults, "on_hold_s", &b->on_hold_ms);
                ms_opt(defaults, "running_s", &b->running_ms);
                ms_opt(defaults, "archive_lag_s", &b->archive_lag_ms);
                ms_opt(defaults, "url_valid_s", &b->url_valid_ms);
                ms_opt(defaults, "log_not_found_s", &b->log_404_ms);
        }
}

static int build_from_json(const cJSON *j, const cJSON *defaults,
                           const char *app, int64_t start_ms, int64_t number,
                           sim_build_t *b, char *errstr, size_t errstr_size) {
        double d;
        int64_t trig = 0;
        build_defaults(b, defaults, app);
        b->build_number = number;
        if (!cJSON_IsObject(j) ||
            str_opt(j, "slug", b->slug, sizeof(b->slug)) != 1)
                ERR("app %s: each build needs a string slug", app);
        if (num_opt(j, "build_number", &d) == 1)
                b->build_number = (int64_t)d;
        if (ms_opt(j, "triggered_at_s", &trig) < 0 ||
            ms_opt(j, "on_hold_s", &b->on_hold_ms) < 0 ||
            ms_opt(j, "running_s", &b->running_ms) < 0)
                ERR("build %s: times must be numbers", b->slug);
        if (b->on_hold_ms < 0 || b->running_ms < 0)
                ERR("build %s: on_hold_s and running_s must be >= 0", b->slug);
        b->triggered_ms = start_ms + trig;
        if (num_opt(j, "status", &d) == 1) {
                if (d < 1 || d > 4)
                        ERR("build %s: status must be 1..4 (final status)",
                            b->slug);
                b->final_status = (int)d;
        }
        if (str_opt(j, "abort_reason", b->abort_reason,
                    sizeof(b->abort_reason)) < 0 ||
            str_opt(j, "branch", b->branch, sizeof(b->branch)) < 0 ||
            str_opt(j, "workflow", b->workflow, sizeof(b->workflow)) < 0 ||
            str_opt(j, "commit_hash", b->commit_hash, sizeof(b->commit_hash)) <
                0 ||
            str_opt(j, "commit_message", b->commit_message,
                    sizeof(b->commit_message)) < 0 ||
            str_opt(j, "triggered_by", b->triggered_by,
                    sizeof(b->triggered_by)) < 0 ||
            str_opt(j, "machine_type_id", b->machine_type,
                    sizeof(b->machine_type)) < 0 ||
            str_opt(j, "stack_identifier", b->stack, sizeof(b->stack)) < 0 ||
            str_opt(j, "tag", b->tag, sizeof(b->tag)) < 0 ||
            str_opt(j, "pull_request_target_branch", b->pr_target,
                    sizeof(b->pr_target)) < 0)
                ERR("build %s: string fields must be short strings", b->slug);
        if (num_opt(j, "pull_request_id", &d) == 1)
                b->pull_request_id = (int64_t)d;
        if (b->final_status >= 3 && !b->abort_reason[0])
                snprintf(b->abort_reason, sizeof(b->abort_reason), "%s",
                         "Automatically aborted via Rolling Builds.");
        return logspec_from_json(cJSON_GetObjectItemCaseSensitive(j, "log"), b,
                                 errstr, errstr_size);
fail:
        return -1;
}

static int app_from_json(const cJSON *j, const cJSON *defaults,
                         int64_t start_ms, sim_app_t *a, char *errstr,
                         size_t errstr_size) {
        const cJSON *builds, *it;
        if (!cJSON_IsObject(j) ||
            str_opt(j, "slug", a->slug, sizeof(a->slug)) != 1)
                ERR("apps: each app needs a string slug");
        snprintf(a->title, sizeof(a->title), "%s", a->slug);
        snprintf(a->project_type, sizeof(a->project_type), "ios");
        snprintf(a->repo_owner, sizeof(a->repo_owner), "sim-org");
        snprintf(a->repo_slug, sizeof(a->repo_slug), "repo-%.16s", a->slug);
        if (str_opt(j, "title", a->title, sizeof(a->title)) < 0 ||
            str_opt(j, "workspace", a->workspace, sizeof(a->workspace)) < 0 ||
            str_opt(j, "project_type", a->project_type,
                    sizeof(a->project_type)) < 0)
                ERR("app %s: title, workspace, project_type must be strings",
                    a->slug);
        if (sim_faults_from_json(cJSON_GetObjectItemCaseSensitive(j, "faults"),
                                 &a->faults, errstr, errstr_size) < 0)
                goto fail;
        builds = cJSON_GetObjectItemCaseSensitive(j, "builds");
        if (builds && !cJSON_IsArray(builds))
                ERR("app %s: builds must be an array", a->slug);
        a->builds =
            calloc((size_t)cJSON_GetArraySize(builds) + 1, sizeof(*a->builds));
        if (!a->builds)
                ERR("out of memory");
        cJSON_ArrayForEach(it, builds) {
                sim_build_t *b = &a->builds[a->n_builds];
                if (build_from_json(it, defaults, a->slug, start_ms,
                                    (int64_t)a->n_builds + 1, b, errstr,
                                    errstr_size) < 0)
                        goto fail;
                a->n_builds++;
        }
        return 0;
fail:
        return -1;
}

static int range_opt(const cJSON *o, const char *key, double scale, int64_t *lo,
                     int64_t *hi) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!v)
                return 0;
        if (cJSON_IsNumber(v)) {
                *lo = *hi = (int64_t)(v->valuedouble * scale);
                return 0;
        }
        if (cJSON_GetArraySize(v) != 2 ||
            !cJSON_IsNumber(cJSON_GetArrayItem(v, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(v, 1)))
                return -1;
        *lo = (int64_t)(cJSON_GetArrayItem(v, 0)->valuedouble * scale);
        *hi = (int64_t)(cJSON_GetArrayItem(v, 1)->valuedouble * scale);
        return *hi < *lo || *lo < 0 ? -1 : 0;
}

static int generate_from_json(const cJSON *j, sim_generate_t *g, char *errstr,
                              size_t errstr_size) {
        double d;
        int64_t lo, hi;
        static const char *const mix_keys[5] = {
            NULL, "success", "error", "aborted", "aborted_with_success"};
        if (!cJSON_IsObject(j))
                ERR("generate: expected an object");
        g->on             = true;
        g->seed           = 1;
        g->apps           = 10;
        g->builds_per_app = 10;
        g->mix[1] = 0.7, g->mix[2] = 0.2, g->mix[3] = 0.05, g->mix[4] = 0.05;
        g->interval_ms    = 600000;
        g->running_min_ms = 30000, g->running_max_ms = 600000;
        g->log_min_bytes = 5000, g->log_max_bytes = 200000;
        g->steps_min = 3, g->steps_max = 12;
        if (num_opt(j, "seed", &d) == 1)
                g->seed = (uint64_t)d;
        if (num_opt(j, "apps", &d) == 1)
                g->apps = (int64_t)d;
        if (num_opt(j, "builds_per_app", &d) == 1)
                g->builds_per_app = (int64_t)d;
        if (g->apps < 0 || g->apps > 1000000 || g->builds_per_app < 0 ||
            g->builds_per_app > 1000000)
                ERR("generate: apps and builds_per_app must be 0..1000000");
        if (str_opt(j, "workspace", g->workspace, sizeof(g->workspace)) < 0)
                ERR("generate.workspace: a string");
        const cJSON *mix = cJSON_GetObjectItemCaseSensitive(j, "mix");
        if (mix) {
                double sum = 0;
                for (int i = 1; i <= 4; i++) {
                        g->mix[i] = 0;
                        if (share_opt(mix, mix_keys[i], &g->mix[i]) < 0)
                                ERR("generate.mix.%s: a share 0..1",
                                    mix_keys[i]);
                        sum += g->mix[i];
                }
                if (sum <= 0)
                        ERR("generate.mix: shares must not all be 0");
                for (int i = 1; i <= 4; i++)
                        g->mix[i] /= sum;
        }
        if (num_opt(j, "running_last", &d) == 1)
                g->running_last = (int64_t)d;
        if (ms_opt(j, "interval_s", &g->interval_ms) < 0 ||
            ms_opt(j, "on_hold_s", &g->on_hold_ms) < 0)
                ERR("generate: interval_s and on_hold_s must be numbers");
        if (range_opt(j, "running_s", 1000, &g->running_min_ms,
                      &g->running_max_ms) < 0)
                ERR("generate.running_s: a number or [min, max]");
        if (range_opt(j, "log_bytes", 1, &g->log_min_bytes, &g->log_max_bytes) <
            0)
                ERR("generate.log_bytes: a number or [min, max]");
        lo = g->steps_min, hi = g->steps_max;
        if (range_opt(j, "steps", 1, &lo, &hi) < 0 || lo < 1 ||
            hi > SIM_MAX_STEPS)
                ERR("generate.steps: 1..%d or [min, max]", SIM_MAX_STEPS);
        g->steps_min = (int)lo, g->steps_max = (int)hi;
        return 0;
fail:
        return -1;
}

static int chunking_from_json(const cJSON *j, sim_chunking_t *c, char *errstr,
                              size_t errstr_size) {
        double d;
        char order[16]    = "desc";
        c->chunk_bytes    = 4096;
        c->max_chunks     = 50;
        c->first_position = 1;
        c->order          = 1;
        if (!j)
                return 0;
        if (num_opt(j, "chunk_bytes", &d) == 1) {
                if (d < 16 || d > 1 << 20)
                        ERR("log_chunks.chunk_bytes: 16..1048576");
                c->chunk_bytes = (int)d;
        }
        if (num_opt(j, "max_chunks", &d) == 1) {
                if (d < 1 || d > 10000)
                        ERR("log_chunks.max_chunks: 1..10000");
                c->max_chunks = (int)d;
        }
        if (num_opt(j, "first_position", &d) == 1)
                c->first_position = d == 0 ? 0 : 1;
        if (str_opt(j, "order", order, sizeof(order)) < 0)
                ERR("log_chunks.order: asc, desc or shuffle");
        c->order = !strcmp(order, "asc")       ? 0
                   : !strcmp(order, "desc")    ? 1
                   : !strcmp(order, "shuffle") ? 2
                                               : -1;
        if (c->order < 0)
                ERR("log_chunks.order: asc, desc or shuffle");
        if (share_opt(j, "repeat_share", &c->repeat_share) < 0 ||
            share_opt(j, "gap_share", &c->gap_share) < 0)
                ERR("log_chunks: repeat_share and gap_share are shares 0..1");
        return 0;
fail:
        return -1;
}

static int load_faults(sim_t *sim, const cJSON *root, char *errstr,
                       size_t errstr_size) {
        const cJSON *ep = cJSON_GetObjectItemCaseSensitive(root,
                                                           "endpoint_faults"),
                    *it;
        if (sim_faults_from_json(
                cJSON_GetObjectItemCaseSensitive(root, "faults"),
                &sim->faults_global, errstr, errstr_size) < 0)
                return -1;
        for (int i = 0; i < SIM_EP_COUNT; i++)
                sim_faults_from_json(NULL, &sim->faults_ep[i], errstr,
                                     errstr_size);
        cJSON_ArrayForEach(it, ep) {
                int i;
                for (i = 0; i < SIM_EP_COUNT; i++)
                        if (strcmp(it->string, sim_ep_names[i]) == 0)
                                break;
                if (i == SIM_EP_COUNT) {
                        snprintf(errstr, errstr_size,
                                 "endpoint_faults.%s: unknown endpoint",
                                 it->string);
                        return -1;
                }
                if (sim_faults_from_json(it, &sim->faults_ep[i], errstr,
                                         errstr_size) < 0)
                        return -1;
        }
        return 0;
}

static int load_tokens(sim_t *sim, const cJSON *root, char *errstr,
                       size_t errstr_size) {
        const cJSON *toks = cJSON_GetObjectItemCaseSensitive(root, "tokens"),
                    *it;
        if (toks && !cJSON_IsArray(toks)) {
                snprintf(errstr, errstr_size, "tokens: expected an array");
                return -1;
        }
        sim->tokens =
            calloc((size_t)cJSON_GetArraySize(toks) + 1, sizeof(*sim->tokens));
        if (!sim->tokens)
                return -1;
        cJSON_ArrayForEach(it, toks) {
                sim_token_t *t;
                if (sim_token_from_json(it, sim->start_ms, &t, errstr,
                                        errstr_size) < 0)
                        return -1;
                if (sim_token_find(sim, t->value)) {
                        snprintf(errstr, errstr_size,
                                 "tokens: duplicate token %s", t->fingerprint);
                        sim_token_destroy(t);
                        return -1;
                }
                sim->tokens[sim->n_tokens++] = t;
        }
        return 0;
}

static bool workspace_known(const cJSON *list, const char *ws) {
        const cJSON *it;
        if (!ws[0])
                return true;
        cJSON_ArrayForEach(it, list) {
                const cJSON *slug =
                    cJSON_GetObjectItemCaseSensitive(it, "slug");
                if (cJSON_IsString(slug) && strcmp(slug->valuestring, ws) == 0)
                        return true;
        }
        return false;
}

/* When the scenario lists workspaces, tokens and apps must name listed ones. */
static int check_workspaces(const sim_t *sim, const cJSON *list, char *errstr,
                            size_t errstr_size) {
        if (!list)
                return 0;
        if (!cJSON_IsArray(list))
                ERR("workspaces: expected an array of {\"slug\": ...}");
        for (size_t i = 0; i < sim->n_tokens; i++)
                if (!workspace_known(list, sim->tokens[i]->workspace))
                        ERR("token %s: workspace %s is not in workspaces",
                            sim->tokens[i]->fingerprint,
                            sim->tokens[i]->workspace);
        for (size_t i = 0; i < sim->n_apps; i++)
                if (!workspace_known(list, sim->apps[i].workspace))
                        ERR("app %s: workspace %s is not in workspaces",
                            sim->apps[i].slug, sim->apps[i].workspace);
        if (sim->gen.on && !workspace_known(list, sim->gen.workspace))
                ERR("generate: workspace %s is not in workspaces",
                    sim->gen.workspace);
        if (sim->wl && !workspace_known(list, sim_workload_workspace(sim->wl)))
                ERR("workload: workspace %s is not in workspaces",
                    sim_workload_workspace(sim->wl));
        return 0;
fail:
        return -1;
}

static int listcfg_from_json(const cJSON *j, sim_listcfg_t *c, char *errstr,
                             size_t errstr_size) {
        char field[32] = "triggered_at";
        if (!j)
                return 0;
        if (!cJSON_IsObject(j))
                ERR("builds_list: expected an object");
        if (str_opt(j, "after_field", field, sizeof(field)) < 0)
                ERR("builds_list.after_field: a string");
        c->after_field =
            !strcmp(field, "triggered_at")           ? SIM_AFTER_TRIGGERED
            : !strcmp(field, "started_on_worker_at") ? SIM_AFTER_STARTED
            : !strcmp(field, "finished_at")          ? SIM_AFTER_FINISHED
                                                     : (sim_after_field_t)-1;
        if ((int)c->after_field < 0)
                ERR("builds_list.after_field: triggered_at, "
                    "started_on_worker_at or finished_at");
        if (share_opt(j, "omit_share", &c->omit_share) < 0)
                ERR("builds_list.omit_share: a share between 0 and 1");
        return 0;
fail:
        return -1;
}

/* The blocks of newer features: builds_list, workload, webhooks. */
static int load_extras(sim_t *sim, const cJSON *root, char *errstr,
                       size_t errstr_size) {
        const cJSON *wl = cJSON_GetObjectItemCaseSensitive(root, "workload"),
                    *wh = cJSON_GetObjectItemCaseSensitive(root, "webhooks");
        if (listcfg_from_json(
                cJSON_GetObjectItemCaseSensitive(root, "builds_list"),
                &sim->listcfg, errstr, errstr_size) < 0)
                return -1;
        if (wl && sim_workload_new(wl, sim->start_ms, &sim->wl, errstr,
                                   errstr_size) < 0)
                return -1;
        sim_workload_source(sim->wl, &sim->extra);
        if (!(sim->hooks = sim_hooks_new())) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        return wh ? sim_hooks_configure(sim->hooks, wh, errstr, errstr_size)
                  : 0;
}

static int raw_mac_init(sim_t *sim) {
        char digest[]       = "SHA256";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end()};
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC_CTX_free(sim->raw_mac);
        sim->raw_mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
        EVP_MAC_free(mac); /* the context keeps its own reference */
        if (!sim->raw_mac || !EVP_MAC_init(sim->raw_mac, sim->raw_key,
                                           sizeof(sim->raw_key), params))
                return -1;
        return 0;
}

int sim_scenario_load(sim_t *sim, const char *json, char *errstr,
                      size_t errstr_size) {
        const char *end = NULL;
        cJSON *root     = cJSON_ParseWithOpts(json, &end, 1);
        const cJSON *apps, *it, *defaults;
        double d;
        if (!root) {
                snprintf(errstr, errstr_size,
                         "scenario: invalid JSON near byte %ld",
                         end ? (long)(end - json) : 0L);
                return -1;
        }
        if (!cJSON_IsObject(root))
                ERR("scenario: expected a JSON object");
        sim->speed           = 1.0;
        sim->stats_window_ms = 60000;
        if (num_opt(root, "speed", &d) == 1) {
                if (d <= 0 || d > 1e6)
                        ERR("speed: must be > 0");
                sim->speed = d;
        }
        if (num_opt(root, "stats_window_s", &d) == 1 && d >= 1)
                sim->stats_window_ms = (int64_t)(d * 1000);
        if (chunking_from_json(
                cJSON_GetObjectItemCaseSensitive(root, "log_chunks"),
                &sim->chunking, errstr, errstr_size) < 0 ||
            load_faults(sim, root, errstr, errstr_size) < 0 ||
            load_tokens(sim, root, errstr, errstr_size) < 0)
                goto fail;
        defaults = cJSON_GetObjectItemCaseSensitive(root, "defaults");
        apps     = cJSON_GetObjectItemCaseSensitive(root, "apps");
        if (apps && !cJSON_IsArray(apps))
                ERR("apps: expected an array");
        sim->apps =
            calloc((size_t)cJSON_GetArraySize(apps) + 1, sizeof(*sim->apps));
        if (!sim->apps)
                ERR("out of memory");
        cJSON_ArrayForEach(it, apps) {
                if (app_from_json(it, defaults, sim->start_ms,
                                  &sim->apps[sim->n_apps++], errstr,
                                  errstr_size) < 0)
                        goto fail;
        }
        it = cJSON_GetObjectItemCaseSensitive(root, "generate");
        if (it && generate_from_json(it, &sim->gen, errstr, errstr_size) < 0)
                goto fail;
        if (load_extras(sim, root, errstr, errstr_size) < 0)
                goto fail;
        if (check_workspaces(
                sim, cJSON_GetObjectItemCaseSensitive(root, "workspaces"),
                errstr, errstr_size) < 0)
                goto fail;
        if (RAND_bytes(sim->raw_key, sizeof(sim->raw_key)) != 1)
                ERR("cannot get random bytes for the raw log key");
        if (raw_mac_init(sim) < 0)
                ERR("cannot set up HMAC-SHA256 for raw log URLs");
        cJSON_Delete(root);
        return 0;
fail:
        cJSON_Delete(root);
        return -1;
}

void sim_release(sim_t *sim) {
        sim_hooks_destroy(sim->hooks); /* its thread reads the workload */
        sim->hooks = NULL;
        sim_workload_destroy(sim->wl);
        sim->wl = NULL;
        memset(&sim->extra, 0, sizeof(sim->extra));
        EVP_MAC_CTX_free(sim->raw_mac);
        sim->raw_mac = NULL;
        for (size_t i = 0; i < sim->n_apps; i++) {
                for (size_t k = 0; k < sim->apps[i].n_builds; k++)
                        free((void *)(uintptr_t)sim->apps[i]
                                 .builds[k]
                                 .log.file_data);
                free(sim->apps[i].builds);
        }
        free(sim->apps);
        for (size_t i = 0; i < sim->n_tokens; i++)
                sim_token_destroy(sim->tokens[i]);
        free(sim->tokens);
        while (sim->overrides) {
                sim_override_t *o = sim->overrides;
                sim->overrides    = o->next;
                free(o);
        }
}
