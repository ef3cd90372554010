/*
 * my_snapshot.c - initial snapshots for the MySQL / MariaDB source.
 *
 * Consistency: one connection runs START TRANSACTION WITH CONSISTENT SNAPSHOT and takes
 * the binlog position of that same view: on MariaDB from the binlog_snapshot_file /
 * binlog_snapshot_position status variables (no lock at all); on MySQL under a brief
 * FLUSH TABLES WITH READ LOCK held only around starting the transaction and reading
 * SHOW MASTER STATUS (needs RELOAD). Streaming then starts at that position, so the
 * stream holds exactly the changes after the snapshot. Tables are read one after another
 * inside that transaction.
 *
 * Chunks: keyset pagination on the primary key (k > last, written as
 * k1 > v1 OR (k1 = v1 AND k2 > v2) ... so every server uses the index), ORDER BY the key,
 * LIMIT chunk_size; keyless tables are read in one pass (mysql_use_result streams rows).
 * Each chunk is a batcher transaction whose checkpoint carries the progress; a restart
 * resumes after the last acknowledged chunk and still streams from the first snapshot's
 * position (see pg_snapshot.c for why that stays consistent).
 *
 * Values arrive as text; they are mapped to the same JSON as binlog values (README:
 * "MySQL type mapping"); the envelope has the same fields in the same order as streamed
 * rows, with op "r", source.snapshot first/true/last and transaction null.
 *
 * Thread: the pipeline's source thread.
 */
#include "my_source.h"
#include "sl_log.h"
#include "sl_json.h"
#include "sl_snapshot.h"

#include <strings.h>

typedef enum {
    SL_MYK_INT, SL_MYK_NUM, SL_MYK_DECIMAL, SL_MYK_STRING, SL_MYK_BYTES, SL_MYK_BIT1,
    SL_MYK_BITN, SL_MYK_DATE, SL_MYK_DATETIME, SL_MYK_TIMESTAMP, SL_MYK_JSON, SL_MYK_GEOM,
} sl_myk_t;

typedef struct sl_mysnap_col {
    char     *name;
    sl_myk_t  kind;
} sl_mysnap_col_t;

typedef struct sl_mysnap_table {
    char            *db, *name, *qname;
    sl_mysnap_col_t *cols;
    size_t           ncols;
    int             *pk;          /* column indexes in key order */
    size_t           npk;
    char           **last;        /* escaped literal of the last key values */
    bool             have_last;
    const char      *where;
    bool             done;
    uint64_t         rows;
} sl_mysnap_table_t;

typedef struct sl_mysnap {
    sl_my_source_t   *s;
    MYSQL            *c;
    sl_mysnap_table_t *t;
    size_t            nt;
    char             *file;        /* stream start */
    uint64_t          pos;
    uint64_t          rows;
    bool              first_done;
    uint64_t          ts_us;
} sl_mysnap_t;

static sl_myk_t sl_myk_of(const char *data_type, const char *column_type, bool json_check)
{
    static const char *const ints[] = {"tinyint", "smallint", "mediumint", "int", "bigint",
                                       "year", NULL};
    static const char *const bytes[] = {"binary", "varbinary", "tinyblob", "blob",
                                        "mediumblob", "longblob", NULL};
    static const char *const geoms[] = {"geometry", "point", "linestring", "polygon",
                                        "multipoint", "multilinestring", "multipolygon",
                                        "geometrycollection", "geomcollection", NULL};
    for (int i = 0; ints[i]; i++) if (!strcasecmp(data_type, ints[i])) return SL_MYK_INT;
    for (int i = 0; bytes[i]; i++) if (!strcasecmp(data_type, bytes[i])) return SL_MYK_BYTES;
    for (int i = 0; geoms[i]; i++) if (!strcasecmp(data_type, geoms[i])) return SL_MYK_GEOM;
    if (!strcasecmp(data_type, "float") || !strcasecmp(data_type, "double")) return SL_MYK_NUM;
    if (!strcasecmp(data_type, "decimal")) return SL_MYK_DECIMAL;
    if (!strcasecmp(data_type, "bit"))
        return !strcasecmp(column_type, "bit(1)") ? SL_MYK_BIT1 : SL_MYK_BITN;
    if (!strcasecmp(data_type, "date")) return SL_MYK_DATE;
    if (!strcasecmp(data_type, "datetime")) return SL_MYK_DATETIME;
    if (!strcasecmp(data_type, "timestamp")) return SL_MYK_TIMESTAMP;
    if (!strcasecmp(data_type, "json") || json_check) return SL_MYK_JSON;
    return SL_MYK_STRING;   /* char, varchar, text*, enum, set, time */
}

/* Append the event JSON of one text value (README "MySQL type mapping"). */
static void sl_mysnap_value(sl_buf_t *o, sl_myk_t k, const char *v, unsigned long n)
{
    if (!v) {
        sl_buf_put(o, "null", 4);
        return;
    }
    switch (k) {
    case SL_MYK_INT:
    case SL_MYK_NUM:
        if (sl_json_is_number(v, n)) sl_buf_put(o, v, n);
        else sl_json_str(o, v, n);
        return;
    case SL_MYK_BIT1:
        sl_buf_puts(o, n && v[n - 1] ? "true" : "false");
        return;
    case SL_MYK_BITN:
    case SL_MYK_BYTES:
        sl_json_base64(o, (const uint8_t *)v, n);
        return;
    case SL_MYK_GEOM:   /* 4-byte SRID, then WKB */
        sl_json_base64(o, (const uint8_t *)v + (n >= 4 ? 4 : n), n >= 4 ? n - 4 : 0);
        return;
    case SL_MYK_DATE:
    case SL_MYK_DATETIME:
    case SL_MYK_TIMESTAMP: {
        if (n >= 10 && (!strncmp(v, "0000", 4) || !strncmp(v + 5, "00", 2) ||
                        !strncmp(v + 8, "00", 2))) {
            sl_buf_put(o, "null", 4);   /* zero or incomplete dates */
            return;
        }
        char tmp[64];
        size_t m = n < sizeof(tmp) - 2 ? n : sizeof(tmp) - 2;
        memcpy(tmp, v, m);
        if (m > 10 && tmp[10] == ' ') tmp[10] = 'T';
        if (k == SL_MYK_TIMESTAMP) tmp[m++] = 'Z';
        sl_json_str(o, tmp, m);
        return;
    }
    case SL_MYK_JSON: {
        json_error_t e;
        json_t *ok = json_loadb(v, n, JSON_DECODE_ANY, &e);
        if (ok) {
            json_decref(ok);
            sl_buf_put(o, v, n);
        } else {
            sl_json_str(o, v, n);
        }
        return;
    }
    case SL_MYK_DECIMAL:
    case SL_MYK_STRING:
    default:
        sl_json_str(o, v, n);
        return;
    }
}

/* ---- catalog --------------------------------------------------------------------- */

static int sl_mysnap_q(sl_mysnap_t *sn, const char *q)
{
    if (mysql_query(sn->c, q) != 0) {
        sl_err(sn->s->err, sizeof(sn->s->err), "snapshot: %s: %s", q, mysql_error(sn->c));
        return SL_ERR;
    }
    return SL_OK;
}

static int sl_mysnap_tables(sl_mysnap_t *sn)
{
    sl_my_source_t *s = sn->s;
    if (sl_mysnap_q(sn, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                        "WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1, 2") != SL_OK)
        return SL_ERR;
    MYSQL_RES *res = mysql_store_result(sn->c);
    size_t cap = res ? (size_t)mysql_num_rows(res) : 0;
    sn->t = sl_calloc(cap + 1, sizeof(*sn->t));
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res))) {
        if (!sl_my_table_wanted(s, row[0], row[1])) continue;
        sl_mysnap_table_t *t = &sn->t[sn->nt++];
        t->db = sl_strdup(row[0]);
        t->name = sl_strdup(row[1]);
        sl_buf_t q = SL_BUF_INIT;
        sl_buf_printf(&q, "%s.%s", t->db, t->name);
        t->qname = sl_buf_steal(&q);
        for (size_t w = 0; w < s->conf->snapshot.where.n; w++)
            if (!strcmp(s->conf->snapshot.where.k[w], t->qname))
                t->where = s->conf->snapshot.where.v[w];
    }
    if (res) mysql_free_result(res);

    for (size_t i = 0; i < sn->nt; i++) {
        sl_mysnap_table_t *t = &sn->t[i];
        char edb[256], etb[256], q[1024];
        mysql_real_escape_string(sn->c, edb, t->db, (unsigned long)strnlen(t->db, 120));
        mysql_real_escape_string(sn->c, etb, t->name, (unsigned long)strnlen(t->name, 120));
        sl_buf_t checks = SL_BUF_INIT;
        snprintf(q, sizeof(q), "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                 "WHERE CONSTRAINT_SCHEMA = '%s' AND TABLE_NAME = '%s'", edb, etb);
        if (mysql_query(sn->c, q) == 0) {
            MYSQL_RES *cr = mysql_store_result(sn->c);
            while (cr && (row = mysql_fetch_row(cr)))
                if (row[0]) sl_buf_puts(&checks, row[0]);
            if (cr) mysql_free_result(cr);
        }
        snprintf(q, sizeof(q), "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM "
                 "information_schema.COLUMNS WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' "
                 "ORDER BY ORDINAL_POSITION", edb, etb);
        if (sl_mysnap_q(sn, q) != SL_OK) {
            sl_buf_free(&checks);
            return SL_ERR;
        }
        res = mysql_store_result(sn->c);
        t->ncols = res ? (size_t)mysql_num_rows(res) : 0;
        t->cols = sl_calloc(t->ncols + 1, sizeof(*t->cols));
        for (size_t c = 0; c < t->ncols && (row = mysql_fetch_row(res)); c++) {
            char pat[300];
            snprintf(pat, sizeof(pat), "json_valid(`%s`)", row[0]);
            t->cols[c].name = sl_strdup(row[0]);
            t->cols[c].kind = sl_myk_of(row[1], row[2],
                                        checks.len && strcasestr(checks.data, pat));
        }
        if (res) mysql_free_result(res);
        sl_buf_free(&checks);
        snprintf(q, sizeof(q), "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
                 "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' AND CONSTRAINT_NAME = "
                 "'PRIMARY' ORDER BY ORDINAL_POSITION", edb, etb);
        if (sl_mysnap_q(sn, q) != SL_OK) return SL_ERR;
        res = mysql_store_result(sn->c);
        t->pk = sl_calloc(t->ncols + 1, sizeof(int));
        t->last = sl_calloc(t->ncols + 1, sizeof(char *));
        while (res && (row = mysql_fetch_row(res)))
            for (size_t c = 0; c < t->ncols; c++)
                if (!strcmp(t->cols[c].name, row[0])) t->pk[t->npk++] = (int)c;
        if (res) mysql_free_result(res);
    }
    return SL_OK;
}

/* ---- position -------------------------------------------------------------------- */

static int sl_mysnap_begin(sl_mysnap_t *sn)
{
    sl_my_source_t *s = sn->s;
    if (sl_mysnap_q(sn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ") != SL_OK)
        return SL_ERR;
    bool locked = false;
    if (!s->mariadb) {
        if (sl_mysnap_q(sn, "FLUSH TABLES WITH READ LOCK") != SL_OK) {
            char e[SL_ERRSTR_SIZE];
            snprintf(e, sizeof(e), "%s", s->err);
            sl_err(s->err, sizeof(s->err), "%s (a consistent snapshot on MySQL needs the "
                   "RELOAD privilege for a brief FLUSH TABLES WITH READ LOCK)", e);
            return SL_ERR;
        }
        locked = true;
    }
    if (sl_mysnap_q(sn, "START TRANSACTION WITH CONSISTENT SNAPSHOT") != SL_OK) return SL_ERR;
    const char *q = s->mariadb ? "SHOW STATUS LIKE 'binlog_snapshot_%'" : "SHOW MASTER STATUS";
    if (sl_mysnap_q(sn, q) != SL_OK) return SL_ERR;
    MYSQL_RES *res = mysql_store_result(sn->c);
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res))) {
        if (!s->mariadb) {
            sl_my_set_str(&sn->file, row[0], strlen(row[0]));
            sn->pos = strtoull(row[1], NULL, 10);
            break;
        }
        if (!strcasecmp(row[0], "binlog_snapshot_file"))
            sl_my_set_str(&sn->file, row[1], strlen(row[1]));
        else if (!strcasecmp(row[0], "binlog_snapshot_position"))
            sn->pos = strtoull(row[1], NULL, 10);
    }
    if (res) mysql_free_result(res);
    if (locked && sl_mysnap_q(sn, "UNLOCK TABLES") != SL_OK) return SL_ERR;
    if (!sn->file || !*sn->file) {
        sl_err(s->err, sizeof(s->err), "snapshot: the server reports no binlog position "
               "(is log_bin on?)");
        return SL_ERR;
    }
    return SL_OK;
}

/* ---- emitting -------------------------------------------------------------------- */

static void sl_mysnap_progress(sl_mysnap_t *sn, sl_buf_t *o)
{
    sl_buf_puts(o, "{\"snapshot\":{\"file\":");
    sl_json_cstr(o, sn->file);
    sl_buf_printf(o, ",\"pos\":%llu,\"done\":[", (unsigned long long)sn->pos);
    bool first = true;
    for (size_t i = 0; i < sn->nt; i++)
        if (sn->t[i].done) {
            if (!first) sl_buf_putc(o, ',');
            sl_json_cstr(o, sn->t[i].qname);
            first = false;
        }
    sl_buf_puts(o, "],\"keys\":{");
    first = true;
    for (size_t i = 0; i < sn->nt; i++) {
        sl_mysnap_table_t *t = &sn->t[i];
        if (t->done || !t->have_last) continue;
        if (!first) sl_buf_putc(o, ',');
        sl_json_cstr(o, t->qname);
        sl_buf_puts(o, ":[");
        for (size_t k = 0; k < t->npk; k++) {
            if (k) sl_buf_putc(o, ',');
            sl_json_cstr(o, t->last[k]);
        }
        sl_buf_putc(o, ']');
        first = false;
    }
    sl_buf_puts(o, "}}}");
}

/* One snapshot row in the Debezium MySQL envelope (same fields and order as streamed
 * rows, see binlog_event.c). */
static void sl_mysnap_encode(sl_mysnap_t *sn, sl_mysnap_table_t *t, MYSQL_ROW row,
                             unsigned long *len, const char *mark, sl_event_t *ev)
{
    sl_my_source_t *s = sn->s;
    sl_buf_t *o = sl_emit_arena(s->p);
    ev->key_off = (uint32_t)o->len;
    if (t->npk) {
        sl_buf_putc(o, '{');
        for (size_t k = 0; k < t->npk; k++) {
            int c = t->pk[k];
            if (k) sl_buf_putc(o, ',');
            sl_json_cstr(o, t->cols[c].name);
            sl_buf_putc(o, ':');
            sl_mysnap_value(o, t->cols[c].kind, row[c], len[c]);
        }
        sl_buf_putc(o, '}');
    }
    ev->key_len = (uint32_t)(o->len - ev->key_off);
    ev->val_off = (uint32_t)o->len;
    sl_buf_puts(o, "{\"before\":null,\"after\":{");
    size_t shard_off = 0, shard_end = 0;
    const char *shard_key = s->env.shard_key;
    for (size_t c = 0; c < t->ncols; c++) {
        if (c) sl_buf_putc(o, ',');
        sl_json_cstr(o, t->cols[c].name);
        sl_buf_putc(o, ':');
        size_t vstart = o->len;
        sl_mysnap_value(o, t->cols[c].kind, row[c], len[c]);
        if (shard_key && !strcmp(shard_key, t->cols[c].name)) {
            shard_off = vstart;
            shard_end = o->len;
        }
    }
    uint64_t now = sl_now_wall_us();
    sl_buf_printf(o, "},\"source\":{\"version\":\"%s\",\"connector\":\"mysql\",\"name\":",
                  SL_VERSION);
    sl_json_cstr(o, sl_pipeline_name(s->p));
    sl_buf_puts(o, ",\"ts_ms\":");
    sl_json_u64(o, sn->ts_us / 1000);
    sl_buf_printf(o, ",\"snapshot\":\"%s\",\"db\":", mark);
    sl_json_cstr(o, t->db);
    sl_buf_puts(o, ",\"sequence\":null,\"ts_us\":");
    sl_json_u64(o, sn->ts_us);
    sl_buf_puts(o, ",\"ts_ns\":");
    sl_json_u64(o, sn->ts_us);
    sl_buf_puts(o, "000,\"table\":");
    sl_json_cstr(o, t->name);
    sl_buf_puts(o, ",\"server_id\":0,\"gtid\":null,\"file\":");
    sl_json_cstr(o, sn->file);
    sl_buf_printf(o, ",\"pos\":%llu,\"row\":0,\"thread\":null,\"query\":null},\"op\":\"r\","
                  "\"ts_ms\":%llu,\"ts_us\":%llu,\"ts_ns\":%llu000,\"transaction\":null}",
                  (unsigned long long)sn->pos, (unsigned long long)(now / 1000),
                  (unsigned long long)now, (unsigned long long)now);
    ev->val_len = (uint32_t)(o->len - ev->val_off);
    ev->table = sl_pipeline_table(s->p, t->db, "", t->name);
    ev->op = SL_OP_READ;
    ev->shard = shard_end ? sl_pipeline_shard(s->p, o->data + shard_off, shard_end - shard_off)
                          : (sl_pipeline_spec(s->p)->sharding ? 0 : -1);
    ev->commit_us = sn->ts_us;
}

/* Read one chunk of t and emit it. */
static int sl_mysnap_chunk(sl_mysnap_t *sn, sl_mysnap_table_t *t, bool last_table)
{
    sl_my_source_t *s = sn->s;
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_printf(&q, "SELECT * FROM `%s`.`%s`", t->db, t->name);
    bool where = false;
    if (t->npk && t->have_last) {
        /* k1 > v1 OR (k1 = v1 AND k2 > v2) OR ... */
        sl_buf_puts(&q, " WHERE (");
        for (size_t k = 0; k < t->npk; k++) {
            if (k) sl_buf_puts(&q, " OR ");
            sl_buf_putc(&q, '(');
            for (size_t e = 0; e < k; e++)
                sl_buf_printf(&q, "`%s` = '%s' AND ", t->cols[t->pk[e]].name, t->last[e]);
            sl_buf_printf(&q, "`%s` > '%s')", t->cols[t->pk[k]].name, t->last[k]);
        }
        sl_buf_putc(&q, ')');
        where = true;
    }
    if (t->where) sl_buf_printf(&q, " %s (%s)", where ? "AND" : "WHERE", t->where);
    if (t->npk) {
        sl_buf_puts(&q, " ORDER BY ");
        for (size_t k = 0; k < t->npk; k++)
            sl_buf_printf(&q, "%s`%s`", k ? ", " : "", t->cols[t->pk[k]].name);
        /* one row more than a chunk: tells whether another chunk follows */
        sl_buf_printf(&q, " LIMIT %lld", (long long)s->conf->snapshot.chunk_size + 1);
    }
    int rc = sl_mysnap_q(sn, sl_buf_cstr(&q));
    sl_buf_free(&q);
    if (rc != SL_OK) return SL_ERR;
    MYSQL_RES *res = mysql_use_result(sn->c);
    if (!res) {
        sl_err(s->err, sizeof(s->err), "snapshot of %s: %s", t->qname, mysql_error(sn->c));
        return SL_ERR;
    }
    sl_emit_tx_begin(s->p);
    MYSQL_ROW row;
    uint64_t n = 0;
    bool stop = false;
    bool more = false;
    while ((row = mysql_fetch_row(res))) {
        if (t->npk && (int64_t)n == s->conf->snapshot.chunk_size) {
            more = true;   /* the extra row: the next chunk reads it again */
            continue;
        }
        unsigned long *len = mysql_fetch_lengths(res);
        sl_event_t ev = {0};
        sl_mysnap_encode(sn, t, row, len, sn->first_done ? "true" : "first", &ev);
        sn->first_done = true;
        if (sl_emit_event(s->p, &ev) != SL_OK) {
            stop = true;
            break;
        }
        n++;
        if (t->npk) {
            for (size_t k = 0; k < t->npk; k++) {
                int c = t->pk[k];
                free(t->last[k]);
                t->last[k] = sl_malloc(len[c] * 2 + 1);
                mysql_real_escape_string(sn->c, t->last[k], row[c] ? row[c] : "", len[c]);
            }
            t->have_last = true;
        }
    }
    if (mysql_errno(sn->c)) {
        sl_err(s->err, sizeof(s->err), "snapshot of %s: %s", t->qname, mysql_error(sn->c));
        mysql_free_result(res);
        return SL_ERR;
    }
    mysql_free_result(res);
    if (stop) return SL_AGAIN;
    t->rows += n;
    sn->rows += n;
    sl_pipeline_add_snapshot_rows(s->p, n);
    if (!more) t->done = true;
    if (t->done && last_table && n) {
        /* mark the snapshot's last row: its marker is the last "snapshot":"true" */
        sl_buf_t *o = sl_emit_arena(s->p);
        static const char needle[] = "\"snapshot\":\"true\"";
        size_t nl = sizeof(needle) - 1;
        for (size_t i = o->len >= nl ? o->len - nl + 1 : 0; i-- > 0;)
            if (!memcmp(o->data + i, needle, nl)) {
                memcpy(o->data + i + 12, "last", 4);
                break;
            }
    }
    sl_pos_t pos = {.lsn = 0};
    sl_mysnap_progress(sn, &pos.json);
    rc = sl_emit_tx_commit(s->p, &pos);
    sl_buf_free(&pos.json);
    if (t->done)
        sl_info("snapshot: %s done, %llu rows (%llu rows so far)", t->qname,
                (unsigned long long)t->rows, (unsigned long long)sn->rows);
    return rc == SL_OK ? SL_OK : SL_AGAIN;
}

static void sl_mysnap_resume(sl_mysnap_t *sn, json_t *resume)
{
    for (size_t i = 0; i < sn->nt; i++) {
        sl_mysnap_table_t *t = &sn->t[i];
        t->done = sl_snapshot_resume_table(resume, t->qname, t->npk, t->last, &t->have_last);
    }
    const char *f = json_string_value(json_object_get(resume, "file"));
    if (f) {
        sl_my_set_str(&sn->file, f, strlen(f));
        sn->pos = (uint64_t)json_integer_value(json_object_get(resume, "pos"));
    }
}

int sl_my_snapshot(sl_my_source_t *s, json_t *resume, bool *stopped)
{
    sl_mysnap_t sn = {.s = s};
    *stopped = false;
    int rc = SL_AGAIN;
    sn.c = sl_my_connect(s, &s->dsn);
    if (!sn.c) return SL_AGAIN;
    if (sl_mysnap_q(&sn, "SET time_zone = '+00:00'") != SL_OK) goto out;
    rc = sl_mysnap_tables(&sn);
    if (rc != SL_OK) goto out;
    rc = sl_mysnap_begin(&sn);
    if (rc != SL_OK) goto out;
    if (resume) sl_mysnap_resume(&sn, resume);
    sn.first_done = resume != NULL;
    sn.ts_us = sl_now_wall_us();
    size_t todo = 0;
    for (size_t i = 0; i < sn.nt; i++) todo += !sn.t[i].done;
    sl_info("snapshot: %zu table%s to read at %s:%llu%s (chunks of %lld rows)", todo,
            todo == 1 ? "" : "s", sn.file, (unsigned long long)sn.pos,
            resume ? ", resuming" : "", (long long)s->conf->snapshot.chunk_size);
    for (size_t i = 0; i < sn.nt; i++) {
        sl_mysnap_table_t *t = &sn.t[i];
        bool last_table = true;
        for (size_t j = i + 1; j < sn.nt; j++) last_table &= sn.t[j].done;
        while (!t->done) {
            if (sl_pipeline_stopping(s->p)) {
                *stopped = true;
                rc = SL_OK;
                goto out;
            }
            rc = sl_mysnap_chunk(&sn, t, last_table);
            if (rc == SL_AGAIN && sl_pipeline_stopping(s->p)) {
                *stopped = true;
                rc = SL_OK;
                goto out;
            }
            if (rc != SL_OK) goto out;
        }
    }
    /* Complete: the checkpoint now says "stream from the snapshot's position". */
    sl_my_set_str(&s->recv_file, sn.file, strlen(sn.file));
    s->recv_pos = sn.pos;
    sl_pos_t pos = {.lsn = sn.pos};
    sl_buf_puts(&pos.json, "{\"file\":");
    sl_json_cstr(&pos.json, sn.file);
    sl_buf_printf(&pos.json, ",\"pos\":%llu,\"gtid\":null}", (unsigned long long)sn.pos);
    sl_emit_tx_begin(s->p);
    rc = sl_emit_tx_commit(s->p, &pos);
    sl_buf_free(&pos.json);
    if (rc != SL_OK) {
        *stopped = true;
        rc = SL_OK;
    }
    sl_info("snapshot: complete, %llu rows from %zu tables; streaming from %s:%llu",
            (unsigned long long)sn.rows, sn.nt, sn.file, (unsigned long long)sn.pos);
out:
    if (sn.c) {
        mysql_query(sn.c, "COMMIT");
        mysql_close(sn.c);
    }
    for (size_t i = 0; i < sn.nt; i++) {
        sl_mysnap_table_t *t = &sn.t[i];
        for (size_t c = 0; c < t->ncols; c++) {
            free(t->cols[c].name);
            free(t->last[c]);
        }
        free(t->cols);
        free(t->last);
        free(t->pk);
        free(t->db);
        free(t->name);
        free(t->qname);
    }
    free(sn.t);
    free(sn.file);
    return rc;
}
