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

/* Read a whole dataset named by spec into a new frame. */
mb_status mb_open(const char *spec, mb_frame **out, mb_error *err);

#endif
