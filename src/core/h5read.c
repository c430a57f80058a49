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
** in blocks of rows through a packed memory type in which every numeric
** field is float32 and every string field a fixed or variable-length C
** string; HDF5 converts, we scatter into columns and intern strings.
**
** Handles start at H5I_INVALID_HID and are closed at one `exit:` label.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5int.h"

int mb_h5_is_hdf5(const char *path)
{
    mbh5_init();
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    fclose(fp);
    htri_t r = H5Fis_hdf5(path);
    return r > 0;
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

/* The row window [start, start+count) clipped to n rows. */
static void clip_rows(size_t n, size_t start, size_t count, size_t *s, size_t *c)
{
    *s = start > n ? n : start;
    *c = (count == 0 || count > n - *s) ? n - *s : count;
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
    clip_rows((size_t)dims[0], start, count, &s, &c);
    size_t total;
    if (!mb_mul_ok(c, w, &total) || !mb_mul_ok(total, sizeof(float), &total))
        BAIL(mb_fail(err, MB_ENOMEM, "%s:%s: too large to read", file, path));
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

/* {====== compound datasets ======} */

typedef struct field_plan {
    char *name;          /* field name in the file */
    int kind;            /* 0 numeric, 1 fixed string, 2 variable string, -1 skipped */
    size_t width;        /* array length (1 for scalars) */
    int arank;           /* array rank, 0 for scalars */
    hsize_t adims[MB_H5_MAXRANK];
    size_t strsize;      /* fixed string size */
    size_t offset;       /* in the packed memory record */
    long col0;           /* first frame column */
    mb_dict *dicts;      /* per element, for strings */
} field_plan;

/* Columns of a compound dataset, read in blocks of rows. pandas tables
** name their array fields' columns in `values_block_N_kind` attributes and
** store missing strings as nan_rep. `pandas` is the table's group for a
** pandas table (its index field is dropped), or H5I_INVALID_HID. */
static mb_status read_compound(const char *file, const char *path, hid_t ds, size_t start,
                               size_t count, mb_frame *f, hid_t pandas, mb_error *err)
{
    mb_status rc = MB_OK;
    hid_t ft = H5Dget_type(ds), mt = H5I_INVALID_HID, vstr = H5I_INVALID_HID;
    int nm = ft >= 0 ? H5Tget_nmembers(ft) : -1;
    field_plan *plan = NULL;
    char *nan_rep = NULL;
    unsigned char *rec = NULL;
    int skipped = 0;
    if (nm <= 0)
        BAIL(mb_fail(err, MB_EFORMAT, "%s:%s: compound type without fields", file, path));
    plan = mb_calloc((size_t)nm, sizeof *plan);
    if (pandas >= 0)
        nan_rep = mbh5_attr_string(pandas, "nan_rep");
    vstr = H5Tcopy(H5T_C_S1);
    H5Tset_size(vstr, H5T_VARIABLE);
    H5Tset_cset(vstr, H5T_CSET_UTF8);
    /* Plan the packed memory record. */
    size_t off = 0;
    for (int i = 0; i < nm; i++) {
        field_plan *p = &plan[i];
        p->name = H5Tget_member_name(ft, (unsigned)i);
        p->kind = -1;
        p->width = 1;
        hid_t mtp = H5Tget_member_type(ft, (unsigned)i), base = H5Tcopy(mtp);
        if (H5Tget_class(mtp) == H5T_ARRAY) {
            int ar = H5Tget_array_ndims(mtp);
            if (ar > 0 && ar <= MB_H5_MAXRANK) {
                H5Tget_array_dims2(mtp, p->adims);
                p->arank = ar;
                for (int k = 0; k < ar; k++)
                    if (!mb_mul_ok(p->width, (size_t)p->adims[k], &p->width) || p->width > ((size_t)1 << 24))
                        p->width = 0; /* absurd: refused below */
            }
            H5Tclose(base);
            base = H5Tget_super(mtp);
        }
        H5T_class_t bc = H5Tget_class(base);
        if (pandas >= 0 && strcmp(p->name, "index") == 0)
            p->kind = -1;
        else if (mbh5_is_numeric(bc))
            p->kind = 0;
        else if (bc == H5T_STRING)
            p->kind = H5Tis_variable_str(base) > 0 ? 2 : 1;
        if (p->kind == 1)
            p->strsize = H5Tget_size(base);
        if (p->kind < 0 && !(pandas >= 0 && strcmp(p->name, "index") == 0))
            skipped++;
        H5Tclose(base);
        H5Tclose(mtp);
        p->offset = off;
        size_t es = p->kind == 0 ? sizeof(float) : p->kind == 1 ? p->strsize : p->kind == 2 ? sizeof(char *) : 0;
        size_t fb;
        if (p->kind >= 0 && (p->width == 0 || es == 0 || !mb_mul_ok(p->width, es, &fb) || fb > ((size_t)1 << 26)))
            BAIL(mb_fail(err, MB_EFORMAT, "%s:%s: field '%s' has an unusable size", file, path, p->name));
        if (p->kind >= 0)
            off += fb;
    }
    size_t recsize = off;
    if (recsize == 0)
        BAIL(mb_fail(err, MB_ETYPE, "%s:%s: no numeric or string fields to read", file, path));
    mt = H5Tcreate(H5T_COMPOUND, recsize);
    for (int i = 0; i < nm; i++) {
        field_plan *p = &plan[i];
        if (p->kind < 0)
            continue;
        hid_t et = p->kind == 0 ? H5Tcopy(H5T_NATIVE_FLOAT) : p->kind == 2 ? H5Tcopy(vstr) : H5Tcopy(H5T_C_S1);
        if (p->kind == 1) {
            /* NULLPAD keeps all bytes of a full-width string (numpy 'S5') */
            H5Tset_size(et, p->strsize);
            H5Tset_strpad(et, H5T_STR_NULLPAD);
        }
        hid_t it = et;
        if (p->arank > 0) {
            it = H5Tarray_create2(et, (unsigned)p->arank, p->adims);
            H5Tclose(et);
        }
        herr_t ins = H5Tinsert(mt, p->name, p->offset, it);
        H5Tclose(it);
        if (ins < 0) {
            char why[256];
            BAIL(mb_fail(err, MB_EH5, "%s:%s: cannot read field '%s': %s", file, path, p->name, mbh5_reason(why)));
        }
    }
    /* Make the frame's columns. */
    for (int i = 0; i < nm; i++) {
        field_plan *p = &plan[i];
        if (p->kind < 0)
            continue;
        size_t nnames = 0;
        char **names = NULL;
        if (pandas >= 0) {
            char key[256];
            snprintf(key, sizeof key, "%s_kind", p->name);
            char *pk = mbh5_attr_string(ds, key);
            names = mbh5_pickle_names(pk, &nnames);
            mb_free(pk);
        }
        p->col0 = (long)f->ncols;
        if (p->kind != 0)
            p->dicts = mb_calloc(p->width, sizeof *p->dicts);
        for (size_t k = 0; k < p->width; k++) {
            char gen[300];
            const char *cname = gen;
            if (k < nnames)
                cname = names[k];
            else if (p->width == 1)
                cname = p->name;
            else
                snprintf(gen, sizeof gen, "%s_%zu", p->name, k);
            mb_column *c = p->kind == 0 ? mb_frame_add_num(f, cname, NULL, 1, err)
                                        : mb_frame_add_cat(f, cname, err);
            if (!c) {
                mbh5_free_strings(names, nnames);
                BAIL(MB_ENOMEM);
            }
        }
        mbh5_free_strings(names, nnames);
    }
    /* Only now: adding columns may move f->cols, and a dict keeps a pointer. */
    for (int i = 0; i < nm; i++)
        for (size_t k = 0; plan[i].kind > 0 && k < plan[i].width; k++)
            mb_dict_init(&plan[i].dicts[k], &f->cols[plan[i].col0 + (long)k]);
    /* Read blocks of rows and scatter them. */
    hsize_t dims[H5S_MAX_RANK];
    {
        hid_t s = H5Dget_space(ds);
        int r = H5Sget_simple_extent_ndims(s);
        if (r != 1) {
            H5Sclose(s);
            BAIL(mb_fail(err, MB_ESHAPE, "%s:%s: expected a 1-D table of records, found rank %d", file, path, r));
        }
        H5Sget_simple_extent_dims(s, dims, NULL);
        H5Sclose(s);
    }
    size_t s0, cnt;
    clip_rows((size_t)dims[0], start, count, &s0, &cnt);
    size_t block = recsize > (1u << 22) ? 1 : (1u << 22) / recsize;
    rec = mb_trymalloc(block * recsize);
    if (!rec)
        BAIL(mb_fail(err, MB_ENOMEM, "%s:%s: no memory for a block of records", file, path));
    for (size_t done = 0; done < cnt;) {
        size_t n = cnt - done < block ? cnt - done : block;
        hsize_t off1 = s0 + done, n1 = n;
        hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, &n1, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &off1, NULL, &n1, NULL);
        herr_t r = H5Dread(ds, mt, ms, fs, H5P_DEFAULT, rec);
        if (r < 0) {
            H5Sclose(fs);
            H5Sclose(ms);
            char why[256];
            BAIL(mb_fail(err, MB_EH5, "%s:%s: cannot read records %zu..%zu: %s", file, path,
                         s0 + done, s0 + done + n, mbh5_reason(why)));
        }
        for (int i = 0; i < nm && rc == MB_OK; i++) {
            field_plan *p = &plan[i];
            for (size_t k = 0; k < p->width && p->kind >= 0; k++) {
                mb_column *c = &f->cols[p->col0 + (long)k];
                for (size_t row = 0; row < n; row++) {
                    const unsigned char *fp = rec + row * recsize + p->offset;
                    if (p->kind == 0) {
                        memcpy(&c->num[done + row], fp + k * sizeof(float), sizeof(float));
                        continue;
                    }
                    const char *sv;
                    size_t len;
                    if (p->kind == 1) {
                        sv = (const char *)fp + k * p->strsize;
                        len = strnlen(sv, p->strsize);
                    } else {
                        memcpy(&sv, fp + k * sizeof(char *), sizeof sv);
                        len = sv ? strlen(sv) : 0;
                    }
                    if (!sv || (nan_rep && strlen(nan_rep) == len && memcmp(sv, nan_rep, len) == 0)) {
                        c->codes[done + row] = -1;
                        continue;
                    }
                    int32_t code = mb_dict_intern(&p->dicts[k], sv, len);
                    if (code < 0) {
                        rc = mb_fail(err, MB_ENOMEM, "%s:%s: no memory for categories", file, path);
                        break;
                    }
                    c->codes[done + row] = code;
                }
            }
        }
        H5Dvlen_reclaim(mt, ms, H5P_DEFAULT, rec);
        H5Sclose(fs);
        H5Sclose(ms);
        if (rc != MB_OK)
            goto exit;
        done += n;
    }
    if (skipped)
        mb_frame_set_note(f, "%s:%s: %d field(s) of other types (enum, nested) were skipped", file,
                          path, skipped);
exit:
    if (plan) {
        for (int i = 0; i < nm; i++) {
            if (plan[i].dicts) {
                for (size_t k = 0; k < plan[i].width; k++)
                    mb_dict_free(&plan[i].dicts[k]);
                mb_free(plan[i].dicts);
            }
            H5free_memory(plan[i].name);
        }
        mb_free(plan);
    }
    mb_free(rec);
    mb_free(nan_rep);
    H5CLOSE(H5Tclose, vstr);
    H5CLOSE(H5Tclose, mt);
    H5CLOSE(H5Tclose, ft);
    return rc;
}

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
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, vlen ? H5T_VARIABLE : w);
    H5Tset_cset(mt, H5Tget_cset(ft));
    if (!vlen)
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
    size_t s0, cnt;
    clip_rows((size_t)(n < 0 ? 0 : n), start, count, &s0, &cnt);
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
        mb_frame *lf = mb_frame_new((size_t)(nl > 0 ? nl : 0));
        mb_column *lc = mb_frame_add_cat(lf, "levels", rd->err);
        rc = lc ? read_strings(rd->file, lname, lds, 0, 0, lc, NULL, rd->err) : MB_ENOMEM;
        H5Dclose(lds);
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
        for (size_t i = 0; i < n; i++) {
            float v = codes[i * q + j];
            c->codes[i] = (v >= 0 && v < (float)c->nlevels) ? (int32_t)v : -1;
        }
    }
exit:
    mb_free(codes);
    mbh5_free_strings(names, nnames);
    H5CLOSE(H5Dclose, ds);
    H5CLOSE(H5Gclose, cg);
    return rc;
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
        clip_rows((size_t)xrows, rd->start, rd->count, &s0, &n);
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
            if (rc == MB_OK && tn && yc == H5T_INTEGER) {
                mb_column *c = mb_frame_add_cat(f, tname, rd->err);
                for (size_t k = 0; c && k < ntn; k++)
                    mb_column_add_level(c, tn[k], strlen(tn[k]));
                for (size_t i = 0; c && i < yn && rc == MB_OK; i++) {
                    if (yv[i] < 0 || yv[i] >= (float)ntn)
                        rc = mb_fail(rd->err, MB_EFORMAT,
                                     "%s:%s: class code %g in row %zu is outside target_names (%zu names)",
                                     rd->file, ypath, (double)yv[i], rd->start + i, ntn);
                    else
                        c->codes[i] = (int32_t)yv[i];
                }
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
    clip_rows((size_t)n, rd->start, rd->count, &s0, &cnt);
    f = mb_frame_new(cnt);
    if ((rc = read_compound(rd->file, tpath, ds, rd->start, rd->count, f, grp, rd->err)) != MB_OK)
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
    clip_rows((size_t)n, rd->start, rd->count, &s0, &cnt);
    if (cls == H5T_COMPOUND && rank == 1) {
        f = mb_frame_new(cnt);
        rc = read_compound(rd->file, path, ds, rd->start, rd->count, f, H5I_INVALID_HID, rd->err);
    } else if (cls == H5T_STRING && rank == 1) {
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
            if (H5Oget_info_by_name(g, name, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_GROUP)
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
    mb_status rc = mbh5_open(path, &fid, err);
    if (rc != MB_OK)
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
