/*
** lmodel.c: models, transforms and saved pipelines in Lua:
**   mb.plugins(), mb.model(name, params), model:fit/predict/predict_proba,
**   mb.transform_new(kind, opts) (the C transforms behind mb.standardize
**   and friends in lua/moonbench), transform:fit/apply. Pipelines as
**   bundles (save, load, the scorer they predict through) are lpipeline.c.
*/
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "dataset.h"
#include "frameops.h"
#include "io.h"
#include "job.h"
#include "lmb.h"

/* {====== plugins and models ======} */

/* [-0, +1, e] mb.plugins(): {{name=, version=, summary=, path=, models={{name=, tasks=, summary=, params={...}}}}} */
static int l_plugins(lua_State *L)
{
    mb_registry *r = mbl_registry(L);
    mb_registry_load_pending(r); /* the registry is lazy (lmb.c) */
    lua_createtable(L, (int)r->nplugins, 0);
    for (size_t i = 0; i < r->nplugins; i++) {
        const mb_plugin *p = r->plugins[i].plugin;
        lua_createtable(L, 0, 5);
        lua_pushstring(L, p->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, p->version);
        lua_setfield(L, -2, "version");
        lua_pushstring(L, p->summary ? p->summary : "");
        lua_setfield(L, -2, "summary");
        lua_pushstring(L, r->plugins[i].path);
        lua_setfield(L, -2, "path");
        lua_createtable(L, (int)p->nmodels, 0);
        for (size_t k = 0; k < p->nmodels; k++) {
            const mb_model_type *t = p->models[k];
            lua_createtable(L, 0, 4);
            lua_pushstring(L, t->name);
            lua_setfield(L, -2, "name");
            lua_pushstring(L, t->summary ? t->summary : "");
            lua_setfield(L, -2, "summary");
            lua_createtable(L, 3, 0);
            int nt = 0;
            if (t->tasks & MB_TASK_REGRESSION)
                lua_pushstring(L, "regression"), lua_seti(L, -2, ++nt);
            if (t->tasks & MB_TASK_BINARY)
                lua_pushstring(L, "binary"), lua_seti(L, -2, ++nt);
            if (t->tasks & MB_TASK_MULTICLASS)
                lua_pushstring(L, "multiclass"), lua_seti(L, -2, ++nt);
            lua_setfield(L, -2, "tasks");
            lua_createtable(L, (int)t->nparams, 0);
            for (size_t j = 0; j < t->nparams; j++) {
                char line[1024];
                mb_param_describe(&t->params[j], line, sizeof line);
                lua_createtable(L, 0, 3);
                lua_pushstring(L, t->params[j].name);
                lua_setfield(L, -2, "name");
                lua_pushstring(L, t->params[j].def);
                lua_setfield(L, -2, "default");
                lua_pushstring(L, line);
                lua_setfield(L, -2, "help");
                lua_seti(L, -2, (lua_Integer)j + 1);
            }
            lua_setfield(L, -2, "params");
            lua_seti(L, -2, (lua_Integer)k + 1);
        }
        lua_setfield(L, -2, "models");
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int model_gc(lua_State *L)
{
    mbl_model *u = luaL_checkudata(L, 1, MBL_MODEL);
    mb_model_free(&u->m);
    mbl_freestrings(u->classes, u->nclasses);
    mbl_freestrings(u->features, u->nfeatures);
    mb_free(u->target);
    mb_state_clear(&u->monitoring);
    u->classes = u->features = NULL;
    u->target = NULL;
    u->nclasses = u->nfeatures = 0;
    return 0;
}

mbl_model *mbl_checkmodel(lua_State *L, int idx)
{
    mbl_model *u = luaL_checkudata(L, idx, MBL_MODEL);
    if (!u->m)
        luaL_error(L, "model is closed");
    return u;
}

/* Parameters from a Lua table {name = value} as "name=value" settings. */
static char **settings_from(lua_State *L, int idx, size_t *n)
{
    *n = 0;
    if (lua_isnoneornil(L, idx))
        return NULL;
    luaL_checktype(L, idx, LUA_TTABLE);
    size_t cap = 8;
    char **v = mb_calloc(cap, sizeof *v);
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            continue;
        const char *key = lua_tostring(L, -2);
        char val[1024] = "";
        if (lua_isboolean(L, -1)) {
            snprintf(val, sizeof val, "%s", lua_toboolean(L, -1) ? "true" : "false");
        } else if (lua_istable(L, -1)) {
            /* a list of integers: {256, 128} -> "256,128" */
            size_t k = 0;
            lua_Integer m = (lua_Integer)lua_rawlen(L, -1); /* raw: no metamethod may raise here */
            for (lua_Integer i = 1; i <= m && k < sizeof val - 32; i++) {
                lua_rawgeti(L, -1, i);
                k += (size_t)snprintf(val + k, sizeof val - k, "%s%lld", i > 1 ? "," : "",
                                      (long long)lua_tointeger(L, -1));
                lua_pop(L, 1);
            }
        } else if (lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TSTRING) {
            if (lua_isinteger(L, -1))
                snprintf(val, sizeof val, "%lld", (long long)lua_tointeger(L, -1));
            else if (lua_type(L, -1) == LUA_TNUMBER)
                snprintf(val, sizeof val, "%.17g", lua_tonumber(L, -1));
            else
                snprintf(val, sizeof val, "%s", lua_tostring(L, -1));
        } else {
            snprintf(val, sizeof val, "<%s>", luaL_typename(L, -1));
        }
        size_t len = strlen(key) + strlen(val) + 2;
        if (*n + 1 >= cap)
            v = mb_realloc(v, (cap *= 2) * sizeof *v);
        v[*n] = mb_malloc(len);
        snprintf(v[*n], len, "%s=%s", key, val);
        (*n)++;
    }
    return v;
}

/* Push a new model userdata: name and settings, validated by the host. */
static mbl_model *new_model(lua_State *L, const char *name, const char *const *settings, size_t n)
{
    mb_registry *r = mbl_registry(L);
    mbl_model *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, MBL_MODEL);
    mb_error err;
    const mb_loaded_plugin *owner;
    const mb_model_type *t = mb_registry_find(r, name, &owner, &err);
    mb_params params;
    if (!t || mb_params_parse(&params, t, settings, n, &err) != MB_OK ||
        mb_model_create(&u->m, t, owner, &params, &err) != MB_OK)
        mbl_error(L, &err);
    return u;
}

/* [-2, +1, e] mb.model(name[, params]) */
static int l_model(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    size_t n;
    char **settings = settings_from(L, 2, &n);
    /* move the settings onto the Lua stack so that an error cannot leak them */
    const char **sv = lua_newuserdatauv(L, sizeof(char *) * (n + 1), 0);
    int base = lua_gettop(L);
    for (size_t i = 0; i < n; i++)
        lua_pushstring(L, settings[i]);
    mbl_freestrings(settings, n);
    for (size_t i = 0; i < n; i++)
        sv[i] = lua_tostring(L, base + 1 + (int)i);
    new_model(L, name, sv, n);
    return 1;
}

/* Progress from a plugin into a Lua function, protected: an error in the
** callback cancels the fit instead of jumping across the plugin's C frames. */
typedef struct progress_ud {
    lua_State *L;
    int fn;                       /* stack index of the Lua function, or 0 */
    volatile int cancel;
    int failed;
} progress_ud;

static void progress_cb(void *ud, double frac, const char *msg, double tl, double vl)
{
    progress_ud *p = ud;
    if (mbl_cancel)
        p->cancel = 1;
    if (!p->fn || p->failed)
        return;
    lua_State *L = p->L;
    lua_pushvalue(L, p->fn);
    lua_pushnumber(L, frac);
    lua_pushstring(L, msg ? msg : "");
    lua_pushnumber(L, tl);
    lua_pushnumber(L, vl);
    if (lua_pcall(L, 4, 0, 0) != LUA_OK) {
        p->failed = 1;
        p->cancel = 1;
        /* the error message stays on the stack for after the fit */
    }
}

/* Frame -> training data: task, labels, matrix. Raises on error after
** freeing. */
static void to_data(lua_State *L, mb_frame *f, mb_data *d, const char *what)
{
    mb_error err;
    if (mb_data_from_frame(f, 0, d, &err) != MB_OK) {
        lua_pushfstring(L, "%s: %s", what, err.msg);
        lua_error(L);
    }
}

/* [-3, +1, e] model:fit(frame[, {valid = frame, threads = n, seed = s, progress = fn,
** weights = column name or vector}]) */
static int m_fit(lua_State *L)
{
    mbl_model *u = mbl_checkmodel(L, 1);
    mb_frame *f = mbl_checkframe(L, 2);
    mb_frame *vf = NULL;
    const char *wcol = NULL;
    mbl_vector *wvec = NULL;
    int threads = 0;
    uint64_t seed = 0;
    progress_ud pu = {L, 0, 0, 0};
    if (lua_istable(L, 3)) {
        if (lua_getfield(L, 3, "valid") != LUA_TNIL)
            vf = mbl_checkframe(L, -1);
        if (lua_getfield(L, 3, "threads") != LUA_TNIL)
        {
            lua_Integer t = luaL_checkinteger(L, -1);
            if (t < 1)
                return luaL_error(L, "fit: threads = %d; expected 1 or more", (int)(t < INT_MIN ? INT_MIN : t));
            long nc = sysconf(_SC_NPROCESSORS_ONLN); /* more threads than cores only cost */
            threads = (int)(t > (nc > 0 ? nc : 1) ? (nc > 0 ? nc : 1) : t);
        }
        if (lua_getfield(L, 3, "seed") != LUA_TNIL)
        {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
                return luaL_error(L, "fit: seed must be a whole number >= 0");
            seed = (uint64_t)lua_tointeger(L, -1);
        }
        if (lua_getfield(L, 3, "weights") == LUA_TSTRING)
            wcol = lua_tostring(L, -1);
        else if (!lua_isnil(L, -1) && !(wvec = luaL_testudata(L, -1, MBL_VECTOR)))
            return luaL_error(L, "fit: weights must be a column name or a vector");
        if (lua_getfield(L, 3, "progress") == LUA_TFUNCTION)
            pu.fn = lua_gettop(L);
        else
            lua_pop(L, 1);
    }
    if (!pu.fn) {
        /* the default progress function, if `moonbench run` set one */
        if (lua_getfield(L, LUA_REGISTRYINDEX, "moonbench.progress") == LUA_TFUNCTION)
            pu.fn = lua_gettop(L);
        else
            lua_pop(L, 1);
    }
    if (threads <= 0)
        threads = 2;
    mb_data d = {0}, vd = {0};
    mb_error err;
    if (wvec && (wvec->n != f->nrows || wvec->levels))
        return luaL_error(L, "fit: the weights vector must hold %d numbers", (int)f->nrows);
    if (wcol) {
        if (mb_data_from_frame_weighted(f, 0, wcol, &d, &err) != MB_OK)
            return luaL_error(L, "fit: %s", err.msg);
    } else {
        to_data(L, f, &d, "fit");
    }
    if (wvec) {
        d.wbuf = mb_malloc((f->nrows ? f->nrows : 1) * sizeof *d.wbuf);
        for (size_t i = 0; i < f->nrows; i++)
            d.wbuf[i] = (float)wvec->v[i];
        d.ds.w = d.wbuf;
    }
    if (vf && mb_data_from_frame(vf, d.ds.task, &vd, &err) != MB_OK) {
        mb_data_free(&d);
        return luaL_error(L, "fit (validation frame): %s", err.msg);
    }
    mb_fit_context ctx = {sizeof ctx, mb_host_services(), threads, seed, progress_cb, &pu, &pu.cancel};
    int top = lua_gettop(L);
    mbl_busy(L, 1); /* no <close> of frames or models until the fit returns */
    mb_status rc = mb_model_fit(u->m, &d.ds, vf ? &vd.ds : NULL, &ctx, &err);
    mbl_busy(L, -1);
    if (rc == MB_OK) {
        mbl_freestrings(u->classes, u->nclasses);
        mbl_freestrings(u->features, u->nfeatures);
        mb_free(u->target);
        u->nclasses = d.ds.nclasses;
        u->classes = mb_calloc(u->nclasses + 1, sizeof *u->classes);
        for (size_t k = 0; k < u->nclasses; k++)
            u->classes[k] = mb_strdup(d.class_names[k]);
        u->nfeatures = d.ds.X.cols;
        u->features = mb_calloc(u->nfeatures + 1, sizeof *u->features);
        for (size_t j = 0; j < u->nfeatures; j++)
            u->features[j] = mb_strdup(d.feature_names[j]);
        u->target = mb_strdup(f->cols[f->target].name);
        mb_state_clear(&u->monitoring);
        rc = mb_monitoring_compute(&d.ds.X, &u->monitoring, &err);
    }
    mb_data_free(&d);
    mb_data_free(&vd);
    if (pu.failed)
        return lua_error(L); /* the callback's error, left on the stack */
    lua_settop(L, top);
    if (rc == MB_ECANCELLED && mbl_cancel)
        return luaL_error(L, "%s", mbl_stop_reason(L)); /* "interrupted" or the timeout */
    if (rc != MB_OK)
        return mbl_error(L, &err);
    lua_settop(L, 1);
    return 1;
}

/* The frame's columns in the model's feature order (dataset.h). */
static mb_status features_of(const mbl_model *u, const mb_frame *f, mb_matrix *X, float **owned, mb_error *err)
{
    *owned = NULL;
    if (!u->features)
        return mb_fail(err, MB_EARG, "model '%s' is not fitted", u->m->type->name);
    return mb_matrix_by_names(f, (const char *const *)u->features, u->nfeatures, "predict", X, owned, err);
}

/* [-2, +1, e] model:predict(frame): labels (categorical) or values */
static int m_predict(lua_State *L)
{
    mbl_model *u = mbl_checkmodel(L, 1);
    mb_frame *f = mbl_checkframe(L, 2);
    mb_matrix X;
    float *owned = NULL;
    mb_error err;
    if (features_of(u, f, &X, &owned, &err) != MB_OK)
        return mbl_error(L, &err);
    float *out = mb_malloc((X.rows ? X.rows : 1) * sizeof *out);
    mb_status rc = mb_model_predict(u->m, &X, out, &err);
    mb_free(owned);
    if (rc != MB_OK) {
        mb_free(out);
        return mbl_error(L, &err);
    }
    mbl_vector *v = mbl_newvector(L, X.rows);
    for (size_t i = 0; i < X.rows; i++)
        v->v[i] = (double)out[i];
    mb_free(out);
    if (u->nclasses) {
        v->levels = mb_calloc(u->nclasses + 1, sizeof *v->levels);
        for (size_t k = 0; k < u->nclasses; k++)
            v->levels[k] = mb_strdup(u->classes[k]);
        v->nlevels = u->nclasses;
    }
    return 1;
}

/* [-2, +1, e] model:predict_proba(frame): a frame, one column per class */
static int m_predict_proba(lua_State *L)
{
    mbl_model *u = mbl_checkmodel(L, 1);
    mb_frame *f = mbl_checkframe(L, 2);
    if (!u->nclasses)
        return luaL_error(L, "predict_proba: model '%s' is a regression model", u->m->type->name);
    mb_matrix X;
    float *owned = NULL;
    mb_error err;
    if (features_of(u, f, &X, &owned, &err) != MB_OK)
        return mbl_error(L, &err);
    size_t k = u->nclasses;
    float *out = mb_malloc((X.rows ? X.rows : 1) * k * sizeof *out);
    mb_status rc = mb_model_predict_proba(u->m, &X, out, &err);
    mb_free(owned);
    if (rc != MB_OK) {
        mb_free(out);
        return mbl_error(L, &err);
    }
    mbl_frame *r = mbl_pushframe(L, mb_frame_new(X.rows));
    for (size_t c = 0; c < k; c++) {
        mb_column *col = mb_frame_add_num(r->f, u->classes[c], NULL, 1, &err);
        for (size_t i = 0; col && i < X.rows; i++)
            col->num[i] = out[i * k + c];
    }
    mb_free(out);
    return 1;
}

static int m_params(lua_State *L)
{
    mbl_model *u = mbl_checkmodel(L, 1);
    lua_createtable(L, 0, (int)u->m->params.n);
    for (size_t i = 0; i < u->m->params.n; i++) {
        lua_pushstring(L, u->m->params.text[i]);
        lua_setfield(L, -2, u->m->type->params[i].name);
    }
    return 1;
}

/* [-1, +1, e] model:clone([params]): an unfitted model of the same type and
** parameters, with params overriding some */
static int m_clone(lua_State *L)
{
    mbl_model *u = mbl_checkmodel(L, 1);
    size_t n = u->m->params.n, extra;
    char **over = settings_from(L, 2, &extra);
    const char **sv = mb_calloc(n + extra + 1, sizeof *sv);
    char **own = mb_calloc(n + 1, sizeof *own);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(u->m->type->params[i].name) + strlen(u->m->params.text[i]) + 2;
        own[i] = mb_malloc(len);
        snprintf(own[i], len, "%s=%s", u->m->type->params[i].name, u->m->params.text[i]);
        sv[i] = own[i];
    }
    for (size_t i = 0; i < extra; i++)
        sv[n + i] = over[i];
    /* the type name outlives this call (the plugin stays loaded) */
    const char *name = u->m->type->name;
    mb_registry *r = mbl_registry(L);
    mbl_model *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, MBL_MODEL);
    mb_error err;
    const mb_loaded_plugin *owner;
    const mb_model_type *t = mb_registry_find(r, name, &owner, &err);
    mb_params params;
    mb_status rc = t ? mb_params_parse(&params, t, sv, n + extra, &err) : MB_ENOTFOUND;
    if (rc == MB_OK)
        rc = mb_model_create(&c->m, t, owner, &params, &err);
    mbl_freestrings(own, n);
    mbl_freestrings(over, extra);
    mb_free(sv);
    return rc == MB_OK ? 1 : mbl_error(L, &err);
}

/* print(info.fit): "n_trees=100 train_loss=0.0123", names sorted */
static int fit_info_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_newtable(L); /* 2: the names */
    lua_Integer n = 0;
    for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1))
        if (lua_type(L, -2) == LUA_TSTRING)
            lua_pushvalue(L, -2), lua_seti(L, 2, ++n);
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, 2);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        const char *k = lua_tostring(L, -1);
        lua_rawget(L, 1);
        char num[40];
        if (lua_isinteger(L, -1))
            snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, -1));
        else
            snprintf(num, sizeof num, "%.6g", lua_tonumber(L, -1));
        lua_pop(L, 1);
        lua_geti(L, 2, i);
        k = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays alive in the names table */
        if (i > 1)
            luaL_addchar(&b, ' ');
        luaL_addstring(&b, k);
        luaL_addchar(&b, '=');
        luaL_addstring(&b, num);
    }
    luaL_pushresult(&b);
    return 1;
}

/* [-0, +1, m] what the fit found: counts as integers, and a __tostring */
void mbl_push_fit_info(lua_State *L, const mb_fit_info *fi)
{
    lua_createtable(L, 0, (int)fi->n);
    for (size_t k = 0; k < fi->n; k++) {
        double v = fi->values[k];
        if (v == floor(v) && fabs(v) < 9e15)
            lua_pushinteger(L, (lua_Integer)v);
        else
            lua_pushnumber(L, v);
        lua_setfield(L, -2, fi->names[k]);
    }
    if (luaL_newmetatable(L, "moonbench.fit_info")) {
        lua_pushcfunction(L, fit_info_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
}

static int m_info(lua_State *L)
{
    mbl_model *u = mbl_checkmodel(L, 1);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, u->m->type->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, u->m->owner->plugin->name);
    lua_setfield(L, -2, "plugin");
    lua_pushboolean(L, u->features != NULL);
    lua_setfield(L, -2, "fitted");
    if (u->features) {
        lua_pushstring(L, mb_task_name(u->m->task));
        lua_setfield(L, -2, "task");
        lua_createtable(L, (int)u->nclasses, 0);
        for (size_t k = 0; k < u->nclasses; k++) {
            lua_pushstring(L, u->classes[k]);
            lua_seti(L, -2, (lua_Integer)k + 1);
        }
        lua_setfield(L, -2, "classes");
        lua_createtable(L, (int)u->nfeatures, 0);
        for (size_t j = 0; j < u->nfeatures; j++) {
            lua_pushstring(L, u->features[j]);
            lua_seti(L, -2, (lua_Integer)j + 1);
        }
        lua_setfield(L, -2, "features");
        mb_fit_info fi;
        mb_error err;
        if (mb_model_fit_info(u->m, &fi, &err) != MB_OK)
            return mbl_error(L, &err);
        mbl_push_fit_info(L, &fi);
        lua_setfield(L, -2, "fit");
    }
    return 1;
}

/* [-2, +1, e] model:importance([kind]): {feature = value} */
static int m_importance(lua_State *L)
{
    mbl_model *u = mbl_checkmodel(L, 1);
    int kind = (int)luaL_optinteger(L, 2, 0);
    if (!u->features)
        return luaL_error(L, "importance: model '%s' is not fitted", u->m->type->name);
    if (!u->m->type->importance)
        return luaL_error(L, "importance: model '%s' does not report feature importance", u->m->type->name);
    double *imp = mb_calloc(u->nfeatures + 1, sizeof *imp);
    char msg[MB_PLUGIN_ERRLEN] = "";
    if (u->m->type->importance(u->m->impl, kind, imp, msg) != MB_PLUGIN_OK) {
        mb_free(imp);
        return luaL_error(L, "importance: %s", msg);
    }
    lua_createtable(L, 0, (int)u->nfeatures);
    for (size_t j = 0; j < u->nfeatures; j++) {
        lua_pushnumber(L, imp[j]);
        lua_setfield(L, -2, u->features[j]);
    }
    mb_free(imp);
    return 1;
}

/* The optional decision threshold of a save's options table at idx
** (field `threshold`): 0 when absent; raises unless a number in (0, 1). */
double mbl_save_threshold(lua_State *L, int idx)
{
    if (!lua_istable(L, idx))
        return 0;
    int type = lua_getfield(L, idx, "threshold");
    double t = type == LUA_TNIL ? 0 : lua_tonumber(L, -1);
    if (type != LUA_TNIL && (type != LUA_TNUMBER || !(t > 0 && t < 1)))
        luaL_error(L, "save: threshold must be a probability in (0, 1), not %s", luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
    return t;
}

/* [-3, +1, e] model:save(path[, {source = "data.h5", threshold = P}]): a
** bare fitted model as a bundle (no transforms: its inputs are its features) */
static int m_save(lua_State *L)
{
    mbl_model *u = mbl_checkmodel(L, 1);
    const char *path = luaL_checkstring(L, 2);
    const char *source = "";
    double threshold = mbl_save_threshold(L, 3);
    if (lua_istable(L, 3) && lua_getfield(L, 3, "source") == LUA_TSTRING)
        source = lua_tostring(L, -1);
    if (!u->features)
        return luaL_error(L, "save: model '%s' is not fitted", u->m->type->name);
    mbl_check_write(L, path);
    /* no Lua call that can raise from here until the bundle is freed */
    mb_bundle *b = mb_calloc(1, sizeof *b);
    mb_error err;
    char *file, *object;
    mb_split_spec(source, &file, &object);
    mb_status rc = mb_bundle_from_model(b, u->m, (const char *const *)u->features, u->nfeatures, u->target,
                                        (const char *const *)u->classes, file, source, 0, &err);
    mb_free(file);
    mb_free(object);
    for (size_t i = 0; rc == MB_OK && i < u->monitoring.n; i++) {
        const mb_state_array *a = &u->monitoring.arrays[i];
        mb_state_writer w = mb_state_writer_for(&b->monitoring);
        if (w.put(w.ud, a->name, a->type, a->data, a->count) != MB_PLUGIN_OK)
            rc = mb_fail(&err, MB_ENOMEM, "save: cannot copy the training statistics");
    }
    if (rc == MB_OK)
        rc = mb_bundle_add_model_facts(b, u->m, &err);
    if (rc == MB_OK && threshold > 0)
        rc = mb_bundle_set_threshold(b, threshold, &err);
    if (rc == MB_OK)
        rc = mb_bundle_save(path, b, &err);
    mb_bundle_free(&b);
    if (rc != MB_OK)
        return mbl_error(L, &err);
    lua_settop(L, 1);
    return 1;
}

static int m_tostring(lua_State *L)
{
    mbl_model *u = luaL_checkudata(L, 1, MBL_MODEL);
    if (!u->m)
        lua_pushstring(L, "model (closed)");
    else
        lua_pushfstring(L, "model %s (%s)%s", u->m->type->name, u->m->owner->plugin->name,
                        u->features ? ", fitted" : "");
    return 1;
}

static const luaL_Reg model_methods[] = {
    {"fit", m_fit}, {"predict", m_predict}, {"predict_proba", m_predict_proba}, {"params", m_params},
    {"clone", m_clone}, {"info", m_info}, {"importance", m_importance}, {"save", m_save}, {NULL, NULL}};

/* {====== transforms ======} */

static int transform_gc(lua_State *L)
{
    mbl_transform *u = luaL_checkudata(L, 1, MBL_TRANSFORM);
    mb_transform_free(&u->t);
    mbl_freestrings(u->cols, u->ncols);
    mb_free((void *)u->opts.strategy);
    mb_free((void *)u->opts.fill_text);
    mb_free((void *)u->opts.unknown);
    memset(u, 0, sizeof *u);
    return 0;
}

mbl_transform *mbl_checktransform(lua_State *L, int idx)
{
    mbl_transform *u = luaL_checkudata(L, idx, MBL_TRANSFORM);
    if (!u->t)
        luaL_error(L, "transform is closed");
    return u;
}

static char *opt_string(lua_State *L, int idx, const char *key)
{
    char *v = NULL;
    if (lua_getfield(L, idx, key) == LUA_TSTRING)
        v = mb_strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return v;
}

/* [-2, +1, e] mb.transform_new(kind, {columns=, strategy=, fill=, fill_text=,
** add_indicator=, unknown=, lo=, hi=}) */
static int l_transform_new(lua_State *L)
{
    const char *kind = luaL_checkstring(L, 1);
    int o = lua_istable(L, 2) ? 2 : 0;
    mbl_transform *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, MBL_TRANSFORM);
    u->opts.lo = -HUGE_VAL;
    u->opts.hi = HUGE_VAL;
    if (o) {
        if (lua_getfield(L, o, "columns") == LUA_TTABLE)
            u->cols = mbl_tostrings(L, -1, &u->ncols);
        else if (lua_type(L, -1) == LUA_TSTRING) {
            u->cols = mb_calloc(2, sizeof *u->cols);
            u->cols[0] = mb_strdup(lua_tostring(L, -1));
            u->ncols = 1;
        }
        lua_pop(L, 1);
        u->opts.strategy = opt_string(L, o, "strategy");
        u->opts.fill_text = opt_string(L, o, "fill_text");
        u->opts.unknown = opt_string(L, o, "unknown");
        if (lua_getfield(L, o, "fill") == LUA_TNUMBER)
            u->opts.fill = lua_tonumber(L, -1);
        if (lua_getfield(L, o, "add_indicator") != LUA_TNIL)
            u->opts.add_indicator = lua_toboolean(L, -1);
        if (lua_getfield(L, o, "lo") == LUA_TNUMBER)
            u->opts.lo = lua_tonumber(L, -1);
        if (lua_getfield(L, o, "hi") == LUA_TNUMBER)
            u->opts.hi = lua_tonumber(L, -1);
        lua_pop(L, 4);
    }
    u->opts.columns = (const char *const *)u->cols;
    u->opts.ncolumns = u->ncols;
    mb_error err;
    if (mb_transform_new(kind, &u->opts, &u->t, &err) != MB_OK)
        return mbl_error(L, &err);
    return 1;
}

static int t_fit(lua_State *L)
{
    mbl_transform *u = mbl_checktransform(L, 1);
    mb_error err;
    if (mb_transform_fit(u->t, mbl_checkframe(L, 2), &err) != MB_OK)
        return mbl_error(L, &err);
    lua_settop(L, 1);
    return 1;
}

static int t_apply(lua_State *L)
{
    mbl_transform *u = mbl_checktransform(L, 1);
    mb_frame *f = mbl_checkframe(L, 2);
    mbl_frame *r = mbl_pushframe(L, NULL);
    mb_error err;
    return mb_transform_apply(u->t, f, &r->f, &err) == MB_OK ? 1 : mbl_error(L, &err);
}

static int t_fitted(lua_State *L)
{
    lua_pushboolean(L, mb_transform_fitted(mbl_checktransform(L, 1)->t));
    return 1;
}

static int t_kind(lua_State *L)
{
    lua_pushstring(L, mb_transform_kind(mbl_checktransform(L, 1)->t));
    return 1;
}

/* [-1, +1, e] transform:clone(): unfitted, same options */
static int t_clone(lua_State *L)
{
    mbl_transform *u = mbl_checktransform(L, 1);
    mbl_transform *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, MBL_TRANSFORM);
    c->opts = u->opts;
    c->cols = mb_calloc(u->ncols + 1, sizeof *c->cols);
    for (size_t i = 0; i < u->ncols; i++)
        c->cols[i] = mb_strdup(u->cols[i]);
    c->ncols = u->ncols;
    /* NULL: all columns, as u (u->cols is an empty list in a clone, so test the option) */
    c->opts.columns = u->opts.columns ? (const char *const *)c->cols : NULL;
    c->opts.strategy = u->opts.strategy ? mb_strdup(u->opts.strategy) : NULL;
    c->opts.fill_text = u->opts.fill_text ? mb_strdup(u->opts.fill_text) : NULL;
    c->opts.unknown = u->opts.unknown ? mb_strdup(u->opts.unknown) : NULL;
    mb_error err;
    if (mb_transform_new(mb_transform_kind(u->t), &c->opts, &c->t, &err) != MB_OK)
        return mbl_error(L, &err);
    return 1;
}

static int t_tostring(lua_State *L)
{
    mbl_transform *u = luaL_checkudata(L, 1, MBL_TRANSFORM);
    if (!u->t)
        lua_pushstring(L, "transform (closed)");
    else
        lua_pushfstring(L, "transform %s%s", mb_transform_kind(u->t), mb_transform_fitted(u->t) ? " (fitted)" : "");
    return 1;
}

static const luaL_Reg transform_methods[] = {{"fit", t_fit},       {"apply", t_apply}, {"fitted", t_fitted},
                                             {"kind", t_kind},     {"clone", t_clone}, {NULL, NULL}};

/* {====== registration ======} */

/* <close> on a model, transform or loaded bundle: refused while a fit runs
** (a progress callback must not free what the plugin is using) */
static int close_guard(lua_State *L)
{
    if (mbl_busy(L, 0) > 0)
        return luaL_error(L, "cannot close a %s while a model is fitting", lua_tostring(L, lua_upvalueindex(2)));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 0);
    return 0;
}

void mbl_new_meta(lua_State *L, const char *name, lua_CFunction gc, lua_CFunction ts, const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gc);
    lua_pushstring(L, strchr(name, '.') + 1); /* "model", "transform", "scorer" */
    lua_pushcclosure(L, close_guard, 2);
    lua_setfield(L, -2, "__close");
    lua_pushstring(L, name); /* getmetatable(x) gives the name, not __gc */
    lua_setfield(L, -2, "__metatable");
    lua_pushcfunction(L, ts);
    lua_setfield(L, -2, "__tostring");
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

static const luaL_Reg model_funcs[] = {{"plugins", l_plugins},
                                       {"model", l_model},
                                       {"transform_new", l_transform_new},
                                       {NULL, NULL}};

void mbl_open_model(lua_State *L)
{
    mbl_new_meta(L, MBL_MODEL, model_gc, m_tostring, model_methods);
    mbl_new_meta(L, MBL_TRANSFORM, transform_gc, t_tostring, transform_methods);
    luaL_setfuncs(L, model_funcs, 0);
    mbl_open_pipeline(L);
}
