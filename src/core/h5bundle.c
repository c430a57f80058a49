/*
** h5bundle.c: the model bundle as an HDF5 file (layout in bundle.h and
** docs/model-format.md): saving atomically, loading with checks, so that
** a corrupt, truncated or foreign file is an error message, never a crash.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "bundle.h"
#include "h5int.h"
#include "io.h"
#include "sign.h"

_Static_assert(MB_SEAL_SIZE == MBH5_SEAL_SIZE && sizeof MB_SEAL_TAG == sizeof MBH5_SEAL_TAG,
               "sign.h and h5int.h describe the same user block");

/* {====== named arrays as datasets ======} */

static hid_t dtype_h5(mb_dtype t)
{
    switch (t) {
    case MB_DT_F32:
        return H5T_NATIVE_FLOAT;
    case MB_DT_F64:
        return H5T_NATIVE_DOUBLE;
    case MB_DT_I32:
        return H5T_NATIVE_INT32;
    case MB_DT_I64:
        return H5T_NATIVE_INT64;
    case MB_DT_U8:
        return H5T_NATIVE_UINT8;
    }
    return H5I_INVALID_HID;
}

static hid_t dtype_file(mb_dtype t)
{
    switch (t) {
    case MB_DT_F32:
        return H5T_IEEE_F32LE;
    case MB_DT_F64:
        return H5T_IEEE_F64LE;
    case MB_DT_I32:
        return H5T_STD_I32LE;
    case MB_DT_I64:
        return H5T_STD_I64LE;
    case MB_DT_U8:
        return H5T_STD_U8LE;
    }
    return H5I_INVALID_HID;
}

static int write_state(hid_t loc, const char *group, const mb_state *s)
{
    hid_t g = H5Gcreate2(loc, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int bad = 0;
    for (size_t i = 0; i < s->n && !bad; i++) {
        const mb_state_array *a = &s->arrays[i];
        hsize_t d = a->count;
        hid_t sp = H5Screate_simple(1, &d, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        /* big arrays (tree nodes, weights) compress well enough to matter */
        if (a->count >= 4096) {
            hsize_t ch = a->count < 65536 ? a->count : 65536;
            H5Pset_chunk(dcpl, 1, &ch);
            H5Pset_shuffle(dcpl);
            H5Pset_deflate(dcpl, 4);
        }
        hid_t ds = H5Dcreate2(g, a->name, dtype_file(a->type), sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        bad = ds < 0 || (a->count && H5Dwrite(ds, dtype_h5(a->type), H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data) < 0);
        if (ds >= 0)
            H5Dclose(ds);
        H5Pclose(dcpl);
        H5Sclose(sp);
    }
    H5Gclose(g);
    return bad ? -1 : 0;
}

/* The mb_dtype that holds an HDF5 numeric type without loss. */
static int dtype_of(hid_t t, mb_dtype *out)
{
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    if (c == H5T_FLOAT)
        *out = sz <= 4 ? MB_DT_F32 : MB_DT_F64;
    else if (c == H5T_INTEGER && sz == 1 && H5Tget_sign(t) == H5T_SGN_NONE)
        *out = MB_DT_U8;
    else if (c == H5T_INTEGER)
        *out = sz <= 4 && !(sz == 4 && H5Tget_sign(t) == H5T_SGN_NONE) ? MB_DT_I32 : MB_DT_I64;
    else
        return -1;
    return 0;
}

static mb_status read_state(const char *file, hid_t loc, const char *group, mb_state *s, mb_error *err)
{
    mb_status rc = MB_OK;
    hid_t g = H5Gopen2(loc, group, H5P_DEFAULT);
    if (g < 0)
        return mb_fail(err, MB_EFORMAT, "%s: bundle group %s is missing", file, group);
    H5G_info_t gi = {0};
    H5Gget_info(g, &gi);
    mb_state_writer w = mb_state_writer_for(s);
    for (hsize_t i = 0; i < gi.nlinks && rc == MB_OK; i++) {
        char name[128];
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0)
            continue;
        hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
        if (ds < 0) {
            rc = mb_fail(err, MB_EFORMAT, "%s: %s/%s is not a dataset", file, group, name);
            break;
        }
        hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds);
        mb_dtype dt;
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        size_t bytes;
        void *buf = NULL;
        if (dtype_of(t, &dt) < 0 || n < 0 || H5Sget_simple_extent_ndims(sp) > 1) {
            rc = mb_fail(err, MB_EFORMAT, "%s: %s/%s is not a 1-D numeric array", file, group, name);
        } else if (!mb_mul_ok((size_t)n, mb_dtype_size(dt), &bytes) || !(buf = mb_trymalloc(bytes + 1))) {
            rc = mb_fail(err, MB_ENOMEM, "%s: no memory for %s/%s", file, group, name);
        } else if (n && H5Dread(ds, dtype_h5(dt), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            char why[256];
            rc = mb_fail(err, MB_EH5, "%s: cannot read %s/%s: %s", file, group, name, mbh5_reason(why));
        } else if (w.put(w.ud, name, dt, buf, (size_t)n) != MB_PLUGIN_OK) {
            rc = mb_fail(err, MB_EFORMAT, "%s: bad array name %s/%s", file, group, name);
        }
        mb_free(buf);
        H5Sclose(sp);
        H5Tclose(t);
        H5Dclose(ds);
    }
    H5Gclose(g);
    return rc;
}

/* {====== save ======} */

static const char *task_text(mb_task t)
{
    return t == MB_TASK_REGRESSION ? "regression" : t == MB_TASK_BINARY ? "binary" : "multiclass";
}

mb_status mb_bundle_save(const char *path, const mb_bundle *b, mb_error *err)
{
    char *tmp = NULL;
    hid_t fid, g = H5I_INVALID_HID;
    mb_status rc = mbh5_create_atomic(path, 1, &tmp, &fid, err);
    if (rc != MB_OK)
        return rc;
    int bad = 0;
    bad |= mbh5_write_string(fid, "format", MB_BUNDLE_FORMAT);
    bad |= mbh5_write_int(fid, "format_version", MB_BUNDLE_VERSION);
    bad |= mbh5_write_string(fid, "moonbench_version", b->moonbench_version ? b->moonbench_version : MB_VERSION);
    bad |= mbh5_write_string(fid, "task", task_text(b->task));
    bad |= mbh5_write_string(fid, "created", b->created ? b->created : "");

    g = H5Gcreate2(fid, "schema", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bad |= g < 0;
    if (g >= 0) {
        bad |= mbh5_write_strings(g, "features", (const char *const *)b->features, b->nfeatures, 0);
        const char **types = mb_calloc(b->nfeatures + 1, sizeof *types);
        for (size_t i = 0; i < b->nfeatures; i++)
            types[i] = "numeric";
        bad |= mbh5_write_strings(g, "feature_types", types, b->nfeatures, 0);
        mb_free(types);
        bad |= mbh5_write_string(g, "target", b->target ? b->target : "");
        if (b->nclasses)
            bad |= mbh5_write_strings(g, "classes", (const char *const *)b->classes, b->nclasses, 0);
        if (b->ninputs) {
            bad |= mbh5_write_strings(g, "inputs", (const char *const *)b->inputs, b->ninputs, 0);
            bad |= mbh5_write_strings(g, "input_types", (const char *const *)b->input_types, b->ninputs, 0);
        }
        H5CLOSE(H5Gclose, g);
    }
    g = H5Gcreate2(fid, "pipeline", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bad |= g < 0;
    int needs_lua = 0;
    for (size_t i = 0; g >= 0 && i < b->nsteps; i++) {
        char name[128];
        snprintf(name, sizeof name, "%02u_%s", (unsigned)i, b->step_kinds[i]);
        bad |= write_state(g, name, &b->steps[i]);
        hid_t sg = H5Gopen2(g, name, H5P_DEFAULT);
        if (sg >= 0) {
            bad |= mbh5_write_string(sg, "kind", b->step_kinds[i]);
            H5Gclose(sg);
        }
        needs_lua |= strcmp(b->step_kinds[i], "lua") == 0;
    }
    if (g >= 0) {
        bad |= mbh5_write_int(g, "steps", (long long)b->nsteps);
        bad |= mbh5_write_int(g, "needs_lua", needs_lua);
    }
    H5CLOSE(H5Gclose, g);

    g = H5Gcreate2(fid, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bad |= g < 0;
    if (g >= 0) {
        bad |= mbh5_write_string(g, "plugin", b->plugin);
        bad |= mbh5_write_string(g, "plugin_version", b->plugin_version);
        bad |= mbh5_write_string(g, "model", b->model);
        bad |= mbh5_write_string(g, "portable_form", mb_form_name(b->form));
        if (b->threshold > 0 && b->threshold < 1) {
            char t[32]; /* the shortest text that reads back as it: 0.3, not 0.29999999999999999 */
            for (int prec = 1; prec <= 17; prec++)
                if (snprintf(t, sizeof t, "%.*g", prec, b->threshold), strtod(t, NULL) == b->threshold)
                    break;
            bad |= mbh5_write_string(g, "threshold", t);
        }
        hid_t pg = H5Gcreate2(g, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        bad |= pg < 0;
        for (size_t i = 0; pg >= 0 && i < b->nparams; i++)
            bad |= mbh5_write_string(pg, b->param_names[i], b->param_values[i]);
        if (pg >= 0)
            H5Gclose(pg);
        bad |= write_state(g, "state", &b->plugin_state);
        if (b->form != MB_FORM_NONE)
            bad |= write_state(g, "portable", &b->portable_state);
        H5CLOSE(H5Gclose, g);
    }
    if (b->monitoring.n)
        bad |= write_state(fid, "monitoring", &b->monitoring);
    g = H5Gcreate2(fid, "provenance", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bad |= g < 0;
    if (g >= 0) {
        bad |= mbh5_write_string(g, "source", b->source ? b->source : "");
        bad |= mbh5_write_string(g, "source_sha256", b->source_sha256 ? b->source_sha256 : "");
        bad |= mbh5_write_int(g, "rows_used", (long long)b->rows_used);
        bad |= mbh5_write_string(g, "created", b->created ? b->created : "");
        bad |= mbh5_write_string(g, "moonbench_version", b->moonbench_version ? b->moonbench_version : MB_VERSION);
        bad |= mbh5_write_string(g, "script", b->script ? b->script : "");
        H5CLOSE(H5Gclose, g);
    }
    if (bad) {
        char why[256];
        rc = mb_fail(err, MB_EH5, "cannot write the bundle %s: %s", path, mbh5_reason(why));
        H5Fclose(fid);
        mb_tmp_discard(&tmp);
        return rc;
    }
    if ((rc = mbh5_publish(&fid, &tmp, path, 1, err)) == MB_OK) /* every save is audited (audit.h) */
        mb_audit_bundle_event("save", path, b, NULL, NULL);
    return rc;
}

/* {====== load ======} */

static char *need_string(hid_t obj, const char *name, const char *file, const char *where, mb_error *err,
                         mb_status *rc)
{
    if (*rc != MB_OK)
        return NULL;
    char *v = mbh5_attr_string(obj, name);
    if (!v)
        *rc = mb_fail(err, MB_EFORMAT, "%s: bundle attribute %s@%s is missing", file, where, name);
    return v;
}

/* The bundle's signature against o's trust files and $MOONBENCH_TRUST
** (MB_OK and *fd = -1 when no trust list is set). When one is, the file is
** opened once (*fd) and verified through that descriptor; the loader then
** reads the same open file (/proc/self/fd/N), so replacing the name after
** the check changes nothing. */
static mb_status check_trust(const char *path, const mb_bundle_options *o, int *fd, mb_error *err)
{
    mb_trust t = {0};
    int env = 0;
    *fd = -1;
    mb_status rc = mb_trust_add_env(&t, &env, err);
    for (size_t i = 0; rc == MB_OK && o && i < o->ntrust_files; i++)
        rc = mb_trust_add_file(&t, o->trust_files[i], err);
    if (rc == MB_OK && o)
        mb_trust_add_keys(&t, o->trust);
    if (rc == MB_OK && (env || (o && (o->ntrust_files || o->trust)))) {
        if ((*fd = open(path, O_RDONLY | O_NOCTTY)) < 0)
            rc = mb_fail(err, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "%s: %s", path, strerror(errno));
        else if ((rc = mb_bundle_verify_fd(*fd, path, &t, NULL, err)) != MB_OK) {
            close(*fd);
            *fd = -1;
        }
    }
    mb_trust_free(&t);
    return rc;
}

static mb_status load_file(const char *src, const char *path, mb_bundle **out, mb_error *err);

mb_status mb_bundle_load(const char *path, mb_bundle **out, mb_error *err)
{
    return mb_bundle_load_opts(path, NULL, out, err);
}

mb_status mb_bundle_load_unverified(const char *path, mb_bundle **out, mb_error *err)
{
    *out = NULL;
    return load_file(path, path, out, err);
}

mb_status mb_bundle_load_opts(const char *path, const mb_bundle_options *o, mb_bundle **out, mb_error *err)
{
    *out = NULL;
    int fd;
    mb_status rc = check_trust(path, o, &fd, err);
    if (rc != MB_OK)
        return rc;
    char src[64];
    snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
    rc = load_file(fd >= 0 && access(src, R_OK) == 0 ? src : path, path, out, err);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* {====== load, step by step ======}
** Each step reads one group into b; a missing group or attribute is an
** error naming it. */

static mb_status read_root(hid_t fid, const char *path, mb_bundle *b, mb_error *err)
{
    mb_status rc = MB_OK;
    char *fmt = mbh5_attr_string(fid, "format"), *task = NULL;
    long long ver = 0;
    if (!fmt || strcmp(fmt, MB_BUNDLE_FORMAT) != 0)
        BAIL(mb_fail(err, MB_EFORMAT, "%s: not a moonbench model bundle (no format attribute '%s')", path,
                     MB_BUNDLE_FORMAT));
    if (mbh5_read_int(fid, "format_version", &ver) < 0)
        BAIL(mb_fail(err, MB_EFORMAT, "%s: bundle without a format_version", path));
    if (ver > MB_BUNDLE_VERSION)
        BAIL(mb_fail(err, MB_EFORMAT,
                     "%s: bundle format version %lld was written by a newer moonbench; this one reads up to "
                     "version %d",
                     path, ver, MB_BUNDLE_VERSION));
    if (ver < 1)
        BAIL(mb_fail(err, MB_EFORMAT, "%s: bad bundle format version %lld", path, ver));
    task = need_string(fid, "task", path, "/", err, &rc);
    b->created = need_string(fid, "created", path, "/", err, &rc);
    b->moonbench_version = need_string(fid, "moonbench_version", path, "/", err, &rc);
    if (rc != MB_OK)
        goto exit;
    b->task = !strcmp(task, "regression") ? MB_TASK_REGRESSION
              : !strcmp(task, "binary")   ? MB_TASK_BINARY
              : !strcmp(task, "multiclass") ? MB_TASK_MULTICLASS
                                            : 0;
    if (!b->task)
        BAIL(mb_fail(err, MB_EFORMAT, "%s: unknown task '%s'", path, task));
exit:
    mb_free(fmt);
    mb_free(task);
    return rc;
}

static mb_status read_schema(hid_t fid, const char *path, mb_bundle *b, mb_error *err)
{
    mb_status rc = MB_OK;
    hid_t g = H5Gopen2(fid, "schema", H5P_DEFAULT);
    if (g < 0)
        return mb_fail(err, MB_EFORMAT, "%s: bundle group /schema is missing", path);
    b->features = mbh5_attr_strings(g, "features", &b->nfeatures);
    if (!b->features || b->nfeatures == 0)
        BAIL(mb_fail(err, MB_EFORMAT, "%s: /schema@features is missing or empty", path));
    b->target = need_string(g, "target", path, "/schema", err, &rc);
    if (b->task != MB_TASK_REGRESSION) {
        b->classes = mbh5_attr_strings(g, "classes", &b->nclasses);
        if (b->nclasses < 2)
            BAIL(mb_fail(err, MB_EFORMAT, "%s: /schema@classes: a classifier needs 2 or more classes", path));
    }
    if (rc == MB_OK && H5Aexists(g, "inputs") > 0) {
        size_t nt = 0;
        b->inputs = mbh5_attr_strings(g, "inputs", &b->ninputs);
        b->input_types = mbh5_attr_strings(g, "input_types", &nt);
        if (!b->inputs || !b->input_types || nt != b->ninputs)
            rc = mb_fail(err, MB_EFORMAT, "%s: /schema inputs and input_types do not match", path);
    }
exit:
    H5CLOSE(H5Gclose, g);
    return rc;
}

static mb_status read_pipeline(hid_t fid, const char *path, mb_bundle *b, mb_error *err)
{
    mb_status rc = MB_OK;
    hid_t g = H5Gopen2(fid, "pipeline", H5P_DEFAULT);
    if (g < 0)
        return mb_fail(err, MB_EFORMAT, "%s: bundle group /pipeline is missing", path);
    long long steps = 0;
    mbh5_read_int(g, "steps", &steps);
    if (steps < 0 || steps > 1000)
        BAIL(mb_fail(err, MB_EFORMAT, "%s: /pipeline@steps = %lld", path, steps));
    b->nsteps = (size_t)steps;
    b->step_kinds = mb_calloc(b->nsteps + 1, sizeof *b->step_kinds);
    b->steps = mb_calloc(b->nsteps + 1, sizeof *b->steps);
    for (size_t i = 0; i < b->nsteps && rc == MB_OK; i++) {
        /* step i is the group named NN_kind */
        char prefix[32], name[128] = "";
        snprintf(prefix, sizeof prefix, "%02u_", (unsigned)i);
        H5G_info_t gi = {0};
        H5Gget_info(g, &gi);
        for (hsize_t k = 0; k < gi.nlinks; k++) {
            char cand[128];
            if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, k, cand, sizeof cand, H5P_DEFAULT) >= 0 &&
                strncmp(cand, prefix, strlen(prefix)) == 0)
                snprintf(name, sizeof name, "%s", cand);
        }
        if (!name[0])
            BAIL(mb_fail(err, MB_EFORMAT, "%s: /pipeline step %zu is missing", path, i));
        b->step_kinds[i] = mb_strdup(name + strlen(prefix));
        rc = read_state(path, g, name, &b->steps[i], err);
    }
exit:
    H5CLOSE(H5Gclose, g);
    return rc;
}

static mb_status read_params(hid_t g, const char *path, mb_bundle *b, mb_error *err)
{
    mb_status rc = MB_OK;
    hid_t pg = H5Gopen2(g, "params", H5P_DEFAULT);
    if (pg < 0)
        return mb_fail(err, MB_EFORMAT, "%s: /model/params is missing", path);
    H5O_info_t oi;
    H5Oget_info(pg, &oi);
    b->param_names = mb_calloc((size_t)oi.num_attrs + 1, sizeof *b->param_names);
    b->param_values = mb_calloc((size_t)oi.num_attrs + 1, sizeof *b->param_values);
    for (hsize_t i = 0; i < oi.num_attrs && rc == MB_OK; i++) {
        char name[256];
        if (H5Aget_name_by_idx(pg, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0)
            continue;
        char *v = need_string(pg, name, path, "/model/params", err, &rc);
        if (v) {
            b->param_names[b->nparams] = mb_strdup(name);
            b->param_values[b->nparams++] = v;
        }
    }
    H5Gclose(pg);
    return rc;
}

/* The portable form, checked now (a damaged form is a load error, not a
** scoring one) and against the schema (scorers size their outputs by it). */
static mb_status check_portable(const char *path, mb_bundle *b, mb_error *err)
{
    mb_portable p;
    mb_mlp_layer *layers = NULL;
    mb_status rc = mb_portable_from_state(b->form, &b->portable_state, &p, &layers, err);
    if (rc != MB_OK) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        return mb_fail(err, MB_EFORMAT, "%s: /model/portable: %s", path, why);
    }
    size_t k = mb_portable_noutputs(&p), nf = mb_portable_nfeatures(&p);
    size_t want = b->task == MB_TASK_MULTICLASS ? b->nclasses : 1;
    int mlp_binary = b->task == MB_TASK_BINARY && p.kind == MB_FORM_MLP && k == 2 && b->nclasses == 2;
    if (nf != b->nfeatures || (k != want && !mlp_binary) || (b->task == MB_TASK_BINARY && b->nclasses != 2))
        rc = mb_fail(err, MB_EFORMAT,
                     "%s: /model/portable does not fit /schema: %zu outputs and %zu features for a %s model with "
                     "%zu classes and %zu features",
                     path, k, nf, task_text(b->task), b->nclasses, b->nfeatures);
    mb_free(layers);
    return rc;
}

static mb_status read_model(hid_t fid, const char *path, mb_bundle *b, mb_error *err)
{
    mb_status rc = MB_OK;
    char *form = NULL;
    hid_t g = H5Gopen2(fid, "model", H5P_DEFAULT);
    if (g < 0)
        return mb_fail(err, MB_EFORMAT, "%s: bundle group /model is missing", path);
    b->plugin = need_string(g, "plugin", path, "/model", err, &rc);
    b->plugin_version = need_string(g, "plugin_version", path, "/model", err, &rc);
    b->model = need_string(g, "model", path, "/model", err, &rc);
    form = need_string(g, "portable_form", path, "/model", err, &rc);
    if (rc != MB_OK)
        goto exit;
    if (H5Aexists(g, "threshold") > 0) {
        /* optional (bundles before it have none): text, in (0, 1) */
        char *t = mbh5_attr_string(g, "threshold"), *end = NULL;
        double v = t ? strtod(t, &end) : 0;
        int good = t && end != t && *end == '\0' && v > 0 && v < 1;
        mb_free(t);
        if (!good)
            BAIL(mb_fail(err, MB_EFORMAT, "%s: /model attribute threshold must be a number in (0, 1)", path));
        b->threshold = v;
    }
    b->form = !strcmp(form, "linear") ? MB_FORM_LINEAR
              : !strcmp(form, "trees") ? MB_FORM_TREES
              : !strcmp(form, "mlp")   ? MB_FORM_MLP
                                       : MB_FORM_NONE;
    if ((rc = read_params(g, path, b, err)) != MB_OK ||
        (rc = read_state(path, g, "state", &b->plugin_state, err)) != MB_OK)
        goto exit;
    if (b->form != MB_FORM_NONE && (rc = read_state(path, g, "portable", &b->portable_state, err)) == MB_OK)
        rc = check_portable(path, b, err);
exit:
    mb_free(form);
    H5CLOSE(H5Gclose, g);
    return rc;
}

static mb_status read_provenance(hid_t fid, const char *path, mb_bundle *b, mb_error *err)
{
    /* optional: bundles without training statistics are fine */
    if (H5Lexists(fid, "monitoring", H5P_DEFAULT) > 0) {
        mb_status rc = read_state(path, fid, "monitoring", &b->monitoring, err);
        if (rc != MB_OK)
            return rc;
    }
    hid_t g = H5Gopen2(fid, "provenance", H5P_DEFAULT);
    if (g < 0)
        return mb_fail(err, MB_EFORMAT, "%s: bundle group /provenance is missing", path);
    b->source = mbh5_attr_string(g, "source");
    b->source_sha256 = mbh5_attr_string(g, "source_sha256");
    b->script = mbh5_attr_string(g, "script");
    long long rows = 0;
    mbh5_read_int(g, "rows_used", &rows);
    b->rows_used = rows > 0 ? (size_t)rows : 0;
    H5Gclose(g);
    return MB_OK;
}

/* Load from src (path, or the verified open file), naming path in messages. */
static mb_status load_file(const char *src, const char *path, mb_bundle **out, mb_error *err)
{
    hid_t fid;
    /* a verified file's seal was checked by the verifier, on these bytes */
    mb_status rc = src == path ? mbh5_check_seal(path, err) : MB_OK;
    if (rc == MB_EFORMAT && mb_h5_is_hdf5(path) == 1 && !strstr(err->msg, "damaged"))
        rc = mb_fail(err, MB_EFORMAT, "%s: not a moonbench model bundle (an HDF5 file without its seal)", path);
    /* The seal is a checksum anyone can recompute after editing a bundle:
    ** the fuzzer (tests/fuzz/fuzz_bundle.c) found crafted, resealed files
    ** that crash libhdf5, so bundles go through the probe too. */
    if (rc != MB_OK || (rc = mbh5_probe(src, err)) != MB_OK || (rc = mbh5_open(src, &fid, err)) != MB_OK)
        return rc;
    mb_bundle *b = mb_calloc(1, sizeof *b);
    b->file = mb_strdup(path);
    if ((rc = read_root(fid, path, b, err)) == MB_OK && (rc = read_schema(fid, path, b, err)) == MB_OK &&
        (rc = read_pipeline(fid, path, b, err)) == MB_OK && (rc = read_model(fid, path, b, err)) == MB_OK &&
        (rc = read_provenance(fid, path, b, err)) == MB_OK) {
        *out = b;
        b = NULL;
    }
    mb_bundle_free(&b);
    H5Fclose(fid);
    return rc;
}
