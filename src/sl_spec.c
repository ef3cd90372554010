/*
 * sl_spec.c - a pipeline spec from text or tree to a validated sl_spec_t.
 *
 * The document shape (as in the README and the specs under pipelines/):
 *   metadata: {name, tenant}
 *   spec: {sharding, source: {type, config}, processors: [{type, ...own keys}],
 *          sinks: [{type, config}], batch, commit_policy}
 * The core blocks are key tables like any connector's (config as data); the connector
 * blocks are dispatched through the registry to the connector's own table, then to its
 * validate hook (only when its keys parsed cleanly, so hooks never see half a config).
 * Every error is collected, never just the first, each as "field.path: message".
 *
 * Pure functions apart from sl_spec_load_file(), which reads one file; any thread.
 */
#include "sl_common.h"
#include "sl_spec.h"
#include "sl_buf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>

/* Specs are hand-written documents; anything bigger is a mistake (or an attack on the
 * REST API that shares this code path) and is refused before parsing. */
#define SL_SPEC_MAX_BYTES (16u << 20)

/* ==== core key tables ================================================================ */

/* Pipeline names appear in REST URLs, metric labels, log lines and checkpoint file
 * names, so they follow DNS-label rules widened by '.' and '_': 1 to 63 characters of
 * [a-z0-9._-], first and last a letter or digit. That excludes '/', "..", spaces and
 * upper case (no two names differing only by case on case-insensitive filesystems). */
static const char *spec_check_name(const void *field)
{
    static const char msg[] = "must be 1 to 63 characters of a-z, 0-9, '.', '_' and '-', "
                              "starting and ending with a letter or digit";
    const char *s = *(const char *const *)field;
    size_t n = strlen(s);
    if (n < 1 || n > 63) return msg;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        bool edge = i == 0 || i == n - 1;
        if (!alnum && (edge || !(c == '.' || c == '_' || c == '-'))) return msg;
    }
    return NULL;
}

static const sl_conf_def_t spec_meta_defs[] = {
    {.key = "name", .type = SL_CT_STR, .offset = offsetof(sl_spec_t, name),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .check = spec_check_name,
     .doc = "pipeline name: its identifier in the REST API, logs and metrics"},
    {.key = "tenant", .type = SL_CT_STR, .offset = offsetof(sl_spec_t, tenant),
     .flags = SL_CF_NONEMPTY, .doc = "optional label for grouping pipelines"},
    {0},
};

typedef struct spec_shard {
    int     mode;      /* index into spec_shard_modes */
    int64_t count;
    char   *key;
} spec_shard_t;

static const char *const spec_shard_modes[] = {"hash", NULL};

static const sl_conf_def_t spec_shard_defs[] = {
    {.key = "mode", .type = SL_CT_ENUM, .offset = offsetof(spec_shard_t, mode),
     .flags = SL_CF_REQUIRED, .choices = spec_shard_modes,
     .doc = "how rows map to shards (hash of the key column)"},
    /* events carry the shard as int32_t */
    {.key = "count", .type = SL_CT_INT, .offset = offsetof(spec_shard_t, count),
     .flags = SL_CF_REQUIRED, .min = 1, .max = INT32_MAX, .doc = "number of shards"},
    {.key = "key", .type = SL_CT_STR, .offset = offsetof(spec_shard_t, key),
     .flags = SL_CF_REQUIRED | SL_CF_NONEMPTY, .doc = "column whose value picks the shard"},
    {0},
};

static const sl_conf_def_t spec_batch_defs[] = {
    {.key = "max_events", .type = SL_CT_INT, .offset = offsetof(sl_batch_spec_t, max_events),
     .def = "1000", .min = 1, .doc = "close a batch after this many events"},
    {.key = "max_bytes", .type = SL_CT_INT, .offset = offsetof(sl_batch_spec_t, max_bytes),
     .def = "4194304", .min = 1, .doc = "close a batch after this many bytes of event JSON"},
    {.key = "max_ms", .type = SL_CT_INT, .offset = offsetof(sl_batch_spec_t, max_ms),
     .def = "100", .min = 1, .doc = "close a batch this many ms after its first event"},
    {.key = "respect_source_tx", .type = SL_CT_BOOL,
     .offset = offsetof(sl_batch_spec_t, respect_source_tx), .def = "true",
     .doc = "never split a source transaction across batches"},
    /* each in-flight batch pins memory and delays the checkpoint; 64 is plenty */
    {.key = "max_inflight", .type = SL_CT_INT,
     .offset = offsetof(sl_batch_spec_t, max_inflight), .def = "2", .min = 1, .max = 64,
     .doc = "batches delivered concurrently before the source waits"},
    {0},
};

typedef struct spec_commit {
    int     mode;      /* sl_commit_mode_t: choices are in its order */
    int64_t quorum;
} spec_commit_t;

static const char *const spec_commit_modes[] = {"required", "all", "quorum", NULL};

static const sl_conf_def_t spec_commit_defs[] = {
    {.key = "mode", .type = SL_CT_ENUM, .offset = offsetof(spec_commit_t, mode),
     .def = "required", .choices = spec_commit_modes,
     .doc = "which sink acknowledgements a checkpoint waits for"},
    {.key = "quorum", .type = SL_CT_INT, .offset = offsetof(spec_commit_t, quorum),
     .min = 1, .doc = "with mode quorum: how many sinks must acknowledge"},
    {0},
};

static const sl_conf_def_t spec_no_keys[] = {{0}};

/* ==== helpers ======================================================================== */

static char *spec_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *spec_path(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    return s;
}

/* Report keys of obj not in allowed (NULL-terminated). */
static void spec_check_keys(json_t *obj, const char *path, const char *const *allowed,
                            sl_errs_t *errs)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key) != 0) a++;
        if (*a) continue;
        sl_buf_t list = SL_BUF_INIT;
        for (a = allowed; *a; a++) sl_buf_printf(&list, "%s%s", a == allowed ? "" : ", ", *a);
        char *kpath = *path ? spec_path("%s.%s", path, key) : sl_strdup(key);
        sl_errs_add(errs, kpath, "unknown key (allowed: %s)", sl_buf_cstr(&list));
        free(kpath);
        sl_buf_free(&list);
    }
}

/* A JSON null (YAML `key:` with nothing after it) is the same as no key at all. */
static json_t *spec_get(json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

/* The `type` of a connector block at path, or NULL with an error. */
static const char *spec_type(json_t *block, const char *path, const char *known,
                             sl_errs_t *errs)
{
    json_t *t = spec_get(block, "type");
    if (t && json_is_string(t)) return json_string_value(t);
    char *tpath = spec_path("%s.type", path);
    if (!t) sl_errs_add(errs, tpath, "required (one of: %s)", known);
    else sl_errs_add(errs, tpath, "must be a string (one of: %s)", known);
    free(tpath);
    return NULL;
}

/* "unknown <what> type "x" (known: ...)" at path.type */
static void spec_unknown_type(const char *path, const char *what, const char *type,
                              const char *known, sl_errs_t *errs)
{
    char *tpath = spec_path("%s.type", path);
    sl_errs_add(errs, tpath, "unknown %s type \"%s\" (known: %s)", what, type, known);
    free(tpath);
}

/* ==== connector blocks =============================================================== */

static void spec_source(sl_spec_t *spec, json_t *src, sl_errs_t *errs)
{
    static const char *const keys[] = {"type", "config", NULL};
    if (!src) {
        sl_errs_add(errs, "spec.source", "required");
        return;
    }
    if (!json_is_object(src)) {
        sl_errs_add(errs, "spec.source", "must be a mapping with type and config");
        return;
    }
    spec_check_keys(src, "spec.source", keys, errs);
    const char *type = spec_type(src, "spec.source", sl_source_types(), errs);
    if (!type) return;
    const sl_source_ops_t *ops = sl_source_find(type);
    if (!ops) {
        spec_unknown_type("spec.source", "source", type, sl_source_types(), errs);
        return;
    }
    spec->source_ops = ops;
    spec->source_conf = sl_calloc(1, ops->conf_size);
    const sl_conf_def_t *defs = ops->conf ? ops->conf : spec_no_keys;
    if (sl_conf_parse(defs, spec_get(src, "config"), spec->source_conf, "spec.source.config",
                      errs) == SL_OK && ops->validate)
        ops->validate(spec->source_conf, "spec.source.config", errs);
}

/* A processor item keeps its own keys next to `type` (type, id, inline, limits). */
static void spec_processors(sl_spec_t *spec, json_t *list, sl_errs_t *errs)
{
    if (!list) return;
    if (!json_is_array(list)) {
        sl_errs_add(errs, "spec.processors", "must be a list");
        return;
    }
    spec->nprocs = json_array_size(list);
    spec->procs = sl_calloc(spec->nprocs, sizeof(*spec->procs));

    for (size_t i = 0; i < spec->nprocs; i++) {
        json_t *item = json_array_get(list, i);
        char *path = spec_path("spec.processors[%zu]", i);
        if (!json_is_object(item)) {
            sl_errs_add(errs, path, "must be a mapping with type and the processor's keys");
            goto next;
        }
        const char *type = spec_type(item, path, sl_processor_types(), errs);
        if (!type) goto next;
        const sl_processor_ops_t *ops = sl_processor_find(type);
        if (!ops) {
            spec_unknown_type(path, "processor", type, sl_processor_types(), errs);
            goto next;
        }
        sl_proc_spec_t *ps = &spec->procs[i];
        ps->ops = ops;
        ps->conf = sl_calloc(1, ops->conf_size);
        json_t *own = json_copy(item);        /* shallow: the item minus `type` */
        json_object_del(own, "type");
        const sl_conf_def_t *defs = ops->conf ? ops->conf : spec_no_keys;
        if (sl_conf_parse(defs, own, ps->conf, path, errs) == SL_OK && ops->validate)
            ops->validate(ps->conf, path, errs);
        json_decref(own);
    next:
        free(path);
    }
}

/* Returns the number of sinks with required: true, or -1 when a sink had errors. */
static int spec_sinks(sl_spec_t *spec, json_t *list, sl_errs_t *errs)
{
    static const char *const keys[] = {"type", "config", NULL};
    if (!list) {
        sl_errs_add(errs, "spec.sinks", "required (at least one sink)");
        return -1;
    }
    if (!json_is_array(list)) {
        sl_errs_add(errs, "spec.sinks", "must be a list of sinks");
        return -1;
    }
    if (json_array_size(list) == 0) {
        sl_errs_add(errs, "spec.sinks", "at least one sink is required");
        return -1;
    }

    size_t before = sl_errs_count(errs);
    int nrequired = 0;
    spec->nsinks = json_array_size(list);
    spec->sinks = sl_calloc(spec->nsinks, sizeof(*spec->sinks));

    for (size_t i = 0; i < spec->nsinks; i++) {
        json_t *item = json_array_get(list, i);
        char *path = spec_path("spec.sinks[%zu]", i);
        char *cpath = spec_path("spec.sinks[%zu].config", i);
        if (!json_is_object(item)) {
            sl_errs_add(errs, path, "must be a mapping with type and config");
            goto next;
        }
        spec_check_keys(item, path, keys, errs);
        const char *type = spec_type(item, path, sl_sink_types(), errs);
        if (!type) goto next;
        const sl_sink_ops_t *ops = sl_sink_find(type);
        if (!ops) {
            spec_unknown_type(path, "sink", type, sl_sink_types(), errs);
            goto next;
        }
        sl_sink_spec_t *ss = &spec->sinks[i];
        ss->ops = ops;
        /* every sink config starts with sl_sink_common_t (SL_SINK_COMMON_KEYS) */
        size_t size = ops->conf_size;
        if (size < sizeof(sl_sink_common_t)) size = sizeof(sl_sink_common_t);
        ss->conf = sl_calloc(1, size);
        const sl_conf_def_t *defs = ops->conf ? ops->conf : spec_no_keys;
        if (sl_conf_parse(defs, spec_get(item, "config"), ss->conf, cpath, errs) == SL_OK &&
            ops->validate)
            ops->validate(ss->conf, cpath, errs);

        const sl_sink_common_t *common = sl_sink_spec_common(ss);
        if (common->required) nrequired++;
        for (size_t j = 0; common->id && j < i; j++) {
            const char *other = spec->sinks[j].conf ? sl_sink_spec_common(&spec->sinks[j])->id
                                                    : NULL;
            if (other && strcmp(other, common->id) == 0) {
                char *ipath = spec_path("%s.id", cpath);
                sl_errs_add(errs, ipath, "duplicate sink id \"%s\" (also spec.sinks[%zu])",
                            common->id, j);
                free(ipath);
                break;
            }
        }
    next:
        free(path);
        free(cpath);
    }
    return sl_errs_count(errs) == before ? nrequired : -1;
}

/* ==== core blocks ==================================================================== */

static void spec_sharding(sl_spec_t *spec, json_t *obj, sl_errs_t *errs)
{
    if (!obj) return;
    spec_shard_t sh = {0};
    if (sl_conf_parse(spec_shard_defs, obj, &sh, "spec.sharding", errs) == SL_OK) {
        spec->sharding = true;
        spec->shard_count = sh.count;
        spec->shard_key = sh.key;
        sh.key = NULL;
    }
    sl_conf_free(spec_shard_defs, &sh);
}

/* nsinks: entries in spec.sinks; nrequired: sinks with required: true, -1 if unknown. */
static void spec_commit(sl_spec_t *spec, json_t *obj, size_t nsinks, int nrequired,
                        sl_errs_t *errs)
{
    spec_commit_t cp = {0};
    if (sl_conf_parse(spec_commit_defs, obj, &cp, "spec.commit_policy", errs) != SL_OK) {
        sl_conf_free(spec_commit_defs, &cp);
        return;
    }
    spec->commit_mode = (sl_commit_mode_t)cp.mode;
    spec->quorum = cp.quorum;
    bool has_quorum = spec_get(obj, "quorum") != NULL;

    if (spec->commit_mode == SL_COMMIT_QUORUM) {
        if (!has_quorum)
            sl_errs_add(errs, "spec.commit_policy.quorum", "required when mode is quorum");
        else if (nsinks > 0 && (uint64_t)spec->quorum > nsinks)
            sl_errs_add(errs, "spec.commit_policy.quorum",
                        "must be between 1 and %zu, the number of sinks (got %" PRId64 ")",
                        nsinks, spec->quorum);
    } else if (has_quorum) {
        sl_errs_add(errs, "spec.commit_policy.quorum", "only allowed when mode is quorum");
    }
    if (spec->commit_mode == SL_COMMIT_REQUIRED && nrequired == 0)
        sl_errs_add(errs, "spec.commit_policy.mode",
                    "mode required needs at least one sink with required: true");
    sl_conf_free(spec_commit_defs, &cp);
}

/* ==== API ============================================================================ */

sl_spec_t *sl_spec_from_tree(json_t *tree, sl_errs_t *errs)
{
    static const char *const top_keys[] = {"metadata", "spec", NULL};
    static const char *const spec_keys[] = {"sharding", "source", "processors", "sinks",
                                            "batch", "commit_policy", NULL};
    size_t before = sl_errs_count(errs);
    sl_spec_t *spec = sl_calloc(1, sizeof(*spec));
    spec->tree = json_incref(tree);
    spec->expanded = json_array();

    if (!json_is_object(tree)) {
        sl_errs_add(errs, NULL, "%s", json_is_null(tree) || !tree
                    ? "the spec is empty (expected a mapping with metadata and spec)"
                    : "the spec must be a mapping with metadata and spec");
        goto out;
    }
    spec_check_keys(tree, "", top_keys, errs);

    json_t *meta = spec_get(tree, "metadata");
    if (!meta) sl_errs_add(errs, "metadata", "required (with at least a name)");
    else sl_conf_parse(spec_meta_defs, meta, spec, "metadata", errs);

    json_t *body = spec_get(tree, "spec");
    if (!body) {
        sl_errs_add(errs, "spec", "required");
        goto out;
    }
    if (!json_is_object(body)) {
        sl_errs_add(errs, "spec", "must be a mapping");
        goto out;
    }
    spec_check_keys(body, "spec", spec_keys, errs);

    spec_sharding(spec, spec_get(body, "sharding"), errs);
    spec_source(spec, spec_get(body, "source"), errs);
    spec_processors(spec, spec_get(body, "processors"), errs);
    json_t *sinks = spec_get(body, "sinks");
    int nrequired = spec_sinks(spec, sinks, errs);
    sl_conf_parse(spec_batch_defs, spec_get(body, "batch"), &spec->batch, "spec.batch", errs);
    spec_commit(spec, spec_get(body, "commit_policy"),
                json_is_array(sinks) ? json_array_size(sinks) : 0, nrequired, errs);

out:
    if (sl_errs_count(errs) != before) {
        sl_spec_free(spec);
        return NULL;
    }
    return spec;
}

sl_spec_t *sl_spec_parse(const char *text, size_t len, const char *origin, sl_errs_t *errs)
{
    if (len > SL_SPEC_MAX_BYTES) {
        sl_errs_add(errs, origin, "spec is larger than %u bytes", SL_SPEC_MAX_BYTES);
        return NULL;
    }
    json_t *expanded = NULL;
    json_t *tree = sl_yaml_parse_ex(text, len, origin, errs, &expanded);
    if (!tree) return NULL;
    sl_spec_t *spec = sl_spec_from_tree(tree, errs);
    json_decref(tree);
    if (spec) {
        json_decref(spec->expanded);
        spec->expanded = expanded;
    } else {
        json_decref(expanded);
    }
    return spec;
}

sl_spec_t *sl_spec_load_file(const char *path, sl_errs_t *errs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sl_errs_add(errs, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    sl_buf_t b = SL_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        sl_buf_put(&b, chunk, n);
        if (b.len > SL_SPEC_MAX_BYTES) break;
    }
    int failed = ferror(f) ? errno : 0;
    fclose(f);

    sl_spec_t *spec = NULL;
    if (failed)
        sl_errs_add(errs, path, "cannot read: %s", strerror(failed));
    else
        spec = sl_spec_parse(b.data ? b.data : "", b.len, path, errs);
    sl_buf_free(&b);
    return spec;
}

void sl_spec_free(sl_spec_t *spec)
{
    if (!spec) return;
    sl_conf_free(spec_meta_defs, spec);
    free(spec->shard_key);
    if (spec->source_ops && spec->source_ops->conf)
        sl_conf_free(spec->source_ops->conf, spec->source_conf);
    free(spec->source_conf);
    for (size_t i = 0; i < spec->nprocs; i++) {
        sl_proc_spec_t *ps = &spec->procs[i];
        if (ps->ops && ps->ops->conf) sl_conf_free(ps->ops->conf, ps->conf);
        free(ps->conf);
    }
    free(spec->procs);
    for (size_t i = 0; i < spec->nsinks; i++) {
        sl_sink_spec_t *ss = &spec->sinks[i];
        if (ss->ops && ss->ops->conf) sl_conf_free(ss->ops->conf, ss->conf);
        free(ss->conf);
    }
    free(spec->sinks);
    json_decref(spec->tree);
    json_decref(spec->expanded);
    free(spec);
}
