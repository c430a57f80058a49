/*
** export_c_bench.c: single-row latency of an exported model's
** mb_model_predict (moonbench export --format c), for tests/bench/export_c.sh.
**
**   export_c_bench ROWS.f32 NROWS CALLS
**
** ROWS.f32: NROWS rows of MB_MODEL_NINPUTS little-endian float32 (the test
** rows, deploy_data.py raw). 1000 warm-up calls, then CALLS calls in
** batches of 1000 consecutive rows (cycling through the file), each batch
** timed with clock_gettime; prints one JSON line with the median batch time
** per call (ns) and a checksum of the outputs, so no call is optimised away.
*/
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model.h"

#define BATCH 1000

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return fprintf(stderr, "usage: export_c_bench ROWS.f32 NROWS CALLS\n"), 2;
    long nrows = atol(argv[2]), calls = atol(argv[3]), nb = calls / BATCH;
    float *x = malloc((size_t)nrows * MB_MODEL_NINPUTS * sizeof *x);
    double *t = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *t);
    FILE *fp = fopen(argv[1], "rb");
    if (nrows <= 0 || nb <= 0 || !x || !t || !fp ||
        fread(x, sizeof *x * MB_MODEL_NINPUTS, (size_t)nrows, fp) != (size_t)nrows)
        return fprintf(stderr, "export_c_bench: cannot read %ld rows from %s\n", nrows, argv[1]), 1;
    fclose(fp);
    float out[MB_MODEL_NOUTPUTS];
    double sum = 0;
    long r = 0;
    for (long i = 0; i < BATCH; i++, r = (r + 1) % nrows)
        mb_model_predict(x + r * MB_MODEL_NINPUTS, out);
    for (long b = 0; b < nb; b++) {
        double t0 = now_ns();
        for (long i = 0; i < BATCH; i++, r = (r + 1) % nrows) {
            mb_model_predict(x + r * MB_MODEL_NINPUTS, out);
            sum += (double)out[MB_MODEL_NOUTPUTS - 1];
        }
        t[b] = (now_ns() - t0) / BATCH;
    }
    qsort(t, (size_t)nb, sizeof *t, cmp);
    printf("{\"calls\": %ld, \"ns_per_call\": %.1f, \"min_ns_per_call\": %.1f, \"checksum\": %.6f}\n", nb * BATCH,
           t[nb / 2], t[0], sum);
    free(x);
    free(t);
    return 0;
}
