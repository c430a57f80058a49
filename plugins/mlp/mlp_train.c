/*
** mlp_train.c: fitting the MLP: data checks, optional standardisation,
** mini-batches reshuffled each epoch, the optimisers (SGD with momentum or
** Nesterov, Adam, AdamW), learning-rate schedules, early stopping with the
** best weights restored, progress and cancellation.
**
** DESIGN
** ------
** Every buffer is allocated once, before the first epoch; the epoch loop
** only gathers rows, multiplies and updates. Gathering a shuffled
** mini-batch copies its rows anyway, so standardisation (standardize=true)
** is folded into that copy and costs nothing; at the end of fit the mean
** and scale are folded into the first layer's weights and biases, so the
** fitted model (and its portable form) takes raw inputs. Regression
** targets are always standardised the same way and folded back into the
** output layer (so huber_delta is in units of the target's std).
**
** Threads: a mini-batch of a few hundred rows is too small for OpenBLAS's
** own threading (on multi_200k, 2 OpenBLAS threads were no faster than 1:
** every product pays a hand-off), so fit splits each batch into
** ctx->threads fixed chunks of rows that any of its threads takes (see
** "chunks and tasks" below), each calling sgemm on the thread that runs
** it, with OpenBLAS's process-global count set to 1
** (openblas_set_num_threads) during training. At the end of fit the count
** is set to ctx->threads, which batch prediction then uses. Results depend
** only on ctx->seed and the thread count (the chunks, and the gradient
** sums' order), never on which thread ran what.
*/
#include "mlp.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mbmlp_fail(char *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, MB_PLUGIN_ERRLEN, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* {====== checks ======} */

/* Features, labels and weights usable; the message names the first bad
** value. With s1 (f doubles), also adds each feature's column sum in the
** same pass over the rows (in row order, as a separate pass would). */
static int check_data(const mb_dataset *d, const char *what, size_t nclasses, double *s1, char *err)
{
    size_t n = d->X.rows, f = d->X.cols;
    if (d->X.ld < f || !d->X.x || !d->y)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "%s data: malformed matrix", what);
    for (size_t i = 0; i < n; i++) {
        const float *x = d->X.x + i * d->X.ld;
        if (s1)
            mbmlp_k_sum(s1, x, f);
        if (!mbmlp_k_finite(x, f))
            for (size_t j = 0; j < f; j++) /* a bad row: which value, for the message */
                if (!isfinite(x[j]))
                    return mbmlp_fail(err, MB_PLUGIN_EINVAL,
                                      "%s data: feature %zu of row %zu is %s; the MLP needs complete "
                                      "finite inputs (impute missing values first)",
                                      what, j, i, isnan(x[j]) ? "missing (NaN)" : "infinite");
        float y = d->y[i];
        if (!isfinite(y))
            return mbmlp_fail(err, MB_PLUGIN_EINVAL, "%s data: label of row %zu is not a finite number",
                              what, i);
        if (nclasses && (y < 0 || y >= (float)nclasses || y != floorf(y)))
            return mbmlp_fail(err, MB_PLUGIN_EINVAL, "%s data: label %g of row %zu is not a class index 0..%zu",
                              what, (double)y, i, nclasses - 1);
        if (d->w && (!isfinite(d->w[i]) || d->w[i] < 0))
            return mbmlp_fail(err, MB_PLUGIN_EINVAL, "%s data: weight of row %zu is negative or not finite",
                              what, i);
    }
    return MB_PLUGIN_OK;
}

/* {====== optimisers ======} */

typedef struct optim {
    int kind;
    double lr, b1, b2, eps, mom, wd;
    int nesterov;
    long t;
    float *m, *v;
} optim;

/* One parameter segment at step t (1-based) and learning rate lr:
** p -= step(g) with g = g + g2 when g2 is not NULL; wd applies to weights
** only. */
static void optim_segment(const optim *o, long t, double lr, float *p, const float *g, const float *g2, float *m,
                          float *v, size_t n, float wd)
{
    if (o->kind == MBMLP_OPT_SGD) {
        float flr = (float)lr, mom = (float)o->mom;
        int nest = o->nesterov;
        for (size_t i = 0; i < n; i++) {
            float gi = (g2 ? g[i] + g2[i] : g[i]) + wd * p[i];
            float b = mom * m[i] + gi;
            m[i] = b;
            p[i] -= flr * (nest ? gi + mom * b : b);
        }
        return;
    }
    double bc1 = 1 - pow(o->b1, (double)t), bc2 = 1 - pow(o->b2, (double)t);
    float b1 = (float)o->b1, b2 = (float)o->b2, c1 = 1 - b1, c2 = 1 - b2;
    mbmlp_adam_k k = {b1, c1, b2, c2, (float)(lr / bc1), (float)(1 / sqrt(bc2)), (float)o->eps,
                      o->kind == MBMLP_OPT_ADAM ? wd : 0,
                      o->kind == MBMLP_OPT_ADAMW ? (float)(1 - lr * (double)wd) : 1.0f};
    mbmlp_k_adam(p, g, g2, m, v, n, &k);
}

/* Update parameters [p0, p1) (one update task's range) with grad (+
** grad2 when not NULL): the segments of each layer that intersect it,
** weight decay on weights only. */
static void optim_range(const optim *o, mbmlp_net *n, const float *grad, const float *grad2, size_t p0, size_t p1,
                        long t, double lr)
{
    for (size_t l = 0; l < n->nlayers; l++) {
        size_t fi = n->width[l], fo = n->width[l + 1];
        size_t seg[2][2] = {{n->woff[l], n->woff[l] + fi * fo}, {n->boff[l], n->boff[l] + fo}};
        for (int k = 0; k < 2; k++) {
            size_t a = seg[k][0] > p0 ? seg[k][0] : p0, b = seg[k][1] < p1 ? seg[k][1] : p1;
            if (a < b)
                optim_segment(o, t, lr, n->params + a, grad + a, grad2 ? grad2 + a : NULL, o->m + a,
                              o->v ? o->v + a : NULL, b - a, k == 0 ? (float)o->wd : 0.0f);
        }
    }
}

/* Copy rows idx[0..rows) of d (or rows start.. when idx is NULL) into xb,
** standardising when mu; labels into yb (regression: standardised by ym,
** ys), weights into wb. Returns the sum of weights. */
static double gather(const mb_dataset *d, const size_t *idx, size_t start, size_t rows, const float *mu,
                     const float *isd, int regression, double ym, double ys, float *xb, float *yb, float *wb)
{
    size_t f = d->X.cols;
    double sw = 0;
    for (size_t r = 0; r < rows; r++) {
        size_t i = idx ? idx[r] : start + r;
        const float *x = d->X.x + i * d->X.ld;
        float *o = xb + r * f;
        if (mu)
            mbmlp_k_standardize(o, x, mu, isd, f);
        else
            memcpy(o, x, f * sizeof *o);
        yb[r] = regression ? (float)(((double)d->y[i] - ym) / ys) : d->y[i];
        float wi = d->w ? d->w[i] : 1.0f;
        wb[r] = wi;
        sw += (double)wi;
    }
    return sw;
}

/* {====== chunks and tasks ======}
** A mini-batch is split into nt fixed chunks of rows (nt from ctx->threads;
** chunk c holds rows [rows c / nt, rows (c + 1) / nt)), each with its own
** buffers, gradient, dropout generator and loss sums. A batch is nt + nu
** tasks: nt gradient tasks (gather, forward, loss and backward of one
** chunk, single-threaded sgemm) and then nu update tasks (parameter range
** r: the chunks' gradients summed in chunk order, ((g0 + g1) + g2) + ...,
** and the optimiser's step there). The update is element-wise, so its
** ranges do not change the bits; there are 4 per thread (MBMLP_RANGES),
** so that a thread that comes late to the stage finds the others have
** done most of it rather than half. An epoch's tasks are numbered in that
** order, and whichever thread runs takes the next one (an atomic counter);
** a task waits only for the tasks of the previous stage to be done. So
** the bits depend on the chunks alone, never on which thread took what
** (the same results as the lock-step workers before, which did chunk c on
** thread c), and a thread the scheduler parks holds up nothing but the
** one task it holds: the others take the rest. On the session 7 Xeon, two
** lock-step threads lost 2-2.5x whenever another process was runnable.
**
** Waits spin briefly (a stage lasts a fraction of a millisecond) and then
** sleep on a condition variable. How long they spin adapts: a wait that
** had to sleep halves the budget, one that ended late in the budget
** doubles it (between MBMLP_SPIN_MIN and MBMLP_SPIN_MAX pauses). A fixed
** 0.5 ms spin held the core a descheduled partner needed (multi_200k at
** load ~8: 2.95 CPU s and 5.9 s wall for 2 epochs, against 1.74 and 2.8
** with 200 pauses). */
#ifndef MBMLP_SPIN_MIN
#define MBMLP_SPIN_MIN 200
#endif
#ifndef MBMLP_SPIN_MAX
#define MBMLP_SPIN_MAX 20000
#endif

#ifndef MBMLP_RANGES
#define MBMLP_RANGES 4
#endif

struct trainer;

typedef struct chunk {
    struct trainer *T;
    size_t id;
    float *xb, *yb, *wb;
    float *acts[65], *pre[65], *masks[65];
    float *delta, *tmp, *grad;
    mbmlp_rng rng;
    double loss, metric;          /* sums over the epoch, in batch order */
} chunk;

/* One mini-batch of an epoch: its rows in perm and 1 / its weight. */
typedef struct batch {
    size_t start, rows;
    double scale;
} batch;

typedef struct trainer {
    mbmlp_net *net;
    float *wt;                    /* the weights transposed (mbmlp_transpose), for the forward products */
    const mb_dataset *train;
    const size_t *perm;
    const float *mu, *isd;
    int regression, use_pre, use_drop;
    double ym, ys, huber_delta;
    float keep;
    optim *opt;
    size_t nt;                    /* chunks of a batch */
    size_t nu;                    /* update ranges of a batch */
    chunk *w;
    const volatile int *cancel;
    /* the epoch posted (tasks [base, end)): written by the main thread
    ** between epochs, read by the others in the tasks they take */
    const batch *bat;
    long t0;                      /* the optimiser's step before the epoch */
    double lr;
    size_t base;                  /* the epoch's first task */
    atomic_size_t end;            /* its end, stored after the fields above */
    atomic_size_t next, done;     /* tasks taken, tasks finished (across epochs) */
    atomic_size_t gen;            /* epochs posted */
    atomic_int quit, cancelled;
    atomic_int sleepers, spin;    /* spin: the current budget (races only tune it) */
    pthread_mutex_t lock;
    pthread_cond_t cv;
} trainer;

/* Wait until *v >= target. */
static void wait_geq(trainer *T, atomic_size_t *v, size_t target)
{
    if (atomic_load_explicit(v, memory_order_acquire) >= target)
        return;
    int budget = atomic_load_explicit(&T->spin, memory_order_relaxed);
    for (int spin = 0; spin < budget; spin++) {
        if (atomic_load_explicit(v, memory_order_acquire) >= target) {
            if (spin > budget / 2 && budget < MBMLP_SPIN_MAX)
                atomic_store_explicit(&T->spin, budget * 2 < MBMLP_SPIN_MAX ? budget * 2 : MBMLP_SPIN_MAX,
                                      memory_order_relaxed);
            return;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    if (budget > MBMLP_SPIN_MIN)
        atomic_store_explicit(&T->spin, budget / 2 > MBMLP_SPIN_MIN ? budget / 2 : MBMLP_SPIN_MIN,
                              memory_order_relaxed);
    /* sleepers is raised before v is read again and read after v is
    ** raised (both sequentially consistent), so a wake-up is never lost */
    pthread_mutex_lock(&T->lock);
    atomic_fetch_add(&T->sleepers, 1);
    while (atomic_load(v) < target)
        pthread_cond_wait(&T->cv, &T->lock);
    atomic_fetch_sub(&T->sleepers, 1);
    pthread_mutex_unlock(&T->lock);
}

/* Raise *v by one and wake the sleepers. */
static void raise_one(trainer *T, atomic_size_t *v)
{
    atomic_fetch_add(v, 1);
    if (atomic_load(&T->sleepers) > 0) {
        pthread_mutex_lock(&T->lock);
        pthread_cond_broadcast(&T->cv);
        pthread_mutex_unlock(&T->lock);
    }
}

/* The gradient task of chunk k in batch b. */
static void task_grad(chunk *k, const batch *b)
{
    trainer *T = k->T;
    size_t r0 = b->rows * k->id / T->nt, r1 = b->rows * (k->id + 1) / T->nt, rows = r1 - r0;
    const mbmlp_net *n = T->net;
    size_t f = n->width[0];
    if (rows == 0) {
        memset(k->grad, 0, n->nparams * sizeof(float));
        return;
    }
    gather(T->train, T->perm + b->start + r0, 0, rows, T->mu, T->isd, T->regression, T->ym, T->ys, k->xb, k->yb,
           k->wb);
    mbmlp_forward_t(n, T->wt, k->xb, f, rows, k->acts, T->use_pre ? k->pre : NULL,
                    T->use_drop ? k->masks : NULL, T->keep, &k->rng);
    k->loss += mbmlp_loss(n, k->acts[n->nlayers - 1], k->yb, k->wb, rows, b->scale, k->delta, T->huber_delta,
                          &k->metric);
    mbmlp_backward(n, k->xb, f, rows, k->acts, T->use_pre ? k->pre : NULL, T->use_drop ? k->masks : NULL,
                   k->delta, k->tmp, k->grad);
}

/* Where update range r (of nu over np parameters) starts: inside a weight
** block, at a band of 16 rows (so that the task that updates a band also
** transposes it), elsewhere at a multiple of 16 floats but not before the
** biases begin. Monotone in r; range nu starts at np. */
static size_t range_start(const mbmlp_net *n, size_t r, size_t nu)
{
    size_t np = n->nparams, t = np * r / nu;
    if (r >= nu)
        return np;
    for (size_t l = 0; l < n->nlayers; l++) {
        size_t fi = n->width[l], w0 = n->woff[l], w1 = w0 + fi * n->width[l + 1];
        if (t >= w0 && t < w1)
            return w0 + (t - w0) / (16 * fi) * (16 * fi);
        size_t b1 = l + 1 < n->nlayers ? n->woff[l + 1] : np;
        if (t >= w1 && t < b1)
            return (t & ~(size_t)15) > w1 ? t & ~(size_t)15 : w1;
    }
    return t & ~(size_t)15;
}

/* wt's copy of the weight rows of every layer within [p0, p1) (whole rows:
** range_start). */
static void transpose_range(const mbmlp_net *n, float *wt, size_t p0, size_t p1)
{
    for (size_t l = 0; l < n->nlayers; l++) {
        size_t fi = n->width[l], fo = n->width[l + 1], w0 = n->woff[l], w1 = w0 + fi * fo;
        size_t a = p0 > w0 ? p0 : w0, b = p1 < w1 ? p1 : w1;
        if (a < b)
            mbmlp_gemm_transpose(n->params + w0, fi, fo, (a - w0) / fi, (b - w0) / fi, wt + w0);
    }
}

/* The update task of parameter range r at optimiser step t: the chunks'
** gradients summed in chunk order; all but the last are added into chunk
** 0's gradient, the last by the optimiser's own pass (with 2 chunks, the
** only one). Then the range's weight rows into wt. */
static void task_update(trainer *T, size_t r, long t)
{
    size_t nt = T->nt, nu = T->nu;
    size_t p0 = range_start(T->net, r, nu), p1 = range_start(T->net, r + 1, nu);
    float *g0 = T->w[0].grad;
    for (size_t c = 1; c + 1 < nt; c++) {
        const float *gc = T->w[c].grad;
        for (size_t p = p0; p < p1; p++)
            g0[p] += gc[p];
    }
    optim_range(T->opt, T->net, g0, nt > 1 ? T->w[nt - 1].grad : NULL, p0, p1, t, T->lr);
    if (T->wt)
        transpose_range(T->net, T->wt, p0, p1);
}

/* Take and run tasks until the posted epoch has none left. A task is
** taken by raising next from i to i + 1 while i < end; the epoch that
** holds task i cannot end (nor the main thread write the next epoch's
** bat, t0, lr and base) before the task is done, and end was stored after
** them, so they are read after the task is taken. A thread late to an
** epoch already finished finds next >= end and takes nothing. */
static void run_tasks(trainer *T)
{
    size_t per = T->nt + T->nu;
    for (;;) {
        size_t i = atomic_load(&T->next);
        do {
            if (i >= atomic_load(&T->end))
                return;
        } while (!atomic_compare_exchange_weak(&T->next, &i, i + 1));
        size_t j = i - T->base, b = j / per, s = j % per;
        /* the previous stage: batch b - 1's updates, or batch b's gradients */
        wait_geq(T, &T->done, T->base + b * per + (s < T->nt ? 0 : T->nt));
        if (!atomic_load_explicit(&T->cancelled, memory_order_relaxed)) {
            if (s == 0 && T->cancel && *T->cancel)
                atomic_store(&T->cancelled, 1);
            else if (s < T->nt)
                task_grad(&T->w[s], &T->bat[b]);
            else
                task_update(T, s - T->nt, T->t0 + (long)b + 1);
        }
        raise_one(T, &T->done);
    }
}

static void *helper_main(void *arg)
{
    trainer *T = arg;
    for (;;) {
        size_t seen = atomic_load(&T->gen);
        if (atomic_load(&T->quit))
            break;
        run_tasks(T);
        wait_geq(T, &T->gen, seen + 1);
    }
    return NULL;
}

/* One epoch of nb batches on every thread (the main thread too); returns
** when all its tasks are done, so the main thread may then read and
** change the parameters and the optimiser. */
static void train_epoch(trainer *T, const batch *bat, size_t nb)
{
    T->bat = bat;
    T->t0 = T->opt->t;
    T->base = atomic_load(&T->next); /* every task before it was taken */
    atomic_store(&T->end, T->base + nb * (T->nt + T->nu));
    raise_one(T, &T->gen);
    run_tasks(T);
    wait_geq(T, &T->done, atomic_load(&T->end));
    T->opt->t += (long)nb;
}

/* Make the trainer's counters and lock and start its helper threads:
** one per chunk but the first (the calling thread), or fewer when
** MOONBENCH_MLP_RUNNERS says so (a check that the bits do not depend on
** them) or a thread cannot be started. *started counts the calling thread.
** -1 (with a message) when the lock cannot be made. */
static int trainer_start(trainer *T, pthread_t *tids, size_t *started, char *err)
{
    size_t runners = T->nt;
    const char *env = getenv("MOONBENCH_MLP_RUNNERS");
    if (env && atoi(env) >= 1 && (size_t)atoi(env) < runners)
        runners = (size_t)atoi(env);
    atomic_init(&T->end, 0);
    atomic_init(&T->next, 0);
    atomic_init(&T->done, 0);
    atomic_init(&T->gen, 0);
    atomic_init(&T->quit, 0);
    atomic_init(&T->cancelled, 0);
    atomic_init(&T->sleepers, 0);
    atomic_init(&T->spin, MBMLP_SPIN_MIN);
    if (pthread_mutex_init(&T->lock, NULL) != 0)
        return mbmlp_fail(err, -1, "cannot make the training threads' mutex");
    if (pthread_cond_init(&T->cv, NULL) != 0) {
        pthread_mutex_destroy(&T->lock);
        return mbmlp_fail(err, -1, "cannot make the training threads' condition");
    }
    for (*started = 1; *started < runners; (*started)++)
        if (pthread_create(&tids[*started], NULL, helper_main, T) != 0)
            break; /* fewer threads, the same chunks and bits */
    return 0;
}

/* {====== fit ======} */

#define MBMLP_MAX_THREADS 64

/* Host allocations of one fit, all made up front and freed together. */
typedef struct blocks {
    void *p[64];
    size_t n;
} blocks;

static void *balloc(blocks *b, const mb_host *h, size_t bytes, int *ok)
{
    if (!*ok)
        return NULL;
    void *p = b->n < sizeof b->p / sizeof b->p[0] ? h->xmalloc(bytes ? bytes : 1) : NULL;
    if (!p) {
        *ok = 0;
        return NULL;
    }
    memset(p, 0, bytes);
    b->p[b->n++] = p;
    return p;
}

static void blocks_free(blocks *b, const mb_host *h)
{
    for (size_t i = 0; i < b->n; i++)
        h->xfree(b->p[i]);
    b->n = 0;
}

/* Loss and metric of the network (inference mode) over all of d, in
** batches of B rows through chunk k's buffers. */
static double evaluate(const trainer *T, const mb_dataset *d, chunk *k, size_t B, double *metric, double *sumw)
{
    const mbmlp_net *n = T->net;
    double loss = 0, met = 0, sw = 0;
    for (size_t s = 0; s < d->X.rows; s += B) {
        size_t rows = d->X.rows - s < B ? d->X.rows - s : B;
        sw += gather(d, NULL, s, rows, T->mu, T->isd, T->regression, T->ym, T->ys, k->xb, k->yb, k->wb);
        mbmlp_forward_t(n, T->wt, k->xb, d->X.cols, rows, k->acts, NULL, NULL, 1.0f, NULL);
        loss += mbmlp_loss(n, k->acts[n->nlayers - 1], k->yb, k->wb, rows, 0, NULL, T->huber_delta, &met);
    }
    *metric = met;
    *sumw = sw;
    return loss;
}

/* A metric for the progress message: accuracy, or RMSE in target units. */
static double metric_value(int regression, double met, double sw, double ys)
{
    if (sw <= 0)
        return NAN;
    return regression ? sqrt(met / sw) * ys : met / sw;
}

int mbmlp_fit(mbmlp_model *m, const mb_dataset *train, const mb_dataset *valid,
              const mb_fit_context *ctx, char *err)
{
    const mb_host *h = m->host;
    const mbmlp_params *P = &m->p;
    int rc = MB_PLUGIN_OK, ok = 1;
    blocks bl;
    memset(&bl, 0, sizeof bl);
    mbmlp_net net;
    memset(&net, 0, sizeof net);
    trainer T;
    memset(&T, 0, sizeof T);
    chunk ws[MBMLP_MAX_THREADS];
    memset(ws, 0, sizeof ws);
    pthread_t tids[MBMLP_MAX_THREADS];
    size_t started = 0;
    int sync = 0;                 /* T.lock and T.cv made */
    batch *bat = NULL;
    double *s1 = NULL;            /* standardize: feature sums, then squared deviations */

    /* {------ context ------} */
    int threads = 1;
    uint64_t seed = 0;
    void (*progress)(void *, double, const char *, double, double) = NULL;
    void *pud = NULL;
    const volatile int *cancel = NULL;
    if (ctx) {
        size_t sz = ctx->struct_size;
        if (sz >= offsetof(mb_fit_context, seed) + sizeof ctx->seed) {
            threads = ctx->threads > 0 ? ctx->threads : 1;
            seed = ctx->seed;
        }
        if (sz >= offsetof(mb_fit_context, progress_ud) + sizeof ctx->progress_ud) {
            progress = ctx->progress;
            pud = ctx->progress_ud;
        }
        if (sz >= offsetof(mb_fit_context, cancel) + sizeof ctx->cancel)
            cancel = ctx->cancel;
    }

    /* {------ data and task ------} */
    size_t n = train->X.rows, f = train->X.cols, k;
    mbmlp_out out;
    int regression = train->task == MB_TASK_REGRESSION;
    if (n == 0 || f == 0)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "no training rows or no features");
    if (f > 1u << 24)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "%zu features is more than the MLP handles", f);
    switch (train->task) {
    case MB_TASK_BINARY:
        out = MBMLP_OUT_SIGMOID;
        k = 1;
        break;
    case MB_TASK_MULTICLASS:
        out = MBMLP_OUT_SOFTMAX;
        k = train->nclasses;
        if (k < 2)
            return mbmlp_fail(err, MB_PLUGIN_EINVAL, "multiclass data with %zu classes", k);
        break;
    case MB_TASK_REGRESSION:
        out = P->loss == MBMLP_LOSS_HUBER ? MBMLP_OUT_HUBER : MBMLP_OUT_SQUARED;
        k = 1;
        break;
    default:
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "unknown task %d", (int)train->task);
    }
    if (!regression && P->loss != MBMLP_LOSS_AUTO)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL,
                          "loss=%s is for regression; classification uses cross-entropy (loss=auto)",
                          P->loss == MBMLP_LOSS_HUBER ? "huber" : "squared");
    size_t nclasses = regression ? 0 : (train->task == MB_TASK_BINARY ? 2 : k);
    /* standardize: the feature sums (s1) are taken during the check, the
    ** squared deviations (s2) in a second pass */
    if (P->standardize && !(s1 = h->xmalloc(2 * f * sizeof(double))))
        return mbmlp_fail(err, MB_PLUGIN_ENOMEM, "no memory for the feature statistics");
    if (s1)
        memset(s1, 0, 2 * f * sizeof(double));
    if ((rc = check_data(train, "training", nclasses, s1, err)) != MB_PLUGIN_OK)
        goto exit;
    if (valid) {
        if (valid->X.cols != f)
            rc = mbmlp_fail(err, MB_PLUGIN_EINVAL, "validation data has %zu features, training data %zu",
                            valid->X.cols, f);
        else if (valid->task != train->task)
            rc = mbmlp_fail(err, MB_PLUGIN_EINVAL, "validation data is for another task");
        else
            rc = check_data(valid, "validation", nclasses, NULL, err);
        if (rc != MB_PLUGIN_OK)
            goto exit;
        if (valid->X.rows == 0)
            valid = NULL;
    }

    /* {------ network ------} */
    size_t width[66];
    width[0] = f;
    for (size_t l = 0; l < P->nhidden; l++)
        width[l + 1] = P->hidden[l];
    width[P->nhidden + 1] = k;
    net.act = P->act;
    net.alpha = P->leaky_alpha;
    net.out = out;
    if ((rc = mbmlp_net_alloc(&net, h, P->nhidden + 1, width)) != MB_PLUGIN_OK) {
        mbmlp_fail(err, rc, "no memory for the network's parameters");
        goto exit;
    }
    mbmlp_rng rng;
    mbmlp_rng_seed(&rng, seed);
    mbmlp_net_init(&net, P->init, &rng);

    /* {------ chunks and buffers ------} */
    size_t B = (size_t)P->batch_size < n ? (size_t)P->batch_size : n;
    size_t L = net.nlayers, maxw = mbmlp_maxwidth(&net), np = net.nparams;
    /* a chunk needs enough rows to be worth a task */
    size_t nt = (size_t)threads;
    if (nt > MBMLP_MAX_THREADS)
        nt = MBMLP_MAX_THREADS;
    if (nt > B / 32)
        nt = B / 32 ? B / 32 : 1;
    T.net = &net;
    T.train = train;
    T.regression = regression;
    T.use_pre = P->act == MB_ACT_GELU;
    T.use_drop = P->dropout > 0;
    T.keep = (float)(1 - P->dropout);
    T.huber_delta = P->huber_delta;
    T.nt = nt;
    T.nu = nt > 1 ? MBMLP_RANGES * nt : 1;
    T.w = ws;
    size_t *perm = balloc(&bl, h, n * sizeof *perm, &ok);
    T.perm = perm;
    size_t nbmax = (n + B - 1) / B;
    bat = balloc(&bl, h, nbmax * sizeof *bat, &ok);
    T.cancel = cancel;
    for (size_t t = 0; t < nt; t++) {
        chunk *wk = &ws[t];
        /* chunk 0 also evaluates the validation set, B rows at a time */
        size_t rows = t == 0 ? B : B / nt + 1, per = 3 * rows + rows * f + 2 * rows * maxw + np;
        for (size_t l = 0; l < L; l++)
            per += rows * width[l + 1] * (1 + (size_t)T.use_pre + (size_t)T.use_drop);
        float *p = balloc(&bl, h, per * sizeof(float), &ok);
        if (!p)
            break;
        wk->T = &T;
        wk->id = t;
        wk->grad = p, p += np;
        wk->xb = p, p += rows * f;
        wk->yb = p, p += rows;
        wk->wb = p, p += rows;
        wk->delta = p, p += rows * maxw;
        wk->tmp = p, p += rows * maxw;
        for (size_t l = 0; l < L; l++) {
            wk->acts[l] = p, p += rows * width[l + 1];
            if (T.use_pre)
                wk->pre[l] = p, p += rows * width[l + 1];
            if (T.use_drop)
                wk->masks[l] = p, p += rows * width[l + 1];
        }
        mbmlp_rng_seed(&wk->rng, seed ^ (0x5851F42D4C957F2Dull * (t + 1)));
    }
    float *mom1 = balloc(&bl, h, np * sizeof(float), &ok);
    float *mom2 = P->optimizer != MBMLP_OPT_SGD ? balloc(&bl, h, np * sizeof(float), &ok) : NULL;
    float *best_params = valid ? balloc(&bl, h, np * sizeof(float), &ok) : NULL;
    T.wt = mbmlp_gemm_on() ? balloc(&bl, h, np * sizeof(float), &ok) : NULL;
    float *mu = NULL, *isd = NULL;
    if (P->standardize) {
        mu = balloc(&bl, h, f * sizeof(float), &ok);
        isd = balloc(&bl, h, f * sizeof(float), &ok);
    }
    if (!ok) {
        rc = mbmlp_fail(err, MB_PLUGIN_ENOMEM, "no memory for the training buffers (batch %zu, %zu parameters)",
                        B, np);
        goto exit;
    }
    T.mu = mu;
    T.isd = isd;

    /* {------ statistics: input mean / std, regression target ------} */
    if (P->standardize) { /* s1 holds the column sums (check_data) */
        double *s2 = s1 + f;
        for (size_t j = 0; j < f; j++)
            s1[j] /= (double)n;
        for (size_t i = 0; i < n; i++)
            mbmlp_k_sqdev(s2, train->X.x + i * train->X.ld, s1, f);
        for (size_t j = 0; j < f; j++) {
            double sd = sqrt(s2[j] / (double)n);
            mu[j] = (float)s1[j];
            isd[j] = (float)(sd > 0 ? 1 / sd : 1);
        }
    }
    double ym = 0, ys = 1;
    if (regression) {
        double s = 0, ss = 0;
        for (size_t i = 0; i < n; i++)
            s += (double)train->y[i];
        ym = s / (double)n;
        for (size_t i = 0; i < n; i++)
            ss += ((double)train->y[i] - ym) * ((double)train->y[i] - ym);
        ys = sqrt(ss / (double)n);
        if (!(ys > 0))
            ys = 1;
    }
    T.ym = ym;
    T.ys = ys;

    if (T.wt)
        mbmlp_transpose(&net, T.wt);

    /* {------ threads ------} */
    optim opt = {P->optimizer, P->lr, P->beta1, P->beta2, P->eps, P->momentum, P->weight_decay,
                 P->nesterov, 0, mom1, mom2};
    T.opt = &opt;
    openblas_set_num_threads(1);
    if (trainer_start(&T, tids, &started, err) != 0) {
        rc = MB_PLUGIN_EFAIL;
        goto exit;
    }
    sync = 1;

    /* {------ epochs ------} */
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    double best = INFINITY, plateau_best = INFINITY;
    long stall = 0, plateau_stall = 0;
    double lr_now = P->lr;
    int have_best = 0;
    int64_t epochs_run = 0, best_epoch = 0;
    double kept_train = NAN, kept_valid = NAN, last_train = NAN;
    char msg[160];
    for (int64_t ep = 0; ep < P->epochs; ep++) {
        /* learning rate for this epoch */
        switch (P->schedule) {
        case MBMLP_SCHED_STEP:
            lr_now = P->lr * pow(P->lr_gamma, (double)(ep / P->lr_step));
            break;
        case MBMLP_SCHED_COSINE:
            lr_now = P->lr * 0.5 * (1 + cos(3.141592653589793 * (double)ep / (double)P->epochs));
            break;
        default:
            break; /* constant; plateau changes lr_now below */
        }
        T.lr = lr_now;
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(mbmlp_rng_next(&rng) % (i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        double tw = 0;
        size_t nb = 0;
        for (size_t t = 0; t < nt; t++)
            ws[t].loss = ws[t].metric = 0;
        for (size_t s = 0; s < n; s += B) {
            size_t rows = n - s < B ? n - s : B;
            double sw = (double)rows;
            if (train->w) {
                sw = 0;
                for (size_t r = 0; r < rows; r++)
                    sw += (double)train->w[perm[s + r]];
            }
            if (!(sw > 0))
                continue;
            bat[nb].start = s;
            bat[nb].rows = rows;
            bat[nb].scale = 1.0 / sw;
            nb++;
            tw += sw;
        }
        if (cancel && *cancel) {
            rc = mbmlp_fail(err, MB_PLUGIN_ECANCELLED, "cancelled in epoch %lld", (long long)ep + 1);
            goto exit;
        }
        train_epoch(&T, bat, nb);
        if (atomic_load(&T.cancelled)) {
            rc = mbmlp_fail(err, MB_PLUGIN_ECANCELLED, "cancelled in epoch %lld", (long long)ep + 1);
            goto exit;
        }
        if (!(tw > 0)) {
            rc = mbmlp_fail(err, MB_PLUGIN_EINVAL, "every training row has weight 0");
            goto exit;
        }
        double tl = 0, tm = 0;
        for (size_t t = 0; t < nt; t++) {
            tl += ws[t].loss;
            tm += ws[t].metric;
        }
        double train_loss = tl / tw, train_met = metric_value(regression, tm, tw, ys);
        if (!isfinite(train_loss)) {
            rc = mbmlp_fail(err, MB_PLUGIN_EFAIL,
                            "the training loss diverged (%g) in epoch %lld; lower learning_rate",
                            train_loss, (long long)ep + 1);
            goto exit;
        }
        double valid_loss = NAN, valid_met = NAN;
        if (valid) {
            double vm, vw;
            double vl = evaluate(&T, valid, &ws[0], B, &vm, &vw);
            valid_loss = vw > 0 ? vl / vw : (double)NAN;
            valid_met = metric_value(regression, vm, vw, ys);
        }
        double watched = valid ? valid_loss : train_loss;
        /* early stopping (scikit-learn's rule: an improvement is more than tol) */
        int stop = 0;
        if (watched < best - P->tol)
            stall = 0;
        else
            stall++;
        epochs_run = ep + 1;
        last_train = train_loss;
        if (watched < best) {
            best = watched;
            best_epoch = ep + 1;
            kept_train = train_loss;
            kept_valid = valid_loss;
            if (valid) {
                memcpy(best_params, net.params, np * sizeof(float));
                have_best = 1;
            }
        }
        if (P->es_rounds > 0 && stall >= P->es_rounds)
            stop = 1;
        /* reduce on plateau */
        if (P->schedule == MBMLP_SCHED_PLATEAU) {
            if (watched < plateau_best - P->tol) {
                plateau_best = watched;
                plateau_stall = 0;
            } else if (++plateau_stall >= P->lr_patience) {
                lr_now *= P->lr_gamma;
                plateau_stall = 0;
                plateau_best = watched;
            }
        }
        if (progress) {
            const char *mname = regression ? "rmse" : "accuracy";
            if (valid)
                snprintf(msg, sizeof msg, "epoch %lld/%lld: train loss %.5g, %s %.4f; valid loss %.5g, %s %.4f",
                         (long long)ep + 1, (long long)P->epochs, train_loss, mname, train_met, valid_loss,
                         mname, valid_met);
            else
                snprintf(msg, sizeof msg, "epoch %lld/%lld: train loss %.5g, %s %.4f", (long long)ep + 1,
                         (long long)P->epochs, train_loss, mname, train_met);
            progress(pud, stop ? 1.0 : (double)(ep + 1) / (double)P->epochs, msg, train_loss, valid_loss);
        }
        if (stop)
            break;
    }
    if (have_best)
        memcpy(net.params, best_params, np * sizeof(float));

    /* {------ fold the standardisations into the weights ------} */
    if (P->standardize) {
        float *W = net.params + net.woff[0], *b = net.params + net.boff[0];
        for (size_t o = 0; o < width[1]; o++) {
            double shift = 0;
            for (size_t j = 0; j < f; j++) {
                double wj = (double)W[o * f + j] * (double)isd[j];
                shift += wj * (double)mu[j];
                W[o * f + j] = (float)wj;
            }
            b[o] = (float)((double)b[o] - shift);
        }
    }
    if (regression) {
        float *W = net.params + net.woff[L - 1], *b = net.params + net.boff[L - 1];
        for (size_t j = 0; j < width[L - 1]; j++)
            W[j] = (float)((double)W[j] * ys);
        b[0] = (float)((double)b[0] * ys + ym);
    }

    /* {------ install ------} */
    float *wt = h->xmalloc(np * sizeof(float) + 64);
    if (!wt) {
        rc = mbmlp_fail(err, MB_PLUGIN_ENOMEM, "no memory for the fitted model");
        goto exit;
    }
    mbmlp_transpose(&net, wt);
    mbmlp_net_free(&m->net, h);
    if (m->wt)
        h->xfree(m->wt);
    m->net = net;
    memset(&net, 0, sizeof net);
    m->wt = wt;
    m->task = train->task;
    m->nclasses = nclasses;
    m->fitted = 1;
    /* the losses of the weights kept: the best epoch's when they were
    ** restored, else the last epoch's (in the units the training saw:
    ** regression targets standardised) */
    m->info_values[0] = (double)epochs_run;
    m->info_values[1] = (double)best_epoch;
    m->info_values[2] = have_best ? kept_train : last_train;
    m->info_values[3] = have_best ? kept_valid : (double)NAN;
    m->info_n = 4;

exit:
    if (started > 1) {
        /* the helpers wait for the next epoch: post quit instead */
        atomic_store(&T.quit, 1);
        raise_one(&T, &T.gen);
        for (size_t t = 1; t < started; t++)
            pthread_join(tids[t], NULL);
    }
    if (sync) {
        pthread_cond_destroy(&T.cv);
        pthread_mutex_destroy(&T.lock);
    }
    /* batch prediction uses OpenBLAS's threads: the context's count */
    openblas_set_num_threads(threads);
    mbmlp_net_free(&net, h);
    blocks_free(&bl, h);
    if (s1)
        h->xfree(s1);
    return rc;
}
