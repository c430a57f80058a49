/*
** lfairness.c: mb.fairness (src/core/fairness.h), a loaded bundle's
** metrics by group and the disparities between groups, as a Lua table of
** the same shape as `moonbench evaluate --group --json` (docs/lua-api.md,
** docs/governance.md).
*/
#include <string.h>

#include "fairness.h"
#include "lmb.h"

#define BOX "moonbench.fairness_result"

/* The C results live in a userdata until the table is built, so a Lua
** error (out of memory, a bad option) frees them through __gc. */
typedef struct box {
    mb_fair_groups g;
    mb_fairness r;
} box;

static int box_gc(lua_State *L)
{
    box *b = luaL_checkudata(L, 1, BOX);
    mb_fairness_free(&b->r);
    mb_fair_groups_free(&b->g);
    return 0;
}

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

/* [-0, +1, m] one group's figures: n and the metrics of the task */
static void push_group(lua_State *L, const mb_fairness *r, const mb_fair_group *x, char *const *classes)
{
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, (lua_Integer)x->n);
    lua_setfield(L, -2, "n");
    if (r->task == MB_TASK_BINARY) {
        set_num(L, "selection_rate", x->selection_rate);
        set_num(L, "accuracy", x->accuracy);
        set_num(L, "tpr", x->tpr);
        set_num(L, "fpr", x->fpr);
        set_num(L, "precision", x->precision);
        set_num(L, "roc_auc", x->auc);
    } else if (r->task == MB_TASK_MULTICLASS) {
        set_num(L, "accuracy", x->accuracy);
        for (size_t c = 0; c < r->k; c++) {
            lua_pushfstring(L, "selection_rate:%s", classes[c]);
            lua_pushnumber(L, x->class_rate[c]);
            lua_settable(L, -3);
        }
    } else {
        set_num(L, "mae", x->mae);
        set_num(L, "rmse", x->rmse);
        set_num(L, "mean_error", x->mean_error);
    }
}

/* The group columns of opts.group: a string or a list of strings. */
static const char **group_columns(lua_State *L, int opts, size_t *n)
{
    lua_getfield(L, opts, "group");
    int t = lua_type(L, -1);
    if (t != LUA_TSTRING && t != LUA_TTABLE)
        luaL_error(L, "fairness: opts.group names the group column(s): a string or a list of strings");
    size_t m = t == LUA_TSTRING ? 1 : lua_rawlen(L, -1);
    if (m < 1 || m > 8)
        luaL_error(L, "fairness: opts.group names one to eight columns, not %d", (int)m);
    const char **v = lua_newuserdatauv(L, m * sizeof *v, 0); /* collected with the call */
    for (size_t i = 0; i < m; i++) {
        if (t == LUA_TSTRING) {
            v[i] = lua_tostring(L, -2);
            continue;
        }
        lua_rawgeti(L, -2, (lua_Integer)i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "fairness: opts.group[%d] is a %s, not a column name", (int)i + 1, luaL_typename(L, -1));
        v[i] = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays alive in the list, which stays on the stack */
    }
    *n = m;
    return v;
}

/* [-3, +1, e] mb.fairness(loaded, frame, {group = "col" | {"a", "b"},
** boot = 1000, seed = 0, level = 0.95}) */
static int l_fairness(lua_State *L)
{
    mb_scorer *s = NULL;
    if (lua_istable(L, 1)) {
        lua_getfield(L, 1, "scorer");
        s = mbl_toscorer(L, -1);
        lua_pop(L, 1);
    } else {
        s = mbl_toscorer(L, 1);
    }
    if (!s)
        luaL_argerror(L, 1, "a loaded bundle (mb.load) or its scorer: save a pipeline fitted here and mb.load it");
    mb_frame *f = mbl_checkframe(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    size_t ncols;
    const char **cols = group_columns(L, 3, &ncols);
    mb_fair_opts o = {1000, 0, 0.95};
    lua_getfield(L, 3, "boot");
    lua_Integer boot = luaL_optinteger(L, -1, 1000);
    lua_getfield(L, 3, "seed");
    lua_Integer seed = luaL_optinteger(L, -1, 0);
    lua_getfield(L, 3, "level");
    o.level = luaL_optnumber(L, -1, 0.95);
    lua_pop(L, 3);
    if (boot < 0 || boot > 100000 || seed < 0)
        return luaL_error(L, "fairness: boot is 0..100000 and seed >= 0");
    o.boot = (size_t)boot;
    o.seed = (uint64_t)seed;
    box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    if (luaL_newmetatable(L, BOX)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    mb_error err;
    if (mb_fairness_of_scorer(s, f, cols, ncols, &o, &b->g, &b->r, &err) != MB_OK)
        return mbl_error(L, &err);
    const mb_fairness *r = &b->r;
    const mb_fair_groups *g = &b->g;
    char *const *classes = s->bundle->classes;
    lua_createtable(L, 0, 6);
    lua_createtable(L, (int)ncols, 0);
    for (size_t c = 0; c < ncols; c++)
        lua_pushstring(L, g->cols[c]), lua_seti(L, -2, (lua_Integer)c + 1);
    lua_setfield(L, -2, "columns");
    lua_createtable(L, (int)r->ngroups, 0);
    for (size_t gi = 0; gi < r->ngroups; gi++) {
        push_group(L, r, &r->groups[gi], classes);
        lua_createtable(L, 0, (int)ncols);
        for (size_t c = 0; c < ncols; c++)
            lua_pushstring(L, g->values[gi * ncols + c]), lua_setfield(L, -2, g->cols[c]);
        lua_setfield(L, -2, "group");
        lua_pushstring(L, g->labels[gi]);
        lua_setfield(L, -2, "label");
        lua_seti(L, -2, (lua_Integer)gi + 1);
    }
    lua_setfield(L, -2, "groups");
    push_group(L, r, &r->overall, classes);
    lua_setfield(L, -2, "overall");
    lua_createtable(L, 0, (int)r->ndisparities);
    for (size_t k = 0; k < r->ndisparities; k++) {
        lua_createtable(L, 0, 3);
        set_num(L, "value", r->disparity[k].value);
        set_num(L, "lo", r->disparity[k].lo);
        set_num(L, "hi", r->disparity[k].hi);
        lua_setfield(L, -2, r->disparity[k].name);
    }
    lua_setfield(L, -2, "between_groups");
    if (r->task == MB_TASK_BINARY) {
        lua_pushstring(L, classes[1]);
        lua_setfield(L, -2, "positive_class");
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)o.boot);
    lua_setfield(L, -2, "replicates");
    lua_pushinteger(L, (lua_Integer)o.seed);
    lua_setfield(L, -2, "seed");
    set_num(L, "level", o.level);
    lua_setfield(L, -2, "bootstrap");
    return 1;
}

void mbl_open_fairness(lua_State *L)
{
    lua_pushcfunction(L, l_fairness);
    lua_setfield(L, -2, "fairness");
}
