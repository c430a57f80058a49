/*
** audit.h: the audit trail (docs/audit.md). Every fit, bundle save,
** export and serve/worker start appends one JSON line to an append-only
** log; each line carries the SHA-256 of the line before it ("prev", 64
** zeros for the first), so an edited, deleted or reordered line breaks
** the chain that mb_audit_verify checks.
**
** Recording never fails its caller: a log that cannot be written is a
** warning through the hook of mb_audit_set_warn (the executable and the
** Lua module print it on stderr), and the fit or save goes on.
**
** Thread safety: every call may run on any thread (one process mutex;
** between processes the log is flock'ed while its last line is read and
** the new one appended).
*/
#ifndef MB_AUDIT_H
#define MB_AUDIT_H

#include "mb.h"

#include <stdio.h>

/* The environment variable naming the log ("" = no audit log). */
#define MB_AUDIT_ENV "MOONBENCH_AUDIT_LOG"
/* Longest line the reader accepts (a longer one is reported, not read). */
#define MB_AUDIT_MAX_LINE (1u << 20)

struct mb_bundle;
struct mb_model;

/* The command line recorded in every event of this process: argv with the
** values of secret options (--token, --password..., the password of a
** redis://user:pass@ URL) masked as "***". Without a call, events record
** /proc/self/cmdline (masked the same way). Copies its arguments. */
void mb_audit_set_command(int argc, const char *const *argv);
/* The hook that reports failed audit writes (NULL: mb_log warning). */
void mb_audit_set_warn(void (*fn)(const char *msg));

/* Note a data file this process read (mb_open calls it); every later
** event lists the files read so far with their SHA-256. */
void mb_audit_note_input(const char *path);
/* The SHA-256 of a file as 64 hex digits (hex[65]); cached by the file's
** device, inode, size and modification time. 0, or -1 with errno. */
int mb_audit_file_sha256(const char *path, char hex[65]);

/* The log's path: $MOONBENCH_AUDIT_LOG when set (NULL when it is empty:
** off), else $XDG_STATE_HOME/moonbench/audit.jsonl, else
** ~/.local/state/moonbench/audit.jsonl. buf holds it. */
const char *mb_audit_path(char *buf, size_t size);

/* Events. bundle: the bundle involved (saved, exported, served), with
** its file; output: an export's output (file or folder, may be NULL);
** detail: a short text (serve's address, the worker's stream), may be NULL. */
void mb_audit_bundle_event(const char *event, const char *bundle_path, const struct mb_bundle *b,
                           const char *output, const char *detail);
/* A fitted model (mb_model_fit calls it). */
void mb_audit_fit_event(const struct mb_model *m, size_t rows);

/* Check the whole chain of the log at path. MB_OK and *lines when intact
** (head: the last line's SHA-256, hex[65], may be NULL); else MB_EFORMAT
** with a message naming the first broken line and why (*lines: the lines
** read before it). */
mb_status mb_audit_verify(const char *path, size_t *lines, char head[65], mb_error *err);

/* Read the log line by line: fn(line, len, lineno, ud) for each line
** (without its newline); a line longer than MB_AUDIT_MAX_LINE is given
** with line NULL. fn returns non-zero to stop. MB_EIO naming the file. */
mb_status mb_audit_each(const char *path, int (*fn)(const char *line, size_t len, size_t lineno, void *ud),
                        void *ud, mb_error *err);

#endif
