/*
** gbdt.h: internals shared by the gbdt files of the trees plugin (gbdt.c
** the fit driver, gbdt_loss.c losses and quantisation, gbdt_hist.c
** histograms, gbdt_grow.c split finding and tree growth). The design is
** described at the top of gbdt.c.
*/
#ifndef MBT_GBDT_H
#define MBT_GBDT_H

#include "trees.h"

typedef int64_t hbin;             /* packed quantised sums: g * 2^32 + h (h >= 0) */

/* Histogram slots: feature f's bin b is slot f * HSTRIDE + b (fixed, so
** the slots of neighbouring features are constant offsets apart). */
#define HSTRIDE 256

typedef struct split {
    double gain;
    int32_t feature, bin;
    int default_left;
    hbin ql;                      /* left side sums, NaN rows included when default_left */
} split;

typedef struct leaf {
    uint32_t start, count;
    hbin q;                       /* packed sums of the leaf's rows */
    double g, h;                  /* the same, dequantised */
    int depth;
    int32_t node;
    hbin *hist;
    split best;
    int split_done;
    int deferred;                 /* split, but rows not partitioned (children are final) */
    int32_t child[2];             /* leaf indices of the children (deferred splits) */
} leaf;

typedef struct gb {
    const mb_host *host;
    mbt_pool *pool;
    int nt;
    const mbt_params *p;
    const mbt_binned *d;
    const mbt_bins *bins;
    mbt_ensemble *ens;
    size_t n, F;
    uint32_t nslots;
    const float *gh;              /* the current output's pairs, n x 2 */
    hbin *q;                      /* quantised pairs of the tree's rows (by row) */
    hbin *qb;                     /* the node's pairs gathered in index order (column-wise builds) */
    double ig, ih;                /* dequantisation: g = gq * ig, h = hq * ih */
    double qg, qh;                /* quantisation levels */
    uint64_t salt;                /* random bits of this tree's rounding */
    uint32_t *idx, *tmp;
    const uint32_t *rows_src;     /* when set, quantisation copies the tree's rows from it into idx */
    hbin **thist;                 /* nt scratch histograms (index 0 unused) */
    hbin **pool_h;                /* free histograms */
    size_t npool, cap_pool;
    hbin **all_h;                 /* every histogram allocated, for freeing */
    size_t nall, cap_all;
    uint8_t *fmask;
    leaf *leaves;
    size_t nleaves, cap_leaves;
    int defer_ok;                 /* leaves need no row ranges (not the absolute loss) */
    double lr, l1, l2;
} gb;

static inline int64_t q_h(hbin p) { return (int64_t)(uint32_t)p; }
static inline int64_t q_g(hbin p) { return (p - q_h(p)) / ((int64_t)1 << 32); }
static inline hbin q_pack(int64_t gq, int64_t hq) { return gq * ((int64_t)1 << 32) + hq; }

typedef struct lossctx {
    int loss;
    size_t K;
    double delta;
} lossctx;

typedef struct wv {
    double v, w;
} wv;

typedef struct grad_job {
    const lossctx *lc;
    const float *y, *w;
    double *score;
    float *gh;
    size_t n;
    float mm[64][3];              /* per thread: max |g|, min h, max h (one output) */
    const uint16_t *lid;          /* the last tree's update, when left to this pass (gbdt.c, */
    const double *lval;           /* update_scores): score[r] += lval[lid[r]] first (K = 1) */
} grad_job;

/* the L1 soft threshold (inline: it is in the split search's inner loop) */
static inline double mbt_gb_thresh_l1(double G, double l1)
{
    if (G > l1)
        return G - l1;
    if (G < -l1)
        return G + l1;
    return 0.0;
}

/* the split search's constants for one leaf (gbdt_grow.c's find_split) */
typedef struct gain_ctx {
    double G, Hs, parent, ig, ih, cf, min_cnt, mcw, l1, l2;
} gain_ctx;

/* gbdt_hist.c */
hbin *mbt_gb_hist_get(gb *g);
void mbt_gb_hist_put(gb *g, hbin *h);
void mbt_gb_hist_serial(const gb *g, hbin *out, hbin *parent, uint32_t start, uint32_t count);
void mbt_gb_build_hist(gb *g, hbin *out, hbin *parent, uint32_t start, uint32_t count);
/* gbdt_grow.c */
void mbt_gb_split_lut(const gb *g, const leaf *L, uint8_t lut[256]);
int mbt_gb_grow_tree(gb *g, int32_t root, uint32_t nrows, hbin q);
/* gbdt_loss.c */
double mbt_gb_mean_loss(const lossctx *lc, const float *y, const float *w, const double *score,
                        const uint32_t *rows, size_t nrows);
double mbt_gb_weighted_median(wv *a, size_t n);
void mbt_gb_grad_task(void *arg, int tid, int nt);
hbin mbt_gb_quantise(gb *g, uint32_t nrows, uint64_t salt, const float *mm);
/* gbdt_simd.c: rows idx[c0..) quantised eight at a time as quant_task
** does, up to *done (the rest, under 8, for the scalar loop); their packed
** sum. Gradients, split gains, partition: see there. Only when mbt_avx512_ok() (trees.h). */
hbin mbt_gb_quant_simd(gb *g, size_t c0, size_t c1, int64_t hconst, size_t *done);
void mbt_gb_grad_simd(int logloss, const float *y, const float *w, const double *score, float *gh, size_t r0,
                      size_t r1, float mm[3], size_t *done);
/* exp_simd.c: out[i] = exp(x[i]), i < n, with libm's bits (out may be x);
** only when mbt_exp_simd_ok(): AVX-512 and a probe agreeing with libm. */
void mbt_exp_simd(const double *x, double *out, size_t n);
int mbt_exp_simd_ok(void);
size_t mbt_gb_hist_addsub_simd(hbin *dst, const hbin *src, size_t n, int sub);
void mbt_gb_add_lval_simd(double *score, const uint16_t *lid, const double *lval, size_t r0, size_t r1,
                          size_t *done);
uint32_t mbt_gb_gains_simd(const gain_ctx *c, const hbin *ql, hbin qn, int nb, double *gr, double *gl,
                           double best);
size_t mbt_gb_part_simd(const uint32_t *src, size_t n, const uint8_t *col, int bin, int nb, int dl,
                        uint32_t *left, uint32_t *right, int right_down, size_t *done);

#endif
