/*
 * redis_sink.c - the "redis" sink: one XADD per event into a Redis stream whose name is
 * a template ({db} {schema} {table} {shard}) unless a processor routed the event
 * elsewhere (route.stream), with fields `key` (key JSON, or `null`) and `value` (the
 * Debezium envelope JSON), optionally trimmed with MAXLEN ~ N.
 *
 * A batch is one pipeline: every XADD is appended to the hiredis output buffer with argv
 * pointing straight into the batch arena, then all replies are read. The batch succeeds
 * only when every reply is an entry id. Any failure (I/O, timeout, error reply such as
 * WRONGTYPE) is SL_AGAIN: the connection is dropped and the core reopens and redelivers
 * the whole batch, so entries of a failed batch may appear twice (at-least-once).
 *
 * Schema change events (SL_OP_SCHEMA) go to the `schema_changes` stream template, or are
 * skipped when the sink has none.
 *
 * Threads: an instance lives on its sink thread (create, open, deliver, close, destroy);
 * nothing here is shared. The URI check runs on the spec-validating thread and keeps its
 * message in thread-local storage.
 */
#include "sl_common.h"
#include "sl_connector.h"
#include "sl_template.h"
#include "sl_log.h"

#include <limits.h>
#include <strings.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

#define SL_REDIS_CONNECT_TIMEOUT_MS 5000
#define SL_REDIS_IO_TIMEOUT_MS      30000   /* per socket read/write while delivering */
#define SL_REDIS_DEFAULT_PORT       6379

/* ---- configuration ---------------------------------------------------------------- */

typedef struct sl_redis_conf {
    sl_sink_common_t common;
    char   *uri;
    char   *stream;
    int64_t maxlen;          /* 0: not set (no trimming) */
} sl_redis_conf_t;

/* A parsed redis:// URI. Strings are owned. */
typedef struct sl_redis_uri {
    char *host;
    int   port;
    char *user;              /* NULL: AUTH with the password only */
    char *pass;              /* NULL: no AUTH */
    int   db;
} sl_redis_uri_t;

static void sl_redis_uri_free(sl_redis_uri_t *u)
{
    free(u->host);
    free(u->user);
    free(u->pass);
    memset(u, 0, sizeof(*u));
}



/* Parse s[0..n) as a decimal in [min, max]; -1 when it is not one. */
static long sl_redis_parse_num(const char *s, size_t n, long min, long max)
{
    if (n == 0 || n > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < min || v > max ? -1 : v;
}

/*
 * Parse `redis://[[user]:password@]host[:port][/db]`. User and password may be
 * percent-encoded (needed for '@' ':' '/' '%'); the last '@' ends them, so a raw '@' in a
 * password also works. host may be an IPv6 literal in brackets. Messages never contain
 * the password. Returns SL_OK, or SL_ERR with errstr.
 */
static int sl_redis_uri_parse(const char *s, sl_redis_uri_t *u, char *errstr,
                              size_t errstr_size)
{
    static const char usage[] = "expected redis://[[user]:password@]host[:port][/db]";
    memset(u, 0, sizeof(*u));
    u->port = SL_REDIS_DEFAULT_PORT;

    if (strncasecmp(s, "rediss://", 9) == 0)
        return sl_err(errstr, errstr_size, "TLS (rediss://) is not supported: hiredis 0.14 "
                      "has no TLS; use redis:// (or a TLS proxy)");
    if (strncasecmp(s, "redis://", 8) != 0)
        return sl_err(errstr, errstr_size, "must start with redis:// (%s)", usage);
    const char *rest = s + 8;
    const char *at = strrchr(rest, '@');
    const char *hp = at ? at + 1 : rest;

    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon)
            return sl_err(errstr, errstr_size, "credentials must be ':password' or "
                          "'user:password' (%s)", usage);
        if (colon > rest) {
            u->user = sl_pct_decode(rest, (size_t)(colon - rest));
            if (!u->user) goto bad_escape;
        }
        u->pass = sl_pct_decode(colon + 1, (size_t)(at - colon - 1));
        if (!u->pass) goto bad_escape;
        if (!u->pass[0]) {
            sl_err(errstr, errstr_size, "empty password after ':' (%s)", usage);
            goto err;
        }
    }

    if (strpbrk(hp, "?#")) {
        sl_err(errstr, errstr_size, "query parameters are not supported (%s)", usage);
        goto err;
    }
    size_t hplen = strcspn(hp, "/");
    const char *path = hp + hplen;
    const char *host = hp, *host_end, *port = NULL;
    if (*hp == '[') {
        host = hp + 1;
        host_end = memchr(host, ']', hplen);
        if (!host_end) {
            sl_err(errstr, errstr_size, "unclosed '[' in host (%s)", usage);
            goto err;
        }
        if (host_end + 1 < hp + hplen) {
            if (host_end[1] != ':') {
                sl_err(errstr, errstr_size, "unexpected text after ']' (%s)", usage);
                goto err;
            }
            port = host_end + 2;
        }
    } else {
        host_end = memchr(hp, ':', hplen);
        if (host_end) port = host_end + 1;
        else host_end = hp + hplen;
    }
    if (host_end == host) {
        sl_err(errstr, errstr_size, "missing host (%s)", usage);
        goto err;
    }
    for (const char *c = host; c < host_end; c++) {
        if ((unsigned char)*c <= ' ' || *c == '@' || *c == '[' || *c == ']' ||
            (*c == ':' && *hp != '[')) {
            sl_err(errstr, errstr_size, "invalid character in host (%s)", usage);
            goto err;
        }
    }
    u->host = sl_strndup(host, (size_t)(host_end - host));
    if (port) {
        long p = sl_redis_parse_num(port, (size_t)(hp + hplen - port), 1, 65535);
        if (p < 0) {
            sl_err(errstr, errstr_size, "port must be a number from 1 to 65535 (%s)", usage);
            goto err;
        }
        u->port = (int)p;
    }
    if (*path == '/' && path[1]) {
        long db = sl_redis_parse_num(path + 1, strlen(path + 1), 0, INT_MAX);
        if (db < 0) {
            sl_err(errstr, errstr_size, "database must be a number after '/' (%s)", usage);
            goto err;
        }
        u->db = (int)db;
    }
    return SL_OK;

bad_escape:
    sl_err(errstr, errstr_size, "malformed %%XX escape in the credentials (%s)", usage);
err:
    sl_redis_uri_free(u);
    return SL_ERR;
}

/* Spec-time check on the uri key. */
static const char *sl_redis_uri_check(const void *field)
{
    static _Thread_local char msg[SL_ERRSTR_SIZE];
    const char *text = *(const char *const *)field;
    sl_redis_uri_t u;
    if (!text) return NULL;
    if (sl_redis_uri_parse(text, &u, msg, sizeof(msg)) != SL_OK) return msg;
    sl_redis_uri_free(&u);
    return NULL;
}

static const sl_conf_def_t sl_redis_conf_defs[] = {
    SL_SINK_COMMON_KEYS(sl_redis_conf_t),
    {.key = "uri", .type = SL_CT_STR, .offset = offsetof(sl_redis_conf_t, uri),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY | SL_CF_SECRET, .check = sl_redis_uri_check,
     .doc = "redis://[[user]:password@]host[:port][/db] (percent-encode special characters)"},
    {.key = "stream", .type = SL_CT_STR, .offset = offsetof(sl_redis_conf_t, stream),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .check = sl_template_check,
     .doc = "stream name; may use {db} {schema} {table} {shard}"},
    {.key = "maxlen", .type = SL_CT_INT, .offset = offsetof(sl_redis_conf_t, maxlen),
     .min = 1, .max = INT64_MAX,
     .doc = "trim each stream to about this many entries (XADD MAXLEN ~ N); unset: no trim"},
    {.key = NULL},
};

/* ---- instance --------------------------------------------------------------------- */

/* Stream name cache entry: interned table pointer + shard -> rendered name. */
typedef struct sl_redis_dest {
    const sl_table_t *table;
    int32_t           shard;
    bool              used;    /* false: empty slot */
    char             *name;    /* owned; stable across rehashes */
    size_t            len;
} sl_redis_dest_t;

/* Replies to a batch's XADDs are read with hiredis's reader, but through these object
 * functions instead of the default ones: they allocate nothing and only record whether
 * every reply was an entry id, keeping the first error's text. */
typedef struct sl_redis_replies {
    uint32_t n_bad;          /* replies that were not a string/status */
    int      first_bad_type; /* REDIS_REPLY_* of the first bad reply */
    uint32_t first_bad_idx;
    uint32_t seen;           /* top-level replies in this batch */
    char     first_err[256];
} sl_redis_replies_t;

static char sl_redis_token;  /* the non-NULL "object" every reply becomes */

static void sl_redis_note(const redisReadTask *task, int type, const char *str, size_t len)
{
    sl_redis_replies_t *st = task->privdata;
    if (!st || task->parent) return;   /* elements of an (unexpected) array */
    bool ok = type == REDIS_REPLY_STRING || type == REDIS_REPLY_STATUS;
    if (!ok && st->n_bad++ == 0) {
        st->first_bad_type = type;
        st->first_bad_idx = st->seen;
        if (str) snprintf(st->first_err, sizeof(st->first_err), "%.*s",
                          (int)(len > 255 ? 255 : len), str);
        else st->first_err[0] = '\0';
    }
    st->seen++;
}

static void *sl_redis_mk_string(const redisReadTask *t, char *str, size_t len)
{
    sl_redis_note(t, t->type, str, len);
    return &sl_redis_token;
}
static void *sl_redis_mk_array(const redisReadTask *t, int n)
{
    SL_UNUSED(n);
    sl_redis_note(t, REDIS_REPLY_ARRAY, NULL, 0);
    return &sl_redis_token;
}
static void *sl_redis_mk_integer(const redisReadTask *t, long long v)
{
    SL_UNUSED(v);
    sl_redis_note(t, REDIS_REPLY_INTEGER, NULL, 0);
    return &sl_redis_token;
}
static void *sl_redis_mk_nil(const redisReadTask *t)
{
    sl_redis_note(t, REDIS_REPLY_NIL, NULL, 0);
    return &sl_redis_token;
}
static void sl_redis_free_token(void *obj) { SL_UNUSED(obj); }

static redisReplyObjectFunctions sl_redis_counting_fns = {
    sl_redis_mk_string, sl_redis_mk_array, sl_redis_mk_integer, sl_redis_mk_nil,
    sl_redis_free_token,
};

/* One RESP bulk string. */
static inline void sl_resp_bulk(sl_buf_t *b, const char *p, size_t n)
{
    char hdr[24];
    int h = snprintf(hdr, sizeof(hdr), "$%zu\r\n", n);
    sl_buf_put(b, hdr, (size_t)h);
    sl_buf_put(b, p, n);
    sl_buf_put(b, "\r\n", 2);
}

typedef struct sl_redis_sink {
    char           *id;
    sl_redis_uri_t  uri;
    sl_template_t  *tpl;
    sl_template_t  *sc_tpl;       /* schema_changes, or NULL */
    char            maxlen[24];   /* decimal, "" when unset */

    char           *static_name;  /* the stream when the template has no placeholder */
    size_t          static_len;
    sl_redis_dest_t *dests;       /* open addressing, cap a power of two, load <= 1/2 */
    size_t          ndests, cap;
    sl_buf_t        scratch;

    redisContext   *rc;           /* NULL while closed */
    sl_buf_t        out;          /* the batch's XADD commands, formatted as RESP */
    sl_redis_replies_t replies;   /* what the allocation-free reply functions saw */
} sl_redis_sink_t;

static size_t sl_redis_dest_hash(const sl_table_t *table, int32_t shard)
{
    uint64_t h = (uint64_t)(uintptr_t)table * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uint32_t)shard * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static void sl_redis_dest_grow(sl_redis_sink_t *rs)
{
    size_t cap = rs->cap ? rs->cap * 2 : 16;
    sl_redis_dest_t *d = sl_calloc(cap, sizeof(*d));
    for (size_t i = 0; i < rs->cap; i++) {
        if (!rs->dests[i].used) continue;
        size_t j = sl_redis_dest_hash(rs->dests[i].table, rs->dests[i].shard) & (cap - 1);
        while (d[j].used) j = (j + 1) & (cap - 1);
        d[j] = rs->dests[i];
    }
    free(rs->dests);
    rs->dests = d;
    rs->cap = cap;
}

/* The stream for an event: a processor's route.stream when set, else the configured
 * name, rendered once per (table, shard). */
/* Schema change events are cached under this shard (no real shard is negative but -1). */
#define SL_REDIS_SCHEMA_SHARD INT32_MIN

static const char *sl_redis_stream(sl_redis_sink_t *rs, const sl_batch_t *b,
                                   const sl_event_t *e, size_t *len)
{
    bool schema = e->op == SL_OP_SCHEMA;
    const char *routed = schema ? NULL : sl_event_route_stream(b, e, len);
    if (routed) return routed;
    if (rs->static_name && !schema) {
        *len = rs->static_len;
        return rs->static_name;
    }
    int32_t shard = schema ? SL_REDIS_SCHEMA_SHARD : e->shard;
    if ((rs->ndests + 1) * 2 > rs->cap) sl_redis_dest_grow(rs);
    size_t mask = rs->cap - 1, j = sl_redis_dest_hash(e->table, shard) & mask;
    for (; rs->dests[j].used; j = (j + 1) & mask) {
        if (rs->dests[j].table == e->table && rs->dests[j].shard == shard) {
            *len = rs->dests[j].len;
            return rs->dests[j].name;
        }
    }
    sl_buf_reset(&rs->scratch);
    sl_template_render(schema ? rs->sc_tpl : rs->tpl, e->table, schema ? -1 : e->shard,
                       &rs->scratch);
    sl_redis_dest_t *d = &rs->dests[j];
    d->table = e->table;
    d->shard = shard;
    d->used = true;
    d->len = rs->scratch.len;
    d->name = sl_strndup(rs->scratch.data ? rs->scratch.data : "", rs->scratch.len);
    rs->ndests++;
    *len = d->len;
    return d->name;
}

static void sl_redis_destroy(void *sink);

static void *sl_redis_create(const void *conf, sl_pipeline_t *p, char *errstr,
                             size_t errstr_size)
{
    const sl_redis_conf_t *c = conf;
    sl_redis_sink_t *rs = sl_calloc(1, sizeof(*rs));
    SL_UNUSED(p);

    rs->id = sl_strdup(c->common.id ? c->common.id : "redis");
    if (!c->uri || !c->stream) {
        sl_err(errstr, errstr_size, "redis sink %s: uri and stream are required", rs->id);
        goto err;
    }
    char msg[SL_ERRSTR_SIZE];
    if (sl_redis_uri_parse(c->uri, &rs->uri, msg, sizeof(msg)) != SL_OK) {
        sl_err(errstr, errstr_size, "redis sink %s: uri: %s", rs->id, msg);
        goto err;
    }
    rs->tpl = sl_template_new(c->stream, msg, sizeof(msg));
    if (!rs->tpl) {
        sl_err(errstr, errstr_size, "redis sink %s: stream: %s", rs->id, msg);
        goto err;
    }
    if (sl_template_is_static(rs->tpl)) {
        sl_template_render(rs->tpl, NULL, -1, &rs->scratch);
        rs->static_len = rs->scratch.len;
        rs->static_name = sl_strndup(rs->scratch.data ? rs->scratch.data : "",
                                     rs->scratch.len);
    }
    if (c->common.schema_changes &&
        !(rs->sc_tpl = sl_template_new(c->common.schema_changes, msg, sizeof(msg)))) {
        sl_err(errstr, errstr_size, "redis sink %s: schema_changes: %s", rs->id, msg);
        goto err;
    }
    if (c->maxlen > 0) snprintf(rs->maxlen, sizeof(rs->maxlen), "%lld", (long long)c->maxlen);
    return rs;

err:
    sl_redis_destroy(rs);
    return NULL;
}

static void sl_redis_close(void *sink)
{
    sl_redis_sink_t *rs = sink;
    if (rs->rc) {
        redisFree(rs->rc);
        rs->rc = NULL;
    }
}

static void sl_redis_destroy(void *sink)
{
    sl_redis_sink_t *rs = sink;
    if (!rs) return;
    sl_redis_close(rs);
    for (size_t i = 0; i < rs->cap; i++) free(rs->dests[i].name);
    free(rs->dests);
    free(rs->static_name);
    sl_buf_free(&rs->scratch);
    sl_buf_free(&rs->out);
    sl_template_free(rs->tpl);
    sl_template_free(rs->sc_tpl);
    sl_redis_uri_free(&rs->uri);
    free(rs->id);
    free(rs);
}

/* Error replies that mean "try again later" rather than "the configuration is wrong". */
static bool sl_redis_transient(const char *err)
{
    static const char *const prefixes[] = {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN",
                                           "CLUSTERDOWN"};
    for (size_t i = 0; i < SL_ARRAY_SIZE(prefixes); i++)
        if (strncmp(err, prefixes[i], strlen(prefixes[i])) == 0) return true;
    return false;
}

/* Run one setup command on a fresh connection. SL_OK, SL_AGAIN (I/O, transient error
 * reply) or SL_ERR (the server refused: wrong password, bad db...). */
static int sl_redis_setup_cmd(sl_redis_sink_t *rs, const char *what, int argc,
                              const char **argv, char *errstr, size_t errstr_size)
{
    redisReply *r = redisCommandArgv(rs->rc, argc, argv, NULL);
    if (!r) {
        sl_err(errstr, errstr_size, "redis sink %s: %s on %s:%d: %s", rs->id, what,
               rs->uri.host, rs->uri.port, rs->rc->errstr);
        return SL_AGAIN;
    }
    int rc = SL_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        sl_err(errstr, errstr_size, "redis sink %s: %s on %s:%d: %s", rs->id, what,
               rs->uri.host, rs->uri.port, r->str);
        rc = sl_redis_transient(r->str) ? SL_AGAIN : SL_ERR;
    }
    freeReplyObject(r);
    return rc;
}

static int sl_redis_open(void *sink, char *errstr, size_t errstr_size)
{
    sl_redis_sink_t *rs = sink;
    const struct timeval cto = {SL_REDIS_CONNECT_TIMEOUT_MS / 1000,
                                (SL_REDIS_CONNECT_TIMEOUT_MS % 1000) * 1000};
    const struct timeval ioto = {SL_REDIS_IO_TIMEOUT_MS / 1000,
                                 (SL_REDIS_IO_TIMEOUT_MS % 1000) * 1000};
    int rc;

    sl_redis_close(rs);
    rs->rc = redisConnectWithTimeout(rs->uri.host, rs->uri.port, cto);
    if (!rs->rc || rs->rc->err) {
        sl_err(errstr, errstr_size, "redis sink %s: connect to %s:%d: %s", rs->id,
               rs->uri.host, rs->uri.port, rs->rc ? rs->rc->errstr : "out of memory");
        sl_redis_close(rs);
        return SL_AGAIN;
    }
    if (redisSetTimeout(rs->rc, ioto) != REDIS_OK) {
        sl_err(errstr, errstr_size, "redis sink %s: set socket timeout: %s", rs->id,
               rs->rc->errstr);
        sl_redis_close(rs);
        return SL_AGAIN;
    }
    redisEnableKeepAlive(rs->rc);

    if (rs->uri.pass) {
        const char *argv[3] = {"AUTH", rs->uri.user ? rs->uri.user : rs->uri.pass,
                               rs->uri.pass};
        rc = sl_redis_setup_cmd(rs, "AUTH", rs->uri.user ? 3 : 2, argv, errstr, errstr_size);
        if (rc != SL_OK) goto fail;
    }
    if (rs->uri.db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", rs->uri.db);
        const char *argv[2] = {"SELECT", db};
        rc = sl_redis_setup_cmd(rs, "SELECT", 2, argv, errstr, errstr_size);
        if (rc != SL_OK) goto fail;
    }
    /* PING tells a server that wants a password we did not give (NOAUTH) right away. */
    const char *ping[1] = {"PING"};
    rc = sl_redis_setup_cmd(rs, "PING", 1, ping, errstr, errstr_size);
    if (rc != SL_OK) goto fail;

    /* From here on the connection only carries batches: read their replies without
     * allocating (see sl_redis_counting_fns). */
    rs->rc->reader->fn = &sl_redis_counting_fns;
    rs->rc->reader->privdata = &rs->replies;
    sl_info("redis sink %s: connected to %s:%d db %d", rs->id, rs->uri.host, rs->uri.port,
            rs->uri.db);
    return SL_OK;

fail:
    sl_redis_close(rs);
    return rc;
}

/* Format one XADD per event as RESP straight from the arena into rs->out, hand the whole
 * batch to hiredis at once, then read every reply (allocation-free, see above). */
/* Schema change events without a schema_changes stream are not written. */
static inline bool sl_redis_skipped(const sl_redis_sink_t *rs, const sl_event_t *e)
{
    return sl_unlikely(e->op == SL_OP_SCHEMA) && !rs->sc_tpl;
}

static int sl_redis_deliver(void *sink, const sl_batch_t *b, char *errstr,
                            size_t errstr_size)
{
    sl_redis_sink_t *rs = sink;
    uint32_t i;

    if (!rs->rc) {
        sl_err(errstr, errstr_size, "redis sink %s: not connected", rs->id);
        return SL_AGAIN;
    }
    if (b->n == 0) return SL_OK;

    const char *argc_hdr = rs->maxlen[0] ? "*10\r\n$4\r\nXADD\r\n" : "*7\r\n$4\r\nXADD\r\n";
    size_t argc_hdr_len = strlen(argc_hdr);
    sl_buf_reset(&rs->out);
    uint32_t nsent = 0;
    for (i = 0; i < b->n; i++) {
        const sl_event_t *e = &b->ev[i];
        if (sl_redis_skipped(rs, e)) continue;
        nsent++;
        size_t slen;
        const char *stream = sl_redis_stream(rs, b, e, &slen);
        sl_buf_put(&rs->out, argc_hdr, argc_hdr_len);
        sl_resp_bulk(&rs->out, stream, slen);
        if (rs->maxlen[0]) {
            sl_buf_puts(&rs->out, "$6\r\nMAXLEN\r\n$1\r\n~\r\n");
            sl_resp_bulk(&rs->out, rs->maxlen, strlen(rs->maxlen));
        }
        sl_buf_puts(&rs->out, "$1\r\n*\r\n$3\r\nkey\r\n");
        if (e->key_len) sl_resp_bulk(&rs->out, sl_event_key(b, e), e->key_len);
        else sl_buf_puts(&rs->out, "$4\r\nnull\r\n");
        sl_buf_puts(&rs->out, "$5\r\nvalue\r\n");
        sl_resp_bulk(&rs->out, sl_event_val(b, e), e->val_len);
    }
    if (nsent == 0) return SL_OK;
    if (redisAppendFormattedCommand(rs->rc, rs->out.data, rs->out.len) != REDIS_OK) {
        sl_err(errstr, errstr_size, "redis sink %s: queue XADD: %s", rs->id,
               rs->rc->errstr[0] ? rs->rc->errstr : "out of memory");
        goto fail;
    }

    memset(&rs->replies, 0, sizeof(rs->replies));
    for (i = 0; i < nsent; i++) {
        void *r = NULL;
        if (redisGetReply(rs->rc, &r) != REDIS_OK || !r) {
            sl_err(errstr, errstr_size, "redis sink %s: %s:%d: %s (after %u of %u replies)",
                   rs->id, rs->uri.host, rs->uri.port,
                   rs->rc->errstr[0] ? rs->rc->errstr : "connection lost", i, nsent);
            goto fail;
        }
    }
    if (rs->replies.n_bad) {
        /* the reply index counts the XADDs sent: find that event */
        const sl_event_t *bad = &b->ev[0];
        for (uint32_t k = 0, seen = 0; k < b->n; k++) {
            if (sl_redis_skipped(rs, &b->ev[k])) continue;
            if (seen++ == rs->replies.first_bad_idx) {
                bad = &b->ev[k];
                break;
            }
        }
        size_t slen;
        const char *stream = sl_redis_stream(rs, b, bad, &slen);
        if (rs->replies.first_bad_type == REDIS_REPLY_ERROR)
            sl_err(errstr, errstr_size, "redis sink %s: XADD %.*s: %s (%u of %u failed)",
                   rs->id, (int)(slen > 200 ? 200 : slen), stream, rs->replies.first_err,
                   rs->replies.n_bad, nsent);
        else
            sl_err(errstr, errstr_size, "redis sink %s: XADD %.*s: unexpected reply type %d",
                   rs->id, (int)(slen > 200 ? 200 : slen), stream,
                   rs->replies.first_bad_type);
        goto fail;
    }
    return SL_OK;

fail:
    /* The connection holds unread replies or is broken: never reuse it. */
    sl_redis_close(rs);
    return SL_AGAIN;
}

const sl_sink_ops_t sl_sink_redis = {
    .type = "redis",
    .conf = sl_redis_conf_defs,
    .conf_size = sizeof(sl_redis_conf_t),
    .validate = NULL,
    .create = sl_redis_create,
    .open = sl_redis_open,
    .deliver = sl_redis_deliver,
    .close = sl_redis_close,
    .destroy = sl_redis_destroy,
};
