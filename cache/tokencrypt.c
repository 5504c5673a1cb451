/* cache/tokencrypt.c — AES-256-GCM sealing of tokens, keyring, key files. */
#include "cache/tokencrypt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cache/redis.h"
#include "common/log.h"

#define NONCE_LEN    12
#define TAG_LEN      16
#define MAX_KEYS     16
#define KEYFILE_MAX  256
#define VALUE_PREFIX "v1:"

typedef struct {
        unsigned char key[TOKENCRYPT_KEY_LEN];
        char id[TOKENCRYPT_KEYID_LEN + 1];
} ring_key_t;

struct tokencrypt_keyring {
        ring_key_t keys[MAX_KEYS]; /* keys[0] is the current key */
        size_t n;
};

static int hexval(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = tolower(c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int tokencrypt_key_parse(const unsigned char *data, size_t len,
                         unsigned char key[TOKENCRYPT_KEY_LEN], char *errstr,
                         size_t errstr_size) {
        if (len == TOKENCRYPT_KEY_LEN) {
                memcpy(key, data, TOKENCRYPT_KEY_LEN);
                return 0;
        }
        size_t a = 0, b = len;
        while (a < b && isspace(data[a]))
                a++;
        while (b > a && isspace(data[b - 1]))
                b--;
        if (b - a == 2 * TOKENCRYPT_KEY_LEN) {
                for (size_t i = 0; i < TOKENCRYPT_KEY_LEN; i++) {
                        int hi = hexval(data[a + 2 * i]);
                        int lo = hexval(data[a + 2 * i + 1]);
                        if (hi < 0 || lo < 0)
                                goto bad;
                        key[i] = (unsigned char)(hi << 4 | lo);
                }
                return 0;
        }
bad:
        OPENSSL_cleanse(key, TOKENCRYPT_KEY_LEN);
        snprintf(errstr, errstr_size,
                 "expected 32 raw bytes or 64 hex digits, got %zu bytes", len);
        return -1;
}

static void key_id(const unsigned char key[TOKENCRYPT_KEY_LEN],
                   char id[TOKENCRYPT_KEYID_LEN + 1]) {
        static const char hex[]   = "0123456789abcdef";
        static const char label[] = "bitmon-token-key";
        unsigned char in[sizeof(label) + TOKENCRYPT_KEY_LEN], md[32];
        unsigned int md_len = 0;
        memcpy(in, label, sizeof(label)); /* with its NUL */
        memcpy(in + sizeof(label), key, TOKENCRYPT_KEY_LEN);
        EVP_Digest(in, sizeof(in), md, &md_len, EVP_sha256(), NULL);
        OPENSSL_cleanse(in, sizeof(in));
        for (int i = 0; i < TOKENCRYPT_KEYID_LEN / 2; i++) {
                id[2 * i]     = hex[md[i] >> 4];
                id[2 * i + 1] = hex[md[i] & 15];
        }
        id[TOKENCRYPT_KEYID_LEN] = '\0';
}

static int key_file_load(const char *path, ring_key_t *k, char *errstr,
                         size_t errstr_size) {
        unsigned char data[KEYFILE_MAX + 1];
        char why[160], eb[128];
        ssize_t n = -1;
        int fd    = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                n = read(fd, data, sizeof(data));
                close(fd);
        }
        if (n < 0) {
                snprintf(errstr, errstr_size, "cannot read key file %s: %s",
                         path, log_errno_str(errno, eb, sizeof(eb)));
                return -1;
        }
        int rc = -1;
        if ((size_t)n > KEYFILE_MAX)
                snprintf(errstr, errstr_size,
                         "key file %s: expected 32 raw bytes or 64 hex digits, "
                         "got more than %d bytes",
                         path, KEYFILE_MAX);
        else if (tokencrypt_key_parse(data, (size_t)n, k->key, why,
                                      sizeof(why)) != 0)
                snprintf(errstr, errstr_size, "key file %s: %s", path, why);
        else
                rc = 0;
        OPENSSL_cleanse(data, sizeof(data));
        if (rc == 0)
                key_id(k->key, k->id);
        return rc;
}

tokencrypt_keyring_t *tokencrypt_keyring_load(const char *current_path,
                                              const char *const *old_paths,
                                              size_t n_old, char *errstr,
                                              size_t errstr_size) {
        if (!current_path || !current_path[0]) {
                snprintf(errstr, errstr_size, "no token key file configured");
                return NULL;
        }
        if (n_old >= MAX_KEYS) {
                snprintf(errstr, errstr_size, "too many old key files (max %d)",
                         MAX_KEYS - 1);
                return NULL;
        }
        tokencrypt_keyring_t *kr = calloc(1, sizeof(*kr));
        if (!kr) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        for (size_t i = 0; i <= n_old; i++) {
                const char *p = i == 0 ? current_path : old_paths[i - 1];
                if (key_file_load(p, &kr->keys[i], errstr, errstr_size) != 0)
                        goto fail;
                kr->n++;
                for (size_t j = 0; j < i; j++) {
                        if (strcmp(kr->keys[j].id, kr->keys[i].id) == 0) {
                                snprintf(errstr, errstr_size,
                                         "key file %s holds the same key as "
                                         "another key file (id %s)",
                                         p, kr->keys[i].id);
                                goto fail;
                        }
                }
        }
        return kr;
fail:
        tokencrypt_keyring_destroy(kr);
        return NULL;
}

void tokencrypt_keyring_destroy(tokencrypt_keyring_t *kr) {
        if (!kr)
                return;
        OPENSSL_cleanse(kr, sizeof(*kr));
        free(kr);
}

const char *tokencrypt_keyring_current_id(const tokencrypt_keyring_t *kr) {
        return kr->keys[0].id;
}

/* AES-256-GCM in one go; out holds len bytes (+ tag on seal). */
static int gcm(int enc, const unsigned char *key, const unsigned char *nonce,
               const char *ws, const unsigned char *in, size_t len,
               unsigned char *out, unsigned char *tag) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int l = 0, ok = 0;
        if (!ctx || len > TOKENCRYPT_TOKEN_MAX)
                goto out;
        if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, enc) !=
                1 ||
            EVP_CipherUpdate(ctx, NULL, &l, (const unsigned char *)ws,
                             (int)strlen(ws)) != 1 ||
            EVP_CipherUpdate(ctx, out, &l, in, (int)len) != 1)
                goto out;
        if (!enc &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
                goto out;
        if (EVP_CipherFinal_ex(ctx, out + l, &l) != 1)
                goto out;
        if (enc &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
                goto out;
        ok = 1;
out:
        EVP_CIPHER_CTX_free(ctx);
        return ok ? 0 : -1;
}

int tokencrypt_seal(const tokencrypt_keyring_t *kr, const char *ws,
                    const char *token, size_t token_len, char **out,
                    char *errstr, size_t errstr_size) {
        unsigned char nonce[NONCE_LEN], ct[TOKENCRYPT_TOKEN_MAX + TAG_LEN];
        char nonce_b64[32], *v = NULL;
        *out = NULL;
        if (!ws || !ws[0] || !token || token_len == 0 ||
            token_len > TOKENCRYPT_TOKEN_MAX) {
                snprintf(errstr, errstr_size,
                         "cannot encrypt token for workspace %s: empty or "
                         "longer than %d bytes",
                         ws ? ws : "?", TOKENCRYPT_TOKEN_MAX);
                return CACHE_E_ARG;
        }
        if (RAND_bytes(nonce, NONCE_LEN) != 1 ||
            gcm(1, kr->keys[0].key, nonce, ws, (const unsigned char *)token,
                token_len, ct, ct + token_len) != 0) {
                snprintf(errstr, errstr_size,
                         "cannot encrypt token for workspace %s: openssl "
                         "failure",
                         ws);
                OPENSSL_cleanse(ct, sizeof(ct));
                return CACHE_E_CRYPTO;
        }
        /* gcm() wrote the tag right after the ciphertext. */
        size_t ct_len = token_len + TAG_LEN;
        size_t vsize =
            3 + TOKENCRYPT_KEYID_LEN + 1 + 16 + 1 + 4 * ((ct_len + 2) / 3) + 1;
        v = malloc(vsize);
        if (!v) {
                snprintf(errstr, errstr_size, "out of memory");
                return CACHE_E_ARG;
        }
        EVP_EncodeBlock((unsigned char *)nonce_b64, nonce, NONCE_LEN);
        int n = snprintf(v, vsize, VALUE_PREFIX "%s:%s:", kr->keys[0].id,
                         nonce_b64);
        EVP_EncodeBlock((unsigned char *)v + n, ct, (int)ct_len);
        *out = v;
        return 0;
}

/* Strict base64: decodes and re-encodes, so only the canonical text of
 * some bytes is accepted. Returns the decoded length or -1. */
static int b64_decode(const char *s, size_t len, unsigned char *out,
                      size_t cap) {
        if (len == 0 || len % 4 || len / 4 * 3 > cap || len > 8192)
                return -1;
        int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
        if (n < 0)
                return -1;
        if (s[len - 1] == '=')
                n--;
        if (s[len - 2] == '=')
                n--;
        char again[8192 + 4];
        if (EVP_EncodeBlock((unsigned char *)again, out, n) != (int)len ||
            memcmp(again, s, len) != 0)
                return -1;
        return n;
}

static int open_fail(int err, const char *ws, const char *why, char *buf,
                     size_t size, char *errstr, size_t errstr_size) {
        if (buf && size)
                OPENSSL_cleanse(buf, size);
        snprintf(errstr, errstr_size,
                 "cannot decrypt token for workspace %s: %s", ws ? ws : "?",
                 why);
        return err;
}

int tokencrypt_open(const tokencrypt_keyring_t *kr, const char *ws,
                    const char *value, size_t value_len, char *buf, size_t size,
                    size_t *token_len, char keyid[TOKENCRYPT_KEYID_LEN + 1],
                    char *errstr, size_t errstr_size) {
        unsigned char nonce[NONCE_LEN + 3],
            ct[TOKENCRYPT_TOKEN_MAX + TAG_LEN + 3];
        const ring_key_t *k = NULL;
        char why[96];
        *token_len = 0;
        if (!ws || !ws[0] || !value || !buf || size == 0)
                return open_fail(CACHE_E_ARG, ws, "bad arguments", buf, size,
                                 errstr, errstr_size);
        /* v1:<8 hex>:<16 b64>:<b64> */
        const char *p = value, *end = value + value_len;
        if (value_len < 3 + TOKENCRYPT_KEYID_LEN + 1 + 16 + 1 ||
            memcmp(p, VALUE_PREFIX, 3) != 0 ||
            p[3 + TOKENCRYPT_KEYID_LEN] != ':' ||
            p[3 + TOKENCRYPT_KEYID_LEN + 1 + 16] != ':')
                return open_fail(CACHE_E_CRYPTO, ws, "malformed value", buf,
                                 size, errstr, errstr_size);
        for (size_t i = 0; i < kr->n; i++)
                if (memcmp(kr->keys[i].id, p + 3, TOKENCRYPT_KEYID_LEN) == 0)
                        k = &kr->keys[i];
        if (!k) {
                snprintf(why, sizeof(why), "key id %.8s is not in the keyring",
                         p + 3);
                return open_fail(CACHE_E_CRYPTO, ws, why, buf, size, errstr,
                                 errstr_size);
        }
        const char *nb = p + 3 + TOKENCRYPT_KEYID_LEN + 1;
        const char *cb = nb + 16 + 1;
        int nn         = b64_decode(nb, 16, nonce, sizeof(nonce));
        int cn         = b64_decode(cb, (size_t)(end - cb), ct, sizeof(ct));
        if (nn != NONCE_LEN || cn <= TAG_LEN)
                return open_fail(CACHE_E_CRYPTO, ws, "malformed value", buf,
                                 size, errstr, errstr_size);
        size_t tl = (size_t)cn - TAG_LEN;
        if (tl >= size)
                return open_fail(CACHE_E_ARG, ws, "token longer than buffer",
                                 buf, size, errstr, errstr_size);
        if (gcm(0, k->key, nonce, ws, ct, tl, (unsigned char *)buf, ct + tl) !=
            0)
                return open_fail(CACHE_E_CRYPTO, ws, "authentication failed",
                                 buf, size, errstr, errstr_size);
        buf[tl]    = '\0';
        *token_len = tl;
        if (keyid)
                memcpy(keyid, k->id, TOKENCRYPT_KEYID_LEN + 1);
        OPENSSL_cleanse(ct, sizeof(ct));
        return 0;
}
