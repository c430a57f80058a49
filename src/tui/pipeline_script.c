/*
** pipeline_script.c: the Pipeline tab's script, run in the session's Lua
** state (the one `:` uses, so it sees data, runN and mb) without freezing
** the UI: the chunk runs in a coroutine whose count hook yields every
** slice (SLICE seconds) back to the event loop, and raises an error once
** it has run past MOONBENCH_TUI_LUA_SECONDS (30 s) or the user stopped it.
** A C call that takes long (a fit inside the script) cannot be sliced:
** the hook only runs between Lua instructions.
**
** The contract: the script returns a pipeline, or leaves one in the global
** `pipeline`. Then the tab takes it: its C transforms become steps of the
** list (their options read back, so the menus edit them), a Lua transform
** becomes a step `scriptN.steps[i]:clone()`, and its model is selected in
** the Models tab with its parameters; the next training uses them. The
** session records the chunk that ran (the script wrapped so that `return`
** cannot end a replay), which leaves the pipeline in `scriptN`.
**
** Also here: editing the script in $VISUAL / $EDITOR.
*/
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "job.h"
#include "lmb.h"
#include "pipeline.h"

#define SLICE 0.03

static struct {
    lua_State *co;
    int ref;                      /* the coroutine in the registry, LUA_NOREF when none */
    int id;
    double deadline, slice_end, seconds;
    volatile int stop;
    char *chunk;
} S = {NULL, LUA_NOREF, 0, 0, 0, 30, 0, NULL};

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    double now = mbtui_now();
    if (S.stop) {
        S.stop = 0;
        luaL_error(L, "stopped by the user (x)");
    }
    if (now > S.deadline)
        luaL_error(L, "stopped: the script ran past %f s (MOONBENCH_TUI_LUA_SECONDS; long work belongs in moonbench run)",
                   S.seconds);
    if (now > S.slice_end && lua_isyieldable(L))
        lua_yield(L, 0); /* back to the event loop; resumed at the next tick */
}

int mbtui_script_error_line(const char *msg)
{
    for (const char *p = msg; p && (p = strstr(p, "script:")); p += 7) {
        if (p > msg && p[-1] != ' ' && p[-1] != '\t' && p[-1] != '\n')
            continue; /* "myscript:3:" is not ours */
        int line = atoi(p + 7);
        if (line > 0 && p[7] >= '0' && p[7] <= '9')
            return line;
    }
    return 0;
}

static void release(mbtui_app *a)
{
    if (S.ref != LUA_NOREF)
        luaL_unref(mbtui_session_L(a), LUA_REGISTRYINDEX, S.ref);
    S.ref = LUA_NOREF;
    S.co = NULL;
    mb_free(S.chunk);
    S.chunk = NULL;
}

static void fail(mbtui_script_result *res, const char *text)
{
    res->ok = 0;
    res->line = mbtui_script_error_line(text);
    snprintf(res->msg, sizeof res->msg, "%s", text);
    char *nl = strchr(res->msg, '\n');
    if (nl)
        *nl = 0;
}

int mbtui_script_running(void) { return S.co != NULL; }
void mbtui_script_free(mbtui_app *a) { release(a); }
void mbtui_script_stop(void) { S.stop = 1; }

int mbtui_script_start(mbtui_app *a, const char *text, int id, mbtui_script_result *res)
{
    memset(res, 0, sizeof *res);
    if (S.co) {
        fail(res, "a script is running already (x stops it)");
        return -1;
    }
    if (mbtui_session_flush(a) != 0) {
        fail(res, a->lua_error);
        return -1;
    }
    /* The script's line 1 is the chunk's line 1, so line numbers agree. */
    size_t n = strlen(text) + 256;
    S.chunk = mb_malloc(n);
    snprintf(S.chunk, n,
             "do local p = (function(...) %s\nend)() if p ~= nil then pipeline = p end end script%d = pipeline"
             " -- script %d, run from the Pipeline tab",
             text, id, id);
    lua_State *L = mbtui_session_L(a);
    S.co = lua_newthread(L);
    S.ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (luaL_loadbufferx(S.co, S.chunk, strlen(S.chunk), "=script", "t") != LUA_OK) {
        fail(res, lua_tostring(S.co, -1));
        release(a);
        return -1;
    }
    const char *limit = getenv("MOONBENCH_TUI_LUA_SECONDS");
    S.seconds = limit && atof(limit) > 0 ? atof(limit) : 30;
    S.deadline = mbtui_now() + S.seconds;
    S.stop = 0;
    S.id = id;
    lua_sethook(S.co, hook, LUA_MASKCOUNT, 1000);
    mb_free(a->lua_output);
    a->lua_output = NULL;
    char head[64];
    snprintf(head, sizeof head, "-- script %d\n", id);
    mbtui_session_output(a, head);
    return 0;
}

/* {====== taking the script's pipeline ======} */

static int take_steps(mbtui_app *a, lua_State *L, int steps, char *msg, size_t n)
{
    lua_Integer k = luaL_len(L, steps);
    if (k > MBTUI_MAXSTEPS) {
        snprintf(msg, n, "the script's pipeline has %lld steps; the list takes %d", (long long)k, MBTUI_MAXSTEPS);
        return -1;
    }
    char *descs[MBTUI_MAXSTEPS] = {0}, *exprs[MBTUI_MAXSTEPS] = {0};
    int rc = 0;
    for (lua_Integer i = 1; i <= k && rc == 0; i++) {
        lua_geti(L, steps, i);
        mbl_transform *t = luaL_testudata(L, -1, MBL_TRANSFORM);
        if (t && t->t) {
            mb_job_step js;
            mb_error err;
            if (mb_job_step_make(mb_transform_kind(t->t), &t->opts, &js, &err) != MB_OK) {
                snprintf(msg, n, "step %lld: %.400s", (long long)i, err.msg);
                rc = -1;
            } else {
                descs[i - 1] = mb_job_step_text(&js);
                mb_job_step_free(&js);
            }
        } else {
            char e[64];
            snprintf(e, sizeof e, "script%d.steps[%lld]:clone()", S.id, (long long)i);
            exprs[i - 1] = mb_strdup(e); /* a Lua transform: the script owns it */
        }
        lua_pop(L, 1);
    }
    if (rc == 0 && mbtui_pipeline_set_steps(a, descs, exprs, (int)k) != 0) {
        snprintf(msg, n, "%s", a->msg);
        rc = -1;
    }
    for (int i = 0; i < MBTUI_MAXSTEPS; i++)
        mb_free(descs[i]), mb_free(exprs[i]);
    return rc;
}

static int take_model(mbtui_app *a, const mbl_model *m, char *msg, size_t n)
{
    const mb_model *mm = m->m;
    char **settings = mb_calloc(mm->params.n + 1, sizeof *settings);
    for (size_t i = 0; i < mm->params.n; i++) {
        size_t len = strlen(mm->type->params[i].name) + strlen(mm->params.text[i]) + 2;
        settings[i] = mb_malloc(len);
        snprintf(settings[i], len, "%s=%s", mm->type->params[i].name, mm->params.text[i]);
    }
    int rc = mbtui_models_select(a, mm->owner->plugin->name, mm->type->name, (const char *const *)settings,
                                 mm->params.n, msg, n);
    for (size_t i = 0; i < mm->params.n; i++)
        mb_free(settings[i]);
    mb_free(settings);
    return rc;
}

/* The global `pipeline` into the list and the Models tab; 1 when there was one. */
static int take_pipeline(mbtui_app *a, char *msg, size_t n)
{
    lua_State *L = mbtui_session_L(a);
    int top = lua_gettop(L), rc = 0;
    lua_getglobal(L, "pipeline");
    if (!lua_istable(L, -1) || lua_getfield(L, -1, "steps") != LUA_TTABLE ||
        lua_getfield(L, -2, "model") != LUA_TUSERDATA) {
        lua_settop(L, top);
        return 0;
    }
    mbl_model *m = luaL_testudata(L, -1, MBL_MODEL);
    if (!m || !m->m) {
        snprintf(msg, n, "`pipeline` has no model the workbench knows (a loaded bundle? build it with mb.pipeline)");
        rc = -1;
    } else if (take_steps(a, L, top + 2, msg, n) != 0 || take_model(a, m, msg, n) != 0)
        rc = -1;
    else
        rc = 1;
    lua_settop(L, top);
    return rc;
}

int mbtui_script_step(mbtui_app *a, mbtui_script_result *res)
{
    if (!S.co)
        return 0;
    lua_State *L = mbtui_session_L(a);
    int nres = 0;
    S.slice_end = mbtui_now() + SLICE;
    int st = lua_resume(S.co, L, 0, &nres);
    if (st == LUA_YIELD) {
        lua_pop(S.co, nres);
        return 0;
    }
    memset(res, 0, sizeof *res);
    if (st != LUA_OK) {
        const char *m = lua_tostring(S.co, -1);
        luaL_traceback(L, S.co, m ? m : "(error object is not a string)", 0);
        const char *tb = lua_tostring(L, -1);
        fail(res, tb);
        mbtui_session_output(a, tb);
        mbtui_session_output(a, "\n");
        lua_pop(L, 1);
        release(a);
        return 1;
    }
    mbtui_session_record(a, S.chunk);
    char msg[600] = "";
    int took = take_pipeline(a, msg, sizeof msg);
    res->ok = took >= 0;
    if (took > 0)
        snprintf(res->msg, sizeof res->msg, "script %d ran; its pipeline (script%d) is the list's and the Models tab's now",
                 S.id, S.id);
    else if (took == 0)
        snprintf(res->msg, sizeof res->msg, "script %d ran (it left no pipeline: return one, or set `pipeline`)", S.id);
    else
        snprintf(res->msg, sizeof res->msg, "script %d ran, but its pipeline was not taken: %.500s", S.id, msg);
    release(a);
    return 1;
}

/* {====== $VISUAL / $EDITOR ======} */

static char *read_back(const char *path, char *msg, size_t n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(msg, n, "%s: cannot read the edited text back: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0, max = 4u << 20; /* a script, not a data file */
    char *s = mb_malloc(cap);
    size_t k;
    while ((k = fread(s + len, 1, cap - len - 1, fp)) > 0) {
        len += k;
        if (len > max) {
            snprintf(msg, n, "%s: the edited text is over %zu MB; the text is unchanged", path, max >> 20);
            mb_free(s);
            fclose(fp);
            return NULL;
        }
        if (cap - len < 2)
            s = mb_realloc(s, cap *= 2);
    }
    fclose(fp);
    s[len] = 0;
    if (strlen(s) != len) {
        snprintf(msg, n, "%s: the edited text has a NUL byte; the text is unchanged", path);
        mb_free(s);
        return NULL;
    }
    return s;
}

static int run_editor(const char *editor, const char *path, char *msg, size_t n)
{
    struct sigaction ign, old_int, old_quit;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    /* as system(): a Ctrl-C in the editor is the editor's, not ours */
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    mbtui_draw_suspend();
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "%s \"$1\"", editor);
        execl("/bin/sh", "sh", "-c", cmd, "sh", path, (char *)NULL);
        _exit(127);
    }
    int status = 0, rc = -1;
    if (pid < 0)
        snprintf(msg, n, "cannot start the editor: %s", strerror(errno));
    else {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            rc = 0;
        else if (WIFEXITED(status))
            snprintf(msg, n, "the editor (%.200s) exited with status %d: the text is unchanged", editor,
                     WEXITSTATUS(status));
        else
            snprintf(msg, n, "the editor (%.200s) was killed by signal %d: the text is unchanged", editor,
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    mbtui_draw_resume();
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    return rc;
}

int mbtui_external_edit(const char *text, char **out, char *msg, size_t n)
{
    const char *editor = getenv("VISUAL");
    if (!editor || !*editor)
        editor = getenv("EDITOR");
    if (!editor || !*editor) {
        snprintf(msg, n, "set $VISUAL or $EDITOR to edit in your editor (E edits here)");
        return -1;
    }
    const char *tmpdir = getenv("TMPDIR");
    char dir[540], path[600];
    snprintf(dir, sizeof dir, "%.500s/moonbench-edit-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(msg, n, "%s: cannot make a temporary folder: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/pipeline.lua", dir); /* .lua: the editor's Lua mode */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(msg, n, "%s: cannot make a temporary file: %s", path, strerror(errno));
        rmdir(dir);
        return -1;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w <= 0) {
            snprintf(msg, n, "%s: cannot write: %s", path, strerror(errno));
            close(fd);
            unlink(path);
            rmdir(dir);
            return -1;
        }
        off += (size_t)w;
    }
    close(fd);
    int rc = run_editor(editor, path, msg, n);
    if (rc == 0) {
        *out = read_back(path, msg, n);
        rc = *out ? 0 : -1;
    }
    unlink(path);
    rmdir(dir);
    return rc;
}
