/*
** h5compound.c: reading compound datasets (pandas/PyTables tables, h5py
** record arrays) into frame columns, for h5read.c.
**
** DESIGN
** ------
** Records are read in blocks of rows through a packed memory type in
** which every numeric field is float32 and every string field a fixed or
** variable-length C string; HDF5 converts, we scatter into columns and
** intern strings. Array fields expand to one column per element, so the
** plan checks the total against MOONBENCH_MAX_COLUMNS before any column
** is made (a 1.4 KB file once asked for 16.7 million).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5int.h"

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

/* What the steps of one read share. */
typedef struct cread {
    const char *file, *path;
    hid_t ds, ft;
    int nm;                /* fields */
    field_plan *plan;      /* nm of them */
    size_t recsize, ncols; /* the packed record; the columns it makes */
    const char *nan_rep;   /* pandas' missing string, or NULL */
} cread;

/* Field i's plan: kind, array width, size in the packed record (at *off,
** advanced), checked against the limits. */
static mb_status plan_field(cread *r, int i, const mb_frame *f, int pandas, size_t *off, int *skipped,
                            mb_error *err)
{
    const mbh5_limits *lim = mbh5_get_limits();
    field_plan *p = &r->plan[i];
    p->name = H5Tget_member_name(r->ft, (unsigned)i);
    if (!p->name)
        return mb_fail(err, MB_EFORMAT, "%s:%s: field %d has no name (damaged file?)", r->file, r->path, i);
    p->kind = -1;
    p->width = 1;
    hid_t mtp = H5Tget_member_type(r->ft, (unsigned)i), base = H5Tcopy(mtp);
    if (H5Tget_class(mtp) == H5T_ARRAY) {
        int ar = H5Tget_array_ndims(mtp);
        if (ar > 0 && ar <= MB_H5_MAXRANK) {
            H5Tget_array_dims2(mtp, p->adims);
            p->arank = ar;
            for (int k = 0; k < ar; k++)
                if (!mb_mul_ok(p->width, (size_t)p->adims[k], &p->width) || p->width > lim->max_columns)
                    p->width = 0; /* absurd: refused below */
        }
        H5Tclose(base);
        base = H5Tget_super(mtp);
    }
    H5T_class_t bc = H5Tget_class(base);
    int index = pandas && strcmp(p->name, "index") == 0;
    if (index)
        p->kind = -1;
    else if (mbh5_is_numeric(bc))
        p->kind = 0;
    else if (bc == H5T_STRING)
        p->kind = H5Tis_variable_str(base) > 0 ? 2 : 1;
    if (p->kind == 1)
        p->strsize = H5Tget_size(base);
    if (p->kind < 0 && !index)
        (*skipped)++;
    H5Tclose(base);
    H5Tclose(mtp);
    if (p->kind == 1 && p->strsize > lim->max_string)
        return mb_fail(err, MB_EFORMAT, "%s:%s: field '%s' holds strings of %zu bytes, more than %zu "
                       "(MOONBENCH_MAX_STRING raises it)", r->file, r->path, p->name, p->strsize, lim->max_string);
    p->offset = *off;
    size_t es = p->kind == 0 ? sizeof(float) : p->kind == 1 ? p->strsize : p->kind == 2 ? sizeof(char *) : 0;
    size_t fb;
    if (p->kind >= 0 && p->width == 0)
        return mb_fail(err, MB_EFORMAT, "%s:%s: field '%s' is an array of more than %zu elements, each a "
                       "column (MOONBENCH_MAX_COLUMNS raises it)", r->file, r->path, p->name, lim->max_columns);
    if (p->kind >= 0 && (es == 0 || !mb_mul_ok(p->width, es, &fb) || fb > ((size_t)1 << 26)))
        return mb_fail(err, MB_EFORMAT, "%s:%s: field '%s' has an unusable size", r->file, r->path, p->name);
    if (p->kind >= 0) {
        *off += fb;
        r->ncols += p->width;
        if (r->ncols > lim->max_columns || f->ncols + r->ncols > lim->max_columns)
            return mb_fail(err, MB_EFORMAT, "%s:%s: the records have more than %zu columns "
                           "(MOONBENCH_MAX_COLUMNS raises it)", r->file, r->path, lim->max_columns);
    }
    return MB_OK;
}

/* The packed memory record type (*mt): every number a float, every string
** a C string. */
static mb_status memory_type(const cread *r, hid_t vstr, hid_t *mt, mb_error *err)
{
    *mt = H5Tcreate(H5T_COMPOUND, r->recsize);
    for (int i = 0; i < r->nm; i++) {
        const field_plan *p = &r->plan[i];
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
        herr_t ins = H5Tinsert(*mt, p->name, p->offset, it);
        H5Tclose(it);
        if (ins < 0) {
            char why[256];
            return mb_fail(err, MB_EH5, "%s:%s: cannot read field '%s': %s", r->file, r->path, p->name,
                           mbh5_reason(why));
        }
    }
    return MB_OK;
}

/* The frame's columns, named by pandas' `values_block_N_kind` attributes
** where a table has them, and the string fields' dictionaries. */
static mb_status make_columns(cread *r, mb_frame *f, int pandas, mb_error *err)
{
    for (int i = 0; i < r->nm; i++) {
        field_plan *p = &r->plan[i];
        if (p->kind < 0)
            continue;
        size_t nnames = 0;
        char **names = NULL;
        if (pandas) {
            char key[256];
            snprintf(key, sizeof key, "%s_kind", p->name);
            char *pk = mbh5_attr_string(r->ds, key);
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
            mb_column *c = p->kind == 0 ? mb_frame_add_num(f, cname, NULL, 1, err) : mb_frame_add_cat(f, cname, err);
            if (!c) {
                mbh5_free_strings(names, nnames);
                return MB_ENOMEM;
            }
        }
        mbh5_free_strings(names, nnames);
    }
    /* Only now: adding columns may move f->cols, and a dict keeps a pointer. */
    for (int i = 0; i < r->nm; i++)
        for (size_t k = 0; r->plan[i].kind > 0 && k < r->plan[i].width; k++)
            mb_dict_init(&r->plan[i].dicts[k], &f->cols[r->plan[i].col0 + (long)k]);
    return MB_OK;
}

/* Scatter n packed records into the columns' rows done.. */
static mb_status scatter(const cread *r, const unsigned char *rec, size_t n, size_t done, mb_frame *f,
                         mb_error *err)
{
    for (int i = 0; i < r->nm; i++) {
        const field_plan *p = &r->plan[i];
        for (size_t k = 0; k < p->width && p->kind >= 0; k++) {
            mb_column *c = &f->cols[p->col0 + (long)k];
            for (size_t row = 0; row < n; row++) {
                const unsigned char *fp = rec + row * r->recsize + p->offset;
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
                if (!sv || (r->nan_rep && strlen(r->nan_rep) == len && memcmp(sv, r->nan_rep, len) == 0)) {
                    c->codes[done + row] = -1;
                    continue;
                }
                int32_t code = mb_dict_intern(&p->dicts[k], sv, len);
                if (code < 0)
                    return mb_fail(err, MB_ENOMEM, "%s:%s: no memory for categories", r->file, r->path);
                c->codes[done + row] = code;
            }
        }
    }
    return MB_OK;
}

/* Columns of a compound dataset, read in blocks of rows. pandas tables
** name their array fields' columns in `values_block_N_kind` attributes and
** store missing strings as nan_rep. `pandas` is the table's group for a
** pandas table (its index field is dropped), or H5I_INVALID_HID. */
mb_status mbh5_read_compound(const char *file, const char *path, hid_t ds, size_t start,
                               size_t count, mb_frame *f, hid_t pandas, mb_error *err)
{
    mb_status rc = MB_OK;
    hid_t mt = H5I_INVALID_HID, vstr = H5I_INVALID_HID;
    char *nan_rep = NULL;
    unsigned char *rec = NULL;
    int skipped = 0;
    cread r = {file, path, ds, H5Dget_type(ds), 0, NULL, 0, 0, NULL};
    r.nm = r.ft >= 0 ? H5Tget_nmembers(r.ft) : -1;
    if (r.nm <= 0)
        BAIL(mb_fail(err, MB_EFORMAT, "%s:%s: compound type without fields", file, path));
    r.plan = mb_calloc((size_t)r.nm, sizeof *r.plan);
    if (pandas >= 0)
        r.nan_rep = nan_rep = mbh5_attr_string(pandas, "nan_rep");
    vstr = H5Tcopy(H5T_C_S1);
    H5Tset_size(vstr, H5T_VARIABLE);
    H5Tset_cset(vstr, H5T_CSET_UTF8);
    size_t off = 0;
    for (int i = 0; i < r.nm; i++)
        if ((rc = plan_field(&r, i, f, pandas >= 0, &off, &skipped, err)) != MB_OK)
            goto exit;
    r.recsize = off;
    if (r.recsize == 0)
        BAIL(mb_fail(err, MB_ETYPE, "%s:%s: no numeric or string fields to read", file, path));
    if ((rc = memory_type(&r, vstr, &mt, err)) != MB_OK)
        goto exit;
    /* What the columns will take: 4 bytes a value (codes or floats). */
    {
        size_t bytes;
        if (!mb_mul_ok(f->nrows, r.ncols, &bytes) || !mb_mul_ok(bytes, 4, &bytes))
            bytes = SIZE_MAX;
        if ((rc = mbh5_check_read(file, path, ds, bytes, err)) != MB_OK)
            goto exit;
    }
    if ((rc = make_columns(&r, f, pandas >= 0, err)) != MB_OK)
        goto exit;
    /* Read blocks of rows and scatter them. */
    hsize_t dims[H5S_MAX_RANK];
    {
        hid_t s = H5Dget_space(ds);
        int rank = H5Sget_simple_extent_ndims(s);
        if (rank != 1) {
            H5Sclose(s);
            BAIL(mb_fail(err, MB_ESHAPE, "%s:%s: expected a 1-D table of records, found rank %d", file, path, rank));
        }
        H5Sget_simple_extent_dims(s, dims, NULL);
        H5Sclose(s);
    }
    size_t s0, cnt;
    mbh5_clip_rows((size_t)dims[0], start, count, &s0, &cnt);
    size_t block = r.recsize > (1u << 22) ? 1 : (1u << 22) / r.recsize;
    rec = mb_trymalloc(block * r.recsize);
    if (!rec)
        BAIL(mb_fail(err, MB_ENOMEM, "%s:%s: no memory for a block of records", file, path));
    for (size_t done = 0; done < cnt;) {
        size_t n = cnt - done < block ? cnt - done : block;
        hsize_t off1 = s0 + done, n1 = n;
        hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, &n1, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &off1, NULL, &n1, NULL);
        if (H5Dread(ds, mt, ms, fs, H5P_DEFAULT, rec) < 0) {
            H5Sclose(fs);
            H5Sclose(ms);
            char why[256];
            BAIL(mb_fail(err, MB_EH5, "%s:%s: cannot read records %zu..%zu: %s", file, path,
                         s0 + done, s0 + done + n, mbh5_reason(why)));
        }
        rc = scatter(&r, rec, n, done, f, err);
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
    if (r.plan) {
        for (int i = 0; i < r.nm; i++) {
            if (r.plan[i].dicts) {
                for (size_t k = 0; k < r.plan[i].width; k++)
                    mb_dict_free(&r.plan[i].dicts[k]);
                mb_free(r.plan[i].dicts);
            }
            H5free_memory(r.plan[i].name);
        }
        mb_free(r.plan);
    }
    mb_free(rec);
    mb_free(nan_rep);
    H5CLOSE(H5Tclose, vstr);
    H5CLOSE(H5Tclose, mt);
    H5CLOSE(H5Tclose, r.ft);
    return rc;
}
