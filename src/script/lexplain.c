/*
** lexplain.c: mb.explain, mb.permutation_importance and mb.partial_dependence
** (src/core/explain.h)
** for a loaded bundle (mb.load's pipeline, or its scorer) or a fitted
** model (mb.model(...):fit). docs/explain.md says what they compute.
*/
#include <math.h>
#include <string.h>

#include "bundle.h"
#include "dataset.h"
#include "explain.h"
#include "lmb.h"

/* What is explained: a loaded bundle's scorer, or a fitted model seen as
** a bundle without pipeline (b and s built here, borrowing from the model). */
typedef struct target {
    mb_scorer *s;
    mb_bundle b;
    mb_scorer own;
    mb_model *m;                  /* the fitted model, or NULL */
} target;

/* [-0, +0, e] the scorer of argument idx: mb.load's pipeline (its field
** scorer), a scorer, or a fitted model. */
static void check_target(lua_State *L, int idx, target *t)
{
    memset(t, 0, sizeof *t);
    if (lua_istable(L, idx)) {
        lua_getfield(L, idx, "scorer");
        t->s = mbl_toscorer(L, -1);
        lua_pop(L, 1);
        if (!t->s)
            luaL_error(L, "explain: a pipeline fitted in this script: save it and mb.load it (the bundle carries "
                       "what maps features back to input columns), or explain its model on transformed data");
        return;
    }
    if ((t->s = mbl_toscorer(L, idx)))
        return;
    mbl_model *u = luaL_testudata(L, idx, MBL_MODEL);
    if (!u || !u->m || !u->features)
        luaL_argerror(L, idx, "a loaded bundle (mb.load) or a fitted model");
    t->m = u->m;
    mb_bundle *b = &t->b;
    b->features = u->features;
    b->nfeatures = u->nfeatures;
    b->task = u->m->task;
    b->classes = u->classes;
    b->nclasses = u->nclasses;
    b->target = u->target;
    b->monitoring = u->monitoring;
    b->form = MB_FORM_NONE;
    if (u->m->type->portable) {
        char msg[MB_PLUGIN_ERRLEN] = "";
        if (u->m->type->portable(u->m->impl, &t->own.form, msg) == MB_PLUGIN_OK)
            b->form = t->own.form.kind;
    }
    t->own.bundle = b;
    t->s = &t->own;
}

static char *colname(const mb_bundle *b, const char *base, size_t k, size_t K)
{
    char buf[1024];
    snprintf(buf, sizeof buf, K > 1 ? "%s:%s" : "%s", base, K > 1 ? b->classes[k] : "");
    return mb_strdup(buf);
}

/* [-2|3, +2, e] mb.explain(model_or_loaded, frame[, {threads = N}]):
** contributions (a frame: a column per input column, per class
** "col:class", and expected_value), info {method, mapped, columns,
** expected_value (a number, or {class = v}), mean_abs {col = v}} */
static int l_explain(lua_State *L)
{
    target t;
    check_target(L, 1, &t);
    mb_frame *f = mbl_checkframe(L, 2);
    int threads = 0;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "threads");
        threads = (int)luaL_optinteger(L, -1, 0);
        lua_pop(L, 1);
    }
    const mb_bundle *b = t.s->bundle;
    mbl_frame *out = mbl_pushframe(L, NULL); /* before the C memory: an error then leaks nothing */
    mb_explanation e;
    mb_error err;
    if (mb_explain_frame(t.s, f, threads, &e, &err) != MB_OK)
        return mbl_error(L, &err);
    size_t K = e.noutputs, C1 = e.ncols + 1;
    out->f = mb_frame_new(e.rows);
    for (size_t k = 0; k < K; k++)
        for (size_t c = 0; c < C1; c++) {
            char *n = colname(b, c < e.ncols ? e.cols[c] : "expected_value", k, K);
            mb_column *col = mb_frame_add_num(out->f, n, NULL, 1, &err);
            mb_free(n);
            for (size_t i = 0; col && i < e.rows; i++)
                col->num[i] = (float)e.phi[(i * K + k) * C1 + c];
        }
    lua_createtable(L, 0, 5);
    lua_pushstring(L, e.method);
    lua_setfield(L, -2, "method");
    lua_pushboolean(L, e.mapped);
    lua_setfield(L, -2, "mapped");
    lua_createtable(L, (int)e.ncols, 0);
    for (size_t c = 0; c < e.ncols; c++)
        lua_pushstring(L, e.cols[c]), lua_seti(L, -2, (lua_Integer)c + 1);
    lua_setfield(L, -2, "columns");
    if (K == 1) {
        lua_pushnumber(L, e.rows ? e.phi[e.ncols] : 0);
    } else {
        lua_createtable(L, 0, (int)K);
        for (size_t k = 0; k < K; k++)
            lua_pushnumber(L, e.rows ? e.phi[k * C1 + e.ncols] : 0), lua_setfield(L, -2, b->classes[k]);
    }
    lua_setfield(L, -2, "expected_value");
    lua_createtable(L, 0, (int)e.ncols);
    for (size_t c = 0; c < e.ncols; c++) {
        double s = 0;
        for (size_t r = 0; r < e.rows * K; r++)
            s += fabs(e.phi[r * C1 + c]);
        lua_pushnumber(L, e.rows ? s / (double)e.rows : 0);
        lua_setfield(L, -2, e.cols[c]);
    }
    lua_setfield(L, -2, "mean_abs");
    mb_explanation_free(&e);
    return 2;
}

static mb_status predict_scorer(void *ud, const mb_matrix *X, float *label, float *proba, mb_error *err)
{
    return mb_scorer_predict(ud, X, label, proba, err);
}

static mb_status predict_model(void *ud, const mb_matrix *X, float *label, float *proba, mb_error *err)
{
    mb_model *m = ud;
    mb_status rc = mb_model_predict(m, X, label, err);
    if (rc == MB_OK && proba && m->nclasses)
        rc = mb_model_predict_proba(m, X, proba, err);
    return rc;
}

static int opt_int(lua_State *L, int idx, const char *name, lua_Integer def)
{
    if (!lua_istable(L, idx))
        return (int)def;
    lua_getfield(L, idx, name);
    lua_Integer v = luaL_optinteger(L, -1, def);
    lua_pop(L, 1);
    return (int)v;
}

/* [-2|3, +1, e] mb.permutation_importance(model_or_loaded, frame[, {repeats = 5,
** metric = "accuracy"|"r2"|..., seed = 0}]): {baseline =, metric =,
** features = {name = {mean =, std =, scores = {...}}}, ranking = {names by mean}} */
static int l_permutation(lua_State *L)
{
    target t;
    check_target(L, 1, &t);
    mb_frame *f = mbl_checkframe(L, 2);
    const mb_bundle *b = t.s->bundle;
    size_t K = b->task == MB_TASK_REGRESSION ? 0 : b->nclasses;
    int repeats = opt_int(L, 3, "repeats", 5), seed = opt_int(L, 3, "seed", 0), metric = K ? MB_PI_ACCURACY : MB_PI_R2;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "metric");
        const char *name = luaL_optstring(L, -1, NULL);
        if (name && (metric = mb_pi_metric_find(name)) < 0)
            return luaL_error(L, "permutation_importance: metric '%s' is none of accuracy, roc_auc, neg_log_loss, "
                              "r2, neg_rmse", name);
        lua_pop(L, 1);
    }
    if (repeats < 1 || repeats > 10000 || seed < 0)
        return luaL_error(L, "permutation_importance: repeats is 1..10000 and seed >= 0");
    float *y = NULL, *x = NULL;
    mb_matrix X;
    mb_error err;
    mb_status rc = mb_explain_labels(b, f, &y, &err);
    if (rc == MB_OK && t.m)
        rc = mb_matrix_by_names(f, (const char *const *)b->features, b->nfeatures, f->source ? f->source : "frame",
                                &X, &x, &err);
    else if (rc == MB_OK)
        rc = mb_explain_matrix(t.s, f, &X, &x, &err);
    size_t M = rc == MB_OK ? X.cols : 0, R = (size_t)repeats;
    double base = 0, *scores = mb_calloc(M * R + 1, sizeof *scores);
    double *mean = mb_calloc(M + 1, sizeof *mean), *sd = mb_calloc(M + 1, sizeof *sd);
    mb_pi_opts o = {R, (uint64_t)seed, (mb_pi_metric)metric, K, NULL};
    if (rc == MB_OK)
        rc = mb_permutation_importance(t.m ? predict_model : predict_scorer, t.m ? (void *)t.m : (void *)t.s, &X, y,
                                       &o, &base, scores, mean, sd, &err);
    mb_free(y);
    mb_free(x);
    if (rc != MB_OK) {
        mb_free(scores);
        mb_free(mean);
        mb_free(sd);
        return mbl_error(L, &err);
    }
    lua_createtable(L, 0, 4);
    lua_pushnumber(L, base);
    lua_setfield(L, -2, "baseline");
    lua_pushstring(L, mb_pi_metric_name((mb_pi_metric)metric));
    lua_setfield(L, -2, "metric");
    lua_createtable(L, 0, (int)M);
    for (size_t j = 0; j < M; j++) {
        lua_createtable(L, 0, 3);
        lua_pushnumber(L, mean[j]);
        lua_setfield(L, -2, "mean");
        lua_pushnumber(L, sd[j]);
        lua_setfield(L, -2, "std");
        lua_createtable(L, (int)R, 0);
        for (size_t r = 0; r < R; r++)
            lua_pushnumber(L, scores[j * R + r]), lua_seti(L, -2, (lua_Integer)r + 1);
        lua_setfield(L, -2, "scores");
        lua_setfield(L, -2, b->features[j]);
    }
    lua_setfield(L, -2, "features");
    /* ranking: by mean, descending (stable on ties: feature order) */
    size_t *ord = mb_calloc(M + 1, sizeof *ord);
    for (size_t j = 0; j < M; j++) {
        size_t p = j;
        while (p > 0 && mean[ord[p - 1]] < mean[j])
            ord[p] = ord[p - 1], p--;
        ord[p] = j;
    }
    lua_createtable(L, (int)M, 0);
    for (size_t j = 0; j < M; j++)
        lua_pushstring(L, b->features[ord[j]]), lua_seti(L, -2, (lua_Integer)j + 1);
    lua_setfield(L, -2, "ranking");
    mb_free(ord);
    mb_free(scores);
    mb_free(mean);
    mb_free(sd);
    return 1;
}

/* [-0, +0, e] opts.features: a column name or a list of one or two. */
static size_t pdp_features(lua_State *L, int idx, const char *cols[2])
{
    size_t n = 0;
    lua_getfield(L, idx, "features");
    if (lua_type(L, -1) == LUA_TSTRING) {
        cols[n++] = lua_tostring(L, -1);
    } else if (lua_istable(L, -1)) {
        lua_Integer len = luaL_len(L, -1);
        if (len < 1 || len > 2)
            luaL_error(L, "partial_dependence: features lists one or two columns, not %d", (int)len);
        for (lua_Integer i = 1; i <= len; i++) {
            lua_geti(L, -1, i);
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "partial_dependence: features[%d] is not a column name", (int)i);
            cols[n++] = lua_tostring(L, -1);
            lua_pop(L, 1); /* the list keeps the string alive */
        }
    } else {
        luaL_error(L, "partial_dependence: options.features names a column, or lists one or two");
    }
    lua_pop(L, 1); /* the options table keeps them alive */
    return n;
}

/* [-0, +1, m] values[q * stride + i * np + g] for g in 0..np as a list */
static void push_list(lua_State *L, const double *v, size_t np)
{
    lua_createtable(L, (int)np, 0);
    for (size_t g = 0; g < np; g++)
        lua_pushnumber(L, v[g]), lua_seti(L, -2, (lua_Integer)g + 1);
}

/* [-0, +1, m] the result table of mb.partial_dependence */
static void push_pdp(lua_State *L, const mb_bundle *b, const mb_pdp *p, int average, int individual)
{
    lua_createtable(L, 0, 4);
    lua_createtable(L, (int)p->ncols, 0);
    for (size_t a = 0; a < p->ncols; a++)
        lua_pushstring(L, p->cols[a]), lua_seti(L, -2, (lua_Integer)a + 1);
    lua_setfield(L, -2, "features");
    lua_createtable(L, (int)p->ncols, 0);
    for (size_t a = 0; a < p->ncols; a++) {
        lua_createtable(L, (int)p->ngrid[a], 0);
        for (size_t g = 0; g < p->ngrid[a]; g++) {
            if (p->levels[a])
                lua_pushstring(L, p->levels[a][g]);
            else
                lua_pushnumber(L, p->grid[a][g]);
            lua_seti(L, -2, (lua_Integer)g + 1);
        }
        lua_seti(L, -2, (lua_Integer)a + 1);
    }
    lua_setfield(L, -2, "grid");
    size_t K = p->noutputs, np = p->npoints;
    for (int part = 0; part < 2; part++) {
        if (!(part ? individual : average))
            continue;
        if (K > 1)
            lua_createtable(L, 0, (int)K);
        for (size_t q = 0; q < K; q++) {
            if (!part) {
                push_list(L, p->average + q * np, np);
            } else {
                lua_createtable(L, (int)p->rows, 0);
                for (size_t i = 0; i < p->rows; i++)
                    push_list(L, p->individual + (q * p->rows + i) * np, np), lua_seti(L, -2, (lua_Integer)i + 1);
            }
            if (K > 1)
                lua_setfield(L, -2, b->classes[q]);
        }
        lua_setfield(L, -2, part ? "individual" : "average");
    }
}

/* [-3, +1, e] mb.partial_dependence(model_or_loaded, frame, {features = "col" |
** {"a", "b"}, grid = 100, percentiles = {0.05, 0.95}, kind = "average" |
** "individual" | "both"}): {features, grid = {values per feature},
** average = {npoints} (multiclass: {class = {...}}), individual = {rows
** of {npoints}}}; two features: point g = (i - 1) * #grid[2] + j. */
static int l_partial_dependence(lua_State *L)
{
    target t;
    check_target(L, 1, &t);
    mb_frame *f = mbl_checkframe(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    const char *cols[2];
    size_t ncols = pdp_features(L, 3, cols);
    lua_Integer grid = opt_int(L, 3, "grid", 100);
    mb_pdp_opts o = {grid > 0 ? (size_t)grid : 0, 0.05, 0.95, 0};
    lua_getfield(L, 3, "percentiles");
    if (lua_istable(L, -1)) {
        lua_geti(L, -1, 1);
        lua_geti(L, -2, 2);
        o.lo = luaL_checknumber(L, -2);
        o.hi = luaL_checknumber(L, -1);
        lua_pop(L, 2);
    } else if (!lua_isnil(L, -1)) {
        return luaL_error(L, "partial_dependence: percentiles is a pair {lo, hi}");
    }
    lua_pop(L, 1);
    lua_getfield(L, 3, "kind");
    const char *kind = luaL_optstring(L, -1, "average");
    int avg = strcmp(kind, "average") == 0 || strcmp(kind, "both") == 0;
    int ind = strcmp(kind, "individual") == 0 || strcmp(kind, "both") == 0;
    if (!avg && !ind)
        return luaL_error(L, "partial_dependence: kind is \"average\", \"individual\" or \"both\", not '%s'", kind);
    lua_pop(L, 1);
    o.individual = ind;
    if (t.m)
        t.own.model = t.m; /* a fitted model predicts through its plugin */
    mb_pdp p;
    mb_error err;
    if (mb_partial_dependence(t.s, f, cols, ncols, &o, &p, &err) != MB_OK)
        return mbl_error(L, &err);
    /* no error may be raised while p is held: only table building (memory errors aside) */
    push_pdp(L, t.s->bundle, &p, avg, ind);
    mb_pdp_free(&p);
    return 1;
}

static const luaL_Reg explain_funcs[] = {{"explain", l_explain},
                                         {"permutation_importance", l_permutation},
                                         {"partial_dependence", l_partial_dependence},
                                         {NULL, NULL}};

void mbl_open_explain(lua_State *L) { luaL_setfuncs(L, explain_funcs, 0); }
