/*
** import.c: `moonbench import IN.csv -o OUT.h5 [--target COL]`: stream a
** CSV file into moonbench's HDF5 matrix layout, one chunk of rows at a
** time, so memory stays bounded whatever the file's size.
*/
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "h5io.h"
#include "io.h"

#define CHUNK_ROWS 65536

int mb_cmd_import(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *target = NULL;
    mb_csv_options opt = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(a, "--target") == 0 && i + 1 < argc)
            target = argv[++i];
        else if (strcmp(a, "--delimiter") == 0 && i + 1 < argc) {
            const char *d = argv[++i];
            opt.delim = strcmp(d, "tab") == 0 || strcmp(d, "\\t") == 0 ? '\t' : d[0];
            if (strlen(d) != 1 && opt.delim != '\t')
                return mb_cli_usage("import", "--delimiter takes one character or 'tab', not '%s'", d);
        } else if (a[0] == '-' && a[1])
            return mb_cli_usage("import", "unknown option '%s'", a);
        else if (!in)
            in = a;
        else
            return mb_cli_usage("import", "one input file only ('%s' and '%s')", in, a);
    }
    if (!in || !out)
        return mb_cli_usage("import", "%s", !in ? "name the CSV file to import" : "name the output with -o OUT.h5");
    mb_error err;
    mb_csv *csv = NULL;
    mb_h5w *w = NULL;
    mb_frame *chunk = NULL;
    int status = 1;
    if (mb_output_check_inputs(out, &in, 1, &err) != MB_OK || mb_csv_open(in, &opt, &csv, &err) != MB_OK)
        goto fail;
    mb_frame *schema = mb_csv_schema(csv);
    if (schema->nrows == 0) {
        mb_fail(&err, MB_EEMPTY, "%s: a header but no data rows; nothing to import", in);
        goto fail;
    }
    if (target && mb_frame_set_target(schema, target, &err) != MB_OK)
        goto fail;
    if (mb_h5w_begin(out, schema, &w, &err) != MB_OK)
        goto fail;
    chunk = mb_csv_chunk_new(csv, CHUNK_ROWS);
    chunk->target = schema->target;
    for (;;) {
        size_t n;
        if (mb_csv_read(csv, chunk, &n, &err) != MB_OK)
            goto fail;
        if (n == 0)
            break;
        size_t full = chunk->nrows;
        chunk->nrows = n;
        mb_status rc = mb_h5w_append(w, chunk, &err);
        chunk->nrows = full;
        if (rc != MB_OK)
            goto fail;
    }
    if (mb_h5w_commit(&w, schema, &err) != MB_OK)
        goto fail;
    printf("%s: %zu rows x %zu columns -> %s\n", in, schema->nrows, schema->ncols, out);
    status = 0;
    goto exit;
fail:
    status = mb_cli_error(&err);
exit:
    mb_h5w_abort(&w);
    mb_frame_free(&chunk);
    mb_csv_close(&csv);
    return status;
}
