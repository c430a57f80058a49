/*
** moonbench_plugin.h: the moonbench plugin ABI, the only header a model
** plugin includes. Anything not declared here is not a published API.
**
** A plugin is a shared object exporting one function:
**
**     const mb_plugin *moonbench_plugin(unsigned host_abi);
**
** The host dlopen()s the file (RTLD_NOW | RTLD_LOCAL), calls it with the
** ABI version it speaks, and refuses the plugin when the returned
** mb_plugin.abi is newer than its own, naming both versions. A plugin may
** return NULL when the host is too old for it.
**
** ABI rules (docs/plugins.md):
**   - MB_PLUGIN_ABI increases when the ABI changes.
**   - Structs marked "grows at the end" start with struct_size (set it to
**     sizeof) and only ever gain members at their end, so a plugin built for
**     ABI n keeps loading in later hosts: the host reads only the members
**     that struct_size covers.
**   - Plugins never link against the host, never print, never exit or
**     abort on bad input: every call returns an MB_PLUGIN_* status and, on
**     failure, writes a sentence into the host's err buffer
**     (MB_PLUGIN_ERRLEN bytes, NUL-terminated).
**
** Lifecycle of one model:
**   create(params) -> fit(train, valid, ctx) -> predict / predict_proba
**   -> save(writer) ... create(params) -> load(reader) -> destroy
**
** Numbers: features are float32, row-major; labels are float32 (the class
** index 0..k-1 for classification); accumulations are up to the plugin.
*/
#ifndef MOONBENCH_PLUGIN_H
#define MOONBENCH_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MB_PLUGIN_ABI 1
#define MB_PLUGIN_ERRLEN 512

/* Status of every plugin call. */
enum {
    MB_PLUGIN_OK = 0,
    MB_PLUGIN_EINVAL = 1,     /* bad argument or data (wrong shape, NaN label, ...) */
    MB_PLUGIN_ENOMEM = 2,
    MB_PLUGIN_ECANCELLED = 3, /* ctx->cancel was set */
    MB_PLUGIN_EFAIL = 4,      /* anything else (did not converge and cannot go on, ...) */
    MB_PLUGIN_EFORMAT = 5     /* saved state unreadable */
};

/* Tasks, as bit flags in mb_model_type.tasks. */
typedef enum mb_task {
    MB_TASK_REGRESSION = 1,
    MB_TASK_BINARY = 2,
    MB_TASK_MULTICLASS = 4
} mb_task;

/* {====== parameters ======} */

typedef enum mb_param_type {
    MB_PARAM_INT = 1,    /* integer in [min, max] */
    MB_PARAM_REAL = 2,   /* real in [min, max] */
    MB_PARAM_BOOL = 3,   /* true/false, 1/0 */
    MB_PARAM_CHOICE = 4, /* one of choices[] */
    MB_PARAM_INTS = 5    /* comma-separated integers, each in [min, max] ("256,128") */
} mb_param_type;

/* One typed parameter. The host validates values against it (unknown
** names, wrong types and out-of-range values are refused with the list of
** what is valid) before create() sees them. */
typedef struct mb_param_spec {
    const char *name;
    mb_param_type type;
    const char *help;             /* one line */
    const char *def;              /* default, as the user would type it */
    double min, max;              /* INT, REAL, INTS: inclusive range */
    const char *const *choices;   /* CHOICE: NULL-terminated names */
} mb_param_spec;

/* A validated value, one per spec entry (defaults filled in). */
typedef struct mb_param_value {
    double real;                  /* REAL */
    int64_t i;                    /* INT; BOOL (0/1); CHOICE (index into choices) */
    const int64_t *ints;          /* INTS */
    size_t nints;
} mb_param_value;

/* {====== data ======} */

/* A dense float32 matrix, row-major: element (i, j) is x[i * ld + j]. */
typedef struct mb_matrix {
    const float *x;
    size_t rows, cols;
    size_t ld;                    /* >= cols */
} mb_matrix;

typedef struct mb_dataset {
    mb_matrix X;                  /* NaN = missing */
    const float *y;               /* rows labels: value, or class index 0..nclasses-1 */
    const float *w;               /* rows sample weights (>= 0), or NULL for all 1 */
    mb_task task;
    size_t nclasses;              /* 2+ for classification, 0 for regression */
    const char *const *feature_names; /* cols names, or NULL */
} mb_dataset;

/* {====== host services ======} */

typedef struct mb_host {
    size_t struct_size;           /* grows at the end */
    unsigned abi;
    void *(*xmalloc)(size_t n);   /* NULL on failure */
    void *(*xrealloc)(void *p, size_t n);
    void (*xfree)(void *p);
    void (*log)(int level, const char *msg); /* 0 debug, 1 info, 2 warning */
} mb_host;

/* Passed to fit: threads, seed, progress and cancellation. */
typedef struct mb_fit_context {
    size_t struct_size;           /* grows at the end */
    const mb_host *host;
    int threads;                  /* >= 1: use at most this many */
    uint64_t seed;
    /* Progress: fraction done in [0, 1], a short message, and the current
    ** training and validation loss (NaN when unknown). May be NULL. */
    void (*progress)(void *ud, double fraction, const char *msg, double train_loss,
                     double valid_loss);
    void *progress_ud;
    /* Non-zero when the user asked to stop: return MB_PLUGIN_ECANCELLED
    ** soon (between iterations, trees or batches). */
    const volatile int *cancel;
} mb_fit_context;

/* Named typed arrays, the form of a plugin's saved state. The host stores
** them (as HDF5 datasets in the model bundle), so a plugin never touches
** files. Names are [A-Za-z0-9_] and at most 63 bytes. */
typedef enum mb_dtype { MB_DT_F32 = 1, MB_DT_F64, MB_DT_I32, MB_DT_I64, MB_DT_U8 } mb_dtype;

typedef struct mb_state_writer {
    void *ud;
    int (*put)(void *ud, const char *name, mb_dtype type, const void *data, size_t count);
} mb_state_writer;

typedef struct mb_state_reader {
    void *ud;
    /* MB_PLUGIN_EFORMAT when there is no array of that name. */
    int (*size)(void *ud, const char *name, mb_dtype *type, size_t *count);
    /* Reads count elements converted to type; count must match. */
    int (*get)(void *ud, const char *name, mb_dtype type, void *data, size_t count);
} mb_state_reader;

/* {====== portable forms ======}
** A plugin of a standard family describes its fitted model in one of these
** forms; the host stores it in the bundle, and scorers and exporters work
** from it without the plugin. Outputs: 1 for regression and binary (the
** score of class 1), k for multiclass. The link turns raw outputs into
** predictions: identity (regression value, or already probabilities),
** logistic (binary probability), softmax (k probabilities). All pointers
** stay valid until the model is refit or destroyed. */

typedef enum mb_link { MB_LINK_IDENTITY = 0, MB_LINK_LOGISTIC = 1, MB_LINK_SOFTMAX = 2 } mb_link;

typedef enum mb_form_kind {
    MB_FORM_NONE = 0,
    MB_FORM_LINEAR = 1,
    MB_FORM_TREES = 2,
    MB_FORM_MLP = 3
} mb_form_kind;

/* out[k] = link(intercept[k] + sum_j coef[k * nfeatures + j] * x[j]), where
** terms with a zero coefficient are skipped (a feature the model does not
** use may be missing, NaN, without making the output NaN). */
typedef struct mb_linear_form {
    size_t nfeatures, noutputs;
    const double *coef;           /* noutputs x nfeatures, row-major */
    const double *intercept;      /* noutputs */
    mb_link link;
} mb_linear_form;

/* A tree ensemble. Node n of the flat arrays is a split when feature[n] >=
** 0: go to left[n] when x[feature[n]] <= threshold[n], to right[n] when
** greater, and to left[n] if default_left[n] else right[n] when x is NaN.
** Otherwise it is a leaf whose values are value[n * leaf_width ..]. Tree t
** starts at node root[t]. Each tree's leaf adds to the raw outputs: with
** leaf_width == 1 to output tree_output[t], with leaf_width == noutputs to
** every output. raw = base_score + (sum over trees) / (average ? ntrees : 1),
** then the link. Boosting: sum, no average; random forests: average.
** Appended in ABI 1 (this form has no struct_size: the host zeroes the
** mb_portable it passes, so a plugin built before leaves cover NULL):
** cover[n], the training weight that reached node n (the hessian sum for
** boosting, the sample weight sum for forests and CART), which
** path-dependent TreeSHAP needs; NULL when the plugin does not know it. */
typedef struct mb_tree_form {
    size_t nfeatures, noutputs;
    size_t ntrees, nnodes;
    size_t leaf_width;            /* 1 or noutputs */
    const int32_t *root;          /* ntrees */
    const int32_t *tree_output;   /* ntrees (when leaf_width == 1) */
    const int32_t *feature;       /* nnodes, -1 for leaves */
    const float *threshold;       /* nnodes */
    const uint8_t *default_left;  /* nnodes */
    const int32_t *left, *right;  /* nnodes, absolute node indices */
    const double *value;          /* nnodes * leaf_width */
    const double *base_score;     /* noutputs */
    int average;
    mb_link link;
    const double *cover;          /* nnodes, or NULL (appended) */
} mb_tree_form;

typedef enum mb_activation {
    MB_ACT_IDENTITY = 0,
    MB_ACT_RELU = 1,
    MB_ACT_LEAKY_RELU = 2,        /* slope alpha for x < 0 */
    MB_ACT_TANH = 3,
    MB_ACT_SIGMOID = 4,
    MB_ACT_GELU = 5               /* exact: x * Phi(x) */
} mb_activation;

/* h_out = act(W h_in + b), W out x in row-major (PyTorch's Linear). */
typedef struct mb_mlp_layer {
    size_t in, out;
    const float *weight;          /* out x in */
    const float *bias;            /* out */
    mb_activation act;
    float alpha;                  /* LEAKY_RELU slope */
} mb_mlp_layer;

/* Inputs go through layers[0..nlayers); the last layer's outputs are the
** raw outputs (its act is usually IDENTITY), then the link. */
typedef struct mb_mlp_form {
    size_t nlayers;
    const mb_mlp_layer *layers;
    mb_link link;
} mb_mlp_form;

typedef struct mb_portable {
    mb_form_kind kind;
    union {
        mb_linear_form linear;
        mb_tree_form trees;
        mb_mlp_form mlp;
    } u;
} mb_portable;

/* {====== models and plugins ======} */

/* Named numbers a model reports about its last fit (mb_model_type.fit_info). */
typedef struct mb_fit_info {
    size_t n;
    const char *const *names;
    const double *values;
} mb_fit_info;

typedef struct mb_model_type {
    size_t struct_size;           /* grows at the end: sizeof(mb_model_type) */
    const char *name;             /* unique among loaded models: "linear", "gbdt" */
    const char *summary;          /* one line */
    unsigned tasks;               /* MB_TASK_* flags */
    const mb_param_spec *params;
    size_t nparams;

    /* A new unfitted model with validated parameters (one per params[]). */
    int (*create)(const mb_param_value *values, const mb_host *host, void **model, char *err);
    /* Fit on train; valid may be NULL (for early stopping and curves). */
    int (*fit)(void *model, const mb_dataset *train, const mb_dataset *valid,
               const mb_fit_context *ctx, char *err);
    /* out[i]: the regression value, or the predicted class index. */
    int (*predict)(void *model, const mb_matrix *X, float *out, char *err);
    /* out[i * nclasses + k]: probability of class k (binary: 2 columns).
    ** NULL for regression-only models. */
    int (*predict_proba)(void *model, const mb_matrix *X, float *out, char *err);
    int (*save)(void *model, const mb_state_writer *w, char *err);
    /* On a model made by create() with the parameters it was saved with. */
    int (*load)(void *model, const mb_state_reader *r, char *err);
    /* The portable form of the fitted model; may be NULL (then the bundle
    ** keeps only the plugin's state and scoring needs the plugin). */
    int (*portable)(void *model, mb_portable *out, char *err);
    /* Per-feature importance (kind 0: split count or |coef|, 1: total
    ** gain), nfeatures values; may be NULL. */
    int (*importance)(void *model, int kind, double *out, char *err);
    void (*destroy)(void *model);
    /* Appended in ABI 1 (check struct_size before calling): what the last
    ** fit found, as named numbers ("iterations", "converged" 0/1,
    ** "best_iteration", "oob_score", "train_loss", ...); may be NULL. The
    ** arrays stay valid until the model is refit or destroyed. */
    int (*fit_info)(void *model, mb_fit_info *out, char *err);
    /* Appended in ABI 1: the fitted (or loaded) model's feature count and
    ** class count (0 for regression). The host checks a loaded model
    ** against its bundle's schema with it before scoring, so a plugin
    ** without a portable form should provide it; may be NULL. */
    int (*dims)(void *model, size_t *nfeatures, size_t *nclasses, char *err);
} mb_model_type;

typedef struct mb_plugin {
    unsigned abi;                 /* MB_PLUGIN_ABI the plugin was built with */
    const char *name;             /* "trees" */
    const char *version;          /* "1.0.0" */
    const char *summary;
    size_t nmodels;
    const mb_model_type *const *models;
} mb_plugin;

#define MB_PLUGIN_ENTRY "moonbench_plugin"
typedef const mb_plugin *(*mb_plugin_entry_fn)(unsigned host_abi);

#ifdef __cplusplus
}
#endif
#endif
