/*
 * test_snapshot.c - reading a table's resume state from snapshot progress.
 */
#include "sl_common.h"
#include "sl_snapshot.h"

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>

static json_t *progress(void)
{
    return json_loads("{\"done\":[\"public.a\"],\"keys\":{\"public.b\":[\"7\",\"x\"],"
                      "\"public.c\":[\"1\",2],\"public.d\":[\"1\"]}}", 0, NULL);
}

static void test_done_table_is_reported_done(void **state)
{
    SL_UNUSED(state);
    json_t *r = progress();
    char *last[2] = {NULL, NULL};
    bool have = false;
    assert_true(sl_snapshot_resume_table(r, "public.a", 2, last, &have));
    assert_false(have);
    json_decref(r);
}

static void test_stored_key_replaces_the_last_key(void **state)
{
    SL_UNUSED(state);
    json_t *r = progress();
    char *last[2] = {sl_strdup("old"), NULL};
    bool have = false;
    assert_false(sl_snapshot_resume_table(r, "public.b", 2, last, &have));
    assert_true(have);
    assert_string_equal(last[0], "7");
    assert_string_equal(last[1], "x");
    free(last[0]);
    free(last[1]);
    json_decref(r);
}

static void test_malformed_or_mismatched_keys_restart_the_table(void **state)
{
    SL_UNUSED(state);
    json_t *r = progress();
    char *last[2] = {NULL, NULL};
    bool have = false;
    assert_false(sl_snapshot_resume_table(r, "public.c", 2, last, &have));   /* non-string */
    assert_false(sl_snapshot_resume_table(r, "public.d", 2, last, &have));   /* wrong arity */
    assert_false(sl_snapshot_resume_table(r, "public.zz", 2, last, &have));  /* absent */
    assert_false(sl_snapshot_resume_table(r, "public.b", 0, last, &have));   /* keyless */
    assert_false(have);
    assert_null(last[0]);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_table_is_reported_done),
        cmocka_unit_test(test_stored_key_replaces_the_last_key),
        cmocka_unit_test(test_malformed_or_mismatched_keys_restart_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
