/*
** job.c: training (and comparison) runs in worker processes.
**
** DESIGN
** ------
** A run is a fork of the workbench, so the child inherits the session's
** Lua state with the data already in memory (no reload, no serialisation).
** The fork is made while the UI thread holds mbtui_core_lock, which every
** file read of the statistics thread also takes: the child never inherits
** a half-done HDF5 call, and it touches nothing else of that thread. The
** child runs the run's Lua chunk (the one the session records), writes the
** fitted pipeline as a bundle into the session folder, and reports over a
** pipe, one line per message:
**     P fraction train_loss valid_loss message     progress (throttled)
**     M name value                                 a held-out metric
**     L i class | R i c0 c1 ...                    class names, confusion rows
**     T text                                       a line of a comparison
**     F what ...                                   a figure: curve points,
**                                                  importances, explanations
**                                                  (figures.c; from figures_lua)
**     E message                                    the Lua error that ended it
**     D                                            done, bundle written
** Cancelling writes "C" to the child's own pipe; its progress callback
** sees it and raises, which stops the fit at the plugin's next check.
** A child still alive a second later gets SIGTERM, two more seconds later
** SIGKILL. A child that dies of a signal (a plugin's segfault or abort)
** becomes a failed run naming the signal and the plugin; the UI goes on.
** Children live in their own process group, so a Ctrl-C meant for the
** workbench never reaches them; every exit path kills them.
*/
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results.h"

static int child_w = -1, child_r = -1;
static double child_last;

/* {====== the child ======} */

void mbtui_vsend(int fd, const char *fmt, va_list ap)
{
    char buf[16384];
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    for (int i = 0; i < n; i++)
        if (buf[i] == '\n')
            buf[i] = ' ';
    buf[n++] = '\n';
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(fd, buf + off, (size_t)(n - off));
        if (w <= 0 && errno != EINTR)
            _exit(4); /* the workbench is gone */
        if (w > 0)
            off += w;
    }
}

static void send_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void send_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mbtui_vsend(child_w, fmt, ap);
    va_end(ap);
}

void mbtui_child_init(void)
{
    setpgid(0, 0);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL); /* a plugin's crash must kill the child, visibly */
    signal(SIGPIPE, SIG_IGN);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0)
        dup2(null, 0);
}

int mbtui_read_lines(int fd, char *line, size_t cap, size_t *nline, void (*fn)(void *ud, char *line), void *ud)
{
    for (;;) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0)
            return -1;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                line[*nline] = 0;
                fn(ud, line);
                *nline = 0;
            } else if (*nline + 1 < cap)
                line[(*nline)++] = buf[i];
        }
    }
}

/* progress(fraction, message, train_loss, valid_loss), as fit calls it. */
static int child_progress(lua_State *L)
{
    double f = luaL_optnumber(L, 1, 0), tl = luaL_optnumber(L, 3, NAN), vl = luaL_optnumber(L, 4, NAN);
    const char *msg = luaL_optstring(L, 2, "");
    double now = mbtui_now();
    if (now - child_last > 0.03 || f >= 1) {
        child_last = now;
        send_line("P %.4f %.9g %.9g %s", f, tl, vl, msg);
    }
    char c;
    if (read(child_r, &c, 1) == 1 && c == 'C')
        return luaL_error(L, "cancelled by the user");
    return 0;
}

static void send_report(lua_State *L, int id)
{
    lua_getglobal(L, "runs");
    if (!lua_istable(L, -1))
        return;
    char name[32];
    snprintf(name, sizeof name, "run%d", id);
    lua_getfield(L, -1, name);
    if (!lua_istable(L, -1))
        return;
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TNUMBER)
            send_line("M %s %.17g", lua_tostring(L, -2), lua_tonumber(L, -1));
        lua_pop(L, 1);
    }
    if (lua_getfield(L, t, "classes") == LUA_TTABLE) {
        lua_Integer k = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= k && i <= MBTUI_MAXCLASSES; i++) {
            lua_geti(L, -1, i);
            lua_getfield(L, -1, "class");
            send_line("L %d %s", (int)i - 1, lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
            lua_pop(L, 2);
        }
    }
    lua_pop(L, 1);
    if (lua_getfield(L, t, "confusion") == LUA_TTABLE) {
        lua_Integer k = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= k && i <= MBTUI_MAXCLASSES; i++) {
            char row[1024];
            size_t o = 0;
            lua_geti(L, -1, i);
            for (lua_Integer j = 1; j <= k && j <= MBTUI_MAXCLASSES; j++) {
                lua_geti(L, -1, j);
                o += (size_t)snprintf(row + o, sizeof row - o, " %lld", (long long)lua_tointeger(L, -1));
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
            send_line("R %d%s", (int)i - 1, row);
        }
    }
}

/* The figures of a finished run, computed in the worker from the saved
** bundle (mb.load: the form the explainers read) on the evaluation rows:
** the held-out part, or for a cross-validated run the data the final
** model was fitted on (explanations only: it has no held-out rows). Each
** figure goes out as an F line; a failure of one says why and the others
** still go. Nothing here changes the session, so nothing is recorded. */
static const char figures_lua[] =
    "local id, bundle, emit = ...\n"
    "local fmt = string.format\n"
    "local q = mb.load(bundle)\n"
    "local rep = runs['run' .. id] or {}\n"
    "local held = rep.task ~= nil and test ~= nil\n"
    "local ev = held and test or data\n"
    "local target = ev:target()\n"
    "local function points(kind, xs, ys, zs)\n"
    "  local n = #xs\n"
    "  local step = math.max(1, n // 240)\n"
    "  for i = 1, n, step do\n"
    "    emit(fmt('point %s %.9g %.9g %.9g', kind, xs[i], ys[i], zs and zs[i] or 0))\n"
    "  end\n"
    "  if (n - 1) % step ~= 0 then emit(fmt('point %s %.9g %.9g %.9g', kind, xs[n], ys[n], zs and zs[n] or 0)) end\n"
    "end\n"
    "emit(fmt('eval %s', held and fmt('on the %d held-out rows', #ev)\n"
    "  or fmt('on the %d rows the model was fitted on (k-fold plan: no held-out rows)', #ev)))\n"
    "if not held then\n"
    "  emit('nocurve curves, calibration and residuals need held-out rows: choose a hold-out plan (e) and train again')\n"
    "elseif rep.task == 'binary' then\n"
    "  for _, k in ipairs({ 'roc', 'pr', 'calibration' }) do\n"
    "    local ok, c = pcall(mb.curve, k, q, ev, 10)\n"
    "    if ok then points(k:sub(1, 1), c.x, c.y, k == 'calibration' and c.threshold or nil)\n"
    "    else emit('nocurve ' .. k .. ': ' .. tostring(c)) end\n"
    "  end\n"
    "elseif rep.task == 'multiclass' then\n"
    "  emit('nocurve calibration is drawn for two classes; ROC and PR are one class against the rest')\n"
    "  local y, proba = ev:col(target), q:predict_proba(ev)\n"
    "  for k, c in ipairs(proba:columns()) do\n"
    "    if k > 12 then break end\n"
    "    local y01 = y:levels() and y:eq(c) or y:eq(tonumber(c) or 1)\n"
    "    emit(fmt('class %d %s', k - 1, c))\n"
    "    for _, kind in ipairs({ 'roc', 'pr' }) do\n"
    "      local ok, cv = pcall(mb._curve, kind, y01, proba:col(c))\n"
    "      if ok then\n"
    "        local area = 0 -- ROC: trapezoids (= the Mann-Whitney AUC); PR: average precision\n"
    "        for i = 1, #cv.x - 1 do\n"
    "          area = area + (kind == 'roc' and (cv.x[i + 1] - cv.x[i]) * (cv.y[i + 1] + cv.y[i]) / 2\n"
    "                         or (cv.x[i] - cv.x[i + 1]) * cv.y[i])\n"
    "        end\n"
    "        emit(fmt('area %d %s %.17g', k - 1, kind, area))\n"
    "        points(kind:sub(1, 1) .. (k - 1), cv.x, cv.y)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "else\n"
    "  local y, p = ev:col(target), q:predict(ev)\n"
    "  local xs, ys = {}, {}\n"
    "  for i = 1, #y do xs[i], ys[i] = p[i], y[i] - p[i] end\n"
    "  points('s', xs, ys)\n"
    "end\n"
    "local function importance(kind)\n"
    "  local ok, t = pcall(function() return q.model:importance(kind) end)\n"
    "  if ok and type(t) == 'table' and next(t) then return t end\n"
    "end\n"
    "local imp, kind = importance(1), 'total gain'\n"
    "if not imp then imp, kind = importance(0), '|coefficient| or split count' end\n"
    "if imp then\n"
    "  emit('impkind ' .. kind)\n"
    "  for name, v in pairs(imp) do emit(fmt('imp %.9g %s', v, name)) end\n"
    "end\n"
    "local n = math.min(#ev, 1000)\n"
    "local e = ev:head(n)\n"
    "local ok, contrib, info = pcall(mb.explain, q, e)\n"
    "if ok then\n"
    "  emit(fmt('shap %s %d %d', info.method, info.mapped and 1 or 0, n))\n"
    "  for i, c in ipairs(info.columns) do emit(fmt('g %.9g nan %d %s', info.mean_abs[c], i, c)) end\n"
    "  local names, cols = contrib:columns(), {}\n"
    "  emit(fmt('cols %d %d', #info.columns + 1, #names // (#info.columns + 1)))\n"
    "  for _, c in ipairs(info.columns) do emit('col ' .. c) end\n"
    "  for j, c in ipairs(names) do\n"
    "    cols[j] = contrib:col(c)\n"
    "    local class = c:match('^expected_value:(.*)$')\n"
    "    if class then emit('out ' .. class) end\n"
    "  end\n"
    "  local m = math.min(n, 200)\n"
    "  local head = e:head(m)\n"
    "  local pred, truth = q:predict(head), head:col(target)\n"
    "  for i = 1, m do\n"
    "    local v = {}\n"
    "    for j = 1, #cols do v[j] = fmt('%.9g', cols[j][i]) end\n"
    "    emit(fmt('row %s\\t%s\\t%s', tostring(truth[i]), tostring(pred[i]), table.concat(v, ' ')))\n"
    "  end\n"
    "else\n"
    "  local why = tostring(contrib)\n"
    "  local ok2, pi = pcall(mb.permutation_importance, q, e, { repeats = 3, seed = 0 })\n"
    "  if not ok2 then emit('xnote no explanation: ' .. why .. '; permutation importance: ' .. tostring(pi)) return end\n"
    "  emit(fmt('shap permutation 0 %d', n))\n"
    "  emit(fmt('xnote no SHAP (%s): permutation importance instead, the drop of %s when a feature is shuffled (3 repeats, seed 0)', why, pi.metric))\n"
    "  for i, name in ipairs(pi.ranking) do\n"
    "    local f = pi.features[name]\n"
    "    emit(fmt('g %.9g %.9g %d %s', f.mean, f.std, i, name))\n"
    "  end\n"
    "end\n";

static int figure_emit(lua_State *L)
{
    send_line("F %s", luaL_checkstring(L, 1));
    return 0;
}

static void send_figures(lua_State *L, const mbtui_run *r)
{
    if (luaL_loadbuffer(L, figures_lua, sizeof figures_lua - 1, "=figures") != LUA_OK) {
        send_line("F xnote figures: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return;
    }
    lua_pushinteger(L, r->id);
    lua_pushstring(L, r->bundle);
    lua_pushcfunction(L, figure_emit);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
        send_line("F xnote figures: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
        lua_pop(L, 1);
    }
}

static int child_body(lua_State *L)
{
    mbtui_run *r = lua_touserdata(L, 1);
    const char *spec = lua_tostring(L, 2);
    lua_pushcfunction(L, child_progress);
    lua_setglobal(L, "progress");
    if (luaL_loadbuffer(L, r->lua, strlen(r->lua), "=run") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 0);
    if (r->is_compare) {
        lua_getglobal(L, "board");
        const char *text = luaL_tolstring(L, -1, NULL);
        for (const char *p = text; *p;) {
            const char *nl = strchr(p, '\n');
            int len = nl ? (int)(nl - p) : (int)strlen(p);
            send_line("T %.*s", len, p);
            p += len + (nl ? 1 : 0);
        }
        return 0;
    }
    char save[1600], q1[600], q2[700];
    snprintf(save, sizeof save, "run%d:save(%s, { source = %s })", r->id, mbtui_lua_quote(r->bundle, q1, sizeof q1),
             mbtui_lua_quote(spec ? spec : "", q2, sizeof q2));
    send_line("P 1 nan nan saving the bundle");
    if (luaL_dostring(L, save) != LUA_OK)
        return lua_error(L);
    send_report(L, r->id);
    send_line("P 1 nan nan explaining");
    send_figures(L, r);
    return 0;
}

static int child_msgh(lua_State *L)
{
    const char *m = lua_tostring(L, 1);
    lua_pushstring(L, m ? m : "(error object is not a string)");
    return 1;
}

static _Noreturn void child_main(mbtui_app *a, mbtui_run *r)
{
    mbtui_child_init();
    char log[600];
    snprintf(log, sizeof log, "%s/run%d.log", a->session_dir, r->id);
    int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (lf >= 0) {
        dup2(lf, 1);
        dup2(lf, 2);
    }
    lua_State *L = a->L;
    lua_pushcfunction(L, child_msgh);
    lua_pushcfunction(L, child_body);
    lua_pushlightuserdata(L, r);
    lua_pushstring(L, a->data_spec);
    if (lua_pcall(L, 2, 0, -4) != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        send_line("E %s", m ? m : "error");
        _exit(m && strstr(m, "cancelled by the user") ? 3 : 1);
    }
    send_line("D");
    _exit(0); /* no atexit, no leak report of the inherited workbench */
}

/* {====== the parent ======} */

static int ensure_dir(mbtui_app *a)
{
    if (a->session_dir[0])
        return 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(a->session_dir, sizeof a->session_dir, "%s/moonbench-session-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(a->session_dir)) {
        a->session_dir[0] = 0;
        return -1;
    }
    return 0;
}

static void fail_run(mbtui_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_run(mbtui_run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->state = MBTUI_RUN_FAILED;
}

static void start(mbtui_app *a, mbtui_run *r)
{
    if (mbtui_session_flush(a) != 0) {
        fail_run(r, "the session's Lua failed: %s", a->lua_error);
        return;
    }
    if (ensure_dir(a) != 0) {
        fail_run(r, "cannot create a session folder: %s", strerror(errno));
        return;
    }
    snprintf(r->bundle, sizeof r->bundle, "%s/run%d.h5", a->session_dir, r->id);
    int up[2], down[2];
    if (pipe(up) != 0 || pipe(down) != 0) {
        fail_run(r, "cannot make a pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pthread_mutex_lock(&mbtui_core_lock);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_unlock(&mbtui_core_lock);
        close(up[0]);
        close(down[1]);
        child_w = up[1];
        child_r = down[0];
        fcntl(child_r, F_SETFL, O_NONBLOCK);
        for (int i = 0; i < a->nruns; i++) /* other workers' pipes are not ours */
            if (a->runs[i] != r) {
                if (a->runs[i]->from_child >= 0)
                    close(a->runs[i]->from_child);
                if (a->runs[i]->to_child >= 0)
                    close(a->runs[i]->to_child);
            }
        child_main(a, r);
    }
    pthread_mutex_unlock(&mbtui_core_lock);
    close(up[1]);
    close(down[0]);
    if (pid < 0) {
        close(up[0]);
        close(down[1]);
        fail_run(r, "cannot start a worker: %s", strerror(errno));
        return;
    }
    fcntl(up[0], F_SETFL, O_NONBLOCK);
    fcntl(up[0], F_SETFD, FD_CLOEXEC);
    fcntl(down[1], F_SETFD, FD_CLOEXEC);
    r->pid = pid;
    r->from_child = up[0];
    r->to_child = down[1];
    r->state = MBTUI_RUN_RUNNING;
    r->started = mbtui_now();
    snprintf(r->msg, sizeof r->msg, "starting");
}

mbtui_run *mbtui_run_queue(mbtui_app *a, int is_compare, const char *model, const char *plugin,
                           const char *params, char *def, char *lua)
{
    if (a->nruns == MBTUI_MAXRUNS) {
        mbtui_say(a, MBTUI_A_ERROR, "a session holds %d runs at most; save it and start another", MBTUI_MAXRUNS);
        mb_free(def);
        mb_free(lua);
        return NULL;
    }
    mbtui_run *r = mb_calloc(1, sizeof *r);
    r->id = a->nruns + 1;
    r->is_compare = is_compare;
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->plugin, sizeof r->plugin, "%s", plugin);
    snprintf(r->params, sizeof r->params, "%s", params);
    r->def = def;
    r->lua = lua;
    r->from_child = r->to_child = -1;
    if (!is_compare)
        r->fig = mbtui_figures_new();
    r->state = MBTUI_RUN_QUEUED;
    snprintf(r->msg, sizeof r->msg, "queued");
    a->runs[a->nruns++] = r;
    mbtui_runs_poll(a);
    return r;
}

static void parse_line(mbtui_run *r, char *line)
{
    char *rest = line + (line[0] && line[1] ? 2 : 1);
    switch (line[0]) {
    case 'P': {
        double f, tl, vl;
        int off = 0;
        if (sscanf(rest, "%lf %lf %lf %n", &f, &tl, &vl, &off) >= 3) {
            r->fraction = f;
            snprintf(r->msg, sizeof r->msg, "%s", rest + off);
            if (isfinite(vl) && r->fig) {
                mbtui_figures *g = r->fig;
                if (g->nvloss == MBTUI_MAXLOSS) {
                    memmove(g->vloss, g->vloss + 1, (MBTUI_MAXLOSS - 1) * sizeof *g->vloss);
                    g->nvloss--;
                }
                g->vloss[g->nvloss++] = vl;
            }
            if (isfinite(tl)) {
                if (r->nloss == MBTUI_MAXLOSS) {
                    memmove(r->loss, r->loss + 1, (MBTUI_MAXLOSS - 1) * sizeof *r->loss);
                    r->nloss--;
                }
                r->loss[r->nloss++] = tl;
            }
        }
        break;
    }
    case 'M': {
        char name[64];
        double v;
        if (sscanf(rest, "%63s %lf", name, &v) == 2 && r->nmetrics < MBTUI_MAXMETRICS) {
            int k = r->nmetrics++; /* kept in name order, the same on every run */
            for (; k > 0 && strcmp(r->metric_name[k - 1], name) > 0; k--) {
                memcpy(r->metric_name[k], r->metric_name[k - 1], sizeof r->metric_name[0]);
                r->metric[k] = r->metric[k - 1];
            }
            snprintf(r->metric_name[k], sizeof r->metric_name[0], "%.31s", name);
            r->metric[k] = v;
        }
        break;
    }
    case 'L': {
        int i, off = 0;
        if (sscanf(rest, "%d %n", &i, &off) >= 1 && i >= 0 && i < MBTUI_MAXCLASSES) {
            snprintf(r->classes[i], sizeof r->classes[0], "%s", rest + off);
            if (i + 1 > r->nclasses)
                r->nclasses = i + 1;
        }
        break;
    }
    case 'R': {
        char *end;
        long i = strtol(rest, &end, 10);
        if (i >= 0 && i < MBTUI_MAXCLASSES) {
            for (int j = 0; j < MBTUI_MAXCLASSES; j++) {
                char *p = end;
                long v = strtol(p, &end, 10);
                if (end == p)
                    break;
                r->confusion[i][j] = v;
                if (j + 1 > r->nclasses)
                    r->nclasses = j + 1;
            }
        }
        break;
    }
    case 'T': {
        size_t old = r->text ? strlen(r->text) : 0, add = strlen(rest);
        if (old < 32768) {
            r->text = mb_realloc(r->text, old + add + 2);
            memcpy(r->text + old, rest, add);
            r->text[old + add] = '\n';
            r->text[old + add + 1] = 0;
        }
        break;
    }
    case 'F':
        if (r->fig)
            mbtui_figures_parse(r->fig, rest);
        break;
    case 'E': snprintf(r->msg, sizeof r->msg, "%s", rest); r->said_error = 1; break;
    case 'D': r->fraction = 1; snprintf(r->msg, sizeof r->msg, "done"); break;
    }
}

static void on_line(void *ud, char *line) { parse_line(ud, line); }

static void read_child(mbtui_run *r)
{
    if (mbtui_read_lines(r->from_child, r->line, sizeof r->line, &r->nline, on_line, r) < 0) {
        close(r->from_child);
        r->from_child = -1;
    }
}

/* The line of the child's log that says why it died (a sanitizer's
** SUMMARY, else the last line). */
static void log_reason(mbtui_app *a, const mbtui_run *r, char *why, size_t n)
{
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/run%d.log", a->session_dir, r->id);
    snprintf(why, n, "no message (log: %.150s)", path);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    int summary = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0] || summary)
            continue;
        summary = strstr(line, "SUMMARY:") != NULL;
        snprintf(why, n, "%.190s", line);
    }
    fclose(fp);
}

static void finished(mbtui_app *a, mbtui_run *r, int status)
{
    r->elapsed = mbtui_now() - r->started;
    if (r->to_child >= 0)
        close(r->to_child);
    r->to_child = -1;
    r->pid = 0;
    char comment[512];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        r->state = MBTUI_RUN_DONE;
        mbtui_session_record(a, r->lua);
        if (!r->is_compare) {
            char lua[700], q[600];
            /* our own worker's bundle: its Lua steps are this session's (a Pipeline script) */
            snprintf(lua, sizeof lua, "run%d = mb.load(%s, { allow_lua = true })", r->id,
                     mbtui_lua_quote(r->bundle, q, sizeof q));
            if (mbtui_session_do(a, lua, 0) != 0)
                mbtui_say(a, MBTUI_A_ERROR, "run %d: its bundle does not load: %s", r->id, a->lua_error);
            else
                mbtui_say(a, MBTUI_A_OK, "run %d (%s) done in %.1f s: see the Results tab (4)", r->id, r->model,
                          r->elapsed);
        } else
            mbtui_say(a, MBTUI_A_OK, "comparison done: see the Results tab (4)");
        return;
    }
    if (r->cancel_at > 0) {
        r->state = MBTUI_RUN_CANCELLED;
        snprintf(r->msg, sizeof r->msg, "cancelled after %.1f s%s", r->elapsed,
                 WIFSIGNALED(status) ? " (stopped by a signal)" : "");
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        fail_run(r, "the plugin '%s' (model %s) crashed: %s (%s); the workbench is fine", r->plugin, r->model,
                 sig == SIGSEGV ? "SIGSEGV" : sig == SIGABRT ? "SIGABRT" : sig == SIGBUS ? "SIGBUS"
                 : sig == SIGKILL ? "SIGKILL" : sig == SIGFPE ? "SIGFPE" : "signal", strsignal(sig));
    } else if (!r->said_error) {
        /* died without a word: a sanitizer or the C library ended it */
        char why[200];
        log_reason(a, r, why, sizeof why);
        fail_run(r, "the plugin '%s' (model %s) crashed: exit status %d: %s", r->plugin, r->model,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, why);
    } else
        r->state = MBTUI_RUN_FAILED; /* msg holds the E line */
    snprintf(comment, sizeof comment, "-- run %d (%s) %s: %.200s", r->id, r->model,
             r->state == MBTUI_RUN_CANCELLED ? "cancelled" : "failed", r->msg);
    mbtui_session_record(a, comment);
    mbtui_say(a, r->state == MBTUI_RUN_CANCELLED ? MBTUI_A_WARN : MBTUI_A_ERROR, "run %d: %s", r->id, r->msg);
}

int mbtui_runs_poll(mbtui_app *a)
{
    int busy = 0, changed = 0;
    for (int i = 0; i < a->nruns; i++) {
        mbtui_run *r = a->runs[i];
        if (r->state != MBTUI_RUN_RUNNING)
            continue;
        changed = 1;
        if (r->from_child >= 0)
            read_child(r);
        busy = 1;
        if (mbtui_data_busy(a)) /* the session's Lua is in use (dataops.c): reap the run after */
            continue;
        int status;
        pid_t w = waitpid(r->pid, &status, WNOHANG);
        if (w == r->pid) {
            if (r->from_child >= 0)
                read_child(r); /* what it wrote before it went */
            if (r->from_child >= 0)
                close(r->from_child);
            r->from_child = -1;
            finished(a, r, status);
            continue;
        }
        r->elapsed = mbtui_now() - r->started;
        if (r->cancel_at > 0) {
            double since = mbtui_now() - r->cancel_at;
            if (since > 1.0 && !r->term_sent) {
                kill(r->pid, SIGTERM);
                r->term_sent = 1;
            } else if (since > 3.0 && !r->kill_sent) {
                kill(r->pid, SIGKILL);
                r->kill_sent = 1;
            }
        }
        busy = 1;
    }
    if (!busy && !mbtui_data_busy(a))
        for (int i = 0; i < a->nruns; i++)
            if (a->runs[i]->state == MBTUI_RUN_QUEUED) {
                start(a, a->runs[i]);
                changed = 1;
                break;
            }
    return mbtui_export_poll(a) | changed;
}

void mbtui_run_cancel(mbtui_app *a, mbtui_run *r)
{
    if (r->state == MBTUI_RUN_QUEUED) {
        r->state = MBTUI_RUN_CANCELLED;
        snprintf(r->msg, sizeof r->msg, "cancelled before it started");
        return;
    }
    if (r->state != MBTUI_RUN_RUNNING || r->cancel_at > 0)
        return;
    r->cancel_at = mbtui_now();
    snprintf(r->msg, sizeof r->msg, "cancelling...");
    if (r->to_child >= 0 && write(r->to_child, "C", 1) != 1)
        kill(r->pid, SIGTERM);
    mbtui_say(a, MBTUI_A_WARN, "run %d: cancelling", r->id);
}

void mbtui_runs_kill_all(mbtui_app *a)
{
    for (int i = 0; i < a->nruns; i++)
        if (a->runs[i] && a->runs[i]->pid > 0)
            kill(a->runs[i]->pid, SIGKILL);
    mbtui_export_kill_all();
}

double mbtui_run_metric(const mbtui_run *r, const char *name)
{
    for (int i = 0; i < r->nmetrics; i++)
        if (strcmp(r->metric_name[i], name) == 0)
            return r->metric[i];
    return NAN;
}

int mbtui_runs_unsaved(const mbtui_app *a)
{
    for (int i = 0; i < a->nruns; i++) /* quitting would kill it */
        if (a->runs[i]->state == MBTUI_RUN_RUNNING || a->runs[i]->state == MBTUI_RUN_QUEUED)
            return 1;
    if (a->session_saved_at >= a->nchunks + a->ndeferred)
        return 0;
    for (int i = 0; i < a->nruns; i++)
        if (a->runs[i]->state == MBTUI_RUN_DONE && !a->runs[i]->is_compare && !a->runs[i]->exported)
            return 1;
    return 0;
}

void mbtui_runs_free(mbtui_app *a)
{
    mbtui_export_stop_all();
    for (int i = 0; i < a->nruns; i++) {
        mbtui_run *r = a->runs[i];
        if (r->pid > 0)
            waitpid(r->pid, NULL, 0);
        if (r->from_child >= 0)
            close(r->from_child);
        if (r->to_child >= 0)
            close(r->to_child);
        if (r->bundle[0])
            unlink(r->bundle);
        char log[600];
        snprintf(log, sizeof log, "%s/run%d.log", a->session_dir, r->id);
        unlink(log);
        mb_free(r->def);
        mb_free(r->lua);
        mb_free(r->text);
        mbtui_figures_free(&r->fig);
        mb_free(r);
    }
    a->nruns = 0;
    if (a->session_dir[0])
        rmdir(a->session_dir);
}
