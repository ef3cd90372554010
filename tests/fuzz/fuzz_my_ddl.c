/*
 * fuzz_my_ddl.c - libFuzzer harness for the MySQL DDL parser and schema catalog
 * (sources/mysql/my_ddl.h): sl_my_ddl_apply over a sequence of statements on one catalog
 * (with the history JSON round trip, Debezium tableChanges, the schema change event and
 * registration with a binlog decoder for every change), sl_my_ddl_parse_create and
 * sl_my_ddl_parse_type.
 *
 * Run: `make fuzz FUZZ_TARGETS=my_ddl` (tests/fuzz/run.sh builds the seed corpus and
 * passes tests/fuzz/my_ddl.dict), or by hand:
 *   build/fuzz/fuzz_my_ddl -max_len=8192 -timeout=10 -dict=tests/fuzz/my_ddl.dict CORPUS_DIR
 *
 * Input: byte 0 is a flags byte: bit 0 MariaDB flavour; bit 1 statements carry binlog
 * positions and the catalog holds a seeded table (app.seeded, seeded at binlog.000002:500),
 * so the seed rule is exercised. Mode (bits 6-7): 0, 1 the rest is statements separated
 * by NUL bytes, applied in order; 2 the rest is one SHOW CREATE TABLE text for
 * sl_my_ddl_parse_create; 3 the rest is a COLUMN_TYPE text for sl_my_ddl_parse_type. Each
 * text is copied to a heap block of exactly its size (no terminator for the statements) so
 * ASan sees any over-read.
 *
 * Invariant checked besides "no crash, no leak": a table's history JSON reads back to the
 * same JSON (the schema history is stored and reloaded in that form).
 */
#include "sl_common.h"
#include "sl_buf.h"
#include "../../sources/mysql/my_ddl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { F_MARIADB = 0x01, F_POS = 0x02 };

static void fz_roundtrip(const sl_my_tab_t *t)
{
    sl_buf_t a = SL_BUF_INIT, b = SL_BUF_INIT;
    sl_my_tab_json(&a, t);
    json_error_t jerr;
    json_t *j = json_loadb(a.data, a.len, 0, &jerr);
    if (!j) {
        fprintf(stderr, "history JSON does not parse (%s): %s\n", jerr.text, sl_buf_cstr(&a));
        abort();
    }
    char err[SL_ERRSTR_SIZE];
    sl_my_tab_t *back = sl_my_tab_from_json(j, err, sizeof(err));
    if (!back) {
        fprintf(stderr, "history JSON does not load (%s): %s\n", err, sl_buf_cstr(&a));
        abort();
    }
    sl_my_tab_json(&b, back);
    if (a.len != b.len || memcmp(a.data, b.data, a.len)) {
        fprintf(stderr, "history JSON round trip differs:\n%s\n%s\n", sl_buf_cstr(&a),
                sl_buf_cstr(&b));
        abort();
    }
    sl_my_tab_free(back);
    json_decref(j);
    sl_buf_free(&a);
    sl_buf_free(&b);
}

static void fz_apply(sl_my_catalog_t *c, sl_binlog_decoder_t *d, const uint8_t *p, size_t n,
                     uint8_t flags, uint64_t pos)
{
    char *sql = sl_malloc(n ? n : 1);
    if (n) memcpy(sql, p, n);
    sl_my_ddl_opts_t o = {.default_db = (pos & 1) ? "shop" : "app",
                          .mariadb = flags & F_MARIADB,
                          .file = (flags & F_POS) ? "binlog.000002" : NULL, .pos = pos};
    sl_my_ddl_res_t res;
    sl_my_ddl_rc_t rc = sl_my_ddl_apply(c, sql, n, &o, &res);
    if (rc == SL_MY_DDL_APPLIED && res.n) {
        sl_buf_t out = SL_BUF_INIT;
        for (size_t i = 0; i < res.n; i++) {
            const sl_my_change_t *ch = &res.changes[i];
            if (ch->tab) fz_roundtrip(ch->tab);
            sl_my_table_change_json(&out, ch);
            sl_my_tab_register(d, ch->db, ch->name,
                               ch->type == SL_MY_TC_DROP ? NULL : ch->tab);
        }
        sl_my_ddl_env_t env = {.pipeline = "fuzz", .db = res.db ? res.db : "app", .ddl = sql,
                               .ddl_len = n, .file = "binlog.000002", .pos = pos,
                               .server_id = 1, .thread = 5, .commit_ts_us = 1, .now_us = 2};
        uint32_t ko, kl, vo, vl;
        sl_my_schema_event(&out, &env, res.changes, res.n, &ko, &kl, &vo, &vl);
        if (ko + kl > out.len || vo + vl > out.len) abort();
        json_error_t jerr;
        json_t *j = json_loadb(out.data + vo, vl, 0, &jerr);
        if (!j) {
            fprintf(stderr, "schema change event is not JSON (%s)\n", jerr.text);
            abort();
        }
        json_decref(j);
        sl_buf_free(&out);
    }
    sl_my_ddl_res_free(&res);
    free(sql);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    unsigned mode = flags >> 6;
    bool mariadb = flags & F_MARIADB;
    char err[SL_ERRSTR_SIZE];

    if (mode == 2) {
        char *sql = sl_malloc(size ? size : 1);
        if (size) memcpy(sql, data, size);
        sl_my_tab_t *t = sl_my_ddl_parse_create(sql, size, "app", "t", "utf8mb4", mariadb,
                                                err, sizeof(err));
        if (t) {
            fz_roundtrip(t);
            sl_my_tab_free(t);
        }
        free(sql);
        return 0;
    }
    if (mode == 3) {
        char *text = sl_malloc(size + 1);
        memcpy(text, data, size);
        text[size] = '\0';
        sl_my_tab_t *t = sl_calloc(1, sizeof(*t));
        t->db = sl_strdup("app");
        t->name = sl_strdup("t");
        t->cols = sl_calloc(1, sizeof(*t->cols));
        t->ncols = 1;
        t->cols[0].name = sl_strdup("c");
        t->cols[0].length = -1;
        t->cols[0].scale = -1;
        if (sl_my_ddl_parse_type(text, &t->cols[0], mariadb, err, sizeof(err)) == SL_OK)
            fz_roundtrip(t);
        sl_my_tab_free(t);
        free(text);
        return 0;
    }

    sl_my_catalog_t *c = sl_my_catalog_new();
    sl_binlog_decoder_t *d = sl_binlog_decoder_new();
    sl_my_catalog_track_db(c, "app");
    sl_my_catalog_track_db(c, "shop");
    sl_my_catalog_set_db_charset(c, "app", "utf8mb4");
    sl_my_catalog_set_db_charset(c, "shop", "latin1");
    if (flags & F_POS) {
        static const char seed[] = "CREATE TABLE `seeded` (`id` int NOT NULL, `v` varchar(10) "
                                   "DEFAULT NULL, PRIMARY KEY (`id`)) DEFAULT CHARSET=latin1";
        sl_my_tab_t *t = sl_my_ddl_parse_create(seed, sizeof(seed) - 1, "app", "seeded",
                                                "utf8mb4", mariadb, err, sizeof(err));
        if (!t) abort();
        t->seeded = true;
        t->seed_file = sl_strdup("binlog.000002");
        t->seed_pos = 500;
        sl_my_catalog_put(c, "app", "seeded", t);
        sl_my_tab_free(t);
    }
    size_t start = 0;
    uint64_t pos = 4;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i]) continue;
        fz_apply(c, d, data + start, i - start, flags, pos);
        pos += 1 + (i - start) * 3;   /* crosses the seed position at 500 */
        start = i + 1;
    }
    for (size_t i = 0; i < sl_my_catalog_count(c); i++) fz_roundtrip(sl_my_catalog_at(c, i));
    sl_binlog_decoder_free(d);
    sl_my_catalog_free(c);
    return 0;
}
