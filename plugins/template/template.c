/*
** template.c: the moonbench plugin template. Copy this folder to start a
** plugin; docs/plugins.md is the guide that goes with it.
**
** It holds two small but real models:
**
**   knn       k-nearest neighbours for regression, binary and multiclass
**             classification. Parameters n_neighbors, weights, standardize.
**             Its saved state is the training data itself; it has no
**             portable form (no standard family describes a kNN), so a
**             bundle with a knn model is scored by loading this plugin.
**   baseline  the constant predictor (scikit-learn's DummyRegressor and
**             DummyClassifier): the mean or median of the target, or the
**             class priors. Its portable form is a linear model with all
**             coefficients zero, so it scores without the plugin.
**
** Building
**   in the moonbench tree:  make            (gives build/plugins/template.so)
**   out of the tree, against the installed header only:
**       cc -shared -fPIC -I<prefix>/include -o knn.so template.c -lm
**   or: make -C plugins/template PREFIX=/usr/local
**
** The rules every plugin follows (moonbench_plugin.h says them first):
**   - include only moonbench_plugin.h (plus libc; OpenBLAS if you need it);
**     never link against moonbench;
**   - never print, never exit or abort on bad input: return an
**     MB_PLUGIN_* status and write one sentence into err (the host prefixes
**     it with the model's name and the call, so do not repeat those);
**   - validate everything you are handed (data, saved state) even though
**     the host checks most of it first: saved state may come from a
**     damaged or hand-edited file.
**
** Missing values (NaN features) in knn: a coordinate where either the query
** or the training row is NaN (or infinite) is left out of their distance, and the sum of
** the remaining squared differences is scaled up by
** (number of features) / (number of coordinates used), like scikit-learn's
** nan_euclidean_distances, so rows with gaps stay comparable with complete
** rows. Two rows that share no present coordinate are infinitely far apart.
** Means and standard deviations for standardisation skip those values too.
*/
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>  /* vsnprintf, to format error messages; never to print */
#include <stdlib.h> /* qsort */
#include <string.h>

#include "moonbench_plugin.h"

/* {====== small helpers every plugin wants ======} */

/* Write an error sentence into the host's buffer and return the status, so
** a failing path reads `return fail(err, MB_PLUGIN_EINVAL, "...", ...)`.
** The format attribute lets the compiler check the arguments. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(char *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, MB_PLUGIN_ERRLEN, fmt, ap); /* always NUL-terminates */
    va_end(ap);
    return code;
}

/* a * b without overflow; 0 when it would overflow. Check sizes that come
** from data or from saved state before allocating them. */
static int mul_ok(size_t a, size_t b, size_t *out)
{
    if (b && a > SIZE_MAX / b)
        return 0;
    *out = a * b;
    return 1;
}

/* Allocate count elements of size bytes through the host's allocator (the
** host can then account for plugin memory and tests can make allocation N
** fail). NULL on overflow or exhaustion; never aborts. */
static void *alloc_array(const mb_host *host, size_t count, size_t size)
{
    size_t n;
    if (!mul_ok(count, size, &n))
        return NULL;
    return host->xmalloc(n ? n : 1);
}

/* Free through the host; NULL is fine. */
static void release(const mb_host *host, void *p)
{
    if (p)
        host->xfree(p);
}

/* A fit context built by a newer host may be larger than ours and one
** built by an older host smaller: read a member only when struct_size
** covers it. Every member of ABI 1 is always there, but a plugin that
** uses a member added in ABI 2 must test it like this to keep loading in
** ABI 1 hosts. */
#define CTX_HAS(ctx, member) \
    ((ctx) && (ctx)->struct_size >= offsetof(mb_fit_context, member) + sizeof((ctx)->member))

static int cancelled(const mb_fit_context *ctx)
{
    return CTX_HAS(ctx, cancel) && ctx->cancel && *ctx->cancel;
}

/* Progress: the fraction done, a short message, and the losses (NaN when
** there is none, as here: neither model has a training loss). */
static void progress(const mb_fit_context *ctx, double fraction, const char *msg)
{
    if (CTX_HAS(ctx, progress) && ctx->progress)
        ctx->progress(ctx->progress_ud, fraction, msg, (double)NAN, (double)NAN);
}

static const char *task_name(mb_task t)
{
    return t == MB_TASK_REGRESSION ? "regression"
           : t == MB_TASK_BINARY   ? "binary classification"
                                   : "multiclass classification";
}

/* Check a training set: shape, labels and weights. The host has checked
** the task against the model's tasks and that there are rows, but a
** plugin still guards its own loops. */
static int check_train(const mb_dataset *d, char *err)
{
    if (d->X.rows == 0 || d->X.cols == 0)
        return fail(err, MB_PLUGIN_EINVAL, "no training data (%zu rows, %zu features)", d->X.rows,
                    d->X.cols);
    if (!d->X.x || !d->y || d->X.ld < d->X.cols)
        return fail(err, MB_PLUGIN_EINVAL, "malformed training matrix");
    if (d->task != MB_TASK_REGRESSION && d->nclasses < 2)
        return fail(err, MB_PLUGIN_EINVAL, "classification needs 2 or more classes, got %zu",
                    d->nclasses);
    double wsum = 0;
    for (size_t i = 0; i < d->X.rows; i++) {
        float y = d->y[i];
        if (!isfinite(y))
            return fail(err, MB_PLUGIN_EINVAL, "the label of row %zu is not a finite number", i);
        if (d->task != MB_TASK_REGRESSION && (y < 0 || y != floorf(y) || (double)y >= (double)d->nclasses))
            return fail(err, MB_PLUGIN_EINVAL, "the label of row %zu (%g) is not a class index 0..%zu",
                        i, (double)y, d->nclasses - 1);
        if (d->w) {
            if (!(d->w[i] >= 0) || !isfinite(d->w[i]))
                return fail(err, MB_PLUGIN_EINVAL, "the weight of row %zu (%g) is not a finite number >= 0",
                            i, (double)d->w[i]);
            wsum += (double)d->w[i];
        }
    }
    if (d->w && wsum <= 0)
        return fail(err, MB_PLUGIN_EINVAL, "every sample weight is zero");
    return MB_PLUGIN_OK;
}

/* Check a prediction matrix against the fitted feature count. The host
** refuses a wrong count before calling us; this guards direct callers. */
static int check_X(const mb_matrix *X, size_t nfeatures, char *err)
{
    if (X->cols != nfeatures)
        return fail(err, MB_PLUGIN_EINVAL, "fitted on %zu features, this data has %zu", nfeatures, X->cols);
    if (X->rows && (!X->x || X->ld < X->cols))
        return fail(err, MB_PLUGIN_EINVAL, "malformed matrix");
    return MB_PLUGIN_OK;
}

/* Read one saved array of exactly count elements, with a message naming
** the array when it is missing or has the wrong size. */
static int read_array(const mb_state_reader *r, const char *name, mb_dtype type, void *out, size_t count,
                      char *err)
{
    mb_dtype stored;
    size_t n;
    if (r->size(r->ud, name, &stored, &n) != MB_PLUGIN_OK)
        return fail(err, MB_PLUGIN_EFORMAT, "saved state has no array '%s'", name);
    if (n != count)
        return fail(err, MB_PLUGIN_EFORMAT, "saved array '%s' has %zu values, expected %zu", name, n, count);
    if (r->get(r->ud, name, type, out, count) != MB_PLUGIN_OK)
        return fail(err, MB_PLUGIN_EFORMAT, "cannot read saved array '%s'", name);
    return MB_PLUGIN_OK;
}

/* Save one array, turning the writer's status into a message. */
static int write_array(const mb_state_writer *w, const char *name, mb_dtype type, const void *data,
                       size_t count, char *err)
{
    int rc = w->put(w->ud, name, type, data, count);
    if (rc != MB_PLUGIN_OK)
        return fail(err, rc, "cannot save array '%s' (%zu values)", name, count);
    return MB_PLUGIN_OK;
}

/* The format version of the saved state. Bump it when the arrays change,
** and keep load() able to read the older versions you have shipped. */
#define STATE_FORMAT 1

/* {====== knn: k-nearest neighbours ======} */

/* The parameters, in the order of knn_params[]: create() receives one
** mb_param_value per entry, in this order, already validated. */
enum { KNN_N_NEIGHBORS, KNN_WEIGHTS, KNN_STANDARDIZE };
enum { KNN_UNIFORM, KNN_DISTANCE }; /* indices into knn_weight_names */

static const char *const knn_weight_names[] = {"uniform", "distance", NULL};

/* What users type: `moonbench fit DATA -m knn -p n_neighbors=7 -p weights=distance`.
** The host turns this table into validation, help text and the TUI form;
** `def` is written as the user would type it. */
static const mb_param_spec knn_params[] = {
    {.name = "n_neighbors",
     .type = MB_PARAM_INT,
     .help = "number of neighbours that vote (fewer when the training set is smaller)",
     .def = "5",
     .min = 1,
     .max = 1000},
    {.name = "weights",
     .type = MB_PARAM_CHOICE,
     .help = "uniform: every neighbour counts the same; distance: by 1 / distance",
     .def = "uniform",
     .choices = knn_weight_names},
    {.name = "standardize",
     .type = MB_PARAM_BOOL,
     .help = "scale each feature to mean 0, standard deviation 1 before measuring distances",
     .def = "true"},
};

/* The fitted state of a knn model, kept apart from the parameters so that
** fit() and load() can build a new one aside and swap it in whole.
** n == 0 means not fitted. */
typedef struct knn_data {
    mb_task task;
    size_t nclasses;    /* 0 for regression */
    size_t n, p;        /* training rows, features */
    float *x;           /* n x p, row-major, already scaled: (x - mean) / std */
    float *y;           /* n labels */
    float *w;           /* n sample weights, or NULL when all 1 */
    double *mean, *std; /* p: the scaling (0 and 1 when standardize is off) */
} knn_data;

/* One knn model: the parameters, then the fitted state. */
typedef struct knn {
    const mb_host *host;
    size_t k;           /* n_neighbors */
    int weights;        /* KNN_UNIFORM or KNN_DISTANCE */
    int standardize;
    knn_data d;
    double info[2];     /* fit_info values: training rows, neighbours used */
} knn;

/* Free a fitted state, leaving it empty (not fitted). */
static void knn_data_free(const mb_host *host, knn_data *d)
{
    release(host, d->x);
    release(host, d->y);
    release(host, d->w);
    release(host, d->mean);
    release(host, d->std);
    memset(d, 0, sizeof *d);
}

static int knn_create(const mb_param_value *values, const mb_host *host, void **model, char *err)
{
    knn *m = host->xmalloc(sizeof *m);
    if (!m)
        return fail(err, MB_PLUGIN_ENOMEM, "no memory for the model");
    memset(m, 0, sizeof *m);
    m->host = host;
    m->k = (size_t)values[KNN_N_NEIGHBORS].i; /* the host checked [1, 1000] */
    m->weights = (int)values[KNN_WEIGHTS].i;  /* index into knn_weight_names */
    m->standardize = values[KNN_STANDARDIZE].i != 0;
    *model = m;
    return MB_PLUGIN_OK;
}

static void knn_destroy(void *model)
{
    knn *m = model;
    knn_data_free(m->host, &m->d);
    m->host->xfree(m);
}

/* Mean and standard deviation (population, ddof 0, as scikit-learn's
** StandardScaler) of column j, skipping NaN and infinities. A column that is constant or
** entirely missing gets std 1, so scaling never divides by zero. */
static void column_scale(const mb_matrix *X, size_t j, double *mean, double *std)
{
    double s = 0;
    size_t cnt = 0;
    for (size_t i = 0; i < X->rows; i++) {
        float v = X->x[i * X->ld + j];
        if (isfinite(v)) {
            s += (double)v;
            cnt++;
        }
    }
    *mean = cnt ? s / (double)cnt : 0;
    double ss = 0;
    for (size_t i = 0; i < X->rows; i++) {
        float v = X->x[i * X->ld + j];
        if (isfinite(v))
            ss += ((double)v - *mean) * ((double)v - *mean);
    }
    double sd = cnt ? sqrt(ss / (double)cnt) : 0;
    *std = sd > 0 && isfinite(sd) ? sd : 1;
}

/* fit is all-or-nothing: the new state is built aside and swapped in at
** the end, so a failed or cancelled refit leaves the previous fit intact. */
static int knn_fit(void *model, const mb_dataset *train, const mb_dataset *valid, const mb_fit_context *ctx,
                   char *err)
{
    knn *m = model;
    (void)valid; /* a kNN has nothing to stop early on */
    int rc = check_train(train, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    size_t n = train->X.rows, p = train->X.cols, np;
    if (!mul_ok(n, p, &np))
        return fail(err, MB_PLUGIN_ENOMEM, "%zu x %zu is too large", n, p);
    knn_data next = {0};
    next.x = alloc_array(m->host, np, sizeof *next.x);
    next.y = alloc_array(m->host, n, sizeof *next.y);
    next.w = train->w ? alloc_array(m->host, n, sizeof *next.w) : NULL;
    next.mean = alloc_array(m->host, p, sizeof *next.mean);
    next.std = alloc_array(m->host, p, sizeof *next.std);
    if (!next.x || !next.y || (train->w && !next.w) || !next.mean || !next.std) {
        rc = fail(err, MB_PLUGIN_ENOMEM, "no memory to keep %zu training rows of %zu features", n, p);
        goto exit;
    }
    for (size_t j = 0; j < p; j++) {
        /* Long loops check the cancel flag and report progress. A kNN fit
        ** is quick, but this is where a real model would do so. */
        if (cancelled(ctx)) {
            rc = fail(err, MB_PLUGIN_ECANCELLED, "cancelled");
            goto exit;
        }
        if (m->standardize) {
            column_scale(&train->X, j, &next.mean[j], &next.std[j]);
        } else {
            next.mean[j] = 0;
            next.std[j] = 1;
        }
        progress(ctx, (double)(j + 1) / (double)p, "scaling features");
    }
    for (size_t i = 0; i < n; i++) {
        const float *row = train->X.x + i * train->X.ld;
        for (size_t j = 0; j < p; j++) /* NaN stays NaN */
            next.x[i * p + j] = (float)(((double)row[j] - next.mean[j]) / next.std[j]);
    }
    memcpy(next.y, train->y, n * sizeof *next.y);
    if (next.w)
        memcpy(next.w, train->w, n * sizeof *next.w);
    next.task = train->task;
    next.nclasses = train->task == MB_TASK_REGRESSION ? 0 : train->nclasses;
    next.n = n;
    next.p = p;
    /* success: replace the old state */
    knn_data_free(m->host, &m->d);
    m->d = next;
    return MB_PLUGIN_OK;
exit:
    knn_data_free(m->host, &next);
    return rc;
}

/* Distance between a scaled query q and a scaled training row t, leaving
** out coordinates missing in either (see the NaN note at the top). */
static double knn_distance(const float *q, const float *t, size_t p)
{
    double s = 0;
    size_t used = 0;
    for (size_t j = 0; j < p; j++) {
        if (!isfinite(q[j]) || !isfinite(t[j])) /* NaN, or an infinity we cannot measure */
            continue;
        double d = (double)q[j] - (double)t[j];
        s += d * d;
        used++;
    }
    if (used == 0)
        return (double)INFINITY;
    return sqrt(s * (double)p / (double)used);
}

/* The k nearest training rows of q: idx[0..k) and dist[0..k), nearest
** first. An insertion into a sorted list of k: simple, and fast enough
** since most rows are farther than the current k-th and cost one compare.
** Ties keep the earlier training row, so results are deterministic. */
static void knn_nearest(const knn *m, const float *q, size_t k, size_t *idx, double *dist)
{
    size_t have = 0;
    for (size_t i = 0; i < m->d.n; i++) {
        double d = knn_distance(q, m->d.x + i * m->d.p, m->d.p);
        if (have == k && !(d < dist[k - 1]))
            continue;
        size_t pos = have < k ? have++ : k - 1;
        while (pos > 0 && d < dist[pos - 1]) {
            dist[pos] = dist[pos - 1];
            idx[pos] = idx[pos - 1];
            pos--;
        }
        dist[pos] = d;
        idx[pos] = i;
    }
}

/* The vote weight of each of the k neighbours: the sample weight, divided
** by the distance when weights=distance. Neighbours at distance 0 (exact
** matches) then take all the weight, as in scikit-learn. When every weight
** is 0 (all neighbours infinitely far, or zero sample weights), each
** neighbour counts once, so there is always an answer. */
static void knn_vote_weights(const knn *m, const size_t *idx, const double *dist, size_t k, double *wt)
{
    int exact = 0;
    if (m->weights == KNN_DISTANCE)
        for (size_t r = 0; r < k; r++)
            exact |= dist[r] == 0;
    double total = 0;
    for (size_t r = 0; r < k; r++) {
        double sw = m->d.w ? (double)m->d.w[idx[r]] : 1.0;
        if (m->weights == KNN_UNIFORM)
            wt[r] = sw;
        else if (exact)
            wt[r] = dist[r] == 0 ? sw : 0;
        else
            wt[r] = isinf(dist[r]) ? 0 : sw / dist[r];
        total += wt[r];
    }
    if (!(total > 0))
        for (size_t r = 0; r < k; r++)
            wt[r] = 1;
}

/* Score X: pred (rows values) and/or proba (rows x nclasses), either may
** be NULL. One allocation of scratch space per call; nothing is kept, so
** concurrent predictions on one fitted model are safe. */
static int knn_score(knn *m, const mb_matrix *X, float *pred, float *proba, char *err)
{
    if (m->d.n == 0)
        return fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    int rc = check_X(X, m->d.p, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    size_t k = m->k < m->d.n ? m->k : m->d.n; /* fewer rows than neighbours: use them all */
    size_t nc = m->d.nclasses;
    float *q = alloc_array(m->host, m->d.p, sizeof *q);
    size_t *idx = alloc_array(m->host, k, sizeof *idx);
    double *dist = alloc_array(m->host, k, sizeof *dist);
    double *wt = alloc_array(m->host, k, sizeof *wt);
    double *votes = alloc_array(m->host, nc ? nc : 1, sizeof *votes);
    if (!q || !idx || !dist || !wt || !votes) {
        rc = fail(err, MB_PLUGIN_ENOMEM, "no memory to predict");
        goto exit;
    }
    for (size_t i = 0; i < X->rows; i++) {
        const float *row = X->x + i * X->ld;
        for (size_t j = 0; j < m->d.p; j++)
            q[j] = (float)(((double)row[j] - m->d.mean[j]) / m->d.std[j]);
        knn_nearest(m, q, k, idx, dist);
        knn_vote_weights(m, idx, dist, k, wt);
        double total = 0;
        for (size_t r = 0; r < k; r++)
            total += wt[r];
        if (m->d.task == MB_TASK_REGRESSION) {
            double s = 0;
            for (size_t r = 0; r < k; r++)
                s += wt[r] * (double)m->d.y[idx[r]];
            if (pred)
                pred[i] = (float)(s / total);
            continue;
        }
        memset(votes, 0, nc * sizeof *votes);
        for (size_t r = 0; r < k; r++)
            votes[(size_t)m->d.y[idx[r]]] += wt[r];
        size_t best = 0;
        for (size_t c = 1; c < nc; c++) /* ties go to the lower class index */
            if (votes[c] > votes[best])
                best = c;
        if (pred)
            pred[i] = (float)best;
        if (proba)
            for (size_t c = 0; c < nc; c++)
                proba[i * nc + c] = (float)(votes[c] / total);
    }
exit:
    release(m->host, q);
    release(m->host, idx);
    release(m->host, dist);
    release(m->host, wt);
    release(m->host, votes);
    return rc;
}

static int knn_predict(void *model, const mb_matrix *X, float *out, char *err)
{
    return knn_score(model, X, out, NULL, err);
}

static int knn_predict_proba(void *model, const mb_matrix *X, float *out, char *err)
{
    knn *m = model;
    if (m->d.n && m->d.task == MB_TASK_REGRESSION)
        return fail(err, MB_PLUGIN_EINVAL, "a regression model has no class probabilities");
    return knn_score(m, X, NULL, out, err);
}

/* The saved state, as named typed arrays (the host writes them into the
** model bundle's /model/state group):
**   format  i32[1]  STATE_FORMAT
**   dims    i64[4]  n, p, task, nclasses
**   x       f32[n*p] the scaled training features (row-major)
**   y       f32[n]   labels
**   w       f32[n]   sample weights (only when fitted with weights)
**   mean    f64[p], std f64[p]  the scaling
** The parameters are not saved: the host saves them and calls load() on a
** model created with them. */
static int knn_save(void *model, const mb_state_writer *w, char *err)
{
    knn *m = model;
    if (m->d.n == 0)
        return fail(err, MB_PLUGIN_EINVAL, "the model is not fitted; nothing to save");
    const int32_t format = STATE_FORMAT;
    const int64_t dims[4] = {(int64_t)m->d.n, (int64_t)m->d.p, (int64_t)m->d.task, (int64_t)m->d.nclasses};
    int rc;
    if ((rc = write_array(w, "format", MB_DT_I32, &format, 1, err)) ||
        (rc = write_array(w, "dims", MB_DT_I64, dims, 4, err)) ||
        (rc = write_array(w, "x", MB_DT_F32, m->d.x, m->d.n * m->d.p, err)) ||
        (rc = write_array(w, "y", MB_DT_F32, m->d.y, m->d.n, err)) ||
        (m->d.w && (rc = write_array(w, "w", MB_DT_F32, m->d.w, m->d.n, err))) ||
        (rc = write_array(w, "mean", MB_DT_F64, m->d.mean, m->d.p, err)) ||
        (rc = write_array(w, "std", MB_DT_F64, m->d.std, m->d.p, err)))
        return rc;
    return MB_PLUGIN_OK;
}

/* load() trusts nothing: sizes, task, labels and scales are checked, since
** a bundle may be damaged or edited. Like fit, it is all-or-nothing. */
static int knn_load(void *model, const mb_state_reader *r, char *err)
{
    knn *m = model;
    int32_t format;
    int64_t dims[4];
    int rc;
    if ((rc = read_array(r, "format", MB_DT_I32, &format, 1, err)))
        return rc;
    if (format != STATE_FORMAT)
        return fail(err, MB_PLUGIN_EFORMAT, "saved state format %d; this plugin reads format %d",
                    (int)format, STATE_FORMAT);
    if ((rc = read_array(r, "dims", MB_DT_I64, dims, 4, err)))
        return rc;
    knn_data next = {0};
    size_t np;
    if (dims[0] < 1 || dims[1] < 1 || dims[0] > INT64_MAX / 2 || dims[1] > INT32_MAX ||
        !mul_ok((size_t)dims[0], (size_t)dims[1], &np) ||
        (dims[2] != MB_TASK_REGRESSION && dims[2] != MB_TASK_BINARY && dims[2] != MB_TASK_MULTICLASS) ||
        (dims[2] == MB_TASK_REGRESSION ? dims[3] != 0 : (dims[3] < 2 || dims[3] > INT32_MAX)))
        return fail(err, MB_PLUGIN_EFORMAT, "saved dimensions are inconsistent");
    next.n = (size_t)dims[0];
    next.p = (size_t)dims[1];
    next.task = (mb_task)dims[2];
    next.nclasses = (size_t)dims[3];
    mb_dtype wtype;
    size_t wcount;
    int has_w = r->size(r->ud, "w", &wtype, &wcount) == MB_PLUGIN_OK; /* optional array */
    next.x = alloc_array(m->host, np, sizeof *next.x);
    next.y = alloc_array(m->host, next.n, sizeof *next.y);
    next.w = has_w ? alloc_array(m->host, next.n, sizeof *next.w) : NULL;
    next.mean = alloc_array(m->host, next.p, sizeof *next.mean);
    next.std = alloc_array(m->host, next.p, sizeof *next.std);
    if (!next.x || !next.y || (has_w && !next.w) || !next.mean || !next.std) {
        rc = fail(err, MB_PLUGIN_ENOMEM, "no memory to load %zu rows of %zu features", next.n, next.p);
        goto exit;
    }
    if ((rc = read_array(r, "x", MB_DT_F32, next.x, np, err)) ||
        (rc = read_array(r, "y", MB_DT_F32, next.y, next.n, err)) ||
        (has_w && (rc = read_array(r, "w", MB_DT_F32, next.w, next.n, err))) ||
        (rc = read_array(r, "mean", MB_DT_F64, next.mean, next.p, err)) ||
        (rc = read_array(r, "std", MB_DT_F64, next.std, next.p, err)))
        goto exit;
    for (size_t i = 0; i < next.n; i++) {
        float y = next.y[i];
        if (!isfinite(y) ||
            (next.nclasses && (y < 0 || y != floorf(y) || (double)y >= (double)next.nclasses)) ||
            (next.w && !(next.w[i] >= 0 && isfinite(next.w[i])))) {
            rc = fail(err, MB_PLUGIN_EFORMAT, "saved label or weight of row %zu is invalid", i);
            goto exit;
        }
    }
    for (size_t j = 0; j < next.p; j++)
        if (!isfinite(next.mean[j]) || !(next.std[j] > 0) || !isfinite(next.std[j])) {
            rc = fail(err, MB_PLUGIN_EFORMAT, "saved scaling of feature %zu is invalid", j);
            goto exit;
        }
    knn_data_free(m->host, &m->d);
    m->d = next;
    return MB_PLUGIN_OK;
exit:
    knn_data_free(m->host, &next);
    return rc;
}

/* fit_info: what the last fit (or load) found, as named numbers. The
** arrays live in the model (the names are static), so nothing is
** allocated and they stay valid until the next fit. Optional: NULL in the
** table means "nothing to report". */
static const char *const knn_info_names[] = {"n_train", "n_neighbors"};

static int knn_fit_info(void *model, mb_fit_info *out, char *err)
{
    (void)err;
    knn *m = model;
    m->info[0] = (double)m->d.n;
    m->info[1] = (double)(m->k < m->d.n ? m->k : m->d.n); /* fewer when the data is smaller */
    out->n = m->d.n ? 2 : 0;
    out->names = knn_info_names;
    out->values = m->info;
    return MB_PLUGIN_OK;
}

/* dims: the loaded model's shape, which the host checks against the
** bundle's schema before scoring (a kNN has no portable form, so scoring
** always goes through this plugin). */
static int knn_dims(void *model, size_t *nfeatures, size_t *nclasses, char *err)
{
    (void)err;
    const knn *m = model;
    *nfeatures = m->d.p;
    *nclasses = m->d.nclasses;
    return MB_PLUGIN_OK;
}

static const mb_model_type knn_type = {
    .struct_size = sizeof(mb_model_type), /* always sizeof: the host reads what it covers */
    .name = "knn",
    .summary = "k-nearest neighbours (brute force; NaN coordinates left out of distances)",
    .tasks = MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS,
    .params = knn_params,
    .nparams = sizeof knn_params / sizeof knn_params[0],
    .create = knn_create,
    .fit = knn_fit,
    .predict = knn_predict,
    .predict_proba = knn_predict_proba,
    .save = knn_save,
    .load = knn_load,
    /* No portable form: a kNN is its training data, which none of the
    ** standard families (linear, trees, MLP) describes. NULL tells the
    ** host to keep only our state, and scorers load this plugin. */
    .portable = NULL,
    .importance = NULL, /* optional: a kNN has no per-feature importance */
    .destroy = knn_destroy,
    .fit_info = knn_fit_info, /* appended to ABI 1: older hosts never read it */
    .dims = knn_dims,         /* appended to ABI 1 as well */
};

/* {====== baseline: the constant predictor ======} */

/* One parameter. "auto" is mean for regression and prior for
** classification; the others must match the task (fit says so if not). */
enum { BASE_AUTO, BASE_MEAN, BASE_MEDIAN, BASE_PRIOR, BASE_MOST_FREQUENT };
static const char *const base_strategy_names[] = {"auto", "mean", "median", "prior", "most_frequent", NULL};

static const mb_param_spec base_params[] = {
    {.name = "strategy",
     .type = MB_PARAM_CHOICE,
     .help = "regression: mean or median; classification: prior (class frequencies) or "
             "most_frequent (probability 1 for the most frequent class); auto: mean or prior",
     .def = "auto",
     .choices = base_strategy_names},
};

/* log(0) in the portable form: finite, so exporters never meet infinities,
** and exp(-1000) is exactly 0 in double precision, so the link gives back
** probabilities of exactly 0 and 1. */
#define LOG_ZERO (-1000.0)

typedef struct baseline {
    const mb_host *host;
    int strategy;       /* as chosen; resolved against the task in fit */
    /* fitted state (fitted == 0: not fitted) */
    int fitted;
    mb_task task;
    size_t nclasses, p;
    double *value;      /* regression: [1] the constant; else nclasses probabilities */
    /* the portable form's arrays, kept while the model lives */
    double *coef;       /* noutputs x p zeros */
    double *intercept;  /* noutputs */
} baseline;

static void baseline_clear(baseline *m)
{
    release(m->host, m->value);
    release(m->host, m->coef);
    release(m->host, m->intercept);
    m->value = m->coef = m->intercept = NULL;
    m->fitted = 0;
}

static int baseline_create(const mb_param_value *values, const mb_host *host, void **model, char *err)
{
    baseline *m = host->xmalloc(sizeof *m);
    if (!m)
        return fail(err, MB_PLUGIN_ENOMEM, "no memory for the model");
    memset(m, 0, sizeof *m);
    m->host = host;
    m->strategy = (int)values[0].i;
    *model = m;
    return MB_PLUGIN_OK;
}

static void baseline_destroy(void *model)
{
    baseline *m = model;
    baseline_clear(m);
    m->host->xfree(m);
}

static size_t baseline_noutputs(const baseline *m)
{
    return m->task == MB_TASK_MULTICLASS ? m->nclasses : 1;
}

static double safe_log(double v) { return v > 0 ? log(v) : LOG_ZERO; }

/* Build the portable form's arrays from value[]: the outputs before the
** link are the intercepts, since every coefficient is zero. Regression:
** the constant, identity link. Binary: log-odds of class 1, logistic.
** Multiclass: log-probabilities, softmax (which gives them back). */
static int baseline_build_form(baseline *m)
{
    size_t k = baseline_noutputs(m);
    m->coef = alloc_array(m->host, k * m->p, sizeof *m->coef);
    m->intercept = alloc_array(m->host, k, sizeof *m->intercept);
    if (!m->coef || !m->intercept)
        return MB_PLUGIN_ENOMEM;
    memset(m->coef, 0, k * m->p * sizeof *m->coef);
    if (m->task == MB_TASK_REGRESSION)
        m->intercept[0] = m->value[0];
    else if (m->task == MB_TASK_BINARY)
        m->intercept[0] = safe_log(m->value[1]) - safe_log(m->value[0]);
    else
        for (size_t c = 0; c < k; c++)
            m->intercept[c] = safe_log(m->value[c]);
    return MB_PLUGIN_OK;
}

static int cmp_pair(const void *a, const void *b)
{
    double x = ((const double *)a)[0], y = ((const double *)b)[0];
    return (x > y) - (x < y);
}

/* The median of y (numpy's: the mean of the two middle values when n is
** even), or with weights the weighted median (the first value whose
** cumulative weight reaches half the total). pairs: 2n scratch doubles. */
static double median(const mb_dataset *d, double *pairs)
{
    size_t n = d->X.rows;
    for (size_t i = 0; i < n; i++) {
        pairs[2 * i] = (double)d->y[i];
        pairs[2 * i + 1] = d->w ? (double)d->w[i] : 1.0;
    }
    qsort(pairs, n, 2 * sizeof *pairs, cmp_pair);
    if (!d->w)
        return n % 2 ? pairs[2 * (n / 2)] : (pairs[2 * (n / 2 - 1)] + pairs[2 * (n / 2)]) / 2;
    double total = 0, cum = 0;
    for (size_t i = 0; i < n; i++)
        total += pairs[2 * i + 1];
    for (size_t i = 0; i < n; i++) {
        cum += pairs[2 * i + 1];
        if (cum >= total / 2)
            return pairs[2 * i];
    }
    return pairs[2 * (n - 1)];
}

static int baseline_fit(void *model, const mb_dataset *train, const mb_dataset *valid,
                        const mb_fit_context *ctx, char *err)
{
    baseline *m = model;
    (void)valid;
    int rc = check_train(train, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    int regression = train->task == MB_TASK_REGRESSION;
    int s = m->strategy == BASE_AUTO ? (regression ? BASE_MEAN : BASE_PRIOR) : m->strategy;
    if (regression != (s == BASE_MEAN || s == BASE_MEDIAN))
        return fail(err, MB_PLUGIN_EINVAL, "strategy '%s' does not apply to %s; use %s",
                    base_strategy_names[s], task_name(train->task),
                    regression ? "mean or median" : "prior or most_frequent");
    if (cancelled(ctx))
        return fail(err, MB_PLUGIN_ECANCELLED, "cancelled");
    size_t n = train->X.rows, nc = regression ? 1 : train->nclasses;
    baseline next = {.host = m->host, .strategy = m->strategy};
    double *pairs = NULL;
    next.value = alloc_array(m->host, nc, sizeof *next.value);
    if (!next.value) {
        rc = fail(err, MB_PLUGIN_ENOMEM, "no memory");
        goto exit;
    }
    if (s == BASE_MEAN) {
        double sy = 0, sw = 0;
        for (size_t i = 0; i < n; i++) {
            double w = train->w ? (double)train->w[i] : 1.0;
            sy += w * (double)train->y[i];
            sw += w;
        }
        next.value[0] = sy / sw;
    } else if (s == BASE_MEDIAN) {
        pairs = alloc_array(m->host, 2 * n, sizeof *pairs);
        if (!pairs) {
            rc = fail(err, MB_PLUGIN_ENOMEM, "no memory to sort %zu labels", n);
            goto exit;
        }
        next.value[0] = median(train, pairs);
    } else {
        double sw = 0;
        memset(next.value, 0, nc * sizeof *next.value);
        for (size_t i = 0; i < n; i++) {
            double w = train->w ? (double)train->w[i] : 1.0;
            next.value[(size_t)train->y[i]] += w;
            sw += w;
        }
        size_t best = 0;
        for (size_t c = 0; c < nc; c++) {
            next.value[c] /= sw;
            if (next.value[c] > next.value[best])
                best = c;
        }
        if (s == BASE_MOST_FREQUENT)
            for (size_t c = 0; c < nc; c++)
                next.value[c] = c == best ? 1.0 : 0.0;
    }
    next.task = train->task;
    next.nclasses = regression ? 0 : nc;
    next.p = train->X.cols;
    if (baseline_build_form(&next) != MB_PLUGIN_OK) {
        rc = fail(err, MB_PLUGIN_ENOMEM, "no memory");
        goto exit;
    }
    next.fitted = 1;
    progress(ctx, 1.0, "done");
    baseline_clear(m);
    *m = next;
    release(m->host, pairs);
    return MB_PLUGIN_OK;
exit:
    release(m->host, pairs);
    baseline_clear(&next);
    return rc;
}

/* The class with the highest probability (the lowest index on ties). */
static size_t baseline_class(const baseline *m)
{
    size_t best = 0;
    for (size_t c = 1; c < m->nclasses; c++)
        if (m->value[c] > m->value[best])
            best = c;
    return best;
}

static int baseline_predict(void *model, const mb_matrix *X, float *out, char *err)
{
    baseline *m = model;
    if (!m->fitted)
        return fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    int rc = check_X(X, m->p, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    size_t c = m->task == MB_TASK_REGRESSION ? 0 : baseline_class(m);
    float v = m->task == MB_TASK_REGRESSION ? (float)m->value[0] : (float)c;
    for (size_t i = 0; i < X->rows; i++)
        out[i] = v;
    return MB_PLUGIN_OK;
}

static int baseline_predict_proba(void *model, const mb_matrix *X, float *out, char *err)
{
    baseline *m = model;
    if (!m->fitted)
        return fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    if (m->task == MB_TASK_REGRESSION)
        return fail(err, MB_PLUGIN_EINVAL, "a regression model has no class probabilities");
    int rc = check_X(X, m->p, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    for (size_t i = 0; i < X->rows; i++)
        for (size_t c = 0; c < m->nclasses; c++)
            out[i * m->nclasses + c] = (float)m->value[c];
    return MB_PLUGIN_OK;
}

/* State: format i32[1], dims i64[3] (task, nclasses, p), value f64[1 or
** nclasses]. */
static int baseline_save(void *model, const mb_state_writer *w, char *err)
{
    baseline *m = model;
    if (!m->fitted)
        return fail(err, MB_PLUGIN_EINVAL, "the model is not fitted; nothing to save");
    const int32_t format = STATE_FORMAT;
    const int64_t dims[3] = {(int64_t)m->task, (int64_t)m->nclasses, (int64_t)m->p};
    int rc;
    if ((rc = write_array(w, "format", MB_DT_I32, &format, 1, err)) ||
        (rc = write_array(w, "dims", MB_DT_I64, dims, 3, err)) ||
        (rc = write_array(w, "value", MB_DT_F64, m->value, m->nclasses ? m->nclasses : 1, err)))
        return rc;
    return MB_PLUGIN_OK;
}

static int baseline_load(void *model, const mb_state_reader *r, char *err)
{
    baseline *m = model;
    int32_t format;
    int64_t dims[3];
    int rc;
    if ((rc = read_array(r, "format", MB_DT_I32, &format, 1, err)))
        return rc;
    if (format != STATE_FORMAT)
        return fail(err, MB_PLUGIN_EFORMAT, "saved state format %d; this plugin reads format %d",
                    (int)format, STATE_FORMAT);
    if ((rc = read_array(r, "dims", MB_DT_I64, dims, 3, err)))
        return rc;
    if ((dims[0] != MB_TASK_REGRESSION && dims[0] != MB_TASK_BINARY && dims[0] != MB_TASK_MULTICLASS) ||
        (dims[0] == MB_TASK_REGRESSION ? dims[1] != 0 : (dims[1] < 2 || dims[1] > INT32_MAX)) ||
        (dims[0] == MB_TASK_BINARY && dims[1] != 2) || dims[2] < 1 || dims[2] > INT32_MAX)
        return fail(err, MB_PLUGIN_EFORMAT, "saved dimensions are inconsistent");
    baseline next = {.host = m->host, .strategy = m->strategy};
    next.task = (mb_task)dims[0];
    next.nclasses = (size_t)dims[1];
    next.p = (size_t)dims[2];
    size_t nv = next.nclasses ? next.nclasses : 1;
    next.value = alloc_array(m->host, nv, sizeof *next.value);
    if (!next.value) {
        rc = fail(err, MB_PLUGIN_ENOMEM, "no memory");
        goto exit;
    }
    if ((rc = read_array(r, "value", MB_DT_F64, next.value, nv, err)))
        goto exit;
    for (size_t c = 0; c < nv; c++)
        if (!isfinite(next.value[c]) || (next.nclasses && (next.value[c] < 0 || next.value[c] > 1))) {
            rc = fail(err, MB_PLUGIN_EFORMAT, "saved value %zu is invalid", c);
            goto exit;
        }
    if (baseline_build_form(&next) != MB_PLUGIN_OK) {
        rc = fail(err, MB_PLUGIN_ENOMEM, "no memory");
        goto exit;
    }
    next.fitted = 1;
    baseline_clear(m);
    *m = next;
    return MB_PLUGIN_OK;
exit:
    baseline_clear(&next);
    return rc;
}

/* The portable form: out = link(intercept + 0 * x). Its arrays belong to
** the model and stay valid until it is refit or destroyed, as the ABI
** requires. Note that the linear form has no rule for missing values: a
** scorer computing 0 * NaN gets NaN, where predict() ignores the features. */
static int baseline_portable(void *model, mb_portable *out, char *err)
{
    baseline *m = model;
    if (!m->fitted)
        return fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    memset(out, 0, sizeof *out);
    out->kind = MB_FORM_LINEAR;
    out->u.linear.nfeatures = m->p;
    out->u.linear.noutputs = baseline_noutputs(m);
    out->u.linear.coef = m->coef;
    out->u.linear.intercept = m->intercept;
    out->u.linear.link = m->task == MB_TASK_REGRESSION ? MB_LINK_IDENTITY
                         : m->task == MB_TASK_BINARY   ? MB_LINK_LOGISTIC
                                                       : MB_LINK_SOFTMAX;
    return MB_PLUGIN_OK;
}

/* Importance: the baseline uses no feature, so every importance is 0. */
static int baseline_importance(void *model, int kind, double *out, char *err)
{
    baseline *m = model;
    if (!m->fitted)
        return fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    if (kind != 0 && kind != 1)
        return fail(err, MB_PLUGIN_EINVAL, "unknown importance kind %d", kind);
    for (size_t j = 0; j < m->p; j++)
        out[j] = 0;
    return MB_PLUGIN_OK;
}

static const mb_model_type baseline_type = {
    .struct_size = sizeof(mb_model_type),
    .name = "baseline",
    .summary = "constant predictor: mean or median, class priors or the most frequent class",
    .tasks = MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS,
    .params = base_params,
    .nparams = sizeof base_params / sizeof base_params[0],
    .create = baseline_create,
    .fit = baseline_fit,
    .predict = baseline_predict,
    .predict_proba = baseline_predict_proba,
    .save = baseline_save,
    .load = baseline_load,
    .portable = baseline_portable,
    .importance = baseline_importance,
    .destroy = baseline_destroy,
};

/* {====== the entry point ======} */

static const mb_model_type *const models[] = {&knn_type, &baseline_type};

static const mb_plugin plugin = {
    .abi = MB_PLUGIN_ABI, /* the ABI this file was compiled against */
    .name = "template",   /* unique among loaded plugins; "template/knn" names a model */
    .version = "1.0.0",
    .summary = "the plugin authors' example: k-nearest neighbours and a constant baseline",
    .nmodels = sizeof models / sizeof models[0],
    .models = models,
};

/* Export the entry point even when built with -fvisibility=hidden. */
#if defined(__GNUC__)
#define TEMPLATE_EXPORT __attribute__((visibility("default")))
#else
#define TEMPLATE_EXPORT
#endif

/* The one exported symbol (MB_PLUGIN_ENTRY). The host passes the ABI it
** speaks and refuses our table if its abi is newer than that, naming both
** versions; a plugin that can serve older hosts could check host_abi and
** describe itself with fewer features, and one that cannot may return
** NULL. Everything we return is static: the host never frees it. */
TEMPLATE_EXPORT const mb_plugin *moonbench_plugin(unsigned host_abi);

const mb_plugin *moonbench_plugin(unsigned host_abi)
{
    (void)host_abi;
    return &plugin;
}
