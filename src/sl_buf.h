/*
 * sl_buf.h - growable byte buffer used for every piece of serialized output: event
 * JSON in batch arenas, checkpoint files, log lines. Appends never fail (allocation
 * aborts on OOM, see sl_common.h); callers reuse buffers with sl_buf_reset() so the
 * hot path allocates only while a buffer is still growing to its working size.
 */
#ifndef SL_BUF_H
#define SL_BUF_H

#include "sl_common.h"

typedef struct sl_buf {
    char  *data;   /* NUL-terminated when len < cap (sl_buf_cstr guarantees it) */
    size_t len;
    size_t cap;
} sl_buf_t;

#define SL_BUF_INIT {NULL, 0, 0}

void sl_buf_init(sl_buf_t *b);
void sl_buf_free(sl_buf_t *b);
void sl_buf_grow(sl_buf_t *b, size_t extra);  /* ensure cap >= len + extra + 1 */
void sl_buf_printf(sl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sl_buf_cstr(sl_buf_t *b);            /* NUL-terminate and return data */
char *sl_buf_steal(sl_buf_t *b);                 /* return data (NUL-terminated), reset b */

static inline void sl_buf_reset(sl_buf_t *b) { b->len = 0; }

static inline void sl_buf_put(sl_buf_t *b, const void *p, size_t n)
{
    if (sl_unlikely(b->len + n + 1 > b->cap)) sl_buf_grow(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void sl_buf_putc(sl_buf_t *b, char c)
{
    if (sl_unlikely(b->len + 2 > b->cap)) sl_buf_grow(b, 1);
    b->data[b->len++] = c;
}

static inline void sl_buf_puts(sl_buf_t *b, const char *s) { sl_buf_put(b, s, strlen(s)); }

#endif
