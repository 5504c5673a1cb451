/* cache/applist.c — app list marker and lease, build duration history,
 * webhook marks (see applist.h). */
#include "cache/applist.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIST_TTL_MS (14LL * 24 * 3600 * 1000)
#define SEEN_TTL_MS (2LL * 24 * 3600 * 1000)

/* KEYS: marker, lease, need, build keys... ARGV: after_s, owner, lease_ms,
 * max_age_ms, need_ttl_ms -> {1, age_ms, json|'' ...} (a list covering
 * after_s made age_ms <= max_age_ms ago is shared) or {0, taken, after}
 * (the `after` to call with: the oldest any caller needed within
 * need_ttl_ms, so that its answer covers theirs too). The marker is
 * "<after_s>:<ms>", the need "<after_s>". */
static const char preflight_src[] =
    "local need = tonumber(redis.call('GET', KEYS[3]) or '')\n"
    "if not need or tonumber(ARGV[1]) <= need then\n"
    "  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[5])\n"
    "  need = tonumber(ARGV[1])\n"
    "end\n"
    "local m = redis.call('GET', KEYS[1])\n"
    "if m then\n"
    "  local a, t = string.match(m, '^(%d+):(%d+)$')\n"
    "  local now = redis.call('TIME')\n"
    "  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / "
    "1000)\n"
    "  if a and tonumber(a) <= tonumber(ARGV[1]) and\n"
    "     ms - tonumber(t) <= tonumber(ARGV[4]) then\n"
    "    local out = {1, ms - tonumber(t)}\n"
    "    for i = 4, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) or '' "
    "end\n"
    "    return out\n"
    "  end\n"
    "end\n"
    "if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then\n"
    "  return {0, 1, need}\n"
    "end\n"
    "return {0, 0, need}\n";
static const cache_script_t preflight_script = {"applist_preflight",
                                                preflight_src};

/* KEYS: marker, lease, need, build keys... ARGV: after_s, ttl_ms, mark,
 * release, owner, jsons... */
static const char store_src[] =
    "for i = 4, #KEYS do\n"
    "  redis.call('SET', KEYS[i], ARGV[i + 2], 'PX', ARGV[2])\n"
    "end\n"
    "if ARGV[3] == '1' then\n"
    "  local now = redis.call('TIME')\n"
    "  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / "
    "1000)\n"
    "  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ms, 'PX', ARGV[2])\n"
    "end\n"
    "if ARGV[4] == '1' and redis.call('GET', KEYS[2]) == ARGV[5] then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "end\n"
    "return 1\n";
static const cache_script_t store_script = {"applist_store", store_src};

/* KEYS: history, seen. ARGV: duration_ms, max, ttl_ms, seen_ttl_ms. */
static const char hist_add_src[] =
    "if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then\n"
    "  redis.call('LPUSH', KEYS[1], ARGV[1])\n"
    "  redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "end\n"
    "return 1\n";
static const cache_script_t hist_add_script = {"history_add", hist_add_src};

/* Slugs and owners: 1..128 visible bytes, no ':' in slugs. */
static int name_ok(const char *s, int allow_colon) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 128)
                return 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c <= ' ' || c == 0x7f || (c == ':' && !allow_colon))
                        return 0;
        }
        return 1;
}

static int bad_arg(char *errstr, size_t errstr_size, const char *what) {
        snprintf(errstr, errstr_size, "%s", what);
        return CACHE_E_ARG;
}

#define LIST_KEYS 3 /* before the builds' keys: marker, lease, need */

/* The n + LIST_KEYS keys of a list script into one block: marker, lease,
 * need, builds. */
static char **list_keys(cache_redis_t *rc, const char *app,
                        const char *const *builds, size_t n, char *errstr,
                        size_t errstr_size, int *err) {
        enum { KEY_MAX = 320 };
        *err = CACHE_E_ARG;
        if (!name_ok(app, 0) || n > CACHE_APPLIST_MAX) {
                bad_arg(errstr, errstr_size,
                        "invalid app slug or too many builds");
                return NULL;
        }
        char **keys = malloc((n + LIST_KEYS) * (sizeof(char *) + KEY_MAX));
        if (!keys) {
                *err = CACHE_E_IO;
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        char *blk = (char *)(keys + n + LIST_KEYS);
        for (size_t i = 0; i < n + LIST_KEYS; i++)
                keys[i] = blk + i * KEY_MAX;
        int bad =
            cache_redis_key(rc, keys[0], KEY_MAX, "applist:%s", app) < 0 ||
            cache_redis_key(rc, keys[1], KEY_MAX, "applist:%s:lease", app) <
                0 ||
            cache_redis_key(rc, keys[2], KEY_MAX, "applist:%s:after", app) < 0;
        for (size_t i = 0; i < n && !bad; i++)
                bad = !name_ok(builds[i], 0) ||
                      cache_redis_key(rc, keys[i + LIST_KEYS], KEY_MAX,
                                      "build:%s:%s", app, builds[i]) < 0;
        if (bad) {
                free(keys);
                bad_arg(errstr, errstr_size,
                        "invalid build slug or key too long");
                return NULL;
        }
        *err = CACHE_OK;
        return keys;
}

int cache_applist_preflight(cache_redis_t *rc, const char *app,
                            int64_t *after_s, const char *const *builds,
                            size_t n, const char *owner, int lease_ms,
                            int max_age_ms, int need_ttl_ms, buf_t *jsons,
                            int64_t *age_ms, int *lease, char *errstr,
                            size_t errstr_size) {
        int err;
        char after[32], lms[16], age[16], nttl[16];
        redisReply *r = NULL;
        if (!name_ok(owner, 1) || lease_ms <= 0)
                return bad_arg(errstr, errstr_size,
                               "invalid lease owner or length");
        char **keys = list_keys(rc, app, builds, n, errstr, errstr_size, &err);
        const char **argv =
            keys ? malloc((n + LIST_KEYS + 5) * sizeof(*argv)) : NULL;
        if (!argv) {
                free(keys);
                return keys ? CACHE_E_IO : err;
        }
        snprintf(after, sizeof(after), "%" PRId64, *after_s > 0 ? *after_s : 0);
        snprintf(lms, sizeof(lms), "%d", lease_ms);
        snprintf(age, sizeof(age), "%d", max_age_ms > 0 ? max_age_ms : 0);
        snprintf(nttl, sizeof(nttl), "%d", need_ttl_ms > 0 ? need_ttl_ms : 1);
        size_t k = 0;
        for (size_t i = 0; i < n + LIST_KEYS; i++)
                argv[k++] = keys[i];
        argv[k++] = after;
        argv[k++] = owner;
        argv[k++] = lms;
        argv[k++] = age;
        argv[k++] = nttl;
        err = cache_redis_eval(rc, &preflight_script, (int)(n + LIST_KEYS),
                               (int)k, argv, NULL, &r, errstr, errstr_size);
        free(argv);
        free(keys);
        if (err)
                return err;
        int rc_ = CACHE_E_REPLY;
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
            r->element[0]->type == REDIS_REPLY_INTEGER) {
                if (r->element[0]->integer == 1 && r->elements == n + 2 &&
                    r->element[1]->type == REDIS_REPLY_INTEGER) {
                        rc_     = 1;
                        *age_ms = r->element[1]->integer > 0
                                      ? r->element[1]->integer
                                      : 0;
                        for (size_t i = 0; i < n; i++) {
                                const redisReply *v = r->element[i + 2];
                                if (v->type == REDIS_REPLY_STRING &&
                                    v->len > 0 &&
                                    buf_append(&jsons[i], v->str, v->len))
                                        buf_reset(&jsons[i]);
                        }
                } else if (r->element[0]->integer == 0 && r->elements == 3 &&
                           r->element[1]->type == REDIS_REPLY_INTEGER &&
                           r->element[2]->type == REDIS_REPLY_INTEGER) {
                        rc_    = 0;
                        *lease = r->element[1]->integer == 1;
                        if (r->element[2]->integer < *after_s)
                                *after_s = r->element[2]->integer;
                }
        }
        if (rc_ == CACHE_E_REPLY)
                snprintf(errstr, errstr_size,
                         "list preflight of app %s: odd reply", app);
        freeReplyObject(r);
        return rc_;
}

int cache_applist_store_send(cache_redis_t *rc, const char *app,
                             int64_t after_s, const char *const *builds,
                             const char *const *jsons, const size_t *lens,
                             size_t n, int ttl_ms, int mark, int release,
                             const char *owner, char *errstr,
                             size_t errstr_size) {
        int err;
        char after[32], ttl[16];
        if (!name_ok(owner, 1) || (ttl_ms <= 0 && (n || mark)))
                return bad_arg(errstr, errstr_size, "invalid owner or ttl");
        char **keys = list_keys(rc, app, builds, n, errstr, errstr_size, &err);
        size_t argc = 2 * n + LIST_KEYS + 5;
        const char **argv = keys ? malloc(argc * sizeof(*argv)) : NULL;
        size_t *argl      = argv ? malloc(argc * sizeof(*argl)) : NULL;
        if (!argl) {
                free(argv);
                free(keys);
                return keys ? CACHE_E_IO : err;
        }
        snprintf(after, sizeof(after), "%" PRId64, after_s > 0 ? after_s : 0);
        snprintf(ttl, sizeof(ttl), "%d", ttl_ms > 0 ? ttl_ms : 1);
        size_t k = 0;
        for (size_t i = 0; i < n + LIST_KEYS; i++)
                argv[k++] = keys[i];
        argv[k++] = after;
        argv[k++] = ttl;
        argv[k++] = mark ? "1" : "0";
        argv[k++] = release ? "1" : "0";
        argv[k++] = owner;
        for (size_t i = 0; i < k; i++)
                argl[i] = strlen(argv[i]);
        for (size_t i = 0; i < n; i++) {
                argv[k]   = jsons[i];
                argl[k++] = lens[i];
        }
        err = cache_redis_eval_send(rc, &store_script, (int)(n + LIST_KEYS),
                                    (int)k, argv, argl, errstr, errstr_size);
        free(argl);
        free(argv);
        free(keys);
        return err;
}

/* 16 hex digits of FNV-1a 64 of the workflow name: any name makes a key. */
static void wf_hash(const char *wf, char out[17]) {
        uint64_t h = 1469598103934665603ULL;
        for (const unsigned char *p = (const unsigned char *)wf; *p; p++)
                h = (h ^ *p) * 1099511628211ULL;
        snprintf(out, 17, "%016" PRIx64, h);
}

int cache_history_get(cache_redis_t *rc, const char *app, const char *workflow,
                      int64_t *out, int max, char *errstr, size_t errstr_size) {
        char key[320], wf[17];
        redisReply *r = NULL;
        if (!name_ok(app, 0) || !workflow || max <= 0)
                return bad_arg(errstr, errstr_size,
                               "invalid app slug or workflow");
        wf_hash(workflow, wf);
        if (cache_redis_key(rc, key, sizeof(key), "hist:%s:%s", app, wf) < 0)
                return bad_arg(errstr, errstr_size, "key too long");
        int err = cache_redis_cmd(rc, &r, errstr, errstr_size, "LRANGE %s 0 %d",
                                  key, max - 1);
        if (err)
                return err;
        int n = 0;
        if (r->type == REDIS_REPLY_ARRAY)
                for (size_t i = 0; i < r->elements && n < max; i++) {
                        const redisReply *e = r->element[i];
                        char *end;
                        long long v = e->type == REDIS_REPLY_STRING
                                          ? strtoll(e->str, &end, 10)
                                          : 0;
                        if (v > 0 && e->type == REDIS_REPLY_STRING &&
                            *end == '\0')
                                out[n++] = v;
                }
        freeReplyObject(r);
        return n;
}

int cache_history_add_send(cache_redis_t *rc, const char *app,
                           const char *workflow, const char *build,
                           int64_t duration_ms, char *errstr,
                           size_t errstr_size) {
        char key[320], seen[320], wf[17], d[32], max[16], ttl[32], sttl[32];
        if (!name_ok(app, 0) || !name_ok(build, 0) || !workflow ||
            duration_ms <= 0)
                return bad_arg(errstr, errstr_size, "invalid history entry");
        wf_hash(workflow, wf);
        if (cache_redis_key(rc, key, sizeof(key), "hist:%s:%s", app, wf) < 0 ||
            cache_redis_key(rc, seen, sizeof(seen), "hist:%s:seen:%s", app,
                            build) < 0)
                return bad_arg(errstr, errstr_size, "key too long");
        snprintf(d, sizeof(d), "%" PRId64, duration_ms);
        snprintf(max, sizeof(max), "%d", CACHE_HIST_MAX);
        snprintf(ttl, sizeof(ttl), "%lld", HIST_TTL_MS);
        snprintf(sttl, sizeof(sttl), "%lld", SEEN_TTL_MS);
        const char *argv[] = {key, seen, d, max, ttl, sttl};
        return cache_redis_eval_send(rc, &hist_add_script, 2, 6, argv, NULL,
                                     errstr, errstr_size);
}

int cache_webhook_mark_send(cache_redis_t *rc, const char *app, int ttl_s,
                            char *errstr, size_t errstr_size) {
        char key[320], ttl[16];
        if (!name_ok(app, 0) || ttl_s <= 0)
                return bad_arg(errstr, errstr_size, "invalid app slug or ttl");
        if (cache_redis_key(rc, key, sizeof(key), "webhook:%s", app) < 0)
                return bad_arg(errstr, errstr_size, "key too long");
        snprintf(ttl, sizeof(ttl), "%d", ttl_s);
        const char *argv[] = {"SET", key, "1", "EX", ttl};
        return cache_redis_send_argv(rc, "webhook mark", 5, argv, NULL, errstr,
                                     errstr_size);
}

int cache_webhook_check(cache_redis_t *rc, const char *app, char *errstr,
                        size_t errstr_size) {
        char key[320];
        redisReply *r = NULL;
        if (!name_ok(app, 0))
                return bad_arg(errstr, errstr_size, "invalid app slug");
        if (cache_redis_key(rc, key, sizeof(key), "webhook:%s", app) < 0)
                return bad_arg(errstr, errstr_size, "key too long");
        int err =
            cache_redis_cmd(rc, &r, errstr, errstr_size, "EXISTS %s", key);
        if (err)
                return err;
        int yes = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
        return yes;
}
