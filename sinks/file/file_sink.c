/*
 * file_sink.c - the "file" sink: appends each event's value JSON plus '\n' to a file whose
 * path is a template ({db} {schema} {table} {shard}; parent directories are created).
 *
 * Per batch, each file touched gets one writev sequence (iovecs point straight into the
 * batch arena) and one fsync; a newly created file also gets its directory fsynced. The
 * batch is SL_OK only after every touched file is durable. On any failure the files of
 * the batch are truncated back to their size before it, so the core's redelivery does
 * not leave torn or doubled lines (this assumes sluice is the only writer of the file).
 *
 * Values substituted into the path have '/' replaced by '_' and "." / ".." replaced, so a
 * table name can never climb out of the configured directory.
 *
 * Schema change events (SL_OP_SCHEMA) go to the `schema_changes` path template (same
 * placeholders and rules), or are skipped when the sink has none.
 *
 * Threads: an instance lives on its sink thread; nothing here is shared.
 */
#include "sl_common.h"
#include "sl_connector.h"
#include "sl_pipeline.h"
#include "sl_template.h"
#include "sl_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SL_FILE_MAX_OPEN 128    /* open fds kept across batches before closing old ones */

/* ---- configuration ---------------------------------------------------------------- */

typedef struct sl_file_conf {
    sl_sink_common_t common;
    char *path;
} sl_file_conf_t;

static const sl_conf_def_t sl_file_conf_defs[] = {
    SL_SINK_COMMON_KEYS(sl_file_conf_t),
    {.key = "path", .type = SL_CT_STR, .offset = offsetof(sl_file_conf_t, path),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .check = sl_template_check,
     .doc = "file to append JSON lines to; may use {db} {schema} {table} {shard}"},
    {.key = NULL},
};

/* ---- instance --------------------------------------------------------------------- */

/* One output file. */
typedef struct sl_file_out {
    char         *path;
    int           fd;          /* -1 while closed */
    bool          sync_dir;    /* created (or found empty) since its last durable batch */
    bool          regular;     /* a regular file (not /dev/stdout, a FIFO...): truncatable */
    uint64_t      last_batch;  /* batch counter when last written (closing old fds) */
    /* per-batch state */
    bool          touched;
    off_t         start;       /* size before this batch: the rollback point */
    struct iovec *iov;
    size_t        niov, iov_cap;
} sl_file_out_t;

/* Destination cache entry: interned table pointer + shard -> index into outs. */
typedef struct sl_file_dest {
    const sl_table_t *table;
    int32_t           shard;
    bool              used;    /* false: empty slot */
    uint32_t          out;
} sl_file_dest_t;

typedef struct sl_file_sink {
    char           *id;
    sl_template_t  *tpl;
    sl_template_t  *sc_tpl;     /* schema_changes, or NULL */
    int32_t         static_out; /* output of a static path, -1 until first used */
    sl_file_out_t  *outs;
    size_t          nouts, outs_cap;
    size_t          nopen;
    sl_file_dest_t *dests;      /* open addressing, cap a power of two, load <= 1/2 */
    size_t          ndests, dests_cap;
    uint32_t       *touched;    /* indices of outs touched by the current batch */
    size_t          ntouched, touched_cap;
    uint64_t        batches;
    sl_buf_t        scratch;
} sl_file_sink_t;

static const char sl_file_nl = '\n';

static size_t sl_file_dest_hash(const sl_table_t *table, int32_t shard)
{
    uint64_t h = (uint64_t)(uintptr_t)table * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uint32_t)shard * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static void sl_file_dest_grow(sl_file_sink_t *fs)
{
    size_t cap = fs->dests_cap ? fs->dests_cap * 2 : 16;
    sl_file_dest_t *d = sl_calloc(cap, sizeof(*d));
    for (size_t i = 0; i < fs->dests_cap; i++) {
        if (!fs->dests[i].used) continue;
        size_t j = sl_file_dest_hash(fs->dests[i].table, fs->dests[i].shard) & (cap - 1);
        while (d[j].used) j = (j + 1) & (cap - 1);
        d[j] = fs->dests[i];
    }
    free(fs->dests);
    fs->dests = d;
    fs->dests_cap = cap;
}

/* Append s (NUL-terminated) to b with path separators and dot-names made harmless.
 * Returns the offset of the copy in b. */
static size_t sl_file_safe(sl_buf_t *b, const char *s)
{
    size_t start = b->len;
    if (!s) s = "";
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        for (const char *c = s; *c; c++) sl_buf_putc(b, '_');
    } else {
        for (const char *c = s; *c; c++) sl_buf_putc(b, *c == '/' ? '_' : *c);
    }
    sl_buf_putc(b, '\0');
    return start;
}

/* Index of the output for path, adding a closed one when new. */
static uint32_t sl_file_out_for(sl_file_sink_t *fs, const char *path)
{
    for (size_t i = 0; i < fs->nouts; i++)
        if (strcmp(fs->outs[i].path, path) == 0) return (uint32_t)i;
    if (fs->nouts == fs->outs_cap) {
        fs->outs_cap = fs->outs_cap ? fs->outs_cap * 2 : 4;
        fs->outs = sl_realloc(fs->outs, fs->outs_cap * sizeof(*fs->outs));
    }
    sl_file_out_t *o = &fs->outs[fs->nouts];
    memset(o, 0, sizeof(*o));
    o->path = sl_strdup(path);
    o->fd = -1;
    return (uint32_t)fs->nouts++;
}

/* The path of template tpl for table (names sanitized) into out. */
static void sl_file_render(sl_file_sink_t *fs, const sl_template_t *tpl,
                           const sl_table_t *table, int32_t shard, sl_buf_t *out)
{
    sl_buf_reset(&fs->scratch);
    size_t db = sl_file_safe(&fs->scratch, table ? table->db : NULL);
    size_t schema = sl_file_safe(&fs->scratch, table ? table->schema : NULL);
    size_t name = sl_file_safe(&fs->scratch, table ? table->name : NULL);
    sl_table_t safe = {
        .db = fs->scratch.data + db,
        .schema = fs->scratch.data + schema,
        .name = fs->scratch.data + name,
    };
    sl_template_render(tpl, &safe, shard, out);
}

/* The output of an event; the path is rendered once per (table, shard). Schema change
 * events are rare: rendered each time. */
static uint32_t sl_file_out_of(sl_file_sink_t *fs, const sl_event_t *e)
{
    if (sl_unlikely(e->op == SL_OP_SCHEMA)) {
        sl_buf_t path = SL_BUF_INIT;
        sl_file_render(fs, fs->sc_tpl, e->table, -1, &path);
        uint32_t out = sl_file_out_for(fs, sl_buf_cstr(&path));
        sl_buf_free(&path);
        return out;
    }
    if (sl_template_is_static(fs->tpl)) {
        if (fs->static_out < 0) {
            sl_buf_reset(&fs->scratch);
            sl_template_render(fs->tpl, NULL, -1, &fs->scratch);
            fs->static_out = (int32_t)sl_file_out_for(fs, sl_buf_cstr(&fs->scratch));
        }
        return (uint32_t)fs->static_out;
    }
    if ((fs->ndests + 1) * 2 > fs->dests_cap) sl_file_dest_grow(fs);
    size_t mask = fs->dests_cap - 1, j = sl_file_dest_hash(e->table, e->shard) & mask;
    for (; fs->dests[j].used; j = (j + 1) & mask)
        if (fs->dests[j].table == e->table && fs->dests[j].shard == e->shard)
            return fs->dests[j].out;

    sl_buf_t path = SL_BUF_INIT;
    sl_file_render(fs, fs->tpl, e->table, e->shard, &path);
    uint32_t out = sl_file_out_for(fs, sl_buf_cstr(&path));
    sl_buf_free(&path);

    fs->dests[j] = (sl_file_dest_t){.table = e->table, .shard = e->shard, .used = true,
                                    .out = out};
    fs->ndests++;
    return out;
}

static void sl_file_out_close(sl_file_sink_t *fs, sl_file_out_t *o)
{
    if (o->fd < 0) return;
    close(o->fd);
    o->fd = -1;
    fs->nopen--;
}

/* Close the least recently written file not used by the current batch. */
static void sl_file_close_oldest(sl_file_sink_t *fs)
{
    sl_file_out_t *old = NULL;
    for (size_t i = 0; i < fs->nouts; i++) {
        sl_file_out_t *o = &fs->outs[i];
        if (o->fd >= 0 && !o->touched && (!old || o->last_batch < old->last_batch)) old = o;
    }
    if (old) sl_file_out_close(fs, old);
}

/* fsync the directory holding path. */
static int sl_file_sync_dir(const char *path, char *errstr, size_t errstr_size)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? sl_strndup(path, slash == path ? 1 : (size_t)(slash - path))
                      : sl_strdup(".");
    int rc = SL_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        sl_err(errstr, errstr_size, "fsync directory %s: %s", dir, strerror(errno));
        rc = SL_ERR;
    }
    if (fd >= 0) close(fd);
    free(dir);
    return rc;
}

/* Make o ready for this batch: open (creating parent dirs) or reopen when the file was
 * removed or renamed away, and remember its size as the rollback point. */
static int sl_file_out_begin(sl_file_sink_t *fs, sl_file_out_t *o, char *errstr,
                             size_t errstr_size)
{
    struct stat st;

    if (o->fd >= 0) {
        struct stat cur;
        if (fstat(o->fd, &st) != 0 || st.st_nlink == 0 || stat(o->path, &cur) != 0 ||
            cur.st_ino != st.st_ino || cur.st_dev != st.st_dev)
            sl_file_out_close(fs, o);   /* rotated away: write to the path again */
    }
    if (o->fd < 0) {
        while (fs->nopen >= SL_FILE_MAX_OPEN && fs->nopen > 0) {
            size_t before = fs->nopen;
            sl_file_close_oldest(fs);
            if (fs->nopen == before) break;
        }
        const int flags = O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC;   /* read: torn lines */
        o->fd = open(o->path, flags, 0644);
        if (o->fd < 0 && errno == ENOENT && strchr(o->path, '/')) {
            char *dir = sl_strndup(o->path, (size_t)(strrchr(o->path, '/') - o->path));
            char err[SL_ERRSTR_SIZE] = "";
            int rc = dir[0] ? sl_mkdirs(dir, err, sizeof(err)) : SL_OK;
            free(dir);
            if (rc != SL_OK)
                return sl_err(errstr, errstr_size, "create directories for %s: %s", o->path,
                              err);
            o->fd = open(o->path, flags, 0644);
        }
        if (o->fd < 0) return sl_err(errstr, errstr_size, "open %s: %s", o->path,
                                     strerror(errno));
        fs->nopen++;
        if (fstat(o->fd, &st) != 0) {
            sl_err(errstr, errstr_size, "fstat %s: %s", o->path, strerror(errno));
            sl_file_out_close(fs, o);
            return SL_ERR;
        }
        o->regular = S_ISREG(st.st_mode);
        if (o->regular && st.st_size == 0) o->sync_dir = true;   /* maybe just created */
        if (o->regular && st.st_size > 0) {
            /* A crash (kill -9) in the middle of a write can leave a torn last line. It
             * belonged to a batch that was never acknowledged (we fsync before we ack),
             * so cut it off: the batch is redelivered whole. */
            char c = '\n';
            if (pread(o->fd, &c, 1, st.st_size - 1) == 1 && c != '\n') {
                off_t keep = st.st_size - 1;
                char buf[4096];
                bool found = false;
                while (keep > 0 && !found) {
                    off_t from = keep > (off_t)sizeof(buf) ? keep - (off_t)sizeof(buf) : 0;
                    ssize_t n = pread(o->fd, buf, (size_t)(keep - from), from);
                    if (n <= 0) break;
                    for (ssize_t i = n - 1; i >= 0; i--)
                        if (buf[i] == '\n') {
                            keep = from + i + 1;
                            found = true;
                            break;
                        }
                    if (!found) keep = from;
                }
                if (ftruncate(o->fd, found ? keep : 0) == 0) {
                    sl_warn("file sink: %s ended with a torn line (an interrupted write); "
                            "cut %lld bytes", o->path,
                            (long long)(st.st_size - (found ? keep : 0)));
                    st.st_size = found ? keep : 0;
                }
            }
        }
    }
    o->start = st.st_size;
    o->touched = true;
    o->niov = 0;
    o->last_batch = fs->batches;
    return SL_OK;
}

static void sl_file_out_push(sl_file_out_t *o, const void *p, size_t n)
{
    if (o->niov == o->iov_cap) {
        o->iov_cap = o->iov_cap ? o->iov_cap * 2 : 64;
        o->iov = sl_realloc(o->iov, o->iov_cap * sizeof(*o->iov));
    }
    o->iov[o->niov].iov_base = (void *)(uintptr_t)p;
    o->iov[o->niov].iov_len = n;
    o->niov++;
}

/* writev all of iov[0..n), IOV_MAX at a time, resuming after short writes. */
static int sl_file_writev_all(int fd, struct iovec *iov, size_t n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n > IOV_MAX ? IOV_MAX : (int)n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

static void sl_file_destroy(void *sink);

static void *sl_file_create(const void *conf, sl_pipeline_t *p, char *errstr,
                            size_t errstr_size)
{
    const sl_file_conf_t *c = conf;
    sl_file_sink_t *fs = sl_calloc(1, sizeof(*fs));
    char msg[SL_ERRSTR_SIZE];
    SL_UNUSED(p);

    fs->id = sl_strdup(c->common.id ? c->common.id : "file");
    if (!c->path || !c->path[0]) {
        sl_err(errstr, errstr_size, "file sink %s: path is required", fs->id);
        goto err;
    }
    fs->static_out = -1;
    fs->tpl = sl_template_new(c->path, msg, sizeof(msg));
    if (!fs->tpl) {
        sl_err(errstr, errstr_size, "file sink %s: path: %s", fs->id, msg);
        goto err;
    }
    if (c->common.schema_changes &&
        !(fs->sc_tpl = sl_template_new(c->common.schema_changes, msg, sizeof(msg)))) {
        sl_err(errstr, errstr_size, "file sink %s: schema_changes: %s", fs->id, msg);
        goto err;
    }
    return fs;

err:
    sl_file_destroy(fs);
    return NULL;
}

static int sl_file_open(void *sink, char *errstr, size_t errstr_size)
{
    SL_UNUSED(sink);
    SL_UNUSED(errstr);
    SL_UNUSED(errstr_size);
    return SL_OK;   /* files are opened on first use */
}

static void sl_file_close(void *sink)
{
    sl_file_sink_t *fs = sink;
    for (size_t i = 0; i < fs->nouts; i++) sl_file_out_close(fs, &fs->outs[i]);
}

static void sl_file_destroy(void *sink)
{
    sl_file_sink_t *fs = sink;
    if (!fs) return;
    sl_file_close(fs);
    for (size_t i = 0; i < fs->nouts; i++) {
        free(fs->outs[i].path);
        free(fs->outs[i].iov);
    }
    free(fs->outs);
    free(fs->dests);
    free(fs->touched);
    sl_buf_free(&fs->scratch);
    sl_template_free(fs->tpl);
    sl_template_free(fs->sc_tpl);
    free(fs->id);
    free(fs);
}

/* Undo a failed batch: cut every touched file back to its size before the batch and
 * close it (the next attempt reopens it). */
static void sl_file_rollback(sl_file_sink_t *fs)
{
    for (size_t t = 0; t < fs->ntouched; t++) {
        sl_file_out_t *o = &fs->outs[fs->touched[t]];
        if (o->fd >= 0 && o->regular && ftruncate(o->fd, o->start) != 0)
            sl_warn("file sink %s: cannot truncate %s back to %lld bytes: %s; the retry "
                    "may duplicate lines", fs->id, o->path, (long long)o->start,
                    strerror(errno));
        sl_file_out_close(fs, o);
        o->touched = false;
    }
    fs->ntouched = 0;
}

static int sl_file_deliver(void *sink, const sl_batch_t *b, char *errstr,
                           size_t errstr_size)
{
    sl_file_sink_t *fs = sink;
    char msg[SL_ERRSTR_SIZE];

    if (b->n == 0) return SL_OK;
    fs->batches++;
    fs->ntouched = 0;

    for (uint32_t i = 0; i < b->n; i++) {
        const sl_event_t *e = &b->ev[i];
        if (sl_unlikely(e->op == SL_OP_SCHEMA) && !fs->sc_tpl) continue;
        uint32_t idx = sl_file_out_of(fs, e);
        sl_file_out_t *o = &fs->outs[idx];
        if (!o->touched) {
            if (fs->ntouched == fs->touched_cap) {
                fs->touched_cap = fs->touched_cap ? fs->touched_cap * 2 : 8;
                fs->touched = sl_realloc(fs->touched, fs->touched_cap * sizeof(uint32_t));
            }
            fs->touched[fs->ntouched++] = idx;
            if (sl_file_out_begin(fs, o, msg, sizeof(msg)) != SL_OK) goto fail;
        }
        sl_file_out_push(o, sl_event_val(b, e), e->val_len);
        sl_file_out_push(o, &sl_file_nl, 1);
    }

    for (size_t t = 0; t < fs->ntouched; t++) {
        sl_file_out_t *o = &fs->outs[fs->touched[t]];
        if (sl_file_writev_all(o->fd, o->iov, o->niov) != 0) {
            snprintf(msg, sizeof(msg), "write %s: %s", o->path, strerror(errno));
            goto fail;
        }
    }
    for (size_t t = 0; t < fs->ntouched; t++) {
        sl_file_out_t *o = &fs->outs[fs->touched[t]];
        /* Pipes and devices (path: /dev/stdout while debugging) cannot be fsynced. */
        if (fsync(o->fd) != 0 && (o->regular || errno != EINVAL)) {
            snprintf(msg, sizeof(msg), "fsync %s: %s", o->path, strerror(errno));
            goto fail;
        }
        if (o->sync_dir && sl_file_sync_dir(o->path, msg, sizeof(msg)) != SL_OK) goto fail;
    }
    for (size_t t = 0; t < fs->ntouched; t++) {
        sl_file_out_t *o = &fs->outs[fs->touched[t]];
        o->touched = false;
        o->sync_dir = false;
    }
    fs->ntouched = 0;
    return SL_OK;

fail:
    sl_err(errstr, errstr_size, "file sink %s: %s", fs->id, msg);
    sl_file_rollback(fs);
    return SL_AGAIN;
}

const sl_sink_ops_t sl_sink_file = {
    .type = "file",
    .conf = sl_file_conf_defs,
    .conf_size = sizeof(sl_file_conf_t),
    .validate = NULL,
    .create = sl_file_create,
    .open = sl_file_open,
    .deliver = sl_file_deliver,
    .close = sl_file_close,
    .destroy = sl_file_destroy,
};
