/*
** export.c: a bundle as the exporters see it (export.h). The column flow
** is not re-derived here: each fitted transform is asked for its plan
** (mb_transform_plan) on a zero-row frame with the pipeline's columns, and
** applied to that frame to get the next step's columns, so the exported
** arithmetic follows transform.c by construction.
*/
#include "export.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

size_t mbx_nout(const mbx_export *x)
{
    return x->b->task == MB_TASK_REGRESSION ? 1 : x->b->nclasses;
}

static int has_level(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

/* The export dictionary of categorical input j: every level the steps'
** states name for that column (onehot / ordinal training levels, impute
** fill texts), in order of first mention. Categorical columns keep their
** name through a pipeline (only copies, fills and encoders touch them). */
static mb_status collect_levels(mbx_export *x, size_t j, mb_error *err)
{
    const mb_bundle *b = x->b;
    for (size_t s = 0; s < b->nsteps; s++) {
        const char *kind = b->step_kinds[s];
        int enc = !strcmp(kind, "onehot") || !strcmp(kind, "ordinal"), imp = !strcmp(kind, "impute");
        if (!enc && !imp)
            continue;
        mb_state *st = &b->steps[s];
        size_t ncols = 0, nv = 0;
        char **cols = mb_state_get_strings(st, "columns", &ncols, err);
        char **v = cols ? mb_state_get_strings(st, enc ? "levels" : "fill_text", &nv, err) : NULL;
        if (!v) {
            for (size_t i = 0; cols && i < ncols; i++)
                mb_free(cols[i]);
            mb_free(cols);
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            return mb_fail(err, MB_EFORMAT, "step %zu (%s): %s", s + 1, kind, why);
        }
        const int64_t *nlev = NULL;
        for (size_t a = 0; enc && a < st->n; a++)
            if (!strcmp(st->arrays[a].name, "nlevels") && st->arrays[a].type == MB_DT_I64 &&
                st->arrays[a].count == ncols)
                nlev = st->arrays[a].data;
        mb_status rc = MB_OK;
        if (enc && !nlev)
            rc = mb_fail(err, MB_EFORMAT, "step %zu (%s): no valid 'nlevels' array", s + 1, kind);
        else if (imp && nv != ncols)
            rc = mb_fail(err, MB_EFORMAT, "step %zu (impute): %zu fill texts for %zu columns", s + 1, nv, ncols);
        for (size_t c = 0, off = 0; rc == MB_OK && c < ncols; c++) {
            size_t lo = enc ? off : c, hi = enc ? off + (size_t)nlev[c] : c + 1;
            if (enc && (nlev[c] < 0 || hi > nv)) {
                rc = mb_fail(err, MB_EFORMAT, "step %zu (%s): level counts exceed the levels", s + 1, kind);
                break;
            }
            off = hi;
            if (strcmp(cols[c], x->inputs[j]) != 0)
                continue;
            for (size_t l = lo; l < hi; l++) {
                if (has_level(x->levels[j], x->nlevels[j], v[l]))
                    continue;
                x->levels[j] = mb_realloc(x->levels[j], (x->nlevels[j] + 1) * sizeof *x->levels[j]);
                x->levels[j][x->nlevels[j]++] = mb_strdup(v[l]);
            }
        }
        for (size_t i = 0; i < ncols; i++)
            mb_free(cols[i]);
        for (size_t i = 0; i < nv; i++)
            mb_free(v[i]);
        mb_free(cols);
        mb_free(v);
        if (rc != MB_OK)
            return rc;
    }
    return MB_OK;
}

/* A zero-row frame with the pipeline's input columns. */
static mb_status input_frame(const mbx_export *x, mb_frame **out, mb_error *err)
{
    mb_frame *f = mb_frame_new(0);
    for (size_t j = 0; j < x->ninputs; j++) {
        if (!x->iscat[j]) {
            if (!mb_frame_add_num(f, x->inputs[j], NULL, 1, err))
                goto fail;
            continue;
        }
        mb_column *c = mb_frame_add_cat(f, x->inputs[j], err);
        if (!c)
            goto fail;
        for (size_t l = 0; l < x->nlevels[j]; l++)
            if (mb_column_add_level(c, x->levels[j][l], strlen(x->levels[j][l])) < 0) {
                mb_fail(err, MB_ENOMEM, "no memory for the levels of '%s'", x->inputs[j]);
                goto fail;
            }
    }
    *out = f;
    return MB_OK;
fail:
    mb_frame_free(&f);
    return err->code ? err->code : MB_ENOMEM;
}

/* Step s as per-column operations on in; *next is in transformed. */
static mb_status describe_step(mbx_export *x, size_t s, const mb_frame *in, mb_frame **next, mb_error *err)
{
    const mb_bundle *b = x->b;
    mbx_step *st = &x->steps[s];
    mb_transform *t = NULL;
    mb_step_plan plan = {0};
    st->kind = b->step_kinds[s];
    mb_status rc = mb_transform_load(b->step_kinds[s], &b->steps[s], &t, err);
    if (rc == MB_OK)
        rc = mb_transform_plan(t, in, &plan, err);
    if (rc == MB_OK)
        rc = mb_transform_apply(t, in, next, err);
    if (rc != MB_OK)
        goto exit;
    st->nin = in->ncols;
    st->nout = plan.n;
    st->cols = mb_calloc(plan.n ? plan.n : 1, sizeof *st->cols);
    for (size_t i = 0; i < plan.n; i++) {
        const mb_step_col *p = &plan.cols[i];
        mbx_col *c = &st->cols[i];
        c->name = mb_strdup(p->name);
        c->op = p->op;
        c->src = (size_t)p->src;
        c->src2 = p->src2 >= 0 ? (size_t)p->src2 : 0;
        c->a = p->a;
        c->b = p->b;
        c->k = p->k;
        if (p->remap) {
            /* remap[0] is the missing code's entry: always -1 */
            c->ntable = p->nremap - 1;
            c->table = mb_malloc((c->ntable ? c->ntable : 1) * sizeof *c->table);
            if (c->ntable)
                memcpy(c->table, p->remap + 1, c->ntable * sizeof *c->table);
        }
        if (p->op == MB_STEP_CATFILL) {
            const mb_column *oc = &(*next)->cols[i];
            c->fillcode = -1;
            for (size_t l = 0; l < oc->nlevels && c->fillcode < 0; l++)
                if (strcmp(oc->levels[l], p->fill) == 0)
                    c->fillcode = (int32_t)l;
            if (c->fillcode < 0)
                mb_panic("impute's fill level is not in its output column");
        }
    }
exit:
    mb_step_plan_free(&plan);
    mb_transform_free(&t);
    if (rc != MB_OK) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        mb_fail(err, rc, "step %zu (%s): %s", s + 1, b->step_kinds[s], why);
    }
    return rc;
}

mb_status mbx_open(mbx_export *x, const mb_bundle *b, mb_error *err)
{
    memset(x, 0, sizeof *x);
    x->b = b;
    /* the bundle's binary decision threshold, as the runtime's */
    x->threshold = mb_bundle_threshold(b);
    for (size_t s = 0; s < b->nsteps; s++)
        if (strcmp(b->step_kinds[s], "lua") == 0)
            return mb_fail(err, MB_EARG,
                           "step %zu of the pipeline is a Lua transform, which cannot be exported to C or "
                           "ONNX; rewrite it with the built-in transforms (docs/lua-api.md)", s + 1);
    if (b->form == MB_FORM_NONE)
        return mb_fail(err, MB_EARG,
                       "model '%s' (plugin %s) has no portable form, so it cannot be exported; linear, "
                       "tree and MLP models can", b->model, b->plugin);
    if (b->task != MB_TASK_REGRESSION && b->nclasses < 2)
        return mb_fail(err, MB_EFORMAT, "the bundle is a %s model with %zu classes",
                       b->task == MB_TASK_BINARY ? "binary" : "multiclass", b->nclasses);

    /* inputs: the pipeline's raw columns, or the features (moonbench fit) */
    int raw = b->ninputs > 0;
    x->ninputs = raw ? b->ninputs : b->nfeatures;
    x->inputs = mb_calloc(x->ninputs + 1, sizeof *x->inputs);
    x->iscat = mb_calloc(x->ninputs + 1, sizeof *x->iscat);
    x->levels = mb_calloc(x->ninputs + 1, sizeof *x->levels);
    x->nlevels = mb_calloc(x->ninputs + 1, sizeof *x->nlevels);
    x->steps = mb_calloc(b->nsteps + 1, sizeof *x->steps);
    mb_status rc = MB_OK;
    for (size_t j = 0; j < x->ninputs && rc == MB_OK; j++) {
        x->inputs[j] = mb_strdup(raw ? b->inputs[j] : b->features[j]);
        x->iscat[j] = raw && strcmp(b->input_types[j], "categorical") == 0;
        if (x->iscat[j])
            rc = collect_levels(x, j, err);
        /* codes travel as floats: exact up to 2^24 */
        if (rc == MB_OK && x->nlevels[j] > (size_t)1 << 24)
            rc = mb_fail(err, MB_EARG, "input '%s' has %zu levels; exports take at most 2^24", x->inputs[j],
                         x->nlevels[j]);
    }
    mb_frame *cur = NULL;
    if (rc == MB_OK)
        rc = input_frame(x, &cur, err);
    for (size_t s = 0; s < b->nsteps && rc == MB_OK; s++) {
        mb_frame *next = NULL;
        rc = describe_step(x, s, cur, &next, err);
        x->nsteps = s + 1; /* so close frees what was made */
        mb_frame_free(&cur);
        cur = next;
    }
    x->nfeatures = b->nfeatures;
    x->feature_col = mb_calloc(b->nfeatures + 1, sizeof *x->feature_col);
    for (size_t j = 0; j < b->nfeatures && rc == MB_OK; j++) {
        long c = mb_frame_find(cur, b->features[j]);
        if (c < 0)
            rc = mb_fail(err, MB_EFORMAT, "the pipeline does not make the model's feature '%s'", b->features[j]);
        else if (cur->cols[c].type != MB_COL_NUM)
            rc = mb_fail(err, MB_ETYPE, "the model's feature '%s' is categorical after the pipeline", b->features[j]);
        else
            x->feature_col[j] = (size_t)c;
    }
    mb_frame_free(&cur);
    if (rc == MB_OK)
        rc = mb_portable_from_state(b->form, (mb_state *)&b->portable_state, &x->form, &x->layers, err);
    if (rc == MB_OK) {
        x->noutputs = mb_portable_noutputs(&x->form);
        size_t want = b->task == MB_TASK_MULTICLASS ? b->nclasses : 1;
        if (mb_portable_nfeatures(&x->form) != b->nfeatures ||
            (x->noutputs != want && !(b->task == MB_TASK_BINARY && x->noutputs == 2)))
            rc = mb_fail(err, MB_EFORMAT, "the portable %s form takes %zu features and gives %zu outputs; the "
                         "schema has %zu features and %zu classes", mb_form_name(b->form),
                         mb_portable_nfeatures(&x->form), x->noutputs, b->nfeatures, b->nclasses);
    }
    if (rc != MB_OK)
        mbx_close(x);
    return rc;
}

void mbx_close(mbx_export *x)
{
    for (size_t j = 0; x->inputs && j < x->ninputs; j++) {
        mb_free(x->inputs[j]);
        for (size_t l = 0; l < x->nlevels[j]; l++)
            mb_free(x->levels[j][l]);
        mb_free(x->levels[j]);
    }
    for (size_t s = 0; x->steps && s < x->nsteps; s++) {
        for (size_t i = 0; i < x->steps[s].nout; i++) {
            mb_free(x->steps[s].cols[i].table);
            mb_free(x->steps[s].cols[i].name);
        }
        mb_free(x->steps[s].cols);
    }
    mb_free(x->inputs);
    mb_free(x->iscat);
    mb_free(x->levels);
    mb_free(x->nlevels);
    mb_free(x->steps);
    mb_free(x->feature_col);
    mb_free(x->layers);
    memset(x, 0, sizeof *x);
}

/* {====== atomic output files ======} */

mb_status mbx_file_open(mbx_file *f, const char *path, mb_error *err)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    int fd = mb_tmp_create(path, &f->tmp, err);
    if (fd < 0)
        return err->code ? err->code : MB_EIO;
    if (!(f->fp = fdopen(fd, "wb"))) {
        close(fd);
        mb_tmp_discard(&f->tmp);
        return mb_fail(err, MB_EIO, "%s: %s", path, strerror(errno));
    }
    return MB_OK;
}

mb_status mbx_file_commit(mbx_file *f, mb_error *err)
{
    int bad = fflush(f->fp) != 0 || ferror(f->fp) || fsync(fileno(f->fp)) != 0;
    int e = errno;
    bad |= fclose(f->fp) != 0;
    f->fp = NULL;
    if (bad) {
        mb_tmp_discard(&f->tmp);
        return mb_fail(err, MB_EIO, "%s: cannot write: %s", f->path, strerror(e ? e : errno));
    }
    return mb_tmp_publish(-1, &f->tmp, f->path, err);
}

void mbx_file_discard(mbx_file *f)
{
    if (f->fp)
        fclose(f->fp);
    f->fp = NULL;
    if (f->tmp)
        mb_tmp_discard(&f->tmp);
}
