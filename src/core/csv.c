/*
** csv.c: the streaming CSV reader (see csv.h for the interface): opening a
** file, its delimiter, header and pass 1 (shape and column types).
** csv_read.c is pass 2 (the values); csv_int.h the state and the field
** scanners the two share.
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
#include "csv_int.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Test hook: when nonzero, each refill reads at most this many bytes, so
** that tests can cut records at every byte. Not thread-safe; tests only. */
static size_t csv_readsize;
void mbcsv_set_readsize(size_t n);
void mbcsv_set_readsize(size_t n) { csv_readsize = n; }

/* Is [b, e) a number, blanks around it allowed? */
static int text_is_number(const char *b, const char *e, char d)
{
    trim(&b, &e, d);
    numparts n;
    const char *q = scan_number(b, &n);
    return q != b && q == e;
}

/* {====== errors ======} */

mb_status mbcsv_err_unterminated(const mb_csv *c, size_t line, mb_error *err)
{
    return mb_fail(err, MB_EFORMAT, "%s: line %zu: unterminated quoted field (opened on this line)",
                   c->path, line);
}

mb_status mbcsv_err_junk(const mb_csv *c, size_t line, size_t col, const char *q, mb_error *err)
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

mb_status mbcsv_err_ragged(const mb_csv *c, size_t line, size_t nfields, mb_error *err)
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
mb_status mbcsv_fill(mb_csv *c, size_t line, mb_error *err)
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
                return mbcsv_err_unterminated(c, ln, err);
            if (k == SCAN_JUNK)
                return mbcsv_err_junk(c, ln + f.nl, c->nnames, f.term, err);
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
        if ((st = mbcsv_fill(c, 1, err)) != MB_OK)
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
                        return mbcsv_err_unterminated(c, line, err);
                    if (k == SCAN_JUNK)
                        return mbcsv_err_junk(c, line + f.nl, col, f.term, err);
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
                    return mbcsv_err_ragged(c, recline, col + 1, err);
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
        if ((st = mbcsv_fill(c, recline, err)) != MB_OK)
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

mb_frame *mb_csv_chunk_new(const mb_csv *c, size_t rows)
{
    /* Bounded in the number of columns too: at most MB_CSV_CHUNK_CELLS
    ** values, so a file of 100,000 columns streams in chunks of 167 rows. */
    size_t ncols = c->schema->ncols ? c->schema->ncols : 1;
    if (rows > MB_CSV_CHUNK_CELLS / ncols)
        rows = MB_CSV_CHUNK_CELLS / ncols ? MB_CSV_CHUNK_CELLS / ncols : 1;
    return mbcsv_frame_like_schema(c, rows);
}

mb_frame *mbcsv_frame_like_schema(const mb_csv *c, size_t rows)
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
