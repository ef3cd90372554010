/*
 * my_source.h - private to the MySQL source (my_source.c, my_snapshot.c): configuration
 * and state. Not part of any interface the core sees.
 */
#ifndef SL_MY_SOURCE_H
#define SL_MY_SOURCE_H

#include "sl_common.h"
#include "sl_pipeline.h"
#include "binlog_decode.h"

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

    /* the open transaction */
    bool                 in_tx;
    char                 tx_gtid[96];
    int64_t              tx_thread;
    uint64_t             tx_seq;
    uint64_t             tx_ts_us;
    sl_buf_t             query;                 /* ANNOTATE_ROWS / ROWS_QUERY text */
    bool                 has_query;
    sl_binlog_envctx_t   env;
    sl_pos_t             posbuf;
    char               **known;                 /* see sl_my_known() */
    size_t               nknown;
    char                 err[SL_ERRSTR_SIZE];
} sl_my_source_t;

/* my_source.c services used by the snapshot */
MYSQL *sl_my_connect(sl_my_source_t *s, const sl_my_dsn_t *d);
bool sl_my_table_wanted(const sl_my_source_t *s, const char *db, const char *table);
void sl_my_set_str(char **dst, const char *str, size_t n);

/* my_snapshot.c: read the wanted tables in one consistent snapshot and set the received
 * position (s->recv_file/recv_pos/gtid_state) to the snapshot's binlog position. resume:
 * the "snapshot" object of the last committed checkpoint, or NULL. SL_OK (with *stopped
 * when the pipeline is stopping), SL_AGAIN, SL_ERR (s->err). */
int sl_my_snapshot(sl_my_source_t *s, json_t *resume, bool *stopped);

#endif
