/*
** stub.h: the do-nothing model the host's test plugins share (included by
** the .c files of tests/plugins; each builds its own shared object). Every instance
** is the same static object, fit remembers nothing, predict writes zeros:
** enough for the host to load and call it.
**   STUB_MODEL(var, "name")           a complete model type
**   STUB_PLUGIN(abi, "name", models)  the plugin and its entry point
*/
#ifndef MB_TEST_STUB_H
#define MB_TEST_STUB_H

#include <stddef.h>

#include "moonbench_plugin.h"

static int stub_obj;

static int stub_create(const mb_param_value *v, const mb_host *host, void **model, char *err)
{
    (void)v, (void)host, (void)err;
    *model = &stub_obj;
    return MB_PLUGIN_OK;
}

static int stub_fit(void *model, const mb_dataset *train, const mb_dataset *valid, const mb_fit_context *ctx,
                    char *err)
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

#define STUB_MODEL_WITH(var, mname, predict_fn)                                  \
    static const mb_model_type var = {                                           \
        .struct_size = sizeof(mb_model_type),                                    \
        .name = mname,                                                           \
        .summary = "a test model",                                               \
        .tasks = MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS,       \
        .create = stub_create,                                                   \
        .fit = stub_fit,                                                         \
        .predict = predict_fn,                                                   \
        .save = stub_save,                                                       \
        .load = stub_load,                                                       \
        .destroy = stub_destroy,                                                 \
    }
#define STUB_MODEL(var, mname) STUB_MODEL_WITH(var, mname, stub_predict)
/* A stub model with a parameter table. */
#define STUB_MODEL_PARAMS(var, mname, params_)                                   \
    static const mb_model_type var = {                                           \
        .struct_size = sizeof(mb_model_type),                                    \
        .name = mname,                                                           \
        .summary = "a test model",                                               \
        .tasks = MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS,       \
        .params = params_,                                                       \
        .nparams = sizeof params_ / sizeof params_[0],                           \
        .create = stub_create,                                                   \
        .fit = stub_fit,                                                         \
        .predict = stub_predict,                                                 \
        .save = stub_save,                                                       \
        .load = stub_load,                                                       \
        .destroy = stub_destroy,                                                 \
    }

#define STUB_PLUGIN(abi_, pname, ...)                                            \
    static const mb_model_type *const models[] = {__VA_ARGS__};                  \
    static const mb_plugin plugin = {                                            \
        .abi = (abi_),                                                           \
        .name = pname,                                                           \
        .version = "0.0.1",                                                      \
        .summary = "a test plugin",                                              \
        .nmodels = sizeof models / sizeof models[0],                             \
        .models = models,                                                        \
    };                                                                           \
    const mb_plugin *moonbench_plugin(unsigned host_abi);                        \
    const mb_plugin *moonbench_plugin(unsigned host_abi)                         \
    {                                                                            \
        (void)host_abi;                                                          \
        return &plugin;                                                          \
    }

#endif
