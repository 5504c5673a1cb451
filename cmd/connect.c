/* cmd/connect.c — `bitmon connect` (check a workspace's Bitrise token and
 * store it when it works; --check re-checks the stored one) and `bitmon
 * disconnect` (remove it). The token is read from stdin or the terminal,
 * kept in one buffer that is wiped before exit, and named only by its
 * fingerprint. Verdicts and exit codes: docs/connect.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "cache/validity.h"
#include "cmd/cmd.h"
#include "cmd/connect.h"

#define CMD_CONNECT    "bitmon connect"
#define CMD_DISCONNECT "bitmon disconnect"
#define INPUT_MAX      (TOKENSTORE_TOKEN_MAX + 256) /* token + whitespace */

typedef struct connect_cmd {
        connect_args_t args;
        const char *ws;
        bool check, force, no_store;
} connect_cmd_t;

/* What happened to the token after the check. */
typedef struct outcome {
        bool stored;
        char store_error[1024]; /* "" unless storing failed */
        char note[512];         /* validity not recorded, ... */
} outcome_t;

static void usage(FILE *f) {
        fprintf(f,
                "usage: bitmon connect --workspace W [--force | --no-store] "
                "[--json] [options]\n"
                "       bitmon connect --check W [--json] [options]\n"
                "  --workspace W  check the token given on stdin (or typed, "
                "hidden) and store it for W when it works\n"
                "  --check W      re-check the token stored for W; stores "
                "nothing\n"
                "  --force        store the token even when the check fails\n"
                "  --no-store     check only (e.g. before putting the token "
                "in a Kubernetes Secret)\n"
                "  --json         print the verdict as one JSON object\n"
                "  --config FILE  configuration file (default: "
                "$BITMON_CONFIG)\n"
                "  -X key=value   set a configuration key (repeatable)\n"
                "exit: 0 ok, 10 token_invalid, 11 no_apps, 12 "
                "insufficient_role, 13 personal_token, 14 unreachable, 15 "
                "rate_limited, 16 unexpected_answer; 2 usage or "
                "configuration, 3 token store, 4 not connected\n");
}

static int parse(connect_cmd_t *c, int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                const char *v = NULL;
                int r =
                    connect_args_common(&c->args, CMD_CONNECT, argc, argv, &i);
                if (r == 0 && (r = connect_args_value(CMD_CONNECT, "--check",
                                                      argc, argv, &i, &v)) > 0)
                        c->check = true;
                if (r == 0)
                        r = connect_args_value(CMD_CONNECT, "--workspace", argc,
                                               argv, &i, &v);
                if (r < 0)
                        return -1;
                if (v) {
                        if (c->ws && strcmp(c->ws, v) != 0) {
                                fprintf(stderr,
                                        CMD_CONNECT ": give one workspace\n");
                                return -1;
                        }
                        c->ws = v;
                }
                if (r > 0)
                        continue;
                if (strcmp(argv[i], "--force") == 0)
                        c->force = true;
                else if (strcmp(argv[i], "--no-store") == 0)
                        c->no_store = true;
                else if (strcmp(argv[i], "-h") == 0 ||
                         strcmp(argv[i], "--help") == 0)
                        return 1;
                else {
                        fprintf(stderr, CMD_CONNECT ": bad argument '%s'\n",
                                argv[i]);
                        return -1;
                }
        }
        if (!c->ws) {
                fprintf(stderr, CMD_CONNECT ": --workspace W is required\n");
                return -1;
        }
        if ((c->check && (c->force || c->no_store)) ||
            (c->force && c->no_store)) {
                fprintf(stderr, CMD_CONNECT ": --check, --force and "
                                            "--no-store exclude each other\n");
                return -1;
        }
        if (!tokenstore_ws_valid(c->ws)) {
                fprintf(stderr,
                        CMD_CONNECT ": invalid workspace id '%s' (want 1-%d "
                                    "of A-Z a-z 0-9 _ . -, not starting with "
                                    "'.')\n",
                        c->ws, TOKENSTORE_WS_MAX);
                return -1;
        }
        return 0;
}

static bitrise_client_t *client_new(const config_t *cfg) {
        char err[512];
        const char *ca          = config_str(cfg, "bitrise.ca_file");
        bitrise_client_opts_t o = {
            .base_url = config_str(cfg, "bitrise.base_url"),
            .ca_file  = *ca ? ca : NULL,
            .connect_timeout_ms =
                (long)config_int(cfg, "bitrise.connect_timeout_ms"),
            .timeout_ms = (long)config_int(cfg, "bitrise.timeout_ms"),
            .low_speed_time_s =
                (long)config_int(cfg, "bitrise.low_speed_time_s"),
            .max_body_bytes = (size_t)config_int(cfg, "bitrise.max_body_bytes"),
        };
        bitrise_client_t *c = bitrise_client_new(&o, err, sizeof(err));
        if (!c)
                fprintf(stderr, CMD_CONNECT ": %s\n", err);
        return c;
}

static void check_opts(const config_t *cfg, const connect_cmd_t *c,
                       const bitrise_client_t *client, const char *fp,
                       connect_check_opts_t *o) {
        int64_t max_ms = config_int(cfg, "poll.backoff_max_s") * 1000;
        *o             = (connect_check_opts_t){
                        .client         = client,
                        .base_url       = config_str(cfg, "bitrise.base_url"),
                        .workspace      = c->ws,
                        .fp             = fp,
                        .attempts       = 3,
                        .backoff_ms     = (long)config_int(cfg, "poll.backoff_base_ms"),
                        .backoff_max_ms = (long)(max_ms < 10000 ? max_ms : 10000),
                        .jitter         = config_double(cfg, "poll.jitter"),
                        .max_pages      = 20,
                        .probe_apps     = 3,
                        .scan_apps      = 20,
        };
}

/* Records what Bitrise said in the validity cache. Never fatal: a note. */
static void validity_record(connect_env_t *env, const cache_fp_t *fp,
                            const connect_report_t *rep, outcome_t *out) {
        char err[256]            = "";
        int e                    = 0;
        cache_redis_t *rc        = connect_env_redis(env, err, sizeof(err));
        cache_validity_opts_t vo = {
            .valid_ttl_s   = (int)config_int(env->cfg, "cache.valid_ttl_s"),
            .invalid_ttl_s = (int)config_int(env->cfg, "cache.invalid_ttl_s"),
            .role_ttl_s    = (int)config_int(env->cfg, "cache.role_ttl_s")};
        if (!rc) {
                snprintf(out->note, sizeof(out->note),
                         "validity not recorded (%s): pods check the token on "
                         "first use",
                         err);
                return;
        }
        if (rep->seen_401)
                e = cache_validity_record(rc, &vo, fp, NULL, 401, err,
                                          sizeof(err));
        else if (rep->seen_2xx)
                e = cache_validity_record(rc, &vo, fp, NULL, 200, err,
                                          sizeof(err));
        if (!e && rep->role_app[0])
                e = cache_validity_record(rc, &vo, fp, rep->role_app, 403, err,
                                          sizeof(err));
        if (e && e != CACHE_E_REFUSED)
                snprintf(out->note, sizeof(out->note),
                         "validity not recorded (%s): pods check the token on "
                         "first use",
                         err);
}

static void store(const connect_env_t *env, const connect_cmd_t *c,
                  const char *token, size_t len, outcome_t *out) {
        char err[1024];
        if (connect_env_store_readonly(env, "add", c->ws, err, sizeof(err))) {
                snprintf(out->store_error, sizeof(out->store_error), "%s", err);
                return;
        }
        if (tokenstore_put(env->ts, c->ws, token, len, err, sizeof(err)))
                snprintf(out->store_error, sizeof(out->store_error), "%s", err);
        else
                out->stored = true;
}

static const char *kind_name(bitrise_token_kind_t k) {
        return k == BITRISE_TOKEN_WORKSPACE  ? "workspace"
               : k == BITRISE_TOKEN_PERSONAL ? "personal"
                                             : "legacy_personal";
}

static const char *kind_text(bitrise_token_kind_t k) {
        return k == BITRISE_TOKEN_WORKSPACE  ? "Workspace API token"
               : k == BITRISE_TOKEN_PERSONAL ? "personal access token"
                                             : "older personal access token";
}

static int print_json(const connect_cmd_t *c, const char *fp,
                      const connect_report_t *rep, const outcome_t *out,
                      int exit_code) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
                return -1;
        cJSON_AddStringToObject(o, "verdict",
                                connect_verdict_name(rep->verdict));
        cJSON_AddStringToObject(o, "workspace", c->ws);
        cJSON_AddStringToObject(o, "fingerprint", fp);
        cJSON_AddStringToObject(o, "token_kind", kind_name(rep->kind));
        if (rep->apps_visible >= 0)
                cJSON_AddNumberToObject(o, "apps_visible",
                                        (double)rep->apps_visible);
        else
                cJSON_AddNullToObject(o, "apps_visible");
        cJSON_AddBoolToObject(o, "apps_visible_more", rep->apps_more);
        if (rep->logs_read)
                cJSON_AddStringToObject(o, "log_checked_app", rep->log_app);
        else
                cJSON_AddNullToObject(o, "log_checked_app");
        cJSON_AddStringToObject(o, "message", rep->message);
        if (rep->fix[0])
                cJSON_AddStringToObject(o, "fix", rep->fix);
        else
                cJSON_AddNullToObject(o, "fix");
        cJSON_AddBoolToObject(o, "checked_stored", c->check);
        cJSON_AddBoolToObject(o, "stored", out->stored);
        if (out->store_error[0])
                cJSON_AddStringToObject(o, "store_error", out->store_error);
        if (out->note[0])
                cJSON_AddStringToObject(o, "note", out->note);
        cJSON_AddNumberToObject(o, "exit_code", exit_code);
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!s)
                return -1;
        printf("%s\n", s);
        free(s);
        return 0;
}

static void print_text(const connect_env_t *env, const connect_cmd_t *c,
                       const char *fp, const connect_report_t *rep,
                       const outcome_t *out) {
        printf("workspace %s, token %s (%s)\n", c->ws, fp,
               kind_text(rep->kind));
        printf("%s: %s\n", connect_verdict_name(rep->verdict), rep->message);
        if (rep->logs_read && rep->verdict != CONNECT_INSUFFICIENT_ROLE)
                printf("  build log read in app %s\n", rep->log_app);
        if (rep->fix[0])
                printf("fix: %s\n", rep->fix);
        if (c->check)
                printf("checked the token stored in %s; nothing changed\n",
                       env->spec);
        else if (out->stored)
                printf("stored in %s%s\n", env->spec,
                       rep->verdict == CONNECT_OK ? "" : " anyway (--force)");
        else if (c->no_store)
                printf("not stored (--no-store)\n");
        else if (!out->store_error[0])
                printf("not stored: fix the token and run bitmon connect "
                       "again (--force stores it anyway)\n");
        if (out->store_error[0])
                fprintf(stderr, CMD_CONNECT ": cannot store the token: %s\n",
                        out->store_error);
        if (out->note[0])
                fprintf(stderr, CMD_CONNECT ": note: %s\n", out->note);
}

/* The token: read from the input, or (--check) from the store. Returns its
 * length, or -exit code. */
static int token_get(const connect_env_t *env, const connect_cmd_t *c,
                     char *buf, size_t size) {
        char err[512];
        int n;
        if (!c->check) {
                n = connect_token_read(c->ws, buf, size, err, sizeof(err));
                if (n < 0)
                        fprintf(stderr, CMD_CONNECT ": %s\n", err);
                return n < 0 ? -CONNECT_EXIT_USAGE : n;
        }
        n = tokenstore_get(env->ts, c->ws, buf, size, err, sizeof(err));
        if (n == CACHE_E_NOTFOUND) {
                fprintf(stderr,
                        CMD_CONNECT ": workspace %s is not connected: no "
                                    "token stored in %s; run bitmon connect "
                                    "--workspace %s\n",
                        c->ws, env->spec, c->ws);
                return -CONNECT_EXIT_NOT_CONNECTED;
        }
        if (n) {
                fprintf(stderr, CMD_CONNECT ": %s\n", err);
                return -CONNECT_EXIT_STORE;
        }
        return (int)strlen(buf);
}

static int run(connect_cmd_t *c, char *token, size_t size) {
        connect_env_t env;
        connect_check_opts_t o;
        connect_report_t rep;
        outcome_t out = {0};
        cache_fp_t fp;
        bitrise_client_t *client = NULL;
        int rc = connect_env_open(&env, CMD_CONNECT, &c->args, CONNECT_ENV_FP);
        if (rc)
                goto done;
        if (env.rc && !c->no_store && !cache_redis_is_up(env.rc)) {
                /* Say it before asking for a token we could not store. */
                fprintf(stderr,
                        CMD_CONNECT ": token store redis: %s:%lld is "
                                    "unreachable\n",
                        config_str(env.cfg, "redis.host"),
                        (long long)config_int(env.cfg, "redis.port"));
                rc = CONNECT_EXIT_STORE;
                goto done;
        }
        int n = token_get(&env, c, token, size);
        if (n < 0) {
                rc = -n;
                goto done;
        }
        rc = CONNECT_EXIT_ERROR;
        if (connect_env_fp(&env, token, (size_t)n, &fp) ||
            !(client = client_new(env.cfg)))
                goto done;
        check_opts(env.cfg, c, client, fp.log, &o);
        connect_check_run(&o, token, &rep);
        if (!c->check && !c->no_store &&
            (rep.verdict == CONNECT_OK || c->force))
                store(&env, c, token, (size_t)n, &out);
        if (c->check || out.stored)
                validity_record(&env, &fp, &rep, &out);
        rc = out.store_error[0] ? CONNECT_EXIT_STORE
                                : connect_verdict_exit(rep.verdict);
        if (c->args.json)
                print_json(c, fp.log, &rep, &out, rc);
        if (!c->args.json || out.store_error[0])
                print_text(&env, c, fp.log, &rep, &out);
        if (fflush(stdout) != 0)
                rc = CONNECT_EXIT_ERROR;
done:
        bitrise_client_destroy(client);
        connect_env_close(&env);
        return rc;
}

int cmd_connect(int argc, char **argv) {
        connect_cmd_t c = {0};
        char *token     = NULL;
        int rc          = CONNECT_EXIT_USAGE;
        if (connect_args_init(&c.args, argc))
                return CONNECT_EXIT_ERROR;
        int p = parse(&c, argc, argv);
        if (p != 0) {
                usage(p > 0 ? stdout : stderr);
                rc = p > 0 ? 0 : CONNECT_EXIT_USAGE;
                goto out;
        }
        /* One buffer holds the token for the whole run; wiped at the end. */
        token = OPENSSL_secure_zalloc(INPUT_MAX);
        rc    = token ? run(&c, token, INPUT_MAX) : CONNECT_EXIT_ERROR;
out:
        OPENSSL_secure_clear_free(token, INPUT_MAX);
        connect_args_release(&c.args);
        return rc;
}

/* ---- disconnect ---------------------------------------------------------- */

static void disconnect_usage(FILE *f) {
        fprintf(f, "usage: bitmon disconnect W [--json] [options]\n"
                   "  removes the token stored for workspace W\n"
                   "  --config FILE, -X key=value  as for every command\n"
                   "exit: 0 removed (or none stored), 2 usage or "
                   "configuration, 3 token store\n");
}

static int disconnect_parse(connect_cmd_t *c, int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                const char *v = NULL;
                int r = connect_args_common(&c->args, CMD_DISCONNECT, argc,
                                            argv, &i);
                if (r == 0)
                        r = connect_args_value(CMD_DISCONNECT, "--workspace",
                                               argc, argv, &i, &v);
                if (r < 0)
                        return -1;
                if (r == 0 &&
                    (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")))
                        return 1;
                if (r == 0 && argv[i][0] != '-')
                        v = argv[i];
                else if (r == 0) {
                        fprintf(stderr, CMD_DISCONNECT ": bad argument '%s'\n",
                                argv[i]);
                        return -1;
                }
                if (v && c->ws) {
                        fprintf(stderr,
                                CMD_DISCONNECT ": give one workspace\n");
                        return -1;
                }
                if (v)
                        c->ws = v;
        }
        if (!c->ws || !tokenstore_ws_valid(c->ws)) {
                fprintf(stderr, CMD_DISCONNECT ": %s\n",
                        c->ws ? "invalid workspace id" : "workspace required");
                return -1;
        }
        return 0;
}

/* Removes the token (after checking there is one and that the store is
 * writable). *removed says whether one was there. Returns an exit code. */
static int disconnect_run(const connect_env_t *env, const char *ws,
                          bool *removed) {
        char err[1024], buf[TOKENSTORE_TOKEN_MAX + 1];
        int e = tokenstore_get(env->ts, ws, buf, sizeof(buf), err, sizeof(err));
        OPENSSL_cleanse(buf, sizeof(buf));
        *removed = false;
        if (e == CACHE_E_NOTFOUND)
                return 0;
        if (e == CACHE_E_DOWN) {
                fprintf(stderr, CMD_DISCONNECT ": %s\n", err);
                return CONNECT_EXIT_STORE;
        }
        /* Any other error (undecryptable, malformed file): remove it too. */
        if (connect_env_store_readonly(env, "remove", ws, err, sizeof(err)) ||
            tokenstore_delete(env->ts, ws, err, sizeof(err))) {
                fprintf(stderr, CMD_DISCONNECT ": %s\n", err);
                return CONNECT_EXIT_STORE;
        }
        *removed = true;
        return 0;
}

int cmd_disconnect(int argc, char **argv) {
        connect_cmd_t c = {0};
        connect_env_t env;
        bool removed = false;
        int rc       = CONNECT_EXIT_USAGE;
        if (connect_args_init(&c.args, argc))
                return CONNECT_EXIT_ERROR;
        int p = disconnect_parse(&c, argc, argv);
        if (p != 0) {
                disconnect_usage(p > 0 ? stdout : stderr);
                connect_args_release(&c.args);
                return p > 0 ? 0 : CONNECT_EXIT_USAGE;
        }
        rc = connect_env_open(&env, CMD_DISCONNECT, &c.args, 0);
        if (!rc)
                rc = disconnect_run(&env, c.ws, &removed);
        if (!rc && c.args.json)
                printf("{\"workspace\":\"%s\",\"removed\":%s}\n", c.ws,
                       removed ? "true" : "false");
        else if (!rc)
                printf(removed ? "removed the token of workspace %s from %s\n"
                               : "no token stored for workspace %s in %s: "
                                 "nothing to remove\n",
                       c.ws, env.spec);
        if (fflush(stdout) != 0 && !rc)
                rc = CONNECT_EXIT_ERROR;
        connect_env_close(&env);
        connect_args_release(&c.args);
        return rc;
}
