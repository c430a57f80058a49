/*
** dup_b.c: a test plugin for tests/unit/test_plugin_host.c. See dup_a.c:
** the same plugin name "dup", another model name.
*/
#include "stub.h"

STUB_MODEL(b_type, "dup_b_model");
STUB_PLUGIN(MB_PLUGIN_ABI, "dup", &b_type)
