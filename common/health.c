/* common/health.c — the readiness components behind one mutex. */
#include "common/health.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

typedef struct component {
        char name[HEALTH_MAX_NAME];
        char reason[HEALTH_MAX_REASON];
        health_state_t state;
        metrics_gauge_t *gauge;
} component_t;

struct health {
        pthread_mutex_t lock;
        metrics_t *metrics;
        component_t comp[HEALTH_MAX_COMPONENTS];
        size_t n;
};

static const char *const state_names[] = {"ok", "degraded", "not ready"};

health_t *health_new(metrics_t *metrics) {
        health_t *h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        if (pthread_mutex_init(&h->lock, NULL) != 0) {
                free(h);
                return NULL;
        }
        h->metrics = metrics;
        health_set(h, "process", HEALTH_NOT_READY, "starting");
        return h;
}

void health_destroy(health_t *h) {
        if (!h)
                return;
        pthread_mutex_destroy(&h->lock);
        free(h);
}

/* The component named `name`, added when new; NULL when full. Lock held. */
static component_t *find(health_t *h, const char *name) {
        for (size_t i = 0; i < h->n; i++)
                if (strncmp(h->comp[i].name, name, HEALTH_MAX_NAME - 1) == 0)
                        return &h->comp[i];
        if (h->n == HEALTH_MAX_COMPONENTS)
                return NULL;
        component_t *c = &h->comp[h->n++];
        snprintf(c->name, sizeof(c->name), "%s", name);
        c->gauge = metrics_gauge(h->metrics, "bitmon_health_state",
                                 "Readiness per component: 0 ok, 1 degraded, "
                                 "2 not ready.",
                                 "component", c->name, NULL);
        return c;
}

void health_set(health_t *h, const char *component, health_state_t state,
                const char *reason) {
        if (!h || !component)
                return;
        pthread_mutex_lock(&h->lock);
        component_t *c = find(h, component);
        if (c) {
                bool changed = c->state != state ||
                               strncmp(c->reason, reason ? reason : "",
                                       sizeof(c->reason) - 1) != 0;
                c->state = state;
                snprintf(c->reason, sizeof(c->reason), "%s",
                         reason ? reason : "");
                for (char *p = c->reason; *p; p++) /* one line each */
                        if ((unsigned char)*p < 0x20)
                                *p = ' ';
                metrics_gauge_set(c->gauge, (double)state);
                if (changed)
                        LOG_INFO("health", "%s: %s%s%s", c->name,
                                 state_names[state], *c->reason ? ": " : "",
                                 c->reason);
        }
        pthread_mutex_unlock(&h->lock);
        if (!c)
                LOG_ERROR("health", "too many components, %s ignored",
                          component);
}

static bool ready_locked(const health_t *h) {
        for (size_t i = 0; i < h->n; i++)
                if (h->comp[i].state == HEALTH_NOT_READY)
                        return false;
        return true;
}

bool health_ready(health_t *h) {
        pthread_mutex_lock(&h->lock);
        bool ready = ready_locked(h);
        pthread_mutex_unlock(&h->lock);
        return ready;
}

bool health_render(health_t *h, buf_t *out, int *err) {
        pthread_mutex_lock(&h->lock);
        bool ready = ready_locked(h);
        int e      = buf_printf(out, "%s\n", ready ? "ready" : "not ready");
        for (size_t i = 0; i < h->n && e == 0; i++) {
                const component_t *c = &h->comp[i];
                if (c->state != HEALTH_OK)
                        e = buf_printf(out, "%s: %s%s%s\n", c->name,
                                       state_names[c->state],
                                       *c->reason ? ": " : "", c->reason);
        }
        pthread_mutex_unlock(&h->lock);
        *err = e;
        return ready;
}
