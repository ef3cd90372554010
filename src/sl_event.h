/*
 * sl_event.h - the event model shared by every source, processor and sink.
 *
 * An event is one row change already serialized: its key JSON and its value JSON (the
 * Debezium envelope) live in the arena of the batch that holds it, and the event keeps
 * offsets into that arena. Sources write the JSON once, straight from the decoded wire
 * bytes; sinks send those bytes as they are. Nothing on the hot path copies a row twice.
 *
 * Batches are the commit unit. A batch is filled by the source thread, then shared
 * read-only by sink threads until every sink is done with it and the committer has
 * moved the checkpoint past it; then it returns to the pipeline's free list.
 */
#ifndef SL_EVENT_H
#define SL_EVENT_H

#include "sl_buf.h"

typedef enum {
    SL_OP_CREATE   = 'c',
    SL_OP_UPDATE   = 'u',
    SL_OP_DELETE   = 'd',
    SL_OP_TRUNCATE = 't',
    SL_OP_READ     = 'r',   /* snapshot row */
    SL_OP_SCHEMA   = 's',   /* schema change (DDL; MySQL): delivered only by sinks with a
                               `schema_changes` destination, never given to processors */
} sl_op_t;

/* Interned table identity (db, schema, table). Owned by the pipeline, never freed while
 * it runs, so events can point at it. schema is "" where the source has none (MySQL). */
typedef struct sl_table {
    const char *db;
    const char *schema;
    const char *name;
    struct sl_table *next;   /* pipeline's intern list */
} sl_table_t;

typedef struct sl_event {
    const sl_table_t *table;
    uint32_t key_off, key_len;   /* key JSON; key_len 0 means the key is null */
    uint32_t val_off, val_len;   /* value JSON (Debezium envelope) */
    int32_t  shard;              /* -1 when spec.sharding is off */
    uint8_t  op;                 /* sl_op_t */
    uint64_t commit_us;          /* source commit time, µs since epoch (latency metrics) */
    /* Routing overrides a processor set (JavaScript `event.route`); all zero when none.
     * The names live in the arena at route_off: topic bytes, then stream bytes. A
     * `route.key` needs no field: the processor replaces key_off/key_len. Sources leave
     * these zero (sl_emit_event clears them); read them through the accessors below. */
    uint32_t route_off;
    uint16_t route_topic_len;    /* 0: keep the sink's configured topic (Kafka) */
    uint16_t route_stream_len;   /* 0: keep the sink's configured stream (Redis) */
} sl_event_t;

/* A source position, opaque to the core: the source fills it when a transaction ends
 * and gets it back through its ack() hook once sinks made everything before it durable.
 * `json` is what the checkpoint file stores (a JSON object the source can read back). */
typedef struct sl_pos {
    uint64_t lsn;      /* PostgreSQL: commit end LSN. MySQL: offset in file. */
    uint64_t aux;      /* source-defined (MySQL: binlog file sequence) */
    sl_buf_t json;
} sl_pos_t;

typedef struct sl_batch {
    uint64_t    seq;         /* source order, starting at 1 */
    sl_event_t *ev;
    uint32_t    n, cap;
    sl_buf_t    arena;       /* key/value JSON of all events */
    bool        has_pos;     /* false when the batch ends inside a split transaction */
    sl_pos_t    pos;         /* position to checkpoint once this batch meets the policy */

    /* Commit tracking: guarded by the pipeline's commit lock (sl_pipeline.c). */
    uint32_t    acked;       /* bitmask of sinks that delivered it */
    uint32_t    done;        /* bitmask of sinks finished with it (delivered or gave up) */
    bool        committed;   /* the policy was met and the checkpoint moved past it */
    uint64_t    closed_us;   /* monotonic time it was closed (metrics) */
    struct sl_batch *next;   /* free list / in-flight list */
} sl_batch_t;

static inline const char *sl_event_key(const sl_batch_t *b, const sl_event_t *e)
{
    return b->arena.data + e->key_off;
}
static inline const char *sl_event_val(const sl_batch_t *b, const sl_event_t *e)
{
    return b->arena.data + e->val_off;
}

/* Destination overrides set by a processor: the Kafka topic / Redis stream name for this
 * event (not NUL-terminated; *len set), or NULL when the sink's own setting applies. */
static inline const char *sl_event_route_topic(const sl_batch_t *b, const sl_event_t *e,
                                               size_t *len)
{
    if (!e->route_topic_len) return NULL;
    *len = e->route_topic_len;
    return b->arena.data + e->route_off;
}
static inline const char *sl_event_route_stream(const sl_batch_t *b, const sl_event_t *e,
                                                size_t *len)
{
    if (!e->route_stream_len) return NULL;
    *len = e->route_stream_len;
    return b->arena.data + e->route_off + e->route_topic_len;
}

#endif
