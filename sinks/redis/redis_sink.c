/*
 * redis_sink.c - the "redis" sink: one XADD per event into a Redis stream whose name is
 * a template ({db} {schema} {table} {shard}), with fields `key` (key JSON, or `null`) and
 * `value` (the Debezium envelope JSON), optionally trimmed with MAXLEN ~ N.
 *
 * A batch is one pipeline: every XADD is appended to the hiredis output buffer with argv
 * pointing straight into the batch arena, then all replies are read. The batch succeeds
 * only when every reply is an entry id. Any failure (I/O, timeout, error reply such as
 * WRONGTYPE) is SL_AGAIN: the connection is dropped and the core reopens and redelivers
 * the whole batch, so entries of a failed batch may appear twice (at-least-once).
 *
 * Threads: an instance lives on its sink thread (create, open, deliver, close, destroy);
 * nothing here is shared. The URI check runs on the spec-validating thread and keeps its
 * message in thread-local storage.
 */
#include "sl_common.h"
#include "sl_connector.h"
#include "sl_template.h"
#include "sl_log.h"

#include <limits.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

#define SL_REDIS_CONNECT_TIMEOUT_MS 5000
#define SL_REDIS_IO_TIMEOUT_MS      30000   /* per socket read/write while delivering */
#define SL_REDIS_DEFAULT_PORT       6379

/* ---- configuration ---------------------------------------------------------------- */

typedef struct sl_redis_conf {
    sl_sink_common_t common;
    char   *uri;
    char   *stream;
    int64_t maxlen;          /* 0: not set (no trimming) */
} sl_redis_conf_t;

/* A parsed redis:// URI. Strings are owned. */
typedef struct sl_redis_uri {
    char *host;
    int   port;
    char *user;              /* NULL: AUTH with the password only */
    char *pass;              /* NULL: no AUTH */
    int   db;
} sl_redis_uri_t;

static void sl_redis_uri_free(sl_redis_uri_t *u)
{
    free(u->host);
    free(u->user);
    free(u->pass);
    memset(u, 0, sizeof(*u));
}

static int sl_redis_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

