/*
** worker.c: `moonbench worker MODEL.h5 --redis URL --in STREAM --group G`:
** a Redis Streams consumer-group worker. It reads entries in bounded
** batches (XREADGROUP), scores them through the inference runtime, writes
** each prediction to the output stream with the input entry's id, and
** acknowledges an entry only after its output is written (docs/deployment.md,
** "Event-driven: Redis Streams worker").
**
** DESIGN
** ------
** At-least-once: an entry leaves the group's pending list (XACK) only once
** Redis has answered the XADD of its output (or of its dead letter). A
** crash between the two leaves it pending; on start, and after every
** reconnection, the worker first finishes its own pending entries
** (XREADGROUP from id 0), and it takes over entries another consumer has
** left pending longer than --claim-idle (XAUTOCLAIM, on start and then
** whenever it is idle). So an output can be written twice only after a
** crash, and both copies carry the same input id.
** One batch: the entries' features are computed row by row, the model runs
** once on the batch, the XADDs are pipelined (formatted as RESP in one
** buffer), their replies read, then one XACK names every entry whose XADD
** succeeded. That XACK is not a round trip of its own: it is held (w->ack)
** and sent in the same write as the next command. It is still sent only
** after its XADDs were answered; a lost connection keeps it, to send first
** on the new one; leaving (a signal, a fatal error) sends it before exiting.
** Reading ahead: one worker would otherwise alternate with Redis (read,
** score, write), each idle while the other works. So before scoring a
** batch of new entries the worker writes out the next XREADGROUP (with the
** held XACK in front), without BLOCK: Redis answers it at once, and
** commands behind a blocked read would wait for new entries. The replies
** come back in order: that read's (parsed while Redis serves the XADDs),
** then the XADDs'. An empty answer means the stream is drained for now,
** and the worker goes back to one blocking read with nothing else in
** flight. Stopping sends no read ahead, and finishes the one in flight.
** Memory: the batch in hand is freed (its ids copied into the XACK) before
** the next reply is read, so one reply arena serves both in turn; two
** batches are delivered to a worker and not yet acknowledged at most (the
** one scored, the one read ahead), each of --batch entries of Redis's own
** size limits.
** Signals: SIGTERM and SIGINT set a flag; XREADGROUP blocks at most 1 s, so
** the flag is seen within a second, after the batch in hand is finished.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "../cli/train.h"
#include "audit.h"
#include "options.h"
#include "runtime.h"
#include "score.h"
#include "worker.h"

#define MAX_BATCH 10000

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

typedef struct wk_args {
    const char *model, *redis, *in, *group, *consumer, *out, *dead;
    int create_group, allow_lua;
    unsigned long long batch, claim_idle, metrics_port;
    mb_cli_trust trust;
} wk_args;

/* An XACK's argv ("XACK", stream, group, ids...) of n words (0: none),
** the ids copied into ids: the reply they came in is freed first. */
typedef struct wk_ack {
    const char **av;
    char *ids;
    size_t n, cap;
} wk_ack;

/* w->row[i]: the entry's row in X, or one of these */
enum { ROW_DEAD = -1, ROW_GONE = -2 /* deleted before it was read: only acknowledged */ };

typedef struct worker {
    const wk_args *a;
    mbwk_url url;
    redisContext *c;
    mb_runtime *rt;
    mb_runtime_row_ctx *ctx;
    mbwk_metrics *m;
    size_t nf, k;
    long json_input;          /* the model's input named "json", or -1 */
    float *X, *label, *proba;
    long *row;                /* per entry: its row in X, or ROW_DEAD, ROW_GONE */
    char **why;               /* per entry: the dead-letter reason */
    /* The last entry's field layout (its names in order, NUL-separated)
    ** and each field's input index (-1: not an input): producers write
    ** every entry alike, so the names are looked up once per layout. */
    char *lay_names;
    size_t lay_len, lay_cap, lay_n;
    long *lay_idx;
    long lay_json;            /* the layout's first field named "json", or -1 */
    unsigned char *numeric;   /* per input: not categorical (the fast parse applies) */
    /* append_output's argv, sized once for the prediction's fields */
    const char **out_av;
    char *out_num, **proba_names;
    /* the batch's XADDs as RESP, handed to hiredis in one call: its own
    ** formatting (sds growth, a format parse per word) was 14% of the
    ** worker's instructions */
    char *resp;
    size_t resp_len, resp_cap;
    mbwk_replies *replies;    /* the connection's reply objects (worker_reply.c) */
    /* ack[held]: the XACK of the last batch written, sent with the next
    ** command; ack[!held]: the ids of the batch in hand, until its XADDs
    ** are answered (the held one may still be unanswered then) */
    wk_ack ack[2];
    int held, ack_sent;       /* ack_sent: ack[held] went out with the last command */
    size_t batch_n;           /* entries of the batch in hand */
    char consumer[160], out[1024], dead[1024], claim_ms[32], count[32];
    double last_claim, last_gauges;
    unsigned long long nscored, ndead; /* for the exit message */
} worker;

enum { BATCH_OK = 0, BATCH_LOST = -1, BATCH_FATAL = -2 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_args(int argc, char **argv, wk_args *a)
{
    a->batch = 64;
    a->claim_idle = 30000;
    const mbo_option opts[] = {
        {"--allow-lua", MBO_FLAG, &a->allow_lua, 0, 0},
        {"--create-group", MBO_FLAG, &a->create_group, 0, 0},
        {"--redis", MBO_TEXT, &a->redis, 0, 0},
        {"--in", MBO_TEXT, &a->in, 0, 0},
        {"--group", MBO_TEXT, &a->group, 0, 0},
        {"--consumer", MBO_TEXT, &a->consumer, 0, 0},
        {"--out", MBO_TEXT, &a->out, 0, 0},
        {"--dead", MBO_TEXT, &a->dead, 0, 0},
        {"--batch", MBO_COUNT, &a->batch, 1, MAX_BATCH},
        {"--claim-idle", MBO_COUNT, &a->claim_idle, 1, 86400000},
        {"--metrics-port", MBO_COUNT, &a->metrics_port, 1, 65535},
    };
    int rc = mbo_parse("worker", argc, argv, opts, sizeof opts / sizeof *opts, &a->trust, &a->model);
    if (rc)
        return rc;
    if (!a->model)
        return mb_cli_usage("worker", "name the model bundle");
    if (!a->redis || !a->in || !a->group)
        return mb_cli_usage("worker", "--redis URL, --in STREAM and --group G are required");
    if (!*a->in || !*a->group || (a->consumer && !*a->consumer))
        return mb_cli_usage("worker", "stream, group and consumer names must not be empty");
    return 0;
}

/* {====== one batch ======} */

static int is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* The input index of each field of f (f->elements / 2 of them) in
** w->lay_idx: the cached layout when f's names are the last entry's, in
** the same order, else looked up and cached. */
static void field_layout(worker *w, const redisReply *f)
{
    size_t nfld = f->elements / 2, len = 0;
    if (nfld == w->lay_n) {
        const char *p = w->lay_names;
        size_t j = 0;
        for (; j < nfld; j++) {
            const redisReply *k = f->element[2 * j];
            if (len + k->len + 1 > w->lay_len || memcmp(p, k->str, k->len) != 0 || p[k->len] != '\0')
                break;
            p += k->len + 1, len += k->len + 1;
        }
        if (j == nfld && len == w->lay_len)
            return;
    }
    len = 0;
    for (size_t j = 0; j < nfld; j++)
        len += f->element[2 * j]->len + 1;
    if (len > w->lay_cap) {
        w->lay_names = mb_realloc(w->lay_names, len);
        w->lay_cap = len;
    }
    w->lay_idx = mb_realloc(w->lay_idx, (nfld + 1) * sizeof *w->lay_idx);
    char *p = w->lay_names;
    w->lay_json = -1;
    for (size_t j = 0; j < nfld; j++) {
        const redisReply *k = f->element[2 * j];
        if (w->lay_json < 0 && k->len == 4 && memcmp(k->str, "json", 4) == 0)
            w->lay_json = (long)j;
        memcpy(p, k->str, k->len);
        p[k->len] = '\0';
        /* a name holding a NUL matches no input, as strcmp on it would not */
        w->lay_idx[j] = strlen(p) == k->len ? mb_runtime_input_find(w->rt, p) : -1;
        p += k->len + 1;
    }
    w->lay_n = nfld, w->lay_len = len;
}

/* An entry's fields into X row `row`: the (first) JSON field "json"
** (unless the model has an input of that name), else fields by input name. A numeric
** input's plain decimal takes the exact fast parse (worker_number.c);
** anything else the runtime's text rule. */
static mb_status entry_features(worker *w, const redisReply *f, float *x, mb_error *err)
{
    if (!f || f->type != REDIS_REPLY_ARRAY || f->elements % 2)
        return mb_fail(err, MB_EFORMAT, "the entry's fields are not name/value pairs");
    for (size_t j = 0; j < f->elements; j++)
        if (!is_str(f->element[j]))
            return mb_fail(err, MB_EFORMAT, "field %zu is not a string", j / 2 + 1);
    field_layout(w, f);
    if (w->json_input < 0 && w->lay_json >= 0 && (size_t)w->lay_json < f->elements / 2) {
        const redisReply *v = f->element[2 * w->lay_json + 1];
        return mb_score_json_features(w->rt, w->ctx, v->str, v->len, x, err);
    }
    mb_runtime_row_reset(w->ctx);
    for (size_t j = 0; j < f->elements; j += 2) {
        long i = w->lay_idx[j / 2];
        if (i < 0)
            continue;
        const redisReply *v = f->element[j + 1];
        double d;
        mb_status rc = w->numeric[i] && mbwk_parse_decimal(v->str, v->len, &d)
                           ? mb_runtime_row_set_number(w->ctx, (size_t)i, d, err)
                           : mb_runtime_row_set_text(w->ctx, (size_t)i, v->str, err);
        if (rc != MB_OK)
            return rc;
    }
    return mb_runtime_row_transform(w->ctx, x, err);
}

/* Room for n more bytes in w->resp. */
static char *resp_room(worker *w, size_t n)
{
    if (w->resp_len + n > w->resp_cap) {
        w->resp_cap = (w->resp_len + n) * 2;
        w->resp = mb_realloc(w->resp, w->resp_cap);
    }
    return w->resp + w->resp_len;
}

/* c then n in decimal then CRLF ("*3\r\n", "$5\r\n"), as hiredis writes it. */
static void resp_count(worker *w, char c, size_t n)
{
    char *p = resp_room(w, 24), digits[20];
    int nd = 0;
    do
        digits[nd++] = (char)('0' + n % 10);
    while (n /= 10);
    *p++ = c;
    while (nd)
        *p++ = digits[--nd];
    *p++ = '\r', *p++ = '\n';
    w->resp_len = (size_t)(p - w->resp);
}

/* One command (argc words; len NULL: NUL-terminated) appended to w->resp,
** byte for byte what redisAppendCommandArgv would send. */
static void resp_command(worker *w, size_t argc, const char **av, const size_t *len)
{
    resp_count(w, '*', argc);
    for (size_t j = 0; j < argc; j++) {
        size_t n = len ? len[j] : strlen(av[j]);
        resp_count(w, '$', n);
        char *p = resp_room(w, n + 2);
        memcpy(p, av[j], n);
        p[n] = '\r', p[n + 1] = '\n';
        w->resp_len += n + 2;
    }
}

/* The XADD of entry e's prediction (row r) or dead letter, appended to
** the batch's RESP (w->resp). */
static void append_output(worker *w, const redisReply *e, size_t i)
{
    const redisReply *id = e->element[0], *f = e->element[1];
    long r = w->row[i];
    if (r < 0) {
        size_t nf = f && f->type == REDIS_REPLY_ARRAY ? f->elements : 0, argc = 7 + nf;
        const char **av = mb_malloc(argc * sizeof *av);
        size_t *len = mb_malloc(argc * sizeof *len);
        const char *head[7] = {"XADD", w->dead, "*", "id", id->str, "reason", w->why[i]};
        for (size_t j = 0; j < 7; j++)
            av[j] = head[j], len[j] = strlen(head[j]);
        len[4] = id->len;
        for (size_t j = 0; j < nf; j++) {
            const redisReply *v = f->element[j];
            av[7 + j] = is_str(v) ? v->str : "";
            len[7 + j] = is_str(v) ? v->len : 0;
        }
        resp_command(w, argc, av, len);
        mb_free(av);
        mb_free(len);
        return;
    }
    size_t argc = 7 + 2 * w->k;
    const char **av = w->out_av;
    char *num = w->out_num;
    av[4] = id->str;
    if (w->k) {
        av[6] = mb_runtime_class(w->rt, (size_t)w->label[r]);
        for (size_t c = 0; c < w->k; c++) {
            float pc = w->proba[(size_t)r * w->k + c];
            if (!mbwk_format_proba(pc, num + 32 * c)) /* as snprintf would, or refused */
                snprintf(num + 32 * c, 32, "%.6g", (double)pc);
            av[8 + 2 * c] = num + 32 * c;
        }
    } else {
        snprintf(num, 32, "%.9g", (double)w->label[r]);
        av[6] = num;
    }
    resp_command(w, argc, av, NULL);
}

/* append_output's fixed words, made once: the class names' "proba_"
** fields do not change from entry to entry. */
static void output_words(worker *w)
{
    size_t argc = 7 + 2 * w->k;
    w->out_av = mb_calloc(argc, sizeof *w->out_av);
    w->out_num = mb_malloc((w->k + 1) * 32);
    w->proba_names = mb_calloc(w->k + 1, sizeof *w->proba_names);
    const char **av = w->out_av;
    av[0] = "XADD", av[1] = w->out, av[2] = "*", av[3] = "id", av[5] = "prediction";
    for (size_t c = 0; c < w->k; c++) {
        const char *name = mb_runtime_class(w->rt, c);
        w->proba_names[c] = mb_malloc(strlen(name) + 7);
        memcpy(w->proba_names[c], "proba_", 6);
        memcpy(w->proba_names[c] + 6, name, strlen(name) + 1);
        av[7 + 2 * c] = w->proba_names[c];
    }
}

/* Score the entries of one batch into X/label/proba, or a reason each. */
static void score_entries(worker *w, const redisReply *entries)
{
    size_t nrows = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        mb_error err;
        w->row[i] = ROW_DEAD;
        mb_free(w->why[i]); /* left by a batch that was lost */
        w->why[i] = NULL;
        if (e->element[1]->type == REDIS_REPLY_NIL)
            w->row[i] = ROW_GONE;
        else if (entry_features(w, e->element[1], w->X + nrows * w->nf, &err) == MB_OK)
            w->row[i] = (long)nrows++;
        else
            w->why[i] = mb_strdup(err.msg);
    }
    if (!nrows)
        return;
    mb_error err;
    mb_matrix X = {w->X, nrows, w->nf, w->nf};
    int failed = mb_runtime_score_matrix(w->rt, &X, w->label, w->k ? w->proba : NULL, &err) != MB_OK;
    for (size_t i = 0; i < entries->elements; i++) {
        long r = w->row[i];
        if (r < 0)
            continue;
        if (failed || (w->k && !(w->label[r] >= 0 && w->label[r] < (float)w->k))) {
            w->why[i] = mb_strdup(failed ? err.msg : "the model predicted a class the bundle does not name");
            w->row[i] = ROW_DEAD;
        }
    }
}

/* The well-formed entries of a reply ([id, fields] pairs); a deleted
** entry (fields nil) is only acknowledged. */
static int entry_ok(const redisReply *e)
{
    return e && e->type == REDIS_REPLY_ARRAY && e->elements == 2 && is_str(e->element[0]);
}

/* Score, write and acknowledge one batch (an array of entries). */
static int check_batch(worker *w, const redisReply *entries)
{
    size_t n = entries->elements;
    if (n > w->a->batch) { /* the arrays hold --batch entries: never trust a reply's size */
        fprintf(stderr, "moonbench worker: Redis answered %zu entries to a read of at most %llu\n", n, w->a->batch);
        return BATCH_FATAL;
    }
    for (size_t i = 0; i < n; i++)
        if (!entry_ok(entries->element[i])) {
            fprintf(stderr, "moonbench worker: Redis answered an entry that is not [id, fields]\n");
            return BATCH_FATAL;
        }
    return BATCH_OK;
}

/* Score a checked batch and hand its XADDs to hiredis (sent with the next
** read of replies); its ids go to the XACK not held (w->ack[!w->held]),
** so the reply can be freed before the XADDs are answered. */
static int batch_send(worker *w, const redisReply *entries)
{
    size_t n = entries->elements;
    w->batch_n = n;
    mbwk_metrics_read(w->m, n);
    score_entries(w, entries);
    w->resp_len = 0;
    for (size_t i = 0; i < n; i++)
        if (w->row[i] != ROW_GONE) /* deleted before we read it: nothing to score */
            append_output(w, entries->element[i], i);
    wk_ack *ack = &w->ack[!w->held];
    size_t idlen = 0;
    for (size_t i = 0; i < n; i++)
        idlen += entries->element[i]->element[0]->len + 1;
    if (idlen > ack->cap) {
        ack->ids = mb_realloc(ack->ids, idlen);
        ack->cap = idlen;
    }
    char *idp = ack->ids;
    for (size_t i = 0; i < n; i++) {
        const redisReply *id = entries->element[i]->element[0];
        memcpy(idp, id->str, id->len + 1);
        ack->av[3 + i] = idp;
        idp += id->len + 1;
    }
    ack->n = 0; /* not to be sent until batch_finish */
    wk_ack *held = &w->ack[w->held];
    if (held->n > 3 && !w->ack_sent) { /* not read ahead (stopping): the held XACK goes first */
        if (redisAppendCommandArgv(w->c, (int)held->n, held->av, NULL) != REDIS_OK)
            return BATCH_LOST;
        w->ack_sent = 1;
    }
    if (w->resp_len && redisAppendFormattedCommand(w->c, w->resp, w->resp_len) != REDIS_OK)
        return BATCH_LOST;
    return BATCH_OK;
}

/* The reply to the held XACK, when it went out (ack_sent): 0, or -1 when
** the connection failed (it stays held, for the next connection). An error
** reply (the group was destroyed) is dropped, as there is nothing left to
** acknowledge. */
static int recv_held(worker *w)
{
    redisReply *r = NULL;
    if (!w->ack_sent)
        return 0;
    if (redisGetReply(w->c, (void **)&r) != REDIS_OK)
        return -1;
    mbwk_reply_free(r);
    w->ack[w->held].n = 0;
    w->ack_sent = 0;
    return 0;
}

/* Read the XADD replies of the batch batch_send handed over; when every
** one succeeded its XACK becomes the held one (sent with the next
** command). An error reply leaves the whole batch pending. t0: when its
** scoring began (the batch latency metric). */
static int batch_finish(worker *w, double t0)
{
    int rc = recv_held(w) == 0 ? BATCH_OK : BATCH_LOST;
    for (size_t i = 0; i < w->batch_n && rc == BATCH_OK; i++) {
        if (w->row[i] == ROW_GONE)
            continue;
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK) {
            rc = BATCH_LOST;
            break;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "moonbench worker: XADD to '%s' failed: %s\n", w->row[i] < 0 ? w->dead : w->out, r->str);
            rc = BATCH_FATAL; /* the rest stays pending */
        } else if (w->row[i] < 0) {
            w->ndead++;
            mbwk_metrics_dead(w->m);
        } else {
            w->nscored++;
            mbwk_metrics_scored(w->m, w->X + (size_t)w->row[i] * w->nf);
        }
        mbwk_reply_free(r);
        if (rc != BATCH_OK)
            break;
    }
    for (size_t i = 0; i < w->batch_n; i++) {
        mb_free(w->why[i]);
        w->why[i] = NULL;
    }
    if (rc != BATCH_OK)
        return rc;
    /* the held XACK was answered before these replies (it went out first) */
    w->held = !w->held;
    w->ack[w->held].n = 3 + w->batch_n;
    mbwk_metrics_batch(w->m, now_s() - t0);
    return BATCH_OK;
}

/* One batch, not read ahead: score, write, acknowledge (the recovery reads). */
static int handle_batch(worker *w, const redisReply *entries)
{
    if (!entries->elements)
        return BATCH_OK;
    int rc = check_batch(w, entries);
    double t0 = now_s();
    if (rc == BATCH_OK)
        rc = batch_send(w, entries);
    return rc == BATCH_OK ? batch_finish(w, t0) : rc;
}

/* {====== reading ======} */

/* The held XACK (if any) and then the command argv, appended; flush: also
** written out now (a read ahead, answered while the worker scores). */
static int send_acking(worker *w, int argc, const char **argv, int flush)
{
    const wk_ack *ack = &w->ack[w->held];
    w->ack_sent = ack->n > 3;
    /* as RESP by the worker, as the XADDs: hiredis's formatting of an XACK
    ** of 64 ids was 2% of the worker's instructions */
    w->resp_len = 0;
    if (w->ack_sent)
        resp_command(w, ack->n, ack->av, NULL);
    resp_command(w, (size_t)argc, argv, NULL);
    if (redisAppendFormattedCommand(w->c, w->resp, w->resp_len) != REDIS_OK)
        return -1;
    for (int done = !flush; !done;)
        if (redisBufferWrite(w->c, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* The replies to what send_acking sent: the command's, or NULL when the
** connection failed (the XACK is then kept for the next connection: its
** outputs are written). */
static redisReply *recv_acking(worker *w)
{
    redisReply *r = NULL;
    if (recv_held(w) != 0 || redisGetReply(w->c, (void **)&r) != REDIS_OK)
        return NULL;
    return r;
}

/* The held XACK (if any) and then the command argv, in one write; the
** command's reply, or NULL (recv_acking). */
static redisReply *command_acking(worker *w, int argc, const char **argv)
{
    return send_acking(w, argc, argv, 0) == 0 ? recv_acking(w) : NULL;
}

/* Send the held XACK alone (on leaving): 0, or -1 (still held). */
static int flush_ack(worker *w)
{
    wk_ack *ack = &w->ack[w->held];
    if (ack->n <= 3)
        return 0;
    redisReply *r = w->c && !w->c->err ? mbwk_command(w->c, (int)ack->n, ack->av) : NULL;
    if (!r)
        return -1;
    mbwk_reply_free(r);
    ack->n = 0;
    return 0;
}

/* A reply that is an error: fatal, with a hint for a missing group. */
static int reply_error(worker *w, const char *what, const redisReply *r)
{
    fprintf(stderr, "moonbench worker: %s on '%s' failed: %s%s\n", what, w->a->in, r->str,
            strncmp(r->str, "NOGROUP", 7) == 0 ? " (create the group, or pass --create-group)" : "");
    return BATCH_FATAL;
}

/* The entries of an XREADGROUP reply ([[stream, entries]]), or NULL (a
** BLOCK that timed out answers nil). */
static const redisReply *read_entries(const redisReply *r)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements == 2 && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
        return r->element[0]->element[1];
    return NULL;
}

/* XREADGROUP of this consumer's pending entries after id `from` (no
** BLOCK); *got: the count read, *last: the last id. */
static int read_group(worker *w, const char *from, size_t *got, char *last, size_t lastsz)
{
    const char *av[] = {"XREADGROUP", "GROUP", w->a->group, w->consumer, "COUNT", w->count, "STREAMS", w->a->in, from};
    redisReply *r = command_acking(w, 9, av);
    *got = 0;
    if (!r)
        return BATCH_LOST;
    int rc = BATCH_OK;
    const redisReply *entries = read_entries(r);
    if (r->type == REDIS_REPLY_ERROR) {
        rc = reply_error(w, "XREADGROUP", r);
    } else if (entries) {
        *got = entries->elements;
        if (*got && entry_ok(entries->element[*got - 1]))
            snprintf(last, lastsz, "%s", entries->element[*got - 1]->element[0]->str);
        rc = handle_batch(w, entries);
    }
    mbwk_reply_free(r);
    return rc;
}

/* A reply x to a read of new entries: *r = x when it holds some (to be
** scored), else NULL and x is freed. */
static int take_new(worker *w, redisReply *x, redisReply **r)
{
    *r = NULL;
    if (!x)
        return BATCH_LOST;
    int rc = x->type == REDIS_REPLY_ERROR ? reply_error(w, "XREADGROUP", x) : BATCH_OK;
    const redisReply *entries = rc == BATCH_OK ? read_entries(x) : NULL;
    if (entries && entries->elements)
        *r = x;
    else
        mbwk_reply_free(x);
    return rc;
}

/* Score, write and acknowledge the batch of new entries in *r, reading
** the next one ahead: unless stopping, that XREADGROUP (without BLOCK, so
** Redis answers it at once and the XADDs behind it are not held up) is
** written out before the batch is scored, and Redis serves it meanwhile;
** its reply is read (and parsed) before the batch's XADD replies. *r
** becomes that reply when it holds entries, else NULL. The reply in hand
** is freed before the one ahead is read, so one arena holds both in turn. */
static int batch_ahead(worker *w, redisReply **r)
{
    const redisReply *entries = read_entries(*r);
    int rc = check_batch(w, entries), ahead = !stop;
    const char *av[] = {"XREADGROUP", "GROUP", w->a->group, w->consumer, "COUNT", w->count, "STREAMS", w->a->in, ">"};
    if (rc == BATCH_OK && ahead && send_acking(w, 9, av, 1) != 0)
        rc = BATCH_LOST;
    double t0 = now_s();
    if (rc == BATCH_OK)
        rc = batch_send(w, entries);
    mbwk_reply_free(*r);
    *r = NULL;
    if (rc != BATCH_OK)
        return rc;
    int next = ahead ? take_new(w, recv_acking(w), r) : BATCH_OK;
    if (next == BATCH_LOST)
        return next;
    rc = batch_finish(w, t0);
    if (rc != BATCH_OK) {
        mbwk_reply_free(*r);
        *r = NULL;
        return rc;
    }
    return next; /* a read ahead that failed, after this batch's XACK is held */
}

/* Finish this consumer's own pending entries (left by a crash or a lost
** connection), then claim those idle longer than --claim-idle. */
static int recover(worker *w)
{
    char last[128] = "0";
    size_t got;
    int rc;
    do
        rc = read_group(w, last, &got, last, sizeof last);
    while (rc == BATCH_OK && got);
    char cursor[128] = "0-0";
    w->last_claim = now_s();
    do {
        const char *av[] = {"XAUTOCLAIM", w->a->in, w->a->group, w->consumer, w->claim_ms, cursor, "COUNT", w->count};
        redisReply *r = command_acking(w, 8, av);
        if (!r)
            return BATCH_LOST;
        if (r->type == REDIS_REPLY_ERROR) {
            rc = reply_error(w, "XAUTOCLAIM", r);
        } else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && is_str(r->element[0]) &&
                   r->element[1]->type == REDIS_REPLY_ARRAY) {
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            rc = handle_batch(w, r->element[1]);
        } else {
            snprintf(cursor, sizeof cursor, "0-0");
        }
        mbwk_reply_free(r);
    } while (rc == BATCH_OK && strcmp(cursor, "0-0") != 0);
    return rc;
}

/* The group's pending count and lag for /metrics (XINFO GROUPS). */
static void update_gauges(worker *w)
{
    w->last_gauges = now_s();
    const char *av[] = {"XINFO", "GROUPS", w->a->in};
    redisReply *r = w->m ? command_acking(w, 3, av) : NULL;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        mbwk_reply_free(r);
        return;
    }
    for (size_t g = 0; g < r->elements; g++) {
        const redisReply *m = r->element[g];
        long long pending = -1, lag = -1;
        int ours = 0;
        for (size_t j = 0; m->type == REDIS_REPLY_ARRAY && j + 1 < m->elements; j += 2) {
            const redisReply *k = m->element[j], *v = m->element[j + 1];
            if (!is_str(k))
                continue;
            if (!strcmp(k->str, "name"))
                ours = is_str(v) && !strcmp(v->str, w->a->group);
            else if (!strcmp(k->str, "pending") && v->type == REDIS_REPLY_INTEGER)
                pending = v->integer;
            else if (!strcmp(k->str, "lag") && v->type == REDIS_REPLY_INTEGER)
                lag = v->integer;
        }
        if (ours)
            mbwk_metrics_group(w->m, pending, lag);
    }
    mbwk_reply_free(r);
}

/* Create the group (and the stream) from the stream's first entry, so
** entries already queued are scored too; an existing group is fine. */
static int create_group(worker *w)
{
    const char *av[] = {"XGROUP", "CREATE", w->a->in, w->a->group, "0", "MKSTREAM"};
    redisReply *r = mbwk_command(w->c, 6, av);
    if (!r)
        return BATCH_LOST;
    int rc = BATCH_OK;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0)
        rc = reply_error(w, "XGROUP CREATE", r);
    mbwk_reply_free(r);
    return rc;
}

/* Connect (again), then the group and the recovery; BATCH_OK when ready. */
static int start(worker *w)
{
    for (;;) {
        redisFree(w->c);
        if (!(w->c = mbwk_connect_retry(&w->url, &stop)))
            return stop ? BATCH_LOST : BATCH_FATAL;
        mbwk_replies_use(w->c->reader, w->replies);
        w->ack_sent = 0; /* a held XACK not answered is sent again */
        int rc = w->a->create_group ? create_group(w) : BATCH_OK;
        if (rc == BATCH_OK)
            rc = recover(w);
        if (rc != BATCH_LOST)
            return rc;
        fprintf(stderr, "moonbench worker: lost the connection to %s: %s\n", w->url.shown, w->c->errstr);
    }
}

static int run(worker *w)
{
    int rc = start(w);
    redisReply *r = NULL; /* new entries read (ahead), not yet scored */
    while (rc == BATCH_OK && (r || !stop)) {
        int idle = 0;
        if (!r) {
            const char *av[] = {"XREADGROUP", "GROUP", w->a->group, w->consumer, "COUNT", w->count,
                                "BLOCK",      "1000",  "STREAMS",   w->a->in,    ">"};
            rc = take_new(w, command_acking(w, 11, av), &r);
            idle = rc == BATCH_OK && !r;
        }
        if (r)
            rc = batch_ahead(w, &r);
        double t = now_s();
        if (rc == BATCH_OK && idle && t - w->last_claim >= (double)w->a->claim_idle / 1000)
            rc = recover(w);
        if (rc == BATCH_OK && w->m && t - w->last_gauges >= 1)
            update_gauges(w);
        if (rc == BATCH_LOST && !stop) {
            fprintf(stderr, "moonbench worker: lost the connection to %s: %s; reconnecting\n", w->url.shown,
                    w->c->errstr);
            rc = start(w);
        }
    }
    mbwk_reply_free(r); /* read ahead of a fatal error: those entries stay pending */
    /* the last good batch's XACK is still held: its outputs are written */
    size_t held = w->ack[w->held].n > 3 ? w->ack[w->held].n - 3 : 0;
    int unacked = flush_ack(w) != 0;
    if (unacked)
        fprintf(stderr, "moonbench worker: could not acknowledge the last %zu entries scored (%s): they stay "
                        "pending and will be scored again\n", held, w->c ? w->c->errstr : "no connection");
    if (rc == BATCH_FATAL)
        return 1;
    fprintf(stderr, "moonbench worker: stopped (signal): %llu scored, %llu dead-lettered; %s\n", w->nscored,
            w->ndead, unacked ? "the last batch stays pending" : "every entry read was acknowledged");
    return 0;
}

/* {====== the command ======} */

static void worker_free(worker *w)
{
    redisFree(w->c); /* before the arena: it may free a partial reply */
    mbwk_replies_free(&w->replies);
    mbwk_metrics_stop(&w->m);
    mb_runtime_row_ctx_free(&w->ctx);
    mb_runtime_close(&w->rt);
    mbwk_url_free(&w->url);
    mb_free(w->X);
    mb_free(w->label);
    mb_free(w->proba);
    mb_free(w->row);
    for (size_t i = 0; w->why && i < w->a->batch; i++)
        mb_free(w->why[i]);
    mb_free(w->why);
    mb_free(w->lay_names);
    mb_free(w->lay_idx);
    mb_free(w->numeric);
    for (size_t c = 0; w->proba_names && c < w->k; c++)
        mb_free(w->proba_names[c]);
    mb_free(w->proba_names);
    mb_free(w->out_av);
    mb_free(w->out_num);
    for (int j = 0; j < 2; j++) {
        mb_free(w->ack[j].av);
        mb_free(w->ack[j].ids);
    }
    mb_free(w->resp);
}

static void names(worker *w, const wk_args *a)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    if (a->consumer)
        snprintf(w->consumer, sizeof w->consumer, "%s", a->consumer);
    else
        snprintf(w->consumer, sizeof w->consumer, "%s-%ld", host, (long)getpid());
    snprintf(w->out, sizeof w->out, a->out ? "%s" : "%s:out", a->out ? a->out : a->in);
    snprintf(w->dead, sizeof w->dead, a->dead ? "%s" : "%s:dead", a->dead ? a->dead : a->in);
    snprintf(w->claim_ms, sizeof w->claim_ms, "%llu", a->claim_idle);
    snprintf(w->count, sizeof w->count, "%llu", a->batch);
}

int mb_cmd_worker(int argc, char **argv)
{
    wk_args a;
    memset(&a, 0, sizeof a);
    int status = parse_args(argc, argv, &a);
    if (status)
        return status;
    worker w;
    memset(&w, 0, sizeof w);
    w.a = &a;
    char msg[512];
    if (mbwk_url_parse(a.redis, &w.url, msg, sizeof msg) != 0) {
        mbwk_url_free(&w.url);
        return mb_cli_usage("worker", "%s", msg);
    }
    names(&w, &a);
    mb_error err;
    mb_registry reg;
    mb_bundle *b = NULL;
    mb_cli_registry(&reg);
    mb_bundle_options bo = {a.trust.files, a.trust.n, NULL};
    mb_runtime_opts ro = {&reg, a.allow_lua, 0};
    status = 1;
    if (mb_bundle_load_opts(a.model, &bo, &b, &err) != MB_OK ||
        mb_runtime_open_bundle(&b, a.model, &ro, &w.rt, &err) != MB_OK) {
        status = mb_cli_error(&err);
        goto exit;
    }
    w.ctx = mb_runtime_row_ctx_new(w.rt);
    w.nf = mb_runtime_nfeatures(w.rt);
    w.k = mb_runtime_nclasses(w.rt);
    w.json_input = mb_runtime_input_find(w.rt, "json");
    w.lay_json = -1; /* no layout yet (an entry of no fields matches the empty one) */
    w.X = mb_malloc(a.batch * (w.nf + 1) * sizeof *w.X);
    w.label = mb_malloc(a.batch * sizeof *w.label);
    w.proba = mb_malloc(a.batch * (w.k + 1) * sizeof *w.proba);
    w.row = mb_malloc(a.batch * sizeof *w.row);
    w.why = mb_calloc(a.batch, sizeof *w.why);
    size_t nin = mb_runtime_ninputs(w.rt);
    w.numeric = mb_malloc(nin + 1);
    for (size_t i = 0; i < nin; i++)
        w.numeric[i] = !mb_runtime_input_categorical(w.rt, i);
    output_words(&w);
    w.replies = mbwk_replies_new();
    for (int j = 0; j < 2; j++) {
        w.ack[j].av = mb_malloc((a.batch + 3) * sizeof *w.ack[j].av);
        w.ack[j].av[0] = "XACK", w.ack[j].av[1] = a.in, w.ack[j].av[2] = a.group;
    }
    if (a.metrics_port) {
        const char *note = NULL;
        if (!(w.m = mbwk_metrics_start(mb_runtime_bundle(w.rt), (unsigned)a.metrics_port, 1000, MB_DRIFT_THRESHOLD,
                                       &note)))
            goto exit;
        if (note)
            fprintf(stderr, "moonbench worker: no drift metrics: %s\n", note);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a Redis that went away is an error reply, not a signal */
    fprintf(stderr, "moonbench worker: scoring with the %s; %s stream '%s' group '%s' as '%s' -> '%s' (dead: '%s')\n",
            mb_runtime_describe(w.rt), w.url.shown, a.in, a.group, w.consumer, w.out, w.dead);
    char where[512];
    snprintf(where, sizeof where, "%s stream '%s' group '%s' as '%s'", w.url.shown, a.in, a.group, w.consumer);
    mb_audit_bundle_event("worker", a.model, mb_runtime_bundle(w.rt), NULL, where); /* audit.h */
    status = run(&w);
exit:
    worker_free(&w);
    mb_bundle_free(&b);
    mb_registry_close(&reg);
    return status;
}
