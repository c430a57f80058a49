/*
** worker.h: the pieces of `moonbench worker` (docs/deployment.md,
** "Event-driven: Redis Streams worker"), internal to src/deploy:
**   worker.c          the command: options, the bundle, the loop that
**                     reads, scores, writes and acknowledges
**   worker_redis.c    the connection on hiredis: the URL, AUTH, SELECT,
**                     reconnecting with backoff (the only file that
**                     connects)
**   worker_metrics.c  Prometheus /metrics on libmicrohttpd (optional)
**   worker_number.c   the exact fast paths for decimal field values and %.6g
**   worker_reply.c    hiredis reply objects in an arena (no malloc each)
**
** Threads: the loop is one thread. The metrics server answers from its
** own thread; everything it reads is atomic or behind the drift window's
** mutex (drift.h).
*/
#ifndef MB_WORKER_H
#define MB_WORKER_H

#include <hiredis/hiredis.h>
#include <signal.h>

#include "bundle.h"

/* {====== worker_redis.c ======} */

/* A parsed redis://[user:password@]host[:port][/db] URL. The password is
** never printed: mbwk_url_show gives the URL with it masked. */
typedef struct mbwk_url {
    char host[256];
    int port;          /* default 6379 */
    int db;            /* default 0 */
    char *user;        /* NULL: the default user (AUTH password) */
    char *pass;        /* NULL: no AUTH */
    char shown[320];   /* redis://[user:***@]host:port/db */
} mbwk_url;

/* 0, or -1 with a message in msg (rediss:// is refused: no TLS in
** Debian's hiredis 0.14). */
int mbwk_url_parse(const char *s, mbwk_url *u, char *msg, size_t msgsz);
void mbwk_url_free(mbwk_url *u);

/* Connect, AUTH and SELECT once. NULL with a message in msg; *fatal is set
** when retrying cannot help (the password is refused, the db does not
** exist), else the error is a network one worth retrying. */
redisContext *mbwk_connect(const mbwk_url *u, char *msg, size_t msgsz, int *fatal);
/* Connect with exponential backoff (0.1 s doubling to 5 s) until it works,
** *stop becomes non-zero (NULL returned, no message) or the error is fatal
** (NULL, message printed). Messages say what failed, once per outage. */
redisContext *mbwk_connect_retry(const mbwk_url *u, volatile sig_atomic_t *stop);

/* A command from argv (argc strings, NUL-terminated); the reply, or NULL
** when the connection failed (c->errstr says why). */
redisReply *mbwk_command(redisContext *c, int argc, const char **argv);

/* {====== worker_number.c ======} */

/* The n bytes at s as a plain decimal ([+-]digits[.digits][e[+-]digits]):
** 1 with *v exactly strtod's value, or 0 (not such a number, or not one
** this can round exactly: parse it the slow way). Allocates nothing. */
int mbwk_parse_decimal(const char *s, size_t n, double *v);
/* printf's "%.6g" of p into out (16 bytes at least), byte for byte: its
** length, or 0 when p is not +0 nor in [10^-4, 1) (then use snprintf). */
size_t mbwk_format_proba(float p, char *out);

/* {====== worker_reply.c ======} */

typedef struct mbwk_replies mbwk_replies;
mbwk_replies *mbwk_replies_new(void);
/* After every connection's replies are freed (and the connection too). */
void mbwk_replies_free(mbwk_replies **a);
/* Make the replies of reader r (a context's c->reader) in the arena a;
** from then on free them only with mbwk_reply_free (NULL is fine), never
** freeReplyObject. */
void mbwk_replies_use(redisReader *r, mbwk_replies *a);
void mbwk_reply_free(void *reply);

/* {====== worker_metrics.c ======} */

typedef struct mbwk_metrics mbwk_metrics;

/* Metrics of a bundle's model; drift needs the bundle's /monitoring
** (without it *note says why there is none). NULL with a message printed
** when the port cannot be bound. Listens on 127.0.0.1:port. */
mbwk_metrics *mbwk_metrics_start(const mb_bundle *b, unsigned port, size_t window, double threshold,
                                 const char **note);
void mbwk_metrics_stop(mbwk_metrics **m);
/* Counting (the loop's thread; m may be NULL: not counting). */
void mbwk_metrics_read(mbwk_metrics *m, size_t n);
void mbwk_metrics_scored(mbwk_metrics *m, const float *x);
void mbwk_metrics_dead(mbwk_metrics *m);
void mbwk_metrics_batch(mbwk_metrics *m, double seconds);
/* The group's gauges, as last asked of Redis (-1: unknown). */
void mbwk_metrics_group(mbwk_metrics *m, long long pending, long long lag);

#endif
