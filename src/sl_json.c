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

/* Nonzero when one of the 8 bytes of w needs a closer look inside a JSON string: a control
 * character (< 0x20), '"', '\\' or a byte >= 0x80 (UTF-8 to validate). Exact as a yes/no:
 * a subtraction's borrow only spills into higher bytes from a byte that matches itself,
 * and a high bit it sets where no byte matches belongs to a byte >= 0x80, flagged anyway. */
static inline uint64_t sl_json_special8(uint64_t w)
{
    const uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    uint64_t q = w ^ (lo * '"'), bs = w ^ (lo * '\\');
    return ((w - lo * 0x20) | (q - lo) | (bs - lo) | w) & hi;
}

static inline bool sl_json_plain(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\' && c < 0x80;
}

void sl_json_str(sl_buf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    /* Worst case is 6 output bytes per input byte; grow once for the common case. */
    if (sl_unlikely(b->len + n + 3 > b->cap)) sl_buf_grow(b, n + 2);
    b->data[b->len++] = '"';
    size_t run = 0;   /* start of the pending run of bytes that need no escaping */
    size_t i = 0;
    for (;;) {
        /* Plain ASCII eight bytes at a time, then byte by byte up to what stopped it. */
        for (uint64_t w; i + 8 <= n; i += 8) {
            memcpy(&w, p + i, 8);
            if (sl_json_special8(w)) break;
        }
        while (i < n && sl_json_plain(p[i])) i++;
        if (i >= n) break;
        unsigned char c = p[i];
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

static const uint64_t sl_pow10_u64[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
    100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
    10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
    100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull};

/* Decimal digits of v (1..20): from its bit length, corrected by one comparison (v | 1
 * makes 0 one digit and changes nothing else: the powers of 10 it is compared with are
 * 1 or even). */
static inline unsigned sl_u64_ndigits(uint64_t v)
{
    v |= 1;
    unsigned t = (unsigned)(64 - __builtin_clzll(v)) * 1233 >> 12;
    return t + (v >= sl_pow10_u64[t]);
}

static inline char *sl_put2(char *e, uint32_t d)
{
    e -= 2;
    memcpy(e, sl_digits2 + d * 2, 2);
    return e;
}

/* The digits of w ending just before e, two per (32-bit, cheap) division. */
static inline void sl_u32_digits(char *e, uint32_t w)
{
    while (w >= 100) {
        e = sl_put2(e, w % 100);
        w /= 100;
    }
    if (w >= 10) sl_put2(e, w);
    else e[-1] = (char)('0' + w);
}

/* Above 32 bits: eight digits at a time off the bottom until the rest fits. */
static __attribute__((noinline)) size_t sl_u64_text_big(char *o, uint64_t v)
{
    unsigned nd = sl_u64_ndigits(v);
    char *e = o + nd;
    while (v > UINT32_MAX) {
        uint64_t q = v / 100000000;
        uint32_t r = (uint32_t)(v - q * 100000000);
        v = q;
        for (int k = 0; k < 4; k++) {
            e = sl_put2(e, r % 100);
            r /= 100;
        }
    }
    sl_u32_digits(e, (uint32_t)v);
    return nd;
}

size_t sl_u64_text(char *o, uint64_t v)
{
    if (v > UINT32_MAX) return sl_u64_text_big(o, v);
    unsigned nd = sl_u64_ndigits(v);
    sl_u32_digits(o + nd, (uint32_t)v);
    return nd;
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
