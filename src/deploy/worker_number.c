/*
** worker_number.c: the worker's fast path for a field value that is a
** plain decimal ("-0.123456789", "5.1", "1e-05"), exact: it returns the
** double strtod would (glibc's strtod rounds correctly), or 0 when it
** cannot promise that, and the caller then takes the runtime's own text
** parse (mb_runtime_row_set_text). strtod was 15% of the worker's
** instructions on the bench's entries (%.9g values, 32 fields each).
**
** Why it is exact (Clinger's fast path): with at most 19 digits the
** digits form an integer m held exactly in a uint64; when m <= 2^53 it is
** exact as a double, and so is 10^e for |e| <= 22; one IEEE multiply or
** divide of two exact values is rounded once, to nearest, which is the
** correctly rounded value of m * 10^e. Anything else (more digits, a
** larger exponent, blanks, "inf", ".5", "1.") is left to the slow path.
*/
#include <stdint.h>
#include <string.h>

#include "worker.h"

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int digit(char c) { return c >= '0' && c <= '9'; }

/* Eight digits at a time (the bench's values have nine after the point):
** the bytes of s as one little-endian word, tested and converted in a few
** word operations (the SWAR method of Lemire's fast_float). Byte-wise
** where the byte order is not known to be little-endian. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static int eight_digits(const char *s, uint64_t *v)
{
    uint64_t x;
    memcpy(&x, s, 8);
    /* each byte 0x30..0x39: high nibble 3, and adding 6 does not carry out of the low one */
    if (((x & 0xF0F0F0F0F0F0F0F0u) | (((x + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) >> 4)) !=
        0x3333333333333333u)
        return 0;
    x -= 0x3030303030303030u;
    x = x * 10 + (x >> 8); /* byte pairs: 10 * d0 + d1 in the even bytes */
    x = (((x & 0x000000FF000000FFu) * (100 + (1000000ull << 32))) +
         (((x >> 16) & 0x000000FF000000FFu) * (1 + (10000ull << 32)))) >> 32;
    *v = x;
    return 1;
}
#else
static int eight_digits(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) {
        if (!digit(s[i]))
            return 0;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return 1;
}
#endif

/* The digits at s[*i..n) into *m (wrapping past 19 digits: the caller
** refuses those); how many. */
static int digits(const char *s, size_t n, size_t *i, uint64_t *m)
{
    int nd = 0;
    uint64_t eight;
    while (n - *i >= 8 && eight_digits(s + *i, &eight))
        *m = *m * 100000000u + eight, *i += 8, nd += 8;
    for (; *i < n && digit(s[*i]); ++*i, nd++)
        *m = *m * 10 + (uint64_t)(s[*i] - '0');
    return nd;
}

int mbwk_parse_decimal(const char *s, size_t n, double *v)
{
    size_t i = 0;
    int neg = 0, nd = 0, e = 0;
    uint64_t m = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n || !digit(s[i]))
        return 0;
    nd = digits(s, n, &i, &m);
    if (i < n && s[i] == '.') {
        if (++i == n || !digit(s[i]))
            return 0;
        int frac = digits(s, n, &i, &m);
        nd += frac, e -= frac;
    }
    if (nd > 19) /* m may have wrapped: the slow path decides */
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0, x = 0, xd = 0;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < n && digit(s[i]) && xd < 4; i++, xd++)
            x = x * 10 + (s[i] - '0');
        if (!xd)
            return 0;
        e += eneg ? -x : x;
    }
    if (i != n || m > ((uint64_t)1 << 53) || e < -22 || e > 22)
        return 0;
    double d = (double)m;
    d = e >= 0 ? d * pow10_exact[e] : d / pow10_exact[-e];
    *v = neg ? -d : d;
    return 1;
}
