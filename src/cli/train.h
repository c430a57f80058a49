/*
** train.h: what the training commands (fit, compare, tune, evaluate)
** share: the plugin registry, transform steps from -t / --prep /
** --pipeline, a Lua state with the moonbench module, and number text.
*/
#ifndef MB_CLI_TRAIN_H
#define MB_CLI_TRAIN_H

#include <stdio.h>

#include <lua.h>

#include "job.h"
#include "plugin.h"

/* Discover plugins beside this executable, in the install and in
** $MOONBENCH_PLUGIN_PATH; lazily: none is loaded until a model is looked
** up, so scoring a portable bundle runs no plugin code. */
void mb_cli_registry(mb_registry *r);

/* Transform steps in order, as given with -t (or made by --prep auto). */
typedef struct mb_cli_steps {
    mb_job_step *v;
    size_t n;
    int prep_none;                /* --prep none */
    int prep_given;               /* --prep given at all */
} mb_cli_steps;

/* -t SPEC: 0, or 2 after a usage message (the messages of mb.transform_new). */
int mb_cli_steps_add(mb_cli_steps *s, const char *cmd, const char *spec);
/* --prep auto|none: 0, or 2 after a usage message. */
int mb_cli_steps_prep(mb_cli_steps *s, const char *cmd, const char *value);
/* With no -t and prep auto: the steps the model needs for the frame,
** into *out (s itself stays as given, for the next model); 0 or 1. */
int mb_cli_steps_for(const mb_cli_steps *s, const mb_frame *f, const char *weights, const mb_model_type *type,
                     mb_cli_steps *out, int *added);
/* The steps as copyable -t flags, to fp. */
void mb_cli_steps_print(FILE *fp, const mb_cli_steps *s);
void mb_cli_steps_free(mb_cli_steps *s);

/* --pipeline FILE.lua: run the file (it returns mb.pipeline{...}) and take
** its C transforms as steps, and its model as "plugin/name" and settings.
** 0, or 1 after printing the message. */
int mb_cli_pipeline_file(const char *path, mb_cli_steps *steps, char **model, char ***settings, size_t *nsettings);

/* A Lua state with the standard libraries and require "moonbench"; Ctrl-C
** sets the flag plugins poll. NULL after a message when out of memory. */
lua_State *mb_cli_lua(void);
/* Run a Lua chunk under a traceback handler with `nargs` values pushed
** after it was loaded; 0, or 1 after printing the error. Results stay on
** the stack (nresults). */
int mb_cli_lua_call(lua_State *L, const char *chunk, const char *name, int nargs, int nresults);
/* Push the steps as a list of {kind = , opts = {...}} for mb.transform_new. */
void mb_cli_push_steps(lua_State *L, const mb_cli_steps *s);

/* A float32 value with the digits it has: the shortest %.Ng (6 <= N <= 9)
** that reads back to the same float ("5.4", not "5.4000000953674"). */
const char *mb_cli_float(char *buf, size_t n, double v);
/* A double with the shortest %.Ng (N <= 17) that reads back exactly. */
const char *mb_cli_double(char *buf, size_t n, double v);

#endif
