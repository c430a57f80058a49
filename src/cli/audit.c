/*
** audit.c: `moonbench audit [MODEL.h5] [--log PATH] [--verify] [--json]`:
** the events of the audit log (src/core/audit.h, docs/audit.md) that made,
** exported or served a bundle, matched by its SHA-256 (or by the SHA-256
** of its sealed content, which signing keeps); --verify checks the chain.
** Lines that are not events are reported with their number and skipped.
*/
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <limits.h>
#include "sha256.h"
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "cli.h"

typedef struct query {
    const char *log;
    char sha[65], content[65]; /* the bundle's; "" for every event */
    int json, matched, skipped;
} query;

/* A member's string value, "?" when it is missing or of another type. */
static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "?";
}

static void print_file(const char *label, json_t *f)
{
    if (!json_is_object(f))
        return;
    printf("  %-9s%s  sha256 %s\n", label, str(f, "path"),
           json_is_string(json_object_get(f, "sha256")) ? str(f, "sha256") : "(unreadable)");
}

static void print_event(json_t *o, size_t lineno)
{
    printf("line %zu  %s  %s by %s@%s\n", lineno, str(o, "time"), str(o, "event"), str(o, "user"), str(o, "host"));
    json_t *cmd = json_object_get(o, "command"), *v;
    size_t i;
    if (json_is_array(cmd)) {
        printf("  %-9s", "command");
        json_array_foreach (cmd, i, v)
            printf("%s%s", i ? " " : "", json_is_string(v) ? json_string_value(v) : "?");
        printf("\n");
    }
    print_file("bundle", json_object_get(o, "bundle"));
    json_t *in = json_object_get(o, "inputs");
    if (json_is_array(in))
        json_array_foreach (in, i, v)
            print_file("data", v);
    print_file("output", json_object_get(o, "output"));
    json_t *t = json_object_get(o, "trained_on");
    if (json_is_object(t))
        printf("  %-9s%s (%lld rows)  sha256 %s\n", "trained", str(t, "source"),
               (long long)json_integer_value(json_object_get(t, "rows")), str(t, "sha256"));
    json_t *m = json_object_get(o, "model");
    if (json_is_object(m)) {
        printf("  %-9s%s/%s %s", "model", str(m, "plugin"), str(m, "model"), str(m, "plugin_version"));
        json_t *p = json_object_get(m, "params");
        const char *k;
        if (json_is_object(p))
            json_object_foreach (p, k, v)
                printf(" %s=%s", k, json_is_string(v) ? json_string_value(v) : "?");
        printf("\n");
    }
    if (json_is_string(json_object_get(o, "detail")))
        printf("  %-9s%s\n", "at", str(o, "detail"));
}

static int matches(json_t *o, const query *q)
{
    if (!q->sha[0])
        return 1;
    json_t *b = json_object_get(o, "bundle");
    return json_is_object(b) && (strcmp(str(b, "sha256"), q->sha) == 0 || strcmp(str(b, "content_sha256"), q->content) == 0);
}

static int on_line(const char *line, size_t len, size_t lineno, void *ud)
{
    query *q = ud;
    json_error_t je;
    json_t *o = line ? json_loadb(line, len, 0, &je) : NULL;
    if (!json_is_object(o)) {
        if (q->skipped++ < 5)
            fprintf(stderr, "moonbench audit: %s: line %zu: %s; skipped\n", q->log, lineno,
                    !line ? "longer than 1 MiB" : o ? "not a JSON object" : "not JSON");
    } else if (matches(o, q)) {
        q->matched++;
        if (q->json)
            printf("%.*s\n", (int)len, line);
        else
            print_event(o, lineno);
    }
    json_decref(o);
    return 0;
}

static int verify(const char *log, int json)
{
    mb_error err;
    size_t lines = 0;
    char head[65];
    mb_status rc = mb_audit_verify(log, &lines, head, &err);
    if (json) {
        json_t *o = json_pack("{s:s, s:b, s:I}", "log", log, "intact", rc == MB_OK, "lines", (json_int_t)lines);
        json_object_set_new(o, rc == MB_OK ? "head" : "error", json_string(rc == MB_OK ? head : err.msg));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    }
    if (rc != MB_OK) {
        fprintf(stderr, "moonbench audit: chain broken: %s\n", err.msg);
        return 1;
    }
    if (!json)
        printf("%s: %zu event%s, chain intact; head sha256 %s\n", log, lines, lines == 1 ? "" : "s", head);
    return 0;
}

int mb_cmd_audit(int argc, char **argv)
{
    const char *bundle = NULL, *log = NULL;
    int check = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--log") && i + 1 < argc)
            log = argv[++i];
        else if (!strcmp(argv[i], "--verify"))
            check = 1;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return mb_cli_usage("audit", "unknown option or missing value: '%s'", argv[i]);
        else if (!bundle)
            bundle = argv[i];
        else
            return mb_cli_usage("audit", "too many arguments ('%s')", argv[i]);
    }
    char path[PATH_MAX + 64];
    if (!log && !(log = mb_audit_path(path, sizeof path))) {
        fprintf(stderr, "moonbench audit: the audit log is off (%s is empty); name a log with --log PATH\n",
                MB_AUDIT_ENV);
        return 1;
    }
    query q = {log, "", "", json, 0, 0};
    if (bundle) {
        char content[MB_SHA256_HEX];
        if (mb_audit_file_sha256(bundle, q.sha) != 0) {
            fprintf(stderr, "moonbench audit: %s: %s\n", bundle, strerror(errno));
            return 1;
        }
        /* the bytes after the user block: the same once the bundle is signed */
        snprintf(q.content, sizeof q.content, "%s", mb_sha256_file(bundle, 512, content) == 0 ? content : "-");
    }
    if (check && verify(log, json && !bundle) != 0)
        return 1;
    if (check && !bundle)
        return 0;
    mb_error err;
    if (mb_audit_each(log, on_line, &q, &err) != MB_OK)
        return mb_cli_error(&err);
    if (q.skipped > 5)
        fprintf(stderr, "moonbench audit: %s: %d lines that are not events skipped in all\n", log, q.skipped);
    if (bundle && !q.matched) {
        fprintf(stderr, "moonbench audit: no event in %s names %s (sha256 %s)\n", log, bundle, q.sha);
        return 1;
    }
    return 0;
}
