/*
 * binlog_types.c - MySQL column values as the binlog stores them: the size of each cell in
 * a row image, its interpretation (integers, exact DECIMAL, temporal types, strings in
 * their charset, ENUM/SET, BIT, binary JSON, GEOMETRY, VECTOR) and the event JSON of each
 * (the mapping is documented in binlog_decode.h).
 *
 * Contract: nothing here reads outside the bytes it is given. A value whose bytes cannot be
 * what its type says (a DECIMAL digit group over 999999999, a TIME with minute 75, binary
 * JSON whose offsets point outside the document) is an error with a reason, never a guess;
 * the JSON writers append nothing on error.
 *
 * Thread: pure functions, callable from any thread. Allocates nothing but output growth.
 */
#include "sl_common.h"

#include <math.h>
#include <stdarg.h>

#include "sl_json.h"
#include "binlog_decode.h"

/* ======================================================================================
 * Little helpers
 * ==================================================================================== */

static inline uint64_t sl_binlog_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) v |= (uint64_t)p[k] << (8 * k);
    return v;
}

/* Fixed-size little-endian loads (written so the compiler makes each one load). */
static inline uint64_t sl_binlog_le16(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8;
}

static inline uint64_t sl_binlog_le32(const uint8_t *p)
{
    return (uint64_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                      (uint32_t)p[3] << 24);
}

static inline uint64_t sl_binlog_le64(const uint8_t *p)
{
    return sl_binlog_le32(p) | sl_binlog_le32(p + 4) << 32;
}

static inline uint64_t sl_binlog_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) v = v << 8 | p[k];
    return v;
}

static int sl_binlog_verr(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int sl_binlog_verr(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return SL_ERR;
}

/* Bytes of a DECIMAL with `digits` (0..8) leftover decimal digits. */
static const uint8_t sl_binlog_dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const uint32_t sl_binlog_pow10[10] = {1, 10, 100, 1000, 10000, 100000, 1000000,
                                             10000000, 100000000, 1000000000};

static size_t sl_binlog_decimal_size(unsigned precision, unsigned scale)
{
    unsigned intg = precision - scale;
    return (intg / 9) * 4 + sl_binlog_dig2bytes[intg % 9] + (scale / 9) * 4 +
           sl_binlog_dig2bytes[scale % 9];
}

/* Fraction bytes of TIME2/DATETIME2/TIMESTAMP2 for a precision. */
static inline size_t sl_binlog_frac_bytes(unsigned fsp) { return (fsp + 1) / 2; }

/* ======================================================================================
 * Cells: how many bytes a value takes in a row image
 * ==================================================================================== */

int sl_binlog_cell_parse(const sl_binlog_column_t *col, const uint8_t *p, size_t n,
                         sl_binlog_cell_t *cell, size_t *consumed, const char **why)
{
    size_t fixed = 0, prefix = 0;
    switch (col->real_type) {
    case SL_MY_TYPE_TINY: case SL_MY_TYPE_YEAR: fixed = 1; break;
    case SL_MY_TYPE_SHORT: fixed = 2; break;
    case SL_MY_TYPE_INT24: case SL_MY_TYPE_DATE: case SL_MY_TYPE_NEWDATE:
    case SL_MY_TYPE_TIME: fixed = 3; break;
    case SL_MY_TYPE_LONG: case SL_MY_TYPE_FLOAT: case SL_MY_TYPE_TIMESTAMP: fixed = 4; break;
    case SL_MY_TYPE_LONGLONG: case SL_MY_TYPE_DOUBLE: case SL_MY_TYPE_DATETIME: fixed = 8; break;
    case SL_MY_TYPE_NULL: fixed = 0; break;
    case SL_MY_TYPE_TIMESTAMP2: fixed = 4 + sl_binlog_frac_bytes(col->fsp); break;
    case SL_MY_TYPE_DATETIME2: fixed = 5 + sl_binlog_frac_bytes(col->fsp); break;
    case SL_MY_TYPE_TIME2: fixed = 3 + sl_binlog_frac_bytes(col->fsp); break;
    case SL_MY_TYPE_BIT: fixed = ((size_t)col->bits + 7) / 8; break;
    case SL_MY_TYPE_NEWDECIMAL:
        if (col->precision < 1 || col->precision > 65 || col->scale > col->precision) {
            *why = "DECIMAL precision/scale out of range";
            return SL_ERR;
        }
        fixed = sl_binlog_decimal_size(col->precision, col->scale);
        break;
    case SL_MY_TYPE_ENUM:
        if (col->length != 1 && col->length != 2) {
            *why = "ENUM pack length is not 1 or 2";
            return SL_ERR;
        }
        fixed = col->length;
        break;
    case SL_MY_TYPE_SET:
        if (col->length < 1 || col->length > 8) {
            *why = "SET pack length is not 1..8";
            return SL_ERR;
        }
        fixed = col->length;
        break;
    case SL_MY_TYPE_VARCHAR: case SL_MY_TYPE_VAR_STRING: case SL_MY_TYPE_STRING:
    case SL_MY_TYPE_VARCHAR_COMPRESSED:
        prefix = col->length < 256 ? 1 : 2;
        break;
    case SL_MY_TYPE_BLOB: case SL_MY_TYPE_TINY_BLOB: case SL_MY_TYPE_MEDIUM_BLOB:
    case SL_MY_TYPE_LONG_BLOB: case SL_MY_TYPE_GEOMETRY: case SL_MY_TYPE_JSON:
    case SL_MY_TYPE_VECTOR: case SL_MY_TYPE_BLOB_COMPRESSED:
        if (col->length < 1 || col->length > 4) {
            *why = "length-prefix size is not 1..4";
            return SL_ERR;
        }
        prefix = col->length;
        break;
    default:
        *why = "column type not supported in row events";
        return SL_ERR;
    }
    if (prefix) {
        if (n < prefix) {
            *why = "truncated length prefix";
            return SL_ERR;
        }
        uint64_t len = sl_binlog_le(p, prefix);
        if (len > n - prefix) {
            *why = "value longer than the bytes left in the event";
            return SL_ERR;
        }
        *cell = (sl_binlog_cell_t){p + prefix, (uint32_t)len, SL_BINLOG_CELL_VALUE};
        *consumed = prefix + (size_t)len;
        return SL_OK;
    }
    if (n < fixed) {
        *why = "truncated value";
        return SL_ERR;
    }
    *cell = (sl_binlog_cell_t){p, (uint32_t)fixed, SL_BINLOG_CELL_VALUE};
    *consumed = fixed;
    return SL_OK;
}

/* ======================================================================================
 * Values
 * ==================================================================================== */

/* Exact decimal text of MySQL's binary DECIMAL: base-10^9 groups, big-endian, sign in the
 * top bit (flipped), negative numbers stored with every bit inverted. */
static int sl_binlog_decimal_text(const uint8_t *p, size_t n, unsigned precision,
                                  unsigned scale, char out[72], const char **why)
{
    unsigned intg = precision - scale, intg0 = intg / 9, intg0x = intg % 9;
    unsigned frac0 = scale / 9, frac0x = scale % 9;
    size_t size = sl_binlog_decimal_size(precision, scale);
    if (size == 0 || n < size || size > 40) {
        *why = "DECIMAL value has the wrong size";
        return SL_ERR;
    }
    uint8_t b[40];
    memcpy(b, p, size);
    bool neg = !(b[0] & 0x80);
    b[0] ^= 0x80;
    if (neg)
        for (size_t k = 0; k < size; k++) b[k] = (uint8_t)~b[k];

    char digits[80];
    size_t nd = 0, at = 0;
    if (intg0x) {
        size_t w = sl_binlog_dig2bytes[intg0x];
        uint32_t v = (uint32_t)sl_binlog_be(b + at, w);
        at += w;
        if (v >= sl_binlog_pow10[intg0x]) goto bad;
        nd += (size_t)snprintf(digits + nd, sizeof(digits) - nd, "%0*u", (int)intg0x, v);
    }
    for (unsigned g = 0; g < intg0; g++, at += 4) {
        uint32_t v = (uint32_t)sl_binlog_be(b + at, 4);
        if (v > 999999999u) goto bad;
        nd += (size_t)snprintf(digits + nd, sizeof(digits) - nd, "%09u", v);
    }
    size_t int_digits = nd;
    for (unsigned g = 0; g < frac0; g++, at += 4) {
        uint32_t v = (uint32_t)sl_binlog_be(b + at, 4);
        if (v > 999999999u) goto bad;
        nd += (size_t)snprintf(digits + nd, sizeof(digits) - nd, "%09u", v);
    }
    if (frac0x) {
        size_t w = sl_binlog_dig2bytes[frac0x];
        uint32_t v = (uint32_t)sl_binlog_be(b + at, w);
        if (v >= sl_binlog_pow10[frac0x]) goto bad;
        nd += (size_t)snprintf(digits + nd, sizeof(digits) - nd, "%0*u", (int)frac0x, v);
    }
    bool zero = true;
    for (size_t k = 0; k < nd; k++) zero &= digits[k] == '0';
    char *o = out;
    if (neg && !zero) *o++ = '-';
    size_t lead = 0;
    while (lead + 1 < int_digits && digits[lead] == '0') lead++;
    if (int_digits) {
        memcpy(o, digits + lead, int_digits - lead);
        o += int_digits - lead;
    } else {
        *o++ = '0';
    }
    if (scale) {
        *o++ = '.';
        memcpy(o, digits + int_digits, nd - int_digits);
        o += nd - int_digits;
    }
    *o = '\0';
    return SL_OK;
bad:
    *why = "DECIMAL digit group out of range";
    return SL_ERR;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil algorithm). */
static void sl_binlog_civil(int64_t z, uint32_t *y, uint32_t *m, uint32_t *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    uint64_t doe = (uint64_t)(z - era * 146097);
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint64_t mp = (5 * doy + 2) / 153;
    *d = (uint32_t)(doy - (153 * mp + 2) / 5 + 1);
    *m = (uint32_t)(mp < 10 ? mp + 3 : mp - 9);
    *y = (uint32_t)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* Fraction of TIMESTAMP2/DATETIME2 (unsigned, big-endian) in microseconds. */
static uint32_t sl_binlog_frac_usec(const uint8_t *p, unsigned fsp)
{
    switch (sl_binlog_frac_bytes(fsp)) {
    case 1: return (uint32_t)p[0] * 10000;
    case 2: return (uint32_t)sl_binlog_be(p, 2) * 100;
    case 3: return (uint32_t)sl_binlog_be(p, 3);
    default: return 0;
    }
}

/* Split MySQL's packed TIME/DATETIME (intpart << 24 | microseconds, signed) into tm. */
static void sl_binlog_unpack_time(int64_t packed, bool with_date, sl_binlog_value_t *v)
{
    v->tm.neg = packed < 0;
    uint64_t a = packed < 0 ? (uint64_t)0 - (uint64_t)packed : (uint64_t)packed;
    v->tm.usec = (uint32_t)(a & 0xFFFFFF);
    uint64_t intpart = a >> 24;
    uint64_t hms = with_date ? intpart & 0x1FFFF : intpart;
    v->tm.hour = (uint32_t)((hms >> 12) & (with_date ? 0x1F : 0x3FF));
    v->tm.minute = (uint32_t)((hms >> 6) & 63);
    v->tm.second = (uint32_t)(hms & 63);
    if (with_date) {
        uint64_t ymd = intpart >> 17, ym = ymd >> 5;
        v->tm.year = (uint32_t)(ym / 13);
        v->tm.month = (uint32_t)(ym % 13);
        v->tm.day = (uint32_t)(ymd & 31);
    }
}

static bool sl_binlog_tm_ok(const sl_binlog_value_t *v, bool with_date)
{
    if (v->tm.minute > 59 || v->tm.second > 59 || v->tm.usec > 999999) return false;
    if (with_date && (v->tm.hour > 23 || v->tm.month > 12 || v->tm.year > 9999)) return false;
    return true;
}

/* STRING-family value: text in its charset, bytes, or JSON text (MariaDB). */
static void sl_binlog_string_value(const sl_binlog_column_t *col, sl_binlog_value_t *v)
{
    if (col->charset == SL_MY_COLLATION_BINARY) v->kind = SL_BLV_BYTES;
    else if (col->is_json_text) v->kind = SL_BLV_JSON_TEXT;
    else v->kind = SL_BLV_STRING;
    v->charset = col->charset;
}

int sl_binlog_cell_value(const sl_binlog_column_t *col, const sl_binlog_cell_t *cell,
                         sl_binlog_value_t *v, char *errstr, size_t errstr_size)
{
    memset(v, 0, sizeof(*v));
    v->p = cell->p;
    v->len = cell->len;
    if (cell->state == SL_BINLOG_CELL_NULL || cell->state == SL_BINLOG_CELL_ABSENT) {
        v->kind = SL_BLV_NULL;
        return SL_OK;
    }
    if (cell->state == SL_BINLOG_CELL_JSON_DIFF) {
        v->kind = SL_BLV_JSON_DIFF;
        return SL_OK;
    }
    const uint8_t *p = cell->p;
    size_t n = cell->len;
    const char *why = NULL;
    size_t need = 0;

    switch (col->real_type) {
    case SL_MY_TYPE_TINY: case SL_MY_TYPE_SHORT: case SL_MY_TYPE_INT24:
    case SL_MY_TYPE_LONG: case SL_MY_TYPE_LONGLONG: {
        need = col->real_type == SL_MY_TYPE_TINY ? 1 : col->real_type == SL_MY_TYPE_SHORT ? 2
             : col->real_type == SL_MY_TYPE_INT24 ? 3 : col->real_type == SL_MY_TYPE_LONG ? 4 : 8;
        if (n < need) break;
        uint64_t u = sl_binlog_le(p, need);
        if (col->is_unsigned) {
            v->kind = SL_BLV_UINT;
            v->u = u;
        } else {
            unsigned shift = (unsigned)(64 - 8 * need);
            v->kind = SL_BLV_INT;
            v->i = (int64_t)(u << shift) >> shift;   /* sign-extend */
        }
        return SL_OK;
    }
    case SL_MY_TYPE_FLOAT: {
        if (n < (need = 4)) break;
        uint32_t bits = (uint32_t)sl_binlog_le(p, 4);
        float f;
        memcpy(&f, &bits, sizeof(f));
        v->kind = SL_BLV_FLOAT;
        v->d = f;
        return SL_OK;
    }
    case SL_MY_TYPE_DOUBLE: {
        if (n < (need = 8)) break;
        uint64_t bits = sl_binlog_le(p, 8);
        memcpy(&v->d, &bits, sizeof(v->d));
        v->kind = SL_BLV_DOUBLE;
        return SL_OK;
    }
    case SL_MY_TYPE_NEWDECIMAL:
        if (sl_binlog_decimal_text(p, n, col->precision, col->scale, v->text, &why) != SL_OK)
            return sl_binlog_verr(errstr, errstr_size, "%s", why);
        v->kind = SL_BLV_DECIMAL;
        return SL_OK;
    case SL_MY_TYPE_BIT:
        if (n < (need = ((size_t)col->bits + 7) / 8) || need > 8) break;
        v->kind = SL_BLV_BIT;
        v->u = sl_binlog_be(p, need);
        v->len = need;
        return SL_OK;
    case SL_MY_TYPE_YEAR:
        if (n < (need = 1)) break;
        v->kind = SL_BLV_YEAR;
        v->i = p[0] ? 1900 + p[0] : 0;
        return SL_OK;
    case SL_MY_TYPE_DATE: case SL_MY_TYPE_NEWDATE: {
        if (n < (need = 3)) break;
        uint32_t d = (uint32_t)sl_binlog_le(p, 3);
        v->kind = SL_BLV_DATE;
        v->tm.day = d & 31;
        v->tm.month = (d >> 5) & 15;
        v->tm.year = d >> 9;
        if (v->tm.month > 12) return sl_binlog_verr(errstr, errstr_size, "DATE month %u",
                                                    v->tm.month);
        return SL_OK;
    }
    case SL_MY_TYPE_TIME: {   /* pre-5.6: HHMMSS as a signed 3-byte integer */
        if (n < (need = 3)) break;
        int32_t t = (int32_t)(sl_binlog_le(p, 3) << 8) >> 8;
        uint32_t a = t < 0 ? (uint32_t)-t : (uint32_t)t;
        v->kind = SL_BLV_TIME;
        v->tm.neg = t < 0;
        v->tm.hour = a / 10000;
        v->tm.minute = a / 100 % 100;
        v->tm.second = a % 100;
        if (!sl_binlog_tm_ok(v, false)) return sl_binlog_verr(errstr, errstr_size, "bad TIME");
        return SL_OK;
    }
    case SL_MY_TYPE_DATETIME: {   /* pre-5.6: YYYYMMDDhhmmss as an 8-byte integer */
        if (n < (need = 8)) break;
        uint64_t t = sl_binlog_le(p, 8), date = t / 1000000, time = t % 1000000;
        v->kind = SL_BLV_DATETIME;
        v->tm.year = (uint32_t)(date / 10000);
        v->tm.month = (uint32_t)(date / 100 % 100);
        v->tm.day = (uint32_t)(date % 100);
        v->tm.hour = (uint32_t)(time / 10000);
        v->tm.minute = (uint32_t)(time / 100 % 100);
        v->tm.second = (uint32_t)(time % 100);
        if (!sl_binlog_tm_ok(v, true) || v->tm.day > 31)
            return sl_binlog_verr(errstr, errstr_size, "bad DATETIME");
        return SL_OK;
    }
    case SL_MY_TYPE_TIMESTAMP: case SL_MY_TYPE_TIMESTAMP2: {
        bool v2 = col->real_type == SL_MY_TYPE_TIMESTAMP2;
        if (n < (need = v2 ? 4 + sl_binlog_frac_bytes(col->fsp) : 4)) break;
        v->kind = SL_BLV_TIMESTAMP;
        v->i = (int64_t)(v2 ? sl_binlog_be(p, 4) : sl_binlog_le(p, 4));
        v->fsp = v2 ? col->fsp : 0;
        v->tm.usec = v2 ? sl_binlog_frac_usec(p + 4, col->fsp) : 0;
        if (v->tm.usec > 999999) return sl_binlog_verr(errstr, errstr_size, "bad TIMESTAMP");
        sl_binlog_civil(v->i / 86400, &v->tm.year, &v->tm.month, &v->tm.day);
        v->tm.hour = (uint32_t)(v->i % 86400 / 3600);
        v->tm.minute = (uint32_t)(v->i % 3600 / 60);
        v->tm.second = (uint32_t)(v->i % 60);
        return SL_OK;
    }
    case SL_MY_TYPE_DATETIME2: {
        if (n < (need = 5 + sl_binlog_frac_bytes(col->fsp))) break;
        int64_t intpart = (int64_t)sl_binlog_be(p, 5) - INT64_C(0x8000000000);
        if (intpart < 0) return sl_binlog_verr(errstr, errstr_size, "negative DATETIME2");
        v->kind = SL_BLV_DATETIME;
        v->fsp = col->fsp;
        sl_binlog_unpack_time(intpart * 16777216 + sl_binlog_frac_usec(p + 5, col->fsp), true,
                              v);
        if (!sl_binlog_tm_ok(v, true)) return sl_binlog_verr(errstr, errstr_size,
                                                             "bad DATETIME2");
        return SL_OK;
    }
    case SL_MY_TYPE_TIME2: {
        if (n < (need = 3 + sl_binlog_frac_bytes(col->fsp))) break;
        int64_t intpart = (int64_t)sl_binlog_be(p, 3) - 0x800000, packed;
        switch (sl_binlog_frac_bytes(col->fsp)) {
        case 1: {
            int64_t frac = p[3];
            if (intpart < 0 && frac) { intpart++; frac -= 0x100; }
            packed = intpart * 16777216 + frac * 10000;
            break;
        }
        case 2: {
            int64_t frac = (int64_t)sl_binlog_be(p + 3, 2);
            if (intpart < 0 && frac) { intpart++; frac -= 0x10000; }
            packed = intpart * 16777216 + frac * 100;
            break;
        }
        case 3:
            packed = (int64_t)sl_binlog_be(p, 6) - INT64_C(0x800000000000);
            break;
        default:
            packed = intpart * 16777216;
            break;
        }
        v->kind = SL_BLV_TIME;
        v->fsp = col->fsp;
        sl_binlog_unpack_time(packed, false, v);
        if (!sl_binlog_tm_ok(v, false)) return sl_binlog_verr(errstr, errstr_size, "bad TIME2");
        return SL_OK;
    }
    case SL_MY_TYPE_VARCHAR: case SL_MY_TYPE_VAR_STRING: case SL_MY_TYPE_STRING:
    case SL_MY_TYPE_BLOB: case SL_MY_TYPE_TINY_BLOB: case SL_MY_TYPE_MEDIUM_BLOB:
    case SL_MY_TYPE_LONG_BLOB:
        sl_binlog_string_value(col, v);
        return SL_OK;
    case SL_MY_TYPE_VARCHAR_COMPRESSED: case SL_MY_TYPE_BLOB_COMPRESSED:
        /* MariaDB column compression: a header byte, 0 = stored as is. */
        if (n >= 1 && p[0] == 0) {
            sl_binlog_string_value(col, v);
            v->p = p + 1;
            v->len = n - 1;
            return SL_OK;
        }
        return sl_binlog_verr(errstr, errstr_size, "zlib-compressed MariaDB column values "
                              "are not supported (drop the COMPRESSED attribute)");
    case SL_MY_TYPE_ENUM: case SL_MY_TYPE_SET:
        if (n < (need = col->length) || need < 1 || need > 8) break;
        v->kind = col->real_type == SL_MY_TYPE_ENUM ? SL_BLV_ENUM : SL_BLV_SET;
        v->u = sl_binlog_le(p, need);
        return SL_OK;
    case SL_MY_TYPE_JSON:
        v->kind = SL_BLV_JSON;
        return SL_OK;
    case SL_MY_TYPE_GEOMETRY:
        if (n < 4) return sl_binlog_verr(errstr, errstr_size, "GEOMETRY value of %zu bytes "
                                         "is shorter than its SRID", n);
        v->kind = SL_BLV_GEOMETRY;
        v->u = sl_binlog_le(p, 4);
        v->p = p + 4;
        v->len = n - 4;
        return SL_OK;
    case SL_MY_TYPE_VECTOR:
        if (n % 4) return sl_binlog_verr(errstr, errstr_size, "VECTOR value of %zu bytes is "
                                         "not a float32 array", n);
        v->kind = SL_BLV_VECTOR;
        return SL_OK;
    case SL_MY_TYPE_NULL:
        v->kind = SL_BLV_NULL;
        return SL_OK;
    default:
        return sl_binlog_verr(errstr, errstr_size, "column type %u not supported",
                              col->real_type);
    }
    return sl_binlog_verr(errstr, errstr_size, "value of %zu bytes is too short for its "
                          "type (%zu needed)", n, need);
}

/* ======================================================================================
 * JSON writers: numbers, dates, strings in charsets
 * ==================================================================================== */

/* Shortest "%.*g" text that reads back to the same float / double. NaN and the infinities
 * (which MySQL cannot store) as strings when `strings`, else null. */
static void sl_binlog_json_float(sl_buf_t *out, double v, bool single, bool strings)
{
    if (!isfinite(v)) {
        if (!strings) sl_buf_puts(out, "null");
        else if (isnan(v)) sl_buf_puts(out, "\"NaN\"");
        else sl_buf_puts(out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    char b[40];
    int len = 0;
    for (int prec = single ? 6 : 15; prec <= (single ? 9 : 17); prec++) {
        len = snprintf(b, sizeof(b), "%.*g", prec, v);
        double back = strtod(b, NULL);
        if (single ? (float)back == (float)v : back == v) break;
    }
    sl_buf_put(out, b, (size_t)len);
}

static inline void sl_binlog_put2(char *o, uint32_t v)
{
    o[0] = (char)('0' + v / 10 % 10);
    o[1] = (char)('0' + v % 10);
}

static inline void sl_binlog_put4(char *o, uint32_t v)
{
    sl_binlog_put2(o, v / 100 % 100);
    sl_binlog_put2(o + 2, v % 100);
}

/* ".ffffff" cut to fsp digits; returns its length. */
static size_t sl_binlog_frac_text(char *o, uint32_t usec, unsigned fsp)
{
    if (!fsp) return 0;
    char d[6];
    for (int k = 5; k >= 0; k--) {
        d[k] = (char)('0' + usec % 10);
        usec /= 10;
    }
    o[0] = '.';
    memcpy(o + 1, d, fsp > 6 ? 6 : fsp);
    return 1 + (fsp > 6 ? 6 : fsp);
}

/* "YYYY-MM-DD" + sep + "HH:MM:SS[.f]" (sep 0: date only). Returns the length. */
static size_t sl_binlog_datetime_text(char *o, const sl_binlog_value_t *v, char sep,
                                      unsigned fsp)
{
    sl_binlog_put4(o, v->tm.year);
    o[4] = '-';
    sl_binlog_put2(o + 5, v->tm.month);
    o[7] = '-';
    sl_binlog_put2(o + 8, v->tm.day);
    if (!sep) return 10;
    o[10] = sep;
    sl_binlog_put2(o + 11, v->tm.hour);
    o[13] = ':';
    sl_binlog_put2(o + 14, v->tm.minute);
    o[16] = ':';
    sl_binlog_put2(o + 17, v->tm.second);
    return 19 + sl_binlog_frac_text(o + 19, v->tm.usec, fsp);
}

/* "[-]HH:MM:SS[.f]" (hours may take three digits). */
static size_t sl_binlog_time_text(char *o, const sl_binlog_value_t *v, unsigned fsp)
{
    size_t k = 0;
    if (v->tm.neg) o[k++] = '-';
    if (v->tm.hour >= 100) o[k++] = (char)('0' + v->tm.hour / 100 % 10);
    sl_binlog_put2(o + k, v->tm.hour % 100);
    o[k + 2] = ':';
    sl_binlog_put2(o + k + 3, v->tm.minute);
    o[k + 5] = ':';
    sl_binlog_put2(o + k + 6, v->tm.second);
    k += 8;
    return k + sl_binlog_frac_text(o + k, v->tm.usec, fsp);
}

/* cp1252 for 0x80..0x9F as MySQL's latin1 defines it (its five holes map to the C1
 * controls of the same value). */
static const uint16_t sl_binlog_cp1252[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* Append one code point to a JSON string body (escaped; invalid -> U+FFFD). */
static void sl_binlog_json_cp(sl_buf_t *out, uint32_t cp)
{
    static const char hex[] = "0123456789abcdef";
    char u[6];
    if (cp < 0x20) {
        char e[6] = {'\\', 'u', '0', '0', hex[cp >> 4], hex[cp & 15]};
        sl_buf_put(out, e, 6);
    } else if (cp == '"' || cp == '\\') {
        char e[2] = {'\\', (char)cp};
        sl_buf_put(out, e, 2);
    } else if (cp < 0x80) {
        sl_buf_putc(out, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 63));
        sl_buf_put(out, u, 2);
    } else if (cp < 0x10000) {
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 63));
        u[2] = (char)(0x80 | (cp & 63));
        sl_buf_put(out, u, 3);
    } else if (cp <= 0x10FFFF) {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 63));
        u[2] = (char)(0x80 | (cp >> 6 & 63));
        u[3] = (char)(0x80 | (cp & 63));
        sl_buf_put(out, u, 4);
    } else {
        sl_binlog_json_cp(out, 0xFFFD);
    }
}

typedef enum { SL_CS_PASS, SL_CS_LATIN1, SL_CS_UCS2, SL_CS_UTF16, SL_CS_UTF16LE,
               SL_CS_UTF32 } sl_binlog_cs_t;

/* Charset family of a collation id. MariaDB's NOPAD collations are the base id + 1024. */
static sl_binlog_cs_t sl_binlog_charset(uint16_t coll)
{
    if (coll >= 1024 && coll < 2048) coll = (uint16_t)(coll - 1024);
    switch (coll) {
    case 5: case 8: case 15: case 31: case 47: case 48: case 49: case 94:
        return SL_CS_LATIN1;
    case 35: case 90: case 159:
        return SL_CS_UCS2;
    case 54: case 55:
        return SL_CS_UTF16;
    case 56: case 62:
        return SL_CS_UTF16LE;
    case 60: case 61:
        return SL_CS_UTF32;
    default:
        if (coll >= 128 && coll <= 151) return SL_CS_UCS2;
        if (coll >= 101 && coll <= 124) return SL_CS_UTF16;
        if (coll >= 160 && coll <= 183) return SL_CS_UTF32;
        return SL_CS_PASS;   /* utf8mb3/utf8mb4, ascii and the rest: UTF-8 repair */
    }
}

/* Text in a charset as a JSON string of UTF-8. */
static void sl_binlog_json_text(sl_buf_t *out, const uint8_t *p, size_t n, uint16_t coll)
{
    sl_binlog_cs_t cs = sl_binlog_charset(coll);
    if (cs == SL_CS_LATIN1) {
        size_t k = 0;
        for (uint64_t w; k + 8 <= n; k += 8) {
            memcpy(&w, p + k, 8);
            if (w & 0x8080808080808080ull) break;
        }
        while (k < n && p[k] < 0x80) k++;
        if (k == n) cs = SL_CS_PASS;   /* pure ASCII: the fast path */
    }
    if (cs == SL_CS_PASS) {
        sl_json_str(out, (const char *)p, n);
        return;
    }
    sl_buf_grow(out, n + 2);
    sl_buf_putc(out, '"');
    size_t i = 0;
    switch (cs) {
    case SL_CS_LATIN1:
        for (; i < n; i++)
            sl_binlog_json_cp(out, p[i] >= 0x80 && p[i] < 0xA0 ? sl_binlog_cp1252[p[i] - 0x80]
                                                               : p[i]);
        break;
    case SL_CS_UCS2:
        for (; i + 1 < n; i += 2) sl_binlog_json_cp(out, (uint32_t)sl_binlog_be(p + i, 2));
        break;
    case SL_CS_UTF16: case SL_CS_UTF16LE:
        for (; i + 1 < n; i += 2) {
            bool le = cs == SL_CS_UTF16LE;
            uint32_t u = (uint32_t)(le ? sl_binlog_le(p + i, 2) : sl_binlog_be(p + i, 2));
            if (u >= 0xD800 && u < 0xDC00 && i + 3 < n) {
                uint32_t lo = (uint32_t)(le ? sl_binlog_le(p + i + 2, 2)
                                            : sl_binlog_be(p + i + 2, 2));
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    i += 2;
                }
            }
            sl_binlog_json_cp(out, u);   /* a lone surrogate becomes U+FFFD */
        }
        break;
    case SL_CS_UTF32:
        for (; i + 3 < n; i += 4) sl_binlog_json_cp(out, (uint32_t)sl_binlog_be(p + i, 4));
        break;
    default:
        break;
    }
    if (i < n && cs != SL_CS_LATIN1) sl_binlog_json_cp(out, 0xFFFD);   /* odd tail */
    sl_buf_putc(out, '"');
}

/* ======================================================================================
 * JSON text validation (MariaDB JSON columns are text; embed only what parses)
 * ==================================================================================== */

#define SL_BINLOG_JSON_MAXDEPTH 1024

static bool sl_binlog_json_text_valid(const uint8_t *s, size_t n)
{
    uint8_t stack[SL_BINLOG_JSON_MAXDEPTH];   /* '{' or '[' */
    int depth = 0;
    size_t i = 0;
    enum { VALUE, AFTER, KEY } want = VALUE;
    bool empty_ok = false;   /* just after '[' or '{' */

    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        if (i >= n) return depth == 0 && want == AFTER;
        uint8_t c = s[i];
        if (want == AFTER) {
            if (!depth) return false;
            if (c == ',') {
                want = stack[depth - 1] == '{' ? KEY : VALUE;
                empty_ok = false;
                i++;
            } else if (c == (stack[depth - 1] == '{' ? '}' : ']')) {
                depth--;
                i++;
            } else {
                return false;
            }
            continue;
        }
        if (empty_ok && (c == ']' || c == '}')) {
            if (c != (stack[depth - 1] == '{' ? '}' : ']')) return false;
            depth--;
            i++;
            want = AFTER;
            empty_ok = false;
            continue;
        }
        empty_ok = false;
        if (want == KEY && c != '"') return false;
        if (c == '"') {
            i++;
            for (;;) {
                if (i >= n) return false;
                uint8_t ch = s[i];
                if (ch == '"') { i++; break; }
                if (ch < 0x20) return false;
                if (ch == '\\') {
                    if (i + 1 >= n) return false;
                    uint8_t e = s[i + 1];
                    if (e == 'u') {
                        if (n - i < 6) return false;
                        for (int k = 2; k < 6; k++) {
                            uint8_t h = s[i + k];
                            if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
                                  (h >= 'A' && h <= 'F')))
                                return false;
                        }
                        i += 6;
                    } else if (strchr("\"\\/bfnrt", e) && e) {
                        i += 2;
                    } else {
                        return false;
                    }
                    continue;
                }
                if (ch < 0x80) { i++; continue; }
                size_t l = sl_utf8_len(s + i, n - i);
                if (!l) return false;
                i += l;
            }
            if (want == KEY) {
                while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
                    i++;
                if (i >= n || s[i] != ':') return false;
                i++;
                want = VALUE;
                continue;
            }
            want = AFTER;
        } else if (c == '{' || c == '[') {
            if (depth >= SL_BINLOG_JSON_MAXDEPTH) return false;
            stack[depth++] = c;
            i++;
            want = c == '{' ? KEY : VALUE;
            empty_ok = true;
        } else if (c == 't' || c == 'f' || c == 'n') {
            const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
            size_t l = strlen(lit);
            if (n - i < l || memcmp(s + i, lit, l) != 0) return false;
            i += l;
            want = AFTER;
        } else {
            size_t j = i;
            while (j < n && (s[j] == '-' || s[j] == '+' || s[j] == '.' || s[j] == 'e' ||
                             s[j] == 'E' || (s[j] >= '0' && s[j] <= '9')))
                j++;
            if (j == i || !sl_json_is_number((const char *)s + i, j - i)) return false;
            i = j;
            want = AFTER;
        }
    }
}

/* ======================================================================================
 * MySQL binary JSON
 * ==================================================================================== */

#define SL_BINLOG_JSONB_MAXDEPTH 128

/* Values are found through offsets, so corrupt bytes can point many entries at the same
 * value: a chain of containers whose entries all point at the next one is 2^depth values
 * from a few hundred bytes, and entries sharing one long string print it over and over.
 * MySQL writes every value, key and container header once (an in-place partial update
 * leaves unreferenced bytes, never shared ones), so the bytes a document is read from add
 * up to at most its length. Each value and key charges the bytes it reads (a container its
 * header and entries; inlined values are part of their entry) to a budget of the
 * document's length, and a document that overdraws it is refused: decoding is linear in
 * the input, and so is the text. */
typedef struct {
    size_t left;    /* bytes that may still be read */
} sl_binlog_jsonb_budget_t;

/* Charge n bytes; b NULL: a value inlined in its entry, already paid for. */
static bool sl_binlog_jsonb_charge(sl_binlog_jsonb_budget_t *b, size_t n)
{
    if (!b) return true;
    if (n > b->left) return false;
    b->left -= n;
    return true;
}

#define SL_BINLOG_JSONB_SHARED "values overlap: bytes referenced more than once"

enum {
    SL_JSONB_SMALL_OBJECT = 0x00, SL_JSONB_LARGE_OBJECT = 0x01, SL_JSONB_SMALL_ARRAY = 0x02,
    SL_JSONB_LARGE_ARRAY = 0x03, SL_JSONB_LITERAL = 0x04, SL_JSONB_INT16 = 0x05,
    SL_JSONB_UINT16 = 0x06, SL_JSONB_INT32 = 0x07, SL_JSONB_UINT32 = 0x08,
    SL_JSONB_INT64 = 0x09, SL_JSONB_UINT64 = 0x0A, SL_JSONB_DOUBLE = 0x0B,
    SL_JSONB_STRING = 0x0C, SL_JSONB_OPAQUE = 0x0F,
};

/* Length of a string / opaque value: 7 bits per byte, low first, at most 5 bytes. */
static bool sl_binlog_jsonb_varlen(const uint8_t *p, size_t n, size_t *len, size_t *used)
{
    uint64_t v = 0;
    for (size_t k = 0; k < 5 && k < n; k++) {
        v |= (uint64_t)(p[k] & 0x7F) << (7 * k);
        if (!(p[k] & 0x80)) {
            if (v > UINT32_MAX) return false;
            *len = (size_t)v;
            *used = k + 1;
            return true;
        }
    }
    return false;
}

static const char *sl_binlog_jsonb_value(sl_buf_t *out, uint8_t type, const uint8_t *p,
                                         size_t n, int depth, sl_binlog_jsonb_budget_t *b);

/* An opaque scalar as MySQL prints it inside JSON text. */
static const char *sl_binlog_jsonb_opaque(sl_buf_t *out, uint8_t ftype, const uint8_t *p,
                                          size_t n)
{
    sl_binlog_value_t v;
    char t[48];
    size_t len;
    switch (ftype) {
    case SL_MY_TYPE_DATE: case SL_MY_TYPE_DATETIME: case SL_MY_TYPE_TIMESTAMP:
    case SL_MY_TYPE_TIME:
        if (n < 8) return "opaque temporal value shorter than 8 bytes";
        memset(&v, 0, sizeof(v));
        sl_binlog_unpack_time((int64_t)sl_binlog_le(p, 8), ftype != SL_MY_TYPE_TIME, &v);
        if (ftype == SL_MY_TYPE_TIME) len = sl_binlog_time_text(t, &v, 6);
        else if (ftype == SL_MY_TYPE_DATE) len = sl_binlog_datetime_text(t, &v, 0, 0);
        else len = sl_binlog_datetime_text(t, &v, ' ', 6);
        sl_json_str(out, t, len);
        return NULL;
    case SL_MY_TYPE_NEWDECIMAL: {
        const char *why = NULL;
        if (n < 2 || p[0] < 1 || p[0] > 65 || p[1] > p[0]) return "opaque DECIMAL header";
        if (sl_binlog_decimal_text(p + 2, n - 2, p[0], p[1], v.text, &why) != SL_OK) return why;
        sl_buf_puts(out, v.text);
        return NULL;
    }
    default: {
        /* "base64:type<N>:<base64>": MySQL's text form of other opaque values */
        size_t mark = out->len;
        sl_json_base64(out, p, n);
        char pre[32];
        int pl = snprintf(pre, sizeof(pre), "base64:type%u:", ftype);
        sl_buf_grow(out, (size_t)pl);
        memmove(out->data + mark + 1 + pl, out->data + mark + 1, out->len - mark - 1);
        memcpy(out->data + mark + 1, pre, (size_t)pl);
        out->len += (size_t)pl;
        return NULL;
    }
    }
}

/* Object or array: count, size, [key entries], value entries, then keys and values.
 * Offsets are relative to p (the container's first byte after its type). */
static const char *sl_binlog_jsonb_container(sl_buf_t *out, const uint8_t *p, size_t n,
                                             bool large, bool object, int depth,
                                             sl_binlog_jsonb_budget_t *b)
{
    if (depth > SL_BINLOG_JSONB_MAXDEPTH) return "nested deeper than 128";
    size_t osz = large ? 4 : 2;
    if (n < 2 * osz) return "container header truncated";
    uint64_t count = sl_binlog_le(p, osz), size = sl_binlog_le(p + osz, osz);
    if (size > n || size < 2 * osz) return "container size out of range";
    size_t key_entry = object ? osz + 2 : 0, val_entry = 1 + osz;
    if (count > (size - 2 * osz) / (key_entry + val_entry)) return "element count too large";
    size_t keys_at = 2 * osz, vals_at = keys_at + (size_t)count * key_entry;
    if (!sl_binlog_jsonb_charge(b, vals_at + (size_t)count * val_entry))
        return SL_BINLOG_JSONB_SHARED;
    sl_buf_putc(out, object ? '{' : '[');
    for (size_t i = 0; i < count; i++) {
        if (i) sl_buf_putc(out, ',');
        if (object) {
            const uint8_t *ke = p + keys_at + i * key_entry;
            uint64_t koff = sl_binlog_le(ke, osz), klen = sl_binlog_le(ke + osz, 2);
            if (koff > size || klen > size - koff) return "key outside its object";
            if (!sl_binlog_jsonb_charge(b, (size_t)klen)) return SL_BINLOG_JSONB_SHARED;
            sl_json_str(out, (const char *)p + koff, (size_t)klen);
            sl_buf_putc(out, ':');
        }
        const uint8_t *ve = p + vals_at + i * val_entry;
        uint8_t t = ve[0];
        bool inlined = t == SL_JSONB_LITERAL || t == SL_JSONB_INT16 || t == SL_JSONB_UINT16 ||
                       (large && (t == SL_JSONB_INT32 || t == SL_JSONB_UINT32));
        const char *why;
        if (inlined) {
            why = sl_binlog_jsonb_value(out, t, ve + 1, osz, depth + 1, NULL);
        } else {
            uint64_t off = sl_binlog_le(ve + 1, osz);
            if (off >= size) return "value outside its container";
            why = sl_binlog_jsonb_value(out, t, p + off, (size_t)(size - off), depth + 1, b);
        }
        if (why) return why;
    }
    sl_buf_putc(out, object ? '}' : ']');
    return NULL;
}

/* One value of `type` whose data starts at p (n bytes available). NULL or a reason. */
static const char *sl_binlog_jsonb_value(sl_buf_t *out, uint8_t type, const uint8_t *p,
                                         size_t n, int depth, sl_binlog_jsonb_budget_t *b)
{
    static const uint8_t width[] = {[SL_JSONB_INT16] = 2, [SL_JSONB_UINT16] = 2,
                                    [SL_JSONB_INT32] = 4, [SL_JSONB_UINT32] = 4,
                                    [SL_JSONB_INT64] = 8, [SL_JSONB_UINT64] = 8,
                                    [SL_JSONB_DOUBLE] = 8};
    switch (type) {
    case SL_JSONB_SMALL_OBJECT: case SL_JSONB_LARGE_OBJECT:
        return sl_binlog_jsonb_container(out, p, n, type == SL_JSONB_LARGE_OBJECT, true, depth,
                                         b);
    case SL_JSONB_SMALL_ARRAY: case SL_JSONB_LARGE_ARRAY:
        return sl_binlog_jsonb_container(out, p, n, type == SL_JSONB_LARGE_ARRAY, false,
                                         depth, b);
    case SL_JSONB_LITERAL:
        if (n < 1) return "literal truncated";
        if (!sl_binlog_jsonb_charge(b, 1)) return SL_BINLOG_JSONB_SHARED;
        if (p[0] == 0) sl_buf_puts(out, "null");
        else if (p[0] == 1) sl_buf_puts(out, "true");
        else if (p[0] == 2) sl_buf_puts(out, "false");
        else return "unknown literal";
        return NULL;
    case SL_JSONB_INT16: case SL_JSONB_INT32: case SL_JSONB_INT64: {
        size_t w = width[type];
        if (n < w) return "integer truncated";
        if (!sl_binlog_jsonb_charge(b, w)) return SL_BINLOG_JSONB_SHARED;
        unsigned shift = (unsigned)(64 - 8 * w);
        sl_json_i64(out, (int64_t)(sl_binlog_le(p, w) << shift) >> shift);
        return NULL;
    }
    case SL_JSONB_UINT16: case SL_JSONB_UINT32: case SL_JSONB_UINT64:
        if (n < width[type]) return "integer truncated";
        if (!sl_binlog_jsonb_charge(b, width[type])) return SL_BINLOG_JSONB_SHARED;
        sl_json_u64(out, sl_binlog_le(p, width[type]));
        return NULL;
    case SL_JSONB_DOUBLE: {
        if (n < 8) return "double truncated";
        if (!sl_binlog_jsonb_charge(b, 8)) return SL_BINLOG_JSONB_SHARED;
        uint64_t bits = sl_binlog_le(p, 8);
        double d;
        memcpy(&d, &bits, sizeof(d));
        sl_binlog_json_float(out, d, false, false);
        return NULL;
    }
    case SL_JSONB_STRING: {
        size_t len, used;
        if (!sl_binlog_jsonb_varlen(p, n, &len, &used) || len > n - used)
            return "string length out of range";
        if (!sl_binlog_jsonb_charge(b, used + len)) return SL_BINLOG_JSONB_SHARED;
        sl_json_str(out, (const char *)p + used, len);
        return NULL;
    }
    case SL_JSONB_OPAQUE: {
        size_t len, used;
        if (n < 1) return "opaque value truncated";
        if (!sl_binlog_jsonb_varlen(p + 1, n - 1, &len, &used) || len > n - 1 - used)
            return "opaque length out of range";
        if (!sl_binlog_jsonb_charge(b, 1 + used + len)) return SL_BINLOG_JSONB_SHARED;
        return sl_binlog_jsonb_opaque(out, p[0], p + 1 + used, len);
    }
    default:
        return "unknown value type";
    }
}

int sl_binlog_jsonb_to_json(sl_buf_t *out, const uint8_t *p, size_t n, char *errstr,
                            size_t errstr_size)
{
    if (n == 0) {   /* MySQL writes an empty value for a NOT NULL column without default */
        sl_buf_puts(out, "null");
        return SL_OK;
    }
    size_t mark = out->len;
    sl_binlog_jsonb_budget_t b = {n - 1};
    const char *why = sl_binlog_jsonb_value(out, p[0], p + 1, n - 1, 0, &b);
    if (!why) return SL_OK;
    out->len = mark;
    return sl_binlog_verr(errstr, errstr_size, "corrupt binary JSON (%s)", why);
}

/* Partial update diff list: per entry the operation (0 REPLACE, 1 INSERT, 2 REMOVE), the
 * path (length-encoded) and, but for REMOVE, the value as binary JSON (length-encoded). */
static const char *sl_binlog_json_diff(sl_buf_t *out, const uint8_t *p, size_t n)
{
    static const char *const ops[] = {"REPLACE", "INSERT", "REMOVE"};
    size_t i = 0;
    sl_buf_puts(out, "{\"json_diff\":[");
    for (int k = 0; i < n; k++) {
        uint8_t op = p[i++];
        if (op > 2) return "unknown JSON diff operation";
        uint64_t lens[2] = {0, 0};
        const uint8_t *parts[2] = {NULL, NULL};
        for (int part = 0; part < (op == 2 ? 1 : 2); part++) {
            if (i >= n) return "JSON diff truncated";
            uint8_t c = p[i++];
            size_t w = c < 0xFB ? 0 : c == 0xFC ? 2 : c == 0xFD ? 3 : c == 0xFE ? 8 : 9;
            if (w == 9 || n - i < w) return "JSON diff length invalid";
            lens[part] = w ? sl_binlog_le(p + i, w) : c;
            i += w;
            if (lens[part] > n - i) return "JSON diff truncated";
            parts[part] = p + i;
            i += (size_t)lens[part];
        }
        if (k) sl_buf_putc(out, ',');
        sl_buf_puts(out, "{\"op\":\"");
        sl_buf_puts(out, ops[op]);
        sl_buf_puts(out, "\",\"path\":");
        sl_json_str(out, (const char *)parts[0], (size_t)lens[0]);
        if (op != 2) {
            sl_buf_puts(out, ",\"value\":");
            if (!lens[1]) return "JSON diff value is empty";
            sl_binlog_jsonb_budget_t b = {(size_t)lens[1] - 1};
            const char *why = sl_binlog_jsonb_value(out, parts[1][0], parts[1] + 1,
                                                    (size_t)lens[1] - 1, 0, &b);
            if (why) return why;
        }
        sl_buf_putc(out, '}');
    }
    sl_buf_puts(out, "]}");
    return NULL;
}

/* ======================================================================================
 * The event JSON of a value
 * ==================================================================================== */

static bool sl_binlog_zero_date(const sl_binlog_value_t *v)
{
    return v->tm.month == 0 || v->tm.day == 0;
}

int sl_binlog_value_json(sl_buf_t *out, const sl_binlog_column_t *col,
                         const sl_binlog_value_t *v, char *errstr, size_t errstr_size)
{
    char t[64];
    size_t len;
    switch (v->kind) {
    case SL_BLV_NULL:
        sl_buf_put(out, "null", 4);
        return SL_OK;
    case SL_BLV_INT: case SL_BLV_YEAR:
        sl_json_i64(out, v->i);
        return SL_OK;
    case SL_BLV_UINT:
        sl_json_u64(out, v->u);
        return SL_OK;
    case SL_BLV_FLOAT: case SL_BLV_DOUBLE:
        sl_binlog_json_float(out, v->d, v->kind == SL_BLV_FLOAT, true);
        return SL_OK;
    case SL_BLV_DECIMAL:
        sl_json_cstr(out, v->text);
        return SL_OK;
    case SL_BLV_BIT:
        if (col->bits == 1) sl_buf_puts(out, v->u ? "true" : "false");
        else sl_json_base64(out, v->p, v->len);
        return SL_OK;
    case SL_BLV_DATE:
        if (sl_binlog_zero_date(v)) break;
        len = sl_binlog_datetime_text(t, v, 0, 0);
        goto quoted;
    case SL_BLV_DATETIME:
        if (sl_binlog_zero_date(v)) break;
        len = sl_binlog_datetime_text(t, v, 'T', v->fsp);
        goto quoted;
    case SL_BLV_TIMESTAMP:
        if (v->i == 0 && v->tm.usec == 0) break;   /* 0000-00-00 00:00:00 */
        len = sl_binlog_datetime_text(t, v, 'T', v->fsp);
        t[len++] = 'Z';
        goto quoted;
    case SL_BLV_TIME:
        len = sl_binlog_time_text(t, v, v->fsp);
        goto quoted;
    case SL_BLV_STRING:
        sl_binlog_json_text(out, v->p, v->len, v->charset);
        return SL_OK;
    case SL_BLV_BYTES: case SL_BLV_GEOMETRY:
        sl_json_base64(out, v->p, v->len);
        return SL_OK;
    case SL_BLV_ENUM:
        if (v->u == 0 && col->nlabels) {
            sl_buf_put(out, "\"\"", 2);
        } else if (v->u >= 1 && v->u <= col->nlabels) {
            const sl_binlog_label_t *l = &col->labels[v->u - 1];
            sl_binlog_json_text(out, (const uint8_t *)l->s, l->len, col->charset);
        } else {
            sl_json_u64(out, v->u);   /* no labels known (or stale ones) */
        }
        return SL_OK;
    case SL_BLV_SET: {
        uint64_t known = col->nlabels >= 64 ? UINT64_MAX
                                            : ((UINT64_C(1) << col->nlabels) - 1);
        if (!col->nlabels || (v->u & ~known)) {
            sl_json_u64(out, v->u);
            return SL_OK;
        }
        /* One JSON string: each label converted in the column's charset, quotes
         * dropped, joined with ','. */
        sl_buf_putc(out, '"');
        bool first = true;
        for (uint32_t k = 0; k < col->nlabels; k++) {
            if (!(v->u >> k & 1)) continue;
            if (!first) sl_buf_putc(out, ',');
            first = false;
            size_t mark = out->len;
            sl_binlog_json_text(out, (const uint8_t *)col->labels[k].s, col->labels[k].len,
                                col->charset);
            memmove(out->data + mark, out->data + mark + 1, out->len - mark - 2);
            out->len -= 2;
        }
        sl_buf_putc(out, '"');
        return SL_OK;
    }
    case SL_BLV_JSON:
        return sl_binlog_jsonb_to_json(out, v->p, v->len, errstr, errstr_size);
    case SL_BLV_JSON_TEXT:
        if (sl_binlog_json_text_valid(v->p, v->len)) sl_buf_put(out, v->p, v->len);
        else sl_binlog_json_text(out, v->p, v->len, v->charset);
        return SL_OK;
    case SL_BLV_JSON_DIFF: {
        size_t mark = out->len;
        const char *why = sl_binlog_json_diff(out, v->p, v->len);
        if (!why) return SL_OK;
        out->len = mark;
        return sl_binlog_verr(errstr, errstr_size, "corrupt JSON diff (%s)", why);
    }
    case SL_BLV_VECTOR:
        sl_buf_putc(out, '[');
        for (size_t k = 0; k + 4 <= v->len; k += 4) {
            uint32_t bits = (uint32_t)sl_binlog_le(v->p + k, 4);
            float f;
            memcpy(&f, &bits, sizeof(f));
            if (k) sl_buf_putc(out, ',');
            sl_binlog_json_float(out, f, true, false);
        }
        sl_buf_putc(out, ']');
        return SL_OK;
    }
    sl_buf_put(out, "null", 4);   /* zero dates */
    return SL_OK;
quoted:
    sl_buf_putc(out, '"');
    sl_buf_put(out, t, len);
    sl_buf_putc(out, '"');
    return SL_OK;
}

/* Any cell: interpreted into a value, then written. Out of line, so the fast paths of
 * sl_binlog_cell_json do not pay for the value struct's stack frame. */
static __attribute__((noinline)) int sl_binlog_cell_json_general(
    sl_buf_t *out, const sl_binlog_column_t *col, const sl_binlog_cell_t *cell, char *errstr,
    size_t errstr_size)
{
    sl_binlog_value_t v;
    if (sl_binlog_cell_value(col, cell, &v, errstr, errstr_size) != SL_OK) return SL_ERR;
    return sl_binlog_value_json(out, col, &v, errstr, errstr_size);
}

int sl_binlog_cell_json(sl_buf_t *out, const sl_binlog_column_t *col,
                        const sl_binlog_cell_t *cell, char *errstr, size_t errstr_size)
{
    /* The commonest cells straight from their bytes, without the value struct: the same
     * output as sl_binlog_cell_value + sl_binlog_value_json (anything unusual, such as a
     * value too short for its type, goes the general way and gets its error there). */
    if (cell->state == SL_BINLOG_CELL_NULL || cell->state == SL_BINLOG_CELL_ABSENT) {
        sl_buf_put(out, "null", 4);
        return SL_OK;
    }
    if (cell->state == SL_BINLOG_CELL_VALUE) {
        size_t need = 0;
        switch (col->real_type) {
        case SL_MY_TYPE_TINY: need = 1; break;
        case SL_MY_TYPE_SHORT: need = 2; break;
        case SL_MY_TYPE_INT24: need = 3; break;
        case SL_MY_TYPE_LONG: need = 4; break;
        case SL_MY_TYPE_LONGLONG: need = 8; break;
        case SL_MY_TYPE_VARCHAR: case SL_MY_TYPE_VAR_STRING: case SL_MY_TYPE_STRING:
        case SL_MY_TYPE_BLOB: case SL_MY_TYPE_TINY_BLOB: case SL_MY_TYPE_MEDIUM_BLOB:
        case SL_MY_TYPE_LONG_BLOB:
            if (col->charset == SL_MY_COLLATION_BINARY || col->is_json_text) break;
            sl_binlog_json_text(out, cell->p, cell->len, col->charset);
            return SL_OK;
        default:
            break;
        }
        if (need && cell->len >= need) {
            const uint8_t *p = cell->p;
            uint64_t u;
            switch (need) {   /* constant sizes: one load each */
            case 1: u = p[0]; break;
            case 2: u = sl_binlog_le16(p); break;
            case 3: u = sl_binlog_le16(p) | (uint64_t)p[2] << 16; break;
            case 4: u = sl_binlog_le32(p); break;
            default: u = sl_binlog_le64(p); break;
            }
            if (col->is_unsigned) {
                sl_json_u64(out, u);
            } else {
                unsigned shift = (unsigned)(64 - 8 * need);
                sl_json_i64(out, (int64_t)(u << shift) >> shift);
            }
            return SL_OK;
        }
    }
    return sl_binlog_cell_json_general(out, col, cell, errstr, errstr_size);
}
