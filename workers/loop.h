/* workers/loop.h — one event loop per worker thread.
 *
 * A loop is a thread running libuv with one libcurl multi handle driven by
 * curl_multi_socket_action (each curl socket is a uv_poll, curl's timeout is
 * a uv_timer). Everything a worker does — HTTP calls, poll intervals,
 * backoffs — is a transfer or a timer on its loop, so one thread follows tens
 * of thousands of builds. Other threads hand work to a loop with loop_post.
 *
 * Threads: loop_new, loop_start, loop_stop*, loop_join, loop_destroy,
 * loop_post and loop_stats_get may be called from any thread (but not
 * loop_stop/loop_join/loop_destroy from the loop's own thread). Everything
 * else runs on the loop thread only — in a posted function, a timer or HTTP
 * callback, or the thread hooks.
 */
#ifndef BITMON_WORKERS_LOOP_H
#define BITMON_WORKERS_LOOP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

typedef struct loop loop_t;
typedef struct loop_timer loop_timer_t;

#define LOOP_ERR_OOM      (-1) /* allocation failed */
#define LOOP_ERR_STOPPING (-2) /* the loop is stopping or stopped */
#define LOOP_ERR_CURL     (-3) /* libcurl refused (see errstr or the log) */
#define LOOP_ERR_TIMEOUT  (-4) /* loop_join: the thread is still running */
#define LOOP_ERR_STATE    (-5) /* wrong state (already started, unknown) */

/* What a done callback sees when the transfer did not complete because the
 * loop stopped (loop_stop*). */
#define LOOP_HTTP_CANCELLED CURLE_ABORTED_BY_CALLBACK

typedef void(loop_fn_t)(void *arg);
typedef void(loop_timer_cb_t)(void *arg);
/* `easy` has been removed from the multi when this runs: the callback may
 * destroy it, inspect it (curl_easy_getinfo) or add it again. */
typedef void(loop_http_cb_t)(void *arg, CURL *easy, CURLcode result);

typedef struct loop_opts {
        int id;                     /* worker index: thread name, logs */
        long max_host_connections;  /* CURLMOPT_MAX_HOST_CONNECTIONS;
                                     * 0 = unlimited */
        long max_total_connections; /* CURLMOPT_MAX_TOTAL_CONNECTIONS;
                                     * 0 = unlimited */
        long max_connects;          /* connection cache size
                                     * (CURLMOPT_MAXCONNECTS); 0 = libcurl's
                                     * default */
        /* Run on the loop thread before anything else (create per-thread
         * resources: a Redis connection, a watch table). Non-zero fails
         * loop_start with the reason written to errstr. */
        int (*on_thread_start)(loop_t *loop, void *ud, char *errstr,
                               size_t errstr_size);
        /* Run on the loop thread after every transfer was completed or
         * cancelled and every accepted post ran, before the thread exits:
         * release per-thread resources and every timer still held. */
        void (*on_thread_stop)(loop_t *loop, void *ud);
        void *ud; /* handed to the hooks; loop_ud() */
} loop_opts_t;

/* Creates a loop (libuv loop, multi handle), not yet running. opts is copied
 * (NULL = defaults). Returns NULL with a reason in errstr. */
loop_t *loop_new(const loop_opts_t *opts, char *errstr, size_t errstr_size);

/* Spawns the loop thread and waits until on_thread_start returned. Returns 0,
 * or a LOOP_ERR_* with a reason (then the thread has exited; destroy). */
int loop_start(loop_t *loop, char *errstr, size_t errstr_size);

/* Asks the loop to stop, without waiting. From then on loop_http_add refuses
 * new transfers and timers no longer fire (owners learn of the stop in
 * on_thread_stop). Transfers in flight get up to grace_ms to finish normally
 * (0 = none); the rest are cancelled: their callbacks run with
 * LOOP_HTTP_CANCELLED. Then queued posts run, on_thread_stop runs, the
 * thread exits. Repeated calls are harmless (the first grace wins). */
void loop_stop_request(loop_t *loop, int grace_ms);

/* Waits up to timeout_ms (< 0 = forever) for the loop thread to exit.
 * Returns 0 (also when never started), LOOP_ERR_TIMEOUT, or LOOP_ERR_STATE
 * when called on the loop thread itself (it would wait forever). */
int loop_join(loop_t *loop, int timeout_ms);

/* loop_stop_request(loop, 0) + loop_join(loop, -1). Returns promptly. */
void loop_stop(loop_t *loop);

/* Stops (as loop_stop) if running, then frees the loop. Timers still
 * allocated stay valid for loop_timer_free only. NULL is a no-op. */
void loop_destroy(loop_t *loop);

/* Runs fn(arg) on the loop thread, once, in posting order. Many posts between
 * two turns of the loop cost one wakeup. Returns 0, LOOP_ERR_OOM, or
 * LOOP_ERR_STOPPING once the loop has run its last posts: then fn will never
 * run and arg is still the caller's. A post accepted (0) always runs, even
 * while the loop stops (loop_is_stopping() tells fn). */
int loop_post(loop_t *loop, loop_fn_t *fn, void *arg);

/* ---- loop thread only ------------------------------------------------- */

/* Adds easy to the loop's multi; cb(arg, easy, result) runs once when the
 * transfer completes or is cancelled by loop stop. The easy handle stays the
 * caller's (the loop never frees it and leaves CURLOPT_PRIVATE alone; it sets
 * CURLOPT_NOSIGNAL). Returns 0, LOOP_ERR_STOPPING, LOOP_ERR_OOM or
 * LOOP_ERR_CURL (e.g. the handle is already in a multi). */
int loop_http_add(loop_t *loop, CURL *easy, loop_http_cb_t *cb, void *arg);

/* Removes a transfer added with loop_http_add; its callback will not run.
 * Not from inside one of the transfer's own libcurl callbacks (write,
 * header). Returns 0, or LOOP_ERR_STATE when easy is not in this loop. */
int loop_http_cancel(loop_t *loop, CURL *easy);

/* A one-shot timer, unarmed. NULL on allocation failure. About 80 bytes
 * (a node of the loop's timer heap). */
loop_timer_t *loop_timer_new(loop_t *loop);

/* Arms (or re-arms) the timer: cb(arg) runs once, ms from now (ms <= 0: on
 * the next turn of the loop). Timers due at the same time fire in the order
 * they were started. */
void loop_timer_start(loop_timer_t *t, int64_t ms, loop_timer_cb_t *cb,
                      void *arg);

/* Disarms; harmless when not armed. */
void loop_timer_stop(loop_timer_t *t);

/* 1 while armed, 0 otherwise. */
int loop_timer_armed(const loop_timer_t *t);

/* Disarms and frees (also from its own callback). Also allowed from any
 * thread after the loop thread has exited. NULL is a no-op. */
void loop_timer_free(loop_timer_t *t);

/* fn(arg) runs on every turn of the loop, just before it waits for I/O
 * (e.g. to write what was queued during the turn), also while the loop
 * stops, until removed (fn NULL) or the loop's end; one per loop. */
void loop_before_poll(loop_t *loop, loop_fn_t *fn, void *arg);

/* The loop's clock: monotonic milliseconds, cached once per loop turn. */
int64_t loop_now_ms(const loop_t *loop);

/* 1 once a stop was requested and the loop is acting on it. */
int loop_is_stopping(const loop_t *loop);

/* ---- any thread ------------------------------------------------------- */

/* 1 when called on this loop's thread. */
int loop_on_thread(const loop_t *loop);

int loop_id(const loop_t *loop);

/* opts.ud, shared by every loop built from the same options. */
void *loop_ud(const loop_t *loop);

/* A slot for this loop's own context (a Redis connection, a watch table),
 * usually set in on_thread_start and cleared in on_thread_stop. Loop thread
 * only (or before start / after join). */
void loop_ctx_set(loop_t *loop, void *ctx);
void *loop_ctx(const loop_t *loop);

typedef struct loop_stats {
        uint64_t posts_run;    /* posted functions run */
        uint64_t wakeups;      /* loop wakeups for posts/stop (coalesced) */
        uint64_t http_started; /* loop_http_add calls accepted */
        uint64_t http_done;    /* callbacks run (completed or cancelled) */
        int64_t http_active;   /* transfers in the multi now */
        int64_t timers;        /* loop_timer_t allocated now */
} loop_stats_t;

/* A snapshot of the counters (relaxed atomics; for metrics and tests). */
void loop_stats_get(const loop_t *loop, loop_stats_t *out);

#endif
