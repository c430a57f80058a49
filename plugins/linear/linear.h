/*
** linear.h: internals shared by the files of the linear-models plugin
** (plugins/linear): the model record, the problem a solver sees, and the
** solvers (closed-form Ridge / OLS, coordinate descent, L-BFGS / OWL-QN).
** Not an API: the plugin's only export is moonbench_plugin() (linear.c).
** Cross-file names start with mblin_.
*/
#ifndef MBLIN_LINEAR_H
#define MBLIN_LINEAR_H

#include "moonbench_plugin.h"

#include <stddef.h>

/* Parameter choices, in the order of the choices[] tables of linear.c. */
enum { MBLIN_PEN_L2, MBLIN_PEN_L1, MBLIN_PEN_ENET, MBLIN_PEN_NONE };
enum { MBLIN_CW_NONE, MBLIN_CW_BALANCED };
enum { MBLIN_SOLVER_AUTO, MBLIN_SOLVER_LBFGS, MBLIN_SOLVER_CD, MBLIN_SOLVER_CHOLESKY };

/* One model: parameters, then the fitted coefficients. */
typedef struct mblin_model {
    const mb_host *host;
    /* parameters */
    int penalty, class_weight, solver, fit_intercept;
    double alpha, l1_ratio, tol;
    long max_iter;                /* 0: the solver's default */
    /* fitted (coef == NULL until fit or load) */
    mb_task task;
    size_t nfeatures, noutputs, nclasses;
    double *coef;                 /* noutputs x nfeatures */
    double *intercept;            /* noutputs */
    float *coef_f, *intercept_f;  /* float copies for BLAS prediction */
    long n_iter;
    int converged;
    double train_loss;            /* mean training loss of the fit; NaN when unknown */
    /* what fit_info reports: refreshed at each fit and load */
    size_t info_n;
    double info_values[3];        /* iterations, converged, train_loss */
} mblin_model;

/* What a solver sees: the data, the combined per-row weights (sample
** weight x class weight; NULL when all 1) and their sum, the task, and
** where to report. */
typedef struct mblin_problem {
    const mb_matrix *X;
    const float *y;
    const float *sw;              /* rows, or NULL */
    double wsum;
    size_t k;                     /* outputs: 1, or nclasses for softmax */
    int loss;                     /* MBLIN_LOSS_* */
    const mb_dataset *valid;      /* may be NULL */
    const mb_fit_context *ctx;    /* may be NULL */
    const mb_host *host;
} mblin_problem;

enum { MBLIN_LOSS_SQUARED, MBLIN_LOSS_LOGISTIC, MBLIN_LOSS_SOFTMAX };

/* What a solver reports besides its status. */
typedef struct mblin_result {
    long n_iter;
    int converged;
    double loss;                  /* final mean data loss (training) */
} mblin_result;

/* {====== helpers (linear.c) ======} */

/* printf into err (MB_PLUGIN_ERRLEN bytes); returns code. */
int mblin_fail(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Log through the host (level 0 debug, 1 info, 2 warning). */
void mblin_log(const mb_host *host, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Progress and cancellation through the context (both NULL-safe). */
void mblin_progress(const mb_fit_context *ctx, double fraction, const char *msg, double train_loss,
                    double valid_loss);
int mblin_cancelled(const mb_fit_context *ctx);
/* Find the first non-finite feature value of X and describe it in err;
** returns MB_PLUGIN_EINVAL when one was found, MB_PLUGIN_OK otherwise. */
int mblin_find_nonfinite(const mb_matrix *X, size_t row0, size_t nrows, char *err);

/* {====== closed form and coordinate descent (lin_gram.c) ======} */

/* Squared loss with an L2 penalty in closed form:
**   minimise sum_i sw_i (y_i - b - x_i.w)^2 + l2 * ||w||^2
** (sklearn's Ridge; l2 = 0 is least squares), by a Cholesky
** factorisation of the weighted centred Gram matrix, falling back to an
** eigen-decomposition (minimum-norm solution) when it is singular or
** ill-conditioned. coef gets p values, *intercept b (0 without one). */
int mblin_ridge(const mblin_problem *pb, double l2, int fit_intercept, double *coef,
                double *intercept, mblin_result *res, char *err);

/* Squared loss with an elastic-net penalty by coordinate descent over the
** Gram matrix (the covariance updates of glmnet):
**   minimise 1/(2 W) sum_i sw_i (y_i - b - x_i.w)^2
**            + a1 * ||w||_1 + a2 / 2 * ||w||^2,   W = sum_i sw_i
** stopping like sklearn's enet_coordinate_descent_gram: when the largest
** coordinate change is below tol * max|w| the duality gap is checked
** against tol * sum_i sw_i (y_i - ybar)^2 / W. */
int mblin_cd(const mblin_problem *pb, double a1, double a2, int fit_intercept, long max_iter,
             double tol, double *coef, double *intercept, mblin_result *res, char *err);

/* {====== L-BFGS and OWL-QN (lin_lbfgs.c) ======} */

/* Minimise (1/W) sum_i sw_i loss_i + c2 / 2 * ||w||^2 + c1 * ||w||_1
** (intercepts not penalised) with L-BFGS (memory 10), or OWL-QN (Andrew
** and Gao, 2007) when c1 > 0. coef: k x p, intercept: k. Stops when the
** largest pseudo-gradient component (in standardised coordinates) is at
** most tol, or after max_iter iterations (reported, not an error). */
int mblin_lbfgs(const mblin_problem *pb, double c2, double c1, int fit_intercept, long max_iter,
                double tol, double *coef, double *intercept, mblin_result *res, char *err);

#endif
