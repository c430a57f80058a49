/*
** figures.c: a run's evaluation figures as the worker reports them (the
** F lines of job.c's protocol, written by its figures_lua chunk), kept for
** the Results tab. Lines come from our own child, but they are parsed as
** input all the same: sizes are capped and a malformed line is dropped.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results.h"

#define MAXPOINTS 4096
#define MAXRANKED 4096
#define MAXXROWS 200
#define MAXXCOLS 4096

mbtui_figures *mbtui_figures_new(void) { return mb_calloc(1, sizeof(mbtui_figures)); }

static void free_names(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        mb_free(v[i]);
    mb_free(v);
}

void mbtui_figures_free(mbtui_figures **pf)
{
    mbtui_figures *f = *pf;
    if (!f)
        return;
    for (int k = 0; k < MBTUI_NCURVES; k++) {
        mb_free(f->curve[k].x);
        mb_free(f->curve[k].y);
        mb_free(f->curve[k].z);
    }
    for (int c = 0; c < MBTUI_MAXCLASSES; c++)
        for (int k = 0; k < 2; k++) {
            mb_free(f->ovr[c][k].x);
            mb_free(f->ovr[c][k].y);
            mb_free(f->ovr[c][k].z);
        }
    mbtui_ranked *rk[] = {&f->importance, &f->shap};
    for (int k = 0; k < 2; k++) {
        free_names(rk[k]->name, rk[k]->n);
        mb_free(rk[k]->v);
        mb_free(rk[k]->sd);
    }
    free_names(f->colname, f->ncols > 0 ? f->ncols - 1 : 0);
    free_names(f->outname, f->noutputs);
    free_names(f->truth, f->nrows);
    free_names(f->pred, f->nrows);
    mb_free(f->phi);
    mb_free(f);
    *pf = NULL;
}

static void add_point(mbtui_series *s, double x, double y, double z)
{
    if (s->n == MAXPOINTS)
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->x = mb_realloc(s->x, (size_t)s->cap * sizeof *s->x);
        s->y = mb_realloc(s->y, (size_t)s->cap * sizeof *s->y);
        s->z = mb_realloc(s->z, (size_t)s->cap * sizeof *s->z);
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->z[s->n++] = z;
}

/* Ranked lists keep their order of arrival, then sort by value (largest
** first), ties by that order, as `moonbench explain` ranks. */
static void add_ranked(mbtui_ranked *r, double v, double sd, const char *name)
{
    if (r->n == MAXRANKED)
        return;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 32;
        r->name = mb_realloc(r->name, (size_t)r->cap * sizeof *r->name);
        r->v = mb_realloc(r->v, (size_t)r->cap * sizeof *r->v);
        r->sd = mb_realloc(r->sd, (size_t)r->cap * sizeof *r->sd);
    }
    int k = r->n++;
    for (; k > 0 && (r->v[k - 1] < v || (isnan(r->v[k - 1]) && !isnan(v))); k--) {
        r->name[k] = r->name[k - 1];
        r->v[k] = r->v[k - 1];
        r->sd[k] = r->sd[k - 1];
    }
    r->name[k] = mb_strdup(name);
    r->v[k] = v;
    r->sd[k] = sd;
}

/* "row TRUTH\tPRED\tv v v ...": one explained row, ncols x noutputs values. */
static void add_row(mbtui_figures *f, const char *rest)
{
    const char *t1 = strchr(rest, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    size_t want = (size_t)f->ncols * (size_t)f->noutputs;
    if (!t2 || f->nrows == MAXXROWS || want == 0)
        return;
    if (f->nrows == f->caprows) {
        f->caprows = f->caprows ? 2 * f->caprows : 16;
        f->phi = mb_realloc(f->phi, (size_t)f->caprows * want * sizeof *f->phi);
        f->truth = mb_realloc(f->truth, (size_t)f->caprows * sizeof *f->truth);
        f->pred = mb_realloc(f->pred, (size_t)f->caprows * sizeof *f->pred);
    }
    double *v = f->phi + (size_t)f->nrows * want;
    const char *p = t2 + 1;
    for (size_t j = 0; j < want; j++) {
        char *end;
        v[j] = strtod(p, &end);
        if (end == p)
            return; /* short line: dropped */
        p = end;
    }
    f->truth[f->nrows] = mb_strndup(rest, (size_t)(t1 - rest));
    f->pred[f->nrows] = mb_strndup(t1 + 1, (size_t)(t2 - t1 - 1));
    f->nrows++;
}

int mbtui_figures_parse(mbtui_figures *f, const char *line)
{
    char what[16];
    int off = 0;
    if (sscanf(line, "%15s %n", what, &off) < 1)
        return 0;
    const char *rest = line + off;
    if (!strcmp(what, "eval"))
        snprintf(f->eval_note, sizeof f->eval_note, "%s", rest);
    else if (!strcmp(what, "nocurve")) {
        if (!f->curve_note[0])
            snprintf(f->curve_note, sizeof f->curve_note, "%s", rest);
    } else if (!strcmp(what, "point")) {
        char k;
        int cls = -1, n = 0;
        double x, y, z;
        if (sscanf(rest, "%c%n", &k, &n) != 1)
            return 0;
        if (rest[n] != ' ' && (sscanf(rest + n, "%d%n", &cls, &n) != 1 || cls < 0 || cls >= f->nclasses))
            return 0; /* "rK" / "pK": class K against the rest */
        if (sscanf(rest + n, "%lf %lf %lf", &x, &y, &z) != 3)
            return 0;
        if (cls >= 0) {
            if (k != 'r' && k != 'p')
                return 0;
            add_point(&f->ovr[cls][k == 'p'], x, y, z);
            return 1;
        }
        int c = k == 'r' ? MBTUI_CURVE_ROC : k == 'p' ? MBTUI_CURVE_PR : k == 'c' ? MBTUI_CURVE_CAL
              : k == 's' ? MBTUI_CURVE_RESID : -1;
        if (c < 0)
            return 0;
        add_point(&f->curve[c], x, y, z);
    } else if (!strcmp(what, "class")) {
        int c, n = 0;
        if (sscanf(rest, "%d %n", &c, &n) < 1 || c != f->nclasses || c >= MBTUI_MAXCLASSES || !rest[n])
            return 0; /* in order, 0 first */
        snprintf(f->classname[c], sizeof f->classname[c], "%s", rest + n);
        f->ovr_area[c][0] = f->ovr_area[c][1] = NAN;
        f->nclasses++;
    } else if (!strcmp(what, "area")) {
        int c;
        char kind[8];
        double v;
        if (sscanf(rest, "%d %7s %lf", &c, kind, &v) != 3 || c < 0 || c >= f->nclasses)
            return 0;
        f->ovr_area[c][strcmp(kind, "pr") == 0] = v;
    } else if (!strcmp(what, "impkind"))
        snprintf(f->importance_kind, sizeof f->importance_kind, "%s", rest);
    else if (!strcmp(what, "imp")) {
        double v;
        int n = 0;
        if (sscanf(rest, "%lf %n", &v, &n) < 1 || !rest[n])
            return 0;
        add_ranked(&f->importance, v, NAN, rest + n);
    } else if (!strcmp(what, "shap")) {
        int mapped;
        long rows;
        if (sscanf(rest, "%31s %d %ld", f->method, &mapped, &rows) != 3)
            return 0;
        f->mapped = mapped;
        f->shap_rows = rows;
    } else if (!strcmp(what, "g")) {
        double v, sd;
        int idx, n = 0;
        if (sscanf(rest, "%lf %lf %d %n", &v, &sd, &idx, &n) < 3 || !rest[n])
            return 0;
        add_ranked(&f->shap, v, sd, rest + n);
    } else if (!strcmp(what, "xnote"))
        snprintf(f->explain_note, sizeof f->explain_note, "%s", rest);
    else if (!strcmp(what, "cols")) {
        int c, k;
        if (f->ncols || sscanf(rest, "%d %d", &c, &k) != 2 || c < 1 || k < 1 || (long)c * k > MAXXCOLS)
            return 0;
        f->ncols = c;
        f->noutputs = k;
        f->colname = mb_calloc((size_t)c, sizeof *f->colname);  /* c - 1 names and a NULL */
        f->outname = mb_calloc((size_t)k + 1, sizeof *f->outname);
    } else if (!strcmp(what, "col") || !strcmp(what, "out")) {
        char **v = what[0] == 'c' ? f->colname : f->outname;
        int n = what[0] == 'c' ? f->ncols - 1 : f->noutputs, have = 0;
        for (; v && have < n && v[have]; have++)
            ;
        if (!v || have == n)
            return 0;
        v[have] = mb_strdup(rest);
    } else if (!strcmp(what, "row"))
        add_row(f, rest);
    else
        return 0;
    return 1;
}
