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
** every product pays a hand-off), so fit splits each batch by rows across
** ctx->threads workers (see "workers" below), each calling sgemm on its
** own thread, with OpenBLAS's process-global count set to 1
** (openblas_set_num_threads) during training. At the end of fit the count
** is set to ctx->threads, which batch prediction then uses. Results depend
** only on ctx->seed and the thread count (the gradient sums' order).
*/
#include "mlp.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
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

/* One parameter segment: p -= step(g) with g = g + g2 when g2 is not
** NULL; wd applies to weights only. */
static void optim_segment(optim *o, float *p, const float *g, const float *g2, float *m, float *v, size_t n,
                          float wd)
{
    if (o->kind == MBMLP_OPT_SGD) {
        float lr = (float)o->lr, mom = (float)o->mom;
        int nest = o->nesterov;
        for (size_t i = 0; i < n; i++) {
            float gi = (g2 ? g[i] + g2[i] : g[i]) + wd * p[i];
            float b = mom * m[i] + gi;
            m[i] = b;
            p[i] -= lr * (nest ? gi + mom * b : b);
        }
        return;
    }
    double bc1 = 1 - pow(o->b1, (double)o->t), bc2 = 1 - pow(o->b2, (double)o->t);
    float b1 = (float)o->b1, b2 = (float)o->b2, c1 = 1 - b1, c2 = 1 - b2;
    mbmlp_adam_k k = {b1, c1, b2, c2, (float)(o->lr / bc1), (float)(1 / sqrt(bc2)), (float)o->eps,
                      o->kind == MBMLP_OPT_ADAM ? wd : 0,
                      o->kind == MBMLP_OPT_ADAMW ? (float)(1 - o->lr * (double)wd) : 1.0f};
    mbmlp_k_adam(p, g, g2, m, v, n, &k);
}

/* Update parameters [p0, p1) (the range one worker owns) with grad (+
** grad2 when not NULL): the segments of each layer that intersect it,
** weight decay on weights only. */
static void optim_range(optim *o, mbmlp_net *n, const float *grad, const float *grad2, size_t p0, size_t p1)
{
    for (size_t l = 0; l < n->nlayers; l++) {
        size_t fi = n->width[l], fo = n->width[l + 1];
        size_t seg[2][2] = {{n->woff[l], n->woff[l] + fi * fo}, {n->boff[l], n->boff[l] + fo}};
        for (int k = 0; k < 2; k++) {
            size_t a = seg[k][0] > p0 ? seg[k][0] : p0, b = seg[k][1] < p1 ? seg[k][1] : p1;
            if (a < b)
                optim_segment(o, n->params + a, grad + a, grad2 ? grad2 + a : NULL, o->m + a,
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

/* A barrier that spins briefly (a phase lasts a fraction of a
** millisecond, and both sides usually arrive close together) before it
** sleeps on a condition variable. How long it spins adapts: a wait that
** had to sleep halves the budget, a wait that ended while spinning late in
** the budget doubles it (between MBMLP_SPIN_MIN and MBMLP_SPIN_MAX pauses,
** about 5 us and 0.5 ms on Zen 3). On an idle machine the partner arrives
** within the spin and no wait sleeps; on an oversubscribed one the partner
** is often descheduled, and a fixed 0.5 ms spin held the core it needed:
** on multi_200k at load ~8 a fixed 20000-pause spin cost 2.95 CPU s and
** 5.9 s wall for 2 epochs, 200 pauses 1.74 and 2.8 (same bits: the
** barrier decides only when threads run). Its count can shrink while
** threads wait, which lets fit give up cleanly when a thread could not be
** started. */
#ifndef MBMLP_SPIN_MIN
#define MBMLP_SPIN_MIN 200
#endif
#ifndef MBMLP_SPIN_MAX
#define MBMLP_SPIN_MAX 20000
#endif
typedef struct barrier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint n, arrived, gen;
    atomic_int spin;              /* the current budget: a heuristic, races only tune it */
} barrier;

static int barrier_init(barrier *b, unsigned n)
{
    if (pthread_mutex_init(&b->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&b->cv, NULL) != 0) {
        pthread_mutex_destroy(&b->mu);
        return -1;
    }
    atomic_init(&b->n, n);
    atomic_init(&b->arrived, 0);
    atomic_init(&b->gen, 0);
    atomic_init(&b->spin, MBMLP_SPIN_MIN);
    return 0;
}

static void barrier_destroy(barrier *b)
{
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

static void barrier_release(barrier *b, unsigned g)
{
    atomic_store(&b->arrived, 0);
    pthread_mutex_lock(&b->mu);
    atomic_store(&b->gen, g + 1);
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void barrier_wait(barrier *b)
{
    unsigned g = atomic_load(&b->gen);
    if (atomic_fetch_add(&b->arrived, 1) + 1 >= atomic_load(&b->n)) {
        barrier_release(b, g);
        return;
    }
    int budget = atomic_load_explicit(&b->spin, memory_order_relaxed);
    for (int spin = 0; spin < budget; spin++) {
        if (atomic_load_explicit(&b->gen, memory_order_acquire) != g) {
            if (spin > budget / 2 && budget < MBMLP_SPIN_MAX)
                atomic_store_explicit(&b->spin, budget * 2 < MBMLP_SPIN_MAX ? budget * 2 : MBMLP_SPIN_MAX,
                                      memory_order_relaxed);
            return;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    if (budget > MBMLP_SPIN_MIN)
        atomic_store_explicit(&b->spin, budget / 2 > MBMLP_SPIN_MIN ? budget / 2 : MBMLP_SPIN_MIN,
                              memory_order_relaxed);
    pthread_mutex_lock(&b->mu);
    while (atomic_load(&b->gen) == g)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* Lower the count to n (threads that never started); releases the waiters
** when they are now all there. */
static void barrier_shrink(barrier *b, unsigned n)
{
    unsigned g = atomic_load(&b->gen);
    atomic_store(&b->n, n);
    if (atomic_load(&b->arrived) >= n)
        barrier_release(b, g);
}

/* {====== workers ======}
** A mini-batch is split by rows across nt workers (the calling thread is
** worker 0). Phase 1: each worker gathers its rows, runs forward, loss and
** backward with single-threaded sgemm into its own gradient. Phase 2: each
** worker sums the gradients over its share of the parameters and applies
** the optimiser there. Two barriers a batch; OpenBLAS runs at one thread
** during training, since its own threading of batch-sized products (a few
** hundred rows) costs more in synchronisation than it gains. */

struct trainer;

typedef struct worker {
    struct trainer *T;
    size_t id;
    float *xb, *yb, *wb;
    float *acts[65], *pre[65], *masks[65];
    float *delta, *tmp, *grad;
    mbmlp_rng rng;
    double loss, metric;          /* sums over the epoch */
} worker;

typedef struct trainer {
    mbmlp_net *net;
    const mb_dataset *train;
    const size_t *perm;
    const float *mu, *isd;
    int regression, use_pre, use_drop;
    double ym, ys, huber_delta;
    float keep;
    optim *opt;
    size_t nt;
    worker *w;
    /* the current batch, and the learning rate from its epoch */
    size_t start, rows;
    double lr;
    double scale;
    int quit, idle;
    barrier go, mid;
} trainer;

/* Phase 1 for worker k. */
static void phase_grad(worker *k)
{
    trainer *T = k->T;
    size_t r0 = T->rows * k->id / T->nt, r1 = T->rows * (k->id + 1) / T->nt, rows = r1 - r0;
    const mbmlp_net *n = T->net;
    size_t f = n->width[0];
    if (rows == 0) {
        memset(k->grad, 0, n->nparams * sizeof(float));
        return;
    }
    gather(T->train, T->perm + T->start + r0, 0, rows, T->mu, T->isd, T->regression, T->ym, T->ys, k->xb, k->yb,
           k->wb);
    mbmlp_forward(n, k->xb, f, rows, k->acts, T->use_pre ? k->pre : NULL, T->use_drop ? k->masks : NULL,
                  T->keep, &k->rng);
    k->loss += mbmlp_loss(n, k->acts[n->nlayers - 1], k->yb, k->wb, rows, T->scale, k->delta, T->huber_delta,
                          &k->metric);
    mbmlp_backward(n, k->xb, f, rows, k->acts, T->use_pre ? k->pre : NULL, T->use_drop ? k->masks : NULL,
                   k->delta, k->tmp, k->grad);
}

/* Phase 2 for worker k: sum the workers' gradients of its parameter range
** in worker order, ((g0 + g1) + g2) + ..., and step the optimiser there.
** All but the last are added into worker 0's gradient; the last is added
** by the optimiser's own pass, which spares a pass over the range (with 2
** workers, the only one). */
static void phase_update(worker *k)
{
    trainer *T = k->T;
    size_t np = T->net->nparams;
    size_t p0 = (np * k->id / T->nt) & ~(size_t)15, p1 = k->id + 1 == T->nt ? np : (np * (k->id + 1) / T->nt) & ~(size_t)15;
    float *g0 = T->w[0].grad;
    for (size_t t = 1; t + 1 < T->nt; t++) {
        const float *gt = T->w[t].grad;
        for (size_t p = p0; p < p1; p++)
            g0[p] += gt[p];
    }
    optim_range(T->opt, T->net, g0, T->nt > 1 ? T->w[T->nt - 1].grad : NULL, p0, p1);
}

static void *worker_main(void *arg)
{
    worker *k = arg;
    trainer *T = k->T;
    for (;;) {
        barrier_wait(&T->go);
        if (T->quit)
            break;
        if (T->idle) { /* a synchronisation round (see sync_workers) */
            barrier_wait(&T->mid);
            continue;
        }
        phase_grad(k);
        barrier_wait(&T->mid);
        phase_update(k);
    }
    return NULL;
}

/* Wait until every worker has finished its last update: main thread only,
** before it reads or changes the parameters outside a batch. idle is set
** before go and cleared after mid, when every worker has read it. */
static void sync_workers(trainer *T)
{
    if (T->nt == 1)
        return;
    T->idle = 1;
    barrier_wait(&T->go);
    barrier_wait(&T->mid);
    T->idle = 0;
}

/* One mini-batch on all workers. */
static void train_batch(trainer *T)
{
    if (T->nt == 1) {
        T->opt->t++;
        T->opt->lr = T->lr;
        phase_grad(&T->w[0]);
        optim_range(T->opt, T->net, T->w[0].grad, NULL, 0, T->net->nparams);
        return;
    }
    barrier_wait(&T->go);
    /* the other workers may have been updating with opt until go: only
    ** now is it safe to change it (they read it again after mid) */
    T->opt->t++;
    T->opt->lr = T->lr;
    phase_grad(&T->w[0]);
    barrier_wait(&T->mid);
    phase_update(&T->w[0]);
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
** batches of B rows through worker k's buffers. */
static double evaluate(const trainer *T, const mb_dataset *d, worker *k, size_t B, double *metric, double *sumw)
{
    const mbmlp_net *n = T->net;
    double loss = 0, met = 0, sw = 0;
    for (size_t s = 0; s < d->X.rows; s += B) {
        size_t rows = d->X.rows - s < B ? d->X.rows - s : B;
        sw += gather(d, NULL, s, rows, T->mu, T->isd, T->regression, T->ym, T->ys, k->xb, k->yb, k->wb);
        mbmlp_forward(n, k->xb, d->X.cols, rows, k->acts, NULL, NULL, 1.0f, NULL);
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
    worker ws[MBMLP_MAX_THREADS];
    memset(ws, 0, sizeof ws);
    pthread_t tids[MBMLP_MAX_THREADS];
    size_t started = 0;
    int barriers = 0;
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

    /* {------ workers and buffers ------} */
    size_t B = (size_t)P->batch_size < n ? (size_t)P->batch_size : n;
    size_t L = net.nlayers, maxw = mbmlp_maxwidth(&net), np = net.nparams;
    /* a worker needs enough rows to be worth a barrier */
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
    T.w = ws;
    size_t *perm = balloc(&bl, h, n * sizeof *perm, &ok);
    T.perm = perm;
    for (size_t t = 0; t < nt; t++) {
        worker *wk = &ws[t];
        /* worker 0 also evaluates the validation set, B rows at a time */
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

    /* {------ threads ------} */
    optim opt = {P->optimizer, P->lr, P->beta1, P->beta2, P->eps, P->momentum, P->weight_decay,
                 P->nesterov, 0, mom1, mom2};
    T.opt = &opt;
    openblas_set_num_threads(1);
    if (nt > 1) {
        if (barrier_init(&T.go, (unsigned)nt) != 0) {
            T.nt = nt = 1;
        } else if (barrier_init(&T.mid, (unsigned)nt) != 0) {
            barrier_destroy(&T.go);
            T.nt = nt = 1;
        } else {
            barriers = 1;
            for (started = 1; started < nt; started++)
                if (pthread_create(&tids[started], NULL, worker_main, &ws[started]) != 0)
                    break;
            if (started < nt) {
                /* the started workers quit at the go barrier (see exit) */
                barrier_shrink(&T.go, (unsigned)started);
                rc = mbmlp_fail(err, MB_PLUGIN_EFAIL, "cannot start %zu training threads", nt);
                goto exit;
            }
        }
    }

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
        for (size_t t = 0; t < nt; t++)
            ws[t].loss = ws[t].metric = 0;
        for (size_t s = 0; s < n; s += B) {
            if (cancel && *cancel) {
                rc = mbmlp_fail(err, MB_PLUGIN_ECANCELLED, "cancelled in epoch %lld", (long long)ep + 1);
                goto exit;
            }
            size_t rows = n - s < B ? n - s : B;
            double sw = (double)rows;
            if (train->w) {
                sw = 0;
                for (size_t r = 0; r < rows; r++)
                    sw += (double)train->w[perm[s + r]];
            }
            if (!(sw > 0))
                continue;
            T.start = s;
            T.rows = rows;
            T.scale = 1.0 / sw;
            train_batch(&T);
            tw += sw;
        }
        sync_workers(&T);
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
        /* the workers wait at the go barrier: release them to quit */
        T.quit = 1;
        barrier_wait(&T.go);
        for (size_t t = 1; t < started; t++)
            pthread_join(tids[t], NULL);
    }
    if (barriers) {
        barrier_destroy(&T.go);
        barrier_destroy(&T.mid);
    }
    /* batch prediction uses OpenBLAS's threads: the context's count */
    openblas_set_num_threads(threads);
    mbmlp_net_free(&net, h);
    blocks_free(&bl, h);
    if (s1)
        h->xfree(s1);
    return rc;
}
