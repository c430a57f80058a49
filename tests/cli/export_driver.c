/*
** export_driver.c: a user of an exported model (moonbench export --format
** c), for tests/cli/export.bats. Reads a CSV with a header from stdin (no
** quoted fields), takes each model input by name (numbers: strtod, empty
** = NaN; categorical: mb_model_level, empty = NaN), and prints per row
** "label,p_0,...,p_k" (class index, probabilities) or the regression
** value, with 9 significant digits. With --rows it prints the input
** vectors instead (the rows an ONNX runtime is fed).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define MAXCOLS 512

static int split(char *line, char **f)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line;; p++) {
        f[n++] = p;
        p = strchr(p, ',');
        if (!p || n == MAXCOLS)
            break;
        *p = '\0';
    }
    return n;
}

int main(int argc, char **argv)
{
    static char line[1 << 16];
    char *f[MAXCOLS];
    int rows = argc > 1 && strcmp(argv[1], "--rows") == 0, where[MB_MODEL_NINPUTS];
    if (!fgets(line, sizeof line, stdin))
        return 1;
    int nh = split(line, f);
    for (int j = 0; j < MB_MODEL_NINPUTS; j++) {
        where[j] = -1;
        for (int c = 0; c < nh; c++)
            if (strcmp(f[c], mb_model_inputs[j]) == 0)
                where[j] = c;
        if (where[j] < 0) {
            fprintf(stderr, "driver: no column '%s'\n", mb_model_inputs[j]);
            return 1;
        }
    }
    while (fgets(line, sizeof line, stdin)) {
        float x[MB_MODEL_NINPUTS], out[MB_MODEL_NOUTPUTS];
        int n = split(line, f);
        for (int j = 0; j < MB_MODEL_NINPUTS; j++) {
            const char *v = where[j] < n ? f[where[j]] : "";
            if (!*v)
                x[j] = NAN;
            else if (mb_model_levels[j])
                x[j] = (float)mb_model_level(j, v);
            else
                x[j] = strtof(v, NULL);
        }
        if (rows) {
            for (int j = 0; j < MB_MODEL_NINPUTS; j++)
                printf(j ? ",%.9g" : "%.9g", (double)x[j]);
            putchar('\n');
            continue;
        }
        int label = mb_model_predict(x, out);
        if (MB_MODEL_NCLASSES == 0) {
            printf("%.9g\n", (double)out[0]);
            continue;
        }
        printf("%d", label);
        for (int c = 0; c < MB_MODEL_NOUTPUTS; c++)
            printf(",%.9g", (double)out[c]);
        putchar('\n');
    }
    return 0;
}
