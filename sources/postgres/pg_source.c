/*
 * pg_source.c - the PostgreSQL logical-replication source (type "postgres").
 *
 * Connects twice with libpq: a replication connection (replication=database) that
 * streams pgoutput in COPY BOTH mode, and a plain SQL connection for setup (publication,
 * slot lookup, wal_level check) and catalog lookups (primary keys, non-built-in types)
 * while streaming. Decoding is pg_decode.c's job; this file does the I/O, turns decoded
 * messages into events through sl_emit_*(), and keeps the replication protocol honest:
 *
 *   recv_lsn   end of the last transaction fully handed to the batcher ("received")
 *   acked_lsn  end of the last transaction every needed sink made durable (ack() hook,
 *              from the committer thread) - the only position ever reported as flushed
 *   idle_lsn   WAL end from a keepalive while nothing was pending or in flight: nothing
 *              before it can still reach us, so confirming it keeps an idle or filtered
 *              publication from pinning WAL (as pg_recvlogical does)
 *
 * Standby status updates carry write=recv, flush=apply=max(acked, idle); they are sent
 * every SL_PG_STATUS_MS, when the server asks, soon after acked moves, and at shutdown.
 * After a reconnect the server resends from the confirmed position; transactions whose
 * commit LSN we already received are skipped, so a reconnect adds no duplicates.
 *
 * Thread: everything runs on the pipeline's source thread except sl_pg_ack().
 */
#include "sl_common.h"
#include "sl_pipeline.h"
#include "sl_log.h"
#include "sl_json.h"
#include "pg_decode.h"
#include "pg_source.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdatomic.h>
#include <errno.h>

#define SL_PG_STATUS_MS      10000  /* periodic standby status interval */
#define SL_PG_ACK_MIN_MS     100    /* feedback after acked moved, at most this often */
#define SL_PG_BACKOFF_MAX_MS 30000
#define SL_PG_EPOCH_OFFSET_US 946684800000000LL  /* 2000-01-01 - 1970-01-01 in µs */

/* ---- configuration --------------------------------------------------------------- */



static const char *const sl_pg_snapshot_modes[] = {"initial", "never", "initial_only",
                                                    "always", NULL};

static const sl_conf_def_t sl_pg_snap_defs[] = {
    {.key = "mode", .type = SL_CT_ENUM, .offset = offsetof(sl_pg_snap_conf_t, mode),
     .def = "initial", .choices = sl_pg_snapshot_modes,
     .doc = "initial (once, when there is no checkpoint), never, initial_only, always"},
    {.key = "chunk_size", .type = SL_CT_INT,
     .offset = offsetof(sl_pg_snap_conf_t, chunk_size), .def = "10000", .min = 1,
     .max = 10000000, .doc = "rows per query"},
    {.key = "max_parallel_tables", .type = SL_CT_INT,
     .offset = offsetof(sl_pg_snap_conf_t, max_parallel_tables), .def = "2", .min = 1,
     .max = 64, .doc = "tables read at once"},
    {.key = "where", .type = SL_CT_STRMAP, .offset = offsetof(sl_pg_snap_conf_t, where),
     .doc = "per-table filter: {\"schema.table\": \"SQL condition\"}"},
    {.key = NULL},
};

static const char *sl_pg_check_ident(const void *field)
{
    const char *s = *(char *const *)field;
    if (!s) return NULL;
    size_t n = strlen(s);
    if (n == 0 || n > 63) return "must be 1 to 63 characters";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return "may contain only lower-case letters, digits and '_'";
    }
    return NULL;
}

static const sl_conf_def_t sl_pg_conf_defs[] = {
    {.key = "id", .type = SL_CT_STR, .offset = offsetof(sl_pg_conf_t, id),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .doc = "source id"},
    {.key = "dsn", .type = SL_CT_STR, .offset = offsetof(sl_pg_conf_t, dsn),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY | SL_CF_SECRET,
     .doc = "libpq connection string or postgresql:// URI"},
    {.key = "slot", .type = SL_CT_STR, .offset = offsetof(sl_pg_conf_t, slot),
     .flags = SL_CF_REQUIRED, .check = sl_pg_check_ident, .doc = "replication slot name"},
    {.key = "publication", .type = SL_CT_STR, .offset = offsetof(sl_pg_conf_t, publication),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .doc = "publication name"},
    {.key = "tables", .type = SL_CT_STRLIST, .offset = offsetof(sl_pg_conf_t, tables),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .doc = "schema.table or schema.* entries"},
    {.key = "create_slot", .type = SL_CT_BOOL, .offset = offsetof(sl_pg_conf_t, create_slot),
     .def = "true", .doc = "create the slot when absent"},
    {.key = "create_publication", .type = SL_CT_BOOL,
     .offset = offsetof(sl_pg_conf_t, create_publication), .def = "true",
     .doc = "create the publication (for exactly `tables`) when absent"},
    {.key = "snapshot", .type = SL_CT_OBJ, .offset = offsetof(sl_pg_conf_t, snapshot),
     .flags = SL_CF_SHORTHAND, .sub = sl_pg_snap_defs,
     .doc = "initial snapshot: a mode, or {mode, chunk_size, max_parallel_tables, where}"},
    {.key = "unavailable_value", .type = SL_CT_STR,
     .offset = offsetof(sl_pg_conf_t, unavailable_value),
     .def = "__debezium_unavailable_value", .doc = "placeholder for unchanged TOAST values"},
    {.key = NULL},
};

/* Split "schema.table" at the first unquoted dot. */
static bool sl_pg_split_table(const char *s, char **schema, char **table)
{
    const char *dot = strchr(s, '.');
    if (!dot || dot == s || !dot[1] || strchr(dot + 1, '.')) return false;
    *schema = sl_strndup(s, (size_t)(dot - s));
    *table = sl_strdup(dot + 1);
    return true;
}

static void sl_pg_validate(const void *conf, const char *path, sl_errs_t *errs)
{
    const sl_pg_conf_t *c = conf;
    for (size_t i = 0; i < c->tables.n; i++) {
        char *sc, *tb;
        if (!sl_pg_split_table(c->tables.v[i], &sc, &tb)) {
            char p[256];
            snprintf(p, sizeof(p), "%s.tables[%zu]", path, i);
            sl_errs_add(errs, p, "must be schema.table or schema.* (got \"%s\")",
                        c->tables.v[i]);
            continue;
        }
        free(sc);
        free(tb);
    }
}

/* ---- state ----------------------------------------------------------------------- */



/* ---- helpers --------------------------------------------------------------------- */

static const char *sl_pg_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

/* Trim libpq's trailing newline from an error message into buf. */
const char *sl_pg_msg(PGconn *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s", c ? PQerrorMessage(c) : "no connection");
    size_t l = strlen(buf);
    while (l && (buf[l - 1] == '\n' || buf[l - 1] == ' ')) buf[--l] = '\0';
    return buf;
}

PGconn *sl_pg_connect(sl_pg_source_t *s, bool replication)
{
    char app[128];
    snprintf(app, sizeof(app), "sluice-%s", sl_pipeline_name(s->p));
    const char *keys[] = {"dbname", "replication", "options", "client_encoding",
                          "application_name", "connect_timeout", "keepalives_idle", NULL};
    const char *vals[] = {s->conf->dsn, replication ? "database" : NULL,
                          "-c datestyle=ISO,YMD -c timezone=UTC -c extra_float_digits=3 "
                          "-c intervalstyle=postgres -c bytea_output=hex",
                          "UTF8", app, "10", "30", NULL};
    if (!replication) {
        /* Skip the replication key for the SQL connection. */
        keys[1] = "fallback_application_name";
        vals[1] = app;
    }
    return PQconnectdbParams(keys, vals, 1);
}

/* Run a query expecting tuples or a command result. NULL + s->err on failure. */
PGresult *sl_pg_query(sl_pg_source_t *s, PGconn *c, const char *sql, int nparams,
                             const char *const *params)
{
    PGresult *res = nparams ? PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
                            : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return res;
    char m[SL_ERRSTR_SIZE];
    snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", sl_pg_sqlstate(res));
    snprintf(s->err, sizeof(s->err), "%s [sqlstate %s] (query: %.80s)",
             sl_pg_msg(c, m, sizeof(m)), s->sqlstate, sql);
    PQclear(res);
    return NULL;
}

static void sl_pg_disconnect(sl_pg_source_t *s)
{
    if (s->repl) PQfinish(s->repl);
    if (s->sql) PQfinish(s->sql);
    s->repl = s->sql = NULL;
    s->streaming = false;
    sl_pipeline_set_source_connected(s->p, false);
}

bool sl_pg_table_wanted(const sl_pg_source_t *s, const char *nsp, const char *rel)
{
    for (size_t i = 0; i < s->ntables; i++) {
        if (strcmp(s->tschema[i], nsp) != 0) continue;
        if (strcmp(s->tname[i], "*") == 0 || strcmp(s->tname[i], rel) == 0) return true;
    }
    return false;
}

/* ---- catalog lookups (relation hook) --------------------------------------------- */

/* Register mappings for column types the decoder does not know (enums, domains, arrays
 * of them) from pg_type. Failures leave the default (text as string). */
void sl_pg_resolve_types(sl_pg_source_t *s, sl_pg_relation_t *rel)
{
    for (uint16_t i = 0; i < rel->ncols; i++) {
        sl_pg_type_t t;
        uint32_t oid = rel->cols[i].type_oid;
        if (sl_pg_builtin_type(oid, &t)) continue;
        char oidbuf[16];
        snprintf(oidbuf, sizeof(oidbuf), "%u", oid);
        const char *params[] = {oidbuf};
        PGresult *res = sl_pg_query(
            s, s->sql,
            "SELECT t.typtype, t.typcategory, t.typelem, t.typbasetype, "
            "COALESCE(e.typdelim, t.typdelim), "
            "COALESCE(e.typbasetype, 0) FROM pg_type t LEFT JOIN pg_type e ON "
            "e.oid = t.typelem WHERE t.oid = $1::oid",
            1, params);
        if (!res) {
            sl_warn("type lookup for oid %u failed: %s", oid, s->err);
            continue;
        }
        if (PQntuples(res) == 1) {
            char typtype = PQgetvalue(res, 0, 0)[0];
            char category = PQgetvalue(res, 0, 1)[0];
            uint32_t elem = (uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL, 10);
            uint32_t base = (uint32_t)strtoul(PQgetvalue(res, 0, 3), NULL, 10);
            uint32_t elembase = (uint32_t)strtoul(PQgetvalue(res, 0, 5), NULL, 10);
            sl_pg_type_t reg = {.oid = oid, .kind = SL_PGK_STRING,
                                .elem_kind = SL_PGK_STRING,
                                .delim = PQgetvalue(res, 0, 4)[0]};
            sl_pg_type_t bt;
            if (typtype == 'd' && sl_pg_builtin_type(base, &bt)) {
                reg = bt;
                reg.oid = oid;
            } else if (category == 'A' && elem) {
                reg.kind = SL_PGK_ARRAY;
                if (sl_pg_builtin_type(elem, &bt) ||
                    (elembase && sl_pg_builtin_type(elembase, &bt)))
                    reg.elem_kind = bt.kind;
            }
            sl_pg_decoder_register_type(s->dec, &reg);
        }
        PQclear(res);
    }
}

/* Mark primary-key columns. Debezium keys messages by the primary key whatever the
 * replica identity; without one, REPLICA IDENTITY USING INDEX columns serve. */
static void sl_pg_resolve_pk(sl_pg_source_t *s, sl_pg_relation_t *rel)
{
    char oidbuf[16];
    snprintf(oidbuf, sizeof(oidbuf), "%u", rel->relid);
    const char *params[] = {oidbuf};
    PGresult *res = sl_pg_query(
        s, s->sql,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::oid AND i.indisprimary",
        1, params);
    for (uint16_t i = 0; i < rel->ncols; i++)
        rel->cols[i].is_pk = rel->replident == 'i' && (rel->cols[i].flags & 1);
    if (!res) {
        sl_warn("primary key lookup for %s.%s failed: %s", rel->nspname, rel->relname,
                s->err);
        return;
    }
    if (PQntuples(res) > 0) {
        for (uint16_t i = 0; i < rel->ncols; i++) {
            rel->cols[i].is_pk = false;
            for (int r = 0; r < PQntuples(res); r++)
                if (strcmp(PQgetvalue(res, r, 0), rel->cols[i].name) == 0)
                    rel->cols[i].is_pk = true;
        }
    }
    PQclear(res);
}

static void sl_pg_relation_hook(void *arg, sl_pg_relation_t *rel)
{
    sl_pg_source_t *s = arg;
    /* rel->user is the interned table (owned by the pipeline), NULL when filtered out. */
    if (!sl_pg_table_wanted(s, rel->nspname, rel->relname)) {
        rel->user = NULL;
        return;
    }
    rel->user = (void *)sl_pipeline_table(s->p, s->db, rel->nspname, rel->relname);
    if (s->sql) {
        sl_pg_resolve_types(s, rel);
        sl_pg_resolve_pk(s, rel);
    }
    sl_debug("relation %u %s.%s (%u columns, identity %c)", rel->relid, rel->nspname,
             rel->relname, rel->ncols, rel->replident);
}

/* ---- standby status -------------------------------------------------------------- */

static void sl_put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t sl_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

static uint64_t sl_pg_flush_lsn(sl_pg_source_t *s)
{
    uint64_t acked = atomic_load(&s->acked_lsn);
    return acked > s->idle_lsn ? acked : s->idle_lsn;
}

/* Send a standby status update. SL_OK or SL_AGAIN (connection lost). */
static int sl_pg_send_status(sl_pg_source_t *s, bool reply)
{
    if (!s->repl || !s->streaming) return SL_OK;
    uint64_t flush = sl_pg_flush_lsn(s);
    uint64_t write = s->recv_lsn > flush ? s->recv_lsn : flush;
    uint8_t msg[34];
    msg[0] = 'r';
    sl_put64(msg + 1, write);
    sl_put64(msg + 9, flush);
    sl_put64(msg + 17, flush);
    sl_put64(msg + 25, (uint64_t)((int64_t)sl_now_wall_us() - SL_PG_EPOCH_OFFSET_US));
    msg[33] = reply ? 1 : 0;
    if (PQputCopyData(s->repl, (const char *)msg, sizeof(msg)) <= 0 || PQflush(s->repl) < 0) {
        char m[SL_ERRSTR_SIZE];
        snprintf(s->err, sizeof(s->err), "sending standby status: %s",
                 sl_pg_msg(s->repl, m, sizeof(m)));
        return SL_AGAIN;
    }
    if (flush != s->sent_flush_lsn) {
        char a[24];
        sl_pg_lsn_format(flush, a);
        sl_debug("confirmed flush %s", a);
    }
    s->sent_flush_lsn = flush;
    s->last_status_us = sl_now_mono_us();
    return SL_OK;
}

static int sl_pg_maybe_status(sl_pg_source_t *s)
{
    uint64_t now = sl_now_mono_us();
    uint64_t since = now - s->last_status_us;
    if (since >= SL_PG_STATUS_MS * 1000ull ||
        (sl_pg_flush_lsn(s) != s->sent_flush_lsn && since >= SL_PG_ACK_MIN_MS * 1000ull))
        return sl_pg_send_status(s, false);
    return SL_OK;
}

/* Idle hook: the batcher waits for sinks; keep the server from timing us out. */
static void sl_pg_idle(void *arg)
{
    sl_pg_source_t *s = arg;
    if (s->repl && sl_pg_maybe_status(s) != SL_OK)
        sl_warn("%s", s->err);
}

static void sl_pg_ack(void *src, const sl_pos_t *pos)
{
    sl_pg_source_t *s = src;
    uint64_t cur = atomic_load(&s->acked_lsn);
    while (pos->lsn > cur && !atomic_compare_exchange_weak(&s->acked_lsn, &cur, pos->lsn))
        ;
}

/* ---- setup ----------------------------------------------------------------------- */

/* A partitioned table's changes are published under its own name only when the
 * publication has publish_via_partition_root (PostgreSQL 13+); otherwise they arrive as
 * its partitions, which `tables` does not name, and would be dropped. An existing
 * publication without it is an error for every partitioned table named in `tables`. */
static int sl_pg_check_partitioned(sl_pg_source_t *s)
{
    const char *params[] = {s->conf->publication};
    PGresult *res = sl_pg_query(s, s->sql, "SELECT pubviaroot FROM pg_publication WHERE "
                                "pubname = $1", 1, params);
    if (!res) return SL_AGAIN;
    bool viaroot = PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (viaroot) return SL_OK;
    for (size_t i = 0; i < s->ntables; i++) {
        if (!strcmp(s->tname[i], "*")) continue;
        const char *p2[] = {s->tschema[i], s->tname[i]};
        res = sl_pg_query(s, s->sql, "SELECT 1 FROM pg_class c JOIN pg_namespace n ON "
                          "n.oid = c.relnamespace WHERE c.relkind = 'p' AND n.nspname = $1 "
                          "AND c.relname = $2", 2, p2);
        if (!res) return SL_AGAIN;
        bool partitioned = PQntuples(res) > 0;
        PQclear(res);
        if (partitioned) {
            sl_err(s->err, sizeof(s->err), "spec.source.config.tables[%zu]: %s.%s is a "
                   "partitioned table and publication \"%s\" does not have "
                   "publish_via_partition_root, so its changes would arrive as its "
                   "partitions and be dropped; run ALTER PUBLICATION %s SET "
                   "(publish_via_partition_root = true), or name the partitions in tables",
                   i, s->tschema[i], s->tname[i], s->conf->publication, s->conf->publication);
            return SL_ERR;
        }
    }
    return SL_OK;
}

/* PostgreSQL refuses UPDATE and DELETE on a table in a publication that has no replica
 * identity (no primary key with REPLICA IDENTITY DEFAULT, or NOTHING): the application's
 * writes fail, not sluice. Say so for every such table in the publication. */
static void sl_pg_warn_identity(sl_pg_source_t *s)
{
    const char *params[] = {s->conf->publication};
    PGresult *res = sl_pg_query(s, s->sql,
                                "SELECT pt.schemaname::text, pt.tablename::text FROM "
                                "pg_publication_tables pt JOIN pg_namespace n ON n.nspname = "
                                "pt.schemaname JOIN pg_class c ON c.relnamespace = n.oid AND "
                                "c.relname = pt.tablename WHERE pt.pubname = $1 AND "
                                "(c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS "
                                "(SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND "
                                "i.indisprimary))) ORDER BY 1, 2", 1, params);
    if (!res) return;   /* only a warning */
    for (int r = 0; r < PQntuples(res); r++) {
        const char *nsp = PQgetvalue(res, r, 0), *rel = PQgetvalue(res, r, 1);
        if (!sl_pg_table_wanted(s, nsp, rel)) continue;
        sl_warn("table %s.%s has no replica identity (no primary key, or REPLICA IDENTITY "
                "NOTHING): while it is in publication %s, PostgreSQL rejects UPDATE and "
                "DELETE on it; run ALTER TABLE %s.%s REPLICA IDENTITY FULL (or add a primary "
                "key)", nsp, rel, s->conf->publication, nsp, rel);
    }
    PQclear(res);
}

static int sl_pg_ensure_publication(sl_pg_source_t *s)
{
    const char *params[] = {s->conf->publication};
    PGresult *res = sl_pg_query(s, s->sql, "SELECT 1 FROM pg_publication WHERE pubname = $1",
                                1, params);
    if (!res) return SL_AGAIN;
    bool exists = PQntuples(res) > 0;
    PQclear(res);
    if (exists) return PQserverVersion(s->sql) >= 130000 ? sl_pg_check_partitioned(s) : SL_OK;
    if (!s->conf->create_publication) {
        sl_err(s->err, sizeof(s->err),
               "publication \"%s\" does not exist and create_publication is false; create it "
               "(CREATE PUBLICATION %s FOR TABLE ...) or set create_publication: true",
               s->conf->publication, s->conf->publication);
        return SL_ERR;
    }
    sl_buf_t q = SL_BUF_INIT;
    char *pub = PQescapeIdentifier(s->sql, s->conf->publication, strlen(s->conf->publication));
    sl_buf_printf(&q, "CREATE PUBLICATION %s FOR ", pub);
    PQfreemem(pub);
    bool first = true;
    for (int pass = 0; pass < 2; pass++) {
        bool any = false;
        for (size_t i = 0; i < s->ntables; i++) {
            bool whole = strcmp(s->tname[i], "*") == 0;
            if (whole != (pass == 1)) continue;
            if (!any) sl_buf_puts(&q, first ? "" : ", ");
            if (!any) sl_buf_puts(&q, pass == 0 ? "TABLE " : "TABLES IN SCHEMA ");
            else sl_buf_puts(&q, ", ");
            char *sc = PQescapeIdentifier(s->sql, s->tschema[i], strlen(s->tschema[i]));
            if (pass == 0) {
                char *tb = PQescapeIdentifier(s->sql, s->tname[i], strlen(s->tname[i]));
                sl_buf_printf(&q, "%s.%s", sc, tb);
                PQfreemem(tb);
            } else {
                sl_buf_puts(&q, sc);
            }
            PQfreemem(sc);
            any = true;
            first = false;
        }
    }
    /* partitioned tables publish under their own name, as `tables` names them */
    if (PQserverVersion(s->sql) >= 130000)
        sl_buf_puts(&q, " WITH (publish_via_partition_root = true)");
    res = sl_pg_query(s, s->sql, sl_buf_cstr(&q), 0, NULL);
    if (!res) {
        char e[SL_ERRSTR_SIZE];
        snprintf(e, sizeof(e), "%s", s->err);
        sl_err(s->err, sizeof(s->err), "creating publication \"%s\": %s",
               s->conf->publication, e);
        sl_buf_free(&q);
        return SL_ERR;
    }
    sl_info("created publication %s: %s", s->conf->publication, q.data);
    PQclear(res);
    sl_buf_free(&q);
    return SL_OK;
}

/* Find or create the slot; returns the LSN to start from in *start. */
static int sl_pg_ensure_slot(sl_pg_source_t *s, uint64_t *start)
{
    const char *params[] = {s->conf->slot};
    PGresult *res = sl_pg_query(
        s, s->sql,
        "SELECT plugin, database, confirmed_flush_lsn::text, active_pid FROM "
        "pg_replication_slots WHERE slot_name = $1",
        1, params);
    if (!res) return SL_AGAIN;
    uint64_t confirmed = 0;
    if (PQntuples(res) == 1) {
        const char *plugin = PQgetvalue(res, 0, 0);
        const char *db = PQgetvalue(res, 0, 1);
        if (strcmp(plugin, "pgoutput") != 0 || strcmp(db, s->db) != 0) {
            sl_err(s->err, sizeof(s->err),
                   "replication slot \"%s\" exists for plugin %s on database %s; sluice needs "
                   "a pgoutput slot on database %s (drop it or choose another slot name)",
                   s->conf->slot, plugin, db, s->db);
            PQclear(res);
            return SL_ERR;
        }
        if (!PQgetisnull(res, 0, 3)) {
            sl_err(s->err, sizeof(s->err), "replication slot \"%s\" is in use by pid %s",
                   s->conf->slot, PQgetvalue(res, 0, 3));
            PQclear(res);
            return SL_AGAIN;
        }
        if (!PQgetisnull(res, 0, 2)) sl_pg_lsn_parse(PQgetvalue(res, 0, 2), &confirmed);
        PQclear(res);
    } else {
        PQclear(res);
        if (!s->conf->create_slot) {
            sl_err(s->err, sizeof(s->err),
                   "replication slot \"%s\" does not exist and create_slot is false",
                   s->conf->slot);
            return SL_ERR;
        }
        sl_buf_t q = SL_BUF_INIT;
        char *slot = PQescapeIdentifier(s->repl, s->conf->slot, strlen(s->conf->slot));
        sl_buf_printf(&q, "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput NOEXPORT_SNAPSHOT", slot);
        PQfreemem(slot);
        res = sl_pg_query(s, s->repl, sl_buf_cstr(&q), 0, NULL);
        sl_buf_free(&q);
        if (!res) {
            char e[SL_ERRSTR_SIZE];
            snprintf(e, sizeof(e), "%s", s->err);
            sl_err(s->err, sizeof(s->err), "creating replication slot \"%s\": %s",
                   s->conf->slot, e);
            return SL_ERR;
        }
        if (PQntuples(res) == 1) sl_pg_lsn_parse(PQgetvalue(res, 0, 1), &confirmed);
        sl_info("created replication slot %s at %s", s->conf->slot,
                PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "?");
        PQclear(res);
    }
    /* Resume from the stored checkpoint when it is ahead of the slot (the server skips
     * transactions committed before the requested position); never report less than
     * what the slot already confirmed. */
    uint64_t ck = 0;
    json_t *stored = sl_pipeline_stored_checkpoint(s->p);
    json_t *lsn = stored ? json_object_get(stored, "lsn") : NULL;
    if (json_is_string(lsn)) sl_pg_lsn_parse(json_string_value(lsn), &ck);
    uint64_t from = ck > confirmed ? ck : confirmed;
    uint64_t acked = atomic_load(&s->acked_lsn);
    if (from > acked) atomic_store(&s->acked_lsn, from);
    *start = sl_pg_flush_lsn(s);
    return SL_OK;
}

/* Run the initial snapshot when the mode asks for one (or one was interrupted); moves
 * *start to the snapshot's consistent point. Sets s->finished for initial_only. */
static int sl_pg_maybe_snapshot(sl_pg_source_t *s, uint64_t *start)
{
    int mode = s->conf->snapshot.mode;
    char *cks = sl_pipeline_checkpoint_json(s->p);
    json_t *ck = cks ? json_loads(cks, 0, NULL) : NULL;
    free(cks);
    json_t *resume = ck ? json_object_get(ck, "snapshot") : NULL;
    bool todo;
    if (mode == SL_PG_SNAP_NEVER) todo = false;
    else if (resume) todo = true;
    else if (mode == SL_PG_SNAP_ALWAYS) todo = !s->snapshot_done;
    else todo = ck == NULL && !s->snapshot_done;   /* initial, initial_only */

    int rc = SL_OK;
    if (todo) {
        uint64_t x = 0;
        bool stopped = false;
        s->ever_connected = true;   /* a snapshot interrupted by a lost connection resumes */
        sl_pipeline_set_source_connected(s->p, true);
        rc = sl_pg_snapshot(s, resume, &x, &stopped);
        if (rc == SL_OK && stopped) s->finished = true;
        if (rc == SL_OK && !stopped) {
            s->snapshot_done = true;
            if (x > *start) *start = x;
            /* streaming starts at x: nothing before it has been received */
            s->last_commit_lsn = 0;
            s->recv_lsn = x;
        }
    }
    if (rc == SL_OK && mode == SL_PG_SNAP_INITIAL_ONLY && !s->finished) {
        sl_info("snapshot mode initial_only: snapshot done, stopping");
        s->finished = true;
    }
    if (ck) json_decref(ck);
    return rc;
}

/* Connect both connections and start streaming. SL_OK, SL_AGAIN, SL_ERR (fatal). */
static int sl_pg_setup(sl_pg_source_t *s)
{
    char m[SL_ERRSTR_SIZE];
    s->sql = sl_pg_connect(s, false);
    if (PQstatus(s->sql) != CONNECTION_OK) {
        sl_err(s->err, sizeof(s->err), "cannot connect to PostgreSQL: %s",
               sl_pg_msg(s->sql, m, sizeof(m)));
        return SL_AGAIN;
    }
    if (PQserverVersion(s->sql) < 100000) {
        sl_err(s->err, sizeof(s->err), "PostgreSQL %d is too old: logical replication with "
               "pgoutput needs 10 or later", PQserverVersion(s->sql));
        return SL_ERR;
    }
    PGresult *res = sl_pg_query(s, s->sql, "SHOW wal_level", 0, NULL);
    if (!res) return SL_AGAIN;
    if (strcmp(PQgetvalue(res, 0, 0), "logical") != 0) {
        sl_err(s->err, sizeof(s->err),
               "wal_level is \"%s\"; logical replication needs wal_level = logical "
               "(ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL)",
               PQgetvalue(res, 0, 0));
        PQclear(res);
        return SL_ERR;
    }
    PQclear(res);

    s->repl = sl_pg_connect(s, true);
    if (PQstatus(s->repl) != CONNECTION_OK) {
        sl_err(s->err, sizeof(s->err), "cannot open a replication connection: %s",
               sl_pg_msg(s->repl, m, sizeof(m)));
        return SL_AGAIN;
    }
    res = sl_pg_query(s, s->repl, "IDENTIFY_SYSTEM", 0, NULL);
    if (!res) {
        /* 42501: the role lacks REPLICATION; 28xxx: authentication. */
        bool fatal = !strncmp(s->sqlstate, "42", 2) || !strncmp(s->sqlstate, "28", 2);
        return fatal ? SL_ERR : SL_AGAIN;
    }
    if (PQntuples(res) != 1 || PQnfields(res) < 4 || PQgetisnull(res, 0, 3)) {
        sl_err(s->err, sizeof(s->err), "IDENTIFY_SYSTEM returned no database: the DSN must "
               "name a database");
        PQclear(res);
        return SL_ERR;
    }
    free(s->db);
    s->db = sl_strdup(PQgetvalue(res, 0, 3));
    PQclear(res);
    s->env.db = s->db;

    int rc = sl_pg_ensure_publication(s);
    if (rc != SL_OK) return rc;
    if (!s->ever_connected) sl_pg_warn_identity(s);
    uint64_t start = 0;
    rc = sl_pg_ensure_slot(s, &start);
    if (rc != SL_OK) return rc;

    /* A fresh decoder per session (the server resends Relation messages); the snapshot
     * registers non-built-in types in it too. */
    if (s->dec) sl_pg_decoder_free(s->dec);
    s->dec = sl_pg_decoder_new(1);
    sl_pg_decoder_set_relation_hook(s->dec, sl_pg_relation_hook, s);

    rc = sl_pg_maybe_snapshot(s, &start);
    if (rc != SL_OK || s->finished) return rc;

    char lsn[24];
    sl_pg_lsn_format(start, lsn);
    sl_buf_t q = SL_BUF_INIT;
    char *slot = PQescapeIdentifier(s->repl, s->conf->slot, strlen(s->conf->slot));
    char *pub = PQescapeLiteral(s->repl, s->conf->publication, strlen(s->conf->publication));
    sl_buf_printf(&q, "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', "
                  "publication_names %s)", slot, lsn, pub);
    PQfreemem(slot);
    PQfreemem(pub);
    res = PQexec(s->repl, sl_buf_cstr(&q));
    sl_buf_free(&q);
    if (PQresultStatus(res) != PGRES_COPY_BOTH) {
        sl_err(s->err, sizeof(s->err), "START_REPLICATION failed: %s [sqlstate %s]",
               sl_pg_msg(s->repl, m, sizeof(m)), sl_pg_sqlstate(res));
        bool fatal = !strcmp(sl_pg_sqlstate(res), "42704");   /* undefined object */
        PQclear(res);
        return fatal ? SL_ERR : SL_AGAIN;
    }
    PQclear(res);

    s->ever_connected = true;
    s->streaming = true;
    s->in_tx = s->skip_tx = false;
    s->last_status_us = sl_now_mono_us();
    sl_pipeline_set_source_connected(s->p, true);
    sl_info("streaming from slot %s at %s (database %s, publication %s)", s->conf->slot, lsn,
            s->db, s->conf->publication);
    return SL_OK;
}

/* ---- streaming ------------------------------------------------------------------- */

static void sl_pg_make_pos(sl_pg_source_t *s, uint64_t end_lsn)
{
    char lsn[24];
    sl_pg_lsn_format(end_lsn, lsn);
    s->pos.lsn = end_lsn;
    s->pos.aux = 0;
    sl_buf_reset(&s->pos.json);
    sl_buf_printf(&s->pos.json, "{\"lsn\":\"%s\",\"lsn_int\":%llu}", lsn,
                  (unsigned long long)end_lsn);
}

static int sl_pg_emit_change(sl_pg_source_t *s, const sl_pg_msg_t *m, uint64_t lsn)
{
    const sl_table_t *table = m->rel ? m->rel->user : NULL;
    if (!table) return SL_OK;
    sl_buf_t *arena = sl_emit_arena(s->p);
    if (sl_unlikely(m->old_kind) && sl_pg_key_changed(arena, &s->env, m)) {
        /* The key changed: a delete of the old key (followed by its tombstone in Kafka)
         * and a create of the new one, as Debezium emits them. */
        sl_pg_msg_t half = *m;
        half.kind = SL_PGM_DELETE;
        if (sl_pg_emit_change(s, &half, lsn) != SL_OK) return SL_ERR;
        half.kind = SL_PGM_INSERT;
        half.old_kind = 0;
        return sl_pg_emit_change(s, &half, lsn);
    }
    sl_event_t ev;
    const char *shard_json = NULL;
    size_t shard_len = 0;
    s->env.now_unix_us = sl_now_wall_us();
    sl_pg_encode_change(arena, &s->env, m, lsn, &ev.key_off, &ev.key_len, &ev.val_off,
                        &ev.val_len, &shard_json, &shard_len);
    ev.table = table;
    ev.op = m->kind == SL_PGM_INSERT ? SL_OP_CREATE
          : m->kind == SL_PGM_UPDATE ? SL_OP_UPDATE : SL_OP_DELETE;
    ev.shard = shard_json ? sl_pipeline_shard(s->p, shard_json, shard_len)
                          : (sl_pipeline_spec(s->p)->sharding ? 0 : -1);
    ev.commit_us = (uint64_t)(s->env.commit_ts_pg_us + SL_PG_EPOCH_OFFSET_US);
    return sl_emit_event(s->p, &ev);
}

static int sl_pg_emit_truncate(sl_pg_source_t *s, const sl_pg_msg_t *m, uint64_t lsn)
{
    for (uint32_t i = 0; i < m->nrelids; i++) {
        sl_pg_relation_t *rel = sl_pg_decoder_relation(s->dec, m->relids[i]);
        if (!rel || !rel->user) continue;
        sl_buf_t *arena = sl_emit_arena(s->p);
        sl_event_t ev = {0};
        s->env.now_unix_us = sl_now_wall_us();
        sl_pg_encode_truncate(arena, &s->env, rel, lsn, &ev.val_off, &ev.val_len);
        ev.key_off = ev.val_off;
        ev.key_len = 0;
        ev.table = rel->user;
        ev.op = SL_OP_TRUNCATE;
        ev.shard = sl_pipeline_spec(s->p)->sharding ? 0 : -1;
        ev.commit_us = (uint64_t)(s->env.commit_ts_pg_us + SL_PG_EPOCH_OFFSET_US);
        if (sl_emit_event(s->p, &ev) != SL_OK) return SL_ERR;
    }
    return SL_OK;
}

/* Handle one XLogData payload. SL_OK, SL_AGAIN (protocol trouble: reconnect), SL_ERR. */
static int sl_pg_handle_xlog(sl_pg_source_t *s, const uint8_t *buf, size_t len)
{
    if (len < 25) {
        sl_err(s->err, sizeof(s->err), "XLogData message too short (%zu bytes)", len);
        return SL_AGAIN;
    }
    uint64_t data_start = sl_get64(buf + 1);
    sl_pg_msg_t m;
    char derr[SL_ERRSTR_SIZE];
    if (sl_pg_decode(s->dec, buf + 25, len - 25, &m, derr, sizeof(derr)) != SL_OK) {
        char lsn[24];
        sl_pg_lsn_format(data_start, lsn);
        sl_err(s->err, sizeof(s->err), "pgoutput message at %s: %s", lsn, derr);
        return SL_AGAIN;
    }
    switch (m.kind) {
    case SL_PGM_BEGIN:
        s->in_tx = true;
        /* Already received before a reconnect: the server resends from the confirmed
         * position, which may be older than what we handed to the batcher. */
        s->skip_tx = m.lsn <= s->last_commit_lsn;
        if (s->skip_tx) return SL_OK;
        s->env.xid = m.xid;
        s->env.commit_lsn = m.lsn;
        s->env.commit_ts_pg_us = m.ts_pg_us;
        s->env.total_order = 0;
        sl_emit_tx_begin(s->p);
        return SL_OK;
    case SL_PGM_COMMIT:
        s->in_tx = false;
        if (s->skip_tx) {
            s->skip_tx = false;
            return SL_OK;
        }
        sl_pg_make_pos(s, m.end_lsn);
        s->env.last_commit_lsn = m.lsn;
        s->last_commit_lsn = m.lsn;
        s->recv_lsn = m.end_lsn;
        return sl_emit_tx_commit(s->p, &s->pos) == SL_OK ? SL_OK : SL_ERR;
    case SL_PGM_INSERT:
    case SL_PGM_UPDATE:
    case SL_PGM_DELETE:
        if (s->skip_tx) return SL_OK;
        return sl_pg_emit_change(s, &m, data_start) == SL_OK ? SL_OK : SL_ERR;
    case SL_PGM_TRUNCATE:
        if (s->skip_tx) return SL_OK;
        return sl_pg_emit_truncate(s, &m, data_start) == SL_OK ? SL_OK : SL_ERR;
    default:
        /* RELATION (handled by the decoder + hook), TYPE, ORIGIN, MESSAGE. */
        return SL_OK;
    }
}

static int sl_pg_handle_keepalive(sl_pg_source_t *s, const uint8_t *buf, size_t len)
{
    if (len < 18) {
        sl_err(s->err, sizeof(s->err), "keepalive message too short (%zu bytes)", len);
        return SL_AGAIN;
    }
    uint64_t wal_end = sl_get64(buf + 1);
    bool reply = buf[17] != 0;
    /* Nothing pending or in flight and not inside a transaction: every change before
     * wal_end has been delivered (or was not for us), so it may be confirmed. */
    if (!s->in_tx && wal_end > s->idle_lsn && sl_emit_all_committed(s->p)) {
        char a[24], r[24];
        sl_pg_lsn_format(wal_end, a);
        sl_pg_lsn_format(s->recv_lsn, r);
        sl_debug("idle: nothing pending; confirming keepalive WAL end %s (received %s)", a, r);
        s->idle_lsn = wal_end;
        if (wal_end > s->recv_lsn) s->recv_lsn = wal_end;
        return sl_pg_send_status(s, false);
    }
    if (reply) return sl_pg_send_status(s, false);
    return SL_OK;
}

/* Stream until stop or connection trouble. */
static int sl_pg_stream(sl_pg_source_t *s)
{
    bool paused = false;
    for (;;) {
        if (sl_pipeline_stopping(s->p)) return SL_OK;
        if (sl_pipeline_paused(s->p)) {
            /* Stop reading (TCP pushes back on the walsender) but keep the connection
             * and keep confirming; complete transactions go out and checkpoint. */
            if (!paused) {
                paused = true;
                if (sl_emit_flush(s->p) != SL_OK) return SL_OK;
                sl_info("paused: not reading from slot %s", s->conf->slot);
            }
            if (sl_pg_maybe_status(s) != SL_OK) return SL_AGAIN;
            sl_pipeline_sleep(s->p, 100);
            continue;
        }
        if (paused) {
            paused = false;
            sl_info("resumed reading from slot %s", s->conf->slot);
        }
        char *buf = NULL;
        int r = PQgetCopyData(s->repl, &buf, 1);
        if (r > 0) {
            int rc = SL_OK;
            if (buf[0] == 'w') rc = sl_pg_handle_xlog(s, (const uint8_t *)buf, (size_t)r);
            else if (buf[0] == 'k')
                rc = sl_pg_handle_keepalive(s, (const uint8_t *)buf, (size_t)r);
            PQfreemem(buf);
            if (rc != SL_OK) {
                if (rc == SL_ERR && sl_pipeline_stopping(s->p)) return SL_OK;
                return rc;
            }
            continue;
        }
        if (r == 0) {
            int wait_ms = sl_emit_tick(s->p);
            if (wait_ms < 0) return sl_pipeline_stopping(s->p) ? SL_OK : SL_ERR;
            if (sl_pg_maybe_status(s) != SL_OK) return SL_AGAIN;
            if (wait_ms > 100) wait_ms = 100;
            struct pollfd pfd = {.fd = PQsocket(s->repl), .events = POLLIN};
            if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) {
                sl_err(s->err, sizeof(s->err), "poll: %s", strerror(errno));
                return SL_AGAIN;
            }
            if (PQconsumeInput(s->repl) == 0) {
                char m[SL_ERRSTR_SIZE];
                sl_err(s->err, sizeof(s->err), "replication connection lost: %s",
                       sl_pg_msg(s->repl, m, sizeof(m)));
                return SL_AGAIN;
            }
            continue;
        }
        /* -1: the server ended the COPY; -2: error. */
        char m[SL_ERRSTR_SIZE];
        PGresult *res = PQgetResult(s->repl);
        sl_err(s->err, sizeof(s->err), "replication stream ended: %s",
               res && PQresultStatus(res) == PGRES_FATAL_ERROR
                   ? PQresultErrorMessage(res) : sl_pg_msg(s->repl, m, sizeof(m)));
        if (res) PQclear(res);
        size_t l = strlen(s->err);
        while (l && s->err[l - 1] == '\n') s->err[--l] = '\0';
        return SL_AGAIN;
    }
}

/* ---- ops ------------------------------------------------------------------------- */

static void sl_pg_destroy(void *src);

static void *sl_pg_create(const void *conf, sl_pipeline_t *p, char *errstr, size_t errstr_size)
{
    const sl_pg_conf_t *c = conf;
    sl_pg_source_t *s = sl_calloc(1, sizeof(*s));
    s->conf = c;
    s->p = p;
    s->ntables = c->tables.n;
    s->tschema = sl_calloc(s->ntables ? s->ntables : 1, sizeof(char *));
    s->tname = sl_calloc(s->ntables ? s->ntables : 1, sizeof(char *));
    for (size_t i = 0; i < s->ntables; i++) {
        if (!sl_pg_split_table(c->tables.v[i], &s->tschema[i], &s->tname[i])) {
            sl_err(errstr, errstr_size, "tables[%zu]: must be schema.table", i);
            s->ntables = i;
            sl_pg_destroy(s);
            return NULL;
        }
    }
    atomic_init(&s->acked_lsn, 0);
    s->env.pipeline = sl_pipeline_name(p);
    s->env.unavailable_value = c->unavailable_value;
    s->env.shard_key = sl_pipeline_spec(p)->sharding ? sl_pipeline_spec(p)->shard_key : NULL;
    s->db = sl_strdup("");
    s->env.db = s->db;
    sl_pipeline_set_idle_hook(p, sl_pg_idle, s);
    return s;
}

static int sl_pg_run(void *src, char *errstr, size_t errstr_size)
{
    sl_pg_source_t *s = src;
    unsigned backoff = 500;
    while (!sl_pipeline_stopping(s->p)) {
        int rc = sl_pg_setup(s);
        if (rc == SL_OK && s->finished) break;   /* initial_only, or stopped mid-snapshot */
        if (rc == SL_OK) {
            backoff = 500;
            rc = sl_pg_stream(s);
        }
        if (rc == SL_OK) break;   /* stop requested */
        if (rc == SL_ERR || !s->ever_connected) {
            /* Configuration problems, and a first connection that fails, are reported
             * instead of retried forever: the user has something to fix. */
            sl_pg_disconnect(s);
            sl_err(errstr, errstr_size, "%s", s->err);
            return SL_ERR;
        }
        sl_warn("postgres: %s; reconnecting in %u ms", s->err, backoff);
        sl_emit_tx_abort(s->p);
        s->in_tx = s->skip_tx = false;
        sl_pg_disconnect(s);
        if (sl_pipeline_sleep(s->p, backoff)) break;
        backoff = backoff * 2 > SL_PG_BACKOFF_MAX_MS ? SL_PG_BACKOFF_MAX_MS : backoff * 2;
    }
    /* Clean stop: deliver complete transactions, wait for the sinks, confirm, close. */
    sl_emit_tx_abort(s->p);
    sl_emit_flush(s->p);
    if (sl_emit_drain(s->p, sl_pipeline_stop_timeout_ms(s->p)) != SL_OK)
        sl_warn("stop: sinks did not finish in time; the last batches will be replayed");
    if (s->repl && s->streaming) {
        if (sl_pg_send_status(s, false) != SL_OK) sl_warn("%s", s->err);
        char lsn[24];
        sl_pg_lsn_format(sl_pg_flush_lsn(s), lsn);
        sl_info("stopped; confirmed flush position %s", lsn);
    }
    sl_pg_disconnect(s);
    return SL_OK;
}

static void sl_pg_destroy(void *src)
{
    sl_pg_source_t *s = src;
    if (!s) return;
    sl_pg_disconnect(s);
    if (s->dec) sl_pg_decoder_free(s->dec);
    for (size_t i = 0; i < s->ntables; i++) {
        free(s->tschema[i]);
        free(s->tname[i]);
    }
    free(s->tschema);
    free(s->tname);
    free(s->db);
    sl_buf_free(&s->pos.json);
    free(s);
}

/* DELETE /pipelines/{name}?drop_slot=true: drop the slot (it must be inactive). */
static int sl_pg_drop_state(const void *conf, char *errstr, size_t errstr_size)
{
    const sl_pg_conf_t *c = conf;
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {c->dsn, "sluice-drop-slot", "10", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    char m[SL_ERRSTR_SIZE];
    if (PQstatus(conn) != CONNECTION_OK) {
        sl_err(errstr, errstr_size, "cannot connect to drop slot %s: %s", c->slot,
               sl_pg_msg(conn, m, sizeof(m)));
        PQfinish(conn);
        return SL_ERR;
    }
    const char *params[] = {c->slot};
    PGresult *res = PQexecParams(conn, "SELECT pg_drop_replication_slot(slot_name) FROM "
                                 "pg_replication_slots WHERE slot_name = $1", 1, NULL,
                                 params, NULL, NULL, 0);
    int rc = SL_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        sl_err(errstr, errstr_size, "dropping slot %s: %s", c->slot,
               sl_pg_msg(conn, m, sizeof(m)));
        rc = SL_ERR;
    } else if (PQntuples(res) == 1) {
        sl_info("dropped replication slot %s", c->slot);
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

const sl_source_ops_t sl_source_postgres = {
    .type = "postgres",
    .conf = sl_pg_conf_defs,
    .conf_size = sizeof(sl_pg_conf_t),
    .validate = sl_pg_validate,
    .create = sl_pg_create,
    .run = sl_pg_run,
    .ack = sl_pg_ack,
    .destroy = sl_pg_destroy,
    .drop_state = sl_pg_drop_state,
};
