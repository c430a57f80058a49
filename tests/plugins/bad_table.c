/*
** bad_table.c: a test plugin for tests/unit/test_plugin_host.c: its second
** model lacks a required function (predict); the host must refuse the
** plugin, naming it, and stay usable.
*/
#include "stub.h"

STUB_MODEL(fine_type, "bad_table_fine");
STUB_MODEL_WITH(broken_type, "bad_table_broken", NULL); /* predict is required */
STUB_PLUGIN(MB_PLUGIN_ABI, "bad_table", &fine_type, &broken_type)
