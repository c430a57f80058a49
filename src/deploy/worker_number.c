/*
** worker_number.c: the worker's exact fast paths for numbers as text:
** reading a field value that is a plain decimal ("-0.123456789", "5.1",
** "1e-05"), and writing a probability as %.6g (at the end of the file).
** The parse returns the double strtod would (glibc's strtod rounds correctly), or 0 when it
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

int mbwk_parse_decimal(const char *s, size_t n, double *v)
{
    size_t i = 0;
    int neg = 0, nd = 0, e = 0;
    uint64_t m = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n || !digit(s[i]))
        return 0;
    /* m wraps past 19 digits: refused below */
    for (; i < n && digit(s[i]); i++, nd++) /* the integer part: a digit or two, as a rule */
        m = m * 10 + (uint64_t)(s[i] - '0');
    if (i < n && s[i] == '.') {
        if (++i == n || !digit(s[i]))
            return 0;
        size_t i0 = i;
        uint64_t eight;
        while (n - i >= 8 && eight_digits(s + i, &eight))
            m = m * 100000000u + eight, i += 8;
        for (; i < n && digit(s[i]); i++)
            m = m * 10 + (uint64_t)(s[i] - '0');
        nd += (int)(i - i0), e -= (int)(i - i0);
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

/* {====== %.6g of a probability ======} */

/* The output side's counterpart: printf's "%.6g" of a float in [10^-4, 1)
** (a probability; 0 too), exact: snprintf was 7% of the worker's
** instructions (two a binary prediction). The float is m * 2^-s, m < 2^24,
** s <= 37 there; with D digits after the point (5 - the decimal exponent,
** 6..9), N = m * 10^D < 2^54 is exact in a uint64, and its integer and
** fractional parts q and r/2^s are exact too, so rounding q to nearest
** with ties to even (glibc's rule, on the exact binary value) gives
** printf's six digits. %g's style f then prints q / 10^D without trailing
** zeros. Anything else (negative, tiny, >= 1, not finite): 0, and the
** caller takes snprintf. */
size_t mbwk_format_proba(float p, char *out)
{
    uint32_t bits;
    memcpy(&bits, &p, sizeof bits);
    if (bits == 0) { /* +0 (-0 prints "-0": snprintf's) */
        out[0] = '0', out[1] = '\0';
        return 1;
    }
    double d = p;
    if (!(d >= 1e-4 && d < 1))
        return 0;
    /* a normal float: (2^23 + fraction) * 2^(exponent - 150) */
    uint64_t m = ((uint64_t)1 << 23) | (bits & 0x7FFFFF);
    int s = 150 - (int)(bits >> 23 & 0xFF); /* p = m / 2^s, s 24..37 */
    /* the decimal exponent X, -4..-1: exact, as no float lies between 10^-k
    ** and its double (the float constants would not do: 0.01f < 0.01) */
    int D = d >= 0.1 ? 6 : d >= 0.01 ? 7 : d >= 0.001 ? 8 : 9;
    uint64_t n = m * (uint64_t)pow10_exact[D];
    uint64_t q = n >> s, r = n & (((uint64_t)1 << s) - 1), half = (uint64_t)1 << (s - 1);
    if (q < 100000 || q > 999999)
        return 0; /* not six digits: the exponent guess was off (cannot happen; kept safe) */
    if (r > half || (r == half && (q & 1)))
        q++;
    if (q == 1000000) /* rounded up to the next power of ten: one digit fewer after the point */
        q = 100000, D--;
    char digits[6];
    for (int j = 5; j >= 0; j--, q /= 10)
        digits[j] = (char)('0' + q % 10);
    size_t len = 0;
    int intdigits = 6 - D; /* 0, or 1 for "1" (D 5) */
    if (intdigits <= 0) {
        out[len++] = '0';
    } else {
        for (int j = 0; j < intdigits; j++)
            out[len++] = digits[j];
    }
    size_t point = len;
    out[len++] = '.';
    for (int j = intdigits; j < 0; j++)
        out[len++] = '0';
    for (int j = intdigits > 0 ? intdigits : 0; j < 6; j++)
        out[len++] = digits[j];
    while (len > point + 1 && out[len - 1] == '0')
        len--;
    if (len == point + 1)
        len = point; /* no fraction left: no point either */
    out[len] = '\0';
    return len;
}
