/*
** dataops.c: the Data tab's sort, filter and derived column, run in the
** background. Each is one chunk of the session's Lua over the frame API
** (data:sort, data:filter, data:derive with an expression), so the saved
** session replays it headless with the same rows; the chunk keeps the
** view it replaces in `views`, which undo pops.
**
** DESIGN
** ------
** The chunk runs on a thread of its own in the session's Lua state, after
** the chunks still deferred (the lazy mb.open of the file: loading a big
** file is part of the work). While it runs that thread owns the state: the
** UI thread asks mbtui_data_busy before any Lua (session.c refuses `:`,
** job.c neither starts nor reaps a run, which would need the state), and
** draws the views from frames that are never changed once made. Deferred
** chunks read files, so they run under mbtui_core_lock (HDF5 is not
** thread-safe). Progress comes from the frame methods' progress option (a
** global `progress` the chunk passes, nil in a headless replay); cancel is
** a flag that progress and a count hook check. When the thread ends, the
** UI thread (mbtui_dataop_poll) joins it and records what ran.
*/
#include <lauxlib.h>
#include <lua.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmb.h"
#include "tui.h"

static struct {
    pthread_t thread;
    int running;                  /* a thread to join (UI thread's view) */
    atomic_int done, cancel, progressed;
    atomic_uint permille;
    lua_State *L;
    char what[64];
    char *lua;
    char **deferred;              /* copies of the chunks deferred when it started */
    int ndeferred, ran;           /* how many of them ran */
    int level;                    /* the view it makes: registry mbtui.views[level] */
    int ok;
    const mb_frame *result;
    char error[1024];
    double started;
} op;

const char *mbtui_data_busy(const mbtui_app *a)
{
    (void)a;
    return op.running ? op.what : NULL;
}

double mbtui_dataop_progress(void)
{
    return atomic_load(&op.progressed) ? atomic_load(&op.permille) / 1000.0 : -1;
}
double mbtui_dataop_elapsed(void) { return op.running ? mbtui_now() - op.started : 0; }
void mbtui_dataop_cancel(void) { atomic_store(&op.cancel, 1); }

/* progress(fraction, what), as the frame methods call it */
static int op_progress(lua_State *L)
{
    double f = luaL_optnumber(L, 1, 0);
    atomic_store(&op.permille, (unsigned)(f < 0 ? 0 : f > 1 ? 1000 : f * 1000));
    atomic_store(&op.progressed, 1);
    if (atomic_load(&op.cancel))
        return luaL_error(L, "cancelled");
    return 0;
}

static void op_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (atomic_load(&op.cancel))
        luaL_error(L, "cancelled");
}

static int op_msgh(lua_State *L)
{
    const char *m = lua_tostring(L, 1);
    lua_pushstring(L, m ? m : "(error object is not a string)");
    return 1;
}

static int no_print(lua_State *L)
{
    (void)L;
    return 0;
}

static int run(lua_State *L, const char *chunk, const char *name)
{
    int base = lua_gettop(L);
    lua_pushcfunction(L, op_msgh);
    int st = luaL_loadbuffer(L, chunk, strlen(chunk), name);
    if (st == LUA_OK)
        st = lua_pcall(L, 0, 0, base + 1);
    if (st != LUA_OK)
        snprintf(op.error, sizeof op.error, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    lua_settop(L, base);
    return st == LUA_OK ? 0 : -1;
}

/* Keep the frame in `data` alive for the view: registry mbtui.views[level]. */
static int keep_result(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, "mbtui.views");
    lua_getglobal(L, "data");
    mbl_frame *u = luaL_testudata(L, -1, MBL_FRAME);
    if (!u || !u->f) {
        snprintf(op.error, sizeof op.error, "the chunk did not leave a frame in `data`");
        lua_pop(L, 2);
        return -1;
    }
    op.result = u->f;
    lua_rawseti(L, -2, op.level);
    lua_pop(L, 1);
    return 0;
}

static void *worker(void *ud)
{
    (void)ud;
    lua_State *L = op.L;
    op.ran = 0;
    pthread_mutex_lock(&mbtui_core_lock);
    for (; op.ran < op.ndeferred; op.ran++)
        if (run(L, op.deferred[op.ran], "=session") != 0)
            break;
    pthread_mutex_unlock(&mbtui_core_lock);
    if (op.ran == op.ndeferred) {
        lua_getglobal(L, "print");
        lua_pushcfunction(L, no_print); /* the output pane belongs to the UI thread */
        lua_setglobal(L, "print");
        lua_pushcfunction(L, op_progress);
        lua_setglobal(L, "progress");
        lua_sethook(L, op_hook, LUA_MASKCOUNT, 10000);
        op.ok = run(L, op.lua, "=data") == 0 && keep_result(L) == 0;
        lua_sethook(L, NULL, 0, 0);
        lua_pushnil(L);
        lua_setglobal(L, "progress");
        lua_setglobal(L, "print");
    }
    atomic_store_explicit(&op.done, 1, memory_order_release);
    return NULL;
}

int mbtui_dataop_start(mbtui_app *a, const char *what, const char *lua, int level)
{
    if (op.running)
        return -1;
    memset(op.error, 0, sizeof op.error);
    snprintf(op.what, sizeof op.what, "%s", what);
    op.L = a->L;
    op.lua = mb_strdup(lua);
    op.level = level;
    op.ok = 0;
    op.result = NULL;
    op.ndeferred = a->ndeferred;
    op.deferred = mb_calloc((size_t)(a->ndeferred ? a->ndeferred : 1), sizeof *op.deferred);
    for (int i = 0; i < a->ndeferred; i++)
        op.deferred[i] = mb_strdup(a->deferred[i]);
    atomic_store(&op.done, 0);
    atomic_store(&op.cancel, 0);
    atomic_store(&op.permille, 0);
    atomic_store(&op.progressed, 0);
    op.started = mbtui_now();
    if (pthread_create(&op.thread, NULL, worker, NULL) != 0) {
        mbtui_say(a, MBTUI_A_ERROR, "%s: cannot start a thread", what);
        mbtui_dataop_stop(a);
        return -1;
    }
    op.running = 1;
    return 0;
}

static void release(void)
{
    for (int i = 0; i < op.ndeferred; i++)
        mb_free(op.deferred[i]);
    mb_free(op.deferred);
    mb_free(op.lua);
    op.deferred = NULL;
    op.lua = NULL;
    op.ndeferred = 0;
}

/* The deferred chunks that ran are the session's now; a failed one and
** the rest after it are dropped (as mbtui_session_flush does). */
static void settle_deferred(mbtui_app *a)
{
    int drop = op.ran < op.ndeferred ? op.ndeferred : op.ran;
    for (int i = 0; i < drop && a->ndeferred > 0; i++) {
        char *chunk = a->deferred[0];
        memmove(a->deferred, a->deferred + 1, (size_t)(a->ndeferred - 1) * sizeof *a->deferred);
        a->ndeferred--;
        if (i < op.ran)
            mbtui_session_record(a, chunk);
        mb_free(chunk);
    }
}

int mbtui_dataop_poll(mbtui_app *a, const mb_frame **result, double *seconds, char *err, size_t n)
{
    if (!op.running || !atomic_load_explicit(&op.done, memory_order_acquire))
        return 0;
    pthread_join(op.thread, NULL);
    op.running = 0;
    *seconds = mbtui_now() - op.started;
    settle_deferred(a);
    int rc = -1;
    if (op.ran < op.ndeferred)
        snprintf(err, n, "the session's Lua failed: %s", op.error);
    else if (!op.ok)
        snprintf(err, n, "%s", op.error);
    else {
        *result = op.result;
        rc = 1;
    }
    release();
    return rc;
}

/* The op chunk with its result comment, once the row count is known, is
** recorded by the caller (view_data.c): the text ran is the text kept. */
void mbtui_dataop_stop(mbtui_app *a)
{
    if (op.running) {
        atomic_store(&op.cancel, 1);
        pthread_join(op.thread, NULL);
        op.running = 0;
        settle_deferred(a);
    }
    release();
}

void mbtui_dataop_forget(mbtui_app *a, int level)
{
    if (!a->L || op.running)
        return;
    luaL_getsubtable(a->L, LUA_REGISTRYINDEX, "mbtui.views");
    lua_pushnil(a->L);
    lua_rawseti(a->L, -2, level);
    lua_pop(a->L, 1);
}

/* The memory a sort, filter or derive may take: it holds the whole data
** and makes a copy. MOONBENCH_TUI_MAX_MB, else a quarter of the RAM. */
double mbtui_dataop_limit_mb(void)
{
    const char *s = getenv("MOONBENCH_TUI_MAX_MB");
    if (s && *s) {
        char *end;
        double v = strtod(s, &end);
        if (end != s && v >= 0)
            return v;
    }
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || size <= 0)
        return 4096;
    return (double)pages * (double)size / 4 / 1048576;
}
