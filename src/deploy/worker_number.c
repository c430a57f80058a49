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

#include "worker.h"

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int digit(char c) { return c >= '0' && c <= '9'; }

int mbwk_parse_decimal(const char *s, size_t n, double *v)
{
    size_t i = 0;
    int neg = 0, nd = 0, e = 0;
    uint64_t m = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n || !digit(s[i]))
        return 0;
    for (; i < n && digit(s[i]); i++, nd++)
        m = m * 10 + (uint64_t)(s[i] - '0');
    if (i < n && s[i] == '.') {
        if (++i == n || !digit(s[i]))
            return 0;
        for (; i < n && digit(s[i]); i++, nd++, e--)
            m = m * 10 + (uint64_t)(s[i] - '0');
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
