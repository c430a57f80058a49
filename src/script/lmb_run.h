/*
** lmb_run.h: running Lua code that moonbench did not write, from C.
** `moonbench run` (src/cli/run.c), `moonbench predict`, the fuzz targets and
** the unit tests use these; docs/security.md states the guarantees.
**
** A state made by mb_lua_newstate has:
**   - an allocator that counts against one process-wide memory budget,
**     shared with moonbench's C allocations (frames, vectors, models:
**     mb_lua_budget installs a counting mb_allocator), so --memory bounds
**     both. Past the budget Lua raises "not enough memory" and C's
**     fallible allocations return NULL (an "out of memory" error).
**   - a count hook (every MB_LUA_HOOK_EVERY instructions) that every
**     coroutine inherits (lua_newthread copies the creator's hook): it
**     raises when ctl->stop is set (Ctrl-C, a timeout) or when ctl's
**     instruction budget is spent. Lua disables hooks inside __gc
**     finalizers and a long C call (string.find) never reaches one: the
**     caller keeps a watchdog for those (run.c: a second SIGALRM).
** mb_lua_open then opens the standard libraries and preloads
** require "moonbench"; with sandbox set it also installs the sandbox:
**   - text chunks only on every path: load, loadfile, dofile and require
**     (package.searchers: preload, then Lua files read as text; no C
**     searchers); string.dump removed;
**   - no os.execute, os.remove, os.rename, os.tmpname, os.getenv,
**     os.setlocale, io.popen, io.output, package.loadlib, debug library;
**   - files are written only under the sandbox folder (mbl_check_write):
**     no symbolic link, no file with more than one hard link, no device or
**     FIFO as the target, and the folder resolved with realpath.
**
** Thread safety: the budget is process-wide and atomic; a lua_State is used
** from one thread; mb_lua_stop is async-signal-safe.
*/
#ifndef MB_LMB_RUN_H
#define MB_LMB_RUN_H

#include <signal.h>
#include <stddef.h>

#include <lua.h>

#include "bundle.h"

#define MB_LUA_HOOK_EVERY 1000

/* Why a script stops: mb_lua_ctl.stop */
enum { MB_LUA_RUN, MB_LUA_INTERRUPTED, MB_LUA_TIMEOUT, MB_LUA_STEPS };

typedef struct mb_lua_ctl {
    volatile sig_atomic_t stop;   /* MB_LUA_*: set by a signal handler or the hook */
    unsigned long long max_steps; /* instruction budget in hook ticks (x MB_LUA_HOOK_EVERY); 0 none */
    unsigned long long steps;
} mb_lua_ctl;

/* Set the memory budget in bytes (0: unlimited) for Lua and C allocations
** from now on; the first call with a limit installs the counting
** allocator. Call before creating states and starting work. */
void mb_lua_budget(size_t max);
/* Bytes counted so far and the limit (0: none). */
size_t mb_lua_budget_used(void);
size_t mb_lua_budget_max(void);
/* Did an allocation fail because of the budget? (for messages) */
int mb_lua_budget_hit(void);

/* A new state (NULL if even that fails). ctl must outlive it. */
lua_State *mb_lua_newstate(mb_lua_ctl *ctl);
/* [-0, +0, e] Open the libraries, preload "moonbench", and with sandbox
** set confine the state to the folder (NULL: the working folder). Run it
** under lua_pcall (lua_pushcfunction(L, mb_lua_open_sandbox) does both). */
void mb_lua_open(lua_State *L, int sandbox, const char *folder);
int mb_lua_open_sandbox(lua_State *L);
/* Ask the state to stop at its next hook (async-signal-safe). */
void mb_lua_stop(mb_lua_ctl *ctl, int why);

/* Run a text chunk in a fresh sandboxed state (writes under the working
** folder; at most max_steps hook ticks, 0 for no limit; memory as set by
** mb_lua_budget): 0 when it ran, 1 with msg filled when it raised. For fuzz
** targets and tests: no input may crash it. */
int mb_lua_run_sandboxed(const char *text, size_t len, unsigned long long max_steps, char *msg, size_t msglen);

/* Lua steps of a bundle, for C scorers (moonbench predict, score): give
** the scorer opened from b an applier for its "lua" steps, each loaded in
** a restricted environment (no os, io, package, debug, load, require
** other than "moonbench", file writes, metatables) of a private state.
** With allow 0, or a bundle whose steps are all C, nothing runs: a
** bundle with a Lua step is refused with "PATH: pipeline step N is a Lua
** transform; loading it runs code from the bundle: pass --allow-lua (or
** {allow_lua=true}) if you trust it". mb_scorer_close frees it all. */
mb_status mb_lua_scorer_steps(mb_scorer *s, const char *path, int allow, mb_error *err);

#endif
