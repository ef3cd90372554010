/*
 * duk_custom.h - sluice's Duktape configuration: the packaged duk_config.h plus the few
 * options the JavaScript processor needs. Keep it minimal.
 *
 * Why it exists: Debian's libduktape is built without the bytecode interrupt hook, so it
 * cannot stop `while (true) {}`. The Makefile therefore compiles the amalgamation the
 * duktape-dev package installs (/usr/share/duktape/duktape.c, never copied into this
 * repository) into build/obj/duktape.o, force-including this header first
 * (`-include processors/javascript/duk_custom.h -DSL_DUK_AMALGAMATION`). Our own sources
 * include this header before <duktape.h> so both sides see the same configuration.
 *
 * How it works: duk_config.h is include-guarded, so when it is pulled in here first, the
 * later `#include "duk_config.h"` inside duktape.h is a no-op and the overrides below
 * stick (duk_config.h itself #undefs these options, so -D flags alone cannot set them).
 * When compiling the amalgamation, DUK_COMPILING_DUKTAPE must be defined before
 * duk_config.h is read so its build-only section (system headers, feature macros) applies;
 * duktape.c defines it again identically, which is harmless.
 *
 * Options (see Duktape's config documentation for each DUK_USE_xxx):
 *   DUK_USE_INTERRUPT_COUNTER + DUK_USE_EXEC_TIMEOUT_CHECK: every ~256k bytecode
 *       instructions the executor calls sl_js_vm_interrupted(heap_udata); a true result
 *       throws RangeError "execution timeout" and keeps throwing until the call unwinds,
 *       so try/catch in the script cannot swallow it. This enforces timeout_ms/cpu_ms.
 *   DUK_USE_FASTINT: integer arithmetic and formatting without doubles where possible.
 *   DUK_USE_JSON_STRINGIFY_FASTPATH: a much faster JSON.stringify for plain data (the
 *       processor serializes every returned batch with it).
 * The `Duktape` built-in object (finalizers, coroutines, GC knobs) cannot be configured
 * away without regenerating Duktape's built-in tables; js_vm.c deletes the global instead.
 */
#ifndef SL_DUK_CUSTOM_H
#define SL_DUK_CUSTOM_H

#if defined(SL_DUK_AMALGAMATION) && !defined(DUK_COMPILING_DUKTAPE)
#define DUK_COMPILING_DUKTAPE
#endif

#include <duk_config.h>

#undef DUK_USE_INTERRUPT_COUNTER
#define DUK_USE_INTERRUPT_COUNTER
#undef DUK_USE_EXEC_TIMEOUT_CHECK
#define DUK_USE_EXEC_TIMEOUT_CHECK(udata) sl_js_vm_interrupted((udata))
#undef DUK_USE_FASTINT
#define DUK_USE_FASTINT
#undef DUK_USE_JSON_STRINGIFY_FASTPATH
#define DUK_USE_JSON_STRINGIFY_FASTPATH

/* Implemented in js_vm.c: true once the running call has used up its time or CPU budget
 * (and until it has unwound). udata is the heap's udata, the sl_js_vm_t. */
duk_bool_t sl_js_vm_interrupted(void *udata);

#endif
