/*
** stats.h: column summaries, as `moonbench inspect` and frame:describe()
** show them.
*/
#ifndef MB_STATS_H
#define MB_STATS_H

#include "frame.h"

#include <stdint.h>
#include <string.h>

#define MB_STATS_TOP 5

typedef struct mb_colstats {
    size_t count;        /* non-missing values */
    size_t missing;      /* NaN (numeric) or code -1 (categorical) */
    /* numeric columns; NaN when count == 0 (std also when count < 2) */
    double mean, std;    /* std: sample standard deviation (ddof = 1), as pandas */
    double min, q25, q50, q75, max; /* quantiles by linear interpolation, as numpy/pandas */
    size_t ninf;         /* +-Inf values; counted and included in the moments, as pandas does */
    /* categorical columns */
    size_t distinct;     /* levels that occur at least once */
    size_t ntop;         /* entries used in top[] */
    struct { int32_t code; size_t count; } top[MB_STATS_TOP]; /* most frequent first, ties by code */
} mb_colstats;

/* Summarise column c of f. MB_ENOMEM (err set) if scratch memory ran out. */
mb_status mb_colstats_compute(const mb_frame *f, const mb_column *c, mb_colstats *out, mb_error *err);

/* A float's bits as an unsigned key in the float order (for radix sorts):
** the sign bit set for a positive number, all bits inverted for a negative
** one, so -0 sorts just before +0. */
static inline uint32_t mb_float_key(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Sort n floats ascending, none NaN (-0 before +0), with scratch (2n
** words): an LSD radix sort, several times qsort's speed with its
** comparison by function pointer. */
void mb_sort_floats(float *a, uint32_t *scratch, size_t n);

#endif
