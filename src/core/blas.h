/*
** blas.h: set OpenBLAS's kernel before OpenBLAS is loaded, and say which
** kernel runs and why (moonbench --version, moonbench plugins, mb.blas_info).
**
** The executable and the Lua module do not link OpenBLAS: only the plugins
** do, and they are dlopen'ed after mb_blas_select has run, so the
** OPENBLAS_CORETYPE it sets is in the environment when OpenBLAS's library
** constructor reads it. What the library would pick by itself is asked
** of the library: a forked child dlopens libopenblas.so.0 with the variable
** unset (or set to a candidate), reports openblas_get_corename and
** openblas_get_config through a pipe and exits (a few ms; a child that has
** not answered in 2 s is killed).
**
** Call mb_blas_select once, early, before any thread starts: it may setenv.
** Later calls return the first result. Not thread-safe.
*/
#ifndef MB_BLAS_H
#define MB_BLAS_H

#include <stddef.h>

typedef enum mb_blas_how {
    MB_BLAS_NONE,      /* no libopenblas.so.0 could be loaded */
    MB_BLAS_LIBRARY,   /* the library's own choice, already the best */
    MB_BLAS_CHOSEN,    /* chosen by moonbench: the library would use an older one */
    MB_BLAS_USER,      /* OPENBLAS_CORETYPE set by the user */
    MB_BLAS_PRELOADED  /* OpenBLAS was in the process before moonbench: too late */
} mb_blas_how;

typedef struct mb_blas_info {
    mb_blas_how how;
    char version[32];   /* "0.3.21", from openblas_get_config */
    char kernel[32];    /* the kernel that runs (or will, when a plugin loads it) */
    char library[32];   /* the library's own choice (CHOSEN, LIBRARY); else "" */
    char better[32];    /* PRELOADED: the kernel moonbench would have chosen, or "" */
} mb_blas_info;

/* Decide and, when OpenBLAS would fall back to an older kernel than the
** CPU runs and the user did not set OPENBLAS_CORETYPE, set it (and
** MOONBENCH_BLAS_CHOICE="kernel/library", so that a moonbench started by
** this one reports the choice as moonbench's, not the user's). */
const mb_blas_info *mb_blas_select(void);

/* One line: "BLAS: OpenBLAS 0.3.21, kernel Cooperlake (chosen by moonbench:
** the library would use Prescott on this CPU)"; the reason in parentheses
** names the case. */
void mb_blas_describe(const mb_blas_info *b, char *buf, size_t n);

/* The kernel of the OpenBLAS loaded into this process (by a plugin) into
** kernel[32]: 0, or -1 when none is loaded. */
int mb_blas_loaded(char kernel[32]);

#endif
