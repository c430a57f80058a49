/*
** test_lua.c: the Lua binding from C: the module opens in a bare state,
** userdata check their types, closed objects and collected garbage are
** safe, errors from C calls become Lua errors with the C message, and
** nothing leaks across many frames (the ASan build checks that). The
** sandbox's C entry points (lmb_run.h, the ones the fuzz target calls):
** binary chunks refused, instruction budgets that hold in coroutines, a
** memory budget, and C errors raised while C memory is held.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmb_run.h"

int luaopen_moonbench(lua_State *L);

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_moonbench);
    lua_setfield(L, -2, "moonbench");
    lua_pop(L, 1);
    return L;
}

/* Run code; return NULL on success or the error message (valid until close). */
static const char *run(lua_State *L, const char *code)
{
    if (luaL_dostring(L, code) == LUA_OK)
        return NULL;
    return lua_tostring(L, -1);
}

static void expect_error(const char *code, const char *part)
{
    lua_State *L = new_state();
    const char *msg = run(L, code);
    if (!msg || !strstr(msg, part))
        fail_msg("code: %s\nexpected an error with '%s', got: %s", code, part, msg ? msg : "(no error)");
    lua_close(L);
}

static void expect_ok(const char *code)
{
    lua_State *L = new_state();
    const char *msg = run(L, code);
    if (msg)
        fail_msg("code: %s\nerror: %s", code, msg);
    lua_close(L);
}

static void test_module_opens(void **state)
{
    (void)state;
    expect_ok("local mb = require 'moonbench'; assert(type(mb.version) == 'string');"
              "assert(type(mb.open) == 'function' and type(mb.pipeline) == 'function')");
}

static void test_type_checks(void **state)
{
    (void)state;
    expect_error("local mb = require 'moonbench'; mb.evaluate(1, 2)", "attempt to");
    expect_error("local mb = require 'moonbench'; local f = mb.open('datasets/iris.h5'); f.shape(42)",
                 "moonbench.frame expected, got number");
    expect_error("local mb = require 'moonbench'; mb.model('knn').fit(mb.open('datasets/iris.h5'), 1)",
                 "moonbench.model expected");
    expect_error("local mb = require 'moonbench'; local v = mb.vector{1,2}; local w = v + 'x'",
                 "expected a vector or a number, got string");
}

static void test_close_and_gc(void **state)
{
    (void)state;
    /* to-be-closed frames and models; use after close is an error, not a crash */
    expect_error("local mb = require 'moonbench'\n"
                 "local g\n"
                 "do local f <close> = mb.open('datasets/iris.h5'); g = f end\n"
                 "return g:shape()",
                 "frame is closed");
    expect_error("local mb = require 'moonbench'\n"
                 "local n\n"
                 "do local m <close> = mb.model('knn'); n = m end\n"
                 "n:fit(mb.open('datasets/iris.h5'))",
                 "model is closed");
    /* many frames, vectors and models collected along the way */
    expect_ok("local mb = require 'moonbench'\n"
              "local f = mb.open('datasets/wine.h5')\n"
              "for i = 1, 200 do local g = f:sample(0.5, i); local v = g:col('alcohol') * 2 + 1;"
              "  local m = mb.model('baseline'):fit(g) end\n"
              "collectgarbage(); collectgarbage()");
}

static void test_c_errors_become_lua_errors(void **state)
{
    (void)state;
    expect_error("local mb = require 'moonbench'; mb.open('no/such/file.h5')", "No such file or directory");
    expect_error("local mb = require 'moonbench'; mb.open('datasets/iris.h5', {target = 'nope'})",
                 "no column named 'nope' to use as target");
    expect_error("local mb = require 'moonbench'; mb.model('knn', {n_neighbors = 0})",
                 "n_neighbors: '0' is out of range");
    expect_error("local mb = require 'moonbench'; mb.standardize():apply(mb.open('datasets/iris.h5'))",
                 "applied before fit");
}

static void test_values_round_trip(void **state)
{
    (void)state;
    expect_ok("local mb = require 'moonbench'\n"
              "local f = mb.frame({x = {1, 2, 3, nil and 0 or 4}, c = {'a', 'b', 'a', 'c'}}, {order = {'x', 'c'}})\n"
              "assert(#f == 4)\n"
              "local v = f:col('x')\n"
              "assert(v[1] == 1 and v[4] == 4 and v:sum() == 10)\n"
              "local c = f:col('c')\n"
              "assert(c[2] == 'b' and c:eq('a'):sum() == 2)\n"
              "local g = f:derive('y', v * v):filter(c:ne('b'))\n"
              "assert(#g == 3 and g:col('y'):sum() == 1 + 9 + 16)");
}

/* mb_lua_run_sandboxed(text) fails with a message containing part. */
static void sandboxed_fails(const char *text, size_t len, unsigned long long steps, const char *part)
{
    char msg[1024];
    int rc = mb_lua_run_sandboxed(text, len, steps, msg, sizeof msg);
    if (rc != 1 || !strstr(msg, part))
        fail_msg("sandboxed: %.60s\nexpected an error with '%s', got rc %d: %s", text, part, rc, msg);
}

static void test_sandbox_entry_point(void **state)
{
    (void)state;
    char msg[1024];
    const char *t = "assert(load('return 1')() == 1)";
    assert_int_equal(0, mb_lua_run_sandboxed(t, strlen(t), 0, msg, sizeof msg));
    /* a binary chunk as the input itself, and through load */
    static const char bin[] = "\x1bLua\x54\x00garbage";
    sandboxed_fails(bin, sizeof bin - 1, 0, "attempt to load a binary chunk");
    t = "assert(not string.dump and not debug); return load('\\27Lua')";
    assert_int_equal(0, mb_lua_run_sandboxed(t, strlen(t), 0, msg, sizeof msg));
    t = "os.execute('true')";
    sandboxed_fails(t, strlen(t), 0, "sandbox: os.execute is not allowed");
    t = "require 'moonbench'.frame{a = {1}}:save('/tmp/moonbench_unit_sandbox.h5')";
    sandboxed_fails(t, strlen(t), 0, "is not allowed (only under");
    /* the instruction budget, also inside a coroutine and past a pcall */
    t = "while true do end";
    sandboxed_fails(t, strlen(t), 100, "instruction budget");
    t = "coroutine.wrap(function() while true do pcall(function() while true do end end) end end)()";
    sandboxed_fails(t, strlen(t), 100, "instruction budget");
}

static void test_memory_budget(void **state)
{
    (void)state;
    mb_lua_budget(64u << 20);
    /* Lua's allocations */
    const char *t = "local s = string.rep('x', 1 << 27)";
    sandboxed_fails(t, strlen(t), 0, "not enough memory");
    /* C allocations on the script's behalf (a vector of 2^24 doubles is 128 MB) */
    t = "local mb = require 'moonbench'; local v = mb.vector{1}; for i = 1, 30 do v = mb.frame{a = {1}}:col('a') end;"
        "local big = {}; for i = 1, 1 << 20 do big[i] = i end; local w = mb.vector(big) local x = {} "
        "for i = 1, 100 do x[i] = w * 2 end";
    sandboxed_fails(t, strlen(t), 0, "no memory for a vector of 1048576 values");
    assert_true(mb_lua_budget_hit());
    mb_lua_budget(0); /* no limit again */
    char msg[1024];
    t = "local s = string.rep('x', 1 << 27)";
    assert_int_equal(0, mb_lua_run_sandboxed(t, strlen(t), 0, msg, sizeof msg));
}

/* {====== allocation failure N (SQLite's faultsim) ======} */

/* Lua's allocations fail from the Nth on (left: N, -1 for never); C's do
** not. Every raise of "not enough memory" inside a binding call must leave
** no C memory behind: LeakSanitizer (the ASan build) checks at exit. */
typedef struct failer {
    long left;
    long failed;
} failer;

static void *failing_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    failer *f = ud;
    if (nsize == 0) {
        free(p);
        return NULL;
    }
    if (nsize > (p ? osize : 0) && f->left == 0) {
        f->failed++;
        return NULL;
    }
    if (f->left > 0)
        f->left--;
    return realloc(p, nsize);
}

static int setup_faults(lua_State *L)
{
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_moonbench);
    lua_setfield(L, -2, "moonbench");
    lua_pop(L, 1);
    return luaL_dostring(L, "mb = require 'moonbench'; f = mb.open('datasets/iris.h5');"
                            "m = mb.model('linear'):fit(f); t = mb.standardize():fit(f);"
                            "p = m:predict(f); collectgarbage()") == LUA_OK ? 0 : lua_error(L);
}

static void test_allocation_failures_leak_nothing(void **state)
{
    (void)state;
    const char *ops = "local g = f:head(3); g = f:select{'petal width (cm)', 'target'}; g = f:drop('target');"
                      "g = f:take{1, 2, 3}; g = f:filter(function(r) return r['petal width (cm)'] > 1 end);"
                      "g = f:derive('x', f:col('petal width (cm)') * 2); g = f:describe(); g = f:copy();"
                      "g = m:clone{alpha = 2}; g = m:predict(f); g = m:predict_proba(f); g = t:clone();"
                      "g = t:apply(f); g = mb.split(f, {test = 0.2, stratify = true});"
                      "g = mb.kfold(f, {k = 3}); g = mb.evaluate(m, f); g = mb.vector{1, 2, 'a'};"
                      "g = mb.transform_new('impute', {columns = {'a', 'b'}, strategy = 'mean'});"
                      "g = mb.frame({a = {1, 2}, c = {'x', 'y'}}, {order = {'a', 'c'}}); g = g:col('c'):isin{'x', 1};"
                      "g = mb.where(f:col('sepal width (cm)'):gt(3), 1, 0) + mb.clip(p:eq('setosa'), 0, 1);"
                      "g = f:sample(0.5, 1):concat(f:head(2)); g = mb.ttest({1, 2, 3}, {1, 2, 4}, 0.25);"
                      "g = mb.lua_transform('return {apply = function(s, x) return x end}'):fit(f):apply(f)";
    long n = 0, done = 0;
    for (; !done && n < 20000; n += n < 200 ? 1 : 1 + n / 50) {
        failer fl = {-1, 0};
        lua_State *L = lua_newstate(failing_alloc, &fl);
        assert_non_null(L);
        lua_pushcfunction(L, setup_faults);
        if (lua_pcall(L, 0, 0, 0) != LUA_OK)
            fail_msg("setup: %s", lua_tostring(L, -1));
        fl.left = n;
        int rc = luaL_loadstring(L, ops) == LUA_OK ? lua_pcall(L, 0, 0, 0) : LUA_ERRMEM;
        done = rc == LUA_OK && fl.failed == 0;
        if (rc != LUA_OK && rc != LUA_ERRMEM) {
            const char *msg = lua_tostring(L, -1);
            if (!msg || !strstr(msg, "memory"))
                fail_msg("failing allocation %ld: %s", n, msg ? msg : "(no message)");
        }
        fl.left = -1;
        lua_close(L);
    }
    assert_true(done); /* the ops ran to the end once no allocation failed */
}

int main(void)
{
    /* the real plugins first (beside this test binary are the broken test
    ** plugins of tests/plugins, one of which also names a model 'knn') */
    const char *b = getenv("MOONBENCH_BUILD");
    char path[1024];
    snprintf(path, sizeof path, "%s/plugins", b ? b : "build");
    setenv("MOONBENCH_PLUGIN_PATH", path, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_module_opens),
        cmocka_unit_test(test_type_checks),
        cmocka_unit_test(test_close_and_gc),
        cmocka_unit_test(test_c_errors_become_lua_errors),
        cmocka_unit_test(test_values_round_trip),
        cmocka_unit_test(test_sandbox_entry_point),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_allocation_failures_leak_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
