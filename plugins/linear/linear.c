/*
** linear.c: the linear-models plugin ("linear"): one model type, "linear",
** whose task comes from the data: squared loss for regression (Ridge,
** least squares, Lasso, elastic net), logistic loss for binary
** classification and multinomial (softmax) logistic regression for
** multiclass. This file holds the plugin's description, the parameter
** table, checking the data, choosing the solver, prediction, saved state,
** the portable linear form and feature importance; the solvers live in
** lin_gram.c (closed form, coordinate descent) and lin_lbfgs.c (L-BFGS,
** OWL-QN).
**
** DESIGN
** ------
** The objectives are scikit-learn's, so that a user can move figures
** between the two (see the help strings of the parameter table):
**   regression, penalty l2/none:  ||y - Xw - b||^2 + alpha ||w||^2      (Ridge)
**   regression, l1/elasticnet:    1/(2n) ||y - Xw - b||^2
**                                 + alpha (l1_ratio ||w||_1 + (1 - l1_ratio)/2 ||w||^2)
**   classification:               C sum_i logloss_i + pen(w),  C = 1 / alpha,
**     pen = 1/2 ||w||^2 (l2), ||w||_1 (l1),
**           l1_ratio ||w||_1 + (1 - l1_ratio)/2 ||w||^2 (elasticnet)
** Sample weights multiply each row's loss (a weight of 2 is the row
** twice); class weights multiply the sample weights ("balanced": n / (k
** n_c), counted without sample weights, as sklearn's compute_class_weight).
** Intercepts are never penalised.
**
** Solvers: "auto" picks cholesky for regression with l2/none, cd for
** regression with l1/elasticnet, and lbfgs (OWL-QN when there is an l1
** part) for classification. OpenBLAS's thread count is process-global:
** fit sets it to ctx->threads when it starts.
**
** Prediction of one row avoids BLAS (a plain dot loop); larger batches go
** through sgemv/sgemm in blocks.
*/
#include "linear.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MBLIN_STATE_VERSION 1

/* {====== helpers ======} */

int mblin_fail(char *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, MB_PLUGIN_ERRLEN, fmt, ap);
        va_end(ap);
    }
    return code;
}

void mblin_log(const mb_host *host, int level, const char *fmt, ...)
{
    if (!host || !host->log)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    host->log(level, buf);
}

void mblin_progress(const mb_fit_context *ctx, double fraction, const char *msg, double train_loss,
                    double valid_loss)
{
    if (ctx && ctx->progress)
        ctx->progress(ctx->progress_ud, fraction, msg, train_loss, valid_loss);
}

int mblin_cancelled(const mb_fit_context *ctx) { return ctx && ctx->cancel && *ctx->cancel; }

int mblin_find_nonfinite(const mb_matrix *X, size_t row0, size_t nrows, char *err)
{
    for (size_t i = row0; i < row0 + nrows && i < X->rows; i++) {
        const float *r = X->x + i * X->ld;
        for (size_t j = 0; j < X->cols; j++)
            if (!isfinite(r[j]))
                return mblin_fail(err, MB_PLUGIN_EINVAL,
                                  "feature value at row %zu, column %zu is %s; linear models need "
                                  "finite features (impute or drop missing values first)",
                                  i, j, isnan(r[j]) ? "missing (NaN)" : "infinite");
    }
    return MB_PLUGIN_OK;
}

static void *xcalloc(const mb_host *h, size_t n, size_t size)
{
    if (n && size > (size_t)-1 / n)
        return NULL;
    size_t bytes = n * size;
    void *p = h->xmalloc(bytes ? bytes : 1);
    if (p)
        memset(p, 0, bytes);
    return p;
}

static void xfree(const mb_host *h, void *p)
{
    if (p)
        h->xfree(p);
}

/* {====== parameters ======} */

static const char *const penalty_choices[] = {"l2", "l1", "elasticnet", "none", NULL};
static const char *const cw_choices[] = {"none", "balanced", NULL};
static const char *const solver_choices[] = {"auto", "lbfgs", "cd", "cholesky", NULL};

enum { P_PENALTY, P_ALPHA, P_L1_RATIO, P_FIT_INTERCEPT, P_MAX_ITER, P_TOL, P_CLASS_WEIGHT, P_SOLVER, P_COUNT };

static const mb_param_spec params[P_COUNT] = {
    {"penalty", MB_PARAM_CHOICE,
     "regularisation: l2 (Ridge / L2 logistic), l1 (Lasso / L1 logistic), elasticnet (l1_ratio mix), "
     "none (least squares / unpenalised logistic); intercepts are never penalised",
     "l2", 0, 0, penalty_choices},
    {"alpha", MB_PARAM_REAL,
     "strength, as scikit-learn: regression l2/none minimises ||y-Xw-b||^2 + alpha ||w||^2 (Ridge); "
     "regression l1/elasticnet minimises 1/(2n) ||y-Xw-b||^2 + alpha (l1_ratio ||w||_1 + "
     "(1-l1_ratio)/2 ||w||^2) (Lasso, ElasticNet); classification minimises C sum logloss + pen(w) "
     "with C = 1/alpha and pen = 1/2 ||w||^2 (l2), ||w||_1 (l1), l1_ratio ||w||_1 + (1-l1_ratio)/2 "
     "||w||^2 (elasticnet), so alpha=1 is sklearn's LogisticRegression(C=1)",
     "1", 0, HUGE_VAL, NULL},
    {"l1_ratio", MB_PARAM_REAL, "elasticnet mix: 1 is pure l1, 0 pure l2 (penalty=elasticnet only)", "0.5", 0,
     1, NULL},
    {"fit_intercept", MB_PARAM_BOOL, "fit an unpenalised intercept (bias) per output", "true", 0, 0, NULL},
    {"max_iter", MB_PARAM_INT,
     "iteration limit; 0 = the solver's default: 100 for lbfgs (as sklearn's LogisticRegression), "
     "1000 sweeps for cd (as sklearn's Lasso); not reaching tol is reported, not an error",
     "0", 0, 10000000, NULL},
    {"tol", MB_PARAM_REAL,
     "stopping tolerance: lbfgs stops when the largest (pseudo-)gradient component of the "
     "mean objective (1/n) sum loss + pen/(C n), in standardised-feature coordinates, is <= tol; "
     "cd stops like sklearn's Lasso (duality gap <= tol * ||y - mean(y)||^2); unused by cholesky",
     "1e-4", 0, 1, NULL},
    {"class_weight", MB_PARAM_CHOICE,
     "classification: none, or balanced (class c weighs n / (k * n_c), as sklearn); multiplies the "
     "sample weights; ignored for regression",
     "none", 0, 0, cw_choices},
    {"solver", MB_PARAM_CHOICE,
     "auto: cholesky for regression with l2/none, cd for regression with l1/elasticnet, lbfgs for "
     "classification; lbfgs: L-BFGS (memory 10), OWL-QN when the penalty has an l1 part, any task; "
     "cd: coordinate descent on the Gram matrix, regression only; cholesky: closed form (eigen "
     "fallback when singular), regression with l2/none only",
     "auto", 0, 0, solver_choices},
};

/* {====== model lifecycle ======} */

static void clear_fit(mblin_model *m)
{
    xfree(m->host, m->coef);
    xfree(m->host, m->intercept);
    xfree(m->host, m->coef_f);
    xfree(m->host, m->intercept_f);
    m->coef = m->intercept = NULL;
    m->coef_f = m->intercept_f = NULL;
    m->nfeatures = m->noutputs = m->nclasses = 0;
    m->info_n = 0;
}

/* Refresh what fit_info reports from n_iter, converged and train_loss
** (the last left out when unknown: a state saved without it). */
static void set_info(mblin_model *m)
{
    m->info_values[0] = (double)m->n_iter;
    m->info_values[1] = m->converged ? 1.0 : 0.0;
    m->info_values[2] = m->train_loss;
    m->info_n = isnan(m->train_loss) ? 2 : 3;
}

static int lin_create(const mb_param_value *v, const mb_host *host, void **out, char *err)
{
    mblin_model *m = host->xmalloc(sizeof *m);
    if (!m)
        return mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
    memset(m, 0, sizeof *m);
    m->host = host;
    m->penalty = (int)v[P_PENALTY].i;
    m->alpha = v[P_ALPHA].real;
    m->l1_ratio = v[P_L1_RATIO].real;
    m->fit_intercept = v[P_FIT_INTERCEPT].i != 0;
    m->max_iter = (long)v[P_MAX_ITER].i;
    m->tol = v[P_TOL].real;
    m->class_weight = (int)v[P_CLASS_WEIGHT].i;
    m->solver = (int)v[P_SOLVER].i;
    m->train_loss = NAN;
    if (!(m->alpha >= 0) || isinf(m->alpha)) {
        host->xfree(m);
        return mblin_fail(err, MB_PLUGIN_EINVAL, "alpha must be a finite number >= 0");
    }
    *out = m;
    return MB_PLUGIN_OK;
}

static void lin_destroy(void *model)
{
    mblin_model *m = model;
    if (!m)
        return;
    clear_fit(m);
    m->host->xfree(m);
}

/* Allocate the fitted arrays for k outputs of p features. */
static int alloc_fit(mblin_model *m, size_t k, size_t p, char *err)
{
    clear_fit(m);
    m->coef = xcalloc(m->host, k * p, sizeof(double));
    m->intercept = xcalloc(m->host, k, sizeof(double));
    m->coef_f = xcalloc(m->host, k * p, sizeof(float));
    m->intercept_f = xcalloc(m->host, k, sizeof(float));
    if (!m->coef || !m->intercept || !m->coef_f || !m->intercept_f) {
        clear_fit(m);
        return mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory for %zu x %zu coefficients", k, p);
    }
    m->noutputs = k;
    m->nfeatures = p;
    return MB_PLUGIN_OK;
}

static void sync_float(mblin_model *m)
{
    for (size_t i = 0; i < m->noutputs * m->nfeatures; i++)
        m->coef_f[i] = (float)m->coef[i];
    for (size_t k = 0; k < m->noutputs; k++)
        m->intercept_f[k] = (float)m->intercept[k];
}

/* {====== fit ======} */

/* Check labels and weights; build the combined row weights (*sw, NULL
** when all 1) and their sum. */
static int prepare_weights(const mblin_model *m, const mb_dataset *d, float **sw, double *wsum, char *err)
{
    size_t n = d->X.rows, nc = d->nclasses;
    const mb_host *h = m->host;
    double cw[256];
    int use_cw = 0;
    *sw = NULL;
    for (size_t i = 0; i < n; i++) {
        float y = d->y[i];
        if (!isfinite(y))
            return mblin_fail(err, MB_PLUGIN_EINVAL, "label of row %zu is %s", i, isnan(y) ? "missing (NaN)" : "infinite");
        if (d->task != MB_TASK_REGRESSION && (y < 0 || y >= (float)nc || y != floorf(y)))
            return mblin_fail(err, MB_PLUGIN_EINVAL, "label of row %zu is %g, not a class index in 0..%zu", i,
                              (double)y, nc - 1);
        if (d->w && !(d->w[i] >= 0 && isfinite(d->w[i])))
            return mblin_fail(err, MB_PLUGIN_EINVAL, "sample weight of row %zu is %g; weights must be finite and >= 0",
                              i, (double)d->w[i]);
    }
    if (d->task != MB_TASK_REGRESSION && m->class_weight == MBLIN_CW_BALANCED) {
        if (nc > sizeof cw / sizeof cw[0])
            return mblin_fail(err, MB_PLUGIN_EINVAL, "class_weight=balanced supports at most %zu classes",
                              sizeof cw / sizeof cw[0]);
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[(size_t)d->y[i]]++;
        for (size_t c = 0; c < nc; c++)
            cw[c] = count[c] ? (double)n / ((double)nc * (double)count[c]) : 0.0;
        use_cw = 1;
    }
    if (!d->w && !use_cw) {
        *wsum = (double)n;
        return MB_PLUGIN_OK;
    }
    float *s = h->xmalloc(n * sizeof *s);
    if (!s)
        return mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory for %zu row weights", n);
    double tot = 0;
    for (size_t i = 0; i < n; i++) {
        double v = d->w ? (double)d->w[i] : 1.0;
        if (use_cw)
            v *= cw[(size_t)d->y[i]];
        s[i] = (float)v;
        tot += (double)s[i];
    }
    if (!(tot > 0)) {
        h->xfree(s);
        return mblin_fail(err, MB_PLUGIN_EINVAL, "the sample weights sum to 0");
    }
    *sw = s;
    *wsum = tot;
    return MB_PLUGIN_OK;
}

static int lin_fit(void *model, const mb_dataset *train, const mb_dataset *valid, const mb_fit_context *ctx,
                   char *err)
{
    mblin_model *m = model;
    const mb_host *h = m->host;
    int rc = MB_PLUGIN_OK;
    float *sw = NULL;
    double *coef = NULL, *icpt = NULL;
    size_t n = train->X.rows, p = train->X.cols;
    int regression = train->task == MB_TASK_REGRESSION;
    size_t k = train->task == MB_TASK_MULTICLASS ? train->nclasses : 1;

    if (n == 0 || p == 0)
        return mblin_fail(err, MB_PLUGIN_EINVAL, "no training data (%zu rows, %zu features)", n, p);
    if (!regression && train->nclasses < 2)
        return mblin_fail(err, MB_PLUGIN_EINVAL, "classification needs at least 2 classes");
    if (valid && valid->X.cols != p)
        return mblin_fail(err, MB_PLUGIN_EINVAL, "validation data has %zu features, training data %zu",
                          valid->X.cols, p);
    if (ctx && ctx->threads >= 1)
        openblas_set_num_threads(ctx->threads);

    int solver = m->solver, pen = m->penalty;
    int has_l1 = pen == MBLIN_PEN_L1 || pen == MBLIN_PEN_ENET;
    if (solver == MBLIN_SOLVER_AUTO)
        solver = !regression ? MBLIN_SOLVER_LBFGS : has_l1 ? MBLIN_SOLVER_CD : MBLIN_SOLVER_CHOLESKY;
    if (solver == MBLIN_SOLVER_CHOLESKY && (!regression || has_l1))
        return mblin_fail(err, MB_PLUGIN_EINVAL,
                          "solver=cholesky solves regression with penalty l2 or none only; use solver=auto");
    if (solver == MBLIN_SOLVER_CD && !regression)
        return mblin_fail(err, MB_PLUGIN_EINVAL,
                          "solver=cd fits regression only; classification uses lbfgs (OWL-QN for l1/elasticnet)");
    if (regression && m->class_weight != MBLIN_CW_NONE)
        mblin_log(h, 2, "linear: class_weight is ignored for regression");

    double wsum;
    if ((rc = prepare_weights(m, train, &sw, &wsum, err)) != MB_PLUGIN_OK)
        goto exit;
    coef = xcalloc(h, k * p, sizeof *coef);
    icpt = xcalloc(h, k, sizeof *icpt);
    if (!coef || !icpt) {
        rc = mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory for %zu x %zu coefficients", k, p);
        goto exit;
    }
    mblin_problem pb = {&train->X, train->y, sw, wsum, k,
                        regression ? MBLIN_LOSS_SQUARED : k == 1 ? MBLIN_LOSS_LOGISTIC : MBLIN_LOSS_SOFTMAX,
                        valid, ctx, h};
    mblin_result res = {0, 0, NAN};
    double l1part = pen == MBLIN_PEN_L1 ? 1.0 : pen == MBLIN_PEN_ENET ? m->l1_ratio : 0.0;
    double l2part = pen == MBLIN_PEN_L2 ? 1.0 : pen == MBLIN_PEN_ENET ? 1.0 - m->l1_ratio : 0.0;
    double alpha = pen == MBLIN_PEN_NONE ? 0.0 : m->alpha;
    const char *sname = "";
    if (solver == MBLIN_SOLVER_CHOLESKY) {
        sname = "cholesky";
        rc = mblin_ridge(&pb, alpha, m->fit_intercept, coef, icpt, &res, err);
    } else if (solver == MBLIN_SOLVER_CD) {
        /* Ridge's scale for l2/none (alpha ||w||^2 against the full sum of
        ** squares), Lasso's for l1/elasticnet (against the mean / 2). */
        sname = "cd";
        double a1 = alpha * l1part, a2 = alpha * l2part;
        if (!has_l1)
            a2 = alpha / wsum;
        rc = mblin_cd(&pb, a1, a2, m->fit_intercept, m->max_iter ? m->max_iter : 1000, m->tol, coef, icpt,
                      &res, err);
    } else {
        /* Everything as a mean over the (weighted) rows: divide the
        ** objectives of the header comment by W (classification) or by
        ** 2W (Ridge), where the data term is (1/W) sum sw_i loss_i and the
        ** squared loss is r^2 / 2. */
        sname = has_l1 ? "owlqn" : "lbfgs";
        double c1, c2;
        if (regression && !has_l1) {
            c1 = 0.0;
            c2 = alpha / wsum;
        } else if (regression) {
            c1 = alpha * l1part;
            c2 = alpha * l2part;
        } else {
            c1 = alpha * l1part / wsum;
            c2 = alpha * l2part / wsum;
        }
        rc = mblin_lbfgs(&pb, c2, c1, m->fit_intercept, m->max_iter ? m->max_iter : 100, m->tol, coef, icpt,
                         &res, err);
    }
    if (rc != MB_PLUGIN_OK)
        goto exit;

    if ((rc = alloc_fit(m, k, p, err)) != MB_PLUGIN_OK)
        goto exit;
    memcpy(m->coef, coef, k * p * sizeof *coef);
    memcpy(m->intercept, icpt, k * sizeof *icpt);
    sync_float(m);
    m->task = train->task;
    m->nclasses = regression ? 0 : train->nclasses;
    m->n_iter = res.n_iter;
    m->converged = res.converged;
    /* the mean training loss: MSE for regression (L-BFGS's squared loss
    ** is r^2 / 2), log loss for classification */
    m->train_loss = regression && solver == MBLIN_SOLVER_LBFGS ? 2.0 * res.loss : res.loss;
    set_info(m);
    {
        char msg[160];
        if (solver == MBLIN_SOLVER_CHOLESKY)
            snprintf(msg, sizeof msg, "linear (%s): solved in closed form, training loss %.6g", sname,
                     m->train_loss);
        else
            snprintf(msg, sizeof msg, "linear (%s): %s after %ld iterations, training loss %.6g", sname,
                     res.converged ? "converged" : "did not converge (raise max_iter or tol)", res.n_iter,
                     m->train_loss);
        mblin_log(h, res.converged ? 1 : 2, "%s", msg);
        mblin_progress(ctx, 1.0, msg, m->train_loss, NAN);
    }
exit:
    xfree(h, sw);
    xfree(h, coef);
    xfree(h, icpt);
    return rc;
}

/* {====== prediction ======} */

#define PRED_BLOCK 4096

/* Raw outputs of rows [i0, i0 + nb) into z (nb x k). One row: a plain
** loop (BLAS call overhead would dominate); more: sgemv / sgemm. */
static void raw_scores(const mblin_model *m, const mb_matrix *X, size_t i0, size_t nb, float *z)
{
    size_t k = m->noutputs, p = m->nfeatures;
    const float *x0 = X->x + i0 * X->ld;
    if (nb < 8) {
        for (size_t i = 0; i < nb; i++) {
            const float *x = x0 + i * X->ld;
            for (size_t c = 0; c < k; c++) {
                const double *w = m->coef + c * p;
                double s = m->intercept[c];
                for (size_t j = 0; j < p; j++)
                    s += w[j] * (double)x[j];
                z[i * k + c] = (float)s;
            }
        }
        return;
    }
    for (size_t i = 0; i < nb; i++)
        for (size_t c = 0; c < k; c++)
            z[i * k + c] = m->intercept_f[c];
    if (k == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nb, (int)p, 1.0f, x0, (int)X->ld, m->coef_f, 1, 1.0f, z, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)k, (int)p, 1.0f, x0, (int)X->ld,
                    m->coef_f, (int)p, 1.0f, z, (int)k);
}

/* proba: 0 = predict (value / class index), 1 = probabilities. */
static int predict_any(mblin_model *m, const mb_matrix *X, float *out, int proba, char *err)
{
    if (!m->coef)
        return mblin_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    if (X->cols != m->nfeatures)
        return mblin_fail(err, MB_PLUGIN_EINVAL, "the model was fitted on %zu features, this data has %zu",
                          m->nfeatures, X->cols);
    if (proba && m->task == MB_TASK_REGRESSION)
        return mblin_fail(err, MB_PLUGIN_EINVAL, "a regression model gives no class probabilities");
    size_t k = m->noutputs;
    float zsmall[8 * 64];
    float *z = zsmall;
    size_t cap = sizeof zsmall / sizeof zsmall[0] / (k ? k : 1);
    if (X->rows > cap) {
        cap = X->rows < PRED_BLOCK ? X->rows : PRED_BLOCK;
        z = m->host->xmalloc(cap * k * sizeof *z);
        if (!z)
            return mblin_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
    }
    for (size_t i0 = 0; i0 < X->rows; i0 += cap) {
        size_t nb = X->rows - i0 < cap ? X->rows - i0 : cap;
        raw_scores(m, X, i0, nb, z);
        for (size_t i = 0; i < nb; i++) {
            const float *zi = z + i * k;
            size_t row = i0 + i;
            if (m->task == MB_TASK_REGRESSION) {
                out[row] = zi[0];
            } else if (k == 1) {
                if (!proba) {
                    out[row] = zi[0] > 0 ? 1.0f : 0.0f;
                } else {
                    double e = exp(-fabs((double)zi[0]));
                    double p1 = zi[0] >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
                    out[2 * row] = (float)(1.0 - p1);
                    out[2 * row + 1] = (float)p1;
                }
            } else {
                size_t best = 0;
                for (size_t c = 1; c < k; c++)
                    if (zi[c] > zi[best])
                        best = c;
                if (!proba) {
                    out[row] = (float)best;
                } else {
                    double s = 0, mx = (double)zi[best];
                    for (size_t c = 0; c < k; c++)
                        s += exp((double)zi[c] - mx);
                    for (size_t c = 0; c < k; c++)
                        out[row * k + c] = (float)(exp((double)zi[c] - mx) / s);
                }
            }
        }
    }
    if (z != zsmall)
        m->host->xfree(z);
    return MB_PLUGIN_OK;
}

static int lin_predict(void *model, const mb_matrix *X, float *out, char *err)
{
    return predict_any(model, X, out, 0, err);
}

static int lin_predict_proba(void *model, const mb_matrix *X, float *out, char *err)
{
    return predict_any(model, X, out, 1, err);
}

/* {====== saved state, portable form, importance ======} */

/* info: format version, task, nfeatures, noutputs, nclasses, n_iter, converged;
** then "coef", "intercept" and (optional: absent from states saved before
** it was added) "train_loss". */
#define INFO_LEN 7

static int lin_save(void *model, const mb_state_writer *w, char *err)
{
    mblin_model *m = model;
    if (!m->coef)
        return mblin_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    int64_t info[INFO_LEN] = {MBLIN_STATE_VERSION, (int64_t)m->task, (int64_t)m->nfeatures, (int64_t)m->noutputs,
                              (int64_t)m->nclasses, (int64_t)m->n_iter, (int64_t)m->converged};
    int rc;
    if ((rc = w->put(w->ud, "info", MB_DT_I64, info, INFO_LEN)) != MB_PLUGIN_OK ||
        (rc = w->put(w->ud, "coef", MB_DT_F64, m->coef, m->noutputs * m->nfeatures)) != MB_PLUGIN_OK ||
        (rc = w->put(w->ud, "intercept", MB_DT_F64, m->intercept, m->noutputs)) != MB_PLUGIN_OK ||
        (rc = w->put(w->ud, "train_loss", MB_DT_F64, &m->train_loss, 1)) != MB_PLUGIN_OK)
        return mblin_fail(err, rc, "cannot write the model state");
    return MB_PLUGIN_OK;
}

static int lin_load(void *model, const mb_state_reader *r, char *err)
{
    mblin_model *m = model;
    int64_t info[INFO_LEN];
    mb_dtype t;
    size_t count;
    if (r->size(r->ud, "info", &t, &count) != MB_PLUGIN_OK || count != INFO_LEN ||
        r->get(r->ud, "info", MB_DT_I64, info, INFO_LEN) != MB_PLUGIN_OK)
        return mblin_fail(err, MB_PLUGIN_EFORMAT, "saved state: no valid 'info' array");
    if (info[0] != MBLIN_STATE_VERSION)
        return mblin_fail(err, MB_PLUGIN_EFORMAT, "saved state version %lld, this plugin reads version %d",
                          (long long)info[0], MBLIN_STATE_VERSION);
    int64_t task = info[1], p = info[2], k = info[3], nc = info[4];
    int ok = p > 0 && p < (1LL << 40) && k > 0 && k < 65536 &&
             ((task == MB_TASK_REGRESSION && k == 1 && nc == 0) || (task == MB_TASK_BINARY && k == 1 && nc == 2) ||
              (task == MB_TASK_MULTICLASS && nc >= 2 && k == nc));
    if (!ok)
        return mblin_fail(err, MB_PLUGIN_EFORMAT, "saved state: inconsistent shape (task %lld, %lld features, "
                          "%lld outputs, %lld classes)", (long long)task, (long long)p, (long long)k, (long long)nc);
    int rc = alloc_fit(m, (size_t)k, (size_t)p, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    if (r->size(r->ud, "coef", &t, &count) != MB_PLUGIN_OK || count != (size_t)(k * p) ||
        r->get(r->ud, "coef", MB_DT_F64, m->coef, count) != MB_PLUGIN_OK ||
        r->size(r->ud, "intercept", &t, &count) != MB_PLUGIN_OK || count != (size_t)k ||
        r->get(r->ud, "intercept", MB_DT_F64, m->intercept, count) != MB_PLUGIN_OK) {
        clear_fit(m);
        return mblin_fail(err, MB_PLUGIN_EFORMAT, "saved state: 'coef' or 'intercept' missing or of the wrong size");
    }
    m->task = (mb_task)task;
    m->nclasses = (size_t)nc;
    m->n_iter = (long)info[5];
    m->converged = (int)info[6];
    /* optional: states saved before it was added have no train_loss */
    double tl = NAN;
    if (r->size(r->ud, "train_loss", &t, &count) == MB_PLUGIN_OK && count == 1 &&
        r->get(r->ud, "train_loss", MB_DT_F64, &tl, 1) != MB_PLUGIN_OK)
        tl = NAN;
    m->train_loss = tl;
    set_info(m);
    sync_float(m);
    return MB_PLUGIN_OK;
}

static int lin_portable(void *model, mb_portable *out, char *err)
{
    mblin_model *m = model;
    if (!m->coef)
        return mblin_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    memset(out, 0, sizeof *out);
    out->kind = MB_FORM_LINEAR;
    out->u.linear.nfeatures = m->nfeatures;
    out->u.linear.noutputs = m->noutputs;
    out->u.linear.coef = m->coef;
    out->u.linear.intercept = m->intercept;
    out->u.linear.link = m->task == MB_TASK_REGRESSION ? MB_LINK_IDENTITY
                         : m->task == MB_TASK_BINARY   ? MB_LINK_LOGISTIC
                                                       : MB_LINK_SOFTMAX;
    return MB_PLUGIN_OK;
}

/* kind 0: |coef| (summed over the outputs of a multiclass model); there is
** no gain for a linear model, so kind 1 gives the same. */
static int lin_importance(void *model, int kind, double *out, char *err)
{
    mblin_model *m = model;
    (void)kind;
    if (!m->coef)
        return mblin_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    for (size_t j = 0; j < m->nfeatures; j++) {
        double s = 0;
        for (size_t c = 0; c < m->noutputs; c++)
            s += fabs(m->coef[c * m->nfeatures + j]);
        out[j] = s;
    }
    return MB_PLUGIN_OK;
}

/* What the last fit (or the loaded state) found: iterations (1 for the
** closed form), converged (0/1) and train_loss (mean training loss: MSE
** for regression, log loss for classification; absent after loading a
** state saved without it). */
static const char *const info_names[] = {"iterations", "converged", "train_loss"};

static int lin_fit_info(void *model, mb_fit_info *out, char *err)
{
    mblin_model *m = model;
    (void)err;
    out->n = m->coef ? m->info_n : 0;
    out->names = info_names;
    out->values = m->info_values;
    return MB_PLUGIN_OK;
}

/* {====== plugin ======} */

static const mb_model_type linear_type = {
    sizeof(mb_model_type),
    "linear",
    "Ridge / least squares, Lasso / elastic net, binary and multinomial logistic regression (OpenBLAS)",
    MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS,
    params,
    P_COUNT,
    lin_create,
    lin_fit,
    lin_predict,
    lin_predict_proba,
    lin_save,
    lin_load,
    lin_portable,
    lin_importance,
    lin_destroy,
    lin_fit_info,
    NULL, /* dims: bundles score through the portable form, not this plugin */
};

static const mb_model_type *const models[] = {&linear_type};

static const mb_plugin plugin = {
    MB_PLUGIN_ABI, "linear", "1.0.0",
    "linear models: Ridge, Lasso, elastic net, logistic regression (binary, softmax)", 1, models,
};

const mb_plugin *moonbench_plugin(unsigned host_abi);

const mb_plugin *moonbench_plugin(unsigned host_abi)
{
    (void)host_abi;
    return &plugin;
}
