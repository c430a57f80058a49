/*
** h5io.h: HDF5 reading and writing of frames, and the walk over a file's
** objects that `moonbench inspect` prints. src/core/h5io.c is the only
** file of moonbench that includes hdf5.h; docs/hdf5-layouts.md describes
** the layouts for users.
**
** Layouts read (object = the part after ':' in "file.h5:/path"):
**   - matrix: a group holding a 2-D numeric dataset X and optionally y (as
**     h5py users and moonbench write them); feature names from the
**     `feature_names` attribute of X, class names from `target_names` of y;
**     moonbench's own files add /categorical and a `columns` order;
**   - pandas `to_hdf(format="table")`: a group with a compound `table`
**     (PyTables), column names recovered from the pickled attributes;
**   - any single dataset: 1-D numeric or string (one column), 2-D numeric
**     (one column per column), 3-D and more (flattened per row, with a
**     note), compound (one column per field, arrays expanded).
** With no object: the root as a matrix group, else the first pandas table,
** else the only dataset of the file.
*/
#ifndef MB_H5IO_H
#define MB_H5IO_H

#include "frame.h"

/* Files not yet trusted. Before a data file is read or walked, a forked
** child walks all its metadata (h5probe.c); a crash or a timeout there
** becomes "FILE: damaged (the HDF5 library failed reading it)". Sizes are
** capped, each limit raised by an environment variable (docs/security.md):
**   MOONBENCH_MAX_COLUMNS (1000000)    frame columns from one object
**   MOONBENCH_MAX_STRING (1048576)     bytes of one fixed-length string
**   MOONBENCH_MAX_ATTRIBUTE (64 MiB)   bytes of one attribute's value
**   MOONBENCH_MAX_DEPTH (64)           nesting of groups
**   MOONBENCH_MAX_OBJECTS (1000000)    objects in a walk
**   MOONBENCH_MAX_EXPANSION (1100)     bytes a read may produce per byte of
**                                      file (above 64 MiB; chunks included)
**   MOONBENCH_PROBE_MEMORY (1024)      MiB the probe may map
**   MOONBENCH_PROBE_SECONDS (20)       the probe's time limit
** Links into other files (external links) are never followed. */

/* Does the file hold the HDF5 signature (at 0, 512, 1024, ...)? Reads the
** bytes only. (-1: cannot open it.) */
int mb_h5_is_hdf5(const char *path);

/* Read rows [row_start, row_start + row_count) of an object (row_count 0 =
** to the end; a start past the end reads no rows) as a new frame. Only
** those rows are read from disk (hyperslabs). object may be NULL or "" for
** the automatic choice. Errors name the file, the object and the reason. */
mb_status mb_h5_read(const char *path, const char *object, size_t row_start, size_t row_count,
                     mb_frame **out, mb_error *err);

/* Write a frame in moonbench's matrix layout, atomically (a temporary file
** in the same folder, renamed over path once complete). */
mb_status mb_h5_write(const char *path, const mb_frame *f, mb_error *err);

/* Streaming writer for frames that arrive in chunks (CSV import). The
** schema gives the columns (names, types, target); its nrows is the total
** row count, which is checked at commit. Categorical levels are taken from
** the schema at commit, so they may still grow while chunks are appended. */
typedef struct mb_h5w mb_h5w;
mb_status mb_h5w_begin(const char *path, const mb_frame *schema, mb_h5w **out, mb_error *err);
mb_status mb_h5w_append(mb_h5w *w, const mb_frame *chunk, mb_error *err);
/* Finish and publish the file; on failure nothing is left at path. *w is
** freed and set to NULL in both cases. */
mb_status mb_h5w_commit(mb_h5w **w, const mb_frame *schema, mb_error *err);
/* Drop the temporary file; *w becomes NULL. */
void mb_h5w_abort(mb_h5w **w);

/* {====== walking a file ======} */

#define MB_H5_MAXRANK 8

typedef struct mb_h5_attr {
    const char *name;
    const char *value;   /* a short rendering: "3.5", "[a, b, c]", "'text'" */
} mb_h5_attr;

typedef struct mb_h5_node {
    const char *path;    /* "/train/X" */
    int depth;           /* 0 for the object the walk started at */
    int is_group;
    /* datasets only */
    char type[96];       /* "float32", "int64", "string[30]", "compound{...}" */
    int rank;
    unsigned long long dims[MB_H5_MAXRANK];
    int chunked;
    unsigned long long chunk[MB_H5_MAXRANK];
    char filters[96];    /* "gzip(4)+shuffle", or "" */
    size_t nattrs;
    const mb_h5_attr *attrs;
} mb_h5_node;

/* Called for each object in depth-first, name order; a non-zero return
** stops the walk. Node strings live only during the call. */
typedef int (*mb_h5_visit_fn)(const mb_h5_node *node, void *ud);

/* Walk object (NULL or "" = the whole file) and everything under it. */
mb_status mb_h5_walk(const char *path, const char *object, mb_h5_visit_fn fn, void *ud,
                     mb_error *err);

#endif
