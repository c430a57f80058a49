/*
** plugin.c: the trees plugin's entry point: three model types ("cart",
** "forest", "gbdt") with their typed parameter tables, and the ABI calls
** (create, fit, predict, predict_proba, save, load, portable, importance,
** destroy) shared by all three over one mbt_model.
*/
#include <math.h>
#include <string.h>

#include "trees.h"

/* {====== parameters ======} */

static const char *const growth_choices[] = {"depthwise", "leafwise", NULL};
static const char *const loss_choices[] = {"auto", "squared", "absolute", "huber", "logloss", "softmax", NULL};
static const char *const crit_choices[] = {"auto", "gini", "entropy", "squared", NULL};

#define INF INFINITY

static const mb_param_spec gbdt_params[] = {
    {"n_trees", MB_PARAM_INT, "boosting rounds (one tree per class per round for multiclass)", "100", 1, 1e6, NULL},
    {"learning_rate", MB_PARAM_REAL, "shrinkage of every tree's leaf values", "0.1", 1e-9, 10, NULL},
    {"max_depth", MB_PARAM_INT, "maximum tree depth (0 = unlimited, leaf-wise growth then)", "6", 0, 64, NULL},
    {"max_leaves", MB_PARAM_INT, "maximum leaves per tree for leaf-wise growth (0 = unlimited)", "31", 0, 1 << 20, NULL},
    {"growth", MB_PARAM_CHOICE, "depthwise: level by level to max_depth; leafwise: best leaf first to max_leaves", "depthwise", 0, 0, growth_choices},
    {"loss", MB_PARAM_CHOICE, "auto = squared (regression), logloss (binary), softmax (multiclass)", "auto", 0, 0, loss_choices},
    {"huber_delta", MB_PARAM_REAL, "residual size where the huber loss turns linear", "1", 1e-12, INF, NULL},
    {"lambda_l2", MB_PARAM_REAL, "L2 regularisation of leaf values", "1", 0, INF, NULL},
    {"lambda_l1", MB_PARAM_REAL, "L1 regularisation of leaf values", "0", 0, INF, NULL},
    {"min_child_weight", MB_PARAM_REAL, "minimum sum of hessians in a leaf", "1e-3", 0, INF, NULL},
    {"min_samples_leaf", MB_PARAM_INT, "minimum rows in a leaf (estimated from hessians)", "20", 1, 1e12, NULL},
    {"min_split_gain", MB_PARAM_REAL, "minimum gain to make a split", "0", 0, INF, NULL},
    {"subsample", MB_PARAM_REAL, "fraction of rows drawn (without replacement) for each round", "1", 1e-6, 1, NULL},
    {"colsample", MB_PARAM_REAL, "fraction of features drawn for each tree", "1", 1e-6, 1, NULL},
    {"max_bins", MB_PARAM_INT, "quantile bins per feature (missing values get their own)", "255", 2, 255, NULL},
    {"early_stopping_rounds", MB_PARAM_INT, "stop after this many rounds without validation improvement (0 = off)", "0", 0, 1e9, NULL},
    {"validation_fraction", MB_PARAM_REAL, "part of the training rows held out for early stopping when no validation set is given", "0.1", 0.01, 0.9, NULL},
};

static const mb_param_spec forest_params[] = {
    {"n_trees", MB_PARAM_INT, "number of trees", "100", 1, 1e6, NULL},
    {"criterion", MB_PARAM_CHOICE, "split quality: auto = gini (classification) or squared (regression)", "auto", 0, 0, crit_choices},
    {"max_depth", MB_PARAM_INT, "maximum tree depth (0 = unlimited)", "0", 0, 1000, NULL},
    {"min_samples_split", MB_PARAM_INT, "minimum rows in a node to split it", "2", 2, 1e12, NULL},
    {"min_samples_leaf", MB_PARAM_INT, "minimum rows in a leaf", "1", 1, 1e12, NULL},
    {"min_impurity_decrease", MB_PARAM_REAL, "minimum weighted impurity decrease of a split", "0", 0, INF, NULL},
    {"max_features", MB_PARAM_REAL, "fraction of features tried per split (0 = sqrt for classification, all for regression)", "0", 0, 1, NULL},
    {"bootstrap", MB_PARAM_BOOL, "draw each tree's rows with replacement (else without)", "true", 0, 1, NULL},
    {"max_samples", MB_PARAM_REAL, "rows drawn per tree, as a fraction of the training rows", "1", 1e-6, 1, NULL},
    {"oob_score", MB_PARAM_BOOL, "compute the out-of-bag score (accuracy or R^2), reported in the log", "false", 0, 1, NULL},
    {"max_bins", MB_PARAM_INT, "quantile bins per feature (missing values get their own)", "255", 2, 255, NULL},
};

static const mb_param_spec cart_params[] = {
    {"criterion", MB_PARAM_CHOICE, "split quality: auto = gini (classification) or squared (regression)", "auto", 0, 0, crit_choices},
    {"max_depth", MB_PARAM_INT, "maximum tree depth (0 = unlimited)", "0", 0, 1000, NULL},
    {"min_samples_split", MB_PARAM_INT, "minimum rows in a node to split it", "2", 2, 1e12, NULL},
    {"min_samples_leaf", MB_PARAM_INT, "minimum rows in a leaf", "1", 1, 1e12, NULL},
    {"min_impurity_decrease", MB_PARAM_REAL, "minimum weighted impurity decrease of a split", "0", 0, INF, NULL},
    {"max_features", MB_PARAM_REAL, "fraction of features tried per split (0 or 1 = all)", "1", 0, 1, NULL},
    {"ccp_alpha", MB_PARAM_REAL, "cost-complexity pruning strength (0 = no pruning)", "0", 0, INF, NULL},
    {"max_bins", MB_PARAM_INT, "quantile bins per feature (missing values get their own)", "255", 2, 255, NULL},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void apply_params(mbt_params *p, const mb_param_spec *spec, size_t n, const mb_param_value *v)
{
    for (size_t i = 0; i < n; i++) {
        const char *k = spec[i].name;
        if (!strcmp(k, "n_trees")) p->n_trees = v[i].i;
        else if (!strcmp(k, "learning_rate")) p->learning_rate = v[i].real;
        else if (!strcmp(k, "max_depth")) p->max_depth = v[i].i;
        else if (!strcmp(k, "max_leaves")) p->max_leaves = v[i].i;
        else if (!strcmp(k, "growth")) p->growth = v[i].i;
        else if (!strcmp(k, "loss")) p->loss = v[i].i;
        else if (!strcmp(k, "huber_delta")) p->huber_delta = v[i].real;
        else if (!strcmp(k, "lambda_l2")) p->lambda_l2 = v[i].real;
        else if (!strcmp(k, "lambda_l1")) p->lambda_l1 = v[i].real;
        else if (!strcmp(k, "min_child_weight")) p->min_child_weight = v[i].real;
        else if (!strcmp(k, "min_samples_leaf")) p->min_samples_leaf = v[i].i;
        else if (!strcmp(k, "min_split_gain")) p->min_split_gain = v[i].real;
        else if (!strcmp(k, "subsample")) p->subsample = v[i].real;
        else if (!strcmp(k, "colsample")) p->colsample = v[i].real;
        else if (!strcmp(k, "max_bins")) p->max_bins = v[i].i;
        else if (!strcmp(k, "early_stopping_rounds")) p->early_stopping_rounds = v[i].i;
        else if (!strcmp(k, "validation_fraction")) p->validation_fraction = v[i].real;
        else if (!strcmp(k, "criterion")) p->criterion = v[i].i;
        else if (!strcmp(k, "min_samples_split")) p->min_samples_split = v[i].i;
        else if (!strcmp(k, "min_impurity_decrease")) p->min_impurity_decrease = v[i].real;
        else if (!strcmp(k, "max_features")) p->max_features = v[i].real;
        else if (!strcmp(k, "bootstrap")) p->bootstrap = (int)v[i].i;
        else if (!strcmp(k, "max_samples")) p->max_samples = v[i].real;
        else if (!strcmp(k, "oob_score")) p->oob_score = (int)v[i].i;
        else if (!strcmp(k, "ccp_alpha")) p->ccp_alpha = v[i].real;
    }
}

/* {====== calls ======} */

static int create_kind(mbt_kind kind, const mb_param_spec *spec, size_t n, const mb_param_value *v,
                       const mb_host *host, void **model, char *err)
{
    mbt_model *m = mbt_calloc(host, 1, sizeof *m);
    if (!m)
        return mbt_fail(err, MB_PLUGIN_ENOMEM, "out of memory");
    m->kind = kind;
    m->host = host;
    m->oob_score = NAN;
    m->best_iteration = -1;
    m->train_loss = m->valid_loss = NAN;
    m->threads = 1;
    /* defaults for what a type's table does not set */
    m->p.n_trees = 1;
    m->p.min_samples_leaf = 1;
    m->p.max_bins = 255;
    m->p.min_samples_split = 2;
    m->p.max_features = 1.0;
    m->p.max_samples = 1.0;
    m->p.learning_rate = 1.0;
    m->p.subsample = 1.0;
    m->p.colsample = 1.0;
    m->p.validation_fraction = 0.1;
    m->p.huber_delta = 1.0;
    apply_params(&m->p, spec, n, v);
    *model = m;
    return MB_PLUGIN_OK;
}

static int gbdt_create(const mb_param_value *v, const mb_host *host, void **model, char *err)
{
    return create_kind(MBT_GBDT, gbdt_params, COUNT(gbdt_params), v, host, model, err);
}

static int forest_create(const mb_param_value *v, const mb_host *host, void **model, char *err)
{
    return create_kind(MBT_FOREST, forest_params, COUNT(forest_params), v, host, model, err);
}

static int cart_create(const mb_param_value *v, const mb_host *host, void **model, char *err)
{
    return create_kind(MBT_CART, cart_params, COUNT(cart_params), v, host, model, err);
}

/* {====== what the fit found ======} */

/* Leaves and depth (edges from the root to the deepest leaf) of the tree
** rooted at root: children always come after their parent, so one pass
** over the tree's nodes in index order sees every parent first. */
static void tree_shape(const mbt_model *m, int32_t root, int32_t end, int32_t *leaves, int32_t *depth,
                       int32_t *scratch)
{
    const mbt_ensemble *e = &m->ens;
    *leaves = *depth = 0;
    scratch[0] = 0;
    for (int32_t i = root; i < end; i++) {
        int32_t d = scratch[i - root];
        if (e->feature[i] < 0) {
            (*leaves)++;
            if (d > *depth)
                *depth = d;
        } else {
            scratch[e->left[i] - root] = d + 1;
            scratch[e->right[i] - root] = d + 1;
        }
    }
}

static void put_info(mbt_model *m, const char *name, double v)
{
    m->info_names[m->info_n] = name;
    m->info_values[m->info_n++] = v;
}

/* Refresh what fit_info reports (after fit and load):
**   cart:   n_leaves, depth
**   forest: n_trees, oob_score (when computed)
**   gbdt:   n_trees (kept; multiclass: also n_rounds and trees_per_round,
**           one tree per class each round), best_iteration (the best round, when early
**           stopping watched a validation loss), train_loss and valid_loss
**           (mean losses of the kept model, when known), n_held_out (the
**           training rows held out for early stopping, when any: train_loss
**           is over the others, valid_loss over them) */
static void set_info(mbt_model *m)
{
    const mbt_ensemble *e = &m->ens;
    m->info_n = 0;
    if (m->kind == MBT_CART) {
        int32_t leaves = 0, depth = 0;
        if (e->ntrees >= 1) {
            int32_t root = e->root[0], end = e->ntrees > 1 ? e->root[1] : (int32_t)e->nnodes;
            int32_t *scratch = mbt_alloc(m->host, (size_t)(end - root) * sizeof *scratch);
            if (!scratch)
                return; /* out of memory: report nothing rather than fail the fit */
            tree_shape(m, root, end, &leaves, &depth, scratch);
            mbt_free(m->host, scratch);
        }
        put_info(m, "n_leaves", (double)leaves);
        put_info(m, "depth", (double)depth);
        return;
    }
    put_info(m, "n_trees", (double)e->ntrees);
    if (m->kind == MBT_FOREST) {
        if (!isnan(m->oob_score))
            put_info(m, "oob_score", m->oob_score);
        return;
    }
    if (e->noutputs > 1 && e->leaf_width == 1) { /* multiclass: one tree per class each round */
        put_info(m, "n_rounds", (double)(e->ntrees / e->noutputs));
        put_info(m, "trees_per_round", (double)e->noutputs);
    }
    if (m->early_stopping != 0 && m->best_iteration > 0)
        put_info(m, "best_iteration", (double)m->best_iteration);
    if (!isnan(m->train_loss))
        put_info(m, "train_loss", m->train_loss);
    if (!isnan(m->valid_loss))
        put_info(m, "valid_loss", m->valid_loss);
    if (m->n_held_out > 0)
        put_info(m, "n_held_out", (double)m->n_held_out);
}

static int trees_fit_info(void *model, mb_fit_info *out, char *err)
{
    mbt_model *m = model;
    (void)err;
    out->n = m->fitted ? m->info_n : 0;
    out->names = m->info_names;
    out->values = m->info_values;
    return MB_PLUGIN_OK;
}

static int trees_fit(void *model, const mb_dataset *train, const mb_dataset *valid, const mb_fit_context *ctx,
                     char *err)
{
    mbt_model *m = model;
    mb_fit_context local = {sizeof local, m->host, 1, 0, NULL, NULL, NULL};
    if (!ctx)
        ctx = &local;
    if (!train || !train->X.x || train->X.rows == 0 || train->X.cols == 0 || !train->y)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "empty training data");
    if (train->X.ld < train->X.cols)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "matrix row stride %zu is below its %zu columns", train->X.ld,
                        train->X.cols);
    if (train->task != MB_TASK_REGRESSION && train->nclasses < 2)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "classification needs at least 2 classes");
    if (valid && (valid->X.cols != train->X.cols || !valid->y))
        return mbt_fail(err, MB_PLUGIN_EINVAL, "validation data must have the training data's %zu features",
                        train->X.cols);
    if (valid && valid->X.rows == 0)
        valid = NULL;
    mbt_model_clear(m);
    m->oob_score = NAN;
    m->best_iteration = -1;
    m->early_stopping = 0;
    m->train_loss = m->valid_loss = NAN;
    int rc = m->kind == MBT_GBDT ? mbt_gbdt_fit(m, train, valid, ctx, err)
                                 : mbt_forest_fit(m, train, valid, ctx, err);
    if (rc == MB_PLUGIN_OK)
        set_info(m);
    return rc;
}

/* Outputs after the link into a buffer: out (rows x noutputs). */
static int outputs(mbt_model *m, const mb_matrix *X, double **buf, double *stackbuf, size_t nstack,
                   char *err)
{
    if (!m->fitted)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    size_t K = m->ens.noutputs;
    if (X->rows && K > SIZE_MAX / sizeof(double) / X->rows)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "too many rows");
    *buf = X->rows * K <= nstack ? stackbuf : mbt_alloc(m->host, X->rows * K * sizeof(double));
    if (!*buf)
        return mbt_fail(err, MB_PLUGIN_ENOMEM, "out of memory for %zu predictions", X->rows);
    int rc = mbt_predict_out(m, X, *buf, err);
    if (rc != MB_PLUGIN_OK && *buf != stackbuf) {
        mbt_free(m->host, *buf);
        *buf = NULL;
    }
    return rc;
}

static int trees_predict(void *model, const mb_matrix *X, float *out, char *err)
{
    mbt_model *m = model;
    double stack[256], *o;
    int rc = outputs(m, X, &o, stack, 256, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    size_t K = m->ens.noutputs;
    for (size_t i = 0; i < X->rows; i++) {
        const double *r = o + i * K;
        if (m->task == MB_TASK_REGRESSION) {
            out[i] = (float)r[0];
        } else if (K == 1) {
            out[i] = r[0] > 0.5 ? 1.0f : 0.0f;
        } else {
            size_t best = 0;
            for (size_t k = 1; k < K; k++)
                if (r[k] > r[best])
                    best = k;
            out[i] = (float)best;
        }
    }
    if (o != stack)
        mbt_free(m->host, o);
    return MB_PLUGIN_OK;
}

static int trees_predict_proba(void *model, const mb_matrix *X, float *out, char *err)
{
    mbt_model *m = model;
    if (m->fitted && m->task == MB_TASK_REGRESSION)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "a regression model has no class probabilities");
    double stack[256], *o;
    int rc = outputs(m, X, &o, stack, 256, err);
    if (rc != MB_PLUGIN_OK)
        return rc;
    size_t K = m->ens.noutputs;
    for (size_t i = 0; i < X->rows; i++) {
        if (K == 1) {
            out[2 * i] = (float)(1.0 - o[i]);
            out[2 * i + 1] = (float)o[i];
        } else {
            for (size_t k = 0; k < K; k++)
                out[i * K + k] = (float)o[i * K + k];
        }
    }
    if (o != stack)
        mbt_free(m->host, o);
    return MB_PLUGIN_OK;
}

static int trees_save(void *model, const mb_state_writer *w, char *err) { return mbt_save(model, w, err); }

static int trees_load(void *model, const mb_state_reader *r, char *err)
{
    mbt_model *m = model;
    int rc = mbt_load(m, r, err);
    if (rc == MB_PLUGIN_OK) {
        m->threads = 2;
        set_info(m);
    }
    return rc;
}

static int trees_portable(void *model, mb_portable *out, char *err)
{
    mbt_model *m = model;
    if (!m->fitted)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    const mbt_ensemble *e = &m->ens;
    memset(out, 0, sizeof *out);
    out->kind = MB_FORM_TREES;
    mb_tree_form *t = &out->u.trees;
    t->nfeatures = e->nfeatures;
    t->noutputs = e->noutputs;
    t->ntrees = e->ntrees;
    t->nnodes = e->nnodes;
    t->leaf_width = e->leaf_width;
    t->root = e->root;
    t->tree_output = e->tree_output;
    t->feature = e->feature;
    t->threshold = e->threshold;
    t->default_left = e->default_left;
    t->left = e->left;
    t->right = e->right;
    t->value = e->value;
    t->base_score = e->base_score;
    t->average = e->average;
    t->link = e->link;
    t->cover = e->cover;
    return MB_PLUGIN_OK;
}

static int trees_importance(void *model, int kind, double *out, char *err)
{
    mbt_model *m = model;
    if (!m->fitted)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    if (kind != 0 && kind != 1)
        return mbt_fail(err, MB_PLUGIN_EINVAL, "importance kind is 0 (split count) or 1 (total gain)");
    const mbt_ensemble *e = &m->ens;
    for (size_t f = 0; f < e->nfeatures; f++)
        out[f] = 0.0;
    for (size_t i = 0; i < e->nnodes; i++)
        if (e->feature[i] >= 0)
            out[e->feature[i]] += kind == 0 ? 1.0 : e->gain[i];
    return MB_PLUGIN_OK;
}

static void trees_destroy(void *model)
{
    mbt_model *m = model;
    if (!m)
        return;
    mbt_model_clear(m);
    mbt_free(m->host, m);
}

/* {====== the plugin ======} */

#define ALL_TASKS (MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS)

static const mb_model_type gbdt_type = {
    sizeof(mb_model_type), "gbdt",
    "histogram gradient-boosted trees (squared, absolute, huber, logloss, softmax; early stopping)",
    ALL_TASKS, gbdt_params, COUNT(gbdt_params), gbdt_create, trees_fit, trees_predict,
    trees_predict_proba, trees_save, trees_load, trees_portable, trees_importance, trees_destroy,
    trees_fit_info, NULL /* dims: bundles score through the portable form */};

static const mb_model_type forest_type = {
    sizeof(mb_model_type), "forest", "random forest on binned features (bootstrap, per-split feature sampling, OOB score)",
    ALL_TASKS, forest_params, COUNT(forest_params), forest_create, trees_fit, trees_predict,
    trees_predict_proba, trees_save, trees_load, trees_portable, trees_importance, trees_destroy,
    trees_fit_info, NULL /* dims: bundles score through the portable form */};

static const mb_model_type cart_type = {
    sizeof(mb_model_type), "cart", "one decision tree (gini, entropy, squared error; cost-complexity pruning)",
    ALL_TASKS, cart_params, COUNT(cart_params), cart_create, trees_fit, trees_predict,
    trees_predict_proba, trees_save, trees_load, trees_portable, trees_importance, trees_destroy,
    trees_fit_info, NULL /* dims: bundles score through the portable form */};

static const mb_model_type *const models[] = {&cart_type, &forest_type, &gbdt_type};

static const mb_plugin plugin = {MB_PLUGIN_ABI, "trees", "1.0.0",
                                 "decision trees, random forests and gradient-boosted trees",
                                 COUNT(models), models};

const mb_plugin *moonbench_plugin(unsigned host_abi);

const mb_plugin *moonbench_plugin(unsigned host_abi)
{
    (void)host_abi;
    return &plugin;
}
