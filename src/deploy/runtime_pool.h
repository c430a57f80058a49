/*
** runtime_pool.h: a small fixed pool of threads for the runtime's batch
** scoring (runtime_pool.c): started once by a caller that scores many
** chunks (moonbench score), then handed to mb_runtime_score_frame_on for
** each chunk, so no call starts a thread.
*/
#ifndef MBRT_POOL_H
#define MBRT_POOL_H

#include <stddef.h>

typedef struct mb_pool mb_pool;

/* fn(ud, part, nparts) for every part 0 .. nparts - 1, each on its own
** thread (part 0 on the caller's). */
typedef void (*mb_pool_fn)(void *ud, size_t part, size_t nparts);

/* A pool of nthreads parts: the caller and nthreads - 1 workers (0: one
** part per online CPU). Never NULL: when a thread cannot start, the pool
** has fewer parts (at least 1, the caller alone). */
mb_pool *mb_pool_new(size_t nthreads);
size_t mb_pool_size(const mb_pool *p);
/* Run fn on every part and return when all are done. One caller at a
** time (the pool is not shared between threads that run it). */
void mb_pool_run(mb_pool *p, mb_pool_fn fn, void *ud);
/* Stop and join the workers. */
void mb_pool_free(mb_pool **p);

#endif
