/*
 * test_file_sink.c - the "file" sink driven through its ops with hand-built batches:
 * exact file contents after deliver, one file per rendered path, parent directories,
 * appending across batches and reopen, path sanitizing, and errors as SL_AGAIN.
 */
#include "sl_common.h"
#include "sl_connector.h"

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>

extern const sl_sink_ops_t sl_sink_file;

static const sl_table_t fs_orders = {.db = "shop", .schema = "public", .name = "orders"};
static const sl_table_t fs_items = {.db = "inv", .schema = "stock", .name = "items"};

/* ---- helpers ---------------------------------------------------------------------- */

typedef struct fs_fixture {
    char        dir[256];
    sl_batch_t  batch;
} fs_fixture_t;

static int fs_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int fs_setup(void **state)
{
    fs_fixture_t *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/sl-file-sink.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) return -1;
    *state = f;
    return 0;
}

static int fs_teardown(void **state)
{
    fs_fixture_t *f = *state;
    nftw(f->dir, fs_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(f->batch.ev);
    sl_buf_free(&f->batch.arena);
    free(f);
    return 0;
}

/* Add an event; key and value are stored back to back in the arena (not NUL-separated),
 * so a sink that used strlen instead of the lengths would be caught. */
static void fs_add(sl_batch_t *b, const sl_table_t *table, int32_t shard, const char *key,
                   const char *val)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->ev = realloc(b->ev, b->cap * sizeof(*b->ev));
    }
    sl_event_t *e = &b->ev[b->n++];
    memset(e, 0, sizeof(*e));
    e->table = table;
    e->shard = shard;
    e->op = SL_OP_CREATE;
    e->key_off = (uint32_t)b->arena.len;
    e->key_len = key ? (uint32_t)strlen(key) : 0;
    if (key) sl_buf_puts(&b->arena, key);
    e->val_off = (uint32_t)b->arena.len;
    e->val_len = (uint32_t)strlen(val);
    sl_buf_puts(&b->arena, val);
}

static void fs_clear(sl_batch_t *b)
{
    b->n = 0;
    sl_buf_reset(&b->arena);
}

/* Create a file sink for the path template (and schema_changes template, or NULL)
 * through its key table (layout-independent). The config is freed right away: the sink
 * must not keep pointers into it. */
static void *fs_sink_sc(const char *path_tpl, const char *sc_tpl, char *err, size_t err_size)
{
    char *conf = calloc(1, sl_sink_file.conf_size);
    char *id = strdup("files"), *path = strdup(path_tpl);
    char *sc = sc_tpl ? strdup(sc_tpl) : NULL;
    for (const sl_conf_def_t *d = sl_sink_file.conf; d->key; d++) {
        if (strcmp(d->key, "id") == 0) memcpy(conf + d->offset, &id, sizeof(id));
        if (strcmp(d->key, "path") == 0) memcpy(conf + d->offset, &path, sizeof(path));
        if (strcmp(d->key, "schema_changes") == 0) memcpy(conf + d->offset, &sc, sizeof(sc));
    }
    err[0] = '\0';
    void *sink = sl_sink_file.create(conf, NULL, err, err_size);
    free(id);
    free(path);
    free(sc);
    free(conf);
    return sink;
}

static void *fs_sink(const char *path_tpl, char *err, size_t err_size)
{
    return fs_sink_sc(path_tpl, NULL, err, err_size);
}

static void *fs_open_sink(const char *path_tpl)
{
    char err[SL_ERRSTR_SIZE];
    void *sink = fs_sink(path_tpl, err, sizeof(err));
    if (!sink) fail_msg("create(%s): %s", path_tpl, err);
    assert_int_equal(sl_sink_file.open(sink, err, sizeof(err)), SL_OK);
    return sink;
}

static void fs_deliver_ok(void *sink, const sl_batch_t *b)
{
    char err[SL_ERRSTR_SIZE] = "";
    int rc = sl_sink_file.deliver(sink, b, err, sizeof(err));
    if (rc != SL_OK) fail_msg("deliver: %d %s", rc, err);
}

/* dir/rel in a static buffer (valid until the next call). */
static char *fs_path(const fs_fixture_t *f, const char *rel)
{
    static char path[1024];
    snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
    return path;
}

/* Assert the exact bytes of dir/rel. */
static void fs_expect_file(const fs_fixture_t *f, const char *rel, const char *want)
{
    const char *path = fs_path(f, rel);
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("%s: %s", path, strerror(errno));
    sl_buf_t got = SL_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) sl_buf_put(&got, chunk, n);
    fclose(fp);
    sl_buf_cstr(&got);
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.data, want, got.len);
    sl_buf_free(&got);
}

static bool fs_exists(const fs_fixture_t *f, const char *rel)
{
    struct stat st;
    return stat(fs_path(f, rel), &st) == 0;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_file_sink_appends_one_value_line_per_event(void **state)
{
    fs_fixture_t *f = *state;
    void *sink = fs_open_sink(fs_path(f, "out.jsonl"));

    fs_add(&f->batch, &fs_orders, -1, "{\"id\":1}", "{\"op\":\"c\",\"after\":{\"id\":1}}");
    fs_add(&f->batch, &fs_orders, -1, NULL, "{\"op\":\"d\",\"t\":\"caf\xc3\xa9\\n\"}");
    fs_add(&f->batch, &fs_items, -1, "{\"id\":3}", "{}");
    fs_deliver_ok(sink, &f->batch);
    fs_expect_file(f, "out.jsonl",
                   "{\"op\":\"c\",\"after\":{\"id\":1}}\n"
                   "{\"op\":\"d\",\"t\":\"caf\xc3\xa9\\n\"}\n"
                   "{}\n");

    fs_clear(&f->batch);
    fs_add(&f->batch, &fs_orders, -1, "{\"id\":4}", "{\"n\":4}");
    fs_deliver_ok(sink, &f->batch);
    fs_expect_file(f, "out.jsonl",
                   "{\"op\":\"c\",\"after\":{\"id\":1}}\n"
                   "{\"op\":\"d\",\"t\":\"caf\xc3\xa9\\n\"}\n"
                   "{}\n"
                   "{\"n\":4}\n");

    struct stat st;
    assert_int_equal(stat(fs_path(f, "out.jsonl"), &st), 0);
    assert_int_equal(st.st_mode & 0777 & ~0022, 0644 & ~0022);
    sl_sink_file.close(sink);
    sl_sink_file.destroy(sink);
}

static void test_file_sink_cuts_a_torn_last_line_left_by_a_crash(void **state)
{
    fs_fixture_t *f = *state;
    FILE *fp = fopen(fs_path(f, "torn.jsonl"), "wb");
    assert_non_null(fp);
    fputs("{\"ok\":1}\n{\"half\":", fp);   /* a writer killed mid-line */
    fclose(fp);
    void *sink = fs_open_sink(fs_path(f, "torn.jsonl"));
    fs_add(&f->batch, &fs_orders, -1, NULL, "{\"n\":2}");
    fs_deliver_ok(sink, &f->batch);
    fs_expect_file(f, "torn.jsonl", "{\"ok\":1}\n{\"n\":2}\n");
    sl_sink_file.close(sink);
    sl_sink_file.destroy(sink);
}

static void test_file_sink_placeholders_write_one_file_per_destination(void **state)
{
    fs_fixture_t *f = *state;
    void *sink = fs_open_sink(fs_path(f, "cdc/{db}/{schema}/{table}-{shard}.jsonl"));

    fs_add(&f->batch, &fs_orders, 0, "{\"id\":1}", "{\"v\":1}");
    fs_add(&f->batch, &fs_items, 1, "{\"id\":2}", "{\"v\":2}");
    fs_add(&f->batch, &fs_orders, 1, "{\"id\":3}", "{\"v\":3}");
    fs_add(&f->batch, &fs_orders, 0, "{\"id\":4}", "{\"v\":4}");
    fs_add(&f->batch, &fs_items, -1, "{\"id\":5}", "{\"v\":5}");   /* -1 renders as 0 */
    fs_deliver_ok(sink, &f->batch);

    fs_expect_file(f, "cdc/shop/public/orders-0.jsonl", "{\"v\":1}\n{\"v\":4}\n");
    fs_expect_file(f, "cdc/shop/public/orders-1.jsonl", "{\"v\":3}\n");
    fs_expect_file(f, "cdc/inv/stock/items-1.jsonl", "{\"v\":2}\n");
    fs_expect_file(f, "cdc/inv/stock/items-0.jsonl", "{\"v\":5}\n");

    /* Second batch: cached destinations, same files, appended in order. */
    fs_clear(&f->batch);
    fs_add(&f->batch, &fs_items, 1, NULL, "{\"v\":6}");
    fs_add(&f->batch, &fs_orders, 0, NULL, "{\"v\":7}");
    fs_deliver_ok(sink, &f->batch);
    fs_expect_file(f, "cdc/shop/public/orders-0.jsonl", "{\"v\":1}\n{\"v\":4}\n{\"v\":7}\n");
    fs_expect_file(f, "cdc/inv/stock/items-1.jsonl", "{\"v\":2}\n{\"v\":6}\n");
    sl_sink_file.destroy(sink);
}

static void test_file_sink_keeps_appending_after_close_and_reopen(void **state)
{
    fs_fixture_t *f = *state;
    void *sink = fs_open_sink(fs_path(f, "{table}.jsonl"));
    char err[SL_ERRSTR_SIZE];

    fs_add(&f->batch, &fs_orders, -1, NULL, "{\"a\":1}");
    fs_deliver_ok(sink, &f->batch);
    sl_sink_file.close(sink);
    assert_int_equal(sl_sink_file.open(sink, err, sizeof(err)), SL_OK);
    fs_clear(&f->batch);
    fs_add(&f->batch, &fs_orders, -1, NULL, "{\"a\":2}");
    fs_deliver_ok(sink, &f->batch);
    fs_expect_file(f, "orders.jsonl", "{\"a\":1}\n{\"a\":2}\n");
    sl_sink_file.destroy(sink);

    /* A new instance appends to what is there. */
    sink = fs_open_sink(fs_path(f, "{table}.jsonl"));
    fs_deliver_ok(sink, &f->batch);
    fs_expect_file(f, "orders.jsonl", "{\"a\":1}\n{\"a\":2}\n{\"a\":2}\n");
    sl_sink_file.destroy(sink);
}

static void test_file_sink_recreates_a_file_removed_between_batches(void **state)
{
    fs_fixture_t *f = *state;
    void *sink = fs_open_sink(fs_path(f, "rot/{table}.jsonl"));

    fs_add(&f->batch, &fs_orders, -1, NULL, "{\"a\":1}");
    fs_deliver_ok(sink, &f->batch);
    char from[1024];
    snprintf(from, sizeof(from), "%s", fs_path(f, "rot/orders.jsonl"));
    assert_int_equal(rename(from, fs_path(f, "rot/old.jsonl")), 0);
    fs_clear(&f->batch);
    fs_add(&f->batch, &fs_orders, -1, NULL, "{\"a\":2}");
    fs_deliver_ok(sink, &f->batch);
    fs_expect_file(f, "rot/old.jsonl", "{\"a\":1}\n");
    fs_expect_file(f, "rot/orders.jsonl", "{\"a\":2}\n");
    sl_sink_file.destroy(sink);
}

static void test_file_sink_sanitizes_names_in_paths(void **state)
{
    fs_fixture_t *f = *state;
    static const sl_table_t evil = {.db = "..", .schema = ".", .name = "../../x/y"};
    void *sink = fs_open_sink(fs_path(f, "safe/{db}/{schema}/{table}.jsonl"));

    fs_add(&f->batch, &evil, -1, NULL, "{\"evil\":true}");
    fs_deliver_ok(sink, &f->batch);
    fs_expect_file(f, "safe/__/_/.._.._x_y.jsonl", "{\"evil\":true}\n");
    assert_false(fs_exists(f, "x"));
    sl_sink_file.destroy(sink);
}

static void test_file_sink_empty_batch_touches_nothing(void **state)
{
    fs_fixture_t *f = *state;
    void *sink = fs_open_sink(fs_path(f, "empty/{table}.jsonl"));
    fs_deliver_ok(sink, &f->batch);
    assert_false(fs_exists(f, "empty"));
    sl_sink_file.destroy(sink);
}

static void test_file_sink_write_error_is_again_with_path(void **state)
{
    fs_fixture_t *f = *state;
    char err[SL_ERRSTR_SIZE] = "";
    void *sink = fs_open_sink("/dev/full");   /* every write fails with ENOSPC */

    fs_add(&f->batch, &fs_orders, -1, NULL, "{\"a\":1}");
    assert_int_equal(sl_sink_file.deliver(sink, &f->batch, err, sizeof(err)), SL_AGAIN);
    assert_non_null(strstr(err, "/dev/full"));
    assert_non_null(strstr(err, strerror(ENOSPC)));
    sl_sink_file.close(sink);
    sl_sink_file.destroy(sink);
}

static void test_file_sink_unusable_directory_is_again_with_path(void **state)
{
    fs_fixture_t *f = *state;
    char err[SL_ERRSTR_SIZE] = "";
    FILE *fp = fopen(fs_path(f, "plain"), "w");
    assert_non_null(fp);
    fclose(fp);

    char tpl[2048];
    snprintf(tpl, sizeof(tpl), "%s/{table}.jsonl", fs_path(f, "plain"));
    void *sink = fs_open_sink(tpl);
    fs_add(&f->batch, &fs_orders, -1, NULL, "{\"a\":1}");
    assert_int_equal(sl_sink_file.deliver(sink, &f->batch, err, sizeof(err)), SL_AGAIN);
    assert_non_null(strstr(err, "plain/orders.jsonl"));
    sl_sink_file.destroy(sink);
}

static void test_file_sink_rejects_unknown_placeholder(void **state)
{
    fs_fixture_t *f = *state;
    char err[SL_ERRSTR_SIZE];
    assert_null(fs_sink(fs_path(f, "{tables}.jsonl"), err, sizeof(err)));
    assert_non_null(strstr(err, "'{tables}'"));
}

static void test_file_sink_schema_changes_go_to_their_own_path_or_nowhere(void **state)
{
    fs_fixture_t *f = *state;
    char err[SL_ERRSTR_SIZE];
    char tpl[1100], sc[1100];
    snprintf(tpl, sizeof(tpl), "%s", fs_path(f, "{db}.{table}.jsonl"));
    snprintf(sc, sizeof(sc), "%s", fs_path(f, "ddl/{db}.jsonl"));
    void *with = fs_sink_sc(tpl, sc, err, sizeof(err));
    assert_non_null(with);
    snprintf(tpl, sizeof(tpl), "%s", fs_path(f, "plain.jsonl"));
    void *without = fs_open_sink(tpl);

    fs_add(&f->batch, &fs_orders, -1, "{\"id\":1}", "{\"row\":1}");
    fs_add(&f->batch, &fs_orders, -1, "{\"databaseName\":\"shop\"}", "{\"ddl\":\"a\"}");
    f->batch.ev[1].op = SL_OP_SCHEMA;
    fs_add(&f->batch, &fs_orders, -1, "{\"id\":2}", "{\"row\":2}");
    fs_add(&f->batch, &fs_items, -1, "{\"databaseName\":\"inv\"}", "{\"ddl\":\"b\"}");
    f->batch.ev[3].op = SL_OP_SCHEMA;
    fs_deliver_ok(with, &f->batch);
    fs_deliver_ok(without, &f->batch);
    fs_expect_file(f, "shop.orders.jsonl", "{\"row\":1}\n{\"row\":2}\n");
    fs_expect_file(f, "ddl/shop.jsonl", "{\"ddl\":\"a\"}\n");
    fs_expect_file(f, "ddl/inv.jsonl", "{\"ddl\":\"b\"}\n");
    assert_false(fs_exists(f, "inv.items.jsonl"));
    fs_expect_file(f, "plain.jsonl", "{\"row\":1}\n{\"row\":2}\n");
    sl_sink_file.destroy(with);
    sl_sink_file.destroy(without);
    /* a bad template is refused at create */
    assert_null(fs_sink_sc(tpl, "{nope}.jsonl", err, sizeof(err)));
    assert_non_null(strstr(err, "schema_changes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define FS_TEST(fn) cmocka_unit_test_setup_teardown(fn, fs_setup, fs_teardown)
        FS_TEST(test_file_sink_appends_one_value_line_per_event),
        FS_TEST(test_file_sink_cuts_a_torn_last_line_left_by_a_crash),
        FS_TEST(test_file_sink_placeholders_write_one_file_per_destination),
        FS_TEST(test_file_sink_keeps_appending_after_close_and_reopen),
        FS_TEST(test_file_sink_recreates_a_file_removed_between_batches),
        FS_TEST(test_file_sink_sanitizes_names_in_paths),
        FS_TEST(test_file_sink_empty_batch_touches_nothing),
        FS_TEST(test_file_sink_write_error_is_again_with_path),
        FS_TEST(test_file_sink_unusable_directory_is_again_with_path),
        FS_TEST(test_file_sink_rejects_unknown_placeholder),
        FS_TEST(test_file_sink_schema_changes_go_to_their_own_path_or_nowhere),
#undef FS_TEST
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
