/*
** eval.c: judging models (see eval.h): seeded train/test splits and
** cross-validation folds, classification and regression reports, ROC, PR
** and calibration curves, and the corrected resampled t-test.
**
** DESIGN
** ------
** Randomness. Splits draw from xoshiro256** (Blackman and Vigna, 2018),
** whose 256-bit state is filled by four outputs of splitmix64 started at
** the seed, as its authors recommend. A uniform integer below m rejects
** the 2^64 mod m lowest outputs and takes the rest modulo m (the method
** of OpenBSD's arc4random_uniform), so it is unbiased and, being integer
** arithmetic only, gives the same splits on every platform. Shuffles are
** Fisher-Yates (Durstenfeld's form, from the end).
**
** Strata and groups are coded 0..c-1 by order of first appearance, as
** scikit-learn's StratifiedKFold codes its classes; any float value (NaN
** excepted) or int64 group id is accepted.
**
** Stratified train/test split: class c of n_c rows gets the quota
** q_c = ntest * n_c / n test rows, rounded by largest remainder (ties in
** the remainder broken at random), with at least one test row and one
** train row for every class of two or more rows; each class then draws
** its test rows by a shuffle of its own rows. So every class's test share
** is within one row of its quota unless the minimum of one row forces a
** large class one further down.
**
** Folds follow scikit-learn: KFold's contiguous blocks (the first n mod k
** folds one row larger), on a shuffled order when asked; StratifiedKFold's
** round robin over the labels sorted by class code (fold i holds positions
** i, i+k, ... of that order, which fixes each class's count per fold;
** within a class the rows take their folds in row order, or shuffled), so
** without shuffling the folds equal scikit-learn's exactly; GroupKFold's
** greedy filling, largest group first, each into the fold with the fewest
** rows (lowest index on ties; a heap keeps it O(g log k)). Equal-sized
** groups are taken in order of first appearance, or in random order when
** shuffling.
**
** Classification metrics are scikit-learn's with zero_division=0; where
** scikit-learn raises or warns, the choice here is:
**   - macro averages run over the classes present in y or pred (as
**     scikit-learn does without labels=); balanced accuracy over the
**     classes present in y;
**   - a one-vs-rest ROC AUC is averaged over the classes that have both
**     positive and negative rows (scikit-learn refuses a y that lacks a
**     class), average precision over the classes that have positive rows;
**     NaN when there is none;
**   - log-loss is mb_log_loss (clip to [1e-15, 1 - 1e-15], no
**     renormalisation of the rows, which scikit-learn 1.2 did and later
**     versions dropped);
**   - curves: the ROC curve starts at threshold +inf (scikit-learn >= 1.3;
**     1.2 wrote max score + 1), the PR curve's final (recall 0,
**     precision 1) point gets threshold +inf.
**
** The p-value of Student's t is the regularised incomplete beta function
** I_x(df/2, 1/2) at x = df / (df + t^2), by the continued fraction of
** Numerical Recipes (betacf, modified Lentz), with 1 - x passed exactly so
** that tiny p-values keep their relative accuracy.
*/
#include "eval.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "rng.h"

#define DNAN ((double)NAN)
#define DINF ((double)INFINITY)

/* {====== random numbers ======} */

static void shuffle_size(mb_rng *r, size_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)mb_rng_below(r, i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static void shuffle_i32(mb_rng *r, int32_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)mb_rng_below(r, i);
        int32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* }====== */

/* {====== coding strata and groups ======} */

typedef struct keyed {
    double f;
    int64_t g;
    size_t row;
} keyed;

static int cmp_keyed(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    if (a->f != b->f)
        return a->f < b->f ? -1 : 1;
    if (a->g != b->g)
        return a->g < b->g ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

/* Code the rows' values (floats f, or int64 g when f is NULL) 0..c-1 by
** order of first appearance: code[row] (n entries, caller's), *count
** (mb_malloc'd, c entries, rows per code). what names the values in the
** message when one is NaN. */
static mb_status encode(const float *f, const int64_t *g, size_t n, const char *what,
                        int32_t *code, size_t *nclass, size_t **count, mb_error *err)
{
    mb_status rc = MB_OK;
    keyed *v = NULL;
    size_t *run_code = NULL, nrun = 0;
    *count = NULL;
    *nclass = 0;
    for (size_t i = 0; f && i < n; i++)
        if (isnan(f[i])) {
            rc = mb_fail(err, MB_EARG, "%s[%zu] is NaN; every row needs a value", what, i);
            goto exit;
        }
    v = mb_malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (keyed){f ? (double)f[i] : 0, f ? 0 : g[i], i};
    qsort(v, n, sizeof *v, cmp_keyed);
    /* code temporarily holds each row's run (distinct value) number. */
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (v[i].f != v[i - 1].f || v[i].g != v[i - 1].g))
            nrun++;
        code[v[i].row] = (int32_t)nrun;
    }
    nrun = n ? nrun + 1 : 0;
    if (nrun > INT32_MAX) {
        rc = mb_fail(err, MB_EARG, "%s: %zu distinct values is too many", what, nrun);
        goto exit;
    }
    run_code = mb_malloc((nrun ? nrun : 1) * sizeof *run_code);
    for (size_t j = 0; j < nrun; j++)
        run_code[j] = SIZE_MAX;
    *count = mb_calloc(nrun ? nrun : 1, sizeof **count);
    for (size_t i = 0; i < n; i++) {
        size_t run = (size_t)code[i];
        if (run_code[run] == SIZE_MAX)
            run_code[run] = (*nclass)++;
        code[i] = (int32_t)run_code[run];
        (*count)[code[i]]++;
    }
exit:
    mb_free(v);
    mb_free(run_code);
    if (rc != MB_OK) {
        mb_free(*count);
        *count = NULL;
    }
    return rc;
}

/* }====== */

/* {====== train/test split ======} */

typedef struct ranked {
    double key;
    size_t rank, cls;
} ranked;

/* Key decreasing, then rank increasing. */
static int cmp_ranked(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key > b->key ? -1 : 1;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

/* Test rows per class (see DESIGN): alloc[c] for nc classes of cnt[c]
** rows, summing to ntest. */
static mb_status stratified_alloc(const size_t *cnt, size_t nc, size_t n, size_t ntest, mb_rng *r,
                                  size_t *alloc, mb_error *err)
{
    mb_status rc = MB_OK;
    size_t *lo = mb_malloc(nc * sizeof *lo), *hi = mb_malloc(nc * sizeof *hi);
    size_t *rank = mb_malloc(nc * sizeof *rank);
    ranked *order = mb_malloc(nc * sizeof *order);
    size_t sumlo = 0, sumhi = 0, sum = 0, big = 0;
    for (size_t c = 0; c < nc; c++) {
        lo[c] = cnt[c] >= 2 ? 1 : 0;
        hi[c] = cnt[c] >= 2 ? cnt[c] - 1 : cnt[c];
        big += cnt[c] >= 2;
        sumlo += lo[c];
        sumhi += hi[c];
        rank[c] = c;
    }
    if (sumlo > ntest) {
        rc = mb_fail(err, MB_EARG,
                     "stratified train/test split: %zu test rows cannot hold one row of each "
                     "of the %zu classes that have two or more rows; test_size must give at "
                     "least %zu test rows",
                     ntest, big, sumlo);
        goto exit;
    }
    if (sumhi < ntest) {
        rc = mb_fail(err, MB_EARG,
                     "stratified train/test split: %zu train rows cannot hold one row of each "
                     "of the %zu classes that have two or more rows; test_size must leave at "
                     "least %zu train rows",
                     n - ntest, big, n - sumhi);
        goto exit;
    }
    shuffle_size(r, rank, nc); /* random tie-breaks */
    for (size_t c = 0; c < nc; c++) {
        double q = (double)ntest * (double)cnt[c] / (double)n;
        size_t a = (size_t)floor(q);
        alloc[c] = a < lo[c] ? lo[c] : a > hi[c] ? hi[c] : a;
        sum += alloc[c];
    }
    /* Give (or take) one row at a time to the classes furthest below (above)
    ** their quota; sumlo <= ntest <= sumhi guarantees progress. */
    while (sum != ntest) {
        int up = sum < ntest;
        for (size_t c = 0; c < nc; c++) {
            double q = (double)ntest * (double)cnt[c] / (double)n;
            order[c] = (ranked){up ? q - (double)alloc[c] : (double)alloc[c] - q, rank[c], c};
        }
        qsort(order, nc, sizeof *order, cmp_ranked);
        for (size_t i = 0; i < nc && sum != ntest; i++) {
            size_t c = order[i].cls;
            if (up && alloc[c] < hi[c]) {
                alloc[c]++;
                sum++;
            } else if (!up && alloc[c] > lo[c]) {
                alloc[c]--;
                sum--;
            }
        }
    }
exit:
    mb_free(lo);
    mb_free(hi);
    mb_free(rank);
    mb_free(order);
    return rc;
}

mb_status mb_split_train_test(size_t n, double test_size, const float *strata, uint64_t seed,
                              size_t **train, size_t *ntrain, size_t **test, size_t *ntest,
                              mb_error *err)
{
    mb_status rc = MB_OK;
    unsigned char *is_test = NULL;
    size_t *perm = NULL, *cnt = NULL, *alloc = NULL, *start = NULL, nt, nc = 0;
    int32_t *code = NULL;
    mb_rng r;
    *train = *test = NULL;
    *ntrain = *ntest = 0;
    if (n < 2) {
        rc = mb_fail(err, MB_EARG, "train/test split: %zu rows; need at least 2", n);
        goto exit;
    }
    if (!(test_size > 0) || !(test_size < 1 || (test_size <= (double)(n - 1) &&
                                               test_size == floor(test_size)))) {
        rc = mb_fail(err, MB_EARG,
                     "train/test split: test_size = %g is out of range; give a fraction in "
                     "(0, 1) or a whole number of rows in [1, %zu]",
                     test_size, n - 1);
        goto exit;
    }
    nt = test_size < 1 ? (size_t)ceil(test_size * (double)n) : (size_t)test_size;
    if (nt >= n) {
        rc = mb_fail(err, MB_EARG,
                     "train/test split: test_size = %g leaves no train row of %zu; give a "
                     "fraction in (0, %g]",
                     test_size, n, (double)(n - 1) / (double)n);
        goto exit;
    }
    mb_rng_seed(&r, seed);
    is_test = mb_calloc(n, 1);
    perm = mb_malloc(n * sizeof *perm);
    if (!strata) {
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        shuffle_size(&r, perm, n);
        for (size_t i = 0; i < nt; i++)
            is_test[perm[i]] = 1;
    } else {
        code = mb_malloc(n * sizeof *code);
        rc = encode(strata, NULL, n, "train/test split: strata", code, &nc, &cnt, err);
        if (rc != MB_OK)
            goto exit;
        alloc = mb_malloc(nc * sizeof *alloc);
        rc = stratified_alloc(cnt, nc, n, nt, &r, alloc, err);
        if (rc != MB_OK)
            goto exit;
        /* perm: rows grouped by class (counting sort), each group shuffled. */
        start = mb_malloc((nc + 1) * sizeof *start);
        start[0] = 0;
        for (size_t c = 0; c < nc; c++)
            start[c + 1] = start[c] + cnt[c];
        for (size_t i = 0; i < n; i++)
            perm[start[code[i]]++] = i;
        for (size_t c = nc; c > 0; c--)
            start[c] = start[c - 1];
        start[0] = 0;
        for (size_t c = 0; c < nc; c++) {
            shuffle_size(&r, perm + start[c], cnt[c]);
            for (size_t i = 0; i < alloc[c]; i++)
                is_test[perm[start[c] + i]] = 1;
        }
    }
    *train = mb_malloc((n - nt) * sizeof **train);
    *test = mb_malloc(nt * sizeof **test);
    for (size_t i = 0; i < n; i++) {
        if (is_test[i])
            (*test)[(*ntest)++] = i;
        else
            (*train)[(*ntrain)++] = i;
    }
exit:
    mb_free(is_test);
    mb_free(perm);
    mb_free(code);
    mb_free(cnt);
    mb_free(alloc);
    mb_free(start);
    return rc;
}

/* }====== */

/* {====== k folds ======} */

static int cmp_i32(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

/* Size decreasing, then rank increasing (the tie order). */
typedef struct sized {
    size_t size, rank, group;
} sized;

static int cmp_sized(const void *pa, const void *pb)
{
    const sized *a = pa, *b = pb;
    if (a->size != b->size)
        return a->size > b->size ? -1 : 1;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

/* Min-heap of folds by (rows, index). */
static int heap_less(const size_t *rows, size_t a, size_t b)
{
    return rows[a] < rows[b] || (rows[a] == rows[b] && a < b);
}

static void heap_down(size_t *heap, size_t k, const size_t *rows, size_t i)
{
    for (;;) {
        size_t m = i, l = 2 * i + 1, rr = l + 1;
        if (l < k && heap_less(rows, heap[l], heap[m]))
            m = l;
        if (rr < k && heap_less(rows, heap[rr], heap[m]))
            m = rr;
        if (m == i)
            return;
        size_t t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

static mb_status group_folds(size_t n, size_t k, int shuffle, const int64_t *groups, mb_rng *r,
                             int32_t *fold, mb_error *err)
{
    mb_status rc = MB_OK;
    int32_t *code = mb_malloc(n * sizeof *code);
    size_t *cnt = NULL, ng = 0, *rows = NULL, *heap = NULL, *rank = NULL;
    sized *order = NULL;
    int32_t *gfold = NULL;
    rc = encode(NULL, groups, n, "k-fold: groups", code, &ng, &cnt, err);
    if (rc != MB_OK)
        goto exit;
    if (ng < k) {
        rc = mb_fail(err, MB_EARG,
                     "k-fold: k = %zu folds is out of range for %zu groups; with groups k "
                     "must be in [2, %zu]",
                     k, ng, ng);
        goto exit;
    }
    rank = mb_malloc(ng * sizeof *rank);
    for (size_t g = 0; g < ng; g++)
        rank[g] = g;
    if (shuffle)
        shuffle_size(r, rank, ng);
    order = mb_malloc(ng * sizeof *order);
    for (size_t g = 0; g < ng; g++)
        order[g] = (sized){cnt[g], rank[g], g};
    qsort(order, ng, sizeof *order, cmp_sized);
    rows = mb_calloc(k, sizeof *rows);
    heap = mb_malloc(k * sizeof *heap);
    for (size_t f = 0; f < k; f++)
        heap[f] = f; /* all folds empty: already a heap by index */
    gfold = mb_malloc(ng * sizeof *gfold);
    for (size_t i = 0; i < ng; i++) {
        size_t f = heap[0];
        gfold[order[i].group] = (int32_t)f;
        rows[f] += order[i].size;
        heap_down(heap, k, rows, 0);
    }
    for (size_t i = 0; i < n; i++)
        fold[i] = gfold[code[i]];
exit:
    mb_free(code);
    mb_free(cnt);
    mb_free(rows);
    mb_free(heap);
    mb_free(rank);
    mb_free(order);
    mb_free(gfold);
    return rc;
}

static mb_status stratified_folds(size_t n, size_t k, int shuffle, const float *strata, mb_rng *r,
                                  int32_t *fold, mb_error *err)
{
    mb_status rc = MB_OK;
    int32_t *code = mb_malloc(n * sizeof *code), *v = NULL;
    size_t *cnt = NULL, nc = 0, *next = NULL;
    rc = encode(strata, NULL, n, "k-fold: strata", code, &nc, &cnt, err);
    if (rc != MB_OK)
        goto exit;
    /* Position p of the labels sorted by code goes to fold p mod k; class c
    ** holds positions [next[c], next[c] + cnt[c]) and deals those folds,
    ** sorted (or shuffled), to its rows in row order. */
    v = mb_malloc(n * sizeof *v);
    next = mb_malloc(nc * sizeof *next);
    for (size_t p = 0; p < n; p++)
        v[p] = (int32_t)(p % k);
    for (size_t c = 0, p = 0; c < nc; p += cnt[c], c++) {
        next[c] = p;
        qsort(v + p, cnt[c], sizeof *v, cmp_i32);
        if (shuffle)
            shuffle_i32(r, v + p, cnt[c]);
    }
    for (size_t i = 0; i < n; i++)
        fold[i] = v[next[code[i]]++];
exit:
    mb_free(code);
    mb_free(cnt);
    mb_free(v);
    mb_free(next);
    return rc;
}

mb_status mb_kfold(size_t n, size_t k, int shuffle, const float *strata, const int64_t *groups,
                   uint64_t seed, int32_t *fold, mb_error *err)
{
    mb_rng r;
    if (n < 2)
        return mb_fail(err, MB_EARG, "k-fold: %zu rows; need at least 2", n);
    if (k < 2 || k > n || k > INT32_MAX)
        return mb_fail(err, MB_EARG,
                       "k-fold: k = %zu folds is out of range; k must be in [2, %zu] for %zu "
                       "rows",
                       k, n < (size_t)INT32_MAX ? n : (size_t)INT32_MAX, n);
    if (strata && groups)
        return mb_fail(err, MB_EARG,
                       "k-fold: give strata or groups, not both (stratified group folds are "
                       "not supported)");
    mb_rng_seed(&r, seed);
    if (groups)
        return group_folds(n, k, shuffle, groups, &r, fold, err);
    if (strata)
        return stratified_folds(n, k, shuffle, strata, &r, fold, err);
    /* Contiguous blocks over the row order or a shuffled one. */
    size_t *perm = NULL;
    if (shuffle) {
        perm = mb_malloc(n * sizeof *perm);
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        shuffle_size(&r, perm, n);
    }
    size_t p = 0;
    for (size_t f = 0; f < k; f++) {
        size_t size = n / k + (f < n % k);
        for (size_t j = 0; j < size; j++, p++)
            fold[perm ? perm[p] : p] = (int32_t)f;
    }
    mb_free(perm);
    return MB_OK;
}

/* }====== */

/* {====== binary ranking curves ======} */

/* scikit-learn's _binary_clf_curve: for each distinct score, decreasing,
** the true and false positives among the rows scoring at least that much.
** Arrays of m <= n entries (mb_malloc'd); scores must not be NaN. */
typedef struct clf_curve {
    size_t m;
    double *tps, *fps, *thr;
} clf_curve;

static void clf_curve_make(const unsigned char *pos, const float *score, size_t stride, size_t n,
                           clf_curve *cc)
{
    mb_scored *v = mb_malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (mb_scored){score[i * stride], pos[i]};
    mb_scored_sort(v, n, 1);
    cc->tps = mb_malloc((n ? n : 1) * sizeof *cc->tps);
    cc->fps = mb_malloc((n ? n : 1) * sizeof *cc->fps);
    cc->thr = mb_malloc((n ? n : 1) * sizeof *cc->thr);
    cc->m = 0;
    size_t tp = 0, fp = 0;
    for (size_t i = 0; i < n; i++) {
        tp += v[i].y != 0;
        fp += v[i].y == 0;
        if (i + 1 == n || v[i + 1].s != v[i].s) {
            cc->tps[cc->m] = (double)tp;
            cc->fps[cc->m] = (double)fp;
            cc->thr[cc->m] = (double)v[i].s;
            cc->m++;
        }
    }
    mb_free(v);
}

static void clf_curve_free(clf_curve *cc)
{
    mb_free(cc->tps);
    mb_free(cc->fps);
    mb_free(cc->thr);
    memset(cc, 0, sizeof *cc);
}

/* Average precision, sum (R_i - R_{i-1}) P_i over the thresholds
** (scikit-learn's average_precision_score); NaN without positives. */
static double average_precision(const unsigned char *pos, const float *score, size_t stride,
                                size_t n)
{
    clf_curve cc;
    clf_curve_make(pos, score, stride, n, &cc);
    double npos = cc.m ? cc.tps[cc.m - 1] : 0, ap = 0, prev = 0;
    for (size_t i = 0; i < cc.m && npos > 0; i++) {
        double rec = cc.tps[i] / npos, prec = cc.tps[i] / (cc.tps[i] + cc.fps[i]);
        ap += (rec - prev) * prec;
        prev = rec;
    }
    clf_curve_free(&cc);
    return npos > 0 ? ap : DNAN;
}

/* Check binary labels and scores; fill pos[] (1 for y == 1). */
static mb_status check_binary(const char *what, const float *y, const float *score, size_t n,
                              unsigned char *pos, size_t *npos, mb_error *err)
{
    *npos = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 0 && y[i] != 1)
            return mb_fail(err, MB_EARG, "%s: y[%zu] = %g is not a binary label (0 or 1)", what,
                           i, (double)y[i]);
        if (isnan(score[i]))
            return mb_fail(err, MB_EARG, "%s: score[%zu] is NaN", what, i);
        pos[i] = y[i] == 1;
        *npos += pos[i];
    }
    return MB_OK;
}

static void curve_alloc(mb_curve *c, size_t m)
{
    c->n = m;
    c->x = mb_malloc((m ? m : 1) * sizeof *c->x);
    c->y = mb_malloc((m ? m : 1) * sizeof *c->y);
    c->threshold = mb_malloc((m ? m : 1) * sizeof *c->threshold);
}

mb_status mb_roc_curve(const float *y, const float *score, size_t n, mb_curve *c, mb_error *err)
{
    mb_status rc = MB_OK;
    unsigned char *pos = mb_malloc(n ? n : 1);
    size_t npos;
    clf_curve cc = {0};
    memset(c, 0, sizeof *c);
    rc = check_binary("ROC curve", y, score, n, pos, &npos, err);
    if (rc != MB_OK)
        goto exit;
    if (npos == 0 || npos == n) {
        rc = mb_fail(err, MB_EARG,
                     "ROC curve: needs both classes; the %zu rows have %zu positive and %zu "
                     "negative",
                     n, npos, n - npos);
        goto exit;
    }
    clf_curve_make(pos, score, 1, n, &cc);
    curve_alloc(c, cc.m + 1);
    c->x[0] = c->y[0] = 0;
    c->threshold[0] = DINF;
    for (size_t i = 0; i < cc.m; i++) {
        c->x[i + 1] = cc.fps[i] / (double)(n - npos);
        c->y[i + 1] = cc.tps[i] / (double)npos;
        c->threshold[i + 1] = cc.thr[i];
    }
exit:
    clf_curve_free(&cc);
    mb_free(pos);
    return rc;
}

mb_status mb_pr_curve(const float *y, const float *score, size_t n, mb_curve *c, mb_error *err)
{
    mb_status rc = MB_OK;
    unsigned char *pos = mb_malloc(n ? n : 1);
    size_t npos;
    clf_curve cc = {0};
    memset(c, 0, sizeof *c);
    rc = check_binary("PR curve", y, score, n, pos, &npos, err);
    if (rc != MB_OK)
        goto exit;
    if (npos == 0) {
        rc = mb_fail(err, MB_EARG, "PR curve: needs positive rows (y = 1); the %zu rows have none",
                     n);
        goto exit;
    }
    clf_curve_make(pos, score, 1, n, &cc);
    curve_alloc(c, cc.m + 1);
    /* Lowest threshold first (recall decreasing), then recall 0, precision 1. */
    for (size_t i = 0; i < cc.m; i++) {
        size_t j = cc.m - 1 - i;
        c->x[i] = cc.tps[j] / (double)npos;
        c->y[i] = cc.tps[j] / (cc.tps[j] + cc.fps[j]);
        c->threshold[i] = cc.thr[j];
    }
    c->x[cc.m] = 0;
    c->y[cc.m] = 1;
    c->threshold[cc.m] = DINF;
exit:
    clf_curve_free(&cc);
    mb_free(pos);
    return rc;
}

mb_status mb_calibration(const float *y, const float *score, size_t n, size_t nbins, mb_curve *c,
                         mb_error *err)
{
    mb_status rc = MB_OK;
    unsigned char *pos = mb_malloc(n ? n : 1);
    double *edge = NULL, *sum = NULL, *npos = NULL;
    size_t *cnt = NULL, npos_all;
    memset(c, 0, sizeof *c);
    if (nbins < 1) {
        rc = mb_fail(err, MB_EARG, "calibration: nbins = 0; need at least 1 bin");
        goto exit;
    }
    rc = check_binary("calibration", y, score, n, pos, &npos_all, err);
    if (rc != MB_OK)
        goto exit;
    for (size_t i = 0; i < n; i++)
        if (!(score[i] >= 0 && score[i] <= 1)) {
            rc = mb_fail(err, MB_EARG,
                         "calibration: score[%zu] = %g is not a probability in [0, 1]", i,
                         (double)score[i]);
            goto exit;
        }
    /* numpy.linspace(0, 1, nbins + 1): edge j = j * (1 / nbins); a score
    ** goes to the bin of the first interior edge >= it (searchsorted left). */
    edge = mb_malloc(nbins * sizeof *edge);
    for (size_t j = 0; j < nbins; j++)
        edge[j] = (double)(j + 1) * (1.0 / (double)nbins);
    sum = mb_calloc(nbins, sizeof *sum);
    npos = mb_calloc(nbins, sizeof *npos);
    cnt = mb_calloc(nbins, sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
        double p = (double)score[i];
        size_t lo = 0, hi = nbins - 1; /* search edge[0 .. nbins-2] */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (edge[mid] < p)
                lo = mid + 1;
            else
                hi = mid;
        }
        sum[lo] += p;
        npos[lo] += pos[i];
        cnt[lo]++;
    }
    size_t m = 0;
    for (size_t j = 0; j < nbins; j++)
        m += cnt[j] > 0;
    curve_alloc(c, m);
    m = 0;
    for (size_t j = 0; j < nbins; j++)
        if (cnt[j]) {
            c->x[m] = sum[j] / (double)cnt[j];
            c->y[m] = npos[j] / (double)cnt[j];
            c->threshold[m] = (double)cnt[j];
            m++;
        }
exit:
    mb_free(pos);
    mb_free(edge);
    mb_free(sum);
    mb_free(npos);
    mb_free(cnt);
    return rc;
}

void mb_curve_free(mb_curve *c)
{
    if (!c)
        return;
    mb_free(c->x);
    mb_free(c->y);
    mb_free(c->threshold);
    memset(c, 0, sizeof *c);
}

/* }====== */

/* {====== classification report ======} */

static mb_status check_classes(const char *what, const float *v, size_t n, size_t k,
                               mb_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (!(v[i] >= 0 && v[i] < (float)k && v[i] == floorf(v[i])))
            return mb_fail(err, MB_EARG,
                           "classification report: %s[%zu] = %g is not a class index in "
                           "[0, %zu)",
                           what, i, (double)v[i], k);
    return MB_OK;
}

static double safe_div(double a, double b) { return b > 0 ? a / b : 0; }

mb_status mb_class_report_compute(const float *y, const float *pred, const float *proba, size_t n,
                                  size_t k, mb_class_report *r, mb_error *err)
{
    mb_status rc = MB_OK;
    size_t kk, *predicted = NULL, correct = 0, present = 0, supported = 0;
    size_t auc_n = 0, ap_n = 0;
    double bal = 0, auc_sum = 0, ap_sum = 0, brier = 0;
    unsigned char *pos = NULL;
    float *lab = NULL, *col = NULL;
    memset(r, 0, sizeof *r);
    r->k = k;
    r->n = n;
    if (k < 2) {
        rc = mb_fail(err, MB_EARG, "classification report: k = %zu classes; need at least 2", k);
        goto exit;
    }
    if (n == 0) {
        rc = mb_fail(err, MB_EEMPTY, "classification report: no rows");
        goto exit;
    }
    if ((rc = check_classes("y", y, n, k, err)) != MB_OK ||
        (rc = check_classes("pred", pred, n, k, err)) != MB_OK)
        goto exit;
    for (size_t i = 0; proba && i < n; i++)
        for (size_t c = 0; c < k; c++)
            if (isnan(proba[i * k + c])) {
                rc = mb_fail(err, MB_EARG, "classification report: proba[%zu, %zu] is NaN", i,
                             c);
                goto exit;
            }
    if (!mb_mul_ok(k, k, &kk) || !(r->confusion = mb_trycalloc(kk, sizeof *r->confusion))) {
        rc = mb_fail(err, MB_ENOMEM,
                     "classification report: no memory for a %zu x %zu confusion matrix", k, k);
        goto exit;
    }
    r->precision = mb_calloc(k, sizeof *r->precision);
    r->recall = mb_calloc(k, sizeof *r->recall);
    r->f1 = mb_calloc(k, sizeof *r->f1);
    r->support = mb_calloc(k, sizeof *r->support);
    predicted = mb_calloc(k, sizeof *predicted);
    for (size_t i = 0; i < n; i++) {
        size_t t = (size_t)y[i], p = (size_t)pred[i];
        r->confusion[t * k + p]++;
        r->support[t]++;
        predicted[p]++;
        correct += t == p;
    }
    r->accuracy = (double)correct / (double)n;
    for (size_t c = 0; c < k; c++) {
        double tp = (double)r->confusion[c * k + c];
        double p = safe_div(tp, (double)predicted[c]), q = safe_div(tp, (double)r->support[c]);
        double w = (double)r->support[c] / (double)n;
        r->precision[c] = p;
        r->recall[c] = q;
        r->f1[c] = safe_div(2 * p * q, p + q);
        r->precision_weighted += w * p;
        r->recall_weighted += w * q;
        r->f1_weighted += w * r->f1[c];
        if (r->support[c] || predicted[c]) {
            present++;
            r->precision_macro += p;
            r->recall_macro += q;
            r->f1_macro += r->f1[c];
        }
        if (r->support[c]) {
            supported++;
            bal += q;
        }
    }
    r->precision_macro /= (double)present;
    r->recall_macro /= (double)present;
    r->f1_macro /= (double)present;
    r->balanced_accuracy = bal / (double)supported;

    r->roc_auc = r->pr_auc = r->log_loss = r->brier = DNAN;
    if (!proba)
        goto exit;
    pos = mb_malloc(n);
    lab = mb_malloc(n * sizeof *lab);
    col = mb_malloc(n * sizeof *col);
    for (size_t c = k == 2 ? 1 : 0; c < k; c++) {
        for (size_t i = 0; i < n; i++) {
            pos[i] = (size_t)y[i] == c;
            lab[i] = pos[i];
            col[i] = proba[i * k + c];
        }
        double auc = mb_roc_auc(lab, col, n);
        double ap = average_precision(pos, col, 1, n);
        if (!isnan(auc)) {
            auc_sum += auc;
            auc_n++;
        }
        if (!isnan(ap)) {
            ap_sum += ap;
            ap_n++;
        }
    }
    if (auc_n)
        r->roc_auc = auc_sum / (double)auc_n;
    if (ap_n)
        r->pr_auc = ap_sum / (double)ap_n;
    r->log_loss = mb_log_loss(y, proba, n, k);
    for (size_t i = 0; i < n; i++) {
        size_t t = (size_t)y[i];
        if (k == 2) {
            double d = (double)proba[i * 2 + 1] - (double)(t == 1);
            brier += d * d;
        } else {
            for (size_t c = 0; c < k; c++) {
                double d = (double)proba[i * k + c] - (double)(t == c);
                brier += d * d;
            }
        }
    }
    r->brier = brier / (double)n;
exit:
    mb_free(predicted);
    mb_free(pos);
    mb_free(lab);
    mb_free(col);
    if (rc != MB_OK)
        mb_class_report_free(r);
    return rc;
}

void mb_class_report_free(mb_class_report *r)
{
    if (!r)
        return;
    mb_free(r->precision);
    mb_free(r->recall);
    mb_free(r->f1);
    mb_free(r->support);
    mb_free(r->confusion);
    r->precision = r->recall = r->f1 = NULL;
    r->support = r->confusion = NULL;
}

/* }====== */

/* {====== regression report ======} */

void mb_reg_report_compute(const float *y, const float *pred, size_t n, mb_reg_report *r)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    if (n == 0) {
        r->rmse = r->mae = r->r2 = r->mape = DNAN;
        return;
    }
    double mae = 0, mape = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)y[i] - (double)pred[i]), a = fabs((double)y[i]);
        mae += e;
        mape += e / (a > DBL_EPSILON ? a : DBL_EPSILON);
    }
    r->rmse = mb_rmse(y, pred, n);
    r->mae = mae / (double)n;
    r->r2 = mb_r2(y, pred, n);
    r->mape = mape / (double)n;
}

/* }====== */

/* {====== comparing pipelines ======} */

/* Continued fraction of the incomplete beta function (Numerical Recipes'
** betacf, modified Lentz); converges fast for x < (a + 1) / (a + b + 2). */
static double betacf(double a, double b, double x)
{
    const double fpmin = DBL_MIN / DBL_EPSILON, eps = 1e-16;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap, h;
    if (fabs(d) < fpmin)
        d = fpmin;
    d = 1 / d;
    h = d;
    for (int m = 1; m <= 100000; m++) {
        double m2 = 2.0 * m, aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < fpmin)
            d = fpmin;
        c = 1 + aa / c;
        if (fabs(c) < fpmin)
            c = fpmin;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < fpmin)
            d = fpmin;
        c = 1 + aa / c;
        if (fabs(c) < fpmin)
            c = fpmin;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps)
            break;
    }
    return h;
}

/* Regularised incomplete beta I_x(a, b), with y = 1 - x given exactly. */
static double betai(double a, double b, double x, double y)
{
    if (x <= 0)
        return 0;
    if (y <= 0)
        return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(y);
    if (x < (a + 1) / (a + b + 2))
        return exp(lbt) * betacf(a, b, x) / a;
    return 1 - exp(lbt) * betacf(b, a, y) / b;
}

double mb_student_t_2sided(double t, double df)
{
    if (isnan(t) || !(df > 0))
        return DNAN;
    if (isinf(t))
        return 0;
    double at = fabs(t);
    if (at > 1e150) /* t^2 would overflow: x = df / t^2 to double precision */
        return betai(df / 2, 0.5, df / at / at, 1);
    double t2 = at * at;
    return betai(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
}

double mb_corrected_ttest(const double *a, const double *b, size_t r, double test_train_ratio,
                          double *t)
{
    if (t)
        *t = DNAN;
    if (r < 2)
        return DNAN;
    double mean = 0, var = 0, d0 = a[0] - b[0];
    int all_equal = 1;
    for (size_t i = 0; i < r; i++) {
        double d = a[i] - b[i];
        mean += d;
        all_equal &= d == d0;
    }
    if (all_equal)
        return DNAN;
    mean /= (double)r;
    for (size_t i = 0; i < r; i++) {
        double d = a[i] - b[i] - mean;
        var += d * d;
    }
    var /= (double)(r - 1);
    double tv = mean / sqrt((1.0 / (double)r + test_train_ratio) * var);
    if (t)
        *t = tv;
    return mb_student_t_2sided(tv, (double)(r - 1));
}

/* }====== */
