/*
** fails_fit.c: a test plugin for tests/unit/test_plugin_host.c (plugin
** name "fails"). Its models misbehave in the ways a host must survive:
**   fails_fit     fit returns MB_PLUGIN_EFAIL with a message
**   silent_fail   fit returns MB_PLUGIN_EFAIL and writes no message
**   long_msg      fit fills the whole err buffer and leaves no NUL
**   fails_create  create returns MB_PLUGIN_EINVAL with a message
**   cancels       fit loops until ctx->cancel is set, reporting progress
**   nan_predict   classification only; fit succeeds; predict and
**                 predict_proba write NaN
**   no_proba      classification model without predict_proba
*/
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "moonbench_plugin.h"

static int obj; /* every instance is this object: no state to keep */

static int ok_create(const mb_param_value *v, const mb_host *host, void **model, char *err)
{
    (void)v, (void)host, (void)err;
    *model = &obj;
    return MB_PLUGIN_OK;
}

static int ok_fit(void *model, const mb_dataset *train, const mb_dataset *valid, const mb_fit_context *ctx,
                  char *err)
{
    (void)model, (void)train, (void)valid, (void)ctx, (void)err;
    return MB_PLUGIN_OK;
}

static int zero_predict(void *model, const mb_matrix *X, float *out, char *err)
{
    (void)model, (void)err;
    for (size_t i = 0; i < X->rows; i++)
        out[i] = 0;
    return MB_PLUGIN_OK;
}

static int ok_save(void *model, const mb_state_writer *w, char *err)
{
    (void)model, (void)w, (void)err;
    return MB_PLUGIN_OK;
}

static int ok_load(void *model, const mb_state_reader *r, char *err)
{
    (void)model, (void)r, (void)err;
    return MB_PLUGIN_OK;
}

static void no_destroy(void *model) { (void)model; }

/* {====== the misbehaviours ======} */

static int failing_fit(void *model, const mb_dataset *train, const mb_dataset *valid,
                       const mb_fit_context *ctx, char *err)
{
    (void)model, (void)train, (void)valid, (void)ctx;
    strcpy(err, "the data is too boring to fit");
    return MB_PLUGIN_EFAIL;
}

static int silent_fit(void *model, const mb_dataset *train, const mb_dataset *valid,
                      const mb_fit_context *ctx, char *err)
{
    (void)model, (void)train, (void)valid, (void)ctx, (void)err;
    return MB_PLUGIN_EFAIL;
}

static int long_fit(void *model, const mb_dataset *train, const mb_dataset *valid,
                    const mb_fit_context *ctx, char *err)
{
    (void)model, (void)train, (void)valid, (void)ctx;
    memset(err, 'x', MB_PLUGIN_ERRLEN); /* no terminating NUL */
    return MB_PLUGIN_EFAIL;
}

static int failing_create(const mb_param_value *v, const mb_host *host, void **model, char *err)
{
    (void)v, (void)host;
    *model = NULL;
    strcpy(err, "cannot create this model today");
    return MB_PLUGIN_EINVAL;
}

/* Loops until cancelled (at most 1000 steps, so a broken host cannot hang
** the test), reporting progress on every step. */
static int cancel_fit(void *model, const mb_dataset *train, const mb_dataset *valid,
                      const mb_fit_context *ctx, char *err)
{
    (void)model, (void)train, (void)valid;
    for (int step = 0; step < 1000; step++) {
        if (ctx && ctx->cancel && *ctx->cancel) {
            strcpy(err, "stopped at the user's request");
            return MB_PLUGIN_ECANCELLED;
        }
        if (ctx && ctx->progress)
            ctx->progress(ctx->progress_ud, step / 1000.0, "looping", 1.0 / (step + 1), (double)NAN);
    }
    return MB_PLUGIN_OK;
}

static int nan_predict(void *model, const mb_matrix *X, float *out, char *err)
{
    (void)model, (void)err;
    for (size_t i = 0; i < X->rows; i++)
        out[i] = NAN;
    return MB_PLUGIN_OK;
}

static int nan_proba(void *model, const mb_matrix *X, float *out, char *err)
{
    (void)model, (void)err;
    for (size_t i = 0; i < 2 * X->rows; i++) /* the tests use binary data */
        out[i] = NAN;
    return MB_PLUGIN_OK;
}


/* {====== the table ======} */

#define MODEL(var, nm, tasks_, create_, fit_, predict_, proba_, params_, nparams_) \
    static const mb_model_type var = {.struct_size = sizeof(mb_model_type),   \
                                      .name = nm,                             \
                                      .summary = "a misbehaving test model",  \
                                      .tasks = tasks_,                        \
                                      .params = params_,                      \
                                      .nparams = nparams_,                    \
                                      .create = create_,                      \
                                      .fit = fit_,                            \
                                      .predict = predict_,                    \
                                      .predict_proba = proba_,                \
                                      .save = ok_save,                        \
                                      .load = ok_load,                        \
                                      .destroy = no_destroy}

#define ALL (MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS)
#define CLF (MB_TASK_BINARY | MB_TASK_MULTICLASS)

MODEL(fails_fit, "fails_fit", ALL, ok_create, failing_fit, zero_predict, NULL, NULL, 0);
MODEL(silent_fail, "silent_fail", ALL, ok_create, silent_fit, zero_predict, NULL, NULL, 0);
MODEL(long_msg, "long_msg", ALL, ok_create, long_fit, zero_predict, NULL, NULL, 0);
MODEL(fails_create, "fails_create", ALL, failing_create, ok_fit, zero_predict, NULL, NULL, 0);
MODEL(cancels, "cancels", ALL, ok_create, cancel_fit, zero_predict, NULL, NULL, 0);
MODEL(nan_out, "nan_predict", CLF, ok_create, ok_fit, nan_predict, nan_proba, NULL, 0);
MODEL(no_proba, "no_proba", CLF, ok_create, ok_fit, zero_predict, NULL, NULL, 0);

static const mb_model_type *const models[] = {&fails_fit, &silent_fail, &long_msg, &fails_create,
                                              &cancels,   &nan_out,     &no_proba};

static const mb_plugin plugin = {
    .abi = MB_PLUGIN_ABI,
    .name = "fails",
    .version = "0.0.1",
    .summary = "misbehaving models for the host's tests",
    .nmodels = sizeof models / sizeof models[0],
    .models = models,
};

const mb_plugin *moonbench_plugin(unsigned host_abi);

const mb_plugin *moonbench_plugin(unsigned host_abi)
{
    (void)host_abi;
    return &plugin;
}
