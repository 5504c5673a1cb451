/* cache/tokenstore.c — the dir: and redis token stores behind one API.
 *
 * dir:  a small cache of (workspace -> token, file identity) guarded by a
 *       mutex; every lookup opens the file and re-reads it when its identity
 *       changed (Kubernetes swaps the ..data symlink on rotation).
 * redis: sealed values (cache/tokencrypt.h) under `<name>:<ws>` (name
 *        "token" unless opts.redis_name says otherwise).
 */
#include "cache/tokenstore.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "cache/tokencrypt.h"
#include "common/log.h"

typedef struct dir_entry {
        char ws[TOKENSTORE_WS_MAX + 1];
        dev_t dev;
        ino_t ino;
        off_t fsize;
        struct timespec mtime;
        char *token; /* wiped before free */
        size_t len;
        struct dir_entry *next;
} dir_entry_t;

enum { STORE_DIR, STORE_REDIS };

struct tokenstore {
        int kind;
        /* dir */
        char *dir;
        pthread_mutex_t lock;
        dir_entry_t *entries;
        /* redis */
        cache_redis_t *rc;
        tokencrypt_keyring_t *kr;
        char name[32]; /* key namespace: "token", "webhook-secret" */
};

static const char cas_src[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')\n"
    "  return 1\n"
    "end\n"
    "return 0\n";
static const cache_script_t cas_script = {"token_cas", cas_src};

bool tokenstore_ws_valid(const char *ws) {
        size_t n = ws ? strlen(ws) : 0;
        if (n == 0 || n > TOKENSTORE_WS_MAX || ws[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = ws[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                      c == '.'))
                        return false;
        }
        return true;
}

const char *tokenstore_kind(const tokenstore_t *ts) {
        return ts->kind == STORE_DIR ? "dir" : "redis";
}

static void entry_free(dir_entry_t *e) {
        if (e->token) {
                OPENSSL_cleanse(e->token, e->len);
                free(e->token);
        }
        free(e);
}

tokenstore_t *tokenstore_new(const char *spec, const tokenstore_opts_t *opts,
                             char *errstr, size_t errstr_size) {
        tokenstore_t *ts = calloc(1, sizeof(*ts));
        if (!ts || !spec) {
                snprintf(errstr, errstr_size,
                         ts ? "no token store configured" : "out of memory");
                free(ts);
                return NULL;
        }
        pthread_mutex_init(&ts->lock, NULL);
        if (strncmp(spec, "dir:", 4) == 0) {
                struct stat st;
                ts->kind = STORE_DIR;
                ts->dir  = strdup(spec + 4);
                if (!ts->dir || !ts->dir[0] || stat(ts->dir, &st) != 0 ||
                    !S_ISDIR(st.st_mode)) {
                        snprintf(errstr, errstr_size,
                                 "token store %s: not a directory", spec);
                        goto fail;
                }
        } else if (strcmp(spec, "redis") == 0) {
                ts->kind = STORE_REDIS;
                if (!opts || !opts->rc) {
                        snprintf(errstr, errstr_size,
                                 "token store redis: no redis connection");
                        goto fail;
                }
                ts->rc = opts->rc;
                const char *name =
                    opts->redis_name ? opts->redis_name : "token";
                if (!*name || strlen(name) >= sizeof(ts->name) ||
                    strpbrk(name, ":*?[]\\ ")) {
                        snprintf(errstr, errstr_size,
                                 "token store redis: bad key name");
                        goto fail;
                }
                snprintf(ts->name, sizeof(ts->name), "%s", name);
                ts->kr = tokencrypt_keyring_load(
                    opts->key_file, opts->old_key_files, opts->n_old_key_files,
                    errstr, errstr_size);
                if (!ts->kr)
                        goto fail;
        } else {
                snprintf(errstr, errstr_size,
                         "unknown token store \"%s\": want dir:PATH or redis",
                         spec);
                goto fail;
        }
        return ts;
fail:
        tokenstore_destroy(ts);
        return NULL;
}

void tokenstore_destroy(tokenstore_t *ts) {
        if (!ts)
                return;
        while (ts->entries) {
                dir_entry_t *e = ts->entries;
                ts->entries    = e->next;
                entry_free(e);
        }
        pthread_mutex_destroy(&ts->lock);
        tokencrypt_keyring_destroy(ts->kr);
        free(ts->dir);
        free(ts);
}

/* ---- dir store ------------------------------------------------------------
 */

static bool same_file(const dir_entry_t *e, const struct stat *st) {
        return e->dev == st->st_dev && e->ino == st->st_ino &&
               e->fsize == st->st_size &&
               e->mtime.tv_sec == st->st_mtim.tv_sec &&
               e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Reads all of fd into raw[0..size); *n = bytes read. 0 or -1 (errno). */
static int read_all(int fd, char *raw, size_t size, size_t *n) {
        *n = 0;
        while (*n < size) {
                ssize_t r = read(fd, raw + *n, size - *n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -1;
                if (r == 0)
                        break;
                *n += (size_t)r;
        }
        return 0;
}

static bool is_space(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Reads and trims the token file behind fd into a fresh malloc'd string. */
static int dir_read(int fd, const char *ws, char **out, size_t *out_len,
                    char *errstr, size_t errstr_size) {
        char raw[TOKENSTORE_TOKEN_MAX + 2], eb[128];
        size_t n = 0, a = 0, b;
        int err = CACHE_E_IO;
        if (read_all(fd, raw, sizeof(raw), &n) != 0) {
                snprintf(errstr, errstr_size,
                         "cannot read token of workspace %s: %s", ws,
                         log_errno_str(errno, eb, sizeof(eb)));
                goto out;
        }
        if (n > TOKENSTORE_TOKEN_MAX) {
                snprintf(errstr, errstr_size,
                         "token file of workspace %s is larger than %d bytes",
                         ws, TOKENSTORE_TOKEN_MAX);
                goto out;
        }
        for (b = n; a < b && is_space(raw[a]);)
                a++;
        while (b > a && is_space(raw[b - 1]))
                b--;
        if (a == b) {
                snprintf(errstr, errstr_size,
                         "token file of workspace %s is empty", ws);
                err = CACHE_E_NOTFOUND;
                goto out;
        }
        for (size_t i = a; i < b; i++) {
                unsigned char c = (unsigned char)raw[i];
                if (c <= ' ' || c == 0x7f) {
                        snprintf(errstr, errstr_size,
                                 "token file of workspace %s holds whitespace "
                                 "or control characters inside the token",
                                 ws);
                        goto out;
                }
        }
        if (!(*out = malloc(b - a + 1))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        memcpy(*out, raw + a, b - a);
        (*out)[b - a] = '\0';
        *out_len      = b - a;
        err           = 0;
out:
        OPENSSL_cleanse(raw, sizeof(raw));
        return err;
}

static dir_entry_t *dir_find(tokenstore_t *ts, const char *ws) {
        for (dir_entry_t *e = ts->entries; e; e = e->next)
                if (strcmp(e->ws, ws) == 0)
                        return e;
        return NULL;
}

/* Drops (and wipes) the cached token of ws (lock held). */
static void dir_forget(tokenstore_t *ts, const char *ws) {
        for (dir_entry_t **pp = &ts->entries; *pp; pp = &(*pp)->next) {
                if (strcmp((*pp)->ws, ws) == 0) {
                        dir_entry_t *e = *pp;
                        *pp            = e->next;
                        entry_free(e);
                        return;
                }
        }
}

/* Refreshes the cache entry of ws from fd when the file changed (lock held). */
static int dir_refresh(tokenstore_t *ts, const char *ws, int fd,
                       dir_entry_t **out, char *errstr, size_t errstr_size) {
        struct stat st;
        char *tok  = NULL;
        size_t len = 0;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
                snprintf(errstr, errstr_size,
                         "token of workspace %s is not a regular file", ws);
                return CACHE_E_IO;
        }
        dir_entry_t *e = dir_find(ts, ws);
        if (e && same_file(e, &st)) {
                *out = e;
                return 0;
        }
        int err = dir_read(fd, ws, &tok, &len, errstr, errstr_size);
        if (err)
                return err;
        if (!e) {
                e = calloc(1, sizeof(*e));
                if (!e) {
                        OPENSSL_cleanse(tok, len);
                        free(tok);
                        snprintf(errstr, errstr_size, "out of memory");
                        return CACHE_E_IO;
                }
                snprintf(e->ws, sizeof(e->ws), "%s", ws);
                e->next     = ts->entries;
                ts->entries = e;
        } else {
                LOG_INFO("cache", "token file changed, re-read workspace=%s",
                         ws);
                OPENSSL_cleanse(e->token, e->len);
                free(e->token);
        }
        e->token = tok;
        e->len   = len;
        e->dev   = st.st_dev;
        e->ino   = st.st_ino;
        e->fsize = st.st_size;
        e->mtime = st.st_mtim;
        *out     = e;
        return 0;
}

/* Opens path; if a rotation swapped the file between open and now (the
 * path names another inode), opens again, so a lookup never reinstates a
 * version that was already replaced. -1 with errno on failure. */
static int open_current(const char *path) {
        for (int attempt = 0;; attempt++) {
                struct stat a, b;
                int fd =
                    open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0 || attempt == 3)
                        return fd;
                if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
                    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                        return fd;
                close(fd);
        }
}

static int dir_copy_out(const dir_entry_t *e, const char *ws, char *buf,
                        size_t size, char *errstr, size_t errstr_size) {
        if (e->len >= size) {
                snprintf(errstr, errstr_size,
                         "token of workspace %s does not fit the buffer", ws);
                return CACHE_E_ARG;
        }
        memcpy(buf, e->token, e->len);
        buf[e->len] = '\0';
        return 0;
}

static int dir_get(tokenstore_t *ts, const char *ws, char *buf, size_t size,
                   char *errstr, size_t errstr_size) {
        char path[4096], eb[128];
        dir_entry_t *e = NULL;
        snprintf(path, sizeof(path), "%s/%s", ts->dir, ws);
        /* Under the lock, so lookups racing a rotation cannot take turns
         * installing the old and the new version. */
        pthread_mutex_lock(&ts->lock);
        /* The usual case, nothing changed: one stat() instead of open,
         * fstat, stat and close. */
        struct stat st;
        e = dir_find(ts, ws);
        if (e && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            same_file(e, &st)) {
                int err = dir_copy_out(e, ws, buf, size, errstr, errstr_size);
                pthread_mutex_unlock(&ts->lock);
                return err;
        }
        int fd = open_current(path);
        if (fd < 0) {
                int saved = errno;
                if (saved == ENOENT)
                        dir_forget(ts, ws); /* removed: wipe our copy too */
                pthread_mutex_unlock(&ts->lock);
                snprintf(errstr, errstr_size,
                         saved == ENOENT
                             ? "no token stored for workspace %s"
                             : "cannot open token of workspace %s: %s",
                         ws, log_errno_str(saved, eb, sizeof(eb)));
                return saved == ENOENT ? CACHE_E_NOTFOUND : CACHE_E_IO;
        }
        int err = dir_refresh(ts, ws, fd, &e, errstr, errstr_size);
        if (!err)
                err = dir_copy_out(e, ws, buf, size, errstr, errstr_size);
        pthread_mutex_unlock(&ts->lock);
        close(fd);
        return err;
}

static int dir_put(tokenstore_t *ts, const char *ws, const char *token,
                   size_t len, char *errstr, size_t errstr_size) {
        char tmp[4096], path[4096], eb[128];
        snprintf(path, sizeof(path), "%s/%s", ts->dir, ws);
        snprintf(tmp, sizeof(tmp), "%s/.%s.tmpXXXXXX", ts->dir, ws);
        int fd = mkstemp(tmp); /* mode 0600 */
        if (fd < 0)
                goto fail;
        size_t off = 0;
        while (off < len) {
                ssize_t w = write(fd, token + off, len - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        goto fail;
                off += (size_t)w;
        }
        if (fsync(fd) != 0 || close(fd) != 0) {
                fd = -1;
                goto fail;
        }
        fd = -1;
        if (rename(tmp, path) != 0)
                goto fail;
        return 0;
fail:
        snprintf(errstr, errstr_size,
                 "cannot store token of workspace %s in %s: %s", ws, ts->dir,
                 log_errno_str(errno, eb, sizeof(eb)));
        if (fd >= 0)
                close(fd);
        unlink(tmp);
        return CACHE_E_IO;
}

static int dir_delete(tokenstore_t *ts, const char *ws, char *errstr,
                      size_t errstr_size) {
        char path[4096], eb[128];
        snprintf(path, sizeof(path), "%s/%s", ts->dir, ws);
        if (unlink(path) != 0 && errno != ENOENT) {
                snprintf(errstr, errstr_size,
                         "cannot delete token of workspace %s: %s", ws,
                         log_errno_str(errno, eb, sizeof(eb)));
                return CACHE_E_IO;
        }
        return 0;
}

/* ---- redis store ----------------------------------------------------------
 */

static int redis_get(tokenstore_t *ts, const char *ws, char *buf, size_t size,
                     char *errstr, size_t errstr_size) {
        char key[256];
        redisReply *r = NULL;
        size_t len    = 0;
        cache_redis_key(ts->rc, key, sizeof(key), "%s:%s", ts->name, ws);
        int err =
            cache_redis_cmd(ts->rc, &r, errstr, errstr_size, "GET %s", key);
        if (err)
                return err;
        if (r->type == REDIS_REPLY_NIL) {
                snprintf(errstr, errstr_size,
                         "no token stored for workspace %s", ws);
                err = CACHE_E_NOTFOUND;
        } else if (r->type != REDIS_REPLY_STRING) {
                snprintf(errstr, errstr_size,
                         "cannot read token of workspace %s: odd reply", ws);
                err = CACHE_E_REPLY;
        } else {
                err = tokencrypt_open(ts->kr, ws, r->str, r->len, buf, size,
                                      &len, NULL, errstr, errstr_size);
        }
        freeReplyObject(r);
        return err;
}

static int redis_put(tokenstore_t *ts, const char *ws, const char *token,
                     size_t len, char *errstr, size_t errstr_size) {
        char key[256], *v = NULL;
        redisReply *r = NULL;
        int err =
            tokencrypt_seal(ts->kr, ws, token, len, &v, errstr, errstr_size);
        if (err)
                return err;
        cache_redis_key(ts->rc, key, sizeof(key), "%s:%s", ts->name, ws);
        err = cache_redis_cmd(ts->rc, &r, errstr, errstr_size, "SET %s %s", key,
                              v);
        if (r)
                freeReplyObject(r);
        free(v);
        return err;
}

static int redis_delete(tokenstore_t *ts, const char *ws, char *errstr,
                        size_t errstr_size) {
        char key[256];
        redisReply *r = NULL;
        cache_redis_key(ts->rc, key, sizeof(key), "%s:%s", ts->name, ws);
        int err =
            cache_redis_cmd(ts->rc, &r, errstr, errstr_size, "DEL %s", key);
        if (r)
                freeReplyObject(r);
        return err;
}

/* ---- dispatch -------------------------------------------------------------
 */

static int check_ws(const char *ws, char *errstr, size_t errstr_size) {
        if (tokenstore_ws_valid(ws))
                return 0;
        snprintf(errstr, errstr_size,
                 "invalid workspace id (want 1-%d of [A-Za-z0-9_.-], not "
                 "starting with '.')",
                 TOKENSTORE_WS_MAX);
        return CACHE_E_ARG;
}

int tokenstore_get(tokenstore_t *ts, const char *ws, char *buf, size_t size,
                   char *errstr, size_t errstr_size) {
        int err = check_ws(ws, errstr, errstr_size);
        if (!err && (!buf || size == 0)) {
                snprintf(errstr, errstr_size, "no buffer for the token");
                return CACHE_E_ARG;
        }
        if (!err)
                err = ts->kind == STORE_DIR
                          ? dir_get(ts, ws, buf, size, errstr, errstr_size)
                          : redis_get(ts, ws, buf, size, errstr, errstr_size);
        if (err && buf && size)
                OPENSSL_cleanse(buf, size);
        return err;
}

int tokenstore_put(tokenstore_t *ts, const char *ws, const char *token,
                   size_t len, char *errstr, size_t errstr_size) {
        int err = check_ws(ws, errstr, errstr_size);
        if (err)
                return err;
        for (size_t i = 0; token && i < len; i++) {
                unsigned char c = (unsigned char)token[i];
                if (c <= ' ' || c == 0x7f)
                        token = NULL;
        }
        if (!token || len == 0 || len > TOKENSTORE_TOKEN_MAX) {
                snprintf(errstr, errstr_size,
                         "refusing to store token of workspace %s: empty, too "
                         "long or with whitespace/control characters",
                         ws);
                return CACHE_E_ARG;
        }
        return ts->kind == STORE_DIR
                   ? dir_put(ts, ws, token, len, errstr, errstr_size)
                   : redis_put(ts, ws, token, len, errstr, errstr_size);
}

int tokenstore_delete(tokenstore_t *ts, const char *ws, char *errstr,
                      size_t errstr_size) {
        int err = check_ws(ws, errstr, errstr_size);
        if (err)
                return err;
        return ts->kind == STORE_DIR
                   ? dir_delete(ts, ws, errstr, errstr_size)
                   : redis_delete(ts, ws, errstr, errstr_size);
}

/* ---- rekey --------------------------------------------------------------- */

/* Re-seals one stored value under the current key if needed. */
static void rekey_one(tokenstore_t *ts, const char *key, size_t *rekeyed,
                      size_t *failed) {
        char tok[TOKENSTORE_TOKEN_MAX + 1], kid[TOKENCRYPT_KEYID_LEN + 1];
        char errstr[256], *nv = NULL;
        redisReply *r = NULL, *c = NULL;
        size_t len  = 0,
               plen = strlen(cache_redis_prefix(ts->rc)) + strlen(ts->name) + 1;
        const char *ws = key + plen;

        if (strlen(key) <= plen || !tokenstore_ws_valid(ws)) {
                LOG_WARN("cache", "rekey: skipping odd key %s", key);
                (*failed)++;
                return;
        }
        if (cache_redis_cmd(ts->rc, &r, errstr, sizeof(errstr), "GET %s", key))
                goto fail;
        if (r->type != REDIS_REPLY_STRING)
                goto out; /* deleted meanwhile */
        if (tokencrypt_open(ts->kr, ws, r->str, r->len, tok, sizeof(tok), &len,
                            kid, errstr, sizeof(errstr)) != 0) {
                LOG_WARN("cache", "rekey: %s", errstr);
                (*failed)++;
                goto out;
        }
        if (strcmp(kid, tokencrypt_keyring_current_id(ts->kr)) == 0)
                goto out;
        if (tokencrypt_seal(ts->kr, ws, tok, len, &nv, errstr, sizeof(errstr)))
                goto fail;
        const char *argv[] = {key, r->str, nv};
        size_t argl[]      = {strlen(key), r->len, strlen(nv)};
        if (cache_redis_eval(ts->rc, &cas_script, 1, 3, argv, argl, &c, errstr,
                             sizeof(errstr)))
                goto fail;
        if (c->type == REDIS_REPLY_INTEGER && c->integer == 1)
                (*rekeyed)++;
        goto out;
fail:
        LOG_WARN("cache", "rekey: cannot rewrite token of workspace %s: %s", ws,
                 errstr);
        (*failed)++;
out:
        OPENSSL_cleanse(tok, sizeof(tok));
        free(nv);
        if (r)
                freeReplyObject(r);
        if (c)
                freeReplyObject(c);
}

/* "<escaped prefix><name>:*" for SCAN MATCH. */
static int token_key_pattern(const char *prefix, const char *name, char *out,
                             size_t size) {
        size_t o = 0;
        for (const char *p = prefix; *p; p++) {
                if (o + 3 >= size)
                        return -1;
                if (strchr("*?[]\\", *p))
                        out[o++] = '\\';
                out[o++] = *p;
        }
        int n = snprintf(out + o, size - o, "%s:*", name);
        return n < 0 || (size_t)n >= size - o ? -1 : 0;
}

/* Calls fn(ts, key, opaque) for every stored token key (SCAN, so the keys of
 * a large store are walked in batches without blocking Redis). Stops when fn
 * returns non-zero and returns that; else 0, or a CACHE_E_* with errstr. */
static int token_keys_scan(tokenstore_t *ts,
                           int (*fn)(tokenstore_t *ts, const char *key,
                                     void *opaque),
                           void *opaque, char *errstr, size_t errstr_size) {
        char pattern[512], cursor[32] = "0";
        int ret = 0;
        if (token_key_pattern(cache_redis_prefix(ts->rc), ts->name, pattern,
                              sizeof(pattern))) {
                snprintf(errstr, errstr_size, "key prefix too long");
                return CACHE_E_ARG;
        }
        do {
                redisReply *r = NULL;
                int err       = cache_redis_cmd(ts->rc, &r, errstr, errstr_size,
                                                "SCAN %s MATCH %s COUNT 100", cursor,
                                                pattern);
                if (err)
                        return err;
                if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                    r->element[0]->type != REDIS_REPLY_STRING ||
                    r->element[1]->type != REDIS_REPLY_ARRAY) {
                        freeReplyObject(r);
                        snprintf(errstr, errstr_size, "odd SCAN reply");
                        return CACHE_E_REPLY;
                }
                snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
                for (size_t i = 0; !ret && i < r->element[1]->elements; i++) {
                        redisReply *k = r->element[1]->element[i];
                        if (k->type == REDIS_REPLY_STRING)
                                ret = fn(ts, k->str, opaque);
                }
                freeReplyObject(r);
        } while (!ret && strcmp(cursor, "0") != 0);
        return ret;
}

typedef struct rekey_count {
        size_t rekeyed, failed;
} rekey_count_t;

static int rekey_key(tokenstore_t *ts, const char *key, void *opaque) {
        rekey_count_t *n = opaque;
        rekey_one(ts, key, &n->rekeyed, &n->failed);
        return 0;
}

int tokenstore_rekey(tokenstore_t *ts, size_t *rekeyed, size_t *failed,
                     char *errstr, size_t errstr_size) {
        rekey_count_t n = {0, 0};
        char eb[256];
        *rekeyed = *failed = 0;
        if (ts->kind != STORE_REDIS) {
                snprintf(errstr, errstr_size,
                         "rekey: only the redis token store is encrypted");
                return CACHE_E_ARG;
        }
        int err  = token_keys_scan(ts, rekey_key, &n, eb, sizeof(eb));
        *rekeyed = n.rekeyed;
        *failed  = n.failed;
        if (err) {
                snprintf(errstr, errstr_size, "rekey: %s", eb);
                return err;
        }
        if (*failed) {
                snprintf(errstr, errstr_size,
                         "rekey: %zu token(s) could not be re-encrypted (see "
                         "log)",
                         *failed);
                return CACHE_E_CRYPTO;
        }
        LOG_INFO("cache", "rekey done rekeyed=%zu key_id=%s", *rekeyed,
                 tokencrypt_keyring_current_id(ts->kr));
        return 0;
}

/* ---- list ---------------------------------------------------------------- */

static int dir_list(tokenstore_t *ts, tokenstore_list_cb *cb, void *opaque,
                    char *errstr, size_t errstr_size) {
        char eb[128], path[4096];
        int ret = 0;
        DIR *d  = opendir(ts->dir);
        if (!d) {
                snprintf(errstr, errstr_size, "cannot list %s: %s", ts->dir,
                         log_errno_str(errno, eb, sizeof(eb)));
                return CACHE_E_IO;
        }
        struct dirent *de;
        while (!ret && (de = readdir(d)) != NULL) {
                struct stat st;
                if (!tokenstore_ws_valid(de->d_name))
                        continue; /* ".", "..data", ".ws.tmpXXXXXX" */
                snprintf(path, sizeof(path), "%s/%s", ts->dir, de->d_name);
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                        ret = cb(de->d_name, opaque);
        }
        closedir(d);
        return ret;
}

typedef struct list_ctx {
        tokenstore_list_cb *cb;
        void *opaque;
} list_ctx_t;

static int list_key(tokenstore_t *ts, const char *key, void *opaque) {
        const list_ctx_t *l = opaque;
        size_t plen = strlen(cache_redis_prefix(ts->rc)) + strlen(ts->name) + 1;
        if (strlen(key) <= plen || !tokenstore_ws_valid(key + plen))
                return 0;
        return l->cb(key + plen, l->opaque);
}

static int redis_list(tokenstore_t *ts, tokenstore_list_cb *cb, void *opaque,
                      char *errstr, size_t errstr_size) {
        list_ctx_t l = {cb, opaque};
        char eb[256] = "";
        int ret      = token_keys_scan(ts, list_key, &l, eb, sizeof(eb));
        if (ret < 0 && eb[0])
                snprintf(errstr, errstr_size, "list: %s", eb);
        return ret;
}

int tokenstore_list(tokenstore_t *ts, tokenstore_list_cb *cb, void *opaque,
                    char *errstr, size_t errstr_size) {
        return ts->kind == STORE_DIR
                   ? dir_list(ts, cb, opaque, errstr, errstr_size)
                   : redis_list(ts, cb, opaque, errstr, errstr_size);
}
