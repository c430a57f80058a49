/*
** lin_gram.c: squared-loss solvers that work from the weighted, centred
** Gram matrix X'WX and X'Wy (p x p and p, in double): Ridge / least
** squares in closed form (Cholesky, with an eigen-decomposition fallback
** giving the minimum-norm solution when the system is singular), and
** Lasso / elastic net by coordinate descent with covariance updates.
**
** DESIGN
** ------
** One pass over the rows: each block of rows is widened to double, shifted
** by a rough column mean (of the first rows) and scaled by sqrt(weight),
** then dsyrk / dgemv add it to the Gram matrix and X'y (OpenBLAS threads
** them). The exact weighted mean is known only at the end, so the shift
** is corrected there (G_c = G_s - W d d', d = mean - shift): with the
** shift near the mean the correction is small and nothing cancels
** catastrophically, which widening to double alone would not give on
** uncentred data. A non-finite value anywhere makes the block's column
** sums non-finite; that block is then searched to name the row and column.
** Everything after the pass costs O(p^3) or O(p^2) per sweep, whatever n.
*/
#include "linear.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define GRAM_BLOCK 2048

/* The centred weighted moments of a problem. */
typedef struct gram {
    size_t p;
    double *G;        /* p x p, full (both triangles) */
    double *q;        /* p: sum_i w_i (x_i - xm)(y_i - ym) */
    double *xm;       /* p: weighted column means (0 without an intercept) */
    double ym, yy;    /* weighted mean of y; sum_i w_i (y_i - ym)^2 */
    double W;         /* sum of weights */
} gram;

static void gram_free(const mb_host *h, gram *g)
{
    if (g->G)
        h->xfree(g->G);
    if (g->q)
        h->xfree(g->q);
    if (g->xm)
        h->xfree(g->xm);
    memset(g, 0, sizeof *g);
}

static int gram_compute(const mblin_problem *pb, int center, gram *g, char *err)
{
    const mb_host *h = pb->host;
    const mb_matrix *X = pb->X;
    size_t n = X->rows, p = X->cols;
    int rc = MB_PLUGIN_OK;
    double *D = NULL, *e = NULL, *shift = NULL, *bsum = NULL, *sx = NULL;
    memset(g, 0, sizeof *g);
    g->p = p;
    if (p > 65536 || p * p > ((size_t)-1) / 16)
        return mblin_fail(err, MB_PLUGIN_EINVAL, "%zu features is too many for the Gram-matrix solvers", p);
    g->G = h->xmalloc(p * p * sizeof(double));
    g->q = h->xmalloc(p * sizeof(double));
    g->xm = h->xmalloc(p * sizeof(double));
    D = h->xmalloc(GRAM_BLOCK * p * sizeof(double));
    e = h->xmalloc(GRAM_BLOCK * sizeof(double));
    shift = h->xmalloc(p * sizeof(double));
    bsum = h->xmalloc(p * sizeof(double));
    sx = h->xmalloc(p * sizeof(double));
    if (!g->G || !g->q || !g->xm || !D || !e || !shift || !bsum || !sx) {
        rc = mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory for the %zu x %zu Gram matrix", p, p);
        goto exit;
    }
    memset(g->G, 0, p * p * sizeof(double));
    memset(g->q, 0, p * sizeof(double));
    memset(shift, 0, p * sizeof(double));
    memset(sx, 0, p * sizeof(double));
    double yshift = 0;
    if (center) {
        size_t m = n < 1024 ? n : 1024;
        for (size_t i = 0; i < m; i++) {
            const float *x = X->x + i * X->ld;
            for (size_t j = 0; j < p; j++)
                shift[j] += (double)x[j];
            yshift += (double)pb->y[i];
        }
        for (size_t j = 0; j < p; j++)
            shift[j] = isfinite(shift[j]) ? shift[j] / (double)m : 0.0;
        yshift = isfinite(yshift) ? yshift / (double)m : 0.0;
    }
    double W = 0, sy = 0, yy = 0;
    for (size_t i0 = 0; i0 < n; i0 += GRAM_BLOCK) {
        size_t nb = n - i0 < GRAM_BLOCK ? n - i0 : GRAM_BLOCK;
        memset(bsum, 0, p * sizeof(double));
        for (size_t i = 0; i < nb; i++) {
            const float *x = X->x + (i0 + i) * X->ld;
            double w = pb->sw ? (double)pb->sw[i0 + i] : 1.0, r = sqrt(w);
            double *d = D + i * p;
            for (size_t j = 0; j < p; j++) {
                double v = (double)x[j] - shift[j];
                bsum[j] += w * v;
                d[j] = r * v;
            }
            double yv = (double)pb->y[i0 + i] - yshift;
            e[i] = r * yv;
            sy += w * yv;
            yy += w * yv * yv;
            W += w;
        }
        for (size_t j = 0; j < p; j++) {
            if (!isfinite(bsum[j]) && (rc = mblin_find_nonfinite(X, i0, nb, err)) != MB_PLUGIN_OK)
                goto exit;
            sx[j] += bsum[j];
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)nb, 1.0, D, (int)p, 1.0, g->G, (int)p);
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)nb, (int)p, 1.0, D, (int)p, e, 1, 1.0, g->q, 1);
        if (mblin_cancelled(pb->ctx)) {
            rc = mblin_fail(err, MB_PLUGIN_ECANCELLED, "cancelled");
            goto exit;
        }
    }
    if (!(W > 0)) {
        rc = mblin_fail(err, MB_PLUGIN_EINVAL, "the sample weights sum to 0");
        goto exit;
    }
    if (!isfinite(yy)) {
        rc = mblin_fail(err, MB_PLUGIN_EINVAL, "the labels overflow double precision when squared");
        goto exit;
    }
    /* shift correction: d = weighted mean - shift */
    double dy = center ? sy / W : 0.0;
    for (size_t j = 0; j < p; j++) {
        double dj = center ? sx[j] / W : 0.0;
        g->xm[j] = center ? shift[j] + dj : 0.0;
        sx[j] = dj;
    }
    for (size_t a = 0; a < p; a++) {
        for (size_t b = a; b < p; b++) {
            double v = g->G[a * p + b] - W * sx[a] * sx[b];
            g->G[a * p + b] = g->G[b * p + a] = v;
        }
        g->q[a] -= W * sx[a] * dy;
    }
    g->ym = center ? yshift + dy : 0.0;
    g->yy = yy - W * dy * dy;
    g->W = W;
exit:
    h->xfree(D);
    h->xfree(e);
    h->xfree(shift);
    h->xfree(bsum);
    h->xfree(sx);
    if (rc != MB_PLUGIN_OK)
        gram_free(h, g);
    return rc;
}

/* {====== closed form ======} */

/* In-place Cholesky A = L L' of the p x p matrix (lower triangle used).
** 0 when a pivot is not clearly positive (relative to the largest
** diagonal), i.e. singular or too ill-conditioned for this route. */
static int cholesky(double *A, size_t p)
{
    double dmax = 0;
    for (size_t j = 0; j < p; j++)
        dmax = fmax(dmax, A[j * p + j]);
    if (!(dmax > 0))
        return 0;
    for (size_t j = 0; j < p; j++) {
        double d = A[j * p + j];
        for (size_t k = 0; k < j; k++)
            d -= A[j * p + k] * A[j * p + k];
        if (!(d > 1e-11 * dmax))
            return 0;
        double l = sqrt(d);
        A[j * p + j] = l;
        for (size_t i = j + 1; i < p; i++) {
            double s = A[i * p + j];
            for (size_t k = 0; k < j; k++)
                s -= A[i * p + k] * A[j * p + k];
            A[i * p + j] = s / l;
        }
    }
    return 1;
}

static void chol_solve(const double *L, size_t p, double *b)
{
    for (size_t i = 0; i < p; i++) {
        double s = b[i];
        for (size_t k = 0; k < i; k++)
            s -= L[i * p + k] * b[k];
        b[i] = s / L[i * p + i];
    }
    for (size_t i = p; i-- > 0;) {
        double s = b[i];
        for (size_t k = i + 1; k < p; k++)
            s -= L[k * p + i] * b[k];
        b[i] = s / L[i * p + i];
    }
}

/* Cyclic Jacobi eigen-decomposition of the symmetric p x p matrix A
** (destroyed: its diagonal ends as the eigenvalues); V gets the
** eigenvectors as columns. */
static void jacobi_eigen(double *A, double *V, size_t p)
{
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++)
            V[i * p + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, tot = 0;
        for (size_t i = 0; i < p; i++)
            for (size_t j = 0; j < p; j++) {
                double a = A[i * p + j] * A[i * p + j];
                tot += a;
                if (i != j)
                    off += a;
            }
        if (off <= 1e-30 * tot)
            break;
        for (size_t a = 0; a < p; a++)
            for (size_t b = a + 1; b < p; b++) {
                double apq = A[a * p + b];
                if (fabs(apq) < 1e-300)
                    continue;
                double theta = (A[b * p + b] - A[a * p + a]) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (size_t k = 0; k < p; k++) {
                    double akp = A[k * p + a], akq = A[k * p + b];
                    A[k * p + a] = c * akp - s * akq;
                    A[k * p + b] = s * akp + c * akq;
                }
                for (size_t k = 0; k < p; k++) {
                    double apk = A[a * p + k], aqk = A[b * p + k];
                    A[a * p + k] = c * apk - s * aqk;
                    A[b * p + k] = s * apk + c * aqk;
                }
                for (size_t k = 0; k < p; k++) {
                    double vkp = V[k * p + a], vkq = V[k * p + b];
                    V[k * p + a] = c * vkp - s * vkq;
                    V[k * p + b] = s * vkp + c * vkq;
                }
            }
    }
}

/* Mean weighted squared error of w on the centred moments. */
static double gram_mse(const gram *g, const double *w)
{
    size_t p = g->p;
    double r = g->yy;
    for (size_t a = 0; a < p; a++) {
        double gw = 0;
        for (size_t b = 0; b < p; b++)
            gw += g->G[a * p + b] * w[b];
        r += w[a] * gw - 2 * w[a] * g->q[a];
    }
    return fmax(r, 0.0) / g->W;
}

int mblin_ridge(const mblin_problem *pb, double l2, int fit_intercept, double *coef, double *intercept,
                mblin_result *res, char *err)
{
    const mb_host *h = pb->host;
    gram g;
    double *A = NULL, *V = NULL;
    int rc = gram_compute(pb, fit_intercept, &g, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    size_t p = g.p;
    A = h->xmalloc(p * p * sizeof(double));
    if (!A) {
        rc = mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
        goto exit;
    }
    memcpy(A, g.G, p * p * sizeof(double));
    for (size_t j = 0; j < p; j++)
        A[j * p + j] += l2;
    memcpy(coef, g.q, p * sizeof(double));
    if (cholesky(A, p)) {
        chol_solve(A, p, coef);
    } else {
        /* singular or ill-conditioned: minimum-norm solution through the
        ** eigen-decomposition, dropping eigenvalues below 1e-12 x largest */
        mblin_log(h, 1, "linear: the normal equations are singular or ill-conditioned; "
                        "using the minimum-norm (eigen-decomposition) solution");
        V = h->xmalloc(p * p * sizeof(double));
        if (!V) {
            rc = mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
            goto exit;
        }
        memcpy(A, g.G, p * p * sizeof(double));
        for (size_t j = 0; j < p; j++)
            A[j * p + j] += l2;
        jacobi_eigen(A, V, p);
        double lmax = 0;
        for (size_t j = 0; j < p; j++)
            lmax = fmax(lmax, fabs(A[j * p + j]));
        memset(coef, 0, p * sizeof(double));
        for (size_t c = 0; c < p; c++) {
            double lam = A[c * p + c];
            if (!(lam > 1e-12 * lmax))
                continue;
            double vq = 0;
            for (size_t j = 0; j < p; j++)
                vq += V[j * p + c] * g.q[j];
            for (size_t j = 0; j < p; j++)
                coef[j] += V[j * p + c] * vq / lam;
        }
    }
    double b = g.ym;
    for (size_t j = 0; j < p; j++)
        b -= g.xm[j] * coef[j];
    *intercept = fit_intercept ? b : 0.0;
    res->n_iter = 1;
    res->converged = 1;
    res->loss = gram_mse(&g, coef);
exit:
    if (A)
        h->xfree(A);
    if (V)
        h->xfree(V);
    gram_free(h, &g);
    return rc;
}

/* {====== coordinate descent ======} */

static double soft(double z, double t) { return z > t ? z - t : z < -t ? z + t : 0.0; }

int mblin_cd(const mblin_problem *pb, double a1, double a2, int fit_intercept, long max_iter, double tol,
             double *coef, double *intercept, mblin_result *res, char *err)
{
    const mb_host *h = pb->host;
    gram g;
    double *Gw = NULL;
    int rc = gram_compute(pb, fit_intercept, &g, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    size_t p = g.p;
    Gw = h->xmalloc(p * sizeof(double));
    if (!Gw) {
        rc = mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
        goto exit;
    }
    /* the objective times W: 1/2 w'Gw - q'w + L1 |w|_1 + L2/2 |w|^2 */
    double L1 = a1 * g.W, L2 = a2 * g.W, gap_tol = tol * g.yy;
    memset(coef, 0, p * sizeof(double));
    memset(Gw, 0, p * sizeof(double));
    long it;
    int converged = 0;
    for (it = 0; it < max_iter; it++) {
        double wmax = 0, dmax = 0;
        for (size_t j = 0; j < p; j++) {
            double gjj = g.G[j * p + j];
            if (gjj <= 0)
                continue; /* a constant column: its coefficient stays 0 */
            double old = coef[j];
            double tmp = g.q[j] - Gw[j] + gjj * old;
            double nw = soft(tmp, L1) / (gjj + L2);
            if (nw != old) {
                double dl = nw - old;
                const double *col = g.G + j * p; /* symmetric: row j is column j */
                for (size_t k = 0; k < p; k++)
                    Gw[k] += dl * col[k];
                coef[j] = nw;
            }
            dmax = fmax(dmax, fabs(nw - old));
            wmax = fmax(wmax, fabs(nw));
        }
        if (wmax == 0 || dmax / wmax < tol || it == max_iter - 1) {
            if (L1 <= 0) {
                converged = dmax <= tol * wmax;
            } else {
                /* duality gap, as sklearn's enet_coordinate_descent_gram */
                double dual = 0, rn2 = g.yy, qw = 0, wn2 = 0, l1n = 0;
                for (size_t j = 0; j < p; j++) {
                    double xta = g.q[j] - Gw[j] - L2 * coef[j];
                    dual = fmax(dual, fabs(xta));
                    rn2 += coef[j] * Gw[j] - 2 * coef[j] * g.q[j];
                    qw += g.q[j] * coef[j];
                    wn2 += coef[j] * coef[j];
                    l1n += fabs(coef[j]);
                }
                double cst = 1.0, gap;
                if (dual > L1) {
                    cst = L1 / dual;
                    gap = 0.5 * (rn2 + rn2 * cst * cst);
                } else {
                    gap = rn2;
                }
                gap += L1 * l1n - cst * (g.yy - qw) + 0.5 * L2 * (1 + cst * cst) * wn2;
                converged = gap < gap_tol;
            }
            if (converged) {
                it++;
                break;
            }
        }
        if ((it & 15) == 0) {
            if (mblin_cancelled(pb->ctx)) {
                rc = mblin_fail(err, MB_PLUGIN_ECANCELLED, "cancelled");
                goto exit;
            }
            mblin_progress(pb->ctx, (double)(it + 1) / (double)max_iter, "coordinate descent", NAN, NAN);
        }
    }
    double b = g.ym;
    for (size_t j = 0; j < p; j++)
        b -= g.xm[j] * coef[j];
    *intercept = fit_intercept ? b : 0.0;
    res->n_iter = it;
    res->converged = converged;
    res->loss = gram_mse(&g, coef);
exit:
    if (Gw)
        h->xfree(Gw);
    gram_free(h, &g);
    return rc;
}
