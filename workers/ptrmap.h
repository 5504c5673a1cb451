/* workers/ptrmap.h — a small hash map from pointers to pointers.
 *
 * Open addressing with linear probing and backward-shift deletion; the table
 * doubles at 50% load and never shrinks. The loop uses it to find its record
 * for a curl easy handle without touching the handle's CURLOPT_PRIVATE (which
 * belongs to the caller). Not thread-safe.
 */
#ifndef BITMON_WORKERS_PTRMAP_H
#define BITMON_WORKERS_PTRMAP_H

#include <stddef.h>

typedef struct ptrmap_slot {
        const void *key; /* NULL = empty */
        void *val;
} ptrmap_slot_t;

typedef struct ptrmap {
        ptrmap_slot_t *slots;
        size_t cap; /* power of two, or 0 before the first put */
        size_t count;
} ptrmap_t;

void ptrmap_init(ptrmap_t *m);
void ptrmap_release(ptrmap_t *m);

/* Inserts or replaces key (non-NULL). Returns 0, or -1 on allocation
 * failure (the map is unchanged). */
int ptrmap_put(ptrmap_t *m, const void *key, void *val);

/* The value for key, or NULL. */
void *ptrmap_get(const ptrmap_t *m, const void *key);

/* Removes key and returns its value, or NULL when absent. */
void *ptrmap_del(ptrmap_t *m, const void *key);

#endif
