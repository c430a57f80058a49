/*
** mb.c: status texts, error records, the swappable allocator and the log
** hook shared by every layer (see mb.h).
*/
#define _DEFAULT_SOURCE /* madvise(MADV_HUGEPAGE) */
#include "mb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static const char *const status_text[] = {
#define MB_STATUS_TEXT_(name, text) text,
    MB_STATUS_INFO(MB_STATUS_TEXT_)
#undef MB_STATUS_TEXT_
};

const char *mb_status_text(mb_status code)
{
    if ((unsigned)code >= MB_STATUS_COUNT_)
        return "unknown status";
    return status_text[code];
}

mb_status mb_fail(mb_error *err, mb_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

/* {====== allocation ======} */

static mb_allocator alloc = {malloc, realloc, free};

void mb_set_allocator(const mb_allocator *a)
{
    if (a)
        alloc = *a;
    else
        alloc = (mb_allocator){malloc, realloc, free};
}

static _Noreturn void oom(size_t n)
{
    fprintf(stderr, "moonbench: out of memory allocating %zu bytes\n", n);
    abort();
}

void *mb_trymalloc(size_t n) { return alloc.xmalloc(n ? n : 1); }

void *mb_trymalloc_big(size_t n)
{
    enum { HUGE_PAGE = 2 << 20 };
    if (n < 2 * HUGE_PAGE || alloc.xmalloc != malloc)
        return mb_trymalloc(n);
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, n) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

void *mb_tryrealloc(void *p, size_t n) { return alloc.xrealloc(p, n ? n : 1); }

void *mb_trycalloc(size_t count, size_t size)
{
    size_t n;
    if (!mb_mul_ok(count, size, &n))
        return NULL;
    void *p = mb_trymalloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

void *mb_malloc(size_t n)
{
    void *p = mb_trymalloc(n);
    if (!p)
        oom(n);
    return p;
}

void *mb_calloc(size_t count, size_t size)
{
    void *p = mb_trycalloc(count, size);
    if (!p)
        oom(count * size);
    return p;
}

void *mb_realloc(void *p, size_t n)
{
    void *q = mb_tryrealloc(p, n);
    if (!q)
        oom(n);
    return q;
}

char *mb_strndup(const char *s, size_t n)
{
    char *d = mb_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *mb_strdup(const char *s) { return mb_strndup(s, strlen(s)); }

void mb_free(void *p)
{
    if (p)
        alloc.xfree(p);
}

int mb_mul_ok(size_t a, size_t b, size_t *out)
{
    if (b && a > SIZE_MAX / b)
        return 0;
    *out = a * b;
    return 1;
}

/* {====== logging ======} */

static mb_log_fn log_fn;
static void *log_ud;

void mb_set_log(mb_log_fn fn, void *ud)
{
    log_fn = fn;
    log_ud = ud;
}

void mb_log(mb_log_level level, const char *fmt, ...)
{
    if (!log_fn)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(level, buf, log_ud);
}

_Noreturn void mb_panic_at(const char *file, int line, const char *what)
{
    fprintf(stderr, "moonbench: internal error at %s:%d: %s\n", file, line, what);
    abort();
}

double mb_float_decimal(float x)
{
    double d = (double)x;
    if (!isfinite(d) || d == 0 || d == floor(d))
        return d;
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    int e = (int)floor(log10(fabs(d)));
    for (int p = 6; p <= 9; p++) {
        int k = p - 1 - e; /* round to k decimals; powers of ten are exact up to 1e22 */
        if (k < -22 || k > 22)
            break;
        double r = k >= 0 ? round(d * p10[k]) / p10[k] : round(d / p10[-k]) * p10[-k];
        if ((float)r == x)
            return r;
    }
    return d;
}
