/*
** bench_read.c: time moonbench's HDF5 read of a whole dataset into memory
** the way the peer script times h5py (peers.py t_h5_read_h5py): a first
** read after dropping the file from the page cache, then the median of 5
** warm reads. Prints one JSON line. Usage: bench_read FILE SPEC, where
** FILE is dropped from the page cache and SPEC is what mb_open reads
** (FILE, or FILE:/OBJECT). "bytes" counts the features only (not the target).
*/
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double read_once(const char *spec, size_t *bytes)
{
    mb_frame *f = NULL;
    mb_error err;
    double t0 = now();
    if (mb_open(spec, &f, &err) != MB_OK) {
        fprintf(stderr, "bench_read: %s\n", err.msg);
        exit(1);
    }
    double t = now() - t0;
    *bytes = f->nrows * (f->ncols - (f->target >= 0)) * sizeof(float);
    mb_frame_free(&f);
    return t;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_read FILE SPEC\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    size_t bytes;
    double first = read_once(argv[2], &bytes), warm[5];
    for (int i = 0; i < 5; i++)
        warm[i] = read_once(argv[2], &bytes);
    qsort(warm, 5, sizeof warm[0], cmp);
    printf("{\"library\": \"moonbench\", \"bytes\": %zu, \"first_read_seconds\": %.4f, "
           "\"second_read_seconds\": %.4f, \"first_read_MBps\": %.1f, \"second_read_MBps\": %.1f}\n",
           bytes, first, warm[2], (double)bytes / first / 1e6, (double)bytes / warm[2] / 1e6);
    return 0;
}
