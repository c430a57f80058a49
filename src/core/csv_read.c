/*
** csv_read.c: pass 2 of the CSV reader: the values of each record into a
** frame, chunk after chunk (mb_csv_read), and mb_csv_load for the whole
** file. Plain decimals convert with SSE2 (plain_value), other numbers by
** Clinger's fast path or strtod; every path gives (float)strtod(field).
** See csv.c for the design.
*/
#include "csv_int.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
                        st = mbcsv_err_unterminated(c, line, err);
                        goto fail;
                    }
                    if (k == SCAN_JUNK) {
                        st = mbcsv_err_junk(c, line + f.nl, col, f.term, err);
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
                    st = mbcsv_err_ragged(c, recline, col + 1, err);
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
        if ((st = mbcsv_fill(c, recline, err)) != MB_OK)
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
    if (!(f = mbcsv_frame_like_schema(c, s->nrows))) {
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
