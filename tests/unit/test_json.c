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

static void test_integers_are_exact_at_every_digit_count_boundary(void **state)
{
    SL_UNUSED(state);
    sl_buf_t b = SL_BUF_INIT;
    uint64_t p = 1;
    for (int k = 0; k <= 19; k++, p *= 10) {
        const uint64_t around[] = {p - 1, p, p + 1, p * 2 - 1};
        for (size_t i = 0; i < SL_ARRAY_SIZE(around); i++) {
            char want[32];
            snprintf(want, sizeof(want), "%llu", (unsigned long long)around[i]);
            sl_buf_reset(&b);
            sl_buf_putc(&b, '[');
            sl_json_u64(&b, around[i]);
            sl_buf_putc(&b, ']');
            assert_int_equal(b.len, strlen(want) + 2);
            assert_memory_equal(b.data + 1, want, strlen(want));
            assert_int_equal(b.data[b.len - 1], ']');
        }
        if (k == 19) break;   /* 10^20 does not fit */
    }
    sl_buf_free(&b);
}

/* The escaper as a plain byte loop, for comparison with the word-at-a-time one. */
static void ref_json_str(sl_buf_t *b, const unsigned char *p, size_t n)
{
    sl_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t l = sl_utf8_len(p + i, n - i);
            if (l) sl_buf_put(b, p + i, l);
            else sl_buf_put(b, "\xEF\xBF\xBD", 3);
            i += l ? l : 1;
            continue;
        }
        if (c == '"' || c == '\\') {
            sl_buf_putc(b, '\\');
            sl_buf_putc(b, (char)c);
        } else if (c < 0x20) {
            const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                              : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (named) sl_buf_puts(b, named);
            else sl_buf_printf(b, "\\u%04x", c);
        } else {
            sl_buf_putc(b, (char)c);
        }
        i++;
    }
    sl_buf_putc(b, '"');
}

static void test_string_escaping_is_exact_at_every_offset_and_length(void **state)
{
    SL_UNUSED(state);
    /* Each special byte (and a 2-, 3- and 4-byte UTF-8 sequence, and broken ones) placed
     * at every offset of strings of every length up to 40, so every position within and
     * across 8-byte words is covered; the rest is plain ASCII. */
    const char *const specials[] = {"\"", "\\", "\n", "\x01", "\x1f", "\x7f", " ", "\x20",
                                    "\x21", "\x5b", "\x5d", "\xc3\xa9", "\xe2\x98\x83",
                                    "\xf0\x9f\x98\x80", "\x80", "\xc3", "\xff", "\xe2\x98"};
    sl_buf_t got = SL_BUF_INIT, want = SL_BUF_INIT;
    unsigned char in[64];
    for (size_t sp = 0; sp < SL_ARRAY_SIZE(specials); sp++) {
        size_t sl = strlen(specials[sp]);
        for (size_t len = 0; len <= 40; len++) {
            for (size_t at = 0; at + sl <= len; at++) {
                for (size_t k = 0; k < len; k++) in[k] = (unsigned char)('a' + k % 26);
                memcpy(in + at, specials[sp], sl);
                sl_buf_reset(&got);
                sl_buf_reset(&want);
                sl_json_str(&got, (const char *)in, len);
                ref_json_str(&want, in, len);
                assert_int_equal(got.len, want.len);
                assert_memory_equal(got.data, want.data, want.len);
            }
        }
    }
    sl_buf_free(&got);
    sl_buf_free(&want);
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
        cmocka_unit_test(test_integers_are_exact_at_every_digit_count_boundary),
        cmocka_unit_test(test_string_escaping_is_exact_at_every_offset_and_length),
        cmocka_unit_test(test_base64_matches_rfc4648_vectors),
        cmocka_unit_test(test_number_recognition_follows_rfc8259),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
