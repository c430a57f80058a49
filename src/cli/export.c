/*
** export.c: `moonbench export MODEL --format c|onnx -o OUT`: a bundle as
** standalone C99 (OUT is a folder: model.h, model.c) or as an ONNX model
** (OUT is a file), from its portable form and fitted transforms; the
** writers are in src/deploy (export.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../deploy/export.h"
#include "audit.h"
#include "cli.h"

int mb_cmd_export(int argc, char **argv)
{
    const char *model = NULL, *format = NULL, *out = NULL;
    int layout = MBX_TREES_AUTO;
    double threshold = 0;
    mb_cli_trust trust = {{0}, 0};
    for (int i = 1; i < argc; i++) {
        int tr = mb_cli_trust_option(&trust, "export", argc, argv, &i);
        if (tr < 0)
            return 2;
        if (tr)
            continue;
        if (!strcmp(argv[i], "--tree-tables")) {
            layout = MBX_TREES_TABLES;
        } else if (!strcmp(argv[i], "--tree-code")) {
            layout = MBX_TREES_CODE;
        } else if (!strcmp(argv[i], "--threshold") && i + 1 < argc) {
            char *end;
            threshold = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(threshold > 0 && threshold < 1))
                return mb_cli_usage("export", "--threshold takes a number in (0, 1), not '%s'", argv[i]);
        }
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
    if (layout != MBX_TREES_AUTO && !c)
        return mb_cli_usage("export", "--tree-%s is an option of --format c",
                            layout == MBX_TREES_TABLES ? "tables" : "code");
    mb_error err;
    mb_bundle *b = NULL;
    mbx_export x;
    memset(&x, 0, sizeof x);
    int status = 1;
    mb_bundle_options bo = {trust.files, trust.n, NULL};
    if (mb_bundle_load_opts(model, &bo, &b, &err) != MB_OK)
        goto fail;
    if (mbx_open(&x, b, &err) != MB_OK) {
        char why[sizeof err.msg];
        snprintf(why, sizeof why, "%s", err.msg);
        mb_fail(&err, err.code, "%s: cannot export: %s", model, why);
        goto fail;
    }
    x.tree_layout = layout;
    if (threshold > 0) {
        if (b->task != MB_TASK_BINARY) {
            mb_fail(&err, MB_EARG, "%s: --threshold is for binary models; this one is %s", model,
                    b->task == MB_TASK_REGRESSION ? "a regression" : "multiclass");
            goto fail;
        }
        x.threshold = threshold;
    }
    if ((c ? mbx_write_c(&x, out, model, &err) : mbx_write_onnx(&x, out, model, &err)) != MB_OK)
        goto fail;
    fprintf(stderr, "%s (%s, %zu inputs, %zu transform%s) -> %s%s\n", model, mb_form_name(b->form), x.ninputs,
            x.nsteps, x.nsteps == 1 ? "" : "s", out, c ? "/model.h, model.c" : "");
    if (c) { /* the C export is a folder: the audit names its model.c */
        char src[4096];
        snprintf(src, sizeof src, "%s/model.c", out);
        mb_audit_bundle_event("export", model, b, src, "c");
    } else {
        mb_audit_bundle_event("export", model, b, out, "onnx");
    }
    status = 0;
    goto exit;
fail:
    status = mb_cli_error(&err);
exit:
    mbx_close(&x);
    mb_bundle_free(&b);
    return status;
}
