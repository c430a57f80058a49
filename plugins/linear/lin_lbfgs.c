/*
** lin_lbfgs.c: smooth-loss solver for the linear plugin: L-BFGS (memory
** 10, backtracking Armijo line search with quadratic interpolation) on
** squared, logistic or softmax loss with an L2 penalty, and OWL-QN
** (Andrew and Gao, "Scalable training of L1-regularized log-linear
** models", 2007) when the penalty has an L1 part.
**
** DESIGN
** ------
** The objective is the weighted mean data loss plus penalties,
**   F(w, b) = (1/W) sum_i sw_i loss(x_i w' + b, y_i) + c2/2 ||w||^2 + c1 ||w||_1,
** so its gradient is O(1) whatever the number of rows and tol means the
** same on any data set. The solver works in standardised coordinates
** v_j = w_j * s_j and b' = b + m.w (m, s: column means and deviations from
** a sample of rows): the same objective, reparametrised, so the minimum is
** the same, but L-BFGS's scalar initial Hessian suits unit-scale
** coordinates far better than raw ones. Large data are never copied: each
** evaluation turns (v, b') back into (w, b) and streams X in blocks of
** rows that stay in cache between the two BLAS calls of a block:
**   z = X_blk w' + b              sgemv (k = 1) / sgemm (softmax)
**   r_i = sw_i dloss/dz_i         a plain loop, in double
**   grad += r' X_blk              sgemv / sgemm into float, added in double
** Float accumulation is confined to one block (a few thousand rows), the
** sum over blocks is double. OpenBLAS threads each call. That reaches
** gradients of about 1e-6 to 1e-5, far below the default tol; small
** problems (n x p up to 2M values) are instead copied once, standardised,
** in double and evaluated with dgemv / dgemm, so that tight tolerances
** (and agreement with double-precision references) are reachable.
** The line search demands a strict decrease; when even a gradient step
** cannot decrease F (rounding), the solver stops and says so.
*/
#include "linear.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define EVAL_BLOCK 8192
#define MEMORY 10
#define STAT_SAMPLE 65536
/* Problems of at most this many values (n x p) are solved in double on a
** standardised copy of X: exact to the last digits, for little memory. */
#define SMALL_PROBLEM (1u << 21)

/* {====== loss evaluation ======} */

typedef struct evaluator {
    const mblin_problem *pb;
    size_t p, k, npar;
    size_t block;                 /* rows per block: EVAL_BLOCK / k, at least 64 */
    int intercept;
    double *m, *s;                /* p: centre and scale of the reparametrisation */
    double *w, *b;                /* k x p, k: the model of the current point */
    float *wf, *bf;
    double *xd;                   /* small problems: the standardised X in double, or NULL */
    float *zf, *rf;               /* block x k */
    double *zd, *rd;              /* block x k */
    float *gblk;                  /* k x p */
    double *gblkd;                /* k x p */
    double *graw, *rsum;          /* k x p, k */
} evaluator;

/* Loss terms of one block: z (nb x k) in, r = sw dloss/dz (nb x k) out
** (when r), the weighted loss sum returned. */
static double block_loss(int loss, size_t k, size_t nb, const float *y, const float *sw, const double *z,
                         double *r)
{
    double tot = 0;
    if (loss == MBLIN_LOSS_SQUARED) {
        for (size_t i = 0; i < nb; i++) {
            double w = sw ? (double)sw[i] : 1.0, d = z[i] - (double)y[i];
            tot += w * d * d;
            if (r)
                r[i] = w * d;
        }
        return 0.5 * tot;
    }
    if (loss == MBLIN_LOSS_LOGISTIC) {
        for (size_t i = 0; i < nb; i++) {
            double w = sw ? (double)sw[i] : 1.0, zi = z[i], yi = (double)y[i];
            double e = exp(-fabs(zi));
            tot += w * (log1p(e) + (zi > 0 ? zi : 0.0) - yi * zi);
            if (r) {
                double p1 = zi >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
                r[i] = w * (p1 - yi);
            }
        }
        return tot;
    }
    for (size_t i = 0; i < nb; i++) {
        const double *zi = z + i * k;
        double w = sw ? (double)sw[i] : 1.0, mx = zi[0], sum = 0;
        size_t yi = (size_t)y[i];
        for (size_t c = 1; c < k; c++)
            mx = fmax(mx, zi[c]);
        for (size_t c = 0; c < k; c++)
            sum += exp(zi[c] - mx);
        tot += w * (log(sum) + mx - zi[yi]);
        if (r)
            for (size_t c = 0; c < k; c++)
                r[i * k + c] = w * (exp(zi[c] - mx) / sum - (c == yi ? 1.0 : 0.0));
    }
    return tot;
}

/* Set the model (w, b) from the parameters theta = [v (k x p), b' (k)]. */
static void set_point(evaluator *ev, const double *theta)
{
    size_t p = ev->p, k = ev->k;
    for (size_t c = 0; c < k; c++) {
        double b = ev->intercept ? theta[k * p + c] : 0.0;
        for (size_t j = 0; j < p; j++) {
            double w = theta[c * p + j] / ev->s[j];
            ev->w[c * p + j] = w;
            ev->wf[c * p + j] = (float)w;
            b -= w * ev->m[j];
        }
        ev->b[c] = b;
        ev->bf[c] = (float)b;
    }
}

/* Weighted loss sum over the training rows at theta (small problems, all
** in double on the standardised copy): graw = r'Xs, rsum = sum r. */
static double eval_train_double(evaluator *ev, const double *theta, int grad)
{
    const mblin_problem *pb = ev->pb;
    size_t p = ev->p, k = ev->k, n = pb->X->rows;
    double tot = 0;
    if (grad) {
        memset(ev->graw, 0, k * p * sizeof(double));
        memset(ev->rsum, 0, k * sizeof(double));
    }
    for (size_t i0 = 0; i0 < n; i0 += ev->block) {
        size_t nb = n - i0 < ev->block ? n - i0 : ev->block;
        const double *xb = ev->xd + i0 * p;
        for (size_t i = 0; i < nb; i++)
            for (size_t c = 0; c < k; c++)
                ev->zd[i * k + c] = ev->intercept ? theta[k * p + c] : 0.0;
        if (k == 1)
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)nb, (int)p, 1.0, xb, (int)p, theta, 1, 1.0, ev->zd, 1);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)k, (int)p, 1.0, xb, (int)p, theta,
                        (int)p, 1.0, ev->zd, (int)k);
        tot += block_loss(pb->loss, k, nb, pb->y + i0, pb->sw ? pb->sw + i0 : NULL, ev->zd, grad ? ev->rd : NULL);
        if (!grad)
            continue;
        if (k == 1)
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)nb, (int)p, 1.0, xb, (int)p, ev->rd, 1, 0.0, ev->gblkd, 1);
        else
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)p, (int)nb, 1.0, ev->rd, (int)k, xb,
                        (int)p, 0.0, ev->gblkd, (int)p);
        for (size_t t = 0; t < k * p; t++)
            ev->graw[t] += ev->gblkd[t];
        for (size_t i = 0; i < nb * k; i++)
            ev->rsum[i % k] += ev->rd[i];
    }
    return tot;
}

/* Weighted loss sum over a data set at the current point (w, b) from the
** float data; with grad, also the raw sums graw = r'X and rsum = sum r. */
static double eval_data(evaluator *ev, const mb_matrix *X, const float *y, const float *sw, int grad)
{
    size_t p = ev->p, k = ev->k, n = X->rows;
    int loss = ev->pb->loss;
    double tot = 0;
    if (grad) {
        memset(ev->graw, 0, k * p * sizeof(double));
        memset(ev->rsum, 0, k * sizeof(double));
    }
    for (size_t i0 = 0; i0 < n; i0 += ev->block) {
        size_t nb = n - i0 < ev->block ? n - i0 : ev->block;
        const float *xb = X->x + i0 * X->ld;
        for (size_t i = 0; i < nb; i++)
            for (size_t c = 0; c < k; c++)
                ev->zf[i * k + c] = ev->bf[c];
        if (k == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nb, (int)p, 1.0f, xb, (int)X->ld, ev->wf, 1, 1.0f, ev->zf, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)k, (int)p, 1.0f, xb, (int)X->ld, ev->wf,
                        (int)p, 1.0f, ev->zf, (int)k);
        for (size_t i = 0; i < nb * k; i++)
            ev->zd[i] = (double)ev->zf[i];
        tot += block_loss(loss, k, nb, y + i0, sw ? sw + i0 : NULL, ev->zd, grad ? ev->rd : NULL);
        if (!grad)
            continue;
        for (size_t i = 0; i < nb * k; i++) {
            ev->rf[i] = (float)ev->rd[i];
            ev->rsum[i % k] += ev->rd[i];
        }
        if (k == 1)
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)nb, (int)p, 1.0f, xb, (int)X->ld, ev->rf, 1, 0.0f, ev->gblk, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)p, (int)nb, 1.0f, ev->rf, (int)k, xb,
                        (int)X->ld, 0.0f, ev->gblk, (int)p);
        for (size_t t = 0; t < k * p; t++)
            ev->graw[t] += (double)ev->gblk[t];
    }
    return tot;
}

/* The smooth part of F at theta (data loss + c2 penalty) and its gradient
** g in theta coordinates; *data gets the mean data loss alone. */
static double eval_smooth(evaluator *ev, const double *theta, double c2, double *g, double *data)
{
    const mblin_problem *pb = ev->pb;
    size_t p = ev->p, k = ev->k;
    set_point(ev, theta);
    double W = pb->wsum;
    double f = (ev->xd ? eval_train_double(ev, theta, 1) : eval_data(ev, pb->X, pb->y, pb->sw, 1)) / W;
    *data = f;
    for (size_t c = 0; c < k; c++) {
        for (size_t j = 0; j < p; j++) {
            double w = ev->w[c * p + j];
            double gd = ev->xd ? ev->graw[c * p + j] / W
                               : (ev->graw[c * p + j] - ev->m[j] * ev->rsum[c]) / (ev->s[j] * W);
            g[c * p + j] = gd + c2 * w / ev->s[j];
            f += 0.5 * c2 * w * w;
        }
        if (ev->intercept)
            g[k * p + c] = ev->rsum[c] / W;
    }
    return f;
}

static void evaluator_free(const mb_host *h, evaluator *ev)
{
    void *ptrs[] = {ev->m,  ev->s,  ev->w,  ev->b,    ev->wf,    ev->bf,   ev->xd,  ev->zf,
                    ev->rf, ev->zd, ev->rd, ev->gblk, ev->gblkd, ev->graw, ev->rsum};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        if (ptrs[i])
            h->xfree(ptrs[i]);
    memset(ev, 0, sizeof *ev);
}

static int evaluator_init(evaluator *ev, const mblin_problem *pb, int intercept, char *err)
{
    const mb_host *h = pb->host;
    const mb_matrix *X = pb->X;
    size_t p = X->cols, k = pb->k, n = X->rows;
    memset(ev, 0, sizeof *ev);
    ev->pb = pb;
    ev->p = p;
    ev->k = k;
    ev->intercept = intercept;
    ev->npar = k * p + (intercept ? k : 0);
    ev->block = EVAL_BLOCK / k < 64 ? 64 : EVAL_BLOCK / k;
    ev->m = h->xmalloc(p * sizeof(double));
    ev->s = h->xmalloc(p * sizeof(double));
    ev->w = h->xmalloc(k * p * sizeof(double));
    ev->b = h->xmalloc(k * sizeof(double));
    ev->wf = h->xmalloc(k * p * sizeof(float));
    ev->bf = h->xmalloc(k * sizeof(float));
    ev->zf = h->xmalloc(ev->block * k * sizeof(float));
    ev->rf = h->xmalloc(ev->block * k * sizeof(float));
    ev->zd = h->xmalloc(ev->block * k * sizeof(double));
    ev->rd = h->xmalloc(ev->block * k * sizeof(double));
    ev->gblk = h->xmalloc(k * p * sizeof(float));
    ev->gblkd = h->xmalloc(k * p * sizeof(double));
    ev->graw = h->xmalloc(k * p * sizeof(double));
    ev->rsum = h->xmalloc(k * sizeof(double));
    if (!ev->m || !ev->s || !ev->w || !ev->b || !ev->wf || !ev->bf || !ev->zf || !ev->rf || !ev->zd || !ev->rd ||
        !ev->gblk || !ev->gblkd || !ev->graw || !ev->rsum) {
        evaluator_free(h, ev);
        return mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
    }
    /* small problems: exact column moments, and a standardised double copy */
    int small = n * p <= SMALL_PROBLEM;
    size_t step = small || n <= STAT_SAMPLE ? 1 : n / STAT_SAMPLE, cnt = 0;
    double *s1 = ev->m, *s2 = ev->s;
    memset(s1, 0, p * sizeof(double));
    memset(s2, 0, p * sizeof(double));
    for (size_t i = 0; i < n; i += step, cnt++) {
        const float *x = X->x + i * X->ld;
        for (size_t j = 0; j < p; j++)
            s1[j] += (double)x[j];
    }
    for (size_t j = 0; j < p; j++)
        s1[j] /= (double)cnt;
    for (size_t i = 0; i < n; i += step) {
        const float *x = X->x + i * X->ld;
        for (size_t j = 0; j < p; j++) {
            double d = (double)x[j] - (intercept ? s1[j] : 0.0);
            s2[j] += d * d;
        }
    }
    for (size_t j = 0; j < p; j++) {
        double mean = s1[j], sd = sqrt(s2[j] / (double)cnt);
        if (!isfinite(mean) || !isfinite(sd) || sd <= 1e-12 * fmax(1.0, fabs(mean)))
            sd = 1.0;
        s1[j] = intercept && isfinite(mean) ? mean : 0.0;
        s2[j] = sd;
    }
    if (small) {
        ev->xd = h->xmalloc((n ? n : 1) * p * sizeof(double));
        if (!ev->xd) {
            evaluator_free(h, ev);
            return mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            const float *x = X->x + i * X->ld;
            for (size_t j = 0; j < p; j++)
                ev->xd[i * p + j] = ((double)x[j] - ev->m[j]) / ev->s[j];
        }
    }
    return MB_PLUGIN_OK;
}

/* {====== L-BFGS / OWL-QN ======} */

/* OWL-QN's pseudo-gradient of F = smooth + sum_i lam_i |x_i|. */
static void pseudo_grad(size_t n, const double *x, const double *g, const double *lam, double *pg)
{
    for (size_t i = 0; i < n; i++) {
        double l = lam ? lam[i] : 0.0;
        if (l == 0)
            pg[i] = g[i];
        else if (x[i] > 0)
            pg[i] = g[i] + l;
        else if (x[i] < 0)
            pg[i] = g[i] - l;
        else if (g[i] + l < 0)
            pg[i] = g[i] + l;
        else if (g[i] - l > 0)
            pg[i] = g[i] - l;
        else
            pg[i] = 0;
    }
}

static double l1_term(size_t n, const double *x, const double *lam)
{
    double s = 0;
    if (lam)
        for (size_t i = 0; i < n; i++)
            s += lam[i] * fabs(x[i]);
    return s;
}

static double dot(size_t n, const double *a, const double *b)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static double valid_loss(evaluator *ev, const mb_dataset *v)
{
    if (!v || v->X.rows == 0 || v->X.cols != ev->p)
        return NAN;
    double W = 0;
    for (size_t i = 0; i < v->X.rows; i++)
        W += v->w ? (double)v->w[i] : 1.0;
    return W > 0 ? eval_data(ev, &v->X, v->y, v->w, 0) / W : (double)NAN;
}

/* The L-BFGS direction d = -H pg by the two-loop recursion over the mem
** stored pairs (S, Y; the newest before slot head), scaled by the newest
** pair's curvature. */
static void direction(size_t np, const double *pg, const double *S, const double *Y, const double *rho,
                      size_t mem, size_t head, double *d)
{
    double al[MEMORY];
    for (size_t i = 0; i < np; i++)
        d[i] = -pg[i];
    for (size_t t = 0; t < mem; t++) {
        size_t slot = (head + MEMORY - 1 - t) % MEMORY;
        al[slot] = rho[slot] * dot(np, S + slot * np, d);
        for (size_t i = 0; i < np; i++)
            d[i] -= al[slot] * Y[slot * np + i];
    }
    if (mem) {
        size_t last = (head + MEMORY - 1) % MEMORY;
        double gam = dot(np, S + last * np, Y + last * np) / dot(np, Y + last * np, Y + last * np);
        for (size_t i = 0; i < np; i++)
            d[i] *= gam;
    }
    for (size_t t = mem; t-- > 0;) {
        size_t slot = (head + MEMORY - 1 - t) % MEMORY;
        double be = rho[slot] * dot(np, Y + slot * np, d);
        for (size_t i = 0; i < np; i++)
            d[i] += (al[slot] - be) * S[slot * np + i];
    }
}

/* Backtracking line search (Armijo) from x along d, starting at step t,
** projected onto the orthant of x (of -pg where x is 0) for the L1 terms.
** 1 with the accepted point in xn, its gradient gn, objective *fn and
** data loss *datan; 0 when 40 halvings found no decrease. */
static int line_search(evaluator *ev, double c2, const double *lam, const double *x, double f,
                       const double *pg, const double *d, double dg, double t, double *xn, double *gn,
                       double *fn, double *datan)
{
    size_t np = ev->npar;
    for (int ls = 0; ls < 40; ls++) {
        for (size_t i = 0; i < np; i++) {
            xn[i] = x[i] + t * d[i];
            if (lam && lam[i] > 0) {
                double orth = x[i] != 0 ? x[i] : -pg[i];
                if (xn[i] * orth <= 0)
                    xn[i] = 0;
            }
        }
        *fn = eval_smooth(ev, xn, c2, gn, datan) + l1_term(np, xn, lam);
        double dec = 0;
        for (size_t i = 0; i < np; i++)
            dec += pg[i] * (xn[i] - x[i]);
        if (isfinite(*fn) && dec < 0 && *fn <= f + 1e-4 * dec && *fn < f)
            return 1;
        double tn = 0.5 * t;
        if (isfinite(*fn) && *fn > f) { /* minimum of the quadratic through f, dg, fn */
            double q = -dg * t * t / (2 * (*fn - f - dg * t));
            tn = fmin(0.5 * t, fmax(0.1 * t, q));
        }
        t = tn;
    }
    return 0;
}

int mblin_lbfgs(const mblin_problem *pb, double c2, double c1, int fit_intercept, long max_iter, double tol,
                double *coef, double *intercept, mblin_result *res, char *err)
{
    const mb_host *h = pb->host;
    evaluator ev;
    int rc = evaluator_init(&ev, pb, fit_intercept, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    size_t np = ev.npar, p = ev.p, k = ev.k;
    double *buf = NULL;
    size_t nbuf = 7 * np + 2 * MEMORY * np;
    buf = h->xmalloc(nbuf * sizeof(double));
    if (!buf) {
        rc = mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
        goto exit;
    }
    memset(buf, 0, nbuf * sizeof(double));
    double *x = buf, *g = x + np, *pg = g + np, *d = pg + np, *xn = d + np, *gn = xn + np, *lam = gn + np;
    double *S = lam + np, *Y = S + MEMORY * np;
    double rho[MEMORY];
    if (c1 > 0) {
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j < p; j++)
                lam[c * p + j] = c1 / ev.s[j];
    } else {
        lam = NULL;
    }

    double data = 0, f = eval_smooth(&ev, x, c2, g, &data) + l1_term(np, x, lam);
    int finite = isfinite(f);
    for (size_t i = 0; i < np && finite; i++)
        finite = isfinite(g[i]);
    if (!finite) {
        rc = mblin_find_nonfinite(pb->X, 0, pb->X->rows, err);
        if (rc == MB_PLUGIN_OK)
            rc = mblin_fail(err, MB_PLUGIN_EINVAL, "the loss overflows at the starting point (labels too large?)");
        goto exit;
    }
    pseudo_grad(np, x, g, lam, pg);
    size_t mem = 0, head = 0; /* pairs stored, index of the next slot */
    long it = 0;
    int converged = 0, stalled = 0;
    char msg[128];
    for (;;) {
        double pgmax = 0;
        for (size_t i = 0; i < np; i++)
            pgmax = fmax(pgmax, fabs(pg[i]));
        if (pgmax <= tol) {
            converged = 1;
            break;
        }
        if (it >= max_iter || stalled)
            break;
        direction(np, pg, S, Y, rho, mem, head, d);
        if (lam)
            for (size_t i = 0; i < np; i++)
                if (d[i] * pg[i] >= 0)
                    d[i] = 0;
        double dg = dot(np, pg, d);
        if (!(dg < 0)) {
            mem = head = 0;
            for (size_t i = 0; i < np; i++)
                d[i] = -pg[i];
            dg = dot(np, pg, d);
        }
        double t = 1.0;
        if (!mem)
            t = fmin(1.0, 1.0 / sqrt(-dg));
        double fn = f, datan = data;
        int ok = line_search(&ev, c2, lam, x, f, pg, d, dg, t, xn, gn, &fn, &datan);
        if (!ok) {
            if (mem) { /* forget the curvature pairs and try a gradient step */
                mem = head = 0;
                continue;
            }
            stalled = 1; /* no decrease even along -pg: float precision reached */
            continue;
        }
        double sy = 0, yy = 0;
        for (size_t i = 0; i < np; i++) {
            double si = xn[i] - x[i], yi = gn[i] - g[i];
            S[head * np + i] = si;
            Y[head * np + i] = yi;
            sy += si * yi;
            yy += yi * yi;
        }
        if (sy > 1e-10 * yy && sy > 0) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % MEMORY;
            if (mem < MEMORY)
                mem++;
        }
        memcpy(x, xn, np * sizeof *x);
        memcpy(g, gn, np * sizeof *g);
        f = fn;
        data = datan;
        pseudo_grad(np, x, g, lam, pg);
        it++;
        if (mblin_cancelled(pb->ctx)) {
            rc = mblin_fail(err, MB_PLUGIN_ECANCELLED, "cancelled");
            goto exit;
        }
        if (pb->ctx && pb->ctx->progress) {
            double vl = pb->valid ? valid_loss(&ev, pb->valid) : (double)NAN;
            double gm = 0;
            for (size_t i = 0; i < np; i++)
                gm = fmax(gm, fabs(pg[i]));
            snprintf(msg, sizeof msg, "iteration %ld: objective %.10g, |gradient| %.3g", it, f, gm);
            mblin_progress(pb->ctx, (double)it / (double)max_iter, msg, data, vl);
        }
    }
    set_point(&ev, x);
    memcpy(coef, ev.w, k * p * sizeof(double));
    memcpy(intercept, ev.b, k * sizeof(double));
    res->n_iter = it;
    res->converged = converged;
    res->loss = data;
    if (stalled && !converged)
        mblin_log(h, 1, "linear: line search could not decrease the objective further (float precision); "
                        "stopped after %ld iterations", it);
exit:
    if (buf)
        h->xfree(buf);
    evaluator_free(h, &ev);
    return rc;
}
