/* Unit tests for cache/fingerprint: RFC 4231 HMAC-SHA256 vectors and the
 * log/key forms of a token fingerprint. */
#include <fcntl.h>
#include <unistd.h>

#include "cache/fingerprint.h"
#include "tests/assert.h"

static void test_fp_rfc4231_vectors(void) {
        static const struct {
                const char *key; /* hex */
                const char *data;
                const char *mac;
        } cases[] = {
            {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff"
             "7"},
            {"4a656665", "what do ya want for nothing?",
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec384"
             "3"},
            /* key = 131 bytes of 0xaa (written out below) */
            {"*aa131", "Test Using Larger Than Block-Size Key - Hash Key First",
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f5"
             "4"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                unsigned char key[200];
                size_t kl = strlen(cases[i].key) / 2;
                if (cases[i].key[0] == '*') {
                        kl = 131;
                        memset(key, 0xaa, kl);
                }
                for (size_t j = 0; cases[i].key[0] != '*' && j < kl; j++) {
                        unsigned v;
                        T_ASSERT(sscanf(cases[i].key + 2 * j, "%2x", &v) == 1);
                        key[j] = (unsigned char)v;
                }
                char hex[65];
                T_EQ_INT(cache_fp_hmac_hex(key, kl, cases[i].data,
                                           strlen(cases[i].data), hex),
                         0);
                T_EQ_STR(hex, cases[i].mac);
                cache_fp_t fp;
                T_EQ_INT(cache_fp_compute(key, kl, cases[i].data,
                                          strlen(cases[i].data), &fp),
                         0);
                T_ASSERT(strncmp(fp.log, cases[i].mac, 8) == 0);
                T_EQ_INT(strlen(fp.log), 8);
                T_ASSERT(strncmp(fp.id, cases[i].mac, 16) == 0);
                T_EQ_INT(strlen(fp.id), 16);
        }
}

static void test_fp_token_names(void) {
        const unsigned char key[] = "fingerprint-key-for-tests";
        cache_fp_t a, b, c;
        T_EQ_INT(cache_fp_compute(key, sizeof(key) - 1, "bitwat_AAA", 10, &a),
                 0);
        T_EQ_INT(cache_fp_compute(key, sizeof(key) - 1, "bitwat_AAA", 10, &b),
                 0);
        T_EQ_INT(cache_fp_compute(key, sizeof(key) - 1, "bitwat_AAB", 10, &c),
                 0);
        T_EQ_STR(a.id, b.id); /* stable */
        T_ASSERT(strcmp(a.id, c.id) != 0);
        T_ASSERT(strncmp(a.id, a.log, 8) == 0); /* log form is the key prefix */
        /* another key gives another name for the same token */
        cache_fp_t d;
        T_EQ_INT(cache_fp_compute((const unsigned char *)"k2", 2, "bitwat_AAA",
                                  10, &d),
                 0);
        T_ASSERT(strcmp(a.id, d.id) != 0);
        for (int i = 0; i < 16; i++)
                T_ASSERT((a.id[i] >= '0' && a.id[i] <= '9') ||
                         (a.id[i] >= 'a' && a.id[i] <= 'f'));
}

static void test_fp_bad_input(void) {
        cache_fp_t fp;
        T_EQ_INT(cache_fp_compute(NULL, 0, "tok", 3, &fp), -1);
        T_EQ_STR(fp.log, "");
        T_EQ_INT(cache_fp_compute((const unsigned char *)"k", 0, "tok", 3, &fp),
                 -1);
        T_EQ_INT(cache_fp_compute((const unsigned char *)"k", 1, NULL, 3, &fp),
                 -1);
        /* an empty token still has a name (the store rejects empty tokens) */
        T_EQ_INT(cache_fp_compute((const unsigned char *)"k", 1, "", 0, &fp),
                 0);
}

static void write_file(const char *path, const char *data, size_t n) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, data, n) != (ssize_t)n)
                abort();
        close(fd);
}

static void test_fp_key_load(void) {
        char dir[] = "/tmp/bitmon-test-fpkey.XXXXXX", path[128], err[256];
        unsigned char key[CACHE_FP_KEY_MAX];
        T_ASSERT(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/fp.key", dir);
        const char *hex =
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        char text[80];
        snprintf(text, sizeof(text), "  %s\n", hex);
        write_file(path, text, strlen(text));
        T_EQ_INT(cache_fp_key_load(path, key, sizeof(key), err, sizeof(err)),
                 64);
        T_ASSERT(memcmp(key, hex, 64) == 0); /* trimmed, bytes as written */
        write_file(path, "short\n", 6);
        T_EQ_INT(cache_fp_key_load(path, key, sizeof(key), err, sizeof(err)),
                 -1);
        T_ASSERT(strstr(err, "want 16 to 1024 bytes, got 5"));
        char big[CACHE_FP_KEY_MAX + 10];
        memset(big, 'k', sizeof(big));
        write_file(path, big, sizeof(big));
        T_EQ_INT(cache_fp_key_load(path, key, sizeof(key), err, sizeof(err)),
                 -1);
        T_ASSERT(strstr(err, "or more"));
        T_EQ_INT(cache_fp_key_load(path, key, 20, err, sizeof(err)), -1);
        T_EQ_INT(cache_fp_key_load("/nonexistent/fp.key", key, sizeof(key), err,
                                   sizeof(err)),
                 -1);
        T_ASSERT(strstr(err, "cannot read fingerprint key file /nonexistent"));
        T_EQ_INT(cache_fp_key_load(NULL, key, sizeof(key), err, sizeof(err)),
                 -1);
        T_ASSERT(strstr(err, "none configured"));
        unlink(path);
        rmdir(dir);
}

int main(void) {
        T_RUN(test_fp_rfc4231_vectors);
        T_RUN(test_fp_token_names);
        T_RUN(test_fp_bad_input);
        T_RUN(test_fp_key_load);
        return t_done();
}
