/*
 * pg_source.h - private to the PostgreSQL source (pg_source.c, pg_snapshot.c): its
 * configuration and state. Not part of any interface the core sees.
 */
#ifndef SL_PG_SOURCE_H
#define SL_PG_SOURCE_H

#include "sl_common.h"
#include "sl_pipeline.h"
#include "pg_decode.h"

#include <libpq-fe.h>
#include <stdatomic.h>

typedef enum {
    SL_PG_SNAP_INITIAL = 0, SL_PG_SNAP_NEVER, SL_PG_SNAP_INITIAL_ONLY, SL_PG_SNAP_ALWAYS,
} sl_pg_snap_mode_t;

typedef struct sl_pg_snap_conf {
    int          mode;            /* sl_pg_snap_mode_t */
    int64_t      chunk_size;
    int64_t      max_parallel_tables;
    sl_strmap_t  where;           /* "schema.table" -> SQL condition */
} sl_pg_snap_conf_t;

typedef struct sl_pg_conf {
    char        *id;
    char        *dsn;
    char        *slot;
    char        *publication;
    sl_strlist_t tables;
    bool         create_slot;
    bool         create_publication;
    sl_pg_snap_conf_t snapshot;
    char        *unavailable_value;
} sl_pg_conf_t;

typedef struct sl_pg_source {
    const sl_pg_conf_t *conf;
    sl_pipeline_t      *p;
    char              **tschema, **tname;   /* parsed `tables`; tname "*" = whole schema */
    size_t              ntables;

    PGconn             *repl;
    PGconn             *sql;
    sl_pg_decoder_t    *dec;
    char               *db;
    bool                ever_connected;

    uint64_t            recv_lsn;          /* [src] */
    uint64_t            last_commit_lsn;   /* [src] commit LSN of the last received tx */
    _Atomic uint64_t    acked_lsn;         /* [any] set by ack() */
    uint64_t            idle_lsn;          /* [src] */
    uint64_t            sent_flush_lsn;    /* [src] last flush position reported */
    uint64_t            last_status_us;    /* [src] */
    bool                skip_tx;           /* [src] resent transaction, already received */
    bool                in_tx;
    sl_pg_envctx_t      env;
    sl_pos_t            pos;
    char                err[SL_ERRSTR_SIZE];
    char                sqlstate[6];       /* of the last failed query */
    bool                snapshot_done;     /* `always`: once per start of the pipeline */
    bool                streaming;         /* START_REPLICATION done on s->repl */
    bool                finished;          /* initial_only done, or stopped mid-snapshot */
} sl_pg_source_t;

/* pg_source.c services used by the snapshot */
PGconn *sl_pg_connect(sl_pg_source_t *s, bool replication);
PGresult *sl_pg_query(sl_pg_source_t *s, PGconn *c, const char *sql, int nparams,
                      const char *const *params);
const char *sl_pg_msg(PGconn *c, char *buf, size_t n);
bool sl_pg_table_wanted(const sl_pg_source_t *s, const char *nsp, const char *rel);
void sl_pg_resolve_types(sl_pg_source_t *s, sl_pg_relation_t *rel);

/* pg_snapshot.c: read the tables consistently with the stream (see the file comment).
 * resume: the "snapshot" object of the last committed checkpoint, or NULL.
 * On SL_OK, *stream_from is the LSN streaming must start at; *stopped is set when the
 * pipeline was asked to stop midway. SL_AGAIN on connection trouble (s->err). */
int sl_pg_snapshot(sl_pg_source_t *s, json_t *resume, uint64_t *stream_from, bool *stopped);

#endif
