/*
** lvector.c: vectors, the column-shaped values of vectorised Lua work:
** `f.age * 2 + 1`, `mb.log(f.income)`, `f.age:gt(30) & f.city:eq("Oslo")`.
** Arithmetic and math functions run in C over whole columns; comparisons
** give masks (1/0) that frame:filter takes. Categorical vectors (codes
** with levels) compare by level text.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmb.h"

/* {====== construction ======} */

static int vector_gc(lua_State *L)
{
    mbl_vector *v = luaL_checkudata(L, 1, MBL_VECTOR);
    mb_free(v->v);
    mbl_freestrings(v->levels, v->nlevels);
    v->v = NULL;
    v->levels = NULL;
    v->n = v->nlevels = 0;
    return 0;
}

mbl_vector *mbl_newvector(lua_State *L, size_t n)
{
    mbl_vector *v = lua_newuserdatauv(L, sizeof *v, 0);
    memset(v, 0, sizeof *v);
    luaL_setmetatable(L, MBL_VECTOR);
    v->v = mb_trymalloc((n ? n : 1) * sizeof *v->v);
    if (!v->v)
        luaL_error(L, "no memory for a vector of %d values", (int)n);
    v->n = n;
    return v;
}

mbl_vector *mbl_checkvector(lua_State *L, int idx) { return luaL_checkudata(L, idx, MBL_VECTOR); }

/* [-0, +1, e] mb.vector{1, 2, 3} or mb.vector{"a", "b"}: a vector from a table. */
static int l_vector(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t n = mbl_checklen(L, 1);
    int cat = 0;
    for (size_t i = 1; i <= n && !cat; i++) {
        lua_geti(L, 1, (lua_Integer)i);
        cat = lua_type(L, -1) == LUA_TSTRING;
        lua_pop(L, 1);
    }
    mbl_vector *v = mbl_newvector(L, n);
    if (cat) {
        /* levels in first-appearance order, found through a Lua table */
        lua_newtable(L);
        int map = lua_gettop(L);
        v->levels = mb_calloc(n + 1, sizeof *v->levels);
        for (size_t i = 1; i <= n; i++) {
            lua_geti(L, 1, (lua_Integer)i);
            if (lua_isnil(L, -1)) {
                v->v[i - 1] = (double)NAN;
                lua_pop(L, 1);
                continue;
            }
            const char *s = luaL_tolstring(L, -1, NULL);
            lua_pushvalue(L, -1);
            if (lua_rawget(L, map) == LUA_TNUMBER) {
                v->v[i - 1] = lua_tonumber(L, -1);
            } else {
                v->levels[v->nlevels] = mb_strdup(s);
                v->v[i - 1] = (double)v->nlevels;
                lua_pushvalue(L, -2);
                lua_pushinteger(L, (lua_Integer)v->nlevels++);
                lua_rawset(L, map);
            }
            lua_pop(L, 3);
        }
        lua_pop(L, 1);
    } else {
        for (size_t i = 1; i <= n; i++) {
            lua_geti(L, 1, (lua_Integer)i);
            v->v[i - 1] = lua_isnil(L, -1) ? (double)NAN : luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
    }
    return 1;
}

/* {====== arithmetic ======} */

typedef double (*binop)(double, double);
static double op_add(double a, double b) { return a + b; }
static double op_sub(double a, double b) { return a - b; }
static double op_mul(double a, double b) { return a * b; }
static double op_div(double a, double b) { return a / b; }
static double op_pow(double a, double b) { return pow(a, b); }
static double op_mod(double a, double b) { return a - floor(a / b) * b; }

/* Operand k as (values, length, scalar); vectors must be numeric. */
static const double *operand(lua_State *L, int idx, size_t *n, double *scalar)
{
    if (lua_isnumber(L, idx)) {
        *scalar = lua_tonumber(L, idx);
        *n = 0;
        return NULL;
    }
    mbl_vector *v = luaL_testudata(L, idx, MBL_VECTOR);
    if (!v)
        luaL_error(L, "vector arithmetic: expected a vector or a number, got %s", luaL_typename(L, idx));
    if (v->levels)
        luaL_error(L, "vector arithmetic: a categorical vector has no numbers (encode it first)");
    *n = v->n;
    return v->v;
}

static int arith(lua_State *L, binop op)
{
    size_t na, nb;
    double sa = 0, sb = 0;
    const double *a = operand(L, 1, &na, &sa), *b = operand(L, 2, &nb, &sb);
    if (a && b && na != nb)
        return luaL_error(L, "vector arithmetic: lengths differ (%d and %d)", (int)na, (int)nb);
    size_t n = a ? na : nb;
    mbl_vector *r = mbl_newvector(L, n);
    for (size_t i = 0; i < n; i++)
        r->v[i] = op(a ? a[i] : sa, b ? b[i] : sb);
    return 1;
}

static int v_add(lua_State *L) { return arith(L, op_add); }
static int v_sub(lua_State *L) { return arith(L, op_sub); }
static int v_mul(lua_State *L) { return arith(L, op_mul); }
static int v_div(lua_State *L) { return arith(L, op_div); }
static int v_pow(lua_State *L) { return arith(L, op_pow); }
static int v_mod(lua_State *L) { return arith(L, op_mod); }

static int v_unm(lua_State *L)
{
    size_t n;
    double s;
    const double *a = operand(L, 1, &n, &s);
    mbl_vector *r = mbl_newvector(L, n);
    for (size_t i = 0; i < n; i++)
        r->v[i] = -a[i];
    return 1;
}

/* {====== math functions (mb.log(v), ...) ======} */

#define MATH_FUNCS(X)                                                                           \
    X(log) X(exp) X(sqrt) X(abs) X(log1p) X(floor) X(ceil) X(round) X(sin) X(cos) X(tanh) \
        X(expm1)

static double f_abs(double x) { return fabs(x); }
#define F_OTHER(name) static double f_##name(double x) { return name(x); }
F_OTHER(log) F_OTHER(exp) F_OTHER(sqrt) F_OTHER(log1p) F_OTHER(floor) F_OTHER(ceil) F_OTHER(round)
F_OTHER(sin) F_OTHER(cos) F_OTHER(tanh) F_OTHER(expm1)

static int map1(lua_State *L, double (*fn)(double))
{
    if (lua_isnumber(L, 1)) {
        lua_pushnumber(L, fn(lua_tonumber(L, 1)));
        return 1;
    }
    size_t n;
    double s;
    const double *a = operand(L, 1, &n, &s);
    mbl_vector *r = mbl_newvector(L, n);
    for (size_t i = 0; i < n; i++)
        r->v[i] = fn(a[i]);
    return 1;
}

#define L_MATH(name) static int lm_##name(lua_State *L) { return map1(L, f_##name); }
L_MATH(log) L_MATH(exp) L_MATH(sqrt) L_MATH(abs) L_MATH(log1p) L_MATH(floor) L_MATH(ceil)
L_MATH(round) L_MATH(sin) L_MATH(cos) L_MATH(tanh) L_MATH(expm1)

/* [-3, +1, e] mb.clip(v, lo, hi) */
static int l_clip(lua_State *L)
{
    size_t n;
    double s;
    const double *a = operand(L, 1, &n, &s);
    double lo = luaL_optnumber(L, 2, -HUGE_VAL), hi = luaL_optnumber(L, 3, HUGE_VAL);
    mbl_vector *r = mbl_newvector(L, n);
    for (size_t i = 0; i < n; i++)
        r->v[i] = a[i] < lo ? lo : a[i] > hi ? hi : a[i];
    return 1;
}

/* [-3, +1, e] mb.where(mask, a, b): a where mask is 1, else b (vectors or numbers). */
static int l_where(lua_State *L)
{
    mbl_vector *m = mbl_checkvector(L, 1);
    size_t na, nb;
    double sa = 0, sb = 0;
    const double *a = operand(L, 2, &na, &sa), *b = operand(L, 3, &nb, &sb);
    if ((a && na != m->n) || (b && nb != m->n))
        return luaL_error(L, "mb.where: lengths differ");
    mbl_vector *r = mbl_newvector(L, m->n);
    for (size_t i = 0; i < m->n; i++)
        r->v[i] = m->v[i] != 0 && !isnan(m->v[i]) ? (a ? a[i] : sa) : (b ? b[i] : sb);
    return 1;
}

/* [-2, +1, e] v:fillnan(x) */
static int v_fillnan(lua_State *L)
{
    mbl_vector *v = mbl_checkvector(L, 1);
    double x = luaL_checknumber(L, 2);
    if (v->levels)
        return luaL_error(L, "fillnan: a categorical vector (use an impute transform)");
    mbl_vector *r = mbl_newvector(L, v->n);
    for (size_t i = 0; i < v->n; i++)
        r->v[i] = isnan(v->v[i]) ? x : v->v[i];
    return 1;
}

/* {====== comparisons and masks ======} */

enum { CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_EQ, CMP_NE };

static int compare(lua_State *L, int how)
{
    mbl_vector *v = mbl_checkvector(L, 1);
    mbl_vector *r;
    if (v->levels) {
        if (how != CMP_EQ && how != CMP_NE)
            return luaL_error(L, "a categorical vector compares with eq/ne/isin only");
        const char *s = luaL_checkstring(L, 2);
        double code = -1;
        for (size_t k = 0; k < v->nlevels; k++)
            if (strcmp(v->levels[k], s) == 0)
                code = (double)k;
        r = mbl_newvector(L, v->n);
        for (size_t i = 0; i < v->n; i++)
            r->v[i] = isnan(v->v[i]) ? 0 : ((v->v[i] == code) == (how == CMP_EQ));
        return 1;
    }
    size_t nb;
    double sb = 0;
    const double *b = operand(L, 2, &nb, &sb);
    if (b && nb != v->n)
        return luaL_error(L, "comparison: lengths differ (%d and %d)", (int)v->n, (int)nb);
    r = mbl_newvector(L, v->n);
    for (size_t i = 0; i < v->n; i++) {
        double x = v->v[i], y = b ? b[i] : sb;
        int t = 0;
        switch (how) {
        case CMP_LT: t = x < y; break;
        case CMP_LE: t = x <= y; break;
        case CMP_GT: t = x > y; break;
        case CMP_GE: t = x >= y; break;
        case CMP_EQ: t = x == y; break;
        case CMP_NE: t = !isnan(x) && !isnan(y) && x != y; break;
        }
        r->v[i] = t;
    }
    return 1;
}

static int v_lt(lua_State *L) { return compare(L, CMP_LT); }
static int v_le(lua_State *L) { return compare(L, CMP_LE); }
static int v_gt(lua_State *L) { return compare(L, CMP_GT); }
static int v_ge(lua_State *L) { return compare(L, CMP_GE); }
static int v_eq(lua_State *L) { return compare(L, CMP_EQ); }
static int v_ne(lua_State *L) { return compare(L, CMP_NE); }

/* [-2, +1, e] v:isin{"a", "b"} / v:isin{1, 2} */
static int v_isin(lua_State *L)
{
    mbl_vector *v = mbl_checkvector(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t m = mbl_checklen(L, 2);
    mbl_vector *r = mbl_newvector(L, v->n);
    for (size_t i = 0; i < v->n; i++)
        r->v[i] = 0;
    for (size_t j = 1; j <= m; j++) {
        lua_geti(L, 2, (lua_Integer)j);
        double code = (double)NAN;
        if (v->levels) {
            const char *s = lua_tostring(L, -1);
            for (size_t k = 0; s && k < v->nlevels; k++)
                if (strcmp(v->levels[k], s) == 0)
                    code = (double)k;
        } else {
            code = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
        for (size_t i = 0; i < v->n; i++)
            if (v->v[i] == code)
                r->v[i] = 1;
    }
    return 1;
}

static int v_isnan(lua_State *L)
{
    mbl_vector *v = mbl_checkvector(L, 1);
    mbl_vector *r = mbl_newvector(L, v->n);
    for (size_t i = 0; i < v->n; i++)
        r->v[i] = isnan(v->v[i]);
    return 1;
}

static int maskop(lua_State *L, int how)
{
    mbl_vector *a = mbl_checkvector(L, 1), *b = how == 2 ? NULL : mbl_checkvector(L, 2);
    if (b && a->n != b->n)
        return luaL_error(L, "mask operation: lengths differ (%d and %d)", (int)a->n, (int)b->n);
    mbl_vector *r = mbl_newvector(L, a->n);
    for (size_t i = 0; i < a->n; i++) {
        int x = a->v[i] != 0 && !isnan(a->v[i]);
        int y = b && b->v[i] != 0 && !isnan(b->v[i]);
        r->v[i] = how == 0 ? (x && y) : how == 1 ? (x || y) : !x;
    }
    return 1;
}

static int v_band(lua_State *L) { return maskop(L, 0); }
static int v_bor(lua_State *L) { return maskop(L, 1); }
static int v_bnot(lua_State *L) { return maskop(L, 2); }

/* {====== reductions and access ======} */

static int reduce(lua_State *L, int how)
{
    mbl_vector *v = mbl_checkvector(L, 1);
    double s = 0, s2 = 0, mn = HUGE_VAL, mx = -HUGE_VAL;
    size_t n = 0;
    for (size_t i = 0; i < v->n; i++) {
        double x = v->v[i];
        if (isnan(x))
            continue;
        n++;
        s += x;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    double mean = n ? s / (double)n : (double)NAN;
    for (size_t i = 0; i < v->n; i++)
        if (!isnan(v->v[i]))
            s2 += (v->v[i] - mean) * (v->v[i] - mean);
    switch (how) {
    case 0: lua_pushnumber(L, s); break;
    case 1: lua_pushnumber(L, mean); break;
    case 2: lua_pushnumber(L, n ? mn : (double)NAN); break;
    case 3: lua_pushnumber(L, n ? mx : (double)NAN); break;
    case 4: lua_pushnumber(L, n > 1 ? sqrt(s2 / (double)(n - 1)) : (double)NAN); break;
    default: lua_pushinteger(L, (lua_Integer)n);
    }
    return 1;
}

static int v_sum(lua_State *L) { return reduce(L, 0); }
static int v_mean(lua_State *L) { return reduce(L, 1); }
static int v_min(lua_State *L) { return reduce(L, 2); }
static int v_max(lua_State *L) { return reduce(L, 3); }
static int v_std(lua_State *L) { return reduce(L, 4); }
static int v_count(lua_State *L) { return reduce(L, 5); }

static void push_value(lua_State *L, const mbl_vector *v, size_t i)
{
    if (isnan(v->v[i]))
        lua_pushnil(L);
    else if (v->levels)
        lua_pushstring(L, v->levels[(size_t)v->v[i]]);
    else
        lua_pushnumber(L, v->v[i]);
}

/* [-1, +1, m] v:totable(): a Lua array (nil for missing... as a hole-free
** array, missing values are NaN for numbers and false for categories). */
static int v_totable(lua_State *L)
{
    mbl_vector *v = mbl_checkvector(L, 1);
    lua_createtable(L, (int)v->n, 0);
    for (size_t i = 0; i < v->n; i++) {
        if (isnan(v->v[i]) && v->levels)
            lua_pushboolean(L, 0);
        else if (isnan(v->v[i]))
            lua_pushnumber(L, (double)NAN);
        else
            push_value(L, v, i);
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int v_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mbl_checkvector(L, 1)->n);
    return 1;
}

static int v_levels(lua_State *L)
{
    mbl_vector *v = mbl_checkvector(L, 1);
    if (!v->levels)
        return 0;
    lua_createtable(L, (int)v->nlevels, 0);
    for (size_t k = 0; k < v->nlevels; k++) {
        lua_pushstring(L, v->levels[k]);
        lua_seti(L, -2, (lua_Integer)k + 1);
    }
    return 1;
}

static const luaL_Reg vector_methods[] = {
    {"lt", v_lt}, {"le", v_le}, {"gt", v_gt}, {"ge", v_ge}, {"eq", v_eq}, {"ne", v_ne},
    {"isin", v_isin}, {"isnan", v_isnan}, {"fillnan", v_fillnan}, {"sum", v_sum}, {"mean", v_mean},
    {"min", v_min}, {"max", v_max}, {"std", v_std}, {"count", v_count}, {"totable", v_totable},
    {"levels", v_levels}, {NULL, NULL}};

/* v[i] (1-based) or a method */
static int v_index(lua_State *L)
{
    mbl_vector *v = mbl_checkvector(L, 1);
    if (lua_isinteger(L, 2)) {
        lua_Integer i = lua_tointeger(L, 2);
        if (i < 1 || (size_t)i > v->n)
            return luaL_error(L, "vector index %d out of range 1..%d", (int)i, (int)v->n);
        push_value(L, v, (size_t)i - 1);
        return 1;
    }
    luaL_getmetatable(L, MBL_VECTOR);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int v_tostring(lua_State *L)
{
    mbl_vector *v = mbl_checkvector(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "vector(%d%s) [", (int)v->n, v->levels ? ", categorical" : "");
    luaL_addvalue(&b);
    for (size_t i = 0; i < v->n && i < 8; i++) {
        if (i)
            luaL_addstring(&b, ", ");
        if (isnan(v->v[i]))
            luaL_addstring(&b, v->levels ? "nil" : "nan");
        else if (v->levels)
            luaL_addstring(&b, v->levels[(size_t)v->v[i]]);
        else {
            char num[40];
            snprintf(num, sizeof num, "%.6g", v->v[i]);
            luaL_addstring(&b, num);
        }
    }
    luaL_addstring(&b, v->n > 8 ? ", ...]" : "]");
    luaL_pushresult(&b);
    return 1;
}

static const luaL_Reg vector_meta[] = {
    {"__add", v_add}, {"__sub", v_sub}, {"__mul", v_mul}, {"__div", v_div}, {"__pow", v_pow},
    {"__mod", v_mod}, {"__unm", v_unm}, {"__band", v_band}, {"__bor", v_bor}, {"__bnot", v_bnot},
    {"__len", v_len}, {"__index", v_index}, {"__tostring", v_tostring}, {"__gc", vector_gc},
    {"__close", vector_gc}, {NULL, NULL}};

#define L_MATH_REG(name) {#name, lm_##name},
static const luaL_Reg vector_funcs[] = {
    {"vector", l_vector}, {"clip", l_clip}, {"where", l_where},
    MATH_FUNCS(L_MATH_REG){NULL, NULL}};

void mbl_open_vector(lua_State *L)
{
    luaL_newmetatable(L, MBL_VECTOR);
    luaL_setfuncs(L, vector_meta, 0);
    lua_pushstring(L, MBL_VECTOR); /* getmetatable(v) gives this name, not __gc */
    lua_setfield(L, -2, "__metatable");
    luaL_newlib(L, vector_methods);
    lua_setfield(L, -2, "methods");
    lua_pop(L, 1);
    luaL_setfuncs(L, vector_funcs, 0);
}
