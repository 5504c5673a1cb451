/* common/buf.c — capped growable buffers. */
#include "common/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf_t *b, size_t max) {
        b->data = NULL;
        b->len  = 0;
        b->size = 0;
        b->max  = max;
}

void buf_release(buf_t *b) {
        free(b->data);
        b->data = NULL;
        b->len  = 0;
        b->size = 0;
}

void buf_reset(buf_t *b) {
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

static int buf_reserve(buf_t *b, size_t n) {
        if (b->max && n > b->max - b->len)
                return BUF_ERR_CAP;
        if (n + 1 > SIZE_MAX / 2 - b->len)
                return BUF_ERR_OOM;
        size_t need = b->len + n + 1;
        if (need <= b->size)
                return 0;
        size_t size = b->size ? b->size : 64;
        while (size < need)
                size *= 2;
        if (b->max && size > b->max + 1)
                size = b->max + 1;
        char *p = realloc(b->data, size);
        if (!p)
                return BUF_ERR_OOM;
        b->data = p;
        b->size = size;
        return 0;
}

int buf_append(buf_t *b, const void *p, size_t n) {
        int err = buf_reserve(b, n);
        if (err)
                return err;
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int buf_append_str(buf_t *b, const char *s) {
        return buf_append(b, s, strlen(s));
}

int buf_vprintf(buf_t *b, const char *fmt, va_list ap) {
        va_list cp;
        va_copy(cp, ap);
        int n = vsnprintf(NULL, 0, fmt, cp);
        va_end(cp);
        if (n < 0)
                return BUF_ERR_OOM;
        int err = buf_reserve(b, (size_t)n);
        if (err)
                return err;
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
        return 0;
}

int buf_printf(buf_t *b, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int err = buf_vprintf(b, fmt, ap);
        va_end(ap);
        return err;
}

char *buf_detach(buf_t *b) {
        char *p = b->data;
        if (!p)
                p = calloc(1, 1);
        b->data = NULL;
        b->len  = 0;
        b->size = 0;
        return p;
}

const char *buf_cstr(const buf_t *b) {
        return b->data ? b->data : "";
}
