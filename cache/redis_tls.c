/* cache/redis_tls.c — an OpenSSL client context for Redis and the handshake
 * on a hiredis context (redisInitiateSSL with our own SSL object, so that the
 * host name is verified and a failed verification says why).
 */
#include "cache/redis_tls.h"

#include <arpa/inet.h>
#include <hiredis/hiredis_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct redis_tls {
        SSL_CTX *ctx;
};

static bool set(const char *s) {
        return s && s[0];
}

/* OpenSSL's last queued error as text ("" when none). */
static const char *ossl_reason(char *buf, size_t size) {
        unsigned long e = ERR_peek_last_error();
        if (!e) {
                snprintf(buf, size, "unknown error");
                return buf;
        }
        ERR_error_string_n(e, buf, size);
        return buf;
}

static int load_files(SSL_CTX *ctx, const redis_tls_opts_t *o, char *errstr,
                      size_t errstr_size) {
        char why[160];
        if (set(o->ca_file) || set(o->ca_dir)) {
                if (SSL_CTX_load_verify_locations(
                        ctx, set(o->ca_file) ? o->ca_file : NULL,
                        set(o->ca_dir) ? o->ca_dir : NULL) != 1) {
                        snprintf(errstr, errstr_size,
                                 "cannot load redis CA %s: %s",
                                 set(o->ca_file) ? o->ca_file : o->ca_dir,
                                 ossl_reason(why, sizeof(why)));
                        return -1;
                }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
                snprintf(errstr, errstr_size,
                         "cannot load the system CA store: %s",
                         ossl_reason(why, sizeof(why)));
                return -1;
        }
        if (set(o->cert_file) != set(o->key_file)) {
                snprintf(errstr, errstr_size,
                         "redis.tls_cert_file and redis.tls_key_file go "
                         "together");
                return -1;
        }
        if (!set(o->cert_file))
                return 0;
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) !=
                1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
                snprintf(errstr, errstr_size,
                         "cannot load redis client certificate %s: %s",
                         o->cert_file, ossl_reason(why, sizeof(why)));
                return -1;
        }
        return 0;
}

redis_tls_t *redis_tls_new(const redis_tls_opts_t *o, char *errstr,
                           size_t errstr_size) {
        redis_tls_t *t = calloc(1, sizeof(*t));
        if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method()))) {
                snprintf(errstr, errstr_size, "cannot create a TLS context");
                goto fail;
        }
        SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
        ERR_clear_error();
        if (load_files(t->ctx, o, errstr, errstr_size) != 0)
                goto fail;
        return t;
fail:
        ERR_clear_error();
        redis_tls_destroy(t);
        return NULL;
}

void redis_tls_destroy(redis_tls_t *t) {
        if (!t)
                return;
        SSL_CTX_free(t->ctx);
        free(t);
}

/* SNI and the name the certificate must carry (DNS name or IP address). */
static int set_peer_name(SSL *ssl, const char *name) {
        unsigned char bin[16];
        bool ip = inet_pton(AF_INET, name, bin) == 1 ||
                  inet_pton(AF_INET6, name, bin) == 1;
        if (ip)
                return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
                                                     name) == 1
                           ? 0
                           : -1;
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        return SSL_set_tlsext_host_name(ssl, name) == 1 &&
                       SSL_set1_host(ssl, name) == 1
                   ? 0
                   : -1;
}

int redis_tls_start(redis_tls_t *t, redisContext *c, const char *server_name,
                    char *errstr, size_t errstr_size) {
        ERR_clear_error();
        SSL *ssl = SSL_new(t->ctx);
        if (!ssl || set_peer_name(ssl, server_name) != 0) {
                snprintf(errstr, errstr_size,
                         "cannot set up TLS for redis server name %s",
                         server_name);
                SSL_free(ssl);
                return -1;
        }
        if (redisInitiateSSL(c, ssl) == REDIS_OK)
                return 0; /* c owns ssl now */
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK)
                snprintf(errstr, errstr_size,
                         "tls: certificate verify failed: %s (server name %s)",
                         X509_verify_cert_error_string(v), server_name);
        else
                snprintf(errstr, errstr_size, "tls handshake failed: %s",
                         c->errstr[0] ? c->errstr : "unknown error");
        SSL_free(ssl);
        ERR_clear_error();
        return -1;
}
