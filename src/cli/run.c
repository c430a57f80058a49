/*
** run.c: `moonbench run [--sandbox] [--memory MB] [--timeout S] script.lua
** [args...]`: run a Lua script headless with the moonbench module, as
** lua.c runs one: `arg` as in lua, a traceback on error, exit status 1 on
** failure. Ctrl-C (and the timeout) stop the script cleanly, also inside a
** model's fit (plugins poll the cancel flag). The memory limit counts what
** Lua allocates. --sandbox is for untrusted scripts: no os.execute,
** io.popen, package.loadlib, C modules, debug library or binary chunks,
** and no writes outside the working folder.
*/
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "cli.h"
#include "lmb.h"

int luaopen_moonbench(lua_State *L);

/* {====== limits ======} */

typedef struct limit {
    size_t used, max;             /* bytes; max 0 = unlimited */
} limit;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    limit *l = ud;
    if (nsize == 0) {
        free(ptr);
        l->used -= ptr ? osize : 0;
        return NULL;
    }
    size_t old = ptr ? osize : 0;
    if (l->max && nsize > old && l->used + (nsize - old) > l->max)
        return NULL; /* Lua raises "not enough memory" */
    void *p = realloc(ptr, nsize);
    if (p)
        l->used = l->used - old + nsize;
    return p;
}

static lua_State *global_L;
static volatile sig_atomic_t stop_reason; /* 1 Ctrl-C, 2 timeout */

static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (stop_reason == 2) /* a timeout stays: a script that catches it stops again at once */
        lua_sethook(L, stop_hook, LUA_MASKCOUNT, 1);
    else
        lua_sethook(L, NULL, 0, 0);
    luaL_error(L, stop_reason == 2 ? "timeout: the script ran past its time limit" : "interrupted");
}

/* As lua.c's laction: set a hook that raises at the next Lua instruction,
** and the cancel flag plugins poll while a fit runs in C. */
static void on_signal(int sig)
{
    stop_reason = sig == SIGALRM ? 2 : 1;
    mbl_cancel = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C kills, as usual */
    lua_sethook(global_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* {====== progress bar ======} */

/* [-4, +0, -] the default progress callback on a terminal */
static int progress_bar(lua_State *L)
{
    double frac = luaL_optnumber(L, 1, 0), tl = luaL_optnumber(L, 3, NAN), vl = luaL_optnumber(L, 4, NAN);
    const char *msg = luaL_optstring(L, 2, "");
    int w = 30, done = (int)(frac * w + 0.5);
    char bar[64];
    for (int i = 0; i < w; i++)
        bar[i] = i < done ? '#' : '.';
    bar[w] = '\0';
    fprintf(stderr, "\r[%s] %3.0f%% %-20.20s", bar, 100 * frac, msg);
    if (!isnan(tl))
        fprintf(stderr, " loss %.5g", tl);
    if (!isnan(vl))
        fprintf(stderr, " valid %.5g", vl);
    fputs(frac >= 1 ? "\033[K\r\033[K" : "\033[K", stderr);
    fflush(stderr);
    return 0;
}

/* {====== sandbox ======} */

/* [-2, +1, e] io.open replacement: writes only under the working folder */
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

static const char *const sandbox_lua =
    /* text chunks only: binary chunks can crash the VM */
    "local load, loadfile, dofile = load, loadfile, dofile\n"
    "_G.load = function(chunk, name, mode, env) return load(chunk, name, 't', env) end\n"
    "_G.loadfile = function(file, mode, env) return loadfile(file, 't', env) end\n"
    "_G.dofile = function(file) local f = assert(loadfile(file, 't')); return f() end\n"
    "local function deny(name) return function() error('sandbox: ' .. name .. ' is not allowed', 2) end end\n"
    "for _, n in ipairs{'execute', 'remove', 'rename', 'tmpname', 'getenv'} do os[n] = deny('os.' .. n) end\n"
    "io.popen, io.output = deny('io.popen'), deny('io.output')\n"
    "package.loadlib, package.cpath = deny('package.loadlib'), ''\n"
    "table.remove(package.searchers, 4); table.remove(package.searchers, 3)\n"
    "debug, _G.debug, package.loaded.debug = nil, nil, nil\n";

static int setup_sandbox(lua_State *L)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return luaL_error(L, "sandbox: cannot read the working folder: %s", strerror(errno));
    lua_pushstring(L, cwd);
    lua_setfield(L, LUA_REGISTRYINDEX, "moonbench.sandbox");
    lua_getglobal(L, "io");
    lua_getfield(L, -1, "open");
    lua_pushcclosure(L, sandbox_open, 1);
    lua_setfield(L, -2, "open");
    lua_pop(L, 1);
    if (luaL_dostring(L, sandbox_lua) != LUA_OK)
        return lua_error(L);
    return 0;
}

/* {====== running ======} */

static int msghandler(lua_State *L)
{
    lua_sethook(L, NULL, 0, 0); /* the traceback runs to completion */
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

typedef struct run_args {
    const char *script;
    char **argv;
    int argc;
    int sandbox;
} run_args;

/* Everything that can raise runs here, under lua_pcall (as lua.c's pmain). */
static int pmain(lua_State *L)
{
    run_args *a = lua_touserdata(L, 1);
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_moonbench);
    lua_setfield(L, -2, "moonbench");
    lua_pop(L, 1);
    if (isatty(2)) {
        lua_pushcfunction(L, progress_bar);
        lua_setfield(L, LUA_REGISTRYINDEX, "moonbench.progress");
    }
    if (a->sandbox)
        setup_sandbox(L);
    /* arg as in lua.c: arg[0] is the script, arg[1..] its arguments */
    lua_createtable(L, a->argc, 1);
    lua_pushstring(L, a->script);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < a->argc; i++) {
        lua_pushstring(L, a->argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
    lua_pushcfunction(L, msghandler);
    int mh = lua_gettop(L);
    if (luaL_loadfilex(L, a->script, "t") != LUA_OK)
        return lua_error(L);
    /* the script text, for provenance in saved bundles */
    FILE *fp = fopen(a->script, "rb");
    if (fp) {
        luaL_Buffer b;
        char *p;
        size_t n;
        luaL_buffinit(L, &b);
        do {
            p = luaL_prepbuffsize(&b, 4096);
            n = fread(p, 1, 4096, fp);
            luaL_addsize(&b, n);
        } while (n == 4096);
        fclose(fp);
        luaL_pushresult(&b);
        lua_getglobal(L, "require");
        lua_pushstring(L, "moonbench");
        lua_call(L, 1, 1);
        lua_insert(L, -2);
        lua_setfield(L, -2, "script_text");
        lua_pop(L, 1);
    }
    for (int i = 0; i < a->argc; i++)
        lua_pushstring(L, a->argv[i]);
    if (lua_pcall(L, a->argc, 0, mh) != LUA_OK)
        return lua_error(L);
    return 0;
}

int mb_cmd_run(int argc, char **argv)
{
    run_args a = {NULL, NULL, 0, 0};
    limit lim = {0, 0};
    double timeout = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--sandbox"))
            a.sandbox = 1;
        else if (!strcmp(argv[i], "--memory") && i + 1 < argc) {
            double mb = strtod(argv[++i], NULL);
            if (!(mb >= 1.0 / 1024 && mb <= 1e9)) /* at least 1 KiB; a conversion C defines */
                return mb_cli_usage("run", "--memory takes megabytes from 0.001 to 1e9, not '%s'", argv[i]);
            lim.max = (size_t)(mb * 1048576.0);
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            timeout = strtod(argv[++i], NULL);
            if (!(timeout > 0 && timeout <= 1e8)) /* alarm() takes whole seconds in an unsigned */
                return mb_cli_usage("run", "--timeout takes seconds from 0 to 1e8, not '%s'", argv[i]);
        } else if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else
            return mb_cli_usage("run", "unknown option '%s'", argv[i]);
    }
    if (i >= argc)
        return mb_cli_usage("run", "name the script to run");
    a.script = argv[i];
    a.argv = argv + i + 1;
    a.argc = argc - i - 1;
    lua_State *L = lua_newstate(limited_alloc, &lim);
    if (!L) {
        fprintf(stderr, "moonbench: cannot create a Lua state\n");
        return 1;
    }
    global_L = L;
    signal(SIGINT, on_signal);
    if (timeout > 0) {
        signal(SIGALRM, on_signal);
        alarm((unsigned)ceil(timeout));
    }
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, &a);
    int status = lua_pcall(L, 1, 0, 0);
    alarm(0);
    signal(SIGINT, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    int rc = 0;
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (status == LUA_ERRMEM || (msg && strstr(msg, "not enough memory") && lim.max))
            fprintf(stderr, "moonbench: %s: not enough memory (the limit is %.0f MB)\n", a.script,
                    (double)lim.max / 1048576.0);
        else
            fprintf(stderr, "moonbench: %s\n", msg ? msg : "(error without a message)");
        rc = stop_reason == 1 ? 130 : 1;
    }
    lua_close(L);
    global_L = NULL;
    return rc;
}
