/*
 * sl_api.h - the REST control plane of `sluice serve` (libmicrohttpd): routes JSON/YAML
 * requests to the pipeline manager, serves /healthz, /readyz and /metrics, enforces the
 * optional bearer token and the request limits.
 */
#ifndef SL_API_H
#define SL_API_H

#include "sl_manager.h"

typedef struct sl_api sl_api_t;

typedef struct sl_api_conf {
    const char *listen;        /* "host:port", ":port", "[v6]:port"; port 0 = ephemeral */
    const char *auth_token;    /* NULL or "" = no authentication */
    size_t      max_body;      /* bytes; larger bodies get 413 */
    unsigned    threads;       /* worker threads */
    unsigned    max_connections;
    unsigned    timeout_s;     /* per-connection idle timeout */
} sl_api_conf_t;

sl_api_t *sl_api_start(sl_manager_t *m, const sl_api_conf_t *conf, char *errstr,
                       size_t errstr_size);
/* The bound port (useful with port 0). */
unsigned sl_api_port(const sl_api_t *api);
void sl_api_stop(sl_api_t *api);

#endif
