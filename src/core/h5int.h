/*
** h5int.h: internals shared by the HDF5 I/O files of src/core (h5util.c,
** h5read.c, h5write.c, h5walk.c, h5probe.c): only these and this header
** include hdf5.h. Nothing here is public API.
*/
#ifndef MB_H5INT_H
#define MB_H5INT_H

#include <hdf5.h>

#include "h5io.h"

/* goto-cleanup: set rc and jump to the one exit label */
#define BAIL(s)        \
    do {               \
        rc = (s);      \
        goto exit;     \
    } while (0)

#define H5CLOSE(fn, h)              \
    do {                            \
        if ((h) >= 0)               \
            (void)fn(h);            \
        (h) = H5I_INVALID_HID;      \
    } while (0)

/* Switch HDF5's own error printing off (once). */
void mbh5_init(void);
/* HDF5's innermost error description, for appending to our messages. */
const char *mbh5_reason(char buf[256]);
/* Open a file read-only, with messages for missing, non-HDF5 and damaged files. */
mb_status mbh5_open(const char *path, hid_t *fid, mb_error *err);

/* {====== limits for files not yet trusted ======} */

/* What a data file may ask of moonbench (docs/security.md); each can be
** raised with the environment variable named, read once. */
typedef struct mbh5_limits {
    size_t max_columns;    /* MOONBENCH_MAX_COLUMNS: frame columns from one object */
    size_t max_string;     /* MOONBENCH_MAX_STRING: bytes of one fixed-length string type */
    size_t max_attribute;  /* MOONBENCH_MAX_ATTRIBUTE: bytes of one attribute's value */
    size_t max_depth;      /* MOONBENCH_MAX_DEPTH: nesting of groups */
    size_t max_objects;    /* MOONBENCH_MAX_OBJECTS: objects a walk visits */
    size_t expansion;      /* MOONBENCH_MAX_EXPANSION: bytes a read may produce per file byte */
    size_t probe_mb;       /* MOONBENCH_PROBE_MEMORY: MiB the probe may add to the process */
    size_t probe_seconds;  /* MOONBENCH_PROBE_SECONDS */
} mbh5_limits;
const mbh5_limits *mbh5_get_limits(void);
/* Bytes a read from path may allocate: the larger of 64 MiB and the file
** size times the expansion limit (gzip packs at most ~1032:1). */
size_t mbh5_read_budget(const char *path);
/* Does the file hold the HDF5 signature at 0, 512, 1024, ... (HDF5's own
** rule)? 1 yes, 0 no, -1 cannot read it. Reads bytes only: no HDF5. */
int mbh5_has_signature(const char *path);

/* Validate a data file's metadata in a forked child (h5probe.c); MB_OK
** when it is safe to read in this process. */
mb_status mbh5_probe(const char *path, mb_error *err);
/* mb_h5_walk without the probe (what the probe's child runs). */
mb_status mbh5_walk_file(const char *path, const char *object, mb_h5_visit_fn fn, void *ud,
                         mb_error *err);

/* Is the attribute's value (npoints of type t) within MOONBENCH_MAX_ATTRIBUTE? */
int mbh5_attr_size_ok(hid_t a, hid_t t, size_t npoints);
/* A scalar string attribute as a new string; NULL when absent or not a string. */
char *mbh5_attr_string(hid_t obj, const char *name);
/* A 1-D string-array attribute as n new strings; NULL when absent. */
char **mbh5_attr_strings(hid_t obj, const char *name, size_t *n);
void mbh5_free_strings(char **v, size_t n);
/* The names in a pandas protocol-0 pickle (each "V<name>" line). */
char **mbh5_pickle_names(const char *pk, size_t *n);

int mbh5_is_numeric(H5T_class_t c);
/* "float32", "uint8", "string[30]", "compound{6 fields}", ... */
void mbh5_type_name(hid_t t, char *buf, size_t n);
/* Does path exist (checking every step, as H5Lexists needs)? Links to
** other files (external, user-defined) are not followed: 0. */
int mbh5_link_exists(hid_t loc, const char *path);
void mbh5_join_path(char *buf, size_t n, const char *dir, const char *name);

/* The row window [start, start+count) clipped to n rows. */
static inline void mbh5_clip_rows(size_t n, size_t start, size_t count, size_t *s, size_t *c)
{
    *s = start > n ? n : start;
    *c = (count == 0 || count > n - *s) ? n - *s : count;
}

/* Columns of a compound dataset (rows [start, start+count) of ds) added
** to f. pandas is the table's group for a pandas table (its index field is
** dropped, its names are read from the group), or H5I_INVALID_HID. */
mb_status mbh5_read_compound(const char *file, const char *path, hid_t ds, size_t start,
                             size_t count, mb_frame *f, hid_t pandas, mb_error *err);
/* Can a read that allocates `bytes` from dataset ds of file go ahead
** (within mbh5_read_budget, and chunks too)? An error names the limit. */
mb_status mbh5_check_read(const char *file, const char *path, hid_t ds, size_t bytes, mb_error *err);

/* {====== writing ======} */

hid_t mbh5_vlen_str_type(void);
/* Variable-length UTF-8 strings as an attribute (h5py's form): n values,
** or one scalar. 0 on success, -1 on failure. */
int mbh5_write_strings(hid_t obj, const char *name, const char *const *v, size_t n, int scalar);
int mbh5_write_string(hid_t obj, const char *name, const char *v);
int mbh5_write_int(hid_t obj, const char *name, long long v);
int mbh5_read_int(hid_t obj, const char *name, long long *v);
/* Create a new file as a temporary (*tmp) in path's folder; mbh5_publish
** closes it, syncs it and renames it over path (or removes it on failure).
** Together they make every write atomic. A sealed file starts with an
** HDF5 user block holding MBH5_SEAL_TAG and the SHA-256 of the rest of the
** file, checked by mbh5_check_seal before HDF5 reads anything. */
#define MBH5_SEAL_SIZE 512
#define MBH5_SEAL_TAG "moonbench sealed file; sha256 of bytes 512..end: "
mb_status mbh5_create_atomic(const char *path, int sealed, char **tmp, hid_t *fid, mb_error *err);
mb_status mbh5_publish(hid_t *fid, char **tmp, const char *path, int sealed, mb_error *err);
mb_status mbh5_check_seal(const char *path, mb_error *err);

#endif
