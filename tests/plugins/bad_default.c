/*
** bad_default.c: a test plugin for tests/unit/test_plugin_host.c: a model
** parameter whose default ("abc") is not valid for its own type; the host
** refuses the plugin at load, naming it, instead of failing every fit.
*/
#include "stub.h"

static const mb_param_spec bad_params[] = {
    {.name = "depth", .type = MB_PARAM_INT, .help = "a depth", .def = "abc", .min = 1, .max = 10},
};

STUB_MODEL_PARAMS(bad_default, "bad_default", bad_params);
STUB_PLUGIN(MB_PLUGIN_ABI, "bad_default", &bad_default)
