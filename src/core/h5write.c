/*
** h5write.c: writing frames in moonbench's HDF5 matrix layout, in chunks
** and atomically: a temporary file in the target folder, flushed, synced
** and renamed over the destination only when complete.
**
** Layout (docs/hdf5-layouts.md): /X float32 (rows x numeric features) with
** feature_names; /categorical/codes int32 (rows x categorical features)
** with names, and /categorical/levels/<j> the level strings of column j;
** /y float32, or int32 codes with target_names; root attributes columns,
** column_types, target and format. Strings are variable-length UTF-8, as
** h5py writes them.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5int.h"
#include "io.h"


struct mb_h5w {
    char *path;          /* final name */
    char *tmp;           /* temporary file in the same folder */
    hid_t fid, x, codes, y;
    size_t nnum, ncat;   /* numeric and categorical feature columns */
    size_t rows;         /* appended so far */
    float *xbuf;         /* one chunk of rows, row-major */
    int32_t *cbuf;
    size_t bufrows;
};

static hid_t make_dataset(hid_t loc, const char *name, hid_t type, int rank, size_t width,
                          size_t chunk_rows)
{
    hsize_t dims[2] = {0, width}, maxd[2] = {H5S_UNLIMITED, width}, ch[2] = {chunk_rows, width};
    hid_t s = H5Screate_simple(rank, dims, maxd), p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(p, rank, ch);
    hid_t d = H5Dcreate2(loc, name, type, s, H5P_DEFAULT, p, H5P_DEFAULT);
    H5Pclose(p);
    H5Sclose(s);
    return d;
}

static int append_rows(hid_t ds, int rank, size_t width, size_t at, size_t n, hid_t mtype,
                       const void *buf)
{
    hsize_t nd[2] = {at + n, width}, off[2] = {at, 0}, cnt[2] = {n, width};
    if (H5Dset_extent(ds, nd) < 0)
        return -1;
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(rank, cnt, NULL);
    int ok = H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
             H5Dwrite(ds, mtype, ms, fs, H5P_DEFAULT, buf) >= 0;
    H5Sclose(fs);
    H5Sclose(ms);
    return ok ? 0 : -1;
}

void mb_h5w_abort(mb_h5w **pw)
{
    if (!pw || !*pw)
        return;
    mb_h5w *w = *pw;
    H5CLOSE(H5Dclose, w->x);
    H5CLOSE(H5Dclose, w->codes);
    H5CLOSE(H5Dclose, w->y);
    H5CLOSE(H5Fclose, w->fid);
    mb_tmp_discard(&w->tmp);
    mb_free(w->path);
    mb_free(w->xbuf);
    mb_free(w->cbuf);
    mb_free(w);
    *pw = NULL;
}

mb_status mb_h5w_begin(const char *path, const mb_frame *schema, mb_h5w **out, mb_error *err)
{
    mbh5_init();
    *out = NULL;
    mb_status rc = MB_OK;
    mb_h5w *w = mb_calloc(1, sizeof *w);
    w->fid = w->x = w->codes = w->y = H5I_INVALID_HID;
    w->path = mb_strdup(path);
    if ((rc = mbh5_create_atomic(path, 0, &w->tmp, &w->fid, err)) != MB_OK)
        goto exit;
    for (size_t j = 0; j < schema->ncols; j++) {
        if ((long)j == schema->target)
            continue;
        if (schema->cols[j].type == MB_COL_NUM)
            w->nnum++;
        else
            w->ncat++;
    }
    /* About 1 MiB chunks of whole rows: good for row-range reads. */
    size_t width = w->nnum > w->ncat ? w->nnum : w->ncat;
    if (width == 0)
        width = 1;
    w->bufrows = (1u << 20) / (4 * width);
    if (w->bufrows < 64)
        w->bufrows = 64;
    if (w->nnum)
        w->x = make_dataset(w->fid, "X", H5T_IEEE_F32LE, 2, w->nnum, w->bufrows);
    if (w->ncat) {
        hid_t g = H5Gcreate2(w->fid, "categorical", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) {
            w->codes = make_dataset(g, "codes", H5T_STD_I32LE, 2, w->ncat, w->bufrows);
            H5Gclose(g);
        }
    }
    if (schema->target >= 0)
        w->y = make_dataset(w->fid, "y",
                            schema->cols[schema->target].type == MB_COL_NUM ? H5T_IEEE_F32LE
                                                                            : H5T_STD_I32LE,
                            1, 1, 16 * w->bufrows);
    if ((w->nnum && w->x < 0) || (w->ncat && w->codes < 0) || (schema->target >= 0 && w->y < 0)) {
        char why[256];
        BAIL(mb_fail(err, MB_EH5, "cannot create datasets in %s: %s", path, mbh5_reason(why)));
    }
    w->xbuf = mb_trycalloc(w->bufrows, (w->nnum ? w->nnum : 1) * sizeof(float));
    w->cbuf = mb_trycalloc(w->bufrows, (w->ncat ? w->ncat : 1) * sizeof(int32_t));
    if (!w->xbuf || !w->cbuf)
        BAIL(mb_fail(err, MB_ENOMEM, "no memory to write %s", path));
    *out = w;
    w = NULL;
exit:
    mb_h5w_abort(&w);
    return rc;
}

mb_status mb_h5w_append(mb_h5w *w, const mb_frame *f, mb_error *err)
{
    for (size_t r0 = 0; r0 < f->nrows; r0 += w->bufrows) {
        size_t n = f->nrows - r0 < w->bufrows ? f->nrows - r0 : w->bufrows;
        size_t jn = 0, jc = 0;
        for (size_t j = 0; j < f->ncols; j++) {
            const mb_column *c = &f->cols[j];
            if ((long)j == f->target)
                continue;
            if (c->type == MB_COL_NUM) {
                for (size_t i = 0; i < n; i++)
                    w->xbuf[i * w->nnum + jn] = MB_NUM(c, r0 + i);
                jn++;
            } else {
                for (size_t i = 0; i < n; i++)
                    w->cbuf[i * w->ncat + jc] = c->codes[r0 + i];
                jc++;
            }
        }
        int bad = (w->nnum && append_rows(w->x, 2, w->nnum, w->rows, n, H5T_NATIVE_FLOAT, w->xbuf) < 0) ||
                  (w->ncat && append_rows(w->codes, 2, w->ncat, w->rows, n, H5T_NATIVE_INT32, w->cbuf) < 0);
        if (!bad && f->target >= 0) {
            const mb_column *t = &f->cols[f->target];
            if (t->type == MB_COL_NUM) {
                for (size_t i = 0; i < n; i++)
                    w->xbuf[i] = MB_NUM(t, r0 + i);
                bad = append_rows(w->y, 1, 1, w->rows, n, H5T_NATIVE_FLOAT, w->xbuf) < 0;
            } else {
                bad = append_rows(w->y, 1, 1, w->rows, n, H5T_NATIVE_INT32, t->codes + r0) < 0;
            }
        }
        if (bad) {
            char why[256];
            return mb_fail(err, MB_EH5, "cannot write rows to %s: %s", w->path, mbh5_reason(why));
        }
        w->rows += n;
    }
    return MB_OK;
}

mb_status mb_h5w_commit(mb_h5w **pw, const mb_frame *schema, mb_error *err)
{
    mb_status rc = MB_OK;
    mb_h5w *w = *pw;
    size_t nc = schema->ncols;
    const char **names = mb_calloc(nc + 1, sizeof *names);
    const char **kinds = mb_calloc(nc + 1, sizeof *kinds);
    const char **fn = mb_calloc(nc + 1, sizeof *fn);
    const char **cn = mb_calloc(nc + 1, sizeof *cn);
    size_t nfn = 0, ncn = 0;
    int bad = 0;
    for (size_t j = 0; j < nc; j++) {
        const mb_column *c = &schema->cols[j];
        names[j] = c->name;
        kinds[j] = c->type == MB_COL_NUM ? "numeric" : "categorical";
        if ((long)j == schema->target)
            continue;
        if (c->type == MB_COL_NUM)
            fn[nfn++] = c->name;
        else
            cn[ncn++] = c->name;
    }
    if (w->x >= 0)
        bad |= mbh5_write_strings(w->x, "feature_names", fn, nfn, 0);
    if (w->codes >= 0) {
        bad |= mbh5_write_strings(w->codes, "names", cn, ncn, 0);
        hid_t lg = H5Gcreate2(w->fid, "categorical/levels", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t st = mbh5_vlen_str_type();
        size_t k = 0;
        for (size_t j = 0; j < nc && lg >= 0; j++) {
            const mb_column *c = &schema->cols[j];
            if ((long)j == schema->target || c->type != MB_COL_CAT)
                continue;
            char lname[32];
            snprintf(lname, sizeof lname, "%zu", k++);
            hsize_t d = c->nlevels;
            hid_t s = H5Screate_simple(1, &d, NULL);
            hid_t ds = H5Dcreate2(lg, lname, st, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            bad |= ds < 0 || (d && H5Dwrite(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->levels) < 0);
            if (ds >= 0)
                H5Dclose(ds);
            H5Sclose(s);
        }
        H5Tclose(st);
        bad |= lg < 0;
        if (lg >= 0)
            H5Gclose(lg);
    }
    if (schema->target >= 0) {
        const mb_column *t = &schema->cols[schema->target];
        if (t->type == MB_COL_CAT)
            bad |= mbh5_write_strings(w->y, "target_names", (const char *const *)t->levels, t->nlevels, 0);
        bad |= mbh5_write_strings(w->fid, "target", (const char *const *)&t->name, 1, 1);
    }
    bad |= mbh5_write_strings(w->fid, "columns", names, nc, 0);
    bad |= mbh5_write_strings(w->fid, "column_types", kinds, nc, 0);
    const char *fmt = "moonbench-frame 1";
    bad |= mbh5_write_strings(w->fid, "format", &fmt, 1, 1);
    if (bad) {
        char why[256];
        BAIL(mb_fail(err, MB_EH5, "cannot write names to %s: %s", w->path, mbh5_reason(why)));
    }
    if (w->rows != schema->nrows)
        BAIL(mb_fail(err, MB_EARG, "%s: %zu rows written, %zu expected", w->path, w->rows,
                     schema->nrows));
    H5CLOSE(H5Dclose, w->x);
    H5CLOSE(H5Dclose, w->codes);
    H5CLOSE(H5Dclose, w->y);
    rc = mbh5_publish(&w->fid, &w->tmp, w->path, 0, err);
exit:
    mb_free(names);
    mb_free(kinds);
    mb_free(fn);
    mb_free(cn);
    mb_h5w_abort(pw);
    return rc;
}

mb_status mb_h5_write(const char *path, const mb_frame *f, mb_error *err)
{
    mb_h5w *w;
    mb_status rc = mb_h5w_begin(path, f, &w, err);
    if (rc != MB_OK)
        return rc;
    if ((rc = mb_h5w_append(w, f, err)) != MB_OK) {
        mb_h5w_abort(&w);
        return rc;
    }
    return mb_h5w_commit(&w, f, err);
}
