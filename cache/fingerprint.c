/* cache/fingerprint.c — HMAC-SHA256 with OpenSSL's one-shot HMAC(). */
#include "cache/fingerprint.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/log.h"

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

int cache_fp_key_load(const char *path, unsigned char *key, size_t size,
                      char *errstr, size_t errstr_size) {
        unsigned char raw[CACHE_FP_KEY_MAX + 2];
        char eb[128];
        ssize_t n = -1;
        int fd    = path && path[0] ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (fd >= 0) {
                n = read(fd, raw, sizeof(raw));
                close(fd);
        }
        if (n < 0) {
                snprintf(errstr, errstr_size,
                         "cannot read fingerprint key file %s: %s",
                         path && path[0] ? path : "(none configured)",
                         log_errno_str(errno, eb, sizeof(eb)));
                return -1;
        }
        size_t a = 0, b = (size_t)n;
        while (a < b && isspace(raw[a]))
                a++;
        while (b > a && isspace(raw[b - 1]))
                b--;
        int rv = -1;
        if ((size_t)n > CACHE_FP_KEY_MAX || b - a < CACHE_FP_KEY_MIN ||
            b - a > size)
                snprintf(errstr, errstr_size,
                         "fingerprint key file %s: want %d to %d bytes, got "
                         "%zu%s",
                         path, CACHE_FP_KEY_MIN, CACHE_FP_KEY_MAX, b - a,
                         (size_t)n > CACHE_FP_KEY_MAX ? " or more" : "");
        else {
                memcpy(key, raw + a, b - a);
                rv = (int)(b - a);
        }
        OPENSSL_cleanse(raw, sizeof(raw));
        return rv;
}
