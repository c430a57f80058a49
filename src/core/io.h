/*
** io.h: opening data by name, whatever its format: "data.csv",
** "data.h5", "data.h5:/group/dataset". The one entry point the CLI, the
** Lua module and the UI use to turn a name into a frame.
*/
#ifndef MB_IO_H
#define MB_IO_H

#include "frame.h"

/* Split "file.h5:/group/ds" into a file path and an object path. The
** object starts at the first ":/" whose prefix names an existing file, so
** paths with other colons still work; *object is NULL when there is none.
** The caller frees both with mb_free. */
void mb_split_spec(const char *spec, char **file, char **object);

/* Is this file an HDF5 file (by signature), a CSV (by name: .csv, .tsv,
** .txt), or neither? */
typedef enum mb_format { MB_FMT_UNKNOWN, MB_FMT_HDF5, MB_FMT_CSV } mb_format;
mb_format mb_guess_format(const char *file);

/* {====== atomic writes ======}
** A file is written as a temporary beside its final name, synced, and
** renamed over it only when complete: a failed or interrupted write never
** leaves a partial file at path. */

/* Can path be written? Only a new name or a regular file (not a symbolic
** link to one) may be replaced: a device, FIFO, socket, folder or symbolic
** link is refused (MB_EARG, naming the path and what it is), so that `-o
** /dev/full` as root never swaps a device node for a file. mb_tmp_create
** and mb_tmp_publish check it, so every writer of moonbench gets it. */
mb_status mb_output_check(const char *path, mb_error *err);
/* For commands, before any work: mb_output_check(output), then is output
** one of the command's inputs (ninputs names; "file.h5:/obj" specs are
** split; NULL entries and inputs that do not exist are skipped)? The same
** file by st_dev/st_ino (a hard link or another spelling of the name is
** the same file) -> MB_EARG naming both, so that an atomic rename never
** replaces the data being read. */
mb_status mb_output_check_inputs(const char *output, const char *const *inputs, size_t ninputs, mb_error *err);

/* A new temporary file in path's folder, with the mode a new file would
** get; *tmp is its name (freed by publish or discard). Returns the open
** descriptor, or -1 with err set (a missing folder is named; path is
** checked with mb_output_check first). */
int mb_tmp_create(const char *path, char **tmp, mb_error *err);
/* fsync and close fd (-1: the caller did both), then rename *tmp over
** path (checked again with mb_output_check: it may have changed while the
** file was written); on failure the temporary is removed. *tmp is freed. */
mb_status mb_tmp_publish(int fd, char **tmp, const char *path, mb_error *err);
/* Remove the temporary (after a failure); *tmp is freed. */
void mb_tmp_discard(char **tmp);

/* Read a whole dataset named by spec into a new frame. */
mb_status mb_open(const char *spec, mb_frame **out, mb_error *err);

#endif
