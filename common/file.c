#include "airlock/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEMPLATE "XXXXXX"
#define TRIES 100

static int fill_random(char *x, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[16];
    size_t i;

    if (n > sizeof(raw) || getrandom(raw, n, 0) != (ssize_t)n)
        return -1;
    for (i = 0; i < n; i++)
        x[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
    return 0;
}

int al_file_mkstemp(int dirfd, char *name, mode_t mode)
{
    size_t len = strlen(name), k = strlen(TEMPLATE);
    int i, fd;

    if (len < k || strcmp(name + len - k, TEMPLATE) != 0) {
        errno = EINVAL;
        return -1;
    }
    for (i = 0; i < TRIES; i++) {
        if (fill_random(name + len - k, k) != 0)
            return -1;
        fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int al_file_write_atomic_mode(const char *path, const void *data, size_t len,
                              mode_t mode, struct al_err *e)
{
    size_t n = strlen(path) + sizeof(".partial." TEMPLATE);
    char *tmp = malloc(n);
    int fd, rc = 0;

    if (tmp == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    snprintf(tmp, n, "%s.partial." TEMPLATE, path);
    fd = al_file_mkstemp(AT_FDCWD, tmp, mode);
    if (fd < 0) {
        rc = al_err_sys(e, AL_EIO, errno, "cannot create a temporary file for '%s'", path);
        free(tmp);
        return rc;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0)
        rc = al_err_sys(e, AL_EIO, errno, "cannot write '%s'", tmp);
    if (close(fd) != 0 && rc == 0)
        rc = al_err_sys(e, AL_EIO, errno, "cannot write '%s'", tmp);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = al_err_sys(e, AL_EIO, errno, "cannot rename '%s' to '%s'", tmp, path);
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int al_file_check_private_dir(int fd, const char *what, const char *dir,
                              struct al_err *e)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return al_err_sys(e, AL_EINVAL, errno, "cannot inspect %s '%s'", what, dir);
    if (!S_ISDIR(st.st_mode))
        return al_err_set(e, AL_EINVAL, "%s '%s' is not a directory", what, dir);
    if (st.st_uid != geteuid())
        return al_err_set(e, AL_EINVAL, "%s '%s' belongs to another user (uid %ld): "
                          "use a directory of your own", what, dir, (long)st.st_uid);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return al_err_set(e, AL_EINVAL, "%s '%s' is writable by group or others: "
                          "run chmod go-w on it, or use a directory of your own",
                          what, dir);
    return 0;
}
