/*
 * test_pg_decode.c - the pgoutput decoder, the PostgreSQL -> JSON type mapping and the
 * Debezium envelope: every conformance vector in ../shared/conformance (SLUICE_SHARED
 * overrides), type-mapping cases, exact envelope strings, and garbage robustness
 * (truncated prefixes and byte flips of every vector; run it under ASan).
 */
#include "sl_common.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>

#include "sl_buf.h"
#include "sl_json.h"
#include "../../sources/postgres/pg_decode.h"

/* ======================================================================================
 * Helpers
 * ==================================================================================== */

static json_t *g_vectors_root;   /* NULL when the shared directory is absent */
static char    g_vectors_path[1024];

static int group_setup(void **state)
{
    SL_UNUSED(state);
    const char *shared = getenv("SLUICE_SHARED");
    snprintf(g_vectors_path, sizeof(g_vectors_path), "%s/conformance/pgoutput_vectors.json",
             shared && *shared ? shared : "../shared");
    json_error_t jerr;
    g_vectors_root = json_load_file(g_vectors_path, 0, &jerr);
    if (!g_vectors_root)
        printf("SKIPPED: ../shared/conformance missing (%s: %s) - conformance vector tests "
               "will be skipped\n", g_vectors_path, jerr.text);
    return 0;
}

static int group_teardown(void **state)
{
    SL_UNUSED(state);
    json_decref(g_vectors_root);
    return 0;
}

/* The vectors array, or skip the calling test loudly. */
static json_t *vectors_or_skip(void)
{
    if (!g_vectors_root) {
        printf("SKIPPED: ../shared/conformance missing (%s)\n", g_vectors_path);
        skip();
    }
    json_t *v = json_object_get(g_vectors_root, "vectors");
    assert_true(json_is_array(v));
    return v;
}

static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *p = sl_malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        p[i] = (uint8_t)v;
    }
    *len = n;
    return p;
}

/* Tiny big-endian message builder for synthetic pgoutput messages. */
typedef struct {
    uint8_t b[4096];
    size_t  n;
} msgb_t;

static void mb_u8(msgb_t *m, unsigned v) { m->b[m->n++] = (uint8_t)v; }
static void mb_u16(msgb_t *m, unsigned v) { mb_u8(m, v >> 8); mb_u8(m, v); }
static void mb_u32(msgb_t *m, uint32_t v) { mb_u16(m, v >> 16); mb_u16(m, v & 0xFFFF); }
static void mb_u64(msgb_t *m, uint64_t v)
{
    mb_u32(m, (uint32_t)(v >> 32));
    mb_u32(m, (uint32_t)v);
}
static void mb_str(msgb_t *m, const char *s)
{
    memcpy(m->b + m->n, s, strlen(s) + 1);
    m->n += strlen(s) + 1;
}
static void mb_text(msgb_t *m, const char *s)
{
    mb_u8(m, 't');
    mb_u32(m, (uint32_t)strlen(s));
    memcpy(m->b + m->n, s, strlen(s));
    m->n += strlen(s);
}

static void decode_ok(sl_pg_decoder_t *d, const msgb_t *mb, sl_pg_msg_t *m)
{
    char err[SL_ERRSTR_SIZE] = "";
    int rc = sl_pg_decode(d, mb->b, mb->n, m, err, sizeof(err));
    if (rc != SL_OK) fail_msg("decode failed: %s", err);
}

/* ISO-8601 UTC of a PostgreSQL-epoch µs timestamp, as the reference decoder prints it. */
static void pg_time_iso(int64_t pg_us, char out[40])
{
    int64_t us = pg_us + INT64_C(946684800000000);
    time_t secs = (time_t)(us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000));
    long frac = (long)(us - (int64_t)secs * 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06ldZ", frac);
}

static json_t *json_text(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    return s ? s : json_string("<invalid utf-8>");
}

static json_t *render_tuple(const sl_pg_tuple_t *t)
{
    json_t *a = json_array();
    for (uint16_t i = 0; i < t->ncols; i++) {
        const sl_pg_datum_t *v = &t->cols[i];
        char kind[2] = {v->kind, 0};
        json_t *o = json_pack("{s:s}", "kind", kind);
        if (v->kind == 't' || v->kind == 'b') {
            json_object_set_new(o, "len", json_integer(v->len));
            json_object_set_new(o, "text", json_text(v->data, v->len));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static void set_lsn(json_t *o, const char *key, uint64_t lsn)
{
    char txt[24], k64[64];
    sl_pg_lsn_format(lsn, txt);
    snprintf(k64, sizeof(k64), "%s_u64", key);
    json_object_set_new(o, key, json_string(txt));
    json_object_set_new(o, k64, json_integer((json_int_t)lsn));
}

static void set_time(json_t *o, int64_t pg_us)
{
    char iso[40];
    pg_time_iso(pg_us, iso);
    json_object_set_new(o, "commit_time_pg_us", json_integer(pg_us));
    json_object_set_new(o, "commit_time", json_string(iso));
}

/* A decoded message in the shape of the vectors' decoded_by_reference objects. */
static json_t *render_msg(const sl_pg_msg_t *m, bool streamed)
{
    static const struct { char tag; const char *name; } names[] = {
        {'B', "Begin"}, {'C', "Commit"}, {'O', "Origin"}, {'R', "Relation"}, {'Y', "Type"},
        {'I', "Insert"}, {'U', "Update"}, {'D', "Delete"}, {'T', "Truncate"},
        {'M', "Message"}, {'S', "StreamStart"}, {'E', "StreamStop"}, {'c', "StreamCommit"},
        {'A', "StreamAbort"},
    };
    char tag[2] = {(char)m->kind, 0};
    json_t *o = json_pack("{s:s}", "tag", tag);
    for (size_t i = 0; i < SL_ARRAY_SIZE(names); i++)
        if (names[i].tag == (char)m->kind)
            json_object_set_new(o, "type", json_string(names[i].name));
    switch (m->kind) {
    case SL_PGM_BEGIN:
        set_lsn(o, "final_lsn", m->lsn);
        set_time(o, m->ts_pg_us);
        json_object_set_new(o, "xid", json_integer(m->xid));
        break;
    case SL_PGM_COMMIT:
    case SL_PGM_STREAM_COMMIT:
        if (m->kind == SL_PGM_STREAM_COMMIT) json_object_set_new(o, "xid", json_integer(m->xid));
        json_object_set_new(o, "flags", json_integer(m->flags));
        set_lsn(o, "commit_lsn", m->lsn);
        set_lsn(o, "end_lsn", m->end_lsn);
        set_time(o, m->ts_pg_us);
        break;
    case SL_PGM_ORIGIN:
        set_lsn(o, "commit_lsn", m->lsn);
        json_object_set_new(o, "name", json_string(m->name));
        break;
    case SL_PGM_RELATION: {
        const sl_pg_relation_t *r = m->rel;
        char ident[2] = {r->replident, 0};
        if (streamed) json_object_set_new(o, "xid", json_integer(m->xid));
        json_object_set_new(o, "relation_id", json_integer(r->relid));
        json_object_set_new(o, "namespace", json_string(r->nspname));
        json_object_set_new(o, "name", json_string(r->relname));
        json_object_set_new(o, "replica_identity", json_stringn(ident, 1));
        json_t *cols = json_array();
        for (uint16_t i = 0; i < r->ncols; i++)
            json_array_append_new(cols, json_pack("{s:i,s:s,s:I,s:i}", "flags",
                                                  r->cols[i].flags, "name", r->cols[i].name,
                                                  "type_oid", (json_int_t)r->cols[i].type_oid,
                                                  "type_modifier", r->cols[i].typmod));
        json_object_set_new(o, "columns", cols);
        break;
    }
    case SL_PGM_TYPE:
        if (streamed) json_object_set_new(o, "xid", json_integer(m->xid));
        json_object_set_new(o, "type_oid", json_integer(m->type_oid));
        json_object_set_new(o, "namespace", json_string(m->nspname));
        json_object_set_new(o, "name", json_string(m->name));
        break;
    case SL_PGM_INSERT:
    case SL_PGM_UPDATE:
    case SL_PGM_DELETE:
        if (streamed) json_object_set_new(o, "xid", json_integer(m->xid));
        json_object_set_new(o, "relation_id", json_integer(m->rel->relid));
        if (m->old_kind) {
            char k[2] = {m->old_kind, 0};
            json_object_set_new(o, "old_tuple_kind", json_string(k));
            json_object_set_new(o, "old_tuple", render_tuple(&m->old_tuple));
        }
        if (m->kind != SL_PGM_DELETE)
            json_object_set_new(o, "new_tuple", render_tuple(&m->new_tuple));
        break;
    case SL_PGM_TRUNCATE: {
        if (streamed) json_object_set_new(o, "xid", json_integer(m->xid));
        json_object_set_new(o, "option_bits", json_integer(m->trunc_options));
        json_object_set_new(o, "cascade", json_boolean(m->trunc_options & 1));
        json_object_set_new(o, "restart_identity", json_boolean(m->trunc_options & 2));
        json_t *ids = json_array();
        for (uint32_t i = 0; i < m->nrelids; i++)
            json_array_append_new(ids, json_integer(m->relids[i]));
        json_object_set_new(o, "relation_ids", ids);
        break;
    }
    case SL_PGM_MESSAGE: {
        if (streamed) json_object_set_new(o, "xid", json_integer(m->xid));
        json_object_set_new(o, "flags", json_integer(m->flags));
        json_object_set_new(o, "transactional", json_boolean(m->flags & 1));
        set_lsn(o, "lsn", m->lsn);
        json_object_set_new(o, "prefix", json_string(m->name));
        json_object_set_new(o, "content_len", json_integer(m->content_len));
        json_object_set_new(o, "content_text", json_text(m->content, m->content_len));
        char hex[512] = "";
        for (uint32_t i = 0; i < m->content_len && i < 250; i++)
            snprintf(hex + 2 * i, 3, "%02x", (unsigned char)m->content[i]);
        json_object_set_new(o, "content_hex", json_string(hex));
        break;
    }
    case SL_PGM_STREAM_START:
        json_object_set_new(o, "xid", json_integer(m->xid));
        json_object_set_new(o, "first_segment", json_integer(m->flags));
        break;
    case SL_PGM_STREAM_ABORT:
        json_object_set_new(o, "xid", json_integer(m->xid));
        json_object_set_new(o, "subxact_xid", json_integer(m->subxid));
        break;
    case SL_PGM_STREAM_STOP:
        break;
    }
    return o;
}

/* Every field of want is in got with the same value (objects recursively, arrays
 * element by element with equal length). On mismatch, path names the field. */
static bool json_subset(json_t *want, json_t *got, char *path, size_t pathsz)
{
    if (json_is_object(want)) {
        if (!json_is_object(got)) return false;
        const char *k;
        json_t *wv;
        json_object_foreach(want, k, wv) {
            size_t l = strlen(path);
            snprintf(path + l, pathsz - l, ".%s", k);
            json_t *gv = json_object_get(got, k);
            if (!gv || !json_subset(wv, gv, path, pathsz)) return false;
            path[l] = '\0';
        }
        return true;
    }
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(want) != json_array_size(got)) return false;
        for (size_t i = 0; i < json_array_size(want); i++) {
            size_t l = strlen(path);
            snprintf(path + l, pathsz - l, "[%zu]", i);
            if (!json_subset(json_array_get(want, i), json_array_get(got, i), path, pathsz))
                return false;
            path[l] = '\0';
        }
        return true;
    }
    return json_equal(want, got);
}

static void assert_subset(const char *id, const char *what, json_t *want, json_t *got)
{
    char path[512] = "";
    if (!json_subset(want, got, path, sizeof(path))) {
        char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        print_error("%s: %s differs at %s\n  want %s\n  got  %s\n", id, what, path, w, g);
        free(w);
        free(g);
        fail();
    }
}

/* Parse one JSON value our writer produced; fail the test when it is not valid JSON. */
static json_t *parse_ours(const char *p, size_t n)
{
    json_error_t jerr;
    json_t *j = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j) fail_msg("invalid JSON (%s): %.*s", jerr.text, (int)n, p);
    return j;
}

/* ======================================================================================
 * Conformance vectors
 * ==================================================================================== */

static bool is_change_tag(uint8_t t) { return t == 'I' || t == 'U' || t == 'D'; }
static bool is_stream_tag(uint8_t t) { return t == 'S' || t == 'E' || t == 'c' || t == 'A'; }

static json_t *find_vector(const char *field, const char *value)
{
    json_t *vs = json_object_get(g_vectors_root, "vectors"), *v;
    size_t i;
    json_array_foreach(vs, i, v) {
        const char *s = json_string_value(json_object_get(v, field));
        if (s && strcmp(s, value) == 0) return v;
    }
    return NULL;
}

/* The stand-alone Relation vector (not part of a transaction) for relid. */
static json_t *find_relation_vector(uint32_t relid)
{
    json_t *vs = json_object_get(g_vectors_root, "vectors"), *v;
    size_t i;
    json_array_foreach(vs, i, v) {
        json_t *ref = json_object_get(v, "decoded_by_reference");
        json_t *ctx = json_object_get(v, "context");
        if (!json_is_object(ref) || json_object_get(ctx, "part_of_sequence")) continue;
        const char *tag = json_string_value(json_object_get(ref, "tag"));
        if (tag && strcmp(tag, "R") == 0 &&
            (uint32_t)json_integer_value(json_object_get(ref, "relation_id")) == relid)
            return v;
    }
    return NULL;
}

static void feed_hex(sl_pg_decoder_t *d, const char *hex)
{
    size_t n;
    uint8_t *b = unhex(hex, &n);
    sl_pg_msg_t m;
    char err[SL_ERRSTR_SIZE] = "";
    if (sl_pg_decode(d, b, n, &m, err, sizeof(err)) != SL_OK) fail_msg("prior: %s", err);
    free(b);
}

/* Protocol version a single-message vector is decoded with. Stream messages are v2-only
 * (a v1 decoder must reject them, as test_vectors_stream_messages_need_protocol_v2
 * checks); some vectors carry protocol_version 1 because their source parser did. */
static int vector_proto(json_t *v, uint8_t tag)
{
    int proto = (int)json_integer_value(json_object_get(json_object_get(v, "context"),
                                                        "protocol_version"));
    if (proto < 1) proto = 1;
    if (is_stream_tag(tag) && proto < 2) proto = 2;
    return proto;
}

/* A decoder in the state the vector's context describes: the relation its change refers
 * to already known (from its transaction, or the stand-alone Relation vector), and a
 * Stream Start fed when the message sits inside a streamed block. */
static sl_pg_decoder_t *decoder_for(json_t *v, uint8_t tag)
{
    json_t *ctx = json_object_get(v, "context");
    json_t *ref = json_object_get(v, "decoded_by_reference");
    json_t *exp = json_object_get(v, "expect");
    sl_pg_decoder_t *d = sl_pg_decoder_new(vector_proto(v, tag));
    assert_non_null(d);
    if (is_change_tag(tag)) {
        json_t *rid = json_object_get(ref, "relation_id");
        if (!rid) rid = json_object_get(exp, "relation_id");
        assert_non_null(rid);
        const char *seq = json_string_value(json_object_get(ctx, "part_of_sequence"));
        if (seq) {
            json_t *sv = find_vector("name", seq), *h;
            size_t i;
            assert_non_null(sv);
            json_array_foreach(json_object_get(sv, "hex_messages"), i, h) {
                const char *hx = json_string_value(h);
                if (strncmp(hx, "52", 2) == 0 || strncmp(hx, "59", 2) == 0) feed_hex(d, hx);
            }
        } else {
            json_t *rv = find_relation_vector((uint32_t)json_integer_value(rid));
            if (!rv) fail_msg("%s: no Relation vector for relation %lld",
                              json_string_value(json_object_get(v, "id")),
                              (long long)json_integer_value(rid));
            feed_hex(d, json_string_value(json_object_get(rv, "hex")));
        }
    }
    if (json_is_true(json_object_get(ctx, "in_streamed_transaction"))) {
        json_t *xid = json_object_get(exp, "xid");
        if (!xid) xid = json_object_get(ref, "xid");
        msgb_t mb = {.n = 0};
        mb_u8(&mb, 'S');
        mb_u32(&mb, (uint32_t)json_integer_value(xid));
        mb_u8(&mb, 1);
        sl_pg_msg_t m;
        decode_ok(d, &mb, &m);
    }
    return d;
}

/* values_via_relation: column name -> value through sluice's type mapping. */
static json_t *values_via_relation(const sl_pg_msg_t *m)
{
    json_t *o = json_object();
    sl_buf_t b = SL_BUF_INIT;
    for (uint16_t i = 0; i < m->rel->ncols && i < m->new_tuple.ncols; i++) {
        const sl_pg_datum_t *v = &m->new_tuple.cols[i];
        sl_buf_reset(&b);
        if (v->kind == 't') sl_pg_value_json(&b, &m->rel->cols[i].type, v->data, v->len);
        else sl_buf_puts(&b, "null");
        json_object_set_new(o, m->rel->cols[i].name, parse_ours(b.data, b.len));
    }
    sl_buf_free(&b);
    return o;
}

static void check_single_vector(json_t *v, int *rejected)
{
    const char *id = json_string_value(json_object_get(v, "id"));
    json_t *ref = json_object_get(v, "decoded_by_reference");
    json_t *exp = json_object_get(v, "expect");
    size_t n;
    uint8_t *buf = unhex(json_string_value(json_object_get(v, "hex")), &n);
    sl_pg_decoder_t *d = decoder_for(v, n ? buf[0] : 0);
    bool streamed = json_is_true(json_object_get(json_object_get(v, "context"),
                                                 "in_streamed_transaction"));
    sl_pg_msg_t m;
    char err[SL_ERRSTR_SIZE] = "";
    int rc = sl_pg_decode(d, buf, n, &m, err, sizeof(err));

    if (json_object_get(ref, "error")) {
        /* The reference decoder rejects it (not spec-conformant): so must we, clearly. */
        if (rc != SL_ERR) fail_msg("%s: decoded a message the reference rejects", id);
        assert_non_null(strstr(err, "byte"));
        (*rejected)++;
    } else {
        if (rc != SL_OK) fail_msg("%s: %s", id, err);
        json_t *got = render_msg(&m, streamed);
        assert_subset(id, "decoded_by_reference", ref, got);
        json_t *exp_plain = json_deep_copy(exp);
        json_object_del(exp_plain, "values_via_relation");
        assert_subset(id, "expect", exp_plain, got);
        json_t *vals = json_object_get(exp, "values_via_relation");
        if (vals) {
            json_t *mine = values_via_relation(&m);
            if (!json_equal(vals, mine)) fail_msg("%s: values_via_relation differ", id);
            json_decref(mine);
        }
        json_decref(exp_plain);
        json_decref(got);
    }
    sl_pg_decoder_free(d);
    free(buf);
}

static void test_vectors_single_messages_match_expect_and_reference(void **state)
{
    SL_UNUSED(state);
    json_t *vs = vectors_or_skip(), *v;
    size_t i;
    int count = 0, rejected = 0;
    json_array_foreach(vs, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "kind")), "pgoutput_message")) continue;
        check_single_vector(v, &rejected);
        count++;
    }
    printf("pgoutput vectors: %d single messages passed (%d matched by decoding, %d "
           "non-conformant rejected as the reference does)\n", count, count - rejected,
           rejected);
    assert_true(count > 0);
}

/* The transaction-level expectation: changes keyed by column name with text values. */
static json_t *record_of(const sl_pg_relation_t *rel, const sl_pg_tuple_t *t)
{
    json_t *o = json_object();
    for (uint16_t i = 0; i < rel->ncols && i < t->ncols; i++) {
        const sl_pg_datum_t *v = &t->cols[i];
        json_object_set_new(o, rel->cols[i].name,
                            v->kind == 't' ? json_text(v->data, v->len) : json_null());
    }
    return o;
}

static void test_vectors_transactions_match_message_by_message(void **state)
{
    SL_UNUSED(state);
    json_t *vs = vectors_or_skip(), *v;
    size_t i;
    int txs = 0, msgs = 0;
    json_array_foreach(vs, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "kind")), "pgoutput_message_sequence"))
            continue;
        const char *id = json_string_value(json_object_get(v, "id"));
        json_t *hexes = json_object_get(v, "hex_messages");
        json_t *refs = json_object_get(v, "decoded_by_reference");
        json_t *exp = json_object_get(v, "expect");
        int proto = (int)json_integer_value(json_object_get(json_object_get(v, "context"),
                                                            "protocol_version"));
        sl_pg_decoder_t *d = sl_pg_decoder_new(proto ? proto : 1);
        json_t *changes = json_array();
        char commit_iso[40] = "";
        uint64_t end_lsn = 0;
        size_t k;
        json_t *h;
        assert_int_equal(json_array_size(hexes), json_array_size(refs));
        json_array_foreach(hexes, k, h) {
            size_t n;
            uint8_t *buf = unhex(json_string_value(h), &n);
            sl_pg_msg_t m;
            char err[SL_ERRSTR_SIZE] = "";
            if (sl_pg_decode(d, buf, n, &m, err, sizeof(err)) != SL_OK)
                fail_msg("%s message %zu: %s", id, k, err);
            json_t *got = render_msg(&m, false);
            assert_subset(id, "decoded_by_reference", json_array_get(refs, k), got);
            json_decref(got);
            json_t *rel = NULL;
            if (m.rel) rel = json_pack("[s,s]", m.rel->nspname, m.rel->relname);
            switch (m.kind) {
            case SL_PGM_BEGIN: pg_time_iso(m.ts_pg_us, commit_iso); break;
            case SL_PGM_COMMIT: end_lsn = m.end_lsn; break;
            case SL_PGM_INSERT:
                json_array_append_new(changes, json_pack("{s:s,s:O,s:o}", "op", "insert",
                                      "relation", rel, "record", record_of(m.rel, &m.new_tuple)));
                break;
            case SL_PGM_UPDATE: {
                json_t *c = json_pack("{s:s,s:O,s:o}", "op", "update", "relation", rel,
                                      "record", record_of(m.rel, &m.new_tuple));
                if (m.old_kind)
                    json_object_set_new(c, "old_record", record_of(m.rel, &m.old_tuple));
                json_array_append_new(changes, c);
                break;
            }
            case SL_PGM_DELETE:
                json_array_append_new(changes, json_pack("{s:s,s:O,s:o}", "op", "delete",
                                      "relation", rel, "old_record",
                                      record_of(m.rel, &m.old_tuple)));
                break;
            case SL_PGM_TRUNCATE:
                for (uint32_t r = 0; r < m.nrelids; r++) {
                    sl_pg_relation_t *tr = sl_pg_decoder_relation(d, m.relids[r]);
                    assert_non_null(tr);
                    json_array_append_new(changes, json_pack("{s:s,s:[s,s]}", "op", "truncate",
                                          "relation", tr->nspname, tr->relname));
                }
                break;
            default:
                break;
            }
            json_decref(rel);
            free(buf);
            msgs++;
        }
        json_t *got = json_pack("{s:s,s:o,s:I}", "commit_timestamp", commit_iso,
                                "changes", changes, "acknowledged_lsn_u64", (json_int_t)end_lsn);
        assert_subset(id, "expect", exp, got);
        json_decref(got);
        sl_pg_decoder_free(d);
        txs++;
    }
    printf("pgoutput vectors: %d transactions passed (%d messages)\n", txs, msgs);
    assert_true(txs > 0);
}

static void test_vectors_stream_messages_need_protocol_v2(void **state)
{
    SL_UNUSED(state);
    json_t *vs = vectors_or_skip(), *v;
    size_t i;
    int count = 0;
    json_array_foreach(vs, i, v) {
        const char *hex = json_string_value(json_object_get(v, "hex"));
        if (!hex) continue;
        size_t n;
        uint8_t *buf = unhex(hex, &n);
        if (n && is_stream_tag(buf[0])) {
            sl_pg_decoder_t *d = sl_pg_decoder_new(1);
            sl_pg_msg_t m;
            char err[SL_ERRSTR_SIZE] = "";
            assert_int_equal(sl_pg_decode(d, buf, n, &m, err, sizeof(err)), SL_ERR);
            assert_non_null(strstr(err, "protocol version 2"));
            assert_non_null(strstr(err, "byte 0"));
            sl_pg_decoder_free(d);
            count++;
        }
        free(buf);
    }
    assert_true(count > 0);
}

/* Strict prefixes of a valid message are never valid: the decoder must say so cleanly. */
static void check_prefixes(const char *id, sl_pg_decoder_t *d, const uint8_t *buf, size_t n)
{
    for (size_t l = 0; l < n; l++) {
        uint8_t *cut = sl_malloc(l ? l : 1);   /* exact size: ASan catches any over-read */
        memcpy(cut, buf, l);
        sl_pg_msg_t m;
        char err[SL_ERRSTR_SIZE] = "";
        int rc = sl_pg_decode(d, l ? cut : NULL, l, &m, err, sizeof(err));
        if (rc != SL_ERR) fail_msg("%s: prefix of %zu/%zu bytes decoded", id, l, n);
        if (l && !strstr(err, "byte")) fail_msg("%s: error without offset: %s", id, err);
        free(cut);
    }
}

static void test_vectors_truncated_prefixes_fail_cleanly(void **state)
{
    SL_UNUSED(state);
    json_t *vs = vectors_or_skip(), *v;
    size_t i;
    int count = 0;
    json_array_foreach(vs, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *hex = json_string_value(json_object_get(v, "hex"));
        if (hex) {
            size_t n;
            uint8_t *buf = unhex(hex, &n);
            sl_pg_decoder_t *d = decoder_for(v, buf[0]);
            check_prefixes(id, d, buf, n);
            sl_pg_decoder_free(d);
            free(buf);
            count++;
            continue;
        }
        /* A transaction: every prefix of every message in the state it arrives in; the
         * failures must leave that state alone for the full message that follows. */
        sl_pg_decoder_t *d = sl_pg_decoder_new(1);
        json_t *h;
        size_t k;
        json_array_foreach(json_object_get(v, "hex_messages"), k, h) {
            size_t n;
            uint8_t *buf = unhex(json_string_value(h), &n);
            check_prefixes(id, d, buf, n);
            sl_pg_msg_t m;
            char err[SL_ERRSTR_SIZE] = "";
            if (sl_pg_decode(d, buf, n, &m, err, sizeof(err)) != SL_OK)
                fail_msg("%s message %zu after its prefixes: %s", id, k, err);
            free(buf);
            count++;
        }
        sl_pg_decoder_free(d);
    }
    printf("pgoutput vectors: truncated prefixes of %d messages rejected\n", count);
}

static uint64_t g_rng = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* Decode a (possibly garbage) message; when it decodes as a change, the envelope of it
 * must still be valid JSON. */
static void decode_any(sl_pg_decoder_t *d, const uint8_t *buf, size_t n, sl_buf_t *out)
{
    sl_pg_msg_t m;
    char err[SL_ERRSTR_SIZE] = "";
    int rc = sl_pg_decode(d, buf, n, &m, err, sizeof(err));
    assert_true(rc == SL_OK || rc == SL_ERR);
    if (rc == SL_ERR) {
        assert_true(err[0] != '\0');
        return;
    }
    if (m.kind != SL_PGM_INSERT && m.kind != SL_PGM_UPDATE && m.kind != SL_PGM_DELETE) return;
    sl_pg_envctx_t ctx = {"fuzz", "db", "__debezium_unavailable_value", "id", 1, 2, 3, 4, 5, 0,
                          NULL};
    uint32_t ko, kl, vo, vl;
    const char *sj;
    size_t sl;
    sl_buf_reset(out);
    sl_pg_encode_change(out, &ctx, &m, 99, &ko, &kl, &vo, &vl, &sj, &sl);
    json_decref(parse_ours(out->data + vo, vl));
    if (kl) json_decref(parse_ours(out->data + ko, kl));
}

static void test_vectors_with_random_byte_flips_never_crash(void **state)
{
    SL_UNUSED(state);
    json_t *vs = vectors_or_skip(), *v;
    size_t i;
    long runs = 0;
    sl_buf_t out = SL_BUF_INIT;
    json_array_foreach(vs, i, v) {
        const char *hex = json_string_value(json_object_get(v, "hex"));
        if (!hex) continue;
        size_t n;
        uint8_t *orig = unhex(hex, &n);
        sl_pg_decoder_t *d = decoder_for(v, orig[0]);
        for (int iter = 0; iter < 400; iter++) {
            size_t len = n;
            if (rnd() % 4 == 0) len = (size_t)(rnd() % (n + 8));   /* cut or extend */
            uint8_t *buf = sl_malloc(len ? len : 1);
            for (size_t b = 0; b < len; b++) buf[b] = b < n ? orig[b] : (uint8_t)rnd();
            int flips = 1 + (int)(rnd() % 4);
            for (int f = 0; f < flips && len > 1; f++) {
                size_t at = 1 + (size_t)(rnd() % (len - 1));   /* keep the tag mostly */
                buf[at] = rnd() % 3 ? (uint8_t)rnd() : (uint8_t)(buf[at] ^ (1u << (rnd() % 8)));
            }
            if (rnd() % 16 == 0 && len) buf[0] = (uint8_t)rnd();
            decode_any(d, buf, len, &out);
            free(buf);
            runs++;
        }
        sl_pg_decoder_free(d);
        free(orig);
    }
    /* Pure garbage after each valid tag, from decoders in both stream states. */
    static const char tags[] = "BCORYIUDTMSEcA";
    for (int proto = 1; proto <= 4; proto++) {
        sl_pg_decoder_t *d = sl_pg_decoder_new(proto);
        for (int iter = 0; iter < 3000; iter++) {
            uint8_t buf[64];
            size_t len = 1 + (size_t)(rnd() % sizeof(buf));
            buf[0] = (uint8_t)tags[rnd() % (sizeof(tags) - 1)];
            for (size_t b = 1; b < len; b++) buf[b] = (uint8_t)(rnd() % 4 ? rnd() % 8 : rnd());
            decode_any(d, buf, len, &out);
            runs++;
        }
        sl_pg_decoder_free(d);
    }
    sl_buf_free(&out);
    printf("pgoutput fuzz: %ld mutated messages, no crash\n", runs);
}

/* ======================================================================================
 * Decoder behaviour
 * ==================================================================================== */

/* public.users (relid 16400): id int4 key, name text, data jsonb, avatar bytea, score
 * float8, tags text[]. */
static void mb_users_relation(msgb_t *mb, char ident, bool with_xid, uint32_t xid)
{
    mb_u8(mb, 'R');
    if (with_xid) mb_u32(mb, xid);
    mb_u32(mb, 16400);
    mb_str(mb, "public");
    mb_str(mb, "users");
    mb_u8(mb, (unsigned char)ident);
    mb_u16(mb, 6);
    static const struct { unsigned flags; const char *name; uint32_t oid; } cols[] = {
        {1, "id", 23}, {0, "name", 25}, {0, "data", 3802}, {0, "avatar", 17},
        {0, "score", 701}, {0, "tags", 1009},
    };
    for (size_t i = 0; i < SL_ARRAY_SIZE(cols); i++) {
        mb_u8(mb, ident == 'f' ? 1 : cols[i].flags);
        mb_str(mb, cols[i].name);
        mb_u32(mb, cols[i].oid);
        mb_u32(mb, 0xFFFFFFFFu);
    }
}

static sl_pg_decoder_t *users_decoder(char ident)
{
    sl_pg_decoder_t *d = sl_pg_decoder_new(1);
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_users_relation(&mb, ident, false, 0);
    decode_ok(d, &mb, &m);
    return d;
}

static void test_unknown_relation_id_is_an_error_naming_it(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = sl_pg_decoder_new(1);
    msgb_t mb = {.n = 0};
    mb_u8(&mb, 'I');
    mb_u32(&mb, 424242);
    mb_u8(&mb, 'N');
    mb_u16(&mb, 1);
    mb_text(&mb, "1");
    sl_pg_msg_t m;
    char err[SL_ERRSTR_SIZE] = "";
    assert_int_equal(sl_pg_decode(d, mb.b, mb.n, &m, err, sizeof(err)), SL_ERR);
    assert_non_null(strstr(err, "Insert"));
    assert_non_null(strstr(err, "424242"));
    sl_pg_decoder_free(d);
}

static void test_truncated_message_error_names_message_and_offset(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = sl_pg_decoder_new(1);
    static const uint8_t begin[] = {'B', 0, 0, 0, 0, 1, 2, 3, 4, 0, 0};
    sl_pg_msg_t m;
    char err[SL_ERRSTR_SIZE] = "";
    assert_int_equal(sl_pg_decode(d, begin, sizeof(begin), &m, err, sizeof(err)), SL_ERR);
    assert_string_equal(err, "pgoutput Begin: truncated at byte 9 reading commit time "
                             "(need 8 bytes, 2 left)");
    sl_pg_decoder_free(d);
}

static void test_trailing_bytes_and_unknown_tags_are_rejected(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = sl_pg_decoder_new(2);
    sl_pg_msg_t m;
    char err[SL_ERRSTR_SIZE] = "";
    static const uint8_t stop_extra[] = {'S', 0, 0, 0, 7, 1, 0xFF};
    assert_int_equal(sl_pg_decode(d, stop_extra, sizeof(stop_extra), &m, err, sizeof(err)),
                     SL_ERR);
    assert_non_null(strstr(err, "trailing"));
    static const uint8_t unknown[] = {'Z', 1, 2};
    assert_int_equal(sl_pg_decode(d, unknown, sizeof(unknown), &m, err, sizeof(err)), SL_ERR);
    assert_non_null(strstr(err, "0x5a"));
    assert_int_equal(sl_pg_decode(d, unknown, 0, &m, err, sizeof(err)), SL_ERR);
    sl_pg_decoder_free(d);
}

static void test_huge_counts_are_rejected_before_allocating(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    sl_pg_msg_t m;
    char err[SL_ERRSTR_SIZE] = "";
    msgb_t mb = {.n = 0};
    mb_u8(&mb, 'I');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'N');
    mb_u16(&mb, 65535);
    mb_u8(&mb, 'n');
    assert_int_equal(sl_pg_decode(d, mb.b, mb.n, &m, err, sizeof(err)), SL_ERR);
    assert_non_null(strstr(err, "65535 columns"));
    static const uint8_t trunc[] = {'T', 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 1};
    assert_int_equal(sl_pg_decode(d, trunc, sizeof(trunc), &m, err, sizeof(err)), SL_ERR);
    assert_non_null(strstr(err, "Truncate"));
    sl_pg_decoder_free(d);
}

static void test_relation_replacement_keeps_address_and_user(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    sl_pg_relation_t *rel = sl_pg_decoder_relation(d, 16400);
    assert_non_null(rel);
    int marker;
    rel->user = &marker;
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_users_relation(&mb, 'f', false, 0);   /* ALTER TABLE ... REPLICA IDENTITY FULL */
    decode_ok(d, &mb, &m);
    assert_ptr_equal(m.rel, rel);
    assert_ptr_equal(rel->user, &marker);
    assert_int_equal(rel->replident, 'f');
    assert_int_equal(rel->ncols, 6);
    assert_false(rel->cols[0].is_pk);   /* FULL flags every column: no key from it */
    sl_pg_decoder_free(d);                /* ASan: the replaced names/columns were freed */
}

static void test_failed_relation_decode_leaves_cache_unchanged(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    sl_pg_relation_t *rel = sl_pg_decoder_relation(d, 16400);
    msgb_t mb = {.n = 0};
    mb_users_relation(&mb, 'f', false, 0);
    sl_pg_msg_t m;
    char err[SL_ERRSTR_SIZE] = "";
    assert_int_equal(sl_pg_decode(d, mb.b, mb.n - 3, &m, err, sizeof(err)), SL_ERR);
    assert_ptr_equal(sl_pg_decoder_relation(d, 16400), rel);
    assert_int_equal(rel->replident, 'd');
    assert_string_equal(rel->cols[5].name, "tags");
    sl_pg_decoder_free(d);
}

static int g_hook_calls;
static void count_hook(void *arg, sl_pg_relation_t *rel)
{
    g_hook_calls++;
    *(uint32_t *)arg = rel->relid;
    rel->cols[1].is_pk = true;   /* the source may fix keys from the catalog */
}

static void test_relation_hook_runs_for_new_and_replaced_relations(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = sl_pg_decoder_new(1);
    uint32_t seen = 0;
    g_hook_calls = 0;
    sl_pg_decoder_set_relation_hook(d, count_hook, &seen);
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_users_relation(&mb, 'd', false, 0);
    decode_ok(d, &mb, &m);
    decode_ok(d, &mb, &m);
    assert_int_equal(g_hook_calls, 2);
    assert_int_equal(seen, 16400);
    assert_true(m.rel->cols[1].is_pk);
    sl_pg_decoder_free(d);
}

static void test_stream_block_changes_carry_xid(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = sl_pg_decoder_new(2);
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    char err[SL_ERRSTR_SIZE] = "";
    mb_u8(&mb, 'S');
    mb_u32(&mb, 900);
    mb_u8(&mb, 1);
    decode_ok(d, &mb, &m);
    assert_int_equal(m.kind, SL_PGM_STREAM_START);
    assert_int_equal(m.flags, 1);

    mb.n = 0;
    mb_users_relation(&mb, 'd', true, 901);
    decode_ok(d, &mb, &m);
    assert_int_equal(m.xid, 901);

    mb.n = 0;
    mb_u8(&mb, 'I');
    mb_u32(&mb, 901);
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'N');
    mb_u16(&mb, 1);
    mb_text(&mb, "7");
    decode_ok(d, &mb, &m);
    assert_int_equal(m.xid, 901);
    assert_int_equal(m.new_tuple.ncols, 1);

    static const uint8_t commit_in_block[] = {'c', 0, 0, 3, 132, 0};
    assert_int_equal(sl_pg_decode(d, commit_in_block, sizeof(commit_in_block), &m, err,
                                  sizeof(err)), SL_ERR);
    assert_non_null(strstr(err, "streamed block"));

    static const uint8_t stop[] = {'E'};
    assert_int_equal(sl_pg_decode(d, stop, 1, &m, err, sizeof(err)), SL_OK);
    /* Outside the block the same Insert without xid is the v1 layout again. */
    mb.n = 0;
    mb_u8(&mb, 'I');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'N');
    mb_u16(&mb, 1);
    mb_text(&mb, "8");
    decode_ok(d, &mb, &m);
    assert_int_equal(m.xid, 0);
    assert_int_equal(sl_pg_decode(d, stop, 1, &m, err, sizeof(err)), SL_ERR);
    assert_non_null(strstr(err, "without a Stream Start"));
    sl_pg_decoder_free(d);
}

static void test_stream_abort_reads_parallel_fields_in_v4(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = sl_pg_decoder_new(4);
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'A');
    mb_u32(&mb, 10);
    mb_u32(&mb, 11);
    decode_ok(d, &mb, &m);
    assert_int_equal(m.subxid, 11);
    mb_u64(&mb, 0x100000200u);
    mb_u64(&mb, 12345);
    decode_ok(d, &mb, &m);
    assert_int_equal(m.lsn, 0x100000200u);
    assert_int_equal(m.ts_pg_us, 12345);
    sl_pg_decoder_free(d);
}

/* ======================================================================================
 * Type mapping
 * ==================================================================================== */

static void check_value(uint32_t oid, const char *text, const char *want)
{
    sl_pg_type_t t = sl_pg_type_lookup(NULL, oid);
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, "#");   /* not at offset 0: converters must append, not overwrite */
    sl_pg_value_json(&b, &t, text, strlen(text));
    sl_buf_cstr(&b);
    if (strcmp(b.data + 1, want) != 0)
        fail_msg("oid %u text '%s': want %s got %s", oid, text, want, b.data + 1);
    json_decref(parse_ours(b.data + 1, b.len - 1));
    sl_buf_free(&b);
}

static void test_ints_are_exact_json_integers_over_int8_range(void **state)
{
    SL_UNUSED(state);
    check_value(20, "9223372036854775807", "9223372036854775807");
    check_value(20, "-9223372036854775808", "-9223372036854775808");
    check_value(21, "-32768", "-32768");
    check_value(23, "0", "0");
    check_value(26, "4294967295", "4294967295");
    check_value(23, "12abc", "\"12abc\"");   /* not a number: never emitted raw */
    check_value(28, "1234", "\"1234\"");     /* xid stays a string */
    check_value(29, "7", "\"7\"");           /* cid too */
}

static void test_floats_are_numbers_and_nan_infinity_strings(void **state)
{
    SL_UNUSED(state);
    check_value(701, "1.5", "1.5");
    check_value(701, "1e+300", "1e+300");
    check_value(701, "5e-324", "5e-324");
    check_value(700, "-0", "-0");
    check_value(701, "NaN", "\"NaN\"");
    check_value(701, "Infinity", "\"Infinity\"");
    check_value(700, "-Infinity", "\"-Infinity\"");
}

static void test_numeric_is_the_exact_decimal_string(void **state)
{
    SL_UNUSED(state);
    check_value(1700, "12345678901234567890.000000000001", "\"12345678901234567890.000000000001\"");
    check_value(1700, "NaN", "\"NaN\"");
    check_value(1700, "-Infinity", "\"-Infinity\"");
}

static void test_bool_maps_to_true_false(void **state)
{
    SL_UNUSED(state);
    check_value(16, "t", "true");
    check_value(16, "f", "false");
    check_value(16, "x", "\"x\"");
}

static void test_bytea_hex_and_escape_forms_become_base64(void **state)
{
    SL_UNUSED(state);
    check_value(17, "\\x", "\"\"");
    check_value(17, "\\x00", "\"AA==\"");
    check_value(17, "\\x0102", "\"AQI=\"");
    check_value(17, "\\x00015c41ff", "\"AAFcQf8=\"");
    check_value(17, "\\x00015C41FF", "\"AAFcQf8=\"");
    check_value(17, "\\000\\001\\\\A\\377", "\"AAFcQf8=\"");   /* bytea_output = escape */
    check_value(17, "abc", "\"YWJj\"");
    check_value(17, "\\x0g", "\"\\\\x0g\"");                   /* not bytea: as text */
}

static void test_json_and_jsonb_are_embedded_as_values(void **state)
{
    SL_UNUSED(state);
    check_value(3802, "{\"a\": [1, 2.5e3, null, true, \"x\\u00e9\"]}",
                 "{\"a\": [1, 2.5e3, null, true, \"x\\u00e9\"]}");
    check_value(114, " [ ] ", " [ ] ");
    check_value(114, "\"just a string\"", "\"just a string\"");
    check_value(3802, "42", "42");
    check_value(3802, "{}", "{}");
    check_value(114, "{\"a\":1,}", "\"{\\\"a\\\":1,}\"");    /* invalid: a string */
    check_value(114, "{\"a\":1} x", "\"{\\\"a\\\":1} x\"");
    check_value(114, "[1", "\"[1\"");
    check_value(114, "", "\"\"");
    check_value(114, "\"\\ud83d\\ude00\"", "\"\\ud83d\\ude00\"");
    check_value(114, "\"\\ud83d\"", "\"\\\"\\\\ud83d\\\"\"");    /* lone surrogate */
}

static void test_timestamp_gets_iso_t_separator(void **state)
{
    SL_UNUSED(state);
    check_value(1114, "2012-01-01 12:00:00", "\"2012-01-01T12:00:00\"");
    check_value(1114, "2012-01-01 12:00:00.123456", "\"2012-01-01T12:00:00.123456\"");
    check_value(1114, "294276-12-31 23:59:59.999999", "\"294276-12-31T23:59:59.999999\"");
    check_value(1114, "infinity", "\"infinity\"");
    check_value(1114, "0044-03-15 12:00:00 BC", "\"0044-03-15 12:00:00 BC\"");
    check_value(1082, "2012-01-01", "\"2012-01-01\"");
    check_value(1082, "-infinity", "\"-infinity\"");
}

static void test_timestamptz_is_converted_to_utc_with_z(void **state)
{
    SL_UNUSED(state);
    check_value(1184, "2012-01-01 12:00:00+00", "\"2012-01-01T12:00:00Z\"");
    check_value(1184, "2012-01-01 12:00:00.5+00", "\"2012-01-01T12:00:00.5Z\"");
    check_value(1184, "2012-01-01 12:00:00.5+05:30", "\"2012-01-01T06:30:00.5Z\"");
    check_value(1184, "2012-07-01 12:00:00-02:30", "\"2012-07-01T14:30:00Z\"");
    check_value(1184, "2012-12-31 23:00:00-02", "\"2013-01-01T01:00:00Z\"");
    check_value(1184, "2012-03-01 00:30:00+01", "\"2012-02-29T23:30:00Z\"");
    check_value(1184, "1850-01-01 12:00:00+00:19:32", "\"1850-01-01T11:40:28Z\"");
    check_value(1184, "infinity", "\"infinity\"");
    check_value(1184, "0044-03-15 12:00:00+00 BC", "\"0044-03-15 12:00:00+00 BC\"");
    check_value(1184, "0001-01-01 00:30:00+01", "\"0001-01-01 00:30:00+01\"");
}

static void test_arrays_one_dimensional_with_nulls_and_quotes(void **state)
{
    SL_UNUSED(state);
    check_value(1007, "{1,2,3}", "[1,2,3]");
    check_value(1007, "{}", "[]");
    check_value(1007, "{1,NULL,3}", "[1,null,3]");
    check_value(1009, "{\"a b\",\"c\\\"d\",\"e\\\\f\",NULL,\"NULL\",\"\",\" x\",null}",
                 "[\"a b\",\"c\\\"d\",\"e\\\\f\",null,\"NULL\",\"\",\" x\",null]");
    check_value(1000, "{t,f}", "[true,false]");
    check_value(1022, "{1.5,NaN,-Infinity}", "[1.5,\"NaN\",\"-Infinity\"]");
    check_value(1016, "{9223372036854775807}", "[9223372036854775807]");
    check_value(1231, "{1.10,NaN}", "[\"1.10\",\"NaN\"]");
}

static void test_arrays_multi_dimensional_and_bounds_prefix(void **state)
{
    SL_UNUSED(state);
    check_value(1007, "{{1,NULL},{3,4}}", "[[1,null],[3,4]]");
    check_value(1009, "{{a,b},{c,NULL}}", "[[\"a\",\"b\"],[\"c\",null]]");
    check_value(1007, "{{{1}}}", "[[[1]]]");
    check_value(1007, "[0:1]={1,2}", "[1,2]");
    check_value(1007, "[1:1][-2:-1]={{1,2}}", "[[1,2]]");
}

static void test_array_elements_use_the_element_mapping(void **state)
{
    SL_UNUSED(state);
    check_value(1001, "{\"\\\\x0102\",\"\\\\x\"}", "[\"AQI=\",\"\"]");
    check_value(199, "{\"{\\\"a\\\":1}\",NULL}", "[{\"a\":1},null]");
    check_value(3807, "{\"[1, 2]\"}", "[[1, 2]]");
    check_value(1185, "{\"2012-01-01 12:00:00+00\"}", "[\"2012-01-01T12:00:00Z\"]");
    check_value(1115, "{\"2012-01-01 12:00:00\"}", "[\"2012-01-01T12:00:00\"]");
    check_value(1182, "{2012-01-01,infinity}", "[\"2012-01-01\",\"infinity\"]");
    check_value(1187, "{\"1 day\",\"-00:00:01\"}", "[\"1 day\",\"-00:00:01\"]");
    check_value(2951, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
                 "[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"]");
    check_value(1020, "{(1,2),(0,0);(3,3),(1,1)}", "[\"(1,2),(0,0)\",\"(3,3),(1,1)\"]");
}

static void test_malformed_arrays_fall_back_to_strings(void **state)
{
    SL_UNUSED(state);
    check_value(1007, "{1,2", "\"{1,2\"");
    check_value(1007, "{1,,2}", "\"{1,,2}\"");
    check_value(1007, "{\"1}", "\"{\\\"1}\"");
    check_value(1007, "1,2", "\"1,2\"");
    check_value(1007, "{1}x", "\"{1}x\"");
    check_value(1007, "[1:2={1}", "\"[1:2={1}\"");
}

static void test_long_escaped_array_element_is_unescaped(void **state)
{
    SL_UNUSED(state);
    /* Past the on-stack scratch size, so the heap path runs too. */
    size_t n = 3000;
    char *text = sl_malloc(2 * n + 8), *want = sl_malloc(2 * n + 8);
    size_t t = 0, w = 0;
    text[t++] = '{';
    text[t++] = '"';
    want[w++] = '[';
    want[w++] = '"';
    for (size_t i = 0; i < n; i++) {
        text[t++] = '\\';
        text[t++] = i % 2 ? 'q' : '\\';
        if (i % 2) {
            want[w++] = 'q';
        } else {
            want[w++] = '\\';
            want[w++] = '\\';
        }
    }
    memcpy(text + t, "\"}", 3);
    memcpy(want + w, "\"]", 3);
    check_value(1009, text, want);
    free(text);
    free(want);
}

static void test_strings_are_escaped(void **state)
{
    SL_UNUSED(state);
    check_value(25, "say \"hi\"\\", "\"say \\\"hi\\\"\\\\\"");
    check_value(1043, "a\nb\tc\x01", "\"a\\nb\\tc\\u0001\"");
    check_value(25, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    check_value(25, "bad \xff", "\"bad \xef\xbf\xbd\"");
    check_value(1042, "ab  ", "\"ab  \"");
    check_value(19, "name", "\"name\"");
    check_value(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                 "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
}

static void test_other_and_unknown_types_are_text_strings(void **state)
{
    SL_UNUSED(state);
    check_value(1186, "1 day 02:00:00", "\"1 day 02:00:00\"");
    check_value(869, "10.0.0.1/8", "\"10.0.0.1/8\"");
    check_value(790, "$1,000.00", "\"$1,000.00\"");
    check_value(1083, "12:00:00", "\"12:00:00\"");
    check_value(1266, "12:00:00+02", "\"12:00:00+02\"");
    check_value(3904, "[1,10)", "\"[1,10)\"");
    check_value(22, "1 2", "\"1 2\"");
    check_value(32820, "(abcdef)", "\"(abcdef)\"");   /* a composite type: unknown */
    sl_pg_type_t t;
    assert_false(sl_pg_builtin_type(32820, &t));
}

static void test_builtin_array_oids_map_to_element_kinds(void **state)
{
    SL_UNUSED(state);
    static const struct { uint32_t oid; sl_pg_kind_t elem; char delim; } arrays[] = {
        {1000, SL_PGK_BOOL, ','},   {1001, SL_PGK_BYTEA, ','},  {1002, SL_PGK_STRING, ','},
        {1003, SL_PGK_STRING, ','}, {1005, SL_PGK_INT, ','},    {1007, SL_PGK_INT, ','},
        {1009, SL_PGK_STRING, ','}, {1014, SL_PGK_STRING, ','}, {1015, SL_PGK_STRING, ','},
        {1016, SL_PGK_INT, ','},    {1021, SL_PGK_FLOAT, ','},  {1022, SL_PGK_FLOAT, ','},
        {1028, SL_PGK_INT, ','},    {1115, SL_PGK_TIMESTAMP, ','}, {1182, SL_PGK_DATE, ','},
        {1183, SL_PGK_STRING, ','}, {1185, SL_PGK_TIMESTAMPTZ, ','},
        {1187, SL_PGK_STRING, ','}, {1231, SL_PGK_NUMERIC, ','}, {1270, SL_PGK_STRING, ','},
        {2951, SL_PGK_STRING, ','}, {199, SL_PGK_JSON, ','},    {3807, SL_PGK_JSON, ','},
        {791, SL_PGK_STRING, ','},  {1020, SL_PGK_STRING, ';'},
    };
    for (size_t i = 0; i < SL_ARRAY_SIZE(arrays); i++) {
        sl_pg_type_t t;
        assert_true(sl_pg_builtin_type(arrays[i].oid, &t));
        assert_int_equal(t.kind, SL_PGK_ARRAY);
        assert_int_equal(t.elem_kind, arrays[i].elem);
        assert_int_equal(t.delim, arrays[i].delim);
    }
    sl_pg_type_t t;
    assert_true(sl_pg_builtin_type(1184, &t));
    assert_int_equal(t.kind, SL_PGK_TIMESTAMPTZ);
    assert_true(sl_pg_builtin_type(3802, &t));
    assert_int_equal(t.kind, SL_PGK_JSON);
}

static void test_registered_type_re_resolves_cached_columns(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = sl_pg_decoder_new(1);
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'R');
    mb_u32(&mb, 5000);
    mb_str(&mb, "public");
    mb_str(&mb, "t");
    mb_u8(&mb, 'd');
    mb_u16(&mb, 1);
    mb_u8(&mb, 0);
    mb_str(&mb, "moods");
    mb_u32(&mb, 40001);   /* an array of an enum */
    mb_u32(&mb, 0xFFFFFFFFu);
    decode_ok(d, &mb, &m);
    assert_int_equal(m.rel->cols[0].type.kind, SL_PGK_STRING);
    sl_pg_type_t t = {40001, SL_PGK_ARRAY, SL_PGK_STRING, ','};
    sl_pg_decoder_register_type(d, &t);
    assert_int_equal(m.rel->cols[0].type.kind, SL_PGK_ARRAY);
    assert_int_equal(sl_pg_type_lookup(d, 40001).kind, SL_PGK_ARRAY);
    assert_int_equal(sl_pg_type_lookup(d, 40002).kind, SL_PGK_STRING);
    /* built-ins win over registrations */
    sl_pg_type_t bogus = {23, SL_PGK_STRING, SL_PGK_STRING, ','};
    sl_pg_decoder_register_type(d, &bogus);
    assert_int_equal(sl_pg_type_lookup(d, 23).kind, SL_PGK_INT);
    sl_pg_decoder_free(d);
}

static void test_value_json_is_valid_for_random_text(void **state)
{
    SL_UNUSED(state);
    static const sl_pg_kind_t kinds[] = {
        SL_PGK_STRING, SL_PGK_BOOL, SL_PGK_INT, SL_PGK_FLOAT, SL_PGK_NUMERIC, SL_PGK_BYTEA,
        SL_PGK_JSON, SL_PGK_DATE, SL_PGK_TIMESTAMP, SL_PGK_TIMESTAMPTZ, SL_PGK_ARRAY,
    };
    static const char alphabet[] = "{}[]\",\\:;0123456789 -+.eE:xNULtrufalsn\x01\xc3\xa9\xff";
    sl_buf_t b = SL_BUF_INIT;
    for (int iter = 0; iter < 40000; iter++) {
        char text[48];
        size_t n = (size_t)(rnd() % sizeof(text));
        for (size_t i = 0; i < n; i++) text[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
        sl_pg_type_t t = {0, kinds[rnd() % SL_ARRAY_SIZE(kinds)],
                          kinds[rnd() % SL_ARRAY_SIZE(kinds)], rnd() % 2 ? ',' : ';'};
        sl_buf_reset(&b);
        sl_pg_value_json(&b, &t, text, n);
        json_error_t jerr;
        json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL |
                                              JSON_DECODE_INT_AS_REAL, &jerr);
        /* jansson refuses numbers beyond double range that are still valid JSON */
        if (!j && !strstr(jerr.text, "overflow"))
            fail_msg("kind %d/%d text '%.*s' gave invalid JSON %.*s (%s)", t.kind,
                     t.elem_kind, (int)n, text, (int)b.len, b.data, jerr.text);
        json_decref(j);
    }
    sl_buf_free(&b);
}

/* ======================================================================================
 * The Debezium envelope
 * ==================================================================================== */

/* commit at 2019-07-19T19:39:45.226062Z (PG µs 616880385226062), processed at unix µs
 * 1700000000123456, xid 669, commit LSN 11408048696. */
#define ENV_SOURCE(seq, lsn, table)                                                        \
    "\"source\":{\"version\":\"" SL_VERSION "\",\"connector\":\"postgresql\","             \
    "\"name\":\"pipe\",\"ts_ms\":1563565185226,\"snapshot\":\"false\",\"db\":\"shop\","    \
    "\"sequence\":\"" seq "\",\"ts_us\":1563565185226062,\"ts_ns\":1563565185226062000,"   \
    "\"schema\":\"public\",\"table\":\"" table "\",\"txId\":669,\"lsn\":" lsn ","          \
    "\"xmin\":null}"
#define ENV_TAIL(op, total, dco)                                                           \
    "\"op\":\"" op "\",\"ts_ms\":1700000000123,\"ts_us\":1700000000123456,"                \
    "\"ts_ns\":1700000000123456000,\"transaction\":{\"id\":\"669:11408048696\","           \
    "\"total_order\":" total ",\"data_collection_order\":" dco "}}"

static sl_pg_envctx_t env_ctx(void)
{
    sl_pg_envctx_t ctx = {
        .pipeline = "pipe", .db = "shop", .unavailable_value = "__debezium_unavailable_value",
        .shard_key = NULL, .xid = 669, .commit_lsn = 11408048696u, .last_commit_lsn = 0,
        .commit_ts_pg_us = 616880385226062, .now_unix_us = 1700000000123456u, .total_order = 0,
    };
    return ctx;
}

typedef struct {
    sl_buf_t    out;
    uint32_t    ko, kl, vo, vl;
    const char *shard;
    size_t      shard_len;
} enc_t;

static void encode(enc_t *e, sl_pg_envctx_t *ctx, const sl_pg_msg_t *m, uint64_t lsn)
{
    sl_buf_reset(&e->out);
    sl_buf_puts(&e->out, "previous batch content;");   /* offsets are into the arena */
    sl_pg_encode_change(&e->out, ctx, m, lsn, &e->ko, &e->kl, &e->vo, &e->vl, &e->shard,
                        &e->shard_len);
    sl_buf_cstr(&e->out);
    json_decref(parse_ours(e->out.data + e->vo, e->vl));
    if (e->kl) json_decref(parse_ours(e->out.data + e->ko, e->kl));
}

static void assert_key(const enc_t *e, const char *want)
{
    if (!want) {
        assert_int_equal(e->kl, 0);
        return;
    }
    if (e->kl != strlen(want) || memcmp(e->out.data + e->ko, want, e->kl))
        fail_msg("key: want %s got %.*s", want, (int)e->kl, e->out.data + e->ko);
}

static void assert_value(const enc_t *e, const char *want)
{
    if (e->vl != strlen(want) || memcmp(e->out.data + e->vo, want, e->vl))
        fail_msg("value:\nwant %s\ngot  %.*s", want, (int)e->vl, e->out.data + e->vo);
}

/* Users row: id, name, data, avatar, score, tags. */
static void mb_users_row(msgb_t *mb, const char *id, const char *name)
{
    mb_u16(mb, 6);
    mb_text(mb, id);
    mb_text(mb, name);
    mb_text(mb, "{\"vip\": true}");
    mb_text(mb, "\\x0102");
    mb_text(mb, "NaN");
    mb_text(mb, "{a,NULL}");
}

#define USERS_ROW(id, name)                                                                \
    "{\"id\":" id ",\"name\":\"" name "\",\"data\":{\"vip\": true},\"avatar\":\"AQI=\","   \
    "\"score\":\"NaN\",\"tags\":[\"a\",null]}"

static void test_envelope_insert(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'I');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'N');
    mb_users_row(&mb, "1", "Ann \\\"A\\\"");
    decode_ok(d, &mb, &m);
    sl_pg_envctx_t ctx = env_ctx();
    enc_t e = {.out = SL_BUF_INIT};
    encode(&e, &ctx, &m, 11408048500u);
    assert_key(&e, "{\"id\":1}");
    assert_value(&e, "{\"before\":null,\"after\":" USERS_ROW("1", "Ann \\\\\\\"A\\\\\\\"") ","
                     ENV_SOURCE("[null,\\\"11408048500\\\"]", "11408048500", "users") ","
                     ENV_TAIL("c", "1", "1"));
    assert_null(e.shard);
    sl_buf_free(&e.out);
    sl_pg_decoder_free(d);
}

static void test_envelope_update_without_old_tuple_has_null_before(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'U');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'N');
    mb_users_row(&mb, "1", "Bob");
    decode_ok(d, &mb, &m);
    sl_pg_envctx_t ctx = env_ctx();
    ctx.last_commit_lsn = 11408000000u;
    enc_t e = {.out = SL_BUF_INIT};
    encode(&e, &ctx, &m, 11408048600u);
    assert_key(&e, "{\"id\":1}");
    assert_value(&e, "{\"before\":null,\"after\":" USERS_ROW("1", "Bob") ","
                     ENV_SOURCE("[\\\"11408000000\\\",\\\"11408048600\\\"]", "11408048600",
                                "users") ","
                     ENV_TAIL("u", "1", "1"));
    sl_buf_free(&e.out);
    sl_pg_decoder_free(d);
}

static void test_envelope_update_with_key_old_tuple(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'U');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'K');   /* the key changed: old key columns, others null */
    mb_u16(&mb, 6);
    mb_text(&mb, "1");
    for (int i = 0; i < 5; i++) mb_u8(&mb, 'n');
    mb_u8(&mb, 'N');
    mb_users_row(&mb, "2", "Bob");
    decode_ok(d, &mb, &m);
    sl_pg_envctx_t ctx = env_ctx();
    enc_t e = {.out = SL_BUF_INIT};
    encode(&e, &ctx, &m, 11408048600u);
    assert_key(&e, "{\"id\":2}");
    size_t len = e.out.len;
    assert_true(sl_pg_key_changed(&e.out, &ctx, &m));   /* {"id":1} -> {"id":2} */
    assert_int_equal(e.out.len, len);                    /* scratch left as it was */
    assert_value(&e, "{\"before\":{\"id\":1,\"name\":null,\"data\":null,\"avatar\":null,"
                     "\"score\":null,\"tags\":null},\"after\":" USERS_ROW("2", "Bob") ","
                     ENV_SOURCE("[null,\\\"11408048600\\\"]", "11408048600", "users") ","
                     ENV_TAIL("u", "1", "1"));
    sl_buf_free(&e.out);
    sl_pg_decoder_free(d);
}

static void test_envelope_update_full_identity_has_whole_old_row(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('f');
    sl_pg_decoder_relation(d, 16400)->cols[0].is_pk = true;   /* the source's catalog fix */
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'U');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'O');
    mb_users_row(&mb, "1", "Ann");
    mb_u8(&mb, 'N');
    mb_users_row(&mb, "1", "Bob");
    decode_ok(d, &mb, &m);
    sl_pg_envctx_t ctx = env_ctx();
    enc_t e = {.out = SL_BUF_INIT};
    encode(&e, &ctx, &m, 11408048600u);
    assert_key(&e, "{\"id\":1}");
    assert_false(sl_pg_key_changed(&e.out, &ctx, &m));  /* same key, other columns changed */
    m.new_tuple.cols[0].data = "3";   /* now the key differs too ("1" -> "3") */
    assert_true(sl_pg_key_changed(&e.out, &ctx, &m));
    m.new_tuple.cols[0].data = "1";
    assert_value(&e, "{\"before\":" USERS_ROW("1", "Ann") ",\"after\":" USERS_ROW("1", "Bob")
                     "," ENV_SOURCE("[null,\\\"11408048600\\\"]", "11408048600", "users") ","
                     ENV_TAIL("u", "1", "1"));
    sl_buf_free(&e.out);
    sl_pg_decoder_free(d);
}

static void test_envelope_delete_with_key_tuple(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'D');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'K');
    mb_u16(&mb, 6);
    mb_text(&mb, "7");
    for (int i = 0; i < 5; i++) mb_u8(&mb, 'n');
    decode_ok(d, &mb, &m);
    sl_pg_envctx_t ctx = env_ctx();
    enc_t e = {.out = SL_BUF_INIT};
    encode(&e, &ctx, &m, 11408048600u);
    assert_key(&e, "{\"id\":7}");
    assert_value(&e, "{\"before\":{\"id\":7,\"name\":null,\"data\":null,\"avatar\":null,"
                     "\"score\":null,\"tags\":null},\"after\":null,"
                     ENV_SOURCE("[null,\\\"11408048600\\\"]", "11408048600", "users") ","
                     ENV_TAIL("d", "1", "1"));
    sl_buf_free(&e.out);
    sl_pg_decoder_free(d);
}

static void test_envelope_delete_full_identity_has_whole_old_row(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('f');
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'D');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'O');
    mb_users_row(&mb, "7", "Eve");
    decode_ok(d, &mb, &m);
    sl_pg_envctx_t ctx = env_ctx();
    enc_t e = {.out = SL_BUF_INIT};
    encode(&e, &ctx, &m, 11408048600u);
    assert_key(&e, NULL);   /* FULL without the source's pk fix: no key known */
    assert_value(&e, "{\"before\":" USERS_ROW("7", "Eve") ",\"after\":null,"
                     ENV_SOURCE("[null,\\\"11408048600\\\"]", "11408048600", "users") ","
                     ENV_TAIL("d", "1", "1"));
    sl_buf_free(&e.out);
    sl_pg_decoder_free(d);
}

static void test_envelope_delete_with_identity_nothing_has_null_before(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('n');
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'D');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'K');
    mb_u16(&mb, 6);
    for (int i = 0; i < 6; i++) mb_u8(&mb, 'n');
    decode_ok(d, &mb, &m);
    sl_pg_envctx_t ctx = env_ctx();
    enc_t e = {.out = SL_BUF_INIT};
    encode(&e, &ctx, &m, 11408048600u);
    assert_key(&e, NULL);
    assert_value(&e, "{\"before\":null,\"after\":null,"
                     ENV_SOURCE("[null,\\\"11408048600\\\"]", "11408048600", "users") ","
                     ENV_TAIL("d", "1", "1"));
    sl_buf_free(&e.out);
    sl_pg_decoder_free(d);
}

static void test_envelope_unchanged_toast_uses_placeholder(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'U');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'N');
    mb_u16(&mb, 6);
    mb_text(&mb, "3");
    mb_text(&mb, "Cy");
    mb_u8(&mb, 'u');
    mb_u8(&mb, 'u');
    mb_u8(&mb, 'n');
    mb_u8(&mb, 'u');
    decode_ok(d, &mb, &m);
    sl_pg_envctx_t ctx = env_ctx();
    enc_t e = {.out = SL_BUF_INIT};
    encode(&e, &ctx, &m, 11408048600u);
    assert_key(&e, "{\"id\":3}");
    assert_value(&e, "{\"before\":null,\"after\":{\"id\":3,\"name\":\"Cy\","
                     "\"data\":\"__debezium_unavailable_value\","
                     "\"avatar\":\"__debezium_unavailable_value\",\"score\":null,"
                     "\"tags\":\"__debezium_unavailable_value\"},"
                     ENV_SOURCE("[null,\\\"11408048600\\\"]", "11408048600", "users") ","
                     ENV_TAIL("u", "1", "1"));
    sl_buf_free(&e.out);
    sl_pg_decoder_free(d);
}

static void test_envelope_table_without_key_has_null_key(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = sl_pg_decoder_new(1);
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'R');
    mb_u32(&mb, 77);
    mb_str(&mb, "audit");
    mb_str(&mb, "log");
    mb_u8(&mb, 'd');
    mb_u16(&mb, 1);
    mb_u8(&mb, 0);
    mb_str(&mb, "line");
    mb_u32(&mb, 25);
    mb_u32(&mb, 0xFFFFFFFFu);
    decode_ok(d, &mb, &m);
    mb.n = 0;
    mb_u8(&mb, 'I');
    mb_u32(&mb, 77);
    mb_u8(&mb, 'N');
    mb_u16(&mb, 1);
    mb_text(&mb, "hello");
    decode_ok(d, &mb, &m);
    sl_pg_envctx_t ctx = env_ctx();
    enc_t e = {.out = SL_BUF_INIT};
    encode(&e, &ctx, &m, 5);
    assert_key(&e, NULL);
    assert_value(&e, "{\"before\":null,\"after\":{\"line\":\"hello\"},"
                     "\"source\":{\"version\":\"" SL_VERSION "\",\"connector\":\"postgresql\","
                     "\"name\":\"pipe\",\"ts_ms\":1563565185226,\"snapshot\":\"false\","
                     "\"db\":\"shop\",\"sequence\":\"[null,\\\"5\\\"]\","
                     "\"ts_us\":1563565185226062,\"ts_ns\":1563565185226062000,"
                     "\"schema\":\"audit\",\"table\":\"log\",\"txId\":669,\"lsn\":5,"
                     "\"xmin\":null}," ENV_TAIL("c", "1", "1"));
    sl_buf_free(&e.out);
    sl_pg_decoder_free(d);
}

static void test_envelope_truncate(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    sl_pg_envctx_t ctx = env_ctx();
    sl_buf_t out = SL_BUF_INIT;
    uint32_t vo, vl;
    sl_buf_puts(&out, "x");
    sl_pg_encode_truncate(&out, &ctx, sl_pg_decoder_relation(d, 16400), 11408048700u, &vo, &vl);
    const char *want = "{\"before\":null,\"after\":null,"
                       ENV_SOURCE("[null,\\\"11408048700\\\"]", "11408048700", "users") ","
                       ENV_TAIL("t", "1", "1");
    assert_int_equal(vo, 1);
    if (vl != strlen(want) || memcmp(out.data + vo, want, vl))
        fail_msg("want %s\ngot  %.*s", want, (int)vl, out.data + vo);
    sl_buf_free(&out);
    sl_pg_decoder_free(d);
}

static void test_envelope_orders_count_per_transaction_and_relation(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'R');
    mb_u32(&mb, 77);
    mb_str(&mb, "audit");
    mb_str(&mb, "log");
    mb_u8(&mb, 'd');
    mb_u16(&mb, 0);
    decode_ok(d, &mb, &m);
    sl_pg_relation_t *users = sl_pg_decoder_relation(d, 16400);
    sl_pg_relation_t *log = sl_pg_decoder_relation(d, 77);
    sl_pg_envctx_t ctx = env_ctx();
    sl_buf_t out = SL_BUF_INIT;
    uint32_t vo, vl;
    const sl_pg_relation_t *seq[] = {users, log, users, users, log};
    const char *want[][2] = {{"1", "1"}, {"2", "1"}, {"3", "2"}, {"4", "3"}, {"5", "2"}};
    for (size_t i = 0; i < SL_ARRAY_SIZE(seq); i++) {
        sl_buf_reset(&out);
        sl_pg_encode_truncate(&out, &ctx, seq[i], 1, &vo, &vl);
        char expect[96];
        snprintf(expect, sizeof(expect), "\"total_order\":%s,\"data_collection_order\":%s}}",
                 want[i][0], want[i][1]);
        sl_buf_cstr(&out);
        assert_non_null(strstr(out.data, expect));
    }
    /* The next transaction starts both counters again. */
    ctx.xid = 670;
    ctx.total_order = 0;
    sl_buf_reset(&out);
    sl_pg_encode_truncate(&out, &ctx, log, 1, &vo, &vl);
    sl_buf_cstr(&out);
    assert_non_null(strstr(out.data, "\"total_order\":1,\"data_collection_order\":1}}"));
    sl_buf_free(&out);
    sl_pg_decoder_free(d);
}

static void test_envelope_shard_points_at_column_json(void **state)
{
    SL_UNUSED(state);
    sl_pg_decoder_t *d = users_decoder('d');
    msgb_t mb = {.n = 0};
    sl_pg_msg_t m;
    mb_u8(&mb, 'I');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'N');
    mb_users_row(&mb, "1", "Ann");
    decode_ok(d, &mb, &m);
    sl_pg_envctx_t ctx = env_ctx();
    ctx.shard_key = "name";
    enc_t e = {.out = SL_BUF_INIT};
    encode(&e, &ctx, &m, 1);
    assert_non_null(e.shard);
    assert_int_equal(e.shard_len, 5);
    assert_memory_equal(e.shard, "\"Ann\"", 5);
    assert_true(e.shard > e.out.data + e.vo && e.shard < e.out.data + e.vo + e.vl);

    mb.n = 0;   /* a delete takes the shard value from before */
    mb_u8(&mb, 'D');
    mb_u32(&mb, 16400);
    mb_u8(&mb, 'K');
    mb_u16(&mb, 6);
    mb_text(&mb, "9");
    for (int i = 0; i < 5; i++) mb_u8(&mb, 'n');
    decode_ok(d, &mb, &m);
    ctx.shard_key = "id";
    encode(&e, &ctx, &m, 2);
    assert_int_equal(e.shard_len, 1);
    assert_memory_equal(e.shard, "9", 1);
    ctx.shard_key = "nope";
    encode(&e, &ctx, &m, 3);
    assert_null(e.shard);
    sl_buf_free(&e.out);
    sl_pg_decoder_free(d);
}

static void test_lsn_format_and_parse_round_trip(void **state)
{
    SL_UNUSED(state);
    char txt[24];
    sl_pg_lsn_format(0x16B374D848u, txt);
    assert_string_equal(txt, "16/B374D848");
    sl_pg_lsn_format(0, txt);
    assert_string_equal(txt, "0/0");
    sl_pg_lsn_format(UINT64_MAX, txt);
    assert_string_equal(txt, "FFFFFFFF/FFFFFFFF");
    uint64_t lsn;
    assert_int_equal(sl_pg_lsn_parse("16/B374D848", &lsn), SL_OK);
    assert_true(lsn == 0x16B374D848u);
    assert_int_equal(sl_pg_lsn_parse("ffffffff/ffffffff", &lsn), SL_OK);
    assert_true(lsn == UINT64_MAX);
}

static void test_lsn_parse_rejects_malformed_text(void **state)
{
    SL_UNUSED(state);
    static const char *bad[] = {"", "/", "1/", "/1", "1/2/3", "123456789/0", "0/123456789",
                                "g/1", "1 /2", "1/2 ", "-1/2", "12"};
    uint64_t lsn = 42;
    for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++)
        if (sl_pg_lsn_parse(bad[i], &lsn) != SL_ERR) fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(sl_pg_lsn_parse(NULL, &lsn), SL_ERR);
    assert_true(lsn == 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_single_messages_match_expect_and_reference),
        cmocka_unit_test(test_vectors_transactions_match_message_by_message),
        cmocka_unit_test(test_vectors_stream_messages_need_protocol_v2),
        cmocka_unit_test(test_vectors_truncated_prefixes_fail_cleanly),
        cmocka_unit_test(test_vectors_with_random_byte_flips_never_crash),
        cmocka_unit_test(test_unknown_relation_id_is_an_error_naming_it),
        cmocka_unit_test(test_truncated_message_error_names_message_and_offset),
        cmocka_unit_test(test_trailing_bytes_and_unknown_tags_are_rejected),
        cmocka_unit_test(test_huge_counts_are_rejected_before_allocating),
        cmocka_unit_test(test_relation_replacement_keeps_address_and_user),
        cmocka_unit_test(test_failed_relation_decode_leaves_cache_unchanged),
        cmocka_unit_test(test_relation_hook_runs_for_new_and_replaced_relations),
        cmocka_unit_test(test_stream_block_changes_carry_xid),
        cmocka_unit_test(test_stream_abort_reads_parallel_fields_in_v4),
        cmocka_unit_test(test_ints_are_exact_json_integers_over_int8_range),
        cmocka_unit_test(test_floats_are_numbers_and_nan_infinity_strings),
        cmocka_unit_test(test_numeric_is_the_exact_decimal_string),
        cmocka_unit_test(test_bool_maps_to_true_false),
        cmocka_unit_test(test_bytea_hex_and_escape_forms_become_base64),
        cmocka_unit_test(test_json_and_jsonb_are_embedded_as_values),
        cmocka_unit_test(test_timestamp_gets_iso_t_separator),
        cmocka_unit_test(test_timestamptz_is_converted_to_utc_with_z),
        cmocka_unit_test(test_arrays_one_dimensional_with_nulls_and_quotes),
        cmocka_unit_test(test_arrays_multi_dimensional_and_bounds_prefix),
        cmocka_unit_test(test_array_elements_use_the_element_mapping),
        cmocka_unit_test(test_malformed_arrays_fall_back_to_strings),
        cmocka_unit_test(test_long_escaped_array_element_is_unescaped),
        cmocka_unit_test(test_strings_are_escaped),
        cmocka_unit_test(test_other_and_unknown_types_are_text_strings),
        cmocka_unit_test(test_builtin_array_oids_map_to_element_kinds),
        cmocka_unit_test(test_registered_type_re_resolves_cached_columns),
        cmocka_unit_test(test_value_json_is_valid_for_random_text),
        cmocka_unit_test(test_envelope_insert),
        cmocka_unit_test(test_envelope_update_without_old_tuple_has_null_before),
        cmocka_unit_test(test_envelope_update_with_key_old_tuple),
        cmocka_unit_test(test_envelope_update_full_identity_has_whole_old_row),
        cmocka_unit_test(test_envelope_delete_with_key_tuple),
        cmocka_unit_test(test_envelope_delete_full_identity_has_whole_old_row),
        cmocka_unit_test(test_envelope_delete_with_identity_nothing_has_null_before),
        cmocka_unit_test(test_envelope_unchanged_toast_uses_placeholder),
        cmocka_unit_test(test_envelope_table_without_key_has_null_key),
        cmocka_unit_test(test_envelope_truncate),
        cmocka_unit_test(test_envelope_orders_count_per_transaction_and_relation),
        cmocka_unit_test(test_envelope_shard_points_at_column_json),
        cmocka_unit_test(test_lsn_format_and_parse_round_trip),
        cmocka_unit_test(test_lsn_parse_rejects_malformed_text),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
