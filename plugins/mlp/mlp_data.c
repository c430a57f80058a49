/*
** mlp_data.c: the MLP's view of the training data: the checks fit runs
** first (finite features, labels that are class indices, usable weights;
** the feature sums for standardize on the way) and the gathering of a
** mini-batch's rows into a chunk's buffers, standardised.
*/
#include "mlp.h"

#include <math.h>
#include <string.h>

/* Features, labels and weights usable; the message names the first bad
** value. With s1 (f doubles), also adds each feature's column sum in the
** same pass over the rows (in row order, as a separate pass would). */
int mbmlp_check_data(const mb_dataset *d, const char *what, size_t nclasses, double *s1, char *err)
{
    size_t n = d->X.rows, f = d->X.cols;
    if (d->X.ld < f || !d->X.x || !d->y)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "%s data: malformed matrix", what);
    for (size_t i = 0; i < n; i++) {
        const float *x = d->X.x + i * d->X.ld;
        if (s1)
            mbmlp_k_sum(s1, x, f);
        if (!mbmlp_k_finite(x, f))
            for (size_t j = 0; j < f; j++) /* a bad row: which value, for the message */
                if (!isfinite(x[j]))
                    return mbmlp_fail(err, MB_PLUGIN_EINVAL,
                                      "%s data: feature %zu of row %zu is %s; the MLP needs complete "
                                      "finite inputs (impute missing values first)",
                                      what, j, i, isnan(x[j]) ? "missing (NaN)" : "infinite");
        float y = d->y[i];
        if (!isfinite(y))
            return mbmlp_fail(err, MB_PLUGIN_EINVAL, "%s data: label of row %zu is not a finite number",
                              what, i);
        if (nclasses && (y < 0 || y >= (float)nclasses || y != floorf(y)))
            return mbmlp_fail(err, MB_PLUGIN_EINVAL, "%s data: label %g of row %zu is not a class index 0..%zu",
                              what, (double)y, i, nclasses - 1);
        if (d->w && (!isfinite(d->w[i]) || d->w[i] < 0))
            return mbmlp_fail(err, MB_PLUGIN_EINVAL, "%s data: weight of row %zu is negative or not finite",
                              what, i);
    }
    return MB_PLUGIN_OK;
}

/* Copy rows idx[0..rows) of d (or rows start.. when idx is NULL) into xb,
** standardising when mu; labels into yb (regression: standardised by ym,
** ys), weights into wb. Returns the sum of weights. */
double mbmlp_gather(const mb_dataset *d, const size_t *idx, size_t start, size_t rows, const float *mu,
                     const float *isd, int regression, double ym, double ys, float *xb, float *yb, float *wb)
{
    size_t f = d->X.cols;
    double sw = 0;
    for (size_t r = 0; r < rows; r++) {
        size_t i = idx ? idx[r] : start + r;
        const float *x = d->X.x + i * d->X.ld;
        float *o = xb + r * f;
        if (mu)
            mbmlp_k_standardize(o, x, mu, isd, f);
        else
            memcpy(o, x, f * sizeof *o);
        yb[r] = regression ? (float)(((double)d->y[i] - ym) / ys) : d->y[i];
        float wi = d->w ? d->w[i] : 1.0f;
        wb[r] = wi;
        sw += (double)wi;
    }
    return sw;
}
