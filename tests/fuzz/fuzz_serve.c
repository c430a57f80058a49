/*
** fuzz_serve.c: differential fuzzing of the server's two hand-made fast
** paths against jansson, which they must equal or step aside for:
** mbsv_fast_rows (POST /predict's {"instances": [[...]]} read straight into
** doubles; when it takes a body, jansson with the server's flags must parse
** it to the same shape and values) and mbsv_float_text (a float32 written
** as the reply does; jansson's dump of the old shortest "%.*g" decimal is
** the oracle). A difference aborts, so libFuzzer keeps the input.
**
** Input: byte 0 picks the row width (1..40), byte 1 which columns are
** numeric inputs (only their float32 is used), the rest is the body; its
** first 4 bytes are also a float32 for the writer.
*/
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb.h"
#include "serve.h"

static void differ(const char *what)
{
    fprintf(stderr, "fuzz_serve: %s\n", what);
    abort();
}

/* What jansson makes of a body the fast path read as nrows x nin values. */
static void check_rows(const char *body, size_t len, size_t nin, const unsigned char *as_float,
                       const double *v, size_t nrows)
{
    json_error_t e;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!root)
        differ("the fast path took a body jansson refuses");
    json_t *inst = json_object_get(root, "instances");
    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(inst) ||
        json_array_size(inst) != nrows)
        differ("another shape or row count than jansson's");
    for (size_t i = 0; i < nrows; i++) {
        json_t *row = json_array_get(inst, i);
        if (!json_is_array(row) || json_array_size(row) != nin)
            differ("a row of another width than jansson's");
        for (size_t j = 0; j < nin; j++) {
            json_t *x = json_array_get(row, j);
            double got = v[i * nin + j];
            if (json_is_null(x)) {
                if (!isnan(got))
                    differ("null read as a number");
                continue;
            }
            if (!json_is_number(x))
                differ("a value jansson does not read as a number");
            double want = json_number_value(x);
            if (as_float[j] ? (float)got != (float)want : memcmp(&got, &want, sizeof got) != 0)
                differ("a number read as another value than jansson's");
        }
    }
    json_decref(root);
}

/* The server's float text before serve_json.c: the oracle. */
static void check_float(float f)
{
    char got[32], want_text[32];
    double value;
    size_t n = mbsv_float_text(f, got, &value);
    json_t *j = json_null();
    if (isfinite(f)) {
        for (int p = 6; p <= 9; p++) {
            snprintf(want_text, sizeof want_text, "%.*g", p, (double)f);
            if (strtof(want_text, NULL) == f)
                break;
        }
        json_decref(j);
        j = json_real(strtod(want_text, NULL));
    }
    char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(j);
    if (!want || strcmp(got, want) != 0 || n != strlen(want))
        differ("a float's text differs from jansson's");
    if (isfinite(f) ? (float)value != f : !isnan(value))
        differ("a float's value does not read back");
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t nin = 1 + data[0] % 40;
    unsigned char as_float[40];
    for (size_t j = 0; j < nin; j++)
        as_float[j] = (unsigned char)(data[1] >> (j % 8) & 1);
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    double *v = NULL;
    size_t nrows = 0;
    if (mbsv_fast_rows(body, len, nin, as_float, &v, &nrows)) {
        check_rows(body, len, nin, as_float, v, nrows);
        mb_free(v);
    }
    if (len >= 4) {
        float f;
        memcpy(&f, body, sizeof f);
        check_float(f);
    }
    return 0;
}
