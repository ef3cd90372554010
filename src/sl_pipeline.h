/*
 * sl_pipeline.h - one running pipeline: a source thread (reads, batches, runs
 * processors), one thread per sink (delivers batches in order, retries with backoff),
 * and the committer (runs under the commit lock on whichever sink thread finishes a
 * batch) that moves the checkpoint in source order once the commit policy is met.
 *
 * Backpressure: at most batch.max_inflight batches are between "closed" and "released";
 * the source thread blocks in sl_emit_*() until one is free, calling the source's idle
 * hook meanwhile so it can keep answering its server (PostgreSQL keepalives).
 */
#ifndef SL_PIPELINE_H
#define SL_PIPELINE_H

#include "sl_spec.h"

typedef enum {
    SL_PSTATE_STARTING = 0,
    SL_PSTATE_RUNNING,
    SL_PSTATE_STOPPING,
    SL_PSTATE_STOPPED,
    SL_PSTATE_FAILED,
} sl_pstate_t;

/* Fixed-bucket histogram (Prometheus style: cumulative buckets rendered by the caller). */
#define SL_HIST_BUCKETS 12
typedef struct sl_hist {
    uint64_t count[SL_HIST_BUCKETS + 1];   /* per bucket, last = +Inf */
    double   sum;
    uint64_t n;
} sl_hist_t;

extern const double sl_batch_size_buckets[SL_HIST_BUCKETS];    /* events */
extern const double sl_latency_buckets[SL_HIST_BUCKETS];       /* seconds */

typedef struct sl_sink_stats {
    const char *id;
    bool     required;
    bool     connected;
    uint64_t events;           /* events delivered */
    uint64_t batches;
    uint64_t retries;
    uint64_t errors;
    uint64_t gave_up;
} sl_sink_stats_t;

typedef struct sl_pipeline_stats {
    uint64_t events_in;        /* events submitted for delivery */
    uint64_t events_out;       /* events in committed batches */
    uint64_t batches;          /* batches committed */
    uint64_t tx;               /* source transactions seen */
    uint64_t sink_retries;
    uint64_t sink_errors;
    uint64_t sink_gave_up;     /* batches a non-needed sink abandoned */
    uint32_t inflight;         /* batches between submit and release (queue depth) */
    uint64_t ckpt_commit_us;   /* wall time the checkpoint last moved (0: never) */
    uint64_t lag_us;           /* now - commit time of the oldest undelivered event */
    double   processor_seconds;
    uint64_t snapshot_rows;    /* snapshot rows read by the source */
    sl_hist_t batch_size;
    sl_hist_t latency;         /* source commit -> commit policy met, per batch */
} sl_pipeline_stats_t;

/* ---- lifecycle (control thread) -------------------------------------------------- */

/* Create a pipeline for spec (borrowed; must outlive the pipeline). data_dir holds
 * <data_dir>/<name>/checkpoint.json. NULL + errstr when a connector cannot be created. */
sl_pipeline_t *sl_pipeline_new(const sl_spec_t *spec, const char *data_dir,
                               char *errstr, size_t errstr_size);
int  sl_pipeline_start(sl_pipeline_t *p, char *errstr, size_t errstr_size);
/* Ask to stop (async-signal-unsafe; call from a normal thread). */
void sl_pipeline_request_stop(sl_pipeline_t *p);
/* Wait for all threads. Returns SL_OK after a clean stop, SL_ERR after a failure
 * (sl_pipeline_last_error tells why). */
int  sl_pipeline_join(sl_pipeline_t *p);
void sl_pipeline_free(sl_pipeline_t *p);

sl_pstate_t sl_pipeline_state(const sl_pipeline_t *p);
const char *sl_pstate_name(sl_pstate_t st);
/* Per-sink counters; i < spec->nsinks. */
void sl_pipeline_get_sink_stats(sl_pipeline_t *p, size_t i, sl_sink_stats_t *out);
/* Per-processor counters (failures, skipped, dead-lettered...); i < spec->nprocs. All
 * zero for a processor without a stats hook. Any thread, while the pipeline exists. */
void sl_pipeline_get_proc_stats(sl_pipeline_t *p, size_t i, sl_proc_stats_t *out);
/* Pause: the source stops reading (keeping its connection) once the complete
 * transactions it holds are submitted; in-flight batches finish and checkpoint. */
void sl_pipeline_set_paused(sl_pipeline_t *p, bool paused);
bool sl_pipeline_paused(const sl_pipeline_t *p);
/* Source connected and every required sink open (readiness). why: reason when not. */
bool sl_pipeline_ready(sl_pipeline_t *p, char *why, size_t why_size);
/* True once every pipeline thread has returned (join will not block). */
bool sl_pipeline_is_finished(const sl_pipeline_t *p);
const char *sl_pipeline_last_error(sl_pipeline_t *p);   /* "" when none */
void sl_pipeline_get_stats(sl_pipeline_t *p, sl_pipeline_stats_t *out);
/* The last committed checkpoint JSON (caller frees), NULL when none yet. */
char *sl_pipeline_checkpoint_json(sl_pipeline_t *p);

/* ---- for sources (source thread) ------------------------------------------------- */

const sl_spec_t *sl_pipeline_spec(const sl_pipeline_t *p);
const char *sl_pipeline_name(const sl_pipeline_t *p);
bool sl_pipeline_stopping(const sl_pipeline_t *p);
/* How long a stop waits for sinks to take in-flight batches (SLUICE_STOP_TIMEOUT). */
unsigned sl_pipeline_stop_timeout_ms(const sl_pipeline_t *p);
/* Sleep up to ms, returning early (true) when a stop was requested. */
bool sl_pipeline_sleep(sl_pipeline_t *p, unsigned ms);
/* Intern a table identity (source thread only). */
const sl_table_t *sl_pipeline_table(sl_pipeline_t *p, const char *db, const char *schema,
                                    const char *name);
/* The checkpoint stored in the data dir at startup (parsed JSON object, borrowed), or
 * NULL when the pipeline has none. */
json_t *sl_pipeline_stored_checkpoint(sl_pipeline_t *p);
/* The pipeline's own directory in the data dir (<data_dir>/<name>, created by
 * sl_pipeline_new): where a source keeps state of its own (MySQL: schema history). */
const char *sl_pipeline_dir(const sl_pipeline_t *p);
/* Shard number for a key value given as its JSON text; -1 when sharding is off. */
int32_t sl_pipeline_shard(const sl_pipeline_t *p, const char *json, size_t len);

/* Hook the emit functions call while they wait for a free batch (about every 500 ms);
 * the PostgreSQL source answers keepalives here. Runs on the source thread. */
void sl_pipeline_set_idle_hook(sl_pipeline_t *p, void (*fn)(void *arg), void *arg);

/* Emitting: the source writes key and value JSON into the arena returned by
 * sl_emit_arena(), then calls sl_emit_event() with offsets into it. Offsets are only valid
 * until the next sl_emit_event/sl_emit_tx_* call (a batch may close then). */
sl_buf_t *sl_emit_arena(sl_pipeline_t *p);
void sl_emit_tx_begin(sl_pipeline_t *p);
/* Add one event; may close and submit the batch (max_events/max_bytes). SL_OK, or SL_ERR
 * when the pipeline is stopping and the event was dropped (the source should return). */
int  sl_emit_event(sl_pipeline_t *p, const sl_event_t *ev);
/* The open transaction is complete; pos is copied. May close the batch. */
int  sl_emit_tx_commit(sl_pipeline_t *p, const sl_pos_t *pos);
/* Drop events of the open transaction that are not yet in a submitted batch (the source
 * lost its connection mid-transaction and will receive it again). */
void sl_emit_tx_abort(sl_pipeline_t *p);
/* Close the batch if max_ms passed since its first event. Returns the number of
 * milliseconds until the next deadline (or max_ms when no batch is open). */
int  sl_emit_tick(sl_pipeline_t *p);
/* Close and submit whatever complete transactions are pending (source going idle or
 * stopping). */
int  sl_emit_flush(sl_pipeline_t *p);
/* True when nothing emitted is still pending or in flight: every complete transaction
 * received so far is committed. Sources use it to confirm idle positions. */
bool sl_emit_all_committed(sl_pipeline_t *p);
/* Wait (calling the idle hook) until every submitted batch is released, up to
 * timeout_ms. SL_OK when drained, SL_AGAIN on timeout or abort. */
int  sl_emit_drain(sl_pipeline_t *p, unsigned timeout_ms);

/* Count snapshot rows read (progress metric). */
void sl_pipeline_add_snapshot_rows(sl_pipeline_t *p, uint64_t n);

/* Mark the source connected / disconnected (readiness, logs). */
void sl_pipeline_set_source_connected(sl_pipeline_t *p, bool connected);
bool sl_pipeline_source_connected(const sl_pipeline_t *p);

/* ---- data dir -------------------------------------------------------------------- */

/* Atomically replace path with data (temp file in the same dir, fsync, rename, fsync dir). */
int sl_write_file_atomic(const char *path, const void *data, size_t len,
                         char *errstr, size_t errstr_size);
/* mkdir -p */
int sl_mkdirs(const char *path, char *errstr, size_t errstr_size);

#endif
