/*
 * test_template.c - destination-name templates: rendering of every placeholder, static
 * detection, and the spec-time errors for unknown placeholders and unclosed braces.
 */
#include "sl_common.h"
#include "sl_template.h"

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>

static const sl_table_t tpl_orders = {.db = "shop", .schema = "public", .name = "orders"};
static const sl_table_t tpl_mysql = {.db = "inventory", .schema = "", .name = "items"};

/* Compile text (must succeed), render it for (table, shard) and compare with want. */
static void tpl_expect(const char *text, const sl_table_t *table, int32_t shard,
                       const char *want)
{
    char err[SL_ERRSTR_SIZE] = "";
    sl_template_t *t = sl_template_new(text, err, sizeof(err));
    if (!t) fail_msg("sl_template_new(\"%s\") failed: %s", text, err);
    sl_buf_t out = SL_BUF_INIT;
    sl_buf_puts(&out, "prefix:");   /* render appends */
    sl_template_render(t, table, shard, &out);
    char *got = sl_buf_steal(&out);
    assert_true(strncmp(got, "prefix:", 7) == 0);
    assert_string_equal(got + 7, want);
    free(got);
    sl_template_free(t);
}

/* Compile text (must fail) and return the message (static storage). */
static const char *tpl_error(const char *text)
{
    static char err[SL_ERRSTR_SIZE];
    err[0] = '\0';
    sl_template_t *t = sl_template_new(text, err, sizeof(err));
    assert_null(t);
    assert_true(err[0] != '\0');
    return err;
}

static void test_template_renders_every_placeholder(void **state)
{
    (void)state;
    tpl_expect("{db}.{schema}.{table}.{shard}", &tpl_orders, 3, "shop.public.orders.3");
    tpl_expect("cdc:{table}:{table}", &tpl_orders, -1, "cdc:orders:orders");
    tpl_expect("{table}", &tpl_orders, 0, "orders");
    tpl_expect("/data/{db}/{table}-{shard}.jsonl", &tpl_orders, 12,
               "/data/shop/orders-12.jsonl");
}

static void test_template_negative_shard_renders_zero(void **state)
{
    (void)state;
    tpl_expect("s{shard}", &tpl_orders, -1, "s0");
    tpl_expect("s{shard}", &tpl_orders, 2147483647, "s2147483647");
}

static void test_template_empty_schema_renders_empty(void **state)
{
    (void)state;
    tpl_expect("{db}.{schema}.{table}", &tpl_mysql, -1, "inventory..items");
}

static void test_template_static_text_renders_unchanged(void **state)
{
    (void)state;
    tpl_expect("orders", &tpl_orders, 1, "orders");
    tpl_expect("", &tpl_orders, 1, "");
    tpl_expect("a}b", &tpl_orders, 1, "a}b");   /* a lone '}' is ordinary text */
}

static void test_template_detects_static(void **state)
{
    (void)state;
    char err[SL_ERRSTR_SIZE];
    sl_template_t *t = sl_template_new("orders.events", err, sizeof(err));
    assert_non_null(t);
    assert_true(sl_template_is_static(t));
    sl_template_free(t);

    t = sl_template_new("orders.{shard}", err, sizeof(err));
    assert_non_null(t);
    assert_false(sl_template_is_static(t));
    sl_template_free(t);
}

static void test_template_unknown_placeholder_is_named(void **state)
{
    (void)state;
    const char *e = tpl_error("cdc.{tabel}");
    assert_non_null(strstr(e, "unknown placeholder '{tabel}'"));
    assert_non_null(strstr(e, "{table}"));   /* lists the known ones */

    assert_non_null(strstr(tpl_error("x{}"), "'{}'"));
    assert_non_null(strstr(tpl_error("{TABLE}"), "'{TABLE}'"));   /* case matters */
}

static void test_template_unclosed_brace_is_an_error(void **state)
{
    (void)state;
    const char *e = tpl_error("cdc.{table");
    assert_non_null(strstr(e, "unclosed '{'"));
    assert_non_null(strstr(e, "offset 4"));

    e = tpl_error("a{b{table}");   /* '{' before the first '}' */
    assert_non_null(strstr(e, "unclosed '{' at offset 1"));
    assert_non_null(strstr(tpl_error("{table}{"), "unclosed"));
}

static void test_template_check_suits_conf_tables(void **state)
{
    (void)state;
    char good_text[] = "orders.{table}", bad_text[] = "orders.{nope}";
    char *good = good_text, *bad = bad_text, *unset = NULL;   /* as in a config struct */
    assert_null(sl_template_check(&good));
    assert_null(sl_template_check(&unset));
    const char *msg = sl_template_check(&bad);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "'{nope}'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_renders_every_placeholder),
        cmocka_unit_test(test_template_negative_shard_renders_zero),
        cmocka_unit_test(test_template_empty_schema_renders_empty),
        cmocka_unit_test(test_template_static_text_renders_unchanged),
        cmocka_unit_test(test_template_detects_static),
        cmocka_unit_test(test_template_unknown_placeholder_is_named),
        cmocka_unit_test(test_template_unclosed_brace_is_an_error),
        cmocka_unit_test(test_template_check_suits_conf_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
