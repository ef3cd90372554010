/*
 * js_processor.c - JavaScript processor (embedded Duktape): its spec keys now, the
 * interpreter in a later change.
 *
 * Only the key table and the cross-field checks are real so far: specs with a javascript
 * processor validate fully, while create() refuses to run. Config is parsed on the main
 * thread; the processor will run on its pipeline's source thread.
 */
#include "sl_common.h"
#include "sl_connector.h"

typedef enum {
    SL_JS_ON_ERROR_FAIL = 0,      /* order of sl_js_on_error_modes */
    SL_JS_ON_ERROR_SKIP,
    SL_JS_ON_ERROR_DEAD_LETTER,
} sl_js_on_error_t;

/* Per-call limits. The interpreter cannot be trusted to return, so each call is bounded
 * in CPU, heap and wall-clock time. */
typedef struct sl_js_limits {
    int64_t cpu_ms;
    int64_t mem_mb;
    int64_t timeout_ms;
} sl_js_limits_t;

/* spec.processors[i] of `type: javascript` (keys sit next to `type`). */
typedef struct sl_js_conf {
    char          *id;
    char          *inline_src;   /* `inline`: the script itself */
    char          *file;         /* or a path to it; exactly one of the two */
    sl_js_limits_t limits;
    int            on_error;     /* sl_js_on_error_t */
    char          *dead_letter;  /* destination of failed batches (on_error: dead_letter) */
} sl_js_conf_t;

static const char *const sl_js_on_error_modes[] = {"fail", "skip", "dead_letter", NULL};

static const sl_conf_def_t sl_js_limit_defs[] = {
    {.key = "cpu_ms", .type = SL_CT_INT, .offset = offsetof(sl_js_limits_t, cpu_ms),
     .def = "100", .min = 1, .doc = "CPU time per batch call"},
    {.key = "mem_mb", .type = SL_CT_INT, .offset = offsetof(sl_js_limits_t, mem_mb),
     .def = "64", .min = 1, .doc = "heap cap of the interpreter"},
    {.key = "timeout_ms", .type = SL_CT_INT, .offset = offsetof(sl_js_limits_t, timeout_ms),
     .def = "1000", .min = 1, .doc = "wall-clock time per batch call"},
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
     .doc = "when the script throws: stop the pipeline, drop the batch, or divert it"},
    {.key = "dead_letter", .type = SL_CT_STR, .offset = offsetof(sl_js_conf_t, dead_letter),
     .flags = SL_CF_NONEMPTY, .doc = "where failed batches go (with on_error: dead_letter)"},
    {.key = NULL},
};

static void sl_js_validate_key(const char *path, const char *key, sl_errs_t *errs,
                               const char *msg)
{
    char p[256];
    snprintf(p, sizeof(p), "%s%s%s", path, key ? "." : "", key ? key : "");
    sl_errs_add(errs, p, "%s", msg);
}

static void sl_js_validate(const void *conf, const char *path, sl_errs_t *errs)
{
    const sl_js_conf_t *c = conf;
    if (c->inline_src && c->file)
        sl_js_validate_key(path, NULL, errs, "inline and file are mutually exclusive");
    else if (!c->inline_src && !c->file)
        sl_js_validate_key(path, NULL, errs, "one of inline or file is required");

    if (c->on_error == SL_JS_ON_ERROR_DEAD_LETTER && !c->dead_letter)
        sl_js_validate_key(path, "dead_letter", errs, "required when on_error is dead_letter");
    else if (c->on_error != SL_JS_ON_ERROR_DEAD_LETTER && c->dead_letter)
        sl_js_validate_key(path, "dead_letter", errs,
                           "only used when on_error is dead_letter");
}

static void *sl_js_create(const void *conf, sl_pipeline_t *p, char *errstr, size_t errstr_size)
{
    SL_UNUSED(conf);
    SL_UNUSED(p);
    sl_err(errstr, errstr_size, "javascript processor is not implemented yet");
    return NULL;
}

const sl_processor_ops_t sl_processor_javascript = {
    .type = "javascript",
    .conf = sl_js_conf_defs,
    .conf_size = sizeof(sl_js_conf_t),
    .validate = sl_js_validate,
    .create = sl_js_create,
};
