/* cmd/connect_check.c — what `bitmon connect` asks Bitrise about a token and
 * the verdict it draws: token accepted, apps visible, build logs readable,
 * token kind. Each verdict names the fix in the words of the setup guide.
 * The token is only ever passed to the client; messages name it by
 * fingerprint.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/connect.h"
#include "common/log.h"
#include "common/rand.h"

static const char *const verdict_names[] = {
    [CONNECT_OK]                = "ok",
    [CONNECT_TOKEN_INVALID]     = "token_invalid",
    [CONNECT_NO_APPS]           = "no_apps",
    [CONNECT_INSUFFICIENT_ROLE] = "insufficient_role",
    [CONNECT_PERSONAL_TOKEN]    = "personal_token",
    [CONNECT_UNREACHABLE]       = "unreachable",
    [CONNECT_RATE_LIMITED]      = "rate_limited",
    [CONNECT_UNEXPECTED]        = "unexpected_answer",
};

const char *connect_verdict_name(connect_verdict_t v) {
        return (unsigned)v < sizeof(verdict_names) / sizeof(verdict_names[0])
                   ? verdict_names[v]
                   : "unknown";
}

int connect_verdict_exit(connect_verdict_t v) {
        return v == CONNECT_OK ? 0 : 9 + (int)v;
}

/* ---- one request, retried ------------------------------------------------ */

typedef struct call {
        bitrise_req_kind_t kind; /* APPS_LIST, BUILDS_LIST or LOG_INFO */
        const char *app, *build, *next;
        int limit;
} call_t;

static void sleep_ms(int64_t ms) {
        struct timespec ts = {.tv_sec  = (time_t)(ms / 1000),
                              .tv_nsec = (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
}

static bitrise_req_t *call_new(const connect_check_opts_t *o, const char *token,
                               const call_t *c, char *errstr, size_t n) {
        switch (c->kind) {
        case BITRISE_REQ_APPS_LIST:
                return bitrise_req_apps_list(o->client, token, c->limit,
                                             c->next, errstr, n);
        case BITRISE_REQ_BUILDS_LIST:
                return bitrise_req_builds_list(o->client, token, c->app,
                                               c->limit, c->next, errstr, n);
        default:
                return bitrise_req_log_info(o->client, token, c->app, c->build,
                                            NULL, errstr, n);
        }
}

/* Performs c, retrying transient answers and 429 up to o->attempts times
 * with exponential backoff and jitter (Retry-After when given, unless it is
 * longer than o->backoff_max_ms). *res is released first; returns its class. */
static bitrise_class_t call_perform(const connect_check_opts_t *o,
                                    const char *token, const call_t *c,
                                    bitrise_result_t *res) {
        int64_t backoff = o->backoff_ms;
        for (int attempt = 1;; attempt++) {
                char err[200];
                bitrise_result_release(res);
                bitrise_req_t *req = call_new(o, token, c, err, sizeof(err));
                if (!req) {
                        res->cls = BITRISE_PERMANENT;
                        snprintf(res->message, sizeof(res->message), "%s", err);
                        return res->cls;
                }
                bitrise_req_perform(req, res);
                bitrise_req_destroy(req);
                if ((res->cls != BITRISE_TRANSIENT &&
                     res->cls != BITRISE_RATE_LIMITED) ||
                    attempt >= o->attempts)
                        return res->cls;
                int64_t wait = rand_jitter(backoff, o->jitter);
                if (res->retry_after_ms > o->backoff_max_ms)
                        return res->cls; /* not worth waiting for here */
                if (res->retry_after_ms >= 0)
                        wait = res->retry_after_ms;
                LOG_DEBUG("connect",
                          "retrying after %s attempt=%d wait_ms=%lld fp=%s",
                          bitrise_class_name(res->cls), attempt,
                          (long long)wait, o->fp);
                sleep_ms(wait);
                backoff = backoff * 2 > o->backoff_max_ms ? o->backoff_max_ms
                                                          : backoff * 2;
        }
}

/* ---- verdicts -------------------------------------------------------------
 * Each sets rep->verdict, message and fix. The fixes follow the setup
 * guide: what to do in Bitrise, then run bitmon connect again. */

#define NEW_TOKEN                                                               \
        "a new Workspace API token in Bitrise (Workspace settings → API "     \
        "tokens → Create token) with the Developer role (or higher) for the " \
        "apps you want monitored"

static void say(connect_report_t *rep, connect_verdict_t v, const char *fix,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void say(connect_report_t *rep, connect_verdict_t v, const char *fix,
                const char *fmt, ...) {
        va_list ap;
        rep->verdict = v;
        va_start(ap, fmt);
        vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
        va_end(ap);
        snprintf(rep->fix, sizeof(rep->fix), "%s", fix ? fix : "");
}

static void verdict_failure(const connect_check_opts_t *o,
                            connect_report_t *rep, const bitrise_result_t *res,
                            const char *again) {
        char fix[768];
        switch (res->cls) {
        case BITRISE_TOKEN_INVALID:
                rep->seen_401 = true;
                snprintf(fix, sizeof(fix),
                         "Create " NEW_TOKEN
                         ". Copy it in full (it starts with bitwat_; "
                         "Bitrise shows it only once), then run %s.",
                         again);
                say(rep, CONNECT_TOKEN_INVALID, fix,
                    "Bitrise rejected token %s (HTTP 401): it is mistyped, "
                    "expired or revoked",
                    o->fp);
                break;
        case BITRISE_RATE_LIMITED:
                snprintf(fix, sizeof(fix),
                         "Wait a few minutes and run %s. If it persists, "
                         "other clients using this token are spending its "
                         "request budget: give bitmon a token of its own.",
                         again);
                say(rep, CONNECT_RATE_LIMITED, fix,
                    "Bitrise kept refusing token %s with HTTP 429 (rate "
                    "limited) after %d attempts",
                    o->fp, o->attempts);
                break;
        case BITRISE_TRANSIENT:
                snprintf(fix, sizeof(fix),
                         "Check that this machine reaches %s (DNS, proxy, "
                         "firewall, bitrise.ca_file) and Bitrise's status page "
                         "(https://status.bitrise.io), then run %s. The token "
                         "was not checked.",
                         o->base_url, again);
                say(rep, CONNECT_UNREACHABLE, fix,
                    "Bitrise is unreachable after %d attempts: %s", o->attempts,
                    res->message);
                break;
        case BITRISE_INSUFFICIENT_ROLE:
                snprintf(fix, sizeof(fix),
                         "In Bitrise, Workspace settings → API tokens: give "
                         "this token the Developer role (or higher) for the "
                         "apps you want monitored, or create " NEW_TOKEN
                         "; then run %s.",
                         again);
                say(rep, CONNECT_INSUFFICIENT_ROLE, fix,
                    "token %s is accepted but not allowed to list apps: %s",
                    o->fp, res->message);
                break;
        default:
                snprintf(fix, sizeof(fix),
                         "Check that bitrise.base_url (%s) is the Bitrise API "
                         "(https://api.bitrise.io/v0.1) and run %s. If it "
                         "persists, report this message to the bitmon "
                         "maintainers.",
                         o->base_url, again);
                say(rep, CONNECT_UNEXPECTED, fix,
                    "Bitrise answered unexpectedly: %s", res->message);
                break;
        }
}

/* ---- the probes ---------------------------------------------------------- */

typedef struct probe {
        int lacking; /* apps whose log answered 403 */
        char lacking_name[128];
} probe_t;

static void app_name(const bitrise_apps_page_t *apps, size_t i, char *out,
                     size_t size) {
        if (apps->titles[i] && *apps->titles[i])
                snprintf(out, size, "'%s' (%.8s)", apps->titles[i],
                         apps->slugs[i]);
        else
                snprintf(out, size, "%s", apps->slugs[i]);
}

/* Tries the log of the newest builds (up to 3: a just-triggered build's
 * /log answers 404 for a while) of app i. Returns 1 when a log was read, 0
 * when the app has no build to try, 2 on 403 (noted in pr), -1 on a
 * failure that ends the check (verdict set). */
static int probe_app(const connect_check_opts_t *o, const char *token,
                     const bitrise_apps_page_t *apps, size_t i,
                     connect_report_t *rep, probe_t *pr, const char *again) {
        bitrise_result_t lst = {0}, log = {0};
        call_t c = {
            .kind = BITRISE_REQ_BUILDS_LIST, .app = apps->slugs[i], .limit = 3};
        int ret             = 0;
        bitrise_class_t cls = call_perform(o, token, &c, &lst);
        if (cls == BITRISE_NOT_FOUND)
                goto out;
        if (cls != BITRISE_OK && cls != BITRISE_INSUFFICIENT_ROLE) {
                verdict_failure(o, rep, &lst, again);
                ret = -1;
                goto out;
        }
        for (size_t b = 0; cls == BITRISE_OK && b < lst.builds.n; b++) {
                call_t l = {.kind  = BITRISE_REQ_LOG_INFO,
                            .app   = apps->slugs[i],
                            .build = lst.builds.slugs[b]};
                cls      = call_perform(o, token, &l, &log);
                if (cls == BITRISE_NOT_FOUND) {
                        cls = BITRISE_OK; /* too new: try an older build */
                        continue;
                }
                if (cls == BITRISE_OK) {
                        ret = 1;
                        break;
                }
                if (cls != BITRISE_INSUFFICIENT_ROLE) {
                        verdict_failure(o, rep, &log, again);
                        ret = -1;
                        goto out;
                }
        }
        if (cls == BITRISE_INSUFFICIENT_ROLE) {
                if (pr->lacking++ == 0) {
                        app_name(apps, i, pr->lacking_name,
                                 sizeof(pr->lacking_name));
                        snprintf(rep->role_app, sizeof(rep->role_app), "%s",
                                 apps->slugs[i]);
                }
                ret = 2;
        } else if (ret == 1 && rep->logs_read++ == 0) {
                app_name(apps, i, rep->log_app, sizeof(rep->log_app));
        }
out:
        bitrise_result_release(&lst);
        bitrise_result_release(&log);
        return ret;
}

/* Counts the apps past the first page (max_pages pages in all). 0, or -1
 * with the verdict set. */
static int count_apps(const connect_check_opts_t *o, const char *token,
                      const char *next, connect_report_t *rep,
                      const char *again) {
        bitrise_result_t res = {0};
        char *cursor         = next ? strdup(next) : NULL;
        int ret              = 0;
        for (int page = 1; cursor && page < o->max_pages; page++) {
                call_t c = {
                    .kind = BITRISE_REQ_APPS_LIST, .limit = 50, .next = cursor};
                if (call_perform(o, token, &c, &res) != BITRISE_OK) {
                        verdict_failure(o, rep, &res, again);
                        ret = -1;
                        break;
                }
                rep->apps_visible += (long)res.apps.n;
                free(cursor);
                cursor = res.apps.next ? strdup(res.apps.next) : NULL;
        }
        rep->apps_more = cursor != NULL;
        free(cursor);
        bitrise_result_release(&res);
        return ret;
}

/* Apps visible and log access; 0 when every probe passed (verdict OK so
 * far), -1 when a verdict was given. */
static int check_apps(const connect_check_opts_t *o, const char *token,
                      connect_report_t *rep, const char *again) {
        bitrise_result_t res = {0};
        call_t c             = {.kind = BITRISE_REQ_APPS_LIST, .limit = 50};
        probe_t pr           = {0};
        int ret = -1, probed = 0;
        if (call_perform(o, token, &c, &res) != BITRISE_OK) {
                verdict_failure(o, rep, &res, again);
                goto out;
        }
        rep->apps_visible = (long)res.apps.n;
        if (count_apps(o, token, res.apps.next, rep, again))
                goto out;
        for (size_t i = 0;
             i < res.apps.n && (int)i < o->scan_apps && probed < o->probe_apps;
             i++) {
                int r = probe_app(o, token, &res.apps, i, rep, &pr, again);
                if (r < 0)
                        goto out;
                probed += r > 0;
        }
        ret = 0;
        if (pr.lacking) {
                char fix[768];
                snprintf(fix, sizeof(fix),
                         "In Bitrise, Workspace settings → API tokens: give "
                         "this token the Developer role (or higher) for the "
                         "apps you want monitored — Tester/QA can see builds "
                         "but not their logs — or create " NEW_TOKEN
                         "; then run %s.",
                         again);
                say(rep, CONNECT_INSUFFICIENT_ROLE, fix,
                    "token %s sees builds but cannot read their logs in app "
                    "%s%s (HTTP 403): its role is below Developer",
                    o->fp, pr.lacking_name,
                    pr.lacking > 1 ? " and other apps" : "");
                ret = -1;
        }
out:
        bitrise_result_release(&res);
        return ret;
}

static void verdict_no_apps(const connect_check_opts_t *o,
                            connect_report_t *rep, const char *again) {
        char fix[768];
        rep->apps_visible = 0;
        snprintf(fix, sizeof(fix),
                 "In Bitrise, Workspace settings → API tokens: edit this "
                 "token and give it access to the apps you want monitored "
                 "(All apps, or each app) with the Developer role or higher, "
                 "or create " NEW_TOKEN ". If the workspace has no apps yet, "
                 "add one first. Then run %s.",
                 again);
        say(rep, CONNECT_NO_APPS, fix,
            "token %s is accepted but reaches no app (Missing Build Data): "
            "it has no app access in this workspace",
            o->fp);
}

static void verdict_personal(const connect_check_opts_t *o,
                             connect_report_t *rep, const char *again) {
        char fix[768];
        snprintf(fix, sizeof(fix),
                 "Create " NEW_TOKEN ", then run %s with it. To keep this "
                 "personal token anyway, run bitmon connect --workspace %s "
                 "--force.",
                 again, o->workspace);
        say(rep, CONNECT_PERSONAL_TOKEN, fix,
            "token %s is %s: it works, but it acts as one person and stops "
            "working when that person leaves the workspace or loses access; "
            "bitmon expects a Workspace API token (bitwat_...)",
            o->fp,
            rep->kind == BITRISE_TOKEN_PERSONAL
                ? "a personal access token (bitpat_...)"
                : "an older personal access token (no bitwat_ prefix)");
}

void connect_check_run(const connect_check_opts_t *o, const char *token,
                       connect_report_t *rep) {
        char again[200];
        bitrise_result_t res = {0};
        call_t c             = {.kind = BITRISE_REQ_APPS_LIST, .limit = 1};
        memset(rep, 0, sizeof(*rep));
        rep->apps_visible = -1;
        rep->kind         = bitrise_token_kind(token);
        snprintf(again, sizeof(again), "bitmon connect --workspace %s again",
                 o->workspace);

        /* 1. The token is accepted (the documented validation call). */
        if (call_perform(o, token, &c, &res) != BITRISE_OK) {
                verdict_failure(o, rep, &res, again);
                goto out;
        }
        rep->seen_2xx = true;
        if (res.apps.n == 0) /* 2. It reaches apps. */
                verdict_no_apps(o, rep, again);
        else if (check_apps(o, token, rep, again) != 0)
                ; /* 3. It reads build logs: the verdict is given. */
        else if (rep->kind != BITRISE_TOKEN_WORKSPACE)
                verdict_personal(o, rep, again); /* 4. A workspace token. */
        else
                say(rep, CONNECT_OK, NULL,
                    "token %s works: %ld%s app%s visible, %s", o->fp,
                    rep->apps_visible, rep->apps_more ? "+" : "",
                    rep->apps_visible == 1 ? "" : "s",
                    rep->logs_read ? "build logs readable"
                                   : "no build found to check log access on");
out:
        bitrise_result_release(&res);
}
