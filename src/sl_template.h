/*
 * sl_template.h - destination names with placeholders: `{db}`, `{schema}`, `{table}`,
 * `{shard}` in Redis stream names, file paths and Kafka topics. Compiled once when a sink
 * is created; rendered per event into a caller buffer (sinks cache by table and shard).
 */
#ifndef SL_TEMPLATE_H
#define SL_TEMPLATE_H

#include "sl_event.h"

typedef struct sl_template sl_template_t;

/* Compile. Unknown placeholders or an unclosed '{' give NULL and a message naming them. */
sl_template_t *sl_template_new(const char *text, char *errstr, size_t errstr_size);
void sl_template_free(sl_template_t *t);
/* True when the template contains no placeholder (one destination for every event). */
bool sl_template_is_static(const sl_template_t *t);
/* Append the rendering for (table, shard) to out. shard < 0 renders as "0". */
void sl_template_render(const sl_template_t *t, const sl_table_t *table, int32_t shard,
                        sl_buf_t *out);
/* Spec-time check usable as an sl_conf_check_fn on an SL_CT_STR field. */
const char *sl_template_check(const void *field);

#endif
