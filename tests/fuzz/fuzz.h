/*
** fuzz.h: what the libFuzzer targets of tests/fuzz share: the input
** written to a file of its own (the readers take paths), one per process.
*/
#ifndef MB_FUZZ_H
#define MB_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Write data to TMPDIR/mbfuzz-<pid>.<ext> (rewritten for each input);
** returns the path, or NULL when it cannot be written. */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *ext)
{
    static char path[512];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/mbfuzz-%ld.%s", dir && *dir ? dir : "/tmp", (long)getpid(), ext);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return NULL;
    int ok = fwrite(data, 1, size, fp) == size;
    ok &= fclose(fp) == 0;
    return ok ? path : NULL;
}

#endif
