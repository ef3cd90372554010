/*
 * test_pipeline.c - batching, transaction boundaries, commit policies and checkpoint
 * order of the pipeline runtime, driven by a scripted in-test source and recording sinks.
 */
#include "sl_common.h"
#include "sl_pipeline.h"

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <unistd.h>

/* ---- recording sink -------------------------------------------------------------- */

#define MAX_REC 4096

typedef struct rec_sink_conf {
    sl_sink_common_t common;
    int fail_first;     /* fail this many deliveries with SL_AGAIN */
    bool always_fail;
} rec_sink_conf_t;

typedef struct rec_sink {
    const rec_sink_conf_t *conf;
    pthread_mutex_t lock;
    int attempts;
    uint32_t batch_sizes[MAX_REC];
    uint64_t batch_seq[MAX_REC];
    int nbatches;
    char *values[MAX_REC];
    int nvalues;
} rec_sink_t;

static rec_sink_t *g_sinks[4];
static int g_nsinks;

static void *rec_create(const void *conf, sl_pipeline_t *p, char *e, size_t es)
{
    SL_UNUSED(p); SL_UNUSED(e); SL_UNUSED(es);
    rec_sink_t *s = sl_calloc(1, sizeof(*s));
    s->conf = conf;
    pthread_mutex_init(&s->lock, NULL);
    g_sinks[g_nsinks++] = s;
    return s;
}

static int rec_open(void *sink, char *e, size_t es)
{
    SL_UNUSED(sink); SL_UNUSED(e); SL_UNUSED(es);
    return SL_OK;
}

static int rec_deliver(void *sink, const sl_batch_t *b, char *e, size_t es)
{
    rec_sink_t *s = sink;
    pthread_mutex_lock(&s->lock);
    s->attempts++;
    if (s->conf->always_fail || s->attempts <= s->conf->fail_first) {
        pthread_mutex_unlock(&s->lock);
        sl_err(e, es, "injected failure");
        return SL_AGAIN;
    }
    if (s->nbatches < MAX_REC) {
        s->batch_sizes[s->nbatches] = b->n;
        s->batch_seq[s->nbatches] = b->seq;
        s->nbatches++;
    }
    for (uint32_t i = 0; i < b->n && s->nvalues < MAX_REC; i++)
        s->values[s->nvalues++] = sl_strndup(sl_event_val(b, &b->ev[i]), b->ev[i].val_len);
    pthread_mutex_unlock(&s->lock);
    return SL_OK;
}

static void rec_destroy(void *sink)
{
    rec_sink_t *s = sink;
    for (int i = 0; i < s->nvalues; i++) free(s->values[i]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const sl_sink_ops_t rec_sink_ops = {
    /* no destroy hook: the tests inspect the sinks after the pipeline is freed */
    .type = "rec", .create = rec_create, .open = rec_open, .deliver = rec_deliver,
};

/* ---- scripted source ------------------------------------------------------------- */

/* Script: a string of steps. 'B' begin tx, 'e' one event (value "<n>"), 's' one schema
 * change event (value "s<n>"), 'C' commit, 'w' wait 30 ms (lets max_ms fire via tick),
 * 'F' flush, 'I' idle 1.2 s (ticking every 50 ms), then copy the checkpoint file into
 * g_ckpt_file. */
static const char *g_script;
static uint64_t g_acked;
static char g_run_dir[64];
static char g_ckpt_file[512];
static pthread_mutex_t g_ack_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct script_src {
    sl_pipeline_t *p;
} script_src_t;

static void *src_create(const void *conf, sl_pipeline_t *p, char *e, size_t es)
{
    SL_UNUSED(conf); SL_UNUSED(e); SL_UNUSED(es);
    script_src_t *s = sl_calloc(1, sizeof(*s));
    s->p = p;
    return s;
}

static int src_run(void *src, char *e, size_t es)
{
    SL_UNUSED(e); SL_UNUSED(es);
    script_src_t *s = src;
    const sl_table_t *t = sl_pipeline_table(s->p, "db", "public", "t");
    uint64_t n = 0, lsn = 0;
    for (const char *c = g_script; *c; c++) {
        switch (*c) {
        case 'B': sl_emit_tx_begin(s->p); break;
        case 'e':
        case 's': {
            sl_buf_t *a = sl_emit_arena(s->p);
            sl_event_t ev = {.table = t, .op = *c == 's' ? SL_OP_SCHEMA : SL_OP_CREATE,
                             .shard = -1};
            ev.key_off = (uint32_t)a->len;
            sl_buf_printf(a, "{\"id\":%llu}", (unsigned long long)n);
            ev.key_len = (uint32_t)(a->len - ev.key_off);
            ev.val_off = (uint32_t)a->len;
            sl_buf_printf(a, "%s%llu", *c == 's' ? "s" : "", (unsigned long long)n);
            ev.val_len = (uint32_t)(a->len - ev.val_off);
            n++;
            assert_int_equal(sl_emit_event(s->p, &ev), SL_OK);
            break;
        }
        case 'C': {
            sl_pos_t pos = {.lsn = ++lsn};
            sl_buf_printf(&pos.json, "{\"lsn\":%llu}", (unsigned long long)lsn);
            sl_emit_tx_commit(s->p, &pos);
            sl_buf_free(&pos.json);
            break;
        }
        case 'w':
            usleep(30000);
            sl_emit_tick(s->p);
            break;
        case 'F': sl_emit_flush(s->p); break;
        case 'I': {
            for (int i = 0; i < 24; i++) {
                usleep(50000);
                sl_emit_tick(s->p);
            }
            char path[128];
            snprintf(path, sizeof(path), "%s/unit/checkpoint.json", g_run_dir);
            FILE *f = fopen(path, "r");
            g_ckpt_file[0] = 0;
            if (f) {
                size_t n = fread(g_ckpt_file, 1, sizeof(g_ckpt_file) - 1, f);
                g_ckpt_file[n] = 0;
                fclose(f);
            }
            break;
        }
        }
    }
    sl_emit_flush(s->p);
    sl_emit_drain(s->p, 2000);
    return SL_OK;
}

static void src_ack(void *src, const sl_pos_t *pos)
{
    SL_UNUSED(src);
    pthread_mutex_lock(&g_ack_lock);
    assert_true(pos->lsn > g_acked);   /* acks arrive in source order */
    g_acked = pos->lsn;
    pthread_mutex_unlock(&g_ack_lock);
}

static void src_destroy(void *src) { free(src); }

static const sl_source_ops_t script_ops = {
    .type = "script", .create = src_create, .run = src_run, .ack = src_ack,
    .destroy = src_destroy,
};

/* ---- a processor that drops everything ------------------------------------------ */

static int g_proc_schema_seen, g_proc_events_seen;

static void *drop_create(const void *conf, sl_pipeline_t *p, char *e, size_t es)
{
    SL_UNUSED(conf); SL_UNUSED(p); SL_UNUSED(e); SL_UNUSED(es);
    return sl_calloc(1, 1);
}

/* Drops every event and scribbles over the arena: schema change events must not depend
 * on anything a processor does. */
static int drop_process(void *proc, sl_batch_t *b, char *e, size_t es)
{
    SL_UNUSED(proc); SL_UNUSED(e); SL_UNUSED(es);
    for (uint32_t i = 0; i < b->n; i++) {
        g_proc_events_seen++;
        if (b->ev[i].op == SL_OP_SCHEMA) g_proc_schema_seen++;
    }
    memset(b->arena.data, 'X', b->arena.len);
    b->arena.len = 0;
    b->n = 0;
    return SL_OK;
}

static void drop_destroy(void *proc) { free(proc); }

static const sl_processor_ops_t drop_proc_ops = {
    .type = "drop", .create = drop_create, .process = drop_process, .destroy = drop_destroy,
};

/* ---- harness --------------------------------------------------------------------- */

typedef struct run_opts {
    int64_t max_events, max_bytes, max_ms;
    bool respect_tx;
    sl_commit_mode_t mode;
    int64_t quorum;
    rec_sink_conf_t sinks[4];
    int nsinks;
    bool drop_processor;
} run_opts_t;

static char g_dir[] = "/tmp/sluice-test-pipeline-XXXXXX";

static void run_script(const char *script, const run_opts_t *o)
{
    static sl_spec_t spec;
    static sl_sink_spec_t sinks[4];
    memset(&spec, 0, sizeof(spec));
    spec.name = (char *)"unit";
    spec.source_ops = &script_ops;
    spec.batch.max_events = o->max_events ? o->max_events : 1000;
    spec.batch.max_bytes = o->max_bytes ? o->max_bytes : 4 << 20;
    spec.batch.max_ms = o->max_ms ? o->max_ms : 100000;
    spec.batch.respect_source_tx = o->respect_tx;
    spec.batch.max_inflight = 2;
    spec.commit_mode = o->mode;
    spec.quorum = o->quorum;
    int ns = o->nsinks ? o->nsinks : 1;
    static rec_sink_conf_t confs[4];
    for (int i = 0; i < ns; i++) {
        confs[i] = o->sinks[i];
        if (!o->nsinks) confs[i].common.required = true;
        confs[i].common.id = (char *)"rec";
        sinks[i].ops = &rec_sink_ops;
        sinks[i].conf = &confs[i];
    }
    spec.sinks = sinks;
    spec.nsinks = (size_t)ns;
    static sl_proc_spec_t procs[1];
    if (o->drop_processor) {
        procs[0].ops = &drop_proc_ops;
        procs[0].conf = NULL;
        spec.procs = procs;
        spec.nprocs = 1;
    }
    g_script = script;
    g_nsinks = 0;
    g_acked = 0;

    char dir[64];
    snprintf(dir, sizeof(dir), "%s", g_dir);
    assert_non_null(mkdtemp(dir));
    snprintf(g_run_dir, sizeof(g_run_dir), "%s", dir);
    char err[256];
    sl_pipeline_t *p = sl_pipeline_new(&spec, dir, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(sl_pipeline_start(p, err, sizeof(err)), SL_OK);
    while (!sl_pipeline_is_finished(p)) usleep(1000);
    sl_pipeline_join(p);
    sl_pipeline_free(p);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void free_sinks(void)
{
    for (int i = 0; i < g_nsinks; i++) rec_destroy(g_sinks[i]);
    g_nsinks = 0;
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_schema_change_events_bypass_processors_in_order(void **state)
{
    (void)state;
    run_opts_t o = {.respect_tx = true, .drop_processor = true};
    g_proc_schema_seen = g_proc_events_seen = 0;
    run_script("BeesCBsCBeseC", &o);
    assert_int_equal(g_proc_schema_seen, 0);
    assert_int_equal(g_proc_events_seen, 4);      /* the four row events */
    rec_sink_t *s = g_sinks[0];
    assert_int_equal(s->nvalues, 3);
    assert_string_equal(s->values[0], "s2");
    assert_string_equal(s->values[1], "s3");
    assert_string_equal(s->values[2], "s5");
    free_sinks();
}

static void test_batch_closes_at_max_events(void **state)
{
    SL_UNUSED(state);
    run_opts_t o = {.max_events = 3, .respect_tx = false};
    run_script("BeCBeCBeCBeCBeCBeCBeC", &o);
    rec_sink_t *s = g_sinks[0];
    assert_int_equal(s->nvalues, 7);
    assert_int_equal(s->batch_sizes[0], 3);
    assert_int_equal(s->batch_sizes[1], 3);
    assert_int_equal(s->batch_sizes[2], 1);
    assert_int_equal(g_acked, 7);
    free_sinks();
}

static void test_batch_closes_at_max_bytes(void **state)
{
    SL_UNUSED(state);
    /* Each event is ~9 bytes of key + 1-2 of value; 20 bytes closes after 2 events. */
    run_opts_t o = {.max_bytes = 20, .respect_tx = true};
    run_script("BeCBeCBeCBeC", &o);
    rec_sink_t *s = g_sinks[0];
    assert_int_equal(s->nvalues, 4);
    assert_int_equal(s->batch_sizes[0], 2);
    assert_int_equal(s->batch_sizes[1], 2);
    free_sinks();
}

static void test_batch_keeps_transaction_whole(void **state)
{
    SL_UNUSED(state);
    /* Two complete 2-event transactions, then a 3-event one: with max_events 4 the third
     * transaction moves whole to the next batch. */
    run_opts_t o = {.max_events = 4, .respect_tx = true};
    run_script("BeeCBeeCBeeeC", &o);
    rec_sink_t *s = g_sinks[0];
    assert_int_equal(s->nbatches, 2);
    assert_int_equal(s->batch_sizes[0], 4);
    assert_int_equal(s->batch_sizes[1], 3);
    for (int i = 0; i < 7; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%d", i);
        assert_string_equal(s->values[i], want);
    }
    assert_int_equal(g_acked, 3);
    free_sinks();
}

static void test_batch_splits_oversized_transaction(void **state)
{
    SL_UNUSED(state);
    run_opts_t o = {.max_events = 2, .respect_tx = true};
    run_script("BeeeeeC", &o);
    rec_sink_t *s = g_sinks[0];
    assert_int_equal(s->nvalues, 5);
    assert_int_equal(s->nbatches, 3);
    assert_int_equal(g_acked, 1);   /* the checkpoint moves only at the commit */
    free_sinks();
}

static void test_batch_closes_at_max_ms(void **state)
{
    SL_UNUSED(state);
    run_opts_t o = {.max_ms = 10, .respect_tx = true};
    run_script("BeCwBeCw", &o);
    rec_sink_t *s = g_sinks[0];
    assert_int_equal(s->nbatches, 2);
    free_sinks();
}

static void test_stop_drops_open_transaction(void **state)
{
    SL_UNUSED(state);
    run_opts_t o = {.respect_tx = true};
    run_script("BeCBee", &o);
    rec_sink_t *s = g_sinks[0];
    assert_int_equal(s->nvalues, 1);   /* the unfinished transaction is not delivered */
    assert_int_equal(g_acked, 1);
    free_sinks();
}

static void test_required_sink_retries_until_delivered(void **state)
{
    SL_UNUSED(state);
    run_opts_t o = {.respect_tx = true, .nsinks = 1};
    o.sinks[0].common.required = true;
    o.sinks[0].fail_first = 2;
    run_script("BeeC", &o);
    rec_sink_t *s = g_sinks[0];
    assert_int_equal(s->attempts, 3);
    assert_int_equal(s->nvalues, 2);
    assert_int_equal(g_acked, 1);
    free_sinks();
}

static void test_required_policy_ignores_optional_failing_sink(void **state)
{
    SL_UNUSED(state);
    run_opts_t o = {.respect_tx = true, .mode = SL_COMMIT_REQUIRED, .nsinks = 2};
    o.sinks[0].common.required = true;
    o.sinks[1].common.required = false;
    o.sinks[1].always_fail = true;
    run_script("BeCBeC", &o);
    assert_int_equal(g_sinks[0]->nvalues, 2);
    assert_int_equal(g_sinks[1]->nvalues, 0);
    assert_int_equal(g_acked, 2);
    free_sinks();
}

static void test_quorum_policy_commits_with_enough_sinks(void **state)
{
    SL_UNUSED(state);
    run_opts_t o = {.respect_tx = true, .mode = SL_COMMIT_QUORUM, .quorum = 2, .nsinks = 3};
    for (int i = 0; i < 3; i++) o.sinks[i].common.required = true;
    o.sinks[2].always_fail = true;
    run_script("BeC", &o);
    assert_int_equal(g_acked, 1);
    free_sinks();
}

static void test_all_policy_holds_checkpoint_while_a_sink_fails(void **state)
{
    SL_UNUSED(state);
    run_opts_t o = {.respect_tx = true, .mode = SL_COMMIT_ALL, .nsinks = 2};
    o.sinks[0].common.required = true;
    o.sinks[1].always_fail = true;
    /* The source drains for 2 s then the stop aborts: nothing may be checkpointed. */
    run_script("BeC", &o);
    assert_int_equal(g_acked, 0);
    free_sinks();
}

/* Regression (found by tests/integration/test_chaos.py): the checkpoint file was only
 * rewritten when a later batch committed, so after a burst it stayed behind the
 * acknowledged position for as long as the source was idle. */
static void test_idle_pipeline_persists_the_last_acknowledged_checkpoint(void **state)
{
    SL_UNUSED(state);
    run_opts_t o = {.max_events = 1, .respect_tx = true, .mode = SL_COMMIT_REQUIRED};
    run_script("BeCBeCI", &o);
    assert_int_equal(g_acked, 2);
    assert_non_null(strstr(g_ckpt_file, "\"position\":{\"lsn\":2}"));
    free_sinks();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_change_events_bypass_processors_in_order),
        cmocka_unit_test(test_batch_closes_at_max_events),
        cmocka_unit_test(test_batch_closes_at_max_bytes),
        cmocka_unit_test(test_batch_keeps_transaction_whole),
        cmocka_unit_test(test_batch_splits_oversized_transaction),
        cmocka_unit_test(test_batch_closes_at_max_ms),
        cmocka_unit_test(test_stop_drops_open_transaction),
        cmocka_unit_test(test_required_sink_retries_until_delivered),
        cmocka_unit_test(test_required_policy_ignores_optional_failing_sink),
        cmocka_unit_test(test_quorum_policy_commits_with_enough_sinks),
        cmocka_unit_test(test_all_policy_holds_checkpoint_while_a_sink_fails),
        cmocka_unit_test(test_idle_pipeline_persists_the_last_acknowledged_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
