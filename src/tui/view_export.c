/*
** view_export.c: the Export tab. For the selected run: save its bundle
** (S), score a data file with it (P), export it as C or ONNX (X), serve it
** over HTTP on 127.0.0.1 (H; K stops), and save the session (W).
**
** DESIGN
** ------
** Scoring, exporting and serving read files through HDF5, which is not
** thread-safe here, and may take long: each runs in a forked task (made
** while the UI thread holds mbtui_core_lock, as job.c's workers) calling
** src/deploy's code, the same as `moonbench score`, `export` and `serve`:
** mb_score_batch, mbx_write_c / mbx_write_onnx, mbsv_http_run. A task
** reports over a pipe, one line each: "S rows scored rejected [rejects]",
** "D" (written), "U url" (listening), "M requests errors scored p50 p99
** window drifting names" (the server's own counters, every 250 ms from a
** thread of the serving child), "E message". Its standard error goes to
** the same pipe, so the server's own lines (and errors) show too. K and
** quitting send the server SIGTERM, which it takes as `moonbench serve`
** does (drain, stop); SIGKILL 3 s later if it is still there.
** What these do is recorded in the session as comments with the command
** line (they change neither data nor models, and have no Lua equivalent);
** saving the bundle is recorded as runN:save(path).
*/
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "results.h"
#include "../deploy/export.h"
#include "../deploy/score.h"
#include "../deploy/serve.h"

enum { T_SCORE, T_EXPORT, T_SERVE, NTASKS };
static const char *const task_names[NTASKS] = {"score", "export", "serve"};

typedef struct task {
    pid_t pid;
    int fd;
    int running, ok;
    int run_id;
    char what[1200];              /* the command line it stands for */
    char msg[512];                /* the last word: summary or error */
    char line[1024];
    size_t nline;
    /* serve */
    char url[160];
    mbsv_summary live;
    double stop_at;
    int killed;
} task;

static task tasks[NTASKS] = {{.fd = -1}, {.fd = -1}, {.fd = -1}};

/* {====== the children ======} */

static int out_fd = -1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mbtui_vsend(out_fd, fmt, ap);
    va_end(ap);
}

static _Noreturn void fail_exit(const mb_error *err)
{
    say("E %s", err->msg);
    _exit(1);
}

static mb_runtime *open_runtime(mbtui_app *a, const char *bundle)
{
    mb_error err;
    mb_bundle *b = NULL;
    mb_runtime *rt = NULL;
    mb_bundle_options bo = {NULL, 0, NULL};
    mb_runtime_opts ro = {a->reg, 0, 0};
    if (mb_bundle_load_opts(bundle, &bo, &b, &err) != MB_OK || mb_runtime_open_bundle(&b, bundle, &ro, &rt, &err) != MB_OK)
        fail_exit(&err);
    return rt;
}

/* As `moonbench score BUNDLE INPUT -o OUTPUT` (rejects to OUTPUT.rejects.csv). */
static _Noreturn void child_score(mbtui_app *a, const char *bundle, const char *input, const char *output)
{
    mb_error err;
    char rejects[1100];
    snprintf(rejects, sizeof rejects, "%s.rejects.csv", output);
    const char *inputs[] = {bundle, input};
    if (mb_output_check_inputs(output, inputs, 2, &err) != MB_OK ||
        mb_output_check_inputs(rejects, inputs, 2, &err) != MB_OK)
        fail_exit(&err);
    mb_runtime *rt = open_runtime(a, bundle);
    mb_score_opts o = {0};
    o.rejects = rejects;
    mb_score_stats st;
    memset(&st, 0, sizeof st);
    if (mb_score_batch(rt, input, output, &o, &st, &err) != MB_OK)
        fail_exit(&err);
    say("S %zu %zu %zu %s", st.rows, st.scored, st.rejected, st.rejects_path);
    _exit(0);
}

/* As `moonbench export BUNDLE --format c|onnx -o OUT`. */
static _Noreturn void child_export(const char *bundle, const char *out, int onnx)
{
    mb_error err;
    mb_bundle *b = NULL;
    mbx_export x;
    memset(&x, 0, sizeof x);
    mb_bundle_options bo = {NULL, 0, NULL};
    if (mb_bundle_load_opts(bundle, &bo, &b, &err) != MB_OK || mbx_open(&x, b, &err) != MB_OK ||
        (onnx ? mbx_write_onnx(&x, out, bundle, &err) : mbx_write_c(&x, out, bundle, &err)) != MB_OK)
        fail_exit(&err);
    say("D %s (%s, %zu inputs, %zu transforms)", out, mb_form_name(b->form), x.ninputs, x.nsteps);
    _exit(0);
}

static void *reporter(void *ud)
{
    mbsv_server *s = ud;
    for (;;) {
        mbsv_summary m;
        mbsv_metrics_summary(s->metrics, &m);
        say("M %llu %llu %llu %.9g %.9g %zu %zu %s", m.requests, m.errors, m.scored, m.p50, m.p99, m.window_rows,
            m.drifting, m.drifting_names);
        usleep(250000);
    }
    return NULL;
}

/* As `moonbench serve BUNDLE --host 127.0.0.1 --port PORT` (2 threads). */
static _Noreturn void child_serve(mbtui_app *a, const char *bundle, unsigned port)
{
    mbsv_server s;
    memset(&s, 0, sizeof s);
    atomic_init(&s.draining, 0);
    mbsv_model_init(&s.model, open_runtime(a, bundle), "model");
    s.metrics = mbsv_metrics_new(s.model.bundle, 1000, 0.2, NULL);
    mbsv_options opt = {"127.0.0.1", port, 2, NULL, 1024 * 1024, NULL, 2, 30};
    /* the stop signals go to mbsv_http_run's sigwait, never to the reporter */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    pthread_t th;
    if (pthread_create(&th, NULL, reporter, &s) != 0) {
        say("E cannot start a thread");
        _exit(1);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int rc = mbsv_http_run(&s, &opt);
    _exit(rc); /* the reporter goes with the process */
}

/* {====== the parent ======} */

static void close_fds(mbtui_app *a)
{
    for (int i = 0; i < a->nruns; i++) {
        if (a->runs[i]->from_child >= 0)
            close(a->runs[i]->from_child);
        if (a->runs[i]->to_child >= 0)
            close(a->runs[i]->to_child);
    }
    for (int t = 0; t < NTASKS; t++)
        if (tasks[t].fd >= 0)
            close(tasks[t].fd);
}

/* What a task works on: the run's bundle, and per task the data file and
** output (score), the output and its format (export) or the port (serve). */
typedef struct task_args {
    const char *in, *out;
    int onnx;
    unsigned port;
} task_args;

/* Fork task t on run's bundle; the child never returns. 0, or -1 said. */
static int start(mbtui_app *a, int t, const mbtui_run *run, const task_args *g)
{
    const char *bundle = run->bundle;
    task *k = &tasks[t];
    if (k->running) {
        mbtui_say(a, MBTUI_A_ERROR, "a %s task is still running (%s)", task_names[t], k->what);
        return -1;
    }
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
    int p[2];
    if (pipe(p) != 0) {
        mbtui_say(a, MBTUI_A_ERROR, "cannot make a pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pthread_mutex_lock(&mbtui_core_lock);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_unlock(&mbtui_core_lock);
        close(p[0]);
        close_fds(a);
        mbtui_child_init();
        dup2(0, 1); /* /dev/null; errors go to the pipe */
        dup2(p[1], 2);
        out_fd = p[1];
        if (t == T_SCORE)
            child_score(a, bundle, g->in, g->out);
        else if (t == T_EXPORT)
            child_export(bundle, g->out, g->onnx);
        child_serve(a, bundle, g->port);
    }
    pthread_mutex_unlock(&mbtui_core_lock);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        mbtui_say(a, MBTUI_A_ERROR, "cannot start a task: %s", strerror(errno));
        return -1;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    k->pid = pid;
    k->fd = p[0];
    k->running = 1;
    k->ok = 0;
    k->run_id = run->id;
    k->nline = 0;
    k->url[0] = 0;
    k->stop_at = 0;
    k->killed = 0;
    memset(&k->live, 0, sizeof k->live);
    k->live.p50 = k->live.p99 = NAN;
    snprintf(k->msg, sizeof k->msg, "running");
    return 0;
}

static void task_line(mbtui_app *a, task *k, int t, char *line)
{
    char *rest = line[0] && line[1] == ' ' ? line + 2 : line + 1;
    if (line[0] == 'S' && line[1] == ' ') {
        unsigned long long rows, scored, rejected;
        int off = 0;
        if (sscanf(rest, "%llu %llu %llu %n", &rows, &scored, &rejected, &off) >= 3) {
            k->ok = 1;
            snprintf(k->msg, sizeof k->msg, "%llu rows scored, %llu rejected%s%.400s%s", scored, rejected,
                     rest[off] ? " (-> " : "", rest + off, rest[off] ? ")" : "");
        }
    } else if (line[0] == 'D' && line[1] == ' ') {
        k->ok = 1;
        snprintf(k->msg, sizeof k->msg, "written: %.490s", rest);
    } else if (line[0] == 'M' && line[1] == ' ') {
        mbsv_summary *m = &k->live;
        int off = 0;
        if (sscanf(rest, "%llu %llu %llu %lf %lf %zu %zu %n", &m->requests, &m->errors, &m->scored, &m->p50, &m->p99,
                   &m->window_rows, &m->drifting, &off) >= 7)
            snprintf(m->drifting_names, sizeof m->drifting_names, "%.250s", rest + off);
    } else if (line[0] == 'E' && line[1] == ' ') {
        snprintf(k->msg, sizeof k->msg, "%.500s", rest);
        mbtui_say(a, MBTUI_A_ERROR, "%s: %s", task_names[t], rest);
    } else if (!strncmp(line, "moonbench serve: ", 17)) {
        const char *u = strstr(line, "http://");
        if (u && !k->url[0]) {
            size_t n = strcspn(u, " ");
            if (n && u[n - 1] == '/')
                n--;
            snprintf(k->url, sizeof k->url, "%.*s", (int)n, u);
            k->ok = 1;
            snprintf(k->msg, sizeof k->msg, "serving run %d", k->run_id);
            mbtui_say(a, MBTUI_A_OK, "run %d is served on %s (K stops it)", k->run_id, k->url);
        } else if (strstr(line, "cannot") || strstr(line, "error"))
            snprintf(k->msg, sizeof k->msg, "%.500s", line + 17);
    } else if (line[0] && !k->ok)
        snprintf(k->msg, sizeof k->msg, "%.500s", line); /* a library's own words on stderr */
}

typedef struct line_ctx {
    mbtui_app *a;
    int t;
} line_ctx;

static void on_line(void *ud, char *line)
{
    line_ctx *c = ud;
    task_line(c->a, &tasks[c->t], c->t, line);
}

static void read_task(mbtui_app *a, int t)
{
    task *k = &tasks[t];
    line_ctx c = {a, t};
    if (mbtui_read_lines(k->fd, k->line, sizeof k->line, &k->nline, on_line, &c) < 0) {
        close(k->fd);
        k->fd = -1;
    }
}

int mbtui_export_poll(mbtui_app *a)
{
    int changed = 0;
    for (int t = 0; t < NTASKS; t++) {
        task *k = &tasks[t];
        if (!k->running)
            continue;
        changed = 1;
        if (k->fd >= 0)
            read_task(a, t);
        if (k->stop_at > 0 && !k->killed && mbtui_now() - k->stop_at > 3) {
            kill(k->pid, SIGKILL);
            k->killed = 1;
        }
        int status;
        if (waitpid(k->pid, &status, WNOHANG) != k->pid)
            continue;
        if (k->fd >= 0)
            read_task(a, t);
        k->running = 0;
        k->pid = 0;
        int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (t == T_SERVE) {
            snprintf(k->msg, sizeof k->msg, "stopped after %llu requests%s", k->live.requests,
                     clean || k->stop_at > 0 ? "" : " (the server ended by itself)");
            k->url[0] = 0;
        } else if (!clean && k->ok == 0 && !strncmp(k->msg, "running", 7))
            snprintf(k->msg, sizeof k->msg, "failed (%s %d)", WIFSIGNALED(status) ? "signal" : "exit status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        if (t != T_SERVE && clean && k->ok)
            mbtui_say(a, MBTUI_A_OK, "%s: %s", task_names[t], k->msg);
        else if (t != T_SERVE && !clean)
            k->ok = 0;
    }
    return changed;
}

static void stop_server(task *k)
{
    if (k->running && k->stop_at == 0) {
        kill(k->pid, SIGTERM);
        k->stop_at = mbtui_now();
    }
}

void mbtui_export_kill_all(void)
{
    for (int t = 0; t < NTASKS; t++)
        if (tasks[t].running && tasks[t].pid > 0)
            kill(tasks[t].pid, SIGKILL);
}

void mbtui_export_stop_all(void)
{
    for (int t = 0; t < NTASKS; t++) {
        task *k = &tasks[t];
        if (!k->running)
            continue;
        if (t == T_SERVE)
            stop_server(k);
        else
            kill(k->pid, SIGTERM);
        for (int i = 0; i < 300 && waitpid(k->pid, NULL, WNOHANG) == 0; i++)
            usleep(10000); /* the server drains for up to 2 s */
        if (waitpid(k->pid, NULL, WNOHANG) == 0) {
            kill(k->pid, SIGKILL);
            waitpid(k->pid, NULL, 0);
        }
        k->running = 0;
        if (k->fd >= 0)
            close(k->fd);
        k->fd = -1;
    }
}

/* {====== the view ======} */

mbtui_run *mbtui_selected_run(mbtui_app *a)
{
    if (a->run_cursor >= 0 && a->run_cursor < a->nruns) {
        mbtui_run *r = a->runs[a->run_cursor];
        if (!r->is_compare && r->state == MBTUI_RUN_DONE)
            return r;
    }
    for (int i = a->nruns - 1; i >= 0; i--) /* else the latest finished one */
        if (!a->runs[i]->is_compare && a->runs[i]->state == MBTUI_RUN_DONE)
            return a->runs[i];
    return NULL;
}

static int copy_file(const char *from, const char *to, mb_error *err)
{
    int in = open(from, O_RDONLY);
    if (in < 0)
        return mb_fail(err, MB_EIO, "%s: cannot read the run's bundle", from), -1;
    char *tmp = NULL;
    int out = mb_tmp_create(to, &tmp, err);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w <= 0) {
                close(in);
                close(out);
                mb_tmp_discard(&tmp);
                return mb_fail(err, MB_EIO, "%s: cannot write (disk full?)", to), -1;
            }
            off += w;
        }
    close(in);
    if (n < 0) {
        close(out);
        mb_tmp_discard(&tmp);
        return mb_fail(err, MB_EIO, "%s: read error", from), -1;
    }
    return mb_tmp_publish(out, &tmp, to, err) == MB_OK ? 0 : -1;
}

/* The bundle a command line names: the saved copy when there is one. */
static const char *bundle_name(const mbtui_run *r) { return r->saved[0] ? r->saved : r->bundle; }

static void save_done(mbtui_app *a, const char *path, void *ud)
{
    mbtui_run *r = ud;
    mb_error err;
    if (!path[0])
        return;
    if (copy_file(r->bundle, path, &err) != 0) {
        mbtui_say(a, MBTUI_A_ERROR, "%s", err.msg);
        return;
    }
    char q[600], lua[700];
    snprintf(lua, sizeof lua, "run%d:save(%s)", r->id, mbtui_lua_quote(path, q, sizeof q));
    mbtui_session_record(a, lua);
    r->exported = 1;
    snprintf(r->saved, sizeof r->saved, "%s", path);
    mbtui_say(a, MBTUI_A_OK, "saved run %d to %s; score data with: moonbench score %s DATA", r->id, path, path);
}

/* A quoted shell word for the session's comments. */
static const char *shq(const char *s, char *buf, size_t n)
{
    size_t o = 0;
    if (n < 3)
        return "";
    buf[o++] = '\'';
    for (; *s && o + 6 < n; s++) {
        if (*s == '\'' || *s == '\n') {
            memcpy(buf + o, "'\\''", 4);
            o += 4;
        } else
            buf[o++] = *s;
    }
    buf[o++] = '\'';
    buf[o] = 0;
    return buf;
}

static void record_command(mbtui_app *a, task *k)
{
    char c[1300];
    snprintf(c, sizeof c, "-- %s", k->what);
    mbtui_session_record(a, c);
}

static void score_out_done(mbtui_app *a, const char *out, void *ud)
{
    mbtui_run *r = ud;
    char *in = r->score_in;
    if (!out[0] || !in)
        return;
    if (start(a, T_SCORE, r, &(task_args){in, out, 0, 0}) == 0) {
        char q1[600], q2[600], q3[600];
        snprintf(tasks[T_SCORE].what, sizeof tasks[T_SCORE].what, "moonbench score %s %s -o %s",
                 shq(bundle_name(r), q1, sizeof q1), shq(in, q2, sizeof q2), shq(out, q3, sizeof q3));
        record_command(a, &tasks[T_SCORE]);
        mbtui_say(a, MBTUI_A_OK, "scoring %s with run %d...", in, r->id);
    }
}

static void score_in_done(mbtui_app *a, const char *in, void *ud)
{
    mbtui_run *r = ud;
    if (!in[0])
        return;
    snprintf(r->score_in, sizeof r->score_in, "%s", in);
    mbtui_prompt(a, "write the scores to: ", "scores.csv", score_out_done, r);
}

static void code_done(mbtui_app *a, const char *out, void *ud)
{
    mbtui_run *r = ud;
    if (!out[0])
        return;
    size_t n = strlen(out);
    int onnx = n > 5 && !strcmp(out + n - 5, ".onnx");
    if (start(a, T_EXPORT, r, &(task_args){NULL, out, onnx, 0}) == 0) {
        char q1[600], q2[600];
        snprintf(tasks[T_EXPORT].what, sizeof tasks[T_EXPORT].what, "moonbench export %s --format %s -o %s",
                 shq(bundle_name(r), q1, sizeof q1), onnx ? "onnx" : "c", shq(out, q2, sizeof q2));
        record_command(a, &tasks[T_EXPORT]);
        mbtui_say(a, MBTUI_A_OK, "exporting run %d as %s...", r->id, onnx ? "ONNX" : "C");
    }
}

static void serve_done(mbtui_app *a, const char *text, void *ud)
{
    mbtui_run *r = ud;
    char *end;
    long port = strtol(text, &end, 10);
    if (end == text || *end || port < 0 || port > 65535) {
        mbtui_say(a, MBTUI_A_ERROR, "'%s': a port from 1 to 65535, or 0 for any free port", text);
        return;
    }
    if (start(a, T_SERVE, r, &(task_args){NULL, NULL, 0, (unsigned)port}) == 0) {
        char q[600];
        snprintf(tasks[T_SERVE].what, sizeof tasks[T_SERVE].what, "moonbench serve %s --host 127.0.0.1 --port %ld",
                 shq(bundle_name(r), q, sizeof q), port);
        record_command(a, &tasks[T_SERVE]);
        mbtui_say(a, MBTUI_A_OK, "starting the server for run %d...", r->id);
    }
}

static int export_open(mbtui_view *v)
{
    (void)v;
    return 0;
}

static void export_done(mbtui_view *v) { (void)v; }

static void key_line(int y, mbtui_rect r, int req, const char *text)
{
    char k[32];
    mbtui_textf(y, r.x, r.w, MBTUI_A_NORMAL, "%-6s %s", mbtui_keys_for(req, k, sizeof k), text);
}

static void draw_task(int y, mbtui_rect r, int t)
{
    const task *k = &tasks[t];
    if (!k->what[0])
        return;
    mbtui_textf(y, r.x, r.w, k->running ? MBTUI_A_WARN : k->ok ? MBTUI_A_OK : MBTUI_A_ERROR, "%-7s run %d: %s%s",
                task_names[t], k->run_id, k->running && t != T_SERVE ? "running... " : "", k->msg);
}

static void export_draw(mbtui_view *v, mbtui_rect r)
{
    mbtui_app *a = v->app;
    mbtui_run *run = mbtui_selected_run(a);
    int y = r.y;
    mbtui_text(y++, r.x, r.w, MBTUI_A_HEADER, "Export");
    if (run) {
        int clf = !isnan(mbtui_run_metric(run, "accuracy"));
        mbtui_textf(y++, r.x, r.w, MBTUI_A_TITLE, "run %d: %s %s  %s %.4f", run->id, run->model,
                    run->params[0] ? run->params : "(defaults)", clf ? "accuracy" : "r2",
                    mbtui_run_metric(run, clf ? "accuracy" : "r2"));
        mbtui_textf(y++, r.x, r.w, MBTUI_A_DIM, "bundle in the session folder: %s", run->bundle);
    } else
        mbtui_text(y++, r.x, r.w, MBTUI_A_DIM, "no finished run yet (train one in the Models tab; choose it in Results)");
    y++;
    key_line(y++, r, MBTUI_REQ_EXPORT, "save the run's pipeline as a bundle file (moonbench score BUNDLE DATA)");
    key_line(y++, r, MBTUI_REQ_SCORE_FILE, "score a data file with the run, as moonbench score: rows scored, rejects");
    key_line(y++, r, MBTUI_REQ_EXPORT_CODE, "export as C (a folder: model.h, model.c) or ONNX (a path ending .onnx)");
    key_line(y++, r, MBTUI_REQ_SERVE, "serve the run over HTTP on 127.0.0.1 (POST /predict, GET /metrics)");
    key_line(y++, r, MBTUI_REQ_STOP_SERVER, "stop the server (quitting stops it too)");
    key_line(y++, r, MBTUI_REQ_SAVE_SESSION, "save the session as a Lua script (moonbench run session.lua)");
    y++;
    for (int t = 0; t < NTASKS && y < r.y + r.h; t++)
        if (tasks[t].what[0])
            draw_task(y++, r, t);
    const task *s = &tasks[T_SERVE];
    if (s->running && s->url[0] && y + 3 < r.y + r.h) {
        y++;
        mbtui_textf(y++, r.x, r.w, MBTUI_A_TITLE, "serving on %s  (curl %s/predict -d '{\"instances\": [[...]]}')", s->url,
                    s->url);
        char p50[32], p99[32];
        snprintf(p50, sizeof p50, isnan(s->live.p50) ? "-" : "%.3g ms", s->live.p50 * 1e3);
        snprintf(p99, sizeof p99, isnan(s->live.p99) ? "-" : "%.3g ms", s->live.p99 * 1e3);
        mbtui_textf(y++, r.x, r.w, MBTUI_A_NORMAL, "requests %llu  errors %llu  rows scored %llu  latency p50 %s  p99 %s",
                    s->live.requests, s->live.errors, s->live.scored, p50, p99);
        if (s->live.drifting)
            mbtui_textf(y++, r.x, r.w, MBTUI_A_WARN, "drift: %zu features flagged in the last %zu rows: %s",
                        s->live.drifting, s->live.window_rows, s->live.drifting_names);
        else
            mbtui_textf(y++, r.x, r.w, MBTUI_A_DIM, "drift: no feature flagged (%zu rows in the window)",
                        s->live.window_rows);
    }
    for (int i = 0; i < a->nruns && y < r.y + r.h; i++)
        if (a->runs[i]->exported)
            mbtui_textf(y++, r.x, r.w, MBTUI_A_OK, "run %d saved to %s", a->runs[i]->id, a->runs[i]->saved);
}

static int export_request(mbtui_view *v, int req)
{
    mbtui_app *a = v->app;
    if (req == MBTUI_REQ_STOP_SERVER) {
        if (!tasks[T_SERVE].running)
            mbtui_say(a, MBTUI_A_DIM, "no server is running");
        else {
            stop_server(&tasks[T_SERVE]);
            mbtui_say(a, MBTUI_A_WARN, "stopping the server...");
        }
        return 1;
    }
    if (req != MBTUI_REQ_EXPORT && req != MBTUI_REQ_ENTER && req != MBTUI_REQ_SCORE_FILE &&
        req != MBTUI_REQ_EXPORT_CODE && req != MBTUI_REQ_SERVE)
        return 0;
    mbtui_run *run = mbtui_selected_run(a);
    if (!run) {
        mbtui_say(a, MBTUI_A_ERROR, "no finished run to export");
        return 1;
    }
    char init[600];
    switch (req) {
    case MBTUI_REQ_SCORE_FILE:
        mbtui_prompt(a, "score the data file: ", a->data_spec ? a->data_spec : "", score_in_done, run);
        break;
    case MBTUI_REQ_EXPORT_CODE:
        snprintf(init, sizeof init, "run%d_c", run->id);
        mbtui_prompt(a, "export to (a folder for C, FILE.onnx for ONNX): ", init, code_done, run);
        break;
    case MBTUI_REQ_SERVE:
        if (tasks[T_SERVE].running)
            mbtui_say(a, MBTUI_A_ERROR, "run %d is served already on %s (K stops it)", tasks[T_SERVE].run_id,
                      tasks[T_SERVE].url);
        else
            mbtui_prompt(a, "port on 127.0.0.1 (0: any free port): ", "0", serve_done, run);
        break;
    default:
        snprintf(init, sizeof init, "run%d.h5", run->id);
        mbtui_prompt(a, "save bundle to: ", init, save_done, run);
    }
    return 1;
}

static const int export_hints[] = {MBTUI_REQ_EXPORT, MBTUI_REQ_SCORE_FILE, MBTUI_REQ_EXPORT_CODE, MBTUI_REQ_SERVE,
                                   MBTUI_REQ_STOP_SERVER, MBTUI_REQ_SAVE_SESSION, 0};

const mbtui_view_ops mbtui_export_ops = {
    .name = "Export",
    .hints = export_hints,
    .open = export_open,
    .draw = export_draw,
    .request = export_request,
    .done = export_done,
    .private_size = 0,
};
