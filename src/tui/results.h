/*
** results.h: what the Results and Export tabs share with the worker
** (job.c): a run's evaluation figures beyond its metrics (curves,
** residuals, losses, importances, explanations), the terminal charts that
** draw them (chart.c), and the Export tab's background tasks
** (view_export.c: score, export, serve).
*/
#ifndef MB_TUI_RESULTS_H
#define MB_TUI_RESULTS_H

#include "tui.h"

/* {====== a run's figures (filled from the worker's reply, job.c) ======} */

enum { MBTUI_CURVE_ROC, MBTUI_CURVE_PR, MBTUI_CURVE_CAL, MBTUI_CURVE_RESID, MBTUI_NCURVES };

typedef struct mbtui_series {
    int n, cap;
    double *x, *y, *z;            /* z: calibration bin counts */
} mbtui_series;

typedef struct mbtui_ranked {
    int n, cap;
    char **name;
    double *v, *sd;               /* sd: permutation importance only (else NaN) */
} mbtui_ranked;

typedef struct mbtui_figures {
    char eval_note[200];          /* on which rows the figures were computed */
    mbtui_series curve[MBTUI_NCURVES];
    char curve_note[200];         /* why there are no curves ("" when there are) */
    /* multiclass: ROC (0) and PR (1) of each class against the rest, with
    ** their areas (ROC AUC, average precision) on the full curves */
    int nclasses;
    char classname[MBTUI_MAXCLASSES][24];
    mbtui_series ovr[MBTUI_MAXCLASSES][2];
    double ovr_area[MBTUI_MAXCLASSES][2];
    double vloss[MBTUI_MAXLOSS];  /* validation loss, as the plugin reported it */
    int nvloss;
    mbtui_ranked importance;      /* the model's own importances */
    char importance_kind[64];
    mbtui_ranked shap;            /* global summary: mean |SHAP| (or permutation importance) */
    char method[32];              /* "treeshap", "linear", "permutation" or "" */
    int mapped;                   /* contributions per input column */
    long shap_rows;
    char explain_note[300];       /* the explanation's error, or what the numbers are */
    /* per-row contributions of the first explained rows */
    int ncols;                    /* columns + expected value, per output */
    int noutputs;
    char **colname;               /* ncols - 1 names */
    char **outname;               /* noutputs names (classes), or NULL */
    int nrows, caprows;
    double *phi;                  /* nrows x noutputs x ncols */
    char **truth, **pred;         /* nrows each */
} mbtui_figures;

mbtui_figures *mbtui_figures_new(void);
void mbtui_figures_free(mbtui_figures **f);
/* One line of the worker's figures protocol (job.c lists it); 1 when it
** was one. */
int mbtui_figures_parse(mbtui_figures *f, const char *line);

/* {====== charts (chart.c, through draw.c) ======}
** Braille dots (2 x 4 per cell) when the terminal's encoding is UTF-8,
** else one ASCII character per cell. */

typedef struct mbtui_plot {
    const char *xlabel, *ylabel;
    double x0, x1, y0, y1;        /* the axes' ranges */
    int diagonal;                 /* draw y = x (ROC, calibration) */
    int zero_line;                /* draw y = 0 (residuals) */
} mbtui_plot;

int mbtui_utf8(void);
/* A line (connect) or scatter of n points in r: axes labelled with the
** ranges; series 0 is drawn with attr MBTUI_A_BAR, series 1 MBTUI_A_WARN. */
void mbtui_chart(mbtui_rect r, const mbtui_plot *p, const double *const *xs, const double *const *ys,
                 const int *ns, int nseries, int connect);
/* A horizontal bar of v / max in w cells (eighths, or '#'). */
void mbtui_hbar(int y, int x, int w, int attr, double v, double max);

/* {====== forked children (job.c) ======} */

#include <stdarg.h>

/* In a fresh child: its own process group, default fatal signals (a crash
** kills it, visibly), SIGPIPE ignored, standard input /dev/null. */
void mbtui_child_init(void);
/* One line (newlines inside become spaces) to fd; _exit(4) when the
** workbench is gone. */
void mbtui_vsend(int fd, const char *fmt, va_list ap);
/* Read what fd has (non-blocking), calling fn for each whole line (a line
** longer than cap is cut); -1 at end of file or on an error, else 0. */
int mbtui_read_lines(int fd, char *line, size_t cap, size_t *nline, void (*fn)(void *ud, char *line), void *ud);

/* {====== the Export tab's tasks (view_export.c) ======} */

/* The run the Export tab works on: the one selected in Results when it
** is finished, else the latest finished one; NULL when none. */
mbtui_run *mbtui_selected_run(mbtui_app *a);
/* Read the tasks' pipes, reap them; 1 if anything changed. */
int mbtui_export_poll(mbtui_app *a);
/* Stop the server and the tasks: kill (async-signal-safe) or end them
** cleanly (waits). */
void mbtui_export_kill_all(void);
void mbtui_export_stop_all(void);

#endif
