/*
 * test_spec.c - the spec layer: YAML/JSON parsing, ${VAR} expansion, key tables and
 * whole-spec validation. Each test is one behaviour; every error case checks the field
 * path in the message. Runs under ASan+UBSan in `make unit-asan`, so everything parsed
 * here is freed.
 *
 * The shared example spec comes from $SLUICE_SHARED, else ../shared relative to the
 * working directory (the repository root under make).
 */
#include "sl_common.h"
#include "sl_spec.h"
#include "sl_buf.h"

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>

/* ==== helpers ======================================================================== */

#define META "metadata:\n  name: orders\n"
#define SOURCE                                                                           \
    "  source:\n    type: postgres\n    config:\n      id: pg\n      dsn: host=db\n"    \
    "      slot: s1\n      publication: p1\n      tables: [public.orders]\n"
#define KAFKA(id)                                                                        \
    "    - type: kafka\n      config:\n        id: " id "\n        brokers: b:9092\n"   \
    "        topic: orders\n"
#define MINIMAL META "spec:\n" SOURCE "  sinks:\n" KAFKA("k1")

static sl_spec_t *parse(const char *text, sl_errs_t *errs)
{
    return sl_spec_parse(text, strlen(text), "t.yaml", errs);
}

static void dump_errs(const sl_errs_t *errs)
{
    for (size_t i = 0; i < errs->n; i++) fprintf(stderr, "    error: %s\n", errs->msg[i]);
}

/* Some message contains needle. */
static void assert_err(const sl_errs_t *errs, const char *needle)
{
    for (size_t i = 0; i < errs->n; i++)
        if (strstr(errs->msg[i], needle)) return;
    fprintf(stderr, "no error contains \"%s\"; got %zu:\n", needle, errs->n);
    dump_errs(errs);
    fail();
}

/* Parsing text fails, and some message contains needle. */
static void assert_spec_err(const char *text, const char *needle)
{
    sl_errs_t errs = {0};
    sl_spec_t *spec = parse(text, &errs);
    if (spec) dump_errs(&errs);
    assert_null(spec);
    assert_err(&errs, needle);
    sl_errs_free(&errs);
}

static sl_spec_t *parse_ok(const char *text)
{
    sl_errs_t errs = {0};
    sl_spec_t *spec = parse(text, &errs);
    if (!spec) dump_errs(&errs);
    assert_non_null(spec);
    assert_int_equal(errs.n, 0);
    sl_errs_free(&errs);
    return spec;
}

static char *example_path(void)
{
    const char *dir = getenv("SLUICE_SHARED");
    char *path = NULL;
    if (asprintf(&path, "%s/spec-example.yaml", dir ? dir : "../shared") < 0) abort();
    return path;
}

/* NULL (and a loud skip) when the shared example is not there. */
static char *example_or_skip(void)
{
    char *path = example_path();
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "SKIPPED: %s not found (set SLUICE_SHARED)\n", path);
        free(path);
        return NULL;
    }
    fclose(f);
    return path;
}

static void set_example_env(void)
{
    setenv("PG_DSN", "host=127.0.0.1 port=5432 dbname=app", 1);
    setenv("KAFKA_BROKERS", "127.0.0.1:9092", 1);
    setenv("REDIS_URI", "redis://127.0.0.1:6379", 1);
}

/* ==== the shared example ============================================================= */

static void test_example_spec_validates_with_env_set(void **state)
{
    SL_UNUSED(state);
    char *path = example_or_skip();
    if (!path) { skip(); return; }
    set_example_env();
    sl_errs_t errs = {0};
    sl_spec_t *spec = sl_spec_load_file(path, &errs);
    if (!spec) dump_errs(&errs);
    assert_non_null(spec);
    assert_string_equal(spec->name, "orders-pg-to-kafka");
    assert_string_equal(spec->tenant, "acme");
    assert_true(spec->sharding);
    assert_int_equal(spec->shard_count, 4);
    assert_string_equal(spec->shard_key, "customer_id");
    assert_string_equal(spec->source_ops->type, "postgres");
    assert_int_equal(spec->nprocs, 1);
    assert_string_equal(spec->procs[0].ops->type, "javascript");
    assert_int_equal(spec->nsinks, 2);
    assert_string_equal(spec->sinks[0].ops->type, "kafka");
    assert_string_equal(sl_sink_spec_common(&spec->sinks[0])->id, "orders-kafka");
    assert_string_equal(sl_sink_spec_common(&spec->sinks[1])->id, "orders-redis");
    assert_int_equal(spec->batch.max_events, 500);
    assert_int_equal(spec->batch.max_bytes, 1048576);
    assert_int_equal(spec->batch.max_ms, 1000);
    assert_int_equal(spec->commit_mode, SL_COMMIT_QUORUM);
    assert_int_equal(spec->quorum, 2);
    /* the expanded tree is kept */
    json_t *dsn = json_object_get(json_object_get(json_object_get(json_object_get(
        spec->tree, "spec"), "source"), "config"), "dsn");
    assert_string_equal(json_string_value(dsn), "host=127.0.0.1 port=5432 dbname=app");
    sl_spec_free(spec);
    sl_errs_free(&errs);
    free(path);
}

static void test_example_spec_fails_naming_unset_pg_dsn(void **state)
{
    SL_UNUSED(state);
    char *path = example_or_skip();
    if (!path) { skip(); return; }
    set_example_env();
    unsetenv("PG_DSN");
    sl_errs_t errs = {0};
    sl_spec_t *spec = sl_spec_load_file(path, &errs);
    assert_null(spec);
    assert_int_equal(errs.n, 1);
    assert_err(&errs, "spec-example.yaml:19: spec.source.config.dsn: environment variable "
                      "PG_DSN is not set");
    sl_errs_free(&errs);
    free(path);
    set_example_env();
}

static void test_example_comment_with_var_is_not_expanded(void **state)
{
    SL_UNUSED(state);
    char *path = example_or_skip();
    if (!path) { skip(); return; }
    /* the example's second line is a comment mentioning ${VAR}; VAR must stay unread */
    FILE *f = fopen(path, "r");
    char line[256] = "";
    assert_non_null(fgets(line, sizeof(line), f));
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_non_null(strstr(line, "# ${VAR}"));
    unsetenv("VAR");
    set_example_env();
    sl_errs_t errs = {0};
    sl_spec_t *spec = sl_spec_load_file(path, &errs);
    assert_non_null(spec);
    sl_spec_free(spec);
    sl_errs_free(&errs);
    free(path);
}

/* ==== parsing and expansion ========================================================== */

static void test_comment_variables_are_never_expanded(void **state)
{
    SL_UNUSED(state);
    unsetenv("SL_TEST_NOPE");
    sl_spec_t *spec = parse_ok("# ${SL_TEST_NOPE}\n" MINIMAL "  # ${SL_TEST_NOPE} too\n");
    sl_spec_free(spec);
}

static void test_keys_are_never_expanded(void **state)
{
    SL_UNUSED(state);
    setenv("SL_TEST_KEY", "max_ms", 1);
    assert_spec_err(MINIMAL "  batch:\n    ${SL_TEST_KEY}: 5\n",
                    "spec.batch[\"${SL_TEST_KEY}\"]: unknown key");
    unsetenv("SL_TEST_KEY");
}

static void test_tab_indentation_is_explained(void **state)
{
    SL_UNUSED(state);
    assert_spec_err("metadata:\n\tname: x\n", "t.yaml:2: tab character");
}

static void test_unset_variable_names_variable_path_and_line(void **state)
{
    SL_UNUSED(state);
    unsetenv("SL_TEST_BROKERS");
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    - type: kafka\n      config:\n"
                    "        id: k\n        brokers: ${SL_TEST_BROKERS}\n        topic: t\n",
                    "t.yaml:16: spec.sinks[0].config.brokers: environment variable "
                    "SL_TEST_BROKERS is not set");
}

static void test_variable_default_used_when_unset(void **state)
{
    SL_UNUSED(state);
    unsetenv("SL_TEST_N");
    sl_spec_t *spec = parse_ok(MINIMAL "  batch:\n    max_events: ${SL_TEST_N:-250}\n");
    assert_int_equal(spec->batch.max_events, 250);
    sl_spec_free(spec);
}

static void test_variable_expands_before_type_resolution(void **state)
{
    SL_UNUSED(state);
    setenv("SL_TEST_N", "77", 1);
    sl_spec_t *spec = parse_ok(MINIMAL "  batch:\n    max_events: ${SL_TEST_N}\n");
    assert_int_equal(spec->batch.max_events, 77);
    sl_spec_free(spec);
    /* quoted stays a string, so the integer key refuses it */
    assert_spec_err(MINIMAL "  batch:\n    max_events: \"${SL_TEST_N}\"\n",
                    "spec.batch.max_events: must be an integer");
    unsetenv("SL_TEST_N");
}

static void test_variable_with_yaml_syntax_cannot_break_the_document(void **state)
{
    SL_UNUSED(state);
    setenv("SL_TEST_PW", "host=db password=a:b #c", 1);
    sl_spec_t *spec = parse_ok(META "spec:\n  source:\n    type: postgres\n    config:\n"
                               "      id: pg\n      dsn: ${SL_TEST_PW}\n      slot: s\n"
                               "      publication: p\n      tables: [public.t]\n"
                               "  sinks:\n" KAFKA("k"));
    json_t *dsn = json_object_get(json_object_get(json_object_get(json_object_get(
        spec->tree, "spec"), "source"), "config"), "dsn");
    assert_string_equal(json_string_value(dsn), "host=db password=a:b #c");
    sl_spec_free(spec);
    unsetenv("SL_TEST_PW");
}

static void test_variable_keeps_exact_text_unless_canonical_integer(void **state)
{
    SL_UNUSED(state);
    const char *vals[] = {"007", "1.50", "0x1F", "+5"};
    for (size_t i = 0; i < SL_ARRAY_SIZE(vals); i++) {
        setenv("SL_TEST_SLOT", vals[i], 1);
        sl_spec_t *spec = parse_ok(META "spec:\n  source:\n    type: postgres\n"
                                   "    config:\n      id: pg\n      dsn: ${SL_TEST_SLOT}\n"
                                   "      slot: s\n      publication: p\n"
                                   "      tables: [public.t]\n  sinks:\n" KAFKA("k"));
        json_t *dsn = json_object_get(json_object_get(json_object_get(json_object_get(
            spec->tree, "spec"), "source"), "config"), "dsn");
        assert_true(json_is_string(dsn));
        assert_string_equal(json_string_value(dsn), vals[i]);
        sl_spec_free(spec);
    }
    unsetenv("SL_TEST_SLOT");
}

static void test_double_dollar_is_a_literal(void **state)
{
    SL_UNUSED(state);
    unsetenv("X");
    sl_errs_t errs = {0};
    char *s = sl_env_expand("a $${X} b $$ c $5", "p", &errs);
    assert_string_equal(s, "a ${X} b $$ c $5");
    assert_int_equal(errs.n, 0);
    free(s);
}

static void test_env_expand_reports_every_unset_variable(void **state)
{
    SL_UNUSED(state);
    unsetenv("SL_TEST_A");
    unsetenv("SL_TEST_B");
    setenv("SL_TEST_EMPTY", "", 1);
    sl_errs_t errs = {0};
    assert_null(sl_env_expand("${SL_TEST_A}/${SL_TEST_B}", "x.y", &errs));
    assert_int_equal(errs.n, 2);
    assert_err(&errs, "x.y: environment variable SL_TEST_A is not set");
    assert_err(&errs, "x.y: environment variable SL_TEST_B is not set");
    sl_errs_free(&errs);

    /* set-but-empty is a value for ${V}, and takes the default for ${V:-d} */
    char *s = sl_env_expand("[${SL_TEST_EMPTY}][${SL_TEST_EMPTY:-d}][${SL_TEST_A:-}]", "p",
                            &errs);
    assert_string_equal(s, "[][d][]");
    free(s);
    unsetenv("SL_TEST_EMPTY");
}

static void test_env_expand_rejects_malformed_references(void **state)
{
    SL_UNUSED(state);
    const char *bad[] = {"${", "${}", "${1X}", "${A-B}", "x ${OPEN", "${A:-never closed"};
    for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
        sl_errs_t errs = {0};
        assert_null(sl_env_expand(bad[i], "p", &errs));
        assert_err(&errs, "p: bad variable reference");
        sl_errs_free(&errs);
    }
}

static void test_plain_scalars_resolve_by_yaml12_core_schema(void **state)
{
    SL_UNUSED(state);
    const char *doc = "a: ~\nb: null\nc:\nd: True\ne: FALSE\nf: 0x1F\ng: 0o17\nh: -42\n"
                      "i: 1.5\nj: 1e3\nk: yes\nl: .inf\nm: \"123\"\nn: 'true'\no: 007\n"
                      "p: |\n  text\n";
    sl_errs_t errs = {0};
    json_t *t = sl_yaml_parse(doc, strlen(doc), "t.yaml", &errs);
    assert_non_null(t);
    assert_true(json_is_null(json_object_get(t, "a")));
    assert_true(json_is_null(json_object_get(t, "b")));
    assert_true(json_is_null(json_object_get(t, "c")));
    assert_true(json_is_true(json_object_get(t, "d")));
    assert_true(json_is_false(json_object_get(t, "e")));
    assert_int_equal(json_integer_value(json_object_get(t, "f")), 31);
    assert_int_equal(json_integer_value(json_object_get(t, "g")), 15);
    assert_int_equal(json_integer_value(json_object_get(t, "h")), -42);
    assert_true(json_real_value(json_object_get(t, "i")) == 1.5);
    assert_true(json_real_value(json_object_get(t, "j")) == 1000.0);
    assert_string_equal(json_string_value(json_object_get(t, "k")), "yes");
    assert_string_equal(json_string_value(json_object_get(t, "l")), ".inf");
    assert_string_equal(json_string_value(json_object_get(t, "m")), "123");
    assert_string_equal(json_string_value(json_object_get(t, "n")), "true");
    assert_int_equal(json_integer_value(json_object_get(t, "o")), 7);
    assert_string_equal(json_string_value(json_object_get(t, "p")), "text\n");
    json_decref(t);
    sl_errs_free(&errs);
}

static void test_integer_overflow_is_an_error_not_a_wrap(void **state)
{
    SL_UNUSED(state);
    const char *docs[] = {"a: 9223372036854775808\n", "a: -9223372036854775809\n",
                          "a: 0xFFFFFFFFFFFFFFFFFF\n", "a: 1e999\n"};
    for (size_t i = 0; i < SL_ARRAY_SIZE(docs); i++) {
        sl_errs_t errs = {0};
        assert_null(sl_yaml_parse(docs[i], strlen(docs[i]), "t.yaml", &errs));
        assert_err(&errs, "t.yaml:1: a: ");
        sl_errs_free(&errs);
    }
    const char *max = "a: 9223372036854775807\n";
    sl_errs_t errs = {0};
    json_t *t = sl_yaml_parse(max, strlen(max), "t.yaml", &errs);
    assert_int_equal(json_integer_value(json_object_get(t, "a")), INT64_MAX);
    json_decref(t);
}

static void test_aliases_are_rejected(void **state)
{
    SL_UNUSED(state);
    assert_spec_err("a: &x [1, 2]\nb: *x\n", "t.yaml:1: anchors (&x) and aliases are not "
                    "supported");
    sl_errs_t errs = {0};
    const char *doc = "a: [1]\nb: *x\n";
    assert_null(sl_yaml_parse(doc, strlen(doc), "t.yaml", &errs));
    assert_true(errs.n >= 1);
    sl_errs_free(&errs);
}

static void test_yaml_bomb_is_rejected_before_expansion(void **state)
{
    SL_UNUSED(state);
    assert_spec_err("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
                    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n", "anchors (&a)");
}

static void test_duplicate_keys_are_rejected_with_line(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "  batch:\n    max_ms: 5\n    max_ms: 6\n",
                    "t.yaml:20: spec.batch: duplicate key \"max_ms\"");
}

static void test_non_scalar_keys_are_rejected(void **state)
{
    SL_UNUSED(state);
    assert_spec_err("? [a, b]\n: 1\n", "keys must be plain strings");
}

static void test_multiple_documents_are_rejected(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "---\n" MINIMAL, "more than one document");
}

static void test_nesting_depth_is_limited(void **state)
{
    SL_UNUSED(state);
    char doc[512] = "";
    for (int i = 0; i < 100; i++) strcat(doc, "[");
    for (int i = 0; i < 100; i++) strcat(doc, "]");
    assert_spec_err(doc, "nested deeper than 64 levels");

    char ok[256] = "";
    for (int i = 0; i < 60; i++) strcat(ok, "[");
    for (int i = 0; i < 60; i++) strcat(ok, "]");
    sl_errs_t errs = {0};
    json_t *t = sl_yaml_parse(ok, strlen(ok), "t.yaml", &errs);
    assert_non_null(t);
    json_decref(t);
}

/* Field paths are built for every node (errors, ${VAR} bookkeeping, redaction), so their
 * length multiplies with the node count: one 500 KB key over 250000 list items was 125 GB
 * of copying, 4 s for a 1 MB spec (REST bodies may be 64 MB). Found by review while
 * fuzzing (fuzz_spec): keys longer than 256 bytes are refused, in YAML and JSON, before
 * anything below them is looked at. */
static void test_overlong_keys_are_refused_before_their_values(void **state)
{
    SL_UNUSED(state);
    char key[301];
    memset(key, 'k', 300);
    key[300] = '\0';
    char doc[1024];
    snprintf(doc, sizeof(doc), "metadata:\n  name: x\n  ? %s\n  : 1\n", key);
    assert_spec_err(doc, "t.yaml:3: metadata: a key of 300 bytes (kkkkkkkkkk...) is longer "
                         "than 256");
    snprintf(doc, sizeof(doc), "{\"metadata\": {\"%s\": [1]}}", key);
    assert_spec_err(doc, "t.yaml: metadata: a key of 300 bytes (kkkkkkkkkk...) is longer "
                         "than 256");
    /* 256 is fine (then an unknown key) */
    key[256] = '\0';
    snprintf(doc, sizeof(doc), "{\"metadata\": {\"%s\": 1}}", key);
    assert_spec_err(doc, "unknown key");

    enum { KEY = 500000, ITEMS = 250000 };
    for (int yaml = 0; yaml < 2; yaml++) {
        sl_buf_t big = SL_BUF_INIT;
        sl_buf_puts(&big, yaml ? "? " : "{\"");
        for (int i = 0; i < KEY; i++) sl_buf_putc(&big, 'k');
        sl_buf_puts(&big, yaml ? "\n: [1" : "\": [1");
        for (int i = 1; i < ITEMS; i++) sl_buf_puts(&big, ",1");
        sl_buf_puts(&big, yaml ? "]\n" : "]}");
        uint64_t t0 = sl_now_mono_us();
        sl_errs_t errs = {0};
        assert_null(sl_spec_parse(big.data, big.len, "big", &errs));
        uint64_t us = sl_now_mono_us() - t0;
        assert_true(errs.n > 0);
        sl_errs_free(&errs);
        /* before the fix: 4 s (JSON), 8 min (YAML); now about 0.1 s. The bound leaves
         * room for a loaded machine under ASan. */
        if (us > 2500000) fail_msg("a %zu-byte %s spec took %llu ms", big.len,
                                   yaml ? "YAML" : "JSON", (unsigned long long)us / 1000);
        sl_buf_free(&big);
    }
}

/* The longest paths keys allow (60 levels of 256-byte keys, 15 KB) over 100000 list items:
 * each item's path went through vsnprintf into a fresh buffer, which glibc truncates
 * slowly before the retry, 5 s for this 220 KB spec (1 MB: 21 s). Paths are copied with
 * memcpy now. */
static void test_long_paths_over_many_nodes_stay_cheap(void **state)
{
    SL_UNUSED(state);
    sl_buf_t b = SL_BUF_INIT;
    for (int d = 0; d < 60; d++) {
        for (int k = 0; k < d; k++) sl_buf_puts(&b, "  ");
        sl_buf_printf(&b, "k%02d", d);
        for (int k = 0; k < 253; k++) sl_buf_putc(&b, 'k');
        sl_buf_puts(&b, ":\n");
    }
    for (int k = 0; k < 60; k++) sl_buf_puts(&b, "  ");
    sl_buf_puts(&b, "- [1");
    for (int i = 1; i < 100000; i++) sl_buf_puts(&b, ",1");
    sl_buf_puts(&b, "]\n");
    uint64_t t0 = sl_now_mono_us();
    sl_errs_t errs = {0};
    assert_null(sl_spec_parse(b.data, b.len, "deep", &errs));
    uint64_t us = sl_now_mono_us() - t0;
    assert_err(&errs, "unknown key");
    sl_errs_free(&errs);
    /* before the fix: 5 s; now about 0.1 s */
    if (us > 3000000) fail_msg("a %zu-byte spec took %llu ms", b.len,
                               (unsigned long long)us / 1000);
    sl_buf_free(&b);
}

/* Every error was kept, each with its field path: 60 levels of 256-byte keys over one value
 * of 60000 "${}" made 60000 messages of 15 KB, 970 MB from a 200 KB spec (a 1 MB REST body:
 * several GB, then an abort). Found by review while fuzzing. The first 100 errors are
 * kept, the rest counted in one last line. */
static void test_errors_past_the_first_hundred_are_counted_not_kept(void **state)
{
    SL_UNUSED(state);
    sl_buf_t b = SL_BUF_INIT;
    for (int d = 0; d < 60; d++) {
        for (int k = 0; k < d; k++) sl_buf_puts(&b, "  ");
        sl_buf_printf(&b, "k%02d", d);
        for (int k = 0; k < 253; k++) sl_buf_putc(&b, 'k');
        sl_buf_puts(&b, ":\n");
    }
    for (int k = 0; k < 60; k++) sl_buf_puts(&b, "  ");
    sl_buf_puts(&b, "x: \"");
    for (int i = 0; i < 60000; i++) sl_buf_puts(&b, "${}");
    sl_buf_puts(&b, "\"\n");
    sl_errs_t errs = {0};
    assert_null(sl_spec_parse(b.data, b.len, "many", &errs));
    size_t bytes = 0;
    for (size_t i = 0; i < errs.n; i++) bytes += strlen(errs.msg[i]);
    if (errs.n != 101 || bytes > ((size_t)4 << 20))
        fail_msg("%zu messages of %zu bytes kept", errs.n, bytes);
    assert_int_equal(sl_errs_count(&errs), 60000);
    assert_non_null(strstr(errs.msg[0], "bad variable reference \"${}\""));
    assert_string_equal(errs.msg[100], "... and 59900 more errors not shown");
    char *all = sl_errs_join(&errs);
    assert_non_null(strstr(all, "\n... and 59900 more errors not shown"));
    free(all);
    sl_errs_free(&errs);

    /* past the cap a new error still counts: nothing that failed is taken for a success */
    sl_errs_t e = {0};
    for (int i = 0; i < 150; i++) sl_errs_add(&e, "p", "error %d", i);
    unsetenv("SL_TEST_NOPE");
    size_t before = sl_errs_count(&e);
    assert_null(sl_env_expand("${SL_TEST_NOPE}", "where", &e));
    assert_int_equal(sl_errs_count(&e), before + 1);
    sl_errs_free(&e);
    sl_buf_free(&b);
}

static void test_invalid_utf8_is_a_clear_error(void **state)
{
    SL_UNUSED(state);
    assert_spec_err("metadata:\n  name: \xff\xfe\n", "t.yaml:2: ");
    assert_spec_err("metadata:\n  name: \xc3\n", "must be UTF-8");
    assert_spec_err("{\"metadata\": {\"name\": \"\xff\"}}", "t.yaml");
}

static void test_empty_document_is_an_error(void **state)
{
    SL_UNUSED(state);
    assert_spec_err("", "the spec is empty");
    assert_spec_err("# only a comment\n", "the spec is empty");
    assert_spec_err("just text\n", "must be a mapping with metadata and spec");
}

static void test_garbage_and_truncated_input_never_crash(void **state)
{
    SL_UNUSED(state);
    uint32_t seed = 12345;
    char buf[512];
    for (int round = 0; round < 3000; round++) {
        size_t n = (size_t)(round % 500);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            /* mostly YAML punctuation, sometimes any byte (NUL and invalid UTF-8 too) */
            static const char alphabet[] = "{}[]:,-?&*!|>'\"#%@` \n\t$abc012.~";
            buf[i] = (seed >> 24) & 1 ? alphabet[(seed >> 8) % (sizeof(alphabet) - 1)]
                                      : (char)(seed >> 16);
        }
        sl_errs_t errs = {0};
        sl_spec_t *spec = sl_spec_parse(buf, n, "fuzz", &errs);
        assert_true(spec ? errs.n == 0 : errs.n > 0);
        sl_spec_free(spec);
        sl_errs_free(&errs);
    }

    /* every prefix of a valid spec, YAML and JSON */
    const char *docs[] = {
        MINIMAL "  batch:\n    max_events: 5\n",
        "{\"metadata\": {\"name\": \"x\"}, \"spec\": {\"sinks\": [{\"type\": \"kafka\"}]}}",
    };
    for (size_t d = 0; d < SL_ARRAY_SIZE(docs); d++) {
        for (size_t n = 0; n <= strlen(docs[d]); n++) {
            sl_errs_t errs = {0};
            sl_spec_t *spec = sl_spec_parse(docs[d], n, "trunc", &errs);
            assert_true(spec ? errs.n == 0 : errs.n > 0);
            sl_spec_free(spec);
            sl_errs_free(&errs);
        }
    }
}

static void test_binary_input_with_nul_bytes_is_an_error(void **state)
{
    SL_UNUSED(state);
    const char bin[] = "metadata:\n  name: a\0b\n\x01\x02\x03";
    sl_errs_t errs = {0};
    assert_null(sl_spec_parse(bin, sizeof(bin) - 1, "bin", &errs));
    assert_true(errs.n > 0);
    sl_errs_free(&errs);
}

/* The API's redacted view masks every value that came from ${VAR}: it looked each node's
 * path up in the list of expanded paths, nodes x expanded string compares (a 250 KB spec
 * listing 8000 tables from ${VAR} took 6 s under ASan; a 1 MB one, minutes). Found by
 * fuzz_spec review. The lookup is a hash now. */
static void test_redacted_view_is_linear_in_expanded_values(void **state)
{
    SL_UNUSED(state);
    enum { N = 40000 };
    setenv("SL_TEST_SFX", "x", 1);
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, META "spec:\n  source:\n    type: postgres\n    config:\n      id: pg\n"
                     "      dsn: host=db\n      slot: s1\n      publication: p1\n"
                     "      tables:\n");
    for (int i = 0; i < N; i++) sl_buf_printf(&b, "        - public.t%d_${SL_TEST_SFX}\n", i);
    sl_buf_puts(&b, "  sinks:\n" KAFKA("k1"));
    sl_spec_t *spec = parse_ok(sl_buf_cstr(&b));
    assert_int_equal(json_array_size(spec->expanded), N);
    uint64_t t0 = sl_now_mono_us();
    json_t *red = sl_spec_redacted(spec);
    uint64_t us = sl_now_mono_us() - t0;
    json_t *tables = json_object_get(json_object_get(json_object_get(json_object_get(red, "spec"),
                                                             "source"), "config"), "tables");
    assert_int_equal(json_array_size(tables), N);
    assert_string_equal(json_string_value(json_array_get(tables, 0)), "****");
    assert_string_equal(json_string_value(json_array_get(tables, N - 1)), "****");
    json_decref(red);
    sl_spec_free(spec);
    sl_buf_free(&b);
    unsetenv("SL_TEST_SFX");
    /* before the fix: 18 s; now milliseconds */
    if (us > 6000000) fail_msg("redacting %d expanded values took %llu ms", N,
                               (unsigned long long)us / 1000);
}

/* ==== JSON =========================================================================== */

static void test_json_spec_works_like_yaml(void **state)
{
    SL_UNUSED(state);
    setenv("SL_TEST_BROKERS", "b1:9092", 1);
    const char *json =
        "{\n"
        "\t\"metadata\": {\"name\": \"orders\", \"tenant\": \"caf\\u00e9 \\ud83d\\ude00\"},\n"
        "\t\"spec\": {\n"
        "\t\t\"source\": {\"type\": \"postgres\", \"config\": {\"id\": \"pg\",\n"
        "\t\t\t\"dsn\": \"host=db\", \"slot\": \"s\", \"publication\": \"p\",\n"
        "\t\t\t\"tables\": [\"public.orders\"]}},\n"
        "\t\t\"sinks\": [{\"type\": \"kafka\", \"config\": {\"id\": \"k\",\n"
        "\t\t\t\"brokers\": \"${SL_TEST_BROKERS}\", \"topic\": \"a\\/b\",\n"
        "\t\t\t\"client_conf\": {\"message.timeout.ms\": 5000}}}],\n"
        "\t\t\"batch\": {\"max_events\": 10}\n"
        "\t}\n"
        "}\n";
    sl_spec_t *spec = parse_ok(json);
    assert_string_equal(spec->tenant, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    assert_int_equal(spec->batch.max_events, 10);
    assert_int_equal(spec->batch.max_ms, 100);
    json_t *sink = json_object_get(json_array_get(json_object_get(json_object_get(
        spec->tree, "spec"), "sinks"), 0), "config");
    assert_string_equal(json_string_value(json_object_get(sink, "brokers")), "b1:9092");
    assert_string_equal(json_string_value(json_object_get(sink, "topic")), "a/b");
    sl_spec_free(spec);
    unsetenv("SL_TEST_BROKERS");
}

static void test_json_duplicate_keys_are_rejected(void **state)
{
    SL_UNUSED(state);
    assert_spec_err("{\"metadata\": {\"name\": \"a\", \"name\": \"b\"}}", "duplicate");
}

static void test_json_unset_variable_names_path(void **state)
{
    SL_UNUSED(state);
    unsetenv("SL_TEST_NOPE");
    assert_spec_err("{\"metadata\": {\"name\": \"${SL_TEST_NOPE}\"}}",
                    "t.yaml: metadata.name: environment variable SL_TEST_NOPE is not set");
}

static void test_json_syntax_error_has_line(void **state)
{
    SL_UNUSED(state);
    assert_spec_err("{\n\"metadata\": {\"name\": \"a\"}\n\"spec\": 1}",
                    "t.yaml:3: invalid JSON");
}

static void test_yaml_flow_mapping_starting_with_brace_still_parses(void **state)
{
    SL_UNUSED(state);
    sl_errs_t errs = {0};
    const char *doc = "{a: 1, b: [x, y]}";
    json_t *t = sl_yaml_parse(doc, strlen(doc), "t.yaml", &errs);
    assert_non_null(t);
    assert_int_equal(json_integer_value(json_object_get(t, "a")), 1);
    json_decref(t);
}

/* ==== defaults and values ============================================================ */

/* Address of a key's field inside a parsed connector config, found through the
 * connector's own table ("limits.cpu_ms" walks into SL_CT_OBJ), so the tests need no
 * copy of structs private to the connector files. */
static void *conf_field(const sl_conf_def_t *defs, void *conf, const char *dotted)
{
    const char *dot = strchr(dotted, '.');
    size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);
    for (const sl_conf_def_t *d = defs; d->key; d++) {
        if (strlen(d->key) != n || strncmp(d->key, dotted, n) != 0) continue;
        void *field = (char *)conf + d->offset;
        return dot ? conf_field(d->sub, field, dot + 1) : field;
    }
    fail_msg("no key %s", dotted);
    return NULL;
}

#define SINK_FIELD(spec, i, key) conf_field((spec)->sinks[i].ops->conf, (spec)->sinks[i].conf, key)
#define PROC_FIELD(spec, i, key) conf_field((spec)->procs[i].ops->conf, (spec)->procs[i].conf, key)

static void test_defaults_are_applied(void **state)
{
    SL_UNUSED(state);
    sl_spec_t *spec = parse_ok(META "spec:\n" SOURCE "  processors:\n"
                               "    - type: javascript\n      id: js\n      inline: x\n"
                               "  sinks:\n" KAFKA("k1"));
    assert_null(spec->tenant);
    assert_false(spec->sharding);
    assert_int_equal(spec->batch.max_events, 1000);
    assert_int_equal(spec->batch.max_bytes, 4194304);
    assert_int_equal(spec->batch.max_ms, 100);
    assert_true(spec->batch.respect_source_tx);
    assert_int_equal(spec->batch.max_inflight, 2);
    assert_int_equal(spec->commit_mode, SL_COMMIT_REQUIRED);

    assert_true(sl_sink_spec_common(&spec->sinks[0])->required);
    assert_false(*(bool *)SINK_FIELD(spec, 0, "exactly_once"));
    assert_true(*(bool *)SINK_FIELD(spec, 0, "tombstones"));
    assert_int_equal(((sl_strmap_t *)SINK_FIELD(spec, 0, "client_conf"))->n, 0);

    assert_string_equal(*(char **)PROC_FIELD(spec, 0, "inline"), "x");
    assert_int_equal(*(int64_t *)PROC_FIELD(spec, 0, "limits.cpu_ms"), 100);
    assert_int_equal(*(int64_t *)PROC_FIELD(spec, 0, "limits.mem_mb"), 64);
    assert_int_equal(*(int64_t *)PROC_FIELD(spec, 0, "limits.timeout_ms"), 1000);
    assert_int_equal(*(int *)PROC_FIELD(spec, 0, "on_error"), 0);   /* fail */
    sl_spec_free(spec);
}

static void test_string_keys_accept_numbers_and_booleans(void **state)
{
    SL_UNUSED(state);
    sl_spec_t *spec = parse_ok(MINIMAL "        client_conf:\n          message.timeout.ms: 5000\n"
                               "          enable.idempotence: true\n"
                               "          linger.ms: 0.5\n          acks: all\n");
    const sl_strmap_t *m = SINK_FIELD(spec, 0, "client_conf");
    assert_int_equal(m->n, 4);
    assert_string_equal(m->k[0], "message.timeout.ms");
    assert_string_equal(m->v[0], "5000");
    assert_string_equal(m->v[1], "true");
    assert_string_equal(m->v[2], "0.5");
    assert_string_equal(m->v[3], "all");
    sl_spec_free(spec);
}

static void test_string_keys_refuse_lists_and_mappings(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    - type: kafka\n      config:\n"
                    "        id: k\n        brokers: [a, b]\n        topic: t\n",
                    "spec.sinks[0].config.brokers: must be a string (got a list)");
    assert_spec_err(MINIMAL "        client_conf:\n          a.b: {c: 1}\n",
                    "spec.sinks[0].config.client_conf[\"a.b\"]: must be a string, number or "
                    "boolean (got a mapping)");
}

/* ==== error classes ================================================================== */

static void test_unknown_key_at_top_level(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "kind: Pipeline\n", "kind: unknown key (allowed: metadata, spec)");
}

static void test_unknown_key_in_spec(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "  sink:\n    x: 1\n", "spec.sink: unknown key (allowed: sharding, "
                    "source, processors, sinks, batch, commit_policy)");
}

static void test_unknown_key_in_metadata(void **state)
{
    SL_UNUSED(state);
    assert_spec_err("metadata:\n  name: a\n  labels: x\nspec:\n" SOURCE "  sinks:\n"
                    KAFKA("k"), "metadata.labels: unknown key (allowed: name, tenant)");
}

static void test_unknown_key_in_sink_config_suggests_the_right_one(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "        exactly_onse: true\n",
                    "spec.sinks[0].config.exactly_onse: unknown key (did you mean "
                    "\"exactly_once\"?");
}

static void test_unknown_key_in_sink_item(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "      id: oops\n",
                    "spec.sinks[0].id: unknown key (allowed: type, config)");
}

static void test_unknown_key_in_nested_processor_limits(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(META "spec:\n" SOURCE "  processors:\n    - type: javascript\n"
                    "      id: js\n      inline: x\n      limits:\n        cpu: 5\n"
                    "  sinks:\n" KAFKA("k"),
                    "spec.processors[0].limits.cpu: unknown key (did you mean \"cpu_ms\"?");
}

static void test_wrong_type_names_path(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "  batch:\n    max_events: lots\n",
                    "spec.batch.max_events: must be an integer (got a string)");
    assert_spec_err(MINIMAL "  batch:\n    respect_source_tx: yes\n",
                    "spec.batch.respect_source_tx: must be true or false (got \"yes\")");
    assert_spec_err(MINIMAL "  batch: [1]\n", "spec.batch: must be a mapping (got a list)");
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    type: kafka\n",
                    "spec.sinks: must be a list of sinks");
}

static void test_missing_required_keys_are_named(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    - type: kafka\n      config:\n"
                    "        id: k\n", "spec.sinks[0].config.brokers: required");
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    - config: {id: k}\n",
                    "spec.sinks[0].type: required (one of: kafka, redis, file)");
    assert_spec_err(META "spec:\n" SOURCE, "spec.sinks: required");
    assert_spec_err(META "spec:\n" SOURCE "  sinks: []\n", "spec.sinks: at least one sink");
    assert_spec_err(META "spec:\n  sinks:\n" KAFKA("k"), "spec.source: required");
    assert_spec_err("spec:\n" SOURCE "  sinks:\n" KAFKA("k"), "metadata: required");
    assert_spec_err(META, "spec: required");
}

static void test_out_of_range_reads_naturally(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "  batch:\n    max_events: 0\n",
                    "spec.batch.max_events: must be > 0 (got 0)");
    assert_spec_err(MINIMAL "  batch:\n    max_inflight: 65\n",
                    "spec.batch.max_inflight: must be between 1 and 64 (got 65)");
    assert_spec_err(MINIMAL "  sharding:\n    mode: hash\n    count: 0\n    key: id\n",
                    "spec.sharding.count: must be > 0 (got 0)");
}

static void test_bad_enum_lists_choices(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "  commit_policy:\n    mode: most\n",
                    "spec.commit_policy.mode: must be one of: required, all, quorum "
                    "(got \"most\")");
}

static void test_unknown_connector_type_lists_known(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    - type: s3\n",
                    "spec.sinks[0].type: unknown sink type \"s3\" (known: kafka, redis, file)");
    assert_spec_err(META "spec:\n  source:\n    type: oracle\n  sinks:\n" KAFKA("k"),
                    "spec.source.type: unknown source type \"oracle\"");
}

static void test_bad_schema_changes_destination_names_the_field(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    - type: file\n      config:\n"
                    "        id: f\n        path: /tmp/x\n        schema_changes: ''\n",
                    "spec.sinks[0].config.schema_changes: must not be empty");
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    - type: redis\n      config:\n"
                    "        id: r\n        uri: redis://h\n        stream: s\n"
                    "        schema_changes: 'ddl.{database}'\n",
                    "spec.sinks[0].config.schema_changes: unknown placeholder '{database}'");
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    - type: kafka\n      config:\n"
                    "        id: k\n        brokers: b:9092\n        topic: t\n"
                    "        schema_changes: 'schema changes'\n",
                    "spec.sinks[0].config.schema_changes: not a valid Kafka topic name");
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    - type: file\n      config:\n"
                    "        id: f\n        path: /tmp/x\n        schema_changes: [a]\n",
                    "spec.sinks[0].config.schema_changes: must be a string (got a list)");
    sl_spec_t *spec = parse_ok(META "spec:\n" SOURCE "  sinks:\n    - type: kafka\n"
                               "      config:\n        id: k\n        brokers: b:9092\n"
                               "        topic: t\n        schema_changes: 'app.{db}'\n");
    assert_string_equal(sl_sink_spec_common(&spec->sinks[0])->schema_changes, "app.{db}");
    sl_spec_free(spec);
}

static void test_duplicate_sink_id_is_rejected(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n" KAFKA("x") KAFKA("x"),
                    "spec.sinks[1].config.id: duplicate sink id \"x\"");
}

static void test_quorum_larger_than_sink_count_is_rejected(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n" KAFKA("a") KAFKA("b")
                    "  commit_policy:\n    mode: quorum\n    quorum: 3\n",
                    "spec.commit_policy.quorum: must be between 1 and 2, the number of sinks "
                    "(got 3)");
}

static void test_quorum_is_required_only_with_mode_quorum(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "  commit_policy:\n    mode: quorum\n",
                    "spec.commit_policy.quorum: required when mode is quorum");
    assert_spec_err(MINIMAL "  commit_policy:\n    mode: all\n    quorum: 1\n",
                    "spec.commit_policy.quorum: only allowed when mode is quorum");
}

static void test_mode_required_needs_a_required_sink(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(MINIMAL "        required: false\n",
                    "spec.commit_policy.mode: mode required needs at least one sink with "
                    "required: true");
    sl_spec_t *spec = parse_ok(MINIMAL "        required: false\n  commit_policy:\n"
                               "    mode: all\n");
    sl_spec_free(spec);
}

static void test_pipeline_name_rule(void **state)
{
    SL_UNUSED(state);
    const char *bad[] = {"Orders", "-a", "a-", "a/b", "a b", "",
                         "a234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
        char doc[512];
        snprintf(doc, sizeof(doc), "metadata:\n  name: \"%s\"\nspec:\n" SOURCE "  sinks:\n"
                 KAFKA("k"), bad[i]);
        assert_spec_err(doc, "metadata.name: must");
    }
    sl_spec_t *spec = parse_ok("metadata:\n  name: a.b_c-9\nspec:\n" SOURCE "  sinks:\n"
                               KAFKA("k"));
    sl_spec_free(spec);
}

static void test_sharding_needs_mode_count_and_key(void **state)
{
    SL_UNUSED(state);
    sl_errs_t errs = {0};
    assert_null(parse(MINIMAL "  sharding:\n    count: 2\n", &errs));
    assert_err(&errs, "spec.sharding.mode: required");
    assert_err(&errs, "spec.sharding.key: required");
    sl_errs_free(&errs);
    assert_spec_err(MINIMAL "  sharding:\n    mode: range\n    count: 2\n    key: id\n",
                    "spec.sharding.mode: must be one of: hash");
}

static void test_javascript_needs_exactly_one_of_inline_or_file(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(META "spec:\n" SOURCE "  processors:\n    - type: javascript\n"
                    "      id: js\n  sinks:\n" KAFKA("k"),
                    "spec.processors[0]: one of inline or file is required");
    assert_spec_err(META "spec:\n" SOURCE "  processors:\n    - type: javascript\n"
                    "      id: js\n      inline: x\n      file: y.js\n  sinks:\n" KAFKA("k"),
                    "spec.processors[0]: inline and file are mutually exclusive");
}

static void test_javascript_dead_letter_needs_a_destination(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(META "spec:\n" SOURCE "  processors:\n    - type: javascript\n"
                    "      id: js\n      inline: x\n      on_error: dead_letter\n"
                    "  sinks:\n" KAFKA("k"),
                    "spec.processors[0].dead_letter: required when on_error is dead_letter");
}

static void test_kafka_topic_template_is_checked(void **state)
{
    SL_UNUSED(state);
    assert_spec_err(META "spec:\n" SOURCE "  sinks:\n    - type: kafka\n      config:\n"
                    "        id: k\n        brokers: b\n        topic: \"cdc.{nope}\"\n",
                    "spec.sinks[0].config.topic: ");
    sl_spec_t *spec = parse_ok(META "spec:\n" SOURCE "  sinks:\n    - type: kafka\n"
                               "      config:\n        id: k\n        brokers: b\n"
                               "        topic: \"cdc.{schema}.{table}\"\n");
    sl_spec_free(spec);
}

static void test_all_errors_are_reported_at_once(void **state)
{
    SL_UNUSED(state);
    unsetenv("SL_TEST_NOPE");
    sl_errs_t errs = {0};
    const char *doc =
        "metadata:\n  name: Bad Name\n  colour: red\n"
        "spec:\n" SOURCE "  sinks:\n" KAFKA("x") KAFKA("x")
        "        exactly_once: maybe\n"
        "  batch:\n    max_events: -1\n    max_ms: soon\n    max_inflight: 100\n"
        "  commit_policy:\n    mode: quorum\n    quorum: 5\n";
    assert_null(parse(doc, &errs));
    assert_err(&errs, "metadata.name: must be 1 to 63 characters");
    assert_err(&errs, "metadata.colour: unknown key");
    assert_err(&errs, "spec.sinks[1].config.exactly_once: must be true or false");
    assert_err(&errs, "spec.sinks[1].config.id: duplicate sink id \"x\"");
    assert_err(&errs, "spec.batch.max_events: must be > 0");
    assert_err(&errs, "spec.batch.max_ms: must be an integer");
    assert_err(&errs, "spec.batch.max_inflight: must be between 1 and 64");
    assert_err(&errs, "spec.commit_policy.quorum: must be between 1 and 2");
    assert_int_equal(errs.n, 8);

    char *joined = sl_errs_join(&errs);
    assert_non_null(strstr(joined, "\nspec.batch.max_events: must be > 0"));
    free(joined);
    sl_errs_free(&errs);

    /* and several unset variables in one YAML document */
    assert_null(parse(MINIMAL "  batch:\n    max_ms: ${SL_TEST_NOPE}\n"
                      "    max_events: ${SL_TEST_NOPE2}\n", &errs));
    assert_int_equal(errs.n, 2);
    sl_errs_free(&errs);
}

/* ==== API edges ====================================================================== */

static void test_load_file_reports_unreadable_path(void **state)
{
    SL_UNUSED(state);
    sl_errs_t errs = {0};
    assert_null(sl_spec_load_file("/nonexistent/spec.yaml", &errs));
    assert_err(&errs, "/nonexistent/spec.yaml: cannot open: ");
    sl_errs_free(&errs);
}

static void test_from_tree_takes_its_own_reference(void **state)
{
    SL_UNUSED(state);
    sl_errs_t errs = {0};
    json_t *tree = sl_yaml_parse(MINIMAL, strlen(MINIMAL), "t.yaml", &errs);
    assert_non_null(tree);
    sl_spec_t *spec = sl_spec_from_tree(tree, &errs);
    assert_non_null(spec);
    assert_ptr_equal(spec->tree, tree);
    json_decref(tree);                 /* the spec still holds it */
    assert_string_equal(spec->name, "orders");
    assert_true(json_is_object(spec->tree));
    sl_spec_free(spec);
    assert_null(sl_spec_from_tree(NULL, &errs));
    sl_errs_free(&errs);
}

static void test_errs_join_is_empty_without_errors(void **state)
{
    SL_UNUSED(state);
    sl_errs_t errs = {0};
    char *s = sl_errs_join(&errs);
    assert_string_equal(s, "");
    free(s);
    sl_errs_add(&errs, NULL, "no path %d", 1);
    sl_errs_add(&errs, "a.b", "with path");
    s = sl_errs_join(&errs);
    assert_string_equal(s, "no path 1\na.b: with path");
    free(s);
    sl_errs_free(&errs);
}

static void test_unimplemented_connectors_refuse_to_start(void **state)
{
    SL_UNUSED(state);
    char err[SL_ERRSTR_SIZE] = "";
    const sl_sink_ops_t *kafka = sl_sink_find("kafka");
    assert_null(kafka->create(NULL, NULL, err, sizeof(err)));
    assert_string_equal(err, "kafka sink: brokers and topic are required");
    const sl_processor_ops_t *js = sl_processor_find("javascript");
    assert_null(js->create(NULL, NULL, err, sizeof(err)));
    assert_string_equal(err, "javascript processor: invalid configuration");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_spec_validates_with_env_set),
        cmocka_unit_test(test_example_spec_fails_naming_unset_pg_dsn),
        cmocka_unit_test(test_example_comment_with_var_is_not_expanded),
        cmocka_unit_test(test_comment_variables_are_never_expanded),
        cmocka_unit_test(test_keys_are_never_expanded),
        cmocka_unit_test(test_tab_indentation_is_explained),
        cmocka_unit_test(test_unset_variable_names_variable_path_and_line),
        cmocka_unit_test(test_variable_default_used_when_unset),
        cmocka_unit_test(test_variable_expands_before_type_resolution),
        cmocka_unit_test(test_variable_with_yaml_syntax_cannot_break_the_document),
        cmocka_unit_test(test_variable_keeps_exact_text_unless_canonical_integer),
        cmocka_unit_test(test_double_dollar_is_a_literal),
        cmocka_unit_test(test_env_expand_reports_every_unset_variable),
        cmocka_unit_test(test_env_expand_rejects_malformed_references),
        cmocka_unit_test(test_plain_scalars_resolve_by_yaml12_core_schema),
        cmocka_unit_test(test_integer_overflow_is_an_error_not_a_wrap),
        cmocka_unit_test(test_aliases_are_rejected),
        cmocka_unit_test(test_yaml_bomb_is_rejected_before_expansion),
        cmocka_unit_test(test_duplicate_keys_are_rejected_with_line),
        cmocka_unit_test(test_non_scalar_keys_are_rejected),
        cmocka_unit_test(test_multiple_documents_are_rejected),
        cmocka_unit_test(test_nesting_depth_is_limited),
        cmocka_unit_test(test_overlong_keys_are_refused_before_their_values),
        cmocka_unit_test(test_long_paths_over_many_nodes_stay_cheap),
        cmocka_unit_test(test_errors_past_the_first_hundred_are_counted_not_kept),
        cmocka_unit_test(test_invalid_utf8_is_a_clear_error),
        cmocka_unit_test(test_empty_document_is_an_error),
        cmocka_unit_test(test_garbage_and_truncated_input_never_crash),
        cmocka_unit_test(test_binary_input_with_nul_bytes_is_an_error),
        cmocka_unit_test(test_redacted_view_is_linear_in_expanded_values),
        cmocka_unit_test(test_json_spec_works_like_yaml),
        cmocka_unit_test(test_json_duplicate_keys_are_rejected),
        cmocka_unit_test(test_json_unset_variable_names_path),
        cmocka_unit_test(test_json_syntax_error_has_line),
        cmocka_unit_test(test_yaml_flow_mapping_starting_with_brace_still_parses),
        cmocka_unit_test(test_defaults_are_applied),
        cmocka_unit_test(test_string_keys_accept_numbers_and_booleans),
        cmocka_unit_test(test_string_keys_refuse_lists_and_mappings),
        cmocka_unit_test(test_unknown_key_at_top_level),
        cmocka_unit_test(test_unknown_key_in_spec),
        cmocka_unit_test(test_unknown_key_in_metadata),
        cmocka_unit_test(test_unknown_key_in_sink_config_suggests_the_right_one),
        cmocka_unit_test(test_unknown_key_in_sink_item),
        cmocka_unit_test(test_unknown_key_in_nested_processor_limits),
        cmocka_unit_test(test_wrong_type_names_path),
        cmocka_unit_test(test_missing_required_keys_are_named),
        cmocka_unit_test(test_out_of_range_reads_naturally),
        cmocka_unit_test(test_bad_enum_lists_choices),
        cmocka_unit_test(test_unknown_connector_type_lists_known),
        cmocka_unit_test(test_bad_schema_changes_destination_names_the_field),
        cmocka_unit_test(test_duplicate_sink_id_is_rejected),
        cmocka_unit_test(test_quorum_larger_than_sink_count_is_rejected),
        cmocka_unit_test(test_quorum_is_required_only_with_mode_quorum),
        cmocka_unit_test(test_mode_required_needs_a_required_sink),
        cmocka_unit_test(test_pipeline_name_rule),
        cmocka_unit_test(test_sharding_needs_mode_count_and_key),
        cmocka_unit_test(test_javascript_needs_exactly_one_of_inline_or_file),
        cmocka_unit_test(test_javascript_dead_letter_needs_a_destination),
        cmocka_unit_test(test_kafka_topic_template_is_checked),
        cmocka_unit_test(test_all_errors_are_reported_at_once),
        cmocka_unit_test(test_load_file_reports_unreadable_path),
        cmocka_unit_test(test_from_tree_takes_its_own_reference),
        cmocka_unit_test(test_errs_join_is_empty_without_errors),
        cmocka_unit_test(test_unimplemented_connectors_refuse_to_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
