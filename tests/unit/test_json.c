/*
 * test_json.c - the hot-path JSON writer: string escaping, UTF-8 repair, integers,
 * base64, number recognition.
 */
#include "sl_common.h"
#include "sl_json.h"

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>

static const char *str_json(sl_buf_t *b, const char *s, size_t n)
{
    sl_buf_reset(b);
    sl_json_str(b, s, n);
    return sl_buf_cstr(b);
}

static void test_string_escapes_quotes_backslashes_and_controls(void **state)
{
    SL_UNUSED(state);
    sl_buf_t b = SL_BUF_INIT;
    const char in[] = "a\"b\\c\nd\te\r\b\f\x01\x1f";
    assert_string_equal(str_json(&b, in, sizeof(in) - 1),
                        "\"a\\\"b\\\\c\\nd\\te\\r\\b\\f\\u0001\\u001f\"");
    assert_string_equal(str_json(&b, "", 0), "\"\"");
    sl_buf_free(&b);
}

static void test_string_keeps_valid_utf8_and_embedded_nul(void **state)
{
    SL_UNUSED(state);
    sl_buf_t b = SL_BUF_INIT;
    assert_string_equal(str_json(&b, "é☃😀", strlen("é☃😀")), "\"é☃😀\"");
    assert_string_equal(str_json(&b, "a\0b", 3), "\"a\\u0000b\"");
    sl_buf_free(&b);
}

static void test_string_replaces_invalid_utf8(void **state)
{
    SL_UNUSED(state);
    sl_buf_t b = SL_BUF_INIT;
    /* lone continuation, overlong '/', truncated 3-byte sequence, surrogate, > U+10FFFF */
    assert_string_equal(str_json(&b, "a\x80z", 3), "\"a\xEF\xBF\xBDz\"");
    assert_string_equal(str_json(&b, "\xC0\xAF", 2), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
    assert_string_equal(str_json(&b, "\xE2\x98", 2), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
    assert_string_equal(str_json(&b, "\xED\xA0\x80", 3),
                        "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    assert_string_equal(str_json(&b, "\xF4\x90\x80\x80", 4),
                        "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    sl_buf_free(&b);
}

static void test_integers_are_exact_at_the_extremes(void **state)
{
    SL_UNUSED(state);
    sl_buf_t b = SL_BUF_INIT;
    const uint64_t u[] = {0, 9, 10, 99, 100, 12345, 1000000000000000000ull, UINT64_MAX};
    for (size_t i = 0; i < SL_ARRAY_SIZE(u); i++) {
        char want[32];
        snprintf(want, sizeof(want), "%llu", (unsigned long long)u[i]);
        sl_buf_reset(&b);
        sl_json_u64(&b, u[i]);
        assert_string_equal(sl_buf_cstr(&b), want);
    }
    sl_buf_reset(&b);
    sl_json_i64(&b, INT64_MIN);
    assert_string_equal(sl_buf_cstr(&b), "-9223372036854775808");
    sl_buf_reset(&b);
    sl_json_i64(&b, -7);
    assert_string_equal(sl_buf_cstr(&b), "-7");
    sl_buf_free(&b);
}

static void test_base64_matches_rfc4648_vectors(void **state)
{
    SL_UNUSED(state);
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"\"\"", "\"Zg==\"", "\"Zm8=\"", "\"Zm9v\"", "\"Zm9vYg==\"",
                         "\"Zm9vYmE=\"", "\"Zm9vYmFy\""};
    sl_buf_t b = SL_BUF_INIT;
    for (size_t i = 0; i < SL_ARRAY_SIZE(in); i++) {
        sl_buf_reset(&b);
        sl_json_base64(&b, (const uint8_t *)in[i], strlen(in[i]));
        assert_string_equal(sl_buf_cstr(&b), out[i]);
    }
    sl_buf_free(&b);
}

static void test_number_recognition_follows_rfc8259(void **state)
{
    SL_UNUSED(state);
    const char *yes[] = {"0", "-0", "12", "-9223372036854775808", "1.5", "1e10", "2E-3",
                         "1.25e+30"};
    const char *no[] = {"", "-", "01", "+1", ".5", "1.", "1e", "NaN", "Infinity", "0x10",
                        " 1", "1 "};
    for (size_t i = 0; i < SL_ARRAY_SIZE(yes); i++)
        assert_true(sl_json_is_number(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < SL_ARRAY_SIZE(no); i++)
        assert_false(sl_json_is_number(no[i], strlen(no[i])));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_string_keeps_valid_utf8_and_embedded_nul),
        cmocka_unit_test(test_string_replaces_invalid_utf8),
        cmocka_unit_test(test_integers_are_exact_at_the_extremes),
        cmocka_unit_test(test_base64_matches_rfc4648_vectors),
        cmocka_unit_test(test_number_recognition_follows_rfc8259),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
