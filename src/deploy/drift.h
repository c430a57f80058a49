/*
** drift.h: how far serving data has moved from the training data, per
** model feature, against the training statistics a bundle carries in
** /monitoring (mb_monitoring_compute: deciles of each feature).
**
** DESIGN
** ------
** Bins: the training deciles q0..q10 of a feature give the interior edges
** q1..q9; equal edges merge (a 0/1 feature has one edge), so a feature has
** 1 to 10 value bins plus a bin for missing values. A value x falls in the
** first bin whose edge e has x <= e, or in the last bin. The training
** share of a bin is read off the deciles: F(e) = t/10 for the largest t
** with q_t <= e (exact for distinct deciles, within 10% at ties), scaled
** by the training share of non-missing values. Bundles made since the
** drift bins carry each bin's exact training share (/monitoring
** bin_edges, bin_shares, from the same sampled rows as the deciles): then
** those are used, and only older bundles need the decile estimate.
**
** PSI = sum over bins of (a - e) ln(a / e), a the data's share, e the
** training share, both floored at 1e-4 so an empty bin counts as rare, not
** infinite. Customary reading: < 0.1 stable, 0.1-0.2 moderate, > 0.2
** (the default threshold) a shift worth acting on.
**
** KS: max |F_data(e) - F_train(e)| over the distinct decile edges, of the
** non-missing values. It is the two-sample KS statistic evaluated on the
** decile grid only, so a lower bound of the exact one (whose resolution
** the deciles do not allow beyond that); NaN for a feature with no edge
** (no values in training) or, with deciles only, a single distinct value.
**
** Counting is separate from reporting, so a server can count in several
** threads (one mb_drift_counts each, merged) or keep a sliding window of
** the last N rows (mb_drift_window, thread-safe).
*/
#ifndef MB_DRIFT_H
#define MB_DRIFT_H

#include "bundle.h"

#define MB_DRIFT_THRESHOLD 0.2
#define MB_DRIFT_MAXBINS 11 /* 10 value bins + missing */

/* The reference: bin edges and training shares per feature. */
typedef struct mb_drift_ref mb_drift_ref;

/* From a bundle's /monitoring (copied: the bundle may be freed after).
** MB_ENOTFOUND when the bundle has no training statistics; MB_EFORMAT
** naming the array when they do not fit the schema. */
mb_status mb_drift_ref_new(const mb_bundle *b, mb_drift_ref **out, mb_error *err);
void mb_drift_ref_free(mb_drift_ref **r);
size_t mb_drift_ref_nfeatures(const mb_drift_ref *r);

/* Counts of values per bin, per feature. Not thread-safe: one per thread. */
typedef struct mb_drift_counts mb_drift_counts;
mb_drift_counts *mb_drift_counts_new(const mb_drift_ref *r);
void mb_drift_counts_free(mb_drift_counts **c);
/* Count one row of model features (nfeatures floats, NaN = missing). */
void mb_drift_counts_add(mb_drift_counts *c, const float *x);
/* dst += src (same reference). */
void mb_drift_counts_merge(mb_drift_counts *dst, const mb_drift_counts *src);
size_t mb_drift_counts_rows(const mb_drift_counts *c);

typedef struct mb_drift_feature {
    size_t index;         /* feature index in the model */
    double psi;
    double ks;            /* NaN when the deciles do not allow it */
    double missing;       /* share of missing values in the data */
    double train_missing; /* ... and in training */
    int flagged;          /* psi > threshold */
} mb_drift_feature;

/* One entry per feature, in model order, from counts (which must hold at
** least one row for figures; with none every figure is NaN, nothing
** flagged). Returns how many are flagged. */
size_t mb_drift_report(const mb_drift_ref *r, const mb_drift_counts *c, double threshold,
                       mb_drift_feature *out);

/* {====== sliding window (the server's /metrics) ======}
** The last `rows` rows fed, counted incrementally: adding a row removes
** the oldest one once the window is full. Every call is thread-safe. */
typedef struct mb_drift_window mb_drift_window;
mb_drift_window *mb_drift_window_new(const mb_drift_ref *r, size_t rows);
void mb_drift_window_free(mb_drift_window **w);
void mb_drift_window_add(mb_drift_window *w, const float *x);
/* The report of the rows in the window now (mb_drift_report). */
size_t mb_drift_window_report(mb_drift_window *w, double threshold, mb_drift_feature *out);
size_t mb_drift_window_rows(mb_drift_window *w);

#endif
