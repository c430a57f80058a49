/*
** score_stream.c: `moonbench score MODEL --stream`: lines on stdin (NDJSON
** objects by feature name or arrays in input order, or CSV lines), one
** JSON line out per record, flushed, in order, so it sits in a pipe after
** kcat, redis-cli or tail -f. JSON is parsed and written by jansson.
**
** Micro-batching (--batch N): each line's features are computed as it
** arrives; the model runs once per batch (one call, one plugin lock), and
** the answers go out in input order. A batch is scored when it is full or
** when stdin has nothing more ready (poll), so a slow producer still gets
** each answer at once.
*/
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "score.h"

#define MAXLINE (1u << 20) /* longer lines are refused, not buffered */
#define MAXFIELDS 65536

/* {====== lines from a file descriptor ======} */

typedef struct lines {
    int fd;
    char *buf;
    size_t beg, end;
    int eof, skipping; /* skipping: the rest of a line that was too long */
} lines;

/* The next complete line ('\n' dropped, NUL-terminated in the buffer):
** 1, or 0 when none is buffered; *toolong for a refused long line. */
static int next_line(lines *L, char **s, size_t *n, int *toolong)
{
    *toolong = 0;
    for (;;) {
        char *nl = memchr(L->buf + L->beg, '\n', L->end - L->beg);
        if (!nl) {
            if (L->eof && L->end > L->beg && !L->skipping) { /* a last line without '\n' */
                *s = L->buf + L->beg;
                *n = L->end - L->beg;
                L->buf[L->end] = '\0';
                L->beg = L->end;
                return 1;
            }
            if (L->end - L->beg >= MAXLINE) { /* too long: report it once, drop the rest */
                L->beg = L->end = 0;
                if (!L->skipping) {
                    L->skipping = 1;
                    *toolong = 1;
                    return 1;
                }
            }
            return 0;
        }
        *nl = '\0';
        *s = L->buf + L->beg;
        *n = (size_t)(nl - *s);
        L->beg = (size_t)(nl - L->buf) + 1;
        if (L->skipping) {
            L->skipping = 0;
            continue;
        }
        if (*n && (*s)[*n - 1] == '\r')
            (*s)[--*n] = '\0';
        return 1;
    }
}

/* Read more (blocking); 0 at end of input, -1 on error. */
static int fill(lines *L)
{
    if (L->beg) {
        memmove(L->buf, L->buf + L->beg, L->end - L->beg);
        L->end -= L->beg;
        L->beg = 0;
    }
    ssize_t r;
    do
        r = read(L->fd, L->buf + L->end, MAXLINE + 1 - L->end);
    while (r < 0 && errno == EINTR);
    if (r <= 0) {
        L->eof = 1;
        return r < 0 ? -1 : 0;
    }
    L->end += (size_t)r;
    return 1;
}

static int input_ready(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

/* {====== CSV lines ======} */

/* Split s in place into fields (RFC 4180 quotes within the line; unquoted
** fields trimmed of blanks). Returns the count, or -1 for a stray quote. */
static long split_csv(char *s, char **field, size_t max)
{
    size_t n = 0;
    char *p = s;
    for (;;) {
        if (n == max)
            return -1;
        while (*p == ' ' || *p == '\t')
            p++;
        char *out = p, *start = p;
        if (*p == '"') {
            start = out = ++p;
            for (;;) {
                if (!*p)
                    return -1;
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p && *p != ',')
                return -1;
        } else {
            while (*p && *p != ',') {
                if (*p == '"')
                    return -1;
                p++;
            }
            out = p;
            while (out > start && (out[-1] == ' ' || out[-1] == '\t'))
                out--;
        }
        int last = *p == '\0';
        *out = '\0';
        field[n++] = start;
        if (last)
            return (long)n;
        p++;
    }
}

/* {====== the stream ======} */

typedef struct entry {
    size_t line;
    long row;        /* its row in the batch matrix, or -1: error */
    char *error;
    json_t *id;      /* passed through, or NULL */
} entry;

typedef struct stream {
    const mb_runtime *rt;
    const mb_score_opts *o;
    FILE *out;
    mb_runtime_row_ctx *ctx;
    size_t nf, k, cap;
    float *X, *label, *proba;
    entry *e;
    size_t ne, nrows;
    char format;       /* 'j' or 'c' once known */
    long *colmap;      /* CSV with a header: field -> input, or -1 */
    size_t ncolmap;
    long idfield;      /* CSV with a header: the --id field, or -1 */
    int header_seen;
    char **field;
    mb_score_stats *st;
} stream;

static void add_error(stream *s, size_t line, const char *msg, json_t *id)
{
    entry *e = &s->e[s->ne++];
    e->line = line;
    e->row = -1;
    e->error = mb_strdup(msg);
    e->id = id;
}

/* A float as the shortest double near it with 6-9 digits, so JSON shows
** 0.98, not 0.980000019. */
static double tidy(float v, int digits)
{
    char b[32];
    snprintf(b, sizeof b, "%.*g", digits, (double)v);
    return strtod(b, NULL);
}

static mb_status put_json(stream *s, json_t *obj, mb_error *err)
{
    int bad = json_dumpf(obj, s->out, JSON_COMPACT | JSON_REAL_PRECISION(9)) != 0;
    json_decref(obj);
    bad |= fputc('\n', s->out) == EOF;
    return bad ? mb_fail(err, MB_EIO, "cannot write the output: %s", strerror(errno)) : MB_OK;
}

/* Score the batch and write its answers in order. */
static mb_status flush_batch(stream *s, mb_error *err)
{
    mb_status rc = MB_OK;
    mb_error merr;
    int model_failed = 0;
    if (s->nrows) {
        mb_matrix X = {s->X, s->nrows, s->nf, s->nf};
        model_failed = mb_runtime_score_matrix(s->rt, &X, s->label, s->proba, &merr) != MB_OK;
    }
    for (size_t i = 0; i < s->ne && rc == MB_OK; i++) {
        entry *e = &s->e[i];
        json_t *o = json_object();
        json_object_set_new(o, "line", json_integer((json_int_t)e->line));
        if (e->id)
            json_object_set(o, "id", e->id);
        if (e->row < 0 || model_failed) {
            json_object_set_new(o, "error", json_string(e->row < 0 ? e->error : merr.msg));
            s->st->rejected++;
        } else if (s->k) {
            float lab = s->label[e->row];
            if (!(lab >= 0 && lab < (float)s->k)) {
                json_object_set_new(o, "error", json_string("the model predicted a class the bundle does not name"));
                s->st->rejected++;
            } else {
                json_object_set_new(o, "prediction", json_string(mb_runtime_class(s->rt, (size_t)lab)));
                json_t *p = json_object();
                for (size_t c = 0; c < s->k; c++)
                    json_object_set_new(p, mb_runtime_class(s->rt, c), json_real(tidy(s->proba[e->row * s->k + c], 6)));
                json_object_set_new(o, "probabilities", p);
                s->st->scored++;
            }
        } else {
            json_object_set_new(o, "prediction", json_real(tidy(s->label[e->row], 9)));
            s->st->scored++;
        }
        rc = put_json(s, o, err);
    }
    for (size_t i = 0; i < s->ne; i++) {
        mb_free(s->e[i].error);
        json_decref(s->e[i].id);
    }
    s->ne = s->nrows = 0;
    if (rc == MB_OK && fflush(s->out) != 0)
        rc = mb_fail(err, MB_EIO, "cannot write the output: %s", strerror(errno));
    return rc;
}

/* One JSON value into input i. */
static mb_status set_json(const mb_runtime *rt, mb_runtime_row_ctx *ctx, size_t i, json_t *v, mb_error *err)
{
    if (json_is_number(v))
        return mb_runtime_row_set_number(ctx, i, json_number_value(v), err);
    if (json_is_string(v))
        return mb_runtime_row_set_text(ctx, i, json_string_value(v), err);
    if (json_is_null(v))
        return mb_runtime_row_set_number(ctx, i, NAN, err);
    return mb_fail(err, MB_ETYPE, "column '%s': expected a number, a string or null, got %s",
                   mb_runtime_input(rt, i),
                   json_is_object(v) ? "an object" : json_is_array(v) ? "an array" : "true/false");
}

/* A parsed JSON record (an object by input name, or an array in input
** order) into the context. */
static mb_status json_into_row(const mb_runtime *rt, mb_runtime_row_ctx *ctx, json_t *j, mb_error *err)
{
    size_t ni = mb_runtime_ninputs(rt);
    mb_status rc = MB_OK;
    if (json_is_array(j)) {
        if (json_array_size(j) != ni)
            return mb_fail(err, MB_ESHAPE, "an array of %zu values; the model takes %zu (its inputs in order)",
                           json_array_size(j), ni);
        for (size_t i = 0; i < ni && rc == MB_OK; i++)
            rc = set_json(rt, ctx, i, json_array_get(j, i), err);
        return rc;
    }
    if (!json_is_object(j))
        return mb_fail(err, MB_EFORMAT, "expected a JSON object (inputs by name) or an array");
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        long i = mb_runtime_input_find(rt, key);
        if (i >= 0 && (rc = set_json(rt, ctx, (size_t)i, v, err)) != MB_OK)
            return rc;
    }
    return MB_OK;
}

/* A JSON line into the context; *id gets the passthrough value. */
static mb_status row_json(stream *s, const char *line, size_t n, json_t **root, json_t **id, mb_error *err)
{
    json_error_t je;
    json_t *j = *root = json_loadb(line, n, 0, &je);
    if (!j)
        return mb_fail(err, MB_EFORMAT, "not JSON: %s (column %d)", je.text, je.column);
    if (s->o->id && json_is_object(j) && (*id = json_object_get(j, s->o->id)))
        json_incref(*id);
    return json_into_row(s->rt, s->ctx, j, err);
}

mb_status mb_score_json_features(const mb_runtime *rt, mb_runtime_row_ctx *ctx, const char *text, size_t n,
                                 float *x, mb_error *err)
{
    json_error_t je;
    mb_runtime_row_reset(ctx);
    json_t *j = json_loadb(text, n, 0, &je);
    if (!j)
        return mb_fail(err, MB_EFORMAT, "not JSON: %s (column %d)", je.text, je.column);
    mb_status rc = json_into_row(rt, ctx, j, err);
    if (rc == MB_OK)
        rc = mb_runtime_row_transform(ctx, x, err);
    json_decref(j); /* text values are borrowed until the transform above */
    return rc;
}

/* A CSV line into the context (or the header: *header set). */
static mb_status row_csv(stream *s, char *line, int *header, json_t **id, mb_error *err)
{
    size_t ni = mb_runtime_ninputs(s->rt);
    long n = split_csv(line, s->field, MAXFIELDS);
    if (n < 0)
        return mb_fail(err, MB_EFORMAT, "a stray or unterminated quote");
    if (!s->header_seen) {
        /* a first line naming every input is the header */
        s->header_seen = 1;
        size_t named = 0;
        long *map = mb_malloc((size_t)n * sizeof *map);
        for (long f = 0; f < n; f++) {
            map[f] = mb_runtime_input_find(s->rt, s->field[f]);
            named += map[f] >= 0;
            if (s->o->id && !strcmp(s->field[f], s->o->id))
                s->idfield = f;
        }
        if (named == ni && ni) {
            s->colmap = map;
            s->ncolmap = (size_t)n;
            *header = 1;
            return MB_OK;
        }
        mb_free(map);
    }
    mb_status rc = MB_OK;
    if (s->colmap) {
        if ((size_t)n != s->ncolmap)
            return mb_fail(err, MB_ESHAPE, "%ld fields, expected %zu (as in the header)", n, s->ncolmap);
        if (s->idfield >= 0)
            *id = json_string(s->field[s->idfield]);
        for (long f = 0; f < n && rc == MB_OK; f++)
            if (s->colmap[f] >= 0)
                rc = mb_runtime_row_set_text(s->ctx, (size_t)s->colmap[f], s->field[f], err);
        return rc;
    }
    if ((size_t)n != ni)
        return mb_fail(err, MB_ESHAPE, "%ld fields, expected %zu (the model's inputs in order, or a header line first)",
                       n, ni);
    for (size_t i = 0; i < ni && rc == MB_OK; i++)
        rc = mb_runtime_row_set_text(s->ctx, i, s->field[i], err);
    return rc;
}

/* One input line: into the batch, as a row or as an error. */
static void take_line(stream *s, char *line, size_t n, size_t lineno)
{
    size_t b = 0;
    while (b < n && (line[b] == ' ' || line[b] == '\t'))
        b++;
    if (b == n)
        return; /* blank lines are not records */
    if (!s->format)
        s->format = line[b] == '{' || line[b] == '[' ? 'j' : 'c';
    mb_error err;
    json_t *root = NULL, *id = NULL;
    int header = 0;
    mb_runtime_row_reset(s->ctx);
    mb_status rc = s->format == 'j' ? row_json(s, line, n, &root, &id, &err) : row_csv(s, line, &header, &id, &err);
    if (rc == MB_OK && !header)
        rc = mb_runtime_row_transform(s->ctx, s->X + s->nrows * s->nf, &err);
    json_decref(root); /* values set as text were used by the transform above */
    if (header)
        return;
    if (rc != MB_OK) {
        add_error(s, lineno, err.msg, id);
        return;
    }
    entry *e = &s->e[s->ne++];
    memset(e, 0, sizeof *e);
    e->line = lineno;
    e->row = (long)s->nrows++;
    e->id = id;
}

mb_status mb_score_stream(const mb_runtime *rt, int in, FILE *out, const mb_score_opts *o, mb_score_stats *st,
                          mb_error *err)
{
    memset(st, 0, sizeof *st);
    stream s = {0};
    s.rt = rt;
    s.o = o;
    s.out = out;
    s.st = st;
    s.format = o->format;
    s.idfield = -1;
    s.ctx = mb_runtime_row_ctx_new(rt);
    s.nf = mb_runtime_nfeatures(rt);
    s.k = mb_runtime_nclasses(rt);
    s.cap = o->batch > 1 ? o->batch : 1;
    s.X = mb_malloc(s.cap * (s.nf ? s.nf : 1) * sizeof *s.X);
    s.label = mb_malloc(s.cap * sizeof *s.label);
    s.proba = mb_malloc(s.cap * (s.k ? s.k : 1) * sizeof *s.proba);
    s.e = mb_calloc(s.cap, sizeof *s.e);
    s.field = mb_malloc(MAXFIELDS * sizeof *s.field);
    lines L = {in, mb_malloc(MAXLINE + 2), 0, 0, 0, 0};
    mb_status rc = MB_OK;
    size_t lineno = 0;
    while (rc == MB_OK) {
        char *line;
        size_t n;
        int toolong;
        while (rc == MB_OK && next_line(&L, &line, &n, &toolong)) {
            lineno++;
            if (toolong)
                add_error(&s, lineno, "line longer than 1 MiB; skipped", NULL);
            else
                take_line(&s, line, n, lineno);
            if (s.ne == s.cap)
                rc = flush_batch(&s, err);
        }
        if (rc != MB_OK || L.eof)
            break;
        /* nothing complete buffered: answer what we have unless more is ready */
        if (s.ne && !input_ready(in) && (rc = flush_batch(&s, err)) != MB_OK)
            break;
        if (fill(&L) < 0)
            rc = mb_fail(err, MB_EIO, "cannot read stdin: %s", strerror(errno));
    }
    if (rc == MB_OK)
        rc = flush_batch(&s, err);
    for (size_t i = 0; i < s.ne; i++) {
        mb_free(s.e[i].error);
        json_decref(s.e[i].id);
    }
    mb_runtime_row_ctx_free(&s.ctx);
    mb_free(s.X);
    mb_free(s.label);
    mb_free(s.proba);
    mb_free(s.e);
    mb_free(s.field);
    mb_free(s.colmap);
    mb_free(L.buf);
    return rc;
}
