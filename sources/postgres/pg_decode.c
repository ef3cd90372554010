/*
 * pg_decode.c - the pgoutput decoder (protocol versions 1 to 4; streaming from v2). Fed one
 * message at a time (the XLogData payload), it returns the decoded message and keeps the
 * state the protocol needs: the relation cache, registered type mappings and whether we
 * are inside a streamed-transaction block (where changes carry an xid after the tag).
 *
 * Invariants:
 *  - No I/O and no trust in the input: every read is bounds-checked against the message
 *    length, every count is checked against the bytes left before anything is allocated
 *    for it, and trailing bytes are an error. Garbage gives SL_ERR naming the message
 *    and the byte offset, never an over-read.
 *  - A failed decode changes no state: relations are installed and the stream flag flips
 *    only once a whole message has parsed.
 *  - Relations keep their address for the decoder's lifetime (a replacement reuses the
 *    struct), so the source may hold sl_pg_relation_t pointers across messages.
 *
 * Thread: the PostgreSQL source thread (or a test); not thread-safe.
 */
#include "sl_common.h"

#include <stdarg.h>

#include "pg_decode.h"

struct sl_pg_decoder {
    int  proto;
    bool in_stream;            /* between Stream Start and Stream Stop */

    /* Relation cache: open addressing on relid, linear probing, never more than half
     * full. Entries are never removed, so no tombstones; NULL marks an empty slot. */
    sl_pg_relation_t **rels;
    uint32_t           rels_cap;    /* power of two */
    uint32_t           nrels;

    /* Registered (non-built-in) type mappings, sorted by oid. Registration is rare and
     * lookups happen per Relation message, so a sorted array is plenty. */
    sl_pg_type_t *types;
    size_t        ntypes, types_cap;

    /* Scratch reused by every decode: tuple columns and truncate relids handed out in
     * sl_pg_msg_t, valid until the next call. */
    sl_pg_datum_t *old_cols, *new_cols;
    uint32_t       old_cap, new_cap;
    uint32_t      *relids;
    uint32_t       relids_cap;

    void (*rel_hook)(void *arg, sl_pg_relation_t *rel);
    void  *rel_hook_arg;
};

/* ======================================================================================
 * Relation cache
 * ==================================================================================== */

static inline uint32_t sl_pg_relid_slot(uint32_t relid, uint32_t cap)
{
    return (relid * 0x9E3779B1u) & (cap - 1);   /* Fibonacci hashing spreads dense oids */
}

sl_pg_relation_t *sl_pg_decoder_relation(sl_pg_decoder_t *d, uint32_t relid)
{
    if (!d->rels_cap) return NULL;
    for (uint32_t i = sl_pg_relid_slot(relid, d->rels_cap);; i = (i + 1) & (d->rels_cap - 1)) {
        sl_pg_relation_t *rel = d->rels[i];
        if (!rel) return NULL;
        if (rel->relid == relid) return rel;
    }
}

static void sl_pg_rel_insert(sl_pg_decoder_t *d, sl_pg_relation_t *rel)
{
    if ((d->nrels + 1) * 2 > d->rels_cap) {
        uint32_t cap = d->rels_cap ? d->rels_cap * 2 : 64;
        sl_pg_relation_t **rels = sl_calloc(cap, sizeof(*rels));
        for (uint32_t i = 0; i < d->rels_cap; i++) {
            sl_pg_relation_t *r = d->rels[i];
            if (!r) continue;
            uint32_t j = sl_pg_relid_slot(r->relid, cap);
            while (rels[j]) j = (j + 1) & (cap - 1);
            rels[j] = r;
        }
        free(d->rels);
        d->rels = rels;
        d->rels_cap = cap;
    }
    uint32_t j = sl_pg_relid_slot(rel->relid, d->rels_cap);
    while (d->rels[j]) j = (j + 1) & (d->rels_cap - 1);
    d->rels[j] = rel;
    d->nrels++;
}

static void sl_pg_rel_clear(sl_pg_relation_t *rel)
{
    for (uint16_t i = 0; i < rel->ncols; i++) free(rel->cols[i].name);
    free(rel->cols);
    free(rel->nspname);
    free(rel->relname);
    rel->cols = NULL;
    rel->nspname = rel->relname = NULL;
    rel->ncols = 0;
}

/* ======================================================================================
 * Types
 * ==================================================================================== */

static const sl_pg_type_t *sl_pg_registered(const sl_pg_decoder_t *d, uint32_t oid)
{
    size_t lo = 0, hi = d->ntypes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->types[mid].oid == oid) return &d->types[mid];
        if (d->types[mid].oid < oid) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

sl_pg_type_t sl_pg_type_lookup(const sl_pg_decoder_t *d, uint32_t oid)
{
    sl_pg_type_t t;
    if (sl_pg_builtin_type(oid, &t)) return t;
    const sl_pg_type_t *reg = d ? sl_pg_registered(d, oid) : NULL;
    if (reg) return *reg;
    return (sl_pg_type_t){oid, SL_PGK_STRING, SL_PGK_STRING, ','};
}

void sl_pg_decoder_register_type(sl_pg_decoder_t *d, const sl_pg_type_t *t)
{
    size_t lo = 0, hi = d->ntypes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->types[mid].oid < t->oid) lo = mid + 1;
        else hi = mid;
    }
    if (lo < d->ntypes && d->types[lo].oid == t->oid) {
        d->types[lo] = *t;
    } else {
        if (d->ntypes == d->types_cap) {
            d->types_cap = d->types_cap ? d->types_cap * 2 : 16;
            d->types = sl_realloc(d->types, d->types_cap * sizeof(*d->types));
        }
        memmove(d->types + lo + 1, d->types + lo, (d->ntypes - lo) * sizeof(*d->types));
        d->types[lo] = *t;
        d->ntypes++;
    }
    /* Columns resolved before the registration (the catalog lookup usually follows the
     * Relation message that revealed the type) pick up the new mapping now. */
    for (uint32_t i = 0; i < d->rels_cap; i++) {
        sl_pg_relation_t *rel = d->rels[i];
        if (!rel) continue;
        for (uint16_t c = 0; c < rel->ncols; c++)
            if (rel->cols[c].type_oid == t->oid)
                rel->cols[c].type = sl_pg_type_lookup(d, t->oid);
    }
}

/* ======================================================================================
 * Life cycle
 * ==================================================================================== */

sl_pg_decoder_t *sl_pg_decoder_new(int proto_version)
{
    if (proto_version < 1 || proto_version > 4) return NULL;
    sl_pg_decoder_t *d = sl_calloc(1, sizeof(*d));
    d->proto = proto_version;
    return d;
}

void sl_pg_decoder_free(sl_pg_decoder_t *d)
{
    if (!d) return;
    for (uint32_t i = 0; i < d->rels_cap; i++) {
        if (!d->rels[i]) continue;
        sl_pg_rel_clear(d->rels[i]);
        free(d->rels[i]);
    }
    free(d->rels);
    free(d->types);
    free(d->old_cols);
    free(d->new_cols);
    free(d->relids);
    free(d);
}

void sl_pg_decoder_set_relation_hook(sl_pg_decoder_t *d,
                                     void (*fn)(void *arg, sl_pg_relation_t *rel),
                                     void *arg)
{
    d->rel_hook = fn;
    d->rel_hook_arg = arg;
}

/* ======================================================================================
 * Bounds-checked reader. The error is sticky: a failed read records the first error
 * (message, field, offset) and returns 0, later reads do nothing, and callers check
 * r->err once per group of fields before acting on the values.
 * ==================================================================================== */

typedef struct {
    const uint8_t *p;
    size_t         n, i;
    bool           err;
    const char    *msg;      /* message name for errors ("Insert") */
    char          *errstr;
    size_t         errstr_size;
} sl_pg_rd_t;

static void sl_pg_fail(sl_pg_rd_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sl_pg_fail(sl_pg_rd_t *r, const char *fmt, ...)
{
    if (r->err) return;
    r->err = true;
    if (!r->errstr || !r->errstr_size) return;
    int n = snprintf(r->errstr, r->errstr_size, "pgoutput %s: ", r->msg);
    if (n < 0 || (size_t)n >= r->errstr_size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr + n, r->errstr_size - (size_t)n, fmt, ap);
    va_end(ap);
}

static inline bool sl_pg_have(sl_pg_rd_t *r, size_t need, const char *field)
{
    if (sl_likely(!r->err && r->n - r->i >= need)) return true;
    sl_pg_fail(r, "truncated at byte %zu reading %s (need %zu bytes, %zu left)",
               r->i, field, need, r->n - r->i);
    return false;
}

static inline uint8_t sl_pg_u8(sl_pg_rd_t *r, const char *field)
{
    if (!sl_pg_have(r, 1, field)) return 0;
    return r->p[r->i++];
}

static inline uint16_t sl_pg_u16(sl_pg_rd_t *r, const char *field)
{
    if (!sl_pg_have(r, 2, field)) return 0;
    uint16_t v = (uint16_t)(r->p[r->i] << 8 | r->p[r->i + 1]);
    r->i += 2;
    return v;
}

static inline uint32_t sl_pg_u32(sl_pg_rd_t *r, const char *field)
{
    if (!sl_pg_have(r, 4, field)) return 0;
    const uint8_t *p = r->p + r->i;
    r->i += 4;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t sl_pg_u64(sl_pg_rd_t *r, const char *field)
{
    if (!sl_pg_have(r, 8, field)) return 0;
    uint64_t hi = sl_pg_u32(r, field);
    return hi << 32 | sl_pg_u32(r, field);
}

/* A NUL-terminated string inside the message: points into the input, NULL on error. */
static const char *sl_pg_str(sl_pg_rd_t *r, size_t *len, const char *field)
{
    *len = 0;
    if (r->err) return NULL;
    const uint8_t *nul = memchr(r->p + r->i, 0, r->n - r->i);
    if (!nul) {
        sl_pg_fail(r, "%s at byte %zu has no terminating NUL within the message "
                   "(%zu bytes left)", field, r->i, r->n - r->i);
        return NULL;
    }
    const char *s = (const char *)r->p + r->i;
    *len = (size_t)(nul - (r->p + r->i));
    r->i += *len + 1;
    return s;
}

/* SL_OK when the message parsed and was consumed exactly. */
static int sl_pg_end(sl_pg_rd_t *r)
{
    if (!r->err && r->i != r->n)
        sl_pg_fail(r, "%zu unexpected trailing bytes at byte %zu", r->n - r->i, r->i);
    return r->err ? SL_ERR : SL_OK;
}

/* ======================================================================================
 * Message bodies
 * ==================================================================================== */

/* TupleData: Int16 ncols, then per column a kind byte and for 't'/'b' Int32 len + bytes. */
static int sl_pg_tuple(sl_pg_rd_t *r, sl_pg_tuple_t *tup, sl_pg_datum_t **cols,
                       uint32_t *cap, const char *which)
{
    uint16_t ncols = sl_pg_u16(r, which);
    if (r->err) return SL_ERR;
    /* Each column takes at least its kind byte: reject absurd counts before growing. */
    if (ncols > r->n - r->i) {
        sl_pg_fail(r, "%s at byte %zu claims %u columns but only %zu bytes are left",
                   which, r->i - 2, ncols, r->n - r->i);
        return SL_ERR;
    }
    if (ncols > *cap) {
        uint32_t c = *cap ? *cap : 16;
        while (c < ncols) c *= 2;
        free(*cols);
        *cols = sl_malloc(c * sizeof(**cols));
        *cap = c;
    }
    sl_pg_datum_t *v = *cols;
    for (uint16_t k = 0; k < ncols; k++) {
        uint8_t kind = sl_pg_u8(r, "column kind");
        if (r->err) return SL_ERR;
        v[k].kind = (char)kind;
        v[k].len = 0;
        v[k].data = NULL;
        if (kind == 'n' || kind == 'u') continue;
        if (kind != 't' && kind != 'b') {
            sl_pg_fail(r, "%s column %u at byte %zu has unknown kind 0x%02x",
                       which, k, r->i - 1, kind);
            return SL_ERR;
        }
        uint32_t len = sl_pg_u32(r, "column length");
        if (r->err) return SL_ERR;
        if (len > r->n - r->i) {
            sl_pg_fail(r, "%s column %u at byte %zu claims %u bytes but only %zu are left",
                       which, k, r->i - 4, len, r->n - r->i);
            return SL_ERR;
        }
        v[k].len = len;
        v[k].data = (const char *)r->p + r->i;
        r->i += len;
    }
    tup->ncols = ncols;
    tup->cols = v;
    return SL_OK;
}

static int sl_pg_relation(sl_pg_decoder_t *d, sl_pg_rd_t *r, sl_pg_msg_t *m)
{
    size_t nsp_len, name_len;
    uint32_t relid = sl_pg_u32(r, "relation id");
    const char *nsp = sl_pg_str(r, &nsp_len, "namespace");
    const char *name = sl_pg_str(r, &name_len, "relation name");
    uint8_t ident = sl_pg_u8(r, "replica identity");
    uint16_t ncols = sl_pg_u16(r, "column count");
    if (r->err) return SL_ERR;
    /* flags + name NUL + type oid + typmod: at least 10 bytes per column */
    if ((size_t)ncols * 10 > r->n - r->i) {
        sl_pg_fail(r, "%u columns announced at byte %zu but only %zu bytes left",
                   ncols, r->i - 2, r->n - r->i);
        return SL_ERR;
    }

    sl_pg_column_t *cols = sl_calloc(ncols ? ncols : 1, sizeof(*cols));
    uint16_t k;
    for (k = 0; k < ncols; k++) {
        sl_pg_column_t *c = &cols[k];
        size_t cname_len;
        uint8_t flags = sl_pg_u8(r, "column flags");
        const char *cname = sl_pg_str(r, &cname_len, "column name");
        uint32_t oid = sl_pg_u32(r, "column type oid");
        uint32_t typmod = sl_pg_u32(r, "column type modifier");
        if (r->err) goto err;
        c->name = sl_strndup(cname, cname_len);
        c->flags = flags;
        c->type_oid = oid;
        c->typmod = (int32_t)typmod;
        /* The replica identity is the best key we know until the source checks the
         * catalog; with FULL every column is flagged, so it says nothing there. */
        c->is_pk = (flags & 1) && (ident == 'd' || ident == 'i');
        c->type = sl_pg_type_lookup(d, oid);
    }
    if (sl_pg_end(r) != SL_OK) goto err;

    sl_pg_relation_t *rel = sl_pg_decoder_relation(d, relid);
    if (rel) {
        sl_pg_rel_clear(rel);
    } else {
        rel = sl_calloc(1, sizeof(*rel));
        rel->relid = relid;
        sl_pg_rel_insert(d, rel);
    }
    rel->nspname = sl_strndup(nsp, nsp_len);
    rel->relname = sl_strndup(name, name_len);
    rel->replident = (char)ident;
    rel->ncols = ncols;
    rel->cols = cols;
    m->rel = rel;
    if (d->rel_hook) d->rel_hook(d->rel_hook_arg, rel);
    return SL_OK;
err:
    for (uint16_t j = 0; j < k; j++) free(cols[j].name);
    free(cols);
    return SL_ERR;
}

static int sl_pg_change(sl_pg_decoder_t *d, sl_pg_rd_t *r, sl_pg_msg_t *m)
{
    uint32_t relid = sl_pg_u32(r, "relation id");
    if (r->err) return SL_ERR;
    m->rel = sl_pg_decoder_relation(d, relid);
    if (!m->rel) {
        sl_pg_fail(r, "unknown relation id %u at byte %zu (no Relation message seen for it)",
                   relid, r->i - 4);
        return SL_ERR;
    }
    uint8_t sub = sl_pg_u8(r, "tuple marker");
    if (r->err) return SL_ERR;
    if ((m->kind == SL_PGM_UPDATE || m->kind == SL_PGM_DELETE) && (sub == 'K' || sub == 'O')) {
        m->old_kind = (char)sub;
        if (sl_pg_tuple(r, &m->old_tuple, &d->old_cols, &d->old_cap, "old tuple") != SL_OK)
            return SL_ERR;
        if (m->kind == SL_PGM_DELETE) return sl_pg_end(r);
        sub = sl_pg_u8(r, "tuple marker");
        if (r->err) return SL_ERR;
    }
    if (sub != 'N' || m->kind == SL_PGM_DELETE) {
        sl_pg_fail(r, "unexpected tuple marker 0x%02x at byte %zu (want %s)", sub, r->i - 1,
                   m->kind == SL_PGM_INSERT ? "'N'" :
                   m->kind == SL_PGM_UPDATE ? "'K', 'O' or 'N'" : "'K' or 'O'");
        return SL_ERR;
    }
    if (sl_pg_tuple(r, &m->new_tuple, &d->new_cols, &d->new_cap, "new tuple") != SL_OK)
        return SL_ERR;
    return sl_pg_end(r);
}

static int sl_pg_truncate(sl_pg_decoder_t *d, sl_pg_rd_t *r, sl_pg_msg_t *m)
{
    uint32_t n = sl_pg_u32(r, "relation count");
    m->trunc_options = sl_pg_u8(r, "options");
    if (r->err) return SL_ERR;
    if ((r->n - r->i) / 4 != n || (r->n - r->i) % 4) {
        sl_pg_fail(r, "%u relation ids announced but %zu bytes follow at byte %zu",
                   n, r->n - r->i, r->i);
        return SL_ERR;
    }
    if (n > d->relids_cap) {
        uint32_t c = d->relids_cap ? d->relids_cap : 16;
        while (c < n) c *= 2;
        free(d->relids);
        d->relids = sl_malloc(c * sizeof(*d->relids));
        d->relids_cap = c;
    }
    for (uint32_t k = 0; k < n; k++) d->relids[k] = sl_pg_u32(r, "relation id");
    m->nrelids = n;
    m->relids = d->relids;
    return sl_pg_end(r);
}

static const char *sl_pg_msg_name(uint8_t tag)
{
    switch (tag) {
    case 'B': return "Begin";
    case 'C': return "Commit";
    case 'O': return "Origin";
    case 'R': return "Relation";
    case 'Y': return "Type";
    case 'I': return "Insert";
    case 'U': return "Update";
    case 'D': return "Delete";
    case 'T': return "Truncate";
    case 'M': return "Message";
    case 'S': return "Stream Start";
    case 'E': return "Stream Stop";
    case 'c': return "Stream Commit";
    case 'A': return "Stream Abort";
    default:  return NULL;
    }
}

/* ======================================================================================
 * Entry point
 * ==================================================================================== */

int sl_pg_decode(sl_pg_decoder_t *d, const uint8_t *buf, size_t len, sl_pg_msg_t *m,
                 char *errstr, size_t errstr_size)
{
    memset(m, 0, sizeof(*m));
    if (len == 0) return sl_err(errstr, errstr_size, "pgoutput: empty message");
    uint8_t tag = buf[0];
    sl_pg_rd_t rd = {buf, len, 1, false, sl_pg_msg_name(tag), errstr, errstr_size};
    sl_pg_rd_t *r = &rd;
    if (!r->msg)
        return sl_err(errstr, errstr_size, "pgoutput: unknown message tag 0x%02x at byte 0",
                      tag);
    m->kind = (sl_pg_msg_kind_t)tag;

    bool streaming_tag = tag == 'S' || tag == 'E' || tag == 'c' || tag == 'A';
    if (streaming_tag && d->proto < 2)
        return sl_err(errstr, errstr_size,
                      "pgoutput %s: tag at byte 0 is a streaming message, which needs "
                      "protocol version 2 (decoder runs version %d)", r->msg, d->proto);
    /* The apply worker's rules: no nesting, no commit or abort inside a block, and a
     * regular transaction never starts or ends inside one. */
    if (d->in_stream && (tag == 'S' || tag == 'c' || tag == 'A' || tag == 'B' || tag == 'C'))
        return sl_err(errstr, errstr_size,
                      "pgoutput %s: tag at byte 0 not allowed inside a streamed block (no "
                      "Stream Stop since the last Stream Start)", r->msg);
    if (!d->in_stream && tag == 'E')
        return sl_err(errstr, errstr_size,
                      "pgoutput %s: tag at byte 0 without a Stream Start before it", r->msg);

    /* In a streamed block, data messages carry the (sub)transaction xid after the tag. */
    if (d->in_stream && memchr("IUDRYTM", tag, 7)) m->xid = sl_pg_u32(r, "xid");

    size_t n;
    switch (tag) {
    case 'B':
        m->lsn = sl_pg_u64(r, "final lsn");
        m->ts_pg_us = (int64_t)sl_pg_u64(r, "commit time");
        m->xid = sl_pg_u32(r, "xid");
        return sl_pg_end(r);
    case 'C':
        m->flags = sl_pg_u8(r, "flags");
        m->lsn = sl_pg_u64(r, "commit lsn");
        m->end_lsn = sl_pg_u64(r, "end lsn");
        m->ts_pg_us = (int64_t)sl_pg_u64(r, "commit time");
        return sl_pg_end(r);
    case 'O':
        m->lsn = sl_pg_u64(r, "origin lsn");
        m->name = sl_pg_str(r, &n, "origin name");
        return sl_pg_end(r);
    case 'R':
        if (r->err) return SL_ERR;
        return sl_pg_relation(d, r, m);
    case 'Y':
        m->type_oid = sl_pg_u32(r, "type oid");
        m->nspname = sl_pg_str(r, &n, "namespace");
        m->name = sl_pg_str(r, &n, "type name");
        return sl_pg_end(r);
    case 'I':
    case 'U':
    case 'D':
        if (r->err) return SL_ERR;
        return sl_pg_change(d, r, m);
    case 'T':
        if (r->err) return SL_ERR;
        return sl_pg_truncate(d, r, m);
    case 'M': {
        m->flags = sl_pg_u8(r, "flags");
        m->lsn = sl_pg_u64(r, "lsn");
        m->name = sl_pg_str(r, &n, "prefix");
        uint32_t clen = sl_pg_u32(r, "content length");
        if (r->err) return SL_ERR;
        if (clen != r->n - r->i) {
            sl_pg_fail(r, "content length %u at byte %zu but %zu bytes follow",
                       clen, r->i - 4, r->n - r->i);
            return SL_ERR;
        }
        m->content = (const char *)buf + r->i;
        m->content_len = clen;
        r->i += clen;
        return SL_OK;
    }
    case 'S':
        m->xid = sl_pg_u32(r, "xid");
        m->flags = sl_pg_u8(r, "first segment");
        if (sl_pg_end(r) != SL_OK) return SL_ERR;
        d->in_stream = true;
        return SL_OK;
    case 'E':
        if (sl_pg_end(r) != SL_OK) return SL_ERR;   /* the tag is the whole message */
        d->in_stream = false;
        return SL_OK;
    case 'c':
        m->xid = sl_pg_u32(r, "xid");
        m->flags = sl_pg_u8(r, "flags");
        m->lsn = sl_pg_u64(r, "commit lsn");
        m->end_lsn = sl_pg_u64(r, "end lsn");
        m->ts_pg_us = (int64_t)sl_pg_u64(r, "commit time");
        return sl_pg_end(r);
    case 'A':
        m->xid = sl_pg_u32(r, "xid");
        m->subxid = sl_pg_u32(r, "subtransaction xid");
        /* Abort LSN and time follow only with streaming = parallel (protocol v4). */
        if (!r->err && r->i < r->n && d->proto >= 4) {
            m->lsn = sl_pg_u64(r, "abort lsn");
            m->ts_pg_us = (int64_t)sl_pg_u64(r, "abort time");
        }
        return sl_pg_end(r);
    default:
        return SL_ERR;   /* unreachable: unknown tags were rejected above */
    }
}
