/*
** portable.c: scoring from portable forms (see portable.h). Written for
** clarity and safety first: every index is checked once by
** mb_portable_check, so the scoring loops can trust the form.
*/
#include "portable.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t mb_portable_noutputs(const mb_portable *p)
{
    switch (p->kind) {
    case MB_FORM_LINEAR:
        return p->u.linear.noutputs;
    case MB_FORM_TREES:
        return p->u.trees.noutputs;
    case MB_FORM_MLP:
        return p->u.mlp.nlayers ? p->u.mlp.layers[p->u.mlp.nlayers - 1].out : 0;
    default:
        return 0;
    }
}

size_t mb_portable_nfeatures(const mb_portable *p)
{
    switch (p->kind) {
    case MB_FORM_LINEAR:
        return p->u.linear.nfeatures;
    case MB_FORM_TREES:
        return p->u.trees.nfeatures;
    case MB_FORM_MLP:
        return p->u.mlp.nlayers ? p->u.mlp.layers[0].in : 0;
    default:
        return 0;
    }
}

mb_status mb_portable_check(const mb_portable *p, mb_error *err)
{
    switch (p->kind) {
    case MB_FORM_LINEAR: {
        const mb_linear_form *l = &p->u.linear;
        if (!l->noutputs || !l->coef || !l->intercept)
            return mb_fail(err, MB_EFORMAT, "linear form: no outputs or no coefficients");
        return MB_OK;
    }
    case MB_FORM_TREES: {
        const mb_tree_form *t = &p->u.trees;
        if (!t->noutputs || !t->ntrees || !t->nnodes || (t->leaf_width != 1 && t->leaf_width != t->noutputs))
            return mb_fail(err, MB_EFORMAT, "tree form: bad sizes (%zu outputs, %zu trees, %zu nodes, leaf width %zu)",
                           t->noutputs, t->ntrees, t->nnodes, t->leaf_width);
        for (size_t k = 0; k < t->ntrees; k++) {
            if (t->root[k] < 0 || (size_t)t->root[k] >= t->nnodes)
                return mb_fail(err, MB_EFORMAT, "tree form: tree %zu has root %d of %zu nodes", k,
                               (int)t->root[k], t->nnodes);
            if (t->leaf_width == 1 && (!t->tree_output || t->tree_output[k] < 0 ||
                                       (size_t)t->tree_output[k] >= t->noutputs))
                return mb_fail(err, MB_EFORMAT, "tree form: tree %zu adds to no valid output", k);
        }
        for (size_t n = 0; n < t->nnodes; n++) {
            if (t->feature[n] < 0)
                continue;
            /* children must come after their parent: no cycles, bounded paths */
            if ((size_t)t->feature[n] >= t->nfeatures || t->left[n] <= (int32_t)n ||
                t->right[n] <= (int32_t)n || (size_t)t->left[n] >= t->nnodes ||
                (size_t)t->right[n] >= t->nnodes)
                return mb_fail(err, MB_EFORMAT, "tree form: node %zu has feature %d, children %d/%d", n,
                               (int)t->feature[n], (int)t->left[n], (int)t->right[n]);
            /* x <= NaN is false for every x: no trainer makes such a split, and the
            ** scorers (the runtime's x > t walk, exported C, ONNX) would not agree on it */
            if (isnan(t->threshold[n]))
                return mb_fail(err, MB_EFORMAT, "tree form: node %zu: threshold is NaN; expected a number (or +-inf)",
                               n);
        }
        return MB_OK;
    }
    case MB_FORM_MLP: {
        const mb_mlp_form *m = &p->u.mlp;
        if (!m->nlayers || !m->layers)
            return mb_fail(err, MB_EFORMAT, "MLP form: no layers");
        for (size_t k = 0; k < m->nlayers; k++) {
            const mb_mlp_layer *l = &m->layers[k];
            if (!l->in || !l->out || !l->weight || !l->bias || (k && l->in != m->layers[k - 1].out) ||
                l->act > MB_ACT_GELU)
                return mb_fail(err, MB_EFORMAT, "MLP form: layer %zu is inconsistent (%zu -> %zu)", k,
                               l->in, l->out);
        }
        return MB_OK;
    }
    default:
        return mb_fail(err, MB_EFORMAT, "no portable form");
    }
}

void mb_portable_apply_link(mb_link link, double *v, size_t k)
{
    if (link == MB_LINK_LOGISTIC) {
        for (size_t i = 0; i < k; i++)
            v[i] = 1 / (1 + exp(-v[i]));
    } else if (link == MB_LINK_SOFTMAX) {
        double mx = v[0], s = 0;
        for (size_t i = 1; i < k; i++)
            mx = v[i] > mx ? v[i] : mx;
        for (size_t i = 0; i < k; i++)
            s += v[i] = exp(v[i] - mx);
        for (size_t i = 0; i < k; i++)
            v[i] /= s;
    }
}

double mb_portable_activate(mb_activation a, float alpha, double x)
{
    switch (a) {
    case MB_ACT_RELU:
        return x > 0 ? x : 0;
    case MB_ACT_LEAKY_RELU:
        return x > 0 ? x : (double)alpha * x;
    case MB_ACT_TANH:
        return tanh(x);
    case MB_ACT_SIGMOID:
        return 1 / (1 + exp(-x));
    case MB_ACT_GELU:
        return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    default:
        return x;
    }
}

size_t mb_portable_work_size(const mb_portable *p)
{
    if (p->kind != MB_FORM_MLP)
        return 0;
    /* widths rounded up to mb_mlp_plan's blocks of 8 outputs, so one
    ** scratch size serves both loops */
    size_t width = mb_portable_nfeatures(p);
    for (size_t l = 0; l < p->u.mlp.nlayers; l++) {
        size_t pad = (p->u.mlp.layers[l].out + 7) / 8 * 8;
        width = pad > width ? pad : width;
    }
    return 2 * width;
}

void mb_portable_predict_rows(const mb_portable *p, const mb_matrix *X, double *out, double *work)
{
    size_t nf = mb_portable_nfeatures(p), k = mb_portable_noutputs(p);
    if (p->kind == MB_FORM_LINEAR) {
        const mb_linear_form *l = &p->u.linear;
        for (size_t i = 0; i < X->rows; i++) {
            const float *x = X->x + i * X->ld;
            double *o = out + i * k;
            for (size_t c = 0; c < k; c++) {
                double s = l->intercept[c];
                for (size_t j = 0; j < nf; j++)
                    if (l->coef[c * nf + j] != 0) /* a feature the model ignores may be NaN */
                        s += l->coef[c * nf + j] * (double)x[j];
                o[c] = s;
            }
            mb_portable_apply_link(l->link, o, k);
        }
    } else if (p->kind == MB_FORM_TREES) {
        const mb_tree_form *t = &p->u.trees;
        for (size_t i = 0; i < X->rows; i++) {
            const float *x = X->x + i * X->ld;
            double *o = out + i * k;
            memset(o, 0, k * sizeof *o);
            for (size_t tr = 0; tr < t->ntrees; tr++) {
                int32_t n = t->root[tr];
                while (t->feature[n] >= 0) {
                    float v = x[t->feature[n]];
                    n = isnan(v) ? (t->default_left[n] ? t->left[n] : t->right[n])
                                 : (v <= t->threshold[n] ? t->left[n] : t->right[n]);
                }
                if (t->leaf_width == 1)
                    o[t->tree_output[tr]] += t->value[n];
                else
                    for (size_t c = 0; c < k; c++)
                        o[c] += t->value[(size_t)n * k + c];
            }
            for (size_t c = 0; c < k; c++)
                o[c] = (t->base_score ? t->base_score[c] : 0) + (t->average ? o[c] / (double)t->ntrees : o[c]);
            mb_portable_apply_link(t->link, o, k);
        }
    } else if (p->kind == MB_FORM_MLP) {
        const mb_mlp_form *m = &p->u.mlp;
        size_t width = mb_portable_work_size(p) / 2;
        for (size_t i = 0; i < X->rows; i++) {
            double *h = work, *g = work + width;
            for (size_t j = 0; j < nf; j++)
                h[j] = (double)X->x[i * X->ld + j];
            for (size_t l = 0; l < m->nlayers; l++) {
                const mb_mlp_layer *L = &m->layers[l];
                for (size_t o = 0; o < L->out; o++) {
                    double s = (double)L->bias[o];
                    for (size_t j = 0; j < L->in; j++)
                        s += (double)L->weight[o * L->in + j] * h[j];
                    g[o] = mb_portable_activate(L->act, L->alpha, s);
                }
                double *tmp = h;
                h = g;
                g = tmp;
            }
            mb_portable_apply_link(m->link, h, k);
            memcpy(out + i * k, h, k * sizeof *h);
        }
    }
}

mb_status mb_portable_predict(const mb_portable *p, const mb_matrix *X, double *out, mb_error *err)
{
    mb_status rc = mb_portable_check(p, err);
    if (rc != MB_OK)
        return rc;
    size_t nf = mb_portable_nfeatures(p), nw = mb_portable_work_size(p);
    if (X->cols != nf)
        return mb_fail(err, MB_ESHAPE, "the model takes %zu features, the data has %zu", nf, X->cols);
    double *work = nw ? mb_trymalloc(nw * sizeof *work) : NULL;
    if (nw && !work)
        return mb_fail(err, MB_ENOMEM, "no memory to score");
    mb_portable_predict_rows(p, X, out, work);
    mb_free(work);
    return MB_OK;
}

/* {====== as named arrays ======} */

const char *mb_form_name(mb_form_kind k)
{
    return k == MB_FORM_LINEAR ? "linear" : k == MB_FORM_TREES ? "trees" : k == MB_FORM_MLP ? "mlp" : "none";
}

static mb_status put(mb_state *s, const char *name, mb_dtype t, const void *data, size_t n, mb_error *err)
{
    mb_state_writer w = mb_state_writer_for(s);
    if (w.put(w.ud, name, t, data, n) != MB_PLUGIN_OK)
        return mb_fail(err, MB_ENOMEM, "cannot store portable array '%s'", name);
    return MB_OK;
}

static mb_status put_size(mb_state *s, const char *name, size_t v, mb_error *err)
{
    int64_t x = (int64_t)v;
    return put(s, name, MB_DT_I64, &x, 1, err);
}

mb_status mb_portable_to_state(const mb_portable *p, mb_state *s, mb_error *err)
{
    mb_status rc = mb_portable_check(p, err);
    if (rc != MB_OK)
        return rc;
    if (p->kind == MB_FORM_LINEAR) {
        const mb_linear_form *l = &p->u.linear;
        if ((rc = put_size(s, "nfeatures", l->nfeatures, err)) || (rc = put_size(s, "noutputs", l->noutputs, err)) ||
            (rc = put_size(s, "link", (size_t)l->link, err)) ||
            (rc = put(s, "coef", MB_DT_F64, l->coef, l->noutputs * l->nfeatures, err)) ||
            (rc = put(s, "intercept", MB_DT_F64, l->intercept, l->noutputs, err)))
            return rc;
    } else if (p->kind == MB_FORM_TREES) {
        const mb_tree_form *t = &p->u.trees;
        size_t nn = t->nnodes;
        if ((rc = put_size(s, "nfeatures", t->nfeatures, err)) || (rc = put_size(s, "noutputs", t->noutputs, err)) ||
            (rc = put_size(s, "leaf_width", t->leaf_width, err)) ||
            (rc = put_size(s, "average", (size_t)t->average, err)) ||
            (rc = put_size(s, "link", (size_t)t->link, err)) ||
            (rc = put(s, "root", MB_DT_I32, t->root, t->ntrees, err)) ||
            (t->tree_output && (rc = put(s, "tree_output", MB_DT_I32, t->tree_output, t->ntrees, err))) ||
            (rc = put(s, "feature", MB_DT_I32, t->feature, nn, err)) ||
            (rc = put(s, "threshold", MB_DT_F32, t->threshold, nn, err)) ||
            (rc = put(s, "default_left", MB_DT_U8, t->default_left, nn, err)) ||
            (rc = put(s, "left", MB_DT_I32, t->left, nn, err)) ||
            (rc = put(s, "right", MB_DT_I32, t->right, nn, err)) ||
            (rc = put(s, "value", MB_DT_F64, t->value, nn * t->leaf_width, err)) ||
            (t->base_score && (rc = put(s, "base_score", MB_DT_F64, t->base_score, t->noutputs, err))) ||
            (t->cover && (rc = put(s, "cover", MB_DT_F64, t->cover, nn, err))))
            return rc;
    } else if (p->kind == MB_FORM_MLP) {
        const mb_mlp_form *m = &p->u.mlp;
        if ((rc = put_size(s, "nlayers", m->nlayers, err)) || (rc = put_size(s, "link", (size_t)m->link, err)))
            return rc;
        for (size_t k = 0; k < m->nlayers; k++) {
            const mb_mlp_layer *L = &m->layers[k];
            char n1[48], n2[48], n3[48];
            snprintf(n1, sizeof n1, "layer%zu_weight", k);
            snprintf(n2, sizeof n2, "layer%zu_bias", k);
            snprintf(n3, sizeof n3, "layer%zu_shape_act", k);
            int64_t meta[3] = {(int64_t)L->out, (int64_t)L->in, (int64_t)L->act};
            float alpha = L->alpha;
            char n4[48];
            snprintf(n4, sizeof n4, "layer%zu_alpha", k);
            if ((rc = put(s, n1, MB_DT_F32, L->weight, L->out * L->in, err)) ||
                (rc = put(s, n2, MB_DT_F32, L->bias, L->out, err)) || (rc = put(s, n3, MB_DT_I64, meta, 3, err)) ||
                (rc = put(s, n4, MB_DT_F32, &alpha, 1, err)))
                return rc;
        }
    }
    return MB_OK;
}

/* Find an array of the given type (converting in place when the stored
** type differs, e.g. a bundle written by another tool) and size. */
static void *get(mb_state *s, const char *name, mb_dtype t, size_t count, mb_error *err, mb_status *rc)
{
    if (*rc != MB_OK)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        mb_state_array *a = &s->arrays[i];
        if (strcmp(a->name, name) != 0)
            continue;
        if (count != (size_t)-1 && a->count != count) {
            *rc = mb_fail(err, MB_EFORMAT, "portable array '%s' has %zu values, expected %zu", name, a->count, count);
            return NULL;
        }
        if (a->type != t) {
            void *conv = mb_trymalloc(a->count * mb_dtype_size(t) + 1);
            mb_state_reader r = mb_state_reader_for(s);
            if (!conv || r.get(r.ud, name, t, conv, a->count) != MB_PLUGIN_OK) {
                mb_free(conv);
                *rc = mb_fail(err, MB_ENOMEM, "cannot convert portable array '%s'", name);
                return NULL;
            }
            mb_free(a->data);
            a->data = conv;
            a->type = t;
        }
        return a->data;
    }
    *rc = mb_fail(err, MB_EFORMAT, "portable form: array '%s' missing", name);
    return NULL;
}

static size_t get_size(mb_state *s, const char *name, mb_error *err, mb_status *rc)
{
    const int64_t *v = get(s, name, MB_DT_I64, 1, err, rc);
    if (v && (*v < 0 || *v > (int64_t)1 << 40)) {
        *rc = mb_fail(err, MB_EFORMAT, "portable form: '%s' = %lld is out of range", name, (long long)*v);
        return 0;
    }
    return v ? (size_t)*v : 0;
}

static int has(const mb_state *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->arrays[i].name, name) == 0)
            return 1;
    return 0;
}

mb_status mb_portable_from_state(mb_form_kind kind, mb_state *s, mb_portable *p, mb_mlp_layer **layers,
                                 mb_error *err)
{
    mb_status rc = MB_OK;
    memset(p, 0, sizeof *p);
    *layers = NULL;
    p->kind = kind;
    if (kind == MB_FORM_LINEAR) {
        mb_linear_form *l = &p->u.linear;
        l->nfeatures = get_size(s, "nfeatures", err, &rc);
        l->noutputs = get_size(s, "noutputs", err, &rc);
        l->link = (mb_link)get_size(s, "link", err, &rc);
        l->coef = get(s, "coef", MB_DT_F64, l->noutputs * l->nfeatures, err, &rc);
        l->intercept = get(s, "intercept", MB_DT_F64, l->noutputs, err, &rc);
    } else if (kind == MB_FORM_TREES) {
        mb_tree_form *t = &p->u.trees;
        t->nfeatures = get_size(s, "nfeatures", err, &rc);
        t->noutputs = get_size(s, "noutputs", err, &rc);
        t->leaf_width = get_size(s, "leaf_width", err, &rc);
        t->average = (int)get_size(s, "average", err, &rc);
        t->link = (mb_link)get_size(s, "link", err, &rc);
        t->root = get(s, "root", MB_DT_I32, (size_t)-1, err, &rc);
        for (size_t i = 0; rc == MB_OK && i < s->n; i++)
            if (!strcmp(s->arrays[i].name, "root"))
                t->ntrees = s->arrays[i].count;
            else if (!strcmp(s->arrays[i].name, "feature"))
                t->nnodes = s->arrays[i].count;
        if (has(s, "tree_output"))
            t->tree_output = get(s, "tree_output", MB_DT_I32, t->ntrees, err, &rc);
        t->feature = get(s, "feature", MB_DT_I32, t->nnodes, err, &rc);
        t->threshold = get(s, "threshold", MB_DT_F32, t->nnodes, err, &rc);
        t->default_left = get(s, "default_left", MB_DT_U8, t->nnodes, err, &rc);
        t->left = get(s, "left", MB_DT_I32, t->nnodes, err, &rc);
        t->right = get(s, "right", MB_DT_I32, t->nnodes, err, &rc);
        t->value = get(s, "value", MB_DT_F64, t->nnodes * t->leaf_width, err, &rc);
        if (has(s, "base_score"))
            t->base_score = get(s, "base_score", MB_DT_F64, t->noutputs, err, &rc);
        if (has(s, "cover")) /* optional: bundles before it have none */
            t->cover = get(s, "cover", MB_DT_F64, t->nnodes, err, &rc);
    } else if (kind == MB_FORM_MLP) {
        mb_mlp_form *m = &p->u.mlp;
        m->nlayers = get_size(s, "nlayers", err, &rc);
        m->link = (mb_link)get_size(s, "link", err, &rc);
        if (rc == MB_OK && (m->nlayers == 0 || m->nlayers > 1000))
            rc = mb_fail(err, MB_EFORMAT, "portable MLP: %zu layers", m->nlayers);
        if (rc == MB_OK) {
            *layers = mb_calloc(m->nlayers, sizeof **layers);
            for (size_t k = 0; k < m->nlayers && rc == MB_OK; k++) {
                char n[40];
                snprintf(n, sizeof n, "layer%zu_shape_act", k);
                const int64_t *meta = get(s, n, MB_DT_I64, 3, err, &rc);
                if (!meta)
                    break;
                mb_mlp_layer *L = &(*layers)[k];
                if (meta[0] <= 0 || meta[1] <= 0 || meta[0] > 1 << 24 || meta[1] > 1 << 24 || meta[2] < 0 ||
                    meta[2] > MB_ACT_GELU) {
                    rc = mb_fail(err, MB_EFORMAT, "portable MLP: layer %zu has a bad shape", k);
                    break;
                }
                L->out = (size_t)meta[0];
                L->in = (size_t)meta[1];
                L->act = (mb_activation)meta[2];
                snprintf(n, sizeof n, "layer%zu_weight", k);
                L->weight = get(s, n, MB_DT_F32, L->out * L->in, err, &rc);
                snprintf(n, sizeof n, "layer%zu_bias", k);
                L->bias = get(s, n, MB_DT_F32, L->out, err, &rc);
                snprintf(n, sizeof n, "layer%zu_alpha", k);
                const float *a = get(s, n, MB_DT_F32, 1, err, &rc);
                L->alpha = a ? *a : 0;
            }
            m->layers = *layers;
        }
    } else {
        rc = mb_fail(err, MB_EFORMAT, "unknown portable form kind %d", (int)kind);
    }
    if (rc == MB_OK)
        rc = mb_portable_check(p, err);
    if (rc != MB_OK) {
        mb_free(*layers);
        *layers = NULL;
    }
    return rc;
}
