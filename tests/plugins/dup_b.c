/*
** dup_b.c: a test plugin for tests/unit/test_plugin_host.c. See dup_a.c:
** the same plugin name "dup", another model name.
*/
#include <stddef.h>

#include "moonbench_plugin.h"

/* A do-nothing model: every instance is the same static object, fit
** remembers nothing, predict writes zeros. Enough for the host to load and
** call it. */
static int stub_obj;

static int stub_create(const mb_param_value *v, const mb_host *host, void **model, char *err)
{
    (void)v, (void)host, (void)err;
    *model = &stub_obj;
    return MB_PLUGIN_OK;
}

static int stub_fit(void *model, const mb_dataset *train, const mb_dataset *valid,
                    const mb_fit_context *ctx, char *err)
{
    (void)model, (void)train, (void)valid, (void)ctx, (void)err;
    return MB_PLUGIN_OK;
}

static int stub_predict(void *model, const mb_matrix *X, float *out, char *err)
{
    (void)model, (void)err;
    for (size_t i = 0; i < X->rows; i++)
        out[i] = 0;
    return MB_PLUGIN_OK;
}

static int stub_save(void *model, const mb_state_writer *w, char *err)
{
    (void)model, (void)w, (void)err;
    return MB_PLUGIN_OK;
}

static int stub_load(void *model, const mb_state_reader *r, char *err)
{
    (void)model, (void)r, (void)err;
    return MB_PLUGIN_OK;
}

static void stub_destroy(void *model) { (void)model; }

static const mb_model_type b_type = {
    .struct_size = sizeof(mb_model_type),
    .name = "dup_b_model",
    .summary = "a test model",
    .tasks = MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS,
    .create = stub_create,
    .fit = stub_fit,
    .predict = stub_predict,
    .save = stub_save,
    .load = stub_load,
    .destroy = stub_destroy,
};

static const mb_model_type *const models[] = {&b_type};

static const mb_plugin plugin = {
    .abi = MB_PLUGIN_ABI,
    .name = "dup",
    .version = "0.0.1",
    .summary = "a test plugin",
    .nmodels = sizeof models / sizeof models[0],
    .models = models,
};

const mb_plugin *moonbench_plugin(unsigned host_abi);

const mb_plugin *moonbench_plugin(unsigned host_abi)
{
    (void)host_abi;
    return &plugin;
}
