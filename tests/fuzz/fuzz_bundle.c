/*
** fuzz_bundle.c: libFuzzer target for the bundle loader, mb_bundle_load.
** A bundle is sealed (a SHA-256 of the bytes after its 512-byte user
** block, checked before HDF5 parses anything), so random bytes would
** stop at the seal. The input is the part after the user block: the
** target writes it behind a header with the seal recomputed, so HDF5 and
** moonbench's parsing of every bundle field are reached; then it loads
** the input once more as a whole file, unsealed, for the seal check
** itself. Corpus entries are bundles with their first 512 bytes cut.
*/
#include <stdio.h>
#include <string.h>

#include "sha256.h"

#include "bundle.h"
#include "fuzz.h"

#define SEAL_SIZE 512
#define SEAL_TAG "moonbench sealed file; sha256 of bytes 512..end: " /* as h5int.h */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *buf;
    static size_t cap;
    if (size + SEAL_SIZE > cap) {
        cap = size + SEAL_SIZE;
        buf = realloc(buf, cap);
    }
    char hex[MB_SHA256_HEX];
    if (mb_sha256_data(data, size, hex) != 0)
        return 0;
    memset(buf, 0, SEAL_SIZE);
    snprintf((char *)buf, SEAL_SIZE, "%s%s\n", SEAL_TAG, hex);
    memcpy(buf + SEAL_SIZE, data, size);
    mb_error err;
    mb_bundle *b = NULL;
    const char *path = fuzz_file(buf, size + SEAL_SIZE, "h5");
    if (path && mb_bundle_load(path, &b, &err) == MB_OK)
        mb_bundle_free(&b);
    path = fuzz_file(data, size, "h5");
    if (path && mb_bundle_load(path, &b, &err) == MB_OK)
        mb_bundle_free(&b);
    return 0;
}
