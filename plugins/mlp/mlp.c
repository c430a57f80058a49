/*
** mlp.c: the MLP plugin's entry point and ABI glue: the "mlp" model type,
** its parameter table, create / predict / save / load / portable form.
** Training lives in mlp_train.c and the arithmetic in mlp_net.c.
**
** Prediction: batches go through cblas_sgemm (in chunks, with the
** threads fit set); up to MBMLP_ROW_PATH rows go through the one-row
** kernel, which needs no BLAS and no threads (single-row latency).
**
** Saved state (named arrays, see moonbench_plugin.h): "mlp_format" (i32,
** 1), "config" (i32: task, nclasses, hidden activation, output kind),
** "leaky_alpha" (f32), "widths" (i64, nlayers + 1), and per layer l
** "weight_l" (f32, out x in) and "bias_l" (f32, out). Weights are saved
** after standardisation was folded in: they take raw inputs. Optional
** (absent from states saved before it was added): "fit_stats" (f64:
** epochs, best_epoch, train_loss, valid_loss), what fit_info reports.
*/
#include "mlp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MBMLP_ROW_PATH 4   /* at most this many rows: the one-row kernel */
#define MBMLP_CHUNK 1024   /* rows per sgemm chunk when predicting */

/* {====== parameters ======} */

static const char *const act_choices[] = {"relu", "leaky_relu", "tanh", "sigmoid", "gelu", NULL};
static const mb_activation act_values[] = {MB_ACT_RELU, MB_ACT_LEAKY_RELU, MB_ACT_TANH, MB_ACT_SIGMOID,
                                           MB_ACT_GELU};
static const char *const loss_choices[] = {"auto", "squared", "huber", NULL};
static const char *const opt_choices[] = {"adam", "adamw", "sgd", NULL};
static const char *const sched_choices[] = {"constant", "step", "cosine", "plateau", NULL};
static const char *const init_choices[] = {"auto", "he", "glorot", NULL};

enum {
    P_HIDDEN, P_ACT, P_LEAKY, P_LOSS, P_HUBER, P_OPT, P_LR, P_MOMENTUM, P_NESTEROV, P_BETA1, P_BETA2,
    P_EPS, P_SCHED, P_LR_STEP, P_LR_GAMMA, P_LR_PATIENCE, P_WD, P_DROPOUT, P_BATCH, P_EPOCHS, P_ES,
    P_TOL, P_INIT, P_STD, P_COUNT
};

static const mb_param_spec mlp_params[P_COUNT] = {
    {"hidden_layers", MB_PARAM_INTS, "widths of the hidden layers, input side first (\"256,128\")", "100",
     1, 65536, NULL},
    {"activation", MB_PARAM_CHOICE, "activation of the hidden layers", "relu", 0, 0, act_choices},
    {"leaky_alpha", MB_PARAM_REAL, "slope of leaky_relu for negative inputs", "0.01", 0, 1, NULL},
    {"loss", MB_PARAM_CHOICE,
     "regression loss (classification always uses cross-entropy / log-loss)", "auto", 0, 0, loss_choices},
    {"huber_delta", MB_PARAM_REAL, "Huber threshold, in standard deviations of the target", "1", 1e-6,
     HUGE_VAL, NULL},
    {"optimizer", MB_PARAM_CHOICE, "adam, adamw (decoupled weight decay) or sgd (with momentum)", "adam", 0,
     0, opt_choices},
    {"learning_rate", MB_PARAM_REAL, "initial learning rate", "0.001", 1e-12, 10, NULL},
    {"momentum", MB_PARAM_REAL, "sgd momentum", "0.9", 0, 0.999, NULL},
    {"nesterov", MB_PARAM_BOOL, "sgd: Nesterov momentum", "true", 0, 1, NULL},
    {"beta1", MB_PARAM_REAL, "adam: decay of the first moment", "0.9", 0, 0.9999, NULL},
    {"beta2", MB_PARAM_REAL, "adam: decay of the second moment", "0.999", 0, 0.999999, NULL},
    {"epsilon", MB_PARAM_REAL, "adam: added to the denominator", "1e-8", 1e-30, 1, NULL},
    {"schedule", MB_PARAM_CHOICE,
     "learning-rate schedule: constant, step (x lr_gamma every lr_step epochs), cosine (to 0 at the "
     "last epoch), plateau (x lr_gamma after lr_patience epochs without improvement)",
     "constant", 0, 0, sched_choices},
    {"lr_step", MB_PARAM_INT, "step schedule: epochs between decays", "30", 1, 1e9, NULL},
    {"lr_gamma", MB_PARAM_REAL, "step and plateau schedules: learning-rate factor", "0.1", 1e-6, 1, NULL},
    {"lr_patience", MB_PARAM_INT, "plateau schedule: epochs without improvement before a decay", "5", 1, 1e9,
     NULL},
    {"weight_decay", MB_PARAM_REAL,
     "L2 penalty on weights (not biases); adamw applies it decoupled", "0", 0, HUGE_VAL, NULL},
    {"dropout", MB_PARAM_REAL, "probability of dropping a hidden unit while training", "0", 0, 0.95, NULL},
    {"batch_size", MB_PARAM_INT, "rows per mini-batch (shuffled each epoch)", "256", 1, 1 << 20, NULL},
    {"epochs", MB_PARAM_INT, "maximum number of passes over the training data", "200", 1, 1e9, NULL},
    {"early_stopping_rounds", MB_PARAM_INT,
     "stop after this many epochs without improvement of the validation loss (the training loss "
     "without a validation set) by more than tol; 0: never. With a validation set the best weights "
     "are restored",
     "10", 0, 1e9, NULL},
    {"tol", MB_PARAM_REAL, "an improvement smaller than this does not count", "1e-4", 0, HUGE_VAL, NULL},
    {"init", MB_PARAM_CHOICE,
     "weight initialisation: he (normal), glorot (uniform), auto = glorot as in scikit-learn", "auto",
     0, 0, init_choices},
    {"standardize", MB_PARAM_BOOL,
     "standardise inputs with the training mean and std inside fit (folded into the first layer, so "
     "the model still takes raw inputs)",
     "false", 0, 1, NULL},
};

/* {====== create / destroy ======} */

static int mlp_create(const mb_param_value *v, const mb_host *host, void **out, char *err)
{
    if (v[P_HIDDEN].nints > 64)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "hidden_layers: at most 64 layers, got %zu", v[P_HIDDEN].nints);
    mbmlp_model *m = host->xmalloc(sizeof *m);
    if (!m)
        return mbmlp_fail(err, MB_PLUGIN_ENOMEM, "no memory for the model");
    memset(m, 0, sizeof *m);
    m->host = host;
    mbmlp_params *p = &m->p;
    p->nhidden = v[P_HIDDEN].nints;
    for (size_t i = 0; i < p->nhidden; i++)
        p->hidden[i] = (size_t)v[P_HIDDEN].ints[i];
    p->act = act_values[v[P_ACT].i];
    p->leaky_alpha = (float)v[P_LEAKY].real;
    p->loss = (int)v[P_LOSS].i;
    p->huber_delta = v[P_HUBER].real;
    p->optimizer = (int)v[P_OPT].i;
    p->lr = v[P_LR].real;
    p->momentum = v[P_MOMENTUM].real;
    p->nesterov = (int)v[P_NESTEROV].i;
    p->beta1 = v[P_BETA1].real;
    p->beta2 = v[P_BETA2].real;
    p->eps = v[P_EPS].real;
    p->schedule = (int)v[P_SCHED].i;
    p->lr_step = v[P_LR_STEP].i;
    p->lr_gamma = v[P_LR_GAMMA].real;
    p->lr_patience = v[P_LR_PATIENCE].i;
    p->weight_decay = v[P_WD].real;
    p->dropout = v[P_DROPOUT].real;
    p->batch_size = v[P_BATCH].i;
    p->epochs = v[P_EPOCHS].i;
    p->es_rounds = v[P_ES].i;
    p->tol = v[P_TOL].real;
    p->init = (int)v[P_INIT].i;
    p->standardize = (int)v[P_STD].i;
    *out = m;
    return MB_PLUGIN_OK;
}

static void mlp_destroy(void *model)
{
    mbmlp_model *m = model;
    if (!m)
        return;
    const mb_host *h = m->host;
    mbmlp_net_free(&m->net, h);
    if (m->wt)
        h->xfree(m->wt);
    h->xfree(m);
}

static int mlp_fit(void *model, const mb_dataset *train, const mb_dataset *valid, const mb_fit_context *ctx,
                   char *err)
{
    return mbmlp_fit(model, train, valid, ctx, err);
}

/* {====== prediction ======} */

/* Raw outputs (rows x nout) of X into out, then the link when link. */
static int raw_outputs(mbmlp_model *m, const mb_matrix *X, float *out, int link, char *err)
{
    const mbmlp_net *n = &m->net;
    if (!m->fitted)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    if (X->cols != n->width[0] || X->ld < X->cols)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "the model takes %zu features, this data has %zu", n->width[0],
                          X->cols);
    size_t k = mbmlp_nout(n), maxw = mbmlp_maxwidth(n);
    if (X->rows == 0)
        return MB_PLUGIN_OK;
    if (X->rows <= MBMLP_ROW_PATH) {
        float h[2 * 512];
        float *hp = 2 * maxw <= sizeof h / sizeof h[0] ? h : m->host->xmalloc(2 * maxw * sizeof(float));
        if (!hp)
            return mbmlp_fail(err, MB_PLUGIN_ENOMEM, "no memory to predict");
        for (size_t i = 0; i < X->rows; i++)
            mbmlp_forward_row(n, m->wt, X->x + i * X->ld, hp, out + i * k);
        if (hp != h)
            m->host->xfree(hp);
    } else {
        size_t chunk = X->rows < MBMLP_CHUNK ? X->rows : MBMLP_CHUNK, total = 0;
        float *acts[65];
        for (size_t l = 0; l < n->nlayers; l++)
            total += n->width[l + 1];
        float *buf = m->host->xmalloc(chunk * total * sizeof(float));
        if (!buf)
            return mbmlp_fail(err, MB_PLUGIN_ENOMEM, "no memory to predict");
        float *p = buf;
        for (size_t l = 0; l < n->nlayers; l++) {
            acts[l] = p;
            p += chunk * n->width[l + 1];
        }
        for (size_t s = 0; s < X->rows; s += chunk) {
            size_t rows = X->rows - s < chunk ? X->rows - s : chunk;
            float *last = acts[n->nlayers - 1];
            mbmlp_forward(n, X->x + s * X->ld, X->ld, rows, acts, NULL, NULL, 1.0f, NULL);
            memcpy(out + s * k, last, rows * k * sizeof(float));
        }
        m->host->xfree(buf);
    }
    if (link)
        mbmlp_link(n, out, X->rows);
    return MB_PLUGIN_OK;
}

static int mlp_predict(void *model, const mb_matrix *X, float *out, char *err)
{
    mbmlp_model *m = model;
    if (m->fitted && m->task == MB_TASK_MULTICLASS) {
        /* class indices: argmax of the raw outputs, a row at a time through a scratch buffer */
        size_t k = m->nclasses, rows = X->rows, step = MBMLP_CHUNK;
        float *raw = m->host->xmalloc((rows < step ? rows : step) * k * sizeof(float) + sizeof(float));
        if (!raw)
            return mbmlp_fail(err, MB_PLUGIN_ENOMEM, "no memory to predict");
        int rc = MB_PLUGIN_OK;
        for (size_t s = 0; s < rows && rc == MB_PLUGIN_OK; s += step) {
            size_t r = rows - s < step ? rows - s : step;
            mb_matrix sub = {X->x + s * X->ld, r, X->cols, X->ld};
            rc = raw_outputs(m, &sub, raw, 0, err);
            for (size_t i = 0; rc == MB_PLUGIN_OK && i < r; i++) {
                const float *z = raw + i * k;
                size_t am = 0;
                for (size_t c = 1; c < k; c++)
                    if (z[c] > z[am])
                        am = c;
                out[s + i] = (float)am;
            }
        }
        m->host->xfree(raw);
        return rc;
    }
    int rc = raw_outputs(m, X, out, 0, err);
    if (rc == MB_PLUGIN_OK && m->task == MB_TASK_BINARY)
        for (size_t i = 0; i < X->rows; i++)
            out[i] = out[i] > 0 ? 1.0f : 0.0f;
    return rc;
}

static int mlp_predict_proba(void *model, const mb_matrix *X, float *out, char *err)
{
    mbmlp_model *m = model;
    if (m->fitted && m->task == MB_TASK_REGRESSION)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "a regression model gives no class probabilities");
    int rc = raw_outputs(m, X, out, 1, err);
    if (rc == MB_PLUGIN_OK && m->task == MB_TASK_BINARY)
        /* p(1) is in out[i]; spread to two columns, from the end backwards */
        for (size_t i = X->rows; i-- > 0;) {
            float p1 = out[i];
            out[2 * i + 1] = p1;
            out[2 * i] = 1.0f - p1;
        }
    return rc;
}

/* {====== save / load ======} */

static int mlp_save(void *model, const mb_state_writer *w, char *err)
{
    mbmlp_model *m = model;
    const mbmlp_net *n = &m->net;
    if (!m->fitted)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted: nothing to save");
    int32_t version = 1;
    int32_t config[4] = {(int32_t)m->task, (int32_t)m->nclasses, (int32_t)n->act, (int32_t)n->out};
    int64_t widths[66];
    for (size_t l = 0; l <= n->nlayers; l++)
        widths[l] = (int64_t)n->width[l];
    int rc;
    if ((rc = w->put(w->ud, "mlp_format", MB_DT_I32, &version, 1)) ||
        (rc = w->put(w->ud, "config", MB_DT_I32, config, 4)) ||
        (rc = w->put(w->ud, "leaky_alpha", MB_DT_F32, &n->alpha, 1)) ||
        (rc = w->put(w->ud, "widths", MB_DT_I64, widths, n->nlayers + 1)))
        return mbmlp_fail(err, rc, "cannot save the model's configuration");
    for (size_t l = 0; l < n->nlayers; l++) {
        char name[32];
        snprintf(name, sizeof name, "weight_%zu", l);
        if ((rc = w->put(w->ud, name, MB_DT_F32, n->params + n->woff[l], n->width[l] * n->width[l + 1])))
            return mbmlp_fail(err, rc, "cannot save %s", name);
        snprintf(name, sizeof name, "bias_%zu", l);
        if ((rc = w->put(w->ud, name, MB_DT_F32, n->params + n->boff[l], n->width[l + 1])))
            return mbmlp_fail(err, rc, "cannot save %s", name);
    }
    if (m->info_n == 4 && (rc = w->put(w->ud, "fit_stats", MB_DT_F64, m->info_values, 4)))
        return mbmlp_fail(err, rc, "cannot save fit_stats");
    return MB_PLUGIN_OK;
}

/* Read an array of exactly count elements. */
static int get_exact(const mb_state_reader *r, const char *name, mb_dtype t, void *data, size_t count, char *err)
{
    mb_dtype have;
    size_t n;
    if (r->size(r->ud, name, &have, &n) != MB_PLUGIN_OK)
        return mbmlp_fail(err, MB_PLUGIN_EFORMAT, "saved MLP state has no '%s'", name);
    if (n != count)
        return mbmlp_fail(err, MB_PLUGIN_EFORMAT, "saved MLP state: '%s' has %zu values, expected %zu", name, n,
                          count);
    if (r->get(r->ud, name, t, data, count) != MB_PLUGIN_OK)
        return mbmlp_fail(err, MB_PLUGIN_EFORMAT, "saved MLP state: cannot read '%s'", name);
    return MB_PLUGIN_OK;
}

static int mlp_load(void *model, const mb_state_reader *r, char *err)
{
    mbmlp_model *m = model;
    const mb_host *h = m->host;
    int32_t version, config[4];
    float alpha;
    int64_t widths[66];
    size_t nw;
    mb_dtype t;
    int rc;
    if ((rc = get_exact(r, "mlp_format", MB_DT_I32, &version, 1, err)))
        return rc;
    if (version != 1)
        return mbmlp_fail(err, MB_PLUGIN_EFORMAT, "saved MLP state has format %d; this plugin reads 1", (int)version);
    if ((rc = get_exact(r, "config", MB_DT_I32, config, 4, err)) ||
        (rc = get_exact(r, "leaky_alpha", MB_DT_F32, &alpha, 1, err)))
        return rc;
    if (r->size(r->ud, "widths", &t, &nw) != MB_PLUGIN_OK || nw < 2 || nw > 66)
        return mbmlp_fail(err, MB_PLUGIN_EFORMAT, "saved MLP state: missing or bad 'widths'");
    if ((rc = get_exact(r, "widths", MB_DT_I64, widths, nw, err)))
        return rc;
    mb_task task = (mb_task)config[0];
    size_t nclasses = config[1] > 0 ? (size_t)config[1] : 0, nout = (size_t)widths[nw - 1];
    int okcfg = (task == MB_TASK_REGRESSION && (config[3] == MBMLP_OUT_SQUARED || config[3] == MBMLP_OUT_HUBER) &&
                 nout == 1) ||
                (task == MB_TASK_BINARY && config[3] == MBMLP_OUT_SIGMOID && nout == 1 && nclasses == 2) ||
                (task == MB_TASK_MULTICLASS && config[3] == MBMLP_OUT_SOFTMAX && nout == nclasses && nout >= 2);
    okcfg = okcfg && config[2] >= MB_ACT_IDENTITY && config[2] <= MB_ACT_GELU;
    size_t width[66];
    for (size_t l = 0; l < nw; l++) {
        if (widths[l] < 1 || widths[l] > (1 << 24))
            okcfg = 0;
        width[l] = (size_t)widths[l];
    }
    if (!okcfg)
        return mbmlp_fail(err, MB_PLUGIN_EFORMAT, "saved MLP state: inconsistent configuration");
    mbmlp_net net;
    memset(&net, 0, sizeof net);
    net.act = (mb_activation)config[2];
    net.alpha = alpha;
    net.out = (mbmlp_out)config[3];
    if ((rc = mbmlp_net_alloc(&net, h, nw - 1, width)))
        return mbmlp_fail(err, rc, "no memory for the saved model");
    float *wt = NULL;
    for (size_t l = 0; l + 1 < nw; l++) {
        char name[32];
        snprintf(name, sizeof name, "weight_%zu", l);
        if ((rc = get_exact(r, name, MB_DT_F32, net.params + net.woff[l], width[l] * width[l + 1], err)))
            goto fail;
        snprintf(name, sizeof name, "bias_%zu", l);
        if ((rc = get_exact(r, name, MB_DT_F32, net.params + net.boff[l], width[l + 1], err)))
            goto fail;
    }
    wt = h->xmalloc(net.nparams * sizeof(float) + 64);
    if (!wt) {
        rc = mbmlp_fail(err, MB_PLUGIN_ENOMEM, "no memory for the saved model");
        goto fail;
    }
    mbmlp_transpose(&net, wt);
    mbmlp_net_free(&m->net, h);
    if (m->wt)
        h->xfree(m->wt);
    m->net = net;
    m->wt = wt;
    m->task = task;
    m->nclasses = task == MB_TASK_REGRESSION ? 0 : nclasses;
    m->fitted = 1;
    size_t ns;
    m->info_n = 0;
    if (r->size(r->ud, "fit_stats", &t, &ns) == MB_PLUGIN_OK && ns == 4 &&
        r->get(r->ud, "fit_stats", MB_DT_F64, m->info_values, 4) == MB_PLUGIN_OK)
        m->info_n = 4;
    return MB_PLUGIN_OK;
fail:
    mbmlp_net_free(&net, h);
    return rc;
}

/* {====== portable form ======} */

static int mlp_portable(void *model, mb_portable *out, char *err)
{
    mbmlp_model *m = model;
    const mbmlp_net *n = &m->net;
    if (!m->fitted)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "the model is not fitted");
    for (size_t l = 0; l < n->nlayers; l++) {
        mb_mlp_layer *L = &m->layers[l];
        L->in = n->width[l];
        L->out = n->width[l + 1];
        L->weight = n->params + n->woff[l];
        L->bias = n->params + n->boff[l];
        L->act = l + 1 < n->nlayers ? n->act : MB_ACT_IDENTITY;
        L->alpha = n->alpha;
    }
    memset(out, 0, sizeof *out);
    out->kind = MB_FORM_MLP;
    out->u.mlp.nlayers = n->nlayers;
    out->u.mlp.layers = m->layers;
    out->u.mlp.link = n->out == MBMLP_OUT_SOFTMAX   ? MB_LINK_SOFTMAX
                      : n->out == MBMLP_OUT_SIGMOID ? MB_LINK_LOGISTIC
                                                    : MB_LINK_IDENTITY;
    return MB_PLUGIN_OK;
}

/* {====== what the fit found ======} */

static const char *const info_names[] = {"epochs", "best_epoch", "train_loss", "valid_loss"};

static int mlp_fit_info(void *model, mb_fit_info *out, char *err)
{
    mbmlp_model *m = model;
    (void)err;
    out->n = m->fitted ? m->info_n : 0;
    out->names = info_names;
    out->values = m->info_values;
    return MB_PLUGIN_OK;
}

/* {====== plugin ======} */

static const mb_model_type mlp_type = {
    sizeof(mb_model_type),
    "mlp",
    "multilayer perceptron (relu/tanh/gelu..., Adam/SGD, dropout, early stopping) on OpenBLAS sgemm",
    MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS,
    mlp_params,
    P_COUNT,
    mlp_create,
    mlp_fit,
    mlp_predict,
    mlp_predict_proba,
    mlp_save,
    mlp_load,
    mlp_portable,
    NULL,
    mlp_destroy,
    mlp_fit_info,
    NULL, /* dims: bundles score through the portable form, not this plugin */
};

static const mb_model_type *const mlp_models[] = {&mlp_type};

static const mb_plugin mlp_plugin = {
    MB_PLUGIN_ABI, "mlp", "1.0.0", "multilayer perceptrons for tabular data", 1, mlp_models,
};

const mb_plugin *moonbench_plugin(unsigned host_abi);

const mb_plugin *moonbench_plugin(unsigned host_abi)
{
    (void)host_abi;
    return &mlp_plugin;
}
