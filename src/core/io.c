/*
** io.c: from a name ("data.csv", "data.h5:/train/X") to a frame, choosing
** the reader by the file's signature, then by its extension.
*/
#include "io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "csv.h"
#include "h5io.h"

void mb_split_spec(const char *spec, char **file, char **object)
{
    struct stat st;
    for (const char *p = strstr(spec, ":/"); p; p = strstr(p + 1, ":/")) {
        char *f = mb_strndup(spec, (size_t)(p - spec));
        if (stat(f, &st) == 0 && !S_ISDIR(st.st_mode)) {
            *file = f;
            *object = mb_strdup(p + 1);
            return;
        }
        mb_free(f);
    }
    *file = mb_strdup(spec);
    *object = NULL;
}

static int has_ext(const char *file, const char *ext)
{
    size_t n = strlen(file), e = strlen(ext);
    return n > e && strcasecmp(file + n - e, ext) == 0;
}

mb_format mb_guess_format(const char *file)
{
    if (mb_h5_is_hdf5(file) == 1)
        return MB_FMT_HDF5;
    if (has_ext(file, ".csv") || has_ext(file, ".tsv") || has_ext(file, ".txt"))
        return MB_FMT_CSV;
    return MB_FMT_UNKNOWN;
}

mb_status mb_open(const char *spec, mb_frame **out, mb_error *err)
{
    char *file, *object;
    mb_status rc;
    *out = NULL;
    mb_split_spec(spec, &file, &object);
    struct stat st;
    if (stat(file, &st) != 0) {
        rc = mb_fail(err, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "%s: %s", file, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        rc = mb_fail(err, MB_EARG, "%s: is a folder, expected an HDF5 or CSV file", file);
    } else {
        switch (mb_guess_format(file)) {
        case MB_FMT_HDF5:
            rc = mb_h5_read(file, object, 0, 0, out, err);
            break;
        case MB_FMT_CSV:
            if (object)
                rc = mb_fail(err, MB_EARG, "%s: a CSV file has no objects inside (drop ':%s')", file, object);
            else if ((rc = mb_csv_load(file, NULL, out, err)) == MB_OK && !(*out)->source)
                (*out)->source = mb_strdup(file);
            break;
        default:
            rc = mb_fail(err, MB_EFORMAT,
                         "%s: not an HDF5 file (no HDF5 signature) and not named .csv/.tsv/.txt", file);
        }
    }
    if (rc == MB_OK) /* the data files a later audit event names (audit.h) */
        mb_audit_note_input(file);
    mb_free(file);
    mb_free(object);
    return rc;
}

/* {====== atomic writes ======} */

static const char *file_kind(mode_t m)
{
    return S_ISLNK(m)    ? "a symbolic link"
           : S_ISDIR(m)  ? "a folder"
           : S_ISFIFO(m) ? "a FIFO (named pipe)"
           : S_ISSOCK(m) ? "a socket"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
                         : "not a regular file";
}

mb_status mb_output_check(const char *path, mb_error *err)
{
    struct stat st;
    if (!path || !*path)
        return mb_fail(err, MB_EARG, "an empty output path");
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return MB_OK; /* a new file */
        return mb_fail(err, MB_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return mb_fail(err, MB_EARG,
                       "refusing to write %s: it is %s; moonbench writes only new files or replaces regular ones",
                       path, file_kind(st.st_mode));
    return MB_OK;
}

mb_status mb_output_check_inputs(const char *output, const char *const *inputs, size_t ninputs, mb_error *err)
{
    struct stat so, si;
    mb_status rc = mb_output_check(output, err);
    if (rc != MB_OK)
        return rc;
    if (stat(output, &so) != 0)
        return MB_OK; /* a new file is no input */
    for (size_t i = 0; i < ninputs; i++) {
        if (!inputs[i])
            continue;
        char *file, *object;
        mb_split_spec(inputs[i], &file, &object);
        int same = stat(file, &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino;
        mb_free(file);
        mb_free(object);
        if (same)
            return mb_fail(err, MB_EARG,
                           "refusing to write %s: it is the input %s (writing it would destroy what is read); "
                           "choose another output name",
                           output, inputs[i]);
    }
    return MB_OK;
}

int mb_tmp_create(const char *path, char **tmp, mb_error *err)
{
    *tmp = NULL;
    if (mb_output_check(path, err) != MB_OK)
        return -1;
    size_t tl = strlen(path) + 16;
    *tmp = mb_malloc(tl);
    snprintf(*tmp, tl, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(*tmp);
    if (fd < 0) {
        int e = errno;
        mb_free(*tmp);
        *tmp = NULL;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (e == ENOENT && slash) {
            *slash = '\0';
            mb_fail(err, MB_ENOTFOUND, "cannot write %s: folder '%s' does not exist", path, dir[0] ? dir : "/");
        } else {
            mb_fail(err, MB_EIO, "cannot write %s: %s", path, strerror(e));
        }
        return -1;
    }
    /* mkstemp makes the file private; publish it as a new file would be */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    return fd;
}

mb_status mb_tmp_publish(int fd, char **tmp, const char *path, mb_error *err)
{
    mb_status rc = MB_OK;
    if (fd >= 0) {
        if (fsync(fd) < 0)
            rc = mb_fail(err, MB_EIO, "cannot write %s: %s", path, strerror(errno));
        close(fd);
    }
    if (rc == MB_OK)
        rc = mb_output_check(path, err);
    if (rc == MB_OK && rename(*tmp, path) < 0)
        rc = mb_fail(err, MB_EIO, "cannot rename %s to %s: %s", *tmp, path, strerror(errno));
    if (rc != MB_OK)
        unlink(*tmp);
    mb_free(*tmp);
    *tmp = NULL;
    return rc;
}

void mb_tmp_discard(char **tmp)
{
    if (!*tmp)
        return;
    unlink(*tmp);
    mb_free(*tmp);
    *tmp = NULL;
}
