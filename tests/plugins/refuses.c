/*
** refuses.c: a test plugin for tests/unit/test_plugin_host.c. Its entry
** point returns NULL, as a plugin does when the host's ABI is too old for
** it; the host must refuse it and name the file.
*/
#include "moonbench_plugin.h"

const mb_plugin *moonbench_plugin(unsigned host_abi);

const mb_plugin *moonbench_plugin(unsigned host_abi)
{
    (void)host_abi;
    return NULL;
}
