/*
 * js_deadletter.h - where a processor with `on_error: dead_letter` puts the events its
 * script failed on, together with the error.
 *
 * Destinations (`dead_letter:`):
 *   file:///absolute/path.jsonl
 *       one JSON line per failed event: {"pipeline","processor","error","failed_at_ms",
 *       "db","schema","table","op","key","event"} ("key" and "event" are the original
 *       JSON, not strings); appended and fsynced before the batch moves on.
 *   redis://[[user]:password@]host[:port][/db]#stream
 *       one XADD per failed event with fields pipeline, processor, error, table
 *       (schema.table), op, key (key JSON or `null`) and value (the event JSON), pipelined
 *       and all replies checked before the batch moves on.
 *   kafka://... is recognised and refused for now (the Kafka sink is not there yet).
 *
 * Writes are synchronous on the processor's thread; a destination that stays down makes
 * the processor fail (the pipeline stops without moving the checkpoint: nothing is lost).
 */
#ifndef SL_JS_DEADLETTER_H
#define SL_JS_DEADLETTER_H

#include "sl_event.h"

typedef struct sl_js_dlq sl_js_dlq_t;

/* Spec-time check of a destination: SL_OK, or SL_ERR with the reason. */
int sl_js_dlq_check(const char *uri, char *errstr, size_t errstr_size);

sl_js_dlq_t *sl_js_dlq_new(const char *uri, const char *pipeline, const char *processor,
                           char *errstr, size_t errstr_size);
void sl_js_dlq_free(sl_js_dlq_t *q);

/* Queue event e of batch b (its original JSON) with the error text. */
void sl_js_dlq_add(sl_js_dlq_t *q, const sl_batch_t *b, const sl_event_t *e,
                   const char *error);
/* Make everything queued durable (retrying a few times with backoff). SL_OK, or SL_ERR
 * with the reason; the queue is emptied either way. */
int sl_js_dlq_flush(sl_js_dlq_t *q, char *errstr, size_t errstr_size);

/* The destination with any password masked, for logs. */
const char *sl_js_dlq_name(const sl_js_dlq_t *q);

#endif
