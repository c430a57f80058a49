/*
** main.c: the moonbench executable: dispatch to a subcommand (src/cli).
*/
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "tui/mbtui.h"

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
    const char *usage;
} command;

static const command commands[] = {
#define MB_CMD_ROW_(name, fn, help, usage) {#name, fn, help, usage},
    MB_COMMANDS(MB_CMD_ROW_)
#undef MB_CMD_ROW_
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

int mb_cli_error(const mb_error *err)
{
    fprintf(stderr, "moonbench: %s\n", err->msg);
    return 1;
}

int mb_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "moonbench %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            fprintf(stderr, "usage: moonbench %s\n", commands[i].usage);
    return 2;
}

static void usage(FILE *fp)
{
    fprintf(fp, "moonbench %s: a terminal machine-learning workbench\n\nusage:\n", MB_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(fp, "  moonbench %s\n      %s\n", commands[i].usage, commands[i].help);
    fprintf(fp, "  moonbench --version | --help\n\nSee 'man moonbench' and docs/ for more.\n");
}

int main(int argc, char **argv)
{
    /* Numbers are read and written in the C locale whatever the user's. */
    setlocale(LC_CTYPE, "");
    if (argc < 2) /* no command: the workbench (src/tui) */
        return mb_tui_main(argc, argv);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("moonbench %s\n", MB_VERSION);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    if (mb_tui_is_path(cmd)) /* moonbench PATH: the workbench on it */
        return mb_tui_main(argc, argv);
    fprintf(stderr, "moonbench: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
