/*
** doc.h: a small document of headings, paragraphs, notes and tables (a
** table may carry a bar per row), written as aligned terminal text,
** Markdown or a standalone HTML page (inline SVG bars, no external
** assets, every text escaped). `moonbench card` builds one document for
** both of its formats; `evaluate --group` prints its group table with it.
*/
#ifndef MB_CLI_DOC_H
#define MB_CLI_DOC_H

#include <stdio.h>

#include "fairness.h"

typedef enum mb_doc_format { MB_DOC_TEXT, MB_DOC_MARKDOWN, MB_DOC_HTML } mb_doc_format;

typedef struct mb_doc mb_doc;

mb_doc *mb_doc_new(const char *title);
void mb_doc_free(mb_doc **d);

/* Level 2 or 3 heading. */
void mb_doc_heading(mb_doc *d, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void mb_doc_para(mb_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A paragraph shown emphasised (for "to be written by the model owner"). */
void mb_doc_note(mb_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "key: value" lines, as a two-column list. */
void mb_doc_fact(mb_doc *d, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A table of ncols columns named by head; with bars, each row's bar value
** (>= 0) is drawn after its cells, scaled to the largest. Cells that read
** as numbers are right-aligned in text. */
void mb_doc_table(mb_doc *d, size_t ncols, const char *const *head, int bars);
void mb_doc_row(mb_doc *d, const char *const *cells, double bar);

/* Write the document; 0, or -1 when fp reports an error. */
int mb_doc_write(const mb_doc *d, FILE *fp, mb_doc_format f);

/* {====== fairness reports (fairout.c) ======}
** The group table and the disparities of a fairness report as document
** blocks (headings at level `level`), and as JSON (a jansson object), for
** `evaluate --group` and `card --group`. classes: the bundle's class names. */
struct json_t;
void mb_cli_fairness_doc(mb_doc *d, int level, const mb_fairness *r, const mb_fair_groups *g,
                         char *const *classes);
struct json_t *mb_cli_fairness_json(const mb_fairness *r, const mb_fair_groups *g, char *const *classes);

#endif
