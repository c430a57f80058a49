/*
** view_tree.c: the file tree on the left: folders, data files (HDF5, CSV)
** and, inside an HDF5 file, its groups, datasets and attributes (the
** core's mb_h5_walk, as `moonbench inspect` prints them). Enter opens the
** item under the cursor in the Data tab; folders and files expand.
*/
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5io.h"
#include "io.h"
#include "tui.h"

typedef enum { N_DIR, N_H5, N_CSV, N_GROUP, N_DATASET, N_ATTR } node_kind;

typedef struct node {
    node_kind kind;
    int depth, expanded;
    char *path;                   /* file system path */
    char *object;                 /* HDF5 object, or NULL */
    char *label;
} node;

typedef struct tree_view {
    node *n;
    int count, cap;
    int cursor, top;
} tree_view;

static tree_view *T(mbtui_view *v) { return v->priv; }

static void insert(tree_view *t, int at, node x)
{
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->n = mb_realloc(t->n, (size_t)t->cap * sizeof *t->n);
    }
    memmove(t->n + at + 1, t->n + at, (size_t)(t->count - at) * sizeof *t->n);
    t->n[at] = x;
    t->count++;
}

static void free_node(node *x)
{
    mb_free(x->path);
    mb_free(x->object);
    mb_free(x->label);
}

static void collapse(tree_view *t, int i)
{
    int j = i + 1;
    while (j < t->count && t->n[j].depth > t->n[i].depth)
        free_node(&t->n[j++]);
    memmove(t->n + i + 1, t->n + j, (size_t)(t->count - j) * sizeof *t->n);
    t->count -= j - i - 1;
    t->n[i].expanded = 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static node_kind file_kind(const char *path, int *ok)
{
    struct stat st;
    *ok = 0;
    if (stat(path, &st) != 0)
        return N_ATTR;
    if (S_ISDIR(st.st_mode)) {
        *ok = 1;
        return N_DIR;
    }
    mb_format f = mb_guess_format(path);
    *ok = f != MB_FMT_UNKNOWN;
    return f == MB_FMT_HDF5 ? N_H5 : N_CSV;
}

static void expand_dir(tree_view *t, int i)
{
    DIR *dir = opendir(t->n[i].path);
    if (!dir)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap)
            names = mb_realloc(names, (cap = cap ? cap * 2 : 32) * sizeof *names);
        names[n++] = mb_strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof *names, by_name);
    int at = i + 1;
    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(t->n[i].path) + strlen(names[k]) + 2;
        char *p = mb_malloc(len);
        snprintf(p, len, "%s%s%s", t->n[i].path,
                 t->n[i].path[strlen(t->n[i].path) - 1] == '/' ? "" : "/", names[k]);
        int ok;
        node_kind kind = file_kind(p, &ok);
        if (!ok) {
            mb_free(p);
            mb_free(names[k]);
            continue;
        }
        char label[512];
        snprintf(label, sizeof label, "%s%s", names[k], kind == N_DIR ? "/" : "");
        insert(t, at++, (node){kind, t->n[i].depth + 1, 0, p, NULL, mb_strdup(label)});
        mb_free(names[k]);
    }
    mb_free(names);
    t->n[i].expanded = 1;
}

typedef struct walk_ud {
    tree_view *t;
    int at, base;
    const char *file;
} walk_ud;

static int visit(const mb_h5_node *h, void *ud)
{
    walk_ud *w = ud;
    char label[512];
    const char *base = strrchr(h->path, '/');
    base = base && base[1] ? base + 1 : h->path;
    if (h->depth > 0) {
        if (h->is_group)
            snprintf(label, sizeof label, "%s/", base);
        else {
            char dims[128] = "";
            size_t used = 0;
            for (int k = 0; k < h->rank && used + 24 < sizeof dims; k++)
                used += (size_t)snprintf(dims + used, sizeof dims - used, "%s%llu", k ? "x" : "", h->dims[k]);
            snprintf(label, sizeof label, "%s  %s %s", base, h->type, h->rank ? dims : "scalar");
        }
        insert(w->t, w->at++, (node){h->is_group ? N_GROUP : N_DATASET, w->base + h->depth, h->is_group,
                                     mb_strdup(w->file), mb_strdup(h->path), mb_strdup(label)});
    }
    for (size_t k = 0; k < h->nattrs; k++) {
        snprintf(label, sizeof label, "@%s = %s", h->attrs[k].name, h->attrs[k].value);
        insert(w->t, w->at++, (node){N_ATTR, w->base + h->depth + 1, 0, mb_strdup(w->file), NULL,
                                     mb_strdup(label)});
    }
    return 0;
}

static void expand_h5(mbtui_app *a, tree_view *t, int i)
{
    walk_ud w = {t, i + 1, t->n[i].depth, t->n[i].path};
    mb_error err;
    char *file = mb_strdup(t->n[i].path);
    w.file = file;
    pthread_mutex_lock(&mbtui_core_lock);
    mb_status rc = mb_h5_walk(file, NULL, visit, &w, &err);
    pthread_mutex_unlock(&mbtui_core_lock);
    mb_free(file);
    if (rc != MB_OK)
        mbtui_say(a, MBTUI_A_ERROR, "%s", err.msg);
    t->n[i].expanded = 1;
}

/* Set the tree's root (a folder or a file). */
void mbtui_tree_root(mbtui_view *v, const char *path);
void mbtui_tree_root(mbtui_view *v, const char *path)
{
    tree_view *t = T(v);
    int ok;
    node_kind kind = file_kind(path, &ok);
    if (!ok)
        kind = N_DIR;
    insert(t, 0, (node){kind, 0, 0, mb_strdup(path), NULL, mb_strdup(path)});
    if (kind == N_DIR)
        expand_dir(t, 0);
    else if (kind == N_H5)
        expand_h5(v->app, t, 0);
}

static int tree_open(mbtui_view *v)
{
    (void)v;
    return 0;
}

static void tree_done(mbtui_view *v)
{
    tree_view *t = T(v);
    for (int i = 0; i < t->count; i++)
        free_node(&t->n[i]);
    mb_free(t->n);
    t->n = NULL;
    t->count = t->cap = 0;
}

static void tree_draw(mbtui_view *v, mbtui_rect r)
{
    tree_view *t = T(v);
    mbtui_app *a = v->app;
    if (t->cursor < t->top)
        t->top = t->cursor;
    if (t->cursor >= t->top + r.h)
        t->top = t->cursor - r.h + 1;
    for (int k = 0; k < r.h; k++) {
        int i = t->top + k;
        if (i >= t->count) {
            mbtui_text(r.y + k, r.x, r.w, MBTUI_A_NORMAL, "");
            continue;
        }
        node *x = &t->n[i];
        char line[600];
        const char *mark = x->kind == N_DIR || x->kind == N_H5 || x->kind == N_GROUP ? (x->expanded ? "▾ " : "▸ ")
                                                                                     : "  ";
        snprintf(line, sizeof line, "%*s%s%s", x->depth * 2, "", x->kind == N_ATTR ? "" : mark, x->label);
        int attr = x->kind == N_ATTR ? MBTUI_A_DIM : (x->kind == N_DIR || x->kind == N_GROUP ? MBTUI_A_TITLE : MBTUI_A_NORMAL);
        if (i == t->cursor)
            attr = a->tree_focus ? MBTUI_A_CURSOR : MBTUI_A_MARK;
        mbtui_text(r.y + k, r.x, r.w, attr, line);
    }
}

static void toggle(mbtui_view *v, int i)
{
    tree_view *t = T(v);
    if (t->n[i].expanded)
        collapse(t, i);
    else if (t->n[i].kind == N_DIR)
        expand_dir(t, i);
    else if (t->n[i].kind == N_H5)
        expand_h5(v->app, t, i);
    else if (t->n[i].kind == N_GROUP)
        t->n[i].expanded = 1;
}

static void enter(mbtui_view *v)
{
    tree_view *t = T(v);
    if (t->count == 0)
        return;
    node *x = &t->n[t->cursor];
    char spec[1200];
    switch (x->kind) {
    case N_DIR:
        toggle(v, t->cursor);
        return;
    case N_H5:
        if (!x->expanded)
            toggle(v, t->cursor);
        x = &t->n[t->cursor];
        /* fall through */
    case N_CSV:
        snprintf(spec, sizeof spec, "%s", x->path);
        break;
    case N_GROUP:
    case N_DATASET:
        snprintf(spec, sizeof spec, "%s:%s", x->path, x->object);
        break;
    default:
        return;
    }
    if (mbtui_open_data(v->app, spec) == 0) {
        v->app->tree_focus = 0;
        v->app->tab = MBTUI_TAB_DATA;
    }
}

static void find_done(mbtui_app *a, const char *text, void *ud)
{
    tree_view *t = ud;
    for (int k = 1; k <= t->count; k++) {
        int i = (t->cursor + k) % t->count;
        if (t->n[i].kind != N_ATTR && strstr(t->n[i].label, text)) {
            t->cursor = i;
            t->top = i > 2 ? i - 2 : 0; /* what is under it shows too */
            return;
        }
    }
    mbtui_say(a, MBTUI_A_ERROR, "nothing in the tree is named like '%s'", text);
}

static int tree_request(mbtui_view *v, int req)
{
    tree_view *t = T(v);
    switch (req) {
    case MBTUI_REQ_UP: if (t->cursor > 0) t->cursor--; return 1;
    case MBTUI_REQ_DOWN: if (t->cursor + 1 < t->count) t->cursor++; return 1;
    case MBTUI_REQ_PAGE_UP: t->cursor = t->cursor > 10 ? t->cursor - 10 : 0; return 1;
    case MBTUI_REQ_PAGE_DOWN: t->cursor = t->cursor + 10 < t->count ? t->cursor + 10 : t->count - 1; return 1;
    case MBTUI_REQ_FIRST: t->cursor = 0; return 1;
    case MBTUI_REQ_LAST: t->cursor = t->count ? t->count - 1 : 0; return 1;
    case MBTUI_REQ_RIGHT:
        if (t->count && !t->n[t->cursor].expanded)
            toggle(v, t->cursor);
        return 1;
    case MBTUI_REQ_LEFT:
        if (t->count && t->n[t->cursor].expanded)
            collapse(t, t->cursor);
        else /* to the parent */
            for (int i = t->cursor - 1; i >= 0; i--)
                if (t->n[i].depth < t->n[t->cursor].depth) {
                    t->cursor = i;
                    break;
                }
        return 1;
    case MBTUI_REQ_ENTER: enter(v); return 1;
    case MBTUI_REQ_FIND: mbtui_prompt(v->app, "find in the tree: ", "", find_done, t); return 1;
    }
    return 0;
}

static const int tree_hints[] = {MBTUI_REQ_ENTER, MBTUI_REQ_FIND, MBTUI_REQ_RIGHT, MBTUI_REQ_LEFT, MBTUI_REQ_FOCUS, MBTUI_REQ_TREE, 0};

const mbtui_view_ops mbtui_tree_ops = {
    .name = "Files",
    .hints = tree_hints,
    .open = tree_open,
    .draw = tree_draw,
    .request = tree_request,
    .done = tree_done,
    .private_size = sizeof(tree_view),
};
