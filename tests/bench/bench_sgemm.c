/*
** bench_sgemm.c: the sgemm throughput an MLP training step can reach on this
** machine and kernel, the yardstick of mlp.sh's efficiency goal. It runs the
** products of one step of the MLP plugin's training (mlp_net.c's calls, the
** same transposes) at the layer shapes: each of T threads takes its share
** of a mini-batch (batch / T rows), with OpenBLAS at one thread, as
** mlp_train.c's workers do, and repeats the step for about a second.
** Nothing else runs between the products, so this is the ceiling the
** plugin's bias, activation and optimiser passes are measured against.
**
** usage: bench_sgemm [--threads T] [--batch B] [--seconds S] IN H1 [H2 ...] OUT
** Prints one JSON line: GFLOP/s over all threads, the kernel OpenBLAS ran
** (set OPENBLAS_CORETYPE before starting it to choose one).
*/
#define _GNU_SOURCE
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);

#define MAXL 16

typedef struct job {
    int nl, rows;
    const int *w;                 /* nl + 1 widths */
    double seconds;
    long steps;
    double elapsed;
} job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *filled(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_sgemm: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    return p;
}

/* forward Z = A W^T per layer; backward dW = D^T A for every layer and
** dA = D W for all but the first, as mlp_net.c calls them */
static void *run(void *arg)
{
    job *j = arg;
    int r = j->rows;
    float *act[MAXL + 1], *W[MAXL], *dW[MAXL];
    for (int l = 0; l <= j->nl; l++)
        act[l] = filled((size_t)r * (size_t)j->w[l]);
    for (int l = 0; l < j->nl; l++) {
        W[l] = filled((size_t)j->w[l] * (size_t)j->w[l + 1]);
        dW[l] = filled((size_t)j->w[l] * (size_t)j->w[l + 1]);
    }
    float *D = filled((size_t)r * 4096), *G = filled((size_t)r * 4096);
    double t0 = now();
    long steps = 0;
    do {
        for (int l = 0; l < j->nl; l++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, j->w[l + 1], j->w[l], 1.0f, act[l], j->w[l],
                        W[l], j->w[l], 0.0f, act[l + 1], j->w[l + 1]);
        for (int l = j->nl - 1; l >= 0; l--) {
            int fi = j->w[l], fo = j->w[l + 1];
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, fo, fi, r, 1.0f, D, fo, act[l], fi, 0.0f, dW[l],
                        fi);
            if (l > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, fi, fo, 1.0f, D, fo, W[l], fi, 0.0f, G,
                            fi);
        }
        steps++;
    } while (now() - t0 < j->seconds);
    j->elapsed = now() - t0;
    j->steps = steps;
    for (int l = 0; l <= j->nl; l++)
        free(act[l]);
    for (int l = 0; l < j->nl; l++) {
        free(W[l]);
        free(dW[l]);
    }
    free(D);
    free(G);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 2, batch = 256, nw = 0, w[MAXL + 1];
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (nw <= MAXL && atoi(argv[i]) > 0 && atoi(argv[i]) <= 4096)
            w[nw++] = atoi(argv[i]);
        else {
            fprintf(stderr, "bench_sgemm: bad argument '%s' (layer widths 1..4096, at most %d layers)\n", argv[i],
                    MAXL);
            return 2;
        }
    }
    if (nw < 2 || threads < 1 || threads > 64 || batch < threads) {
        fprintf(stderr, "usage: bench_sgemm [--threads T] [--batch B] [--seconds S] IN H1 [H2 ...] OUT\n");
        return 2;
    }
    openblas_set_num_threads(1);
    job jobs[64];
    pthread_t tid[64];
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){nw - 1, batch / threads, w, seconds, 0, 0};
        if (t && pthread_create(&tid[t], NULL, run, &jobs[t]) != 0) {
            fprintf(stderr, "bench_sgemm: cannot start thread %d\n", t);
            return 1;
        }
    }
    run(&jobs[0]);
    for (int t = 1; t < threads; t++)
        pthread_join(tid[t], NULL);
    /* flops per row of a step: forward and dW 2*in*out each, dA 2*in*out for layers after the first */
    double per_row = 0, gflops = 0;
    for (int l = 0; l + 1 < nw; l++)
        per_row += 2.0 * w[l] * w[l + 1] * (l ? 3 : 2);
    for (int t = 0; t < threads; t++)
        gflops += per_row * jobs[t].rows * (double)jobs[t].steps / jobs[t].elapsed / 1e9;
    printf("{\"task\": \"sgemm\", \"threads\": %d, \"batch\": %d, \"gflops\": %.1f, \"blas_kernel\": \"%s\"}\n",
           threads, batch, gflops, openblas_get_corename());
    return 0;
}
