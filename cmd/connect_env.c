/* cmd/connect_env.c — what connect, disconnect and tokens share: their
 * common options, the token store / fingerprint key / Redis opened from the
 * configuration, the read-only Secret volume check, and reading a token from
 * stdin or the terminal without echo.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <termios.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "cmd/cmd.h"
#include "cmd/connect.h"
#include "common/log.h"

/* ---- options ------------------------------------------------------------- */

int connect_args_init(connect_args_t *a, int argc) {
        memset(a, 0, sizeof(*a));
        a->xargs = calloc((size_t)argc + 1, sizeof(*a->xargs));
        return a->xargs ? 0 : -1;
}

void connect_args_release(connect_args_t *a) {
        free(a->xargs);
        a->xargs = NULL;
}

int connect_args_value(const char *cmd, const char *name, int argc, char **argv,
                       int *i, const char **out) {
        size_t n = strlen(name);
        if (strncmp(argv[*i], name, n) != 0)
                return 0;
        if (argv[*i][n] == '=') {
                *out = argv[*i] + n + 1;
                return 1;
        }
        if (argv[*i][n] != '\0')
                return 0;
        if (*i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", cmd, name);
                return -1;
        }
        *out = argv[++*i];
        return 1;
}

int connect_args_common(connect_args_t *a, const char *cmd, int argc,
                        char **argv, int *i) {
        const char *v = NULL;
        int r;
        if (strcmp(argv[*i], "--json") == 0) {
                a->json = true;
                return 1;
        }
        if ((r = connect_args_value(cmd, "--config", argc, argv, i, &v)) ||
            (r = connect_args_value(cmd, "--file", argc, argv, i, &v))) {
                if (r > 0)
                        a->file = v;
                return r;
        }
        if (strcmp(argv[*i], "-X") == 0) {
                if (*i + 1 >= argc) {
                        fprintf(stderr, "%s: -X needs key=value\n", cmd);
                        return -1;
                }
                a->xargs[a->nx++] = argv[++*i];
                return 1;
        }
        if (strncmp(argv[*i], "-X", 2) == 0) {
                a->xargs[a->nx++] = argv[*i] + 2;
                return 1;
        }
        return 0;
}

/* ---- environment --------------------------------------------------------- */

static void log_from_config(const config_t *cfg) {
        log_level_t lvl  = LOG_LVL_WARN;
        log_format_t fmt = LOG_FMT_AUTO;
        if (config_source_of(cfg, "log.level") != CONFIG_SRC_DEFAULT)
                log_level_parse(config_str(cfg, "log.level"), &lvl);
        log_format_parse(config_str(cfg, "log.format"), &fmt);
        log_setup(lvl, fmt, 2);
}

static cache_redis_t *redis_open(const config_t *cfg, char *errstr,
                                 size_t errstr_size) {
        cache_redis_opts_t o = cmd_redis_opts(cfg, "connect");
        return cache_redis_new(&o, errstr, errstr_size);
}

/* tokens.old_key_files split at commas (spaces trimmed) into env-owned
 * strings: *list and *n; 0 or -1 (out of memory). */
static int old_keys_split(const char *v, char ***list, size_t *n) {
        *list = NULL;
        *n    = 0;
        for (const char *p = v; *p;) {
                const char *e = strchr(p, ',');
                size_t len    = e ? (size_t)(e - p) : strlen(p);
                while (len && (*p == ' ' || *p == '\t'))
                        p++, len--;
                while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                        len--;
                if (len) {
                        char **nl = realloc(*list, (*n + 1) * sizeof(*nl));
                        if (!nl)
                                return -1;
                        *list = nl;
                        if (!((*list)[*n] = strndup(p, len)))
                                return -1;
                        ++*n;
                }
                p = e ? e + 1 : p + strlen(p);
        }
        return 0;
}

static int store_open(connect_env_t *env, const char *cmd) {
        char err[512], **old = NULL;
        size_t n_old = 0;
        int rc       = CONNECT_EXIT_ERROR;
        if (old_keys_split(config_str(env->cfg, "tokens.old_key_files"), &old,
                           &n_old) == 0) {
                tokenstore_opts_t o = {
                    .rc              = env->rc,
                    .key_file        = config_str(env->cfg, "tokens.key_file"),
                    .old_key_files   = (const char *const *)old,
                    .n_old_key_files = n_old};
                env->ts = tokenstore_new(env->spec, &o, err, sizeof(err));
                rc      = 0;
                if (!env->ts) {
                        fprintf(stderr, "%s: cannot open token store %s: %s\n",
                                cmd, env->spec, err);
                        rc = CONNECT_EXIT_STORE;
                }
        }
        for (size_t i = 0; i < n_old; i++)
                free(old[i]);
        free(old);
        return rc;
}

static int fp_key_open(connect_env_t *env, const char *cmd) {
        char err[512];
        const char *path = config_str(env->cfg, "tokens.fingerprint_key_file");
        if (!*path) {
                fprintf(stderr,
                        "%s: tokens.fingerprint_key_file is not set: tokens "
                        "are named by their fingerprint under the HMAC key "
                        "every pod shares (make one with: openssl rand -hex "
                        "32 > fingerprint.key)\n",
                        cmd);
                return CONNECT_EXIT_USAGE;
        }
        env->fp_key_len = cache_fp_key_load(
            path, env->fp_key, sizeof(env->fp_key), err, sizeof(err));
        if (env->fp_key_len < 0) {
                env->fp_key_len = 0;
                fprintf(stderr, "%s: %s\n", cmd, err);
                return CONNECT_EXIT_USAGE;
        }
        return 0;
}

int connect_env_open(connect_env_t *env, const char *cmd,
                     const connect_args_t *a, unsigned flags) {
        char err[512];
        int rc;
        memset(env, 0, sizeof(*env));
        env->cfg = cmd_config_load(a->file, a->xargs, a->nx);
        if (!env->cfg)
                return CONNECT_EXIT_USAGE;
        log_from_config(env->cfg);
        env->spec = config_str(env->cfg, "tokens.store");
        if ((flags & CONNECT_ENV_FP) && (rc = fp_key_open(env, cmd)) != 0)
                return rc;
        if (strcmp(env->spec, "redis") == 0) {
                env->rc = redis_open(env->cfg, err, sizeof(err));
                if (!env->rc) {
                        fprintf(stderr, "%s: redis: %s\n", cmd, err);
                        return CONNECT_EXIT_USAGE;
                }
        }
        return store_open(env, cmd);
}

cache_redis_t *connect_env_redis(connect_env_t *env, char *errstr,
                                 size_t errstr_size) {
        if (!env->rc) {
                /* Optional for a dir: store: the caller explains a failure
                 * in one line, so the cache's own warning is held back. */
                log_level_t saved = log_min_level;
                if (saved == LOG_LVL_WARN)
                        log_min_level = LOG_LVL_ERROR;
                env->rc       = redis_open(env->cfg, errstr, errstr_size);
                log_min_level = saved;
                if (!env->rc)
                        return NULL;
        }
        if (!cache_redis_is_up(env->rc)) {
                snprintf(errstr, errstr_size, "redis %s:%lld is unreachable",
                         config_str(env->cfg, "redis.host"),
                         (long long)config_int(env->cfg, "redis.port"));
                return NULL;
        }
        return env->rc;
}

void connect_env_close(connect_env_t *env) {
        tokenstore_destroy(env->ts);
        cache_redis_destroy(env->rc);
        config_destroy(env->cfg);
        OPENSSL_cleanse(env->fp_key, sizeof(env->fp_key));
        memset(env, 0, sizeof(*env));
}

int connect_env_fp(const connect_env_t *env, const char *token, size_t len,
                   cache_fp_t *fp) {
        return cache_fp_compute(env->fp_key, (size_t)env->fp_key_len, token,
                                len, fp);
}

bool connect_env_store_readonly(const connect_env_t *env, const char *action,
                                const char *ws, char *why, size_t why_size) {
        char path[4096];
        struct stat st;
        struct statvfs vfs;
        if (strncmp(env->spec, "dir:", 4) != 0)
                return false;
        const char *dir = env->spec + 4;
        snprintf(path, sizeof(path), "%s/..data", dir);
        bool secret = lstat(path, &st) == 0;
        if (!secret && !(statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)))
                return false;
        if (strcmp(action, "add") == 0)
                snprintf(why, why_size,
                         "%s is %s, so bitmon cannot write it: add the token "
                         "to the Secret instead (key = workspace id), e.g. "
                         "kubectl create secret generic bitmon-tokens "
                         "--from-file=%s=token.txt --dry-run=client -o yaml | "
                         "kubectl apply -f - (keeping the other keys); pods "
                         "pick it up without restart",
                         dir,
                         secret ? "a Kubernetes Secret volume (read-only)"
                                : "on a read-only file system",
                         ws);
        else
                snprintf(why, why_size,
                         "%s is %s, so bitmon cannot remove the token: remove "
                         "key %s from the Secret instead, e.g. kubectl patch "
                         "secret bitmon-tokens --type=json -p "
                         "'[{\"op\":\"remove\",\"path\":\"/data/%s\"}]'",
                         dir,
                         secret ? "a Kubernetes Secret volume (read-only)"
                                : "on a read-only file system",
                         ws, ws);
        return true;
}

/* ---- reading the token --------------------------------------------------- */

static struct termios tty_saved;
static volatile sig_atomic_t tty_changed;

static void tty_restore_on_signal(int sig) {
        if (tty_changed)
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
        signal(sig, SIG_DFL);
        raise(sig);
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
               c == '\f';
}

/* Reads up to size-1 bytes from fd; stops at a newline when `line`. Returns
 * the count, or -1 when the input is longer (or unreadable). */
static ssize_t read_bounded(int fd, char *buf, size_t size, bool line) {
        size_t n = 0;
        for (;;) {
                if (n == size - 1) {
                        char c;
                        ssize_t r = read(fd, &c, 1);
                        if (r == 0 || (line && r == 1 && c == '\n'))
                                return (ssize_t)n;
                        return -1; /* more: too long */
                }
                ssize_t r = read(fd, buf + n, line ? 1 : size - 1 - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -1;
                if (r == 0)
                        return (ssize_t)n;
                n += (size_t)r;
                if (line && buf[n - 1] == '\n')
                        return (ssize_t)n;
        }
}

static ssize_t read_tty(const char *ws, char *buf, size_t size, char *errstr,
                        size_t errstr_size) {
        struct termios t;
        struct sigaction sa = {.sa_handler = tty_restore_on_signal}, old[3];
        const int sigs[3]   = {SIGINT, SIGTERM, SIGHUP};
        if (tcgetattr(STDIN_FILENO, &tty_saved) != 0) {
                snprintf(errstr, errstr_size, "cannot read the terminal");
                return -1;
        }
        fprintf(stderr,
                "Paste the Workspace API token for workspace %s (input is "
                "hidden), then press Enter: ",
                ws);
        fflush(stderr);
        for (int i = 0; i < 3; i++)
                sigaction(sigs[i], &sa, &old[i]);
        t = tty_saved;
        t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        t.c_lflag |= ICANON;
        tty_changed = 1;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
        ssize_t n = read_bounded(STDIN_FILENO, buf, size, true);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
        tty_changed = 0;
        for (int i = 0; i < 3; i++)
                sigaction(sigs[i], &old[i], NULL);
        fputc('\n', stderr);
        if (n < 0)
                snprintf(errstr, errstr_size,
                         "the input is too long to be a token");
        return n;
}

int connect_token_read(const char *ws, char *buf, size_t size, char *errstr,
                       size_t errstr_size) {
        ssize_t n;
        if (isatty(STDIN_FILENO))
                n = read_tty(ws, buf, size, errstr, errstr_size);
        else if ((n = read_bounded(STDIN_FILENO, buf, size, false)) < 0)
                snprintf(errstr, errstr_size,
                         "the input on stdin is too long to be a token (at "
                         "most %d bytes)",
                         TOKENSTORE_TOKEN_MAX);
        if (n < 0)
                goto fail;
        size_t b = 0, e = (size_t)n;
        while (b < e && is_space(buf[b]))
                b++;
        while (e > b && is_space(buf[e - 1]))
                e--;
        memmove(buf, buf + b, e - b);
        OPENSSL_cleanse(buf + (e - b), size - (e - b));
        n = (ssize_t)(e - b);
        if (n > TOKENSTORE_TOKEN_MAX) {
                snprintf(errstr, errstr_size,
                         "the input is too long to be a token (at most %d "
                         "bytes)",
                         TOKENSTORE_TOKEN_MAX);
                goto fail;
        }
        if (n == 0) {
                snprintf(errstr, errstr_size,
                         "no token given: pipe it on stdin (bitmon connect "
                         "--workspace %s < token.txt) or paste it when asked",
                         ws);
                goto fail;
        }
        for (ssize_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)buf[i];
                if (c <= ' ' || c == 0x7f) {
                        snprintf(errstr, errstr_size,
                                 "the token contains spaces, line breaks or "
                                 "control characters: give only the token, "
                                 "on one line");
                        goto fail;
                }
        }
        return (int)n;
fail:
        OPENSSL_cleanse(buf, size);
        return -1;
}
