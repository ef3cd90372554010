/*
 * js_bench.c - events/s through the JavaScript processor alone (no source, no sinks):
 * the events of a JSONL file (the bench's file-sink output: real PostgreSQL events) are
 * cut into batches and run through the processor's ops, single-threaded.
 *
 *   js_bench EVENTS.jsonl SCRIPT.js [BATCH_EVENTS] [MAX_EVENTS] [ROUNDS]
 *
 * Prints one line: "<events in> <events out> <seconds> <events/s> <cpu seconds>".
 * Built and run by bench/js.sh against the objects `make` already built.
 */
#include "sl_common.h"
#include "sl_connector.h"
#include "sl_log.h"

#include <time.h>

extern const sl_processor_ops_t sl_processor_javascript;

static const sl_table_t bench_table = {.db = "postgres", .schema = "public", .name = "bench"};

static double js_bench_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fill b with lines [from, to) of the file, keys {"n":i}. */
static void js_bench_fill(sl_batch_t *b, char **lines, size_t from, size_t to)
{
    b->n = 0;
    sl_buf_reset(&b->arena);
    for (size_t i = from; i < to; i++) {
        if (b->n == b->cap) {
            b->cap = b->cap ? b->cap * 2 : 1024;
            b->ev = sl_realloc(b->ev, b->cap * sizeof(*b->ev));
        }
        sl_event_t *e = &b->ev[b->n++];
        memset(e, 0, sizeof(*e));
        e->table = &bench_table;
        e->shard = -1;
        e->op = SL_OP_CREATE;
        e->key_off = (uint32_t)b->arena.len;
        sl_buf_printf(&b->arena, "{\"n\":%zu}", i);
        e->key_len = (uint32_t)(b->arena.len - e->key_off);
        e->val_off = (uint32_t)b->arena.len;
        sl_buf_puts(&b->arena, lines[i]);
        e->val_len = (uint32_t)(b->arena.len - e->val_off);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: js_bench EVENTS.jsonl SCRIPT.js [BATCH] [MAX] [ROUNDS]\n");
        return 2;
    }
    size_t batch = argc > 3 ? strtoul(argv[3], NULL, 10) : 1000;
    size_t max = argc > 4 ? strtoul(argv[4], NULL, 10) : 100000;
    int rounds = argc > 5 ? atoi(argv[5]) : 3;
    sl_log_set_level(SL_LOG_WARN);

    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    char **lines = sl_calloc(max, sizeof(*lines));
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (n < max && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n') line[--len] = '\0';
        if (len) lines[n++] = sl_strdup(line);
    }
    free(line);
    fclose(f);
    if (!n) {
        fprintf(stderr, "%s: no events\n", argv[1]);
        return 1;
    }

    json_t *conf_json = json_pack("{s:s, s:s, s:{s:i, s:i}}", "id", "bench", "file", argv[2],
                                  "limits", "cpu_ms", 60000, "timeout_ms", 60000);
    void *conf = sl_calloc(1, sl_processor_javascript.conf_size);
    sl_errs_t errs = {0};
    if (sl_conf_parse(sl_processor_javascript.conf, conf_json, conf, "bench", &errs) != SL_OK) {
        char *s = sl_errs_join(&errs);
        fprintf(stderr, "%s\n", s);
        return 1;
    }
    char err[SL_ERRSTR_SIZE];
    void *proc = sl_processor_javascript.create(conf, NULL, err, sizeof(err));
    if (!proc) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    sl_batch_t b = {0};
    uint64_t in = 0, out = 0;
    double wall = 0, cpu = 0;
    for (int r = 0; r < rounds; r++) {
        for (size_t from = 0; from < n; from += batch) {
            size_t to = from + batch < n ? from + batch : n;
            js_bench_fill(&b, lines, from, to);
            double w0 = js_bench_clock(CLOCK_MONOTONIC);
            double c0 = js_bench_clock(CLOCK_THREAD_CPUTIME_ID);
            if (sl_processor_javascript.process(proc, &b, err, sizeof(err)) != SL_OK) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            wall += js_bench_clock(CLOCK_MONOTONIC) - w0;
            cpu += js_bench_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
            in += to - from;
            out += b.n;
        }
    }
    printf("%llu %llu %.3f %.0f %.3f\n", (unsigned long long)in, (unsigned long long)out, wall,
           (double)in / wall, cpu);

    sl_processor_javascript.destroy(proc);
    sl_conf_free(sl_processor_javascript.conf, conf);
    free(conf);
    json_decref(conf_json);
    free(b.ev);
    sl_buf_free(&b.arena);
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
    return 0;
}
