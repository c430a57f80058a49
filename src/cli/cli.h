/*
** cli.h: the subcommands of the moonbench executable. Each takes the
** arguments after its name and returns the process exit status: 0 on
** success, 1 on a failure (message already printed), 2 on a usage error.
**
** The help (`moonbench help`, `moonbench help CMD`, `CMD --help`) is
** generated from the three tables below (src/main.c): MB_COMMANDS (one row
** per command), MB_OPTIONS (one row per option, keyed by the command's
** name) and MB_EXAMPLES (one or more examples per command). A command
** without option or example rows is fine: its help shows the usage line.
*/
#ifndef MB_CLI_H
#define MB_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "mb.h"

/* X(name, function, one-line help, usage) */
#define MB_COMMANDS(X)                                                              \
    X(inspect, mb_cmd_inspect, "show a file's groups, datasets and column summary", \
      "inspect [--all] FILE[:/PATH]...")                                            \
    X(import, mb_cmd_import, "convert a CSV file to HDF5 (streaming)",              \
      "import IN.csv -o OUT.h5 [--target COL] [--delimiter ,|;|tab]")                \
    X(plugins, mb_cmd_plugins, "list the model plugins, their models and parameters", \
      "plugins")                                                                    \
    X(fit, mb_cmd_fit, "train a model (and its transforms) on a dataset into a model bundle", \
      "fit DATA -m MODEL [-p key=value]... [-t KIND[:opt=value]...]... [--pipeline FILE.lua] [--prep auto|none] [--test F|N | --cv K] [--valid DATA] [--target COL] [--weights COL] [--task T] [--threads N] [--seed S] [--threshold P] -o MODEL.h5") \
    X(score, mb_cmd_score, "score a file (in chunks) or a stream on stdin with a model bundle", \
      "score MODEL.h5 DATA [-o OUT.csv|OUT.h5] [--id COL] [--rejects FILE] [--threshold T] [--chunk N] [--threads N] [--allow-lua] [--trust KEY.pub]... | score MODEL.h5 --stream [--format ndjson|csv] [--batch N] [--id COL] [--threshold T]") \
    X(predict, mb_cmd_score, "the same as score (its older name)",                \
      "predict MODEL.h5 DATA [-o OUT.csv] (every option of score)")                 \
    X(drift, mb_cmd_drift, "how far data has drifted from a bundle's training data (PSI, KS); exit 3 on drift", \
      "drift MODEL.h5 DATA [--json] [--threshold 0.2] [--rejects FILE] [--allow-lua] [--trust KEY.pub]...") \
    X(evaluate, mb_cmd_evaluate, "report a bundle's metrics on labelled data",      \
      "evaluate MODEL.h5 DATA [--group COL]... [--boot N] [--seed S] [--json]")     \
    X(explain, mb_cmd_explain, "explain a bundle's predictions: exact SHAP per row and feature, or permutation importance", \
      "explain MODEL.h5 DATA [-o OUT.csv|OUT.h5] [--rows A:B] [--top K] [--threads N] [--trust KEY.pub]... | explain MODEL.h5 DATA --permutation [--repeats N] [--metric M] [--seed S] [--top K] | explain MODEL.h5 DATA --pdp COL[,COL] [--grid N] [--ice] [-o OUT.csv]") \
    X(card, mb_cmd_card, "a model card from the bundle's facts and test data: metrics, importance, fairness by group", \
      "card MODEL.h5 [--data TEST] [--group COL]... [--top K] [--boot N] [--seed S] [--html] [-o CARD.md|CARD.html] [--trust KEY.pub]...") \
    X(compare, mb_cmd_compare, "cross-validate several models on the same folds: a leaderboard", \
      "compare DATA -m MODEL [-p key=value]... [-m MODEL ...] [-t KIND[:opt=value]...]... [--prep auto|none] [--cv K] [--repeats R] [--metric M] [--target COL] [--seed S] [--threads N]") \
    X(tune, mb_cmd_tune, "grid or random search of a model's parameters by cross-validation", \
      "tune DATA -m MODEL (--grid key=v1,v2...)... | (--random key=lo:hi[:int|log]... [--n N]) [-p key=value]... [-t ...]... [--prep auto|none] [--cv K] [--metric M] [--target COL] [--seed S] [--threads N] [-o BEST.h5]") \
    X(serve, mb_cmd_serve, "serve a model bundle over HTTP: /predict, Open Inference Protocol v2, /metrics", \
      "serve MODEL.h5 [--host 127.0.0.1] [--port 8080] [--threads N] [--token TOKEN | --token-file F] [--max-body BYTES] [--access-log FILE|-] [--name NAME] [--drift-window ROWS] [--drift-threshold PSI] [--drain-timeout S] [--threshold T] [--allow-lua] [--trust KEY.pub]...") \
    X(worker, mb_cmd_worker, "score a Redis Streams consumer group: entries in, predictions out, at-least-once", \
      "worker MODEL.h5 --redis redis://[user:pass@]host[:port][/db] --in STREAM --group G [--consumer NAME] [--out STREAM] [--dead STREAM] [--create-group] [--batch N] [--claim-idle MS] [--metrics-port P] [--allow-lua] [--trust KEY.pub]...") \
    X(export, mb_cmd_export, "export a model bundle as standalone C99 or as ONNX", \
      "export MODEL.h5 --format c|onnx -o DIR|FILE.onnx [--tree-tables | --tree-code] [--threshold T] [--trust KEY.pub]...") \
    X(run, mb_cmd_run, "run a Lua script with the moonbench module",               \
      "run [--sandbox] [--memory MB] [--timeout S] SCRIPT.lua [ARGS...]")           \
    X(keygen, mb_cmd_keygen, "make an Ed25519 key pair for signing bundles",        \
      "keygen -o KEYBASE   (writes KEYBASE.key, mode 0600, and KEYBASE.pub)")        \
    X(sign, mb_cmd_sign, "sign a model bundle with a secret key",                   \
      "sign MODEL.h5 --key KEYBASE.key")                                             \
    X(verify, mb_cmd_verify, "check a bundle's signature against trusted keys",     \
      "verify MODEL.h5 --trust KEY.pub...")                                          \
    X(audit, mb_cmd_audit, "the audit trail: the data, parameters and command behind a bundle; check the log's hash chain", \
      "audit [MODEL.h5] [--log PATH] [--verify] [--json]")

/* X(command, option, argument ("" for a flag), help) */
#define MB_OPTIONS(X)                                                                              \
    X(inspect, "--all", "", "also show PyTables' index internals (_i_* groups)")                   \
    X(import, "-o", "OUT.h5", "the HDF5 file to write (written atomically)")                       \
    X(import, "--target", "COL", "mark COL as the target column")                                 \
    X(import, "--delimiter", "C", "the field separator: one character or 'tab' (default: guessed)") \
    X(fit, "-m", "MODEL", "the model: a name from `moonbench plugins`, or plugin/name")            \
    X(fit, "-p", "key=value", "a model parameter (repeatable); `moonbench plugins` lists them")    \
    X(fit, "-t", "KIND[:opt=value]...", "a transform, fitted on the training rows and saved in the bundle (repeatable, in order). " \
      "Kinds: standardize minmax impute onehot ordinal log1p clip poly2 select drop; options: " \
      "columns=a,b strategy=mean|median|most_frequent|constant fill=X fill_text=S add_indicator=true " \
      "unknown=ignore|error lo=X hi=X (as mb.transform_new in Lua)")                               \
    X(fit, "--pipeline", "FILE.lua", "a Lua file returning mb.pipeline{transforms..., model} (C transforms only)") \
    X(fit, "--prep", "auto|none", "with no -t: auto (default) adds what the model needs (encoding, imputation, scaling) and prints it; none refuses") \
    X(fit, "--test", "F|N", "hold out a fraction (0 < F < 1) or N rows, stratified for classification; report their metrics") \
    X(fit, "--cv", "K", "K-fold cross-validation (stratified for classification) before the final fit on all rows") \
    X(fit, "--valid", "DATA", "early-stopping data for models that use it (not a score)")          \
    X(fit, "--target", "COL", "the target column (default: the file's)")                          \
    X(fit, "--weights", "COL", "a column of sample weights (numbers >= 0), then not a feature")   \
    X(fit, "--task", "T", "regression, binary or multiclass (default: the file's, or inferred)")  \
    X(fit, "--threads", "N", "threads to use, 1 to the machine's cores (default: all)")           \
    X(fit, "--seed", "S", "seed of the split and the model, an integer >= 0 (default 0)")         \
    X(fit, "--threshold", "P", "binary models: class 1 when its probability is above P, in (0, 1) (default 0.5); stored in the bundle for every scoring path") \
    X(fit, "-o", "MODEL.h5", "the bundle to write")                                               \
    X(score, "-o", "OUT.csv|OUT.h5", "write the predictions there, CSV or HDF5 by extension (default: CSV on standard output)") \
    X(score, "--id", "COL", "pass column COL through to the output, first (and into --stream answers)") \
    X(score, "--rejects", "FILE", "rows that cannot be scored, as row,reason (default OUT.rejects.csv, or stderr)") \
    X(score, "--threshold", "T", "binary models: class 1 when its probability is above T (default: the bundle's, or 0.5)") \
    X(score, "--chunk", "N", "rows read and scored at a time (default 65536)")                     \
    X(score, "--threads", "N", "threads that score each chunk, 1 to 64 (default: one per online CPU)") \
    X(score, "--stream", "", "score NDJSON or CSV lines on standard input, one JSON line out per line") \
    X(score, "--format", "ndjson|csv", "--stream: the input format (default: from the first character)") \
    X(score, "--batch", "N", "--stream: score up to N lines per model call, in order")            \
    X(score, "--allow-lua", "", "run the bundle's Lua steps (restricted); refused without it")     \
    X(score, "--trust", "KEY.pub", "refuse a bundle not signed by one of these keys (repeatable)") \
    X(drift, "--json", "", "print the report as JSON")                                           \
    X(drift, "--threshold", "P", "flag a feature whose PSI is above P (default 0.2); exit 3 when any is") \
    X(drift, "--rejects", "FILE", "rows that cannot be transformed, as row,reason (default: stderr)") \
    X(drift, "--allow-lua", "", "run the bundle's Lua steps (restricted)")                        \
    X(drift, "--trust", "KEY.pub", "refuse a bundle not signed by one of these keys (repeatable)") \
    X(evaluate, "--json", "", "print the report as JSON")                                         \
    X(evaluate, "--group", "COL", "fairness by group: metrics per value of COL and the disparities between groups (repeatable: the columns' intersection)") \
    X(evaluate, "--boot", "N", "--group: bootstrap resamples of the intervals (default 1000; 0: none)") \
    X(evaluate, "--seed", "S", "--group: seed of the bootstrap (default 0)")                       \
    X(explain, "-o", "OUT.csv|OUT.h5", "write each row's contributions: a column per input column (per class for multiclass) and expected_value") \
    X(explain, "--rows", "A:B", "explain rows A to B-1 of the data, counting from 0 (either side may be left out)") \
    X(explain, "--top", "K", "show the K most important columns in the summary")                 \
    X(explain, "--threads", "N", "TreeSHAP threads (default: all cores)")                          \
    X(explain, "--permutation", "", "permutation importance instead of SHAP (any model, including the MLP); needs the target in DATA") \
    X(explain, "--repeats", "N", "permutations per feature (default 5)")                           \
    X(explain, "--metric", "M", "accuracy, roc_auc, neg_log_loss, r2 or neg_rmse (default accuracy or r2)") \
    X(explain, "--seed", "S", "seed of the permutations (default 0)")                              \
    X(card, "--data", "TEST", "labelled data to measure: metrics with intervals, importance, fairness (without it the card says so)") \
    X(card, "--group", "COL", "add fairness by group (repeatable: the columns' intersection); needs --data") \
    X(card, "--top", "K", "the K most important columns (default 10)")                           \
    X(card, "--boot", "N", "bootstrap resamples of the intervals (default 200; 0: none)")         \
    X(card, "--seed", "S", "seed of the bootstrap and of permutation importance (default 0)")     \
    X(card, "--html", "", "a standalone HTML page (inline SVG bars, no external assets) instead of Markdown") \
    X(card, "-o", "CARD.md|CARD.html", "where to write (atomically; default: standard output)")  \
    X(card, "--trust", "KEY.pub", "refuse the bundle unless signed by one of these keys (repeatable)") \
    X(explain, "--pdp", "COL[,COL]", "partial dependence on one or two input columns (any model): the mean prediction (binary: P(class 1)) over DATA at each grid point") \
    X(explain, "--grid", "N", "--pdp: grid points per column, between its 5% and 95% quantiles, or its distinct values when fewer (default 100)") \
    X(explain, "--ice", "", "--pdp: also each row's curve (ICE), written with -o OUT.csv")          \
    X(audit, "--log", "PATH", "the audit log to read (default: $MOONBENCH_AUDIT_LOG, else $XDG_STATE_HOME/moonbench/audit.jsonl, else ~/.local/state/moonbench/audit.jsonl)") \
    X(audit, "--verify", "", "check the whole hash chain; name the first broken line and exit 1")   \
    X(audit, "--json", "", "print the matching events as JSON lines, as logged")                   \
    X(compare, "-m", "MODEL", "a model to compare (repeatable); -p after it sets its parameters")  \
    X(compare, "-p", "key=value", "a parameter of the model named before it")                     \
    X(compare, "-t", "KIND[:opt=value]...", "a transform for every model (as fit -t)")             \
    X(compare, "--prep", "auto|none", "with no -t: add what each model needs (as fit)")           \
    X(compare, "--cv", "K", "folds (default 5)")                                                   \
    X(compare, "--repeats", "R", "repeated cross-validation, R times with seeds S, S+1, ... (default 1)") \
    X(compare, "--metric", "M", "accuracy, roc_auc, f1_macro, log_loss, rmse, r2, ... (default accuracy or rmse)") \
    X(compare, "--target", "COL", "the target column")                                             \
    X(compare, "--seed", "S", "seed of the folds (default 0)")                                     \
    X(compare, "--threads", "N", "threads per fit")                                                \
    X(tune, "-m", "MODEL", "the model to tune")                                                    \
    X(tune, "--grid", "key=v1,v2,...", "values to try for a parameter (repeatable: every combination)") \
    X(tune, "--random", "key=lo:hi[:int|log]", "a range to sample a parameter from (repeatable)")  \
    X(tune, "--n", "N", "random search: candidates to draw (default 10)")                          \
    X(tune, "-p", "key=value", "a fixed parameter")                                                \
    X(tune, "-t", "KIND[:opt=value]...", "a transform (as fit -t)")                                \
    X(tune, "--prep", "auto|none", "with no -t: add what the model needs (as fit)")               \
    X(tune, "--cv", "K", "folds (default 5)")                                                      \
    X(tune, "--metric", "M", "the metric to optimise (default accuracy or rmse)")                  \
    X(tune, "--target", "COL", "the target column")                                                \
    X(tune, "--seed", "S", "seed of the folds and of the random search (default 0)")               \
    X(tune, "--threads", "N", "threads per fit")                                                   \
    X(tune, "-o", "BEST.h5", "save the best parameters refitted on all rows")                     \
    X(export, "--format", "c|onnx", "c: DIR/model.h and DIR/model.c (C99, libm only); onnx: one ONNX file (IR 8, opset 13, ai.onnx.ml 3)") \
    X(export, "-o", "DIR|FILE.onnx", "where to write (a folder for c, created if absent; written atomically)") \
    X(export, "--tree-tables", "", "c: trees as node tables and a loop (smallest code) instead of padded complete trees") \
    X(export, "--tree-code", "", "c: trees as nested ifs with inlined thresholds instead of padded complete trees") \
    X(export, "--threshold", "T", "binary models: class 1 when P(class 1) > T, in (0, 1) (default: the bundle's, else 0.5)") \
    X(export, "--trust", "KEY.pub", "refuse the bundle unless signed by this key (repeatable)")   \
    X(worker, "--redis", "URL", "redis://[user:password@]host[:port][/db]; the password is never printed (no TLS: rediss:// is refused)") \
    X(worker, "--in", "STREAM", "the stream to read")                                            \
    X(worker, "--group", "G", "the consumer group to read it in")                                \
    X(worker, "--consumer", "NAME", "this worker's name in the group (default: HOST-PID)")       \
    X(worker, "--out", "STREAM", "where predictions go (default: IN:out)")                       \
    X(worker, "--dead", "STREAM", "where entries that cannot be scored go, with the reason (default: IN:dead)") \
    X(worker, "--create-group", "", "create the group (and the stream) if missing, from the first entry") \
    X(worker, "--batch", "N", "entries per read, 1..10000 (default 64)")                         \
    X(worker, "--claim-idle", "MS", "take over entries another consumer left pending this long (default 30000)") \
    X(worker, "--metrics-port", "P", "Prometheus /metrics on 127.0.0.1:P")                       \
    X(run, "--sandbox", "", "for untrusted scripts: no processes, C modules or binary chunks; writes only under the working folder") \
    X(run, "--memory", "MB", "limit what Lua allocates")                                           \
    X(run, "--timeout", "S", "stop the script after S seconds")

/* X(command, example) */
#define MB_EXAMPLES(X)                                                                             \
    X(inspect, "moonbench inspect datasets/table/credit_g.h5")                                    \
    X(import, "moonbench import datasets/csv/iris.csv -o iris.h5 --target target")                \
    X(plugins, "moonbench plugins")                                                                \
    X(fit, "moonbench fit datasets/table/credit_g.h5 -m gbdt --test 0.2 -o credit.h5")            \
    X(fit, "moonbench fit datasets/table/vote.h5 -m linear -t impute:strategy=most_frequent -t onehot --cv 5 -o vote.h5") \
    X(score, "moonbench score credit.h5 datasets/csv/credit_g.csv -o scores.csv --id purpose")    \
    X(score, "tail -f events.ndjson | moonbench score credit.h5 --stream --batch 64")            \
    X(predict, "moonbench predict credit.h5 datasets/csv/credit_g.csv -o scores.csv")             \
    X(drift, "moonbench drift credit.h5 last_week.csv --json > drift.json; [ $? -eq 3 ] && echo drifted") \
    X(evaluate, "moonbench evaluate credit.h5 datasets/table/credit_g.h5 --json")                 \
    X(evaluate, "moonbench evaluate credit.h5 datasets/table/credit_g.h5 --group personal_status --group foreign_worker") \
    X(explain, "moonbench explain credit.h5 datasets/table/credit_g.h5 -o shap.csv --top 10")     \
    X(explain, "moonbench explain credit.h5 datasets/table/credit_g.h5 --permutation --repeats 10") \
    X(card, "moonbench card credit.h5 --data datasets/table/credit_g.h5 --group personal_status -o credit_card.md") \
    X(card, "moonbench card credit.h5 --data datasets/table/credit_g.h5 --html -o credit_card.html") \
    X(explain, "moonbench explain credit.h5 datasets/table/credit_g.h5 --pdp duration --grid 20 --ice -o pd.csv") \
    X(compare, "moonbench compare datasets/breast_cancer.h5 -m gbdt -m forest -m linear -p alpha=0.1 --cv 5") \
    X(tune, "moonbench tune datasets/breast_cancer.h5 -m gbdt --grid max_depth=2,4,6 --cv 5 -o best.h5") \
    X(export, "moonbench export credit.h5 --format c -o credit_c")                                \
    X(export, "moonbench export credit.h5 --format onnx -o credit.onnx")                          \
    X(worker, "moonbench worker iris.h5 --redis redis://127.0.0.1:6379 --in rows --group scorers --create-group") \
    X(run, "moonbench run lua/examples/binary.lua")                                               \
    X(audit, "moonbench audit credit.h5")                                                         \
    X(audit, "moonbench audit --verify")

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
/* Print a usage error for a command and return 2. */
int mb_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The help of one command (usage, options, examples) to fp; returns 0, or
** 2 when there is no such command. */
int mb_cli_help(FILE *fp, const char *cmd);
/* 1 when one of argv[1..argc) is --help or -h (the command then prints its
** help and exits 0). */
int mb_cli_wants_help(int argc, char **argv);

/* Strict numbers for options: the whole text must be a number in range;
** 0 on success, else a usage error was printed and 2 is returned. */
int mb_cli_int(const char *cmd, const char *opt, const char *text, long long lo, long long hi, long long *out);
int mb_cli_seed(const char *cmd, const char *text, uint64_t *out);
/* --threads N: 1..the machine's online cores (larger values are capped to
** it); *out = 0 when text is NULL (then all cores). */
int mb_cli_threads(const char *cmd, const char *text, int *out);

#endif
