/*
** h5read.c: HDF5 reading of frames (see h5io.h for the layouts).
**
** DESIGN
** ------
** Every failure becomes an mb_error naming the file, the object and the
** reason (h5int.h has the shared helpers).
**
** Reading converts any numeric HDF5 type to float32 inside H5Dread, so a
** float64 or int8 dataset costs no extra pass. A 2-D dataset lands in one
** row-major block that the frame adopts; its columns are strided views
** (frame.h), which makes reading /X a single H5Dread into the final memory.
** Row ranges are hyperslabs, so only the chunks that hold them are read.
**
** Compound datasets (pandas/PyTables tables, h5py record arrays) are read
** by h5compound.c.
**
** Handles start at H5I_INVALID_HID and are closed at one `exit:` label.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5int.h"

int mb_h5_is_hdf5(const char *path) { return mbh5_has_signature(path); }

/* "2.0 GiB" */
static void human_bytes(char *buf, size_t n, double b)
{
    const char *u[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int k = 0;
    while (b >= 1024 && k < 6) {
        b /= 1024;
        k++;
    }
    snprintf(buf, n, k ? "%.1f %s" : "%.0f %s", b, u[k]);
}

mb_status mbh5_check_read(const char *file, const char *path, hid_t ds, size_t bytes, mb_error *err)
{
    size_t budget = mbh5_read_budget(file), chunk = 0;
    /* HDF5 allocates a whole chunk to decompress it, whatever we read. */
    hid_t p = H5Dget_create_plist(ds), t = H5Dget_type(ds);
    if (p >= 0 && t >= 0 && H5Pget_layout(p) == H5D_CHUNKED) {
        hsize_t cd[H5S_MAX_RANK];
        int r = H5Pget_chunk(p, H5S_MAX_RANK, cd);
        chunk = H5Tget_size(t);
        for (int i = 0; i < r && chunk; i++)
            if (!mb_mul_ok(chunk, (size_t)cd[i], &chunk))
                chunk = SIZE_MAX;
    }
    if (p >= 0)
        H5Pclose(p);
    if (t >= 0)
        H5Tclose(t);
    size_t need = bytes > chunk ? bytes : chunk;
    if (need <= budget)
        return MB_OK;
    char nb[32], fb[32];
    struct stat sb;
    human_bytes(nb, sizeof nb, (double)need);
    human_bytes(fb, sizeof fb, stat(file, &sb) == 0 ? (double)sb.st_size : 0.0);
    return mb_fail(err, MB_EFORMAT,
                   "%s:%s: reading it needs %s%s for a file of %s, more than %zu times its size "
                   "(damaged or crafted? MOONBENCH_MAX_EXPANSION raises the limit)",
                   file, path, nb, need == chunk ? " (one chunk)" : "", fb, mbh5_get_limits()->expansion);
}

/* {====== reading numeric datasets ======} */

/* Select rows [start, start+count) of a dataset of rank r (the other
** dimensions whole) in its file space. */
static hid_t select_rows(hid_t ds, int rank, const hsize_t *dims, hsize_t start, hsize_t count)
{
    hid_t fs = H5Dget_space(ds);
    if (fs < 0)
        return fs;
    hsize_t off[MB_H5_MAXRANK] = {0}, cnt[MB_H5_MAXRANK];
    for (int i = 0; i < rank; i++)
        cnt[i] = dims[i];
    off[0] = start;
    cnt[0] = count;
    if (count > 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0) {
        H5Sclose(fs);
        return H5I_INVALID_HID;
    }
    return fs;
}


/* Read rows of a numeric dataset of any rank >= 1 as float32, row-major,
** into a new block of (*nrows x *width) floats. */
static mb_status read_numeric(const char *file, const char *path, hid_t ds, size_t start,
                              size_t count, float **out, size_t *nrows, size_t *width,
                              mb_error *err)
{
    mb_status rc = MB_OK;
    hid_t space = H5Dget_space(ds), fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    float *buf = NULL;
    hsize_t dims[MB_H5_MAXRANK];
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (rank < 1 || rank > MB_H5_MAXRANK)
        BAIL(mb_fail(err, MB_ESHAPE, "%s:%s: expected a 1-D or 2-D dataset, found rank %d", file,
                     path, rank));
    H5Sget_simple_extent_dims(space, dims, NULL);
    size_t w = 1;
    for (int i = 1; i < rank; i++)
        if (!mb_mul_ok(w, (size_t)dims[i], &w))
            BAIL(mb_fail(err, MB_ESHAPE, "%s:%s: row too large", file, path));
    size_t s, c;
    mbh5_clip_rows((size_t)dims[0], start, count, &s, &c);
    size_t total;
    if (w > mbh5_get_limits()->max_columns)
        BAIL(mb_fail(err, MB_ESHAPE, "%s:%s: %zu columns, more than %zu (MOONBENCH_MAX_COLUMNS raises it)",
                     file, path, w, mbh5_get_limits()->max_columns));
    if (!mb_mul_ok(c, w, &total) || !mb_mul_ok(total, sizeof(float), &total))
        BAIL(mb_fail(err, MB_ENOMEM, "%s:%s: too large to read", file, path));
    if ((rc = mbh5_check_read(file, path, ds, total, err)) != MB_OK)
        goto exit;
    buf = mb_trymalloc_big(total);
    if (!buf)
        BAIL(mb_fail(err, MB_ENOMEM, "%s:%s: no memory for %zu x %zu values", file, path, c, w));
    if (c > 0 && w > 0) {
        fs = select_rows(ds, rank, dims, s, c);
        /* The memory space has the file's shape (rows replaced): a 1-D
        ** target read through a 2-D {n, 1} space makes HDF5 1.10 leave its
        ** fast path and build the selection one element at a time. */
        hsize_t mdims[MB_H5_MAXRANK];
        for (int i = 0; i < rank; i++)
            mdims[i] = dims[i];
        mdims[0] = c;
        ms = H5Screate_simple(rank, mdims, NULL);
        if (fs < 0 || ms < 0 || H5Dread(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf) < 0) {
            char why[256];
            BAIL(mb_fail(err, MB_EH5, "%s:%s: cannot read rows %zu..%zu: %s", file, path, s,
                         s + c, mbh5_reason(why)));
        }
    }
    *out = buf;
    buf = NULL;
    *nrows = c;
    *width = w;
exit:
    mb_free(buf);
    H5CLOSE(H5Sclose, ms);
    H5CLOSE(H5Sclose, fs);
    H5CLOSE(H5Sclose, space);
    return rc;
}

/* Number of rows (first dimension) of a dataset, -1 on error. */
static long long dataset_rows(hid_t ds, int *rank)
{
    hid_t s = H5Dget_space(ds);
    if (s < 0)
        return -1;
    hsize_t dims[MB_H5_MAXRANK];
    int r = H5Sget_simple_extent_ndims(s);
    *rank = r;
    long long n = -1;
    if (r == 0)
        n = 1;
    else if (r > 0 && r <= MB_H5_MAXRANK && H5Sget_simple_extent_dims(s, dims, NULL) >= 0)
        n = (long long)dims[0];
    H5Sclose(s);
    return n;
}

/* Read rows of a 1-D string dataset into categorical column col. */
static mb_status read_strings(const char *file, const char *path, hid_t ds, size_t start,
                              size_t count, mb_column *col, const char *nan_rep, mb_error *err);

static mb_status read_strings(const char *file, const char *path, hid_t ds, size_t start,
                              size_t count, mb_column *col, const char *nan_rep, mb_error *err)
{
    mb_status rc = MB_OK;
    hid_t ft = H5Dget_type(ds), mt = H5I_INVALID_HID;
    mb_dict dict;
    mb_dict_init(&dict, col);
    char *buf = NULL;
    int rank;
    long long n = dataset_rows(ds, &rank);
    int vlen = H5Tis_variable_str(ft) > 0;
    size_t w = vlen ? sizeof(char *) : H5Tget_size(ft);
    if (w == 0 || n < 0 || rank != 1)
        BAIL(mb_fail(err, MB_ESHAPE, "%s:%s: expected a 1-D dataset of strings", file, path));
    if (w > mbh5_get_limits()->max_string)
        BAIL(mb_fail(err, MB_EFORMAT, "%s:%s: strings of %zu bytes, more than %zu (MOONBENCH_MAX_STRING raises it)",
                     file, path, w, mbh5_get_limits()->max_string));
    size_t codes_bytes;
    if (!mb_mul_ok((size_t)n, sizeof(int32_t), &codes_bytes) ||
        (rc = mbh5_check_read(file, path, ds, codes_bytes, err)) != MB_OK)
        BAIL(rc != MB_OK ? rc : mb_fail(err, MB_ESHAPE, "%s:%s: too many rows", file, path));
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, vlen ? H5T_VARIABLE : w);
    H5Tset_cset(mt, H5Tget_cset(ft));
    if (!vlen)
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
    size_t s0, cnt;
    mbh5_clip_rows((size_t)(n < 0 ? 0 : n), start, count, &s0, &cnt);
    size_t block = (1u << 22) / w + 1;
    buf = mb_trymalloc(block * w);
    if (!buf)
        BAIL(mb_fail(err, MB_ENOMEM, "%s:%s: no memory for strings", file, path));
    for (size_t done = 0; done < cnt;) {
        hsize_t off = s0 + done, nb = cnt - done < block ? cnt - done : block;
        hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, &nb, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &off, NULL, &nb, NULL);
        if (H5Dread(ds, mt, ms, fs, H5P_DEFAULT, buf) < 0) {
            char why[256];
            H5Sclose(fs);
            H5Sclose(ms);
            BAIL(mb_fail(err, MB_EH5, "%s:%s: cannot read strings: %s", file, path, mbh5_reason(why)));
        }
        for (size_t i = 0; i < nb && rc == MB_OK; i++) {
            const char *sv;
            size_t len;
            if (vlen) {
                memcpy(&sv, buf + i * w, sizeof sv);
                len = sv ? strlen(sv) : 0;
            } else {
                sv = buf + i * w;
                len = strnlen(sv, w);
            }
            if (!sv || (nan_rep && strlen(nan_rep) == len && memcmp(sv, nan_rep, len) == 0)) {
                col->codes[done + i] = -1;
                continue;
            }
            int32_t code = mb_dict_intern(&dict, sv, len);
            if (code < 0)
                rc = mb_fail(err, MB_ENOMEM, "%s:%s: no memory for categories", file, path);
            col->codes[done + i] = code;
        }
        if (vlen)
            H5Dvlen_reclaim(mt, ms, H5P_DEFAULT, buf);
        H5Sclose(fs);
        H5Sclose(ms);
        if (rc != MB_OK)
            goto exit;
        done += nb;
    }
exit:
    mb_dict_free(&dict);
    mb_free(buf);
    H5CLOSE(H5Tclose, mt);
    H5CLOSE(H5Tclose, ft);
    return rc;
}

/* {====== layouts ======} */

typedef struct reader {
    const char *file;
    hid_t fid;
    size_t start, count;
    mb_error *err;
} reader;

/* "file.h5:/group": what a frame was read from, for messages and provenance. */
static void set_source(mb_frame *f, const char *file, const char *obj)
{
    size_t n = strlen(file) + strlen(obj) + 2;
    f->source = mb_malloc(n);
    snprintf(f->source, n, "%s:%s", file, obj);
}

static int is_dataset(hid_t loc, const char *name)
{
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return 0;
    H5O_info_t info;
    if (H5Oget_info_by_name(loc, name, &info, H5P_DEFAULT) < 0)
        return 0;
    return info.type == H5O_TYPE_DATASET;
}

/* A group holding X, or moonbench's categorical-only matrix layout. */
static int is_matrix_group(hid_t g)
{
    return is_dataset(g, "X") ||
           (H5Lexists(g, "categorical", H5P_DEFAULT) > 0 && is_dataset(g, "categorical/codes"));
}

static int is_pandas_group(hid_t g)
{
    char *pt = mbh5_attr_string(g, "pandas_type");
    int yes = pt && strcmp(pt, "frame_table") == 0 && is_dataset(g, "table");
    mb_free(pt);
    return yes;
}

/* Reorder f's columns by a list of names when it is a permutation of them
** (moonbench's `columns`, pandas' non_index_axes); otherwise leave it. */
static void reorder_columns(mb_frame *f, char **names, size_t n)
{
    if (n != f->ncols || n == 0)
        return;
    mb_column *cols = mb_malloc(n * sizeof *cols);
    char *used = mb_calloc(n, 1);
    long newtarget = -1;
    for (size_t i = 0; i < n; i++) {
        long j = mb_frame_find(f, names[i]);
        if (j < 0 || used[j]) {
            mb_free(cols);
            mb_free(used);
            return;
        }
        used[j] = 1;
        cols[i] = f->cols[j];
        if (j == f->target)
            newtarget = (long)i;
    }
    memcpy(f->cols, cols, n * sizeof *cols);
    f->target = newtarget;
    mb_free(cols);
    mb_free(used);
}

static mb_status check_numeric(const reader *rd, hid_t ds, const char *path)
{
    hid_t t = H5Dget_type(ds);
    H5T_class_t c = H5Tget_class(t);
    char tn[96];
    mbh5_type_name(t, tn, sizeof tn);
    H5Tclose(t);
    if (!mbh5_is_numeric(c))
        return mb_fail(rd->err, MB_ETYPE, "%s:%s: expected a numeric dataset, found %s", rd->file,
                       path, tn);
    return MB_OK;
}

/* /categorical of moonbench's own files: codes (n x q) + levels/<j>. */
static mb_status read_categorical(const reader *rd, hid_t grp, const char *gpath, mb_frame *f,
                                  size_t nrows)
{
    mb_status rc = MB_OK;
    char path[1024];
    mbh5_join_path(path, sizeof path, gpath, "categorical/codes");
    hid_t cg = H5Gopen2(grp, "categorical", H5P_DEFAULT), ds = H5I_INVALID_HID;
    size_t nnames = 0;
    char **names = NULL;
    float *codes = NULL;
    if (cg < 0)
        BAIL(mb_fail(rd->err, MB_EFORMAT, "%s:%s: cannot open", rd->file, path));
    ds = H5Dopen2(cg, "codes", H5P_DEFAULT);
    if (ds < 0)
        BAIL(mb_fail(rd->err, MB_EFORMAT, "%s:%s: missing", rd->file, path));
    names = mbh5_attr_strings(ds, "names", &nnames);
    size_t n, q;
    rc = read_numeric(rd->file, path, ds, rd->start, rd->count, &codes, &n, &q, rd->err);
    if (rc != MB_OK)
        goto exit;
    if (n != nrows || q != nnames)
        BAIL(mb_fail(rd->err, MB_ESHAPE, "%s:%s: %zu x %zu codes for %zu rows and %zu names",
                     rd->file, path, n, q, nrows, nnames));
    for (size_t j = 0; j < q; j++) {
        mb_column *c = mb_frame_add_cat(f, names[j], rd->err);
        if (!c)
            BAIL(MB_ENOMEM);
        char lname[32];
        snprintf(lname, sizeof lname, "levels/%zu", j);
        hid_t lds = H5Dopen2(cg, lname, H5P_DEFAULT);
        if (lds < 0)
            BAIL(mb_fail(rd->err, MB_EFORMAT, "%s:%s/categorical/%s: missing", rd->file, gpath, lname));
        /* Read the level list as a column of its own; its distinct
        ** values, in file order, are the levels. */
        int rank;
        long long nl = dataset_rows(lds, &rank);
        size_t nlb = (size_t)(nl > 0 ? nl : 0) * sizeof(int32_t);
        if ((rc = mbh5_check_read(rd->file, lname, lds, nl >= 0 && nl < (1ll << 40) ? nlb : SIZE_MAX, rd->err)) != MB_OK) {
            H5Dclose(lds);
            goto exit;
        }
        mb_frame *lf = mb_frame_new((size_t)(nl > 0 ? nl : 0));
        mb_column *lc = mb_frame_add_cat(lf, "levels", rd->err);
        rc = lc ? read_strings(rd->file, lname, lds, 0, 0, lc, NULL, rd->err) : MB_ENOMEM;
        H5Dclose(lds);
        if (rc == MB_OK && lc->nlevels != (size_t)nl)
            rc = mb_fail(rd->err, MB_EFORMAT,
                         "%s:%s/categorical/%s: %lld levels of which %zu distinct; levels must be distinct "
                         "and not missing (codes index them)", rd->file, gpath, lname, nl, lc->nlevels);
        if (rc == MB_OK) {
            c->levels = lc->levels;
            c->nlevels = lc->nlevels;
            c->caplevels = lc->caplevels;
            lc->levels = NULL;
            lc->nlevels = lc->caplevels = 0;
        }
        mb_frame_free(&lf);
        if (rc != MB_OK)
            goto exit;
        /* -1 is a missing value (what moonbench writes); any other code
        ** outside the levels is an error, not a silent missing value. */
        for (size_t i = 0; i < n; i++) {
            float v = codes[i * q + j];
            if (v == -1.0f)
                c->codes[i] = -1;
            else if (v >= 0 && v < (float)c->nlevels && v == (float)(int32_t)v)
                c->codes[i] = (int32_t)v;
            else
                BAIL(mb_fail(rd->err, MB_EFORMAT,
                             "%s:%s: code %g in row %zu of column '%s' is outside its %zu levels "
                             "(-1 is missing)", rd->file, path, (double)v, rd->start + i, names[j], c->nlevels));
        }
    }
exit:
    mb_free(codes);
    mbh5_free_strings(names, nnames);
    H5CLOSE(H5Dclose, ds);
    H5CLOSE(H5Gclose, cg);
    return rc;
}

/* Integer class codes yv (n rows) with their names: a categorical target
** column. -1 is a missing label (what moonbench writes for one); any
** other code outside target_names, or a repeated name, is an error. */
static mb_status target_codes(const reader *rd, const char *ypath, mb_frame *f, const char *tname,
                              char **tn, size_t ntn, const float *yv, size_t n)
{
    mb_column *c = mb_frame_add_cat(f, tname, rd->err);
    if (!c)
        return MB_ENOMEM;
    for (size_t k = 0; k < ntn; k++)
        if (mb_column_add_level(c, tn[k], strlen(tn[k])) < 0)
            return mb_fail(rd->err, MB_ENOMEM, "%s:%s: no memory for target_names", rd->file, ypath);
    for (size_t k = 1; k < ntn; k++)
        for (size_t m = 0; m < k && ntn <= 4096; m++)
            if (strcmp(tn[k], tn[m]) == 0)
                return mb_fail(rd->err, MB_EFORMAT, "%s:%s: target_names repeats '%s'", rd->file, ypath, tn[k]);
    for (size_t i = 0; i < n; i++) {
        if (yv[i] == -1.0f)
            continue; /* codes start at -1 */
        if (!(yv[i] >= 0 && yv[i] < (float)ntn))
            return mb_fail(rd->err, MB_EFORMAT,
                           "%s:%s: class code %g in row %zu is outside target_names (%zu names); -1 marks a missing label",
                           rd->file, ypath, (double)yv[i], rd->start + i, ntn);
        c->codes[i] = (int32_t)yv[i];
    }
    return MB_OK;
}

/* A group holding X (and maybe y, categorical). */
static mb_status read_matrix(const reader *rd, hid_t grp, const char *gpath, mb_frame **out)
{
    mb_status rc = MB_OK;
    char xpath[1024], ypath[1024];
    mbh5_join_path(xpath, sizeof xpath, gpath, "X");
    mbh5_join_path(ypath, sizeof ypath, gpath, "y");
    /* moonbench writes no X when every feature is categorical: then the
    ** codes give the row count. */
    int has_x = is_dataset(grp, "X");
    if (!has_x)
        mbh5_join_path(xpath, sizeof xpath, gpath, "categorical/codes");
    hid_t x = H5Dopen2(grp, has_x ? "X" : "categorical/codes", H5P_DEFAULT), y = H5I_INVALID_HID;
    mb_frame *f = NULL;
    float *block = NULL;
    char **names = NULL, **order = NULL, *tname = NULL;
    size_t nnames = 0, norder = 0;
    if (x < 0)
        BAIL(mb_fail(rd->err, MB_EH5, "%s:%s: cannot open", rd->file, xpath));
    if ((rc = check_numeric(rd, x, xpath)) != MB_OK)
        goto exit;
    int xrank, yrank = 0;
    long long xrows = dataset_rows(x, &xrank);
    if (xrank < 1 || xrank > 2)
        BAIL(mb_fail(rd->err, MB_ESHAPE, "%s:%s: expected a 2-D dataset (rows x features), found rank %d",
                     rd->file, xpath, xrank));
    if (xrows == 0)
        BAIL(mb_fail(rd->err, MB_EEMPTY, "%s:%s: the dataset has zero rows", rd->file, xpath));
    if (is_dataset(grp, "y")) {
        y = H5Dopen2(grp, "y", H5P_DEFAULT);
        long long yrows = y >= 0 ? dataset_rows(y, &yrank) : -1;
        if (yrows != xrows)
            BAIL(mb_fail(rd->err, MB_ESHAPE, "%s: %s has %lld rows but %s has %lld; they must match",
                         rd->file, xpath, xrows, ypath, yrows));
        if (yrank != 1)
            BAIL(mb_fail(rd->err, MB_ESHAPE, "%s:%s: expected a 1-D target, found rank %d", rd->file,
                         ypath, yrank));
    }
    size_t n, w = 0;
    if (has_x) {
        rc = read_numeric(rd->file, xpath, x, rd->start, rd->count, &block, &n, &w, rd->err);
        if (rc != MB_OK)
            goto exit;
    } else {
        size_t s0;
        mbh5_clip_rows((size_t)xrows, rd->start, rd->count, &s0, &n);
    }
    f = mb_frame_new(n);
    if (block)
        mb_frame_adopt_block(f, block);
    names = has_x ? mbh5_attr_strings(x, "feature_names", &nnames) : NULL;
    if (names && nnames != w)
        mb_frame_set_note(f, "%s:%s: feature_names has %zu names for %zu columns; names generated",
                          rd->file, xpath, nnames, w);
    for (size_t j = 0; j < w; j++) {
        char gen[32];
        snprintf(gen, sizeof gen, "x%zu", j);
        mb_frame_add_num(f, names && nnames == w ? names[j] : gen, block + j, w, rd->err);
    }
    block = NULL;
    if (H5Lexists(grp, "categorical", H5P_DEFAULT) > 0 &&
        (rc = read_categorical(rd, grp, gpath, f, n)) != MB_OK)
        goto exit;
    if (y >= 0) {
        tname = mbh5_attr_string(grp, "target");
        if (!tname || mb_frame_find(f, tname) >= 0) {
            mb_free(tname);
            tname = mb_strdup(mb_frame_find(f, "y") >= 0 ? "target" : "y");
        }
        hid_t yt = H5Dget_type(y);
        H5T_class_t yc = H5Tget_class(yt);
        H5Tclose(yt);
        size_t ntn = 0;
        char **tn = mbh5_attr_strings(y, "target_names", &ntn);
        if (!tn)
            tn = mbh5_attr_strings(grp, "target_names", &ntn);
        if (yc == H5T_STRING) {
            mb_column *c = mb_frame_add_cat(f, tname, rd->err);
            rc = c ? read_strings(rd->file, ypath, y, rd->start, rd->count, c, NULL, rd->err) : MB_ENOMEM;
        } else if (!mbh5_is_numeric(yc)) {
            rc = mb_fail(rd->err, MB_ETYPE, "%s:%s: expected numbers or strings for the target",
                         rd->file, ypath);
        } else {
            float *yv = NULL;
            size_t yn, yw;
            rc = read_numeric(rd->file, ypath, y, rd->start, rd->count, &yv, &yn, &yw, rd->err);
            if (rc == MB_OK && tn && yc != H5T_INTEGER) {
                rc = mb_fail(rd->err, MB_ETYPE,
                             "%s:%s: target_names (%zu names) on a float target; class codes must be "
                             "integers (drop target_names for regression)", rd->file, ypath, ntn);
                mb_free(yv);
            } else if (rc == MB_OK && tn) {
                rc = target_codes(rd, ypath, f, tname, tn, ntn, yv, yn);
                mb_free(yv);
            } else if (rc == MB_OK) {
                mb_frame_adopt_block(f, yv);
                mb_frame_add_num(f, tname, yv, 1, rd->err);
            }
        }
        mbh5_free_strings(tn, ntn);
        if (rc != MB_OK)
            goto exit;
        f->target = (long)f->ncols - 1;
    }
    order = mbh5_attr_strings(grp, "columns", &norder);
    reorder_columns(f, order, norder);
    set_source(f, rd->file, gpath);
    *out = f;
    f = NULL;
exit:
    mb_frame_free(&f);
    mb_free(block);
    mb_free(tname);
    mbh5_free_strings(names, nnames);
    mbh5_free_strings(order, norder);
    H5CLOSE(H5Dclose, y);
    H5CLOSE(H5Dclose, x);
    return rc;
}

static mb_status read_pandas(const reader *rd, hid_t grp, const char *gpath, mb_frame **out)
{
    mb_status rc = MB_OK;
    char tpath[1024];
    mbh5_join_path(tpath, sizeof tpath, gpath, "table");
    hid_t ds = H5Dopen2(grp, "table", H5P_DEFAULT);
    mb_frame *f = NULL;
    char *pk = NULL, *target = NULL;
    if (ds < 0)
        BAIL(mb_fail(rd->err, MB_EH5, "%s:%s: cannot open", rd->file, tpath));
    int rank;
    long long n = dataset_rows(ds, &rank);
    if (n == 0)
        BAIL(mb_fail(rd->err, MB_EEMPTY, "%s:%s: the table has zero rows", rd->file, tpath));
    size_t s0, cnt;
    mbh5_clip_rows((size_t)n, rd->start, rd->count, &s0, &cnt);
    f = mb_frame_new(cnt);
    if ((rc = mbh5_read_compound(rd->file, tpath, ds, rd->start, rd->count, f, grp, rd->err)) != MB_OK)
        goto exit;
    size_t nn = 0;
    pk = mbh5_attr_string(grp, "non_index_axes");
    char **order = mbh5_pickle_names(pk, &nn);
    reorder_columns(f, order, nn);
    mbh5_free_strings(order, nn);
    target = mbh5_attr_string(grp, "target");
    if (target && mb_frame_find(f, target) >= 0)
        mb_frame_set_target(f, target, NULL);
    set_source(f, rd->file, gpath);
    *out = f;
    f = NULL;
exit:
    mb_free(pk);
    mb_free(target);
    mb_frame_free(&f);
    H5CLOSE(H5Dclose, ds);
    return rc;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Any one dataset. */
static mb_status read_dataset(const reader *rd, const char *path, mb_frame **out)
{
    mb_status rc = MB_OK;
    hid_t ds = H5Dopen2(rd->fid, path, H5P_DEFAULT), t = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    mb_frame *f = NULL;
    float *block = NULL;
    char **names = NULL;
    size_t nnames = 0;
    if (ds < 0) {
        char why[256];
        BAIL(mb_fail(rd->err, MB_EH5, "%s:%s: cannot open: %s", rd->file, path, mbh5_reason(why)));
    }
    t = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(t);
    int rank;
    long long n = dataset_rows(ds, &rank);
    char tn[96];
    mbh5_type_name(t, tn, sizeof tn);
    if (rank == 0)
        BAIL(mb_fail(rd->err, MB_ESHAPE, "%s:%s: a scalar (%s), not a table", rd->file, path, tn));
    if (n == 0)
        BAIL(mb_fail(rd->err, MB_EEMPTY, "%s:%s: the dataset has zero rows", rd->file, path));
    const char *bn = base_name(path);
    size_t s0, cnt;
    mbh5_clip_rows((size_t)n, rd->start, rd->count, &s0, &cnt);
    if (cls == H5T_COMPOUND && rank == 1) {
        f = mb_frame_new(cnt);
        rc = mbh5_read_compound(rd->file, path, ds, rd->start, rd->count, f, H5I_INVALID_HID, rd->err);
    } else if (cls == H5T_STRING && rank == 1) {
        size_t bytes;
        if ((rc = mbh5_check_read(rd->file, path, ds, mb_mul_ok(cnt, 4, &bytes) ? bytes : SIZE_MAX, rd->err)) != MB_OK)
            goto exit;
        f = mb_frame_new(cnt);
        mb_column *c = mb_frame_add_cat(f, bn, rd->err);
        rc = c ? read_strings(rd->file, path, ds, rd->start, rd->count, c, NULL, rd->err) : MB_ENOMEM;
    } else if (mbh5_is_numeric(cls)) {
        size_t w;
        rc = read_numeric(rd->file, path, ds, rd->start, rd->count, &block, &cnt, &w, rd->err);
        if (rc != MB_OK)
            goto exit;
        f = mb_frame_new(cnt);
        mb_frame_adopt_block(f, block);
        names = mbh5_attr_strings(ds, "feature_names", &nnames);
        for (size_t j = 0; j < w; j++) {
            char gen[300];
            if (names && nnames == w)
                snprintf(gen, sizeof gen, "%s", names[j]);
            else if (rank == 1)
                snprintf(gen, sizeof gen, "%s", bn);
            else
                snprintf(gen, sizeof gen, "%s_%zu", bn, j);
            mb_frame_add_num(f, gen, block + j, w, rd->err);
        }
        block = NULL;
        if (rank > 2) {
            sp = H5Dget_space(ds);
            hsize_t d[H5S_MAX_RANK];
            H5Sget_simple_extent_dims(sp, d, NULL);
            char shape[128] = "";
            size_t k = 0;
            for (int i = 0; i < rank && k < sizeof shape; i++)
                k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%llu", i ? " x " : "",
                                      (unsigned long long)d[i]);
            mb_frame_set_note(f, "%s:%s: %d-D dataset (%s) flattened to %zu columns per row",
                              rd->file, path, rank, shape, w);
        }
    } else {
        rc = mb_fail(rd->err, MB_ETYPE, "%s:%s: expected numbers, strings or records, found %s%s",
                     rd->file, path, tn, cls == H5T_STRING ? " with more than one dimension" : "");
    }
    if (rc != MB_OK)
        goto exit;
    set_source(f, rd->file, path);
    *out = f;
    f = NULL;
exit:
    mb_frame_free(&f);
    mb_free(block);
    mbh5_free_strings(names, nnames);
    H5CLOSE(H5Sclose, sp);
    H5CLOSE(H5Tclose, t);
    H5CLOSE(H5Dclose, ds);
    return rc;
}

/* Collect up to max dataset paths of the file, for messages. */
typedef struct ds_list {
    char first[256];         /* relative path of the first dataset */
    char buf[512];
    size_t len, count;
} ds_list;

static herr_t list_ds(hid_t o, const char *name, const H5O_info_t *info, void *ud)
{
    (void)o;
    ds_list *l = ud;
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    if (l->count++ == 0)
        snprintf(l->first, sizeof l->first, "%s", name);
    if (l->len < sizeof l->buf - 80)
        l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s/%s",
                                   l->count > 1 ? ", " : "", name);
    else if (l->len < sizeof l->buf - 8 && l->buf[l->len - 1] != '.')
        l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, ", ...");
    if (l->len >= sizeof l->buf) /* a long name was cut: keep the length in the buffer */
        l->len = sizeof l->buf - 1;
    return 0;
}

static mb_status read_group(const reader *rd, const char *gpath, mb_frame **out)
{
    hid_t g = H5Gopen2(rd->fid, gpath, H5P_DEFAULT);
    if (g < 0)
        return mb_fail(rd->err, MB_EH5, "%s:%s: cannot open group", rd->file, gpath);
    mb_status rc;
    if (is_matrix_group(g)) {
        rc = read_matrix(rd, g, gpath, out);
    } else if (is_pandas_group(g)) {
        rc = read_pandas(rd, g, gpath, out);
    } else {
        /* The first pandas table among the children, else the only dataset. */
        H5G_info_t gi = {0};
        H5Gget_info(g, &gi);
        hsize_t nlinks = gi.nlinks;
        rc = MB_ENOTFOUND;
        for (hsize_t i = 0; i < nlinks && rc == MB_ENOTFOUND; i++) {
            char name[256];
            if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                   H5P_DEFAULT) < 0)
                continue;
            H5O_info_t info;
            H5L_info_t li;
            if (H5Lget_info(g, name, &li, H5P_DEFAULT) < 0 || (li.type != H5L_TYPE_HARD && li.type != H5L_TYPE_SOFT) ||
                H5Oget_info_by_name(g, name, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_GROUP)
                continue;
            hid_t c = H5Gopen2(g, name, H5P_DEFAULT);
            if (c >= 0 && is_pandas_group(c)) {
                char cpath[1024];
                mbh5_join_path(cpath, sizeof cpath, gpath, name);
                rc = read_pandas(rd, c, cpath, out);
            }
            if (c >= 0)
                H5Gclose(c);
        }
        if (rc == MB_ENOTFOUND) {
            ds_list l = {.len = 0, .count = 0};
            H5Ovisit(g, H5_INDEX_NAME, H5_ITER_INC, list_ds, &l);
            if (l.count == 1) {
                char dpath[1024];
                mbh5_join_path(dpath, sizeof dpath, gpath, l.first);
                rc = read_dataset(rd, dpath, out);
            } else if (l.count == 0) {
                rc = mb_fail(rd->err, MB_EEMPTY, "%s:%s: no datasets in this group", rd->file, gpath);
            } else {
                rc = mb_fail(rd->err, MB_ENOTFOUND,
                             "%s:%s: no X dataset or pandas table here; name one of its %zu "
                             "datasets, e.g. %s:%s%s%s (datasets: %s)",
                             rd->file, gpath, l.count, rd->file, gpath,
                             strcmp(gpath, "/") ? "/" : "", l.first, l.buf);
            }
        }
    }
    H5Gclose(g);
    return rc;
}

mb_status mb_h5_read(const char *path, const char *object, size_t row_start, size_t row_count,
                     mb_frame **out, mb_error *err)
{
    *out = NULL;
    hid_t fid = H5I_INVALID_HID;
    mb_status rc = mbh5_probe(path, err);
    if (rc != MB_OK || (rc = mbh5_open(path, &fid, err)) != MB_OK)
        return rc;
    reader rd = {path, fid, row_start, row_count, err};
    const char *obj = (object && object[0]) ? object : "/";
    if (strcmp(obj, "/") != 0 && !mbh5_link_exists(fid, obj)) {
        rc = mb_fail(err, MB_ENOTFOUND, "%s:%s: no such group or dataset in the file", path, obj);
        goto exit;
    }
    H5O_info_t info;
    if (H5Oget_info_by_name(fid, obj, &info, H5P_DEFAULT) < 0) {
        char why[256];
        rc = mb_fail(err, MB_EH5, "%s:%s: cannot read object header: %s", path, obj, mbh5_reason(why));
        goto exit;
    }
    if (info.type == H5O_TYPE_GROUP) {
        rc = read_group(&rd, obj, out);
    } else if (info.type == H5O_TYPE_DATASET) {
        /* A pandas group's table reads as the group (its names live there);
        ** any other dataset, X included, is read alone: name the group
        ** ("file.h5:/train") for X with its target y. */
        char parent[1024];
        snprintf(parent, sizeof parent, "%s", obj);
        char *slash = strrchr(parent, '/');
        if (slash == parent)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        const char *bn = base_name(obj);
        hid_t g = H5Gopen2(fid, parent, H5P_DEFAULT);
        int pandas = g >= 0 && strcmp(bn, "table") == 0 && is_pandas_group(g);
        if (g >= 0)
            H5Gclose(g);
        if (pandas)
            rc = read_group(&rd, parent, out);
        else
            rc = read_dataset(&rd, obj, out);
    } else {
        rc = mb_fail(err, MB_ETYPE, "%s:%s: not a group or dataset", path, obj);
    }
    if (rc == MB_OK) {
        /* The task a file declares (the bundled datasets' and the bench data's
        ** `task` attribute), looked up from the object's group to the root. */
        char g[1024];
        snprintf(g, sizeof g, "%s", obj);
        for (;;) {
            hid_t o = H5Oopen(fid, g, H5P_DEFAULT);
            char *task = o >= 0 ? mbh5_attr_string(o, "task") : NULL;
            if (o >= 0)
                H5Oclose(o);
            if (task) {
                (*out)->task = task;
                break;
            }
            char *slash = strrchr(g, '/');
            if (!slash || strcmp(g, "/") == 0)
                break;
            slash[slash == g ? 1 : 0] = '\0';
        }
    }
exit:
    H5Fclose(fid);
    return rc;
}
