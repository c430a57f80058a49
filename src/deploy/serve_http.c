/*
** serve_http.c: the HTTP/1.1 plumbing of `moonbench serve`, on
** libmicrohttpd (the only file that includes it): binding, the worker
** threads, request bodies and their size limit, the bearer token, the
** access log, and shutdown on SIGTERM/SIGINT.
**
** DESIGN
** ------
** MHD calls on_request several times per request: once when the headers
** are in (the token and Content-Length are checked there, so a refused
** request never sends its body, and MHD sends no 100-continue), once per
** chunk of body (kept up to --max-body; beyond, the rest is read and
** dropped and the answer is 413), and once at the end, when serve_api.c
** answers. Token check: both the expected and the presented token are
** hashed (BLAKE2b) and the digests compared with sodium_memcmp, so the time
** taken says nothing about the token, not even its length.
** Shutdown: SIGTERM and SIGINT are blocked in every thread (MHD's threads
** inherit the mask) and taken by sigwait in the main thread; then the
** listening socket is closed (MHD_quiesce_daemon), /v2/health/ready turns
** 503, replies ask for `Connection: close`, and the daemon stops once no
** request is in flight (or after --drain-timeout).
*/
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "serve.h"

typedef struct http {
    mbsv_server *srv;
    const mbsv_options *opt;
    unsigned char token_hash[crypto_generichash_BYTES];
    atomic_ullong answered;
} http;

typedef struct request {
    double t0;
    char *body;
    size_t len, cap;
    int too_large, answered;
} request;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* {====== access log ======} */

/* One line per request: time, client, "METHOD PATH VERSION", code, bytes,
** seconds. The path is the client's text: non-printable bytes and quotes
** become '?', and it is cut at 256 bytes, so a line stays one line. */
static void access_log(http *h, struct MHD_Connection *c, const char *method, const char *url, const char *version,
                       int code, size_t bytes, double secs)
{
    FILE *fp = h->opt->access_log;
    if (!fp)
        return;
    char when[32], client[64] = "-", path[260];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr)
        getnameinfo(ci->client_addr,
                    ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
                    client, sizeof client, NULL, 0, NI_NUMERICHOST);
    size_t i = 0;
    for (; url[i] && i < 256; i++)
        path[i] = url[i] < 0x21 || url[i] > 0x7e || url[i] == '"' ? '?' : url[i];
    path[i] = '\0';
    /* one call per line: stdio locks the stream, so threads never interleave */
    fprintf(fp, "%s %s \"%s %s%s %s\" %d %zu %.6f\n", when, client, method, path, url[i] ? "..." : "", version, code,
            bytes, secs);
    fflush(fp);
}

/* {====== answering ======} */

static enum MHD_Result respond(http *h, struct MHD_Connection *c, request *rq, const char *method, const char *url,
                               const char *version, mbsv_reply *r)
{
    /* MHD takes the body as it is and frees it when sent: no copy */
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(r->len, r->body, mb_free);
    if (!resp)
        mb_free(r->body);
    r->body = NULL;
    rq->answered = 1;
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->code == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"moonbench\"");
    if (atomic_load(&h->srv->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->code, resp);
    MHD_destroy_response(resp);
    double secs = now_s() - rq->t0;
    mbsv_metrics_request(h->srv->metrics, r->endpoint, r->code, secs);
    atomic_fetch_add(&h->answered, 1);
    access_log(h, c, method, url, version, r->code, r->len, secs);
    return ok;
}

static int authorized(const http *h, struct MHD_Connection *c)
{
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!a || strncasecmp(a, "Bearer ", 7) != 0)
        return 0;
    unsigned char got[crypto_generichash_BYTES];
    crypto_generichash(got, sizeof got, (const unsigned char *)a + 7, strlen(a + 7), NULL, 0);
    return sodium_memcmp(got, h->token_hash, sizeof got) == 0;
}

/* Checks made when the headers are in; 0 to go on reading the body. */
static int refuse_early(http *h, struct MHD_Connection *c, const char *url, mbsv_reply *r)
{
    if (h->opt->token && !authorized(h, c)) {
        mbsv_reply_error(r, 401, "this server needs the header 'Authorization: Bearer TOKEN'");
    } else {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        char *end;
        errno = 0;
        unsigned long long n = cl ? strtoull(cl, &end, 10) : 0;
        if (!cl || (errno == 0 && n <= h->opt->max_body))
            return 0;
        mbsv_reply_error(r, 413, "the body (%s bytes) is over this server's limit of %zu bytes (--max-body)", cl,
                         h->opt->max_body);
    }
    r->endpoint = mbsv_endpoint_of(h->srv, url);
    return 1;
}

/* Keep a chunk of body, up to the limit; past it, only remember that. */
static void take_chunk(http *h, request *rq, const char *data, size_t n)
{
    if (rq->too_large || n > h->opt->max_body - rq->len) {
        rq->too_large = 1;
        return;
    }
    if (rq->len + n > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 4096;
        while (cap < rq->len + n)
            cap *= 2;
        if (cap > h->opt->max_body)
            cap = h->opt->max_body;
        char *p = mb_tryrealloc(rq->body, cap);
        if (!p) {
            rq->too_large = 1; /* answered 413: no memory for it now */
            return;
        }
        rq->body = p;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **ctx)
{
    http *h = cls;
    request *rq = *ctx;
    mbsv_reply r;
    memset(&r, 0, sizeof r);
    if (!rq) {
        rq = mb_trycalloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO; /* MHD closes the connection */
        rq->t0 = now_s();
        mbsv_metrics_begin(h->srv->metrics);
        *ctx = rq;
        if (refuse_early(h, c, url, &r))
            return respond(h, c, rq, method, url, version, &r);
        return MHD_YES;
    }
    if (*size) {
        if (!rq->answered)
            take_chunk(h, rq, data, *size);
        *size = 0;
        return MHD_YES;
    }
    if (rq->answered)
        return MHD_YES;
    if (rq->too_large) {
        mbsv_reply_error(&r, 413, "the body is over this server's limit of %zu bytes (--max-body)", h->opt->max_body);
        r.endpoint = mbsv_endpoint_of(h->srv, url);
    } else {
        mbsv_route(h->srv, method, url, rq->body, rq->len, &r);
    }
    return respond(h, c, rq, method, url, version, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode why)
{
    (void)c;
    (void)why;
    http *h = cls;
    request *rq = *ctx;
    if (!rq)
        return;
    mb_free(rq->body);
    mb_free(rq);
    *ctx = NULL;
    mbsv_metrics_end(h->srv->metrics);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fprintf(stderr, "moonbench serve: ");
    vfprintf(stderr, fmt, ap);
}

/* {====== start and stop ======} */

/* The address to bind: host (a name or a numeric IPv4/IPv6 address) and port. */
static int resolve(const char *host, unsigned port, struct sockaddr_storage *sa, socklen_t *len)
{
    char serv[16];
    snprintf(serv, sizeof serv, "%u", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int rc = getaddrinfo(host, serv, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "moonbench serve: --host %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Wait for requests in flight; and, for a moment, for connections
** accepted whose request has not begun (headers still coming): idle
** keep-alive connections would otherwise hold the stop up. */
static void drain(struct MHD_Daemon *d, mbsv_server *s, double timeout)
{
    double t0 = now_s(), deadline = t0 + timeout, idle_deadline = t0 + (timeout < 1 ? timeout : 1);
    struct timespec tick = {0, 5 * 1000 * 1000};
    for (double t = t0; t < deadline; t = now_s()) {
        const union MHD_DaemonInfo *ci = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (mbsv_metrics_in_flight(s->metrics) == 0 && (!ci || ci->num_connections == 0 || t >= idle_deadline))
            break;
        nanosleep(&tick, NULL);
    }
}

int mbsv_http_run(mbsv_server *s, const mbsv_options *opt)
{
    http h;
    memset(&h, 0, sizeof h);
    h.srv = s;
    h.opt = opt;
    atomic_init(&h.answered, 0);
    if (sodium_init() < 0) {
        fprintf(stderr, "moonbench serve: libsodium failed to start\n");
        return 1;
    }
    if (opt->token)
        crypto_generichash(h.token_hash, sizeof h.token_hash, (const unsigned char *)opt->token, strlen(opt->token),
                           NULL, 0);
    struct sockaddr_storage sa;
    socklen_t salen;
    if (resolve(opt->host, opt->port, &sa, &salen))
        return 1;
    /* TURBO: read, write and accept before asking epoll whether the socket
    ** is ready (saves a round of epoll_wait per request on keep-alive
    ** connections, which are nearly always ready) */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Block the stop signals before MHD starts its threads, which inherit the mask. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)opt->port, NULL, NULL, on_request, &h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &h,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)opt->conn_timeout,
        opt->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, opt->threads, MHD_OPTION_END);
    if (!d) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        fprintf(stderr, "moonbench serve: cannot listen on %s port %u: %s\n", opt->host, opt->port,
                errno ? strerror(errno) : "the HTTP library refused to start");
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : opt->port;
    fprintf(stderr, "moonbench serve: %s on http://%s%s%s:%u/ (%u thread%s)%s; SIGTERM or Ctrl-C stops\n",
            s->model.name, sa.ss_family == AF_INET6 ? "[" : "", opt->host, sa.ss_family == AF_INET6 ? "]" : "", port,
            opt->threads, opt->threads == 1 ? "" : "s", opt->token ? ", token required" : "");
    char where[300];
    snprintf(where, sizeof where, "http://%s%s%s:%u/", sa.ss_family == AF_INET6 ? "[" : "", opt->host,
             sa.ss_family == AF_INET6 ? "]" : "", port);
    mb_audit_bundle_event("serve", s->bundle_path, s->model.bundle, NULL, where); /* listening: audit.h */
    int sig = 0;
    sigwait(&stop, &sig);
    atomic_store(&s->draining, 1);
    MHD_socket ls = MHD_quiesce_daemon(d);
    drain(d, s, opt->drain_timeout);
    int cut = mbsv_metrics_in_flight(s->metrics);
    MHD_stop_daemon(d);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    fprintf(stderr, "moonbench serve: stopped on %s after %llu requests", sig == SIGINT ? "SIGINT" : "SIGTERM",
            (unsigned long long)atomic_load(&h.answered));
    if (cut > 0)
        fprintf(stderr, "; %d still in flight after %.3g s were cut", cut, opt->drain_timeout);
    fprintf(stderr, "\n");
    return 0;
}
