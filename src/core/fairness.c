/*
** fairness.c: metrics by group, the disparities between groups and their
** bootstrap intervals (fairness.h), and bootstrap intervals of a report's
** metrics for model cards.
**
** Every figure, the point estimate as each bootstrap replicate, goes
** through the same two steps: rows are added into per-group sums (counts
** of the confusion cells, predicted classes, error sums), then the sums
** are turned into rates and the disparities. A replicate is the sums of n
** rows drawn with replacement, so no resampled copy of the data is made.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "fairness.h"
#include "metrics.h"
#include "rng.h" /* the core's one generator: bootstrap draws as eval.c's */

#define DNAN ((double)NAN)

/* numpy.percentile's linear interpolation of sorted v[0..m), q in [0, 1]. */
static double percentile(const double *v, size_t m, double q)
{
    if (!m)
        return DNAN;
    double pos = q * (double)(m - 1), fl = floor(pos);
    size_t i = (size_t)fl;
    return i + 1 < m ? v[i] + (pos - fl) * (v[i + 1] - v[i]) : v[m - 1];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* lo, hi of the finite values among v[0..m) (sorted in place). */
static void interval(double *v, size_t m, double level, double *lo, double *hi)
{
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (isfinite(v[i]))
            v[k++] = v[i];
    qsort(v, k, sizeof *v, cmp_double);
    *lo = percentile(v, k, (1 - level) / 2);
    *hi = percentile(v, k, 1 - (1 - level) / 2);
}

/* {====== groups ======} */

/* One column's values ranked as pandas sorts them: per row a rank in
** 0..nvals (nvals = missing), and the values' texts. */
typedef struct col_rank {
    uint32_t *rank;
    char **text;
    size_t nvals;
    int missing;                  /* some row is missing */
} col_rank;

typedef struct level_ref {
    const char *text;
    int32_t code;
} level_ref;

static int cmp_level(const void *a, const void *b)
{
    return strcmp(((const level_ref *)a)->text, ((const level_ref *)b)->text);
}

static mb_status rank_column(const mb_column *c, size_t n, const char *src, col_rank *r, mb_error *err)
{
    r->rank = mb_malloc(n * sizeof *r->rank + 1);
    if (c->type == MB_COL_CAT) {
        /* levels sorted by text; codes of absent levels get no rank */
        level_ref *order = mb_malloc(c->nlevels * sizeof *order + 1);
        uint32_t *rank_of = mb_malloc(c->nlevels * sizeof *rank_of + 1);
        char *used = mb_calloc(c->nlevels + 1, 1);
        for (size_t i = 0; i < n; i++)
            if (c->codes[i] >= 0 && (size_t)c->codes[i] < c->nlevels)
                used[c->codes[i]] = 1;
        size_t m = 0;
        for (size_t l = 0; l < c->nlevels; l++)
            if (used[l])
                order[m++] = (level_ref){c->levels[l], (int32_t)l};
        qsort(order, m, sizeof *order, cmp_level);
        r->text = mb_malloc((m + 1) * sizeof *r->text);
        for (size_t j = 0; j < m; j++) {
            rank_of[order[j].code] = (uint32_t)j;
            r->text[j] = mb_strdup(order[j].text);
        }
        r->nvals = m;
        for (size_t i = 0; i < n; i++) {
            int32_t v = c->codes[i];
            int ok = v >= 0 && (size_t)v < c->nlevels;
            r->rank[i] = ok ? rank_of[v] : (uint32_t)m;
            r->missing |= !ok;
        }
        mb_free(order);
        mb_free(rank_of);
        mb_free(used);
        return MB_OK;
    }
    double vals[MB_FAIR_MAX_LEVELS];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double v = (double)MB_NUM(c, i);
        if (isnan(v))
            continue;
        size_t j = 0;
        while (j < m && vals[j] != v)
            j++;
        if (j == m) {
            if (m == MB_FAIR_MAX_LEVELS)
                return mb_fail(err, MB_EARG,
                               "%s: group column '%s' is numeric with more than %d distinct values; group by "
                               "a categorical column or one with few values (bin it first)",
                               src, c->name, MB_FAIR_MAX_LEVELS);
            vals[m++] = v;
        }
    }
    qsort(vals, m, sizeof *vals, cmp_double);
    r->text = mb_malloc((m + 1) * sizeof *r->text);
    for (size_t j = 0; j < m; j++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.9g", vals[j]);
        r->text[j] = mb_strdup(buf);
    }
    r->nvals = m;
    for (size_t i = 0; i < n; i++) {
        double v = (double)MB_NUM(c, i);
        size_t j = 0;
        while (!isnan(v) && vals[j] != v)
            j++;
        r->rank[i] = isnan(v) ? (uint32_t)m : (uint32_t)j;
        r->missing |= isnan(v);
    }
    return MB_OK;
}

static void rank_free(col_rank *r)
{
    for (size_t j = 0; r->text && j < r->nvals; j++)
        mb_free(r->text[j]);
    mb_free(r->text);
    mb_free(r->rank);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The rows' group keys (mixed radix of the column ranks, first column most
** significant, so keys sort as pandas' groupby) -> codes and names. */
static mb_status number_groups(col_rank *r, size_t ncols, size_t n, mb_fair_groups *g, mb_error *err)
{
    uint64_t span = 1;
    for (size_t c = 0; c < ncols; c++) {
        /* a key must fit 64 bits: refuse before the product can overflow */
        if (r[c].nvals > MB_FAIR_MAX_GROUPS)
            return mb_fail(err, MB_EARG, "group column '%s' has %zu values (at most %d groups are reported)", g->cols[c],
                           r[c].nvals, MB_FAIR_MAX_GROUPS);
        if (span > UINT64_MAX / (r[c].nvals + 1))
            return mb_fail(err, MB_EARG, "the %zu group columns have too many combinations of values", ncols);
        span *= r[c].nvals + 1;
    }
    uint64_t *key = mb_malloc(n * sizeof *key + 1), *uniq = mb_malloc(n * sizeof *uniq + 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = 0;
        for (size_t c = 0; c < ncols; c++)
            k = k * (r[c].nvals + 1) + r[c].rank[i];
        key[i] = uniq[i] = k;
    }
    qsort(uniq, n, sizeof *uniq, cmp_u64);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!m || uniq[i] != uniq[m - 1])
            uniq[m++] = uniq[i];
    mb_status rc = MB_OK;
    if (m > MB_FAIR_MAX_GROUPS) {
        rc = mb_fail(err, MB_EARG, "the group columns make %zu groups (at most %d are reported)", m,
                     MB_FAIR_MAX_GROUPS);
        goto exit;
    }
    g->ngroups = m;
    g->labels = mb_calloc(m + 1, sizeof *g->labels);
    g->values = mb_calloc(m * ncols + 1, sizeof *g->values);
    for (size_t j = 0; j < m; j++) {
        uint64_t k = uniq[j];
        size_t len = 0;
        for (size_t c = ncols; c-- > 0;) {
            size_t v = (size_t)(k % (r[c].nvals + 1));
            k /= r[c].nvals + 1;
            g->values[j * ncols + c] = mb_strdup(v < r[c].nvals ? r[c].text[v] : "(missing)");
            len += strlen(g->values[j * ncols + c]) + 2;
        }
        g->labels[j] = mb_malloc(len + 1);
        g->labels[j][0] = 0;
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                strcat(g->labels[j], ", ");
            strcat(g->labels[j], g->values[j * ncols + c]);
        }
    }
    g->code = mb_malloc(n * sizeof *g->code + 1);
    for (size_t i = 0; i < n; i++) {
        const uint64_t *p = bsearch(&key[i], uniq, m, sizeof *uniq, cmp_u64);
        g->code[i] = (int32_t)(p - uniq);
    }
exit:
    mb_free(key);
    mb_free(uniq);
    return rc;
}

mb_status mb_fair_groups_make(const mb_frame *f, const char *const *cols, size_t ncols, mb_fair_groups *g,
                              mb_error *err)
{
    memset(g, 0, sizeof *g);
    if (!ncols || ncols > 8)
        return mb_fail(err, MB_EARG, "name one to eight group columns, not %zu", ncols);
    const char *src = f->source ? f->source : "the data";
    for (size_t c = 0; c < ncols; c++) {
        if (mb_frame_find(f, cols[c]) < 0) {
            char list[512];
            mb_frame_column_list(f, list, sizeof list);
            return mb_fail(err, MB_ENOTFOUND, "%s has no group column '%s' (its columns: %s)", src, cols[c], list);
        }
        if (f->target >= 0 && !strcmp(f->cols[f->target].name, cols[c]))
            return mb_fail(err, MB_EARG, "group column '%s' is the target; group by another column", cols[c]);
    }
    if (!f->nrows)
        return mb_fail(err, MB_EARG, "%s has no rows to group", src);
    col_rank r[8];
    memset(r, 0, sizeof r);
    mb_status rc = MB_OK;
    for (size_t c = 0; c < ncols && rc == MB_OK; c++)
        rc = rank_column(&f->cols[mb_frame_find(f, cols[c])], f->nrows, src, &r[c], err);
    if (rc == MB_OK) {
        g->n = f->nrows;
        g->ncols = ncols;
        g->cols = mb_calloc(ncols, sizeof *g->cols);
        for (size_t c = 0; c < ncols; c++)
            g->cols[c] = mb_strdup(cols[c]);
        rc = number_groups(r, ncols, f->nrows, g, err);
    }
    for (size_t c = 0; c < ncols; c++)
        rank_free(&r[c]);
    if (rc != MB_OK)
        mb_fair_groups_free(g);
    return rc;
}

void mb_fair_groups_free(mb_fair_groups *g)
{
    for (size_t j = 0; j < g->ngroups; j++) {
        mb_free(g->labels ? g->labels[j] : NULL);
        for (size_t c = 0; g->values && c < g->ncols; c++)
            mb_free(g->values[j * g->ncols + c]);
    }
    for (size_t c = 0; g->cols && c < g->ncols; c++)
        mb_free(g->cols[c]);
    mb_free(g->labels);
    mb_free(g->values);
    mb_free(g->cols);
    mb_free(g->code);
    memset(g, 0, sizeof *g);
}

/* {====== per-group sums ======} */

/* The sums of one group, as doubles in one row of the sums table:
** binary: n, positives, predicted 1, tp, fp, correct; multiclass: n,
** correct, predicted count per class; regression: n, sum |e|, sum e^2,
** sum e. */
enum { S_N, S_POS, S_PP, S_TP, S_FP, S_OK };
enum { S_MC_OK = 1, S_MC_CLASS = 2 };
enum { S_ABS = 1, S_SQ = 2, S_ERR = 3 };

typedef struct sums {
    mb_task task;
    size_t k, width, ngroups;
    double *v;                    /* (ngroups + 1) x width; the last row is overall */
} sums;

static void sums_init(sums *s, mb_task task, size_t k, size_t ngroups)
{
    s->task = task;
    s->k = k;
    s->ngroups = ngroups;
    s->width = task == MB_TASK_BINARY ? 6 : task == MB_TASK_MULTICLASS ? 2 + k : 4;
    s->v = mb_calloc((ngroups + 1) * s->width, sizeof *s->v);
}

static void sums_clear(sums *s) { memset(s->v, 0, (s->ngroups + 1) * s->width * sizeof *s->v); }

static void add_row(sums *s, size_t gi, float y, float p)
{
    double *a = s->v + gi * s->width;
    a[S_N] += 1;
    if (s->task == MB_TASK_BINARY) {
        int yy = y == 1, pp = p == 1;
        a[S_POS] += yy;
        a[S_PP] += pp;
        a[S_TP] += yy && pp;
        a[S_FP] += !yy && pp;
        a[S_OK] += yy == pp;
    } else if (s->task == MB_TASK_MULTICLASS) {
        a[S_MC_OK] += y == p;
        a[S_MC_CLASS + (size_t)p] += 1;
    } else {
        double e = (double)p - (double)y;
        a[S_ABS] += fabs(e);
        a[S_SQ] += e * e;
        a[S_ERR] += e;
    }
}

static double ratio0(double a, double b) { return b > 0 ? a / b : 0; }

/* Rates of one row of sums into g (class_rate already allocated). */
static void finish_group(const sums *s, size_t gi, mb_fair_group *g)
{
    const double *a = s->v + gi * s->width;
    double n = a[S_N];
    g->n = (size_t)n;
    if (s->task == MB_TASK_BINARY) {
        g->selection_rate = ratio0(a[S_PP], n);
        g->accuracy = ratio0(a[S_OK], n);
        g->tpr = ratio0(a[S_TP], a[S_POS]);
        g->fpr = ratio0(a[S_FP], n - a[S_POS]);
        g->precision = ratio0(a[S_TP], a[S_PP]);
    } else if (s->task == MB_TASK_MULTICLASS) {
        g->accuracy = ratio0(a[S_MC_OK], n);
        for (size_t c = 0; c < s->k; c++)
            g->class_rate[c] = ratio0(a[S_MC_CLASS + c], n);
    } else {
        g->mae = n > 0 ? a[S_ABS] / n : DNAN;
        g->rmse = n > 0 ? sqrt(a[S_SQ] / n) : DNAN;
        g->mean_error = n > 0 ? a[S_ERR] / n : DNAN;
    }
}

/* max - min and min / max of one rate over the groups with rows. */
typedef struct spread {
    double min, max;
    size_t n;
} spread;

static void spread_add(spread *sp, double v)
{
    if (!sp->n || v < sp->min)
        sp->min = v;
    if (!sp->n || v > sp->max)
        sp->max = v;
    sp->n++;
}

static double sp_diff(const spread *sp) { return sp->n >= 2 ? sp->max - sp->min : DNAN; }
static double sp_ratio(const spread *sp) { return sp->n >= 2 && sp->max > 0 ? sp->min / sp->max : DNAN; }

/* The disparities of the groups' rates (names static, values set). */
static size_t disparities(const sums *s, mb_fair_group *tmp, mb_fair_value *out)
{
    spread sel = {0}, tpr = {0}, fpr = {0}, acc = {0}, mae = {0}, rmse = {0}, merr = {0};
    spread cls[64];
    size_t K = s->k < 64 ? s->k : 64;
    memset(cls, 0, sizeof cls);
    for (size_t gi = 0; gi < s->ngroups; gi++) {
        if (s->v[gi * s->width + S_N] <= 0)
            continue;
        finish_group(s, gi, tmp);
        spread_add(&sel, tmp->selection_rate);
        spread_add(&tpr, tmp->tpr);
        spread_add(&fpr, tmp->fpr);
        spread_add(&acc, tmp->accuracy);
        spread_add(&mae, tmp->mae);
        spread_add(&rmse, tmp->rmse);
        spread_add(&merr, tmp->mean_error);
        for (size_t c = 0; s->task == MB_TASK_MULTICLASS && c < K; c++)
            spread_add(&cls[c], tmp->class_rate[c]);
    }
    size_t n = 0;
#define PUT(nm, v) (out[n].name = (nm), out[n].value = (v), n++)
    if (s->task == MB_TASK_BINARY) {
        double tr = sp_ratio(&tpr), fr = sp_ratio(&fpr);
        PUT("demographic_parity_difference", sp_diff(&sel));
        PUT("demographic_parity_ratio", sp_ratio(&sel));
        PUT("equalized_odds_difference", fmax(sp_diff(&tpr), sp_diff(&fpr)));
        PUT("equalized_odds_ratio", isnan(tr) || isnan(fr) ? DNAN : fmin(tr, fr));
        PUT("accuracy_difference", sp_diff(&acc));
    } else if (s->task == MB_TASK_MULTICLASS) {
        double dp = DNAN;
        for (size_t c = 0; c < K; c++)
            if (!isnan(sp_diff(&cls[c])))
                dp = isnan(dp) ? sp_diff(&cls[c]) : fmax(dp, sp_diff(&cls[c]));
        PUT("accuracy_difference", sp_diff(&acc));
        PUT("accuracy_ratio", sp_ratio(&acc));
        PUT("demographic_parity_difference", dp);
    } else {
        PUT("mae_difference", sp_diff(&mae));
        PUT("rmse_difference", sp_diff(&rmse));
        PUT("mean_error_difference", sp_diff(&merr));
    }
#undef PUT
    return n;
}

/* ROC AUC of the rows of group gi (or all rows when gi < 0). */
static double group_auc(const float *y, const float *score, const int32_t *code, size_t n, long gi)
{
    float *yy = mb_malloc(n * sizeof *yy + 1), *ss = mb_malloc(n * sizeof *ss + 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (gi < 0 || code[i] == gi)
            yy[m] = y[i], ss[m++] = score[i];
    double auc = mb_roc_auc(yy, ss, m);
    mb_free(yy);
    mb_free(ss);
    return auc;
}

static mb_status check_labels(mb_task task, size_t k, const float *y, const float *pred, size_t n, mb_error *err)
{
    for (size_t i = 0; task != MB_TASK_REGRESSION && i < n; i++)
        for (int w = 0; w < 2; w++) {
            float v = w ? pred[i] : y[i];
            if (!(v >= 0 && v < (float)k) || v != floorf(v))
                return mb_fail(err, MB_EARG, "fairness: row %zu: %s %g is not a class index 0..%zu", i + 1,
                               w ? "prediction" : "label", (double)v, k - 1);
        }
    return MB_OK;
}

mb_status mb_fairness_compute(mb_task task, size_t k, const float *y, const float *pred, const float *score,
                              const mb_fair_groups *g, const mb_fair_opts *o, mb_fairness *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    if (task == MB_TASK_BINARY)
        k = 2;
    if (task == MB_TASK_REGRESSION)
        k = 0;
    if (!g->ngroups || !g->n)
        return mb_fail(err, MB_EARG, "fairness: no groups");
    if (task == MB_TASK_MULTICLASS && k < 2)
        return mb_fail(err, MB_EARG, "fairness: multiclass needs at least two classes");
    if (o->boot && !(o->level > 0 && o->level < 1))
        return mb_fail(err, MB_EARG, "fairness: confidence level %g; expected a number in (0, 1)", o->level);
    mb_status rc = check_labels(task, k, y, pred, g->n, err);
    if (rc != MB_OK)
        return rc;
    size_t n = g->n, G = g->ngroups;
    out->task = task;
    out->k = k;
    out->n = n;
    out->ngroups = G;
    out->opts = *o;
    out->groups = mb_calloc(G, sizeof *out->groups);
    sums s;
    sums_init(&s, task, task == MB_TASK_MULTICLASS ? k : 0, G);
    for (size_t i = 0; i < n; i++) {
        add_row(&s, (size_t)g->code[i], y[i], pred[i]);
        add_row(&s, G, y[i], pred[i]);
    }
    for (size_t gi = 0; gi <= G; gi++) {
        mb_fair_group *d = gi < G ? &out->groups[gi] : &out->overall;
        if (task == MB_TASK_MULTICLASS)
            d->class_rate = mb_calloc(k, sizeof *d->class_rate);
        finish_group(&s, gi, d);
        d->auc = task == MB_TASK_BINARY && score ? group_auc(y, score, g->code, n, gi < G ? (long)gi : -1) : DNAN;
    }
    mb_fair_group tmp = {0};
    tmp.class_rate = mb_calloc(k + 1, sizeof *tmp.class_rate);
    out->ndisparities = disparities(&s, &tmp, out->disparity);
    for (size_t d = 0; d < out->ndisparities; d++)
        out->disparity[d].lo = out->disparity[d].hi = DNAN;
    if (o->boot) {
        size_t D = out->ndisparities;
        double *rep = mb_malloc(o->boot * D * sizeof *rep + 1), *col = mb_malloc(o->boot * sizeof *col + 1);
        mb_fair_value v[MB_FAIR_MAX_DISPARITIES];
        mb_rng r;
        mb_rng_seed(&r, o->seed);
        for (size_t b = 0; b < o->boot; b++) {
            sums_clear(&s);
            for (size_t j = 0; j < n; j++) {
                size_t i = (size_t)mb_rng_below(&r, n);
                add_row(&s, (size_t)g->code[i], y[i], pred[i]);
            }
            disparities(&s, &tmp, v);
            for (size_t d = 0; d < D; d++)
                rep[b * D + d] = v[d].value;
        }
        for (size_t d = 0; d < D; d++) {
            for (size_t b = 0; b < o->boot; b++)
                col[b] = rep[b * D + d];
            interval(col, o->boot, o->level, &out->disparity[d].lo, &out->disparity[d].hi);
        }
        mb_free(rep);
        mb_free(col);
    }
    mb_free(tmp.class_rate);
    mb_free(s.v);
    return MB_OK;
}

void mb_fairness_free(mb_fairness *f)
{
    for (size_t g = 0; f->groups && g < f->ngroups; g++)
        mb_free(f->groups[g].class_rate);
    mb_free(f->groups);
    mb_free(f->overall.class_rate);
    memset(f, 0, sizeof *f);
}

mb_status mb_fairness_of_scorer(mb_scorer *s, const mb_frame *f, const char *const *cols, size_t ncols,
                                const mb_fair_opts *o, mb_fair_groups *g, mb_fairness *out, mb_error *err)
{
    const mb_bundle *b = s->bundle;
    size_t n = f->nrows, K = b->task == MB_TASK_REGRESSION ? 0 : b->nclasses;
    float *y = NULL, *pred = mb_trymalloc(n * sizeof *pred + 1), *proba = K ? mb_trymalloc(n * K * sizeof *proba + 1) : NULL;
    float *score = NULL;
    memset(g, 0, sizeof *g);
    memset(out, 0, sizeof *out);
    mb_status rc = !pred || (K && !proba) ? mb_fail(err, MB_ENOMEM, "no memory for %zu predictions", n) : MB_OK;
    for (size_t c = 0; c < ncols && rc == MB_OK; c++)
        if (b->target && !strcmp(cols[c], b->target))
            rc = mb_fail(err, MB_EARG, "group column '%s' is the model's target; group by another column", cols[c]);
    if (rc == MB_OK)
        rc = mb_fair_groups_make(f, cols, ncols, g, err);
    if (rc == MB_OK)
        rc = mb_explain_labels(b, f, &y, err);
    if (rc == MB_OK)
        rc = mb_scorer_predict_frame(s, f, pred, proba, err);
    if (rc == MB_OK && b->task == MB_TASK_BINARY) {
        score = mb_malloc(n * sizeof *score + 1);
        for (size_t i = 0; i < n; i++)
            score[i] = proba[i * 2 + 1];
    }
    if (rc == MB_OK)
        rc = mb_fairness_compute(b->task, K, y, pred, score, g, o, out, err);
    mb_free(y);
    mb_free(pred);
    mb_free(proba);
    mb_free(score);
    return rc;
}

/* {====== bootstrap intervals of a report ======} */

static size_t report_values(mb_task task, size_t k, const float *y, const float *pred, const float *proba,
                            size_t n, mb_fair_value *out, mb_error *err)
{
    size_t m = 0;
#define PUT(nm, v) (out[m].name = (nm), out[m].value = (v), m++)
    if (task == MB_TASK_REGRESSION) {
        mb_reg_report r;
        mb_reg_report_compute(y, pred, n, &r);
        PUT("rmse", r.rmse);
        PUT("mae", r.mae);
        PUT("r2", r.r2);
        return m;
    }
    mb_class_report r;
    if (mb_class_report_compute(y, pred, proba, n, k, &r, err) != MB_OK)
        return 0;
    PUT("accuracy", r.accuracy);
    PUT("balanced_accuracy", r.balanced_accuracy);
    PUT("f1_macro", r.f1_macro);
    if (proba) {
        PUT("roc_auc", r.roc_auc);
        PUT("log_loss", r.log_loss);
    }
#undef PUT
    mb_class_report_free(&r);
    return m;
}

mb_status mb_report_bootstrap(mb_task task, size_t k, const float *y, const float *pred, const float *proba,
                              size_t n, const mb_fair_opts *o, mb_fair_value *out, size_t *nout, mb_error *err)
{
    *nout = 0;
    if (!n)
        return mb_fail(err, MB_EARG, "metrics: no rows");
    if (o->boot && !(o->level > 0 && o->level < 1))
        return mb_fail(err, MB_EARG, "metrics: confidence level %g; expected a number in (0, 1)", o->level);
    size_t K = task == MB_TASK_REGRESSION ? 0 : k;
    size_t m = report_values(task, K, y, pred, proba, n, out, err);
    if (!m)
        return err->code;
    for (size_t j = 0; j < m; j++)
        out[j].lo = out[j].hi = DNAN;
    *nout = m;
    if (!o->boot)
        return MB_OK;
    float *by = mb_malloc(n * sizeof *by), *bp = mb_malloc(n * sizeof *bp);
    float *bq = proba ? mb_malloc(n * K * sizeof *bq) : NULL;
    double *rep = mb_malloc(o->boot * m * sizeof *rep), *col = mb_malloc(o->boot * sizeof *col);
    mb_rng r;
    mb_rng_seed(&r, o->seed);
    mb_fair_value v[MB_FAIR_MAX_DISPARITIES];
    mb_error e2;
    for (size_t b = 0; b < o->boot; b++) {
        for (size_t j = 0; j < n; j++) {
            size_t i = (size_t)mb_rng_below(&r, n);
            by[j] = y[i], bp[j] = pred[i];
            if (bq)
                memcpy(bq + j * K, proba + i * K, K * sizeof *bq);
        }
        size_t got = report_values(task, K, by, bp, bq, n, v, &e2);
        for (size_t j = 0; j < m; j++)
            rep[b * m + j] = got == m ? v[j].value : DNAN;
    }
    for (size_t j = 0; j < m; j++) {
        for (size_t b = 0; b < o->boot; b++)
            col[b] = rep[b * m + j];
        interval(col, o->boot, o->level, &out[j].lo, &out[j].hi);
    }
    mb_free(by);
    mb_free(bp);
    mb_free(bq);
    mb_free(rep);
    mb_free(col);
    return MB_OK;
}
