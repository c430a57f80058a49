/*
** lmb.c: the `moonbench` Lua module: luaopen_moonbench, shared helpers of
** the binding (errors, the plugin registry, the sandbox's write check),
** and the evaluation functions (splits, reports, curves, the t-test).
**
** The module is the C functions of lframe.c, lvector.c, lmodel.c and this
** file, plus the Lua library of lua/moonbench/ (*.lua files), which the build
** embeds (build/gen/lualib.c) and this file registers in package.preload,
** so the executable and the stock-lua5.4 module carry the same code.
*/
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "eval.h"
#include "lmb.h"
#include "metrics.h"

volatile int mbl_cancel;

/* {====== helpers ======} */

int mbl_error(lua_State *L, const mb_error *err)
{
    lua_pushstring(L, err->msg);
    return lua_error(L);
}

int mbl_busy(lua_State *L, int delta)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "moonbench.busy");
    int n = (int)lua_tointeger(L, -1) + delta;
    lua_pop(L, 1);
    if (delta) {
        lua_pushinteger(L, n);
        lua_setfield(L, LUA_REGISTRYINDEX, "moonbench.busy");
    }
    return n;
}

size_t mbl_checklen(lua_State *L, int idx)
{
    lua_Integer n = luaL_len(L, idx);
    if (n < 0 || (lua_Unsigned)n > ((lua_Unsigned)1 << 40))
        luaL_error(L, "a table of length %I: expected a list (0 to 2^40 elements)", n);
    return (size_t)n;
}

char **mbl_tostrings(lua_State *L, int idx, size_t *n)
{
    idx = lua_absindex(L, idx);
    *n = mbl_checklen(L, idx);
    char **v = mb_calloc(*n + 1, sizeof *v);
    for (size_t i = 0; i < *n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1); /* raw: nothing can raise while v is held */
        char num[64];
        const char *s = "";
        if (lua_type(L, -1) == LUA_TSTRING)
            s = lua_tostring(L, -1);
        else if (lua_type(L, -1) == LUA_TNUMBER) {
            /* formatted here: lua_tostring would allocate a Lua string, which may raise */
            if (lua_isinteger(L, -1))
                snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, -1));
            else
                snprintf(num, sizeof num, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, -1));
            s = num;
        }
        v[i] = mb_strdup(s);
        lua_pop(L, 1);
    }
    return v;
}

void mbl_freestrings(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        mb_free(v[i]);
    mb_free(v);
}

static int registry_gc(lua_State *L)
{
    mb_registry *r = lua_touserdata(L, 1);
    mb_registry_close(r);
    return 0;
}

mb_registry *mbl_registry(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "moonbench.registry") == LUA_TUSERDATA) {
        mb_registry *r = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return r;
    }
    lua_pop(L, 1);
    mb_registry *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, registry_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    char exe[4096], self[4096] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *dir = NULL;
    if (n > 0) {
        exe[n] = '\0';
        snprintf(self, sizeof self, "%s", exe);
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            dir = exe;
        }
    }
    /* lazily: no plugin is loaded until a model is looked up, so mb.load of
    ** a portable bundle runs no plugin code (plugin.h) */
    mb_registry_discover_lazy(r, dir);
    /* Inside a stock lua5.4 the executable is the interpreter: look beside
    ** this module too (build/lua/moonbench.so -> build/plugins; installed
    ** <prefix>/lib/lua/5.4/moonbench.so -> <prefix>/lib/moonbench/plugins). */
    Dl_info info;
    if (dladdr((void *)mbl_registry, &info) && info.dli_fname && n > 0 &&
        strcmp(info.dli_fname, self) != 0) {
        char so[PATH_MAX], cand[PATH_MAX + 64];
        snprintf(so, sizeof so, "%s", info.dli_fname);
        char *s = strrchr(so, '/');
        if (s) {
            *s = '\0';
            snprintf(cand, sizeof cand, "%s/../plugins", so);
            mb_registry_load_dir(r, cand);
            snprintf(cand, sizeof cand, "%s/../../moonbench/plugins", so);
            mb_registry_load_dir(r, cand);
        }
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "moonbench.registry");
    return r;
}

void mbl_check_write(lua_State *L, const char *path)
{
    if (mbl_restricted(L))
        luaL_error(L, "writing '%s' is not allowed: a Lua step from a bundle is running", path);
    if (lua_getfield(L, LUA_REGISTRYINDEX, "moonbench.sandbox") != LUA_TSTRING) {
        lua_pop(L, 1);
        return;
    }
    const char *root = lua_tostring(L, -1);
    /* an existing symbolic link could point anywhere, and a second hard
    ** link to a file may be outside the folder: refuse both (and devices
    ** and FIFOs, which may block or be anything) */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            luaL_error(L, "sandbox: writing '%s' is not allowed (a symbolic link)", path);
        if (!S_ISREG(st.st_mode))
            luaL_error(L, "sandbox: writing '%s' is not allowed (not a regular file)", path);
        if (st.st_nlink > 1)
            luaL_error(L, "sandbox: writing '%s' is not allowed (the file has %I hard links; another may be outside %s)",
                       path, (lua_Integer)st.st_nlink, root);
    }
    /* resolve the folder the file would go into */
    char dir[PATH_MAX], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    if (!realpath(dir[0] ? dir : "/", real) || strncmp(real, root, strlen(root)) != 0 ||
        (real[strlen(root)] != '\0' && real[strlen(root)] != '/' && strcmp(root, "/") != 0))
        luaL_error(L, "sandbox: writing '%s' is not allowed (only under %s)", path, root);
    lua_pop(L, 1);
}

/* {====== splits ======} */

/* Labels of a frame's target as class indices, or NULL (numeric target). */
static float *strata_of(lua_State *L, const mb_frame *f)
{
    if (f->target < 0)
        luaL_error(L, "stratify: the frame has no target column");
    const mb_column *t = &f->cols[f->target];
    float *s = mb_malloc((f->nrows ? f->nrows : 1) * sizeof *s);
    for (size_t i = 0; i < f->nrows; i++)
        s[i] = t->type == MB_COL_CAT ? (float)t->codes[i] : MB_NUM(t, i);
    return s;
}

static int64_t *groups_of(lua_State *L, const mb_frame *f, const char *name)
{
    long j = mb_frame_find(f, name);
    if (j < 0)
        luaL_error(L, "group: no column named '%s'", name);
    const mb_column *c = &f->cols[j];
    int64_t *g = mb_malloc((f->nrows ? f->nrows : 1) * sizeof *g);
    for (size_t i = 0; i < f->nrows; i++)
        g[i] = c->type == MB_COL_CAT ? c->codes[i] : (int64_t)llround((double)MB_NUM(c, i));
    return g;
}

static void push_indices(lua_State *L, const size_t *idx, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)idx[i] + 1);
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
}

/* [-2, +2, e] mb._split(frame, {test = 0.2, stratify = bool, seed = n, group = col}):
** train and test row indices (1-based tables) */
static int l_split(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    double test = (lua_getfield(L, 2, "test"), luaL_optnumber(L, -1, 0.25));
    int strat = (lua_getfield(L, 2, "stratify"), lua_toboolean(L, -1));
    uint64_t seed = (uint64_t)(lua_getfield(L, 2, "seed"), luaL_optinteger(L, -1, 0));
    const char *group = (lua_getfield(L, 2, "group"), lua_tostring(L, -1));
    size_t *tr = NULL, *te = NULL, ntr = 0, nte = 0;
    mb_error err;
    mb_status rc;
    if (group) {
        /* group-aware: whole groups go to the test side, as one fold of
        ** ceil(1 / test) group folds */
        if (!(test > 0 && test < 1))
            return luaL_error(L, "split: with a group column, test must be a fraction in (0, 1), got %f", test);
        int64_t *g = groups_of(L, f, group);
        size_t k = (size_t)ceil(1 / test);
        int32_t *fold = mb_malloc((f->nrows ? f->nrows : 1) * sizeof *fold);
        rc = mb_kfold(f->nrows, k < 2 ? 2 : k, 1, NULL, g, seed, fold, &err);
        mb_free(g);
        if (rc == MB_OK) {
            tr = mb_malloc((f->nrows ? f->nrows : 1) * sizeof *tr);
            te = mb_malloc((f->nrows ? f->nrows : 1) * sizeof *te);
            for (size_t i = 0; i < f->nrows; i++)
                if (fold[i] == 0)
                    te[nte++] = i;
                else
                    tr[ntr++] = i;
        }
        mb_free(fold);
    } else {
        float *s = strat ? strata_of(L, f) : NULL;
        rc = mb_split_train_test(f->nrows, test, s, seed, &tr, &ntr, &te, &nte, &err);
        mb_free(s);
    }
    if (rc != MB_OK)
        return mbl_error(L, &err);
    push_indices(L, tr, ntr);
    push_indices(L, te, nte);
    mb_free(tr);
    mb_free(te);
    return 2;
}

/* [-2, +1, e] mb._folds(frame, {k = 5, stratify = bool, seed = n, group = col, shuffle = bool}):
** fold number (1-based) per row */
static int l_folds(lua_State *L)
{
    mb_frame *f = mbl_checkframe(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer k = (lua_getfield(L, 2, "k"), luaL_optinteger(L, -1, 5));
    int strat = (lua_getfield(L, 2, "stratify"), lua_toboolean(L, -1));
    uint64_t seed = (uint64_t)(lua_getfield(L, 2, "seed"), luaL_optinteger(L, -1, 0));
    const char *group = (lua_getfield(L, 2, "group"), lua_tostring(L, -1));
    int shuffle = (lua_getfield(L, 2, "shuffle"), lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1));
    if (k < 2)
        return luaL_error(L, "folds: k = %d; it must be at least 2", (int)k);
    int64_t *g = group ? groups_of(L, f, group) : NULL; /* may raise: before anything else is allocated */
    if (strat && f->target < 0) {
        mb_free(g);
        return luaL_error(L, "stratify: the frame has no target column");
    }
    float *s = strat ? strata_of(L, f) : NULL;
    int32_t *fold = mb_malloc((f->nrows ? f->nrows : 1) * sizeof *fold);
    mb_error err;
    mb_status rc = mb_kfold(f->nrows, (size_t)k, shuffle, s, g, seed, fold, &err);
    mb_free(s);
    mb_free(g);
    if (rc != MB_OK) {
        mb_free(fold);
        return mbl_error(L, &err);
    }
    lua_createtable(L, (int)f->nrows, 0);
    for (size_t i = 0; i < f->nrows; i++) {
        lua_pushinteger(L, fold[i] + 1);
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    mb_free(fold);
    return 1;
}

/* {====== reports ======} */

/* Class indices of a categorical vector in the order of classes (by text). */
/* NULL and a message when a row's class is not one of classes. */
static float *class_index(const mbl_vector *v, char **classes, size_t k, const char *what, char *msg, size_t len)
{
    float *out = mb_malloc((v->n ? v->n : 1) * sizeof *out);
    int32_t *map = mb_calloc(v->nlevels + 1, sizeof *map);
    for (size_t l = 0; l < v->nlevels; l++) {
        map[l] = -1;
        for (size_t c = 0; c < k; c++)
            if (strcmp(v->levels[l], classes[c]) == 0)
                map[l] = (int32_t)c;
    }
    for (size_t i = 0; i < v->n; i++) {
        int32_t c = isnan(v->v[i]) ? -1 : map[(size_t)v->v[i]];
        if (c < 0) {
            const char *lv = isnan(v->v[i]) ? "(missing)" : v->levels[(size_t)v->v[i]];
            snprintf(msg, len, "report: %s row %d has class '%s', not one of the model's classes", what, (int)i + 1, lv);
            mb_free(out);
            mb_free(map);
            return NULL;
        }
        out[i] = (float)c;
    }
    mb_free(map);
    return out;
}

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

typedef struct report_box {
    char **classes;
    size_t k;
    mb_class_report r;
    int has_r;
} report_box;

static int report_box_gc(lua_State *L)
{
    report_box *b = lua_touserdata(L, 1);
    mbl_freestrings(b->classes, b->k);
    b->classes = NULL;
    if (b->has_r)
        mb_class_report_free(&b->r);
    b->has_r = 0;
    return 0;
}

/* [-4, +1, e] mb._class_report(y, pred, proba_frame_or_nil, classes): the
** classification report as a table of numbers */
static int l_class_report(lua_State *L)
{
    mbl_vector *y = mbl_checkvector(L, 1), *p = mbl_checkvector(L, 2);
    luaL_checktype(L, 4, LUA_TTABLE);
    if (!y->levels || !p->levels)
        return luaL_error(L, "report: classification needs categorical labels and predictions");
    if (y->n != p->n)
        return luaL_error(L, "report: %d labels and %d predictions", (int)y->n, (int)p->n);
    mb_frame *pf = lua_isnoneornil(L, 3) ? NULL : mbl_checkframe(L, 3);
    /* the class names and the report live in a box: building the result
    ** table may raise (memory) and must not leak them */
    report_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    memset(box, 0, sizeof *box);
    if (luaL_newmetatable(L, "moonbench.reportbox")) {
        lua_pushcfunction(L, report_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    size_t k;
    char **classes = box->classes = mbl_tostrings(L, 4, &k); /* raises only before allocating */
    box->k = k;
    float *yi = NULL, *pi = NULL, *proba = NULL;
    char msg[512];
    yi = class_index(y, classes, k, "the label of", msg, sizeof msg);
    pi = yi ? class_index(p, classes, k, "the prediction of", msg, sizeof msg) : NULL;
    if (!pi) {
        mb_free(yi);
        return luaL_error(L, "%s", msg);
    }
    int numeric = 1;
    for (size_t c = 0; pf && c < pf->ncols; c++)
        numeric &= pf->cols[c].type == MB_COL_NUM;
    if (pf) {
        if (pf->ncols != k || pf->nrows != y->n || !numeric) {
            mb_free(yi);
            mb_free(pi);
                return luaL_error(L, "report: probabilities must be %d rows x %d classes", (int)y->n, (int)k);
        }
        proba = mb_malloc((y->n ? y->n : 1) * k * sizeof *proba);
        for (size_t i = 0; i < y->n; i++)
            for (size_t c = 0; c < k; c++)
                proba[i * k + c] = MB_NUM(&pf->cols[c], i);
    }
    mb_class_report r;
    mb_error err;
    mb_status rc = mb_class_report_compute(yi, pi, proba, y->n, k, &r, &err);
    if (rc == MB_OK) {
        box->r = r; /* freed by the box, also if what follows raises */
        box->has_r = 1;
    }
    mb_free(yi);
    mb_free(pi);
    mb_free(proba);
    if (rc != MB_OK) {
        return mbl_error(L, &err);
    }
    lua_createtable(L, 0, 20);
    set_num(L, "accuracy", r.accuracy);
    set_num(L, "balanced_accuracy", r.balanced_accuracy);
    set_num(L, "precision_macro", r.precision_macro);
    set_num(L, "recall_macro", r.recall_macro);
    set_num(L, "f1_macro", r.f1_macro);
    set_num(L, "precision_weighted", r.precision_weighted);
    set_num(L, "recall_weighted", r.recall_weighted);
    set_num(L, "f1_weighted", r.f1_weighted);
    set_num(L, "roc_auc", r.roc_auc);
    set_num(L, "pr_auc", r.pr_auc);
    set_num(L, "log_loss", r.log_loss);
    set_num(L, "brier", r.brier);
    lua_pushinteger(L, (lua_Integer)r.n);
    lua_setfield(L, -2, "n");
    lua_createtable(L, (int)k, 0);
    for (size_t c = 0; c < k; c++) {
        lua_createtable(L, 0, 5);
        lua_pushstring(L, classes[c]);
        lua_setfield(L, -2, "class");
        set_num(L, "precision", r.precision[c]);
        set_num(L, "recall", r.recall[c]);
        set_num(L, "f1", r.f1[c]);
        lua_pushinteger(L, (lua_Integer)r.support[c]);
        lua_setfield(L, -2, "support");
        lua_seti(L, -2, (lua_Integer)c + 1);
    }
    lua_setfield(L, -2, "classes");
    lua_createtable(L, (int)k, 0);
    for (size_t a = 0; a < k; a++) {
        lua_createtable(L, (int)k, 0);
        for (size_t b = 0; b < k; b++) {
            lua_pushinteger(L, (lua_Integer)r.confusion[a * k + b]);
            lua_seti(L, -2, (lua_Integer)b + 1);
        }
        lua_seti(L, -2, (lua_Integer)a + 1);
    }
    lua_setfield(L, -2, "confusion");
    return 1; /* the box frees the names and the report when collected */
}

/* [-2, +1, e] mb._reg_report(y, pred) */
static int l_reg_report(lua_State *L)
{
    mbl_vector *y = mbl_checkvector(L, 1), *p = mbl_checkvector(L, 2);
    if (y->levels || p->levels)
        return luaL_error(L, "report: regression needs numeric labels and predictions");
    if (y->n != p->n)
        return luaL_error(L, "report: %d labels and %d predictions", (int)y->n, (int)p->n);
    float *a = mb_malloc((y->n ? y->n : 1) * sizeof *a), *b = mb_malloc((y->n ? y->n : 1) * sizeof *b);
    for (size_t i = 0; i < y->n; i++) {
        a[i] = (float)y->v[i];
        b[i] = (float)p->v[i];
    }
    mb_reg_report r;
    mb_reg_report_compute(a, b, y->n, &r);
    mb_free(a);
    mb_free(b);
    lua_createtable(L, 0, 5);
    set_num(L, "rmse", r.rmse);
    set_num(L, "mae", r.mae);
    set_num(L, "r2", r.r2);
    set_num(L, "mape", r.mape);
    lua_pushinteger(L, (lua_Integer)r.n);
    lua_setfield(L, -2, "n");
    return 1;
}

/* [-4, +1, e] mb._curve(kind, y01, score[, bins]): {x = {...}, y = {...}, threshold = {...}} */
static int l_curve(lua_State *L)
{
    const char *kind = luaL_checkstring(L, 1);
    mbl_vector *y = mbl_checkvector(L, 2), *s = mbl_checkvector(L, 3);
    lua_Integer bins = luaL_optinteger(L, 4, 10); /* before allocating: it may raise */
    if (bins < 1 || bins > 100000)
        return luaL_error(L, "curve: %I bins; expected 1 to 100000", bins);
    if (y->n != s->n)
        return luaL_error(L, "curve: %d labels and %d scores", (int)y->n, (int)s->n);
    float *a = mb_malloc((y->n ? y->n : 1) * sizeof *a), *b = mb_malloc((y->n ? y->n : 1) * sizeof *b);
    for (size_t i = 0; i < y->n; i++) {
        a[i] = (float)y->v[i];
        b[i] = (float)s->v[i];
    }
    mb_curve c;
    mb_error err;
    mb_status rc;
    if (strcmp(kind, "roc") == 0)
        rc = mb_roc_curve(a, b, y->n, &c, &err);
    else if (strcmp(kind, "pr") == 0)
        rc = mb_pr_curve(a, b, y->n, &c, &err);
    else
        rc = mb_calibration(a, b, y->n, (size_t)bins, &c, &err);
    mb_free(a);
    mb_free(b);
    if (rc != MB_OK)
        return mbl_error(L, &err);
    lua_createtable(L, 0, 3);
    const char *keys[3] = {"x", "y", "threshold"};
    double *cols[3] = {c.x, c.y, c.threshold};
    for (int j = 0; j < 3; j++) {
        lua_createtable(L, (int)c.n, 0);
        for (size_t i = 0; i < c.n; i++) {
            lua_pushnumber(L, cols[j][i]);
            lua_seti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, keys[j]);
    }
    mb_curve_free(&c);
    return 1;
}

/* [-3, +2, e] mb.ttest(a, b, test_train_ratio): p-value and t of the
** corrected resampled t-test on paired per-fold scores */
static int l_ttest(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    double ratio = luaL_checknumber(L, 3);
    size_t n = mbl_checklen(L, 1);
    if (mbl_checklen(L, 2) != n || n < 2)
        return luaL_error(L, "ttest: two lists of the same length (>= 2) expected");
    double *a = mb_malloc(n * sizeof *a), *b = mb_malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        lua_rawgeti(L, 2, (lua_Integer)i + 1);
        a[i] = lua_tonumber(L, -2);
        b[i] = lua_tonumber(L, -1);
        lua_pop(L, 2);
    }
    double t;
    double p = mb_corrected_ttest(a, b, n, ratio, &t);
    mb_free(a);
    mb_free(b);
    lua_pushnumber(L, p);
    lua_pushnumber(L, t);
    return 2;
}

/* [-0, +1, -] mb.clock(): seconds of a monotonic clock, for timing */
static int l_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
    return 1;
}

/* [-0, +1, -] mb.interrupted(): was Ctrl-C pressed? */
static int l_interrupted(lua_State *L)
{
    lua_pushboolean(L, mbl_cancel);
    return 1;
}

static const luaL_Reg eval_funcs[] = {{"_split", l_split},
                                      {"_folds", l_folds},
                                      {"_class_report", l_class_report},
                                      {"_reg_report", l_reg_report},
                                      {"_curve", l_curve},
                                      {"ttest", l_ttest},
                                      {"interrupted", l_interrupted},
                                      {"clock", l_clock},
                                      {NULL, NULL}};

void mbl_open_eval(lua_State *L) { luaL_setfuncs(L, eval_funcs, 0); }

/* {====== the module ======} */

/* The embedded Lua library (generated from the files of lua/moonbench/). */
typedef struct mbl_luafile {
    const char *name;
    const char *src;
    size_t len;
} mbl_luafile;
extern const mbl_luafile mbl_lualib[];

static int load_embedded(lua_State *L)
{
    const mbl_luafile *f = lua_touserdata(L, lua_upvalueindex(1));
    char chunk[128];
    snprintf(chunk, sizeof chunk, "@lua/%s.lua", f->name);
    for (char *p = chunk + 5; *p; p++)
        if (*p == '.' && strcmp(p, ".lua") != 0)
            *p = '/';
    if (luaL_loadbuffer(L, f->src, f->len, chunk) != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, f->name);
    lua_call(L, 1, 1);
    return 1;
}

int luaopen_moonbench(lua_State *L);

/* A failed audit write (audit.h) in a stock lua5.4 host: said on stderr. */
static void audit_warn(const char *msg) { fprintf(stderr, "moonbench: %s\n", msg); }

/* [-0, +1, e] require "moonbench" */
int luaopen_moonbench(lua_State *L)
{
    luaL_checkversion(L);
    mb_audit_set_warn(audit_warn);
    /* register the embedded Lua files in package.preload */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (const mbl_luafile *f = mbl_lualib; f->name; f++) {
        lua_pushlightuserdata(L, (void *)f);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, f->name);
    }
    lua_pop(L, 1);
    lua_newtable(L);
    mbl_open_blas(L);
    mbl_open_frame(L);
    mbl_open_rows(L);
    mbl_open_vector(L);
    mbl_open_model(L);
    mbl_open_eval(L);
    mbl_open_sandbox(L);
    mbl_open_explain(L);
    mbl_open_fairness(L);
    lua_pushstring(L, MB_VERSION);
    lua_setfield(L, -2, "version");
    /* the Lua half completes the table: require "moonbench.core" (mb) */
    lua_getglobal(L, "require");
    lua_pushstring(L, "moonbench.core");
    lua_call(L, 1, 1);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    return 1;
}
