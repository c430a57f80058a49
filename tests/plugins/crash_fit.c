/*
** crash_fit.c: a test plugin for the workbench (tests/cli/tui.bats; plugin
** name "crashy"), whose fits end in the ways a worker process must survive:
**   crash     fit writes to an unmapped address (SIGSEGV)
**   aborts    fit calls abort() (SIGABRT)
**   fine      fit does nothing (the stub's), for comparison
**   sleepy    fit takes 30 s in 50 ms steps, reporting progress and a
**             falling loss, and stops when ctx->cancel is set: a long
**             training to cancel
** Predictions are zeros; models keep no state.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stub.h"

static int crash_fit(void *model, const mb_dataset *train, const mb_dataset *valid, const mb_fit_context *ctx,
                     char *err)
{
    (void)model, (void)train, (void)valid, (void)ctx, (void)err;
    /* an unmapped page (not NULL: UBSan would stop a null store before the
    ** signal; this reaches the kernel, or ASan's SEGV report) */
    volatile uintptr_t address = 16;
    *(volatile int *)address = 42;
    return MB_PLUGIN_OK;
}

static int abort_fit(void *model, const mb_dataset *train, const mb_dataset *valid, const mb_fit_context *ctx,
                     char *err)
{
    (void)model, (void)train, (void)valid, (void)ctx, (void)err;
    abort();
}

static int sleepy_fit(void *model, const mb_dataset *train, const mb_dataset *valid, const mb_fit_context *ctx,
                      char *err)
{
    (void)model, (void)train, (void)valid;
    for (int step = 0; step < 600; step++) {
        if (ctx && ctx->cancel && *ctx->cancel) {
            strcpy(err, "stopped at the user's request");
            return MB_PLUGIN_ECANCELLED;
        }
        if (ctx && ctx->progress)
            ctx->progress(ctx->progress_ud, step / 600.0, "sleeping", 1.0 / (step + 1), 1.0 / (step + 1));
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return MB_PLUGIN_OK;
}

#define CRASHY(var, nm, fit_)                                                              \
    static const mb_model_type var = {.struct_size = sizeof(mb_model_type),               \
                                      .name = nm,                                         \
                                      .summary = "a test model whose fit misbehaves",     \
                                      .tasks = MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS, \
                                      .create = stub_create,                              \
                                      .fit = fit_,                                        \
                                      .predict = stub_predict,                            \
                                      .save = stub_save,                                  \
                                      .load = stub_load,                                  \
                                      .destroy = stub_destroy}

CRASHY(crash, "crash", crash_fit);
CRASHY(aborts, "aborts", abort_fit);
CRASHY(sleepy, "sleepy", sleepy_fit);
CRASHY(fine, "fine", stub_fit);

STUB_PLUGIN(MB_PLUGIN_ABI, "crashy", &crash, &aborts, &sleepy, &fine)
