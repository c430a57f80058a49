/*
** runtime.h: the one inference runtime every deployment path calls
** (moonbench score, score --stream, serve, the Redis worker, drift).
**
** DESIGN
** ------
** mb_runtime_open loads a bundle and prepares everything scoring needs,
** once: the pipeline's fitted C transforms are compiled into a row program
** (runtime_pipe.c: one flat list of operations over numbered value slots,
** from the transforms' saved state as transform.h specifies it), the model
** is the bundle's portable form (checked once, here) or, when there is
** none, the plugin named in /model, created and loaded with the saved
** state. A pipeline with a Lua step is scored through embedded Lua (the
** scorer's steps, mb_lua_scorer_steps: a restricted private state) and
** only when the caller allows it (opts.allow_lua).
**
** Input columns are matched by name: extra columns are ignored, a missing
** one is an error naming it. A numeric input given as text is parsed as
** the CSV reader does (C locale; empty, NA, NaN, ?, null, N/A are
** missing); text that is no number is a row error ("column 'age': 'abc'
** is not a number"). A categorical input given as a number takes the
** number's shortest text ("%.9g": 3 -> "3"). Unseen categories follow the
** transform's documented rule (transform.h): onehot "ignore" gives all
** zeros, onehot "error" is a row error naming the column and level,
** ordinal gives NaN.
**
** Classification: the label is the class index and its name from the
** bundle's class list. Binary models say class 1 when P(class 1) >
** threshold: opts.threshold when set, else the bundle's /model threshold
** attribute, else 0.5 (the portable scorer's and the plugins' rule).
**
** THREADS
** -------
** An opened runtime is read-only: share it between any number of threads.
** Nothing is built lazily on first use and no call starts a thread. Each
** thread (or request) scores rows through its own mb_runtime_row_ctx,
** which holds all the scratch memory a row needs, so mb_runtime_row_*
** allocate nothing for C pipelines with a portable form. Two paths take a
** lock and may allocate, and say so in mb_runtime_path(): a model scored
** by its plugin (plugins make no thread-safety promise, so their predict
** calls are serialised) and a pipeline with Lua steps (one Lua state).
** mb_runtime_score_frame allocates per call (a chunk's matrix). The
** *_on variants use a caller's fixed pool of threads (runtime_pool.h):
** mb_runtime_score_frame_on transforms the rows on it too (C pipelines),
** and still calls reject on the caller's thread, in row order.
*/
#ifndef MB_RUNTIME_H
#define MB_RUNTIME_H

#include "bundle.h"
#include "frame.h"

typedef struct mb_runtime mb_runtime;
typedef struct mb_runtime_row_ctx mb_runtime_row_ctx;

typedef enum mb_runtime_kind {
    MB_RUNTIME_PORTABLE = 1, /* the bundle's portable form: no plugin loaded */
    MB_RUNTIME_PLUGIN,       /* the model's plugin, with its saved state */
    MB_RUNTIME_LUA           /* Lua steps in the pipeline: embedded Lua (mb.load) */
} mb_runtime_kind;

typedef struct mb_runtime_opts {
    const mb_registry *registry; /* plugins for bundles with no portable form; may be NULL */
    int allow_lua;               /* run a pipeline's Lua steps (restricted: lmb_run.h); else
                                 ** such a bundle is refused, naming the step */
    double threshold;            /* binary decision threshold in (0, 1); 0: the bundle's */
} mb_runtime_opts;

/* Open a bundle file (read with mb_bundle_load). opts may be NULL (no
** plugins, no Lua, the bundle's threshold). Errors name the file and the
** reason: a missing plugin, a Lua step without allow_lua, damaged state. */
mb_status mb_runtime_open(const char *path, const mb_runtime_opts *opts, mb_runtime **out, mb_error *err);
/* The same from a loaded bundle, which the runtime takes over (freed by
** mb_runtime_close, also on failure; *b becomes NULL). path is used for
** messages and, for Lua pipelines, to load it into Lua. */
mb_status mb_runtime_open_bundle(mb_bundle **b, const char *path, const mb_runtime_opts *opts,
                                 mb_runtime **out, mb_error *err);
void mb_runtime_close(mb_runtime **rt);

/* {====== what the runtime scores ======} */

const mb_bundle *mb_runtime_bundle(const mb_runtime *rt);
mb_runtime_kind mb_runtime_path(const mb_runtime *rt);
/* One line for users: "portable tree form (no plugin loaded)",
** "plugin template 0.1.0 (model knn)", "embedded Lua + portable ..." */
const char *mb_runtime_describe(const mb_runtime *rt);
mb_task mb_runtime_task(const mb_runtime *rt);
/* Classes (0 for regression) and their names. */
size_t mb_runtime_nclasses(const mb_runtime *rt);
const char *mb_runtime_class(const mb_runtime *rt, size_t k);
double mb_runtime_threshold(const mb_runtime *rt);
/* The raw input columns a row must give (the bundle's inputs, or its
** features when it has no pipeline), and whether each is categorical. */
size_t mb_runtime_ninputs(const mb_runtime *rt);
const char *mb_runtime_input(const mb_runtime *rt, size_t i);
int mb_runtime_input_categorical(const mb_runtime *rt, size_t i);
/* Index of the input named name, or -1 (not an input: ignore it). */
long mb_runtime_input_find(const mb_runtime *rt, const char *name);
/* The model's features (after the pipeline). */
size_t mb_runtime_nfeatures(const mb_runtime *rt);

/* {====== one row ======} */

typedef struct mb_prediction {
    double value;            /* regression: the value; classification: the class index */
    long label;              /* class index, -1 for regression */
    const char *class_name;  /* the label's name (borrowed from the runtime), NULL for regression */
    const float *proba;      /* nclasses probabilities (the context's memory, valid until its
                             ** next call), NULL for regression */
} mb_prediction;

/* Per-caller scratch for one row. Never NULL (mb_malloc). */
mb_runtime_row_ctx *mb_runtime_row_ctx_new(const mb_runtime *rt);
void mb_runtime_row_ctx_free(mb_runtime_row_ctx **ctx);

/* Start a new row: every input unset. */
void mb_runtime_row_reset(mb_runtime_row_ctx *ctx);
/* Set input i (mb_runtime_input_find) from a number (NaN: missing) or
** from NUL-terminated text (NULL: missing), converted as the DESIGN above
** says. Text given to a categorical input is borrowed until the next
** predict. A conversion error is MB_ETYPE naming the column and value. */
mb_status mb_runtime_row_set_number(mb_runtime_row_ctx *ctx, size_t i, double v, mb_error *err);
mb_status mb_runtime_row_set_text(mb_runtime_row_ctx *ctx, size_t i, const char *s, mb_error *err);
/* Score the row. An input left unset is MB_ENOTFOUND "the row has no
** value for column 'x'". */
mb_status mb_runtime_row_predict(mb_runtime_row_ctx *ctx, mb_prediction *out, mb_error *err);
/* The pipeline alone: the row's model features into x (nfeatures floats),
** for callers that score many rows in one mb_runtime_score_matrix call
** (micro-batches). Errors as mb_runtime_row_predict's. */
mb_status mb_runtime_row_transform(mb_runtime_row_ctx *ctx, float *x, mb_error *err);
/* The model's features of the row last predicted (nfeatures floats), for
** drift monitoring. */
const float *mb_runtime_row_features(const mb_runtime_row_ctx *ctx);

/* {====== frames (batch) ======} */

/* Called for each row that cannot be scored (row is 0-based in f). */
typedef void (*mb_runtime_reject_fn)(void *ud, size_t row, const char *reason);

/* The model's features of every row of f (X: f->nrows x nfeatures,
** row-major), the inputs taken by name. ok[i] (may be NULL) is 1 for rows
** that could be transformed, 0 for rejected ones, each also reported to
** reject (may be NULL). A missing input column fails the call. */
mb_status mb_runtime_transform_frame(const mb_runtime *rt, const mb_frame *f, float *X, unsigned char *ok,
                                     mb_runtime_reject_fn reject, void *ud, mb_error *err);
/* Score every row of f: label[i] (class index or value) and, for
** classification, proba[i * nclasses + k] (may be NULL). Rejected rows
** are as above and get label NaN. */
mb_status mb_runtime_score_frame(const mb_runtime *rt, const mb_frame *f, float *label, float *proba,
                                 unsigned char *ok, mb_runtime_reject_fn reject, void *ud, mb_error *err);
/* The model on a feature matrix (nfeatures columns): the last step of the
** two above. */
mb_status mb_runtime_score_matrix(const mb_runtime *rt, const mb_matrix *X, float *label, float *proba,
                                  mb_error *err);

/* The same two on the threads of a pool (runtime_pool.h; NULL: the
** caller's thread alone), for batch callers: the rows are scored in
** slices, the pipeline on the caller's thread (rejects are reported in
** row order). The results are exactly those of the calls above, for any
** number of threads. */
typedef struct mb_pool mb_pool;
mb_status mb_runtime_score_frame_on(const mb_runtime *rt, mb_pool *pool, const mb_frame *f, float *label,
                                    float *proba, unsigned char *ok, mb_runtime_reject_fn reject, void *ud,
                                    mb_error *err);
mb_status mb_runtime_score_matrix_on(const mb_runtime *rt, mb_pool *pool, const mb_matrix *X, float *label,
                                     float *proba, mb_error *err);

#endif
