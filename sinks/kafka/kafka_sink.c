/*
 * kafka_sink.c - the "kafka" sink (librdkafka): one record per event into a topic whose
 * name is a template ({db} {schema} {table} {shard}) unless a processor routed the event
 * elsewhere (route.topic), keyed by the event's key JSON, with
 * headers `sluice.op` and `sluice.table`, plus a tombstone after each delete.
 *
 * At-least-once (default): an idempotent producer (acks=all) gets every event of the batch
 * with its payload pointing straight into the batch arena (no copy: the batch is alive and
 * read-only for the whole deliver() call, and deliver() never returns while librdkafka
 * still holds a message, see sl_kafka_close), then deliver() serves delivery reports until
 * every message has one. SL_OK only when all succeeded; a retriable failure is SL_AGAIN and
 * the core closes (destroys the producer), backs off, reopens and redelivers the batch.
 *
 * Exactly-once (`exactly_once: true`): one Kafka transaction per batch, with
 * transactional.id "sluice.<pipeline>.<sink id>" (stable across restarts; a new producer
 * fences older ones and resolves their open transaction). The batch's checkpoint is
 * produced in the same transaction as a record in partition 0 of the compacted
 * checkpoint topic (default `sluice.checkpoints`), key "<pipeline>/<sink id>", value
 * {"pipeline","sink","source","position","events","offsets"}: `offsets` lists, per topic
 * partition, the first and last offset the transaction wrote (learnt from the delivery
 * reports before the checkpoint record is produced). At startup the pipeline reads the
 * last committed record back (load_checkpoint, read_committed) and positions the source
 * after it. The guarantee rests on Kafka's transactions: a read_committed consumer sees a
 * batch and its checkpoint together or not at all.
 *
 * Schema change events (SL_OP_SCHEMA, MySQL DDL) go to the `schema_changes` topic template
 * keyed {"databaseName": db} (the partitioner keeps a database's changes in order), with
 * header sluice.op "s", never a tombstone and never a shard partition; a sink without
 * `schema_changes` skips them.
 *
 * Threads: an instance lives on its sink thread (create, open, deliver, close, destroy;
 * delivery reports are served there too, inside rd_kafka_flush). load_checkpoint runs on
 * the source thread before the source starts: it reads only fields that are immutable
 * after create() and the two atomics set by open(), and uses its own consumer handle.
 * librdkafka's log callback runs on librdkafka's threads and touches nothing mutable.
 */
#include "sl_common.h"
#include "sl_connector.h"
#include "sl_pipeline.h"
#include "sl_template.h"
#include "sl_json.h"
#include "sl_log.h"

#include <stdatomic.h>
#include <librdkafka/rdkafka.h>

#define SL_KAFKA_OPEN_TIMEOUT_MS   10000   /* metadata / init_transactions when opening */
#define SL_KAFKA_SLICE_MS          500     /* one blocking broker call while opening */
#define SL_KAFKA_POLL_MS           100     /* flush slice while waiting for reports */
#define SL_KAFKA_TXN_TIMEOUT_MS    10000   /* one commit/abort call */
#define SL_KAFKA_TXN_ATTEMPTS      6       /* commit calls on retriable errors */
#define SL_KAFKA_META_ATTEMPTS     30      /* metadata tries while a topic auto-creates */
#define SL_KAFKA_CKPT_WINDOW       1024    /* checkpoint records scanned back at first */
#define SL_KAFKA_READ_IDLE_MS      30000   /* checkpoint read without progress: retry */
#define SL_KAFKA_TOPIC_MAX         249     /* Kafka's limit on topic name length */
#define SL_KAFKA_KEY_SHOWN         120     /* key bytes quoted in error messages */

/* ---- configuration ---------------------------------------------------------------- */

/* spec.sinks[i].config of `type: kafka`. Starts with the common sink header. */
typedef struct sl_kafka_conf {
    sl_sink_common_t common;
    char            *brokers;          /* bootstrap.servers */
    char            *topic;            /* template: {db} {schema} {table} {shard} */
    bool             exactly_once;     /* transactional producer, commit per batch */
    bool             tombstones;       /* null-value record after each delete (compaction) */
    char            *checkpoint_topic; /* exactly-once checkpoints (compacted) */
    sl_strmap_t      client_conf;      /* librdkafka properties, passed through verbatim */
} sl_kafka_conf_t;

/* Producer defaults, applied before the derived keys and client_conf (which override). */
static const char *const sl_kafka_defaults[][2] = {
    {"enable.idempotence", "true"},      /* retries never duplicate or reorder */
    {"acks", "all"},
    {"linger.ms", "5"},                  /* deliver() flushes anyway: only batches shape */
    {"batch.size", "1048576"},
    {"batch.num.messages", "10000"},
    {"compression.type", "lz4"},         /* cheap on CPU, ~3x on Debezium JSON */
    {"partitioner", "murmur2_random"},   /* same key -> partition mapping as Java clients */
    {"message.timeout.ms", "30000"},     /* then SL_AGAIN: the core retries with backoff */
    {"reconnect.backoff.ms", "100"},
    {"reconnect.backoff.max.ms", "1000"},/* resume within a second when a broker is back */
    {"socket.keepalive.enable", "true"},
};

static bool sl_kafka_topic_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* True when the literal text of a topic template (outside placeholders) only uses
 * Kafka's topic characters; substituted values are sanitized when rendered anyway. */
static bool sl_kafka_topic_literal_ok(const char *text)
{
    bool in_placeholder = false;
    for (const char *c = text; *c; c++) {
        if (*c == '{') in_placeholder = true;
        else if (*c == '}' && in_placeholder) in_placeholder = false;
        else if (!in_placeholder && !sl_kafka_topic_char(*c)) return false;
    }
    return true;
}

/* The checkpoint topic is one fixed, valid topic name. */
static const char *sl_kafka_ckpt_topic_check(const void *field)
{
    const char *text = *(const char *const *)field;
    if (!text) return NULL;
    if (strchr(text, '{')) return "placeholders are not allowed here";
    if (!sl_kafka_topic_literal_ok(text) || strlen(text) > SL_KAFKA_TOPIC_MAX)
        return "not a valid Kafka topic name (letters, digits, '.', '_', '-'; at most 249)";
    return NULL;
}

static const sl_conf_def_t sl_kafka_conf_defs[] = {
    SL_SINK_COMMON_KEYS(sl_kafka_conf_t),
    {.key = "brokers", .type = SL_CT_STR, .offset = offsetof(sl_kafka_conf_t, brokers),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .doc = "bootstrap brokers, host:port,..."},
    {.key = "topic", .type = SL_CT_STR, .offset = offsetof(sl_kafka_conf_t, topic),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .check = sl_template_check,
     .doc = "topic name; may use {db}, {schema}, {table}, {shard}; other characters than "
            "letters, digits, '.', '_', '-' become '_'"},
    {.key = "exactly_once", .type = SL_CT_BOOL,
     .offset = offsetof(sl_kafka_conf_t, exactly_once), .def = "false",
     .doc = "transactional producer: a batch and its checkpoint commit atomically"},
    {.key = "tombstones", .type = SL_CT_BOOL, .offset = offsetof(sl_kafka_conf_t, tombstones),
     .def = "true", .doc = "send a null-value record after each delete"},
    {.key = "checkpoint_topic", .type = SL_CT_STR,
     .offset = offsetof(sl_kafka_conf_t, checkpoint_topic), .flags = SL_CF_NONEMPTY,
     .def = "sluice.checkpoints", .check = sl_kafka_ckpt_topic_check,
     .doc = "compacted topic holding exactly-once checkpoints"},
    /* may hold sasl.password and ssl keys, hence SECRET */
    {.key = "client_conf", .type = SL_CT_STRMAP,
     .offset = offsetof(sl_kafka_conf_t, client_conf), .flags = SL_CF_SECRET,
     .doc = "extra librdkafka properties (values are stringified); override the defaults"},
    {.key = NULL},
};

/* Spec-time validation: every client_conf entry must be a property librdkafka knows, with
 * a value it accepts (tried on a scratch configuration; nothing connects). */
static void sl_kafka_validate(const void *conf, const char *path, sl_errs_t *errs)
{
    const sl_kafka_conf_t *c = conf;
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    sl_buf_t parent = SL_BUF_INIT, field = SL_BUF_INIT;
    char err[512];

    if (c->common.schema_changes &&
        (!sl_kafka_topic_literal_ok(c->common.schema_changes) ||
         strlen(c->common.schema_changes) > SL_KAFKA_TOPIC_MAX)) {
        sl_path_key(&field, path, "schema_changes");
        sl_errs_add(errs, sl_buf_cstr(&field), "not a valid Kafka topic name (letters, "
                    "digits, '.', '_', '-' outside placeholders; at most %d)",
                    SL_KAFKA_TOPIC_MAX);
    }

    sl_path_key(&parent, path, "client_conf");
    for (size_t i = 0; i < c->client_conf.n; i++) {
        const char *k = c->client_conf.k[i], *v = c->client_conf.v[i];
        sl_buf_reset(&field);
        sl_path_key(&field, sl_buf_cstr(&parent), k);
        if (rd_kafka_conf_set(rc, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
            sl_errs_add(errs, sl_buf_cstr(&field), "%s", err);
        else if (!c->exactly_once && strcmp(k, "transactional.id") == 0)
            sl_errs_add(errs, sl_buf_cstr(&field), "set exactly_once: true instead (a "
                        "transactional producer needs the transactions sluice runs)");
    }
    rd_kafka_conf_destroy(rc);
    sl_buf_free(&parent);
    sl_buf_free(&field);
}

/* ---- instance --------------------------------------------------------------------- */

/* One rendered topic. Owned by the sink; its address is the rd_kafka_topic_t opaque, so
 * delivery reports find it without a lookup. */
typedef struct sl_kafka_topic {
    char             *name;
    rd_kafka_topic_t *rkt;           /* NULL while the producer is closed */
    bool              checked;       /* partition count verified against sharding */
    /* exactly-once: offsets written by the current transaction, per partition;
     * range[p][0] < 0 when none */
    int64_t         (*range)[2];
    int32_t           nrange;
    bool              touched;
} sl_kafka_topic_t;

/* Destination cache entry: interned table pointer + shard -> topic and header value. */
typedef struct sl_kafka_dest {
    const sl_table_t *table;
    int32_t           shard;
    bool              used;          /* false: empty slot */
    sl_kafka_topic_t *topic;
    char             *table_hdr;     /* "schema.table" ("db.table" without a schema) */
    size_t            table_hdr_len;
} sl_kafka_dest_t;

/* What a message's opaque says about it (delivery reports, error messages). */
enum { SL_KAFKA_MSG_EVENT = 1, SL_KAFKA_MSG_TOMBSTONE = 2, SL_KAFKA_MSG_CKPT = 3 };
#define SL_KAFKA_OPAQUE(i, kind) ((void *)(((uintptr_t)(i) << 2) | (uintptr_t)(kind)))
#define SL_KAFKA_OPAQUE_IDX(op)  ((uint32_t)((uintptr_t)(op) >> 2))
#define SL_KAFKA_OPAQUE_KIND(op) ((int)((uintptr_t)(op) & 3))

typedef struct sl_kafka_sink {
    /* Immutable after create(): also read by load_checkpoint on the source thread. */
    char            *id;
    char            *brokers;
    char            *ckpt_topic;
    char            *txn_id;         /* transactional.id */
    char            *client_id;
    char            *ckpt_key;       /* "<pipeline>/<sink id>" */
    char            *pipeline;
    const char      *source_type;    /* static string of the source ops */
    char           **cc_k, **cc_v;   /* client_conf, copied */
    size_t           ncc;
    bool             exactly_once, tombstones;
    int64_t          shard_count;    /* 0: sharding off */
    sl_pipeline_t   *p;              /* NULL in unit tests */

    /* Set by open() (sink thread), read by load_checkpoint (source thread). */
    atomic_bool      txn_ready;      /* init_transactions succeeded once */
    atomic_bool      open_failed;    /* open() failed for good */

    /* Sink thread only. */
    sl_template_t   *tpl;
    sl_template_t   *sc_tpl;         /* schema_changes, or NULL */
    rd_kafka_t      *rk;             /* NULL while closed */
    rd_kafka_topic_t *ckpt_rkt;
    sl_kafka_topic_t **topics;
    size_t           ntopics;
    sl_kafka_dest_t *dests;          /* open addressing, cap a power of two, load <= 1/2 */
    size_t           ndests, cap;
    sl_buf_t         scratch;
    sl_buf_t         ckpt_val;
    bool             in_tx;          /* a transaction is open */
    bool             commit_unknown; /* a commit timed out: maybe committed, maybe not */
    bool             ckpt_topic_tried;
    bool             warned_split;
    /* delivery reports of the current deliver() */
    uint32_t         pending;        /* messages produced, report not yet served */
    uint32_t         failed;
    rd_kafka_resp_err_t first_err;
    void            *first_opaque;
    sl_kafka_topic_t *first_topic;
    int32_t          first_partition;
} sl_kafka_sink_t;

/* ---- librdkafka callbacks --------------------------------------------------------- */

/* Delivery report: runs on the sink thread inside rd_kafka_flush/poll. */
static void sl_kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    sl_kafka_sink_t *ks = opaque;
    SL_UNUSED(rk);
    if (ks->pending) ks->pending--;
    if (m->err) {
        if (ks->failed++ == 0) {
            ks->first_err = m->err;
            ks->first_opaque = m->_private;
            ks->first_topic = m->rkt ? rd_kafka_topic_opaque(m->rkt) : NULL;
            ks->first_partition = m->partition;
        }
        return;
    }
    if (!ks->exactly_once || SL_KAFKA_OPAQUE_KIND(m->_private) == SL_KAFKA_MSG_CKPT) return;
    sl_kafka_topic_t *t = rd_kafka_topic_opaque(m->rkt);
    if (!t || m->partition < 0) return;
    if (m->partition >= t->nrange) {
        int32_t n = m->partition + 1;
        t->range = sl_realloc(t->range, (size_t)n * sizeof(*t->range));
        for (int32_t i = t->nrange; i < n; i++) t->range[i][0] = t->range[i][1] = -1;
        t->nrange = n;
    }
    int64_t *r = t->range[m->partition];
    if (r[0] < 0 || m->offset < r[0]) r[0] = m->offset;
    if (m->offset > r[1]) r[1] = m->offset;
    t->touched = true;
}

/* librdkafka's own log lines, on its threads. Connection failures are expected while a
 * broker is down (and retried), so level 3 maps to a warning, not an error. */
static void sl_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const sl_kafka_sink_t *ks = rd_kafka_opaque(rk);
    const char *id = ks ? ks->id : "?";
    /* The checkpoint reader gets client_conf too; producer-only keys warn there. */
    if (rd_kafka_type(rk) == RD_KAFKA_CONSUMER && strcmp(fac, "CONFWARN") == 0) level = 7;
    if (level <= 2) sl_error("kafka sink %s: librdkafka %s: %s", id, fac, buf);
    else if (level <= 4) sl_warn("kafka sink %s: librdkafka %s: %s", id, fac, buf);
    else if (level <= 6) sl_info("kafka sink %s: librdkafka %s: %s", id, fac, buf);
    else sl_debug("kafka sink %s: librdkafka %s: %s", id, fac, buf);
}

/* Errors librdkafka reports through poll (it retries them itself); fatal ones also show
 * up in the calls that fail, which decide what to do. */
static void sl_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    const sl_kafka_sink_t *ks = opaque;
    SL_UNUSED(rk);
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        sl_error("kafka sink %s: fatal producer error: %s", ks->id, reason);
    else
        sl_debug("kafka sink %s: %s: %s", ks->id, rd_kafka_err2name(err), reason);
}

/* ---- helpers ---------------------------------------------------------------------- */

static bool sl_kafka_stopping(const sl_kafka_sink_t *ks)
{
    return ks->p && sl_pipeline_stopping(ks->p);
}

/* Fencing: another producer with our transactional.id took over. */
static bool sl_kafka_fenced(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__FENCED || err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* SL_ERR when retrying cannot help (the data, the configuration or the permissions are
 * wrong, or we are fenced), SL_AGAIN for everything else (brokers down, timeouts...). */
static int sl_kafka_err_class(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:   /* also what producev says locally */
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
        return SL_ERR;
    default:
        return SL_AGAIN;
    }
}

/* Rewrite a rendered topic name in place so every byte is a legal topic character:
 * substituted table and schema names may contain anything PostgreSQL allows. */
static void sl_kafka_topic_sanitize(char *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!sl_kafka_topic_char(name[i])) name[i] = '_';
}

/* The value of the `sluice.table` header for a table. Appends to out. */
static void sl_kafka_table_name(const sl_table_t *t, sl_buf_t *out)
{
    if (!t) return;
    const char *ns = t->schema && t->schema[0] ? t->schema : t->db;
    if (ns && ns[0]) {
        sl_buf_puts(out, ns);
        sl_buf_putc(out, '.');
    }
    sl_buf_puts(out, t->name ? t->name : "");
}

/* Build a client configuration: producer defaults (producers only), bootstrap servers,
 * client.id and transactional.id, then client_conf, which overrides everything. NULL +
 * errstr when librdkafka rejects a value (validate() normally caught it already). */
static rd_kafka_conf_t *sl_kafka_conf_build(const sl_kafka_sink_t *ks, bool producer,
                                            char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    char err[512];
    const char *k = NULL, *v = NULL;

#define SL_KAFKA_SET(key, val)                                                    \
    do {                                                                          \
        k = (key);                                                                \
        v = (val);                                                                \
        if (rd_kafka_conf_set(rc, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)    \
            goto fail;                                                            \
    } while (0)

    if (producer)
        for (size_t i = 0; i < SL_ARRAY_SIZE(sl_kafka_defaults); i++)
            SL_KAFKA_SET(sl_kafka_defaults[i][0], sl_kafka_defaults[i][1]);
    SL_KAFKA_SET("bootstrap.servers", ks->brokers);
    SL_KAFKA_SET("client.id", ks->client_id);
    if (producer && ks->exactly_once) SL_KAFKA_SET("transactional.id", ks->txn_id);
    for (size_t i = 0; i < ks->ncc; i++) SL_KAFKA_SET(ks->cc_k[i], ks->cc_v[i]);
    if (!producer) {
        /* the checkpoint reader: these are what makes it correct, so they come last */
        SL_KAFKA_SET("isolation.level", "read_committed");
        SL_KAFKA_SET("enable.partition.eof", "true");
        SL_KAFKA_SET("fetch.wait.max.ms", "100");
    }
#undef SL_KAFKA_SET
    rd_kafka_conf_set_opaque(rc, (void *)ks);
    rd_kafka_conf_set_log_cb(rc, sl_kafka_log_cb);
    rd_kafka_conf_set_error_cb(rc, sl_kafka_error_cb);
    if (producer) rd_kafka_conf_set_dr_msg_cb(rc, sl_kafka_dr_cb);
    return rc;

fail:
    sl_err(errstr, errstr_size, "kafka sink %s: client property %s=%s: %s", ks->id, k,
           strstr(k, "password") || strstr(k, "secret") ? "****" : v, err);
    rd_kafka_conf_destroy(rc);
    return NULL;
}

/* ---- create / destroy ------------------------------------------------------------- */

static void sl_kafka_destroy(void *sink);
static void sl_kafka_close(void *sink);

static void *sl_kafka_create(const void *conf, sl_pipeline_t *p, char *errstr,
                             size_t errstr_size)
{
    const sl_kafka_conf_t *c = conf;
    if (!c || !c->brokers || !c->topic) {
        sl_err(errstr, errstr_size, "kafka sink: brokers and topic are required");
        return NULL;
    }
    sl_kafka_sink_t *ks = sl_calloc(1, sizeof(*ks));
    const sl_spec_t *spec = p ? sl_pipeline_spec(p) : NULL;
    char msg[SL_ERRSTR_SIZE];
    sl_buf_t b = SL_BUF_INIT;

    atomic_init(&ks->txn_ready, false);
    atomic_init(&ks->open_failed, false);
    ks->p = p;
    ks->id = sl_strdup(c->common.id ? c->common.id : "kafka");
    ks->pipeline = sl_strdup(spec ? spec->name : "sluice");
    ks->source_type = spec && spec->source_ops ? spec->source_ops->type : "unknown";
    ks->shard_count = spec && spec->sharding ? spec->shard_count : 0;
    ks->brokers = sl_strdup(c->brokers);
    ks->ckpt_topic = sl_strdup(c->checkpoint_topic ? c->checkpoint_topic
                                                   : "sluice.checkpoints");
    ks->exactly_once = c->exactly_once;
    ks->tombstones = c->tombstones;
    sl_buf_printf(&b, "sluice.%s.%s", ks->pipeline, ks->id);
    ks->txn_id = sl_buf_steal(&b);
    sl_buf_printf(&b, "sluice-%s-%s", ks->pipeline, ks->id);
    ks->client_id = sl_buf_steal(&b);
    sl_buf_printf(&b, "%s/%s", ks->pipeline, ks->id);
    ks->ckpt_key = sl_buf_steal(&b);
    ks->ncc = c->client_conf.n;
    ks->cc_k = sl_calloc(ks->ncc ? ks->ncc : 1, sizeof(char *));
    ks->cc_v = sl_calloc(ks->ncc ? ks->ncc : 1, sizeof(char *));
    for (size_t i = 0; i < ks->ncc; i++) {
        ks->cc_k[i] = sl_strdup(c->client_conf.k[i]);
        ks->cc_v[i] = sl_strdup(c->client_conf.v[i]);
    }
    ks->tpl = sl_template_new(c->topic, msg, sizeof(msg));
    if (!ks->tpl) {
        sl_err(errstr, errstr_size, "kafka sink %s: topic: %s", ks->id, msg);
        goto err;
    }
    if (!sl_kafka_topic_literal_ok(c->topic))
        sl_warn("kafka sink %s: topic \"%s\": characters Kafka does not allow in topic names "
                "become '_'", ks->id, c->topic);
    if (c->common.schema_changes &&
        !(ks->sc_tpl = sl_template_new(c->common.schema_changes, msg, sizeof(msg)))) {
        sl_err(errstr, errstr_size, "kafka sink %s: schema_changes: %s", ks->id, msg);
        goto err;
    }
    /* The full configuration is checked once here, so a typo fails `sluice run` at
     * start rather than on the sink thread. */
    rd_kafka_conf_t *rc = sl_kafka_conf_build(ks, true, errstr, errstr_size);
    if (!rc) goto err;
    rd_kafka_conf_destroy(rc);
    return ks;

err:
    sl_kafka_destroy(ks);
    return NULL;
}

static void sl_kafka_destroy(void *sink)
{
    sl_kafka_sink_t *ks = sink;
    if (!ks) return;
    sl_kafka_close(ks);
    for (size_t i = 0; i < ks->cap; i++) free(ks->dests[i].table_hdr);
    free(ks->dests);
    for (size_t i = 0; i < ks->ntopics; i++) {
        free(ks->topics[i]->name);
        free(ks->topics[i]->range);
        free(ks->topics[i]);
    }
    free(ks->topics);
    for (size_t i = 0; i < ks->ncc; i++) {
        free(ks->cc_k[i]);
        free(ks->cc_v[i]);
    }
    free(ks->cc_k);
    free(ks->cc_v);
    sl_template_free(ks->tpl);
    sl_template_free(ks->sc_tpl);
    sl_buf_free(&ks->scratch);
    sl_buf_free(&ks->ckpt_val);
    free(ks->id);
    free(ks->pipeline);
    free(ks->brokers);
    free(ks->ckpt_topic);
    free(ks->txn_id);
    free(ks->client_id);
    free(ks->ckpt_key);
    free(ks);
}

/* ---- destinations ----------------------------------------------------------------- */

static size_t sl_kafka_dest_hash(const sl_table_t *table, int32_t shard)
{
    uint64_t h = (uint64_t)(uintptr_t)table * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uint32_t)shard * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 31));
}

static void sl_kafka_dest_grow(sl_kafka_sink_t *ks)
{
    size_t cap = ks->cap ? ks->cap * 2 : 16;
    sl_kafka_dest_t *d = sl_calloc(cap, sizeof(*d));
    for (size_t i = 0; i < ks->cap; i++) {
        if (!ks->dests[i].used) continue;
        size_t j = sl_kafka_dest_hash(ks->dests[i].table, ks->dests[i].shard) & (cap - 1);
        while (d[j].used) j = (j + 1) & (cap - 1);
        d[j] = ks->dests[i];
    }
    free(ks->dests);
    ks->dests = d;
    ks->cap = cap;
}

static sl_kafka_topic_t *sl_kafka_topic_get(sl_kafka_sink_t *ks, const char *name)
{
    for (size_t i = 0; i < ks->ntopics; i++)
        if (strcmp(ks->topics[i]->name, name) == 0) return ks->topics[i];
    sl_kafka_topic_t *t = sl_calloc(1, sizeof(*t));
    t->name = sl_strdup(name);
    ks->topics = sl_realloc(ks->topics, (ks->ntopics + 1) * sizeof(*ks->topics));
    ks->topics[ks->ntopics++] = t;
    return t;
}

/* With spec.sharding the partition is the shard: the topic needs at least `count`
 * partitions. Asks for the topic's metadata (a producer's request auto-creates it where
 * the brokers allow that). SL_OK, SL_AGAIN (unreachable, still being created), SL_ERR. */
static int sl_kafka_topic_check_partitions(sl_kafka_sink_t *ks, sl_kafka_topic_t *t,
                                           char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t terr = RD_KAFKA_RESP_ERR_NO_ERROR;
    int cnt = 0;
    for (int attempt = 1; attempt <= SL_KAFKA_META_ATTEMPTS; attempt++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(ks->rk, 0, t->rkt, &md, 5000);
        if (err) {
            sl_err(errstr, errstr_size, "kafka sink %s: metadata for topic %s: %s", ks->id,
                   t->name, rd_kafka_err2str(err));
            return SL_AGAIN;
        }
        terr = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        cnt = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
        rd_kafka_metadata_destroy(md);
        if (!terr && cnt > 0) break;
        if (terr && sl_kafka_err_class(terr) == SL_ERR)
            return sl_err(errstr, errstr_size, "kafka sink %s: topic %s: %s", ks->id,
                          t->name, rd_kafka_err2str(terr));
        sl_sleep_ms(100);
    }
    if (terr || cnt <= 0) {
        sl_err(errstr, errstr_size, "kafka sink %s: topic %s is not available: %s", ks->id,
               t->name, rd_kafka_err2str(terr));
        return SL_AGAIN;
    }
    if (cnt < ks->shard_count)
        return sl_err(errstr, errstr_size, "kafka sink %s: topic %s has %d partitions, fewer "
                      "than spec.sharding.count (%lld): with sharding the partition is the "
                      "shard number, so the topic needs at least %lld partitions", ks->id,
                      t->name, cnt, (long long)ks->shard_count, (long long)ks->shard_count);
    t->checked = true;
    return SL_OK;
}

/* Schema change events are cached under this shard (no real shard is below -1). */
#define SL_KAFKA_SCHEMA_SHARD INT32_MIN

static int sl_kafka_topic_ready(sl_kafka_sink_t *ks, sl_kafka_topic_t *t, char *errstr,
                                size_t errstr_size);

/* The destination of an event: rendered and sanitized once per (table, shard), topic
 * handle created once per producer. SL_OK with *out, SL_AGAIN or SL_ERR. */
static int sl_kafka_dest(sl_kafka_sink_t *ks, const sl_event_t *e, sl_kafka_dest_t **out,
                         char *errstr, size_t errstr_size)
{
    sl_kafka_dest_t *d = NULL;
    bool schema = e->op == SL_OP_SCHEMA;
    int32_t shard = schema ? SL_KAFKA_SCHEMA_SHARD : e->shard;
    if (ks->cap) {
        size_t mask = ks->cap - 1, j = sl_kafka_dest_hash(e->table, shard) & mask;
        for (; ks->dests[j].used; j = (j + 1) & mask) {
            if (ks->dests[j].table == e->table && ks->dests[j].shard == shard) {
                d = &ks->dests[j];
                break;
            }
        }
    }
    if (sl_unlikely(!d)) {
        sl_buf_reset(&ks->scratch);
        sl_template_render(schema ? ks->sc_tpl : ks->tpl, e->table, schema ? -1 : e->shard,
                           &ks->scratch);
        sl_buf_cstr(&ks->scratch);
        sl_kafka_topic_sanitize(ks->scratch.data, ks->scratch.len);
        if (ks->scratch.len == 0 || ks->scratch.len > SL_KAFKA_TOPIC_MAX ||
            strcmp(ks->scratch.data, ".") == 0 || strcmp(ks->scratch.data, "..") == 0)
            return sl_err(errstr, errstr_size, "kafka sink %s: topic \"%.*s\" for table "
                          "%s is not a valid Kafka topic name (1..%d characters, not . or ..)",
                          ks->id, (int)(ks->scratch.len > 300 ? 300 : ks->scratch.len),
                          ks->scratch.data, e->table ? e->table->name : "?",
                          SL_KAFKA_TOPIC_MAX);
        sl_kafka_topic_t *t = sl_kafka_topic_get(ks, ks->scratch.data);
        if (schema) t->checked = true;   /* keyed by database, not sharded */
        if ((ks->ndests + 1) * 2 > ks->cap) sl_kafka_dest_grow(ks);
        size_t mask = ks->cap - 1, j = sl_kafka_dest_hash(e->table, shard) & mask;
        while (ks->dests[j].used) j = (j + 1) & mask;
        d = &ks->dests[j];
        d->table = e->table;
        d->shard = shard;
        d->used = true;
        d->topic = t;
        sl_buf_reset(&ks->scratch);
        sl_kafka_table_name(e->table, &ks->scratch);
        d->table_hdr_len = ks->scratch.len;
        d->table_hdr = sl_strndup(ks->scratch.data ? ks->scratch.data : "", ks->scratch.len);
        ks->ndests++;
    }
    int rc = sl_kafka_topic_ready(ks, d->topic, errstr, errstr_size);
    if (rc != SL_OK) return rc;
    *out = d;
    return SL_OK;
}

/* A processor's route.topic for an event: validated and sanitized like a rendered
 * template, looked up among the sink's topics (created on first use). The returned dest
 * is *tmp: the event's cached dest with the topic replaced (same table header). */
static int sl_kafka_dest_routed(sl_kafka_sink_t *ks, const sl_kafka_dest_t *d,
                                const char *name, size_t len, sl_kafka_dest_t *tmp,
                                char *errstr, size_t errstr_size)
{
    if (len > SL_KAFKA_TOPIC_MAX || (len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return sl_err(errstr, errstr_size, "kafka sink %s: route.topic \"%.*s\" set by a "
                      "processor is not a valid Kafka topic name (1..%d characters, not . "
                      "or ..)", ks->id, (int)(len > 300 ? 300 : len), name,
                      SL_KAFKA_TOPIC_MAX);
    sl_buf_reset(&ks->scratch);
    sl_buf_put(&ks->scratch, name, len);
    sl_buf_cstr(&ks->scratch);
    sl_kafka_topic_sanitize(ks->scratch.data, ks->scratch.len);
    *tmp = *d;
    tmp->topic = sl_kafka_topic_get(ks, ks->scratch.data);
    return sl_kafka_topic_ready(ks, tmp->topic, errstr, errstr_size);
}

/* A topic's handle exists (created once per producer) and, with sharding, its partition
 * count was checked. SL_OK, SL_AGAIN or SL_ERR. */
static int sl_kafka_topic_ready(sl_kafka_sink_t *ks, sl_kafka_topic_t *t, char *errstr,
                                size_t errstr_size)
{
    if (sl_unlikely(!t->rkt)) {
        /* Our own copy of the default topic config (acks, compression...), carrying the
         * topic as opaque for the delivery reports. */
        rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(ks->rk);
        rd_kafka_topic_conf_set_opaque(tc, t);
        t->rkt = rd_kafka_topic_new(ks->rk, t->name, tc);
        if (!t->rkt)
            return sl_err(errstr, errstr_size, "kafka sink %s: topic %s: %s", ks->id,
                          t->name, rd_kafka_err2str(rd_kafka_last_error()));
    }
    if (sl_unlikely(ks->shard_count && !t->checked))
        return sl_kafka_topic_check_partitions(ks, t, errstr, errstr_size);
    return SL_OK;
}

/* ---- open / close ----------------------------------------------------------------- */

/* Drop the producer. Anything it still holds is purged first, so no message refers to a
 * batch arena once this returns (rd_kafka_destroy joins librdkafka's threads). An open
 * transaction is aborted when possible; a successor's init_transactions would abort it
 * anyway. */
static void sl_kafka_close(void *sink)
{
    sl_kafka_sink_t *ks = sink;
    if (!ks->rk) return;
    if (ks->in_tx) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(ks->rk, 2000);
        if (e) {
            sl_debug("kafka sink %s: abort on close: %s", ks->id, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        ks->in_tx = false;
    }
    rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(ks->rk, 0);
    for (size_t i = 0; i < ks->ntopics; i++) {
        if (ks->topics[i]->rkt) rd_kafka_topic_destroy(ks->topics[i]->rkt);
        ks->topics[i]->rkt = NULL;
    }
    if (ks->ckpt_rkt) rd_kafka_topic_destroy(ks->ckpt_rkt);
    ks->ckpt_rkt = NULL;
    rd_kafka_destroy(ks->rk);
    ks->rk = NULL;
    ks->pending = 0;
}

/* Create the compacted checkpoint topic when it does not exist (once per instance; best
 * effort: without it the topic is auto-created on first use, uncompacted). */
static void sl_kafka_ckpt_topic_ensure(sl_kafka_sink_t *ks)
{
    if (ks->ckpt_topic_tried) return;
    ks->ckpt_topic_tried = true;

    /* All-topics metadata never auto-creates anything. */
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(ks->rk, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        bool exists = false;
        for (int i = 0; i < md->topic_cnt && !exists; i++)
            exists = strcmp(md->topics[i].topic, ks->ckpt_topic) == 0 && !md->topics[i].err;
        rd_kafka_metadata_destroy(md);
        if (exists) return;
    }

    char e[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(ks->ckpt_topic, 1, -1, e, sizeof(e));
    if (!nt) {
        sl_warn("kafka sink %s: cannot create topic %s: %s", ks->id, ks->ckpt_topic, e);
        return;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(ks->rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(ks->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opt, 5000, e, sizeof(e));
    rd_kafka_CreateTopics(ks->rk, &nt, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 6000);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    const char *why = "timed out";
    if (ev) {
        err = rd_kafka_event_error(ev);
        why = rd_kafka_event_error_string(ev);
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n)
                                                 : NULL;
        if (!err && n == 1) {
            err = rd_kafka_topic_result_error(tr[0]);
            why = rd_kafka_topic_result_error_string(tr[0]);
        }
    }
    if (!err)
        sl_info("kafka sink %s: created compacted topic %s", ks->id, ks->ckpt_topic);
    else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        sl_warn("kafka sink %s: could not create the compacted topic %s (%s): create it with "
                "cleanup.policy=compact, or checkpoints go to an auto-created topic",
                ks->id, ks->ckpt_topic, why && *why ? why : rd_kafka_err2str(err));
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
}

/* SL_AGAIN or SL_ERR for a failed transactional call; the error is consumed. An error
 * that needs it aborts the transaction. Fencing is fatal and says so. */
static int sl_kafka_txn_error(sl_kafka_sink_t *ks, const char *what, rd_kafka_error_t *e,
                              char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    int rc = SL_AGAIN;
    if (sl_kafka_err_class(code) == SL_ERR) {
        if (sl_kafka_fenced(code))
            sl_err(errstr, errstr_size, "kafka sink %s: %s: producer fenced: another producer "
                   "with transactional.id %s took over (is this pipeline running twice?): %s",
                   ks->id, what, ks->txn_id, rd_kafka_error_string(e));
        else
            sl_err(errstr, errstr_size, "kafka sink %s: %s: %s", ks->id, what,
                   rd_kafka_error_string(e));
        rc = SL_ERR;
    } else {
        sl_err(errstr, errstr_size, "kafka sink %s: %s: %s", ks->id, what,
               rd_kafka_error_string(e));
        if (rd_kafka_error_txn_requires_abort(e) && ks->in_tx) {
            rd_kafka_error_t *ae = rd_kafka_abort_transaction(ks->rk, SL_KAFKA_TXN_TIMEOUT_MS);
            if (!ae) ks->in_tx = false;
            else rd_kafka_error_destroy(ae);
        }
    }
    rd_kafka_error_destroy(e);
    return rc;
}

static int sl_kafka_open(void *sink, char *errstr, size_t errstr_size)
{
    sl_kafka_sink_t *ks = sink;
    char e[512];
    int rc;

    sl_kafka_close(ks);
    rd_kafka_conf_t *conf = sl_kafka_conf_build(ks, true, errstr, errstr_size);
    if (!conf) {
        atomic_store(&ks->open_failed, true);
        return SL_ERR;
    }
    ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!ks->rk) {
        rd_kafka_conf_destroy(conf);
        atomic_store(&ks->open_failed, true);
        return sl_err(errstr, errstr_size, "kafka sink %s: invalid client configuration: %s",
                      ks->id, e);
    }
    /* Broker calls below go in short slices, so a stop is not held up by a dead broker. */
    uint64_t deadline = sl_now_mono_us() + SL_KAFKA_OPEN_TIMEOUT_MS * 1000ull;
    if (ks->exactly_once) {
        /* Fences older producers of this transactional.id and resolves (commits or
         * aborts) their last transaction before we read or write anything. A call that
         * timed out resumes where it was when called again. */
        for (;;) {
            rd_kafka_error_t *err = rd_kafka_init_transactions(ks->rk, SL_KAFKA_SLICE_MS);
            if (!err) break;
            if (rd_kafka_error_is_retriable(err) && sl_now_mono_us() < deadline &&
                !sl_kafka_stopping(ks)) {
                rd_kafka_error_destroy(err);
                continue;
            }
            rc = sl_kafka_txn_error(ks, "init_transactions", err, errstr, errstr_size);
            goto fail;
        }
        sl_kafka_ckpt_topic_ensure(ks);
        ks->ckpt_rkt = rd_kafka_topic_new(ks->rk, ks->ckpt_topic, NULL);
        if (!ks->ckpt_rkt) {
            sl_err(errstr, errstr_size, "kafka sink %s: topic %s: %s", ks->id, ks->ckpt_topic,
                   rd_kafka_err2str(rd_kafka_last_error()));
            rc = SL_ERR;
            goto fail;
        }
        atomic_store(&ks->txn_ready, true);
    } else {
        /* rd_kafka_new does not connect: ask for broker metadata, so a sink that reports
         * itself open really reached a broker. */
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_metadata(ks->rk, 0, NULL, &md, SL_KAFKA_SLICE_MS)) &&
               sl_now_mono_us() < deadline && !sl_kafka_stopping(ks))
            ;
        if (err) {
            sl_err(errstr, errstr_size, "kafka sink %s: cannot reach brokers %s: %s", ks->id,
                   ks->brokers, rd_kafka_err2str(err));
            rc = SL_AGAIN;
            goto fail;
        }
        rd_kafka_metadata_destroy(md);
    }
    sl_info("kafka sink %s: connected to %s (%s)", ks->id, ks->brokers,
            ks->exactly_once ? "exactly-once" : "at-least-once, idempotent");
    return SL_OK;

fail:
    if (rc == SL_ERR) atomic_store(&ks->open_failed, true);
    sl_kafka_close(ks);
    return rc;
}

/* ---- checkpoint read-back --------------------------------------------------------- */

/* Scan partition 0 of the checkpoint topic from `start` for records with our key,
 * keeping the value of the last one in out (*found). end < 0: read to the end of the
 * committed data (waiting until transactions open when we began are resolved, so none
 * hides a later record of ours); else stop before offset `end`. */
static int sl_kafka_ckpt_scan(sl_kafka_sink_t *ks, rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                              int64_t start, int64_t end, sl_buf_t *out, bool *found,
                              char *errstr, size_t errstr_size)
{
    size_t klen = strlen(ks->ckpt_key);
    int64_t target = -1;
    int rc = SL_OK;
    bool waiting_logged = false;

    if (rd_kafka_consume_start(rkt, 0, start) == -1) {
        sl_err(errstr, errstr_size, "kafka sink %s: read %s: %s", ks->id, ks->ckpt_topic,
               rd_kafka_err2str(rd_kafka_last_error()));
        return SL_AGAIN;
    }
    uint64_t idle_since = sl_now_mono_us();
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consume(rkt, 0, 200);
        if (!m) {
            if (sl_kafka_stopping(ks)) {
                sl_err(errstr, errstr_size, "kafka sink %s: stopping", ks->id);
                rc = SL_AGAIN;
                break;
            }
            if (sl_now_mono_us() - idle_since > SL_KAFKA_READ_IDLE_MS * 1000ull) {
                sl_err(errstr, errstr_size, "kafka sink %s: reading %s: no progress for %d s",
                       ks->id, ks->ckpt_topic, SL_KAFKA_READ_IDLE_MS / 1000);
                rc = SL_AGAIN;
                break;
            }
            continue;
        }
        idle_since = sl_now_mono_us();
        bool done = false;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (end >= 0) {
                done = true;
            } else {
                int64_t lo, hwm;
                if (rd_kafka_get_watermark_offsets(rk, ks->ckpt_topic, 0, &lo, &hwm) != 0)
                    hwm = m->offset;
                if (target < 0) target = hwm;
                done = m->offset >= target;
                if (!done && !waiting_logged) {
                    sl_info("kafka sink %s: waiting for open transactions in %s to finish "
                            "(stable offset %lld, end %lld)", ks->id, ks->ckpt_topic,
                            (long long)m->offset, (long long)target);
                    waiting_logged = true;
                }
            }
        } else if (m->err) {
            sl_err(errstr, errstr_size, "kafka sink %s: read %s: %s", ks->id, ks->ckpt_topic,
                   rd_kafka_message_errstr(m));
            rc = sl_kafka_err_class(m->err);
            done = true;
        } else if (end >= 0 && m->offset >= end) {
            done = true;
        } else if (m->key_len == klen && memcmp(m->key, ks->ckpt_key, klen) == 0) {
            /* a null value (tombstone) deletes the checkpoint */
            sl_buf_reset(out);
            if (m->payload) sl_buf_put(out, m->payload, m->len);
            *found = true;
        }
        rd_kafka_message_destroy(m);
        if (done) break;
    }
    rd_kafka_consume_stop(rkt, 0);
    return rc;
}

/* The value of this sink's last committed checkpoint record (empty when there is none).
 * Scans back from the end in growing windows, as other pipelines share the partition.
 * SL_OK, SL_AGAIN (transient), SL_ERR. Runs on any thread: it has its own consumer. */
static int sl_kafka_ckpt_read(sl_kafka_sink_t *ks, sl_buf_t *out, char *errstr,
                              size_t errstr_size)
{
    char e[512];
    int rc = SL_OK;
    sl_buf_reset(out);
    rd_kafka_conf_t *conf = sl_kafka_conf_build(ks, false, errstr, errstr_size);
    if (!conf) return SL_ERR;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return sl_err(errstr, errstr_size, "kafka sink %s: checkpoint reader: %s", ks->id, e);
    }
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, ks->ckpt_topic, 0, &lo,
                                                               &hi, SL_KAFKA_OPEN_TIMEOUT_MS);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || (!err && hi <= lo)) {
        rd_kafka_destroy(rk);
        return SL_OK;   /* no checkpoint topic or an empty one: no checkpoint */
    }
    if (err) {
        rd_kafka_destroy(rk);
        sl_err(errstr, errstr_size, "kafka sink %s: offsets of %s: %s", ks->id,
               ks->ckpt_topic, rd_kafka_err2str(err));
        return sl_kafka_err_class(err);
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, ks->ckpt_topic, NULL);
    if (!rkt) {
        rd_kafka_destroy(rk);
        sl_err(errstr, errstr_size, "kafka sink %s: topic %s: %s", ks->id,
               ks->ckpt_topic, rd_kafka_err2str(rd_kafka_last_error()));
        return SL_AGAIN;
    }
    bool found = false;
    int64_t end = -1, window = SL_KAFKA_CKPT_WINDOW, start = hi;
    for (;;) {
        int64_t from = end < 0 ? hi : end;
        start = from - window < lo ? lo : from - window;
        rc = sl_kafka_ckpt_scan(ks, rk, rkt, start, end, out, &found, errstr, errstr_size);
        if (rc != SL_OK || found || start == lo) break;
        end = start;
        window *= 8;
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}

/* load_checkpoint hook (source thread, before the source starts). */
static int sl_kafka_load_checkpoint(void *sink, sl_buf_t *json_out, char *errstr,
                                    size_t errstr_size)
{
    sl_kafka_sink_t *ks = sink;
    sl_buf_reset(json_out);
    if (!ks->exactly_once) return SL_OK;

    /* Read only after our producer's init_transactions: it resolves the transaction a
     * crashed predecessor left open, which could still commit a later checkpoint. */
    while (!atomic_load(&ks->txn_ready)) {
        if (atomic_load(&ks->open_failed))
            return sl_err(errstr, errstr_size, "kafka sink %s did not start", ks->id);
        if (!ks->p) return sl_err(errstr, errstr_size, "kafka sink %s: not open", ks->id);
        if (sl_pipeline_sleep(ks->p, 50))
            return sl_err(errstr, errstr_size, "kafka sink %s: stopping", ks->id);
    }
    unsigned backoff = 200, attempt = 0;
    int rc;
    for (;;) {
        rc = sl_kafka_ckpt_read(ks, json_out, errstr, errstr_size);
        if (rc != SL_AGAIN) break;
        if (attempt++ % 10 == 0)
            sl_warn("%s (retrying in %u ms)", errstr, backoff);
        if (!ks->p || sl_pipeline_sleep(ks->p, backoff)) return SL_ERR;
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    if (rc != SL_OK) return rc;
    if (json_out->len)
        sl_info("kafka sink %s: last committed checkpoint in %s: %.*s", ks->id, ks->ckpt_topic,
                (int)(json_out->len > 400 ? 400 : json_out->len), json_out->data);
    else
        sl_info("kafka sink %s: no checkpoint in %s yet", ks->id, ks->ckpt_topic);
    return SL_OK;
}

/* ---- deliver ---------------------------------------------------------------------- */

/* Serve delivery reports until every message produced has one. SL_OK, or SL_AGAIN when
 * the pipeline is stopping and SLUICE_STOP_TIMEOUT passed without them. */
static int sl_kafka_wait_reports(sl_kafka_sink_t *ks, char *errstr, size_t errstr_size)
{
    uint64_t stop_seen = 0;
    while (ks->pending > 0) {
        rd_kafka_flush(ks->rk, SL_KAFKA_POLL_MS);
        if (ks->pending == 0) break;
        if (sl_kafka_stopping(ks)) {
            uint64_t now = sl_now_mono_us();
            if (!stop_seen) stop_seen = now;
            else if (now - stop_seen > sl_pipeline_stop_timeout_ms(ks->p) * 1000ull) {
                sl_err(errstr, errstr_size, "kafka sink %s: stopping: %u messages still "
                       "unacknowledged", ks->id, ks->pending);
                return SL_AGAIN;
            }
        }
    }
    return SL_OK;
}

/* Describe the event a message was for: "table s.t key {...} (N bytes)". */
static void sl_kafka_describe(const sl_kafka_sink_t *ks, const sl_batch_t *b, void *opaque,
                              char *buf, size_t size)
{
    SL_UNUSED(ks);
    int kind = SL_KAFKA_OPAQUE_KIND(opaque);
    uint32_t i = SL_KAFKA_OPAQUE_IDX(opaque);
    if (kind == SL_KAFKA_MSG_CKPT || i >= b->n) {
        snprintf(buf, size, "the checkpoint record");
        return;
    }
    const sl_event_t *e = &b->ev[i];
    sl_buf_t t = SL_BUF_INIT;
    sl_kafka_table_name(e->table, &t);
    snprintf(buf, size, "%s of table %s, key %.*s%s (%u bytes)",
             kind == SL_KAFKA_MSG_TOMBSTONE ? "the tombstone" : "the event", sl_buf_cstr(&t),
             e->key_len ? (int)(e->key_len > SL_KAFKA_KEY_SHOWN ? SL_KAFKA_KEY_SHOWN
                                                                 : e->key_len) : 4,
             e->key_len ? sl_event_key(b, e) : "null",
             e->key_len > SL_KAFKA_KEY_SHOWN ? "..." : "",
             kind == SL_KAFKA_MSG_TOMBSTONE ? e->key_len : e->key_len + e->val_len);
    sl_buf_free(&t);
}

/* Turn a failed message (at produce time or in its delivery report) into the result of
 * deliver(), with a message naming what failed. */
static int sl_kafka_msg_error(sl_kafka_sink_t *ks, const sl_batch_t *b, void *opaque,
                              const char *topic, int32_t partition, rd_kafka_resp_err_t err,
                              uint32_t nfailed, char *errstr, size_t errstr_size)
{
    char what[512];
    sl_kafka_describe(ks, b, opaque, what, sizeof(what));
    if (err == RD_KAFKA_RESP_ERR__FATAL && ks->rk) {
        char fe[256];
        err = rd_kafka_fatal_error(ks->rk, fe, sizeof(fe));
        if (sl_kafka_fenced(err))
            return sl_err(errstr, errstr_size, "kafka sink %s: producer fenced: another "
                          "producer with transactional.id %s took over (is this pipeline "
                          "running twice?): %s", ks->id, ks->txn_id, fe);
        /* any other fatal producer error: a new producer starts clean */
        sl_err(errstr, errstr_size, "kafka sink %s: fatal producer error: %s", ks->id, fe);
        return SL_AGAIN;
    }
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        char max[32] = "?";
        size_t msz = sizeof(max);
        if (ks->rk) rd_kafka_conf_get(rd_kafka_conf(ks->rk), "message.max.bytes", max, &msz);
        return sl_err(errstr, errstr_size, "kafka sink %s: %s is too large for topic %s "
                      "(message.max.bytes %s here; the broker or topic may allow less): %s",
                      ks->id, what, topic, max, rd_kafka_err2str(err));
    }
    if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        return sl_err(errstr, errstr_size, "kafka sink %s: topic %s has no partition %d (%s)",
                      ks->id, topic, (int)partition, what);
    sl_err(errstr, errstr_size, "kafka sink %s: delivery to %s [%d] failed: %s (%s; %u "
           "message(s) failed)", ks->id, topic, (int)partition, rd_kafka_err2str(err), what,
           nfailed);
    return sl_kafka_err_class(err);
}

/* Produce one message, waiting while the local queue is full. */
static rd_kafka_resp_err_t sl_kafka_produce(sl_kafka_sink_t *ks, const sl_kafka_dest_t *d,
                                            int32_t partition, const sl_batch_t *b,
                                            const sl_event_t *e, bool tombstone, void *opaque)
{
    const char *key = e->key_len ? sl_event_key(b, e) : NULL;
    char op = (char)e->op;
    for (;;) {
        rd_kafka_resp_err_t err;
        if (!tombstone)
            err = rd_kafka_producev(
                ks->rk, RD_KAFKA_V_RKT(d->topic->rkt), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_KEY(key, e->key_len),
                RD_KAFKA_V_VALUE((void *)sl_event_val(b, e), e->val_len),
                RD_KAFKA_V_HEADER("sluice.op", &op, 1),
                RD_KAFKA_V_HEADER("sluice.table", d->table_hdr, (ssize_t)d->table_hdr_len),
                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        else
            err = rd_kafka_producev(
                ks->rk, RD_KAFKA_V_RKT(d->topic->rkt), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_KEY(key, e->key_len),
                RD_KAFKA_V_VALUE(NULL, 0),
                RD_KAFKA_V_HEADER("sluice.table", d->table_hdr, (ssize_t)d->table_hdr_len),
                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (!err) ks->pending++;
            return err;
        }
        rd_kafka_poll(ks->rk, 10);
    }
}

/* The checkpoint record's value: the checkpoint file's shape plus what this transaction
 * wrote ({"topic","partition","first","last"} per partition). */
static void sl_kafka_ckpt_format(sl_kafka_sink_t *ks, const sl_batch_t *b, sl_buf_t *out)
{
    sl_buf_reset(out);
    sl_buf_puts(out, "{\"pipeline\":");
    sl_json_cstr(out, ks->pipeline);
    sl_buf_puts(out, ",\"sink\":");
    sl_json_cstr(out, ks->id);
    sl_buf_puts(out, ",\"source\":");
    sl_json_cstr(out, ks->source_type);
    sl_buf_puts(out, ",\"position\":");
    sl_buf_put(out, b->pos.json.data, b->pos.json.len);
    sl_buf_printf(out, ",\"events\":%u,\"offsets\":[", b->n);
    bool first = true;
    for (size_t i = 0; i < ks->ntopics; i++) {
        const sl_kafka_topic_t *t = ks->topics[i];
        if (!t->touched) continue;
        for (int32_t p = 0; p < t->nrange; p++) {
            if (t->range[p][0] < 0) continue;
            if (!first) sl_buf_putc(out, ',');
            first = false;
            sl_buf_puts(out, "{\"topic\":");
            sl_json_cstr(out, t->name);
            sl_buf_printf(out, ",\"partition\":%d,\"first\":%lld,\"last\":%lld}", (int)p,
                          (long long)t->range[p][0], (long long)t->range[p][1]);
        }
    }
    sl_buf_printf(out, "],\"produced_at_us\":%llu}", (unsigned long long)sl_now_wall_us());
}

/* After a commit whose outcome is unknown (it timed out), the batch is redelivered: if
 * its checkpoint is the last committed one, the commit did happen. True then. */
static bool sl_kafka_already_committed(sl_kafka_sink_t *ks, const sl_batch_t *b)
{
    ks->commit_unknown = false;
    if (!b->has_pos) return false;
    char err[SL_ERRSTR_SIZE];
    sl_buf_t val = SL_BUF_INIT;
    bool same = false;
    if (sl_kafka_ckpt_read(ks, &val, err, sizeof(err)) == SL_OK && val.len) {
        json_t *doc = json_loadb(val.data, val.len, 0, NULL);
        json_t *mine = json_loadb(b->pos.json.data, b->pos.json.len, 0, NULL);
        same = doc && mine && json_equal(json_object_get(doc, "position"), mine);
        json_decref(doc);
        json_decref(mine);
    }
    sl_buf_free(&val);
    if (same)
        sl_info("kafka sink %s: batch %llu was committed before the error; not resending it",
                ks->id, (unsigned long long)b->seq);
    return same;
}

static int sl_kafka_commit(sl_kafka_sink_t *ks, char *errstr, size_t errstr_size)
{
    for (int attempt = 1;; attempt++) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(ks->rk, SL_KAFKA_TXN_TIMEOUT_MS);
        if (!e) {
            ks->in_tx = false;
            return SL_OK;
        }
        /* Retriable (a timeout, typically): calling commit again resumes it. */
        if (rd_kafka_error_is_retriable(e) && attempt < SL_KAFKA_TXN_ATTEMPTS &&
            !sl_kafka_stopping(ks)) {
            sl_warn("kafka sink %s: commit_transaction (attempt %d): %s; retrying", ks->id,
                    attempt, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            continue;
        }
        if (rd_kafka_error_is_retriable(e)) ks->commit_unknown = true;
        return sl_kafka_txn_error(ks, "commit_transaction", e, errstr, errstr_size);
    }
}

static int sl_kafka_deliver(void *sink, const sl_batch_t *b, char *errstr,
                            size_t errstr_size)
{
    sl_kafka_sink_t *ks = sink;
    int rc = SL_OK;

    if (!ks->rk) {
        sl_err(errstr, errstr_size, "kafka sink %s: not connected", ks->id);
        return SL_AGAIN;
    }
    if (b->n == 0 && !(ks->exactly_once && b->has_pos)) return SL_OK;
    ks->pending = ks->failed = 0;
    ks->first_err = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (ks->exactly_once) {
        if (ks->commit_unknown && sl_kafka_already_committed(ks, b)) return SL_OK;
        rd_kafka_error_t *e = rd_kafka_begin_transaction(ks->rk);
        if (e) {
            rc = sl_kafka_txn_error(ks, "begin_transaction", e, errstr, errstr_size);
            goto fail;
        }
        ks->in_tx = true;
        for (size_t i = 0; i < ks->ntopics; i++) {
            sl_kafka_topic_t *t = ks->topics[i];
            if (!t->touched) continue;
            for (int32_t p = 0; p < t->nrange; p++) t->range[p][0] = t->range[p][1] = -1;
            t->touched = false;
        }
    }

    for (uint32_t i = 0; i < b->n; i++) {
        const sl_event_t *e = &b->ev[i];
        if (sl_unlikely(e->op == SL_OP_SCHEMA) && !ks->sc_tpl) continue;
        sl_kafka_dest_t *d = NULL;
        rc = sl_kafka_dest(ks, e, &d, errstr, errstr_size);
        if (rc != SL_OK) goto fail;
        size_t rlen;
        const char *routed = sl_event_route_topic(b, e, &rlen);
        sl_kafka_dest_t rdest;
        if (sl_unlikely(routed != NULL)) {
            rc = sl_kafka_dest_routed(ks, d, routed, rlen, &rdest, errstr, errstr_size);
            if (rc != SL_OK) goto fail;
            d = &rdest;
        }
        int32_t part = ks->shard_count && e->shard >= 0 && e->op != SL_OP_SCHEMA
                           ? e->shard : RD_KAFKA_PARTITION_UA;
        void *op = SL_KAFKA_OPAQUE(i, SL_KAFKA_MSG_EVENT);
        rd_kafka_resp_err_t err = sl_kafka_produce(ks, d, part, b, e, false, op);
        if (!err && e->op == SL_OP_DELETE && ks->tombstones && e->key_len) {
            op = SL_KAFKA_OPAQUE(i, SL_KAFKA_MSG_TOMBSTONE);
            err = sl_kafka_produce(ks, d, part, b, e, true, op);
        }
        if (err) {
            rc = sl_kafka_msg_error(ks, b, op, d->topic->name, part, err, 1, errstr,
                                    errstr_size);
            goto fail;
        }
    }
    rc = sl_kafka_wait_reports(ks, errstr, errstr_size);
    if (rc != SL_OK) goto fail;
    if (ks->failed) {
        rc = sl_kafka_msg_error(ks, b, ks->first_opaque,
                                ks->first_topic ? ks->first_topic->name : "?",
                                ks->first_partition, ks->first_err, ks->failed, errstr,
                                errstr_size);
        goto fail;
    }

    if (ks->exactly_once) {
        if (b->has_pos) {
            sl_kafka_ckpt_format(ks, b, &ks->ckpt_val);
            rd_kafka_resp_err_t err = rd_kafka_producev(
                ks->rk, RD_KAFKA_V_RKT(ks->ckpt_rkt), RD_KAFKA_V_PARTITION(0),
                RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_KEY(ks->ckpt_key, strlen(ks->ckpt_key)),
                RD_KAFKA_V_VALUE(ks->ckpt_val.data, ks->ckpt_val.len),
                RD_KAFKA_V_OPAQUE(SL_KAFKA_OPAQUE(0, SL_KAFKA_MSG_CKPT)), RD_KAFKA_V_END);
            if (err) {
                rc = sl_kafka_msg_error(ks, b, SL_KAFKA_OPAQUE(0, SL_KAFKA_MSG_CKPT),
                                        ks->ckpt_topic, 0, err, 1, errstr, errstr_size);
                goto fail;
            }
            ks->pending++;
        } else if (!ks->warned_split) {
            ks->warned_split = true;
            sl_warn("kafka sink %s: batch %llu ends inside a source transaction (larger than "
                    "the batch limits, or respect_source_tx is false): exactly-once holds at "
                    "transaction boundaries only; a crash before the rest of it commits "
                    "replays the part already committed", ks->id, (unsigned long long)b->seq);
        }
        rc = sl_kafka_commit(ks, errstr, errstr_size);
        if (rc != SL_OK) goto fail;
        rd_kafka_poll(ks->rk, 0);   /* serve the checkpoint record's report */
        sl_debug("kafka sink %s: committed transaction for batch %llu (%u events%s)", ks->id,
                 (unsigned long long)b->seq, b->n, b->has_pos ? ", checkpoint" : "");
    }
    return SL_OK;

fail:
    /* Nothing librdkafka holds may outlive this call (payloads point into the batch). */
    sl_kafka_close(ks);
    return rc;
}

const sl_sink_ops_t sl_sink_kafka = {
    .type = "kafka",
    .conf = sl_kafka_conf_defs,
    .conf_size = sizeof(sl_kafka_conf_t),
    .validate = sl_kafka_validate,
    .create = sl_kafka_create,
    .open = sl_kafka_open,
    .deliver = sl_kafka_deliver,
    .close = sl_kafka_close,
    .destroy = sl_kafka_destroy,
    .load_checkpoint = sl_kafka_load_checkpoint,
};
