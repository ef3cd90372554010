/*
 * binlog_event.c - the Debezium envelope for MySQL/MariaDB row changes: key and value JSON
 * of one row of a rows event, written field for field in the order Debezium's MySQL
 * connector writes them (schemas disabled).
 *
 * Hot path: one call per row change, straight into the batch arena. Nothing here
 * allocates except arena growth: column keys are pre-rendered JSON in the table, values
 * are converted from the event bytes directly.
 *
 * Thread: the MySQL source thread. Mutates the envctx counters and the table's
 * per-transaction counter, so a decoder's tables belong to one encoding thread.
 */
#include "sl_common.h"


#include "sl_json.h"
#include "binlog_decode.h"

static inline void sl_binlog_json_cstr_or_null(sl_buf_t *out, const char *s)
{
    if (s) sl_json_cstr(out, s);
    else sl_buf_put(out, "null", 4);
}

/* µs as ms (floored), and as ns (the µs digits and "000": exact, cannot overflow). */
static inline void sl_binlog_json_ms(sl_buf_t *out, int64_t us)
{
    sl_json_i64(out, us >= 0 ? us / 1000 : -((-(us + 1)) / 1000) - 1);
}

static inline void sl_binlog_json_ns(sl_buf_t *out, int64_t us)
{
    sl_json_i64(out, us);
    if (us) sl_buf_put(out, "000", 3);
}

/* One timestamp written as ts_ms, ts_us and ts_ns from one conversion: from 1000 µs on,
 * the ms are the µs digits but the last three and the ns the µs digits and "000". Smaller
 * and negative values take the arithmetic path above. */
typedef struct sl_binlog_ts {
    int64_t us;
    size_t  n;          /* digits in d; 0: use the arithmetic path */
    char    d[24];
} sl_binlog_ts_t;

static inline void sl_binlog_ts_init(sl_binlog_ts_t *t, int64_t us)
{
    t->us = us;
    t->n = us >= 1000 ? sl_u64_text(t->d, (uint64_t)us) : 0;
}

static inline void sl_binlog_ts_ms(sl_buf_t *out, const sl_binlog_ts_t *t)
{
    if (t->n) sl_buf_put(out, t->d, t->n - 3);
    else sl_binlog_json_ms(out, t->us);
}

static inline void sl_binlog_ts_us(sl_buf_t *out, const sl_binlog_ts_t *t)
{
    if (t->n) sl_buf_put(out, t->d, t->n);
    else sl_json_i64(out, t->us);
}

static inline void sl_binlog_ts_ns(sl_buf_t *out, const sl_binlog_ts_t *t)
{
    if (t->n) {
        sl_buf_put(out, t->d, t->n);
        sl_buf_put(out, "000", 3);
    } else {
        sl_binlog_json_ns(out, t->us);
    }
}

static int sl_binlog_enc_err(char *errstr, size_t errstr_size, const sl_binlog_event_t *ev,
                             const sl_binlog_table_t *t, const sl_binlog_column_t *col,
                             uint32_t row, const char *which, const sl_binlog_cell_t *cell,
                             const char *why)
{
    char nb[40];
    size_t off = ev->raw && cell->p >= ev->raw && cell->p < ev->raw + ev->raw_len
                     ? (size_t)(cell->p - ev->raw) : 0;
    return sl_err(errstr, errstr_size, "binlog %s at log_pos %u: %s.%s row %u column %s (%s "
                  "image) at byte %zu: %s", sl_binlog_event_name(ev->type, nb, sizeof(nb)),
                  ev->log_pos, t->db, t->name, row + 1, col->name, which, off, why);
}

/* ======================================================================================
 * Rows and keys
 * ==================================================================================== */

/* Every column of the table in column order; columns the image does not carry are null.
 * Records where the shard column's value lands. */
static int sl_binlog_row_json(sl_buf_t *out, const sl_binlog_event_t *ev,
                              const sl_binlog_table_t *t, const sl_binlog_cell_t *cells,
                              int shard_col, size_t *shard_off, size_t *shard_end,
                              uint32_t row, const char *which, char *errstr,
                              size_t errstr_size)
{
    if (!cells) {
        sl_buf_put(out, "null", 4);
        return SL_OK;
    }
    char why[SL_ERRSTR_SIZE];
    sl_buf_putc(out, '{');
    for (uint32_t c = 0; c < t->ncols; c++) {
        const sl_binlog_column_t *col = &t->cols[c];
        if (c) sl_buf_putc(out, ',');
        sl_buf_put(out, col->key_json, col->key_json_len);
        size_t start = out->len;
        if (sl_binlog_cell_json(out, col, &cells[c], why, sizeof(why)) != SL_OK)
            return sl_binlog_enc_err(errstr, errstr_size, ev, t, col, row, which, &cells[c],
                                     why);
        if ((int)c == shard_col) {
            *shard_off = start;
            *shard_end = out->len;
        }
    }
    sl_buf_putc(out, '}');
    return SL_OK;
}

static inline bool sl_binlog_cell_known(const sl_binlog_cell_t *cells, uint32_t c)
{
    return cells && cells[c].state != SL_BINLOG_CELL_ABSENT &&
           cells[c].state != SL_BINLOG_CELL_JSON_DIFF;
}

/* Key object of the primary key columns (key order), values from cells, else from alt.
 * Returns 0 with *have set when written, 0 with *have false and nothing appended when
 * there is no key or a key value is not in either image (a made-up null would send the
 * row to the wrong partition), SL_ERR on a corrupt value. */
static int sl_binlog_key_json(sl_buf_t *out, const sl_binlog_event_t *ev,
                              const sl_binlog_table_t *t, const sl_binlog_cell_t *cells,
                              const sl_binlog_cell_t *alt, uint32_t row, bool *have,
                              char *errstr, size_t errstr_size)
{
    size_t mark = out->len;
    char why[SL_ERRSTR_SIZE];
    *have = false;
    if (!t->npk) return SL_OK;
    for (uint32_t k = 0; k < t->npk; k++) {
        uint32_t c = t->pk[k];
        const sl_binlog_cell_t *src = sl_binlog_cell_known(cells, c) ? cells
                                    : sl_binlog_cell_known(alt, c) ? alt : NULL;
        if (!src) {
            out->len = mark;
            return SL_OK;
        }
        const sl_binlog_column_t *col = &t->cols[c];
        sl_buf_putc(out, k ? ',' : '{');
        sl_buf_put(out, col->key_json, col->key_json_len);
        if (sl_binlog_cell_json(out, col, &src[c], why, sizeof(why)) != SL_OK) {
            out->len = mark;
            return sl_binlog_enc_err(errstr, errstr_size, ev, t, col, row, "key", &src[c], why);
        }
    }
    sl_buf_putc(out, '}');
    *have = true;
    return SL_OK;
}

/* ======================================================================================
 * Envelope
 * ==================================================================================== */

/* Next transaction.data_collection_order: 1-based, per table per transaction. */
static uint64_t sl_binlog_next_collection_order(sl_binlog_table_t *t, uint64_t tx_seq)
{
    if (t->tx_order_seq != tx_seq) {
        t->tx_order_seq = tx_seq;
        t->tx_order = 0;
    }
    return ++t->tx_order;
}

/* The envelope after "before"/"after" is three segments that stay the same for every row
 * of a rows event, with the per-row values between them:
 *   source      ,"source":{..."pos":P,"row":            then the row number
 *   op          ,"thread":..,"query":..},"op":"c","ts_ms":   then ts_ms/ts_us/ts_ns of now
 *   tx          ,"transaction":{"id":..,"total_order":   then the counters
 *               (or ,"transaction":null} and nothing after it) */
static void sl_binlog_seg_source(sl_buf_t *out, const sl_binlog_envctx_t *ctx,
                                 const sl_binlog_event_t *ev, const sl_binlog_table_t *t)
{
    uint64_t ts = ctx->commit_ts_us ? ctx->commit_ts_us : (uint64_t)ev->timestamp * 1000000;
    int64_t commit_us = ts > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)ts;
    uint64_t pos = ctx->pos ? ctx->pos
                 : ev->log_pos >= ev->event_size ? ev->log_pos - ev->event_size : 0;
    sl_binlog_ts_t cts;
    sl_binlog_ts_init(&cts, commit_us);

    sl_buf_puts(out, ",\"source\":{\"version\":\"" SL_VERSION "\",\"connector\":\"mysql\","
                     "\"name\":");
    sl_binlog_json_cstr_or_null(out, ctx->pipeline);
    sl_buf_puts(out, ",\"ts_ms\":");
    sl_binlog_ts_ms(out, &cts);
    sl_buf_puts(out, ",\"snapshot\":\"false\",\"db\":");
    sl_binlog_json_cstr_or_null(out, t->db);
    sl_buf_puts(out, ",\"sequence\":null,\"ts_us\":");
    sl_binlog_ts_us(out, &cts);
    sl_buf_puts(out, ",\"ts_ns\":");
    sl_binlog_ts_ns(out, &cts);
    sl_buf_puts(out, ",\"table\":");
    sl_binlog_json_cstr_or_null(out, t->name);
    sl_buf_puts(out, ",\"server_id\":");
    sl_json_u64(out, ev->server_id);
    sl_buf_puts(out, ",\"gtid\":");
    sl_binlog_json_cstr_or_null(out, ctx->gtid);
    sl_buf_puts(out, ",\"file\":");
    sl_binlog_json_cstr_or_null(out, ctx->file);
    sl_buf_puts(out, ",\"pos\":");
    sl_json_u64(out, pos);
    sl_buf_puts(out, ",\"row\":");
}

static void sl_binlog_seg_op(sl_buf_t *out, const sl_binlog_envctx_t *ctx, char op)
{
    sl_buf_puts(out, ",\"thread\":");
    if (ctx->thread >= 0) sl_json_i64(out, ctx->thread);
    else sl_buf_put(out, "null", 4);
    sl_buf_puts(out, ",\"query\":");
    if (ctx->query) sl_json_str(out, ctx->query, ctx->query_len);
    else sl_buf_put(out, "null", 4);
    sl_buf_puts(out, "},\"op\":\"");
    sl_buf_putc(out, op);
    sl_buf_puts(out, "\",\"ts_ms\":");
}

static void sl_binlog_seg_tx(sl_buf_t *out, const sl_binlog_envctx_t *ctx)
{
    if (!ctx->tx_id) {
        sl_buf_puts(out, ",\"transaction\":null}");
        return;
    }
    sl_buf_puts(out, ",\"transaction\":{\"id\":");
    sl_json_cstr(out, ctx->tx_id);
    sl_buf_puts(out, ",\"total_order\":");
}

/* Index of the shard key column, -1 when there is none (or no such column). */
static int sl_binlog_shard_col(const sl_binlog_table_t *t, const char *shard_key)
{
    if (!shard_key) return -1;
    for (uint32_t c = 0; c < t->ncols; c++)
        if (strcmp(t->cols[c].name, shard_key) == 0) return (int)c;
    return -1;
}

/* With ctx->gen set, the segments (and the shard column) are worked out once per (gen,
 * table, event header values) into ctx->cache; each row copies them. */
static void sl_binlog_segs_cached(sl_binlog_envctx_t *ctx, const sl_binlog_event_t *ev,
                                  const sl_binlog_table_t *t, char op)
{
    sl_binlog_envcache_t *c = &ctx->cache;
    if (c->valid && c->gen == ctx->gen && c->table == t && c->server_id == ev->server_id &&
        c->op == op && c->log_pos == ev->log_pos && c->event_size == ev->event_size &&
        c->timestamp == ev->timestamp)
        return;
    sl_buf_reset(&c->buf);
    sl_binlog_seg_source(&c->buf, ctx, ev, t);
    c->source_end = c->buf.len;
    sl_binlog_seg_op(&c->buf, ctx, op);
    c->op_end = c->buf.len;
    sl_binlog_seg_tx(&c->buf, ctx);
    c->shard_col = sl_binlog_shard_col(t, ctx->shard_key);
    c->valid = true;
    c->gen = ctx->gen;
    c->table = t;
    c->server_id = ev->server_id;
    c->op = op;
    c->log_pos = ev->log_pos;
    c->event_size = ev->event_size;
    c->timestamp = ev->timestamp;
}

/* Everything after "before"/"after": source, op, ts_*, transaction. */
static void sl_binlog_envelope_tail(sl_buf_t *out, sl_binlog_envctx_t *ctx,
                                    const sl_binlog_event_t *ev, sl_binlog_table_t *t,
                                    uint32_t row, char op)
{
    int64_t now_us = ctx->now_unix_us > (uint64_t)INT64_MAX ? INT64_MAX
                                                            : (int64_t)ctx->now_unix_us;
    sl_binlog_ts_t nts;
    sl_binlog_ts_init(&nts, now_us);
    const sl_binlog_envcache_t *c = &ctx->cache;   /* refreshed by sl_binlog_encode_row */
    if (ctx->gen) {
        sl_buf_put(out, c->buf.data, c->source_end);
    } else {
        sl_binlog_seg_source(out, ctx, ev, t);
    }
    sl_json_u64(out, row);
    if (ctx->gen) sl_buf_put(out, c->buf.data + c->source_end, c->op_end - c->source_end);
    else sl_binlog_seg_op(out, ctx, op);
    sl_binlog_ts_ms(out, &nts);
    sl_buf_puts(out, ",\"ts_us\":");
    sl_binlog_ts_us(out, &nts);
    sl_buf_puts(out, ",\"ts_ns\":");
    sl_binlog_ts_ns(out, &nts);
    if (ctx->gen) sl_buf_put(out, c->buf.data + c->op_end, c->buf.len - c->op_end);
    else sl_binlog_seg_tx(out, ctx);
    if (!ctx->tx_id) return;
    sl_json_u64(out, ++ctx->total_order);
    sl_buf_puts(out, ",\"data_collection_order\":");
    sl_json_u64(out, sl_binlog_next_collection_order(t, ctx->tx_seq));
    sl_buf_put(out, "}}", 2);
}

void sl_binlog_envctx_free(sl_binlog_envctx_t *ctx)
{
    sl_buf_free(&ctx->cache.buf);
    ctx->cache.valid = false;
}

int sl_binlog_key_changed(sl_buf_t *scratch, const sl_binlog_event_t *ev, uint32_t row,
                          bool *changed, char *errstr, size_t errstr_size)
{
    *changed = false;
    const sl_binlog_table_t *t = ev->rows.table;
    if (ev->rows.op != 'u' || !t || !ev->rows.rows || row >= ev->rows.nrows) return SL_OK;
    const sl_binlog_row_t *r = &ev->rows.rows[row];
    if (!r->before || !r->after) return SL_OK;
    size_t mark = scratch->len;
    bool have_old = false, have_new = false;
    int rc = sl_binlog_key_json(scratch, ev, t, r->before, NULL, row, &have_old, errstr,
                                errstr_size);
    size_t mid = scratch->len;
    if (rc == SL_OK && have_old)
        rc = sl_binlog_key_json(scratch, ev, t, r->after, r->before, row, &have_new, errstr,
                                errstr_size);
    if (rc == SL_OK && have_old && have_new)
        *changed = scratch->len - mid != mid - mark ||
                   memcmp(scratch->data + mark, scratch->data + mid, mid - mark) != 0;
    scratch->len = mark;
    return rc;
}

int sl_binlog_encode_row(sl_buf_t *out, sl_binlog_envctx_t *ctx, const sl_binlog_event_t *ev,
                         uint32_t row, uint32_t *key_off, uint32_t *key_len,
                         uint32_t *val_off, uint32_t *val_len, const char **shard_json,
                         size_t *shard_len, char *errstr, size_t errstr_size)
{
    return sl_binlog_encode_row_as(out, ctx, ev, row, 0, key_off, key_len, val_off, val_len,
                                   shard_json, shard_len, errstr, errstr_size);
}

int sl_binlog_encode_row_as(sl_buf_t *out, sl_binlog_envctx_t *ctx,
                            const sl_binlog_event_t *ev, uint32_t row, char half,
                            uint32_t *key_off, uint32_t *key_len, uint32_t *val_off,
                            uint32_t *val_len, const char **shard_json, size_t *shard_len,
                            char *errstr, size_t errstr_size)
{
    size_t mark = out->len;
    *key_off = *val_off = (uint32_t)out->len;
    *key_len = *val_len = 0;
    *shard_json = NULL;
    *shard_len = 0;
    sl_binlog_table_t *t = ev->rows.table;
    if (!t || !ev->rows.rows || row >= ev->rows.nrows)
        return sl_err(errstr, errstr_size, "binlog: row %u is not in this event (%u rows)",
                      row + 1, ev->rows.table ? ev->rows.nrows : 0);
    const sl_binlog_row_t *r = &ev->rows.rows[row];
    /* The halves of an update that changed the key: the delete has the before image
     * only, the create the after image only. */
    char op = half ? half : ev->rows.op;
    const sl_binlog_cell_t *before = half == 'c' ? NULL : r->before;
    const sl_binlog_cell_t *after = half == 'd' ? NULL : r->after;

    int shard_col;
    if (ctx->gen) {
        sl_binlog_segs_cached(ctx, ev, t, op);
        shard_col = ctx->cache.shard_col;
    } else {
        shard_col = sl_binlog_shard_col(t, ctx->shard_key);
    }

    /* Key: the after image (insert, update), else the before image (delete). */
    size_t key_start = out->len;
    bool have_key = false;
    const sl_binlog_cell_t *ks = after ? after : r->before;
    const sl_binlog_cell_t *ka = after ? r->before : NULL;
    if (sl_binlog_key_json(out, ev, t, ks, ka, row, &have_key, errstr, errstr_size) != SL_OK)
        goto err;
    if (have_key) {
        *key_off = (uint32_t)key_start;
        *key_len = (uint32_t)(out->len - key_start);
    }

    size_t val_start = out->len, sb_off = 0, sb_end = 0, sa_off = 0, sa_end = 0;
    sl_buf_puts(out, "{\"before\":");
    if (sl_binlog_row_json(out, ev, t, before, shard_col, &sb_off, &sb_end, row, "before",
                           errstr, errstr_size) != SL_OK)
        goto err;
    sl_buf_puts(out, ",\"after\":");
    if (sl_binlog_row_json(out, ev, t, after, shard_col, &sa_off, &sa_end, row, "after",
                           errstr, errstr_size) != SL_OK)
        goto err;
    sl_binlog_envelope_tail(out, ctx, ev, t, row, op);
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
    return SL_OK;
err:
    out->len = mark;
    *key_off = *val_off = (uint32_t)mark;
    *key_len = *val_len = 0;
    return SL_ERR;
}
