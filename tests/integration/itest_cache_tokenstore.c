/* Integration tests for the redis token store: round trip, wrong key, one
 * flipped byte in nonce/ciphertext/tag of the stored value, a value copied
 * to another workspace, rekey under a rotated key — and a leak check that
 * scans every key and value in Redis for the test tokens after every cache/
 * module has used them. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "cache/budget.h"
#include "cache/buildcache.h"
#include "cache/tokencrypt.h"
#include "cache/tokenstore.h"
#include "cache/validity.h"
#include "common/log.h"
#include "tests/assert.h"
#include "tests/integration/itest_cache_redis.h"

static tredis_t srv;
static char tmpdir[] = "/tmp/bitmon-itest-tok.XXXXXX";
static char key_a[256], key_b[256], key_c[256];

/* Tokens the leak check hunts for (all test tokens share a marker). */
static const char *const TOKENS[] = {
    "bitwat_LEAKCANARY_alpha_3f9a2c", "bitwat_LEAKCANARY_bravo_77e1d0",
    "bitwat_LEAKCANARY_charlie_0b5c", "LEAKCANARYoldstylepat0123456789abcdef",
    "bitwat_LEAKCANARY_echo_91aa02",
};
#define NTOK (sizeof(TOKENS) / sizeof(TOKENS[0]))

static void write_key(char *path, const char *name, unsigned char seed) {
        unsigned char raw[32];
        snprintf(path, 256, "%s/%s", tmpdir, name);
        for (int i = 0; i < 32; i++)
                raw[i] = (unsigned char)(seed * 31 + i * 7);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, raw, 32) != 32)
                abort();
        close(fd);
}

static cache_redis_t *conn(const char *prefix) {
        char err[256];
        cache_redis_opts_t o = tredis_opts(&srv);
        o.prefix             = prefix;
        return cache_redis_new(&o, err, sizeof(err));
}

static tokenstore_t *rstore(cache_redis_t *rc, const char *cur,
                            const char *old) {
        char err[256];
        tokenstore_opts_t o = {.rc              = rc,
                               .key_file        = cur,
                               .old_key_files   = old ? &old : NULL,
                               .n_old_key_files = old ? 1 : 0};
        tokenstore_t *ts    = tokenstore_new("redis", &o, err, sizeof(err));
        if (!ts)
                fprintf(stderr, "  %s\n", err);
        return ts;
}

/* GET/SET of a raw stored value. */
static char *raw_get(const char *key) {
        redisContext *c = tredis_raw(&srv);
        redisReply *r   = redisCommand(c, "GET %s", key);
        char *v = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
        if (r)
                freeReplyObject(r);
        redisFree(c);
        return v;
}

static void raw_set(const char *key, const char *v) {
        redisContext *c = tredis_raw(&srv);
        freeReplyObject(redisCommand(c, "SET %s %s", key, v));
        redisFree(c);
}

static void test_tokstore_round_trip(void) {
        char prefix[64], err[256], buf[256];
        t_prefix(prefix, sizeof(prefix), "tok");
        cache_redis_t *rc = conn(prefix);
        tokenstore_t *ts  = rstore(rc, key_a, NULL);
        T_ASSERT(rc && ts);
        T_EQ_STR(tokenstore_kind(ts), "redis");
        T_EQ_INT(tokenstore_get(ts, "ws-1", buf, sizeof(buf), err, sizeof(err)),
                 CACHE_E_NOTFOUND);
        T_EQ_STR(err, "no token stored for workspace ws-1");
        for (size_t i = 0; i < NTOK; i++) {
                char ws[32];
                snprintf(ws, sizeof(ws), "ws-%zu", i);
                T_EQ_INT(tokenstore_put(ts, ws, TOKENS[i], strlen(TOKENS[i]),
                                        err, sizeof(err)),
                         0);
        }
        for (size_t i = 0; i < NTOK; i++) {
                char ws[32];
                snprintf(ws, sizeof(ws), "ws-%zu", i);
                T_EQ_INT(
                    tokenstore_get(ts, ws, buf, sizeof(buf), err, sizeof(err)),
                    0);
                T_EQ_STR(buf, TOKENS[i]);
        }
        char key[128];
        snprintf(key, sizeof(key), "%stoken:ws-0", prefix);
        char *v = raw_get(key);
        T_ASSERT(v && strncmp(v, "v1:", 3) == 0 && !strstr(v, "LEAKCANARY"));
        free(v);
        T_EQ_INT(tokenstore_delete(ts, "ws-4", err, sizeof(err)), 0);
        T_EQ_INT(tokenstore_get(ts, "ws-4", buf, sizeof(buf), err, sizeof(err)),
                 CACHE_E_NOTFOUND);
        T_EQ_INT(
            tokenstore_get(ts, "../ws-1", buf, sizeof(buf), err, sizeof(err)),
            CACHE_E_ARG);
        tokenstore_destroy(ts);
        cache_redis_destroy(rc);
}

static void expect_auth_failed(tokenstore_t *ts, const char *ws) {
        char buf[256], err[256], want[160];
        memset(buf, 'Q', sizeof(buf));
        T_EQ_INT(tokenstore_get(ts, ws, buf, sizeof(buf), err, sizeof(err)),
                 CACHE_E_CRYPTO);
        snprintf(want, sizeof(want),
                 "cannot decrypt token for workspace %s: authentication failed",
                 ws);
        T_EQ_STR(err, want);
        for (size_t i = 0; i < sizeof(buf); i++)
                T_EQ_INT(buf[i], 0);
}

/* Flips one bit of decoded byte `pos` of field 2 (nonce) or 3 (ct||tag). */
static char *flip(const char *v, int field, int pos) {
        char parts[4][1024];
        unsigned char raw[1024];
        const char *p = v;
        for (int i = 0; i < 4; i++) {
                const char *e = i < 3 ? strchr(p, ':') : p + strlen(p);
                snprintf(parts[i], sizeof(parts[i]), "%.*s", (int)(e - p), p);
                p = e + 1;
        }
        size_t l = strlen(parts[field]);
        int n    = EVP_DecodeBlock(raw, (unsigned char *)parts[field], (int)l);
        n -= (parts[field][l - 1] == '=') + (parts[field][l - 2] == '=');
        raw[pos >= 0 ? pos : n + pos] ^= 0x80;
        EVP_EncodeBlock((unsigned char *)parts[field], raw, n);
        char *out = malloc(4 * 1024 + 8);
        snprintf(out, 4 * 1024 + 8, "%s:%s:%s:%s", parts[0], parts[1], parts[2],
                 parts[3]);
        return out;
}

static void test_tokstore_tamper_wrong_key_wrong_ws(void) {
        char prefix[64], err[256], buf[256], key[128];
        t_prefix(prefix, sizeof(prefix), "tamper");
        cache_redis_t *rc = conn(prefix);
        tokenstore_t *ts  = rstore(rc, key_a, NULL);
        T_ASSERT(rc && ts);
        T_EQ_INT(tokenstore_put(ts, "ws-t", TOKENS[0], strlen(TOKENS[0]), err,
                                sizeof(err)),
                 0);
        snprintf(key, sizeof(key), "%stoken:ws-t", prefix);
        char *orig = raw_get(key);
        T_ASSERT(orig);
        static const struct {
                int field, pos;
        } where[] = {{2, 0},   {2, 11},  {3, 0}, {3, 5},
                     {3, -17}, {3, -16}, {3, -1}};
        for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
                char *bad = flip(orig, where[i].field, where[i].pos);
                raw_set(key, bad);
                expect_auth_failed(ts, "ws-t");
                free(bad);
        }
        raw_set(key, orig);
        T_EQ_INT(tokenstore_get(ts, "ws-t", buf, sizeof(buf), err, sizeof(err)),
                 0);
        T_EQ_STR(buf, TOKENS[0]);
        /* the same value under another workspace's key */
        char key2[128];
        snprintf(key2, sizeof(key2), "%stoken:ws-u", prefix);
        raw_set(key2, orig);
        expect_auth_failed(ts, "ws-u");
        /* a store with the wrong key: clear error, no token */
        tokenstore_t *wrong = rstore(rc, key_c, NULL);
        T_ASSERT(wrong);
        T_EQ_INT(
            tokenstore_get(wrong, "ws-t", buf, sizeof(buf), err, sizeof(err)),
            CACHE_E_CRYPTO);
        T_ASSERT(
            strstr(err, "cannot decrypt token for workspace ws-t: key id"));
        T_EQ_INT(buf[0], 0);
        /* a plaintext value (someone SET it by hand) is refused */
        raw_set(key, "bitwat_LEAKCANARY_plain");
        T_EQ_INT(tokenstore_get(ts, "ws-t", buf, sizeof(buf), err, sizeof(err)),
                 CACHE_E_CRYPTO);
        T_ASSERT(!strstr(err, "LEAKCANARY"));
        raw_set(key, orig);
        free(orig);
        /* missing key file */
        tokenstore_opts_t o = {.rc = rc, .key_file = "/nonexistent/key"};
        T_ASSERT(!tokenstore_new("redis", &o, err, sizeof(err)));
        T_ASSERT(strstr(err, "/nonexistent/key"));
        tokenstore_destroy(wrong);
        tokenstore_destroy(ts);
        cache_redis_destroy(rc);
}

static void test_tokstore_rekey_keeps_all_readable(void) {
        char prefix[64], err[256], buf[256];
        size_t rekeyed = 0, failed = 0;
        t_prefix(prefix, sizeof(prefix), "rekey");
        cache_redis_t *rc = conn(prefix);
        tokenstore_t *old = rstore(rc, key_a, NULL);
        T_ASSERT(rc && old);
        for (size_t i = 0; i < NTOK; i++) {
                char ws[32];
                snprintf(ws, sizeof(ws), "ws-r%zu", i);
                T_EQ_INT(tokenstore_put(old, ws, TOKENS[i], strlen(TOKENS[i]),
                                        err, sizeof(err)),
                         0);
        }
        /* rotate: B is current, A is old; everything stays readable */
        tokenstore_t *mid = rstore(rc, key_b, key_a);
        T_ASSERT(mid);
        T_EQ_INT(tokenstore_put(mid, "ws-new", TOKENS[1], strlen(TOKENS[1]),
                                err, sizeof(err)),
                 0);
        for (size_t i = 0; i < NTOK; i++) {
                char ws[32];
                snprintf(ws, sizeof(ws), "ws-r%zu", i);
                T_EQ_INT(
                    tokenstore_get(mid, ws, buf, sizeof(buf), err, sizeof(err)),
                    0);
                T_EQ_STR(buf, TOKENS[i]);
        }
        T_EQ_INT(tokenstore_rekey(mid, &rekeyed, &failed, err, sizeof(err)), 0);
        T_EQ_INT(rekeyed, NTOK); /* ws-new was already under B */
        T_EQ_INT(failed, 0);
        T_EQ_INT(tokenstore_rekey(mid, &rekeyed, &failed, err, sizeof(err)), 0);
        T_EQ_INT(rekeyed, 0); /* idempotent */
        /* A can be retired: B alone reads everything */
        tokenstore_t *fresh = rstore(rc, key_b, NULL);
        T_ASSERT(fresh);
        for (size_t i = 0; i < NTOK; i++) {
                char ws[32];
                snprintf(ws, sizeof(ws), "ws-r%zu", i);
                T_EQ_INT(tokenstore_get(fresh, ws, buf, sizeof(buf), err,
                                        sizeof(err)),
                         0);
                T_EQ_STR(buf, TOKENS[i]);
        }
        T_EQ_INT(
            tokenstore_get(fresh, "ws-new", buf, sizeof(buf), err, sizeof(err)),
            0);
        /* and the old-key-only store cannot */
        T_EQ_INT(
            tokenstore_get(old, "ws-r0", buf, sizeof(buf), err, sizeof(err)),
            CACHE_E_CRYPTO);
        /* a value no key opens is reported, others still rekeyed */
        tokenstore_t *c_store = rstore(rc, key_c, NULL);
        T_EQ_INT(tokenstore_put(c_store, "ws-orphan", TOKENS[2],
                                strlen(TOKENS[2]), err, sizeof(err)),
                 0);
        tokenstore_t *d = rstore(rc, key_a, key_b);
        T_EQ_INT(tokenstore_rekey(d, &rekeyed, &failed, err, sizeof(err)),
                 CACHE_E_CRYPTO);
        T_EQ_INT(failed, 1);
        T_EQ_INT(rekeyed, NTOK + 1);
        T_ASSERT(strstr(err, "1 token(s) could not be re-encrypted"));
        tokenstore_destroy(d);
        tokenstore_destroy(c_store);
        tokenstore_destroy(fresh);
        tokenstore_destroy(mid);
        tokenstore_destroy(old);
        cache_redis_destroy(rc);
}

/* Exercises every cache/ module with the test tokens, then scans the whole
 * server: no key and no value (strings, hashes, lists, sets, zsets) may hold
 * any test token or its marker. */
static int leaks_in(const char *s, size_t n) {
        for (size_t i = 0; i < NTOK; i++)
                if (memmem(s, n, TOKENS[i], strlen(TOKENS[i])))
                        return 1;
        return memmem(s, n, "LEAKCANARY", 10) != NULL;
}

static int scan_value(redisContext *c, const char *key, size_t klen) {
        redisReply *t   = redisCommand(c, "TYPE %b", key, klen);
        const char *cmd = NULL;
        if (t && strcmp(t->str, "string") == 0)
                cmd = "GET %b";
        else if (t && strcmp(t->str, "hash") == 0)
                cmd = "HGETALL %b";
        else if (t && strcmp(t->str, "list") == 0)
                cmd = "LRANGE %b 0 -1";
        else if (t && strcmp(t->str, "set") == 0)
                cmd = "SMEMBERS %b";
        else if (t && strcmp(t->str, "zset") == 0)
                cmd = "ZRANGE %b 0 -1";
        if (t)
                freeReplyObject(t);
        if (!cmd)
                return 0;
        redisReply *r = redisCommand(c, cmd, key, klen);
        int found     = 0;
        if (r && r->type == REDIS_REPLY_STRING)
                found = leaks_in(r->str, r->len);
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements;
             i++)
                if (r->element[i]->type == REDIS_REPLY_STRING)
                        found |=
                            leaks_in(r->element[i]->str, r->element[i]->len);
        if (r)
                freeReplyObject(r);
        return found;
}

static void test_tokstore_leak_check_all_keys(void) {
        char prefix[64], err[256], buf[256];
        t_prefix(prefix, sizeof(prefix), "leak");
        cache_redis_t *rc      = conn(prefix);
        tokenstore_t *ts       = rstore(rc, key_a, NULL);
        cache_budget_opts_t bo = {.rate = 5, .burst = 2};
        cache_budget_t *b      = cache_budget_new(&bo, err, sizeof(err));
        T_ASSERT(rc && ts && b);
        for (size_t i = 0; i < NTOK; i++) {
                char ws[32];
                cache_fp_t fp;
                snprintf(ws, sizeof(ws), "ws-l%zu", i);
                T_EQ_INT(tokenstore_put(ts, ws, TOKENS[i], strlen(TOKENS[i]),
                                        err, sizeof(err)),
                         0);
                T_EQ_INT(
                    tokenstore_get(ts, ws, buf, sizeof(buf), err, sizeof(err)),
                    0);
                T_EQ_INT(cache_fp_compute((const unsigned char *)"fpkey", 5,
                                          buf, strlen(buf), &fp),
                         0);
                cache_validity_record(rc, NULL, &fp, "app", i % 2 ? 401 : 200,
                                      err, sizeof(err));
                cache_validity_record(rc, NULL, &fp, "app", 403, err,
                                      sizeof(err));
                cache_budget_take(b, rc, &fp, ws);
                cache_budget_on_429(b, rc, &fp, NULL);
                cache_budget_on_headers(b, rc, &fp, "5", "30");
                cache_build_store(rc, "app", "build", "{\"status\":1}", 12,
                                  5000, err, sizeof(err));
                cache_build_lease_try(rc, "app", "build", "pod/w", 5000, err,
                                      sizeof(err));
                cache_done_mark(rc, ws, 60, err, sizeof(err));
                T_ASSERT(!leaks_in(err, strlen(err)));
        }
        /* the scan must see our keys, and be able to see a leak */
        redisContext *c = tredis_raw(&srv);
        T_ASSERT(c);
        char canary_key[128];
        snprintf(canary_key, sizeof(canary_key), "%sselftest", prefix);
        freeReplyObject(redisCommand(c, "HSET %s f %s", canary_key, TOKENS[0]));
        char cursor[32] = "0";
        size_t ours = 0, leaks = 0, self = 0;
        do {
                redisReply *r = redisCommand(c, "SCAN %s COUNT 200", cursor);
                T_ASSERT(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
                snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
                for (size_t i = 0; i < r->element[1]->elements; i++) {
                        redisReply *k = r->element[1]->element[i];
                        bool selftest = strcmp(k->str, canary_key) == 0;
                        int found     = leaks_in(k->str, k->len) ||
                                    scan_value(c, k->str, k->len);
                        if (strncmp(k->str, prefix, strlen(prefix)) == 0)
                                ours++;
                        if (selftest)
                                self += (size_t)found;
                        else if (found) {
                                leaks++;
                                fprintf(stderr, "  token found in key %s\n",
                                        k->str);
                        }
                }
                freeReplyObject(r);
        } while (strcmp(cursor, "0") != 0);
        freeReplyObject(redisCommand(c, "DEL %s", canary_key));
        redisFree(c);
        T_EQ_INT(self, 1);    /* the scan does find a planted token */
        T_ASSERT(ours >= 20); /* tokens, validity, budget, build, done keys */
        T_EQ_INT(leaks, 0);
        cache_budget_destroy(b);
        tokenstore_destroy(ts);
        cache_redis_destroy(rc);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN); /* as main does (hiredis uses write) */
        log_setup(LOG_LVL_ERROR, LOG_FMT_AUTO, 2);
        if (!mkdtemp(tmpdir) || tredis_start(&srv, false) != 0) {
                printf("FAIL cannot set up redis or a temp dir\n");
                return 1;
        }
        write_key(key_a, "a.key", 1);
        write_key(key_b, "b.key", 2);
        write_key(key_c, "c.key", 3);
        T_RUN(test_tokstore_round_trip);
        T_RUN(test_tokstore_tamper_wrong_key_wrong_ws);
        T_RUN(test_tokstore_rekey_keeps_all_readable);
        T_RUN(test_tokstore_leak_check_all_keys);
        tredis_stop(&srv);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
                return 1;
        return t_done();
}
