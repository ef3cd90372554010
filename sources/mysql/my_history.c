/*
 * my_history.c - table schemas of the MySQL source across DDL, and their history file.
 *
 * The catalog (my_ddl.h) holds the schema of every table of the tracked databases (those
 * named in `tables`) as it is at the position being decoded. It evolves with the DDL read
 * from the binlog (sl_my_hist_ddl), so old row events are decoded with the schema they
 * were written with, never with today's. What the binlog cannot tell is read from the
 * server: at the first start every tracked table (SHOW CREATE TABLE, parsed by the same
 * parser; information_schema when that fails), later a table that appears without a DDL
 * sluice could follow. Such a read is a *seed*: valid at the binlog position the server
 * was at (read just before it), so DDL the binlog holds before that position is not
 * applied to it again (my_ddl.h).
 *
 * History file <data dir>/<pipeline>/schema_history.jsonl, one JSON object per line,
 * appended and fsynced before the statement's transaction can be checkpointed:
 *   {"kind":"table","at":{"file","pos"}|null,"gtid":"d-s-n"?,"seed":{"file","pos"}?,
 *    "db","table","schema":{...}|null,"ddl":"..."?}   a table's schema from here on
 *                                                      (null: gone)
 *   {"kind":"db","at":...,"gtid":...?,"db","charset":"..."|null,"dropped":true?}
 * "at" is the binlog position the record takes effect at (the end of its DDL event; null
 * for the first seeds, which hold from the start), "gtid" the MariaDB GTID of its
 * transaction. At start-up the records at or before the checkpoint rebuild the catalog,
 * in file order: by GTID when the record and the checkpoint (a complete GTID state) have
 * one, as positions are another server's after a failover; else by position; later ones are dropped (the stream
 * reads their DDL again) and the file is rewritten without them. Without a checkpoint the
 * pipeline starts over: the file is removed and the schemas are read again.
 *
 * Every schema is checked against each TABLE_MAP it is applied to (column count and
 * types). A TABLE_MAP without column names (binlog_row_metadata other than FULL) that
 * does not fit stops the pipeline with an error naming the table, the position and the
 * difference, rather than name columns wrongly; with names in the binlog it is a warning.
 *
 * Thread: the pipeline's source thread.
 */
#include "my_source.h"
#include "my_gtid.h"
#include "sl_log.h"
#include "sl_json.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

/* ======================================================================================
 * Small helpers
 * ==================================================================================== */

/* Warn once per key (a table and its schema version). */
static bool sl_my_hist_first(sl_my_source_t *s, const char *key)
{
    for (size_t i = 0; i < s->nwarned; i++)
        if (!strcmp(s->warned[i], key)) return false;
    s->warned = sl_realloc(s->warned, (s->nwarned + 1) * sizeof(char *));
    s->warned[s->nwarned++] = sl_strdup(key);
    return true;
}

/* 'text' escaped for the connection m. */
static void sl_my_hist_lit(MYSQL *m, sl_buf_t *b, const char *text)
{
    size_t n = strlen(text);
    char *esc = sl_malloc(n * 2 + 1);
    mysql_real_escape_string(m, esc, text, (unsigned long)n);
    sl_buf_putc(b, '\'');
    sl_buf_puts(b, esc);
    sl_buf_putc(b, '\'');
    free(esc);
}

/* The server's current binlog position (SHOW MASTER STATUS); false when unknown. */
static bool sl_my_hist_master_pos(MYSQL *m, char **file, uint64_t *pos)
{
    *file = NULL;
    *pos = 0;
    if (sl_my_query_binlog_status(m) != 0) return false;
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (row && row[0] && row[1]) {
        *file = sl_strdup(row[0]);
        *pos = strtoull(row[1], NULL, 10);
    }
    if (res) mysql_free_result(res);
    return *file != NULL;
}

/* ======================================================================================
 * The history file
 * ==================================================================================== */

static void sl_my_hist_pos(sl_buf_t *b, const char *file, uint64_t pos)
{
    sl_buf_puts(b, "{\"file\":");
    sl_json_cstr(b, file ? file : "");
    sl_buf_printf(b, ",\"pos\":%llu}", (unsigned long long)pos);
}

/* ,"gtid":"d-s-n": the MariaDB GTID of the transaction a record comes from. Binlog file
 * positions differ between the servers of a replication topology, GTIDs do not: a
 * restart after a failover selects the records by it (sl_my_hist_start). */
static void sl_my_hist_gtid(const sl_my_source_t *s, sl_buf_t *b)
{
    if (!s->mariadb || !s->tx_gtid[0]) return;
    sl_buf_puts(b, ",\"gtid\":");
    sl_json_cstr(b, s->tx_gtid);
}

static int sl_my_hist_write(sl_my_source_t *s, sl_buf_t *line)
{
    if (s->hist_fd < 0) return SL_OK;
    sl_buf_putc(line, '\n');
    const char *p = line->data;
    size_t left = line->len;
    while (left) {
        ssize_t w = write(s->hist_fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            return sl_err(s->err, sizeof(s->err), "schema history %s: %s", s->hist_path,
                          strerror(errno));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(s->hist_fd) != 0)
        return sl_err(s->err, sizeof(s->err), "schema history %s: fsync: %s", s->hist_path,
                      strerror(errno));
    return SL_OK;
}

/* A table record: t's schema (NULL: the table is gone) from binlog position at_file/at_pos
 * on (at_file NULL: from the start). ddl: the statement, or NULL. */
static int sl_my_hist_record_table(sl_my_source_t *s, const char *at_file, uint64_t at_pos,
                                   const char *db, const char *name, const sl_my_tab_t *t,
                                   const char *ddl, size_t ddl_len)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, "{\"kind\":\"table\",\"at\":");
    if (at_file) sl_my_hist_pos(&b, at_file, at_pos);
    else sl_buf_puts(&b, "null");
    if (at_file) sl_my_hist_gtid(s, &b);
    if (t && t->seeded) {
        sl_buf_puts(&b, ",\"seed\":");
        if (t->seed_file) sl_my_hist_pos(&b, t->seed_file, t->seed_pos);
        else sl_buf_puts(&b, "{\"file\":null,\"pos\":0}");
    }
    sl_buf_puts(&b, ",\"db\":");
    sl_json_cstr(&b, db);
    sl_buf_puts(&b, ",\"table\":");
    sl_json_cstr(&b, name);
    sl_buf_puts(&b, ",\"schema\":");
    if (t) sl_my_tab_json(&b, t);
    else sl_buf_puts(&b, "null");
    if (ddl) {
        sl_buf_puts(&b, ",\"ddl\":");
        sl_json_str(&b, ddl, ddl_len);
    }
    sl_buf_putc(&b, '}');
    int rc = sl_my_hist_write(s, &b);
    sl_buf_free(&b);
    return rc;
}

static int sl_my_hist_record_db(sl_my_source_t *s, const char *at_file, uint64_t at_pos,
                                const char *db, bool dropped)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, "{\"kind\":\"db\",\"at\":");
    if (at_file) sl_my_hist_pos(&b, at_file, at_pos);
    else sl_buf_puts(&b, "null");
    if (at_file) sl_my_hist_gtid(s, &b);
    sl_buf_puts(&b, ",\"db\":");
    sl_json_cstr(&b, db);
    sl_buf_puts(&b, ",\"charset\":");
    const char *cs = sl_my_catalog_db_charset(s->cat, db);
    if (cs) sl_json_cstr(&b, cs);
    else sl_buf_puts(&b, "null");
    if (dropped) sl_buf_puts(&b, ",\"dropped\":true");
    sl_buf_putc(&b, '}');
    int rc = sl_my_hist_write(s, &b);
    sl_buf_free(&b);
    return rc;
}

/* Apply one record to the catalog. SL_ERR with why when it is malformed. */
static int sl_my_hist_apply(sl_my_source_t *s, json_t *rec, char *why, size_t why_size)
{
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    const char *db = json_string_value(json_object_get(rec, "db"));
    if (!kind || !db) return sl_err(why, why_size, "a record needs \"kind\" and \"db\"");
    if (!strcmp(kind, "db")) {
        if (json_is_true(json_object_get(rec, "dropped"))) {
            sl_my_catalog_forget_db(s->cat, db);
        } else {
            json_t *cs = json_object_get(rec, "charset");
            sl_my_catalog_set_db_charset(s->cat, db, json_string_value(cs));
        }
        return SL_OK;
    }
    const char *name = json_string_value(json_object_get(rec, "table"));
    if (strcmp(kind, "table") || !name)
        return sl_err(why, why_size, "unknown record (kind \"%s\")", kind);
    json_t *schema = json_object_get(rec, "schema");
    if (!schema || json_is_null(schema)) {
        sl_my_catalog_put(s->cat, db, name, NULL);
        return SL_OK;
    }
    sl_my_tab_t *t = sl_my_tab_from_json(schema, why, why_size);
    if (!t) return SL_ERR;
    json_t *seed = json_object_get(rec, "seed");
    if (json_is_object(seed)) {
        const char *f = json_string_value(json_object_get(seed, "file"));
        t->seeded = true;
        t->seed_file = f && *f ? sl_strdup(f) : NULL;
        t->seed_pos = (uint64_t)json_integer_value(json_object_get(seed, "pos"));
    }
    sl_my_catalog_put(s->cat, db, name, t);
    sl_my_tab_free(t);
    return SL_OK;
}

/* A history record's key and its index in the file, to find superseded records. */
typedef struct sl_my_hist_keyed {
    const char *key;
    size_t      idx;
} sl_my_hist_keyed_t;

static int sl_my_hist_keyed_cmp(const void *a, const void *b)
{
    const sl_my_hist_keyed_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The checkpoint's binlog position: the stream's, or the one a snapshot streams from;
 * *gtid its complete MariaDB GTID state there, or NULL. */
static bool sl_my_hist_ckpt_pos(json_t *ck, const char **file, uint64_t *pos,
                                const char **gtid)
{
    json_t *src = ck;
    if (!json_is_string(json_object_get(ck, "file")) && json_is_object(json_object_get(ck,
                                                                                 "snapshot")))
        src = json_object_get(ck, "snapshot");
    *file = json_string_value(json_object_get(src, "file"));
    *pos = (uint64_t)json_integer_value(json_object_get(src, "pos"));
    if (!*file) *file = "";
    *gtid = json_is_true(json_object_get(src, "gtid_complete")) ?
            json_string_value(json_object_get(src, "gtid")) : NULL;
    return true;
}

int sl_my_hist_start(sl_my_source_t *s)
{
    if (s->hist_loaded) return SL_OK;
    s->cat = sl_my_catalog_new();
    s->hist_fd = -1;
    for (size_t i = 0; i < s->ntables; i++) sl_my_catalog_track_db(s->cat, s->tdb[i]);
    const sl_spec_t *spec = sl_pipeline_spec(s->p);
    for (size_t i = 0; i < spec->nsinks; i++)
        if (sl_sink_spec_common(&spec->sinks[i])->schema_changes) s->schema_events = true;

    sl_buf_t path = SL_BUF_INIT;
    sl_buf_printf(&path, "%s/schema_history.jsonl", sl_pipeline_dir(s->p));
    s->hist_path = sl_buf_steal(&path);

    json_t *ck = sl_pipeline_stored_checkpoint(s->p);
    if (!ck) {
        /* a fresh start: schemas are read again from the server */
        if (unlink(s->hist_path) != 0 && errno != ENOENT)
            return sl_err(s->err, sizeof(s->err), "cannot remove %s: %s", s->hist_path,
                          strerror(errno));
    } else {
        const char *ck_file, *ck_gtid;
        uint64_t ck_pos;
        sl_my_hist_ckpt_pos(ck, &ck_file, &ck_pos, &ck_gtid);
        FILE *f = fopen(s->hist_path, "rb");
        if (!f && errno != ENOENT)
            return sl_err(s->err, sizeof(s->err), "cannot read %s: %s", s->hist_path,
                          strerror(errno));
        if (!f) {
            sl_warn("schema history %s is missing (the pipeline has a checkpoint): table "
                    "schemas are read from the server as they are now; events older than a "
                    "later DDL may not match them (checked against each TABLE_MAP)",
                    s->hist_path);
        } else {
            sl_buf_t data = SL_BUF_INIT, keep = SL_BUF_INIT;
            char chunk[65536];
            size_t n;
            while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) sl_buf_put(&data, chunk, n);
            fclose(f);
            size_t nrec = 0, ndrop = 0, line = 0;
            bool rewrite = false;
            /* the kept records by key ("t\tdb\ttable" / "d\tdb"): offset of each line in
             * `keep`, so superseded ones can be compacted away below */
            char **keys = NULL;
            size_t *offs = NULL, *lens = NULL, nkeys = 0;
            const char *p = data.data ? data.data : "", *end = p + data.len;
            while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                line++;
                if (!nl) {
                    sl_warn("schema history %s: line %zu is incomplete (an interrupted "
                            "write); dropped", s->hist_path, line);
                    rewrite = true;
                    break;
                }
                json_error_t jerr;
                json_t *rec = json_loadb(p, (size_t)(nl - p), 0, &jerr);
                char why[SL_ERRSTR_SIZE] = "";
                if (!rec) snprintf(why, sizeof(why), "not JSON (%s)", jerr.text);
                json_t *at = rec ? json_object_get(rec, "at") : NULL;
                bool apply = true;
                if (rec && json_is_object(at)) {
                    /* by GTID where both have one (right across a failover), else by
                     * binlog position */
                    const char *rg = json_string_value(json_object_get(rec, "gtid"));
                    int covers = ck_gtid && rg ? sl_my_gtid_covers(ck_gtid, rg) : -1;
                    const char *af = json_string_value(json_object_get(at, "file"));
                    uint64_t ap = (uint64_t)json_integer_value(json_object_get(at, "pos"));
                    apply = covers >= 0 ? covers == 1
                                        : sl_my_pos_cmp(af, ap, ck_file, ck_pos) <= 0;
                }
                if (rec && apply && sl_my_hist_apply(s, rec, why, sizeof(why)) != SL_OK)
                    apply = false;
                if (why[0]) {
                    json_decref(rec);
                    sl_buf_free(&data);
                    sl_buf_free(&keep);
                    for (size_t i = 0; i < nkeys; i++) free(keys[i]);
                    free(keys);
                    free(offs);
                    free(lens);
                    return sl_err(s->err, sizeof(s->err), "schema history %s line %zu: %s; "
                                  "remove the file to read the schemas from the server "
                                  "again (events older than a later DDL may then not match)",
                                  s->hist_path, line, why);
                }
                if (apply) {
                    keys = sl_realloc(keys, (nkeys + 1) * sizeof(*keys));
                    offs = sl_realloc(offs, (nkeys + 1) * sizeof(*offs));
                    lens = sl_realloc(lens, (nkeys + 1) * sizeof(*lens));
                    sl_buf_t k = SL_BUF_INIT;
                    const char *kind = json_string_value(json_object_get(rec, "kind"));
                    sl_buf_printf(&k, "%s\t%s\t%s", kind, json_string_value(json_object_get(
                                  rec, "db")), !strcmp(kind, "table") ? json_string_value(
                                  json_object_get(rec, "table")) : "");
                    keys[nkeys] = sl_buf_steal(&k);
                    offs[nkeys] = keep.len;
                    lens[nkeys] = (size_t)(nl - p) + 1;
                    /* a record that only removes: dropped when compacting */
                    json_t *sch = json_object_get(rec, "schema");
                    if ((!strcmp(kind, "table") && (!sch || json_is_null(sch))) ||
                        json_is_true(json_object_get(rec, "dropped")))
                        lens[nkeys] = 0;
                    nkeys++;
                    sl_buf_put(&keep, p, (size_t)(nl - p) + 1);
                    nrec++;
                } else {
                    ndrop++;
                    rewrite = true;
                }
                json_decref(rec);
                p = nl + 1;
            }
            /* Compact when most records are superseded: the last record of each table and
             * database is all a restart from here on needs (checkpoints only move on). */
            size_t live = 0;
            sl_my_hist_keyed_t *byk = sl_calloc(nkeys ? nkeys : 1, sizeof(*byk));
            for (size_t i = 0; i < nkeys; i++) byk[i] = (sl_my_hist_keyed_t){keys[i], i};
            qsort(byk, nkeys, sizeof(*byk), sl_my_hist_keyed_cmp);
            for (size_t i = 0; i + 1 < nkeys; i++)
                if (!strcmp(byk[i].key, byk[i + 1].key)) lens[byk[i].idx] = 0;   /* superseded */
            free(byk);
            for (size_t i = 0; i < nkeys; i++) live += lens[i] != 0;
            if (nkeys > 2 * live + 64) {
                sl_buf_t compact = SL_BUF_INIT;
                for (size_t i = 0; i < nkeys; i++)
                    if (lens[i]) sl_buf_put(&compact, keep.data + offs[i], lens[i]);
                sl_info("schema history: compacted %zu records to %zu", nkeys, live);
                sl_buf_free(&keep);
                keep = compact;
                rewrite = true;
            }
            for (size_t i = 0; i < nkeys; i++) free(keys[i]);
            free(keys);
            free(offs);
            free(lens);
            char err[SL_ERRSTR_SIZE];
            int rc = rewrite ? sl_write_file_atomic(s->hist_path, keep.data ? keep.data : "",
                                                    keep.len, err, sizeof(err)) : SL_OK;
            sl_buf_free(&data);
            sl_buf_free(&keep);
            if (rc != SL_OK)
                return sl_err(s->err, sizeof(s->err), "schema history: %s", err);
            sl_info("schema history: %zu records up to the checkpoint %s:%llu, %zu tables%s",
                    nrec, ck_file, (unsigned long long)ck_pos, sl_my_catalog_count(s->cat),
                    ndrop ? " (later records dropped: their DDL is read again)" : "");
        }
    }
    s->hist_fd = open(s->hist_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (s->hist_fd < 0)
        return sl_err(s->err, sizeof(s->err), "cannot open %s: %s", s->hist_path,
                      strerror(errno));
    s->hist_loaded = true;
    return SL_OK;
}

void sl_my_hist_free(sl_my_source_t *s)
{
    if (s->hist_fd >= 0) close(s->hist_fd);
    s->hist_fd = -1;
    sl_my_catalog_free(s->cat);
    s->cat = NULL;
    free(s->hist_path);
    for (size_t i = 0; i < s->nwarned; i++) free(s->warned[i]);
    free(s->warned);
}

/* ======================================================================================
 * Reading schemas from the server
 * ==================================================================================== */

/* Rows of a query as one string per row joined by '\n' (first column); NULL on error. */
static char *sl_my_hist_col0(MYSQL *m, const char *q)
{
    if (mysql_query(m, q) != 0) return NULL;
    MYSQL_RES *res = mysql_store_result(m);
    sl_buf_t b = SL_BUF_INIT;
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res)))
        if (row[0]) {
            sl_buf_puts(&b, row[0]);
            sl_buf_putc(&b, '\n');
        }
    if (res) mysql_free_result(res);
    return b.data ? sl_buf_steal(&b) : sl_strdup("");
}

/* The schema from information_schema (when SHOW CREATE TABLE could not be parsed). */
static sl_my_tab_t *sl_my_hist_read_is(sl_my_source_t *s, MYSQL *m, const char *db,
                                       const char *name)
{
    sl_buf_t q = SL_BUF_INIT, w = SL_BUF_INIT;
    sl_buf_puts(&w, " WHERE TABLE_SCHEMA = ");
    sl_my_hist_lit(m, &w, db);
    sl_buf_puts(&w, " AND TABLE_NAME = ");
    sl_my_hist_lit(m, &w, name);
    sl_buf_printf(&q, "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, EXTRA, "
                  "COALESCE(CHARACTER_SET_NAME, ''), COLUMN_DEFAULT, COLUMN_COMMENT, DATA_TYPE "
                  "FROM information_schema.COLUMNS%s ORDER BY ORDINAL_POSITION", w.data);
    if (mysql_query(m, sl_buf_cstr(&q)) != 0) {
        sl_warn("schema of %s.%s: %s", db, name, mysql_error(m));
        sl_buf_free(&q);
        sl_buf_free(&w);
        return NULL;
    }
    MYSQL_RES *res = mysql_store_result(m);
    uint32_t n = res ? (uint32_t)mysql_num_rows(res) : 0;
    if (!n) {
        if (res) mysql_free_result(res);
        sl_buf_free(&q);
        sl_buf_free(&w);
        return NULL;
    }
    sl_my_tab_t *t = sl_calloc(1, sizeof(*t));
    t->db = sl_strdup(db);
    t->name = sl_strdup(name);
    t->cols = sl_calloc(n, sizeof(*t->cols));
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        sl_my_col_t *c = &t->cols[t->ncols++];
        char err[SL_ERRSTR_SIZE];
        c->name = sl_strdup(row[0] ? row[0] : "");
        c->length = -1;
        c->scale = -1;
        if (!row[1] || sl_my_ddl_parse_type(row[1], c, s->mariadb, err, sizeof(err)) != SL_OK) {
            free(c->type);
            c->type = sl_strdup(row[7] ? row[7] : "");
            for (char *p = c->type; *p; p++) *p = (char)toupper((unsigned char)*p);
        }
        c->nullable = !row[2] || strcmp(row[2], "NO") != 0;
        c->auto_increment = row[3] && strcasestr(row[3], "auto_increment");
        c->generated = row[3] && strcasestr(row[3], "GENERATED");
        if (row[4] && row[4][0] && !c->charset) c->charset = sl_strdup(row[4]);
        if (c->charset && !strcmp(c->charset, "utf8")) {
            free(c->charset);
            c->charset = sl_strdup("utf8mb3");
        }
        if (row[5] && strcmp(row[5], "NULL")) c->default_expr = sl_strdup(row[5]);
        if (row[6] && row[6][0]) c->comment = sl_strdup(row[6]);
    }
    mysql_free_result(res);
    sl_buf_reset(&q);
    sl_buf_printf(&q, "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE%s AND "
                  "CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION", w.data);
    char *pk = sl_my_hist_col0(m, sl_buf_cstr(&q));
    for (char *p = pk, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        t->pk = sl_realloc(t->pk, (t->npk + 1) * sizeof(char *));
        t->pk[t->npk++] = sl_strdup(p);
    }
    free(pk);
    sl_buf_reset(&q);
    sl_buf_printf(&q, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                  "WHERE CONSTRAINT_SCHEMA = ");
    sl_my_hist_lit(m, &q, db);
    sl_buf_puts(&q, " AND TABLE_NAME = ");
    sl_my_hist_lit(m, &q, name);
    char *checks = sl_my_hist_col0(m, sl_buf_cstr(&q));
    for (uint32_t i = 0; i < t->ncols; i++)
        if (sl_my_json_check(checks, t->cols[i].name)) t->cols[i].is_json = true;
    free(checks);
    sl_buf_reset(&q);
    sl_buf_printf(&q, "SELECT TABLE_COLLATION FROM information_schema.TABLES%s", w.data);
    char *coll = sl_my_hist_col0(m, sl_buf_cstr(&q));
    if (coll && strchr(coll, '\n')) *strchr(coll, '\n') = '\0';
    const char *cs = sl_my_collation_charset(coll);
    if (cs) t->charset = sl_strdup(cs);
    free(coll);
    sl_buf_free(&q);
    sl_buf_free(&w);
    return t;
}

/* The schema of db.name from the server m: SHOW CREATE TABLE, parsed; information_schema
 * when that cannot be parsed. NULL when the table does not exist (or cannot be read). */
static sl_my_tab_t *sl_my_hist_read(sl_my_source_t *s, MYSQL *m, const char *db,
                                    const char *name)
{
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, "SHOW CREATE TABLE ");
    sl_my_ident(&q, db);
    sl_buf_putc(&q, '.');
    sl_my_ident(&q, name);
    int qrc = mysql_query(m, sl_buf_cstr(&q));
    sl_buf_free(&q);
    if (qrc != 0) {
        unsigned no = mysql_errno(m);
        if (no != 1146 && no != 1049)   /* no such table / database */
            sl_warn("SHOW CREATE TABLE %s.%s: %s", db, name, mysql_error(m));
        return NULL;
    }
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    unsigned long *len = row ? mysql_fetch_lengths(res) : NULL;
    sl_my_tab_t *t = NULL;
    if (row && mysql_num_fields(res) >= 2 && row[1]) {
        char err[SL_ERRSTR_SIZE];
        t = sl_my_ddl_parse_create(row[1], len[1], db, name,
                                   sl_my_catalog_db_charset(s->cat, db), s->mariadb, err,
                                   sizeof(err));
        if (!t)
            sl_warn("schema of %s.%s: SHOW CREATE TABLE not understood (%s); reading "
                    "information_schema instead", db, name, err);
    }
    if (res) mysql_free_result(res);
    if (!t) t = sl_my_hist_read_is(s, m, db, name);
    return t;
}

static void sl_my_hist_read_db_charset(sl_my_source_t *s, MYSQL *m, const char *db)
{
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME = ");
    sl_my_hist_lit(m, &q, db);
    char *cs = sl_my_hist_col0(m, sl_buf_cstr(&q));
    sl_buf_free(&q);
    if (cs && strchr(cs, '\n')) {
        *strchr(cs, '\n') = '\0';
        const char *norm = strcmp(cs, "utf8") ? cs : "utf8mb3";
        sl_my_catalog_set_db_charset(s->cat, db, norm);
    } else {
        sl_my_catalog_set_db_charset(s->cat, db, NULL);
    }
    free(cs);
}

/* Where a schema read from the server now is valid (a seed, my_ddl.h). */
typedef enum {
    SL_MY_SEED_AT = 0,      /* at *file:*pos: the server's binlog position before the read */
    SL_MY_SEED_AFTER_ALL,   /* offline: today's schema, after everything in the files */
    SL_MY_SEED_NONE,        /* unknown: no seed rule, every later DDL applies */
} sl_my_seed_kind_t;

/* Online: the server's current binlog position; when it cannot be read (no BINLOG
 * MONITOR), the position being decoded: DDL after it is followed (one the read already
 * holds then fails to apply and the table is read again), or no rule when that is unknown
 * too. Offline: after everything in the files. *file is allocated (caller frees). */
static sl_my_seed_kind_t sl_my_hist_seed_pos(sl_my_source_t *s, MYSQL *m, bool online,
                                             char **file, uint64_t *pos)
{
    *file = NULL;
    *pos = 0;
    if (!online) return SL_MY_SEED_AFTER_ALL;
    if (sl_my_hist_master_pos(m, file, pos)) return SL_MY_SEED_AT;
    const char *f = s->recv_file && *s->recv_file ? s->recv_file : s->file;
    if (f && *f) {
        *file = sl_strdup(f);
        *pos = s->recv_file && *s->recv_file ? s->recv_pos : 4;
        return SL_MY_SEED_AT;
    }
    return SL_MY_SEED_NONE;
}

/* Install a schema read from the server as a seed (kind, at seed_file/seed_pos), record it
 * from at_file/at_pos on (NULL: from the start), and register it. Takes t. */
static const sl_my_tab_t *sl_my_hist_install_seed(sl_my_source_t *s, sl_my_tab_t *t,
                                                  sl_my_seed_kind_t kind,
                                                  const char *seed_file, uint64_t seed_pos,
                                                  const char *at_file, uint64_t at_pos)
{
    t->seeded = kind != SL_MY_SEED_NONE;
    free(t->seed_file);
    t->seed_file = kind == SL_MY_SEED_AT && seed_file ? sl_strdup(seed_file) : NULL;
    t->seed_pos = seed_pos;
    char *db = sl_strdup(t->db), *name = sl_strdup(t->name);
    sl_my_catalog_put(s->cat, db, name, t);
    sl_my_tab_free(t);
    const sl_my_tab_t *in = sl_my_catalog_find(s->cat, db, name);
    if (sl_my_hist_record_table(s, at_file, at_pos, db, name, in, NULL, 0) != SL_OK)
        sl_error("%s", s->err);
    if (s->dec && sl_my_table_wanted(s, db, name)) sl_my_tab_register(s->dec, db, name, in);
    free(db);
    free(name);
    return in;
}

/* Read one table now (a table seen without a DDL sluice could follow). at_file/at_pos:
 * where in the stream this happens. NULL when it cannot be read. */
static const sl_my_tab_t *sl_my_hist_lookup(sl_my_source_t *s, const char *db,
                                            const char *name, const char *at_file,
                                            uint64_t at_pos)
{
    if (!s->meta) return NULL;
    char *sf;
    uint64_t sp;
    sl_my_seed_kind_t kind = sl_my_hist_seed_pos(s, s->meta, !s->conf->binlog_files.n, &sf,
                                                 &sp);
    sl_my_tab_t *t = sl_my_hist_read(s, s->meta, db, name);
    const sl_my_tab_t *in = NULL;
    if (t) {
        in = sl_my_hist_install_seed(s, t, kind, sf, sp, at_file ? at_file : "", at_pos);
        sl_info("schema of %s.%s read from the server (%u columns)", db, name, in->ncols);
    }
    free(sf);
    return in;
}

int sl_my_hist_seed(sl_my_source_t *s, MYSQL *m, bool online)
{
    if (!m) return SL_OK;
    char *sf = NULL;
    uint64_t sp = 0;
    bool have_pos = false;
    sl_my_seed_kind_t kind = SL_MY_SEED_NONE;
    for (size_t i = 0; i < s->ntables; i++) {
        const char *db = s->tdb[i];
        if (sl_my_catalog_has_db(s->cat, db)) continue;
        if (!have_pos) {
            /* before reading: DDL after this position is followed from the binlog */
            kind = sl_my_hist_seed_pos(s, m, online, &sf, &sp);
            have_pos = true;
            if (online && mysql_errno(m))
                sl_warn("schema history: SHOW MASTER STATUS failed (%s): the schemas read "
                        "now are taken as valid at %s", mysql_error(m),
                        kind == SL_MY_SEED_AT ? "the stream's start position"
                                              : "no known position");
        }
        sl_my_hist_read_db_charset(s, m, db);
        if (sl_my_hist_record_db(s, NULL, 0, db, false) != SL_OK) goto err;
        /* the tables of db: all of them for db.*, else the ones named */
        bool all = false;
        for (size_t k = 0; k < s->ntables; k++)
            all |= !strcmp(s->tdb[k], db) && !strcmp(s->ttable[k], "*");
        char **names = NULL;
        size_t n = 0;
        if (all) {
            sl_buf_t q = SL_BUF_INIT;
            sl_buf_puts(&q, "SHOW FULL TABLES FROM ");
            sl_my_ident(&q, db);
            sl_buf_puts(&q, " WHERE Table_type = 'BASE TABLE'");
            char *list = sl_my_hist_col0(m, sl_buf_cstr(&q));
            sl_buf_free(&q);
            for (char *p = list, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
                *nl = '\0';
                names = sl_realloc(names, (n + 1) * sizeof(char *));
                names[n++] = sl_strdup(p);
            }
            free(list);
        } else {
            for (size_t k = 0; k < s->ntables; k++)
                if (!strcmp(s->tdb[k], db)) {
                    names = sl_realloc(names, (n + 1) * sizeof(char *));
                    names[n++] = sl_strdup(s->ttable[k]);
                }
        }
        size_t got = 0;
        for (size_t k = 0; k < n; k++) {
            if (!sl_my_catalog_find(s->cat, db, names[k])) {
                sl_my_tab_t *t = sl_my_hist_read(s, m, db, names[k]);
                if (t) {
                    sl_my_hist_install_seed(s, t, kind, sf, sp, NULL, 0);
                    got++;
                }
            }
            free(names[k]);
        }
        free(names);
        if (kind == SL_MY_SEED_AT)
            sl_info("schema history: read %zu table schema%s of %s from the server (valid "
                    "at %s:%llu)", got, got == 1 ? "" : "s", db, sf, (unsigned long long)sp);
        else
            sl_info("schema history: read %zu table schema%s of %s from the server", got,
                    got == 1 ? "" : "s", db);
    }
    free(sf);
    return SL_OK;
err:
    free(sf);
    return SL_ERR;
}

/* ======================================================================================
 * Decoder
 * ==================================================================================== */

/* After every TABLE_MAP of a wanted table: make sure it has a schema, and that the schema
 * fits (sl_my_event turns s->schema_err into the error). */
static void sl_my_hist_hook(void *arg, sl_binlog_table_t *t)
{
    sl_my_source_t *s = arg;
    if (s->hist_quiet || !sl_my_table_wanted(s, t->db, t->name)) return;
    const sl_my_tab_t *tab = sl_my_catalog_find(s->cat, t->db, t->name);
    if (!tab) {
        tab = sl_my_hist_lookup(s, t->db, t->name, s->recv_file, s->recv_pos);
        if (tab) sl_binlog_table_apply_schema(s->dec, t);
    }
    char key[600];
    if (!tab) {
        snprintf(key, sizeof(key), "%s.%s@none", t->db, t->name);
        if (!t->meta_names && sl_my_hist_first(s, key))
            sl_warn("no schema for %s.%s (no CREATE TABLE for it in the binlog read so far, "
                    "and %s): its columns are named @1, @2 ...", t->db, t->name,
                    s->conf->binlog_files.n ? "no schema_dsn" : "the server did not show it");
        return;
    }
    char why[SL_ERRSTR_SIZE];
    if (sl_my_tab_check(tab, t, why, sizeof(why)) == SL_OK) return;
    if (t->meta_names) {
        snprintf(key, sizeof(key), "%s.%s@%llu", t->db, t->name,
                 (unsigned long long)tab->version);
        if (sl_my_hist_first(s, key))
            sl_warn("the schema sluice tracks for %s.%s does not match the binlog's TABLE_MAP "
                    "(%s); column names come from the binlog's metadata", t->db, t->name, why);
        return;
    }
    sl_err(s->schema_err, sizeof(s->schema_err), "%s.%s: its schema here is not the one "
           "sluice tracks (%s); sluice does not guess column names (binlog_row_metadata=FULL "
           "puts them in the binlog)", t->db, t->name, why);
}

void sl_my_hist_attach(sl_my_source_t *s)
{
    sl_binlog_decoder_set_table_hook(s->dec, sl_my_hist_hook, s);
    for (size_t i = 0; s->cat && i < sl_my_catalog_count(s->cat); i++) {
        const sl_my_tab_t *t = sl_my_catalog_at(s->cat, i);
        if (sl_my_table_wanted(s, t->db, t->name)) sl_my_tab_register(s->dec, t->db, t->name, t);
    }
}

/* ======================================================================================
 * DDL
 * ==================================================================================== */

/* One schema change event for the changes of wanted tables (none: no event). */
static int sl_my_hist_emit(sl_my_source_t *s, const sl_binlog_event_t *ev, const char *db,
                           const sl_my_ddl_res_t *res)
{
    sl_my_change_t *sel = sl_calloc(res->n ? res->n : 1, sizeof(*sel));
    size_t n = 0;
    for (size_t i = 0; i < res->n; i++) {
        const sl_my_change_t *c = &res->changes[i];
        if (sl_my_table_wanted(s, c->db, c->name) ||
            (c->old_name && sl_my_table_wanted(s, c->old_db, c->old_name)))
            sel[n++] = *c;
    }
    int rc = SL_OK;
    if (n) {
        sl_buf_t *arena = sl_emit_arena(s->p);
        sl_event_t e = {0};
        uint64_t ts = s->tx_ts_us ? s->tx_ts_us : (uint64_t)ev->timestamp * 1000000u;
        sl_my_ddl_env_t env = {
            .pipeline = sl_pipeline_name(s->p), .db = db, .ddl = ev->query.sql,
            .ddl_len = ev->query.sql_len, .file = s->file,
            .pos = ev->log_pos > ev->event_size ? ev->log_pos - ev->event_size : 0,
            .server_id = ev->server_id, .gtid = s->tx_gtid[0] ? s->tx_gtid : NULL,
            .thread = ev->query.thread_id, .commit_ts_us = ts, .now_us = sl_now_wall_us(),
        };
        sl_my_schema_event(arena, &env, sel, n, &e.key_off, &e.key_len, &e.val_off,
                           &e.val_len);
        e.table = sl_pipeline_table(s->p, db, "", sel[0].name);
        e.op = SL_OP_SCHEMA;
        e.shard = -1;
        e.commit_us = ts;
        rc = sl_emit_event(s->p, &e);
        if (rc != SL_OK) sl_err(s->err, sizeof(s->err), "stopping");
    }
    free(sel);
    return rc;
}

int sl_my_hist_ddl(sl_my_source_t *s, const sl_binlog_event_t *ev)
{
    char dflt[256];
    snprintf(dflt, sizeof(dflt), "%.*s", (int)ev->query.db_len, ev->query.db);
    const char *file = s->file ? s->file : "";
    uint64_t end = ev->log_pos;
    sl_my_ddl_opts_t o = {.default_db = dflt, .mariadb = s->mariadb, .file = file,
                          .pos = end};
    sl_my_ddl_res_t res;
    sl_my_ddl_rc_t rc = sl_my_ddl_apply(s->cat, ev->query.sql, ev->query.sql_len, &o, &res);
    if (rc == SL_MY_DDL_NONE) {
        sl_my_ddl_res_free(&res);
        return SL_OK;
    }
    int out = SL_OK;
    const char *db = res.db ? res.db : dflt;
    bool concerns_wanted = res.n == 0;   /* no table named: it may be a wanted one */
    for (size_t i = 0; i < res.n; i++)
        concerns_wanted |= sl_my_table_wanted(s, res.changes[i].db, res.changes[i].name);
    if (rc == SL_MY_DDL_UNKNOWN && !concerns_wanted) {
        /* an unwanted table sluice does not track (e.g. the other tables of a database
         * of which only some are wanted): nothing to follow */
        sl_debug("DDL at %s:%llu on a table sluice does not track: %.*s", file,
                 (unsigned long long)end,
                 (int)(ev->query.sql_len > 200 ? 200 : ev->query.sql_len), ev->query.sql);
    } else if (rc == SL_MY_DDL_UNKNOWN) {
        sl_buf_t names = SL_BUF_INIT;
        for (size_t i = 0; i < res.n; i++)
            sl_buf_printf(&names, "%s%s.%s", i ? ", " : "", res.changes[i].db,
                          res.changes[i].name);
        sl_warn("DDL at %s:%llu cannot be followed (%s): %.*s%s%s%s", file,
                (unsigned long long)end, res.err, (int)(ev->query.sql_len > 300 ? 300
                                                        : ev->query.sql_len), ev->query.sql,
                res.n ? "; reading the schema of " : "", res.n ? sl_buf_cstr(&names) : "",
                !res.n ? "" : s->meta ? " from the server" : " is not possible without a "
                "server (schema_dsn)");
        sl_buf_free(&names);
    }
    for (size_t i = 0; i < res.n && out == SL_OK; i++) {
        sl_my_change_t *c = &res.changes[i];
        bool tracked = sl_my_catalog_tracks_db(s->cat, c->db);
        if (!c->tab && c->type != SL_MY_TC_DROP) {
            /* not understood, or renamed from a table sluice did not track */
            if (c->old_name && sl_my_catalog_tracks_db(s->cat, c->old_db)) {
                sl_my_catalog_put(s->cat, c->old_db, c->old_name, NULL);
                out = sl_my_hist_record_table(s, file, end, c->old_db, c->old_name, NULL,
                                              ev->query.sql, ev->query.sql_len);
            }
            bool wanted = tracked && sl_my_table_wanted(s, c->db, c->name);
            const sl_my_tab_t *t = wanted ? sl_my_hist_lookup(s, c->db, c->name, file, end)
                                          : NULL;
            if (t) {
                c->tab = sl_my_tab_dup(t);
            } else if (wanted && sl_my_catalog_find(s->cat, c->db, c->name)) {
                /* what the statement did is unknown and cannot be read: forget the schema
                 * rather than name columns by a guess */
                sl_warn("%s.%s: no schema from here on (the statement above could not be "
                        "followed and the table could not be read from a server): its "
                        "columns are named @1, @2 ... unless the binlog has names",
                        c->db, c->name);
                sl_my_catalog_put(s->cat, c->db, c->name, NULL);
                out = sl_my_hist_record_table(s, file, end, c->db, c->name, NULL,
                                              ev->query.sql, ev->query.sql_len);
                if (s->dec) sl_my_tab_register(s->dec, c->db, c->name, NULL);
            }
            continue;
        }
        if (c->old_name) {
            if (sl_my_catalog_tracks_db(s->cat, c->old_db))
                out = sl_my_hist_record_table(s, file, end, c->old_db, c->old_name, NULL,
                                              ev->query.sql, ev->query.sql_len);
            if (s->dec && sl_my_table_wanted(s, c->old_db, c->old_name))
                sl_my_tab_register(s->dec, c->old_db, c->old_name, NULL);
        }
        if (!tracked || out != SL_OK) continue;
        const sl_my_tab_t *now = c->type == SL_MY_TC_DROP ? NULL
                               : sl_my_catalog_find(s->cat, c->db, c->name);
        out = sl_my_hist_record_table(s, file, end, c->db, c->name, now, ev->query.sql,
                                      ev->query.sql_len);
        if (s->dec && sl_my_table_wanted(s, c->db, c->name))
            sl_my_tab_register(s->dec, c->db, c->name, now);
    }
    if (out == SL_OK && res.db_charset_changed && res.db) {
        bool dropped = !sl_my_catalog_has_db(s->cat, res.db);
        if (!dropped && !sl_my_catalog_db_charset(s->cat, res.db) && s->meta)
            sl_my_hist_read_db_charset(s, s->meta, res.db);
        out = sl_my_hist_record_db(s, file, end, res.db, dropped);
    }
    if (res.skipped)
        sl_debug("DDL at %s:%llu is older than the schema read from the server for %u "
                 "table(s); not applied to them: %.*s", file, (unsigned long long)end,
                 res.skipped, (int)(ev->query.sql_len > 200 ? 200 : ev->query.sql_len),
                 ev->query.sql);
    if (out == SL_OK && s->schema_events) out = sl_my_hist_emit(s, ev, db, &res);
    sl_my_ddl_res_free(&res);
    return out;
}
