/*
** fixture.h: what the unit tests that drive a real plugin share: loading
** one of the build's plugins (MOONBENCH_BUILD, default build) into a
** registry. Included after cmocka.h and plugin.h.
*/
#ifndef MB_TEST_FIXTURE_H
#define MB_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "plugin.h"

/* Load $MOONBENCH_BUILD/plugins/NAME.so into reg: 0, or -1 with the
** reason on stderr (a cmocka group setup's contract). */
static inline int mbt_load_plugin(mb_registry *reg, const char *name)
{
    char path[1024];
    const char *b = getenv("MOONBENCH_BUILD");
    snprintf(path, sizeof path, "%s/plugins/%s.so", b ? b : "build", name);
    mb_error err;
    if (mb_registry_load(reg, path, &err) != MB_OK) {
        fprintf(stderr, "# %s\n", err.msg);
        return -1;
    }
    return 0;
}

#endif
