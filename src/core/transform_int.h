/*
** transform_int.h: what the three parts of the transforms share (not an
** API): transform.c (kinds, creating, apply), transform_fit.c (fit) and
** transform_state.c (the fitted state as named arrays: save and load).
*/
#ifndef MB_TRANSFORM_INT_H
#define MB_TRANSFORM_INT_H

#include "transform.h"

#define STATE_VERSION 1

typedef enum tkind {
    K_STANDARDIZE,
    K_MINMAX,
    K_IMPUTE,
    K_ONEHOT,
    K_ORDINAL,
    K_LOG1P,
    K_CLIP,
    K_POLY2,
    K_SELECT,
    K_DROP,
    K_COUNT_
} tkind;

typedef enum twant { W_NUM, W_CAT, W_ANY } twant;

typedef struct mbt_kind {
    const char *name;
    twant want; /* the columns it takes (impute: see mbt_kind_wants) */
} mbt_kind;

extern const mbt_kind mbt_kinds[K_COUNT_];

#define KIND_LIST "standardize, minmax, impute, onehot, ordinal, log1p, clip, poly2, select, drop"

enum { S_MEAN, S_MEDIAN, S_MOST_FREQUENT, S_CONSTANT, S_COUNT_ };
extern const char *const mbt_strategy_names[S_COUNT_];

/* A level of a fitted categorical column, for lookup by text. */
typedef struct lvref {
    const char *s;
    int32_t i;    /* index among the column's training levels */
} lvref;

/* Everything apply needs. Arrays have n entries (one per fitted column)
** unless said otherwise; unused ones stay NULL. */
typedef struct tstate {
    size_t n;
    char **cols;          /* fitted column names */
    uint8_t *iscat;       /* impute: the column is categorical */
    double *a, *b;        /* standardize: mean, scale; minmax: min, scale; impute: fill */
    char **text;          /* impute: fill level of categorical columns ("" otherwise) */
    uint8_t *missing;     /* impute: the column had missing values in training */
    size_t *off;          /* onehot, ordinal: n + 1 offsets into levels */
    char **levels;        /* onehot, ordinal: the training levels, column after column */
    size_t nlevels;
    lvref *sorted;        /* levels sorted by text within each column (not saved) */
    int strategy, add_indicator, unknown_error;
    double lo, hi;        /* clip */
} tstate;

struct mb_transform {
    tkind kind;
    char **opt_cols;      /* the columns option, or NULL */
    size_t nopt_cols;
    int strategy;
    double fill;
    char *fill_text;
    int add_indicator, unknown_error;
    double lo, hi;
    int fitted;
    tstate st;
};

/* remap index of a code: code + 1, or 0 (missing) for -1 and bad codes. */
static inline size_t code_slot(int32_t code, size_t nl)
{
    return code >= 0 && (size_t)code < nl ? (size_t)code + 1 : 0;
}

/* The kind named s, or -1. */
int mbt_kind_of(const char *s);
/* The column type a kind takes; impute with mean or median: numbers only. */
twant mbt_kind_wants(tkind k, int strategy);
void mbt_strv_free(char **v, size_t n);
void mbt_tstate_free(tstate *s);
/* Derived lookup tables, after fit and load: the levels of each column
** sorted by text. */
mb_status mbt_finish_state(tkind kind, tstate *st, mb_error *err);
/* Whether frame f takes the transform with state st (names, clashes):
** the apply plan built and thrown away. */
mb_status mbt_plan_check(const mb_transform *t, const tstate *st, const mb_frame *f, mb_error *err);

#endif
