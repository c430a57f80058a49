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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"

#include "h5int.h"
#include "io.h"

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

/* {====== limits ======} */

static size_t env_size(const char *name, size_t dflt)
{
    const char *v = getenv(name);
    char *end;
    errno = 0;
    unsigned long long n = v && *v ? strtoull(v, &end, 10) : 0;
    if (!v || !*v || errno || *end || n == 0 || v[0] == '-' || n > SIZE_MAX / 2)
        return dflt;
    return (size_t)n;
}

const mbh5_limits *mbh5_get_limits(void)
{
    static mbh5_limits lim;
    static int done;
    if (!done) {
        lim.max_columns = env_size("MOONBENCH_MAX_COLUMNS", 1000000);
        lim.max_string = env_size("MOONBENCH_MAX_STRING", (size_t)1 << 20);
        lim.max_attribute = env_size("MOONBENCH_MAX_ATTRIBUTE", (size_t)64 << 20);
        lim.max_depth = env_size("MOONBENCH_MAX_DEPTH", 64);
        lim.max_objects = env_size("MOONBENCH_MAX_OBJECTS", 1000000);
        lim.expansion = env_size("MOONBENCH_MAX_EXPANSION", 1100);
        lim.probe_mb = env_size("MOONBENCH_PROBE_MEMORY", 1024);
        lim.probe_seconds = env_size("MOONBENCH_PROBE_SECONDS", 20);
        done = 1;
    }
    return &lim;
}

size_t mbh5_read_budget(const char *path)
{
    struct stat sb;
    size_t floor = (size_t)64 << 20, b;
    if (stat(path, &sb) != 0 || sb.st_size <= 0 ||
        !mb_mul_ok((size_t)sb.st_size, mbh5_get_limits()->expansion, &b))
        return sb.st_size > 0 ? SIZE_MAX : floor;
    return b > floor ? b : floor;
}

int mbh5_has_signature(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat sb;
    int found = 0;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        for (off_t at = 0; !found && at + 8 <= sb.st_size; at = at ? 2 * at : 512) {
            char sig[8];
            found = pread(fd, sig, 8, at) == 8 && memcmp(sig, "\211HDF\r\n\032\n", 8) == 0;
        }
    }
    close(fd);
    return found;
}

mb_status mbh5_open(const char *path, hid_t *fid, mb_error *err)
{
    mbh5_init();
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mb_fail(err, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return mb_fail(err, MB_EFORMAT, "%s: not a regular file", path);
    /* The signature may also sit at 512, 1024, ... (user block). Checked
    ** here, byte by byte, because H5Fis_hdf5 already parses the superblock. */
    int sig = mbh5_has_signature(path);
    if (sig < 0)
        return mb_fail(err, MB_EIO, "%s: %s", path, strerror(errno));
    if (!sig)
        return mb_fail(err, MB_EFORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
    *fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*fid < 0) {
        char why[256];
        return mb_fail(err, MB_EH5, "%s: cannot open as HDF5 (damaged or truncated?): %s", path,
                       mbh5_reason(why));
    }
    return MB_OK;
}

/* {====== attributes ======} */

int mbh5_attr_size_ok(hid_t a, hid_t t, size_t npoints)
{
    size_t cap = mbh5_get_limits()->max_attribute, w = H5Tget_size(t), b;
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0)
        w = sizeof(char *); /* the strings themselves are bounded by the file's heap */
    return w > 0 && mb_mul_ok(npoints, w, &b) && b <= cap && H5Aget_storage_size(a) <= cap;
}

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
    if (t < 0 || s < 0 || H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(s) != 1 ||
        !mbh5_attr_size_ok(a, t, 1))
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
    if (t < 0 || np < 0 || H5Tget_class(t) != H5T_STRING || !mbh5_attr_size_ok(a, t, (size_t)np))
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
            H5L_info_t li;
            if (strcmp(buf, "/") != 0 && buf[0] &&
                (H5Lexists(loc, buf, H5P_DEFAULT) <= 0 || H5Lget_info(loc, buf, &li, H5P_DEFAULT) < 0 ||
                 (li.type != H5L_TYPE_HARD && li.type != H5L_TYPE_SOFT)))
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

/* {====== writing ======} */

hid_t mbh5_vlen_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int mbh5_write_strings(hid_t obj, const char *name, const char *const *v, size_t n, int scalar)
{
    hid_t t = mbh5_vlen_str_type();
    hsize_t d = n;
    hid_t s = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, t, v) >= 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    return ok ? 0 : -1;
}

int mbh5_write_string(hid_t obj, const char *name, const char *v)
{
    return mbh5_write_strings(obj, name, &v, 1, 1);
}

int mbh5_write_int(hid_t obj, const char *name, long long v)
{
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_LLONG, &v) >= 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(s);
    return ok ? 0 : -1;
}

int mbh5_read_int(hid_t obj, const char *name, long long *v)
{
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), s = a >= 0 ? H5Aget_space(a) : -1;
    int ok = a >= 0 && s >= 0 && H5Sget_simple_extent_npoints(s) == 1 &&
             H5Aread(a, H5T_NATIVE_LLONG, v) >= 0;
    if (s >= 0)
        H5Sclose(s);
    if (a >= 0)
        H5Aclose(a);
    return ok ? 0 : -1;
}

mb_status mbh5_create_atomic(const char *path, int sealed, char **tmp, hid_t *fid, mb_error *err)
{
    mbh5_init();
    *fid = H5I_INVALID_HID;
    int fd = mb_tmp_create(path, tmp, err);
    if (fd < 0)
        return err ? err->code : MB_EIO;
    close(fd);
    /* 1.8 file format: attributes over 64 KiB (thousands of feature names)
    ** move to dense storage instead of failing; every HDF5 since 2008
    ** reads it. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (sealed)
        H5Pset_userblock(fcpl, MBH5_SEAL_SIZE);
    *fid = H5Fcreate(*tmp, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fcpl);
    H5Pclose(fapl);
    if (*fid < 0) {
        char why[256];
        mb_tmp_discard(tmp);
        return mb_fail(err, MB_EH5, "cannot create %s: %s", path, mbh5_reason(why));
    }
    return MB_OK;
}

mb_status mbh5_publish(hid_t *fid, char **tmp, const char *path, int sealed, mb_error *err)
{
    mb_status rc = MB_OK;
    if (H5Fflush(*fid, H5F_SCOPE_GLOBAL) < 0 || H5Fclose(*fid) < 0) {
        char why[256];
        rc = mb_fail(err, MB_EIO, "cannot finish %s: %s", path, mbh5_reason(why));
    }
    *fid = H5I_INVALID_HID;
    if (rc == MB_OK) {
        int fd = open(*tmp, sealed ? O_RDWR : O_RDONLY);
        if (fd >= 0 && sealed) {
            /* The seal: the SHA-256 of everything after the user block,
            ** written into it, so that damage is found before HDF5 parses
            ** anything (HDF5 itself is not safe against damaged files). */
            char hex[MB_SHA256_HEX], head[MBH5_SEAL_SIZE];
            memset(head, 0, sizeof head);
            if (mb_sha256_file(*tmp, MBH5_SEAL_SIZE, hex) != 0)
                rc = mb_fail(err, MB_EIO, "cannot checksum %s: %s", *tmp, strerror(errno));
            snprintf(head, sizeof head, "%s%s\n", MBH5_SEAL_TAG, hex);
            if (rc == MB_OK && pwrite(fd, head, sizeof head, 0) != (ssize_t)sizeof head)
                rc = mb_fail(err, MB_EIO, "cannot seal %s: %s", *tmp, strerror(errno));
        }
        if (rc == MB_OK)
            return mb_tmp_publish(fd, tmp, path, err); /* sync, close, rename */
        if (fd >= 0)
            close(fd);
    }
    mb_tmp_discard(tmp);
    return rc;
}

mb_status mbh5_check_seal(const char *path, mb_error *err)
{
    char head[MBH5_SEAL_SIZE], hex[MB_SHA256_HEX];
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return mb_fail(err, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "%s: %s", path, strerror(errno));
    size_t n = fread(head, 1, sizeof head, fp);
    fclose(fp);
    size_t tl = strlen(MBH5_SEAL_TAG);
    if (n < sizeof head || memcmp(head, MBH5_SEAL_TAG, tl) != 0)
        return mb_fail(err, MB_EFORMAT, "%s: not a sealed moonbench file (no checksum header)", path);
    if (mb_sha256_file(path, MBH5_SEAL_SIZE, hex) != 0)
        return mb_fail(err, MB_EIO, "%s: %s", path, strerror(errno));
    if (strncmp(head + tl, hex, MB_SHA256_HEX - 1) != 0)
        return mb_fail(err, MB_EFORMAT,
                       "%s: damaged: its checksum does not match (truncated, corrupted, or changed after "
                       "moonbench wrote it)",
                       path);
    return MB_OK;
}
