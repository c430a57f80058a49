/*
** view_models.c: the Models tab: the loaded plugins and their models
** (the core's plugin registry), a parameter form generated from the
** selected model's parameter table and validated inline by the host's own
** validator (mb_params_parse), the training key, and the live state of
** the latest run: progress bar, elapsed time, loss curve, cancel.
*/
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "tui.h"

#define MAXMODELS 64
#define MAXPARAMS 48

typedef struct model_row {
    const mb_model_type *type;
    const mb_loaded_plugin *owner;
    char value[MAXPARAMS][128];
    char error[MAXPARAMS][256];
} model_row;

typedef struct models_view {
    mb_registry reg;
    model_row rows[MAXMODELS];
    int nrows;
    int cursor, pcursor, in_form;
} models_view;

static models_view *V(mbtui_view *v) { return v->priv; }

static int models_open(mbtui_view *v)
{
    models_view *m = V(v);
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        mb_registry_discover(&m->reg, dirname(exe));
    } else
        mb_registry_discover(&m->reg, NULL);
    for (size_t p = 0; p < m->reg.nplugins; p++) {
        const mb_plugin *pl = m->reg.plugins[p].plugin;
        for (size_t k = 0; k < pl->nmodels && m->nrows < MAXMODELS; k++) {
            model_row *row = &m->rows[m->nrows++];
            row->type = pl->models[k];
            row->owner = &m->reg.plugins[p];
            for (size_t i = 0; i < row->type->nparams && i < MAXPARAMS; i++)
                snprintf(row->value[i], sizeof row->value[i], "%s", row->type->params[i].def);
        }
    }
    return 0;
}

static void models_done(mbtui_view *v) { mb_registry_close(&V(v)->reg); }

static size_t nparams(const model_row *row)
{
    return row->type->nparams < MAXPARAMS ? row->type->nparams : MAXPARAMS;
}

/* {====== drawing ======} */

static void draw_run(const mbtui_run *r, mbtui_rect b)
{
    static const char *const spark[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    const char *st[] = {"queued", "running", "done", "failed", "cancelled"};
    mbtui_textf(b.y, b.x, b.w, MBTUI_A_TITLE, "run %d: %s %s  [%s]  %.1f s", r->id, r->model, r->params,
                st[r->state], r->elapsed);
    int bw = b.w - 8 > 50 ? 50 : b.w - 8;
    if (bw > 2 && b.h > 1) {
        char bar[50 * 3 + 1] = "";
        int full = (int)lround(r->fraction * bw);
        for (int i = 0; i < bw; i++)
            strcat(bar, i < full ? "█" : "░");
        mbtui_textf(b.y + 1, b.x, b.w, r->state == MBTUI_RUN_FAILED ? MBTUI_A_ERROR : MBTUI_A_BAR, "%s %3.0f%%", bar,
                    r->fraction * 100);
    }
    if (b.h > 2)
        mbtui_text(b.y + 2, b.x, b.w, r->state == MBTUI_RUN_FAILED ? MBTUI_A_ERROR : MBTUI_A_NORMAL, r->msg);
    if (b.h > 3 && r->nloss > 1) {
        double lo = INFINITY, hi = -INFINITY;
        int from = r->nloss > b.w - 22 ? r->nloss - (b.w - 22) : 0;
        for (int i = from; i < r->nloss; i++)
            lo = fmin(lo, r->loss[i]), hi = fmax(hi, r->loss[i]);
        char line[MBTUI_MAXLOSS * 3 + 1] = "";
        for (int i = from; i < r->nloss; i++) {
            int k = hi > lo ? (int)((r->loss[i] - lo) / (hi - lo) * 7.999) : 0;
            strcat(line, spark[k < 0 ? 0 : k > 7 ? 7 : k]);
        }
        mbtui_textf(b.y + 3, b.x, b.w, MBTUI_A_BAR, "loss %-10.4g %s", r->loss[r->nloss - 1], line);
    }
}

static void models_draw(mbtui_view *v, mbtui_rect r)
{
    models_view *m = V(v);
    mbtui_app *a = v->app;
    int lw = r.w / 3 < 28 ? r.w / 3 : 28;
    mbtui_text(r.y, r.x, lw, MBTUI_A_HEADER, "plugin/model");
    int run_h = 5;
    int h = r.h - 1 - run_h;
    for (int k = 0; k < h; k++) {
        char buf[160] = "";
        if (k < m->nrows)
            snprintf(buf, sizeof buf, "%s/%s", m->rows[k].owner->plugin->name, m->rows[k].type->name);
        int attr = k == m->cursor ? (m->in_form ? MBTUI_A_MARK : MBTUI_A_CURSOR) : MBTUI_A_NORMAL;
        mbtui_text(r.y + 1 + k, r.x, lw, attr, buf);
    }
    if (m->nrows == 0) {
        mbtui_text(r.y + 1, r.x, r.w, MBTUI_A_ERROR, "no model plugins found (moonbench plugins explains why)");
        return;
    }
    model_row *row = &m->rows[m->cursor];
    int fx = r.x + lw + 1, fw = r.w - lw - 1;
    mbtui_textf(r.y, fx, fw, MBTUI_A_HEADER, "%s: %s", row->type->name, row->type->summary);
    size_t np = nparams(row);
    int top = m->pcursor >= h - 1 ? m->pcursor - h + 2 : 0;
    for (int k = 0; k < h; k++) {
        size_t i = (size_t)(top + k);
        if (i >= np) {
            mbtui_text(r.y + 1 + k, fx, fw, MBTUI_A_NORMAL, k == 0 ? "(no parameters)" : "");
            continue;
        }
        const mb_param_spec *s = &row->type->params[i];
        int changed = strcmp(row->value[i], s->def) != 0;
        int attr = m->in_form && (int)i == m->pcursor ? MBTUI_A_CURSOR : changed ? MBTUI_A_MARK : MBTUI_A_NORMAL;
        char line[600];
        if (row->error[i][0])
            snprintf(line, sizeof line, "%-16.16s %-12.12s ! %s", s->name, row->value[i], row->error[i]);
        else
            snprintf(line, sizeof line, "%-16.16s %-12.12s %s", s->name, row->value[i], s->help);
        mbtui_text(r.y + 1 + k, fx, fw, row->error[i][0] ? MBTUI_A_ERROR : attr, line);
    }
    mbtui_rect b = {r.y + 1 + h, r.x, run_h, r.w};
    mbtui_run *last = NULL;
    for (int i = a->nruns - 1; i >= 0 && !last; i--)
        if (!a->runs[i]->is_compare)
            last = a->runs[i];
    if (last)
        draw_run(last, b);
    else
        mbtui_text(b.y, b.x, b.w, MBTUI_A_DIM,
                   a->data_spec ? "r trains the selected model on the open data (Enter edits a parameter)"
                                : "open a dataset first (tab 1 / the tree), then r trains the selected model");
}

/* {====== the form ======} */

typedef struct edit_ud {
    models_view *m;
    int row;
    size_t param;
} edit_ud;

static edit_ud the_edit;

/* The host's validator on one setting: NULL or the message. */
static const char *validate(const model_row *row, size_t i, const char *value, char *msg, size_t n)
{
    char setting[300];
    snprintf(setting, sizeof setting, "%s=%s", row->type->params[i].name, value);
    const char *const settings[] = {setting};
    mb_params p;
    mb_error err;
    memset(&p, 0, sizeof p);
    if (mb_params_parse(&p, row->type, settings, 1, &err) != MB_OK) {
        snprintf(msg, n, "%.250s", err.msg);
        return msg;
    }
    mb_params_free(&p);
    return NULL;
}

static void edit_done(mbtui_app *a, const char *text, void *ud)
{
    edit_ud *e = ud;
    model_row *row = &e->m->rows[e->row];
    char msg[256];
    const char *bad = validate(row, e->param, text, msg, sizeof msg);
    snprintf(row->value[e->param], sizeof row->value[e->param], "%s", text);
    snprintf(row->error[e->param], sizeof row->error[e->param], "%.250s", bad ? bad : "");
    if (bad)
        mbtui_say(a, MBTUI_A_ERROR, "%s", bad);
    else
        a->msg[0] = 0;
}

/* One parameter as a Lua value for mb.model's table. */
static void lua_value(const mb_param_spec *s, const char *text, char *out, size_t n)
{
    char q[300];
    switch (s->type) {
    case MB_PARAM_BOOL:
        snprintf(out, n, "%s", (!strcmp(text, "true") || !strcmp(text, "1")) ? "true" : "false");
        break;
    case MB_PARAM_CHOICE: snprintf(out, n, "%s", mbtui_lua_quote(text, q, sizeof q)); break;
    case MB_PARAM_INTS: {
        size_t o = (size_t)snprintf(out, n, "{ ");
        for (const char *p = text; *p && o + 2 < n; p++)
            out[o++] = *p == ',' ? ',' : *p, out[o] = 0;
        snprintf(out + o, n - o, " }");
        break;
    }
    default: /* a number; the validator's inf is Lua's math.huge */
        if (!strcmp(text, "inf") || !strcmp(text, "+inf"))
            snprintf(out, n, "math.huge");
        else if (!strcmp(text, "-inf"))
            snprintf(out, n, "-math.huge");
        else
            snprintf(out, n, "%s", text);
    }
}

int mbtui_models_current(mbtui_app *a, char *ctor, size_t n, char *model, char *plugin, size_t mn, char *shown,
                         size_t sn, char *msg, size_t msgn)
{
    models_view *m = V(&a->tabs[MBTUI_TAB_MODELS]);
    if (m->nrows == 0) {
        snprintf(msg, msgn, "no model plugins found (moonbench plugins explains why)");
        return -1;
    }
    model_row *row = &m->rows[m->cursor];
    char params[1024] = "";
    size_t po = 0, so = 0;
    shown[0] = 0;
    for (size_t i = 0; i < nparams(row); i++) {
        const mb_param_spec *s = &row->type->params[i];
        if (row->error[i][0]) {
            snprintf(msg, msgn, "fix %s first: %s", s->name, row->error[i]);
            return -1;
        }
        if (strcmp(row->value[i], s->def) == 0)
            continue;
        char val[300];
        lua_value(s, row->value[i], val, sizeof val);
        po += (size_t)snprintf(params + po, sizeof params - po, "%s%s = %s", po ? ", " : "", s->name, val);
        if (so < sn)
            so += (size_t)snprintf(shown + so, sn - so, "%s%s=%s", so ? " " : "", s->name, row->value[i]);
        if (po >= sizeof params || so >= sn)
            break;
    }
    char q[200];
    snprintf(ctor, n, "mb.model(%s%s%s%s)", mbtui_lua_quote(row->type->name, q, sizeof q), po ? ", { " : "", params,
             po ? " }" : "");
    snprintf(model, mn, "%s", row->type->name);
    snprintf(plugin, mn, "%s", row->owner->plugin->name);
    return 0;
}

int mbtui_models_select(mbtui_app *a, const char *plugin, const char *name, const char *const *settings, size_t n,
                        char *msg, size_t msgn)
{
    models_view *m = V(&a->tabs[MBTUI_TAB_MODELS]);
    for (int k = 0; k < m->nrows; k++) {
        model_row *row = &m->rows[k];
        if (strcmp(row->type->name, name) || (plugin && strcmp(row->owner->plugin->name, plugin)))
            continue;
        for (size_t i = 0; i < nparams(row); i++) {
            snprintf(row->value[i], sizeof row->value[i], "%s", row->type->params[i].def);
            row->error[i][0] = 0;
        }
        for (size_t j = 0; j < n; j++) {
            const char *eq = strchr(settings[j], '=');
            for (size_t i = 0; eq && i < nparams(row); i++) {
                const mb_param_spec *s = &row->type->params[i];
                if (strlen(s->name) != (size_t)(eq - settings[j]) || strncmp(s->name, settings[j], strlen(s->name)))
                    continue;
                char bad[256];
                const char *e = validate(row, i, eq + 1, bad, sizeof bad);
                /* the text as the form shows defaults: the same value must not look changed */
                if (!e && strcmp(row->value[i], eq + 1) != 0 && validate(row, i, row->value[i], bad, sizeof bad) == NULL) {
                    mb_params p1, p2;
                    memset(&p1, 0, sizeof p1);
                    memset(&p2, 0, sizeof p2);
                    char s1[300], s2[300];
                    snprintf(s1, sizeof s1, "%s=%s", s->name, eq + 1);
                    snprintf(s2, sizeof s2, "%s=%s", s->name, row->value[i]);
                    const char *v1[] = {s1}, *v2[] = {s2};
                    mb_error err;
                    int same = mb_params_parse(&p1, row->type, v1, 1, &err) == MB_OK &&
                               mb_params_parse(&p2, row->type, v2, 1, &err) == MB_OK &&
                               strcmp(p1.text[i], p2.text[i]) == 0;
                    mb_params_free(&p1);
                    mb_params_free(&p2);
                    if (same)
                        continue;
                }
                snprintf(row->value[i], sizeof row->value[i], "%s", eq + 1);
                snprintf(row->error[i], sizeof row->error[i], "%.250s", e ? e : "");
            }
        }
        m->cursor = k;
        m->pcursor = m->in_form = 0;
        return 0;
    }
    snprintf(msg, msgn, "no model %s%s%s among the plugins found", plugin ? plugin : "", plugin ? "/" : "", name);
    return -1;
}

static void train(mbtui_view *v)
{
    mbtui_app *a = v->app;
    if (!a->data_spec) {
        mbtui_say(a, MBTUI_A_ERROR, "no data: open a dataset first (tab 1, or t for the file tree)");
        return;
    }
    if (!a->target[0]) {
        mbtui_say(a, MBTUI_A_ERROR, "no target: in the Data tab, put the cursor on the target column and press T");
        return;
    }
    char ctor[1400], name[64], plugin[64], shown[256], msg[400];
    if (mbtui_models_current(a, ctor, sizeof ctor, name, plugin, sizeof name, shown, sizeof shown, msg, sizeof msg)) {
        mbtui_say(a, MBTUI_A_ERROR, "%s", msg);
        return;
    }
    size_t dn = 2048;
    for (int i = 0; i < a->nsteps; i++)
        dn += strlen(a->steps[i]) + 2;
    char *def = mb_malloc(dn);
    size_t o = (size_t)snprintf(def, dn, "mb.pipeline { ");
    for (int i = 0; i < a->nsteps; i++)
        o += (size_t)snprintf(def + o, dn - o, "%s, ", a->steps[i]);
    snprintf(def + o, dn - o, "%s }", ctor);
    int id = a->nruns + 1;
    size_t ln = strlen(def) + 1024;
    char *lua = mb_malloc(ln);
    if (a->plan_k)
        snprintf(lua, ln,
                 "-- run %d: %s, %d-fold cross-validation, then fitted on all rows\n"
                 "run%d = %s\n"
                 "report_cv(\"run%d\", mb.cross_validate(run%d, data, { k = %d, seed = %lu%s, progress = progress }))\n"
                 "run%d:fit(data, { seed = %lu })",
                 id, name, a->plan_k, id, def, id, id, a->plan_k, a->plan_seed,
                 a->target_categorical ? ", stratify = true" : "", id, a->plan_seed);
    else
        snprintf(lua, ln,
                 "-- run %d: %s\n"
                 "train, test = mb.split(data, { test = %.17g, seed = %lu%s })\n"
                 "run%d = %s\n"
                 "run%d:fit(train, { seed = %lu, progress = progress })\n"
                 "report(\"run%d\", run%d, test)",
                 id, name, a->plan_test, a->plan_seed, a->target_categorical ? ", stratify = true" : "", id,
                 def, id, a->plan_seed, id, id);
    if (mbtui_run_queue(a, 0, name, plugin, shown, def, lua))
        mbtui_say(a, MBTUI_A_OK, "run %d: training %s (x cancels); results in tab 4", id, name);
}

static void find_done(mbtui_app *a, const char *text, void *ud)
{
    models_view *m = ud;
    for (int k = 1; k <= m->nrows; k++) {
        int i = (m->cursor + k) % m->nrows;
        char name[160];
        snprintf(name, sizeof name, "%s/%s", m->rows[i].owner->plugin->name, m->rows[i].type->name);
        if (strstr(name, text)) {
            m->cursor = i;
            m->pcursor = m->in_form = 0;
            return;
        }
    }
    mbtui_say(a, MBTUI_A_ERROR, "no model is named like '%s'", text);
}

static int models_request(mbtui_view *v, int req)
{
    models_view *m = V(v);
    mbtui_app *a = v->app;
    if (m->nrows == 0)
        return 0;
    model_row *row = &m->rows[m->cursor];
    int np = (int)nparams(row);
    switch (req) {
    case MBTUI_REQ_UP:
        if (m->in_form) { if (m->pcursor > 0) m->pcursor--; }
        else if (m->cursor > 0) m->cursor--, m->pcursor = 0;
        return 1;
    case MBTUI_REQ_DOWN:
        if (m->in_form) { if (m->pcursor + 1 < np) m->pcursor++; }
        else if (m->cursor + 1 < m->nrows) m->cursor++, m->pcursor = 0;
        return 1;
    case MBTUI_REQ_RIGHT: if (np) m->in_form = 1; return 1;
    case MBTUI_REQ_LEFT: m->in_form = 0; return 1;
    case MBTUI_REQ_ENTER:
        if (!m->in_form) {
            if (np)
                m->in_form = 1;
            return 1;
        }
        the_edit = (edit_ud){m, m->cursor, (size_t)m->pcursor};
        {
            char label[160];
            snprintf(label, sizeof label, "%s = ", row->type->params[m->pcursor].name);
            mbtui_prompt(a, label, row->value[m->pcursor], edit_done, &the_edit);
        }
        return 1;
    case MBTUI_REQ_DELETE:
        if (m->in_form && np) {
            snprintf(row->value[m->pcursor], sizeof row->value[0], "%s", row->type->params[m->pcursor].def);
            row->error[m->pcursor][0] = 0;
        }
        return 1;
    case MBTUI_REQ_TRAIN: train(v); return 1;
    case MBTUI_REQ_FIND: mbtui_prompt(a, "find a model: ", "", find_done, m); return 1;
    case MBTUI_REQ_CANCEL:
        for (int i = 0; i < a->nruns; i++)
            if (a->runs[i]->state == MBTUI_RUN_RUNNING || a->runs[i]->state == MBTUI_RUN_QUEUED) {
                mbtui_run_cancel(a, a->runs[i]);
                return 1;
            }
        mbtui_say(a, MBTUI_A_DIM, "no run to cancel");
        return 1;
    }
    return 0;
}

static const int models_hints[] = {MBTUI_REQ_TRAIN, MBTUI_REQ_FIND, MBTUI_REQ_ENTER, MBTUI_REQ_DELETE, MBTUI_REQ_CANCEL,
                                   MBTUI_REQ_TAB_RESULTS, 0};

const mbtui_view_ops mbtui_models_ops = {
    .name = "Models",
    .hints = models_hints,
    .open = models_open,
    .draw = models_draw,
    .request = models_request,
    .done = models_done,
    .private_size = sizeof(models_view),
};
