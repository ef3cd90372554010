/*
 * my_source.h - private to the MySQL source (my_source.c, my_snapshot.c): configuration
 * and state. Not part of any interface the core sees.
 */
#ifndef SL_MY_SOURCE_H
#define SL_MY_SOURCE_H

#include "sl_common.h"
#include "sl_pipeline.h"
#include "binlog_decode.h"
#include "my_ddl.h"

#include <mysql.h>
#include <mariadb_rpl.h>

typedef enum {
    SL_MY_SNAP_INITIAL = 0, SL_MY_SNAP_NEVER, SL_MY_SNAP_INITIAL_ONLY, SL_MY_SNAP_ALWAYS,
} sl_my_snap_mode_t;

typedef struct sl_my_snap_conf {
    int          mode;
    int64_t      chunk_size;
    int64_t      max_parallel_tables;
    sl_strmap_t  where;
} sl_my_snap_conf_t;

typedef struct sl_my_conf {
    char        *id;
    char        *dsn;
    int64_t      server_id;
    sl_strlist_t tables;
    char        *start;
    sl_strlist_t binlog_files;
    char        *schema_dsn;
    sl_my_snap_conf_t snapshot;
    int64_t      heartbeat_ms;
} sl_my_conf_t;

typedef struct sl_my_dsn {
    char    *user, *pass, *host, *db;
    unsigned port;
} sl_my_dsn_t;

/* An XA transaction's row events, held from its XA PREPARE until XA COMMIT (emitted
 * then) or XA ROLLBACK (dropped): key/value JSON in data, events with offsets into it. */
typedef struct sl_my_xa {
    char            *xid;                       /* X'gtrid',X'bqual',formatID */
    sl_buf_t         data;
    sl_event_t      *ev;
    uint32_t         n, cap;
    struct sl_my_xa *next;
} sl_my_xa_t;

typedef struct sl_my_source {
    const sl_my_conf_t  *conf;
    sl_pipeline_t       *p;
    char               **tdb, **ttable;         /* parsed `tables`; "*" = whole db */
    size_t               ntables;
    sl_my_dsn_t          dsn;
    MYSQL               *mysql;                 /* replication connection */
    MYSQL               *meta;                  /* information_schema lookups */
    MARIADB_RPL         *rpl;
    sl_binlog_decoder_t *dec;
    bool                 ever_connected;
    bool                 mariadb;
    bool                 finished;              /* binlog_files replayed, initial_only */
    bool                 snapshot_done;

    /* received position: end of the last complete transaction [src] */
    char                *file;                  /* current binlog file */
    uint64_t             pos;                   /* position in it */
    char                *recv_file;
    uint64_t             recv_pos;
    sl_buf_t             gtid_state;            /* MariaDB "d-s-n,..." / MySQL set text */
    sl_buf_t             gtid_prev;             /* gtid_state before the last GTID noted */
    bool                 gtid_complete;         /* gtid_state covers every domain (seeded
                                                 * from the server or given as `start`) */
    bool                 gtid_off;              /* the server refused it: file/pos only */
    bool                 conn_gtid;             /* this connection started by GTID */

    /* the open transaction */
    bool                 in_tx;
    bool                 tx_grouped;            /* MariaDB GTID without FL_STANDALONE: an
                                                 * XID or COMMIT ends it, also after DDL
                                                 * (CREATE TABLE ... SELECT) */
    char                 tx_gtid[96];
    int64_t              tx_thread;
    uint64_t             tx_seq;
    uint64_t             tx_ts_us;
    sl_buf_t             query;                 /* ANNOTATE_ROWS / ROWS_QUERY text */
    bool                 has_query;
    sl_binlog_envctx_t   env;
    sl_pos_t             posbuf;
    char                 err[SL_ERRSTR_SIZE];

    /* XA: the group being read (from its GTID / XA START to XA PREPARE), the prepared
     * ones not yet resolved, and the position every checkpoint keeps while any is held:
     * the end of the last transaction before the oldest held one, so a restart reads
     * its events again */
    sl_my_xa_t          *xa_open;
    sl_buf_t             xa_open_hold;          /* position JSON before xa_open */
    sl_my_xa_t          *xa_held;
    sl_buf_t             xa_hold;
    uint64_t             xa_open_hold_lsn, xa_hold_lsn;

    /* Schemas (my_history.c): the tracked tables, their history file, and a TABLE_MAP
     * that did not fit its schema (reported by sl_my_event after the decode). */
    sl_my_catalog_t     *cat;
    char                *hist_path;             /* <pipeline dir>/schema_history.jsonl */
    int                  hist_fd;               /* append descriptor, -1 while closed */
    bool                 hist_loaded;
    bool                 hist_quiet;            /* decoding before a replay checkpoint */
    bool                 schema_events;         /* a sink has schema_changes */
    char                 schema_err[SL_ERRSTR_SIZE];
    char               **warned;                /* "db.table@version" warned about */
    size_t               nwarned;
} sl_my_source_t;

/* my_source.c services used by the snapshot */
MYSQL *sl_my_connect(sl_my_source_t *s, const sl_my_dsn_t *d);
bool sl_my_table_wanted(const sl_my_source_t *s, const char *db, const char *table);
void sl_my_set_str(char **dst, const char *str, size_t n);
/* Append name as a quoted identifier: `name`, a backtick in it doubled. */
void sl_my_ident(sl_buf_t *out, const char *name);
/* Whether MariaDB CHECK clauses (concatenated) hold json_valid(`col`): a JSON column. */
bool sl_my_json_check(const char *checks, const char *col);
/* Run the statement that reports the server's binlog file and position: SHOW MASTER
 * STATUS, or SHOW BINARY LOG STATUS where that is the only one (MySQL 8.4+). As
 * mysql_query(): 0 on success, with a result to store. */
int sl_my_query_binlog_status(MYSQL *m);
/* MariaDB: make s->gtid_state the server's GTID state at s->recv_file:recv_pos
 * (BINLOG_GTID_POS on connection m), complete across replication domains, and set
 * s->gtid_complete. Leaves both unchanged when the server cannot say (MySQL, no such
 * position). */
void sl_my_gtid_seed(sl_my_source_t *s, MYSQL *m);
/* The position JSON of a checkpoint: {"file","pos","gtid"[,"gtid_complete":true]} for
 * s->recv_file:recv_pos and s->gtid_state, appended to out. */
void sl_my_pos_json(const sl_my_source_t *s, sl_buf_t *out);

/* my_history.c: table schemas across DDL. start() loads the history file (the part valid
 * at the stored checkpoint; all of it is dropped when there is no checkpoint); seed() reads
 * the tracked databases sluice has no schema of yet from the server m (online: at the
 * binlog position it reads first; offline: as of after the files); attach() hooks a new
 * decoder and registers the schemas; ddl() follows one DDL statement (history, decoder,
 * schema change event). SL_OK / SL_ERR (s->err). */
int  sl_my_hist_start(sl_my_source_t *s);
int  sl_my_hist_seed(sl_my_source_t *s, MYSQL *m, bool online);
void sl_my_hist_attach(sl_my_source_t *s);
int  sl_my_hist_ddl(sl_my_source_t *s, const sl_binlog_event_t *ev);
void sl_my_hist_free(sl_my_source_t *s);

/* my_snapshot.c: read the wanted tables in one consistent snapshot and set the received
 * position (s->recv_file/recv_pos/gtid_state) to the snapshot's binlog position. resume:
 * the "snapshot" object of the last committed checkpoint, or NULL. SL_OK (with *stopped
 * when the pipeline is stopping), SL_AGAIN, SL_ERR (s->err). */
int sl_my_snapshot(sl_my_source_t *s, json_t *resume, bool *stopped);

#endif
