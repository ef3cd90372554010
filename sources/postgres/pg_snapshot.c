/*
 * pg_snapshot.c - initial snapshots for the PostgreSQL source, consistent with the stream.
 *
 * Consistency: a TEMPORARY logical slot is created with EXPORT_SNAPSHOT on its own
 * replication connection; its consistent point X and the exported snapshot describe the
 * same database state S. Worker connections import that snapshot (REPEATABLE READ, SET
 * TRANSACTION SNAPSHOT) and read the tables; streaming then starts on the pipeline's own
 * slot at X (START_REPLICATION honours an LSN past the slot's confirmed position by
 * skipping transactions that committed before it), so stream = changes after S. The
 * temporary slot disappears with its connection as soon as every worker has imported.
 *
 * Chunks: tables with a primary key are read in key order by keyset pagination
 * (WHERE (k1,k2) > ($1,$2) ORDER BY k1,k2 LIMIT chunk_size), never OFFSET, so memory is
 * bounded by one chunk per worker; tables without a key are read by one cursor in a
 * single pass. Up to max_parallel_tables workers run at once, each with one query in
 * flight while the source thread encodes the previous chunk.
 *
 * Events: op "r", before null, source.snapshot "first" on the first row, "last" on the
 * last, "true" otherwise, transaction null; the same type mapping and envelope code as
 * streamed rows (pg_types.c, pg_event.c).
 *
 * Resumable: each chunk is one "transaction" for the batcher whose checkpoint position
 * carries the progress: {"snapshot":{"lsn":X,"done":[tables],"keys":{table:[last key]}}}.
 * After a crash the snapshot continues from the last acknowledged chunk of each table
 * with a new exported snapshot S', and streaming still starts at the first X: changes
 * between X and S' are replayed after newer snapshot rows, so applying events in order
 * still ends in the right state (at-least-once; duplicates are limited to rows of
 * unacknowledged chunks and those replays). A keyless table restarts from its beginning.
 *
 * Thread: the pipeline's source thread.
 */
#include "pg_source.h"
#include "sl_log.h"
#include "sl_json.h"
#include "sl_snapshot.h"

#include <unistd.h>

typedef struct sl_snap_table {
    char            *schema, *name, *qname;   /* qname: "schema.table" */
    char            *select;                  /* SELECT <published columns> FROM it */
    char           **pk;                      /* key column names, in key order */
    size_t           npk;
    int             *pk_col;                  /* their column index in the result */
    char           **last_key;                /* text values of the last row read */
    bool             have_key;
    char            *where;                   /* snapshot.where AND the row filter */
    uint64_t         rows;
    bool             done;
    bool             cursor_open;
    sl_pg_relation_t rel;                     /* synthetic, for the encoder */
    bool             rel_ready;
} sl_snap_table_t;

typedef struct sl_snap_worker {
    PGconn          *conn;
    sl_snap_table_t *t;        /* table being read, NULL when idle */
    bool             busy;     /* a query is in flight */
} sl_snap_worker_t;

typedef struct sl_snap {
    sl_pg_source_t   *s;
    sl_snap_table_t  *tables;
    size_t            ntables, next_table;
    sl_snap_worker_t *workers;
    size_t            nworkers;
    uint64_t          x;            /* stream start (first snapshot's consistent point) */
    char              xtext[24];
    uint64_t          rows;
    bool              first_emitted;
    uint32_t          last_val_off, last_val_len;   /* last emitted event (to mark "last") */
    bool              have_last;
} sl_snap_t;

static void sl_snap_table_free(sl_snap_table_t *t)
{
    free(t->schema);
    free(t->name);
    free(t->qname);
    free(t->select);
    free(t->where);
    for (size_t i = 0; i < t->npk; i++) {
        free(t->pk[i]);
        if (t->last_key) free(t->last_key[i]);
    }
    free(t->pk);
    free(t->pk_col);
    free(t->last_key);
    for (uint16_t i = 0; i < t->rel.ncols; i++) free(t->rel.cols[i].name);
    free(t->rel.cols);
}

/* ---- progress -------------------------------------------------------------------- */

static void sl_snap_progress_json(sl_snap_t *sn, sl_buf_t *out)
{
    sl_buf_puts(out, "{\"snapshot\":{\"lsn\":\"");
    sl_buf_puts(out, sn->xtext);
    sl_buf_puts(out, "\",\"done\":[");
    bool first = true;
    for (size_t i = 0; i < sn->ntables; i++) {
        if (!sn->tables[i].done) continue;
        if (!first) sl_buf_putc(out, ',');
        sl_json_cstr(out, sn->tables[i].qname);
        first = false;
    }
    sl_buf_puts(out, "],\"keys\":{");
    first = true;
    for (size_t i = 0; i < sn->ntables; i++) {
        sl_snap_table_t *t = &sn->tables[i];
        if (t->done || !t->have_key || !t->npk) continue;
        if (!first) sl_buf_putc(out, ',');
        sl_json_cstr(out, t->qname);
        sl_buf_puts(out, ":[");
        for (size_t k = 0; k < t->npk; k++) {
            if (k) sl_buf_putc(out, ',');
            sl_json_cstr(out, t->last_key[k]);
        }
        sl_buf_putc(out, ']');
        first = false;
    }
    sl_buf_puts(out, "}}}");
}

static void sl_snap_apply_resume(sl_snap_t *sn, json_t *resume)
{
    for (size_t i = 0; i < sn->ntables; i++) {
        sl_snap_table_t *t = &sn->tables[i];
        t->done = sl_snapshot_resume_table(resume, t->qname, t->npk, t->last_key,
                                           &t->have_key);
    }
}

/* ---- setup ----------------------------------------------------------------------- */

/* t->select: the columns the stream's rows hold, in their order, so snapshot rows have
 * the same fields. pgoutput leaves out generated columns (before PostgreSQL 18's
 * publish_generated_columns) and columns outside a publication's column list (15+,
 * pg_publication_tables.attnames). SELECT * would add them to snapshot rows only. */
static int sl_snap_columns(sl_snap_t *sn, sl_snap_table_t *t, const char *from)
{
    sl_pg_source_t *s = sn->s;
    int ver = PQserverVersion(s->sql);
    /* 18+: attnames holds the generated columns the publication sends; 15-17 list them
     * although pgoutput never sends them */
    const char *params[] = {from, s->conf->publication, t->schema, t->name,
                            ver >= 180000 ? "true" : "false"};
    PGresult *res;
    if (ver >= 150000)
        res = sl_pg_query(s, s->sql,
                          "SELECT a.attname::text FROM pg_attribute a, pg_publication_tables pt "
                          "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT "
                          "a.attisdropped AND pt.pubname = $2 AND pt.schemaname = $3 AND "
                          "pt.tablename = $4 AND (pt.attnames IS NULL OR a.attname = "
                          "ANY(pt.attnames)) AND (a.attgenerated = '' OR $5) "
                          "ORDER BY a.attnum", 5, params);
    else
        res = sl_pg_query(s, s->sql, ver >= 120000 ?
                          "SELECT attname::text FROM pg_attribute WHERE attrelid = "
                          "$1::regclass AND attnum > 0 AND NOT attisdropped AND "
                          "attgenerated = '' ORDER BY attnum" :
                          "SELECT attname::text FROM pg_attribute WHERE attrelid = "
                          "$1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                          1, params);
    if (!res) return SL_AGAIN;
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, "SELECT ");
    for (int r = 0; r < PQntuples(res); r++) {
        const char *col = PQgetvalue(res, r, 0);
        char *qc = PQescapeIdentifier(s->sql, col, strlen(col));
        sl_buf_printf(&q, "%s%s", r ? ", " : "", qc);
        PQfreemem(qc);
    }
    if (!PQntuples(res)) sl_buf_puts(&q, "*");    /* a table without columns */
    PQclear(res);
    sl_buf_printf(&q, " FROM %s", from);
    t->select = sl_buf_steal(&q);
    return SL_OK;
}

static int sl_snap_tables(sl_snap_t *sn)
{
    sl_pg_source_t *s = sn->s;
    const char *params[] = {s->conf->publication};
    /* a publication's row filter (15+) holds back the stream's rows the snapshot must
     * leave out too */
    PGresult *res = sl_pg_query(s, s->sql, PQserverVersion(s->sql) >= 150000 ?
                                "SELECT schemaname::text, tablename::text, rowfilter FROM "
                                "pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2" :
                                "SELECT schemaname::text, tablename::text, NULL FROM "
                                "pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2",
                                1, params);
    if (!res) return SL_AGAIN;
    sn->tables = sl_calloc((size_t)PQntuples(res) + 1, sizeof(*sn->tables));
    for (int r = 0; r < PQntuples(res); r++) {
        const char *nsp = PQgetvalue(res, r, 0), *rel = PQgetvalue(res, r, 1);
        if (!sl_pg_table_wanted(s, nsp, rel)) continue;
        sl_snap_table_t *t = &sn->tables[sn->ntables++];
        t->schema = sl_strdup(nsp);
        t->name = sl_strdup(rel);
        sl_buf_t q = SL_BUF_INIT;
        sl_buf_printf(&q, "%s.%s", nsp, rel);
        t->qname = sl_buf_steal(&q);
        const char *where = NULL;
        for (size_t w = 0; w < s->conf->snapshot.where.n; w++)
            if (!strcmp(s->conf->snapshot.where.k[w], t->qname))
                where = s->conf->snapshot.where.v[w];
        bool rowfilter = !PQgetisnull(res, r, 2);
        if (where || rowfilter) {
            sl_buf_printf(&q, "%s%s%s%s%s", where ? "(" : "", where ? where : "",
                          where ? ")" : "", where && rowfilter ? " AND " : "",
                          rowfilter ? "(" : "");
            if (rowfilter) sl_buf_printf(&q, "%s)", PQgetvalue(res, r, 2));
            t->where = sl_buf_steal(&q);
        }
    }
    PQclear(res);

    /* Primary keys, in key order. */
    for (size_t i = 0; i < sn->ntables; i++) {
        sl_snap_table_t *t = &sn->tables[i];
        char *qs = PQescapeIdentifier(s->sql, t->schema, strlen(t->schema));
        char *qt = PQescapeIdentifier(s->sql, t->name, strlen(t->name));
        sl_buf_t reg = SL_BUF_INIT;
        sl_buf_printf(&reg, "%s.%s", qs, qt);
        PQfreemem(qs);
        PQfreemem(qt);
        const char *p2[] = {sl_buf_cstr(&reg)};
        res = sl_pg_query(s, s->sql,
                          "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON "
                          "a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE "
                          "i.indrelid = $1::regclass AND i.indisprimary "
                          "ORDER BY array_position(i.indkey::int2[], a.attnum)", 1, p2);
        if (!res) {
            sl_buf_free(&reg);
            return SL_AGAIN;
        }
        t->npk = (size_t)PQntuples(res);
        t->pk = sl_calloc(t->npk + 1, sizeof(char *));
        t->last_key = sl_calloc(t->npk + 1, sizeof(char *));
        t->pk_col = sl_calloc(t->npk + 1, sizeof(int));
        for (size_t k = 0; k < t->npk; k++) t->pk[k] = sl_strdup(PQgetvalue(res, (int)k, 0));
        PQclear(res);
        int rc = sl_snap_columns(sn, t, sl_buf_cstr(&reg));
        sl_buf_free(&reg);
        if (rc != SL_OK) return SL_AGAIN;
    }
    return SL_OK;
}

/* Export a snapshot from a temporary slot and import it into every worker. */
static int sl_snap_export(sl_snap_t *sn, uint64_t *x)
{
    sl_pg_source_t *s = sn->s;
    char m[SL_ERRSTR_SIZE];
    PGconn *rc = sl_pg_connect(s, true);
    if (PQstatus(rc) != CONNECTION_OK) {
        sl_err(s->err, sizeof(s->err), "snapshot: replication connection: %s",
               sl_pg_msg(rc, m, sizeof(m)));
        PQfinish(rc);
        return SL_AGAIN;
    }
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_printf(&q, "sluice_snap_%d_%s", (int)getpid(), s->conf->slot);
    if (q.len > 63) q.len = 63;
    char *name = PQescapeIdentifier(rc, sl_buf_cstr(&q), q.len);
    sl_buf_reset(&q);
    sl_buf_printf(&q, "CREATE_REPLICATION_SLOT %s TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT",
                  name);
    PQfreemem(name);
    PGresult *res = sl_pg_query(s, rc, sl_buf_cstr(&q), 0, NULL);
    sl_buf_free(&q);
    if (!res) {
        PQfinish(rc);
        return SL_AGAIN;
    }
    sl_pg_lsn_parse(PQgetvalue(res, 0, 1), x);
    char *snapname = sl_strdup(PQgetvalue(res, 0, 2));
    PQclear(res);

    int rcode = SL_OK;
    for (size_t w = 0; w < sn->nworkers && rcode == SL_OK; w++) {
        PGconn *c = sl_pg_connect(s, false);
        sn->workers[w].conn = c;
        if (PQstatus(c) != CONNECTION_OK) {
            sl_err(s->err, sizeof(s->err), "snapshot: worker connection: %s",
                   sl_pg_msg(c, m, sizeof(m)));
            rcode = SL_AGAIN;
            break;
        }
        res = sl_pg_query(s, c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
        if (!res) {
            rcode = SL_AGAIN;
            break;
        }
        PQclear(res);
        char *lit = PQescapeLiteral(c, snapname, strlen(snapname));
        sl_buf_t set = SL_BUF_INIT;
        sl_buf_printf(&set, "SET TRANSACTION SNAPSHOT %s", lit);
        PQfreemem(lit);
        res = sl_pg_query(s, c, sl_buf_cstr(&set), 0, NULL);
        sl_buf_free(&set);
        if (!res) {
            rcode = SL_AGAIN;
            break;
        }
        PQclear(res);
    }
    free(snapname);
    PQfinish(rc);   /* every worker imported: the temporary slot can go */
    return rcode;
}

/* ---- reading --------------------------------------------------------------------- */

static int sl_snap_send(sl_snap_t *sn, sl_snap_worker_t *w)
{
    sl_pg_source_t *s = sn->s;
    sl_snap_table_t *t = w->t;
    PGconn *c = w->conn;
    sl_buf_t q = SL_BUF_INIT;
    const char **params = NULL;
    int nparams = 0;
    if (!t->npk) {
        /* No key: one ordered scan through a cursor, chunk_size rows per FETCH. */
        if (!t->cursor_open) {
            sl_buf_printf(&q, "DECLARE sl_snap_%zu NO SCROLL CURSOR FOR %s",
                          (size_t)(t - sn->tables), t->select);
            if (t->where) sl_buf_printf(&q, " WHERE %s", t->where);
            PGresult *res = sl_pg_query(s, c, sl_buf_cstr(&q), 0, NULL);
            sl_buf_reset(&q);
            if (!res) {
                sl_buf_free(&q);
                return SL_AGAIN;
            }
            PQclear(res);
            t->cursor_open = true;
        }
        sl_buf_printf(&q, "FETCH %lld FROM sl_snap_%zu",
                      (long long)s->conf->snapshot.chunk_size + 1, (size_t)(t - sn->tables));
    } else {
        sl_buf_puts(&q, t->select);
        bool where = false;
        if (t->have_key) {
            sl_buf_puts(&q, " WHERE (");
            for (size_t k = 0; k < t->npk; k++) {
                char *qk = PQescapeIdentifier(c, t->pk[k], strlen(t->pk[k]));
                sl_buf_printf(&q, "%s%s", k ? ", " : "", qk);
                PQfreemem(qk);
            }
            sl_buf_puts(&q, ") > (");
            for (size_t k = 0; k < t->npk; k++) sl_buf_printf(&q, "%s$%zu", k ? ", " : "", k + 1);
            sl_buf_puts(&q, ")");
            where = true;
            params = (const char **)t->last_key;
            nparams = (int)t->npk;
        }
        if (t->where) sl_buf_printf(&q, " %s %s", where ? "AND" : "WHERE", t->where);
        sl_buf_puts(&q, " ORDER BY ");
        for (size_t k = 0; k < t->npk; k++) {
            char *qk = PQescapeIdentifier(c, t->pk[k], strlen(t->pk[k]));
            sl_buf_printf(&q, "%s%s", k ? ", " : "", qk);
            PQfreemem(qk);
        }
        /* one row more than a chunk: tells whether another chunk follows, so the
         * snapshot's last row is known when it is emitted */
        sl_buf_printf(&q, " LIMIT %lld", (long long)s->conf->snapshot.chunk_size + 1);
    }
    int ok = PQsendQueryParams(c, sl_buf_cstr(&q), nparams, NULL, params, NULL, NULL, 0);
    sl_buf_free(&q);
    if (!ok) {
        char m[SL_ERRSTR_SIZE];
        sl_err(s->err, sizeof(s->err), "snapshot of %s: %s", t->qname,
               sl_pg_msg(c, m, sizeof(m)));
        return SL_AGAIN;
    }
    w->busy = true;
    return SL_OK;
}

/* Build the synthetic relation of a table from its first result. */
static void sl_snap_rel(sl_snap_t *sn, sl_snap_table_t *t, const PGresult *res)
{
    sl_pg_source_t *s = sn->s;
    int n = PQnfields(res);
    t->rel.relid = 0;
    t->rel.nspname = t->schema;
    t->rel.relname = t->name;
    t->rel.replident = 'd';
    t->rel.ncols = (uint16_t)n;
    t->rel.cols = sl_calloc((size_t)n + 1, sizeof(*t->rel.cols));
    for (int i = 0; i < n; i++) {
        sl_pg_column_t *col = &t->rel.cols[i];
        col->name = sl_strdup(PQfname(res, i));
        col->type_oid = (uint32_t)PQftype(res, i);
        col->typmod = PQfmod(res, i);
        for (size_t k = 0; k < t->npk; k++)
            if (!strcmp(t->pk[k], col->name)) {
                col->is_pk = true;
                col->flags = 1;
                t->pk_col[k] = i;
            }
    }
    sl_pg_resolve_types(s, &t->rel);
    for (int i = 0; i < n; i++)
        t->rel.cols[i].type = sl_pg_type_lookup(s->dec, t->rel.cols[i].type_oid);
    t->rel.user = (void *)sl_pipeline_table(s->p, s->db, t->schema, t->name);
    t->rel_ready = true;
}

/* Emit the rows of one chunk as one batcher transaction carrying the progress. */
static int sl_snap_emit(sl_snap_t *sn, sl_snap_table_t *t, const PGresult *res)
{
    sl_pg_source_t *s = sn->s;
    int fetched = PQntuples(res);
    /* Keyed tables: the extra row is read again by the next chunk. A cursor cannot go
     * back, so a keyless table emits it now. */
    bool more = fetched > s->conf->snapshot.chunk_size;
    int nrows = more && t->npk ? (int)s->conf->snapshot.chunk_size : fetched;
    if (!t->rel_ready) sl_snap_rel(sn, t, res);
    uint16_t ncols = t->rel.ncols;
    sl_pg_datum_t *datums = sl_calloc((size_t)ncols + 1, sizeof(*datums));
    sl_pg_msg_t m = {.kind = SL_PGM_INSERT, .rel = &t->rel};
    m.new_tuple.ncols = ncols;
    m.new_tuple.cols = datums;

    /* The final chunk of the whole snapshot: this table ends here and no other table
     * is pending, so its last row is the snapshot's last. */
    bool final_chunk = !more;
    for (size_t i = 0; i < sn->ntables && final_chunk; i++)
        if (&sn->tables[i] != t && !sn->tables[i].done) final_chunk = false;
    sl_emit_tx_begin(s->p);
    for (int r = 0; r < nrows; r++) {
        for (uint16_t c = 0; c < ncols; c++) {
            if (PQgetisnull(res, r, c)) {
                datums[c].kind = 'n';
                datums[c].len = 0;
                datums[c].data = NULL;
            } else {
                datums[c].kind = 't';
                datums[c].len = (uint32_t)PQgetlength(res, r, c);
                datums[c].data = PQgetvalue(res, r, c);
            }
        }
        sl_buf_t *arena = sl_emit_arena(s->p);
        sl_event_t ev = {0};
        const char *shard_json = NULL;
        size_t shard_len = 0;
        s->env.snapshot = !sn->first_emitted ? "first"
                        : (final_chunk && r == nrows - 1) ? "last" : "true";
        s->env.now_unix_us = sl_now_wall_us();
        s->env.commit_ts_pg_us = (int64_t)s->env.now_unix_us - 946684800000000LL;
        sl_pg_encode_change(arena, &s->env, &m, sn->x, &ev.key_off, &ev.key_len, &ev.val_off,
                            &ev.val_len, &shard_json, &shard_len);
        ev.table = t->rel.user;
        ev.op = SL_OP_READ;
        ev.shard = shard_json ? sl_pipeline_shard(s->p, shard_json, shard_len)
                              : (sl_pipeline_spec(s->p)->sharding ? 0 : -1);
        ev.commit_us = s->env.now_unix_us;
        if (sl_emit_event(s->p, &ev) != SL_OK) {
            s->env.snapshot = NULL;
            free(datums);
            return SL_ERR;
        }
        sn->first_emitted = true;
        sn->have_last = !(final_chunk && r == nrows - 1);   /* still to mark? */
    }
    s->env.snapshot = NULL;
    free(datums);
    /* Remember where the last row ended up: it becomes "last" if nothing follows. The
     * event is still in the open batch: the batcher only closes a batch when the next
     * event or a commit arrives. */
    if (nrows) {
        for (size_t k = 0; k < t->npk; k++) {
            free(t->last_key[k]);
            t->last_key[k] = sl_strdup(PQgetvalue(res, nrows - 1, t->pk_col[k]));
        }
        t->have_key = t->npk > 0;
    }
    t->rows += (uint64_t)nrows;
    sn->rows += (uint64_t)nrows;
    sl_pipeline_add_snapshot_rows(s->p, (uint64_t)nrows);
    if (!more) t->done = true;

    sl_pos_t pos = {.lsn = 0};
    sl_snap_progress_json(sn, &pos.json);
    int rc = sl_emit_tx_commit(s->p, &pos);
    sl_buf_free(&pos.json);
    if (t->done) {
        size_t left = 0;
        for (size_t i = 0; i < sn->ntables; i++) left += !sn->tables[i].done;
        sl_info("snapshot: %s done, %llu rows (%zu table%s left, %llu rows so far)", t->qname,
                (unsigned long long)t->rows, left, left == 1 ? "" : "s",
                (unsigned long long)sn->rows);
    }
    return rc;
}

/* Mark the very last snapshot row: its "snapshot":"true" becomes "last" (same length),
 * in place, while the event still sits in the open batch. */
static void sl_snap_mark_last(sl_snap_t *sn)
{
    sl_buf_t *arena = sl_emit_arena(sn->s->p);
    static const char needle[] = "\"snapshot\":\"true\"";
    size_t nl = sizeof(needle) - 1;
    if (arena->len < nl) return;
    /* the source block is the last place the marker appears in the last event */
    for (size_t i = arena->len - nl + 1; i-- > 0;) {
        if (memcmp(arena->data + i, needle, nl) == 0) {
            memcpy(arena->data + i + 12, "last", 4);
            return;
        }
    }
}

int sl_pg_snapshot(sl_pg_source_t *s, json_t *resume, uint64_t *stream_from, bool *stopped)
{
    sl_snap_t sn = {.s = s};
    int rc = sl_snap_tables(&sn);
    *stopped = false;
    if (rc != SL_OK) goto out;
    sn.nworkers = (size_t)s->conf->snapshot.max_parallel_tables;
    if (sn.nworkers > sn.ntables) sn.nworkers = sn.ntables ? sn.ntables : 1;
    sn.workers = sl_calloc(sn.nworkers, sizeof(*sn.workers));

    uint64_t x = 0;
    rc = sl_snap_export(&sn, &x);
    if (rc != SL_OK) goto out;
    sn.x = x;
    const char *rx = resume ? json_string_value(json_object_get(resume, "lsn")) : NULL;
    if (rx && sl_pg_lsn_parse(rx, &sn.x) != SL_OK) sn.x = x;
    sl_pg_lsn_format(sn.x, sn.xtext);
    if (resume) sl_snap_apply_resume(&sn, resume);
    sn.first_emitted = resume != NULL;
    s->env.xid = 0;
    s->env.commit_lsn = sn.x;
    s->env.last_commit_lsn = 0;
    s->env.total_order = 0;

    size_t todo = 0;
    for (size_t i = 0; i < sn.ntables; i++) todo += !sn.tables[i].done;
    sl_info("snapshot: %zu table%s to read at %s%s (chunks of %lld rows, %zu in parallel)",
            todo, todo == 1 ? "" : "s", sn.xtext, resume ? ", resuming" : "",
            (long long)s->conf->snapshot.chunk_size, sn.nworkers);

    /* Round-robin: each worker keeps one query in flight while we encode another's. */
    for (;;) {
        if (sl_pipeline_stopping(s->p)) {
            *stopped = true;
            break;
        }
        bool any = false;
        for (size_t wi = 0; wi < sn.nworkers; wi++) {
            sl_snap_worker_t *w = &sn.workers[wi];
            if (!w->t) {
                while (sn.next_table < sn.ntables && sn.tables[sn.next_table].done)
                    sn.next_table++;
                if (sn.next_table < sn.ntables) w->t = &sn.tables[sn.next_table++];
            }
            if (w->t && !w->busy && (rc = sl_snap_send(&sn, w)) != SL_OK) goto out;
            any |= w->busy;
        }
        if (!any) break;
        for (size_t wi = 0; wi < sn.nworkers; wi++) {
            sl_snap_worker_t *w = &sn.workers[wi];
            if (!w->busy) continue;
            PGresult *res = PQgetResult(w->conn);
            PGresult *extra;
            while ((extra = PQgetResult(w->conn))) PQclear(extra);
            w->busy = false;
            if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                char m[SL_ERRSTR_SIZE];
                sl_err(s->err, sizeof(s->err), "snapshot of %s: %s", w->t->qname,
                       res ? PQresultErrorMessage(res) : sl_pg_msg(w->conn, m, sizeof(m)));
                size_t l = strlen(s->err);
                while (l && s->err[l - 1] == '\n') s->err[--l] = '\0';
                PQclear(res);
                /* a bad `where` filter or a dropped table is not transient */
                rc = w->conn && PQstatus(w->conn) == CONNECTION_OK ? SL_ERR : SL_AGAIN;
                goto out;
            }
            rc = sl_snap_emit(&sn, w->t, res);
            PQclear(res);
            if (rc != SL_OK) {
                *stopped = true;
                rc = SL_OK;
                goto out;
            }
            if (w->t->done) w->t = NULL;
            else if ((rc = sl_snap_send(&sn, w)) != SL_OK) goto out;
        }
    }
    if (!*stopped) {
        if (sn.have_last) sl_snap_mark_last(&sn);
        /* Snapshot complete: the checkpoint now says "stream from X". */
        sl_pos_t pos = {.lsn = sn.x};
        sl_buf_printf(&pos.json, "{\"lsn\":\"%s\",\"lsn_int\":%llu}", sn.xtext,
                      (unsigned long long)sn.x);
        sl_emit_tx_begin(s->p);
        rc = sl_emit_tx_commit(s->p, &pos);
        sl_buf_free(&pos.json);
        if (rc != SL_OK) {
            *stopped = true;
            rc = SL_OK;
        }
        sl_info("snapshot: complete, %llu rows from %zu tables; streaming from %s",
                (unsigned long long)sn.rows, sn.ntables, sn.xtext);
        *stream_from = sn.x;
    }
out:
    for (size_t wi = 0; wi < sn.nworkers; wi++)
        if (sn.workers[wi].conn) PQfinish(sn.workers[wi].conn);
    free(sn.workers);
    for (size_t i = 0; i < sn.ntables; i++) sl_snap_table_free(&sn.tables[i]);
    free(sn.tables);
    return rc;
}
