/* common/metrics.c — the Prometheus registry: families of labelled series
 * behind one mutex (registration, rendering), values in C11 atomics (updates).
 * Doubles live in atomics as their bit patterns, updated with CAS.
 */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind_t;

static const char *const kind_names[] = {"counter", "gauge", "histogram"};

typedef struct family family_t;

/* The head of every series; the typed handles start with it. */
typedef struct series {
        struct series *next;
        family_t *fam;
        char *labels; /* `a="x",b="y"` (escaped) or "" */
} series_t;

struct metrics_counter {
        series_t s;
        _Atomic uint64_t value;
};

struct metrics_gauge {
        series_t s;
        _Atomic uint64_t bits; /* a double */
        double (*fn)(void *);
        void *opaque;
};

struct metrics_histogram {
        series_t s;
        _Atomic uint64_t sum_bits; /* a double */
        _Atomic uint64_t counts[]; /* per bucket (not cumulative), +Inf last */
};

struct family {
        family_t *next;
        char *name, *help;
        kind_t kind;
        char *label_names[METRICS_MAX_LABELS];
        size_t n_labels;
        double bounds[METRICS_MAX_BUCKETS];
        size_t n_bounds;
        series_t *first, *last;
        size_t n_series;
        bool warned_full;
};

struct metrics {
        pthread_mutex_t lock;
        family_t *first, *last;
};

static uint64_t d2u(double d) {
        uint64_t u;
        memcpy(&u, &d, sizeof(u));
        return u;
}

static double u2d(uint64_t u) {
        double d;
        memcpy(&d, &u, sizeof(d));
        return d;
}

/* ---- life cycle ---- */

metrics_t *metrics_new(void) {
        metrics_t *m = calloc(1, sizeof(*m));
        if (m && pthread_mutex_init(&m->lock, NULL) != 0) {
                free(m);
                return NULL;
        }
        return m;
}

static void family_free(family_t *f) {
        for (series_t *s = f->first, *next; s; s = next) {
                next = s->next;
                free(s->labels);
                free(s);
        }
        for (size_t i = 0; i < f->n_labels; i++)
                free(f->label_names[i]);
        free(f->name);
        free(f->help);
        free(f);
}

void metrics_destroy(metrics_t *m) {
        if (!m)
                return;
        for (family_t *f = m->first, *next; f; f = next) {
                next = f->next;
                family_free(f);
        }
        pthread_mutex_destroy(&m->lock);
        free(m);
}

/* ---- validation ---- */

static bool name_ok(const char *s, bool colon) {
        const char *first = colon ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
                                    "OPQRSTUVWXYZ_:"
                                  : "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
                                    "OPQRSTUVWXYZ_";
        size_t n          = strlen(s);
        if (n == 0 || n > 200 || !strchr(first, s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!strchr(first, s[i]) && !(s[i] >= '0' && s[i] <= '9'))
                        return false;
        return true;
}

/* A label value we refuse: too long, or shaped like a Bitrise token. */
static bool value_refused(const char *v) {
        return strlen(v) > METRICS_MAX_LABEL_VALUE ||
               strncmp(v, "bitwat_", 7) == 0 || strncmp(v, "bitpat_", 7) == 0;
}

/* Appends s escaped for a label value (\\, \", \n). */
static int append_escaped(buf_t *b, const char *s, bool quotes) {
        int err = 0;
        for (; *s && err == 0; s++) {
                if (*s == '\\')
                        err = buf_append(b, "\\\\", 2);
                else if (*s == '\n')
                        err = buf_append(b, "\\n", 2);
                else if (*s == '"' && quotes)
                        err = buf_append(b, "\\\"", 2);
                else
                        err = buf_append(b, s, 1);
        }
        return err;
}

/* ---- registration ---- */

typedef struct labels {
        const char *names[METRICS_MAX_LABELS];
        const char *values[METRICS_MAX_LABELS];
        size_t n;
} labels_t;

/* Reads name, value pairs up to NULL; -1 (logged) when malformed. */
static int labels_read(const char *metric, va_list ap, labels_t *l) {
        const char *name;
        l->n = 0;
        while ((name = va_arg(ap, const char *)) != NULL) {
                const char *value = va_arg(ap, const char *);
                if (l->n == METRICS_MAX_LABELS || !value) {
                        LOG_ERROR("metrics",
                                  "%s: too many labels or a label "
                                  "without value",
                                  metric);
                        return -1;
                }
                if (!name_ok(name, false) || strncmp(name, "__", 2) == 0 ||
                    strcmp(name, "le") == 0) {
                        LOG_ERROR("metrics", "%s: bad label name", metric);
                        return -1;
                }
                if (value_refused(value)) {
                        LOG_ERROR("metrics",
                                  "%s: label %s refused (longer than "
                                  "%d bytes or token-like)",
                                  metric, name, METRICS_MAX_LABEL_VALUE);
                        return -1;
                }
                l->names[l->n]    = name;
                l->values[l->n++] = value;
        }
        return 0;
}

static family_t *family_find(metrics_t *m, const char *name) {
        for (family_t *f = m->first; f; f = f->next)
                if (strcmp(f->name, name) == 0)
                        return f;
        return NULL;
}

static family_t *family_create(metrics_t *m, const char *name, const char *help,
                               kind_t kind, const labels_t *l,
                               const double *bounds, size_t n_bounds) {
        family_t *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        f->kind = kind;
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        for (size_t i = 0; i < l->n; i++)
                if ((f->label_names[f->n_labels] = strdup(l->names[i])))
                        f->n_labels++;
        if (!f->name || !f->help || f->n_labels != l->n) {
                family_free(f);
                return NULL;
        }
        if (n_bounds > 0)
                memcpy(f->bounds, bounds, n_bounds * sizeof(double));
        f->n_bounds = n_bounds;
        if (m->last)
                m->last->next = f;
        else
                m->first = f;
        m->last = f;
        return f;
}

/* The family for name, created when new; NULL (logged) when it conflicts. */
static family_t *family_get(metrics_t *m, const char *name, const char *help,
                            kind_t kind, const labels_t *l,
                            const double *bounds, size_t n_bounds) {
        family_t *f = family_find(m, name);
        if (!f)
                return family_create(m, name, help, kind, l, bounds, n_bounds);
        bool same = f->kind == kind && f->n_labels == l->n &&
                    f->n_bounds == n_bounds &&
                    (n_bounds == 0 ||
                     memcmp(f->bounds, bounds, n_bounds * sizeof(double)) == 0);
        for (size_t i = 0; same && i < l->n; i++)
                same = strcmp(f->label_names[i], l->names[i]) == 0;
        if (!same) {
                LOG_ERROR("metrics",
                          "%s: registered again with another type, "
                          "labels or buckets",
                          name);
                return NULL;
        }
        return f;
}

/* `a="x",b="y"`; NULL on allocation failure. */
static char *labels_render(const labels_t *l) {
        buf_t b;
        int err = 0;
        buf_init(&b, 0);
        for (size_t i = 0; i < l->n && err == 0; i++) {
                err = buf_printf(&b, "%s%s=\"", i ? "," : "", l->names[i]);
                if (err == 0)
                        err = append_escaped(&b, l->values[i], true);
                if (err == 0)
                        err = buf_append(&b, "\"", 1);
        }
        if (err) {
                buf_release(&b);
                return NULL;
        }
        return buf_detach(&b);
}

/* Finds or adds the series of f with labels l; `size` bytes when new. */
static series_t *series_get(family_t *f, const labels_t *l, size_t size) {
        char *labels = labels_render(l);
        if (!labels)
                return NULL;
        for (series_t *s = f->first; s; s = s->next) {
                if (strcmp(s->labels, labels) == 0) {
                        free(labels);
                        return s;
                }
        }
        if (f->n_series >= METRICS_MAX_SERIES) {
                if (!f->warned_full)
                        LOG_WARN("metrics",
                                 "%s: more than %d series, new ones "
                                 "dropped",
                                 f->name, METRICS_MAX_SERIES);
                f->warned_full = true;
                free(labels);
                return NULL;
        }
        series_t *s = calloc(1, size);
        if (!s) {
                free(labels);
                return NULL;
        }
        s->fam    = f;
        s->labels = labels;
        if (f->last)
                f->last->next = s;
        else
                f->first = s;
        f->last = s;
        f->n_series++;
        return s;
}

/* Common path of every registration. */
static series_t *reg(metrics_t *m, const char *name, const char *help,
                     kind_t kind, const double *bounds, size_t n_bounds,
                     va_list ap) {
        labels_t l;
        series_t *s = NULL;
        if (!m)
                return NULL;
        if (!name_ok(name, true)) {
                LOG_ERROR("metrics", "bad metric name \"%.64s\"", name);
                return NULL;
        }
        if (labels_read(name, ap, &l) < 0)
                return NULL;
        size_t size = kind == KIND_COUNTER ? sizeof(metrics_counter_t)
                      : kind == KIND_GAUGE
                          ? sizeof(metrics_gauge_t)
                          : sizeof(metrics_histogram_t) +
                                (n_bounds + 1) * sizeof(_Atomic uint64_t);
        pthread_mutex_lock(&m->lock);
        family_t *f = family_get(m, name, help, kind, &l, bounds, n_bounds);
        if (f)
                s = series_get(f, &l, size);
        pthread_mutex_unlock(&m->lock);
        return s;
}

metrics_counter_t *metrics_counter(metrics_t *m, const char *name,
                                   const char *help, ...) {
        va_list ap;
        va_start(ap, help);
        series_t *s = reg(m, name, help, KIND_COUNTER, NULL, 0, ap);
        va_end(ap);
        return (metrics_counter_t *)s;
}

metrics_gauge_t *metrics_gauge(metrics_t *m, const char *name, const char *help,
                               ...) {
        va_list ap;
        va_start(ap, help);
        series_t *s = reg(m, name, help, KIND_GAUGE, NULL, 0, ap);
        va_end(ap);
        return (metrics_gauge_t *)s;
}

metrics_gauge_t *metrics_gauge_fn(metrics_t *m, const char *name,
                                  const char *help, double (*fn)(void *),
                                  void *opaque, ...) {
        va_list ap;
        va_start(ap, opaque);
        metrics_gauge_t *g =
            (metrics_gauge_t *)reg(m, name, help, KIND_GAUGE, NULL, 0, ap);
        va_end(ap);
        if (g && m) {
                pthread_mutex_lock(&m->lock);
                g->fn     = fn;
                g->opaque = opaque;
                pthread_mutex_unlock(&m->lock);
        }
        return g;
}

metrics_histogram_t *metrics_histogram(metrics_t *m, const char *name,
                                       const char *help, const double *bounds,
                                       size_t n_bounds, ...) {
        if (n_bounds == 0 || n_bounds > METRICS_MAX_BUCKETS) {
                LOG_ERROR("metrics", "%s: need 1 to %d buckets", name,
                          METRICS_MAX_BUCKETS);
                return NULL;
        }
        for (size_t i = 0; i < n_bounds; i++) {
                if (!isfinite(bounds[i]) ||
                    (i > 0 && bounds[i] <= bounds[i - 1])) {
                        LOG_ERROR("metrics",
                                  "%s: bucket bounds must be finite "
                                  "and rising",
                                  name);
                        return NULL;
                }
        }
        va_list ap;
        va_start(ap, n_bounds);
        series_t *s = reg(m, name, help, KIND_HISTOGRAM, bounds, n_bounds, ap);
        va_end(ap);
        return (metrics_histogram_t *)s;
}

/* ---- updates ---- */

void metrics_counter_add(metrics_counter_t *c, uint64_t n) {
        if (c)
                atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

uint64_t metrics_counter_value(const metrics_counter_t *c) {
        return c ? atomic_load_explicit(&c->value, memory_order_relaxed) : 0;
}

void metrics_gauge_set(metrics_gauge_t *g, double v) {
        if (g)
                atomic_store_explicit(&g->bits, d2u(v), memory_order_relaxed);
}

/* Adds delta to the double stored in *bits. */
static void atomic_add_double(_Atomic uint64_t *bits, double delta) {
        uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(
            bits, &old, d2u(u2d(old) + delta), memory_order_relaxed,
            memory_order_relaxed))
                ;
}

void metrics_gauge_add(metrics_gauge_t *g, double delta) {
        if (g)
                atomic_add_double(&g->bits, delta);
}

double metrics_gauge_value(const metrics_gauge_t *g) {
        if (!g)
                return 0;
        if (g->fn)
                return g->fn(g->opaque);
        return u2d(atomic_load_explicit(&g->bits, memory_order_relaxed));
}

void metrics_histogram_observe(metrics_histogram_t *h, double v) {
        if (!h || isnan(v))
                return;
        const family_t *f = h->s.fam;
        size_t i          = 0;
        while (i < f->n_bounds && v > f->bounds[i])
                i++;
        atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
        atomic_add_double(&h->sum_bits, v);
}

/* ---- rendering ---- */

/* The shortest text that reads back as v; NaN, +Inf, -Inf as Prometheus
 * spells them. */
static void fmt_double(double v, char *out, size_t size) {
        if (isnan(v)) {
                snprintf(out, size, "NaN");
                return;
        }
        if (isinf(v)) {
                snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
                return;
        }
        if (v == floor(v) && fabs(v) < 1e15) { /* integers as integers */
                snprintf(out, size, "%.0f", v);
                return;
        }
        for (int prec = 1; prec <= 17; prec++) {
                snprintf(out, size, "%.*g", prec, v);
                if (strtod(out, NULL) == v)
                        return;
        }
}

/* `name{labels}` or `name{labels,extra}` then " value\n". */
static int series_line(buf_t *b, const char *name, const char *suffix,
                       const char *labels, const char *extra,
                       const char *value) {
        bool any = *labels || (extra && *extra);
        return buf_printf(b, "%s%s%s%s%s%s%s %s\n", name, suffix,
                          any ? "{" : "", labels,
                          *labels && extra && *extra ? "," : "",
                          extra ? extra : "", any ? "}" : "", value);
}

static int render_histogram(buf_t *b, const family_t *f,
                            metrics_histogram_t *h) {
        char v[40], le[64], bound[40];
        uint64_t cum = 0;
        int err      = 0;
        for (size_t i = 0; i <= f->n_bounds && err == 0; i++) {
                cum +=
                    atomic_load_explicit(&h->counts[i], memory_order_relaxed);
                if (i < f->n_bounds)
                        fmt_double(f->bounds[i], bound, sizeof(bound));
                snprintf(le, sizeof(le), "le=\"%s\"",
                         i < f->n_bounds ? bound : "+Inf");
                snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
                err = series_line(b, f->name, "_bucket", h->s.labels, le, v);
        }
        fmt_double(
            u2d(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)), v,
            sizeof(v));
        if (err == 0)
                err = series_line(b, f->name, "_sum", h->s.labels, NULL, v);
        snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
        if (err == 0)
                err = series_line(b, f->name, "_count", h->s.labels, NULL, v);
        return err;
}

static int render_family(buf_t *b, const family_t *f) {
        int err = buf_printf(b, "# HELP %s ", f->name);
        if (err == 0)
                err = append_escaped(b, f->help, false);
        if (err == 0)
                err = buf_printf(b, "\n# TYPE %s %s\n", f->name,
                                 kind_names[f->kind]);
        for (series_t *s = f->first; s && err == 0; s = s->next) {
                char v[40];
                switch (f->kind) {
                case KIND_COUNTER:
                        snprintf(v, sizeof(v), "%llu",
                                 (unsigned long long)metrics_counter_value(
                                     (metrics_counter_t *)s));
                        err = series_line(b, f->name, "", s->labels, NULL, v);
                        break;
                case KIND_GAUGE:
                        fmt_double(metrics_gauge_value((metrics_gauge_t *)s), v,
                                   sizeof(v));
                        err = series_line(b, f->name, "", s->labels, NULL, v);
                        break;
                case KIND_HISTOGRAM:
                        err = render_histogram(b, f, (metrics_histogram_t *)s);
                        break;
                }
        }
        return err;
}

int metrics_render(metrics_t *m, buf_t *out) {
        int err = 0;
        if (!m)
                return 0;
        pthread_mutex_lock(&m->lock);
        for (family_t *f = m->first; f && err == 0; f = f->next)
                if (f->first)
                        err = render_family(out, f);
        pthread_mutex_unlock(&m->lock);
        return err;
}
