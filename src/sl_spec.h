/*
 * sl_spec.h - pipeline specs: parse (YAML or JSON, ${VAR} expansion), validate against
 * the core schema and each connector's key table, and hold the result.
 *
 * ${VAR} / ${VAR:-default} are expanded from the environment in every scalar value of
 * the document (never in comments or keys) before the scalar's type is resolved, so
 * `max_events: ${N}` is an integer and a password with ':' or '#' cannot break YAML.
 */
#ifndef SL_SPEC_H
#define SL_SPEC_H

#include "sl_connector.h"

typedef enum { SL_COMMIT_REQUIRED = 0, SL_COMMIT_ALL, SL_COMMIT_QUORUM } sl_commit_mode_t;

typedef struct sl_proc_spec {
    const sl_processor_ops_t *ops;
    void                     *conf;     /* ops->conf_size bytes, filled by sl_conf_parse */
} sl_proc_spec_t;

typedef struct sl_sink_spec {
    const sl_sink_ops_t *ops;
    void                *conf;          /* starts with sl_sink_common_t */
} sl_sink_spec_t;

static inline const sl_sink_common_t *sl_sink_spec_common(const sl_sink_spec_t *s)
{
    return (const sl_sink_common_t *)s->conf;
}

typedef struct sl_batch_spec {
    int64_t max_events;        /* default 1000 */
    int64_t max_bytes;         /* default 4 MiB */
    int64_t max_ms;            /* default 100 */
    bool    respect_source_tx; /* default true */
    int64_t max_inflight;      /* default 2 */
} sl_batch_spec_t;

typedef struct sl_spec {
    char *name;                /* metadata.name */
    char *tenant;              /* metadata.tenant or NULL */

    bool    sharding;          /* spec.sharding present */
    int64_t shard_count;
    char   *shard_key;         /* column name */

    const sl_source_ops_t *source_ops;
    void                  *source_conf;   /* starts with sl_source_common_t */

    sl_proc_spec_t *procs;  size_t nprocs;
    sl_sink_spec_t *sinks;  size_t nsinks;

    sl_batch_spec_t  batch;
    sl_commit_mode_t commit_mode;
    int64_t          quorum;

    json_t *tree;              /* the expanded document (owned) */
    json_t *expanded;          /* array of field paths filled from ${VAR} (owned, may be
                                  empty); masked in API output */
} sl_spec_t;

/* A copy of spec->tree safe to show: values from ${VAR}, keys flagged SL_CF_SECRET,
 * password-like keys and passwords inside DSNs/URIs replaced by "****". */
json_t *sl_spec_redacted(const sl_spec_t *spec);
/* Mask the password inside a libpq DSN or a scheme://user:pass@host URI (new string). */
char *sl_mask_dsn(const char *s);

/* Parse and validate. `origin` names the input in messages (a file name, "request body").
 * Returns NULL when any error was found; every error is in errs. */
sl_spec_t *sl_spec_parse(const char *text, size_t len, const char *origin, sl_errs_t *errs);
sl_spec_t *sl_spec_load_file(const char *path, sl_errs_t *errs);
/* Validate an already-parsed tree (REST PATCH merges). Takes a reference on tree. */
sl_spec_t *sl_spec_from_tree(json_t *tree, sl_errs_t *errs);
void sl_spec_free(sl_spec_t *spec);

/* Parse YAML (a superset of the JSON we accept) into a jansson tree, expanding ${VAR} in
 * scalars. Aliases/anchors and duplicate keys are errors. NULL + errs on failure. */
json_t *sl_yaml_parse(const char *text, size_t len, const char *origin, sl_errs_t *errs);
/* Same, also returning (when non-NULL) a new array of the field paths whose values came
 * from ${VAR} expansion (they are masked in API output). */
json_t *sl_yaml_parse_ex(const char *text, size_t len, const char *origin, sl_errs_t *errs,
                         json_t **expanded);

/* Expand ${VAR} and ${VAR:-default} in s; "$${" is a literal "${". Returns a new string,
 * or NULL with an error naming the variable appended at `path`. */
char *sl_env_expand(const char *s, const char *path, sl_errs_t *errs);

#endif
