/*
 * sl_log.c - process-wide logger (see sl_log.h). Any thread; one write(2) per line so
 * lines from different threads never interleave.
 */
#include "sl_log.h"
#include "sl_json.h"

#include <stdarg.h>
#include <time.h>
#include <unistd.h>

int sl_log_min_level = SL_LOG_INFO;
static bool sl_log_json;
static __thread const char *sl_log_ctx;

static const char *const sl_level_names[] = {"debug", "info", "warn", "error"};

void sl_log_set_level(sl_log_level_t level) { sl_log_min_level = (int)level; }
void sl_log_set_json(bool json) { sl_log_json = json; }
void sl_log_set_thread_ctx(const char *pipeline) { sl_log_ctx = pipeline; }

int sl_log_parse_level(const char *s)
{
    for (size_t i = 0; i < SL_ARRAY_SIZE(sl_level_names); i++)
        if (strcmp(s, sl_level_names[i]) == 0) return (int)i;
    if (strcmp(s, "warning") == 0) return SL_LOG_WARN;
    return -1;
}

void sl_log_(sl_log_level_t level, const char *file, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tbuf[96];
    snprintf(tbuf, sizeof(tbuf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000L);

    sl_buf_t b = SL_BUF_INIT;
    if (sl_log_json) {
        sl_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",", tbuf, sl_level_names[level]);
        if (sl_log_ctx) {
            sl_json_key(&b, "pipeline");
            sl_json_cstr(&b, sl_log_ctx);
            sl_buf_putc(&b, ',');
        }
        sl_buf_printf(&b, "\"src\":\"%s:%d\",", base, line);
        sl_json_key(&b, "msg");
        sl_json_cstr(&b, msg);
        sl_buf_put(&b, "}\n", 2);
    } else {
        sl_buf_printf(&b, "%s %-5s %s%s%s%s:%d %s\n", tbuf, sl_level_names[level],
                      sl_log_ctx ? "[" : "", sl_log_ctx ? sl_log_ctx : "",
                      sl_log_ctx ? "] " : "", base, line, msg);
    }
    ssize_t w = write(STDERR_FILENO, b.data, b.len);
    (void)w;
    sl_buf_free(&b);
}
