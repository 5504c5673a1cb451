/* Unit tests for the dir: token store: the Kubernetes Secret layout with its
 * ..data symlink swap, rotation without restart, trimming, path escapes and
 * bad files, and concurrent readers during rotation. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/tokenstore.h"
#include "tests/assert.h"

static char root[] = "/tmp/bitmon-test-tokdir.XXXXXX";
static char dir[256];

static void put_file(const char *path, const char *content) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 ||
            write(fd, content, strlen(content)) != (ssize_t)strlen(content))
                abort();
        close(fd);
}

/* Publishes a new Secret version like the kubelet: a fresh timestamped dir,
 * a ..data_tmp symlink renamed over ..data, per-key symlinks into ..data. */
static void k8s_publish(int version, const char *ws, const char *token) {
        char ts[64], p[512], old[512] = "";
        snprintf(ts, sizeof(ts), "..2026_11_28_21_00_%02d.%d", version,
                 version);
        snprintf(p, sizeof(p), "%s/%s", dir, ts);
        if (mkdir(p, 0755) != 0)
                abort();
        snprintf(p, sizeof(p), "%s/%s/%s", dir, ts, ws);
        put_file(p, token);
        snprintf(p, sizeof(p), "%s/..data", dir);
        ssize_t n = readlink(p, old, sizeof(old) - 1);
        if (n > 0)
                old[n] = '\0';
        snprintf(p, sizeof(p), "%s/..data_tmp", dir);
        if (symlink(ts, p) != 0)
                abort();
        char data[512];
        snprintf(data, sizeof(data), "%s/..data", dir);
        if (rename(p, data) != 0)
                abort();
        char link[512], target[256];
        snprintf(link, sizeof(link), "%s/%s", dir, ws);
        snprintf(target, sizeof(target), "..data/%s", ws);
        if (symlink(target, link) != 0 && errno != EEXIST)
                abort();
        if (n > 0) { /* the kubelet removes the old version */
                char cmd[1024];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s'", dir, old);
                if (system(cmd) != 0)
                        abort();
        }
}

static tokenstore_t *store(void) {
        char spec[300], err[256];
        snprintf(spec, sizeof(spec), "dir:%s", dir);
        tokenstore_t *ts = tokenstore_new(spec, NULL, err, sizeof(err));
        if (!ts)
                fprintf(stderr, "  %s\n", err);
        return ts;
}

static void test_dir_k8s_rotation(void) {
        char buf[256], err[256];
        tokenstore_t *ts = store();
        T_ASSERT(ts);
        T_EQ_STR(tokenstore_kind(ts), "dir");
        k8s_publish(1, "ws-k8s", "bitwat_first_version\n");
        T_EQ_INT(
            tokenstore_get(ts, "ws-k8s", buf, sizeof(buf), err, sizeof(err)),
            0);
        T_EQ_STR(buf, "bitwat_first_version");
        T_EQ_INT(
            tokenstore_get(ts, "ws-k8s", buf, sizeof(buf), err, sizeof(err)),
            0);
        T_EQ_STR(buf, "bitwat_first_version"); /* cached path */
        k8s_publish(2, "ws-k8s", "  bitwat_second_version  \r\n");
        T_EQ_INT(
            tokenstore_get(ts, "ws-k8s", buf, sizeof(buf), err, sizeof(err)),
            0);
        T_EQ_STR(buf, "bitwat_second_version"); /* no restart needed */
        k8s_publish(3, "ws-k8s", "bitwat_third_versionX"); /* same length */
        T_EQ_INT(
            tokenstore_get(ts, "ws-k8s", buf, sizeof(buf), err, sizeof(err)),
            0);
        T_EQ_STR(buf, "bitwat_third_versionX");
        tokenstore_destroy(ts);
}

static void test_dir_in_place_rewrite(void) {
        char buf[256], err[256], p[512];
        tokenstore_t *ts = store();
        T_ASSERT(ts);
        snprintf(p, sizeof(p), "%s/ws-plain", dir);
        put_file(p, "tokenAAAA");
        T_EQ_INT(
            tokenstore_get(ts, "ws-plain", buf, sizeof(buf), err, sizeof(err)),
            0);
        T_EQ_STR(buf, "tokenAAAA");
        /* same inode, same size: the mtime tells (set apart explicitly, as
         * two writes within one filesystem tick would share it) */
        put_file(p, "tokenBBBB");
        struct timespec t[2] = {{.tv_sec = 1000000000, .tv_nsec = 0},
                                {.tv_sec = 1000000000, .tv_nsec = 0}};
        T_EQ_INT(utimensat(AT_FDCWD, p, t, 0), 0);
        T_EQ_INT(
            tokenstore_get(ts, "ws-plain", buf, sizeof(buf), err, sizeof(err)),
            0);
        T_EQ_STR(buf, "tokenBBBB");
        tokenstore_destroy(ts);
}

static void test_dir_put_delete_missing(void) {
        char buf[256], err[256], p[512];
        struct stat st;
        tokenstore_t *ts = store();
        T_ASSERT(ts);
        T_EQ_INT(
            tokenstore_get(ts, "ws-none", buf, sizeof(buf), err, sizeof(err)),
            CACHE_E_NOTFOUND);
        T_EQ_STR(err, "no token stored for workspace ws-none");
        T_EQ_INT(
            tokenstore_put(ts, "ws-new", "bitwat_put", 10, err, sizeof(err)),
            0);
        snprintf(p, sizeof(p), "%s/ws-new", dir);
        T_EQ_INT(stat(p, &st), 0);
        T_EQ_INT(st.st_mode & 0777, 0600);
        T_EQ_INT(
            tokenstore_get(ts, "ws-new", buf, sizeof(buf), err, sizeof(err)),
            0);
        T_EQ_STR(buf, "bitwat_put");
        T_EQ_INT(
            tokenstore_put(ts, "ws-new", "bitwat_put2", 11, err, sizeof(err)),
            0);
        T_EQ_INT(
            tokenstore_get(ts, "ws-new", buf, sizeof(buf), err, sizeof(err)),
            0);
        T_EQ_STR(buf, "bitwat_put2");
        T_EQ_INT(tokenstore_put(ts, "ws-new", "has space", 9, err, sizeof(err)),
                 CACHE_E_ARG);
        T_EQ_INT(tokenstore_put(ts, "ws-new", "", 0, err, sizeof(err)),
                 CACHE_E_ARG);
        T_EQ_INT(tokenstore_delete(ts, "ws-new", err, sizeof(err)), 0);
        T_EQ_INT(tokenstore_delete(ts, "ws-new", err, sizeof(err)), 0);
        T_EQ_INT(
            tokenstore_get(ts, "ws-new", buf, sizeof(buf), err, sizeof(err)),
            CACHE_E_NOTFOUND);
        size_t a, b;
        T_EQ_INT(tokenstore_rekey(ts, &a, &b, err, sizeof(err)), CACHE_E_ARG);
        tokenstore_destroy(ts);
}

static void test_dir_path_escape_rejected(void) {
        char buf[256], err[256], p[512];
        tokenstore_t *ts = store();
        T_ASSERT(ts);
        snprintf(p, sizeof(p), "%s/outside-secret", root);
        put_file(p, "must_never_be_read");
        char long_ws[200];
        memset(long_ws, 'a', sizeof(long_ws) - 1);
        long_ws[sizeof(long_ws) - 1] = '\0';
        const char *bad[]            = {"../outside-secret",
                                        "..",
                                        ".",
                                        "..data",
                                        ".hidden",
                                        "a/b",
                                        "/etc/passwd",
                                        "",
                                        "ws\n",
                                        "ws name",
                                        "ws\\x",
                                        long_ws,
                                        NULL};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(buf, 'Z', sizeof(buf));
                T_EQ_INT(tokenstore_get(ts, bad[i], buf, sizeof(buf), err,
                                        sizeof(err)),
                         CACHE_E_ARG);
                T_ASSERT(strstr(err, "invalid workspace id"));
                T_EQ_INT(buf[0], 0);
                T_EQ_INT(tokenstore_put(ts, bad[i], "x", 1, err, sizeof(err)),
                         CACHE_E_ARG);
        }
        T_ASSERT(tokenstore_ws_valid("669403bffbe35909"));
        T_ASSERT(tokenstore_ws_valid("3c9a1a12-61e0-4f3e-9b5e-6b1e0c2c7a11"));
        T_ASSERT(tokenstore_ws_valid("ws.v2_x"));
        tokenstore_destroy(ts);
}

static void test_dir_bad_files(void) {
        char buf[256], err[256], p[512];
        tokenstore_t *ts = store();
        T_ASSERT(ts);
        snprintf(p, sizeof(p), "%s/ws-empty", dir);
        put_file(p, " \n\t\n");
        T_EQ_INT(
            tokenstore_get(ts, "ws-empty", buf, sizeof(buf), err, sizeof(err)),
            CACHE_E_NOTFOUND);
        T_EQ_STR(err, "token file of workspace ws-empty is empty");
        snprintf(p, sizeof(p), "%s/ws-ctl", dir);
        put_file(p, "bitwat_a\nInjected: header\n");
        T_EQ_INT(
            tokenstore_get(ts, "ws-ctl", buf, sizeof(buf), err, sizeof(err)),
            CACHE_E_IO);
        T_ASSERT(!strstr(err, "bitwat_a")); /* never the token */
        snprintf(p, sizeof(p), "%s/ws-big", dir);
        char big[TOKENSTORE_TOKEN_MAX + 100];
        memset(big, 'b', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        put_file(p, big);
        T_EQ_INT(
            tokenstore_get(ts, "ws-big", buf, sizeof(buf), err, sizeof(err)),
            CACHE_E_IO);
        T_ASSERT(strstr(err, "larger than"));
        snprintf(p, sizeof(p), "%s/ws-dir", dir);
        T_EQ_INT(mkdir(p, 0700), 0);
        T_EQ_INT(
            tokenstore_get(ts, "ws-dir", buf, sizeof(buf), err, sizeof(err)),
            CACHE_E_IO);
        snprintf(p, sizeof(p), "%s/ws-fifo", dir);
        T_EQ_INT(mkfifo(p, 0600), 0);
        T_EQ_INT(
            tokenstore_get(ts, "ws-fifo", buf, sizeof(buf), err, sizeof(err)),
            CACHE_E_IO); /* no hang */
        snprintf(p, sizeof(p), "%s/ws-fits", dir);
        put_file(p, "0123456789");
        char small[10];
        T_EQ_INT(tokenstore_get(ts, "ws-fits", small, sizeof(small), err,
                                sizeof(err)),
                 CACHE_E_ARG);
        T_EQ_INT(
            tokenstore_get(ts, "ws-fits", buf, sizeof(buf), err, sizeof(err)),
            0);
        tokenstore_destroy(ts);
        T_ASSERT(
            !tokenstore_new("dir:/nonexistent/dir", NULL, err, sizeof(err)));
        T_ASSERT(!tokenstore_new("file:/x", NULL, err, sizeof(err)));
        T_ASSERT(strstr(err, "unknown token store"));
        T_ASSERT(!tokenstore_new("redis", NULL, err, sizeof(err)));
        T_ASSERT(!tokenstore_new("dir:", NULL, err, sizeof(err)));
}

static tokenstore_t *shared_ts;
static atomic_int stop, bad_reads, good_reads;

static void *reader(void *arg) {
        (void)arg;
        char buf[256], err[256];
        while (!atomic_load(&stop)) {
                int rc = tokenstore_get(shared_ts, "ws-race", buf, sizeof(buf),
                                        err, sizeof(err));
                /* during the swap the old dir may vanish between open and
                 * read: a NOTFOUND is acceptable, garbage is not */
                if (rc == 0 && strncmp(buf, "bitwat_race_v", 13) != 0)
                        atomic_fetch_add(&bad_reads, 1);
                else if (rc == 0)
                        atomic_fetch_add(&good_reads, 1);
        }
        return NULL;
}

static void test_dir_concurrent_rotation(void) {
        pthread_t th[3];
        shared_ts = store();
        T_ASSERT(shared_ts);
        k8s_publish(10, "ws-race", "bitwat_race_v10");
        for (int i = 0; i < 3; i++)
                pthread_create(&th[i], NULL, reader, NULL);
        for (int v = 11; v < 40; v++) {
                char tok[64];
                snprintf(tok, sizeof(tok), "bitwat_race_v%d", v);
                k8s_publish(v, "ws-race", tok);
                usleep(2000);
        }
        atomic_store(&stop, 1);
        for (int i = 0; i < 3; i++)
                pthread_join(th[i], NULL);
        char buf[64], err[256];
        T_EQ_INT(tokenstore_get(shared_ts, "ws-race", buf, sizeof(buf), err,
                                sizeof(err)),
                 0);
        T_EQ_STR(buf, "bitwat_race_v39");
        T_EQ_INT(atomic_load(&bad_reads), 0);
        T_ASSERT(atomic_load(&good_reads) > 0);
        tokenstore_destroy(shared_ts);
}

int main(void) {
        if (!mkdtemp(root))
                return 1;
        snprintf(dir, sizeof(dir), "%s/secret", root);
        if (mkdir(dir, 0700) != 0)
                return 1;
        T_RUN(test_dir_k8s_rotation);
        T_RUN(test_dir_in_place_rewrite);
        T_RUN(test_dir_put_delete_missing);
        T_RUN(test_dir_path_escape_rejected);
        T_RUN(test_dir_bad_files);
        T_RUN(test_dir_concurrent_rotation);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
        if (system(cmd) != 0)
                return 1;
        return t_done();
}
