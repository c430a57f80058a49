/*
** audit.c: the audit trail (audit.h, docs/audit.md): events as JSON lines
** (jansson), chained by the SHA-256 (sha256.h) of the previous line, appended
** under flock; the command line with secrets masked; the data files a
** process read and their cached checksums; the chain check.
*/
#define _DEFAULT_SOURCE /* flock, gethostname */
#include "audit.h"
#include "bundle.h"
#include "plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include "sha256.h"
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char **g_cmd;
static size_t g_ncmd;
static void (*g_warn)(const char *msg);
static char **g_inputs;
static size_t g_ninputs;

typedef struct hash_entry {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char hex[65];
} hash_entry;
static hash_entry *g_hash;
static size_t g_nhash;

/* Process-lifetime memory from libc, not mb_malloc: a test's replaced
** allocator (mb_set_allocator) must not own it. Aborts when exhausted. */
static void *a_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        mb_panic("audit: out of memory");
    return p;
}

static void *a_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        mb_panic("audit: out of memory");
    return p;
}

static void *a_realloc(void *q, size_t n)
{
    void *p = realloc(q, n ? n : 1);
    if (!p)
        mb_panic("audit: out of memory");
    return p;
}

static char *a_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(a_malloc(n), s, n);
}

/* {====== the command line ======} */

/* Does an option take a secret value? --token, --redis-password, --secret
** and the like, but not --token-file (a path). */
static int secret_option(const char *a)
{
    if (a[0] != '-' || a[1] != '-')
        return 0;
    size_t n = strcspn(a, "=");
    char name[64];
    if (n >= sizeof name)
        return 0;
    memcpy(name, a, n);
    name[n] = '\0';
    if (n > 5 && strcmp(name + n - 5, "-file") == 0)
        return 0;
    return strstr(name, "token") || strstr(name, "password") || strstr(name, "passwd") || strstr(name, "secret");
}

/* a with the password of a scheme://user:pass@host URL masked (a copy). */
static char *mask_url(const char *a)
{
    const char *s = strstr(a, "://");
    char *out = a_strdup(a);
    if (!s)
        return out;
    s += 3;
    size_t auth = strcspn(s, "/?#");
    const char *at = memchr(s, '@', auth);
    if (!at)
        return out;
    const char *colon = memchr(s, ':', (size_t)(at - s));
    const char *from = colon ? colon + 1 : s; /* no user: the whole userinfo is the password */
    size_t head = (size_t)(from - a);
    size_t len = strlen(a) - (size_t)(at - from) + 3 + 1;
    free(out);
    out = a_malloc(len);
    snprintf(out, len, "%.*s***%s", (int)head, a, at);
    return out;
}

static void set_command_locked(size_t argc, const char *const *argv)
{
    for (size_t i = 0; i < g_ncmd; i++)
        free(g_cmd[i]);
    free(g_cmd);
    g_cmd = a_calloc(argc + 1, sizeof *g_cmd);
    g_ncmd = argc;
    int hide_next = 0;
    for (size_t i = 0; i < argc; i++) {
        const char *a = argv[i] ? argv[i] : "";
        const char *eq = strchr(a, '=');
        if (hide_next) {
            g_cmd[i] = a_strdup("***");
            hide_next = 0;
        } else if (secret_option(a) && eq) {
            size_t n = (size_t)(eq - a) + 1;
            g_cmd[i] = a_malloc(n + 4);
            snprintf(g_cmd[i], n + 4, "%.*s***", (int)n, a);
        } else {
            hide_next = secret_option(a);
            g_cmd[i] = mask_url(a);
        }
    }
}

void mb_audit_set_command(int argc, const char *const *argv)
{
    pthread_mutex_lock(&lock);
    set_command_locked(argc > 0 ? (size_t)argc : 0, argv);
    pthread_mutex_unlock(&lock);
}

/* Without mb_audit_set_command (a stock lua5.4 host): /proc/self/cmdline. */
static void command_from_proc_locked(void)
{
    FILE *fp = fopen("/proc/self/cmdline", "rb");
    char buf[65536];
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp)
        fclose(fp);
    buf[n] = '\0';
    const char *v[256];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 256; i += strlen(buf + i) + 1)
        v[k++] = buf + i;
    set_command_locked(k, v);
}

void mb_audit_set_warn(void (*fn)(const char *msg))
{
    pthread_mutex_lock(&lock);
    g_warn = fn;
    pthread_mutex_unlock(&lock);
}

static void warn(const char *msg)
{
    pthread_mutex_lock(&lock);
    void (*fn)(const char *) = g_warn;
    pthread_mutex_unlock(&lock);
    if (fn)
        fn(msg);
    else
        mb_log(MB_LOG_WARN, "%s", msg);
}

/* {====== inputs and checksums ======} */

void mb_audit_note_input(const char *path)
{
    char real[PATH_MAX];
    const char *p = realpath(path, real) ? real : path;
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < g_ninputs && strcmp(g_inputs[i], p) != 0)
        i++;
    if (i == g_ninputs) {
        g_inputs = a_realloc(g_inputs, (g_ninputs + 1) * sizeof *g_inputs);
        g_inputs[g_ninputs++] = a_strdup(p);
    }
    pthread_mutex_unlock(&lock);
}

int mb_audit_file_sha256(const char *path, char hex[65])
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < g_nhash; i++) {
        hash_entry *h = &g_hash[i];
        if (h->dev == st.st_dev && h->ino == st.st_ino && h->size == st.st_size &&
            h->mtime.tv_sec == st.st_mtim.tv_sec && h->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            memcpy(hex, h->hex, 65);
            pthread_mutex_unlock(&lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&lock);
    char buf[MB_SHA256_HEX];
    if (mb_sha256_file(path, 0, buf) != 0)
        return -1;
    memcpy(hex, buf, 65);
    pthread_mutex_lock(&lock);
    g_hash = a_realloc(g_hash, (g_nhash + 1) * sizeof *g_hash);
    hash_entry *h = &g_hash[g_nhash++];
    *h = (hash_entry){a_strdup(path), st.st_dev, st.st_ino, st.st_size, st.st_mtim, ""};
    memcpy(h->hex, buf, 65);
    pthread_mutex_unlock(&lock);
    return 0;
}

/* {====== the log ======} */

const char *mb_audit_path(char *buf, size_t size)
{
    const char *env = getenv(MB_AUDIT_ENV), *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (env) {
        if (!env[0])
            return NULL;
        snprintf(buf, size, "%s", env);
    } else if (xdg && xdg[0] == '/') { /* the XDG spec ignores a relative value */
        snprintf(buf, size, "%s/moonbench/audit.jsonl", xdg);
    } else {
        if (!home || !home[0]) {
            struct passwd *pw = getpwuid(geteuid());
            home = pw ? pw->pw_dir : "/";
        }
        snprintf(buf, size, "%s/.local/state/moonbench/audit.jsonl", home);
    }
    return buf;
}

/* mkdir -p of path's folder, new folders 0700. */
static void make_parents(const char *path)
{
    char *d = a_strdup(path);
    for (char *p = d + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(d, 0700);
        *p = '/';
    }
    free(d);
}

/* The SHA-256 of the file's last line (bytes after the last newline but
** one; genesis when empty); *nl: does the file end with a newline. */
static int last_line_hash(int fd, off_t size, char hex[65], int *nl)
{
    *nl = 1;
    if (size == 0) {
        memcpy(hex, GENESIS, 65);
        return 0;
    }
    char c, buf[65536];
    if (pread(fd, &c, 1, size - 1) != 1)
        return -1;
    off_t end = c == '\n' ? size - 1 : size, start = end;
    *nl = c == '\n';
    while (start > 0) { /* back to the newline before the line, in blocks */
        off_t from = start > (off_t)sizeof buf ? start - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(start - from), from);
        if (n != start - from)
            return -1;
        char *p = NULL;
        for (ssize_t i = n - 1; i >= 0 && !p; i--)
            if (buf[i] == '\n')
                p = buf + i;
        if (p) {
            start = from + (p - buf) + 1;
            break;
        }
        start = from;
    }
    mb_sha256 h;
    if (mb_sha256_init(&h) != 0)
        return -1;
    for (off_t at = start; at < end;) {
        size_t want = end - at > (off_t)sizeof buf ? sizeof buf : (size_t)(end - at);
        ssize_t n = pread(fd, buf, want, at);
        if (n <= 0) {
            h.failed = 1;
            break;
        }
        mb_sha256_update(&h, buf, (size_t)n);
        at += n;
    }
    char out[MB_SHA256_HEX];
    if (mb_sha256_final(&h, out) != 0)
        return -1;
    memcpy(hex, out, 65);
    return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Append obj (given "prev") to the log under an exclusive flock. 0, or -1
** with why. */
static int append_event(const char *path, json_t *obj, char *why, size_t wsize)
{
    make_parents(path);
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        snprintf(why, wsize, "%s", strerror(errno));
        return -1;
    }
    int rc = -1, nl = 1;
    struct stat st;
    char prev[65];
    while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (rc != 0 || fstat(fd, &st) != 0) {
        snprintf(why, wsize, "%s", strerror(errno));
        rc = -1;
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(why, wsize, "not a regular file");
        rc = -1;
    } else if (last_line_hash(fd, st.st_size, prev, &nl) != 0) {
        snprintf(why, wsize, "cannot read its last line: %s", strerror(errno));
        rc = -1;
    } else {
        json_object_set_new(obj, "prev", json_string(prev));
        char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t n = s ? strlen(s) : 0;
        char *line = a_malloc(n + 3);
        /* a torn last line (no newline) stays a line of its own */
        snprintf(line, n + 3, "%s%s\n", nl ? "" : "\n", s ? s : "");
        rc = s ? write_all(fd, line, strlen(line)) : -1;
        if (rc != 0)
            snprintf(why, wsize, "%s", s ? strerror(errno) : "cannot encode the event");
        free(line);
        free(s);
    }
    close(fd); /* releases the lock */
    return rc;
}

/* {====== events ======} */

/* A JSON string of s; bytes that are not UTF-8 become '?'. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *c = a_strdup(s);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(c);
    free(c);
    return j;
}

static json_t *file_ref(const char *path, int with_content)
{
    char real[PATH_MAX], hex[65];
    json_t *o = json_object();
    json_object_set_new(o, "path", jstr(realpath(path, real) ? real : path));
    if (mb_audit_file_sha256(path, hex) == 0) {
        json_object_set_new(o, "sha256", json_string(hex));
    } else {
        json_object_set_new(o, "sha256", json_null());
        json_object_set_new(o, "error", jstr(strerror(errno)));
    }
    char seal[MB_SHA256_HEX];
    /* a sealed file's bytes after its user block: the same after signing */
    if (with_content && mb_sha256_file(path, 512, seal) == 0)
        json_object_set_new(o, "content_sha256", json_string(seal));
    return o;
}

static json_t *event_new(const char *event)
{
    char when[32], host[256] = "";
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    gethostname(host, sizeof host - 1);
    struct passwd *pw = getpwuid(geteuid());
    char uid[32];
    snprintf(uid, sizeof uid, "%u", (unsigned)geteuid());
    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "event", jstr(event));
    json_object_set_new(o, "user", jstr(pw ? pw->pw_name : uid));
    json_object_set_new(o, "host", jstr(host));
    json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
    pthread_mutex_lock(&lock);
    if (!g_cmd)
        command_from_proc_locked();
    json_t *cmd = json_array();
    for (size_t i = 0; i < g_ncmd; i++)
        json_array_append_new(cmd, jstr(g_cmd[i]));
    size_t ni = g_ninputs;
    char **inputs = a_calloc(ni + 1, sizeof *inputs);
    for (size_t i = 0; i < ni; i++)
        inputs[i] = a_strdup(g_inputs[i]);
    pthread_mutex_unlock(&lock);
    json_object_set_new(o, "command", cmd);
    json_t *in = json_array();
    for (size_t i = 0; i < ni; i++) {
        json_array_append_new(in, file_ref(inputs[i], 0));
        free(inputs[i]);
    }
    free(inputs);
    json_object_set_new(o, "inputs", in);
    return o;
}

static void event_finish(json_t *o)
{
    char path[PATH_MAX + 64], why[512];
    json_object_set_new(o, "moonbench", json_string(MB_VERSION));
    if (mb_audit_path(path, sizeof path) && append_event(path, o, why, sizeof why) != 0) {
        char msg[PATH_MAX + 700];
        const char *ev = json_string_value(json_object_get(o, "event"));
        snprintf(msg, sizeof msg, "warning: audit log %s: %s; this %s is not recorded (it went ahead)", path, why,
                 ev ? ev : "event");
        warn(msg);
    }
    json_decref(o);
}

static int audit_on(void)
{
    const char *env = getenv(MB_AUDIT_ENV);
    return !env || env[0];
}

static json_t *model_facts(const char *plugin, const char *version, const char *model,
                           const char *const *names, const char *const *values, size_t n)
{
    json_t *m = json_object(), *p = json_object();
    json_object_set_new(m, "plugin", jstr(plugin));
    json_object_set_new(m, "plugin_version", jstr(version));
    json_object_set_new(m, "model", jstr(model));
    for (size_t i = 0; i < n; i++)
        json_object_set_new(p, names[i] ? names[i] : "?", jstr(values[i]));
    json_object_set_new(m, "params", p);
    return m;
}

void mb_audit_bundle_event(const char *event, const char *bundle_path, const mb_bundle *b, const char *output,
                           const char *detail)
{
    if (!audit_on())
        return;
    json_t *o = event_new(event);
    if (bundle_path)
        json_object_set_new(o, "bundle", file_ref(bundle_path, 1));
    if (output)
        json_object_set_new(o, "output", file_ref(output, 0));
    if (detail)
        json_object_set_new(o, "detail", jstr(detail));
    if (b) {
        json_object_set_new(o, "model",
                            model_facts(b->plugin, b->plugin_version, b->model, (const char *const *)b->param_names,
                                        (const char *const *)b->param_values, b->nparams));
        json_t *t = json_object();
        json_object_set_new(t, "source", jstr(b->source ? b->source : ""));
        json_object_set_new(t, "sha256", jstr(b->source_sha256 ? b->source_sha256 : ""));
        json_object_set_new(t, "rows", json_integer((json_int_t)b->rows_used));
        json_object_set_new(t, "created", jstr(b->created ? b->created : ""));
        json_object_set_new(o, "trained_on", t);
    }
    event_finish(o);
}

void mb_audit_fit_event(const mb_model *m, size_t rows)
{
    if (!audit_on())
        return;
    json_t *o = event_new("fit");
    const char **names = a_calloc(m->params.n + 1, sizeof *names);
    for (size_t i = 0; i < m->params.n; i++)
        names[i] = m->type->params[i].name;
    json_object_set_new(o, "model",
                        model_facts(m->owner ? m->owner->plugin->name : "", m->owner ? m->owner->plugin->version : "",
                                    m->type->name, names, (const char *const *)m->params.text, m->params.n));
    free(names);
    json_object_set_new(o, "rows", json_integer((json_int_t)rows));
    event_finish(o);
}

/* {====== reading and checking ======} */

mb_status mb_audit_each(const char *path, int (*fn)(const char *line, size_t len, size_t lineno, void *ud),
                        void *ud, mb_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return mb_fail(err, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "audit log %s: %s", path, strerror(errno));
    char *buf = a_malloc(MB_AUDIT_MAX_LINE + 1);
    size_t len = 0, lineno = 0;
    int c, stop = 0, any = 0;
    while (!stop && (c = getc(fp)) != EOF) {
        any = 1;
        if (c != '\n') {
            if (len < MB_AUDIT_MAX_LINE)
                buf[len] = (char)c;
            len++;
            continue;
        }
        buf[len < MB_AUDIT_MAX_LINE ? len : MB_AUDIT_MAX_LINE] = '\0';
        stop = fn(len <= MB_AUDIT_MAX_LINE ? buf : NULL, len, ++lineno, ud);
        len = any = 0;
    }
    if (!stop && any) { /* a last line without its newline */
        buf[len < MB_AUDIT_MAX_LINE ? len : MB_AUDIT_MAX_LINE] = '\0';
        fn(len <= MB_AUDIT_MAX_LINE ? buf : NULL, len, ++lineno, ud);
    }
    int bad = ferror(fp);
    fclose(fp);
    free(buf);
    return bad ? mb_fail(err, MB_EIO, "audit log %s: read error", path) : MB_OK;
}

typedef struct verify_state {
    char expect[65];
    size_t lines;
    mb_error *err;
    mb_status rc;
    const char *path;
} verify_state;

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static int verify_line(const char *line, size_t len, size_t lineno, void *ud)
{
    verify_state *v = ud;
    const char *f = v->path;
    if (!line) {
        v->rc = mb_fail(v->err, MB_EFORMAT, "%s: line %zu: longer than %u bytes: not an audit event", f, lineno,
                        MB_AUDIT_MAX_LINE);
        return 1;
    }
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    const char *prev = o ? json_string_value(json_object_get(o, "prev")) : NULL;
    if (!o)
        v->rc = mb_fail(v->err, MB_EFORMAT, "%s: line %zu: not JSON (column %d: %s)", f, lineno, je.column, je.text);
    else if (!json_is_object(o))
        v->rc = mb_fail(v->err, MB_EFORMAT, "%s: line %zu: not a JSON object", f, lineno);
    else if (!json_is_string(json_object_get(o, "time")) || !json_is_string(json_object_get(o, "event")))
        v->rc = mb_fail(v->err, MB_EFORMAT, "%s: line %zu: 'time' and 'event' must be strings", f, lineno);
    else if (!is_hex64(prev))
        v->rc = mb_fail(v->err, MB_EFORMAT, "%s: line %zu: 'prev' is missing or not 64 hex digits", f, lineno);
    else if (strcmp(prev, v->expect) != 0 && lineno == 1)
        v->rc = mb_fail(v->err, MB_EFORMAT,
                        "%s: line 1: 'prev' is not the genesis value (64 zeros): lines before it were removed", f);
    else if (strcmp(prev, v->expect) != 0)
        v->rc = mb_fail(v->err, MB_EFORMAT,
                        "%s: line %zu: 'prev' is not the SHA-256 of line %zu: line %zu was changed, or lines "
                        "between them were removed or reordered",
                        f, lineno, lineno - 1, lineno - 1);
    json_decref(o);
    if (v->rc != MB_OK)
        return 1;
    char hex[MB_SHA256_HEX];
    mb_sha256_data(line, len, hex); /* "" when out of memory: no chain matches it */
    memcpy(v->expect, hex, 65);
    v->lines = lineno;
    return 0;
}

mb_status mb_audit_verify(const char *path, size_t *lines, char head[65], mb_error *err)
{
    verify_state v = {GENESIS, 0, err, MB_OK, path};
    mb_status rc = mb_audit_each(path, verify_line, &v, err);
    if (lines)
        *lines = v.lines;
    if (head)
        memcpy(head, v.expect, 65);
    return rc != MB_OK ? rc : v.rc;
}
