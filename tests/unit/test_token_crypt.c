/* Unit tests for cache/tokencrypt: key files, sealing, and every way a sealed
 * value can be wrong (key, workspace, a flipped byte in nonce, ciphertext or
 * tag, malformed text) — each must give a clear error, never a token. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/redis.h"
#include "cache/tokencrypt.h"
#include "tests/assert.h"

static char tmpdir[]      = "/tmp/bitmon-test-crypt.XXXXXX";
static const char TOKEN[] = "bitwat_Z8uFq2TestTokenNotReal_9x";

/* Writes data to tmpdir/name; returns the path (static buffer per slot). */
static const char *write_file(const char *name, const void *data, size_t len) {
        static char paths[8][256];
        static int slot;
        char *p = paths[slot++ % 8];
        snprintf(p, 256, "%s/%s", tmpdir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, data, len) != (ssize_t)len)
                abort();
        close(fd);
        return p;
}

static const char *key_hex(const char *name, unsigned char fill) {
        char hex[80];
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", (unsigned)(fill + i));
        hex[64] = '\n';
        return write_file(name, hex, 65);
}

static void test_crypt_key_parse(void) {
        unsigned char key[32], raw[32];
        char err[160];
        memset(raw, 0x41, sizeof(raw));
        T_EQ_INT(tokencrypt_key_parse(raw, 32, key, err, sizeof(err)), 0);
        T_ASSERT(memcmp(key, raw, 32) == 0);
        const char *hex = "  "
                          "000102030405060708090a0b0c0d0e0f10111213141516171819"
                          "1A1B1C1D1E1F\n";
        T_EQ_INT(tokencrypt_key_parse((const unsigned char *)hex, strlen(hex),
                                      key, err, sizeof(err)),
                 0);
        T_EQ_INT(key[0], 0);
        T_EQ_INT(key[31], 0x1f);
        static const size_t bad_sizes[] = {0, 1, 31, 33, 63, 65, 128};
        unsigned char junk[200];
        memset(junk, 'a', sizeof(junk));
        for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
                T_EQ_INT(tokencrypt_key_parse(junk, bad_sizes[i], key, err,
                                              sizeof(err)),
                         -1);
                T_ASSERT(strstr(err, "expected 32 raw bytes or 64 hex digits"));
        }
        char nothex[65];
        memset(nothex, 'g', 64);
        T_EQ_INT(tokencrypt_key_parse((unsigned char *)nothex, 64, key, err,
                                      sizeof(err)),
                 -1);
}

static void test_crypt_keyring_load_errors(void) {
        char err[256];
        const char *short_key = write_file("short.key", "abcd", 4);
        T_ASSERT(
            !tokencrypt_keyring_load(short_key, NULL, 0, err, sizeof(err)));
        T_ASSERT(strstr(err, "short.key") && strstr(err, "got 4 bytes"));
        T_ASSERT(!tokencrypt_keyring_load("/nonexistent/k", NULL, 0, err,
                                          sizeof(err)));
        T_ASSERT(strstr(err, "cannot read key file /nonexistent/k"));
        T_ASSERT(!tokencrypt_keyring_load(NULL, NULL, 0, err, sizeof(err)));
        const char *a = key_hex("dup1.key", 1), *b = key_hex("dup2.key", 1);
        T_ASSERT(!tokencrypt_keyring_load(a, &b, 1, err, sizeof(err)));
        T_ASSERT(strstr(err, "same key"));
}

static tokencrypt_keyring_t *ring(const char *cur, const char *old) {
        char err[256];
        tokencrypt_keyring_t *kr = tokencrypt_keyring_load(
            cur, old ? &old : NULL, old ? 1 : 0, err, sizeof(err));
        if (!kr)
                fprintf(stderr, "  keyring: %s\n", err);
        return kr;
}

static void test_crypt_round_trip_fresh_nonce(void) {
        char err[256], buf[128], kid[9];
        char *v1 = NULL, *v2 = NULL;
        size_t len               = 0;
        tokencrypt_keyring_t *kr = ring(key_hex("a.key", 7), NULL);
        T_ASSERT(kr);
        T_EQ_INT(tokencrypt_seal(kr, "ws1", TOKEN, strlen(TOKEN), &v1, err,
                                 sizeof(err)),
                 0);
        T_EQ_INT(tokencrypt_seal(kr, "ws1", TOKEN, strlen(TOKEN), &v2, err,
                                 sizeof(err)),
                 0);
        T_ASSERT(strncmp(v1, "v1:", 3) == 0);
        T_ASSERT(strncmp(v1 + 3, tokencrypt_keyring_current_id(kr), 8) == 0);
        T_ASSERT(strcmp(v1, v2) != 0); /* fresh nonce each time */
        T_ASSERT(!strstr(v1, TOKEN));  /* not in clear */
        T_ASSERT(!strstr(v1, "bitwat"));
        T_EQ_INT(tokencrypt_open(kr, "ws1", v1, strlen(v1), buf, sizeof(buf),
                                 &len, kid, err, sizeof(err)),
                 0);
        T_EQ_STR(buf, TOKEN);
        T_EQ_INT(len, strlen(TOKEN));
        T_EQ_STR(kid, tokencrypt_keyring_current_id(kr));
        /* buffer too small: error, wiped */
        char small[8];
        T_EQ_INT(tokencrypt_open(kr, "ws1", v1, strlen(v1), small,
                                 sizeof(small), &len, NULL, err, sizeof(err)),
                 CACHE_E_ARG);
        free(v1);
        free(v2);
        tokencrypt_keyring_destroy(kr);
}

static void expect_auth_failed(const tokencrypt_keyring_t *kr, const char *ws,
                               const char *v) {
        char buf[128], err[256];
        size_t len = 99;
        memset(buf, 'X', sizeof(buf));
        T_EQ_INT(tokencrypt_open(kr, ws, v, strlen(v), buf, sizeof(buf), &len,
                                 NULL, err, sizeof(err)),
                 CACHE_E_CRYPTO);
        char want[160];
        snprintf(want, sizeof(want),
                 "cannot decrypt token for workspace %s: authentication failed",
                 ws);
        T_EQ_STR(err, want);
        T_EQ_INT(len, 0);
        for (size_t i = 0; i < sizeof(buf); i++)
                T_EQ_INT(buf[i], 0); /* wiped, no partial plaintext */
}

/* Decodes the base64 field `field` (2 = nonce, 3 = ct||tag) of value v,
 * flips byte `pos` (negative: from the end) and re-encodes it. */
static char *flip(const char *v, int field, int pos) {
        char parts[4][2048];
        const char *p = v;
        for (int i = 0; i < 4; i++) {
                const char *e = i < 3 ? strchr(p, ':') : p + strlen(p);
                snprintf(parts[i], sizeof(parts[i]), "%.*s", (int)(e - p), p);
                p = e + 1;
        }
        unsigned char raw[2048];
        int n    = EVP_DecodeBlock(raw, (unsigned char *)parts[field],
                                   (int)strlen(parts[field]));
        size_t l = strlen(parts[field]);
        n -= (parts[field][l - 1] == '=') + (parts[field][l - 2] == '=');
        int at = pos >= 0 ? pos : n + pos;
        raw[at] ^= 0x01;
        EVP_EncodeBlock((unsigned char *)parts[field], raw, n);
        char *out = malloc(4 * 2048 + 8);
        snprintf(out, 4 * 2048 + 8, "%s:%s:%s:%s", parts[0], parts[1], parts[2],
                 parts[3]);
        return out;
}

static void test_crypt_tamper_each_position(void) {
        char err[256], *v = NULL;
        tokencrypt_keyring_t *kr = ring(key_hex("b.key", 9), NULL);
        T_ASSERT(kr);
        T_EQ_INT(tokencrypt_seal(kr, "ws-tamper", TOKEN, strlen(TOKEN), &v, err,
                                 sizeof(err)),
                 0);
        static const struct {
                const char *what;
                int field, pos;
        } cases[] = {
            {"nonce first", 2, 0}, {"nonce last", 2, 11}, {"ct first", 3, 0},
            {"ct middle", 3, 10},  {"ct last", 3, -17},   {"tag first", 3, -16},
            {"tag last", 3, -1},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *t = flip(v, cases[i].field, cases[i].pos);
                T_ASSERTF(strcmp(t, v) != 0, "%s: not flipped", cases[i].what);
                expect_auth_failed(kr, "ws-tamper", t);
                free(t);
        }
        free(v);
        tokencrypt_keyring_destroy(kr);
}

static void test_crypt_wrong_workspace_and_key(void) {
        char err[256], buf[128], *v = NULL;
        size_t len;
        tokencrypt_keyring_t *a = ring(key_hex("c.key", 11), NULL);
        tokencrypt_keyring_t *b = ring(key_hex("d.key", 99), NULL);
        T_ASSERT(a && b);
        T_EQ_INT(tokencrypt_seal(a, "ws-a", TOKEN, strlen(TOKEN), &v, err,
                                 sizeof(err)),
                 0);
        expect_auth_failed(a, "ws-b", v); /* copied to another workspace */
        /* a keyring without the key: names the key id, no token */
        T_EQ_INT(tokencrypt_open(b, "ws-a", v, strlen(v), buf, sizeof(buf),
                                 &len, NULL, err, sizeof(err)),
                 CACHE_E_CRYPTO);
        T_ASSERT(
            strstr(err, "cannot decrypt token for workspace ws-a: key id"));
        T_ASSERT(strstr(err, "not in the keyring"));
        /* a forged key id (b's) over a's ciphertext: authentication fails */
        char *forged = strdup(v);
        memcpy(forged + 3, tokencrypt_keyring_current_id(b), 8);
        expect_auth_failed(b, "ws-a", forged);
        free(forged);
        free(v);
        tokencrypt_keyring_destroy(a);
        tokencrypt_keyring_destroy(b);
}

static void test_crypt_old_key_opens(void) {
        char err[256], buf[128], kid[9], *v = NULL;
        size_t len;
        const char *oldk        = key_hex("old.key", 21),
                   *newk        = key_hex("new.key", 42);
        tokencrypt_keyring_t *o = ring(oldk, NULL), *n = ring(newk, oldk);
        T_ASSERT(o && n);
        T_EQ_INT(tokencrypt_seal(o, "ws", TOKEN, strlen(TOKEN), &v, err,
                                 sizeof(err)),
                 0);
        T_EQ_INT(tokencrypt_open(n, "ws", v, strlen(v), buf, sizeof(buf), &len,
                                 kid, err, sizeof(err)),
                 0);
        T_EQ_STR(buf, TOKEN);
        T_EQ_STR(kid, tokencrypt_keyring_current_id(o));
        T_ASSERT(strcmp(kid, tokencrypt_keyring_current_id(n)) != 0);
        free(v);
        tokencrypt_keyring_destroy(o);
        tokencrypt_keyring_destroy(n);
}

static void test_crypt_malformed_values(void) {
        char err[256], buf[128];
        size_t len;
        tokencrypt_keyring_t *kr = ring(key_hex("e.key", 3), NULL);
        T_ASSERT(kr);
        char good_prefix[64];
        snprintf(good_prefix, sizeof(good_prefix),
                 "v1:%s:", tokencrypt_keyring_current_id(kr));
        char v1[256], v2[256], v3[256];
        snprintf(v1, sizeof(v1), "%sAAAAAAAAAAAAAAAA:", good_prefix);
        snprintf(v2, sizeof(v2), "%sAAAAAAAAAAAAAAAA:!!!!", good_prefix);
        snprintf(v3, sizeof(v3), "%sAAAAAAAAAAAAAAAA:QUJD", good_prefix);
        const char *bad[] = {"",
                             "v1:",
                             "v2:abcdefgh:AAAAAAAAAAAAAAAA:QUJD",
                             "bitwat_plaintext_token_looking_value",
                             v1,
                             v2,
                             v3};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int rc =
                    tokencrypt_open(kr, "ws", bad[i], strlen(bad[i]), buf,
                                    sizeof(buf), &len, NULL, err, sizeof(err));
                T_ASSERTF(rc == CACHE_E_CRYPTO, "case %zu: rc %d", i, rc);
                T_ASSERT(strncmp(err, "cannot decrypt token for workspace ws: ",
                                 39) == 0);
        }
        char *v = NULL;
        T_EQ_INT(tokencrypt_seal(kr, "ws", "", 0, &v, err, sizeof(err)),
                 CACHE_E_ARG);
        T_ASSERT(v == NULL);
        tokencrypt_keyring_destroy(kr);
}

int main(void) {
        if (!mkdtemp(tmpdir))
                return 1;
        T_RUN(test_crypt_key_parse);
        T_RUN(test_crypt_keyring_load_errors);
        T_RUN(test_crypt_round_trip_fresh_nonce);
        T_RUN(test_crypt_tamper_each_position);
        T_RUN(test_crypt_wrong_workspace_and_key);
        T_RUN(test_crypt_old_key_opens);
        T_RUN(test_crypt_malformed_values);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
                return 1;
        return t_done();
}
