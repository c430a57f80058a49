/*
** lblas.c: mb.blas_info(): which OpenBLAS kernel runs and who chose it
** (src/core/blas.h). In a stock lua5.4 the choice is made when the module
** opens, which is in time unless OpenBLAS is already in the process.
*/
#include <lauxlib.h>
#include <lua.h>

#include "blas.h"
#include "lmb.h"

/* [-0, +1, m] mb.blas_info() -> {version, kernel, library, how, text} */
static int l_blas_info(lua_State *L)
{
    static const char *const how[] = {"none", "library", "chosen", "user", "preloaded"};
    const mb_blas_info *b = mb_blas_select();
    char text[256];
    mb_blas_describe(b, text, sizeof text);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, b->version);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, b->kernel);
    lua_setfield(L, -2, "kernel");
    lua_pushstring(L, b->library);
    lua_setfield(L, -2, "library");
    lua_pushstring(L, how[b->how]);
    lua_setfield(L, -2, "how");
    lua_pushstring(L, text);
    lua_setfield(L, -2, "text");
    return 1;
}

static const luaL_Reg blas_funcs[] = {{"blas_info", l_blas_info}, {NULL, NULL}};

void mbl_open_blas(lua_State *L)
{
    mb_blas_select(); /* before any plugin loads OpenBLAS */
    luaL_setfuncs(L, blas_funcs, 0);
}
