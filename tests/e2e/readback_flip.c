/* LD_PRELOAD shim for test_volumes.sh: a medium that does not keep what was
 * written. When a program drops a file's pages from the cache to read it
 * back from the medium (posix_fadvise DONTNEED, as --verify-written does),
 * one byte of that file is flipped on disk first. With READBACK_PAUSE=FILE
 * nothing is flipped: FILE is created and the call sleeps 30 s, so that a
 * test can signal the program while it commits. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int posix_fadvise(int fd, off_t offset, off_t len, int advice)
{
    int (*real)(int, off_t, off_t, int) =
        (int (*)(int, off_t, off_t, int))dlsym(RTLD_NEXT, "posix_fadvise");
    char link[64], path[PATH_MAX];
    unsigned char c;
    ssize_t n;
    int w;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (advice == POSIX_FADV_DONTNEED && getenv("READBACK_PAUSE") != NULL) {
        w = open(getenv("READBACK_PAUSE"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (w >= 0)
            close(w);
        sleep(30);
    } else if (advice == POSIX_FADV_DONTNEED && n > 0) {
        path[n] = '\0';
        w = open(path, O_RDWR | O_CLOEXEC);
        if (w >= 0 && pread(w, &c, 1, 100) == 1) {
            c ^= 0x20;
            if (pwrite(w, &c, 1, 100) != 1)
                perror("readback_flip");
        }
        if (w >= 0)
            close(w);
    }
    return real(fd, offset, len, advice);
}
