/* workers/apppoll.c — app groups: one list call refreshes every parked watch
 * of an app (see apppoll.h). A group acts only in its timer callback and in
 * the completion of its list request; like a watch it never blocks but for
 * the short synchronous seam calls.
 */
#include "workers/apppoll.h"

#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "workers/pool.h"
#include "workers/schedule.h"

#define AP_FAC       "apppoll"
#define AP_MAX_PAGES 8
#define AP_HIST_WF   4      /* workflows whose history a group keeps */
#define AP_HIST_MS   300000 /* how long a history read is trusted */
#define AP_HOOK_MS                                                             \
        30000 /* how long a webhook flag read is trusted (at                   \
               * most the safety interval) */

typedef struct ap_hist { /* a cached history of one workflow */
        char workflow[64];
        sched_hist_t h;
        int64_t read_at; /* loop ms; 0 = empty slot */
} ap_hist_t;

typedef struct app_group {
        watch_table_t *tbl;
        struct app_group *hnext;
        uint64_t hash;
        char *key; /* "workspace\0app\0", owned */
        size_t key_len;
        const char *workspace, *app; /* into key */
        watch_t *members;
        size_t n, nparked;
        loop_timer_t *timer;
        int64_t next_at;   /* loop ms of the next call; WATCH_NEVER = none */
        int64_t called_at; /* loop ms of the last call's start */
        int64_t made_at;   /* loop ms the newest list we used was made */
        int64_t born_at;   /* loop ms the group was made */
        int busy;          /* inside a callback: not freed there */
        /* The call in progress: request, pages so far, the lease. */
        watch_request_t req;
        int in_flight, lease_held, attempts;
        int64_t after_s;
        size_t npages; /* pages of this round so far */
        uint32_t round;
        char fp[WATCH_FP_MAX];
        int valid_cached;
        int webhooks;
        int64_t webhooks_at; /* loop ms of the last app_webhooks read */
        ap_hist_t hist[AP_HIST_WF];
} app_group_t;

typedef struct apppoll {
        app_group_t **buckets;
        size_t nbuckets; /* power of two */
        size_t n;
} apppoll_t;

static void ap_on_timer(void *arg);
static void ap_on_answer(void *arg, watch_answer_t *ans);
static void ap_plan(app_group_t *g, int64_t wait_ms);

static int64_t ap_now(const app_group_t *g) {
        return loop_now_ms(g->tbl->loop);
}

/* ---- the index ---------------------------------------------------------- */

int apppoll_init(watch_table_t *tbl) {
        apppoll_t *ap = calloc(1, sizeof(*ap));
        if (!ap || !(ap->buckets = calloc(64, sizeof(*ap->buckets)))) {
                free(ap);
                return -1;
        }
        ap->nbuckets = 64;
        tbl->ap      = ap;
        return 0;
}

static void ap_free(app_group_t *g);

void apppoll_release(watch_table_t *tbl) {
        apppoll_t *ap = tbl->ap;
        if (!ap)
                return;
        for (size_t i = 0; i < ap->nbuckets; i++)
                while (ap->buckets[i])
                        ap_free(ap->buckets[i]);
        free(ap->buckets);
        free(ap);
        tbl->ap = NULL;
}

static char *ap_key(const char *workspace, const char *app, size_t *len) {
        size_t lw = strlen(workspace), la = strlen(app);
        char *k = malloc(lw + la + 2);
        if (!k)
                return NULL;
        memcpy(k, workspace, lw + 1);
        memcpy(k + lw + 1, app, la + 1);
        *len = lw + la + 2;
        return k;
}

static app_group_t *ap_find(apppoll_t *ap, const char *key, size_t len,
                            uint64_t hash) {
        for (app_group_t *g = ap->buckets[hash & (ap->nbuckets - 1)]; g;
             g              = g->hnext)
                if (g->hash == hash && g->key_len == len &&
                    memcmp(g->key, key, len) == 0)
                        return g;
        return NULL;
}

static void ap_grow(apppoll_t *ap) {
        size_t nb          = ap->nbuckets * 2;
        app_group_t **nbkt = calloc(nb, sizeof(*nbkt));
        if (!nbkt)
                return;
        for (size_t i = 0; i < ap->nbuckets; i++)
                for (app_group_t *g = ap->buckets[i], *next; g; g = next) {
                        next                     = g->hnext;
                        g->hnext                 = nbkt[g->hash & (nb - 1)];
                        nbkt[g->hash & (nb - 1)] = g;
                }
        free(ap->buckets);
        ap->buckets  = nbkt;
        ap->nbuckets = nb;
}

static app_group_t *ap_create(watch_table_t *tbl, char *key, size_t len,
                              uint64_t hash) {
        apppoll_t *ap  = tbl->ap;
        app_group_t *g = calloc(1, sizeof(*g));
        if (!g)
                return NULL;
        g->tbl       = tbl;
        g->key       = key;
        g->key_len   = len;
        g->hash      = hash;
        g->workspace = key;
        g->app       = key + strlen(key) + 1;
        g->next_at   = WATCH_NEVER;
        g->called_at = -(int64_t)tbl->opts.min_ms;
        g->made_at   = WATCH_NEVER;
        g->born_at   = ap_now(g);
        if (ap->n >= ap->nbuckets)
                ap_grow(ap);
        size_t b       = hash & (ap->nbuckets - 1);
        g->hnext       = ap->buckets[b];
        ap->buckets[b] = g;
        ap->n++;
        return g;
}

static void ap_free(app_group_t *g) {
        watch_table_t *tbl     = g->tbl;
        const watch_seams_t *s = &tbl->seams;
        apppoll_t *ap          = tbl->ap;
        if (g->in_flight) {
                tbl->in_flight--;
                if (s->request_cancel)
                        s->request_cancel(s->ctx, &g->req);
        }
        if (g->lease_held && s->list_store)
                s->list_store(s->ctx, g->app, 0, NULL, 0, 0, 1);
        app_group_t **pp = &ap->buckets[g->hash & (ap->nbuckets - 1)];
        while (*pp != g)
                pp = &(*pp)->hnext;
        *pp = g->hnext;
        ap->n--;
        loop_timer_free(g->timer);
        free(g->key);
        free(g);
}

/* ---- membership ---------------------------------------------------------- */

static void ap_park(watch_t *w) {
        if (!w->parked) {
                w->parked = 1;
                w->grp->nparked++;
        }
}

/* The watch looks at its build itself now (solo) or at its own schedule. */
static void ap_unpark(watch_t *w, int solo) {
        if (!w->parked)
                return;
        w->parked = 0;
        w->grp->nparked--;
        if (solo) {
                w->solo = 1;
                watch_due_now(w);
        } else {
                watch_settle(w);
        }
}

int apppoll_will_call(const watch_t *w) {
        const app_group_t *g = w->grp;
        return g && (g->in_flight || loop_timer_armed(g->timer));
}

void apppoll_unpark(watch_t *w) {
        if (w->parked) {
                w->parked = 0;
                w->grp->nparked--;
        }
}

/* Arms the timer for next_at (made on first use: a group that never
 * batches costs no timer). Out of memory: the parked members look for
 * themselves. */
static void ap_arm(app_group_t *g) {
        if (g->in_flight || g->next_at == WATCH_NEVER) {
                if (g->timer)
                        loop_timer_stop(g->timer);
                return;
        }
        if (!g->timer && !(g->timer = loop_timer_new(g->tbl->loop))) {
                LOG_WARN(AP_FAC, "out of memory, polling per build app=%s",
                         g->app);
                g->next_at = WATCH_NEVER;
                for (watch_t *w = g->members; w; w = w->gnext)
                        ap_unpark(w, 1);
                return;
        }
        loop_timer_start(g->timer, g->next_at - ap_now(g), ap_on_timer, g);
}

/* The next call at `at` unless one is due sooner; never sooner than the
 * floor after the last call. */
static void ap_call_at(app_group_t *g, int64_t at) {
        int64_t floor = g->called_at + g->tbl->opts.min_ms;
        if (at < floor)
                at = floor;
        if (at < g->next_at)
                g->next_at = at;
        ap_arm(g);
}

int apppoll_join(watch_t *w) {
        watch_table_t *tbl = w->tbl;
        size_t len;
        if (!tbl->ap)
                return -1;
        char *key = ap_key(watch_workspace(w), watch_app(w), &len);
        if (!key)
                return -1;
        uint64_t hash  = pool_hash(key, len);
        app_group_t *g = ap_find(tbl->ap, key, len, hash);
        if (g)
                free(key);
        else if (!(g = ap_create(tbl, key, len, hash))) {
                free(key);
                return -1;
        }
        w->grp   = g;
        w->gprev = NULL;
        w->gnext = g->members;
        if (g->members)
                g->members->gprev = w;
        g->members = w;
        g->n++;
        return 0;
}

void apppoll_leave(watch_t *w) {
        app_group_t *g = w->grp;
        if (!g)
                return;
        if (w->parked) {
                w->parked = 0;
                g->nparked--;
        }
        if (w->gprev)
                w->gprev->gnext = w->gnext;
        else
                g->members = w->gnext;
        if (w->gnext)
                w->gnext->gprev = w->gprev;
        w->grp   = NULL;
        w->gnext = w->gprev = NULL;
        g->n--;
        if (g->busy)
                return;
        if (g->n == 0) {
                ap_free(g);
        } else if (g->n == 1 && g->members->parked) {
                /* Alone now: it polls per build, at the group's time. */
                watch_t *last = g->members;
                int64_t at    = g->next_at;
                ap_unpark(last, 0);
                last->next_at =
                    at == WATCH_NEVER ? loop_now_ms(g->tbl->loop) : at;
                watch_settle(last);
        }
}

int apppoll_defer(watch_t *w) {
        app_group_t *g = w->grp;
        if (!g || !w->tbl->opts.batch || w->solo || g->n < 2)
                return 0;
        ap_park(w);
        /* Its own schedule says it is due: the group looks at the next
         * turn the floor allows. A new build waits for the group's planned
         * call (first look through the list), within the detection
         * target. */
        int64_t now = ap_now(g), at = now;
        if (!w->known && g->next_at != WATCH_NEVER)
                at = g->next_at < now + w->tbl->opts.target_ms
                         ? g->next_at
                         : now + w->tbl->opts.target_ms;
        ap_call_at(g, at);
        return 1;
}

/* ---- the schedule ---------------------------------------------------------
 */

static const sched_hist_t *ap_hist(app_group_t *g, const char *workflow) {
        const watch_seams_t *s = &g->tbl->seams;
        int64_t now            = ap_now(g);
        ap_hist_t *slot        = &g->hist[0];
        if (!workflow || !s->history_get || !g->tbl->opts.adaptive)
                return NULL;
        for (int i = 0; i < AP_HIST_WF; i++) {
                ap_hist_t *h = &g->hist[i];
                if (h->read_at && strcmp(h->workflow, workflow) == 0) {
                        if (now - h->read_at < AP_HIST_MS)
                                return &h->h;
                        slot = h;
                        break;
                }
                if (h->read_at < slot->read_at)
                        slot = h; /* the oldest (or an empty) slot */
        }
        int64_t d[SCHED_MAX_HISTORY];
        int n = s->history_get(s->ctx, g->app, workflow, d, SCHED_MAX_HISTORY);
        snprintf(slot->workflow, sizeof(slot->workflow), "%s", workflow);
        sched_hist_from(&slot->h, d, n);
        slot->read_at = now;
        return &slot->h;
}

static int ap_webhooks(app_group_t *g) {
        const watch_seams_t *s = &g->tbl->seams;
        int64_t now            = ap_now(g);
        if (s->app_webhooks &&
            (!g->webhooks_at || now - g->webhooks_at >= AP_HOOK_MS)) {
                g->webhooks    = s->app_webhooks(s->ctx, g->app) == 1;
                g->webhooks_at = now;
        }
        return g->webhooks;
}

static int64_t ap_server_now(const watch_table_t *tbl, double *rate) {
        const watch_seams_t *s = &tbl->seams;
        int64_t now            = 0;
        *rate = s->server_clock ? s->server_clock(s->ctx, &now) : 1;
        if (!now) { /* no answer yet: the local clock, rate unknown */
                *rate = 0;
                return time_wall_ms();
        }
        return now;
}

static void ap_sched_build(watch_t *w, watch_state_t st, sched_build_t *b) {
        const watch_seams_t *s = &w->tbl->seams;
        watch_build_facts_t f  = {0};
        if (w->build && s->build_facts)
                s->build_facts(s->ctx, w->build, &f);
        *b =
            (sched_build_t){.on_hold    = st == WATCH_STATE_ON_HOLD,
                            .started_ms = f.started_ms,
                            .hist = w->grp ? ap_hist(w->grp, f.workflow) : NULL,
                            .webhooks = w->grp ? ap_webhooks(w->grp) : 0};
}

int64_t apppoll_interval_ms(watch_t *w, watch_state_t st) {
        sched_build_t b;
        double rate;
        ap_sched_build(w, st, &b);
        int64_t now = ap_server_now(w->tbl, &rate);
        return sched_interval_ms(&w->tbl->opts, &b, now, rate);
}

void apppoll_finished(watch_t *w) {
        const watch_seams_t *s = &w->tbl->seams;
        watch_build_facts_t f  = {0};
        if (!w->build || !s->build_facts || !s->history_add)
                return;
        s->build_facts(s->ctx, w->build, &f);
        if (!f.workflow || !f.started_ms || f.finished_ms <= f.started_ms)
                return;
        s->history_add(s->ctx, watch_app(w), f.workflow, watch_build(w),
                       f.finished_ms - f.started_ms);
        if (w->grp) /* read it again next time */
                for (int i = 0; i < AP_HIST_WF; i++)
                        if (strcmp(w->grp->hist[i].workflow, f.workflow) == 0)
                                w->grp->hist[i].read_at = 0;
}

/* The finished build's end on Bitrise's clock (0 = unknown). */
static int64_t ap_finished_ms(const watch_t *w) {
        const watch_seams_t *s = &w->tbl->seams;
        watch_build_facts_t f  = {0};
        if (w->build && s->build_facts)
                s->build_facts(s->ctx, w->build, &f);
        return f.finished_ms;
}

int64_t apppoll_log_wait_ms(watch_t *w) {
        double rate;
        int64_t now = ap_server_now(w->tbl, &rate);
        return sched_lag_wait_ms(&w->tbl->log_lag, ap_finished_ms(w), now,
                                 rate);
}

void apppoll_log_answer(watch_t *w, int archived) {
        double rate;
        int64_t now = ap_server_now(w->tbl, &rate), fin = ap_finished_ms(w);
        if (rate > 0 && fin)
                sched_lag_learn(&w->tbl->log_lag, now - fin, archived);
        LOG_DEBUG(AP_FAC,
                  "first log answer build=%s archived=%d after_ms=%" PRId64
                  " lag_estimate_ms=%.0f",
                  watch_build(w), archived, fin && rate > 0 ? now - fin : -1,
                  w->tbl->log_lag.est_ms);
}

void apppoll_webhook_seen(watch_table_t *tbl, const char *workspace,
                          const char *app) {
        size_t len;
        char *key = tbl->ap ? ap_key(workspace, app, &len) : NULL;
        if (!key)
                return;
        app_group_t *g = ap_find(tbl->ap, key, len, pool_hash(key, len));
        free(key);
        if (!g)
                return;
        int was        = g->webhooks;
        g->webhooks    = 1;
        g->webhooks_at = ap_now(g);
        if (!was && !g->in_flight) /* its builds now wait for the safety poll */
                ap_plan(g, 0);
}

/* The shortest interval any parked member wants before its next look
 * (WATCH_NEVER when none is parked); with wait_ms > 0 (the budget is
 * short) the wait instead, twice as long when every parked build is far
 * from its expected end. */
static int64_t ap_need_ms(app_group_t *g, int64_t wait_ms) {
        int64_t best = WATCH_NEVER;
        double rate;
        int64_t snow = ap_server_now(g->tbl, &rate);
        for (watch_t *w = g->members; w; w = w->gnext) {
                if (!w->parked)
                        continue;
                sched_build_t b;
                ap_sched_build(w, w->state, &b);
                /* A new build's first look: within the detection target
                 * (apppoll_defer), not a call of its own at once. */
                int64_t d =
                    w->known ? sched_interval_ms(&g->tbl->opts, &b, snow, rate)
                             : g->tbl->opts.target_ms;
                if (wait_ms > 0)
                        d = wait_ms *
                            (sched_urgent(&g->tbl->opts, &b, snow) ? 1 : 2);
                if (d < best)
                        best = d;
        }
        return best;
}

/* Plans the next call: when the first parked member needs a look after
 * the answer made at `made` (another process's shared list is older than
 * our round: counting from now would look twice as late). */
static void ap_plan_from(app_group_t *g, int64_t wait_ms, int64_t made) {
        int64_t d  = ap_need_ms(g, wait_ms);
        g->next_at = WATCH_NEVER;
        if (d == WATCH_NEVER) {
                ap_arm(g);
                return;
        }
        ap_call_at(g, made + (wait_ms > 0 ? d : watch_jittered(g->tbl, d)));
}

static void ap_plan(app_group_t *g, int64_t wait_ms) {
        ap_plan_from(g, wait_ms, ap_now(g));
}

/* ---- a round: preflight, the call, its pages, the hand-out --------------- */

/* Every parked member looks for itself (failure, or refused verdicts). */
static void ap_fallback(app_group_t *g) {
        for (watch_t *w = g->members, *next; w; w = next) {
                next = w->gnext;
                ap_unpark(w, 1);
        }
}

static void ap_rate_wait(app_group_t *g, int on) {
        for (watch_t *w = g->members; w; w = w->gnext)
                if (w->parked)
                        w->rate_wait = on;
}

/* A member takes a list answer for its build when it waits for the group
 * (parked), or idles until its own next look (not in flight, not in line):
 * the list is as fresh as its own GET would be, and a build that finished
 * far from its expected end is seen now instead of at that look. */
static int ap_takes(const watch_t *w) {
        return w->parked || (!w->in_flight && w->waiting == WATCH_WAIT_NONE);
}

/* Hands a build to its member; the member may leave the group. */
static void ap_feed(app_group_t *g, const char *build, watch_answer_t *ans) {
        watch_t *w = watch_table_find(g->tbl, g->workspace, g->app, build);
        if (!w || w->grp != g || !ap_takes(w) || w->seen_round == g->round) {
                if (ans->payload && g->tbl->seams.payload_free)
                        g->tbl->seams.payload_free(
                            g->tbl->seams.ctx, WATCH_REQ_BUILD, ans->payload);
                ans->payload = NULL;
                return;
        }
        w->seen_round = g->round;
        w->rate_wait  = 0;
        w->attempts   = 0;
        w->solo       = 0; /* the list shows it: it may park again */
        watch_feed_build(w, ans);
}

/* The round is over: members the answers (made at `made`) did not show
 * look for themselves; the next call is planned. */
static void ap_round_end(app_group_t *g, int64_t made) {
        LOG_DEBUG(AP_FAC, "list round done app=%s parked=%zu of=%zu", g->app,
                  g->nparked, g->n);
        for (watch_t *w = g->members, *next; w; w = next) {
                next = w->gnext;
                if (w->parked && w->seen_round != g->round) {
                        LOG_DEBUG(AP_FAC,
                                  "build not in the list, looking at it alone "
                                  "app=%s build=%s",
                                  g->app, watch_build(w));
                        ap_unpark(w, 1);
                }
        }
        g->made_at = made;
        ap_plan_from(g, 0, made);
}

static int ap_missing(const app_group_t *g) {
        for (const watch_t *w = g->members; w; w = w->gnext)
                if (w->parked && w->seen_round != g->round)
                        return 1;
        return 0;
}

/* `after` for the call: the oldest known trigger among parked members,
 * minus the margin (Bitrise does not say which time it compares). 0 when
 * none is known. */
static int64_t ap_after_s(const app_group_t *g) {
        const watch_seams_t *s = &g->tbl->seams;
        int64_t oldest         = 0;
        for (const watch_t *w = g->members; w; w = w->gnext) {
                watch_build_facts_t f = {0};
                if (!w->parked || !w->build || !s->build_facts)
                        continue;
                s->build_facts(s->ctx, w->build, &f);
                if (f.triggered_ms && (!oldest || f.triggered_ms < oldest))
                        oldest = f.triggered_ms;
                if (!f.triggered_ms)
                        return 0;
        }
        int64_t a = oldest / 1000 - g->tbl->opts.list_margin_s;
        return oldest && a > 0 ? a : 0;
}

/* Another process listed the app recently: use its answer. 1 when this
 * round is settled (hit, or someone else is calling), 0 to call. */
static int ap_shared(app_group_t *g) {
        const watch_seams_t *s = &g->tbl->seams;
        size_t n = 0, i = 0;
        int lease = -1;
        if (!s->list_preflight)
                return 0;
        for (watch_t *w = g->members; w; w = w->gnext)
                n += w->parked;
        const char **slugs   = calloc(n ? n : 1, sizeof(*slugs));
        watch_answer_t *anss = calloc(n ? n : 1, sizeof(*anss));
        if (!slugs || !anss) {
                free(slugs);
                free(anss);
                return 0;
        }
        for (watch_t *w = g->members; w && i < n; w = w->gnext)
                if (w->parked)
                        slugs[i++] = watch_build(w);
        /* Another's answer is as good as ours if it is no older than the
         * interval we would wait between our own calls, and newer than
         * the list we used last (else a jittered turn could take the same
         * answer again). */
        int64_t now = ap_now(g), age = ap_need_ms(g, 0), aged = 0;
        if (age < g->tbl->opts.min_ms)
                age = g->tbl->opts.min_ms;
        if (g->made_at != WATCH_NEVER && now - g->made_at - 1 < age)
                age = now - g->made_at - 1;
        if (age < 0)
                age = 0; /* nothing to share, but the lease still counts */
        /* Our `after` stays known to the others for poll.max_s, and ours
         * may come back lowered to theirs. */
        int hit = s->list_preflight(s->ctx, g->app, &g->after_s, slugs, n,
                                    g->tbl->opts.lease_ms,
                                    age > INT32_MAX ? INT32_MAX : (int)age,
                                    g->tbl->opts.max_ms, anss, &aged, &lease);
        LOG_DEBUG(AP_FAC,
                  "list preflight app=%s max_age_ms=%" PRId64
                  " hit=%d age_ms=%" PRId64 " lease=%d after=%" PRId64,
                  g->app, age, hit, aged, lease, g->after_s);
        if (hit == 1) {
                g->round++;
                for (i = 0; i < n; i++)
                        if (anss[i].payload)
                                ap_feed(g, slugs[i], &anss[i]);
                ap_round_end(g, now - aged);
        } else if (lease == 0) {
                g->next_at = WATCH_NEVER;
                ap_call_at(
                    g, ap_now(g) +
                           watch_jittered(g->tbl, g->tbl->opts.lease_wait_ms));
        }
        g->lease_held = hit != 1 && lease == 1;
        free(slugs);
        free(anss);
        return hit == 1 || lease == 0;
}

/* How much of the budget's reserve a list call leaves to the calls that
 * finish builds: all of it while the group's answers are on time, less as
 * they grow overdue (half at twice the interval, never under a quarter),
 * so a short budget is shared in turn instead of won by whoever retries
 * first. */
static double ap_reserve_share(app_group_t *g) {
        int64_t since = g->made_at != WATCH_NEVER ? g->made_at : g->born_at;
        int64_t need = ap_need_ms(g, 0), late = ap_now(g) - since;
        if (need <= 0 || need == WATCH_NEVER || late <= need)
                return 1;
        double share = (double)need / (double)late;
        return share > 0.25 ? share : 0.25;
}

/* The token and the budget, then the request for one page. 0 when it
 * started; else the round was settled (fallback or a later retry). */
static int ap_start(app_group_t *g, const char *next) {
        const watch_seams_t *s = &g->tbl->seams;
        char tok[WATCH_TOKEN_MAX], err[256] = "";
        int rc = s->token_get(s->ctx, g->workspace, tok, sizeof(tok), g->fp,
                              sizeof(g->fp), err, sizeof(err));
        if (rc != 0) { /* each member reports it (or retries) itself */
                explicit_bzero(tok, sizeof(tok));
                ap_fallback(g);
                return -1;
        }
        watch_validity_t v = WATCH_VALIDITY_UNKNOWN;
        int64_t wait       = 0;
        if (s->budget_take_background)
                wait =
                    s->budget_take_background(s->ctx, g->fp, g->workspace,
                                              g->app, ap_reserve_share(g), &v);
        else if (s->budget_take_checked)
                wait = s->budget_take_checked(s->ctx, g->fp, g->workspace,
                                              g->app, &v);
        g->valid_cached = v == WATCH_VALIDITY_VALID;
        if (v == WATCH_VALIDITY_INVALID ||
            v == WATCH_VALIDITY_INSUFFICIENT_ROLE) {
                explicit_bzero(tok, sizeof(tok));
                ap_fallback(g); /* they end on the cached verdict */
                return -1;
        }
        if (wait > 0) {
                explicit_bzero(tok, sizeof(tok));
                ap_rate_wait(g, 1);
                ap_plan(g, wait);
                return -1;
        }
        g->req =
            (watch_request_t){.kind          = WATCH_REQ_BUILD_LIST,
                              .token         = tok,
                              .fp            = g->fp,
                              .app_slug      = g->app,
                              .after_s       = g->after_s,
                              .running_first = g->tbl->opts.list_running_first,
                              .next          = next,
                              .cb            = ap_on_answer,
                              .cb_arg        = g};
        rc = s->request_start(s->ctx, g->tbl->loop, &g->req, err, sizeof(err));
        g->req.token = NULL;
        explicit_bzero(tok, sizeof(tok));
        if (rc != 0) {
                LOG_WARN(AP_FAC, "cannot list builds app=%s: %s", g->app, err);
                ap_fallback(g);
                return -1;
        }
        g->in_flight = 1;
        g->tbl->in_flight++;
        return 0;
}

static void ap_on_timer(void *arg) {
        app_group_t *g = arg;
        g->next_at     = WATCH_NEVER;
        if (g->in_flight || g->nparked == 0)
                return;
        g->busy      = 1;
        g->after_s   = ap_after_s(g);
        g->called_at = ap_now(g);
        LOG_DEBUG(AP_FAC, "listing builds app=%s parked=%zu of=%zu after=%lld",
                  g->app, g->nparked, g->n, (long long)g->after_s);
        if (!ap_shared(g))
                ap_start(g, NULL);
        g->busy = 0;
        if (g->n == 0)
                ap_free(g);
}

/* A page arrived: share it, hand out its builds, then the next page or
 * the end of the round. */
static void ap_on_page(app_group_t *g, watch_answer_t *ans) {
        const watch_seams_t *s = &g->tbl->seams;
        watch_list_t *page     = ans->payload;
        int ttl_ms             = (int)g->tbl->opts.running_ms;
        if (g->npages++ == 0)
                g->round++;
        if (s->list_store)
                s->list_store(s->ctx, g->app, g->after_s, page, ttl_ms, 0, 0);
        for (size_t i = 0; i < page->n; i++) {
                watch_list_item_t *it = &page->items[i];
                watch_answer_t one    = {.cls            = WATCH_ANS_OK,
                                         .http_status    = 200,
                                         .retry_after_ms = -1,
                                         .payload        = it->payload,
                                         .build_status   = it->build_status,
                                         .build_on_hold  = it->build_on_hold};
                it->payload           = NULL;
                ap_feed(g, it->build_slug, &one);
        }
        if (page->next && g->npages < (size_t)g->tbl->opts.list_max_pages &&
            g->npages < AP_MAX_PAGES && ap_missing(g) &&
            ap_start(g, page->next) == 0)
                return; /* the page (ans->payload) is freed by the caller */
        if (s->list_store)
                s->list_store(s->ctx, g->app, g->after_s, NULL, ttl_ms, 1,
                              g->lease_held);
        g->lease_held = 0;
        g->npages     = 0;
        ap_round_end(g, g->called_at);
}

static void ap_on_failure(app_group_t *g, const watch_answer_t *ans) {
        const watch_seams_t *s = &g->tbl->seams;
        LOG_INFO(AP_FAC,
                 "list call failed, each build looks for itself app=%s: %s",
                 g->app, ans->message ? ans->message : "request failed");
        if (ans->cls == WATCH_ANS_RATE_LIMITED) {
                int64_t block = ans->retry_after_ms;
                if (s->budget_on_429)
                        block = s->budget_on_429(s->ctx, g->fp,
                                                 ans->retry_after_ms);
                if (block <= 0)
                        block = watch_backoff_ms(&g->tbl->opts, ++g->attempts);
                ap_rate_wait(g, 1);
                ap_plan(g, block);
                return;
        }
        if (g->lease_held && s->list_store)
                s->list_store(s->ctx, g->app, 0, NULL, 0, 0, 1);
        g->lease_held = 0;
        g->npages     = 0;
        ap_fallback(g);
}

static void ap_on_answer(void *arg, watch_answer_t *ans) {
        app_group_t *g         = arg;
        const watch_seams_t *s = &g->tbl->seams;
        long hs                = ans->http_status;
        g->in_flight           = 0;
        g->tbl->in_flight--;
        if (ans->cls == WATCH_ANS_CANCELLED)
                return;
        g->busy = 1;
        if (s->validity_record &&
            ((hs >= 200 && hs < 300 && !g->valid_cached) || hs == 401 ||
             hs == 403))
                s->validity_record(s->ctx, g->fp, g->app, hs);
        if (ans->cls == WATCH_ANS_OK && ans->payload) {
                g->attempts = 0;
                ap_on_page(g, ans);
        } else {
                ap_on_failure(g, ans);
        }
        g->busy            = 0;
        watch_table_t *tbl = g->tbl;
        if (g->n == 0)
                ap_free(g);
        else if (g->n == 1 && g->members->parked)
                ap_unpark(g->members, 1);
        watch_line_admit(tbl); /* the call's slot is free */
}
