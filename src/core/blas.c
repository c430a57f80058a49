/*
** blas.c: the OpenBLAS kernel: ask the library (in a child), decide with
** cpu.c, set OPENBLAS_CORETYPE before any plugin loads OpenBLAS (see blas.h).
*/
#define _DEFAULT_SOURCE /* setenv, RTLD_NOLOAD */
#include "blas.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu.h"

#define OPENBLAS_SONAME "libopenblas.so.0"

/* The kernel name and the version of a loaded OpenBLAS; 0 or -1. */
static int query(void *h, char kernel[32], char version[32])
{
    char *(*corename)(void) = (char *(*)(void))dlsym(h, "openblas_get_corename");
    char *(*config)(void) = (char *(*)(void))dlsym(h, "openblas_get_config");
    if (!corename || !config)
        return -1;
    snprintf(kernel, 32, "%s", corename());
    /* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." */
    const char *c = config();
    version[0] = 0;
    if (c && strncmp(c, "OpenBLAS ", 9) == 0)
        snprintf(version, 32, "%.*s", (int)strcspn(c + 9, " "), c + 9);
    return 0;
}

/* What OpenBLAS runs with OPENBLAS_CORETYPE=coretype (unset when NULL),
** asked in a child so this process stays free of OpenBLAS. 0 or -1. */
static int probe(const char *coretype, char kernel[32], char version[32])
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2); /* OpenBLAS's own warnings */
        if (coretype)
            setenv("OPENBLAS_CORETYPE", coretype, 1);
        else
            unsetenv("OPENBLAS_CORETYPE");
        setenv("OPENBLAS_NUM_THREADS", "1", 1); /* no thread pool to start */
        char k[32], v[32], line[80];
        void *h = dlopen(OPENBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (!h || query(h, k, v) != 0)
            _exit(1);
        int n = snprintf(line, sizeof line, "%s %s", k, v);
        _exit(write(fd[1], line, (size_t)n) == n ? 0 : 1);
    }
    close(fd[1]);
    char line[80];
    size_t got = 0;
    struct pollfd p = {.fd = fd[0], .events = POLLIN};
    while (got < sizeof line - 1 && poll(&p, 1, 2000) == 1) {
        ssize_t r = read(fd[0], line + got, sizeof line - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd[0]);
    kill(pid, SIGKILL); /* harmless when it has exited; ends a hung child */
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    line[got] = 0;
    char *sp = strchr(line, ' ');
    if (!sp || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    *sp = 0;
    snprintf(kernel, 32, "%.31s", line);
    snprintf(version, 32, "%.31s", sp + 1);
    return 0;
}

/* OPENBLAS_CORETYPE set by a moonbench that started this process:
** MOONBENCH_BLAS_CHOICE is "kernel/library" with the same kernel. */
static int inherited(const char *user, mb_blas_info *b)
{
    const char *m = getenv("MOONBENCH_BLAS_CHOICE");
    const char *slash = m ? strchr(m, '/') : NULL;
    if (!slash || strlen(user) != (size_t)(slash - m) || strncasecmp(m, user, strlen(user)) != 0)
        return 0;
    snprintf(b->library, sizeof b->library, "%s", slash + 1);
    return 1;
}

static void select_kernel(mb_blas_info *b)
{
    mb_cpu_facts f;
    mb_cpu_read(&f);
    void *h = dlopen(OPENBLAS_SONAME, RTLD_NOW | RTLD_NOLOAD);
    if (h) { /* loaded before us (the Lua module in a host that uses it) */
        b->how = query(h, b->kernel, b->version) == 0 ? MB_BLAS_PRELOADED : MB_BLAS_NONE;
        const char *k = mb_cpu_choose_kernel(&f, NULL, b->kernel);
        snprintf(b->better, sizeof b->better, "%s", k ? k : "");
        dlclose(h);
        return;
    }
    const char *user = getenv("OPENBLAS_CORETYPE");
    if (user && *user) {
        if (probe(user, b->kernel, b->version) != 0)
            return;
        b->how = inherited(user, b) ? MB_BLAS_CHOSEN : MB_BLAS_USER;
        return;
    }
    if (probe(NULL, b->library, b->version) != 0)
        return;
    b->how = MB_BLAS_LIBRARY;
    snprintf(b->kernel, sizeof b->kernel, "%s", b->library);
    char got[32], v[32];
    for (const char *k = mb_cpu_choose_kernel(&f, NULL, b->library); k;
         k = mb_cpu_next_kernel(k, b->library)) {
        /* the library must report the kernel back: a build without it runs another */
        if (probe(k, got, v) == 0 && strcasecmp(got, k) == 0) {
            char marker[80];
            snprintf(marker, sizeof marker, "%s/%s", got, b->library);
            setenv("OPENBLAS_CORETYPE", k, 1);
            setenv("MOONBENCH_BLAS_CHOICE", marker, 1);
            snprintf(b->kernel, sizeof b->kernel, "%s", got);
            b->how = MB_BLAS_CHOSEN;
            return;
        }
    }
}

const mb_blas_info *mb_blas_select(void)
{
    static mb_blas_info info;
    static int done;
    if (!done) {
        done = 1;
        select_kernel(&info);
    }
    return &info;
}

void mb_blas_describe(const mb_blas_info *b, char *buf, size_t n)
{
    switch (b->how) {
    case MB_BLAS_NONE:
        snprintf(buf, n, "BLAS: OpenBLAS (" OPENBLAS_SONAME ") could not be loaded");
        break;
    case MB_BLAS_LIBRARY:
        snprintf(buf, n, "BLAS: OpenBLAS %s, kernel %s (the library's own choice)", b->version, b->kernel);
        break;
    case MB_BLAS_CHOSEN:
        snprintf(buf, n, "BLAS: OpenBLAS %s, kernel %s (chosen by moonbench: the library would use %s on this CPU)",
                 b->version, b->kernel, b->library);
        break;
    case MB_BLAS_USER:
        snprintf(buf, n, "BLAS: OpenBLAS %s, kernel %s (OPENBLAS_CORETYPE set by the user)", b->version, b->kernel);
        break;
    case MB_BLAS_PRELOADED:
        if (b->better[0])
            snprintf(buf, n, "BLAS: OpenBLAS %s, kernel %s (OpenBLAS was loaded before moonbench, too late to choose: "
                             "start with OPENBLAS_CORETYPE=%s for the faster kernel)", b->version, b->kernel, b->better);
        else
            snprintf(buf, n, "BLAS: OpenBLAS %s, kernel %s (OpenBLAS was loaded before moonbench; its choice is the best)",
                     b->version, b->kernel);
        break;
    }
}

int mb_blas_loaded(char kernel[32])
{
    char version[32];
    void *h = dlopen(OPENBLAS_SONAME, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return -1;
    int rc = query(h, kernel, version);
    dlclose(h);
    return rc;
}
