/*
** runtime_pool.c: the batch scorer's fixed thread pool (runtime_pool.h).
** Workers sleep on a condition variable between runs; a run is a new
** generation number, and the caller waits until every worker has finished
** it. Started once per `moonbench score`, not per chunk: a chunk of 65,536
** rows scores in tens of milliseconds, and starting threads per chunk
** would add churn the scoring loop otherwise does not have.
*/
#include "runtime_pool.h"

#include <pthread.h>
#include <unistd.h>

#include "mb.h"

#define MAX_THREADS 64

typedef struct pool_worker {
    struct mb_pool *p;
    size_t part;
} pool_worker;

struct mb_pool {
    size_t n;               /* parts: 1 + workers started */
    pthread_t tid[MAX_THREADS];
    pool_worker w[MAX_THREADS];
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned long gen;      /* the current run */
    size_t pending;         /* workers still in the current run */
    int stop;
    mb_pool_fn fn;
    void *ud;
};

static void *worker(void *arg)
{
    pool_worker *w = arg;
    mb_pool *p = w->p;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop)
            break;
        seen = p->gen;
        mb_pool_fn fn = p->fn;
        void *ud = p->ud;
        size_t n = p->n;
        pthread_mutex_unlock(&p->lock);
        fn(ud, w->part, n);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

mb_pool *mb_pool_new(size_t nthreads)
{
    if (nthreads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = cpus > 0 ? (size_t)cpus : 1;
    }
    if (nthreads > MAX_THREADS)
        nthreads = MAX_THREADS;
    mb_pool *p = mb_calloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n = 1;
    /* p->n only grows before the first run, so workers read it settled */
    for (size_t i = 1; i < nthreads; i++) {
        p->w[i].p = p;
        p->w[i].part = i;
        if (pthread_create(&p->tid[i], NULL, worker, &p->w[i]) != 0)
            break;
        p->n = i + 1;
    }
    return p;
}

size_t mb_pool_size(const mb_pool *p) { return p->n; }

void mb_pool_run(mb_pool *p, mb_pool_fn fn, void *ud)
{
    if (p->n > 1) {
        pthread_mutex_lock(&p->lock);
        p->fn = fn;
        p->ud = ud;
        p->pending = p->n - 1;
        p->gen++;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    fn(ud, 0, p->n);
    if (p->n > 1) {
        pthread_mutex_lock(&p->lock);
        while (p->pending > 0)
            pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
}

void mb_pool_free(mb_pool **pp)
{
    mb_pool *p = *pp;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 1; i < p->n; i++)
        pthread_join(p->tid[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    mb_free(p);
    *pp = NULL;
}
