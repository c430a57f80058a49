/*
** lpipeline.c: pipelines as bundles, in C (the C half of lua/moonbench's
** pipeline:save, mb.load and pipeline:predict):
**   mb._save_pipeline(path, spec)  a fitted pipeline written as a bundle
**   mb._pipeline_scorer(spec)      the same bundle built in memory and opened
**                                  as a scorer: a fitted pipeline predicts
**                                  through the core's one scorer
**                                  (mb_scorer_predict_frame), so its
**                                  predictions are the saved bundle's
**   mb._load_pipeline(path)        a bundle opened as a scorer
**   scorer:score(frame)            steps and model in one C call (no Lua step)
**   scorer:predict(frame)          the model only (the caller applied the steps)
**   scorer:step(i, frame), scorer:importance([kind])
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "dataset.h"
#include "frameops.h"
#include "job.h"
#include "lmb.h"

/* {====== saved pipelines ======} */

static int bundlebox_gc(lua_State *L)
{
    mb_bundle_free(lua_touserdata(L, 1));
    return 0;
}

/* [-0, +k, e] the bundle of the pipeline spec at idx 2, built in C memory
** in a box left on the stack (an error frees it; take it with *box = NULL).
** full: everything a saved bundle keeps (monitoring statistics, model
** facts, the Lua steps' text); without it, what a scorer needs only (a Lua
** step is then a kind, applied by the Lua layer). */
static mb_bundle **build_bundle(lua_State *L, int full, mb_error *err, mb_status *rc_out)
{
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "model");
    mbl_model *m = mbl_checkmodel(L, -1);
    if (!m->features)
        luaL_error(L, "save: the model is not fitted");
    lua_getfield(L, 2, "inputs");
    mb_frame *inputs = mbl_checkframe(L, -1);
    const char *source = (lua_getfield(L, 2, "source"), lua_tostring(L, -1));
    const char *source_file = (lua_getfield(L, 2, "source_file"), lua_tostring(L, -1));
    const char *script = (lua_getfield(L, 2, "script"), lua_tostring(L, -1));
    /* rows the pipeline was fitted on (inputs is its 0-row schema) */
    lua_Integer rows = (lua_getfield(L, 2, "rows"), luaL_optinteger(L, -1, 0));
    double threshold = mbl_save_threshold(L, 2);
    lua_getfield(L, 2, "steps");
    int steps = lua_gettop(L);
    size_t nsteps = lua_istable(L, steps) ? mbl_checklen(L, steps) : 0;

    /* the bundle is built in C memory: box it so an error frees it */
    mb_bundle **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, "moonbench.bundlebox")) {
        lua_pushcfunction(L, bundlebox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    *box = mb_calloc(1, sizeof **box);
    mb_bundle *b = *box;
    mb_status rc = mb_bundle_from_model(b, m->m, (const char *const *)m->features, m->nfeatures, m->target,
                                        (const char *const *)m->classes, source_file, source, rows > 0 ? (size_t)rows : 0, err);
    for (size_t i = 0; full && rc == MB_OK && i < m->monitoring.n; i++) {
        const mb_state_array *a = &m->monitoring.arrays[i];
        mb_state_writer w = mb_state_writer_for(&b->monitoring);
        if (w.put(w.ud, a->name, a->type, a->data, a->count) != MB_PLUGIN_OK)
            rc = mb_fail(err, MB_ENOMEM, "save: cannot copy the training statistics");
    }
    if (full && rc == MB_OK) /* so that mb.load(path).model:importance() needs no plugin */
        rc = mb_bundle_add_model_facts(b, m->m, err);
    if (rc == MB_OK) {
        b->ninputs = 0;
        b->inputs = mb_calloc(inputs->ncols + 1, sizeof *b->inputs);
        b->input_types = mb_calloc(inputs->ncols + 1, sizeof *b->input_types);
        for (size_t j = 0; j < inputs->ncols; j++) {
            if ((long)j == inputs->target)
                continue;
            b->inputs[b->ninputs] = mb_strdup(inputs->cols[j].name);
            b->input_types[b->ninputs++] = mb_strdup(inputs->cols[j].type == MB_COL_NUM ? "numeric" : "categorical");
        }
        b->nsteps = nsteps;
        b->step_kinds = mb_calloc(nsteps + 1, sizeof *b->step_kinds);
        b->steps = mb_calloc(nsteps + 1, sizeof *b->steps);
        if (script) {
            mb_free(b->script);
            b->script = mb_strdup(script);
        }
    }
    for (size_t i = 0; rc == MB_OK && i < nsteps; i++) {
        lua_geti(L, steps, (lua_Integer)i + 1);
        mbl_transform *t = luaL_testudata(L, -1, MBL_TRANSFORM);
        if (t && !t->t) {
            rc = mb_fail(err, MB_EARG, "save: step %zu is a closed transform", i + 1);
        } else if (t) {
            b->step_kinds[i] = mb_strdup(mb_transform_kind(t->t));
            rc = mb_transform_save(t->t, &b->steps[i], err);
        } else if (lua_istable(L, -1) && !full) {
            b->step_kinds[i] = mb_strdup("lua");
        } else if (lua_istable(L, -1)) {
            b->step_kinds[i] = mb_strdup("lua");
            const char *src = (lua_getfield(L, -1, "source"), lua_tostring(L, -1));
            const char *state = (lua_getfield(L, -2, "state"), lua_tostring(L, -1));
            if (!src || !state) {
                rc = mb_fail(err, MB_EARG, "save: step %zu: a Lua transform needs source and state text", i + 1);
            } else {
                const char *v[1] = {src};
                rc = mb_state_put_strings(&b->steps[i], "source", v, 1, err);
                v[0] = state;
                if (rc == MB_OK)
                    rc = mb_state_put_strings(&b->steps[i], "state", v, 1, err);
            }
            lua_pop(L, 2);
        } else {
            rc = mb_fail(err, MB_EARG, "save: step %zu is not a transform", i + 1);
        }
        lua_pop(L, 1);
    }
    if (rc == MB_OK && threshold > 0)
        rc = mb_bundle_set_threshold(b, threshold, err);
    *rc_out = rc;
    return box;
}

/* [-2, +0, e] mb._save_pipeline(path, {steps = {...}, model = m, inputs = frame,
** source = spec, source_file = path, script = text, threshold = P})
** Each step is a transform userdata or a table {kind = "lua", source = text,
** state = text} (a Lua transform, serialised by lua/moonbench). */
static int l_save_pipeline(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mbl_check_write(L, path);
    mb_error err;
    mb_status rc;
    mb_bundle **box = build_bundle(L, 1, &err, &rc);
    if (rc == MB_OK)
        rc = mb_bundle_save(path, *box, &err);
    mb_bundle_free(box);
    return rc == MB_OK ? 0 : mbl_error(L, &err);
}

/* {====== loaded bundles ======} */

typedef struct mbl_scorer {
    mb_bundle *b;
    mb_scorer s;
    int open;
    /* labels and probabilities as the scorer writes them (float), kept from
    ** call to call: a fresh buffer per predict was first-touched every time,
    ** the most of what a Lua predict of a large frame cost over C's */
    float *scratch;
    size_t cap;
} mbl_scorer;

/* For lexplain.c: the open scorer of the userdata at idx, or NULL. */
mb_scorer *mbl_toscorer(lua_State *L, int idx)
{
    mbl_scorer *u = luaL_testudata(L, idx, MBL_SCORER);
    return u && u->open ? &u->s : NULL;
}

static int scorer_gc(lua_State *L)
{
    mbl_scorer *u = luaL_checkudata(L, 1, MBL_SCORER);
    if (u->open)
        mb_scorer_close(&u->s);
    mb_bundle_free(&u->b);
    mb_free(u->scratch);
    u->scratch = NULL;
    u->cap = 0;
    u->open = 0;
    return 0;
}

/* [-1, +2, e] mb._load_pipeline(path): scorer, info = {steps = {{kind=, source=, state=}...},
** classes=, features=, inputs=, task=, model=, plugin=} */
static int l_load_pipeline(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    /* the registry first: lua_close finalizes in reverse order of creation,
    ** so the scorer must be closed before the plugins are unloaded */
    mb_registry *reg = mbl_registry(L);
    mbl_scorer *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, MBL_SCORER);
    mb_error err;
    if (mb_bundle_load(path, &u->b, &err) != MB_OK)
        return mbl_error(L, &err);
    if (mb_scorer_open(&u->s, u->b, reg, &err) != MB_OK)
        return mbl_error(L, &err);
    u->open = 1;
    const mb_bundle *b = u->b;
    lua_createtable(L, 0, 8);
    lua_pushstring(L, mb_task_name(b->task));
    lua_setfield(L, -2, "task");
    lua_pushstring(L, b->model);
    lua_setfield(L, -2, "model");
    lua_pushstring(L, b->plugin);
    lua_setfield(L, -2, "plugin");
    lua_pushstring(L, b->target);
    lua_setfield(L, -2, "target");
    /* as a fresh model's info(): name, fitted, and the fit info the bundle keeps */
    lua_pushstring(L, b->model);
    lua_setfield(L, -2, "name");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "fitted");
    {
        const double *values = NULL;
        size_t nfit = 0;
        char **names = mb_bundle_fit_info(b, &values, &nfit);
        mb_fit_info fi = {nfit, (const char *const *)names, values};
        mbl_push_fit_info(L, &fi); /* (only out of memory raises here, as for the steps below) */
        mbl_freestrings(names, nfit);
        lua_setfield(L, -2, "fit");
    }
    lua_createtable(L, (int)b->nclasses, 0);
    for (size_t k = 0; k < b->nclasses; k++)
        lua_pushstring(L, b->classes[k]), lua_seti(L, -2, (lua_Integer)k + 1);
    lua_setfield(L, -2, "classes");
    lua_createtable(L, (int)b->nfeatures, 0);
    for (size_t k = 0; k < b->nfeatures; k++)
        lua_pushstring(L, b->features[k]), lua_seti(L, -2, (lua_Integer)k + 1);
    lua_setfield(L, -2, "features");
    lua_createtable(L, (int)b->ninputs, 0);
    for (size_t k = 0; k < b->ninputs; k++)
        lua_pushstring(L, b->inputs[k]), lua_seti(L, -2, (lua_Integer)k + 1);
    lua_setfield(L, -2, "inputs");
    lua_createtable(L, (int)b->nsteps, 0);
    for (size_t i = 0; i < b->nsteps; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, b->step_kinds[i]);
        lua_setfield(L, -2, "kind");
        if (strcmp(b->step_kinds[i], "lua") == 0) {
            mbl_push_state_string(L, &b->steps[i], "source", path, i);
            lua_setfield(L, -2, "source");
            mbl_push_state_string(L, &b->steps[i], "state", path, i);
            lua_setfield(L, -2, "state");
        }
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "steps");
    return 2;
}

/* [-2, +2, e] scorer:step(i, frame): apply C transform step i (1-based) */
static int s_step(lua_State *L)
{
    mbl_scorer *u = luaL_checkudata(L, 1, MBL_SCORER);
    lua_Integer i = luaL_checkinteger(L, 2);
    mb_frame *f = mbl_checkframe(L, 3);
    if (!u->open || i < 1 || (size_t)i > u->b->nsteps || !u->s.steps[i - 1])
        return luaL_error(L, "scorer: no C transform at step %d", (int)i);
    mbl_frame *r = mbl_pushframe(L, NULL);
    mb_error err;
    return mb_transform_apply(u->s.steps[i - 1], f, &r->f, &err) == MB_OK ? 1 : mbl_error(L, &err);
}

/* [-0, +1|2, e] the scorer's predictions of the frame at idx 2: labels or
** values (vector), and for classifiers unless labels_only the
** probabilities (frame). steps: apply the bundle's transforms first (in C:
** the frames between steps are freed as soon as the next is made). */
static int push_predictions(lua_State *L, mbl_scorer *u, int steps, int labels_only)
{
    mb_frame *f = mbl_checkframe(L, 2);
    if (!u->open)
        return luaL_error(L, "scorer is closed");
    const mb_bundle *b = u->b;
    size_t n = f->nrows, k = labels_only ? 0 : b->nclasses;
    mbl_vector *v = mbl_newvector(L, n);
    size_t need = (n ? n : 1) * (k + 1);
    if (need > u->cap) {
        mb_free(u->scratch);
        u->scratch = NULL;
        u->cap = 0;
        u->scratch = mb_malloc(need * sizeof *u->scratch);
        u->cap = need;
    }
    float *label = u->scratch, *proba = k ? u->scratch + (n ? n : 1) : NULL;
    size_t saved = u->b->nsteps;
    if (!steps)
        u->b->nsteps = 0; /* the caller applied the transforms */
    mb_error err;
    mb_status rc = mb_scorer_predict_frame(&u->s, f, label, proba, &err);
    u->b->nsteps = saved;
    if (rc != MB_OK)
        return mbl_error(L, &err);
    for (size_t i = 0; i < n; i++)
        v->v[i] = (double)label[i];
    if (b->nclasses) {
        v->levels = mb_calloc(b->nclasses + 1, sizeof *v->levels);
        for (size_t c = 0; c < b->nclasses; c++)
            v->levels[c] = mb_strdup(b->classes[c]);
        v->nlevels = b->nclasses;
    }
    if (!k)
        return 1;
    mbl_frame *r = mbl_pushframe(L, mb_frame_new(n));
    for (size_t c = 0; c < k; c++) {
        mb_column *col = mb_frame_add_num(r->f, b->classes[c], NULL, 1, &err);
        for (size_t i = 0; col && i < n; i++)
            col->num[i] = proba[i * k + c];
    }
    return 2;
}

/* [-3, +2, e] scorer:predict(frame[, labels_only]): the model on a frame
** the caller (Lua) already took through the pipeline's steps */
static int s_predict(lua_State *L)
{
    return push_predictions(L, luaL_checkudata(L, 1, MBL_SCORER), 0, lua_toboolean(L, 3));
}

/* [-3, +2, e] scorer:score(frame[, labels_only]): the bundle's steps, then
** the model, as mb_scorer_predict_frame scores it for `moonbench score`
** (a Lua step refuses: the Lua layer applies those) */
static int s_score(lua_State *L)
{
    mbl_scorer *u = luaL_checkudata(L, 1, MBL_SCORER);
    for (size_t i = 0; u->open && i < u->b->nsteps; i++)
        if (!u->s.steps[i])
            return luaL_error(L, "scorer:score: step %d is a Lua transform (apply the steps in Lua)", (int)i + 1);
    return push_predictions(L, u, 1, lua_toboolean(L, 3));
}

/* [-1, +1, e] mb._pipeline_scorer({steps = {...}, model = m, inputs = frame}):
** a fitted pipeline's bundle, in memory, opened as a scorer; a Lua step
** is given as {kind = "lua"} and applied by the caller */
static int l_pipeline_scorer(lua_State *L)
{
    lua_settop(L, 1);
    lua_pushnil(L);
    lua_insert(L, 1); /* the spec at 2, as _save_pipeline has it */
    mb_registry *reg = mbl_registry(L); /* before the scorer: see l_load_pipeline */
    mbl_scorer *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, MBL_SCORER);
    int ui = lua_gettop(L);
    mb_error err;
    mb_status rc;
    mb_bundle **box = build_bundle(L, 0, &err, &rc);
    if (rc != MB_OK)
        return mbl_error(L, &err);
    u->b = *box; /* the scorer owns it now */
    *box = NULL;
    if (mb_scorer_open(&u->s, u->b, reg, &err) != MB_OK)
        return mbl_error(L, &err);
    u->open = 1;
    lua_settop(L, ui);
    return 1;
}

/* [-2, +1, e] scorer:importance([kind]): {feature = value}, as a fresh
** model's importance(): stored in the bundle at save time, or asked of
** the loaded plugin model */
static int s_importance(lua_State *L)
{
    mbl_scorer *u = luaL_checkudata(L, 1, MBL_SCORER);
    int kind = (int)luaL_optinteger(L, 2, 0);
    if (!u->open)
        return luaL_error(L, "scorer is closed");
    const mb_bundle *b = u->b;
    const double *imp = mb_bundle_importance(b, kind);
    double *own = NULL;
    if (!imp && u->s.model && u->s.model->type->importance) {
        char msg[MB_PLUGIN_ERRLEN] = "";
        own = mb_calloc(b->nfeatures + 1, sizeof *own);
        if (u->s.model->type->importance(u->s.model->impl, kind, own, msg) != MB_PLUGIN_OK) {
            mb_free(own);
            return luaL_error(L, "importance: %s", msg);
        }
        imp = own;
    }
    if (!imp)
        return luaL_error(L, "importance: the bundle's model '%s' stores no feature importance of kind %d "
                          "(it reports none, or the bundle predates it)", b->model, kind);
    lua_createtable(L, 0, (int)b->nfeatures);
    for (size_t j = 0; j < b->nfeatures; j++) {
        lua_pushnumber(L, imp[j]);
        lua_setfield(L, -2, b->features[j]);
    }
    mb_free(own);
    return 1;
}

static int s_tostring(lua_State *L)
{
    mbl_scorer *u = luaL_checkudata(L, 1, MBL_SCORER);
    lua_pushfstring(L, "loaded model %s", u->b ? u->b->model : "(closed)");
    return 1;
}

static const luaL_Reg scorer_methods[] = {
    {"predict", s_predict}, {"score", s_score}, {"step", s_step}, {"importance", s_importance}, {NULL, NULL}};

static const luaL_Reg pipeline_funcs[] = {{"_save_pipeline", l_save_pipeline},
                                          {"_pipeline_scorer", l_pipeline_scorer},
                                          {"_load_pipeline", l_load_pipeline},
                                          {NULL, NULL}};

void mbl_open_pipeline(lua_State *L)
{
    mbl_new_meta(L, MBL_SCORER, scorer_gc, s_tostring, scorer_methods);
    luaL_setfuncs(L, pipeline_funcs, 0);
}
