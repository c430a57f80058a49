/*
** lsteps.c: a bundle's Lua steps for C scorers (mb_lua_scorer_steps,
** lmb_run.h): `moonbench predict --allow-lua` and any other C caller score
** a pipeline with Lua transforms through a private Lua state, where each
** step runs in the restricted environment of lua/moonbench/core.lua
** (mb._restricted_transform), exactly as mb.load(path, {allow_lua = true})
** runs it.
*/
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "lmb.h"
#include "frameops.h"
#include "lmb_run.h"

/* {====== state strings, boxed ======} */

/* C strings from an mb_state, owned by a userdata while they become Lua
** strings: an error (memory) in between frees them (STYLE 23). */
typedef struct strbox {
    char **v;
    size_t n;
} strbox;

static int strbox_gc(lua_State *L)
{
    strbox *b = lua_touserdata(L, 1);
    mbl_freestrings(b->v, b->n);
    b->v = NULL;
    return 0;
}

void mbl_push_state_string(lua_State *L, const mb_state *st, const char *name, const char *path, size_t step)
{
    strbox *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->v = NULL;
    box->n = 0;
    if (luaL_newmetatable(L, "moonbench.strbox")) {
        lua_pushcfunction(L, strbox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    mb_error err;
    box->v = mb_state_get_strings(st, name, &box->n, &err);
    if (!box->v || box->n != 1)
        luaL_error(L, "%s: pipeline step %d: the Lua transform has no %s text", path, (int)step + 1, name);
    lua_pushstring(L, box->v[0]);
    lua_remove(L, -2); /* the box goes to the collector */
}

/* {====== the steps ======} */

typedef struct lua_steps {
    lua_State *L;
    mb_lua_ctl ctl;
    char *path;
} lua_steps;

/* [-2, +0, e] open_steps(bundle, path): the state's libraries, then each
** Lua step as a transform in the registry table "moonbench.steps" */
static int open_steps(lua_State *L)
{
    const mb_bundle *b = lua_touserdata(L, 1);
    const char *path = lua_tostring(L, 2);
    mb_lua_open(L, 0, NULL);
    /* the steps reach the string library through the string metatable */
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushstring(L, "moonbench");
    lua_call(L, 1, 1);
    int mb = lua_gettop(L);
    lua_createtable(L, (int)b->nsteps, 0);
    for (size_t i = 0; i < b->nsteps; i++) {
        if (strcmp(b->step_kinds[i], "lua") != 0)
            continue;
        lua_getfield(L, mb, "_restricted_transform");
        mbl_push_state_string(L, &b->steps[i], "source", path, i);
        mbl_push_state_string(L, &b->steps[i], "state", path, i);
        lua_pushfstring(L, "%s: pipeline step %d", path, (int)i + 1);
        lua_call(L, 3, 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "moonbench.steps");
    return 0;
}

typedef struct apply_args {
    size_t step;
    const mb_frame *in;
    mb_frame *out;
} apply_args;

/* [-1, +0, e] step:apply(copy of in): the result's frame is taken over */
static int apply_step_lua(lua_State *L)
{
    apply_args *a = lua_touserdata(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "moonbench.steps");
    lua_rawgeti(L, -1, (lua_Integer)a->step + 1);
    lua_getfield(L, -1, "apply");
    lua_insert(L, -2);
    mbl_frame *u = mbl_pushframe(L, NULL);
    mb_error err;
    if (mb_frame_copy(a->in, &u->f, &err) != MB_OK)
        return mbl_error(L, &err);
    lua_call(L, 2, 1);
    mbl_frame *r = luaL_checkudata(L, -1, MBL_FRAME);
    if (!r->f)
        return luaL_error(L, "the step returned a closed frame");
    a->out = r->f;
    r->f = NULL;
    return 0;
}

static mb_status apply_step(void *ud, size_t step, const mb_frame *in, mb_frame **out, mb_error *err)
{
    lua_steps *ls = ud;
    lua_State *L = ls->L;
    apply_args a = {step, in, NULL};
    lua_settop(L, 0);
    lua_pushcfunction(L, apply_step_lua);
    lua_pushlightuserdata(L, &a);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        mb_status rc = mb_fail(err, MB_EARG, "%s: pipeline step %zu (Lua): %s", ls->path, step + 1,
                               msg ? msg : "(error object is not a string)");
        lua_settop(L, 0);
        return rc;
    }
    *out = a.out;
    return MB_OK;
}

static void free_steps(void *ud)
{
    lua_steps *ls = ud;
    if (!ls)
        return;
    if (ls->L)
        lua_close(ls->L);
    mb_free(ls->path);
    mb_free(ls);
}

mb_status mb_lua_scorer_steps(mb_scorer *s, const char *path, int allow, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    size_t first = SIZE_MAX;
    for (size_t i = 0; b && i < b->nsteps && first == SIZE_MAX; i++)
        if (strcmp(b->step_kinds[i], "lua") == 0)
            first = i;
    if (first == SIZE_MAX)
        return MB_OK; /* all C: nothing of Lua runs */
    if (!allow)
        return mb_fail(err, MB_EARG,
                       "%s: pipeline step %zu is a Lua transform; loading it runs code from the bundle: pass "
                       "--allow-lua (or {allow_lua=true}) if you trust it",
                       path, first + 1);
    lua_steps *ls = mb_calloc(1, sizeof *ls);
    ls->path = mb_strdup(path);
    ls->L = mb_lua_newstate(&ls->ctl);
    if (!ls->L) {
        free_steps(ls);
        return mb_fail(err, MB_ENOMEM, "%s: cannot create a Lua state for the Lua steps", path);
    }
    lua_pushcfunction(ls->L, open_steps);
    lua_pushlightuserdata(ls->L, (void *)b);
    lua_pushstring(ls->L, path);
    if (lua_pcall(ls->L, 2, 0, 0) != LUA_OK) {
        const char *msg = lua_tostring(ls->L, -1);
        mb_status rc = mb_fail(err, MB_EFORMAT, "%s", msg ? msg : "the Lua steps failed to load");
        free_steps(ls);
        return rc;
    }
    s->lua_apply = apply_step;
    s->lua_free = free_steps;
    s->lua_ud = ls;
    return MB_OK;
}
