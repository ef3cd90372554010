/*
 * sl_registry.c - the connector registry: every source, processor and sink type sluice
 * knows, found by name through these arrays (never through if-chains elsewhere).
 */
#include "sl_connector.h"

extern const sl_source_ops_t    sl_source_postgres;
extern const sl_source_ops_t    sl_source_mysql;
extern const sl_processor_ops_t sl_processor_javascript;
extern const sl_sink_ops_t      sl_sink_redis;
extern const sl_sink_ops_t      sl_sink_file;
extern const sl_sink_ops_t      sl_sink_kafka;

static const sl_source_ops_t *const sl_sources[] = {&sl_source_postgres, &sl_source_mysql};
static const sl_processor_ops_t *const sl_processors[] = {&sl_processor_javascript};
static const sl_sink_ops_t *const sl_sinks[] = {&sl_sink_kafka, &sl_sink_redis, &sl_sink_file};

#define SL_REGISTRY_FIND(arr, type)                                  \
    for (size_t i = 0; i < SL_ARRAY_SIZE(arr); i++)                  \
        if (strcmp((arr)[i]->type, (type)) == 0) return (arr)[i];    \
    return NULL

const sl_source_ops_t *sl_source_find(const char *type) { SL_REGISTRY_FIND(sl_sources, type); }
const sl_processor_ops_t *sl_processor_find(const char *type)
{
    SL_REGISTRY_FIND(sl_processors, type);
}
const sl_sink_ops_t *sl_sink_find(const char *type) { SL_REGISTRY_FIND(sl_sinks, type); }

const char *sl_source_types(void) { return "postgres, mysql"; }
const char *sl_processor_types(void) { return "javascript"; }
const char *sl_sink_types(void) { return "kafka, redis, file"; }
