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
** "chunks and tasks" below), each running its products on the thread
** that runs it: mlp_gemm.c's (AVX-512, inputs and chunks up to 256; the
** forward products read wt, the weights transposed, which the update
** tasks refresh band by band) or cblas_sgemm, with OpenBLAS's
** process-global count set to 1 (openblas_set_num_threads) during
** training. At the end of fit the count is set to ctx->threads, which
** batch prediction then uses. Results depend
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
    mbmlp_gather(T->train, T->perm + b->start + r0, 0, rows, T->mu, T->isd, T->regression, T->ym, T->ys, k->xb,
                 k->yb, k->wb);
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
        sw += mbmlp_gather(d, NULL, s, rows, T->mu, T->isd, T->regression, T->ym, T->ys, k->xb, k->yb, k->wb);
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

/* One fit's state, shared by its stages (mbmlp_fit below). */
typedef struct fit {
    mbmlp_model *m;
    const mb_host *h;
    const mbmlp_params *P;
    const mb_dataset *train, *valid;
    char *err;
    /* the context */
    int threads;
    uint64_t seed;
    void (*progress)(void *, double, const char *, double, double);
    void *pud;
    const volatile int *cancel;
    /* the data and the task */
    size_t n, f, k, nclasses, B;
    mbmlp_out out;
    int regression;
    double *s1;                   /* standardize: feature sums, then squared deviations */
    /* the network, the trainer and its buffers */
    mbmlp_net net;
    mbmlp_rng rng;                /* initialisation, then the epochs' shuffles */
    trainer T;
    chunk ws[MBMLP_MAX_THREADS];
    blocks bl;
    size_t *perm;
    batch *bat;
    float *mom1, *mom2, *best_params, *mu, *isd;
    optim opt;
    pthread_t tids[MBMLP_MAX_THREADS];
    size_t started;
    int sync;                     /* T.lock and T.cv made */
    /* what the epochs leave */
    int have_best;
    int64_t epochs_run, best_epoch;
    double kept_train, kept_valid, last_train;
} fit;

/* The context's threads, seed, progress callback and cancel flag (each
** when the caller's struct is new enough to have it). */
static void fit_context(fit *F, const mb_fit_context *ctx)
{
    F->threads = 1;
    if (!ctx)
        return;
    size_t sz = ctx->struct_size;
    if (sz >= offsetof(mb_fit_context, seed) + sizeof ctx->seed) {
        F->threads = ctx->threads > 0 ? ctx->threads : 1;
        F->seed = ctx->seed;
    }
    if (sz >= offsetof(mb_fit_context, progress_ud) + sizeof ctx->progress_ud) {
        F->progress = ctx->progress;
        F->pud = ctx->progress_ud;
    }
    if (sz >= offsetof(mb_fit_context, cancel) + sizeof ctx->cancel)
        F->cancel = ctx->cancel;
}

/* The output layer and loss from the task; the data checked (and, for
** standardize, the feature sums taken on the way). */
static int fit_task(fit *F)
{
    const mb_dataset *train = F->train, *valid = F->valid;
    const mbmlp_params *P = F->P;
    char *err = F->err;
    F->n = train->X.rows;
    F->f = train->X.cols;
    F->regression = train->task == MB_TASK_REGRESSION;
    if (F->n == 0 || F->f == 0)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "no training rows or no features");
    if (F->f > 1u << 24)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "%zu features is more than the MLP handles", F->f);
    switch (train->task) {
    case MB_TASK_BINARY:
        F->out = MBMLP_OUT_SIGMOID;
        F->k = 1;
        break;
    case MB_TASK_MULTICLASS:
        F->out = MBMLP_OUT_SOFTMAX;
        F->k = train->nclasses;
        if (F->k < 2)
            return mbmlp_fail(err, MB_PLUGIN_EINVAL, "multiclass data with %zu classes", F->k);
        break;
    case MB_TASK_REGRESSION:
        F->out = P->loss == MBMLP_LOSS_HUBER ? MBMLP_OUT_HUBER : MBMLP_OUT_SQUARED;
        F->k = 1;
        break;
    default:
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "unknown task %d", (int)train->task);
    }
    if (!F->regression && P->loss != MBMLP_LOSS_AUTO)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL,
                          "loss=%s is for regression; classification uses cross-entropy (loss=auto)",
                          P->loss == MBMLP_LOSS_HUBER ? "huber" : "squared");
    F->nclasses = F->regression ? 0 : (train->task == MB_TASK_BINARY ? 2 : F->k);
    /* standardize: the feature sums (s1) are taken during the check, the
    ** squared deviations (s2) in a second pass (fit_stats) */
    if (P->standardize && !(F->s1 = F->h->xmalloc(2 * F->f * sizeof(double))))
        return mbmlp_fail(err, MB_PLUGIN_ENOMEM, "no memory for the feature statistics");
    if (F->s1)
        memset(F->s1, 0, 2 * F->f * sizeof(double));
    int rc = mbmlp_check_data(train, "training", F->nclasses, F->s1, err);
    if (rc != MB_PLUGIN_OK || !valid)
        return rc;
    if (valid->X.cols != F->f)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "validation data has %zu features, training data %zu",
                          valid->X.cols, F->f);
    if (valid->task != train->task)
        return mbmlp_fail(err, MB_PLUGIN_EINVAL, "validation data is for another task");
    if ((rc = mbmlp_check_data(valid, "validation", F->nclasses, NULL, err)) != MB_PLUGIN_OK)
        return rc;
    if (valid->X.rows == 0)
        F->valid = NULL;
    return MB_PLUGIN_OK;
}

/* The network laid out and initialised from the seed. */
static int fit_network(fit *F)
{
    const mbmlp_params *P = F->P;
    size_t width[66];
    width[0] = F->f;
    for (size_t l = 0; l < P->nhidden; l++)
        width[l + 1] = P->hidden[l];
    width[P->nhidden + 1] = F->k;
    F->net.act = P->act;
    F->net.alpha = P->leaky_alpha;
    F->net.out = F->out;
    int rc = mbmlp_net_alloc(&F->net, F->h, P->nhidden + 1, width);
    if (rc != MB_PLUGIN_OK)
        return mbmlp_fail(F->err, rc, "no memory for the network's parameters");
    mbmlp_rng_seed(&F->rng, F->seed);
    mbmlp_net_init(&F->net, P->init, &F->rng);
    return MB_PLUGIN_OK;
}

/* The chunks (how many, their buffers and generators) and every other
** buffer of the epochs, all allocated here. */
static int fit_buffers(fit *F)
{
    const mbmlp_params *P = F->P;
    const mb_host *h = F->h;
    trainer *T = &F->T;
    mbmlp_net *net = &F->net;
    int ok = 1;
    size_t n = F->n, f = F->f;
    size_t B = F->B = (size_t)P->batch_size < n ? (size_t)P->batch_size : n;
    size_t L = net->nlayers, maxw = mbmlp_maxwidth(net), np = net->nparams;
    /* a chunk needs enough rows to be worth a task */
    size_t nt = (size_t)F->threads;
    if (nt > MBMLP_MAX_THREADS)
        nt = MBMLP_MAX_THREADS;
    if (nt > B / 32)
        nt = B / 32 ? B / 32 : 1;
    T->net = net;
    T->train = F->train;
    T->regression = F->regression;
    T->use_pre = P->act == MB_ACT_GELU;
    T->use_drop = P->dropout > 0;
    T->keep = (float)(1 - P->dropout);
    T->huber_delta = P->huber_delta;
    T->nt = nt;
    T->nu = nt > 1 ? MBMLP_RANGES * nt : 1;
    T->w = F->ws;
    T->cancel = F->cancel;
    T->perm = F->perm = balloc(&F->bl, h, n * sizeof *F->perm, &ok);
    F->bat = balloc(&F->bl, h, (n + B - 1) / B * sizeof *F->bat, &ok);
    for (size_t t = 0; t < nt; t++) {
        chunk *wk = &F->ws[t];
        /* chunk 0 also evaluates the validation set, B rows at a time */
        size_t rows = t == 0 ? B : B / nt + 1, per = 3 * rows + rows * f + 2 * rows * maxw + np;
        for (size_t l = 0; l < L; l++)
            per += rows * net->width[l + 1] * (1 + (size_t)T->use_pre + (size_t)T->use_drop);
        float *p = balloc(&F->bl, h, per * sizeof(float), &ok);
        if (!p)
            break;
        wk->T = T;
        wk->id = t;
        wk->grad = p, p += np;
        wk->xb = p, p += rows * f;
        wk->yb = p, p += rows;
        wk->wb = p, p += rows;
        wk->delta = p, p += rows * maxw;
        wk->tmp = p, p += rows * maxw;
        for (size_t l = 0; l < L; l++) {
            wk->acts[l] = p, p += rows * net->width[l + 1];
            if (T->use_pre)
                wk->pre[l] = p, p += rows * net->width[l + 1];
            if (T->use_drop)
                wk->masks[l] = p, p += rows * net->width[l + 1];
        }
        mbmlp_rng_seed(&wk->rng, F->seed ^ (0x5851F42D4C957F2Dull * (t + 1)));
    }
    F->mom1 = balloc(&F->bl, h, np * sizeof(float), &ok);
    F->mom2 = P->optimizer != MBMLP_OPT_SGD ? balloc(&F->bl, h, np * sizeof(float), &ok) : NULL;
    F->best_params = F->valid ? balloc(&F->bl, h, np * sizeof(float), &ok) : NULL;
    T->wt = mbmlp_gemm_on() ? balloc(&F->bl, h, np * sizeof(float), &ok) : NULL;
    if (P->standardize) {
        F->mu = balloc(&F->bl, h, f * sizeof(float), &ok);
        F->isd = balloc(&F->bl, h, f * sizeof(float), &ok);
    }
    if (!ok)
        return mbmlp_fail(F->err, MB_PLUGIN_ENOMEM,
                          "no memory for the training buffers (batch %zu, %zu parameters)", B, np);
    T->mu = F->mu;
    T->isd = F->isd;
    return MB_PLUGIN_OK;
}

/* The inputs' mean and 1 / std (standardize; s1 holds the column sums
** from the check) and the regression target's mean and std. */
static void fit_stats(fit *F)
{
    const mb_dataset *train = F->train;
    size_t n = F->n, f = F->f;
    if (F->P->standardize) {
        double *s1 = F->s1, *s2 = s1 + f;
        for (size_t j = 0; j < f; j++)
            s1[j] /= (double)n;
        for (size_t i = 0; i < n; i++)
            mbmlp_k_sqdev(s2, train->X.x + i * train->X.ld, s1, f);
        for (size_t j = 0; j < f; j++) {
            double sd = sqrt(s2[j] / (double)n);
            F->mu[j] = (float)s1[j];
            F->isd[j] = (float)(sd > 0 ? 1 / sd : 1);
        }
    }
    double ym = 0, ys = 1;
    if (F->regression) {
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
    F->T.ym = ym;
    F->T.ys = ys;
}

/* The optimiser, the transposed weights and the helper threads. */
static int fit_start(fit *F)
{
    const mbmlp_params *P = F->P;
    optim o = {P->optimizer, P->lr, P->beta1, P->beta2, P->eps, P->momentum, P->weight_decay,
               P->nesterov, 0, F->mom1, F->mom2};
    F->opt = o;
    F->T.opt = &F->opt;
    if (F->T.wt)
        mbmlp_transpose(&F->net, F->T.wt);
    openblas_set_num_threads(1);
    if (trainer_start(&F->T, F->tids, &F->started, F->err) != 0)
        return MB_PLUGIN_EFAIL;
    F->sync = 1;
    return MB_PLUGIN_OK;
}

/* The epoch's learning rate by the schedule (plateau changes it in
** fit_epochs instead). */
static double epoch_lr(const mbmlp_params *P, int64_t ep, double lr_now)
{
    switch (P->schedule) {
    case MBMLP_SCHED_STEP:
        return P->lr * pow(P->lr_gamma, (double)(ep / P->lr_step));
    case MBMLP_SCHED_COSINE:
        return P->lr * 0.5 * (1 + cos(3.141592653589793 * (double)ep / (double)P->epochs));
    default:
        return lr_now;
    }
}

/* Shuffle perm and list the epoch's batches (those of positive weight)
** into bat; returns their count, *tw the total weight. */
static size_t epoch_batches(fit *F, double *tw)
{
    size_t n = F->n, B = F->B, *perm = F->perm, nb = 0;
    const float *w = F->train->w;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(mbmlp_rng_next(&F->rng) % (i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    *tw = 0;
    for (size_t s = 0; s < n; s += B) {
        size_t rows = n - s < B ? n - s : B;
        double sw = (double)rows;
        if (w) {
            sw = 0;
            for (size_t r = 0; r < rows; r++)
                sw += (double)w[perm[s + r]];
        }
        if (!(sw > 0))
            continue;
        F->bat[nb].start = s;
        F->bat[nb].rows = rows;
        F->bat[nb].scale = 1.0 / sw;
        nb++;
        *tw += sw;
    }
    return nb;
}

/* The progress callback's line for an epoch. */
static void epoch_progress(const fit *F, int64_t ep, int stop, double tl, double tm, double vl, double vm)
{
    char msg[160];
    const char *mname = F->regression ? "rmse" : "accuracy";
    long long e = (long long)ep + 1, E = (long long)F->P->epochs;
    if (F->valid)
        snprintf(msg, sizeof msg, "epoch %lld/%lld: train loss %.5g, %s %.4f; valid loss %.5g, %s %.4f", e, E, tl,
                 mname, tm, vl, mname, vm);
    else
        snprintf(msg, sizeof msg, "epoch %lld/%lld: train loss %.5g, %s %.4f", e, E, tl, mname, tm);
    F->progress(F->pud, stop ? 1.0 : (double)(ep + 1) / (double)F->P->epochs, msg, tl, vl);
}

/* The epochs: shuffle, train, the losses, early stopping with the best
** weights kept, the plateau schedule, progress. */
static int fit_epochs(fit *F)
{
    const mbmlp_params *P = F->P;
    trainer *T = &F->T;
    size_t n = F->n, nt = T->nt, np = F->net.nparams;
    char *err = F->err;
    for (size_t i = 0; i < n; i++)
        F->perm[i] = i;
    double best = INFINITY, plateau_best = INFINITY, lr_now = P->lr;
    long stall = 0, plateau_stall = 0;
    F->kept_train = F->kept_valid = F->last_train = NAN;
    for (int64_t ep = 0; ep < P->epochs; ep++) {
        T->lr = lr_now = epoch_lr(P, ep, lr_now);
        double tw;
        size_t nb = epoch_batches(F, &tw);
        for (size_t t = 0; t < nt; t++)
            F->ws[t].loss = F->ws[t].metric = 0;
        if (F->cancel && *F->cancel)
            return mbmlp_fail(err, MB_PLUGIN_ECANCELLED, "cancelled in epoch %lld", (long long)ep + 1);
        train_epoch(T, F->bat, nb);
        if (atomic_load(&T->cancelled))
            return mbmlp_fail(err, MB_PLUGIN_ECANCELLED, "cancelled in epoch %lld", (long long)ep + 1);
        if (!(tw > 0))
            return mbmlp_fail(err, MB_PLUGIN_EINVAL, "every training row has weight 0");
        double tl = 0, tm = 0;
        for (size_t t = 0; t < nt; t++) {
            tl += F->ws[t].loss;
            tm += F->ws[t].metric;
        }
        double train_loss = tl / tw, train_met = metric_value(F->regression, tm, tw, T->ys);
        if (!isfinite(train_loss))
            return mbmlp_fail(err, MB_PLUGIN_EFAIL,
                              "the training loss diverged (%g) in epoch %lld; lower learning_rate", train_loss,
                              (long long)ep + 1);
        double valid_loss = NAN, valid_met = NAN;
        if (F->valid) {
            double vm, vw;
            double vl = evaluate(T, F->valid, &F->ws[0], F->B, &vm, &vw);
            valid_loss = vw > 0 ? vl / vw : (double)NAN;
            valid_met = metric_value(F->regression, vm, vw, T->ys);
        }
        double watched = F->valid ? valid_loss : train_loss;
        /* early stopping (scikit-learn's rule: an improvement is more than tol) */
        if (watched < best - P->tol)
            stall = 0;
        else
            stall++;
        F->epochs_run = ep + 1;
        F->last_train = train_loss;
        if (watched < best) {
            best = watched;
            F->best_epoch = ep + 1;
            F->kept_train = train_loss;
            F->kept_valid = valid_loss;
            if (F->valid) {
                memcpy(F->best_params, F->net.params, np * sizeof(float));
                F->have_best = 1;
            }
        }
        int stop = P->es_rounds > 0 && stall >= P->es_rounds;
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
        if (F->progress)
            epoch_progress(F, ep, stop, train_loss, train_met, valid_loss, valid_met);
        if (stop)
            break;
    }
    return MB_PLUGIN_OK;
}

/* The best weights restored; the input standardisation and the regression
** target's scale folded into the first and last layers. */
static void fit_fold(fit *F)
{
    mbmlp_net *net = &F->net;
    size_t f = F->f, L = net->nlayers;
    if (F->have_best)
        memcpy(net->params, F->best_params, net->nparams * sizeof(float));
    if (F->P->standardize) {
        float *W = net->params + net->woff[0], *b = net->params + net->boff[0];
        for (size_t o = 0; o < net->width[1]; o++) {
            double shift = 0;
            for (size_t j = 0; j < f; j++) {
                double wj = (double)W[o * f + j] * (double)F->isd[j];
                shift += wj * (double)F->mu[j];
                W[o * f + j] = (float)wj;
            }
            b[o] = (float)((double)b[o] - shift);
        }
    }
    if (F->regression) {
        double ym = F->T.ym, ys = F->T.ys;
        float *W = net->params + net->woff[L - 1], *b = net->params + net->boff[L - 1];
        for (size_t j = 0; j < net->width[L - 1]; j++)
            W[j] = (float)((double)W[j] * ys);
        b[0] = (float)((double)b[0] * ys + ym);
    }
}

/* The fitted network into the model, with its one-row weights and what
** fit_info reports. */
static int fit_install(fit *F)
{
    mbmlp_model *m = F->m;
    const mb_host *h = F->h;
    float *wt = h->xmalloc(F->net.nparams * sizeof(float) + 64);
    if (!wt)
        return mbmlp_fail(F->err, MB_PLUGIN_ENOMEM, "no memory for the fitted model");
    mbmlp_transpose(&F->net, wt);
    mbmlp_net_free(&m->net, h);
    if (m->wt)
        h->xfree(m->wt);
    m->net = F->net;
    memset(&F->net, 0, sizeof F->net);
    m->wt = wt;
    m->task = F->train->task;
    m->nclasses = F->nclasses;
    m->fitted = 1;
    /* the losses of the weights kept: the best epoch's when they were
    ** restored, else the last epoch's (in the units the training saw:
    ** regression targets standardised) */
    m->info_values[0] = (double)F->epochs_run;
    m->info_values[1] = (double)F->best_epoch;
    m->info_values[2] = F->have_best ? F->kept_train : F->last_train;
    m->info_values[3] = F->have_best ? F->kept_valid : (double)NAN;
    m->info_n = 4;
    return MB_PLUGIN_OK;
}

/* The helper threads stopped and everything of the fit freed. */
static void fit_end(fit *F)
{
    if (F->started > 1) {
        /* the helpers wait for the next epoch: post quit instead */
        atomic_store(&F->T.quit, 1);
        raise_one(&F->T, &F->T.gen);
        for (size_t t = 1; t < F->started; t++)
            pthread_join(F->tids[t], NULL);
    }
    if (F->sync) {
        pthread_cond_destroy(&F->T.cv);
        pthread_mutex_destroy(&F->T.lock);
    }
    /* batch prediction uses OpenBLAS's threads: the context's count */
    openblas_set_num_threads(F->threads);
    mbmlp_net_free(&F->net, F->h);
    blocks_free(&F->bl, F->h);
    if (F->s1)
        F->h->xfree(F->s1);
}

int mbmlp_fit(mbmlp_model *m, const mb_dataset *train, const mb_dataset *valid,
              const mb_fit_context *ctx, char *err)
{
    fit *F = m->host->xmalloc(sizeof *F);
    if (!F)
        return mbmlp_fail(err, MB_PLUGIN_ENOMEM, "no memory for the fit");
    memset(F, 0, sizeof *F);
    F->m = m;
    F->h = m->host;
    F->P = &m->p;
    F->train = train;
    F->valid = valid;
    F->err = err;
    fit_context(F, ctx);
    int rc = fit_task(F);
    if (rc == MB_PLUGIN_OK)
        rc = fit_network(F);
    if (rc == MB_PLUGIN_OK)
        rc = fit_buffers(F);
    if (rc == MB_PLUGIN_OK) {
        fit_stats(F);
        rc = fit_start(F);
    }
    if (rc == MB_PLUGIN_OK)
        rc = fit_epochs(F);
    if (rc == MB_PLUGIN_OK) {
        fit_fold(F);
        rc = fit_install(F);
    }
    fit_end(F);
    m->host->xfree(F);
    return rc;
}
