/*
 * pg_decode.h - pgoutput decoder (protocol versions 1 and 2) and the PostgreSQL →
 * event JSON mapping. No I/O: fed one pgoutput message (the XLogData payload after its
 * 25-byte header) at a time, it returns a decoded message whose tuple values point into
 * the input buffer, and keeps the relation and type caches the protocol requires.
 *
 * Thread: owned by the PostgreSQL source thread (or a test); not thread-safe.
 */
#ifndef SL_PG_DECODE_H
#define SL_PG_DECODE_H

#include "sl_common.h"
#include "sl_buf.h"

/* How a column's text value maps to JSON (README "Type mapping"). */
typedef enum {
    SL_PGK_STRING = 0,   /* text form as a JSON string (text, varchar, uuid, interval, ...) */
    SL_PGK_BOOL,         /* 't'/'f' -> true/false */
    SL_PGK_INT,          /* int2/int4/int8/oid -> JSON integer, exact */
    SL_PGK_FLOAT,        /* float4/8 -> number; NaN, Infinity, -Infinity as strings */
    SL_PGK_NUMERIC,      /* exact decimal string as PostgreSQL prints it ("NaN" too) */
    SL_PGK_BYTEA,        /* \x hex text -> base64 string */
    SL_PGK_JSON,         /* json/jsonb -> embedded JSON value */
    SL_PGK_DATE,         /* YYYY-MM-DD (text as is) */
    SL_PGK_TIMESTAMP,    /* "YYYY-MM-DD HH:MM:SS[.f]" -> "YYYY-MM-DDTHH:MM:SS[.f]" */
    SL_PGK_TIMESTAMPTZ,  /* "... +00" (session TimeZone=UTC) -> "...Z" */
    SL_PGK_ARRAY,        /* {...} text -> JSON array of elements mapped by elem kind */
} sl_pg_kind_t;

/* Type cache entry: built-in types are known; others are registered by the source
 * after a catalog lookup (sl_pg_decoder_register_type) or default to SL_PGK_STRING. */
typedef struct sl_pg_type {
    uint32_t     oid;
    sl_pg_kind_t kind;
    sl_pg_kind_t elem_kind;   /* for SL_PGK_ARRAY */
    char         delim;       /* array element delimiter (',' except box: ';') */
} sl_pg_type_t;

typedef struct sl_pg_column {
    char        *name;
    uint32_t     type_oid;
    int32_t      typmod;
    uint8_t      flags;        /* 1 = part of the replica identity (pgoutput flag) */
    bool         is_pk;        /* part of the primary key (set by the source; defaults
                                  to the replica-identity flag when ident is 'd'/'i') */
    sl_pg_type_t type;         /* resolved mapping */
} sl_pg_column_t;

typedef struct sl_pg_relation {
    uint32_t        relid;
    char           *nspname;
    char           *relname;
    char            replident;   /* 'd' default, 'n' nothing, 'f' full, 'i' index */
    uint16_t        ncols;
    sl_pg_column_t *cols;
    void           *user;        /* source's per-relation data (e.g. interned table, filter) */
    /* per-transaction counter for transaction.data_collection_order */
    uint64_t        tx_order;
    uint32_t        tx_order_xid;
} sl_pg_relation_t;

/* One column value in a tuple. Points into the decoded message buffer. */
typedef struct sl_pg_datum {
    char        kind;        /* 'n' null, 'u' unchanged TOAST, 't' text, 'b' binary */
    uint32_t    len;
    const char *data;
} sl_pg_datum_t;

typedef struct sl_pg_tuple {
    uint16_t       ncols;
    sl_pg_datum_t *cols;     /* owned by the decoder, valid until the next decode call */
} sl_pg_tuple_t;

typedef enum {
    SL_PGM_BEGIN = 'B', SL_PGM_COMMIT = 'C', SL_PGM_ORIGIN = 'O', SL_PGM_RELATION = 'R',
    SL_PGM_TYPE = 'Y', SL_PGM_INSERT = 'I', SL_PGM_UPDATE = 'U', SL_PGM_DELETE = 'D',
    SL_PGM_TRUNCATE = 'T', SL_PGM_MESSAGE = 'M',
    SL_PGM_STREAM_START = 'S', SL_PGM_STREAM_STOP = 'E', SL_PGM_STREAM_COMMIT = 'c',
    SL_PGM_STREAM_ABORT = 'A',
} sl_pg_msg_kind_t;

typedef struct sl_pg_msg {
    sl_pg_msg_kind_t kind;
    uint32_t xid;              /* BEGIN, streamed messages (v2), STREAM_* */
    /* BEGIN: final_lsn = commit LSN. COMMIT: lsn = commit LSN, end_lsn = end of commit. */
    uint64_t lsn;
    uint64_t end_lsn;
    int64_t  ts_pg_us;         /* commit time, µs since 2000-01-01 (BEGIN, COMMIT) */
    uint8_t  flags;            /* COMMIT / MESSAGE / STREAM_START(first segment) */
    /* RELATION, INSERT, UPDATE, DELETE: the (cached) relation */
    sl_pg_relation_t *rel;
    /* UPDATE/DELETE: old tuple kind 'K' (key), 'O' (full old row) or 0 (none) */
    char          old_kind;
    sl_pg_tuple_t old_tuple;
    sl_pg_tuple_t new_tuple;   /* INSERT, UPDATE */
    /* TRUNCATE */
    uint8_t   trunc_options;   /* 1 CASCADE, 2 RESTART IDENTITY */
    uint32_t  nrelids;
    uint32_t *relids;          /* owned by decoder */
    /* ORIGIN name, TYPE namespace/name, MESSAGE prefix: point into the input */
    const char *name;
    const char *nspname;       /* TYPE */
    uint32_t    type_oid;      /* TYPE */
    const char *content;       /* MESSAGE */
    uint32_t    content_len;
    /* STREAM_ABORT: the aborted (sub)transaction; lsn/ts_pg_us carry the abort LSN and
     * time when the server sends them (streaming = parallel, protocol v4), else 0. */
    uint32_t    subxid;
} sl_pg_msg_t;

typedef struct sl_pg_decoder sl_pg_decoder_t;

sl_pg_decoder_t *sl_pg_decoder_new(int proto_version);
void sl_pg_decoder_free(sl_pg_decoder_t *d);

/* Decode one message. SL_OK, or SL_ERR with errstr naming the message kind and the
 * byte offset where it went wrong (truncated, unknown tag, unknown relation id...). */
int sl_pg_decode(sl_pg_decoder_t *d, const uint8_t *buf, size_t len, sl_pg_msg_t *m,
                 char *errstr, size_t errstr_size);

sl_pg_relation_t *sl_pg_decoder_relation(sl_pg_decoder_t *d, uint32_t relid);
/* Called for every relation (new or replaced) right after it is decoded, so the source
 * can attach data (user) and fix is_pk / types. May be NULL. A replaced relation keeps
 * its address, user and tx_order fields (the hook sees the previous user); its names
 * and columns are new. */
void sl_pg_decoder_set_relation_hook(sl_pg_decoder_t *d,
                                     void (*fn)(void *arg, sl_pg_relation_t *rel),
                                     void *arg);
/* Register the mapping of a non-built-in type oid (from pg_type: enum, domain, array of
 * a known type...). Re-resolves columns of cached relations that use it. */
void sl_pg_decoder_register_type(sl_pg_decoder_t *d, const sl_pg_type_t *t);
/* Mapping for a type oid: built-ins, then registered types, else SL_PGK_STRING. */
sl_pg_type_t sl_pg_type_lookup(const sl_pg_decoder_t *d, uint32_t oid);
/* Built-in mapping only; returns false when oid is not a known built-in. */
bool sl_pg_builtin_type(uint32_t oid, sl_pg_type_t *out);

/* Append the JSON for one text value of the given type (README "Type mapping"). */
void sl_pg_value_json(sl_buf_t *out, const sl_pg_type_t *t, const char *text, size_t len);

/* ---- the Debezium envelope ------------------------------------------------------- */

typedef struct sl_pg_envctx {
    const char *pipeline;          /* source.name */
    const char *db;                /* source.db */
    const char *unavailable_value; /* unchanged TOAST placeholder */
    const char *shard_key;         /* column for sharding, or NULL */
    uint32_t    xid;
    uint64_t    commit_lsn;        /* BEGIN final_lsn */
    uint64_t    last_commit_lsn;   /* previous transaction's commit lsn (sequence[0]) */
    int64_t     commit_ts_pg_us;   /* BEGIN commit time (PG epoch) */
    uint64_t    now_unix_us;       /* processing time for top-level ts_* */
    uint64_t    total_order;       /* incremented for each event of the transaction */
    /* Snapshot rows (pg_snapshot.c): when set, INSERT messages are encoded as op "r" with
     * source.snapshot = this value ("true", "first", "last") and transaction null. */
    const char *snapshot;
} sl_pg_envctx_t;

/* Encode one INSERT/UPDATE/DELETE message into out: first the key JSON, then the value
 * JSON. Offsets/lengths are returned relative to out->data. key_len is 0 when the table
 * has no key. shard_json and shard_len point into out at the shard key column's JSON value
 * (from `after`, else `before`), or are set to NULL when absent. lsn is the message's
 * WAL position (XLogData dataStart) for source.lsn/sequence. */
void sl_pg_encode_change(sl_buf_t *out, sl_pg_envctx_t *ctx, const sl_pg_msg_t *m,
                         uint64_t lsn, uint32_t *key_off, uint32_t *key_len,
                         uint32_t *val_off, uint32_t *val_len,
                         const char **shard_json, size_t *shard_len);

/* True when an UPDATE changed the row's key: its old tuple's key JSON differs from the
 * new tuple's. Renders both at the end of scratch and takes them back off (scratch->len is
 * unchanged on return). The source then emits a delete and a create instead of one
 * update, as Debezium does, so keyed consumers (compacted topics) drop the old key. */
bool sl_pg_key_changed(sl_buf_t *scratch, const sl_pg_envctx_t *ctx, const sl_pg_msg_t *m);

/* Encode a TRUNCATE event for one relation (op "t", before/after null, key null). */
void sl_pg_encode_truncate(sl_buf_t *out, sl_pg_envctx_t *ctx, const sl_pg_relation_t *rel,
                           uint64_t lsn, uint32_t *val_off, uint32_t *val_len);

/* Format an LSN as PostgreSQL prints it ("16/B374D848"). */
void sl_pg_lsn_format(uint64_t lsn, char out[24]);
int  sl_pg_lsn_parse(const char *s, uint64_t *lsn);   /* SL_OK / SL_ERR */

#endif
