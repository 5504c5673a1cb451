/* cache/budget.c — request budget: Redis scripts first, a local token bucket
 * per token when Redis cannot answer (see budget.h for the rules).
 */
#include "cache/budget.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

#define LOCAL_BUCKETS   256
#define LOCAL_IDLE_MS   (10 * 60 * 1000)
#define RESET_EPOCH_MIN 1000000000LL /* Reset above this is epoch seconds */

/* One token's local state; times on the monotonic clock. */
typedef struct local_entry {
        char id[CACHE_FP_ID_LEN + 1];
        double tokens;
        int64_t ts, blocked_until, backoff_ms, rl_reset, last_used;
        int64_t rl_remaining; /* -1 = none */
        struct local_entry *next;
} local_entry_t;

typedef struct override {
        char *workspace;
        double rate, burst;
} override_t;

struct cache_budget {
        double rate, burst;
        int replicas;
        int backoff_min_ms, backoff_max_ms, max_wait_ms;
        override_t *overrides; /* sorted by workspace */
        size_t n_overrides;
        atomic_bool degraded;
        atomic_bool met;           /* budget:epoch marked (cache_budget_meet) */
        _Atomic int64_t shared_ok; /* last shared answer, mono ms */
        _Atomic int64_t local_at;  /* last local answer, mono ms */
        pthread_mutex_t lock;      /* guards table */
        local_entry_t *table[LOCAL_BUCKETS];
};

static int override_cmp(const void *a, const void *b) {
        return strcmp(((const override_t *)a)->workspace,
                      ((const override_t *)b)->workspace);
}

static int limits_ok(double rate, double burst) {
        return isfinite(rate) && isfinite(burst) && rate > 0 && rate <= 1e6 &&
               burst >= 1 && burst <= 1e6;
}

static int copy_overrides(cache_budget_t *b, const cache_budget_opts_t *opts,
                          char *errstr, size_t errstr_size) {
        if (opts->n_overrides == 0)
                return 0;
        b->overrides = calloc(opts->n_overrides, sizeof(*b->overrides));
        if (!b->overrides) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        for (size_t i = 0; i < opts->n_overrides; i++) {
                const cache_budget_override_t *o = &opts->overrides[i];
                if (!o->workspace || !o->workspace[0] ||
                    !limits_ok(o->rate, o->burst)) {
                        snprintf(errstr, errstr_size,
                                 "invalid budget override %zu: need a "
                                 "workspace, rate > 0 and burst >= 1",
                                 i);
                        return -1;
                }
                b->overrides[i].workspace = strdup(o->workspace);
                b->overrides[i].rate      = o->rate;
                b->overrides[i].burst     = o->burst;
                b->n_overrides++;
                if (!b->overrides[i].workspace) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
        }
        qsort(b->overrides, b->n_overrides, sizeof(*b->overrides),
              override_cmp);
        for (size_t i = 1; i < b->n_overrides; i++) {
                if (strcmp(b->overrides[i - 1].workspace,
                           b->overrides[i].workspace) == 0) {
                        snprintf(errstr, errstr_size,
                                 "duplicate budget override for workspace %s",
                                 b->overrides[i].workspace);
                        return -1;
                }
        }
        return 0;
}

cache_budget_t *cache_budget_new(const cache_budget_opts_t *opts, char *errstr,
                                 size_t errstr_size) {
        cache_budget_t *b = calloc(1, sizeof(*b));
        if (!b) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&b->lock, NULL);
        b->rate     = opts->rate > 0 ? opts->rate : 1.0;
        b->burst    = opts->burst > 0 ? opts->burst : 20.0;
        b->replicas = opts->expected_replicas > 0 ? opts->expected_replicas : 1;
        b->backoff_min_ms =
            opts->backoff_min_ms > 0 ? opts->backoff_min_ms : 1000;
        b->backoff_max_ms =
            opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 60000;
        b->max_wait_ms = opts->max_wait_ms > 0 ? opts->max_wait_ms : 600000;
        if (b->backoff_max_ms < b->backoff_min_ms)
                b->backoff_max_ms = b->backoff_min_ms;
        if (!limits_ok(b->rate, b->burst)) {
                snprintf(errstr, errstr_size,
                         "invalid request budget: rate %g/s burst %g (need "
                         "rate > 0, burst >= 1)",
                         opts->rate, opts->burst);
                cache_budget_destroy(b);
                return NULL;
        }
        if (copy_overrides(b, opts, errstr, errstr_size) != 0) {
                cache_budget_destroy(b);
                return NULL;
        }
        return b;
}

void cache_budget_destroy(cache_budget_t *b) {
        if (!b)
                return;
        for (size_t i = 0; i < b->n_overrides; i++)
                free(b->overrides[i].workspace);
        free(b->overrides);
        for (int i = 0; i < LOCAL_BUCKETS; i++) {
                local_entry_t *e = b->table[i];
                while (e) {
                        local_entry_t *next = e->next;
                        free(e);
                        e = next;
                }
        }
        pthread_mutex_destroy(&b->lock);
        free(b);
}

void cache_budget_limits(const cache_budget_t *b, const char *workspace,
                         double *rate, double *burst) {
        *rate  = b->rate;
        *burst = b->burst;
        if (!workspace || b->n_overrides == 0)
                return;
        override_t key      = {.workspace = (char *)(uintptr_t)workspace};
        const override_t *o = bsearch(&key, b->overrides, b->n_overrides,
                                      sizeof(*b->overrides), override_cmp);
        if (o) {
                *rate  = o->rate;
                *burst = o->burst;
        }
}

bool cache_budget_degraded(const cache_budget_t *b) {
        return atomic_load(&b->degraded) &&
               time_mono_ms() - atomic_load(&b->local_at) <
                   BUDGET_LOCAL_IDLE_MS;
}

static void local_empty(cache_budget_t *b);

static void set_degraded(cache_budget_t *b, bool on, const cache_fp_t *fp,
                         const char *why) {
        atomic_store(on ? &b->local_at : &b->shared_ok, time_mono_ms());
        bool was = atomic_exchange(&b->degraded, on);
        if (was == on)
                return;
        if (on) {
                local_empty(b);
                LOG_WARN("cache",
                         "request budget degraded to a local limiter at "
                         "rate/%d (%s) fp=%s",
                         b->replicas, why, fp->log);
        } else {
                LOG_INFO("cache", "request budget shared again fp=%s", fp->log);
        }
}

/* ---- local fallback ---------------------------------------------------- */

static unsigned bucket_of(const char *id) {
        unsigned h = 2166136261u;
        for (; *id; id++)
                h = (h ^ (unsigned char)*id) * 16777619u;
        return h % LOCAL_BUCKETS;
}

/* Every local bucket empty, as a new one starts: on becoming degraded,
 * what the shared bucket had left is unknown (others may have spent it),
 * and a bucket left from an earlier outage has refilled meanwhile. */
static void local_empty(cache_budget_t *b) {
        int64_t now = time_mono_ms();
        pthread_mutex_lock(&b->lock);
        for (int i = 0; i < LOCAL_BUCKETS; i++)
                for (local_entry_t *e = b->table[i]; e; e = e->next) {
                        e->tokens = 0;
                        e->ts     = now;
                }
        pthread_mutex_unlock(&b->lock);
}

/* Finds or creates the entry (lock held); drops idle ones on the way. */
static local_entry_t *local_get(cache_budget_t *b, const cache_fp_t *fp,
                                int64_t now) {
        local_entry_t **pp = &b->table[bucket_of(fp->id)], *found = NULL;
        while (*pp) {
                local_entry_t *e = *pp;
                if (strcmp(e->id, fp->id) == 0) {
                        found = e;
                } else if (now - e->last_used > LOCAL_IDLE_MS &&
                           e->blocked_until < now && e->rl_reset < now) {
                        *pp = e->next;
                        free(e);
                        continue;
                }
                pp = &e->next;
        }
        if (!found) {
                found = calloc(1, sizeof(*found));
                if (!found)
                        return NULL;
                memcpy(found->id, fp->id, sizeof(found->id));
                found->tokens               = 0; /* see local_empty */
                found->ts                   = now;
                found->rl_remaining         = -1;
                found->next                 = b->table[bucket_of(fp->id)];
                b->table[bucket_of(fp->id)] = found;
        }
        found->last_used = now;
        return found;
}

/* The take script's algorithm on local state with the replica share. */
static int64_t local_take(cache_budget_t *b, const cache_fp_t *fp, double rate,
                          double burst) {
        int64_t now = time_mono_ms(), wait = 0;
        rate /= b->replicas;
        burst = fmax(1.0, floor(burst / b->replicas));
        pthread_mutex_lock(&b->lock);
        local_entry_t *e = local_get(b, fp, now);
        if (!e) {
                wait = 1000; /* out of memory: be conservative */
        } else if (e->blocked_until > now) {
                wait = e->blocked_until - now;
        } else {
                if (now > e->ts) {
                        e->tokens += (double)(now - e->ts) * rate / 1000.0;
                        e->ts = now;
                }
                if (e->tokens > burst)
                        e->tokens = burst;
                bool rl = e->rl_remaining >= 0 && e->rl_reset > now;
                if (rl && e->rl_remaining < 1) {
                        wait = e->rl_reset - now;
                } else if (e->tokens >= 1) {
                        e->tokens -= 1;
                        if (rl)
                                e->rl_remaining--;
                } else {
                        wait = (int64_t)ceil((1 - e->tokens) * 1000.0 / rate);
                        if (wait < 1)
                                wait = 1;
                }
        }
        pthread_mutex_unlock(&b->lock);
        return wait;
}

static void local_block(cache_budget_t *b, const cache_fp_t *fp,
                        int64_t block_ms) {
        int64_t now = time_mono_ms();
        pthread_mutex_lock(&b->lock);
        local_entry_t *e = local_get(b, fp, now);
        if (e && now + block_ms > e->blocked_until) {
                e->blocked_until = now + block_ms;
                e->tokens        = 0;
                e->ts            = e->blocked_until;
        }
        pthread_mutex_unlock(&b->lock);
}

/* Local 429 backoff when Redis cannot keep it: same rules as the script. */
static int64_t local_backoff(cache_budget_t *b, const cache_fp_t *fp) {
        int64_t now = time_mono_ms(), ms = b->backoff_min_ms;
        pthread_mutex_lock(&b->lock);
        local_entry_t *e = local_get(b, fp, now);
        if (e) {
                if (e->blocked_until > now)
                        ms = e->blocked_until - now;
                else if (e->backoff_ms > 0 &&
                         now <= e->blocked_until + e->backoff_ms)
                        ms = e->backoff_ms * 2 < b->backoff_max_ms
                                 ? e->backoff_ms * 2
                                 : b->backoff_max_ms;
                if (e->blocked_until <= now)
                        e->backoff_ms = ms;
        }
        pthread_mutex_unlock(&b->lock);
        return ms;
}

static void local_observe(cache_budget_t *b, const cache_fp_t *fp,
                          int64_t remaining, int64_t reset_in_ms) {
        int64_t now = time_mono_ms();
        pthread_mutex_lock(&b->lock);
        local_entry_t *e = local_get(b, fp, now);
        if (e) { /* the latest answer wins, as in the script */
                e->rl_remaining = remaining;
                e->rl_reset     = now + reset_in_ms;
        }
        pthread_mutex_unlock(&b->lock);
}

/* ---- shared state ------------------------------------------------------- */

void cache_budget_meet(cache_budget_t *b, cache_redis_t *rc) {
        char key[128], err[160];
        redisReply *r = NULL;
        if (atomic_load(&b->met) || !rc ||
            cache_redis_key(rc, key, sizeof(key), "budget:epoch") < 0)
                return;
        if (cache_redis_cmd(rc, &r, err, sizeof(err), "SET %s 0 NX", key) ==
            CACHE_OK) {
                atomic_store(&b->met, true);
                freeReplyObject(r);
        }
}

int cache_budget_key(cache_redis_t *rc, const cache_fp_t *fp, char *key,
                     size_t size) {
        return cache_redis_key(rc, key, size, "budget:%s", fp->id) < 0 ? -1 : 0;
}

/* Runs a budget script; 0 and the integer answer, or -1 (errstr set). */
static int run_script(cache_redis_t *rc, const cache_script_t *s,
                      const cache_fp_t *fp, int nargs, const char **args,
                      long long *val, char *errstr, size_t errstr_size) {
        char key[128];
        const char *argv[8];
        redisReply *r = NULL;
        if (!rc || cache_budget_key(rc, fp, key, sizeof(key)) != 0) {
                snprintf(errstr, errstr_size, "no redis connection");
                return -1;
        }
        argv[0] = key;
        for (int i = 0; i < nargs; i++)
                argv[1 + i] = args[i];
        if (cache_redis_eval(rc, s, 1, 1 + nargs, argv, NULL, &r, errstr,
                             errstr_size) != 0)
                return -1;
        int err = 0;
        if (r->type == REDIS_REPLY_INTEGER) {
                *val = r->integer;
        } else {
                snprintf(errstr, errstr_size, "%s: unexpected reply type %d",
                         s->name, r->type);
                err = -1;
        }
        freeReplyObject(r);
        return err;
}

static int64_t cap_wait(const cache_budget_t *b, int64_t w) {
        if (w < 0)
                return 0;
        return w > b->max_wait_ms ? b->max_wait_ms : w;
}

/* The shared state did not answer the calling thread: the local bucket,
 * unless another thread's connection answered a moment ago (then this one
 * waits for its own to come back: one process, one bucket at a time). */
static int64_t fallback(cache_budget_t *b, cache_redis_t *rc,
                        const cache_fp_t *fp, double rate, double burst,
                        const char *why) {
        if (rc && !cache_redis_is_up(rc) && !atomic_load(&b->degraded) &&
            time_mono_ms() - atomic_load(&b->shared_ok) <
                BUDGET_SHARED_GRACE_MS)
                return BUDGET_SHARED_RETRY_MS;
        set_degraded(b, true, fp, why);
        return cap_wait(b, local_take(b, fp, rate, burst));
}

int64_t cache_budget_shared_wait(cache_budget_t *b, const cache_fp_t *fp,
                                 int64_t wait) {
        set_degraded(b, false, fp, NULL);
        return cap_wait(b, wait);
}

int64_t cache_budget_take(cache_budget_t *b, cache_redis_t *rc,
                          const cache_fp_t *fp, const char *workspace) {
        double rate, burst;
        char r_s[32], b_s[32], errstr[256];
        long long wait = 0;

        cache_budget_limits(b, workspace, &rate, &burst);
        snprintf(r_s, sizeof(r_s), "%.6f", rate);
        snprintf(b_s, sizeof(b_s), "%.6f", burst);
        const char *args[] = {r_s, b_s};
        cache_budget_meet(b, rc);
        if (run_script(rc, &cache_budget_script_take, fp, 2, args, &wait,
                       errstr, sizeof(errstr)) == 0)
                return cache_budget_shared_wait(b, fp, wait);
        return fallback(b, rc, fp, rate, burst, errstr);
}

/* The take_checked script's reply {wait, state, role} → *wait, *verdict.
 * 0, or -1 (errstr set). */
static int checked_reply(const redisReply *r, long long *wait,
                         cache_validity_t *verdict, char *errstr,
                         size_t errstr_size) {
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
            r->element[0]->type != REDIS_REPLY_INTEGER) {
                snprintf(errstr, errstr_size,
                         "budget_take_checked: unexpected reply type %d",
                         r->type);
                return -1;
        }
        *wait    = r->element[0]->integer;
        *verdict = cache_validity_verdict(r->element[1], r->element[2]);
        return 0;
}

/* take_checked with a reserve: background requests leave up to half the
 * burst (times share, 0..1) to the others. */
static int64_t take_checked(cache_budget_t *b, cache_redis_t *rc,
                            const cache_fp_t *fp, const char *workspace,
                            const char *app_slug, double share,
                            cache_validity_t *verdict) {
        double rate, burst;
        char r_s[32], b_s[32], res_s[32], key[128], k_tok[256], k_role[256],
            errstr[256] = "no redis connection";
        const char *argv[7];
        long long wait = 0;
        redisReply *r  = NULL;
        int nk;

        *verdict = CACHE_VALIDITY_UNKNOWN;
        if (!rc || (nk = cache_validity_keys(rc, fp, app_slug, k_tok, k_role,
                                             sizeof(k_tok))) < 0)
                return cache_budget_take(b, rc, fp, workspace); /* unknown */
        cache_budget_limits(b, workspace, &rate, &burst);
        cache_budget_meet(b, rc);
        if (cache_budget_key(rc, fp, key, sizeof(key)) == 0) {
                snprintf(r_s, sizeof(r_s), "%.6f", rate);
                snprintf(b_s, sizeof(b_s), "%.6f", burst);
                snprintf(res_s, sizeof(res_s), "%.0f",
                         floor(burst / 2 *
                               (share < 0   ? 0
                                : share > 1 ? 1
                                            : share)));
                argv[0]      = key;
                argv[1]      = k_tok;
                argv[2]      = k_role;
                argv[1 + nk] = r_s;
                argv[2 + nk] = b_s;
                argv[3 + nk] = res_s;
                if (cache_redis_eval(rc, &cache_budget_script_take_checked,
                                     1 + nk, 4 + nk, argv, NULL, &r, errstr,
                                     sizeof(errstr)) == 0) {
                        int err = checked_reply(r, &wait, verdict, errstr,
                                                sizeof(errstr));
                        freeReplyObject(r);
                        if (err == 0)
                                return cache_budget_shared_wait(b, fp, wait);
                        *verdict = CACHE_VALIDITY_UNKNOWN;
                }
        }
        return fallback(b, rc, fp, rate, burst, errstr);
}

int64_t cache_budget_take_checked(cache_budget_t *b, cache_redis_t *rc,
                                  const cache_fp_t *fp, const char *workspace,
                                  const char *app_slug,
                                  cache_validity_t *verdict) {
        return take_checked(b, rc, fp, workspace, app_slug, 0.0, verdict);
}

int64_t cache_budget_take_background(cache_budget_t *b, cache_redis_t *rc,
                                     const cache_fp_t *fp,
                                     const char *workspace,
                                     const char *app_slug, double share,
                                     cache_validity_t *verdict) {
        return take_checked(b, rc, fp, workspace, app_slug, share, verdict);
}

/* Parses Retry-After: delta seconds or an HTTP date. 0 and the wait in ms
 * from now, or -1. */
static int parse_retry_after(const char *v, int64_t *ms) {
        char *end;
        while (*v == ' ' || *v == '\t')
                v++;
        errno       = 0;
        long long s = strtoll(v, &end, 10);
        if (end != v && errno == 0) {
                while (*end == ' ' || *end == '\t')
                        end++;
                if (*end == '\0' && s >= 0 && s <= 86400LL * 7) {
                        *ms = s * 1000;
                        return 0;
                }
                return -1;
        }
        int64_t at;
        if (time_http_date_parse(v, &at) != 0)
                return -1;
        *ms = at > time_wall_ms() ? at - time_wall_ms() : 0;
        return 0;
}

int64_t cache_budget_on_429(cache_budget_t *b, cache_redis_t *rc,
                            const cache_fp_t *fp, const char *retry_after) {
        int64_t ra = -1;
        char ra_s[32], min_s[32], max_s[32], errstr[256];
        long long block = 0;

        if (retry_after && parse_retry_after(retry_after, &ra) != 0) {
                LOG_WARN("cache", "ignoring unparsable Retry-After fp=%s",
                         fp->log);
                ra = -1;
        }
        /* Relative to the Redis clock: an HTTP date was converted above with
         * our wall clock, which only matters by the clock skew. */
        snprintf(ra_s, sizeof(ra_s), "%lld", (long long)ra);
        snprintf(min_s, sizeof(min_s), "%d", b->backoff_min_ms);
        snprintf(max_s, sizeof(max_s), "%d", b->backoff_max_ms);
        const char *args[] = {ra_s, "0", min_s, max_s};
        if (run_script(rc, &cache_budget_script_block, fp, 4, args, &block,
                       errstr, sizeof(errstr)) == 0) {
                set_degraded(b, false, fp, NULL);
                LOG_INFO("cache",
                         "token rate limited by bitrise block_ms=%lld fp=%s",
                         block, fp->log);
                return cap_wait(b, block);
        }
        set_degraded(b, true, fp, errstr);
        block = ra >= 0 ? ra : local_backoff(b, fp);
        if (block <= 0)
                block = 1000;
        local_block(b, fp, block);
        return cap_wait(b, block);
}

static int parse_count(const char *v, long long max, long long *out) {
        char *end;
        if (!v)
                return -1;
        errno       = 0;
        long long n = strtoll(v, &end, 10);
        while (*end == ' ' || *end == '\t')
                end++;
        if (end == v || *end != '\0' || errno != 0 || n < 0 || n > max)
                return -1;
        *out = n;
        return 0;
}

int cache_budget_on_headers(cache_budget_t *b, cache_redis_t *rc,
                            const cache_fp_t *fp, const char *remaining,
                            const char *reset) {
        long long rem, rst;
        char rem_s[32], rst_s[32], key[128],
            errstr[256] = "no redis connection";

        if (!remaining || !reset)
                return 0; /* nothing to adopt */
        if (parse_count(remaining, 1LL << 40, &rem) != 0 ||
            parse_count(reset, 1LL << 40, &rst) != 0)
                return CACHE_E_ARG;
        bool abs = rst > RESET_EPOCH_MIN;
        snprintf(rem_s, sizeof(rem_s), "%lld", rem);
        snprintf(rst_s, sizeof(rst_s), "%lld", rst * 1000);
        /* Nobody waits for the answer: no round trip of its own. */
        const char *argv[] = {key, rem_s, rst_s, abs ? "1" : "0"};
        if (rc && cache_budget_key(rc, fp, key, sizeof(key)) == 0 &&
            cache_redis_eval_send(rc, &cache_budget_script_observe, 1, 4, argv,
                                  NULL, errstr, sizeof(errstr)) == 0) {
                set_degraded(b, false, fp, NULL);
                return 0;
        }
        set_degraded(b, true, fp, errstr);
        int64_t in_ms = abs ? rst * 1000 - time_wall_ms() : rst * 1000;
        if (in_ms > 0)
                local_observe(b, fp, rem, in_ms);
        return 0;
}

void cache_budget_overrides_free(cache_budget_override_t *ov, size_t n) {
        for (size_t i = 0; ov && i < n; i++)
                free((char *)(uintptr_t)ov[i].workspace);
        free(ov);
}

/* One "WS=RATE:BURST" entry of [p, end). */
static int override_parse_one(const char *p, const char *end,
                              cache_budget_override_t *o) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        char *e        = NULL;
        if (!eq || eq == p)
                return -1;
        errno    = 0;
        double r = strtod(eq + 1, &e);
        if (e == eq + 1 || *e != ':' || !isfinite(r) || r <= 0 || errno)
                return -1;
        const char *bs = e + 1;
        double bu      = strtod(bs, &e);
        if (e == bs || e != end || !limits_ok(r, bu) || bu != floor(bu))
                return -1;
        o->workspace = strndup(p, (size_t)(eq - p));
        o->rate      = r;
        o->burst     = bu;
        return o->workspace ? 0 : -1;
}

int cache_budget_overrides_parse(const char *spec,
                                 cache_budget_override_t **out, size_t *n,
                                 char *errstr, size_t errstr_size) {
        size_t cap = 1;
        *out       = NULL;
        *n         = 0;
        if (!spec || !*spec)
                return 0;
        for (const char *c = spec; *c; c++)
                cap += *c == ',';
        cache_budget_override_t *ov = calloc(cap, sizeof(*ov));
        if (!ov) {
                snprintf(errstr, errstr_size, "out of memory");
                return CACHE_E_ARG;
        }
        size_t i = 0;
        for (const char *p = spec;; i++) {
                const char *end = strchr(p, ',');
                if (!end)
                        end = p + strlen(p);
                if (override_parse_one(p, end, &ov[i]) != 0) {
                        snprintf(errstr, errstr_size,
                                 "budget override %zu \"%.*s\": expected "
                                 "WORKSPACE=RATE:BURST with RATE > 0 and "
                                 "BURST >= 1",
                                 i + 1, (int)(end - p), p);
                        cache_budget_overrides_free(ov, i);
                        return CACHE_E_ARG;
                }
                if (!*end)
                        break;
                p = end + 1;
        }
        *out = ov;
        *n   = i + 1;
        return 0;
}
