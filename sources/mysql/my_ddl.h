/*
 * my_ddl.h - MySQL / MariaDB table schemas as sluice tracks them, the DDL parser that
 * evolves them, and the pure helpers around them (history JSON, Debezium schema change
 * events, the check against a TABLE_MAP, the decoder's schema). No I/O anywhere here:
 * my_source.c feeds statements and positions and persists what comes back, so unit tests
 * drive all of it with strings.
 *
 * The model
 * ---------
 * A catalog holds the tables sluice tracks (the databases named in the source's
 * `tables`), each with its columns in order (name, normalized type, length, scale,
 * signedness, nullability, charset, ENUM/SET labels, default, comment, generated/auto-
 * increment flags, MariaDB JSON flag) and its primary key (column names in key order),
 * plus the default charset of each tracked database.
 *
 * A table is either *tracked* (built from DDL seen in the binlog) or *seeded*: read from
 * the server (SHOW CREATE TABLE) at a position S, meaning "the schema valid at S". DDL in
 * the binlog before S is already part of a seed, so ALTER/RENAME/index statements at a
 * position before a table's seed position are skipped for that table, while CREATE and
 * DROP still replace it (the binlog is authoritative from a CREATE on). A seed without
 * position (S unknown: no binlog position could be read) counts as "after everything".
 *
 * The parser
 * ----------
 * sl_my_ddl_apply() understands, for tracked databases:
 *   CREATE [OR REPLACE] TABLE [IF NOT EXISTS] t (columns, PRIMARY KEY, UNIQUE/INDEX/KEY,
 *     FULLTEXT/SPATIAL, FOREIGN KEY, CHECK, CONSTRAINT, PERIOD) [table options]
 *     [PARTITION ...]; CREATE TABLE t LIKE u / (LIKE u)
 *   ALTER [ONLINE] [IGNORE] TABLE [IF EXISTS] t spec, spec... with ADD [COLUMN] [IF NOT
 *     EXISTS] (one or a parenthesized list) [FIRST | AFTER c], CHANGE, MODIFY, DROP
 *     [COLUMN] [IF EXISTS], RENAME COLUMN a TO b, ALTER [COLUMN] c SET/DROP DEFAULT,
 *     ADD/DROP PRIMARY KEY, ADD/DROP/RENAME INDEX|KEY|UNIQUE|FOREIGN KEY|CONSTRAINT|CHECK,
 *     RENAME [TO|AS] u, [DEFAULT] CONVERT TO CHARACTER SET, [DEFAULT] CHARACTER SET /
 *     COLLATE, table options (ENGINE=, COMMENT=, AUTO_INCREMENT=, ROW_FORMAT= ...),
 *     ALGORITHM=, LOCK=, FORCE, ORDER BY, partition maintenance
 *   RENAME TABLE a TO b [, c TO d]; DROP [TEMPORARY] TABLE [IF EXISTS] a [, b];
 *   CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX ... ON t; DROP INDEX [IF EXISTS] i ON t
 *   (DROP INDEX `PRIMARY` drops the key); TRUNCATE (no schema change);
 *   CREATE / ALTER / DROP DATABASE|SCHEMA (default charsets; DROP drops its tables);
 *   MariaDB system versioning (WITH / ADD / DROP SYSTEM VERSIONING: the hidden row_start
 *   and row_end TIMESTAMP(6) columns the row images carry)
 * with comments (-- , #, C style; the executable kind, slash-star-bang NNNNN and
 * slash-star-M-bang NNNNN, is read as SQL), `back`-quoted and "double"-quoted
 * identifiers, db.table names, IF [NOT] EXISTS, every column type and attribute of MySQL 8 / MariaDB 10.11 (synonyms such as
 * INTEGER, BOOL, SERIAL, NATIONAL VARCHAR, LONG are normalized). Statements that change
 * no table (users, grants, views, triggers, routines, events, DML...) are NONE. A table
 * statement it cannot follow is UNKNOWN: nothing is changed and the tables it names are
 * reported so the caller can read their schema from the server instead.
 *
 * Thread: whoever owns the catalog (the MySQL source thread, a test).
 */
#ifndef SL_MY_DDL_H
#define SL_MY_DDL_H

#include "sl_common.h"
#include "sl_buf.h"
#include "binlog_decode.h"

#include <jansson.h>

/* ======================================================================================
 * Tables
 * ==================================================================================== */

typedef struct sl_my_col {
    char     *name;
    char     *type;          /* normalized, upper case: INT, VARCHAR, ENUM, LONGTEXT ... */
    int64_t   length;        /* (M) of the type, display width, fsp...; -1: none */
    int32_t   scale;         /* DECIMAL/FLOAT/DOUBLE (M,D); -1: none */
    bool      is_unsigned, zerofill;
    bool      nullable;
    bool      auto_increment;
    bool      generated;     /* AS (expr) VIRTUAL/STORED/PERSISTENT */
    bool      is_json;       /* MariaDB JSON (LONGTEXT with json_valid) or MySQL JSON */
    char     *charset;       /* character types: charset name ("binary" for BLOB/BINARY);
                                NULL: not a character type, or unknown */
    char     *default_expr;  /* DEFAULT: literal text (strings unquoted), NULL: none */
    char     *comment;
    char    **labels;        /* ENUM / SET, unquoted, in order */
    uint32_t  nlabels;
} sl_my_col_t;

typedef struct sl_my_tab {
    char        *db, *name;
    char        *charset;    /* table default charset, NULL when unknown */
    char        *comment;
    sl_my_col_t *cols;
    uint32_t     ncols;
    char       **pk;         /* primary key column names, key order */
    uint32_t     npk;
    /* Seed (see the top): the position the server was read at. */
    bool         seeded;
    char        *seed_file;  /* NULL with seeded: position unknown ("after everything") */
    uint64_t     seed_pos;
    uint64_t     version;    /* bumped by every change (callers cache derived data) */
} sl_my_tab_t;

typedef struct sl_my_catalog sl_my_catalog_t;

sl_my_catalog_t *sl_my_catalog_new(void);
void sl_my_catalog_free(sl_my_catalog_t *c);
/* Databases whose DDL is followed (others are ignored). */
void sl_my_catalog_track_db(sl_my_catalog_t *c, const char *db);
bool sl_my_catalog_tracks_db(const sl_my_catalog_t *c, const char *db);
/* The table db.name, or NULL. Valid until the next change of the catalog. */
const sl_my_tab_t *sl_my_catalog_find(const sl_my_catalog_t *c, const char *db,
                                      const char *name);
/* Every table, for iteration: i < sl_my_catalog_count(). */
size_t sl_my_catalog_count(const sl_my_catalog_t *c);
const sl_my_tab_t *sl_my_catalog_at(const sl_my_catalog_t *c, size_t i);
/* Put a deep copy of t (replacing db.name), or remove db.name when t is NULL. */
void sl_my_catalog_put(sl_my_catalog_t *c, const char *db, const char *name,
                       const sl_my_tab_t *t);
/* Remove every table (a fresh start). */
void sl_my_catalog_clear(sl_my_catalog_t *c);
/* Database default charsets (NULL: unknown). */
void sl_my_catalog_set_db_charset(sl_my_catalog_t *c, const char *db, const char *cs);
const char *sl_my_catalog_db_charset(const sl_my_catalog_t *c, const char *db);
bool sl_my_catalog_has_db(const sl_my_catalog_t *c, const char *db);
/* Forget a database's state (DROP DATABASE); its tables are not touched. */
void sl_my_catalog_forget_db(sl_my_catalog_t *c, const char *db);

void sl_my_tab_free(sl_my_tab_t *t);        /* frees the members and t */
sl_my_tab_t *sl_my_tab_dup(const sl_my_tab_t *t);
/* Index of the column named name (case-insensitive, as MySQL compares them), or -1. */
int sl_my_tab_col(const sl_my_tab_t *t, const char *name);

/* ======================================================================================
 * DDL
 * ==================================================================================== */

typedef enum {
    SL_MY_DDL_NONE = 0,   /* changes no tracked table (or not a table statement) */
    SL_MY_DDL_APPLIED,    /* res->changes says what changed (may be empty: skipped) */
    SL_MY_DDL_UNKNOWN,    /* not understood; nothing changed; res names the tables */
} sl_my_ddl_rc_t;

typedef enum { SL_MY_TC_CREATE = 0, SL_MY_TC_ALTER, SL_MY_TC_DROP } sl_my_tc_type_t;

/* One table changed by a statement. */
typedef struct sl_my_change {
    sl_my_tc_type_t type;
    char *db, *name;            /* the table (its name after a rename) */
    char *old_db, *old_name;    /* the name before a rename, else NULL */
    sl_my_tab_t *tab;           /* copy of the table after the change; for DROP the
                                   definition it had (NULL when unknown, e.g. a table
                                   seeded after the statement); NULL when UNKNOWN */
} sl_my_change_t;

typedef struct sl_my_ddl_res {
    sl_my_change_t *changes;
    size_t          n;
    char           *db;         /* the database the statement is about (first table's),
                                   or the default database */
    uint32_t        skipped;    /* tables left alone: seeded after this position */
    bool            db_charset_changed;
    char            err[SL_ERRSTR_SIZE];  /* UNKNOWN: why, with the byte offset */
} sl_my_ddl_res_t;

void sl_my_ddl_res_free(sl_my_ddl_res_t *r);

typedef struct sl_my_ddl_opts {
    const char *default_db;     /* the statement's default database (QUERY event), or "" */
    bool        mariadb;        /* JSON is LONGTEXT utf8mb4 + json_valid (MariaDB) */
    const char *file;           /* the statement's binlog position (for seeded tables); */
    uint64_t    pos;            /*   file NULL: apply to every table */
} sl_my_ddl_opts_t;

/* Parse one statement and apply it to the catalog, atomically: on UNKNOWN nothing
 * changed. res is filled in every case (free it with sl_my_ddl_res_free). */
sl_my_ddl_rc_t sl_my_ddl_apply(sl_my_catalog_t *c, const char *sql, size_t len,
                               const sl_my_ddl_opts_t *o, sl_my_ddl_res_t *res);

/* Parse a CREATE TABLE statement (SHOW CREATE TABLE output) into a new table named
 * db.name, without touching any catalog; db_charset is the database default (NULL:
 * unknown). NULL with errstr when it cannot be parsed. */
sl_my_tab_t *sl_my_ddl_parse_create(const char *sql, size_t len, const char *db,
                                    const char *name, const char *db_charset, bool mariadb,
                                    char *errstr, size_t errstr_size);

/* Parse a column type as information_schema.COLUMNS.COLUMN_TYPE shows it ("int(10)
 * unsigned", "enum('a','b')", "decimal(10,2)") into col (type, length, scale,
 * signedness, labels; other members untouched). SL_OK / SL_ERR. */
int sl_my_ddl_parse_type(const char *text, sl_my_col_t *col, bool mariadb, char *errstr,
                         size_t errstr_size);

/* Type classes of normalized type names: character types (CHAR, VARCHAR, *TEXT, ENUM,
 * SET) take a charset; binary ones (BINARY, VARBINARY, *BLOB) have charset "binary". */
bool sl_my_type_is_char(const char *type);
bool sl_my_type_is_binary(const char *type);

/* Charset of a collation name ("utf8mb4_unicode_ci" -> "utf8mb4"), normalized as the
 * parser keeps charsets (utf8 -> utf8mb3); a static string or NULL when unknown. */
const char *sl_my_collation_charset(const char *collation);

/* Binlog positions: file names compare by their numeric suffix, then pos. An empty or
 * NULL file is before every position. */
int sl_my_pos_cmp(const char *fa, uint64_t pa, const char *fb, uint64_t pb);

/* ======================================================================================
 * Derived forms (my_schema.c)
 * ==================================================================================== */

/* The table as one JSON object (the schema history's form; members at their defaults are
 * left out): {"db","table","charset","comment","pk":[...],"columns":[{"name","type",
 * "length","scale","unsigned","zerofill","nullable":false,"autoinc","generated","json",
 * "charset","default","comment","labels"}]} */
void sl_my_tab_json(sl_buf_t *out, const sl_my_tab_t *t);
/* Back from that JSON (seed members are not part of it). NULL with errstr. */
sl_my_tab_t *sl_my_tab_from_json(json_t *j, char *errstr, size_t errstr_size);

/* Register t with a binlog decoder (names, key, signedness, JSON flag, collation ids,
 * labels); t NULL drops db.name. */
void sl_my_tab_register(sl_binlog_decoder_t *d, const char *db, const char *name,
                        const sl_my_tab_t *t);

/* Does the schema fit the TABLE_MAP (column count and column types)? SL_OK, or SL_ERR
 * with why saying what differs ("3 columns in the schema, 4 in the binlog", "column 2
 * `b`: the schema has VARCHAR, the binlog LONG"). */
int sl_my_tab_check(const sl_my_tab_t *t, const sl_binlog_table_t *bt, char *why,
                    size_t why_size);

/* Debezium's tableChanges entry for one change, schemas disabled:
 * {"type","id","table":{"defaultCharsetName","primaryKeyColumnNames","columns":[{"name",
 * "jdbcType","nativeType","typeName","typeExpression","charsetName","length","scale",
 * "position","optional","autoIncremented","generated","comment","defaultValueExpression",
 * "enumValues"}],"comment"}} */
void sl_my_table_change_json(sl_buf_t *out, const sl_my_change_t *ch);

/* What the schema change event's envelope needs from the QUERY event. */
typedef struct sl_my_ddl_env {
    const char *pipeline;       /* source.name */
    const char *db;             /* databaseName (the key), source.db */
    const char *ddl;            /* the statement */
    size_t      ddl_len;
    const char *file;           /* source.file */
    uint64_t    pos;            /* source.pos: the QUERY event's position */
    uint32_t    server_id;
    const char *gtid;           /* NULL: null */
    int64_t     thread;         /* -1: null */
    uint64_t    commit_ts_us;   /* source.ts_* */
    uint64_t    now_us;         /* ts_ms */
} sl_my_ddl_env_t;

/* Key ({"databaseName":db}) and value of a Debezium MySQL schema change event into out
 * (offsets relative to out->data): {"source":{...},"ts_ms","databaseName","schemaName":
 * null,"ddl","tableChanges":[...]}. source.table lists the changed tables' names joined
 * with ','. */
void sl_my_schema_event(sl_buf_t *out, const sl_my_ddl_env_t *env,
                        const sl_my_change_t *changes, size_t n, uint32_t *key_off,
                        uint32_t *key_len, uint32_t *val_off, uint32_t *val_len);

#endif
