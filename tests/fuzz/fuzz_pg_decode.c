/*
 * fuzz_pg_decode.c - libFuzzer harness for the pgoutput decoder (sources/postgres/
 * pg_decode.h): sequences of messages of protocol versions 1 to 4 (Relation, Type, then
 * Insert/Update/Delete/Truncate, streaming blocks), with every change encoded as the
 * PostgreSQL source does (sl_pg_key_changed, sl_pg_encode_change, sl_pg_encode_truncate).
 *
 * Run: `make fuzz FUZZ_TARGETS=pg_decode` (tests/fuzz/run.sh builds the seed corpus),
 * or by hand: build/fuzz/fuzz_pg_decode -max_len=16384 -timeout=10 CORPUS_DIR
 *
 * Input: byte 0 is a flags byte: bits 0-1 the protocol version - 1; bit 2 snapshot mode
 * (inserts encoded as op "r"); bit 3 the relation hook marks every column a key column;
 * bit 4 a Type message registers a mapping for its oid (kind and element kind taken from
 * the oid, so every JSON mapping meets arbitrary text). Then messages, each a 2-byte
 * little-endian length and that many bytes, each copied to a heap block of exactly its
 * size so ASan sees any over-read.
 */
#include "sl_common.h"
#include "sl_buf.h"
#include "../../sources/postgres/pg_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { F_PROTO = 0x03, F_SNAPSHOT = 0x04, F_ALLKEY = 0x08, F_TYPES = 0x10 };

static void fz_rel_hook(void *arg, sl_pg_relation_t *rel)
{
    bool allkey = *(const bool *)arg;
    rel->user = rel;
    if (allkey)
        for (uint16_t i = 0; i < rel->ncols; i++) rel->cols[i].is_pk = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    sl_pg_decoder_t *d = sl_pg_decoder_new(1 + (flags & F_PROTO));
    if (!d) abort();
    bool allkey = flags & F_ALLKEY;
    sl_pg_decoder_set_relation_hook(d, fz_rel_hook, &allkey);
    sl_pg_envctx_t ctx = {
        .pipeline = "fuzz", .db = "db", .unavailable_value = "__debezium_unavailable_value",
        .shard_key = "id", .xid = 1, .commit_lsn = 2, .last_commit_lsn = 1,
        .commit_ts_pg_us = 3, .now_unix_us = 4,
        .snapshot = (flags & F_SNAPSHOT) ? "true" : NULL,
    };
    sl_buf_t out = SL_BUF_INIT;
    char err[SL_ERRSTR_SIZE];
    size_t off = 0;
    uint64_t lsn = 100;
    while (off < size) {
        size_t n = data[off];
        if (off + 1 < size) n |= (size_t)data[off + 1] << 8;
        off += 2;
        if (off > size) break;
        if (n > size - off) n = size - off;
        uint8_t *msg = sl_malloc(n ? n : 1);
        if (n) memcpy(msg, data + off, n);
        off += n;
        sl_pg_msg_t m;
        sl_buf_reset(&out);
        if (sl_pg_decode(d, msg, n, &m, err, sizeof(err)) == SL_OK) {
            uint32_t ko, kl, vo, vl;
            const char *sj;
            size_t sl;
            switch (m.kind) {
            case SL_PGM_TYPE:
                if (flags & F_TYPES) {
                    sl_pg_type_t t = {.oid = m.type_oid,
                                      .kind = (sl_pg_kind_t)(m.type_oid % 11),
                                      .elem_kind = (sl_pg_kind_t)((m.type_oid / 11) % 11),
                                      .delim = (m.type_oid & 0x100) ? ';' : ','};
                    sl_pg_decoder_register_type(d, &t);
                }
                break;
            case SL_PGM_INSERT:
            case SL_PGM_UPDATE:
            case SL_PGM_DELETE:
                if (!m.rel) abort();
                if (m.old_kind && sl_pg_key_changed(&out, &ctx, &m)) {
                    sl_pg_msg_t half = m;
                    half.kind = SL_PGM_DELETE;
                    sl_pg_encode_change(&out, &ctx, &half, lsn, &ko, &kl, &vo, &vl, &sj, &sl);
                    half.kind = SL_PGM_INSERT;
                    half.old_kind = 0;
                    sl_pg_encode_change(&out, &ctx, &half, lsn, &ko, &kl, &vo, &vl, &sj, &sl);
                } else {
                    sl_pg_encode_change(&out, &ctx, &m, lsn, &ko, &kl, &vo, &vl, &sj, &sl);
                }
                if (ko + kl > out.len || vo + vl > out.len) abort();
                break;
            case SL_PGM_TRUNCATE:
                for (uint32_t i = 0; i < m.nrelids; i++) {
                    sl_pg_relation_t *rel = sl_pg_decoder_relation(d, m.relids[i]);
                    if (rel) sl_pg_encode_truncate(&out, &ctx, rel, lsn, &vo, &vl);
                }
                break;
            case SL_PGM_BEGIN:
                ctx.xid = m.xid;
                ctx.commit_lsn = m.lsn;
                ctx.commit_ts_pg_us = m.ts_pg_us;
                ctx.total_order = 0;
                break;
            default:
                break;
            }
        }
        lsn += n;
        free(msg);
    }
    sl_buf_free(&out);
    sl_pg_decoder_free(d);
    return 0;
}
