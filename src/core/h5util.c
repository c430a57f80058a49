/*
** h5util.c: helpers shared by the HDF5 I/O files (see h5int.h): error
** handling, opening files, attributes as strings, pandas pickles, type
** names and paths.
**
** HDF5's own error printing is switched off once (mbh5_init); failures
** become mb_error messages naming the file, the object and the reason,
** with HDF5's innermost message appended where it helps.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "h5int.h"

void mbh5_init(void)
{
    static int done;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

/* HDF5's innermost error description, for appending to our messages. */
static herr_t walk_err(unsigned n, const H5E_error2_t *e, void *ud)
{
    (void)n;
    char *buf = ud;
    if (e->desc && e->desc[0])
        snprintf(buf, 256, "%s", e->desc);
    return 0;
}

const char *mbh5_reason(char buf[256])
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_err, buf);
    if (!buf[0])
        snprintf(buf, 256, "HDF5 library error");
    return buf;
}

mb_status mbh5_open(const char *path, hid_t *fid, mb_error *err)
{
    mbh5_init();
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return mb_fail(err, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "%s: %s", path, strerror(errno));
    char sig[8] = {0};
    size_t n = fread(sig, 1, sizeof sig, fp);
    fclose(fp);
    /* The signature may also sit at 512, 1024, ... (user block); let HDF5
    ** decide when it is not at 0. */
    if (n < 8 || memcmp(sig, "\211HDF\r\n\032\n", 8) != 0) {
        if (H5Fis_hdf5(path) <= 0)
            return mb_fail(err, MB_EFORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
    }
    *fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*fid < 0) {
        char why[256];
        return mb_fail(err, MB_EH5, "%s: cannot open as HDF5 (damaged or truncated?): %s", path,
                       mbh5_reason(why));
    }
    return MB_OK;
}

/* {====== attributes ======} */

/* Read a string attribute (scalar, fixed or variable length) as a new
** string; NULL when absent or not a string. */
char *mbh5_attr_string(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0)
        return NULL;
    char *out = NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5I_INVALID_HID, s = H5I_INVALID_HID;
    if (a < 0)
        return NULL;
    t = H5Aget_type(a);
    s = H5Aget_space(a);
    if (t < 0 || s < 0 || H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(s) != 1)
        goto exit;
    if (H5Tis_variable_str(t) > 0) {
        char *v = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        if (H5Aread(a, mt, &v) >= 0 && v) {
            out = mb_strdup(v);
            H5free_memory(v);
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        char *buf = mb_calloc(1, n + 1);
        if (H5Aread(a, t, buf) >= 0)
            out = buf;
        else
            mb_free(buf);
    }
exit:
    H5CLOSE(H5Sclose, s);
    H5CLOSE(H5Tclose, t);
    H5CLOSE(H5Aclose, a);
    return out;
}

/* Read a 1-D string-array attribute (fixed or variable length strings) into
** a new array of n strings; NULL when absent or not strings. */
char **mbh5_attr_strings(hid_t obj, const char *name, size_t *n)
{
    *n = 0;
    if (H5Aexists(obj, name) <= 0)
        return NULL;
    char **out = NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5I_INVALID_HID, s = H5I_INVALID_HID,
          mt = H5I_INVALID_HID;
    if (a < 0)
        return NULL;
    t = H5Aget_type(a);
    s = H5Aget_space(a);
    hssize_t np = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    if (t < 0 || np < 0 || H5Tget_class(t) != H5T_STRING)
        goto exit;
    out = mb_calloc((size_t)np + 1, sizeof *out);
    if (H5Tis_variable_str(t) > 0) {
        char **v = mb_calloc((size_t)np + 1, sizeof *v);
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        if (H5Aread(a, mt, v) >= 0) {
            for (hssize_t i = 0; i < np; i++)
                out[i] = mb_strdup(v[i] ? v[i] : "");
            H5Dvlen_reclaim(mt, s, H5P_DEFAULT, v);
        } else {
            mb_free(out);
            out = NULL;
        }
        mb_free(v);
    } else {
        size_t w = H5Tget_size(t);
        char *buf = mb_calloc((size_t)np, w);
        if (H5Aread(a, t, buf) >= 0) {
            for (hssize_t i = 0; i < np; i++)
                out[i] = mb_strndup(buf + (size_t)i * w, strnlen(buf + (size_t)i * w, w));
        } else {
            mb_free(out);
            out = NULL;
        }
        mb_free(buf);
    }
    if (out)
        *n = (size_t)np;
exit:
    H5CLOSE(H5Tclose, mt);
    H5CLOSE(H5Sclose, s);
    H5CLOSE(H5Tclose, t);
    H5CLOSE(H5Aclose, a);
    return out;
}

void mbh5_free_strings(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        mb_free(v[i]);
    mb_free(v);
}

/* pandas stores lists of names as protocol-0 pickles: each unicode string
** is a line "V<raw-unicode-escape text>". Collect those names. */
char **mbh5_pickle_names(const char *pk, size_t *n)
{
    *n = 0;
    if (!pk)
        return NULL;
    size_t cap = 8;
    char **out = mb_malloc(cap * sizeof *out);
    const char *p = pk;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        /* A name line is "V..." or, inside a list, "aV..." */
        const char *v = NULL;
        if (len >= 1 && p[0] == 'V')
            v = p + 1;
        else if (len >= 2 && p[0] == 'a' && p[1] == 'V')
            v = p + 2;
        if (v) {
            size_t vl = len - (size_t)(v - p);
            char *s = mb_malloc(4 * vl + 1), *d = s;
            for (size_t i = 0; i < vl; i++) {
                unsigned cp;
                if (v[i] == '\\' && i + 5 < vl && v[i + 1] == 'u' &&
                    sscanf(v + i + 2, "%4x", &cp) == 1) {
                    i += 5;
                    if (cp < 0x80) {
                        *d++ = (char)cp;
                    } else if (cp < 0x800) {
                        *d++ = (char)(0xC0 | (cp >> 6));
                        *d++ = (char)(0x80 | (cp & 0x3F));
                    } else {
                        *d++ = (char)(0xE0 | (cp >> 12));
                        *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                        *d++ = (char)(0x80 | (cp & 0x3F));
                    }
                } else {
                    *d++ = v[i];
                }
            }
            *d = '\0';
            if (*n == cap) {
                cap *= 2;
                out = mb_realloc(out, cap * sizeof *out);
            }
            out[(*n)++] = s;
        }
        p += len + (eol != NULL);
    }
    return out;
}

int mbh5_is_numeric(H5T_class_t c) { return c == H5T_INTEGER || c == H5T_FLOAT; }

void mbh5_type_name(hid_t t, char *buf, size_t n)
{
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    switch (c) {
    case H5T_INTEGER:
        snprintf(buf, n, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", 8 * sz);
        break;
    case H5T_FLOAT:
        snprintf(buf, n, "float%zu", 8 * sz);
        break;
    case H5T_STRING:
        if (H5Tis_variable_str(t) > 0)
            snprintf(buf, n, "string");
        else
            snprintf(buf, n, "string[%zu]", sz);
        break;
    case H5T_COMPOUND: {
        int nm = H5Tget_nmembers(t);
        snprintf(buf, n, "compound{%d fields}", nm);
        break;
    }
    case H5T_ENUM:
        snprintf(buf, n, "enum");
        break;
    case H5T_ARRAY: {
        hid_t b = H5Tget_super(t);
        char inner[48];
        mbh5_type_name(b, inner, sizeof inner);
        H5Tclose(b);
        snprintf(buf, n, "array of %s", inner);
        break;
    }
    default:
        snprintf(buf, n, "other (class %d)", (int)c);
    }
}


int mbh5_link_exists(hid_t loc, const char *path)
{
    /* H5Lexists fails on a missing intermediate group: check each step. */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + (buf[0] == '/'); ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (strcmp(buf, "/") != 0 && buf[0] && H5Lexists(loc, buf, H5P_DEFAULT) <= 0)
                return 0;
            if (!c)
                break;
            *p = c;
        }
    }
    return H5Oexists_by_name(loc, path, H5P_DEFAULT) > 0;
}


void mbh5_join_path(char *buf, size_t n, const char *dir, const char *name)
{
    size_t l = strlen(dir);
    snprintf(buf, n, "%s%s%s", dir, (l && dir[l - 1] == '/') ? "" : "/", name);
}
