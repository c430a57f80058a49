/*
** fuzz_h5.c: libFuzzer target for the HDF5 data reader behind the probe:
** the input as a data file, walked (what `moonbench inspect` prints) and
** read as a frame, each call probing it first in a forked child. A file
** the probe passes is then parsed in this process, so a crash here is a
** file the probe let through, or a bug in moonbench's own reading. The
** probe's memory of files is cleared for each input, because each input
** rewrites the same path.
*/
#include "fuzz.h"
#include "h5io.h"

void mbh5_probe_forget(void);

static int visit(const mb_h5_node *node, void *ud)
{
    ++*(size_t *)ud;
    return node->nattrs > 100000; /* touch the node */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, "h5");
    if (!path)
        return 0;
    mb_error err;
    size_t n = 0;
    mbh5_probe_forget();
    /* A file the walk refuses, the probe refused (the reads would only
    ** fork again to hear the same). */
    if (mb_h5_walk(path, NULL, visit, &n, &err) != MB_OK)
        return 0;
    mb_frame *f = NULL;
    if (mb_h5_read(path, NULL, 0, 0, &f, &err) == MB_OK)
        mb_frame_free(&f);
    if (mb_h5_read(path, NULL, 1, 2, &f, &err) == MB_OK)
        mb_frame_free(&f);
    return 0;
}
