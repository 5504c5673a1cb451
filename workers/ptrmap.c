/* workers/ptrmap.c — pointer-keyed open-addressing hash map (see ptrmap.h). */
#include "workers/ptrmap.h"

#include <stdint.h>
#include <stdlib.h>

static size_t ptrmap_hash(const void *key, size_t cap) {
        uint64_t h = (uint64_t)(uintptr_t)key;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        return (size_t)h & (cap - 1);
}

void ptrmap_init(ptrmap_t *m) {
        m->slots = NULL;
        m->cap   = 0;
        m->count = 0;
}

void ptrmap_release(ptrmap_t *m) {
        free(m->slots);
        ptrmap_init(m);
}

static void ptrmap_insert(ptrmap_slot_t *slots, size_t cap, const void *key,
                          void *val) {
        size_t i = ptrmap_hash(key, cap);
        while (slots[i].key && slots[i].key != key)
                i = (i + 1) & (cap - 1);
        slots[i].key = key;
        slots[i].val = val;
}

static int ptrmap_grow(ptrmap_t *m) {
        size_t ncap       = m->cap ? m->cap * 2 : 64;
        ptrmap_slot_t *ns = calloc(ncap, sizeof(*ns));
        if (!ns)
                return -1;
        for (size_t i = 0; i < m->cap; i++)
                if (m->slots[i].key)
                        ptrmap_insert(ns, ncap, m->slots[i].key,
                                      m->slots[i].val);
        free(m->slots);
        m->slots = ns;
        m->cap   = ncap;
        return 0;
}

static ptrmap_slot_t *ptrmap_find(const ptrmap_t *m, const void *key) {
        if (!m->cap || !key)
                return NULL;
        size_t i = ptrmap_hash(key, m->cap);
        while (m->slots[i].key) {
                if (m->slots[i].key == key)
                        return &m->slots[i];
                i = (i + 1) & (m->cap - 1);
        }
        return NULL;
}

int ptrmap_put(ptrmap_t *m, const void *key, void *val) {
        ptrmap_slot_t *s = ptrmap_find(m, key);
        if (s) {
                s->val = val;
                return 0;
        }
        if ((m->count + 1) * 2 > m->cap && ptrmap_grow(m) != 0)
                return -1;
        ptrmap_insert(m->slots, m->cap, key, val);
        m->count++;
        return 0;
}

void *ptrmap_get(const ptrmap_t *m, const void *key) {
        ptrmap_slot_t *s = ptrmap_find(m, key);
        return s ? s->val : NULL;
}

void *ptrmap_del(ptrmap_t *m, const void *key) {
        ptrmap_slot_t *s = ptrmap_find(m, key);
        if (!s)
                return NULL;
        void *val   = s->val;
        size_t mask = m->cap - 1;
        size_t i    = (size_t)(s - m->slots);
        size_t j    = i;
        /* Backward shift: move later entries of the probe run into the hole
         * when their home slot does not lie cyclically in (i, j]. */
        for (;;) {
                j = (j + 1) & mask;
                if (!m->slots[j].key)
                        break;
                size_t home = ptrmap_hash(m->slots[j].key, m->cap);
                if (((j - home) & mask) >= ((j - i) & mask)) {
                        m->slots[i] = m->slots[j];
                        i           = j;
                }
        }
        m->slots[i].key = NULL;
        m->slots[i].val = NULL;
        m->count--;
        return val;
}
