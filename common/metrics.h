/* common/metrics.h — a small Prometheus registry: counters, gauges and
 * histograms with fixed buckets, with labels, rendered in the text
 * exposition format (version 0.0.4) for GET /metrics.
 *
 * Use: at startup each module asks the registry for the series it updates
 * (metrics_counter(m, "bitmon_results_total", "Results published.", "event",
 * "finished", NULL)) and keeps the handle; the hot path then only does a
 * relaxed C11 atomic add on that handle — no lock, no lookup. Asking again for
 * the same name and labels returns the same handle.
 *
 * Label values are short identifiers (event names, status names, workspace
 * slugs, token fingerprints): at most METRICS_MAX_LABEL_VALUE bytes. A token
 * never goes into a label: values shaped like Bitrise tokens (bitwat_,
 * bitpat_) and long values are refused. Each family holds at most
 * METRICS_MAX_SERIES series, so a runaway label cannot eat the memory.
 *
 * Misuse (bad name, label names that differ from the family's, a name reused
 * with another type, a refused value) is logged and returns NULL; every update
 * function accepts NULL and does nothing, so a bad registration costs a
 * metric, not the process. A NULL registry is allowed too (no metrics).
 *
 * Threads: registration and rendering take the registry's mutex and may run on
 * any thread; updates are lock-free from any thread. Handles stay valid until
 * metrics_destroy, which must run after every thread using them has stopped.
 */
#ifndef BITMON_COMMON_METRICS_H
#define BITMON_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define METRICS_MAX_LABELS      8
#define METRICS_MAX_LABEL_VALUE 64
#define METRICS_MAX_SERIES      2000 /* per family */
#define METRICS_MAX_BUCKETS     32

typedef struct metrics metrics_t;
typedef struct metrics_counter metrics_counter_t;
typedef struct metrics_gauge metrics_gauge_t;
typedef struct metrics_histogram metrics_histogram_t;

/* An empty registry; NULL on allocation failure. Caller frees with
 * metrics_destroy (which also frees every handle). */
metrics_t *metrics_new(void);
void metrics_destroy(metrics_t *m);

/* Finds or creates a series. `name` matches [a-zA-Z_:][a-zA-Z0-9_:]*
 * (counters should end in _total), `help` is one line. The variadic part is
 * label name, value pairs ending with NULL; every series of a family uses the
 * same label names in the same order. Returns a handle owned by the registry,
 * or NULL (logged) on misuse. */
metrics_counter_t *metrics_counter(metrics_t *m, const char *name,
                                   const char *help, ...)
    __attribute__((sentinel));
metrics_gauge_t *metrics_gauge(metrics_t *m, const char *name, const char *help,
                               ...) __attribute__((sentinel));

/* A gauge whose value is computed at each scrape by fn(opaque), called on the
 * HTTP thread with the registry's mutex held: fn must be thread-safe and
 * quick, and must not call back into the registry. */
metrics_gauge_t *metrics_gauge_fn(metrics_t *m, const char *name,
                                  const char *help, double (*fn)(void *),
                                  void *opaque, ...) __attribute__((sentinel));

/* `bounds` are the bucket upper bounds, strictly rising, finite, at most
 * METRICS_MAX_BUCKETS (the +Inf bucket is implicit); copied. Every series of
 * a family has the family's first bounds. */
metrics_histogram_t *metrics_histogram(metrics_t *m, const char *name,
                                       const char *help, const double *bounds,
                                       size_t n_bounds, ...)
    __attribute__((sentinel));

/* Updates: lock-free, any thread, NULL-safe. */
void metrics_counter_add(metrics_counter_t *c, uint64_t n);
static inline void metrics_counter_inc(metrics_counter_t *c) {
        metrics_counter_add(c, 1);
}
uint64_t metrics_counter_value(const metrics_counter_t *c);
void metrics_gauge_set(metrics_gauge_t *g, double v);
void metrics_gauge_add(metrics_gauge_t *g, double delta);
double metrics_gauge_value(const metrics_gauge_t *g);
/* NaN is ignored. */
void metrics_histogram_observe(metrics_histogram_t *h, double v);

/* Appends the exposition of every family, in registration order, to out.
 * Returns 0 or a BUF_ERR_* when out's cap is reached or memory runs out. */
int metrics_render(metrics_t *m, buf_t *out);

/* Registers the usual process series: bitmon_build_info{version} 1,
 * process_start_time_seconds (now: call it at startup),
 * process_resident_memory_bytes and process_open_fds (read from /proc at each
 * scrape). Returns 0, or -1 when a series could not be registered. */
int metrics_process_register(metrics_t *m, const char *version);

/* The content type of the rendering, for the HTTP response. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
