/*
 * js_vm.c - a sandboxed Duktape heap with enforced limits (see js_vm.h).
 *
 * Limits
 *   mem_mb      Every heap allocation goes through sl_js_alloc/realloc/free, which count
 *               live bytes and refuse (return NULL) past the cap. Duktape then runs an
 *               emergency GC, retries, and finally throws "alloc failed" inside the script,
 *               so a memory bomb fails its call instead of growing sluice. Small blocks
 *               are recycled through per-size free lists (Duktape allocates many small
 *               objects; glibc malloc was half the conversion time), except under
 *               AddressSanitizer so it still sees Duktape's own accesses.
 *   timeout_ms  A monotonic deadline and a CLOCK_THREAD_CPUTIME_ID budget are armed for
 *   cpu_ms      the duration of sl_js_vm_run(). The bytecode executor calls
 *               sl_js_vm_interrupted() every ~256k instructions (DUK_USE_EXEC_TIMEOUT_CHECK
 *               in duk_custom.h); once a budget is spent it keeps answering true until the
 *               call has unwound, so catch/finally blocks cannot continue the loop. Only
 *               bytecode is interrupted: one long built-in call (a pathological regexp)
 *               is stopped when it returns.
 *
 * Sandbox: Duktape itself has no filesystem, network, timers or module loader; the global
 * `Duktape` object (finalizers, coroutines, GC knobs) is deleted before the script runs.
 * console.log/info/warn/error/debug go to sluice's log, at most SL_JS_LOG_PER_SEC lines
 * per second per processor (the rest are counted and reported as suppressed).
 *
 * Threads: one thread at a time per vm (see js_vm.h). Nothing here is global.
 */
#include "js_vm.h"
#include "sl_buf.h"
#include "sl_log.h"

#include <time.h>

#define SL_JS_POOL_CLASSES 32        /* free lists for 16..512-byte blocks */
#define SL_JS_HDR          16        /* allocation header: requested size, size class */
#define SL_JS_LOG_PER_SEC  20
#define SL_JS_LOG_MAX      1024      /* bytes of one console line */

#if defined(__SANITIZE_ADDRESS__)
#define SL_JS_POOLING 0
#else
#define SL_JS_POOLING 1
#endif

typedef struct sl_js_blk {
    struct sl_js_blk *next;
} sl_js_blk_t;

struct sl_js_vm {
    duk_context   *ctx;
    char          *id;              /* processor id (log lines) */
    char          *file;            /* script name (error messages) */
    sl_js_limits_t lim;

    /* allocator */
    size_t         mem_cap;
    size_t         mem_used;
    size_t         mem_after_gc;    /* mem_used after our last collection */
    bool           alloc_refused;   /* the cap refused an allocation in the current call */
    sl_js_blk_t   *pool[SL_JS_POOL_CLASSES + 1];

    /* limits of the running call */
    bool           armed;
    bool           dying;           /* heap being destroyed: stop any script at once */
    sl_js_fail_t   tripped;
    uint64_t       deadline_us;     /* monotonic */
    uint64_t       cpu_deadline_ns; /* thread CPU clock */

    /* console rate limit */
    uint64_t       log_window_us;
    unsigned       log_lines;
    uint64_t       log_suppressed;
};

/* ================================================================================= */
/* Allocator                                                                         */
/* ================================================================================= */

/* Header layout: [0] requested size, [1] size class (0: not pooled). 16 bytes keeps the
 * payload aligned like malloc's. */
static inline size_t *sl_js_hdr(void *ptr) { return (size_t *)((char *)ptr - SL_JS_HDR); }

static void *sl_js_alloc(void *udata, duk_size_t size)
{
    sl_js_vm_t *vm = udata;
    if (size > vm->mem_cap - vm->mem_used) {
        vm->alloc_refused = true;
        return NULL;
    }
    size_t cls = (size + 15) >> 4;
    size_t *h;
    if (cls == 0) cls = 1;
    if (SL_JS_POOLING && cls <= SL_JS_POOL_CLASSES) {
        if (vm->pool[cls]) {
            h = (size_t *)vm->pool[cls];
            vm->pool[cls] = vm->pool[cls]->next;
        } else {
            h = malloc(SL_JS_HDR + (cls << 4));
        }
    } else {
        h = malloc(SL_JS_HDR + size);
        cls = 0;
    }
    if (!h) return NULL;
    h[0] = size;
    h[1] = cls;
    vm->mem_used += size;
    return (char *)h + SL_JS_HDR;
}

static void sl_js_free(void *udata, void *ptr)
{
    sl_js_vm_t *vm = udata;
    if (!ptr) return;
    size_t *h = sl_js_hdr(ptr);
    vm->mem_used -= h[0];
    if (h[1]) {
        sl_js_blk_t *b = (sl_js_blk_t *)h;
        b->next = vm->pool[h[1]];
        vm->pool[h[1]] = b;
    } else {
        free(h);
    }
}

static void *sl_js_realloc(void *udata, void *ptr, duk_size_t size)
{
    sl_js_vm_t *vm = udata;
    if (!ptr) return sl_js_alloc(udata, size);
    if (size == 0) {
        sl_js_free(udata, ptr);
        return NULL;
    }
    size_t *h = sl_js_hdr(ptr);
    size_t old = h[0];
    if (size > old && size - old > vm->mem_cap - vm->mem_used) {
        vm->alloc_refused = true;
        return NULL;
    }
    if (h[1] && size <= h[1] << 4) {            /* fits the pooled block */
        vm->mem_used = vm->mem_used - old + size;
        h[0] = size;
        return ptr;
    }
    if (!h[1] && (!SL_JS_POOLING || (size + 15) >> 4 > SL_JS_POOL_CLASSES)) {
        size_t *n = realloc(h, SL_JS_HDR + size);
        if (!n) return NULL;
        n[0] = size;
        vm->mem_used = vm->mem_used - old + size;
        return (char *)n + SL_JS_HDR;
    }
    void *n = sl_js_alloc(udata, size);
    if (!n) return NULL;
    memcpy(n, ptr, old < size ? old : size);
    sl_js_free(udata, ptr);
    return n;
}

static void sl_js_fatal(void *udata, const char *msg)
{
    sl_js_vm_t *vm = udata;
    /* Only reachable through a bug: every entry into the heap is a protected call. */
    sl_error("javascript %s: fatal interpreter error: %s", vm ? vm->id : "?",
             msg ? msg : "(no message)");
    abort();
}

/* ================================================================================= */
/* Limits                                                                            */
/* ================================================================================= */

static uint64_t sl_js_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

duk_bool_t sl_js_vm_interrupted(void *udata)
{
    sl_js_vm_t *vm = udata;
    if (!vm) return 0;
    if (vm->dying) return 1;
    if (!vm->armed) return 0;
    if (vm->tripped) return 1;
    if (sl_now_mono_us() >= vm->deadline_us) {
        vm->tripped = SL_JS_FAIL_TIMEOUT;
        return 1;
    }
    if (sl_js_cpu_ns() >= vm->cpu_deadline_ns) {
        vm->tripped = SL_JS_FAIL_CPU;
        return 1;
    }
    return 0;
}

/* ================================================================================= */
/* console                                                                           */
/* ================================================================================= */

static sl_js_vm_t *sl_js_vm_of(duk_context *ctx)
{
    duk_push_heap_stash(ctx);
    duk_get_prop_string(ctx, -1, "vm");
    sl_js_vm_t *vm = duk_get_pointer(ctx, -1);
    duk_pop_2(ctx);
    return vm;
}

static duk_ret_t sl_js_json_arg(duk_context *ctx, void *udata)
{
    SL_UNUSED(udata);
    duk_json_encode(ctx, -1);
    return 1;
}

/* console.x(...): the arguments joined by spaces (objects as JSON), one log line. */
static duk_ret_t sl_js_console(duk_context *ctx)
{
    sl_js_vm_t *vm = sl_js_vm_of(ctx);
    int level = duk_get_current_magic(ctx);
    duk_idx_t n = duk_get_top(ctx);
    if (!vm || level < sl_log_min_level) return 0;

    uint64_t now = sl_now_mono_us();
    if (now - vm->log_window_us >= 1000000) {
        if (vm->log_suppressed)
            sl_warn("javascript %s: %llu console lines suppressed (more than %d per second)",
                    vm->id, (unsigned long long)vm->log_suppressed, SL_JS_LOG_PER_SEC);
        vm->log_window_us = now;
        vm->log_lines = 0;
        vm->log_suppressed = 0;
    }
    if (vm->log_lines >= SL_JS_LOG_PER_SEC) {
        vm->log_suppressed++;
        return 0;
    }
    vm->log_lines++;

    sl_buf_t msg = SL_BUF_INIT;
    for (duk_idx_t i = 0; i < n && msg.len < SL_JS_LOG_MAX; i++) {
        duk_dup(ctx, i);
        if (duk_is_object(ctx, -1) && !duk_is_function(ctx, -1) && !duk_is_error(ctx, -1)) {
            if (duk_safe_call(ctx, sl_js_json_arg, NULL, 1, 1) != DUK_EXEC_SUCCESS ||
                !duk_is_string(ctx, -1)) {
                duk_pop(ctx);
                duk_dup(ctx, i);
                duk_safe_to_string(ctx, -1);
            }
        } else {
            duk_safe_to_string(ctx, -1);
        }
        size_t len;
        const char *s = duk_get_lstring(ctx, -1, &len);
        if (i) sl_buf_putc(&msg, ' ');
        if (s) sl_buf_put(&msg, s, len);
        duk_pop(ctx);
    }
    if (msg.len > SL_JS_LOG_MAX) msg.len = SL_JS_LOG_MAX;   /* may cut a character */
    for (size_t i = 0; i < msg.len; i++)                     /* one log line per call */
        if ((unsigned char)msg.data[i] < 0x20) msg.data[i] = ' ';
    sl_log((sl_log_level_t)level, "javascript %s: console: %s", vm->id,
           msg.len ? sl_buf_cstr(&msg) : "");
    sl_buf_free(&msg);
    return 0;
}

static void sl_js_install_console(duk_context *ctx)
{
    static const struct { const char *name; int level; } fns[] = {
        {"log", SL_LOG_INFO}, {"info", SL_LOG_INFO}, {"debug", SL_LOG_DEBUG},
        {"warn", SL_LOG_WARN}, {"error", SL_LOG_ERROR},
    };
    duk_push_object(ctx);
    for (size_t i = 0; i < SL_ARRAY_SIZE(fns); i++) {
        duk_push_c_function(ctx, sl_js_console, DUK_VARARGS);
        duk_set_magic(ctx, -1, fns[i].level);
        duk_put_prop_string(ctx, -2, fns[i].name);
    }
    duk_put_global_string(ctx, "console");
}

/* ================================================================================= */
/* Calls                                                                             */
/* ================================================================================= */

/* The thrown value at idx as text: "TypeError: x is not a function (line 3)"; the line is
 * given only for errors raised in the script itself. */
static void sl_js_describe(sl_js_vm_t *vm, duk_idx_t idx, char *out, size_t out_size)
{
    duk_context *ctx = vm->ctx;
    idx = duk_normalize_index(ctx, idx);
    long line = 0;
    if (duk_is_error(ctx, idx)) {
        duk_get_prop_string(ctx, idx, "fileName");
        bool ours = duk_is_string(ctx, -1) && strcmp(duk_get_string(ctx, -1), vm->file) == 0;
        duk_pop(ctx);
        duk_get_prop_string(ctx, idx, "lineNumber");
        if (ours && duk_is_number(ctx, -1)) line = (long)duk_get_number(ctx, -1);
        duk_pop(ctx);
    }
    duk_dup(ctx, idx);
    const char *s = duk_safe_to_string(ctx, -1);
    if (line > 0 && !strstr(s, "(line "))
        snprintf(out, out_size, "%s (line %ld)", s, line);
    else
        snprintf(out, out_size, "%s", s);
    duk_pop(ctx);
}

int sl_js_vm_run(sl_js_vm_t *vm, duk_safe_call_function fn, void *udata, sl_js_fail_t *fail,
                 char *errstr, size_t errstr_size)
{
    duk_context *ctx = vm->ctx;
    vm->tripped = SL_JS_FAIL_NONE;
    vm->alloc_refused = false;
    vm->deadline_us = sl_now_mono_us() + (uint64_t)vm->lim.timeout_ms * 1000u;
    vm->cpu_deadline_ns = sl_js_cpu_ns() + (uint64_t)vm->lim.cpu_ms * 1000000u;
    vm->armed = true;
    duk_int_t rc = duk_safe_call(ctx, fn, udata, 0, 1);
    vm->armed = false;
    sl_js_fail_t why = SL_JS_FAIL_NONE;
    if (rc != DUK_EXEC_SUCCESS) {
        why = vm->tripped ? vm->tripped : vm->alloc_refused ? SL_JS_FAIL_MEMORY
                                                            : SL_JS_FAIL_ERROR;
        char what[SL_ERRSTR_SIZE];
        sl_js_describe(vm, -1, what, sizeof(what));
        switch (why) {
        case SL_JS_FAIL_TIMEOUT:
            sl_err(errstr, errstr_size, "timeout_ms exceeded: the call ran for more than %lld "
                   "ms (wall clock) and was stopped", (long long)vm->lim.timeout_ms);
            break;
        case SL_JS_FAIL_CPU:
            sl_err(errstr, errstr_size, "cpu_ms exceeded: the call used more than %lld ms of "
                   "CPU time and was stopped", (long long)vm->lim.cpu_ms);
            break;
        case SL_JS_FAIL_MEMORY:
            sl_err(errstr, errstr_size, "mem_mb exceeded: the heap reached its %lld MB cap "
                   "(%s)", (long long)vm->lim.mem_mb, what);
            break;
        default:
            sl_err(errstr, errstr_size, "%s", what);
        }
    }
    duk_pop(ctx);
    vm->tripped = SL_JS_FAIL_NONE;
    if (fail) *fail = why;
    return rc == DUK_EXEC_SUCCESS ? SL_OK : SL_ERR;
}

bool sl_js_vm_push_entry(sl_js_vm_t *vm)
{
    duk_context *ctx = vm->ctx;
    static const char *const names[] = {"process", "processBatch"};
    for (size_t i = 0; i < SL_ARRAY_SIZE(names); i++) {
        duk_get_global_string(ctx, names[i]);
        if (duk_is_function(ctx, -1)) return true;
        duk_pop(ctx);
    }
    return false;
}

/* ================================================================================= */
/* Lifecycle                                                                         */
/* ================================================================================= */

typedef struct sl_js_load {
    sl_js_vm_t *vm;
    const char *src;
    size_t      len;
    bool        run;        /* run the top level (false: compile only) */
    bool        compiled;
} sl_js_load_t;

/* Protected: sandbox the globals, compile and run the script's top level. */
static duk_ret_t sl_js_load_body(duk_context *ctx, void *udata)
{
    sl_js_load_t *l = udata;
    duk_push_global_object(ctx);
    duk_del_prop_string(ctx, -1, "Duktape");
    duk_pop(ctx);
    sl_js_install_console(ctx);

    duk_push_lstring(ctx, l->src, l->len);
    duk_push_string(ctx, l->vm->file);
    duk_compile(ctx, 0);
    l->compiled = true;
    if (l->run) duk_call(ctx, 0);
    return 0;
}

static sl_js_vm_t *sl_js_vm_make(const char *id, const char *file, const char *src,
                                 size_t len, const sl_js_limits_t *lim, bool run,
                                 char *errstr, size_t errstr_size)
{
    sl_js_vm_t *vm = sl_calloc(1, sizeof(*vm));
    vm->id = sl_strdup(id ? id : "javascript");
    vm->file = sl_strdup(file ? file : "script.js");
    vm->lim = *lim;
    vm->mem_cap = (size_t)lim->mem_mb * 1024u * 1024u;
    vm->ctx = duk_create_heap(sl_js_alloc, sl_js_realloc, sl_js_free, vm, sl_js_fatal);
    if (!vm->ctx) {
        sl_err(errstr, errstr_size, "cannot create the interpreter within mem_mb=%lld",
               (long long)lim->mem_mb);
        goto err;
    }
    duk_push_heap_stash(vm->ctx);
    duk_push_pointer(vm->ctx, vm);
    duk_put_prop_string(vm->ctx, -2, "vm");
    duk_pop(vm->ctx);

    sl_js_load_t l = {.vm = vm, .src = src, .len = len, .run = run};
    char msg[SL_ERRSTR_SIZE];
    if (sl_js_vm_run(vm, sl_js_load_body, &l, NULL, msg, sizeof(msg)) != SL_OK) {
        sl_err(errstr, errstr_size, "%s%s",
               l.compiled ? "top-level code failed: " : "does not compile: ", msg);
        goto err;
    }
    if (!run) return vm;
    if (!sl_js_vm_push_entry(vm)) {
        sl_err(errstr, errstr_size, "defines no function process(batch) (or "
               "processBatch(batch))");
        goto err;
    }
    duk_pop(vm->ctx);
    vm->mem_after_gc = vm->mem_used;
    return vm;

err:
    sl_js_vm_free(vm);
    return NULL;
}

sl_js_vm_t *sl_js_vm_new(const char *id, const char *file, const char *src, size_t len,
                         const sl_js_limits_t *lim, char *errstr, size_t errstr_size)
{
    return sl_js_vm_make(id, file, src, len, lim, true, errstr, errstr_size);
}

int sl_js_vm_check(const char *file, const char *src, size_t len, const sl_js_limits_t *lim,
                   char *errstr, size_t errstr_size)
{
    sl_js_vm_t *vm = sl_js_vm_make(NULL, file, src, len, lim, false, errstr, errstr_size);
    sl_js_vm_free(vm);
    return vm ? SL_OK : SL_ERR;
}

void sl_js_vm_free(sl_js_vm_t *vm)
{
    if (!vm) return;
    if (vm->ctx) {
        if (vm->log_suppressed)
            sl_warn("javascript %s: %llu console lines suppressed", vm->id,
                    (unsigned long long)vm->log_suppressed);
        vm->dying = true;
        duk_destroy_heap(vm->ctx);
    }
    for (size_t c = 0; c <= SL_JS_POOL_CLASSES; c++) {
        while (vm->pool[c]) {
            sl_js_blk_t *b = vm->pool[c];
            vm->pool[c] = b->next;
            free(b);
        }
    }
    free(vm->id);
    free(vm->file);
    free(vm);
}

duk_context *sl_js_vm_ctx(sl_js_vm_t *vm) { return vm->ctx; }
size_t sl_js_vm_mem_used(const sl_js_vm_t *vm) { return vm->mem_used; }
size_t sl_js_vm_mem_cap(const sl_js_vm_t *vm) { return vm->mem_cap; }

void sl_js_vm_gc(sl_js_vm_t *vm)
{
    duk_gc(vm->ctx, 0);
    duk_gc(vm->ctx, 0);   /* the second pass frees what the first one finalized */
    vm->mem_after_gc = vm->mem_used;
}

void sl_js_vm_collect(sl_js_vm_t *vm)
{
    if (vm->mem_used <= vm->mem_after_gc || vm->mem_used - vm->mem_after_gc <= vm->mem_cap / 8)
        return;
    duk_gc(vm->ctx, 0);
    vm->mem_after_gc = vm->mem_used;
}
