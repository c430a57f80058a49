/*
** future_abi.c: a test plugin for tests/unit/test_plugin_host.c. Otherwise
** complete, it says it was built for the ABI after the host's
** (MB_PLUGIN_ABI + 1); the host must refuse it naming both versions.
*/
#include "stub.h"

STUB_MODEL(future_type, "future_model");
STUB_PLUGIN(MB_PLUGIN_ABI + 1, "future", &future_type)
