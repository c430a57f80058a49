/*
** score.h: batch and stream scoring through the runtime (runtime.h), the
** work behind `moonbench score` (src/cli/score.c; docs/deployment.md).
*/
#ifndef MB_SCORE_H
#define MB_SCORE_H

#include <stdio.h>

#include "drift.h"
#include "runtime.h"

typedef struct mb_score_opts {
    const char *id;        /* a column passed through to the output, or NULL */
    const char *rejects;   /* where rejected rows go (CSV: row,reason), or NULL */
    size_t chunk;          /* batch: rows per chunk (0: 65536) */
    int progress;          /* batch: a progress bar on stderr */
    size_t threads;        /* batch: scoring threads (0: one per online CPU) */
    size_t batch;          /* stream: rows per micro-batch (0 or 1: none) */
    char format;           /* stream: 0 detect, 'j' NDJSON, 'c' CSV lines */
} mb_score_opts;

typedef struct mb_score_stats {
    size_t rows, scored, rejected;
    /* labelled rows (the input had the bundle's target column), for metrics */
    size_t labelled;
    float *y, *pred, *proba;   /* labelled x 1, 1, nclasses */
    size_t cap;
    size_t unknown_labels;     /* target values that are none of the model's classes */
    char rejects_path[1024];   /* where rejects went ("" when none) */
} mb_score_stats;

/* Score the file input (CSV, or HDF5 "file.h5[:/object]") into output
** (".h5"/".hdf5": HDF5 matrix layout; anything else, or NULL for stdout:
** CSV), chunk by chunk. Rows that cannot be scored go to o->rejects (or,
** with no rejects file, are counted and the first reasons kept in err's
** caller's stats); the others are scored. Outputs are written atomically. */
mb_status mb_score_batch(const mb_runtime *rt, const char *input, const char *output, const mb_score_opts *o,
                         mb_score_stats *st, mb_error *err);
void mb_score_stats_free(mb_score_stats *st);

/* Score lines from fd in (NDJSON objects or arrays, or CSV lines) to out,
** one JSON line per input line, flushed, in order; a bad line gets
** {"line":N,"error":"..."} and the stream goes on. Returns at end of input
** (MB_OK) or on a write or read error. */
mb_status mb_score_stream(const mb_runtime *rt, int in, FILE *out, const mb_score_opts *o, mb_score_stats *st,
                          mb_error *err);

/* One JSON record (text of n bytes: an object by input name, or an array
** in input order, as a --stream line) into the model's features x
** (nfeatures floats) through ctx, which is reset first. Errors name the
** column (as mb_runtime_row_transform's) or the JSON fault. For callers
** that take records one by one (the Redis worker, worker.c). */
mb_status mb_score_json_features(const mb_runtime *rt, mb_runtime_row_ctx *ctx, const char *text, size_t n,
                                 float *x, mb_error *err);

/* Drift of a file (moonbench drift): every row's model features counted
** into counts; rows that cannot be transformed are counted as rejected
** (reasons to o->rejects, or stderr); with the target present, the rows
** are also scored for metrics (st). */
mb_status mb_score_drift(const mb_runtime *rt, const char *input, const mb_score_opts *o, mb_drift_counts *counts,
                         mb_score_stats *st, mb_error *err);

#endif
