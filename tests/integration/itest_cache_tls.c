/* Integration tests for cache/redis over TLS against real redis-server
 * processes started with --tls-port, a CA and certificates made with openssl
 * (tests/support/tls_certs.sh), and an ACL user: a verified connection with a
 * client certificate works (commands, scripts, fire-and-forget writes); a
 * wrong CA, an expired server certificate, a server name that the
 * certificate does not carry, a bad password, an unreadable password file and
 * an unresolvable host each end in the degraded mode of an outage (down,
 * CACHE_E_DOWN without I/O inside the backoff) within the connect timeout,
 * with exactly one log line naming the reason and no secret in it.
 * tests/integration/redis_tls.sh runs the other cache tests over TLS. */
#include <fcntl.h>

#include "cache/redis.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/integration/itest_cache_redis.h"

#define PASSWORD "tlspw-Secret7"

static tredis_t good, expired; /* TLS servers: valid and expired certs */
static int good_tls_port, expired_tls_port;
static char pki[64];
static char logpath[256];
static int logfd = -1;

static const cache_script_t incr_script = {
    "incr", "return redis.call('INCRBY', KEYS[1], ARGV[1])"};

static void path(char *buf, size_t size, const char *name) {
        snprintf(buf, size, "%s/%s", pki, name);
}

/* Starts redis-server with a plain port (for tredis' PING) and a TLS port
 * with cert.crt/.key, client certificates optional, the ACL user bitmon. */
static int tls_server(tredis_t *t, int *tls_port, const char *cert) {
        memset(t, 0, sizeof(*t));
        *tls_port = tredis_free_port();
        snprintf(t->dir, sizeof(t->dir), "%s", pki);
        snprintf(t->extra, sizeof(t->extra),
                 "--tls-port %d --tls-cert-file %s/%s.crt --tls-key-file "
                 "%s/%s.key --tls-ca-cert-file %s/ca.crt --tls-auth-clients "
                 "optional --user bitmon on >" PASSWORD " ~* &* +@all",
                 *tls_port, pki, cert, pki, cert, pki);
        return tredis_spawn(t, NULL);
}

static cache_redis_opts_t tls_opts(int port, const char *ca) {
        static char ca_file[256], cert[256], key[256];
        path(ca_file, sizeof(ca_file), ca);
        path(cert, sizeof(cert), "client.crt");
        path(key, sizeof(key), "client.key");
        return (cache_redis_opts_t){.host               = "localhost",
                                    .port               = port,
                                    .tls                = true,
                                    .tls_ca_file        = ca_file,
                                    .tls_cert_file      = cert,
                                    .tls_key_file       = key,
                                    .user               = "bitmon",
                                    .password           = PASSWORD,
                                    .prefix             = "itest:tls:",
                                    .connect_timeout_ms = 1000,
                                    .backoff_min_ms     = 5000};
}

static void log_to_file(void) {
        logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        log_setup(LOG_LVL_DEBUG, LOG_FMT_JSON, logfd);
}

/* The log since log_to_file; counts lines containing needle. */
static int log_lines(const char *needle, char *buf, size_t size) {
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        close(logfd);
        int fd             = open(logpath, O_RDONLY);
        ssize_t n          = fd >= 0 ? read(fd, buf, size - 1) : 0;
        buf[n > 0 ? n : 0] = '\0';
        if (fd >= 0)
                close(fd);
        int count = 0;
        for (char *p = buf; (p = strstr(p, needle)); p++)
                count++;
        return count;
}

static void test_tls_acl_user_works(void) {
        char err[256];
        cache_redis_opts_t o = tls_opts(good_tls_port, "ca.crt");
        cache_redis_t *rc    = cache_redis_new(&o, err, sizeof(err));
        T_ASSERT(rc && cache_redis_is_up(rc));
        redisReply *r = NULL;
        T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "ACL WHOAMI"), 0);
        T_EQ_STR(r->str, "bitmon");
        freeReplyObject(r);
        const char *av[] = {"SET", "itest:tls:k", "7"};
        T_EQ_INT(
            cache_redis_send_argv(rc, "set", 3, av, NULL, err, sizeof(err)), 0);
        const char *ev[] = {"itest:tls:k", "5"};
        T_EQ_INT(cache_redis_eval(rc, &incr_script, 1, 2, ev, NULL, &r, err,
                                  sizeof(err)),
                 0);
        T_EQ_INT(r->integer, 12);
        freeReplyObject(r);
        cache_redis_destroy(rc);

        /* Without TLS the TLS port does not answer Redis' protocol. */
        o.tls = false;
        rc    = cache_redis_new(&o, err, sizeof(err));
        T_ASSERT(rc && !cache_redis_is_up(rc));
        cache_redis_destroy(rc);
}

/* One failing case: down at once, within the connect timeout, fails fast
 * afterwards, one log line with `reason`, no password in the log. */
static void expect_down(cache_redis_opts_t o, const char *reason) {
        char err[256], buf[16384];
        log_to_file();
        int64_t t0        = time_mono_ms();
        cache_redis_t *rc = cache_redis_new(&o, err, sizeof(err));
        int64_t took      = time_mono_ms() - t0;
        T_ASSERT(rc && !cache_redis_is_up(rc));
        T_ASSERT(took <= o.connect_timeout_ms + 500 * (int64_t)t_scale());
        T_EQ_INT(cache_redis_down_count(), 1);
        redisReply *r = NULL;
        for (int i = 0; i < 3; i++) {
                t0 = time_mono_ms();
                T_EQ_INT(cache_redis_cmd(rc, &r, err, sizeof(err), "PING"),
                         CACHE_E_DOWN);
                T_ASSERT(time_mono_ms() - t0 < 50); /* no I/O in backoff */
        }
        if (!strstr(err, reason))
                fprintf(stderr, "  err: %s\n", err);
        cache_redis_destroy(rc);
        T_ASSERT(strstr(err, reason));
        T_EQ_INT(cache_redis_down_count(), 0);
        T_EQ_INT(log_lines("redis unreachable", buf, sizeof(buf)), 1);
        if (!strstr(buf, reason))
                fprintf(stderr, "  log: %s\n", buf);
        T_ASSERT(strstr(buf, reason));
        T_ASSERT(!strstr(buf, "Secret"));
}

static void test_tls_wrong_ca(void) {
        expect_down(tls_opts(good_tls_port, "other-ca.crt"),
                    "tls: certificate verify failed");
}

static void test_tls_expired_cert(void) {
        expect_down(tls_opts(expired_tls_port, "ca.crt"),
                    "certificate verify failed: certificate has expired");
}

static void test_tls_server_name_mismatch(void) {
        cache_redis_opts_t o = tls_opts(good_tls_port, "ca.crt");
        o.tls_server_name    = "redis.example.org";
        expect_down(o, "hostname mismatch");
}

static void test_tls_bad_password(void) {
        cache_redis_opts_t o = tls_opts(good_tls_port, "ca.crt");
        o.password           = "wrong-Secret8";
        expect_down(o, "cannot authenticate to redis localhost");
}

static void test_tls_password_file(void) {
        char err[256], pwfile[256];
        path(pwfile, sizeof(pwfile), "redis-password");
        FILE *f = fopen(pwfile, "w");
        T_ASSERT(f && fputs(PASSWORD "\n", f) >= 0 && fclose(f) == 0);
        cache_redis_opts_t o = tls_opts(good_tls_port, "ca.crt");
        o.password           = NULL;
        o.password_file      = pwfile;
        cache_redis_t *rc    = cache_redis_new(&o, err, sizeof(err));
        T_ASSERT(rc && cache_redis_is_up(rc));
        cache_redis_destroy(rc);
        o.password = PASSWORD; /* both: refused */
        T_ASSERT(!cache_redis_new(&o, err, sizeof(err)));
        T_ASSERT(strstr(err, "not both"));
        o.password      = NULL;
        o.password_file = "/nonexistent/redis-password";
        expect_down(o, "cannot read redis.password_file");
}

static void test_tls_unresolvable_host(void) {
        cache_redis_opts_t o = tls_opts(good_tls_port, "ca.crt");
        o.host               = "bitmon-no-such-host.invalid";
        o.connect_timeout_ms = 300;
        expect_down(o, "cannot resolve bitmon-no-such-host.invalid");
}

static void test_tls_bad_files_refused(void) {
        char err[256];
        cache_redis_opts_t o = tls_opts(good_tls_port, "ca.crt");
        o.tls_ca_file        = "/nonexistent/ca.crt";
        T_ASSERT(!cache_redis_new(&o, err, sizeof(err)));
        T_ASSERT(strstr(err, "cannot load redis CA /nonexistent/ca.crt"));
        o              = tls_opts(good_tls_port, "ca.crt");
        o.tls_key_file = NULL;
        T_ASSERT(!cache_redis_new(&o, err, sizeof(err)));
        T_ASSERT(strstr(err, "go together"));
}

int main(void) {
        signal(SIGPIPE, SIG_IGN); /* as main does */
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        snprintf(pki, sizeof(pki), "/tmp/bitmon-itest-tls.XXXXXX");
        char cmd[256] = "";
        if (mkdtemp(pki))
                snprintf(cmd, sizeof(cmd), "tests/support/tls_certs.sh %s",
                         pki);
        if (!cmd[0] || system(cmd) != 0 ||
            tls_server(&good, &good_tls_port, "server") != 0 ||
            tls_server(&expired, &expired_tls_port, "expired") != 0) {
                printf("FAIL cannot make the PKI or start redis-server\n");
                return 1;
        }
        snprintf(logpath, sizeof(logpath), "%s/test.log", pki);
        T_RUN(test_tls_acl_user_works);
        T_RUN(test_tls_wrong_ca);
        T_RUN(test_tls_expired_cert);
        T_RUN(test_tls_server_name_mismatch);
        T_RUN(test_tls_bad_password);
        T_RUN(test_tls_password_file);
        T_RUN(test_tls_unresolvable_host);
        T_RUN(test_tls_bad_files_refused);
        tredis_kill(&expired);
        tredis_stop(&good); /* removes pki: both servers used it as dir */
        return t_done();
}
