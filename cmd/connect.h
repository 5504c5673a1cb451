/* cmd/connect.h — shared by `bitmon connect`, `bitmon disconnect` and
 * `bitmon tokens` (internal to cmd/): the options they have in common, the
 * token store, fingerprint key and Redis opened from the configuration, the
 * token prompt, and the check of a token against Bitrise with its verdicts.
 *
 * Threads: everything here runs on main's thread (one command at a time).
 */
#ifndef BITMON_CMD_CONNECT_H
#define BITMON_CMD_CONNECT_H

#include <stdbool.h>
#include <stddef.h>

#include "bitrise/client.h"
#include "cache/fingerprint.h"
#include "cache/redis.h"
#include "cache/tokenstore.h"
#include "common/config.h"

/* Exit codes of connect, disconnect and tokens (docs/connect.md). A check
 * that ran exits with its verdict's code (10 and up); the others say why no
 * verdict could be given. */
enum {
        CONNECT_EXIT_OK    = 0,
        CONNECT_EXIT_ERROR = 1,         /* internal error (out of memory) */
        CONNECT_EXIT_USAGE = 2,         /* bad arguments or configuration */
        CONNECT_EXIT_STORE = 3,         /* token store unusable: read-only
                                         * Secret volume, Redis down, key */
        CONNECT_EXIT_NOT_CONNECTED = 4, /* --check: no token stored */
};

/* ---- options every command takes ---------------------------------------- */

typedef struct connect_args {
        const char *file; /* --config FILE; NULL = $BITMON_CONFIG */
        char **xargs;     /* -X key=value, borrowed from argv */
        size_t nx;
        bool json; /* --json */
} connect_args_t;

/* Allocates room for argc -X arguments. 0 or -1 (out of memory). Release
 * with connect_args_release. */
int connect_args_init(connect_args_t *a, int argc);
void connect_args_release(connect_args_t *a);

/* Consumes argv[*i] (and its value) when it is --config FILE, --file FILE,
 * -X key=value or --json: returns 1 and advances *i past the value. Returns
 * 0 when the option is not one of these, -1 (message printed, prefixed by
 * `cmd`) when its value is missing. */
int connect_args_common(connect_args_t *a, const char *cmd, int argc,
                        char **argv, int *i);

/* Consumes "--name VALUE" or "--name=VALUE": 1 with *out set, 0 when
 * argv[*i] is something else, -1 when the value is missing (printed). */
int connect_args_value(const char *cmd, const char *name, int argc, char **argv,
                       int *i, const char **out);

/* ---- what a command opens ------------------------------------------------ */

enum {
        CONNECT_ENV_FP = 1 << 0, /* load tokens.fingerprint_key_file */
};

typedef struct connect_env {
        config_t *cfg;
        cache_redis_t *rc; /* the store's (redis) or connect_env_redis's */
        tokenstore_t *ts;
        const char *spec; /* tokens.store, borrowed from cfg */
        unsigned char fp_key[CACHE_FP_KEY_MAX];
        int fp_key_len; /* 0 unless CONNECT_ENV_FP */
} connect_env_t;

/* Loads the configuration (cmd_config_load), sets up the logger (warn
 * unless log.level is configured: these are interactive commands), opens
 * Redis for a redis store, and the token store. On failure prints why to stderr
 * (prefixed by `cmd`) and returns CONNECT_EXIT_USAGE (configuration) or
 * CONNECT_EXIT_STORE; 0 on success. Release with connect_env_close even on
 * failure. */
int connect_env_open(connect_env_t *env, const char *cmd,
                     const connect_args_t *a, unsigned flags);
void connect_env_close(connect_env_t *env);

/* Redis for the validity cache: the store's connection, or (dir: store) one
 * opened now. NULL when Redis is down or unusable, with the reason in
 * errstr; a dir: store works without Redis, so this is never fatal. */
cache_redis_t *connect_env_redis(connect_env_t *env, char *errstr,
                                 size_t errstr_size);

/* The fingerprint of token[0..len) under the loaded key; 0 or -1. */
int connect_env_fp(const connect_env_t *env, const char *token, size_t len,
                   cache_fp_t *fp);

/* For a dir: store that cannot be written — a Kubernetes Secret volume
 * (PATH/..data exists) or a read-only file system — writes the operator's
 * instructions into why and returns true. `action` is "add" or "remove";
 * ws the workspace. False for writable dirs and the redis store. */
bool connect_env_store_readonly(const connect_env_t *env, const char *action,
                                const char *ws, char *why, size_t why_size);

/* Reads a token: all of stdin when it is not a terminal, else one line from
 * the terminal with echo off (prompt on stderr names the workspace; the
 * terminal is restored on every path, also on SIGINT/SIGTERM). Surrounding
 * whitespace is trimmed. Returns the length (> 0) with buf NUL-terminated, or
 * -1 with a reason in errstr (never containing the token) and buf wiped. */
int connect_token_read(const char *ws, char *buf, size_t size, char *errstr,
                       size_t errstr_size);

/* ---- the check ----------------------------------------------------------- */

typedef enum {
        CONNECT_OK = 0,
        CONNECT_TOKEN_INVALID,     /* 401: mistyped, expired, revoked */
        CONNECT_NO_APPS,           /* accepted, but reaches no app */
        CONNECT_INSUFFICIENT_ROLE, /* 403 on a build log: below Developer */
        CONNECT_PERSONAL_TOKEN,    /* works, but a personal access token */
        CONNECT_UNREACHABLE,       /* network errors or 5xx past retries */
        CONNECT_RATE_LIMITED,      /* 429 past retries */
        CONNECT_UNEXPECTED,        /* other 4xx, unparsable answers */
} connect_verdict_t;

/* "ok", "token_invalid", "no_apps", "insufficient_role", "personal_token",
 * "unreachable", "rate_limited", "unexpected_answer". */
const char *connect_verdict_name(connect_verdict_t v);
/* 0, then 10 + the verdict's position (10 token_invalid ... 16). */
int connect_verdict_exit(connect_verdict_t v);

typedef struct connect_check_opts {
        const bitrise_client_t *client;
        const char *base_url;  /* for messages */
        const char *workspace; /* for messages */
        const char *fp;        /* log fingerprint, for messages */
        int attempts;          /* per request, >= 1 */
        long backoff_ms;       /* first backoff; doubles */
        long backoff_max_ms;
        double jitter;  /* 0..1 */
        int max_pages;  /* pages of 50 apps counted */
        int probe_apps; /* apps with builds whose log is tried */
        int scan_apps;  /* apps looked at for builds at most */
} connect_check_opts_t;

typedef struct connect_report {
        connect_verdict_t verdict;
        bitrise_token_kind_t kind;
        long apps_visible; /* -1 when not known */
        bool apps_more;    /* more apps than max_pages counted */
        int logs_read;     /* apps whose build log was read */
        char log_app[128]; /* title (or slug) of the first such app */
        /* Authoritative answers, for the validity cache: a 2xx (the token
         * works), a 401, and the first app that answered 403 ("" = none). */
        bool seen_2xx, seen_401;
        char role_app[72];
        char message[640];
        char fix[768]; /* "" for ok */
} connect_report_t;

/* Checks token against Bitrise: accepted (GET /apps?limit=1), apps visible,
 * build logs readable on up to probe_apps apps that have builds, then the
 * token's kind. Transient failures and 429 are retried (attempts, backoff,
 * Retry-After up to backoff_max_ms). Fills *rep; never fails otherwise. */
void connect_check_run(const connect_check_opts_t *o, const char *token,
                       connect_report_t *rep);

#endif
