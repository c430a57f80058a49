/*
** pipeline.h: what the two files of the Pipeline tab share: view_pipeline.c
** (the step list, its forms, the editor's pane) and pipeline_script.c
** (running the script in the session, taking its pipeline, $EDITOR).
*/
#ifndef MBTUI_PIPELINE_H
#define MBTUI_PIPELINE_H

#include "tui.h"

/* A step as the list holds it: desc is the transform as the CLI's -t text
** ("impute:strategy=median"), NULL for a Lua step taken from a script;
** a->steps[i] is its Lua constructor. */
int mbtui_pipeline_set_steps(mbtui_app *a, char **descs, char **exprs, int n);

/* {====== the script (pipeline_script.c) ======} */

typedef struct mbtui_script_result {
    int ok;
    char msg[1024];               /* the error's first line, or what was taken */
    int line;                     /* the script's line of the error (0: none) */
} mbtui_script_result;

/* Start running text as script number id in the session, in slices (the
** UI stays live); -1 and res when it does not compile. */
int mbtui_script_start(mbtui_app *a, const char *text, int id, mbtui_script_result *res);
int mbtui_script_running(void);
/* Run a slice; 1 when it ended (res says how), 0 while it goes on. */
int mbtui_script_step(mbtui_app *a, mbtui_script_result *res);
/* Ask the running script to stop at its next Lua instruction. */
void mbtui_script_stop(void);
/* Drop a script still running (the workbench is closing). */
void mbtui_script_free(mbtui_app *a);
/* The line of "script:N:" in an error text (the first), or 0. */
int mbtui_script_error_line(const char *msg);

/* Edit text in $VISUAL / $EDITOR: 0 and *out (mb_malloc'd) when it exited
** with status 0, else -1 and msg (the text is then left as it was). */
int mbtui_external_edit(const char *text, char **out, char *msg, size_t n);

#endif
