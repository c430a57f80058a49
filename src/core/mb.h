/*
** mb.h: what every part of moonbench shares: status codes, the error
** record, the allocator and the log hook.
**
** DESIGN
** ------
** Library code (src/core) never prints and never exits on bad input. A
** fallible call returns an mb_status and, when the caller passed an
** mb_error, fills it with a message that names the file, the object and
** the reason. Status codes and their short names come from one X-macro.
**
** Allocation goes through mb_malloc (aborts with a message on exhaustion,
** like Redis' zmalloc) or mb_trymalloc (returns NULL; for sizes that come
** from input files). The allocator can be replaced so that tests can fail
** allocation N.
*/
#ifndef MB_H
#define MB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define MB_VERSION "0.1.0"

/* Status codes: X(name, short text). MB_OK is 0. */
#define MB_STATUS_INFO(X)                                   \
    X(OK, "ok")                                             \
    X(ENOMEM, "out of memory")                              \
    X(EIO, "input/output error")                            \
    X(EH5, "HDF5 error")                                    \
    X(EFORMAT, "malformed input")                           \
    X(ENOTFOUND, "not found")                               \
    X(ETYPE, "wrong type")                                  \
    X(ESHAPE, "wrong shape")                                \
    X(EARG, "invalid argument")                             \
    X(EEMPTY, "no data")                                    \
    X(ECANCELLED, "cancelled")

typedef enum mb_status {
#define MB_STATUS_ENUM_(name, text) MB_##name,
    MB_STATUS_INFO(MB_STATUS_ENUM_)
#undef MB_STATUS_ENUM_
    MB_STATUS_COUNT_
} mb_status;

/* Short text of a status code ("out of memory"); never NULL. */
const char *mb_status_text(mb_status code);

/* The last error of a call: its code and a full sentence. */
typedef struct mb_error {
    mb_status code;
    char msg[1024];
} mb_error;

/* Record an error in err (which may be NULL) and return code, so callers
** write `return mb_fail(err, MB_EIO, "%s: ...", path)`. */
mb_status mb_fail(mb_error *err, mb_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* {====== allocation ======} */

/* Abort-on-exhaustion forms: for sizes the program chooses. */
void *mb_malloc(size_t n);
void *mb_calloc(size_t count, size_t size);
void *mb_realloc(void *p, size_t n);
char *mb_strdup(const char *s);
char *mb_strndup(const char *s, size_t n);
/* Fallible forms: for sizes that come from input; NULL on failure. */
void *mb_trymalloc(size_t n);
void *mb_trycalloc(size_t count, size_t size);
void *mb_tryrealloc(void *p, size_t n);
void mb_free(void *p);
/* For large blocks (whole datasets): with libc's allocator, blocks of 4 MiB
** and more are aligned to 2 MiB and offered transparent huge pages, which
** saves most of the page faults of filling fresh memory. Freed by mb_free. */
void *mb_trymalloc_big(size_t n);

/* Replace the allocator (all three or none; NULL restores libc). Tests use
** it to fail allocation N. Not thread-safe: set it before starting work. */
typedef struct mb_allocator {
    void *(*xmalloc)(size_t);
    void *(*xrealloc)(void *, size_t);
    void (*xfree)(void *);
} mb_allocator;
void mb_set_allocator(const mb_allocator *a);

/* Multiply a*b, failing (returning 0) on overflow; used before allocating. */
int mb_mul_ok(size_t a, size_t b, size_t *out);

/* The double nearest to the shortest decimal (6 to 9 significant digits)
** that reads back as float x: 5.4f gives 5.4, not 5.400000095367432, so a
** float32 value shown or computed with in double has the digits it has.
** NaN and infinities pass through. */
double mb_float_decimal(float x);

/* {====== logging ======} */

typedef enum mb_log_level { MB_LOG_DEBUG, MB_LOG_INFO, MB_LOG_WARN } mb_log_level;
typedef void (*mb_log_fn)(mb_log_level level, const char *msg, void *ud);
/* Install the log sink; the default discards everything. */
void mb_set_log(mb_log_fn fn, void *ud);
void mb_log(mb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Invariant checks: report file and line, then abort. Never for bad input. */
#define mb_assert(e) ((e) ? (void)0 : mb_panic_at(__FILE__, __LINE__, #e))
#define mb_panic(msg) mb_panic_at(__FILE__, __LINE__, (msg))
_Noreturn void mb_panic_at(const char *file, int line, const char *what);

#endif
