/*
 * my_source.c - the MySQL / MariaDB binlog source (type "mysql").
 *
 * Reads the binary log as a replica does (MariaDB Connector/C's mariadb_rpl_* API; the
 * raw events go to binlog_decode.c, which does no I/O), or replays local binlog files
 * (`binlog_files`). Emits one event per row through sl_emit_*(), a transaction being
 * GTID/BEGIN ... XID/COMMIT.
 *
 * Positions: "received" is the end (file, pos) of the last transaction handed to the
 * batcher, with the GTID state through it; the checkpoint the committer persists is the
 * same triple for the last transaction whose batches met the commit policy. A reconnect
 * resumes from the received position (the batches in flight still get delivered), so it
 * adds no duplicates; a restart resumes from the checkpoint. On MariaDB the GTID state is
 * complete (every domain: seeded with BINLOG_GTID_POS at the file position streaming
 * starts from, then each GTID streamed), and a complete state is where both resume, by
 * @slave_connect_state, so a failover to another server keeps the place. MySQL has no
 * replication feedback, so ack() has nothing to tell the server.
 *
 * Schemas: column names, keys, signedness, ENUM/SET labels and charsets come from the
 * TABLE_MAP optional metadata (binlog_row_metadata=FULL); what is missing comes from the
 * schema sluice tracks across DDL, with its history in the data dir (my_history.c), so
 * events are decoded with the schema they were written with. DDL also becomes a schema
 * change event for sinks with `schema_changes`.
 *
 * Thread: the pipeline's source thread.
 */
#include "sl_common.h"
#include "sl_pipeline.h"
#include "sl_log.h"
#include "sl_json.h"
#include "binlog_decode.h"
#include "my_gtid.h"
#include "my_source.h"

#include <errno.h>
#include <ctype.h>
#include <sys/stat.h>

#define SL_MY_BACKOFF_MAX_MS 30000

/* ---- configuration --------------------------------------------------------------- */



static const char *const sl_my_snapshot_modes[] = {"initial", "never", "initial_only",
                                                    "always", NULL};

static const sl_conf_def_t sl_my_snap_defs[] = {
    {.key = "mode", .type = SL_CT_ENUM, .offset = offsetof(sl_my_snap_conf_t, mode),
     .def = "initial", .choices = sl_my_snapshot_modes,
     .doc = "initial (once, when there is no checkpoint), never, initial_only, always"},
    {.key = "chunk_size", .type = SL_CT_INT, .offset = offsetof(sl_my_snap_conf_t, chunk_size),
     .def = "10000", .min = 1, .max = 10000000, .doc = "rows per query"},
    {.key = "max_parallel_tables", .type = SL_CT_INT,
     .offset = offsetof(sl_my_snap_conf_t, max_parallel_tables), .def = "2", .min = 1,
     .max = 64, .doc = "tables read at once (one connection each)"},
    {.key = "where", .type = SL_CT_STRMAP, .offset = offsetof(sl_my_snap_conf_t, where),
     .doc = "per-table filter: {\"db.table\": \"SQL condition\"}"},
    {.key = NULL},
};

static const sl_conf_def_t sl_my_conf_defs[] = {
    {.key = "id", .type = SL_CT_STR, .offset = offsetof(sl_my_conf_t, id),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .doc = "source id"},
    {.key = "dsn", .type = SL_CT_STR, .offset = offsetof(sl_my_conf_t, dsn),
     .flags = SL_CF_SECRET, .doc = "mysql://user:pass@host:port/db"},
    {.key = "server_id", .type = SL_CT_INT, .offset = offsetof(sl_my_conf_t, server_id),
     .min = 1, .max = 4294967295LL, .doc = "replica server id (default: from the name)"},
    {.key = "tables", .type = SL_CT_STRLIST, .offset = offsetof(sl_my_conf_t, tables),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .doc = "db.table or db.* entries"},
    {.key = "start", .type = SL_CT_STR, .offset = offsetof(sl_my_conf_t, start),
     .doc = "earliest, latest (default), file:pos, or a GTID set"},
    {.key = "binlog_files", .type = SL_CT_STRLIST,
     .offset = offsetof(sl_my_conf_t, binlog_files),
     .doc = "local binlog files to replay instead of a server"},
    {.key = "schema_dsn", .type = SL_CT_STR, .offset = offsetof(sl_my_conf_t, schema_dsn),
     .flags = SL_CF_SECRET, .doc = "server for schemas when replaying binlog_files"},
    {.key = "snapshot", .type = SL_CT_OBJ, .offset = offsetof(sl_my_conf_t, snapshot),
     .flags = SL_CF_SHORTHAND, .sub = sl_my_snap_defs,
     .doc = "initial snapshot: a mode, or {mode, chunk_size, max_parallel_tables, where}"},
    {.key = "heartbeat_ms", .type = SL_CT_INT, .offset = offsetof(sl_my_conf_t, heartbeat_ms),
     .def = "200", .min = 10, .max = 60000, .doc = "server heartbeat when idle"},
    {.key = NULL},
};



static void sl_my_dsn_free(sl_my_dsn_t *d)
{
    free(d->user);
    free(d->pass);
    free(d->host);
    free(d->db);
    memset(d, 0, sizeof(*d));
}


/* mysql://[user[:pass]@]host[:port][/db] */
static int sl_my_dsn_parse(const char *dsn, sl_my_dsn_t *d, char *errstr, size_t errstr_size)
{
    memset(d, 0, sizeof(*d));
    const char *p = dsn;
    if (strncmp(p, "mysql://", 8) == 0) p += 8;
    else if (strncmp(p, "mariadb://", 10) == 0) p += 10;
    else return sl_err(errstr, errstr_size, "dsn must start with mysql:// (got \"%.20s...\")", dsn);
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@') at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        d->user = sl_pct_decode(p, (size_t)((colon ? colon : at) - p));
        if (colon) d->pass = sl_pct_decode(colon + 1, (size_t)(at - colon - 1));
        if (!d->user || (colon && !d->pass)) {
            sl_my_dsn_free(d);
            return sl_err(errstr, errstr_size, "dsn: malformed %%-escape in the user or "
                          "password");
        }
        p = at + 1;
    }
    const char *colon = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == ':') colon = q;
    d->host = sl_strndup(p, (size_t)((colon ? colon : end) - p));
    d->port = 3306;
    if (colon) {
        char *e;
        unsigned long port = strtoul(colon + 1, &e, 10);
        if (e != end || port == 0 || port > 65535) {
            sl_my_dsn_free(d);
            return sl_err(errstr, errstr_size, "dsn: bad port");
        }
        d->port = (unsigned)port;
    }
    if (!*d->host) {
        free(d->host);
        d->host = sl_strdup("127.0.0.1");
    }
    if (slash && slash[1] && !(d->db = sl_pct_decode(slash + 1, strcspn(slash + 1, "?")))) {
        sl_my_dsn_free(d);
        return sl_err(errstr, errstr_size, "dsn: malformed %%-escape in the database");
    }
    if (!d->user) d->user = sl_strdup("root");
    return SL_OK;
}

typedef enum { SL_MY_START_BAD = 0, SL_MY_START_FILEPOS, SL_MY_START_GTID } sl_my_start_kind_t;

/* `start` other than earliest/latest: "file:pos", a MariaDB GTID list ("0-1-42,1-2-7")
 * or a MySQL GTID set ("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,..."). */
static sl_my_start_kind_t sl_my_start_kind(const char *s)
{
    const char *colon = strrchr(s, ':');
    size_t n = strlen(s);
    bool mariadb = n > 0;
    for (const char *p = s; *p; p++)
        if (!(isdigit((unsigned char)*p) || *p == '-' || *p == ',' || *p == ' ')) mariadb = false;
    if (mariadb && strchr(s, '-')) return SL_MY_START_GTID;
    if (n > 37 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' && s[36] == ':')
        return SL_MY_START_GTID;
    if (colon && colon != s && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
        return SL_MY_START_FILEPOS;
    return SL_MY_START_BAD;
}

static void sl_my_validate(const void *conf, const char *path, sl_errs_t *errs)
{
    const sl_my_conf_t *c = conf;
    char p[256];
    if (!c->dsn && !c->binlog_files.n)
        sl_errs_add(errs, path, "needs dsn (a server) or binlog_files (local files)");
    if (c->dsn) {
        sl_my_dsn_t d;
        char err[SL_ERRSTR_SIZE];
        snprintf(p, sizeof(p), "%s.dsn", path);
        if (sl_my_dsn_parse(c->dsn, &d, err, sizeof(err)) != SL_OK)
            sl_errs_add(errs, p, "%s", err);
        sl_my_dsn_free(&d);
    }
    for (size_t i = 0; i < c->tables.n; i++) {
        const char *t = c->tables.v[i];
        const char *dot = strchr(t, '.');
        if (!dot || dot == t || !dot[1] || strchr(dot + 1, '.')) {
            snprintf(p, sizeof(p), "%s.tables[%zu]", path, i);
            sl_errs_add(errs, p, "must be db.table or db.* (got \"%s\")", t);
        }
    }
    if (c->start && strcmp(c->start, "earliest") && strcmp(c->start, "latest") &&
        sl_my_start_kind(c->start) == SL_MY_START_BAD) {
        snprintf(p, sizeof(p), "%s.start", path);
        sl_errs_add(errs, p, "must be earliest, latest, file:pos or a GTID set (got \"%s\")",
                    c->start);
    }
}

/* ---- state ----------------------------------------------------------------------- */



bool sl_my_table_wanted(const sl_my_source_t *s, const char *db, const char *table)
{
    for (size_t i = 0; i < s->ntables; i++)
        if (!strcmp(s->tdb[i], db) && (!strcmp(s->ttable[i], "*") || !strcmp(s->ttable[i], table)))
            return true;
    return false;
}

void sl_my_set_str(char **dst, const char *s, size_t n)
{
    free(*dst);
    *dst = sl_strndup(s, n);
}

void sl_my_ident(sl_buf_t *out, const char *name)
{
    sl_buf_putc(out, '`');
    for (const char *c = name; *c; c++) {
        if (*c == '`') sl_buf_putc(out, '`');
        sl_buf_putc(out, *c);
    }
    sl_buf_putc(out, '`');
}

bool sl_my_json_check(const char *checks, const char *col)
{
    if (!checks || !*checks) return false;
    sl_buf_t pat = SL_BUF_INIT;
    sl_buf_puts(&pat, "json_valid(");
    sl_my_ident(&pat, col);
    sl_buf_putc(&pat, ')');
    bool found = strcasestr(checks, sl_buf_cstr(&pat)) != NULL;
    sl_buf_free(&pat);
    return found;
}

/* ---- GTID state ------------------------------------------------------------------ */

/* MariaDB: keep the last GTID per replication domain ("d-s-n" joined by ','). */
static void sl_my_gtid_note_mariadb(sl_my_source_t *s, const char *gtid)
{
    const char *dash = strchr(gtid, '-');
    if (!dash) return;
    size_t dl = (size_t)(dash - gtid) + 1;   /* "d-" */
    sl_buf_t out = SL_BUF_INIT;
    const char *cur = s->gtid_state.len ? sl_buf_cstr(&s->gtid_state) : "";
    bool replaced = false;
    while (*cur) {
        size_t n = strcspn(cur, ",");
        if (out.len) sl_buf_putc(&out, ',');
        if (n >= dl && !strncmp(cur, gtid, dl)) {
            sl_buf_puts(&out, gtid);
            replaced = true;
        } else {
            sl_buf_put(&out, cur, n);
        }
        cur += n + (cur[n] == ',');
    }
    if (!replaced) {
        if (out.len) sl_buf_putc(&out, ',');
        sl_buf_puts(&out, gtid);
    }
    sl_buf_free(&s->gtid_prev);
    s->gtid_prev = s->gtid_state;   /* the state to go back to if the tx never commits */
    s->gtid_state = out;
}

/* A fresh decoder (new connection or file): no table is mapped yet; the schemas tracked
 * so far are registered with it (my_history.c). */
static void sl_my_new_decoder(sl_my_source_t *s)
{
    if (s->dec) sl_binlog_decoder_free(s->dec);
    s->dec = sl_binlog_decoder_new();
    sl_my_hist_attach(s);
}

/* ---- events ---------------------------------------------------------------------- */

/* "gtid_complete" marks a state that covers every domain (seeded from the server): only
 * such a state is trusted to resume by GTID; older checkpoints lack it. */
void sl_my_pos_json(const sl_my_source_t *s, sl_buf_t *out)
{
    sl_buf_puts(out, "{\"file\":");
    sl_json_cstr(out, s->recv_file ? s->recv_file : "");
    sl_buf_printf(out, ",\"pos\":%llu,\"gtid\":", (unsigned long long)s->recv_pos);
    if (s->gtid_state.len) sl_json_str(out, s->gtid_state.data, s->gtid_state.len);
    else sl_buf_puts(out, "null");
    if (s->gtid_state.len && s->gtid_complete) sl_buf_puts(out, ",\"gtid_complete\":true");
    sl_buf_putc(out, '}');
}

static void sl_my_make_pos(sl_my_source_t *s)
{
    sl_buf_reset(&s->posbuf.json);
    sl_my_pos_json(s, &s->posbuf.json);
    s->posbuf.lsn = s->recv_pos;
}

static void sl_my_xa_free(sl_my_xa_t *x)
{
    if (!x) return;
    free(x->xid);
    sl_buf_free(&x->data);
    free(x->ev);
    free(x);
}

static void sl_my_tx_begin(sl_my_source_t *s, uint64_t ts_us)
{
    if (s->in_tx) sl_emit_tx_abort(s->p);
    sl_my_xa_free(s->xa_open);   /* an XA group cut short: it is read again */
    s->xa_open = NULL;
    s->in_tx = true;
    s->tx_grouped = false;
    s->tx_seq++;
    s->tx_ts_us = ts_us;
    s->env.total_order = 0;
    s->has_query = false;
    sl_emit_tx_begin(s->p);
}

static int sl_my_tx_commit(sl_my_source_t *s, uint64_t end_pos)
{
    if (!s->in_tx) sl_emit_tx_begin(s->p);
    s->in_tx = false;
    s->tx_gtid[0] = '\0';
    sl_my_set_str(&s->recv_file, s->file ? s->file : "", strlen(s->file ? s->file : ""));
    s->recv_pos = end_pos;
    sl_my_make_pos(s);
    if (s->xa_held) {
        /* a prepared XA transaction is held: checkpoints stay before it */
        sl_buf_reset(&s->posbuf.json);
        sl_buf_put(&s->posbuf.json, s->xa_hold.data, s->xa_hold.len);
        s->posbuf.lsn = s->xa_hold_lsn;
    }
    return sl_emit_tx_commit(s->p, &s->posbuf);
}

/* ---- XA transactions ----------------------------------------------------------------
 * An XA transaction is written to the binlog at XA PREPARE (MariaDB: a GTID flagged
 * FL_PREPARED_XA, rows, "XA END", XA_PREPARE_LOG; MySQL: "XA START" ... the same), and
 * resolved later, after any number of other transactions, by an "XA COMMIT xid" or
 * "XA ROLLBACK xid" query of its own. Its rows are held from the prepare and emitted in
 * the XA COMMIT's transaction, or dropped at XA ROLLBACK, so consumers never see rows
 * that were rolled back. While one is held, checkpoints keep the position before it: a
 * restart reads it again (and repeats the transactions after it: at-least-once). */

/* Whether a logged statement ends with START TRANSACTION (MySQL's atomic CREATE TABLE
 * ... SELECT: its rows and XID follow). */
static bool sl_my_query_starts_tx(const char *sql, size_t n)
{
    while (n && (sql[n - 1] == ' ' || sql[n - 1] == ';' || sql[n - 1] == '\n')) n--;
    return n >= 17 && !strncasecmp(sql + n - 17, "START TRANSACTION", 17);
}

/* The group starting now is an XA transaction: hold its rows. */
static void sl_my_xa_begin(sl_my_source_t *s)
{
    sl_my_xa_free(s->xa_open);
    s->xa_open = sl_calloc(1, sizeof(*s->xa_open));
    sl_buf_reset(&s->xa_open_hold);
    sl_my_pos_json(s, &s->xa_open_hold);
    s->xa_open_hold_lsn = s->recv_pos;
}

/* "X'hex',X'hex',formatID" as servers write it in XA COMMIT / ROLLBACK queries. */
static char *sl_my_xa_xid(const sl_binlog_event_t *ev)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, "X'");
    for (uint32_t i = 0; i < ev->xa.gtrid_len; i++)
        sl_buf_printf(&b, "%02x", (unsigned char)ev->xa.gtrid[i]);
    sl_buf_puts(&b, "',X'");
    for (uint32_t i = 0; i < ev->xa.bqual_len; i++)
        sl_buf_printf(&b, "%02x", (unsigned char)ev->xa.bqual[i]);
    sl_buf_printf(&b, "',%d", (int)ev->xa.format_id);
    return sl_buf_steal(&b);
}

/* Emit a held transaction's events into the open transaction. */
static int sl_my_xa_emit(sl_my_source_t *s, const sl_my_xa_t *x)
{
    for (uint32_t i = 0; i < x->n; i++) {
        sl_event_t e = x->ev[i];
        sl_buf_t *arena = sl_emit_arena(s->p);
        e.key_off = (uint32_t)arena->len;
        sl_buf_put(arena, x->data.data + x->ev[i].key_off, x->ev[i].key_len);
        e.val_off = (uint32_t)arena->len;
        sl_buf_put(arena, x->data.data + x->ev[i].val_off, x->ev[i].val_len);
        if (sl_emit_event(s->p, &e) != SL_OK) return SL_ERR;
    }
    return SL_OK;
}

/* XA_PREPARE_LOG: the group read since sl_my_xa_begin is prepared. A one-phase commit
 * (MySQL) is a commit now; otherwise its rows are held under its xid. */
static int sl_my_xa_prepared(sl_my_source_t *s, const sl_binlog_event_t *ev)
{
    sl_my_xa_t *x = s->xa_open;
    s->xa_open = NULL;
    if (!x) return sl_my_tx_commit(s, ev->log_pos);   /* began before our start */
    if (ev->xa.one_phase) {
        int rc = sl_my_xa_emit(s, x);
        sl_my_xa_free(x);
        return rc == SL_OK ? sl_my_tx_commit(s, ev->log_pos) : rc;
    }
    x->xid = sl_my_xa_xid(ev);
    if (!s->xa_held) {
        sl_buf_reset(&s->xa_hold);
        sl_buf_put(&s->xa_hold, s->xa_open_hold.data, s->xa_open_hold.len);
        s->xa_hold_lsn = s->xa_open_hold_lsn;
    }
    sl_my_xa_t **tail = &s->xa_held;
    while (*tail) tail = &(*tail)->next;
    *tail = x;
    sl_debug("XA transaction %s prepared (%u events held until XA COMMIT)", x->xid, x->n);
    return sl_my_tx_commit(s, ev->log_pos);
}

/* "XA COMMIT xid" / "XA ROLLBACK xid" (xid: the rest of the query). */
static int sl_my_xa_resolve(sl_my_source_t *s, bool commit, const char *xid, size_t n,
                            uint64_t end_pos)
{
    while (n && (*xid == ' ' || *xid == '\t')) xid++, n--;
    while (n && (xid[n - 1] == ' ' || xid[n - 1] == ';')) n--;
    sl_my_xa_t **pp = &s->xa_held;
    while (*pp && (strlen((*pp)->xid) != n || strncasecmp((*pp)->xid, xid, n))) pp = &(*pp)->next;
    sl_my_xa_t *x = *pp;
    if (!s->in_tx) sl_my_tx_begin(s, 0);
    if (!x) {
        if (commit)
            sl_warn("XA COMMIT %.*s at %s:%llu: its XA PREPARE is before the position sluice "
                    "started from, so its rows are not in the stream", (int)n, xid,
                    s->file ? s->file : "?", (unsigned long long)end_pos);
        return sl_my_tx_commit(s, end_pos);
    }
    *pp = x->next;
    int rc = commit ? sl_my_xa_emit(s, x) : SL_OK;
    sl_debug("XA transaction %s %s (%u events)", x->xid, commit ? "committed" : "rolled back",
             x->n);
    sl_my_xa_free(x);
    return rc == SL_OK ? sl_my_tx_commit(s, end_pos) : rc;
}

static int sl_my_rows(sl_my_source_t *s, const sl_binlog_event_t *ev)
{
    sl_binlog_table_t *t = ev->rows.table;
    if (!t || !sl_my_table_wanted(s, t->db, t->name)) return SL_OK;
    if (!s->in_tx) sl_my_tx_begin(s, (uint64_t)ev->timestamp * 1000000u);
    const sl_table_t *table = sl_pipeline_table(s->p, t->db, "", t->name);
    s->env.file = s->file;
    s->env.pos = ev->log_pos > ev->event_size ? ev->log_pos - ev->event_size : 0;
    s->env.gtid = s->tx_gtid[0] ? s->tx_gtid : NULL;
    s->env.thread = s->tx_thread;
    s->env.query = s->has_query ? sl_buf_cstr(&s->query) : NULL;
    s->env.query_len = s->query.len;
    s->env.tx_id = s->tx_gtid[0] ? s->tx_gtid : NULL;
    s->env.tx_seq = s->tx_seq;
    s->env.commit_ts_us = s->tx_ts_us;
    s->env.gen++;   /* the fields above may have changed: new envelope segments */
    bool update = ev->rows.op == 'u';
    for (uint32_t r = 0; r < ev->rows.nrows; r++) {
        char err[SL_ERRSTR_SIZE];
        bool split = false;
        if (update && sl_binlog_key_changed(sl_emit_arena(s->p), ev, r, &split, err,
                                            sizeof(err)) != SL_OK) {
            sl_err(s->err, sizeof(s->err), "%s", err);
            return SL_ERR;
        }
        /* A key change is a delete of the old key and a create of the new row, as
         * Debezium emits it (a tombstone follows the delete in Kafka). */
        for (int h = 0; h < (split ? 2 : 1); h++) {
            sl_buf_t *arena = sl_emit_arena(s->p);
            sl_event_t e = {0};
            const char *shard_json = NULL;
            size_t shard_len = 0;
            char half = split ? (h == 0 ? 'd' : 'c') : 0;
            s->env.now_unix_us = sl_now_wall_us();
            if (s->xa_open) arena = &s->xa_open->data;   /* held until XA COMMIT */
            if (sl_binlog_encode_row_as(arena, &s->env, ev, r, half, &e.key_off, &e.key_len,
                                        &e.val_off, &e.val_len, &shard_json, &shard_len, err,
                                        sizeof(err)) != SL_OK) {
                sl_err(s->err, sizeof(s->err), "%s", err);
                return SL_ERR;
            }
            e.table = table;
            e.op = (uint8_t)(half ? half : ev->rows.op);
            e.shard = shard_json ? sl_pipeline_shard(s->p, shard_json, shard_len)
                                 : (sl_pipeline_spec(s->p)->sharding ? 0 : -1);
            e.commit_us = s->tx_ts_us;
            if (s->xa_open) {
                sl_my_xa_t *x = s->xa_open;
                if (x->n == x->cap) {
                    x->cap = x->cap ? x->cap * 2 : 16;
                    x->ev = sl_realloc(x->ev, x->cap * sizeof(*x->ev));
                }
                x->ev[x->n++] = e;
                continue;
            }
            if (sl_emit_event(s->p, &e) != SL_OK) return SL_ERR;
        }
    }
    return SL_OK;
}

/* Handle one raw event. SL_OK, SL_AGAIN (decode trouble on the wire), SL_ERR. */
static int sl_my_event(sl_my_source_t *s, const uint8_t *raw, size_t len)
{
    sl_binlog_event_t ev;
    char derr[SL_ERRSTR_SIZE];
    if (sl_binlog_decode(s->dec, raw, len, &ev, derr, sizeof(derr)) != SL_OK) {
        sl_err(s->err, sizeof(s->err), "binlog %s: %s", s->file ? s->file : "?", derr);
        return SL_AGAIN;
    }
    if (sl_unlikely(s->schema_err[0])) {
        /* a TABLE_MAP that does not fit its schema (my_history.c) */
        sl_err(s->err, sizeof(s->err), "binlog %s:%u: %s", s->file ? s->file : "?",
               ev.log_pos > ev.event_size ? ev.log_pos - ev.event_size : 0, s->schema_err);
        s->schema_err[0] = '\0';
        return SL_ERR;
    }
    uint64_t ts_us = (uint64_t)ev.timestamp * 1000000u;
    int rc = SL_OK;
    switch (ev.type) {
    case SL_BINLOG_ROTATE_EVENT:
        sl_my_set_str(&s->file, ev.rotate.file, ev.rotate.file_len);
        s->pos = ev.rotate.position;
        if (!s->in_tx && !s->recv_file) {
            sl_my_set_str(&s->recv_file, ev.rotate.file, ev.rotate.file_len);
            s->recv_pos = ev.rotate.position;
        }
        return SL_OK;
    case SL_BINLOG_FORMAT_DESCRIPTION_EVENT:
        s->mariadb = ev.fde.mariadb;
        return SL_OK;
    case SL_BINLOG_MARIADB_GTID_EVENT:
        sl_my_tx_begin(s, ts_us);
        if (ev.mgtid.flags2 & SL_MARIADB_FL_PREPARED_XA) sl_my_xa_begin(s);
        s->tx_grouped = !(ev.mgtid.flags2 & SL_MARIADB_FL_STANDALONE);
        snprintf(s->tx_gtid, sizeof(s->tx_gtid), "%s", ev.mgtid.text ? ev.mgtid.text : "");
        if (ev.mgtid.text) sl_my_gtid_note_mariadb(s, ev.mgtid.text);
        s->tx_thread = -1;
        return SL_OK;
    case SL_BINLOG_GTID_EVENT:
    case SL_BINLOG_GTID_TAGGED_EVENT:
    case SL_BINLOG_ANONYMOUS_GTID_EVENT:
        /* MySQL: the GTID precedes the BEGIN query; remember it for the transaction. */
        snprintf(s->tx_gtid, sizeof(s->tx_gtid), "%s", ev.gtid.text ? ev.gtid.text : "");
        if (ev.gtid.immediate_commit_ts) ts_us = ev.gtid.immediate_commit_ts;
        s->tx_ts_us = ts_us;
        return SL_OK;
    case SL_BINLOG_QUERY_EVENT:
        if (ev.query.sql_len == 5 && !strncasecmp(ev.query.sql, "BEGIN", 5)) {
            if (!s->in_tx) {
                char keep[96];
                snprintf(keep, sizeof(keep), "%s", s->tx_gtid);
                uint64_t keep_ts = s->tx_ts_us ? s->tx_ts_us : ts_us;
                sl_my_tx_begin(s, keep_ts);
                snprintf(s->tx_gtid, sizeof(s->tx_gtid), "%s", keep);
            }
            s->tx_thread = ev.query.thread_id;
            return SL_OK;
        }
        if (ev.query.sql_len == 6 && !strncasecmp(ev.query.sql, "COMMIT", 6))
            return sl_my_tx_commit(s, ev.log_pos);
        if (ev.query.sql_len > 3 && !strncasecmp(ev.query.sql, "XA ", 3)) {
            const char *q = ev.query.sql + 3;
            size_t n = ev.query.sql_len - 3;
            if (n >= 5 && !strncasecmp(q, "START", 5)) {         /* MySQL */
                if (!s->in_tx) sl_my_tx_begin(s, s->tx_ts_us ? s->tx_ts_us : ts_us);
                sl_my_xa_begin(s);
                s->tx_thread = ev.query.thread_id;
                return SL_OK;
            }
            if (n >= 3 && !strncasecmp(q, "END", 3)) return SL_OK;
            if (n >= 6 && !strncasecmp(q, "COMMIT", 6))
                return sl_my_xa_resolve(s, true, q + 6, n - 6, ev.log_pos);
            if (n >= 8 && !strncasecmp(q, "ROLLBACK", 8))
                return sl_my_xa_resolve(s, false, q + 8, n - 8, ev.log_pos);
        }
        /* DDL (standalone): a transaction of its own, with a schema change event when a
         * sink wants them; the schema history follows it (my_history.c). */
        if (!s->in_tx) sl_my_tx_begin(s, ts_us);
        if (sl_my_hist_ddl(s, &ev) != SL_OK) return SL_ERR;
        /* CREATE TABLE ... SELECT: the rows follow in the same transaction, which its XID
         * or COMMIT ends (MariaDB: a GTID without FL_STANDALONE; MySQL 8.0.21+: the
         * statement is logged with START TRANSACTION appended) */
        if (s->tx_grouped || sl_my_query_starts_tx(ev.query.sql, ev.query.sql_len))
            return SL_OK;
        return sl_my_tx_commit(s, ev.log_pos);
    case SL_BINLOG_XID_EVENT:
        return sl_my_tx_commit(s, ev.log_pos);
    case SL_BINLOG_XA_PREPARE_EVENT:
        return sl_my_xa_prepared(s, &ev);
    case SL_BINLOG_MARIADB_ANNOTATE_ROWS_EVENT:
    case SL_BINLOG_ROWS_QUERY_EVENT:
        sl_buf_reset(&s->query);
        sl_buf_put(&s->query, ev.rows_query.sql, ev.rows_query.sql_len);
        s->has_query = true;
        return SL_OK;
    case SL_BINLOG_WRITE_ROWS_EVENT_V1:
    case SL_BINLOG_UPDATE_ROWS_EVENT_V1:
    case SL_BINLOG_DELETE_ROWS_EVENT_V1:
    case SL_BINLOG_WRITE_ROWS_EVENT:
    case SL_BINLOG_UPDATE_ROWS_EVENT:
    case SL_BINLOG_DELETE_ROWS_EVENT:
    case SL_BINLOG_PARTIAL_UPDATE_ROWS_EVENT:
        rc = sl_my_rows(s, &ev);
        return rc == SL_OK ? SL_OK : SL_ERR;
    case SL_BINLOG_TRANSACTION_PAYLOAD_EVENT: {
        sl_binlog_event_t inner;
        int r;
        while ((r = sl_binlog_payload_next(s->dec, &inner, derr, sizeof(derr))) == 1) {
            if (sl_unlikely(s->schema_err[0])) {
                sl_err(s->err, sizeof(s->err), "binlog %s:%u (compressed transaction): %s",
                       s->file ? s->file : "?",
                       ev.log_pos > ev.event_size ? ev.log_pos - ev.event_size : 0,
                       s->schema_err);
                s->schema_err[0] = '\0';
                return SL_ERR;
            }
            /* inner events carry no positions: the payload event's end is the position */
            if (inner.type == SL_BINLOG_XID_EVENT) {
                rc = sl_my_tx_commit(s, ev.log_pos);
            } else if (inner.type >= SL_BINLOG_WRITE_ROWS_EVENT &&
                       inner.type <= SL_BINLOG_DELETE_ROWS_EVENT) {
                rc = sl_my_rows(s, &inner);
            } else if (inner.type == SL_BINLOG_QUERY_EVENT && inner.query.sql_len == 5) {
                if (!s->in_tx) sl_my_tx_begin(s, s->tx_ts_us ? s->tx_ts_us : ts_us);
            }
            if (rc != SL_OK) return SL_ERR;
        }
        if (r < 0) {
            sl_err(s->err, sizeof(s->err), "binlog %s: %s", s->file ? s->file : "?", derr);
            return SL_ERR;
        }
        return SL_OK;
    }
    default:
        return SL_OK;
    }
}

/* ---- server connection ----------------------------------------------------------- */

MYSQL *sl_my_connect(sl_my_source_t *s, const sl_my_dsn_t *d)
{
    MYSQL *m = mysql_init(NULL);
    unsigned int timeout = 10;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(m, d->host, d->user, d->pass, NULL, d->port, NULL, 0)) {
        sl_err(s->err, sizeof(s->err), "cannot connect to MySQL at %s:%u: %s", d->host,
               d->port, mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* One-row, one-column query into out. SL_OK / SL_ERR (s->err). */
static int sl_my_scalar(sl_my_source_t *s, MYSQL *m, const char *q, char *out, size_t n)
{
    if (mysql_query(m, q) != 0) {
        sl_err(s->err, sizeof(s->err), "%s: %s", q, mysql_error(m));
        return SL_ERR;
    }
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    snprintf(out, n, "%s", row && row[0] ? row[0] : "");
    if (res) mysql_free_result(res);
    return SL_OK;
}

static void sl_my_disconnect(sl_my_source_t *s)
{
    if (s->rpl) {
        mariadb_rpl_close(s->rpl);
        s->rpl = NULL;
    }
    if (s->mysql) mysql_close(s->mysql);
    if (s->meta) mysql_close(s->meta);
    s->mysql = s->meta = NULL;
    sl_pipeline_set_source_connected(s->p, false);
}

int sl_my_query_binlog_status(MYSQL *m)
{
    int rc = mysql_query(m, "SHOW MASTER STATUS");
    if (rc != 0 && mysql_errno(m) == 1064)   /* ER_PARSE_ERROR: removed in MySQL 8.4 */
        rc = mysql_query(m, "SHOW BINARY LOG STATUS");
    return rc;
}

/* ---- resuming by GTID ------------------------------------------------------------- */

/* BINLOG_GTID_POS(file, pos) on m (MariaDB): the GTID state at that binlog position, every
 * domain included ("" before the first GTID). NULL when the server cannot say: no such
 * position at an event boundary, or no such function (MySQL). Caller frees. */
static char *sl_my_binlog_gtid_pos(MYSQL *m, const char *file, uint64_t pos)
{
    size_t fl = strlen(file);
    char *esc = sl_malloc(2 * fl + 1);
    mysql_real_escape_string(m, esc, file, (unsigned long)fl);
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_printf(&q, "SELECT BINLOG_GTID_POS('%s', %llu)", esc, (unsigned long long)pos);
    free(esc);
    char *out = NULL;
    if (mysql_query(m, sl_buf_cstr(&q)) == 0) {
        MYSQL_RES *res = mysql_store_result(m);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (row && row[0]) out = sl_strdup(row[0]);
        if (res) mysql_free_result(res);
    }
    sl_buf_free(&q);
    return out;
}

void sl_my_gtid_seed(sl_my_source_t *s, MYSQL *m)
{
    if (!m || !s->recv_file || !*s->recv_file) return;
    char *g = sl_my_binlog_gtid_pos(m, s->recv_file, s->recv_pos);
    if (!g) {
        sl_info("no GTID state for %s:%llu on the server (%s): the checkpoint keeps the "
                "file position only", s->recv_file, (unsigned long long)s->recv_pos,
                mysql_errno(m) ? mysql_error(m) : "BINLOG_GTID_POS is NULL");
        return;
    }
    sl_buf_reset(&s->gtid_state);
    sl_buf_puts(&s->gtid_state, g);
    s->gtid_complete = true;
    sl_info("GTID state at %s:%llu is '%s'", s->recv_file, (unsigned long long)s->recv_pos, g);
    free(g);
}

/* The server refused to stream from our GTID state (error 1236, msg). A file/position is
 * used instead only where it is the same point in history: the server's binlog holds it and
 * its GTID state there agrees with ours. Otherwise resuming would silently skip or repeat
 * changes (a failover to a replica that missed transactions, another server's binlog with
 * the same file names, a purged binlog), so the error says what to do. Returns SL_AGAIN
 * (reconnect by file/position), SL_ERR (s->err set), or SL_OK when msg is not about the GTID
 * position. */
static int sl_my_gtid_refused(sl_my_source_t *s, const char *msg)
{
    sl_my_gtid_err_t kind = sl_my_gtid_error_kind(msg);
    if (kind == SL_MY_GTID_ERR_NONE) return SL_OK;
    char *state = sl_strdup(sl_buf_cstr(&s->gtid_state));
    char *server_msg = sl_strdup(msg);
    bool have_file = s->recv_file && *s->recv_file;
    char *at = have_file ? sl_my_binlog_gtid_pos(s->meta, s->recv_file, s->recv_pos) : NULL;
    int rc = SL_ERR;
    if (at && sl_my_gtid_lists_agree(at, state)) {
        sl_warn("the server refused to stream from GTID state '%s' (%s); its binlog holds the "
                "checkpoint position %s:%llu with the same GTID state ('%s'): resuming there "
                "by file/position", state, server_msg, s->recv_file,
                (unsigned long long)s->recv_pos, at);
        sl_buf_reset(&s->gtid_state);
        sl_buf_puts(&s->gtid_state, at);
        s->gtid_off = true;
        rc = SL_AGAIN;
        goto out;
    }
    char now[256] = "";
    if (s->meta) sl_my_scalar(s, s->meta, "SELECT @@global.gtid_binlog_pos", now, sizeof(now));
    sl_buf_t fp = SL_BUF_INIT;
    if (!have_file) sl_buf_puts(&fp, "no file position to fall back to");
    else if (!at)
        sl_buf_printf(&fp, "file position %s:%llu is not on this server", s->recv_file,
                      (unsigned long long)s->recv_pos);
    else
        sl_buf_printf(&fp, "file position %s:%llu is at GTID state '%s' here", s->recv_file,
                      (unsigned long long)s->recv_pos, at);
    sl_error("mysql: the server refused to resume at GTID state '%s': %s", state, server_msg);
    if (kind == SL_MY_GTID_ERR_PURGED)
        sl_err(s->err, sizeof(s->err), "cannot resume: the binlogs after GTID state '%s' are "
               "purged from the server (its binlog is at '%s'; %s). Changes were lost: restart "
               "with a fresh data dir to take a new snapshot", state, now, sl_buf_cstr(&fp));
    else
        sl_err(s->err, sizeof(s->err), "GTID gap: the server's binlog does not hold GTID "
               "state '%s' (the server is at '%s'; %s): the server %s. Check it; then "
               "restart with a fresh data dir (the snapshot reads the tables again; or set "
               "start to the GTID state to continue from)", state, now, sl_buf_cstr(&fp),
               kind == SL_MY_GTID_ERR_DIVERGED ? "has diverged from what sluice read"
                                               : "is behind what sluice delivered (a failover "
                                                 "to a replica that missed transactions?)");
    sl_buf_free(&fp);
out:
    free(at);
    free(state);
    free(server_msg);
    return rc;
}

/* The server refused to stream from our file/position (error 1236, msg): the binlog file
 * was purged (or is another server's). Changes after the checkpoint are gone from this
 * server, so the error says so and what to do. */
static void sl_my_position_refused(sl_my_source_t *s, const char *msg)
{
    char *server_msg = sl_strdup(msg);
    char oldest[256] = "";
    if (s->meta) sl_my_scalar(s, s->meta, "SHOW BINARY LOGS", oldest, sizeof(oldest));
    sl_err(s->err, sizeof(s->err), "cannot resume: binlog position %s:%llu is not on the "
           "server (%s; its oldest binlog is '%s'): the binlogs after the checkpoint were "
           "purged, or this is another server. Changes may be lost: restart with a fresh data "
           "dir (the snapshot reads the tables again; or set start to the position to "
           "continue from)",
           s->recv_file ? s->recv_file : "", (unsigned long long)s->recv_pos, server_msg,
           *oldest ? oldest : "unknown");
    free(server_msg);
}

/* Where to start when there is neither a received position nor a checkpoint. */
static int sl_my_initial_position(sl_my_source_t *s)
{
    const char *start = s->conf->start ? s->conf->start : "latest";
    char buf[256];
    if (!strcmp(start, "latest")) {
        if (sl_my_query_binlog_status(s->mysql) != 0) {
            sl_err(s->err, sizeof(s->err), "SHOW MASTER STATUS: %s (grant BINLOG MONITOR or "
                   "REPLICATION CLIENT, or set start: file:pos)", mysql_error(s->mysql));
            return SL_ERR;
        }
        MYSQL_RES *res = mysql_store_result(s->mysql);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (!row || !row[0]) {
            if (res) mysql_free_result(res);
            sl_err(s->err, sizeof(s->err), "binary logging is off on the server: set log_bin");
            return SL_ERR;
        }
        sl_my_set_str(&s->recv_file, row[0], strlen(row[0]));
        s->recv_pos = strtoull(row[1], NULL, 10);
        mysql_free_result(res);
    } else if (!strcmp(start, "earliest")) {
        if (mysql_query(s->mysql, "SHOW BINARY LOGS") != 0) {
            sl_err(s->err, sizeof(s->err), "SHOW BINARY LOGS: %s", mysql_error(s->mysql));
            return SL_ERR;
        }
        MYSQL_RES *res = mysql_store_result(s->mysql);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (!row || !row[0]) {
            if (res) mysql_free_result(res);
            sl_err(s->err, sizeof(s->err), "the server lists no binary logs");
            return SL_ERR;
        }
        sl_my_set_str(&s->recv_file, row[0], strlen(row[0]));
        s->recv_pos = 4;
        mysql_free_result(res);
    } else if (sl_my_start_kind(start) == SL_MY_START_FILEPOS) {
        const char *colon = strrchr(start, ':');
        sl_my_set_str(&s->recv_file, start, (size_t)(colon - start));
        s->recv_pos = strtoull(colon + 1, NULL, 10);
    } else {
        /* a GTID set: MariaDB positions by @slave_connect_state */
        sl_buf_reset(&s->gtid_state);
        sl_buf_puts(&s->gtid_state, start);
        s->gtid_complete = true;   /* the user's word: resume from what follows it */
        free(s->recv_file);
        s->recv_file = NULL;
        s->recv_pos = 4;
    }
    SL_UNUSED(buf);
    return SL_OK;
}

static int sl_my_setup(sl_my_source_t *s)
{
    s->mysql = sl_my_connect(s, &s->dsn);
    if (!s->mysql) return SL_AGAIN;
    s->meta = sl_my_connect(s, &s->dsn);
    if (!s->meta) return SL_AGAIN;
    char v[256];
    if (sl_my_scalar(s, s->mysql, "SELECT @@global.binlog_format", v, sizeof(v)) != SL_OK)
        return SL_ERR;
    if (strcasecmp(v, "ROW") != 0) {
        sl_err(s->err, sizeof(s->err), "binlog_format is %s; sluice needs ROW (SET GLOBAL "
               "binlog_format = 'ROW' and binlog_format=ROW in my.cnf)", v);
        return SL_ERR;
    }
    if (sl_my_scalar(s, s->mysql, "SELECT @@global.binlog_row_image", v, sizeof(v)) == SL_OK &&
        strcasecmp(v, "FULL") != 0)
        sl_warn("binlog_row_image is %s: before/after images are partial (columns the "
                "server does not log are null); set binlog_row_image=FULL for full rows", v);
    char csum[64] = "";
    sl_my_scalar(s, s->mysql, "SELECT @@global.binlog_checksum", csum, sizeof(csum));
    if (sl_my_scalar(s, s->mysql, "SELECT VERSION()", v, sizeof(v)) == SL_OK)
        s->mariadb = strcasestr(v, "mariadb") != NULL;

    /* Initial snapshot: when the mode asks for one, or one was interrupted. */
    if (!s->recv_file) {
        int mode = s->conf->snapshot.mode;
        char *cks = sl_pipeline_checkpoint_json(s->p);
        json_t *ck = cks ? json_loads(cks, 0, NULL) : NULL;
        free(cks);
        json_t *resume = ck ? json_object_get(ck, "snapshot") : NULL;
        bool todo = mode != SL_MY_SNAP_NEVER &&
                    (resume || (mode == SL_MY_SNAP_ALWAYS ? !s->snapshot_done
                                                          : !ck && !s->snapshot_done));
        int rc = SL_OK;
        if (todo) {
            bool stopped = false;
            s->ever_connected = true;
            sl_pipeline_set_source_connected(s->p, true);
            rc = sl_my_snapshot(s, resume, &stopped);
            if (rc == SL_OK && stopped) s->finished = true;
            if (rc == SL_OK && !stopped) s->snapshot_done = true;
        }
        if (rc == SL_OK && mode == SL_MY_SNAP_INITIAL_ONLY && !s->finished) {
            sl_info("snapshot mode initial_only: snapshot done, stopping");
            s->finished = true;
        }
        if (ck) json_decref(ck);
        if (rc != SL_OK || s->finished) return rc;
    }

    /* Position: what we received (reconnect), else the checkpoint, else `start`. */
    if (!s->recv_file && !s->gtid_state.len) {
        json_t *ck = sl_pipeline_stored_checkpoint(s->p);
        const char *f = ck ? json_string_value(json_object_get(ck, "file")) : NULL;
        json_t *g = ck ? json_object_get(ck, "gtid") : NULL;
        if (json_is_string(g)) {
            sl_buf_reset(&s->gtid_state);
            sl_buf_puts(&s->gtid_state, json_string_value(g));
            /* only a state marked complete (seeded from the server, or `start`) is
             * trusted to resume by GTID; older checkpoints resume by file/position */
            s->gtid_complete = json_is_true(json_object_get(ck, "gtid_complete")) ||
                               !(f && *f);
            char gerr[128];
            if (s->gtid_complete && s->mariadb &&
                !sl_my_gtid_list_valid(json_string_value(g), gerr, sizeof(gerr))) {
                sl_warn("checkpoint GTID state '%s' is not a MariaDB GTID list (%s); resuming "
                        "by file/position", json_string_value(g), gerr);
                s->gtid_complete = false;
            }
        }
        if (f && *f) {
            sl_my_set_str(&s->recv_file, f, strlen(f));
            s->recv_pos = (uint64_t)json_integer_value(json_object_get(ck, "pos"));
        } else if (!json_is_string(g)) {
            int rc = sl_my_initial_position(s);
            if (rc != SL_OK) return rc;
        }
    }

    /* Schemas of tracked databases sluice has none of yet (the first start): read now,
     * after the start position is known (my_history.c). */
    if (sl_my_hist_seed(s, s->meta, true) != SL_OK) return SL_ERR;

    /* A GTID state for every domain at the file position (first start, an older
     * checkpoint), so later checkpoints can resume by GTID; this connection still starts
     * at the file position it was derived from. */
    bool trusted_gtid = s->gtid_complete;
    if (s->mariadb && !s->gtid_complete) sl_my_gtid_seed(s, s->meta);

    char q[512];
    snprintf(q, sizeof(q), "SET @master_binlog_checksum = @@global.binlog_checksum");
    if (mysql_query(s->mysql, q) != 0) {
        sl_err(s->err, sizeof(s->err), "%s: %s", q, mysql_error(s->mysql));
        return SL_AGAIN;
    }
    mysql_query(s->mysql, "SET @mariadb_slave_capability = 4");
    snprintf(q, sizeof(q), "SET @master_heartbeat_period = %lld",
             (long long)s->conf->heartbeat_ms * 1000000LL);
    mysql_query(s->mysql, q);
    /* By GTID when there is no file position (`start: <GTID>`), or on MariaDB when the
     * checkpoint's (or the received) state is complete: the same transactions as the file
     * position on this server, and the right ones on another server of the replication
     * topology (failover). */
    bool have_file = s->recv_file && *s->recv_file;
    bool by_gtid = s->gtid_state.len && !s->gtid_off &&
                   (!have_file || (s->mariadb && trusted_gtid));
    s->conn_gtid = by_gtid;
    if (by_gtid) {
        char *esc = sl_malloc(2 * s->gtid_state.len + 1);
        mysql_real_escape_string(s->mysql, esc, s->gtid_state.data,
                                 (unsigned long)s->gtid_state.len);
        sl_buf_t set = SL_BUF_INIT;
        sl_buf_printf(&set, "SET @slave_connect_state = '%s'", esc);
        free(esc);
        int qrc = mysql_query(s->mysql, sl_buf_cstr(&set));
        sl_buf_free(&set);
        if (qrc != 0) {
            sl_err(s->err, sizeof(s->err), "SET @slave_connect_state: %s (GTID start needs "
                   "MariaDB)", mysql_error(s->mysql));
            return SL_ERR;
        }
        mysql_query(s->mysql, "SET @slave_gtid_strict_mode = 0");
        mysql_query(s->mysql, "SET @slave_gtid_ignore_duplicates = 0");
    }

    s->rpl = mariadb_rpl_init(s->mysql);
    if (!s->rpl) {
        sl_err(s->err, sizeof(s->err), "mariadb_rpl_init failed");
        return SL_AGAIN;
    }
    uint32_t sid = (uint32_t)s->conf->server_id;
    if (!sid) {
        uint32_t h = 2166136261u;
        for (const char *c = sl_pipeline_name(s->p); *c; c++) h = (h ^ (uint8_t)*c) * 16777619u;
        sid = 0x40000000u | (h & 0x3fffffffu);
    }
    /* by GTID, the server takes the position from @slave_connect_state */
    const char *fname = !by_gtid && s->recv_file ? s->recv_file : "";
    unsigned long start = !by_gtid && s->recv_pos ? (unsigned long)s->recv_pos : 4;
    mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_FILENAME, fname, strlen(fname));
    mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_START, start);
    mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_SERVER_ID, sid);
    mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_FLAGS, MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS);
    mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_VERIFY_CHECKSUM, 0);
    mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_EXTRACT_VALUES, 0);
    if (mariadb_rpl_open(s->rpl) != 0) {
        const char *e = mysql_error(s->mysql);
        unsigned no = mysql_errno(s->mysql);
        if (no == 1236 && by_gtid) {
            int grc = sl_my_gtid_refused(s, e);
            if (grc != SL_OK) return grc;
        }
        if (no == 1236)
            sl_my_position_refused(s, e);
        else
            sl_err(s->err, sizeof(s->err), "binlog dump failed: %s (the user needs "
                   "REPLICATION SLAVE)", e);
        return no == 1236 || no == 1227 || no == 1045 ? SL_ERR : SL_AGAIN;
    }
    sl_my_new_decoder(s);
    if (!strcasecmp(csum, "CRC32")) sl_binlog_decoder_set_checksum(s->dec, SL_BINLOG_CSUM_CRC32,
                                                                    false);
    else if (!strcasecmp(csum, "NONE")) sl_binlog_decoder_set_checksum(s->dec,
                                                                       SL_BINLOG_CSUM_OFF, false);
    if (s->recv_file && !by_gtid) sl_my_set_str(&s->file, s->recv_file, strlen(s->recv_file));
    s->ever_connected = true;
    s->in_tx = false;
    sl_pipeline_set_source_connected(s->p, true);
    if (by_gtid && have_file)
        sl_info("streaming binlog from GTID %s (server id %u; file position %s:%llu kept as "
                "a fallback)", sl_buf_cstr(&s->gtid_state), sid, s->recv_file,
                (unsigned long long)s->recv_pos);
    else if (by_gtid)
        sl_info("streaming binlog from GTID %s (server id %u)", sl_buf_cstr(&s->gtid_state), sid);
    else
        sl_info("streaming binlog from %s:%llu (server id %u)", fname,
                (unsigned long long)s->recv_pos, sid);
    return SL_OK;
}

static int sl_my_stream(sl_my_source_t *s)
{
    MARIADB_RPL_EVENT *event = NULL;
    for (;;) {
        if (sl_pipeline_stopping(s->p)) break;
        if (sl_pipeline_paused(s->p)) {
            /* stop reading; the server's writes block on TCP */
            if (sl_emit_flush(s->p) != SL_OK) break;
            sl_pipeline_sleep(s->p, 100);
            continue;
        }
        event = mariadb_rpl_fetch(s->rpl, event);
        if (!event) {
            sl_err(s->err, sizeof(s->err), "binlog stream: %s (errno %u)",
                   mysql_error(s->mysql), mysql_errno(s->mysql));
            unsigned no = mysql_errno(s->mysql);
            if (no == 1236 && s->conn_gtid) {
                /* the first answer to a GTID start: the server may not hold that state */
                int grc = sl_my_gtid_refused(s, mysql_error(s->mysql));
                if (grc != SL_OK) {
                    mariadb_free_rpl_event(event);
                    return grc;
                }
            }
            if (no == 1236 && !s->conn_gtid)
                sl_my_position_refused(s, mysql_error(s->mysql));
            if (no == 1236 || no == 1941 || no == 1942 || no == 1945 || no == 1227 ||
                no == 1045) {
                /* purged position, unparsable or impossible GTID state: retrying cannot
                 * help; the user must choose another start */
                mariadb_free_rpl_event(event);
                return SL_ERR;
            }
            return SL_AGAIN;
        }
        if (event->raw_data && event->raw_data_size > 1) {
            int rc = sl_my_event(s, event->raw_data + 1, event->raw_data_size - 1);
            if (rc != SL_OK) {
                mariadb_free_rpl_event(event);
                return rc;
            }
        }
        if (sl_emit_tick(s->p) < 0) break;
    }
    if (event) mariadb_free_rpl_event(event);
    return SL_OK;
}

/* ---- binlog files ---------------------------------------------------------------- */

static int sl_my_replay_files(sl_my_source_t *s)
{
    if (s->conf->schema_dsn) {
        sl_my_dsn_t d;
        if (sl_my_dsn_parse(s->conf->schema_dsn, &d, s->err, sizeof(s->err)) != SL_OK)
            return SL_ERR;
        s->meta = sl_my_connect(s, &d);
        sl_my_dsn_free(&d);
        if (!s->meta) return SL_ERR;
        char v[128];
        if (sl_my_scalar(s, s->meta, "SELECT VERSION()", v, sizeof(v)) == SL_OK)
            s->mariadb = strcasestr(v, "mariadb") != NULL;
        /* the server's schemas are today's: valid after everything in the files */
        if (sl_my_hist_seed(s, s->meta, false) != SL_OK) return SL_ERR;
    }
    json_t *ck = sl_pipeline_stored_checkpoint(s->p);
    const char *ck_file = ck ? json_string_value(json_object_get(ck, "file")) : NULL;
    uint64_t ck_pos = ck ? (uint64_t)json_integer_value(json_object_get(ck, "pos")) : 0;
    bool skipping = ck_file != NULL;
    for (size_t i = 0; i < s->conf->binlog_files.n && !sl_pipeline_stopping(s->p); i++) {
        const char *path = s->conf->binlog_files.v[i];
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (skipping && strcmp(base, ck_file) != 0) continue;   /* before the checkpoint */
        FILE *f = fopen(path, "rb");
        if (!f) return sl_err(s->err, sizeof(s->err), "binlog_files: %s: %s", path,
                              strerror(errno));
        sl_buf_t data = SL_BUF_INIT;
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) sl_buf_put(&data, chunk, n);
        fclose(f);
        sl_binlog_file_t bf;
        if (sl_binlog_file_init(&bf, (const uint8_t *)data.data, data.len, s->err,
                                sizeof(s->err)) != SL_OK) {
            sl_buf_free(&data);
            return SL_ERR;
        }
        sl_my_new_decoder(s);
        sl_my_set_str(&s->file, base, strlen(base));
        const uint8_t *ev;
        size_t ev_len, ev_off;
        int r;
        uint64_t nev = 0;
        while ((r = sl_binlog_file_next(&bf, &ev, &ev_len, &ev_off, s->err, sizeof(s->err)))
               == 1) {
            if (sl_pipeline_stopping(s->p)) break;
            /* Until the checkpoint, decode (table maps, format) but emit nothing. */
            if (skipping && ev_off + ev_len <= ck_pos) {
                sl_binlog_event_t dummy;
                char e2[SL_ERRSTR_SIZE];
                s->hist_quiet = true;   /* the schemas are the history's as of the checkpoint */
                if (sl_binlog_decode(s->dec, ev, ev_len, &dummy, e2, sizeof(e2)) == SL_OK &&
                    dummy.type == SL_BINLOG_FORMAT_DESCRIPTION_EVENT)
                    s->mariadb = dummy.fde.mariadb;
                s->hist_quiet = false;
                continue;
            }
            if (skipping) skipping = false;
            int rc = sl_my_event(s, ev, ev_len);
            if (rc != SL_OK) {
                char e[SL_ERRSTR_SIZE];
                snprintf(e, sizeof(e), "%s", s->err);
                sl_err(s->err, sizeof(s->err), "%s at offset %zu: %s", path, ev_off, e);
                sl_buf_free(&data);
                return SL_ERR;
            }
            nev++;
        }
        sl_buf_free(&data);
        if (r < 0) {
            char e[SL_ERRSTR_SIZE];
            snprintf(e, sizeof(e), "%s", s->err);
            sl_err(s->err, sizeof(s->err), "%s: %s", path, e);
            return SL_ERR;
        }
        sl_info("binlog file %s replayed (%llu events)", path, (unsigned long long)nev);
        skipping = false;
    }
    s->finished = true;
    return SL_OK;
}

/* ---- ops ------------------------------------------------------------------------- */

static void sl_my_destroy(void *src);

static void *sl_my_create(const void *conf, sl_pipeline_t *p, char *errstr, size_t errstr_size)
{
    const sl_my_conf_t *c = conf;
    sl_my_source_t *s = sl_calloc(1, sizeof(*s));
    s->conf = c;
    s->p = p;
    s->ntables = c->tables.n;
    s->tdb = sl_calloc(s->ntables + 1, sizeof(char *));
    s->ttable = sl_calloc(s->ntables + 1, sizeof(char *));
    for (size_t i = 0; i < s->ntables; i++) {
        const char *dot = strchr(c->tables.v[i], '.');
        if (!dot) {
            sl_err(errstr, errstr_size, "tables[%zu]: must be db.table", i);
            sl_my_destroy(s);
            return NULL;
        }
        s->tdb[i] = sl_strndup(c->tables.v[i], (size_t)(dot - c->tables.v[i]));
        s->ttable[i] = sl_strdup(dot + 1);
    }
    if (c->dsn && sl_my_dsn_parse(c->dsn, &s->dsn, errstr, errstr_size) != SL_OK) {
        sl_my_destroy(s);
        return NULL;
    }
    s->hist_fd = -1;
    s->env.pipeline = sl_pipeline_name(p);
    s->env.thread = -1;
    s->env.shard_key = sl_pipeline_spec(p)->sharding ? sl_pipeline_spec(p)->shard_key : NULL;
    return s;
}

static int sl_my_run(void *src, char *errstr, size_t errstr_size)
{
    sl_my_source_t *s = src;
    if (sl_my_hist_start(s) != SL_OK) return sl_err(errstr, errstr_size, "%s", s->err);
    if (s->conf->binlog_files.n) {
        int rc = sl_my_replay_files(s);
        sl_emit_tx_abort(s->p);
        sl_emit_flush(s->p);
        sl_emit_drain(s->p, sl_pipeline_stop_timeout_ms(s->p));
        sl_my_disconnect(s);
        if (rc != SL_OK) return sl_err(errstr, errstr_size, "%s", s->err);
        return SL_OK;
    }
    unsigned backoff = 500;
    while (!sl_pipeline_stopping(s->p)) {
        int rc = sl_my_setup(s);
        if (rc == SL_OK && s->finished) break;   /* initial_only, or stopped mid-snapshot */
        if (rc == SL_OK) {
            backoff = 500;
            rc = sl_my_stream(s);
        }
        if (rc == SL_OK) break;
        if (rc == SL_ERR || !s->ever_connected) {
            sl_my_disconnect(s);
            return sl_err(errstr, errstr_size, "%s", s->err);
        }
        sl_warn("mysql: %s; reconnecting in %u ms", s->err, backoff);
        sl_emit_tx_abort(s->p);
        if (s->in_tx && s->tx_gtid[0] && s->mariadb) {
            /* the open transaction's GTID was noted but it never committed */
            sl_buf_t t = s->gtid_state;
            s->gtid_state = s->gtid_prev;
            s->gtid_prev = t;
        }
        s->in_tx = false;
        sl_my_disconnect(s);
        if (sl_pipeline_sleep(s->p, backoff)) break;
        backoff = backoff * 2 > SL_MY_BACKOFF_MAX_MS ? SL_MY_BACKOFF_MAX_MS : backoff * 2;
    }
    sl_emit_tx_abort(s->p);
    sl_emit_flush(s->p);
    if (sl_emit_drain(s->p, sl_pipeline_stop_timeout_ms(s->p)) != SL_OK)
        sl_warn("stop: sinks did not finish in time; the last batches will be replayed");
    sl_info("stopped at %s:%llu", s->recv_file ? s->recv_file : "?",
            (unsigned long long)s->recv_pos);
    sl_my_disconnect(s);
    return SL_OK;
}

static void sl_my_destroy(void *src)
{
    sl_my_source_t *s = src;
    if (!s) return;
    sl_my_disconnect(s);
    if (s->dec) sl_binlog_decoder_free(s->dec);
    for (size_t i = 0; i < s->ntables; i++) {
        free(s->tdb[i]);
        free(s->ttable[i]);
    }
    free(s->tdb);
    free(s->ttable);
    sl_my_dsn_free(&s->dsn);
    free(s->file);
    free(s->recv_file);
    sl_buf_free(&s->query);
    sl_binlog_envctx_free(&s->env);
    sl_buf_free(&s->gtid_state);
    sl_buf_free(&s->gtid_prev);
    sl_buf_free(&s->posbuf.json);
    sl_my_xa_free(s->xa_open);
    while (s->xa_held) {
        sl_my_xa_t *next = s->xa_held->next;
        sl_my_xa_free(s->xa_held);
        s->xa_held = next;
    }
    sl_buf_free(&s->xa_open_hold);
    sl_buf_free(&s->xa_hold);
    sl_my_hist_free(s);
    free(s);
}

const sl_source_ops_t sl_source_mysql = {
    .type = "mysql",
    .conf = sl_my_conf_defs,
    .conf_size = sizeof(sl_my_conf_t),
    .validate = sl_my_validate,
    .create = sl_my_create,
    .run = sl_my_run,
    .destroy = sl_my_destroy,
};
