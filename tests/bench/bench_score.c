/*
** bench_score.c: the C scorer's predict on a bundle, the yardstick of the
** Lua pipeline's predict in lua.sh: mb_bundle_load, mb_scorer_open, then
** mb_scorer_predict_frame over the whole of DATA (its transforms applied,
** the features taken by name), best of 3, as lua_overhead.lua times
** p:predict. Prints one JSON line.
**
** usage: bench_score BUNDLE.h5 DATA.h5
** Plugins (for bundles without a portable form) come from
** $MOONBENCH_PLUGIN_PATH, else build/plugins.
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "blas.h"
#include "bundle.h"
#include "io.h"
#include "plugin.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const mb_error *err)
{
    fprintf(stderr, "bench_score: %s\n", err->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_score BUNDLE.h5 DATA.h5\n");
        return 2;
    }
    mb_blas_select(); /* before any plugin loads OpenBLAS, as main.c does */
    if (!getenv("MOONBENCH_PLUGIN_PATH"))
        setenv("MOONBENCH_PLUGIN_PATH", "build/plugins", 1);
    mb_error err;
    mb_registry reg = {0};
    mb_registry_discover(&reg, NULL);
    mb_bundle *b;
    if (mb_bundle_load(argv[1], &b, &err) != MB_OK)
        die(&err);
    mb_scorer s;
    if (mb_scorer_open(&s, b, &reg, &err) != MB_OK)
        die(&err);
    mb_frame *f;
    if (mb_open(argv[2], &f, &err) != MB_OK)
        die(&err);
    size_t n = f->nrows, k = b->nclasses;
    float *label = mb_malloc((n ? n : 1) * sizeof *label), *proba = k ? mb_malloc(n * k * sizeof *proba) : NULL;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        if (mb_scorer_predict_frame(&s, f, label, proba, &err) != MB_OK)
            die(&err);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    printf("{\"library\": \"moonbench (C scorer)\", \"bundle\": \"%s\", \"rows\": %zu, \"predict_seconds\": %.4f}\n",
           argv[1], n, best);
    mb_free(label);
    mb_free(proba);
    mb_frame_free(&f);
    mb_scorer_close(&s);
    mb_bundle_free(&b);
    mb_registry_close(&reg);
    return 0;
}
