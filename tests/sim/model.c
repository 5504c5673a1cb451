/* tests/sim/model.c — apps and builds as the API shows them.
 *
 * Explicit apps come first (index 0..n_apps-1), then the apps of the
 * `generate` block. Generated apps and builds are never stored: slugs are a
 * keyed Feistel permutation of (app index, build index), so a slug maps back to
 * its indices, and every other property is a hash of (seed, indices).
 */
#include "tests/sim/sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

const char *const sim_ep_names[SIM_EP_COUNT] = {
    "apps_list",      "app_get",        "builds_list",    "build_get",
    "build_log",      "raw_log",        "webhooks_list",  "webhooks_create",
    "webhook_update", "webhook_delete", "delivery_items", "delivery_item",
    "redeliver",      "other",
};

uint64_t sim_feistel(uint64_t key, uint64_t v, int inverse) {
        uint32_t l = (uint32_t)(v >> 32), r = (uint32_t)v;
        for (int i = 0; i < 4; i++) {
                int k = inverse ? 3 - i : i;
                if (!inverse) {
                        uint32_t t = r;
                        r = l ^ (uint32_t)sim_hash(key + (uint64_t)k, t);
                        l = t;
                } else {
                        uint32_t t = l;
                        l = r ^ (uint32_t)sim_hash(key + (uint64_t)k, t);
                        r = t;
                }
        }
        return (uint64_t)l << 32 | r;
}

int sim_hex16_parse(const char *s, uint64_t *out) {
        uint64_t v = 0;
        if (strlen(s) != 16)
                return -1;
        for (int i = 0; i < 16; i++) {
                char c = s[i];
                int d  = c >= '0' && c <= '9'   ? c - '0'
                         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                : -1;
                if (d < 0)
                        return -1;
                v = v << 4 | (uint64_t)d;
        }
        *out = v;
        return 0;
}

int64_t sim_now_ms(const sim_t *sim) {
        int64_t wall = time_wall_ms();
        return sim->start_ms +
               (int64_t)((double)(wall - sim->start_ms) * sim->speed);
}

size_t sim_extra_first(const sim_t *sim) {
        return sim->n_apps + (sim->gen.on ? (size_t)sim->gen.apps : 0);
}

size_t sim_app_count(const sim_t *sim) {
        return sim_extra_first(sim) + sim->extra.n_apps;
}

/* Field setters for generated apps and builds, several per request: the
 * same text as snprintf "%s", "%016" PRIx64 and "prefix%" PRIu64 at a
 * fraction of the cost. */
static void set_str(char *dst, size_t size, const char *s) {
        size_t n = strnlen(s, size - 1);
        memcpy(dst, s, n);
        dst[n] = '\0';
}

char *sim_put_hex(char *p, uint64_t v, int digits) {
        static const char hex[] = "0123456789abcdef";
        for (int i = digits - 1; i >= 0; i--, v >>= 4)
                p[i] = hex[v & 15];
        p[digits] = '\0';
        return p + digits;
}

/* prefix + decimal v; size must hold them (a short prefix and 20 digits). */
static void set_num(char *dst, size_t size, const char *prefix, uint64_t v) {
        char t[20];
        size_t n = strlen(prefix), d = 0;
        do {
                t[d++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        if (n + d >= size) { /* never with our fields; stay correct anyway */
                dst[0] = '\0';
                return;
        }
        memcpy(dst, prefix, n);
        while (d)
                dst[n++] = t[--d];
        dst[n] = '\0';
}

static void gen_app(const sim_t *sim, uint64_t gi, sim_app_t *out) {
        static const char *const types[] = {"ios", "android", "flutter",
                                            "react-native", "other"};
        uint64_t h                       = sim_hash(sim->gen.seed, gi);
        memset(out, 0, sizeof(*out));
        sim_put_hex(out->slug, sim_feistel(sim->gen.seed, gi, 0), 16);
        set_num(out->title, sizeof(out->title), "sim-app-", gi);
        set_str(out->workspace, sizeof(out->workspace), sim->gen.workspace);
        set_str(out->project_type, sizeof(out->project_type), types[h % 5]);
        set_num(out->repo_owner, sizeof(out->repo_owner), "sim-org-", h % 97);
        set_num(out->repo_slug, sizeof(out->repo_slug), "app-", gi);
        out->faults.set = false;
}

int sim_app_at(const sim_t *sim, size_t i, sim_app_t *out) {
        if (i < sim->n_apps) {
                *out = sim->apps[i];
                return 0;
        }
        if (i >= sim_extra_first(sim)) {
                i -= sim_extra_first(sim);
                if (i >= sim->extra.n_apps)
                        return -1;
                sim->extra.app_at(sim->extra.ctx, i, out);
                return 0;
        }
        gen_app(sim, i - sim->n_apps, out);
        return 0;
}

int sim_app_find(const sim_t *sim, const char *slug, sim_app_t *out,
                 size_t *index) {
        uint64_t v;
        for (size_t i = 0; i < sim->n_apps; i++)
                if (strcmp(sim->apps[i].slug, slug) == 0) {
                        *out   = sim->apps[i];
                        *index = i;
                        return 0;
                }
        if (sim->extra.n_apps &&
            sim->extra.app_find(sim->extra.ctx, slug, index) == 0) {
                sim->extra.app_at(sim->extra.ctx, *index, out);
                *index += sim_extra_first(sim);
                return 0;
        }
        if (!sim->gen.on || sim_hex16_parse(slug, &v) < 0)
                return -1;
        v = sim_feistel(sim->gen.seed, v, 1);
        if (v >= (uint64_t)sim->gen.apps)
                return -1;
        gen_app(sim, v, out);
        *index = sim->n_apps + (size_t)v;
        return 0;
}

int64_t sim_build_count(const sim_t *sim, const sim_app_t *app,
                        size_t app_index) {
        if (app_index < sim->n_apps)
                return (int64_t)app->n_builds;
        if (app_index >= sim_extra_first(sim))
                return sim->extra.build_count(sim->extra.ctx,
                                              app_index - sim_extra_first(sim));
        return sim->gen.builds_per_app;
}

static int64_t span(uint64_t h, int64_t lo, int64_t hi) {
        return hi <= lo ? lo : lo + (int64_t)(h % (uint64_t)(hi - lo + 1));
}

/* Build j (0 = oldest) of generated app gi. */
static void gen_build(const sim_t *sim, uint64_t gi, int64_t j,
                      sim_build_t *b) {
        static const char *const branches[] = {"main", "develop", "release/2.4",
                                               "feature/login"};
        static const char *const flows[]    = {"primary", "deploy", "ci-test",
                                               "nightly"};
        static const char *const aborts[]   = {
              "Automatically aborted via Rolling Builds.",
              "Lost connection to build agent", "User aborted"};
        const sim_generate_t *g = &sim->gen;
        uint64_t key            = gi << 24 | (uint64_t)j;
        uint64_t h              = sim_hash(g->seed ^ 0xb17d, key);
        int64_t rank            = g->builds_per_app - 1 - j;
        double u = (double)(h >> 11) * 0x1.0p-53, acc = 0;
        memset(b, 0, sizeof(*b));
        sim_put_hex(b->slug, sim_feistel(g->seed ^ 0xb17d, key, 0), 16);
        sim_put_hex(b->app, sim_feistel(g->seed, gi, 0), 16);
        b->build_number = j + 1;
        b->final_status = 1;
        for (int s = 1; s <= 4; s++) {
                acc += g->mix[s];
                if (u < acc) {
                        b->final_status = s;
                        break;
                }
        }
        b->on_hold_ms = g->on_hold_ms;
        b->running_ms =
            span(sim_hash(h, 1), g->running_min_ms, g->running_max_ms);
        if (rank < g->running_last)
                b->triggered_ms = sim->start_ms - rank * 1000;
        else
                b->triggered_ms = sim->start_ms - g->running_max_ms -
                                  g->on_hold_ms - (rank + 1) * g->interval_ms;
        set_str(b->branch, sizeof(b->branch), branches[sim_hash(h, 2) % 4]);
        set_str(b->workflow, sizeof(b->workflow), flows[sim_hash(h, 3) % 4]);
        _Static_assert(sizeof(b->commit_hash) > 40, "40 hex digits");
        sim_put_hex(sim_put_hex(sim_put_hex(b->commit_hash, sim_hash(h, 4), 16),
                                sim_hash(h, 5), 16),
                    (uint32_t)sim_hash(h, 6), 8);
        set_num(b->commit_message, sizeof(b->commit_message), "change ",
                h % 100000);
        set_str(b->triggered_by, sizeof(b->triggered_by),
                sim_hash(h, 7) % 2 ? "webhook-github/sim-user"
                                   : "manual-sim-user");
        set_str(b->machine_type, sizeof(b->machine_type), "g2.linux.medium");
        set_str(b->stack, sizeof(b->stack), "linux-docker-android-22.04");
        if (sim_hash(h, 8) % 3 == 0) {
                b->pull_request_id = (int64_t)(sim_hash(h, 9) % 20000) + 1;
                set_str(b->pr_target, sizeof(b->pr_target), "main");
        }
        if (b->final_status >= 3)
                set_str(b->abort_reason, sizeof(b->abort_reason),
                        aborts[sim_hash(h, 10) % 3]);
        b->url_valid_ms = 600000;
        b->log.seed     = sim_hash(h, 11);
        b->log.target_bytes =
            span(sim_hash(h, 12), g->log_min_bytes, g->log_max_bytes);
        b->log.steps = (int)span(sim_hash(h, 13), g->steps_min, g->steps_max);
        b->log.failing_step =
            b->final_status == 2
                ? (int)(sim_hash(h, 14) % (uint64_t)b->log.steps)
                : -1;
        b->log.exit_code =
            b->final_status == 2 ? 1 + (int)(sim_hash(h, 15) % 3) : 0;
        b->log.abort_cut = b->final_status >= 3;
}

int sim_build_at(const sim_t *sim, const sim_app_t *app, size_t app_index,
                 int64_t i, sim_build_t *out) {
        if (app_index >= sim_extra_first(sim))
                return sim->extra.build_at(
                    sim->extra.ctx, app_index - sim_extra_first(sim), i, out);
        int64_t n = sim_build_count(sim, app, app_index);
        if (i < 0 || i >= n)
                return -1;
        if (app_index < sim->n_apps)
                *out = app->builds[n - 1 - i];
        else
                gen_build(sim, app_index - sim->n_apps, n - 1 - i, out);
        return 0;
}

int sim_build_find(const sim_t *sim, const sim_app_t *app, size_t app_index,
                   const char *slug, sim_build_t *out) {
        uint64_t v;
        if (app_index < sim->n_apps) {
                for (size_t i = 0; i < app->n_builds; i++)
                        if (strcmp(app->builds[i].slug, slug) == 0) {
                                *out = app->builds[i];
                                return 0;
                        }
                return -1;
        }
        if (app_index >= sim_extra_first(sim))
                return sim->extra.build_find(sim->extra.ctx,
                                             app_index - sim_extra_first(sim),
                                             slug, out);
        if (sim_hex16_parse(slug, &v) < 0)
                return -1;
        v = sim_feistel(sim->gen.seed ^ 0xb17d, v, 1);
        if (v >> 24 != app_index - sim->n_apps ||
            (int64_t)(v & 0xffffff) >= sim->gen.builds_per_app)
                return -1;
        gen_build(sim, v >> 24, (int64_t)(v & 0xffffff), out);
        return 0;
}

void sim_build_state(sim_t *sim, const sim_build_t *b, int64_t now,
                     sim_state_t *st) {
        int64_t start = b->triggered_ms + b->on_hold_ms,
                fin   = start + b->running_ms;
        memset(st, 0, sizeof(*st));
        if (sim->overrides) {
                pthread_mutex_lock(&sim->lock);
                for (const sim_override_t *o = sim->overrides; o; o = o->next)
                        if (strcmp(o->build, b->slug) == 0 &&
                            o->finished_ms < fin) {
                                fin        = o->finished_ms;
                                st->status = o->status;
                        }
                pthread_mutex_unlock(&sim->lock);
        }
        if (now >= fin) {
                st->status      = st->status ? st->status : b->final_status;
                st->finished_ms = fin;
                /* aborted before a worker took it: never started */
                st->started_ms = fin <= start && st->status >= 3 ? 0 : start;
                return;
        }
        st->status     = 0;
        st->on_hold    = now < start;
        st->started_ms = st->on_hold ? 0 : start;
}

void sim_build_effective(sim_build_t *b, const sim_state_t *st) {
        if (st->status == 0 || st->status == b->final_status)
                return;
        b->final_status     = st->status;
        b->log.failing_step = st->status == 2 ? b->log.steps - 1 : -1;
        if (st->status == 2 && b->log.exit_code < 1)
                b->log.exit_code = 1;
        b->log.abort_cut = st->status >= 3;
        if (st->status >= 3 && !b->abort_reason[0])
                snprintf(b->abort_reason, sizeof(b->abort_reason), "%s",
                         "User aborted");
}

const char *sim_status_text(int status, bool on_hold) {
        static const char *const t[] = {"in-progress", "success", "error",
                                        "aborted", "aborted-with-success"};
        if (status == 0 && on_hold)
                return "on-hold";
        return status >= 0 && status <= 4 ? t[status] : "unknown";
}

cJSON *sim_app_json(const sim_app_t *a) {
        cJSON *o = cJSON_CreateObject(), *owner;
        char url[256];
        cJSON_AddStringToObject(o, "slug", a->slug);
        cJSON_AddStringToObject(o, "title", a->title);
        cJSON_AddStringToObject(o, "project_type", a->project_type);
        cJSON_AddStringToObject(o, "provider", "github");
        cJSON_AddStringToObject(o, "repo_owner", a->repo_owner);
        snprintf(url, sizeof(url), "https://github.com/%s/%s.git",
                 a->repo_owner, a->repo_slug);
        cJSON_AddStringToObject(o, "repo_url", url);
        cJSON_AddStringToObject(o, "repo_slug", a->repo_slug);
        cJSON_AddBoolToObject(o, "is_disabled", 0);
        cJSON_AddNumberToObject(o, "status", 1);
        cJSON_AddBoolToObject(o, "is_public", 0);
        cJSON_AddBoolToObject(o, "is_github_checks_enabled", 0);
        cJSON_AddStringToObject(o, "project_id", a->slug);
        owner = cJSON_AddObjectToObject(o, "owner");
        cJSON_AddStringToObject(owner, "account_type", "organization");
        cJSON_AddStringToObject(owner, "name",
                                a->workspace[0] ? a->workspace : "sim");
        cJSON_AddStringToObject(
            owner, "slug", a->workspace[0] ? a->workspace : "0000000000000000");
        cJSON_AddNullToObject(o, "avatar_url");
        return o;
}
