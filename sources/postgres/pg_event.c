/*
 * pg_event.c - the Debezium envelope for PostgreSQL changes: key and value JSON of one
 * Insert/Update/Delete/Truncate, written field for field in the order Debezium's
 * PostgreSQL connector writes them (schemas disabled), plus LSN text helpers.
 *
 * Hot path: one call per row change, straight into the batch arena. Nothing here
 * allocates except arena growth, and nothing is looked up that the relation does not
 * already carry (types are resolved when the Relation message is decoded).
 *
 * Thread: the PostgreSQL source thread. Mutates the envctx counters and the relation's
 * per-transaction counter, so a relation belongs to one encoding thread.
 */
#include "sl_common.h"
#include "sl_json.h"
#include "pg_decode.h"

/* 2000-01-01 (PostgreSQL's epoch) minus 1970-01-01, in µs. */
#define SL_PG_EPOCH_SHIFT_US INT64_C(946684800000000)

static inline void sl_pg_json_cstr_or_null(sl_buf_t *out, const char *s)
{
    if (s) sl_json_cstr(out, s);
    else sl_buf_put(out, "null", 4);
}

/* µs as ms, floored (also right for the pre-1970 values a corrupt stream could carry). */
static inline void sl_pg_json_ms(sl_buf_t *out, int64_t us)
{
    sl_json_i64(out, us >= 0 ? us / 1000 : -((-(us + 1)) / 1000) - 1);
}

/* µs as ns: the µs digits followed by "000" is exact and cannot overflow. */
static inline void sl_pg_json_ns(sl_buf_t *out, int64_t us)
{
    sl_json_i64(out, us);
    if (us) sl_buf_put(out, "000", 3);
}

/* ======================================================================================
 * Rows and keys
 * ==================================================================================== */

static void sl_pg_datum_json(sl_buf_t *out, const sl_pg_envctx_t *ctx,
                             const sl_pg_column_t *col, const sl_pg_datum_t *v)
{
    switch (v->kind) {
    case 't':
        sl_pg_value_json(out, &col->type, v->data ? v->data : "", v->len);
        return;
    case 'u':
        /* Unchanged TOAST: the server did not send the value; say so the Debezium way. */
        sl_pg_json_cstr_or_null(out, ctx->unavailable_value);
        return;
    case 'b':
        /* Binary transfer (the "binary" option): the bytes are opaque to us. */
        sl_json_base64(out, (const uint8_t *)(v->data ? v->data : ""), v->len);
        return;
    default:
        sl_buf_put(out, "null", 4);
        return;
    }
}

/* Every column of the relation in column order; columns the tuple does not carry
 * (a key-only old tuple from a sender that omits them) are null. Records where the
 * shard column's value lands. */
static void sl_pg_row_json(sl_buf_t *out, const sl_pg_envctx_t *ctx, const sl_pg_relation_t *rel,
                           const sl_pg_tuple_t *tup, int shard_col, size_t *shard_off,
                           size_t *shard_end)
{
    if (!tup) {
        sl_buf_put(out, "null", 4);
        return;
    }
    sl_buf_putc(out, '{');
    for (uint16_t i = 0; i < rel->ncols; i++) {
        const sl_pg_column_t *col = &rel->cols[i];
        if (i) sl_buf_putc(out, ',');
        sl_json_cstr(out, col->name);
        sl_buf_putc(out, ':');
        size_t start = out->len;
        if (i < tup->ncols) sl_pg_datum_json(out, ctx, col, &tup->cols[i]);
        else sl_buf_put(out, "null", 4);
        if (i == shard_col) {
            *shard_off = start;
            *shard_end = out->len;
        }
    }
    sl_buf_putc(out, '}');
}

static inline const sl_pg_datum_t *sl_pg_col_value(const sl_pg_tuple_t *tup, uint16_t i)
{
    if (!tup || i >= tup->ncols) return NULL;
    const sl_pg_datum_t *v = &tup->cols[i];
    return v->kind == 't' || v->kind == 'b' ? v : NULL;
}

/* Key object of the is_pk columns, values from tup (alt fills an unchanged-TOAST gap).
 * Returns false, with nothing appended, when there is no key or a key value is not
 * known - a key with a made-up null would route the row to the wrong partition. */
static bool sl_pg_key_json(sl_buf_t *out, const sl_pg_envctx_t *ctx, const sl_pg_relation_t *rel,
                           const sl_pg_tuple_t *tup, const sl_pg_tuple_t *alt)
{
    size_t mark = out->len;
    bool any = false;
    for (uint16_t i = 0; i < rel->ncols; i++) {
        const sl_pg_column_t *col = &rel->cols[i];
        if (!col->is_pk) continue;
        const sl_pg_datum_t *v = sl_pg_col_value(tup, i);
        if (!v) v = sl_pg_col_value(alt, i);
        if (!v) {
            out->len = mark;
            return false;
        }
        sl_buf_putc(out, any ? ',' : '{');
        any = true;
        sl_json_cstr(out, col->name);
        sl_buf_putc(out, ':');
        sl_pg_datum_json(out, ctx, col, v);
    }
    if (!any) return false;
    sl_buf_putc(out, '}');
    return true;
}

bool sl_pg_key_changed(sl_buf_t *scratch, const sl_pg_envctx_t *ctx, const sl_pg_msg_t *m)
{
    if (m->kind != SL_PGM_UPDATE || !m->old_kind || !m->rel) return false;
    size_t mark = scratch->len;
    bool changed = false;
    if (sl_pg_key_json(scratch, ctx, m->rel, &m->old_tuple, NULL)) {
        size_t mid = scratch->len;
        if (sl_pg_key_json(scratch, ctx, m->rel, &m->new_tuple, &m->old_tuple))
            changed = scratch->len - mid != mid - mark ||
                      memcmp(scratch->data + mark, scratch->data + mid, mid - mark) != 0;
    }
    scratch->len = mark;
    return changed;
}

/* ======================================================================================
 * Envelope
 * ==================================================================================== */

/* Next transaction.data_collection_order for rel: 1-based, per relation per transaction. */
static uint64_t sl_pg_next_collection_order(sl_pg_relation_t *rel, uint32_t xid)
{
    if (rel->tx_order_xid != xid) {
        rel->tx_order_xid = xid;
        rel->tx_order = 0;
    }
    return ++rel->tx_order;
}

/* Everything after "before"/"after": source, op, ts_*, transaction. */
static void sl_pg_envelope_tail(sl_buf_t *out, sl_pg_envctx_t *ctx, sl_pg_relation_t *rel,
                                uint64_t lsn, char op)
{
    int64_t commit_us;
    if (__builtin_add_overflow(ctx->commit_ts_pg_us, SL_PG_EPOCH_SHIFT_US, &commit_us))
        commit_us = INT64_MAX;   /* only a corrupt Begin gets here */
    int64_t now_us = ctx->now_unix_us > (uint64_t)INT64_MAX ? INT64_MAX
                                                            : (int64_t)ctx->now_unix_us;

    sl_buf_puts(out, ",\"source\":{\"version\":\"" SL_VERSION "\",\"connector\":\"postgresql\","
                     "\"name\":");
    sl_pg_json_cstr_or_null(out, ctx->pipeline);
    sl_buf_puts(out, ",\"ts_ms\":");
    sl_pg_json_ms(out, commit_us);
    sl_buf_puts(out, ",\"snapshot\":\"");
    sl_buf_puts(out, ctx->snapshot ? ctx->snapshot : "false");
    sl_buf_puts(out, "\",\"db\":");
    sl_pg_json_cstr_or_null(out, ctx->db);
    /* Debezium writes sequence as a string holding a JSON array of two decimal strings:
     * the previous transaction's commit LSN (null before the first) and this LSN. */
    sl_buf_puts(out, ",\"sequence\":\"[");
    if (ctx->last_commit_lsn) {
        sl_buf_put(out, "\\\"", 2);
        sl_json_u64(out, ctx->last_commit_lsn);
        sl_buf_put(out, "\\\"", 2);
    } else {
        sl_buf_put(out, "null", 4);
    }
    sl_buf_put(out, ",\\\"", 3);
    sl_json_u64(out, lsn);
    sl_buf_puts(out, "\\\"]\",\"ts_us\":");
    sl_json_i64(out, commit_us);
    sl_buf_puts(out, ",\"ts_ns\":");
    sl_pg_json_ns(out, commit_us);
    sl_buf_puts(out, ",\"schema\":");
    sl_pg_json_cstr_or_null(out, rel->nspname);
    sl_buf_puts(out, ",\"table\":");
    sl_pg_json_cstr_or_null(out, rel->relname);
    sl_buf_puts(out, ",\"txId\":");
    sl_json_u64(out, ctx->xid);
    sl_buf_puts(out, ",\"lsn\":");
    sl_json_u64(out, lsn);
    sl_buf_puts(out, ",\"xmin\":null},\"op\":\"");
    sl_buf_putc(out, op);
    sl_buf_puts(out, "\",\"ts_ms\":");
    sl_pg_json_ms(out, now_us);
    sl_buf_puts(out, ",\"ts_us\":");
    sl_json_i64(out, now_us);
    sl_buf_puts(out, ",\"ts_ns\":");
    sl_pg_json_ns(out, now_us);
    if (ctx->snapshot) {
        /* Debezium writes no transaction block for snapshot reads. */
        sl_buf_puts(out, ",\"transaction\":null}");
        return;
    }
    sl_buf_puts(out, ",\"transaction\":{\"id\":\"");
    sl_json_u64(out, ctx->xid);
    sl_buf_putc(out, ':');
    sl_json_u64(out, ctx->commit_lsn);
    sl_buf_puts(out, "\",\"total_order\":");
    sl_json_u64(out, ++ctx->total_order);
    sl_buf_puts(out, ",\"data_collection_order\":");
    sl_json_u64(out, sl_pg_next_collection_order(rel, ctx->xid));
    sl_buf_put(out, "}}", 2);
}

void sl_pg_encode_change(sl_buf_t *out, sl_pg_envctx_t *ctx, const sl_pg_msg_t *m,
                         uint64_t lsn, uint32_t *key_off, uint32_t *key_len,
                         uint32_t *val_off, uint32_t *val_len,
                         const char **shard_json, size_t *shard_len)
{
    sl_pg_relation_t *rel = m->rel;
    const sl_pg_tuple_t *before = NULL, *after = NULL, *key_src = NULL, *key_alt = NULL;
    char op;

    *key_off = *val_off = (uint32_t)out->len;
    *key_len = *val_len = 0;
    *shard_json = NULL;
    *shard_len = 0;
    switch (rel ? m->kind : 0) {
    case SL_PGM_INSERT:
        op = ctx->snapshot ? 'r' : 'c';
        after = &m->new_tuple;
        key_src = after;
        break;
    case SL_PGM_UPDATE:
        op = 'u';
        after = &m->new_tuple;
        /* No old tuple unless the key changed or identity is FULL: before is null then,
         * as Debezium has it. */
        before = m->old_kind ? &m->old_tuple : NULL;
        key_src = after;
        key_alt = before;
        break;
    case SL_PGM_DELETE:
        op = 'd';
        before = m->old_kind && rel->replident != 'n' ? &m->old_tuple : NULL;
        key_src = before;
        break;
    default:
        return;   /* not a row change: nothing to encode */
    }

    int shard_col = -1;
    if (ctx->shard_key) {
        for (uint16_t i = 0; i < rel->ncols; i++) {
            if (strcmp(rel->cols[i].name, ctx->shard_key) == 0) {
                shard_col = i;
                break;
            }
        }
    }

    size_t key_start = out->len;
    if (key_src && sl_pg_key_json(out, ctx, rel, key_src, key_alt)) {
        *key_off = (uint32_t)key_start;
        *key_len = (uint32_t)(out->len - key_start);
    }

    size_t val_start = out->len, sb_off = 0, sb_end = 0, sa_off = 0, sa_end = 0;
    sl_buf_puts(out, "{\"before\":");
    sl_pg_row_json(out, ctx, rel, before, shard_col, &sb_off, &sb_end);
    sl_buf_puts(out, ",\"after\":");
    sl_pg_row_json(out, ctx, rel, after, shard_col, &sa_off, &sa_end);
    sl_pg_envelope_tail(out, ctx, rel, lsn, op);
    *val_off = (uint32_t)val_start;
    *val_len = (uint32_t)(out->len - val_start);

    /* Offsets, not pointers, until the arena has stopped moving. */
    if (sa_end) {
        *shard_json = out->data + sa_off;
        *shard_len = sa_end - sa_off;
    } else if (sb_end) {
        *shard_json = out->data + sb_off;
        *shard_len = sb_end - sb_off;
    }
}

void sl_pg_encode_truncate(sl_buf_t *out, sl_pg_envctx_t *ctx, const sl_pg_relation_t *rel,
                           uint64_t lsn, uint32_t *val_off, uint32_t *val_len)
{
    size_t start = out->len;
    sl_buf_puts(out, "{\"before\":null,\"after\":null");
    /* The relation lives in the decoder's cache (never a const object); the interface
     * takes it const because truncation changes nothing about it but the per-transaction
     * event counter, which the envelope must advance. */
    sl_pg_envelope_tail(out, ctx, (sl_pg_relation_t *)rel, lsn, 't');
    *val_off = (uint32_t)start;
    *val_len = (uint32_t)(out->len - start);
}

/* ======================================================================================
 * LSN text
 * ==================================================================================== */

void sl_pg_lsn_format(uint64_t lsn, char out[24])
{
    snprintf(out, 24, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xFFFFFFFFu));
}

/* "HI/LO", each 1-8 hex digits, as pg_lsn_in accepts; nothing before or after. */
int sl_pg_lsn_parse(const char *s, uint64_t *lsn)
{
    uint64_t part[2] = {0, 0};
    if (!s) return SL_ERR;
    for (int k = 0; k < 2; k++) {
        int digits = 0;
        for (;; s++) {
            int v;
            if (*s >= '0' && *s <= '9') v = *s - '0';
            else if (*s >= 'a' && *s <= 'f') v = *s - 'a' + 10;
            else if (*s >= 'A' && *s <= 'F') v = *s - 'A' + 10;
            else break;
            if (++digits > 8) return SL_ERR;
            part[k] = part[k] << 4 | (uint64_t)v;
        }
        if (!digits || *s != (k == 0 ? '/' : '\0')) return SL_ERR;
        s++;
    }
    *lsn = part[0] << 32 | part[1];
    return SL_OK;
}
