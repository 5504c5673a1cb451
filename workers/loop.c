/* workers/loop.c — a worker thread: libuv + one libcurl multi (see loop.h).
 *
 * The curl+libuv pattern: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION → one uv_poll per socket) and when to call it
 * back (CURLMOPT_TIMERFUNCTION → one uv_timer); libuv wakes us and we hand
 * the event to curl_multi_socket_action, then collect finished transfers.
 */
#include "workers/loop.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "common/log.h"
#include "workers/ptrmap.h"

#define LOOP_FAC "loop"

/* A timer is a node of its loop's binary heap (by due time, then start
 * order), all driven by one uv_timer (loop->timer): 64 bytes where a
 * uv_timer_t of its own was 184, and one watch holds one for as long as it
 * lives. */
struct loop_timer {
        loop_t *loop;
        loop_timer_cb_t *cb;
        void *arg;
        uint64_t due;  /* uv_now ms */
        uint32_t seq;  /* start order: ties fire first started, first */
        uint32_t slot; /* index in loop->theap + 1; 0 = not armed */
        struct loop_timer *prev, *next; /* loop->tall: every live timer */
        int orphaned; /* the loop thread exited (loop_teardown) */
};

typedef struct loop_sock { /* one socket curl asked us to watch */
        uv_poll_t h;
        loop_t *loop;
        curl_socket_t fd;
} loop_sock_t;

typedef struct loop_xfer { /* one transfer in the multi */
        CURL *easy;
        loop_http_cb_t *cb;
        void *arg;
        struct loop_xfer *prev, *next;
} loop_xfer_t;

typedef struct loop_post_node {
        loop_fn_t *fn;
        void *arg;
        struct loop_post_node *next;
} loop_post_node_t;

struct loop {
        loop_opts_t opts;
        void *ctx; /* loop_ctx_set */

        /* Loop thread only (or the creating thread before start). */
        uv_loop_t uv;
        uv_async_t wake;        /* posts and stop requests */
        uv_timer_t curl_timer;  /* curl's timeout */
        uv_timer_t grace_timer; /* end of the stop grace period */
        uv_timer_t trim_timer;  /* loop_on_trim */
        uv_timer_t timer;       /* the earliest loop_timer_t */
        uv_prepare_t prepare;   /* loop_before_poll */
        loop_fn_t *before_poll;
        void *before_poll_arg;
        uint64_t timer_at;    /* when timer fires (uv_now ms) ... */
        int timer_on;         /* ... when armed */
        loop_timer_t **theap; /* armed timers, a binary min-heap */
        size_t ntheap, captheap;
        uint32_t tseq;      /* next loop_timer_t.seq */
        loop_timer_t *tall; /* every timer allocated (orphaned at the end) */
        CURLM *multi;
        ptrmap_t xfer_by_easy;
        loop_xfer_t *xfers; /* every transfer in the multi */
        size_t nxfers;
        int uv_ready;      /* uv handles initialised */
        int hooks_started; /* on_thread_start returned 0 */
        int stopping;      /* stop begun: no new transfers, no timers */
        int finished;      /* loop_finish ran */
        int torn_down;
        int in_run;   /* inside the main uv_run */
        int cleaning; /* curl_multi_cleanup is running */

        /* Shared, under lock. */
        pthread_mutex_t lock;
        pthread_cond_t cond; /* start_done, exited */
        loop_post_node_t *post_head, *post_tail;
        int posts_closed; /* no more posts; wake must not be used */
        int stop_requested;
        int grace_ms;
        int thread_created;
        int start_done;
        int start_rc;
        char start_err[256];
        int exited;
        int joined;
        pthread_t tid;  /* for pthread_join */
        pthread_t self; /* set by the thread itself; valid once has_self */
        int has_self;

        _Atomic uint64_t posts_run;
        _Atomic uint64_t wakeups;
        _Atomic uint64_t http_started;
        _Atomic uint64_t http_done;
        _Atomic int64_t http_active;
        _Atomic int64_t timers;
};

static void loop_check_done(loop_t *loop);

/* ---- posts ------------------------------------------------------------ */

int loop_post(loop_t *loop, loop_fn_t *fn, void *arg) {
        loop_post_node_t *n = malloc(sizeof(*n));
        if (!n)
                return LOOP_ERR_OOM;
        n->fn   = fn;
        n->arg  = arg;
        n->next = NULL;
        pthread_mutex_lock(&loop->lock);
        if (loop->posts_closed) {
                pthread_mutex_unlock(&loop->lock);
                free(n);
                return LOOP_ERR_STOPPING;
        }
        int was_empty = loop->post_head == NULL;
        if (loop->post_tail)
                loop->post_tail->next = n;
        else
                loop->post_head = n;
        loop->post_tail = n;
        /* Under the lock, so the loop cannot close `wake` meanwhile. A
         * non-empty queue already has a wakeup on its way. */
        if (was_empty)
                uv_async_send(&loop->wake);
        pthread_mutex_unlock(&loop->lock);
        return 0;
}

/* Runs the posts queued now. With `close`, also refuses every later post
 * and runs until the queue is empty. */
static void loop_posts_run(loop_t *loop, int close) {
        for (;;) {
                pthread_mutex_lock(&loop->lock);
                loop_post_node_t *n = loop->post_head;
                loop->post_head = loop->post_tail = NULL;
                if (close)
                        loop->posts_closed = 1;
                pthread_mutex_unlock(&loop->lock);
                if (!n)
                        return;
                while (n) {
                        loop_post_node_t *next = n->next;
                        n->fn(n->arg);
                        free(n);
                        atomic_fetch_add_explicit(&loop->posts_run, 1,
                                                  memory_order_relaxed);
                        n = next;
                }
                if (!close)
                        return;
        }
}

/* ---- transfers -------------------------------------------------------- */

static void loop_xfer_unlink(loop_t *loop, loop_xfer_t *x) {
        if (x->prev)
                x->prev->next = x->next;
        else
                loop->xfers = x->next;
        if (x->next)
                x->next->prev = x->prev;
        loop->nxfers--;
        atomic_fetch_sub_explicit(&loop->http_active, 1, memory_order_relaxed);
}

int loop_http_add(loop_t *loop, CURL *easy, loop_http_cb_t *cb, void *arg) {
        if (loop->stopping)
                return LOOP_ERR_STOPPING;
        loop_xfer_t *x = calloc(1, sizeof(*x));
        if (!x)
                return LOOP_ERR_OOM;
        x->easy = easy;
        x->cb   = cb;
        x->arg  = arg;
        if (ptrmap_get(&loop->xfer_by_easy, easy)) {
                free(x);
                return LOOP_ERR_CURL; /* already added here */
        }
        if (ptrmap_put(&loop->xfer_by_easy, easy, x) != 0) {
                free(x);
                return LOOP_ERR_OOM;
        }
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        CURLMcode mc = curl_multi_add_handle(loop->multi, easy);
        if (mc != CURLM_OK) {
                ptrmap_del(&loop->xfer_by_easy, easy);
                free(x);
                LOG_WARN(LOOP_FAC, "cannot add transfer: %s loop=%d",
                         curl_multi_strerror(mc), loop->opts.id);
                return mc == CURLM_OUT_OF_MEMORY ? LOOP_ERR_OOM : LOOP_ERR_CURL;
        }
        x->next = loop->xfers;
        if (x->next)
                x->next->prev = x;
        loop->xfers = x;
        loop->nxfers++;
        atomic_fetch_add_explicit(&loop->http_started, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&loop->http_active, 1, memory_order_relaxed);
        return 0;
}

/* Takes x out of the multi and our tables; the caller frees x. */
static void loop_xfer_remove(loop_t *loop, loop_xfer_t *x) {
        ptrmap_del(&loop->xfer_by_easy, x->easy);
        loop_xfer_unlink(loop, x);
        curl_multi_remove_handle(loop->multi, x->easy);
}

int loop_http_cancel(loop_t *loop, CURL *easy) {
        loop_xfer_t *x = ptrmap_get(&loop->xfer_by_easy, easy);
        if (!x)
                return LOOP_ERR_STATE;
        loop_xfer_remove(loop, x);
        free(x);
        return 0;
}

/* Removes x and runs its callback; x is freed before the callback, which may
 * add the easy handle again. */
static void loop_xfer_complete(loop_t *loop, loop_xfer_t *x, CURLcode res) {
        CURL *easy         = x->easy;
        loop_http_cb_t *cb = x->cb;
        void *arg          = x->arg;
        loop_xfer_remove(loop, x);
        free(x);
        atomic_fetch_add_explicit(&loop->http_done, 1, memory_order_relaxed);
        cb(arg, easy, res);
}

static void loop_xfers_abort(loop_t *loop) {
        while (loop->xfers)
                loop_xfer_complete(loop, loop->xfers, LOOP_HTTP_CANCELLED);
}

/* ---- stopping --------------------------------------------------------- */

/* The end: cancel what is left, run the last posts, let owners release
 * their state, leave uv_run. Idempotent. */
static void loop_finish(loop_t *loop) {
        if (loop->finished)
                return;
        loop->finished = 1;
        loop->stopping = 1;
        if (loop->uv_ready) {
                uv_timer_stop(&loop->grace_timer);
                uv_timer_stop(&loop->trim_timer);
        }
        loop_xfers_abort(loop);
        loop_posts_run(loop, 1);
        if (loop->hooks_started && loop->opts.on_thread_stop)
                loop->opts.on_thread_stop(loop, loop->opts.ud);
        if (loop->in_run)
                uv_stop(&loop->uv);
}

static void loop_on_grace_end(uv_timer_t *h) {
        loop_t *loop = h->data;
        if (loop->nxfers)
                LOG_INFO(LOOP_FAC,
                         "stop grace over, cancelling transfers loop=%d "
                         "active=%zu",
                         loop->opts.id, loop->nxfers);
        loop_finish(loop);
}

static void loop_stop_begin(loop_t *loop, int grace_ms) {
        loop->stopping = 1;
        if (loop->nxfers == 0 || grace_ms <= 0)
                loop_finish(loop);
        else
                uv_timer_start(&loop->grace_timer, loop_on_grace_end,
                               (uint64_t)grace_ms, 0);
}

static void loop_on_wake(uv_async_t *h) {
        loop_t *loop = h->data;
        atomic_fetch_add_explicit(&loop->wakeups, 1, memory_order_relaxed);
        loop_posts_run(loop, 0);
        pthread_mutex_lock(&loop->lock);
        int stop  = loop->stop_requested;
        int grace = loop->grace_ms;
        pthread_mutex_unlock(&loop->lock);
        if (stop && !loop->stopping)
                loop_stop_begin(loop, grace);
}

/* ---- curl <-> libuv ----------------------------------------------------- */

static void loop_check_done(loop_t *loop) {
        CURLMsg *msg;
        int left;
        while (loop->multi &&
               (msg = curl_multi_info_read(loop->multi, &left)) != NULL) {
                if (msg->msg != CURLMSG_DONE)
                        continue;
                loop_xfer_t *x =
                    ptrmap_get(&loop->xfer_by_easy, msg->easy_handle);
                if (x)
                        loop_xfer_complete(loop, x, msg->data.result);
        }
        if (loop->stopping && !loop->finished && loop->nxfers == 0)
                loop_finish(loop);
}

static void loop_on_poll(uv_poll_t *h, int status, int events) {
        loop_sock_t *ls = h->data;
        loop_t *loop    = ls->loop;
        int flags       = 0;
        int running;
        if (status < 0)
                flags |= CURL_CSELECT_ERR;
        if (events & UV_READABLE)
                flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
                flags |= CURL_CSELECT_OUT;
        curl_multi_socket_action(loop->multi, ls->fd, flags, &running);
        loop_check_done(loop);
}

static void loop_sock_closed(uv_handle_t *h) {
        free(h->data);
}

static int loop_curl_socket_cb(CURL *easy, curl_socket_t s, int what,
                               void *userp, void *socketp) {
        loop_t *loop    = userp;
        loop_sock_t *ls = socketp;
        (void)easy;
        if (what == CURL_POLL_REMOVE) {
                if (ls) {
                        uv_poll_stop(&ls->h);
                        uv_close((uv_handle_t *)&ls->h, loop_sock_closed);
                        if (!loop->cleaning)
                                curl_multi_assign(loop->multi, s, NULL);
                }
                return 0;
        }
        if (!ls) {
                ls = calloc(1, sizeof(*ls));
                if (!ls)
                        return -1;
                ls->loop = loop;
                ls->fd   = s;
                int err  = uv_poll_init_socket(&loop->uv, &ls->h, s);
                if (err != 0) {
                        LOG_WARN(LOOP_FAC, "cannot watch socket: %s loop=%d",
                                 uv_strerror(err), loop->opts.id);
                        free(ls);
                        return -1;
                }
                ls->h.data = ls;
                curl_multi_assign(loop->multi, s, ls);
        }
        int events = 0;
        if (what & CURL_POLL_IN)
                events |= UV_READABLE;
        if (what & CURL_POLL_OUT)
                events |= UV_WRITABLE;
        uv_poll_start(&ls->h, events, loop_on_poll);
        return 0;
}

static void loop_on_curl_timeout(uv_timer_t *h) {
        loop_t *loop = h->data;
        int running;
        if (!loop->multi)
                return;
        curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        loop_check_done(loop);
}

/* Never call curl from here (curl is calling us): arm the uv timer, even
 * for 0 ms, and act when it fires. */
static int loop_curl_timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        loop_t *loop = userp;
        (void)multi;
        if (!loop->uv_ready)
                return 0;
        if (timeout_ms < 0)
                uv_timer_stop(&loop->curl_timer);
        else
                uv_timer_start(&loop->curl_timer, loop_on_curl_timeout,
                               (uint64_t)timeout_ms, 0);
        return 0;
}

/* ---- timers ----------------------------------------------------------- */

static int timer_before(const loop_timer_t *a, const loop_timer_t *b) {
        return a->due < b->due ||
               (a->due == b->due && (int32_t)(a->seq - b->seq) < 0);
}

static void theap_put(loop_t *loop, size_t i, loop_timer_t *t) {
        loop->theap[i] = t;
        t->slot        = (uint32_t)i + 1;
}

static void theap_up(loop_t *loop, size_t i) {
        loop_timer_t *t = loop->theap[i];
        while (i > 0 && timer_before(t, loop->theap[(i - 1) / 2])) {
                theap_put(loop, i, loop->theap[(i - 1) / 2]);
                i = (i - 1) / 2;
        }
        theap_put(loop, i, t);
}

static void theap_down(loop_t *loop, size_t i) {
        loop_timer_t *t = loop->theap[i];
        for (;;) {
                size_t c = 2 * i + 1;
                if (c >= loop->ntheap)
                        break;
                if (c + 1 < loop->ntheap &&
                    timer_before(loop->theap[c + 1], loop->theap[c]))
                        c++;
                if (!timer_before(loop->theap[c], t))
                        break;
                theap_put(loop, i, loop->theap[c]);
                i = c;
        }
        theap_put(loop, i, t);
}

static void theap_remove(loop_t *loop, loop_timer_t *t) {
        size_t i           = t->slot - 1;
        loop_timer_t *last = loop->theap[--loop->ntheap];
        t->slot            = 0;
        if (last == t)
                return;
        theap_put(loop, i, last);
        theap_down(loop, i);
        theap_up(loop, last->slot - 1);
}

static void loop_on_timers(uv_timer_t *h);

/* Points loop->timer at the earliest armed timer (a removed timer leaves
 * it early: it then fires, finds nothing due and comes here again). A
 * timer already due gets timeout 0, as its own uv_timer would have. */
static void timers_rearm(loop_t *loop) {
        if (!loop->ntheap || loop->stopping) {
                if (loop->timer_on)
                        uv_timer_stop(&loop->timer);
                loop->timer_on = 0;
                return;
        }
        uint64_t due = loop->theap[0]->due, now = uv_now(&loop->uv);
        uint64_t at = due > now ? due : now;
        if (loop->timer_on && loop->timer_at == at)
                return;
        loop->timer_on = 1;
        loop->timer_at = at;
        uv_timer_start(&loop->timer, loop_on_timers, at - now, 0);
}

/* Runs every timer due now that was started before this pass; one started
 * from a callback waits for the next turn, even when due at once. */
static void loop_on_timers(uv_timer_t *h) {
        loop_t *loop   = h->data;
        uint64_t now   = uv_now(&loop->uv);
        uint32_t pass  = loop->tseq;
        loop->timer_on = 0;
        while (loop->ntheap && !loop->stopping) {
                loop_timer_t *t = loop->theap[0];
                if (t->due > now || (int32_t)(t->seq - pass) >= 0)
                        break;
                theap_remove(loop, t);
                t->cb(t->arg); /* may free t or start it again */
        }
        timers_rearm(loop); /* owners hear of a stop in on_thread_stop */
}

loop_timer_t *loop_timer_new(loop_t *loop) {
        loop_timer_t *t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->loop = loop;
        t->next = loop->tall;
        if (loop->tall)
                loop->tall->prev = t;
        loop->tall = t;
        atomic_fetch_add_explicit(&loop->timers, 1, memory_order_relaxed);
        return t;
}

void loop_timer_start(loop_timer_t *t, int64_t ms, loop_timer_cb_t *cb,
                      void *arg) {
        if (t->orphaned)
                return; /* the loop is gone */
        loop_t *loop = t->loop;
        t->cb        = cb;
        t->arg       = arg;
        t->due       = uv_now(&loop->uv) + (ms > 0 ? (uint64_t)ms : 0);
        t->seq       = loop->tseq++;
        if (t->slot) {
                theap_down(loop, t->slot - 1);
                theap_up(loop, t->slot - 1);
        } else {
                if (loop->ntheap == loop->captheap) {
                        size_t cap = loop->captheap ? loop->captheap * 2 : 256;
                        loop_timer_t **v =
                            realloc(loop->theap, cap * sizeof(*v));
                        if (!v) {
                                LOG_ERROR(LOOP_FAC,
                                          "cannot arm a timer: out of memory "
                                          "loop=%d",
                                          loop->opts.id);
                                return;
                        }
                        loop->theap    = v;
                        loop->captheap = cap;
                }
                loop->theap[loop->ntheap++] = t;
                theap_up(loop, loop->ntheap - 1);
        }
        if (loop->theap[0] == t)
                timers_rearm(loop);
}

void loop_timer_stop(loop_timer_t *t) {
        if (t && !t->orphaned && t->slot)
                theap_remove(t->loop, t);
}

int loop_timer_armed(const loop_timer_t *t) {
        return t && !t->orphaned && t->slot != 0;
}

void loop_timer_free(loop_timer_t *t) {
        if (!t)
                return;
        if (!t->orphaned) {
                loop_t *loop = t->loop;
                loop_timer_stop(t);
                if (t->prev)
                        t->prev->next = t->next;
                else
                        loop->tall = t->next;
                if (t->next)
                        t->next->prev = t->prev;
                atomic_fetch_sub_explicit(&loop->timers, 1,
                                          memory_order_relaxed);
        }
        free(t);
}

/* At the loop's end: the timers their owners did not free stay valid for
 * loop_timer_free only. */
static void timers_orphan(loop_t *loop) {
        for (loop_timer_t *t = loop->tall, *next; t; t = next) {
                next        = t->next;
                t->orphaned = 1;
                t->slot     = 0;
                t->prev = t->next = NULL;
                atomic_fetch_sub_explicit(&loop->timers, 1,
                                          memory_order_relaxed);
        }
        loop->tall   = NULL;
        loop->ntheap = 0;
        free(loop->theap);
        loop->theap    = NULL;
        loop->captheap = 0;
}

static void loop_on_prepare(uv_prepare_t *h) {
        loop_t *loop = h->data;
        if (loop->before_poll)
                loop->before_poll(loop->before_poll_arg);
}

void loop_before_poll(loop_t *loop, loop_fn_t *fn, void *arg) {
        loop->before_poll     = fn;
        loop->before_poll_arg = arg;
        if (fn)
                uv_prepare_start(&loop->prepare, loop_on_prepare);
        else
                uv_prepare_stop(&loop->prepare);
}

int64_t loop_now_ms(const loop_t *loop) {
        return (int64_t)uv_now(&loop->uv);
}

int loop_is_stopping(const loop_t *loop) {
        return loop->stopping;
}

/* ---- heap ------------------------------------------------------------- */

/* glibc keeps the freed memory of its arenas resident: a burst of intake
 * (10^5 jobs parsed, 512 transfers' buffers per loop) leaves free chunks
 * among the long-lived watches, which malloc reuses but never returns
 * (250,000 watches: 250 MB free but resident, 40 % of the RSS). Every
 * LOOP_TRIM_CHECK_MS one loop of the process looks at the arenas' free
 * bytes and gives the free pages back (malloc_trim) when they grew by
 * LOOP_TRIM_MIN_FREE since the last trim (a burst just ended), or at least
 * LOOP_TRIM_MAX_MS after it (pages of reused free chunks). Both walk every
 * free chunk: a few ms at 10^6 of them. */
#define LOOP_TRIM_CHECK_MS 5000
#define LOOP_TRIM_MAX_MS   60000
#define LOOP_TRIM_MIN_FREE ((size_t)16 << 20)

static _Atomic uint64_t loop_trim_checked; /* uv_now of the last look */
static _Atomic uint64_t loop_trim_at;      /* the last trim and the free */
static _Atomic size_t loop_trim_free;      /* bytes then */

static void loop_on_trim(uv_timer_t *h) {
#ifdef __GLIBC__
        loop_t *loop  = h->data;
        uint64_t now  = uv_now(&loop->uv);
        uint64_t last = atomic_load(&loop_trim_checked);
        if (last && now < last + LOOP_TRIM_CHECK_MS / 2)
                return; /* another loop looked this period */
        if (!atomic_compare_exchange_strong(&loop_trim_checked, &last, now))
                return;
        struct mallinfo2 mi = mallinfo2();
        if (mi.fordblks < LOOP_TRIM_MIN_FREE ||
            (mi.fordblks < atomic_load(&loop_trim_free) + LOOP_TRIM_MIN_FREE &&
             now < atomic_load(&loop_trim_at) + LOOP_TRIM_MAX_MS))
                return;
        malloc_trim(0);
        atomic_store(&loop_trim_at, now);
        atomic_store(&loop_trim_free, mi.fordblks);
        LOG_DEBUG(LOOP_FAC, "heap trimmed loop=%d free_mb=%zu in_use_mb=%zu",
                  loop->opts.id, mi.fordblks >> 20, mi.uordblks >> 20);
#else
        (void)h;
#endif
}

/* ---- lifetime --------------------------------------------------------- */

static void loop_close_walk(uv_handle_t *h, void *arg) {
        loop_t *loop = arg;
        if (uv_is_closing(h))
                return;
        if (h == (uv_handle_t *)&loop->wake ||
            h == (uv_handle_t *)&loop->curl_timer ||
            h == (uv_handle_t *)&loop->grace_timer ||
            h == (uv_handle_t *)&loop->trim_timer ||
            h == (uv_handle_t *)&loop->timer ||
            h == (uv_handle_t *)&loop->prepare) {
                uv_close(h, NULL);
        } else if (h->type == UV_POLL) {
                uv_close(h, loop_sock_closed);
        } else {
                uv_close(h, NULL);
        }
}

/* Releases curl and libuv state; on the loop thread at its end, or in
 * loop_destroy when the thread never ran. */
static void loop_teardown(loop_t *loop) {
        if (loop->torn_down)
                return;
        loop->torn_down = 1;
        loop_finish(loop);
        if (loop->multi) {
                loop->cleaning = 1;
                curl_multi_cleanup(loop->multi); /* closes cached sockets */
                loop->multi = NULL;
        }
        timers_orphan(loop);
        if (loop->uv_ready) {
                uv_walk(&loop->uv, loop_close_walk, loop);
                uv_run(&loop->uv, UV_RUN_DEFAULT);
                if (uv_loop_close(&loop->uv) != 0)
                        LOG_WARN(LOOP_FAC,
                                 "event loop closed with handles "
                                 "open loop=%d",
                                 loop->opts.id);
        }
}

static void *loop_thread_main(void *arg) {
        loop_t *loop = arg;
        char name[16];
        char err[256] = "";
        int rc        = 0;
        snprintf(name, sizeof(name), "worker-%d", loop->opts.id);
        pthread_setname_np(pthread_self(), name);
        pthread_mutex_lock(&loop->lock);
        loop->self     = pthread_self();
        loop->has_self = 1;
        pthread_mutex_unlock(&loop->lock);
        if (loop->opts.on_thread_start)
                rc = loop->opts.on_thread_start(loop, loop->opts.ud, err,
                                                sizeof(err));
        loop->hooks_started = rc == 0;
        pthread_mutex_lock(&loop->lock);
        loop->start_done = 1;
        loop->start_rc   = rc;
        snprintf(loop->start_err, sizeof(loop->start_err), "%s", err);
        pthread_cond_broadcast(&loop->cond);
        pthread_mutex_unlock(&loop->lock);
        if (rc == 0) {
                uv_timer_start(&loop->trim_timer, loop_on_trim,
                               LOOP_TRIM_CHECK_MS, LOOP_TRIM_CHECK_MS);
                loop->in_run = 1;
                uv_run(&loop->uv, UV_RUN_DEFAULT);
                loop->in_run = 0;
        }
        loop_teardown(loop);
        pthread_mutex_lock(&loop->lock);
        loop->exited = 1;
        pthread_cond_broadcast(&loop->cond);
        pthread_mutex_unlock(&loop->lock);
        return NULL;
}

static int loop_multi_setup(loop_t *loop, char *errstr, size_t errstr_size) {
        CURLM *m = curl_multi_init();
        if (!m) {
                snprintf(errstr, errstr_size, "cannot create curl multi");
                return LOOP_ERR_CURL;
        }
        loop->multi = m;
        curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, loop_curl_socket_cb);
        curl_multi_setopt(m, CURLMOPT_SOCKETDATA, loop);
        curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, loop_curl_timer_cb);
        curl_multi_setopt(m, CURLMOPT_TIMERDATA, loop);
        curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
        curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS,
                          loop->opts.max_host_connections);
        curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                          loop->opts.max_total_connections);
        if (loop->opts.max_connects > 0)
                curl_multi_setopt(m, CURLMOPT_MAXCONNECTS,
                                  loop->opts.max_connects);
        return 0;
}

static int loop_uv_setup(loop_t *loop, char *errstr, size_t errstr_size) {
        int err = uv_loop_init(&loop->uv);
        if (err != 0) {
                snprintf(errstr, errstr_size, "cannot create event loop: %s",
                         uv_strerror(err));
                return LOOP_ERR_OOM;
        }
        err = uv_async_init(&loop->uv, &loop->wake, loop_on_wake);
        if (err != 0) {
                uv_loop_close(&loop->uv);
                snprintf(errstr, errstr_size, "cannot create loop wakeup: %s",
                         uv_strerror(err));
                return LOOP_ERR_OOM;
        }
        loop->wake.data = loop;
        uv_timer_init(&loop->uv, &loop->curl_timer);
        loop->curl_timer.data = loop;
        uv_timer_init(&loop->uv, &loop->grace_timer);
        loop->grace_timer.data = loop;
        uv_timer_init(&loop->uv, &loop->timer);
        loop->timer.data = loop;
        uv_prepare_init(&loop->uv, &loop->prepare);
        loop->prepare.data = loop;
        uv_unref((uv_handle_t *)&loop->prepare);
        uv_timer_init(&loop->uv, &loop->trim_timer);
        loop->trim_timer.data = loop;
        uv_unref((uv_handle_t *)&loop->trim_timer);
        loop->uv_ready = 1;
        return 0;
}

loop_t *loop_new(const loop_opts_t *opts, char *errstr, size_t errstr_size) {
        loop_t *loop = calloc(1, sizeof(*loop));
        if (!loop) {
                snprintf(errstr, errstr_size, "cannot allocate loop");
                return NULL;
        }
        if (opts)
                loop->opts = *opts;
        if (loop->opts.max_host_connections < 0 ||
            loop->opts.max_total_connections < 0 ||
            loop->opts.max_connects < 0) {
                snprintf(errstr, errstr_size,
                         "invalid loop options: negative connection limit");
                free(loop);
                return NULL;
        }
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&loop->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&loop->lock, NULL);
        ptrmap_init(&loop->xfer_by_easy);
        if (loop_uv_setup(loop, errstr, errstr_size) != 0 ||
            loop_multi_setup(loop, errstr, errstr_size) != 0) {
                loop->hooks_started = 0;
                loop_destroy(loop);
                return NULL;
        }
        return loop;
}

int loop_start(loop_t *loop, char *errstr, size_t errstr_size) {
        pthread_mutex_lock(&loop->lock);
        if (loop->thread_created || loop->torn_down) {
                pthread_mutex_unlock(&loop->lock);
                snprintf(errstr, errstr_size, "loop %d already started",
                         loop->opts.id);
                return LOOP_ERR_STATE;
        }
        int err = pthread_create(&loop->tid, NULL, loop_thread_main, loop);
        if (err != 0) {
                pthread_mutex_unlock(&loop->lock);
                char eb[128];
                snprintf(errstr, errstr_size,
                         "cannot start worker thread %d: %s", loop->opts.id,
                         log_errno_str(err, eb, sizeof(eb)));
                return LOOP_ERR_STATE;
        }
        loop->thread_created = 1;
        while (!loop->start_done)
                pthread_cond_wait(&loop->cond, &loop->lock);
        int rc = loop->start_rc;
        if (rc != 0)
                snprintf(errstr, errstr_size,
                         "cannot start worker thread %d: %s", loop->opts.id,
                         loop->start_err[0] ? loop->start_err
                                            : "start hook failed");
        pthread_mutex_unlock(&loop->lock);
        if (rc != 0) {
                loop_join(loop, -1);
                return LOOP_ERR_STATE;
        }
        return 0;
}

void loop_stop_request(loop_t *loop, int grace_ms) {
        pthread_mutex_lock(&loop->lock);
        if (!loop->stop_requested) {
                loop->stop_requested = 1;
                loop->grace_ms       = grace_ms;
                if (!loop->posts_closed)
                        uv_async_send(&loop->wake);
        }
        pthread_mutex_unlock(&loop->lock);
}

int loop_join(loop_t *loop, int timeout_ms) {
        if (loop_on_thread(loop)) {
                LOG_ERROR(LOOP_FAC, "loop %d cannot wait for itself",
                          loop->opts.id);
                return LOOP_ERR_STATE;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        if (timeout_ms > 0) {
                until.tv_sec += timeout_ms / 1000;
                until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
        }
        int rc = 0;
        pthread_mutex_lock(&loop->lock);
        while (loop->thread_created && !loop->exited) {
                if (timeout_ms < 0) {
                        pthread_cond_wait(&loop->cond, &loop->lock);
                } else if (pthread_cond_timedwait(&loop->cond, &loop->lock,
                                                  &until) == ETIMEDOUT) {
                        rc = loop->exited ? 0 : LOOP_ERR_TIMEOUT;
                        break;
                }
        }
        if (rc == 0 && loop->thread_created && !loop->joined) {
                /* The thread has set `exited` and only returns now. */
                pthread_join(loop->tid, NULL);
                loop->joined = 1;
        }
        pthread_mutex_unlock(&loop->lock);
        return rc;
}

void loop_stop(loop_t *loop) {
        loop_stop_request(loop, 0);
        loop_join(loop, -1);
}

void loop_destroy(loop_t *loop) {
        if (!loop)
                return;
        if (loop->thread_created)
                loop_stop(loop);
        else
                loop_teardown(loop); /* never ran: posts run here */
        ptrmap_release(&loop->xfer_by_easy);
        pthread_mutex_destroy(&loop->lock);
        pthread_cond_destroy(&loop->cond);
        free(loop);
}

int loop_on_thread(const loop_t *loop) {
        loop_t *l = (loop_t *)(uintptr_t)loop; /* the lock: no const */
        pthread_mutex_lock(&l->lock);
        int on = l->has_self && pthread_equal(pthread_self(), l->self);
        pthread_mutex_unlock(&l->lock);
        return on;
}

int loop_id(const loop_t *loop) {
        return loop->opts.id;
}

void *loop_ud(const loop_t *loop) {
        return loop->opts.ud;
}

void loop_ctx_set(loop_t *loop, void *ctx) {
        loop->ctx = ctx;
}

void *loop_ctx(const loop_t *loop) {
        return loop->ctx;
}

void loop_stats_get(const loop_t *loop, loop_stats_t *out) {
        loop_t *l = (loop_t *)(uintptr_t)loop; /* atomics: no const */
        out->posts_run =
            atomic_load_explicit(&l->posts_run, memory_order_relaxed);
        out->wakeups = atomic_load_explicit(&l->wakeups, memory_order_relaxed);
        out->http_started =
            atomic_load_explicit(&l->http_started, memory_order_relaxed);
        out->http_done =
            atomic_load_explicit(&l->http_done, memory_order_relaxed);
        out->http_active =
            atomic_load_explicit(&l->http_active, memory_order_relaxed);
        out->timers = atomic_load_explicit(&l->timers, memory_order_relaxed);
}
