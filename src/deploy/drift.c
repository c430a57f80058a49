/*
** drift.c: PSI and the decile-grid KS statistic of serving data against
** a bundle's training deciles, counted in bins per feature (see drift.h
** for the binning and the approximations).
*/
#include "drift.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define NQ 11            /* deciles 0..10 in /monitoring quantiles */
#define MISS (MB_DRIFT_MAXBINS - 1)
#define FLOOR 1e-4

struct mb_drift_ref {
    size_t nf;
    size_t *nedges;      /* distinct interior deciles per feature (0..9) */
    double *edges;       /* nf x 9 */
    double *ftrain;      /* nf x 9: training CDF at each edge, of non-missing values */
    double *expect;      /* nf x MAXBINS: training share of each value bin, then missing */
    double *train_missing;
    unsigned char *ks_ok;
};

struct mb_drift_counts {
    const mb_drift_ref *ref;
    size_t rows;
    size_t *c;           /* nf x MAXBINS */
};

static const mb_state_array *find_array(const mb_state *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->arrays[i].name, name) == 0)
            return &s->arrays[i];
    return NULL;
}

void mb_drift_ref_free(mb_drift_ref **pr)
{
    if (!pr || !*pr)
        return;
    mb_drift_ref *r = *pr;
    mb_free(r->nedges);
    mb_free(r->edges);
    mb_free(r->ftrain);
    mb_free(r->expect);
    mb_free(r->train_missing);
    mb_free(r->ks_ok);
    mb_free(r);
    *pr = NULL;
}

/* Edges, training CDF and bin shares of one feature from its deciles q. */
static void feature_ref(mb_drift_ref *r, size_t j, const double *q, double miss)
{
    double *e = r->edges + j * 9, *F = r->ftrain + j * 9, *x = r->expect + j * MB_DRIFT_MAXBINS;
    size_t m = 0;
    for (int t = 1; t <= 9; t++)
        if (!isnan(q[t]) && (m == 0 || q[t] > e[m - 1]))
            e[m++] = q[t];
    for (size_t k = 0; k < m; k++) {
        int best = 0;
        for (int t = 0; t < NQ; t++)
            if (q[t] <= e[k])
                best = t;
        F[k] = best / 10.0;
    }
    r->nedges[j] = m;
    double prev = 0, have = isnan(miss) ? 1 : 1 - miss;
    for (size_t k = 0; k <= m; k++) {
        double cur = k < m ? F[k] : 1.0;
        x[k] = (cur - prev) * have;
        prev = cur;
    }
    x[MISS] = 1 - have;
    r->train_missing[j] = 1 - have;
    r->ks_ok[j] = m > 0 && !isnan(q[0]) && !isnan(q[10]) && q[10] > q[0];
}

/* Bundles since the drift bins carry the bins' exact training shares
** (mb_monitoring_compute): use them where they are consistent. */
static void exact_shares(mb_drift_ref *r, const double *edges, const double *shares)
{
    for (size_t j = 0; j < r->nf; j++) {
        const double *e = edges + j * 9, *sh = shares + j * MB_DRIFT_MAXBINS;
        size_t m = 0;
        while (m < 9 && !isnan(e[m]) && (m == 0 || e[m] > e[m - 1]))
            m++;
        int good = 1;
        double sum = 0;
        for (size_t k = m; k < 9; k++)
            good &= isnan(e[k]) != 0;
        for (size_t k = 0; k < MB_DRIFT_MAXBINS; k++) {
            good &= sh[k] >= 0 && sh[k] <= 1;
            sum += sh[k];
        }
        if (!good || fabs(sum - 1) > 1e-6)
            continue; /* keep the decile estimate */
        double *x = r->expect + j * MB_DRIFT_MAXBINS, have = 1 - sh[MISS], cum = 0;
        r->nedges[j] = m;
        for (size_t k = 0; k < MB_DRIFT_MAXBINS; k++)
            x[k] = k <= m || k == MISS ? sh[k] : 0;
        for (size_t k = 0; k < m; k++) {
            r->edges[j * 9 + k] = e[k];
            cum += sh[k];
            r->ftrain[j * 9 + k] = have > 0 ? cum / have : 0;
        }
        r->train_missing[j] = sh[MISS];
        r->ks_ok[j] = m > 0 && have > 0;
    }
}

mb_status mb_drift_ref_new(const mb_bundle *b, mb_drift_ref **out, mb_error *err)
{
    *out = NULL;
    const mb_state_array *q = find_array(&b->monitoring, "quantiles"), *mi = find_array(&b->monitoring, "missing");
    size_t nf = b->nfeatures;
    if (!q || !mi)
        return mb_fail(err, MB_ENOTFOUND,
                       "the bundle has no training statistics (/monitoring); refit it with this moonbench to "
                       "monitor drift");
    if (q->type != MB_DT_F64 || q->count != nf * NQ)
        return mb_fail(err, MB_EFORMAT, "/monitoring/quantiles: expected %zu float64 values (%zu features x 11), got %zu",
                       nf * NQ, nf, q->count);
    if (mi->type != MB_DT_F64 || mi->count != nf)
        return mb_fail(err, MB_EFORMAT, "/monitoring/missing: expected %zu float64 values, got %zu", nf, mi->count);
    const double *qv = q->data, *mv = mi->data;
    for (size_t j = 0; j < nf; j++)
        for (int t = 1; t < NQ; t++)
            if (qv[j * NQ + (size_t)t] < qv[j * NQ + (size_t)t - 1])
                return mb_fail(err, MB_EFORMAT, "/monitoring/quantiles: the deciles of feature '%s' are not sorted",
                               b->features[j]);
    mb_drift_ref *r = mb_calloc(1, sizeof *r);
    r->nf = nf;
    r->nedges = mb_calloc(nf + 1, sizeof *r->nedges);
    r->edges = mb_calloc(nf * 9 + 1, sizeof *r->edges);
    r->ftrain = mb_calloc(nf * 9 + 1, sizeof *r->ftrain);
    r->expect = mb_calloc(nf * MB_DRIFT_MAXBINS + 1, sizeof *r->expect);
    r->train_missing = mb_calloc(nf + 1, sizeof *r->train_missing);
    r->ks_ok = mb_calloc(nf + 1, 1);
    for (size_t j = 0; j < nf; j++) {
        double m = mv[j];
        feature_ref(r, j, qv + j * NQ, m >= 0 && m <= 1 ? m : (double)NAN);
    }
    const mb_state_array *be = find_array(&b->monitoring, "bin_edges"), *bs = find_array(&b->monitoring, "bin_shares");
    if (be && bs && be->type == MB_DT_F64 && bs->type == MB_DT_F64 && be->count == nf * 9 &&
        bs->count == nf * MB_DRIFT_MAXBINS)
        exact_shares(r, be->data, bs->data);
    *out = r;
    return MB_OK;
}

size_t mb_drift_ref_nfeatures(const mb_drift_ref *r) { return r->nf; }

/* {====== counting ======} */

mb_drift_counts *mb_drift_counts_new(const mb_drift_ref *r)
{
    mb_drift_counts *c = mb_calloc(1, sizeof *c);
    c->ref = r;
    c->c = mb_calloc(r->nf * MB_DRIFT_MAXBINS + 1, sizeof *c->c);
    return c;
}

void mb_drift_counts_free(mb_drift_counts **pc)
{
    if (!pc || !*pc)
        return;
    mb_free((*pc)->c);
    mb_free(*pc);
    *pc = NULL;
}

/* The bin of value v of feature j. */
static size_t bin_of(const mb_drift_ref *r, size_t j, float v)
{
    if (isnan(v))
        return MISS;
    const double *e = r->edges + j * 9;
    size_t m = r->nedges[j], k = 0;
    while (k < m && (double)v > e[k])
        k++;
    return k;
}

void mb_drift_counts_add(mb_drift_counts *c, const float *x)
{
    const mb_drift_ref *r = c->ref;
    for (size_t j = 0; j < r->nf; j++)
        c->c[j * MB_DRIFT_MAXBINS + bin_of(r, j, x[j])]++;
    c->rows++;
}

void mb_drift_counts_merge(mb_drift_counts *dst, const mb_drift_counts *src)
{
    for (size_t i = 0; i < dst->ref->nf * MB_DRIFT_MAXBINS; i++)
        dst->c[i] += src->c[i];
    dst->rows += src->rows;
}

size_t mb_drift_counts_rows(const mb_drift_counts *c) { return c->rows; }

static double floored(double v) { return v > FLOOR ? v : FLOOR; }

size_t mb_drift_report(const mb_drift_ref *r, const mb_drift_counts *c, double threshold, mb_drift_feature *out)
{
    size_t flagged = 0;
    double n = (double)c->rows;
    for (size_t j = 0; j < r->nf; j++) {
        mb_drift_feature *f = &out[j];
        const size_t *cnt = c->c + j * MB_DRIFT_MAXBINS;
        const double *ex = r->expect + j * MB_DRIFT_MAXBINS;
        size_t m = r->nedges[j];
        f->index = j;
        f->train_missing = r->train_missing[j];
        f->psi = f->ks = f->missing = NAN;
        f->flagged = 0;
        if (!c->rows)
            continue;
        double psi = 0;
        for (size_t k = 0; k < MB_DRIFT_MAXBINS; k++) {
            if (k > m && k != MISS)
                continue; /* bins this feature does not have */
            double a = floored((double)cnt[k] / n), e = floored(ex[k]);
            psi += (a - e) * log(a / e);
        }
        f->psi = psi;
        f->missing = (double)cnt[MISS] / n;
        double nn = n - (double)cnt[MISS], cum = 0, ks = 0;
        if (r->ks_ok[j] && nn > 0) {
            for (size_t k = 0; k < m; k++) {
                cum += (double)cnt[k];
                double d = fabs(cum / nn - r->ftrain[j * 9 + k]);
                ks = d > ks ? d : ks;
            }
            f->ks = ks;
        }
        f->flagged = psi > threshold;
        flagged += (size_t)f->flagged;
    }
    return flagged;
}

/* {====== the sliding window ======} */

struct mb_drift_window {
    pthread_mutex_t lock;
    mb_drift_counts *counts;
    unsigned char *bins;  /* rows x nf: each kept row's bins */
    size_t cap, next, filled;
};

mb_drift_window *mb_drift_window_new(const mb_drift_ref *r, size_t rows)
{
    mb_drift_window *w = mb_calloc(1, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    w->counts = mb_drift_counts_new(r);
    w->cap = rows ? rows : 1;
    w->bins = mb_calloc(w->cap * (r->nf ? r->nf : 1), 1);
    return w;
}

void mb_drift_window_free(mb_drift_window **pw)
{
    if (!pw || !*pw)
        return;
    mb_drift_window *w = *pw;
    pthread_mutex_destroy(&w->lock);
    mb_drift_counts_free(&w->counts);
    mb_free(w->bins);
    mb_free(w);
    *pw = NULL;
}

void mb_drift_window_add(mb_drift_window *w, const float *x)
{
    const mb_drift_ref *r = w->counts->ref;
    pthread_mutex_lock(&w->lock);
    unsigned char *row = w->bins + w->next * r->nf;
    size_t *c = w->counts->c;
    for (size_t j = 0; j < r->nf; j++) {
        if (w->filled == w->cap)
            c[j * MB_DRIFT_MAXBINS + row[j]]--; /* the oldest row leaves */
        row[j] = (unsigned char)bin_of(r, j, x[j]);
        c[j * MB_DRIFT_MAXBINS + row[j]]++;
    }
    if (w->filled < w->cap)
        w->filled++;
    w->counts->rows = w->filled;
    w->next = (w->next + 1) % w->cap;
    pthread_mutex_unlock(&w->lock);
}

size_t mb_drift_window_report(mb_drift_window *w, double threshold, mb_drift_feature *out)
{
    pthread_mutex_lock(&w->lock);
    size_t n = mb_drift_report(w->counts->ref, w->counts, threshold, out);
    pthread_mutex_unlock(&w->lock);
    return n;
}

size_t mb_drift_window_rows(mb_drift_window *w)
{
    pthread_mutex_lock(&w->lock);
    size_t n = w->filled;
    pthread_mutex_unlock(&w->lock);
    return n;
}
