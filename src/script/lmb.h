/*
** lmb.h: internals shared by the files of the Lua binding (src/script):
** the `moonbench` module's userdata types and helpers. Public entry points
** are luaopen_moonbench (the module) and mb_lua_* in lmb_run.h (lsandbox.c, lsteps.c).
**
** Userdata (registry name, check function):
**   "moonbench.frame"     mbl_checkframe     a frame (frame.h)
**   "moonbench.vector"    mbl_checkvector    a numeric or categorical vector
**   "moonbench.model"     mbl_checkmodel     a plugin model, fitted or not
**   "moonbench.transform" mbl_checktransform a feature transform
**   "moonbench.scorer"    mbl_checkscorer    a model loaded from a bundle
** Every one has __gc, __close and __tostring; the resource is acquired
** only after the (empty) userdata exists, so an error in between leaves a
** consistent object for __gc (liolib's newprefile rule).
**
** C memory is freed before raising (return luaL_error(...)).
*/
#ifndef MB_LMB_H
#define MB_LMB_H

#include <lauxlib.h>
#include <lua.h>

#include "frame.h"
#include "plugin.h"
#include "transform.h"

#define MBL_FRAME "moonbench.frame"
#define MBL_VECTOR "moonbench.vector"
#define MBL_MODEL "moonbench.model"
#define MBL_TRANSFORM "moonbench.transform"
#define MBL_SCORER "moonbench.scorer"

typedef struct mbl_frame {
    mb_frame *f;
} mbl_frame;

/* A column-shaped value for vectorised work: numbers in double (NaN =
** missing), or categorical codes (as doubles, NaN = missing) with levels. */
typedef struct mbl_vector {
    size_t n;
    double *v;
    char **levels;                /* NULL for numeric vectors */
    size_t nlevels;
} mbl_vector;

typedef struct mbl_model {
    mb_model *m;
    char **classes;               /* after fit: class names (classification) */
    size_t nclasses;
    char **features;              /* after fit: input column names */
    size_t nfeatures;
    char *target;
    mb_state monitoring;          /* after fit: training statistics for the bundle */
} mbl_model;

typedef struct mbl_transform {
    mb_transform *t;
    mb_transform_opts opts;       /* kept for clone */
    char **cols;
    size_t ncols;
} mbl_transform;

/* Push a new frame userdata that owns f (f may be NULL for an empty one). */
mbl_frame *mbl_pushframe(lua_State *L, mb_frame *f);
mb_frame *mbl_checkframe(lua_State *L, int idx);
mbl_vector *mbl_newvector(lua_State *L, size_t n);
mbl_vector *mbl_checkvector(lua_State *L, int idx);
mbl_model *mbl_checkmodel(lua_State *L, int idx);
mbl_transform *mbl_checktransform(lua_State *L, int idx);

/* The module's plugin registry (loaded on first use, closed with the state). */
mb_registry *mbl_registry(lua_State *L);
/* While a model fits, Lua callbacks (progress) run with C code holding
** pointers into frames and the model: <close> on them is refused until the
** fit returns (mbl_busy counts the fits in progress). */
int mbl_busy(lua_State *L, int delta);
/* Raise a Lua error from an mb_error. */
int mbl_error(lua_State *L, const mb_error *err);
/* The cancel flag that plugins poll (set by Ctrl-C in `moonbench run`). */
extern volatile int mbl_cancel;
/* Check that a script may write to path; raises an error otherwise. Under
** the sandbox: only under its folder, never through a symbolic link or a
** file with several hard links, never onto a device or FIFO. While a
** bundle's Lua step runs (mbl_restricted): never. */
void mbl_check_write(lua_State *L, const char *path);
/* Why the state was stopped ("interrupted" unless a timeout or an
** instruction budget; lsandbox.c) */
const char *mbl_stop_reason(lua_State *L);
/* Is a bundle's Lua step running (mb._restrict, lua/moonbench/core.lua)? */
int mbl_restricted(lua_State *L);
/* Raise "not enough memory: WHAT needs N MB ..." unless bytes more fit in
** the memory budget of `moonbench run --memory` (lmb_run.h); call before
** allocating C memory whose size a script chooses. */
void mbl_reserve(lua_State *L, size_t bytes, const char *what);
/* The length of the table at idx (luaL_len), refused when negative or too
** large to size a C buffer (a __len metamethod may return anything). */
size_t mbl_checklen(lua_State *L, int idx);
/* Read a string array from table at idx into new C strings (n returned). */
char **mbl_tostrings(lua_State *L, int idx, size_t *n);
void mbl_freestrings(char **v, size_t n);
/* [-0, +1, e] Push the one string of the array name in st (a Lua step's
** "source" or "state"), raising "PATH: pipeline step N: ..." if absent;
** the C copy is freed even when pushing raises (lsteps.c). */
void mbl_push_state_string(lua_State *L, const mb_state *st, const char *name, const char *path, size_t step);

/* Registration of each file's functions into the module table at -1. */
void mbl_open_frame(lua_State *L);
void mbl_open_rows(lua_State *L);                  /* lrows.c: filter, derive, sort */
void mbl_open_vector(lua_State *L);
void mbl_open_model(lua_State *L);
void mbl_open_eval(lua_State *L);
void mbl_open_sandbox(lua_State *L);
void mbl_open_explain(lua_State *L);                /* lexplain.c */
void mbl_open_fairness(lua_State *L);               /* lfairness.c */
struct mb_scorer *mbl_toscorer(lua_State *L, int idx); /* lmodel.c: the open scorer at idx, or NULL */
void mbl_open_blas(lua_State *L);                   /* lblas.c */
void mbl_open_pipeline(lua_State *L);               /* lpipeline.c: bundles and scorers */
/* lmodel.c, shared with lpipeline.c */
void mbl_push_fit_info(lua_State *L, const mb_fit_info *fi);
double mbl_save_threshold(lua_State *L, int idx);
void mbl_new_meta(lua_State *L, const char *name, lua_CFunction gc, lua_CFunction ts, const luaL_Reg *methods);

#endif
