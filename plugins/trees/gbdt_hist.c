/*
** gbdt_hist.c: gbdt histograms (row- and column-wise builds, the subtraction
** trick, the pool of histogram buffers). See gbdt.c for the design.
*/
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbdt.h"

/* {====== histograms ======} */

hbin *mbt_gb_hist_get(gb *g)
{
    if (g->npool)
        return g->pool_h[--g->npool];
    if (g->nall == g->cap_all) {
        size_t c = g->cap_all ? g->cap_all * 2 : 64;
        hbin **na = mbt_realloc(g->host, g->all_h, c * sizeof *na);
        if (!na)
            return NULL;
        g->all_h = na;
        hbin **np = mbt_realloc(g->host, g->pool_h, c * sizeof *np);
        if (!np)
            return NULL;
        g->pool_h = np;
        g->cap_all = g->cap_pool = c;
    }
    hbin *h = mbt_alloc(g->host, g->nslots * sizeof *h);
    if (h)
        g->all_h[g->nall++] = h;
    return h;
}

void mbt_gb_hist_put(gb *g, hbin *h)
{
    if (h)
        g->pool_h[g->npool++] = h;
}

/* Add rows ids[0..cnt) into histogram H (not cleared). */
static void hist_rows_add(const gb *g, hbin *H, const uint32_t *ids, size_t cnt)
{
    const uint8_t *rb = g->d->rowbins;
    const hbin *q = g->q;
    size_t F = g->F;
    for (size_t i = 0; i < cnt; i++) {
        uint32_t r = ids[i];
        if (i + 16 < cnt) {
            /* a row's bins may straddle two cache lines. 16 rows ahead:
            ** a microbench of this loop (800k x 28 bins, sorted random
            ** rows) gave 0.44, 0.56, 0.48 ns a row-feature for 3k, 8k, 50k
            ** rows against 0.50, 0.65, 0.48 at 32 rows ahead */
            const uint8_t *ahead = rb + (size_t)ids[i + 16] * F;
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + F - 1);
            __builtin_prefetch(q + ids[i + 16]);
        }
        hbin v = q[r];
        const uint8_t *b = rb + (size_t)r * F;
        hbin *Hf = H;
        size_t f = 0;
        for (; f + 4 <= F; f += 4, Hf += 4 * HSTRIDE) {
            Hf[b[f]] += v;
            Hf[HSTRIDE + b[f + 1]] += v;
            Hf[2 * HSTRIDE + b[f + 2]] += v;
            Hf[3 * HSTRIDE + b[f + 3]] += v;
        }
        for (; f < F; f++, Hf += HSTRIDE)
            Hf[b[f]] += v;
    }
}

static void hist_rows(const gb *g, hbin *H, const uint32_t *ids, size_t cnt)
{
    memset(H, 0, g->nslots * sizeof *H);
    hist_rows_add(g, H, ids, cnt);
}

/* Column-wise over features [f0, f1) of the rows ids[0..cnt), whose pairs
** are qb[0..cnt): eight features at a time, so a row's index and pair are
** loaded once for eight adds. Good for dense nodes, whose column bytes are
** read nearly sequentially. */
#define COLS_GROUP(IDX)                                                                            \
    for (size_t i = 0; i < cnt; i++) {                                                             \
        size_t r_ = (IDX);                                                                         \
        hbin v = qb[i];                                                                            \
        H0[c0[r_]] += v;                                                                           \
        H0[HSTRIDE + c1[r_]] += v;                                                                 \
        H0[2 * HSTRIDE + c2[r_]] += v;                                                             \
        H0[3 * HSTRIDE + c3[r_]] += v;                                                             \
        H0[4 * HSTRIDE + c4[r_]] += v;                                                             \
        H0[5 * HSTRIDE + c5[r_]] += v;                                                             \
        H0[6 * HSTRIDE + c6[r_]] += v;                                                             \
        H0[7 * HSTRIDE + c7[r_]] += v;                                                             \
    }

#define COLS_GROUP4(IDX)                                                                           \
    for (size_t i = 0; i < cnt; i++) {                                                             \
        size_t r_ = (IDX);                                                                         \
        hbin v = qb[i];                                                                            \
        H0[c0[r_]] += v;                                                                           \
        H0[HSTRIDE + c1[r_]] += v;                                                                 \
        H0[2 * HSTRIDE + c2[r_]] += v;                                                             \
        H0[3 * HSTRIDE + c3[r_]] += v;                                                             \
    }

#define COLS_GROUP2(IDX)                                                                           \
    for (size_t i = 0; i < cnt; i++) {                                                             \
        size_t r_ = (IDX);                                                                         \
        hbin v = qb[i];                                                                            \
        H0[c0[r_]] += v;                                                                           \
        H0[HSTRIDE + c1[r_]] += v;                                                                 \
    }

static void hist_cols_add(const gb *g, hbin *H, const uint32_t *ids, const hbin *qb, size_t cnt, size_t f0,
                          size_t f1)
{
    const uint8_t *colbins = g->d->colbins;
    size_t n = g->n;
    int contiguous = cnt > 0 && ids[cnt - 1] - ids[0] == cnt - 1;
    size_t f = f0;
    for (; f + 8 <= f1; f += 8) {
        const uint8_t *c0 = colbins + f * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
        const uint8_t *c4 = c3 + n, *c5 = c4 + n, *c6 = c5 + n, *c7 = c6 + n;
        hbin *H0 = H + f * HSTRIDE;
        if (contiguous) {
            size_t o = ids[0];
            c0 += o;
            c1 += o;
            c2 += o;
            c3 += o;
            c4 += o;
            c5 += o;
            c6 += o;
            c7 += o;
            COLS_GROUP(i)
        } else {
            COLS_GROUP(ids[i])
        }
    }
    for (; f + 4 <= f1; f += 4) {
        const uint8_t *c0 = colbins + f * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
        hbin *H0 = H + f * HSTRIDE;
        if (contiguous) {
            size_t o = ids[0];
            c0 += o;
            c1 += o;
            c2 += o;
            c3 += o;
            COLS_GROUP4(i)
        } else {
            COLS_GROUP4(ids[i])
        }
    }
    for (; f + 2 <= f1; f += 2) {
        const uint8_t *c0 = colbins + f * n, *c1 = c0 + n;
        hbin *H0 = H + f * HSTRIDE;
        if (contiguous) {
            size_t o = ids[0];
            c0 += o;
            c1 += o;
            COLS_GROUP2(i)
        } else {
            COLS_GROUP2(ids[i])
        }
    }
    for (; f < f1; f++) {
        const uint8_t *col = colbins + f * n;
        hbin *Hf = H + f * HSTRIDE;
        for (size_t i = 0; i < cnt; i++)
            Hf[col[ids[i]]] += qb[i];
    }
}

/* dst += src (sub: -=) over n slots: AVX-512 eight at a time, then the rest */
static void hist_addsub(hbin *dst, const hbin *src, size_t n, int sub)
{
    size_t s = mbt_avx512_ok() ? mbt_gb_hist_addsub_simd(dst, src, n, sub) : 0;
    if (sub)
        for (; s < n; s++)
            dst[s] -= src[s];
    else
        for (; s < n; s++)
            dst[s] += src[s];
}

/* Build the histogram out of idx[start..start+count); when parent is
** given, subtract out from it afterwards (parent becomes the sibling). */
/* The work of the histogram passes is handed out in pieces, each thread
** taking the next one (next), not split by thread: on a loaded machine a
** thread that is descheduled no longer holds back the others, which wait
** for it at the end of every pass. The histograms are integer sums, so who
** adds which rows never changes them. */
#define SLOT_PIECE 2048           /* slots reduced */

/* Pieces of n for nt threads: about per_thread a thread (4 for rows),
** so the last one taken is short. */
static size_t piece(size_t n, int nt, size_t per_thread, size_t lo, size_t hi)
{
    size_t k = (n + per_thread * (size_t)nt - 1) / (per_thread * (size_t)nt);
    return k < lo ? lo : k > hi ? hi : k;
}

typedef struct hist_job {
    gb *g;
    uint32_t start, count;
    hbin *out, *parent;
    int colwise, phase;
    int gather;                   /* column-wise: the pairs are gathered into g->qb */
    const hbin *qb;               /* column-wise: the rows' pairs in index order */
    atomic_size_t next;           /* the next piece */
} hist_job;

static void hist_task(void *arg, int tid, int nt)
{
    hist_job *j = arg;
    gb *g = j->g;
    const uint32_t *ids = g->idx + j->start;
    if (j->phase == 0) {
        /* each thread sums the row pieces it takes into its own histogram;
        ** column-wise, over every feature (eight columns a pass: pieces of
        ** features split them into passes of 4, 2 and 1, ~25% more loads,
        ** and cost 55% more CPU than one thread's build, perf 2026-12-03) */
        hbin *H = tid == 0 ? j->out : g->thist[tid];
        memset(H, 0, g->nslots * sizeof *H);
        size_t r0, P = piece(j->count, nt, 4, 1024, SIZE_MAX);
        while ((r0 = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed) * P) < j->count) {
            size_t c = j->count - r0 < P ? j->count - r0 : P;
            if (!j->colwise) {
                hist_rows_add(g, H, ids + r0, c);
                continue;
            }
            const hbin *qb = j->qb + r0;
            if (j->gather) { /* the piece's pairs in index order first */
                hbin *dst = g->qb + r0;
                for (size_t i = 0; i < c; i++)
                    dst[i] = g->q[ids[r0 + i]];
            }
            hist_cols_add(g, H, ids + r0, qb, c, 0, g->F);
        }
        return;
    }
    /* reduce the threads' histograms, slot pieces at a time */
    size_t s0;
    while ((s0 = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed) * SLOT_PIECE) < g->nslots) {
        size_t s1 = s0 + SLOT_PIECE < g->nslots ? s0 + SLOT_PIECE : g->nslots;
        for (int t = 1; t < nt; t++)
            hist_addsub(j->out + s0, g->thist[t] + s0, s1 - s0, 0);
        if (j->parent)
            hist_addsub(j->parent + s0, j->out + s0, s1 - s0, 1);
    }
}

/* dense nodes (at least 1 row in 16): column-wise; sparse ones row-wise,
** where a row's bins share one cache line */
static int hist_colwise(const gb *g, uint32_t count) { return (size_t)count * 16 >= g->n; }

/* mbt_gb_build_hist on the calling thread only. The column-wise gather goes to
** qb[start..start+count), so leaves with disjoint ranges can be built on
** several threads at once (grow_level). */
void mbt_gb_hist_serial(const gb *g, hbin *out, hbin *parent, uint32_t start, uint32_t count)
{
    const uint32_t *ids = g->idx + start;
    if (hist_colwise(g, count)) {
        /* consecutive rows (the root of an unsampled tree): their pairs are in place */
        const hbin *qb = g->q + (count ? ids[0] : 0);
        if (!(count > 0 && ids[count - 1] - ids[0] == count - 1)) {
            hbin *dst = g->qb + start;
            for (uint32_t i = 0; i < count; i++)
                dst[i] = g->q[ids[i]];
            qb = dst;
        }
        memset(out, 0, g->nslots * sizeof *out);
        hist_cols_add(g, out, ids, qb, count, 0, g->F);
    } else {
        hist_rows(g, out, ids, count);
    }
    if (parent)
        hist_addsub(parent, out, g->nslots, 1);
}

void mbt_gb_build_hist(gb *g, hbin *out, hbin *parent, uint32_t start, uint32_t count)
{
    if (g->nt == 1 || count < 4096) {
        mbt_gb_hist_serial(g, out, parent, start, count);
        return;
    }
    int colwise = hist_colwise(g, count);
    const uint32_t *ids = g->idx + start;
    int inplace = count > 0 && ids[count - 1] - ids[0] == count - 1;
    const hbin *qb = inplace ? g->q + ids[0] : g->qb;
    hist_job j = {g, start, count, out, parent, colwise, 0, !inplace, qb, 0};
    mbt_pool_run(g->pool, hist_task, &j);
    j.phase = 1;
    atomic_store(&j.next, 0);
    mbt_pool_run(g->pool, hist_task, &j);
}