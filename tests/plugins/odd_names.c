/*
** odd_names.c: a test plugin for tests/unit/test_plugin_host.c: two of its
** models share a name ("twin") and one has a '/' in its name, which
** "plugin/model" could never reach; the host must refuse the plugin.
*/
#include "stub.h"

STUB_MODEL(twin1, "twin");
STUB_MODEL(twin2, "twin");
STUB_MODEL(slash, "has/slash");
STUB_PLUGIN(MB_PLUGIN_ABI, "odd_names", &twin1, &twin2, &slash)
