/*
 * sl_redact.c - what of a spec may be shown: a redacted copy of the spec tree for API
 * responses and logs. Masks values that came from ${VAR} (they are how users pass
 * secrets), keys the connectors flag SL_CF_SECRET (passwords inside DSNs and URIs only,
 * so hosts stay visible), and any key that looks like a password, secret or token (for
 * free-form maps such as Kafka's client_conf). Pure; any thread.
 */
#include "sl_spec.h"
#include "sl_buf.h"

#define SL_MASK "****"

static bool sl_key_is_secretish(const char *key)
{
    static const char *const words[] = {"password", "passwd", "secret", "token", "credential",
                                        "private.key", "key.pem"};
    for (size_t i = 0; i < SL_ARRAY_SIZE(words); i++)
        if (strcasestr(key, words[i])) return true;
    return false;
}

char *sl_mask_dsn(const char *s)
{
    sl_buf_t b = SL_BUF_INIT;
    const char *scheme = strstr(s, "://");
    if (scheme) {
        /* scheme://[user[:password]@]host... : mask what follows ':' in the userinfo */
        const char *auth = scheme + 3;
        const char *end = auth + strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *p = auth; p < end; p++)
            if (*p == '@') at = p;
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                sl_buf_put(&b, s, (size_t)(colon + 1 - s));
                sl_buf_puts(&b, SL_MASK);
                s = at;
            }
        }
        /* query parameters such as ?password=... */
    }
    /* key=value parameters (libpq conninfo, URI query strings) */
    while (*s) {
        const char *hit = strcasestr(s, "password=");
        if (!hit) {
            sl_buf_puts(&b, s);
            break;
        }
        bool at_word = hit == s || hit[-1] == ' ' || hit[-1] == '?' || hit[-1] == '&' ||
                       hit[-1] == '\t';
        sl_buf_put(&b, s, (size_t)(hit - s) + 9);
        s = hit + 9;
        if (!at_word) continue;
        sl_buf_puts(&b, SL_MASK);
        if (*s == '\'') {   /* quoted conninfo value, with \' escapes */
            s++;
            while (*s && *s != '\'') s += (*s == '\\' && s[1]) ? 2 : 1;
            if (*s) s++;
        } else {
            s += strcspn(s, " \t&");
        }
    }
    return sl_buf_steal(&b);
}

static void sl_mask_value(json_t *parent_obj, const char *key, json_t *v, bool whole)
{
    if (!json_is_string(v)) {
        json_object_set_new(parent_obj, key, json_string(SL_MASK));
        return;
    }
    const char *str = json_string_value(v);
    bool dsnish = strstr(str, "://") || strchr(str, '=');
    if (whole || !dsnish) {
        json_object_set_new(parent_obj, key, json_string(SL_MASK));
    } else {
        char *m = sl_mask_dsn(str);
        json_object_set_new(parent_obj, key, json_string(m));
        free(m);
    }
}

/* paths: an object whose keys are the expanded paths (a hash: the walk looks up every
 * node, and a list scanned per node made a spec with thousands of ${VAR} values take
 * minutes). */
static bool sl_path_in(const json_t *paths, const char *path)
{
    return json_object_get(paths, path) != NULL;
}

/* Walk v (at path) masking expanded paths and secret-looking keys; defs (may be NULL)
 * describes v's keys when it is a connector config object. */
static void sl_redact_walk(json_t *v, const char *path, const json_t *expanded,
                           const sl_conf_def_t *defs)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *item;
        void *tmp;
        json_object_foreach_safe(v, tmp, key, item) {
            sl_buf_t kp = SL_BUF_INIT;
            sl_path_key(&kp, path, key);
            const sl_conf_def_t *d = NULL;
            for (const sl_conf_def_t *x = defs; x && x->key; x++)
                if (strcmp(x->key, key) == 0) d = x;
            if (sl_path_in(expanded, sl_buf_cstr(&kp))) {
                sl_mask_value(v, key, item, true);
            } else if ((d && (d->flags & SL_CF_SECRET)) || sl_key_is_secretish(key)) {
                sl_mask_value(v, key, item, !(d && (d->flags & SL_CF_SECRET)));
            } else {
                sl_redact_walk(item, sl_buf_cstr(&kp), expanded,
                               d && d->type == SL_CT_OBJ ? d->sub : NULL);
            }
            sl_buf_free(&kp);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            sl_buf_t ip = SL_BUF_INIT;
            sl_buf_puts(&ip, path);
            sl_buf_printf(&ip, "[%zu]", i);
            if (sl_path_in(expanded, sl_buf_cstr(&ip)))
                json_array_set_new(v, i, json_string(SL_MASK));
            else
                sl_redact_walk(item, sl_buf_cstr(&ip), expanded, NULL);
            sl_buf_free(&ip);
        }
    }
}

json_t *sl_spec_redacted(const sl_spec_t *spec)
{
    json_t *copy = json_deep_copy(spec->tree);
    json_t *expanded = json_object();
    size_t i;
    json_t *p;
    json_array_foreach(spec->expanded, i, p)
        if (json_is_string(p)) json_object_set_new(expanded, json_string_value(p), json_true());
    json_t *body = json_object_get(copy, "spec");

    /* Connector configs first, with their key tables (SL_CF_SECRET). */
    json_t *src = json_object_get(json_object_get(body, "source"), "config");
    if (src) sl_redact_walk(src, "spec.source.config", expanded, spec->source_ops->conf);
    json_t *sinks = json_object_get(body, "sinks");
    for (size_t i = 0; i < spec->nsinks && i < json_array_size(sinks); i++) {
        json_t *cfg = json_object_get(json_array_get(sinks, i), "config");
        char path[64];
        snprintf(path, sizeof(path), "spec.sinks[%zu].config", i);
        if (cfg) sl_redact_walk(cfg, path, expanded, spec->sinks[i].ops->conf);
    }
    /* Then everything (expanded values anywhere, secret-looking keys). Already masked
     * values are plain strings now, so walking them again changes nothing. */
    sl_redact_walk(copy, "", expanded, NULL);
    json_decref(expanded);
    return copy;
}
