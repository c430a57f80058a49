/*
** export.c: `moonbench export MODEL --format c|onnx -o OUT`: a bundle as
** standalone C99 (OUT is a folder: model.h, model.c) or as an ONNX model
** (OUT is a file), from its portable form and fitted transforms; the
** writers are in src/deploy (export.h).
*/
#include <stdio.h>
#include <string.h>

#include "../deploy/export.h"
#include "cli.h"

int mb_cmd_export(int argc, char **argv)
{
    const char *model = NULL, *format = NULL, *out = NULL;
    int tables = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tree-tables"))
            tables = 1;
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--format") && i + 1 < argc)
            format = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return mb_cli_usage("export", "unknown option or missing value: '%s'", argv[i]);
        else if (!model)
            model = argv[i];
        else
            return mb_cli_usage("export", "too many arguments ('%s')", argv[i]);
    }
    if (!model || !format || !out)
        return mb_cli_usage("export", "name the model bundle, --format and -o");
    int c = !strcmp(format, "c"), onnx = !strcmp(format, "onnx");
    if (!c && !onnx)
        return mb_cli_usage("export", "--format is 'c' or 'onnx', not '%s'", format);
    if (tables && !c)
        return mb_cli_usage("export", "--tree-tables is an option of --format c");
    mb_error err;
    mb_bundle *b = NULL;
    mbx_export x;
    memset(&x, 0, sizeof x);
    int status = 1;
    if (mb_bundle_load(model, &b, &err) != MB_OK)
        goto fail;
    if (mbx_open(&x, b, &err) != MB_OK) {
        char why[sizeof err.msg];
        snprintf(why, sizeof why, "%s", err.msg);
        mb_fail(&err, err.code, "%s: cannot export: %s", model, why);
        goto fail;
    }
    x.tree_tables = tables;
    if ((c ? mbx_write_c(&x, out, model, &err) : mbx_write_onnx(&x, out, model, &err)) != MB_OK)
        goto fail;
    fprintf(stderr, "%s (%s, %zu inputs, %zu transform%s) -> %s%s\n", model, mb_form_name(b->form), x.ninputs,
            x.nsteps, x.nsteps == 1 ? "" : "s", out, c ? "/model.h, model.c" : "");
    status = 0;
    goto exit;
fail:
    status = mb_cli_error(&err);
exit:
    mbx_close(&x);
    mb_bundle_free(&b);
    return status;
}
