/*
** serve_json.c: JSON text the server writes without building a jansson
** tree: a float32 as the shortest decimal that reads back as it, and the
** whole body of POST /predict's reply. Before, each probability was a
** search over snprintf("%.*g", 6..9) and strtof, then json_real and
** jansson's dump (about 9,000 instructions per number, half of an MLP
** request's reply); the text here is byte for byte what that gave
** (tests/unit/test_serve_json.c compares them on millions of floats).
**
** The shortest decimal, exactly. With x = |f| (a double, exactly), the
** 9-digit decimal N9 * 10^(X-8) nearest x comes from y = x * 10^(8-X),
** computed with at most three roundings (relative error < 2^-51, so under
** 2^-21 on y < 2^30): when y's fraction is not within 2^-16 of one half,
** floor(y + 1/2) is N9 exactly. Rounding N9 to p < 9 digits gives x's own
** p-digit rounding unless N9's dropped digits are exactly 5000...: x lies
** on the same side of every p-digit midpoint as N9 (those midpoints have
** 9 digits and rounding to 9 digits is monotone); when N9 is that
** midpoint, y - N9 (beyond the same 2^-16 margin) gives x's side of it. The p-digit candidate c
** reads back as f when it lies strictly between f's midpoints with its
** float neighbours (exact in double), which c's double (again within
** 2^-51) shows unless it is within 2^-48 of one. Whenever a margin is not
** met, or x is subnormal or above 1e38, the old search decides (slow,
** rare). jansson then wrote the double of that decimal with %.9g, which
** gives the decimal's own digits back, in %g's layout, with ".0" added
** to a number with neither '.' nor 'e' and the exponent's '+' and
** leading zeros removed (jansson's jsonp_dtostr): format() below.
*/
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
static const uint64_t u10[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

/* v * 10^k for |k| <= 66, in steps of at most 10^22: at most three
** roundings of exact operands. */
static double scale10(double v, int k)
{
    while (k > 22) {
        v *= p10[22];
        k -= 22;
    }
    while (k < -22) {
        v /= p10[22];
        k += 22;
    }
    return k >= 0 ? v * p10[k] : v / p10[-k];
}

/* x = |f| >= 1e-37: the shortest p in 6..9 whose p-digit rounding reads
** back as f, as digits q (p of them) and decimal exponent e10 (q's first
** digit is at 10^e10); 0 when a margin above is not met. */
static int digits_fast(float af, uint64_t *q_out, int *p_out, int *x_out, double *value)
{
    double a = (double)af;
    int x = (int)floor(log10(a));
    uint64_t n9 = 0;
    double delta = 0;
    for (int tries = 0;; tries++) {
        if (tries == 3)
            return 0;
        double y = scale10(a, 8 - x);
        if (y < 1e8) {
            x--;
            continue;
        }
        if (y >= 1e9) {
            x++;
            continue;
        }
        double r = floor(y), fr = y - r;
        if (fabs(fr - 0.5) < 0x1p-16)
            return 0;
        n9 = (uint64_t)r + (fr > 0.5);
        delta = y - (double)n9; /* x's side of N9, to break p-digit ties below */
        if (n9 == u10[9]) {
            n9 = u10[8];
            x++;
        }
        break;
    }
    /* f's neighbours: af is positive and normal, below 1e38 */
    float below, above;
    uint32_t u;
    memcpy(&u, &af, sizeof u);
    u--;
    memcpy(&below, &u, sizeof below);
    u += 2;
    memcpy(&above, &u, sizeof above);
    double lo = ((double)af + (double)below) / 2, hi = ((double)af + (double)above) / 2;
    for (int p = 6; p <= 9; p++) {
        uint64_t div = u10[9 - p], q = n9 / div, tail = n9 % div;
        int xp = x;
        if (div > 1) {
            if (tail == div / 2) { /* N9 is a p-digit midpoint: x's side of it decides */
                if (fabs(delta) < 0x1p-16)
                    return 0;
                q += delta > 0;
            } else {
                q += tail > div / 2;
            }
            if (q == u10[p]) {
                q = u10[p - 1];
                xp++;
            }
        }
        double d = scale10((double)q, xp - (p - 1));
        if (fabs(d - lo) <= lo * 0x1p-48 || fabs(d - hi) <= hi * 0x1p-48)
            return 0;
        if (d > lo && d < hi) {
            *q_out = q;
            *p_out = p;
            *x_out = xp;
            *value = d;
            return 1;
        }
    }
    return 0;
}

/* The text of q (p digits, the first at 10^x) as %.9g then jansson lay it
** out; b holds at least 32 bytes. */
static size_t format(char *b, int neg, uint64_t q, int p, int x)
{
    char dg[10];
    int n = p;
    while (n > 1 && q % 10 == 0) {
        q /= 10;
        n--;
    }
    for (int i = n - 1; i >= 0; i--) {
        dg[i] = (char)('0' + q % 10);
        q /= 10;
    }
    size_t len = 0;
    if (neg)
        b[len++] = '-';
    if (x < -4 || x >= 9) {
        b[len++] = dg[0];
        if (n > 1) {
            b[len++] = '.';
            memcpy(b + len, dg + 1, (size_t)n - 1);
            len += (size_t)n - 1;
        }
        b[len++] = 'e';
        if (x < 0)
            b[len++] = '-';
        unsigned ax = (unsigned)(x < 0 ? -x : x); /* 9..38 or 5..45: two digits */
        if (ax >= 10)
            b[len++] = (char)('0' + ax / 10);
        b[len++] = (char)('0' + ax % 10);
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++)
            b[len++] = i < n ? dg[i] : '0';
        b[len++] = '.';
        if (n > x + 1) {
            memcpy(b + len, dg + x + 1, (size_t)(n - x - 1));
            len += (size_t)(n - x - 1);
        } else {
            b[len++] = '0';
        }
    } else {
        b[len++] = '0';
        b[len++] = '.';
        for (int i = 0; i < -x - 1; i++)
            b[len++] = '0';
        memcpy(b + len, dg, (size_t)n);
        len += (size_t)n;
    }
    b[len] = '\0';
    return len;
}

/* The old way, for what the fast one cannot promise: the shortest %.*g
** that strtof reads back, its double, and jansson's own dump of it. */
static size_t float_text_slow(float f, char *buf, double *value)
{
    char t[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(t, sizeof t, "%.*g", p, (double)f);
        if (strtof(t, NULL) == f)
            break;
    }
    *value = strtod(t, NULL);
    json_t *j = json_real(*value);
    char *s = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    size_t len = s ? strlen(s) : 0;
    if (!s || len >= 32) { /* cannot happen: %.9g of a double fits */
        len = 0;
        buf[0] = '\0';
    } else {
        memcpy(buf, s, len + 1);
    }
    free(s);
    return len;
}

size_t mbsv_float_text(float f, char *buf, double *value)
{
    if (!isfinite(f)) {
        *value = (double)NAN;
        memcpy(buf, "null", 5);
        return 4;
    }
    if (f == 0) {
        *value = (double)f;
        return format(buf, signbit(f) != 0, 0, 1, 0);
    }
    float af = fabsf(f);
    uint64_t q;
    int p, x;
    if (af >= 1e-37f && af <= 1e38f && digits_fast(af, &q, &p, &x, value)) {
        if (f < 0)
            *value = -*value;
        return format(buf, f < 0, q, p, x);
    }
    return float_text_slow(f, buf, value);
}

/* {====== the reply of POST /predict ======} */

typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void put(text *t, const char *s, size_t n)
{
    memcpy(t->p + t->len, s, n); /* the capacity was counted beforehand */
    t->len += n;
}

char *mbsv_predict_body(const mbsv_predict_rows *r, size_t *len)
{
    /* an upper bound: each label's JSON, each number at most 31 bytes, separators */
    size_t cap = 64, each = 32 + 2;
    for (size_t i = 0; i < r->n; i++)
        cap += (r->class_json ? strlen(r->class_json[r->label[i]]) : 32) + 1;
    if (r->k && r->n > (SIZE_MAX - cap) / (r->k * each + 3))
        return NULL;
    cap += r->n * (r->k * each + 3);
    text t = {mb_trymalloc(cap), 0, cap};
    if (!t.p)
        return NULL;
    char num[32];
    double v;
    put(&t, "{\"predictions\":[", 16);
    for (size_t i = 0; i < r->n; i++) {
        if (i)
            put(&t, ",", 1);
        if (r->class_json)
            put(&t, r->class_json[r->label[i]], strlen(r->class_json[r->label[i]]));
        else
            put(&t, num, mbsv_float_text(r->value[i], num, &v));
    }
    put(&t, "]", 1);
    if (r->k) {
        put(&t, ",\"probabilities\":[", 18);
        for (size_t i = 0; i < r->n; i++) {
            put(&t, i ? ",[" : "[", i ? 2 : 1);
            for (size_t c = 0; c < r->k; c++) {
                if (c)
                    put(&t, ",", 1);
                put(&t, num, mbsv_float_text(r->proba[i * r->k + c], num, &v));
            }
            put(&t, "]", 1);
        }
        put(&t, "]", 1);
    }
    put(&t, "}", 2); /* with the NUL */
    *len = t.len - 1;
    return t.p;
}
