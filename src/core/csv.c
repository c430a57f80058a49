/*
** csv.c: the streaming CSV reader (see csv.h for the interface).
**
** DESIGN
** ------
** The file is read with large read() calls into one buffer (1 MiB, grown
** only when a single record is longer). The buffer always ends in a few
** '\n' bytes past the data, so the scanners stop at a line end without
** checking bounds on every byte; a line end found *at* the end of the
** data means "the record is cut here": the record is moved to the front of
** the buffer, more bytes are read and the record is scanned again from its
** start. Only whole records ever change state (types, levels, row counts),
** and the part of a record seen before a refill is harmless to redo.
**
** Fields are found through 64-byte windows of bit masks (delimiters and
** line ends, digits, dots, signs; built with SSE2 on x86): the next field
** end is the lowest set bit, so the loops do not walk the bytes, and a
** plain decimal ([+-] digits [. digits]) is recognised with a few mask
** operations. Quoted fields, long fields and anything unusual take a
** byte-by-byte path.
**
** Pass 1 (mb_csv_open) reads the header, then checks the shape of every
** record and decides each column's type with a syntactic test only (no
** conversion): a number is [+-] digits [. digits] [e [+-] digits], or
** inf/infinity, with surrounding blanks. Pass 2 (mb_csv_read) converts
** plain decimals of up to 15 bytes with SSE2 (plain_value: exact integer
** digits, one multiplication, a check for float rounding boundaries).
** Other numbers go through scan_number: up to 19 digits in a uint64 and,
** when the mantissa is below 2^53 and the power of ten within 1e22, an
** exact double (Clinger's fast path); the rest go to strtod on a copy that
** uses the C library's decimal point, so a program that has called
** setlocale still reads "1.5" right. Every path gives exactly
** (float)strtod(field).
**
** The value of an unquoted field is its text without surrounding blanks
** (spaces, and tabs unless tab is the delimiter); a quoted field's value is
** exactly what is between the quotes, with "" read as ". Whitespace-only
** lines are skipped, as pandas does. Records are limited to
** MB_CSV_MAX_RECORD bytes so that a stray quote cannot make the reader
** swallow the whole file.
*/
#include "csv.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MB_CSV_BUFSIZE     ((size_t)1 << 20)  /* bytes per read() */
#define MB_CSV_PAD         128                /* '\n' bytes after the data */
#define MB_CSV_MAX_RECORD  ((size_t)64 << 20) /* longest record accepted */
#define MB_CSV_SNIFF_BYTES ((size_t)64 << 10) /* sample for delimiter detection */
#define MB_CSV_SNIFF_LINES 20
#define MB_CSV_CHUNK_CELLS ((size_t)16 << 20) /* values in one chunk frame (64 MiB) */

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Test hook: when nonzero, each refill reads at most this many bytes, so
** that tests can cut records at every byte. Not thread-safe; tests only. */
static size_t csv_readsize;
void mbcsv_set_readsize(size_t n);
void mbcsv_set_readsize(size_t n) { csv_readsize = n; }

typedef struct rdr {
    int fd;
    char *buf;       /* cap + MB_CSV_PAD bytes */
    size_t cap;
    size_t len;      /* bytes of data in buf */
    size_t pos;      /* start of the next record */
    int eof;
    uint64_t off;    /* file offset of buf[0] */
} rdr;

/* Where pass 2 puts column j of the destination frame. */
typedef struct colslot {
    float *num;      /* numeric column, or NULL */
    size_t stride;
    int32_t *codes;  /* categorical column, or NULL */
    mb_dict *dict;
} colslot;

struct mb_csv {
    char *path;
    char delim;
    char dp[8];              /* the C library's decimal point, for strtod */
    rdr r;
    size_t ncols;
    char **names;            /* header fields while parsing the header */
    size_t nnames, capnames;
    unsigned char *isnum;    /* pass 1: column j has only numbers so far */
    size_t nrows;
    uint64_t data_off;       /* file offset of the first byte after the header */
    size_t data_line;        /* its line number */
    mb_frame *schema;
    mb_dict *dicts;          /* one per column; used for categorical ones */
    colslot *slots;
    size_t line;             /* pass 2: line of the next record */
    size_t rows_done;        /* pass 2: rows read so far */
    char *scratch;           /* pass 2: unescaped quoted fields */
    size_t scratchcap;
    int broken;              /* pass 2 failed; the position is lost */
};

/* {====== field scanners ======} */

static inline int is_digit(char ch) { return (unsigned)(ch - '0') < 10u; }

static inline int is_blank(char ch, char d)
{
    return (ch == ' ' || ch == '\t') && ch != d;
}

/* Is q the end of a field: the delimiter, CRLF or LF? */
static inline int is_term(const char *q, char d)
{
    return *q == d || *q == '\n' || (*q == '\r' && q[1] == '\n');
}

/* The delimiter or '\n' that ends the unquoted field at p. The sentinel
** after the data guarantees one. */
static inline const char *field_end(const char *p, char d)
{
    while (*p != d && *p != '\n')
        p++;
    return p;
}

/* End of the content of an unquoted field that starts at p and is ended by
** q (from field_end): a '\r' before the '\n' is not content. */
static inline const char *content_end(const char *p, const char *q)
{
    return (*q == '\n' && q > p && q[-1] == '\r') ? q - 1 : q;
}

static inline void trim(const char **b, const char **e, char d)
{
    while (*b < *e && is_blank(**b, d))
        (*b)++;
    while (*e > *b && is_blank((*e)[-1], d))
        (*e)--;
}

static inline int lower_eq(char ch, char lc) { return (ch | 0x20) == lc; }

/* Empty, NA, N/A, NaN, ?, null, in any case. */
static int is_missing(const char *s, size_t n)
{
    switch (n) {
    case 0:
        return 1;
    case 1:
        return s[0] == '?';
    case 2:
        return lower_eq(s[0], 'n') && lower_eq(s[1], 'a');
    case 3:
        return lower_eq(s[0], 'n') && ((s[1] == '/' && lower_eq(s[2], 'a')) ||
                                       (lower_eq(s[1], 'a') && lower_eq(s[2], 'n')));
    case 4:
        return lower_eq(s[0], 'n') && lower_eq(s[1], 'u') && lower_eq(s[2], 'l') &&
               lower_eq(s[3], 'l');
    default:
        return 0;
    }
}

/* A decimal number split into its parts by scan_number. */
typedef struct numparts {
    uint64_t mant;   /* the digits, valid when ndig <= 19 */
    int64_t exp10;   /* value = mant * 10^exp10 */
    int ndig;        /* digits in mant; 20 means "more than 19" */
    int neg;
    int inf;         /* inf or infinity */
} numparts;

/* Scan the longest number at p ([+-] digits [. digits] [e [+-] digits],
** or [+-] inf/infinity). Returns the end, or p when there is no number.
** Never reads past a byte that cannot continue a number. */
static inline __attribute__((always_inline)) const char *scan_number(const char *p, numparts *n)
{
    const char *s = p;
    n->neg = 0;
    n->inf = 0;
    if (*p == '-') {
        n->neg = 1;
        p++;
    } else if (*p == '+') {
        p++;
    }
    const char *d0 = p;
    uint64_t m = 0;
    while (is_digit(*p))
        m = 10 * m + (uint64_t)(*p++ - '0');
    size_t nint = (size_t)(p - d0), nfrac = 0;
    if (*p == '.') {
        const char *f0 = ++p;
        while (is_digit(*p))
            m = 10 * m + (uint64_t)(*p++ - '0');
        nfrac = (size_t)(p - f0);
    }
    if (unlikely(nint + nfrac == 0)) {
        p = d0;
        if (lower_eq(p[0], 'i') && lower_eq(p[1], 'n') && lower_eq(p[2], 'f')) {
            p += 3;
            if (lower_eq(p[0], 'i') && lower_eq(p[1], 'n') && lower_eq(p[2], 'i') &&
                lower_eq(p[3], 't') && lower_eq(p[4], 'y'))
                p += 5;
            n->inf = 1;
            n->mant = 0;
            n->exp10 = 0;
            n->ndig = 0;
            return p;
        }
        return s;
    }
    int64_t e = 0;
    if (lower_eq(*p, 'e')) {
        const char *q = p + 1;
        int eneg = 0;
        if (*q == '-') {
            eneg = 1;
            q++;
        } else if (*q == '+') {
            q++;
        }
        if (is_digit(*q)) {
            do {
                if (e < 100000000)
                    e = 10 * e + (*q - '0');
                q++;
            } while (is_digit(*q));
            if (eneg)
                e = -e;
            p = q;
        }
    }
    n->mant = m;
    n->exp10 = e - (int64_t)nfrac;
    n->ndig = nint + nfrac > 19 ? 20 : (int)(nint + nfrac);
    return p;
}

/* Is [b, e) a number, blanks around it allowed? */
static int text_is_number(const char *b, const char *e, char d)
{
    trim(&b, &e, d);
    numparts n;
    const char *q = scan_number(b, &n);
    return q != b && q == e;
}

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The exact double of n when Clinger's fast path applies; 0 otherwise. */
static inline int num_fast(const numparts *n, double *out)
{
    double x;
    if (unlikely(n->inf)) {
        x = (double)INFINITY;
    } else if (n->ndig > 19) {
        return 0;
    } else if (n->mant == 0) {
        x = 0.0;
    } else if (n->mant <= ((uint64_t)1 << 53) && n->exp10 >= -22 && n->exp10 <= 22) {
        x = (double)n->mant;
        x = n->exp10 < 0 ? x / pow10_exact[-n->exp10] : x * pow10_exact[n->exp10];
    } else {
        return 0;
    }
    *out = n->neg ? -x : x;
    return 1;
}

/* {====== 64-byte windows ======}
** The hot loops do not look for the end of each field byte by byte: a
** window holds bit masks of 64 bytes of input (delimiters and line ends,
** digits, dots, signs), so the next field end is the lowest set bit and a
** plain decimal ([+-] digits [. digits]) is recognised with a few mask
** operations. SSE2 (part of every x86-64) builds the masks; elsewhere a
** byte loop does. A window always starts at a field start; it is reloaded
** when its ends run out or a slow path moved the position. The buffer
** has MB_CSV_PAD '\n' bytes after the data, so a window that starts at or
** before the end of the data stays inside it. */

typedef struct win {
    const char *base;
    uint64_t term;   /* delimiters and '\n' not consumed yet */
    uint64_t dig;    /* '0'..'9' */
    uint64_t dot;    /* '.' */
    uint64_t sgn;    /* '+' and '-' */
} win;

#if defined(__SSE2__)
#include <emmintrin.h>

static inline uint64_t mask16(__m128i m, unsigned shift)
{
    return (uint64_t)(unsigned)_mm_movemask_epi8(m) << shift;
}

static inline void win_load(win *w, const char *p, char d)
{
    const __m128i vd = _mm_set1_epi8(d), vnl = _mm_set1_epi8('\n'), vdot = _mm_set1_epi8('.'),
                  vminus = _mm_set1_epi8('-'), vplus = _mm_set1_epi8('+'),
                  vlo = _mm_set1_epi8('0' - 1), vhi = _mm_set1_epi8('9' + 1);
    uint64_t t = 0, dg = 0, dt = 0, sg = 0;
    for (unsigned i = 0; i < 64; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        t |= mask16(_mm_or_si128(_mm_cmpeq_epi8(x, vd), _mm_cmpeq_epi8(x, vnl)), i);
        dg |= mask16(_mm_and_si128(_mm_cmpgt_epi8(x, vlo), _mm_cmplt_epi8(x, vhi)), i);
        dt |= mask16(_mm_cmpeq_epi8(x, vdot), i);
        sg |= mask16(_mm_or_si128(_mm_cmpeq_epi8(x, vminus), _mm_cmpeq_epi8(x, vplus)), i);
    }
    w->base = p;
    w->term = t;
    w->dig = dg;
    w->dot = dt;
    w->sgn = sg;
}
#else
static inline void win_load(win *w, const char *p, char d)
{
    uint64_t t = 0, dg = 0, dt = 0, sg = 0;
    for (unsigned i = 0; i < 64; i++) {
        uint64_t bit = (uint64_t)1 << i;
        char ch = p[i];
        t |= ch == d || ch == '\n' ? bit : 0;
        dg |= is_digit(ch) ? bit : 0;
        dt |= ch == '.' ? bit : 0;
        sg |= ch == '-' || ch == '+' ? bit : 0;
    }
    w->base = p;
    w->term = t;
    w->dig = dg;
    w->dot = dt;
    w->sgn = sg;
}
#endif

/* The next field end in the window (a delimiter or '\n'), consumed; NULL
** when the window has none left. */
static inline const char *win_next(win *w)
{
    if (!w->term)
        return NULL;
    unsigned e = (unsigned)__builtin_ctzll(w->term);
    w->term &= w->term - 1;
    return w->base + e;
}

/* A plain decimal field, as win_plain found it. */
typedef struct plainnum {
    unsigned len;    /* field length */
    unsigned dot;    /* index of the '.', or len */
    unsigned sign;   /* 1 when it starts with '+' or '-' */
} plainnum;

/* Is the field [p, q) of the window a plain decimal? */
static inline int win_plain(const win *w, const char *p, const char *q, plainnum *pn)
{
    unsigned a = (unsigned)(p - w->base), e = (unsigned)(q - w->base); /* a <= e < 64 */
    uint64_t field = (((uint64_t)1 << e) - 1) & ~(((uint64_t)1 << a) - 1);
    uint64_t lead = field & (0 - field), sign = w->sgn & lead;
    uint64_t other = field & ~w->dig & ~sign; /* must be nothing or one '.' */
    if ((other & ~w->dot) || (other & (other - 1)) || !(field & w->dig))
        return 0;
    pn->len = e - a;
    pn->sign = sign != 0;
    pn->dot = other ? (unsigned)__builtin_ctzll(other) - a : e - a;
    return 1;
}

#if defined(__SSE2__) && defined(__x86_64__)
#define MB_CSV_PLAIN_VALUE 1

static const uint64_t pow10_u64[16] = {
    1ULL,           10ULL,           100ULL,           1000ULL,
    10000ULL,       100000ULL,       1000000ULL,       10000000ULL,
    100000000ULL,   1000000000ULL,   10000000000ULL,   100000000000ULL,
    1000000000000ULL, 10000000000000ULL, 100000000000000ULL, 1000000000000000ULL,
};

static const double pow10_inverse[32] = {
    1e0,   1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,  1e-8,  1e-9,  1e-10,
    1e-11, 1e-12, 1e-13, 1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21,
    1e-22, 1e-23, 1e-24, 1e-25, 1e-26, 1e-27, 1e-28, 1e-29, 1e-30, 1e-31,
};

/* 16 bytes 0xFF, then 16 zero bytes: the 16 bytes at first_k + 16 - k are
** a mask whose first k bytes are set. */
static const unsigned char first_k[32] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

static inline __m128i first_k_mask(unsigned k)
{
    return _mm_loadu_si128((const __m128i *)(const void *)(first_k + 16 - k));
}

/* The value of a plain decimal of at most 15 bytes: exactly (float)strtod.
** SSE2 lines its n <= 15 digits up in 16 places, the '.' left out and
** zeros after, and adds them up pairwise (madd) into the integer
** m * 10^(16-n) = (m * 5^z) * 2^z, z = 16 - n. As m * 5^z < 10^n *
** 5^(16-n) <= 2^15 * 5^16 < 2^53, that integer is exact as a double.
** Multiplying it by 1e-K (K = 16 - n + decimals; much faster than a
** division) lands within two units in the last place of the exact double;
** rounding either to float gives the same result unless a float rounding
** boundary (a double whose low 29 mantissa bits are 0x10000000) is that
** close, when an exact division decides. No other branches: the shapes of
** neighbouring fields vary at random. The sign goes on last: rounding is
** symmetric. */
static inline float plain_value(const char *p, const plainnum *pn)
{
    const char *s = p + pn->sign;
    unsigned hasdot = pn->dot < pn->len, dot = pn->dot - pn->sign;
    unsigned n = pn->len - pn->sign - hasdot;   /* digits, 1..15 */
    unsigned nfrac = pn->len - pn->dot - hasdot; /* 0 without a dot */
    __m128i before = first_k_mask(dot);
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 1));
    __m128i dig = _mm_or_si128(_mm_and_si128(before, a), _mm_andnot_si128(before, b));
    dig = _mm_and_si128(_mm_sub_epi8(dig, _mm_set1_epi8('0')), first_k_mask(n));
    const __m128i zero = _mm_setzero_si128();
    __m128i lo = _mm_madd_epi16(_mm_unpacklo_epi8(dig, zero), _mm_set1_epi32(1 << 16 | 10));
    __m128i hi = _mm_madd_epi16(_mm_unpackhi_epi8(dig, zero), _mm_set1_epi32(1 << 16 | 10));
    __m128i quads = _mm_madd_epi16(_mm_packs_epi32(lo, hi), _mm_set1_epi32(1 << 16 | 100));
    __m128i octs = _mm_madd_epi16(_mm_packs_epi32(quads, quads), _mm_set1_epi32(1 << 16 | 10000));
    uint64_t both = (uint64_t)_mm_cvtsi128_si64(octs);
    uint64_t full = (both & 0xFFFFFFFFu) * 100000000 + (both >> 32);
    double x = (double)(int64_t)full * pow10_inverse[16 - n + nfrac];
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    if (unlikely((uint32_t)((bits & 0x1FFFFFFFu) - 0x0FFFFFF8u) < 16u))
        x = (double)(int64_t)(full / pow10_u64[16 - n]) / pow10_exact[nfrac];
    float r = (float)x;
    uint32_t rb;
    memcpy(&rb, &r, sizeof rb);
    rb |= (uint32_t)(p[0] == '-') << 31;
    memcpy(&r, &rb, sizeof r);
    return r;
}
#else
#define MB_CSV_PLAIN_VALUE 0
static inline float plain_value(const char *p, const plainnum *pn)
{
    (void)p, (void)pn;
    return 0.0f;
}
#endif

/* strtod on a copy of the number [b, e) whose '.' is the C library's
** decimal point. 0 on success, -1 when memory ran out. */
static int num_slow(const mb_csv *c, const char *b, const char *e, double *out)
{
    char local[128], *tmp = local;
    size_t dpl = strlen(c->dp), need = (size_t)(e - b) + dpl + 1;
    if (need > sizeof local && !(tmp = mb_trymalloc(need)))
        return -1;
    char *w = tmp;
    for (const char *s = b; s < e; s++) {
        if (*s == '.') {
            memcpy(w, c->dp, dpl);
            w += dpl;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
    *out = strtod(tmp, NULL);
    if (tmp != local)
        mb_free(tmp);
    return 0;
}

/* A quoted field as scan_quoted found it. */
typedef struct qfield {
    const char *beg, *end;   /* the text between the quotes, undoubled "" */
    const char *term;        /* what follows: delimiter, CR before LF, LF, or junk */
    size_t nl;               /* newlines between the quotes */
    int dq;                  /* the text holds doubled quotes */
} qfield;

enum { SCAN_OK, SCAN_MORE, SCAN_UNTERMINATED, SCAN_JUNK };

/* Scan the quoted field whose opening quote is at p. */
static int scan_quoted(const char *p, const char *end, int eof, char d, qfield *f)
{
    const char *s = p + 1;
    f->beg = s;
    f->nl = 0;
    f->dq = 0;
    for (;;) {
        const char *k = memchr(s, '"', (size_t)(end - s));
        if (!k)
            return eof ? SCAN_UNTERMINATED : SCAN_MORE;
        for (const char *t = s; (t = memchr(t, '\n', (size_t)(k - t))) != NULL; t++)
            f->nl++;
        if (k[1] == '"' && k + 1 < end) {
            f->dq = 1;
            s = k + 2;
            continue;
        }
        f->end = k;
        break;
    }
    const char *q = f->end + 1;
    while (is_blank(*q, d))
        q++;
    f->term = q;
    return is_term(q, d) ? SCAN_OK : SCAN_JUNK;
}

/* Copy [b, e) to dst reading "" as "; returns the length written. */
static size_t unescape(const char *b, const char *e, char *dst)
{
    char *w = dst;
    while (b < e) {
        const char *k = memchr(b, '"', (size_t)(e - b));
        const char *stop = k ? k + 1 : e;
        memcpy(w, b, (size_t)(stop - b));
        w += stop - b;
        b = k ? k + 2 : e;
    }
    return (size_t)(w - dst);
}

/* {====== errors ======} */

static mb_status err_unterminated(const mb_csv *c, size_t line, mb_error *err)
{
    return mb_fail(err, MB_EFORMAT, "%s: line %zu: unterminated quoted field (opened on this line)",
                   c->path, line);
}

static mb_status err_junk(const mb_csv *c, size_t line, size_t col, const char *q, mb_error *err)
{
    unsigned char ch = (unsigned char)*q;
    char shown[16];
    if (ch >= 0x20 && ch < 0x7f)
        snprintf(shown, sizeof shown, "'%c'", ch);
    else
        snprintf(shown, sizeof shown, "byte 0x%02x", ch);
    return mb_fail(err, MB_EFORMAT,
                   "%s: line %zu: field %zu: unexpected %s after the closing quote "
                   "(expected the delimiter or the end of the line)",
                   c->path, line, col + 1, shown);
}

static mb_status err_ragged(const mb_csv *c, size_t line, size_t nfields, mb_error *err)
{
    return mb_fail(err, MB_EFORMAT, "%s: line %zu: %zu field%s, expected %zu (as in the header)",
                   c->path, line, nfields, nfields == 1 ? "" : "s", c->ncols);
}

/* {====== text checks ======} */

/* Is [b, e) plain ASCII without NUL bytes? Eight bytes at a time: the
** common case costs one quick pass over each record. */
static int bytes_plain(const char *b, const char *e)
{
    const uint64_t hi = 0x8080808080808080ull, lo = 0x0101010101010101ull;
    for (; e - b >= 8; b += 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        if ((w & hi) | ((w - lo) & ~w & hi))
            return 0;
    }
    for (; b < e; b++)
        if (*b == 0 || (unsigned char)*b >= 0x80)
            return 0;
    return 1;
}

/* Length of the valid UTF-8 sequence at p (before e), 0 if invalid:
** overlong forms, surrogates and code points past U+10FFFF are refused. */
static size_t utf8_len(const unsigned char *p, const unsigned char *e)
{
    unsigned c = p[0];
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (c < 0xC2 || c > 0xF4 || (size_t)(e - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0) || (c == 0xF0 && p[1] < 0x90) ||
        (c == 0xF4 && p[1] >= 0x90))
        return 0;
    return n;
}

/* The record [b, e) starting on line `line` holds a NUL byte or invalid
** UTF-8 somewhere (bytes_plain said so): find it and name the line, the
** field and the column. Returns MB_OK when the text is valid UTF-8 after
** all. names may be NULL (the header itself). */
static mb_status check_text(const mb_csv *c, const char *b, const char *e, size_t line,
                            char **names, size_t nnames, mb_error *err)
{
    const unsigned char *p = (const unsigned char *)b, *end = (const unsigned char *)e;
    size_t field = 0;
    int quoted = 0;
    while (p < end) {
        unsigned ch = *p;
        size_t n = 1;
        if (ch == '"')
            quoted = !quoted;
        else if (ch == '\n')
            line++;
        else if ((char)ch == c->delim && !quoted)
            field++;
        else if (ch == 0 || (ch >= 0x80 && !(n = utf8_len(p, end)))) {
            char col[96] = "";
            if (names && field < nnames)
                snprintf(col, sizeof col, " ('%.80s')", names[field]);
            if (ch == 0)
                return mb_fail(err, MB_EFORMAT, "%s: line %zu: field %zu%s holds a NUL byte; CSV is text",
                               c->path, line, field + 1, col);
            return mb_fail(err, MB_EFORMAT,
                           "%s: line %zu: field %zu%s: invalid UTF-8 (byte 0x%02x); moonbench reads CSV "
                           "as UTF-8: convert the file first (e.g. iconv -f latin1 -t utf-8)",
                           c->path, line, field + 1, col, ch);
        }
        p += n;
    }
    return MB_OK;
}

/* {====== reading the file ======} */

/* Keep the record at r->pos (move it to the front) and read more after it;
** grows the buffer when the record fills it. line is the record's first
** line, for messages. At the end of the file, sets r->eof. */
static mb_status rdr_fill(mb_csv *c, size_t line, mb_error *err)
{
    rdr *r = &c->r;
    if (r->eof)
        return MB_OK;
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->off += r->pos;
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->len == r->cap) {
        if (r->cap >= MB_CSV_MAX_RECORD)
            return mb_fail(err, MB_EFORMAT,
                           "%s: line %zu: record longer than %zu MiB (a quoted field left open?)",
                           c->path, line, MB_CSV_MAX_RECORD >> 20);
        size_t ncap = 2 * r->cap > MB_CSV_MAX_RECORD ? MB_CSV_MAX_RECORD : 2 * r->cap;
        char *nb = mb_tryrealloc(r->buf, ncap + MB_CSV_PAD);
        if (!nb)
            return mb_fail(err, MB_ENOMEM, "%s: line %zu: out of memory for a record of %zu bytes",
                           c->path, line, r->len);
        r->buf = nb;
        r->cap = ncap;
    }
    size_t want = r->cap - r->len;
    if (csv_readsize && want > csv_readsize)
        want = csv_readsize;
    while (want > 0) {
        ssize_t n = read(r->fd, r->buf + r->len, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return mb_fail(err, MB_EIO, "%s: read error: %s", c->path, strerror(errno));
        }
        if (n == 0) {
            r->eof = 1;
            break;
        }
        r->len += (size_t)n;
        want -= (size_t)n;
    }
    memset(r->buf + r->len, '\n', MB_CSV_PAD);
    return MB_OK;
}

/* Restart reading at file offset off. */
static mb_status rdr_seek(mb_csv *c, uint64_t off, mb_error *err)
{
    rdr *r = &c->r;
    if (lseek(r->fd, (off_t)off, SEEK_SET) < 0)
        return mb_fail(err, MB_EIO, "%s: cannot seek: %s", c->path, strerror(errno));
    r->off = off;
    r->len = r->pos = 0;
    r->eof = 0;
    memset(r->buf, '\n', MB_CSV_PAD);
    return MB_OK;
}

/* {====== delimiter detection ======} */

/* Fields separators d outside quotes in each of the first records of
** [p, end); the delimiter whose count is the same on most lines as on the
** header (and nonzero) wins, then the one with more columns, then the
** first of ',', '\t', ';'. */
static char sniff_delim(const char *p, const char *end, int complete)
{
    static const char cand[] = {',', '\t', ';'};
    char best = ',';
    size_t best_score = 0, best_h = 0;
    for (size_t k = 0; k < sizeof cand; k++) {
        char d = cand[k];
        size_t counts[MB_CSV_SNIFF_LINES], n = 0;
        const char *s = p;
        while (n < MB_CSV_SNIFF_LINES && s < end) {
            if (*s == '\n' || (*s == '\r' && s + 1 < end && s[1] == '\n')) {
                s += *s == '\r' ? 2 : 1;
                continue;
            }
            size_t cnt = 0;
            int fstart = 1, inq = 0, done = 0;
            const char *t = s;
            for (; t < end; t++) {
                char ch = *t;
                if (inq) {
                    if (ch == '"') {
                        if (t + 1 < end && t[1] == '"')
                            t++;
                        else
                            inq = 0;
                    }
                } else if (ch == '"' && fstart) {
                    inq = 1;
                    fstart = 0;
                } else if (ch == d) {
                    cnt++;
                    fstart = 1;
                } else if (ch == '\n') {
                    done = 1;
                    break;
                } else {
                    fstart = 0;
                }
            }
            if (!done && !complete && n > 0)
                break; /* a cut record: not evidence */
            counts[n++] = cnt;
            s = t + 1;
        }
        if (n == 0 || counts[0] == 0)
            continue;
        size_t score = 0;
        for (size_t i = 0; i < n; i++)
            score += counts[i] == counts[0];
        if (score > best_score || (score == best_score && counts[0] > best_h)) {
            best = d;
            best_score = score;
            best_h = counts[0];
        }
    }
    return best;
}

/* Read the first bytes of the file to skip a BOM and, unless given, detect
** the delimiter; leave the reader at the first byte after the BOM. */
static mb_status sniff(mb_csv *c, char given, mb_error *err)
{
    rdr *r = &c->r;
    size_t n = 0, want = MB_CSV_SNIFF_BYTES < r->cap ? MB_CSV_SNIFF_BYTES : r->cap;
    int complete = 0;
    while (n < want) {
        ssize_t k = pread(r->fd, r->buf + n, want - n, (off_t)n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return mb_fail(err, MB_EIO, "%s: read error: %s", c->path, strerror(errno));
        }
        if (k == 0) {
            complete = 1;
            break;
        }
        n += (size_t)k;
    }
    size_t bom = n >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    c->delim = given ? given : sniff_delim(r->buf + bom, r->buf + n, complete);
    return rdr_seek(c, bom, err);
}

/* {====== header ======} */

static void free_names(mb_csv *c)
{
    for (size_t i = 0; i < c->nnames; i++)
        mb_free(c->names[i]);
    c->nnames = 0;
}

static void push_name(mb_csv *c, char *name)
{
    if (c->nnames == c->capnames) {
        c->capnames = c->capnames ? 2 * c->capnames : 16;
        c->names = mb_realloc(c->names, c->capnames * sizeof *c->names);
    }
    c->names[c->nnames++] = name;
}

/* Parse the header record at p into c->names; *next is the byte after it
** and *line advances past its lines. Sets *more when the record is cut. */
static mb_status scan_header(mb_csv *c, const char *p, const char *end, int eof,
                             const char **next, size_t *line, int *more, mb_error *err)
{
    const char d = c->delim;
    size_t ln = *line;
    free_names(c);
    *more = 0;
    for (;;) {
        const char *q;
        char *name;
        if (*p == '"') {
            qfield f;
            int k = scan_quoted(p, end, eof, d, &f);
            if (k == SCAN_MORE)
                goto cut;
            if (k == SCAN_UNTERMINATED)
                return err_unterminated(c, ln, err);
            if (k == SCAN_JUNK)
                return err_junk(c, ln + f.nl, c->nnames, f.term, err);
            ln += f.nl;
            q = f.term;
            name = mb_malloc((size_t)(f.end - f.beg) + 1);
            name[unescape(f.beg, f.end, name)] = '\0';
        } else {
            q = field_end(p, d);
            if (q == end && !eof)
                goto cut;
            const char *b = p, *e = content_end(p, q);
            trim(&b, &e, d);
            name = mb_strndup(b, (size_t)(e - b));
        }
        push_name(c, name);
        if (*q == d) {
            p = q + 1;
            continue;
        }
        q += *q == '\r';
        if (q == end && !eof)
            goto cut;
        *next = q + 1;
        *line = ln + 1;
        return MB_OK;
    }
cut:
    *more = 1;
    return MB_OK;
}

/* Skip blank and whitespace-only lines at *p; returns 1 when it stopped at
** a cut line (more data needed). */
static inline int skip_blank_lines(const char **pp, const char *end, int eof, char d, size_t *line)
{
    const char *p = *pp;
    while (p < end && (*p == '\n' || *p == '\r' || is_blank(*p, d))) {
        const char *b = p;
        while (is_blank(*b, d))
            b++;
        if (*b == '\r' && b[1] == '\n')
            b++;
        if (*b != '\n')
            break;
        if (b == end && !eof)
            return 1;
        (*line)++;
        p = b + 1;
    }
    *pp = p;
    return 0;
}

/* Read the header; names become unique and nonempty (pandas' rules). */
static mb_status read_header(mb_csv *c, mb_error *err)
{
    rdr *r = &c->r;
    mb_status st;
    for (;;) {
        const char *base = r->buf, *end = base + r->len, *p = base + r->pos, *next = NULL;
        size_t line = 1;
        if (skip_blank_lines(&p, end, r->eof, c->delim, &line) == 0) {
            if (p >= end && r->eof)
                return mb_fail(err, MB_EEMPTY, "%s: empty file, expected a header row", c->path);
            if (p < end) {
                int more;
                size_t hline = line;
                if ((st = scan_header(c, p, end, r->eof, &next, &line, &more, err)) != MB_OK)
                    return st;
                if (!more) {
                    const char *hend = next > end ? end : next;
                    if (!bytes_plain(p, hend) && (st = check_text(c, p, hend, hline, NULL, 0, err)) != MB_OK)
                        return st;
                    r->pos = (size_t)(hend - base);
                    c->data_off = r->off + r->pos;
                    c->data_line = line;
                    return MB_OK;
                }
            }
        }
        if ((st = rdr_fill(c, 1, err)) != MB_OK)
            return st;
    }
}

/* Give empty names "column_N" and duplicates ".1", ".2", ...; the final
** names end up as the levels of tmp, in order. Returns how many changed. */
static mb_status unique_names(mb_csv *c, mb_column *tmp, size_t *renamed, mb_error *err)
{
    mb_dict dict;
    mb_dict_init(&dict, tmp);
    mb_status st = MB_OK;
    *renamed = 0;
    for (size_t i = 0; i < c->nnames; i++) {
        char gen[32];
        const char *base = c->names[i];
        if (!*base) {
            snprintf(gen, sizeof gen, "column_%zu", i + 1);
            base = gen;
        }
        size_t blen = strlen(base), before = tmp->nlevels;
        if (mb_dict_intern(&dict, base, blen) < 0)
            goto oom;
        if (tmp->nlevels == before) {
            char *cand = mb_malloc(blen + 24);
            for (size_t k = 1; tmp->nlevels == before; k++) {
                int n = snprintf(cand, blen + 24, "%s.%zu", base, k);
                if (mb_dict_intern(&dict, cand, (size_t)n) < 0) {
                    mb_free(cand);
                    goto oom;
                }
            }
            mb_free(cand);
        }
        *renamed += strcmp(tmp->levels[i], c->names[i]) != 0;
    }
    goto exit;
oom:
    st = mb_fail(err, MB_ENOMEM, "%s: out of memory for the header names", c->path);
exit:
    mb_dict_free(&dict);
    return st;
}

/* {====== pass 1 ======} */

/* Is the quoted field's text numeric or missing? */
static int quoted_is_num(const qfield *f, char d)
{
    if (f->dq)
        return 0;
    return is_missing(f->beg, (size_t)(f->end - f->beg)) || text_is_number(f->beg, f->end, d);
}

/* Is the unquoted field [p, q) (q at its '\n' or delimiter) numeric or
** missing? */
static int text_is_num(const char *p, const char *q, char d)
{
    const char *b = p, *e = content_end(p, q);
    trim(&b, &e, d);
    return is_missing(b, (size_t)(e - b)) || text_is_number(b, e, d);
}

/* Scan every data record: shape, row count, column types. */
static mb_status pass1(mb_csv *c, mb_error *err)
{
    rdr *r = &c->r;
    const char d = c->delim;
    const size_t ncols = c->ncols;
    unsigned char *isnum = c->isnum;
    size_t line = c->data_line, nrows = 0;
    mb_status st;

    for (;;) {
        const char *base = r->buf, *end = base + r->len, *p = base + r->pos, *rec;
        const int eof = r->eof;
        size_t recline;
        win w = {0};
        for (;;) {
            rec = p;
            recline = line;
            if (unlikely(*p == '\n' || *p == '\r' || is_blank(*p, d))) {
                if (skip_blank_lines(&p, end, eof, d, &line))
                    goto more;
                rec = p;
                recline = line;
                w.term = 0;
            }
            if (p >= end)
                goto more;
            size_t col = 0;
            for (;;) {
                const char *q;
                if (unlikely(*p == '"')) {
                    qfield f;
                    int k = scan_quoted(p, end, eof, d, &f);
                    if (k == SCAN_MORE)
                        goto more;
                    if (k == SCAN_UNTERMINATED)
                        return err_unterminated(c, line, err);
                    if (k == SCAN_JUNK)
                        return err_junk(c, line + f.nl, col, f.term, err);
                    q = f.term;
                    if (q + (*q == '\r') == end && !eof)
                        goto more;
                    line += f.nl;
                    if (col < ncols && isnum[col] && !quoted_is_num(&f, d))
                        isnum[col] = 0;
                    w.term = 0;
                } else {
                    if (unlikely(!w.term))
                        win_load(&w, p, d);
                    if (unlikely(!(q = win_next(&w))))
                        q = field_end(p, d); /* 64 bytes or more */
                    if (unlikely(q == end) && !eof)
                        goto more;
                    if (col < ncols && isnum[col]) {
                        plainnum pn;
                        if (unlikely((q - w.base >= 64 || !win_plain(&w, p, q, &pn)) &&
                                     !text_is_num(p, q, d)))
                            isnum[col] = 0;
                    }
                }
                if (*q == d) {
                    col++;
                    p = q + 1;
                    continue;
                }
                q += *q == '\r';
                if (q == end && !eof)
                    goto more;
                line++;
                p = q + 1;
                if (unlikely(col + 1 != ncols))
                    return err_ragged(c, recline, col + 1, err);
                if (unlikely(!bytes_plain(rec, p)) &&
                    (st = check_text(c, rec, p, recline, c->names, c->nnames, err)) != MB_OK)
                    return st;
                nrows++;
                break;
            }
        }
    more:
        if (rec >= end && eof)
            break;
        r->pos = (size_t)((rec > end ? end : rec) - base);
        line = recline;
        if ((st = rdr_fill(c, recline, err)) != MB_OK)
            return st;
    }
    c->nrows = nrows;
    return MB_OK;
}

/* {====== the reader ======} */

mb_status mb_csv_open(const char *path, const mb_csv_options *opt, mb_csv **out, mb_error *err)
{
    mb_csv *c = NULL;
    mb_column tmp = {0};
    mb_status st = MB_OK;
    char given = opt ? opt->delim : 0;

    *out = NULL;
    if (given == '"' || given == '\n' || given == '\r')
        return mb_fail(err, MB_EARG, "%s: cannot use %s as the CSV delimiter", path,
                       given == '"' ? "a double quote" : "a line end");
    c = mb_calloc(1, sizeof *c);
    c->r.fd = -1;
    c->path = mb_strdup(path);
    const char *dp = localeconv()->decimal_point;
    snprintf(c->dp, sizeof c->dp, "%s", dp && *dp ? dp : ".");

    c->r.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (c->r.fd < 0) {
        int e = errno;
        st = mb_fail(err, e == ENOENT ? MB_ENOTFOUND : MB_EIO, "%s: cannot open: %s", path,
                     strerror(e));
        goto exit;
    }
    struct stat sb;
    if (fstat(c->r.fd, &sb) < 0) {
        st = mb_fail(err, MB_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto exit;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = mb_fail(err, MB_EIO, "%s: cannot read: %s", path, strerror(EISDIR));
        goto exit;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = mb_fail(err, MB_EIO, "%s: not a regular file (the CSV reader reads it twice)", path);
        goto exit;
    }
    c->r.cap = MB_CSV_BUFSIZE;
    c->r.buf = mb_malloc(c->r.cap + MB_CSV_PAD);
    if ((st = sniff(c, given, err)) != MB_OK)
        goto exit;
    if ((st = read_header(c, err)) != MB_OK)
        goto exit;
    c->ncols = c->nnames;
    c->isnum = mb_malloc(c->ncols);
    memset(c->isnum, 1, c->ncols);
    if ((st = pass1(c, err)) != MB_OK)
        goto exit;

    size_t renamed;
    if ((st = unique_names(c, &tmp, &renamed, err)) != MB_OK)
        goto exit;
    mb_frame *s = c->schema = mb_frame_new(c->nrows);
    s->cols = mb_calloc(c->ncols ? c->ncols : 1, sizeof *s->cols);
    s->capcols = c->ncols ? c->ncols : 1;
    c->dicts = mb_calloc(c->ncols ? c->ncols : 1, sizeof *c->dicts);
    for (size_t j = 0; j < c->ncols; j++) {
        mb_column *col = &s->cols[s->ncols++];
        col->name = tmp.levels[j];
        tmp.levels[j] = NULL;
        col->type = c->isnum[j] ? MB_COL_NUM : MB_COL_CAT;
        mb_dict_init(&c->dicts[j], col);
    }
    s->source = mb_strdup(path);
    if (renamed)
        mb_frame_set_note(s, "%zu header name%s renamed (empty or repeated)", renamed,
                          renamed == 1 ? "" : "s");
    c->slots = mb_calloc(c->ncols ? c->ncols : 1, sizeof *c->slots);
    c->line = c->data_line;
    if ((st = rdr_seek(c, c->data_off, err)) != MB_OK)
        goto exit;
    *out = c;
    c = NULL;
exit:
    for (size_t i = 0; i < tmp.nlevels; i++)
        mb_free(tmp.levels[i]);
    mb_free(tmp.levels);
    mb_csv_close(&c);
    return st;
}

mb_frame *mb_csv_schema(mb_csv *c) { return c->schema; }

static mb_frame *frame_like_schema(const mb_csv *c, size_t rows);

mb_frame *mb_csv_chunk_new(const mb_csv *c, size_t rows)
{
    /* Bounded in the number of columns too: at most MB_CSV_CHUNK_CELLS
    ** values, so a file of 100,000 columns streams in chunks of 167 rows. */
    size_t ncols = c->schema->ncols ? c->schema->ncols : 1;
    if (rows > MB_CSV_CHUNK_CELLS / ncols)
        rows = MB_CSV_CHUNK_CELLS / ncols ? MB_CSV_CHUNK_CELLS / ncols : 1;
    return frame_like_schema(c, rows);
}

static mb_frame *frame_like_schema(const mb_csv *c, size_t rows)
{
    mb_frame *f = mb_frame_new(rows);
    for (size_t j = 0; j < c->schema->ncols; j++) {
        const mb_column *sc = &c->schema->cols[j];
        mb_column *col = sc->type == MB_COL_NUM ? mb_frame_add_num(f, sc->name, NULL, 1, NULL)
                                                : mb_frame_add_cat(f, sc->name, NULL);
        if (!col) {
            mb_frame_free(&f);
            return NULL;
        }
    }
    return f;
}

void mb_csv_close(mb_csv **pc)
{
    if (!pc || !*pc)
        return;
    mb_csv *c = *pc;
    if (c->r.fd >= 0)
        close(c->r.fd);
    mb_free(c->r.buf);
    free_names(c);
    mb_free(c->names);
    mb_free(c->isnum);
    if (c->dicts)
        for (size_t j = 0; j < c->ncols; j++)
            mb_dict_free(&c->dicts[j]);
    mb_free(c->dicts);
    mb_frame_free(&c->schema);
    mb_free(c->slots);
    mb_free(c->scratch);
    mb_free(c->path);
    mb_free(c);
    *pc = NULL;
}

/* {====== pass 2 ======} */

static mb_status err_changed(const mb_csv *c, size_t line, size_t col, mb_error *err)
{
    return mb_fail(err, MB_EFORMAT,
                   "%s: line %zu: field %zu is not a number, but the first pass found only "
                   "numbers in column '%s' (did the file change while it was read?)",
                   c->path, line, col + 1, c->schema->cols[col].name);
}

/* Store the number [b, e) (blanks around it allowed) or NaN if missing. */
static mb_status store_num_text(mb_csv *c, const colslot *s, size_t row, const char *b,
                                const char *e, int trimmed_missing, size_t line, size_t col,
                                mb_error *err)
{
    float *dst = &s->num[row * s->stride];
    if (trimmed_missing) {
        *dst = NAN;
        return MB_OK;
    }
    trim(&b, &e, c->delim);
    numparts n;
    const char *q = scan_number(b, &n);
    if (q == b || q != e)
        return err_changed(c, line, col, err);
    double v;
    if (!num_fast(&n, &v) && num_slow(c, b, e, &v) < 0)
        return mb_fail(err, MB_ENOMEM, "%s: line %zu: out of memory for a number", c->path, line);
    *dst = (float)v;
    return MB_OK;
}

static mb_status store_level(mb_csv *c, const colslot *s, size_t row, const char *b, size_t n,
                             size_t line, size_t col, mb_error *err)
{
    int32_t code = mb_dict_intern(s->dict, b, n);
    if (code < 0)
        return mb_fail(err, MB_ENOMEM, "%s: line %zu: out of memory adding a level to column '%s'",
                       c->path, line, c->schema->cols[col].name);
    s->codes[row] = code;
    return MB_OK;
}

/* Store a quoted field into its column. */
static mb_status store_quoted(mb_csv *c, const colslot *s, size_t row, const qfield *f,
                              size_t line, size_t col, mb_error *err)
{
    size_t n = (size_t)(f->end - f->beg);
    int missing = !f->dq && is_missing(f->beg, n);
    if (s->num) {
        if (f->dq)
            return err_changed(c, line, col, err);
        return store_num_text(c, s, row, f->beg, f->end, missing, line, col, err);
    }
    if (missing) {
        s->codes[row] = -1;
        return MB_OK;
    }
    if (!f->dq)
        return store_level(c, s, row, f->beg, n, line, col, err);
    if (n > c->scratchcap) {
        char *nb = mb_tryrealloc(c->scratch, n);
        if (!nb)
            return mb_fail(err, MB_ENOMEM, "%s: line %zu: out of memory for a field of %zu bytes",
                           c->path, line, n);
        c->scratch = nb;
        c->scratchcap = n;
    }
    return store_level(c, s, row, c->scratch, unescape(f->beg, f->end, c->scratch), line, col, err);
}

/* Check that dst matches the schema and note where its columns are. */
static mb_status bind_slots(mb_csv *c, const mb_frame *dst, mb_error *err)
{
    const mb_frame *s = c->schema;
    int ok = dst->ncols == s->ncols;
    for (size_t j = 0; ok && j < s->ncols; j++) {
        const mb_column *dc = &dst->cols[j];
        colslot *sl = &c->slots[j];
        ok = dc->type == s->cols[j].type;
        if (dc->type == MB_COL_NUM) {
            ok = ok && (dc->num || dst->nrows == 0) && dc->stride >= 1;
            sl->num = dc->num;
            sl->stride = dc->stride;
            sl->codes = NULL;
        } else {
            ok = ok && (dc->codes || dst->nrows == 0);
            sl->num = NULL;
            sl->codes = dc->codes;
        }
        sl->dict = &c->dicts[j];
    }
    if (!ok)
        return mb_fail(err, MB_EARG,
                       "%s: the destination frame does not have the CSV's columns "
                       "(make it with mb_csv_chunk_new)",
                       c->path);
    return MB_OK;
}

mb_status mb_csv_read(mb_csv *c, mb_frame *dst, size_t *nread, mb_error *err)
{
    return mb_csv_read_lines(c, dst, nread, NULL, err);
}

mb_status mb_csv_read_lines(mb_csv *c, mb_frame *dst, size_t *nread, size_t *lines, mb_error *err)
{
    rdr *r = &c->r;
    const char d = c->delim;
    const size_t ncols = c->ncols, want = dst->nrows;
    size_t line = c->line, row = 0;
    mb_status st;

    *nread = 0;
    if (c->broken)
        return mb_fail(err, MB_EARG, "%s: an earlier read failed; reopen the file", c->path);
    if ((st = bind_slots(c, dst, err)) != MB_OK)
        return st;
    const colslot *slots = c->slots;
    const char *base, *end, *p, *rec;
    size_t recline;

    for (;;) {
        base = r->buf;
        end = base + r->len;
        p = base + r->pos;
        const int eof = r->eof;
        win w = {0};
        for (;;) {
            rec = p;
            recline = line;
            if (row == want)
                goto done;
            if (unlikely(*p == '\n' || *p == '\r' || is_blank(*p, d))) {
                if (skip_blank_lines(&p, end, eof, d, &line))
                    goto more;
                rec = p;
                recline = line;
                w.term = 0;
            }
            if (p >= end)
                goto more;
            if (unlikely(c->rows_done + row >= c->nrows)) {
                st = mb_fail(err, MB_EFORMAT,
                             "%s: line %zu: more rows than the first pass counted (%zu); "
                             "did the file change while it was read?",
                             c->path, line, c->nrows);
                goto fail;
            }
            size_t col = 0;
            for (;;) {
                const colslot *s = col < ncols ? &slots[col] : NULL;
                const char *q;
                if (unlikely(*p == '"')) {
                    qfield f;
                    int k = scan_quoted(p, end, eof, d, &f);
                    if (k == SCAN_MORE)
                        goto more;
                    if (k == SCAN_UNTERMINATED) {
                        st = err_unterminated(c, line, err);
                        goto fail;
                    }
                    if (k == SCAN_JUNK) {
                        st = err_junk(c, line + f.nl, col, f.term, err);
                        goto fail;
                    }
                    q = f.term;
                    if (q + (*q == '\r') == end && !eof)
                        goto more;
                    if (s && (st = store_quoted(c, s, row, &f, line, col, err)) != MB_OK)
                        goto fail;
                    line += f.nl;
                    w.term = 0;
                } else {
                    if (unlikely(!w.term))
                        win_load(&w, p, d);
                    if (unlikely(!(q = win_next(&w))))
                        q = field_end(p, d); /* 64 bytes or more */
                    if (unlikely(q == end) && !eof)
                        goto more;
                    if (!s) {
                        /* a field too many: counted below */
                    } else if (s->num) {
                        plainnum pn;
                        if (MB_CSV_PLAIN_VALUE && q - p <= 15 && q - w.base < 64 &&
                            likely(win_plain(&w, p, q, &pn))) {
                            s->num[row * s->stride] = plain_value(p, &pn);
                        } else {
                            const char *b = p, *e = content_end(p, q);
                            trim(&b, &e, d);
                            st = store_num_text(c, s, row, b, e, is_missing(b, (size_t)(e - b)),
                                                line, col, err);
                            if (st != MB_OK)
                                goto fail;
                        }
                    } else {
                        const char *b = p, *e = content_end(p, q);
                        trim(&b, &e, d);
                        size_t len = (size_t)(e - b);
                        if (is_missing(b, len))
                            s->codes[row] = -1;
                        else if ((st = store_level(c, s, row, b, len, line, col, err)) != MB_OK)
                            goto fail;
                    }
                }
                if (*q == d) {
                    col++;
                    p = q + 1;
                    continue;
                }
                q += *q == '\r';
                if (q == end && !eof)
                    goto more;
                line++;
                p = q + 1;
                if (unlikely(col + 1 != ncols)) {
                    st = err_ragged(c, recline, col + 1, err);
                    goto fail;
                }
                if (lines)
                    lines[row] = recline;
                row++;
                break;
            }
        }
    more:
        if (rec >= end && eof)
            goto done;
        r->pos = (size_t)((rec > end ? end : rec) - base);
        line = recline;
        if ((st = rdr_fill(c, recline, err)) != MB_OK)
            goto fail;
    }
done:
    r->pos = (size_t)((rec > end ? end : rec) - base);
    c->line = recline;
    c->rows_done += row;
    *nread = row;
    return MB_OK;
fail:
    c->broken = 1;
    return st;
}

mb_status mb_csv_load(const char *path, const mb_csv_options *opt, mb_frame **out, mb_error *err)
{
    mb_csv *c = NULL;
    mb_frame *f = NULL;
    mb_status st;
    size_t n = 0, extra = 0;

    *out = NULL;
    if ((st = mb_csv_open(path, opt, &c, err)) != MB_OK)
        goto exit;
    const mb_frame *s = mb_csv_schema(c);
    if (!(f = frame_like_schema(c, s->nrows))) {
        st = mb_fail(err, MB_ENOMEM, "%s: out of memory for %zu rows x %zu columns", path, s->nrows,
                     s->ncols);
        goto exit;
    }
    if ((st = mb_csv_read(c, f, &n, err)) != MB_OK)
        goto exit;
    if (n == s->nrows && (st = mb_csv_read(c, f, &extra, err)) != MB_OK)
        goto exit;
    if (n != s->nrows || extra != 0) {
        st = mb_fail(err, MB_EFORMAT, "%s: read %zu rows, but the first pass counted %zu "
                                      "(did the file change while it was read?)",
                     path, n + extra, s->nrows);
        goto exit;
    }
    for (size_t j = 0; j < f->ncols; j++) {
        mb_column *fc = &f->cols[j], *sc = &c->schema->cols[j];
        if (sc->type != MB_COL_CAT)
            continue;
        fc->levels = sc->levels;
        fc->nlevels = sc->nlevels;
        fc->caplevels = sc->caplevels;
        sc->levels = NULL;
        sc->nlevels = sc->caplevels = 0;
    }
    f->source = mb_strdup(path);
    if (s->note)
        mb_frame_set_note(f, "%s", s->note);
    *out = f;
    f = NULL;
exit:
    mb_frame_free(&f);
    mb_csv_close(&c);
    return st;
}
