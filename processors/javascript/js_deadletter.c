/*
 * js_deadletter.c - dead-letter destinations for failed events (see js_deadletter.h).
 *
 * Records are formatted when queued, into a buffer owned by the queue; flush() writes
 * them all and only returns SL_OK once they are durable (file: write + fsync; Redis: every
 * XADD answered with an entry id). A failed flush retries SL_JS_DLQ_ATTEMPTS times with
 * backoff, reconnecting/reopening in between.
 *
 * Threads: a queue belongs to one processor and runs on its thread.
 */
#include "js_deadletter.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>

#define SL_JS_DLQ_ATTEMPTS   4
#define SL_JS_DLQ_BACKOFF_MS 200
#define SL_JS_DLQ_TIMEOUT_MS 5000

typedef enum { SL_JS_DLQ_FILE, SL_JS_DLQ_REDIS } sl_js_dlq_kind_t;

typedef struct sl_js_dlq_uri {
    sl_js_dlq_kind_t kind;
    char *path;                  /* file */
    char *host, *user, *pass;    /* redis */
    int   port, db;
    char *stream;
} sl_js_dlq_uri_t;

struct sl_js_dlq {
    sl_js_dlq_uri_t uri;
    char           *name;        /* for logs, password masked */
    char           *pipeline;
    char           *processor;
    int             fd;          /* file: -1 while closed */
    redisContext   *rc;          /* redis: NULL while closed */
    sl_buf_t        lines;       /* file: queued JSON lines */
    /* redis: queued records as offsets into `fields` (7 field values per record) */
    sl_buf_t        fields;
    uint32_t       *foff;
    size_t          nf, cap_f;
    size_t          queued;
};

/* ---- destinations ----------------------------------------------------------------- */

static void sl_js_dlq_uri_free(sl_js_dlq_uri_t *u)
{
    free(u->path);
    free(u->host);
    free(u->user);
    free(u->pass);
    free(u->stream);
    memset(u, 0, sizeof(*u));
}



static long sl_js_num(const char *s, size_t n, long max)
{
    if (n == 0 || n > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v > max ? -1 : v;
}

/* Parse a destination (grammar in js_deadletter.h). Messages never contain a password. */
static int sl_js_dlq_parse(const char *s, sl_js_dlq_uri_t *u, char *errstr, size_t errstr_size)
{
    static const char usage[] = "expected file:///absolute/path or "
                                "redis://[[user]:password@]host[:port][/db]#stream";
    memset(u, 0, sizeof(*u));
    if (strncasecmp(s, "file://", 7) == 0) {
        u->kind = SL_JS_DLQ_FILE;
        if (s[7] != '/')
            return sl_err(errstr, errstr_size, "file destination needs an absolute path "
                          "(file:///dir/dead.jsonl)");
        if (s[8] == '\0' || s[strlen(s) - 1] == '/')
            return sl_err(errstr, errstr_size, "file destination needs a file name");
        u->path = sl_strdup(s + 7);
        return SL_OK;
    }
    if (strncasecmp(s, "kafka://", 8) == 0)
        return sl_err(errstr, errstr_size, "kafka dead-letter topics are not supported yet "
                      "(use redis:// or file://)");
    if (strncasecmp(s, "redis://", 8) != 0)
        return sl_err(errstr, errstr_size, "unknown destination (%s)", usage);

    u->kind = SL_JS_DLQ_REDIS;
    u->port = 6379;
    const char *rest = s + 8;
    const char *hash = strchr(rest, '#');
    if (!hash || !hash[1]) return sl_err(errstr, errstr_size, "missing #stream (%s)", usage);
    u->stream = sl_strdup(hash + 1);
    size_t restlen = (size_t)(hash - rest);
    const char *at = NULL;
    for (const char *c = rest; c < hash; c++)
        if (*c == '@') at = c;
    const char *hp = at ? at + 1 : rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon) {
            sl_err(errstr, errstr_size, "credentials must be ':password' or 'user:password'");
            goto err;
        }
        if (colon > rest && !(u->user = sl_pct_decode(rest, (size_t)(colon - rest))))
            goto bad_escape;
        if (!(u->pass = sl_pct_decode(colon + 1, (size_t)(at - colon - 1))))
            goto bad_escape;
    }
    size_t hplen = restlen - (size_t)(hp - rest);
    const char *slash = memchr(hp, '/', hplen);
    size_t hostport = slash ? (size_t)(slash - hp) : hplen;
    const char *colon = memchr(hp, ':', hostport);
    size_t hostlen = colon ? (size_t)(colon - hp) : hostport;
    if (hostlen == 0) {
        sl_err(errstr, errstr_size, "missing host (%s)", usage);
        goto err;
    }
    u->host = sl_strndup(hp, hostlen);
    if (colon) {
        long port = sl_js_num(colon + 1, hostport - hostlen - 1, 65535);
        if (port <= 0) {
            sl_err(errstr, errstr_size, "port must be a number from 1 to 65535");
            goto err;
        }
        u->port = (int)port;
    }
    if (slash && slash + 1 < hp + hplen) {
        long db = sl_js_num(slash + 1, (size_t)(hp + hplen - slash - 1), INT_MAX);
        if (db < 0) {
            sl_err(errstr, errstr_size, "database must be a number after '/'");
            goto err;
        }
        u->db = (int)db;
    }
    return SL_OK;
bad_escape:
    sl_err(errstr, errstr_size, "malformed %%XX escape in the credentials");
err:
    sl_js_dlq_uri_free(u);
    return SL_ERR;
}

int sl_js_dlq_check(const char *uri, char *errstr, size_t errstr_size)
{
    sl_js_dlq_uri_t u;
    if (sl_js_dlq_parse(uri, &u, errstr, errstr_size) != SL_OK) return SL_ERR;
    sl_js_dlq_uri_free(&u);
    return SL_OK;
}

sl_js_dlq_t *sl_js_dlq_new(const char *uri, const char *pipeline, const char *processor,
                           char *errstr, size_t errstr_size)
{
    sl_js_dlq_t *q = sl_calloc(1, sizeof(*q));
    q->fd = -1;
    if (sl_js_dlq_parse(uri, &q->uri, errstr, errstr_size) != SL_OK) {
        free(q);
        return NULL;
    }
    sl_buf_t n = SL_BUF_INIT;
    if (q->uri.kind == SL_JS_DLQ_FILE)
        sl_buf_printf(&n, "file://%s", q->uri.path);
    else
        sl_buf_printf(&n, "redis://%s%s:%d/%d#%s", q->uri.pass ? "***@" : "", q->uri.host,
                      q->uri.port, q->uri.db, q->uri.stream);
    q->name = sl_buf_steal(&n);
    q->pipeline = sl_strdup(pipeline ? pipeline : "");
    q->processor = sl_strdup(processor ? processor : "");
    return q;
}

static void sl_js_dlq_close(sl_js_dlq_t *q)
{
    if (q->fd >= 0) close(q->fd);
    q->fd = -1;
    if (q->rc) redisFree(q->rc);
    q->rc = NULL;
}

void sl_js_dlq_free(sl_js_dlq_t *q)
{
    if (!q) return;
    sl_js_dlq_close(q);
    sl_js_dlq_uri_free(&q->uri);
    sl_buf_free(&q->lines);
    sl_buf_free(&q->fields);
    free(q->foff);
    free(q->name);
    free(q->pipeline);
    free(q->processor);
    free(q);
}

const char *sl_js_dlq_name(const sl_js_dlq_t *q) { return q->name; }

/* ---- queueing --------------------------------------------------------------------- */

static void sl_js_dlq_field(sl_js_dlq_t *q, const char *s, size_t n)
{
    if (q->nf + 2 > q->cap_f) {
        q->cap_f = q->cap_f ? q->cap_f * 2 : 64;
        q->foff = sl_realloc(q->foff, q->cap_f * sizeof(*q->foff));
    }
    q->foff[q->nf++] = (uint32_t)q->fields.len;
    sl_buf_put(&q->fields, s, n);
}

void sl_js_dlq_add(sl_js_dlq_t *q, const sl_batch_t *b, const sl_event_t *e,
                   const char *error)
{
    const sl_table_t *t = e->table;
    const char *db = t && t->db ? t->db : "";
    const char *schema = t && t->schema ? t->schema : "";
    const char *table = t && t->name ? t->name : "";
    char op[2] = {(char)e->op, '\0'};
    q->queued++;
    if (q->uri.kind == SL_JS_DLQ_FILE) {
        sl_buf_t *l = &q->lines;
        sl_buf_puts(l, "{\"pipeline\":");
        sl_json_cstr(l, q->pipeline);
        sl_buf_puts(l, ",\"processor\":");
        sl_json_cstr(l, q->processor);
        sl_buf_puts(l, ",\"error\":");
        sl_json_cstr(l, error);
        sl_buf_printf(l, ",\"failed_at_ms\":%llu,\"db\":",
                      (unsigned long long)(sl_now_wall_us() / 1000));
        sl_json_cstr(l, db);
        sl_buf_puts(l, ",\"schema\":");
        sl_json_cstr(l, schema);
        sl_buf_puts(l, ",\"table\":");
        sl_json_cstr(l, table);
        sl_buf_puts(l, ",\"op\":");
        sl_json_cstr(l, op);
        sl_buf_puts(l, ",\"key\":");
        if (e->key_len) sl_buf_put(l, sl_event_key(b, e), e->key_len);
        else sl_buf_puts(l, "null");
        sl_buf_puts(l, ",\"event\":");
        sl_buf_put(l, sl_event_val(b, e), e->val_len);
        sl_buf_puts(l, "}\n");
        return;
    }
    char tname[512];
    int tn = snprintf(tname, sizeof(tname), "%s%s%s", schema, *schema ? "." : "", table);
    sl_js_dlq_field(q, q->pipeline, strlen(q->pipeline));
    sl_js_dlq_field(q, q->processor, strlen(q->processor));
    sl_js_dlq_field(q, error, strlen(error));
    sl_js_dlq_field(q, tname, tn < 0 ? 0 : (size_t)tn >= sizeof(tname) ? sizeof(tname) - 1
                                                                          : (size_t)tn);
    sl_js_dlq_field(q, op, 1);
    if (e->key_len) sl_js_dlq_field(q, sl_event_key(b, e), e->key_len);
    else sl_js_dlq_field(q, "null", 4);
    sl_js_dlq_field(q, sl_event_val(b, e), e->val_len);
}

/* ---- writing ---------------------------------------------------------------------- */

static int sl_js_dlq_write_file(sl_js_dlq_t *q, char *errstr, size_t errstr_size)
{
    if (q->fd < 0) {
        char *dir = sl_strndup(q->uri.path, (size_t)(strrchr(q->uri.path, '/') - q->uri.path));
        char err[SL_ERRSTR_SIZE] = "";
        int rc = dir[0] ? sl_mkdirs(dir, err, sizeof(err)) : SL_OK;
        free(dir);
        if (rc != SL_OK) return sl_err(errstr, errstr_size, "%s", err);
        q->fd = open(q->uri.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (q->fd < 0)
            return sl_err(errstr, errstr_size, "open %s: %s", q->uri.path, strerror(errno));
    }
    off_t start = lseek(q->fd, 0, SEEK_END);
    const char *p = q->lines.data;
    size_t left = q->lines.len;
    while (left) {
        ssize_t w = write(q->fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(q->fd) != 0) goto fail;
    return SL_OK;
fail:
    sl_err(errstr, errstr_size, "write %s: %s", q->uri.path, strerror(errno));
    /* Cut a partial write off so a retry does not leave a torn line. */
    if (start >= 0 && ftruncate(q->fd, start) != 0)
        sl_warn("dead letter %s: cannot truncate after a failed write", q->name);
    sl_js_dlq_close(q);
    return SL_ERR;
}

static int sl_js_dlq_redis_cmd(sl_js_dlq_t *q, int argc, const char **argv, char *errstr,
                               size_t errstr_size)
{
    redisReply *r = redisCommandArgv(q->rc, argc, argv, NULL);
    if (!r) return sl_err(errstr, errstr_size, "%s: %s", argv[0], q->rc->errstr);
    int rc = r->type == REDIS_REPLY_ERROR ? SL_ERR : SL_OK;
    if (rc != SL_OK) sl_err(errstr, errstr_size, "%s: %s", argv[0], r->str);
    freeReplyObject(r);
    return rc;
}

static int sl_js_dlq_write_redis(sl_js_dlq_t *q, char *errstr, size_t errstr_size)
{
    const sl_js_dlq_uri_t *u = &q->uri;
    if (!q->rc) {
        struct timeval tv = {SL_JS_DLQ_TIMEOUT_MS / 1000, 0};
        q->rc = redisConnectWithTimeout(u->host, u->port, tv);
        if (!q->rc || q->rc->err) {
            sl_err(errstr, errstr_size, "connect to %s:%d: %s", u->host, u->port,
                   q->rc ? q->rc->errstr : "out of memory");
            goto fail;
        }
        redisSetTimeout(q->rc, tv);
        if (u->pass) {
            const char *argv[3] = {"AUTH", u->user ? u->user : u->pass, u->pass};
            if (sl_js_dlq_redis_cmd(q, u->user ? 3 : 2, argv, errstr, errstr_size) != SL_OK)
                goto fail;
        }
        if (u->db) {
            char db[16];
            snprintf(db, sizeof(db), "%d", u->db);
            const char *argv[2] = {"SELECT", db};
            if (sl_js_dlq_redis_cmd(q, 2, argv, errstr, errstr_size) != SL_OK) goto fail;
        }
    }
    static const char *const names[7] = {"pipeline", "processor", "error", "table", "op",
                                         "key", "value"};
    size_t nrec = q->nf / 7;
    for (size_t r = 0; r < nrec; r++) {
        const char *argv[17];
        size_t argl[17];
        argv[0] = "XADD";
        argv[1] = u->stream;
        argv[2] = "*";
        for (int i = 0; i < 3; i++) argl[i] = strlen(argv[i]);
        for (size_t f = 0; f < 7; f++) {
            size_t k = r * 7 + f;
            size_t end = k + 1 < q->nf ? q->foff[k + 1] : q->fields.len;
            argv[3 + 2 * f] = names[f];
            argl[3 + 2 * f] = strlen(names[f]);
            argv[4 + 2 * f] = q->fields.data + q->foff[k];
            argl[4 + 2 * f] = end - q->foff[k];
        }
        if (redisAppendCommandArgv(q->rc, 17, argv, argl) != REDIS_OK) {
            sl_err(errstr, errstr_size, "queue XADD: %s", q->rc->errstr);
            goto fail;
        }
    }
    for (size_t r = 0; r < nrec; r++) {
        redisReply *rep = NULL;
        if (redisGetReply(q->rc, (void **)&rep) != REDIS_OK || !rep) {
            sl_err(errstr, errstr_size, "XADD %s: %s", u->stream, q->rc->errstr);
            goto fail;
        }
        bool ok = rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS;
        if (!ok) sl_err(errstr, errstr_size, "XADD %s: %s", u->stream,
                        rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        if (!ok) goto fail;
    }
    return SL_OK;
fail:
    sl_js_dlq_close(q);
    return SL_ERR;
}

int sl_js_dlq_flush(sl_js_dlq_t *q, char *errstr, size_t errstr_size)
{
    if (!q->queued) return SL_OK;
    char err[SL_ERRSTR_SIZE] = "";
    int rc = SL_ERR;
    unsigned backoff = SL_JS_DLQ_BACKOFF_MS;
    for (int attempt = 1; attempt <= SL_JS_DLQ_ATTEMPTS; attempt++) {
        rc = q->uri.kind == SL_JS_DLQ_FILE ? sl_js_dlq_write_file(q, err, sizeof(err))
                                           : sl_js_dlq_write_redis(q, err, sizeof(err));
        if (rc == SL_OK) break;
        sl_warn("dead letter %s: attempt %d of %d failed: %s", q->name, attempt,
                SL_JS_DLQ_ATTEMPTS, err);
        if (attempt < SL_JS_DLQ_ATTEMPTS) {
            sl_sleep_ms(backoff);
            backoff *= 2;
        }
    }
    if (rc != SL_OK)
        sl_err(errstr, errstr_size, "dead letter %s: %zu events not written: %s", q->name,
               q->queued, err);
    sl_buf_reset(&q->lines);
    sl_buf_reset(&q->fields);
    q->nf = 0;
    q->queued = 0;
    return rc;
}
