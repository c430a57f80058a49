/*
** test_plugin_host.c: unit tests for the plugin host (src/core/plugin.c)
** through its API, with the template plugin (plugins/template: knn and
** baseline) and the deliberately broken plugins of tests/plugins/.
**
** Plugins are found under $MOONBENCH_BUILD (tests/run.sh sets it to the
** build folder, e.g. build or build/asan), else under build/:
**   $MOONBENCH_BUILD/plugins/template.so
**   $MOONBENCH_BUILD/tests/plugins/NAME.so
** Tests run from the repository root (datasets/ is read from there).
**
** Messages are checked with strstr on the parts a user relies on: the file
** named, the versions, the list of valid names.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "dataset.h"
#include "io.h"
#include "metrics.h"
#include "plugin.h"
#include "portable.h"
#include "bundle.h"

/* {====== helpers ======} */

/* The build folder the plugins were built into. */
static const char *build_dir(void)
{
    const char *b = getenv("MOONBENCH_BUILD");
    return b && b[0] ? b : "build";
}

/* Path of a plugin: "template" is the template, anything else a test
** plugin of tests/plugins. Returns one of a few rotating static buffers, so
** two paths can be used in one expression. */
static const char *plugin_path(const char *name)
{
    static char bufs[4][4096];
    static int next;
    char *b = bufs[next++ % 4];
    if (strcmp(name, "template") == 0)
        snprintf(b, sizeof bufs[0], "%s/plugins/template.so", build_dir());
    else
        snprintf(b, sizeof bufs[0], "%s/tests/plugins/%s.so", build_dir(), name);
    return b;
}

/* Fail with the error message when a call did not succeed. */
#define CHECK_OK(call, err)                                                    \
    do {                                                                       \
        mb_status st_ = (call);                                                \
        if (st_ != MB_OK)                                                      \
            fail_msg("%s failed (%d): %s", #call, (int)st_, (err).msg);        \
    } while (0)

/* Fail unless hay contains needle, showing both. */
#define CHECK_HAS(hay, needle)                                                 \
    do {                                                                       \
        if (!strstr((hay), (needle)))                                          \
            fail_msg("expected \"%s\" in: %s", (needle), (hay));               \
    } while (0)

static void load_ok(mb_registry *r, const char *name)
{
    mb_error err;
    CHECK_OK(mb_registry_load(r, plugin_path(name), &err), err);
}

/* A temporary folder and the files put in it, removed by tmp_remove. */
typedef struct tmpdir {
    char path[64];
    char files[16][512];
    size_t n;
} tmpdir;

static void tmp_make(tmpdir *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "/tmp/mb_plugin_test_XXXXXX");
    assert_non_null(mkdtemp(t->path));
}

/* Register a path (file or folder, removed in reverse order) and return it. */
static const char *tmp_track(tmpdir *t, const char *rel)
{
    assert_true(t->n < 16);
    char path[sizeof t->files[0]];
    snprintf(path, sizeof path, "%s/%s", t->path, rel);
    char *p = t->files[t->n++];
    memcpy(p, path, sizeof path);
    return p;
}

static const char *tmp_mkdir(tmpdir *t, const char *rel)
{
    const char *p = tmp_track(t, rel);
    assert_int_equal(mkdir(p, 0700), 0);
    return p;
}

static const char *tmp_write(tmpdir *t, const char *rel, const char *text)
{
    const char *p = tmp_track(t, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return p;
}

static const char *tmp_copy(tmpdir *t, const char *from, const char *rel)
{
    const char *p = tmp_track(t, rel);
    FILE *in = fopen(from, "rb"), *out = fopen(p, "wb");
    if (!in)
        fail_msg("cannot open %s (build the plugins first: make)", from);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    return p;
}

static void tmp_remove(tmpdir *t)
{
    while (t->n > 0) {
        const char *p = t->files[--t->n];
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rmdir(p);
        else
            unlink(p);
    }
    rmdir(t->path);
}

/* A dataset split into train (rows i % 3 != 0) and test (i % 3 == 0),
** copied so that both are plain row-major blocks. */
typedef struct split {
    mb_frame *f;
    mb_data d;
    float *xtr, *ytr, *xte, *yte;
    mb_dataset train, test;
} split;

static void split_load(split *s, const char *path)
{
    mb_error err;
    memset(s, 0, sizeof *s);
    CHECK_OK(mb_open(path, &s->f, &err), err);
    CHECK_OK(mb_data_from_frame(s->f, 0, &s->d, &err), err);
    const mb_dataset *ds = &s->d.ds;
    size_t n = ds->X.rows, p = ds->X.cols, nte = (n + 2) / 3, ntr = n - nte;
    s->xtr = mb_malloc(ntr * p * sizeof(float));
    s->xte = mb_malloc(nte * p * sizeof(float));
    s->ytr = mb_malloc(ntr * sizeof(float));
    s->yte = mb_malloc(nte * sizeof(float));
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        const float *row = ds->X.x + i * ds->X.ld;
        if (i % 3 == 0) {
            memcpy(s->xte + b * p, row, p * sizeof(float));
            s->yte[b++] = ds->y[i];
        } else {
            memcpy(s->xtr + a * p, row, p * sizeof(float));
            s->ytr[a++] = ds->y[i];
        }
    }
    s->train = *ds;
    s->train.X = (mb_matrix){s->xtr, ntr, p, p};
    s->train.y = s->ytr;
    s->train.w = NULL;
    s->test = s->train;
    s->test.X = (mb_matrix){s->xte, nte, p, p};
    s->test.y = s->yte;
}

static void split_free(split *s)
{
    mb_free(s->xtr);
    mb_free(s->xte);
    mb_free(s->ytr);
    mb_free(s->yte);
    mb_data_free(&s->d);
    mb_frame_free(&s->f);
}

/* A model of the registry by name with settings, failing the test if any
** step fails. */
static mb_model *make_model(const mb_registry *r, const char *name, const char *const *settings, size_t n)
{
    mb_error err;
    const mb_loaded_plugin *owner = NULL;
    const mb_model_type *t = mb_registry_find(r, name, &owner, &err);
    if (!t)
        fail_msg("%s", err.msg);
    mb_params params;
    CHECK_OK(mb_params_parse(&params, t, settings, n, &err), err);
    mb_model *m = NULL;
    CHECK_OK(mb_model_create(&m, t, owner, &params, &err), err);
    return m;
}

static mb_fit_context make_ctx(void)
{
    return (mb_fit_context){sizeof(mb_fit_context), mb_host_services(), 1, 42, NULL, NULL, NULL};
}

static void fit_ok(mb_model *m, const mb_dataset *train)
{
    mb_error err;
    mb_fit_context ctx = make_ctx();
    CHECK_OK(mb_model_fit(m, train, NULL, &ctx, &err), err);
}

/* The registry's template still finds, fits and predicts: a small check
** run after each failure to show the registry is still usable. */
static void template_still_works(const mb_registry *r)
{
    static const float X[] = {0, 0, 0, 1, 10, 10, 10, 11};
    static const float y[] = {0, 0, 1, 1};
    mb_dataset d = {{X, 4, 2, 2}, y, NULL, MB_TASK_BINARY, 2, NULL};
    const char *k1[] = {"n_neighbors=1"};
    mb_model *m = make_model(r, "knn", k1, 1);
    fit_ok(m, &d);
    float q[] = {9, 9}, out = -1;
    mb_matrix Q = {q, 1, 2, 2};
    mb_error err;
    CHECK_OK(mb_model_predict(m, &Q, &out, &err), err);
    assert_true(out == 1.0f);
    mb_model_free(&m);
}

/* {====== loading ======} */

static void test_load_template(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    assert_int_equal(r.nplugins, 1);
    const mb_plugin *p = r.plugins[0].plugin;
    assert_string_equal(p->name, "template");
    assert_int_equal(p->abi, MB_PLUGIN_ABI);
    assert_int_equal(p->nmodels, 2);
    assert_string_equal(p->models[0]->name, "knn");
    assert_string_equal(p->models[1]->name, "baseline");
    assert_string_equal(r.plugins[0].path, plugin_path("template"));
    /* knn has no portable form: scored by loading the plugin */
    assert_null(p->models[0]->portable);
    assert_non_null(p->models[1]->portable);
    template_still_works(&r);
    mb_registry_close(&r);
    assert_int_equal(r.nplugins, 0);
    mb_registry_close(&r); /* closing twice is harmless */
}

/* A text file named .so, then a missing file: "cannot load", naming it. */
static void test_load_not_a_shared_object(void **state)
{
    (void)state;
    tmpdir t;
    tmp_make(&t);
    const char *fake = tmp_write(&t, "fake.so", "this is a text file, not a plugin\n");
    mb_registry r = {0};
    load_ok(&r, "template");
    mb_error err;
    assert_int_equal(mb_registry_load(&r, fake, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, "cannot load");
    CHECK_HAS(err.msg, fake);
    assert_int_equal(r.nplugins, 1);

    char missing[600];
    snprintf(missing, sizeof missing, "%s/absent.so", t.path);
    assert_int_not_equal(mb_registry_load(&r, missing, &err), MB_OK);
    CHECK_HAS(err.msg, "cannot load");
    CHECK_HAS(err.msg, missing);
    assert_int_equal(r.nplugins, 1);
    template_still_works(&r);
    mb_registry_close(&r);
    tmp_remove(&t);
}

/* A truncated .so, a FIFO, a folder, an empty file and a foreign ELF file
** named .so are refused with a message before dlopen (which could block
** on the FIFO or die of SIGBUS on the truncated file); the folder's good
** plugin still loads. */
static void test_load_hostile_files(void **state)
{
    (void)state;
    tmpdir t;
    tmp_make(&t);
    tmp_mkdir(&t, "p");
    tmp_copy(&t, plugin_path("template"), "p/good.so");
    /* the template cut to its first 8 KiB */
    const char *cut = tmp_copy(&t, plugin_path("template"), "p/cut.so");
    assert_int_equal(truncate(cut, 8192), 0);
    const char *fifo = tmp_track(&t, "p/fifo.so");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    const char *dir = tmp_mkdir(&t, "p/dir.so");
    const char *empty = tmp_write(&t, "p/empty.so", "");
    /* a relocatable object, not a shared one: the ELF type says so */
    char elf[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    elf[16] = 1; /* ET_REL */
    const char *rel = tmp_track(&t, "p/rel.so");
    FILE *fp = fopen(rel, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(elf, 1, sizeof elf, fp), sizeof elf);
    fclose(fp);

    mb_registry r = {0};
    mb_error err;
    assert_int_equal(mb_registry_load(&r, cut, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, cut);
    CHECK_HAS(err.msg, "cannot load: truncated: it ends at byte 8192, its ELF headers need");
    assert_int_equal(mb_registry_load(&r, fifo, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, "cannot load: a FIFO, not a regular file");
    assert_int_equal(mb_registry_load(&r, dir, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, "cannot load: a folder, not a shared object");
    assert_int_equal(mb_registry_load(&r, empty, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, "cannot load: not an ELF shared object (no ELF header)");
    assert_int_equal(mb_registry_load(&r, rel, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, "cannot load: not a 64-bit ELF shared object");
    assert_int_equal(r.nplugins, 0);

    /* the folder: one plugin, five problems, no hang */
    char folder[700];
    snprintf(folder, sizeof folder, "%s/p", t.path);
    mb_registry_load_dir(&r, folder);
    assert_int_equal(r.nplugins, 1);
    assert_int_equal(r.nproblems, 5);
    mb_registry_close(&r);
    tmp_remove(&t);
}

static void test_load_no_entry(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    mb_error err;
    const char *path = plugin_path("no_entry");
    assert_int_equal(mb_registry_load(&r, path, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, path);
    CHECK_HAS(err.msg, "no entry point moonbench_plugin()");
    assert_int_equal(r.nplugins, 1);
    template_still_works(&r);
    mb_registry_close(&r);
}

static void test_load_future_abi(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    mb_error err;
    const char *path = plugin_path("future_abi");
    char built[64], speaks[64];
    snprintf(built, sizeof built, "built for plugin ABI %d", MB_PLUGIN_ABI + 1);
    snprintf(speaks, sizeof speaks, "speaks ABI %d", MB_PLUGIN_ABI);
    assert_int_equal(mb_registry_load(&r, path, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, path);
    CHECK_HAS(err.msg, built);
    CHECK_HAS(err.msg, speaks);
    assert_int_equal(r.nplugins, 1);
    assert_null(mb_registry_find(&r, "future_model", NULL, &err));
    template_still_works(&r);
    mb_registry_close(&r);
}

static void test_load_refuses(void **state)
{
    (void)state;
    mb_registry r = {0};
    mb_error err;
    const char *path = plugin_path("refuses");
    char abi[64];
    snprintf(abi, sizeof abi, "refused to load into a host of ABI %d", MB_PLUGIN_ABI);
    assert_int_equal(mb_registry_load(&r, path, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, path);
    CHECK_HAS(err.msg, abi);
    assert_int_equal(r.nplugins, 0);
    load_ok(&r, "template"); /* a refusal first does not spoil the registry */
    template_still_works(&r);
    mb_registry_close(&r);
}

static void test_load_bad_table(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    mb_error err;
    const char *path = plugin_path("bad_table");
    assert_int_equal(mb_registry_load(&r, path, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, path);
    CHECK_HAS(err.msg, "(bad_table)");
    CHECK_HAS(err.msg, "missing a required function");
    assert_int_equal(r.nplugins, 1);
    /* nothing of the refused plugin is visible, not even its good model */
    assert_null(mb_registry_find(&r, "bad_table_fine", NULL, &err));
    template_still_works(&r);
    mb_registry_close(&r);
}

static void test_duplicate_plugin_name(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    load_ok(&r, "dup_a");
    mb_error err;
    const char *a = plugin_path("dup_a"), *b = plugin_path("dup_b");
    assert_int_equal(mb_registry_load(&r, b, &err), MB_EARG);
    CHECK_HAS(err.msg, "a plugin named 'dup' is already loaded");
    CHECK_HAS(err.msg, a);
    CHECK_HAS(err.msg, b);
    assert_int_equal(r.nplugins, 2);
    assert_non_null(mb_registry_find(&r, "dup_a_model", NULL, &err));
    assert_null(mb_registry_find(&r, "dup_b_model", NULL, &err));
    template_still_works(&r);
    mb_registry_close(&r);
}

static void test_duplicate_model_name(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    mb_error err;
    const char *path = plugin_path("dup_model");
    assert_int_equal(mb_registry_load(&r, path, &err), MB_EARG);
    CHECK_HAS(err.msg, path);
    CHECK_HAS(err.msg, "model 'knn' is already provided by");
    CHECK_HAS(err.msg, plugin_path("template"));
    assert_int_equal(r.nplugins, 1);
    const mb_loaded_plugin *owner = NULL;
    assert_non_null(mb_registry_find(&r, "knn", &owner, &err));
    assert_string_equal(owner->plugin->name, "template");
    template_still_works(&r);
    mb_registry_close(&r);

    /* the other way round: whoever comes first keeps the name */
    load_ok(&r, "dup_model");
    assert_int_equal(mb_registry_load(&r, plugin_path("template"), &err), MB_EARG);
    CHECK_HAS(err.msg, "model 'knn' is already provided by");
    CHECK_HAS(err.msg, path);
    mb_registry_close(&r);
}

/* A plugin whose own models share a name ("twin" twice), or whose model
** name holds a '/' (unreachable as "plugin/model"), is refused. */
static void test_odd_names(void **state)
{
    (void)state;
    mb_registry r = {0};
    mb_error err;
    const char *path = plugin_path("odd_names");
    assert_int_not_equal(mb_registry_load(&r, path, &err), MB_OK);
    CHECK_HAS(err.msg, path);
    CHECK_HAS(err.msg, "twin");
    mb_registry_close(&r);
}

/* {====== discovery ======} */

static void test_discover_plugin_path(void **state)
{
    (void)state;
    tmpdir t;
    tmp_make(&t);
    const char *d1 = tmp_mkdir(&t, "one"), *d2 = tmp_mkdir(&t, "two");
    tmp_copy(&t, plugin_path("template"), "one/template.so");
    const char *a = tmp_copy(&t, plugin_path("dup_a"), "one/dup_a.so");
    const char *b = tmp_copy(&t, plugin_path("dup_b"), "one/dup_b.so");
    const char *fake = tmp_write(&t, "one/fake.so", "not a shared object\n");
    const char *fut = tmp_copy(&t, plugin_path("future_abi"), "one/future_abi.so");
    const char *noent = tmp_copy(&t, plugin_path("no_entry"), "one/no_entry.so");
    tmp_write(&t, "one/README.txt", "not a plugin, not even looked at\n");
    const char *dm = tmp_copy(&t, plugin_path("dup_model"), "two/dup_model.so");

    char env[400];
    snprintf(env, sizeof env, "%s:%s/nowhere:%s", d1, t.path, d2);
    char *saved = getenv("MOONBENCH_PLUGIN_PATH") ? strdup(getenv("MOONBENCH_PLUGIN_PATH")) : NULL;
    setenv("MOONBENCH_PLUGIN_PATH", env, 1);
    mb_registry r = {0};
    mb_registry_discover(&r, NULL);

    /* loaded: template and the first "dup" (files load in name order) */
    assert_int_equal(r.nplugins, 2);
    mb_error err;
    assert_non_null(mb_registry_find(&r, "template/knn", NULL, &err));
    assert_non_null(mb_registry_find(&r, "dup_a_model", NULL, &err));
    /* refused, one problem each, naming the file: dup_b, fake, future,
    ** no_entry, and dup_model of the second folder ("knn" is taken) */
    assert_int_equal(r.nproblems, 5);
    const char *want[] = {b, fake, fut, noent, dm};
    for (size_t i = 0; i < 5; i++)
        CHECK_HAS(r.problems[i], want[i]);
    CHECK_HAS(r.problems[0], a);
    CHECK_HAS(r.problems[1], "cannot load");
    CHECK_HAS(r.problems[3], "no entry point");
    CHECK_HAS(r.problems[4], "model 'knn' is already provided by");
    template_still_works(&r);
    mb_registry_close(&r);
    assert_int_equal(r.nproblems, 0);

    /* an empty path finds nothing and records nothing */
    setenv("MOONBENCH_PLUGIN_PATH", "", 1);
    mb_registry_discover(&r, NULL);
    assert_int_equal(r.nplugins, 0);
    assert_int_equal(r.nproblems, 0);
    mb_registry_close(&r);

    if (saved)
        setenv("MOONBENCH_PLUGIN_PATH", saved, 1);
    else
        unsetenv("MOONBENCH_PLUGIN_PATH");
    free(saved);
    tmp_remove(&t);
}

/* Order: MOONBENCH_PLUGIN_PATH, then EXE/plugins, then
** EXE/../lib/moonbench/plugins; the first of a name wins. */
static void test_discover_exe_dir(void **state)
{
    (void)state;
    tmpdir t;
    tmp_make(&t);
    const char *env = tmp_mkdir(&t, "env");
    const char *exe = tmp_mkdir(&t, "bin");
    tmp_mkdir(&t, "bin/plugins");
    tmp_mkdir(&t, "lib");
    tmp_mkdir(&t, "lib/moonbench");
    tmp_mkdir(&t, "lib/moonbench/plugins");
    const char *b = tmp_copy(&t, plugin_path("dup_b"), "env/dup_b.so");
    tmp_copy(&t, plugin_path("template"), "bin/plugins/template.so");
    tmp_copy(&t, plugin_path("dup_a"), "lib/moonbench/plugins/dup_a.so");

    char *saved = getenv("MOONBENCH_PLUGIN_PATH") ? strdup(getenv("MOONBENCH_PLUGIN_PATH")) : NULL;
    setenv("MOONBENCH_PLUGIN_PATH", env, 1);
    mb_registry r = {0};
    mb_registry_discover(&r, exe);
    assert_int_equal(r.nplugins, 2);
    mb_error err;
    assert_non_null(mb_registry_find(&r, "dup_b_model", NULL, &err));
    assert_null(mb_registry_find(&r, "dup_a_model", NULL, &err));
    assert_int_equal(r.nproblems, 1);
    CHECK_HAS(r.problems[0], "/bin/../lib/moonbench/plugins/dup_a.so");
    CHECK_HAS(r.problems[0], b);
    template_still_works(&r);
    mb_registry_close(&r);

    if (saved)
        setenv("MOONBENCH_PLUGIN_PATH", saved, 1);
    else
        unsetenv("MOONBENCH_PLUGIN_PATH");
    free(saved);
    tmp_remove(&t);
}

/* {====== finding models ======} */

static void test_find(void **state)
{
    (void)state;
    mb_registry r = {0};
    mb_error err;
    assert_null(mb_registry_find(&r, "knn", NULL, &err));
    assert_int_equal(err.code, MB_ENOTFOUND);
    CHECK_HAS(err.msg, "no plugins were found");

    load_ok(&r, "template");
    load_ok(&r, "dup_a");
    const mb_loaded_plugin *owner = NULL;
    const mb_model_type *t = mb_registry_find(&r, "knn", &owner, &err);
    assert_non_null(t);
    assert_string_equal(t->name, "knn");
    assert_string_equal(owner->plugin->name, "template");
    owner = NULL;
    assert_ptr_equal(mb_registry_find(&r, "template/knn", &owner, &err), t);
    assert_string_equal(owner->plugin->name, "template");
    assert_string_equal(mb_registry_find(&r, "template/baseline", NULL, &err)->name, "baseline");
    assert_non_null(mb_registry_find(&r, "dup/dup_a_model", NULL, &err));

    assert_null(mb_registry_find(&r, "forest", NULL, &err));
    assert_int_equal(err.code, MB_ENOTFOUND);
    CHECK_HAS(err.msg, "no model named 'forest'");
    CHECK_HAS(err.msg, "knn, baseline, dup_a_model");
    assert_null(mb_registry_find(&r, "dup/knn", NULL, &err)); /* wrong plugin */
    CHECK_HAS(err.msg, "no model named 'dup/knn'");
    assert_null(mb_registry_find(&r, "templat/knn", NULL, &err));
    assert_null(mb_registry_find(&r, "template/", NULL, &err));
    assert_null(mb_registry_find(&r, "kn", NULL, &err));
    mb_registry_close(&r);
}

/* {====== parameters ======} */

static const mb_model_type *find_knn(const mb_registry *r)
{
    mb_error err;
    const mb_model_type *t = mb_registry_find(r, "knn", NULL, &err);
    if (!t)
        fail_msg("%s", err.msg);
    return t;
}

static void test_params_defaults(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    const mb_model_type *t = find_knn(&r);
    mb_params p;
    mb_error err;
    CHECK_OK(mb_params_parse(&p, t, NULL, 0, &err), err);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.values[0].i, 5);
    assert_int_equal(p.values[1].i, 0); /* uniform */
    assert_int_equal(p.values[2].i, 1); /* standardize */
    assert_string_equal(p.text[0], "5");
    assert_string_equal(p.text[1], "uniform");
    assert_string_equal(p.text[2], "true");
    mb_params_free(&p);

    const char *set[] = {"n_neighbors=7", "weights=distance", "standardize=false"};
    CHECK_OK(mb_params_parse(&p, t, set, 3, &err), err);
    assert_int_equal(p.values[0].i, 7);
    assert_int_equal(p.values[1].i, 1);
    assert_int_equal(p.values[2].i, 0);
    assert_string_equal(p.text[0], "7");
    assert_string_equal(p.text[1], "distance");
    assert_string_equal(p.text[2], "false");
    mb_params_free(&p);

    /* the range is inclusive; a later setting overrides an earlier one */
    const char *edges[] = {"n_neighbors=1", "n_neighbors=1000", "standardize=0", "standardize=YES"};
    CHECK_OK(mb_params_parse(&p, t, edges, 4, &err), err);
    assert_int_equal(p.values[0].i, 1000);
    assert_int_equal(p.values[2].i, 1);
    mb_params_free(&p);

    char line[512];
    mb_param_describe(&t->params[0], line, sizeof line);
    CHECK_HAS(line, "n_neighbors: integer in [1, 1000], default 5");
    mb_param_describe(&t->params[1], line, sizeof line);
    CHECK_HAS(line, "one of uniform, distance");
    mb_registry_close(&r);
}

static void test_params_refused(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    const mb_model_type *t = find_knn(&r);
    mb_params p;
    mb_error err;

    const char *unknown[] = {"neighbours=3"};
    assert_int_equal(mb_params_parse(&p, t, unknown, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "model 'knn'");
    CHECK_HAS(err.msg, "unknown parameter in 'neighbours=3'");
    CHECK_HAS(err.msg, "n_neighbors, weights, standardize");
    assert_null(p.values); /* freed on failure */

    const char *noeq[] = {"n_neighbors"};
    assert_int_equal(mb_params_parse(&p, t, noeq, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "expected key=value, got 'n_neighbors'");

    const char *type[] = {"n_neighbors=abc"};
    assert_int_equal(mb_params_parse(&p, t, type, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "n_neighbors: 'abc'");
    CHECK_HAS(err.msg, "is not an integer");
    CHECK_HAS(err.msg, "integer in [1, 1000]");

    const char *frac[] = {"n_neighbors=2.5"};
    assert_int_equal(mb_params_parse(&p, t, frac, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "is not an integer");

    const char *zero[] = {"n_neighbors=0"};
    assert_int_equal(mb_params_parse(&p, t, zero, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "'0' is out of range");
    CHECK_HAS(err.msg, "[1, 1000]");
    const char *big[] = {"n_neighbors=1001"};
    assert_int_equal(mb_params_parse(&p, t, big, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "out of range");

    const char *choice[] = {"weights=closest"};
    assert_int_equal(mb_params_parse(&p, t, choice, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "'closest' is not one of the choices");
    CHECK_HAS(err.msg, "one of uniform, distance");

    const char *boolean[] = {"standardize=maybe"};
    assert_int_equal(mb_params_parse(&p, t, boolean, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "is not true or false");
    mb_registry_close(&r);
}

/* INTS and REAL, which the template does not use, on a local table. */
static void test_params_ints_real(void **state)
{
    (void)state;
    static const mb_param_spec specs[] = {
        {.name = "hidden", .type = MB_PARAM_INTS, .help = "layer widths", .def = "64", .min = 1, .max = 4096},
        {.name = "alpha", .type = MB_PARAM_REAL, .help = "penalty", .def = "1", .min = 0, .max = HUGE_VAL},
    };
    static const mb_model_type type = {.struct_size = sizeof(mb_model_type), .name = "local", .params = specs,
                                       .nparams = 2};
    mb_params p;
    mb_error err;
    CHECK_OK(mb_params_parse(&p, &type, NULL, 0, &err), err);
    assert_int_equal(p.values[0].nints, 1);
    assert_int_equal(p.values[0].ints[0], 64);
    assert_true(p.values[1].real == 1.0);
    mb_params_free(&p);

    const char *set[] = {"hidden=8", "hidden=256,128,4096", "alpha=1e-3"};
    CHECK_OK(mb_params_parse(&p, &type, set, 3, &err), err);
    assert_int_equal(p.values[0].nints, 3);
    assert_int_equal(p.values[0].ints[0], 256);
    assert_int_equal(p.values[0].ints[1], 128);
    assert_int_equal(p.values[0].ints[2], 4096);
    assert_true(p.values[1].real == 1e-3);
    assert_string_equal(p.text[0], "256,128,4096");
    mb_params_free(&p);

    const char *inf[] = {"alpha=inf"};
    CHECK_OK(mb_params_parse(&p, &type, inf, 1, &err), err);
    assert_true(isinf(p.values[1].real));
    mb_params_free(&p);

    const char *bad_list[] = {"hidden=256,x"};
    assert_int_equal(mb_params_parse(&p, &type, bad_list, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "is not a list of integers");
    const char *spaces[] = {"hidden=256;128"};
    assert_int_equal(mb_params_parse(&p, &type, spaces, 1, &err), MB_EARG);
    const char *empty[] = {"hidden="};
    assert_int_equal(mb_params_parse(&p, &type, empty, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "is an empty list");
    const char *trailing[] = {"hidden=256,128,"};
    assert_int_equal(mb_params_parse(&p, &type, trailing, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "trailing comma");
    const char *range[] = {"hidden=256,0"};
    assert_int_equal(mb_params_parse(&p, &type, range, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "out of range");
    CHECK_HAS(err.msg, "integers in [1, 4096], comma-separated");
    const char *nan[] = {"alpha=nan"};
    assert_int_equal(mb_params_parse(&p, &type, nan, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "is not a number");
    const char *neg[] = {"alpha=-1"};
    assert_int_equal(mb_params_parse(&p, &type, neg, 1, &err), MB_EARG);
    CHECK_HAS(err.msg, "real in [0, inf]");
}

static void test_params_bad_default(void **state)
{
    (void)state;
    /* a default the host would refuse: the plugin is refused at load */
    mb_registry r = {0};
    mb_error err;
    const char *path = plugin_path("bad_default");
    assert_int_equal(mb_registry_load(&r, path, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, path);
    CHECK_HAS(err.msg, "a parameter whose default is not valid");
    assert_int_equal(r.nplugins, 0);
    mb_registry_close(&r);
}

/* {====== calling models ======} */

static const float tiny_X[] = {0, 0, 0, 1, 10, 10, 10, 11};
static const float tiny_y[] = {0, 0, 1, 1};

static mb_dataset tiny(mb_task task)
{
    return (mb_dataset){{tiny_X, 4, 2, 2}, tiny_y, NULL, task, task == MB_TASK_REGRESSION ? 0 : 2, NULL};
}

static void test_fit_failures(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    load_ok(&r, "fails_fit");
    mb_dataset d = tiny(MB_TASK_BINARY);
    mb_fit_context ctx = make_ctx();
    mb_error err;

    mb_model *m = make_model(&r, "fails_fit", NULL, 0);
    assert_int_not_equal(mb_model_fit(m, &d, NULL, &ctx, &err), MB_OK);
    assert_string_equal(err.msg, "model 'fails_fit' (fit): the data is too boring to fit");
    float out[4];
    assert_int_equal(mb_model_predict(m, &d.X, out, &err), MB_EARG); /* never fitted */
    CHECK_HAS(err.msg, "model 'fails_fit' is not fitted");
    mb_model_free(&m);
    assert_null(m);

    m = make_model(&r, "silent_fail", NULL, 0);
    assert_int_not_equal(mb_model_fit(m, &d, NULL, &ctx, &err), MB_OK);
    assert_string_equal(err.msg, "model 'silent_fail' (fit): failed without a message");
    mb_model_free(&m);

    m = make_model(&r, "long_msg", NULL, 0);
    assert_int_not_equal(mb_model_fit(m, &d, NULL, &ctx, &err), MB_OK);
    CHECK_HAS(err.msg, "model 'long_msg' (fit): xxxx");
    assert_true(strlen(err.msg) < sizeof err.msg);
    assert_true(strlen(err.msg) <= strlen("model 'long_msg' (fit): ") + MB_PLUGIN_ERRLEN - 1);
    mb_model_free(&m);

    const mb_loaded_plugin *owner;
    const mb_model_type *t = mb_registry_find(&r, "fails_create", &owner, &err);
    mb_params p;
    CHECK_OK(mb_params_parse(&p, t, NULL, 0, &err), err);
    assert_int_equal(mb_model_create(&m, t, owner, &p, &err), MB_EARG);
    assert_null(m);
    assert_null(p.values); /* ownership was taken, then freed */
    assert_string_equal(err.msg, "model 'fails_create' (create): cannot create this model today");

    /* the template's own fit failures, prefixed the same way */
    static const float bad_y[] = {0, 0, 1, 7};
    mb_dataset bad = d;
    bad.y = bad_y;
    m = make_model(&r, "knn", NULL, 0);
    assert_int_equal(mb_model_fit(m, &bad, NULL, &ctx, &err), MB_EARG);
    CHECK_HAS(err.msg, "model 'knn' (fit): the label of row 3 (7) is not a class index 0..1");
    mb_model_free(&m);
    m = make_model(&r, "baseline", (const char *[]){"strategy=median"}, 1);
    assert_int_equal(mb_model_fit(m, &d, NULL, &ctx, &err), MB_EARG);
    assert_string_equal(err.msg, "model 'baseline' (fit): strategy 'median' does not apply to binary "
                                 "classification; use prior or most_frequent");
    mb_model_free(&m);

    template_still_works(&r);
    mb_registry_close(&r);
}

/* Host checks before the plugin is called: task, empty data, feature counts. */
static void test_host_checks(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    load_ok(&r, "fails_fit");
    mb_fit_context ctx = make_ctx();
    mb_error err;

    mb_model *m = make_model(&r, "no_proba", NULL, 0);
    mb_dataset reg = tiny(MB_TASK_REGRESSION);
    assert_int_equal(mb_model_fit(m, &reg, NULL, &ctx, &err), MB_EARG);
    assert_string_equal(err.msg, "model 'no_proba' does not do regression");
    mb_dataset d = tiny(MB_TASK_BINARY);
    fit_ok(m, &d);
    float proba[8];
    assert_int_equal(mb_model_predict_proba(m, &d.X, proba, &err), MB_EARG);
    CHECK_HAS(err.msg, "model 'no_proba' gives no class probabilities");
    mb_model_free(&m);

    m = make_model(&r, "knn", NULL, 0);
    mb_dataset empty = d;
    empty.X.rows = 0;
    assert_int_equal(mb_model_fit(m, &empty, NULL, &ctx, &err), MB_EEMPTY);
    CHECK_HAS(err.msg, "model 'knn': no training rows");
    static const float v3[] = {1, 2, 3};
    mb_dataset valid = {{v3, 1, 3, 3}, tiny_y, NULL, MB_TASK_BINARY, 2, NULL};
    assert_int_equal(mb_model_fit(m, &d, &valid, &ctx, &err), MB_ESHAPE);
    CHECK_HAS(err.msg, "validation data has 3 features, training data 2");

    float out[4];
    assert_int_equal(mb_model_predict(m, &d.X, out, &err), MB_EARG);
    CHECK_HAS(err.msg, "model 'knn' is not fitted");
    fit_ok(m, &d);
    mb_matrix wide = {v3, 1, 3, 3};
    assert_int_equal(mb_model_predict(m, &wide, out, &err), MB_ESHAPE);
    assert_string_equal(err.msg, "model 'knn' was fitted on 2 features, this data has 3");
    assert_int_equal(mb_model_predict_proba(m, &wide, proba, &err), MB_ESHAPE);
    CHECK_HAS(err.msg, "fitted on 2 features, this data has 3");
    mb_model_free(&m);

    /* regression models give no probabilities, whatever the plugin offers */
    m = make_model(&r, "knn", NULL, 0);
    fit_ok(m, &reg);
    assert_int_equal(mb_model_predict_proba(m, &reg.X, proba, &err), MB_EARG);
    CHECK_HAS(err.msg, "gives no class probabilities");
    mb_model_free(&m);
    mb_registry_close(&r);
}

/* The host passes predictions through unchecked: a plugin's NaN reaches the
** caller as NaN (the scorers and metrics have to cope with it). */
static void test_nan_predictions_pass_through(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "fails_fit");
    mb_model *m = make_model(&r, "nan_predict", NULL, 0);
    mb_dataset d = tiny(MB_TASK_BINARY);
    fit_ok(m, &d);
    float out[4], proba[8];
    mb_error err;
    CHECK_OK(mb_model_predict(m, &d.X, out, &err), err);
    CHECK_OK(mb_model_predict_proba(m, &d.X, proba, &err), err);
    assert_true(isnan(out[0]) && isnan(out[3]));
    assert_true(isnan(proba[0]) && isnan(proba[7]));
    mb_model_free(&m);
    mb_registry_close(&r);
}

typedef struct progress_log {
    int calls;
    double last;
    int monotonic;
} progress_log;

static void record_progress(void *ud, double fraction, const char *msg, double tl, double vl)
{
    progress_log *p = ud;
    (void)tl, (void)vl;
    assert_non_null(msg);
    if (p->calls && fraction < p->last)
        p->monotonic = 0;
    p->calls++;
    p->last = fraction;
}

static void test_cancel_and_progress(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    load_ok(&r, "fails_fit");
    mb_dataset d = tiny(MB_TASK_BINARY);
    mb_error err;
    volatile int stop = 1;
    mb_fit_context ctx = make_ctx();
    ctx.cancel = &stop;

    mb_model *m = make_model(&r, "cancels", NULL, 0);
    assert_int_equal(mb_model_fit(m, &d, NULL, &ctx, &err), MB_ECANCELLED);
    assert_string_equal(err.msg, "model 'cancels' (fit): cancelled");
    mb_model_free(&m);

    m = make_model(&r, "knn", NULL, 0);
    assert_int_equal(mb_model_fit(m, &d, NULL, &ctx, &err), MB_ECANCELLED);
    assert_int_equal(m->nfeatures, 0); /* still unfitted */

    progress_log log = {0, 0, 1};
    stop = 0;
    ctx.progress = record_progress;
    ctx.progress_ud = &log;
    CHECK_OK(mb_model_fit(m, &d, NULL, &ctx, &err), err);
    assert_true(log.calls >= 1);
    assert_true(log.monotonic);
    assert_true(log.last == 1.0);
    mb_model_free(&m);
    mb_registry_close(&r);
}

/* {====== the template's models ======} */

static double accuracy_of(mb_model *m, const mb_dataset *test)
{
    float *pred = mb_malloc(test->X.rows * sizeof(float));
    mb_error err;
    CHECK_OK(mb_model_predict(m, &test->X, pred, &err), err);
    double acc = mb_accuracy(test->y, pred, test->X.rows);
    mb_free(pred);
    return acc;
}

static void test_knn_iris(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    split s;
    split_load(&s, "datasets/iris.h5");
    assert_int_equal(s.train.task, MB_TASK_MULTICLASS);
    assert_int_equal(s.train.nclasses, 3);

    mb_model *m = make_model(&r, "knn", NULL, 0); /* defaults: k=5, standardised */
    fit_ok(m, &s.train);
    double acc = accuracy_of(m, &s.test);
    if (!(acc > 0.9))
        fail_msg("knn on iris: test accuracy %.3f, want > 0.9", acc);

    /* probabilities: rows sum to 1, and the largest is the prediction */
    size_t n = s.test.X.rows;
    float *proba = mb_malloc(n * 3 * sizeof(float)), *pred = mb_malloc(n * sizeof(float));
    mb_error err;
    CHECK_OK(mb_model_predict_proba(m, &s.test.X, proba, &err), err);
    CHECK_OK(mb_model_predict(m, &s.test.X, pred, &err), err);
    for (size_t i = 0; i < n; i++) {
        const float *pr = proba + 3 * i;
        assert_true(fabs((double)(pr[0] + pr[1] + pr[2]) - 1.0) < 1e-5);
        size_t best = pr[1] > pr[0] ? 1 : 0;
        best = pr[2] > pr[best] ? 2 : best;
        assert_true(pred[i] == (float)best);
    }
    mb_free(proba);
    mb_free(pred);
    mb_model_free(&m);

    /* distance weights: every training row is its own exact match */
    const char *dist[] = {"weights=distance", "n_neighbors=7"};
    m = make_model(&r, "knn", dist, 2);
    fit_ok(m, &s.train);
    acc = accuracy_of(m, &s.test);
    if (!(acc > 0.9))
        fail_msg("knn (distance) on iris: test accuracy %.3f", acc);
    if (!(accuracy_of(m, &s.train) > 0.99))
        fail_msg("knn (distance) on iris: training accuracy %.3f", accuracy_of(m, &s.train));
    mb_model_free(&m);

    /* unstandardised still works on iris (features of similar scales) */
    const char *raw[] = {"standardize=false"};
    m = make_model(&r, "knn", raw, 1);
    fit_ok(m, &s.train);
    assert_true(accuracy_of(m, &s.test) > 0.9);
    mb_model_free(&m);
    split_free(&s);
    mb_registry_close(&r);
}

static void test_knn_regression_and_binary(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    mb_error err;

    split s;
    split_load(&s, "datasets/diabetes.h5");
    assert_int_equal(s.train.task, MB_TASK_REGRESSION);
    const char *k[] = {"n_neighbors=15"};
    mb_model *m = make_model(&r, "knn", k, 1);
    fit_ok(m, &s.train);
    size_t n = s.test.X.rows;
    float *pred = mb_malloc(n * sizeof(float));
    CHECK_OK(mb_model_predict(m, &s.test.X, pred, &err), err);
    double r2 = mb_r2(s.test.y, pred, n);
    if (!(r2 > 0.3))
        fail_msg("knn on diabetes: R^2 %.3f, want > 0.3", r2);
    mb_free(pred);
    mb_model_free(&m);
    split_free(&s);

    /* vote: binary, with missing values (NaN coordinates are skipped) */
    split_load(&s, "datasets/vote.h5");
    assert_int_equal(s.train.task, MB_TASK_BINARY);
    size_t nan = 0;
    for (size_t i = 0; i < s.test.X.rows * s.test.X.cols; i++)
        nan += isnan(s.test.X.x[i]);
    assert_true(nan > 0);
    m = make_model(&r, "knn", NULL, 0);
    fit_ok(m, &s.train);
    double acc = accuracy_of(m, &s.test);
    if (!(acc > 0.85))
        fail_msg("knn on vote: test accuracy %.3f, want > 0.85", acc);
    n = s.test.X.rows;
    float *proba = mb_malloc(2 * n * sizeof(float));
    CHECK_OK(mb_model_predict_proba(m, &s.test.X, proba, &err), err);
    float *p1 = mb_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        assert_true(proba[2 * i] >= 0 && proba[2 * i + 1] <= 1);
        p1[i] = proba[2 * i + 1];
    }
    double auc = mb_roc_auc(s.test.y, p1, n);
    if (!(auc > 0.9))
        fail_msg("knn on vote: test ROC AUC %.3f, want > 0.9", auc);
    mb_free(p1);
    mb_free(proba);
    mb_model_free(&m);
    split_free(&s);
    mb_registry_close(&r);
}

/* Hand-made cases: NaN coordinates, all-NaN rows, exact matches, sample
** weights, more neighbours than rows. */
static void test_knn_small_cases(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    mb_error err;
    mb_dataset d = tiny(MB_TASK_BINARY);

    const char *k1[] = {"n_neighbors=1", "standardize=false"};
    mb_model *m = make_model(&r, "knn", k1, 2);
    fit_ok(m, &d);
    float q[] = {NAN, 10.5f, 1, NAN, NAN, NAN, 9, 9};
    mb_matrix Q = {q, 4, 2, 2};
    float out[4], proba[8];
    CHECK_OK(mb_model_predict(m, &Q, out, &err), err);
    assert_true(out[0] == 1.0f); /* only the second coordinate counts */
    assert_true(out[1] == 0.0f);
    assert_true(out[2] == 0.0f); /* nothing to measure: the first row wins the tie */
    assert_true(out[3] == 1.0f);
    CHECK_OK(mb_model_predict_proba(m, &Q, proba, &err), err);
    for (size_t i = 0; i < 8; i++)
        assert_false(isnan(proba[i]));
    mb_model_free(&m);

    /* exact match with distance weights: only it votes */
    const char *dk[] = {"n_neighbors=3", "weights=distance"};
    m = make_model(&r, "knn", dk, 2);
    fit_ok(m, &d);
    float exact[] = {10, 10};
    mb_matrix E = {exact, 1, 2, 2};
    CHECK_OK(mb_model_predict_proba(m, &E, proba, &err), err);
    assert_true(proba[0] == 0.0f && proba[1] == 1.0f);
    mb_model_free(&m);

    /* sample weights, and n_neighbors above the number of rows */
    static const float w[] = {1, 1, 1, 5};
    mb_dataset dw = d;
    dw.w = w;
    const char *all[] = {"n_neighbors=1000"};
    m = make_model(&r, "knn", all, 1);
    fit_ok(m, &dw);
    float any[] = {0, 0};
    mb_matrix A = {any, 1, 2, 2};
    CHECK_OK(mb_model_predict_proba(m, &A, proba, &err), err);
    assert_true(fabs((double)proba[0] - 0.25) < 1e-6 && fabs((double)proba[1] - 0.75) < 1e-6);
    mb_model_free(&m);

    /* regression: the mean of the k nearest labels */
    static const float ry[] = {1, 2, 3, 4};
    mb_dataset reg = tiny(MB_TASK_REGRESSION);
    reg.y = ry;
    const char *k2[] = {"n_neighbors=2", "standardize=false"};
    m = make_model(&r, "knn", k2, 2);
    fit_ok(m, &reg);
    float rq[] = {0, 0.4f};
    mb_matrix R = {rq, 1, 2, 2};
    CHECK_OK(mb_model_predict(m, &R, out, &err), err);
    assert_true(fabs((double)out[0] - 1.5) < 1e-6);

    /* a failed refit keeps the previous fit */
    static const float nan_y[] = {1, NAN, 3, 4};
    mb_dataset bad = reg;
    bad.y = nan_y;
    assert_int_not_equal(mb_model_fit(m, &bad, NULL, NULL, &err), MB_OK);
    CHECK_HAS(err.msg, "the label of row 1 is not a finite number");
    CHECK_OK(mb_model_predict(m, &R, out, &err), err);
    assert_true(fabs((double)out[0] - 1.5) < 1e-6);
    mb_model_free(&m);
    mb_registry_close(&r);
}

static void test_baseline(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    mb_error err;

    split s;
    split_load(&s, "datasets/iris.h5");
    mb_model *m = make_model(&r, "baseline", NULL, 0); /* auto: prior */
    fit_ok(m, &s.train);
    double count[3] = {0};
    for (size_t i = 0; i < s.train.X.rows; i++)
        count[(size_t)s.train.y[i]]++;
    size_t n = s.test.X.rows;
    float *proba = mb_malloc(3 * n * sizeof(float)), *pred = mb_malloc(n * sizeof(float));
    CHECK_OK(mb_model_predict_proba(m, &s.test.X, proba, &err), err);
    CHECK_OK(mb_model_predict(m, &s.test.X, pred, &err), err);
    size_t most = 0;
    for (size_t c = 1; c < 3; c++)
        most = count[c] > count[most] ? c : most;
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < 3; c++)
            assert_true(fabs((double)proba[3 * i + c] - count[c] / (double)s.train.X.rows) < 1e-6);
        assert_true(pred[i] == (float)most);
    }
    double imp[4] = {1, 1, 1, 1};
    char msg[MB_PLUGIN_ERRLEN] = "";
    assert_int_equal(m->type->importance(m->impl, 0, imp, msg), MB_PLUGIN_OK);
    assert_true(imp[0] == 0 && imp[3] == 0);
    mb_model_free(&m);

    m = make_model(&r, "baseline", (const char *[]){"strategy=most_frequent"}, 1);
    fit_ok(m, &s.train);
    CHECK_OK(mb_model_predict_proba(m, &s.test.X, proba, &err), err);
    for (size_t c = 0; c < 3; c++)
        assert_true(proba[c] == (c == most ? 1.0f : 0.0f));
    mb_model_free(&m);
    mb_free(proba);
    mb_free(pred);
    split_free(&s);

    /* regression: mean and median */
    split_load(&s, "datasets/diabetes.h5");
    double mean = 0;
    for (size_t i = 0; i < s.train.X.rows; i++)
        mean += (double)s.train.y[i];
    mean /= (double)s.train.X.rows;
    m = make_model(&r, "baseline", NULL, 0);
    fit_ok(m, &s.train);
    float v;
    mb_matrix one = {s.test.X.x, 1, s.test.X.cols, s.test.X.ld};
    CHECK_OK(mb_model_predict(m, &one, &v, &err), err);
    assert_true(fabs((double)v - mean) < 1e-3);
    mb_model_free(&m);
    split_free(&s);

    static const float ry[] = {1, 2, 3, 10}, rw[] = {1, 1, 1, 5};
    mb_dataset reg = tiny(MB_TASK_REGRESSION);
    reg.y = ry;
    m = make_model(&r, "baseline", (const char *[]){"strategy=median"}, 1);
    fit_ok(m, &reg);
    mb_matrix first = {tiny_X, 1, 2, 2};
    CHECK_OK(mb_model_predict(m, &first, &v, &err), err);
    assert_true(v == 2.5f); /* the mean of the two middle values */
    reg.w = rw;
    fit_ok(m, &reg);
    CHECK_OK(mb_model_predict(m, &first, &v, &err), err);
    assert_true(v == 10.0f); /* weighted: half the weight is on 10 */
    mb_model_free(&m);

    m = make_model(&r, "baseline", (const char *[]){"strategy=prior"}, 1);
    assert_int_equal(mb_model_fit(m, &reg, NULL, NULL, &err), MB_EARG);
    CHECK_HAS(err.msg, "strategy 'prior' does not apply to regression; use mean or median");
    mb_model_free(&m);
    mb_registry_close(&r);
}

/* {====== save and load ======} */

/* Save m through the in-memory state, then load into a new model made with
** the same settings. The host has no mb_model_load yet, so the test calls
** the plugin's load and restores the host's bookkeeping itself. */
static mb_model *reload(const mb_registry *r, mb_model *m, const char *name, const char *const *settings,
                        size_t n, mb_state *st)
{
    mb_state_writer w = mb_state_writer_for(st);
    char msg[MB_PLUGIN_ERRLEN] = "";
    if (m->type->save(m->impl, &w, msg) != MB_PLUGIN_OK)
        fail_msg("save: %s", msg);
    mb_model *m2 = make_model(r, name, settings, n);
    mb_state_reader rd = mb_state_reader_for(st);
    if (m2->type->load(m2->impl, &rd, msg) != MB_PLUGIN_OK)
        fail_msg("load: %s", msg);
    m2->task = m->task;
    m2->nfeatures = m->nfeatures;
    m2->nclasses = m->nclasses;
    return m2;
}

static void same_predictions(mb_model *a, mb_model *b, const mb_matrix *X, size_t width)
{
    size_t n = X->rows * width;
    float *pa = mb_malloc(n * sizeof(float)), *pb = mb_malloc(n * sizeof(float));
    mb_error err;
    CHECK_OK(mb_model_predict(a, X, pa, &err), err);
    CHECK_OK(mb_model_predict(b, X, pb, &err), err);
    assert_memory_equal(pa, pb, X->rows * sizeof(float));
    if (width > 1) {
        CHECK_OK(mb_model_predict_proba(a, X, pa, &err), err);
        CHECK_OK(mb_model_predict_proba(b, X, pb, &err), err);
        assert_memory_equal(pa, pb, n * sizeof(float));
    }
    mb_free(pa);
    mb_free(pb);
}

static mb_state_array *state_array(mb_state *st, const char *name)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->arrays[i].name, name) == 0)
            return &st->arrays[i];
    fail_msg("no saved array '%s'", name);
    static mb_state_array none; /* not reached: fail_msg jumps out of the test */
    return &none;
}

static void test_save_load(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    split s;
    split_load(&s, "datasets/iris.h5");
    const char *set[] = {"n_neighbors=7", "weights=distance"};
    mb_model *m = make_model(&r, "knn", set, 2);
    fit_ok(m, &s.train);
    mb_state st = {0};
    mb_model *m2 = reload(&r, m, "knn", set, 2, &st);
    same_predictions(m, m2, &s.test.X, 3);
    /* the state: training data, labels and the scaling */
    assert_int_equal(state_array(&st, "x")->count, s.train.X.rows * 4);
    assert_int_equal(state_array(&st, "y")->count, s.train.X.rows);
    assert_int_equal(state_array(&st, "mean")->type, MB_DT_F64);
    assert_int_equal(state_array(&st, "std")->count, 4);

    /* damaged state is refused with a message, and the model keeps working */
    char msg[MB_PLUGIN_ERRLEN] = "";
    mb_state_reader rd = mb_state_reader_for(&st);
    int64_t *dims = state_array(&st, "dims")->data;
    int64_t rows = dims[0];
    dims[0] = -1;
    assert_int_equal(m2->type->load(m2->impl, &rd, msg), MB_PLUGIN_EFORMAT);
    CHECK_HAS(msg, "saved dimensions are inconsistent");
    dims[0] = rows + 1;
    assert_int_equal(m2->type->load(m2->impl, &rd, msg), MB_PLUGIN_EFORMAT);
    CHECK_HAS(msg, "saved array 'x' has");
    dims[0] = rows;
    float *y = state_array(&st, "y")->data;
    y[3] = 3; /* no class 3 among 3 classes */
    assert_int_equal(m2->type->load(m2->impl, &rd, msg), MB_PLUGIN_EFORMAT);
    CHECK_HAS(msg, "saved label or weight of row 3 is invalid");
    y[3] = 0;
    int32_t *format = state_array(&st, "format")->data;
    *format = 99;
    assert_int_equal(m2->type->load(m2->impl, &rd, msg), MB_PLUGIN_EFORMAT);
    CHECK_HAS(msg, "saved state format 99; this plugin reads format 1");
    *format = 1;
    snprintf(state_array(&st, "std")->name, 64, "gone");
    assert_int_equal(m2->type->load(m2->impl, &rd, msg), MB_PLUGIN_EFORMAT);
    CHECK_HAS(msg, "saved state has no array 'std'");
    same_predictions(m, m2, &s.test.X, 3);
    mb_state_clear(&st);
    mb_model_free(&m2);
    mb_model_free(&m);

    /* an unfitted model has nothing to save */
    m = make_model(&r, "knn", NULL, 0);
    mb_state_writer w = mb_state_writer_for(&st);
    assert_int_equal(m->type->save(m->impl, &w, msg), MB_PLUGIN_EINVAL);
    CHECK_HAS(msg, "not fitted");
    mb_model_free(&m);

    /* baseline, classification and regression; knn with sample weights */
    m = make_model(&r, "baseline", NULL, 0);
    fit_ok(m, &s.train);
    m2 = reload(&r, m, "baseline", NULL, 0, &st);
    same_predictions(m, m2, &s.test.X, 3);
    mb_state_clear(&st);
    mb_model_free(&m2);
    mb_model_free(&m);
    split_free(&s);

    split_load(&s, "datasets/diabetes.h5");
    float *w8 = mb_malloc(s.train.X.rows * sizeof(float));
    for (size_t i = 0; i < s.train.X.rows; i++)
        w8[i] = (float)(1 + i % 3);
    s.train.w = w8;
    const char *med[] = {"strategy=median"};
    m = make_model(&r, "baseline", med, 1);
    fit_ok(m, &s.train);
    m2 = reload(&r, m, "baseline", med, 1, &st);
    same_predictions(m, m2, &s.test.X, 1);
    mb_state_clear(&st);
    mb_model_free(&m2);
    mb_model_free(&m);
    m = make_model(&r, "knn", NULL, 0);
    fit_ok(m, &s.train);
    m2 = reload(&r, m, "knn", NULL, 0, &st);
    assert_int_equal(state_array(&st, "w")->count, s.train.X.rows);
    same_predictions(m, m2, &s.test.X, 1);
    mb_state_clear(&st);
    mb_model_free(&m2);
    mb_model_free(&m);
    mb_free(w8);
    split_free(&s);
    mb_registry_close(&r);
}

/* The in-memory state store itself: names, duplicates, conversions. */
static void test_state_store(void **state)
{
    (void)state;
    mb_state st = {0};
    mb_state_writer w = mb_state_writer_for(&st);
    const double d[3] = {1.5, -2, 3};
    assert_int_equal(w.put(w.ud, "values", MB_DT_F64, d, 3), MB_PLUGIN_OK);
    assert_int_equal(w.put(w.ud, "values", MB_DT_F64, d, 3), MB_PLUGIN_EINVAL); /* duplicate */
    assert_int_equal(w.put(w.ud, "bad name", MB_DT_F64, d, 3), MB_PLUGIN_EINVAL);
    assert_int_equal(w.put(w.ud, "", MB_DT_F64, d, 3), MB_PLUGIN_EINVAL);
    assert_int_equal(w.put(w.ud, "empty", MB_DT_I32, NULL, 0), MB_PLUGIN_OK);
    mb_state_reader r = mb_state_reader_for(&st);
    mb_dtype t;
    size_t n;
    assert_int_equal(r.size(r.ud, "values", &t, &n), MB_PLUGIN_OK);
    assert_int_equal(t, MB_DT_F64);
    assert_int_equal(n, 3);
    assert_int_equal(r.size(r.ud, "absent", &t, &n), MB_PLUGIN_EFORMAT);
    float f[3];
    assert_int_equal(r.get(r.ud, "values", MB_DT_F32, f, 3), MB_PLUGIN_OK);
    assert_true(f[0] == 1.5f && f[1] == -2.0f);
    int32_t i32[3];
    /* 1.5 is no int32: reading it as one is damaged state, not a truncation */
    assert_int_equal(r.get(r.ud, "values", MB_DT_I32, i32, 3), MB_PLUGIN_EFORMAT);
    const double whole[3] = {1, -2, 3};
    assert_int_equal(w.put(w.ud, "whole", MB_DT_F64, whole, 3), MB_PLUGIN_OK);
    assert_int_equal(r.get(r.ud, "whole", MB_DT_I32, i32, 3), MB_PLUGIN_OK);
    assert_int_equal(i32[2], 3);
    assert_int_equal(r.get(r.ud, "values", MB_DT_F32, f, 2), MB_PLUGIN_EFORMAT); /* count must match */
    assert_int_equal(r.size(r.ud, "empty", &t, &n), MB_PLUGIN_OK);
    assert_int_equal(n, 0);
    mb_state_clear(&st);
    assert_int_equal(st.n, 0);
}

/* {====== portable forms ======} */

/* The baseline's linear form, scored by the host without the plugin, gives
** the plugin's own predict_proba (or predict, for regression). */
static void check_portable(const mb_registry *r, const char *data, const char *const *set, size_t nset)
{
    split s;
    split_load(&s, data);
    mb_model *m = make_model(r, "baseline", set, nset);
    fit_ok(m, &s.train);
    mb_portable form;
    char msg[MB_PLUGIN_ERRLEN] = "";
    if (m->type->portable(m->impl, &form, msg) != MB_PLUGIN_OK)
        fail_msg("portable: %s", msg);
    assert_int_equal(form.kind, MB_FORM_LINEAR);
    mb_error err;
    CHECK_OK(mb_portable_check(&form, &err), err);
    size_t n = s.test.X.rows, k = mb_portable_noutputs(&form), nc = s.train.nclasses;
    assert_int_equal(mb_portable_nfeatures(&form), s.test.X.cols);
    double *got = mb_malloc(n * k * sizeof(double));
    CHECK_OK(mb_portable_predict(&form, &s.test.X, got, &err), err);
    float *want = mb_malloc(n * (nc ? nc : 1) * sizeof(float));
    if (s.train.task == MB_TASK_REGRESSION) {
        assert_int_equal(k, 1);
        CHECK_OK(mb_model_predict(m, &s.test.X, want, &err), err);
        for (size_t i = 0; i < n; i++)
            assert_true(fabs(got[i] - (double)want[i]) <= 1e-4 * fabs((double)want[i]));
    } else {
        CHECK_OK(mb_model_predict_proba(m, &s.test.X, want, &err), err);
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < nc; c++) {
                /* binary forms give the probability of class 1 only */
                double g = nc == 2 ? (c == 1 ? got[i] : 1 - got[i]) : got[i * k + c];
                if (!(fabs(g - (double)want[i * nc + c]) < 1e-6))
                    fail_msg("%s row %zu class %zu: portable %.9g, plugin %.9g", data, i, c, g,
                             (double)want[i * nc + c]);
            }
    }
    mb_free(got);
    mb_free(want);
    mb_model_free(&m);
    split_free(&s);
}

static void test_baseline_portable(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    check_portable(&r, "datasets/iris.h5", NULL, 0);
    check_portable(&r, "datasets/breast_cancer.h5", NULL, 0);
    const char *mf[] = {"strategy=most_frequent"};
    check_portable(&r, "datasets/breast_cancer.h5", mf, 1);
    check_portable(&r, "datasets/wine.h5", mf, 1);
    check_portable(&r, "datasets/diabetes.h5", NULL, 0);
    const char *med[] = {"strategy=median"};
    check_portable(&r, "datasets/diabetes.h5", med, 1);
    mb_registry_close(&r);
}

/* The linear form skips terms whose coefficient is 0 (moonbench_plugin.h),
** so the baseline's portable form gives the priors on rows with missing
** votes, as the plugin does. */
static void test_baseline_portable_nan(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    check_portable(&r, "datasets/vote.h5", NULL, 0);
    mb_registry_close(&r);
}

/* A non-portable bundle (knn) whose schema disagrees with the plugin's
** saved state (a rewritten, resealed file) is refused before scoring,
** through the plugin's dims(). */
static void test_bundle_dims_mismatch(void **state)
{
    (void)state;
    mb_registry r = {0};
    load_ok(&r, "template");
    mb_error err;
    const mb_loaded_plugin *owner;
    const mb_model_type *t = mb_registry_find(&r, "knn", &owner, &err);
    mb_params p;
    assert_int_equal(mb_params_parse(&p, t, NULL, 0, &err), MB_OK);
    mb_model *m;
    assert_int_equal(mb_model_create(&m, t, owner, &p, &err), MB_OK);
    mb_dataset d = tiny(MB_TASK_BINARY);
    mb_fit_context ctx = {sizeof ctx, mb_host_services(), 1, 0, NULL, NULL, NULL};
    assert_int_equal(mb_model_fit(m, &d, NULL, &ctx, &err), MB_OK);
    const char *feats[] = {"a", "b"}, *classes[] = {"no", "yes", "maybe"};
    mb_bundle *b = mb_calloc(1, sizeof *b), *c = NULL;
    assert_int_equal(mb_bundle_from_model(b, m, feats, 2, "t", classes, NULL, "test", 4, &err), MB_OK);
    char path[256];
    snprintf(path, sizeof path, "/tmp/mb_dims_%d.h5", (int)getpid());
    /* the bundle as it would be if its schema were rewritten: 3 classes */
    b->task = MB_TASK_MULTICLASS;
    for (size_t i = 0; i < b->nclasses; i++)
        mb_free(b->classes[i]);
    mb_free(b->classes);
    b->nclasses = 3;
    b->classes = mb_calloc(4, sizeof *b->classes);
    for (int i = 0; i < 3; i++)
        b->classes[i] = mb_strdup(classes[i]);
    assert_int_equal(mb_bundle_save(path, b, &err), MB_OK);
    assert_int_equal(mb_bundle_load(path, &c, &err), MB_OK);
    mb_scorer s;
    assert_int_equal(mb_scorer_open(&s, c, &r, &err), MB_EFORMAT);
    CHECK_HAS(err.msg, "its saved state has 2 features and 2 classes, the bundle's schema 2 and 3");
    unlink(path);
    mb_bundle_free(&c);
    mb_bundle_free(&b);
    mb_model_free(&m);
    mb_registry_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_template),
        cmocka_unit_test(test_load_not_a_shared_object),
        cmocka_unit_test(test_load_hostile_files),
        cmocka_unit_test(test_load_no_entry),
        cmocka_unit_test(test_load_future_abi),
        cmocka_unit_test(test_load_refuses),
        cmocka_unit_test(test_load_bad_table),
        cmocka_unit_test(test_duplicate_plugin_name),
        cmocka_unit_test(test_duplicate_model_name),
        cmocka_unit_test(test_odd_names),
        cmocka_unit_test(test_discover_plugin_path),
        cmocka_unit_test(test_discover_exe_dir),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_params_defaults),
        cmocka_unit_test(test_params_refused),
        cmocka_unit_test(test_params_ints_real),
        cmocka_unit_test(test_params_bad_default),
        cmocka_unit_test(test_fit_failures),
        cmocka_unit_test(test_host_checks),
        cmocka_unit_test(test_nan_predictions_pass_through),
        cmocka_unit_test(test_cancel_and_progress),
        cmocka_unit_test(test_knn_iris),
        cmocka_unit_test(test_knn_regression_and_binary),
        cmocka_unit_test(test_knn_small_cases),
        cmocka_unit_test(test_baseline),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_state_store),
        cmocka_unit_test(test_baseline_portable),
        cmocka_unit_test(test_baseline_portable_nan),
        cmocka_unit_test(test_bundle_dims_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
