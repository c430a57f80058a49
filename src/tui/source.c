/*
** source.c: the data the Data tab shows, read only where the screen is.
** An HDF5 object is read a page of rows at a time through the core's
** row-range reads (mb_h5_read: hyperslabs), with a small page cache, so
** the first screen of a ten-million-row file costs a few small reads; a
** CSV file has no random access and is loaded whole (mb_open). A view
** made by a sort, filter or derived column (dataops.c) is a frame in
** memory that the session owns: the source only borrows it.
**
** The row count of an HDF5 object is found with reads of one row at
** growing, then halving, offsets (a start past the end reads no rows):
** about 2 log2(n) tiny reads, whatever the layout (matrix, pandas table or
** lone dataset), with no second copy of the layout rules.
*/
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "h5io.h"
#include "io.h"
#include "tui.h"

pthread_mutex_t mbtui_core_lock = PTHREAD_MUTEX_INITIALIZER;

#define PAGE_ROWS 256
#define NPAGES 8

struct mbtui_source {
    char *file, *object;
    int hdf5;
    int borrowed;                 /* whole belongs to the session (mbtui_source_wrap) */
    size_t nrows;
    mb_frame *whole;              /* CSV: everything */
    mb_frame *schema;             /* HDF5: the first rows (column names, types) */
    struct {
        size_t start;
        mb_frame *f;
        unsigned long used;
    } page[NPAGES];
    unsigned long tick;
};

static int h5_rows(mbtui_source *s, size_t start, size_t n, mb_frame **out, mb_error *err)
{
    pthread_mutex_lock(&mbtui_core_lock);
    mb_status rc = mb_h5_read(s->file, s->object, start, n, out, err);
    pthread_mutex_unlock(&mbtui_core_lock);
    return rc == MB_OK ? 0 : -1;
}

/* 1 when row i exists, 0 when not, -1 on error. */
static int has_row(mbtui_source *s, size_t i, mb_error *err)
{
    mb_frame *f = NULL;
    if (h5_rows(s, i, 1, &f, err) < 0)
        return -1;
    int yes = f->nrows > 0;
    mb_frame_free(&f);
    return yes;
}

static int count_rows(mbtui_source *s, mb_error *err)
{
    if (s->schema->nrows < PAGE_ROWS) {
        s->nrows = s->schema->nrows;
        return 0;
    }
    size_t lo = s->schema->nrows, hi = lo; /* row lo - 1 exists; find hi without */
    for (;;) {
        hi = hi * 2;
        int r = has_row(s, hi - 1, err);
        if (r < 0)
            return -1;
        if (!r)
            break;
        lo = hi;
        if (hi > ((size_t)1 << 50))
            break;
    }
    while (hi - lo > 1) { /* rows < lo exist; row hi - 1 does not */
        size_t mid = lo + (hi - lo) / 2;
        int r = has_row(s, mid - 1, err);
        if (r < 0)
            return -1;
        if (r)
            lo = mid;
        else
            hi = mid;
    }
    s->nrows = lo;
    return 0;
}

mbtui_source *mbtui_source_open(const char *spec, mb_error *err)
{
    mbtui_source *s = mb_calloc(1, sizeof *s);
    mb_split_spec(spec, &s->file, &s->object);
    mb_format fmt = mb_guess_format(s->file);
    if (fmt == MB_FMT_HDF5) {
        s->hdf5 = 1;
        if (h5_rows(s, 0, PAGE_ROWS, &s->schema, err) < 0 || count_rows(s, err) < 0)
            goto fail;
        s->page[0].f = s->schema;
        s->page[0].start = 0;
        return s;
    }
    if (fmt == MB_FMT_CSV) {
        pthread_mutex_lock(&mbtui_core_lock);
        mb_status rc = mb_open(spec, &s->whole, err);
        pthread_mutex_unlock(&mbtui_core_lock);
        if (rc != MB_OK)
            goto fail;
        s->nrows = s->whole->nrows;
        return s;
    }
    mb_fail(err, MB_EFORMAT, "%s: not an HDF5 or CSV file (by its signature and name)", s->file);
fail:
    mbtui_source_free(&s);
    return NULL;
}

void mbtui_source_free(mbtui_source **sp)
{
    mbtui_source *s = *sp;
    if (!s)
        return;
    for (int i = 0; i < NPAGES; i++)
        if (s->page[i].f != s->schema)
            mb_frame_free(&s->page[i].f);
    mb_frame_free(&s->schema);
    if (!s->borrowed)
        mb_frame_free(&s->whole);
    mb_free(s->file);
    mb_free(s->object);
    mb_free(s);
    *sp = NULL;
}

mbtui_source *mbtui_source_wrap(const mb_frame *f)
{
    mbtui_source *s = mb_calloc(1, sizeof *s);
    s->whole = (mb_frame *)f; /* never written through: borrowed */
    s->borrowed = 1;
    s->nrows = f->nrows;
    return s;
}

size_t mbtui_source_rows(const mbtui_source *s) { return s->nrows; }

const mb_frame *mbtui_source_schema(const mbtui_source *s) { return s->whole ? s->whole : s->schema; }

/* A copy of rows [start, start + n) of an in-memory frame (CSV). */
static mb_frame *slice(const mb_frame *f, size_t start, size_t n, mb_error *err)
{
    if (start > f->nrows)
        start = f->nrows;
    if (n > f->nrows - start)
        n = f->nrows - start;
    mb_frame *o = mb_frame_new(n);
    for (size_t c = 0; c < f->ncols; c++) {
        const mb_column *in = &f->cols[c];
        if (in->type == MB_COL_NUM) {
            mb_column *oc = mb_frame_add_num(o, in->name, NULL, 1, err);
            if (!oc)
                goto fail;
            for (size_t i = 0; i < n; i++)
                oc->num[i] = MB_NUM(in, start + i);
        } else {
            mb_column *oc = mb_frame_add_cat(o, in->name, err);
            if (!oc)
                goto fail;
            for (size_t l = 0; l < in->nlevels; l++)
                if (mb_column_add_level(oc, in->levels[l], strlen(in->levels[l])) < 0)
                    goto fail;
            memcpy(oc->codes, in->codes + start, n * sizeof *oc->codes);
        }
    }
    o->target = f->target;
    return o;
fail:
    mb_frame_free(&o);
    return NULL;
}

int mbtui_source_read(mbtui_source *s, size_t start, size_t n, mb_frame **out, mb_error *err)
{
    *out = NULL;
    if (s->whole) {
        *out = slice(s->whole, start, n, err);
        return *out ? 0 : -1;
    }
    return h5_rows(s, start, n, out, err);
}

const mb_frame *mbtui_source_page(mbtui_source *s, size_t i, size_t *first, mb_error *err)
{
    if (s->whole) {
        *first = 0;
        return s->whole;
    }
    size_t start = i / PAGE_ROWS * PAGE_ROWS;
    for (int p = 0; p < NPAGES; p++)
        if (s->page[p].f && s->page[p].start == start) {
            s->page[p].used = ++s->tick;
            *first = start;
            return s->page[p].f;
        }
    /* a free page, or the least recently used one */
    int victim = 0;
    for (int p = 0; p < NPAGES; p++) {
        if (!s->page[p].f) {
            victim = p;
            break;
        }
        if (s->page[p].used < s->page[victim].used)
            victim = p;
    }
    /* a data operation may hold the lock for seconds (loading the whole
    ** file): then the row shows "busy" and the next frame tries again */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 40 * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    if (pthread_mutex_timedlock(&mbtui_core_lock, &until) != 0) {
        mb_fail(err, MB_EIO, "busy: the file is being read for %s", mbtui_data_busy(NULL) ? mbtui_data_busy(NULL) : "statistics");
        return NULL;
    }
    mb_frame *f = NULL;
    mb_status rc = mb_h5_read(s->file, s->object, start, PAGE_ROWS, &f, err);
    pthread_mutex_unlock(&mbtui_core_lock);
    if (rc != MB_OK)
        return NULL;
    if (s->page[victim].f != s->schema)
        mb_frame_free(&s->page[victim].f);
    s->page[victim].f = f;
    s->page[victim].start = start;
    s->page[victim].used = ++s->tick;
    *first = start;
    return f;
}
