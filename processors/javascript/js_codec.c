/*
 * js_codec.c - event JSON to Duktape values and back, exact for every number the script
 * leaves alone (the design is described in js_codec.h).
 *
 * The decoder is a small recursive-descent JSON parser over one event's bytes that pushes
 * values with the Duktape API; it never allocates outside the heap except in codec-owned
 * buffers, so an error thrown from anywhere inside leaks nothing. The emitter is a single
 * forward pass over JSON.stringify's output.
 *
 * Threads: the codec belongs to one processor and runs on its thread.
 */
#include "js_codec.h"
#include "sl_json.h"

#include <math.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SL_JS_MAX_DEPTH     512      /* nesting of one event's JSON */
#define SL_JS_MARKER_CACHE  16384    /* marker strings kept in the heap between batches */
#define SL_JS_MARKER_COST   1280     /* heap bytes per cached marker allowed (~1/16 of cap) */
#define SL_JS_MARKER_LEAD   "\\u0001" /* how JSON.stringify writes the marker's first char */

/* ================================================================================= */
/* Setup                                                                             */
/* ================================================================================= */

void sl_js_codec_init(sl_js_codec_t *c, size_t heap_cap)
{
    memset(c, 0, sizeof(*c));
    size_t m = heap_cap / SL_JS_MARKER_COST;
    c->max_markers = m < SL_JS_MARKER_CACHE ? (uint32_t)m : SL_JS_MARKER_CACHE;
    uint64_t r[2] = {0, 0};
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        r[0] = sl_now_wall_us() ^ ((uint64_t)getpid() << 32);
        r[1] = (uint64_t)(uintptr_t)c * 0x9E3779B97F4A7C15ull ^ sl_now_mono_us();
    }
    snprintf(c->nonce, sizeof(c->nonce), "%016llx", (unsigned long long)(r[0] ^ r[1]));
}

void sl_js_codec_free(sl_js_codec_t *c)
{
    free(c->nums);
    free(c->id_ptr);
    free(c->id_pos);
    free(c->id_gen);
    free(c->val_slot);
    sl_buf_free(&c->keys);
    sl_buf_free(&c->scratch);
    memset(c, 0, sizeof(*c));
}

void sl_js_codec_heap_reset(sl_js_codec_t *c)
{
    c->nmarkers = 0;
}

void sl_js_codec_begin(sl_js_codec_t *c, duk_context *ctx, const char *arena)
{
    c->arena = arena;
    c->nnums = 0;
    c->nbig = 0;
    c->nkeep = 0;
    c->id_n = 0;
    c->val_built = false;
    sl_buf_reset(&c->keys);
    if (++c->gen == 0) {                /* wrapped: clear the slots once */
        if (c->id_gen) memset(c->id_gen, 0, c->id_cap * sizeof(*c->id_gen));
        c->gen = 1;
    }

    duk_push_heap_stash(ctx);
    duk_get_prop_string(ctx, -1, "markers");
    if (!duk_is_array(ctx, -1)) {
        duk_pop(ctx);
        duk_push_array(ctx);
        duk_dup_top(ctx);
        duk_put_prop_string(ctx, -3, "markers");
        c->nmarkers = 0;
    }
    duk_remove(ctx, -2);
    c->marker_idx = duk_get_top_index(ctx);
    c->keep_idx = duk_push_array(ctx);
}

/* ================================================================================= */
/* Identity                                                                          */
/* ================================================================================= */

static inline uint32_t sl_js_ptr_hash(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

static void sl_js_id_grow(sl_js_codec_t *c)
{
    uint32_t cap = c->id_cap ? c->id_cap * 2 : 1024;
    void **ptr = sl_calloc(cap, sizeof(*ptr));
    uint32_t *pos = sl_calloc(cap, sizeof(*pos));
    uint32_t *gen = sl_calloc(cap, sizeof(*gen));
    for (uint32_t i = 0; i < c->id_cap; i++) {
        if (c->id_gen[i] != c->gen) continue;
        uint32_t j = sl_js_ptr_hash(c->id_ptr[i]) & (cap - 1);
        while (gen[j] == c->gen) j = (j + 1) & (cap - 1);
        ptr[j] = c->id_ptr[i];
        pos[j] = c->id_pos[i];
        gen[j] = c->gen;
    }
    free(c->id_ptr);
    free(c->id_pos);
    free(c->id_gen);
    c->id_ptr = ptr;
    c->id_pos = pos;
    c->id_gen = gen;
    c->id_cap = cap;
}

void sl_js_codec_track(sl_js_codec_t *c, void *ptr, uint32_t pos)
{
    if ((c->id_n + 1) * 2 > c->id_cap) sl_js_id_grow(c);
    uint32_t mask = c->id_cap - 1, j = sl_js_ptr_hash(ptr) & mask;
    while (c->id_gen[j] == c->gen) {
        if (c->id_ptr[j] == ptr) return;
        j = (j + 1) & mask;
    }
    c->id_ptr[j] = ptr;
    c->id_pos[j] = pos;
    c->id_gen[j] = c->gen;
    c->id_n++;
}

int64_t sl_js_codec_origin(const sl_js_codec_t *c, void *ptr)
{
    if (!c->id_cap || !ptr) return -1;
    uint32_t mask = c->id_cap - 1, j = sl_js_ptr_hash(ptr) & mask;
    while (c->id_gen[j] == c->gen) {
        if (c->id_ptr[j] == ptr) return c->id_pos[j];
        j = (j + 1) & mask;
    }
    return -1;
}

/* ================================================================================= */
/* Decoder                                                                           */
/* ================================================================================= */

typedef struct sl_js_dec {
    sl_js_codec_t *c;
    duk_context   *ctx;
    const char    *start;   /* the event's first byte (error offsets) */
    const char    *p, *end;
    int            depth;
} sl_js_dec_t;

static __attribute__((noreturn)) void sl_js_dec_fail(sl_js_dec_t *d, const char *what)
{
    (void)duk_error(d->ctx, DUK_ERR_ERROR, "malformed event JSON at byte %ld: %s",
                    (long)(d->p - d->start), what);
    __builtin_unreachable();   /* duk_error() longjmps */
}

static inline void sl_js_dec_ws(sl_js_dec_t *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t'))
        d->p++;
}

static int sl_js_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9') v |= ch - '0';
        else if (ch >= 'a' && ch <= 'f') v |= ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') v |= ch - 'A' + 10;
        else return -1;
    }
    return v;
}

/* Append code point cp as (extended) UTF-8; a lone surrogate becomes its 3-byte form,
 * which is how Duktape itself represents one. */
static void sl_js_put_cp(sl_buf_t *b, uint32_t cp)
{
    char u[4];
    if (cp < 0x80) {
        sl_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        sl_buf_put(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        sl_buf_put(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        sl_buf_put(b, u, 4);
    }
}

/* Push the string starting at the opening quote. */
static void sl_js_dec_string(sl_js_dec_t *d)
{
    const char *s = ++d->p;
    const char *p = s, *end = d->end;
    while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
    if (sl_likely(p < end && *p == '"')) {
        duk_push_lstring(d->ctx, s, (size_t)(p - s));
        d->p = p + 1;
        return;
    }
    sl_buf_t *b = &d->c->scratch;
    sl_buf_reset(b);
    sl_buf_put(b, s, (size_t)(p - s));
    for (;;) {
        if (p >= end) {
            d->p = p;
            sl_js_dec_fail(d, "unterminated string");
        }
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') break;
        if (ch < 0x20) {
            d->p = p;
            sl_js_dec_fail(d, "control character in string");
        }
        if (ch != '\\') {
            const char *run = p;
            while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
            sl_buf_put(b, run, (size_t)(p - run));
            continue;
        }
        if (p + 1 >= end) {
            d->p = p;
            sl_js_dec_fail(d, "unterminated escape");
        }
        char e = p[1];
        p += 2;
        switch (e) {
        case '"': sl_buf_putc(b, '"'); break;
        case '\\': sl_buf_putc(b, '\\'); break;
        case '/': sl_buf_putc(b, '/'); break;
        case 'b': sl_buf_putc(b, '\b'); break;
        case 'f': sl_buf_putc(b, '\f'); break;
        case 'n': sl_buf_putc(b, '\n'); break;
        case 'r': sl_buf_putc(b, '\r'); break;
        case 't': sl_buf_putc(b, '\t'); break;
        case 'u': {
            int cp = end - p >= 4 ? sl_js_hex4(p) : -1;
            if (cp < 0) {
                d->p = p;
                sl_js_dec_fail(d, "bad \\u escape");
            }
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                int lo = sl_js_hex4(p + 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            sl_js_put_cp(b, (uint32_t)cp);
            break;
        }
        default:
            d->p = p - 1;
            sl_js_dec_fail(d, "bad escape");
        }
    }
    duk_push_lstring(d->ctx, b->data ? b->data : "", b->len);
    d->p = p + 1;
}

/* Where a value being decoded goes: a property of the object at cidx (key string at
 * kidx) or element aidx of the array at cidx. `kept`: the container is in the keep array. */
typedef struct sl_js_slot {
    duk_idx_t cidx;
    duk_idx_t kidx;      /* -1 for array elements */
    uint32_t  aidx;
    bool     *kept;
} sl_js_slot_t;

static void sl_js_dec_number(sl_js_dec_t *d, const sl_js_slot_t *slot)
{
    const char *s = d->p, *p = s, *end = d->end;
    bool neg = false, isint = true;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    const char *digits = p;
    uint64_t v = 0;
    if (p >= end || *p < '0' || *p > '9') sl_js_dec_fail(d, "bad number");
    if (*p == '0') {
        p++;
    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            if (p - digits < 19) v = v * 10 + (uint64_t)(*p - '0');
            p++;
        }
    }
    size_t ndigits = (size_t)(p - digits);
    if (p < end && *p == '.') {
        isint = false;
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            d->p = p;
            sl_js_dec_fail(d, "bad number");
        }
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        isint = false;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') {
            d->p = p;
            sl_js_dec_fail(d, "bad number");
        }
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    d->p = p;
    size_t len = (size_t)(p - s);

    if (isint && ndigits <= 10 && !(neg && v == 0)) {
        int64_t iv = neg ? -(int64_t)v : (int64_t)v;
        if (iv >= INT32_MIN && iv <= INT32_MAX) {
            duk_push_int(d->ctx, (duk_int_t)iv);
            return;
        }
    }
    double dv;
    if (isint && ndigits <= 18) {
        dv = neg ? -(double)v : (double)v;   /* one correctly rounded conversion */
    } else {
        /* strtod needs a terminated copy: the literal may end the arena's bytes */
        sl_buf_t *b = &d->c->scratch;
        sl_buf_reset(b);
        sl_buf_put(b, s, len);
        dv = strtod(sl_buf_cstr(b), NULL);
    }
    duk_push_number(d->ctx, dv);

    /* Record it (see js_codec.h). */
    sl_js_codec_t *c = d->c;
    if (!slot) return;
    if (!*slot->kept) {
        duk_dup(d->ctx, slot->cidx);
        duk_put_prop_index(d->ctx, c->keep_idx, c->nkeep++);
        *slot->kept = true;
    }
    if (c->nnums == c->cap_nums) {
        c->cap_nums = c->cap_nums ? c->cap_nums * 2 : 1024;
        c->nums = sl_realloc(c->nums, c->cap_nums * sizeof(*c->nums));
    }
    sl_js_num_t *n = &c->nums[c->nnums++];
    n->obj = duk_get_heapptr(d->ctx, slot->cidx);
    if (slot->kidx >= 0) {
        size_t kl;
        const char *k = duk_get_lstring(d->ctx, slot->kidx, &kl);
        n->key_off = (uint32_t)c->keys.len;
        n->key_len = (uint32_t)kl;
        sl_buf_put(&c->keys, k, kl);
    } else {
        n->key_off = slot->aidx;
        n->key_len = SL_JS_NUM_INDEX;
    }
    n->text_off = (uint32_t)(s - c->arena);
    n->text_len = (uint32_t)len;
    n->d = dv;
    n->big = isint && ndigits >= 16;
    n->swapped = false;
    if (n->big) c->nbig++;
}

static void sl_js_dec_value(sl_js_dec_t *d, const sl_js_slot_t *slot);

static void sl_js_dec_object(sl_js_dec_t *d)
{
    duk_context *ctx = d->ctx;
    if (++d->depth > SL_JS_MAX_DEPTH) sl_js_dec_fail(d, "nested too deeply");
    duk_require_stack(ctx, 4);
    duk_idx_t obj = duk_push_object(ctx);
    bool kept = false;
    d->p++;
    sl_js_dec_ws(d);
    if (d->p < d->end && *d->p == '}') {
        d->p++;
        d->depth--;
        return;
    }
    for (;;) {
        sl_js_dec_ws(d);
        if (d->p >= d->end || *d->p != '"') sl_js_dec_fail(d, "expected a key");
        sl_js_dec_string(d);
        duk_idx_t k = duk_get_top_index(ctx);
        sl_js_dec_ws(d);
        if (d->p >= d->end || *d->p != ':') sl_js_dec_fail(d, "expected ':'");
        d->p++;
        sl_js_slot_t slot = {.cidx = obj, .kidx = k, .kept = &kept};
        sl_js_dec_value(d, &slot);
        size_t kl;
        const char *key = duk_get_lstring(ctx, k, &kl);
        if (sl_unlikely(kl == 9 && memcmp(key, "__proto__", 9) == 0))
            duk_def_prop(ctx, obj, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WEC);  /* own */
        else
            duk_put_prop(ctx, obj);
        sl_js_dec_ws(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            continue;
        }
        if (d->p < d->end && *d->p == '}') {
            d->p++;
            break;
        }
        sl_js_dec_fail(d, "expected ',' or '}'");
    }
    d->depth--;
}

static void sl_js_dec_array(sl_js_dec_t *d)
{
    duk_context *ctx = d->ctx;
    if (++d->depth > SL_JS_MAX_DEPTH) sl_js_dec_fail(d, "nested too deeply");
    duk_require_stack(ctx, 4);
    duk_idx_t arr = duk_push_array(ctx);
    bool kept = false;
    uint32_t i = 0;
    d->p++;
    sl_js_dec_ws(d);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
        d->depth--;
        return;
    }
    for (;;) {
        sl_js_slot_t slot = {.cidx = arr, .kidx = -1, .aidx = i, .kept = &kept};
        sl_js_dec_value(d, &slot);
        duk_put_prop_index(ctx, arr, i++);
        sl_js_dec_ws(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            continue;
        }
        if (d->p < d->end && *d->p == ']') {
            d->p++;
            break;
        }
        sl_js_dec_fail(d, "expected ',' or ']'");
    }
    d->depth--;
}

static bool sl_js_dec_lit(sl_js_dec_t *d, const char *lit, size_t n)
{
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, lit, n) != 0) return false;
    d->p += n;
    return true;
}

static void sl_js_dec_value(sl_js_dec_t *d, const sl_js_slot_t *slot)
{
    sl_js_dec_ws(d);
    if (d->p >= d->end) sl_js_dec_fail(d, "unexpected end");
    switch (*d->p) {
    case '{': sl_js_dec_object(d); return;
    case '[': sl_js_dec_array(d); return;
    case '"': sl_js_dec_string(d); return;
    case 't':
        if (!sl_js_dec_lit(d, "true", 4)) break;
        duk_push_true(d->ctx);
        return;
    case 'f':
        if (!sl_js_dec_lit(d, "false", 5)) break;
        duk_push_false(d->ctx);
        return;
    case 'n':
        if (!sl_js_dec_lit(d, "null", 4)) break;
        duk_push_null(d->ctx);
        return;
    default:
        if (*d->p == '-' || (*d->p >= '0' && *d->p <= '9')) {
            sl_js_dec_number(d, slot);
            return;
        }
    }
    sl_js_dec_fail(d, "unexpected character");
}

void sl_js_codec_decode(sl_js_codec_t *c, duk_context *ctx, uint32_t off, uint32_t len)
{
    sl_js_dec_t d = {.c = c, .ctx = ctx, .start = c->arena + off, .p = c->arena + off,
                     .end = c->arena + off + len};
    sl_js_dec_ws(&d);
    if (d.p >= d.end || *d.p != '{') sl_js_dec_fail(&d, "an event must be a JSON object");
    sl_js_dec_object(&d);
    sl_js_dec_ws(&d);
    if (d.p != d.end) sl_js_dec_fail(&d, "trailing characters");
}

/* ================================================================================= */
/* Swapping numbers for markers around JSON.stringify                                */
/* ================================================================================= */

static inline bool sl_js_same(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static void sl_js_push_marker(sl_js_codec_t *c, duk_context *ctx, uint32_t j)
{
    if (j < c->nmarkers) {
        duk_get_prop_index(ctx, c->marker_idx, j);
        return;
    }
    char m[48];
    snprintf(m, sizeof(m), "\x01%s%u", c->nonce, j);
    duk_push_string(ctx, m);
    if (j == c->nmarkers && j < c->max_markers) {
        duk_dup_top(ctx);
        duk_put_prop_index(ctx, c->marker_idx, j);
        c->nmarkers++;
    }
}

/* Protected: from swap_pos on, replace each number still equal to its decoded value. */
static duk_ret_t sl_js_swap_body(duk_context *ctx, void *udata)
{
    sl_js_codec_t *c = udata;
    for (; c->swap_pos < c->nnums; c->swap_pos++) {
        sl_js_num_t *n = &c->nums[c->swap_pos];
        const char *key = c->keys.data + n->key_off;
        duk_push_heapptr(ctx, n->obj);
        if (n->key_len == SL_JS_NUM_INDEX) duk_get_prop_index(ctx, -1, n->key_off);
        else duk_get_prop_lstring(ctx, -1, key, n->key_len);
        bool same = duk_is_number(ctx, -1) && sl_js_same(duk_get_number(ctx, -1), n->d);
        duk_pop(ctx);
        if (same) {
            sl_js_push_marker(c, ctx, c->swap_pos);
            if (n->key_len == SL_JS_NUM_INDEX) duk_put_prop_index(ctx, -2, n->key_off);
            else duk_put_prop_lstring(ctx, -2, key, n->key_len);
            n->swapped = true;
        }
        duk_pop(ctx);
    }
    return 0;
}

/* Protected: from swap_pos on, put the decoded numbers back. */
static duk_ret_t sl_js_unswap_body(duk_context *ctx, void *udata)
{
    sl_js_codec_t *c = udata;
    for (; c->swap_pos < c->nnums; c->swap_pos++) {
        sl_js_num_t *n = &c->nums[c->swap_pos];
        if (!n->swapped) continue;
        n->swapped = false;
        duk_push_heapptr(ctx, n->obj);
        duk_push_number(ctx, n->d);
        if (n->key_len == SL_JS_NUM_INDEX) duk_put_prop_index(ctx, -2, n->key_off);
        else duk_put_prop_lstring(ctx, -2, c->keys.data + n->key_off, n->key_len);
        duk_pop(ctx);
    }
    return 0;
}

/* Run body from swap_pos to the end, skipping any record whose put throws. */
static void sl_js_resumable(sl_js_codec_t *c, duk_context *ctx, duk_safe_call_function body)
{
    c->swap_pos = 0;
    while (c->swap_pos < c->nnums) {
        if (duk_safe_call(ctx, body, c, 0, 1) != DUK_EXEC_SUCCESS) c->swap_pos++;
        duk_pop(ctx);
    }
}

void sl_js_codec_swap(sl_js_codec_t *c, duk_context *ctx)
{
    sl_js_resumable(c, ctx, sl_js_swap_body);
}

void sl_js_codec_unswap(sl_js_codec_t *c, duk_context *ctx)
{
    sl_js_resumable(c, ctx, sl_js_unswap_body);
}

/* ================================================================================= */
/* Emitter                                                                           */
/* ================================================================================= */

/* Byte classes of the emitter's two scanning loops. */
enum { SL_JS_PLAIN = 0, SL_JS_STRUCT = 1, SL_JS_STR_SPECIAL = 2 };
static unsigned char sl_js_cls_value[256];   /* outside strings: '"' {}[] '-' digits */
static unsigned char sl_js_cls_string[256];  /* inside strings: '"' '\\' >= 0x80 */

__attribute__((constructor)) static void sl_js_emit_tables(void)
{
    const char *v = "\"{}[]-0123456789";
    for (const char *p = v; *p; p++) sl_js_cls_value[(unsigned char)*p] = SL_JS_STRUCT;
    sl_js_cls_string['"'] = SL_JS_STR_SPECIAL;
    sl_js_cls_string['\\'] = SL_JS_STR_SPECIAL;
    for (int i = 0x80; i < 256; i++) sl_js_cls_string[i] = SL_JS_STR_SPECIAL;
}

static inline uint32_t sl_js_dbl_hash(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    u *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(u >> 32);
}

static void sl_js_build_values(sl_js_codec_t *c)
{
    uint32_t cap = 16;
    while (cap < c->nbig * 2) cap *= 2;
    if (cap > c->val_cap) {
        free(c->val_slot);
        c->val_slot = sl_malloc(cap * sizeof(*c->val_slot));
        c->val_cap = cap;
    }
    memset(c->val_slot, 0, c->val_cap * sizeof(*c->val_slot));
    uint32_t mask = c->val_cap - 1;
    for (uint32_t i = 0; i < c->nnums; i++) {
        if (!c->nums[i].big) continue;
        uint32_t j = sl_js_dbl_hash(c->nums[i].d) & mask;
        bool dup = false;
        while (c->val_slot[j]) {
            if (sl_js_same(c->nums[c->val_slot[j] - 1].d, c->nums[i].d)) {
                dup = true;    /* the first recorded text wins */
                break;
            }
            j = (j + 1) & mask;
        }
        if (!dup) c->val_slot[j] = i + 1;
    }
    c->val_built = true;
}

/* A number JSON.stringify wrote: restored when it is a big integer's double. */
static void sl_js_emit_number(sl_js_codec_t *c, const char *s, size_t n, sl_buf_t *out)
{
    size_t digits = 0;
    bool exp = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') digits++;
        else if (s[i] == 'e' || s[i] == 'E') exp = true;
    }
    if (c->nbig && (digits >= 16 || exp)) {
        if (!c->val_built) sl_js_build_values(c);
        char tmp[64];
        if (n < sizeof(tmp)) {
            memcpy(tmp, s, n);
            tmp[n] = '\0';
            double d = strtod(tmp, NULL);
            uint32_t mask = c->val_cap - 1, j = sl_js_dbl_hash(d) & mask;
            for (; c->val_slot[j]; j = (j + 1) & mask) {
                const sl_js_num_t *num = &c->nums[c->val_slot[j] - 1];
                if (sl_js_same(num->d, d)) {
                    sl_buf_put(out, c->arena + num->text_off, num->text_len);
                    return;
                }
            }
        }
    }
    sl_buf_put(out, s, n);
}

/* Copy the string at p (opening quote) to out, turning a marker into its number and
 * Duktape's CESU-8 into UTF-8. Returns the byte after the closing quote, NULL when the
 * string is unterminated. */
static const char *sl_js_emit_string(sl_js_codec_t *c, const char *p, const char *end,
                                     sl_buf_t *out)
{
    static const size_t lead = sizeof(SL_JS_MARKER_LEAD) - 1;
    if ((size_t)(end - p) > 1 + lead + 16 && memcmp(p + 1, SL_JS_MARKER_LEAD, lead) == 0 &&
        memcmp(p + 1 + lead, c->nonce, 16) == 0) {
        const char *q = p + 1 + lead + 16;
        uint64_t j = 0;
        const char *digits = q;
        while (q < end && *q >= '0' && *q <= '9' && q - digits < 10)
            j = j * 10 + (uint64_t)(*q++ - '0');
        if (q < end && *q == '"' && q > digits && j < c->nnums) {
            const sl_js_num_t *num = &c->nums[j];
            sl_buf_put(out, c->arena + num->text_off, num->text_len);
            return q + 1;
        }
    }
    sl_buf_putc(out, '"');
    p++;
    for (;;) {
        const char *run = p;
        while (p < end && sl_js_cls_string[(unsigned char)*p] == SL_JS_PLAIN) p++;
        sl_buf_put(out, run, (size_t)(p - run));
        if (p >= end) return NULL;
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') {
            sl_buf_putc(out, '"');
            return p + 1;
        }
        if (ch == '\\') {
            size_t l = p + 1 < end && p[1] == 'u' ? 6 : 2;
            if ((size_t)(end - p) < l) return NULL;
            sl_buf_put(out, p, l);
            p += l;
            continue;
        }
        /* ch >= 0x80 */
        const unsigned char *u = (const unsigned char *)p;
        size_t left = (size_t)(end - p);
        if (ch == 0xED && left >= 3 && (u[1] & 0xE0) == 0xA0 && (u[2] & 0xC0) == 0x80) {
            uint32_t hi = 0xD000u | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
            if (hi <= 0xDBFF && left >= 6 && u[3] == 0xED && (u[4] & 0xF0) == 0xB0 &&
                (u[5] & 0xC0) == 0x80) {
                uint32_t lo = 0xD000u | ((uint32_t)(u[4] & 0x3F) << 6) | (u[5] & 0x3F);
                sl_js_put_cp(out, 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
                p += 6;
            } else {
                char esc[8];
                snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)hi);
                sl_buf_put(out, esc, 6);
                p += 3;
            }
            continue;
        }
        size_t l = sl_utf8_len(u, left);
        if (l) {
            sl_buf_put(out, p, l);
            p += l;
        } else {
            sl_buf_put(out, "\xEF\xBF\xBD", 3);   /* U+FFFD */
            p++;
        }
    }
}

int sl_js_codec_emit(sl_js_codec_t *c, const char *json, size_t json_len, uint32_t n,
                     sl_buf_t *out, sl_event_t *ev, char *errstr, size_t errstr_size)
{
    const char *p = json, *end = json + json_len;
    sl_buf_grow(out, json_len);
    if (p >= end || *p != '[') return sl_err(errstr, errstr_size, "result is not an array");
    p++;
    for (uint32_t i = 0; i < n; i++) {
        if (i) {
            if (p >= end || *p != ',') goto bad;
            p++;
        }
        if (p >= end || *p != '{')
            return sl_err(errstr, errstr_size, "returned event #%u does not serialize to a "
                          "JSON object (a toJSON method?)", i);
        size_t start = out->len;
        int depth = 0;
        do {
            const char *run = p;
            while (p < end && sl_js_cls_value[(unsigned char)*p] == SL_JS_PLAIN) p++;
            sl_buf_put(out, run, (size_t)(p - run));
            if (p >= end) goto bad;
            char ch = *p;
            if (ch == '"') {
                p = sl_js_emit_string(c, p, end, out);
                if (!p) goto bad;
            } else if (ch == '{' || ch == '[') {
                depth++;
                sl_buf_putc(out, ch);
                p++;
            } else if (ch == '}' || ch == ']') {
                depth--;
                sl_buf_putc(out, ch);
                p++;
            } else {
                const char *s = p;
                while (p < end && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' ||
                                   *p == '.' || *p == 'e' || *p == 'E'))
                    p++;
                sl_js_emit_number(c, s, (size_t)(p - s), out);
            }
        } while (depth > 0);
        ev[i].val_off = (uint32_t)start;
        ev[i].val_len = (uint32_t)(out->len - start);
    }
    if (p >= end || *p != ']') goto bad;
    return SL_OK;
bad:
    return sl_err(errstr, errstr_size, "cannot split the serialized result at byte %ld",
                  (long)(p - json));
}
