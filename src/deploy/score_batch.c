/*
** score_batch.c: `moonbench score MODEL INPUT [-o OUTPUT]`: a file scored
** a chunk of rows at a time through the runtime, so memory is bounded by
** the chunks in flight (three: one read ahead, one scored, one written;
** see the batch loop) and, when the input carries labels, by what metrics
** keep: a label, a prediction and the probabilities per labelled row. CSV
** is read with the core's streaming reader, HDF5 by row ranges; the
** output and the rejects file are written beside their names and renamed
** when complete (io.h).
*/
#include <errno.h>
#include <hdf5.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csv.h"
#include "h5io.h"
#include "io.h"
#include "runtime_pool.h"
#include "score.h"

#define CHUNK_ROWS 65536

/* {====== input: chunks of a CSV or HDF5 file ======} */

/* One chunk on its way through: read, scored, written (score_batch keeps
** NSLOTS of them in flight, see the batch loop). */
typedef struct slot {
    mb_frame *f;         /* CSV: the slot's own chunk frame, reused; HDF5: the chunk read */
    size_t *lines;       /* CSV: the file line of each row of the chunk */
    size_t n, base;      /* rows in the chunk (0: the end of the input), rows before it */
    long idj;            /* the --id column, or -1 */
    float *label, *proba;
    unsigned char *ok;
    mb_status rc;        /* the read's result (err when not MB_OK) */
    mb_error err;
    int state;           /* the batch loop's: FREE, READ or SCORED */
} slot;

/* A categorical column's levels as the chunks see them. The CSV reader
** interns new levels into its schema (growing, so moving, the array) while
** the chunks read before are still being scored and written on other
** threads: the chunks get this copy instead, which only ever appends.
** When it must grow, the old array is retired (kept until the reader
** closes), not freed, so a chunk that holds it still reads valid entries;
** with doubling, all of a column's arrays hold at most twice its final
** level count of pointers. The level strings are the schema's (each its
** own allocation, stable until the reader closes). */
typedef struct levels_copy {
    char **a;
    size_t n, cap;
} levels_copy;

typedef struct reader {
    const char *spec;
    mb_csv *csv;
    size_t cap;          /* rows per chunk */
    char *file, *object;
    size_t next, total;  /* total: 0 when unknown (HDF5) */
    int done;
    levels_copy *lv;     /* CSV: one per schema column (used by the categorical ones) */
    char ***retired;     /* CSV: level arrays replaced by bigger ones */
    size_t nretired;
} reader;

static mb_status reader_open(reader *r, const char *spec, size_t chunk, mb_error *err)
{
    memset(r, 0, sizeof *r);
    r->spec = spec;
    r->cap = chunk;
    mb_split_spec(spec, &r->file, &r->object);
    if (mb_guess_format(r->file) == MB_FMT_HDF5)
        return MB_OK;
    mb_status rc = mb_csv_open(r->file, NULL, &r->csv, err);
    if (rc != MB_OK)
        return rc;
    r->total = mb_csv_schema(r->csv)->nrows;
    mb_frame *probe = mb_csv_chunk_new(r->csv, chunk);
    if (!probe)
        return mb_fail(err, MB_ENOMEM, "no memory for a chunk of %zu rows", chunk);
    r->cap = probe->nrows; /* fewer for a wide file (csv.h) */
    mb_frame_free(&probe);
    r->lv = mb_calloc(mb_csv_schema(r->csv)->ncols + 1, sizeof *r->lv);
    return MB_OK;
}

/* A slot's buffers for chunks of r (k classes). */
static mb_status slot_init(slot *s, const reader *r, size_t k, mb_error *err)
{
    memset(s, 0, sizeof *s);
    s->idj = -1;
    if (r->csv) {
        if (!(s->f = mb_csv_chunk_new(r->csv, r->cap)))
            return mb_fail(err, MB_ENOMEM, "no memory for a chunk of %zu rows", r->cap);
        s->lines = mb_malloc(r->cap * sizeof *s->lines);
    }
    s->label = mb_malloc(r->cap * sizeof *s->label);
    s->proba = k ? mb_malloc(r->cap * k * sizeof *s->proba) : NULL;
    s->ok = mb_malloc(r->cap);
    return MB_OK;
}

/* The chunk's categorical columns index the schema's levels: lend them
** the copies (brought up to date first), or take them back before the
** next read (the chunk must never free them). */
static void lend_levels(reader *r, mb_frame *f, int lend)
{
    mb_frame *sch = mb_csv_schema(r->csv);
    for (size_t j = 0; j < f->ncols; j++) {
        if (f->cols[j].type != MB_COL_CAT)
            continue;
        levels_copy *c = &r->lv[j];
        const mb_column *sc = &sch->cols[j];
        if (lend && sc->nlevels > c->cap) {
            size_t cap = c->cap ? 2 * c->cap : 16;
            if (cap < sc->nlevels)
                cap = sc->nlevels;
            char **a = mb_malloc(cap * sizeof *a);
            if (c->n)
                memcpy(a, c->a, c->n * sizeof *a);
            if (c->a) {
                r->retired = mb_realloc(r->retired, (r->nretired + 1) * sizeof *r->retired);
                r->retired[r->nretired++] = c->a;
            }
            c->a = a;
            c->cap = cap;
        }
        if (lend && sc->nlevels > c->n) {
            memcpy(c->a + c->n, sc->levels + c->n, (sc->nlevels - c->n) * sizeof *c->a);
            c->n = sc->nlevels;
        }
        f->cols[j].levels = lend ? c->a : NULL;
        f->cols[j].nlevels = lend ? c->n : 0;
    }
}

static void slot_free(slot *s, reader *r)
{
    if (r->csv && s->f)
        lend_levels(r, s->f, 0);
    mb_frame_free(&s->f);
    mb_free(s->lines);
    mb_free(s->label);
    mb_free(s->proba);
    mb_free(s->ok);
    memset(s, 0, sizeof *s);
}

/* The next chunk into s (s->n == 0 at the end). */
static mb_status reader_fill(reader *r, slot *s, mb_error *err)
{
    s->n = 0;
    if (r->done)
        return MB_OK;
    mb_status rc;
    if (r->csv) {
        lend_levels(r, s->f, 0);
        s->f->nrows = r->cap;
        size_t n = 0;
        if ((rc = mb_csv_read_lines(r->csv, s->f, &n, s->lines, err)) != MB_OK)
            return rc;
        s->f->nrows = n;
        if (n == 0) {
            r->done = 1;
            return MB_OK;
        }
        lend_levels(r, s->f, 1);
    } else {
        mb_frame_free(&s->f);
        if ((rc = mb_h5_read(r->file, r->object, r->next, r->cap, &s->f, err)) != MB_OK)
            return rc;
        if (s->f->nrows == 0) {
            r->done = 1;
            return MB_OK;
        }
        r->done = s->f->nrows < r->cap;
    }
    s->n = s->f->nrows;
    s->base = r->next;
    r->next += s->n;
    return MB_OK;
}

/* After every slot is freed (slot_free lends back the levels). */
static void reader_close(reader *r)
{
    if (r->lv) {
        for (size_t j = 0; j < mb_csv_schema(r->csv)->ncols; j++)
            mb_free(r->lv[j].a);
        mb_free(r->lv);
    }
    for (size_t i = 0; i < r->nretired; i++)
        mb_free(r->retired[i]);
    mb_free(r->retired);
    mb_csv_close(&r->csv);
    mb_free(r->file);
    mb_free(r->object);
}

/* {====== output: CSV or HDF5 ======} */

typedef struct writer {
    const char *path;    /* NULL: stdout */
    int h5;
    FILE *fp;
    char *tmp;
    mb_h5w *w;
    mb_frame *schema;    /* HDF5: [id,] prediction, proba_* */
    mb_dict ids;         /* HDF5: categorical id levels */
    int id_cat;
    size_t rows;
} writer;

static int has_ext(const char *p, const char *ext)
{
    size_t n = strlen(p), e = strlen(ext);
    return n > e && strcmp(p + n - e, ext) == 0;
}

/* A CSV field: quoted when it holds a delimiter, a quote or a line end. */
static void put_field(FILE *fp, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

static mb_status open_file(const char *path, FILE **fp, char **tmp, mb_error *err)
{
    int fd = mb_tmp_create(path, tmp, err);
    if (fd < 0)
        return err ? err->code : MB_EIO;
    if (!(*fp = fdopen(fd, "w"))) {
        close(fd);
        mb_tmp_discard(tmp);
        return mb_fail(err, MB_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    return MB_OK;
}

static mb_status close_file(const char *path, FILE **fp, char **tmp, mb_error *err)
{
    int bad = ferror(*fp) | fflush(*fp) | fsync(fileno(*fp));
    bad |= fclose(*fp);
    *fp = NULL;
    if (bad) {
        mb_tmp_discard(tmp);
        return mb_fail(err, MB_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    return mb_tmp_publish(-1, tmp, path, err);
}

static mb_status writer_open(writer *w, const mb_runtime *rt, const char *path, const char *id, int id_cat,
                             mb_error *err)
{
    memset(w, 0, sizeof *w);
    w->path = path;
    w->id_cat = id_cat;
    size_t k = mb_runtime_nclasses(rt);
    w->h5 = path && (has_ext(path, ".h5") || has_ext(path, ".hdf5"));
    if (!w->h5) {
        mb_status rc = path ? open_file(path, &w->fp, &w->tmp, err) : MB_OK;
        if (!path)
            w->fp = stdout;
        if (rc != MB_OK)
            return rc;
        if (id) {
            put_field(w->fp, id);
            fputc(',', w->fp);
        }
        fputs("prediction", w->fp);
        for (size_t c = 0; c < k; c++) {
            char name[512];
            snprintf(name, sizeof name, "proba_%s", mb_runtime_class(rt, c));
            fputc(',', w->fp);
            put_field(w->fp, name);
        }
        fputc('\n', w->fp);
        return MB_OK;
    }
    w->schema = mb_frame_new(0);
    if (id) {
        mb_column *c = id_cat ? mb_frame_add_cat(w->schema, id, err) : mb_frame_add_num(w->schema, id, NULL, 1, err);
        if (id_cat)
            mb_dict_init(&w->ids, c);
    }
    if (k) {
        mb_column *c = mb_frame_add_cat(w->schema, "prediction", err);
        for (size_t j = 0; j < k; j++)
            mb_column_add_level(c, mb_runtime_class(rt, j), strlen(mb_runtime_class(rt, j)));
    } else {
        mb_frame_add_num(w->schema, "prediction", NULL, 1, err);
    }
    for (size_t j = 0; j < k; j++) {
        char name[512];
        snprintf(name, sizeof name, "proba_%s", mb_runtime_class(rt, j));
        mb_frame_add_num(w->schema, name, NULL, 1, err);
    }
    return mb_h5w_begin(path, w->schema, &w->w, err);
}

/* The rows of a scored chunk with ok[i]; id is the id column or NULL. */
static mb_status writer_put(writer *w, const mb_runtime *rt, const mb_column *id, const float *label,
                            const float *proba, const unsigned char *ok, size_t n, mb_error *err)
{
    size_t k = mb_runtime_nclasses(rt), m = 0;
    for (size_t i = 0; i < n; i++) {
        m += ok[i];
        if (ok[i] && k && !(label[i] >= 0 && label[i] < (float)k))
            return mb_fail(err, MB_EFORMAT, "the model predicted class %g, but the bundle names %zu classes",
                           (double)label[i], k);
    }
    if (!w->h5) {
        for (size_t i = 0; i < n; i++) {
            if (!ok[i])
                continue;
            if (id) {
                if (id->type == MB_COL_NUM) {
                    fprintf(w->fp, "%.9g,", (double)MB_NUM(id, i));
                } else {
                    int32_t c = id->codes[i];
                    put_field(w->fp, c >= 0 && (size_t)c < id->nlevels ? id->levels[c] : "");
                    fputc(',', w->fp);
                }
            }
            if (k)
                put_field(w->fp, mb_runtime_class(rt, (size_t)label[i]));
            else
                fprintf(w->fp, "%.9g", (double)label[i]);
            for (size_t c = 0; c < k; c++)
                fprintf(w->fp, ",%.6g", (double)proba[i * k + c]);
            fputc('\n', w->fp);
        }
        w->rows += m;
        return ferror(w->fp) ? mb_fail(err, MB_EIO, "cannot write %s: %s", w->path ? w->path : "the output",
                                       strerror(errno))
                             : MB_OK;
    }
    mb_frame *f = mb_frame_new(m);
    size_t j = 0;
    mb_column *idc = NULL, *pc;
    if (id)
        idc = w->id_cat ? mb_frame_add_cat(f, id->name, err) : mb_frame_add_num(f, id->name, NULL, 1, err);
    pc = k ? mb_frame_add_cat(f, "prediction", err) : mb_frame_add_num(f, "prediction", NULL, 1, err);
    mb_column **pcols = mb_calloc(k + 1, sizeof *pcols);
    for (size_t c = 0; c < k; c++)
        pcols[c] = mb_frame_add_num(f, "p", NULL, 1, err);
    /* mb_frame_add_* may move the column array: take pointers again */
    idc = id ? &f->cols[0] : NULL;
    pc = &f->cols[id ? 1 : 0];
    for (size_t c = 0; c < k; c++)
        pcols[c] = &f->cols[(id ? 2 : 1) + c];
    for (size_t i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        if (idc && id->type == MB_COL_NUM && !w->id_cat) {
            idc->num[j] = MB_NUM(id, i);
        } else if (idc) {
            char buf[32];
            const char *s = buf;
            if (id->type == MB_COL_NUM)
                snprintf(buf, sizeof buf, "%.9g", (double)MB_NUM(id, i));
            else
                s = id->codes[i] >= 0 && (size_t)id->codes[i] < id->nlevels ? id->levels[id->codes[i]] : NULL;
            idc->codes[j] = s ? mb_dict_intern(&w->ids, s, strlen(s)) : -1;
        }
        if (k)
            pc->codes[j] = (int32_t)label[i];
        else
            pc->num[j] = label[i];
        for (size_t c = 0; c < k; c++)
            pcols[c]->num[j] = proba[i * k + c];
        j++;
    }
    mb_status rc = mb_h5w_append(w->w, f, err);
    mb_free(pcols);
    mb_frame_free(&f);
    w->rows += m;
    return rc;
}

static mb_status writer_close(writer *w, mb_error *err)
{
    mb_status rc = MB_OK;
    if (w->h5) {
        w->schema->nrows = w->rows;
        rc = mb_h5w_commit(&w->w, w->schema, err);
    } else if (w->path) {
        rc = close_file(w->path, &w->fp, &w->tmp, err);
    } else if (fflush(stdout) != 0) {
        rc = mb_fail(err, MB_EIO, "cannot write the output: %s", strerror(errno));
    }
    return rc;
}

static void writer_abort(writer *w)
{
    if (w->fp && w->fp != stdout)
        fclose(w->fp);
    mb_tmp_discard(&w->tmp);
    mb_h5w_abort(&w->w);
    if (w->schema && w->id_cat && w->schema->ncols)
        mb_dict_free(&w->ids);
    mb_frame_free(&w->schema);
}

/* {====== rejects ======} */

/* A rejected row is named where a user finds it: by its line in a CSV
** file (1-based, the header is line 1: what an editor or `sed -n Np`
** shows), by its row index in an HDF5 dataset (0-based: X[i] in h5py). */
typedef struct rejects {
    const char *path;    /* NULL: stderr */
    FILE *fp;
    char *tmp;
    const size_t *lines; /* CSV: each chunk row's line (reader.lines); NULL: HDF5 */
    size_t base;         /* rows before this chunk */
    size_t n;
    mb_error err;        /* the first write error */
    int failed;
} rejects;

static void on_reject(void *ud, size_t row, const char *reason)
{
    rejects *r = ud;
    size_t where = r->lines ? r->lines[row] : r->base + row;
    r->n++;
    if (!r->path) {
        fprintf(stderr, "moonbench: rejected %s %zu: %s\n", r->lines ? "line" : "row", where, reason);
        return;
    }
    if (!r->fp && !r->failed) {
        if (open_file(r->path, &r->fp, &r->tmp, &r->err) != MB_OK) {
            r->failed = 1;
            return;
        }
        fputs(r->lines ? "line,reason\n" : "row,reason\n", r->fp);
    }
    if (r->fp) {
        fprintf(r->fp, "%zu,", where);
        put_field(r->fp, reason);
        fputc('\n', r->fp);
    }
}

/* {====== metrics ======} */

/* The class index of a target value, or -1 when it is none of the model's. */
static long class_of(const mb_runtime *rt, const mb_column *t, size_t i)
{
    size_t k = mb_runtime_nclasses(rt);
    char buf[32];
    const char *s = buf;
    if (t->type == MB_COL_NUM) {
        float v = MB_NUM(t, i);
        if (isnan(v))
            return -1;
        snprintf(buf, sizeof buf, "%.9g", (double)v);
        for (size_t c = 0; c < k; c++)
            if (strcmp(mb_runtime_class(rt, c), s) == 0)
                return (long)c;
        /* a numeric label as the class index (HDF5 y with target_names) */
        return v >= 0 && v < (float)k && v == floorf(v) ? (long)v : -1;
    }
    int32_t code = t->codes[i];
    if (code < 0 || (size_t)code >= t->nlevels)
        return -1;
    for (size_t c = 0; c < k; c++)
        if (strcmp(mb_runtime_class(rt, c), t->levels[code]) == 0)
            return (long)c;
    return -1;
}

/* class_of's answers for the last few distinct target values (the float's
** bits or the level code) of a chunk: class_of is a pure function of that
** key, and a target column holds a handful of distinct values, so most
** rows skip its snprintf and name compares (6% of `moonbench score`). */
#define MEMO 16
typedef struct class_memo {
    uint32_t key[MEMO];
    long cls[MEMO];
    size_t n, next;
} class_memo;

static long class_of_memo(class_memo *m, const mb_runtime *rt, const mb_column *t, size_t i)
{
    uint32_t key;
    if (t->type == MB_COL_NUM) {
        float v = MB_NUM(t, i);
        memcpy(&key, &v, sizeof key);
    } else {
        key = (uint32_t)t->codes[i];
    }
    for (size_t j = 0; j < m->n; j++)
        if (m->key[j] == key)
            return m->cls[j];
    long c = class_of(rt, t, i);
    size_t j = m->n < MEMO ? m->n++ : m->next++ % MEMO;
    m->key[j] = key;
    m->cls[j] = c;
    return c;
}

static void keep_labels(mb_score_stats *st, const mb_runtime *rt, const mb_column *t, const float *label,
                        const float *proba, const unsigned char *ok, size_t n)
{
    size_t k = mb_runtime_nclasses(rt);
    class_memo memo = {{0}, {0}, 0, 0};
    for (size_t i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        float y;
        if (k) {
            long c = class_of_memo(&memo, rt, t, i);
            if (c < 0) {
                st->unknown_labels++;
                continue;
            }
            y = (float)c;
        } else {
            if (t->type != MB_COL_NUM || isnan(MB_NUM(t, i))) {
                st->unknown_labels++;
                continue;
            }
            y = MB_NUM(t, i);
        }
        if (st->labelled == st->cap) {
            st->cap = st->cap ? 2 * st->cap : 4096;
            st->y = mb_realloc(st->y, st->cap * sizeof *st->y);
            st->pred = mb_realloc(st->pred, st->cap * sizeof *st->pred);
            if (k)
                st->proba = mb_realloc(st->proba, st->cap * k * sizeof *st->proba);
        }
        st->y[st->labelled] = y;
        st->pred[st->labelled] = label[i];
        if (k)
            memcpy(st->proba + st->labelled * k, proba + i * k, k * sizeof *proba);
        st->labelled++;
    }
}

void mb_score_stats_free(mb_score_stats *st)
{
    mb_free(st->y);
    mb_free(st->pred);
    mb_free(st->proba);
    st->y = st->pred = st->proba = NULL;
    st->labelled = st->cap = 0;
}

/* {====== the batch loop ======} */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(size_t done, size_t total, double t0)
{
    int w = 30, fill = total ? (int)((double)done / (double)total * w + 0.5) : 0;
    char bar[64];
    for (int i = 0; i < w; i++)
        bar[i] = total ? (i < fill ? '#' : '.') : (i == (int)(done / CHUNK_ROWS) % w ? '#' : '.');
    bar[w] = '\0';
    if (total)
        fprintf(stderr, "\r[%s] %3.0f%% %zu / %zu rows %5.1fs\033[K", bar, 100.0 * (double)done / (double)total, done,
                total, now_s() - t0);
    else
        fprintf(stderr, "\r[%s] %zu rows %5.1fs\033[K", bar, done, now_s() - t0);
    fflush(stderr);
}

/* The batch: its stages and what they share. Read, score and write run
** on three threads (reader, the caller with its pool, writer), each taking
** the slots in turn: while the pool scores chunk k, the reader reads chunk
** k + 1 and the writer writes chunk k - 1, so the file's reading and
** writing (serial, and a large part of a run at 2 threads) overlap the
** scoring. NSLOTS chunks are in flight at most: memory is bounded by three
** chunks (and their predictions) instead of one. Every chunk goes through
** the same calls in the same order as without the threads (rejects and
** metrics on the caller's thread, the writer writing chunks in order), so
** the output is the same bytes; MOONBENCH_SCORE_SEQUENTIAL=1 runs the
** stages one after another on the caller's thread (the tests' oracle). */
#define NSLOTS 3
enum { FREE, READ, SCORED };

typedef struct batch {
    const mb_runtime *rt;
    const mb_score_opts *o;
    const char *input, *output, *target;
    mb_score_stats *st;
    size_t k;
    reader rd;
    writer wr;
    rejects rj;
    mb_pool *pool;
    double t0;
    int opened;
    slot slots[NSLOTS];
    /* the hand-over between the stages */
    pthread_mutex_t lock;
    pthread_cond_t moved;
    int stop;            /* the caller failed: reader and writer stop */
    int scored_all;      /* the caller is done: nscored chunks were handed on */
    size_t nscored;
    int write_failed;
    mb_status wrc;       /* the writer's first error */
    mb_error werr;
} batch;

/* Score a read chunk: the caller's stage. */
static mb_status score_slot(batch *b, slot *s, mb_error *err)
{
    const mb_runtime *rt = b->rt;
    mb_frame *f = s->f;
    s->idj = b->o->id ? mb_frame_find(f, b->o->id) : -1;
    if (b->o->id && s->idj < 0)
        return mb_fail(err, MB_ENOTFOUND, "%s: no column '%s' to pass through (--id)", b->input, b->o->id);
    b->rj.base = s->base;
    b->rj.lines = b->rd.csv ? s->lines : NULL;
    mb_status rc = mb_runtime_score_frame_on(rt, b->pool, f, s->label, s->proba, s->ok, on_reject, &b->rj, err);
    if (rc != MB_OK)
        return rc;
    if (b->rj.failed) {
        *err = b->rj.err;
        return err->code;
    }
    /* opened once the first chunk scored: a bad input leaves no output */
    if (!b->opened) {
        int id_cat = s->idj >= 0 && f->cols[s->idj].type == MB_COL_CAT;
        if ((rc = writer_open(&b->wr, rt, b->output, b->o->id, id_cat, err)) != MB_OK)
            return rc;
        b->opened = 1;
    }
    long tj = b->target && b->target[0] ? mb_frame_find(f, b->target) : -1;
    if (tj >= 0)
        keep_labels(b->st, rt, &f->cols[tj], s->label, s->proba, s->ok, s->n);
    b->st->rows += s->n;
    if (b->o->progress)
        progress(b->st->rows, b->rd.total, b->t0);
    return MB_OK;
}

static mb_status write_slot(batch *b, slot *s, mb_error *err)
{
    return writer_put(&b->wr, b->rt, s->idj >= 0 ? &s->f->cols[s->idj] : NULL, s->label, s->proba, s->ok, s->n,
                      err);
}

/* The reader's and the writer's threads report HDF5 failures as the
** caller's does: through the error stack, never printed (each thread has
** its own stack in the thread-safe library, and prints by default). */
static void quiet_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static void *reader_main(void *arg)
{
    batch *b = arg;
    quiet_hdf5();
    for (size_t i = 1;; i++) { /* chunk 0 was read before the threads started */
        slot *s = &b->slots[i % NSLOTS];
        pthread_mutex_lock(&b->lock);
        while (s->state != FREE && !b->stop)
            pthread_cond_wait(&b->moved, &b->lock);
        int stop = b->stop;
        pthread_mutex_unlock(&b->lock);
        if (stop)
            break;
        s->rc = reader_fill(&b->rd, s, &s->err);
        pthread_mutex_lock(&b->lock);
        s->state = READ;
        pthread_cond_broadcast(&b->moved);
        pthread_mutex_unlock(&b->lock);
        if (s->rc != MB_OK || s->n == 0)
            break;
    }
    return NULL;
}

static void *writer_main(void *arg)
{
    batch *b = arg;
    quiet_hdf5();
    for (size_t i = 0;; i++) {
        slot *s = &b->slots[i % NSLOTS];
        pthread_mutex_lock(&b->lock);
        while (s->state != SCORED && !b->scored_all)
            pthread_cond_wait(&b->moved, &b->lock);
        int go = s->state == SCORED && !b->stop;
        pthread_mutex_unlock(&b->lock);
        if (!go)
            break;
        mb_status rc = write_slot(b, s, &b->werr);
        pthread_mutex_lock(&b->lock);
        s->state = FREE;
        if (rc != MB_OK) {
            b->wrc = rc;
            b->write_failed = 1;
        }
        pthread_cond_broadcast(&b->moved);
        pthread_mutex_unlock(&b->lock);
        if (rc != MB_OK)
            break;
    }
    return NULL;
}

static mb_status sequential_run(batch *b, int have_first, mb_error *err);

/* The stages on three threads. The first chunk is read here, before any
** other thread (the pool's too) runs: an HDF5 input is checked by a forked child on its
** first read (h5probe.c), and a child forked while another thread holds
** HDF5's or malloc's lock waits on it until the probe times out and calls
** the file damaged. Later reads find the file in the probe's cache and do
** not fork. When a thread cannot start, the rest runs sequentially. */
static mb_status overlapped_run(batch *b, mb_error *err)
{
    slot *s0 = &b->slots[0];
    mb_status rc = reader_fill(&b->rd, s0, err);
    if (rc != MB_OK || s0->n == 0)
        return rc;
    s0->state = READ;
    /* started once for the whole file, after the probe: each chunk's rows are scored on it */
    b->pool = mb_pool_new(b->o->threads);
    pthread_t rt, wt;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->moved, NULL);
    /* the writer first: until a chunk is scored it only waits */
    int have_w = pthread_create(&wt, NULL, writer_main, b) == 0;
    int have_r = have_w && pthread_create(&rt, NULL, reader_main, b) == 0;
    for (size_t i = 0; have_r; i++) {
        slot *s = &b->slots[i % NSLOTS];
        pthread_mutex_lock(&b->lock);
        while (s->state != READ && !b->write_failed)
            pthread_cond_wait(&b->moved, &b->lock);
        int wf = b->write_failed;
        pthread_mutex_unlock(&b->lock);
        if (wf) {
            rc = b->wrc;
            *err = b->werr;
            break;
        }
        if ((rc = s->rc) != MB_OK) {
            *err = s->err;
            break;
        }
        if (s->n == 0 || (rc = score_slot(b, s, err)) != MB_OK)
            break;
        pthread_mutex_lock(&b->lock);
        s->state = SCORED;
        b->nscored++;
        pthread_cond_broadcast(&b->moved);
        pthread_mutex_unlock(&b->lock);
    }
    pthread_mutex_lock(&b->lock);
    b->scored_all = 1;
    b->stop |= rc != MB_OK;
    pthread_cond_broadcast(&b->moved);
    pthread_mutex_unlock(&b->lock);
    if (have_r)
        pthread_join(rt, NULL);
    if (have_w)
        pthread_join(wt, NULL);
    /* a write that failed after the last chunk scored */
    if (rc == MB_OK && b->write_failed) {
        rc = b->wrc;
        *err = b->werr;
    }
    pthread_cond_destroy(&b->moved);
    pthread_mutex_destroy(&b->lock);
    return have_r ? rc : sequential_run(b, 1, err);
}

/* The stages in turn on the caller's thread, in slot 0 (have_first: it
** holds a chunk read already). */
static mb_status sequential_run(batch *b, int have_first, mb_error *err)
{
    slot *s = &b->slots[0];
    mb_status rc = MB_OK;
    for (int have = have_first;; have = 0) {
        if (!have && ((rc = reader_fill(&b->rd, s, err)) != MB_OK || s->n == 0))
            break;
        if ((rc = score_slot(b, s, err)) != MB_OK || (rc = write_slot(b, s, err)) != MB_OK)
            break;
    }
    return rc;
}

static int sequential_asked(void)
{
    const char *v = getenv("MOONBENCH_SCORE_SEQUENTIAL");
    return v && v[0] && strcmp(v, "0") != 0;
}

mb_status mb_score_batch(const mb_runtime *rt, const char *input, const char *output, const mb_score_opts *o,
                         mb_score_stats *st, mb_error *err)
{
    memset(st, 0, sizeof *st);
    batch *b = mb_calloc(1, sizeof *b);
    size_t chunk = o->chunk ? o->chunk : CHUNK_ROWS;
    b->rt = rt;
    b->o = o;
    b->input = input;
    b->output = output;
    b->target = mb_runtime_bundle(rt)->target;
    b->st = st;
    b->k = mb_runtime_nclasses(rt);
    b->rj = (rejects){o->rejects, NULL, NULL, NULL, 0, 0, {0}, 0};
    b->t0 = now_s();
    int seq = sequential_asked();
    size_t nslots = seq ? 1 : NSLOTS;
    mb_status rc = reader_open(&b->rd, input, chunk, err);
    for (size_t i = 0; rc == MB_OK && i < nslots; i++)
        rc = slot_init(&b->slots[i], &b->rd, b->k, err);
    if (rc == MB_OK) {
        if (seq) /* started once for the whole file: each chunk's rows are scored on it */
            b->pool = mb_pool_new(o->threads);
        rc = seq ? sequential_run(b, 0, err) : overlapped_run(b, err);
    }
    if (o->progress)
        fprintf(stderr, "\r\033[K");
    if (rc == MB_OK && !b->opened)
        rc = writer_open(&b->wr, rt, output, o->id, 0, err); /* no rows: an output with the header only */
    st->rejected = b->rj.n;
    st->scored = b->wr.rows;
    if (rc == MB_OK)
        rc = writer_close(&b->wr, err);
    if (rc == MB_OK && b->rj.fp) {
        rc = close_file(b->rj.path, &b->rj.fp, &b->rj.tmp, err);
        snprintf(st->rejects_path, sizeof st->rejects_path, "%s", b->rj.path);
    }
    if (b->rj.fp)
        fclose(b->rj.fp);
    mb_tmp_discard(&b->rj.tmp);
    writer_abort(&b->wr);
    for (size_t i = 0; i < NSLOTS; i++)
        slot_free(&b->slots[i], &b->rd);
    reader_close(&b->rd);
    mb_pool_free(&b->pool);
    mb_free(b);
    return rc;
}

/* {====== drift ======} */

mb_status mb_score_drift(const mb_runtime *rt, const char *input, const mb_score_opts *o, mb_drift_counts *counts,
                         mb_score_stats *st, mb_error *err)
{
    memset(st, 0, sizeof *st);
    size_t chunk = o->chunk ? o->chunk : CHUNK_ROWS, k = mb_runtime_nclasses(rt), nf = mb_runtime_nfeatures(rt);
    reader rd;
    rejects rj = {o->rejects, NULL, NULL, NULL, 0, 0, {0}, 0};
    float *X = mb_malloc(chunk * (nf ? nf : 1) * sizeof *X), *label = mb_malloc(chunk * sizeof *label);
    float *plab = mb_malloc(chunk * sizeof *plab), *pr = k ? mb_malloc(chunk * k * sizeof *pr) : NULL;
    float *proba = k ? mb_malloc(chunk * k * sizeof *proba) : NULL;
    unsigned char *ok = mb_malloc(chunk);
    const char *target = mb_runtime_bundle(rt)->target;
    slot sl;
    memset(&sl, 0, sizeof sl);
    mb_status rc = reader_open(&rd, input, chunk, err);
    if (rc == MB_OK)
        rc = slot_init(&sl, &rd, 0, err);
    while (rc == MB_OK && (rc = reader_fill(&rd, &sl, err)) == MB_OK && sl.n) {
        const mb_frame *f = sl.f;
        rj.base = st->rows;
        rj.lines = rd.csv ? sl.lines : NULL;
        if ((rc = mb_runtime_transform_frame(rt, f, X, ok, on_reject, &rj, err)) != MB_OK)
            break;
        size_t m = 0;
        for (size_t r = 0; r < f->nrows; r++)
            if (ok[r]) {
                mb_drift_counts_add(counts, X + r * nf);
                if (m != r)
                    memcpy(X + m * nf, X + r * nf, nf * sizeof *X);
                m++;
            }
        st->scored += m;
        long tj = target && target[0] ? mb_frame_find(f, target) : -1;
        if (tj >= 0 && m) {
            mb_matrix M = {X, m, nf, nf};
            if ((rc = mb_runtime_score_matrix(rt, &M, plab, pr, err)) != MB_OK)
                break;
            for (size_t r = 0, i = 0; r < f->nrows; r++) {
                label[r] = ok[r] ? plab[i] : NAN;
                for (size_t c = 0; c < k; c++)
                    proba[r * k + c] = ok[r] ? pr[i * k + c] : NAN;
                i += ok[r];
            }
            keep_labels(st, rt, &f->cols[tj], label, proba, ok, f->nrows);
        }
        st->rows += f->nrows;
    }
    st->rejected = rj.n;
    if (rc == MB_OK && rj.fp) {
        rc = close_file(rj.path, &rj.fp, &rj.tmp, err);
        snprintf(st->rejects_path, sizeof st->rejects_path, "%s", rj.path);
    }
    if (rj.fp)
        fclose(rj.fp);
    mb_tmp_discard(&rj.tmp);
    slot_free(&sl, &rd);
    reader_close(&rd);
    mb_free(X);
    mb_free(label);
    mb_free(plab);
    mb_free(pr);
    mb_free(proba);
    mb_free(ok);
    return rc;
}
