/*
 * sl_manager.c - the pipelines of `sluice serve` (see sl_manager.h).
 *
 * Persistence: <data_dir>/<name>/pipeline.json holds the validated spec tree (after
 * ${VAR} expansion), the paths that came from variables (masked in output) and the
 * desired state; it is rewritten atomically on every change. The checkpoint lives next
 * to it (checkpoint.json, written by the pipeline runtime).
 *
 * Locks: m->lock guards the list and refcounts; mp->op serializes lifecycle changes of
 * one pipeline and guards its spec/pl/want/last_error. Order: m->lock is never held
 * while taking an op lock (take a reference, drop m->lock, then lock op).
 */
#include "sl_manager.h"
#include "sl_log.h"
#include "sl_json.h"

#include <pthread.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdatomic.h>

#define SL_RESTART_MIN_MS  1000
#define SL_RESTART_MAX_MS  60000

typedef enum { SL_WANT_RUNNING = 0, SL_WANT_PAUSED, SL_WANT_STOPPED } sl_want_t;
static const char *const sl_want_names[] = {"running", "paused", "stopped"};

/* Counters of earlier runtimes of a pipeline (it restarts on patch, stop/start, failure)
 * so the reported counters stay monotonic for the life of the process. */
typedef struct sl_sink_base {
    char    *id;
    uint64_t events, batches, retries, errors, gave_up;
} sl_sink_base_t;

typedef struct sl_managed {
    char            *name;
    pthread_mutex_t  op;
    /* guarded by op */
    sl_spec_t       *spec;
    sl_pipeline_t   *pl;
    sl_want_t        want;
    char             last_error[SL_ERRSTR_SIZE];
    uint64_t         restarts;
    sl_pipeline_stats_t base;          /* summed counters of stopped runtimes */
    sl_sink_base_t  *sink_base;
    size_t           nsink_base;
    uint64_t         next_restart_us;   /* monotonic; 0: now */
    unsigned         backoff_ms;
    /* guarded by m->lock; `deleted` is set holding both m->lock and op, so reading it
     * under either is enough (requests re-check it once they hold op, see sl_lock_live) */
    int              refs;
    bool             deleted;
    struct sl_managed *next;
} sl_managed_t;

struct sl_manager {
    char            *data_dir;
    pthread_mutex_t  lock;
    sl_managed_t    *list;
    pthread_t        supervisor;
    atomic_bool      stop;
    uint64_t         started_wall_us;
};

void sl_result_clear(sl_result_t *r)
{
    if (r->details) json_decref(r->details);
    if (r->body) json_decref(r->body);
    memset(r, 0, sizeof(*r));
}

static void sl_result_err(sl_result_t *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sl_result_err(sl_result_t *r, int status, const char *code, const char *fmt, ...)
{
    r->status = status;
    snprintf(r->code, sizeof(r->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

/* Validation errors as details: [{"field": path, "message": text}]. Messages look like
 * "origin:line: path: message" or "path: message". */
static json_t *sl_errs_details(const sl_errs_t *errs, const char *origin)
{
    json_t *arr = json_array();
    size_t olen = strlen(origin);
    for (size_t i = 0; i < errs->n; i++) {
        const char *m = errs->msg[i];
        json_t *line = NULL;
        if (!strncmp(m, origin, olen) && m[olen] == ':') {
            m += olen + 1;
            if (*m >= '0' && *m <= '9') {
                line = json_integer(strtol(m, NULL, 10));
                m += strspn(m, "0123456789");
                if (*m == ':') m++;
            }
            while (*m == ' ') m++;
        }
        const char *sep = strstr(m, ": ");
        json_t *d = json_object();
        if (sep && !memchr(m, ' ', (size_t)(sep - m))) {
            json_object_set_new(d, "field", json_stringn(m, (size_t)(sep - m)));
            json_object_set_new(d, "message", json_string(sep + 2));
        } else {
            json_object_set_new(d, "field", json_string(""));
            json_object_set_new(d, "message", json_string(m));
        }
        if (line) json_object_set_new(d, "line", line);
        json_array_append_new(arr, d);
    }
    return arr;
}

static void sl_result_invalid(sl_result_t *r, const sl_errs_t *errs, const char *origin)
{
    sl_result_err(r, 400, "invalid_spec", "the spec has %zu error%s", sl_errs_count(errs),
                  sl_errs_count(errs) == 1 ? "" : "s");
    r->details = sl_errs_details(errs, origin);
}

/* ================================================================================= */
/* Registry                                                                          */
/* ================================================================================= */

static sl_managed_t *sl_find_ref(sl_manager_t *m, const char *name)
{
    pthread_mutex_lock(&m->lock);
    sl_managed_t *mp = m->list;
    while (mp && (mp->deleted || strcmp(mp->name, name) != 0)) mp = mp->next;
    if (mp) mp->refs++;
    pthread_mutex_unlock(&m->lock);
    return mp;
}

static void sl_managed_free(sl_managed_t *mp)
{
    for (size_t i = 0; i < mp->nsink_base; i++) free(mp->sink_base[i].id);
    free(mp->sink_base);
    if (mp->pl) sl_pipeline_free(mp->pl);
    if (mp->spec) sl_spec_free(mp->spec);
    pthread_mutex_destroy(&mp->op);
    free(mp->name);
    free(mp);
}

static void sl_unref(sl_manager_t *m, sl_managed_t *mp)
{
    pthread_mutex_lock(&m->lock);
    bool last = --mp->refs == 0 && mp->deleted;
    if (last) {
        sl_managed_t **pp = &m->list;
        while (*pp && *pp != mp) pp = &(*pp)->next;
        if (*pp) *pp = mp->next;
    }
    pthread_mutex_unlock(&m->lock);
    if (last) sl_managed_free(mp);
}

/* Find a live pipeline by name, take a reference and its op lock. A request that found
 * the pipeline and then waited for op while a DELETE held it must not act on it: persisting
 * would resurrect the deleted pipeline at the next start, and starting it would leave a
 * runtime running on a pipeline about to be freed. Returns the locked pipeline, or NULL
 * with a 404 in r. */
static sl_managed_t *sl_lock_live(sl_manager_t *m, const char *name, sl_result_t *r)
{
    sl_managed_t *mp = sl_find_ref(m, name);
    if (mp) {
        pthread_mutex_lock(&mp->op);
        if (!mp->deleted) return mp;
        pthread_mutex_unlock(&mp->op);
        sl_unref(m, mp);
    }
    sl_result_err(r, 404, "not_found", "no pipeline named %s", name);
    return NULL;
}

/* Take references on every live pipeline (for iteration without m->lock). */
static size_t sl_snapshot_refs(sl_manager_t *m, sl_managed_t ***out)
{
    pthread_mutex_lock(&m->lock);
    size_t n = 0;
    for (sl_managed_t *mp = m->list; mp; mp = mp->next)
        if (!mp->deleted) n++;
    sl_managed_t **arr = sl_calloc(n ? n : 1, sizeof(*arr));
    size_t i = 0;
    for (sl_managed_t *mp = m->list; mp; mp = mp->next)
        if (!mp->deleted) {
            mp->refs++;
            arr[i++] = mp;
        }
    pthread_mutex_unlock(&m->lock);
    /* list order is newest first; present oldest first */
    for (size_t a = 0, b = n ? n - 1 : 0; a < b; a++, b--) {
        sl_managed_t *t = arr[a];
        arr[a] = arr[b];
        arr[b] = t;
    }
    *out = arr;
    return n;
}

static void sl_release_refs(sl_manager_t *m, sl_managed_t **arr, size_t n)
{
    for (size_t i = 0; i < n; i++) sl_unref(m, arr[i]);
    free(arr);
}

/* ================================================================================= */
/* Persistence                                                                       */
/* ================================================================================= */

static char *sl_pdir(const sl_manager_t *m, const char *name, const char *file)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_printf(&b, "%s/%s%s%s", m->data_dir, name, file ? "/" : "", file ? file : "");
    return sl_buf_steal(&b);
}

/* Write pipeline.json (op lock held). */
static int sl_persist(sl_manager_t *m, sl_managed_t *mp, char *errstr, size_t errstr_size)
{
    char *dir = sl_pdir(m, mp->name, NULL);
    int rc = sl_mkdirs(dir, errstr, errstr_size);
    free(dir);
    if (rc != SL_OK) return rc;
    json_t *doc = json_pack("{s:s, s:s, s:O, s:O}", "name", mp->name, "desired",
                            sl_want_names[mp->want], "spec", mp->spec->tree, "expanded",
                            mp->spec->expanded);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    char *path = sl_pdir(m, mp->name, "pipeline.json");
    rc = sl_write_file_atomic(path, text, strlen(text), errstr, errstr_size);
    if (rc == SL_OK) chmod(path, 0600);   /* it holds expanded secrets */
    free(path);
    free(text);
    return rc;
}

/* ================================================================================= */
/* Lifecycle (op lock held)                                                          */
/* ================================================================================= */

static sl_sink_base_t *sl_sink_base(sl_managed_t *mp, const char *id)
{
    for (size_t i = 0; i < mp->nsink_base; i++)
        if (!strcmp(mp->sink_base[i].id, id)) return &mp->sink_base[i];
    mp->sink_base = sl_realloc(mp->sink_base, (mp->nsink_base + 1) * sizeof(*mp->sink_base));
    sl_sink_base_t *b = &mp->sink_base[mp->nsink_base++];
    memset(b, 0, sizeof(*b));
    b->id = sl_strdup(id);
    return b;
}

static void sl_hist_add(sl_hist_t *to, const sl_hist_t *from)
{
    for (int i = 0; i <= SL_HIST_BUCKETS; i++) to->count[i] += from->count[i];
    to->sum += from->sum;
    to->n += from->n;
}

/* Counters of the current runtime plus those of earlier ones (op lock held). */
static void sl_total_stats(sl_managed_t *mp, sl_pipeline_stats_t *st)
{
    sl_pipeline_stats_t cur = {0};
    if (mp->pl) sl_pipeline_get_stats(mp->pl, &cur);
    *st = cur;
    st->events_in += mp->base.events_in;
    st->events_out += mp->base.events_out;
    st->batches += mp->base.batches;
    st->tx += mp->base.tx;
    st->sink_retries += mp->base.sink_retries;
    st->sink_errors += mp->base.sink_errors;
    st->sink_gave_up += mp->base.sink_gave_up;
    st->processor_seconds += mp->base.processor_seconds;
    st->snapshot_rows += mp->base.snapshot_rows;
    sl_hist_add(&st->batch_size, &mp->base.batch_size);
    sl_hist_add(&st->latency, &mp->base.latency);
    if (!st->ckpt_commit_us) st->ckpt_commit_us = mp->base.ckpt_commit_us;
}

static void sl_total_sink_stats(sl_managed_t *mp, size_t i, sl_sink_stats_t *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (mp->pl) sl_pipeline_get_sink_stats(mp->pl, i, ss);
    const char *id = sl_sink_spec_common(&mp->spec->sinks[i])->id;
    ss->id = id;
    ss->required = sl_sink_spec_common(&mp->spec->sinks[i])->required;
    for (size_t k = 0; k < mp->nsink_base; k++)
        if (!strcmp(mp->sink_base[k].id, id)) {
            ss->events += mp->sink_base[k].events;
            ss->batches += mp->sink_base[k].batches;
            ss->retries += mp->sink_base[k].retries;
            ss->errors += mp->sink_base[k].errors;
            ss->gave_up += mp->sink_base[k].gave_up;
        }
}

static void sl_stop_locked(sl_managed_t *mp)
{
    if (!mp->pl) return;
    sl_pipeline_request_stop(mp->pl);
    if (sl_pipeline_join(mp->pl) != SL_OK)
        snprintf(mp->last_error, sizeof(mp->last_error), "%s",
                 sl_pipeline_last_error(mp->pl));
    /* Keep this runtime's counters. */
    sl_pipeline_stats_t total;
    sl_total_stats(mp, &total);
    total.inflight = 0;
    total.lag_us = 0;
    mp->base = total;
    for (size_t i = 0; i < mp->spec->nsinks; i++) {
        sl_sink_stats_t ss;
        sl_pipeline_get_sink_stats(mp->pl, i, &ss);
        sl_sink_base_t *b = sl_sink_base(mp, ss.id);
        b->events += ss.events;
        b->batches += ss.batches;
        b->retries += ss.retries;
        b->errors += ss.errors;
        b->gave_up += ss.gave_up;
    }
    sl_pipeline_free(mp->pl);
    mp->pl = NULL;
}

static int sl_start_locked(sl_manager_t *m, sl_managed_t *mp)
{
    char err[SL_ERRSTR_SIZE];
    if (mp->pl) return SL_OK;
    mp->pl = sl_pipeline_new(mp->spec, m->data_dir, err, sizeof(err));
    if (!mp->pl) {
        snprintf(mp->last_error, sizeof(mp->last_error), "%s", err);
        return SL_ERR;
    }
    sl_pipeline_set_paused(mp->pl, mp->want == SL_WANT_PAUSED);
    if (sl_pipeline_start(mp->pl, err, sizeof(err)) != SL_OK) {
        snprintf(mp->last_error, sizeof(mp->last_error), "%s", err);
        sl_pipeline_join(mp->pl);
        sl_pipeline_free(mp->pl);
        mp->pl = NULL;
        return SL_ERR;
    }
    mp->last_error[0] = '\0';
    return SL_OK;
}

static const char *sl_status_locked(sl_managed_t *mp)
{
    if (!mp->pl) {
        if (mp->want == SL_WANT_STOPPED) return "stopped";
        return mp->last_error[0] ? "failed" : "starting";
    }
    sl_pstate_t st = sl_pipeline_state(mp->pl);
    if (st == SL_PSTATE_RUNNING && sl_pipeline_paused(mp->pl)) return "paused";
    return sl_pstate_name(st);
}

/* Supervisor: restart failed pipelines that should run; runs every second. */
static void *sl_supervisor(void *arg)
{
    sl_manager_t *m = arg;
    while (!atomic_load(&m->stop)) {
        for (int i = 0; i < 10 && !atomic_load(&m->stop); i++) sl_sleep_ms(100);
        sl_managed_t **arr;
        size_t n = sl_snapshot_refs(m, &arr);
        uint64_t now = sl_now_mono_us();
        for (size_t i = 0; i < n && !atomic_load(&m->stop); i++) {
            sl_managed_t *mp = arr[i];
            if (pthread_mutex_trylock(&mp->op) != 0) continue;
            if (mp->want != SL_WANT_STOPPED) {
                if (mp->pl && sl_pipeline_state(mp->pl) == SL_PSTATE_FAILED &&
                    sl_pipeline_is_finished(mp->pl)) {
                    snprintf(mp->last_error, sizeof(mp->last_error), "%s",
                             sl_pipeline_last_error(mp->pl));
                    sl_stop_locked(mp);
                    mp->backoff_ms = mp->backoff_ms ? mp->backoff_ms * 2 : SL_RESTART_MIN_MS;
                    if (mp->backoff_ms > SL_RESTART_MAX_MS) mp->backoff_ms = SL_RESTART_MAX_MS;
                    mp->next_restart_us = now + mp->backoff_ms * 1000ull;
                    sl_warn("pipeline %s failed (%s); restarting in %u ms", mp->name,
                            mp->last_error, mp->backoff_ms);
                } else if (!mp->pl && now >= mp->next_restart_us) {
                    mp->restarts++;
                    if (sl_start_locked(m, mp) != SL_OK) {
                        mp->backoff_ms = mp->backoff_ms ? mp->backoff_ms * 2 : SL_RESTART_MIN_MS;
                        if (mp->backoff_ms > SL_RESTART_MAX_MS) mp->backoff_ms = SL_RESTART_MAX_MS;
                        mp->next_restart_us = now + mp->backoff_ms * 1000ull;
                    }
                } else if (mp->pl) {
                    char why[SL_ERRSTR_SIZE];
                    if (sl_pipeline_ready(mp->pl, why, sizeof(why))) mp->backoff_ms = 0;
                }
            }
            pthread_mutex_unlock(&mp->op);
        }
        sl_release_refs(m, arr, n);
    }
    return NULL;
}

/* ================================================================================= */
/* Views                                                                             */
/* ================================================================================= */

static json_t *sl_ckpt_view(sl_manager_t *m, sl_managed_t *mp)
{
    char *pos = mp->pl ? sl_pipeline_checkpoint_json(mp->pl) : NULL;
    json_t *position = pos ? json_loads(pos, 0, NULL) : NULL;
    free(pos);
    uint64_t at_us = 0;
    char *path = sl_pdir(m, mp->name, "checkpoint.json");
    json_t *file = json_load_file(path, 0, NULL);
    free(path);
    if (file) {
        if (!position) position = json_incref(json_object_get(file, "position"));
        at_us = (uint64_t)json_integer_value(json_object_get(file, "committed_at_us"));
        json_decref(file);
    }
    sl_pipeline_stats_t st;
    sl_total_stats(mp, &st);
    if (st.ckpt_commit_us) at_us = st.ckpt_commit_us;
    if (!position) return json_null();
    json_t *v = json_object();
    json_object_set_new(v, "position", position);
    if (at_us) {
        uint64_t now = sl_now_wall_us();
        json_object_set_new(v, "age_seconds",
                            json_real(now > at_us ? (double)(now - at_us) / 1e6 : 0.0));
    }
    return v;
}

static json_t *sl_stats_view(sl_managed_t *mp)
{
    json_t *v = json_object();
    json_object_set_new(v, "restarts", json_integer((json_int_t)mp->restarts));
    sl_pipeline_stats_t st;
    sl_total_stats(mp, &st);
    json_object_set_new(v, "events_in", json_integer((json_int_t)st.events_in));
    json_object_set_new(v, "events_out", json_integer((json_int_t)st.events_out));
    json_object_set_new(v, "batches", json_integer((json_int_t)st.batches));
    json_object_set_new(v, "transactions", json_integer((json_int_t)st.tx));
    json_object_set_new(v, "retries", json_integer((json_int_t)st.sink_retries));
    json_object_set_new(v, "errors", json_integer((json_int_t)st.sink_errors));
    json_object_set_new(v, "inflight_batches", json_integer(st.inflight));
    json_object_set_new(v, "lag_seconds", json_real((double)st.lag_us / 1e6));
    json_object_set_new(v, "processor_seconds", json_real(st.processor_seconds));
    json_object_set_new(v, "snapshot_rows", json_integer((json_int_t)st.snapshot_rows));
    json_t *sinks = json_array();
    for (size_t i = 0; i < mp->spec->nsinks; i++) {
        sl_sink_stats_t ss;
        sl_total_sink_stats(mp, i, &ss);
        json_array_append_new(sinks, json_pack("{s:s, s:b, s:b, s:I, s:I, s:I, s:I}",
                                               "id", ss.id, "required", ss.required,
                                               "connected", ss.connected,
                                               "events", (json_int_t)ss.events,
                                               "batches", (json_int_t)ss.batches,
                                               "retries", (json_int_t)ss.retries,
                                               "errors", (json_int_t)ss.errors));
    }
    json_object_set_new(v, "sinks", sinks);
    return v;
}

/* The API view of one pipeline (op lock held). */
static json_t *sl_view_locked(sl_manager_t *m, sl_managed_t *mp)
{
    json_t *v = json_object();
    json_object_set_new(v, "name", json_string(mp->name));
    json_object_set_new(v, "tenant", mp->spec->tenant ? json_string(mp->spec->tenant)
                                                      : json_null());
    json_object_set_new(v, "status", json_string(sl_status_locked(mp)));
    json_object_set_new(v, "desired", json_string(sl_want_names[mp->want]));
    const char *err = mp->last_error;
    if (mp->pl && !*err) err = sl_pipeline_last_error(mp->pl);
    json_object_set_new(v, "last_error", *err ? json_string(err) : json_null());
    json_object_set_new(v, "spec", sl_spec_redacted(mp->spec));
    json_object_set_new(v, "checkpoint", sl_ckpt_view(m, mp));
    json_object_set_new(v, "stats", sl_stats_view(mp));
    json_object_set_new(v, "snapshot", json_null());
    return v;
}

/* ================================================================================= */
/* Create / load                                                                     */
/* ================================================================================= */

/* Register a validated spec (takes ownership). Returns the new entry with a reference
 * (the caller's: the list itself holds none), or NULL when the name exists. */
static sl_managed_t *sl_register(sl_manager_t *m, sl_spec_t *spec, sl_want_t want)
{
    pthread_mutex_lock(&m->lock);
    for (sl_managed_t *x = m->list; x; x = x->next)
        if (!x->deleted && strcmp(x->name, spec->name) == 0) {
            pthread_mutex_unlock(&m->lock);
            return NULL;
        }
    sl_managed_t *mp = sl_calloc(1, sizeof(*mp));
    mp->name = sl_strdup(spec->name);
    pthread_mutex_init(&mp->op, NULL);
    mp->spec = spec;
    mp->want = want;
    mp->refs = 1;
    mp->next = m->list;
    m->list = mp;
    pthread_mutex_unlock(&m->lock);
    return mp;
}

sl_manager_t *sl_manager_new(const char *data_dir, char *errstr, size_t errstr_size)
{
    if (sl_mkdirs(data_dir, errstr, errstr_size) != SL_OK) return NULL;
    chmod(data_dir, 0700);
    sl_manager_t *m = sl_calloc(1, sizeof(*m));
    m->data_dir = sl_strdup(data_dir);
    pthread_mutex_init(&m->lock, NULL);
    atomic_init(&m->stop, false);
    m->started_wall_us = sl_now_wall_us();
    if (pthread_create(&m->supervisor, NULL, sl_supervisor, m) != 0) {
        sl_err(errstr, errstr_size, "cannot start the supervisor thread");
        free(m->data_dir);
        free(m);
        return NULL;
    }
    return m;
}

int sl_manager_load(sl_manager_t *m)
{
    DIR *d = opendir(m->data_dir);
    if (!d) return SL_ERR;
    struct dirent *de;
    int failed = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char *path = sl_pdir(m, de->d_name, "pipeline.json");
        json_error_t jerr;
        json_t *doc = json_load_file(path, 0, &jerr);
        if (!doc) {
            if (access(path, F_OK) == 0) {
                sl_error("%s: unreadable (%s); pipeline %s not loaded", path, jerr.text,
                         de->d_name);
                failed++;
            }
            free(path);
            continue;
        }
        sl_errs_t errs = {0};
        sl_spec_t *spec = sl_spec_from_tree(json_object_get(doc, "spec"), &errs);
        if (!spec) {
            char *all = sl_errs_join(&errs);
            sl_error("%s: stored spec no longer valid: %s", path, all);
            free(all);
            sl_errs_free(&errs);
            json_decref(doc);
            free(path);
            failed++;
            continue;
        }
        sl_errs_free(&errs);
        json_t *exp = json_object_get(doc, "expanded");
        if (json_is_array(exp)) {
            json_decref(spec->expanded);
            spec->expanded = json_incref(exp);
        }
        const char *want_s = json_string_value(json_object_get(doc, "desired"));
        sl_want_t want = SL_WANT_RUNNING;
        for (int i = 0; i < 3; i++)
            if (want_s && !strcmp(want_s, sl_want_names[i])) want = (sl_want_t)i;
        json_decref(doc);
        free(path);
        sl_managed_t *mp = sl_register(m, spec, want);
        if (!mp) {
            sl_spec_free(spec);
            continue;
        }
        pthread_mutex_lock(&mp->op);
        if (want != SL_WANT_STOPPED && sl_start_locked(m, mp) != SL_OK)
            sl_warn("pipeline %s: %s (will retry)", mp->name, mp->last_error);
        sl_info("pipeline %s loaded (%s)", mp->name, sl_want_names[want]);
        pthread_mutex_unlock(&mp->op);
        sl_unref(m, mp);
    }
    closedir(d);
    return failed ? SL_ERR : SL_OK;
}

void sl_manager_validate(const char *text, size_t len, sl_result_t *r)
{
    sl_errs_t errs = {0};
    sl_spec_t *spec = sl_spec_parse(text, len, "body", &errs);
    if (!spec) {
        sl_result_invalid(r, &errs, "body");
    } else {
        r->status = 200;
        r->body = json_pack("{s:b, s:s}", "valid", 1, "name", spec->name);
        sl_spec_free(spec);
    }
    sl_errs_free(&errs);
}

void sl_manager_create(sl_manager_t *m, const char *text, size_t len, bool start,
                       sl_result_t *r)
{
    sl_errs_t errs = {0};
    sl_spec_t *spec = sl_spec_parse(text, len, "body", &errs);
    if (!spec) {
        sl_result_invalid(r, &errs, "body");
        sl_errs_free(&errs);
        return;
    }
    sl_errs_free(&errs);
    sl_managed_t *mp = sl_register(m, spec, start ? SL_WANT_RUNNING : SL_WANT_STOPPED);
    if (!mp) {
        sl_result_err(r, 409, "exists", "pipeline %s already exists", spec->name);
        sl_spec_free(spec);
        return;
    }
    pthread_mutex_lock(&mp->op);
    char err[SL_ERRSTR_SIZE];
    if (sl_persist(m, mp, err, sizeof(err)) != SL_OK) {
        sl_result_err(r, 500, "persist_failed", "%s", err);
        pthread_mutex_lock(&m->lock);
        mp->deleted = true;
        pthread_mutex_unlock(&m->lock);
        pthread_mutex_unlock(&mp->op);
        sl_unref(m, mp);
        return;
    }
    if (start && sl_start_locked(m, mp) != SL_OK)
        sl_warn("pipeline %s: %s (will retry)", mp->name, mp->last_error);
    sl_info("pipeline %s created (%s)", mp->name, start ? "started" : "stopped");
    r->status = 201;
    r->body = sl_view_locked(m, mp);
    pthread_mutex_unlock(&mp->op);
    sl_unref(m, mp);
}

/* ================================================================================= */
/* Read                                                                              */
/* ================================================================================= */

void sl_manager_list(sl_manager_t *m, const char *tenant, sl_result_t *r)
{
    sl_managed_t **arr;
    size_t n = sl_snapshot_refs(m, &arr);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        sl_managed_t *mp = arr[i];
        pthread_mutex_lock(&mp->op);
        if (!tenant || (mp->spec->tenant && !strcmp(mp->spec->tenant, tenant)))
            json_array_append_new(list, sl_view_locked(m, mp));
        pthread_mutex_unlock(&mp->op);
    }
    sl_release_refs(m, arr, n);
    r->status = 200;
    r->body = list;
}

void sl_manager_get(sl_manager_t *m, const char *name, sl_result_t *r)
{
    sl_managed_t *mp = sl_lock_live(m, name, r);
    if (!mp) return;
    r->status = 200;
    r->body = sl_view_locked(m, mp);
    pthread_mutex_unlock(&mp->op);
    sl_unref(m, mp);
}

/* ================================================================================= */
/* Change                                                                            */
/* ================================================================================= */

/* RFC 7396 JSON Merge Patch: objects merge recursively, null removes, anything else
 * (arrays included) replaces. Returns a new value. */
static json_t *sl_merge_patch(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch)) return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *key;
    json_t *pv;
    json_object_foreach((json_t *)patch, key, pv) {
        if (json_is_null(pv)) {
            json_object_del(out, key);
        } else {
            json_t *merged = sl_merge_patch(json_object_get(out, key), pv);
            json_object_set_new(out, key, merged);
        }
    }
    return out;
}

/* Swap in a new spec and restart from the checkpoint (op lock held). */
static void sl_replace_spec_locked(sl_manager_t *m, sl_managed_t *mp, sl_spec_t *spec,
                                   sl_result_t *r)
{
    bool was_running = mp->pl != NULL;
    sl_stop_locked(mp);
    sl_spec_free(mp->spec);
    mp->spec = spec;
    char err[SL_ERRSTR_SIZE];
    if (sl_persist(m, mp, err, sizeof(err)) != SL_OK)
        sl_warn("pipeline %s: spec not persisted: %s", mp->name, err);
    mp->backoff_ms = 0;
    mp->next_restart_us = 0;
    if ((was_running || mp->want != SL_WANT_STOPPED) && mp->want != SL_WANT_STOPPED &&
        sl_start_locked(m, mp) != SL_OK)
        sl_warn("pipeline %s: %s (will retry)", mp->name, mp->last_error);
    r->status = 200;
    r->body = sl_view_locked(m, mp);
}

void sl_manager_patch(sl_manager_t *m, const char *name, const char *text, size_t len,
                      sl_result_t *r)
{
    sl_errs_t errs = {0};
    json_t *expanded = NULL;
    json_t *patch = sl_yaml_parse_ex(text, len, "body", &errs, &expanded);
    if (!patch) {
        sl_result_invalid(r, &errs, "body");
        sl_errs_free(&errs);
        return;
    }
    if (!json_is_object(patch)) {
        sl_result_err(r, 400, "invalid_patch", "a merge patch must be a JSON object");
        json_decref(patch);
        json_decref(expanded);
        return;
    }
    sl_managed_t *mp = sl_lock_live(m, name, r);
    if (!mp) {
        json_decref(patch);
        json_decref(expanded);
        return;
    }
    json_t *merged = sl_merge_patch(mp->spec->tree, patch);
    json_t *new_name = json_object_get(json_object_get(merged, "metadata"), "name");
    if (!json_is_string(new_name) || strcmp(json_string_value(new_name), mp->name) != 0) {
        sl_result_err(r, 400, "name_change", "metadata.name cannot change (pipeline %s)",
                      mp->name);
    } else {
        sl_spec_t *spec = sl_spec_from_tree(merged, &errs);
        if (!spec) {
            sl_result_invalid(r, &errs, "body");
        } else {
            /* Masking: paths from ${VAR} in the old spec or in the patch. */
            json_t *paths = json_deep_copy(mp->spec->expanded);
            json_array_extend(paths, expanded);
            json_decref(spec->expanded);
            spec->expanded = paths;
            sl_info("pipeline %s: spec patched; restarting from its checkpoint", mp->name);
            sl_replace_spec_locked(m, mp, spec, r);
        }
    }
    json_decref(merged);
    pthread_mutex_unlock(&mp->op);
    sl_unref(m, mp);
    sl_errs_free(&errs);
    json_decref(patch);
    json_decref(expanded);
}

void sl_manager_action(sl_manager_t *m, const char *name, const char *action,
                       sl_result_t *r)
{
    sl_managed_t *mp = sl_lock_live(m, name, r);
    if (!mp) return;
    sl_want_t before = mp->want;
    bool ok = true;
    if (!strcmp(action, "pause")) {
        if (mp->want == SL_WANT_STOPPED) {
            sl_result_err(r, 409, "invalid_state",
                          "pipeline %s is stopped; start or resume it before pausing", name);
            ok = false;
        } else {
            mp->want = SL_WANT_PAUSED;
            if (mp->pl) sl_pipeline_set_paused(mp->pl, true);
        }
    } else if (!strcmp(action, "resume") || !strcmp(action, "start")) {
        mp->want = SL_WANT_RUNNING;
        if (mp->pl) {
            sl_pipeline_set_paused(mp->pl, false);
        } else {
            mp->backoff_ms = 0;
            mp->next_restart_us = 0;
            if (sl_start_locked(m, mp) != SL_OK)
                sl_warn("pipeline %s: %s (will retry)", name, mp->last_error);
        }
    } else if (!strcmp(action, "stop")) {
        mp->want = SL_WANT_STOPPED;
        sl_stop_locked(mp);
    } else {
        sl_result_err(r, 404, "not_found", "unknown action %s (pause, resume, start, stop)",
                      action);
        ok = false;
    }
    if (ok) {
        char err[SL_ERRSTR_SIZE];
        if (mp->want != before && sl_persist(m, mp, err, sizeof(err)) != SL_OK)
            sl_warn("pipeline %s: state not persisted: %s", name, err);
        if (mp->want != before)
            sl_info("pipeline %s: %s -> %s", name, sl_want_names[before],
                    sl_want_names[mp->want]);
        r->status = 200;
        r->body = sl_view_locked(m, mp);
    }
    pthread_mutex_unlock(&mp->op);
    sl_unref(m, mp);
}

void sl_manager_delete(sl_manager_t *m, const char *name, bool drop_slot, sl_result_t *r)
{
    sl_managed_t *mp = sl_lock_live(m, name, r);
    if (!mp) return;   /* absent, or a concurrent DELETE got there first: 404 */
    mp->want = SL_WANT_STOPPED;
    sl_stop_locked(mp);
    json_t *body = json_pack("{s:s, s:b}", "deleted", name, "slot_dropped", 0);
    if (drop_slot) {
        char err[SL_ERRSTR_SIZE];
        const sl_source_ops_t *ops = mp->spec->source_ops;
        if (!ops->drop_state) {
            json_object_set_new(body, "slot_error",
                                json_string("this source keeps no server-side state"));
        } else if (ops->drop_state(mp->spec->source_conf, err, sizeof(err)) != SL_OK) {
            json_object_set_new(body, "slot_error", json_string(err));
        } else {
            json_object_set_new(body, "slot_dropped", json_true());
        }
    }
    char *f = sl_pdir(m, name, "pipeline.json");
    unlink(f);
    free(f);
    f = sl_pdir(m, name, "checkpoint.json");
    unlink(f);
    free(f);
    f = sl_pdir(m, name, "schema_history.jsonl");   /* the MySQL source's */
    unlink(f);
    free(f);
    f = sl_pdir(m, name, NULL);
    rmdir(f);
    free(f);
    sl_info("pipeline %s deleted", name);
    pthread_mutex_lock(&m->lock);   /* before op is released: see sl_lock_live */
    mp->deleted = true;
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_unlock(&mp->op);
    /* The list holds no reference of its own (sl_register's is the caller's, dropped once
     * the entry is set up): an entry lives while it is not deleted or someone holds a
     * reference. Dropping ours frees it, or the last request still holding one does. */
    sl_unref(m, mp);
    r->status = 200;
    r->body = body;
}

/* ================================================================================= */
/* --pipelines DIR                                                                   */
/* ================================================================================= */

int sl_manager_apply_dir(sl_manager_t *m, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        sl_error("--pipelines %s: %s", dir, strerror(errno));
        return 1;
    }
    int failed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        size_t l = strlen(n);
        if (n[0] == '.' || !((l > 5 && !strcmp(n + l - 5, ".yaml")) ||
                             (l > 4 && !strcmp(n + l - 4, ".yml")) ||
                             (l > 5 && !strcmp(n + l - 5, ".json"))))
            continue;
        sl_buf_t path = SL_BUF_INIT;
        sl_buf_printf(&path, "%s/%s", dir, n);
        sl_errs_t errs = {0};
        sl_spec_t *spec = sl_spec_load_file(sl_buf_cstr(&path), &errs);
        if (!spec) {
            char *all = sl_errs_join(&errs);
            sl_error("%s: %s", path.data, all);
            free(all);
            sl_errs_free(&errs);
            sl_buf_free(&path);
            failed++;
            continue;
        }
        sl_errs_free(&errs);
        sl_managed_t *mp = sl_find_ref(m, spec->name);
        if (!mp) {
            mp = sl_register(m, spec, SL_WANT_RUNNING);
            pthread_mutex_lock(&mp->op);
            char err[SL_ERRSTR_SIZE];
            if (sl_persist(m, mp, err, sizeof(err)) != SL_OK)
                sl_warn("pipeline %s: not persisted: %s", mp->name, err);
            if (sl_start_locked(m, mp) != SL_OK)
                sl_warn("pipeline %s: %s (will retry)", mp->name, mp->last_error);
            sl_info("%s: pipeline %s created", path.data, mp->name);
            pthread_mutex_unlock(&mp->op);
        } else {
            pthread_mutex_lock(&mp->op);
            if (json_equal(mp->spec->tree, spec->tree)) {
                sl_info("%s: pipeline %s unchanged", path.data, mp->name);
                sl_spec_free(spec);
            } else {
                sl_result_t r = {0};
                sl_info("%s: pipeline %s changed; restarting from its checkpoint",
                        path.data, mp->name);
                sl_replace_spec_locked(m, mp, spec, &r);
                sl_result_clear(&r);
            }
            pthread_mutex_unlock(&mp->op);
        }
        sl_unref(m, mp);
        sl_buf_free(&path);
    }
    closedir(d);
    return failed;
}

/* ================================================================================= */
/* Readiness and metrics                                                             */
/* ================================================================================= */

bool sl_manager_ready(sl_manager_t *m, json_t **body)
{
    sl_managed_t **arr;
    size_t n = sl_snapshot_refs(m, &arr);
    bool ready = true;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        sl_managed_t *mp = arr[i];
        pthread_mutex_lock(&mp->op);
        json_t *e = json_pack("{s:s, s:s}", "name", mp->name, "status", sl_status_locked(mp));
        if (mp->want == SL_WANT_RUNNING) {
            char why[SL_ERRSTR_SIZE + 32];
            if (!mp->pl) {
                snprintf(why, sizeof(why), "not running%s%s", mp->last_error[0] ? ": " : "",
                         mp->last_error);
                ready = false;
                json_object_set_new(e, "reason", json_string(why));
            } else if (!sl_pipeline_ready(mp->pl, why, sizeof(why))) {
                ready = false;
                json_object_set_new(e, "reason", json_string(why));
            }
        }
        pthread_mutex_unlock(&mp->op);
        json_array_append_new(list, e);
    }
    sl_release_refs(m, arr, n);
    *body = json_pack("{s:s, s:o}", "status", ready ? "ready" : "not_ready", "pipelines", list);
    return ready;
}

typedef struct sl_metric_row {
    char               *name;
    const char         *status;
    bool                running;
    sl_pipeline_stats_t st;
    size_t              nsinks;
    sl_sink_stats_t    *sinks;
    uint64_t            ckpt_lsn;
} sl_metric_row_t;

static void sl_metric_head(sl_buf_t *o, const char *name, const char *type, const char *help)
{
    sl_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sl_metric_label(sl_buf_t *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') sl_buf_putc(o, '\\');
        if (*s == '\n') {
            sl_buf_puts(o, "\\n");
            continue;
        }
        sl_buf_putc(o, *s);
    }
}

static void sl_metric_hist(sl_buf_t *o, const char *name, const char *pipeline,
                           const sl_hist_t *h, const double *bounds)
{
    uint64_t cum = 0;
    for (int i = 0; i <= SL_HIST_BUCKETS; i++) {
        cum += h->count[i];
        sl_buf_printf(o, "%s_bucket{pipeline=\"", name);
        sl_metric_label(o, pipeline);
        if (i < SL_HIST_BUCKETS) sl_buf_printf(o, "\",le=\"%g\"} %llu\n", bounds[i],
                                                (unsigned long long)cum);
        else sl_buf_printf(o, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    sl_buf_printf(o, "%s_sum{pipeline=\"", name);
    sl_metric_label(o, pipeline);
    sl_buf_printf(o, "\"} %.6f\n%s_count{pipeline=\"", h->sum, name);
    sl_metric_label(o, pipeline);
    sl_buf_printf(o, "\"} %llu\n", (unsigned long long)h->n);
}

static uint64_t sl_process_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, rss = 0;
    int n = fscanf(f, "%lu %lu", &size, &rss);
    fclose(f);
    return n == 2 ? (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

void sl_manager_metrics(sl_manager_t *m, sl_buf_t *o)
{
    sl_managed_t **arr;
    size_t n = sl_snapshot_refs(m, &arr);
    sl_metric_row_t *rows = sl_calloc(n ? n : 1, sizeof(*rows));
    for (size_t i = 0; i < n; i++) {
        sl_managed_t *mp = arr[i];
        sl_metric_row_t *row = &rows[i];
        pthread_mutex_lock(&mp->op);
        row->name = sl_strdup(mp->name);
        row->status = sl_status_locked(mp);
        row->nsinks = mp->spec->nsinks;
        row->sinks = sl_calloc(row->nsinks ? row->nsinks : 1, sizeof(*row->sinks));
        sl_total_stats(mp, &row->st);
        for (size_t k = 0; k < row->nsinks; k++) sl_total_sink_stats(mp, k, &row->sinks[k]);
        if (mp->pl) {
            row->running = true;
            char *ck = sl_pipeline_checkpoint_json(mp->pl);
            json_t *pos = ck ? json_loads(ck, 0, NULL) : NULL;
            json_t *lsn = pos ? json_object_get(pos, "lsn_int") : NULL;
            if (json_is_integer(lsn)) row->ckpt_lsn = (uint64_t)json_integer_value(lsn);
            if (pos) json_decref(pos);
            free(ck);
        }
        /* sink ids point into the spec: copy them while the op lock pins it */
        for (size_t k = 0; k < row->nsinks; k++)
            row->sinks[k].id = sl_strdup(sl_sink_spec_common(&mp->spec->sinks[k])->id);
        pthread_mutex_unlock(&mp->op);
    }
    sl_release_refs(m, arr, n);

#define SL_PER_PIPELINE(metric, type, help, expr)                                       \
    do {                                                                                \
        sl_metric_head(o, metric, type, help);                                          \
        for (size_t i = 0; i < n; i++) {                                                \
            const sl_metric_row_t *row = &rows[i];                                      \
            sl_buf_puts(o, metric "{pipeline=\"");                                      \
            sl_metric_label(o, row->name);                                              \
            sl_buf_printf(o, "\"} %.17g\n", (double)(expr));                             \
        }                                                                               \
    } while (0)
#define SL_PER_SINK(metric, type, help, field)                                          \
    do {                                                                                \
        sl_metric_head(o, metric, type, help);                                          \
        for (size_t i = 0; i < n; i++)                                                  \
            for (size_t k = 0; k < rows[i].nsinks; k++) {                               \
                sl_buf_puts(o, metric "{pipeline=\"");                                  \
                sl_metric_label(o, rows[i].name);                                       \
                sl_buf_puts(o, "\",sink=\"");                                           \
                sl_metric_label(o, rows[i].sinks[k].id);                                \
                sl_buf_printf(o, "\"} %llu\n",                                          \
                              (unsigned long long)rows[i].sinks[k].field);              \
            }                                                                           \
    } while (0)

    SL_PER_PIPELINE("sluice_events_read_total", "counter",
                    "Events read from the source and submitted for delivery.",
                    row->st.events_in);
    SL_PER_PIPELINE("sluice_events_committed_total", "counter",
                    "Events in batches that met the commit policy.", row->st.events_out);
    SL_PER_SINK("sluice_sink_events_written_total", "counter",
                "Events a sink delivered.", events);
    SL_PER_PIPELINE("sluice_batches_total", "counter", "Batches committed.",
                    row->st.batches);
    SL_PER_PIPELINE("sluice_transactions_total", "counter", "Source transactions seen.",
                    row->st.tx);
    SL_PER_SINK("sluice_sink_errors_total", "counter", "Failed delivery attempts.", errors);
    SL_PER_SINK("sluice_sink_retries_total", "counter", "Delivery retries.", retries);
    SL_PER_SINK("sluice_sink_gave_up_batches_total", "counter",
                "Batches a sink the policy did not need gave up on.", gave_up);
    sl_metric_head(o, "sluice_sink_connected", "gauge", "1 when the sink is connected.");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < rows[i].nsinks; k++) {
            sl_buf_puts(o, "sluice_sink_connected{pipeline=\"");
            sl_metric_label(o, rows[i].name);
            sl_buf_puts(o, "\",sink=\"");
            sl_metric_label(o, rows[i].sinks[k].id);
            sl_buf_printf(o, "\"} %d\n", rows[i].sinks[k].connected ? 1 : 0);
        }
    SL_PER_PIPELINE("sluice_source_lag_seconds", "gauge",
                    "Age (by source commit time) of the oldest undelivered event.",
                    (double)row->st.lag_us / 1e6);
    SL_PER_PIPELINE("sluice_checkpoint_position", "gauge",
                    "Checkpointed source position (PostgreSQL: LSN as a number).",
                    row->ckpt_lsn);
    SL_PER_PIPELINE("sluice_checkpoint_age_seconds", "gauge",
                    "Seconds since the checkpoint last moved (0: never moved).",
                    row->st.ckpt_commit_us
                        ? (double)(sl_now_wall_us() - row->st.ckpt_commit_us) / 1e6 : 0.0);
    SL_PER_PIPELINE("sluice_queue_depth_batches", "gauge",
                    "Batches between submit and release.", row->st.inflight);
    SL_PER_PIPELINE("sluice_processor_seconds_total", "counter",
                    "Time spent in processors.", row->st.processor_seconds);
    SL_PER_PIPELINE("sluice_snapshot_rows_total", "counter", "Snapshot rows read.",
                    row->st.snapshot_rows);
    sl_metric_head(o, "sluice_pipeline_state", "gauge",
                   "1 for the pipeline's current state.");
    static const char *const states[] = {"starting", "running", "paused", "stopping",
                                         "stopped", "failed"};
    for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < SL_ARRAY_SIZE(states); s++) {
            sl_buf_puts(o, "sluice_pipeline_state{pipeline=\"");
            sl_metric_label(o, rows[i].name);
            sl_buf_printf(o, "\",state=\"%s\"} %d\n", states[s],
                          strcmp(rows[i].status, states[s]) == 0);
        }
    sl_metric_head(o, "sluice_batch_size_events", "histogram", "Events per committed batch.");
    for (size_t i = 0; i < n; i++)
        sl_metric_hist(o, "sluice_batch_size_events", rows[i].name, &rows[i].st.batch_size,
                       sl_batch_size_buckets);
    sl_metric_head(o, "sluice_end_to_end_latency_seconds", "histogram",
                   "Source commit to commit policy met, per batch (oldest event).");
    for (size_t i = 0; i < n; i++)
        sl_metric_hist(o, "sluice_end_to_end_latency_seconds", rows[i].name,
                       &rows[i].st.latency, sl_latency_buckets);
#undef SL_PER_PIPELINE
#undef SL_PER_SINK

    sl_metric_head(o, "process_resident_memory_bytes", "gauge", "Resident memory size.");
    sl_buf_printf(o, "process_resident_memory_bytes %llu\n",
                  (unsigned long long)sl_process_rss_bytes());
    sl_metric_head(o, "process_start_time_seconds", "gauge", "Start time (Unix seconds).");
    sl_buf_printf(o, "process_start_time_seconds %.3f\n", (double)m->started_wall_us / 1e6);
    sl_metric_head(o, "sluice_uptime_seconds", "gauge", "Seconds since the process started.");
    sl_buf_printf(o, "sluice_uptime_seconds %.3f\n",
                  (double)(sl_now_wall_us() - m->started_wall_us) / 1e6);

    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < rows[i].nsinks; k++) free((char *)rows[i].sinks[k].id);
        free(rows[i].sinks);
        free(rows[i].name);
    }
    free(rows);
}

void sl_manager_free(sl_manager_t *m)
{
    if (!m) return;
    atomic_store(&m->stop, true);
    pthread_join(m->supervisor, NULL);
    sl_managed_t **arr;
    size_t n = sl_snapshot_refs(m, &arr);
    /* Ask every pipeline to stop first so they drain in parallel, then join. */
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&arr[i]->op);
        if (arr[i]->pl) sl_pipeline_request_stop(arr[i]->pl);
        pthread_mutex_unlock(&arr[i]->op);
    }
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&arr[i]->op);
        sl_stop_locked(arr[i]);
        pthread_mutex_unlock(&arr[i]->op);
    }
    sl_release_refs(m, arr, n);
    pthread_mutex_lock(&m->lock);
    sl_managed_t *mp = m->list;
    m->list = NULL;
    pthread_mutex_unlock(&m->lock);
    while (mp) {
        sl_managed_t *next = mp->next;
        sl_managed_free(mp);
        mp = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m->data_dir);
    free(m);
}
