/* Unit tests for workers/loop and workers/pool: posts from many threads,
 * timers, thousands of HTTP transfers on one loop against a local
 * libmicrohttpd responder, stopping with work in flight, routing by key. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "tests/assert.h"
#include "tests/unit/test_loop_server.h"
#include "workers/loop.h"
#include "workers/pool.h"
#include "workers/ptrmap.h"

static int scale = 1;

/* Polls until *counter >= want or the (scaled) timeout; returns the value. */
static long wait_for(_Atomic long *counter, long want, int timeout_ms) {
        int64_t until = time_mono_ms() + (int64_t)timeout_ms * scale;
        long v;
        while ((v = atomic_load(counter)) < want && time_mono_ms() < until)
                usleep(1000);
        return v;
}

static loop_t *new_started_loop(const loop_opts_t *opts) {
        char err[256] = "";
        loop_t *loop  = loop_new(opts, err, sizeof(err));
        T_ASSERTF(loop, "loop_new: %s", err);
        T_ASSERTF(loop_start(loop, err, sizeof(err)) == 0, "loop_start: %s",
                  err);
        return loop;
}

/* ---- ptrmap ------------------------------------------------------------ */

static void test_ptrmap_put_get_del(void) {
        enum { N = 20000 };
        static char keys[N];
        ptrmap_t m;
        ptrmap_init(&m);
        T_ASSERT(ptrmap_get(&m, &keys[0]) == NULL);
        for (int i = 0; i < N; i++)
                T_EQ_INT(ptrmap_put(&m, &keys[i], &keys[(i + 1) % N]), 0);
        T_EQ_INT(m.count, N);
        for (int i = 0; i < N; i += 2)
                T_ASSERT(ptrmap_del(&m, &keys[i]) == &keys[(i + 1) % N]);
        T_ASSERT(ptrmap_del(&m, &keys[0]) == NULL);
        T_EQ_INT(m.count, N / 2);
        for (int i = 0; i < N; i++)
                T_ASSERT(ptrmap_get(&m, &keys[i]) ==
                         (i % 2 ? &keys[(i + 1) % N] : NULL));
        T_EQ_INT(ptrmap_put(&m, &keys[1], NULL), 0); /* replace */
        T_EQ_INT(m.count, N / 2);
        ptrmap_release(&m);
}

/* ---- posts ------------------------------------------------------------- */

enum { POSTERS = 4, POSTS_EACH = 5000 };

typedef struct post_ctx {
        loop_t *loop;
        _Atomic long ran;
        _Atomic long off_thread; /* ran somewhere other than the loop */
        unsigned char seen[POSTERS][POSTS_EACH];
        int last_seq[POSTERS];
        int out_of_order;
} post_ctx_t;

typedef struct post_item {
        post_ctx_t *ctx;
        int who, seq;
} post_item_t;

static void post_fn(void *arg) {
        post_item_t *it = arg;
        post_ctx_t *c   = it->ctx;
        if (!loop_on_thread(c->loop))
                atomic_fetch_add(&c->off_thread, 1);
        c->seen[it->who][it->seq]++;
        if (it->seq != c->last_seq[it->who] + 1)
                c->out_of_order++;
        c->last_seq[it->who] = it->seq;
        free(it);
        atomic_fetch_add(&c->ran, 1);
}

typedef struct poster {
        post_ctx_t *ctx;
        int who;
        int failures;
} poster_t;

static void *poster_main(void *arg) {
        poster_t *p = arg;
        for (int i = 0; i < POSTS_EACH; i++) {
                post_item_t *it = malloc(sizeof(*it));
                it->ctx         = p->ctx;
                it->who         = p->who;
                it->seq         = i;
                if (loop_post(p->ctx->loop, post_fn, it) != 0) {
                        p->failures++;
                        free(it);
                }
        }
        return NULL;
}

static void test_loop_posts_from_threads_run_once_on_loop(void) {
        static post_ctx_t ctx;
        memset(&ctx, 0, sizeof(ctx));
        for (int i = 0; i < POSTERS; i++)
                ctx.last_seq[i] = -1;
        ctx.loop = new_started_loop(NULL);
        T_ASSERT(!loop_on_thread(ctx.loop));
        pthread_t th[POSTERS];
        poster_t ps[POSTERS];
        for (int i = 0; i < POSTERS; i++) {
                ps[i] = (poster_t){.ctx = &ctx, .who = i};
                pthread_create(&th[i], NULL, poster_main, &ps[i]);
        }
        for (int i = 0; i < POSTERS; i++) {
                pthread_join(th[i], NULL);
                T_EQ_INT(ps[i].failures, 0);
        }
        T_EQ_INT(wait_for(&ctx.ran, POSTERS * POSTS_EACH, 10000),
                 POSTERS * POSTS_EACH);
        loop_stats_t st;
        loop_stats_get(ctx.loop, &st);
        loop_destroy(ctx.loop);
        T_EQ_INT(st.posts_run, POSTERS * POSTS_EACH);
        T_EQ_INT(atomic_load(&ctx.off_thread), 0);
        T_EQ_INT(ctx.out_of_order, 0); /* FIFO per poster */
        for (int w = 0; w < POSTERS; w++)
                for (int i = 0; i < POSTS_EACH; i++)
                        T_EQ_INT(ctx.seen[w][i], 1);
        T_EQ_INT(atomic_load(&ctx.ran), POSTERS * POSTS_EACH);
}

static void count_fn(void *arg) {
        atomic_fetch_add((_Atomic long *)arg, 1);
}

static void test_loop_post_after_stop_is_refused(void) {
        static _Atomic long ran;
        atomic_store(&ran, 0);
        loop_t *loop = new_started_loop(NULL);
        T_EQ_INT(loop_post(loop, count_fn, (void *)(uintptr_t)&ran), 0);
        loop_stop(loop);
        T_EQ_INT(atomic_load(&ran), 1); /* accepted before stop: ran */
        T_EQ_INT(loop_post(loop, count_fn, (void *)(uintptr_t)&ran),
                 LOOP_ERR_STOPPING);
        loop_stop(loop); /* twice is harmless */
        loop_destroy(loop);
        T_EQ_INT(atomic_load(&ran), 1);
        loop_destroy(NULL);
}

static void test_loop_posts_before_start_run_on_start(void) {
        static _Atomic long ran;
        atomic_store(&ran, 0);
        char err[128];
        loop_t *loop = loop_new(NULL, err, sizeof(err));
        T_ASSERT(loop);
        for (int i = 0; i < 10; i++)
                T_EQ_INT(loop_post(loop, count_fn, (void *)(uintptr_t)&ran), 0);
        T_EQ_INT(atomic_load(&ran), 0);
        T_EQ_INT(loop_start(loop, err, sizeof(err)), 0);
        T_EQ_INT(wait_for(&ran, 10, 5000), 10);
        T_EQ_INT(loop_start(loop, err, sizeof(err)), LOOP_ERR_STATE);
        loop_destroy(loop);
}

static void sleep_fn(void *arg) {
        (void)arg;
        usleep(100 * 1000);
}

/* Posts made while the loop is busy cost one wakeup, not one each. */
static void test_loop_posts_coalesce_wakeups(void) {
        static _Atomic long ran;
        atomic_store(&ran, 0);
        loop_t *loop = new_started_loop(NULL);
        T_EQ_INT(loop_post(loop, sleep_fn, NULL), 0);
        usleep(20 * 1000); /* the loop is inside sleep_fn now */
        for (int i = 0; i < 10000; i++)
                T_EQ_INT(loop_post(loop, count_fn, (void *)(uintptr_t)&ran), 0);
        T_EQ_INT(wait_for(&ran, 10000, 5000), 10000);
        loop_stats_t st;
        loop_stats_get(loop, &st);
        loop_destroy(loop);
        T_ASSERTF(st.wakeups <= 3, "%llu wakeups for 10001 posts",
                  (unsigned long long)st.wakeups);
        T_EQ_INT(st.posts_run, 10001);
}

/* ---- thread hooks ------------------------------------------------------ */

typedef struct hook_ctx {
        int started, stopped;
        int start_on_thread;
        int fail;
        int self_join;
} hook_ctx_t;

static int hook_start(loop_t *loop, void *ud, char *errstr, size_t n) {
        hook_ctx_t *h = ud;
        h->started++;
        h->start_on_thread = loop_on_thread(loop);
        if (h->fail) {
                snprintf(errstr, n, "cannot connect to redis: refused");
                return -1;
        }
        loop_ctx_set(loop, h);
        return 0;
}

static void hook_stop(loop_t *loop, void *ud) {
        hook_ctx_t *h = ud;
        h->self_join  = loop_join(loop, 0);
        if (loop_ctx(loop) == h && loop_on_thread(loop))
                h->stopped++;
        loop_ctx_set(loop, NULL);
}

static void test_loop_thread_hooks(void) {
        hook_ctx_t h  = {0};
        loop_opts_t o = {.id              = 7,
                         .on_thread_start = hook_start,
                         .on_thread_stop  = hook_stop,
                         .ud              = &h};
        loop_t *loop  = new_started_loop(&o);
        T_EQ_INT(loop_id(loop), 7);
        T_ASSERT(loop_ud(loop) == &h);
        loop_destroy(loop);
        T_EQ_INT(h.started, 1);
        T_EQ_INT(h.start_on_thread, 1);
        T_EQ_INT(h.stopped, 1);
        T_EQ_INT(h.self_join, LOOP_ERR_STATE); /* no deadlock */

        hook_ctx_t f  = {.fail = 1};
        o.ud          = &f;
        char err[256] = "";
        loop          = loop_new(&o, err, sizeof(err));
        T_ASSERT(loop);
        T_EQ_INT(loop_start(loop, err, sizeof(err)), LOOP_ERR_STATE);
        T_EQ_STR(err, "cannot start worker thread 7: cannot connect to "
                      "redis: refused");
        T_EQ_INT(loop_post(loop, count_fn, NULL), LOOP_ERR_STOPPING);
        loop_destroy(loop);
        T_EQ_INT(f.stopped, 0); /* stop hook only after a good start */
}

static void test_loop_bad_options(void) {
        char err[128] = "";
        loop_opts_t o = {.max_host_connections = -1};
        T_ASSERT(loop_new(&o, err, sizeof(err)) == NULL);
        T_EQ_STR(err, "invalid loop options: negative connection limit");
}

/* ---- timers ------------------------------------------------------------ */

enum { NTIMERS = 6 };

typedef struct tm_ctx {
        loop_t *loop;
        loop_timer_t *t[NTIMERS];
        int order[NTIMERS];
        int64_t fired_at[NTIMERS];
        int nfired;
        int64_t started_at;
        _Atomic long done;
} tm_ctx_t;

typedef struct tm_arg {
        tm_ctx_t *c;
        int i;
} tm_arg_t;

static tm_arg_t tm_args[NTIMERS];

static void tm_fire(void *arg) {
        tm_arg_t *a           = arg;
        tm_ctx_t *c           = a->c;
        c->order[c->nfired++] = a->i;
        c->fired_at[a->i]     = time_mono_ms() - c->started_at;
        if (a->i == 5) {
                /* Freeing a timer from its own callback is allowed. */
                loop_timer_free(c->t[5]);
                c->t[5] = NULL;
        }
        if (c->nfired == NTIMERS - 1)
                atomic_store(&c->done, 1);
}

static void tm_setup(void *arg) {
        tm_ctx_t *c = arg;
        /* index: delay. 4 is stopped, 5 is re-armed from 500 to 60. */
        static const int delays[NTIMERS] = {120, 40, 80, 40, 10, 500};
        c->started_at                    = time_mono_ms();
        for (int i = 0; i < NTIMERS; i++) {
                tm_args[i] = (tm_arg_t){c, i};
                c->t[i]    = loop_timer_new(c->loop);
                loop_timer_start(c->t[i], delays[i], tm_fire, &tm_args[i]);
        }
        loop_timer_stop(c->t[4]);
        loop_timer_start(c->t[5], 60, tm_fire, &tm_args[5]);
        c->nfired = 0;
}

static void tm_teardown(void *arg) {
        tm_ctx_t *c = arg;
        for (int i = 0; i < NTIMERS; i++)
                loop_timer_free(c->t[i]);
}

static void test_loop_timers_order_and_delay(void) {
        static tm_ctx_t c;
        memset(&c, 0, sizeof(c));
        c.loop = new_started_loop(NULL);
        T_EQ_INT(loop_post(c.loop, tm_setup, &c), 0);
        T_EQ_INT(wait_for(&c.done, 1, 5000), 1);
        usleep(50 * 1000); /* timer 4 (stopped) must stay silent */
        T_EQ_INT(loop_post(c.loop, tm_teardown, &c), 0);
        loop_stats_t st;
        loop_destroy(c.loop);
        (void)st;
        T_EQ_INT(c.nfired, 5);
        /* 1 and 3 share 40 ms: started 1 first, fired 1 first. */
        static const int want[5] = {1, 3, 5, 2, 0};
        for (int i = 0; i < 5; i++)
                T_EQ_INT(c.order[i], want[i]);
        static const int64_t due[NTIMERS] = {120, 40, 80, 40, 0, 60};
        for (int i = 0; i < NTIMERS; i++) {
                if (i == 4)
                        continue;
                /* Never early; late only within a bound loose enough for
                 * a loaded shared machine (this is not a speed test). */
                T_ASSERTF(c.fired_at[i] >= due[i] - 1 &&
                              c.fired_at[i] <= due[i] + 1000 * scale,
                          "timer %d due at %lld ms fired at %lld ms", i,
                          (long long)due[i], (long long)c.fired_at[i]);
        }
}

/* A timer its owner forgets until after the loop is gone stays freeable. */
static loop_timer_t *orphan;
static void orphan_make(void *arg) {
        orphan = loop_timer_new(arg);
        loop_timer_start(orphan, 60000, tm_fire, NULL);
}

static void test_loop_timer_outlives_loop(void) {
        loop_t *loop = new_started_loop(NULL);
        static _Atomic long ran;
        atomic_store(&ran, 0);
        T_EQ_INT(loop_post(loop, orphan_make, loop), 0);
        T_EQ_INT(loop_post(loop, count_fn, (void *)(uintptr_t)&ran), 0);
        T_EQ_INT(wait_for(&ran, 1, 5000), 1);
        loop_stats_t st;
        loop_stats_get(loop, &st);
        T_EQ_INT(st.timers, 1);
        loop_destroy(loop);
        T_ASSERT(!loop_timer_armed(orphan));
        loop_timer_free(orphan); /* ASan: no leak, no use after free */
        orphan = NULL;
}

/* ---- HTTP ---------------------------------------------------------------- */

typedef struct http_ctx {
        loop_t *loop;
        char url[64];
        int n;
        struct http_req *reqs;
        _Atomic long done;
        _Atomic long ok;
        _Atomic long cancelled;
        _Atomic long add_failed;
        _Atomic long refused_after; /* loop_http_add refused in callback */
        int readd_in_cb;
} http_ctx_t;

typedef struct http_req {
        http_ctx_t *c;
        CURL *easy;
        buf_t body;
        CURLcode result;
        long status;
} http_req_t;

static size_t http_write(char *p, size_t sz, size_t n, void *ud) {
        http_req_t *r = ud;
        return buf_append(&r->body, p, sz * n) == 0 ? sz * n : 0;
}

static void http_done(void *arg, CURL *easy, CURLcode res) {
        http_req_t *r = arg;
        r->result     = res;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
        if (res == CURLE_OK && r->status == 200 &&
            strcmp(buf_cstr(&r->body), "hello") == 0)
                atomic_fetch_add(&r->c->ok, 1);
        if (res == LOOP_HTTP_CANCELLED)
                atomic_fetch_add(&r->c->cancelled, 1);
        if (r->c->readd_in_cb &&
            loop_http_add(r->c->loop, easy, http_done, r) == LOOP_ERR_STOPPING)
                atomic_fetch_add(&r->c->refused_after, 1);
        atomic_fetch_add(&r->c->done, 1);
}

static void http_start_all(void *arg) {
        http_ctx_t *c = arg;
        for (int i = 0; i < c->n; i++) {
                http_req_t *r = &c->reqs[i];
                if (loop_http_add(c->loop, r->easy, http_done, r) != 0)
                        atomic_fetch_add(&c->add_failed, 1);
        }
}

static void http_ctx_init(http_ctx_t *c, loop_t *loop, const tsrv_t *srv,
                          int n) {
        memset(c, 0, sizeof(*c));
        c->loop = loop;
        c->n    = n;
        tsrv_url(srv, c->url, sizeof(c->url));
        c->reqs = calloc((size_t)n, sizeof(*c->reqs));
        for (int i = 0; i < n; i++) {
                http_req_t *r = &c->reqs[i];
                r->c          = c;
                buf_init(&r->body, 1024);
                r->easy = curl_easy_init();
                curl_easy_setopt(r->easy, CURLOPT_URL, c->url);
                curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, http_write);
                curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
                curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, 60000L);
        }
}

static void http_ctx_release(http_ctx_t *c) {
        for (int i = 0; i < c->n; i++) {
                curl_easy_cleanup(c->reqs[i].easy);
                buf_release(&c->reqs[i].body);
        }
        free(c->reqs);
}

static void test_loop_http_2000_concurrent(void) {
        enum { N = 2000 };
        tsrv_t *srv = tsrv_start("hello", 20);
        T_ASSERT(srv);
        loop_opts_t o = {.max_host_connections  = 200,
                         .max_total_connections = 200};
        loop_t *loop  = new_started_loop(&o);
        static http_ctx_t c;
        http_ctx_init(&c, loop, srv, N);
        T_EQ_INT(loop_post(loop, http_start_all, &c), 0);
        long done = wait_for(&c.done, N, 60000);
        loop_stats_t st;
        loop_stats_get(loop, &st);
        loop_destroy(loop);
        long served = atomic_load(&srv->requests);
        tsrv_stop(srv);
        http_ctx_release(&c);
        T_EQ_INT(done, N);
        T_EQ_INT(atomic_load(&c.add_failed), 0);
        T_EQ_INT(atomic_load(&c.ok), N);
        T_EQ_INT(served, N);
        T_EQ_INT(st.http_started, N);
        T_EQ_INT(st.http_done, N);
        T_EQ_INT(st.http_active, 0);
}

/* Connections are reused: sequential requests on one loop need one. */
typedef struct seq_ctx {
        http_ctx_t *c;
        int next;
} seq_ctx_t;

static void seq_done(void *arg, CURL *easy, CURLcode res) {
        seq_ctx_t *s  = arg;
        http_req_t *r = &s->c->reqs[0];
        long nconn    = -1;
        curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &nconn);
        if (res == CURLE_OK && (s->next == 1 || nconn == 0))
                atomic_fetch_add(&s->c->ok, 1); /* only the first connects */
        atomic_fetch_add(&s->c->done, 1);
        buf_reset(&r->body);
        if (s->next++ < 4)
                loop_http_add(s->c->loop, easy, seq_done, s);
}

static void seq_start(void *arg) {
        seq_ctx_t *s = arg;
        s->next      = 1;
        loop_http_add(s->c->loop, s->c->reqs[0].easy, seq_done, s);
}

static void test_loop_http_reuses_connection(void) {
        tsrv_t *srv = tsrv_start("hello", 0);
        T_ASSERT(srv);
        loop_t *loop = new_started_loop(NULL);
        static http_ctx_t c;
        static seq_ctx_t s;
        http_ctx_init(&c, loop, srv, 1);
        s.c = &c;
        T_EQ_INT(loop_post(loop, seq_start, &s), 0);
        long done = wait_for(&c.done, 4, 10000);
        loop_destroy(loop);
        tsrv_stop(srv);
        http_ctx_release(&c);
        T_EQ_INT(done, 4);
        T_EQ_INT(atomic_load(&c.ok), 4);
}

/* Stop with slow transfers and far timers in flight: prompt, every callback
 * sees the cancellation, owners free their timers in on_thread_stop. */
typedef struct stop_ctx {
        http_ctx_t http;
        loop_timer_t *timers[1000];
        _Atomic long timer_fired;
        _Atomic long ready;
} stop_ctx_t;

static stop_ctx_t stop_c;

static void stop_timer_fire(void *arg) {
        (void)arg;
        atomic_fetch_add(&stop_c.timer_fired, 1);
}

static void stop_setup(void *arg) {
        stop_ctx_t *s = arg;
        http_start_all(&s->http);
        for (int i = 0; i < 1000; i++) {
                s->timers[i] = loop_timer_new(s->http.loop);
                loop_timer_start(s->timers[i], 60000 + i, stop_timer_fire,
                                 NULL);
        }
        atomic_store(&s->ready, 1);
}

static void stop_hook(loop_t *loop, void *ud) {
        stop_ctx_t *s = ud;
        (void)loop;
        for (int i = 0; i < 1000; i++)
                loop_timer_free(s->timers[i]);
}

static void test_loop_stop_with_work_in_flight(void) {
        tsrv_t *srv = tsrv_start("hello", 30000);
        T_ASSERT(srv);
        loop_opts_t o = {.on_thread_stop = stop_hook, .ud = &stop_c};
        loop_t *loop  = new_started_loop(&o);
        memset(&stop_c, 0, sizeof(stop_c));
        http_ctx_init(&stop_c.http, loop, srv, 200);
        stop_c.http.readd_in_cb = 1;
        T_EQ_INT(loop_post(loop, stop_setup, &stop_c), 0);
        T_EQ_INT(wait_for(&stop_c.ready, 1, 5000), 1);
        /* Let the requests reach the server. */
        wait_for(&srv->requests, 200, 5000);
        int64_t t0 = time_mono_ms();
        loop_stop(loop);
        int64_t took = time_mono_ms() - t0;
        loop_destroy(loop);
        tsrv_stop(srv);
        http_ctx_release(&stop_c.http);
        T_ASSERTF(took < 1000 * scale, "stop took %lld ms", (long long)took);
        T_EQ_INT(atomic_load(&stop_c.http.done), 200);
        T_EQ_INT(atomic_load(&stop_c.http.cancelled), 200);
        T_EQ_INT(atomic_load(&stop_c.http.refused_after), 200);
        T_EQ_INT(atomic_load(&stop_c.timer_fired), 0);
}

/* With a grace period, short transfers in flight complete normally. */
static void test_loop_stop_grace_lets_transfers_finish(void) {
        tsrv_t *srv = tsrv_start("hello", 300);
        T_ASSERT(srv);
        loop_t *loop = new_started_loop(NULL);
        static http_ctx_t c;
        http_ctx_init(&c, loop, srv, 50);
        c.readd_in_cb = 1; /* refused: the loop is stopping */
        T_EQ_INT(loop_post(loop, http_start_all, &c), 0);
        wait_for(&srv->requests, 50, 5000);
        loop_stop_request(loop, 10000 * scale);
        T_EQ_INT(loop_join(loop, 0), LOOP_ERR_TIMEOUT); /* still working */
        T_EQ_INT(loop_join(loop, 10000 * scale), 0);
        loop_destroy(loop);
        tsrv_stop(srv);
        http_ctx_release(&c);
        T_EQ_INT(atomic_load(&c.ok), 50);
        T_EQ_INT(atomic_load(&c.cancelled), 0);
        T_EQ_INT(atomic_load(&c.refused_after), 50);
}

/* A cancelled transfer never calls back; its easy handle is free again. */
typedef struct cancel_ctx {
        http_ctx_t *c;
        int rc_cancel, rc_again, rc_readd;
        _Atomic long step;
} cancel_ctx_t;

static void cancel_step1(void *arg) {
        cancel_ctx_t *k = arg;
        CURL *e         = k->c->reqs[0].easy;
        loop_http_add(k->c->loop, e, http_done, &k->c->reqs[0]);
        k->rc_readd = loop_http_add(k->c->loop, e, http_done, &k->c->reqs[0]);
        atomic_store(&k->step, 1);
}

static void cancel_step2(void *arg) {
        cancel_ctx_t *k = arg;
        CURL *e         = k->c->reqs[0].easy;
        k->rc_cancel    = loop_http_cancel(k->c->loop, e);
        k->rc_again     = loop_http_cancel(k->c->loop, e);
        atomic_store(&k->step, 2);
}

static void test_loop_http_cancel(void) {
        tsrv_t *srv = tsrv_start("hello", 5000);
        T_ASSERT(srv);
        loop_t *loop = new_started_loop(NULL);
        static http_ctx_t c;
        static cancel_ctx_t k;
        http_ctx_init(&c, loop, srv, 1);
        memset(&k, 0, sizeof(k));
        k.c = &c;
        loop_post(loop, cancel_step1, &k);
        wait_for(&srv->requests, 1, 5000);
        loop_post(loop, cancel_step2, &k);
        T_EQ_INT(wait_for(&k.step, 2, 5000), 2);
        loop_stats_t st;
        loop_stats_get(loop, &st);
        loop_destroy(loop);
        tsrv_stop(srv);
        /* Free again: usable without a multi. */
        curl_easy_setopt(c.reqs[0].easy, CURLOPT_TIMEOUT_MS, 1L);
        http_ctx_release(&c);
        T_EQ_INT(k.rc_readd, LOOP_ERR_CURL);
        T_EQ_INT(k.rc_cancel, 0);
        T_EQ_INT(k.rc_again, LOOP_ERR_STATE);
        T_EQ_INT(atomic_load(&c.done), 0);
        T_EQ_INT(st.http_active, 0);
}

/* ---- pool ---------------------------------------------------------------- */

typedef struct route_item {
        int key;
        int ran_on; /* loop id */
        loop_t **loops;
        _Atomic long *done;
} route_item_t;

static int pool_n;
static loop_t *route_loops[4];

static void route_fn(void *arg) {
        route_item_t *it = arg;
        for (int i = 0; i < pool_n; i++)
                if (loop_on_thread(route_loops[i]))
                        it->ran_on = i;
        atomic_fetch_add(it->done, 1);
}

static void test_pool_dispatch_is_stable_by_key(void) {
        enum { KEYS = 400, REPEAT = 3 };
        char err[256]  = "";
        pool_opts_t po = {.threads = 4};
        pool_t *pool   = pool_new(&po, err, sizeof(err));
        T_ASSERTF(pool, "%s", err);
        T_EQ_INT(pool_start(pool, err, sizeof(err)), 0);
        pool_n = pool_size(pool);
        T_EQ_INT(pool_n, 4);
        for (int i = 0; i < 4; i++)
                route_loops[i] = pool_loop(pool, i);
        T_ASSERT(pool_loop(pool, 4) == NULL);
        static route_item_t items[KEYS][REPEAT];
        static _Atomic long done;
        atomic_store(&done, 0);
        for (int r = 0; r < REPEAT; r++)
                for (int k = 0; k < KEYS; k++) {
                        char key[64];
                        int n       = snprintf(key, sizeof(key),
                                               "669403bffbe3%04d/build-%d", k, k);
                        items[k][r] = (route_item_t){
                            .key = k, .ran_on = -1, .done = &done};
                        T_EQ_INT(pool_dispatch(pool, key, (size_t)n, route_fn,
                                               &items[k][r]),
                                 0);
                }
        T_EQ_INT(wait_for(&done, KEYS * REPEAT, 10000), KEYS * REPEAT);
        int per_loop[4] = {0};
        for (int k = 0; k < KEYS; k++) {
                char key[64];
                int n = snprintf(key, sizeof(key), "669403bffbe3%04d/build-%d",
                                 k, k);
                int want = pool_index_for(pool, key, (size_t)n);
                for (int r = 0; r < REPEAT; r++)
                        T_EQ_INT(items[k][r].ran_on, want);
                per_loop[want]++;
        }
        for (int i = 0; i < 4; i++)
                T_ASSERTF(per_loop[i] > KEYS / 8, "worker %d got %d of %d", i,
                          per_loop[i], KEYS);
        T_EQ_INT(pool_stop(pool, 0, 5000 * scale), 0);
        T_EQ_INT(pool_dispatch(pool, "a", 1, route_fn, NULL),
                 LOOP_ERR_STOPPING);
        pool_destroy(pool);
        /* Reference values (FNV-1a 64 + fmix64, computed independently):
         * routing must not change between versions or processes. */
        T_ASSERT(pool_hash("", 0) == 0xefd01f60ba992926ULL);
        T_ASSERT(pool_hash("a", 1) == 0x82a2a958a9bece5bULL);
        T_ASSERT(pool_hash("foobar", 6) == 0x2c22194922d1672bULL);
}

static void test_pool_bad_options(void) {
        char err[128]  = "";
        pool_opts_t po = {.threads = 0};
        T_ASSERT(pool_new(&po, err, sizeof(err)) == NULL);
        T_EQ_STR(err, "invalid workers.threads 0: must be 1..256");
        pool_destroy(NULL);
}

int main(void) {
        const char *s = getenv("BITMON_TEST_TIMEOUT_SCALE");
        if (s && *s >= '1' && *s <= '9')
                scale = *s - '0';
        signal(SIGPIPE, SIG_IGN);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        T_RUN(test_ptrmap_put_get_del);
        T_RUN(test_loop_posts_from_threads_run_once_on_loop);
        T_RUN(test_loop_post_after_stop_is_refused);
        T_RUN(test_loop_posts_before_start_run_on_start);
        T_RUN(test_loop_posts_coalesce_wakeups);
        T_RUN(test_loop_thread_hooks);
        T_RUN(test_loop_bad_options);
        T_RUN(test_loop_timers_order_and_delay);
        T_RUN(test_loop_timer_outlives_loop);
        T_RUN(test_loop_http_2000_concurrent);
        T_RUN(test_loop_http_reuses_connection);
        T_RUN(test_loop_stop_with_work_in_flight);
        T_RUN(test_loop_stop_grace_lets_transfers_finish);
        T_RUN(test_loop_http_cancel);
        T_RUN(test_pool_dispatch_is_stable_by_key);
        T_RUN(test_pool_bad_options);
        curl_global_cleanup();
        return t_done();
}
