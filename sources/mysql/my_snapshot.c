/*
 * my_snapshot.c - initial snapshots for the MySQL / MariaDB source.
 *
 * Consistency: up to max_parallel_tables worker connections each run START TRANSACTION
 * WITH CONSISTENT SNAPSHOT, and all of them must see the same state S, whose binlog
 * position is where streaming starts (so the stream holds exactly the changes after S):
 *  - MariaDB reports the binlog position of each connection's snapshot in the status
 *    variables binlog_snapshot_file / binlog_snapshot_position, taken under the same
 *    mutex that orders commits into the binlog. Snapshots with the same position contain
 *    exactly the same binlogged transactions, so the workers start their transactions
 *    together (pipelined, within one round trip) without any lock, and when every one
 *    reports the same position that is S. Writers committing in between make them
 *    differ: the transactions are rolled back and started again (SLUICE_MY_SNAPSHOT_TRIES
 *    attempts, default 10). One worker needs no agreement.
 *  - When they never agree, a separate "control" connection takes a brief lock that
 *    stops commits (MariaDB 10.4+: BACKUP STAGE START + BLOCK_COMMIT, which leaves reads
 *    and InnoDB writes before their commit alone; else FLUSH TABLES WITH READ LOCK; both
 *    need RELOAD), the workers start their transactions, and the lock is released at
 *    once. Without RELOAD (or when the lock cannot be had within lock_wait_timeout = 10 s)
 *    the snapshot falls back to one worker, reading the tables one after another, and
 *    logs why.
 *  - MySQL has no per-snapshot position: the control connection always takes FLUSH TABLES
 *    WITH READ LOCK around starting the workers and reading SHOW MASTER STATUS (RELOAD).
 *
 * Scheduling mirrors pg_snapshot.c: everything runs on the source thread; each worker
 * reads one table at a time and keeps one chunk query in flight (mysql_send_query) while
 * the source thread receives and emits another worker's chunk, so the server reads up to
 * max_parallel_tables tables at once and events are only ever emitted from this thread.
 *
 * Chunks: keyset pagination on the primary key (k > last, written as
 * k1 > v1 OR (k1 = v1 AND k2 > v2) ... so every server uses the index), ORDER BY the key,
 * LIMIT chunk_size + 1 (the extra row says whether another chunk follows), stored whole
 * (memory: one chunk per worker); keyless tables are read in one pass (mysql_use_result
 * streams rows, while the other workers' results wait). Each chunk is a batcher
 * transaction whose checkpoint carries the progress of every table; a restart resumes
 * after the last acknowledged chunk of each table and still streams from the first
 * snapshot's position (see pg_snapshot.c for why that stays consistent).
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
    char            *select;      /* SELECT every column by name FROM the table */
    sl_mysnap_col_t *cols;
    size_t           ncols;
    int             *pk;          /* column indexes in key order */
    size_t           npk;
    char           **last;        /* escaped literal of the last key values */
    unsigned long   *last_len;    /* while a chunk is read: lengths of its last row's key */
    bool             have_last;
    const char      *where;
    bool             done;
    uint64_t         rows;
} sl_mysnap_table_t;

typedef struct sl_mysnap_worker {
    MYSQL             *c;
    sl_mysnap_table_t *t;          /* table being read, NULL when idle */
    bool               busy;       /* a chunk query is in flight */
} sl_mysnap_worker_t;

typedef struct sl_mysnap {
    sl_my_source_t     *s;
    MYSQL              *c;         /* control: catalog and the brief lock */
    sl_mysnap_worker_t *w;
    size_t              nw;
    sl_mysnap_table_t  *t;
    size_t              nt, next;  /* next: first table not yet given to a worker */
    char               *file;      /* stream start */
    uint64_t            pos;
    uint64_t            rows;
    bool                first_done;
    bool                unmarked;  /* the last row emitted says "true" and may be the
                                      snapshot's last */
    uint64_t            ts_us;
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

/* The result code for a failed call on c: a lost connection (client errors, 2000-2999)
 * is worth a reconnect (SL_AGAIN), a server error (a bad `where`, a dropped table, a
 * missing privilege) is not (SL_ERR). */
static int sl_mysnap_rc(MYSQL *c)
{
    unsigned e = mysql_errno(c);
    return e >= 2000 && e < 3000 ? SL_AGAIN : SL_ERR;
}

static int sl_mysnap_qc(sl_mysnap_t *sn, MYSQL *c, const char *q)
{
    if (mysql_query(c, q) != 0) {
        sl_err(sn->s->err, sizeof(sn->s->err), "snapshot: %s: %s", q, mysql_error(c));
        return sl_mysnap_rc(c);
    }
    return SL_OK;
}

static int sl_mysnap_q(sl_mysnap_t *sn, const char *q) { return sl_mysnap_qc(sn, sn->c, q); }

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
            t->cols[c].name = sl_strdup(row[0]);
            t->cols[c].kind = sl_myk_of(row[1], row[2],
                                        sl_my_json_check(sl_buf_cstr(&checks), row[0]));
        }
        if (res) mysql_free_result(res);
        sl_buf_free(&checks);
        /* every column by name: SELECT * leaves out INVISIBLE ones (MariaDB 10.3+, MySQL
         * 8.0.23+), which the binlog's rows hold */
        sl_buf_t sel = SL_BUF_INIT;
        sl_buf_puts(&sel, "SELECT ");
        for (size_t c = 0; c < t->ncols; c++) {
            if (c) sl_buf_puts(&sel, ", ");
            sl_my_ident(&sel, t->cols[c].name);
        }
        sl_buf_puts(&sel, " FROM ");
        sl_my_ident(&sel, t->db);
        sl_buf_putc(&sel, '.');
        sl_my_ident(&sel, t->name);
        t->select = sl_buf_steal(&sel);
        snprintf(q, sizeof(q), "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
                 "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' AND CONSTRAINT_NAME = "
                 "'PRIMARY' ORDER BY ORDINAL_POSITION", edb, etb);
        if (sl_mysnap_q(sn, q) != SL_OK) return SL_ERR;
        res = mysql_store_result(sn->c);
        t->pk = sl_calloc(t->ncols + 1, sizeof(int));
        t->last = sl_calloc(t->ncols + 1, sizeof(char *));
        t->last_len = sl_calloc(t->ncols + 1, sizeof(unsigned long));
        while (res && (row = mysql_fetch_row(res)))
            for (size_t c = 0; c < t->ncols; c++)
                if (!strcmp(t->cols[c].name, row[0])) t->pk[t->npk++] = (int)c;
        if (res) mysql_free_result(res);
    }
    return SL_OK;
}

/* ---- one view for every worker ---------------------------------------------------- */

#define SL_MYSNAP_TRIES_DEFAULT 10

/* Lock-free attempts before the lock (SLUICE_MY_SNAPSHOT_TRIES, 0..1000; 0: lock at once). */
static int sl_mysnap_tries(void)
{
    const char *e = getenv("SLUICE_MY_SNAPSHOT_TRIES");
    char *end = NULL;
    long v = e && *e ? strtol(e, &end, 10) : -1;
    if (!e || !*e || *end || v < 0 || v > 1000) return SL_MYSNAP_TRIES_DEFAULT;
    return (int)v;
}

/* Open a worker connection: UTC (TIMESTAMP text), REPEATABLE READ, and a long write
 * timeout: the server may wait on a full socket while the source thread emits another
 * worker's chunk or the sinks push back. */
static MYSQL *sl_mysnap_worker_open(sl_mysnap_t *sn)
{
    MYSQL *c = sl_my_connect(sn->s, &sn->s->dsn);
    if (!c) return NULL;
    if (sl_mysnap_qc(sn, c, "SET time_zone = '+00:00', net_write_timeout = 86400") != SL_OK ||
        sl_mysnap_qc(sn, c, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            != SL_OK) {
        mysql_close(c);
        return NULL;
    }
    return c;
}

/* Start every worker's transaction, pipelined: all are sent before any reply is read, so
 * they open within one round trip of each other. */
static int sl_mysnap_start_all(sl_mysnap_t *sn)
{
    static const char q[] = "START TRANSACTION WITH CONSISTENT SNAPSHOT";
    size_t sent = 0;
    int rc = SL_OK;
    for (; sent < sn->nw; sent++)
        if (mysql_send_query(sn->w[sent].c, q, sizeof(q) - 1) != 0) break;
    for (size_t i = 0; i < sn->nw; i++) {
        MYSQL *c = sn->w[i].c;
        bool failed = i < sent ? mysql_read_query_result(c) != 0 : i == sent;
        if (failed && rc == SL_OK) {
            sl_err(sn->s->err, sizeof(sn->s->err), "snapshot: %s (connection %zu): %s", q,
                   i + 1, mysql_error(c));
            rc = sl_mysnap_rc(c);
        }
    }
    return rc;
}

static int sl_mysnap_rollback_all(sl_mysnap_t *sn)
{
    for (size_t i = 0; i < sn->nw; i++)
        if (sl_mysnap_qc(sn, sn->w[i].c, "ROLLBACK") != SL_OK) return sl_mysnap_rc(sn->w[i].c);
    return SL_OK;
}

/* MariaDB: the binlog position of c's snapshot into *file (replaced) and *pos. */
static int sl_mysnap_snap_pos(sl_mysnap_t *sn, MYSQL *c, char **file, uint64_t *pos)
{
    int rc = sl_mysnap_qc(sn, c, "SHOW STATUS LIKE 'binlog_snapshot_%'");
    if (rc != SL_OK) return rc;
    MYSQL_RES *res = mysql_store_result(c);
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res))) {
        if (!row[0] || !row[1]) continue;
        if (!strcasecmp(row[0], "binlog_snapshot_file"))
            sl_my_set_str(file, row[1], strlen(row[1]));
        else if (!strcasecmp(row[0], "binlog_snapshot_position"))
            *pos = strtoull(row[1], NULL, 10);
    }
    if (res) mysql_free_result(res);
    return SL_OK;
}

/* MariaDB: the workers' snapshot positions. *same = all equal; sn->file/pos = the first. */
static int sl_mysnap_positions(sl_mysnap_t *sn, bool *same)
{
    *same = true;
    char *f = NULL;
    int rc = SL_OK;
    for (size_t i = 0; i < sn->nw && rc == SL_OK; i++) {
        uint64_t p = 0;
        rc = sl_mysnap_snap_pos(sn, sn->w[i].c, i ? &f : &sn->file, i ? &p : &sn->pos);
        if (rc == SL_OK && i && (!f || !sn->file || strcmp(f, sn->file) || p != sn->pos))
            *same = false;
    }
    free(f);
    return rc;
}

/* The brief lock on the control connection that stops commits. *how names it (NULL when
 * it could not be had: s->err says why). */
static int sl_mysnap_lock(sl_mysnap_t *sn, const char **how)
{
    sl_my_source_t *s = sn->s;
    *how = NULL;
    /* a long DDL must not hold the lock request (and every commit behind it) for long */
    int rc = sl_mysnap_q(sn, "SET SESSION lock_wait_timeout = 10");
    if (rc != SL_OK) return rc;
    if (s->mariadb && mysql_query(sn->c, "BACKUP STAGE START") == 0) {
        if (sl_mysnap_q(sn, "BACKUP STAGE BLOCK_COMMIT") == SL_OK) {
            *how = "BACKUP STAGE BLOCK_COMMIT";
            return SL_OK;
        }
        mysql_query(sn->c, "BACKUP STAGE END");
        return sl_mysnap_rc(sn->c) == SL_AGAIN ? SL_AGAIN : SL_OK;
    }
    if (sl_mysnap_q(sn, "FLUSH TABLES WITH READ LOCK") == SL_OK) {
        *how = "FLUSH TABLES WITH READ LOCK";
        return SL_OK;
    }
    return sl_mysnap_rc(sn->c) == SL_AGAIN ? SL_AGAIN : SL_OK;
}

static int sl_mysnap_unlock(sl_mysnap_t *sn, const char *how)
{
    return sl_mysnap_q(sn, strncmp(how, "BACKUP", 6) ? "UNLOCK TABLES" : "BACKUP STAGE END");
}

/* MySQL: start the workers under FLUSH TABLES WITH READ LOCK; SHOW MASTER STATUS. */
static int sl_mysnap_begin_mysql(sl_mysnap_t *sn)
{
    sl_my_source_t *s = sn->s;
    if (sl_mysnap_q(sn, "FLUSH TABLES WITH READ LOCK") != SL_OK) {
        char e[SL_ERRSTR_SIZE];
        snprintf(e, sizeof(e), "%s", s->err);
        sl_err(s->err, sizeof(s->err), "%s (a consistent snapshot on MySQL needs the "
               "RELOAD privilege for a brief FLUSH TABLES WITH READ LOCK)", e);
        return sl_mysnap_rc(sn->c);
    }
    int rc = sl_mysnap_start_all(sn);
    if (rc == SL_OK && sl_my_query_binlog_status(sn->c) != 0) {
        sl_err(s->err, sizeof(s->err), "snapshot: SHOW MASTER STATUS: %s",
               mysql_error(sn->c));
        rc = sl_mysnap_rc(sn->c);
    }
    if (rc == SL_OK) {
        MYSQL_RES *res = mysql_store_result(sn->c);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (row && row[0] && row[1]) {
            sl_my_set_str(&sn->file, row[0], strlen(row[0]));
            sn->pos = strtoull(row[1], NULL, 10);
        }
        if (res) mysql_free_result(res);
    }
    int urc = sl_mysnap_q(sn, "UNLOCK TABLES");
    return rc != SL_OK ? rc : urc;
}

/* MariaDB: lock-free attempts, else the brief lock, else one worker (see the top). */
static int sl_mysnap_begin_mariadb(sl_mysnap_t *sn)
{
    sl_my_source_t *s = sn->s;
    int rc;
    bool same = false;
    int tries = sn->nw == 1 ? 1 : sl_mysnap_tries();
    for (int k = 0; k < tries; k++) {
        if ((rc = sl_mysnap_start_all(sn)) != SL_OK ||
            (rc = sl_mysnap_positions(sn, &same)) != SL_OK)
            return rc;
        if (same) {
            if (sn->nw > 1)
                sl_info("snapshot: %zu connections share one snapshot at %s:%llu (attempt "
                        "%d, no lock)", sn->nw, sn->file ? sn->file : "?",
                        (unsigned long long)sn->pos, k + 1);
            return SL_OK;
        }
        if ((rc = sl_mysnap_rollback_all(sn)) != SL_OK) return rc;
    }
    const char *how = NULL;
    if ((rc = sl_mysnap_lock(sn, &how)) != SL_OK) return rc;
    if (how) {
        rc = sl_mysnap_start_all(sn);
        if (rc == SL_OK) rc = sl_mysnap_positions(sn, &same);
        int urc = sl_mysnap_unlock(sn, how);
        if (rc == SL_OK) rc = urc;
        if (rc != SL_OK) return rc;
        if (!same) {
            sl_err(s->err, sizeof(s->err), "snapshot: the connections report different "
                   "binlog positions even under %s", how);
            return SL_AGAIN;
        }
        sl_info("snapshot: %zu connections share one snapshot at %s:%llu (opened under a "
                "brief %s after %d lock-free attempt%s)", sn->nw, sn->file ? sn->file : "?",
                (unsigned long long)sn->pos, how, tries, tries == 1 ? "" : "s");
        return SL_OK;
    }
    sl_warn("snapshot: %zu connections could not open one consistent snapshot (writers "
            "moved the binlog between them in %d attempt%s, and a brief lock failed: %s); "
            "reading the tables one after another on one connection (grant RELOAD to "
            "read %zu at once)", sn->nw, tries, tries == 1 ? "" : "s", s->err, sn->nw);
    for (size_t i = 1; i < sn->nw; i++) {
        mysql_close(sn->w[i].c);
        sn->w[i].c = NULL;
    }
    sn->nw = 1;
    if ((rc = sl_mysnap_start_all(sn)) != SL_OK) return rc;
    return sl_mysnap_positions(sn, &same);
}

/* Give every worker a transaction on one state S and set sn->file/pos to its binlog
 * position. May reduce the workers to one (MariaDB without RELOAD). */
static int sl_mysnap_begin(sl_mysnap_t *sn)
{
    sl_my_source_t *s = sn->s;
    int rc = s->mariadb ? sl_mysnap_begin_mariadb(sn) : sl_mysnap_begin_mysql(sn);
    if (rc == SL_OK && (!sn->file || !*sn->file)) {
        sl_err(s->err, sizeof(s->err), "snapshot: the server reports no binlog position "
               "(is log_bin on?)");
        return SL_ERR;
    }
    return rc;
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
    sl_buf_puts(o, "},\"source\":{\"version\":\"" SL_VERSION "\",\"connector\":\"mysql\","
                   "\"name\":");
    sl_json_cstr(o, sl_pipeline_name(s->p));
    sl_buf_puts(o, ",\"ts_ms\":");
    sl_json_u64(o, sn->ts_us / 1000);
    sl_buf_puts(o, ",\"snapshot\":\"");
    sl_buf_puts(o, mark);
    sl_buf_puts(o, "\",\"db\":");
    sl_json_cstr(o, t->db);
    sl_buf_puts(o, ",\"sequence\":null,\"ts_us\":");
    sl_json_u64(o, sn->ts_us);
    sl_buf_puts(o, ",\"ts_ns\":");
    sl_json_u64(o, sn->ts_us);
    sl_buf_puts(o, "000,\"table\":");
    sl_json_cstr(o, t->name);
    sl_buf_puts(o, ",\"server_id\":0,\"gtid\":null,\"file\":");
    sl_json_cstr(o, sn->file);
    sl_buf_puts(o, ",\"pos\":");
    sl_json_u64(o, sn->pos);
    sl_buf_puts(o, ",\"row\":0,\"thread\":null,\"query\":null},\"op\":\"r\",\"ts_ms\":");
    sl_json_u64(o, now / 1000);
    sl_buf_puts(o, ",\"ts_us\":");
    sl_json_u64(o, now);
    sl_buf_puts(o, ",\"ts_ns\":");
    sl_json_u64(o, now);
    sl_buf_puts(o, "000,\"transaction\":null}");
    ev->val_len = (uint32_t)(o->len - ev->val_off);
    ev->table = sl_pipeline_table(s->p, t->db, "", t->name);
    ev->op = SL_OP_READ;
    ev->shard = shard_end ? sl_pipeline_shard(s->p, o->data + shard_off, shard_end - shard_off)
                          : (sl_pipeline_spec(s->p)->sharding ? 0 : -1);
    ev->commit_us = sn->ts_us;
}

/* Mark the very last snapshot row: its "snapshot":"true" becomes "last" (same length),
 * in place, while the event still sits in the open batch (the source block is the last
 * place the marker appears in an event). */
static void sl_mysnap_mark_last(sl_mysnap_t *sn)
{
    sl_buf_t *o = sl_emit_arena(sn->s->p);
    static const char needle[] = "\"snapshot\":\"true\"";
    size_t nl = sizeof(needle) - 1;
    for (size_t i = o->len >= nl ? o->len - nl + 1 : 0; i-- > 0;)
        if (!memcmp(o->data + i, needle, nl)) {
            memcpy(o->data + i + 12, "last", 4);
            sn->unmarked = false;
            return;
        }
}

/* Send w's next chunk query of w->t (the reply is read by sl_mysnap_recv). */
static int sl_mysnap_send(sl_mysnap_t *sn, sl_mysnap_worker_t *w)
{
    sl_my_source_t *s = sn->s;
    sl_mysnap_table_t *t = w->t;
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, t->select);
    bool where = false;
    if (t->npk && t->have_last) {
        /* k1 > v1 OR (k1 = v1 AND k2 > v2) OR ... */
        sl_buf_puts(&q, " WHERE (");
        for (size_t k = 0; k < t->npk; k++) {
            if (k) sl_buf_puts(&q, " OR ");
            sl_buf_putc(&q, '(');
            for (size_t e = 0; e < k; e++) {
                sl_my_ident(&q, t->cols[t->pk[e]].name);
                sl_buf_printf(&q, " = '%s' AND ", t->last[e]);
            }
            sl_my_ident(&q, t->cols[t->pk[k]].name);
            sl_buf_printf(&q, " > '%s')", t->last[k]);
        }
        sl_buf_putc(&q, ')');
        where = true;
    }
    if (t->where) sl_buf_printf(&q, " %s (%s)", where ? "AND" : "WHERE", t->where);
    if (t->npk) {
        sl_buf_puts(&q, " ORDER BY ");
        for (size_t k = 0; k < t->npk; k++) {
            if (k) sl_buf_puts(&q, ", ");
            sl_my_ident(&q, t->cols[t->pk[k]].name);
        }
        /* one row more than a chunk: tells whether another chunk follows */
        sl_buf_printf(&q, " LIMIT %lld", (long long)s->conf->snapshot.chunk_size + 1);
    }
    int rc = SL_OK;
    if (mysql_send_query(w->c, q.data, (unsigned long)q.len) != 0) {
        sl_err(s->err, sizeof(s->err), "snapshot of %s: %s", t->qname, mysql_error(w->c));
        rc = sl_mysnap_rc(w->c);
    }
    sl_buf_free(&q);
    w->busy = rc == SL_OK;
    return rc;
}

/* Read w's chunk and emit it as one batcher transaction carrying the progress. SL_OK,
 * SL_ERR / SL_AGAIN (s->err set), or SL_OK with *stopped when an event could not be
 * emitted because the pipeline is stopping. */
static int sl_mysnap_recv(sl_mysnap_t *sn, sl_mysnap_worker_t *w, bool *stopped)
{
    sl_my_source_t *s = sn->s;
    sl_mysnap_table_t *t = w->t;
    w->busy = false;
    MYSQL_RES *res = NULL;
    if (mysql_read_query_result(w->c) != 0 ||
        !(res = t->npk ? mysql_store_result(w->c) : mysql_use_result(w->c))) {
        sl_err(s->err, sizeof(s->err), "snapshot of %s: %s", t->qname, mysql_error(w->c));
        return sl_mysnap_rc(w->c);
    }
    if (mysql_num_fields(res) != t->ncols) {
        /* the query names every column of t->cols; anything else is a server surprise */
        sl_err(s->err, sizeof(s->err), "snapshot of %s: the server returned %u columns, "
               "information_schema lists %zu", t->qname, mysql_num_fields(res), t->ncols);
        mysql_free_result(res);
        return SL_ERR;
    }
    /* The snapshot's final chunk: this table ends with it (known once the extra row is
     * seen or missing) and no other table is pending. */
    bool others = false;
    for (size_t i = 0; i < sn->nt && !others; i++) others = &sn->t[i] != t && !sn->t[i].done;
    sl_emit_tx_begin(s->p);
    MYSQL_ROW row, last = NULL;
    uint64_t n = 0;
    bool more = false;
    while ((row = mysql_fetch_row(res))) {
        if (t->npk && (int64_t)n == s->conf->snapshot.chunk_size) {
            more = true;   /* the extra row: the next chunk reads it again */
            continue;
        }
        unsigned long *len = mysql_fetch_lengths(res);
        sl_event_t ev = {0};
        sl_mysnap_encode(sn, t, row, len, sn->first_done ? "true" : "first", &ev);
        if (sl_emit_event(s->p, &ev) != SL_OK) {
            *stopped = true;
            break;
        }
        sn->unmarked = sn->first_done;
        sn->first_done = true;
        n++;
        if (t->npk) {
            /* a stored result: the row stays valid until it is freed */
            last = row;
            for (size_t k = 0; k < t->npk; k++) t->last_len[k] = len[t->pk[k]];
        }
    }
    if (last) {
        /* The chunk's last key, escaped once per chunk for the next chunk's query. */
        for (size_t k = 0; k < t->npk; k++) {
            int c = t->pk[k];
            free(t->last[k]);
            t->last[k] = sl_malloc(t->last_len[k] * 2 + 1);
            mysql_real_escape_string(w->c, t->last[k], last[c] ? last[c] : "",
                                     t->last_len[k]);
        }
        t->have_last = true;
    }
    if (!*stopped && mysql_errno(w->c)) {
        sl_err(s->err, sizeof(s->err), "snapshot of %s: %s", t->qname, mysql_error(w->c));
        int rc = sl_mysnap_rc(w->c);
        mysql_free_result(res);
        return rc;
    }
    mysql_free_result(res);
    if (*stopped) return SL_OK;
    t->rows += n;
    sn->rows += n;
    sl_pipeline_add_snapshot_rows(s->p, n);
    if (!more) t->done = true;
    if (t->done && !others && sn->unmarked) sl_mysnap_mark_last(sn);
    sl_pos_t pos = {.lsn = 0};
    sl_mysnap_progress(sn, &pos.json);
    int rc = sl_emit_tx_commit(s->p, &pos);
    sl_buf_free(&pos.json);
    if (rc != SL_OK) *stopped = true;
    if (t->done) {
        size_t left = 0;
        for (size_t i = 0; i < sn->nt; i++) left += !sn->t[i].done;
        sl_info("snapshot: %s done, %llu rows (%zu table%s left, %llu rows so far)", t->qname,
                (unsigned long long)t->rows, left, left == 1 ? "" : "s",
                (unsigned long long)sn->rows);
    }
    return SL_OK;
}

static void sl_mysnap_resume(sl_mysnap_t *sn, json_t *resume)
{
    for (size_t i = 0; i < sn->nt; i++) {
        sl_mysnap_table_t *t = &sn->t[i];
        t->done = sl_snapshot_resume_table(resume, t->qname, t->npk, t->last, &t->have_last);
    }
}

/* Round-robin over the workers, as pg_snapshot.c: each keeps one query in flight while
 * the source thread emits another's chunk. */
static int sl_mysnap_run(sl_mysnap_t *sn, bool *stopped)
{
    sl_my_source_t *s = sn->s;
    for (;;) {
        if (sl_pipeline_stopping(s->p)) {
            *stopped = true;
            return SL_OK;
        }
        bool any = false;
        for (size_t i = 0; i < sn->nw; i++) {
            sl_mysnap_worker_t *w = &sn->w[i];
            if (!w->t) {
                while (sn->next < sn->nt && sn->t[sn->next].done) sn->next++;
                if (sn->next < sn->nt) {
                    w->t = &sn->t[sn->next++];
                    sl_info("snapshot: reading %s on connection %zu of %zu", w->t->qname,
                            i + 1, sn->nw);
                }
            }
            int rc;
            if (w->t && !w->busy && (rc = sl_mysnap_send(sn, w)) != SL_OK) return rc;
            any |= w->busy;
        }
        if (!any) return SL_OK;
        for (size_t i = 0; i < sn->nw; i++) {
            sl_mysnap_worker_t *w = &sn->w[i];
            if (!w->busy) continue;
            int rc = sl_mysnap_recv(sn, w, stopped);
            if (rc != SL_OK || *stopped) return rc;
            if (w->t->done) w->t = NULL;
            else if ((rc = sl_mysnap_send(sn, w)) != SL_OK) return rc;
        }
    }
}

int sl_my_snapshot(sl_my_source_t *s, json_t *resume, bool *stopped)
{
    sl_mysnap_t sn = {.s = s};
    *stopped = false;
    int rc = SL_AGAIN;
    sn.c = sl_my_connect(s, &s->dsn);
    if (!sn.c) return SL_AGAIN;
    if ((rc = sl_mysnap_q(&sn, "SET time_zone = '+00:00'")) != SL_OK) goto out;
    if ((rc = sl_mysnap_tables(&sn)) != SL_OK) goto out;
    if (resume) sl_mysnap_resume(&sn, resume);
    size_t todo = 0;
    for (size_t i = 0; i < sn.nt; i++) todo += !sn.t[i].done;
    sn.nw = (size_t)s->conf->snapshot.max_parallel_tables;
    if (sn.nw > todo) sn.nw = todo ? todo : 1;
    sn.w = sl_calloc(sn.nw, sizeof(*sn.w));
    for (size_t i = 0; i < sn.nw; i++)
        if (!(sn.w[i].c = sl_mysnap_worker_open(&sn))) {
            rc = SL_AGAIN;
            goto out;
        }
    if ((rc = sl_mysnap_begin(&sn)) != SL_OK) goto out;
    mysql_close(sn.c);   /* catalog read, lock released: the workers hold the view */
    sn.c = NULL;
    /* a resumed snapshot still streams from the first snapshot's position */
    const char *f = resume ? json_string_value(json_object_get(resume, "file")) : NULL;
    if (f) {
        sl_my_set_str(&sn.file, f, strlen(f));
        sn.pos = (uint64_t)json_integer_value(json_object_get(resume, "pos"));
    }
    sn.first_done = resume != NULL;
    sn.ts_us = sl_now_wall_us();
    sl_info("snapshot: %zu table%s to read at %s:%llu%s (chunks of %lld rows, %zu in "
            "parallel)", todo, todo == 1 ? "" : "s", sn.file, (unsigned long long)sn.pos,
            resume ? ", resuming" : "", (long long)s->conf->snapshot.chunk_size, sn.nw);
    rc = sl_mysnap_run(&sn, stopped);
    if (rc != SL_OK || *stopped) {
        if (rc == SL_AGAIN && sl_pipeline_stopping(s->p)) {
            *stopped = true;
            rc = SL_OK;
        }
        goto out;
    }
    if (sn.unmarked) sl_mysnap_mark_last(&sn);
    /* Complete: the checkpoint now says "stream from the snapshot's position". */
    sl_my_set_str(&s->recv_file, sn.file, strlen(sn.file));
    s->recv_pos = sn.pos;
    /* with the GTID state there (MariaDB), so that a restart can resume by GTID */
    sl_buf_reset(&s->gtid_state);
    s->gtid_complete = false;
    if (s->mariadb) sl_my_gtid_seed(s, s->meta);
    sl_pos_t pos = {.lsn = sn.pos};
    sl_my_pos_json(s, &pos.json);
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
    /* Closing ends the workers' read-only transactions. */
    for (size_t i = 0; i < sn.nw; i++)
        if (sn.w && sn.w[i].c) mysql_close(sn.w[i].c);
    free(sn.w);
    if (sn.c) mysql_close(sn.c);
    for (size_t i = 0; i < sn.nt; i++) {
        sl_mysnap_table_t *t = &sn.t[i];
        for (size_t c = 0; c < t->ncols; c++) {
            free(t->cols[c].name);
            free(t->last[c]);
        }
        free(t->cols);
        free(t->last);
        free(t->last_len);
        free(t->pk);
        free(t->db);
        free(t->name);
        free(t->qname);
        free(t->select);
    }
    free(sn.t);
    free(sn.file);
    return rc;
}
