/* cmd/webhooks.c — `bitmon webhooks register|list|remove`: an app's
 * outgoing webhook to bitmon's intake (docs/webhooks.md). The Owner/Admin
 * token comes from stdin or the terminal, lives in one wiped buffer and is
 * never stored, printed or logged; the workspace's webhook secret lives in
 * the webhook.secrets store and is never printed either.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitrise/webhooks.h"
#include "cmd/cmd.h"
#include "cmd/connect.h"
#include "common/job.h"
#include "common/log.h"
#include "webhook/intake.h"

#define CMD       "bitmon webhooks"
#define INPUT_MAX (TOKENSTORE_TOKEN_MAX + 256)
#define SECRET_N  32 /* random bytes, sent as 64 hex digits */

enum {
        WH_EXIT_NOT_REGISTERED = 4,
        WH_EXIT_TOKEN_INVALID  = 10,
        WH_EXIT_ROLE           = 12,
        WH_EXIT_UNREACHABLE    = 14,
        WH_EXIT_RATE_LIMITED   = 15,
        WH_EXIT_UNEXPECTED     = 16,
        WH_EXIT_APP_NOT_FOUND  = 17,
};

typedef struct wh_cmd {
        connect_args_t args;
        const char *verb, *ws, *app, *url, *slug;
        config_t *cfg;
        cache_redis_t *rc;
        tokenstore_t *secrets;
        bitrise_client_t *client;
} wh_cmd_t;

static void usage(FILE *f) {
        fprintf(f,
                "usage: bitmon webhooks register --workspace W --app A --url "
                "URL [options]\n"
                "       bitmon webhooks list     --workspace W --app A "
                "[options]\n"
                "       bitmon webhooks remove   --workspace W --app A (--url "
                "URL | --slug S) [options]\n"
                "The app's Owner/Admin token is read from stdin (or typed, "
                "hidden); it is never stored.\n"
                "  --url URL      where Bitrise posts: the intake's public "
                "address + " WEBHOOK_PATH "\n"
                "  --slug S       remove this webhook (else the one whose URL "
                "is --url)\n"
                "  --config FILE  configuration file (default: "
                "$BITMON_CONFIG)\n"
                "  -X key=value   set a configuration key (repeatable)\n"
                "exit: 0 ok, 4 no such webhook, 10 token_invalid, 12 "
                "insufficient_role (need Owner/Admin), 14 unreachable, 15 "
                "rate_limited, 16 unexpected_answer, 17 app_not_found; 2 "
                "usage or configuration, 3 secrets store\n");
}

static int parse(wh_cmd_t *c, int argc, char **argv) {
        if (argc < 2)
                return -1;
        c->verb = argv[1];
        if (!strcmp(c->verb, "-h") || !strcmp(c->verb, "--help"))
                return 1;
        if (strcmp(c->verb, "register") && strcmp(c->verb, "list") &&
            strcmp(c->verb, "remove"))
                return -1;
        for (int i = 2; i < argc; i++) {
                int r = connect_args_common(&c->args, CMD, argc, argv, &i);
                if (!r)
                        r = connect_args_value(CMD, "--workspace", argc, argv,
                                               &i, &c->ws);
                if (!r)
                        r = connect_args_value(CMD, "--app", argc, argv, &i,
                                               &c->app);
                if (!r)
                        r = connect_args_value(CMD, "--url", argc, argv, &i,
                                               &c->url);
                if (!r)
                        r = connect_args_value(CMD, "--slug", argc, argv, &i,
                                               &c->slug);
                if (r < 0)
                        return -1;
                if (r == 0) {
                        fprintf(stderr, CMD ": unknown option '%s'\n", argv[i]);
                        return -1;
                }
        }
        if (!c->ws || !tokenstore_ws_valid(c->ws) || !c->app ||
            !job_slug_valid(c->app)) {
                fprintf(stderr, CMD ": --workspace W (a workspace id) and "
                                    "--app A (16 hex digits or a UUID) are "
                                    "required\n");
                return -1;
        }
        if ((!strcmp(c->verb, "register") && !c->url) ||
            (!strcmp(c->verb, "remove") && !c->url && !c->slug)) {
                fprintf(stderr, CMD " %s: --url%s is required\n", c->verb,
                        strcmp(c->verb, "remove") ? "" : " or --slug");
                return -1;
        }
        if (c->url && strncmp(c->url, "https://", 8) &&
            strncmp(c->url, "http://", 7)) {
                fprintf(stderr, CMD ": --url must be an http(s) URL\n");
                return -1;
        }
        return 0;
}

/* The configuration, the secrets store and the Bitrise client. */
static int open_env(wh_cmd_t *c) {
        char err[512];
        if (!(c->cfg =
                  cmd_config_load(c->args.file, c->args.xargs, c->args.nx)))
                return CONNECT_EXIT_USAGE;
        log_setup(LOG_LVL_WARN, LOG_FMT_AUTO, 2);
        const char *spec = config_str(c->cfg, "webhook.secrets");
        if (!strcmp(spec, "redis")) {
                cache_redis_opts_t ro = cmd_redis_opts(c->cfg, "webhooks");
                if (!(c->rc = cache_redis_new(&ro, err, sizeof(err)))) {
                        fprintf(stderr, CMD ": redis: %s\n", err);
                        return CONNECT_EXIT_USAGE;
                }
        }
        tokenstore_opts_t so = {
            .rc         = c->rc,
            .key_file   = config_str(c->cfg, "tokens.key_file"),
            .redis_name = WEBHOOK_SECRETS_KEYNAME,
        };
        if (!(c->secrets = tokenstore_new(spec, &so, err, sizeof(err)))) {
                fprintf(stderr,
                        CMD ": cannot open the webhook secrets store "
                            "%s: %s\n",
                        spec, err);
                return CONNECT_EXIT_STORE;
        }
        const char *ca          = config_str(c->cfg, "bitrise.ca_file");
        bitrise_client_opts_t o = {
            .base_url   = config_str(c->cfg, "bitrise.base_url"),
            .ca_file    = *ca ? ca : NULL,
            .timeout_ms = (long)config_int(c->cfg, "bitrise.timeout_ms"),
        };
        if (!(c->client = bitrise_client_new(&o, err, sizeof(err)))) {
                fprintf(stderr, CMD ": %s\n", err);
                return CONNECT_EXIT_USAGE;
        }
        return 0;
}

static void close_env(wh_cmd_t *c) {
        bitrise_client_destroy(c->client);
        tokenstore_destroy(c->secrets);
        cache_redis_destroy(c->rc);
        config_destroy(c->cfg);
}

/* A verdict for a failed call, in the words of the fix. */
static int fail(const wh_cmd_t *c, const bitrise_result_t *res) {
        static const struct {
                bitrise_class_t cls;
                int exit;
                const char *fix;
        } v[] = {
            {BITRISE_TOKEN_INVALID, WH_EXIT_TOKEN_INVALID,
             "the token was refused (401): mistyped, expired or revoked"},
            {BITRISE_INSUFFICIENT_ROLE, WH_EXIT_ROLE,
             "the token's role is too low (403): webhooks need an Owner or "
             "Admin token of the app (the workspace's monitoring token is a "
             "Developer token and cannot manage them)"},
            {BITRISE_NOT_FOUND, WH_EXIT_APP_NOT_FOUND,
             "the app is unknown or not visible to this token (404)"},
            {BITRISE_RATE_LIMITED, WH_EXIT_RATE_LIMITED,
             "Bitrise rate-limited the token (429): try again later"},
            {BITRISE_TRANSIENT, WH_EXIT_UNREACHABLE,
             "Bitrise is unreachable or failing: check bitrise.base_url and "
             "the network, then retry"},
        };
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
                if (v[i].cls == res->cls) {
                        fprintf(stderr, CMD " %s: %s\n  (%s)\n", c->verb,
                                v[i].fix, res->message);
                        return v[i].exit;
                }
        fprintf(stderr, CMD " %s: unexpected answer: %s\n", c->verb,
                res->message);
        return WH_EXIT_UNEXPECTED;
}

/* The stored secret of the workspace, or a new one stored now (before
 * Bitrise learns it, so a webhook never carries a secret nobody has). */
static int secret_get(wh_cmd_t *c, char *buf, size_t size, bool *created) {
        char err[512];
        unsigned char raw[SECRET_N];
        int rc = tokenstore_get(c->secrets, c->ws, buf, size, err, sizeof(err));
        *created = false;
        if (rc == 0)
                return 0;
        if (rc != CACHE_E_NOTFOUND || RAND_bytes(raw, sizeof(raw)) != 1) {
                fprintf(stderr, CMD " register: %s\n",
                        rc ? err : "no randomness");
                return CONNECT_EXIT_STORE;
        }
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(buf + 2 * i, size - 2 * i, "%02x", raw[i]);
        OPENSSL_cleanse(raw, sizeof(raw));
        rc = tokenstore_put(c->secrets, c->ws, buf, strlen(buf), err,
                            sizeof(err));
        if (rc) {
                fprintf(stderr, CMD " register: cannot store the secret: %s\n",
                        err);
                return CONNECT_EXIT_STORE;
        }
        *created = true;
        return 0;
}

static const bitrise_webhook_t *find(const bitrise_webhook_list_t *l,
                                     const char *url, const char *slug) {
        for (size_t i = 0; i < l->n; i++)
                if ((slug && l->items[i].slug &&
                     !strcmp(l->items[i].slug, slug)) ||
                    (!slug && url && l->items[i].url &&
                     !strcmp(l->items[i].url, url)))
                        return &l->items[i];
        return NULL;
}

static int do_register(wh_cmd_t *c, const char *token) {
        char secret[TOKENSTORE_TOKEN_MAX + 1], slug[64] = "";
        bitrise_webhook_list_t l;
        bitrise_result_t res = {0};
        bool created         = false;
        int rc               = 0;
        if (bitrise_webhooks_list(c->client, token, c->app, &l, &res) !=
            BITRISE_OK) {
                rc = fail(c, &res);
                goto out;
        }
        if ((rc = secret_get(c, secret, sizeof(secret), &created)) != 0)
                goto out;
        const bitrise_webhook_t *w = find(&l, c->url, NULL);
        bitrise_result_release(&res);
        if (bitrise_webhook_put(c->client, token, c->app, w ? w->slug : NULL,
                                c->url, c->ws, secret, slug,
                                &res) != BITRISE_OK) {
                rc = fail(c, &res);
                goto out;
        }
        printf("ok: webhook %s for app %s -> %s (slug %s; events "
               "build/triggered,build/finished; headers " WEBHOOK_HDR_WORKSPACE
               ", " WEBHOOK_HDR_SECRET ")\n"
               "secret of workspace %s: %s in %s (never printed)\n",
               w ? "updated" : "created", c->app, c->url, slug[0] ? slug : "?",
               c->ws, created ? "new, stored" : "reused from",
               config_str(c->cfg, "webhook.secrets"));
out:
        OPENSSL_cleanse(secret, sizeof(secret));
        bitrise_result_release(&res);
        bitrise_webhook_list_release(&l);
        return rc;
}

static void print_deliveries(const wh_cmd_t *c, const char *token,
                             const char *slug) {
        bitrise_delivery_list_t d;
        bitrise_result_t res = {0};
        if (bitrise_webhook_deliveries(c->client, token, c->app, slug, 10, &d,
                                       &res) != BITRISE_OK) {
                printf("    deliveries: cannot list them: %s\n", res.message);
                bitrise_result_release(&res);
                return;
        }
        size_t failed = 0;
        for (size_t i = 0; i < d.n; i++)
                failed += d.items[i].http_status < 200 ||
                          d.items[i].http_status >= 300;
        printf("    deliveries: %zu recent, %zu failed%s\n", d.n, failed,
               failed ? " (Bitrise does not retry: the safety poll catches "
                        "those builds)"
                      : "");
        for (size_t i = 0; i < d.n; i++) {
                const bitrise_delivery_t *x = &d.items[i];
                bool bad = x->http_status < 200 || x->http_status >= 300;
                printf("    %s %-20s http=%ld s=%ld build=%s\n",
                       bad ? "FAILED" : "ok    ",
                       x->created_at ? x->created_at : "?", x->http_status,
                       x->seconds, x->build_slug[0] ? x->build_slug : "?");
        }
        bitrise_delivery_list_release(&d);
        bitrise_result_release(&res);
}

static int do_list(wh_cmd_t *c, const char *token) {
        bitrise_webhook_list_t l;
        bitrise_result_t res = {0};
        if (bitrise_webhooks_list(c->client, token, c->app, &l, &res) !=
            BITRISE_OK) {
                int rc = fail(c, &res);
                bitrise_result_release(&res);
                return rc;
        }
        printf("app %s: %zu outgoing webhook(s)\n", c->app, l.n);
        for (size_t i = 0; i < l.n; i++) {
                const bitrise_webhook_t *w = &l.items[i];
                printf("  %s %s%s\n    events=%s headers=%s\n",
                       w->slug ? w->slug : "?", w->url ? w->url : "?",
                       w->bitmon_headers ? " (bitmon)" : "",
                       w->events[0] ? w->events : "-",
                       w->header_names[0] ? w->header_names : "-");
                if (w->slug)
                        print_deliveries(c, token, w->slug);
        }
        bitrise_result_release(&res);
        bitrise_webhook_list_release(&l);
        return 0;
}

static int do_remove(wh_cmd_t *c, const char *token) {
        bitrise_webhook_list_t l;
        bitrise_result_t res = {0};
        int rc               = 0;
        if (bitrise_webhooks_list(c->client, token, c->app, &l, &res) !=
            BITRISE_OK) {
                rc = fail(c, &res);
                goto out;
        }
        const bitrise_webhook_t *w = find(&l, c->url, c->slug);
        if (!w || !w->slug) {
                fprintf(stderr,
                        CMD " remove: app %s has no webhook %s %s "
                            "(see bitmon webhooks list)\n",
                        c->app, c->slug ? "with slug" : "to",
                        c->slug ? c->slug : c->url);
                rc = WH_EXIT_NOT_REGISTERED;
                goto out;
        }
        bitrise_result_release(&res);
        if (bitrise_webhook_delete(c->client, token, c->app, w->slug, &res) !=
            BITRISE_OK) {
                rc = fail(c, &res);
                goto out;
        }
        printf("ok: webhook %s of app %s removed (the workspace's secret "
               "stays: other apps may use it)\n",
               w->slug, c->app);
out:
        bitrise_result_release(&res);
        bitrise_webhook_list_release(&l);
        return rc;
}

static int run(wh_cmd_t *c, char *token, size_t size) {
        char err[512];
        int rc = open_env(c);
        if (rc)
                return rc;
        if (connect_token_read(c->ws, token, size, err, sizeof(err)) < 0) {
                fprintf(stderr, CMD ": %s\n", err);
                return CONNECT_EXIT_USAGE;
        }
        if (!strcmp(c->verb, "register"))
                return do_register(c, token);
        if (!strcmp(c->verb, "list"))
                return do_list(c, token);
        return do_remove(c, token);
}

int cmd_webhooks(int argc, char **argv) {
        wh_cmd_t c  = {0};
        char *token = NULL;
        int rc      = CONNECT_EXIT_USAGE;
        if (connect_args_init(&c.args, argc))
                return CONNECT_EXIT_ERROR;
        int p = parse(&c, argc, argv);
        if (p != 0) {
                usage(p > 0 ? stdout : stderr);
                rc = p > 0 ? 0 : CONNECT_EXIT_USAGE;
                goto out;
        }
        token = OPENSSL_secure_zalloc(INPUT_MAX);
        rc    = token ? run(&c, token, INPUT_MAX) : CONNECT_EXIT_ERROR;
        if (fflush(stdout) != 0)
                rc = CONNECT_EXIT_ERROR;
out:
        OPENSSL_secure_clear_free(token, INPUT_MAX);
        close_env(&c);
        connect_args_release(&c.args);
        return rc;
}
