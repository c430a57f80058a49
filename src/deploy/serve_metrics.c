/*
** serve_metrics.c: what `moonbench serve` reports on GET /metrics, in the
** Prometheus text format: requests by endpoint and status code, a latency
** histogram, predictions by class, and per-feature drift.
**
** DESIGN
** ------
** Counters are C11 atomics (relaxed: each is read on its own), so request
** threads never wait for each other to count. Drift keeps a sliding window
** of the last `window` scored rows, as each value's bin rather than the
** value, and per-feature bin counts updated as rows enter and leave, so
** /metrics computes each feature's PSI from 11 counts whatever the window.
** Bins come from the bundle's /monitoring deciles: a value goes to the first
** decile bin whose upper edge is >= the value (below the minimum: the first,
** above the maximum: the last); NaN goes to an eleventh, missing, bin. The
** training share of a decile bin is 10% of the non-missing rate, and
** deciles that tie (a feature with few distinct values) give their share
** to the first bin of the tie, which is the one values equal to it enter.
** PSI = sum over bins of (a - e) ln(a / e), shares clamped at 1e-4 so that
** an empty bin gives a large, finite term.
*/
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

enum { NQ = 11, NBINS = 11, MISSING_BIN = 10 };

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
    /* drift */
    const char *drift_note;      /* why there is no drift, or NULL */
    size_t p, window;
    double threshold;
    double *expected;            /* p x NBINS training shares */
    double *edges;               /* p x NQ deciles */
    pthread_mutex_t lock;        /* the window and its counts */
    unsigned char *ring;         /* window x p bins */
    size_t next, filled;
    unsigned *counts;            /* p x NBINS */
};

static const mb_state_array *find_array(const mb_state *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->arrays[i].name, name) == 0)
            return &s->arrays[i];
    return NULL;
}

/* Training shares per bin from /monitoring; NULL when usable, else why not. */
static const char *drift_setup(mbsv_metrics *m)
{
    const mb_bundle *b = m->b;
    const mb_state_array *q = find_array(&b->monitoring, "quantiles"),
                         *miss = find_array(&b->monitoring, "missing");
    size_t p = b->nfeatures;
    if (!q || !miss)
        return "the bundle has no /monitoring training statistics (made by an older moonbench?)";
    if (q->type != MB_DT_F64 || miss->type != MB_DT_F64 || q->count != p * NQ || miss->count != p)
        return "the bundle's /monitoring quantiles or missing arrays do not match its features";
    if (m->window == 0)
        return "the drift window is 0 rows";
    const double *qv = q->data, *mv = miss->data;
    m->p = p;
    m->expected = mb_calloc(p * NBINS + 1, sizeof *m->expected);
    m->edges = mb_malloc((p * NQ + 1) * sizeof *m->edges);
    memcpy(m->edges, qv, p * NQ * sizeof *qv);
    for (size_t j = 0; j < p; j++) {
        double present = mv[j] >= 0 && mv[j] <= 1 ? 1 - mv[j] : 1;
        double *e = m->expected + j * NBINS;
        const double *ed = m->edges + j * NQ;
        e[MISSING_BIN] = 1 - present;
        for (size_t k = 0; k < NQ - 1; k++) {
            size_t first = k; /* the first bin whose upper edge ties with this one's */
            while (first > 0 && ed[first] == ed[k + 1])
                first--;
            e[first] += present / (NQ - 1);
        }
    }
    m->ring = mb_malloc(m->window * p + 1);
    m->counts = mb_calloc(p * NBINS + 1, sizeof *m->counts);
    return NULL;
}

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
    pthread_mutex_init(&m->lock, NULL);
    m->drift_note = drift_setup(m);
    if (note)
        *note = m->drift_note;
    return m;
}

void mbsv_metrics_free(mbsv_metrics **pm)
{
    mbsv_metrics *m = *pm;
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    mb_free(m->by_class);
    mb_free(m->expected);
    mb_free(m->edges);
    mb_free(m->ring);
    mb_free(m->counts);
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

static unsigned char bin_of(const double *edges, float v)
{
    if (isnan(v))
        return MISSING_BIN;
    unsigned char k = 0;
    while (k < NQ - 2 && (double)v > edges[k + 1])
        k++;
    return k;
}

void mbsv_metrics_scored(mbsv_metrics *m, const float *x, long label)
{
    atomic_fetch_add_explicit(&m->scored_rows, 1, memory_order_relaxed);
    if (label >= 0 && (size_t)label < m->b->nclasses)
        atomic_fetch_add_explicit(&m->by_class[label], 1, memory_order_relaxed);
    if (m->drift_note)
        return;
    pthread_mutex_lock(&m->lock);
    unsigned char *slot = m->ring + m->next * m->p;
    for (size_t j = 0; j < m->p; j++) {
        if (m->filled == m->window)
            m->counts[j * NBINS + slot[j]]--;
        slot[j] = bin_of(m->edges + j * NQ, x[j]);
        m->counts[j * NBINS + slot[j]]++;
    }
    if (m->filled < m->window)
        m->filled++;
    m->next = (m->next + 1) % m->window;
    pthread_mutex_unlock(&m->lock);
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

static double psi(const double *e, const unsigned *count, size_t n)
{
    double s = 0;
    for (size_t k = 0; k < NBINS; k++) {
        double a = (double)count[k] / (double)n, x = e[k];
        if (a < 1e-4)
            a = 1e-4;
        if (x < 1e-4)
            x = 1e-4;
        if (count[k] || e[k] > 0)
            s += (a - x) * log(a / x);
    }
    return s;
}

static void render_drift(mbsv_metrics *m, textbuf *t)
{
    const mb_bundle *b = m->b;
    size_t p = m->p;
    unsigned *counts = mb_malloc((p * NBINS + 1) * sizeof *counts);
    pthread_mutex_lock(&m->lock);
    size_t n = m->filled;
    memcpy(counts, m->counts, p * NBINS * sizeof *counts);
    pthread_mutex_unlock(&m->lock);
    tb_printf(t, "# HELP moonbench_drift_window_rows Scored rows in the drift window.\n"
                 "# TYPE moonbench_drift_window_rows gauge\nmoonbench_drift_window_rows %zu\n"
                 "# HELP moonbench_drift_window_size Rows the drift window holds when full.\n"
                 "# TYPE moonbench_drift_window_size gauge\nmoonbench_drift_window_size %zu\n"
                 "# HELP moonbench_drift_threshold PSI above which a feature is flagged.\n"
                 "# TYPE moonbench_drift_threshold gauge\nmoonbench_drift_threshold %g\n",
              n, m->window, m->threshold);
    if (n == 0) {
        mb_free(counts);
        return;
    }
    double *v = mb_malloc(p * sizeof *v + 1);
    for (size_t j = 0; j < p; j++)
        v[j] = psi(m->expected + j * NBINS, counts + j * NBINS, n);
    tb_printf(t, "# HELP moonbench_drift_psi Population stability index of the window against training.\n"
                 "# TYPE moonbench_drift_psi gauge\n");
    for (size_t j = 0; j < p; j++) {
        tb_printf(t, "moonbench_drift_psi{feature=\"");
        tb_label(t, b->features[j]);
        tb_printf(t, "\"} %.6g\n", v[j]);
    }
    tb_printf(t, "# HELP moonbench_drift_flag 1 when the feature's PSI is above the threshold.\n"
                 "# TYPE moonbench_drift_flag gauge\n");
    for (size_t j = 0; j < p; j++) {
        tb_printf(t, "moonbench_drift_flag{feature=\"");
        tb_label(t, b->features[j]);
        tb_printf(t, "\"} %d\n", v[j] > m->threshold);
    }
    mb_free(v);
    mb_free(counts);
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
    if (!m->drift_note)
        render_drift(m, &t);
    *len = t.len;
    return t.s;
}
