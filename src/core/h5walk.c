/*
** h5walk.c: the depth-first walk over a file's groups and datasets, with
** shapes, types, chunking, filters and attributes rendered as short text,
** that `moonbench inspect` prints, and that the probe (h5probe.c) runs
** over a whole file before moonbench trusts it.
**
** A file is a graph, not a tree: hard links can make cycles, and soft
** links point anywhere. The walk keeps a set of the objects it has seen
** (by address) and shows each once, stops at MOONBENCH_MAX_DEPTH levels
** and MOONBENCH_MAX_OBJECTS objects with an error, and never follows links
** into other files (external or user-defined links).
*/
#include <stdio.h>
#include <string.h>

#include "h5int.h"


typedef struct walker {
    const char *file;
    hid_t fid;
    mb_h5_visit_fn fn;
    void *ud;
    int stop;
    mb_status rc;        /* a limit hit: the walk stops with this error */
    mb_error *err;
    haddr_t *seen;       /* open-addressing set of object addresses (0 = empty slot) */
    size_t nseen, capseen;
    mb_h5_attr *attrs;
    size_t nattrs, capattrs;
    char *text;          /* attribute renderings, packed */
    size_t textlen, textcap;
} walker;

static void put_text(walker *w, const char *s, size_t n)
{
    if (w->textlen + n + 1 > w->textcap) {
        w->textcap = 2 * (w->textlen + n + 1) + 256;
        w->text = mb_realloc(w->text, w->textcap);
    }
    memcpy(w->text + w->textlen, s, n);
    w->textlen += n;
    w->text[w->textlen] = '\0';
}

/* Render names as "[a, b, c, ... (n)]", at most about 60 characters. */
static void render_list(char *buf, size_t n, char **v, size_t nv)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    size_t shown = 0;
    for (; shown < nv && k < 56; shown++)
        k += (size_t)snprintf(buf + k, n > k ? n - k : 0, "%s%s", shown ? ", " : "", v[shown]);
    if (shown < nv)
        snprintf(buf + (k < n ? k : n - 1), n > k ? n - k : 1, ", ... (%zu)]", nv);
    else
        snprintf(buf + (k < n ? k : n - 1), n > k ? n - k : 1, "]");
}

static void render_attr(hid_t obj, const char *name, char *buf, size_t n)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5Aget_type(a), s = H5Aget_space(a);
    H5T_class_t c = H5Tget_class(t);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    int scalar = H5Sget_simple_extent_type(s) == H5S_SCALAR;
    if (a < 0 || t < 0 || s < 0 || np < 0) {
        snprintf(buf, n, "(unreadable)");
    } else if (H5Sget_simple_extent_type(s) == H5S_NULL) {
        snprintf(buf, n, "(empty)");
    } else if (!mbh5_attr_size_ok(a, t, (size_t)np)) {
        snprintf(buf, n, "(%lld values, too large to show: MOONBENCH_MAX_ATTRIBUTE)", (long long)np);
    } else if (c == H5T_STRING && scalar) {
        char *v = mbh5_attr_string(obj, name);
        if (v && (strncmp(v, "(lp", 3) == 0 || strncmp(v, "(dp", 3) == 0)) {
            size_t nv;
            char **names = mbh5_pickle_names(v, &nv);
            char list[200];
            render_list(list, sizeof list, names, nv);
            snprintf(buf, n, "pickle %s", list);
            mbh5_free_strings(names, nv);
        } else if (v) {
            for (char *p = v; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                    *p = ' ';
            if (strlen(v) > 60)
                snprintf(buf, n, "'%.57s...'", v);
            else
                snprintf(buf, n, "'%s'", v);
        } else {
            snprintf(buf, n, "(unreadable string)");
        }
        mb_free(v);
    } else if (c == H5T_STRING) {
        size_t nv;
        char **v = mbh5_attr_strings(obj, name, &nv);
        render_list(buf, n, v, nv);
        mbh5_free_strings(v, nv);
    } else if (mbh5_is_numeric(c) && np > 0) {
        double *v = mb_trycalloc((size_t)np, sizeof *v);
        if (v && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
            size_t k = scalar ? 0 : (size_t)snprintf(buf, n, "[");
            hssize_t i = 0;
            for (; i < np && k < 56; i++)
                k += (size_t)snprintf(buf + k, n > k ? n - k : 0, "%s%.6g", i ? ", " : "", v[i]);
            if (!scalar)
                snprintf(buf + (k < n ? k : n - 1), n > k ? n - k : 1, i < np ? ", ... (%lld)]" : "]",
                         (long long)np);
        } else {
            snprintf(buf, n, "(unreadable)");
        }
        mb_free(v);
    } else if (c == H5T_ENUM && np == 1) {
        /* h5py writes booleans as an enum {FALSE, TRUE} */
        unsigned char raw[16] = {0};
        hid_t nt = H5Tget_native_type(t, H5T_DIR_ASCEND);
        if (H5Tget_size(nt) <= sizeof raw && H5Aread(a, nt, raw) >= 0 &&
            H5Tenum_nameof(nt, raw, buf, n) >= 0) {
        } else {
            snprintf(buf, n, "(enum)");
        }
        H5Tclose(nt);
    } else {
        char tn[96];
        mbh5_type_name(t, tn, sizeof tn);
        snprintf(buf, n, "(%s)", tn);
    }
    H5CLOSE(H5Sclose, s);
    H5CLOSE(H5Tclose, t);
    H5CLOSE(H5Aclose, a);
}

static herr_t collect_attr(hid_t obj, const char *name, const H5A_info_t *info, void *ud)
{
    (void)info;
    walker *w = ud;
    char val[256];
    render_attr(obj, name, val, sizeof val);
    if (w->nattrs == w->capattrs) {
        w->capattrs = w->capattrs ? 2 * w->capattrs : 16;
        w->attrs = mb_realloc(w->attrs, w->capattrs * sizeof *w->attrs);
    }
    /* Offsets for now; turned into pointers once the text buffer is final. */
    w->attrs[w->nattrs].name = (const char *)(uintptr_t)w->textlen;
    put_text(w, name, strlen(name) + 1);
    w->attrs[w->nattrs].value = (const char *)(uintptr_t)w->textlen;
    put_text(w, val, strlen(val) + 1);
    w->nattrs++;
    return 0;
}

static void describe(walker *w, hid_t obj, const char *path, int depth, int is_group)
{
    mb_h5_node nd;
    memset(&nd, 0, sizeof nd);
    nd.path = path;
    nd.depth = depth;
    nd.is_group = is_group;
    if (!is_group) {
        hid_t t = H5Dget_type(obj), s = H5Dget_space(obj), p = H5Dget_create_plist(obj);
        mbh5_type_name(t, nd.type, sizeof nd.type);
        nd.rank = H5Sget_simple_extent_ndims(s);
        if (nd.rank > MB_H5_MAXRANK)
            nd.rank = MB_H5_MAXRANK;
        hsize_t d[H5S_MAX_RANK]; /* HDF5 writes every dimension, whatever we show */
        if (nd.rank > 0) {
            H5Sget_simple_extent_dims(s, d, NULL);
            for (int i = 0; i < nd.rank; i++)
                nd.dims[i] = d[i];
        }
        if (H5Pget_layout(p) == H5D_CHUNKED) {
            nd.chunked = 1;
            int r = H5Pget_chunk(p, MB_H5_MAXRANK, d);
            r = r < nd.rank ? r : nd.rank; /* nd.rank is clamped to MB_H5_MAXRANK */
            for (int i = 0; i < r; i++)
                nd.chunk[i] = d[i];
        }
        int nf = H5Pget_nfilters(p);
        size_t k = 0;
        for (int i = 0; i < nf; i++) {
            unsigned flags, cd[8];
            size_t ncd = 8;
            char fname[64];
            H5Z_filter_t id = H5Pget_filter2(p, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, NULL);
            const char *sep = k ? "+" : "";
            if (id == H5Z_FILTER_DEFLATE)
                k += (size_t)snprintf(nd.filters + k, sizeof nd.filters - k, "%sgzip(%u)", sep, ncd ? cd[0] : 0);
            else if (id == H5Z_FILTER_SHUFFLE)
                k += (size_t)snprintf(nd.filters + k, sizeof nd.filters - k, "%sshuffle", sep);
            else if (id == H5Z_FILTER_FLETCHER32)
                k += (size_t)snprintf(nd.filters + k, sizeof nd.filters - k, "%sfletcher32", sep);
            else
                k += (size_t)snprintf(nd.filters + k, sizeof nd.filters - k, "%sfilter%d", sep, (int)id);
            if (k >= sizeof nd.filters)
                break;
        }
        H5Pclose(p);
        H5Sclose(s);
        H5Tclose(t);
    }
    w->nattrs = 0;
    w->textlen = 0;
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_attr, w);
    for (size_t i = 0; i < w->nattrs; i++) {
        w->attrs[i].name = w->text + (uintptr_t)w->attrs[i].name;
        w->attrs[i].value = w->text + (uintptr_t)w->attrs[i].value;
    }
    nd.nattrs = w->nattrs;
    nd.attrs = w->attrs;
    if (w->fn(&nd, w->ud))
        w->stop = 1;
}

/* Add an object's address to the set; 0 when it was there already. */
static int first_visit(walker *w, haddr_t addr)
{
    if (2 * (w->nseen + 1) > w->capseen) {
        size_t cap = w->capseen ? 2 * w->capseen : 64;
        haddr_t *old = w->seen, *set = mb_calloc(cap, sizeof *set);
        for (size_t i = 0; i < w->capseen; i++)
            if (old[i]) {
                size_t h = (size_t)(old[i] * 0x9E3779B97F4A7C15ull) & (cap - 1);
                while (set[h])
                    h = (h + 1) & (cap - 1);
                set[h] = old[i];
            }
        mb_free(old);
        w->seen = set;
        w->capseen = cap;
    }
    haddr_t key = addr + 1; /* address 0 is possible; 0 marks an empty slot */
    size_t h = (size_t)(key * 0x9E3779B97F4A7C15ull) & (w->capseen - 1);
    while (w->seen[h]) {
        if (w->seen[h] == key)
            return 0;
        h = (h + 1) & (w->capseen - 1);
    }
    w->seen[h] = key;
    w->nseen++;
    return 1;
}

static void walk_obj(walker *w, const char *path, int depth)
{
    const mbh5_limits *lim = mbh5_get_limits();
    H5O_info_t info;
    if (w->stop || H5Oget_info_by_name(w->fid, path, &info, H5P_DEFAULT) < 0)
        return;
    if (!first_visit(w, info.addr))
        return; /* a second link to an object shown already (or a cycle) */
    if ((size_t)depth > lim->max_depth || w->nseen > lim->max_objects) {
        w->rc = mb_fail(w->err, MB_EFORMAT, "%s:%s: %s (MOONBENCH_MAX_%s raises the limit)", w->file, path,
                        (size_t)depth > lim->max_depth ? "groups nested too deep" : "too many objects",
                        (size_t)depth > lim->max_depth ? "DEPTH" : "OBJECTS");
        w->stop = 1;
        return;
    }
    hid_t o = H5Oopen(w->fid, path, H5P_DEFAULT);
    if (o < 0)
        return;
    int is_group = info.type == H5O_TYPE_GROUP;
    if (info.type == H5O_TYPE_GROUP || info.type == H5O_TYPE_DATASET)
        describe(w, o, path, depth, is_group);
    if (is_group) {
        H5G_info_t gi = {0};
        H5Gget_info(o, &gi);
        for (hsize_t i = 0; i < gi.nlinks && !w->stop; i++) {
            char name[512], child[1536];
            H5L_info_t li;
            ssize_t nl = H5Lget_name_by_idx(o, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                            H5P_DEFAULT);
            if (nl < 0 || (size_t)nl >= sizeof name) /* a longer name would be cut: skip it */
                continue;
            if (H5Lget_info(o, name, &li, H5P_DEFAULT) < 0 ||
                (li.type != H5L_TYPE_HARD && li.type != H5L_TYPE_SOFT))
                continue; /* links to other files are not followed */
            mbh5_join_path(child, sizeof child, path, name);
            walk_obj(w, child, depth + 1);
        }
    }
    H5Oclose(o);
}

mb_status mb_h5_walk(const char *path, const char *object, mb_h5_visit_fn fn, void *ud,
                     mb_error *err)
{
    mb_status rc = mbh5_probe(path, err);
    return rc == MB_OK ? mbh5_walk_file(path, object, fn, ud, err) : rc;
}

mb_status mbh5_walk_file(const char *path, const char *object, mb_h5_visit_fn fn, void *ud,
                         mb_error *err)
{
    hid_t fid;
    mb_status rc = mbh5_open(path, &fid, err);
    if (rc != MB_OK)
        return rc;
    const char *obj = (object && object[0]) ? object : "/";
    walker w = {.file = path, .fid = fid, .fn = fn, .ud = ud, .err = err};
    if (strcmp(obj, "/") != 0 && !mbh5_link_exists(fid, obj))
        rc = mb_fail(err, MB_ENOTFOUND, "%s:%s: no such group or dataset in the file", path, obj);
    else
        walk_obj(&w, obj, 0);
    if (rc == MB_OK)
        rc = w.rc;
    mb_free(w.seen);
    mb_free(w.attrs);
    mb_free(w.text);
    H5Fclose(fid);
    return rc;
}
