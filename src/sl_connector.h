/*
 * sl_connector.h - the three connector interfaces (sources, processors, sinks).
 *
 * Each connector folder exports one const ops struct filled with designated
 * initialisers; the core finds them in the registry arrays of sl_registry.c and calls
 * them only through the inline wrappers below. Optional hooks may be NULL.
 *
 * Threads: a source runs entirely on its pipeline's source thread (create, run, destroy)
 * except ack(), which the committer calls from a sink thread and must be thread-safe.
 * A sink instance runs entirely on its own sink thread. Processors run on the source
 * thread when a batch closes.
 */
#ifndef SL_CONNECTOR_H
#define SL_CONNECTOR_H

#include "sl_event.h"
#include "sl_conf.h"
#include "sl_template.h"

typedef struct sl_pipeline sl_pipeline_t;

/* Every sink config struct starts with this header; its table includes SL_SINK_COMMON_KEYS. */
typedef struct sl_sink_common {
    char *id;
    bool  required;
    char *schema_changes;   /* destination template of schema change events (SL_OP_SCHEMA:
                               Kafka topic, Redis stream, file path), NULL: none. A sink
                               without one skips those events. */
} sl_sink_common_t;

/* Every source config struct starts with `char *id`. */
typedef struct sl_source_common {
    char *id;
} sl_source_common_t;

/* ---- sources --------------------------------------------------------------------- */

typedef struct sl_source_ops {
    const char          *type;       /* spec.source.type */
    const sl_conf_def_t *conf;       /* keys of spec.source.config */
    size_t               conf_size;  /* sizeof the config struct */
    /* Extra cross-field validation at spec time (optional). */
    void  (*validate)(const void *conf, const char *path, sl_errs_t *errs);
    /* Create the source; no I/O yet. NULL + errstr on failure. */
    void *(*create)(const void *conf, sl_pipeline_t *p, char *errstr, size_t errstr_size);
    /* Source thread main loop: connect, read, emit through sl_emit_*(), reconnect with
     * backoff, until sl_pipeline_stopping(p). SL_OK on a clean stop, SL_ERR on a fatal
     * error (message in errstr). */
    int   (*run)(void *src, char *errstr, size_t errstr_size);
    /* Everything up to and including `pos` is durable downstream (committer; any thread). */
    void  (*ack)(void *src, const sl_pos_t *pos);
    void  (*destroy)(void *src);
    /* Remove server-side state the source keeps for this pipeline (PostgreSQL: its
     * replication slot) when the pipeline is deleted for good. Optional. */
    int   (*drop_state)(const void *conf, char *errstr, size_t errstr_size);
} sl_source_ops_t;

/* ---- processors ------------------------------------------------------------------ */

/* Counters of one processor instance (all monotonic). */
typedef struct sl_proc_stats {
    uint64_t batches;         /* batches processed */
    uint64_t events_in;
    uint64_t events_out;
    uint64_t failures;        /* calls that failed: threw, bad result or a limit */
    uint64_t limit_timeouts;  /* of those: wall-clock or CPU limit */
    uint64_t limit_memory;    /* of those: memory limit */
    uint64_t skipped;         /* events dropped by the error policy */
    uint64_t dead_lettered;   /* events written to the dead-letter destination */
} sl_proc_stats_t;

typedef struct sl_processor_ops {
    const char          *type;
    const sl_conf_def_t *conf;
    size_t               conf_size;
    void  (*validate)(const void *conf, const char *path, sl_errs_t *errs);
    void *(*create)(const void *conf, sl_pipeline_t *p, char *errstr, size_t errstr_size);
    /* Transform b in place (source thread, when the batch closes): the processor may
     * rebuild b->ev, b->n, b->cap and b->arena (e.g. swap in buffers of its own) and may
     * set events' key and route fields; it must leave b->seq, b->has_pos and b->pos
     * alone, so the checkpoint still covers the input even when every event is dropped.
     * SL_OK, or SL_ERR with errstr: the pipeline then fails without delivering b. */
    int   (*process)(void *proc, sl_batch_t *b, char *errstr, size_t errstr_size);
    void  (*destroy)(void *proc);
    /* Optional: counters, callable from any thread while the processor runs. */
    void  (*stats)(void *proc, sl_proc_stats_t *out);
} sl_processor_ops_t;

/* ---- sinks ----------------------------------------------------------------------- */

typedef struct sl_sink_ops {
    const char          *type;
    const sl_conf_def_t *conf;
    size_t               conf_size;
    void  (*validate)(const void *conf, const char *path, sl_errs_t *errs);
    void *(*create)(const void *conf, sl_pipeline_t *p, char *errstr, size_t errstr_size);
    /* Connect (again). SL_OK, SL_AGAIN (retry later), SL_ERR (fatal: config is wrong). */
    int   (*open)(void *sink, char *errstr, size_t errstr_size);
    /* Deliver every event of the batch durably. Blocking. SL_OK only when all of them
     * are acknowledged by the destination; SL_AGAIN on a transient failure (the core
     * calls close(), backs off, open()s and redelivers the whole batch); SL_ERR fatal. */
    int   (*deliver)(void *sink, const sl_batch_t *b, char *errstr, size_t errstr_size);
    void  (*close)(void *sink);
    void  (*destroy)(void *sink);
    /* Optional: a sink that stores the checkpoint itself, atomically with the data it
     * delivered (Kafka exactly-once: in the same transaction), reads it back here. Called
     * on the source thread before the source starts, while the sink thread may be in
     * open(). SL_OK with json_out holding a checkpoint document ({"source": type,
     * "position": {...}}, the checkpoint file's shape), SL_OK with json_out empty when
     * there is none, SL_ERR (errstr) when it cannot be read. A checkpoint returned here
     * replaces the one from the data dir (sl_pipeline_stored_checkpoint). */
    int   (*load_checkpoint)(void *sink, sl_buf_t *json_out, char *errstr,
                             size_t errstr_size);
} sl_sink_ops_t;

/* ---- registry (sl_registry.c) ---------------------------------------------------- */

const sl_source_ops_t    *sl_source_find(const char *type);
const sl_processor_ops_t *sl_processor_find(const char *type);
const sl_sink_ops_t      *sl_sink_find(const char *type);
/* Comma-separated list of known type names, for error messages. */
const char *sl_source_types(void);
const char *sl_processor_types(void);
const char *sl_sink_types(void);

/* Common sink keys: every sink table starts with these. */
#define SL_SINK_COMMON_KEYS(T)                                                          \
    {.key = "id", .type = SL_CT_STR, .offset = offsetof(T, common.id),                 \
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .doc = "sink id, unique in the pipeline"}, \
    {.key = "required", .type = SL_CT_BOOL, .offset = offsetof(T, common.required),    \
     .def = "true", .doc = "whether the commit policy `required` waits for this sink"},  \
    {.key = "schema_changes", .type = SL_CT_STR, .offset = offsetof(T, common.schema_changes),\
     .flags = SL_CF_NONEMPTY, .check = sl_template_check,                              \
     .doc = "where schema change events go (topic, stream or path); may use {db}"}

#endif
