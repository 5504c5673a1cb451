/* cache/logref.c — the copies of whole build logs, by build and by job
 * (see logref.h). */
#include "cache/logref.h"

#include <stdio.h>
#include <string.h>

static int logref_key(cache_redis_t *rc, char *key, size_t size, const char *by,
                      const char *id, char *errstr, size_t errstr_size) {
        if (!id || !*id || strpbrk(id, " \r\n") ||
            cache_redis_key(rc, key, size, "logref:%s:%s", by, id) < 0) {
                snprintf(errstr, errstr_size, "invalid %s id", by);
                return CACHE_E_ARG;
        }
        return CACHE_OK;
}

static int logref_set(cache_redis_t *rc, const char *by, const char *id,
                      const char *json, const char *ex, char *errstr,
                      size_t errstr_size) {
        char key[512];
        int err = logref_key(rc, key, sizeof(key), by, id, errstr, errstr_size);
        if (err)
                return err;
        const char *argv[] = {"SET", key, json, "EX", ex};
        return cache_redis_send_argv(rc, "log reference", 5, argv, NULL, errstr,
                                     errstr_size);
}

int cache_logref_put(cache_redis_t *rc, const char *app_slug,
                     const char *build_slug, const char *job_id,
                     const char *json, int ttl_s, char *errstr,
                     size_t errstr_size) {
        char build[160], ex[16];
        snprintf(ex, sizeof(ex), "%d", ttl_s > 0 ? ttl_s : 86400);
        if (snprintf(build, sizeof(build), "%s/%s", app_slug, build_slug) >=
            (int)sizeof(build)) {
                snprintf(errstr, errstr_size, "invalid build id");
                return CACHE_E_ARG;
        }
        int err = logref_set(rc, "build", build, json, ex, errstr, errstr_size);
        if (!err && job_id)
                err = logref_set(rc, "job", job_id, json, ex, errstr,
                                 errstr_size);
        return err;
}

int cache_logref_get(cache_redis_t *rc, const char *by, const char *id,
                     buf_t *out, char *errstr, size_t errstr_size) {
        char key[512];
        redisReply *r = NULL;
        int err = logref_key(rc, key, sizeof(key), by, id, errstr, errstr_size);
        if (err)
                return err;
        const char *argv[] = {"GET", key};
        if ((err = cache_redis_cmd_argv(rc, &r, errstr, errstr_size, 2, argv,
                                        NULL)))
                return err;
        int found = r->type == REDIS_REPLY_STRING;
        if (found && buf_append(out, r->str, r->len) != 0) {
                snprintf(errstr, errstr_size, "log reference too large");
                found = CACHE_E_ARG;
        }
        freeReplyObject(r);
        return found;
}
