/*
** explain.c: TreeSHAP, linear SHAP and permutation importance (see
** explain.h). TreeSHAP follows Algorithm 2 of Lundberg, Erion and Lee,
** "Consistent individualized feature attribution for tree ensembles"
** (2018), as shap's tree_shap.h implements it: one recursion per tree that
** carries the unique path of features above the node with the weights of
** every subset size (EXTEND), and takes a feature out again (UNWIND) when a
** split repeats it.
*/
#include "explain.h"
#include "rng.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "dataset.h"
#include "frameops.h"
#include "metrics.h"
#include "portable.h"

/* {====== TreeSHAP ======} */

typedef struct path_elem {
    int32_t feature;              /* -1 for the root's placeholder */
    double zero_fraction;         /* share of the cover that goes this way */
    double one_fraction;          /* 1 when x goes this way, else 0 */
    double pweight;               /* weight of the subsets of this size */
} path_elem;

static void extend_path(path_elem *p, size_t depth, double zero, double one, int32_t feature)
{
    p[depth] = (path_elem){feature, zero, one, depth == 0 ? 1.0 : 0.0};
    for (size_t i = depth; i-- > 0;) {
        p[i + 1].pweight += one * p[i].pweight * (double)(i + 1) / (double)(depth + 1);
        p[i].pweight = zero * p[i].pweight * (double)(depth - i) / (double)(depth + 1);
    }
}

static void unwind_path(path_elem *p, size_t depth, size_t index)
{
    double one = p[index].one_fraction, zero = p[index].zero_fraction, next = p[depth].pweight;
    for (size_t i = depth; i-- > 0;) {
        if (one != 0) {
            double tmp = p[i].pweight;
            p[i].pweight = next * (double)(depth + 1) / ((double)(i + 1) * one);
            next = tmp - p[i].pweight * zero * (double)(depth - i) / (double)(depth + 1);
        } else {
            p[i].pweight = p[i].pweight * (double)(depth + 1) / (zero * (double)(depth - i));
        }
    }
    for (size_t i = index; i < depth; i++) {
        p[i].feature = p[i + 1].feature;
        p[i].zero_fraction = p[i + 1].zero_fraction;
        p[i].one_fraction = p[i + 1].one_fraction;
    }
}

/* The total weight of the path with element index taken out. */
static double unwound_sum(const path_elem *p, size_t depth, size_t index)
{
    double one = p[index].one_fraction, zero = p[index].zero_fraction, next = p[depth].pweight, total = 0;
    for (size_t i = depth; i-- > 0;) {
        if (one != 0) {
            double tmp = next * (double)(depth + 1) / ((double)(i + 1) * one);
            total += tmp;
            next = p[i].pweight - tmp * zero * (double)(depth - i) / (double)(depth + 1);
        } else if (zero != 0) {
            total += p[i].pweight / zero / ((double)(depth - i) / (double)(depth + 1));
        }
    }
    return total;
}

/* cover[child] / cover[node], or 1/2 when the node's cover says nothing. */
static double cover_fraction(const mb_tree_form *t, int32_t node, int32_t child)
{
    double w = t->cover[node], c = t->cover[child];
    if (!(w > 0) || !isfinite(w) || !(c >= 0) || !isfinite(c))
        return 0.5;
    return c / w;
}

typedef struct shap_tree {
    const mb_tree_form *t;
    const float *x;
    double *phi;                  /* this row's noutputs x (nfeatures + 1) */
    int32_t output;               /* leaf_width 1: the tree's output */
    double scale;                 /* 1, or 1 / ntrees for forests */
} shap_tree;

static void leaf_credit(const shap_tree *s, const path_elem *p, size_t depth, int32_t node)
{
    const mb_tree_form *t = s->t;
    size_t M1 = t->nfeatures + 1;
    for (size_t i = 1; i <= depth; i++) {
        double w = unwound_sum(p, depth, i) * (p[i].one_fraction - p[i].zero_fraction) * s->scale;
        size_t f = (size_t)p[i].feature;
        if (t->leaf_width == 1)
            s->phi[(size_t)s->output * M1 + f] += w * t->value[node];
        else
            for (size_t k = 0; k < t->noutputs; k++)
                s->phi[k * M1 + f] += w * t->value[(size_t)node * t->leaf_width + k];
    }
}

/* One node of Algorithm 2. The node's path is built right after its
** parent's (depth + 1 slots) in one buffer of (D + 2)(D + 3) / 2 slots for
** a tree of depth D, as shap does. */
static void shap_recurse(const shap_tree *s, int32_t node, path_elem *parent, size_t depth, double zero,
                         double one, int32_t feature)
{
    const mb_tree_form *t = s->t;
    path_elem *p = parent + depth + 1;
    memcpy(p, parent, (depth + 1) * sizeof *p);
    extend_path(p, depth, zero, one, feature);
    int32_t f = t->feature[node];
    if (f < 0) {
        leaf_credit(s, p, depth, node);
        return;
    }
    float v = s->x[f];
    int left = isnan(v) ? t->default_left[node] : v <= t->threshold[node];
    int32_t hot = left ? t->left[node] : t->right[node], cold = left ? t->right[node] : t->left[node];
    double in_zero = 1, in_one = 1;
    size_t k = 0;
    while (k <= depth && p[k].feature != f)
        k++;
    if (k <= depth) { /* the feature is already on the path: take it out, carry its fractions */
        in_zero = p[k].zero_fraction;
        in_one = p[k].one_fraction;
        unwind_path(p, depth, k);
        depth--;
    }
    shap_recurse(s, hot, p, depth + 1, cover_fraction(t, node, hot) * in_zero, in_one, f);
    shap_recurse(s, cold, p, depth + 1, cover_fraction(t, node, cold) * in_zero, 0, f);
}

static double tree_expectation_at(const mb_tree_form *t, int32_t node, size_t k)
{
    if (t->feature[node] < 0)
        return t->value[(size_t)node * t->leaf_width + k];
    return cover_fraction(t, node, t->left[node]) * tree_expectation_at(t, t->left[node], k) +
           cover_fraction(t, node, t->right[node]) * tree_expectation_at(t, t->right[node], k);
}

void mb_treeshap_tree_expectation(const mb_tree_form *t, size_t tree, double *ev)
{
    int32_t root = t->root[tree];
    if (t->leaf_width == 1)
        ev[t->tree_output[tree]] += tree_expectation_at(t, root, 0);
    else
        for (size_t k = 0; k < t->noutputs; k++)
            ev[k] += tree_expectation_at(t, root, k);
}

/* Depth of the tree at root (edges on the longest path); the form is
** checked, so children come after parents and the walk ends. */
static size_t tree_depth(const mb_tree_form *t, int32_t root, int32_t *stack, size_t *sdepth)
{
    size_t sp = 0, best = 0;
    stack[sp] = root;
    sdepth[sp++] = 0;
    while (sp) {
        int32_t n = stack[--sp];
        size_t d = sdepth[sp];
        best = d > best ? d : best;
        if (t->feature[n] >= 0 && d < MB_TREESHAP_MAX_DEPTH + 1) {
            stack[sp] = t->left[n];
            sdepth[sp++] = d + 1;
            stack[sp] = t->right[n];
            sdepth[sp++] = d + 1;
        }
    }
    return best;
}

typedef struct shap_job {
    const mb_tree_form *t;
    const mb_matrix *X;
    const double *ev;             /* noutputs: the expected value */
    double *phi;
    size_t begin, end;
    path_elem *path;              /* this worker's path buffer */
} shap_job;

static void *shap_rows(void *arg)
{
    shap_job *j = arg;
    const mb_tree_form *t = j->t;
    size_t M1 = t->nfeatures + 1, K = t->noutputs;
    for (size_t i = j->begin; i < j->end; i++) {
        double *phi = j->phi + i * K * M1;
        memset(phi, 0, K * M1 * sizeof *phi);
        shap_tree s = {t, j->X->x + i * j->X->ld, phi, 0, t->average ? 1.0 / (double)t->ntrees : 1.0};
        for (size_t tr = 0; tr < t->ntrees; tr++) {
            s.output = t->leaf_width == 1 ? t->tree_output[tr] : 0;
            shap_recurse(&s, t->root[tr], j->path, 0, 1, 1, -1);
        }
        for (size_t k = 0; k < K; k++)
            phi[k * M1 + t->nfeatures] = j->ev[k];
    }
    return NULL;
}

static mb_status shap_check(const mb_tree_form *t, const mb_matrix *X, size_t *maxdepth, mb_error *err)
{
    mb_portable p = {.kind = MB_FORM_TREES};
    p.u.trees = *t;
    mb_status rc = mb_portable_check(&p, err);
    if (rc != MB_OK)
        return rc;
    if (!t->cover)
        return mb_fail(err, MB_EFORMAT, "the tree form has no node covers (the training weight that reached "
                                        "each node), which path-dependent TreeSHAP needs: refit the model "
                                        "with this moonbench");
    if (X->cols != t->nfeatures)
        return mb_fail(err, MB_ESHAPE, "the model takes %zu features, the data has %zu", t->nfeatures, X->cols);
    int32_t *stack = mb_trymalloc(2 * (MB_TREESHAP_MAX_DEPTH + 3) * sizeof *stack);
    size_t *sd = mb_trymalloc(2 * (MB_TREESHAP_MAX_DEPTH + 3) * sizeof *sd);
    if (!stack || !sd) {
        mb_free(stack);
        mb_free(sd);
        return mb_fail(err, MB_ENOMEM, "no memory for TreeSHAP");
    }
    *maxdepth = 0;
    for (size_t tr = 0; tr < t->ntrees && rc == MB_OK; tr++) {
        size_t d = tree_depth(t, t->root[tr], stack, sd);
        if (d > MB_TREESHAP_MAX_DEPTH)
            rc = mb_fail(err, MB_EFORMAT, "tree %zu is deeper than %d levels, more than TreeSHAP takes", tr,
                         MB_TREESHAP_MAX_DEPTH);
        *maxdepth = d > *maxdepth ? d : *maxdepth;
    }
    mb_free(stack);
    mb_free(sd);
    return rc;
}

mb_status mb_treeshap(const mb_tree_form *t, const mb_matrix *X, int nthreads, double *phi, mb_error *err)
{
    size_t D = 0;
    mb_status rc = shap_check(t, X, &D, err);
    if (rc != MB_OK)
        return rc;
    size_t K = t->noutputs, plen = (D + 2) * (D + 3) / 2;
    double *ev = mb_calloc(K, sizeof *ev);
    for (size_t tr = 0; tr < t->ntrees; tr++)
        mb_treeshap_tree_expectation(t, tr, ev);
    for (size_t k = 0; k < K; k++)
        ev[k] = (t->base_score ? t->base_score[k] : 0) + (t->average ? ev[k] / (double)t->ntrees : ev[k]);
    if (nthreads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = n < 1 ? 1 : n > 16 ? 16 : (int)n;
    }
    size_t nw = (size_t)nthreads < X->rows ? (size_t)nthreads : X->rows ? X->rows : 1;
    shap_job *jobs = mb_calloc(nw, sizeof *jobs);
    pthread_t *tid = mb_calloc(nw, sizeof *tid);
    int *started = mb_calloc(nw, sizeof *started);
    /* buffers allocated here, not in the workers: the allocator is a process global */
    for (size_t w = 0; w < nw; w++) {
        jobs[w] = (shap_job){t, X, ev, phi, X->rows * w / nw, X->rows * (w + 1) / nw, NULL};
        jobs[w].path = mb_trymalloc(plen * sizeof(path_elem));
        if (!jobs[w].path)
            rc = mb_fail(err, MB_ENOMEM, "no memory for TreeSHAP paths");
    }
    for (size_t w = 1; w < nw && rc == MB_OK; w++)
        started[w] = pthread_create(&tid[w], NULL, shap_rows, &jobs[w]) == 0;
    if (rc == MB_OK)
        shap_rows(&jobs[0]);
    for (size_t w = 1; w < nw; w++) {
        if (started[w])
            pthread_join(tid[w], NULL);
        else if (rc == MB_OK)
            shap_rows(&jobs[w]); /* no thread: do its share here */
    }
    for (size_t w = 0; w < nw; w++)
        mb_free(jobs[w].path);
    mb_free(jobs);
    mb_free(tid);
    mb_free(started);
    mb_free(ev);
    return rc;
}

/* {====== linear SHAP ======} */

mb_status mb_linear_shap(const mb_linear_form *l, const double *mean, const mb_matrix *X, double *phi,
                         mb_error *err)
{
    size_t M = l->nfeatures, K = l->noutputs, M1 = M + 1;
    if (!mean)
        return mb_fail(err, MB_EFORMAT, "linear SHAP needs the training means of the features");
    if (X->cols != M)
        return mb_fail(err, MB_ESHAPE, "the model takes %zu features, the data has %zu", M, X->cols);
    for (size_t i = 0; i < X->rows; i++) {
        const float *x = X->x + i * X->ld;
        for (size_t k = 0; k < K; k++) {
            double *o = phi + (i * K + k) * M1, ev = l->intercept[k];
            for (size_t j = 0; j < M; j++) {
                double w = l->coef[k * M + j];
                o[j] = w != 0 ? w * ((double)x[j] - mean[j]) : 0;
                ev += w != 0 ? w * mean[j] : 0;
            }
            o[M] = ev;
        }
    }
    return MB_OK;
}

/* {====== permutation importance ======} */

static const char *const pi_names[] = {"accuracy", "r2", "neg_rmse", "neg_log_loss", "roc_auc"};

int mb_pi_metric_find(const char *name)
{
    for (size_t i = 0; i < sizeof pi_names / sizeof *pi_names; i++)
        if (!strcmp(name, pi_names[i]))
            return (int)i;
    return -1;
}

const char *mb_pi_metric_name(mb_pi_metric m)
{
    return (unsigned)m < sizeof pi_names / sizeof *pi_names ? pi_names[m] : "?";
}

static double pi_score(const mb_pi_opts *o, const float *y, const float *label, const float *proba, size_t n,
                       float *pos)
{
    switch (o->metric) {
    case MB_PI_ACCURACY:
        return mb_accuracy(y, label, n);
    case MB_PI_R2:
        return mb_r2(y, label, n);
    case MB_PI_NEG_RMSE:
        return -mb_rmse(y, label, n);
    case MB_PI_NEG_LOG_LOSS:
        return -mb_log_loss(y, proba, n, o->nclasses);
    case MB_PI_ROC_AUC:
        for (size_t i = 0; i < n; i++)
            pos[i] = proba[i * 2 + 1];
        return mb_roc_auc(y, pos, n);
    }
    return (double)NAN;
}

static void shuffle(size_t *perm, size_t n, mb_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(mb_rng_next(rng) % i); /* modulo bias below 2^-40 for n < 2^24 */
        size_t tmp = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = tmp;
    }
}

static mb_status pi_check(const mb_matrix *X, const mb_pi_opts *o, mb_error *err)
{
    if (!o->repeats || o->repeats > 10000)
        return mb_fail(err, MB_EARG, "permutation importance: repeats must be 1..10000, not %zu", o->repeats);
    if (!X->rows || !X->cols)
        return mb_fail(err, MB_EARG, "permutation importance: the data has no rows or no features");
    int cls = o->metric == MB_PI_ACCURACY || o->metric == MB_PI_NEG_LOG_LOSS || o->metric == MB_PI_ROC_AUC;
    if (cls != (o->nclasses > 0) || (o->metric == MB_PI_ROC_AUC && o->nclasses != 2) || (unsigned)o->metric > 4)
        return mb_fail(err, MB_EARG, "permutation importance: metric %s does not fit a %s model",
                       mb_pi_metric_name(o->metric),
                       o->nclasses == 0 ? "regression" : o->nclasses == 2 ? "binary" : "multiclass");
    return MB_OK;
}

mb_status mb_permutation_importance(mb_pi_predict_fn predict, void *ud, const mb_matrix *X, const float *y,
                                    const mb_pi_opts *o, double *baseline, double *scores, double *mean,
                                    double *sd, mb_error *err)
{
    mb_status rc = pi_check(X, o, err);
    if (rc != MB_OK)
        return rc;
    size_t n = X->rows, M = X->cols, K = o->nclasses;
    float *Xc = mb_trymalloc_big(n * M * sizeof *Xc), *label = mb_trymalloc(n * sizeof *label);
    float *proba = K ? mb_trymalloc(n * K * sizeof *proba) : NULL, *pos = mb_trymalloc(n * sizeof *pos);
    float *col = mb_trymalloc(n * sizeof *col);
    size_t *perm = mb_trymalloc(n * sizeof *perm);
    if (!Xc || !label || (K && !proba) || !pos || !col || !perm) {
        rc = mb_fail(err, MB_ENOMEM, "no memory for permutation importance (%zu rows)", n);
        goto exit;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(Xc + i * M, X->x + i * X->ld, M * sizeof *Xc);
    mb_matrix W = {Xc, n, M, M};
    if ((rc = predict(ud, &W, label, proba, err)) != MB_OK)
        goto exit;
    *baseline = pi_score(o, y, label, proba, n, pos);
    mb_rng rng;
    mb_rng_seed(&rng, o->seed);
    for (size_t j = 0; j < M; j++) {
        for (size_t i = 0; i < n; i++)
            col[i] = Xc[i * M + j];
        double s1 = 0, s2 = 0;
        for (size_t r = 0; r < o->repeats; r++) {
            const size_t *pm = o->perms ? o->perms[r] : perm;
            if (!o->perms)
                shuffle(perm, n, &rng);
            for (size_t i = 0; i < n; i++)
                Xc[i * M + j] = col[pm[i]];
            if ((rc = predict(ud, &W, label, proba, err)) != MB_OK)
                goto exit;
            double d = *baseline - pi_score(o, y, label, proba, n, pos);
            scores[j * o->repeats + r] = d;
            s1 += d;
        }
        for (size_t i = 0; i < n; i++)
            Xc[i * M + j] = col[i];
        mean[j] = s1 / (double)o->repeats;
        for (size_t r = 0; r < o->repeats; r++)
            s2 += (scores[j * o->repeats + r] - mean[j]) * (scores[j * o->repeats + r] - mean[j]);
        sd[j] = sqrt(s2 / (double)o->repeats);
    }
exit:
    mb_free(Xc);
    mb_free(label);
    mb_free(proba);
    mb_free(pos);
    mb_free(col);
    mb_free(perm);
    return rc;
}

/* {====== a bundle's explanation ======} */

void mb_explanation_free(mb_explanation *e)
{
    for (size_t j = 0; e->cols && j < e->ncols; j++)
        mb_free(e->cols[j]);
    mb_free(e->cols);
    mb_free(e->phi);
    memset(e, 0, sizeof *e);
}

/* SHAP on the model's features: phi is rows x K x (nfeatures + 1). */
static mb_status shap_features(const mb_scorer *s, const mb_matrix *X, int nthreads, double *phi,
                               const char **method, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    const char *file = b->file ? b->file : "the bundle";
    if (b->form == MB_FORM_TREES) {
        *method = "treeshap";
        if (!s->form.u.trees.cover)
            return mb_fail(err, MB_EFORMAT,
                           "%s: the tree model has no node covers (bundles saved before moonbench stored them), "
                           "which path-dependent TreeSHAP needs: refit it to explain it, or use --permutation",
                           file);
        return mb_treeshap(&s->form.u.trees, X, nthreads, phi, err);
    }
    if (b->form == MB_FORM_LINEAR) {
        *method = "linear";
        const mb_state_array *mean = NULL;
        for (size_t i = 0; i < b->monitoring.n; i++)
            if (!strcmp(b->monitoring.arrays[i].name, "mean"))
                mean = &b->monitoring.arrays[i];
        if (!mean || mean->type != MB_DT_F64 || mean->count != s->form.u.linear.nfeatures)
            return mb_fail(err, MB_EFORMAT, "%s: /monitoring has no training means of the %zu features, which "
                           "linear SHAP needs: refit the model, or use --permutation", file,
                           s->form.u.linear.nfeatures);
        return mb_linear_shap(&s->form.u.linear, mean->data, X, phi, err);
    }
    return mb_fail(err, MB_EARG, "%s: exact SHAP needs a tree or linear model (this one is %s): use --permutation",
                   file, b->form == MB_FORM_MLP ? "an MLP" : "a plugin model without a portable form");
}

/* Add weight w of frame column c of stage `stage` to the input columns:
** follow the plans back to the first frame (W: ncols of frames[0]). */
static void trace_back(const mb_step_plan *plans, size_t stage, long c, double w, double *W)
{
    if (c < 0 || w == 0)
        return;
    if (stage == 0) {
        W[c] += w;
        return;
    }
    const mb_step_plan *p = &plans[stage - 1];
    if ((size_t)c >= p->n)
        return;
    const mb_step_col *sc = &p->cols[c];
    if (sc->op == MB_STEP_PROD && sc->src2 >= 0 && sc->src2 != sc->src) {
        trace_back(plans, stage - 1, sc->src, w / 2, W);
        trace_back(plans, stage - 1, sc->src2, w / 2, W);
    } else {
        trace_back(plans, stage - 1, sc->src, w, W);
    }
}

/* The reported columns and the features -> columns weights (nf x ncols). */
static mb_status map_columns(const mb_bundle *b, mb_frame **frames, const mb_step_plan *plans, mb_explanation *e,
                             double **weights, mb_error *err)
{
    const mb_frame *f0 = frames[0], *last = frames[b->nsteps];
    size_t nf = b->nfeatures;
    int mapped = b->nsteps > 0 && b->ninputs > 0;
    e->ncols = mapped ? b->ninputs : nf;
    e->cols = mb_calloc(e->ncols, sizeof *e->cols);
    for (size_t j = 0; j < e->ncols; j++)
        e->cols[j] = mb_strdup(mapped ? b->inputs[j] : b->features[j]);
    e->mapped = mapped;
    double *M = mb_calloc(nf * e->ncols, sizeof *M), *W = mb_calloc(f0->ncols ? f0->ncols : 1, sizeof *W);
    for (size_t j = 0; j < nf; j++) {
        if (!mapped) {
            M[j * e->ncols + j] = 1;
            continue;
        }
        memset(W, 0, f0->ncols * sizeof *W);
        trace_back(plans, b->nsteps, mb_frame_find(last, b->features[j]), 1, W);
        for (size_t c = 0; c < f0->ncols; c++) {
            if (W[c] == 0)
                continue;
            size_t k = 0;
            while (k < b->ninputs && strcmp(b->inputs[k], f0->cols[c].name))
                k++;
            if (k == b->ninputs) {
                mb_free(M);
                mb_free(W);
                return mb_fail(err, MB_EFORMAT, "feature '%s' comes from column '%s', which is not a pipeline input",
                               b->features[j], f0->cols[c].name);
            }
            M[j * e->ncols + k] += W[c];
        }
    }
    mb_free(W);
    *weights = M;
    return MB_OK;
}

/* Apply the pipeline, keeping every stage's frame and plan. */
static mb_status run_pipeline(const mb_scorer *s, const mb_frame *f, mb_frame **frames, mb_step_plan *plans,
                              mb_error *err)
{
    const mb_bundle *b = s->bundle;
    frames[0] = (mb_frame *)f; /* borrowed: never freed here */
    for (size_t i = 0; i < b->nsteps; i++) {
        if (!s->steps[i])
            return mb_fail(err, MB_EARG, "pipeline step %zu is a Lua transform: explanations map only built-in "
                           "transforms back to input columns", i + 1);
        mb_status rc = mb_transform_plan(s->steps[i], frames[i], &plans[i], err);
        if (rc == MB_OK)
            rc = mb_transform_apply(s->steps[i], frames[i], &frames[i + 1], err);
        if (rc != MB_OK)
            return rc;
    }
    return MB_OK;
}

mb_status mb_explain_frame(const mb_scorer *s, const mb_frame *f, int nthreads, mb_explanation *out, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    memset(out, 0, sizeof *out);
    size_t ns = b->nsteps, K = b->task == MB_TASK_MULTICLASS ? b->nclasses : 1, nf = b->nfeatures;
    mb_frame **frames = mb_calloc(ns + 1, sizeof *frames);
    mb_step_plan *plans = mb_calloc(ns ? ns : 1, sizeof *plans);
    float *xo = NULL;
    double *phi = NULL, *M = NULL;
    mb_matrix X;
    mb_status rc = run_pipeline(s, f, frames, plans, err);
    if (rc == MB_OK)
        rc = mb_matrix_by_names(frames[ns], (const char *const *)b->features, nf, f->source ? f->source : "data",
                                &X, &xo, err);
    if (rc == MB_OK && !(phi = mb_trymalloc_big(X.rows * K * (nf + 1) * sizeof *phi)))
        rc = mb_fail(err, MB_ENOMEM, "no memory for the contributions of %zu rows", X.rows);
    if (rc == MB_OK)
        rc = shap_features(s, &X, nthreads, phi, &out->method, err);
    if (rc == MB_OK)
        rc = map_columns(b, frames, plans, out, &M, err);
    if (rc == MB_OK && !(out->phi = mb_trycalloc(X.rows * K * (out->ncols + 1), sizeof *out->phi)))
        rc = mb_fail(err, MB_ENOMEM, "no memory for the contributions of %zu rows", X.rows);
    if (rc == MB_OK) {
        size_t C1 = out->ncols + 1;
        out->rows = X.rows;
        out->noutputs = K;
        out->link = b->form == MB_FORM_TREES ? s->form.u.trees.link : s->form.u.linear.link;
        for (size_t r = 0; r < X.rows * K; r++) {
            const double *p = phi + r * (nf + 1);
            double *o = out->phi + r * C1;
            for (size_t j = 0; j < nf; j++)
                for (size_t c = 0; c < out->ncols; c++)
                    o[c] += p[j] * M[j * out->ncols + c];
            o[out->ncols] = p[nf];
        }
    }
    for (size_t i = 0; i < ns; i++) {
        mb_step_plan_free(&plans[i]);
        mb_frame_free(&frames[i + 1]);
    }
    mb_free(frames);
    mb_free(plans);
    mb_free(xo);
    mb_free(phi);
    mb_free(M);
    if (rc != MB_OK)
        mb_explanation_free(out);
    return rc;
}

mb_status mb_explain_matrix(const mb_scorer *s, const mb_frame *f, mb_matrix *X, float **owned, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    mb_frame *cur = NULL;
    const mb_frame *in = f;
    mb_status rc = MB_OK;
    for (size_t i = 0; i < b->nsteps && rc == MB_OK; i++) {
        mb_frame *next = NULL;
        if (!s->steps[i] && !s->lua_apply)
            rc = mb_fail(err, MB_EARG, "pipeline step %zu is a Lua transform: pass --allow-lua if you trust it", i + 1);
        else
            rc = s->steps[i] ? mb_transform_apply(s->steps[i], in, &next, err)
                             : s->lua_apply(s->lua_ud, i, in, &next, err);
        mb_frame_free(&cur);
        in = cur = next;
    }
    *owned = NULL;
    if (rc == MB_OK)
        rc = mb_matrix_by_names(in, (const char *const *)b->features, b->nfeatures, f->source ? f->source : "data",
                                X, owned, err);
    if (rc == MB_OK && !*owned) { /* a view into cur: copy it out */
        float *c = mb_trymalloc_big(X->rows * X->cols * sizeof *c + 1);
        if (!c)
            rc = mb_fail(err, MB_ENOMEM, "no memory for %zu rows of features", X->rows);
        for (size_t i = 0; c && i < X->rows; i++)
            memcpy(c + i * X->cols, X->x + i * X->ld, X->cols * sizeof *c);
        *owned = c;
        *X = (mb_matrix){c, X->rows, X->cols, X->cols};
    }
    mb_frame_free(&cur);
    return rc;
}

mb_status mb_explain_labels(const mb_bundle *b, const mb_frame *f, float **y, mb_error *err)
{
    long t = b->target ? mb_frame_find(f, b->target) : -1;
    const char *src = f->source ? f->source : "the data";
    if (t < 0)
        return mb_fail(err, MB_ENOTFOUND, "%s has no column '%s', the model's target", src, b->target ? b->target : "?");
    const mb_column *c = &f->cols[t];
    float *out = mb_trymalloc(f->nrows * sizeof *out + 1);
    if (!out)
        return mb_fail(err, MB_ENOMEM, "no memory for %zu labels", f->nrows);
    for (size_t i = 0; i < f->nrows; i++) {
        char num[64];
        const char *text = NULL;
        if (c->type == MB_COL_CAT)
            text = c->codes[i] >= 0 && (size_t)c->codes[i] < c->nlevels ? c->levels[c->codes[i]] : NULL;
        else if (!isnan(MB_NUM(c, i)))
            snprintf(num, sizeof num, "%g", (double)MB_NUM(c, i)), text = num;
        if (b->task == MB_TASK_REGRESSION && c->type == MB_COL_NUM && text) {
            out[i] = MB_NUM(c, i);
            continue;
        }
        size_t k = 0;
        while (text && k < b->nclasses && strcmp(b->classes[k], text))
            k++;
        if (!text || k == b->nclasses || b->task == MB_TASK_REGRESSION) {
            mb_free(out);
            return mb_fail(err, MB_EARG, "%s: row %zu of column '%s' is %s%s%s, not one of the model's %s", src, i + 1,
                           c->name, text ? "'" : "missing", text ? text : "", text ? "'" : "",
                           b->task == MB_TASK_REGRESSION ? "numbers" : "classes");
        }
        out[i] = (float)k;
    }
    *y = out;
    return MB_OK;
}

/* {====== partial dependence and ICE ======} */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* scipy.stats.mstats.mquantiles(x, prob=p) with alphap = betap = 0.4 on the
** n sorted values v. */
static double mquantile(const double *v, size_t n, double p)
{
    double m = 0.4 + p * (1.0 - 0.4 - 0.4), aleph = (double)n * p + m;
    double k = floor(aleph);
    if (k < 1)
        k = 1;
    if (k > (double)n - 1)
        k = (double)n - 1;
    double gamma = aleph - k;
    gamma = gamma < 0 ? 0 : gamma > 1 ? 1 : gamma;
    size_t i = (size_t)k;
    return (1.0 - gamma) * v[i - 1] + gamma * v[i < n ? i : n - 1];
}

/* The grid of column c (see explain.h). */
static mb_status pdp_grid(const mb_frame *f, const mb_column *c, const mb_pdp_opts *o, mb_pdp *p, size_t a,
                          mb_error *err)
{
    size_t n = f->nrows, nv = 0;
    if (c->type == MB_COL_CAT) {
        char *seen = mb_calloc(c->nlevels + 1, 1);
        for (size_t i = 0; i < n; i++)
            if (c->codes[i] >= 0 && (size_t)c->codes[i] < c->nlevels)
                seen[c->codes[i]] = 1;
        p->grid[a] = mb_malloc((c->nlevels + 1) * sizeof *p->grid[a]);
        p->levels[a] = mb_calloc(c->nlevels + 1, sizeof *p->levels[a]);
        for (size_t l = 0; l < c->nlevels; l++) /* insertion by text order */
            if (seen[l]) {
                size_t at = nv++;
                while (at > 0 && strcmp(c->levels[(size_t)p->grid[a][at - 1]], c->levels[l]) > 0) {
                    p->grid[a][at] = p->grid[a][at - 1];
                    at--;
                }
                p->grid[a][at] = (double)l;
            }
        for (size_t g = 0; g < nv; g++)
            p->levels[a][g] = mb_strdup(c->levels[(size_t)p->grid[a][g]]);
        mb_free(seen);
    } else {
        double *v = mb_malloc((n + 1) * sizeof *v);
        size_t m = 0, u = 0;
        for (size_t i = 0; i < n; i++)
            if (!isnan(MB_NUM(c, i)))
                v[m++] = (double)MB_NUM(c, i);
        qsort(v, m, sizeof *v, cmp_double);
        for (size_t i = 0; i < m; i++)
            u += i == 0 || v[i] != v[i - 1];
        if (u < o->grid_resolution) {
            p->grid[a] = mb_malloc((u + 1) * sizeof *p->grid[a]);
            for (size_t i = 0; i < m; i++)
                if (i == 0 || v[i] != v[i - 1])
                    p->grid[a][nv++] = v[i];
        } else {
            double lo = mquantile(v, m, o->lo), hi = mquantile(v, m, o->hi);
            if (fabs(hi - lo) <= 1e-8 + 1e-5 * fabs(lo)) { /* numpy's allclose, as scikit-learn */
                mb_free(v);
                return mb_fail(err, MB_EARG,
                               "partial dependence: column '%s': its %g and %g quantiles are too close "
                               "to make a grid (choose quantiles further apart)", c->name, o->lo, o->hi);
            }
            nv = o->grid_resolution;
            p->grid[a] = mb_malloc(nv * sizeof *p->grid[a]);
            for (size_t g = 0; g < nv; g++) /* numpy's linspace */
                p->grid[a][g] = g + 1 == nv ? hi : lo + (double)g * ((hi - lo) / (double)(nv - 1));
        }
        mb_free(v);
    }
    if (nv == 0)
        return mb_fail(err, MB_EEMPTY, "partial dependence: column '%s' has no values that are not missing", c->name);
    p->ngrid[a] = nv;
    return MB_OK;
}

static void set_column(mb_column *c, double v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c->type == MB_COL_CAT)
            c->codes[i] = (int32_t)v;
        else
            c->num[i * c->stride] = (float)v;
    }
}

static mb_status pdp_check(const mb_frame *f, const char *const *cols, size_t ncols, const mb_pdp_opts *o,
                           long *idx, mb_error *err)
{
    if (ncols < 1 || ncols > 2)
        return mb_fail(err, MB_EARG, "partial dependence: name one or two columns, not %zu", ncols);
    if (o->grid_resolution < 2)
        return mb_fail(err, MB_EARG, "partial dependence: the grid resolution must be at least 2, not %zu",
                       o->grid_resolution);
    if (!(o->lo >= 0 && o->lo < o->hi && o->hi <= 1))
        return mb_fail(err, MB_EARG, "partial dependence: the quantiles must be 0 <= lo < hi <= 1, not %g and %g",
                       o->lo, o->hi);
    if (f->nrows == 0)
        return mb_fail(err, MB_EEMPTY, "partial dependence: the data has no rows");
    for (size_t a = 0; a < ncols; a++) {
        if ((idx[a] = mb_frame_find(f, cols[a])) < 0) {
            char list[512];
            mb_frame_column_list(f, list, sizeof list);
            return mb_fail(err, MB_ENOTFOUND, "partial dependence: no column '%s' in the data (columns: %s)",
                           cols[a], list);
        }
        if (idx[a] == f->target)
            return mb_fail(err, MB_EARG, "partial dependence: '%s' is the target, not a feature", cols[a]);
    }
    if (ncols == 2 && idx[0] == idx[1])
        return mb_fail(err, MB_EARG, "partial dependence: the two columns are the same ('%s')", cols[0]);
    return MB_OK;
}

mb_status mb_partial_dependence(mb_scorer *s, const mb_frame *f, const char *const *cols, size_t ncols,
                                const mb_pdp_opts *o, mb_pdp *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    long idx[2] = {-1, -1};
    mb_status rc = pdp_check(f, cols, ncols, o, idx, err);
    for (size_t a = 0; rc == MB_OK && a < ncols; a++) {
        out->cols[a] = mb_strdup(cols[a]);
        rc = pdp_grid(f, &f->cols[idx[a]], o, out, a, err);
    }
    if (rc != MB_OK) {
        mb_pdp_free(out);
        return rc;
    }
    const mb_bundle *b = s->bundle;
    size_t n = f->nrows, k = b->task == MB_TASK_REGRESSION ? 0 : b->nclasses;
    out->ncols = ncols;
    out->rows = n;
    out->ngrid[1] = ncols == 2 ? out->ngrid[1] : 1;
    out->npoints = out->ngrid[0] * out->ngrid[1];
    out->noutputs = k > 2 ? k : 1;
    size_t np = out->npoints, no = out->noutputs, cells;
    if (!mb_mul_ok(n, np * no, &cells) ||
        !(out->average = mb_trycalloc(np * no, sizeof *out->average)) ||
        (o->individual && !(out->individual = mb_trymalloc(cells * sizeof *out->individual)))) {
        mb_pdp_free(out);
        return mb_fail(err, MB_ENOMEM, "partial dependence: %zu rows x %zu grid points x %zu outputs do not fit "
                                       "in memory (fewer rows, or a coarser grid)", n, np, no);
    }
    mb_frame *copy = NULL;
    float *label = mb_malloc((n + 1) * sizeof *label), *proba = k ? mb_malloc((n * k + 1) * sizeof *proba) : NULL;
    rc = mb_frame_copy(f, &copy, err);
    for (size_t g = 0; rc == MB_OK && g < np; g++) {
        size_t g0 = g / out->ngrid[1], g1 = g % out->ngrid[1];
        set_column(&copy->cols[idx[0]], out->grid[0][g0], n);
        if (ncols == 2)
            set_column(&copy->cols[idx[1]], out->grid[1][g1], n);
        if ((rc = mb_scorer_predict_frame(s, copy, label, proba, err)) != MB_OK)
            break;
        for (size_t q = 0; q < no; q++) {
            double sum = 0;
            for (size_t i = 0; i < n; i++) {
                double y = (double)(!k ? label[i] : k == 2 ? proba[i * 2 + 1] : proba[i * k + q]);
                sum += y;
                if (out->individual)
                    out->individual[(q * n + i) * np + g] = y;
            }
            out->average[q * np + g] = sum / (double)n;
        }
    }
    mb_frame_free(&copy);
    mb_free(label);
    mb_free(proba);
    if (rc != MB_OK)
        mb_pdp_free(out);
    return rc;
}

void mb_pdp_free(mb_pdp *p)
{
    for (size_t a = 0; a < 2; a++) {
        mb_free(p->cols[a]);
        mb_free(p->grid[a]);
        for (size_t g = 0; p->levels[a] && g < p->ngrid[a]; g++)
            mb_free(p->levels[a][g]);
        mb_free(p->levels[a]);
    }
    mb_free(p->average);
    mb_free(p->individual);
    memset(p, 0, sizeof *p);
}
