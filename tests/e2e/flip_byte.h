/* For the LD_PRELOAD shims of the tests (cache_flip.c, readback_flip.c):
 * changes one byte on disk of the file open at `fd`, when its path contains
 * `where` (NULL: any file), as a faulty medium or another writer would. */
#ifndef AIRLOCK_TEST_FLIP_BYTE_H
#define AIRLOCK_TEST_FLIP_BYTE_H

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void flip_byte(int fd, const char *where, off_t at)
{
    char link[64], path[PATH_MAX];
    unsigned char c;
    ssize_t n;
    int w;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0)
        return;
    path[n] = '\0';
    if (where != NULL && strstr(path, where) == NULL)
        return;
    w = open(path, O_RDWR | O_CLOEXEC);
    if (w < 0)
        return;
    if (pread(w, &c, 1, at) == 1) {
        c ^= 0xff;
        if (pwrite(w, &c, 1, at) != 1)
            perror("flip_byte");
    }
    close(w);
}

#endif
