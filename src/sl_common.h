/*
 * sl_common.h - project-wide basics: result codes, allocation that never returns
 * NULL, small inline helpers. Included first by every translation unit.
 */
#ifndef SL_COMMON_H
#define SL_COMMON_H

#define _GNU_SOURCE 1
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#define SL_VERSION "0.1.0"

/* Result codes: functions return SL_OK on success, SL_ERR on failure (errstr filled),
 * SL_AGAIN when a retry may succeed (transient: connection lost, broker down). */
#define SL_OK     0
#define SL_ERR   -1
#define SL_AGAIN -2

#define SL_ERRSTR_SIZE 512

#define SL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SL_UNUSED(x) ((void)(x))
#define sl_likely(x)   __builtin_expect(!!(x), 1)
#define sl_unlikely(x) __builtin_expect(!!(x), 0)

/* Allocation: out of memory is not a recoverable condition for a replicator (the
 * checkpoint protects data), so these abort with a message instead of returning NULL. */
void *sl_malloc(size_t n);
void *sl_calloc(size_t n, size_t sz);
void *sl_realloc(void *p, size_t n);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);

/* Percent-decode s[0..n) (URI userinfo, paths) into a new string; NULL when a %XX escape
 * is malformed. */
char *sl_pct_decode(const char *s, size_t n);

/* snprintf into errstr, always NUL-terminated; returns SL_ERR for `return sl_err(...)`. */
int sl_err(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic and wall clocks. */
uint64_t sl_now_mono_us(void);
uint64_t sl_now_wall_us(void);   /* microseconds since the Unix epoch */
void sl_sleep_ms(unsigned ms);

#endif
