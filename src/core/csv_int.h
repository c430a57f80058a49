/*
** csv_int.h: what the two halves of the CSV reader share (not an API):
** csv.c (opening: delimiter, header, pass 1) and csv_read.c (pass 2, the
** values). The reader's state, and the field scanners as inline functions
** so that both passes' hot loops keep them inlined; see csv.c for the
** design.
*/
#ifndef MB_CSV_INT_H
#define MB_CSV_INT_H

#include "csv.h"

#include <stdint.h>
#include <string.h>

#define MB_CSV_BUFSIZE     ((size_t)1 << 20)  /* bytes per read() */
#define MB_CSV_PAD         128                /* '\n' bytes after the data */
#define MB_CSV_MAX_RECORD  ((size_t)64 << 20) /* longest record accepted */
#define MB_CSV_SNIFF_BYTES ((size_t)64 << 10) /* sample for delimiter detection */
#define MB_CSV_SNIFF_LINES 20
#define MB_CSV_CHUNK_CELLS ((size_t)16 << 20) /* values in one chunk frame (64 MiB) */

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)


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


/* {====== shared by both passes (csv.c) ======} */

/* The error messages: an unterminated quote at line; junk after a quoted
** field (line, column); a record of nfields fields. */
mb_status mbcsv_err_unterminated(const mb_csv *c, size_t line, mb_error *err);
mb_status mbcsv_err_junk(const mb_csv *c, size_t line, size_t col, const char *q, mb_error *err);
mb_status mbcsv_err_ragged(const mb_csv *c, size_t line, size_t nfields, mb_error *err);
/* Refill the buffer: move the record in hand to the front and read more. */
mb_status mbcsv_fill(mb_csv *c, size_t line, mb_error *err);
/* An empty frame with the schema's columns and rows rows. */
mb_frame *mbcsv_frame_like_schema(const mb_csv *c, size_t rows);

#endif
