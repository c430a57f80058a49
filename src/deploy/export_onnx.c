/*
** export_onnx.c: `moonbench export MODEL --format onnx`: one ONNX model
** (IR 8, ai.onnx 13, ai.onnx.ml 3), encoded by protobuf-c from the
** onnx-ml.proto of Debian's python3-onnx (code generated at build time
** into build/gen). No ZipMap: classifiers give "label" (int64 [N]) and
** "probabilities" (float [N, classes]), regressors "variable" ([N, 1]).
**
** DESIGN
** ------
** The graph computes what the workbench computes, in the same precision
** where precision decides an outcome:
** - Input "X" is float [N, inputs] (export.h: categorical inputs are level
**   codes, listed in the metadata_props "moonbench.levels.NAME").
** - Each transform step becomes a few vectorised groups (every AFFINE
**   column at once, ...) concatenated and put back in order by a Gather.
**   Scaling and clipping run in double and are cast to float, because
**   transform.c does so: Scaler's float (x - offset) * scale differs in the
**   last bit, which is enough to send a row the other way at a split.
**   impute uses Imputer, one-hot Equal against the level codes, ordinal a
**   LabelEncoder (float keys), log1p Log(1 + x) with the Kahan correction.
** - Trees: TreeEnsembleRegressor on double input (so it sums in double,
**   as portable.c), thresholds the bundle's float32 values, BRANCH_LEQ
**   (the workbench goes left when x <= t), and NaN sent by
**   nodes_missing_value_tracks_true = default_left. Linear models:
**   LinearRegressor; MLPs: Gemm in double. The classifier operators are
**   not used: their binary one-column cases differ between runtimes (see
**   the onnx-check notes); the link (Sigmoid, Softmax) and ArgMax are
**   explicit instead, in double.
** All protobuf memory comes from one arena, freed after packing.
*/
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "onnx-ml.pb-c.h"

/* {====== arena ======} */

typedef struct chunk {
    struct chunk *next;
    max_align_t data[];
} chunk;

typedef struct graph {
    chunk *mem;
    Onnx__NodeProto **nodes;
    size_t nnodes, capnodes;
    Onnx__TensorProto **inits;
    size_t ninits, capinits;
    unsigned serial;
} graph;

static void *ar(graph *g, size_t n)
{
    chunk *c = mb_malloc(sizeof *c + (n ? n : 1));
    memset(c->data, 0, n ? n : 1);
    c->next = g->mem;
    g->mem = c;
    return c->data;
}

static char *ar_str(graph *g, const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(ar(g, n), s, n);
}

static void *ar_copy(graph *g, const void *p, size_t n)
{
    return memcpy(ar(g, n), p, n);
}

static void graph_free(graph *g)
{
    while (g->mem) {
        chunk *c = g->mem;
        g->mem = c->next;
        mb_free(c);
    }
    mb_free(g->nodes);
    mb_free(g->inits);
}

/* A new tensor name: hint_N. */
static const char *fresh(graph *g, const char *hint)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s_%u", hint, ++g->serial);
    return ar_str(g, buf);
}

/* {====== nodes and initializers ======} */

static Onnx__NodeProto *node(graph *g, const char *op, const char *domain, size_t nin, const char *const *in,
                             const char *out)
{
    Onnx__NodeProto *n = ar(g, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = ar_str(g, op);
    n->domain = ar_str(g, domain ? domain : "");
    n->name = (char *)fresh(g, op);
    n->n_input = nin;
    n->input = ar(g, (nin ? nin : 1) * sizeof *n->input);
    for (size_t i = 0; i < nin; i++)
        n->input[i] = ar_str(g, in[i]);
    n->n_output = 1;
    n->output = ar(g, sizeof *n->output);
    n->output[0] = ar_str(g, out);
    if (g->nnodes == g->capnodes) {
        g->capnodes = g->capnodes ? 2 * g->capnodes : 64;
        g->nodes = mb_realloc(g->nodes, g->capnodes * sizeof *g->nodes);
    }
    g->nodes[g->nnodes++] = n;
    return n;
}

static Onnx__AttributeProto *attr(graph *g, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = ar(g, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = ar_str(g, name);
    a->has_type = 1;
    a->type = type;
    Onnx__AttributeProto **v = ar(g, (n->n_attribute + 1) * sizeof *v);
    if (n->n_attribute)
        memcpy(v, n->attribute, n->n_attribute * sizeof *v);
    v[n->n_attribute++] = a;
    n->attribute = v;
    return a;
}

static void attr_i(graph *g, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static void attr_f(graph *g, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

static void attr_s(graph *g, Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.len = strlen(v);
    a->s.data = ar_copy(g, v, a->s.len + 1);
}

static void attr_ints(graph *g, Onnx__NodeProto *n, const char *name, const int64_t *v, size_t k)
{
    Onnx__AttributeProto *a = attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = k;
    a->ints = ar_copy(g, v, (k ? k : 1) * sizeof *v);
}

static void attr_floats(graph *g, Onnx__NodeProto *n, const char *name, const float *v, size_t k)
{
    Onnx__AttributeProto *a = attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    a->n_floats = k;
    a->floats = ar_copy(g, v, (k ? k : 1) * sizeof *v);
}

/* Strings s[0..k), borrowed (they must outlive the packing). */
static void attr_strings(graph *g, Onnx__NodeProto *n, const char *name, const char *const *s, size_t k)
{
    Onnx__AttributeProto *a = attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    a->n_strings = k;
    a->strings = ar(g, (k ? k : 1) * sizeof *a->strings);
    for (size_t i = 0; i < k; i++) {
        a->strings[i].len = strlen(s[i]);
        a->strings[i].data = (uint8_t *)s[i];
    }
}

static Onnx__TensorProto *tensor(graph *g, const char *name, int32_t type, const int64_t *dims, size_t ndims)
{
    Onnx__TensorProto *t = ar(g, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = name ? ar_str(g, name) : NULL;
    t->has_data_type = 1;
    t->data_type = type;
    t->n_dims = ndims;
    t->dims = ndims ? ar_copy(g, dims, ndims * sizeof *dims) : NULL;
    return t;
}

static void attr_tensor_f64(graph *g, Onnx__NodeProto *n, const char *name, const double *v, size_t k)
{
    Onnx__AttributeProto *a = attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    int64_t d = (int64_t)k;
    a->t = tensor(g, NULL, ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, &d, 1);
    a->t->n_double_data = k;
    a->t->double_data = ar_copy(g, v, (k ? k : 1) * sizeof *v);
}

static void add_init(graph *g, Onnx__TensorProto *t)
{
    if (g->ninits == g->capinits) {
        g->capinits = g->capinits ? 2 * g->capinits : 64;
        g->inits = mb_realloc(g->inits, g->capinits * sizeof *g->inits);
    }
    g->inits[g->ninits++] = t;
}

/* Constant tensors (initializers); ndims 0 is a scalar. */
static const char *const_f32(graph *g, const float *v, const int64_t *dims, size_t ndims, size_t count)
{
    const char *name = fresh(g, "c");
    Onnx__TensorProto *t = tensor(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, ndims);
    t->n_float_data = count;
    t->float_data = ar_copy(g, v, (count ? count : 1) * sizeof *v);
    add_init(g, t);
    return name;
}

static const char *const_f64(graph *g, const double *v, const int64_t *dims, size_t ndims, size_t count)
{
    const char *name = fresh(g, "c");
    Onnx__TensorProto *t = tensor(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, dims, ndims);
    t->n_double_data = count;
    t->double_data = ar_copy(g, v, (count ? count : 1) * sizeof *v);
    add_init(g, t);
    return name;
}

static const char *const_i64(graph *g, const int64_t *v, const int64_t *dims, size_t ndims, size_t count)
{
    const char *name = fresh(g, "c");
    Onnx__TensorProto *t = tensor(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, dims, ndims);
    t->n_int64_data = count;
    t->int64_data = ar_copy(g, v, (count ? count : 1) * sizeof *v);
    add_init(g, t);
    return name;
}

static const char *vec_f32(graph *g, const float *v, size_t n)
{
    int64_t d = (int64_t)n;
    return const_f32(g, v, &d, 1, n);
}

static const char *vec_f64(graph *g, const double *v, size_t n)
{
    int64_t d = (int64_t)n;
    return const_f64(g, v, &d, 1, n);
}

static const char *scalar_f64(graph *g, double v)
{
    return const_f64(g, &v, NULL, 0, 1);
}

/* {====== small operations ======} */

static const char *op1(graph *g, const char *op, const char *a)
{
    const char *out = fresh(g, op);
    node(g, op, NULL, 1, &a, out);
    return out;
}

static const char *op2(graph *g, const char *op, const char *a, const char *b)
{
    const char *in[2] = {a, b}, *out = fresh(g, op);
    node(g, op, NULL, 2, in, out);
    return out;
}

static const char *where(graph *g, const char *cond, const char *a, const char *b)
{
    const char *in[3] = {cond, a, b}, *out = fresh(g, "Where");
    node(g, "Where", NULL, 3, in, out);
    return out;
}

static const char *cast(graph *g, const char *a, int32_t to)
{
    const char *out = fresh(g, "Cast");
    attr_i(g, node(g, "Cast", NULL, 1, &a, out), "to", to);
    return out;
}

#define F32 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define F64 ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE
#define I64 ONNX__TENSOR_PROTO__DATA_TYPE__INT64

/* Columns idx[0..n) of x (axis 1). */
static const char *gather(graph *g, const char *x, const size_t *idx, size_t n)
{
    int64_t *v = mb_malloc((n ? n : 1) * sizeof *v), d = (int64_t)n;
    for (size_t i = 0; i < n; i++)
        v[i] = (int64_t)idx[i];
    const char *in[2] = {x, const_i64(g, v, &d, 1, n)}, *out = fresh(g, "Gather");
    mb_free(v);
    attr_i(g, node(g, "Gather", NULL, 2, in, out), "axis", 1);
    return out;
}

static const char *concat(graph *g, const char *const *parts, size_t n)
{
    const char *out = fresh(g, "Concat");
    attr_i(g, node(g, "Concat", NULL, n, parts, out), "axis", 1);
    return out;
}

/* {====== transform steps ======} */

/* The tensor [N, n] of output columns cols[0..n) of step st (all of op's
** family) from cur. */
static const char *step_group(graph *g, const mbx_step *st, const char *cur, const size_t *cols, size_t n)
{
    const mbx_col *c0 = &st->cols[cols[0]];
    size_t *src = mb_malloc(n * sizeof *src), *src2 = mb_malloc(n * sizeof *src2);
    float *fa = mb_malloc(n * sizeof *fa), *fb = mb_malloc(n * sizeof *fb);
    double *a = mb_malloc(n * sizeof *a), *b = mb_malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) {
        const mbx_col *c = &st->cols[cols[i]];
        src[i] = c->src;
        src2[i] = c->src2;
        a[i] = c->a;
        b[i] = c->b;
        fa[i] = (float)c->a;
        fb[i] = (float)c->b;
        if (c->op == MB_STEP_ONEHOT) { /* the code whose training level is k; NaN never matches */
            fa[i] = NAN;
            for (size_t l = 0; l < c->ntable && isnan(fa[i]); l++)
                if (c->table[l] == c->k)
                    fa[i] = (float)l;
        }
        if (c->op == MB_STEP_CATFILL)
            fa[i] = (float)c->fillcode;
    }
    const char *x = gather(g, cur, src, n), *r = x, *d;
    switch (c0->op) {
    case MB_STEP_COPY:
    case MB_STEP_CATCOPY:
        break;
    case MB_STEP_AFFINE:
        d = cast(g, x, F64);
        r = cast(g, op2(g, "Div", op2(g, "Sub", d, vec_f64(g, a, n)), vec_f64(g, b, n)), F32);
        break;
    case MB_STEP_FILL: /* not Imputer: onnx 1.12 infers no type for its output, so a full check fails */
        r = where(g, op1(g, "IsNaN", x), vec_f32(g, fa, n), x);
        break;
    case MB_STEP_ISNAN:
    case MB_STEP_ISMISS:
        r = cast(g, op1(g, "IsNaN", x), F32);
        break;
    case MB_STEP_ONEHOT:
        r = cast(g, op2(g, "Equal", x, vec_f32(g, fa, n)), F32);
        break;
    case MB_STEP_ORDINAL: { /* one column: code -> training level, NaN otherwise */
        size_t nt = c0->ntable;
        if (!nt) {
            float nan = NAN;
            r = op2(g, "Mul", x, const_f32(g, &nan, NULL, 0, 1));
            break;
        }
        float *keys = mb_malloc(nt * sizeof *keys), *vals = mb_malloc(nt * sizeof *vals);
        for (size_t l = 0; l < nt; l++) {
            keys[l] = (float)l;
            vals[l] = c0->table[l] < 0 ? NAN : (float)c0->table[l];
        }
        r = fresh(g, "LabelEncoder");
        Onnx__NodeProto *le = node(g, "LabelEncoder", "ai.onnx.ml", 1, &x, r);
        attr_floats(g, le, "keys_floats", keys, nt);
        attr_floats(g, le, "values_floats", vals, nt);
        attr_f(g, le, "default_float", NAN);
        mb_free(keys);
        mb_free(vals);
        break;
    }
    case MB_STEP_LOG1P: {
        /* log1p(x) = log(u) * x / (u - 1) with u = 1 + x (x when u == 1):
        ** correct to a few double ulps, so the float result is log1p's */
        d = cast(g, x, F64);
        const char *u = op2(g, "Add", d, scalar_f64(g, 1)), *um = op2(g, "Sub", u, scalar_f64(g, 1));
        const char *q = op2(g, "Mul", op1(g, "Log", u), op2(g, "Div", d, um));
        /* x, where u == 1 (tiny x) or x == +inf (where the ratio is inf / inf) */
        const char *keep = op2(g, "Or", op2(g, "Equal", um, scalar_f64(g, 0)),
                               op2(g, "Equal", d, scalar_f64(g, INFINITY)));
        r = cast(g, where(g, keep, d, q), F32);
        break;
    }
    case MB_STEP_CLIP:
        d = cast(g, x, F64);
        r = where(g, op2(g, "Less", d, vec_f64(g, a, n)), vec_f32(g, fa, n),
                  where(g, op2(g, "Greater", d, vec_f64(g, b, n)), vec_f32(g, fb, n), x));
        break;
    case MB_STEP_PROD:
        r = op2(g, "Mul", x, gather(g, cur, src2, n));
        break;
    case MB_STEP_CATFILL:
        r = where(g, op1(g, "IsNaN", x), vec_f32(g, fa, n), x);
        break;
    }
    mb_free(src);
    mb_free(src2);
    mb_free(fa);
    mb_free(fb);
    mb_free(a);
    mb_free(b);
    return r;
}

/* Ops computed together (one family per group). */
static int family(mb_step_op op)
{
    return op == MB_STEP_CATCOPY ? MB_STEP_COPY : op == MB_STEP_ISMISS ? MB_STEP_ISNAN : (int)op;
}

static const char *step_graph(graph *g, const mbx_step *st, const char *cur)
{
    size_t n = st->nout, nparts = 0, done = 0;
    const char **parts = mb_malloc((n ? n : 1) * sizeof *parts);
    size_t *cols = mb_malloc((n ? n : 1) * sizeof *cols), *perm = mb_malloc((n ? n : 1) * sizeof *perm);
    for (int fam = 0; fam <= MB_STEP_CATFILL; fam++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (family(st->cols[i].op) != fam)
                continue;
            cols[m++] = i;
            /* ordinal tables differ per column: one group each */
            if (fam == MB_STEP_ORDINAL) {
                parts[nparts++] = step_group(g, st, cur, cols, 1);
                perm[i] = done++;
                m = 0;
            }
        }
        if (!m)
            continue;
        parts[nparts++] = step_group(g, st, cur, cols, m);
        for (size_t j = 0; j < m; j++)
            perm[cols[j]] = done + j;
        done += m;
    }
    const char *all = nparts == 1 ? parts[0] : concat(g, parts, nparts);
    int identity = 1;
    for (size_t i = 0; i < n; i++)
        identity &= perm[i] == i;
    const char *out = identity ? all : gather(g, all, perm, n);
    mb_free(parts);
    mb_free(cols);
    mb_free(perm);
    return out;
}

/* {====== models ======} */

static const char *linear_graph(graph *g, const mb_linear_form *l, int classifier, const char *f)
{
    size_t nf = l->nfeatures, k = l->noutputs, nu = 0;
    size_t *used = mb_malloc((nf ? nf : 1) * sizeof *used);
    /* a feature with zero coefficients is left out, so its NaN cannot
    ** reach the sum (portable.c skips zero terms) */
    for (size_t j = 0; j < nf; j++) {
        int any = 0;
        for (size_t c = 0; c < k; c++)
            any |= l->coef[c * nf + j] != 0;
        if (any)
            used[nu++] = j;
    }
    if (!nu) /* nothing used: one column times zero */
        used[nu++] = 0;
    const char *x = nu == nf ? f : gather(g, f, used, nu), *y;
    if (!classifier) {
        /* Gemm in double: ONNX Runtime's LinearRegressor sums in float, which
        ** puts a value of 150 some 3e-5 away from the workbench's */
        double *w = mb_malloc(k * nu * sizeof *w);
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j < nu; j++)
                w[c * nu + j] = l->coef[c * nf + used[j]];
        int64_t dims[2] = {(int64_t)k, (int64_t)nu};
        const char *in[3] = {cast(g, x, F64), const_f64(g, w, dims, 2, k * nu), vec_f64(g, l->intercept, k)};
        y = fresh(g, "Gemm");
        attr_i(g, node(g, "Gemm", NULL, 3, in, y), "transB", 1);
        mb_free(w);
        mb_free(used);
        return y;
    }
    float *coef = mb_malloc(k * nu * sizeof *coef), *icpt = mb_malloc(k * sizeof *icpt);
    for (size_t c = 0; c < k; c++) {
        icpt[c] = (float)l->intercept[c];
        for (size_t j = 0; j < nu; j++)
            coef[c * nu + j] = (float)l->coef[c * nf + used[j]];
    }
    y = fresh(g, "LinearRegressor"); /* raw scores; the link follows */
    Onnx__NodeProto *n = node(g, "LinearRegressor", "ai.onnx.ml", 1, &x, y);
    attr_floats(g, n, "coefficients", coef, k * nu);
    attr_floats(g, n, "intercepts", icpt, k);
    attr_i(g, n, "targets", (int64_t)k);
    attr_s(g, n, "post_transform", "NONE");
    mb_free(used);
    mb_free(coef);
    mb_free(icpt);
    return cast(g, y, F64);
}

/* The tree ensemble: each tree's nodes renumbered 0.. in depth-first
** order. Arrays: one entry per (tree, node) and per (tree, leaf, output). */
typedef struct tarrays {
    int64_t *tid, *nid, *fid, *tru, *fal, *miss;
    float *thr;
    const char **mode;
    int64_t *ltid, *lnid, *lout;
    double *lw;
} tarrays;

static void tarrays_grow(tarrays *a, size_t nodes, size_t leaves)
{
    a->tid = mb_realloc(a->tid, nodes * sizeof *a->tid);
    a->nid = mb_realloc(a->nid, nodes * sizeof *a->nid);
    a->fid = mb_realloc(a->fid, nodes * sizeof *a->fid);
    a->tru = mb_realloc(a->tru, nodes * sizeof *a->tru);
    a->fal = mb_realloc(a->fal, nodes * sizeof *a->fal);
    a->miss = mb_realloc(a->miss, nodes * sizeof *a->miss);
    a->thr = mb_realloc(a->thr, nodes * sizeof *a->thr);
    a->mode = mb_realloc(a->mode, nodes * sizeof *a->mode);
    a->ltid = mb_realloc(a->ltid, leaves * sizeof *a->ltid);
    a->lnid = mb_realloc(a->lnid, leaves * sizeof *a->lnid);
    a->lout = mb_realloc(a->lout, leaves * sizeof *a->lout);
    a->lw = mb_realloc(a->lw, leaves * sizeof *a->lw);
}

static void tarrays_free(tarrays *a)
{
    mb_free(a->tid), mb_free(a->nid), mb_free(a->fid), mb_free(a->tru), mb_free(a->fal), mb_free(a->miss);
    mb_free(a->thr), mb_free(a->mode), mb_free(a->ltid), mb_free(a->lnid), mb_free(a->lout), mb_free(a->lw);
}

static const char *trees_graph(graph *g, const mb_tree_form *t, const char *f)
{
    size_t nn = 0, nl = 0, k = t->noutputs, lw1 = t->leaf_width;
    tarrays a = {0};
    int32_t *local = mb_malloc(t->nnodes * sizeof *local), *stack = mb_malloc(t->nnodes * sizeof *stack);
    for (size_t tr = 0; tr < t->ntrees; tr++) {
        size_t sp = 0;
        int32_t next = 0;
        tarrays_grow(&a, nn + t->nnodes, (nl + t->nnodes) * lw1);
        for (size_t i = 0; i < t->nnodes; i++)
            local[i] = -1;
        /* number the nodes reachable from the root (children come after
        ** their parent, mb_portable_check: no cycles) */
        stack[sp++] = t->root[tr];
        local[t->root[tr]] = next++;
        while (sp) {
            int32_t n = stack[--sp];
            if (t->feature[n] < 0)
                continue;
            for (int side = 0; side < 2; side++) {
                int32_t ch = side ? t->left[n] : t->right[n];
                if (local[ch] < 0) {
                    local[ch] = next++;
                    stack[sp++] = ch;
                }
            }
        }
        for (size_t n = 0; n < t->nnodes; n++) {
            if (local[n] < 0)
                continue;
            size_t e = nn + (size_t)local[n];
            a.tid[e] = (int64_t)tr;
            a.nid[e] = local[n];
            if (t->feature[n] >= 0) {
                a.mode[e] = "BRANCH_LEQ"; /* left when x <= threshold */
                a.fid[e] = t->feature[n];
                a.thr[e] = t->threshold[n];
                a.tru[e] = local[t->left[n]];
                a.fal[e] = local[t->right[n]];
                a.miss[e] = t->default_left[n] ? 1 : 0;
                continue;
            }
            a.mode[e] = "LEAF";
            a.fid[e] = a.tru[e] = a.fal[e] = a.miss[e] = 0;
            a.thr[e] = 0;
            for (size_t c = 0; c < lw1; c++) {
                a.ltid[nl] = (int64_t)tr;
                a.lnid[nl] = local[n];
                a.lout[nl] = lw1 == 1 ? t->tree_output[tr] : (int64_t)c;
                a.lw[nl++] = t->value[n * lw1 + c];
            }
        }
        nn += (size_t)next;
    }
    double *base = mb_calloc(k, sizeof *base);
    if (t->base_score)
        memcpy(base, t->base_score, k * sizeof *base);
    /* double input: ONNX Runtime then compares and sums in double */
    const char *x = cast(g, f, F64), *y = fresh(g, "TreeEnsembleRegressor");
    Onnx__NodeProto *n = node(g, "TreeEnsembleRegressor", "ai.onnx.ml", 1, &x, y);
    attr_s(g, n, "aggregate_function", t->average ? "AVERAGE" : "SUM");
    attr_tensor_f64(g, n, "base_values_as_tensor", base, k);
    attr_i(g, n, "n_targets", (int64_t)k);
    attr_ints(g, n, "nodes_falsenodeids", a.fal, nn);
    attr_ints(g, n, "nodes_featureids", a.fid, nn);
    attr_ints(g, n, "nodes_missing_value_tracks_true", a.miss, nn);
    attr_strings(g, n, "nodes_modes", a.mode, nn);
    attr_ints(g, n, "nodes_nodeids", a.nid, nn);
    attr_ints(g, n, "nodes_treeids", a.tid, nn);
    attr_ints(g, n, "nodes_truenodeids", a.tru, nn);
    attr_floats(g, n, "nodes_values", a.thr, nn);
    attr_s(g, n, "post_transform", "NONE");
    attr_ints(g, n, "target_ids", a.lout, nl);
    attr_ints(g, n, "target_nodeids", a.lnid, nl);
    attr_ints(g, n, "target_treeids", a.ltid, nl);
    attr_tensor_f64(g, n, "target_weights_as_tensor", a.lw, nl);
    tarrays_free(&a);
    mb_free(local);
    mb_free(stack);
    mb_free(base);
    return cast(g, y, F64);
}

/* Gemm in double per layer (portable.c accumulates in double from float
** weights: the same products, so regression values round alike). */
static const char *mlp_graph(graph *g, const mb_mlp_form *m, const char *f)
{
    const char *h = cast(g, f, F64);
    for (size_t l = 0; l < m->nlayers; l++) {
        const mb_mlp_layer *L = &m->layers[l];
        size_t nw = L->out * L->in;
        double *w = mb_malloc(nw * sizeof *w), *b = mb_malloc(L->out * sizeof *b);
        for (size_t i = 0; i < nw; i++)
            w[i] = (double)L->weight[i];
        for (size_t i = 0; i < L->out; i++)
            b[i] = (double)L->bias[i];
        int64_t dims[2] = {(int64_t)L->out, (int64_t)L->in};
        const char *in[3] = {h, const_f64(g, w, dims, 2, nw), vec_f64(g, b, L->out)}, *s = fresh(g, "Gemm");
        attr_i(g, node(g, "Gemm", NULL, 3, in, s), "transB", 1);
        mb_free(w);
        mb_free(b);
        switch (L->act) {
        case MB_ACT_RELU: /* s > 0 ? s : 0, as portable.c: NaN (inf - inf in a sum) gives 0, where
                           ** ONNX's Relu would carry NaN on to the output */
            h = where(g, op2(g, "Greater", s, scalar_f64(g, 0)), s, scalar_f64(g, 0));
            break;
        case MB_ACT_LEAKY_RELU:
            h = where(g, op2(g, "Greater", s, scalar_f64(g, 0)), s,
                      op2(g, "Mul", s, scalar_f64(g, (double)L->alpha)));
            break;
        case MB_ACT_TANH:
            h = op1(g, "Tanh", s);
            break;
        case MB_ACT_SIGMOID:
            h = op1(g, "Sigmoid", s);
            break;
        case MB_ACT_GELU: /* x * Phi(x); ONNX Runtime has Erf in float only */
            h = op2(g, "Mul", op2(g, "Mul", s, scalar_f64(g, 0.5)),
                    op2(g, "Add", scalar_f64(g, 1),
                        cast(g, op1(g, "Erf", cast(g, op2(g, "Div", s, scalar_f64(g, sqrt(2.0))), F32)), F64)));
            break;
        default:
            h = s;
        }
    }
    return h;
}

/* {====== the model ======} */

static Onnx__ValueInfoProto *value_info(graph *g, const char *name, int32_t type, int64_t cols)
{
    Onnx__ValueInfoProto *v = ar(g, sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = ar_str(g, name);
    Onnx__TypeProto *tp = ar(g, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = ar(g, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = type;
    Onnx__TensorShapeProto *sh = ar(g, sizeof *sh);
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = cols ? 2 : 1;
    sh->dim = ar(g, 2 * sizeof *sh->dim);
    for (size_t i = 0; i < sh->n_dim; i++) {
        Onnx__TensorShapeProto__Dimension *d = ar(g, sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = ar_str(g, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = cols;
        }
        sh->dim[i] = d;
    }
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    return v;
}

static void identity(graph *g, const char *in, const char *out)
{
    node(g, "Identity", NULL, 1, &in, out);
}

/* Link, probabilities and label from the raw outputs r (double [N, k]). */
static void outputs_graph(graph *g, const mbx_export *x, const char *r)
{
    const mb_bundle *b = x->b;
    mb_link link = x->form.kind == MB_FORM_LINEAR ? x->form.u.linear.link
                   : x->form.kind == MB_FORM_TREES ? x->form.u.trees.link : x->form.u.mlp.link;
    const char *p = link == MB_LINK_LOGISTIC ? op1(g, "Sigmoid", r) : r;
    if (link == MB_LINK_SOFTMAX) {
        p = fresh(g, "Softmax");
        attr_i(g, node(g, "Softmax", NULL, 1, &r, p), "axis", 1);
    }
    if (b->task == MB_TASK_REGRESSION) {
        identity(g, cast(g, p, F32), "variable");
        return;
    }
    if (b->task == MB_TASK_BINARY) { /* [1 - p1, p1]; class 1 when p1 > threshold */
        size_t col = x->noutputs == 2 ? 1 : 0;
        const char *p1 = gather(g, p, &col, 1);
        const char *parts[2] = {op2(g, "Sub", scalar_f64(g, 1), p1), p1};
        identity(g, cast(g, concat(g, parts, 2), F32), "probabilities");
        int64_t flat = -1, one = 1;
        const char *in[2] = {cast(g, op2(g, "Greater", p1, scalar_f64(g, x->threshold)), I64),
                             const_i64(g, &flat, &one, 1, 1)};
        node(g, "Reshape", NULL, 2, in, "label");
        return;
    }
    identity(g, cast(g, p, F32), "probabilities");
    /* the first largest, as the workbench */
    Onnx__NodeProto *am = node(g, "ArgMax", NULL, 1, &p, "label");
    attr_i(g, am, "axis", 1);
    attr_i(g, am, "keepdims", 0);
}

static Onnx__StringStringEntryProto *meta(graph *g, const char *key, json_t *value)
{
    Onnx__StringStringEntryProto *e = ar(g, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = ar_str(g, key);
    char *s = json_dumps(value, JSON_COMPACT | JSON_ENSURE_ASCII);
    e->value = ar_str(g, s ? s : "null");
    free(s);
    json_decref(value);
    return e;
}

static json_t *json_strings(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static Onnx__ModelProto *model_proto(graph *g, const mbx_export *x)
{
    const mb_bundle *b = x->b;
    const char *cur = "X";
    for (size_t s = 0; s < x->nsteps; s++)
        cur = step_graph(g, &x->steps[s], cur);
    const char *f = gather(g, cur, x->feature_col, x->nfeatures), *r;
    if (x->form.kind == MB_FORM_LINEAR)
        r = linear_graph(g, &x->form.u.linear, b->task != MB_TASK_REGRESSION, f);
    else if (x->form.kind == MB_FORM_TREES)
        r = trees_graph(g, &x->form.u.trees, f);
    else
        r = mlp_graph(g, &x->form.u.mlp, f);
    outputs_graph(g, x, r);

    Onnx__GraphProto *gr = ar(g, sizeof *gr);
    onnx__graph_proto__init(gr);
    gr->name = ar_str(g, "moonbench");
    gr->doc_string = ar_str(g, "X: float [N, inputs] in the order of metadata moonbench.inputs; NaN = missing; a "
                               "categorical input is the index of its level in moonbench.levels.NAME (-1: a "
                               "level not seen in training)");
    gr->n_node = g->nnodes;
    gr->node = g->nodes;
    gr->n_initializer = g->ninits;
    gr->initializer = g->inits;
    gr->n_input = 1;
    gr->input = ar(g, sizeof *gr->input);
    gr->input[0] = value_info(g, "X", F32, (int64_t)x->ninputs);
    int reg = b->task == MB_TASK_REGRESSION;
    gr->n_output = reg ? 1 : 2;
    gr->output = ar(g, 2 * sizeof *gr->output);
    if (reg) {
        gr->output[0] = value_info(g, "variable", F32, 1);
    } else {
        gr->output[0] = value_info(g, "label", I64, 0);
        gr->output[1] = value_info(g, "probabilities", F32, (int64_t)b->nclasses);
    }

    Onnx__ModelProto *m = ar(g, sizeof *m);
    onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = 8;
    m->producer_name = ar_str(g, "moonbench");
    m->producer_version = ar_str(g, MB_VERSION);
    m->graph = gr;
    m->n_opset_import = 2;
    m->opset_import = ar(g, 2 * sizeof *m->opset_import);
    for (int i = 0; i < 2; i++) {
        Onnx__OperatorSetIdProto *o = ar(g, sizeof *o);
        onnx__operator_set_id_proto__init(o);
        o->domain = ar_str(g, i ? "ai.onnx.ml" : "");
        o->has_version = 1;
        o->version = i ? 3 : 13;
        m->opset_import[i] = o;
    }
    size_t ncat = 0;
    for (size_t j = 0; j < x->ninputs; j++)
        ncat += x->iscat[j] != 0;
    m->metadata_props = ar(g, (4 + ncat) * sizeof *m->metadata_props);
    m->metadata_props[m->n_metadata_props++] = meta(g, "moonbench.inputs", json_strings(x->inputs, x->ninputs));
    m->metadata_props[m->n_metadata_props++] =
        meta(g, "moonbench.task", json_string(reg ? "regression" : b->task == MB_TASK_BINARY ? "binary" : "multiclass"));
    m->metadata_props[m->n_metadata_props++] = meta(g, "moonbench.classes", json_strings(b->classes, reg ? 0 : b->nclasses));
    m->metadata_props[m->n_metadata_props++] = meta(g, "moonbench.model", json_string(b->model ? b->model : ""));
    for (size_t j = 0; j < x->ninputs; j++) {
        if (!x->iscat[j])
            continue;
        char *key = mb_malloc(strlen(x->inputs[j]) + 24);
        sprintf(key, "moonbench.levels.%s", x->inputs[j]);
        m->metadata_props[m->n_metadata_props++] = meta(g, key, json_strings(x->levels[j], x->nlevels[j]));
        mb_free(key);
    }
    return m;
}

mb_status mbx_write_onnx(const mbx_export *x, const char *path, const char *bundle_path, mb_error *err)
{
    (void)bundle_path;
    for (size_t s = 0; s < x->nsteps; s++)
        if (!x->steps[s].nout)
            return mb_fail(err, MB_EARG, "step %zu (%s) leaves no columns", s + 1, x->steps[s].kind);
    /* names go into the metadata as JSON text, which must be UTF-8 */
    for (size_t j = 0; j < x->ninputs; j++) {
        json_t *v = json_string(x->inputs[j]);
        for (size_t l = 0; v && l < (x->iscat[j] ? x->nlevels[j] : 0); l++) {
            json_decref(v);
            v = json_string(x->levels[j][l]);
        }
        if (!v)
            return mb_fail(err, MB_EFORMAT, "input %zu: its name or a level is not valid UTF-8", j + 1);
        json_decref(v);
    }
    for (size_t c = 0; x->b->task != MB_TASK_REGRESSION && c < x->b->nclasses; c++) {
        json_t *v = json_string(x->b->classes[c]);
        if (!v)
            return mb_fail(err, MB_EFORMAT, "class %zu: its name is not valid UTF-8", c + 1);
        json_decref(v);
    }
    graph g = {0};
    Onnx__ModelProto *m = model_proto(&g, x);
    size_t n = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = mb_trymalloc(n ? n : 1);
    mb_status rc = MB_OK;
    if (!buf) {
        rc = mb_fail(err, MB_ENOMEM, "no memory for the %zu-byte ONNX model", n);
    } else {
        onnx__model_proto__pack(m, buf);
        mbx_file out;
        if ((rc = mbx_file_open(&out, path, err)) == MB_OK) {
            fwrite(buf, 1, n, out.fp);
            if ((rc = mbx_file_commit(&out, err)) != MB_OK)
                mbx_file_discard(&out);
        }
    }
    mb_free(buf);
    graph_free(&g);
    return rc;
}
