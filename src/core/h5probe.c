/*
** h5probe.c: the forked probe that reads a data file's metadata before
** moonbench trusts the file in its own process.
**
** DESIGN
** ------
** libhdf5 is not safe against damaged or crafted files: random byte flips
** crash it inside attribute reads and group iteration, and a small file
** can make it allocate gigabytes. So before a data file (not a bundle:
** bundles are sealed and checked before HDF5 parses them) is read in this
** process, a child process walks all of its metadata, every object
** header, link, type, dataspace, filter pipeline and attribute value, the
** same walk `moonbench inspect` prints (h5walk.c), under an address-space
** limit (MOONBENCH_PROBE_MEMORY MiB above what the process already maps)
** and a time limit (MOONBENCH_PROBE_SECONDS). It reports over a pipe. If
** the child dies or runs out of time, the caller gets "FILE: damaged (the
** HDF5 library failed reading it)" and nothing else happens here; if the
** walk fails with a message (a limit, a file HDF5 cannot open), that
** message. Then the parent reads, with its own size checks, only what the
** child has shown safe to parse.
**
** A file that passed is remembered by device, inode, size and change time
** (16 entries), so the workbench reading rows on screen forks once per
** file, not per screen. The cost is one fork and one metadata walk: about
** a millisecond on the bundled datasets (docs/security.md has the figure).
**
** Threads: the probe forks; the child runs only HDF5 and this file's code,
** then _exit()s. A process whose other threads are inside HDF5 at that
** moment may leave the child waiting on their lock: it then runs out of
** time and the file is reported damaged, never read unchecked. The cache
** is guarded by a mutex.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "h5int.h"

#if defined(__SANITIZE_ADDRESS__)
#define MB_PROBE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MB_PROBE_ASAN 1
#endif
#endif
#ifndef MB_PROBE_ASAN
#define MB_PROBE_ASAN 0
#endif

/* {====== files already probed ======} */

typedef struct probed {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec ctime, mtime;
} probed;

#define NPROBED 16
static probed cache[NPROBED];
static size_t ncache, nextslot;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int same_file(const probed *p, const struct stat *sb)
{
    return p->dev == sb->st_dev && p->ino == sb->st_ino && p->size == sb->st_size &&
           p->ctime.tv_sec == sb->st_ctim.tv_sec && p->ctime.tv_nsec == sb->st_ctim.tv_nsec &&
           p->mtime.tv_sec == sb->st_mtim.tv_sec && p->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

static int cache_has(const struct stat *sb)
{
    int found = 0;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < ncache && !found; i++)
        found = same_file(&cache[i], sb);
    pthread_mutex_unlock(&cache_lock);
    return found;
}

static void cache_add(const struct stat *sb)
{
    pthread_mutex_lock(&cache_lock);
    probed *p = &cache[nextslot];
    nextslot = (nextslot + 1) % NPROBED;
    if (ncache < NPROBED)
        ncache++;
    *p = (probed){sb->st_dev, sb->st_ino, sb->st_size, sb->st_ctim, sb->st_mtim};
    pthread_mutex_unlock(&cache_lock);
}

/* {====== the child ======} */

typedef struct report {
    int magic;             /* REPORT_MAGIC: a complete report */
    int code;              /* mb_status of the walk */
    char msg[sizeof(((mb_error *)0)->msg)];
} report;
#define REPORT_MAGIC 0x6d627072

static int no_visit(const mb_h5_node *node, void *ud)
{
    (void)node;
    (void)ud;
    return 0;
}

/* Bytes of address space the process maps now (for the limit above it). */
static size_t mapped_bytes(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (fp) {
        if (fscanf(fp, "%lu", &pages) != 1)
            pages = 0;
        fclose(fp);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

static void child(const char *path, int fd)
{
    const mbh5_limits *lim = mbh5_get_limits();
    /* Quiet: a crash here must not print into the user's terminal. */
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0 && !getenv("MOONBENCH_PROBE_DEBUG")) {
        dup2(devnull, 1);
        dup2(devnull, 2);
    }
    /* The default action for faults: a handler inherited from the host (a
    ** test runner's longjmp, a UI's terminal restore) must not run here. */
    const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM, SIGXCPU, SIGINT, SIGTERM};
    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++)
        signal(faults[i], SIG_DFL);
    alarm((unsigned)lim->probe_seconds);
    struct rlimit cpu = {(rlim_t)lim->probe_seconds + 1, (rlim_t)lim->probe_seconds + 2};
    setrlimit(RLIMIT_CPU, &cpu);
    if (!MB_PROBE_ASAN) { /* ASan's shadow memory needs terabytes of address space */
        size_t extra = lim->probe_mb > SIZE_MAX / 2 >> 20 ? SIZE_MAX / 2 : lim->probe_mb << 20;
        struct rlimit as = {(rlim_t)(mapped_bytes() + extra), (rlim_t)(mapped_bytes() + extra)};
        setrlimit(RLIMIT_AS, &as);
    }
    report r;
    memset(&r, 0, sizeof r);
    mb_error err = {0};
    r.code = (int)mbh5_walk_file(path, NULL, no_visit, NULL, &err);
    if (r.code != MB_OK)
        memcpy(r.msg, err.msg, sizeof r.msg);
    r.magic = REPORT_MAGIC;
    write_all(fd, &r, sizeof r);
    _exit(0); /* no atexit handlers: the parent's HDF5 files stay as they are */
}

/* {====== the parent ======} */

mb_status mbh5_probe(const char *path, mb_error *err)
{
    mbh5_init();
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mb_fail(err, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return mb_fail(err, MB_EFORMAT, "%s: not a regular file", path);
    int sig = mbh5_has_signature(path);
    if (sig <= 0)
        return sig < 0 ? mb_fail(err, MB_EIO, "%s: %s", path, strerror(errno))
                       : mb_fail(err, MB_EFORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
    if (cache_has(&sb))
        return MB_OK;
    int fds[2];
    if (pipe(fds) != 0)
        return mb_fail(err, MB_EIO, "%s: cannot check the file (pipe: %s)", path, strerror(errno));
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    fflush(NULL); /* the child must not write out the parent's buffered output */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return mb_fail(err, MB_EIO, "%s: cannot check the file (fork: %s)", path, strerror(e));
    }
    if (pid == 0) {
        close(fds[0]);
        child(path, fds[1]);
    }
    close(fds[1]);
    report r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = read(fds[0], (char *)&r + got, sizeof r - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != sizeof r || r.magic != REPORT_MAGIC) {
        if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGALRM || WTERMSIG(status) == SIGXCPU))
            return mb_fail(err, MB_EH5,
                           "%s: damaged (the HDF5 library failed reading it: no answer in %zu s; "
                           "MOONBENCH_PROBE_SECONDS raises the limit)",
                           path, mbh5_get_limits()->probe_seconds);
        return mb_fail(err, MB_EH5, "%s: damaged (the HDF5 library failed reading it)", path);
    }
    if (r.code != MB_OK) {
        r.msg[sizeof r.msg - 1] = '\0';
        return mb_fail(err, (mb_status)r.code, "%s", r.msg);
    }
    cache_add(&sb);
    return MB_OK;
}

/* Test hook: forget every file probed (tests measure the probe's cost). */
void mbh5_probe_forget(void);
void mbh5_probe_forget(void)
{
    pthread_mutex_lock(&cache_lock);
    ncache = nextslot = 0;
    pthread_mutex_unlock(&cache_lock);
}
