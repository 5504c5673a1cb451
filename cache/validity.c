/* cache/validity.c — token validity facts in Redis (SET EX / MGET). */
#include "cache/validity.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

#define SLUG_MAX 128

const char *cache_validity_name(cache_validity_t v) {
        switch (v) {
        case CACHE_VALIDITY_VALID:
                return "valid";
        case CACHE_VALIDITY_INVALID:
                return "invalid";
        case CACHE_VALIDITY_INSUFFICIENT_ROLE:
                return "insufficient_role";
        default:
                return "unknown";
        }
}

static int slug_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > SLUG_MAX)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] == ':' || s[i] == 0x7f)
                        return 0;
        return 1;
}

/* Nobody waits on a validity fact: written without a round trip. */
static int set_ex(cache_redis_t *rc, const char *key, const char *val,
                  int ttl_s, char *errstr, size_t errstr_size) {
        char ex[16];
        snprintf(ex, sizeof(ex), "%d", ttl_s);
        const char *argv[] = {"SET", key, val, "EX", ex};
        return cache_redis_send_argv(rc, "validity record", 5, argv, NULL,
                                     errstr, errstr_size);
}

int cache_validity_record(cache_redis_t *rc, const cache_validity_opts_t *opts,
                          const cache_fp_t *fp, const char *app_slug,
                          int http_status, char *errstr, size_t errstr_size) {
        char key[256];
        int valid_ttl =
            opts && opts->valid_ttl_s > 0 ? opts->valid_ttl_s : 3600;
        int invalid_ttl =
            opts && opts->invalid_ttl_s > 0 ? opts->invalid_ttl_s : 300;
        int role_ttl = opts && opts->role_ttl_s > 0 ? opts->role_ttl_s : 600;

        if (!fp || !fp->id[0] || (app_slug && !slug_ok(app_slug))) {
                snprintf(
                    errstr, errstr_size,
                    "cannot record token validity: bad fingerprint or app");
                return CACHE_E_ARG;
        }
        if (http_status >= 200 && http_status < 300) {
                cache_redis_key(rc, key, sizeof(key), "tok:%s:state", fp->id);
                return set_ex(rc, key, "valid", valid_ttl, errstr, errstr_size);
        }
        if (http_status == 401) {
                cache_redis_key(rc, key, sizeof(key), "tok:%s:state", fp->id);
                return set_ex(rc, key, "invalid", invalid_ttl, errstr,
                              errstr_size);
        }
        if (http_status == 403) {
                if (!app_slug) {
                        snprintf(errstr, errstr_size,
                                 "cannot record 403 for token %s: no app",
                                 fp->log);
                        return CACHE_E_ARG;
                }
                cache_redis_key(rc, key, sizeof(key), "tok:%s:role:%s", fp->id,
                                app_slug);
                return set_ex(rc, key, "insufficient_role", role_ttl, errstr,
                              errstr_size);
        }
        snprintf(errstr, errstr_size,
                 "not recording validity of token %s: status %d is not "
                 "authoritative",
                 fp->log, http_status);
        return CACHE_E_REFUSED;
}

static cache_validity_t parse_state(const redisReply *e) {
        if (!e || e->type != REDIS_REPLY_STRING)
                return CACHE_VALIDITY_UNKNOWN;
        if (strcmp(e->str, "valid") == 0)
                return CACHE_VALIDITY_VALID;
        if (strcmp(e->str, "invalid") == 0)
                return CACHE_VALIDITY_INVALID;
        if (strcmp(e->str, "insufficient_role") == 0)
                return CACHE_VALIDITY_INSUFFICIENT_ROLE;
        return CACHE_VALIDITY_UNKNOWN;
}

int cache_validity_keys(const cache_redis_t *rc, const cache_fp_t *fp,
                        const char *app_slug, char *k_tok, char *k_role,
                        size_t size) {
        if (!fp || !fp->id[0] || (app_slug && !slug_ok(app_slug)) ||
            cache_redis_key(rc, k_tok, size, "tok:%s:state", fp->id) < 0)
                return CACHE_E_ARG;
        if (!app_slug)
                return 1;
        if (cache_redis_key(rc, k_role, size, "tok:%s:role:%s", fp->id,
                            app_slug) < 0)
                return CACHE_E_ARG;
        return 2;
}

cache_validity_t cache_validity_verdict(const redisReply *tok,
                                        const redisReply *role) {
        cache_validity_t t = parse_state(tok), r = parse_state(role);
        if (t == CACHE_VALIDITY_INVALID)
                return t;
        if (r == CACHE_VALIDITY_INSUFFICIENT_ROLE)
                return r;
        return t == CACHE_VALIDITY_VALID ? t : CACHE_VALIDITY_UNKNOWN;
}

int cache_validity_get(cache_redis_t *rc, const cache_fp_t *fp,
                       const char *app_slug, cache_validity_t *out,
                       char *errstr, size_t errstr_size) {
        char k1[256], k2[256];
        redisReply *r = NULL;
        int err, n = cache_validity_keys(rc, fp, app_slug, k1, k2, sizeof(k1));

        *out = CACHE_VALIDITY_UNKNOWN;
        if (n < 0) {
                snprintf(errstr, errstr_size,
                         "cannot read token validity: bad fingerprint or app");
                return CACHE_E_ARG;
        }
        if (n == 2)
                err = cache_redis_cmd(rc, &r, errstr, errstr_size, "MGET %s %s",
                                      k1, k2);
        else
                err =
                    cache_redis_cmd(rc, &r, errstr, errstr_size, "MGET %s", k1);
        if (err)
                return err;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
                snprintf(errstr, errstr_size,
                         "cannot read token validity: unexpected reply");
                freeReplyObject(r);
                return CACHE_E_REPLY;
        }
        *out = cache_validity_verdict(r->element[0],
                                      r->elements > 1 ? r->element[1] : NULL);
        freeReplyObject(r);
        return CACHE_OK;
}
