/*
 * sl_api.c - HTTP routes of `sluice serve` over libmicrohttpd.
 *
 * Threads: libmicrohttpd's internal thread pool calls sl_api_handler; everything it
 * touches is the thread-safe manager. A slow lifecycle change (stopping a pipeline can
 * take its stop timeout) occupies one worker; /healthz and /readyz stay served by the
 * others.
 *
 * Limits: request bodies over max_body get 413 (the rest of the body is drained, never
 * buffered); header memory is capped by MHD_OPTION_CONNECTION_MEMORY_LIMIT; connections,
 * per-IP connections and idle time are capped, so slow or garbage clients cannot
 * exhaust the server. Error bodies are {"error":{"code","message","details"}}.
 */
#include "sl_common.h"
#include "sl_api.h"
#include "sl_log.h"

#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct sl_api {
    struct MHD_Daemon *d;
    sl_manager_t      *m;
    char              *token;
    size_t             max_body;
    unsigned           port;
};

typedef struct sl_req {
    sl_buf_t body;
    bool     too_big;
} sl_req_t;

/* ---- responses ------------------------------------------------------------------- */

static enum MHD_Result sl_send(struct MHD_Connection *c, unsigned status, const char *ctype,
                               const char *data, size_t len, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result sl_send_json(struct MHD_Connection *c, unsigned status, json_t *v,
                                    const char *allow)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = text ? strlen(text) : 0;
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_put(&b, text ? text : "null", text ? len : 4);
    sl_buf_putc(&b, '\n');
    free(text);
    enum MHD_Result ret = sl_send(c, status, "application/json", b.data, b.len, allow);
    sl_buf_free(&b);
    return ret;
}

static enum MHD_Result sl_send_error(struct MHD_Connection *c, unsigned status,
                                     const char *code, const char *message, json_t *details,
                                     const char *allow)
{
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
    json_object_set(err, "details", details ? details : json_array());
    json_t *doc = json_pack("{s:o}", "error", err);
    enum MHD_Result ret = sl_send_json(c, status, doc, allow);
    json_decref(doc);
    return ret;
}

static enum MHD_Result sl_send_result(struct MHD_Connection *c, sl_result_t *r)
{
    enum MHD_Result ret;
    if (r->status >= 400)
        ret = sl_send_error(c, (unsigned)r->status, r->code, r->message, r->details, NULL);
    else
        ret = sl_send_json(c, (unsigned)r->status, r->body ? r->body : json_null(), NULL);
    sl_result_clear(r);
    return ret;
}

/* ---- request helpers ------------------------------------------------------------- */

/* Constant-time comparison of the presented token with ours. */
static bool sl_token_ok(const sl_api_t *api, struct MHD_Connection *c)
{
    if (!api->token) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    const char *got = h + 7;
    size_t lg = strlen(got), lw = strlen(api->token);
    unsigned char diff = (unsigned char)(lg != lw);
    for (size_t i = 0; i < lw; i++) diff |= (unsigned char)(api->token[i] ^ got[i < lg ? i : 0]);
    return diff == 0;
}

typedef enum { SL_BODY_JSON, SL_BODY_YAML, SL_BODY_BAD } sl_body_kind_t;

static sl_body_kind_t sl_body_kind(struct MHD_Connection *c, bool patch)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || !*ct) return SL_BODY_JSON;   /* curl -d default is form: be lenient below */
    size_t n = strcspn(ct, "; \t");
    static const char *const json_types[] = {"application/json",
                                             "application/merge-patch+json", "text/json"};
    static const char *const yaml_types[] = {"application/yaml", "application/x-yaml",
                                             "text/yaml", "text/x-yaml"};
    for (size_t i = 0; i < SL_ARRAY_SIZE(json_types); i++)
        if (strlen(json_types[i]) == n && !strncasecmp(ct, json_types[i], n))
            return SL_BODY_JSON;
    for (size_t i = 0; i < SL_ARRAY_SIZE(yaml_types); i++)
        if (strlen(yaml_types[i]) == n && !strncasecmp(ct, yaml_types[i], n))
            return SL_BODY_YAML;
    SL_UNUSED(patch);
    return SL_BODY_BAD;
}

static bool sl_query_true(struct MHD_Connection *c, const char *key, bool dflt)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!v) return dflt;
    return !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !*v;
}

/* ---- routing ---------------------------------------------------------------------- */

static enum MHD_Result sl_route(sl_api_t *api, struct MHD_Connection *c, const char *url,
                                const char *method, sl_req_t *req)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool post = !strcmp(method, "POST");

    if (!strcmp(url, "/healthz")) {
        if (!get) return sl_send_error(c, 405, "method_not_allowed", "use GET", NULL, "GET");
        return sl_send(c, 200, "text/plain", "ok\n", 3, NULL);
    }
    if (!strcmp(url, "/readyz")) {
        if (!get) return sl_send_error(c, 405, "method_not_allowed", "use GET", NULL, "GET");
        json_t *body;
        bool ready = sl_manager_ready(api->m, &body);
        enum MHD_Result ret = sl_send_json(c, ready ? 200 : 503, body, NULL);
        json_decref(body);
        return ret;
    }
    if (!sl_token_ok(api, c))
        return sl_send_error(c, 401, "unauthorized",
                             "missing or wrong bearer token (Authorization: Bearer ...)",
                             NULL, NULL);
    if (req->too_big) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes", api->max_body);
        return sl_send_error(c, 413, "too_large", msg, NULL, NULL);
    }
    if (!strcmp(url, "/metrics")) {
        if (!get) return sl_send_error(c, 405, "method_not_allowed", "use GET", NULL, "GET");
        sl_buf_t b = SL_BUF_INIT;
        sl_manager_metrics(api->m, &b);
        enum MHD_Result ret = sl_send(c, 200, "text/plain; version=0.0.4; charset=utf-8",
                                      b.data ? b.data : "", b.len, NULL);
        sl_buf_free(&b);
        return ret;
    }

    sl_result_t r = {0};
    bool has_body = post || !strcmp(method, "PATCH");
    if (has_body && (!strcmp(url, "/pipelines") || !strcmp(url, "/validate") ||
                     !strcmp(method, "PATCH"))) {
        if (sl_body_kind(c, !strcmp(method, "PATCH")) == SL_BODY_BAD)
            return sl_send_error(c, 415, "unsupported_media_type",
                                 "send application/json or application/yaml", NULL, NULL);
    }
    const char *text = req->body.data ? req->body.data : "";
    size_t len = req->body.len;

    if (!strcmp(url, "/validate")) {
        if (!post) return sl_send_error(c, 405, "method_not_allowed", "use POST", NULL,
                                        "POST");
        sl_manager_validate(text, len, &r);
        return sl_send_result(c, &r);
    }
    if (!strcmp(url, "/pipelines") || !strcmp(url, "/pipelines/")) {
        if (get) {
            sl_manager_list(api->m, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
                                                                "tenant"), &r);
        } else if (post) {
            sl_manager_create(api->m, text, len, sl_query_true(c, "start", true), &r);
        } else {
            return sl_send_error(c, 405, "method_not_allowed", "use GET or POST", NULL,
                                 "GET, POST");
        }
        return sl_send_result(c, &r);
    }
    if (!strncmp(url, "/pipelines/", 11)) {
        const char *rest = url + 11;
        const char *slash = strchr(rest, '/');
        char name[128];
        size_t nl = slash ? (size_t)(slash - rest) : strlen(rest);
        if (nl == 0 || nl >= sizeof(name))
            return sl_send_error(c, 404, "not_found", "no such pipeline", NULL, NULL);
        memcpy(name, rest, nl);
        name[nl] = '\0';
        if (!slash || !slash[1]) {
            if (get) sl_manager_get(api->m, name, &r);
            else if (!strcmp(method, "PATCH")) sl_manager_patch(api->m, name, text, len, &r);
            else if (!strcmp(method, "DELETE"))
                sl_manager_delete(api->m, name, sl_query_true(c, "drop_slot", false), &r);
            else
                return sl_send_error(c, 405, "method_not_allowed", "use GET, PATCH or DELETE",
                                     NULL, "GET, PATCH, DELETE");
            return sl_send_result(c, &r);
        }
        const char *action = slash + 1;
        if (!strcmp(action, "pause") || !strcmp(action, "resume") ||
            !strcmp(action, "stop") || !strcmp(action, "start")) {
            if (!post) return sl_send_error(c, 405, "method_not_allowed", "use POST", NULL,
                                            "POST");
            sl_manager_action(api->m, name, action, &r);
            return sl_send_result(c, &r);
        }
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "no route for %s %.100s", method, url);
    return sl_send_error(c, 404, "not_found", msg, NULL, NULL);
}

static enum MHD_Result sl_api_handler(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    SL_UNUSED(version);
    sl_api_t *api = cls;
    sl_req_t *req = *con_cls;
    if (!req) {
        req = sl_calloc(1, sizeof(*req));
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > api->max_body) req->too_big = true;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!req->too_big && req->body.len + *upload_data_size > api->max_body) {
            req->too_big = true;
            sl_buf_free(&req->body);
        }
        if (!req->too_big) sl_buf_put(&req->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return sl_route(api, c, url, method, req);
}

static void sl_api_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    SL_UNUSED(cls);
    SL_UNUSED(c);
    SL_UNUSED(toe);
    sl_req_t *req = *con_cls;
    if (req) {
        sl_buf_free(&req->body);
        free(req);
        *con_cls = NULL;
    }
}

static void sl_api_mhd_log(void *cls, const char *fmt, va_list ap)
{
    SL_UNUSED(cls);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t l = strlen(msg);
    while (l && msg[l - 1] == '\n') msg[--l] = '\0';
    sl_debug("http: %s", msg);
}

/* ---- lifecycle -------------------------------------------------------------------- */

static int sl_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl,
                           char *errstr, size_t errstr_size)
{
    const char *colon = strrchr(listen, ':');
    if (!colon) return sl_err(errstr, errstr_size, "--listen %s: want host:port", listen);
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || port > 65535)
        return sl_err(errstr, errstr_size, "--listen %s: bad port", listen);
    char host[128];
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof(host)) return sl_err(errstr, errstr_size, "--listen: host too long");
    memcpy(host, listen, hl);
    host[hl] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (hl == 0) strcpy(host, "0.0.0.0");
    if (host[0] == '[') {
        size_t l = strlen(host);
        if (l < 3 || host[l - 1] != ']') return sl_err(errstr, errstr_size, "--listen: bad IPv6");
        host[l - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return sl_err(errstr, errstr_size, "--listen: bad IPv6 address %s", host + 1);
        *sl = sizeof(*a6);
        return SL_OK;
    }
    if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return sl_err(errstr, errstr_size, "--listen: bad IPv4 address %s", host);
    *sl = sizeof(*a4);
    return SL_OK;
}

sl_api_t *sl_api_start(sl_manager_t *m, const sl_api_conf_t *conf, char *errstr,
                       size_t errstr_size)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    if (sl_parse_listen(conf->listen, &ss, &slen, errstr, errstr_size) != SL_OK) return NULL;
    sl_api_t *api = sl_calloc(1, sizeof(*api));
    api->m = m;
    api->token = conf->auth_token && *conf->auth_token ? sl_strdup(conf->auth_token) : NULL;
    api->max_body = conf->max_body ? conf->max_body : 1 << 20;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    api->d = MHD_start_daemon(
        flags, 0, NULL, NULL, sl_api_handler, api,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(conf->threads ? conf->threads : 4),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(conf->max_connections ? conf->max_connections
                                                                      : 256),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(conf->timeout_s ? conf->timeout_s : 30),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, sl_api_completed, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, sl_api_mhd_log, NULL,
        MHD_OPTION_END);
    if (!api->d) {
        sl_err(errstr, errstr_size, "cannot listen on %s (address in use or not local?)",
               conf->listen);
        free(api->token);
        free(api);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->d, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info ? info->port : 0;
    return api;
}

unsigned sl_api_port(const sl_api_t *api) { return api->port; }

void sl_api_stop(sl_api_t *api)
{
    if (!api) return;
    MHD_stop_daemon(api->d);
    free(api->token);
    free(api);
}
