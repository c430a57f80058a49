/*
** predict.h: the trees plugin's prediction form, shared by ensemble.c (the
** padded trees and their scalar walks) and predict_simd.c (the same walk
** sixteen rows to a vector register, AVX-512). Not part of the ABI.
**
** Prediction uses each tree padded to a complete binary tree of its depth
** D (when D <= MAX_PAD_DEPTH): a leaf above depth D becomes padding nodes
** that send every value left (threshold +inf, NaN left) down to copies of
** the leaf. Every row then takes exactly D steps, node = 2 node + 1 + right,
** with no data-dependent branch. Deeper trees are walked node by node.
*/
#ifndef MBT_PREDICT_H
#define MBT_PREDICT_H

#include "trees.h"

#define MAX_PAD_DEPTH 14
#define NAN_LEFT (1 << 30) /* MBV_NAN_LEFT: vwalk.h reads the same nodes */

typedef struct pnode {
    float thr;
    int32_t feat;                 /* feature | NAN_LEFT */
} pnode;

typedef struct ptree {
    int32_t depth;                /* -1: walk the ensemble's nodes */
    int32_t out;                  /* output (leaf_width 1) */
    size_t node_off, leaf_off;
} ptree;

#include "vwalk.h"

typedef mbv_tree mbt_vtree; /* the vector walk's trees (vwalk.h, predict_simd.c) */

struct mbt_predictor {
    ptree *trees;
    pnode *nodes;
    double *leaves;
    mbt_vtree *vt;                /* one per tree, 64-byte aligned; NULL: no vector walk */
    void *vt_mem;                 /* what vt was carved from */
};

/* Rows per block of predict_rows (ensemble.c); the vector walk's buffers
** hold one block. */
#define BLOCK 256

/* Build pr->vt when every tree suits the vector walk (depth <= 6, one leaf
** value, at most 16 outputs) and mbt_avx512_ok() (trees.h: AVX-512 F and
** DQ, and MOONBENCH_TREES_SIMD is not 0). Leaves vt
** NULL otherwise; returns MB_PLUGIN_ENOMEM only when out of memory. */
int mbt_simd_prepare(const mb_host *h, const mbt_ensemble *e, mbt_predictor *pr);
void mbt_simd_free(const mb_host *h, mbt_predictor *pr);
/* Whether the vector walk can take nb <= BLOCK rows ld floats apart. */
int mbt_simd_fits(const mbt_predictor *pr, size_t ld);
/* Every tree over the nb rows from xb (ld floats apart), the raw sums added
** into a (nb x noutputs, zero on entry) in tree order, like walk_block's:
** the same bits. has_nan: some row of the block has a NaN. */
void mbt_simd_block(const mbt_ensemble *e, const mbt_predictor *pr, const float *xb, size_t ld, size_t nb,
                    int has_nan, double *a);

#endif
