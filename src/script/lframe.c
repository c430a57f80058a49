/*
** lframe.c: frames in Lua: mb.open, mb.frame{...}, and the frame methods
** (shape, columns, head, describe, select/drop, target, sample, concat,
** save) plus `f.column` access as a vector; filter, derive and sort are in
** lrows.c.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frameops.h"
#include "h5io.h"
#include "io.h"
#include "lmb.h"
#include "rng.h"
#include "stats.h"

/* {====== the userdata ======} */

mbl_frame *mbl_pushframe(lua_State *L, mb_frame *f)
{
    mbl_frame *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->f = f;
    luaL_setmetatable(L, MBL_FRAME);
    return u;
}

mb_frame *mbl_checkframe(lua_State *L, int idx)
{
    mbl_frame *u = luaL_checkudata(L, idx, MBL_FRAME);
    if (!u->f)
        luaL_error(L, "frame is closed");
    return u->f;
}

static int frame_gc(lua_State *L)
{
    mbl_frame *u = luaL_checkudata(L, 1, MBL_FRAME);
    mb_frame_free(&u->f);
    return 0;
}

/* <close>: as __gc, but not while a fit reads the frame (a progress
** callback could close it under the plugin) */
static int frame_close(lua_State *L)
{
    if (mbl_busy(L, 0) > 0)
        return luaL_error(L, "cannot close a frame while a model is fitting");
    return frame_gc(L);
}

/* Push a frame made by a C call, or raise its error. The empty userdata
** comes first so the frame is owned as soon as it exists. */
#define RESULT(L, call)                                 \
    do {                                                \
        mbl_frame *u_ = mbl_pushframe((L), NULL);       \
        mb_error err_;                                  \
        if ((call(&u_->f, &err_)) != MB_OK)             \
            return mbl_error((L), &err_);               \
        return 1;                                       \
    } while (0)

/* {====== construction ======} */

/* [-2, +1, e] mb.open(path[, {target=, rows={start, count}}]) */
static int l_open(lua_State *L)
{
    const char *spec = luaL_checkstring(L, 1);
    const char *target = NULL;
    lua_Integer start = 0, count = 0;
    if (lua_istable(L, 2)) {
        /* the value stays on the stack (not popped): it keeps target alive */
        if (lua_getfield(L, 2, "target") == LUA_TSTRING)
            target = lua_tostring(L, -1);
        if (lua_getfield(L, 2, "rows") == LUA_TTABLE) {
            lua_geti(L, -1, 1);
            lua_geti(L, -2, 2);
            start = luaL_optinteger(L, -2, 1);
            count = luaL_optinteger(L, -1, 0);
            lua_pop(L, 2);
            if (start < 1 || count < 0)
                return luaL_error(L, "mb.open: rows = {start, count} with start >= 1 and count >= 0");
            start--;
        }
        lua_pop(L, 1);
    }
    mbl_frame *u = mbl_pushframe(L, NULL);
    mb_error err;
    mb_status rc;
    if (start || count) {
        char *file, *object;
        mb_split_spec(spec, &file, &object);
        rc = mb_h5_is_hdf5(file) == 1 ? mb_h5_read(file, object, (size_t)start, (size_t)count, &u->f, &err)
                                      : mb_fail(&err, MB_EARG, "%s: rows = {...} needs an HDF5 file", file);
        mb_free(file);
        mb_free(object);
    } else {
        rc = mb_open(spec, &u->f, &err);
    }
    if (rc != MB_OK)
        return mbl_error(L, &err);
    if (target && mb_frame_set_target(u->f, target, &err) != MB_OK)
        return mbl_error(L, &err);
    return 1;
}

/* Add column name from the Lua value at idx (an array or a vector). */
static void add_from_lua(lua_State *L, mb_frame *f, const char *name, int idx)
{
    mb_error err;
    mbl_vector *v = luaL_testudata(L, idx, MBL_VECTOR);
    size_t n = v ? v->n : mbl_checklen(L, idx);
    if (n != f->nrows)
        luaL_error(L, "mb.frame: column '%s' has %d values, the first column %d", name, (int)n, (int)f->nrows);
    int cat = v ? v->levels != NULL : 0;
    for (size_t i = 1; !v && i <= n && !cat; i++) {
        lua_geti(L, idx, (lua_Integer)i);
        cat = lua_type(L, -1) == LUA_TSTRING;
        lua_pop(L, 1);
    }
    if (cat) {
        mb_column *c = mb_frame_add_cat(f, name, &err);
        if (!c)
            mbl_error(L, &err);
        mb_dict d;
        mb_dict_init(&d, c);
        for (size_t i = 0; i < n; i++) {
            const char *s = NULL;
            if (v) {
                s = isnan(v->v[i]) ? NULL : v->levels[(size_t)v->v[i]];
            } else {
                lua_rawgeti(L, idx, (lua_Integer)i + 1); /* raw: nothing may raise while the dict is held */
                int t = lua_type(L, -1);
                s = t == LUA_TSTRING || t == LUA_TNUMBER ? lua_tostring(L, -1) : NULL;
                lua_pop(L, 1); /* the string stays alive in the table */
            }
            c->codes[i] = s ? mb_dict_intern(&d, s, strlen(s)) : -1;
        }
        mb_dict_free(&d);
        return;
    }
    mb_column *c = mb_frame_add_num(f, name, NULL, 1, &err);
    if (!c)
        mbl_error(L, &err);
    for (size_t i = 0; i < n; i++) {
        if (v) {
            c->num[i] = (float)v->v[i];
        } else {
            lua_geti(L, idx, (lua_Integer)i + 1);
            c->num[i] = lua_isnil(L, -1) ? NAN : (float)luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
    }
}

/* [-2, +1, e] mb.frame({a = {...}, b = {...}}, {order = {...}, target = "b"})
** Column order: opts.order, else sorted names. */
static int l_frame(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t nnames = 0;
    /* the names stay in a Lua table: no C memory while add_from_lua may raise */
    if (lua_istable(L, 2) && lua_getfield(L, 2, "order") == LUA_TTABLE) {
        nnames = mbl_checklen(L, -1);
    } else {
        if (lua_istable(L, 2))
            lua_pop(L, 1);
        lua_newtable(L);
        for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
            lua_pushvalue(L, -2);
            lua_seti(L, -4, (lua_Integer)++nnames);
        }
        lua_getglobal(L, "table");
        lua_getfield(L, -1, "sort");
        lua_pushvalue(L, -3);
        lua_call(L, 1, 0);
        lua_pop(L, 1);
    }
    int names = lua_gettop(L);
    mbl_frame *u = mbl_pushframe(L, NULL);
    int self = lua_gettop(L);
    size_t n = 0;
    if (nnames) {
        lua_geti(L, names, 1);
        lua_gettable(L, 1);
        mbl_vector *v = luaL_testudata(L, -1, MBL_VECTOR);
        n = v ? v->n : mbl_checklen(L, -1);
        lua_pop(L, 1);
    }
    u->f = mb_frame_new(n);
    for (size_t j = 0; j < nnames; j++) {
        lua_geti(L, names, (lua_Integer)j + 1);
        const char *name = lua_tostring(L, -1);
        if (!name)
            return luaL_error(L, "mb.frame: column names must be strings");
        if (lua_getfield(L, 1, name) == LUA_TNIL)
            return luaL_error(L, "mb.frame: no column '%s'", name);
        add_from_lua(L, u->f, name, lua_gettop(L));
        lua_pop(L, 2);
    }
    if (lua_istable(L, 2) && lua_getfield(L, 2, "target") == LUA_TSTRING) {
        mb_error err;
        if (mb_frame_set_target(u->f, lua_tostring(L, -1), &err) != MB_OK)
            return mbl_error(L, &err);
    }
    lua_settop(L, self);
    return 1;
}

/* {====== inspection ======} */

static int f_shape(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    lua_pushinteger(L, (lua_Integer)f->nrows);
    lua_pushinteger(L, (lua_Integer)f->ncols);
    return 2;
}

static int f_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mbl_checkframe(L, 1)->nrows);
    return 1;
}

static int f_columns(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    lua_createtable(L, (int)f->ncols, 0);
    for (size_t j = 0; j < f->ncols; j++) {
        lua_pushstring(L, f->cols[j].name);
        lua_seti(L, -2, (lua_Integer)j + 1);
    }
    return 1;
}

static int f_types(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    lua_createtable(L, 0, (int)f->ncols);
    for (size_t j = 0; j < f->ncols; j++) {
        lua_pushstring(L, f->cols[j].type == MB_COL_NUM ? "numeric" : "categorical");
        lua_setfield(L, -2, f->cols[j].name);
    }
    return 1;
}

static int f_target(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    if (f->target < 0)
        return 0;
    lua_pushstring(L, f->cols[f->target].name);
    return 1;
}

/* [-2, +1, e] f:set_target(name): marks the target (nil: no target), returns f */
static int f_set_target(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    mb_error err;
    if (lua_isnoneornil(L, 2)) {
        f->target = -1;
        lua_settop(L, 1);
        return 1;
    }
    if (mb_frame_set_target(f, luaL_checkstring(L, 2), &err) != MB_OK)
        return mbl_error(L, &err);
    lua_settop(L, 1);
    return 1;
}

/* A column as a vector. */
static void push_column(lua_State *L, const mb_frame *f, const mb_column *c)
{
    mbl_vector *v = mbl_newvector(L, f->nrows);
    if (c->type == MB_COL_NUM) {
        for (size_t i = 0; i < f->nrows; i++)
            v->v[i] = mb_float_decimal(MB_NUM(c, i)); /* 5.4, not 5.4000000953674 */
        return;
    }
    for (size_t i = 0; i < f->nrows; i++)
        v->v[i] = c->codes[i] < 0 ? (double)NAN : (double)c->codes[i];
    v->levels = mb_calloc(c->nlevels + 1, sizeof *v->levels);
    for (size_t k = 0; k < c->nlevels; k++)
        v->levels[k] = mb_strdup(c->levels[k]);
    v->nlevels = c->nlevels;
}

static int f_col(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    const char *name = luaL_checkstring(L, 2);
    long j = mb_frame_find(f, name);
    if (j < 0) {
        char list[512];
        mb_frame_column_list(f, list, sizeof list);
        return luaL_error(L, "no column named '%s' (columns: %s)", name, list);
    }
    push_column(L, f, &f->cols[j]);
    return 1;
}

/* Text of one cell for previews. */
static void cell(const mb_column *c, size_t i, char *buf, size_t n)
{
    if (c->type == MB_COL_NUM) {
        float x = MB_NUM(c, i);
        if (isnan(x))
            snprintf(buf, n, "nan");
        else
            snprintf(buf, n, "%.6g", (double)x);
    } else {
        snprintf(buf, n, "%s", c->codes[i] < 0 ? "nil" : c->levels[c->codes[i]]);
    }
}

/* An aligned preview: the first rows, as many columns as fit in 100 chars. */
static int f_tostring(lua_State *L)
{
    mbl_frame *u = luaL_checkudata(L, 1, MBL_FRAME);
    if (!u->f) {
        lua_pushstring(L, "frame (closed)");
        return 1;
    }
    const mb_frame *f = u->f;
    size_t rows = f->nrows < 10 ? f->nrows : 10, shown = 0, width = 0;
    int w[64];
    char b[64];
    for (size_t j = 0; j < f->ncols && j < 64; j++) {
        int m = (int)strlen(f->cols[j].name);
        for (size_t i = 0; i < rows; i++) {
            cell(&f->cols[j], i, b, sizeof b);
            m = (int)strlen(b) > m ? (int)strlen(b) : m;
        }
        w[j] = m > 14 ? 14 : m;
        if (width + (size_t)w[j] + 2 > 100)
            break;
        width += (size_t)w[j] + 2;
        shown++;
    }
    luaL_Buffer B;
    luaL_buffinit(L, &B);
    char line[256];
    snprintf(line, sizeof line, "frame: %zu rows x %zu columns%s%s\n", f->nrows, f->ncols,
             f->target >= 0 ? ", target " : "", f->target >= 0 ? f->cols[f->target].name : "");
    luaL_addstring(&B, line);
    for (size_t j = 0; j < shown; j++) {
        snprintf(line, sizeof line, "%*.*s  ", w[j], w[j], f->cols[j].name);
        luaL_addstring(&B, line);
    }
    luaL_addstring(&B, shown < f->ncols ? "...\n" : "\n");
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < shown; j++) {
            cell(&f->cols[j], i, b, sizeof b);
            snprintf(line, sizeof line, "%*.*s  ", w[j], w[j], b);
            luaL_addstring(&B, line);
        }
        luaL_addstring(&B, shown < f->ncols ? "...\n" : "\n");
    }
    if (rows < f->nrows) {
        snprintf(line, sizeof line, "... %zu more rows\n", f->nrows - rows);
        luaL_addstring(&B, line);
    }
    luaL_pushresult(&B);
    return 1;
}

/* [-1, +1, e] f:describe(): {columns = {{name=, type=, count=, missing=,
** mean=, std=, min=, q25=, q50=, q75=, max=} or {..., distinct=, top={{level, count}}}}} */
static int f_describe(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    lua_createtable(L, (int)f->ncols, 0);
    for (size_t j = 0; j < f->ncols; j++) {
        const mb_column *c = &f->cols[j];
        mb_colstats st;
        mb_error err;
        if (mb_colstats_compute(f, c, &st, &err) != MB_OK)
            return mbl_error(L, &err);
        lua_createtable(L, 0, 12);
        lua_pushstring(L, c->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, c->type == MB_COL_NUM ? "numeric" : "categorical");
        lua_setfield(L, -2, "type");
        lua_pushinteger(L, (lua_Integer)st.count);
        lua_setfield(L, -2, "count");
        lua_pushinteger(L, (lua_Integer)st.missing);
        lua_setfield(L, -2, "missing");
        if (c->type == MB_COL_NUM) {
            const char *keys[] = {"mean", "std", "min", "q25", "q50", "q75", "max"};
            double vals[] = {st.mean, st.std, st.min, st.q25, st.q50, st.q75, st.max};
            for (int k = 0; k < 7; k++) {
                lua_pushnumber(L, vals[k]);
                lua_setfield(L, -2, keys[k]);
            }
        } else {
            lua_pushinteger(L, (lua_Integer)st.distinct);
            lua_setfield(L, -2, "distinct");
            lua_createtable(L, (int)st.ntop, 0);
            for (size_t t = 0; t < st.ntop; t++) {
                lua_createtable(L, 2, 0);
                lua_pushstring(L, c->levels[st.top[t].code]);
                lua_seti(L, -2, 1);
                lua_pushinteger(L, (lua_Integer)st.top[t].count);
                lua_seti(L, -2, 2);
                lua_seti(L, -2, (lua_Integer)t + 1);
            }
            lua_setfield(L, -2, "top");
        }
        lua_seti(L, -2, (lua_Integer)j + 1);
    }
    return 1;
}

/* {====== making new frames ======} */

static int f_head(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    lua_Integer n = luaL_optinteger(L, 2, 5);
    size_t k = n < 0 ? 0 : (size_t)n > f->nrows ? f->nrows : (size_t)n;
    mbl_frame *u = mbl_pushframe(L, NULL); /* before idx: it may raise (memory) */
    size_t *idx = mb_malloc((k ? k : 1) * sizeof *idx);
    for (size_t i = 0; i < k; i++)
        idx[i] = i;
    mb_error err;
    mb_status rc = mb_frame_take(f, idx, k, &u->f, &err);
    mb_free(idx);
    return rc == MB_OK ? 1 : mbl_error(L, &err);
}

static int select_drop(lua_State *L, int keep)
{
    mb_frame *f = mbl_checkframe(L, 1);
    size_t n;
    char **names;
    const char *one = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    if (!one)
        luaL_checktype(L, 2, LUA_TTABLE);
    mbl_frame *u = mbl_pushframe(L, NULL); /* before the names: it may raise (memory) */
    if (one) {
        n = 1;
        names = mb_calloc(2, sizeof *names);
        names[0] = mb_strdup(one);
    } else {
        names = mbl_tostrings(L, 2, &n); /* raises only before allocating */
    }
    mb_error err;
    mb_status rc = mb_frame_select(f, (const char *const *)names, n, keep, &u->f, &err);
    mbl_freestrings(names, n);
    return rc == MB_OK ? 1 : mbl_error(L, &err);
}

static int f_select(lua_State *L) { return select_drop(L, 1); }
static int f_drop(lua_State *L) { return select_drop(L, 0); }

/* [-3, +1, e] f:sample(n or fraction[, seed]): rows without replacement, in random order */
static int f_sample(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    double a = luaL_checknumber(L, 2);
    uint64_t seed = (uint64_t)luaL_optinteger(L, 3, 0);
    if (!(a >= 0 && a <= (double)f->nrows)) /* also NaN: no conversion of an out-of-range double */
        return luaL_error(L, "sample: %f rows of %d; expected a fraction in [0, 1) or a count up to the row count",
                          a, (int)f->nrows);
    size_t k = a < 1 ? (size_t)llround(a * (double)f->nrows) : (size_t)a;
    if (k > f->nrows)
        return luaL_error(L, "sample: %f rows of %d; expected a fraction in [0, 1) or a count up to the row count",
                          a, (int)f->nrows);
    size_t *idx = mb_malloc((f->nrows ? f->nrows : 1) * sizeof *idx);
    for (size_t i = 0; i < f->nrows; i++)
        idx[i] = i;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)(mb_splitmix64(&seed) % (f->nrows - i)); /* rng.h: the documented generator */
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    mbl_frame *u = mbl_pushframe(L, NULL);
    mb_error err;
    mb_status rc = mb_frame_take(f, idx, k, &u->f, &err);
    mb_free(idx);
    return rc == MB_OK ? 1 : mbl_error(L, &err);
}

/* [-2, +1, e] f:take{1, 5, 9}: rows by 1-based index */
static int f_take(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t n = mbl_checklen(L, 2);
    size_t *idx = lua_newuserdatauv(L, (n ? n : 1) * sizeof *idx, 0);
    for (size_t i = 0; i < n; i++) {
        lua_geti(L, 2, (lua_Integer)i + 1);
        lua_Integer r = luaL_checkinteger(L, -1);
        lua_pop(L, 1);
        if (r < 1 || (size_t)r > f->nrows)
            return luaL_error(L, "take: row %d out of range 1..%d", (int)r, (int)f->nrows);
        idx[i] = (size_t)r - 1;
    }
    mbl_frame *u = mbl_pushframe(L, NULL);
    mb_error err;
    return mb_frame_take(f, idx, n, &u->f, &err) == MB_OK ? 1 : mbl_error(L, &err);
}

static int f_concat(lua_State *L)
{
    mb_frame *a = mbl_checkframe(L, 1), *b = mbl_checkframe(L, 2);
    mbl_frame *u = mbl_pushframe(L, NULL);
    mb_error err;
    return mb_frame_concat(a, b, &u->f, &err) == MB_OK ? 1 : mbl_error(L, &err);
}

static int f_copy(lua_State *L)
{
    mb_frame *a = mbl_checkframe(L, 1);
    mbl_frame *u = mbl_pushframe(L, NULL);
    mb_error err;
    return mb_frame_copy(a, &u->f, &err) == MB_OK ? 1 : mbl_error(L, &err);
}

/* [-2, +0, e] f:save(path): HDF5, moonbench's matrix layout */
static int f_save(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    const char *path = luaL_checkstring(L, 2);
    mbl_check_write(L, path);
    mb_error err;
    if (mb_h5_write(path, f, &err) != MB_OK)
        return mbl_error(L, &err);
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg frame_methods[] = {
    {"shape", f_shape}, {"columns", f_columns}, {"types", f_types}, {"target", f_target},
    {"set_target", f_set_target}, {"col", f_col}, {"head", f_head}, {"describe", f_describe},
    {"select", f_select}, {"drop", f_drop}, {"sample", f_sample}, {"take", f_take},
    {"concat", f_concat}, {"copy", f_copy}, {"save", f_save}, {NULL, NULL}};

/* f:method, or f.column as a vector */
static int f_index(lua_State *L)
{
    luaL_getmetatable(L, MBL_FRAME);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL)
        return 1;
    mb_frame *f = mbl_checkframe(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING) {
        long j = mb_frame_find(f, lua_tostring(L, 2));
        if (j >= 0) {
            push_column(L, f, &f->cols[j]);
            return 1;
        }
    }
    return luaL_error(L, "frame has no method or column '%s'", luaL_tolstring(L, 2, NULL));
}

static const luaL_Reg frame_meta[] = {{"__index", f_index},       {"__len", f_len},
                                      {"__tostring", f_tostring}, {"__gc", frame_gc},
                                      {"__close", frame_close},      {"__concat", f_concat},
                                      {NULL, NULL}};

static const luaL_Reg frame_funcs[] = {{"open", l_open}, {"frame", l_frame}, {"concat", f_concat}, {NULL, NULL}};

void mbl_open_frame(lua_State *L)
{
    luaL_newmetatable(L, MBL_FRAME);
    luaL_setfuncs(L, frame_meta, 0);
    lua_pushstring(L, MBL_FRAME); /* getmetatable(f) gives this name, not __gc */
    lua_setfield(L, -2, "__metatable");
    luaL_newlib(L, frame_methods);
    lua_setfield(L, -2, "methods");
    lua_pop(L, 1);
    luaL_setfuncs(L, frame_funcs, 0);
}
