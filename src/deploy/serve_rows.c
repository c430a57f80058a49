/*
** serve_rows.c: the fast path of POST /predict's body. Nearly every request
** is {"instances": [[number, ...], ...]}; jansson spends about three
** quarters of a single-row request's parse on building and freeing its
** tree (values, arrays, the object's hash table) rather than converting
** numbers. This reads exactly that shape straight into doubles.
**
** It gives the same values as jansson or gives up: any body it is not
** sure of (another shape, a string or object value, a row of the wrong
** length, a key with escapes, a value outside float32's range, bytes
** outside the grammar, an overlong number) returns 0 and the caller parses
** it with jansson as before, so every answer and error message stays
** jansson's. Numbers are converted as jansson converts them: a token with
** '.', 'e' or 'E' by strtod, any other by strtoll then (double) (so "-0"
** is +0.0, as json_number_value gives), and an integer out of int64's
** range gives up (jansson refuses it). strtod itself was most of a
** request's parse (~1,300 instructions for a 17-digit number, as Python
** writes a float32), so a decimal takes fast_decimal first: Clinger's
** exact case, or for a numeric input (only its float32 is used) the
** float32 of the decimal when that is certain; anything else, strtod.
*/
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

typedef struct cursor {
    const char *p, *end;
} cursor;

/* JSON's whitespace: space, tab, line feed, carriage return. */
static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int take(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* m * 10^e for |e| <= 66 in steps of at most 10^22: at most three
** roundings of exact operands. */
static double scale10(double m, int e)
{
    while (e > 22) {
        m *= p10[22];
        e -= 22;
    }
    while (e < -22) {
        m /= p10[22];
        e += 22;
    }
    return e >= 0 ? m * p10[e] : m / p10[-e];
}

/* The decimal m * 10^e (m < 2^64, nonzero) without strtod, or 0 to leave
** it to strtod. Exact when m <= 2^53 and |e| <= 22 (Clinger: one rounding
** of exact operands). Otherwise, for an input read as float32 (as_float),
** d = m * 10^e with at most four roundings (relative error < 2^-50):
** when d is farther than 2^-48 (relative) from every float32 midpoint,
** the decimal, strtod's double and d all round to the same float32,
** which is returned (the one value of it the runtime uses). */
static int fast_decimal(uint64_t m, int e, int as_float, double *out)
{
    if (m <= (uint64_t)1 << 53 && e >= -22 && e <= 22) {
        *out = scale10((double)m, e);
        return 1;
    }
    if (!as_float || e < -66 || e > 66)
        return 0;
    double d = scale10((double)m, e);
    if (!(d >= 1e-37 && d <= 1e38))
        return 0;
    float f = (float)d, g; /* g: f's neighbour on d's side (f is positive and normal) */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = d >= (double)f ? u + 1 : u - 1;
    memcpy(&g, &u, sizeof g);
    double fd = (double)f, mid = (fd + (double)g) / 2;
    if (fabs(d - mid) <= d * 0x1p-48)
        return 0;
    *out = fd;
    return 1;
}

/* One value: null (NaN) or a number in float32's range; 0 to give up.
** as_float: only the value's float32 matters (fast_decimal). */
static int value(cursor *c, double *out, int as_float)
{
    skip_ws(c);
    if (c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
        c->p += 4;
        *out = (double)NAN;
        return 1;
    }
    /* RFC 8259's number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, with
    ** its significant digits (up to 19) gathered in m on the way */
    const char *s = c->p, *q = s;
    int real = 0, neg = 0, nd = 0, e = 0, ex = 0, exd = 0, eneg = 0;
    uint64_t m = 0;
    if (q < c->end && *q == '-') {
        neg = 1;
        q++;
    }
    if (q < c->end && *q == '0')
        q++;
    else if (q < c->end && *q >= '1' && *q <= '9')
        for (; q < c->end && is_digit(*q); q++, nd++)
            m = m * 10 + (uint64_t)(*q - '0');
    else
        return 0;
    if (q < c->end && *q == '.') {
        real = 1;
        if (++q >= c->end || !is_digit(*q))
            return 0;
        const char *f0 = q;
        if (m == 0) /* the leading zeros of 0.000123 are not significant digits */
            while (q < c->end && *q == '0')
                q++;
        const char *f1 = q;
        for (; q < c->end && is_digit(*q); q++)
            m = m * 10 + (uint64_t)(*q - '0');
        nd += (int)(q - f1);
        e = -(int)(q - f0);
    }
    if (q < c->end && (*q == 'e' || *q == 'E')) {
        real = 1;
        if (++q < c->end && (*q == '+' || *q == '-'))
            eneg = *q++ == '-';
        if (q >= c->end || !is_digit(*q))
            return 0;
        for (; q < c->end && is_digit(*q); q++, exd++)
            ex = exd < 6 ? ex * 10 + (*q - '0') : ex;
    }
    size_t n = (size_t)(q - s);
    if (real && nd <= 19 && exd < 6) {
        double d;
        if (m == 0) {
            c->p = q;
            *out = neg ? -0.0 : 0.0; /* as strtod reads "-0.0" */
            return 1;
        }
        if (fast_decimal(m, e + (eneg ? -ex : ex), as_float, &d)) {
            c->p = q;
            *out = neg ? -d : d;
            return 1;
        }
    }
    char tok[64];
    if (n >= sizeof tok)
        return 0;
    memcpy(tok, s, n);
    tok[n] = '\0';
    char *end;
    errno = 0;
    double d;
    if (real) {
        d = strtod(tok, &end);
    } else {
        long long i = strtoll(tok, &end, 10);
        if (errno == ERANGE)
            return 0;
        d = (double)i;
    }
    /* all of the token read (a locale whose decimal point is not '.' would
    ** stop strtod short: jansson copes with that, so leave it to jansson) */
    if (end != tok + n || !(fabs(d) <= 3.4028234663852886e38))
        return 0;
    c->p = q;
    *out = d;
    return 1;
}

int mbsv_fast_rows(const char *body, size_t len, size_t nin, const unsigned char *as_float, double **values,
                   size_t *nrows)
{
    *values = NULL;
    *nrows = 0;
    if (!body || nin == 0)
        return 0;
    cursor c = {body, body + len};
    static const char key[] = "\"instances\"";
    if (!take(&c, '{'))
        return 0;
    skip_ws(&c);
    if ((size_t)(c.end - c.p) < sizeof key - 1 || memcmp(c.p, key, sizeof key - 1) != 0)
        return 0;
    c.p += sizeof key - 1;
    if (!take(&c, ':') || !take(&c, '['))
        return 0;
    double *v = NULL;
    size_t n = 0, cap = 0;
    do {
        if (!take(&c, '['))
            goto give_up;
        if (n == cap) {
            /* rows are at least 2 bytes each: n stays far below SIZE_MAX / nin */
            size_t ncap = cap ? 2 * cap : 4;
            double *w = mb_tryrealloc(v, ncap * nin * sizeof *v);
            if (!w)
                goto give_up;
            v = w;
            cap = ncap;
        }
        for (size_t j = 0; j < nin; j++)
            if ((j && !take(&c, ',')) || !value(&c, &v[n * nin + j], as_float && as_float[j]))
                goto give_up;
        if (!take(&c, ']'))
            goto give_up;
        n++;
    } while (take(&c, ','));
    if (!take(&c, ']') || !take(&c, '}'))
        goto give_up;
    skip_ws(&c);
    if (c.p != c.end)
        goto give_up;
    *values = v;
    *nrows = n;
    return 1;
give_up:
    mb_free(v);
    return 0;
}
