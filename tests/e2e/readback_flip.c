/* LD_PRELOAD shim for test_volumes.sh: a medium that does not keep what was
 * written. When a program drops a file's pages from the cache to read it
 * back from the medium (posix_fadvise DONTNEED, as --verify-written does),
 * one byte of that file is flipped on disk first. With READBACK_PAUSE=FILE
 * nothing is flipped: FILE is created and the call sleeps 30 s, so that a
 * test can signal the program while it commits. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "flip_byte.h"

int posix_fadvise(int fd, off_t offset, off_t len, int advice)
{
    int (*real)(int, off_t, off_t, int) =
        (int (*)(int, off_t, off_t, int))dlsym(RTLD_NEXT, "posix_fadvise");
    const char *marker = getenv("READBACK_PAUSE");
    int w;

    if (advice == POSIX_FADV_DONTNEED && marker != NULL) {
        w = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (w >= 0)
            close(w);
        sleep(30);
    } else if (advice == POSIX_FADV_DONTNEED) {
        flip_byte(fd, NULL, 100);
    }
    return real(fd, offset, len, advice);
}
