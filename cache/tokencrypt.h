/* cache/tokencrypt.h — sealing workspace tokens for the Redis token store.
 *
 * AES-256-GCM (OpenSSL 3 EVP) with a fresh random 96-bit nonce per seal and
 * the workspace id as associated data, so a value copied to another
 * workspace's key does not decrypt. The stored value is text:
 *
 *     v1:<keyid>:<base64 nonce>:<base64 ciphertext||16-byte tag>
 *
 * keyid = first 8 hex digits of SHA-256("bitmon-token-key\0" || key): it
 * names the key without revealing it, so a keyring (the current key plus old
 * ones) can open values sealed before a rotation, and `rekey` can find the
 * values still under an old key. Keys come from files holding 32 raw bytes
 * or 64 hex digits (surrounding whitespace ignored); any other size is
 * rejected.
 *
 * Thread rules: a keyring is immutable after load and may be shared by
 * threads.
 */
#ifndef BITMON_CACHE_TOKENCRYPT_H
#define BITMON_CACHE_TOKENCRYPT_H

#include <stddef.h>

#define TOKENCRYPT_KEY_LEN   32
#define TOKENCRYPT_KEYID_LEN 8
#define TOKENCRYPT_TOKEN_MAX 4096 /* longest token we seal or open */

typedef struct tokencrypt_keyring tokencrypt_keyring_t;

/* Loads the current key and n_old old keys (old_paths may be NULL when
 * n_old is 0). Returns NULL with errstr naming the file on any error. Free
 * with tokencrypt_keyring_destroy (which wipes the keys). */
tokencrypt_keyring_t *tokencrypt_keyring_load(const char *current_path,
                                              const char *const *old_paths,
                                              size_t n_old, char *errstr,
                                              size_t errstr_size);
void tokencrypt_keyring_destroy(tokencrypt_keyring_t *kr);

/* The current key's id (borrowed, lives as long as kr). */
const char *tokencrypt_keyring_current_id(const tokencrypt_keyring_t *kr);

/* Parses key file content (32 raw bytes, or 64 hex digits with optional
 * surrounding whitespace). 0 or -1 with errstr. */
int tokencrypt_key_parse(const unsigned char *data, size_t len,
                         unsigned char key[TOKENCRYPT_KEY_LEN], char *errstr,
                         size_t errstr_size);

/* Seals token under the current key for workspace ws. Returns 0 and a
 * malloc'd NUL-terminated value in *out (caller frees), or a negative
 * CACHE_E_* with errstr. */
int tokencrypt_seal(const tokencrypt_keyring_t *kr, const char *ws,
                    const char *token, size_t token_len, char **out,
                    char *errstr, size_t errstr_size);

/* Opens a sealed value of workspace ws into buf (NUL-terminated; size must
 * exceed the token). On success returns 0, the length in *token_len and,
 * when keyid is not NULL, the id of the key that opened it. On any failure
 * (malformed value, unknown key id, authentication failure, buffer too
 * small) returns CACHE_E_CRYPTO or CACHE_E_ARG, wipes buf and says why:
 * "cannot decrypt token for workspace w: authentication failed". Never a
 * partial or garbage token. */
int tokencrypt_open(const tokencrypt_keyring_t *kr, const char *ws,
                    const char *value, size_t value_len, char *buf, size_t size,
                    size_t *token_len, char keyid[TOKENCRYPT_KEYID_LEN + 1],
                    char *errstr, size_t errstr_size);

#endif
