/*
 * sl_pipeline.c - the pipeline runtime: batching on the source thread, one delivery
 * thread per sink, and the committer that moves the checkpoint in source order.
 *
 * Threads and ownership
 *   - source thread: runs the source's run(); owns p->cur (the open batch) and all
 *     batcher fields (marked [src]). Closes batches, runs processors, submits.
 *   - sink threads (one per sink): deliver the batches of their queue in order, retry
 *     with capped exponential backoff, then report the outcome under p->lock; whichever
 *     thread reports runs the committer (sl_commit_advance) under that lock.
 *   - control thread: new/start/request_stop/join/free, stats and checkpoint reads.
 *
 * Invariants
 *   - Batches are numbered in source order; the checkpoint only moves through a prefix
 *     of batches that all met the commit policy, so a crash at any instant can only
 *     replay, never skip.
 *   - At most spec.batch.max_inflight batches exist between submit and release: this
 *     bounds memory and pushes back on the source when a sink is slow.
 *   - "received" (what the source has seen) and "acknowledged" (what sinks made durable,
 *     p->ckpt) are kept apart; only the acknowledged position reaches the source's ack().
 */
#include "sl_pipeline.h"
#include "sl_log.h"
#include "sl_json.h"

#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#define SL_STOP_WAIT_MS      30000   /* default: a stop waits this long for the sinks */
#define SL_CKPT_WRITE_MS     1000    /* checkpoint file is rewritten at most this often */
#define SL_BACKOFF_MIN_MS    100
#define SL_BACKOFF_MAX_MS    5000
#define SL_GIVE_UP_ATTEMPTS  3       /* non-needed sink: attempts on a committed batch */

const double sl_batch_size_buckets[SL_HIST_BUCKETS] = {1, 5, 10, 25, 50, 100, 250, 500,
                                                       1000, 2500, 5000, 10000};
const double sl_latency_buckets[SL_HIST_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1, 0.25, 0.5, 1, 2.5, 10};

static void sl_hist_observe(sl_hist_t *h, const double *bounds, double v)
{
    size_t i = 0;
    while (i < SL_HIST_BUCKETS && v > bounds[i]) i++;
    h->count[i]++;
    h->sum += v;
    h->n++;
}

typedef struct sl_sink_rt {
    sl_pipeline_t        *p;
    uint32_t              idx;
    const sl_sink_spec_t *spec;
    void                 *sink;
    pthread_t             thread;
    bool                  started;
    bool                  needed;     /* the policy cannot be met without this sink */
    bool                  is_open;    /* [sink thread] */
    atomic_bool           connected;  /* is_open, readable from any thread (readiness) */
    /* queue of batches to deliver, in order; guarded by p->lock */
    sl_batch_t          **q;
    uint32_t              qhead, qlen, qcap;
    uint64_t              delivered, retries, errors;   /* guarded by p->lock */
    uint64_t              batches, gave_up;             /* guarded by p->lock */
} sl_sink_rt_t;

struct sl_pipeline {
    const sl_spec_t *spec;
    char            *dir;          /* <data_dir>/<name> */
    char            *ckpt_path;
    json_t          *stored_ckpt;  /* position object read at startup, or NULL */

    void            *src;
    void           **procs;
    sl_sink_rt_t    *sinks;
    uint32_t         nsinks;
    uint32_t         all_mask, required_mask;

    pthread_t        src_thread;
    bool             src_started;
    atomic_bool      stop;         /* stop requested: source finishes and drains */
    atomic_bool      abort;        /* drain gave up: sinks stop retrying */
    atomic_bool      sinks_stop;   /* source is done: sinks exit once their queue is empty */
    atomic_int       state;
    atomic_bool      source_connected;
    atomic_bool      paused;
    atomic_uint_fast64_t tx_seen;
    atomic_int       threads_running;
    _Atomic uint64_t stop_requested_us; /* monotonic time of the stop request, 0: none */
    unsigned         stop_timeout_ms;   /* SLUICE_STOP_TIMEOUT (s), default 30 s */

    pthread_mutex_t  lock;         /* guards: everything below, sink queues, batch commit
                                      fields, stats */
    pthread_cond_t   cond;         /* batch released, queue pushed, stop */
    sl_batch_t      *free_list;
    sl_batch_t      *inflight_head, *inflight_tail;
    uint32_t         ninflight;
    uint64_t         next_seq;
    sl_pipeline_stats_t stats;
    char             last_error[SL_ERRSTR_SIZE];
    sl_buf_t         ckpt;         /* last committed position JSON (empty: none) */
    uint64_t         ckpt_version; /* bumped on every commit that moved it */
    uint64_t         ckpt_commit_us;
    bool             ckpt_force;   /* write the checkpoint file at the next chance */

    pthread_mutex_t  ckpt_write_lock; /* serializes checkpoint file writes */
    uint64_t         ckpt_written_version;
    uint64_t         ckpt_written_us;

    /* batcher state [src] */
    sl_batch_t      *cur;
    uint32_t         tx_start_idx;
    size_t           tx_start_off;
    size_t           mark;          /* arena length after the last accepted event */
    bool             in_tx;
    uint64_t         cur_first_us;  /* monotonic time of cur's first event or position */
    void           (*idle_fn)(void *);
    void            *idle_arg;
    sl_table_t      *tables;
};

static void sl_commit_advance(sl_pipeline_t *p);
static void sl_ckpt_write(sl_pipeline_t *p, bool force);

/* ================================================================================= */
/* Files                                                                             */
/* ================================================================================= */

int sl_mkdirs(const char *path, char *errstr, size_t errstr_size)
{
    char *tmp = sl_strdup(path);
    for (char *s = tmp + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(tmp, 0755) == -1 && errno != EEXIST) {
                int e = errno;
                sl_err(errstr, errstr_size, "cannot create directory %s: %s", tmp, strerror(e));
                free(tmp);
                return SL_ERR;
            }
            *s = c;
            if (c == '\0') break;
        }
    }
    free(tmp);
    return SL_OK;
}

int sl_write_file_atomic(const char *path, const void *data, size_t len,
                         char *errstr, size_t errstr_size)
{
    size_t plen = strlen(path);
    char *tmp = sl_malloc(plen + 16);
    snprintf(tmp, plen + 16, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        sl_err(errstr, errstr_size, "cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return SL_ERR;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            sl_err(errstr, errstr_size, "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return SL_ERR;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) == -1 || close(fd) == -1) {
        sl_err(errstr, errstr_size, "cannot sync %s: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return SL_ERR;
    }
    if (rename(tmp, path) == -1) {
        sl_err(errstr, errstr_size, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return SL_ERR;
    }
    free(tmp);
    /* Make the rename itself durable. */
    char *dir = sl_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(dir);
    return SL_OK;
}

/* ================================================================================= */
/* Batches                                                                           */
/* ================================================================================= */

static sl_batch_t *sl_batch_new(void)
{
    sl_batch_t *b = sl_calloc(1, sizeof(*b));
    b->cap = 256;
    b->ev = sl_malloc(b->cap * sizeof(*b->ev));
    return b;
}

static void sl_batch_free(sl_batch_t *b)
{
    if (!b) return;
    free(b->ev);
    sl_buf_free(&b->arena);
    sl_buf_free(&b->pos.json);
    free(b);
}

static void sl_batch_reset(sl_batch_t *b)
{
    b->seq = 0;
    b->n = 0;
    sl_buf_reset(&b->arena);
    b->has_pos = false;
    b->pos.lsn = b->pos.aux = 0;
    sl_buf_reset(&b->pos.json);
    b->acked = b->done = 0;
    b->committed = false;
    b->closed_us = 0;
    b->next = NULL;
}

/* Take a batch from the free list or allocate one. Caller holds p->lock. */
static sl_batch_t *sl_batch_get_locked(sl_pipeline_t *p)
{
    sl_batch_t *b = p->free_list;
    if (b) {
        p->free_list = b->next;
        b->next = NULL;
        return b;
    }
    return sl_batch_new();
}

static void sl_batch_push_event(sl_batch_t *b, const sl_event_t *ev)
{
    if (sl_unlikely(b->n == b->cap)) {
        b->cap *= 2;
        b->ev = sl_realloc(b->ev, b->cap * sizeof(*b->ev));
    }
    b->ev[b->n++] = *ev;
}

static bool sl_policy_met(const sl_pipeline_t *p, const sl_batch_t *b)
{
    switch (p->spec->commit_mode) {
    case SL_COMMIT_ALL:
        return b->acked == p->all_mask;
    case SL_COMMIT_QUORUM:
        return (int64_t)__builtin_popcount(b->acked) >= p->spec->quorum;
    case SL_COMMIT_REQUIRED:
    default:
        return (b->acked & p->required_mask) == p->required_mask;
    }
}

/* ================================================================================= */
/* Committer (under p->lock, on a sink thread or the source thread)                  */
/* ================================================================================= */

static void sl_commit_advance(sl_pipeline_t *p)
{
    bool moved = false;
    for (sl_batch_t *b = p->inflight_head; b; b = b->next) {
        if (b->committed) continue;
        if (!sl_policy_met(p, b)) break;
        b->committed = true;
        p->stats.batches++;
        p->stats.events_out += b->n;
        if (b->n) {
            sl_hist_observe(&p->stats.batch_size, sl_batch_size_buckets, (double)b->n);
            uint64_t now = sl_now_wall_us();
            uint64_t c = b->ev[0].commit_us;
            if (c && now > c)
                sl_hist_observe(&p->stats.latency, sl_latency_buckets, (double)(now - c) / 1e6);
        }
        if (b->has_pos) {
            sl_debug("commit: batch %llu (%u events) moves the checkpoint to %.*s",
                     (unsigned long long)b->seq, b->n, (int)b->pos.json.len, b->pos.json.data);
            /* A snapshot ending (its progress replaced by a stream position) is written
             * at once, not within SL_CKPT_WRITE_MS: a restart must not resume a snapshot
             * that completed while the source already confirmed stream positions. */
            bool was_snap = memmem(p->ckpt.data ? p->ckpt.data : "", p->ckpt.len,
                                   "\"snapshot\"", 10) != NULL;
            bool is_snap = memmem(b->pos.json.data ? b->pos.json.data : "", b->pos.json.len,
                                  "\"snapshot\"", 10) != NULL;
            if (was_snap != is_snap) p->ckpt_force = true;
            sl_buf_reset(&p->ckpt);
            sl_buf_put(&p->ckpt, b->pos.json.data, b->pos.json.len);
            p->ckpt_version++;
            p->ckpt_commit_us = sl_now_wall_us();
            if (p->spec->source_ops->ack) p->spec->source_ops->ack(p->src, &b->pos);
            moved = true;
        }
    }
    /* Release the committed prefix that every sink is done with. */
    while (p->inflight_head && p->inflight_head->committed &&
           p->inflight_head->done == p->all_mask) {
        sl_batch_t *b = p->inflight_head;
        p->inflight_head = b->next;
        if (!p->inflight_head) p->inflight_tail = NULL;
        p->ninflight--;
        sl_batch_reset(b);
        b->next = p->free_list;
        p->free_list = b;
    }
    SL_UNUSED(moved);
    pthread_cond_broadcast(&p->cond);
}

/* Write the checkpoint file when it changed and SL_CKPT_WRITE_MS passed (or force).
 * Called without p->lock. The file may lag the acknowledged position: a restart then
 * replays a little (at-least-once); PostgreSQL resumes from the slot anyway. */
static void sl_ckpt_write(sl_pipeline_t *p, bool force)
{
    pthread_mutex_lock(&p->ckpt_write_lock);
    uint64_t now = sl_now_mono_us();
    pthread_mutex_lock(&p->lock);
    if (p->ckpt_force) force = true;
    p->ckpt_force = false;
    pthread_mutex_unlock(&p->lock);
    if (!force && now - p->ckpt_written_us < SL_CKPT_WRITE_MS * 1000ull) {
        pthread_mutex_unlock(&p->ckpt_write_lock);
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (p->ckpt_version == p->ckpt_written_version || p->ckpt.len == 0) {
        pthread_mutex_unlock(&p->lock);
        pthread_mutex_unlock(&p->ckpt_write_lock);
        return;
    }
    uint64_t version = p->ckpt_version;
    sl_buf_t doc = SL_BUF_INIT;
    sl_buf_puts(&doc, "{\"pipeline\":");
    sl_json_cstr(&doc, p->spec->name);
    sl_buf_puts(&doc, ",\"source\":");
    sl_json_cstr(&doc, p->spec->source_ops->type);
    sl_buf_puts(&doc, ",\"position\":");
    sl_buf_put(&doc, p->ckpt.data, p->ckpt.len);
    sl_buf_printf(&doc, ",\"committed_at_us\":%llu}\n",
                  (unsigned long long)p->ckpt_commit_us);
    pthread_mutex_unlock(&p->lock);

    char err[SL_ERRSTR_SIZE];
    if (sl_write_file_atomic(p->ckpt_path, doc.data, doc.len, err, sizeof(err)) != SL_OK) {
        sl_error("checkpoint not persisted: %s", err);
    } else {
        p->ckpt_written_version = version;
        p->ckpt_written_us = now;
    }
    sl_buf_free(&doc);
    pthread_mutex_unlock(&p->ckpt_write_lock);
}

/* ================================================================================= */
/* Sink threads                                                                      */
/* ================================================================================= */

static void sl_pipeline_fail(sl_pipeline_t *p, const char *fmt, const char *detail)
{
    pthread_mutex_lock(&p->lock);
    if (!p->last_error[0]) snprintf(p->last_error, sizeof(p->last_error), fmt, detail);
    pthread_mutex_unlock(&p->lock);
    atomic_store(&p->state, SL_PSTATE_FAILED);
    atomic_store(&p->stop, true);
    atomic_store(&p->abort, true);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Sleep up to ms in short steps, returning early (true) once *flag is set. */
static bool sl_sleep_until_flag(atomic_bool *flag, unsigned ms)
{
    uint64_t end = sl_now_mono_us() + ms * 1000ull;
    while (!atomic_load(flag)) {
        uint64_t now = sl_now_mono_us();
        if (now >= end) return false;
        uint64_t left = (end - now) / 1000;
        sl_sleep_ms(left > 50 ? 50 : (unsigned)(left ? left : 1));
    }
    return true;
}

/* Sleep up to ms unless the pipeline aborts; true when aborted. */
static bool sl_sleep_unless_abort(sl_pipeline_t *p, unsigned ms)
{
    return sl_sleep_until_flag(&p->abort, ms);
}

static void *sl_sink_thread(void *arg)
{
    sl_sink_rt_t *s = arg;
    sl_pipeline_t *p = s->p;
    const sl_sink_ops_t *ops = s->spec->ops;
    const char *sid = sl_sink_spec_common(s->spec)->id;
    char err[SL_ERRSTR_SIZE];
    sl_log_set_thread_ctx(p->spec->name);

    /* Connect before the first batch, so readiness reflects the sink from the start. */
    unsigned open_attempt = 0, open_backoff = SL_BACKOFF_MIN_MS;
    while (!atomic_load(&p->abort) && !atomic_load(&p->sinks_stop)) {
        int rc = ops->open(s->sink, err, sizeof(err));
        if (rc == SL_OK) {
            s->is_open = true;
            atomic_store(&s->connected, true);
            break;
        }
        if (rc == SL_ERR) {
            sl_error("sink %s: fatal: %s", sid, err);
            char msg[SL_ERRSTR_SIZE + 64];
            snprintf(msg, sizeof(msg), "sink %s: %s", sid, err);
            sl_pipeline_fail(p, "%s", msg);
            break;
        }
        if (open_attempt++ % 10 == 0)
            sl_warn("sink %s: cannot connect (retrying in %u ms): %s", sid, open_backoff, err);
        if (sl_sleep_unless_abort(p, open_backoff)) break;
        open_backoff = open_backoff * 2 > SL_BACKOFF_MAX_MS ? SL_BACKOFF_MAX_MS
                                                              : open_backoff * 2;
    }

    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (s->qlen == 0 && !atomic_load(&p->sinks_stop) && !atomic_load(&p->abort))
            pthread_cond_wait(&p->cond, &p->lock);
        if (s->qlen == 0 || atomic_load(&p->abort)) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        sl_batch_t *b = s->q[s->qhead];
        pthread_mutex_unlock(&p->lock);

        bool ok = false;
        unsigned attempt = 0;
        unsigned backoff = SL_BACKOFF_MIN_MS;
        for (;;) {
            int rc = SL_OK;
            err[0] = '\0';
            if (!s->is_open) {
                rc = ops->open(s->sink, err, sizeof(err));
                if (rc == SL_OK) s->is_open = true;
                atomic_store(&s->connected, s->is_open);
            }
            if (rc == SL_OK) rc = ops->deliver(s->sink, b, err, sizeof(err));
            if (rc == SL_OK) {
                if (attempt) sl_info("sink %s: delivered after %u retries", sid, attempt);
                ok = true;
                break;
            }
            if (rc == SL_ERR) {
                sl_error("sink %s: fatal: %s", sid, err);
                char msg[SL_ERRSTR_SIZE + 64];
                snprintf(msg, sizeof(msg), "sink %s: %s", sid, err);
                sl_pipeline_fail(p, "%s", msg);
                break;
            }
            /* SL_AGAIN: close, back off, reopen, redeliver the whole batch. */
            if (s->is_open && ops->close) ops->close(s->sink);
            s->is_open = false;
            atomic_store(&s->connected, false);
            attempt++;
            pthread_mutex_lock(&p->lock);
            s->retries++;
            s->errors++;
            p->stats.sink_retries++;
            p->stats.sink_errors++;
            bool committed = b->committed;
            pthread_mutex_unlock(&p->lock);
            if (attempt == 1 || attempt % 10 == 0)
                sl_warn("sink %s: delivery failed (attempt %u, retrying in %u ms): %s", sid,
                        attempt, backoff, err);
            if (!s->needed && committed && attempt >= SL_GIVE_UP_ATTEMPTS) {
                sl_warn("sink %s: giving up on batch %llu (%u events) after %u attempts; "
                        "the commit policy was met without this sink", sid,
                        (unsigned long long)b->seq, b->n, attempt);
                pthread_mutex_lock(&p->lock);
                p->stats.sink_gave_up++;
                s->gave_up++;
                pthread_mutex_unlock(&p->lock);
                break;
            }
            if (sl_sleep_unless_abort(p, backoff)) break;
            backoff = backoff * 2 > SL_BACKOFF_MAX_MS ? SL_BACKOFF_MAX_MS : backoff * 2;
        }

        pthread_mutex_lock(&p->lock);
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        b->done |= 1u << s->idx;
        if (ok) {
            b->acked |= 1u << s->idx;
            s->delivered += b->n;
            s->batches++;
        }
        sl_commit_advance(p);
        pthread_mutex_unlock(&p->lock);
        if (ok) sl_ckpt_write(p, false);
    }
    if (s->is_open && ops->close) ops->close(s->sink);
    s->is_open = false;
    atomic_store(&s->connected, false);
    atomic_fetch_sub(&p->threads_running, 1);
    return NULL;
}

/* ================================================================================= */
/* Batcher (source thread)                                                           */
/* ================================================================================= */

/* Wait on p->cond for up to ms (p->lock held); on a timeout run the source's idle hook
 * without the lock, so it can keep its server connection alive while sinks catch up. */
static void sl_wait_or_idle_locked(sl_pipeline_t *p, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    while (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int rc = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    if (rc == ETIMEDOUT && p->idle_fn) {
        pthread_mutex_unlock(&p->lock);
        p->idle_fn(p->idle_arg);
        pthread_mutex_lock(&p->lock);
    }
}

/* Wait for an in-flight slot; the source's idle hook runs between waits. Returns
 * SL_ERR when the pipeline aborts (the batch is then dropped, uncommitted). */
static int sl_wait_slot(sl_pipeline_t *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->ninflight >= (uint32_t)p->spec->batch.max_inflight) {
        uint64_t stop_us = atomic_load(&p->stop_requested_us);
        if (stop_us && sl_now_mono_us() - stop_us > p->stop_timeout_ms * 1000ull) {
            /* Stopping, and the sinks have not freed a slot in time (a sink is down):
             * give up on what is in flight rather than hang the stop. */
            sl_warn("stop: sinks made no progress for %d s; abandoning in-flight batches "
                    "(not checkpointed, replayed after a restart)", p->stop_timeout_ms / 1000);
            atomic_store(&p->abort, true);
            pthread_cond_broadcast(&p->cond);
        }
        if (atomic_load(&p->abort)) {
            pthread_mutex_unlock(&p->lock);
            return SL_ERR;
        }
        sl_wait_or_idle_locked(p, 500);
    }
    pthread_mutex_unlock(&p->lock);
    return SL_OK;
}

/* Schema change events (SL_OP_SCHEMA) bypass processors: before they run, the events are
 * moved out of b (their key and value bytes copied into aside, offsets made relative to
 * it); afterwards sl_schema_events_restore() appends them to whatever batch the
 * processors left, keeping their order. Returns how many were set aside. */
static uint32_t sl_schema_events_aside(sl_batch_t *b, sl_buf_t *aside, sl_event_t **evs)
{
    uint32_t n = 0, keep = 0;
    for (uint32_t i = 0; i < b->n; i++) n += b->ev[i].op == SL_OP_SCHEMA;
    if (!n) return 0;
    *evs = sl_malloc(n * sizeof(**evs));
    n = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event_t e = b->ev[i];
        if (e.op != SL_OP_SCHEMA) {
            b->ev[keep++] = e;
            continue;
        }
        uint32_t ko = (uint32_t)aside->len;
        sl_buf_put(aside, b->arena.data + e.key_off, e.key_len);
        uint32_t vo = (uint32_t)aside->len;
        sl_buf_put(aside, b->arena.data + e.val_off, e.val_len);
        e.key_off = ko;
        e.val_off = vo;
        (*evs)[n++] = e;
    }
    b->n = keep;
    return n;
}

static void sl_schema_events_restore(sl_batch_t *b, const sl_buf_t *aside,
                                     const sl_event_t *evs, uint32_t n)
{
    uint32_t base = (uint32_t)b->arena.len;
    sl_buf_put(&b->arena, aside->data, aside->len);
    if (b->n + n > b->cap || !b->ev) {
        b->cap = b->n + n > 16 ? b->n + n : 16;
        b->ev = sl_realloc(b->ev, b->cap * sizeof(*b->ev));
    }
    for (uint32_t i = 0; i < n; i++) {
        sl_event_t e = evs[i];
        e.key_off += base;
        e.val_off += base;
        b->ev[b->n++] = e;
    }
}

/* Run processors, wait for a slot and hand the batch to every sink. Takes ownership. */
static int sl_submit(sl_pipeline_t *p, sl_batch_t *b)
{
    char err[SL_ERRSTR_SIZE];
    uint64_t proc_t0 = p->spec->nprocs ? sl_now_mono_us() : 0;
    sl_buf_t aside = SL_BUF_INIT;
    sl_event_t *aside_ev = NULL;
    uint32_t naside = p->spec->nprocs ? sl_schema_events_aside(b, &aside, &aside_ev) : 0;
    for (size_t i = 0; i < p->spec->nprocs && b->n; i++) {
        const sl_processor_ops_t *ops = p->spec->procs[i].ops;
        /* In place; b keeps has_pos/pos, so an emptied batch still checkpoints. */
        if (ops->process(p->procs[i], b, err, sizeof(err)) != SL_OK) {
            sl_pipeline_fail(p, "processor failed: %s", err);
            sl_buf_free(&aside);
            free(aside_ev);
            pthread_mutex_lock(&p->lock);
            sl_batch_reset(b);
            b->next = p->free_list;
            p->free_list = b;
            pthread_mutex_unlock(&p->lock);
            return SL_ERR;
        }
    }
    if (naside) sl_schema_events_restore(b, &aside, aside_ev, naside);
    sl_buf_free(&aside);
    free(aside_ev);
    if (p->spec->nprocs) {
        double secs = (double)(sl_now_mono_us() - proc_t0) / 1e6;
        pthread_mutex_lock(&p->lock);
        p->stats.processor_seconds += secs;
        pthread_mutex_unlock(&p->lock);
    }
    if (sl_wait_slot(p) != SL_OK) {
        pthread_mutex_lock(&p->lock);
        sl_batch_reset(b);
        b->next = p->free_list;
        p->free_list = b;
        pthread_mutex_unlock(&p->lock);
        return SL_ERR;
    }
    pthread_mutex_lock(&p->lock);
    b->seq = ++p->next_seq;
    p->stats.events_in += b->n;
    b->closed_us = sl_now_mono_us();
    b->next = NULL;
    if (p->inflight_tail) p->inflight_tail->next = b;
    else p->inflight_head = b;
    p->inflight_tail = b;
    p->ninflight++;
    if (b->n == 0) {
        /* A position-only batch (transactions with no event for us): nothing to send. */
        b->acked = b->done = p->all_mask;
        sl_commit_advance(p);
    } else {
        for (uint32_t i = 0; i < p->nsinks; i++) {
            sl_sink_rt_t *s = &p->sinks[i];
            s->q[(s->qhead + s->qlen) % s->qcap] = b;
            s->qlen++;
        }
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (b->n == 0) sl_ckpt_write(p, false);
    return SL_OK;
}

/* Close p->cur, keeping its events [tail_idx, n) (arena bytes from tail_off) in a new
 * open batch. Submits the closed part (when it holds anything). */
static int sl_close_with_tail(sl_pipeline_t *p, uint32_t tail_idx, size_t tail_off)
{
    sl_batch_t *old = p->cur;
    pthread_mutex_lock(&p->lock);
    sl_batch_t *nb = sl_batch_get_locked(p);
    pthread_mutex_unlock(&p->lock);

    size_t tail_bytes = old->arena.len - tail_off;
    if (tail_bytes) sl_buf_put(&nb->arena, old->arena.data + tail_off, tail_bytes);
    for (uint32_t i = tail_idx; i < old->n; i++) {
        sl_event_t e = old->ev[i];
        e.key_off -= (uint32_t)tail_off;
        e.val_off -= (uint32_t)tail_off;
        sl_batch_push_event(nb, &e);
    }
    old->n = tail_idx;
    old->arena.len = tail_off;

    p->cur = nb;
    p->mark -= tail_off;
    p->tx_start_idx = p->tx_start_idx >= tail_idx ? p->tx_start_idx - tail_idx : 0;
    p->tx_start_off = p->tx_start_off >= tail_off ? p->tx_start_off - tail_off : 0;
    p->cur_first_us = nb->n ? sl_now_mono_us() : 0;

    if (old->n == 0 && !old->has_pos) {
        pthread_mutex_lock(&p->lock);
        sl_batch_reset(old);
        old->next = p->free_list;
        p->free_list = old;
        pthread_mutex_unlock(&p->lock);
        return SL_OK;
    }
    return sl_submit(p, old);
}

sl_buf_t *sl_emit_arena(sl_pipeline_t *p)
{
    return &p->cur->arena;
}

void sl_emit_tx_begin(sl_pipeline_t *p)
{
    p->in_tx = true;
    p->tx_start_idx = p->cur->n;
    p->tx_start_off = p->mark;
    atomic_fetch_add_explicit(&p->tx_seen, 1, memory_order_relaxed);
}

int sl_emit_event(sl_pipeline_t *p, const sl_event_t *ev)
{
    const sl_batch_spec_t *bs = &p->spec->batch;
    sl_batch_t *b = p->cur;
    sl_event_t e = *ev;
    /* Routing overrides are the processors' business: none from a source. */
    e.route_off = 0;
    e.route_topic_len = e.route_stream_len = 0;

    /* Close before this event when the batch is full: max_events reached, or this
     * event's bytes (already in the arena) would take it past max_bytes. A batch
     * exceeds max_bytes only when a single event does. */
    if (sl_unlikely(b->n >= (uint64_t)bs->max_events ||
                    (b->n && b->arena.len > (uint64_t)bs->max_bytes))) {
        uint32_t tail_idx;
        size_t tail_off;
        if (!bs->respect_source_tx || !p->in_tx || p->tx_start_idx == 0) {
            /* Outside a transaction, not respecting them, or one transaction alone
             * exceeds the limits: split here (the checkpoint still only moves at its
             * commit, since the closed part carries the previous position). */
            tail_idx = b->n;
            tail_off = p->mark;
        } else {
            /* Move the open transaction to the next batch. */
            tail_idx = p->tx_start_idx;
            tail_off = p->tx_start_off;
        }
        size_t delta = tail_off;
        if (sl_close_with_tail(p, tail_idx, tail_off) != SL_OK) return SL_ERR;
        e.key_off -= (uint32_t)delta;
        e.val_off -= (uint32_t)delta;
        b = p->cur;
    }
    if (b->n == 0 && !p->cur_first_us) p->cur_first_us = sl_now_mono_us();
    sl_batch_push_event(b, &e);
    p->mark = b->arena.len;
    return SL_OK;
}

int sl_emit_tx_commit(sl_pipeline_t *p, const sl_pos_t *pos)
{
    sl_batch_t *b = p->cur;
    b->has_pos = true;
    b->pos.lsn = pos->lsn;
    b->pos.aux = pos->aux;
    sl_buf_reset(&b->pos.json);
    sl_buf_put(&b->pos.json, pos->json.data, pos->json.len);
    p->in_tx = false;
    p->tx_start_idx = b->n;
    p->tx_start_off = p->mark;
    if (!p->cur_first_us) p->cur_first_us = sl_now_mono_us();

    const sl_batch_spec_t *bs = &p->spec->batch;
    if (b->n >= (uint64_t)bs->max_events || p->mark >= (uint64_t)bs->max_bytes ||
        (b->n && sl_now_mono_us() - p->cur_first_us >= (uint64_t)bs->max_ms * 1000))
        return sl_close_with_tail(p, b->n, p->mark);
    return SL_OK;
}

void sl_emit_tx_abort(sl_pipeline_t *p)
{
    sl_batch_t *b = p->cur;
    if (p->in_tx) {
        b->n = p->tx_start_idx;
        b->arena.len = p->tx_start_off;
        p->mark = p->tx_start_off;
    }
    p->in_tx = false;
    if (b->n == 0 && !b->has_pos) p->cur_first_us = 0;
}

int sl_emit_tick(sl_pipeline_t *p)
{
    /* A checkpoint acknowledged within SL_CKPT_WRITE_MS of the previous write is only
     * persisted here when no later batch commits (an idle source): without this the file
     * stayed behind the acknowledged position for as long as the source was idle. */
    sl_ckpt_write(p, false);
    const sl_batch_spec_t *bs = &p->spec->batch;
    sl_batch_t *b = p->cur;
    if (!p->cur_first_us) return (int)bs->max_ms;
    uint64_t age = sl_now_mono_us() - p->cur_first_us;
    uint64_t limit = (uint64_t)bs->max_ms * 1000;
    if (age < limit) return (int)((limit - age) / 1000) + 1;

    if (b->n == 0) {
        /* Only positions of event-less transactions: commit them when idle so an
         * all-filtered stream still moves the checkpoint. */
        if (b->has_pos && !p->in_tx) return sl_close_with_tail(p, 0, 0) == SL_OK
                                                ? (int)bs->max_ms : -1;
        return (int)bs->max_ms;
    }
    int rc;
    if (!p->in_tx) rc = sl_close_with_tail(p, b->n, p->mark);
    else if (!bs->respect_source_tx) rc = sl_close_with_tail(p, b->n, p->mark);
    else if (p->tx_start_idx > 0) rc = sl_close_with_tail(p, p->tx_start_idx, p->tx_start_off);
    else return (int)bs->max_ms;   /* wait for the commit of the only (open) transaction */
    return rc == SL_OK ? (int)bs->max_ms : -1;
}

int sl_emit_flush(sl_pipeline_t *p)
{
    sl_batch_t *b = p->cur;
    if (p->in_tx) {
        if (p->tx_start_idx == 0 && !b->has_pos) return SL_OK;
        return sl_close_with_tail(p, p->tx_start_idx, p->tx_start_off);
    }
    if (b->n == 0 && !b->has_pos) return SL_OK;
    return sl_close_with_tail(p, b->n, p->mark);
}

bool sl_emit_all_committed(sl_pipeline_t *p)
{
    if (p->cur->n || p->cur->has_pos || p->in_tx) return false;
    pthread_mutex_lock(&p->lock);
    bool idle = p->ninflight == 0;
    pthread_mutex_unlock(&p->lock);
    return idle;
}

int sl_emit_drain(sl_pipeline_t *p, unsigned timeout_ms)
{
    uint64_t end = sl_now_mono_us() + timeout_ms * 1000ull;
    pthread_mutex_lock(&p->lock);
    while (p->ninflight > 0 && !atomic_load(&p->abort)) {
        if (sl_now_mono_us() >= end) {
            pthread_mutex_unlock(&p->lock);
            return SL_AGAIN;
        }
        sl_wait_or_idle_locked(p, 200);
    }
    bool drained = p->ninflight == 0;
    pthread_mutex_unlock(&p->lock);
    return drained ? SL_OK : SL_AGAIN;
}

/* ================================================================================= */
/* Services for sources                                                              */
/* ================================================================================= */

const sl_spec_t *sl_pipeline_spec(const sl_pipeline_t *p) { return p->spec; }
const char *sl_pipeline_name(const sl_pipeline_t *p) { return p->spec->name; }
bool sl_pipeline_stopping(const sl_pipeline_t *p) { return atomic_load(&p->stop); }

bool sl_pipeline_sleep(sl_pipeline_t *p, unsigned ms)
{
    return sl_sleep_until_flag(&p->stop, ms);
}

const sl_table_t *sl_pipeline_table(sl_pipeline_t *p, const char *db, const char *schema,
                                    const char *name)
{
    for (sl_table_t *t = p->tables; t; t = t->next)
        if (!strcmp(t->db, db) && !strcmp(t->schema, schema) && !strcmp(t->name, name))
            return t;
    sl_table_t *t = sl_calloc(1, sizeof(*t));
    t->db = sl_strdup(db);
    t->schema = sl_strdup(schema);
    t->name = sl_strdup(name);
    t->next = p->tables;
    p->tables = t;
    return t;
}

json_t *sl_pipeline_stored_checkpoint(sl_pipeline_t *p) { return p->stored_ckpt; }

const char *sl_pipeline_dir(const sl_pipeline_t *p) { return p->dir; }

unsigned sl_pipeline_stop_timeout_ms(const sl_pipeline_t *p) { return p->stop_timeout_ms; }

int32_t sl_pipeline_shard(const sl_pipeline_t *p, const char *json, size_t len)
{
    if (!p->spec->sharding) return -1;
    /* FNV-1a 64 over the value's JSON text: stable across restarts and machines. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)json[i];
        h *= 0x100000001b3ull;
    }
    return (int32_t)(h % (uint64_t)p->spec->shard_count);
}

void sl_pipeline_set_idle_hook(sl_pipeline_t *p, void (*fn)(void *arg), void *arg)
{
    p->idle_fn = fn;
    p->idle_arg = arg;
}

void sl_pipeline_set_source_connected(sl_pipeline_t *p, bool connected)
{
    atomic_store(&p->source_connected, connected);
}

bool sl_pipeline_source_connected(const sl_pipeline_t *p)
{
    return atomic_load(&p->source_connected);
}

/* ================================================================================= */
/* Lifecycle                                                                         */
/* ================================================================================= */

/* The "position" object of a checkpoint document (new reference), or NULL (with a
 * warning naming `origin`) when the document belongs to another source type. Takes
 * ownership of doc. */
static json_t *sl_ckpt_position(json_t *doc, const char *source_type, const char *origin)
{
    json_t *src = json_object_get(doc, "source");
    json_t *pos = json_object_get(doc, "position");
    if (!json_is_string(src) || strcmp(json_string_value(src), source_type) != 0 ||
        !json_is_object(pos)) {
        sl_warn("checkpoint %s belongs to another source type; ignoring it", origin);
        json_decref(doc);
        return NULL;
    }
    json_incref(pos);
    json_decref(doc);
    return pos;
}

static json_t *sl_ckpt_load(const char *path, const char *source_type)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        FILE *f = fopen(path, "r");
        if (f) {
            fclose(f);
            sl_warn("checkpoint %s unreadable (%s at line %d); starting without it", path,
                    jerr.text, jerr.line);
        }
        return NULL;
    }
    return sl_ckpt_position(doc, source_type, path);
}

/* Source thread, before the source starts: sinks with a load_checkpoint hook store the
 * checkpoint atomically with their data (Kafka exactly-once), so what they committed is
 * where the source must resume; their checkpoint replaces the data dir's. The first sink
 * that has one wins (positions are opaque here, so several cannot be ordered; a
 * disagreement is logged). SL_ERR when a sink cannot read its checkpoint. */
static int sl_sink_checkpoints_load(sl_pipeline_t *p, char *errstr, size_t errstr_size)
{
    json_t *chosen = NULL;
    const char *chosen_id = NULL;
    for (uint32_t i = 0; i < p->nsinks; i++) {
        const sl_sink_ops_t *ops = p->sinks[i].spec->ops;
        const char *sid = sl_sink_spec_common(p->sinks[i].spec)->id;
        if (!ops->load_checkpoint) continue;
        sl_buf_t doc = SL_BUF_INIT;
        char err[SL_ERRSTR_SIZE] = "";
        if (ops->load_checkpoint(p->sinks[i].sink, &doc, err, sizeof(err)) != SL_OK) {
            sl_buf_free(&doc);
            json_decref(chosen);
            return sl_err(errstr, errstr_size, "sink %s: cannot read its checkpoint: %s", sid,
                          err);
        }
        json_t *pos = NULL;
        if (doc.len) {
            json_error_t jerr;
            json_t *root = json_loadb(doc.data, doc.len, 0, &jerr);
            if (!root) sl_warn("sink %s: checkpoint is not JSON (%s); ignoring it", sid,
                               jerr.text);
            else pos = sl_ckpt_position(root, p->spec->source_ops->type, sid);
        }
        sl_buf_free(&doc);
        if (!pos) continue;
        if (!chosen) {
            chosen = pos;
            chosen_id = sid;
            continue;
        }
        if (!json_equal(chosen, pos))
            sl_warn("sinks %s and %s hold different checkpoints; resuming from %s's",
                    chosen_id, sid, chosen_id);
        json_decref(pos);
    }
    if (!chosen) return SL_OK;
    char *text = json_dumps(chosen, JSON_COMPACT);
    sl_info("resuming from the checkpoint stored by sink %s: %s", chosen_id, text);
    if (p->stored_ckpt) json_decref(p->stored_ckpt);
    p->stored_ckpt = chosen;
    pthread_mutex_lock(&p->lock);
    sl_buf_reset(&p->ckpt);
    sl_buf_puts(&p->ckpt, text);
    pthread_mutex_unlock(&p->lock);
    free(text);
    return SL_OK;
}

sl_pipeline_t *sl_pipeline_new(const sl_spec_t *spec, const char *data_dir,
                               char *errstr, size_t errstr_size)
{
    sl_pipeline_t *p = sl_calloc(1, sizeof(*p));
    p->spec = spec;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->ckpt_write_lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    atomic_init(&p->stop, false);
    atomic_init(&p->abort, false);
    atomic_init(&p->sinks_stop, false);
    atomic_init(&p->state, SL_PSTATE_STARTING);
    atomic_init(&p->threads_running, 0);
    atomic_init(&p->stop_requested_us, 0);
    p->stop_timeout_ms = SL_STOP_WAIT_MS;
    const char *st = getenv("SLUICE_STOP_TIMEOUT");
    if (st && *st) {
        char *end;
        unsigned long v = strtoul(st, &end, 10);
        if (*end == '\0' && v <= 3600) p->stop_timeout_ms = (unsigned)v * 1000;
        else sl_warn("SLUICE_STOP_TIMEOUT=%s ignored: want seconds (0..3600)", st);
    }
    atomic_init(&p->source_connected, false);
    atomic_init(&p->paused, false);

    size_t dl = strlen(data_dir) + strlen(spec->name) + 32;
    p->dir = sl_malloc(dl);
    snprintf(p->dir, dl, "%s/%s", data_dir, spec->name);
    p->ckpt_path = sl_malloc(dl);
    snprintf(p->ckpt_path, dl, "%s/checkpoint.json", p->dir);
    if (sl_mkdirs(p->dir, errstr, errstr_size) != SL_OK) goto err;
    p->stored_ckpt = sl_ckpt_load(p->ckpt_path, spec->source_ops->type);
    if (p->stored_ckpt) {
        char *s = json_dumps(p->stored_ckpt, JSON_COMPACT);
        sl_buf_puts(&p->ckpt, s);
        free(s);
    }

    if (spec->nsinks > 32) {
        sl_err(errstr, errstr_size, "spec.sinks: at most 32 sinks per pipeline");
        goto err;
    }
    p->nsinks = (uint32_t)spec->nsinks;
    p->sinks = sl_calloc(p->nsinks, sizeof(*p->sinks));
    for (uint32_t i = 0; i < p->nsinks; i++) {
        sl_sink_rt_t *s = &p->sinks[i];
        s->p = p;
        s->idx = i;
        s->spec = &spec->sinks[i];
        s->qcap = (uint32_t)spec->batch.max_inflight;
        s->q = sl_calloc(s->qcap, sizeof(*s->q));
        atomic_init(&s->connected, false);
        p->all_mask |= 1u << i;
        if (sl_sink_spec_common(s->spec)->required) p->required_mask |= 1u << i;
        s->needed = spec->commit_mode == SL_COMMIT_ALL ||
                    (spec->commit_mode == SL_COMMIT_REQUIRED &&
                     sl_sink_spec_common(s->spec)->required);
    }
    for (uint32_t i = 0; i < p->nsinks; i++) {
        sl_sink_rt_t *s = &p->sinks[i];
        char err[SL_ERRSTR_SIZE];
        s->sink = s->spec->ops->create(s->spec->conf, p, err, sizeof(err));
        if (!s->sink) {
            sl_err(errstr, errstr_size, "spec.sinks[%u] (%s): %s", i,
                   sl_sink_spec_common(s->spec)->id, err);
            goto err;
        }
    }
    p->procs = sl_calloc(spec->nprocs ? spec->nprocs : 1, sizeof(void *));
    for (size_t i = 0; i < spec->nprocs; i++) {
        char err[SL_ERRSTR_SIZE];
        p->procs[i] = spec->procs[i].ops->create(spec->procs[i].conf, p, err, sizeof(err));
        if (!p->procs[i]) {
            sl_err(errstr, errstr_size, "spec.processors[%zu]: %s", i, err);
            goto err;
        }
    }
    {
        char err[SL_ERRSTR_SIZE];
        p->src = spec->source_ops->create(spec->source_conf, p, err, sizeof(err));
        if (!p->src) {
            sl_err(errstr, errstr_size, "spec.source: %s", err);
            goto err;
        }
    }
    p->cur = sl_batch_new();
    return p;
err:
    sl_pipeline_free(p);
    return NULL;
}

static void *sl_source_thread(void *arg)
{
    sl_pipeline_t *p = arg;
    char err[SL_ERRSTR_SIZE] = "";
    sl_log_set_thread_ctx(p->spec->name);
    atomic_store(&p->state, SL_PSTATE_RUNNING);
    /* Checkpoints kept by sinks (load_checkpoint hook) are read before the source reads
     * its start position; when that fails the source does not run (while stopping, the
     * failure is just the stop). */
    int rc = sl_sink_checkpoints_load(p, err, sizeof(err));
    if (rc != SL_OK) {
        if (!sl_pipeline_stopping(p)) {
            sl_error("%s", err);
            sl_pipeline_fail(p, "%s", err);
        }
        rc = SL_OK;
    } else {
        rc = p->spec->source_ops->run(p->src, err, sizeof(err));
    }
    if (rc == SL_OK && !atomic_load(&p->stop)) {
        /* The source finished by itself (e.g. snapshot mode initial_only). */
        sl_pipeline_request_stop(p);
    }
    if (rc != SL_OK) {
        sl_error("source failed: %s", err);
        sl_pipeline_fail(p, "source: %s", err);
    }
    /* Sources flush and drain before returning (sl_emit_drain); whatever is still in
     * flight now will not be delivered: abort so sinks stop retrying. It is not
     * checkpointed and is replayed after a restart. */
    if (!atomic_load(&p->abort) && sl_emit_drain(p, 0) != SL_OK) {
        sl_warn("stop: in-flight batches were not delivered; they are not checkpointed "
                "and will be replayed after a restart");
        atomic_store(&p->abort, true);
    }
    atomic_store(&p->sinks_stop, true);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    atomic_fetch_sub(&p->threads_running, 1);
    return NULL;
}

int sl_pipeline_start(sl_pipeline_t *p, char *errstr, size_t errstr_size)
{
    atomic_store(&p->threads_running, (int)p->nsinks + 1);
    for (uint32_t i = 0; i < p->nsinks; i++) {
        if (pthread_create(&p->sinks[i].thread, NULL, sl_sink_thread, &p->sinks[i]) != 0) {
            /* the sinks from i on and the source never run: not counted as running */
            atomic_fetch_sub(&p->threads_running, (int)(p->nsinks - i) + 1);
            atomic_store(&p->sinks_stop, true);
            sl_pipeline_request_stop(p);   /* wakes the sinks already started */
            return sl_err(errstr, errstr_size, "cannot start sink thread");
        }
        p->sinks[i].started = true;
    }
    if (pthread_create(&p->src_thread, NULL, sl_source_thread, p) != 0) {
        atomic_fetch_sub(&p->threads_running, 1);   /* the source never runs */
        atomic_store(&p->sinks_stop, true);
        sl_pipeline_request_stop(p);   /* wakes the sinks */
        return sl_err(errstr, errstr_size, "cannot start source thread");
    }
    p->src_started = true;
    return SL_OK;
}

void sl_pipeline_request_stop(sl_pipeline_t *p)
{
    int st = atomic_load(&p->state);
    if (st != SL_PSTATE_FAILED && st != SL_PSTATE_STOPPED)
        atomic_store(&p->state, SL_PSTATE_STOPPING);
    uint64_t none = 0;
    atomic_compare_exchange_strong(&p->stop_requested_us, &none, sl_now_mono_us());
    atomic_store(&p->stop, true);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

int sl_pipeline_join(sl_pipeline_t *p)
{
    if (p->src_started) {
        pthread_join(p->src_thread, NULL);
        p->src_started = false;
    }
    atomic_store(&p->sinks_stop, true);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (uint32_t i = 0; i < p->nsinks; i++) {
        if (p->sinks[i].started) {
            pthread_join(p->sinks[i].thread, NULL);
            p->sinks[i].started = false;
        }
    }
    sl_ckpt_write(p, true);
    if (atomic_load(&p->state) == SL_PSTATE_FAILED) return SL_ERR;
    atomic_store(&p->state, SL_PSTATE_STOPPED);
    return SL_OK;
}

void sl_pipeline_free(sl_pipeline_t *p)
{
    if (!p) return;
    if (p->src && p->spec->source_ops->destroy) p->spec->source_ops->destroy(p->src);
    for (size_t i = 0; p->procs && i < p->spec->nprocs; i++)
        if (p->procs[i] && p->spec->procs[i].ops->destroy)
            p->spec->procs[i].ops->destroy(p->procs[i]);
    free(p->procs);
    for (uint32_t i = 0; i < p->nsinks; i++) {
        sl_sink_rt_t *s = &p->sinks[i];
        if (s->sink && s->spec->ops->destroy) s->spec->ops->destroy(s->sink);
        free(s->q);
    }
    free(p->sinks);
    sl_batch_t *b = p->inflight_head;
    while (b) {
        sl_batch_t *n = b->next;
        sl_batch_free(b);
        b = n;
    }
    b = p->free_list;
    while (b) {
        sl_batch_t *n = b->next;
        sl_batch_free(b);
        b = n;
    }
    sl_batch_free(p->cur);
    sl_table_t *t = p->tables;
    while (t) {
        sl_table_t *n = t->next;
        free((char *)t->db);
        free((char *)t->schema);
        free((char *)t->name);
        free(t);
        t = n;
    }
    if (p->stored_ckpt) json_decref(p->stored_ckpt);
    sl_buf_free(&p->ckpt);
    free(p->dir);
    free(p->ckpt_path);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->ckpt_write_lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

bool sl_pipeline_is_finished(const sl_pipeline_t *p)
{
    return atomic_load(&((sl_pipeline_t *)p)->threads_running) <= 0;
}

sl_pstate_t sl_pipeline_state(const sl_pipeline_t *p)
{
    return (sl_pstate_t)atomic_load(&((sl_pipeline_t *)p)->state);
}

const char *sl_pipeline_last_error(sl_pipeline_t *p)
{
    return p->last_error;
}

void sl_pipeline_get_stats(sl_pipeline_t *p, sl_pipeline_stats_t *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->stats;
    out->inflight = p->ninflight;
    out->ckpt_commit_us = p->ckpt_commit_us;
    uint64_t oldest = 0;
    for (sl_batch_t *b = p->inflight_head; b && !oldest; b = b->next)
        if (!b->committed && b->n) oldest = b->ev[0].commit_us;
    pthread_mutex_unlock(&p->lock);
    uint64_t now = sl_now_wall_us();
    out->lag_us = oldest && now > oldest ? now - oldest : 0;
    out->tx = atomic_load_explicit(&p->tx_seen, memory_order_relaxed);
}

char *sl_pipeline_checkpoint_json(sl_pipeline_t *p)
{
    pthread_mutex_lock(&p->lock);
    char *s = p->ckpt.len ? sl_strndup(p->ckpt.data, p->ckpt.len) : NULL;
    pthread_mutex_unlock(&p->lock);
    return s;
}

const char *sl_pstate_name(sl_pstate_t st)
{
    static const char *const names[] = {"starting", "running", "stopping", "stopped",
                                        "failed"};
    return (unsigned)st < SL_ARRAY_SIZE(names) ? names[st] : "unknown";
}

void sl_pipeline_get_proc_stats(sl_pipeline_t *p, size_t i, sl_proc_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (i >= p->spec->nprocs || !p->procs || !p->procs[i]) return;
    const sl_processor_ops_t *ops = p->spec->procs[i].ops;
    if (ops->stats) ops->stats(p->procs[i], out);   /* atomics: no lock needed */
}

void sl_pipeline_get_sink_stats(sl_pipeline_t *p, size_t i, sl_sink_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (i >= p->nsinks) return;
    sl_sink_rt_t *s = &p->sinks[i];
    out->id = sl_sink_spec_common(s->spec)->id;
    out->required = sl_sink_spec_common(s->spec)->required;
    out->connected = atomic_load(&s->connected);
    pthread_mutex_lock(&p->lock);
    out->events = s->delivered;
    out->batches = s->batches;
    out->retries = s->retries;
    out->errors = s->errors;
    out->gave_up = s->gave_up;
    pthread_mutex_unlock(&p->lock);
}

void sl_pipeline_add_snapshot_rows(sl_pipeline_t *p, uint64_t n)
{
    pthread_mutex_lock(&p->lock);
    p->stats.snapshot_rows += n;
    pthread_mutex_unlock(&p->lock);
}

void sl_pipeline_set_paused(sl_pipeline_t *p, bool paused)
{
    atomic_store(&p->paused, paused);
}

bool sl_pipeline_paused(const sl_pipeline_t *p)
{
    return atomic_load(&((sl_pipeline_t *)p)->paused);
}

bool sl_pipeline_ready(sl_pipeline_t *p, char *why, size_t why_size)
{
    sl_pstate_t st = sl_pipeline_state(p);
    if (st != SL_PSTATE_RUNNING) {
        snprintf(why, why_size, "pipeline is %s%s%s", sl_pstate_name(st),
                 p->last_error[0] ? ": " : "", p->last_error);
        return false;
    }
    if (!atomic_load(&p->source_connected)) {
        snprintf(why, why_size, "source not connected");
        return false;
    }
    uint32_t up = 0;
    for (uint32_t i = 0; i < p->nsinks; i++) {
        bool c = atomic_load(&p->sinks[i].connected);
        up += c;
        bool needed = p->spec->commit_mode == SL_COMMIT_ALL ||
                      (p->spec->commit_mode == SL_COMMIT_REQUIRED &&
                       sl_sink_spec_common(p->sinks[i].spec)->required);
        if (needed && !c) {
            snprintf(why, why_size, "sink %s not connected",
                     sl_sink_spec_common(p->sinks[i].spec)->id);
            return false;
        }
    }
    if (p->spec->commit_mode == SL_COMMIT_QUORUM && (int64_t)up < p->spec->quorum) {
        snprintf(why, why_size, "only %u sinks connected, quorum is %lld", up,
                 (long long)p->spec->quorum);
        return false;
    }
    return true;
}
