/* cmd/config.c — `bitmon config`: check a configuration, print the
 * effective values (secrets masked) or the reference of every key; and
 * cmd_config_load, which every command uses to load its configuration, and
 * cmd_redis_opts, the redis.* keys as the cache module takes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/config.h"

extern char **environ;

config_t *cmd_config_load(const char *file, char *const *xargs,
                          size_t n_xargs) {
        config_t *cfg = config_new();
        if (!cfg) {
                fprintf(stderr, "bitmon: out of memory\n");
                return NULL;
        }
        if (!file)
                file = getenv("BITMON_CONFIG");
        if (file && *file)
                config_load_file(cfg, file);
        config_load_env(cfg, (const char *const *)environ);
        for (size_t i = 0; i < n_xargs; i++)
                config_set_arg(cfg, xargs[i]);
        if (config_check(cfg) > 0) {
                fprintf(stderr, "bitmon: %zu configuration error%s:\n",
                        config_error_count(cfg),
                        config_error_count(cfg) == 1 ? "" : "s");
                config_errors_print(cfg, stderr, "  ");
                config_destroy(cfg);
                return NULL;
        }
        return cfg;
}

static void usage(FILE *f) {
        fprintf(f,
                "usage: bitmon config [--file FILE] [-X key=value]... "
                "--dump|--check|--reference\n"
                "  --dump       print the effective configuration, secrets "
                "masked\n"
                "  --check      validate; print every error (exit 2 on "
                "errors)\n"
                "  --reference  print the reference of every key (Markdown)\n"
                "  --file FILE  configuration file (default: $BITMON_CONFIG)\n"
                "  -X key=value set a key (repeatable; beats file and "
                "environment)\n");
}

enum action { ACT_NONE, ACT_DUMP, ACT_CHECK, ACT_REFERENCE };

int cmd_config(int argc, char **argv) {
        enum action act  = ACT_NONE;
        const char *file = NULL;
        char **xargs     = calloc((size_t)argc + 1, sizeof(*xargs));
        size_t nx        = 0;
        int rc           = 2;
        if (!xargs)
                return 1;
        for (int i = 1; i < argc; i++) {
                const char *a    = argv[i];
                enum action next = ACT_NONE;
                if (strcmp(a, "--dump") == 0)
                        next = ACT_DUMP;
                else if (strcmp(a, "--check") == 0)
                        next = ACT_CHECK;
                else if (strcmp(a, "--reference") == 0)
                        next = ACT_REFERENCE;
                else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        usage(stdout);
                        rc = 0;
                        goto out;
                } else if (strcmp(a, "--file") == 0 && i + 1 < argc)
                        file = argv[++i];
                else if (strncmp(a, "--file=", 7) == 0)
                        file = a + 7;
                else if (strcmp(a, "-X") == 0 && i + 1 < argc)
                        xargs[nx++] = argv[++i];
                else if (strncmp(a, "-X", 2) == 0 && a[2])
                        xargs[nx++] = argv[i] + 2;
                else {
                        fprintf(stderr, "bitmon config: bad argument '%s'\n",
                                a);
                        usage(stderr);
                        goto out;
                }
                if (next != ACT_NONE && act != ACT_NONE && act != next) {
                        fprintf(stderr, "bitmon config: give one of --dump, "
                                        "--check, --reference\n");
                        goto out;
                }
                if (next != ACT_NONE)
                        act = next;
        }
        if (act == ACT_NONE) {
                usage(stderr);
                goto out;
        }
        if (act == ACT_REFERENCE) {
                config_reference_md(stdout);
                rc = fflush(stdout) == 0 ? 0 : 1;
                goto out;
        }
        config_t *cfg = cmd_config_load(file, xargs, nx);
        if (!cfg)
                goto out;
        if (act == ACT_DUMP)
                config_dump(cfg, stdout);
        else
                printf("configuration ok\n");
        config_destroy(cfg);
        rc = fflush(stdout) == 0 ? 0 : 1;
out:
        free(xargs);
        return rc;
}

cache_redis_opts_t cmd_redis_opts(const config_t *cfg, const char *name) {
        return (cache_redis_opts_t){
            .host            = config_str(cfg, "redis.host"),
            .port            = (int)config_int(cfg, "redis.port"),
            .user            = config_str(cfg, "redis.user"),
            .password        = config_str(cfg, "redis.password"),
            .password_file   = config_str(cfg, "redis.password_file"),
            .tls             = config_bool(cfg, "redis.tls"),
            .tls_ca_file     = config_str(cfg, "redis.tls_ca_file"),
            .tls_ca_dir      = config_str(cfg, "redis.tls_ca_dir"),
            .tls_cert_file   = config_str(cfg, "redis.tls_cert_file"),
            .tls_key_file    = config_str(cfg, "redis.tls_key_file"),
            .tls_server_name = config_str(cfg, "redis.tls_server_name"),
            .db              = (int)config_int(cfg, "redis.db"),
            .prefix          = config_str(cfg, "redis.prefix"),
            .connect_timeout_ms =
                (int)config_int(cfg, "redis.connect_timeout_ms"),
            .command_timeout_ms =
                (int)config_int(cfg, "redis.command_timeout_ms"),
            .name = name,
        };
}
