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
    X(predict, mb_cmd_predict, "score a dataset with a model bundle (CSV out)",    \
      "predict MODEL.h5 DATA [-o OUT.csv]")                                          \
    X(export, mb_cmd_export, "export a model bundle as standalone C99 or as ONNX", \
      "export MODEL.h5 --format c|onnx [--tree-tables] -o DIR|FILE.onnx")          \
    X(run, mb_cmd_run, "run a Lua script with the moonbench module",               \
      "run [--sandbox] [--memory MB] [--timeout S] SCRIPT.lua [ARGS...]")

#define MB_CMD_DECL_(name, fn, help, usage) int fn(int argc, char **argv);
MB_COMMANDS(MB_CMD_DECL_)
#undef MB_CMD_DECL_

/* Print "moonbench: <msg>" to stderr and return 1. */
int mb_cli_error(const mb_error *err);
/* Print a usage error for a command and return 2. */
int mb_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
