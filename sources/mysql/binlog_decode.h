/*
 * binlog_decode.h - MySQL / MariaDB binary log decoder, the MySQL -> event JSON mapping and
 * the Debezium MySQL envelope. No I/O: the caller feeds complete events and gets decoded
 * events back, so tests drive it with captured bytes and fuzzers with anything.
 *
 * How the I/O side uses it
 * ------------------------
 *  1. sl_binlog_decoder_new(). Optionally sl_binlog_decoder_set_checksum() with the value
 *     of @@global.binlog_checksum (the decoder otherwise learns it from the
 *     FORMAT_DESCRIPTION event and, before that one arrives, detects a valid CRC32 trailer).
 *  2. For every event received from the server (MariaDB Connector/C: the network packet
 *     without its leading 0x00 OK byte, e.g. the raw buffer mariadb_rpl_fetch() returns
 *     with its first byte skipped), call sl_binlog_decode(). Binlog files are split into
 *     events with sl_binlog_file_init() / sl_binlog_file_next() and fed the same way.
 *  3. Act on ev.type: GTID / MARIADB_GTID / QUERY "BEGIN" open a transaction, XID or QUERY
 *     "COMMIT" close it, TABLE_MAP is handled inside the decoder (the rows events that
 *     follow refer to it), rows events carry ev.rows with before/after images, QUERY with
 *     other SQL is DDL. Events the decoder does not interpret come back with
 *     ev.ignored = true: skip them (unknown types are skipped safely, never an error).
 *     STOP and INCIDENT come back by type only (INCIDENT: the source lost events).
 *  4. For each row of a rows event, sl_binlog_encode_row() writes the Debezium key and
 *     value JSON straight into the batch arena.
 *  5. TRANSACTION_PAYLOAD (MySQL binlog_transaction_compression): after decoding it, call
 *     sl_binlog_payload_next() until it returns 0 to get the inner events one by one.
 *
 * Schemas
 * -------
 * Column names, key columns, signedness, charsets and ENUM/SET labels come from the
 * TABLE_MAP optional metadata when the server writes it (binlog_row_metadata=FULL; MINIMAL
 * gives signedness and charsets only). Whatever is missing comes from a caller schema
 * (sl_binlog_schema_t, built by the I/O side from information_schema): register it with
 * sl_binlog_decoder_set_schema() under db.table, before the TABLE_MAP that needs it
 * arrives (or from the table hook, see sl_binlog_decoder_set_table_hook()). A TABLE_MAP
 * takes the schema registered at the moment it is decoded and keeps it: registering a new
 * version after DDL affects later TABLE_MAPs only, so rows already mapped are never decoded
 * with a newer schema. The I/O side tracks DDL (QUERY events) and registers the version
 * that is valid at each point of the stream. Metadata wins over the schema where both
 * exist; a schema whose column count differs from the TABLE_MAP's is not applied (see
 * sl_binlog_table_t.schema_mismatch). Without names a column is called "@N" (1-based, as
 * mysqlbinlog -v prints it).
 *
 * Event JSON mapping (for the README; sl_binlog_cell_json)
 * --------------------------------------------------------
 *   NULL, or a column absent from a partial row image       null
 *   TINYINT..BIGINT                                          integer, exact (BIGINT UNSIGNED
 *                                                            up to 18446744073709551615);
 *                                                            signedness from metadata, else
 *                                                            the schema, else signed
 *   DECIMAL                                                  string, exact, exactly `scale`
 *                                                            fraction digits ("-10.50")
 *   FLOAT, DOUBLE                                            number, shortest text that
 *                                                            reads back to the same float /
 *                                                            double (NaN/Infinity, which
 *                                                            MySQL cannot store: strings)
 *   BIT(1)                                                   true / false
 *   BIT(n>1)                                                 base64 of the (n+7)/8 bytes,
 *                                                            most significant byte first as
 *                                                            MySQL stores and prints it
 *                                                            (Debezium's Bits is LSB first)
 *   YEAR                                                     integer (0 for YEAR 0000)
 *   DATE                                                     "YYYY-MM-DD"
 *   DATETIME(fsp)                                            "YYYY-MM-DDTHH:MM:SS[.ffffff]",
 *                                                            exactly fsp fraction digits
 *   TIMESTAMP(fsp)                                           the same in UTC, suffix "Z"
 *   TIME(fsp)                                                "[-]HH:MM:SS[.ffffff]", hours
 *                                                            may exceed 24 (up to 838)
 *   zero / incomplete dates (0000-00-00, month or day 0),
 *   TIMESTAMP 0                                              null (as Debezium)
 *   CHAR, VARCHAR, TEXT                                      string, converted to UTF-8:
 *                                                            utf8mb3/utf8mb4 as is, latin1
 *                                                            as cp1252 (MySQL's latin1),
 *                                                            ascii, ucs2, utf16, utf16le,
 *                                                            utf32 decoded; any other or an
 *                                                            unknown charset passes through
 *                                                            with invalid UTF-8 replaced by
 *                                                            U+FFFD
 *   BINARY, VARBINARY, BLOB (charset binary, 63)             base64 string
 *   ENUM                                                     its label ("" for index 0);
 *                                                            the 1-based index as integer
 *                                                            when no labels are known
 *   SET                                                      labels joined with ","; the
 *                                                            bitmask as integer when no
 *                                                            labels are known
 *   JSON (MySQL binary JSON)                                 embedded JSON value (MySQL's
 *                                                            own text rules: opaque DATE/
 *                                                            TIME/DATETIME as strings,
 *                                                            DECIMAL as number, other
 *                                                            opaque as "base64:typeN:..");
 *                                                            an empty value is null
 *   JSON (MariaDB: LONGTEXT)                                 embedded when the schema marks
 *                                                            the column is_json and the text
 *                                                            is valid JSON, else a string
 *   JSON partial update (PARTIAL_UPDATE_ROWS, after image)   {"json_diff":[{"op":"REPLACE"|
 *                                                            "INSERT"|"REMOVE","path":..,
 *                                                            "value":..}]}
 *   GEOMETRY                                                 base64 of the WKB (MySQL stores
 *                                                            a 4-byte SRID before the WKB:
 *                                                            it is dropped)
 *   VECTOR (MySQL 9)                                         array of float32 numbers
 *
 * MariaDB compressed events (log_bin_compress=ON, types 165-171) are inflated (zlib) and
 * come back as their plain counterparts (QUERY_EVENT, WRITE/UPDATE/DELETE_ROWS v1 or v2)
 * with ev.compressed set; a corrupt stream or an impossible declared length is an error.
 *
 * Limits (clear errors, never a crash): zlib-compressed MariaDB column values (the
 * COMPRESSED column attribute) are reported as unsupported; a rows event whose images
 * need more than 2^24 cells (one per table column per image) and binary JSON whose
 * entries point at the same bytes (MySQL never writes either) are corrupt;
 * TRANSACTION_PAYLOAD needs libzstd (compiled in when SL_HAVE_ZSTD is defined; without it
 * the header is decoded and sl_binlog_payload_next() fails with "compressed transaction
 * payload not supported"); binlog format versions other than 4 (MySQL < 5.0) are rejected;
 * MariaDB's pre-10.0 fractional temporal format (mysql56_temporal_format=OFF, not the
 * default) is not supported and not detected. TEXT and BLOB share one column type:
 * without charset metadata or a schema charset, such columns are treated as text (the
 * schema must say 63 for BLOBs).
 *
 * Lifetimes: everything an event points to (strings, rows, cells) lives in the input
 * buffer or the decoder and stays valid until the next decode call on the same decoder.
 * A table keeps its address while its table id is cached: a TABLE_MAP with different
 * content for the same id rewrites it in place; when more than 1024 table ids are cached,
 * the whole cache is dropped at the next call after a statement end (MySQL writes a
 * TABLE_MAP before every statement, so nothing still needed is lost).
 *
 * Thread: owned by one source thread (or a test); not thread-safe. Pure functions
 * (sl_binlog_cell_*, sl_binlog_value_json, sl_binlog_jsonb_to_json, sl_binlog_crc32) may be
 * called from any thread.
 */
#ifndef SL_BINLOG_DECODE_H
#define SL_BINLOG_DECODE_H

#include "sl_common.h"
#include "sl_buf.h"

/* ======================================================================================
 * Constants
 * ==================================================================================== */

#define SL_BINLOG_HEADER_LEN   19
#define SL_BINLOG_MAGIC        "\xfe" "bin"
#define SL_BINLOG_MAGIC_LEN    4

/* Event types (the header's type byte). */
enum {
    SL_BINLOG_UNKNOWN_EVENT = 0,
    SL_BINLOG_START_EVENT_V3 = 1,
    SL_BINLOG_QUERY_EVENT = 2,
    SL_BINLOG_STOP_EVENT = 3,
    SL_BINLOG_ROTATE_EVENT = 4,
    SL_BINLOG_INTVAR_EVENT = 5,
    SL_BINLOG_RAND_EVENT = 13,
    SL_BINLOG_USER_VAR_EVENT = 14,
    SL_BINLOG_FORMAT_DESCRIPTION_EVENT = 15,
    SL_BINLOG_XID_EVENT = 16,
    SL_BINLOG_TABLE_MAP_EVENT = 19,
    SL_BINLOG_WRITE_ROWS_EVENT_V0 = 20,      /* MySQL 5.1.0-5.1.15, decoded like v1 */
    SL_BINLOG_UPDATE_ROWS_EVENT_V0 = 21,
    SL_BINLOG_DELETE_ROWS_EVENT_V0 = 22,
    SL_BINLOG_WRITE_ROWS_EVENT_V1 = 23,      /* MySQL 5.1.16-5.6, MariaDB */
    SL_BINLOG_UPDATE_ROWS_EVENT_V1 = 24,
    SL_BINLOG_DELETE_ROWS_EVENT_V1 = 25,
    SL_BINLOG_INCIDENT_EVENT = 26,
    SL_BINLOG_HEARTBEAT_EVENT = 27,          /* MySQL and MariaDB */
    SL_BINLOG_IGNORABLE_EVENT = 28,
    SL_BINLOG_ROWS_QUERY_EVENT = 29,
    SL_BINLOG_WRITE_ROWS_EVENT = 30,         /* v2: MySQL 5.6+ */
    SL_BINLOG_UPDATE_ROWS_EVENT = 31,
    SL_BINLOG_DELETE_ROWS_EVENT = 32,
    SL_BINLOG_GTID_EVENT = 33,
    SL_BINLOG_ANONYMOUS_GTID_EVENT = 34,
    SL_BINLOG_PREVIOUS_GTIDS_EVENT = 35,
    SL_BINLOG_TRANSACTION_CONTEXT_EVENT = 36,
    SL_BINLOG_VIEW_CHANGE_EVENT = 37,
    SL_BINLOG_XA_PREPARE_EVENT = 38,
    SL_BINLOG_PARTIAL_UPDATE_ROWS_EVENT = 39,
    SL_BINLOG_TRANSACTION_PAYLOAD_EVENT = 40,
    SL_BINLOG_HEARTBEAT_EVENT_V2 = 41,
    SL_BINLOG_GTID_TAGGED_EVENT = 42,        /* MySQL 8.4+ tagged GTIDs */
    SL_BINLOG_MARIADB_ANNOTATE_ROWS_EVENT = 160,
    SL_BINLOG_MARIADB_BINLOG_CHECKPOINT_EVENT = 161,
    SL_BINLOG_MARIADB_GTID_EVENT = 162,
    SL_BINLOG_MARIADB_GTID_LIST_EVENT = 163,
    SL_BINLOG_MARIADB_START_ENCRYPTION_EVENT = 164,
    SL_BINLOG_MARIADB_QUERY_COMPRESSED_EVENT = 165,          /* log_bin_compress=ON */
    SL_BINLOG_MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1 = 166,
    SL_BINLOG_MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1 = 167,
    SL_BINLOG_MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1 = 168,
    SL_BINLOG_MARIADB_WRITE_ROWS_COMPRESSED_EVENT = 169,     /* v2 post-header */
    SL_BINLOG_MARIADB_UPDATE_ROWS_COMPRESSED_EVENT = 170,
    SL_BINLOG_MARIADB_DELETE_ROWS_COMPRESSED_EVENT = 171,
};

/* Header flags. */
#define SL_BINLOG_F_BINLOG_IN_USE  0x0001   /* FDE of a file being written */
#define SL_BINLOG_F_ARTIFICIAL     0x0020   /* generated by the server (fake ROTATE) */
#define SL_BINLOG_F_IGNORABLE      0x0080   /* a reader that does not know it may skip it */

/* Rows event flags. */
#define SL_BINLOG_ROWS_STMT_END    0x0001

/* Checksum algorithms (binlog_checksum). */
#define SL_BINLOG_CSUM_OFF      0
#define SL_BINLOG_CSUM_CRC32    1
#define SL_BINLOG_CSUM_UNKNOWN  255          /* not known yet: detect a valid trailer */

/* Column types (MYSQL_TYPE_*), as TABLE_MAP writes them. */
enum {
    SL_MY_TYPE_DECIMAL = 0, SL_MY_TYPE_TINY = 1, SL_MY_TYPE_SHORT = 2, SL_MY_TYPE_LONG = 3,
    SL_MY_TYPE_FLOAT = 4, SL_MY_TYPE_DOUBLE = 5, SL_MY_TYPE_NULL = 6,
    SL_MY_TYPE_TIMESTAMP = 7, SL_MY_TYPE_LONGLONG = 8, SL_MY_TYPE_INT24 = 9,
    SL_MY_TYPE_DATE = 10, SL_MY_TYPE_TIME = 11, SL_MY_TYPE_DATETIME = 12,
    SL_MY_TYPE_YEAR = 13, SL_MY_TYPE_NEWDATE = 14, SL_MY_TYPE_VARCHAR = 15,
    SL_MY_TYPE_BIT = 16, SL_MY_TYPE_TIMESTAMP2 = 17, SL_MY_TYPE_DATETIME2 = 18,
    SL_MY_TYPE_TIME2 = 19, SL_MY_TYPE_TYPED_ARRAY = 20,
    SL_MY_TYPE_VARCHAR_COMPRESSED = 140, SL_MY_TYPE_BLOB_COMPRESSED = 141,  /* MariaDB */
    SL_MY_TYPE_VECTOR = 242, SL_MY_TYPE_JSON = 245, SL_MY_TYPE_NEWDECIMAL = 246,
    SL_MY_TYPE_ENUM = 247, SL_MY_TYPE_SET = 248, SL_MY_TYPE_TINY_BLOB = 249,
    SL_MY_TYPE_MEDIUM_BLOB = 250, SL_MY_TYPE_LONG_BLOB = 251, SL_MY_TYPE_BLOB = 252,
    SL_MY_TYPE_VAR_STRING = 253, SL_MY_TYPE_STRING = 254, SL_MY_TYPE_GEOMETRY = 255,
};

#define SL_MY_COLLATION_BINARY 63

/* ======================================================================================
 * Tables and schemas
 * ==================================================================================== */

typedef struct sl_binlog_label {
    const char *s;
    uint32_t    len;
} sl_binlog_label_t;

typedef struct sl_binlog_column {
    const char *name;          /* metadata, schema, or "@N"; NUL-terminated */
    const char *key_json;      /* the name as a JSON string followed by ':' */
    uint32_t    key_json_len;
    uint8_t     type;          /* as in TABLE_MAP */
    uint8_t     real_type;     /* STRING's real type (ENUM, SET, STRING); else = type */
    /* From the column metadata (0 when the type has none):
     *   length: VARCHAR/STRING max bytes; BLOB/JSON/GEOMETRY/VECTOR length-prefix bytes
     *           (1..4); ENUM/SET pack length; FLOAT/DOUBLE pack length
     *   precision/scale: NEWDECIMAL; fsp: TIME2/DATETIME2/TIMESTAMP2; bits: BIT */
    uint16_t    length;
    uint8_t     precision, scale, fsp;
    uint16_t    bits;
    bool        nullable;
    bool        is_unsigned;
    bool        is_pk;
    bool        visible;       /* false only when COLUMN_VISIBILITY says invisible */
    bool        is_json_text;  /* text column holding JSON (schema is_json: MariaDB) */
    uint16_t    charset;       /* collation id; 0 = unknown */
    uint8_t     geometry_type; /* GEOMETRY_TYPE metadata (0 = GEOMETRY) */
    uint32_t    pk_prefix;     /* key prefix length (0 = whole column) */
    uint32_t    vector_dim;
    uint32_t    nlabels;       /* ENUM / SET labels (0 when unknown) */
    const sl_binlog_label_t *labels;
} sl_binlog_column_t;

/* Caller-supplied schema of one table (from information_schema), copied on registration. */
typedef struct sl_binlog_schema_col {
    const char *name;
    uint32_t    pk_pos;        /* 1-based position in the primary key, 0 = not a key column */
    bool        is_unsigned;
    bool        is_json;       /* a text column that holds JSON (MariaDB's JSON type) */
    uint16_t    charset;       /* collation id (information_schema COLLATION_NAME -> id), 0 */
    uint32_t    nlabels;       /* ENUM / SET labels in definition order */
    const char *const *labels;
} sl_binlog_schema_col_t;

typedef struct sl_binlog_schema {
    const char *db;
    const char *table;
    uint32_t    ncols;
    const sl_binlog_schema_col_t *cols;
} sl_binlog_schema_t;

typedef struct sl_binlog_table {
    uint64_t            table_id;
    const char         *db;
    const char         *name;
    uint16_t            flags;
    uint32_t            ncols;
    sl_binlog_column_t *cols;
    uint32_t            npk;
    const uint32_t     *pk;       /* key column indexes in key order */
    /* Which optional metadata the TABLE_MAP carried. */
    bool                meta_signedness, meta_charset, meta_names, meta_pk, meta_labels;
    bool                has_schema;       /* a caller schema was applied */
    bool                schema_mismatch;  /* a schema was registered but did not fit */
    /* Envelope state: transaction.data_collection_order (see sl_binlog_envctx_t). */
    uint64_t            tx_order;
    uint64_t            tx_order_seq;
} sl_binlog_table_t;

/* ======================================================================================
 * Decoded events
 * ==================================================================================== */

typedef enum {
    SL_BINLOG_CELL_ABSENT = 0,   /* column not in this row image (partial image) */
    SL_BINLOG_CELL_NULL,
    SL_BINLOG_CELL_VALUE,
    SL_BINLOG_CELL_JSON_DIFF,    /* PARTIAL_UPDATE_ROWS after image: a JSON diff list */
} sl_binlog_cell_state_t;

/* One column value of a row image: p/len are the value bytes without any length prefix
 * (a VARCHAR's characters, a BLOB's bytes, a JSON column's binary JSON, an INT's 4 bytes).
 * Points into the event. */
typedef struct sl_binlog_cell {
    const uint8_t *p;
    uint32_t       len;
    uint8_t        state;        /* sl_binlog_cell_state_t */
} sl_binlog_cell_t;

/* One row change: before is NULL for inserts, after is NULL for deletes. Each holds
 * table->ncols cells. */
typedef struct sl_binlog_row {
    const sl_binlog_cell_t *before;
    const sl_binlog_cell_t *after;
} sl_binlog_row_t;

/* MariaDB GTID flags2: a group without BEGIN (DDL); an XA PREPARE / XA COMMIT or
 * ROLLBACK */
#define SL_MARIADB_FL_STANDALONE   1
#define SL_MARIADB_FL_PREPARED_XA  64
#define SL_MARIADB_FL_COMPLETED_XA 128

typedef struct sl_binlog_event {
    /* Common header (zero when decoded by sl_binlog_decode_body). */
    uint32_t       timestamp;     /* seconds since the epoch */
    uint8_t        type;
    uint32_t       server_id;
    uint32_t       event_size;
    uint32_t       log_pos;       /* end position of this event in its file (0: artificial,
                                     or an event inside a TRANSACTION_PAYLOAD) */
    uint16_t       flags;
    bool           has_checksum;  /* a CRC32 trailer was present and verified */
    uint32_t       checksum;
    const uint8_t *raw;           /* the whole event as fed */
    size_t         raw_len;
    const uint8_t *body;          /* after the common header, without the checksum */
    size_t         body_len;
    bool           ignored;       /* not interpreted (unknown or uninteresting type) */
    bool           compressed;    /* a MariaDB compressed event (165-171) decoded as its
                                     plain counterpart: type is QUERY_EVENT or the rows
                                     type, body is still the compressed body */

    union {
        struct {
            uint16_t binlog_version;
            char     server_version[51];
            uint32_t create_timestamp;
            uint8_t  header_len;
            uint8_t  checksum_alg;     /* SL_BINLOG_CSUM_OFF/CRC32, or UNKNOWN (pre-5.6) */
            bool     mariadb;
        } fde;
        struct {
            uint64_t    position;
            const char *file;
            size_t      file_len;
        } rotate;
        struct {
            uint32_t       thread_id;
            uint32_t       exec_time;
            uint16_t       error_code;
            const char    *db;
            size_t         db_len;
            const char    *sql;
            size_t         sql_len;
            const uint8_t *status_vars;
            size_t         status_vars_len;
        } query;
        struct {
            uint64_t xid;
        } xid;
        struct {
            sl_binlog_table_t *table;
        } table_map;
        struct {
            sl_binlog_table_t     *table;
            uint64_t               table_id;
            uint16_t               flags;        /* SL_BINLOG_ROWS_STMT_END ... */
            char                   op;           /* 'c', 'u', 'd' */
            uint32_t               ncols;
            uint32_t               nrows;
            const sl_binlog_row_t *rows;
            const uint8_t         *extra;        /* v2 extra row info (may be empty) */
            size_t                 extra_len;
            int32_t                partition_id; /* -1 when absent */
            int32_t                source_partition_id;
        } rows;
        struct {   /* GTID, ANONYMOUS_GTID, GTID_TAGGED */
            uint8_t     flags;
            uint8_t     sid[16];
            int64_t     gno;
            char        tag[33];            /* "" when untagged */
            bool        anonymous;
            int64_t     last_committed;     /* 0 when absent (MySQL 5.6) */
            int64_t     sequence_number;
            uint64_t    immediate_commit_ts;/* µs since the epoch, 0 when absent */
            uint64_t    original_commit_ts; /* = immediate unless sent */
            uint64_t    transaction_length; /* 0 when absent */
            uint32_t    immediate_server_version;   /* 999999 (MySQL's "undefined")
                                                       when absent */
            uint32_t    original_server_version;
            const char *text;               /* "uuid:gno" / "uuid:tag:gno"; NULL if anon. */
        } gtid;
        struct {
            uint64_t    seq_no;
            uint32_t    domain_id;
            uint32_t    server_id;           /* from the header */
            uint8_t     flags2;              /* 1 = standalone (no BEGIN follows), 32 = DDL,
                                                SL_MARIADB_FL_PREPARED_XA / _COMPLETED_XA */
            uint64_t    commit_id;           /* 0 when absent */
            const char *text;                /* "domain-server-seq" */
        } mgtid;
        struct {
            uint32_t    count;
            uint8_t     flags;
            const char *text;                /* "d-s-n,d-s-n" ("" when empty) */
        } gtid_list;
        struct {
            bool        tagged_format;
            uint32_t    nsids;
            const char *text;                /* MySQL GTID set text */
        } previous_gtids;
        struct {   /* ANNOTATE_ROWS, ROWS_QUERY */
            const char *sql;
            size_t      sql_len;
        } rows_query;
        struct {
            const char *file;
            size_t      file_len;
        } checkpoint;
        struct {   /* HEARTBEAT (position = header log_pos), HEARTBEAT_V2 */
            const char *file;
            size_t      file_len;
            uint64_t    position;
        } heartbeat;
        struct {
            uint8_t        compression;     /* 0 = zstd, 255 = none */
            uint64_t       payload_size;
            uint64_t       uncompressed_size;
            const uint8_t *payload;         /* the (compressed) inner events */
            size_t         payload_len;
        } payload;
        struct {
            uint8_t  type;                  /* 1 LAST_INSERT_ID, 2 INSERT_ID */
            uint64_t value;
        } intvar;
        struct {
            bool        one_phase;
            int32_t     format_id;
            const char *gtrid;
            size_t      gtrid_len;
            const char *bqual;
            size_t      bqual_len;
        } xa;
    };
} sl_binlog_event_t;

/* ======================================================================================
 * Decoder
 * ==================================================================================== */

typedef struct sl_binlog_decoder sl_binlog_decoder_t;

sl_binlog_decoder_t *sl_binlog_decoder_new(void);
void sl_binlog_decoder_free(sl_binlog_decoder_t *d);

/* Checksum setting: alg is SL_BINLOG_CSUM_OFF, _CRC32 or _UNKNOWN (the default: learn from
 * the FORMAT_DESCRIPTION event; before one arrives, strip a trailer only when it is a valid
 * CRC32). A known setting stays until the next FORMAT_DESCRIPTION event. stripped = true
 * when the events are handed over with their 4 checksum bytes already removed while the
 * header's event_size still counts them. */
void sl_binlog_decoder_set_checksum(sl_binlog_decoder_t *d, uint8_t alg, bool stripped);

/* Server flavour, normally learned from the FORMAT_DESCRIPTION event's server version. It
 * matters for TABLE_MAP charset metadata: MariaDB counts GEOMETRY columns as character
 * columns, MySQL does not. */
void sl_binlog_decoder_set_mariadb(sl_binlog_decoder_t *d, bool mariadb);

/* Decode one complete event (19-byte header, body, optional CRC32 trailer). Returns SL_OK
 * with *ev filled, or SL_ERR with errstr naming the event type, its log position and the
 * byte offset within the event where decoding failed (truncated, bad CRC32, corrupt body,
 * rows event for an unknown table id...). A failed decode leaves the decoder's table cache
 * and checksum state unchanged. */
int sl_binlog_decode(sl_binlog_decoder_t *d, const uint8_t *buf, size_t len,
                     sl_binlog_event_t *ev, char *errstr, size_t errstr_size);

/* Decode an event body without its common header or checksum (the header fields of *ev
 * are zero but type). For tests and callers that parsed the header themselves. */
int sl_binlog_decode_body(sl_binlog_decoder_t *d, uint8_t type, const uint8_t *body,
                          size_t len, sl_binlog_event_t *ev, char *errstr,
                          size_t errstr_size);

/* After a TRANSACTION_PAYLOAD event decoded: the next inner event (decoded like any other
 * event, without checksum; its log_pos is 0: positions belong to the payload event).
 * Returns 1 with *ev filled, 0 when there are no more, SL_ERR on a corrupt payload or when
 * decompression is not available. Decoding another event ends the iteration. */
int sl_binlog_payload_next(sl_binlog_decoder_t *d, sl_binlog_event_t *ev, char *errstr,
                           size_t errstr_size);

/* The table cached for a table id (NULL when unknown). */
sl_binlog_table_t *sl_binlog_decoder_table(sl_binlog_decoder_t *d, uint64_t table_id);

/* Register (copy) the schema of s->db.s->table for TABLE_MAPs decoded from now on,
 * replacing an earlier version. */
void sl_binlog_decoder_set_schema(sl_binlog_decoder_t *d, const sl_binlog_schema_t *s);
/* Forget the schema of db.table (after DROP TABLE). */
void sl_binlog_decoder_drop_schema(sl_binlog_decoder_t *d, const char *db, const char *table);

/* Called after every TABLE_MAP that installs a new table description, before the decode
 * returns. The hook may call sl_binlog_decoder_set_schema() for that table (say after an
 * information_schema lookup) and then sl_binlog_table_apply_schema() to apply it now. */
void sl_binlog_decoder_set_table_hook(sl_binlog_decoder_t *d,
                                      void (*fn)(void *arg, sl_binlog_table_t *t), void *arg);
/* Apply the schema currently registered for t's db.table to t (metadata still wins),
 * rebuilding t in place (same address) unless it already uses that version. Returns false
 * when none is registered or it does not fit (t->schema_mismatch). */
bool sl_binlog_table_apply_schema(sl_binlog_decoder_t *d, sl_binlog_table_t *t);

/* Printable name of an event type ("WRITE_ROWS_EVENT_V2", "UNKNOWN_EVENT(100)" ...). The
 * returned string is static or in buf (at least 32 bytes). */
const char *sl_binlog_event_name(uint8_t type, char *buf, size_t bufsz);

/* CRC32 (IEEE 802.3, as zlib's crc32()) of p[0..n), continuing from crc (0 to start). */
uint32_t sl_binlog_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* ======================================================================================
 * Binlog files
 * ==================================================================================== */

typedef struct sl_binlog_file {
    const uint8_t *buf;
    size_t         len;
    size_t         off;      /* offset of the next event */
} sl_binlog_file_t;

/* Check the magic ("\xfebin") of a whole binlog file in memory. SL_OK / SL_ERR. */
int sl_binlog_file_init(sl_binlog_file_t *f, const uint8_t *buf, size_t len, char *errstr,
                        size_t errstr_size);
/* The next event: 1 with *ev, *ev_len (and *ev_off, its file offset) set, 0 at the clean
 * end of the file, SL_ERR when the rest is not a whole event (a truncated file: the error
 * says at which offset and how many bytes are missing). */
int sl_binlog_file_next(sl_binlog_file_t *f, const uint8_t **ev, size_t *ev_len,
                        size_t *ev_off, char *errstr, size_t errstr_size);

/* ======================================================================================
 * Values
 * ==================================================================================== */

typedef enum {
    SL_BLV_NULL = 0,
    SL_BLV_INT,         /* i */
    SL_BLV_UINT,        /* u */
    SL_BLV_FLOAT,       /* d (a float32 widened) */
    SL_BLV_DOUBLE,      /* d */
    SL_BLV_DECIMAL,     /* text: exact, `scale` fraction digits */
    SL_BLV_BIT,         /* bytes (big-endian), u = the value when it fits 64 bits */
    SL_BLV_YEAR,        /* i (0, or 1901..2155) */
    SL_BLV_DATE,        /* tm */
    SL_BLV_TIME,        /* tm: neg, hour (may exceed 24), minute, second, usec */
    SL_BLV_DATETIME,    /* tm */
    SL_BLV_TIMESTAMP,   /* i = seconds since the epoch, tm.usec; tm also holds UTC fields */
    SL_BLV_STRING,      /* bytes in charset */
    SL_BLV_BYTES,       /* bytes (binary charset) */
    SL_BLV_ENUM,        /* u = 1-based index (0 = the empty error value) */
    SL_BLV_SET,         /* u = bitmask */
    SL_BLV_JSON,        /* bytes = MySQL binary JSON */
    SL_BLV_JSON_TEXT,   /* bytes = JSON text (MariaDB) */
    SL_BLV_JSON_DIFF,   /* bytes = partial update diff list */
    SL_BLV_GEOMETRY,    /* u = SRID, bytes = WKB */
    SL_BLV_VECTOR,      /* bytes = little-endian float32 array */
} sl_binlog_value_kind_t;

typedef struct sl_binlog_value {
    sl_binlog_value_kind_t kind;
    int64_t        i;
    uint64_t       u;
    double         d;
    const uint8_t *p;         /* bytes */
    size_t         len;
    uint16_t       charset;   /* STRING */
    uint8_t        fsp;       /* TIME/DATETIME/TIMESTAMP fraction digits */
    struct {
        bool     neg;
        uint32_t year, month, day, hour, minute, second, usec;
    } tm;
    char           text[72];  /* DECIMAL */
} sl_binlog_value_t;

/* Parse the value of col at p (n bytes available) into *cell; *consumed = bytes used,
 * length prefix included. SL_ERR (with *why set to a static reason) when it does not fit
 * or the type is not supported. */
int sl_binlog_cell_parse(const sl_binlog_column_t *col, const uint8_t *p, size_t n,
                         sl_binlog_cell_t *cell, size_t *consumed, const char **why);

/* Interpret a cell. SL_ERR with errstr when the bytes are not a valid value of the type
 * (a corrupt DECIMAL, an impossible TIME...). */
int sl_binlog_cell_value(const sl_binlog_column_t *col, const sl_binlog_cell_t *cell,
                         sl_binlog_value_t *v, char *errstr, size_t errstr_size);

/* Append the event JSON of a value / of a cell (see the mapping above). SL_ERR, with
 * nothing appended, when the value is corrupt (e.g. bad binary JSON). */
int sl_binlog_value_json(sl_buf_t *out, const sl_binlog_column_t *col,
                         const sl_binlog_value_t *v, char *errstr, size_t errstr_size);
int sl_binlog_cell_json(sl_buf_t *out, const sl_binlog_column_t *col,
                        const sl_binlog_cell_t *cell, char *errstr, size_t errstr_size);

/* MySQL binary JSON (a JSON column's bytes) as JSON text. Empty input is null. SL_ERR,
 * with nothing appended, when it is corrupt or nested deeper than 128. */
int sl_binlog_jsonb_to_json(sl_buf_t *out, const uint8_t *p, size_t n, char *errstr,
                            size_t errstr_size);

/* ======================================================================================
 * The Debezium envelope
 * ==================================================================================== */

typedef struct sl_binlog_envcache {
    bool               valid;
    uint64_t           gen;
    const sl_binlog_table_t *table;
    uint32_t           server_id, log_pos, event_size, timestamp;
    char               op;
    sl_buf_t           buf;          /* the envelope segments of binlog_event.c */
    size_t             source_end, op_end;
    int                shard_col;
} sl_binlog_envcache_t;

typedef struct sl_binlog_envctx {
    const char *pipeline;         /* source.name */
    const char *file;             /* source.file: current binlog file name */
    uint64_t    pos;              /* source.pos: position of the rows event (0: taken as
                                     log_pos - event_size) */
    const char *gtid;             /* source.gtid: the transaction's GTID text, or NULL */
    int64_t     thread;           /* source.thread (from the BEGIN QUERY event), -1: null */
    const char *query;            /* source.query: ANNOTATE_ROWS / ROWS_QUERY of the
                                     statement, or NULL (-> null) */
    size_t      query_len;
    const char *tx_id;            /* transaction.id, NULL -> "transaction":null */
    uint64_t    tx_seq;           /* caller's transaction number: resets the per-table
                                     data_collection_order when it changes */
    uint64_t    total_order;      /* incremented for each encoded row; the caller sets
                                     it to 0 at each transaction start */
    uint64_t    commit_ts_us;     /* source.ts_*: 0 = the event header's timestamp */
    uint64_t    now_unix_us;      /* processing time for the top-level ts_* */
    const char *shard_key;        /* column for sharding, or NULL */
    /* Rendering cache, for a caller that encodes many rows with the same values: 0 renders
     * every row from the fields above; any other value lets the encoder reuse what it
     * rendered for the previous row of the same table and event header as long as gen is
     * unchanged. The caller gives gen a new value for every rows event it encodes (keeping
     * it is only right while none of pipeline, file, pos, gtid, thread, query, tx_id,
     * commit_ts_us, shard_key and the table's names changed), and calls
     * sl_binlog_envctx_free() when done. */
    uint64_t    gen;
    sl_binlog_envcache_t cache;   /* private to binlog_event.c */
} sl_binlog_envctx_t;

/* Key and value follow Debezium's MySQL connector with these differences: columns absent
 * from a partial row image (binlog_row_image=MINIMAL/NOBLOB) are null; the key comes from
 * the after image, a key column missing there from the before image; an UPDATE that
 * changes the primary key is one "u" event with the new key (Debezium emits a delete, a
 * tombstone and a create instead; not done here).
 *
 * Encode row `row` of a decoded rows event into out: the key JSON (primary key columns,
 * key_len 0 when the table has no known key or a key value is absent), then the value JSON
 * {"before","after","source":{...},"op","ts_ms","ts_us","ts_ns","transaction":{...}}.
 * Offsets are relative to out->data. shard_json/shard_len point at the shard column's JSON
 * value (after, else before) or are NULL. SL_ERR (out restored, errstr naming the table,
 * column, row and the value's byte offset in the event) when a value is corrupt. */
int sl_binlog_encode_row(sl_buf_t *out, sl_binlog_envctx_t *ctx, const sl_binlog_event_t *ev,
                         uint32_t row, uint32_t *key_off, uint32_t *key_len,
                         uint32_t *val_off, uint32_t *val_len, const char **shard_json,
                         size_t *shard_len, char *errstr, size_t errstr_size);

/* As sl_binlog_encode_row, for one half of an UPDATE row that changed the key: half 'd'
 * encodes a delete of the before image (key from it), 'c' a create of the after image;
 * 0 is the row as it is. Both halves carry the row's source fields. */
int sl_binlog_encode_row_as(sl_buf_t *out, sl_binlog_envctx_t *ctx,
                            const sl_binlog_event_t *ev, uint32_t row, char half,
                            uint32_t *key_off, uint32_t *key_len, uint32_t *val_off,
                            uint32_t *val_len, const char **shard_json, size_t *shard_len,
                            char *errstr, size_t errstr_size);

/* *changed = whether an UPDATE row's key differs between its before and after images
 * (key JSON compared byte for byte). Renders both at the end of scratch and takes them
 * back off. False for other rows, tables without a key or images lacking key columns.
 * SL_ERR (errstr set) when a key value is corrupt. */
int sl_binlog_key_changed(sl_buf_t *scratch, const sl_binlog_event_t *ev, uint32_t row,
                          bool *changed, char *errstr, size_t errstr_size);

/* Free what the rendering cache of ctx holds (nothing when ctx->gen stayed 0). */
void sl_binlog_envctx_free(sl_binlog_envctx_t *ctx);

#endif
