/*
** mlp.h: internals of the MLP plugin (plugins/mlp), shared by its files:
**   mlp.c        the ABI glue: parameters, create, predict, save / load,
**                portable form
**   mlp_net.c    the network: layout, initialisation, the fused forward and
**                backward kernels over cblas_sgemm, losses, the one-row path
**   mlp_train.c  fit: mini-batches, optimisers, schedules, early stopping
**   mlp_data.c   the data checks and the gathering of a batch's rows
**   mlp_simd.c   element-wise kernels (AVX-512, AVX2, portable)
**   mlp_gemm.c   the training step's small matrix products (AVX-512)
** Cross-file names are mbmlp_; nothing here is part of the plugin ABI.
*/
#ifndef MBMLP_H
#define MBMLP_H

#include <stddef.h>
#include <stdint.h>

#include "moonbench_plugin.h"

/* Internal to the plugin: hidden from its dynamic symbol table (like Lua's
** LUAI_FUNC), so only moonbench_plugin is exported. */
#if defined(__GNUC__)
#define MBMLP_FUNC __attribute__((visibility("hidden"))) extern
#else
#define MBMLP_FUNC extern
#endif

/* What the output layer computes and which loss trains it. */
typedef enum mbmlp_out {
    MBMLP_OUT_SOFTMAX = 0,  /* k outputs, cross-entropy */
    MBMLP_OUT_SIGMOID = 1,  /* 1 output, log-loss */
    MBMLP_OUT_SQUARED = 2,  /* 1 output, linear, 0.5 (f - y)^2 */
    MBMLP_OUT_HUBER = 3     /* 1 output, linear, Huber with huber_delta */
} mbmlp_out;

enum { MBMLP_OPT_ADAM = 0, MBMLP_OPT_ADAMW = 1, MBMLP_OPT_SGD = 2 };
enum { MBMLP_SCHED_CONSTANT = 0, MBMLP_SCHED_STEP = 1, MBMLP_SCHED_COSINE = 2, MBMLP_SCHED_PLATEAU = 3 };
enum { MBMLP_INIT_AUTO = 0, MBMLP_INIT_HE = 1, MBMLP_INIT_GLOROT = 2 };
enum { MBMLP_LOSS_AUTO = 0, MBMLP_LOSS_SQUARED = 1, MBMLP_LOSS_HUBER = 2 };

/* The validated parameters (see the spec table in mlp.c). */
typedef struct mbmlp_params {
    size_t nhidden;
    size_t hidden[64];
    mb_activation act;
    float leaky_alpha;
    int loss;
    double huber_delta;
    int optimizer;
    double lr, momentum, beta1, beta2, eps;
    int nesterov;
    int schedule;
    int64_t lr_step, lr_patience;
    double lr_gamma;
    double weight_decay, dropout;
    int64_t batch_size, epochs, es_rounds;
    double tol;
    int init;
    int standardize;
} mbmlp_params;

/* A fully connected network. All parameters live in one float array so
** that optimisers update them in one pass: layer l (0-based, nlayers in
** all, the last being the output layer) has its weights, out x in
** row-major, at params + woff[l] and its biases at params + boff[l]. */
typedef struct mbmlp_net {
    size_t nlayers;
    size_t width[66];             /* width[0] inputs, width[l + 1] outputs of layer l */
    size_t woff[65], boff[65];
    size_t nparams;
    float *params;
    mb_activation act;            /* every hidden layer; the output layer is linear */
    float alpha;                  /* leaky relu slope */
    mbmlp_out out;
} mbmlp_net;

/* A fitted (or loaded) model. */
typedef struct mbmlp_model {
    const mb_host *host;
    mbmlp_params p;
    int fitted;
    mb_task task;
    size_t nclasses;
    mbmlp_net net;
    float *wt;                    /* transposed weights (in x out) for the one-row path */
    mb_mlp_layer layers[65];      /* the portable form's layers, pointing into net.params */
    /* what fit_info reports: epochs run, best epoch (1-based, by the
    ** validation loss, or the training loss without validation data),
    ** train and valid loss of the kept weights (NaN when none); set by
    ** fit, saved as the optional "fit_stats" array; info_n is 0 after
    ** loading a state saved without it */
    size_t info_n;
    double info_values[4];
} mbmlp_model;

/* {====== mlp_net.c ======} */

/* Lay out a network from widths; allocates params (zeroed). 0 or MB_PLUGIN_ENOMEM. */
MBMLP_FUNC int mbmlp_net_alloc(mbmlp_net *n, const mb_host *h, size_t nlayers, const size_t *width);
MBMLP_FUNC void mbmlp_net_free(mbmlp_net *n, const mb_host *h);

/* A small, fast, seedable generator (xoshiro256**). */
typedef struct mbmlp_rng {
    uint64_t s[4];
} mbmlp_rng;
MBMLP_FUNC void mbmlp_rng_seed(mbmlp_rng *r, uint64_t seed);
MBMLP_FUNC uint64_t mbmlp_rng_next(mbmlp_rng *r);
MBMLP_FUNC double mbmlp_rng_uniform(mbmlp_rng *r); /* [0, 1) */
MBMLP_FUNC double mbmlp_rng_normal(mbmlp_rng *r);

/* He (normal, sqrt(2 / fan_in)) or Glorot (uniform, sqrt(6 / (fan_in +
** fan_out)), times 4 for sigmoid hidden layers) weights, zero biases.
** init is MBMLP_INIT_*; auto is Glorot. */
MBMLP_FUNC void mbmlp_net_init(mbmlp_net *n, int init, mbmlp_rng *r);

/* Output width of the network. */
static inline size_t mbmlp_nout(const mbmlp_net *n) { return n->width[n->nlayers]; }

/* Forward pass over a batch of rows (X is rows x width[0], leading
** dimension ldx). acts[l] receives layer l's activations (rows x
** width[l + 1]); the last is the raw output (before the link). pre[l],
** when not NULL, receives the pre-activations (needed to differentiate
** gelu). masks[l], when not NULL, is a dropout mask (0 or 1 / (1 - p))
** drawn and applied here to hidden layers; keep is 1 - p. No allocation. */
MBMLP_FUNC void mbmlp_forward(const mbmlp_net *n, const float *X, size_t ldx, size_t rows, float **acts,
                   float **pre, float **masks, float keep, mbmlp_rng *r);
/* The same with wt, the weights transposed as mbmlp_transpose lays them out
** (or NULL): the products then go through mlp_gemm.c where it applies (the
** same bits as OpenBLAS's at the training shapes; see mlp_gemm.c). */
MBMLP_FUNC void mbmlp_forward_t(const mbmlp_net *n, const float *wt, const float *X, size_t ldx, size_t rows,
                                float **acts, float **pre, float **masks, float keep, mbmlp_rng *r);

/* Apply the output link in place to rows x nout raw outputs. */
MBMLP_FUNC void mbmlp_link(const mbmlp_net *n, float *out, size_t rows);

/* Loss of raw outputs against labels (and optional weights): writes the
** gradient of the (weighted mean) loss with respect to the raw outputs
** into delta when not NULL, returns the summed (weighted) loss. With
** correct != NULL, adds the number of correctly classified rows. */
MBMLP_FUNC double mbmlp_loss(const mbmlp_net *n, const float *raw, const float *y, const float *w, size_t rows,
                  double scale, float *delta, double huber_delta, double *correct);

/* Backward pass: from delta (the loss gradient at the raw outputs, rows x
** nout; the buffer is rows x max width, and is used as scratch) to grad
** (nparams, overwritten). X, acts, pre, masks as filled by mbmlp_forward;
** tmp is rows x max width scratch. */
MBMLP_FUNC void mbmlp_backward(const mbmlp_net *n, const float *X, size_t ldx, size_t rows, float *const *acts,
                    float *const *pre, float *const *masks, float *delta, float *tmp, float *grad);

/* One row through the network with the transposed weights wt (the
** one-row path: no BLAS, no threads); h is 2 x max width scratch. Writes
** the raw outputs to out. */
MBMLP_FUNC void mbmlp_forward_row(const mbmlp_net *n, const float *wt, const float *x, float *h, float *out);

/* Fill wt (nparams floats, weight blocks transposed) from n. */
MBMLP_FUNC void mbmlp_transpose(const mbmlp_net *n, float *wt);

/* Widest layer (including inputs). */
MBMLP_FUNC size_t mbmlp_maxwidth(const mbmlp_net *n);

/* {====== mlp_simd.c: element-wise kernels (AVX-512 or portable C) ======} */

/* Adam's constants for one step. */
typedef struct mbmlp_adam_k {
    float b1, c1, b2, c2;         /* decays and 1 - decays */
    float step, isb, eps;         /* lr / (1 - b1^t), 1 / sqrt(1 - b2^t), epsilon */
    float l2, shrink;             /* L2 added to the gradient; AdamW's 1 - lr * wd */
} mbmlp_adam_k;

/* a (rows x w) += b per row (b NULL: no add), then kind 0 identity, 1 relu, 2 leaky relu (alpha). */
MBMLP_FUNC void mbmlp_k_bias_act(float *a, const float *b, size_t rows, size_t w, int kind, float alpha);
/* d (rows x w) *= relu'(a) (leaky: alpha for a <= 0); gb = column sums of the result. */
MBMLP_FUNC void mbmlp_k_relu_back(float *d, const float *a, size_t rows, size_t w, int leaky, float alpha,
                                  float *gb);
/* One Adam / AdamW step over n parameters with the gradient g, or g + g2
** when g2 is not NULL (the last worker's share, summed in the same pass;
** the same bits as adding first). */
MBMLP_FUNC void mbmlp_k_adam(float *p, const float *g, const float *g2, float *m, float *v, size_t n,
                             const mbmlp_adam_k *k);
/* y += a x */
MBMLP_FUNC void mbmlp_k_axpy(float *y, const float *x, float a, size_t n);
/* o = (x - mu) * isd */
MBMLP_FUNC void mbmlp_k_standardize(float *o, const float *x, const float *mu, const float *isd, size_t n);

/* 1 when x[0..n) holds no NaN and no infinity. */
MBMLP_FUNC int mbmlp_k_finite(const float *x, size_t n);
/* s[j] += (double)x[j] (a column sum, one row at a time) */
MBMLP_FUNC void mbmlp_k_sum(double *s, const float *x, size_t n);
/* s[j] += d * d with d = (double)x[j] - mu[j] */
MBMLP_FUNC void mbmlp_k_sqdev(double *s, const float *x, const double *mu, size_t n);

/* {====== mlp_gemm.c: the training step's products ======}
** C (m x n, row-major, ldc) = sum over k < K of a(i, k) B[k ldb + j] with
** a(i, k) = A[i sa + k sk], each element one fused multiply-add chain over
** k = 0, 1, ... from zero. */

/* The largest K the training step sends here (and the widest layer input
** whose forward product starts from the biases in mlp_net.c): OpenBLAS
** sums K up to its K block in one chain, the same bits; wider products stay
** with OpenBLAS. */
#define MBMLP_GEMM_MAX_K 256

/* 1 when the products run here: AVX-512, and MOONBENCH_MLP_GEMM is not 0
** (a diagnostic: every product through cblas_sgemm). */
MBMLP_FUNC int mbmlp_gemm_on(void);
/* C = the sums. */
MBMLP_FUNC void mbmlp_gemm_plain(size_t m, size_t n, size_t K, const float *A, size_t sa, size_t sk, const float *B,
                                 size_t ldb, float *C, size_t ldc);
/* C = act(sums + bias[j]): act 0 identity, 1 relu, 2 leaky relu (alpha),
** as mbmlp_k_bias_act. */
MBMLP_FUNC void mbmlp_gemm_bias_act(size_t m, size_t n, size_t K, const float *A, size_t sa, size_t sk,
                                    const float *B, size_t ldb, float *C, size_t ldc, const float *bias, int act,
                                    float alpha);
/* C = the sums times relu'(act) (act m x n, ldc; leaky: alpha where act <=
** 0) and gb = C's column sums, as mbmlp_k_relu_back. */
MBMLP_FUNC void mbmlp_gemm_relu_back(size_t m, size_t n, size_t K, const float *A, size_t sa, size_t sk,
                                     const float *B, size_t ldb, float *C, size_t ldc, const float *act, int leaky,
                                     float alpha, float *gb);

/* T[j fo + o] = W[o fi + j] for the rows o0 <= o < o1 of a weight block
** (fo x fi): mbmlp_transpose's layout, a band at a time. */
MBMLP_FUNC void mbmlp_gemm_transpose(const float *W, size_t fi, size_t fo, size_t o0, size_t o1, float *T);

/* {====== mlp_data.c ======} */

/* Features, labels and weights of d usable (labels class indices below
** nclasses when nclasses > 0); the message names the first bad value.
** With s1 (d->X.cols doubles), also adds each feature's column sum. */
MBMLP_FUNC int mbmlp_check_data(const mb_dataset *d, const char *what, size_t nclasses, double *s1, char *err);
/* Rows idx[0..rows) of d (or rows start.. when idx is NULL) into xb,
** standardised when mu; labels into yb (regression: (y - ym) / ys),
** weights into wb. Returns the sum of the weights. */
MBMLP_FUNC double mbmlp_gather(const mb_dataset *d, const size_t *idx, size_t start, size_t rows, const float *mu,
                               const float *isd, int regression, double ym, double ys, float *xb, float *yb,
                               float *wb);

/* {====== mlp_train.c ======} */

/* Fit m on train (valid may be NULL). Status MB_PLUGIN_*. */
MBMLP_FUNC int mbmlp_fit(mbmlp_model *m, const mb_dataset *train, const mb_dataset *valid,
              const mb_fit_context *ctx, char *err);

/* Write a message into the host's error buffer; returns code. */
MBMLP_FUNC int mbmlp_fail(char *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
