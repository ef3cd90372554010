/*
 * my_schema.c - what sluice derives from a tracked MySQL table schema (my_ddl.h): its
 * JSON form in the schema history file and back, its registration with the binlog
 * decoder, the check of a schema against a TABLE_MAP, and Debezium's schema change event
 * (key, value and tableChanges, schemas disabled, fields in Debezium's order).
 *
 * Pure functions, no I/O. Thread: any (the catalog's owner passes its tables in).
 */
#include "my_ddl.h"
#include "sl_json.h"

#include <strings.h>

/* ======================================================================================
 * History JSON
 * ==================================================================================== */

static void sl_my_json_str_or_null(sl_buf_t *out, const char *s)
{
    if (s) sl_json_cstr(out, s);
    else sl_buf_puts(out, "null");
}

void sl_my_tab_json(sl_buf_t *out, const sl_my_tab_t *t)
{
    sl_buf_puts(out, "{\"db\":");
    sl_json_cstr(out, t->db ? t->db : "");
    sl_buf_puts(out, ",\"table\":");
    sl_json_cstr(out, t->name ? t->name : "");
    if (t->charset) {
        sl_buf_puts(out, ",\"charset\":");
        sl_json_cstr(out, t->charset);
    }
    if (t->comment) {
        sl_buf_puts(out, ",\"comment\":");
        sl_json_cstr(out, t->comment);
    }
    sl_buf_puts(out, ",\"pk\":[");
    for (uint32_t i = 0; i < t->npk; i++) {
        if (i) sl_buf_putc(out, ',');
        sl_json_cstr(out, t->pk[i]);
    }
    sl_buf_puts(out, "],\"columns\":[");
    for (uint32_t i = 0; i < t->ncols; i++) {
        const sl_my_col_t *c = &t->cols[i];
        if (i) sl_buf_putc(out, ',');
        sl_buf_puts(out, "{\"name\":");
        sl_json_cstr(out, c->name);
        sl_buf_puts(out, ",\"type\":");
        sl_json_cstr(out, c->type ? c->type : "");
        if (c->length >= 0) sl_buf_printf(out, ",\"length\":%lld", (long long)c->length);
        if (c->scale >= 0) sl_buf_printf(out, ",\"scale\":%d", (int)c->scale);
        if (c->is_unsigned) sl_buf_puts(out, ",\"unsigned\":true");
        if (c->zerofill) sl_buf_puts(out, ",\"zerofill\":true");
        if (!c->nullable) sl_buf_puts(out, ",\"nullable\":false");
        if (c->auto_increment) sl_buf_puts(out, ",\"autoinc\":true");
        if (c->generated) sl_buf_puts(out, ",\"generated\":true");
        if (c->is_json) sl_buf_puts(out, ",\"json\":true");
        if (c->charset) {
            sl_buf_puts(out, ",\"charset\":");
            sl_json_cstr(out, c->charset);
        }
        if (c->default_expr) {
            sl_buf_puts(out, ",\"default\":");
            sl_json_cstr(out, c->default_expr);
        }
        if (c->comment) {
            sl_buf_puts(out, ",\"comment\":");
            sl_json_cstr(out, c->comment);
        }
        if (c->nlabels) {
            sl_buf_puts(out, ",\"labels\":[");
            for (uint32_t k = 0; k < c->nlabels; k++) {
                if (k) sl_buf_putc(out, ',');
                sl_json_cstr(out, c->labels[k]);
            }
            sl_buf_putc(out, ']');
        }
        sl_buf_putc(out, '}');
    }
    sl_buf_puts(out, "]}");
}

static char *sl_my_json_dup(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? sl_strdup(json_string_value(v)) : NULL;
}

static bool sl_my_json_bool(json_t *o, const char *key, bool dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

sl_my_tab_t *sl_my_tab_from_json(json_t *j, char *errstr, size_t errstr_size)
{
    json_t *cols = json_object_get(j, "columns"), *pk = json_object_get(j, "pk");
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "db")) ||
        !json_is_string(json_object_get(j, "table")) || !json_is_array(cols) ||
        (pk && !json_is_array(pk))) {
        sl_err(errstr, errstr_size, "a table needs \"db\", \"table\" and \"columns\"");
        return NULL;
    }
    sl_my_tab_t *t = sl_calloc(1, sizeof(*t));
    t->db = sl_my_json_dup(j, "db");
    t->name = sl_my_json_dup(j, "table");
    t->charset = sl_my_json_dup(j, "charset");
    t->comment = sl_my_json_dup(j, "comment");
    size_t n = json_array_size(cols);
    t->cols = sl_calloc(n ? n : 1, sizeof(*t->cols));
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cols, i);
        if (!json_is_string(json_object_get(c, "name")) ||
            !json_is_string(json_object_get(c, "type"))) {
            sl_err(errstr, errstr_size, "%s.%s: column %zu needs \"name\" and \"type\"",
                   t->db, t->name, i + 1);
            sl_my_tab_free(t);
            return NULL;
        }
        sl_my_col_t *col = &t->cols[t->ncols++];
        col->name = sl_my_json_dup(c, "name");
        col->type = sl_my_json_dup(c, "type");
        json_t *l = json_object_get(c, "length"), *s = json_object_get(c, "scale");
        col->length = json_is_integer(l) ? (int64_t)json_integer_value(l) : -1;
        col->scale = json_is_integer(s) ? (int32_t)json_integer_value(s) : -1;
        col->is_unsigned = sl_my_json_bool(c, "unsigned", false);
        col->zerofill = sl_my_json_bool(c, "zerofill", false);
        col->nullable = sl_my_json_bool(c, "nullable", true);
        col->auto_increment = sl_my_json_bool(c, "autoinc", false);
        col->generated = sl_my_json_bool(c, "generated", false);
        col->is_json = sl_my_json_bool(c, "json", false);
        col->charset = sl_my_json_dup(c, "charset");
        col->default_expr = sl_my_json_dup(c, "default");
        col->comment = sl_my_json_dup(c, "comment");
        json_t *labels = json_object_get(c, "labels");
        size_t nl = json_is_array(labels) ? json_array_size(labels) : 0;
        if (nl) col->labels = sl_calloc(nl, sizeof(char *));
        for (size_t k = 0; k < nl; k++) {
            json_t *lv = json_array_get(labels, k);
            col->labels[col->nlabels++] = sl_strdup(json_is_string(lv) ? json_string_value(lv)
                                                                       : "");
        }
    }
    size_t np = pk ? json_array_size(pk) : 0;
    t->pk = sl_calloc(np ? np : 1, sizeof(char *));
    for (size_t i = 0; i < np; i++) {
        json_t *v = json_array_get(pk, i);
        if (json_is_string(v)) t->pk[t->npk++] = sl_strdup(json_string_value(v));
    }
    return t;
}

/* ======================================================================================
 * Decoder schema
 * ==================================================================================== */

/* Collation id of a charset's default collation (what the decoder needs to convert text;
 * 0 when the decoder treats it as UTF-8 anyway or it is unknown). */
static uint16_t sl_my_charset_id(const char *cs)
{
    static const struct { const char *name; uint16_t id; } map[] = {
        {"utf8mb4", 45}, {"utf8mb3", 33}, {"latin1", 8}, {"binary", SL_MY_COLLATION_BINARY},
        {"ascii", 11}, {"ucs2", 35}, {"utf16", 54}, {"utf16le", 56}, {"utf32", 60},
        {"latin2", 9}, {"cp1250", 26}, {"cp1251", 51}, {"cp1256", 57}, {"cp1257", 59},
        {"greek", 25}, {"hebrew", 16}, {"koi8r", 7}, {"big5", 1}, {"gbk", 28},
        {"sjis", 13}, {"ujis", 12}, {"euckr", 19}, {"gb2312", 24},
    };
    if (!cs) return 0;
    for (size_t i = 0; i < SL_ARRAY_SIZE(map); i++)
        if (!strcmp(map[i].name, cs)) return map[i].id;
    return 0;
}

void sl_my_tab_register(sl_binlog_decoder_t *d, const char *db, const char *name,
                        const sl_my_tab_t *t)
{
    if (!t) {
        sl_binlog_decoder_drop_schema(d, db, name);
        return;
    }
    sl_binlog_schema_col_t *cols = sl_calloc(t->ncols ? t->ncols : 1, sizeof(*cols));
    for (uint32_t i = 0; i < t->ncols; i++) {
        const sl_my_col_t *c = &t->cols[i];
        cols[i].name = c->name;
        for (uint32_t k = 0; k < t->npk; k++)
            if (!strcasecmp(t->pk[k], c->name)) cols[i].pk_pos = k + 1;
        cols[i].is_unsigned = c->is_unsigned;
        cols[i].is_json = c->is_json;
        cols[i].charset = sl_my_type_is_binary(c->type) ? SL_MY_COLLATION_BINARY
                        : sl_my_type_is_char(c->type) ? sl_my_charset_id(c->charset) : 0;
        cols[i].nlabels = c->nlabels;
        cols[i].labels = (const char *const *)c->labels;
    }
    sl_binlog_schema_t s = {.db = db, .table = name, .ncols = t->ncols, .cols = cols};
    sl_binlog_decoder_set_schema(d, &s);
    free(cols);
}

/* ======================================================================================
 * Schema vs TABLE_MAP
 * ==================================================================================== */

static const char *sl_my_bl_type_name(uint8_t type)
{
    switch (type) {
    case SL_MY_TYPE_DECIMAL: return "DECIMAL(old)";
    case SL_MY_TYPE_TINY: return "TINY";
    case SL_MY_TYPE_SHORT: return "SHORT";
    case SL_MY_TYPE_LONG: return "LONG";
    case SL_MY_TYPE_FLOAT: return "FLOAT";
    case SL_MY_TYPE_DOUBLE: return "DOUBLE";
    case SL_MY_TYPE_NULL: return "NULL";
    case SL_MY_TYPE_TIMESTAMP: return "TIMESTAMP";
    case SL_MY_TYPE_LONGLONG: return "LONGLONG";
    case SL_MY_TYPE_INT24: return "INT24";
    case SL_MY_TYPE_DATE: return "DATE";
    case SL_MY_TYPE_TIME: return "TIME";
    case SL_MY_TYPE_DATETIME: return "DATETIME";
    case SL_MY_TYPE_YEAR: return "YEAR";
    case SL_MY_TYPE_NEWDATE: return "NEWDATE";
    case SL_MY_TYPE_VARCHAR: return "VARCHAR";
    case SL_MY_TYPE_BIT: return "BIT";
    case SL_MY_TYPE_TIMESTAMP2: return "TIMESTAMP2";
    case SL_MY_TYPE_DATETIME2: return "DATETIME2";
    case SL_MY_TYPE_TIME2: return "TIME2";
    case SL_MY_TYPE_VARCHAR_COMPRESSED: return "VARCHAR_COMPRESSED";
    case SL_MY_TYPE_BLOB_COMPRESSED: return "BLOB_COMPRESSED";
    case SL_MY_TYPE_VECTOR: return "VECTOR";
    case SL_MY_TYPE_JSON: return "JSON";
    case SL_MY_TYPE_NEWDECIMAL: return "NEWDECIMAL";
    case SL_MY_TYPE_ENUM: return "ENUM";
    case SL_MY_TYPE_SET: return "SET";
    case SL_MY_TYPE_TINY_BLOB: case SL_MY_TYPE_MEDIUM_BLOB: case SL_MY_TYPE_LONG_BLOB:
    case SL_MY_TYPE_BLOB: return "BLOB";
    case SL_MY_TYPE_VAR_STRING: return "VAR_STRING";
    case SL_MY_TYPE_STRING: return "STRING";
    case SL_MY_TYPE_GEOMETRY: return "GEOMETRY";
    default: return "?";
    }
}

/* Does a column of this SQL type log as TABLE_MAP type/real_type? */
static bool sl_my_type_fits(const sl_my_col_t *c, const sl_binlog_column_t *b)
{
    const char *t = c->type ? c->type : "";
    uint8_t ty = b->type, real = b->real_type;
    bool blob = ty == SL_MY_TYPE_BLOB || ty == SL_MY_TYPE_TINY_BLOB ||
                ty == SL_MY_TYPE_MEDIUM_BLOB || ty == SL_MY_TYPE_LONG_BLOB ||
                ty == SL_MY_TYPE_BLOB_COMPRESSED;
    bool str = ty == SL_MY_TYPE_STRING || ty == SL_MY_TYPE_VAR_STRING;
    if (!strcmp(t, "TINYINT")) return ty == SL_MY_TYPE_TINY;
    if (!strcmp(t, "SMALLINT")) return ty == SL_MY_TYPE_SHORT;
    if (!strcmp(t, "MEDIUMINT")) return ty == SL_MY_TYPE_INT24;
    if (!strcmp(t, "INT")) return ty == SL_MY_TYPE_LONG;
    if (!strcmp(t, "BIGINT")) return ty == SL_MY_TYPE_LONGLONG;
    if (!strcmp(t, "FLOAT")) return ty == SL_MY_TYPE_FLOAT || ty == SL_MY_TYPE_DOUBLE;
    if (!strcmp(t, "DOUBLE")) return ty == SL_MY_TYPE_DOUBLE;
    if (!strcmp(t, "DECIMAL")) return ty == SL_MY_TYPE_NEWDECIMAL || ty == SL_MY_TYPE_DECIMAL;
    if (!strcmp(t, "BIT")) return ty == SL_MY_TYPE_BIT;
    if (!strcmp(t, "DATE")) return ty == SL_MY_TYPE_DATE || ty == SL_MY_TYPE_NEWDATE;
    if (!strcmp(t, "TIME")) return ty == SL_MY_TYPE_TIME2 || ty == SL_MY_TYPE_TIME;
    if (!strcmp(t, "DATETIME")) return ty == SL_MY_TYPE_DATETIME2 || ty == SL_MY_TYPE_DATETIME;
    if (!strcmp(t, "TIMESTAMP"))
        return ty == SL_MY_TYPE_TIMESTAMP2 || ty == SL_MY_TYPE_TIMESTAMP;
    if (!strcmp(t, "YEAR")) return ty == SL_MY_TYPE_YEAR;
    if (!strcmp(t, "CHAR") || !strcmp(t, "BINARY"))
        return str && real != SL_MY_TYPE_ENUM && real != SL_MY_TYPE_SET;
    if (!strcmp(t, "VARCHAR") || !strcmp(t, "VARBINARY"))
        return ty == SL_MY_TYPE_VARCHAR || ty == SL_MY_TYPE_VAR_STRING ||
               ty == SL_MY_TYPE_VARCHAR_COMPRESSED;
    if (strstr(t, "TEXT") || strstr(t, "BLOB")) return blob;
    if (!strcmp(t, "ENUM")) return ty == SL_MY_TYPE_ENUM || (str && real == SL_MY_TYPE_ENUM);
    if (!strcmp(t, "SET")) return ty == SL_MY_TYPE_SET || (str && real == SL_MY_TYPE_SET);
    if (!strcmp(t, "JSON")) return ty == SL_MY_TYPE_JSON || blob;
    if (!strcmp(t, "GEOMETRY") || !strcmp(t, "POINT") || !strcmp(t, "LINESTRING") ||
        !strcmp(t, "POLYGON") || !strncmp(t, "MULTI", 5) || !strcmp(t, "GEOMETRYCOLLECTION"))
        return ty == SL_MY_TYPE_GEOMETRY;
    if (!strcmp(t, "VECTOR")) return ty == SL_MY_TYPE_VECTOR;
    return true;   /* UUID, INET4/6 and types sluice does not know: not checked */
}

int sl_my_tab_check(const sl_my_tab_t *t, const sl_binlog_table_t *bt, char *why,
                    size_t why_size)
{
    if (t->ncols != bt->ncols)
        return sl_err(why, why_size, "%u columns in the schema, %u in the binlog", t->ncols,
                      bt->ncols);
    for (uint32_t i = 0; i < t->ncols; i++)
        if (!sl_my_type_fits(&t->cols[i], &bt->cols[i])) {
            uint8_t ty = bt->cols[i].type;
            uint8_t real = bt->cols[i].real_type;
            return sl_err(why, why_size, "column %u `%s`: the schema has %s, the binlog %s%s%s",
                          i + 1, t->cols[i].name, t->cols[i].type,
                          sl_my_bl_type_name(ty), real != ty ? "/" : "",
                          real != ty ? sl_my_bl_type_name(real) : "");
        }
    return SL_OK;
}

/* ======================================================================================
 * Debezium tableChanges
 * ==================================================================================== */

/* java.sql.Types, as Debezium's MySQL DDL parser assigns them. */
static int sl_my_jdbc_type(const char *t)
{
    static const struct { const char *type; int jdbc; } map[] = {
        {"TINYINT", 5}, {"SMALLINT", 5}, {"MEDIUMINT", 4}, {"INT", 4}, {"BIGINT", -5},
        {"FLOAT", 6}, {"DOUBLE", 8}, {"DECIMAL", 3}, {"BIT", -7}, {"DATE", 91},
        {"TIME", 92}, {"DATETIME", 93}, {"TIMESTAMP", 2014}, {"YEAR", 4}, {"CHAR", 1},
        {"VARCHAR", 12}, {"TINYTEXT", 12}, {"TEXT", 12}, {"MEDIUMTEXT", 12},
        {"LONGTEXT", 12}, {"BINARY", -2}, {"VARBINARY", -3}, {"TINYBLOB", 2004},
        {"BLOB", 2004}, {"MEDIUMBLOB", 2004}, {"LONGBLOB", 2004}, {"ENUM", 1}, {"SET", 1},
    };
    for (size_t i = 0; i < SL_ARRAY_SIZE(map); i++)
        if (!strcmp(map[i].type, t)) return map[i].jdbc;
    return 1111;   /* OTHER: JSON, spatial types, UUID ... */
}

static void sl_my_column_json(sl_buf_t *out, const sl_my_col_t *c, uint32_t position)
{
    const char *type = c->type ? c->type : "";
    sl_buf_t tn = SL_BUF_INIT;
    sl_buf_puts(&tn, type);
    if (c->is_unsigned) sl_buf_puts(&tn, " UNSIGNED");
    if (c->zerofill) sl_buf_puts(&tn, " ZEROFILL");
    int64_t length = c->length;
    int32_t scale = c->scale;
    if (!strcmp(type, "DECIMAL") && length < 0) {
        length = 10;
        scale = 0;
    } else if (!strcmp(type, "DECIMAL") && scale < 0) {
        scale = 0;
    } else if (!strcmp(type, "BIT") && length < 0) {
        length = 1;
    } else if (!strcmp(type, "ENUM")) {
        length = 1;
    } else if (!strcmp(type, "SET")) {
        length = c->nlabels ? 2 * (int64_t)c->nlabels - 1 : 0;
    }
    sl_buf_puts(out, "{\"name\":");
    sl_json_cstr(out, c->name);
    sl_buf_printf(out, ",\"jdbcType\":%d,\"nativeType\":null,\"typeName\":",
                  sl_my_jdbc_type(type));
    sl_json_cstr(out, sl_buf_cstr(&tn));
    sl_buf_puts(out, ",\"typeExpression\":");
    sl_json_cstr(out, sl_buf_cstr(&tn));
    sl_buf_puts(out, ",\"charsetName\":");
    sl_my_json_str_or_null(out, sl_my_type_is_char(type) ? c->charset : NULL);
    sl_buf_puts(out, ",\"length\":");
    if (length >= 0) sl_json_i64(out, length);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"scale\":");
    if (scale >= 0) sl_json_i64(out, scale);
    else sl_buf_puts(out, "null");
    sl_buf_printf(out, ",\"position\":%u,\"optional\":%s,\"autoIncremented\":%s,"
                  "\"generated\":%s,\"comment\":", position, c->nullable ? "true" : "false",
                  c->auto_increment ? "true" : "false",
                  c->auto_increment || c->generated ? "true" : "false");
    sl_my_json_str_or_null(out, c->comment);
    sl_buf_puts(out, ",\"defaultValueExpression\":");
    sl_my_json_str_or_null(out, c->default_expr);
    sl_buf_puts(out, ",\"enumValues\":");
    if (c->nlabels) {
        sl_buf_putc(out, '[');
        for (uint32_t k = 0; k < c->nlabels; k++) {
            if (k) sl_buf_putc(out, ',');
            sl_json_cstr(out, c->labels[k]);
        }
        sl_buf_putc(out, ']');
    } else {
        sl_buf_puts(out, "null");
    }
    sl_buf_putc(out, '}');
    sl_buf_free(&tn);
}

/* "db"."table" as Debezium's TableId.toDoubleQuotedString() writes it. */
static void sl_my_table_id(sl_buf_t *id, const char *db, const char *name)
{
    sl_buf_putc(id, '"');
    sl_buf_puts(id, db);
    sl_buf_puts(id, "\".\"");
    sl_buf_puts(id, name);
    sl_buf_putc(id, '"');
}

void sl_my_table_change_json(sl_buf_t *out, const sl_my_change_t *ch)
{
    static const char *const types[] = {"CREATE", "ALTER", "DROP"};
    sl_buf_t id = SL_BUF_INIT;
    if (ch->old_name) {
        /* a rename: "old","new" */
        sl_my_table_id(&id, ch->old_db ? ch->old_db : ch->db, ch->old_name);
        sl_buf_putc(&id, ',');
    }
    sl_my_table_id(&id, ch->db, ch->name);
    sl_buf_puts(out, "{\"type\":\"");
    sl_buf_puts(out, types[ch->type]);
    sl_buf_puts(out, "\",\"id\":");
    sl_json_cstr(out, sl_buf_cstr(&id));
    sl_buf_free(&id);
    const sl_my_tab_t *t = ch->tab;
    sl_buf_puts(out, ",\"table\":{\"defaultCharsetName\":");
    sl_my_json_str_or_null(out, t ? t->charset : NULL);
    sl_buf_puts(out, ",\"primaryKeyColumnNames\":[");
    for (uint32_t i = 0; t && i < t->npk; i++) {
        if (i) sl_buf_putc(out, ',');
        sl_json_cstr(out, t->pk[i]);
    }
    sl_buf_puts(out, "],\"columns\":[");
    for (uint32_t i = 0; t && i < t->ncols; i++) {
        if (i) sl_buf_putc(out, ',');
        sl_my_column_json(out, &t->cols[i], i + 1);
    }
    sl_buf_puts(out, "],\"comment\":");
    sl_my_json_str_or_null(out, t ? t->comment : NULL);
    sl_buf_puts(out, "}}");
}

/* µs as ms (floored) / as ns (exact). */
static void sl_my_json_ms(sl_buf_t *out, uint64_t us) { sl_json_u64(out, us / 1000); }

static void sl_my_json_ns(sl_buf_t *out, uint64_t us)
{
    sl_json_u64(out, us);
    if (us) sl_buf_puts(out, "000");
}

void sl_my_schema_event(sl_buf_t *out, const sl_my_ddl_env_t *env,
                        const sl_my_change_t *changes, size_t n, uint32_t *key_off,
                        uint32_t *key_len, uint32_t *val_off, uint32_t *val_len)
{
    const char *db = env->db ? env->db : "";
    *key_off = (uint32_t)out->len;
    sl_buf_puts(out, "{\"databaseName\":");
    sl_json_cstr(out, db);
    sl_buf_putc(out, '}');
    *key_len = (uint32_t)(out->len - *key_off);

    *val_off = (uint32_t)out->len;
    sl_buf_puts(out, "{\"source\":{\"version\":\"" SL_VERSION "\",\"connector\":\"mysql\","
                     "\"name\":");
    sl_my_json_str_or_null(out, env->pipeline);
    sl_buf_puts(out, ",\"ts_ms\":");
    sl_my_json_ms(out, env->commit_ts_us);
    sl_buf_puts(out, ",\"snapshot\":\"false\",\"db\":");
    sl_json_cstr(out, db);
    sl_buf_puts(out, ",\"sequence\":null,\"ts_us\":");
    sl_json_u64(out, env->commit_ts_us);
    sl_buf_puts(out, ",\"ts_ns\":");
    sl_my_json_ns(out, env->commit_ts_us);
    sl_buf_puts(out, ",\"table\":");
    if (n) {
        sl_buf_t tables = SL_BUF_INIT;
        for (size_t i = 0; i < n; i++) {
            if (i) sl_buf_putc(&tables, ',');
            sl_buf_puts(&tables, changes[i].name);
        }
        sl_json_cstr(out, sl_buf_cstr(&tables));
        sl_buf_free(&tables);
    } else {
        sl_buf_puts(out, "null");
    }
    sl_buf_puts(out, ",\"server_id\":");
    sl_json_u64(out, env->server_id);
    sl_buf_puts(out, ",\"gtid\":");
    sl_my_json_str_or_null(out, env->gtid);
    sl_buf_puts(out, ",\"file\":");
    sl_json_cstr(out, env->file ? env->file : "");
    sl_buf_puts(out, ",\"pos\":");
    sl_json_u64(out, env->pos);
    sl_buf_puts(out, ",\"row\":0,\"thread\":");
    if (env->thread >= 0) sl_json_i64(out, env->thread);
    else sl_buf_puts(out, "null");
    sl_buf_puts(out, ",\"query\":null},\"ts_ms\":");
    sl_my_json_ms(out, env->now_us);
    sl_buf_puts(out, ",\"databaseName\":");
    sl_json_cstr(out, db);
    sl_buf_puts(out, ",\"schemaName\":null,\"ddl\":");
    sl_json_str(out, env->ddl ? env->ddl : "", env->ddl ? env->ddl_len : 0);
    sl_buf_puts(out, ",\"tableChanges\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) sl_buf_putc(out, ',');
        sl_my_table_change_json(out, &changes[i]);
    }
    sl_buf_puts(out, "]}");
    *val_len = (uint32_t)(out->len - *val_off);
}
