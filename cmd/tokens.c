/* cmd/tokens.c — `bitmon tokens list` (workspaces with a stored token and
 * each token's fingerprint, never the token) and `bitmon tokens rekey`
 * (re-encrypt the redis store's tokens under the current key after a key
 * rotation, with counts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "cache/tokencrypt.h"
#include "cmd/cmd.h"
#include "cmd/connect.h"

#define CMD_TOKENS "bitmon tokens"

static void usage(FILE *f) {
        fprintf(f,
                "usage: bitmon tokens list|rekey [--json] [options]\n"
                "  list   workspaces with a stored token and its fingerprint "
                "(never the token)\n"
                "  rekey  re-encrypt every token of the redis store under "
                "tokens.key_file\n"
                "         (after a rotation: old key in "
                "tokens.old_key_files)\n"
                "  --config FILE, -X key=value  as for every command\n"
                "exit: 0 ok, 2 usage or configuration, 3 token store (also "
                "when a token cannot be read or re-encrypted)\n");
}

/* ---- list ---------------------------------------------------------------- */

typedef struct names {
        char **v;
        size_t n, cap;
} names_t;

static int names_add(const char *ws, void *opaque) {
        names_t *nm = opaque;
        if (nm->n == nm->cap) {
                size_t cap = nm->cap ? nm->cap * 2 : 16;
                char **v   = realloc(nm->v, cap * sizeof(*v));
                if (!v)
                        return CONNECT_EXIT_ERROR;
                nm->v   = v;
                nm->cap = cap;
        }
        if (!(nm->v[nm->n] = strdup(ws)))
                return CONNECT_EXIT_ERROR;
        nm->n++;
        return 0;
}

static int names_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_release(names_t *nm) {
        for (size_t i = 0; i < nm->n; i++)
                free(nm->v[i]);
        free(nm->v);
        memset(nm, 0, sizeof(*nm));
}

/* Every workspace of the store, sorted, without duplicates (SCAN may
 * repeat). 0 or an exit code (printed). */
static int names_load(const connect_env_t *env, names_t *nm) {
        char err[512];
        memset(nm, 0, sizeof(*nm));
        int e = tokenstore_list(env->ts, names_add, nm, err, sizeof(err));
        if (e == CONNECT_EXIT_ERROR) {
                fprintf(stderr, CMD_TOKENS ": out of memory\n");
                return e;
        }
        if (e) {
                fprintf(stderr, CMD_TOKENS ": %s\n", err);
                return CONNECT_EXIT_STORE;
        }
        if (nm->n)
                qsort(nm->v, nm->n, sizeof(*nm->v), names_cmp);
        size_t w = 0;
        for (size_t i = 0; i < nm->n; i++) {
                if (w && strcmp(nm->v[w - 1], nm->v[i]) == 0)
                        free(nm->v[i]);
                else
                        nm->v[w++] = nm->v[i];
        }
        nm->n = w;
        return 0;
}

/* The fingerprint of ws's token into fp, or -1 with errstr. */
static int fp_of(const connect_env_t *env, const char *ws, cache_fp_t *fp,
                 char *errstr, size_t errstr_size) {
        char buf[TOKENSTORE_TOKEN_MAX + 1];
        int e =
            tokenstore_get(env->ts, ws, buf, sizeof(buf), errstr, errstr_size);
        if (!e && connect_env_fp(env, buf, strlen(buf), fp) != 0) {
                snprintf(errstr, errstr_size, "cannot compute fingerprint");
                e = -1;
        }
        OPENSSL_cleanse(buf, sizeof(buf));
        return e ? -1 : 0;
}

static int list(const connect_env_t *env, bool json) {
        names_t nm;
        size_t bad = 0;
        int rc     = names_load(env, &nm);
        cJSON *arr = json ? cJSON_CreateArray() : NULL;
        if (rc || (json && !arr))
                goto out;
        if (!json && nm.n)
                printf("%-40s %s\n", "WORKSPACE", "FINGERPRINT");
        for (size_t i = 0; i < nm.n; i++) {
                char err[512];
                cache_fp_t fp;
                int e = fp_of(env, nm.v[i], &fp, err, sizeof(err));
                bad += e != 0;
                if (json) {
                        cJSON *o = cJSON_CreateObject();
                        cJSON_AddItemToArray(arr, o);
                        cJSON_AddStringToObject(o, "workspace", nm.v[i]);
                        cJSON_AddStringToObject(o, e ? "error" : "fingerprint",
                                                e ? err : fp.log);
                } else {
                        printf("%-40s %s\n", nm.v[i], e ? "-" : fp.log);
                        if (e)
                                fprintf(stderr, CMD_TOKENS ": %s\n", err);
                }
        }
        if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "store", env->spec);
                cJSON_AddItemToObject(o, "tokens", arr);
                arr     = NULL;
                char *s = cJSON_PrintUnformatted(o);
                cJSON_Delete(o);
                if (s)
                        printf("%s\n", s);
                free(s);
        } else {
                printf("%zu token%s in %s%s\n", nm.n, nm.n == 1 ? "" : "s",
                       env->spec, bad ? " (some unreadable, see above)" : "");
        }
        rc = bad ? CONNECT_EXIT_STORE : 0;
out:
        cJSON_Delete(arr);
        names_release(&nm);
        return rc;
}

/* ---- rekey --------------------------------------------------------------- */

static int rekey(const connect_env_t *env, bool json) {
        char err[512], kid[TOKENCRYPT_KEYID_LEN + 1] = "";
        size_t rekeyed = 0, failed = 0;
        names_t nm;
        if (strcmp(env->spec, "redis") != 0) {
                fprintf(stderr,
                        CMD_TOKENS ": rekey: tokens.store is %s; only the "
                                   "redis store is encrypted\n",
                        env->spec);
                return CONNECT_EXIT_USAGE;
        }
        tokencrypt_keyring_t *kr = tokencrypt_keyring_load(
            config_str(env->cfg, "tokens.key_file"), NULL, 0, err, sizeof(err));
        if (kr)
                snprintf(kid, sizeof(kid), "%s",
                         tokencrypt_keyring_current_id(kr));
        tokencrypt_keyring_destroy(kr);
        int rc = names_load(env, &nm);
        if (rc)
                return rc;
        int e = tokenstore_rekey(env->ts, &rekeyed, &failed, err, sizeof(err));
        if (e && !failed) {
                fprintf(stderr, CMD_TOKENS ": %s\n", err);
                rc = CONNECT_EXIT_STORE;
                goto out;
        }
        size_t current = nm.n > rekeyed + failed ? nm.n - rekeyed - failed : 0;
        if (json)
                printf("{\"key_id\":\"%s\",\"tokens\":%zu,\"rekeyed\":%zu,"
                       "\"already_current\":%zu,\"failed\":%zu}\n",
                       kid, nm.n, rekeyed, current, failed);
        else
                printf("%zu token%s in redis: %zu re-encrypted under key %s, "
                       "%zu already under it, %zu failed\n",
                       nm.n, nm.n == 1 ? "" : "s", rekeyed, kid, current,
                       failed);
        if (failed)
                fprintf(stderr,
                        CMD_TOKENS ": %zu token%s could not be opened with "
                                   "tokens.key_file or tokens.old_key_files "
                                   "(see the log lines above): add the key "
                                   "they were sealed with to "
                                   "tokens.old_key_files, or connect those "
                                   "workspaces again\n",
                        failed, failed == 1 ? "" : "s");
        rc = failed ? CONNECT_EXIT_STORE : 0;
out:
        names_release(&nm);
        return rc;
}

int cmd_tokens(int argc, char **argv) {
        connect_args_t a;
        connect_env_t env;
        const char *action = NULL;
        int rc             = CONNECT_EXIT_USAGE;
        if (connect_args_init(&a, argc))
                return CONNECT_EXIT_ERROR;
        for (int i = 1; i < argc; i++) {
                int r = connect_args_common(&a, CMD_TOKENS, argc, argv, &i);
                if (r < 0)
                        goto out;
                if (r > 0)
                        continue;
                if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                        usage(stdout);
                        rc = 0;
                        goto out;
                }
                if (action || (strcmp(argv[i], "list") != 0 &&
                               strcmp(argv[i], "rekey") != 0)) {
                        fprintf(stderr, CMD_TOKENS ": bad argument '%s'\n",
                                argv[i]);
                        usage(stderr);
                        goto out;
                }
                action = argv[i];
        }
        if (!action) {
                usage(stderr);
                goto out;
        }
        bool is_list = strcmp(action, "list") == 0;
        rc           = connect_env_open(&env, CMD_TOKENS, &a,
                              is_list ? CONNECT_ENV_FP : 0);
        if (!rc)
                rc = is_list ? list(&env, a.json) : rekey(&env, a.json);
        if (fflush(stdout) != 0 && !rc)
                rc = CONNECT_EXIT_ERROR;
        connect_env_close(&env);
out:
        connect_args_release(&a);
        return rc;
}
