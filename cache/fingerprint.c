/* cache/fingerprint.c — HMAC-SHA256 with OpenSSL's one-shot HMAC(). */
#include "cache/fingerprint.h"

#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int cache_fp_hmac_hex(const unsigned char *key, size_t key_len,
                      const char *data, size_t data_len, char out[65]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;

        out[0] = '\0';
        if (!key || key_len == 0 || (!data && data_len))
                return -1;
        if (!HMAC(EVP_sha256(), key, (int)key_len,
                  (const unsigned char *)(data ? data : ""), data_len, mac,
                  &mac_len) ||
            mac_len != 32)
                return -1;
        for (unsigned int i = 0; i < 32; i++) {
                out[2 * i]     = hex[mac[i] >> 4];
                out[2 * i + 1] = hex[mac[i] & 15];
        }
        out[64] = '\0';
        return 0;
}

int cache_fp_compute(const unsigned char *key, size_t key_len,
                     const char *token, size_t token_len, cache_fp_t *out) {
        char full[65];
        memset(out, 0, sizeof(*out));
        if (cache_fp_hmac_hex(key, key_len, token, token_len, full) != 0)
                return -1;
        memcpy(out->log, full, CACHE_FP_LOG_LEN);
        memcpy(out->id, full, CACHE_FP_ID_LEN);
        return 0;
}
