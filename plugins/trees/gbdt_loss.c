/*
** gbdt_loss.c: gbdt losses, gradients and the quantisation of gradient
** pairs. See gbdt.c for the design.
*/
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbdt.h"

/* {====== losses ======} */

static double sigmoid(double s) { return 1.0 / (1.0 + exp(-s)); }

/* Gradients of rows [r0, r1) into gh (K blocks of n x 2); for one output,
** also the largest |g| and the smallest and largest h into mm[0..3). */
static void gradients(const lossctx *lc, const float *y, const float *w, const double *score, float *gh,
                      size_t n, size_t r0, size_t r1, float mm[3])
{
    size_t K = lc->K;
    float gm = 0.0f, hlo = INFINITY, hhi = 0.0f;
    if (K == 1 && (lc->loss == MBT_LOSS_SQUARED || lc->loss == MBT_LOSS_LOGLOSS) && mbt_avx512_ok()) {
        /* the same bits, eight rows at a time (gbdt_simd.c); the tail below */
        float v[3] = {gm, hlo, hhi};
        mbt_gb_grad_simd(lc->loss == MBT_LOSS_LOGLOSS, y, w, score, gh, r0, r1, v, &r0);
        gm = v[0];
        hlo = v[1];
        hhi = v[2];
    }
    for (size_t r = r0; r < r1; r++) {
        float wt = w ? w[r] : 1.0f;
        if (lc->loss == MBT_LOSS_SOFTMAX) {
            const double *s = score + r * K;
            double mx = s[0], sum = 0.0, pk[256];
            double *pp = pk;
            for (size_t k = 1; k < K; k++)
                mx = s[k] > mx ? s[k] : mx;
            for (size_t k = 0; k < K; k++)
                sum += (pp[k] = exp(s[k] - mx));
            double f = (double)K / (double)(K - 1);
            for (size_t k = 0; k < K; k++) {
                double pr = pp[k] / sum;
                double t = (size_t)y[r] == k ? 1.0 : 0.0;
                double hh = f * pr * (1.0 - pr);
                gh[k * 2 * n + 2 * r] = (float)((double)wt * (pr - t));
                gh[k * 2 * n + 2 * r + 1] = (float)((double)wt * (hh > 1e-16 ? hh : 1e-16));
            }
            continue;
        }
        double s = score[r], d = s - (double)y[r], g, h = 1.0;
        switch (lc->loss) {
        case MBT_LOSS_LOGLOSS: {
            double pr = sigmoid(s);
            g = pr - (double)y[r];
            h = pr * (1.0 - pr);
            if (h < 1e-16)
                h = 1e-16;
            break;
        }
        case MBT_LOSS_ABSOLUTE:
            g = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
            break;
        case MBT_LOSS_HUBER:
            g = d > lc->delta ? lc->delta : d < -lc->delta ? -lc->delta : d;
            break;
        default:
            g = d;
        }
        float fg = (float)((double)wt * g), fh = (float)((double)wt * h), ag = fabsf(fg);
        gh[2 * r] = fg;
        gh[2 * r + 1] = fh;
        gm = ag > gm ? ag : gm;
        hlo = fh < hlo ? fh : hlo;
        hhi = fh > hhi ? fh : hhi;
    }
    mm[0] = gm;
    mm[1] = hlo;
    mm[2] = hhi;
}

/* Weighted mean loss of rows (list, or all n when rows is NULL). */
double mbt_gb_mean_loss(const lossctx *lc, const float *y, const float *w, const double *score,
                        const uint32_t *rows, size_t nrows)
{
    double sl = 0.0, sw = 0.0;
    size_t K = lc->K;
    for (size_t i = 0; i < nrows; i++) {
        size_t r = rows ? rows[i] : i;
        double wt = w ? (double)w[r] : 1.0, l;
        if (lc->loss == MBT_LOSS_SOFTMAX) {
            const double *s = score + r * K;
            double mx = s[0], sum = 0.0;
            for (size_t k = 1; k < K; k++)
                mx = s[k] > mx ? s[k] : mx;
            for (size_t k = 0; k < K; k++)
                sum += exp(s[k] - mx);
            l = -(s[(size_t)y[r]] - mx - log(sum));
        } else {
            double s = score[r], d = s - (double)y[r];
            switch (lc->loss) {
            case MBT_LOSS_LOGLOSS:
                /* log(1 + exp(-m)) with m = s for y=1, -s for y=0, stably */
                {
                    double m = y[r] > 0.5f ? s : -s;
                    l = m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m));
                }
                break;
            case MBT_LOSS_ABSOLUTE:
                l = fabs(d);
                break;
            case MBT_LOSS_HUBER:
                l = fabs(d) <= lc->delta ? 0.5 * d * d : lc->delta * (fabs(d) - 0.5 * lc->delta);
                break;
            default:
                l = d * d;
            }
        }
        sl += wt * l;
        sw += wt;
    }
    return sw > 0 ? sl / sw : (double)NAN;
}

static int cmp_wv(const void *a, const void *b)
{
    double x = ((const wv *)a)->v, y = ((const wv *)b)->v;
    return (x > y) - (x < y);
}

/* Weighted median of n pairs (sorts them). */
double mbt_gb_weighted_median(wv *a, size_t n)
{
    if (n == 0)
        return 0.0;
    qsort(a, n, sizeof *a, cmp_wv);
    double tot = 0.0, acc = 0.0;
    for (size_t i = 0; i < n; i++)
        tot += a[i].w;
    for (size_t i = 0; i < n; i++) {
        acc += a[i].w;
        if (acc >= 0.5 * tot)
            return a[i].v;
    }
    return a[n - 1].v;
}

/* {====== the round loop ======} */

void mbt_gb_grad_task(void *arg, int tid, int nt)
{
    grad_job *j = arg;
    size_t r0 = j->n * (size_t)tid / (size_t)nt, r1 = j->n * (size_t)(tid + 1) / (size_t)nt;
    if (!j->lid) {
        gradients(j->lc, j->y, j->w, j->score, j->gh, j->n, r0, r1, j->mm[tid]);
        return;
    }
    /* the last tree's adds (update_scores' phase 1, the same one add a row)
    ** a block at a time, each block's gradients while its scores are in L1;
    ** the extremes merged as fit_round merges the threads' */
    float *mm = j->mm[tid];
    mm[0] = 0.0f;
    mm[1] = INFINITY;
    mm[2] = 0.0f;
    for (size_t b0 = r0; b0 < r1; b0 += 2048) {
        size_t b1 = r1 - b0 < 2048 ? r1 : b0 + 2048;
        size_t r = b0;
        if (mbt_avx512_ok())
            mbt_gb_add_lval_simd(j->score, j->lid, j->lval, b0, b1, &r);
        for (; r < b1; r++)
            j->score[r] += j->lval[j->lid[r]];
        float m[3];
        gradients(j->lc, j->y, j->w, j->score, j->gh, j->n, b0, b1, m);
        mm[0] = m[0] > mm[0] ? m[0] : mm[0];
        mm[1] = m[1] < mm[1] ? m[1] : mm[1];
        mm[2] = m[2] > mm[2] ? m[2] : mm[2];
    }
}

/* Quantisation of the tree's rows idx[0..nrows): phase 0 finds the
** largest |g| and h, phase 1 rounds and packs every row and sums the
** packed pairs (integers: the sum does not depend on the split). */
typedef struct quant_job {
    gb *gb;
    uint32_t nrows;
    int phase;
    int64_t hconst;               /* every row's hq when all are equal and exact, else -1 */
    double gmax[64], hmax[64];
    hbin sum[64];
} quant_job;

static void quant_task(void *arg, int tid, int nt)
{
    quant_job *j = arg;
    gb *g = j->gb;
    const float *gh = g->gh;
    const uint32_t *idx = g->idx;
    size_t c0 = (size_t)j->nrows * (size_t)tid / (size_t)nt, c1 = (size_t)j->nrows * (size_t)(tid + 1) / (size_t)nt;
    if (j->phase == 1 && g->rows_src) /* each thread copies its slice of the rows (fit_round) */
        memcpy(g->idx + c0, g->rows_src + c0, (c1 - c0) * sizeof *g->idx);
    if (j->phase == 0) {
        float gm = 0.0f, hm = 0.0f;
        for (size_t i = c0; i < c1; i++) {
            size_t r = idx[i];
            float ag = fabsf(gh[2 * r]), hh = gh[2 * r + 1];
            gm = ag > gm ? ag : gm;
            hm = hh > hm ? hh : hm;
        }
        j->gmax[tid] = (double)gm;
        j->hmax[tid] = (double)hm;
        return;
    }
    double sg = g->qg, sh = g->qh;
    uint64_t salt = g->salt;
    hbin sum = 0;
    size_t i0 = c0;
    if (mbt_avx512_ok()) /* the same bits, eight rows at a time (gbdt_simd.c); the tail below */
        sum = mbt_gb_quant_simd(g, c0, c1, j->hconst, &i0);
    if (j->hconst >= 0) {
        /* a constant, exactly scaled hessian (squared error): round g only */
        int64_t hq = j->hconst;
        for (size_t i = i0; i < c1; i++) {
            size_t r = idx[i];
            uint64_t x = ((uint64_t)r + 1) * 0x9e3779b97f4a7c15ULL ^ salt;
            x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
            x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
            x ^= x >> 31;
            double xg = (double)gh[2 * r] * sg + (double)(x >> 40) * 0x1.0p-24;
            int64_t gq = (int64_t)xg;
            gq -= xg < (double)gq;
            hbin v = q_pack(gq, hq);
            g->q[r] = v;
            sum += v;
        }
        j->sum[tid] = sum;
        return;
    }
    for (size_t i = i0; i < c1; i++) {
        size_t r = idx[i];
        /* random bits of (row, tree): a splitmix64 finaliser */
        uint64_t x = ((uint64_t)r + 1) * 0x9e3779b97f4a7c15ULL ^ salt;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;
        double ug = (double)(x >> 40) * 0x1.0p-24, uh = (double)(x & 0xffffffu) * 0x1.0p-24;
        double xg = (double)gh[2 * r] * sg + ug, xh = (double)gh[2 * r + 1] * sh + uh;
        int64_t gq = (int64_t)xg, hq = (int64_t)xh; /* floor, without a libm call */
        gq -= xg < (double)gq;
        hq -= xh < (double)hq;
        hbin v = q_pack(gq, hq);
        g->q[r] = v;
        sum += v;
    }
    j->sum[tid] = sum;
}

/* Quantise the current output's pairs of idx[0..nrows) into g->q (levels
** set from the row count, see DESIGN); returns their packed sum. mm,
** when given, is the largest |g| and the smallest and largest h of the
** rows (known from the gradient pass when the tree takes every row). */
hbin mbt_gb_quantise(gb *g, uint32_t nrows, uint64_t salt, const float *mm)
{
    quant_job j;
    j.gb = g;
    j.nrows = nrows;
    j.hconst = -1;
    double gm = 0.0, hm = 0.0;
    if (mm) {
        gm = (double)mm[0];
        hm = (double)mm[2];
    } else {
        j.phase = 0;
        mbt_pool_run(g->pool, quant_task, &j);
        for (int t = 0; t < g->nt; t++) {
            gm = j.gmax[t] > gm ? j.gmax[t] : gm;
            hm = j.hmax[t] > hm ? j.hmax[t] : hm;
        }
    }
    /* |sum gq| <= nrows (Qg + 1) < 2^31 and sum hq <= nrows (Qh + 1) < 2^32 */
    double lim = 1048576.0, n = nrows ? (double)nrows : 1.0;
    double Qg = floor(2147483647.0 / n) - 1.0, Qh = floor(4294967295.0 / n) - 1.0;
    Qg = Qg < lim ? Qg : lim;
    Qh = Qh < lim ? Qh : lim;
    /* hessians: an integer scale when hm <= 1, so h = 1 stays exact */
    g->qg = gm > 0 ? Qg / gm : 0.0;
    g->qh = hm > 0 ? (hm <= 1.0 ? floor(Qh / hm) : Qh / hm) : 0.0;
    g->ig = g->qg > 0 ? 1.0 / g->qg : 0.0;
    g->ih = g->qh > 0 ? 1.0 / g->qh : 0.0;
    g->salt = salt;
    if (mm && mm[1] == mm[2] && g->qh > 0) {
        /* every h the same: its scaled value, when an integer, is every row's hq */
        double xh = (double)mm[1] * g->qh;
        if (xh == floor(xh))
            j.hconst = (int64_t)xh;
    }
    j.phase = 1;
    mbt_pool_run(g->pool, quant_task, &j);
    g->rows_src = NULL;
    hbin sum = 0;
    for (int t = 0; t < g->nt; t++)
        sum += j.sum[t];
    return sum;
}
