/*
** keys.c: the request table and the key bindings, which are data: the
** defaults come from the table's key column, and a user file may rebind
** (tig's tigrc). The file ($MOONBENCH_KEYS, else ~/.config/moonbench/keys)
** has one statement a line:
**     bind KEY REQUEST      e.g.  bind F2 train   |   bind C-t toggle-tree
**     unbind KEY
** '#' starts a comment. A bad line is reported (file:line) and skipped.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"

const mbtui_request_info mbtui_requests[] = {
#define MBTUI_REQ_ROW_(id, name, keys, help) {MBTUI_REQ_##id, name, keys, help},
#define MBTUI_REQ_GROUP_ROW_(g) {MBTUI_REQ_NONE, "", "", g},
    MBTUI_REQ_INFO(MBTUI_REQ_GROUP_ROW_, MBTUI_REQ_ROW_)
#undef MBTUI_REQ_ROW_
#undef MBTUI_REQ_GROUP_ROW_
    {MBTUI_REQ_NONE, NULL, NULL, NULL},
};

const mbtui_request_info *mbtui_request_find(const char *name)
{
    for (const mbtui_request_info *r = mbtui_requests; r->name; r++)
        if (r->req != MBTUI_REQ_NONE && strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

#define MAXBIND 160

static struct {
    int key, req;
} binds[MAXBIND];
static int nbinds;

static void bind_key(int key, int req)
{
    for (int i = 0; i < nbinds; i++)
        if (binds[i].key == key) {
            binds[i].req = req;
            return;
        }
    if (nbinds < MAXBIND) {
        binds[nbinds].key = key;
        binds[nbinds++].req = req;
    }
}

static void load_defaults(void)
{
    nbinds = 0;
    for (const mbtui_request_info *r = mbtui_requests; r->name; r++) {
        char buf[128], *save = NULL;
        snprintf(buf, sizeof buf, "%s", r->keys);
        for (char *k = strtok_r(buf, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
            int code = mbtui_key_code(k);
            if (code >= 0)
                bind_key(code, r->req);
        }
    }
}

static void note(char *msg, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(char *msg, size_t n, const char *fmt, ...)
{
    if (msg[0])
        return; /* the first problem is the one to fix first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
}

static void load_file(const char *path, char *msg, size_t n)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *save = NULL, *cmd = strtok_r(line, " \t\r\n", &save);
        if (!cmd)
            continue;
        char *key = strtok_r(NULL, " \t\r\n", &save);
        char *req = strtok_r(NULL, " \t\r\n", &save);
        int code = key ? mbtui_key_code(key) : -1;
        if (strcmp(cmd, "bind") == 0 && key && req) {
            const mbtui_request_info *ri = mbtui_request_find(req);
            if (code < 0)
                note(msg, n, "%s:%d: unknown key '%s' (keys: a, C-a, Up, PgDn, Enter, F1...)", path, lineno, key);
            else if (!ri)
                note(msg, n, "%s:%d: unknown command '%s' (see ? for the names)", path, lineno, req);
            else
                bind_key(code, ri->req);
        } else if (strcmp(cmd, "unbind") == 0 && key && code >= 0) {
            bind_key(code, MBTUI_REQ_NONE);
        } else
            note(msg, n, "%s:%d: expected 'bind KEY COMMAND' or 'unbind KEY', not '%s'", path, lineno, cmd);
    }
    fclose(fp);
}

void mbtui_keys_init(char *msg, size_t n)
{
    msg[0] = 0;
    load_defaults();
    const char *env = getenv("MOONBENCH_KEYS");
    if (env && *env) {
        load_file(env, msg, n);
        return;
    }
    const char *home = getenv("HOME");
    if (home && *home) {
        char path[1024];
        snprintf(path, sizeof path, "%s/.config/moonbench/keys", home);
        load_file(path, msg, n);
    }
}

int mbtui_keys_lookup(int key)
{
    for (int i = 0; i < nbinds; i++)
        if (binds[i].key == key)
            return binds[i].req;
    return MBTUI_REQ_NONE;
}

const char *mbtui_keys_for(int req, char *buf, size_t n)
{
    buf[0] = 0;
    for (int i = 0; i < nbinds; i++)
        if (binds[i].req == req)
            return mbtui_key_name(binds[i].key, buf, n);
    return buf;
}

const char *mbtui_keys_all(int req, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < nbinds && used + 1 < n; i++)
        if (binds[i].req == req) {
            char k[32];
            mbtui_key_name(binds[i].key, k, sizeof k);
            int w = snprintf(buf + used, n - used, "%s%s", used ? " " : "", k);
            if (w < 0 || (size_t)w >= n - used)
                break;
            used += (size_t)w;
        }
    return buf;
}
