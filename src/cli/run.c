/*
** run.c: `moonbench run [--sandbox] [--memory MB] [--timeout S] script.lua
** [args...]`: run a Lua script headless with the moonbench module, as
** lua.c runs one: `arg` as in lua, a traceback on error, exit status 1 on
** failure. Ctrl-C and the timeout stop the script cleanly through a hook
** every coroutine inherits, also inside a model's fit (plugins poll the
** cancel flag); a watchdog ends the process when the hook cannot run
** (__gc finalizers, long C calls). The memory limit counts what Lua and
** moonbench's C code allocate. --sandbox is for untrusted scripts
** (src/script/lmb_run.h, docs/security.md).
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
#include "lmb_run.h"

/* {====== limits: the stop flag and the watchdog ======} */

/* Signal handlers reach the script through these (lmb_run.h: the hook that
** every coroutine inherits polls ctl.stop). */
static mb_lua_ctl run_ctl;
static volatile sig_atomic_t alarms, interrupted;
static char watchdog_msg[PATH_MAX + 128], memory_msg[PATH_MAX + 128];
static size_t watchdog_len, memory_len;

#define RUN_GRACE_S 2        /* after the timeout, for the hook and plugins to stop */
#define RUN_STATUS_WATCHDOG 3
#define RUN_STATUS_MEMORY 4

/* sigaction, not signal: with strict POSIX, signal() resets the handler
** after the first delivery (System V semantics). */
static void on(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* First SIGALRM: ask the script to stop (the hook raises "timeout", plugins
** see the cancel flag) and arm the watchdog. Second: the hook could not
** run (a __gc finalizer, where Lua disables hooks, or a long C call such
** as a pathological string.find): end the process. */
static void on_alarm(int sig)
{
    (void)sig;
    if (alarms++ == 0) {
        mb_lua_stop(&run_ctl, MB_LUA_TIMEOUT);
        mbl_cancel = 1;
        alarm(RUN_GRACE_S);
        return;
    }
    ssize_t w = write(2, watchdog_msg, watchdog_len);
    (void)w;
    _exit(RUN_STATUS_WATCHDOG);
}

static void on_interrupt(int sig)
{
    mb_lua_stop(&run_ctl, MB_LUA_INTERRUPTED);
    mbl_cancel = 1;
    interrupted = 1;
    on(sig, SIG_DFL); /* a second Ctrl-C kills, as usual */
}

/* mb_malloc aborts when even the budget's refusal cannot become an error:
** say why, briefly, instead of a core dump. */
static void on_abort(int sig)
{
    if (mb_lua_budget_hit()) {
        ssize_t w = write(2, memory_msg, memory_len);
        (void)w;
        _exit(RUN_STATUS_MEMORY);
    }
    on(sig, SIG_DFL);
    raise(sig);
}

/* {====== progress bar ======} */

/* [-4, +0, -] the default progress callback on a terminal */
static int progress_bar(lua_State *L)
{
    double frac = luaL_optnumber(L, 1, 0), tl = luaL_optnumber(L, 3, (lua_Number)NAN), vl = luaL_optnumber(L, 4, (lua_Number)NAN);
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

/* {====== running ======} */

/* The stop hook stays set: a __tostring that loops is stopped too. */
static int msghandler(lua_State *L)
{
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
    mb_lua_open(L, a->sandbox, NULL);
    if (isatty(2)) {
        lua_pushcfunction(L, progress_bar);
        lua_setfield(L, LUA_REGISTRYINDEX, "moonbench.progress");
    }
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
    size_t max_bytes = 0;
    double timeout = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--sandbox"))
            a.sandbox = 1;
        else if (!strcmp(argv[i], "--memory") && i + 1 < argc) {
            double mb = strtod(argv[++i], NULL);
            if (!(mb >= 1.0 / 1024 && mb <= 1e9)) /* at least 1 KiB; a conversion C defines */
                return mb_cli_usage("run", "--memory takes megabytes from 0.001 to 1e9, not '%s'", argv[i]);
            max_bytes = (size_t)(mb * 1048576.0);
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
    mb_lua_budget(max_bytes); /* before the state: Lua and C allocations count alike */
    snprintf(watchdog_msg, sizeof watchdog_msg, "moonbench run: %s exceeded --timeout %g s\n", a.script, timeout);
    watchdog_len = strlen(watchdog_msg);
    snprintf(memory_msg, sizeof memory_msg, "moonbench run: %s exceeded --memory %g MB (in C code)\n", a.script,
             (double)max_bytes / 1048576.0);
    memory_len = strlen(memory_msg);
    lua_State *L = mb_lua_newstate(&run_ctl);
    if (!L) {
        fprintf(stderr, "moonbench: cannot create a Lua state\n");
        return 1;
    }
    on(SIGINT, on_interrupt);
    if (max_bytes)
        on(SIGABRT, on_abort);
    if (timeout > 0) {
        on(SIGALRM, on_alarm);
        alarm((unsigned)ceil(timeout));
    }
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, &a);
    int status = lua_pcall(L, 1, 0, 0);
    int rc = 0;
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        int mem = status == LUA_ERRMEM ||
                  (max_bytes && msg && (strstr(msg, "not enough memory") || mb_lua_budget_hit()));
        if (mem && msg && strcmp(msg, "not enough memory") != 0)
            fprintf(stderr, "moonbench: %s: not enough memory (the limit is %g MB): %s\n", a.script,
                    (double)max_bytes / 1048576.0, msg);
        else if (mem)
            fprintf(stderr, "moonbench: %s: not enough memory (the limit is %g MB)\n", a.script,
                    (double)max_bytes / 1048576.0);
        else
            fprintf(stderr, "moonbench: %s\n", msg ? msg : "(error without a message)");
        rc = interrupted && !alarms ? 130 : 1;
    }
    lua_close(L); /* finalizers run here: the watchdog still holds */
    alarm(0);
    on(SIGINT, SIG_DFL);
    on(SIGALRM, SIG_DFL);
    on(SIGABRT, SIG_DFL);
    return rc;
}
