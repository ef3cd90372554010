/*
 * main.c - the sluice command line: `run`, `validate`, `--version`, `--help`.
 *
 * Signals: SIGINT/SIGTERM are blocked in every thread and taken by the main thread with
 * sigtimedwait, so no handler runs in signal context. The first one asks the pipeline to
 * stop cleanly (in-flight batches delivered and checkpointed, or not checkpointed at
 * all); a second one exits at once without checkpointing anything further.
 *
 * Exit codes: 0 clean stop / valid specs, 1 runtime failure, 2 usage or invalid spec.
 */
#include "sl_common.h"
#include "sl_pipeline.h"
#include "sl_log.h"
#include "sl_manager.h"
#include "sl_api.h"

#include <signal.h>
#include <pthread.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#define SL_EXIT_OK      0
#define SL_EXIT_RUNTIME 1
#define SL_EXIT_USAGE   2

static const char sl_usage[] =
    "usage: sluice [options] <command> [args]\n"
    "\n"
    "commands:\n"
    "  run SPEC [--data-dir DIR]   run one pipeline in the foreground until SIGINT/SIGTERM\n"
    "  validate SPEC...            check specs; print every error with its field path\n"
    "  serve [--listen HOST:PORT] [--data-dir DIR] [--config FILE] [--pipelines DIR]\n"
    "        [--auth-token-file FILE]\n"
    "                              manage many pipelines over a REST API (see README)\n"
    "\n"
    "options:\n"
    "  --data-dir DIR              checkpoints and state (default: $SLUICE_DATA_DIR or\n"
    "                              ./sluice-data)\n"
    "  --log-format text|json      log line format on stderr (default: text)\n"
    "  --log-level debug|info|warn|error   (default: info)\n"
    "  --version                   print the version and exit\n"
    "  --help                      this text\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure, 2 usage error or invalid spec\n";

static int sl_cmd_validate(int argc, char **argv)
{
    if (argc == 0) {
        fprintf(stderr, "sluice validate: no spec file given\n%s", sl_usage);
        return SL_EXIT_USAGE;
    }
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        sl_errs_t errs = {0};
        sl_spec_t *spec = sl_spec_load_file(argv[i], &errs);
        if (spec) {
            printf("%s: valid (pipeline %s)\n", argv[i], spec->name);
            sl_spec_free(spec);
        } else {
            bad++;
            for (size_t j = 0; j < errs.n; j++) printf("%s: %s\n", argv[i], errs.msg[j]);
            if (errs.n == 0) printf("%s: invalid\n", argv[i]);
        }
        sl_errs_free(&errs);
    }
    return bad ? SL_EXIT_USAGE : SL_EXIT_OK;
}

static void *sl_second_signal_thread(void *arg)
{
    const sigset_t *set = arg;
    int sig = sigwaitinfo(set, NULL);
    if (sig == SIGINT || sig == SIGTERM) {
        sl_warn("second signal: exiting without waiting for in-flight batches");
        _exit(SL_EXIT_RUNTIME);
    }
    return NULL;
}

static int sl_cmd_run(const char *path, const char *data_dir)
{
    sl_errs_t errs = {0};
    sl_spec_t *spec = sl_spec_load_file(path, &errs);
    if (!spec) {
        for (size_t j = 0; j < errs.n; j++) fprintf(stderr, "%s: %s\n", path, errs.msg[j]);
        sl_errs_free(&errs);
        return SL_EXIT_USAGE;
    }
    sl_errs_free(&errs);

    /* Block the stop signals before any thread starts so only sigtimedwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[SL_ERRSTR_SIZE];
    sl_pipeline_t *p = sl_pipeline_new(spec, data_dir, err, sizeof(err));
    if (!p) {
        sl_error("pipeline %s: %s", spec->name, err);
        sl_spec_free(spec);
        return SL_EXIT_RUNTIME;
    }
    char *ck = sl_pipeline_checkpoint_json(p);
    sl_info("pipeline %s: starting (data dir %s, checkpoint %s)", spec->name, data_dir,
            ck ? ck : "none");
    free(ck);
    if (sl_pipeline_start(p, err, sizeof(err)) != SL_OK) {
        sl_error("pipeline %s: %s", spec->name, err);
        sl_pipeline_join(p);
        sl_pipeline_free(p);
        sl_spec_free(spec);
        return SL_EXIT_RUNTIME;
    }

    int signals = 0;
    for (;;) {
        sl_pstate_t st = sl_pipeline_state(p);
        if (st == SL_PSTATE_FAILED || st == SL_PSTATE_STOPPED || sl_pipeline_is_finished(p))
            break;   /* failed, or the source finished by itself (snapshot initial_only) */
        struct timespec ts = {0, 200 * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            if (++signals == 1) {
                sl_info("received %s: stopping (again to exit immediately)",
                        sig == SIGINT ? "SIGINT" : "SIGTERM");
                sl_pipeline_request_stop(p);
                break;
            }
        }
    }
    /* Wait for the threads to finish, still honouring a second signal. */
    while (!sl_pipeline_is_finished(p)) {
        struct timespec ts = {0, 50 * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            sl_warn("second signal: exiting without waiting for in-flight batches");
            _exit(SL_EXIT_RUNTIME);
        }
    }
    int rc = sl_pipeline_join(p);
    const char *last = sl_pipeline_last_error(p);
    if (rc != SL_OK) sl_error("pipeline %s failed: %s", spec->name, last);
    else sl_info("pipeline %s stopped", spec->name);
    sl_pipeline_free(p);
    sl_spec_free(spec);
    return rc == SL_OK ? SL_EXIT_OK : SL_EXIT_RUNTIME;
}

/* ---- serve ------------------------------------------------------------------------- */

typedef struct sl_serve_conf {
    char   *listen;
    char   *data_dir;
    char   *pipelines_dir;
    char   *auth_token_file;
    char   *log_level;
    char   *log_format;
    int64_t max_body_bytes;
    int64_t http_threads;
} sl_serve_conf_t;

static const sl_conf_def_t sl_serve_conf_defs[] = {
    {.key = "listen", .type = SL_CT_STR, .offset = offsetof(sl_serve_conf_t, listen),
     .doc = "HTTP listen address host:port"},
    {.key = "data_dir", .type = SL_CT_STR, .offset = offsetof(sl_serve_conf_t, data_dir),
     .doc = "pipelines, desired states and checkpoints"},
    {.key = "pipelines", .type = SL_CT_STR, .offset = offsetof(sl_serve_conf_t, pipelines_dir),
     .doc = "directory of spec files applied at startup"},
    {.key = "auth_token_file", .type = SL_CT_STR,
     .offset = offsetof(sl_serve_conf_t, auth_token_file), .doc = "bearer token file"},
    {.key = "log_level", .type = SL_CT_STR, .offset = offsetof(sl_serve_conf_t, log_level)},
    {.key = "log_format", .type = SL_CT_STR, .offset = offsetof(sl_serve_conf_t, log_format)},
    {.key = "max_body_bytes", .type = SL_CT_INT,
     .offset = offsetof(sl_serve_conf_t, max_body_bytes), .min = 1024, .max = 64 << 20},
    {.key = "http_threads", .type = SL_CT_INT, .offset = offsetof(sl_serve_conf_t, http_threads),
     .min = 1, .max = 64},
    {.key = NULL},
};

/* Layer: flags > config file > environment (SLUICE_*) > defaults. */
typedef struct sl_opts {
    const char *data_dir, *listen, *config, *pipelines, *token_file, *log_level,
               *log_format;
} sl_opts_t;

static const char *sl_pick(const char *flag, const char *file, const char *env,
                           const char *dflt)
{
    if (flag) return flag;
    if (file && *file) return file;
    const char *e = env ? getenv(env) : NULL;
    if (e && *e) return e;
    return dflt;
}

static char *sl_read_token(const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        sl_err(errstr, errstr_size, "auth token file %s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
    if (!n) {
        sl_err(errstr, errstr_size, "auth token file %s is empty", path);
        return NULL;
    }
    return sl_strdup(buf);
}

static int sl_cmd_serve(const sl_opts_t *o)
{
    sl_serve_conf_t fc = {0};
    const char *cfg_path = sl_pick(o->config, NULL, "SLUICE_CONFIG", NULL);
    if (cfg_path) {
        FILE *f = fopen(cfg_path, "rb");
        if (!f) {
            fprintf(stderr, "sluice serve: --config %s: %s\n", cfg_path, strerror(errno));
            return SL_EXIT_USAGE;
        }
        sl_buf_t text = SL_BUF_INIT;
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) sl_buf_put(&text, chunk, n);
        fclose(f);
        sl_errs_t errs = {0};
        json_t *tree = sl_yaml_parse(text.data ? text.data : "", text.len, cfg_path, &errs);
        sl_buf_free(&text);
        if (tree && json_is_null(tree)) {
            json_decref(tree);
            tree = json_object();
        }
        if (tree) sl_conf_parse(sl_serve_conf_defs, tree, &fc, "", &errs);
        if (tree) json_decref(tree);
        if (errs.n) {
            for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "%s: %s\n", cfg_path,
                                                         errs.msg[i]);
            sl_errs_free(&errs);
            sl_conf_free(sl_serve_conf_defs, &fc);
            return SL_EXIT_USAGE;
        }
        sl_errs_free(&errs);
    }
    const char *level = sl_pick(o->log_level, fc.log_level, "SLUICE_LOG_LEVEL", "info");
    const char *format = sl_pick(o->log_format, fc.log_format, "SLUICE_LOG_FORMAT", "text");
    int lvl = sl_log_parse_level(level);
    if (lvl < 0 || (strcmp(format, "text") && strcmp(format, "json"))) {
        fprintf(stderr, "sluice serve: bad log level %s or format %s\n", level, format);
        sl_conf_free(sl_serve_conf_defs, &fc);
        return SL_EXIT_USAGE;
    }
    sl_log_set_level((sl_log_level_t)lvl);
    sl_log_set_json(!strcmp(format, "json"));
    const char *data_dir = sl_pick(o->data_dir, fc.data_dir, "SLUICE_DATA_DIR", "./sluice-data");
    const char *listen = sl_pick(o->listen, fc.listen, "SLUICE_LISTEN", "127.0.0.1:8080");
    const char *pdir = sl_pick(o->pipelines, fc.pipelines_dir, "SLUICE_PIPELINES_DIR", NULL);
    const char *tfile = sl_pick(o->token_file, fc.auth_token_file, "SLUICE_AUTH_TOKEN_FILE",
                                NULL);
    char err[SL_ERRSTR_SIZE];
    char *token = NULL;
    if (tfile) {
        token = sl_read_token(tfile, err, sizeof(err));
        if (!token) {
            fprintf(stderr, "sluice serve: %s\n", err);
            sl_conf_free(sl_serve_conf_defs, &fc);
            return SL_EXIT_USAGE;
        }
    } else if (getenv("SLUICE_AUTH_TOKEN") && *getenv("SLUICE_AUTH_TOKEN")) {
        token = sl_strdup(getenv("SLUICE_AUTH_TOKEN"));
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = SL_EXIT_OK;
    sl_api_t *api = NULL;
    sl_manager_t *m = sl_manager_new(data_dir, err, sizeof(err));
    if (!m) {
        sl_error("serve: %s", err);
        rc = SL_EXIT_RUNTIME;
        goto out;
    }
    sl_manager_load(m);
    if (pdir && sl_manager_apply_dir(m, pdir) != 0)
        sl_warn("serve: some specs in %s were not applied (see above)", pdir);
    sl_api_conf_t ac = {.listen = listen, .auth_token = token,
                        .max_body = fc.max_body_bytes ? (size_t)fc.max_body_bytes : 1 << 20,
                        .threads = fc.http_threads ? (unsigned)fc.http_threads : 4};
    api = sl_api_start(m, &ac, err, sizeof(err));
    if (!api) {
        sl_error("serve: %s", err);
        rc = SL_EXIT_RUNTIME;
        goto out;
    }
    {
        const char *colon = strrchr(listen, ':');
        sl_info("listening on http://%.*s:%u (data dir %s, auth %s)",
                (int)(colon - listen), listen, sl_api_port(api), data_dir,
                token ? "bearer token" : "off");
    }
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGINT || sig == SIGTERM) {
            sl_info("received %s: stopping every pipeline (again to exit immediately)",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
    }
    sl_api_stop(api);
    api = NULL;
    {
        /* A second signal during the drain exits at once. */
        pthread_t t;
        if (pthread_create(&t, NULL, sl_second_signal_thread, &set) == 0) pthread_detach(t);
    }
out:
    sl_api_stop(api);
    sl_manager_free(m);
    sl_conf_free(sl_serve_conf_defs, &fc);
    free(token);
    if (rc == SL_EXIT_OK) sl_info("serve: stopped");
    return rc;
}

int main(int argc, char **argv)
{
    sl_opts_t o = {0};
    const char *cmd = NULL;
    char **args = sl_calloc((size_t)argc + 1, sizeof(char *));
    int nargs = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            printf("sluice %s\n", SL_VERSION);
            free(args);
            return SL_EXIT_OK;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(sl_usage, stdout);
            free(args);
            return SL_EXIT_OK;
        } else if (!strcmp(a, "--data-dir") || !strcmp(a, "--log-format") ||
                   !strcmp(a, "--log-level") || !strcmp(a, "--listen") ||
                   !strcmp(a, "--config") || !strcmp(a, "--pipelines") ||
                   !strcmp(a, "--auth-token-file")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sluice: %s needs a value\n", a);
                free(args);
                return SL_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--data-dir")) {
                o.data_dir = v;
            } else if (!strcmp(a, "--listen")) {
                o.listen = v;
            } else if (!strcmp(a, "--config")) {
                o.config = v;
            } else if (!strcmp(a, "--pipelines")) {
                o.pipelines = v;
            } else if (!strcmp(a, "--auth-token-file")) {
                o.token_file = v;
            } else if (!strcmp(a, "--log-format")) {
                if (strcmp(v, "json") && strcmp(v, "text")) {
                    fprintf(stderr, "sluice: --log-format must be text or json (got %s)\n", v);
                    free(args);
                    return SL_EXIT_USAGE;
                }
                sl_log_set_json(!strcmp(v, "json"));
                o.log_format = v;
            } else {
                int lvl = sl_log_parse_level(v);
                if (lvl < 0) {
                    fprintf(stderr, "sluice: --log-level must be debug, info, warn or error "
                            "(got %s)\n", v);
                    free(args);
                    return SL_EXIT_USAGE;
                }
                sl_log_set_level((sl_log_level_t)lvl);
                o.log_level = v;
            }
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "sluice: unknown option %s\n%s", a, sl_usage);
            free(args);
            return SL_EXIT_USAGE;
        } else if (!cmd) {
            cmd = a;
        } else {
            args[nargs++] = argv[i];
        }
    }
    int rc;
    if (!cmd) {
        fputs(sl_usage, stderr);
        rc = SL_EXIT_USAGE;
    } else if (!strcmp(cmd, "validate")) {
        rc = sl_cmd_validate(nargs, args);
    } else if (!strcmp(cmd, "serve")) {
        if (nargs) {
            fprintf(stderr, "sluice serve: unexpected argument %s\n%s", args[0], sl_usage);
            rc = SL_EXIT_USAGE;
        } else {
            rc = sl_cmd_serve(&o);
        }
    } else if (!strcmp(cmd, "run")) {
        if (nargs != 1) {
            fprintf(stderr, "sluice run: exactly one spec file expected\n%s", sl_usage);
            rc = SL_EXIT_USAGE;
        } else {
            rc = sl_cmd_run(args[0], sl_pick(o.data_dir, NULL, "SLUICE_DATA_DIR",
                                             "./sluice-data"));
        }
    } else {
        fprintf(stderr, "sluice: unknown command %s\n%s", cmd, sl_usage);
        rc = SL_EXIT_USAGE;
    }
    free(args);
    return rc;
}
