/*
** serve.h: the pieces of `moonbench serve` (docs/deployment.md, "HTTP
** server"), internal to src/deploy. No libmicrohttpd or jansson type
** appears here, so each piece can be read (and replaced) alone:
**   serve.c          the command: options, the bundle, start and drain
**   serve_http.c     HTTP plumbing on libmicrohttpd: bodies, limits, the
**                    token, access log, signals (the only file that sees MHD)
**   serve_api.c      the endpoints: JSON in and out (jansson), scoring
**   serve_metrics.c  Prometheus counters, the latency histogram and drift
**
** Threads: the HTTP layer calls mbsv_route from any of its pool threads at
** once; everything reached from it is thread-safe (the runtime, shared
** read-only, with a row context per thread; atomic counters; drift.h's
** thread-safe window).
*/
#ifndef MB_SERVE_H
#define MB_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "bundle.h"
#include "runtime.h"

/* The endpoints, for routing and for the metrics' endpoint label:
** X(id, label). */
#define MBSV_ENDPOINTS(X)                         \
    X(PREDICT, "/predict")                        \
    X(HEALTH, "/health")                          \
    X(METRICS, "/metrics")                        \
    X(V2_SERVER, "/v2")                           \
    X(V2_LIVE, "/v2/health/live")                 \
    X(V2_READY, "/v2/health/ready")               \
    X(V2_MODEL, "/v2/models/{name}")              \
    X(V2_MODEL_READY, "/v2/models/{name}/ready")  \
    X(V2_INFER, "/v2/models/{name}/infer")        \
    X(OTHER, "other")

typedef enum mbsv_endpoint {
#define MBSV_EP_ENUM_(id, label) MBSV_EP_##id,
    MBSV_ENDPOINTS(MBSV_EP_ENUM_)
#undef MBSV_EP_ENUM_
    MBSV_EP_COUNT_
} mbsv_endpoint;

typedef struct mbsv_metrics mbsv_metrics;

/* The model being served: the one inference runtime (runtime.h), shared
** by every request thread, each scoring through its own row context. */
typedef struct mbsv_model {
    mb_runtime *rt;             /* owned */
    const mb_bundle *bundle;    /* the runtime's */
    const char *name;           /* the name in /v2/models/NAME */
    size_t ninputs;             /* the columns a request gives (mb_runtime_input) */
    pthread_key_t ctx_key;      /* each thread's mb_runtime_row_ctx */
    char **class_json;          /* each class's name as a JSON string (jansson's), or NULL */
    unsigned char *as_float;    /* per input: numeric, so only its float32 matters (serve_rows.c) */
} mbsv_model;

/* Everything a request handler reaches. */
typedef struct mbsv_server {
    mbsv_model model;
    mbsv_metrics *metrics;
    atomic_int draining;        /* set once SIGTERM/SIGINT arrived: /v2/health/ready says 503 */
    const char *bundle_path;    /* the served file, for the audit event (may be NULL) */
} mbsv_server;

/* The server's options (moonbench serve's flags). */
typedef struct mbsv_options {
    const char *host;           /* default 127.0.0.1 */
    unsigned port;              /* 0: any free port (printed) */
    unsigned threads;           /* HTTP worker threads (1: one polling thread) */
    const char *token;          /* NULL: no authentication */
    size_t max_body;            /* bytes; a larger body is refused with 413 */
    FILE *access_log;           /* NULL: none */
    double drain_timeout;       /* seconds to wait for in-flight requests */
    double conn_timeout;        /* idle connection timeout, seconds */
} mbsv_options;

/* A reply: status code, body (mb_malloc'd; the HTTP layer frees it), its
** content type, and for 405 the methods the path allows. */
typedef struct mbsv_reply {
    int code;
    char *body;
    size_t len;
    const char *content_type;
    const char *allow;
    mbsv_endpoint endpoint;
} mbsv_reply;

/* {====== serve_api.c ======} */

/* Answer one request (method, path, body of len bytes, already within the
** size limit). Never fails: errors become 4xx/5xx replies with a JSON body
** {"error": "..."}. */
void mbsv_route(mbsv_server *s, const char *method, const char *path, const char *body, size_t len,
                mbsv_reply *out);
/* The endpoint a path names (OTHER when none), for the metrics of requests
** refused before routing. */
mbsv_endpoint mbsv_endpoint_of(const mbsv_server *s, const char *path);
/* A JSON error reply {"error": msg}. */
void mbsv_reply_error(mbsv_reply *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The model from an opened runtime, which it takes over (closed by
** mbsv_model_free, after the request threads have ended). */
void mbsv_model_init(mbsv_model *m, mb_runtime *rt, const char *name);
void mbsv_model_free(mbsv_model *m);

/* {====== serve_rows.c ======} */

/* POST /predict's common body {"instances": [[v, ...], ...]}, every row of
** nin values, each a number within float32's range or null, read into
** *values (nrows x nin doubles, null as NaN, mb_malloc'd) exactly as
** jansson would read them; 1, or 0 (nothing allocated) for any other body,
** which the caller then parses with jansson. as_float (may be NULL): per
** column, 1 when only the value's float32 is used (a numeric input): its
** value may then be that float32 rather than jansson's double. */
int mbsv_fast_rows(const char *body, size_t len, size_t nin, const unsigned char *as_float, double **values,
                   size_t *nrows);

/* {====== serve_json.c ======} */

/* The JSON text of f, byte for byte what jansson dumped (JSON_REAL_PRECISION(9))
** for the shortest decimal that reads back as f: "null" for NaN and
** infinities. buf holds 32 bytes; returns the length; *value is the
** decimal's double (NaN for null). */
size_t mbsv_float_text(float f, char *buf, double *value);

/* The body of POST /predict's reply, as jansson dumped it (JSON_COMPACT):
** {"predictions":[...]} and, with k > 0, "probabilities":[[...], ...]. */
typedef struct mbsv_predict_rows {
    size_t n, k;
    const long *label;              /* n class indices, when class_json */
    const float *value;             /* n values, when not (regression) */
    const char *const *class_json;  /* the classes as JSON strings, or NULL */
    const float *proba;             /* n x k */
} mbsv_predict_rows;
/* mb_malloc'd and NUL-terminated, *len bytes; NULL when out of memory. */
char *mbsv_predict_body(const mbsv_predict_rows *r, size_t *len);

/* {====== serve_http.c ======} */

/* Run the HTTP server until SIGTERM or SIGINT, then stop accepting, wait for
** in-flight requests (up to opt->drain_timeout) and return 0; 1 (message
** printed) if it could not start. Prints the address it listens on. */
int mbsv_http_run(mbsv_server *s, const mbsv_options *opt);

/* {====== serve_metrics.c ======} */

/* Metrics for a bundle's model; drift needs the bundle's /monitoring
** (without it, *note says why there is no drift). window: rows kept for
** drift; threshold: PSI above which a feature is flagged. */
mbsv_metrics *mbsv_metrics_new(const mb_bundle *b, size_t window, double threshold, const char **note);
void mbsv_metrics_free(mbsv_metrics **m);
/* A request begins (headers in) or ends (answer sent or connection lost);
** the count in flight, for draining and for /metrics (any thread). */
void mbsv_metrics_begin(mbsv_metrics *m);
void mbsv_metrics_end(mbsv_metrics *m);
int mbsv_metrics_in_flight(mbsv_metrics *m);
/* One answered request (any thread). */
void mbsv_metrics_request(mbsv_metrics *m, mbsv_endpoint ep, int code, double seconds);
/* A scored row: its model features (nfeatures floats) and class index (-1
** for regression), for predictions by class and the drift window (any
** thread). */
void mbsv_metrics_scored(mbsv_metrics *m, const float *x, long label);
/* The counters at a glance, for a live view (the workbench's Export tab):
** requests answered and those with a 4xx/5xx code (every endpoint), rows
** scored, latency quantiles (interpolated in the histogram's buckets, as
** Prometheus' histogram_quantile; NaN before the first request), and the
** drift window's flagged features (their names, comma-separated). */
typedef struct mbsv_summary {
    unsigned long long requests, errors, scored;
    double p50, p99;
    size_t window_rows, drifting;
    char drifting_names[256];
} mbsv_summary;
void mbsv_metrics_summary(mbsv_metrics *m, mbsv_summary *out);
/* The Prometheus text exposition (version 0.0.4), mb_malloc'd. */
char *mbsv_metrics_render(mbsv_metrics *m, size_t *len);

#endif
