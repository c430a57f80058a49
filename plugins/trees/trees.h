/*
** trees.h: internals shared by the files of the trees plugin (CART,
** random forest, histogram gradient boosting). Not part of the ABI: only
** plugin.c exports anything (moonbench_plugin), everything else is mbt_.
**
** DESIGN
** Every model works on binned features: each feature's training values are
** cut into at most 255 quantile bins (binning.c); bin b holds the values x
** with edge[b-1] < x <= edge[b], and missing values (NaN) get their own bin
** nb[f] (the last). A split "bin <= b" is therefore exactly "x <= edge[b]"
** on raw floats, which is the threshold written into the portable form, so
** the plugin, the portable scorer and the exporters take the same path.
**
** Binned data is kept twice (uint8): row-major for histogram building in
** gradient boosting (one gradient pair per row, all its bins in one cache
** line) and column-major for partitioning rows and for the forest, which
** looks at a few features per node.
**
** A fitted model is an mbt_ensemble: flat node arrays shaped like the ABI's
** mb_tree_form, so portable() only hands out pointers. Prediction uses a
** compact copy of the nodes (ensemble.c).
*/
#ifndef MBT_TREES_H
#define MBT_TREES_H

#include <stddef.h>
#include <stdint.h>

#include "moonbench_plugin.h"

/* {====== memory and errors ======} */

void *mbt_alloc(const mb_host *h, size_t n);              /* NULL on failure */
void *mbt_calloc(const mb_host *h, size_t n, size_t size); /* zeroed; NULL on failure or overflow */
void *mbt_realloc(const mb_host *h, void *p, size_t n);
/* Resize array ptr to n elements through host h, or return -1 from the
** calling function (which then frees what it owns). */
#define MBT_GROW(h, ptr, n)                                                                        \
    do {                                                                                           \
        void *np_ = mbt_realloc((h), (ptr), (n) * sizeof *(ptr));                                  \
        if (!np_)                                                                                  \
            return -1;                                                                             \
        (ptr) = np_;                                                                               \
    } while (0)
void mbt_free(const mb_host *h, void *p);
/* Write a message into err (MB_PLUGIN_ERRLEN) and return code. */
int mbt_fail(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* {====== random numbers (splitmix64 / xoshiro256**) ======} */

typedef struct mbt_rng {
    uint64_t s[4];
} mbt_rng;

void mbt_rng_seed(mbt_rng *r, uint64_t seed);
uint64_t mbt_rng_next(mbt_rng *r);
double mbt_rng_unif(mbt_rng *r);           /* [0, 1) */
uint64_t mbt_rng_below(mbt_rng *r, uint64_t n); /* [0, n) */

/* {====== thread pool ======}
** A fixed set of workers for one fit. run() calls fn(arg, tid, nthreads)
** on every thread (the caller is tid 0) and returns when all are done.
** Work is split by tid only, so results never depend on timing. */
typedef struct mbt_pool mbt_pool;
typedef void (*mbt_task_fn)(void *arg, int tid, int nthreads);

mbt_pool *mbt_pool_new(const mb_host *h, int nthreads); /* NULL on failure */
int mbt_pool_size(const mbt_pool *p);
void mbt_pool_run(mbt_pool *p, mbt_task_fn fn, void *arg);
void mbt_pool_free(mbt_pool **p);

/* {====== binning ======} */

#define MBT_MAX_BINS 255

typedef struct mbt_bins {
    size_t nfeatures;
    int32_t *offset;              /* nfeatures + 1: feature f's edges are edges[offset[f]..offset[f+1]) */
    float *edges;                 /* ascending upper edges; the last of each feature is +inf */
} mbt_bins;

/* Binned training (or validation) data. nb[f] = number of value bins of f
** (1..255); bin nb[f] is NaN. hoff[f] = start of f's slots in a histogram
** (nb[f] + 1 slots per feature), hoff[nfeatures] = total slots. */
typedef struct mbt_binned {
    size_t rows, cols;
    uint8_t *rowbins;             /* rows x cols, or NULL */
    uint8_t *colbins;             /* cols x rows, or NULL */
    uint16_t *nb;                 /* cols */
    uint32_t *hoff;               /* cols + 1 */
} mbt_binned;

/* Fit bin edges on (a sample of at most 200,000 rows of) X. */
int mbt_bins_fit(mbt_bins *b, const mb_host *h, const mb_matrix *X, int max_bins, uint64_t seed,
                 mbt_pool *pool, char *err);
void mbt_bins_free(mbt_bins *b, const mb_host *h);
/* Bin X with b into d (rowbins and/or colbins as asked). */
int mbt_bin_data(mbt_binned *d, const mb_host *h, const mbt_bins *b, const mb_matrix *X, int want_rows,
                 int want_cols, mbt_pool *pool, char *err);
void mbt_binned_free(mbt_binned *d, const mb_host *h);
/* The bin of x for feature f. */
uint8_t mbt_bin_of(const mbt_bins *b, size_t f, float x);

/* gbdt_simd.c: whether the CPU and OS run AVX-512 F and DQ and the
** environment does not turn the vector paths off (MOONBENCH_TREES_SIMD=0;
** then the scalar loops, which give the same bits, run). */
int mbt_avx512_ok(void);
/* Rows [r0, r1) of X binned as bin_task does (mbt_bin_search), sixteen
** features at a time, into rb (rows x F) and/or cb (F x n), when given;
** pad: each feature's edges padded with +inf to 256 (F x 256). */
void mbt_bin_rows_simd(const float *pad, const uint16_t *nbs, const mb_matrix *X, size_t r0, size_t r1,
                       uint8_t *rb, uint8_t *cb, size_t n);

/* The bin of x among nb ascending edges e (the last +inf): the first edge
** with x <= edge, or nb for NaN. */
static inline uint8_t mbt_bin_search(const float *e, int nb, float x)
{
    if (x != x)
        return (uint8_t)nb;
    const float *base = e;
    int len = nb;
    while (len > 1) {
        int half = len / 2;
        /* arithmetic, not ?:, so the compiler cannot turn it into a branch */
        base += (size_t)(base[half - 1] < x) * (size_t)half;
        len -= half;
    }
    return (uint8_t)((base - e) + (*base < x));
}

/* {====== ensembles ======} */

typedef struct mbt_ensemble {
    size_t nfeatures, noutputs, leaf_width;
    size_t ntrees, nnodes, cap_trees, cap_nodes;
    int32_t *root, *tree_output;
    int32_t *feature, *left, *right, *tbin;
    float *threshold;
    uint8_t *default_left;
    double *value;                /* nnodes * leaf_width */
    double *gain;                 /* nnodes: split gain (0 for leaves) */
    double *cover;                /* nnodes: training hessian / weight sum that reached the node */
    double *base_score;           /* noutputs */
    int average;
    mb_link link;
} mbt_ensemble;

int mbt_ens_init(mbt_ensemble *e, const mb_host *h, size_t nfeatures, size_t noutputs, size_t leaf_width);
void mbt_ens_free(mbt_ensemble *e, const mb_host *h);
/* Start a new tree (one leaf node); returns the tree index or -1 (ENOMEM). */
int32_t mbt_ens_add_tree(mbt_ensemble *e, const mb_host *h, int32_t output);
/* Append a node (a leaf with zero values); its index or -1. */
int32_t mbt_ens_add_node(mbt_ensemble *e, const mb_host *h);
/* Keep only the first ntrees trees (and their nodes). */
void mbt_ens_truncate(mbt_ensemble *e, size_t ntrees);
/* Node leaf of the tree rooted at root that row (of binned data) reaches. */
int32_t mbt_ens_leaf_binned(const mbt_ensemble *e, int32_t root, const uint8_t *rowbins,
                            const uint16_t *nb);

/* {====== models ======} */

typedef enum mbt_kind { MBT_CART = 0, MBT_FOREST = 1, MBT_GBDT = 2 } mbt_kind;

enum { MBT_CRIT_AUTO, MBT_CRIT_GINI, MBT_CRIT_ENTROPY, MBT_CRIT_SQUARED };
enum { MBT_LOSS_AUTO, MBT_LOSS_SQUARED, MBT_LOSS_ABSOLUTE, MBT_LOSS_HUBER, MBT_LOSS_LOGLOSS,
       MBT_LOSS_SOFTMAX };
enum { MBT_GROW_DEPTHWISE, MBT_GROW_LEAFWISE };

typedef struct mbt_params {
    /* shared */
    int64_t n_trees, max_depth, min_samples_leaf, max_bins;
    /* cart / forest */
    int64_t criterion, min_samples_split;
    double min_impurity_decrease, max_features, ccp_alpha, max_samples;
    int bootstrap, oob_score;
    /* gbdt */
    int64_t max_leaves, growth, loss, early_stopping_rounds;
    double learning_rate, huber_delta, lambda_l2, lambda_l1, min_child_weight, min_split_gain,
        subsample, colsample, validation_fraction;
} mbt_params;

typedef struct mbt_predictor mbt_predictor;

typedef struct mbt_model {
    mbt_kind kind;
    const mb_host *host;
    mbt_params p;
    int fitted;
    mb_task task;
    size_t nclasses, nfeatures;
    int threads;                  /* for predict: the fit's thread count */
    mbt_ensemble ens;
    mbt_bins bins;
    double oob_score;             /* NaN when not computed */
    int64_t best_iteration;       /* gbdt: rounds kept (-1 when not early stopped) */
    /* gbdt: whether early stopping watched a validation loss (1, 0, or -1:
    ** unknown, a state saved before "fit_stats"), and the mean training /
    ** validation losses of the kept model (NaN when unknown); saved as the
    ** optional "fit_stats" array */
    int early_stopping;
    double train_loss, valid_loss;
    int64_t n_held_out;           /* gbdt: training rows held out for early stopping (0 after load) */
    mbt_predictor *pred;          /* padded trees for predict (ensemble.c) */
    /* what fit_info reports (plugin.c), refreshed at each fit and load */
    size_t info_n;
    const char *info_names[8]; /* at most 7 today (set_info in plugin.c) */
    double info_values[8];
} mbt_model;

/* Fitting (gbdt.c, forest.c). On failure the model is left unfitted. */
int mbt_gbdt_fit(mbt_model *m, const mb_dataset *train, const mb_dataset *valid,
                 const mb_fit_context *ctx, char *err);
int mbt_forest_fit(mbt_model *m, const mb_dataset *train, const mb_dataset *valid,
                   const mb_fit_context *ctx, char *err);

/* Prediction, saving (ensemble.c). */
int mbt_prepare_predict(mbt_model *m);
void mbt_predictor_free(const mb_host *h, mbt_predictor **p);
/* raw[i * noutputs + k] after the link (probabilities, or values). */
int mbt_predict_out(mbt_model *m, const mb_matrix *X, double *out, char *err);
int mbt_save(const mbt_model *m, const mb_state_writer *w, char *err);
int mbt_load(mbt_model *m, const mb_state_reader *r, char *err);
void mbt_model_clear(mbt_model *m);

/* Report progress and check cancellation; returns non-zero when cancelled. */
int mbt_progress(const mb_fit_context *ctx, double fraction, const char *msg, double train_loss,
                 double valid_loss);
int mbt_cancelled(const mb_fit_context *ctx);

#endif
