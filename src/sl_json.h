/*
 * sl_json.h - the JSON writer of the hot path. Events are serialized straight into a
 * batch arena with these helpers; nothing here allocates except buffer growth.
 * Parsing JSON is jansson's job (specs, REST bodies, tests); writing it is ours.
 */
#ifndef SL_JSON_H
#define SL_JSON_H

#include "sl_buf.h"

/* Length (1..4) of the valid UTF-8 sequence at s (at most n > 0 bytes), 0 when it is not
 * one (overlong forms, surrogates and code points past U+10FFFF are invalid). */
size_t sl_utf8_len(const unsigned char *s, size_t n);

/* Write s[0..n) as a quoted JSON string. Escapes '"', '\\' and control characters;
 * invalid UTF-8 sequences are replaced with U+FFFD so the output is always valid JSON. */
void sl_json_str(sl_buf_t *b, const char *s, size_t n);
static inline void sl_json_cstr(sl_buf_t *b, const char *s) { sl_json_str(b, s, strlen(s)); }

/* The decimal digits of v written to o (room for 20, no NUL); returns how many. */
size_t sl_u64_text(char *o, uint64_t v);

/* Integers, written straight into the buffer (every event carries a dozen). */
static inline void sl_json_u64(sl_buf_t *b, uint64_t v)
{
    if (sl_unlikely(b->len + 21 > b->cap)) sl_buf_grow(b, 20);
    b->len += sl_u64_text(b->data + b->len, v);
}

static inline void sl_json_i64(sl_buf_t *b, int64_t v)
{
    if (v < 0) {
        sl_buf_putc(b, '-');
        sl_json_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        sl_json_u64(b, (uint64_t)v);
    }
}

/* Quoted standard base64 (RFC 4648, with padding) of p[0..n). */
void sl_json_base64(sl_buf_t *b, const uint8_t *p, size_t n);

/* Write `"key":` (key must not need escaping: it is a literal in our code) */
static inline void sl_json_key(sl_buf_t *b, const char *lit_key)
{
    sl_buf_putc(b, '"');
    sl_buf_puts(b, lit_key);
    sl_buf_put(b, "\":", 2);
}

/* True when s[0..n) is a JSON number literal as RFC 8259 defines it. */
bool sl_json_is_number(const char *s, size_t n);

#endif
