/*
 * js_vm.h - one sandboxed Duktape interpreter with enforced limits: a heap capped by a
 * counting allocator (mem_mb), a wall-clock deadline (timeout_ms) and a thread-CPU budget
 * (cpu_ms) checked from the bytecode interrupt hook, a rate-limited console, and no
 * ambient authority (Duktape has no filesystem, network or timers; the `Duktape` object is
 * removed). Every call into the heap goes through sl_js_vm_run(), a protected call with
 * the limits armed, so no error can escape to Duktape's fatal handler.
 *
 * Threads: a vm is used by one thread at a time (the pipeline's source thread, or the
 * thread validating a spec). Different vms are independent.
 */
#ifndef SL_JS_VM_H
#define SL_JS_VM_H

#include "sl_common.h"
#include "duk_custom.h"
#include <duktape.h>

/* Per-call limits (spec.processors[].limits). */
typedef struct sl_js_limits {
    int64_t cpu_ms;       /* thread CPU time per call */
    int64_t mem_mb;       /* heap cap */
    int64_t timeout_ms;   /* wall-clock time per call */
} sl_js_limits_t;

/* Why a call failed. */
typedef enum {
    SL_JS_FAIL_NONE = 0,
    SL_JS_FAIL_ERROR,     /* the script threw (or returned something unusable) */
    SL_JS_FAIL_TIMEOUT,   /* timeout_ms */
    SL_JS_FAIL_CPU,       /* cpu_ms */
    SL_JS_FAIL_MEMORY,    /* mem_mb: an allocation was refused and the call failed */
} sl_js_fail_t;

typedef struct sl_js_vm sl_js_vm_t;

/* Create a heap, compile `src` as script `file` and run its top level under the limits.
 * The script must define a global function process(batch) or processBatch(batch).
 * `id` names the processor in log lines, `file` the script in error objects. NULL +
 * errstr on failure, e.g. "does not compile: SyntaxError: parse error (line 3)". */
sl_js_vm_t *sl_js_vm_new(const char *id, const char *file, const char *src, size_t len,
                         const sl_js_limits_t *lim, char *errstr, size_t errstr_size);
void sl_js_vm_free(sl_js_vm_t *vm);
/* Compile only (spec validation: runs none of the script's code). SL_OK, or SL_ERR with
 * "does not compile: SyntaxError: ... (line N)". */
int sl_js_vm_check(const char *file, const char *src, size_t len, const sl_js_limits_t *lim,
                   char *errstr, size_t errstr_size);

duk_context *sl_js_vm_ctx(sl_js_vm_t *vm);

/* Run fn(ctx, udata) as a protected call with the limits armed (the deadline covers the
 * whole of fn). SL_OK, or SL_ERR with *fail and a message: the thrown value as text
 * with its script line when it has one, or which limit was hit. The value stack is left
 * as it was. */
int sl_js_vm_run(sl_js_vm_t *vm, duk_safe_call_function fn, void *udata, sl_js_fail_t *fail,
                 char *errstr, size_t errstr_size);

/* Push the script's batch function (process, else processBatch); false when neither is
 * a function (nothing pushed). */
bool sl_js_vm_push_entry(sl_js_vm_t *vm);

/* Bytes currently allocated by the heap, and its cap. */
size_t sl_js_vm_mem_used(const sl_js_vm_t *vm);
size_t sl_js_vm_mem_cap(const sl_js_vm_t *vm);
/* Full garbage collection (after a failed call, to give back what it allocated). */
void sl_js_vm_gc(sl_js_vm_t *vm);
/* Collect when the heap grew by more than 1/8 of its cap since the last collection.
 * Reference counting frees most garbage at once, but not cycles, and every closure is one
 * (f.prototype.constructor === f) that keeps its scope - e.g. a whole batch - alive until
 * a mark-and-sweep pass; Duktape's own schedule lets that grow to the cap. Call between
 * batches: the pass is cheap while the live heap is small. */
void sl_js_vm_collect(sl_js_vm_t *vm);

#endif
