/*
** doc.c: the document of doc.h and its three writers. Texts come from
** bundles and data files (column names, levels, file names), so every
** writer escapes what its format gives meaning to: Markdown's table bars,
** emphasis and HTML tags, and HTML's five special characters.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "mb.h"

enum { B_HEAD, B_PARA, B_NOTE, B_FACTS, B_TABLE };

typedef struct block {
    int kind, level, bars;
    char *text;
    size_t ncols, nrows;          /* tables and facts: rows after the head */
    char **cells;                 /* (nrows + 1) x ncols; facts have no head */
    double *bar;                  /* nrows */
} block;

struct mb_doc {
    char *title;
    block *b;
    size_t n;
};

mb_doc *mb_doc_new(const char *title)
{
    mb_doc *d = mb_calloc(1, sizeof *d);
    d->title = mb_strdup(title);
    return d;
}

void mb_doc_free(mb_doc **dp)
{
    mb_doc *d = *dp;
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        block *b = &d->b[i];
        for (size_t c = 0; b->cells && c < (b->nrows + 1) * b->ncols; c++)
            mb_free(b->cells[c]);
        mb_free(b->cells);
        mb_free(b->bar);
        mb_free(b->text);
    }
    mb_free(d->b);
    mb_free(d->title);
    mb_free(d);
    *dp = NULL;
}

static block *add(mb_doc *d, int kind)
{
    d->b = mb_realloc(d->b, (d->n + 1) * sizeof *d->b);
    block *b = &d->b[d->n++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    return b;
}

static char *vformat(const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int len = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    char *s = mb_malloc((size_t)(len > 0 ? len : 0) + 1);
    vsnprintf(s, (size_t)(len > 0 ? len : 0) + 1, fmt, ap);
    return s;
}

void mb_doc_heading(mb_doc *d, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    block *b = add(d, B_HEAD);
    b->level = level < 2 ? 2 : level > 3 ? 3 : level;
    b->text = vformat(fmt, ap);
    va_end(ap);
}

void mb_doc_para(mb_doc *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(d, B_PARA)->text = vformat(fmt, ap);
    va_end(ap);
}

void mb_doc_note(mb_doc *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(d, B_NOTE)->text = vformat(fmt, ap);
    va_end(ap);
}

/* Append a row of n cells (copied) to table block b. */
static void push_row(block *b, const char *const *cells, double bar)
{
    size_t at = (b->nrows + 1) * b->ncols;
    b->cells = mb_realloc(b->cells, (at + b->ncols) * sizeof *b->cells);
    for (size_t c = 0; c < b->ncols; c++)
        b->cells[at + c] = mb_strdup(cells[c] ? cells[c] : "");
    b->bar = mb_realloc(b->bar, (b->nrows + 1) * sizeof *b->bar);
    b->bar[b->nrows++] = bar;
}

void mb_doc_fact(mb_doc *d, const char *key, const char *fmt, ...)
{
    block *b = d->n && d->b[d->n - 1].kind == B_FACTS ? &d->b[d->n - 1] : NULL;
    if (!b) {
        b = add(d, B_FACTS);
        b->ncols = 2;
        b->cells = mb_calloc(2, sizeof *b->cells); /* an empty head row */
        b->cells[0] = mb_strdup("");
        b->cells[1] = mb_strdup("");
    }
    va_list ap;
    va_start(ap, fmt);
    char *v = vformat(fmt, ap);
    va_end(ap);
    const char *cells[2] = {key, v};
    push_row(b, cells, 0);
    mb_free(v);
}

void mb_doc_table(mb_doc *d, size_t ncols, const char *const *head, int bars)
{
    block *b = add(d, B_TABLE);
    b->ncols = ncols;
    b->bars = bars;
    b->cells = mb_malloc(ncols * sizeof *b->cells + 1);
    for (size_t c = 0; c < ncols; c++)
        b->cells[c] = mb_strdup(head[c]);
}

void mb_doc_row(mb_doc *d, const char *const *cells, double bar)
{
    if (d->n && d->b[d->n - 1].kind == B_TABLE)
        push_row(&d->b[d->n - 1], cells, bar);
}

/* {====== helpers ======} */

static size_t utf8_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static int numeric(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    return (*s >= '0' && *s <= '9') || !strcmp(s, "NaN");
}

static double bar_max(const block *b)
{
    double m = 0;
    for (size_t r = 0; r < b->nrows; r++)
        if (isfinite(b->bar[r]) && b->bar[r] > m)
            m = b->bar[r];
    return m;
}

/* A bar of v / max in 24 cells with eighth blocks (as explain's summary). */
static void text_bar(FILE *fp, double v, double max)
{
    static const char *const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    int units = max > 0 && v > 0 && isfinite(v) ? (int)lround(v / max * 192) : 0;
    for (int i = 0; i < units / 8; i++)
        fputs("█", fp);
    fputs(eighths[units % 8], fp);
}

/* {====== text ======} */

static void write_text_table(const block *b, FILE *fp, int indent)
{
    size_t w[64] = {0}, nc = b->ncols < 64 ? b->ncols : 64;
    int head = b->kind == B_TABLE;
    for (size_t r = head ? 0 : 1; r <= b->nrows; r++)
        for (size_t c = 0; c < nc; c++) {
            size_t x = utf8_width(b->cells[r * b->ncols + c]);
            w[c] = x > w[c] ? x : w[c];
        }
    double max = bar_max(b);
    for (size_t r = head ? 0 : 1; r <= b->nrows; r++) {
        fprintf(fp, "%*s", indent, "");
        for (size_t c = 0; c < nc; c++) {
            const char *s = b->cells[r * b->ncols + c];
            size_t pad = w[c] - utf8_width(s);
            int right = head && b->nrows && numeric(b->cells[b->ncols + c]);
            if (!head && c == 0) {
                fprintf(fp, "%s:%*s ", s, (int)pad, "");
                continue;
            }
            if (right)
                fprintf(fp, "%*s", (int)pad, "");
            fputs(s, fp);
            if (!right && c + 1 < nc)
                fprintf(fp, "%*s", (int)pad, "");
            if (c + 1 < nc)
                fputs("  ", fp);
        }
        if (b->bars && r > 0) {
            fputs("  ", fp);
            text_bar(fp, b->bar[r - 1], max);
        }
        fputc('\n', fp);
    }
}

static void write_text(const mb_doc *d, FILE *fp)
{
    if (d->title && *d->title)
        fprintf(fp, "%s\n", d->title);
    for (size_t i = 0; i < d->n; i++) {
        const block *b = &d->b[i];
        switch (b->kind) {
        case B_HEAD:
            fprintf(fp, "%s%s:\n", b->level == 2 && i ? "\n" : "", b->text);
            break;
        case B_PARA:
        case B_NOTE:
            fprintf(fp, "%s\n", b->text);
            break;
        default:
            if (i && d->b[i - 1].kind == B_TABLE)
                fputc('\n', fp);
            write_text_table(b, fp, 2);
        }
    }
}

/* {====== Markdown ======} */

/* Text in a Markdown line: characters that would start markup or end a
** table cell are escaped, < and & as HTML entities (renderers pass HTML),
** line breaks become spaces. */
static void md_escape(FILE *fp, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", fp);
        else if (*s == '&')
            fputs("&amp;", fp);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', fp);
        else {
            if (strchr("\\|*_`[]#", *s))
                fputc('\\', fp);
            fputc(*s, fp);
        }
    }
}

static void write_md_table(const block *b, FILE *fp)
{
    double max = bar_max(b);
    if (b->kind == B_FACTS) {
        for (size_t r = 1; r <= b->nrows; r++) {
            fputs("- **", fp);
            md_escape(fp, b->cells[r * 2]);
            fputs("**: ", fp);
            md_escape(fp, b->cells[r * 2 + 1]);
            fputc('\n', fp);
        }
        fputc('\n', fp);
        return;
    }
    for (size_t r = 0; r <= b->nrows; r++) {
        fputc('|', fp);
        for (size_t c = 0; c < b->ncols; c++) {
            fputc(' ', fp);
            md_escape(fp, b->cells[r * b->ncols + c]);
            fputs(" |", fp);
        }
        if (b->bars) {
            fputc(' ', fp);
            if (r)
                text_bar(fp, b->bar[r - 1], max);
            fputs(" |", fp);
        }
        fputc('\n', fp);
        if (!r) {
            fputc('|', fp);
            for (size_t c = 0; c < b->ncols + (size_t)(b->bars != 0); c++)
                fputs(c && c < b->ncols && b->nrows && numeric(b->cells[b->ncols + c]) ? " ---: |" : " --- |", fp);
            fputc('\n', fp);
        }
    }
    fputc('\n', fp);
}

static void write_md(const mb_doc *d, FILE *fp)
{
    fputs("# ", fp);
    md_escape(fp, d->title);
    fputs("\n\n", fp);
    for (size_t i = 0; i < d->n; i++) {
        const block *b = &d->b[i];
        switch (b->kind) {
        case B_HEAD:
            fputs(b->level == 2 ? "## " : "### ", fp);
            md_escape(fp, b->text);
            fputs("\n\n", fp);
            break;
        case B_PARA:
            md_escape(fp, b->text);
            fputs("\n\n", fp);
            break;
        case B_NOTE:
            fputc('_', fp);
            md_escape(fp, b->text);
            fputs("_\n\n", fp);
            break;
        default:
            write_md_table(b, fp);
        }
    }
}

/* {====== HTML ======} */

static void html_escape(FILE *fp, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&#39;", fp); break;
        default: fputc(*s, fp);
        }
}

static void html_bar(FILE *fp, double v, double max)
{
    double w = max > 0 && v > 0 && isfinite(v) ? v / max * 200 : 0;
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"204\" height=\"14\" role=\"img\">"
                "<rect x=\"0\" y=\"2\" width=\"%.1f\" height=\"10\" fill=\"#3b6ea8\"/></svg>", w);
}

static void write_html_table(const block *b, FILE *fp)
{
    double max = bar_max(b);
    fprintf(fp, "<table class=\"%s\">\n", b->kind == B_FACTS ? "facts" : "data");
    for (size_t r = b->kind == B_FACTS ? 1 : 0; r <= b->nrows; r++) {
        fputs("<tr>", fp);
        for (size_t c = 0; c < b->ncols; c++) {
            const char *s = b->cells[r * b->ncols + c];
            int th = r == 0 || (b->kind == B_FACTS && c == 0);
            fputs(th ? "<th>" : numeric(s) ? "<td class=\"num\">" : "<td>", fp);
            html_escape(fp, s);
            fputs(th ? "</th>" : "</td>", fp);
        }
        if (b->bars) {
            fputs(r ? "<td>" : "<th></th>", fp);
            if (r) {
                html_bar(fp, b->bar[r - 1], max);
                fputs("</td>", fp);
            }
        }
        fputs("</tr>\n", fp);
    }
    fputs("</table>\n", fp);
}

static void write_html(const mb_doc *d, FILE *fp)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>", fp);
    html_escape(fp, d->title);
    fputs("</title>\n<style>\n"
          "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}\n"
          "table{border-collapse:collapse;margin:0.5em 0 1em}\n"
          "th,td{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left}\n"
          "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
          "table.facts th{background:#f4f4f4}\n"
          "p.todo{color:#8a4b00}\n"
          "</style>\n</head>\n<body>\n<h1>", fp);
    html_escape(fp, d->title);
    fputs("</h1>\n", fp);
    for (size_t i = 0; i < d->n; i++) {
        const block *b = &d->b[i];
        switch (b->kind) {
        case B_HEAD:
            fputs(b->level == 2 ? "<h2>" : "<h3>", fp);
            html_escape(fp, b->text);
            fputs(b->level == 2 ? "</h2>\n" : "</h3>\n", fp);
            break;
        case B_PARA:
            fputs("<p>", fp);
            html_escape(fp, b->text);
            fputs("</p>\n", fp);
            break;
        case B_NOTE:
            fputs("<p class=\"todo\"><em>", fp);
            html_escape(fp, b->text);
            fputs("</em></p>\n", fp);
            break;
        default:
            write_html_table(b, fp);
        }
    }
    fputs("</body>\n</html>\n", fp);
}

int mb_doc_write(const mb_doc *d, FILE *fp, mb_doc_format f)
{
    if (f == MB_DOC_HTML)
        write_html(d, fp);
    else if (f == MB_DOC_MARKDOWN)
        write_md(d, fp);
    else
        write_text(d, fp);
    return ferror(fp) ? -1 : 0;
}
