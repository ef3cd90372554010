/*
 * sl_conf.h - configuration as data. Every connector declares its keys in a table of
 * sl_conf_def_t (key, type, offset into its config struct, default, checks); only the
 * core walks the parsed spec tree (a jansson json_t) against those tables, filling the
 * struct and collecting every error with its field path ("spec.sinks[1].config.uri: ...").
 */
#ifndef SL_CONF_H
#define SL_CONF_H

#include "sl_common.h"
#include <jansson.h>
#include <stdarg.h>

/* ---- error list ------------------------------------------------------------------ */

/* At most SL_ERRS_MAX messages are kept; later errors are counted, and one last message
 * "... and N more errors not shown" says how many (each message carries a field path, so
 * keeping every error of a hostile spec took gigabytes). */
#define SL_ERRS_MAX 100

typedef struct sl_errs {
    char  **msg;     /* "path: message"; n <= SL_ERRS_MAX + 1 */
    size_t  n, cap;
    size_t  dropped; /* errors past SL_ERRS_MAX: counted, not kept */
} sl_errs_t;

void sl_errs_add(sl_errs_t *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sl_errs_addv(sl_errs_t *e, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
void sl_errs_free(sl_errs_t *e);
/* Every error added, kept or not: compare it before and after a step to see whether the
 * step failed (n stops growing at the cap). */
size_t sl_errs_count(const sl_errs_t *e);
/* Append from's errors (kept and counted) to to, and empty from. */
void sl_errs_move(sl_errs_t *to, sl_errs_t *from);
/* Join all messages with "\n" into a new string (caller frees); "" when empty. */
char *sl_errs_join(const sl_errs_t *e);

/* Append the field path of `key` under `parent`: "parent.key", or parent["key"] when the
 * key would make the path ambiguous (librdkafka property names contain dots). */
struct sl_buf;
void sl_path_key(struct sl_buf *b, const char *parent, const char *key);

/* ---- value containers ------------------------------------------------------------ */

typedef struct sl_strlist { char **v; size_t n; } sl_strlist_t;
typedef struct sl_strmap  { char **k; char **v; size_t n; } sl_strmap_t;

/* ---- key tables ------------------------------------------------------------------ */

typedef enum {
    SL_CT_STR,      /* char *;  numbers and booleans are accepted and stringified (YAML) */
    SL_CT_INT,      /* int64_t; range [min, max] */
    SL_CT_BOOL,     /* bool */
    SL_CT_ENUM,     /* int: index into choices[] */
    SL_CT_STRLIST,  /* sl_strlist_t: list of strings */
    SL_CT_STRMAP,   /* sl_strmap_t: object of string (or scalar) values, order kept */
    SL_CT_OBJ,      /* nested struct at offset, described by sub[] */
} sl_conf_type_t;

#define SL_CF_REQUIRED 0x1   /* missing key is an error */
#define SL_CF_SECRET   0x2   /* value is masked in logs and API output */
#define SL_CF_NONEMPTY 0x4   /* STR/STRLIST/STRMAP must not be empty */
#define SL_CF_SHORTHAND 0x8  /* OBJ: a scalar stands for {<first sub-key>: scalar} */

typedef struct sl_conf_def sl_conf_def_t;

/* Extra validation after type checks. Returns NULL when ok, else a static or
 * thread-local message (without the path). `field` points at the parsed value. */
typedef const char *(*sl_conf_check_fn)(const void *field);

struct sl_conf_def {
    const char            *key;
    sl_conf_type_t         type;
    size_t                 offset;
    unsigned               flags;
    const char            *def;      /* default, as text ("100", "true", "never"); NULL: none */
    int64_t                min, max; /* SL_CT_INT range (inclusive) */
    const char *const     *choices;  /* SL_CT_ENUM: NULL-terminated */
    const sl_conf_def_t   *sub;      /* SL_CT_OBJ: nested table (terminated by key NULL) */
    sl_conf_check_fn       check;
    const char            *doc;      /* one line for README/--help */
};

/* Fill `out` (zeroed by the caller) from `obj` using `defs`. `path` is the field path of
 * obj ("spec.source.config"). Unknown keys, wrong types, missing required keys and range
 * errors are appended to errs. Returns SL_OK when no error was added. */
int sl_conf_parse(const sl_conf_def_t *defs, json_t *obj, void *out, const char *path,
                  sl_errs_t *errs);

/* Free everything sl_conf_parse allocated inside out (not out itself). */
void sl_conf_free(const sl_conf_def_t *defs, void *out);

#endif
