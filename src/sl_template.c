/*
 * sl_template.c - destination-name templates (see sl_template.h).
 *
 * A template is compiled once into a list of parts: literal runs of the source text and
 * placeholders ({db}, {schema}, {table}, {shard}). Rendering appends each part in turn,
 * so it allocates only while the output buffer grows. There is no escape syntax: every
 * '{' opens a placeholder, and a '}' outside one is an ordinary character.
 *
 * Threads: a compiled template is immutable; any thread may render it concurrently.
 * sl_template_check uses a thread-local buffer for its message.
 */
#include "sl_common.h"
#include "sl_template.h"

typedef enum {
    SL_TPL_LITERAL = 0,
    SL_TPL_DB,
    SL_TPL_SCHEMA,
    SL_TPL_TABLE,
    SL_TPL_SHARD,
} sl_tpl_kind_t;

typedef struct sl_tpl_part {
    sl_tpl_kind_t kind;
    size_t        off, len;   /* SL_TPL_LITERAL: the run text[off .. off+len) */
} sl_tpl_part_t;

struct sl_template {
    char          *text;      /* copy of the source */
    sl_tpl_part_t *parts;
    size_t         nparts;
    bool           is_static; /* no placeholder */
};

static const struct {
    const char   *name;
    sl_tpl_kind_t kind;
} sl_tpl_names[] = {
    {"db", SL_TPL_DB},
    {"schema", SL_TPL_SCHEMA},
    {"table", SL_TPL_TABLE},
    {"shard", SL_TPL_SHARD},
};

static void sl_tpl_add(sl_template_t *t, size_t *cap, sl_tpl_kind_t kind, size_t off,
                       size_t len)
{
    if (kind == SL_TPL_LITERAL && len == 0) return;
    if (t->nparts == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        t->parts = sl_realloc(t->parts, *cap * sizeof(*t->parts));
    }
    t->parts[t->nparts++] = (sl_tpl_part_t){.kind = kind, .off = off, .len = len};
}

sl_template_t *sl_template_new(const char *text, char *errstr, size_t errstr_size)
{
    sl_template_t *t = sl_calloc(1, sizeof(*t));
    size_t cap = 0, lit = 0, i = 0;

    t->text = sl_strdup(text);
    t->is_static = true;
    while (t->text[i]) {
        if (t->text[i] != '{') {
            i++;
            continue;
        }
        const char *name = t->text + i + 1;
        const char *close = strchr(name, '}');
        const char *reopen = strchr(name, '{');
        if (!close || (reopen && reopen < close)) {
            sl_err(errstr, errstr_size,
                   "unclosed '{' at offset %zu in \"%s\" (placeholders: {db}, {schema}, "
                   "{table}, {shard})", i, text);
            goto err;
        }
        size_t nlen = (size_t)(close - name);
        sl_tpl_kind_t kind = SL_TPL_LITERAL;
        for (size_t k = 0; k < SL_ARRAY_SIZE(sl_tpl_names); k++) {
            if (strlen(sl_tpl_names[k].name) == nlen &&
                memcmp(sl_tpl_names[k].name, name, nlen) == 0)
                kind = sl_tpl_names[k].kind;
        }
        if (kind == SL_TPL_LITERAL) {
            sl_err(errstr, errstr_size,
                   "unknown placeholder '{%.*s}' in \"%s\" (known: {db}, {schema}, {table}, "
                   "{shard})", (int)nlen, name, text);
            goto err;
        }
        sl_tpl_add(t, &cap, SL_TPL_LITERAL, lit, i - lit);
        sl_tpl_add(t, &cap, kind, 0, 0);
        t->is_static = false;
        i += nlen + 2;
        lit = i;
    }
    sl_tpl_add(t, &cap, SL_TPL_LITERAL, lit, i - lit);
    return t;

err:
    sl_template_free(t);
    return NULL;
}

void sl_template_free(sl_template_t *t)
{
    if (!t) return;
    free(t->parts);
    free(t->text);
    free(t);
}

bool sl_template_is_static(const sl_template_t *t)
{
    return t->is_static;
}

void sl_template_render(const sl_template_t *t, const sl_table_t *table, int32_t shard,
                        sl_buf_t *out)
{
    for (size_t i = 0; i < t->nparts; i++) {
        const sl_tpl_part_t *p = &t->parts[i];
        const char *s = NULL;
        switch (p->kind) {
        case SL_TPL_LITERAL:
            sl_buf_put(out, t->text + p->off, p->len);
            break;
        case SL_TPL_DB:
            s = table ? table->db : NULL;
            break;
        case SL_TPL_SCHEMA:
            s = table ? table->schema : NULL;
            break;
        case SL_TPL_TABLE:
            s = table ? table->name : NULL;
            break;
        case SL_TPL_SHARD:
            sl_buf_printf(out, "%ld", (long)(shard < 0 ? 0 : shard));
            break;
        }
        if (s) sl_buf_puts(out, s);
    }
}

const char *sl_template_check(const void *field)
{
    static _Thread_local char msg[SL_ERRSTR_SIZE];
    const char *text = *(const char *const *)field;
    if (!text) return NULL;   /* optional key left unset */

    sl_template_t *t = sl_template_new(text, msg, sizeof(msg));
    if (!t) return msg;
    sl_template_free(t);
    return NULL;
}
