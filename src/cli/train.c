/*
** train.c: what the training commands share (train.h): the registry,
** transform steps from the command line, --pipeline files, the embedded
** Lua state that compare, tune and evaluate drive, and number text.
*/
#include "train.h"

#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "cli.h"
#include "lmb.h"

int luaopen_moonbench(lua_State *L);

void mb_cli_registry(mb_registry *r)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    memset(r, 0, sizeof *r);
    if (n > 0) {
        exe[n] = '\0';
        mb_registry_discover_lazy(r, dirname(exe));
    } else {
        mb_registry_discover_lazy(r, NULL);
    }
}

/* {====== steps ======} */

int mb_cli_steps_add(mb_cli_steps *s, const char *cmd, const char *spec)
{
    mb_error err;
    s->v = mb_realloc(s->v, (s->n + 1) * sizeof *s->v);
    if (mb_job_step_parse(spec, &s->v[s->n], &err) != MB_OK)
        return mb_cli_usage(cmd, "-t %s: %s", spec, err.msg);
    s->n++;
    return 0;
}

int mb_cli_steps_prep(mb_cli_steps *s, const char *cmd, const char *value)
{
    if (strcmp(value, "auto") && strcmp(value, "none"))
        return mb_cli_usage(cmd, "--prep is auto or none, not '%s'", value);
    s->prep_none = !strcmp(value, "none");
    s->prep_given = 1;
    return 0;
}

int mb_cli_steps_for(const mb_cli_steps *s, const mb_frame *f, const char *weights, const mb_model_type *type,
                     mb_cli_steps *out, int *added)
{
    mb_error err;
    memset(out, 0, sizeof *out);
    *added = 0;
    if (s->n || s->prep_none) {
        out->v = mb_calloc(s->n + 1, sizeof *out->v);
        for (size_t i = 0; i < s->n; i++) {
            if (mb_job_step_make(s->v[i].kind, &s->v[i].opts, &out->v[i], &err) != MB_OK)
                return mb_cli_error(&err);
            out->n++;
        }
        return 0;
    }
    if (mb_job_auto_steps(f, weights, type, &out->v, &out->n, &err) != MB_OK)
        return mb_cli_error(&err);
    *added = out->n > 0;
    return 0;
}

void mb_cli_steps_print(FILE *fp, const mb_cli_steps *s)
{
    for (size_t i = 0; i < s->n; i++) {
        char *t = mb_job_step_text(&s->v[i]);
        fprintf(fp, "%s-t %s", i ? " " : "", t);
        mb_free(t);
    }
}

void mb_cli_steps_free(mb_cli_steps *s)
{
    for (size_t i = 0; i < s->n; i++)
        mb_job_step_free(&s->v[i]);
    mb_free(s->v);
    memset(s, 0, sizeof *s);
}

/* {====== Lua ======} */

static void on_sigint(int sig)
{
    (void)sig;
    mbl_cancel = 1; /* plugins poll it; mb.interrupted() reads it between folds */
    signal(SIGINT, SIG_DFL);
}

static int lua_init(lua_State *L)
{
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_moonbench);
    lua_setfield(L, -2, "moonbench");
    return 0;
}

lua_State *mb_cli_lua(void)
{
    lua_State *L = luaL_newstate();
    if (!L || (lua_pushcfunction(L, lua_init), lua_pcall(L, 0, 0, 0)) != LUA_OK) {
        fprintf(stderr, "moonbench: cannot create a Lua state\n");
        if (L)
            lua_close(L);
        return NULL;
    }
    signal(SIGINT, on_sigint);
    return L;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

int mb_cli_lua_call(lua_State *L, const char *chunk, const char *name, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base + 1);
    if (luaL_loadbufferx(L, chunk, strlen(chunk), name, "t") != LUA_OK) {
        fprintf(stderr, "moonbench: %s\n", lua_tostring(L, -1));
        lua_settop(L, base);
        return 1;
    }
    lua_insert(L, base + 2);
    if (lua_pcall(L, nargs, nresults, base + 1) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        /* the message alone: the traceback names our driver chunk, not the user's code */
        const char *nl = msg ? strstr(msg, "\nstack traceback:") : NULL;
        fprintf(stderr, "moonbench: %.*s\n", nl ? (int)(nl - msg) : (int)strlen(msg ? msg : ""), msg ? msg : "");
        lua_settop(L, base);
        return 1;
    }
    lua_remove(L, base + 1);
    return 0;
}

void mb_cli_push_steps(lua_State *L, const mb_cli_steps *s)
{
    lua_createtable(L, (int)s->n, 0);
    for (size_t i = 0; i < s->n; i++) {
        const mb_job_step *st = &s->v[i];
        const mb_transform_opts *o = &st->opts;
        lua_createtable(L, 0, 2);
        lua_pushstring(L, st->kind);
        lua_setfield(L, -2, "kind");
        lua_createtable(L, 0, 8);
        if (st->cols) {
            lua_createtable(L, (int)st->ncols, 0);
            for (size_t j = 0; j < st->ncols; j++)
                lua_pushstring(L, st->cols[j]), lua_seti(L, -2, (lua_Integer)j + 1);
            lua_setfield(L, -2, "columns");
        }
        if (o->strategy)
            lua_pushstring(L, o->strategy), lua_setfield(L, -2, "strategy");
        if (o->fill_text)
            lua_pushstring(L, o->fill_text), lua_setfield(L, -2, "fill_text");
        if (o->unknown)
            lua_pushstring(L, o->unknown), lua_setfield(L, -2, "unknown");
        lua_pushnumber(L, o->fill), lua_setfield(L, -2, "fill");
        lua_pushboolean(L, o->add_indicator), lua_setfield(L, -2, "add_indicator");
        lua_pushnumber(L, o->lo), lua_setfield(L, -2, "lo");
        lua_pushnumber(L, o->hi), lua_setfield(L, -2, "hi");
        lua_setfield(L, -2, "opts");
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
}

/* {====== --pipeline FILE.lua ======} */

/* [-1, +0, e] take the pipeline at the top of the stack apart (under pcall) */
typedef struct pipeline_out {
    mb_cli_steps *steps;
    char *model;
    char **settings;
    size_t nsettings;
    char msg[512];
} pipeline_out;

static int take_pipeline(lua_State *L)
{
    pipeline_out *o = lua_touserdata(L, 1);
    const char *path = lua_tostring(L, 2);
    if (!lua_istable(L, 3) || lua_getfield(L, 3, "steps") != LUA_TTABLE || lua_getfield(L, 3, "model") != LUA_TUSERDATA)
        return luaL_error(L, "%s: the file must return a pipeline (return mb.pipeline{transforms..., model})", path);
    mbl_model *m = luaL_testudata(L, -1, MBL_MODEL);
    if (!m || !m->m)
        return luaL_error(L, "%s: the pipeline's last element is not a model", path);
    lua_Integer n = luaL_len(L, 4);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 4, i);
        mbl_transform *t = luaL_testudata(L, -1, MBL_TRANSFORM);
        if (!t || !t->t)
            return luaL_error(L, "%s: step %d is a Lua transform; moonbench fit takes the C transforms "
                              "(fit this pipeline with moonbench run)", path, (int)i);
        mb_error err;
        o->steps->v = mb_realloc(o->steps->v, (o->steps->n + 1) * sizeof *o->steps->v);
        if (mb_job_step_make(mb_transform_kind(t->t), &t->opts, &o->steps->v[o->steps->n], &err) != MB_OK)
            return luaL_error(L, "%s: step %d: %s", path, (int)i, err.msg);
        o->steps->n++;
        lua_pop(L, 1);
    }
    const mb_model *mm = m->m;
    size_t len = strlen(mm->owner->plugin->name) + strlen(mm->type->name) + 2;
    o->model = mb_malloc(len);
    snprintf(o->model, len, "%s/%s", mm->owner->plugin->name, mm->type->name);
    o->settings = mb_calloc(mm->params.n + 1, sizeof *o->settings);
    for (size_t i = 0; i < mm->params.n; i++) {
        len = strlen(mm->type->params[i].name) + strlen(mm->params.text[i]) + 2;
        o->settings[i] = mb_malloc(len);
        snprintf(o->settings[i], len, "%s=%s", mm->type->params[i].name, mm->params.text[i]);
        o->nsettings++;
    }
    return 0;
}

int mb_cli_pipeline_file(const char *path, mb_cli_steps *steps, char **model, char ***settings, size_t *nsettings)
{
    lua_State *L = mb_cli_lua();
    if (!L)
        return 1;
    pipeline_out o = {steps, NULL, NULL, 0, ""};
    int status = 1;
    lua_pushcfunction(L, traceback);
    if (luaL_loadfilex(L, path, "t") != LUA_OK) {
        fprintf(stderr, "moonbench: %s\n", lua_tostring(L, -1));
        goto exit;
    }
    if (lua_pcall(L, 0, 1, 1) != LUA_OK) {
        fprintf(stderr, "moonbench: %s\n", lua_tostring(L, -1));
        goto exit;
    }
    lua_pushcfunction(L, take_pipeline);
    lua_pushlightuserdata(L, &o);
    lua_pushstring(L, path);
    lua_pushvalue(L, -4);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
        fprintf(stderr, "moonbench: %s\n", lua_tostring(L, -1));
        goto exit;
    }
    status = 0;
exit:
    if (status) {
        mbl_freestrings(o.settings, o.nsettings);
        mb_free(o.model);
    } else {
        *model = o.model;
        *settings = o.settings;
        *nsettings = o.nsettings;
    }
    lua_close(L);
    return status;
}

/* {====== numbers ======} */

const char *mb_cli_float(char *buf, size_t n, double v)
{
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if ((float)strtod(buf, NULL) == (float)v)
            break;
    }
    return buf;
}

const char *mb_cli_double(char *buf, size_t n, double v)
{
    for (int p = 6; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}
