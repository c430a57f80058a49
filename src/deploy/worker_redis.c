/*
** worker_redis.c: the Redis connection of `moonbench worker` on hiredis:
** the URL, AUTH before anything else, SELECT, and reconnecting with
** exponential backoff when Redis goes away.
**
** Secrets: the password is kept only to send AUTH; every message shows the
** URL with it masked (mbwk_url.shown), and Redis's own replies to AUTH
** never echo it.
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "worker.h"

/* Percent-decoding of the user and password (%40 is '@'). */
static char *decode(const char *s, size_t n)
{
    char *out = mb_malloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n + 1 && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static int url_fail(char *msg, size_t msgsz, const char *why)
{
    snprintf(msg, msgsz, "--redis: %s (expected redis://[user:password@]host[:port][/db])", why);
    return -1;
}

int mbwk_url_parse(const char *s, mbwk_url *u, char *msg, size_t msgsz)
{
    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (strncasecmp(s, "rediss://", 9) == 0) {
        snprintf(msg, msgsz, "--redis: rediss:// (TLS) is not available: this build's hiredis (Debian 0.14) has "
                             "no TLS; reach a remote Redis through a TLS tunnel (stunnel, spiped) on loopback");
        return -1;
    }
    if (strncasecmp(s, "redis://", 8) != 0)
        return url_fail(msg, msgsz, "not a redis:// URL");
    const char *p = s + 8, *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q; /* the last '@': a password may hold one unencoded */
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (colon > p)
                u->user = decode(p, (size_t)(colon - p));
            u->pass = decode(colon + 1, (size_t)(at - colon - 1));
        } else {
            u->pass = decode(p, (size_t)(at - p)); /* redis://password@host */
        }
        p = at + 1;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *hend = colon ? colon : end;
    if (hend == p || (size_t)(hend - p) >= sizeof u->host)
        return url_fail(msg, msgsz, "no host, or a host name longer than 255 bytes");
    memcpy(u->host, p, (size_t)(hend - p));
    if (colon) {
        char *e;
        long port = strtol(colon + 1, &e, 10);
        if (e != end || port < 1 || port > 65535)
            return url_fail(msg, msgsz, "the port is not a number in 1..65535");
        u->port = (int)port;
    }
    if (*end == '/' && end[1]) {
        char *e;
        long db = strtol(end + 1, &e, 10);
        if (*e || db < 0 || db > 65535)
            return url_fail(msg, msgsz, "the database after '/' is not a number");
        u->db = (int)db;
    } else if (*end && strcmp(end, "/") != 0) {
        return url_fail(msg, msgsz, "unexpected text after the host");
    }
    snprintf(u->shown, sizeof u->shown, "redis://%s%s%s%s:%d/%d", u->user ? u->user : "",
             u->pass ? ":***" : "", u->user || u->pass ? "@" : "", u->host, u->port, u->db);
    return 0;
}

void mbwk_url_free(mbwk_url *u)
{
    mb_free(u->user);
    if (u->pass)
        memset(u->pass, 0, strlen(u->pass));
    mb_free(u->pass);
    u->user = u->pass = NULL;
}

redisReply *mbwk_command(redisContext *c, int argc, const char **argv)
{
    return redisCommandArgv(c, argc, argv, NULL);
}

/* A command whose reply must not be an error; 0, or -1 with its message. */
static int simple(redisContext *c, int argc, const char **argv, char *msg, size_t msgsz, int *fatal)
{
    redisReply *r = mbwk_command(c, argc, argv);
    if (!r) {
        snprintf(msg, msgsz, "%s", c->errstr);
        return -1;
    }
    int bad = r->type == REDIS_REPLY_ERROR;
    if (bad) {
        snprintf(msg, msgsz, "%s", r->str);
        /* a server still loading its data (or a replica without its
        ** master) will answer later: worth retrying */
        *fatal = strncmp(r->str, "LOADING", 7) != 0 && strncmp(r->str, "MASTERDOWN", 10) != 0 &&
                 strncmp(r->str, "BUSY", 4) != 0;
    }
    freeReplyObject(r);
    return bad ? -1 : 0;
}

redisContext *mbwk_connect(const mbwk_url *u, char *msg, size_t msgsz, int *fatal)
{
    *fatal = 0;
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(u->host, u->port, tv);
    if (!c || c->err) {
        snprintf(msg, msgsz, "cannot connect to %s: %s", u->shown, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    /* replies come within BLOCK (1 s) plus the network; a dead peer shows as a timeout */
    struct timeval rt = {10, 0};
    redisSetTimeout(c, rt);
    redisEnableKeepAlive(c);
    char why[512];
    if (u->pass) {
        const char *av[3] = {"AUTH", u->user ? u->user : u->pass, u->pass};
        if (simple(c, u->user ? 3 : 2, av, why, sizeof why, fatal) != 0) {
            snprintf(msg, msgsz, "%s: authentication failed: %s", u->shown, why);
            redisFree(c);
            return NULL;
        }
    }
    if (u->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", u->db);
        const char *av[2] = {"SELECT", db};
        if (simple(c, 2, av, why, sizeof why, fatal) != 0) {
            snprintf(msg, msgsz, "%s: SELECT %d failed: %s", u->shown, u->db, why);
            redisFree(c);
            return NULL;
        }
    }
    /* a server that wants a password we did not give says NOAUTH here */
    const char *ping[1] = {"PING"};
    if (simple(c, 1, ping, why, sizeof why, fatal) != 0) {
        snprintf(msg, msgsz, "%s: %s%s", u->shown, why,
                 strstr(why, "NOAUTH") ? " (give the password in the URL: redis://:PASSWORD@host:port)" : "");
        redisFree(c);
        return NULL;
    }
    return c;
}

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL); /* a signal cuts it short: the caller looks at stop */
}

redisContext *mbwk_connect_retry(const mbwk_url *u, volatile sig_atomic_t *stop)
{
    double delay = 0.1;
    char msg[1024], last[1024] = "";
    while (!*stop) {
        int fatal;
        redisContext *c = mbwk_connect(u, msg, sizeof msg, &fatal);
        if (c) {
            if (last[0])
                fprintf(stderr, "moonbench worker: connected to %s again\n", u->shown);
            return c;
        }
        if (fatal) {
            fprintf(stderr, "moonbench worker: %s\n", msg);
            return NULL;
        }
        if (strcmp(msg, last) != 0) {
            fprintf(stderr, "moonbench worker: %s; retrying (backoff up to 5 s)\n", msg);
            snprintf(last, sizeof last, "%s", msg);
        }
        nap(delay);
        delay = delay * 2 > 5 ? 5 : delay * 2;
    }
    return NULL;
}
