/* cache/buildcache.c — build status cache, refresh lease, done markers. */
#include "cache/buildcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

#define NAME_MAX_LEN 128

static const char release_src[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";
static const cache_script_t release_script = {"lease_release", release_src};

/* KEYS: build, lease; ARGV: owner, lease ms. {1, json} | {2} taken | {3}. */
static const char get_lease_src[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then return {1, v} end\n"
    "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {2}\n"
    "end\n"
    "return {3}\n";
static const cache_script_t get_lease_script = {"build_get_lease",
                                                get_lease_src};

/* KEYS: build, lease; ARGV: json, ttl ms, owner. 1 released, 0 not ours. */
static const char store_release_src[] =
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "if redis.call('GET', KEYS[2]) == ARGV[3] then\n"
    "  return redis.call('DEL', KEYS[2])\n"
    "end\n"
    "return 0\n";
static const cache_script_t store_release_script = {"build_store_release",
                                                    store_release_src};

/* Slugs, job ids and owners: 1..128 visible bytes, no ':' in slugs. */
static int name_ok(const char *s, int allow_colon) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > NAME_MAX_LEN)
                return 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c <= ' ' || c == 0x7f || (c == ':' && !allow_colon))
                        return 0;
        }
        return 1;
}

static int build_key(cache_redis_t *rc, char *key, size_t size, const char *app,
                     const char *build, const char *suffix, char *errstr,
                     size_t errstr_size) {
        if (!name_ok(app, 0) || !name_ok(build, 0)) {
                snprintf(errstr, errstr_size, "invalid app or build slug");
                return CACHE_E_ARG;
        }
        if (cache_redis_key(rc, key, size, "build:%s:%s%s", app, build,
                            suffix) < 0) {
                snprintf(errstr, errstr_size, "key too long");
                return CACHE_E_ARG;
        }
        return CACHE_OK;
}

int cache_build_get(cache_redis_t *rc, const char *app, const char *build,
                    buf_t *out, char *errstr, size_t errstr_size) {
        char key[512];
        redisReply *r = NULL;
        int err       = build_key(rc, key, sizeof(key), app, build, "", errstr,
                                  errstr_size);
        if (err)
                return err;
        err = cache_redis_cmd(rc, &r, errstr, errstr_size, "GET %s", key);
        if (err)
                return err;
        int rv = 0;
        if (r->type == REDIS_REPLY_STRING) {
                if (buf_append(out, r->str, r->len) != 0) {
                        snprintf(errstr, errstr_size,
                                 "cached build %s is larger than the buffer",
                                 build);
                        rv = CACHE_E_ARG;
                } else {
                        rv = 1;
                }
        } else if (r->type != REDIS_REPLY_NIL) {
                snprintf(errstr, errstr_size, "cached build %s: odd reply",
                         build);
                rv = CACHE_E_REPLY;
        }
        freeReplyObject(r);
        return rv;
}

/* A value worth caching: not empty, not over the cap, with a TTL. */
static int check_value(const char *build, const char *json, size_t len,
                       int ttl_ms, char *errstr, size_t errstr_size) {
        if (json && len > 0 && len <= CACHE_BUILD_MAX_JSON && ttl_ms > 0)
                return 0;
        snprintf(errstr, errstr_size,
                 "cannot cache build %s: empty or oversized value or no ttl",
                 build);
        return CACHE_E_ARG;
}

int cache_build_store(cache_redis_t *rc, const char *app, const char *build,
                      const char *json, size_t len, int ttl_ms, char *errstr,
                      size_t errstr_size) {
        char key[512];
        redisReply *r = NULL;
        int err       = build_key(rc, key, sizeof(key), app, build, "", errstr,
                                  errstr_size);
        if (err)
                return err;
        if ((err = check_value(build, json, len, ttl_ms, errstr, errstr_size)))
                return err;
        err = cache_redis_cmd(rc, &r, errstr, errstr_size, "SET %s %b PX %d",
                              key, json, len, ttl_ms);
        if (r)
                freeReplyObject(r);
        return err;
}

int cache_build_lease_try(cache_redis_t *rc, const char *app, const char *build,
                          const char *owner, int lease_ms, char *errstr,
                          size_t errstr_size) {
        char key[512];
        redisReply *r = NULL;
        int err = build_key(rc, key, sizeof(key), app, build, ":lease", errstr,
                            errstr_size);
        if (err)
                return err;
        if (!name_ok(owner, 1) || lease_ms <= 0) {
                snprintf(errstr, errstr_size, "invalid lease owner or length");
                return CACHE_E_ARG;
        }
        err = cache_redis_cmd(rc, &r, errstr, errstr_size, "SET %s %s NX PX %d",
                              key, owner, lease_ms);
        if (err)
                return err;
        int taken = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        return taken;
}

/* The lease key of a build into key, after checking owner. */
static int lease_release_key(cache_redis_t *rc, char *key, size_t size,
                             const char *app, const char *build,
                             const char *owner, char *errstr,
                             size_t errstr_size) {
        int err =
            build_key(rc, key, size, app, build, ":lease", errstr, errstr_size);
        if (!err && !name_ok(owner, 1)) {
                snprintf(errstr, errstr_size, "invalid lease owner");
                err = CACHE_E_ARG;
        }
        return err;
}

/* 1 when a release script answered that it deleted our lease. Frees r. */
static int released(redisReply *r) {
        int yes = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
        return yes;
}

/* Runs the release script, waiting for its reply (out) or not. */
static int lease_release(cache_redis_t *rc, const char *app, const char *build,
                         const char *owner, redisReply **out, char *errstr,
                         size_t errstr_size) {
        char key[512];
        int err = lease_release_key(rc, key, sizeof(key), app, build, owner,
                                    errstr, errstr_size);
        const char *argv[] = {key, owner};
        if (err)
                return err;
        if (!out)
                return cache_redis_eval_send(rc, &release_script, 1, 2, argv,
                                             NULL, errstr, errstr_size);
        return cache_redis_eval(rc, &release_script, 1, 2, argv, NULL, out,
                                errstr, errstr_size);
}

int cache_build_lease_release(cache_redis_t *rc, const char *app,
                              const char *build, const char *owner,
                              char *errstr, size_t errstr_size) {
        redisReply *r = NULL;
        int err = lease_release(rc, app, build, owner, &r, errstr, errstr_size);
        return err ? err : released(r);
}

int cache_build_lease_release_send(cache_redis_t *rc, const char *app,
                                   const char *build, const char *owner,
                                   char *errstr, size_t errstr_size) {
        return lease_release(rc, app, build, owner, NULL, errstr, errstr_size);
}

int cache_build_keys(cache_redis_t *rc, char *key, char *lkey, size_t size,
                     const char *app, const char *build, const char *owner,
                     char *errstr, size_t errstr_size) {
        int err = build_key(rc, key, size, app, build, "", errstr, errstr_size);
        if (!err)
                err = build_key(rc, lkey, size, app, build, ":lease", errstr,
                                errstr_size);
        if (!err && !name_ok(owner, 1)) {
                snprintf(errstr, errstr_size, "invalid lease owner");
                err = CACHE_E_ARG;
        }
        return err;
}

static int get_lease_reply(const redisReply *r, const char *build, buf_t *out,
                           int *lease, char *errstr, size_t errstr_size) {
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
            r->element[0]->type != REDIS_REPLY_INTEGER)
                goto odd;
        long long kind = r->element[0]->integer;
        if (kind == 1 && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_STRING) {
                if (buf_append(out, r->element[1]->str, r->element[1]->len)) {
                        snprintf(errstr, errstr_size,
                                 "cached build %s is larger than the buffer",
                                 build);
                        return CACHE_E_ARG;
                }
                return 1;
        }
        if ((kind == 2 || kind == 3) && r->elements == 1) {
                *lease = kind == 2;
                return 0;
        }
odd:
        snprintf(errstr, errstr_size, "cached build %s: odd reply", build);
        return CACHE_E_REPLY;
}

int cache_build_get_lease(cache_redis_t *rc, const char *app, const char *build,
                          const char *owner, int lease_ms, buf_t *out,
                          int *lease, char *errstr, size_t errstr_size) {
        char key[512], lkey[512], ms[24];
        redisReply *r = NULL;
        int err       = cache_build_keys(rc, key, lkey, sizeof(key), app, build,
                                         owner, errstr, errstr_size);
        if (err)
                return err;
        if (lease_ms <= 0) {
                snprintf(errstr, errstr_size, "invalid lease length");
                return CACHE_E_ARG;
        }
        snprintf(ms, sizeof(ms), "%d", lease_ms);
        const char *argv[] = {key, lkey, owner, ms};
        err = cache_redis_eval(rc, &get_lease_script, 2, 4, argv, NULL, &r,
                               errstr, errstr_size);
        if (err)
                return err;
        int rv = get_lease_reply(r, build, out, lease, errstr, errstr_size);
        freeReplyObject(r);
        return rv;
}

/* Runs the store+release script, waiting for its reply (out) or not. */
static int store_release(cache_redis_t *rc, const char *app, const char *build,
                         const char *json, size_t len, int ttl_ms,
                         const char *owner, redisReply **out, char *errstr,
                         size_t errstr_size) {
        char key[512], lkey[512], ms[24];
        int err = cache_build_keys(rc, key, lkey, sizeof(key), app, build,
                                   owner, errstr, errstr_size);
        if (err)
                return err;
        if ((err = check_value(build, json, len, ttl_ms, errstr, errstr_size)))
                return err;
        snprintf(ms, sizeof(ms), "%d", ttl_ms);
        const char *argv[]   = {key, lkey, json, ms, owner};
        const size_t lens[5] = {strlen(key), strlen(lkey), len, strlen(ms),
                                strlen(owner)};
        if (!out)
                return cache_redis_eval_send(rc, &store_release_script, 2, 5,
                                             argv, lens, errstr, errstr_size);
        return cache_redis_eval(rc, &store_release_script, 2, 5, argv, lens,
                                out, errstr, errstr_size);
}

int cache_build_store_release(cache_redis_t *rc, const char *app,
                              const char *build, const char *json, size_t len,
                              int ttl_ms, const char *owner, char *errstr,
                              size_t errstr_size) {
        redisReply *r = NULL;
        int err = store_release(rc, app, build, json, len, ttl_ms, owner, &r,
                                errstr, errstr_size);
        return err ? err : released(r);
}

int cache_build_store_release_send(cache_redis_t *rc, const char *app,
                                   const char *build, const char *json,
                                   size_t len, int ttl_ms, const char *owner,
                                   char *errstr, size_t errstr_size) {
        return store_release(rc, app, build, json, len, ttl_ms, owner, NULL,
                             errstr, errstr_size);
}

static int done_key(cache_redis_t *rc, char *key, size_t size,
                    const char *job_id, char *errstr, size_t errstr_size) {
        if (!name_ok(job_id, 1) ||
            cache_redis_key(rc, key, size, "done:%s", job_id) < 0) {
                snprintf(errstr, errstr_size, "invalid job id");
                return CACHE_E_ARG;
        }
        return CACHE_OK;
}

int cache_done_mark(cache_redis_t *rc, const char *job_id, int ttl_s,
                    char *errstr, size_t errstr_size) {
        char key[512], at[24], ex[16];
        int err = done_key(rc, key, sizeof(key), job_id, errstr, errstr_size);
        if (err)
                return err;
        snprintf(at, sizeof(at), "%lld", (long long)time_wall_ms());
        snprintf(ex, sizeof(ex), "%d",
                 ttl_s > 0 ? ttl_s : CACHE_DONE_TTL_S_DEFAULT);
        const char *argv[] = {"SET", key, at, "EX", ex};
        return cache_redis_send_argv(rc, "done marker", 5, argv, NULL, errstr,
                                     errstr_size);
}

int cache_done_check_many(cache_redis_t *rc, const char *const *job_ids,
                          size_t n, int *out, char *errstr,
                          size_t errstr_size) {
        enum { KEY_MAX = 512 };
        if (n == 0)
                return CACHE_OK;
        const char **argv = malloc((n + 1) * sizeof(*argv));
        size_t *argvlen   = malloc((n + 1) * sizeof(*argvlen));
        char *keys        = malloc(n * KEY_MAX);
        int argc = 1, err = CACHE_OK;
        redisReply *r = NULL;
        if (!argv || !argvlen || !keys) {
                snprintf(errstr, errstr_size, "out of memory");
                err = CACHE_E_ARG;
                goto out;
        }
        argv[0]    = "MGET";
        argvlen[0] = 4;
        for (size_t i = 0; i < n; i++) {
                char *key = keys + i * KEY_MAX;
                out[i] =
                    done_key(rc, key, KEY_MAX, job_ids[i], errstr, errstr_size);
                if (out[i] != CACHE_OK)
                        continue; /* CACHE_E_ARG, not asked */
                argv[argc]      = key;
                argvlen[argc++] = strlen(key);
        }
        if (argc == 1)
                goto out;
        err = cache_redis_cmd_argv(rc, &r, errstr, errstr_size, argc, argv,
                                   argvlen);
        if (!err &&
            (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)argc - 1)) {
                snprintf(errstr, errstr_size, "redis: odd MGET reply");
                err = CACHE_E_REPLY;
        }
        for (size_t i = 0, j = 0; i < n; i++) {
                if (out[i] != CACHE_OK)
                        continue;
                out[i] = err ? err : r->element[j]->type != REDIS_REPLY_NIL;
                j++;
        }
out:
        freeReplyObject(r);
        free(argv);
        free(argvlen);
        free(keys);
        return err;
}

int cache_done_check(cache_redis_t *rc, const char *job_id, char *errstr,
                     size_t errstr_size) {
        char key[512];
        redisReply *r = NULL;
        int err = done_key(rc, key, sizeof(key), job_id, errstr, errstr_size);
        if (err)
                return err;
        err = cache_redis_cmd(rc, &r, errstr, errstr_size, "EXISTS %s", key);
        if (err)
                return err;
        int done = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        freeReplyObject(r);
        return done;
}
