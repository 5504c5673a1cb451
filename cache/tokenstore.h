/* cache/tokenstore.h — where each workspace's Bitrise token is kept.
 *
 * Chosen by a spec string:
 *   "dir:PATH"  one file per workspace, named by the workspace id, holding the
 *               token (surrounding whitespace trimmed). This is the layout of
 *               a mounted Kubernetes Secret (PATH/<ws> -> ..data/<ws>,
 *               PATH/..data -> ..2026_11_28_..., swapped atomically on
 *               update). Each lookup opens the file and compares its inode,
 *               device, size and mtime with the cached copy: a rotated token
 *               is used on the next lookup, without restart, at the cost of
 *               one open+fstat.
 *   "redis"     AES-256-GCM sealed values in Redis (`token:<ws>`, or
 *               `<opts.redis_name>:<ws>`; see
 *               cache/tokencrypt.h), written by `bitmon connect`; the key
 *               comes from opts.key_file, older keys from opts.old_key_files.
 *
 * Workspace ids must match [A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}: no '/', no
 * leading '.', so "../x" or "..data" can never name a file outside PATH.
 *
 * Buffers: tokenstore_get copies the token into the caller's buffer; wipe it
 * with OPENSSL_cleanse(buf, size) as soon as the request is built. The store
 * itself keeps tokens only in memory and wipes them when replaced or
 * destroyed.
 *
 * Thread rules: a dir store may be shared by all threads (one mutex guards
 * its cache). A redis store uses opts.rc, a connection that belongs to one
 * thread: create one redis store per thread, each with its thread's rc.
 */
#ifndef BITMON_CACHE_TOKENSTORE_H
#define BITMON_CACHE_TOKENSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/redis.h"

#define TOKENSTORE_WS_MAX    128
#define TOKENSTORE_TOKEN_MAX 4096

typedef struct tokenstore_opts {
        cache_redis_t *rc;    /* redis store: borrowed, same thread */
        const char *key_file; /* redis store: current key */
        const char *const *old_key_files; /* redis store: older keys */
        size_t n_old_key_files;
        /* redis store: the key namespace, `<name>:<ws>`; NULL = "token".
         * Webhook secrets use "webhook-secret" (webhook/intake.h), so the
         * two stores can share one Redis and one key. */
        const char *redis_name;
} tokenstore_opts_t;

typedef struct tokenstore tokenstore_t;

/* Creates a store from spec ("dir:PATH" or "redis"). Loads the keyring for
 * "redis" and checks that PATH is a directory for "dir:". Returns NULL with
 * errstr on error. Free with tokenstore_destroy. */
tokenstore_t *tokenstore_new(const char *spec, const tokenstore_opts_t *opts,
                             char *errstr, size_t errstr_size);
void tokenstore_destroy(tokenstore_t *ts);

/* "dir" or "redis". */
const char *tokenstore_kind(const tokenstore_t *ts);

/* True when ws is a well-formed workspace id (see above). */
bool tokenstore_ws_valid(const char *ws);

/* Copies the token of ws into buf (NUL-terminated). Returns 0, or:
 *   CACHE_E_NOTFOUND  no token stored (answer token_missing)
 *   CACHE_E_CRYPTO    stored but cannot be decrypted (wrong key, tampered)
 *   CACHE_E_DOWN      Redis unreachable (transient)
 *   CACHE_E_IO        unreadable, oversized or malformed token file
 *   CACHE_E_ARG       invalid workspace id or buffer too small
 * with errstr naming the workspace (never the token). buf is wiped on
 * failure. */
int tokenstore_get(tokenstore_t *ts, const char *ws, char *buf, size_t size,
                   char *errstr, size_t errstr_size);

/* Stores token[0..len) for ws (dir: written atomically with mode 0600; redis:
 * sealed under the current key). 0 or a negative CACHE_E_*. */
int tokenstore_put(tokenstore_t *ts, const char *ws, const char *token,
                   size_t len, char *errstr, size_t errstr_size);

/* Removes ws's token; removing a missing token is not an error. */
int tokenstore_delete(tokenstore_t *ts, const char *ws, char *errstr,
                      size_t errstr_size);

/* Redis store: re-seals every stored token that is not under the current
 * key (compare-and-set, so a concurrent `connect` wins). *rekeyed counts the
 * values rewritten. Values that cannot be opened are left alone, counted in
 * *failed and named in the log; the result is then CACHE_E_CRYPTO. A dir
 * store answers CACHE_E_ARG. */
int tokenstore_rekey(tokenstore_t *ts, size_t *rekeyed, size_t *failed,
                     char *errstr, size_t errstr_size);

/* Calls cb(ws, opaque) for every workspace with a stored token, in no
 * particular order: dir: the regular files (or links to them) of PATH whose
 * names are workspace ids — dot-files such as a Secret volume's ..data and
 * temporary files are skipped; redis: a SCAN of `token:*` (a workspace
 * written during the scan may be reported twice or not at all). Stops at the
 * first non-zero return of cb and returns it; otherwise 0, or CACHE_E_IO
 * (directory unreadable) / CACHE_E_DOWN / CACHE_E_REPLY with errstr. Tokens
 * are not read: use tokenstore_get. */
typedef int(tokenstore_list_cb)(const char *ws, void *opaque);
int tokenstore_list(tokenstore_t *ts, tokenstore_list_cb *cb, void *opaque,
                    char *errstr, size_t errstr_size);

#endif
