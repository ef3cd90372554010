/*
 * sl_conf.c - walks a parsed spec subtree (jansson) against a connector's key table
 * (sl_conf_def_t[]), filling its config struct and collecting every error with its field
 * path. Also the error list (sl_errs_*) every spec-time check appends to.
 *
 * Invariants:
 *  - Nothing here stops at the first error: each key of the table and each key of the
 *    object is looked at, so `sluice validate` shows everything wrong in one run.
 *  - A JSON null counts as "absent" (YAML `key:` with no value), so defaults apply.
 *  - Values of SL_CF_SECRET keys are never quoted back in messages.
 *  - INT range: [min, max] inclusive. Because tables leave unused fields zero, min == max
 *    == 0 means "any int64", and max < min means "no upper bound" (e.g. min 1, max 0).
 *
 * Pure functions of their inputs; safe on any thread.
 */
#include "sl_common.h"
#include "sl_conf.h"
#include "sl_buf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <strings.h>

/* ==== error list ===================================================================== */

/* Count n errors past the cap and rewrite the last message to say how many. */
static void sl_errs_drop(sl_errs_t *e, size_t n)
{
    e->dropped += n;
    char *last = NULL;
    if (asprintf(&last, "... and %zu more error%s not shown", e->dropped,
                 e->dropped == 1 ? "" : "s") < 0) {
        fprintf(stderr, "sluice: out of memory formatting an error\n");
        abort();
    }
    if (e->n > SL_ERRS_MAX) {
        free(e->msg[SL_ERRS_MAX]);
    } else {
        if (e->n == e->cap) {
            e->cap = e->cap ? e->cap * 2 : 8;
            e->msg = sl_realloc(e->msg, e->cap * sizeof(*e->msg));
        }
        e->n++;
    }
    e->msg[SL_ERRS_MAX] = last;
}

void sl_errs_addv(sl_errs_t *e, const char *path, const char *fmt, va_list ap)
{
    if (e->n >= SL_ERRS_MAX) {
        sl_errs_drop(e, 1);
        return;
    }
    sl_buf_t b = SL_BUF_INIT;
    if (path && *path) {
        sl_buf_grow(&b, strlen(path) + 2);
        sl_buf_printf(&b, "%s: ", path);
    }

    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    if (n < 0) {
        fprintf(stderr, "sluice: out of memory formatting an error\n");
        abort();
    }
    sl_buf_put(&b, msg, (size_t)n);
    free(msg);

    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 8;
        e->msg = sl_realloc(e->msg, e->cap * sizeof(*e->msg));
    }
    e->msg[e->n++] = sl_buf_steal(&b);
}

void sl_errs_add(sl_errs_t *e, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_errs_addv(e, path, fmt, ap);
    va_end(ap);
}

void sl_errs_free(sl_errs_t *e)
{
    for (size_t i = 0; i < e->n; i++) free(e->msg[i]);
    free(e->msg);
    e->msg = NULL;
    e->n = e->cap = e->dropped = 0;
}

size_t sl_errs_count(const sl_errs_t *e)
{
    return (e->n > SL_ERRS_MAX ? SL_ERRS_MAX : e->n) + e->dropped;
}

void sl_errs_move(sl_errs_t *to, sl_errs_t *from)
{
    size_t kept = from->n > SL_ERRS_MAX ? SL_ERRS_MAX : from->n;
    for (size_t i = 0; i < kept; i++) sl_errs_add(to, NULL, "%s", from->msg[i]);
    if (from->dropped) sl_errs_drop(to, from->dropped);
    sl_errs_free(from);
}

char *sl_errs_join(const sl_errs_t *e)
{
    sl_buf_t b = SL_BUF_INIT;
    for (size_t i = 0; i < e->n; i++) {
        if (i) sl_buf_putc(&b, '\n');
        sl_buf_puts(&b, e->msg[i]);
    }
    return sl_buf_steal(&b);
}

/* ==== helpers ======================================================================== */

void sl_path_key(sl_buf_t *b, const char *parent, const char *key)
{
    bool plain = *key != '\0';
    for (const char *p = key; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z')))
            plain = false;
    }
    /* Room first: glibc's vsnprintf is slow on output it has to truncate, and paths are
     * built for every node of a spec. */
    sl_buf_grow(b, strlen(parent) + strlen(key) + 8);
    if (plain)
        sl_buf_printf(b, "%s%s%s", parent, *parent ? "." : "", key);
    else
        sl_buf_printf(b, "%s[\"%s\"]", parent, key);
}

/* sl_path_key into a new string. Caller frees. */
static char *conf_path_key(const char *parent, const char *key)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_path_key(&b, parent, key);
    return sl_buf_steal(&b);
}

static char *conf_path_index(const char *parent, size_t i)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_grow(&b, strlen(parent) + 24);
    sl_buf_printf(&b, "%s[%zu]", parent, i);
    return sl_buf_steal(&b);
}

/* What the user wrote instead, for "must be X (got Y)". */
static const char *conf_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "a mapping";
    case JSON_ARRAY:   return "a list";
    case JSON_STRING:  return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL:    return "a number";
    case JSON_TRUE:
    case JSON_FALSE:   return "a boolean";
    case JSON_NULL:    return "null";
    }
    return "a value";
}

/* Shortest "%g" text that reads back as the same double, so 0.1 prints as "0.1". */
static char *conf_real_text(double d)
{
    char tmp[64];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    return sl_strdup(tmp);
}

/* Text of a scalar (string, number, boolean) as SL_CT_STR stores it; NULL for null,
 * lists and mappings. Numbers come out in canonical form (YAML `007` is 7): values whose
 * exact text matters should be quoted in the spec. */
static char *conf_scalar_text(const json_t *v)
{
    char tmp[32];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return sl_strndup(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return sl_strdup(tmp);
    case JSON_REAL:
        return conf_real_text(json_real_value(v));
    case JSON_TRUE:
        return sl_strdup("true");
    case JSON_FALSE:
        return sl_strdup("false");
    default:
        return NULL;
    }
}

/* Levenshtein distance, capped: only used to suggest a key for a typo. */
static size_t conf_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const sl_conf_def_t *conf_find(const sl_conf_def_t *defs, const char *key)
{
    for (const sl_conf_def_t *d = defs; d->key; d++)
        if (strcmp(d->key, key) == 0) return d;
    return NULL;
}

static void conf_unknown_key(const sl_conf_def_t *defs, const char *path, const char *key,
                             sl_errs_t *errs)
{
    sl_buf_t allowed = SL_BUF_INIT;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (const sl_conf_def_t *d = defs; d->key; d++) {
        sl_buf_printf(&allowed, "%s%s", allowed.len ? ", " : "", d->key);
        /* a typo (edit distance <= 2) or a truncation ("cpu" for "cpu_ms") */
        size_t dist = conf_distance(key, d->key);
        size_t klen = strlen(key);
        if (klen >= 3 && strncmp(key, d->key, klen) == 0 && dist > 2) dist = 2;
        if (dist < best_d) best_d = dist, best = d->key;
    }
    char *kpath = conf_path_key(path, key);
    if (best && best_d <= 2)
        sl_errs_add(errs, kpath, "unknown key (did you mean \"%s\"? allowed: %s)", best,
                    sl_buf_cstr(&allowed));
    else
        sl_errs_add(errs, kpath, "unknown key (allowed: %s)",
                    allowed.len ? sl_buf_cstr(&allowed) : "none");
    free(kpath);
    sl_buf_free(&allowed);
}

static void conf_range(const sl_conf_def_t *d, int64_t *lo, int64_t *hi)
{
    *lo = d->min;
    *hi = d->max;
    if (d->min == 0 && d->max == 0) *lo = INT64_MIN, *hi = INT64_MAX;
    else if (d->max < d->min) *hi = INT64_MAX;
}

/* "must be > 0", "must be between 1 and 64", "must be <= 10", read from the range. A huge
 * bound (an implementation limit such as INT32_MAX) is left out when the other bound is
 * the one that was crossed: "must be > 0" reads better than "between 1 and 2147483647". */
static void conf_range_error(const sl_conf_def_t *d, const char *path, int64_t v,
                             sl_errs_t *errs)
{
    int64_t lo, hi;
    conf_range(d, &lo, &hi);
    bool no_hi = hi >= INT32_MAX && v < lo, no_lo = lo <= INT32_MIN && v > hi;
    if (no_hi && lo == 1)
        sl_errs_add(errs, path, "must be > 0 (got %" PRId64 ")", v);
    else if (no_hi)
        sl_errs_add(errs, path, "must be >= %" PRId64 " (got %" PRId64 ")", lo, v);
    else if (no_lo)
        sl_errs_add(errs, path, "must be <= %" PRId64 " (got %" PRId64 ")", hi, v);
    else
        sl_errs_add(errs, path, "must be between %" PRId64 " and %" PRId64 " (got %" PRId64 ")",
                    lo, hi, v);
}

static void conf_enum_error(const sl_conf_def_t *d, const char *path, const char *got,
                            sl_errs_t *errs)
{
    sl_buf_t b = SL_BUF_INIT;
    for (const char *const *c = d->choices; c && *c; c++)
        sl_buf_printf(&b, "%s%s", b.len ? ", " : "", *c);
    if (got && !(d->flags & SL_CF_SECRET))
        sl_errs_add(errs, path, "must be one of: %s (got \"%s\")", sl_buf_cstr(&b), got);
    else
        sl_errs_add(errs, path, "must be one of: %s", sl_buf_cstr(&b));
    sl_buf_free(&b);
}

static int conf_enum_index(const sl_conf_def_t *d, const char *s)
{
    int i = 0;
    for (const char *const *c = d->choices; c && *c; c++, i++)
        if (strcmp(*c, s) == 0) return i;
    return -1;
}

/* ==== values ========================================================================= */

/* Free a value of type d->type at field (not OBJ) and zero it. */
static void conf_free_field(const sl_conf_def_t *d, void *field)
{
    switch (d->type) {
    case SL_CT_STR: {
        char **s = field;
        free(*s);
        *s = NULL;
        break;
    }
    case SL_CT_STRLIST: {
        sl_strlist_t *l = field;
        for (size_t i = 0; i < l->n; i++) free(l->v[i]);
        free(l->v);
        memset(l, 0, sizeof(*l));
        break;
    }
    case SL_CT_STRMAP: {
        sl_strmap_t *m = field;
        for (size_t i = 0; i < m->n; i++) free(m->k[i]), free(m->v[i]);
        free(m->k);
        free(m->v);
        memset(m, 0, sizeof(*m));
        break;
    }
    case SL_CT_OBJ:
        sl_conf_free(d->sub, field);
        break;
    default:
        break;
    }
}

/* Parse a default written as text in a table. A bad default is a bug in that table, and
 * is reported like any other error so tests catch it. */
static void conf_apply_default(const sl_conf_def_t *d, void *field, const char *path,
                               sl_errs_t *errs)
{
    switch (d->type) {
    case SL_CT_STR:
        *(char **)field = sl_strdup(d->def);
        return;
    case SL_CT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(d->def, &end, 0);
        if (errno || end == d->def || *end) break;
        *(int64_t *)field = v;
        return;
    }
    case SL_CT_BOOL:
        if (strcmp(d->def, "true") == 0) *(bool *)field = true;
        else if (strcmp(d->def, "false") == 0) *(bool *)field = false;
        else break;
        return;
    case SL_CT_ENUM: {
        int i = conf_enum_index(d, d->def);
        if (i < 0) break;
        *(int *)field = i;
        return;
    }
    case SL_CT_STRLIST: {
        /* comma-separated */
        sl_strlist_t *l = field;
        const char *p = d->def;
        while (*p) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            l->v = sl_realloc(l->v, (l->n + 1) * sizeof(*l->v));
            l->v[l->n++] = sl_strndup(p, n);
            p += n + (c != NULL);
        }
        return;
    }
    default:
        break;
    }
    sl_errs_add(errs, path, "internal error: bad default \"%s\" in the key table", d->def);
}

static int conf_walk(const sl_conf_def_t *defs, json_t *obj, void *out, const char *path,
                     sl_errs_t *errs, bool defaults_only);

/* Parse present value v into field. Returns true when the field was set. */
static bool conf_value(const sl_conf_def_t *d, json_t *v, void *field, const char *path,
                       sl_errs_t *errs)
{
    switch (d->type) {
    case SL_CT_STR: {
        char *s = conf_scalar_text(v);
        if (!s) {
            sl_errs_add(errs, path, "must be a string (got %s)", conf_kind(v));
            return false;
        }
        *(char **)field = s;
        return true;
    }
    case SL_CT_INT: {
        if (!json_is_integer(v)) {
            sl_errs_add(errs, path, "must be an integer (got %s)", conf_kind(v));
            return false;
        }
        int64_t x = json_integer_value(v), lo, hi;
        conf_range(d, &lo, &hi);
        if (x < lo || x > hi) {
            conf_range_error(d, path, x, errs);
            return false;
        }
        *(int64_t *)field = x;
        return true;
    }
    case SL_CT_BOOL:
        if (!json_is_boolean(v)) {
            /* YAML 1.1 habits (yes/no/on/off): in YAML 1.2 these are plain strings */
            const char *s = (d->flags & SL_CF_SECRET) ? NULL : json_string_value(v);
            if (s && (!strcasecmp(s, "yes") || !strcasecmp(s, "no") || !strcasecmp(s, "on") ||
                      !strcasecmp(s, "off")))
                sl_errs_add(errs, path, "must be true or false (got \"%s\")", s);
            else
                sl_errs_add(errs, path, "must be true or false (got %s)", conf_kind(v));
            return false;
        }
        *(bool *)field = json_is_true(v);
        return true;
    case SL_CT_ENUM: {
        char *s = conf_scalar_text(v);
        int i = s ? conf_enum_index(d, s) : -1;
        if (i < 0) {
            conf_enum_error(d, path, s, errs);
            free(s);
            return false;
        }
        free(s);
        *(int *)field = i;
        return true;
    }
    case SL_CT_STRLIST: {
        if (!json_is_array(v)) {
            sl_errs_add(errs, path, "must be a list of strings (got %s)", conf_kind(v));
            return false;
        }
        sl_strlist_t *l = field;
        size_t n = json_array_size(v);
        bool ok = true;
        l->v = sl_calloc(n ? n : 1, sizeof(*l->v));
        for (size_t i = 0; i < n; i++) {
            json_t *item = json_array_get(v, i);
            char *s = conf_scalar_text(item);
            if (!s) {
                char *ipath = conf_path_index(path, i);
                sl_errs_add(errs, ipath, "must be a string (got %s)", conf_kind(item));
                free(ipath);
                ok = false;
                continue;
            }
            l->v[l->n++] = s;
        }
        if (!ok) conf_free_field(d, field);
        return ok;
    }
    case SL_CT_STRMAP: {
        if (!json_is_object(v)) {
            sl_errs_add(errs, path, "must be a mapping of names to values (got %s)",
                        conf_kind(v));
            return false;
        }
        sl_strmap_t *m = field;
        size_t n = json_object_size(v);
        bool ok = true;
        m->k = sl_calloc(n ? n : 1, sizeof(*m->k));
        m->v = sl_calloc(n ? n : 1, sizeof(*m->v));
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item) {
            char *s = conf_scalar_text(item);
            if (!s) {
                char *kpath = conf_path_key(path, key);
                sl_errs_add(errs, kpath, "must be a string, number or boolean (got %s)",
                            conf_kind(item));
                free(kpath);
                ok = false;
                continue;
            }
            m->k[m->n] = sl_strdup(key);
            m->v[m->n++] = s;
        }
        if (!ok) conf_free_field(d, field);
        return ok;
    }
    case SL_CT_OBJ:
        if ((d->flags & SL_CF_SHORTHAND) && (json_is_string(v) || json_is_boolean(v))) {
            /* `key: value` stands for `key: {<first sub-key>: value}` */
            json_t *obj = json_object();
            json_object_set(obj, d->sub[0].key, v);
            bool ok = conf_walk(d->sub, obj, field, path, errs, false) == SL_OK;
            json_decref(obj);
            return ok;
        }
        if (!json_is_object(v)) {
            sl_errs_add(errs, path, "must be a mapping (got %s)", conf_kind(v));
            conf_walk(d->sub, NULL, field, path, errs, true);
            return false;
        }
        return conf_walk(d->sub, v, field, path, errs, false) == SL_OK;
    }
    sl_errs_add(errs, path, "internal error: unknown key type %d", (int)d->type);
    return false;
}

static bool conf_is_empty(const sl_conf_def_t *d, const void *field)
{
    switch (d->type) {
    case SL_CT_STR: {
        const char *s = *(char *const *)field;
        return !s || !*s;
    }
    case SL_CT_STRLIST: return ((const sl_strlist_t *)field)->n == 0;
    case SL_CT_STRMAP:  return ((const sl_strmap_t *)field)->n == 0;
    default:            return false;
    }
}

/* ==== tables ========================================================================= */

/* defaults_only: the enclosing optional OBJ is absent, so only fill defaults (a missing
 * optional block does not make its required keys missing). */
static int conf_walk(const sl_conf_def_t *defs, json_t *obj, void *out, const char *path,
                     sl_errs_t *errs, bool defaults_only)
{
    size_t before = sl_errs_count(errs);

    if (obj && json_is_null(obj)) obj = NULL;
    if (obj && !json_is_object(obj)) {
        sl_errs_add(errs, path, "must be a mapping (got %s)", conf_kind(obj));
        obj = NULL;
        defaults_only = true;
    }

    if (obj) {
        const char *key;
        json_t *v;
        json_object_foreach(obj, key, v) {
            if (!conf_find(defs, key)) conf_unknown_key(defs, path, key, errs);
        }
    }

    for (const sl_conf_def_t *d = defs; d->key; d++) {
        void *field = (char *)out + d->offset;
        json_t *v = obj ? json_object_get(obj, d->key) : NULL;
        if (v && json_is_null(v)) v = NULL;
        char *kpath = conf_path_key(path, d->key);

        if (!v) {
            if ((d->flags & SL_CF_REQUIRED) && !defaults_only)
                sl_errs_add(errs, kpath, "required");
            if (d->type == SL_CT_OBJ)
                conf_walk(d->sub, NULL, field, kpath, errs, true);
            else if (d->def)
                conf_apply_default(d, field, kpath, errs);
            free(kpath);
            continue;
        }

        if (conf_value(d, v, field, kpath, errs)) {
            if ((d->flags & SL_CF_NONEMPTY) && conf_is_empty(d, field)) {
                sl_errs_add(errs, kpath, "must not be empty");
            } else if (d->check) {
                const char *msg = d->check(field);
                if (msg) sl_errs_add(errs, kpath, "%s", msg);
            }
        }
        free(kpath);
    }
    return sl_errs_count(errs) == before ? SL_OK : SL_ERR;
}

int sl_conf_parse(const sl_conf_def_t *defs, json_t *obj, void *out, const char *path,
                  sl_errs_t *errs)
{
    return conf_walk(defs, obj, out, path ? path : "", errs, false);
}

void sl_conf_free(const sl_conf_def_t *defs, void *out)
{
    if (!defs || !out) return;
    for (const sl_conf_def_t *d = defs; d->key; d++)
        conf_free_field(d, (char *)out + d->offset);
}
