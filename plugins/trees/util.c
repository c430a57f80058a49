/*
** util.c: the small services every part of the trees plugin uses: host
** memory, error messages, a seeded random generator, a fixed thread pool,
** and progress/cancel reporting.
**
** The pool: workers spin briefly on a generation counter before sleeping
** on a condition variable, because one tree needs a hundred or so short
** parallel steps and waking a sleeping thread costs more than the step.
*/
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "trees.h"

/* {====== memory and errors ======} */

void *mbt_alloc(const mb_host *h, size_t n) { return h->xmalloc(n ? n : 1); }

void *mbt_calloc(const mb_host *h, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    size_t total = n * size;
    void *p = h->xmalloc(total ? total : 1);
    if (p)
        memset(p, 0, total);
    return p;
}

void *mbt_realloc(const mb_host *h, void *p, size_t n) { return h->xrealloc(p, n ? n : 1); }

void mbt_free(const mb_host *h, void *p)
{
    if (p)
        h->xfree(p);
}

int mbt_fail(char *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, MB_PLUGIN_ERRLEN, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* {====== random numbers ======} */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void mbt_rng_seed(mbt_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mbt_rng_next(mbt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double mbt_rng_unif(mbt_rng *r) { return (double)(mbt_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t mbt_rng_below(mbt_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift; the tiny bias is irrelevant here. */
    return (uint64_t)(((unsigned __int128)mbt_rng_next(r) * n) >> 64);
}

/* {====== thread pool ======} */

struct mbt_pool {
    const mb_host *host;
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;
    atomic_int pending;
    atomic_int stop;
    mbt_task_fn fn;
    void *arg;
    int nstarted;
};

typedef struct worker_arg {
    mbt_pool *pool;
    int tid;
} worker_arg;

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker(void *varg)
{
    worker_arg *wa = varg;
    mbt_pool *p = wa->pool;
    int tid = wa->tid;
    mbt_free(p->host, wa);
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->stop) &&
               spins < 4000) {
            cpu_relax();
            spins++;
        }
        if (atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            break;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        p->fn(p->arg, tid, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
    return NULL;
}

mbt_pool *mbt_pool_new(const mb_host *h, int nthreads)
{
    if (nthreads < 1)
        nthreads = 1;
    mbt_pool *p = mbt_calloc(h, 1, sizeof *p);
    if (!p)
        return NULL;
    p->host = h;
    p->n = nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, 0);
    if (nthreads > 1) {
        p->th = mbt_calloc(h, (size_t)nthreads, sizeof *p->th);
        if (!p->th)
            goto fail;
        for (int t = 1; t < nthreads; t++) {
            worker_arg *wa = mbt_alloc(h, sizeof *wa);
            if (!wa)
                goto fail;
            wa->pool = p;
            wa->tid = t;
            if (pthread_create(&p->th[t], NULL, worker, wa) != 0) {
                mbt_free(h, wa);
                goto fail;
            }
            p->nstarted++;
        }
    }
    return p;
fail:
    /* run with the threads that did start */
    p->n = p->nstarted + 1;
    return p;
}

int mbt_pool_size(const mbt_pool *p) { return p ? p->n : 1; }

void mbt_pool_run(mbt_pool *p, mbt_task_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < 20000)
            cpu_relax();
        else
            sched_yield();
    }
}

void mbt_pool_free(mbt_pool **pp)
{
    mbt_pool *p = *pp;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t <= p->nstarted; t++)
        pthread_join(p->th[t], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    mbt_free(p->host, p->th);
    mbt_free(p->host, p);
    *pp = NULL;
}

/* {====== progress ======} */

int mbt_cancelled(const mb_fit_context *ctx) { return ctx && ctx->cancel && *ctx->cancel; }

int mbt_progress(const mb_fit_context *ctx, double fraction, const char *msg, double train_loss,
                 double valid_loss)
{
    if (ctx && ctx->progress)
        ctx->progress(ctx->progress_ud, fraction, msg, train_loss, valid_loss);
    return mbt_cancelled(ctx);
}
