/*
** runtime_pipe.h: a bundle's C pipeline compiled into a row program, for
** the runtime (runtime.h). Internal to src/deploy.
**
** A row is two arrays of slots: numbers (float, NaN = missing) and
** category texts (const char *, NULL = missing). The inputs occupy the
** first slots; each operation writes a new slot (a copy is just the same
** slot under the output name), so running the program is one pass over a
** flat list, with no allocation and no lookup by name. At the end the
** model's features are gathered by slot into x. Semantics are exactly the
** transforms' (transform.h); tests check the program against
** mb_transform_apply on whole frames.
*/
#ifndef MB_RUNTIME_PIPE_H
#define MB_RUNTIME_PIPE_H

#include "bundle.h"

typedef struct mbrt_pipe mbrt_pipe;

/* Compile the pipeline of b (its C steps; a "lua" step is MB_EARG naming
** it). The input columns are b->inputs, or b->features when the bundle
** has no pipeline. b must outlive the program (names are borrowed). */
mb_status mbrt_pipe_compile(mb_bundle *b, mbrt_pipe **out, mb_error *err);
/* The inputs alone (no steps, no features): for pipelines with Lua steps,
** whose rows are scored as one-row frames (runtime.c). */
mb_status mbrt_pipe_inputs(mb_bundle *b, mbrt_pipe **out, mb_error *err);
void mbrt_pipe_free(mbrt_pipe **p);

size_t mbrt_pipe_ninputs(const mbrt_pipe *p);
const char *mbrt_pipe_input(const mbrt_pipe *p, size_t i);
int mbrt_pipe_input_cat(const mbrt_pipe *p, size_t i);
/* Slot of input i (in the number or the text slots, by its type). */
size_t mbrt_pipe_input_slot(const mbrt_pipe *p, size_t i);
size_t mbrt_pipe_nnum(const mbrt_pipe *p);
size_t mbrt_pipe_ncat(const mbrt_pipe *p);

/* Run the program on one row whose inputs are in num / cat, writing the
** model's nfeatures features to x. The only row error is an unseen level
** for an onehot step with unknown = "error" (MB_EARG naming column and
** level). */
mb_status mbrt_pipe_run(const mbrt_pipe *p, float *num, const char **cat, float *x, mb_error *err);

#endif
