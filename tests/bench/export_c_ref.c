/*
** export_c_ref.c: the workbench's single-row latency on the same rows as
** export_c_bench.c, for tests/bench/export_c.sh: the bundle opened with
** mb_runtime_open (the scorer `moonbench serve` uses), then per call one
** row set input by input (mb_runtime_row_set_number) and predicted
** (mb_runtime_row_predict), as a server scores a request's row.
**
**   export_c_ref BUNDLE.h5 ROWS.f32 NROWS CALLS
**
** The timing and the JSON line are export_c_bench's (1000 warm-up calls,
** then batches of 1000 consecutive rows, the median batch's time per call),
** and so is the checksum (the sum of the last probability, as a float),
** which the script compares: the exported C must give the same numbers.
*/
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "runtime.h"

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

/* One row through the runtime: the last output (last probability, or the value). */
static float score(mb_runtime_row_ctx *ctx, const float *x, size_t n, size_t nout)
{
    mb_error err;
    mb_prediction p;
    mb_runtime_row_reset(ctx);
    for (size_t j = 0; j < n; j++)
        if (mb_runtime_row_set_number(ctx, j, (double)x[j], &err) != MB_OK)
            goto fail;
    if (mb_runtime_row_predict(ctx, &p, &err) != MB_OK)
        goto fail;
    return p.proba ? p.proba[nout - 1] : (float)p.value;
fail:
    fprintf(stderr, "export_c_ref: %s\n", err.msg);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 5)
        return fprintf(stderr, "usage: export_c_ref BUNDLE.h5 ROWS.f32 NROWS CALLS\n"), 2;
    mb_error err;
    mb_runtime *rt = NULL;
    if (mb_runtime_open(argv[1], NULL, &rt, &err) != MB_OK)
        return fprintf(stderr, "export_c_ref: %s\n", err.msg), 1;
    const mb_bundle *b = mb_runtime_bundle(rt);
    size_t n = b->ninputs, nout = b->task == MB_TASK_REGRESSION ? 1 : b->nclasses;
    long nrows = atol(argv[3]), calls = atol(argv[4]), nb = calls / BATCH;
    float *x = malloc((size_t)(nrows > 0 ? nrows : 1) * n * sizeof *x);
    double *t = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *t);
    FILE *fp = fopen(argv[2], "rb");
    if (nrows <= 0 || nb <= 0 || !x || !t || !fp || fread(x, sizeof *x * n, (size_t)nrows, fp) != (size_t)nrows)
        return fprintf(stderr, "export_c_ref: cannot read %ld rows of %zu floats from %s\n", nrows, n, argv[2]), 1;
    fclose(fp);
    mb_runtime_row_ctx *ctx = mb_runtime_row_ctx_new(rt);
    double sum = 0;
    long r = 0;
    for (long i = 0; i < BATCH; i++, r = (r + 1) % nrows)
        score(ctx, x + r * (long)n, n, nout);
    for (long k = 0; k < nb; k++) {
        double t0 = now_ns();
        for (long i = 0; i < BATCH; i++, r = (r + 1) % nrows)
            sum += (double)score(ctx, x + r * (long)n, n, nout);
        t[k] = (now_ns() - t0) / BATCH;
    }
    qsort(t, (size_t)nb, sizeof *t, cmp);
    printf("{\"calls\": %ld, \"ns_per_call\": %.1f, \"min_ns_per_call\": %.1f, \"checksum\": %.6f, \"scorer\": \"%s\"}\n",
           nb * BATCH, t[nb / 2], t[0], sum, mb_runtime_describe(rt));
    mb_runtime_row_ctx_free(&ctx);
    mb_runtime_close(&rt);
    free(x);
    free(t);
    return 0;
}
