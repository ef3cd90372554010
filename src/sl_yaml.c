/*
 * sl_yaml.c - spec text (YAML, or JSON) to a jansson tree, with ${VAR} expansion.
 *
 * YAML goes through libyaml's event parser; we build the tree ourselves so every rule
 * below is enforced while parsing, with the line number of the offending node:
 *  - Anchors, aliases and merge-by-alias are rejected: a spec never needs them, and
 *    without them the tree can never be larger than the input (no "billion laughs").
 *  - Duplicate keys, non-scalar keys, empty keys, keys longer than SL_YAML_MAX_KEY bytes,
 *    more than one document and nesting deeper than SL_YAML_MAX_DEPTH are errors.
 *  - ${VAR} is expanded in every scalar value (plain, quoted or block; never in keys,
 *    and comments never reach us) BEFORE the scalar's type is resolved, so
 *    `max_events: ${N}` is an integer, while a quoted "${PW}" always stays a string.
 *    Expanded text is not expanded again. Inline JavaScript that needs a literal `${`
 *    (template strings) writes `$${`.
 *  - Plain scalars resolve by the YAML 1.2 core schema: null (~, null, empty), booleans
 *    (true/True/TRUE, false/...), integers (decimal, 0o octal, 0x hex), floats. Other
 *    plain scalars (yes, no, on, off, 0755-style text) are strings.
 *  - Integers outside int64 and floats that overflow a double are ERRORS, never wrapped
 *    or rounded: in a replication spec an out-of-range number is a mistake, and the fix
 *    (quote it if a string was meant) is in the message.
 *  - .inf/.nan resolve as floats in YAML but JSON (and jansson) cannot hold them, so
 *    they are kept as the strings ".inf"/".nan": a string field takes them verbatim and
 *    a numeric field reports a type error.
 *
 * JSON input (first non-blank character '{') is parsed by jansson instead: libyaml 0.2.5
 * rejects valid JSON such as surrogate-pair escapes ("\ud83d\ude00"). Duplicate keys are
 * rejected there too, and ${VAR} is expanded in string values afterwards (JSON strings
 * are quoted scalars, so they stay strings). If jansson refuses the text it may still
 * be YAML flow style ({a: 1}), so libyaml gets a try before the JSON error is reported.
 *
 * Pure function of its input and the environment; does no I/O; any thread.
 */
#include "sl_common.h"
#include "sl_spec.h"
#include "sl_buf.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <yaml.h>

#define SL_YAML_MAX_DEPTH 64
/* Keys are field names: short. Every node's field path (errors, ${VAR} bookkeeping,
 * redaction) repeats the keys above it, so a huge key times many nodes below it was
 * quadratic work (a 1 MB spec with a 500 KB key: 125 GB copied). */
#define SL_YAML_MAX_KEY 256

/* ==== ${VAR} expansion =============================================================== */

static bool env_name_start(char c)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool env_name_char(char c)
{
    return env_name_start(c) || (c >= '0' && c <= '9');
}

char *sl_env_expand(const char *s, const char *path, sl_errs_t *errs)
{
    size_t before = sl_errs_count(errs);
    sl_buf_t b = SL_BUF_INIT;

    for (size_t i = 0; s[i];) {
        if (s[i] == '$' && s[i + 1] == '$' && s[i + 2] == '{') {
            sl_buf_put(&b, "${", 2);
            i += 3;
            continue;
        }
        if (!(s[i] == '$' && s[i + 1] == '{')) {
            sl_buf_putc(&b, s[i++]);
            continue;
        }

        size_t name = i + 2, j = name;
        while (env_name_char(s[j])) j++;
        size_t name_len = j - name;
        const char *def = NULL;
        size_t def_len = 0;
        if (s[j] == ':' && s[j + 1] == '-') {
            def = s + j + 2;
            const char *close = strchr(def, '}');
            if (!close) j = strlen(s);      /* unterminated: reported below */
            else def_len = (size_t)(close - def), j = (size_t)(close - s);
        }
        if (s[j] != '}' || name_len == 0 || !env_name_start(s[name])) {
            const char *close = strchr(s + i, '}');
            int shown = close ? (int)(close - (s + i) + 1) : (int)strlen(s + i);
            if (shown > 40) shown = 40;
            sl_errs_add(errs, path,
                        "bad variable reference \"%.*s\" (write ${NAME} or ${NAME:-default}"
                        " with NAME made of letters, digits and _; $${ is a literal ${)",
                        shown, s + i);
            i = close ? (size_t)(close - s) + 1 : strlen(s);
            continue;
        }

        char *var = sl_strndup(s + name, name_len);
        const char *val = getenv(var);
        if (def && (!val || !*val)) {
            /* ${VAR:-default}: like the shell, unset or empty takes the default */
            sl_buf_put(&b, def, def_len);
        } else if (val) {
            sl_buf_puts(&b, val);
        } else {
            sl_errs_add(errs, path,
                        "environment variable %s is not set (write ${%s:-default} for a "
                        "default, $${ for a literal ${)", var, var);
        }
        free(var);
        i = j + 1;
    }

    if (sl_errs_count(errs) != before) {
        sl_buf_free(&b);
        return NULL;
    }
    return sl_buf_steal(&b);
}

/* A key over SL_YAML_MAX_KEY bytes: an error naming its start (cut on a UTF-8 boundary, so
 * the message stays valid UTF-8 for the API) at where (the parent's path). */
static bool key_too_long(sl_errs_t *errs, const char *where, const char *key, size_t len)
{
    if (len <= SL_YAML_MAX_KEY) return false;
    size_t shown = 10;
    while (shown > 0 && ((unsigned char)key[shown] & 0xC0) == 0x80) shown--;
    sl_errs_add(errs, where, "a key of %zu bytes (%.*s...) is longer than %d bytes", len,
                (int)shown, key, SL_YAML_MAX_KEY);
    return true;
}

/* ==== parser context ================================================================= */

typedef struct yaml_frame {
    json_t *node;      /* owned object or array being filled */
    char   *path;      /* field path of node ("spec.sinks[1]") */
    char   *key;       /* mappings: the key whose value comes next, NULL when a key does */
    bool    dup;       /* that key is a duplicate: its value is parsed and dropped */
} yaml_frame_t;

/* Paths of values that ${VAR} expansion changed, collected for sl_yaml_parse_ex() (so
 * the API can mask them); NULL when nobody asked. Per thread: a parse never spans threads. */
static __thread json_t *sl_yaml_expanded;

static void note_expanded(const char *path, const char *before, const char *after)
{
    if (sl_yaml_expanded && before && after && strcmp(before, after) != 0)
        json_array_append_new(sl_yaml_expanded, json_string(path));
}

typedef struct yaml_ctx {
    const char   *origin;
    sl_errs_t    *errs;
    yaml_frame_t  stack[SL_YAML_MAX_DEPTH];
    int           depth;
    json_t       *root;
    int           ndocs;
    bool          syntax;   /* libyaml itself refused the text */
} yaml_ctx_t;

/* Append "origin:line: [path: ]message". line 0: no line known. */
static void yerr(yaml_ctx_t *ctx, size_t line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void yerr(yaml_ctx_t *ctx, size_t line, const char *path, const char *fmt, ...)
{
    sl_buf_t where = SL_BUF_INIT;
    if (line) sl_buf_printf(&where, "%s:%zu", ctx->origin, line);
    else sl_buf_puts(&where, ctx->origin);
    if (path && *path) {
        sl_buf_puts(&where, ": ");
        sl_buf_puts(&where, path);
    }

    va_list ap;
    va_start(ap, fmt);
    sl_errs_addv(ctx->errs, sl_buf_cstr(&where), fmt, ap);
    va_end(ap);
    sl_buf_free(&where);
}

/* Append the path of child `key` of parent to b: "parent.key", or parent["key"] when the
 * key would make the path ambiguous (same rule as sl_conf.c, so both name a field alike). */

/* Path of the value that comes next in the current container. Caller frees. */
static char *yaml_child_path(const yaml_ctx_t *ctx)
{
    if (ctx->depth == 0) return sl_strdup("");
    const yaml_frame_t *f = &ctx->stack[ctx->depth - 1];
    sl_buf_t b = SL_BUF_INIT;
    if (json_is_array(f->node)) {
        sl_buf_puts(&b, f->path);   /* (not through printf: slow on long text) */
        sl_buf_printf(&b, "[%zu]", json_array_size(f->node));
    } else {
        sl_path_key(&b, f->path, f->key);
    }
    return sl_buf_steal(&b);
}

/* Attach a finished value (reference stolen) to the current container or the root. */
static void yaml_attach(yaml_ctx_t *ctx, json_t *v)
{
    if (ctx->depth == 0) {
        json_decref(ctx->root);
        ctx->root = v;
        return;
    }
    yaml_frame_t *f = &ctx->stack[ctx->depth - 1];
    if (json_is_array(f->node)) {
        json_array_append_new(f->node, v);
        return;
    }
    if (f->dup) json_decref(v);
    else json_object_set_new(f->node, f->key, v);
    free(f->key);
    f->key = NULL;
    f->dup = false;
}

/* ==== scalars ======================================================================== */

static bool all_digits(const char *s, const char *digits)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!strchr(digits, *s)) return false;
    return true;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_core_float(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    size_t int_digits = 0, frac_digits = 0;
    while (*s >= '0' && *s <= '9') s++, int_digits++;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') s++, frac_digits++;
    }
    if (int_digits == 0 && frac_digits == 0) return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+') s++;
        if (!(*s >= '0' && *s <= '9')) return false;
        while (*s >= '0' && *s <= '9') s++;
    }
    return *s == '\0';
}

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
    return strcmp(s, a) == 0 || strcmp(s, b) == 0 || strcmp(s, c) == 0;
}

/* Resolve a plain scalar by the YAML 1.2 core schema. NULL after an error. */
static json_t *yaml_resolve(yaml_ctx_t *ctx, size_t line, const char *path, const char *s)
{
    if (!*s || strcmp(s, "~") == 0 || one_of(s, "null", "Null", "NULL")) return json_null();
    if (one_of(s, "true", "True", "TRUE")) return json_true();
    if (one_of(s, "false", "False", "FALSE")) return json_false();

    const char *digits = s + (*s == '-' || *s == '+');
    int base = 0;
    if (all_digits(digits, "0123456789")) base = 10;
    else if (strncmp(s, "0o", 2) == 0 && all_digits(s + 2, "01234567")) base = 8;
    else if (strncmp(s, "0x", 2) == 0 && all_digits(s + 2, "0123456789abcdefABCDEF")) base = 16;
    if (base) {
        errno = 0;
        long long v;
        if (base == 10) {
            v = strtoll(s, NULL, 10);
        } else {
            unsigned long long u = strtoull(s + 2, NULL, base);
            if (u > INT64_MAX) errno = ERANGE;
            v = (long long)u;
        }
        if (errno == ERANGE) {
            yerr(ctx, line, path, "integer %s does not fit in 64 bits (quote it if it is "
                 "meant as a string)", s);
            return NULL;
        }
        return json_integer(v);
    }

    if (is_core_float(s)) {
        errno = 0;
        double d = strtod(s, NULL);
        if (errno == ERANGE && isinf(d)) {
            yerr(ctx, line, path, "number %s is too large (quote it if it is meant as a "
                 "string)", s);
            return NULL;
        }
        return json_real(d);
    }
    /* .inf, .nan and everything else: strings (see the file comment) */
    return json_string(s);
}

static int yaml_scalar(yaml_ctx_t *ctx, const yaml_event_t *ev)
{
    size_t line = ev->start_mark.line + 1;
    const char *val = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    yaml_frame_t *f = ctx->depth ? &ctx->stack[ctx->depth - 1] : NULL;
    bool is_key = f && json_is_object(f->node) && !f->key;

    if (ev->data.scalar.anchor) {
        yerr(ctx, line, NULL, "anchors (&%s) and aliases are not supported in specs",
             (const char *)ev->data.scalar.anchor);
        return SL_ERR;
    }
    if (strlen(val) != len) {
        char *path = is_key ? sl_strdup(f->path) : yaml_child_path(ctx);
        yerr(ctx, line, path, "NUL characters are not allowed in %s", is_key ? "keys" :
             "values");
        free(path);
        return SL_ERR;
    }

    if (is_key) {
        if (len == 0) {
            yerr(ctx, line, f->path, "empty key");
            return SL_ERR;
        }
        if (len > SL_YAML_MAX_KEY) {
            sl_buf_t where = SL_BUF_INIT;
            sl_buf_printf(&where, "%s:%zu%s", ctx->origin, line, *f->path ? ": " : "");
            sl_buf_puts(&where, f->path);
            key_too_long(ctx->errs, sl_buf_cstr(&where), val, len);
            sl_buf_free(&where);
            return SL_ERR;
        }
        if (tag && strcmp(tag, "!") != 0 && strcmp(tag, YAML_STR_TAG) != 0)
            yerr(ctx, line, f->path, "tag %s is not supported on keys", tag);
        f->key = sl_strndup(val, len);
        if (json_object_get(f->node, f->key)) {
            yerr(ctx, line, f->path, "duplicate key \"%s\"", f->key);
            f->dup = true;
        }
        return SL_OK;
    }

    char *path = yaml_child_path(ctx);
    sl_buf_t where = SL_BUF_INIT;
    sl_buf_printf(&where, "%s:%zu%s", ctx->origin, line, *path ? ": " : "");
    sl_buf_puts(&where, path);
    char *text = sl_env_expand(val, sl_buf_cstr(&where), ctx->errs);
    sl_buf_free(&where);
    note_expanded(path, val, text);

    json_t *v;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (!text) {
        v = json_null();                   /* error recorded; keep the tree shape */
    } else if (tag && strcmp(tag, "!") != 0 && strcmp(tag, YAML_STR_TAG) != 0) {
        yerr(ctx, line, path, "tag %s is not supported (only !!str)", tag);
        v = json_null();
    } else if (plain && !tag) {
        v = yaml_resolve(ctx, line, path, text);
        if (!v) v = json_null();
        /* A value that came from the environment keeps its exact text unless it is a
         * canonical integer: a password "007" or "1.50" must not become 7 or 1.5. */
        if (json_is_number(v) && strcmp(text, val) != 0) {
            char canon[32];
            if (json_is_integer(v))
                snprintf(canon, sizeof(canon), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            if (!json_is_integer(v) || strcmp(canon, text) != 0) {
                json_decref(v);
                v = json_string(text);
                if (!v) v = json_null();
            }
        }
    } else {
        v = json_string(text);
        if (!v) {
            /* libyaml checked the input; an environment value can still be bad */
            yerr(ctx, line, path, "value is not valid UTF-8 after ${VAR} expansion");
            v = json_null();
        }
    }
    free(text);
    free(path);
    yaml_attach(ctx, v);
    return SL_OK;
}

/* ==== collections ==================================================================== */

static int yaml_push(yaml_ctx_t *ctx, const yaml_event_t *ev, bool mapping)
{
    size_t line = ev->start_mark.line + 1;
    const char *anchor = (const char *)(mapping ? ev->data.mapping_start.anchor
                                                : ev->data.sequence_start.anchor);
    const char *tag = (const char *)(mapping ? ev->data.mapping_start.tag
                                             : ev->data.sequence_start.tag);
    yaml_frame_t *f = ctx->depth ? &ctx->stack[ctx->depth - 1] : NULL;

    if (anchor) {
        yerr(ctx, line, NULL, "anchors (&%s) and aliases are not supported in specs", anchor);
        return SL_ERR;
    }
    if (f && json_is_object(f->node) && !f->key) {
        yerr(ctx, line, f->path, "keys must be plain strings, not %s",
             mapping ? "mappings" : "lists");
        return SL_ERR;
    }
    char *path = yaml_child_path(ctx);
    if (ctx->depth == SL_YAML_MAX_DEPTH) {
        yerr(ctx, line, path, "nested deeper than %d levels", SL_YAML_MAX_DEPTH);
        free(path);
        return SL_ERR;
    }
    if (tag && strcmp(tag, "!") != 0 &&
        strcmp(tag, mapping ? YAML_MAP_TAG : YAML_SEQ_TAG) != 0)
        yerr(ctx, line, path, "tag %s is not supported", tag);

    yaml_frame_t *nf = &ctx->stack[ctx->depth++];
    nf->node = mapping ? json_object() : json_array();
    nf->path = path;
    nf->key = NULL;
    nf->dup = false;
    return SL_OK;
}

static void yaml_pop(yaml_ctx_t *ctx)
{
    yaml_frame_t *f = &ctx->stack[--ctx->depth];
    json_t *node = f->node;
    free(f->path);
    free(f->key);
    memset(f, 0, sizeof(*f));
    yaml_attach(ctx, node);
}

static int yaml_event(yaml_ctx_t *ctx, const yaml_event_t *ev)
{
    size_t line = ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++ctx->ndocs > 1) {
            yerr(ctx, line, NULL, "more than one document (---); a spec is one document");
            return SL_ERR;
        }
        return SL_OK;
    case YAML_ALIAS_EVENT:
        yerr(ctx, line, NULL, "aliases (*%s) and anchors are not supported in specs",
             (const char *)ev->data.alias.anchor);
        return SL_ERR;
    case YAML_SCALAR_EVENT:
        return yaml_scalar(ctx, ev);
    case YAML_MAPPING_START_EVENT:
        return yaml_push(ctx, ev, true);
    case YAML_SEQUENCE_START_EVENT:
        return yaml_push(ctx, ev, false);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        yaml_pop(ctx);
        return SL_OK;
    default:
        return SL_OK;
    }
}

/* Line of a byte offset, for reader errors (bad UTF-8) that carry no mark. */
static size_t offset_line(const char *text, size_t len, size_t off)
{
    size_t line = 1;
    for (size_t i = 0; i < off && i < len; i++)
        if (text[i] == '\n') line++;
    return line;
}

static json_t *yaml_parse_events(const char *text, size_t len, const char *origin,
                                 sl_errs_t *errs, bool *syntax)
{
    yaml_ctx_t ctx = {.origin = origin, .errs = errs};
    size_t before = sl_errs_count(errs);
    yaml_parser_t parser;
    yaml_event_t ev;
    bool done = false;

    if (!yaml_parser_initialize(&parser)) {
        fprintf(stderr, "sluice: out of memory initialising the YAML parser\n");
        abort();
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            ctx.syntax = true;
            const char *problem = parser.problem ? parser.problem : "syntax error";
            if (parser.error == YAML_READER_ERROR) {
                yerr(&ctx, offset_line(text, len, parser.problem_offset), NULL,
                     "%s (byte %zu); specs must be UTF-8 text", problem,
                     parser.problem_offset);
            } else if (parser.problem_mark.index < len && text[parser.problem_mark.index] == '\t') {
                /* libyaml's wording for this common mistake names no tab */
                yerr(&ctx, parser.problem_mark.line + 1, NULL,
                     "tab character (column %zu): YAML indents with spaces only",
                     parser.problem_mark.column + 1);
            } else if (parser.context) {
                yerr(&ctx, parser.problem_mark.line + 1, NULL, "%s (%s, column %zu)", problem,
                     parser.context, parser.problem_mark.column + 1);
            } else {
                yerr(&ctx, parser.problem_mark.line + 1, NULL, "%s (column %zu)", problem,
                     parser.problem_mark.column + 1);
            }
            break;
        }
        int rc = yaml_event(&ctx, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (rc != SL_OK) break;
    }
    yaml_parser_delete(&parser);

    while (ctx.depth) {
        yaml_frame_t *f = &ctx.stack[--ctx.depth];
        json_decref(f->node);
        free(f->path);
        free(f->key);
    }
    if (syntax) *syntax = ctx.syntax;
    if (sl_errs_count(errs) != before) {
        json_decref(ctx.root);
        return NULL;
    }
    return ctx.root ? ctx.root : json_null();   /* empty stream: null document */
}

/* ==== JSON =========================================================================== */

/* Expand ${VAR} in every string value of a jansson-parsed document, in place, and hold
 * it to the same depth limit as YAML. */
static void json_post(json_t *v, const char *origin, const char *path, int depth,
                      sl_errs_t *errs)
{
    sl_buf_t where = SL_BUF_INIT;
    if (depth > SL_YAML_MAX_DEPTH && (json_is_object(v) || json_is_array(v))) {
        sl_buf_printf(&where, "%s: %s", origin, path);
        sl_errs_add(errs, sl_buf_cstr(&where), "nested deeper than %d levels",
                    SL_YAML_MAX_DEPTH);
        sl_buf_free(&where);
        return;
    }
    if (json_is_string(v)) {
        sl_buf_printf(&where, "%s%s", origin, *path ? ": " : "");
        sl_buf_puts(&where, path);
        char *text = sl_env_expand(json_string_value(v), sl_buf_cstr(&where), errs);
        note_expanded(path, json_string_value(v), text);
        if (text && json_string_set(v, text) != 0)
            sl_errs_add(errs, sl_buf_cstr(&where),
                        "value is not valid UTF-8 after ${VAR} expansion");
        free(text);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            sl_buf_reset(&where);
            sl_buf_puts(&where, path);
            sl_buf_printf(&where, "[%zu]", i);
            json_post(item, origin, sl_buf_cstr(&where), depth + 1, errs);
        }
    } else if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item) {
            sl_buf_reset(&where);
            size_t klen = strlen(key);
            if (klen > SL_YAML_MAX_KEY) {   /* nothing below it is looked at */
                sl_buf_printf(&where, "%s%s", origin, *path ? ": " : "");
                sl_buf_puts(&where, path);
                key_too_long(errs, sl_buf_cstr(&where), key, klen);
                continue;
            }
            sl_path_key(&where, path, key);
            json_post(item, origin, sl_buf_cstr(&where), depth + 1, errs);
        }
    }
    sl_buf_free(&where);
}

json_t *sl_yaml_parse(const char *text, size_t len, const char *origin, sl_errs_t *errs)
{
    if (!origin) origin = "spec";
    if (!text) text = "", len = 0;

    size_t i = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) i = 3;   /* UTF-8 BOM */
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (i == len || text[i] != '{') return yaml_parse_events(text, len, origin, errs, NULL);

    size_t body = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    json_error_t jerr;
    json_t *tree = json_loadb(text + body, len - body, JSON_REJECT_DUPLICATES, &jerr);
    if (tree) {
        size_t before = sl_errs_count(errs);
        json_post(tree, origin, "", 1, errs);
        if (sl_errs_count(errs) == before) return tree;
        json_decref(tree);
        return NULL;
    }

    /* Not strict JSON; YAML flow style ({a: 1}) starts with '{' too. */
    sl_errs_t yerrs = {0};
    bool syntax = false;
    tree = yaml_parse_events(text, len, origin, &yerrs, &syntax);
    if (tree) {
        sl_errs_free(&yerrs);
        return tree;
    }
    if (syntax) {
        /* neither JSON nor YAML: it looked like JSON, so JSON's complaint is the useful one */
        sl_buf_t where = SL_BUF_INIT;
        sl_buf_printf(&where, "%s:%d", origin, jerr.line > 0 ? jerr.line : 1);
        sl_errs_add(errs, sl_buf_cstr(&where), "invalid JSON: %s", jerr.text);
        sl_buf_free(&where);
        sl_errs_free(&yerrs);
    } else {
        sl_errs_move(errs, &yerrs);
    }
    return NULL;
}

json_t *sl_yaml_parse_ex(const char *text, size_t len, const char *origin, sl_errs_t *errs,
                         json_t **expanded)
{
    json_t *paths = json_array();
    sl_yaml_expanded = paths;
    json_t *tree = sl_yaml_parse(text, len, origin, errs);
    sl_yaml_expanded = NULL;
    if (expanded && tree) *expanded = paths;
    else json_decref(paths);
    return tree;
}
