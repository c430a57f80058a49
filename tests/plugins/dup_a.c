/*
** dup_a.c: a test plugin for tests/unit/test_plugin_host.c. dup_a.c and
** dup_b.c are two plugins with the same plugin name "dup" (and different
** model names): the second one loaded is refused, naming both files.
*/
#include "stub.h"

STUB_MODEL(a_type, "dup_a_model");
STUB_PLUGIN(MB_PLUGIN_ABI, "dup", &a_type)
