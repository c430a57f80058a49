/*
** options.c: one option loop for `moonbench serve` and `moonbench worker`
** (options.h): table-driven, so a value is checked the same way, with the
** same message, whichever command takes it.
*/
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* A whole number in [lo, hi]; with suffix, optionally times 1024 (k) or
** 1024^2 (m). 0, or -1. */
static int parse_count(const char *s, double lo, double hi, int suffix, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (suffix && (*end == 'k' || *end == 'K') && v <= ULLONG_MAX / 1024)
        v *= 1024, end++;
    else if (suffix && (*end == 'm' || *end == 'M') && v <= ULLONG_MAX / (1024 * 1024))
        v *= 1024 * 1024, end++;
    if (*end || (double)v < lo || (double)v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_real(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* Store value v of option o; 0, or -1 when v is not valid for it. */
static int set_value(const mbo_option *o, const char *v)
{
    switch (o->kind) {
    case MBO_TEXT:
        *(const char **)o->out = v;
        return 0;
    case MBO_COUNT:
    case MBO_BYTES:
        return parse_count(v, o->lo, o->hi, o->kind == MBO_BYTES, o->out);
    case MBO_REAL:
        return parse_real(v, o->lo, o->hi, o->out);
    case MBO_PROB: {
        double p;
        if (parse_real(v, 0, 1, &p) || p <= 0 || p >= 1)
            return -1;
        *(double *)o->out = p;
        return 0;
    }
    case MBO_FLAG:
        break;
    }
    return -1;
}

int mbo_parse(const char *cmd, int argc, char **argv, const mbo_option *opts, size_t n, mb_cli_trust *trust,
              const char **model)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int tr = mb_cli_trust_option(trust, cmd, argc, argv, &i);
        if (tr < 0)
            return 2;
        if (tr > 0)
            continue;
        if (a[0] != '-' || !a[1]) {
            if (*model)
                return mb_cli_usage(cmd, "one model bundle only ('%s' and '%s')", *model, a);
            *model = a;
            continue;
        }
        const mbo_option *o = NULL;
        for (size_t k = 0; k < n && !o; k++)
            if (strcmp(opts[k].flag, a) == 0)
                o = &opts[k];
        if (o && o->kind == MBO_FLAG) {
            *(int *)o->out = 1;
            continue;
        }
        if (!o)
            return mb_cli_usage(cmd, "unknown option '%s'", a);
        if (!v)
            return mb_cli_usage(cmd, "%s needs a value", a);
        i++;
        if (set_value(o, v))
            return mb_cli_usage(cmd, "%s: '%s' is not valid (see docs/deployment.md)", a, v);
    }
    return 0;
}
