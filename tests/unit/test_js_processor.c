/*
 * test_js_processor.c - the "javascript" processor driven through its ops with
 * hand-built batches: the script contract (identity, filter, mutate, fan-out, routing,
 * null result), exact numbers, validation errors with line numbers, the enforced limits
 * (wall time, CPU, memory) and each error policy, and that the interpreter stays usable
 * after every kind of failure.
 */
#include "sl_common.h"
#include "sl_connector.h"
#include "sl_log.h"

#include <errno.h>
#include <stdarg.h>
#include <setjmp.h>
#include <unistd.h>
#include <cmocka.h>

extern const sl_processor_ops_t sl_processor_javascript;
#define JS (&sl_processor_javascript)

static const sl_table_t t_orders = {.db = "shop", .schema = "public", .name = "orders"};

/* ---- helpers ---------------------------------------------------------------------- */

/* A Debezium-shaped value for row `id`, with big integers in ts_ns and `big`. */
static char *ev_json(int id, const char *op, const char *extra)
{
    static char buf[2048];
    snprintf(buf, sizeof(buf),
             "{\"before\":null,\"after\":{\"id\":%d,\"name\":\"n%d\",\"big\":9223372036854775807"
             "%s%s},\"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\","
             "\"name\":\"t\",\"ts_ms\":1700000000123,\"snapshot\":\"false\",\"db\":\"shop\","
             "\"sequence\":\"[\\\"1\\\",\\\"2\\\"]\",\"ts_us\":1700000000123456,"
             "\"ts_ns\":1700000000123456789,\"schema\":\"public\",\"table\":\"orders\","
             "\"txId\":572,\"lsn\":23796120,\"xmin\":null},\"op\":\"%s\","
             "\"ts_ms\":1700000000130,\"ts_us\":1700000000130001,"
             "\"ts_ns\":1700000000130001007,\"transaction\":null}",
             id, id, extra ? "," : "", extra ? extra : "", op);
    return buf;
}

static void b_add(sl_batch_t *b, const char *key, const char *val)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->ev = realloc(b->ev, b->cap * sizeof(*b->ev));
    }
    sl_event_t *e = &b->ev[b->n++];
    memset(e, 0, sizeof(*e));
    e->table = &t_orders;
    e->shard = -1;
    e->op = SL_OP_CREATE;
    e->commit_us = 42;
    e->key_off = (uint32_t)b->arena.len;
    e->key_len = key ? (uint32_t)strlen(key) : 0;
    if (key) sl_buf_puts(&b->arena, key);
    e->val_off = (uint32_t)b->arena.len;
    e->val_len = (uint32_t)strlen(val);
    sl_buf_puts(&b->arena, val);
}

/* n events with keys {"id":i} and values ev_json(i); the batch carries a position. */
static void b_fill(sl_batch_t *b, int n)
{
    b->n = 0;
    sl_buf_reset(&b->arena);
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "{\"id\":%d}", i);
        b_add(b, key, ev_json(i, "c", NULL));
    }
    b->has_pos = true;
    b->pos.lsn = 777;
}

static void b_free(sl_batch_t *b)
{
    free(b->ev);
    sl_buf_free(&b->arena);
    sl_buf_free(&b->pos.json);
    memset(b, 0, sizeof(*b));
}

/* Value i as a NUL-terminated string (static buffer). */
static const char *b_val(const sl_batch_t *b, uint32_t i)
{
    static char buf[8192];
    assert_true(i < b->n);
    snprintf(buf, sizeof(buf), "%.*s", (int)b->ev[i].val_len, sl_event_val(b, &b->ev[i]));
    return buf;
}

static const char *b_key(const sl_batch_t *b, uint32_t i)
{
    static char buf[1024];
    assert_true(i < b->n);
    snprintf(buf, sizeof(buf), "%.*s", (int)b->ev[i].key_len, sl_event_key(b, &b->ev[i]));
    return buf;
}

/* Parse conf (JSON text of the processor's keys) and validate; returns the errors joined
 * (caller frees; "" when valid) and the config through *out (caller frees with js_conf_free). */
static char *js_conf(const char *json, void **out)
{
    json_error_t jerr;
    json_t *obj = json_loads(json, 0, &jerr);
    if (!obj) fail_msg("bad test JSON: %s: %s", jerr.text, json);
    void *conf = calloc(1, JS->conf_size);
    sl_errs_t errs = {0};
    if (sl_conf_parse(JS->conf, obj, conf, "p", &errs) == SL_OK) JS->validate(conf, "p", &errs);
    json_decref(obj);
    char *s = sl_errs_join(&errs);
    sl_errs_free(&errs);
    *out = conf;
    return s;
}

static void js_conf_free(void *conf)
{
    sl_conf_free(JS->conf, conf);
    free(conf);
}

/* Create a processor from its keys (JSON, printf-style); fails the test when invalid. */
static __attribute__((format(printf, 1, 2))) void *js_new(const char *fmt, ...)
{
    char json[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof(json), fmt, ap);
    va_end(ap);
    void *conf;
    char *errs = js_conf(json, &conf);
    if (errs[0]) fail_msg("config invalid: %s", errs);
    free(errs);
    char err[SL_ERRSTR_SIZE] = "";
    void *p = JS->create(conf, NULL, err, sizeof(err));
    js_conf_free(conf);
    if (!p) fail_msg("create: %s", err);
    return p;
}

/* JSON-escape a script for embedding in a config. */
static const char *js_q(const char *script)
{
    static char buf[4][4096];
    static int which;
    char *o = buf[which++ % 4];
    size_t n = 0;
    for (const char *s = script; *s && n + 3 < sizeof(buf[0]); s++) {
        if (*s == '"' || *s == '\\') o[n++] = '\\';
        if (*s == '\n') {
            o[n++] = '\\';
            o[n++] = 'n';
            continue;
        }
        o[n++] = *s;
    }
    o[n] = '\0';
    return o;
}

static void *js_inline(const char *script)
{
    return js_new("{\"id\":\"t\",\"inline\":\"%s\"}", js_q(script));
}

static int js_run(void *p, sl_batch_t *b, char *err, size_t err_size)
{
    err[0] = '\0';
    return JS->process(p, b, err, err_size);
}

static void js_ok(void *p, sl_batch_t *b)
{
    char err[SL_ERRSTR_SIZE];
    if (js_run(p, b, err, sizeof(err)) != SL_OK) fail_msg("process: %s", err);
}

static void js_stats(void *p, sl_proc_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    JS->stats(p, st);
}

/* An identity batch works (the interpreter is healthy) and leaves the events as they were. */
static void js_expect_healthy(void *p)
{
    sl_batch_t b = {0};
    b_fill(&b, 3);
    sl_buf_t before = SL_BUF_INIT;
    sl_buf_put(&before, b.arena.data, b.arena.len);
    char err[SL_ERRSTR_SIZE];
    int rc = js_run(p, &b, err, sizeof(err));
    if (rc != SL_OK) fail_msg("the interpreter is not usable after a failure: %s", err);
    sl_buf_free(&before);
    b_free(&b);
}

static char *tmp_path(const char *name)
{
    static char buf[512];
    const char *t = getenv("TMPDIR");
    snprintf(buf, sizeof(buf), "%s/sl-js-%d-%s", t && *t ? t : "/tmp", (int)getpid(), name);
    return buf;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    sl_buf_t b = SL_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) sl_buf_put(&b, chunk, n);
    fclose(f);
    sl_buf_cstr(&b);
    return b.data;
}

/* Fail with both texts when `want` is not in `got`. */
static void expect_in(const char *got, const char *want)
{
    if (!strstr(got, want)) fail_msg("got \"%s\"\nwant it to contain \"%s\"", got, want);
}

/* ---- contract --------------------------------------------------------------------- */

static void test_identity_returns_every_event_byte_for_byte(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(batch) { return batch; }");
    sl_batch_t b = {0};
    b_fill(&b, 50);
    b_add(&b, NULL, "{\"op\":\"u\",\"after\":{"
                    "\"t\":\"quote\\\" back\\\\ nl\\n tab\\t ctl\\u0001 é ☃ 😀\","
                    "\"f\":1.5,\"g\":-0.25,\"e\":1e+300,\"z\":-0,\"one\":1.0,\"inf\":1e400,"
                    "\"tiny\":-1E-400,\"long\":0.30000000000000004441,\"j\":{\"a\":[1,2.5,"
                    "\"x\",[],{}],\"n\":null,\"b\":false},\"neg\":-9223372036854775808,"
                    "\"u64\":18446744073709551615,\"huge\":123456789012345678901234567890,"
                    "\"arr\":[9223372036854775807,-1,4294967296]}}");
    sl_buf_t want = SL_BUF_INIT;
    for (uint32_t i = 0; i < b.n; i++) {
        sl_buf_put(&want, sl_event_val(&b, &b.ev[i]), b.ev[i].val_len);
        sl_buf_putc(&want, '\n');
    }
    js_ok(p, &b);
    assert_int_equal(b.n, 51);
    sl_buf_t got = SL_BUF_INIT;
    for (uint32_t i = 0; i < b.n; i++) {
        sl_buf_put(&got, sl_event_val(&b, &b.ev[i]), b.ev[i].val_len);
        sl_buf_putc(&got, '\n');
    }
    assert_string_equal(sl_buf_cstr(&got), sl_buf_cstr(&want));
    assert_string_equal(b_key(&b, 7), "{\"id\":7}");
    assert_int_equal(b.ev[50].key_len, 0);
    assert_ptr_equal(b.ev[3].table, &t_orders);
    assert_int_equal(b.ev[3].commit_us, 42);
    assert_int_equal(b.ev[50].op, 'u');
    assert_true(b.has_pos);
    assert_int_equal(b.pos.lsn, 777);
    sl_proc_stats_t st;
    js_stats(p, &st);
    assert_int_equal(st.batches, 1);
    assert_int_equal(st.events_in, 51);
    assert_int_equal(st.events_out, 51);
    sl_buf_free(&want);
    sl_buf_free(&got);
    b_free(&b);
    JS->destroy(p);
}

static void test_filter_drops_events_and_keeps_their_keys_straight(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(batch) {\n"
                        "  return batch.filter(function (e) { return e.after.id % 3 === 0; });\n"
                        "}");
    sl_batch_t b = {0};
    b_fill(&b, 10);
    js_ok(p, &b);
    assert_int_equal(b.n, 4);
    for (uint32_t i = 0; i < b.n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "{\"id\":%u}", i * 3);
        assert_string_equal(b_key(&b, i), key);
        assert_string_equal(b_val(&b, i), ev_json((int)i * 3, "c", NULL));
    }
    b_free(&b);
    JS->destroy(p);
}

static void test_mutating_in_place_changes_only_what_the_script_touched(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(batch) {\n"
                        "  batch.forEach(function (e) {\n"
                        "    e.after.name = e.after.name.toUpperCase();\n"
                        "    e.after.flag = true;\n"
                        "    delete e.transaction;\n"
                        "  });\n"
                        "  return batch;\n"
                        "}");
    sl_batch_t b = {0};
    b_fill(&b, 2);
    js_ok(p, &b);
    assert_int_equal(b.n, 2);
    /* name upper-cased, flag appended to after, transaction gone, the rest as it was */
    const char *got = b_val(&b, 1);
    assert_non_null(strstr(got, "\"name\":\"N1\",\"big\":9223372036854775807,\"flag\":true}"));
    assert_null(strstr(got, "transaction"));
    assert_non_null(strstr(got, "\"ts_ns\":1700000000130001007}"));
    assert_non_null(strstr(got, "\"ts_ns\":1700000000123456789,"));
    b_free(&b);
    JS->destroy(p);
}

static void test_null_or_undefined_result_keeps_the_mutated_input(void **state)
{
    SL_UNUSED(state);
    static const char *const scripts[] = {
        "function process(batch) { batch[0].op = 'u'; batch.pop(); return null; }",
        "function process(batch) { batch[0].op = 'u'; batch.pop(); }",
    };
    for (size_t s = 0; s < SL_ARRAY_SIZE(scripts); s++) {
        void *p = js_inline(scripts[s]);
        sl_batch_t b = {0};
        b_fill(&b, 3);
        js_ok(p, &b);
        assert_int_equal(b.n, 2);
        assert_int_equal(b.ev[0].op, 'u');
        assert_non_null(strstr(b_val(&b, 0), "\"op\":\"u\""));
        assert_string_equal(b_val(&b, 1), ev_json(1, "c", NULL));
        b_free(&b);
        JS->destroy(p);
    }
}

static void test_fan_out_adds_events_with_table_from_source_and_no_key(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(batch) {\n"
                        "  var out = [];\n"
                        "  batch.forEach(function (e) {\n"
                        "    out.push(e);\n"
                        "    var audit = JSON.parse(JSON.stringify(e));\n"
                        "    audit.source.table = 'orders_audit';\n"
                        "    audit.after.copy = e.after.big;\n"
                        "    out.push(audit);\n"
                        "  });\n"
                        "  return out;\n"
                        "}");
    sl_batch_t b = {0};
    b_fill(&b, 2);
    js_ok(p, &b);
    assert_int_equal(b.n, 4);
    assert_string_equal(b_val(&b, 0), ev_json(0, "c", NULL));
    assert_string_equal(b_key(&b, 0), "{\"id\":0}");
    assert_ptr_equal(b.ev[0].table, &t_orders);
    /* the copy: a new event (no key), its own table, and still exact numbers */
    assert_int_equal(b.ev[1].key_len, 0);
    assert_string_equal(b.ev[1].table->name, "orders_audit");
    assert_string_equal(b.ev[1].table->schema, "public");
    assert_string_equal(b.ev[1].table->db, "shop");
    assert_ptr_equal(b.ev[1].table, b.ev[3].table);   /* interned */
    assert_int_equal(b.ev[1].commit_us, 42);
    const char *v = b_val(&b, 1);
    assert_non_null(strstr(v, "\"big\":9223372036854775807,\"copy\":9223372036854775807}"));
    assert_non_null(strstr(v, "\"ts_ns\":1700000000123456789,"));
    assert_string_equal(b_key(&b, 2), "{\"id\":1}");
    b_free(&b);
    JS->destroy(p);
}

static void test_reorder_and_new_event_from_scratch(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(batch) {\n"
                        "  var r = batch.reverse();\n"
                        "  r.push({op: 'c', after: {hello: 'world'}, before: null});\n"
                        "  return r;\n"
                        "}");
    sl_batch_t b = {0};
    b_fill(&b, 3);
    js_ok(p, &b);
    assert_int_equal(b.n, 4);
    assert_string_equal(b_key(&b, 0), "{\"id\":2}");
    assert_string_equal(b_key(&b, 2), "{\"id\":0}");
    assert_string_equal(b_val(&b, 3),
                        "{\"op\":\"c\",\"after\":{\"hello\":\"world\"},\"before\":null}");
    assert_ptr_equal(b.ev[3].table, &t_orders);   /* no source: the batch's first table */
    b_free(&b);
    JS->destroy(p);
}

static void test_route_overrides_stream_topic_and_key_and_is_not_delivered(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(batch) {\n"
                        "  batch[0].route = {stream: 'vip-orders', topic: 'orders.vip',\n"
                        "                    key: 'cust-7'};\n"
                        "  batch[1].route = {key: {tenant: 'acme', id: batch[1].after.id}};\n"
                        "  batch[2].route = {key: null};\n"
                        "  batch[3].route = null;\n"
                        "  return batch;\n"
                        "}");
    sl_batch_t b = {0};
    b_fill(&b, 5);
    js_ok(p, &b);
    size_t len;
    const char *s = sl_event_route_stream(&b, &b.ev[0], &len);
    assert_non_null(s);
    assert_int_equal(len, 10);
    assert_memory_equal(s, "vip-orders", 10);
    s = sl_event_route_topic(&b, &b.ev[0], &len);
    assert_non_null(s);
    assert_memory_equal(s, "orders.vip", len);
    assert_string_equal(b_key(&b, 0), "cust-7");
    assert_string_equal(b_key(&b, 1), "{\"tenant\":\"acme\",\"id\":1}");
    assert_null(sl_event_route_stream(&b, &b.ev[1], &len));
    assert_int_equal(b.ev[2].key_len, 0);
    assert_string_equal(b_key(&b, 3), "{\"id\":3}");
    assert_string_equal(b_key(&b, 4), "{\"id\":4}");
    for (uint32_t i = 0; i < b.n; i++) {
        assert_null(strstr(b_val(&b, i), "route"));
        assert_string_equal(b_val(&b, i), ev_json((int)i, "c", NULL));
    }
    b_free(&b);
    JS->destroy(p);
}

static void test_route_survives_a_second_processor(void **state)
{
    SL_UNUSED(state);
    void *p1 = js_inline("function process(b) { b[0].route = {stream: 's1', topic: 't1'}; "
                         "return b; }");
    void *p2 = js_inline("function process(b) { b[1].route = {stream: b[0].route.stream + '-2'};"
                         " return b; }");
    sl_batch_t b = {0};
    b_fill(&b, 2);
    js_ok(p1, &b);
    js_ok(p2, &b);
    size_t len;
    const char *s = sl_event_route_stream(&b, &b.ev[0], &len);
    assert_non_null(s);
    assert_memory_equal(s, "s1", 2);
    s = sl_event_route_topic(&b, &b.ev[0], &len);
    assert_non_null(s);
    assert_memory_equal(s, "t1", 2);
    s = sl_event_route_stream(&b, &b.ev[1], &len);
    assert_non_null(s);
    assert_int_equal(len, 4);
    assert_memory_equal(s, "s1-2", 4);
    assert_string_equal(b_val(&b, 0), ev_json(0, "c", NULL));
    b_free(&b);
    JS->destroy(p1);
    JS->destroy(p2);
}

static void test_bad_route_fails_the_call(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(b) { b[0].route = {stream: ''}; return b; }");
    sl_batch_t b = {0};
    b_fill(&b, 1);
    char err[SL_ERRSTR_SIZE];
    assert_int_equal(js_run(p, &b, err, sizeof(err)), SL_ERR);
    expect_in(err, "route.stream must be a non-empty string");
    b_free(&b);
    JS->destroy(p);
}

static void test_drop_everything_keeps_the_position(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(batch) { return []; }");
    sl_batch_t b = {0};
    b_fill(&b, 4);
    js_ok(p, &b);
    assert_int_equal(b.n, 0);
    assert_true(b.has_pos);
    assert_int_equal(b.pos.lsn, 777);
    b_free(&b);
    JS->destroy(p);
}

static void test_global_state_survives_between_batches(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("var seen = 0;\n"
                        "function process(batch) {\n"
                        "  batch.forEach(function (e) { e.after.seq = ++seen; });\n"
                        "  return batch;\n"
                        "}");
    sl_batch_t b = {0};
    b_fill(&b, 3);
    js_ok(p, &b);
    b_fill(&b, 2);
    js_ok(p, &b);
    assert_non_null(strstr(b_val(&b, 1), "\"seq\":5}"));
    b_free(&b);
    JS->destroy(p);
}

static void test_process_batch_is_accepted_as_the_entry_point(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function processBatch(batch) { return batch.slice(1); }");
    sl_batch_t b = {0};
    b_fill(&b, 3);
    js_ok(p, &b);
    assert_int_equal(b.n, 2);
    b_free(&b);
    JS->destroy(p);
}

/* ---- numbers and text ------------------------------------------------------------- */

static void test_big_integers_round_trip_exactly_and_changed_ones_follow_js(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(batch) {\n"
                        "  var a = batch[0].after;\n"
                        "  a.seen = typeof a.big === 'number' && a.big > 9e18;\n"
                        "  a.changed = a.small + 1;\n"
                        "  a.moved = a.arr.shift();\n"
                        "  return batch;\n"
                        "}");
    sl_batch_t b = {0};
    b_add(&b, "{\"id\":9223372036854775807}",
          "{\"op\":\"c\",\"after\":{\"big\":9223372036854775807,\"ubig\":18446744073709551615,"
          "\"nbig\":-9223372036854775808,\"odd\":9007199254740993,\"small\":5,"
          "\"f\":0.1,\"huge\":12345678901234567890123456789012345678901234567890,"
          "\"arr\":[9007199254740993,2]}}");
    js_ok(p, &b);
    assert_string_equal(b_val(&b, 0),
        "{\"op\":\"c\",\"after\":{\"big\":9223372036854775807,\"ubig\":18446744073709551615,"
        "\"nbig\":-9223372036854775808,\"odd\":9007199254740993,\"small\":5,"
        "\"f\":0.1,\"huge\":12345678901234567890123456789012345678901234567890,"
        "\"arr\":[2],\"seen\":true,\"changed\":6,\"moved\":9007199254740993}}");
    assert_string_equal(b_key(&b, 0), "{\"id\":9223372036854775807}");
    b_free(&b);
    JS->destroy(p);
}

static void test_strings_from_surrogates_come_out_as_utf8(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(batch) {\n"
                        "  batch[0].after.smile = String.fromCharCode(0xD83D, 0xDE00);\n"
                        "  batch[0].after.lone = 'a' + String.fromCharCode(0xD800) + 'b';\n"
                        "  batch[0].after.esc = batch[0].after.in;\n"
                        "  return batch;\n"
                        "}");
    sl_batch_t b = {0};
    b_add(&b, NULL, "{\"op\":\"c\",\"after\":{\"in\":\"\\ud83d\\ude00 \\u00e9\"}}");
    js_ok(p, &b);
    assert_string_equal(b_val(&b, 0), "{\"op\":\"c\",\"after\":{\"in\":\"😀 é\",\"smile\":\"😀\","
                                      "\"lone\":\"a\\ud800b\",\"esc\":\"😀 é\"}}");
    b_free(&b);
    JS->destroy(p);
}

static void test_malformed_input_json_fails_cleanly(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(b) { return b; }");
    sl_batch_t b = {0};
    b_add(&b, NULL, "{\"op\":\"c\",\"after\":{\"x\":tru}}");
    char err[SL_ERRSTR_SIZE];
    assert_int_equal(js_run(p, &b, err, sizeof(err)), SL_ERR);
    expect_in(err, "malformed event JSON");
    js_expect_healthy(p);
    b_free(&b);
    JS->destroy(p);
}

/* ---- validation ------------------------------------------------------------------- */

static void test_syntax_error_is_rejected_at_validation_with_its_line(void **state)
{
    SL_UNUSED(state);
    void *conf;
    char *errs = js_conf("{\"id\":\"t\",\"inline\":\"function process(b) {\\n  var x = ;\\n"
                         "  return b;\\n}\"}", &conf);
    expect_in(errs, "p.inline: does not compile: SyntaxError");
    expect_in(errs, "(line 2");
    free(errs);
    js_conf_free(conf);

    /* validation compiles without running anything */
    errs = js_conf("{\"id\":\"t\",\"inline\":\"while (true) {}\"}", &conf);
    assert_string_equal(errs, "");
    free(errs);
    js_conf_free(conf);
}

/* create() error for a valid config with this script, "" when it loads. */
static char *js_create_err(const char *json)
{
    void *conf;
    char *errs = js_conf(json, &conf);
    assert_string_equal(errs, "");
    free(errs);
    char err[SL_ERRSTR_SIZE] = "";
    void *p = JS->create(conf, NULL, err, sizeof(err));
    js_conf_free(conf);
    JS->destroy(p);
    return sl_strdup(err);
}

static void test_creation_runs_the_top_level_under_the_limits(void **state)
{
    SL_UNUSED(state);
    char *err = js_create_err("{\"id\":\"t\",\"inline\":\"var x = 1;\"}");
    assert_string_equal(err, "javascript processor t (inline): defines no function "
                             "process(batch) (or processBatch(batch))");
    free(err);
    err = js_create_err("{\"id\":\"t\",\"inline\":\"\\n\\nnull.x;\\nfunction process(b) {}\"}");
    expect_in(err, "javascript processor t (inline): top-level code failed: TypeError");
    expect_in(err, "(line 3)");
    free(err);
    err = js_create_err("{\"id\":\"t\",\"inline\":\"while (true) {}\",\"limits\":"
                        "{\"timeout_ms\":50}}");
    expect_in(err, "javascript processor t (inline): top-level code failed: timeout_ms exceeded");
    free(err);
}

static void test_script_file_is_read_and_checked(void **state)
{
    SL_UNUSED(state);
    char *path = sl_strdup(tmp_path("script.js"));
    FILE *f = fopen(path, "w");
    fputs("function process(b) {\n  return b\n}\n}\n", f);
    fclose(f);
    void *conf;
    char buf[1024];
    snprintf(buf, sizeof(buf), "{\"id\":\"t\",\"file\":\"%s\"}", path);
    char *errs = js_conf(buf, &conf);
    assert_non_null(strstr(errs, "p.file: does not compile: SyntaxError"));
    assert_non_null(strstr(errs, "line 5"));
    free(errs);
    js_conf_free(conf);

    f = fopen(path, "w");
    fputs("function process(b) { return b.slice(0, 1); }\n", f);
    fclose(f);
    void *p = js_new("{\"id\":\"t\",\"file\":\"%s\"}", path);
    sl_batch_t b = {0};
    b_fill(&b, 3);
    js_ok(p, &b);
    assert_int_equal(b.n, 1);
    b_free(&b);
    JS->destroy(p);
    unlink(path);

    errs = js_conf(buf, &conf);
    assert_non_null(strstr(errs, "p.file: cannot read"));
    free(errs);
    js_conf_free(conf);
    free(path);
}

static void test_config_combinations_are_checked(void **state)
{
    SL_UNUSED(state);
    static const struct { const char *conf, *want; } cases[] = {
        {"{\"id\":\"t\"}", "p: one of inline or file is required"},
        {"{\"id\":\"t\",\"inline\":\"function process(b){}\",\"file\":\"/x.js\"}",
         "p: inline and file are mutually exclusive"},
        {"{\"id\":\"t\",\"inline\":\"function process(b){}\",\"on_error\":\"dead_letter\"}",
         "p.dead_letter: required when on_error is dead_letter"},
        {"{\"id\":\"t\",\"inline\":\"function process(b){}\",\"dead_letter\":\"file:///x\"}",
         "p.dead_letter: only used when on_error is dead_letter"},
        {"{\"id\":\"t\",\"inline\":\"function process(b){}\",\"on_error\":\"dead_letter\","
         "\"dead_letter\":\"file://relative.jsonl\"}",
         "p.dead_letter: file destination needs an absolute path (file:///dir/dead.jsonl)"},
        {"{\"id\":\"t\",\"inline\":\"function process(b){}\",\"on_error\":\"dead_letter\","
         "\"dead_letter\":\"redis://127.0.0.1:6379/0\"}",
         "p.dead_letter: missing #stream (expected file:///absolute/path or "
         "redis://[[user]:password@]host[:port][/db]#stream)"},
        {"{\"id\":\"t\",\"inline\":\"function process(b){}\",\"on_error\":\"dead_letter\","
         "\"dead_letter\":\"kafka://b:9092#dlq\"}",
         "p.dead_letter: kafka dead-letter topics are not supported yet (use redis:// or "
         "file://)"},
    };
    for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
        void *conf;
        char *errs = js_conf(cases[i].conf, &conf);
        assert_string_equal(errs, cases[i].want);
        free(errs);
        js_conf_free(conf);
    }
}

/* ---- limits ----------------------------------------------------------------------- */

static void test_runaway_loop_stops_at_timeout_and_heap_stays_usable(void **state)
{
    SL_UNUSED(state);
    void *p = js_new("{\"id\":\"t\",\"inline\":\"%s\",\"limits\":{\"timeout_ms\":200,"
                     "\"cpu_ms\":100000}}",
                     js_q("var calls = 0;\n"
                          "function process(b) {\n"
                          "  if (calls++ === 0) {\n"
                          "    try { while (true) {} } catch (e) { while (true) {} }\n"
                          "  }\n"
                          "  return b;\n"
                          "}"));
    sl_batch_t b = {0};
    b_fill(&b, 2);
    char err[SL_ERRSTR_SIZE];
    uint64_t t0 = sl_now_mono_us();
    assert_int_equal(js_run(p, &b, err, sizeof(err)), SL_ERR);
    uint64_t took = sl_now_mono_us() - t0;
    assert_true(took >= 200000 && took < 2000000);
    expect_in(err, "javascript processor t: process() failed on a batch of 2 "
                                "events: timeout_ms exceeded");
    sl_proc_stats_t st;
    js_stats(p, &st);
    assert_int_equal(st.failures, 1);
    assert_int_equal(st.limit_timeouts, 1);
    js_expect_healthy(p);
    b_free(&b);
    JS->destroy(p);
}

static void test_cpu_burner_stops_at_cpu_limit(void **state)
{
    SL_UNUSED(state);
    void *p = js_new("{\"id\":\"t\",\"inline\":\"%s\",\"limits\":{\"timeout_ms\":60000,"
                     "\"cpu_ms\":150}}",
                     js_q("var n = 0;\n"
                          "function process(b) {\n"
                          "  if (n++ === 0) { var x = 0; for (;;) x = (x * 31 + 7) % 1000003; }\n"
                          "  return b;\n"
                          "}"));
    sl_batch_t b = {0};
    b_fill(&b, 1);
    char err[SL_ERRSTR_SIZE];
    uint64_t t0 = sl_now_mono_us();
    assert_int_equal(js_run(p, &b, err, sizeof(err)), SL_ERR);
    assert_true(sl_now_mono_us() - t0 < 5000000);
    expect_in(err, "cpu_ms exceeded: the call used more than 150 ms");
    js_expect_healthy(p);
    b_free(&b);
    JS->destroy(p);
}

static void test_memory_bomb_gets_alloc_failed_not_an_oom(void **state)
{
    SL_UNUSED(state);
    void *p = js_new("{\"id\":\"t\",\"inline\":\"%s\",\"limits\":{\"mem_mb\":16,"
                     "\"cpu_ms\":10000,\"timeout_ms\":10000}}",
                     js_q("var n = 0;\n"
                          "function process(b) {\n"
                          "  n++;\n"
                          "  if (n === 1) { var a = []; for (;;) a.push({i: a.length, "
                          "v: [1, 2, 3, 4, 5, 6, 7, 8]}); }\n"
                          "  if (n === 3) { var s = 'x'; for (;;) s = s + s; }\n"
                          "  return b;\n"
                          "}"));
    sl_batch_t b = {0};
    b_fill(&b, 1);
    char err[SL_ERRSTR_SIZE];
    assert_int_equal(js_run(p, &b, err, sizeof(err)), SL_ERR);
    expect_in(err, "mem_mb exceeded: the heap reached its 16 MB cap");
    expect_in(err, "alloc failed");
    js_expect_healthy(p);
    assert_int_equal(js_run(p, &b, err, sizeof(err)), SL_ERR);   /* the doubling string */
    expect_in(err, "alloc failed");
    sl_proc_stats_t st;
    js_stats(p, &st);
    assert_int_equal(st.limit_memory, 2);
    js_expect_healthy(p);
    b_free(&b);
    JS->destroy(p);
}

static void test_memory_held_in_global_state_gets_a_fresh_interpreter(void **state)
{
    SL_UNUSED(state);
    void *p = js_new("{\"id\":\"t\",\"inline\":\"%s\",\"limits\":{\"mem_mb\":16,"
                     "\"cpu_ms\":10000,\"timeout_ms\":10000},"
                     "\"on_error\":\"skip\"}",
                     js_q("var hoard = [];\n"
                          "function process(b) {\n"
                          "  if (b[0].after.id === 0) for (;;) hoard.push({n: hoard.length});\n"
                          "  b.forEach(function (e) { e.after.hoard = hoard.length; });\n"
                          "  return b;\n"
                          "}"));
    sl_batch_t b = {0};
    b_fill(&b, 3);
    js_ok(p, &b);   /* event 0 fails alone and is skipped; 1 and 2 run on a fresh heap */
    assert_int_equal(b.n, 2);
    assert_non_null(strstr(b_val(&b, 0), "\"hoard\":0}"));
    js_expect_healthy(p);
    b_free(&b);
    JS->destroy(p);
}

static void test_sandbox_has_no_duktape_object_require_or_timers(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(b) {\n"
                        "  b[0].after.env = [typeof Duktape, typeof require, typeof setTimeout,\n"
                        "    typeof process, typeof console.log, typeof eval('1+1')].join(',');\n"
                        "  console.log('hello from', b.length, {k: 1});\n"
                        "  return b;\n"
                        "}");
    sl_batch_t b = {0};
    b_fill(&b, 1);
    js_ok(p, &b);
    assert_non_null(strstr(b_val(&b, 0), "\"env\":\"undefined,undefined,undefined,function,"
                                         "function,number\""));
    b_free(&b);
    JS->destroy(p);
}

static void test_console_is_rate_limited(void **state)
{
    SL_UNUSED(state);
    /* console.error passes the test's log level, so every line is really formatted */
    void *p = js_inline("function process(b) {\n"
                        "  var cyc = {a: 1}; cyc.self = cyc;\n"
                        "  console.error('two\\nlines', {k: [1, 2]}, cyc, null, undefined,\n"
                        "                new Error('e'), function f() {});\n"
                        "  for (var i = 0; i < 10000; i++) console.error('line', i);\n"
                        "  return b;\n"
                        "}");
    sl_batch_t b = {0};
    b_fill(&b, 1);
    uint64_t t0 = sl_now_mono_us();
    js_ok(p, &b);
    assert_true(sl_now_mono_us() - t0 < 1000000);
    b_free(&b);
    JS->destroy(p);
}

/* ---- error policies --------------------------------------------------------------- */

#define THROW_ON_3 \
    "function process(batch) {\n" \
    "  return batch.map(function (e) {\n" \
    "    if (e.after.id === 3) throw new Error('bad row ' + e.after.id);\n" \
    "    e.after.ok = true;\n" \
    "    return e;\n" \
    "  });\n" \
    "}"

static void test_throw_mid_batch_with_fail_stops_with_the_error(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline(THROW_ON_3);
    sl_batch_t b = {0};
    b_fill(&b, 6);
    char err[SL_ERRSTR_SIZE];
    assert_int_equal(js_run(p, &b, err, sizeof(err)), SL_ERR);
    assert_string_equal(err, "javascript processor t: process() failed on a batch of 6 events: "
                             "Error: bad row 3 (line 3)");
    js_expect_healthy(p);
    b_free(&b);
    JS->destroy(p);
}

static void test_throw_mid_batch_with_skip_drops_only_the_failing_event(void **state)
{
    SL_UNUSED(state);
    void *p = js_new("{\"id\":\"t\",\"inline\":\"%s\",\"on_error\":\"skip\"}", js_q(THROW_ON_3));
    sl_batch_t b = {0};
    b_fill(&b, 6);
    js_ok(p, &b);
    assert_int_equal(b.n, 5);
    static const int ids[] = {0, 1, 2, 4, 5};
    for (uint32_t i = 0; i < b.n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "{\"id\":%d}", ids[i]);
        assert_string_equal(b_key(&b, i), key);
        assert_non_null(strstr(b_val(&b, i), "\"ok\":true}"));
    }
    assert_true(b.has_pos);
    sl_proc_stats_t st;
    js_stats(p, &st);
    assert_int_equal(st.skipped, 1);
    assert_int_equal(st.failures, 2);   /* the batch, then event 3 alone */
    js_expect_healthy(p);
    b_free(&b);
    JS->destroy(p);
}

static void test_throw_mid_batch_with_dead_letter_writes_event_and_error(void **state)
{
    SL_UNUSED(state);
    char *path = sl_strdup(tmp_path("dlq/dead.jsonl"));
    void *p = js_new("{\"id\":\"t\",\"inline\":\"%s\",\"on_error\":\"dead_letter\","
                     "\"dead_letter\":\"file://%s\"}", js_q(THROW_ON_3), path);
    sl_batch_t b = {0};
    b_fill(&b, 6);
    char *want_event = sl_strdup(ev_json(3, "c", NULL));
    js_ok(p, &b);
    assert_int_equal(b.n, 5);
    char *dl = slurp(path);
    assert_non_null(dl);
    json_error_t jerr;
    json_t *rec = json_loads(dl, JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "processor")), "t");
    assert_string_equal(json_string_value(json_object_get(rec, "error")),
                        "Error: bad row 3 (line 3)");
    assert_string_equal(json_string_value(json_object_get(rec, "table")), "orders");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "key"), "id")), 3);
    /* the original event, byte for byte (jansson would round the big integers) */
    assert_non_null(strstr(dl, want_event));
    assert_int_equal(strchr(dl, '\n') - dl + 1, (long)strlen(dl));   /* one line */
    sl_proc_stats_t st;
    js_stats(p, &st);
    assert_int_equal(st.dead_lettered, 1);
    json_decref(rec);
    free(dl);
    free(want_event);
    unlink(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    free(path);
    b_free(&b);
    JS->destroy(p);
}

static void test_unwritable_dead_letter_fails_the_batch(void **state)
{
    SL_UNUSED(state);
    void *p = js_new("{\"id\":\"t\",\"inline\":\"%s\",\"on_error\":\"dead_letter\","
                     "\"dead_letter\":\"redis://127.0.0.1:1/0#dlq\"}", js_q(THROW_ON_3));
    sl_batch_t b = {0};
    b_fill(&b, 4);
    char err[SL_ERRSTR_SIZE];
    assert_int_equal(js_run(p, &b, err, sizeof(err)), SL_ERR);
    expect_in(err, "dead letter redis://127.0.0.1:1/0#dlq: 1 events not written");
    b_free(&b);
    JS->destroy(p);
}

static void test_runaway_loop_with_skip_pins_the_event_and_the_rest_goes_on(void **state)
{
    SL_UNUSED(state);
    void *p = js_new("{\"id\":\"t\",\"inline\":\"%s\",\"on_error\":\"skip\","
                     "\"limits\":{\"timeout_ms\":100}}",
                     js_q("function process(b) {\n"
                          "  b.forEach(function (e) { if (e.after.id === 1) while (true) {} });\n"
                          "  return b;\n"
                          "}"));
    sl_batch_t b = {0};
    b_fill(&b, 4);
    js_ok(p, &b);
    assert_int_equal(b.n, 3);
    assert_string_equal(b_key(&b, 1), "{\"id\":2}");
    sl_proc_stats_t st;
    js_stats(p, &st);
    assert_int_equal(st.limit_timeouts, 2);
    assert_int_equal(st.skipped, 1);
    b_free(&b);
    JS->destroy(p);
}

static void test_retry_budget_bounds_the_per_event_pass(void **state)
{
    SL_UNUSED(state);
    void *p = js_new("{\"id\":\"t\",\"inline\":\"%s\",\"on_error\":\"skip\","
                     "\"limits\":{\"timeout_ms\":100}}",
                     js_q("function process(b) { while (true) {} }"));
    sl_batch_t b = {0};
    b_fill(&b, 40);
    uint64_t t0 = sl_now_mono_us();
    js_ok(p, &b);
    uint64_t took = sl_now_mono_us() - t0;
    assert_int_equal(b.n, 0);
    assert_true(took < 3000000);   /* budget: max(1 s, 5 x 100 ms) after the first call */
    sl_proc_stats_t st;
    js_stats(p, &st);
    assert_int_equal(st.skipped, 40);
    b_free(&b);
    JS->destroy(p);
}

static void test_garbage_results_fail_with_a_clear_reason(void **state)
{
    SL_UNUSED(state);
    /* Each body runs on the first call only, so the next batch shows the heap is fine. */
    static const struct { const char *body, *want; } cases[] = {
        {"return 42;",
         "process() returned a number; expected an array of events, null or undefined"},
        {"return 'x';",
         "process() returned a string; expected an array of events, null or undefined"},
        {"return {events: b};",
         "process() returned an object; expected an array of events, null or undefined"},
        {"return [1];", "returned element #0 is a number, not an event object"},
        {"return [b[0], null];", "returned element #1 is null, not an event object"},
        {"return [{after: {}}];",
         "returned event #0 has no valid op (want \"c\", \"u\", \"d\", \"t\" or \"r\", "
         "got undefined)"},
        {"b[0].op = 'x'; return b;",
         "returned event #0 has no valid op (want \"c\", \"u\", \"d\", \"t\" or \"r\", "
         "got another string)"},
        {"var o = {op: 'c'}; o.self = o; return [o];", "TypeError: cyclic input"},
        {"return [{op: 'c', toJSON: function () { return 1; }}];",
         "returned event #0 does not serialize to a JSON object (a toJSON method?)"},
        {"b[0].route = 'x'; return b;",
         "returned event #0: route must be an object {topic, stream, key}, not a string"},
        {"var a = []; a.length = 3; return a;",
         "returned element #0 is undefined, not an event object"},
        {"var a = []; a.length = 5000000; return a;",
         "process() returned 5000000 events; at most 1048576 per call"},
    };
    for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
        char script[1024];
        snprintf(script, sizeof(script), "var first = true;\n"
                 "function process(b) { if (!first) return b; first = false; %s }",
                 cases[i].body);
        void *p = js_inline(script);
        sl_batch_t b = {0};
        b_fill(&b, 2);
        char err[SL_ERRSTR_SIZE];
        assert_int_equal(js_run(p, &b, err, sizeof(err)), SL_ERR);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
        js_expect_healthy(p);
        b_free(&b);
        JS->destroy(p);
    }
}

static void test_reassigned_entry_point_is_reported(void **state)
{
    SL_UNUSED(state);
    void *p = js_inline("function process(b) { process = 1; return b; }");
    sl_batch_t b = {0};
    b_fill(&b, 2);
    js_ok(p, &b);
    b_fill(&b, 2);
    char err[SL_ERRSTR_SIZE];
    assert_int_equal(js_run(p, &b, err, sizeof(err)), SL_ERR);
    expect_in(err, "process (or processBatch) is no longer a function");
    b_free(&b);
    JS->destroy(p);
}

static void test_garbage_with_skip_drops_only_the_events_it_cannot_pin_elsewhere(void **state)
{
    SL_UNUSED(state);
    void *p = js_new("{\"id\":\"t\",\"inline\":\"%s\",\"on_error\":\"skip\"}",
                     js_q("function process(b) {\n"
                          "  return b.map(function (e) {\n"
                          "    if (e.after.id === 1) delete e.op;\n"
                          "    return e;\n"
                          "  });\n"
                          "}"));
    sl_batch_t b = {0};
    b_fill(&b, 3);
    js_ok(p, &b);
    assert_int_equal(b.n, 2);
    assert_string_equal(b_key(&b, 0), "{\"id\":0}");
    assert_string_equal(b_key(&b, 1), "{\"id\":2}");
    b_free(&b);
    JS->destroy(p);
}

int main(void)
{
    sl_log_set_level(SL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_returns_every_event_byte_for_byte),
        cmocka_unit_test(test_filter_drops_events_and_keeps_their_keys_straight),
        cmocka_unit_test(test_mutating_in_place_changes_only_what_the_script_touched),
        cmocka_unit_test(test_null_or_undefined_result_keeps_the_mutated_input),
        cmocka_unit_test(test_fan_out_adds_events_with_table_from_source_and_no_key),
        cmocka_unit_test(test_reorder_and_new_event_from_scratch),
        cmocka_unit_test(test_route_overrides_stream_topic_and_key_and_is_not_delivered),
        cmocka_unit_test(test_route_survives_a_second_processor),
        cmocka_unit_test(test_bad_route_fails_the_call),
        cmocka_unit_test(test_drop_everything_keeps_the_position),
        cmocka_unit_test(test_global_state_survives_between_batches),
        cmocka_unit_test(test_process_batch_is_accepted_as_the_entry_point),
        cmocka_unit_test(test_big_integers_round_trip_exactly_and_changed_ones_follow_js),
        cmocka_unit_test(test_strings_from_surrogates_come_out_as_utf8),
        cmocka_unit_test(test_malformed_input_json_fails_cleanly),
        cmocka_unit_test(test_syntax_error_is_rejected_at_validation_with_its_line),
        cmocka_unit_test(test_creation_runs_the_top_level_under_the_limits),
        cmocka_unit_test(test_script_file_is_read_and_checked),
        cmocka_unit_test(test_config_combinations_are_checked),
        cmocka_unit_test(test_runaway_loop_stops_at_timeout_and_heap_stays_usable),
        cmocka_unit_test(test_cpu_burner_stops_at_cpu_limit),
        cmocka_unit_test(test_memory_bomb_gets_alloc_failed_not_an_oom),
        cmocka_unit_test(test_memory_held_in_global_state_gets_a_fresh_interpreter),
        cmocka_unit_test(test_sandbox_has_no_duktape_object_require_or_timers),
        cmocka_unit_test(test_console_is_rate_limited),
        cmocka_unit_test(test_throw_mid_batch_with_fail_stops_with_the_error),
        cmocka_unit_test(test_throw_mid_batch_with_skip_drops_only_the_failing_event),
        cmocka_unit_test(test_throw_mid_batch_with_dead_letter_writes_event_and_error),
        cmocka_unit_test(test_unwritable_dead_letter_fails_the_batch),
        cmocka_unit_test(test_runaway_loop_with_skip_pins_the_event_and_the_rest_goes_on),
        cmocka_unit_test(test_retry_budget_bounds_the_per_event_pass),
        cmocka_unit_test(test_garbage_results_fail_with_a_clear_reason),
        cmocka_unit_test(test_reassigned_entry_point_is_reported),
        cmocka_unit_test(test_garbage_with_skip_drops_only_the_events_it_cannot_pin_elsewhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
