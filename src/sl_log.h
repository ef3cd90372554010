/*
 * sl_log.h - one level-checked logging macro for the whole process. Lines go to stderr,
 * one per event, as text (`ts level [pipeline] file:line msg`) or JSON objects. The
 * pipeline name comes from a thread-local context set by each pipeline thread.
 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include "sl_common.h"

typedef enum { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR } sl_log_level_t;

extern int sl_log_min_level;

void sl_log_set_level(sl_log_level_t level);
int  sl_log_parse_level(const char *s);              /* -1 when unknown */
void sl_log_set_json(bool json);
void sl_log_set_thread_ctx(const char *pipeline);    /* NULL clears; pointer must outlive thread */
void sl_log_(sl_log_level_t level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define sl_log(level, ...)                                          \
    do {                                                            \
        if ((int)(level) >= sl_log_min_level)                       \
            sl_log_((level), __FILE__, __LINE__, __VA_ARGS__);      \
    } while (0)

#define sl_debug(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)
#define sl_info(...)  sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_warn(...)  sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_error(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)

#endif
