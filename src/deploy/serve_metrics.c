/*
** serve_metrics.c: what `moonbench serve` reports on GET /metrics, in the
** Prometheus text format: requests by endpoint and status code, a latency
** histogram, predictions by class, and per-feature drift.
**
** DESIGN
** ------
** Counters are C11 atomics (relaxed: each is read on its own), so request
** threads never wait for each other to count. Drift is drift.h's sliding
** window over the model features of the last `window` scored rows,
** counted as rows arrive (thread-safe), against the bundle's /monitoring:
** the same bins, shares and PSI as `moonbench drift`, so /metrics costs
** the same whatever the window's size.
*/
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift.h"
#include "serve.h"

/* The status codes the server answers with; anything else counts as 500. */
static const int codes[] = {200, 400, 401, 404, 405, 413, 422, 500, 503};
#define NCODES (sizeof codes / sizeof codes[0])

/* Latency buckets, seconds (upper bounds; +Inf is implicit). */
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                 0.01,   0.025,   0.05,   0.1,   0.25,   1.0};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

static const char *const endpoint_labels[] = {
#define MBSV_EP_LABEL_(id, label) label,
    MBSV_ENDPOINTS(MBSV_EP_LABEL_)
#undef MBSV_EP_LABEL_
};

typedef atomic_ullong counter;

struct mbsv_metrics {
    const mb_bundle *b;
    counter requests[MBSV_EP_COUNT_][NCODES];
    counter hist[NBUCKETS + 1];  /* per bucket, not cumulative; last = +Inf */
    counter latency_ns;          /* sum of latencies */
    counter nlatency;
    counter *by_class;           /* nclasses, classification only */
    counter scored_rows;
    atomic_int in_flight;
    /* drift (drift.h) */
    char drift_note[1024];        /* why there is no drift, or "" */
    mb_drift_ref *ref;
    mb_drift_window *win;
    size_t window;
    double threshold;
};

mbsv_metrics *mbsv_metrics_new(const mb_bundle *b, size_t window, double threshold, const char **note)
{
    mbsv_metrics *m = mb_calloc(1, sizeof *m);
    m->b = b;
    m->window = window;
    m->threshold = threshold;
    for (size_t e = 0; e < MBSV_EP_COUNT_; e++)
        for (size_t c = 0; c < NCODES; c++)
            atomic_init(&m->requests[e][c], 0);
    atomic_init(&m->in_flight, 0);
    m->by_class = mb_calloc(b->nclasses + 1, sizeof *m->by_class);
    mb_error err;
    if (window == 0)
        snprintf(m->drift_note, sizeof m->drift_note, "the drift window is 0 rows");
    else if (mb_drift_ref_new(b, &m->ref, &err) != MB_OK)
        snprintf(m->drift_note, sizeof m->drift_note, "%s", err.msg);
    else
        m->win = mb_drift_window_new(m->ref, window);
    if (note)
        *note = m->drift_note[0] ? m->drift_note : NULL;
    return m;
}

void mbsv_metrics_free(mbsv_metrics **pm)
{
    mbsv_metrics *m = *pm;
    if (!m)
        return;
    mb_drift_window_free(&m->win);
    mb_drift_ref_free(&m->ref);
    mb_free(m->by_class);
    mb_free(m);
    *pm = NULL;
}

void mbsv_metrics_begin(mbsv_metrics *m)
{
    atomic_fetch_add(&m->in_flight, 1);
}

void mbsv_metrics_end(mbsv_metrics *m)
{
    atomic_fetch_sub(&m->in_flight, 1);
}

int mbsv_metrics_in_flight(mbsv_metrics *m)
{
    return atomic_load(&m->in_flight);
}

void mbsv_metrics_request(mbsv_metrics *m, mbsv_endpoint ep, int code, double seconds)
{
    size_t c = 0;
    while (c < NCODES && codes[c] != code)
        c++;
    if (c == NCODES)
        c = NCODES - 2; /* 500 */
    atomic_fetch_add_explicit(&m->requests[ep][c], 1, memory_order_relaxed);
    size_t k = 0;
    while (k < NBUCKETS && seconds > buckets[k])
        k++;
    atomic_fetch_add_explicit(&m->hist[k], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_ns, (unsigned long long)(seconds * 1e9), memory_order_relaxed);
    atomic_fetch_add_explicit(&m->nlatency, 1, memory_order_relaxed);
}

void mbsv_metrics_scored(mbsv_metrics *m, const float *x, long label)
{
    atomic_fetch_add_explicit(&m->scored_rows, 1, memory_order_relaxed);
    if (label >= 0 && (size_t)label < m->b->nclasses)
        atomic_fetch_add_explicit(&m->by_class[label], 1, memory_order_relaxed);
    if (m->win)
        mb_drift_window_add(m->win, x);
}

/* {====== the text exposition ======} */

typedef struct textbuf {
    char *s;
    size_t len, cap;
} textbuf;

static void tb_printf(textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(textbuf *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = 2 * t->cap + (size_t)n + 1;
        t->s = mb_realloc(t->s, t->cap);
    }
}

/* A label value with \, " and newline escaped (the format's rule). */
static void tb_label(textbuf *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            tb_printf(t, "\\%c", *v);
        else if (*v == '\n')
            tb_printf(t, "\\n");
        else
            tb_printf(t, "%c", *v);
    }
}

static void render_drift(mbsv_metrics *m, textbuf *t)
{
    const mb_bundle *b = m->b;
    size_t p = mb_drift_ref_nfeatures(m->ref);
    mb_drift_feature *f = mb_malloc((p + 1) * sizeof *f);
    /* rows and figures from one look at the window, so they agree */
    size_t n = mb_drift_window_rows(m->win);
    mb_drift_window_report(m->win, m->threshold, f);
    tb_printf(t, "# HELP moonbench_drift_window_rows Scored rows in the drift window.\n"
                 "# TYPE moonbench_drift_window_rows gauge\nmoonbench_drift_window_rows %zu\n"
                 "# HELP moonbench_drift_window_size Rows the drift window holds when full.\n"
                 "# TYPE moonbench_drift_window_size gauge\nmoonbench_drift_window_size %zu\n"
                 "# HELP moonbench_drift_threshold PSI above which a feature is flagged.\n"
                 "# TYPE moonbench_drift_threshold gauge\nmoonbench_drift_threshold %g\n",
              n, m->window, m->threshold);
    static const char *const names[] = {"psi", "ks", "flag"};
    static const char *const help[] = {
        "Population stability index of the window against training (moonbench drift's).",
        "Kolmogorov-Smirnov statistic of the window on the training decile grid (NaN: not available).",
        "1 when the feature's PSI is above the threshold."};
    for (int g = 0; n && g < 3; g++) {
        tb_printf(t, "# HELP moonbench_drift_%s %s\n# TYPE moonbench_drift_%s gauge\n", names[g], help[g], names[g]);
        for (size_t j = 0; j < p; j++) {
            tb_printf(t, "moonbench_drift_%s{feature=\"", names[g]);
            tb_label(t, b->features[f[j].index < b->nfeatures ? f[j].index : j]);
            if (g == 2)
                tb_printf(t, "\"} %d\n", f[j].flagged);
            else if (isnan(g == 0 ? f[j].psi : f[j].ks))
                tb_printf(t, "\"} NaN\n");
            else
                tb_printf(t, "\"} %.6g\n", g == 0 ? f[j].psi : f[j].ks);
        }
    }
    mb_free(f);
}

/* The q quantile of the latency histogram, linear within its bucket. */
static double quantile(const unsigned long long *h, unsigned long long total, double q)
{
    if (!total)
        return NAN;
    double rank = q * (double)total, cum = 0;
    for (size_t k = 0; k <= NBUCKETS; k++) {
        if (cum + (double)h[k] >= rank && h[k]) {
            if (k == NBUCKETS)
                return buckets[NBUCKETS - 1]; /* +Inf: the last finite bound, as Prometheus */
            double lo = k ? buckets[k - 1] : 0;
            return lo + (buckets[k] - lo) * (rank - cum) / (double)h[k];
        }
        cum += (double)h[k];
    }
    return buckets[NBUCKETS - 1];
}

void mbsv_metrics_summary(mbsv_metrics *m, mbsv_summary *out)
{
    memset(out, 0, sizeof *out);
    for (size_t e = 0; e < MBSV_EP_COUNT_; e++)
        for (size_t c = 0; c < NCODES; c++) {
            unsigned long long n = atomic_load_explicit(&m->requests[e][c], memory_order_relaxed);
            out->requests += n;
            out->errors += codes[c] >= 400 ? n : 0;
        }
    unsigned long long h[NBUCKETS + 1], total = 0;
    for (size_t k = 0; k <= NBUCKETS; k++)
        total += h[k] = atomic_load_explicit(&m->hist[k], memory_order_relaxed);
    out->p50 = quantile(h, total, 0.5);
    out->p99 = quantile(h, total, 0.99);
    out->scored = atomic_load_explicit(&m->scored_rows, memory_order_relaxed);
    if (!m->win)
        return;
    size_t p = mb_drift_ref_nfeatures(m->ref), o = 0;
    mb_drift_feature *f = mb_malloc((p + 1) * sizeof *f);
    out->window_rows = mb_drift_window_rows(m->win);
    mb_drift_window_report(m->win, m->threshold, f);
    for (size_t j = 0; out->window_rows && j < p; j++)
        if (f[j].flagged) {
            out->drifting++;
            const char *name = m->b->features[f[j].index < m->b->nfeatures ? f[j].index : j];
            if (o < sizeof out->drifting_names - 1)
                o += (size_t)snprintf(out->drifting_names + o, sizeof out->drifting_names - o, "%s%s", o ? "," : "",
                                      name);
        }
    if (o >= sizeof out->drifting_names)
        o = sizeof out->drifting_names - 1;
    mb_free(f);
}

char *mbsv_metrics_render(mbsv_metrics *m, size_t *len)
{
    textbuf t = {mb_malloc(4096), 0, 4096};
    t.s[0] = '\0';
    tb_printf(&t, "# HELP moonbench_requests_total HTTP requests answered, by endpoint and status code.\n"
                  "# TYPE moonbench_requests_total counter\n");
    unsigned long long errors[MBSV_EP_COUNT_] = {0};
    for (size_t e = 0; e < MBSV_EP_COUNT_; e++)
        for (size_t c = 0; c < NCODES; c++) {
            unsigned long long n = atomic_load_explicit(&m->requests[e][c], memory_order_relaxed);
            if (codes[c] >= 400)
                errors[e] += n;
            if (n)
                tb_printf(&t, "moonbench_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n", endpoint_labels[e],
                          codes[c], n);
        }
    tb_printf(&t, "# HELP moonbench_request_errors_total Requests answered with a 4xx or 5xx code.\n"
                  "# TYPE moonbench_request_errors_total counter\n");
    for (size_t e = 0; e < MBSV_EP_COUNT_; e++)
        tb_printf(&t, "moonbench_request_errors_total{endpoint=\"%s\"} %llu\n", endpoint_labels[e], errors[e]);
    tb_printf(&t, "# HELP moonbench_request_duration_seconds Time to answer a request.\n"
                  "# TYPE moonbench_request_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t k = 0; k <= NBUCKETS; k++) {
        cum += atomic_load_explicit(&m->hist[k], memory_order_relaxed);
        if (k < NBUCKETS)
            tb_printf(&t, "moonbench_request_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[k], cum);
        else
            tb_printf(&t, "moonbench_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    tb_printf(&t, "moonbench_request_duration_seconds_sum %.9f\nmoonbench_request_duration_seconds_count %llu\n",
              1e-9 * (double)atomic_load_explicit(&m->latency_ns, memory_order_relaxed),
              atomic_load_explicit(&m->nlatency, memory_order_relaxed));
    tb_printf(&t, "# HELP moonbench_requests_in_flight Requests begun and not yet answered.\n"
                  "# TYPE moonbench_requests_in_flight gauge\nmoonbench_requests_in_flight %d\n",
              atomic_load(&m->in_flight));
    tb_printf(&t, "# HELP moonbench_scored_rows_total Rows scored.\n# TYPE moonbench_scored_rows_total counter\n"
                  "moonbench_scored_rows_total %llu\n",
              atomic_load_explicit(&m->scored_rows, memory_order_relaxed));
    if (m->b->nclasses) {
        tb_printf(&t, "# HELP moonbench_predictions_total Predicted labels, by class.\n"
                      "# TYPE moonbench_predictions_total counter\n");
        for (size_t c = 0; c < m->b->nclasses; c++) {
            tb_printf(&t, "moonbench_predictions_total{class=\"");
            tb_label(&t, m->b->classes[c]);
            tb_printf(&t, "\"} %llu\n", atomic_load_explicit(&m->by_class[c], memory_order_relaxed));
        }
    }
    if (m->win)
        render_drift(m, &t);
    *len = t.len;
    return t.s;
}
