/*
** csv.h: streaming CSV reader.
**
** DESIGN
** ------
** Reading is two passes over the file so that memory stays bounded by one
** chunk of rows plus the categorical dictionaries, whatever the file size:
**   1. mb_csv_open scans the whole file once: it detects the delimiter
**      (comma, semicolon or tab) from the first lines, reads the header,
**      checks every record (ragged rows and unterminated quotes are errors
**      that name the line), counts the data rows and infers each column's
**      type: numeric when every non-missing field parses as a number,
**      categorical otherwise. Missing fields: empty, NA, NaN, ?, null
**      (case-insensitive; N/A too).
**   2. mb_csv_read fills a chunk frame (from mb_csv_chunk_new) with the
**      next rows. Numbers become float32 (NaN for missing); categorical
**      fields are interned into the schema's dictionaries (levels in order
**      of first appearance), so chunk codes index the schema's levels.
** Quoting follows RFC 4180: fields in double quotes may hold delimiters,
** newlines and doubled quotes. A UTF-8 byte-order mark is skipped. Line
** ends may be LF or CRLF.
**
** Values: an unquoted field's value is its text without surrounding spaces
** and tabs; a quoted field's value is exactly its text ("" read as "),
** still a number if it reads as one. Numbers are [+-] digits [. digits]
** [e [+-] digits] or [+-] inf/infinity, and each becomes exactly
** (float)strtod(text) in the "C" locale, whatever the program's locale.
** Blank and whitespace-only lines are skipped (as pandas does). The header
** row is required; empty names become "column_N" (1-based) and repeated
** ones get ".1", ".2", ... as pandas does (the frame's note says how many
** were renamed). A record may span at most 64 MiB, so that a stray quote
** cannot make the reader take in the whole file.
**
** Errors (each message names the file and, for format errors, the line
** where the record or the quote starts): MB_ENOTFOUND / MB_EIO when the
** file cannot be opened or read; MB_EEMPTY "f.csv: empty file, expected a
** header row"; MB_EFORMAT "f.csv: line 7: 5 fields, expected 4 (as in the
** header)", "f.csv: line 12: unterminated quoted field (opened on this
** line)", or text after a closing quote. The file is UTF-8 text: a NUL
** byte or an invalid UTF-8 sequence anywhere (header included) is an
** MB_EFORMAT error in pass 1 naming the line, the field and its column,
** e.g. "f.csv: line 3: field 2 ('city'): invalid UTF-8 (byte 0xe9)";
** nothing is replaced or cut silently. A header without data rows is not
** an error: the schema has nrows 0.
*/
#ifndef MB_CSV_H
#define MB_CSV_H

#include "frame.h"

typedef struct mb_csv mb_csv;

typedef struct mb_csv_options {
    char delim;          /* 0 = detect among ',', ';', '\t' */
} mb_csv_options;

/* Pass 1. On success *out is an open reader; on failure err names the
** file, the line and the reason (e.g. "data.csv: line 7: 5 fields,
** expected 4 (as in the header)") and *out is NULL. opt may be NULL. */
mb_status mb_csv_open(const char *path, const mb_csv_options *opt, mb_csv **out, mb_error *err);

/* The schema: a frame with nrows = number of data rows, the columns in file
** order with their inferred types, and no numeric storage (num == NULL).
** Categorical columns gain levels as mb_csv_read interns values; after the
** last chunk they hold every level. Owned by the reader. */
mb_frame *mb_csv_schema(mb_csv *c);

/* A frame of `rows` rows with the schema's columns and types, to pass to
** mb_csv_read; fewer rows when the file is wide, so that one chunk holds
** at most 16 Mi values (64 MiB) whatever the number of columns (its nrows
** says how many; at least 1). Its categorical columns have no levels of
** their own. NULL if memory ran out. */
mb_frame *mb_csv_chunk_new(const mb_csv *c, size_t rows);

/* Pass 2: read the next up to dst->nrows rows into rows 0.. of dst; *nread
** is how many (0 at the end). dst must have the schema's columns and types
** (MB_EARG otherwise); numeric columns may have any stride. After an error
** the reader can only be closed. */
mb_status mb_csv_read(mb_csv *c, mb_frame *dst, size_t *nread, mb_error *err);
/* The same, and lines[i] (when not NULL; dst->nrows entries) is the file
** line on which row i's record starts (1-based, the header is line 1), for
** messages that name a row (moonbench score's rejects). */
mb_status mb_csv_read_lines(mb_csv *c, mb_frame *dst, size_t *nread, size_t *lines, mb_error *err);

void mb_csv_close(mb_csv **c);

/* Whole file into one frame (both passes); the frame owns its levels and
** its source is path. */
mb_status mb_csv_load(const char *path, const mb_csv_options *opt, mb_frame **out, mb_error *err);

#endif
