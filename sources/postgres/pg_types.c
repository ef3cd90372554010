/*
 * pg_types.c - PostgreSQL type knowledge: the built-in type table and the converters that
 * turn a column's text form (as pgoutput sends it) into the JSON of the event value.
 *
 * Contract: sl_pg_value_json() always appends exactly one valid JSON value, whatever the
 * bytes. Text that does not have the shape its type promises (a corrupt stream, a type
 * registered with the wrong kind) is written as a JSON string of the text instead: the
 * lossless fallback, never an error. Registered (non-built-in) types are decoder state
 * and live in pg_decode.c.
 *
 * Thread: pure functions, callable from any thread. The hot path allocates nothing but
 * buffer growth; the one exception is an array element longer than SL_PG_ELEM_STACK that
 * carries backslash escapes and so must be unescaped into a scratch copy.
 */
#include "sl_common.h"

#include <strings.h>

#include "sl_json.h"
#include "pg_decode.h"

/* ======================================================================================
 * Built-in types
 * ==================================================================================== */

/* Scalar built-ins by OID (pg_type.dat). Every type not listed with a richer kind maps
 * to its text form as a JSON string; the explicit STRING cases only make them "known". */
static bool sl_pg_scalar_kind(uint32_t oid, sl_pg_kind_t *kind)
{
    switch (oid) {
    case 16:                                     /* bool */
        *kind = SL_PGK_BOOL;
        return true;
    case 20: case 21: case 23: case 26:          /* int8 int2 int4 oid */
        *kind = SL_PGK_INT;
        return true;
    case 700: case 701:                          /* float4 float8 */
        *kind = SL_PGK_FLOAT;
        return true;
    case 1700:                                   /* numeric */
        *kind = SL_PGK_NUMERIC;
        return true;
    case 17:                                     /* bytea */
        *kind = SL_PGK_BYTEA;
        return true;
    case 114: case 3802:                         /* json jsonb */
        *kind = SL_PGK_JSON;
        return true;
    case 1082:                                   /* date */
        *kind = SL_PGK_DATE;
        return true;
    case 1114:                                   /* timestamp */
        *kind = SL_PGK_TIMESTAMP;
        return true;
    case 1184:                                   /* timestamptz */
        *kind = SL_PGK_TIMESTAMPTZ;
        return true;
    /* Text as a string. xid/cid/xid8 stay strings on purpose: they wrap around and
     * are not quantities. int2vector/oidvector print space-separated, not as {..}. */
    case 18: case 19: case 22: case 24: case 25: case 27: case 28: case 29: case 30:
    case 142: case 194: case 600: case 601: case 602: case 603: case 604: case 628:
    case 650: case 718: case 774: case 790: case 829: case 869: case 1033: case 1042:
    case 1043: case 1083: case 1186: case 1266: case 1560: case 1562: case 1790:
    case 2202: case 2203: case 2204: case 2205: case 2206: case 2950: case 2970:
    case 3220: case 3614: case 3615: case 3734: case 3769: case 3904: case 3906:
    case 3908: case 3910: case 3912: case 3926: case 4072: case 4089: case 4096:
    case 4191: case 4451: case 4532: case 4533: case 4534: case 4535: case 4536:
    case 5038: case 5069:
        *kind = SL_PGK_STRING;
        return true;
    default:
        return false;
    }
}

/* Array types of the built-ins above (checked against a PostgreSQL 15 catalog:
 * pg_type where typcategory = 'A'). */
static const struct { uint16_t arr, elem; } sl_pg_arrays[] = {
    {1000, 16},   {1001, 17},   {1002, 18},   {1003, 19},   {1016, 20},   {1005, 21},
    {1006, 22},   {1007, 23},   {1008, 24},   {1009, 25},   {1028, 26},   {1010, 27},
    {1011, 28},   {1012, 29},   {1013, 30},   {199, 114},   {143, 142},   {1017, 600},
    {1018, 601},  {1019, 602},  {1020, 603},  {1027, 604},  {629, 628},   {651, 650},
    {1021, 700},  {1022, 701},  {719, 718},   {775, 774},   {791, 790},   {1040, 829},
    {1041, 869},  {1034, 1033}, {1014, 1042}, {1015, 1043}, {1182, 1082}, {1183, 1083},
    {1115, 1114}, {1185, 1184}, {1187, 1186}, {1270, 1266}, {1561, 1560}, {1563, 1562},
    {1231, 1700}, {2201, 1790}, {2207, 2202}, {2208, 2203}, {2209, 2204}, {2210, 2205},
    {2211, 2206}, {2951, 2950}, {2949, 2970}, {3221, 3220}, {3643, 3614}, {3645, 3615},
    {3735, 3734}, {3770, 3769}, {3807, 3802}, {3905, 3904}, {3907, 3906}, {3909, 3908},
    {3911, 3910}, {3913, 3912}, {3927, 3926}, {4073, 4072}, {4090, 4089}, {4097, 4096},
    {4192, 4191}, {6150, 4451}, {6151, 4532}, {6152, 4533}, {6153, 4534}, {6155, 4535},
    {6157, 4536}, {5039, 5038}, {271, 5069},
};

bool sl_pg_builtin_type(uint32_t oid, sl_pg_type_t *out)
{
    sl_pg_kind_t kind;
    if (sl_pg_scalar_kind(oid, &kind)) {
        *out = (sl_pg_type_t){oid, kind, SL_PGK_STRING, ','};
        return true;
    }
    /* Linear: only consulted when a Relation message is decoded, never per row. */
    for (size_t i = 0; i < SL_ARRAY_SIZE(sl_pg_arrays); i++) {
        if (sl_pg_arrays[i].arr != oid) continue;
        uint32_t elem = sl_pg_arrays[i].elem;
        if (!sl_pg_scalar_kind(elem, &kind)) kind = SL_PGK_STRING;
        /* box is the one built-in whose array delimiter is ';' (its text has commas) */
        *out = (sl_pg_type_t){oid, SL_PGK_ARRAY, kind, elem == 603 ? ';' : ','};
        return true;
    }
    return false;
}

/* ======================================================================================
 * Scalar converters. Each returns false (having appended nothing) when the text does not
 * have the expected shape, so the caller falls back to a JSON string.
 * ==================================================================================== */

static const char sl_pg_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int sl_pg_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Streaming base64 writer over memory already reserved in the output buffer, so bytea
 * (hex or escape format) converts in one pass without a decoded copy. */
typedef struct {
    char    *o;
    uint32_t acc;
    int      nacc;
} sl_pg_b64w_t;

static inline void sl_pg_b64_byte(sl_pg_b64w_t *w, unsigned v)
{
    w->acc = (w->acc << 8) | (v & 0xFF);
    if (++w->nacc == 3) {
        w->o[0] = sl_pg_b64[w->acc >> 18];
        w->o[1] = sl_pg_b64[(w->acc >> 12) & 63];
        w->o[2] = sl_pg_b64[(w->acc >> 6) & 63];
        w->o[3] = sl_pg_b64[w->acc & 63];
        w->o += 4;
        w->acc = 0;
        w->nacc = 0;
    }
}

static inline void sl_pg_b64_end(sl_pg_b64w_t *w)
{
    if (w->nacc == 1) {
        uint32_t v = w->acc << 16;
        w->o[0] = sl_pg_b64[v >> 18];
        w->o[1] = sl_pg_b64[(v >> 12) & 63];
        w->o[2] = '=';
        w->o[3] = '=';
        w->o += 4;
    } else if (w->nacc == 2) {
        uint32_t v = w->acc << 8;
        w->o[0] = sl_pg_b64[v >> 18];
        w->o[1] = sl_pg_b64[(v >> 12) & 63];
        w->o[2] = sl_pg_b64[(v >> 6) & 63];
        w->o[3] = '=';
        w->o += 4;
    }
}

/* bytea text -> quoted base64. Hex format "\x0a0b" (bytea_output = hex, the default),
 * else the legacy escape format (printable bytes as is, "\\" and "\ooo" octal). */
static bool sl_pg_bytea_json(sl_buf_t *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    /* Either format decodes to at most n bytes: reserve the base64 of that. */
    sl_buf_grow(out, (n + 2) / 3 * 4 + 2);
    sl_pg_b64w_t w = {out->data + out->len, 0, 0};
    *w.o++ = '"';
    if (n >= 2 && p[0] == '\\' && p[1] == 'x') {
        if ((n - 2) % 2) return false;
        for (size_t i = 2; i < n; i += 2) {
            int hi = sl_pg_hexval(p[i]), lo = sl_pg_hexval(p[i + 1]);
            if (hi < 0 || lo < 0) return false;
            sl_pg_b64_byte(&w, (unsigned)(hi << 4 | lo));
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (p[i] != '\\') {
                sl_pg_b64_byte(&w, p[i]);
            } else if (i + 1 < n && p[i + 1] == '\\') {
                sl_pg_b64_byte(&w, '\\');
                i++;
            } else if (i + 3 < n && p[i + 1] >= '0' && p[i + 1] <= '3' &&
                       p[i + 2] >= '0' && p[i + 2] <= '7' &&
                       p[i + 3] >= '0' && p[i + 3] <= '7') {
                sl_pg_b64_byte(&w, (unsigned)((p[i + 1] - '0') << 6 |
                                              (p[i + 2] - '0') << 3 | (p[i + 3] - '0')));
                i += 3;
            } else {
                return false;
            }
        }
    }
    sl_pg_b64_end(&w);
    *w.o++ = '"';
    out->len = (size_t)(w.o - out->data);
    return true;
}


/* Code unit of the "\uXXXX" escape at p[i], -1 when it is not one. */
static long sl_pg_json_u4(const unsigned char *p, size_t n, size_t i)
{
    if (n - i < 6 || p[i] != '\\' || p[i + 1] != 'u') return -1;
    long v = 0;
    for (size_t k = 2; k < 6; k++) {
        int h = sl_pg_hexval(p[i + k]);
        if (h < 0) return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Containers deeper than this are written as a string rather than validated. */
#define SL_PG_JSON_MAXDEPTH 1024

/* True when s[0..n) is one complete, valid JSON text (RFC 8259, UTF-8). PostgreSQL
 * only stores valid json/jsonb, so this is a guard against corrupt or non-UTF-8 input
 * (SQL_ASCII databases): embedding such text unchecked would break every consumer. */
static bool sl_pg_json_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t stack[SL_PG_JSON_MAXDEPTH / 64];   /* bit set = object, clear = array */
    int depth = 0;
    size_t i = 0;
    enum { VALUE, AFTER_VALUE, KEY } want = VALUE;
    bool first = false;   /* right after '[' or '{': the container may close at once */

    for (;;) {
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
        if (i >= n) return depth == 0 && want == AFTER_VALUE;
        unsigned char c = p[i];
        bool in_obj = depth > 0 && (stack[(depth - 1) / 64] >> ((depth - 1) % 64) & 1);

        if (want == AFTER_VALUE) {
            if (depth == 0) return false;          /* trailing garbage */
            if (c == ',') {
                want = in_obj ? KEY : VALUE;
                first = false;
                i++;
            } else if (c == (in_obj ? '}' : ']')) {
                depth--;
                i++;
            } else {
                return false;
            }
            continue;
        }
        if (first && c == (in_obj ? '}' : ']')) {
            depth--;
            want = AFTER_VALUE;
            first = false;
            i++;
            continue;
        }
        first = false;
        if (want == KEY && c != '"') return false;
        if (c == '{' || c == '[') {
            if (depth >= SL_PG_JSON_MAXDEPTH) return false;
            uint64_t bit = (uint64_t)1 << (depth % 64);
            if (c == '{') stack[depth / 64] |= bit;
            else stack[depth / 64] &= ~bit;
            depth++;
            want = c == '{' ? KEY : VALUE;
            first = true;
            i++;
            continue;
        }
        if (c == '"') {
            i++;
            for (;;) {
                if (i >= n) return false;
                unsigned char d = p[i];
                if (d == '"') break;
                if (d < 0x20) return false;
                if (d == '\\') {
                    if (i + 1 >= n) return false;
                    unsigned char e = p[i + 1];
                    if (e == 'u') {
                        /* Surrogates only as a high+low pair: consumers reject lone ones. */
                        long cp = sl_pg_json_u4(p, n, i);
                        if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return false;
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                            long lo = i + 6 < n && p[i + 6] == '\\' ? sl_pg_json_u4(p, n, i + 6)
                                                                    : -1;
                            if (lo < 0xDC00 || lo > 0xDFFF) return false;
                            i += 6;
                        }
                        i += 6;
                    } else if (e && strchr("\"\\/bfnrt", e)) {
                        i += 2;
                    } else {
                        return false;
                    }
                    continue;
                }
                size_t l = sl_utf8_len(p + i, n - i);
                if (!l) return false;
                i += l;
            }
            i++;
            if (want == KEY) {
                while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
                    i++;
                if (i >= n || p[i] != ':') return false;
                i++;
                want = VALUE;
            } else {
                want = AFTER_VALUE;
            }
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < n && p[j] && (strchr("+-.eE", p[j]) || (p[j] >= '0' && p[j] <= '9')))
                j++;
            if (!sl_json_is_number(s + i, j - i)) return false;
            i = j;
            want = AFTER_VALUE;
            continue;
        }
        if (n - i >= 4 && (!memcmp(p + i, "true", 4) || !memcmp(p + i, "null", 4))) {
            i += 4;
        } else if (n - i >= 5 && !memcmp(p + i, "false", 5)) {
            i += 5;
        } else {
            return false;
        }
        want = AFTER_VALUE;
    }
}

/* ---- timestamps ------------------------------------------------------------------- */

/* Parse exactly `digits` decimal digits (digits == 0: one or more, at most 9). */
static bool sl_pg_num(const char *s, size_t n, size_t *i, int digits, int64_t *v)
{
    size_t start = *i, max = digits ? (size_t)digits : 9;
    int64_t x = 0;
    while (*i < n && *i - start < max && s[*i] >= '0' && s[*i] <= '9')
        x = x * 10 + (s[(*i)++] - '0');
    if (*i == start || (digits && *i - start != (size_t)digits)) return false;
    *v = x;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the classic era-based
 * computation: 400-year eras of 146097 days, years starting in March). */
static int64_t sl_pg_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void sl_pg_civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff]" and, for timestamptz, an offset "+HH[:MM[:SS]]".
 * Writes "YYYY-MM-DDTHH:MM:SS[.ffffff]" (timestamptz: converted to UTC, then "Z").
 * Anything else - "infinity", BC dates, years before 1 after the shift - returns false
 * and is kept as PostgreSQL printed it. */
static bool sl_pg_timestamp_json(sl_buf_t *out, const char *s, size_t n, bool tz)
{
    size_t i = 0;
    int64_t y, mo, d, h, mi, sec, oh = 0, om = 0, os = 0;
    if (!sl_pg_num(s, n, &i, 0, &y) || i < 4 || i > 7) return false;
    if (i >= n || s[i++] != '-' || !sl_pg_num(s, n, &i, 2, &mo)) return false;
    if (i >= n || s[i++] != '-' || !sl_pg_num(s, n, &i, 2, &d)) return false;
    size_t date_end = i;
    if (i >= n || s[i++] != ' ' || !sl_pg_num(s, n, &i, 2, &h)) return false;
    if (i >= n || s[i++] != ':' || !sl_pg_num(s, n, &i, 2, &mi)) return false;
    if (i >= n || s[i++] != ':' || !sl_pg_num(s, n, &i, 2, &sec)) return false;
    size_t frac = i;
    if (i < n && s[i] == '.') {
        i++;
        size_t f0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == f0) return false;
    }
    size_t frac_end = i;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60)
        return false;
    if (!tz) {
        if (i != n) return false;
        sl_buf_grow(out, n + 2);
        sl_buf_putc(out, '"');
        sl_buf_put(out, s, date_end);
        sl_buf_putc(out, 'T');
        sl_buf_put(out, s + date_end + 1, n - date_end - 1);
        sl_buf_putc(out, '"');
        return true;
    }
    if (i >= n || (s[i] != '+' && s[i] != '-')) return false;
    int sign = s[i++] == '-' ? -1 : 1;
    if (!sl_pg_num(s, n, &i, 2, &oh)) return false;
    if (i < n && s[i] == ':') {
        i++;
        if (!sl_pg_num(s, n, &i, 2, &om)) return false;
        if (i < n && s[i] == ':') {
            i++;
            if (!sl_pg_num(s, n, &i, 2, &os)) return false;
        }
    }
    if (i != n || om > 59 || os > 59) return false;

    if (oh == 0 && om == 0 && os == 0) {
        /* The common case: the session runs with TimeZone=UTC, nothing to shift. */
        sl_buf_grow(out, frac_end + 3);
        sl_buf_putc(out, '"');
        sl_buf_put(out, s, date_end);
        sl_buf_putc(out, 'T');
        sl_buf_put(out, s + date_end + 1, frac_end - date_end - 1);
        sl_buf_put(out, "Z\"", 2);
        return true;
    }
    int64_t off = sign * (oh * 3600 + om * 60 + os);
    int64_t t = sl_pg_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t rem = t - days * 86400;
    sl_pg_civil_from_days(days, &y, &mo, &d);
    if (y < 1) return false;
    char tmp[48];
    int len = snprintf(tmp, sizeof(tmp), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld",
                       (long long)y, (long long)mo, (long long)d, (long long)(rem / 3600),
                       (long long)(rem / 60 % 60), (long long)(rem % 60));
    if (len < 0 || (size_t)len >= sizeof(tmp)) return false;
    sl_buf_grow(out, (size_t)len + (frac_end - frac) + 3);
    sl_buf_putc(out, '"');
    sl_buf_put(out, tmp, (size_t)len);
    sl_buf_put(out, s + frac, frac_end - frac);
    sl_buf_put(out, "Z\"", 2);
    return true;
}

/* ======================================================================================
 * Arrays
 * ==================================================================================== */

/* Elements up to this size are unescaped on the stack; longer ones need a heap copy. */
#define SL_PG_ELEM_STACK 1024
/* PostgreSQL allows 6 dimensions (MAXDIM); anything deeper is not its output. */
#define SL_PG_ARRAY_MAXDEPTH 16

static inline bool sl_pg_isspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Append one element: raw[0..n) is the element text as written in the array literal,
 * with backslash escapes still in it when `escaped`. */
static void sl_pg_elem_json(sl_buf_t *out, const sl_pg_type_t *et, const char *raw, size_t n,
                            bool escaped)
{
    if (!escaped) {
        sl_pg_value_json(out, et, raw, n);
        return;
    }
    char stackbuf[SL_PG_ELEM_STACK];
    char *tmp = n <= sizeof(stackbuf) ? stackbuf : sl_malloc(n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (raw[i] == '\\' && i + 1 < n) i++;
        tmp[k++] = raw[i];
    }
    sl_pg_value_json(out, et, k ? tmp : "", k);
    if (tmp != stackbuf) free(tmp);
}

/* PostgreSQL array text ("[1:2]={{1,NULL},{\"a b\",c}}") -> nested JSON arrays of
 * elements converted by the element kind. Returns false (output rolled back) on text
 * that is not an array literal. */
static bool sl_pg_array_json(sl_buf_t *out, const sl_pg_type_t *t, const char *s, size_t n)
{
    size_t mark = out->len, i = 0;
    char delim = t->delim ? t->delim : ',';
    sl_pg_kind_t ek = t->elem_kind == SL_PGK_ARRAY ? SL_PGK_STRING : t->elem_kind;
    sl_pg_type_t et = {0, ek, SL_PGK_STRING, ','};
    enum { OPENED, ITEM, DELIM } st = OPENED;
    int depth = 0;

    while (i < n && sl_pg_isspace(s[i])) i++;
    if (i < n && s[i] == '[') {
        /* Dimension decoration "[lo:hi]..." = - printed when a lower bound is not 1. */
        while (i < n && s[i] == '[') {
            i++;
            while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == ':' ||
                             s[i] == '+'))
                i++;
            if (i >= n || s[i] != ']') return false;
            i++;
        }
        if (i >= n || s[i] != '=') return false;
        i++;
        while (i < n && sl_pg_isspace(s[i])) i++;
    }
    if (i >= n || s[i] != '{') return false;

    for (;;) {
        while (i < n && sl_pg_isspace(s[i])) i++;
        if (i >= n) goto bad;
        char c = s[i];
        if (c == '{') {
            if (st == ITEM || depth >= SL_PG_ARRAY_MAXDEPTH) goto bad;
            sl_buf_putc(out, '[');
            depth++;
            st = OPENED;
            i++;
            continue;
        }
        if (c == '}') {
            if (st == DELIM) goto bad;
            sl_buf_putc(out, ']');
            i++;
            st = ITEM;
            if (--depth == 0) break;
            continue;
        }
        if (c == delim) {
            if (st != ITEM) goto bad;
            sl_buf_putc(out, ',');
            st = DELIM;
            i++;
            continue;
        }
        if (st == ITEM) goto bad;
        bool escaped = false;
        if (c == '"') {
            size_t b = ++i;
            while (i < n && s[i] != '"') {
                if (s[i] == '\\') {
                    escaped = true;
                    i++;
                }
                i++;
            }
            if (i >= n) goto bad;
            sl_pg_elem_json(out, &et, s + b, i - b, escaped);
            i++;
        } else {
            size_t b = i, e = i;   /* e: end of the element without trailing blanks */
            while (i < n && s[i] != delim && s[i] != '{' && s[i] != '}' && s[i] != '"') {
                if (s[i] == '\\') {
                    escaped = true;
                    if (++i >= n) goto bad;
                    e = i + 1;
                } else if (!sl_pg_isspace(s[i])) {
                    e = i + 1;
                }
                i++;
            }
            if (i >= n || s[i] == '{' || s[i] == '"') goto bad;
            if (!escaped && e - b == 4 && strncasecmp(s + b, "NULL", 4) == 0)
                sl_buf_put(out, "null", 4);
            else
                sl_pg_elem_json(out, &et, s + b, e - b, escaped);
        }
        st = ITEM;
    }
    while (i < n && sl_pg_isspace(s[i])) i++;
    if (i != n) goto bad;
    return true;
bad:
    out->len = mark;
    return false;
}

/* ======================================================================================
 * Entry point
 * ==================================================================================== */

void sl_pg_value_json(sl_buf_t *out, const sl_pg_type_t *t, const char *text, size_t len)
{
    switch (t->kind) {
    case SL_PGK_BOOL:
        if (len == 1 && text[0] == 't') { sl_buf_put(out, "true", 4); return; }
        if (len == 1 && text[0] == 'f') { sl_buf_put(out, "false", 5); return; }
        break;
    case SL_PGK_INT:
    case SL_PGK_FLOAT:
        /* Copied as is: exact over the whole int8 range, and float text is already the
         * shortest round-trip form. NaN/Infinity/-Infinity are not JSON numbers and so
         * fall through to strings, as the mapping wants. */
        if (sl_json_is_number(text, len)) {
            sl_buf_put(out, text, len);
            return;
        }
        break;
    case SL_PGK_BYTEA:
        if (sl_pg_bytea_json(out, text, len)) return;
        break;
    case SL_PGK_JSON:
        if (sl_pg_json_valid(text, len)) {
            sl_buf_put(out, text, len);
            return;
        }
        break;
    case SL_PGK_TIMESTAMP:
    case SL_PGK_TIMESTAMPTZ:
        if (sl_pg_timestamp_json(out, text, len, t->kind == SL_PGK_TIMESTAMPTZ)) return;
        break;
    case SL_PGK_ARRAY:
        if (sl_pg_array_json(out, t, text, len)) return;
        break;
    case SL_PGK_STRING:
    case SL_PGK_NUMERIC:
    case SL_PGK_DATE:
    default:
        break;
    }
    sl_json_str(out, text, len);
}
