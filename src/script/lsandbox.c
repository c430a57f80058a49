/*
** lsandbox.c: running Lua code moonbench did not write (lmb_run.h): the
** memory budget shared by Lua and moonbench's C allocations, the stop hook
** that every coroutine inherits, the --sandbox environment (text chunks
** only, no process, C module or debug access), and mb._restrict, which
** refuses file writes while a bundle's Lua step runs.
*/
#define _GNU_SOURCE /* realpath, malloc_usable_size */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lmb.h"
#include "lmb_run.h"

int luaopen_moonbench(lua_State *L);

/* {====== the memory budget ======} */

/* Process-wide, unlike the rest of the binding (STYLE 25): mb_allocator has
** no user pointer, and the budget must cover C allocations made by core
** and plugin threads on the script's behalf. Counted in malloc_usable_size
** for C (free does not say the size) and in Lua's own sizes for Lua. */
static struct {
    long long used;               /* atomic; may dip below 0 for blocks allocated before install */
    size_t max;
    int installed;
    int hit;                      /* an allocation was refused */
} budget;

static int budget_take(size_t n)
{
    if (budget.max && __atomic_load_n(&budget.used, __ATOMIC_RELAXED) + (long long)n > (long long)budget.max) {
        __atomic_store_n(&budget.hit, 1, __ATOMIC_RELAXED);
        return 0;
    }
    return 1;
}

static void budget_add(long long n) { __atomic_add_fetch(&budget.used, n, __ATOMIC_RELAXED); }

static void *budget_malloc(size_t n)
{
    if (n > (size_t)LLONG_MAX / 2 || !budget_take(n))
        return NULL;
    void *p = malloc(n);
    if (p)
        budget_add((long long)malloc_usable_size(p));
    return p;
}

static void *budget_realloc(void *p, size_t n)
{
    size_t old = p ? malloc_usable_size(p) : 0;
    if (n > (size_t)LLONG_MAX / 2 || (n > old && !budget_take(n - old)))
        return NULL;
    void *q = realloc(p, n);
    if (q)
        budget_add((long long)malloc_usable_size(q) - (long long)old);
    return q;
}

static void budget_free(void *p)
{
    if (p) {
        budget_add(-(long long)malloc_usable_size(p));
        free(p);
    }
}

void mb_lua_budget(size_t max)
{
    budget.max = max;
    if (max && !budget.installed) {
        static const mb_allocator a = {budget_malloc, budget_realloc, budget_free};
        mb_set_allocator(&a);
        budget.installed = 1;
    }
}

size_t mb_lua_budget_used(void)
{
    long long u = __atomic_load_n(&budget.used, __ATOMIC_RELAXED);
    return u > 0 ? (size_t)u : 0;
}

size_t mb_lua_budget_max(void) { return budget.max; }
int mb_lua_budget_hit(void) { return __atomic_load_n(&budget.hit, __ATOMIC_RELAXED); }

void mbl_reserve(lua_State *L, size_t bytes, const char *what)
{
    if (budget.max && !budget_take(bytes))
        luaL_error(L, "not enough memory: %s needs %.1f MB, and the script's limit is %.0f MB (%.1f MB in use)", what,
                   (double)bytes / 1048576.0, (double)budget.max / 1048576.0, (double)mb_lua_budget_used() / 1048576.0);
}

static void *lua_budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        budget_add(-(long long)old);
        return NULL;
    }
    if (nsize > old && !budget_take(nsize - old))
        return NULL; /* Lua raises "not enough memory" */
    void *p = realloc(ptr, nsize);
    if (p)
        budget_add((long long)nsize - (long long)old);
    return p;
}

/* {====== stopping: the hook ======} */

static mb_lua_ctl *ctl_of(lua_State *L) { return *(mb_lua_ctl **)lua_getextraspace(L); }

static const char *stop_text(int why)
{
    return why == MB_LUA_TIMEOUT ? "timeout: the script ran past its time limit"
           : why == MB_LUA_STEPS ? "stopped: the script ran past its instruction budget"
                                 : "interrupted";
}

const char *mbl_stop_reason(lua_State *L)
{
    mb_lua_ctl *c = ctl_of(L);
    return stop_text(c ? c->stop : MB_LUA_INTERRUPTED);
}

static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    mb_lua_ctl *c = ctl_of(L);
    if (!c)
        return;
    if (c->max_steps && ++c->steps > c->max_steps)
        c->stop = MB_LUA_STEPS;
    int why = c->stop;
    if (why == MB_LUA_RUN)
        return;
    /* a timeout stays set: a script that catches it stops again at once;
    ** Ctrl-C raises once, as in lua.c, so a pcall may save partial results */
    if (why == MB_LUA_INTERRUPTED)
        c->stop = MB_LUA_RUN;
    luaL_error(L, "%s", stop_text(why));
}

void mb_lua_stop(mb_lua_ctl *ctl, int why) { ctl->stop = why; }

lua_State *mb_lua_newstate(mb_lua_ctl *ctl)
{
    lua_State *L = lua_newstate(lua_budget_alloc, NULL);
    if (!L)
        return NULL;
    /* new threads copy the main thread's extra space and hook (lua_newthread) */
    *(mb_lua_ctl **)lua_getextraspace(L) = ctl;
    lua_sethook(L, stop_hook, LUA_MASKCOUNT, MB_LUA_HOOK_EVERY);
    return L;
}

/* {====== the sandbox ======} */

/* [-2, +1, e] io.open replacement: writes only under the sandbox folder */
static int sandbox_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *mode = luaL_optstring(L, 2, "r");
    if (strpbrk(mode, "wa+"))
        mbl_check_write(L, path);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* Text chunks only, on every path that loads code: a binary chunk can
** crash the VM. The wrappers keep load's rule that an absent env (not a
** nil one) means the globals. */
static const char *const sandbox_lua =
    "local load, loadfile, select, error, searchpath = load, loadfile, select, error, package.searchpath\n"
    "local fmt = string.format\n"
    "function _G.load(chunk, name, mode, ...)\n"
    "  if select('#', ...) == 0 then return load(chunk, name, 't') end\n"
    "  return load(chunk, name, 't', (...))\n"
    "end\n"
    "function _G.loadfile(file, mode, ...)\n"
    "  if select('#', ...) == 0 then return loadfile(file, 't') end\n"
    "  return loadfile(file, 't', (...))\n"
    "end\n"
    "function _G.dofile(file)\n"
    "  local f, e = loadfile(file, 't')\n"
    "  if not f then error(e, 2) end\n"
    "  return f()\n"
    "end\n"
    "local searchers = package.searchers\n"
    "searchers[2] = function(name)\n" /* the Lua-file searcher, reading text only */
    "  local path, err = searchpath(name, package.path)\n"
    "  if not path then return err end\n"
    "  local f, e = loadfile(path, 't')\n"
    "  if not f then error(fmt(\"error loading module '%s' from file '%s':\\n\\t%s\", name, path, e), 2) end\n"
    "  return f, path\n"
    "end\n"
    "searchers[4], searchers[3] = nil, nil\n" /* no C modules */
    "string.dump = nil\n"
    "local function deny(name) return function() error('sandbox: ' .. name .. ' is not allowed', 2) end end\n"
    "for _, n in ipairs{'execute', 'remove', 'rename', 'tmpname', 'getenv', 'setlocale'} do os[n] = deny('os.' .. n) end\n"
    "io.popen, io.output = deny('io.popen'), deny('io.output')\n"
    "package.loadlib, package.cpath = deny('package.loadlib'), ''\n"
    "debug, package.loaded.debug = nil, nil\n";

static void setup_sandbox(lua_State *L, const char *folder)
{
    char cwd[PATH_MAX], real[PATH_MAX];
    if (!folder) {
        if (!getcwd(cwd, sizeof cwd))
            luaL_error(L, "sandbox: cannot read the working folder: %s", strerror(errno));
        folder = cwd;
    }
    if (!realpath(folder, real))
        luaL_error(L, "sandbox: %s: %s", folder, strerror(errno));
    lua_pushstring(L, real);
    lua_setfield(L, LUA_REGISTRYINDEX, "moonbench.sandbox");
    lua_getglobal(L, "io");
    lua_getfield(L, -1, "open");
    lua_pushcclosure(L, sandbox_open, 1);
    lua_setfield(L, -2, "open");
    lua_pop(L, 1);
    if (luaL_loadbufferx(L, sandbox_lua, strlen(sandbox_lua), "=sandbox", "t") != LUA_OK)
        lua_error(L);
    lua_call(L, 0, 0);
}

void mb_lua_open(lua_State *L, int sandbox, const char *folder)
{
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_moonbench);
    lua_setfield(L, -2, "moonbench");
    lua_pop(L, 1);
    if (sandbox)
        setup_sandbox(L, folder);
}

/* [-0, +0, e] */
int mb_lua_open_sandbox(lua_State *L)
{
    mb_lua_open(L, 1, NULL);
    return 0;
}

/* [-2, +1, -] the chunk at 1 run with the text at 2 as its name: for
** mb_lua_run_sandboxed, under pcall */
static int run_text(lua_State *L)
{
    size_t len;
    const char *text = lua_tolstring(L, 1, &len);
    mb_lua_open(L, 1, NULL);
    if (luaL_loadbufferx(L, text, len, "=sandboxed", "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 0);
    return 0;
}

int mb_lua_run_sandboxed(const char *text, size_t len, unsigned long long max_steps, char *msg, size_t msglen)
{
    mb_lua_ctl ctl = {MB_LUA_RUN, max_steps, 0};
    if (msglen)
        msg[0] = '\0';
    lua_State *L = mb_lua_newstate(&ctl);
    if (!L) {
        snprintf(msg, msglen, "cannot create a Lua state");
        return 1;
    }
    lua_pushcfunction(L, run_text);
    lua_pushlstring(L, text, len);
    int rc = lua_pcall(L, 1, 0, 0) != LUA_OK;
    if (rc && msglen) {
        const char *e = lua_tostring(L, -1);
        snprintf(msg, msglen, "%s", e ? e : "(error object is not a string)");
    }
    lua_close(L);
    return rc;
}

/* {====== mb._restrict ======} */

int mbl_restricted(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "moonbench.restricted");
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return n > 0;
}

/* [-1, +0, -] mb._restrict(delta): count the bundle Lua steps running (file
** writes are refused while any runs) */
static int l_restrict(lua_State *L)
{
    lua_Integer d = luaL_checkinteger(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "moonbench.restricted");
    lua_Integer n = lua_tointeger(L, -1) + (d > 0 ? 1 : -1);
    lua_pushinteger(L, n < 0 ? 0 : n);
    lua_setfield(L, LUA_REGISTRYINDEX, "moonbench.restricted");
    lua_pop(L, 1);
    return 0;
}

static const luaL_Reg sandbox_funcs[] = {{"_restrict", l_restrict}, {NULL, NULL}};

void mbl_open_sandbox(lua_State *L) { luaL_setfuncs(L, sandbox_funcs, 0); }
