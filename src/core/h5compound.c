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

/* Columns of a compound dataset, read in blocks of rows. pandas tables
** name their array fields' columns in `values_block_N_kind` attributes and
** store missing strings as nan_rep. `pandas` is the table's group for a
** pandas table (its index field is dropped), or H5I_INVALID_HID. */
mb_status mbh5_read_compound(const char *file, const char *path, hid_t ds, size_t start,
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
    const mbh5_limits *lim = mbh5_get_limits();
    size_t off = 0, ncols = 0;
    for (int i = 0; i < nm; i++) {
        field_plan *p = &plan[i];
        p->name = H5Tget_member_name(ft, (unsigned)i);
        if (!p->name)
            BAIL(mb_fail(err, MB_EFORMAT, "%s:%s: field %d has no name (damaged file?)", file, path, i));
        p->kind = -1;
        p->width = 1;
        hid_t mtp = H5Tget_member_type(ft, (unsigned)i), base = H5Tcopy(mtp);
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
        if (p->kind == 1 && p->strsize > lim->max_string)
            BAIL(mb_fail(err, MB_EFORMAT, "%s:%s: field '%s' holds strings of %zu bytes, more than %zu "
                         "(MOONBENCH_MAX_STRING raises it)", file, path, p->name, p->strsize, lim->max_string));
        p->offset = off;
        size_t es = p->kind == 0 ? sizeof(float) : p->kind == 1 ? p->strsize : p->kind == 2 ? sizeof(char *) : 0;
        size_t fb;
        if (p->kind >= 0 && p->width == 0)
            BAIL(mb_fail(err, MB_EFORMAT, "%s:%s: field '%s' is an array of more than %zu elements, each a "
                         "column (MOONBENCH_MAX_COLUMNS raises it)", file, path, p->name, lim->max_columns));
        if (p->kind >= 0 && (es == 0 || !mb_mul_ok(p->width, es, &fb) || fb > ((size_t)1 << 26)))
            BAIL(mb_fail(err, MB_EFORMAT, "%s:%s: field '%s' has an unusable size", file, path, p->name));
        if (p->kind >= 0) {
            off += fb;
            ncols += p->width;
            if (ncols > lim->max_columns || f->ncols + ncols > lim->max_columns)
                BAIL(mb_fail(err, MB_EFORMAT, "%s:%s: the records have more than %zu columns "
                             "(MOONBENCH_MAX_COLUMNS raises it)", file, path, lim->max_columns));
        }
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
    /* What the columns will take: 4 bytes a value (codes or floats). */
    {
        size_t bytes;
        if (!mb_mul_ok(f->nrows, ncols, &bytes) || !mb_mul_ok(bytes, 4, &bytes))
            bytes = SIZE_MAX;
        if ((rc = mbh5_check_read(file, path, ds, bytes, err)) != MB_OK)
            goto exit;
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
    mbh5_clip_rows((size_t)dims[0], start, count, &s0, &cnt);
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
