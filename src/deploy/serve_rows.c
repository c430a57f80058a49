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
** range gives up (jansson refuses it).
*/
#include <errno.h>
#include <math.h>
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

/* One value: null (NaN) or a number in float32's range; 0 to give up. */
static int value(cursor *c, double *out)
{
    skip_ws(c);
    if (c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
        c->p += 4;
        *out = (double)NAN;
        return 1;
    }
    /* RFC 8259's number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    const char *s = c->p, *q = s;
    int real = 0;
    if (q < c->end && *q == '-')
        q++;
    if (q < c->end && *q == '0')
        q++;
    else if (q < c->end && *q >= '1' && *q <= '9')
        while (q < c->end && is_digit(*q))
            q++;
    else
        return 0;
    if (q < c->end && *q == '.') {
        real = 1;
        if (++q >= c->end || !is_digit(*q))
            return 0;
        while (q < c->end && is_digit(*q))
            q++;
    }
    if (q < c->end && (*q == 'e' || *q == 'E')) {
        real = 1;
        if (++q < c->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= c->end || !is_digit(*q))
            return 0;
        while (q < c->end && is_digit(*q))
            q++;
    }
    char tok[64];
    size_t n = (size_t)(q - s);
    if (n >= sizeof tok)
        return 0;
    memcpy(tok, s, n);
    tok[n] = '\0';
    char *e;
    errno = 0;
    double d;
    if (real) {
        d = strtod(tok, &e);
    } else {
        long long i = strtoll(tok, &e, 10);
        if (errno == ERANGE)
            return 0;
        d = (double)i;
    }
    /* all of the token read (a locale whose decimal point is not '.' would
    ** stop strtod short: jansson copes with that, so leave it to jansson) */
    if (e != tok + n || !(fabs(d) <= 3.4028234663852886e38))
        return 0;
    c->p = q;
    *out = d;
    return 1;
}

int mbsv_fast_rows(const char *body, size_t len, size_t nin, double **values, size_t *nrows)
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
            if ((j && !take(&c, ',')) || !value(&c, &v[n * nin + j]))
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
