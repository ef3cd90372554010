/*
 * fuzz_spec.c - libFuzzer harness for pipeline specs (src/sl_spec.h): sl_spec_parse, the
 * entry point of `sluice validate` (sl_spec_load_file) and of the REST API (POST
 * /pipelines, /validate), on YAML and JSON text with ${VAR} expansion; on a valid spec the
 * API's redacted view and a second validation of its tree (REST PATCH merges go through
 * sl_spec_from_tree). The same bytes also go through sl_env_expand, sl_mask_dsn and the
 * destination-name templates (src/sl_template.h: compiled, checked and rendered).
 *
 * Run: `make fuzz FUZZ_TARGETS=spec` (tests/fuzz/run.sh builds the seed corpus and passes
 * tests/fuzz/spec.dict), or by hand:
 *   build/fuzz/fuzz_spec -max_len=16384 -timeout=10 -dict=tests/fuzz/spec.dict CORPUS_DIR
 *
 * Input: the spec text as is (copied to a heap block of exactly its size; the string
 * functions get a NUL-terminated copy). The environment holds the variables the shipped
 * pipelines use (PG_DSN, MY_DSN, KAFKA_BROKERS, REDIS_URI) and FZ_* ones whose values
 * contain YAML-significant characters.
 */
#include "sl_common.h"
#include "sl_buf.h"
#include "sl_spec.h"
#include "sl_template.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    SL_UNUSED(argc);
    SL_UNUSED(argv);
    setenv("PG_DSN", "host=127.0.0.1 port=5432 user=u password=secret dbname=d", 1);
    setenv("MY_DSN", "mysql://u:secret@127.0.0.1:3306/app", 1);
    setenv("KAFKA_BROKERS", "127.0.0.1:9092", 1);
    setenv("REDIS_URI", "redis://:pw@127.0.0.1:6379/0", 1);
    setenv("FZ_A", "1", 1);
    setenv("FZ_B", "x: y # z", 1);
    setenv("FZ_C", "${FZ_A}", 1);
    setenv("FZ_D", "\"quoted\" 'single' \\ {}[],&*!|>%@`", 1);
    setenv("FZ_E", "", 1);
    setenv("FZ_T", "public.orders", 1);
    return 0;
}

static void fz_template(const char *s)
{
    char err[SL_ERRSTR_SIZE];
    sl_template_t *t = sl_template_new(s, err, sizeof(err));
    const char *field = s;
    const char *msg = sl_template_check(&field);
    if (!t != (msg != NULL)) { /* the spec-time check agrees with the compiler */
        fprintf(stderr, "template \"%s\": new %s, check %s\n", s, t ? "ok" : err,
                msg ? msg : "ok");
        abort();
    }
    if (!t) return;
    static const sl_table_t tables[] = {
        {.db = "app", .schema = "public", .name = "orders"},
        {.db = "", .schema = NULL, .name = "t"},
    };
    sl_buf_t out = SL_BUF_INIT;
    for (size_t i = 0; i < SL_ARRAY_SIZE(tables); i++) {
        sl_template_render(t, &tables[i], (int32_t)i - 1, &out);
        sl_template_render(t, &tables[i], INT32_MAX, &out);
    }
    if (sl_template_is_static(t) && strchr(s, '{')) abort();
    sl_buf_free(&out);
    sl_template_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = sl_malloc(size ? size : 1);
    if (size) memcpy(text, data, size);
    sl_errs_t errs = {0};
    sl_spec_t *spec = sl_spec_parse(text, size, "fuzz.yaml", &errs);
    if (spec) {
        if (errs.n) abort();   /* a spec comes back only when nothing was wrong */
        json_t *red = sl_spec_redacted(spec);
        char *dump = json_dumps(red, JSON_COMPACT);
        free(dump);
        json_decref(red);
        sl_errs_t errs2 = {0};
        sl_spec_t *again = sl_spec_from_tree(spec->tree, &errs2);
        sl_spec_free(again);
        sl_errs_free(&errs2);
        sl_spec_free(spec);
    } else if (!errs.n) {
        abort();               /* a refused spec says why */
    }
    sl_errs_free(&errs);
    free(text);

    char *s = sl_malloc(size + 1);
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    sl_errs_t errs3 = {0};
    free(sl_env_expand(s, "fuzz", &errs3));
    sl_errs_free(&errs3);
    free(sl_mask_dsn(s));
    fz_template(s);
    free(s);
    return 0;
}
