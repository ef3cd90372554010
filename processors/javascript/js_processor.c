/*
 * js_processor.c - the "javascript" processor: a user script (Duktape, sandboxed and
 * limited, see js_vm.c) transforms each batch.
 *
 * Contract (README "JavaScript processors"): the script defines process(batch) (or
 * processBatch); batch is an array of event objects in the event JSON shape. It returns
 * an array of events - dropped, changed in place, added, reordered - or null/undefined
 * to keep the (possibly changed) input array. A returned event may carry
 * route = {topic, stream, key} to override the sinks' destination and the message key;
 * `route` itself is not part of the delivered JSON. Global state survives between calls.
 *
 * Per batch: the events are decoded into the heap (js_codec.c: exact numbers), process()
 * runs, the result is checked (objects with an op), serialized, and written into the
 * processor's own event array and arena, which are then swapped into the batch. The batch
 * keeps seq/has_pos/pos, so the checkpoint covers the input even if nothing is left.
 *
 * An input event returned by the script keeps its table, shard, key and commit time; an
 * event the script built gets its table from its source.{db,schema,table}, no key unless
 * route.key is set, and its shard from the sharding column.
 *
 * Failures (a throw, a limit, a bad result) follow on_error:
 *   fail         process() fails: the pipeline stops, the batch is not delivered and the
 *                checkpoint does not move past it.
 *   skip         the batch is re-run one event at a time to pin the failure down; events
 *                that fail alone are dropped (logged, counted), the others go on. The
 *                re-runs share a time budget (SL_JS_PIN_BUDGET x timeout_ms); events left
 *                when it is spent count as failed.
 *   dead_letter  as skip, but the failed events are written with the error to the
 *                dead_letter destination first (js_deadletter.c); if that cannot be done,
 *                the processor fails like `fail`.
 * After a memory failure the heap is collected; if the script's global state still holds
 * more than 3/4 of the cap, the interpreter is rebuilt from the script (state reset).
 *
 * Threads: config validation runs on the validating thread (it compiles the script in a
 * throwaway heap); create/process/destroy run on the pipeline's source thread; stats()
 * may be called from any thread (atomic counters).
 */
#include "sl_common.h"
#include "sl_connector.h"
#include "sl_log.h"
#include "sl_pipeline.h"
#include "js_vm.h"
#include "js_codec.h"
#include "js_deadletter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define SL_JS_MAX_SCRIPT    (16u << 20)   /* bytes of a script file */
#define SL_JS_MAX_OUT       (1u << 20)    /* events one call may return */
#define SL_JS_PIN_BUDGET    5             /* per-event re-runs: x timeout_ms in total */
#define SL_JS_LOG_FAILURES  3             /* failed events logged one by one per batch */

typedef enum {
    SL_JS_ON_ERROR_FAIL = 0,      /* order of sl_js_on_error_modes */
    SL_JS_ON_ERROR_SKIP,
    SL_JS_ON_ERROR_DEAD_LETTER,
} sl_js_on_error_t;

/* spec.processors[i] of `type: javascript` (keys sit next to `type`). */
typedef struct sl_js_conf {
    char          *id;
    char          *inline_src;   /* `inline`: the script itself */
    char          *file;         /* or a path to it; exactly one of the two */
    sl_js_limits_t limits;
    int            on_error;     /* sl_js_on_error_t */
    char          *dead_letter;  /* destination of failed events (on_error: dead_letter) */
} sl_js_conf_t;

static const char *const sl_js_on_error_modes[] = {"fail", "skip", "dead_letter", NULL};

static const sl_conf_def_t sl_js_limit_defs[] = {
    {.key = "cpu_ms", .type = SL_CT_INT, .offset = offsetof(sl_js_limits_t, cpu_ms),
     .def = "100", .min = 1, .max = 3600000, .doc = "CPU time per process() call"},
    {.key = "mem_mb", .type = SL_CT_INT, .offset = offsetof(sl_js_limits_t, mem_mb),
     .def = "64", .min = 1, .max = 65536, .doc = "heap cap of the interpreter"},
    {.key = "timeout_ms", .type = SL_CT_INT, .offset = offsetof(sl_js_limits_t, timeout_ms),
     .def = "1000", .min = 1, .max = 3600000, .doc = "wall-clock time per process() call"},
    {.key = NULL},
};

static const sl_conf_def_t sl_js_conf_defs[] = {
    {.key = "id", .type = SL_CT_STR, .offset = offsetof(sl_js_conf_t, id),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .doc = "processor id"},
    {.key = "inline", .type = SL_CT_STR, .offset = offsetof(sl_js_conf_t, inline_src),
     .flags = SL_CF_NONEMPTY, .doc = "script text defining process(batch)"},
    {.key = "file", .type = SL_CT_STR, .offset = offsetof(sl_js_conf_t, file),
     .flags = SL_CF_NONEMPTY, .doc = "path of a script defining process(batch)"},
    {.key = "limits", .type = SL_CT_OBJ, .offset = offsetof(sl_js_conf_t, limits),
     .sub = sl_js_limit_defs, .doc = "cpu_ms, mem_mb, timeout_ms"},
    {.key = "on_error", .type = SL_CT_ENUM, .offset = offsetof(sl_js_conf_t, on_error),
     .def = "fail", .choices = sl_js_on_error_modes,
     .doc = "when a call fails: stop the pipeline, drop the failing events, or divert them"},
    {.key = "dead_letter", .type = SL_CT_STR, .offset = offsetof(sl_js_conf_t, dead_letter),
     .flags = SL_CF_NONEMPTY | SL_CF_SECRET,
     .doc = "file:///path or redis://[[user]:password@]host[:port][/db]#stream"},
    {.key = NULL},
};

/* ================================================================================= */
/* Instance                                                                          */
/* ================================================================================= */

typedef struct sl_js_failed {
    uint32_t     idx;        /* input event */
    uint32_t     msg_off;    /* in proc->fail_msgs */
} sl_js_failed_t;

typedef struct sl_js_proc {
    char            *id;
    char            *file;          /* script name in errors: the path, or "inline" */
    char            *src;
    size_t           src_len;
    sl_js_limits_t   lim;
    sl_js_on_error_t on_error;
    sl_pipeline_t   *p;             /* NULL in unit tests */
    const char      *shard_key;     /* NULL unless spec.sharding */
    sl_js_vm_t      *vm;
    sl_js_codec_t    codec;
    sl_js_dlq_t     *dlq;

    /* the batch being built; swapped into the input batch at the end */
    sl_event_t      *out;
    uint32_t         nout, cap_out;
    sl_buf_t         out_arena;

    /* events of the current batch that failed on their own */
    sl_js_failed_t  *failed;
    uint32_t         nfailed, cap_failed;
    sl_buf_t         fail_msgs;

    sl_table_t      *tables;        /* interned here when there is no pipeline */

    _Atomic uint64_t st_batches, st_in, st_out, st_failures, st_timeouts, st_memory,
                     st_skipped, st_dead;
} sl_js_proc_t;

/* One process() call over input events [first, first + count) of `in`. */
typedef struct sl_js_call {
    sl_js_proc_t     *jp;
    const sl_batch_t *in;
    uint32_t          first, count;
    char              err[SL_ERRSTR_SIZE];   /* our own reason for failing the call */
} sl_js_call_t;

static __attribute__((noreturn, format(printf, 3, 4)))
void sl_js_call_fail(sl_js_call_t *call, duk_context *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->err, sizeof(call->err), fmt, ap);
    va_end(ap);
    (void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "%s", call->err);
    __builtin_unreachable();   /* duk_error() longjmps */
}

static const char *sl_js_type_name(duk_context *ctx, duk_idx_t idx)
{
    switch (duk_get_type(ctx, idx)) {
    case DUK_TYPE_UNDEFINED: return "undefined";
    case DUK_TYPE_NULL: return "null";
    case DUK_TYPE_BOOLEAN: return "a boolean";
    case DUK_TYPE_NUMBER: return "a number";
    case DUK_TYPE_STRING: return "a string";
    case DUK_TYPE_OBJECT:
        return duk_is_array(ctx, idx) ? "an array" : duk_is_function(ctx, idx) ? "a function"
                                                                              : "an object";
    default: return "not a JSON value";
    }
}

/* The table an event built by the script belongs to: its source.{db,schema,table}, else
 * `fallback`. Interned by the pipeline (or here, without one) so it outlives the batch. */
static const sl_table_t *sl_js_table_of(sl_js_proc_t *jp, duk_context *ctx, duk_idx_t ev,
                                        const sl_table_t *fallback)
{
    const sl_table_t *t = fallback;
    duk_get_prop_string(ctx, ev, "source");
    if (duk_is_object(ctx, -1)) {
        duk_get_prop_string(ctx, -1, "db");
        duk_get_prop_string(ctx, -2, "schema");
        duk_get_prop_string(ctx, -3, "table");
        const char *db = duk_is_string(ctx, -3) ? duk_get_string(ctx, -3) : "";
        const char *schema = duk_is_string(ctx, -2) ? duk_get_string(ctx, -2) : "";
        const char *name = duk_is_string(ctx, -1) ? duk_get_string(ctx, -1) : "";
        if (*name) {
            if (jp->p) {
                t = sl_pipeline_table(jp->p, db, schema, name);
            } else {
                sl_table_t *it = jp->tables;
                while (it && (strcmp(it->db, db) || strcmp(it->schema, schema) ||
                              strcmp(it->name, name)))
                    it = it->next;
                if (!it) {
                    it = sl_calloc(1, sizeof(*it));
                    it->db = sl_strdup(db);
                    it->schema = sl_strdup(schema);
                    it->name = sl_strdup(name);
                    it->next = jp->tables;
                    jp->tables = it;
                }
                t = it;
            }
        }
        duk_pop_3(ctx);
    }
    duk_pop(ctx);
    return t;
}

/* Shard of an event built by the script, from its sharding column (after, else before). */
static int32_t sl_js_shard_of(sl_js_proc_t *jp, duk_context *ctx, duk_idx_t ev)
{
    if (!jp->p || !jp->shard_key) return -1;
    static const char *const images[] = {"after", "before"};
    int32_t shard = 0;
    for (size_t i = 0; i < SL_ARRAY_SIZE(images); i++) {
        duk_get_prop_string(ctx, ev, images[i]);
        if (duk_is_object(ctx, -1)) {
            duk_get_prop_string(ctx, -1, jp->shard_key);
            if (!duk_is_undefined(ctx, -1)) {
                duk_json_encode(ctx, -1);
                size_t len = 0;
                const char *json = duk_get_lstring(ctx, -1, &len);
                if (json) shard = sl_pipeline_shard(jp->p, json, len);
                duk_pop_2(ctx);
                return shard;
            }
            duk_pop(ctx);
        }
        duk_pop(ctx);
    }
    return shard;
}

/* Give the event on top of the stack the route an earlier processor set, so a chain of
 * processors keeps it unless a script changes it. */
static void sl_js_push_route(duk_context *ctx, const sl_batch_t *in, const sl_event_t *e)
{
    size_t len;
    const char *s;
    duk_push_object(ctx);
    if ((s = sl_event_route_topic(in, e, &len))) {
        duk_push_lstring(ctx, s, len);
        duk_put_prop_string(ctx, -2, "topic");
    }
    if ((s = sl_event_route_stream(in, e, &len))) {
        duk_push_lstring(ctx, s, len);
        duk_put_prop_string(ctx, -2, "stream");
    }
    duk_put_prop_string(ctx, -2, "route");
}

/* Fill out-event ev from returned element i (on the stack at `o`): op, metadata, key and
 * route. Throws (sl_js_call_fail) when the element is not a usable event. */
static void sl_js_meta(sl_js_call_t *call, duk_context *ctx, duk_idx_t o, uint32_t i,
                       sl_event_t *ev)
{
    sl_js_proc_t *jp = call->jp;
    const sl_batch_t *in = call->in;
    sl_buf_t *arena = &jp->out_arena;
    memset(ev, 0, sizeof(*ev));

    if (!duk_is_object(ctx, o) || duk_is_array(ctx, o) || duk_is_function(ctx, o))
        sl_js_call_fail(call, ctx, "returned element #%u is %s, not an event object", i,
                        sl_js_type_name(ctx, o));
    duk_get_prop_string(ctx, o, "op");
    size_t oplen;
    const char *op = duk_get_lstring(ctx, -1, &oplen);
    if (!op || oplen != 1 || !strchr("cudtr", op[0]))
        sl_js_call_fail(call, ctx, "returned event #%u has no valid op (want \"c\", \"u\", "
                        "\"d\", \"t\" or \"r\", got %s)", i,
                        op ? "another string" : sl_js_type_name(ctx, -1));
    ev->op = (uint8_t)op[0];
    duk_pop(ctx);

    int64_t origin = sl_js_codec_origin(&jp->codec, duk_get_heapptr(ctx, o));
    const sl_event_t *first = &in->ev[call->first];
    if (origin >= 0) {
        const sl_event_t *src = &in->ev[origin];
        ev->table = src->table;
        ev->shard = src->shard;
        ev->commit_us = src->commit_us;
        ev->key_off = (uint32_t)arena->len;
        ev->key_len = src->key_len;
        sl_buf_put(arena, sl_event_key(in, src), src->key_len);
    } else {
        ev->table = sl_js_table_of(jp, ctx, o, first->table);
        ev->shard = sl_js_shard_of(jp, ctx, o);
        ev->commit_us = first->commit_us;
        ev->key_off = (uint32_t)arena->len;
    }

    duk_get_prop_string(ctx, o, "route");
    if (duk_is_null_or_undefined(ctx, -1)) {
        bool present = duk_is_null(ctx, -1);
        duk_pop(ctx);
        if (present) duk_del_prop_string(ctx, o, "route");
        return;
    }
    if (!duk_is_object(ctx, -1) || duk_is_array(ctx, -1) || duk_is_function(ctx, -1))
        sl_js_call_fail(call, ctx, "returned event #%u: route must be an object {topic, "
                        "stream, key}, not %s", i, sl_js_type_name(ctx, -1));
    duk_idx_t r = duk_get_top_index(ctx);

    /* key: a string is used as is, another value as its JSON text, null for no key. */
    duk_get_prop_string(ctx, r, "key");
    if (!duk_is_undefined(ctx, -1)) {
        size_t klen = 0;
        const char *k = NULL;
        if (!duk_is_null(ctx, -1)) {
            if (!duk_is_string(ctx, -1)) duk_json_encode(ctx, -1);
            if (!duk_is_string(ctx, -1))
                sl_js_call_fail(call, ctx, "returned event #%u: route.key cannot be "
                                "serialized", i);
            k = duk_get_lstring(ctx, -1, &klen);
        }
        ev->key_off = (uint32_t)arena->len;
        ev->key_len = (uint32_t)klen;
        if (klen) sl_buf_put(arena, k, klen);
    }
    duk_pop(ctx);

    static const char *const names[] = {"topic", "stream"};
    ev->route_off = (uint32_t)arena->len;
    for (size_t n = 0; n < SL_ARRAY_SIZE(names); n++) {
        duk_get_prop_string(ctx, r, names[n]);
        if (!duk_is_null_or_undefined(ctx, -1)) {
            size_t len = 0;
            const char *s = duk_is_string(ctx, -1) ? duk_get_lstring(ctx, -1, &len) : NULL;
            if (!s || len == 0 || len > UINT16_MAX)
                sl_js_call_fail(call, ctx, "returned event #%u: route.%s must be a non-empty "
                                "string of at most %u bytes", i, names[n], UINT16_MAX);
            sl_buf_put(arena, s, len);
            if (n == 0) ev->route_topic_len = (uint16_t)len;
            else ev->route_stream_len = (uint16_t)len;
        }
        duk_pop(ctx);
    }
    duk_pop(ctx);
    duk_del_prop_string(ctx, o, "route");   /* a routing instruction, not event data */
}

static duk_ret_t sl_js_stringify(duk_context *ctx, void *udata)
{
    SL_UNUSED(udata);
    duk_json_encode(ctx, -1);
    return 1;
}

/* Protected (sl_js_vm_run): one process() call; appends its events to jp->out. */
static duk_ret_t sl_js_call_body(duk_context *ctx, void *udata)
{
    sl_js_call_t *call = udata;
    sl_js_proc_t *jp = call->jp;
    sl_js_codec_t *c = &jp->codec;
    const sl_batch_t *in = call->in;

    /* Decode: `inputs` is ours (the script gets a copy), so the identity of every input
     * object holds while the call runs. */
    sl_js_codec_begin(c, ctx, in->arena.data);
    duk_idx_t inputs = duk_push_array(ctx);
    for (uint32_t k = 0; k < call->count; k++) {
        const sl_event_t *e = &in->ev[call->first + k];
        sl_js_codec_decode(c, ctx, e->val_off, e->val_len);
        if (e->route_topic_len || e->route_stream_len) sl_js_push_route(ctx, in, e);
        sl_js_codec_track(c, duk_get_heapptr(ctx, -1), call->first + k);
        duk_put_prop_index(ctx, inputs, k);
    }
    duk_idx_t batch = duk_push_array(ctx);
    for (uint32_t k = 0; k < call->count; k++) {
        duk_get_prop_index(ctx, inputs, k);
        duk_put_prop_index(ctx, batch, k);
    }

    if (!sl_js_vm_push_entry(jp->vm))
        sl_js_call_fail(call, ctx, "process (or processBatch) is no longer a function");
    duk_dup(ctx, batch);
    duk_call(ctx, 1);
    if (duk_is_null_or_undefined(ctx, -1)) {
        duk_pop(ctx);
        duk_dup(ctx, batch);
    } else if (!duk_is_array(ctx, -1)) {
        sl_js_call_fail(call, ctx, "process() returned %s; expected an array of events, "
                        "null or undefined", sl_js_type_name(ctx, -1));
    }
    duk_idx_t res = duk_get_top_index(ctx);
    duk_size_t n = duk_get_length(ctx, res);
    if (n > SL_JS_MAX_OUT)
        sl_js_call_fail(call, ctx, "process() returned %lu events; at most %u per call",
                        (unsigned long)n, SL_JS_MAX_OUT);

    if (jp->nout + n > jp->cap_out) {
        while (jp->nout + n > jp->cap_out) jp->cap_out *= 2;
        jp->out = sl_realloc(jp->out, jp->cap_out * sizeof(*jp->out));
    }
    sl_event_t *out = jp->out + jp->nout;
    for (uint32_t i = 0; i < (uint32_t)n; i++) {
        duk_get_prop_index(ctx, res, i);
        sl_js_meta(call, ctx, duk_get_top_index(ctx), i, &out[i]);
        duk_pop(ctx);
    }

    /* Serialize with exact numbers (js_codec.h); the markers never outlive this block. */
    sl_js_codec_swap(c, ctx);
    duk_dup(ctx, res);
    duk_int_t rc = duk_safe_call(ctx, sl_js_stringify, NULL, 1, 1);
    sl_js_codec_unswap(c, ctx);
    if (rc != DUK_EXEC_SUCCESS) (void)duk_throw(ctx);
    size_t jlen;
    const char *json = duk_get_lstring(ctx, -1, &jlen);
    if (!json) sl_js_call_fail(call, ctx, "process() result cannot be serialized");
    if (sl_js_codec_emit(c, json, jlen, (uint32_t)n, &jp->out_arena, out, call->err,
                         sizeof(call->err)) != SL_OK)
        (void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "%s", call->err);
    jp->nout += (uint32_t)n;
    return 0;
}

static void sl_js_count_failure(sl_js_proc_t *jp, sl_js_fail_t why)
{
    atomic_fetch_add(&jp->st_failures, 1);
    if (why == SL_JS_FAIL_TIMEOUT || why == SL_JS_FAIL_CPU) atomic_fetch_add(&jp->st_timeouts, 1);
    if (why == SL_JS_FAIL_MEMORY) atomic_fetch_add(&jp->st_memory, 1);
}

/* Run process() over events [first, first + count). SL_OK with the output appended, or
 * SL_ERR with *why and msg (nothing appended). */
static int sl_js_run(sl_js_proc_t *jp, const sl_batch_t *in, uint32_t first, uint32_t count,
                     sl_js_fail_t *why, char *msg, size_t msg_size)
{
    sl_js_call_t call = {.jp = jp, .in = in, .first = first, .count = count};
    uint32_t nout = jp->nout;
    size_t alen = jp->out_arena.len;
    if (sl_js_vm_run(jp->vm, sl_js_call_body, &call, why, msg, msg_size) == SL_OK)
        return SL_OK;
    if (*why == SL_JS_FAIL_ERROR && call.err[0]) snprintf(msg, msg_size, "%s", call.err);
    jp->nout = nout;
    jp->out_arena.len = alen;
    sl_js_count_failure(jp, *why);
    return SL_ERR;
}

static int sl_js_load(sl_js_proc_t *jp, char *errstr, size_t errstr_size)
{
    char msg[SL_ERRSTR_SIZE];
    sl_js_vm_t *vm = sl_js_vm_new(jp->id, jp->file, jp->src, jp->src_len, &jp->lim, msg,
                                  sizeof(msg));
    if (!vm)
        return sl_err(errstr, errstr_size, "javascript processor %s (%s): %s", jp->id,
                      jp->file, msg);
    sl_js_vm_free(jp->vm);
    jp->vm = vm;
    sl_js_codec_heap_reset(&jp->codec);
    return SL_OK;
}

/* After a failed call: give memory back; rebuild the interpreter when the script's own
 * state fills the heap (every later call would fail too). */
static int sl_js_recover(sl_js_proc_t *jp, sl_js_fail_t why, char *errstr, size_t errstr_size)
{
    if (why != SL_JS_FAIL_MEMORY) return SL_OK;
    sl_js_vm_gc(jp->vm);
    size_t used = sl_js_vm_mem_used(jp->vm), cap = sl_js_vm_mem_cap(jp->vm);
    if (used <= cap / 4 * 3) return SL_OK;
    sl_warn("javascript %s: the heap still holds %zu of %zu bytes after a memory failure; "
            "starting a fresh interpreter (the script's global state is reset)", jp->id,
            used, cap);
    return sl_js_load(jp, errstr, errstr_size);
}

static void sl_js_add_failed(sl_js_proc_t *jp, uint32_t idx, const char *msg)
{
    if (jp->nfailed == jp->cap_failed) {
        jp->cap_failed = jp->cap_failed ? jp->cap_failed * 2 : 16;
        jp->failed = sl_realloc(jp->failed, jp->cap_failed * sizeof(*jp->failed));
    }
    jp->failed[jp->nfailed].idx = idx;
    jp->failed[jp->nfailed].msg_off = (uint32_t)jp->fail_msgs.len;
    jp->nfailed++;
    sl_buf_put(&jp->fail_msgs, msg, strlen(msg) + 1);
}

/* The batch failed as a whole: run its events one at a time (in order, so the output
 * order is kept) and collect the ones that fail on their own. */
static int sl_js_pin(sl_js_proc_t *jp, const sl_batch_t *b, const char *batch_msg,
                     char *errstr, size_t errstr_size)
{
    uint64_t budget = (uint64_t)jp->lim.timeout_ms * SL_JS_PIN_BUDGET * 1000u;
    uint64_t end = sl_now_mono_us() + (budget < 1000000 ? 1000000 : budget);
    jp->nfailed = 0;
    sl_buf_reset(&jp->fail_msgs);
    for (uint32_t i = 0; i < b->n; i++) {
        char msg[SL_ERRSTR_SIZE];
        sl_js_fail_t why;
        if (sl_now_mono_us() >= end) {
            snprintf(msg, sizeof(msg), "not retried on its own (the retry budget of %d x "
                     "timeout_ms was spent); the batch failed with: %.300s", SL_JS_PIN_BUDGET,
                     batch_msg);
            sl_js_add_failed(jp, i, msg);
            continue;
        }
        if (sl_js_run(jp, b, i, 1, &why, msg, sizeof(msg)) != SL_OK) {
            sl_js_add_failed(jp, i, msg);
            if (sl_js_recover(jp, why, errstr, errstr_size) != SL_OK) return SL_ERR;
        }
    }
    return SL_OK;
}

/* Apply skip / dead_letter to the failed events. */
static int sl_js_dispose(sl_js_proc_t *jp, const sl_batch_t *b, char *errstr,
                         size_t errstr_size)
{
    bool dead = jp->on_error == SL_JS_ON_ERROR_DEAD_LETTER;
    for (uint32_t f = 0; f < jp->nfailed; f++) {
        const sl_event_t *e = &b->ev[jp->failed[f].idx];
        const char *msg = jp->fail_msgs.data + jp->failed[f].msg_off;
        if (f < SL_JS_LOG_FAILURES) {
            const sl_table_t *t = e->table;
            sl_warn("javascript %s: %s event %u of %u (%s.%s, op %c): %s", jp->id,
                    dead ? "dead-lettering" : "skipping", jp->failed[f].idx + 1, b->n,
                    t && t->schema ? t->schema : "", t && t->name ? t->name : "?", e->op,
                    msg);
        }
        if (dead) sl_js_dlq_add(jp->dlq, b, e, msg);
    }
    if (jp->nfailed > SL_JS_LOG_FAILURES)
        sl_warn("javascript %s: %s %u of %u events of this batch in all", jp->id,
                dead ? "dead-lettered" : "skipped", jp->nfailed, b->n);
    if (dead) {
        char msg[SL_ERRSTR_SIZE];
        if (sl_js_dlq_flush(jp->dlq, msg, sizeof(msg)) != SL_OK)
            return sl_err(errstr, errstr_size, "javascript processor %s: %s", jp->id, msg);
        atomic_fetch_add(&jp->st_dead, jp->nfailed);
    } else {
        atomic_fetch_add(&jp->st_skipped, jp->nfailed);
    }
    return SL_OK;
}

static int sl_js_process(void *proc, sl_batch_t *b, char *errstr, size_t errstr_size)
{
    sl_js_proc_t *jp = proc;
    jp->nout = 0;
    sl_buf_reset(&jp->out_arena);
    if (b->n == 0) return SL_OK;

    char msg[SL_ERRSTR_SIZE];
    sl_js_fail_t why;
    if (sl_js_run(jp, b, 0, b->n, &why, msg, sizeof(msg)) != SL_OK) {
        if (jp->on_error == SL_JS_ON_ERROR_FAIL)
            return sl_err(errstr, errstr_size, "javascript processor %s: process() failed on "
                          "a batch of %u events: %s", jp->id, b->n, msg);
        sl_warn("javascript %s: process() failed on a batch of %u events (%s); retrying them "
                "one by one (on_error: %s)", jp->id, b->n, msg,
                sl_js_on_error_modes[jp->on_error]);
        jp->nout = 0;
        sl_buf_reset(&jp->out_arena);
        if (sl_js_recover(jp, why, errstr, errstr_size) != SL_OK) return SL_ERR;
        if (sl_js_pin(jp, b, msg, errstr, errstr_size) != SL_OK) return SL_ERR;
        if (sl_js_dispose(jp, b, errstr, errstr_size) != SL_OK) return SL_ERR;
    }

    sl_js_vm_collect(jp->vm);
    atomic_fetch_add(&jp->st_batches, 1);
    atomic_fetch_add(&jp->st_in, b->n);
    atomic_fetch_add(&jp->st_out, jp->nout);

    /* Swap the output into the batch; its old buffers are ours for the next one. */
    sl_event_t *ev = b->ev;
    uint32_t cap = b->cap;
    b->ev = jp->out;
    b->cap = jp->cap_out;
    b->n = jp->nout;
    jp->out = ev;
    jp->cap_out = cap;
    sl_buf_t arena = b->arena;
    b->arena = jp->out_arena;
    jp->out_arena = arena;
    jp->nout = 0;
    return SL_OK;
}

/* ================================================================================= */
/* Config, lifecycle                                                                 */
/* ================================================================================= */

/* The script's text and its name in messages. NULL + errstr when the file is unreadable. */
static char *sl_js_source(const sl_js_conf_t *c, size_t *len, const char **name,
                          char *errstr, size_t errstr_size)
{
    if (c->inline_src) {
        *len = strlen(c->inline_src);
        *name = "inline";
        return sl_strdup(c->inline_src);
    }
    *name = c->file;
    FILE *f = fopen(c->file, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        sl_err(errstr, errstr_size, "cannot read %s: %s", c->file, strerror(errno));
        if (f) fclose(f);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > SL_JS_MAX_SCRIPT) {
        sl_err(errstr, errstr_size, "%s: not a regular file of at most %u MB", c->file,
               SL_JS_MAX_SCRIPT >> 20);
        fclose(f);
        return NULL;
    }
    char *s = sl_malloc((size_t)st.st_size + 1);
    *len = fread(s, 1, (size_t)st.st_size, f);
    s[*len] = '\0';
    fclose(f);
    return s;
}

static void sl_js_validate_key(const char *path, const char *key, sl_errs_t *errs,
                               const char *msg)
{
    char p[256];
    snprintf(p, sizeof(p), "%s%s%s", path, key ? "." : "", key ? key : "");
    sl_errs_add(errs, p, "%s", msg);
}

/* Spec time: field combinations, the dead-letter destination, and the script itself:
 * compiled (not run) in a throwaway heap, so a syntax error is reported with its line
 * before anything starts. Running the top level and finding process() happen when the
 * pipeline is created. */
static void sl_js_validate(const void *conf, const char *path, sl_errs_t *errs)
{
    const sl_js_conf_t *c = conf;
    char msg[SL_ERRSTR_SIZE];
    if (c->inline_src && c->file)
        sl_js_validate_key(path, NULL, errs, "inline and file are mutually exclusive");
    else if (!c->inline_src && !c->file)
        sl_js_validate_key(path, NULL, errs, "one of inline or file is required");

    if (c->on_error == SL_JS_ON_ERROR_DEAD_LETTER && !c->dead_letter)
        sl_js_validate_key(path, "dead_letter", errs, "required when on_error is dead_letter");
    else if (c->on_error != SL_JS_ON_ERROR_DEAD_LETTER && c->dead_letter)
        sl_js_validate_key(path, "dead_letter", errs,
                           "only used when on_error is dead_letter");
    else if (c->dead_letter && sl_js_dlq_check(c->dead_letter, msg, sizeof(msg)) != SL_OK)
        sl_js_validate_key(path, "dead_letter", errs, msg);

    if (!c->inline_src == !c->file) return;
    const char *key = c->inline_src ? "inline" : "file";
    size_t len;
    const char *name;
    char *src = sl_js_source(c, &len, &name, msg, sizeof(msg));
    if (!src) {
        sl_js_validate_key(path, key, errs, msg);
        return;
    }
    if (sl_js_vm_check(name, src, len, &c->limits, msg, sizeof(msg)) != SL_OK)
        sl_js_validate_key(path, key, errs, msg);
    free(src);
}

static void sl_js_destroy(void *proc);

static void *sl_js_create(const void *conf, sl_pipeline_t *p, char *errstr, size_t errstr_size)
{
    const sl_js_conf_t *c = conf;
    if (!c || !c->id || (!c->inline_src == !c->file))
        return sl_err(errstr, errstr_size, "javascript processor: invalid configuration"),
               NULL;
    sl_js_proc_t *jp = sl_calloc(1, sizeof(*jp));
    jp->id = sl_strdup(c->id);
    jp->lim = c->limits;
    jp->on_error = (sl_js_on_error_t)c->on_error;
    jp->p = p;
    sl_js_codec_init(&jp->codec, (size_t)jp->lim.mem_mb << 20);
    jp->cap_out = 256;
    jp->out = sl_malloc(jp->cap_out * sizeof(*jp->out));
    if (p && sl_pipeline_spec(p)->sharding) jp->shard_key = sl_pipeline_spec(p)->shard_key;

    char msg[SL_ERRSTR_SIZE];
    const char *name;
    jp->src = sl_js_source(c, &jp->src_len, &name, msg, sizeof(msg));
    if (!jp->src) {
        sl_err(errstr, errstr_size, "javascript processor %s: %s", jp->id, msg);
        goto err;
    }
    jp->file = sl_strdup(name);
    if (sl_js_load(jp, errstr, errstr_size) != SL_OK) goto err;
    if (jp->on_error == SL_JS_ON_ERROR_DEAD_LETTER) {
        jp->dlq = sl_js_dlq_new(c->dead_letter ? c->dead_letter : "", p ? sl_pipeline_name(p)
                                                                         : "", jp->id, msg,
                                sizeof(msg));
        if (!jp->dlq) {
            sl_err(errstr, errstr_size, "javascript processor %s: dead_letter: %s", jp->id,
                   msg);
            goto err;
        }
    }
    if (p && (uint64_t)sl_pipeline_spec(p)->batch.max_bytes * 8 >
                 (uint64_t)jp->lim.mem_mb << 20)
        sl_warn("javascript %s: mem_mb=%lld may be too small for batch.max_bytes=%lld (a "
                "batch takes several times its JSON size in the interpreter)", jp->id,
                (long long)jp->lim.mem_mb, (long long)sl_pipeline_spec(p)->batch.max_bytes);
    sl_info("javascript %s: loaded %s (limits: timeout_ms=%lld cpu_ms=%lld mem_mb=%lld, "
            "on_error: %s%s%s)", jp->id, jp->file, (long long)jp->lim.timeout_ms,
            (long long)jp->lim.cpu_ms, (long long)jp->lim.mem_mb,
            sl_js_on_error_modes[jp->on_error], jp->dlq ? " -> " : "",
            jp->dlq ? sl_js_dlq_name(jp->dlq) : "");
    return jp;
err:
    sl_js_destroy(jp);
    return NULL;
}

static void sl_js_destroy(void *proc)
{
    sl_js_proc_t *jp = proc;
    if (!jp) return;
    sl_js_vm_free(jp->vm);
    sl_js_codec_free(&jp->codec);
    sl_js_dlq_free(jp->dlq);
    free(jp->out);
    sl_buf_free(&jp->out_arena);
    free(jp->failed);
    sl_buf_free(&jp->fail_msgs);
    for (sl_table_t *t = jp->tables, *n; t; t = n) {
        n = t->next;
        free((char *)t->db);
        free((char *)t->schema);
        free((char *)t->name);
        free(t);
    }
    free(jp->src);
    free(jp->file);
    free(jp->id);
    free(jp);
}

static void sl_js_stats(void *proc, sl_proc_stats_t *out)
{
    sl_js_proc_t *jp = proc;
    out->batches = atomic_load(&jp->st_batches);
    out->events_in = atomic_load(&jp->st_in);
    out->events_out = atomic_load(&jp->st_out);
    out->failures = atomic_load(&jp->st_failures);
    out->limit_timeouts = atomic_load(&jp->st_timeouts);
    out->limit_memory = atomic_load(&jp->st_memory);
    out->skipped = atomic_load(&jp->st_skipped);
    out->dead_lettered = atomic_load(&jp->st_dead);
}

const sl_processor_ops_t sl_processor_javascript = {
    .type = "javascript",
    .conf = sl_js_conf_defs,
    .conf_size = sizeof(sl_js_conf_t),
    .validate = sl_js_validate,
    .create = sl_js_create,
    .process = sl_js_process,
    .destroy = sl_js_destroy,
    .stats = sl_js_stats,
};
