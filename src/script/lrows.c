/*
** lrows.c: the frame methods that look at rows one by one: filter, derive
** and sort. filter and derive take a vector (vectorised, in C), a Lua
** function of the row table, or the text of a Lua expression over the
** row's columns ("petal_length > 4 and target == 'virginica'"), which the
** workbench's Data tab records in the session. Each takes an options table
** whose `progress` function is called as progress(fraction, what) while
** it works (an error in it stops the work, as in fit), so the same line
** runs with a progress bar in the workbench and without one in a script.
**
** An expression runs once per row in an environment where each column is
** a variable: a numeric column's value (nil when missing), a categorical
** column's level text (nil when missing). A column name that is not a Lua
** identifier is reached as col["sepal length (cm)"] and, when it maps to
** one unambiguously, as an identifier made of its letters, digits and
** underscores (sepal_length_cm). Other names are the script's globals
** (math, string, functions defined earlier); a name that is neither is an
** error (a misspelt column must not silently be nil).
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "frameops.h"
#include "lmb.h"

#define PROGRESS_ROWS 65536

/* {====== rows as Lua values ======} */

/* Push cell (row i) of column c: a number, a level's text, or nil. */
static void push_cell(lua_State *L, const mb_column *c, size_t i)
{
    if (c->type == MB_COL_NUM) {
        float x = MB_NUM(c, i);
        if (isnan(x))
            lua_pushnil(L);
        else
            lua_pushnumber(L, mb_float_decimal(x)); /* 5.4, not 5.4000000953674 */
        return;
    }
    int32_t code = c->codes[i];
    if (code < 0 || (size_t)code >= c->nlevels)
        lua_pushnil(L);
    else
        lua_pushstring(L, c->levels[code]);
}

/* Push the row table {col = value} of row i (for row functions). */
static void push_row(lua_State *L, const mb_frame *f, size_t i)
{
    lua_createtable(L, 0, (int)f->ncols);
    for (size_t j = 0; j < f->ncols; j++) {
        push_cell(L, &f->cols[j], i);
        lua_setfield(L, -2, f->cols[j].name);
    }
}

/* The row an expression's environment reads. */
typedef struct row_at {
    const mb_frame *f;
    size_t i;
} row_at;

/* __index of an expression's environment. Upvalues: the row_at, the
** names table (name -> column index, 1-based), the col proxy (NULL in the
** proxy itself: it sees exact names only), the globals. */
static int env_index(lua_State *L)
{
    row_at *r = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushvalue(L, 2);
    int type = lua_rawget(L, lua_upvalueindex(2));
    if (type == LUA_TNUMBER) {
        push_cell(L, &r->f->cols[lua_tointeger(L, -1) - 1], r->i);
        return 1;
    }
    if (type == LUA_TSTRING) /* an ambiguous identifier */
        return luaL_error(L, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    if (lua_isnil(L, lua_upvalueindex(3))) { /* col[...]: exact names only */
        char list[512];
        mb_frame_column_list(r->f, list, sizeof list);
        return luaL_error(L, "col[\"%s\"]: no such column (columns: %s)", luaL_tolstring(L, 2, NULL), list);
    }
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "col") == 0) {
        lua_pushvalue(L, lua_upvalueindex(3));
        return 1;
    }
    lua_pushvalue(L, 2);
    if (lua_gettable(L, lua_upvalueindex(4)) == LUA_TNIL && lua_type(L, 2) == LUA_TSTRING) {
        /* a misspelt column would be nil: say so instead */
        char list[512];
        mb_frame_column_list(r->f, list, sizeof list);
        return luaL_error(L, "'%s' is not a column (columns: %s) nor a global", lua_tostring(L, 2), list);
    }
    return 1;
}

static int is_keyword(const char *s)
{
    static const char *const kw[] = {"and", "break", "do", "else", "elseif", "end", "false", "for",
                                      "function", "goto", "if", "in", "local", "nil", "not", "or",
                                      "repeat", "return", "then", "true", "until", "while", NULL};
    for (int k = 0; kw[k]; k++)
        if (strcmp(s, kw[k]) == 0)
            return 1;
    return 0;
}

/* The identifier a column name maps to: runs of other characters become
** one '_', none at the ends, '_' before a leading digit; "" if nothing is left. */
static void identifier(const char *name, char *out, size_t n)
{
    size_t o = 0;
    int gap = 0;
    for (const char *p = name; *p && o + 2 < n; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
        if (!ok) {
            gap = o > 0;
            continue;
        }
        if (gap)
            out[o++] = '_';
        gap = 0;
        if (o == 0 && ch >= '0' && ch <= '9')
            out[o++] = '_';
        out[o++] = ch;
    }
    out[o] = 0;
    if (is_keyword(out))
        out[0] = 0;
}

/* [-0, +1, e] The names table of f: exact names, then identifiers made
** from the others where no two columns give the same one. */
static void push_names(lua_State *L, const mb_frame *f)
{
    lua_createtable(L, 0, (int)f->ncols * 2);
    int t = lua_gettop(L);
    for (size_t j = 0; j < f->ncols; j++) {
        lua_pushinteger(L, (lua_Integer)j + 1);
        lua_setfield(L, t, f->cols[j].name);
    }
    lua_newtable(L); /* identifiers seen: false once ambiguous */
    for (size_t j = 0; j < f->ncols; j++) {
        char id[256];
        identifier(f->cols[j].name, id, sizeof id);
        if (!id[0] || strcmp(id, f->cols[j].name) == 0)
            continue;
        if (lua_getfield(L, t, id) != LUA_TNIL) { /* a real column of that name wins */
            lua_pop(L, 1);
            continue;
        }
        lua_pop(L, 1);
        int seen = lua_getfield(L, -1, id);
        if (seen == LUA_TNUMBER) /* ambiguous: its use says so */
            lua_pushfstring(L, "'%s' could be column '%s' or '%s': write col[\"...\"]", id,
                            f->cols[lua_tointeger(L, -1) - 1].name, f->cols[j].name);
        else if (seen == LUA_TNIL)
            lua_pushinteger(L, (lua_Integer)j + 1);
        else
            lua_pushvalue(L, -1);
        lua_setfield(L, -3, id);
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, t);
    }
    lua_pop(L, 1);
}

/* [-0, +1, e] Compile expression text over f's rows: pushes the function
** (no arguments, returns the value) and returns its row_at. */
static row_at *compile_expr(lua_State *L, const mb_frame *f, const char *text, const char *what)
{
    row_at *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->f = f;
    r->i = 0;
    int ur = lua_gettop(L);
    lua_createtable(L, 0, (int)f->ncols); /* exact names, for col[...] */
    for (size_t j = 0; j < f->ncols; j++) {
        lua_pushinteger(L, (lua_Integer)j + 1);
        lua_setfield(L, -2, f->cols[j].name);
    }
    int exact = lua_gettop(L);
    lua_newtable(L); /* the col proxy */
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, ur);
    lua_pushvalue(L, exact);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushcclosure(L, env_index, 4);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    int proxy = lua_gettop(L);
    lua_pushfstring(L, "return (%s\n)", text);
    char name[64];
    snprintf(name, sizeof name, "=%s expression", what);
    if (luaL_loadbufferx(L, lua_tostring(L, -1), lua_rawlen(L, -1), name, "t") != LUA_OK)
        luaL_error(L, "%s: the expression is not valid Lua: %s", what, lua_tostring(L, -1));
    lua_newtable(L); /* the environment */
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, ur);
    push_names(L, f);
    lua_pushvalue(L, proxy);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushcclosure(L, env_index, 4);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setupvalue(L, -2, 1); /* _ENV */
    lua_copy(L, -1, ur);      /* the function where the row_at was: it holds r through its env */
    lua_settop(L, ur);
    return r;
}

/* {====== options and progress ======} */

/* The progress function of the options table at idx (or a boolean/nil
** there), pushed, or nil. */
static void push_progress(lua_State *L, int idx)
{
    if (lua_istable(L, idx))
        lua_getfield(L, idx, "progress");
    else
        lua_pushnil(L);
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1))
        luaL_error(L, "progress: expected a function, got %s", luaL_typename(L, -1));
}

static void call_progress(lua_State *L, int fn, double frac, const char *what)
{
    if (lua_isnil(L, fn))
        return;
    lua_pushvalue(L, fn);
    lua_pushnumber(L, frac);
    lua_pushstring(L, what);
    lua_call(L, 2, 0);
}

/* The function to call per row at idx: a function as given, or an
** expression compiled (then *r is set). Pushed. */
static void push_row_fn(lua_State *L, const mb_frame *f, int idx, const char *what, row_at **r)
{
    *r = NULL;
    if (lua_type(L, idx) == LUA_TSTRING) {
        *r = compile_expr(L, f, lua_tostring(L, idx), what);
        return;
    }
    luaL_checktype(L, idx, LUA_TFUNCTION);
    lua_pushvalue(L, idx);
}

/* Call the row function at fn for row i (-> one value on the stack); an
** error names the row. */
static void call_row(lua_State *L, int fn, row_at *r, const mb_frame *f, size_t i, const char *what)
{
    lua_pushvalue(L, fn);
    int nargs = 0;
    if (r)
        r->i = i;
    else {
        push_row(L, f, i);
        nargs = 1;
    }
    if (lua_pcall(L, nargs, 1, 0) != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        luaL_error(L, "%s: row %d: %s", what, (int)i + 1, m ? m : "(error object is not a string)");
    }
}

/* {====== filter ======} */

/* [-3, +1, e] f:filter(mask | function(row) | "expression"[, {progress = fn}]) */
static int f_filter(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    size_t k = 0;
    size_t *idx = lua_newuserdatauv(L, (f->nrows ? f->nrows : 1) * sizeof *idx, 0); /* freed by the GC on error */
    mbl_vector *m = luaL_testudata(L, 2, MBL_VECTOR);
    if (m) {
        if (m->n != f->nrows)
            return luaL_error(L, "filter: the mask has %d values, the frame %d rows", (int)m->n, (int)f->nrows);
        for (size_t i = 0; i < f->nrows; i++)
            if (m->v[i] != 0 && !isnan(m->v[i]))
                idx[k++] = i;
    } else {
        push_progress(L, 3);
        int prog = lua_gettop(L);
        row_at *r;
        push_row_fn(L, f, 2, "filter", &r);
        int fn = lua_gettop(L);
        mbl_frame *self = luaL_checkudata(L, 1, MBL_FRAME);
        for (size_t i = 0; i < f->nrows; i++) {
            if (i % PROGRESS_ROWS == 0)
                call_progress(L, prog, (double)i / (double)f->nrows, "filter");
            call_row(L, fn, r, f, i, "filter");
            if (self->f != f) /* the predicate closed the frame */
                return luaL_error(L, "filter: the frame was closed by the predicate");
            if (lua_toboolean(L, -1))
                idx[k++] = i;
            lua_pop(L, 1);
        }
        call_progress(L, prog, 1, "filter");
    }
    mbl_frame *u = mbl_pushframe(L, NULL);
    mb_error err;
    return mb_frame_take(f, idx, k, &u->f, &err) == MB_OK ? 1 : mbl_error(L, &err);
}

/* {====== derive ======} */

/* Results of a row function into a numeric or categorical column. */
typedef struct derived {
    float *num;                   /* numeric (userdata), or NULL */
    int32_t *codes;               /* categorical (userdata), or NULL */
    int levels, map;              /* categorical: stack slots of the level array and text -> code */
} derived;

static void derive_value(lua_State *L, derived *d, const mb_frame *f, size_t i, int t)
{
    int type = lua_type(L, -1);
    if (type == LUA_TNUMBER && isnan(lua_tonumber(L, -1)))
        type = LUA_TNIL;
    if (type != LUA_TNIL && type != LUA_TNUMBER && type != LUA_TBOOLEAN && type != LUA_TSTRING)
        luaL_error(L, "derive: row %d gives a %s; expected a number, a string, a boolean or nil", (int)i + 1,
                   lua_typename(L, type));
    if (!d->num && !d->codes && type != LUA_TNIL) { /* the first value decides the column's type */
        size_t n = f->nrows ? f->nrows : 1;
        if (type == LUA_TSTRING) {
            d->codes = lua_newuserdatauv(L, n * sizeof *d->codes, 0);
            lua_replace(L, t);
            for (size_t r = 0; r < i; r++)
                d->codes[r] = -1;
        } else {
            d->num = lua_newuserdatauv(L, n * sizeof *d->num, 0);
            lua_replace(L, t);
            for (size_t r = 0; r < i; r++)
                d->num[r] = NAN;
        }
    }
    if (d->num) {
        if (type == LUA_TSTRING)
            luaL_error(L, "derive: row %d gives a string, the rows before it numbers", (int)i + 1);
        d->num[i] = type == LUA_TNIL ? NAN
                    : type == LUA_TBOOLEAN ? (float)lua_toboolean(L, -1)
                                           : (float)lua_tonumber(L, -1);
    } else if (d->codes) {
        if (type == LUA_TNUMBER || type == LUA_TBOOLEAN)
            luaL_error(L, "derive: row %d gives a %s, the rows before it strings", (int)i + 1, lua_typename(L, type));
        if (type == LUA_TNIL) {
            d->codes[i] = -1;
        } else {
            lua_pushvalue(L, -1);
            if (lua_rawget(L, d->map) == LUA_TNIL) {
                lua_pop(L, 1);
                lua_Integer code = (lua_Integer)lua_rawlen(L, d->levels);
                lua_pushvalue(L, -1);
                lua_rawseti(L, d->levels, code + 1);
                lua_pushvalue(L, -1);
                lua_pushinteger(L, code);
                lua_rawset(L, d->map);
                lua_pushinteger(L, code);
            }
            d->codes[i] = (int32_t)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

static int derive_rows(lua_State *L, mb_frame *f, const char *name)
{
    push_progress(L, 4);
    int prog = lua_gettop(L);
    row_at *r;
    push_row_fn(L, f, 3, "derive", &r);
    int fn = lua_gettop(L);
    lua_pushnil(L); /* the buffer's userdata, once the type is known */
    int t = lua_gettop(L);
    lua_newtable(L);
    lua_newtable(L);
    derived d = {NULL, NULL, t + 1, t + 2};
    mbl_frame *self = luaL_checkudata(L, 1, MBL_FRAME);
    for (size_t i = 0; i < f->nrows; i++) {
        if (i % PROGRESS_ROWS == 0)
            call_progress(L, prog, (double)i / (double)f->nrows, "derive");
        call_row(L, fn, r, f, i, "derive");
        if (self->f != f) /* the function closed the frame */
            return luaL_error(L, "derive: the frame was closed by the function");
        derive_value(L, &d, f, i, t);
    }
    call_progress(L, prog, 1, "derive");
    size_t nlevels = lua_rawlen(L, d.levels);
    const char **levels = lua_newuserdatauv(L, (nlevels ? nlevels : 1) * sizeof *levels, 0);
    for (size_t l = 0; l < nlevels; l++) {
        lua_rawgeti(L, d.levels, (lua_Integer)l + 1);
        levels[l] = lua_tostring(L, -1); /* kept alive by the level array */
        lua_pop(L, 1);
    }
    if (!d.num && !d.codes) { /* no value at all: a numeric column of missing values */
        d.num = lua_newuserdatauv(L, (f->nrows ? f->nrows : 1) * sizeof *d.num, 0);
        for (size_t i = 0; i < f->nrows; i++)
            d.num[i] = NAN;
    }
    mbl_frame *u = mbl_pushframe(L, NULL);
    mb_error err;
    mb_status rc = mb_frame_with_column(f, name, d.num, d.codes, d.codes ? (char *const *)levels : NULL, nlevels,
                                        &u->f, &err);
    return rc == MB_OK ? 1 : mbl_error(L, &err);
}

/* [-4, +1, e] f:derive(name, vector | function(row) | "expression"[, {progress = fn}]) */
static int f_derive(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    const char *name = luaL_checkstring(L, 2);
    mbl_vector *v = luaL_testudata(L, 3, MBL_VECTOR);
    if (!v)
        return derive_rows(L, f, name);
    if (v->n != f->nrows)
        return luaL_error(L, "derive: the vector has %d values, the frame %d rows", (int)v->n, (int)f->nrows);
    mbl_frame *u = mbl_pushframe(L, NULL);
    mb_error err;
    mb_status rc;
    if (v->levels) {
        int32_t *codes = mb_malloc((v->n ? v->n : 1) * sizeof *codes);
        for (size_t i = 0; i < v->n; i++)
            codes[i] = isnan(v->v[i]) ? -1 : (int32_t)v->v[i];
        rc = mb_frame_with_column(f, name, NULL, codes, v->levels, v->nlevels, &u->f, &err);
        mb_free(codes);
    } else {
        float *x = mb_malloc((v->n ? v->n : 1) * sizeof *x);
        for (size_t i = 0; i < v->n; i++)
            x[i] = (float)v->v[i];
        rc = mb_frame_with_column(f, name, x, NULL, NULL, 0, &u->f, &err);
        mb_free(x);
    }
    return rc == MB_OK ? 1 : mbl_error(L, &err);
}

/* {====== sort ======} */

typedef struct sort_ctx {
    lua_State *L;
    int fn;
    int failed;                   /* the progress function raised: its error is at the top */
} sort_ctx;

/* The core's progress callback: the Lua function in protected mode, as a
** longjmp must not cross the core's sort (it owns buffers). */
static int sort_progress(void *ud, double frac)
{
    sort_ctx *s = ud;
    if (lua_isnil(s->L, s->fn))
        return 0;
    lua_pushvalue(s->L, s->fn);
    lua_pushnumber(s->L, frac);
    lua_pushstring(s->L, "sort");
    if (lua_pcall(s->L, 2, 0, 0) != LUA_OK) {
        s->failed = 1;
        return 1;
    }
    return 0;
}

/* [-3, +1, e] f:sort(column[, desc | {desc = bool, progress = fn}]): a
** stable sort, missing values last */
static int f_sort(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    const char *name = luaL_checkstring(L, 2);
    int desc = lua_istable(L, 3) ? (lua_getfield(L, 3, "desc"), lua_toboolean(L, -1)) : lua_toboolean(L, 3);
    long col = mb_frame_find(f, name);
    if (col < 0) {
        char list[512];
        mb_frame_column_list(f, list, sizeof list);
        return luaL_error(L, "sort: no column named '%s' (columns: %s)", name, list);
    }
    push_progress(L, 3);
    sort_ctx s = {L, lua_gettop(L), 0};
    size_t *idx = lua_newuserdatauv(L, (f->nrows ? f->nrows : 1) * sizeof *idx, 0);
    mb_error err;
    sort_progress(&s, 0);
    if (!s.failed && mb_frame_order(f, (size_t)col, desc, idx, sort_progress, &s, &err) != MB_OK)
        return s.failed ? lua_error(L) : mbl_error(L, &err);
    if (s.failed || sort_progress(&s, 1))
        return lua_error(L);
    mbl_frame *u = mbl_pushframe(L, NULL);
    return mb_frame_take(f, idx, f->nrows, &u->f, &err) == MB_OK ? 1 : mbl_error(L, &err);
}

static const luaL_Reg row_methods[] = {{"filter", f_filter}, {"derive", f_derive}, {"sort", f_sort}, {NULL, NULL}};

void mbl_open_rows(lua_State *L)
{
    luaL_getmetatable(L, MBL_FRAME);
    lua_getfield(L, -1, "methods");
    luaL_setfuncs(L, row_methods, 0);
    lua_pop(L, 2);
}
