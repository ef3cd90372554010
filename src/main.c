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

#include <signal.h>
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
        if (st == SL_PSTATE_FAILED || st == SL_PSTATE_STOPPED) break;
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

int main(int argc, char **argv)
{
    const char *data_dir = getenv("SLUICE_DATA_DIR");
    if (!data_dir || !*data_dir) data_dir = "./sluice-data";
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
                   !strcmp(a, "--log-level")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sluice: %s needs a value\n", a);
                free(args);
                return SL_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--data-dir")) {
                data_dir = v;
            } else if (!strcmp(a, "--log-format")) {
                if (strcmp(v, "json") && strcmp(v, "text")) {
                    fprintf(stderr, "sluice: --log-format must be text or json (got %s)\n", v);
                    free(args);
                    return SL_EXIT_USAGE;
                }
                sl_log_set_json(!strcmp(v, "json"));
            } else {
                int lvl = sl_log_parse_level(v);
                if (lvl < 0) {
                    fprintf(stderr, "sluice: --log-level must be debug, info, warn or error "
                            "(got %s)\n", v);
                    free(args);
                    return SL_EXIT_USAGE;
                }
                sl_log_set_level((sl_log_level_t)lvl);
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
    } else if (!strcmp(cmd, "run")) {
        if (nargs != 1) {
            fprintf(stderr, "sluice run: exactly one spec file expected\n%s", sl_usage);
            rc = SL_EXIT_USAGE;
        } else {
            rc = sl_cmd_run(args[0], data_dir);
        }
    } else {
        fprintf(stderr, "sluice: unknown command %s\n%s", cmd, sl_usage);
        rc = SL_EXIT_USAGE;
    }
    free(args);
    return rc;
}
