/*
 * sl_buf.c - growable byte buffer (see sl_buf.h). Not thread-safe: a buffer belongs to
 * one thread at a time.
 */
#include "sl_buf.h"

#include <stdarg.h>

void sl_buf_init(sl_buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void sl_buf_free(sl_buf_t *b)
{
    free(b->data);
    sl_buf_init(b);
}

void sl_buf_grow(sl_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    b->data = sl_realloc(b->data, cap);
    b->cap = cap;
}

void sl_buf_printf(sl_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_buf_grow(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= b->cap - b->len) {
        sl_buf_grow(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

const char *sl_buf_cstr(sl_buf_t *b)
{
    sl_buf_grow(b, 0);
    b->data[b->len] = '\0';
    return b->data;
}

char *sl_buf_steal(sl_buf_t *b)
{
    sl_buf_cstr(b);
    char *p = b->data;
    sl_buf_init(b);
    return p;
}
