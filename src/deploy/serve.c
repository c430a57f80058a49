/*
** serve.c: `moonbench serve MODEL.h5`: the options, the bundle and its
** scorer, then the HTTP server (serve_http.c) until SIGTERM or SIGINT.
** What it answers is in serve_api.c and docs/deployment.md.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "../cli/train.h"
#include "options.h"
#include "serve.h"

/* A token goes in a header: printable ASCII without spaces, 1..4096 bytes. */
static int token_ok(const char *t)
{
    size_t n = strlen(t);
    for (size_t i = 0; i < n; i++)
        if (t[i] < 0x21 || t[i] > 0x7e)
            return 0;
    return n > 0 && n <= 4096;
}

/* The first line of FILE, without its newline; NULL with a message. */
static char *read_token_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "moonbench serve: --token-file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char buf[4100];
    char *line = fgets(buf, sizeof buf, fp);
    fclose(fp);
    if (!line) {
        fprintf(stderr, "moonbench serve: --token-file %s: empty\n", path);
        return NULL;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    return mb_strdup(buf);
}

/* The name in /v2/models/NAME: letters, digits, '.', '_' and '-'. */
static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

static int name_ok(const char *s)
{
    if (!*s || strlen(s) > 128)
        return 0;
    for (; *s; s++)
        if (!name_char(*s))
            return 0;
    return 1;
}

/* The bundle's file name without folder and .h5: the default model name. */
static char *default_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".h5") == 0)
        n -= 3;
    char *s = mb_strndup(base, n);
    for (char *p = s; *p; p++)
        if (!name_char(*p))
            *p = '_';
    return s;
}

typedef struct serve_args {
    const char *model, *name, *token_file, *log_path;
    char *token;
    mbsv_options opt;
    unsigned long long window;
    double threshold;             /* drift PSI threshold */
    double decision;              /* binary decision threshold; 0: the bundle's */
    int allow_lua;
    mb_cli_trust trust;
} serve_args;

static int parse_args(int argc, char **argv, serve_args *a)
{
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    const char *token = NULL;
    unsigned long long port = 8080, threads = nc > 0 ? (unsigned long long)(nc < 64 ? nc : 64) : 1,
                       max_body = 1024 * 1024;
    a->opt.host = "127.0.0.1";
    a->opt.drain_timeout = 10;
    a->opt.conn_timeout = 30;
    a->window = 1000;
    a->threshold = 0.2;
    const mbo_option opts[] = {
        {"--allow-lua", MBO_FLAG, &a->allow_lua, 0, 0},
        {"--host", MBO_TEXT, &a->opt.host, 0, 0},
        {"--port", MBO_COUNT, &port, 0, 65535},
        {"--threads", MBO_COUNT, &threads, 1, 256},
        {"--token", MBO_TEXT, &token, 0, 0},
        {"--token-file", MBO_TEXT, &a->token_file, 0, 0},
        {"--max-body", MBO_BYTES, &max_body, 1, 1 << 30},
        {"--access-log", MBO_TEXT, &a->log_path, 0, 0},
        {"--name", MBO_TEXT, &a->name, 0, 0},
        {"--drift-window", MBO_COUNT, &a->window, 1, 1000000},
        {"--drift-threshold", MBO_REAL, &a->threshold, 0, 1e6},
        {"--threshold", MBO_PROB, &a->decision, 0, 0},
        {"--drain-timeout", MBO_REAL, &a->opt.drain_timeout, 0, 3600},
    };
    int rc = mbo_parse("serve", argc, argv, opts, sizeof opts / sizeof *opts, &a->trust, &a->model);
    if (rc)
        return rc;
    a->opt.port = (unsigned)port;
    a->opt.threads = (unsigned)threads;
    a->opt.max_body = (size_t)max_body;
    if (a->name && !name_ok(a->name))
        return mb_cli_usage("serve", "--name: '%s' is not valid (letters, digits, '.', '_' and '-', at most 128)",
                            a->name);
    a->token = token ? mb_strdup(token) : NULL;
    if (!a->model)
        return mb_cli_usage("serve", "name the model bundle");
    if (a->token && a->token_file)
        return mb_cli_usage("serve", "--token or --token-file, not both");
    if (a->token_file && !(a->token = read_token_file(a->token_file)))
        return 1;
    if (a->token && !token_ok(a->token))
        return mb_cli_usage("serve", "the token must be 1 to 4096 printable ASCII characters without spaces");
    a->opt.token = a->token;
    return 0;
}

int mb_cmd_serve(int argc, char **argv)
{
    serve_args a;
    memset(&a, 0, sizeof a);
    int status = parse_args(argc, argv, &a);
    if (status) {
        mb_free(a.token);
        return status;
    }
    mb_error err;
    mb_registry reg;
    mb_bundle *b = NULL;
    mb_runtime *rt = NULL;
    mbsv_server s;
    memset(&s, 0, sizeof s);
    atomic_init(&s.draining, 0);
    char *name = a.name ? mb_strdup(a.name) : default_name(a.model);
    status = 1;
    mb_cli_registry(&reg);
    if (a.log_path) {
        a.opt.access_log = strcmp(a.log_path, "-") == 0 ? stderr : fopen(a.log_path, "a");
        if (!a.opt.access_log) {
            fprintf(stderr, "moonbench serve: --access-log %s: %s\n", a.log_path, strerror(errno));
            goto exit;
        }
    }
    mb_bundle_options bo = {a.trust.files, a.trust.n, NULL};
    mb_runtime_opts ro = {&reg, a.allow_lua, a.decision};
    if (mb_bundle_load_opts(a.model, &bo, &b, &err) != MB_OK ||
        mb_runtime_open_bundle(&b, a.model, &ro, &rt, &err) != MB_OK) {
        status = mb_cli_error(&err);
        goto exit;
    }
    mbsv_model_init(&s.model, rt, name);
    s.bundle_path = a.model;
    fprintf(stderr, "moonbench serve: scoring with the %s\n", mb_runtime_describe(rt));
    const mb_bundle *bundle = s.model.bundle;
    const char *note = NULL;
    s.metrics = mbsv_metrics_new(bundle, (size_t)a.window, a.threshold, &note);
    if (note)
        fprintf(stderr, "moonbench serve: no drift metrics: %s\n", note);
    status = mbsv_http_run(&s, &a.opt);
exit:
    if (a.opt.access_log && a.opt.access_log != stderr)
        fclose(a.opt.access_log);
    mbsv_metrics_free(&s.metrics);
    mbsv_model_free(&s.model);
    mb_bundle_free(&b); /* when the runtime did not take it */
    mb_registry_close(&reg);
    mb_free(name);
    mb_free(a.token);
    return status;
}
