/*
 * kafka_sink.c - Kafka sink (librdkafka): its spec keys now, delivery in a later change.
 *
 * Only the key table is real so far: specs naming a kafka sink validate fully (`sluice
 * validate`), while create() refuses to run. Hooks other than create stay NULL until the
 * producer exists. Config is parsed on the main thread; instances will run on their own
 * sink thread.
 */
#include "sl_common.h"
#include "sl_connector.h"
#include "sl_template.h"

/* spec.sinks[i].config of `type: kafka`. Starts with the common sink header. */
typedef struct sl_kafka_conf {
    sl_sink_common_t common;
    char            *brokers;        /* bootstrap.servers */
    char            *topic;          /* template: {db} {schema} {table} {shard} */
    bool             exactly_once;   /* transactional producer, commit per batch */
    bool             tombstones;     /* null-value record after each delete (compaction) */
    sl_strmap_t      client_conf;    /* librdkafka properties, passed through verbatim */
} sl_kafka_conf_t;

static const sl_conf_def_t sl_kafka_conf_defs[] = {
    SL_SINK_COMMON_KEYS(sl_kafka_conf_t),
    {.key = "brokers", .type = SL_CT_STR, .offset = offsetof(sl_kafka_conf_t, brokers),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .doc = "bootstrap brokers, host:port,..."},
    {.key = "topic", .type = SL_CT_STR, .offset = offsetof(sl_kafka_conf_t, topic),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .check = sl_template_check,
     .doc = "topic name; may use {db}, {schema}, {table}, {shard}"},
    {.key = "exactly_once", .type = SL_CT_BOOL,
     .offset = offsetof(sl_kafka_conf_t, exactly_once), .def = "false",
     .doc = "transactional producer: a batch becomes visible atomically"},
    {.key = "tombstones", .type = SL_CT_BOOL, .offset = offsetof(sl_kafka_conf_t, tombstones),
     .def = "true", .doc = "send a null-value record after each delete"},
    /* may hold sasl.password and ssl keys, hence SECRET */
    {.key = "client_conf", .type = SL_CT_STRMAP,
     .offset = offsetof(sl_kafka_conf_t, client_conf), .flags = SL_CF_SECRET,
     .doc = "extra librdkafka properties (values are stringified)"},
    {.key = NULL},
};

static void *sl_kafka_create(const void *conf, sl_pipeline_t *p, char *errstr,
                             size_t errstr_size)
{
    SL_UNUSED(conf);
    SL_UNUSED(p);
    sl_err(errstr, errstr_size, "kafka sink is not implemented yet");
    return NULL;
}

const sl_sink_ops_t sl_sink_kafka = {
    .type = "kafka",
    .conf = sl_kafka_conf_defs,
    .conf_size = sizeof(sl_kafka_conf_t),
    .create = sl_kafka_create,
};
