/*
** serve_api.c: the endpoints of `moonbench serve`: routing by method and
** path, request bodies parsed by jansson and scored row by row through the
** one inference runtime (runtime.h), and JSON replies. The request and reply shapes
** are in docs/deployment.md ("HTTP server"):
**   POST /predict                 {"instances": [[...]] or [{name: value}]}
**   GET  /health, /metrics, /v2, /v2/health/live, /v2/health/ready
**   GET  /v2/models/NAME[/ready]  POST /v2/models/NAME/infer (Open Inference Protocol v2:
**        one [n, inputs] tensor, or one [n] tensor per input named by it)
** Status codes: 400 malformed JSON (jansson's line, column and text), 404
** unknown path or model, 405 wrong method, 422 well-formed JSON that does not
** fit the model (naming the instance and the column), 500 a scorer failure.
*/
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h" /* mb_task_name */
#include "serve.h"

/* {====== replies ======} */

/* json_dump_callback's sink: the reply's body grows in one mb_malloc'd
** buffer, which the HTTP layer hands to MHD and MHD frees; so a reply is
** written once and never copied (json_dumps would need a copy from its
** own allocator's memory into ours). */
typedef struct dumpbuf {
    char *p;
    size_t len, cap;
    int failed;
} dumpbuf;

static int dump_put(const char *text, size_t n, void *ud)
{
    dumpbuf *b = ud;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = mb_tryrealloc(b->p, cap);
        if (!q) {
            b->failed = 1;
            return -1;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, text, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* The reply's body from j (reference stolen). Reals are dumped with 9
** significant digits: enough for any float32, and jfloat gives the
** shortest form that reads back as the same float. */
static void reply_json(mbsv_reply *r, int code, json_t *j)
{
    dumpbuf b = {NULL, 0, 0, 0};
    int bad = !j || json_dump_callback(j, dump_put, &b, JSON_COMPACT | JSON_REAL_PRECISION(9)) != 0 || !b.p;
    json_decref(j);
    r->code = code;
    r->content_type = "application/json";
    if (bad) {
        mb_free(b.p);
        r->code = 500;
        r->body = mb_strdup("{\"error\":\"out of memory\"}");
        r->len = strlen(r->body);
    } else {
        r->body = b.p;
        r->len = b.len;
    }
}

void mbsv_reply_error(mbsv_reply *r, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_json(r, code, json_pack("{ss}", "error", msg));
}

/* f as JSON: null for NaN and infinities (JSON has neither), else the
** shortest decimal that reads back as f (serve_json.c), whose %.9g dump
** is that decimal's text. */
static json_t *jfloat(float f)
{
    char buf[32];
    double v;
    mbsv_float_text(f, buf, &v);
    return isfinite(f) ? json_real(v) : json_null();
}

/* "a, b, c" for messages, cut to fit. */
static void col_list(const mbsv_model *m, char *buf, size_t n)
{
    size_t used = 0, nin = mb_runtime_ninputs(m->rt);
    buf[0] = '\0';
    for (size_t j = 0; j < nin && used + 8 < n; j++) {
        int w = snprintf(buf + used, n - used, "%s%s", j ? ", " : "", mb_runtime_input(m->rt, j));
        if (w < 0 || (size_t)w >= n - used) {
            snprintf(buf + (used < n - 6 ? used : n - 6), 6, ", ...");
            return;
        }
        used += (size_t)w;
    }
}

/* {====== the model ======} */

/* Each request thread scores through its own row context (runtime.h),
** made on its first request and freed when the thread ends. */
static void free_row_ctx(void *p)
{
    mb_runtime_row_ctx *c = p;
    mb_runtime_row_ctx_free(&c);
}

static void free_class_json(mbsv_model *m)
{
    for (size_t c = 0; m->class_json && c < mb_runtime_nclasses(m->rt); c++)
        mb_free(m->class_json[c]);
    mb_free(m->class_json);
    m->class_json = NULL;
}

void mbsv_model_init(mbsv_model *m, mb_runtime *rt, const char *name)
{
    memset(m, 0, sizeof *m);
    m->rt = rt;
    m->bundle = mb_runtime_bundle(rt);
    m->name = name;
    m->ninputs = mb_runtime_ninputs(rt);
    pthread_key_create(&m->ctx_key, free_row_ctx);
    /* the classes as JSON strings, written once by jansson for the
    ** /predict reply's text (none when a name is not UTF-8: then that
    ** reply is built as a jansson tree, as before) */
    m->as_float = mb_malloc(m->ninputs + 1);
    for (size_t j = 0; j < m->ninputs; j++) /* a categorical input reads a number as its text */
        m->as_float[j] = !mb_runtime_input_categorical(rt, j);
    size_t k = mb_runtime_nclasses(rt);
    m->class_json = k ? mb_calloc(k, sizeof *m->class_json) : NULL;
    for (size_t c = 0; c < k && m->class_json; c++) {
        json_t *j = json_string(mb_runtime_class(rt, c));
        char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
        json_decref(j);
        if (!t) {
            free_class_json(m);
            break;
        }
        m->class_json[c] = mb_strdup(t);
        free(t);
    }
}

void mbsv_model_free(mbsv_model *m)
{
    if (!m->rt)
        return;
    free_class_json(m);
    mb_free(m->as_float);
    pthread_key_delete(m->ctx_key);
    mb_runtime_close(&m->rt);
    memset(m, 0, sizeof *m);
}

static mb_runtime_row_ctx *row_ctx(mbsv_model *m)
{
    mb_runtime_row_ctx *c = pthread_getspecific(m->ctx_key);
    if (!c) {
        c = mb_runtime_row_ctx_new(m->rt);
        pthread_setspecific(m->ctx_key, c);
    }
    return c;
}

/* Set input j of row i to d (NaN: null, missing); JSON has no NaN, so a
** number never collides with it. 0, or -1 with a 422 reply. */
static int put_number(const mbsv_model *m, mb_runtime_row_ctx *ctx, size_t i, size_t j, double d, mbsv_reply *r)
{
    mb_error err;
    if (!isnan(d) && !(fabs(d) <= 3.4028234663852886e38)) {
        mbsv_reply_error(r, 422, "instance %zu, '%s': %g is outside the float32 range", i, mb_runtime_input(m->rt, j),
                         d);
        return -1;
    }
    if (mb_runtime_row_set_number(ctx, j, d, &err) != MB_OK) {
        mbsv_reply_error(r, 422, "instance %zu: %s", i, err.msg);
        return -1;
    }
    return 0;
}

/* Set input j of row i from a JSON value: a number, null (missing) or a
** string (a category, or a number as text: the runtime converts it);
** 0, or -1 with a 422 reply naming the instance and the column. */
static int put_value(const mbsv_model *m, mb_runtime_row_ctx *ctx, size_t i, size_t j, const json_t *v,
                     mbsv_reply *r)
{
    if (json_is_null(v))
        return put_number(m, ctx, i, j, (double)NAN, r);
    if (json_is_number(v))
        return put_number(m, ctx, i, j, json_number_value(v), r);
    if (!json_is_string(v)) {
        mbsv_reply_error(r, 422, "instance %zu, '%s': expected a number, a string or null", i,
                         mb_runtime_input(m->rt, j));
        return -1;
    }
    mb_error err;
    if (mb_runtime_row_set_text(ctx, j, json_string_value(v), &err) != MB_OK) {
        mbsv_reply_error(r, 422, "instance %zu: %s", i, err.msg);
        return -1;
    }
    return 0;
}

/* One instance: an array of ninputs values in the model's order, or an
** object naming every input (other names are ignored). */
static int put_instance(const mbsv_model *m, mb_runtime_row_ctx *ctx, size_t i, const json_t *row, mbsv_reply *r)
{
    char cols[512];
    if (json_is_array(row)) {
        if (json_array_size(row) != m->ninputs) {
            col_list(m, cols, sizeof cols);
            mbsv_reply_error(r, 422, "instance %zu has %zu values; the model takes %zu (%s)", i,
                             json_array_size(row), m->ninputs, cols);
            return -1;
        }
        for (size_t j = 0; j < m->ninputs; j++)
            if (put_value(m, ctx, i, j, json_array_get(row, j), r))
                return -1;
        return 0;
    }
    if (json_is_object(row)) {
        for (size_t j = 0; j < m->ninputs; j++) {
            const json_t *v = json_object_get(row, mb_runtime_input(m->rt, j));
            if (!v) {
                mbsv_reply_error(r, 422, "instance %zu has no value for '%s' (the model takes %zu named values)", i,
                                 mb_runtime_input(m->rt, j), m->ninputs);
                return -1;
            }
            if (put_value(m, ctx, i, j, v, r))
                return -1;
        }
        return 0;
    }
    mbsv_reply_error(r, 422, "instance %zu: expected an array of %zu values or an object of name: value", i,
                     m->ninputs);
    return -1;
}

/* {====== scoring ======} */

/* Fill row i's inputs in ctx from src; 0, or -1 with the reply set. */
typedef int (*row_fill)(const mbsv_model *m, mb_runtime_row_ctx *ctx, const void *src, size_t i, mbsv_reply *r);

typedef struct scored {
    size_t n, k;
    long *label;     /* n class indices, -1 for regression */
    float *value;    /* n values (regression) */
    float *proba;    /* n x k */
} scored;

static void scored_free(scored *sc)
{
    mb_free(sc->label);
    mb_free(sc->value);
    mb_free(sc->proba);
    sc->label = NULL;
    sc->value = sc->proba = NULL;
}

/* The labels as JSON: class names, or values for regression. */
static json_t *labels_json(const mbsv_model *m, const scored *sc)
{
    json_t *a = json_array();
    for (size_t i = 0; i < sc->n; i++)
        json_array_append_new(a, sc->label[i] >= 0 ? json_string(mb_runtime_class(m->rt, (size_t)sc->label[i]))
                                                   : jfloat(sc->value[i]));
    return a;
}

/* Score n rows, one at a time through this thread's row context; each
** row's model features also feed the drift window. 0, or -1 with the
** reply set (422 for a value the model cannot take, 500 for a failure). */
static int score_rows(mbsv_server *s, size_t n, row_fill fill, const void *src, scored *out, mbsv_reply *r)
{
    mbsv_model *m = &s->model;
    mb_runtime_row_ctx *ctx = row_ctx(m);
    size_t k = mb_runtime_nclasses(m->rt), cells;
    memset(out, 0, sizeof *out);
    out->n = n;
    out->k = k;
    size_t n1 = n ? n : 1;
    if (!mb_mul_ok(n1, sizeof(long), &cells) || !(out->label = mb_trymalloc(cells)) ||
        !(out->value = mb_trymalloc(n1 * sizeof(float))) ||
        (k && (!mb_mul_ok(n1, k * sizeof(float), &cells) || !(out->proba = mb_trymalloc(cells))))) {
        scored_free(out);
        mbsv_reply_error(r, 500, "out of memory for %zu rows", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        mb_runtime_row_reset(ctx);
        if (fill(m, ctx, src, i, r)) {
            scored_free(out);
            return -1;
        }
        mb_prediction p;
        mb_error err;
        mb_status rc = mb_runtime_row_predict(ctx, &p, &err);
        if (rc != MB_OK) {
            scored_free(out);
            if (rc == MB_ETYPE || rc == MB_ENOTFOUND || rc == MB_EARG) /* the row's values (runtime.h) */
                mbsv_reply_error(r, 422, "instance %zu: %s", i, err.msg);
            else
                mbsv_reply_error(r, 500, "cannot score instance %zu: %s", i, err.msg);
            return -1;
        }
        out->label[i] = p.class_name ? p.label : -1;
        out->value[i] = (float)p.value;
        if (k)
            memcpy(out->proba + i * k, p.proba, k * sizeof(float));
        mbsv_metrics_scored(s->metrics, mb_runtime_row_features(ctx), p.label);
    }
    return 0;
}

/* Rows read by mbsv_fast_rows: ninputs doubles each, NaN for null. */
static int fill_values(const mbsv_model *m, mb_runtime_row_ctx *ctx, const void *src, size_t i, mbsv_reply *r)
{
    const double *v = (const double *)src + i * m->ninputs;
    for (size_t j = 0; j < m->ninputs; j++)
        if (put_number(m, ctx, i, j, v[j], r))
            return -1;
    return 0;
}

static int fill_instance(const mbsv_model *m, mb_runtime_row_ctx *ctx, const void *src, size_t i, mbsv_reply *r)
{
    return put_instance(m, ctx, i, json_array_get((const json_t *)src, i), r);
}

/* {====== endpoints ======} */

/* The parsed body, or NULL with a 400 reply giving jansson's position and text. */
static json_t *parse_body(const char *body, size_t len, mbsv_reply *r)
{
    json_error_t e;
    json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        char msg[512];
        snprintf(msg, sizeof msg, "malformed JSON at line %d, column %d: %s", e.line, e.column, e.text);
        reply_json(r, 400, json_pack("{sssisiss}", "error", msg, "line", e.line, "column", e.column, "text", e.text));
    }
    return j;
}

static void on_predict(mbsv_server *s, const char *body, size_t len, mbsv_reply *r)
{
    scored sc;
    int bad;
    double *values;
    size_t n;
    if (mbsv_fast_rows(body, len, s->model.ninputs, s->model.as_float, &values, &n)) {
        /* the common body: no JSON tree (serve_rows.c) */
        bad = score_rows(s, n, fill_values, values, &sc, r);
        mb_free(values);
    } else {
        json_t *j = parse_body(body, len, r);
        if (!j)
            return;
        const json_t *inst = json_object_get(j, "instances");
        if (!json_is_array(inst)) {
            mbsv_reply_error(r, 422, "the body must be an object with \"instances\": a list of rows (arrays of "
                             "%zu values, or objects of name: value)", s->model.ninputs);
            json_decref(j);
            return;
        }
        bad = score_rows(s, json_array_size(inst), fill_instance, inst, &sc, r);
        json_decref(j);
    }
    if (bad)
        return;
    if (s->model.class_json || !sc.k) {
        /* the reply's text written straight (serve_json.c): jansson's bytes, no tree */
        mbsv_predict_rows pr = {sc.n, sc.k, sc.label, sc.value, (const char *const *)s->model.class_json, sc.proba};
        size_t tlen;
        char *text = mbsv_predict_body(&pr, &tlen);
        scored_free(&sc);
        if (!text) {
            mbsv_reply_error(r, 500, "out of memory for the reply");
            return;
        }
        r->code = 200;
        r->content_type = "application/json";
        r->body = text;
        r->len = tlen;
        return;
    }
    json_t *out = json_object();
    json_object_set_new(out, "predictions", labels_json(&s->model, &sc));
    if (sc.k) {
        json_t *pa = json_array();
        for (size_t i = 0; i < sc.n; i++) {
            json_t *row = json_array();
            for (size_t c = 0; c < sc.k; c++)
                json_array_append_new(row, jfloat(sc.proba[i * sc.k + c]));
            json_array_append_new(pa, row);
        }
        json_object_set_new(out, "probabilities", pa);
    }
    scored_free(&sc);
    reply_json(r, 200, out);
}

/* {====== Open Inference Protocol v2 infer ======} */

/* The request's values, borrowed from its JSON: one tensor [n, ninputs]
** (row-major: value (i, j) at v[i * ninputs + j]) or one tensor [n] per
** input (value (i, j) at v[j * n + i]); kind[j] is the datatype class of
** input j's tensor (all the same for the one tensor). */
enum { V2_FP = 1, V2_INT, V2_BYTES };

typedef struct v2_rows {
    const json_t **v;             /* n x ninputs values, owned */
    const char **tensor;          /* per input: its tensor's name (borrowed) */
    unsigned char *kind;
    size_t n;
    int per_input;
} v2_rows;

static void v2_rows_free(v2_rows *t)
{
    mb_free(t->v);
    mb_free(t->tensor);
    mb_free(t->kind);
}

/* Open Inference Protocol datatypes a tensor may use here: V2_*, or 0. */
static int v2_datatype(const char *t)
{
    static const char *const in[] = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"};
    if (strcmp(t, "FP32") == 0 || strcmp(t, "FP64") == 0)
        return V2_FP;
    if (strcmp(t, "BYTES") == 0)
        return V2_BYTES;
    for (size_t i = 0; i < 8; i++)
        if (strcmp(t, in[i]) == 0)
            return V2_INT;
    return 0;
}

/* Flatten tensor `name`'s data (row-major, flat or nested) into out[0..want)
** (out may be NULL: count only), each value checked against the datatype;
** the number of values seen (may exceed want), or -1 with a 422 reply. */
static long v2_flatten(const json_t *d, const char *name, int kind, const json_t **out, size_t want, size_t have,
                       int depth, mbsv_reply *r)
{
    if (json_is_array(d)) {
        if (depth > 8) {
            mbsv_reply_error(r, 422, "input '%s': data is nested too deeply", name);
            return -1;
        }
        for (size_t i = 0; i < json_array_size(d); i++) {
            long got = v2_flatten(json_array_get(d, i), name, kind, out, want, have, depth + 1, r);
            if (got < 0)
                return -1;
            have = (size_t)got;
        }
        return (long)have;
    }
    int ok = kind == V2_BYTES ? json_is_string(d) || json_is_null(d)
             : kind == V2_INT ? json_is_integer(d)
                              : json_is_number(d) || json_is_null(d);
    if (!ok) {
        mbsv_reply_error(r, 422, "input '%s': value %zu is not %s", name, have,
                         kind == V2_BYTES ? "a string (BYTES)" : kind == V2_INT ? "an integer" : "a number");
        return -1;
    }
    double v = json_is_number(d) ? json_number_value(d) : 0;
    if (!(fabs(v) <= 3.4028234663852886e38)) {
        mbsv_reply_error(r, 422, "input '%s': value %zu (%g) is outside the float32 range", name, have, v);
        return -1;
    }
    if (have < want)
        out[have] = d;
    return (long)have + 1;
}

/* A tensor's name, datatype class and shape (rank 1 or 2); 0, or -1 with a
** 422 reply. */
static int v2_header(const json_t *t, const char **name, int *kind, size_t dims[2], size_t *rank, mbsv_reply *r)
{
    const json_t *jn = json_object_get(t, "name"), *shape = json_object_get(t, "shape"),
                 *dt = json_object_get(t, "datatype");
    if (!json_is_object(t) || !json_is_string(jn)) {
        mbsv_reply_error(r, 422, "each of \"inputs\" must be an object with a \"name\"");
        return -1;
    }
    *name = json_string_value(jn);
    if (!json_is_string(dt) || !(*kind = v2_datatype(json_string_value(dt)))) {
        mbsv_reply_error(r, 422, "input '%s': datatype %s%s%s is not supported (FP32, FP64, INT8..INT64, "
                         "UINT8..UINT64, BYTES)", *name, json_is_string(dt) ? "'" : "",
                         json_is_string(dt) ? json_string_value(dt) : "(none)", json_is_string(dt) ? "'" : "");
        return -1;
    }
    *rank = json_array_size(shape);
    int ok = json_is_array(shape) && (*rank == 1 || *rank == 2);
    for (size_t i = 0; ok && i < *rank; i++) {
        const json_t *d = json_array_get(shape, i);
        ok = json_is_integer(d) && json_integer_value(d) >= 0 && json_integer_value(d) < ((json_int_t)1 << 40);
        if (ok)
            dims[i] = (size_t)json_integer_value(d);
    }
    if (!ok) {
        mbsv_reply_error(r, 422, "input '%s': \"shape\" must be a list of one or two sizes", *name);
        return -1;
    }
    if (!json_is_array(json_object_get(t, "data"))) {
        mbsv_reply_error(r, 422, "input '%s': \"data\" must be a list of values", *name);
        return -1;
    }
    return 0;
}

/* Tensor t's values into out[0..want), exactly want of them; 0, or -1 with
** a 422 reply. The shape is the client's claim: the body limit bounds the
** values, so buffers were sized from the shape only after the count. */
static int v2_values(const json_t *t, const char *name, int kind, const json_t **out, size_t want,
                     const char *shape, mbsv_reply *r)
{
    long got = v2_flatten(json_object_get(t, "data"), name, kind, out, want, 0, 0, r);
    if (got >= 0 && (size_t)got != want)
        mbsv_reply_error(r, 422, "input '%s': data has %ld values, shape %s needs %zu", name, got, shape, want);
    return got >= 0 && (size_t)got == want ? 0 : -1;
}

/* The one-tensor form: [n, ninputs] (or [ninputs]: one row). */
static int v2_matrix(const mbsv_model *m, const json_t *t, v2_rows *out, mbsv_reply *r)
{
    char cols[512], shape[64];
    const char *name;
    int kind;
    size_t dims[2] = {1, 0}, rank, p = m->ninputs, cells;
    if (v2_header(t, &name, &kind, dims, &rank, r))
        return -1;
    if (rank == 1) {
        dims[1] = dims[0];
        dims[0] = 1;
    }
    if (dims[1] != p) {
        col_list(m, cols, sizeof cols);
        mbsv_reply_error(r, 422, "input '%s': shape must be [n, %zu] (%s), or one tensor of shape [n] per input "
                         "named by it", name, p, cols);
        return -1;
    }
    long got = v2_flatten(json_object_get(t, "data"), name, kind, NULL, 0, 0, 0, r);
    if (got < 0)
        return -1;
    snprintf(shape, sizeof shape, "[%zu, %zu]", dims[0], dims[1]);
    if (!mb_mul_ok(dims[0], p, &cells) || (size_t)got != cells) {
        mbsv_reply_error(r, 422, "input '%s': data has %ld values, shape %s needs %zu", name, got, shape,
                         dims[0] * p);
        return -1;
    }
    out->n = dims[0];
    out->v = mb_trymalloc((cells ? cells : 1) * sizeof *out->v);
    out->tensor = mb_calloc(p + 1, sizeof *out->tensor);
    out->kind = mb_calloc(p + 1, 1);
    if (!out->v) {
        mbsv_reply_error(r, 500, "out of memory for %zu values", cells);
        return -1;
    }
    for (size_t j = 0; j < p; j++) {
        out->tensor[j] = name;
        out->kind[j] = (unsigned char)kind;
    }
    return v2_values(t, name, kind, out->v, cells, shape, r);
}

/* The per-input form: one tensor of shape [n] (or [n, 1]) named by each
** input, all with the same n. Every input needs its tensor; a tensor that
** names no input is an error (a misspelt name would otherwise go unseen). */
static int v2_columns(const mbsv_model *m, const json_t *inputs, v2_rows *out, mbsv_reply *r)
{
    char cols[512], shape[64];
    size_t p = m->ninputs, nt = json_array_size(inputs), cells;
    const json_t **by = mb_calloc(p + 1, sizeof *by);
    out->tensor = mb_calloc(p + 1, sizeof *out->tensor);
    out->kind = mb_calloc(p + 1, 1);
    out->per_input = 1;
    int bad = 0;
    for (size_t k = 0; !bad && k < nt; k++) {
        const json_t *t = json_array_get(inputs, k);
        const char *name;
        int kind;
        size_t dims[2] = {0, 1}, rank;
        if ((bad = v2_header(t, &name, &kind, dims, &rank, r)) != 0)
            break;
        long j = mb_runtime_input_find(m->rt, name);
        if (j < 0) {
            col_list(m, cols, sizeof cols);
            mbsv_reply_error(r, 422, "input '%s': the model has no input of that name (it takes %s)", name, cols);
            bad = -1;
        } else if (by[j]) {
            mbsv_reply_error(r, 422, "input '%s' is given twice", name);
            bad = -1;
        } else if (dims[1] != 1 || (k > 0 && dims[0] != out->n)) {
            mbsv_reply_error(r, 422, "input '%s': shape must be [%zu] (one value per row, as the first input)",
                             name, k ? out->n : dims[0]);
            bad = -1;
        } else {
            by[j] = t;
            out->tensor[j] = name;
            out->kind[j] = (unsigned char)kind;
            out->n = dims[0];
        }
    }
    for (size_t j = 0; !bad && j < p; j++)
        if (!by[j]) {
            mbsv_reply_error(r, 422, "no input tensor named '%s' (the model takes %zu, one tensor of shape [n] each)",
                             mb_runtime_input(m->rt, j), p);
            bad = -1;
        }
    /* sized from the claimed n only once every tensor's count is known */
    for (size_t j = 0; !bad && j < p; j++) {
        long got = v2_flatten(json_object_get(by[j], "data"), out->tensor[j], out->kind[j], NULL, 0, 0, 0, r);
        if (got < 0 || (size_t)got != out->n) {
            if (got >= 0)
                mbsv_reply_error(r, 422, "input '%s': data has %ld values, shape [%zu] needs %zu", out->tensor[j],
                                 got, out->n, out->n);
            bad = -1;
        }
    }
    if (!bad && (!mb_mul_ok(out->n ? out->n : 1, p, &cells) || !(out->v = mb_trymalloc(cells * sizeof *out->v)))) {
        mbsv_reply_error(r, 500, "out of memory for %zu rows", out->n);
        bad = -1;
    }
    for (size_t j = 0; !bad && j < p; j++) {
        snprintf(shape, sizeof shape, "[%zu]", out->n);
        bad = v2_values(by[j], out->tensor[j], out->kind[j], out->v + j * out->n, out->n, shape, r);
    }
    mb_free(by);
    return bad;
}

/* A v2 "inputs" list in either form: one tensor that names no input is the
** [n, ninputs] matrix; otherwise one tensor per input, by name. */
static int v2_inputs(const mbsv_model *m, const json_t *inputs, v2_rows *out, mbsv_reply *r)
{
    char cols[512];
    memset(out, 0, sizeof *out);
    if (!json_is_array(inputs) || json_array_size(inputs) == 0) {
        col_list(m, cols, sizeof cols);
        mbsv_reply_error(r, 422, "\"inputs\" must list one tensor of shape [n, %zu], or one tensor of shape [n] "
                         "per input named by it (%s)", m->ninputs, cols);
        return -1;
    }
    const json_t *first = json_object_get(json_array_get(inputs, 0), "name");
    if (json_array_size(inputs) == 1 &&
        !(json_is_string(first) && mb_runtime_input_find(m->rt, json_string_value(first)) >= 0))
        return v2_matrix(m, json_array_get(inputs, 0), out, r);
    return v2_columns(m, inputs, out, r);
}

static int fill_tensor_row(const mbsv_model *m, mb_runtime_row_ctx *ctx, const void *src, size_t i, mbsv_reply *r)
{
    const v2_rows *t = src;
    for (size_t j = 0; j < m->ninputs; j++) {
        const json_t *v = t->per_input ? t->v[j * t->n + i] : t->v[i * m->ninputs + j];
        mb_error err;
        mb_status rc = json_is_string(v) ? mb_runtime_row_set_text(ctx, j, json_string_value(v), &err)
                       : json_is_null(v) ? t->kind[j] == V2_BYTES ? mb_runtime_row_set_text(ctx, j, NULL, &err)
                                                                   : mb_runtime_row_set_number(ctx, j, (double)NAN, &err)
                                         : mb_runtime_row_set_number(ctx, j, json_number_value(v), &err);
        if (rc != MB_OK) {
            mbsv_reply_error(r, 422, "input '%s', row %zu: %s", t->tensor[j], i, err.msg);
            return -1;
        }
    }
    return 0;
}

/* Whether output `name` was asked for (all when "outputs" is absent). */
static int v2_wants(const json_t *outputs, const char *name)
{
    if (!json_is_array(outputs))
        return 1;
    for (size_t i = 0; i < json_array_size(outputs); i++) {
        const json_t *o = json_object_get(json_array_get(outputs, i), "name");
        if (json_is_string(o) && strcmp(json_string_value(o), name) == 0)
            return 1;
    }
    return 0;
}

static void on_v2_infer(mbsv_server *s, const char *body, size_t len, mbsv_reply *r)
{
    const mb_bundle *b = s->model.bundle;
    json_t *j = parse_body(body, len, r);
    if (!j)
        return;
    const json_t *outputs = json_object_get(j, "outputs");
    for (size_t i = 0; json_is_array(outputs) && i < json_array_size(outputs); i++) {
        const json_t *o = json_object_get(json_array_get(outputs, i), "name");
        const char *on = json_is_string(o) ? json_string_value(o) : "";
        if (strcmp(on, "label") != 0 && (strcmp(on, "probabilities") != 0 || !b->nclasses)) {
            mbsv_reply_error(r, 422, "no output named '%s' (the model gives 'label'%s)", on,
                             b->nclasses ? " and 'probabilities'" : "");
            json_decref(j);
            return;
        }
    }
    v2_rows t;
    scored sc;
    int bad = v2_inputs(&s->model, json_object_get(j, "inputs"), &t, r);
    if (!bad)
        bad = score_rows(s, t.n, fill_tensor_row, &t, &sc, r);
    v2_rows_free(&t);
    if (bad) {
        json_decref(j);
        return;
    }
    json_t *outs = json_array();
    if (v2_wants(outputs, "label")) {
        json_array_append_new(outs, json_pack("{sssss[I]so}", "name", "label", "datatype", sc.k ? "BYTES" : "FP32",
                                              "shape", (json_int_t)sc.n, "data", labels_json(&s->model, &sc)));
    }
    if (sc.k && v2_wants(outputs, "probabilities")) {
        json_t *d = json_array();
        for (size_t i = 0; i < sc.n * sc.k; i++)
            json_array_append_new(d, jfloat(sc.proba[i]));
        json_array_append_new(outs, json_pack("{sssss[II]so}", "name", "probabilities", "datatype", "FP32", "shape",
                                              (json_int_t)sc.n, (json_int_t)sc.k, "data", d));
    }
    scored_free(&sc);
    json_t *out = json_pack("{sssO}", "model_name", s->model.name, "outputs", outs);
    json_decref(outs);
    /* the request's id and parameters come back with the reply, as the protocol has it */
    const json_t *id = json_object_get(j, "id"), *params = json_object_get(j, "parameters");
    if (out && json_is_string(id))
        json_object_set(out, "id", (json_t *)id);
    if (out && json_is_object(params))
        json_object_set(out, "parameters", (json_t *)params);
    json_decref(j);
    reply_json(r, 200, out);
}

static json_t *strings_json(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *inputs_json(const mbsv_model *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->ninputs; i++)
        json_array_append_new(a, json_string(mb_runtime_input(m->rt, i)));
    return a;
}

/* The input tensors as v2 infer takes them: one [n] tensor per input,
** named by it, BYTES for a categorical input (its levels as text) and FP32
** for a number; and, in the parameters, the one-tensor form [n, inputs]
** (BYTES when any input is categorical, as its values must then be text). */
static json_t *v2_input_tensors(const mbsv_model *m, json_t **matrix)
{
    json_t *a = json_array();
    int any_text = 0;
    for (size_t i = 0; i < m->ninputs; i++) {
        int text = mb_runtime_input_categorical(m->rt, i);
        any_text |= text;
        json_array_append_new(a, json_pack("{sssss[i]}", "name", mb_runtime_input(m->rt, i), "datatype",
                                           text ? "BYTES" : "FP32", "shape", -1));
    }
    *matrix = json_pack("{sssss[iI]}", "name", "input", "datatype", any_text ? "BYTES" : "FP32", "shape", -1,
                        (json_int_t)m->ninputs);
    return a;
}

static void on_v2_model(mbsv_server *s, mbsv_reply *r)
{
    const mbsv_model *m = &s->model;
    const mb_bundle *b = m->bundle;
    json_t *outs = json_array();
    json_array_append_new(outs, json_pack("{sssss[i]}", "name", "label", "datatype", b->nclasses ? "BYTES" : "FP32",
                                          "shape", -1));
    if (b->nclasses)
        json_array_append_new(outs, json_pack("{sssss[iI]}", "name", "probabilities", "datatype", "FP32", "shape", -1,
                                              (json_int_t)b->nclasses));
    json_t *matrix = NULL, *inputs = v2_input_tensors(m, &matrix);
    json_t *params = json_pack("{sssossssso}", "task", mb_task_name(b->task), "inputs", inputs_json(m), "model",
                               b->model ? b->model : "", "scorer", mb_runtime_describe(m->rt), "matrix_input", matrix);
    if (b->nclasses)
        json_object_set_new(params, "classes", strings_json((const char *const *)b->classes, b->nclasses));
    reply_json(r, 200,
               json_pack("{sss[]sssososo}", "name", m->name, "versions", "platform", "moonbench", "inputs", inputs,
                         "outputs", outs, "parameters", params));
}

/* {====== routing ======} */

static int is_get(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static void ready_reply(mbsv_server *s, mbsv_reply *r)
{
    int draining = atomic_load(&s->draining);
    reply_json(r, draining ? 503 : 200, json_pack("{sb}", "ready", !draining));
}

/* /v2/models/NAME[/ready|/infer]: the endpoint, or OTHER for an unknown path. */
static mbsv_endpoint v2_model_path(const char *rest, const char *name, int *known_name)
{
    size_t n = strlen(name);
    *known_name = strncmp(rest, name, n) == 0 && (rest[n] == '\0' || rest[n] == '/');
    const char *tail = *known_name ? rest + n : strchr(rest, '/');
    if (!tail || !*tail)
        return MBSV_EP_V2_MODEL;
    if (strcmp(tail, "/ready") == 0)
        return MBSV_EP_V2_MODEL_READY;
    if (strcmp(tail, "/infer") == 0)
        return MBSV_EP_V2_INFER;
    return MBSV_EP_OTHER;
}

/* The endpoint of path; *known_name: the model named is this one. */
static mbsv_endpoint classify(const mbsv_server *s, const char *path, int *known_name)
{
    *known_name = 1;
    if (strcmp(path, "/predict") == 0)
        return MBSV_EP_PREDICT;
    if (strcmp(path, "/health") == 0)
        return MBSV_EP_HEALTH;
    if (strcmp(path, "/metrics") == 0)
        return MBSV_EP_METRICS;
    if (strcmp(path, "/v2") == 0)
        return MBSV_EP_V2_SERVER;
    if (strcmp(path, "/v2/health/live") == 0)
        return MBSV_EP_V2_LIVE;
    if (strcmp(path, "/v2/health/ready") == 0)
        return MBSV_EP_V2_READY;
    if (strncmp(path, "/v2/models/", 11) == 0 && path[11])
        return v2_model_path(path + 11, s->model.name, known_name);
    return MBSV_EP_OTHER;
}

mbsv_endpoint mbsv_endpoint_of(const mbsv_server *s, const char *path)
{
    int known;
    return classify(s, path, &known);
}

void mbsv_route(mbsv_server *s, const char *method, const char *path, const char *body, size_t len,
                mbsv_reply *r)
{
    memset(r, 0, sizeof *r);
    int known_name;
    mbsv_endpoint ep = classify(s, path, &known_name);
    r->endpoint = ep;
    if (ep == MBSV_EP_OTHER) {
        mbsv_reply_error(r, 404, "no endpoint %s (see /v2, /predict, /metrics, /health)", path);
        r->endpoint = ep;
        return;
    }
    int post = ep == MBSV_EP_PREDICT || ep == MBSV_EP_V2_INFER;
    if (post ? strcmp(method, "POST") != 0 : !is_get(method)) {
        mbsv_reply_error(r, 405, "%s takes %s, not %s", path, post ? "POST" : "GET", method);
        r->allow = post ? "POST" : "GET, HEAD";
    } else if (!known_name) {
        mbsv_reply_error(r, 404, "no model %s here (this server serves '%s')", path + 11, s->model.name);
    } else {
        switch (ep) {
        case MBSV_EP_PREDICT: on_predict(s, body, len, r); break;
        case MBSV_EP_V2_INFER: on_v2_infer(s, body, len, r); break;
        case MBSV_EP_V2_MODEL: on_v2_model(s, r); break;
        case MBSV_EP_V2_READY:
        case MBSV_EP_V2_MODEL_READY: ready_reply(s, r); break;
        case MBSV_EP_V2_LIVE: reply_json(r, 200, json_pack("{sb}", "live", 1)); break;
        case MBSV_EP_HEALTH:
            reply_json(r, atomic_load(&s->draining) ? 503 : 200,
                       json_pack("{ssss}", "status", atomic_load(&s->draining) ? "draining" : "ok", "model",
                                 s->model.name));
            break;
        case MBSV_EP_V2_SERVER:
            reply_json(r, 200, json_pack("{ssss, s[]}", "name", "moonbench", "version", MB_VERSION, "extensions"));
            break;
        case MBSV_EP_METRICS:
            r->code = 200;
            r->body = mbsv_metrics_render(s->metrics, &r->len);
            r->content_type = "text/plain; version=0.0.4; charset=utf-8";
            break;
        default: mbsv_reply_error(r, 404, "no endpoint %s", path); break;
        }
    }
    r->endpoint = ep;
}
