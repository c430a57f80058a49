/*
** main.c: the moonbench executable: dispatch to a subcommand (src/cli),
** and the help of every command, generated from the tables of cli.h.
*/
#define _DEFAULT_SOURCE /* realpath */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "blas.h"
#include "cli/cli.h"
#include "tui/mbtui.h"

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
    const char *usage;
} command;

typedef struct option_row {
    const char *cmd, *flag, *arg, *help;
} option_row;

typedef struct example_row {
    const char *cmd, *text;
} example_row;

static const command commands[] = {
#define MB_CMD_ROW_(name, fn, help, usage) {#name, fn, help, usage},
    MB_COMMANDS(MB_CMD_ROW_)
#undef MB_CMD_ROW_
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const option_row options[] = {
#define MB_OPT_ROW_(cmd, flag, arg, help) {#cmd, flag, arg, help},
    MB_OPTIONS(MB_OPT_ROW_)
#undef MB_OPT_ROW_
};

static const example_row examples[] = {
#define MB_EX_ROW_(cmd, text) {#cmd, text},
    MB_EXAMPLES(MB_EX_ROW_)
#undef MB_EX_ROW_
};

int mb_cli_error(const mb_error *err)
{
    fprintf(stderr, "moonbench: %s\n", err->msg);
    return 1;
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void put_wrapped(FILE *fp, const char *s, int col, int indent);

int mb_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "moonbench %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    const command *c = find_command(cmd);
    if (c) {
        fprintf(stderr, "usage: moonbench ");
        put_wrapped(stderr, c->usage, 17, 17);
        fprintf(stderr, "(moonbench help %s for every option)\n", cmd);
    }
    return 2;
}

/* {====== help ======} */

/* Text wrapped to 80 columns, continuation lines indented by `indent`,
** the first line starting at column `col`. */
static void put_wrapped(FILE *fp, const char *s, int col, int indent)
{
    while (*s) {
        int room = 80 - col;
        size_t n = strlen(s);
        if ((int)n <= room) {
            fputs(s, fp);
            break;
        }
        int cut = room;
        while (cut > 0 && s[cut] != ' ')
            cut--;
        if (cut == 0) { /* one long word: as it is */
            cut = room;
            while (s[cut] && s[cut] != ' ')
                cut++;
        }
        fprintf(fp, "%.*s\n%*s", cut, s, indent, "");
        s += cut;
        while (*s == ' ')
            s++;
        col = indent;
    }
    fputc('\n', fp);
}

int mb_cli_help(FILE *fp, const char *cmd)
{
    const command *c = find_command(cmd);
    if (!c)
        return 2;
    fprintf(fp, "moonbench %s: %s\n\nusage: moonbench ", c->name, c->help);
    put_wrapped(fp, c->usage, 17, 17);
    int any = 0;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        const option_row *o = &options[i];
        if (strcmp(o->cmd, cmd) != 0)
            continue;
        if (!any++)
            fprintf(fp, "\noptions:\n");
        char head[64];
        int n = snprintf(head, sizeof head, "  %s%s%s", o->flag, o->arg[0] ? " " : "", o->arg);
        if (n > 24) {
            fprintf(fp, "%s\n%26s", head, "");
        } else {
            fprintf(fp, "%-26s", head);
        }
        put_wrapped(fp, o->help, 26, 26);
    }
    any = 0;
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        if (strcmp(examples[i].cmd, cmd) != 0)
            continue;
        fprintf(fp, any++ ? "  %s\n" : "\nexample:\n  %s\n", examples[i].text);
    }
    return 0;
}

int mb_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

/* Where the manual page is: installed (man moonbench) or in the source
** tree beside the build folder (man -l). */
static void man_hint(FILE *fp)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *dir = dirname(exe);
        snprintf(path, sizeof path, "%s/../share/man/man1/moonbench.1", dir);
        if (access(path, R_OK) == 0) {
            fprintf(fp, "The manual: man moonbench (%s).\n", path);
            return;
        }
        for (int up = 1; up <= 2; up++) {
            snprintf(path, sizeof path, "%s/%s/docs/moonbench.1", dir, up == 1 ? ".." : "../..");
            char real[PATH_MAX];
            if (access(path, R_OK) == 0 && realpath(path, real)) {
                fprintf(fp, "The manual (not installed yet: make install puts it where man finds it):\n"
                            "  man -l %s\n", real);
                return;
            }
        }
    }
    fprintf(fp, "The manual: man moonbench after make install (docs/moonbench.1 in the source tree).\n");
}

static void usage(FILE *fp)
{
    fprintf(fp, "moonbench %s: a terminal machine-learning workbench\n\n"
                "moonbench [PATH]   the workbench (a full-screen terminal UI) on a folder or data file\n\n"
                "commands:\n", MB_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(fp, "\nmoonbench help COMMAND (or moonbench COMMAND --help): its usage, every option and "
                "an example.\nmoonbench --version prints the version.\n");
    man_hint(fp);
}

/* {====== strict numbers ======} */

int mb_cli_int(const char *cmd, const char *opt, const char *text, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!text[0] || *end || errno == ERANGE || v < lo || v > hi || text[0] == ' ')
        return mb_cli_usage(cmd, "%s takes a whole number from %lld to %lld, not '%s'", opt, lo, hi, text);
    *out = v;
    return 0;
}

int mb_cli_seed(const char *cmd, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!(text[0] >= '0' && text[0] <= '9'))
        return mb_cli_usage(cmd, "--seed takes a whole number >= 0, not '%s'", text);
    unsigned long long v = strtoull(text, &end, 10);
    if (*end || errno == ERANGE)
        return mb_cli_usage(cmd, "--seed takes a whole number from 0 to %llu, not '%s'", (unsigned long long)UINT64_MAX,
                            text);
    *out = (uint64_t)v;
    return 0;
}

int mb_cli_threads(const char *cmd, const char *text, int *out)
{
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    if (nc < 1)
        nc = 1;
    long long v = nc;
    if (text && mb_cli_int(cmd, "--threads", text, 1, 1000000, &v))
        return 2;
    *out = (int)(v > nc ? nc : v); /* more threads than cores only costs */
    return 0;
}

/* A failed audit write (src/core/audit.h): said, never fatal. */
static void audit_warn(const char *msg) { fprintf(stderr, "moonbench: %s\n", msg); }

int main(int argc, char **argv)
{
    /* before any plugin loads OpenBLAS (src/core/blas.h) */
    const mb_blas_info *blas = mb_blas_select();
    /* Numbers are read and written in the C locale whatever the user's. */
    setlocale(LC_CTYPE, "");
    /* the command line every audit event of this process records, once */
    mb_audit_set_warn(audit_warn);
    mb_audit_set_command(argc, (const char *const *)argv);
    const char *bench[2] = {"workbench", argc > 1 ? argv[1] : "."};
    if (argc < 2) { /* no command: the workbench (src/tui) */
        mb_audit_set_command(2, bench);
        return mb_tui_main(argc, argv);
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (strcmp(cmd, "help") == 0 && argc > 2) {
            if (mb_cli_help(stdout, argv[2]) == 0)
                return 0;
            fprintf(stderr, "moonbench help: no command '%s'\n\n", argv[2]);
            usage(stderr);
            return 2;
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        char line[256];
        mb_blas_describe(blas, line, sizeof line);
        printf("moonbench %s\n%s\n", MB_VERSION, line);
        return 0;
    }
    const command *c = find_command(cmd);
    if (c) {
        /* CMD ... --help; for run only before the script (later ones are the script's) */
        int n = argc;
        if (strcmp(cmd, "run") == 0)
            for (n = 2; n < argc && argv[n][0] == '-'; n++)
                ;
        if (mb_cli_wants_help(n - 1, argv + 1))
            return mb_cli_help(stdout, cmd);
        return c->fn(argc - 1, argv + 1);
    }
    if (mb_tui_is_path(cmd)) { /* moonbench PATH: the workbench on it */
        mb_audit_set_command(2, bench);
        return mb_tui_main(argc, argv);
    }
    fprintf(stderr, "moonbench: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
