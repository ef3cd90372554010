/*
 * js_codec.h - events between their JSON text and Duktape values, without losing a digit.
 *
 * Decoding: sl_js_codec_decode() parses one event's value JSON (from a batch arena)
 * straight onto the Duktape value stack. Integers that fit 32 bits become JS numbers as
 * usual. Every other number literal (integers beyond 2^31, in particular int8 / BIGINT
 * UNSIGNED values beyond 2^53 that a double cannot hold, and all non-integers) also
 * becomes a JS number - the nearest double, so scripts can compare and compute with it -
 * and is *recorded*: where it was put (object or array, key or index), the double it got,
 * and its exact original text.
 *
 * Encoding: the returned array goes through JSON.stringify (Duktape's fast path), then
 * sl_js_codec_emit() rewrites the text. Before stringify, sl_js_codec_swap() replaces
 * each recorded number that still holds exactly the double it was given by a marker
 * string ("\u0001" + a per-process random nonce + its record number); emit() writes the
 * record's original text in place of the marker, and sl_js_codec_unswap() puts the
 * numbers back (scripts keeping objects in global state never see a marker). So a
 * number the script did not change is written back byte for byte, whatever its size;
 * swapping also keeps Duktape's slow arbitrary-precision number formatting off the hot
 * path. A changed number is written as JavaScript formats it. A big integer the script
 * copied somewhere else (or into an event it built) is still a double there; emit()
 * restores it when its value equals the double of a recorded integer of the batch.
 *
 * emit() also splits the array into one JSON text per event and makes the output valid
 * UTF-8: Duktape keeps characters outside the BMP that a script built from surrogate
 * halves as CESU-8; pairs become 4-byte UTF-8, a lone surrogate a \uXXXX escape.
 *
 * Identity: sl_js_codec_track() remembers which heap object each input event became, so
 * the processor can tell a returned input event (keeps its table, key, shard) from an
 * event the script built.
 *
 * All functions taking a duk_context run inside a protected call (they may throw);
 * state lives in the codec so nothing leaks when they do. One thread at a time.
 */
#ifndef SL_JS_CODEC_H
#define SL_JS_CODEC_H

#include "sl_event.h"
#include "js_vm.h"

typedef struct sl_js_num {
    void    *obj;        /* heap pointer of the holding object or array (kept alive) */
    uint32_t key_off;    /* object: key in codec->keys; array: the index */
    uint32_t key_len;    /* SL_JS_NUM_INDEX for an array element */
    uint32_t text_off;   /* original literal, offset in the input arena */
    uint32_t text_len;
    double   d;          /* the value JavaScript got */
    bool     big;        /* an integer literal of 16+ digits or with an exponent */
    bool     swapped;    /* currently replaced by its marker */
} sl_js_num_t;

#define SL_JS_NUM_INDEX UINT32_MAX

typedef struct sl_js_codec {
    /* numbers recorded by the current run */
    sl_js_num_t *nums;
    uint32_t     nnums, cap_nums;
    sl_buf_t     keys;
    const char  *arena;        /* the input arena the texts point into */

    /* identity: heap pointer of each decoded input event -> its index in the batch */
    void       **id_ptr;
    uint32_t    *id_pos;
    uint32_t    *id_gen;       /* slot is in use when it equals gen */
    uint32_t     id_cap, id_n, gen;

    /* value index for big integers (restoring copies): slots hold num index + 1 */
    uint32_t    *val_slot;
    uint32_t     val_cap;
    uint32_t     nbig;         /* recorded numbers with big set */
    bool         val_built;

    sl_buf_t     scratch;      /* unescaped strings */
    duk_idx_t    keep_idx;     /* array keeping objects with recorded numbers alive */
    uint32_t     nkeep;
    duk_idx_t    marker_idx;   /* cached marker strings (heap stash) */
    uint32_t     nmarkers;     /* markers cached so far in this heap */
    uint32_t     max_markers;  /* cache bound (markers live in the capped heap) */
    uint32_t     swap_pos;     /* resumption point of swap/unswap */
    char         nonce[17];
} sl_js_codec_t;

/* heap_cap: the heap's byte cap, which bounds the marker cache. */
void sl_js_codec_init(sl_js_codec_t *c, size_t heap_cap);
void sl_js_codec_free(sl_js_codec_t *c);
/* The heap was replaced: forget everything cached in it. */
void sl_js_codec_heap_reset(sl_js_codec_t *c);

/* Start a run over events of `arena`: forgets the previous run and pushes two helper
 * values (kept until the protected call returns). */
void sl_js_codec_begin(sl_js_codec_t *c, duk_context *ctx, const char *arena);
/* Push the JS value of the JSON text arena[off, off+len) (an event: must be an object).
 * Throws on malformed JSON. */
void sl_js_codec_decode(sl_js_codec_t *c, duk_context *ctx, uint32_t off, uint32_t len);
/* Remember that heap object ptr is input event `pos`; sl_js_codec_origin() finds it
 * again (-1: not an input event). */
void sl_js_codec_track(sl_js_codec_t *c, void *ptr, uint32_t pos);
int64_t sl_js_codec_origin(const sl_js_codec_t *c, void *ptr);

/* Replace unchanged recorded numbers by markers / put them back. swap() never throws: a
 * number it cannot replace (frozen object, accessor) is left alone. */
void sl_js_codec_swap(sl_js_codec_t *c, duk_context *ctx);
void sl_js_codec_unswap(sl_js_codec_t *c, duk_context *ctx);

/* Rewrite the JSON.stringify text of an array of n objects into out, one value per
 * element: sets ev[i].val_off/val_len. SL_OK, or SL_ERR (errstr) when the text is not an
 * array of n objects (an element's toJSON returned something else). */
int sl_js_codec_emit(sl_js_codec_t *c, const char *json, size_t json_len, uint32_t n,
                     sl_buf_t *out, sl_event_t *ev, char *errstr, size_t errstr_size);

#endif
