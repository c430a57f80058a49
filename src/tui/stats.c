/*
** stats.c: column statistics over the whole dataset, computed by a thread
** in chunks of rows so that input never waits and a file larger than
** memory still gets them. Two passes: moments, extremes and level counts
** (Welford's update, merged per chunk), then a histogram of each numeric
** column over [min, max]. The UI polls progress and reads the result only
** once `done` is set (release/acquire), so the only lock is the core lock
** that every file read takes.
*/
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "tui.h"

#define CHUNK 65536

struct mbtui_stats {
    mbtui_source *src;
    pthread_t thread;
    size_t ncols, nrows;
    mbtui_colstat *col;
    atomic_int stop, done;
    atomic_uint permille;
    char error[512];
};

static void add_level(mbtui_colstat *cs, const char *level, size_t count)
{
    for (int i = 0; i < cs->nkept; i++)
        if (strcmp(cs->level[i], level) == 0) {
            cs->level_count[i] += count;
            return;
        }
    cs->nlevels++;
    if (cs->nkept < MBTUI_MAXLEVELS) {
        cs->level[cs->nkept] = mb_strdup(level);
        cs->level_count[cs->nkept++] = count;
    } else
        cs->other_count += count;
}

static void pass1_column(mbtui_colstat *cs, const mb_column *c, size_t n)
{
    if (c->type == MB_COL_CAT) {
        cs->categorical = 1;
        size_t *counts = mb_calloc(c->nlevels + 1, sizeof *counts);
        for (size_t i = 0; i < n; i++) {
            int32_t code = c->codes[i];
            if (code < 0 || (size_t)code >= c->nlevels)
                cs->missing++;
            else
                counts[code]++;
        }
        for (size_t l = 0; l < c->nlevels; l++)
            if (counts[l]) {
                cs->count += counts[l];
                add_level(cs, c->levels[l], counts[l]);
            }
        mb_free(counts);
        return;
    }
    /* moments of this chunk, then merged (Chan et al.) */
    size_t k = 0;
    double mean = 0, m2 = 0, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = MB_NUM(c, i);
        if (isnan(v)) {
            cs->missing++;
            continue;
        }
        k++;
        double d = v - mean;
        mean += d / (double)k;
        m2 += d * (v - mean);
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
    }
    if (!k)
        return;
    if (cs->count == 0) {
        cs->mean = mean, cs->m2 = m2, cs->min = lo, cs->max = hi;
    } else {
        double na = (double)cs->count, nb = (double)k, d = mean - cs->mean;
        cs->mean += d * nb / (na + nb);
        cs->m2 += m2 + d * d * na * nb / (na + nb);
        if (lo < cs->min)
            cs->min = lo;
        if (hi > cs->max)
            cs->max = hi;
    }
    cs->count += k;
}

static void pass2_column(mbtui_colstat *cs, const mb_column *c, size_t n)
{
    if (c->type == MB_COL_CAT || cs->count == 0 || !isfinite(cs->min) || !isfinite(cs->max))
        return;
    double span = cs->max - cs->min;
    for (size_t i = 0; i < n; i++) {
        double v = MB_NUM(c, i);
        if (isnan(v))
            continue;
        int b = span > 0 ? (int)((v - cs->min) / span * MBTUI_HBINS) : 0;
        if (b >= MBTUI_HBINS)
            b = MBTUI_HBINS - 1; /* the maximum falls in the last bin, as numpy */
        if (b < 0)
            b = 0;
        cs->hist[b]++;
    }
}

static void *worker(void *ud)
{
    mbtui_stats *s = ud;
    mb_error err;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t start = 0; start < s->nrows || (start == 0 && s->nrows == 0); start += CHUNK) {
            if (atomic_load(&s->stop))
                return NULL;
            mb_frame *f = NULL;
            if (s->nrows == 0)
                break;
            if (mbtui_source_read(s->src, start, CHUNK, &f, &err) < 0) {
                snprintf(s->error, sizeof s->error, "%.500s", err.msg);
                atomic_store_explicit(&s->done, 1, memory_order_release);
                return NULL;
            }
            size_t nc = f->ncols < s->ncols ? f->ncols : s->ncols;
            for (size_t c = 0; c < nc; c++) {
                if (pass == 0)
                    pass1_column(&s->col[c], &f->cols[c], f->nrows);
                else
                    pass2_column(&s->col[c], &f->cols[c], f->nrows);
            }
            mb_frame_free(&f);
            double frac = ((double)pass + (double)(start + CHUNK) / (double)s->nrows) / 2.0;
            atomic_store(&s->permille, (unsigned)(fmin(frac, 1.0) * 1000));
        }
    }
    atomic_store(&s->permille, 1000);
    atomic_store_explicit(&s->done, 1, memory_order_release);
    return NULL;
}

mbtui_stats *mbtui_stats_start(mbtui_source *src)
{
    mbtui_stats *s = mb_calloc(1, sizeof *s);
    s->src = src;
    s->ncols = mbtui_source_schema(src)->ncols;
    s->nrows = mbtui_source_rows(src);
    s->col = mb_calloc(s->ncols ? s->ncols : 1, sizeof *s->col);
    if (pthread_create(&s->thread, NULL, worker, s) != 0) {
        snprintf(s->error, sizeof s->error, "cannot start the statistics thread");
        mb_free(s->col);
        s->col = NULL;
        atomic_store(&s->done, 2);
    }
    return s;
}

double mbtui_stats_progress(mbtui_stats *s) { return atomic_load(&s->permille) / 1000.0; }

const mbtui_colstat *mbtui_stats_column(mbtui_stats *s, size_t c, const char **error)
{
    *error = NULL;
    if (!atomic_load_explicit(&s->done, memory_order_acquire))
        return NULL;
    if (s->error[0]) {
        *error = s->error;
        return NULL;
    }
    return c < s->ncols ? &s->col[c] : NULL;
}

void mbtui_stats_stop(mbtui_stats **sp)
{
    mbtui_stats *s = *sp;
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    if (atomic_load(&s->done) != 2)
        pthread_join(s->thread, NULL);
    if (s->col)
        for (size_t c = 0; c < s->ncols; c++)
            for (int l = 0; l < s->col[c].nkept; l++)
                mb_free(s->col[c].level[l]);
    mb_free(s->col);
    mb_free(s);
    *sp = NULL;
}
