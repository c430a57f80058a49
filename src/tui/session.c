/*
** session.c: the workbench's session is Lua. One Lua state with the
** moonbench module holds the data (`data`), the fitted runs (`run1`, ...,
** loaded back from their bundles) and whatever `:` defines; every action
** that changes data or a model is appended as the chunk it ran, and the
** saved session is the prelude plus those chunks: `moonbench run FILE`
** replays it headless and prints the same metrics (the prelude's report()).
**
** Chunks may be deferred: opening a file records `data = mb.open(...)` but
** runs it only when the session is next needed (a `:` line, a training),
** so the first screen of a huge file never waits for the whole of it.
*/
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "tui.h"

int luaopen_moonbench(lua_State *L);

static const char prelude[] =
    "-- moonbench session, written by the workbench; `moonbench run FILE` replays it\n"
    "mb = require \"moonbench\"\n"
    "runs = {}\n"
    "-- evaluate a fitted pipeline on the held-out rows and print its metrics\n"
    "function report(name, pipeline, test)\n"
    "  local r = mb.evaluate(pipeline, test)\n"
    "  runs[name] = r\n"
    "  local keys, parts = {}, {}\n"
    "  for k, v in pairs(r) do if type(v) == \"number\" and k ~= \"n\" then keys[#keys + 1] = k end end\n"
    "  table.sort(keys)\n"
    "  for _, k in ipairs(keys) do parts[#parts + 1] = string.format(\"%s=%.4f\", k, r[k]) end\n"
    "  print(name .. \": \" .. table.concat(parts, \" \"))\n"
    "  return r\n"
    "end\n"
    "-- the same for a cross-validation: each metric's mean and std over the folds\n"
    "function report_cv(name, cv)\n"
    "  local r, keys, parts = {}, {}, {}\n"
    "  for k, v in pairs(cv.mean) do\n"
    "    if type(v) == \"number\" and k:sub(1, 2) ~= \"n_\" and k ~= \"n\" then\n"
    "      r[k], r[k .. \"_std\"], keys[#keys + 1] = v, cv.std[k], k\n"
    "    end\n"
    "  end\n"
    "  runs[name] = r\n"
    "  table.sort(keys)\n"
    "  for _, k in ipairs(keys) do parts[#parts + 1] = string.format(\"%s=%.4f+-%.4f\", k, r[k], r[k .. \"_std\"]) end\n"
    "  print(name .. \": \" .. table.concat(parts, \" \"))\n"
    "  return r\n"
    "end\n";

static mbtui_app *owner;
static double deadline, chunk_seconds = 30; /* MOONBENCH_TUI_LUA_SECONDS sets it */

const char *mbtui_lua_quote(const char *s, char *buf, size_t n)
{
    size_t o = 0;
    if (n < 3) {
        buf[0] = 0;
        return buf;
    }
    buf[o++] = '"';
    for (; *s && o + 5 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            buf[o++] = '\\', buf[o++] = (char)c;
        else if (c == '\n')
            buf[o++] = '\\', buf[o++] = 'n';
        else if (c < ' ')
            o += (size_t)snprintf(buf + o, n - o, "\\%03u", c);
        else
            buf[o++] = (char)c;
    }
    buf[o++] = '"';
    buf[o] = 0;
    return buf;
}

static void output_add(mbtui_app *a, const char *s)
{
    size_t old = a->lua_output ? strlen(a->lua_output) : 0, add = strlen(s);
    if (old > 64 * 1024) /* keep the pane bounded */
        return;
    a->lua_output = mb_realloc(a->lua_output, old + add + 1);
    memcpy(a->lua_output + old, s, add + 1);
}

void mbtui_session_output(mbtui_app *a, const char *text) { output_add(a, text); }

/* print() inside the session writes to the output pane. */
static int session_print(lua_State *L)
{
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        output_add(owner, luaL_tolstring(L, i, NULL));
        lua_pop(L, 1);
        output_add(owner, i < n ? "\t" : "");
    }
    output_add(owner, "\n");
    return 0;
}

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = luaL_tolstring(L, 1, NULL);
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int open_all(lua_State *L)
{
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_moonbench);
    lua_setfield(L, -2, "moonbench");
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, prelude, sizeof prelude - 1, "=session") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, session_print);
    lua_setglobal(L, "print");
    return 0;
}

int mbtui_session_init(mbtui_app *a, char *msg, size_t n)
{
    owner = a;
    const char *limit = getenv("MOONBENCH_TUI_LUA_SECONDS");
    if (limit && atof(limit) > 0)
        chunk_seconds = atof(limit);
    a->L = luaL_newstate();
    if (!a->L) {
        snprintf(msg, n, "cannot create the session's Lua state");
        return -1;
    }
    lua_pushcfunction(a->L, open_all);
    if (lua_pcall(a->L, 0, 0, 0) != LUA_OK) {
        snprintf(msg, n, "session: %s", lua_tostring(a->L, -1));
        lua_close(a->L);
        a->L = NULL;
        return -1;
    }
    a->session_saved_at = -1;
    return 0;
}

void mbtui_session_close(mbtui_app *a)
{
    if (a->L)
        lua_close(a->L);
    a->L = NULL;
    for (int i = 0; i < a->nchunks; i++)
        mb_free(a->chunks[i]);
    for (int i = 0; i < a->ndeferred; i++)
        mb_free(a->deferred[i]);
    mb_free(a->chunks);
    mb_free(a->deferred);
    mb_free(a->lua_output);
    a->chunks = a->deferred = NULL;
    a->lua_output = NULL;
    a->nchunks = a->ndeferred = 0;
}

struct lua_State *mbtui_session_L(mbtui_app *a) { return a->L; }

static void journal_write(mbtui_app *a);

void mbtui_session_record(mbtui_app *a, const char *lua)
{
    if (a->nchunks == a->capchunks) {
        a->capchunks = a->capchunks ? a->capchunks * 2 : 32;
        a->chunks = mb_realloc(a->chunks, (size_t)a->capchunks * sizeof *a->chunks);
    }
    a->chunks[a->nchunks++] = mb_strdup(lua);
    journal_write(a);
}

/* A `:` line (or a chunk) that runs past its time is stopped: the UI
** thread runs it, and input must come back. Workers run without it. */

static void time_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (deadline > 0 && mbtui_now() > deadline) {
        deadline = 0;
        luaL_error(L, "stopped: the Lua ran past %f s (long work belongs in a script: moonbench run)",
                   chunk_seconds);
    }
}

/* Run text as a chunk; values it returns are added to the output pane. */
static int run_chunk(mbtui_app *a, const char *text, int try_return)
{
    lua_State *L = a->L;
    deadline = mbtui_now() + chunk_seconds;
    lua_sethook(L, time_hook, LUA_MASKCOUNT, 100000);
    int base = lua_gettop(L);
    lua_pushcfunction(L, msghandler);
    int st = LUA_ERRSYNTAX;
    if (try_return) {
        size_t n = strlen(text) + 8;
        char *ret = mb_malloc(n);
        snprintf(ret, n, "return %s", text);
        st = luaL_loadbuffer(L, ret, strlen(ret), "=lua");
        mb_free(ret);
        if (st != LUA_OK)
            lua_pop(L, 1);
    }
    if (st != LUA_OK)
        st = luaL_loadbuffer(L, text, strlen(text), "=lua");
    /* A chunk may read files (the deferred mb.open, mb.load of a run's
    ** bundle, the user's own), and HDF5 is not thread-safe: the stats
    ** thread and the Data tab's pager read under the same lock. */
    pthread_mutex_lock(&mbtui_core_lock);
    if (st == LUA_OK)
        st = lua_pcall(L, 0, LUA_MULTRET, base + 1);
    pthread_mutex_unlock(&mbtui_core_lock);
    lua_sethook(L, NULL, 0, 0);
    deadline = 0;
    if (st != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        snprintf(a->lua_error, sizeof a->lua_error, "%s", msg ? msg : "(error object is not a string)");
        lua_settop(L, base);
        return -1;
    }
    int nres = lua_gettop(L) - base - 1;
    for (int i = 1; i <= nres; i++) {
        output_add(a, luaL_tolstring(L, base + 1 + i, NULL));
        lua_pop(L, 1);
        output_add(a, i < nres ? "\t" : "\n");
    }
    lua_settop(L, base);
    return 0;
}

/* A sort, filter or derive owns the Lua state while it runs (dataops.c). */
static int busy(mbtui_app *a)
{
    const char *what = mbtui_data_busy(a);
    if (what)
        snprintf(a->lua_error, sizeof a->lua_error,
                 "the session is busy with a %s (the Data tab: x cancels it); try again when it ends", what);
    return what != NULL;
}

int mbtui_session_flush(mbtui_app *a)
{
    int rc = 0;
    if (busy(a))
        return -1;
    while (a->ndeferred > 0) {
        /* off the list first: recording rewrites the journal from it */
        char *chunk = a->deferred[0];
        memmove(a->deferred, a->deferred + 1, (size_t)(a->ndeferred - 1) * sizeof *a->deferred);
        a->ndeferred--;
        if (rc == 0 && run_chunk(a, chunk, 0) == 0)
            mbtui_session_record(a, chunk);
        else
            rc = -1; /* the rest depended on it: dropped */
        mb_free(chunk);
    }
    return rc;
}

void mbtui_session_defer(mbtui_app *a, const char *lua)
{
    a->deferred = mb_realloc(a->deferred, (size_t)(a->ndeferred + 1) * sizeof *a->deferred);
    a->deferred[a->ndeferred++] = mb_strdup(lua);
    journal_write(a);
}

int mbtui_session_do(mbtui_app *a, const char *lua, int record)
{
    if (busy(a) || mbtui_session_flush(a) != 0)
        return -1;
    if (run_chunk(a, lua, 0) != 0)
        return -1;
    if (record)
        mbtui_session_record(a, lua);
    return 0;
}

void mbtui_session_eval(mbtui_app *a, const char *text)
{
    mb_free(a->lua_output);
    a->lua_output = NULL;
    output_add(a, "lua> ");
    output_add(a, text);
    output_add(a, "\n");
    if (busy(a) || mbtui_session_flush(a) != 0 || run_chunk(a, text, 1) != 0) {
        output_add(a, a->lua_error);
        output_add(a, "\n");
        char first[300];
        snprintf(first, sizeof first, "%.290s", a->lua_error);
        char *nl = strchr(first, '\n');
        if (nl)
            *nl = 0;
        mbtui_say(a, MBTUI_A_ERROR, "lua error: %s (the session is unchanged; see the Pipeline tab)", first);
        return;
    }
    /* An expression ran as "return TEXT"; the saved session must parse, so
    ** it is recorded as a statement that evaluates it. */
    int is_statement = luaL_loadbuffer(a->L, text, strlen(text), "=lua") == LUA_OK;
    lua_pop(a->L, 1);
    if (is_statement)
        mbtui_session_record(a, text);
    else {
        size_t n = strlen(text) + 32;
        char *stmt = mb_malloc(n);
        snprintf(stmt, n, "do local _ = %s\nend", text);
        mbtui_session_record(a, stmt);
        mb_free(stmt);
    }
    /* the first line of the answer, the rest in the Pipeline tab */
    const char *out = a->lua_output + 5 + strlen(text) + 1;
    char first[400];
    snprintf(first, sizeof first, "%s", *out ? out : "ok");
    char *nl = strchr(first, '\n');
    if (nl)
        *nl = 0;
    mbtui_say(a, MBTUI_A_OK, "= %s", first);
}

char *mbtui_session_text(const mbtui_app *a)
{
    size_t n = sizeof prelude + 64;
    for (int i = 0; i < a->nchunks; i++)
        n += strlen(a->chunks[i]) + 1;
    for (int i = 0; i < a->ndeferred; i++)
        n += strlen(a->deferred[i]) + 1;
    char *s = mb_malloc(n);
    size_t o = (size_t)snprintf(s, n, "%s\n", prelude);
    for (int i = 0; i < a->nchunks; i++)
        o += (size_t)snprintf(s + o, n - o, "%s\n", a->chunks[i]);
    for (int i = 0; i < a->ndeferred; i++)
        o += (size_t)snprintf(s + o, n - o, "%s\n", a->deferred[i]);
    return s;
}

/* {====== the journal ======} */

int mbtui_write_text(const char *path, const char *text, mb_error *err)
{
    char *tmp = NULL;
    int fd = mb_tmp_create(path, &tmp, err);
    if (fd < 0)
        return -1;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w <= 0) {
            close(fd);
            mb_tmp_discard(&tmp);
            mb_fail(err, MB_EIO, "%s: cannot write", path);
            return -1;
        }
        off += (size_t)w;
    }
    return mb_tmp_publish(fd, &tmp, path, err) == MB_OK ? 0 : -1;
}

static void journal_write(mbtui_app *a)
{
    if (!a->journal[0])
        return;
    mb_error err;
    char *text = mbtui_session_text(a);
    if (mbtui_write_text(a->journal, text, &err) != 0)
        a->journal[0] = 0; /* a full disk must not stop the work; the session still saves */
    mb_free(text);
}

static int state_dir(char *dir, size_t n)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(dir, n, "%s/moonbench", xdg);
    else if (home && *home)
        snprintf(dir, n, "%s/.local/state/moonbench", home);
    else
        return -1;
    /* mkdir -p, private */
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0700);
            *p = '/';
        }
    return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* Is process pid running (a zombie, whose parent has not reaped it, is not)? */
static int alive(pid_t pid)
{
    if (kill(pid, 0) != 0 && errno != EPERM)
        return 0;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 1;
    size_t k = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[k] = 0;
    const char *paren = strrchr(buf, ')'); /* "pid (name) S ..." */
    return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}

int mbtui_journal_start(mbtui_app *a, char *msg, size_t n)
{
    char dir[512];
    a->journal[0] = 0;
    if (state_dir(dir, sizeof dir) != 0)
        return 0;
    int found = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        long pid;
        char tail[8];
        if (sscanf(e->d_name, "journal-%ld.%7s", &pid, tail) != 2 || strcmp(tail, "lua") || pid <= 0)
            continue;
        if (alive((pid_t)pid))
            continue; /* that workbench is still running */
        char from[1100], to[1100];
        snprintf(from, sizeof from, "%s/%s", dir, e->d_name);
        snprintf(to, sizeof to, "%s/recovered-%ld.lua", dir, pid);
        if (rename(from, to) == 0) {
            snprintf(msg, n, "the last session did not end cleanly; its Lua is in %.400s (moonbench run it)", to);
            found = 1;
        }
    }
    if (d)
        closedir(d);
    snprintf(a->journal, sizeof a->journal, "%.500s/journal-%ld.lua", dir, (long)getpid());
    journal_write(a);
    return found;
}

void mbtui_journal_end(mbtui_app *a)
{
    if (a->journal[0])
        unlink(a->journal);
    a->journal[0] = 0;
}

int mbtui_session_save(mbtui_app *a, const char *path, mb_error *err)
{
    char *text = mbtui_session_text(a);
    int rc = mbtui_write_text(path, text, err);
    mb_free(text);
    if (rc == 0)
        a->session_saved_at = a->nchunks + a->ndeferred;
    return rc;
}
