/*
** marker.c: a test plugin for tests/cli/trust.bats. Its ELF constructor
** runs when the file is dlopen'ed, before the host calls anything, and
** appends a line to the file named by $MB_TEST_MARKER: proof of whether
** moonbench loaded the plugin at all (scoring a portable bundle must not).
*/
#include <stdio.h>
#include <stdlib.h>

#include "stub.h"

__attribute__((constructor)) static void marker_loaded(void)
{
    const char *path = getenv("MB_TEST_MARKER");
    FILE *fp = path && *path ? fopen(path, "a") : NULL;
    if (fp) {
        fputs("marker plugin loaded\n", fp);
        fclose(fp);
    }
}

STUB_MODEL(marker_type, "marker_model");
STUB_PLUGIN(MB_PLUGIN_ABI, "marker", &marker_type)
