/*
** options.h: the command line of the long-running deployment commands
** (`moonbench serve`, `moonbench worker`) as a table: each option is a flag
** and where its checked value goes, so both commands share one loop, one
** set of messages and the --trust / --allow-lua handling.
*/
#ifndef MB_DEPLOY_OPTIONS_H
#define MB_DEPLOY_OPTIONS_H

#include "../cli/cli.h"

typedef enum mbo_kind {
    MBO_FLAG = 1, /* no value: *(int *)out = 1 */
    MBO_TEXT,     /* *(const char **)out = the argument (borrowed from argv) */
    MBO_COUNT,    /* *(unsigned long long *)out, a whole number in [lo, hi] */
    MBO_BYTES,    /* a count that may end in k or m (x 1024, x 1024^2) */
    MBO_REAL,     /* *(double *)out, a number in [lo, hi] */
    MBO_PROB      /* *(double *)out, a number strictly between 0 and 1 */
} mbo_kind;

typedef struct mbo_option {
    const char *flag;
    mbo_kind kind;
    void *out;
    double lo, hi;  /* MBO_COUNT, MBO_BYTES, MBO_REAL */
} mbo_option;

/* Parse argv[1..argc) for command cmd: --trust files into *trust, the
** options of opts[0..n), and one positional argument (the model bundle)
** into *model. 0, or the exit status of a usage error (2) after printing
** it: an unknown option, a missing or invalid value, two bundles. */
int mbo_parse(const char *cmd, int argc, char **argv, const mbo_option *opts, size_t n, mb_cli_trust *trust,
              const char **model);

#endif
