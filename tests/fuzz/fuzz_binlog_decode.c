/*
 * fuzz_binlog_decode.c - libFuzzer harness for the MySQL/MariaDB binlog decoder
 * (sources/mysql/binlog_decode.h): event sequences (TABLE_MAP then rows events, payloads),
 * the JSON encoding of every decoded row (sl_binlog_encode_row*, sl_binlog_key_changed),
 * whole binlog files (sl_binlog_file_init/next) and MySQL binary JSON
 * (sl_binlog_jsonb_to_json).
 *
 * Run: `make fuzz FUZZ_TARGETS=binlog_decode` (tests/fuzz/run.sh builds the seed corpus),
 * or by hand: build/fuzz/fuzz_binlog_decode -max_len=65536 -timeout=10 CORPUS_DIR
 *
 * Input: byte 0 is a flags byte, the rest depends on its mode (bits 6-7):
 *   0, 1  a sequence of events, each a 2-byte little-endian length then that many bytes;
 *         unless bit 4 is set the harness fixes up each event's header event_size (and, in
 *         the CRC32 modes, appends / accounts for a valid CRC32 trailer), so the fuzzer
 *         spends its time in the bodies
 *   2     the rest is a binlog file (magic, then events split by their event_size)
 *   3     the rest is MySQL binary JSON
 * Flags: bits 0-1 checksum (0 learn it, 1 OFF, 2 CRC32, 3 CRC32 already stripped); bit 2
 * MariaDB flavour; bit 3 a table hook registers a made-up schema for every table (names,
 * key, signedness, charsets, ENUM/SET labels, JSON text); bit 5 the envelope cache is used.
 * Every event is copied to a heap block of exactly its size so ASan sees any over-read.
 */
#include "sl_common.h"
#include "sl_buf.h"
#include "../../sources/mysql/binlog_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    F_CSUM = 0x03, F_MARIADB = 0x04, F_SCHEMA = 0x08, F_RAW = 0x10, F_CACHE = 0x20,
};

/* Collation ids the made-up schemas cycle through: unknown, latin1, utf8mb3, binary, ucs2,
 * utf16, utf32, ascii, utf8mb4, utf16le, an id no table knows. */
static const uint16_t fz_charsets[] = {0, 8, 33, 63, 35, 54, 60, 11, 45, 56, 999};

static void fz_table_hook(void *arg, sl_binlog_table_t *t)
{
    sl_binlog_decoder_t *d = arg;
    static const char *const labels[] = {"a", "b", "it's", "\xc3\xa9"};
    uint32_t n = t->ncols > 64 ? 64 : t->ncols;
    sl_binlog_schema_col_t cols[64];
    char names[64][8];
    for (uint32_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "c%u", i);
        uint32_t v = (uint32_t)(t->table_id + i);
        cols[i] = (sl_binlog_schema_col_t){
            .name = names[i],
            .pk_pos = i < 2 && (t->table_id & 1) ? i + 1 : 0,
            .is_unsigned = v & 1,
            .is_json = (v % 5) == 4,
            .charset = fz_charsets[v % SL_ARRAY_SIZE(fz_charsets)],
            .nlabels = (v & 2) ? SL_ARRAY_SIZE(labels) : 0,
            .labels = labels,
        };
    }
    sl_binlog_schema_t s = {.db = t->db ? t->db : "", .table = t->name ? t->name : "",
                            .ncols = n, .cols = cols};
    sl_binlog_decoder_set_schema(d, &s);
    sl_binlog_table_apply_schema(d, t);
}

static bool fz_is_rows(uint8_t type)
{
    return (type >= SL_BINLOG_WRITE_ROWS_EVENT_V0 && type <= SL_BINLOG_DELETE_ROWS_EVENT_V1) ||
           (type >= SL_BINLOG_WRITE_ROWS_EVENT && type <= SL_BINLOG_DELETE_ROWS_EVENT) ||
           type == SL_BINLOG_PARTIAL_UPDATE_ROWS_EVENT;
}

/* Encode every row of a rows event the way the MySQL source does. */
static void fz_rows(sl_buf_t *out, sl_binlog_envctx_t *ctx, const sl_binlog_event_t *ev,
                    bool cache)
{
    char err[SL_ERRSTR_SIZE];
    ctx->gen = cache ? ctx->gen + 1 : 0;
    for (uint32_t r = 0; r < ev->rows.nrows; r++) {
        bool split = false;
        sl_buf_reset(out);
        if (ev->rows.op == 'u' &&
            sl_binlog_key_changed(out, ev, r, &split, err, sizeof(err)) != SL_OK)
            continue;
        for (int h = 0; h < (split ? 2 : 1); h++) {
            uint32_t ko, kl, vo, vl;
            const char *sj = NULL;
            size_t sl = 0;
            char half = split ? (h == 0 ? 'd' : 'c') : 0;
            if (sl_binlog_encode_row_as(out, ctx, ev, r, half, &ko, &kl, &vo, &vl, &sj, &sl,
                                        err, sizeof(err)) != SL_OK)
                break;
            if (ko + kl > out->len || vo + vl > out->len) abort();
        }
    }
}

static void fz_event(sl_binlog_decoder_t *d, sl_buf_t *out, sl_binlog_envctx_t *ctx,
                     const uint8_t *p, size_t n, bool cache)
{
    sl_binlog_event_t ev;
    char err[SL_ERRSTR_SIZE];
    if (sl_binlog_decode(d, p, n, &ev, err, sizeof(err)) != SL_OK) return;
    if (ev.type == SL_BINLOG_TRANSACTION_PAYLOAD_EVENT) {
        sl_binlog_event_t inner;
        while (sl_binlog_payload_next(d, &inner, err, sizeof(err)) == 1)
            if (fz_is_rows(inner.type) && !inner.ignored && inner.rows.table)
                fz_rows(out, ctx, &inner, cache);
        return;
    }
    if (fz_is_rows(ev.type) && !ev.ignored && ev.rows.table) fz_rows(out, ctx, &ev, cache);
}

/* A heap copy of exactly the event's size (fixed up unless raw; see the top). */
static uint8_t *fz_copy_event(const uint8_t *p, size_t n, uint8_t flags, size_t *outn)
{
    uint8_t csum = flags & F_CSUM;
    bool fix = !(flags & F_RAW) && n >= SL_BINLOG_HEADER_LEN;
    size_t len = n + (fix && csum == 2 ? 4 : 0);
    uint8_t *e = sl_malloc(len ? len : 1);
    if (n) memcpy(e, p, n);
    if (fix) {
        uint32_t size = (uint32_t)(n + (csum >= 2 ? 4 : 0));
        for (int i = 0; i < 4; i++) e[9 + i] = (uint8_t)(size >> (8 * i));
        if (csum == 2) {
            uint32_t crc = sl_binlog_crc32(0, e, n);
            for (int i = 0; i < 4; i++) e[n + i] = (uint8_t)(crc >> (8 * i));
        }
    }
    *outn = len;
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    sl_buf_t out = SL_BUF_INIT;
    char err[SL_ERRSTR_SIZE];
    unsigned mode = flags >> 6;

    if (mode == 3) {
        uint8_t *j = sl_malloc(size ? size : 1);
        if (size) memcpy(j, data, size);
        if (sl_binlog_jsonb_to_json(&out, j, size, err, sizeof(err)) == SL_OK &&
            (!out.len || out.len > 64 * size + 64)) {
            /* SL_OK appends a value, and text is at most a few times the bytes it comes
             * from (escapes 6x, base64 of an empty opaque a little more) */
            fprintf(stderr, "%zu bytes of binary JSON gave %zu bytes of text\n", size,
                    out.len);
            abort();
        }
        free(j);
        sl_buf_free(&out);
        return 0;
    }

    sl_binlog_decoder_t *d = sl_binlog_decoder_new();
    static const uint8_t algs[] = {SL_BINLOG_CSUM_UNKNOWN, SL_BINLOG_CSUM_OFF,
                                   SL_BINLOG_CSUM_CRC32, SL_BINLOG_CSUM_CRC32};
    if ((flags & F_CSUM) || mode == 2)
        sl_binlog_decoder_set_checksum(d, mode == 2 ? SL_BINLOG_CSUM_UNKNOWN
                                                    : algs[flags & F_CSUM],
                                       mode != 2 && (flags & F_CSUM) == 3);
    if (flags & F_MARIADB) sl_binlog_decoder_set_mariadb(d, true);
    if (flags & F_SCHEMA) sl_binlog_decoder_set_table_hook(d, fz_table_hook, d);
    sl_binlog_envctx_t ctx = {
        .pipeline = "fuzz", .file = "binlog.000001", .gtid = "3E11FA47-71CA-11E1-9E33-"
        "C80AA9429562:23", .thread = 7, .query = "INSERT", .query_len = 6, .tx_id = "tx",
        .tx_seq = 1, .now_unix_us = 1700000000000000ull,
        .shard_key = (flags & F_SCHEMA) ? "c0" : "@1",
    };
    bool cache = flags & F_CACHE;

    if (mode == 2) {
        uint8_t *file = sl_malloc(size ? size : 1);
        if (size) memcpy(file, data, size);
        sl_binlog_file_t f;
        if (sl_binlog_file_init(&f, file, size, err, sizeof(err)) == SL_OK) {
            const uint8_t *ev;
            size_t ev_len, ev_off;
            while (sl_binlog_file_next(&f, &ev, &ev_len, &ev_off, err, sizeof(err)) == 1) {
                if (ev_off + ev_len > size || ev < file || ev + ev_len > file + size) abort();
                uint8_t *e = sl_malloc(ev_len ? ev_len : 1);
                memcpy(e, ev, ev_len);
                fz_event(d, &out, &ctx, e, ev_len, cache);
                free(e);
            }
        }
        free(file);
    } else {
        size_t off = 0;
        while (off < size) {
            size_t n = data[off];
            if (off + 1 < size) n |= (size_t)data[off + 1] << 8;
            off += 2;
            if (off > size) break;
            if (n > size - off) n = size - off;
            size_t len;
            uint8_t *e = fz_copy_event(data + off, n, flags, &len);
            off += n;
            fz_event(d, &out, &ctx, e, len, cache);
            free(e);
        }
    }
    sl_binlog_envctx_free(&ctx);
    sl_binlog_decoder_free(d);
    sl_buf_free(&out);
    return 0;
}
