/*
** export.h: what the C and ONNX exporters share: a bundle turned into a
** flat, checked description of scoring (the raw input columns, each
** fitted transform as one operation per output column, the features the
** model takes, and its portable form), so that each writer only prints.
**
** Inputs of exported models: one float per raw input column, in the
** bundle's input order. A categorical input holds a level code: the index
** of its text in the column's export dictionary (levels[j], the training
** levels the pipeline knows for that column), NaN for a missing value, and
** any other number (-1 by convention) for a level not seen in training,
** which then behaves as in the workbench (onehot: all zeros, ordinal: NaN,
** not filled by impute).
**
** Nothing here runs Lua or a plugin: a bundle with a Lua step or without a
** portable form is refused with a message naming the step or the model.
*/
#ifndef MB_EXPORT_H
#define MB_EXPORT_H

#include <stdio.h>

#include "bundle.h"

/* One output column of a step. */
typedef struct mbx_col {
    char *name;                   /* the output column's name */
    mb_step_op op;
    size_t src, src2;             /* columns of the step's input */
    double a, b;                  /* as mb_step_col */
    int32_t *table;               /* ONEHOT, ORDINAL: table[code] = training level or -1 */
    size_t ntable;                /* codes 0..ntable-1 of the input column */
    int32_t k;                    /* ONEHOT: the level that gives 1 */
    int32_t fillcode;             /* CATFILL: the code missing values get */
} mbx_col;

typedef struct mbx_step {
    const char *kind;             /* borrowed from the bundle */
    size_t nin, nout;
    mbx_col *cols;                /* nout */
} mbx_step;

typedef struct mbx_export {
    const mb_bundle *b;
    size_t ninputs;
    char **inputs;                /* names (owned copies) */
    int *iscat;                   /* ninputs */
    char ***levels;               /* categorical inputs: the export dictionary */
    size_t *nlevels;
    size_t nsteps;
    mbx_step *steps;
    size_t nfeatures;             /* == b->nfeatures */
    size_t *feature_col;          /* column of the last step's output (or input) */
    mb_portable form;
    mb_mlp_layer *layers;
    size_t noutputs;              /* raw outputs of the form */
    double threshold;             /* binary: class 1 when P(class 1) > threshold */
    int tree_layout;              /* C: MBX_TREES_AUTO, _CODE or _TABLES (below) */
} mbx_export;

/* How the C export writes a tree ensemble. AUTO: padded complete trees
** walked without branches (the fastest) when the ensemble is at most 12
** levels deep and padding at most octuples it, else CODE. CODE: nested ifs
** with the thresholds inlined (up to 200,000 nodes and 48 levels, else
** TABLES). TABLES: the node list and a loop (the smallest code). */
enum { MBX_TREES_AUTO, MBX_TREES_CODE, MBX_TREES_TABLES };

/* Build the description; err names what cannot be exported. */
mb_status mbx_open(mbx_export *x, const mb_bundle *b, mb_error *err);
void mbx_close(mbx_export *x);

/* The number of floats a predict call writes: nclasses, or 1. */
size_t mbx_nout(const mbx_export *x);

/* A file written atomically (io.h): open, write to fp, then commit (or
** discard on any failure). */
typedef struct mbx_file {
    FILE *fp;
    char *tmp;
    const char *path;
} mbx_file;
mb_status mbx_file_open(mbx_file *f, const char *path, mb_error *err);
mb_status mbx_file_commit(mbx_file *f, mb_error *err);
void mbx_file_discard(mbx_file *f);

/* The writers. c: DIR/model.h and DIR/model.c (DIR is created if absent);
** onnx: one file. Both write atomically. */
mb_status mbx_write_c(const mbx_export *x, const char *dir, const char *bundle_path, mb_error *err);
mb_status mbx_write_onnx(const mbx_export *x, const char *path, const char *bundle_path, mb_error *err);

#endif
