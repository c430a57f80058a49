/*
** study.c: the commands that judge models through the Lua layer, so that
** there is one implementation (lua/moonbench/core.lua):
**   moonbench evaluate MODEL DATA [--json]   the report of mb.evaluate
**     [--group COL]...                       and fairness by group (C, fairness.h)
**   moonbench compare DATA -m A -m B ...     mb.compare's leaderboard
**   moonbench tune DATA -m M --grid k=a,b    mb.grid_search / mb.random_search
** The command line builds the pipelines (transforms from -t or --prep auto,
** as fit does) and hands them to small Lua drivers below.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>

#include "cli.h"
#include "doc.h"
#include "io.h"
#include "train.h"

/* {====== Lua values as JSON ======} */

static json_t *to_json(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        return isfinite(lua_tonumber(L, idx)) ? json_real(lua_tonumber(L, idx)) : json_null();
    case LUA_TSTRING:
        return json_string(lua_tostring(L, idx));
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TTABLE:
        break;
    default:
        return json_null();
    }
    if (depth > 20)
        return json_null();
    if (lua_rawlen(L, idx) > 0) {
        json_t *a = json_array();
        for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, idx); i++) {
            lua_rawgeti(L, idx, i);
            json_array_append_new(a, to_json(L, -1, depth + 1));
            lua_pop(L, 1);
        }
        return a;
    }
    json_t *o = json_object();
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1))
        if (lua_type(L, -2) == LUA_TSTRING)
            json_object_set_new(o, lua_tostring(L, -2), to_json(L, -1, depth + 1));
    return o;
}

/* {====== evaluate ======} */

static const char *const evaluate_lua =
    "local mb = require 'moonbench'\n"
    "local model, data, json = ...\n"
    "local p = mb.load(model)\n"
    "local f = mb.open(data)\n"
    "local target = p:info().target\n"
    "if target and f:target() ~= target then f:set_target(target) end\n"
    "local r = mb.evaluate(p, f)\n"
    "r.model, r.data, r.target = model, data, target\n"
    "if not json then print(string.format('%s on %s (target %s)', model, data, tostring(target))); print(r) end\n"
    "return r\n";

/* evaluate --group: the bundle's predictions on the data by group, before
** the Lua report, so that a missing column is named before any output. */
typedef struct fair_run {
    mb_registry reg;
    mb_bundle *b;
    mb_scorer s;
    mb_frame *f;
    mb_fair_groups g;
    mb_fairness r;
} fair_run;

static int fair_open(fair_run *fr, const char *model, const char *data, const char *const *cols, size_t ncols,
                     const mb_fair_opts *o)
{
    mb_error err;
    memset(fr, 0, sizeof *fr);
    mb_cli_registry(&fr->reg);
    if (mb_bundle_load(model, &fr->b, &err) != MB_OK || mb_scorer_open(&fr->s, fr->b, &fr->reg, &err) != MB_OK ||
        mb_open(data, &fr->f, &err) != MB_OK ||
        mb_fairness_of_scorer(&fr->s, fr->f, cols, ncols, o, &fr->g, &fr->r, &err) != MB_OK)
        return mb_cli_error(&err);
    return 0;
}

static void fair_close(fair_run *fr)
{
    mb_fairness_free(&fr->r);
    mb_fair_groups_free(&fr->g);
    mb_frame_free(&fr->f);
    mb_scorer_close(&fr->s);
    mb_bundle_free(&fr->b);
    mb_registry_close(&fr->reg);
}

int mb_cmd_evaluate(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    const char **groups = mb_calloc((size_t)argc + 1, sizeof *groups);
    size_t ngroups = 0;
    long long boot = 1000;
    mb_fair_opts fo = {0, 0, 0.95};
    int json = 0, status = 0;
    for (int i = 1; i < argc && !status; i++) {
        int more = i + 1 < argc;
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--group") && more)
            groups[ngroups++] = argv[++i];
        else if (!strcmp(argv[i], "--boot") && more)
            status = mb_cli_int("evaluate", "--boot", argv[++i], 0, 100000, &boot);
        else if (!strcmp(argv[i], "--seed") && more)
            status = mb_cli_seed("evaluate", argv[++i], &fo.seed);
        else if (argv[i][0] == '-' && argv[i][1])
            status = mb_cli_usage("evaluate", "unknown option or missing value: '%s'", argv[i]);
        else if (!model)
            model = argv[i];
        else if (!data)
            data = argv[i];
        else
            status = mb_cli_usage("evaluate", "too many arguments ('%s')", argv[i]);
    }
    if (!status && (!model || !data))
        status = mb_cli_usage("evaluate", "name the model bundle and the labelled data");
    fo.boot = (size_t)boot;
    fair_run fr;
    memset(&fr, 0, sizeof fr);
    if (!status && ngroups)
        status = fair_open(&fr, model, data, groups, ngroups, &fo);
    lua_State *L = status ? NULL : mb_cli_lua();
    if (!status && !L)
        status = 1;
    if (!status) {
        lua_pushstring(L, model);
        lua_pushstring(L, data);
        lua_pushboolean(L, json);
        status = mb_cli_lua_call(L, evaluate_lua, "=evaluate", 3, 1);
    }
    if (!status && json) {
        json_t *j = to_json(L, -1, 0);
        if (ngroups)
            json_object_set_new(j, "fairness", mb_cli_fairness_json(&fr.r, &fr.g, fr.b->classes));
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(j);
    } else if (!status && ngroups) {
        mb_doc *d = mb_doc_new("");
        mb_cli_fairness_doc(d, 2, &fr.r, &fr.g, fr.b->classes);
        printf("\n");
        mb_doc_write(d, stdout, MB_DOC_TEXT);
        mb_doc_free(&d);
    }
    if (L)
        lua_close(L);
    fair_close(&fr);
    mb_free(groups);
    return status;
}

/* {====== the pipelines of compare and tune ======} */

typedef struct model_arg {
    const char *name;
    const char **settings;
    size_t nset;
} model_arg;

typedef struct study_args {
    const char *data, *target, *metric, *out;
    model_arg *models;
    size_t nmodels;
    mb_cli_steps steps;
    long long k, repeats, n;
    uint64_t seed;
    int threads;
    const char **grid, **random; /* key=values */
    size_t ngrid, nrandom;
} study_args;

static void study_free(study_args *a)
{
    for (size_t i = 0; i < a->nmodels; i++)
        mb_free(a->models[i].settings);
    mb_free(a->models);
    mb_free(a->grid);
    mb_free(a->random);
    mb_cli_steps_free(&a->steps);
}

static int parse_study(const char *cmd, int argc, char **argv, study_args *a)
{
    const char *threads = NULL;
    memset(a, 0, sizeof *a);
    a->k = 5;
    a->repeats = 1;
    a->n = 10;
    a->grid = mb_calloc((size_t)argc + 1, sizeof *a->grid);
    a->random = mb_calloc((size_t)argc + 1, sizeof *a->random);
    int tune = !strcmp(cmd, "tune");
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int more = i + 1 < argc, rc = 0;
        if (!strcmp(s, "-m") && more) {
            if (tune && a->nmodels)
                return mb_cli_usage(cmd, "tune one model at a time (compare takes several)");
            a->models = mb_realloc(a->models, (a->nmodels + 1) * sizeof *a->models);
            a->models[a->nmodels++] = (model_arg){argv[++i], mb_calloc((size_t)argc + 1, sizeof(char *)), 0};
        } else if (!strcmp(s, "-p") && more) {
            if (!a->nmodels)
                return mb_cli_usage(cmd, "-p %s: name the model first (-m MODEL -p key=value)", argv[i + 1]);
            model_arg *m = &a->models[a->nmodels - 1];
            m->settings[m->nset++] = argv[++i];
        } else if (!strcmp(s, "-t") && more)
            rc = mb_cli_steps_add(&a->steps, cmd, argv[++i]);
        else if (!strcmp(s, "--prep") && more)
            rc = mb_cli_steps_prep(&a->steps, cmd, argv[++i]);
        else if (!strcmp(s, "--cv") && more)
            rc = mb_cli_int(cmd, "--cv", argv[++i], 2, 1000000, &a->k);
        else if (!tune && !strcmp(s, "--repeats") && more)
            rc = mb_cli_int(cmd, "--repeats", argv[++i], 1, 1000, &a->repeats);
        else if (tune && !strcmp(s, "--n") && more)
            rc = mb_cli_int(cmd, "--n", argv[++i], 1, 100000, &a->n);
        else if (!strcmp(s, "--metric") && more)
            a->metric = argv[++i];
        else if (!strcmp(s, "--target") && more)
            a->target = argv[++i];
        else if (!strcmp(s, "--seed") && more)
            rc = mb_cli_seed(cmd, argv[++i], &a->seed);
        else if (!strcmp(s, "--threads") && more)
            threads = argv[++i];
        else if (tune && !strcmp(s, "--grid") && more)
            a->grid[a->ngrid++] = argv[++i];
        else if (tune && !strcmp(s, "--random") && more)
            a->random[a->nrandom++] = argv[++i];
        else if (tune && !strcmp(s, "-o") && more)
            a->out = argv[++i];
        else if (s[0] == '-' && s[1])
            return mb_cli_usage(cmd, "unknown option or missing value: '%s'", s);
        else if (!a->data)
            a->data = s;
        else
            return mb_cli_usage(cmd, "one dataset only ('%s' and '%s')", a->data, s);
        if (rc)
            return rc;
    }
    if (mb_cli_threads(cmd, threads, &a->threads))
        return 2;
    if (!a->data || !a->nmodels)
        return mb_cli_usage(cmd, "%s", !a->data ? "name the dataset" : "name a model with -m");
    if (tune && !a->ngrid == !a->nrandom)
        return mb_cli_usage(cmd, "give the search: --grid key=v1,v2,... or --random key=lo:hi (not both)");
    for (size_t i = 0; i < a->ngrid + a->nrandom; i++) {
        const char *g = i < a->ngrid ? a->grid[i] : a->random[i - a->ngrid];
        const char *eq = strchr(g, '=');
        if (!eq || eq == g || !eq[1])
            return mb_cli_usage(cmd, "'%s': expected key=values", g);
    }
    return 0;
}

/* Check every model and its settings, and the steps each needs; push the
** list {{name=, label=, params={k=v}, steps={...}}} for the drivers. */
static int push_models(lua_State *L, const char *cmd, study_args *a, const mb_frame *f)
{
    mb_registry reg;
    mb_cli_registry(&reg);
    int status = 0;
    lua_createtable(L, (int)a->nmodels, 0);
    for (size_t i = 0; i < a->nmodels && !status; i++) {
        model_arg *m = &a->models[i];
        mb_error err;
        const mb_model_type *type = mb_registry_find(&reg, m->name, NULL, &err);
        mb_params check;
        if (!type) {
            status = mb_cli_error(&err);
            break;
        }
        if (mb_params_parse(&check, type, m->settings, m->nset, &err) != MB_OK) {
            status = mb_cli_usage(cmd, "%s", err.msg);
            break;
        }
        mb_params_free(&check);
        mb_cli_steps steps;
        int added;
        if (mb_cli_steps_for(&a->steps, f, NULL, type, &steps, &added)) {
            status = 1;
            break;
        }
        if (added) {
            printf("prep auto (for %s): ", m->name);
            mb_cli_steps_print(stdout, &steps);
            printf("\n");
        }
        lua_createtable(L, 0, 4);
        lua_pushstring(L, m->name);
        lua_setfield(L, -2, "name");
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addstring(&b, m->name);
        for (size_t j = 0; j < m->nset; j++) {
            luaL_addchar(&b, ' ');
            luaL_addstring(&b, m->settings[j]);
        }
        luaL_pushresult(&b);
        lua_setfield(L, -2, "label");
        lua_createtable(L, 0, (int)m->nset);
        for (size_t j = 0; j < m->nset; j++) {
            const char *eq = strchr(m->settings[j], '=');
            if (!eq)
                continue;
            lua_pushlstring(L, m->settings[j], (size_t)(eq - m->settings[j]));
            lua_pushstring(L, eq + 1);
            lua_settable(L, -3);
        }
        lua_setfield(L, -2, "params");
        mb_cli_push_steps(L, &steps);
        lua_setfield(L, -2, "steps");
        mb_cli_steps_free(&steps);
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    mb_registry_close(&reg);
    return status;
}

/* The options table every driver takes: data, target, k, seed, ... */
static void push_options(lua_State *L, const study_args *a)
{
    lua_createtable(L, 0, 12);
    lua_pushstring(L, a->data), lua_setfield(L, -2, "data");
    if (a->target)
        lua_pushstring(L, a->target), lua_setfield(L, -2, "target");
    if (a->metric)
        lua_pushstring(L, a->metric), lua_setfield(L, -2, "metric");
    if (a->out)
        lua_pushstring(L, a->out), lua_setfield(L, -2, "out");
    lua_pushinteger(L, a->k), lua_setfield(L, -2, "k");
    lua_pushinteger(L, a->repeats), lua_setfield(L, -2, "repeats");
    lua_pushinteger(L, a->n), lua_setfield(L, -2, "n");
    lua_pushinteger(L, (lua_Integer)a->seed), lua_setfield(L, -2, "seed");
    lua_pushinteger(L, a->threads), lua_setfield(L, -2, "threads");
    for (int g = 0; g < 2; g++) {
        const char **v = g ? a->random : a->grid;
        size_t n = g ? a->nrandom : a->ngrid;
        if (!n)
            continue;
        lua_createtable(L, 0, (int)n);
        for (size_t i = 0; i < n; i++) {
            const char *eq = strchr(v[i], '=');
            lua_pushlstring(L, v[i], (size_t)(eq - v[i]));
            lua_pushstring(L, eq + 1);
            lua_settable(L, -3);
        }
        lua_setfield(L, -2, g ? "random" : "grid");
    }
}

/* Shared by the drivers: the data with its target, and pipelines. */
#define LUA_COMMON                                                                           \
    "local mb = require 'moonbench'\n"                                                       \
    "local a, models = ...\n"                                                                \
    "local f = mb.open(a.data)\n"                                                            \
    "if a.target then f:set_target(a.target) end\n"                                          \
    "if not f:target() then error(a.data .. ': no target column; name one (--target COLUMN)', 0) end\n" \
    "local function pipeline(m)\n"                                                           \
    "  local parts = {}\n"                                                                   \
    "  for _, s in ipairs(m.steps) do parts[#parts + 1] = mb.transform_new(s.kind, s.opts) end\n" \
    "  parts[#parts + 1] = mb.model(m.name, m.params)\n"                                     \
    "  return mb.pipeline(parts)\n"                                                          \
    "end\n"                                                                                  \
    "local function value(s) return math.tointeger(tonumber(s)) or tonumber(s) or s end\n"

static const char *const compare_lua = LUA_COMMON
    "local pipes, n = {}, 0\n"
    "for _, m in ipairs(models) do\n"
    "  if pipes[m.label] then error('compare: ' .. m.label .. ' is named twice', 0) end\n"
    "  pipes[m.label] = pipeline(m); n = n + 1\n"
    "end\n"
    "if n < 2 then error('compare: name two models or more (-m A -m B)', 0) end\n"
    "print(mb.compare(pipes, f, { k = a.k, repeats = a.repeats, metric = a.metric, seed = a.seed,\n"
    "  threads = a.threads }))\n";

static const char *const tune_lua = LUA_COMMON
    "local p = pipeline(models[1])\n"
    "local opts = { k = a.k, metric = a.metric, seed = a.seed, threads = a.threads, refit = a.out ~= nil, n = a.n }\n"
    "local s\n"
    "if a.grid then\n"
    "  opts.grid = {}\n"
    "  for key, list in pairs(a.grid) do\n"
    "    local vs = {}\n"
    "    for v in (list .. ','):gmatch('([^,]*),') do vs[#vs + 1] = value(v) end\n"
    "    opts.grid[key] = vs\n"
    "  end\n"
    "  s = mb.grid_search(p, f, opts)\n"
    "else\n"
    "  opts.space = {}\n"
    "  for key, r in pairs(a.random) do\n"
    "    local lo, hi, kind = r:match('^([^:]+):([^:]+):?(.*)$')\n"
    "    if not lo or not tonumber(lo) or not tonumber(hi) or not (kind == '' or kind == 'int' or kind == 'log') then\n"
    "      error('tune: --random ' .. key .. '=' .. r .. ': expected lo:hi, lo:hi:int or lo:hi:log', 0)\n"
    "    end\n"
    "    opts.space[key] = { tonumber(lo), tonumber(hi), kind ~= '' and kind or nil }\n"
    "  end\n"
    "  s = mb.random_search(p, f, opts)\n"
    "end\n"
    "print(s)\n"
    "local ps = {}\n"
    "for k, v in pairs(s.best_params) do ps[#ps + 1] = k .. '=' .. tostring(v) end\n"
    "table.sort(ps)\n"
    "print(string.format('best: %s %.4f (mean of %d-fold cross-validation) with -p %s', s.metric, s.best_score, s.k,\n"
    "  table.concat(ps, ' -p ')))\n"
    "if a.out then\n"
    "  s.best:save(a.out, { source = a.data })\n"
    "  print('refitted on all ' .. #f .. ' rows -> ' .. a.out)\n"
    "end\n";

static int run_study(const char *cmd, int argc, char **argv, const char *driver)
{
    study_args a;
    int status = parse_study(cmd, argc, argv, &a);
    if (status) {
        study_free(&a);
        return status;
    }
    mb_frame *f = NULL;
    mb_error err;
    if (mb_open(a.data, &f, &err) != MB_OK || (a.target && mb_frame_set_target(f, a.target, &err) != MB_OK)) {
        mb_frame_free(&f);
        study_free(&a);
        return mb_cli_error(&err);
    }
    lua_State *L = mb_cli_lua();
    status = 1;
    if (L) {
        push_options(L, &a);
        status = push_models(L, cmd, &a, f);
        mb_frame_free(&f);
        if (!status) {
            fflush(stdout);
            status = mb_cli_lua_call(L, driver, cmd[0] == 'c' ? "=compare" : "=tune", 2, 0);
        }
        lua_close(L);
    }
    mb_frame_free(&f);
    study_free(&a);
    return status;
}

int mb_cmd_compare(int argc, char **argv)
{
    return run_study("compare", argc, argv, compare_lua);
}

int mb_cmd_tune(int argc, char **argv)
{
    return run_study("tune", argc, argv, tune_lua);
}
