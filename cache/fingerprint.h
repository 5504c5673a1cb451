/* cache/fingerprint.h — the only name a token has outside memory.
 *
 * A token's fingerprint is HMAC-SHA256(fingerprint key, token) in hex. Logs,
 * metrics and error messages use the first 8 hex digits (`log`); Redis keys
 * use the first 16 (`id`), whose first 8 are the log fingerprint, so two
 * workspaces' tokens cannot share validity or budget state by a 32-bit
 * collision (docs/redis-keys.md). Neither can be turned back into the token
 * without the key.
 *
 * Thread-safe: no shared state.
 */
#ifndef BITMON_CACHE_FINGERPRINT_H
#define BITMON_CACHE_FINGERPRINT_H

#include <stddef.h>

#define CACHE_FP_LOG_LEN 8
#define CACHE_FP_ID_LEN  16

typedef struct cache_fp {
        char log[CACHE_FP_LOG_LEN + 1]; /* "1a2b3c4d" for logs and metrics */
        char id[CACHE_FP_ID_LEN + 1];   /* "1a2b3c4d5e6f7a8b" for Redis keys */
} cache_fp_t;

/* Computes the fingerprint of token[0..token_len) under key[0..key_len).
 * Returns 0, or -1 (key empty or OpenSSL failure; *out is zeroed). */
int cache_fp_compute(const unsigned char *key, size_t key_len,
                     const char *token, size_t token_len, cache_fp_t *out);

#define CACHE_FP_KEY_MIN 16
#define CACHE_FP_KEY_MAX 1024

/* Reads the fingerprint key from a file: its bytes, surrounding whitespace
 * trimmed (so `openssl rand -hex 32 > file` works), CACHE_FP_KEY_MIN to
 * CACHE_FP_KEY_MAX of them. Every pod must use the same key, or their
 * fingerprints (and so the shared Redis state) differ. Returns the key
 * length, or -1 with errstr naming the file. The caller wipes key with
 * OPENSSL_cleanse when done. */
int cache_fp_key_load(const char *path, unsigned char *key, size_t size,
                      char *errstr, size_t errstr_size);

/* Full lower-case hex HMAC (64 digits + NUL) — for tests and tooling. */
int cache_fp_hmac_hex(const unsigned char *key, size_t key_len,
                      const char *data, size_t data_len, char out[65]);

#endif
