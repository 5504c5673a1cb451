/* tests/integration/itest_httpd.c — the operations HTTP server for real: it
 * binds a random port, libcurl scrapes /metrics while worker threads update
 * counters, /readyz follows the health state, and bad requests, an idle
 * client and a taken port are handled.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/httpd.h"
#include "common/log.h"
#include "tests/assert.h"

typedef struct resp {
        long status;
        buf_t body;
        char ctype[128];
        char allow[64];
} resp_t;

static long timeout_s(void) {
        const char *s = getenv("BITMON_TEST_TIMEOUT_SCALE");
        long scale    = s ? strtol(s, NULL, 10) : 1;
        return 5 * (scale > 0 ? scale : 1);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
        resp_t *r = ud;
        return buf_append(&r->body, p, sz * n) == 0 ? sz * n : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
        resp_t *r  = ud;
        size_t len = sz * n;
        if (len > 7 && strncasecmp(p, "Allow: ", 7) == 0)
                snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 9),
                         p + 7);
        return len;
}

/* One request; returns the curl code. The caller releases r->body. */
static CURLcode fetch(int port, const char *method, const char *path,
                      resp_t *r) {
        char url[256];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        memset(r, 0, sizeof(*r));
        buf_init(&r->body, 64 * 1024 * 1024);
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s());
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else if (strcmp(method, "POST") == 0)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
        CURLcode rc = curl_easy_perform(c);
        char *ct    = NULL;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
                snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
        curl_easy_cleanup(c);
        return rc;
}

typedef struct fixture {
        metrics_t *m;
        health_t *h;
        httpd_t *d;
        int port;
} fixture_t;

static void setup(fixture_t *f) {
        char err[256]  = "";
        f->m           = metrics_new();
        f->h           = health_new(f->m);
        httpd_opts_t o = {
            .listen = "127.0.0.1:0", .metrics = f->m, .health = f->h};
        T_ASSERTF(httpd_new(&o, &f->d, err, sizeof(err)) == 0, "httpd_new: %s",
                  err);
        f->port = httpd_port(f->d);
        T_ASSERTF(f->port > 0, "port %d", f->port);
}

static void teardown(fixture_t *f) {
        httpd_destroy(f->d);
        health_destroy(f->h);
        metrics_destroy(f->m);
}

static void test_healthz(void) {
        fixture_t f;
        resp_t r;
        setup(&f);
        T_EQ_INT(fetch(f.port, "GET", "/healthz", &r), CURLE_OK);
        T_EQ_INT(r.status, 200);
        T_EQ_STR(buf_cstr(&r.body), "ok\n");
        buf_release(&r.body);
        teardown(&f);
}

static void test_readyz_follows_health(void) {
        fixture_t f;
        resp_t r;
        setup(&f);
        T_EQ_INT(fetch(f.port, "GET", "/readyz", &r), CURLE_OK);
        T_EQ_INT(r.status, 503);
        T_EQ_STR(buf_cstr(&r.body),
                 "not ready\nprocess: not ready: starting\n");
        buf_release(&r.body);

        health_set(f.h, "process", HEALTH_OK, NULL);
        T_EQ_INT(fetch(f.port, "GET", "/readyz", &r), CURLE_OK);
        T_EQ_INT(r.status, 200);
        T_EQ_STR(buf_cstr(&r.body), "ready\n");
        buf_release(&r.body);

        health_set(f.h, "redis", HEALTH_DEGRADED, "redis degraded");
        T_EQ_INT(fetch(f.port, "GET", "/readyz", &r), CURLE_OK);
        T_EQ_INT(r.status, 200);
        T_EQ_STR(buf_cstr(&r.body), "ready\nredis: degraded: redis degraded\n");
        buf_release(&r.body);

        health_set(f.h, "consumer", HEALTH_NOT_READY, "consumer not assigned");
        T_EQ_INT(fetch(f.port, "GET", "/readyz", &r), CURLE_OK);
        T_EQ_INT(r.status, 503);
        T_EQ_STR(buf_cstr(&r.body),
                 "not ready\nredis: degraded: redis degraded\n"
                 "consumer: not ready: consumer not assigned\n");
        buf_release(&r.body);

        health_set(f.h, "consumer", HEALTH_OK, NULL);
        health_set(f.h, "redis", HEALTH_OK, NULL);
        T_EQ_INT(fetch(f.port, "GET", "/readyz", &r), CURLE_OK);
        T_EQ_INT(r.status, 200);
        buf_release(&r.body);
        /* without a health the process is always ready */
        httpd_t *d = NULL;
        char err[256];
        httpd_opts_t o = {.listen = "127.0.0.1:0"};
        T_EQ_INT(httpd_new(&o, &d, err, sizeof(err)), 0);
        T_EQ_INT(fetch(httpd_port(d), "GET", "/readyz", &r), CURLE_OK);
        T_EQ_INT(r.status, 200);
        buf_release(&r.body);
        T_EQ_INT(fetch(httpd_port(d), "GET", "/metrics", &r), CURLE_OK);
        T_EQ_INT(r.status, 200);
        T_EQ_INT(r.body.len, 0);
        buf_release(&r.body);
        httpd_destroy(d);
        teardown(&f);
}

/* Every line is a comment or `name{labels} value`. */
static int exposition_ok(const char *text) {
        for (const char *p = text; *p;) {
                const char *nl = strchr(p, '\n');
                if (!nl)
                        return 0; /* last line must end with \n */
                if (*p != '#') {
                        const char *sp = memrchr(p, ' ', (size_t)(nl - p));
                        if (!sp || sp == p)
                                return 0;
                        char *end = NULL;
                        strtod(sp + 1, &end);
                        if (end != nl && strncmp(sp + 1, "+Inf", 4) != 0)
                                return 0;
                } else if (strncmp(p, "# HELP ", 7) != 0 &&
                           strncmp(p, "# TYPE ", 7) != 0) {
                        return 0;
                }
                p = nl + 1;
        }
        return 1;
}

enum { THREADS = 2, ROUNDS = 200000 };

static void *work(void *arg) {
        metrics_counter_t *c = arg;
        for (int i = 0; i < ROUNDS; i++)
                metrics_counter_inc(c);
        return NULL;
}

static void test_metrics_scrape_during_updates(void) {
        fixture_t f;
        resp_t r;
        setup(&f);
        const double b[]     = {0.1, 1};
        metrics_counter_t *c = metrics_counter(
            f.m, "bitmon_jobs_total", "Jobs taken.", "outcome", "ok", NULL);
        metrics_histogram_t *h = metrics_histogram(f.m, "bitmon_poll_seconds",
                                                   "Poll latency.", b, 2, NULL);
        metrics_histogram_observe(h, 0.5);
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++)
                T_EQ_INT(pthread_create(&th[i], NULL, work, c), 0);
        for (int i = 0; i < 20; i++) {
                T_EQ_INT(fetch(f.port, "GET", "/metrics", &r), CURLE_OK);
                T_EQ_INT(r.status, 200);
                T_ASSERT(exposition_ok(buf_cstr(&r.body)));
                buf_release(&r.body);
        }
        for (int i = 0; i < THREADS; i++)
                pthread_join(th[i], NULL);
        T_EQ_INT(fetch(f.port, "GET", "/metrics?debug=1", &r), CURLE_OK);
        T_EQ_INT(r.status, 200);
        T_EQ_STR(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
        const char *t = buf_cstr(&r.body);
        T_ASSERTF(exposition_ok(t), "bad exposition:\n%.400s", t);
        char want[128];
        snprintf(want, sizeof(want), "bitmon_jobs_total{outcome=\"ok\"} %d\n",
                 THREADS * ROUNDS);
        T_ASSERTF(strstr(t, want), "no [%.100s] in:\n%.300s", want, t);
        T_ASSERT(strstr(t, "# TYPE bitmon_jobs_total counter\n"));
        T_ASSERT(strstr(t, "bitmon_poll_seconds_bucket{le=\"0.1\"} 0\n"
                           "bitmon_poll_seconds_bucket{le=\"1\"} 1\n"
                           "bitmon_poll_seconds_bucket{le=\"+Inf\"} 1\n"
                           "bitmon_poll_seconds_sum 0.5\n"
                           "bitmon_poll_seconds_count 1\n"));
        T_ASSERT(strstr(t, "bitmon_health_state{component=\"process\"} 2\n"));
        buf_release(&r.body);
        teardown(&f);
}

static void test_methods_and_paths(void) {
        fixture_t f;
        resp_t r;
        setup(&f);
        T_EQ_INT(fetch(f.port, "HEAD", "/metrics", &r), CURLE_OK);
        T_EQ_INT(r.status, 200);
        T_EQ_INT(r.body.len, 0);
        buf_release(&r.body);
        T_EQ_INT(fetch(f.port, "POST", "/metrics", &r), CURLE_OK);
        T_EQ_INT(r.status, 405);
        T_EQ_STR(r.allow, "GET, HEAD");
        buf_release(&r.body);
        T_EQ_INT(fetch(f.port, "GET", "/nope", &r), CURLE_OK);
        T_EQ_INT(r.status, 404);
        buf_release(&r.body);
        T_EQ_INT(fetch(f.port, "GET", "/metrics/", &r), CURLE_OK);
        T_EQ_INT(r.status, 404);
        buf_release(&r.body);
        teardown(&f);
}

static void test_idle_client_does_not_block(void) {
        fixture_t f;
        resp_t r;
        setup(&f);
        /* a client that connects and sends half a request, then waits */
        int fd                = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port   = htons((uint16_t)f.port)};
        sa.sin_addr.s_addr    = htonl(INADDR_LOOPBACK);
        T_EQ_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        T_ASSERT(write(fd, "GET /metr", 9) == 9);
        T_EQ_INT(fetch(f.port, "GET", "/healthz", &r), CURLE_OK);
        T_EQ_INT(r.status, 200);
        buf_release(&r.body);
        close(fd);
        teardown(&f);
}

static void test_listen_errors(void) {
        fixture_t f;
        setup(&f);
        char listen[64], err[256] = "", want[128];
        httpd_t *d = (httpd_t *)&f; /* must be reset to NULL on failure */
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", f.port);
        httpd_opts_t o = {.listen = listen};
        T_ASSERT(httpd_new(&o, &d, err, sizeof(err)) < 0);
        T_ASSERT(d == NULL);
        snprintf(want, sizeof(want),
                 "cannot listen on %s: Address already in use", listen);
        T_EQ_STR(err, want);
        o.listen = "9090";
        T_ASSERT(httpd_new(&o, &d, err, sizeof(err)) < 0);
        T_EQ_STR(err, "cannot listen on 9090: expected HOST:PORT");
        o.listen = "no.such.host.invalid:0";
        T_ASSERT(httpd_new(&o, &d, err, sizeof(err)) < 0);
        T_ASSERT(
            strncmp(err, "cannot listen on no.such.host.invalid:0: ", 41) == 0);
        httpd_destroy(NULL);
        teardown(&f);
}

int main(void) {
        log_setup(LOG_LVL_WARN, LOG_FMT_TEXT, 2);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return 2;
        T_RUN(test_healthz);
        T_RUN(test_readyz_follows_health);
        T_RUN(test_metrics_scrape_during_updates);
        T_RUN(test_methods_and_paths);
        T_RUN(test_idle_client_does_not_block);
        T_RUN(test_listen_errors);
        curl_global_cleanup();
        return t_done();
}
