/*
 * test_kafka_sink.c - the "kafka" sink through its ops: spec-time validation of
 * client_conf and topics, and delivery against librdkafka's mock cluster created in this
 * process (no broker process needed): keys, values, headers, tombstones, sanitized topic
 * names, oversized events, and the exactly-once checkpoint record read back.
 *
 * Sinks are created from specs parsed by the real spec layer, so defaults apply as in
 * production. The pipeline pointer is NULL here: pipeline name "sluice", no sharding.
 */
#include "sl_common.h"
#include "sl_spec.h"

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

extern const sl_sink_ops_t sl_sink_kafka;

static const sl_table_t kt_orders = {.db = "shop", .schema = "public", .name = "orders"};
static const sl_table_t kt_weird = {.db = "shop", .schema = "public", .name = "we ird$"};

/* ---- helpers ---------------------------------------------------------------------- */

#define KT_SPEC_HEAD                                                                     \
    "metadata: {name: kt}\n"                                                             \
    "spec:\n"                                                                            \
    "  source: {type: postgres, config: {id: pg, dsn: host=db, slot: s, publication: p,"  \
    " tables: [public.orders]}}\n"                                                       \
    "  sinks:\n"

static sl_spec_t *kt_parse(const char *sink_yaml, sl_errs_t *errs)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, KT_SPEC_HEAD);
    sl_buf_puts(&b, sink_yaml);
    sl_spec_t *spec = sl_spec_parse(b.data, b.len, "kt.yaml", errs);
    sl_buf_free(&b);
    return spec;
}

/* Parsing fails with a message containing needle. */
static void kt_expect_err(const char *sink_yaml, const char *needle)
{
    sl_errs_t errs = {0};
    sl_spec_t *spec = kt_parse(sink_yaml, &errs);
    assert_null(spec);
    for (size_t i = 0; i < errs.n; i++)
        if (strstr(errs.msg[i], needle)) {
            sl_errs_free(&errs);
            return;
        }
    for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "    error: %s\n", errs.msg[i]);
    sl_errs_free(&errs);
    fail_msg("no error contains \"%s\"", needle);
}

typedef struct kt_fixture {
    rd_kafka_t              *rk;       /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    char                     brokers[128];
    sl_spec_t               *spec;
    void                    *sink;
    sl_batch_t               batch;
} kt_fixture_t;

static int kt_setup(void **state)
{
    kt_fixture_t *f = calloc(1, sizeof(*f));
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!f->rk) return -1;
    f->mc = rd_kafka_mock_cluster_new(f->rk, 1);
    if (!f->mc) return -1;
    snprintf(f->brokers, sizeof(f->brokers), "%s", rd_kafka_mock_cluster_bootstraps(f->mc));
    /* one partition each: records come back in produce order */
    rd_kafka_mock_topic_create(f->mc, "kt.orders", 1, 1);
    rd_kafka_mock_topic_create(f->mc, "sluice.checkpoints", 1, 1);
    *state = f;
    return 0;
}

static int kt_teardown(void **state)
{
    kt_fixture_t *f = *state;
    if (f->sink) sl_sink_kafka.destroy(f->sink);
    if (f->spec) sl_spec_free(f->spec);
    free(f->batch.ev);
    sl_buf_free(&f->batch.arena);
    sl_buf_free(&f->batch.pos.json);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->rk);
    free(f);
    return 0;
}

/* Create and open a sink with `extra` config lines appended. */
static void kt_open(kt_fixture_t *f, const char *topic, const char *extra)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "    - type: kafka\n      config:\n        id: k\n        brokers: \"%s\"\n"
             "        topic: \"%s\"\n%s", f->brokers, topic, extra ? extra : "");
    sl_errs_t errs = {0};
    f->spec = kt_parse(yaml, &errs);
    for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "    error: %s\n", errs.msg[i]);
    sl_errs_free(&errs);
    assert_non_null(f->spec);
    char err[SL_ERRSTR_SIZE] = "";
    f->sink = sl_sink_kafka.create(f->spec->sinks[0].conf, NULL, err, sizeof(err));
    if (!f->sink) fail_msg("create: %s", err);
    int rc = sl_sink_kafka.open(f->sink, err, sizeof(err));
    if (rc != SL_OK) fail_msg("open: %d %s", rc, err);
}

static void kt_add(sl_batch_t *b, const sl_table_t *t, uint8_t op, const char *key,
                   const char *val)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->ev = realloc(b->ev, b->cap * sizeof(*b->ev));
    }
    sl_event_t *e = &b->ev[b->n++];
    memset(e, 0, sizeof(*e));
    e->table = t;
    e->shard = -1;
    e->op = op;
    e->key_off = (uint32_t)b->arena.len;
    e->key_len = key ? (uint32_t)strlen(key) : 0;
    if (key) sl_buf_puts(&b->arena, key);
    e->val_off = (uint32_t)b->arena.len;
    e->val_len = (uint32_t)strlen(val);
    sl_buf_puts(&b->arena, val);
}

static void kt_clear(sl_batch_t *b)
{
    b->n = 0;
    sl_buf_reset(&b->arena);
    b->has_pos = false;
    sl_buf_reset(&b->pos.json);
}

/* One consumed record. */
typedef struct kt_rec {
    char *key;       /* NULL: null key */
    char *val;       /* NULL: null value (tombstone) */
    char *op_hdr;    /* NULL: no sluice.op header */
    char *table_hdr;
} kt_rec_t;

static char *kt_dup(const void *p, size_t n)
{
    return p ? sl_strndup(p, n) : NULL;
}

/* Every record of partition 0 of topic, read with a read_committed consumer. */
static size_t kt_consume(kt_fixture_t *f, const char *topic, kt_rec_t *out, size_t max)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", f->brokers, err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    assert_int_equal(rd_kafka_consume_start(rkt, 0, RD_KAFKA_OFFSET_BEGINNING), 0);
    size_t n = 0;
    for (int idle = 0; idle < 100;) {
        rd_kafka_message_t *m = rd_kafka_consume(rkt, 0, 100);
        if (!m) {
            idle++;
            continue;
        }
        bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (!m->err && n < max) {
            kt_rec_t *r = &out[n++];
            r->key = kt_dup(m->key, m->key_len);
            r->val = kt_dup(m->payload, m->len);
            rd_kafka_headers_t *h = NULL;
            const void *v;
            size_t vl;
            r->op_hdr = r->table_hdr = NULL;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (!rd_kafka_header_get_last(h, "sluice.op", &v, &vl)) r->op_hdr = kt_dup(v, vl);
                if (!rd_kafka_header_get_last(h, "sluice.table", &v, &vl))
                    r->table_hdr = kt_dup(v, vl);
            }
        }
        rd_kafka_message_destroy(m);
        if (eof) break;
    }
    rd_kafka_consume_stop(rkt, 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return n;
}

static void kt_free_recs(kt_rec_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].key);
        free(r[i].val);
        free(r[i].op_hdr);
        free(r[i].table_hdr);
    }
}

static void kt_deliver_ok(kt_fixture_t *f)
{
    char err[SL_ERRSTR_SIZE] = "";
    int rc = sl_sink_kafka.deliver(f->sink, &f->batch, err, sizeof(err));
    if (rc != SL_OK) fail_msg("deliver: %d %s", rc, err);
}

/* ---- validation ------------------------------------------------------------------- */

static void test_unknown_client_property_is_a_spec_error_naming_it(void **state)
{
    SL_UNUSED(state);
    kt_expect_err("    - type: kafka\n      config: {id: k, brokers: b, topic: t, "
                  "client_conf: {no.such.thing: 1}}\n",
                  "spec.sinks[0].config.client_conf[\"no.such.thing\"]: No such "
                  "configuration property: \"no.such.thing\"");
}

static void test_invalid_client_value_is_a_spec_error_naming_it(void **state)
{
    SL_UNUSED(state);
    kt_expect_err("    - type: kafka\n      config: {id: k, brokers: b, topic: t, "
                  "client_conf: {compression.type: zip}}\n",
                  "spec.sinks[0].config.client_conf[\"compression.type\"]: Invalid value "
                  "\"zip\"");
}

static void test_transactional_id_needs_exactly_once(void **state)
{
    SL_UNUSED(state);
    kt_expect_err("    - type: kafka\n      config: {id: k, brokers: b, topic: t, "
                  "client_conf: {transactional.id: x}}\n",
                  "client_conf[\"transactional.id\"]: set exactly_once: true instead");
}

static void test_topic_placeholders_are_checked(void **state)
{
    SL_UNUSED(state);
    kt_expect_err("    - type: kafka\n      config: {id: k, brokers: b, topic: \"a.{tab}\"}\n",
                  "spec.sinks[0].config.topic: unknown placeholder '{tab}'");
    kt_expect_err("    - type: kafka\n      config: {id: k, brokers: b, topic: t, "
                  "checkpoint_topic: \"c.{table}\"}\n",
                  "spec.sinks[0].config.checkpoint_topic: placeholders are not allowed here");
    kt_expect_err("    - type: kafka\n      config: {id: k, brokers: b, topic: t, "
                  "checkpoint_topic: \"c/d\"}\n",
                  "spec.sinks[0].config.checkpoint_topic: not a valid Kafka topic name");
}

static void test_valid_client_conf_passes(void **state)
{
    SL_UNUSED(state);
    sl_errs_t errs = {0};
    sl_spec_t *spec = kt_parse("    - type: kafka\n      config: {id: k, brokers: b, "
                               "topic: \"app.{schema}.{table}\", exactly_once: true, "
                               "client_conf: {linger.ms: 0, acks: 1, "
                               "transactional.id: mine}}\n", &errs);
    for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "    error: %s\n", errs.msg[i]);
    assert_non_null(spec);
    sl_errs_free(&errs);
    sl_spec_free(spec);
}

/* ---- without a broker --------------------------------------------------------------- */

static void test_deliver_before_open_is_a_transient_failure(void **state)
{
    kt_fixture_t *f = *state;
    sl_errs_t errs = {0};
    f->spec = kt_parse("    - type: kafka\n      config: {id: k, brokers: b, topic: t}\n",
                       &errs);
    assert_non_null(f->spec);
    char err[SL_ERRSTR_SIZE] = "";
    f->sink = sl_sink_kafka.create(f->spec->sinks[0].conf, NULL, err, sizeof(err));
    assert_non_null(f->sink);
    kt_add(&f->batch, &kt_orders, SL_OP_CREATE, "{\"id\":1}", "{}");
    assert_int_equal(sl_sink_kafka.deliver(f->sink, &f->batch, err, sizeof(err)), SL_AGAIN);
    assert_string_equal(err, "kafka sink k: not connected");
    sl_buf_t ck = SL_BUF_INIT;
    assert_int_equal(sl_sink_kafka.load_checkpoint(f->sink, &ck, err, sizeof(err)), SL_OK);
    assert_int_equal(ck.len, 0);   /* at-least-once sinks keep no checkpoint */
    sl_buf_free(&ck);
}

/* ---- against the in-process mock cluster --------------------------------------------- */

static void test_delivers_key_value_headers_and_tombstones(void **state)
{
    kt_fixture_t *f = *state;
    kt_open(f, "kt.{table}", NULL);
    sl_batch_t *b = &f->batch;
    kt_add(b, &kt_orders, SL_OP_CREATE, "{\"id\":1}", "{\"op\":\"c\"}");
    kt_add(b, &kt_orders, SL_OP_UPDATE, "{\"id\":1}", "{\"op\":\"u\"}");
    kt_add(b, &kt_orders, SL_OP_DELETE, "{\"id\":1}", "{\"op\":\"d\"}");
    kt_add(b, &kt_orders, SL_OP_TRUNCATE, NULL, "{\"op\":\"t\"}");
    kt_deliver_ok(f);

    kt_rec_t r[16];
    size_t n = kt_consume(f, "kt.orders", r, 16);
    assert_int_equal(n, 5);
    const char *vals[] = {"{\"op\":\"c\"}", "{\"op\":\"u\"}", "{\"op\":\"d\"}", NULL,
                          "{\"op\":\"t\"}"};
    const char *ops[] = {"c", "u", "d", NULL, "t"};
    for (size_t i = 0; i < n; i++) {
        if (i < 4) assert_string_equal(r[i].key, "{\"id\":1}");
        else assert_null(r[i].key);
        if (vals[i]) assert_string_equal(r[i].val, vals[i]);
        else assert_null(r[i].val);   /* the tombstone */
        if (ops[i]) assert_string_equal(r[i].op_hdr, ops[i]);
        else assert_null(r[i].op_hdr);
        assert_string_equal(r[i].table_hdr, "public.orders");
    }
    kt_free_recs(r, n);
}

static void test_tombstones_false_sends_none(void **state)
{
    kt_fixture_t *f = *state;
    kt_open(f, "kt.orders", "        tombstones: false\n");
    kt_add(&f->batch, &kt_orders, SL_OP_DELETE, "{\"id\":1}", "{\"op\":\"d\"}");
    kt_deliver_ok(f);
    kt_rec_t r[4];
    size_t n = kt_consume(f, "kt.orders", r, 4);
    assert_int_equal(n, 1);
    assert_non_null(r[0].val);
    kt_free_recs(r, n);
}

static void test_rendered_topic_names_are_sanitized(void **state)
{
    kt_fixture_t *f = *state;
    kt_open(f, "kt/{schema}.{table}", NULL);
    kt_add(&f->batch, &kt_weird, SL_OP_CREATE, "{\"id\":1}", "{}");
    kt_deliver_ok(f);
    kt_rec_t r[4];
    size_t n = kt_consume(f, "kt_public.we_ird_", r, 4);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].table_hdr, "public.we ird$");
    kt_free_recs(r, n);
}

static void test_oversized_event_fails_naming_table_key_and_size(void **state)
{
    kt_fixture_t *f = *state;
    kt_open(f, "kt.orders", "        client_conf: {message.max.bytes: 1000}\n");
    char *big = malloc(5001);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    kt_add(&f->batch, &kt_orders, SL_OP_CREATE, "{\"id\":1}", "{}");
    kt_add(&f->batch, &kt_orders, SL_OP_CREATE, "{\"id\":42}", big);
    free(big);
    char err[SL_ERRSTR_SIZE] = "";
    assert_int_equal(sl_sink_kafka.deliver(f->sink, &f->batch, err, sizeof(err)), SL_ERR);
    assert_non_null(strstr(err, "kafka sink k: the event of table public.orders, key "
                                "{\"id\":42} (5009 bytes) is too large for topic kt.orders "
                                "(message.max.bytes 1000"));
    /* the sink closed itself: nothing it produced may outlive the batch */
    assert_int_equal(sl_sink_kafka.deliver(f->sink, &f->batch, err, sizeof(err)), SL_AGAIN);
}

static void test_exactly_once_checkpoint_is_read_back(void **state)
{
    kt_fixture_t *f = *state;
    kt_open(f, "kt.orders", "        exactly_once: true\n");
    char err[SL_ERRSTR_SIZE] = "";
    sl_buf_t ck = SL_BUF_INIT;
    assert_int_equal(sl_sink_kafka.load_checkpoint(f->sink, &ck, err, sizeof(err)), SL_OK);
    assert_int_equal(ck.len, 0);

    sl_batch_t *b = &f->batch;
    for (int i = 1; i <= 2; i++) {
        kt_clear(b);
        kt_add(b, &kt_orders, SL_OP_CREATE, "{\"id\":1}", "{}");
        kt_add(b, &kt_orders, SL_OP_DELETE, "{\"id\":1}", "{}");
        b->has_pos = true;
        sl_buf_printf(&b->pos.json, "{\"lsn\":\"0/%d\"}", i);
        kt_deliver_ok(f);
    }
    /* a batch inside a split source transaction commits without a checkpoint */
    kt_clear(b);
    kt_add(b, &kt_orders, SL_OP_CREATE, "{\"id\":2}", "{}");
    kt_deliver_ok(f);

    assert_int_equal(sl_sink_kafka.load_checkpoint(f->sink, &ck, err, sizeof(err)), SL_OK);
    json_t *doc = json_loadb(ck.data, ck.len, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "pipeline")), "sluice");
    assert_string_equal(json_string_value(json_object_get(doc, "sink")), "k");
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "position"),
                                                          "lsn")), "0/2");
    assert_int_equal(json_integer_value(json_object_get(doc, "events")), 2);
    /* the second transaction wrote offsets 3..5 (event, delete, tombstone) */
    json_t *offs = json_object_get(doc, "offsets");
    assert_int_equal(json_array_size(offs), 1);
    json_t *o = json_array_get(offs, 0);
    assert_string_equal(json_string_value(json_object_get(o, "topic")), "kt.orders");
    assert_int_equal(json_integer_value(json_object_get(o, "partition")), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "first")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "last")), 5);
    json_decref(doc);
    sl_buf_free(&ck);

    kt_rec_t r[8];
    size_t n = kt_consume(f, "sluice.checkpoints", r, 8);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].key, "sluice/k");
    kt_free_recs(r, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_client_property_is_a_spec_error_naming_it),
        cmocka_unit_test(test_invalid_client_value_is_a_spec_error_naming_it),
        cmocka_unit_test(test_transactional_id_needs_exactly_once),
        cmocka_unit_test(test_topic_placeholders_are_checked),
        cmocka_unit_test(test_valid_client_conf_passes),
        cmocka_unit_test_setup_teardown(test_deliver_before_open_is_a_transient_failure,
                                        kt_setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_delivers_key_value_headers_and_tombstones,
                                        kt_setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_tombstones_false_sends_none, kt_setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_rendered_topic_names_are_sanitized, kt_setup,
                                        kt_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_event_fails_naming_table_key_and_size,
                                        kt_setup, kt_teardown),
        cmocka_unit_test_setup_teardown(test_exactly_once_checkpoint_is_read_back, kt_setup,
                                        kt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
