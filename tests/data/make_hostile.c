/*
** make_hostile.c: writes the hostile HDF5 fixtures into a folder, with
** the HDF5 C API (h5py is not needed): `make_hostile DIR [SOURCE.h5]`.
** Built as BUILD/tests/make_hostile; tests/cli/hostile_files.bats and
** tests/unit/test_h5io.c run it, so every fixture is made fresh:
**   cycle.h5      a hard link from /a/b back to / (a cycle), and a soft
**                 link loop; X and y at the root
**   deep.h5       200 nested groups
**   bigread.h5    X of 2^27 x 4 float32 (2 GiB) in a few KB: chunks never
**                 written, so they read as the fill value
**   bigchunk.h5   X of 10 x 1 float32 in one chunk of 2^28 rows (1 GiB)
**   wide.h5       a compound record whose one field is a 4096 x 4096 array
**                 (16.7 million columns)
**   longstr.h5    strings of 16 MiB each (a fixed-length string type)
**   external.h5   an external link /ext to another file, and X
**   flip-NNN.h5   SOURCE with bytes changed at seeded random places (64
**                 files; only when SOURCE is given)
*/
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[1024];

static hid_t create(const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "make_hostile: cannot create %s\n", path);
        exit(1);
    }
    return f;
}

/* A small X (rows x 2 float32) and y (int32) at loc, so a file reads. */
static void small_xy(hid_t loc)
{
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int y[4] = {0, 1, 0, 1};
    hsize_t dx[2] = {4, 2}, dy[1] = {4};
    hid_t sx = H5Screate_simple(2, dx, NULL), sy = H5Screate_simple(1, dy, NULL);
    hid_t X = H5Dcreate2(loc, "X", H5T_IEEE_F32LE, sx, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t Y = H5Dcreate2(loc, "y", H5T_STD_I32LE, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(X, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dwrite(Y, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(X);
    H5Dclose(Y);
    H5Sclose(sx);
    H5Sclose(sy);
}

/* A chunked float32 dataset of dims, chunks ch, nothing written. */
static void unwritten(hid_t loc, const char *name, int rank, const hsize_t *dims, const hsize_t *maxd,
                      const hsize_t *ch)
{
    hid_t s = H5Screate_simple(rank, dims, maxd), p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(p, rank, ch);
    hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, s, H5P_DEFAULT, p, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "make_hostile: cannot create %s\n", name);
        exit(1);
    }
    H5Dclose(d);
    H5Pclose(p);
    H5Sclose(s);
}

static void make_cycle(void)
{
    hid_t f = create("cycle.h5");
    hid_t a = H5Gcreate2(f, "a", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t b = H5Gcreate2(a, "b", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_hard(f, "/", b, "root", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_soft("/a/s2", f, "/a/s1", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_soft("/a/s1", f, "/a/s2", H5P_DEFAULT, H5P_DEFAULT);
    small_xy(f);
    H5Gclose(b);
    H5Gclose(a);
    H5Fclose(f);
}

static void make_deep(void)
{
    hid_t f = create("deep.h5"), g = H5Gopen2(f, "/", H5P_DEFAULT);
    for (int i = 0; i < 200; i++) {
        hid_t c = H5Gcreate2(g, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Gclose(g);
        g = c;
    }
    small_xy(g);
    H5Gclose(g);
    H5Fclose(f);
}

static void make_big(void)
{
    hid_t f = create("bigread.h5");
    hsize_t d[2] = {(hsize_t)1 << 27, 4}, ch[2] = {1024, 4};
    unwritten(f, "X", 2, d, NULL, ch);
    H5Fclose(f);
    f = create("bigchunk.h5");
    hsize_t d1[2] = {10, 1}, m1[2] = {H5S_UNLIMITED, 1}, c1[2] = {(hsize_t)1 << 28, 1};
    unwritten(f, "X", 2, d1, m1, c1);
    H5Fclose(f);
}

static void make_wide(void)
{
    hid_t f = create("wide.h5");
    hsize_t ad[2] = {4096, 4096}, n = 1;
    hid_t at = H5Tarray_create2(H5T_IEEE_F32LE, 2, ad);
    hid_t ct = H5Tcreate(H5T_COMPOUND, H5Tget_size(at));
    H5Tinsert(ct, "v", 0, at);
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "records", ct, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(s);
    H5Tclose(ct);
    H5Tclose(at);
    H5Fclose(f);
}

static void make_longstr(void)
{
    hid_t f = create("longstr.h5");
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, (size_t)1 << 24);
    hsize_t n = 4;
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "names", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(s);
    H5Tclose(t);
    H5Fclose(f);
}

static void make_external(void)
{
    hid_t f = create("external.h5");
    H5Lcreate_external("cycle.h5", "/", f, "ext", H5P_DEFAULT, H5P_DEFAULT);
    small_xy(f);
    H5Fclose(f);
}

/* Seeded byte changes in a copy of src: 1 to 8 bytes each, anywhere. */
static void make_flips(const char *src)
{
    FILE *fp = fopen(src, "rb");
    if (!fp) {
        fprintf(stderr, "make_hostile: cannot read %s\n", src);
        exit(1);
    }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    unsigned char *orig = malloc((size_t)n), *buf = malloc((size_t)n);
    if (!orig || !buf || fread(orig, 1, (size_t)n, fp) != (size_t)n)
        exit(1);
    fclose(fp);
    unsigned long long x = 0x9E3779B97F4A7C15ull;
    for (int k = 0; k < 64; k++) {
        memcpy(buf, orig, (size_t)n);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int nb = 1 + (int)(x % 8);
        for (int i = 0; i < nb; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* most metadata sits in the first 4 KB: aim there half the time */
            long at = (long)((x >> 8) % (unsigned long long)(k % 2 ? n : (n < 4096 ? n : 4096)));
            buf[at] = (unsigned char)(x >> 40);
        }
        char path[1200];
        snprintf(path, sizeof path, "%s/flip-%03d.h5", dir, k);
        FILE *out = fopen(path, "wb");
        if (!out || fwrite(buf, 1, (size_t)n, out) != (size_t)n || fclose(out) != 0)
            exit(1);
    }
    free(orig);
    free(buf);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: make_hostile DIR [SOURCE.h5]\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    make_cycle();
    make_deep();
    make_big();
    make_wide();
    make_longstr();
    make_external();
    if (argc > 2)
        make_flips(argv[2]);
    return 0;
}
