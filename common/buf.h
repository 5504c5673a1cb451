/* common/buf.h — growable byte buffers with a hard cap.
 *
 * Every buffer that fills from the network has a cap, checked where the bytes
 * arrive (curl's dynbuf idea): buf_append refuses to grow past `max` and
 * reports it, so a hostile peer cannot make us allocate without bound. The
 * data is always NUL-terminated (the terminator is not counted in len).
 *
 * Not thread-safe; a buffer belongs to one thread at a time.
 */
#ifndef BITMON_COMMON_BUF_H
#define BITMON_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
        char *data;  /* NULL until the first append; owned */
        size_t len;  /* bytes stored, excluding the terminator */
        size_t size; /* bytes allocated */
        size_t max;  /* hard cap on len; 0 = no cap (only for our own data) */
} buf_t;

#define BUF_ERR_CAP (-2) /* appending would exceed max */
#define BUF_ERR_OOM (-1) /* allocation failed */

/* Prepares an empty buffer holding at most `max` bytes (0 = unbounded). */
void buf_init(buf_t *b, size_t max);

/* Frees the storage; the buffer is empty again and may be reused. */
void buf_release(buf_t *b);

/* Empties the buffer, keeping its storage. */
void buf_reset(buf_t *b);

/* Appends n bytes. Returns 0, BUF_ERR_CAP (nothing appended) or BUF_ERR_OOM. */
int buf_append(buf_t *b, const void *p, size_t n);
int buf_append_str(buf_t *b, const char *s);
int buf_printf(buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);

/* Hands the storage to the caller (free() it) and leaves b empty; returns an
 * empty allocated string rather than NULL when nothing was appended (NULL only
 * on allocation failure). */
char *buf_detach(buf_t *b);

/* Returns the data as a C string ("" when empty); borrowed until the next
 * change to b. */
const char *buf_cstr(const buf_t *b);

#endif
