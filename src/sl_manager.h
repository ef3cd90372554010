/*
 * sl_manager.h - the pipelines of one `sluice serve` process: create, inspect, patch,
 * pause/resume/stop/start, delete; persisted in the data dir with their desired state
 * and brought back after a restart; supervised (a failed pipeline that should run is
 * restarted with backoff). The REST layer (api/) is a thin JSON shell around this.
 *
 * Threads: every function may be called from any thread (HTTP workers, main). The
 * registry lock guards the list; each pipeline's op lock serializes lifecycle changes of
 * that pipeline, so a slow stop of one never blocks requests about another.
 */
#ifndef SL_MANAGER_H
#define SL_MANAGER_H

#include "sl_pipeline.h"
#include "sl_buf.h"

typedef struct sl_manager sl_manager_t;

/* An API outcome: HTTP status, stable error code, message, optional details array. */
typedef struct sl_result {
    int     status;            /* 200, 201, 400, 404, 409, ... */
    char    code[32];          /* "not_found", "invalid_spec", ... ("" on success) */
    char    message[512];
    json_t *details;           /* owned; NULL or an array */
    json_t *body;              /* owned; the success payload */
} sl_result_t;

void sl_result_clear(sl_result_t *r);

sl_manager_t *sl_manager_new(const char *data_dir, char *errstr, size_t errstr_size);
/* Load the pipelines persisted in the data dir and start those that should run. */
int  sl_manager_load(sl_manager_t *m);
/* Apply every spec file (*.yaml, *.yml, *.json) in dir: create if absent, update
 * (restart from checkpoint) if changed, leave alone if unchanged. Errors are logged
 * and counted; returns the number of files that failed. */
int  sl_manager_apply_dir(sl_manager_t *m, const char *dir);
/* Stop every pipeline cleanly (desired states stay as persisted) and free. */
void sl_manager_free(sl_manager_t *m);

/* Routes. text/len is a spec (YAML or JSON); results are filled in r. */
void sl_manager_create(sl_manager_t *m, const char *text, size_t len, bool start,
                       sl_result_t *r);
void sl_manager_validate(const char *text, size_t len, sl_result_t *r);
void sl_manager_list(sl_manager_t *m, const char *tenant, sl_result_t *r);
void sl_manager_get(sl_manager_t *m, const char *name, sl_result_t *r);
void sl_manager_patch(sl_manager_t *m, const char *name, const char *text, size_t len,
                      sl_result_t *r);
/* action: "pause", "resume", "start", "stop" */
void sl_manager_action(sl_manager_t *m, const char *name, const char *action,
                       sl_result_t *r);
void sl_manager_delete(sl_manager_t *m, const char *name, bool drop_slot, sl_result_t *r);

/* Readiness: true when every pipeline that should run is running and connected. body:
 * {"status":"ready"|"not_ready","pipelines":[{"name","status","reason"?}]} */
bool sl_manager_ready(sl_manager_t *m, json_t **body);
/* Prometheus text exposition of every pipeline's metrics plus process metrics. */
void sl_manager_metrics(sl_manager_t *m, sl_buf_t *out);

#endif
