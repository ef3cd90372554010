/*
 * sl_json.c - JSON writer for the hot path (see sl_json.h). Pure functions over sl_buf_t.
 */
#include "sl_json.h"

static const char sl_hex[] = "0123456789abcdef";

size_t sl_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;                 /* continuation or overlong 2-byte lead */
    if (c < 0xE0) { len = 2; cp = c & 0x1F; }
    else if (c < 0xF0) { len = 3; cp = c & 0x0F; }
    else if (c < 0xF5) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    return len;
}

void sl_json_str(sl_buf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    /* Worst case is 6 output bytes per input byte; grow once for the common case. */
    sl_buf_grow(b, n + 2);
    sl_buf_putc(b, '"');
    size_t run = 0;   /* start of the pending run of bytes that need no escaping */
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (sl_likely(c >= 0x20 && c != '"' && c != '\\' && c < 0x80)) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = sl_utf8_len(p + i, n - i);
            if (l) { i += l; continue; }
            sl_buf_put(b, s + run, i - run);
            sl_buf_put(b, "\xEF\xBF\xBD", 3);   /* U+FFFD */
            i++;
            run = i;
            continue;
        }
        sl_buf_put(b, s + run, i - run);
        switch (c) {
        case '"':  sl_buf_put(b, "\\\"", 2); break;
        case '\\': sl_buf_put(b, "\\\\", 2); break;
        case '\n': sl_buf_put(b, "\\n", 2); break;
        case '\r': sl_buf_put(b, "\\r", 2); break;
        case '\t': sl_buf_put(b, "\\t", 2); break;
        case '\b': sl_buf_put(b, "\\b", 2); break;
        case '\f': sl_buf_put(b, "\\f", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', sl_hex[c >> 4], sl_hex[c & 15]};
            sl_buf_put(b, u, 6);
        }
        }
        i++;
        run = i;
    }
    sl_buf_put(b, s + run, n - run);
    sl_buf_putc(b, '"');
}

/* Two digits per division: every event carries a dozen integers (LSNs, timestamps in
 * ms/µs/ns), so this is one of the hottest loops of the encoder. */
static const char sl_digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

void sl_json_u64(sl_buf_t *b, uint64_t v)
{
    char tmp[24];
    int i = 24;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        tmp[--i] = sl_digits2[r * 2 + 1];
        tmp[--i] = sl_digits2[r * 2];
    }
    if (v >= 10) {
        tmp[--i] = sl_digits2[v * 2 + 1];
        tmp[--i] = sl_digits2[v * 2];
    } else {
        tmp[--i] = (char)('0' + v);
    }
    sl_buf_put(b, tmp + i, (size_t)(24 - i));
}

void sl_json_i64(sl_buf_t *b, int64_t v)
{
    if (v < 0) {
        sl_buf_putc(b, '-');
        sl_json_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        sl_json_u64(b, (uint64_t)v);
    }
}

static const char sl_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sl_json_base64(sl_buf_t *b, const uint8_t *p, size_t n)
{
    sl_buf_grow(b, (n + 2) / 3 * 4 + 2);
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = sl_b64[v >> 18];
        *o++ = sl_b64[(v >> 12) & 63];
        *o++ = sl_b64[(v >> 6) & 63];
        *o++ = sl_b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = sl_b64[v >> 18];
        *o++ = sl_b64[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = sl_b64[v >> 18];
        *o++ = sl_b64[(v >> 12) & 63];
        *o++ = sl_b64[(v >> 6) & 63];
        *o++ = '=';
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
}

bool sl_json_is_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return false;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return false;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    return i == n;
}
