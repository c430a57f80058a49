/*
** worker_metrics.c: `moonbench worker --metrics-port P`: GET /metrics on
** 127.0.0.1:P in the Prometheus text format (0.0.4): entries read, scored
** and dead-lettered, the group's pending count and lag, a batch latency
** histogram, and per-feature drift over a window of the last scored rows
** (drift.h, the window `serve` reports too, with the same metric names).
**
** Counters are C11 atomics written by the worker's loop and read by the
** HTTP thread (libmicrohttpd's internal polling thread); the drift window
** locks itself.
*/
#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift.h"
#include "worker.h"

/* Batch latency buckets, seconds (upper bounds; +Inf implicit). */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

struct mbwk_metrics {
    const mb_bundle *b;
    struct MHD_Daemon *d;
    atomic_ullong read, scored, dead, nbatch, batch_ns;
    atomic_ullong hist[NBUCKETS + 1]; /* per bucket; last = +Inf */
    atomic_llong pending, lag;
    mb_drift_ref *ref;                /* NULL: no drift (note says why) */
    mb_drift_window *win;
    size_t window;
    double threshold;
};

void mbwk_metrics_read(mbwk_metrics *m, size_t n)
{
    if (m)
        atomic_fetch_add_explicit(&m->read, n, memory_order_relaxed);
}

void mbwk_metrics_scored(mbwk_metrics *m, const float *x)
{
    if (!m)
        return;
    atomic_fetch_add_explicit(&m->scored, 1, memory_order_relaxed);
    if (m->win)
        mb_drift_window_add(m->win, x);
}

void mbwk_metrics_dead(mbwk_metrics *m)
{
    if (m)
        atomic_fetch_add_explicit(&m->dead, 1, memory_order_relaxed);
}

void mbwk_metrics_batch(mbwk_metrics *m, double seconds)
{
    if (!m)
        return;
    size_t k = 0;
    while (k < NBUCKETS && seconds > buckets[k])
        k++;
    atomic_fetch_add_explicit(&m->hist[k], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->nbatch, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->batch_ns, (unsigned long long)(seconds * 1e9), memory_order_relaxed);
}

void mbwk_metrics_group(mbwk_metrics *m, long long pending, long long lag)
{
    if (!m)
        return;
    atomic_store(&m->pending, pending);
    atomic_store(&m->lag, lag);
}

/* A label value with \, " and newline escaped (the format's rule). */
static void put_label(FILE *fp, const char *v)
{
    for (; *v; v++)
        if (*v == '\\' || *v == '"')
            fprintf(fp, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", fp);
        else
            fputc(*v, fp);
}

static void render_drift(mbwk_metrics *m, FILE *fp)
{
    size_t p = mb_drift_ref_nfeatures(m->ref), n = mb_drift_window_rows(m->win);
    fprintf(fp,
            "# HELP moonbench_drift_window_rows Scored rows in the drift window.\n"
            "# TYPE moonbench_drift_window_rows gauge\nmoonbench_drift_window_rows %zu\n"
            "# HELP moonbench_drift_window_size Rows the drift window holds when full.\n"
            "# TYPE moonbench_drift_window_size gauge\nmoonbench_drift_window_size %zu\n"
            "# HELP moonbench_drift_threshold PSI above which a feature is flagged.\n"
            "# TYPE moonbench_drift_threshold gauge\nmoonbench_drift_threshold %g\n",
            n, m->window, m->threshold);
    if (n == 0)
        return;
    mb_drift_feature *f = mb_malloc((p + 1) * sizeof *f);
    mb_drift_window_report(m->win, m->threshold, f);
    fputs("# HELP moonbench_drift_psi Population stability index of the window against training.\n"
          "# TYPE moonbench_drift_psi gauge\n", fp);
    for (size_t j = 0; j < p; j++) {
        fputs("moonbench_drift_psi{feature=\"", fp);
        put_label(fp, m->b->features[f[j].index]);
        fprintf(fp, "\"} %.6g\n", f[j].psi);
    }
    fputs("# HELP moonbench_drift_flag 1 when the feature's PSI is above the threshold.\n"
          "# TYPE moonbench_drift_flag gauge\n", fp);
    for (size_t j = 0; j < p; j++) {
        fputs("moonbench_drift_flag{feature=\"", fp);
        put_label(fp, m->b->features[f[j].index]);
        fprintf(fp, "\"} %d\n", f[j].flagged);
    }
    mb_free(f);
}

static char *render(mbwk_metrics *m, size_t *len)
{
    char *s = NULL;
    FILE *fp = open_memstream(&s, len);
    if (!fp)
        return NULL;
#define COUNTER(name, help, v) \
    fprintf(fp, "# HELP " name " " help "\n# TYPE " name " counter\n" name " %llu\n", (unsigned long long)(v))
    COUNTER("moonbench_worker_entries_read_total", "Stream entries read (new, own pending and claimed).",
            atomic_load(&m->read));
    COUNTER("moonbench_worker_entries_scored_total", "Entries scored and written to the output stream.",
            atomic_load(&m->scored));
    COUNTER("moonbench_worker_entries_dead_total", "Entries that could not be scored, sent to the dead-letter stream.",
            atomic_load(&m->dead));
#undef COUNTER
    fprintf(fp, "# HELP moonbench_worker_group_pending Entries read by the group and not yet acknowledged.\n"
                "# TYPE moonbench_worker_group_pending gauge\nmoonbench_worker_group_pending %lld\n"
                "# HELP moonbench_worker_group_lag Entries in the stream not yet read by the group.\n"
                "# TYPE moonbench_worker_group_lag gauge\nmoonbench_worker_group_lag %lld\n",
            (long long)atomic_load(&m->pending), (long long)atomic_load(&m->lag));
    fputs("# HELP moonbench_worker_batch_seconds Time to score, write and acknowledge a batch.\n"
          "# TYPE moonbench_worker_batch_seconds histogram\n", fp);
    unsigned long long cum = 0;
    for (size_t k = 0; k <= NBUCKETS; k++) {
        cum += atomic_load(&m->hist[k]);
        if (k < NBUCKETS)
            fprintf(fp, "moonbench_worker_batch_seconds_bucket{le=\"%g\"} %llu\n", buckets[k], cum);
        else
            fprintf(fp, "moonbench_worker_batch_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    fprintf(fp, "moonbench_worker_batch_seconds_sum %.9f\nmoonbench_worker_batch_seconds_count %llu\n",
            1e-9 * (double)atomic_load(&m->batch_ns), (unsigned long long)atomic_load(&m->nbatch));
    if (m->win)
        render_drift(m, fp);
    if (fclose(fp) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **state)
{
    (void)version, (void)data, (void)size;
    mbwk_metrics *m = cls;
    if (!*state) { /* the headers: answer on the next call */
        *state = m;
        return MHD_YES;
    }
    int ok = strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0;
    size_t len = 0;
    char *body = ok ? render(m, &len) : NULL;
    unsigned code = body ? 200 : ok ? 500 : 404;
    static const char nf[] = "only GET /metrics here\n";
    struct MHD_Response *r = body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY)
                                  : MHD_create_response_from_buffer(sizeof nf - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
    const char *type = body ? "text/plain; version=0.0.4" : "text/plain";
    free(body); /* open_memstream's: the C library's malloc */
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result res = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return res;
}

mbwk_metrics *mbwk_metrics_start(const mb_bundle *b, unsigned port, size_t window, double threshold,
                                 const char **note)
{
    mbwk_metrics *m = mb_calloc(1, sizeof *m);
    m->b = b;
    m->window = window;
    m->threshold = threshold;
    atomic_init(&m->pending, -1);
    atomic_init(&m->lag, -1);
    mb_error err;
    *note = NULL;
    if (mb_drift_ref_new(b, &m->ref, &err) == MB_OK)
        m->win = mb_drift_window_new(m->ref, window);
    else
        *note = "the bundle has no usable /monitoring training statistics";
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, on_request,
                            m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                            MHD_OPTION_END);
    if (!m->d) {
        fprintf(stderr, "moonbench worker: --metrics-port %u: cannot listen on 127.0.0.1:%u (in use?)\n", port, port);
        mbwk_metrics_stop(&m);
        return NULL;
    }
    return m;
}

void mbwk_metrics_stop(mbwk_metrics **pm)
{
    mbwk_metrics *m = *pm;
    if (!m)
        return;
    if (m->d)
        MHD_stop_daemon(m->d);
    mb_drift_window_free(&m->win);
    mb_drift_ref_free(&m->ref);
    mb_free(m);
    *pm = NULL;
}
