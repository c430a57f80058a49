/*
** tui.h: the internals shared by the files of the workbench (src/tui).
** The only entry point the rest of moonbench sees is mb_tui_main (mbtui.h).
**
** DESIGN
** ------
** As in tig: every action is a named request from one X-macro
** (MBTUI_REQ_INFO: name, default keys, help), from which the enum, the key
** bindings, the `?` screen, the command palette and the status-line hints
** are all generated; bindings are data (keys.c, overridable by a user
** file); each view is a table of operations (mbtui_view_ops: open, draw,
** request, done) whose request function sees a request first, the app's
** generic handler after it. Only draw.c includes curses: views draw
** through mbtui_text and friends with logical attributes.
**
** Threads: the UI thread owns everything but the statistics worker
** (stats.c), which reads the open file in chunks. Core calls that read
** files (HDF5 is not thread-safe in Debian's serial build) run under
** mbtui_core_lock; a training worker is forked while the UI thread holds
** that lock, so the child never inherits a half-done HDF5 call.
*/
#ifndef MB_TUI_H
#define MB_TUI_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#include "mb.h"

/* {====== requests ======}
** REQ_(ID, "name", "default keys (space-separated)", "help") */
#define MBTUI_REQ_INFO(REQ_GROUP, REQ_)                                                          \
    REQ_GROUP("General")                                                                         \
    REQ_(QUIT, "quit", "q C-c", "Quit the workbench (asks first when runs are unsaved or running)")             \
    REQ_(HELP, "help", "? F1", "Show every command and its keys")                                \
    REQ_(PALETTE, "palette", "C-p", "Command palette: run any command by (fuzzy) name")         \
    REQ_(LUA, "lua", ":", "Evaluate Lua against the session (data, runs, mb)")                  \
    REQ_(TREE, "toggle-tree", "t", "Show or hide the file tree; focus it")                       \
    REQ_(FOCUS, "focus", "w", "Move the focus between the file tree and the tab")                \
    REQ_(NEXT_TAB, "next-tab", "Tab", "Next tab")                                               \
    REQ_(PREV_TAB, "prev-tab", "BTab", "Previous tab")                                          \
    REQ_(TAB_DATA, "tab-data", "1", "Data tab: the table, statistics, target and plan")        \
    REQ_(TAB_PIPELINE, "tab-pipeline", "2", "Pipeline tab: transforms and the session's Lua")  \
    REQ_(TAB_MODELS, "tab-models", "3", "Models tab: plugins, parameters, training")           \
    REQ_(TAB_RESULTS, "tab-results", "4", "Results tab: leaderboard, metrics, comparison")     \
    REQ_(TAB_EXPORT, "tab-export", "5", "Export tab: save a bundle, save the session")         \
    REQ_(SAVE_SESSION, "save-session", "W", "Save the session as a Lua script (moonbench run)") \
    REQ_GROUP("Moving")                                                                          \
    REQ_(UP, "up", "Up k", "Cursor up")                                                          \
    REQ_(DOWN, "down", "Down j", "Cursor down")                                                  \
    REQ_(LEFT, "left", "Left h", "Cursor left / collapse")                                       \
    REQ_(RIGHT, "right", "Right l", "Cursor right / expand")                                     \
    REQ_(PAGE_UP, "page-up", "PgUp C-b", "One page up")                                          \
    REQ_(PAGE_DOWN, "page-down", "PgDn C-f Space", "One page down")                              \
    REQ_(FIRST, "first", "Home", "First line")                                                   \
    REQ_(LAST, "last", "End", "Last line")                                                       \
    REQ_(ENTER, "enter", "Enter", "Open / choose / edit the item under the cursor")             \
    REQ_GROUP("Data")                                                                            \
    REQ_(GOTO, "goto-row", "g", "Go to a row number")                                            \
    REQ_(FIND, "find", "/", "Find by (part of) a name: a column, a file in the tree, a model")               \
    REQ_(STATS, "stats", "s", "Statistics, histogram or frequency table of the column")         \
    REQ_(TARGET, "set-target", "T", "Make the column under the cursor the target")              \
    REQ_(PLAN, "plan", "e", "Evaluation plan: hold-out fraction (or k=K folds) and seed")                      \
    REQ_(SORT_ROWS, "sort-rows", "O", "Sort the rows by the column under the cursor (again: descending)") \
    REQ_(FILTER, "filter", "|", "Filter the rows by a Lua expression over the columns")        \
    REQ_(DERIVE, "derive", "=", "Add a column: name = Lua expression over the columns")        \
    REQ_(UNDO, "undo", "u", "Undo the last sort, filter or derived column")                    \
    REQ_GROUP("Pipeline")                                                                        \
    REQ_(ADD_STEP, "add-step", "a", "Add a transform step (menu of the transform kinds)")       \
    REQ_(DELETE, "delete", "d", "Delete the step / reset the parameter to its default")         \
    REQ_(MOVE_UP, "move-up", "<", "Move the step up")                                           \
    REQ_(MOVE_DOWN, "move-down", ">", "Move the step down")                                     \
    REQ_(EDIT, "edit-script", "E", "Edit the pipeline's Lua in the built-in editor (Esc leaves it)") \
    REQ_(EXTERNAL_EDIT, "external-editor", "V", "Edit the pipeline's Lua in $VISUAL / $EDITOR")  \
    REQ_(RUN_SCRIPT, "run-script", "R", "Run the pipeline's Lua in the session (x stops it)")    \
    REQ_(JUMP_ERROR, "jump-to-error", "J", "Put the editor's cursor on the line of the last error") \
    REQ_(SHOW_SESSION, "show-session", "L", "Show the session's Lua (every recorded action) or the script") \
    REQ_GROUP("Models")                                                                          \
    REQ_(TRAIN, "train", "r", "Train the selected model with the form's parameters")            \
    REQ_(CANCEL, "cancel", "x", "Cancel the running training")                                  \
    REQ_GROUP("Results")                                                                         \
    REQ_(SORT, "sort", "o", "Sort the leaderboard by the next column")                          \
    REQ_(MARK, "mark", "m", "Mark the run for comparison (two at most)")                        \
    REQ_(COMPARE, "compare", "c", "Compare the two marked runs (corrected resampled t-test)")  \
    REQ_(EXPORT, "export", "S", "Save the selected run's bundle to a file")                     \
    REQ_(PANE, "cycle-pane", "v", "Results: the next pane (metrics, curves, residuals, loss, importance, explanations)") \
    REQ_GROUP("Export")                                                                          \
    REQ_(EXPORT_CODE, "export-code", "X", "Export the selected run as C (a folder) or ONNX (a .onnx file)") \
    REQ_(SCORE_FILE, "score-file", "P", "Score a data file with the selected run (as moonbench score)") \
    REQ_(SERVE, "serve", "H", "Serve the selected run over HTTP on 127.0.0.1 (as moonbench serve)") \
    REQ_(STOP_SERVER, "stop-server", "K", "Stop the HTTP server")

enum mbtui_request {
    MBTUI_REQ_NONE = 0,
#define MBTUI_REQ_ENUM_(id, name, keys, help) MBTUI_REQ_##id,
#define MBTUI_REQ_GROUP_NONE_(g)
    MBTUI_REQ_INFO(MBTUI_REQ_GROUP_NONE_, MBTUI_REQ_ENUM_)
#undef MBTUI_REQ_ENUM_
    MBTUI_REQ_COUNT
};

typedef struct mbtui_request_info {
    int req;              /* MBTUI_REQ_NONE marks a group heading */
    const char *name;
    const char *keys;
    const char *help;     /* the group's name for a heading */
} mbtui_request_info;

/* Every request and group heading, in table order, ending with name NULL. */
extern const mbtui_request_info mbtui_requests[];
const mbtui_request_info *mbtui_request_find(const char *name);

/* {====== keys (keys.c) ======} */

/* Load the defaults from the table, then the user's file ($MOONBENCH_KEYS,
** else ~/.config/moonbench/keys) if any. Problems in that file are put in
** msg (file:line: what), and the rest of it still applies. */
void mbtui_keys_init(char *msg, size_t n);
int mbtui_keys_lookup(int key);
/* The first key bound to req, as text ("Enter", "C-p"), or "" if none. */
const char *mbtui_keys_for(int req, char *buf, size_t n);
/* All keys bound to req, space-separated. */
const char *mbtui_keys_all(int req, char *buf, size_t n);

/* {====== drawing (draw.c; the only file that includes curses) ======} */

enum {
    MBTUI_A_NORMAL, MBTUI_A_DIM, MBTUI_A_TITLE, MBTUI_A_TAB, MBTUI_A_TAB_ON, MBTUI_A_STATUS,
    MBTUI_A_CURSOR, MBTUI_A_HEADER, MBTUI_A_FROZEN, MBTUI_A_ERROR, MBTUI_A_OK, MBTUI_A_WARN,
    MBTUI_A_BAR, MBTUI_A_KEY, MBTUI_A_MARK, MBTUI_A_COUNT_
};

/* Keys: Unicode characters as themselves; function keys (curses KEY_*)
** offset by MBTUI_KEY_FN so the two never collide. */
#define MBTUI_KEY_FN 0x200000
#define MBTUI_KEY_NONE (-1)
int mbtui_key_code(const char *name);            /* -1 for an unknown name */
const char *mbtui_key_name(int key, char *buf, size_t n);
int mbtui_key_is_resize(int key);
int mbtui_key_is_backspace(int key);
int mbtui_key_is_enter(int key);
int mbtui_key_is_escape(int key);
int mbtui_key_is_up(int key);
int mbtui_key_is_down(int key);

/* Start curses (mono: no colours); 0 or -1 with msg set. */
int mbtui_draw_init(int mono, char *msg, size_t n);
/* End curses; safe to call twice and from a fatal-signal handler. */
void mbtui_draw_end(void);
void mbtui_size(int *rows, int *cols);
void mbtui_erase(void);
/* Write s at (y, x) clipped and padded to exactly w terminal columns;
** returns the columns the text itself took. */
int mbtui_text(int y, int x, int w, int attr, const char *s);
int mbtui_textf(int y, int x, int w, int attr, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void mbtui_cursor(int y, int x, int visible);
/* Leave curses for a program that takes the terminal ($EDITOR), and come back. */
void mbtui_draw_suspend(void);
void mbtui_draw_resume(void);
/* Is key the terminal's extended key of that terminfo name (kLFT5: Ctrl+Left)? */
int mbtui_key_is_ext(int key, const char *name);
void mbtui_flush(void);
/* Next key within timeout_ms (-1 = none). */
int mbtui_getkey(int timeout_ms);
/* Terminal columns of a UTF-8 string (invalid bytes count 1). */
int mbtui_width(const char *s);

/* {====== views ======} */

typedef struct mbtui_rect {
    int y, x, h, w;
} mbtui_rect;

typedef struct mbtui_view mbtui_view;
typedef struct mbtui_app mbtui_app;

typedef struct mbtui_view_ops {
    const char *name;             /* the tab's title */
    const int *hints;             /* requests shown in the status line, 0-terminated */
    int (*open)(mbtui_view *v);
    void (*draw)(mbtui_view *v, mbtui_rect r);
    int (*request)(mbtui_view *v, int req);   /* 1 when handled */
    void (*done)(mbtui_view *v);
    size_t private_size;
    /* optional: a key before the bindings (a text editor takes its typing); 1 when taken */
    int (*key)(mbtui_view *v, int key);
    /* optional: background work between keys; 1 while busy (the loop then polls faster) */
    int (*tick)(mbtui_view *v);
} mbtui_view_ops;

struct mbtui_view {
    const mbtui_view_ops *ops;
    void *priv;
    mbtui_app *app;
};

extern const mbtui_view_ops mbtui_tree_ops, mbtui_data_ops, mbtui_pipeline_ops, mbtui_models_ops,
    mbtui_results_ops, mbtui_export_ops;

enum { MBTUI_TAB_DATA, MBTUI_TAB_PIPELINE, MBTUI_TAB_MODELS, MBTUI_TAB_RESULTS, MBTUI_TAB_EXPORT,
       MBTUI_NTABS };

/* {====== runs (job.c) ======} */

typedef enum { MBTUI_RUN_QUEUED, MBTUI_RUN_RUNNING, MBTUI_RUN_DONE, MBTUI_RUN_FAILED,
               MBTUI_RUN_CANCELLED } mbtui_run_state;

#define MBTUI_MAXMETRICS 48
#define MBTUI_MAXLOSS 240
#define MBTUI_MAXCLASSES 12

typedef struct mbtui_run {
    int id;
    int is_compare;               /* a comparison job, not a model fit */
    char model[64], plugin[64];
    char params[256];             /* parameters that differ from the defaults */
    char *def;                    /* the pipeline's Lua constructor */
    char *lua;                    /* the chunk the run executes (recorded in the session) */
    mbtui_run_state state;
    double fraction;
    char msg[256];
    double loss[MBTUI_MAXLOSS];
    int nloss;
    double started, elapsed;
    char metric_name[MBTUI_MAXMETRICS][32];
    double metric[MBTUI_MAXMETRICS];
    int nmetrics;
    int nclasses;
    char classes[MBTUI_MAXCLASSES][24];
    long confusion[MBTUI_MAXCLASSES][MBTUI_MAXCLASSES];
    char *text;                   /* comparison: the leaderboard text */
    char bundle[512];
    int exported, marked;
    struct mbtui_figures *fig;    /* curves, importances, explanations (results.h) */
    char saved[512];              /* where the Export tab saved the bundle ("" if not) */
    char score_in[512];           /* the Export tab's file to score, between its prompts */
    /* the worker */
    pid_t pid;
    int from_child, to_child;
    char line[16384];
    size_t nline;
    double cancel_at;             /* when cancel was asked (0: not) */
    int term_sent, kill_sent;
    int said_error;               /* the child sent an E line */
} mbtui_run;

/* Queue a run (takes def and lua); starts it when no other runs. */
mbtui_run *mbtui_run_queue(mbtui_app *a, int is_compare, const char *model, const char *plugin,
                           const char *params, char *def, char *lua);
/* Poll workers: read progress, reap, start queued runs. 1 if anything changed. */
int mbtui_runs_poll(mbtui_app *a);
void mbtui_run_cancel(mbtui_app *a, mbtui_run *r);
/* Kill every worker (exit paths). Async-signal-safe. */
void mbtui_runs_kill_all(mbtui_app *a);
double mbtui_run_metric(const mbtui_run *r, const char *name);
int mbtui_runs_unsaved(const mbtui_app *a);
void mbtui_runs_free(mbtui_app *a);

/* {====== the session (session.c) ======} */

/* Create the Lua state with the moonbench module; 0 or -1 and msg. */
int mbtui_session_init(mbtui_app *a, char *msg, size_t n);
void mbtui_session_close(mbtui_app *a);
/* Run a chunk in the session now; record it when it succeeds (and record
** is set). On error returns -1 with the message in a->lua_error. */
int mbtui_session_do(mbtui_app *a, const char *lua, int record);
/* Record a chunk to run when the session is next needed (lazy: opening a
** ten-million-row file must not load it before the first screen). */
void mbtui_session_defer(mbtui_app *a, const char *lua);
/* Run the deferred chunks; -1 on the first error (then dropped). */
int mbtui_session_flush(mbtui_app *a);
/* Add text to the output pane (the Pipeline tab's, under the script). */
void mbtui_session_output(mbtui_app *a, const char *text);
/* Append a chunk to the session text only (for actions run elsewhere). */
void mbtui_session_record(mbtui_app *a, const char *lua);
/* The `:` prompt: evaluate, show the values or the error. */
void mbtui_session_eval(mbtui_app *a, const char *text);
int mbtui_session_save(mbtui_app *a, const char *path, mb_error *err);
/* Write text to path atomically (a temporary file renamed over it). */
int mbtui_write_text(const char *path, const char *text, mb_error *err);
/* The journal: the session text, rewritten after every recorded action to
** journal-PID.lua in $XDG_STATE_HOME/moonbench (~/.local/state/moonbench),
** removed by a clean quit. At start, the journal of a workbench that is no
** longer running (killed terminal, signal, crash) is renamed
** recovered-PID.lua; returns 1 with the message saying where. */
int mbtui_journal_start(mbtui_app *a, char *msg, size_t n);
void mbtui_journal_end(mbtui_app *a);
/* The session's text: the prelude and every recorded chunk. */
char *mbtui_session_text(const mbtui_app *a);
/* Quote s as a Lua string literal into buf. */
const char *mbtui_lua_quote(const char *s, char *buf, size_t n);
struct lua_State *mbtui_session_L(mbtui_app *a);

/* {====== the application (tui.c) ======} */

#define MBTUI_MAXSTEPS 16
#define MBTUI_MAXRUNS 64

typedef struct mbtui_source mbtui_source;   /* data.c: the open file */

struct mbtui_app {
    mbtui_view tree, tabs[MBTUI_NTABS];
    int tab;
    int tree_shown, tree_focus;
    char msg[512];
    int msg_attr;
    /* the data */
    char *data_spec;              /* "file.h5:/obj" of the open data, or NULL */
    char target[256];
    int target_categorical;
    double plan_test;
    int plan_k;                   /* > 0: k-fold cross-validation instead of a hold-out */
    unsigned long plan_seed;
    /* the pipeline: each step as a Lua constructor */
    char *steps[MBTUI_MAXSTEPS];
    int nsteps;
    /* runs */
    mbtui_run *runs[MBTUI_MAXRUNS];
    int nruns;
    int run_cursor;
    char session_dir[256];
    char exe_dir[512];
    /* the session */
    struct lua_State *L;
    char **chunks;                /* recorded chunks */
    int nchunks, capchunks;
    char **deferred;
    int ndeferred;
    int session_saved_at;         /* nchunks when last saved (-1: never) */
    char lua_error[1024];
    char journal[600];            /* "" when there is no journal */
    char *lua_output;             /* the last `:` result */
    /* the model registry, for the forms */
    struct mb_registry *reg;
    /* where a view wants the terminal's cursor (set while drawing; -1: hidden) */
    int cursor_y, cursor_x;
};

/* The Models tab's selected model as Lua (mb.model("name", { ... })), its
** plugin and the parameters that differ from the defaults; -1 and msg when
** there is none or a parameter is refused (view_models.c). */
int mbtui_models_current(mbtui_app *a, char *ctor, size_t n, char *model, char *plugin, size_t mn, char *shown,
                         size_t sn, char *msg, size_t msgn);
/* Select plugin/name in the Models tab with these settings ("key=value"). */
int mbtui_models_select(mbtui_app *a, const char *plugin, const char *name, const char *const *settings, size_t n,
                        char *msg, size_t msgn);

/* Show a message in the status area. */
void mbtui_say(mbtui_app *a, int attr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Modal line input; done(a, text, ud) runs on Enter (not on Esc). */
typedef void (*mbtui_prompt_fn)(mbtui_app *a, const char *text, void *ud);
void mbtui_prompt(mbtui_app *a, const char *label, const char *initial, mbtui_prompt_fn done, void *ud);
/* Modal menu of n items; done(a, index, ud) on Enter. */
typedef void (*mbtui_menu_fn)(mbtui_app *a, int index, void *ud);
void mbtui_menu(mbtui_app *a, const char *title, const char *const *items, int n, mbtui_menu_fn done,
                void *ud);
/* Open data from the tree or a path (file or file:/object). */
int mbtui_open_data(mbtui_app *a, const char *spec);
/* Make column name the target (recorded as data:set_target). */
void mbtui_set_target(mbtui_app *a, const char *name, int categorical);
double mbtui_now(void);

/* The lock around core calls that read files (see DESIGN). */
extern pthread_mutex_t mbtui_core_lock;

/* {====== statistics worker (stats.c) ======} */

#define MBTUI_HBINS 24
#define MBTUI_MAXLEVELS 64

typedef struct mbtui_colstat {
    int categorical;
    size_t count, missing;
    double mean, m2, min, max;
    size_t hist[MBTUI_HBINS];
    size_t nlevels;               /* distinct levels seen (may exceed the kept ones) */
    int nkept;
    char *level[MBTUI_MAXLEVELS];
    size_t level_count[MBTUI_MAXLEVELS];
    size_t other_count;           /* rows of levels past the kept ones */
} mbtui_colstat;

typedef struct mbtui_stats mbtui_stats;
/* Start computing statistics of every column of the source (chunked
** reads in a thread). */
mbtui_stats *mbtui_stats_start(mbtui_source *src);
/* Progress in [0, 1]; 1 when done. */
double mbtui_stats_progress(mbtui_stats *s);
/* Column c's statistics once done, else NULL. Error text when it failed. */
const mbtui_colstat *mbtui_stats_column(mbtui_stats *s, size_t c, const char **error);
/* Stop the thread and free everything; *s becomes NULL. */
void mbtui_stats_stop(mbtui_stats **s);

/* {====== sort, filter, derive in the background (dataops.c) ======} */

struct mb_frame;

/* What runs ("filter", ...) while a data operation owns the session's Lua
** state, else NULL: the UI thread must not touch the state then. */
const char *mbtui_data_busy(const mbtui_app *a);
/* Run lua (a chunk that sets `data`) on a thread after the deferred
** chunks; its frame is kept as registry mbtui.views[level]. 0 or -1. */
int mbtui_dataop_start(mbtui_app *a, const char *what, const char *lua, int level);
/* 0 while running (or none), 1 done (*result: the new `data`), -1 failed
** (err). Records the deferred chunks that ran; not the op's chunk. */
int mbtui_dataop_poll(mbtui_app *a, const struct mb_frame **result, double *seconds, char *err, size_t n);
/* Progress in [0, 1], or -1 before the operation proper started (while
** the deferred chunks load the data). */
double mbtui_dataop_progress(void);
double mbtui_dataop_elapsed(void);
void mbtui_dataop_cancel(void);
/* Cancel and wait (exit paths, another file opened). */
void mbtui_dataop_stop(mbtui_app *a);
/* Let the frame of a view that is gone be collected. */
void mbtui_dataop_forget(mbtui_app *a, int level);
double mbtui_dataop_limit_mb(void);
/* Called by the event loop: finishes a data operation that ended. */
void mbtui_data_poll(mbtui_app *a);

/* {====== the open data (data.c) ======} */

struct mb_frame;
mbtui_source *mbtui_source_open(const char *spec, mb_error *err);
void mbtui_source_free(mbtui_source **s);
size_t mbtui_source_rows(const mbtui_source *s);
/* Rows [start, start + n) as a frame (owned by the caller); locks itself. */
int mbtui_source_read(mbtui_source *s, size_t start, size_t n, struct mb_frame **out, mb_error *err);
const struct mb_frame *mbtui_source_schema(const mbtui_source *s);
/* A source over a frame in memory that stays alive and unchanged while
** the source lives (a view of the Data tab's stack); not freed with it. */
mbtui_source *mbtui_source_wrap(const struct mb_frame *f);
/* The cached page holding row i (UI thread only); *first is its first row.
** NULL with err "busy" when the file is being read by a data operation. */
const struct mb_frame *mbtui_source_page(mbtui_source *s, size_t i, size_t *first, mb_error *err);

#endif
