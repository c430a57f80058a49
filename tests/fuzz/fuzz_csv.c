/*
** fuzz_csv.c: libFuzzer target for the CSV reader: the input as a CSV
** file, read whole (both passes), then streamed in chunks of 7 rows, so
** that records cut at chunk edges are exercised too. Any error is fine;
** a crash, a leak or a sanitizer report is a finding.
*/
#include "csv.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, "csv");
    if (!path)
        return 0;
    mb_error err;
    mb_frame *f = NULL;
    if (mb_csv_load(path, NULL, &f, &err) == MB_OK)
        mb_frame_free(&f);
    mb_csv *c = NULL;
    mb_csv_options opt = {.delim = size ? (char)data[0] : 0};
    if (opt.delim == '"' || opt.delim == '\n' || opt.delim == '\r')
        opt.delim = 0;
    if (mb_csv_open(path, &opt, &c, &err) == MB_OK) {
        mb_frame *chunk = mb_csv_chunk_new(c, 7);
        size_t n = 1;
        while (chunk && n > 0 && mb_csv_read(c, chunk, &n, &err) == MB_OK)
            ;
        mb_frame_free(&chunk);
        mb_csv_close(&c);
    }
    return 0;
}
