/*
 * my_ddl.c - the schema catalog of the MySQL source and the DDL parser that evolves it
 * (see my_ddl.h for what is understood and the seeded-table rule).
 *
 * The parser is a hand-written recursive descent over a small lexer. It only needs the
 * structure of tables, so expressions (defaults in parentheses, CHECK, generated column
 * bodies, partitioning) are skipped as balanced token runs, and anything it does not
 * recognise in a table statement makes the whole statement UNKNOWN rather than guessed:
 * the caller then reads the schema from the server. Every change is made on copies and
 * installed only when the whole statement parsed, so a failure leaves the catalog as it
 * was.
 *
 * No I/O. Thread: the catalog's owner.
 */
#include "my_ddl.h"

#include <ctype.h>
#include <strings.h>
#include <sys/types.h>

/* ======================================================================================
 * Catalog
 * ==================================================================================== */

typedef struct sl_my_dbent {
    char *name;
    char *charset;      /* NULL: unknown */
} sl_my_dbent_t;

struct sl_my_catalog {
    sl_my_tab_t  **t;
    size_t         n, cap;
    char         **tracked;     /* databases whose DDL is followed */
    size_t         ntracked;
    sl_my_dbent_t *dbs;         /* databases with a known state (charset) */
    size_t         ndbs;
    uint64_t       version;
};

/* MySQL's and MariaDB's hard limit on the columns of a table (ER_TOO_MANY_FIELDS): a
 * statement with more never reached a binlog. Checked as columns are added, which also
 * keeps the by-name lookups each new column makes from growing with the square of an
 * arbitrary count (50000 columns took 5 s). */
#define SL_MY_MAX_COLUMNS 4096

static void sl_my_col_clear(sl_my_col_t *c)
{
    free(c->name);
    free(c->type);
    free(c->charset);
    free(c->default_expr);
    free(c->comment);
    for (uint32_t i = 0; i < c->nlabels; i++) free(c->labels[i]);
    free(c->labels);
    memset(c, 0, sizeof(*c));
}

static char *sl_my_dupz(const char *s) { return s ? sl_strdup(s) : NULL; }

static void sl_my_col_copy(sl_my_col_t *dst, const sl_my_col_t *src)
{
    *dst = *src;
    dst->name = sl_my_dupz(src->name);
    dst->type = sl_my_dupz(src->type);
    dst->charset = sl_my_dupz(src->charset);
    dst->default_expr = sl_my_dupz(src->default_expr);
    dst->comment = sl_my_dupz(src->comment);
    dst->labels = src->nlabels ? sl_calloc(src->nlabels, sizeof(char *)) : NULL;
    for (uint32_t i = 0; i < src->nlabels; i++) dst->labels[i] = sl_strdup(src->labels[i]);
}

void sl_my_tab_free(sl_my_tab_t *t)
{
    if (!t) return;
    free(t->db);
    free(t->name);
    free(t->charset);
    free(t->comment);
    for (uint32_t i = 0; i < t->ncols; i++) sl_my_col_clear(&t->cols[i]);
    free(t->cols);
    for (uint32_t i = 0; i < t->npk; i++) free(t->pk[i]);
    free(t->pk);
    free(t->seed_file);
    free(t);
}

sl_my_tab_t *sl_my_tab_dup(const sl_my_tab_t *t)
{
    sl_my_tab_t *d = sl_calloc(1, sizeof(*d));
    *d = *t;
    d->db = sl_my_dupz(t->db);
    d->name = sl_my_dupz(t->name);
    d->charset = sl_my_dupz(t->charset);
    d->comment = sl_my_dupz(t->comment);
    d->seed_file = sl_my_dupz(t->seed_file);
    d->cols = sl_calloc(t->ncols ? t->ncols : 1, sizeof(*d->cols));
    for (uint32_t i = 0; i < t->ncols; i++) sl_my_col_copy(&d->cols[i], &t->cols[i]);
    d->pk = sl_calloc(t->npk ? t->npk : 1, sizeof(char *));
    for (uint32_t i = 0; i < t->npk; i++) d->pk[i] = sl_strdup(t->pk[i]);
    return d;
}

int sl_my_tab_col(const sl_my_tab_t *t, const char *name)
{
    for (uint32_t i = 0; i < t->ncols; i++)
        if (strcasecmp(t->cols[i].name, name) == 0) return (int)i;
    return -1;
}

sl_my_catalog_t *sl_my_catalog_new(void) { return sl_calloc(1, sizeof(sl_my_catalog_t)); }

void sl_my_catalog_clear(sl_my_catalog_t *c)
{
    for (size_t i = 0; i < c->n; i++) sl_my_tab_free(c->t[i]);
    c->n = 0;
    for (size_t i = 0; i < c->ndbs; i++) {
        free(c->dbs[i].name);
        free(c->dbs[i].charset);
    }
    c->ndbs = 0;
}

void sl_my_catalog_free(sl_my_catalog_t *c)
{
    if (!c) return;
    sl_my_catalog_clear(c);
    free(c->t);
    free(c->dbs);
    for (size_t i = 0; i < c->ntracked; i++) free(c->tracked[i]);
    free(c->tracked);
    free(c);
}

void sl_my_catalog_track_db(sl_my_catalog_t *c, const char *db)
{
    if (sl_my_catalog_tracks_db(c, db)) return;
    c->tracked = sl_realloc(c->tracked, (c->ntracked + 1) * sizeof(char *));
    c->tracked[c->ntracked++] = sl_strdup(db);
}

bool sl_my_catalog_tracks_db(const sl_my_catalog_t *c, const char *db)
{
    for (size_t i = 0; i < c->ntracked; i++)
        if (strcmp(c->tracked[i], db) == 0) return true;
    return false;
}

static ssize_t sl_my_catalog_idx(const sl_my_catalog_t *c, const char *db, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->t[i]->db, db) == 0 && strcmp(c->t[i]->name, name) == 0)
            return (ssize_t)i;
    return -1;
}

const sl_my_tab_t *sl_my_catalog_find(const sl_my_catalog_t *c, const char *db,
                                      const char *name)
{
    ssize_t i = sl_my_catalog_idx(c, db, name);
    return i < 0 ? NULL : c->t[i];
}

size_t sl_my_catalog_count(const sl_my_catalog_t *c) { return c->n; }
const sl_my_tab_t *sl_my_catalog_at(const sl_my_catalog_t *c, size_t i) { return c->t[i]; }

/* Install t (ownership taken) as db.name, or remove db.name when t is NULL. */
static void sl_my_catalog_set(sl_my_catalog_t *c, const char *db, const char *name,
                              sl_my_tab_t *t)
{
    ssize_t i = sl_my_catalog_idx(c, db, name);
    if (t) {
        if (strcmp(t->db, db) || strcmp(t->name, name)) {
            free(t->db);
            free(t->name);
            t->db = sl_strdup(db);
            t->name = sl_strdup(name);
        }
        t->version = ++c->version;
    }
    if (i >= 0) {
        sl_my_tab_free(c->t[i]);
        if (t) {
            c->t[i] = t;
            return;
        }
        c->t[i] = c->t[--c->n];
        return;
    }
    if (!t) return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->t = sl_realloc(c->t, c->cap * sizeof(*c->t));
    }
    c->t[c->n++] = t;
}

void sl_my_catalog_put(sl_my_catalog_t *c, const char *db, const char *name,
                       const sl_my_tab_t *t)
{
    sl_my_catalog_set(c, db, name, t ? sl_my_tab_dup(t) : NULL);
}

static sl_my_dbent_t *sl_my_catalog_db(const sl_my_catalog_t *c, const char *db)
{
    for (size_t i = 0; i < c->ndbs; i++)
        if (strcmp(c->dbs[i].name, db) == 0) return &c->dbs[i];
    return NULL;
}

void sl_my_catalog_set_db_charset(sl_my_catalog_t *c, const char *db, const char *cs)
{
    sl_my_dbent_t *e = sl_my_catalog_db(c, db);
    if (!e) {
        c->dbs = sl_realloc(c->dbs, (c->ndbs + 1) * sizeof(*c->dbs));
        e = &c->dbs[c->ndbs++];
        e->name = sl_strdup(db);
        e->charset = NULL;
    }
    free(e->charset);
    e->charset = sl_my_dupz(cs);
}

const char *sl_my_catalog_db_charset(const sl_my_catalog_t *c, const char *db)
{
    const sl_my_dbent_t *e = sl_my_catalog_db(c, db);
    return e ? e->charset : NULL;
}

bool sl_my_catalog_has_db(const sl_my_catalog_t *c, const char *db)
{
    return sl_my_catalog_db(c, db) != NULL;
}

void sl_my_catalog_forget_db(sl_my_catalog_t *c, const char *db)
{
    for (size_t i = 0; i < c->ndbs; i++)
        if (strcmp(c->dbs[i].name, db) == 0) {
            free(c->dbs[i].name);
            free(c->dbs[i].charset);
            c->dbs[i] = c->dbs[--c->ndbs];
            return;
        }
}

/* ======================================================================================
 * Positions and charsets
 * ==================================================================================== */

/* The numeric suffix of a binlog file name ("mysql-bin.000012" -> 12); *has false when
 * there is none. */
static uint64_t sl_my_file_seq(const char *f, bool *has)
{
    const char *dot = strrchr(f, '.');
    *has = false;
    if (!dot || !dot[1]) return 0;
    uint64_t v = 0;
    for (const char *p = dot + 1; *p; p++) {
        if (!isdigit((unsigned char)*p)) return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *has = true;
    return v;
}

int sl_my_pos_cmp(const char *fa, uint64_t pa, const char *fb, uint64_t pb)
{
    bool ea = !fa || !*fa, eb = !fb || !*fb;
    if (ea || eb) return ea && eb ? 0 : ea ? -1 : 1;
    if (strcmp(fa, fb) != 0) {
        bool ha, hb;
        uint64_t sa = sl_my_file_seq(fa, &ha), sb = sl_my_file_seq(fb, &hb);
        if (ha && hb && sa != sb) return sa < sb ? -1 : 1;
        if (!(ha && hb)) return strcmp(fa, fb) < 0 ? -1 : 1;
    }
    return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/* Charset names as kept: lower case, utf8 -> utf8mb3 (what MariaDB 10.6+ and MySQL 8
 * call it). Returns a new string. */
static char *sl_my_cs_norm(const char *cs, size_t n)
{
    char *s = sl_strndup(cs, n);
    for (char *p = s; *p; p++) *p = (char)tolower((unsigned char)*p);
    if (strcmp(s, "utf8") == 0) {
        free(s);
        s = sl_strdup("utf8mb3");
    }
    return s;
}

static const char *const sl_my_charsets[] = {
    "utf8mb4", "utf8mb3", "utf8", "latin1", "latin2", "latin5", "latin7", "ascii", "binary",
    "ucs2", "utf16le", "utf16", "utf32", "cp1250", "cp1251", "cp1256", "cp1257", "cp850",
    "cp852", "cp866", "cp932", "big5", "gbk", "gb2312", "gb18030", "sjis", "ujis", "euckr",
    "eucjpms", "koi8r", "koi8u", "greek", "hebrew", "tis620", "armscii8", "geostd8",
    "keybcs2", "macce", "macroman", "swe7", "dec8", "hp8", "tis620", NULL,
};

const char *sl_my_collation_charset(const char *coll)
{
    if (!coll) return NULL;
    if (strcasecmp(coll, "binary") == 0) return "binary";
    /* The longest charset name that prefixes the collation, followed by '_'. */
    const char *best = NULL;
    size_t bl = 0;
    for (size_t i = 0; sl_my_charsets[i]; i++) {
        size_t l = strlen(sl_my_charsets[i]);
        if (l > bl && strncasecmp(coll, sl_my_charsets[i], l) == 0 && coll[l] == '_') {
            best = sl_my_charsets[i];
            bl = l;
        }
    }
    if (best && strcmp(best, "utf8") == 0) return "utf8mb3";
    return best;
}

/* ======================================================================================
 * Lexer
 * ==================================================================================== */

typedef enum {
    SL_TK_EOF = 0, SL_TK_WORD, SL_TK_QID, SL_TK_STR, SL_TK_NUM, SL_TK_PUNCT,
} sl_tk_kind_t;

typedef struct sl_tok {
    sl_tk_kind_t kind;
    const char  *p;          /* raw text (quotes included) */
    size_t       n;
    size_t       off;        /* byte offset in the statement */
} sl_tok_t;

typedef struct sl_lex {
    const char *s;
    size_t      n, i;
    int         exec;        /* executable comments open */
    sl_tok_t    la;          /* lookahead */
    bool        have;
    bool        failed;
    char        err[SL_ERRSTR_SIZE];
    bool        mariadb;
} sl_lex_t;

static bool sl_lex_wordc(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

static void sl_lex_fail(sl_lex_t *L, size_t off, const char *fmt, const char *what)
{
    if (L->failed) return;
    L->failed = true;
    char msg[200];
    snprintf(msg, sizeof(msg), fmt, what);
    snprintf(L->err, sizeof(L->err), "%s at byte %zu", msg, off);
}

static void sl_lex_space(sl_lex_t *L)
{
    const char *s = L->s;
    while (L->i < L->n) {
        unsigned char c = (unsigned char)s[L->i];
        if (isspace(c)) {
            L->i++;
        } else if (c == '#' ||
                   (c == '-' && L->i + 1 < L->n && s[L->i + 1] == '-' &&
                    (L->i + 2 >= L->n || isspace((unsigned char)s[L->i + 2])))) {
            while (L->i < L->n && s[L->i] != '\n') L->i++;
        } else if (c == '/' && L->i + 1 < L->n && s[L->i + 1] == '*') {
            size_t j = L->i + 2;
            if (j < L->n && s[j] == 'M' && j + 1 < L->n && s[j + 1] == '!') j++;
            if (j < L->n && s[j] == '!') {
                /* executable comment: its body is SQL */
                j++;
                while (j < L->n && isdigit((unsigned char)s[j])) j++;
                L->exec++;
                L->i = j;
                continue;
            }
            const char *end = memmem(s + L->i + 2, L->n - L->i - 2, "*/", 2);
            L->i = end ? (size_t)(end - s) + 2 : L->n;
        } else if (c == '*' && L->exec > 0 && L->i + 1 < L->n && s[L->i + 1] == '/') {
            L->exec--;
            L->i += 2;
        } else {
            break;
        }
    }
}

static void sl_lex_scan(sl_lex_t *L, sl_tok_t *t)
{
    sl_lex_space(L);
    memset(t, 0, sizeof(*t));
    t->off = L->i;
    t->p = L->s + L->i;
    if (L->i >= L->n || L->failed) {
        t->kind = SL_TK_EOF;
        return;
    }
    const char *s = L->s;
    size_t i = L->i;
    unsigned char c = (unsigned char)s[i];
    if (c == '`' || c == '\'' || c == '"') {
        size_t j = i + 1;
        for (;;) {
            if (j >= L->n) {
                sl_lex_fail(L, i, "unterminated %s", c == '`' ? "quoted name" : "string");
                t->kind = SL_TK_EOF;
                return;
            }
            if (s[j] == '\\' && c != '`') {
                j += 2;
            } else if ((unsigned char)s[j] == c) {
                if (j + 1 < L->n && (unsigned char)s[j + 1] == c) j += 2;
                else break;
            } else {
                j++;
            }
        }
        t->kind = c == '`' ? SL_TK_QID : SL_TK_STR;
        t->n = j + 1 - i;
    } else if (isdigit(c) || (c == '.' && i + 1 < L->n && isdigit((unsigned char)s[i + 1]) &&
                              (i == 0 || !sl_lex_wordc((unsigned char)s[i - 1])))) {
        size_t j = i;
        while (j < L->n && isdigit((unsigned char)s[j])) j++;
        if (j < L->n && s[j] == '.') {
            j++;
            while (j < L->n && isdigit((unsigned char)s[j])) j++;
        }
        if (j < L->n && (s[j] == 'e' || s[j] == 'E') && j + 1 < L->n &&
            (isdigit((unsigned char)s[j + 1]) ||
             ((s[j + 1] == '-' || s[j + 1] == '+') && j + 2 < L->n &&
              isdigit((unsigned char)s[j + 2])))) {
            j += 2;
            while (j < L->n && isdigit((unsigned char)s[j])) j++;
        }
        if (j < L->n && sl_lex_wordc((unsigned char)s[j]) && s[i] != '.') {
            /* a name that starts with digits (legal in MySQL), or 0x1F */
            while (j < L->n && sl_lex_wordc((unsigned char)s[j])) j++;
            t->kind = SL_TK_WORD;
        } else {
            t->kind = SL_TK_NUM;
        }
        t->n = j - i;
    } else if (sl_lex_wordc(c)) {
        size_t j = i;
        while (j < L->n && sl_lex_wordc((unsigned char)s[j])) j++;
        t->kind = SL_TK_WORD;
        t->n = j - i;
    } else {
        t->kind = SL_TK_PUNCT;
        t->n = 1;
    }
    L->i = i + t->n;
}

static const sl_tok_t *sl_peek(sl_lex_t *L)
{
    if (!L->have) {
        sl_lex_scan(L, &L->la);
        L->have = true;
    }
    return &L->la;
}

static sl_tok_t sl_next(sl_lex_t *L)
{
    sl_tok_t t = *sl_peek(L);
    L->have = false;
    return t;
}

static bool sl_tok_is(const sl_tok_t *t, const char *kw)
{
    size_t n = strlen(kw);
    return t->kind == SL_TK_WORD && t->n == n && strncasecmp(t->p, kw, n) == 0;
}

static bool sl_is_kw(sl_lex_t *L, const char *kw) { return sl_tok_is(sl_peek(L), kw); }

static bool sl_accept_kw(sl_lex_t *L, const char *kw)
{
    if (!sl_is_kw(L, kw)) return false;
    sl_next(L);
    return true;
}

static bool sl_is_punct(sl_lex_t *L, char c)
{
    const sl_tok_t *t = sl_peek(L);
    return t->kind == SL_TK_PUNCT && t->p[0] == c;
}

static bool sl_accept_punct(sl_lex_t *L, char c)
{
    if (!sl_is_punct(L, c)) return false;
    sl_next(L);
    return true;
}

/* Is the token after the lookahead the keyword kw? (e.g. PERIOD FOR vs a column
 * named period) */
static bool sl_next_is_kw(sl_lex_t *L, const char *kw)
{
    sl_lex_t save = *L;
    sl_peek(L);
    sl_next(L);
    bool r = sl_is_kw(L, kw);
    *L = save;
    return r;
}

static bool sl_at_end(sl_lex_t *L)
{
    if (L->failed) return true;
    const sl_tok_t *t = sl_peek(L);
    return t->kind == SL_TK_EOF || (t->kind == SL_TK_PUNCT && t->p[0] == ';');
}

/* Describe the lookahead for an error: "`foo`", "end of statement". */
static const char *sl_tok_desc(sl_lex_t *L, char *buf, size_t n)
{
    const sl_tok_t *t = sl_peek(L);
    if (t->kind == SL_TK_EOF) return "end of statement";
    snprintf(buf, n, "\"%.*s\"", (int)(t->n > 40 ? 40 : t->n), t->p);
    return buf;
}

static void sl_expect_fail(sl_lex_t *L, const char *what)
{
    char b[64], msg[160];
    snprintf(msg, sizeof(msg), "expected %s, found %s", what, sl_tok_desc(L, b, sizeof(b)));
    sl_lex_fail(L, sl_peek(L)->off, "%s", msg);
}

static bool sl_expect_kw(sl_lex_t *L, const char *kw)
{
    if (sl_accept_kw(L, kw)) return true;
    sl_expect_fail(L, kw);
    return false;
}

static bool sl_expect_punct(sl_lex_t *L, char c)
{
    if (sl_accept_punct(L, c)) return true;
    char w[8] = {'"', c, '"', 0};
    sl_expect_fail(L, w);
    return false;
}

/* Unquote a QID/STR token (doubled quotes; backslash escapes in strings). */
static char *sl_tok_unquote(const sl_tok_t *t)
{
    if (t->kind != SL_TK_QID && t->kind != SL_TK_STR) return sl_strndup(t->p, t->n);
    char q = t->p[0];
    sl_buf_t b = SL_BUF_INIT;
    for (size_t i = 1; i + 1 < t->n; i++) {
        char c = t->p[i];
        if (c == '\\' && q != '`' && i + 2 < t->n) {
            char e = t->p[++i];
            switch (e) {
            case '0': c = '\0'; break;
            case 'b': c = '\b'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'Z': c = 26; break;
            case '%': case '_': sl_buf_putc(&b, '\\'); c = e; break;
            default: c = e; break;
            }
        } else if (c == q && i + 2 < t->n && t->p[i + 1] == q) {
            i++;
        }
        sl_buf_putc(&b, c);
    }
    if (!b.data) return sl_strdup("");
    return sl_buf_steal(&b);
}

/* An identifier: a bare word, `quoted` or "quoted". NULL (and a failure) otherwise. */
static char *sl_ident(sl_lex_t *L, const char *what)
{
    const sl_tok_t *t = sl_peek(L);
    if (t->kind == SL_TK_WORD || t->kind == SL_TK_QID ||
        (t->kind == SL_TK_STR && t->p[0] == '"')) {
        sl_tok_t tk = sl_next(L);
        return sl_tok_unquote(&tk);
    }
    sl_expect_fail(L, what);
    return NULL;
}

/* [db.]name; db defaults to dflt. */
static bool sl_table_name(sl_lex_t *L, const char *dflt, char **db, char **name)
{
    *db = *name = NULL;
    char *a = sl_ident(L, "a table name");
    if (!a) return false;
    if (sl_accept_punct(L, '.')) {
        char *b = sl_ident(L, "a table name");
        if (!b) {
            free(a);
            return false;
        }
        *db = a;
        *name = b;
        return true;
    }
    *db = sl_strdup(dflt ? dflt : "");
    *name = a;
    return true;
}

/* Skip tokens up to (not including) a ',' or ')' at depth 0, or the end. */
static void sl_skip_to_sep(sl_lex_t *L)
{
    int depth = 0;
    while (!sl_at_end(L)) {
        const sl_tok_t *t = sl_peek(L);
        if (t->kind == SL_TK_PUNCT) {
            if (t->p[0] == '(') depth++;
            else if (t->p[0] == ')') {
                if (depth == 0) return;
                depth--;
            } else if (t->p[0] == ',' && depth == 0) {
                return;
            }
        }
        sl_next(L);
    }
}

/* At '(': skip to the matching ')' (consumed). Returns the raw text in between. */
static bool sl_skip_parens(sl_lex_t *L, const char **start, size_t *len)
{
    if (!sl_expect_punct(L, '(')) return false;
    size_t from = L->i;
    int depth = 1;
    for (;;) {
        if (sl_at_end(L)) {
            sl_expect_fail(L, "\")\"");
            return false;
        }
        sl_tok_t t = sl_next(L);
        if (t.kind != SL_TK_PUNCT) continue;
        if (t.p[0] == '(') depth++;
        if (t.p[0] == ')' && --depth == 0) {
            if (start) *start = L->s + from;
            if (len) *len = t.off - from;
            return true;
        }
    }
}

static bool sl_uint(sl_lex_t *L, int64_t *out)
{
    const sl_tok_t *t = sl_peek(L);
    if (t->kind != SL_TK_NUM || memchr(t->p, '.', t->n) || t->n > 18) {
        sl_expect_fail(L, "a number");
        return false;
    }
    sl_tok_t tk = sl_next(L);
    int64_t v = 0;
    for (size_t i = 0; i < tk.n; i++) {
        if (!isdigit((unsigned char)tk.p[i])) {
            sl_lex_fail(L, tk.off, "%s", "expected a number");
            return false;
        }
        v = v * 10 + (tk.p[i] - '0');
    }
    *out = v;
    return true;
}

static char *sl_trim_dup(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1])) n--;
    return sl_strndup(s, n);
}

/* ======================================================================================
 * Column types
 * ==================================================================================== */

typedef enum {
    SL_TC_INT, SL_TC_REAL, SL_TC_DEC, SL_TC_BIT, SL_TC_DATE, SL_TC_FSP, SL_TC_YEAR,
    SL_TC_CHAR, SL_TC_BIN, SL_TC_TEXT, SL_TC_BLOB, SL_TC_ENUM, SL_TC_JSON, SL_TC_GEOM,
    SL_TC_VECTOR, SL_TC_OTHER,
} sl_tc_t;

typedef struct sl_type_def {
    const char *kw;
    const char *norm;
    sl_tc_t     cls;
} sl_type_def_t;

static const sl_type_def_t sl_types[] = {
    {"TINYINT", "TINYINT", SL_TC_INT}, {"INT1", "TINYINT", SL_TC_INT},
    {"SMALLINT", "SMALLINT", SL_TC_INT}, {"INT2", "SMALLINT", SL_TC_INT},
    {"MEDIUMINT", "MEDIUMINT", SL_TC_INT}, {"INT3", "MEDIUMINT", SL_TC_INT},
    {"MIDDLEINT", "MEDIUMINT", SL_TC_INT},
    {"INT", "INT", SL_TC_INT}, {"INTEGER", "INT", SL_TC_INT}, {"INT4", "INT", SL_TC_INT},
    {"BIGINT", "BIGINT", SL_TC_INT}, {"INT8", "BIGINT", SL_TC_INT},
    {"FLOAT", "FLOAT", SL_TC_REAL}, {"FLOAT4", "FLOAT", SL_TC_REAL},
    {"DOUBLE", "DOUBLE", SL_TC_REAL}, {"REAL", "DOUBLE", SL_TC_REAL},
    {"FLOAT8", "DOUBLE", SL_TC_REAL},
    {"DECIMAL", "DECIMAL", SL_TC_DEC}, {"DEC", "DECIMAL", SL_TC_DEC},
    {"NUMERIC", "DECIMAL", SL_TC_DEC}, {"FIXED", "DECIMAL", SL_TC_DEC},
    {"NUMBER", "DECIMAL", SL_TC_DEC},
    {"BIT", "BIT", SL_TC_BIT},
    {"DATE", "DATE", SL_TC_DATE},
    {"TIME", "TIME", SL_TC_FSP}, {"DATETIME", "DATETIME", SL_TC_FSP},
    {"TIMESTAMP", "TIMESTAMP", SL_TC_FSP},
    {"YEAR", "YEAR", SL_TC_YEAR},
    {"CHAR", "CHAR", SL_TC_CHAR}, {"CHARACTER", "CHAR", SL_TC_CHAR},
    {"VARCHAR", "VARCHAR", SL_TC_CHAR}, {"VARCHARACTER", "VARCHAR", SL_TC_CHAR},
    {"VARCHAR2", "VARCHAR", SL_TC_CHAR},
    {"BINARY", "BINARY", SL_TC_BIN}, {"VARBINARY", "VARBINARY", SL_TC_BIN},
    {"TINYTEXT", "TINYTEXT", SL_TC_TEXT}, {"TEXT", "TEXT", SL_TC_TEXT},
    {"MEDIUMTEXT", "MEDIUMTEXT", SL_TC_TEXT}, {"LONGTEXT", "LONGTEXT", SL_TC_TEXT},
    {"TINYBLOB", "TINYBLOB", SL_TC_BLOB}, {"BLOB", "BLOB", SL_TC_BLOB},
    {"MEDIUMBLOB", "MEDIUMBLOB", SL_TC_BLOB}, {"LONGBLOB", "LONGBLOB", SL_TC_BLOB},
    {"ENUM", "ENUM", SL_TC_ENUM}, {"SET", "SET", SL_TC_ENUM},
    {"JSON", "JSON", SL_TC_JSON},
    {"GEOMETRY", "GEOMETRY", SL_TC_GEOM}, {"POINT", "POINT", SL_TC_GEOM},
    {"LINESTRING", "LINESTRING", SL_TC_GEOM}, {"POLYGON", "POLYGON", SL_TC_GEOM},
    {"MULTIPOINT", "MULTIPOINT", SL_TC_GEOM},
    {"MULTILINESTRING", "MULTILINESTRING", SL_TC_GEOM},
    {"MULTIPOLYGON", "MULTIPOLYGON", SL_TC_GEOM},
    {"GEOMETRYCOLLECTION", "GEOMETRYCOLLECTION", SL_TC_GEOM},
    {"GEOMCOLLECTION", "GEOMETRYCOLLECTION", SL_TC_GEOM},
    {"VECTOR", "VECTOR", SL_TC_VECTOR},
    {"UUID", "UUID", SL_TC_OTHER}, {"INET4", "INET4", SL_TC_OTHER},
    {"INET6", "INET6", SL_TC_OTHER},
    {NULL, NULL, SL_TC_OTHER},
};

static const sl_type_def_t *sl_type_find(const char *norm)
{
    for (const sl_type_def_t *d = sl_types; d->kw; d++)
        if (strcasecmp(d->norm, norm) == 0) return d;
    return NULL;
}

/* Character columns take a charset (explicit, else the table's). */
static bool sl_type_is_char(const char *type)
{
    const sl_type_def_t *d = type ? sl_type_find(type) : NULL;
    return d && (d->cls == SL_TC_CHAR || d->cls == SL_TC_TEXT || d->cls == SL_TC_ENUM);
}

static bool sl_type_is_binary(const char *type)
{
    const sl_type_def_t *d = type ? sl_type_find(type) : NULL;
    return d && (d->cls == SL_TC_BIN || d->cls == SL_TC_BLOB);
}

/* Column attributes gathered while parsing one column definition. */
typedef struct sl_coldef {
    sl_my_col_t col;
    char       *cs;          /* explicit CHARACTER SET (normalized) */
    char       *coll;        /* explicit COLLATE */
    bool        pk;          /* PRIMARY KEY / KEY on the column */
    bool        not_null_set;
    bool        row_period;  /* GENERATED ALWAYS AS ROW START / END (MariaDB) */
    bool        versioned;   /* WITH SYSTEM VERSIONING on the column */
} sl_coldef_t;

static void sl_coldef_free(sl_coldef_t *d)
{
    sl_my_col_clear(&d->col);
    free(d->cs);
    free(d->coll);
}

static bool sl_charset_value(sl_lex_t *L, char **out)
{
    sl_accept_punct(L, '=');
    const sl_tok_t *t = sl_peek(L);
    if (t->kind != SL_TK_WORD && t->kind != SL_TK_QID && t->kind != SL_TK_STR) {
        sl_expect_fail(L, "a charset name");
        return false;
    }
    sl_tok_t tk = sl_next(L);
    char *v = sl_tok_unquote(&tk);
    free(*out);
    *out = sl_my_cs_norm(v, strlen(v));
    free(v);
    return true;
}

/* ( 'a', 'b' ... ) of ENUM / SET. */
static bool sl_labels(sl_lex_t *L, sl_my_col_t *c)
{
    if (!sl_expect_punct(L, '(')) return false;
    for (;;) {
        /* a charset introducer may precede a label: _utf8mb4'x' */
        const sl_tok_t *t = sl_peek(L);
        if (t->kind == SL_TK_WORD && t->p[0] == '_') sl_next(L);
        t = sl_peek(L);
        if (t->kind != SL_TK_STR) {
            sl_expect_fail(L, "a quoted label");
            return false;
        }
        sl_tok_t tk = sl_next(L);
        c->labels = sl_realloc(c->labels, (c->nlabels + 1) * sizeof(char *));
        c->labels[c->nlabels++] = sl_tok_unquote(&tk);
        if (sl_accept_punct(L, ',')) continue;
        return sl_expect_punct(L, ')');
    }
}

/* ( M [, D] ) */
static bool sl_type_args(sl_lex_t *L, sl_my_col_t *c, bool two)
{
    if (!sl_is_punct(L, '(')) return true;
    sl_next(L);
    int64_t m = 0, d = 0;
    if (!sl_uint(L, &m)) return false;
    c->length = m;
    if (two && sl_accept_punct(L, ',')) {
        if (!sl_uint(L, &d)) return false;
        c->scale = (int32_t)d;
    }
    return sl_expect_punct(L, ')');
}

static void sl_set_type(sl_my_col_t *c, const char *norm)
{
    free(c->type);
    c->type = sl_strdup(norm);
}

/* A data type, with the words that belong to it (UNSIGNED, ZEROFILL, BINARY, ASCII,
 * CHARACTER SET ... COLLATE are also taken by the attribute loop). */
static bool sl_data_type(sl_lex_t *L, sl_coldef_t *d)
{
    sl_my_col_t *c = &d->col;
    c->length = -1;
    c->scale = -1;
    c->nullable = true;
    const sl_tok_t *t = sl_peek(L);
    if (t->kind != SL_TK_WORD) {
        sl_expect_fail(L, "a column type");
        return false;
    }
    sl_tok_t w = sl_next(L);
    char kw[40];
    snprintf(kw, sizeof(kw), "%.*s", (int)(w.n < 39 ? w.n : 39), w.p);
    bool national = false;

    /* multi-word spellings first */
    if (!strcasecmp(kw, "NATIONAL") || !strcasecmp(kw, "NCHAR") ||
        !strcasecmp(kw, "NVARCHAR")) {
        national = true;
        if (!strcasecmp(kw, "NATIONAL")) {
            const sl_tok_t *n = sl_peek(L);
            if (n->kind != SL_TK_WORD) {
                sl_expect_fail(L, "CHAR or VARCHAR");
                return false;
            }
            sl_tok_t nw = sl_next(L);
            snprintf(kw, sizeof(kw), "%.*s", (int)(nw.n < 39 ? nw.n : 39), nw.p);
        } else if (!strcasecmp(kw, "NCHAR")) {
            snprintf(kw, sizeof(kw), "CHAR");
        } else {
            snprintf(kw, sizeof(kw), "VARCHAR");
        }
    }
    if (!strcasecmp(kw, "LONG")) {
        if (sl_accept_kw(L, "VARBINARY")) {
            sl_set_type(c, "MEDIUMBLOB");
            c->charset = sl_strdup("binary");
            return true;
        }
        if (!sl_accept_kw(L, "VARCHAR")) sl_accept_kw(L, "VARCHARACTER");
        sl_set_type(c, "MEDIUMTEXT");
        return true;
    }
    if (!strcasecmp(kw, "BOOL") || !strcasecmp(kw, "BOOLEAN")) {
        sl_set_type(c, "TINYINT");
        c->length = 1;
        return true;
    }
    if (!strcasecmp(kw, "SERIAL")) {
        sl_set_type(c, "BIGINT");
        c->is_unsigned = true;
        c->nullable = false;
        c->auto_increment = true;
        d->not_null_set = true;
        return true;
    }
    const sl_type_def_t *def = NULL;
    for (const sl_type_def_t *x = sl_types; x->kw; x++)
        if (strcasecmp(x->kw, kw) == 0) {
            def = x;
            break;
        }
    if (!def) {
        sl_lex_fail(L, w.off, "unknown column type %s", kw);
        return false;
    }
    sl_set_type(c, def->norm);
    if (national) d->cs = sl_strdup("utf8mb3");
    switch (def->cls) {
    case SL_TC_INT:
        if (!sl_type_args(L, c, false)) return false;
        break;
    case SL_TC_REAL:
        if (!strcasecmp(kw, "DOUBLE")) sl_accept_kw(L, "PRECISION");
        if (!sl_type_args(L, c, true)) return false;
        break;
    case SL_TC_DEC:
        if (!sl_type_args(L, c, true)) return false;
        break;
    case SL_TC_BIT:
    case SL_TC_FSP:
    case SL_TC_YEAR:
    case SL_TC_TEXT:
    case SL_TC_BLOB:
    case SL_TC_VECTOR:
        if (!sl_type_args(L, c, false)) return false;
        break;
    case SL_TC_CHAR:
        /* CHARACTER VARYING, CHAR VARYING, NCHAR VARCHAR, CHAR BYTE */
        if (sl_accept_kw(L, "VARYING") ||
            (!strcmp(def->norm, "CHAR") && (sl_accept_kw(L, "VARCHAR") ||
                                            sl_accept_kw(L, "VARCHARACTER"))))
            sl_set_type(c, "VARCHAR");
        if (!sl_type_args(L, c, false)) return false;
        if (!strcmp(def->norm, "CHAR") && sl_accept_kw(L, "BYTE")) {
            sl_set_type(c, "BINARY");
            c->charset = sl_strdup("binary");
        }
        break;
    case SL_TC_BIN:
        if (!sl_type_args(L, c, false)) return false;
        c->charset = sl_strdup("binary");
        break;
    case SL_TC_ENUM:
        if (!sl_labels(L, c)) return false;
        break;
    case SL_TC_JSON:
        c->is_json = true;
        if (L->mariadb) {
            /* MariaDB: an alias of LONGTEXT utf8mb4_bin with a json_valid() check */
            sl_set_type(c, "LONGTEXT");
            d->cs = sl_strdup("utf8mb4");
        }
        break;
    case SL_TC_DATE:
    case SL_TC_GEOM:
    case SL_TC_OTHER:
        break;
    }
    if (def->cls == SL_TC_BLOB) c->charset = sl_strdup("binary");
    return !L->failed;
}

/* A DEFAULT value: a literal (strings unquoted), a function call, or (expr). */
static bool sl_default_value(sl_lex_t *L, sl_my_col_t *c)
{
    free(c->default_expr);
    c->default_expr = NULL;
    const sl_tok_t *t = sl_peek(L);
    if (t->kind == SL_TK_PUNCT && t->p[0] == '(') {
        const char *s;
        size_t n;
        if (!sl_skip_parens(L, &s, &n)) return false;
        c->default_expr = sl_trim_dup(s, n);
        return true;
    }
    if (t->kind == SL_TK_PUNCT && (t->p[0] == '-' || t->p[0] == '+')) {
        sl_tok_t sign = sl_next(L);
        const sl_tok_t *num = sl_peek(L);
        if (num->kind != SL_TK_NUM) {
            sl_expect_fail(L, "a number");
            return false;
        }
        sl_tok_t nt = sl_next(L);
        sl_buf_t b = SL_BUF_INIT;
        if (sign.p[0] == '-') sl_buf_putc(&b, '-');
        sl_buf_put(&b, nt.p, nt.n);
        c->default_expr = sl_buf_steal(&b);
        return true;
    }
    if (t->kind == SL_TK_STR) {
        /* 'a' 'b' concatenates */
        sl_buf_t b = SL_BUF_INIT;
        while (sl_peek(L)->kind == SL_TK_STR) {
            sl_tok_t st = sl_next(L);
            char *u = sl_tok_unquote(&st);
            sl_buf_puts(&b, u);
            free(u);
        }
        c->default_expr = b.data ? sl_buf_steal(&b) : sl_strdup("");
        return true;
    }
    if (t->kind == SL_TK_NUM) {
        sl_tok_t nt = sl_next(L);
        c->default_expr = sl_strndup(nt.p, nt.n);
        return true;
    }
    if (t->kind == SL_TK_WORD) {
        sl_tok_t wt = sl_next(L);
        if (sl_tok_is(&wt, "NULL")) return true;
        const sl_tok_t *n = sl_peek(L);
        if (n->kind == SL_TK_STR &&
            (wt.p[0] == '_' || (wt.n == 1 && strchr("nNxXbB", wt.p[0])))) {
            /* _charset'text', N'text': the text; X'..' / B'..': as written */
            sl_tok_t st = sl_next(L);
            if (wt.p[0] == '_' || wt.p[0] == 'n' || wt.p[0] == 'N')
                c->default_expr = sl_tok_unquote(&st);
            else
                c->default_expr = sl_strndup(wt.p, (size_t)(st.p + st.n - wt.p));
            return true;
        }
        if (n->kind == SL_TK_PUNCT && n->p[0] == '(') {
            const char *s;
            size_t len;
            if (!sl_skip_parens(L, &s, &len)) return false;
            c->default_expr = sl_strndup(wt.p, (size_t)(s + len + 1 - wt.p));
            return true;
        }
        c->default_expr = sl_strndup(wt.p, wt.n);
        return true;
    }
    sl_expect_fail(L, "a default value");
    return false;
}

/* After CHECK: json_valid(`col`) marks col as JSON (MariaDB's JSON type). Returns the
 * column name when the check is exactly that, else NULL. */
static char *sl_check_json(sl_lex_t *L)
{
    const char *s;
    size_t n;
    if (!sl_skip_parens(L, &s, &n)) return NULL;
    sl_lex_t sub = {.s = s, .n = n, .mariadb = L->mariadb};
    if (!sl_accept_kw(&sub, "json_valid") || !sl_accept_punct(&sub, '(')) return NULL;
    char *col = sl_ident(&sub, "a column");
    if (!col || !sl_accept_punct(&sub, ')') || !sl_at_end(&sub)) {
        free(col);
        return NULL;
    }
    return col;
}

/* The attributes after a column's type, up to ',' or ')' at depth 0. */
static bool sl_col_attrs(sl_lex_t *L, sl_coldef_t *d)
{
    sl_my_col_t *c = &d->col;
    while (!sl_at_end(L) && !sl_is_punct(L, ',') && !sl_is_punct(L, ')') &&
           !sl_is_kw(L, "FIRST") && !sl_is_kw(L, "AFTER")) {
        const sl_tok_t *t = sl_peek(L);
        if (t->kind != SL_TK_WORD) {
            char b[64], msg[120];
            snprintf(msg, sizeof(msg), "unexpected %s in a column definition",
                     sl_tok_desc(L, b, sizeof(b)));
            sl_lex_fail(L, t->off, "%s", msg);
            return false;
        }
        if (sl_accept_kw(L, "UNSIGNED")) {
            c->is_unsigned = true;
        } else if (sl_accept_kw(L, "SIGNED")) {
            c->is_unsigned = false;
        } else if (sl_accept_kw(L, "ZEROFILL")) {
            c->zerofill = true;
            c->is_unsigned = true;
        } else if (sl_accept_kw(L, "NOT")) {
            if (!sl_expect_kw(L, "NULL")) return false;
            c->nullable = false;
            d->not_null_set = true;
        } else if (sl_accept_kw(L, "NULL")) {
            c->nullable = true;
        } else if (sl_accept_kw(L, "DEFAULT")) {
            if (!sl_default_value(L, c)) return false;
        } else if (sl_accept_kw(L, "AUTO_INCREMENT")) {
            c->auto_increment = true;
        } else if (sl_accept_kw(L, "UNIQUE")) {
            sl_accept_kw(L, "KEY");
        } else if (sl_accept_kw(L, "PRIMARY")) {
            if (!sl_expect_kw(L, "KEY")) return false;
            d->pk = true;
        } else if (sl_accept_kw(L, "KEY")) {
            d->pk = true;
        } else if (sl_accept_kw(L, "COMMENT")) {
            const sl_tok_t *s = sl_peek(L);
            if (s->kind != SL_TK_STR) {
                sl_expect_fail(L, "a quoted comment");
                return false;
            }
            sl_tok_t st = sl_next(L);
            free(c->comment);
            c->comment = sl_tok_unquote(&st);
        } else if (sl_accept_kw(L, "COLLATE")) {
            if (!sl_charset_value(L, &d->coll)) return false;
        } else if (sl_is_kw(L, "CHARACTER") || sl_is_kw(L, "CHAR")) {
            sl_next(L);
            if (!sl_expect_kw(L, "SET") || !sl_charset_value(L, &d->cs)) return false;
        } else if (sl_accept_kw(L, "CHARSET")) {
            if (!sl_charset_value(L, &d->cs)) return false;
        } else if (sl_accept_kw(L, "ASCII")) {
            free(d->cs);
            d->cs = sl_strdup("latin1");
        } else if (sl_accept_kw(L, "UNICODE")) {
            free(d->cs);
            d->cs = sl_strdup("ucs2");
        } else if (sl_accept_kw(L, "BINARY") || sl_accept_kw(L, "BYTE")) {
            /* CHAR(n) BINARY: a binary collation of the charset */
        } else if (sl_accept_kw(L, "COLUMN_FORMAT") || sl_accept_kw(L, "STORAGE") ||
                   sl_accept_kw(L, "REF_SYSTEM_ID") || sl_accept_kw(L, "SRID")) {
            sl_accept_punct(L, '=');
            sl_next(L);
        } else if (sl_accept_kw(L, "ENGINE_ATTRIBUTE") ||
                   sl_accept_kw(L, "SECONDARY_ENGINE_ATTRIBUTE")) {
            sl_accept_punct(L, '=');
            sl_next(L);
        } else if (sl_accept_kw(L, "INVISIBLE") || sl_accept_kw(L, "VISIBLE")) {
        } else if (sl_accept_kw(L, "COMPRESSED")) {
            if (sl_accept_punct(L, '=')) sl_next(L);
        } else if (sl_accept_kw(L, "ON")) {
            /* ON UPDATE CURRENT_TIMESTAMP[(n)] */
            if (!sl_expect_kw(L, "UPDATE")) return false;
            sl_my_col_t tmp = {0};
            if (!sl_default_value(L, &tmp)) return false;
            sl_my_col_clear(&tmp);
        } else if (sl_accept_kw(L, "CONSTRAINT")) {
            if (!sl_is_kw(L, "CHECK")) free(sl_ident(L, "a constraint name"));
        } else if (sl_accept_kw(L, "CHECK")) {
            char *jc = sl_check_json(L);
            if (L->failed) return false;
            if (jc && !strcasecmp(jc, c->name ? c->name : "")) c->is_json = true;
            free(jc);
            sl_accept_kw(L, "ENFORCED");
        } else if (sl_accept_kw(L, "REFERENCES")) {
            char *db, *name;
            if (!sl_table_name(L, "", &db, &name)) return false;
            free(db);
            free(name);
            if (sl_is_punct(L, '(') && !sl_skip_parens(L, NULL, NULL)) return false;
            /* MATCH ..., ON DELETE/UPDATE action */
            for (;;) {
                if (sl_accept_kw(L, "MATCH")) {
                    sl_next(L);
                } else if (sl_is_kw(L, "ON")) {
                    sl_next(L);
                    sl_next(L);   /* DELETE | UPDATE */
                    if (sl_accept_kw(L, "SET") || sl_accept_kw(L, "NO")) sl_next(L);
                    else sl_next(L);
                } else {
                    break;
                }
            }
        } else if (sl_accept_kw(L, "GENERATED")) {
            if (!sl_expect_kw(L, "ALWAYS")) return false;
            if (sl_accept_kw(L, "AS")) {
                if (sl_accept_kw(L, "ROW")) {           /* MariaDB system versioning */
                    sl_next(L);                          /* START | END */
                    c->generated = true;
                    d->row_period = true;
                } else if (!sl_skip_parens(L, NULL, NULL)) {
                    return false;
                } else {
                    c->generated = true;
                }
            }
        } else if (sl_accept_kw(L, "AS")) {
            if (!sl_skip_parens(L, NULL, NULL)) return false;
            c->generated = true;
        } else if (sl_accept_kw(L, "VIRTUAL") || sl_accept_kw(L, "STORED") ||
                   sl_accept_kw(L, "PERSISTENT")) {
        } else if (sl_accept_kw(L, "SERIAL")) {
            /* SERIAL DEFAULT VALUE = NOT NULL AUTO_INCREMENT UNIQUE */
            if (!sl_expect_kw(L, "DEFAULT") || !sl_expect_kw(L, "VALUE")) return false;
            c->nullable = false;
            c->auto_increment = true;
        } else if (sl_is_kw(L, "WITH") || sl_is_kw(L, "WITHOUT")) {
            bool with = sl_accept_kw(L, "WITH");
            if (!with) sl_next(L);
            if (!sl_expect_kw(L, "SYSTEM") || !sl_expect_kw(L, "VERSIONING")) return false;
            d->versioned = with;
        } else {
            char b[64], msg[120];
            snprintf(msg, sizeof(msg), "unknown column attribute %s",
                     sl_tok_desc(L, b, sizeof(b)));
            sl_lex_fail(L, t->off, "%s", msg);
            return false;
        }
    }
    return !L->failed;
}

/* name type attributes. *d is filled (free it with sl_coldef_free). */
static bool sl_column_def(sl_lex_t *L, sl_coldef_t *d, bool with_name)
{
    memset(d, 0, sizeof(*d));
    if (with_name && !(d->col.name = sl_ident(L, "a column name"))) return false;
    if (!sl_data_type(L, d)) return false;
    return sl_col_attrs(L, d);
}

/* Resolve a column's charset once the table's is known. */
static void sl_coldef_charset(sl_coldef_t *d, const char *table_cs)
{
    sl_my_col_t *c = &d->col;
    if (c->charset) return;                        /* binary types */
    if (!sl_type_is_char(c->type)) return;
    const char *cs = d->cs ? d->cs : d->coll ? sl_my_collation_charset(d->coll) : table_cs;
    if (cs) c->charset = sl_strdup(cs);
    if (c->charset && !strcmp(c->charset, "binary")) {
        /* CHAR(n) CHARACTER SET binary is BINARY(n) */
        if (!strcmp(c->type, "CHAR")) sl_set_type(c, "BINARY");
        else if (!strcmp(c->type, "VARCHAR")) sl_set_type(c, "VARBINARY");
    }
}

static void sl_names_free(char **v, uint32_t n);

/* ( key_part, ... ) of a key: column names (prefix lengths and ASC/DESC dropped). On
 * failure nothing is left allocated. */
static bool sl_key_parts(sl_lex_t *L, char ***names, uint32_t *n)
{
    *names = NULL;
    *n = 0;
    if (!sl_expect_punct(L, '(')) return false;
    for (;;) {
        if (sl_is_punct(L, '(')) {
            /* a functional key part */
            if (!sl_skip_parens(L, NULL, NULL)) goto fail;
        } else {
            char *c = sl_ident(L, "a key column");
            if (!c) goto fail;
            *names = sl_realloc(*names, (*n + 1) * sizeof(char *));
            (*names)[(*n)++] = c;
            if (sl_is_punct(L, '(') && !sl_skip_parens(L, NULL, NULL)) goto fail;
        }
        if (!sl_accept_kw(L, "ASC")) sl_accept_kw(L, "DESC");
        if (sl_accept_punct(L, ',')) continue;
        if (sl_expect_punct(L, ')')) return true;
        goto fail;
    }
fail:
    sl_names_free(*names, *n);
    *names = NULL;
    *n = 0;
    return false;
}

static void sl_names_free(char **v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ======================================================================================
 * Table edits (on a working copy)
 * ==================================================================================== */

static void sl_tab_set_pk(sl_my_tab_t *t, char **names, uint32_t n)
{
    for (uint32_t i = 0; i < t->npk; i++) free(t->pk[i]);
    free(t->pk);
    t->pk = names;
    t->npk = n;
    for (uint32_t i = 0; i < n; i++) {
        int ci = sl_my_tab_col(t, names[i]);
        if (ci >= 0) {
            t->cols[ci].nullable = false;
            /* keep the column's own spelling */
            free(t->pk[i]);
            t->pk[i] = sl_strdup(t->cols[ci].name);
        }
    }
}

static void sl_tab_insert_col(sl_my_tab_t *t, uint32_t at, sl_my_col_t *c)
{
    t->cols = sl_realloc(t->cols, (t->ncols + 1) * sizeof(*t->cols));
    memmove(&t->cols[at + 1], &t->cols[at], (t->ncols - at) * sizeof(*t->cols));
    t->cols[at] = *c;
    t->ncols++;
    memset(c, 0, sizeof(*c));
}

static void sl_tab_remove_col(sl_my_tab_t *t, uint32_t at, sl_my_col_t *out)
{
    *out = t->cols[at];
    memmove(&t->cols[at], &t->cols[at + 1], (t->ncols - at - 1) * sizeof(*t->cols));
    t->ncols--;
}

/* MariaDB system versioning without declared period columns adds two hidden columns at
 * the end of the table (and of its row images): row_start and row_end, TIMESTAMP(6). */
static void sl_tab_add_row_period(sl_my_tab_t *t)
{
    static const char *const names[] = {"row_start", "row_end"};
    for (int i = 0; i < 2; i++) {
        if (sl_my_tab_col(t, names[i]) >= 0) continue;
        sl_my_col_t c = {0};
        c.name = sl_strdup(names[i]);
        c.type = sl_strdup("TIMESTAMP");
        c.length = 6;
        c.scale = -1;
        c.generated = true;
        sl_tab_insert_col(t, t->ncols, &c);
    }
}

static void sl_tab_pk_rename(sl_my_tab_t *t, const char *from, const char *to)
{
    for (uint32_t i = 0; i < t->npk; i++)
        if (!strcasecmp(t->pk[i], from)) {
            free(t->pk[i]);
            t->pk[i] = sl_strdup(to);
        }
}

static void sl_tab_pk_drop(sl_my_tab_t *t, const char *name)
{
    for (uint32_t i = 0; i < t->npk;) {
        if (!strcasecmp(t->pk[i], name)) {
            free(t->pk[i]);
            memmove(&t->pk[i], &t->pk[i + 1], (t->npk - i - 1) * sizeof(char *));
            t->npk--;
        } else {
            i++;
        }
    }
}

/* [FIRST | AFTER col] -> position for a column (default: the end). */
static bool sl_col_place(sl_lex_t *L, const sl_my_tab_t *t, uint32_t *at, bool *given)
{
    *given = false;
    *at = t->ncols;
    if (sl_accept_kw(L, "FIRST")) {
        *at = 0;
        *given = true;
        return true;
    }
    if (sl_accept_kw(L, "AFTER")) {
        char *a = sl_ident(L, "a column name");
        if (!a) return false;
        int i = sl_my_tab_col(t, a);
        if (i < 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "AFTER names column `%.60s`, which the table does "
                     "not have", a);
            sl_lex_fail(L, sl_peek(L)->off, "%s", msg);
            free(a);
            return false;
        }
        free(a);
        *at = (uint32_t)i + 1;
        *given = true;
    }
    return true;
}

static void sl_fail_col(sl_lex_t *L, const char *fmt, const char *col)
{
    char msg[200];
    snprintf(msg, sizeof(msg), fmt, col);
    sl_lex_fail(L, sl_peek(L)->off, "%s", msg);
}

/* Insert a parsed column definition at index at; a column-level PRIMARY KEY makes it the
 * table's key. */
static void sl_tab_insert_def(sl_my_tab_t *t, uint32_t at, sl_coldef_t *d)
{
    bool pk = d->pk;
    char *name = sl_strdup(d->col.name);
    sl_tab_insert_col(t, at, &d->col);
    if (pk) {
        char **v = sl_calloc(1, sizeof(char *));
        v[0] = name;
        sl_tab_set_pk(t, v, 1);
    } else {
        free(name);
    }
}

/* Add d as a new column of t at `at` (d's column is moved into t). */
static bool sl_tab_add(sl_lex_t *L, sl_my_tab_t *t, sl_coldef_t *d, uint32_t at,
                       bool if_not_exists)
{
    if (sl_my_tab_col(t, d->col.name) >= 0) {
        if (if_not_exists) return true;
        sl_fail_col(L, "column `%.60s` already exists", d->col.name);
        return false;
    }
    if (t->ncols >= SL_MY_MAX_COLUMNS) {
        sl_fail_col(L, "column `%.60s` would make more than 4096 columns (MySQL's limit)",
                    d->col.name);
        return false;
    }
    sl_coldef_charset(d, t->charset);
    sl_tab_insert_def(t, at, d);
    return true;
}

/* CHANGE old new def / MODIFY col def: replace the definition, maybe move it. */
static bool sl_tab_change(sl_lex_t *L, sl_my_tab_t *t, const char *old, sl_coldef_t *d,
                          bool if_exists)
{
    int i = sl_my_tab_col(t, old);
    if (i < 0) {
        if (if_exists) return true;
        sl_fail_col(L, "column `%.60s` does not exist", old);
        return false;
    }
    int j = sl_my_tab_col(t, d->col.name);
    if (j >= 0 && j != i) {
        sl_fail_col(L, "column `%.60s` already exists", d->col.name);
        return false;
    }
    sl_coldef_charset(d, t->charset);
    sl_my_col_t prev;
    sl_tab_remove_col(t, (uint32_t)i, &prev);
    uint32_t at;
    bool given;
    if (!sl_col_place(L, t, &at, &given)) {
        sl_tab_insert_col(t, (uint32_t)i, &prev);
        return false;
    }
    if (!given) at = (uint32_t)i;
    sl_tab_pk_rename(t, prev.name, d->col.name);
    bool in_pk = false;
    for (uint32_t k = 0; k < t->npk; k++) in_pk |= !strcasecmp(t->pk[k], d->col.name);
    if (in_pk) d->col.nullable = false;
    sl_my_col_clear(&prev);
    sl_tab_insert_def(t, at, d);
    return true;
}

/* ======================================================================================
 * Statements
 * ==================================================================================== */

typedef struct sl_ddl_ctx {
    sl_my_catalog_t        *cat;
    const sl_my_ddl_opts_t *o;
    sl_my_ddl_res_t        *res;
    sl_lex_t               *L;
    bool                    row_period;   /* the statement declared AS ROW START/END */
} sl_ddl_ctx_t;

static void sl_res_add(sl_my_ddl_res_t *r, sl_my_tc_type_t type, const char *db,
                       const char *name, const char *old_db, const char *old_name,
                       const sl_my_tab_t *tab)
{
    r->changes = sl_realloc(r->changes, (r->n + 1) * sizeof(*r->changes));
    sl_my_change_t *c = &r->changes[r->n++];
    memset(c, 0, sizeof(*c));
    c->type = type;
    c->db = sl_strdup(db);
    c->name = sl_strdup(name);
    c->old_db = sl_my_dupz(old_db);
    c->old_name = sl_my_dupz(old_name);
    c->tab = tab ? sl_my_tab_dup(tab) : NULL;
    if (!r->db) r->db = sl_strdup(db);
}

void sl_my_ddl_res_free(sl_my_ddl_res_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->changes[i].db);
        free(r->changes[i].name);
        free(r->changes[i].old_db);
        free(r->changes[i].old_name);
        sl_my_tab_free(r->changes[i].tab);
    }
    free(r->changes);
    free(r->db);
    memset(r, 0, sizeof(*r));
}

/* Is t a seed taken after this statement (which it therefore already contains)? */
static bool sl_seeded_after(const sl_ddl_ctx_t *x, const sl_my_tab_t *t)
{
    if (!t || !t->seeded || !x->o->file) return false;
    if (!t->seed_file) return true;
    return sl_my_pos_cmp(x->o->file, x->o->pos, t->seed_file, t->seed_pos) <= 0;
}

static const char *sl_dflt_db(const sl_ddl_ctx_t *x)
{
    return x->o->default_db ? x->o->default_db : "";
}

/* Table options after CREATE TABLE (...): charset, collation, comment; a SELECT makes
 * the columns unknowable here. Returns false (with a failure) for CREATE ... SELECT. */
static bool sl_table_options(sl_lex_t *L, char **cs, char **coll, char **comment,
                             bool *versioned)
{
    while (!sl_at_end(L)) {
        if (sl_is_kw(L, "WITH") && sl_next_is_kw(L, "SYSTEM")) {
            sl_next(L);
            sl_next(L);
            if (!sl_expect_kw(L, "VERSIONING")) return false;
            *versioned = true;
            continue;
        }
        if (sl_accept_punct(L, ',') || sl_accept_kw(L, "DEFAULT")) continue;
        if (sl_is_kw(L, "CHARACTER") || sl_is_kw(L, "CHAR")) {
            sl_next(L);
            if (!sl_expect_kw(L, "SET") || !sl_charset_value(L, cs)) return false;
        } else if (sl_accept_kw(L, "CHARSET")) {
            if (!sl_charset_value(L, cs)) return false;
        } else if (sl_accept_kw(L, "COLLATE")) {
            if (!sl_charset_value(L, coll)) return false;
        } else if (sl_accept_kw(L, "COMMENT")) {
            sl_accept_punct(L, '=');
            if (sl_peek(L)->kind != SL_TK_STR) {
                sl_expect_fail(L, "a quoted comment");
                return false;
            }
            sl_tok_t st = sl_next(L);
            free(*comment);
            *comment = sl_tok_unquote(&st);
        } else if (sl_is_kw(L, "PARTITION")) {
            return true;   /* partitioning: no effect on columns */
        } else if (sl_is_kw(L, "SELECT") || sl_is_kw(L, "AS") || sl_is_kw(L, "IGNORE") ||
                   sl_is_kw(L, "REPLACE") || sl_is_kw(L, "WITH")) {
            sl_lex_fail(L, sl_peek(L)->off, "%s", "CREATE TABLE ... SELECT takes columns "
                        "the statement does not list");
            return false;
        } else if (sl_is_punct(L, '(')) {
            if (!sl_skip_parens(L, NULL, NULL)) return false;
        } else {
            sl_next(L);
        }
    }
    return !L->failed;
}

/* The column list of CREATE TABLE into a new table. */
static sl_my_tab_t *sl_create_body(sl_lex_t *L, const char *db, const char *name,
                                   const char *db_cs)
{
    sl_my_tab_t *t = sl_calloc(1, sizeof(*t));
    t->db = sl_strdup(db);
    t->name = sl_strdup(name);
    sl_coldef_t *defs = NULL;
    size_t ndefs = 0, defs_cap = 0;
    char **pk = NULL;
    uint32_t npk = 0;
    char **json_cols = NULL;
    uint32_t njson = 0;
    char *cs = NULL, *coll = NULL;
    bool versioned = false, explicit_period = false;

    if (!sl_expect_punct(L, '(')) goto fail;
    for (;;) {
        const sl_tok_t *tk = sl_peek(L);
        bool constraint = false;
        if (tk->kind == SL_TK_WORD && sl_tok_is(tk, "CONSTRAINT")) {
            sl_next(L);
            constraint = true;
            if (!sl_is_kw(L, "PRIMARY") && !sl_is_kw(L, "UNIQUE") &&
                !sl_is_kw(L, "FOREIGN") && !sl_is_kw(L, "CHECK"))
                free(sl_ident(L, "a constraint name"));
            tk = sl_peek(L);
        }
        if (sl_tok_is(tk, "PRIMARY")) {
            sl_next(L);
            if (!sl_expect_kw(L, "KEY")) goto fail;
            if (sl_accept_kw(L, "USING")) sl_next(L);
            if (!sl_is_punct(L, '(')) free(sl_ident(L, "a key name"));
            if (L->failed) goto fail;
            sl_names_free(pk, npk);
            if (!sl_key_parts(L, &pk, &npk)) goto fail;
            sl_skip_to_sep(L);
        } else if (sl_tok_is(tk, "CHECK")) {
            sl_next(L);
            char *jc = sl_check_json(L);
            if (L->failed) goto fail;
            if (jc) {
                json_cols = sl_realloc(json_cols, (njson + 1) * sizeof(char *));
                json_cols[njson++] = jc;
            }
            sl_skip_to_sep(L);
        } else if (constraint || sl_tok_is(tk, "UNIQUE") || sl_tok_is(tk, "INDEX") ||
                   sl_tok_is(tk, "KEY") || sl_tok_is(tk, "FULLTEXT") ||
                   sl_tok_is(tk, "SPATIAL") || sl_tok_is(tk, "FOREIGN") ||
                   (sl_tok_is(tk, "VECTOR") && (sl_next_is_kw(L, "INDEX") ||
                                                sl_next_is_kw(L, "KEY"))) ||
                   (sl_tok_is(tk, "PERIOD") && sl_next_is_kw(L, "FOR"))) {
            sl_skip_to_sep(L);
        } else if (sl_tok_is(tk, "LIKE")) {
            sl_lex_fail(L, tk->off, "%s", "LIKE inside the column list");
            goto fail;
        } else {
            if (ndefs == SL_MY_MAX_COLUMNS) {
                sl_lex_fail(L, tk->off, "%s", "more than 4096 columns (MySQL's limit)");
                goto fail;
            }
            if (ndefs == defs_cap) {
                defs_cap = defs_cap ? defs_cap * 2 : 16;
                defs = sl_realloc(defs, defs_cap * sizeof(*defs));
            }
            if (!sl_column_def(L, &defs[ndefs++], true)) goto fail;
            explicit_period |= defs[ndefs - 1].row_period;
            versioned |= defs[ndefs - 1].versioned;
            if (defs[ndefs - 1].pk) {
                sl_names_free(pk, npk);
                pk = sl_calloc(1, sizeof(char *));
                pk[0] = sl_strdup(defs[ndefs - 1].col.name);
                npk = 1;
            }
        }
        if (L->failed) goto fail;
        if (sl_accept_punct(L, ',')) continue;
        if (!sl_expect_punct(L, ')')) goto fail;
        break;
    }
    if (!sl_table_options(L, &cs, &coll, &t->comment, &versioned)) goto fail;
    t->charset = cs ? sl_strdup(cs) : coll && sl_my_collation_charset(coll)
                     ? sl_strdup(sl_my_collation_charset(coll)) : db_cs ? sl_strdup(db_cs)
                                                                        : NULL;
    t->cols = sl_calloc(ndefs ? ndefs : 1, sizeof(*t->cols));
    for (size_t i = 0; i < ndefs; i++) {
        if (sl_my_tab_col(t, defs[i].col.name) >= 0) {
            sl_fail_col(L, "column `%.60s` is defined twice", defs[i].col.name);
            goto fail;
        }
        sl_coldef_charset(&defs[i], t->charset);
        t->cols[t->ncols++] = defs[i].col;
        memset(&defs[i].col, 0, sizeof(defs[i].col));
    }
    for (uint32_t i = 0; i < njson; i++) {
        int ci = sl_my_tab_col(t, json_cols[i]);
        if (ci >= 0) t->cols[ci].is_json = true;
    }
    if (npk) {
        sl_tab_set_pk(t, pk, npk);
        pk = NULL;
    }
    if (versioned && !explicit_period) sl_tab_add_row_period(t);
    for (size_t i = 0; i < ndefs; i++) sl_coldef_free(&defs[i]);
    free(defs);
    sl_names_free(json_cols, njson);
    free(cs);
    free(coll);
    return t;
fail:
    for (size_t i = 0; i < ndefs; i++) sl_coldef_free(&defs[i]);
    free(defs);
    sl_names_free(pk, npk);
    sl_names_free(json_cols, njson);
    free(cs);
    free(coll);
    sl_my_tab_free(t);
    if (!L->failed) sl_lex_fail(L, L->i, "%s", "cannot parse the table definition");
    return NULL;
}

static void sl_if_not_exists(sl_lex_t *L, bool *flag)
{
    if (sl_is_kw(L, "IF")) {
        sl_next(L);
        if (sl_expect_kw(L, "NOT") && sl_expect_kw(L, "EXISTS")) *flag = true;
    }
}

static void sl_if_exists(sl_lex_t *L, bool *flag)
{
    if (sl_is_kw(L, "IF")) {
        sl_next(L);
        if (sl_expect_kw(L, "EXISTS")) *flag = true;
    }
}

/* UNKNOWN for one table: it will be read from the server. */
static sl_my_ddl_rc_t sl_unknown(sl_ddl_ctx_t *x, sl_my_tc_type_t type, const char *db,
                                 const char *name)
{
    sl_my_ddl_res_t *r = x->res;
    snprintf(r->err, sizeof(r->err), "%s", x->L->err[0] ? x->L->err : "not understood");
    for (size_t i = 0; i < r->n; i++) {
        free(r->changes[i].db);
        free(r->changes[i].name);
        free(r->changes[i].old_db);
        free(r->changes[i].old_name);
        sl_my_tab_free(r->changes[i].tab);
    }
    r->n = 0;
    if (db && name && sl_my_catalog_tracks_db(x->cat, db))
        sl_res_add(r, type, db, name, NULL, NULL, NULL);
    if (!r->db) r->db = sl_strdup(db ? db : sl_dflt_db(x));
    return SL_MY_DDL_UNKNOWN;
}

static sl_my_ddl_rc_t sl_create_table(sl_ddl_ctx_t *x, bool or_replace)
{
    sl_lex_t *L = x->L;
    bool ine = false;
    sl_if_not_exists(L, &ine);
    char *db = NULL, *name = NULL;
    if (L->failed || !sl_table_name(L, sl_dflt_db(x), &db, &name)) {
        return sl_unknown(x, SL_MY_TC_CREATE, NULL, NULL);
    }
    sl_my_ddl_rc_t rc = SL_MY_DDL_NONE;
    if (!sl_my_catalog_tracks_db(x->cat, db)) goto out;
    const sl_my_tab_t *existing = sl_my_catalog_find(x->cat, db, name);
    SL_UNUSED(or_replace);
    sl_my_tab_t *t = NULL;
    bool like = false;
    if (sl_is_kw(L, "LIKE") || sl_is_punct(L, '(')) {
        sl_lex_t save = *L;
        bool paren = sl_accept_punct(L, '(');
        if (sl_accept_kw(L, "LIKE")) {
            like = true;
            char *sdb, *sname;
            if (!sl_table_name(L, sl_dflt_db(x), &sdb, &sname)) {
                rc = sl_unknown(x, SL_MY_TC_CREATE, db, name);
                goto out;
            }
            if (paren) sl_expect_punct(L, ')');
            const sl_my_tab_t *src = sl_my_catalog_find(x->cat, sdb, sname);
            if (src) t = sl_my_tab_dup(src);
            free(sdb);
            free(sname);
            if (L->failed || !sl_at_end(L)) {
                sl_my_tab_free(t);
                rc = sl_unknown(x, SL_MY_TC_CREATE, db, name);
                goto out;
            }
            if (!t) {
                /* the source table is not tracked: its schema must be read */
                if (existing && ine) goto applied_none;
                sl_lex_fail(L, L->i, "%s", "CREATE TABLE ... LIKE a table sluice does not "
                            "track");
                rc = sl_unknown(x, SL_MY_TC_CREATE, db, name);
                goto out;
            }
            t->seeded = false;
            free(t->seed_file);
            t->seed_file = NULL;
        } else {
            *L = save;
        }
    }
    if (!like) {
        t = sl_create_body(L, db, name, sl_my_catalog_db_charset(x->cat, db));
        if (!t) {
            rc = sl_unknown(x, SL_MY_TC_CREATE, db, name);
            goto out;
        }
    }
    if (existing && ine) {
        /* CREATE TABLE IF NOT EXISTS on an existing table: the server changed nothing */
        sl_my_tab_free(t);
        goto applied_none;
    }
    sl_my_catalog_set(x->cat, db, name, t);
    sl_res_add(x->res, SL_MY_TC_CREATE, db, name, NULL, NULL, t);
    rc = SL_MY_DDL_APPLIED;
    goto out;
applied_none:
    if (!x->res->db) x->res->db = sl_strdup(db);
    rc = SL_MY_DDL_APPLIED;
out:
    free(db);
    free(name);
    return rc;
}

/* One ALTER TABLE specification on the working copy t. *newname set by RENAME TO. */
static bool sl_alter_spec(sl_ddl_ctx_t *x, sl_my_tab_t *t, char **newdb, char **newname)
{
    sl_lex_t *L = x->L;
    const sl_tok_t *tk = sl_peek(L);
    if (tk->kind != SL_TK_WORD) {
        sl_expect_fail(L, "an ALTER TABLE clause");
        return false;
    }
    if (sl_accept_kw(L, "ADD")) {
        bool constraint = false;
        if (sl_accept_kw(L, "CONSTRAINT")) {
            constraint = true;
            if (!sl_is_kw(L, "PRIMARY") && !sl_is_kw(L, "UNIQUE") &&
                !sl_is_kw(L, "FOREIGN") && !sl_is_kw(L, "CHECK")) {
                bool ine = false;
                sl_if_not_exists(L, &ine);
                free(sl_ident(L, "a constraint name"));
            }
        }
        if (sl_accept_kw(L, "PRIMARY")) {
            if (!sl_expect_kw(L, "KEY")) return false;
            if (sl_accept_kw(L, "USING")) sl_next(L);
            if (!sl_is_punct(L, '(')) free(sl_ident(L, "a key name"));
            char **pk;
            uint32_t npk;
            if (L->failed || !sl_key_parts(L, &pk, &npk)) return false;
            for (uint32_t i = 0; i < npk; i++)
                if (sl_my_tab_col(t, pk[i]) < 0) {
                    sl_fail_col(L, "key column `%.60s` does not exist", pk[i]);
                    sl_names_free(pk, npk);
                    return false;
                }
            sl_tab_set_pk(t, pk, npk);
            sl_skip_to_sep(L);
            return true;
        }
        if (sl_accept_kw(L, "CHECK")) {
            char *jc = sl_check_json(L);
            if (L->failed) return false;
            int ci = jc ? sl_my_tab_col(t, jc) : -1;
            if (ci >= 0) t->cols[ci].is_json = true;
            free(jc);
            sl_skip_to_sep(L);
            return true;
        }
        if (constraint || sl_is_kw(L, "UNIQUE") || sl_is_kw(L, "INDEX") || sl_is_kw(L, "KEY") ||
            sl_is_kw(L, "FULLTEXT") || sl_is_kw(L, "SPATIAL") || sl_is_kw(L, "FOREIGN") ||
            sl_is_kw(L, "PARTITION") || (sl_is_kw(L, "PERIOD") && sl_next_is_kw(L, "FOR"))) {
            sl_skip_to_sep(L);
            return true;
        }
        if (sl_is_kw(L, "SYSTEM") && sl_next_is_kw(L, "VERSIONING")) {
            sl_next(L);
            sl_next(L);
            if (!x->row_period) sl_tab_add_row_period(t);
            return true;
        }
        sl_accept_kw(L, "COLUMN");
        bool ine = false;
        sl_if_not_exists(L, &ine);
        if (sl_accept_punct(L, '(')) {
            for (;;) {
                sl_coldef_t d;
                bool ok = sl_column_def(L, &d, true) && sl_tab_add(L, t, &d, t->ncols, ine);
                sl_coldef_free(&d);
                if (!ok) return false;
                if (sl_accept_punct(L, ',')) continue;
                return sl_expect_punct(L, ')');
            }
        }
        sl_coldef_t d;
        uint32_t at;
        bool given;
        bool ok = sl_column_def(L, &d, true) && sl_col_place(L, t, &at, &given);
        x->row_period |= ok && d.row_period;
        ok = ok && sl_tab_add(L, t, &d, at, ine);
        sl_coldef_free(&d);
        return ok;
    }
    if (sl_accept_kw(L, "CHANGE")) {
        sl_accept_kw(L, "COLUMN");
        bool ie = false;
        sl_if_exists(L, &ie);
        char *old = sl_ident(L, "a column name");
        if (!old) return false;
        sl_coldef_t d;
        bool ok = sl_column_def(L, &d, true) && sl_tab_change(L, t, old, &d, ie);
        sl_coldef_free(&d);
        free(old);
        return ok;
    }
    if (sl_accept_kw(L, "MODIFY")) {
        sl_accept_kw(L, "COLUMN");
        bool ie = false;
        sl_if_exists(L, &ie);
        sl_coldef_t d;
        bool ok = sl_column_def(L, &d, true);
        char *old = ok ? sl_strdup(d.col.name) : NULL;
        ok = ok && sl_tab_change(L, t, old, &d, ie);
        free(old);
        sl_coldef_free(&d);
        return ok;
    }
    if (sl_accept_kw(L, "DROP")) {
        if (sl_accept_kw(L, "PRIMARY")) {
            if (!sl_expect_kw(L, "KEY")) return false;
            sl_tab_set_pk(t, NULL, 0);
            return true;
        }
        if (sl_is_kw(L, "INDEX") || sl_is_kw(L, "KEY") || sl_is_kw(L, "FOREIGN") ||
            sl_is_kw(L, "CONSTRAINT") || sl_is_kw(L, "CHECK") || sl_is_kw(L, "PARTITION") ||
            (sl_is_kw(L, "PERIOD") && sl_next_is_kw(L, "FOR"))) {
            bool index = sl_is_kw(L, "INDEX") || sl_is_kw(L, "KEY");
            sl_next(L);
            if (index) {
                bool ie = false;
                sl_if_exists(L, &ie);
                char *iname = sl_ident(L, "an index name");
                if (iname && !strcasecmp(iname, "PRIMARY")) sl_tab_set_pk(t, NULL, 0);
                free(iname);
            }
            sl_skip_to_sep(L);
            return !L->failed;
        }
        if (sl_is_kw(L, "SYSTEM") && sl_next_is_kw(L, "VERSIONING")) {
            int a = sl_my_tab_col(t, "row_start"), b = sl_my_tab_col(t, "row_end");
            if (a < 0 || b < 0) {
                sl_lex_fail(L, sl_peek(L)->off, "%s", "DROP SYSTEM VERSIONING of declared "
                            "period columns");
                return false;
            }
            sl_next(L);
            sl_next(L);
            sl_my_col_t gone;
            sl_tab_remove_col(t, (uint32_t)(a > b ? a : b), &gone);
            sl_my_col_clear(&gone);
            sl_tab_remove_col(t, (uint32_t)(a > b ? b : a), &gone);
            sl_my_col_clear(&gone);
            return true;
        }
        sl_accept_kw(L, "COLUMN");
        bool ie = false;
        sl_if_exists(L, &ie);
        char *col = sl_ident(L, "a column name");
        if (!col) return false;
        int i = sl_my_tab_col(t, col);
        if (i < 0) {
            if (!ie) sl_fail_col(L, "column `%.60s` does not exist", col);
            free(col);
            return ie;
        }
        free(col);
        sl_my_col_t gone;
        sl_tab_remove_col(t, (uint32_t)i, &gone);
        sl_tab_pk_drop(t, gone.name);
        sl_my_col_clear(&gone);
        if (!sl_accept_kw(L, "RESTRICT")) sl_accept_kw(L, "CASCADE");
        return true;
    }
    if (sl_accept_kw(L, "RENAME")) {
        if (sl_accept_kw(L, "COLUMN")) {
            char *a = sl_ident(L, "a column name");
            if (!a) return false;
            char *b = sl_expect_kw(L, "TO") ? sl_ident(L, "a column name") : NULL;
            if (!b) {
                free(a);
                return false;
            }
            int i = sl_my_tab_col(t, a), j = sl_my_tab_col(t, b);
            bool ok = true;
            if (i < 0) {
                sl_fail_col(L, "column `%.60s` does not exist", a);
                ok = false;
            } else if (j >= 0 && j != i) {
                sl_fail_col(L, "column `%.60s` already exists", b);
                ok = false;
            } else {
                sl_tab_pk_rename(t, t->cols[i].name, b);
                free(t->cols[i].name);
                t->cols[i].name = sl_strdup(b);
            }
            free(a);
            free(b);
            return ok;
        }
        if (sl_accept_kw(L, "INDEX") || sl_accept_kw(L, "KEY")) {
            sl_skip_to_sep(L);
            return true;
        }
        if (!sl_accept_kw(L, "TO")) sl_accept_kw(L, "AS");
        free(*newdb);
        free(*newname);
        return sl_table_name(L, t->db, newdb, newname);
    }
    if (sl_accept_kw(L, "ALTER")) {
        if (sl_is_kw(L, "INDEX") || sl_is_kw(L, "KEY") || sl_is_kw(L, "CHECK") ||
            sl_is_kw(L, "CONSTRAINT")) {
            sl_skip_to_sep(L);
            return true;
        }
        sl_accept_kw(L, "COLUMN");
        bool ie = false;
        sl_if_exists(L, &ie);
        char *col = sl_ident(L, "a column name");
        if (!col) return false;
        int i = sl_my_tab_col(t, col);
        if (i < 0 && !ie) {
            sl_fail_col(L, "column `%.60s` does not exist", col);
            free(col);
            return false;
        }
        free(col);
        if (sl_accept_kw(L, "SET")) {
            if (sl_accept_kw(L, "DEFAULT")) {
                sl_my_col_t tmp = {0};
                if (!sl_default_value(L, &tmp)) return false;
                if (i >= 0) {
                    free(t->cols[i].default_expr);
                    t->cols[i].default_expr = tmp.default_expr;
                    tmp.default_expr = NULL;
                }
                sl_my_col_clear(&tmp);
                return true;
            }
            if (sl_accept_kw(L, "VISIBLE") || sl_accept_kw(L, "INVISIBLE")) return true;
            sl_expect_fail(L, "DEFAULT, VISIBLE or INVISIBLE");
            return false;
        }
        if (sl_accept_kw(L, "DROP")) {
            if (!sl_expect_kw(L, "DEFAULT")) return false;
            if (i >= 0) {
                free(t->cols[i].default_expr);
                t->cols[i].default_expr = NULL;
            }
            return true;
        }
        sl_expect_fail(L, "SET or DROP");
        return false;
    }
    /* [DEFAULT] CONVERT TO CHARACTER SET cs / [DEFAULT] CHARACTER SET cs / COLLATE c */
    sl_accept_kw(L, "DEFAULT");
    if (sl_accept_kw(L, "CONVERT")) {
        if (!sl_expect_kw(L, "TO")) return false;
        char *cs = NULL, *coll = NULL;
        if (sl_accept_kw(L, "CHARSET")) {
            if (!sl_charset_value(L, &cs)) return false;
        } else if ((sl_accept_kw(L, "CHARACTER") || sl_accept_kw(L, "CHAR")) &&
                   sl_expect_kw(L, "SET")) {
            if (!sl_charset_value(L, &cs)) return false;
        } else {
            sl_expect_fail(L, "CHARACTER SET");
            return false;
        }
        if (sl_accept_kw(L, "COLLATE")) sl_charset_value(L, &coll);
        free(coll);
        if (!strcmp(cs, "default")) {
            free(cs);
            sl_lex_fail(L, L->i, "%s", "CONVERT TO CHARACTER SET DEFAULT (the database's)");
            return false;
        }
        for (uint32_t i = 0; i < t->ncols; i++) {
            sl_my_col_t *c = &t->cols[i];
            if (!sl_type_is_char(c->type) || (c->charset && !strcmp(c->charset, "binary")))
                continue;
            free(c->charset);
            c->charset = sl_strdup(cs);
        }
        free(t->charset);
        t->charset = cs;
        return !L->failed;
    }
    if (sl_is_kw(L, "CHARACTER") || sl_is_kw(L, "CHAR") || sl_is_kw(L, "CHARSET") ||
        sl_is_kw(L, "COLLATE")) {
        char *cs = NULL, *coll = NULL;
        for (;;) {
            if (sl_is_kw(L, "CHARACTER") || sl_is_kw(L, "CHAR")) {
                sl_next(L);
                if (!sl_expect_kw(L, "SET") || !sl_charset_value(L, &cs)) break;
            } else if (sl_accept_kw(L, "CHARSET")) {
                if (!sl_charset_value(L, &cs)) break;
            } else if (sl_accept_kw(L, "COLLATE")) {
                if (!sl_charset_value(L, &coll)) break;
            } else {
                break;
            }
            sl_accept_kw(L, "DEFAULT");
        }
        const char *ncs = cs ? cs : sl_my_collation_charset(coll);
        if (ncs && strcmp(ncs, "default")) {
            free(t->charset);
            t->charset = sl_strdup(ncs);
        }
        free(cs);
        free(coll);
        return !L->failed;
    }
    if (sl_accept_kw(L, "COMMENT")) {
        sl_accept_punct(L, '=');
        if (sl_peek(L)->kind != SL_TK_STR) {
            sl_expect_fail(L, "a quoted comment");
            return false;
        }
        sl_tok_t st = sl_next(L);
        free(t->comment);
        t->comment = sl_tok_unquote(&st);
        return true;
    }
    /* Options and maintenance clauses that leave columns and the key alone. */
    static const char *const skip[] = {
        "ENGINE", "AUTO_INCREMENT", "AVG_ROW_LENGTH", "CHECKSUM", "COMPRESSION",
        "CONNECTION", "DATA", "INDEX", "DELAY_KEY_WRITE", "ENCRYPTED", "ENCRYPTION",
        "ENCRYPTION_KEY_ID", "INSERT_METHOD", "KEY_BLOCK_SIZE", "MAX_ROWS", "MIN_ROWS",
        "PACK_KEYS", "PAGE_CHECKSUM", "PAGE_COMPRESSED", "PAGE_COMPRESSION_LEVEL",
        "PASSWORD", "ROW_FORMAT", "STATS_AUTO_RECALC", "STATS_PERSISTENT",
        "STATS_SAMPLE_PAGES", "TABLESPACE", "TRANSACTIONAL", "UNION", "ALGORITHM", "LOCK",
        "FORCE", "ORDER", "ENABLE", "DISABLE", "DISCARD", "IMPORT", "VALIDATION",
        "COALESCE", "REORGANIZE", "EXCHANGE", "ANALYZE", "CHECK", "OPTIMIZE", "REBUILD",
        "REPAIR", "TRUNCATE", "REMOVE", "PARTITION", "SECONDARY_ENGINE", "SECONDARY_LOAD",
        "SECONDARY_UNLOAD", "ENGINE_ATTRIBUTE", "SECONDARY_ENGINE_ATTRIBUTE",
        "AUTOEXTEND_SIZE", "IETF_QUOTES", "SEQUENCE", "NOWAIT", "WAIT", "CONVERT_TO", NULL,
    };
    if (sl_is_kw(L, "WITH") || sl_is_kw(L, "WITHOUT")) {
        sl_lex_t save = *L;
        sl_next(L);
        bool sys = sl_is_kw(L, "SYSTEM");
        *L = save;
        if (sys) {
            sl_lex_fail(L, sl_peek(L)->off, "%s", "WITH SYSTEM VERSIONING in ALTER TABLE");
            return false;
        }
        sl_skip_to_sep(L);
        return true;
    }
    for (size_t i = 0; skip[i]; i++)
        if (sl_is_kw(L, skip[i])) {
            sl_skip_to_sep(L);
            return true;
        }
    char b[64], msg[120];
    snprintf(msg, sizeof(msg), "unknown ALTER TABLE clause %s", sl_tok_desc(L, b, sizeof(b)));
    sl_lex_fail(L, sl_peek(L)->off, "%s", msg);
    return false;
}

static sl_my_ddl_rc_t sl_alter_table(sl_ddl_ctx_t *x)
{
    sl_lex_t *L = x->L;
    bool ie = false;
    sl_if_exists(L, &ie);
    char *db = NULL, *name = NULL;
    if (L->failed || !sl_table_name(L, sl_dflt_db(x), &db, &name))
        return sl_unknown(x, SL_MY_TC_ALTER, NULL, NULL);
    sl_my_ddl_rc_t rc = SL_MY_DDL_NONE;
    char *ndb = NULL, *nname = NULL;
    sl_my_tab_t *t = NULL;
    if (!sl_my_catalog_tracks_db(x->cat, db)) {
        /* ALTER TABLE other.t RENAME TO tracked.t2: the new name is tracked */
        sl_lex_t save = *L;
        while (!sl_at_end(L)) {
            if (sl_accept_kw(L, "RENAME")) {
                if (sl_is_kw(L, "COLUMN") || sl_is_kw(L, "INDEX") || sl_is_kw(L, "KEY"))
                    continue;
                if (!sl_accept_kw(L, "TO")) sl_accept_kw(L, "AS");
                char *a, *b;
                if (sl_table_name(L, db, &a, &b)) {
                    if (sl_my_catalog_tracks_db(x->cat, a)) {
                        sl_res_add(x->res, SL_MY_TC_ALTER, a, b, db, name, NULL);
                        rc = SL_MY_DDL_APPLIED;
                    }
                    free(a);
                    free(b);
                }
                break;
            }
            sl_next(L);
        }
        *L = save;
        goto out;
    }
    const sl_my_tab_t *cur = sl_my_catalog_find(x->cat, db, name);
    if (!cur) {
        /* not tracked (never seen, or IF EXISTS on a missing table): read it if wanted */
        if (ie) {
            rc = SL_MY_DDL_APPLIED;
            if (!x->res->db) x->res->db = sl_strdup(db);
            goto out;
        }
        sl_lex_fail(L, L->i, "%s", "ALTER TABLE of a table sluice does not track");
        rc = sl_unknown(x, SL_MY_TC_ALTER, db, name);
        goto out;
    }
    if (sl_seeded_after(x, cur)) {
        x->res->skipped++;
        if (!x->res->db) x->res->db = sl_strdup(db);
        rc = SL_MY_DDL_APPLIED;
        goto out;
    }
    t = sl_my_tab_dup(cur);
    if (sl_accept_kw(L, "WAIT")) sl_next(L);
    else sl_accept_kw(L, "NOWAIT");
    while (!sl_at_end(L)) {
        if (!sl_alter_spec(x, t, &ndb, &nname)) break;
        if (sl_at_end(L)) break;
        if (!sl_accept_punct(L, ',')) {
            /* partition options follow without a comma */
            if (sl_is_kw(L, "PARTITION") || sl_is_kw(L, "REMOVE")) break;
            sl_expect_fail(L, "\",\"");
            break;
        }
    }
    if (L->failed) {
        rc = sl_unknown(x, SL_MY_TC_ALTER, db, name);
        goto out;
    }
    t->seeded = false;
    free(t->seed_file);
    t->seed_file = NULL;
    if (nname && (strcmp(ndb, db) || strcmp(nname, name))) {
        sl_my_catalog_set(x->cat, db, name, NULL);
        if (sl_my_catalog_tracks_db(x->cat, ndb)) {
            sl_my_catalog_set(x->cat, ndb, nname, t);
            sl_res_add(x->res, SL_MY_TC_ALTER, ndb, nname, db, name, t);
        } else {
            free(t->db);
            free(t->name);
            t->db = sl_strdup(ndb);
            t->name = sl_strdup(nname);
            sl_res_add(x->res, SL_MY_TC_ALTER, ndb, nname, db, name, t);
            sl_my_tab_free(t);
        }
    } else {
        sl_my_catalog_set(x->cat, db, name, t);
        sl_res_add(x->res, SL_MY_TC_ALTER, db, name, NULL, NULL, t);
    }
    t = NULL;
    rc = SL_MY_DDL_APPLIED;
out:
    sl_my_tab_free(t);
    free(db);
    free(name);
    free(ndb);
    free(nname);
    return rc;
}

static sl_my_ddl_rc_t sl_rename_tables(sl_ddl_ctx_t *x)
{
    sl_lex_t *L = x->L;
    bool ie = false;
    sl_if_exists(L, &ie);
    char **v = NULL;   /* db, name, new db, new name ... */
    size_t n = 0;
    for (;;) {
        v = sl_realloc(v, (n + 4) * sizeof(char *));
        if (!sl_table_name(L, sl_dflt_db(x), &v[n], &v[n + 1])) break;
        n += 2;
        if (!sl_expect_kw(L, "TO")) break;
        if (!sl_table_name(L, sl_dflt_db(x), &v[n], &v[n + 1])) break;
        n += 2;
        if (!sl_accept_punct(L, ',')) break;
    }
    if (!L->failed && sl_accept_kw(L, "WAIT")) sl_next(L);
    else if (!L->failed) sl_accept_kw(L, "NOWAIT");
    sl_my_ddl_rc_t rc = SL_MY_DDL_NONE;
    if (L->failed || n % 4 || !sl_at_end(L)) {
        if (!L->failed) sl_expect_fail(L, "\",\" or the end");
        rc = sl_unknown(x, SL_MY_TC_ALTER, NULL, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i += 4) {
        const char *odb = v[i], *on = v[i + 1], *ndb = v[i + 2], *nn = v[i + 3];
        bool ot = sl_my_catalog_tracks_db(x->cat, odb), nt = sl_my_catalog_tracks_db(x->cat, ndb);
        if (!ot && !nt) continue;
        const sl_my_tab_t *src = ot ? sl_my_catalog_find(x->cat, odb, on) : NULL;
        const sl_my_tab_t *dst = nt ? sl_my_catalog_find(x->cat, ndb, nn) : NULL;
        if (sl_seeded_after(x, src) || sl_seeded_after(x, dst)) {
            x->res->skipped++;
            if (!x->res->db) x->res->db = sl_strdup(nt ? ndb : odb);
            rc = SL_MY_DDL_APPLIED;
            continue;
        }
        sl_my_tab_t *t = src ? sl_my_tab_dup(src) : NULL;
        if (ot) sl_my_catalog_set(x->cat, odb, on, NULL);
        if (t) {
            t->seeded = false;
            free(t->seed_file);
            t->seed_file = NULL;
            free(t->db);
            free(t->name);
            t->db = sl_strdup(ndb);
            t->name = sl_strdup(nn);
        }
        /* a NULL table: the source was not tracked, its schema must be read */
        sl_res_add(x->res, SL_MY_TC_ALTER, ndb, nn, odb, on, t);
        if (nt && t) sl_my_catalog_set(x->cat, ndb, nn, t);
        else sl_my_tab_free(t);
        rc = SL_MY_DDL_APPLIED;
    }
out:
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    return rc;
}

static sl_my_ddl_rc_t sl_drop_tables(sl_ddl_ctx_t *x)
{
    sl_lex_t *L = x->L;
    bool ie = false;
    sl_if_exists(L, &ie);
    sl_my_ddl_rc_t rc = SL_MY_DDL_NONE;
    for (;;) {
        char *db, *name;
        if (!sl_table_name(L, sl_dflt_db(x), &db, &name)) break;
        if (sl_my_catalog_tracks_db(x->cat, db)) {
            const sl_my_tab_t *t = sl_my_catalog_find(x->cat, db, name);
            /* a seed read after this statement does not say what was dropped here */
            sl_res_add(x->res, SL_MY_TC_DROP, db, name, NULL, NULL,
                       sl_seeded_after(x, t) ? NULL : t);
            sl_my_catalog_set(x->cat, db, name, NULL);
            rc = SL_MY_DDL_APPLIED;
        }
        free(db);
        free(name);
        if (!sl_accept_punct(L, ',')) break;
    }
    if (!sl_accept_kw(L, "RESTRICT")) sl_accept_kw(L, "CASCADE");
    if (L->failed) return sl_unknown(x, SL_MY_TC_DROP, NULL, NULL);
    return rc;
}

/* CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX ... ON t (...): the key is unaffected. DROP INDEX
 * `PRIMARY` ON t drops the primary key. */
static sl_my_ddl_rc_t sl_drop_index(sl_ddl_ctx_t *x)
{
    sl_lex_t *L = x->L;
    bool ie = false;
    sl_if_exists(L, &ie);
    char *iname = sl_ident(L, "an index name");
    char *db = NULL, *name = NULL;
    sl_my_ddl_rc_t rc = SL_MY_DDL_NONE;
    if (!iname || !sl_expect_kw(L, "ON") || !sl_table_name(L, sl_dflt_db(x), &db, &name)) {
        free(iname);
        return sl_unknown(x, SL_MY_TC_ALTER, NULL, NULL);
    }
    if (strcasecmp(iname, "PRIMARY") == 0 && sl_my_catalog_tracks_db(x->cat, db)) {
        const sl_my_tab_t *cur = sl_my_catalog_find(x->cat, db, name);
        if (cur && sl_seeded_after(x, cur)) {
            x->res->skipped++;
            rc = SL_MY_DDL_APPLIED;
        } else if (cur) {
            sl_my_tab_t *t = sl_my_tab_dup(cur);
            sl_tab_set_pk(t, NULL, 0);
            t->seeded = false;
            sl_my_catalog_set(x->cat, db, name, t);
            sl_res_add(x->res, SL_MY_TC_ALTER, db, name, NULL, NULL, t);
            rc = SL_MY_DDL_APPLIED;
        }
    }
    free(iname);
    free(db);
    free(name);
    return rc;
}

static sl_my_ddl_rc_t sl_database_stmt(sl_ddl_ctx_t *x, const char *verb)
{
    sl_lex_t *L = x->L;
    bool flag = false;
    if (!strcmp(verb, "CREATE")) sl_if_not_exists(L, &flag);
    else if (!strcmp(verb, "DROP")) sl_if_exists(L, &flag);
    char *db = NULL;
    /* ALTER DATABASE may omit the name (the default database) */
    if (!strcmp(verb, "ALTER") && (sl_is_kw(L, "DEFAULT") || sl_is_kw(L, "CHARACTER") ||
                                   sl_is_kw(L, "CHARSET") || sl_is_kw(L, "COLLATE")))
        db = sl_strdup(sl_dflt_db(x));
    else
        db = sl_ident(L, "a database name");
    if (!db) return SL_MY_DDL_NONE;
    sl_my_ddl_rc_t rc = SL_MY_DDL_NONE;
    if (!sl_my_catalog_tracks_db(x->cat, db)) goto out;
    if (!strcmp(verb, "DROP")) {
        for (size_t i = 0; i < x->cat->n;) {
            sl_my_tab_t *t = x->cat->t[i];
            if (strcmp(t->db, db)) {
                i++;
                continue;
            }
            char *name = sl_strdup(t->name);
            sl_res_add(x->res, SL_MY_TC_DROP, db, name, NULL, NULL,
                       sl_seeded_after(x, t) ? NULL : t);
            sl_my_catalog_set(x->cat, db, name, NULL);
            free(name);
        }
        sl_my_catalog_forget_db(x->cat, db);
        x->res->db_charset_changed = true;
        if (!x->res->db) x->res->db = sl_strdup(db);
        rc = SL_MY_DDL_APPLIED;
        goto out;
    }
    char *cs = NULL, *coll = NULL;
    while (!sl_at_end(L)) {
        if (sl_accept_kw(L, "DEFAULT")) continue;
        if (sl_is_kw(L, "CHARACTER") || sl_is_kw(L, "CHAR")) {
            sl_next(L);
            if (!sl_expect_kw(L, "SET") || !sl_charset_value(L, &cs)) break;
        } else if (sl_accept_kw(L, "CHARSET")) {
            if (!sl_charset_value(L, &cs)) break;
        } else if (sl_accept_kw(L, "COLLATE")) {
            if (!sl_charset_value(L, &coll)) break;
        } else {
            sl_next(L);
        }
    }
    const char *ncs = cs ? cs : sl_my_collation_charset(coll);
    if (!strcmp(verb, "CREATE")) {
        /* without a charset the server default applies, which the statement does not say */
        if (!(flag && sl_my_catalog_has_db(x->cat, db))) {
            sl_my_catalog_set_db_charset(x->cat, db, ncs);
            x->res->db_charset_changed = true;
        }
    } else if (ncs) {
        sl_my_catalog_set_db_charset(x->cat, db, ncs);
        x->res->db_charset_changed = true;
    }
    free(cs);
    free(coll);
    if (!x->res->db) x->res->db = sl_strdup(db);
    rc = x->res->db_charset_changed ? SL_MY_DDL_APPLIED : SL_MY_DDL_NONE;
out:
    free(db);
    return rc;
}

sl_my_ddl_rc_t sl_my_ddl_apply(sl_my_catalog_t *c, const char *sql, size_t len,
                               const sl_my_ddl_opts_t *o, sl_my_ddl_res_t *res)
{
    memset(res, 0, sizeof(*res));
    sl_lex_t L = {.s = sql, .n = len, .mariadb = o->mariadb};
    sl_ddl_ctx_t x = {.cat = c, .o = o, .res = res, .L = &L};
    sl_my_ddl_rc_t rc = SL_MY_DDL_NONE;

    if (sl_accept_kw(&L, "CREATE")) {
        bool or_replace = false;
        if (sl_accept_kw(&L, "OR")) {
            if (!sl_accept_kw(&L, "REPLACE")) return SL_MY_DDL_NONE;
            or_replace = true;
        }
        if (sl_accept_kw(&L, "TEMPORARY")) return SL_MY_DDL_NONE;
        if (sl_accept_kw(&L, "TABLE")) rc = sl_create_table(&x, or_replace);
        else if (sl_accept_kw(&L, "DATABASE") || sl_accept_kw(&L, "SCHEMA"))
            rc = sl_database_stmt(&x, "CREATE");
        else
            return SL_MY_DDL_NONE;   /* index, view, user, trigger, routine, ... */
    } else if (sl_accept_kw(&L, "ALTER")) {
        sl_accept_kw(&L, "ONLINE");
        sl_accept_kw(&L, "IGNORE");
        if (sl_accept_kw(&L, "TABLE")) rc = sl_alter_table(&x);
        else if (sl_accept_kw(&L, "DATABASE") || sl_accept_kw(&L, "SCHEMA"))
            rc = sl_database_stmt(&x, "ALTER");
        else
            return SL_MY_DDL_NONE;
    } else if (sl_accept_kw(&L, "DROP")) {
        if (sl_accept_kw(&L, "TEMPORARY")) return SL_MY_DDL_NONE;
        if (sl_accept_kw(&L, "TABLE") || sl_accept_kw(&L, "TABLES")) rc = sl_drop_tables(&x);
        else if (sl_accept_kw(&L, "INDEX")) rc = sl_drop_index(&x);
        else if (sl_accept_kw(&L, "DATABASE") || sl_accept_kw(&L, "SCHEMA"))
            rc = sl_database_stmt(&x, "DROP");
        else
            return SL_MY_DDL_NONE;
    } else if (sl_accept_kw(&L, "RENAME")) {
        if (sl_accept_kw(&L, "TABLE") || sl_accept_kw(&L, "TABLES")) rc = sl_rename_tables(&x);
        else
            return SL_MY_DDL_NONE;
    } else {
        return SL_MY_DDL_NONE;       /* TRUNCATE, GRANT, SET, DML, ... */
    }
    if (rc == SL_MY_DDL_UNKNOWN && !res->err[0])
        snprintf(res->err, sizeof(res->err), "%s", L.err[0] ? L.err : "not understood");
    return rc;
}

sl_my_tab_t *sl_my_ddl_parse_create(const char *sql, size_t len, const char *db,
                                    const char *name, const char *db_charset, bool mariadb,
                                    char *errstr, size_t errstr_size)
{
    sl_lex_t L = {.s = sql, .n = len, .mariadb = mariadb};
    sl_my_tab_t *t = NULL;
    if (sl_expect_kw(&L, "CREATE")) {
        if (sl_accept_kw(&L, "OR")) sl_expect_kw(&L, "REPLACE");
        if (sl_expect_kw(&L, "TABLE")) {
            bool ine = false;
            sl_if_not_exists(&L, &ine);
            char *d = NULL, *n = NULL;
            if (sl_table_name(&L, db, &d, &n)) t = sl_create_body(&L, db, name, db_charset);
            free(d);
            free(n);
        }
    }
    if (!t) sl_err(errstr, errstr_size, "%s", L.err[0] ? L.err : "not a CREATE TABLE");
    return t;
}

int sl_my_ddl_parse_type(const char *text, sl_my_col_t *col, bool mariadb, char *errstr,
                         size_t errstr_size)
{
    sl_lex_t L = {.s = text, .n = strlen(text), .mariadb = mariadb};
    sl_coldef_t d;
    memset(&d, 0, sizeof(d));
    bool ok = sl_data_type(&L, &d);
    while (ok && !sl_at_end(&L)) {
        if (sl_accept_kw(&L, "UNSIGNED")) d.col.is_unsigned = true;
        else if (sl_accept_kw(&L, "ZEROFILL")) d.col.zerofill = d.col.is_unsigned = true;
        else if (sl_accept_kw(&L, "SIGNED")) d.col.is_unsigned = false;
        else {
            sl_expect_fail(&L, "UNSIGNED or ZEROFILL");
            ok = false;
        }
    }
    if (!ok) {
        sl_coldef_free(&d);
        return sl_err(errstr, errstr_size, "column type \"%s\": %s", text, L.err);
    }
    free(col->type);
    col->type = d.col.type;
    col->length = d.col.length;
    col->scale = d.col.scale;
    col->is_unsigned = d.col.is_unsigned;
    col->zerofill = d.col.zerofill;
    if (d.col.is_json) col->is_json = true;
    if (d.col.charset && !col->charset) col->charset = sl_strdup(d.col.charset);
    for (uint32_t i = 0; i < col->nlabels; i++) free(col->labels[i]);
    free(col->labels);
    col->labels = d.col.labels;
    col->nlabels = d.col.nlabels;
    d.col.type = NULL;
    d.col.labels = NULL;
    d.col.nlabels = 0;
    sl_coldef_free(&d);
    return SL_OK;
}

bool sl_my_type_is_char(const char *type) { return sl_type_is_char(type); }
bool sl_my_type_is_binary(const char *type) { return sl_type_is_binary(type); }
