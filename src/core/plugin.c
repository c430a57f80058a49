/*
** plugin.c: the plugin host (see plugin.h): loading and checking plugin
** files, finding models, validating parameters, calling models, and the
** in-memory state store.
**
** DESIGN
** ------
** Loading follows Redis' moduleLoad: dlopen(RTLD_NOW | RTLD_LOCAL), look up
** the one entry point, call it with our ABI version, check what it
** returns; every failure closes the handle and says which file and why.
** A plugin is trusted code once loaded (it runs in our process), but its
** self-description is checked like input: names, tables and struct sizes.
*/
#include "plugin.h"
#include "audit.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* {====== host services ======} */

static void *host_malloc(size_t n) { return mb_trymalloc(n); }
static void *host_realloc(void *p, size_t n) { return mb_tryrealloc(p, n); }
static void host_free(void *p) { mb_free(p); }
static void host_log(int level, const char *msg)
{
    mb_log(level <= 0 ? MB_LOG_DEBUG : level == 1 ? MB_LOG_INFO : MB_LOG_WARN, "%s", msg);
}

static const mb_host host = {sizeof(mb_host), MB_PLUGIN_ABI, host_malloc, host_realloc, host_free,
                             host_log};

const mb_host *mb_host_services(void) { return &host; }

/* {====== loading ======} */

/* The model type's members that the plugin's struct_size covers. */
#define HAS_MEMBER(t, m) ((t)->struct_size >= offsetof(mb_model_type, m) + sizeof((t)->m))

/* Names users type: letters, digits, '_', '.', '-' (no '/': it separates
** plugin and model in "plugin/model"). */
static int good_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '.' || *s == '-'))
            return 0;
    return 1;
}

static const char *parse_value(const mb_param_spec *s, const char *text, mb_param_value *v, int64_t **list);

static const char *check_model(const mb_model_type *t)
{
    if (!t)
        return "a NULL model entry";
    if (t->struct_size < offsetof(mb_model_type, destroy) + sizeof t->destroy)
        return "a model table smaller than ABI 1's";
    if (!good_name(t->name))
        return "a model whose name is empty or not made of letters, digits, '_', '.' and '-'";
    if (!t->create || !t->fit || !t->predict || !t->save || !t->load || !t->destroy)
        return "a model missing a required function (create, fit, predict, save, load, destroy)";
    if (!(t->tasks & (MB_TASK_REGRESSION | MB_TASK_BINARY | MB_TASK_MULTICLASS)))
        return "a model supporting no task";
    if (t->nparams && !t->params)
        return "a model with a NULL parameter table";
    for (size_t i = 0; i < t->nparams; i++) {
        const mb_param_spec *s = &t->params[i];
        if (!s->name || !s->def || s->type < MB_PARAM_INT || s->type > MB_PARAM_INTS ||
            (s->type == MB_PARAM_CHOICE && (!s->choices || !s->choices[0])))
            return "a malformed parameter entry";
        /* a default the host would refuse makes the model unusable: refuse it now */
        mb_param_value v;
        int64_t *list = NULL;
        const char *why = parse_value(s, s->def, &v, &list);
        mb_free(list);
        if (why)
            return "a parameter whose default is not valid for its own type and range";
    }
    return NULL;
}

static const mb_model_type *find_model(const mb_registry *r, const char *name,
                                       const mb_loaded_plugin **owner)
{
    for (size_t i = 0; i < r->nplugins; i++)
        for (size_t k = 0; k < r->plugins[i].plugin->nmodels; k++)
            if (strcmp(r->plugins[i].plugin->models[k]->name, name) == 0) {
                if (owner)
                    *owner = &r->plugins[i];
                return r->plugins[i].plugin->models[k];
            }
    return NULL;
}

/* {====== checking plugin files ======} */

#if defined(__x86_64__)
#define MB_ELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define MB_ELF_MACHINE EM_AARCH64
#endif

/* Is path a shared object dlopen can map whole? dlopen of a directory, a
** FIFO (it blocks) or a truncated file (a SIGBUS when a page past the end
** is touched) must not happen: check the file type, then, through a
** non-blocking descriptor, the ELF header and that every loadable segment
** and the section table lie inside the file. NULL or why not. Not a
** defence against someone who can write the plugin folder (such a one can
** put any code there); a check against junk and accidents. */
static const char *check_plugin_file(const char *path, char *why, size_t n)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return snprintf(why, n, "%s", strerror(errno)), why;
    if (S_ISDIR(sb.st_mode))
        return "a folder, not a shared object";
    if (!S_ISREG(sb.st_mode))
        return S_ISFIFO(sb.st_mode) ? "a FIFO, not a regular file" : "not a regular file (a device or socket)";
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return snprintf(why, n, "%s", strerror(errno)), why;
    const char *bad = NULL;
    Elf64_Ehdr eh;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        bad = "not a regular file";
    else if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        bad = "not an ELF shared object (no ELF header)";
    else if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_type != ET_DYN)
        bad = "not a 64-bit ELF shared object";
#ifdef MB_ELF_MACHINE
    else if (eh.e_machine != MB_ELF_MACHINE)
        bad = "an ELF shared object for another machine";
#endif
    else if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 256)
        bad = "a damaged ELF header (program headers)";
    uint64_t size = (uint64_t)sb.st_size, end = 0;
    if (!bad && eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize > end)
        end = eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize;
    for (unsigned i = 0; !bad && i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph)
            bad = "a damaged ELF header (program headers past the end)";
        else if (ph.p_type == PT_LOAD && ph.p_offset + ph.p_filesz > end)
            end = ph.p_offset + ph.p_filesz;
    }
    if (!bad && end > size) {
        snprintf(why, n, "truncated: it ends at byte %llu, its ELF headers need %llu", (unsigned long long)size,
                 (unsigned long long)end);
        bad = why;
    }
    close(fd);
    return bad;
}

mb_status mb_registry_load(mb_registry *r, const char *path, mb_error *err)
{
    mb_status rc = MB_OK;
    /* "knn.so" means the file here, not a search of the library path */
    char local[4096];
    if (!strchr(path, '/')) {
        snprintf(local, sizeof local, "./%s", path);
        path = local;
    }
    char fwhy[160];
    const char *bad = check_plugin_file(path, fwhy, sizeof fwhy);
    if (bad)
        return mb_fail(err, MB_EFORMAT, "plugin %s: cannot load: %s", path, bad);
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return mb_fail(err, MB_EFORMAT, "plugin %s: cannot load: %s", path, why ? why : "unknown reason");
    }
    mb_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, MB_PLUGIN_ENTRY);
    const mb_plugin *p = NULL;
    if (!entry) {
        rc = mb_fail(err, MB_EFORMAT, "plugin %s: no entry point %s(); is it a moonbench plugin?", path,
                     MB_PLUGIN_ENTRY);
        goto exit;
    }
    p = entry(MB_PLUGIN_ABI);
    if (!p) {
        rc = mb_fail(err, MB_EFORMAT, "plugin %s: refused to load into a host of ABI %d (too old for it)",
                     path, MB_PLUGIN_ABI);
        goto exit;
    }
    if (p->abi > MB_PLUGIN_ABI || p->abi == 0) {
        rc = mb_fail(err, MB_EFORMAT,
                     "plugin %s: built for plugin ABI %u, but this moonbench speaks ABI %d; "
                     "rebuild it against this moonbench's moonbench_plugin.h or upgrade moonbench",
                     path, p->abi, MB_PLUGIN_ABI);
        goto exit;
    }
    if (!good_name(p->name) || !p->version || !p->models || p->nmodels == 0) {
        rc = mb_fail(err, MB_EFORMAT, "plugin %s: incomplete description (a name of letters, digits, '_', "
                     "'.', '-', a version, models)", path);
        goto exit;
    }
    for (size_t k = 0; k < p->nmodels; k++) {
        const char *why = check_model(p->models[k]);
        if (why) {
            rc = mb_fail(err, MB_EFORMAT, "plugin %s (%s): %s", path, p->name, why);
            goto exit;
        }
        for (size_t j = 0; j < k; j++)
            if (strcmp(p->models[j]->name, p->models[k]->name) == 0) {
                rc = mb_fail(err, MB_EFORMAT, "plugin %s (%s): two models named '%s'", path, p->name,
                             p->models[k]->name);
                goto exit;
            }
    }
    for (size_t i = 0; i < r->nplugins; i++)
        if (strcmp(r->plugins[i].plugin->name, p->name) == 0) {
            rc = mb_fail(err, MB_EARG, "plugin %s: a plugin named '%s' is already loaded from %s; ignored",
                         path, p->name, r->plugins[i].path);
            goto exit;
        }
    for (size_t k = 0; k < p->nmodels; k++) {
        const mb_loaded_plugin *o;
        if (find_model(r, p->models[k]->name, &o)) {
            rc = mb_fail(err, MB_EARG, "plugin %s: model '%s' is already provided by %s; ignored", path,
                         p->models[k]->name, o->path);
            goto exit;
        }
    }
    r->plugins = mb_realloc(r->plugins, (r->nplugins + 1) * sizeof *r->plugins);
    r->plugins[r->nplugins++] = (mb_loaded_plugin){mb_strdup(path), h, p};
    return MB_OK;
exit:
    dlclose(h);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void mb_registry_load_dir(mb_registry *r, const char *dir)
{
    if (r->lazy) { /* mb_registry_discover_lazy: only remember the folder */
        r->pending = mb_realloc(r->pending, (r->npending + 1) * sizeof *r->pending);
        r->pending[r->npending++] = mb_strdup(dir);
        return;
    }
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".so"))
            continue;
        names = mb_realloc(names, (n + 1) * sizeof *names);
        names[n++] = mb_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names); /* a stable order for duplicates */
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = mb_malloc(len);
        snprintf(path, len, "%s/%s", dir, names[i]);
        mb_error err;
        if (mb_registry_load(r, path, &err) != MB_OK) {
            r->problems = mb_realloc(r->problems, (r->nproblems + 1) * sizeof *r->problems);
            r->problems[r->nproblems++] = mb_strdup(err.msg);
        }
        mb_free(path);
        mb_free(names[i]);
    }
    mb_free(names);
}

void mb_registry_discover(mb_registry *r, const char *exe_dir)
{
    const char *env = getenv("MOONBENCH_PLUGIN_PATH");
    if (env && env[0]) {
        char *copy = mb_strdup(env), *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
            mb_registry_load_dir(r, dir);
        mb_free(copy);
    }
    /* beside the executable (the build tree), then the install's folder */
    static const char *const rel[] = {"plugins", "../lib/moonbench/plugins"};
    for (size_t i = 0; exe_dir && i < 2; i++) {
        size_t len = strlen(exe_dir) + strlen(rel[i]) + 2;
        char *dir = mb_malloc(len);
        snprintf(dir, len, "%s/%s", exe_dir, rel[i]);
        mb_registry_load_dir(r, dir);
        mb_free(dir);
    }
}

void mb_registry_discover_lazy(mb_registry *r, const char *exe_dir)
{
    r->lazy = 1;
    mb_registry_discover(r, exe_dir);
}

void mb_registry_load_pending(mb_registry *r)
{
    r->lazy = 0;
    for (size_t i = 0; i < r->npending; i++) {
        mb_registry_load_dir(r, r->pending[i]);
        mb_free(r->pending[i]);
    }
    mb_free(r->pending);
    r->pending = NULL;
    r->npending = 0;
}

void mb_registry_close(mb_registry *r)
{
    for (size_t i = 0; i < r->npending; i++)
        mb_free(r->pending[i]);
    mb_free(r->pending);
    for (size_t i = 0; i < r->nplugins; i++) {
        dlclose(r->plugins[i].handle);
        mb_free(r->plugins[i].path);
    }
    for (size_t i = 0; i < r->nproblems; i++)
        mb_free(r->problems[i]);
    mb_free(r->plugins);
    mb_free(r->problems);
    memset(r, 0, sizeof *r);
}

const mb_model_type *mb_registry_find(const mb_registry *r, const char *name,
                                      const mb_loaded_plugin **owner, mb_error *err)
{
    if (r->lazy) /* filled on first use (plugin.h): callers hold const pointers */
        mb_registry_load_pending((mb_registry *)r);
    const char *slash = strchr(name, '/');
    const mb_model_type *t = NULL;
    const mb_loaded_plugin *o = NULL;
    if (slash) {
        for (size_t i = 0; i < r->nplugins && !t; i++) {
            const mb_plugin *p = r->plugins[i].plugin;
            if (strlen(p->name) != (size_t)(slash - name) || strncmp(p->name, name, (size_t)(slash - name)))
                continue;
            for (size_t k = 0; k < p->nmodels; k++)
                if (strcmp(p->models[k]->name, slash + 1) == 0) {
                    t = p->models[k];
                    o = &r->plugins[i];
                }
        }
    } else {
        t = find_model(r, name, &o);
    }
    if (!t) {
        char list[512] = "";
        size_t k = 0;
        for (size_t i = 0; i < r->nplugins; i++)
            for (size_t m = 0; m < r->plugins[i].plugin->nmodels && k < sizeof list - 64; m++)
                k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", k ? ", " : "",
                                      r->plugins[i].plugin->models[m]->name);
        mb_fail(err, MB_ENOTFOUND, "no model named '%s' (available: %s)", name,
                k ? list : "none; no plugins were found, see 'moonbench plugins'");
        return NULL;
    }
    if (owner)
        *owner = o;
    return t;
}

/* {====== parameters ======} */

static void format_bound(char *buf, size_t n, double v)
{
    if (isinf(v))
        snprintf(buf, n, "%sinf", v < 0 ? "-" : "");
    else
        snprintf(buf, n, "%.10g", v);
}

void mb_param_describe(const mb_param_spec *s, char *buf, size_t n)
{
    char lo[32], hi[32], what[256];
    format_bound(lo, sizeof lo, s->min);
    format_bound(hi, sizeof hi, s->max);
    switch (s->type) {
    case MB_PARAM_INT:
        snprintf(what, sizeof what, "integer in [%s, %s]", lo, hi);
        break;
    case MB_PARAM_REAL:
        snprintf(what, sizeof what, "real in [%s, %s]", lo, hi);
        break;
    case MB_PARAM_BOOL:
        snprintf(what, sizeof what, "true or false");
        break;
    case MB_PARAM_INTS:
        snprintf(what, sizeof what, "integers in [%s, %s], comma-separated", lo, hi);
        break;
    case MB_PARAM_CHOICE: {
        size_t k = (size_t)snprintf(what, sizeof what, "one of ");
        for (size_t i = 0; s->choices[i] && k < sizeof what; i++)
            k += (size_t)snprintf(what + k, sizeof what - k, "%s%s", i ? ", " : "", s->choices[i]);
        break;
    }
    }
    snprintf(buf, n, "%s: %s, default %s; %s", s->name, what, s->def, s->help ? s->help : "");
}

/* Parse text as a value of spec s into v (lists into *list). NULL on
** success, else what was wrong. */
static const char *parse_value(const mb_param_spec *s, const char *text, mb_param_value *v,
                               int64_t **list)
{
    char *end;
    errno = 0;
    switch (s->type) {
    case MB_PARAM_INT: {
        long long x = strtoll(text, &end, 10);
        if (end == text || *end || errno)
            return "not an integer";
        if ((double)x < s->min || (double)x > s->max)
            return "out of range";
        v->i = x;
        v->real = (double)x;
        return NULL;
    }
    case MB_PARAM_REAL: {
        double x = strtod(text, &end);
        if (end == text || *end || errno || isnan(x))
            return "not a number";
        if (x < s->min || x > s->max)
            return "out of range";
        v->real = x;
        return NULL;
    }
    case MB_PARAM_BOOL:
        if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes"))
            v->i = 1;
        else if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no"))
            v->i = 0;
        else
            return "not true or false";
        return NULL;
    case MB_PARAM_CHOICE:
        for (size_t i = 0; s->choices[i]; i++)
            if (strcmp(s->choices[i], text) == 0) {
                v->i = (int64_t)i;
                return NULL;
            }
        return "not one of the choices";
    case MB_PARAM_INTS: {
        size_t n = 0;
        int64_t *out = NULL;
        const char *p = text;
        if (!*p)
            return "an empty list";
        while (*p) {
            long long x = strtoll(p, &end, 10);
            if (end == p || errno || (*end && *end != ',')) {
                mb_free(out);
                return "not a list of integers";
            }
            if ((double)x < s->min || (double)x > s->max) {
                mb_free(out);
                return "out of range";
            }
            out = mb_realloc(out, (n + 1) * sizeof *out);
            out[n++] = x;
            if (*end == ',' && !end[1]) { /* "1,2," */
                mb_free(out);
                return "not a list of integers (trailing comma)";
            }
            p = *end ? end + 1 : end;
        }
        mb_free(*list);
        *list = out;
        v->ints = out;
        v->nints = n;
        return NULL;
    }
    }
    return "unknown parameter type";
}

void mb_params_free(mb_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        mb_free(p->text ? p->text[i] : NULL);
        mb_free(p->lists ? p->lists[i] : NULL);
    }
    mb_free(p->values);
    mb_free(p->text);
    mb_free(p->lists);
    memset(p, 0, sizeof *p);
}

mb_status mb_params_parse(mb_params *p, const mb_model_type *type, const char *const *settings,
                          size_t nsettings, mb_error *err)
{
    memset(p, 0, sizeof *p);
    p->type = type;
    p->n = type->nparams;
    p->values = mb_calloc(p->n + 1, sizeof *p->values);
    p->text = mb_calloc(p->n + 1, sizeof *p->text);
    p->lists = mb_calloc(p->n + 1, sizeof *p->lists);
    for (size_t i = 0; i < p->n; i++) {
        const char *why = parse_value(&type->params[i], type->params[i].def, &p->values[i], &p->lists[i]);
        if (why) {
            mb_status rc = mb_fail(err, MB_EARG, "model '%s': the default of '%s' ('%s') is invalid: %s",
                                   type->name, type->params[i].name, type->params[i].def, why);
            mb_params_free(p);
            return rc;
        }
        p->text[i] = mb_strdup(type->params[i].def);
    }
    for (size_t k = 0; k < nsettings; k++) {
        const char *eq = strchr(settings[k], '=');
        size_t i = p->n;
        if (eq)
            for (i = 0; i < p->n; i++)
                if (strlen(type->params[i].name) == (size_t)(eq - settings[k]) &&
                    strncmp(type->params[i].name, settings[k], (size_t)(eq - settings[k])) == 0)
                    break;
        if (!eq || i == p->n) {
            char names[512] = "";
            size_t len = 0;
            for (size_t j = 0; j < p->n && len < sizeof names; j++)
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", j ? ", " : "",
                                        type->params[j].name);
            mb_status rc = mb_fail(err, MB_EARG,
                                   !eq ? "model '%s': expected key=value, got '%s' (parameters: %s)"
                                       : "model '%s': unknown parameter in '%s' (parameters: %s)",
                                   type->name, settings[k], p->n ? names : "none");
            mb_params_free(p);
            return rc;
        }
        const char *why = parse_value(&type->params[i], eq + 1, &p->values[i], &p->lists[i]);
        if (why) {
            char desc[512];
            mb_param_describe(&type->params[i], desc, sizeof desc);
            mb_status rc = mb_fail(err, MB_EARG, "model '%s': %s: '%s' is %s; %s", type->name,
                                   type->params[i].name, eq + 1, why, desc);
            mb_params_free(p);
            return rc;
        }
        mb_free(p->text[i]);
        p->text[i] = mb_strdup(eq + 1);
    }
    return MB_OK;
}

/* {====== calling models ======} */

/* A plugin's failure as our error: its message, prefixed with the model
** and the call. */
static mb_status plugin_fail(const mb_model *m, int code, const char *what, char *msg, mb_error *err)
{
    msg[MB_PLUGIN_ERRLEN - 1] = '\0';
    if (code == MB_PLUGIN_ECANCELLED)
        return mb_fail(err, MB_ECANCELLED, "model '%s' (%s): cancelled", m->type->name, what);
    mb_status st = code == MB_PLUGIN_ENOMEM ? MB_ENOMEM : code == MB_PLUGIN_EFORMAT ? MB_EFORMAT : MB_EARG;
    return mb_fail(err, st, "model '%s' (%s): %s", m->type->name, what,
                   msg[0] ? msg : "failed without a message");
}

mb_status mb_model_create(mb_model **out, const mb_model_type *type, const mb_loaded_plugin *owner,
                          mb_params *params, mb_error *err)
{
    mb_model *m = mb_calloc(1, sizeof *m);
    m->type = type;
    m->owner = owner;
    m->params = *params;
    memset(params, 0, sizeof *params);
    char msg[MB_PLUGIN_ERRLEN] = "";
    int rc = type->create(m->params.values, &host, &m->impl, msg);
    if (rc != MB_PLUGIN_OK) {
        mb_status st = plugin_fail(m, rc, "create", msg, err);
        mb_params_free(&m->params);
        mb_free(m);
        *out = NULL;
        return st;
    }
    *out = m;
    return MB_OK;
}

void mb_model_free(mb_model **pm)
{
    if (!pm || !*pm)
        return;
    mb_model *m = *pm;
    if (m->impl)
        m->type->destroy(m->impl);
    mb_params_free(&m->params);
    mb_free(m);
    *pm = NULL;
}

static int task_supported(const mb_model_type *t, mb_task task) { return (t->tasks & (unsigned)task) != 0; }

static const char *task_name(mb_task t)
{
    return t == MB_TASK_REGRESSION ? "regression" : t == MB_TASK_BINARY ? "binary classification"
                                                                        : "multiclass classification";
}

mb_status mb_model_fit(mb_model *m, const mb_dataset *train, const mb_dataset *valid,
                       const mb_fit_context *ctx, mb_error *err)
{
    if (!task_supported(m->type, train->task))
        return mb_fail(err, MB_EARG, "model '%s' does not do %s", m->type->name, task_name(train->task));
    if (train->X.rows == 0)
        return mb_fail(err, MB_EEMPTY, "model '%s': no training rows", m->type->name);
    if (valid && valid->X.cols != train->X.cols)
        return mb_fail(err, MB_ESHAPE, "model '%s': validation data has %zu features, training data %zu",
                       m->type->name, valid->X.cols, train->X.cols);
    char msg[MB_PLUGIN_ERRLEN] = "";
    int rc = m->type->fit(m->impl, train, valid, ctx, msg);
    if (rc != MB_PLUGIN_OK)
        return plugin_fail(m, rc, "fit", msg, err);
    m->task = train->task;
    m->nfeatures = train->X.cols;
    m->nclasses = train->nclasses;
    mb_audit_fit_event(m, train->X.rows); /* every fit is audited (audit.h) */
    return MB_OK;
}

mb_status mb_model_fit_info(mb_model *m, mb_fit_info *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    if (!HAS_MEMBER(m->type, fit_info) || !m->type->fit_info || m->nfeatures == 0)
        return MB_OK;
    char msg[MB_PLUGIN_ERRLEN] = "";
    int rc = m->type->fit_info(m->impl, out, msg);
    if (rc != MB_PLUGIN_OK) {
        memset(out, 0, sizeof *out);
        return plugin_fail(m, rc, "fit_info", msg, err);
    }
    if (out->n && (!out->names || !out->values)) {
        memset(out, 0, sizeof *out);
        return mb_fail(err, MB_EFORMAT, "model '%s' (fit_info): NULL names or values", m->type->name);
    }
    return MB_OK;
}

static mb_status check_predict(const mb_model *m, const mb_matrix *X, mb_error *err)
{
    if (m->nfeatures == 0)
        return mb_fail(err, MB_EARG, "model '%s' is not fitted", m->type->name);
    if (X->cols != m->nfeatures)
        return mb_fail(err, MB_ESHAPE, "model '%s' was fitted on %zu features, this data has %zu",
                       m->type->name, m->nfeatures, X->cols);
    return MB_OK;
}

mb_status mb_model_predict(mb_model *m, const mb_matrix *X, float *out, mb_error *err)
{
    mb_status st = check_predict(m, X, err);
    if (st != MB_OK)
        return st;
    /* only the first byte: "" initialisation would zero all 512 bytes on
    ** every call, the single-row hot path; plugin_fail bounds the read */
    char msg[MB_PLUGIN_ERRLEN];
    msg[0] = '\0';
    int rc = m->type->predict(m->impl, X, out, msg);
    return rc == MB_PLUGIN_OK ? MB_OK : plugin_fail(m, rc, "predict", msg, err);
}

mb_status mb_model_predict_proba(mb_model *m, const mb_matrix *X, float *out, mb_error *err)
{
    mb_status st = check_predict(m, X, err);
    if (st != MB_OK)
        return st;
    if (m->task == MB_TASK_REGRESSION || !m->type->predict_proba)
        return mb_fail(err, MB_EARG, "model '%s' gives no class probabilities", m->type->name);
    char msg[MB_PLUGIN_ERRLEN];
    msg[0] = '\0'; /* as in mb_model_predict */
    int rc = m->type->predict_proba(m->impl, X, out, msg);
    return rc == MB_PLUGIN_OK ? MB_OK : plugin_fail(m, rc, "predict_proba", msg, err);
}

/* {====== state in memory ======} */

size_t mb_dtype_size(mb_dtype t)
{
    switch (t) {
    case MB_DT_F32:
    case MB_DT_I32:
        return 4;
    case MB_DT_F64:
    case MB_DT_I64:
        return 8;
    case MB_DT_U8:
        return 1;
    }
    return 0;
}

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static mb_state_array *state_find(mb_state *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->arrays[i].name, name) == 0)
            return &s->arrays[i];
    return NULL;
}

static int state_put(void *ud, const char *name, mb_dtype type, const void *data, size_t count)
{
    mb_state *s = ud;
    size_t es = mb_dtype_size(type), bytes;
    if (!es || !valid_name(name) || state_find(s, name) || !mb_mul_ok(es, count, &bytes))
        return MB_PLUGIN_EINVAL;
    void *copy = mb_trymalloc(bytes);
    if (!copy)
        return MB_PLUGIN_ENOMEM;
    if (bytes)
        memcpy(copy, data, bytes);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->arrays = mb_realloc(s->arrays, s->cap * sizeof *s->arrays);
    }
    mb_state_array *a = &s->arrays[s->n++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->type = type;
    a->count = count;
    a->data = copy;
    return MB_PLUGIN_OK;
}

static int state_size(void *ud, const char *name, mb_dtype *type, size_t *count)
{
    mb_state_array *a = state_find(ud, name);
    if (!a)
        return MB_PLUGIN_EFORMAT;
    *type = a->type;
    *count = a->count;
    return MB_PLUGIN_OK;
}

/* Read element i of an array of type t as double / int64. */
static double elem_f(const void *d, mb_dtype t, size_t i)
{
    switch (t) {
    case MB_DT_F32:
        return (double)((const float *)d)[i];
    case MB_DT_F64:
        return ((const double *)d)[i];
    case MB_DT_I32:
        return (double)((const int32_t *)d)[i];
    case MB_DT_I64:
        return (double)((const int64_t *)d)[i];
    case MB_DT_U8:
        return (double)((const uint8_t *)d)[i];
    }
    return 0;
}

static int state_get(void *ud, const char *name, mb_dtype type, void *data, size_t count)
{
    mb_state_array *a = state_find(ud, name);
    if (!a || a->count != count)
        return MB_PLUGIN_EFORMAT;
    if (a->type == type) {
        if (count)
            memcpy(data, a->data, count * mb_dtype_size(type));
        return MB_PLUGIN_OK;
    }
    for (size_t i = 0; i < count; i++) {
        double v = elem_f(a->data, a->type, i);
        /* a conversion to an integer type must be exact and in range:
        ** anything else is damaged state (and undefined behaviour in C) */
        if ((type == MB_DT_F32 && isfinite(v) && fabs(v) > (double)FLT_MAX) ||
            (type == MB_DT_I32 && !(v >= INT32_MIN && v <= INT32_MAX && v == floor(v))) ||
            (type == MB_DT_U8 && !(v >= 0 && v <= 255 && v == floor(v))) ||
            (type == MB_DT_I64 && a->type != MB_DT_I64 && !(v >= -9.2e18 && v <= 9.2e18 && v == floor(v))))
            return MB_PLUGIN_EFORMAT;
        switch (type) {
        case MB_DT_F32:
            ((float *)data)[i] = (float)v;
            break;
        case MB_DT_F64:
            ((double *)data)[i] = v;
            break;
        case MB_DT_I32:
            ((int32_t *)data)[i] = (int32_t)v;
            break;
        case MB_DT_I64:
            ((int64_t *)data)[i] = a->type == MB_DT_I64 ? ((const int64_t *)a->data)[i] : (int64_t)v;
            break;
        case MB_DT_U8:
            ((uint8_t *)data)[i] = (uint8_t)v;
            break;
        }
    }
    return MB_PLUGIN_OK;
}

mb_state_writer mb_state_writer_for(mb_state *s) { return (mb_state_writer){s, state_put}; }

mb_state_reader mb_state_reader_for(mb_state *s) { return (mb_state_reader){s, state_size, state_get}; }

void mb_state_clear(mb_state *s)
{
    for (size_t i = 0; i < s->n; i++)
        mb_free(s->arrays[i].data);
    mb_free(s->arrays);
    memset(s, 0, sizeof *s);
}
