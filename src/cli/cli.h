/*
** cli.h: the subcommands of the moonbench executable. Each takes the
** arguments after its name and returns the process exit status: 0 on
** success, 1 on a failure (message already printed), 2 on a usage error.
*/
#ifndef MB_CLI_H
#define MB_CLI_H

#include "mb.h"

/* X(name, function, one-line help, usage) */
#define MB_COMMANDS(X)                                                              \
    X(inspect, mb_cmd_inspect, "show a file's groups, datasets and column summary", \
      "inspect FILE[:/PATH]...")                                                    \
    X(import, mb_cmd_import, "convert a CSV file to HDF5 (streaming)",              \
      "import IN.csv -o OUT.h5 [--target COL] [--delimiter ,|;|tab]")                \
    X(plugins, mb_cmd_plugins, "list the model plugins, their models and parameters", \
      "plugins")                                                                    \
    X(fit, mb_cmd_fit, "train a model on a dataset into a model bundle",            \
      "fit DATA -m MODEL [-p key=value]... [--target COL] [--weights COL] [--valid DATA] [--task T] [--threads N] [--seed S] -o MODEL.h5") \
    X(score, mb_cmd_score, "score a file (in chunks) or a stream on stdin with a model bundle", \
      "score MODEL.h5 DATA [-o OUT.csv|OUT.h5] [--id COL] [--rejects FILE] [--threshold T] [--chunk N] [--allow-lua] [--trust KEY.pub]... | score MODEL.h5 --stream [--format ndjson|csv] [--batch N] [--id COL] [--threshold T]") \
    X(predict, mb_cmd_score, "the same as score (its older name)",                \
      "predict MODEL.h5 DATA [-o OUT.csv] (every option of score)")                 \
    X(serve, mb_cmd_serve, "serve a model bundle over HTTP: /predict, Open Inference Protocol v2, /metrics", \
      "serve MODEL.h5 [--host 127.0.0.1] [--port 8080] [--threads N] [--token TOKEN | --token-file F] [--max-body BYTES] [--access-log FILE|-] [--name NAME] [--drift-window ROWS] [--drift-threshold PSI] [--drain-timeout S] [--threshold T] [--allow-lua] [--trust KEY.pub]...") \
    X(drift, mb_cmd_drift, "how far data has drifted from a bundle's training data (PSI, KS); exit 3 on drift", \
      "drift MODEL.h5 DATA [--json] [--threshold 0.2] [--rejects FILE] [--allow-lua] [--trust KEY.pub]...") \
    X(run, mb_cmd_run, "run a Lua script with the moonbench module",               \
      "run [--sandbox] [--memory MB] [--timeout S] SCRIPT.lua [ARGS...]")           \
    X(keygen, mb_cmd_keygen, "make an Ed25519 key pair for signing bundles",        \
      "keygen -o KEYBASE   (writes KEYBASE.key, mode 0600, and KEYBASE.pub)")        \
    X(sign, mb_cmd_sign, "sign a model bundle with a secret key",                   \
      "sign MODEL.h5 --key KEYBASE.key")                                             \
    X(verify, mb_cmd_verify, "check a bundle's signature against trusted keys",     \
      "verify MODEL.h5 --trust KEY.pub...")

#define MB_CMD_DECL_(name, fn, help, usage) int fn(int argc, char **argv);
MB_COMMANDS(MB_CMD_DECL_)
#undef MB_CMD_DECL_

/* `--trust FILE` (repeatable) of every command that loads a bundle: the
** files go to mb_bundle_options.trust_files (bundle.h). */
#define MB_CLI_MAX_TRUST 16
typedef struct mb_cli_trust {
    const char *files[MB_CLI_MAX_TRUST];
    size_t n;
} mb_cli_trust;
/* If argv[*i] is --trust, take its value (advancing *i) and return 1; 0
** when it is another argument; -1 after printing a usage error (exit 2). */
int mb_cli_trust_option(mb_cli_trust *t, const char *cmd, int argc, char **argv, int *i);

/* Print "moonbench: <msg>" to stderr and return 1. */
int mb_cli_error(const mb_error *err);
/* The plugin registry: beside the executable, the install, $MOONBENCH_PLUGIN_PATH. */
struct mb_registry;
void mb_cli_registry(struct mb_registry *r);
/* Print a usage error for a command and return 2. */
int mb_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
