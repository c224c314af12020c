/* LD_PRELOAD shim for test_volumes.sh: a file system that will not do
 * O_DIRECT, as many cannot (network and FUSE file systems, tmpfs on older
 * kernels). DIRECT_REFUSE=fcntl refuses to turn O_DIRECT on (fcntl) or to
 * open with it, =write accepts it (whatever the real file system says) and
 * then refuses every write and pwrite through it, each with EINVAL as Linux
 * does. DIRECT_REFUSE=full: a medium with no room left, every pwrite fails
 * with ENOSPC (the bundle writer's own thread uses write). Each refusal appends a line to
 * the file DIRECT_REFUSE_LOG, so that a test can tell the refusal happened
 * (a writer that no longer asks for O_DIRECT would pass it without ever
 * meeting one). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*fcntl_fn)(int, int, ...);

/* =write: the descriptors O_DIRECT was turned on for */
#define MAX_FDS 1024
static volatile char direct_fd[MAX_FDS];

static int refusing(const char *what)
{
    const char *mode = getenv("DIRECT_REFUSE");

    return mode != NULL && strcmp(mode, what) == 0;
}

static void note(const char *what)
{
    static ssize_t (*real_write)(int, const void *, size_t);
    const char *log = getenv("DIRECT_REFUSE_LOG");
    int fd;

    if (real_write == NULL)
        real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (log == NULL)
        return;
    fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (real_write(fd, what, strlen(what)) < 0)
        errno = 0;
    close(fd);
}

static int call_fcntl(const char *name, int fd, int cmd, va_list ap)
{
    static fcntl_fn real[2];
    fcntl_fn *f = &real[strcmp(name, "fcntl64") == 0];
    long arg = va_arg(ap, long);   /* F_SETFL's int, or a pointer: as glibc takes it */

    if (*f == NULL)
        *f = (fcntl_fn)dlsym(RTLD_NEXT, name);
    if (cmd == F_SETFL && (arg & O_DIRECT) && refusing("fcntl")) {
        note("fcntl\n");
        errno = EINVAL;
        return -1;
    }
    if (cmd == F_SETFL && refusing("write") && fd >= 0 && fd < MAX_FDS) {
        direct_fd[fd] = (arg & O_DIRECT) != 0;
        if ((*f)(fd, cmd, arg) == 0)
            return 0;
        return (*f)(fd, cmd, arg & ~(long)O_DIRECT);   /* accepted all the same */
    }
    return (*f)(fd, cmd, arg);
}

/* glibc programs call fcntl, or fcntl64 where off_t is 64 bits wide */
#define WRAP_FCNTL(name)                                  \
    int name(int fd, int cmd, ...)                        \
    {                                                     \
        va_list ap;                                       \
        int r;                                            \
        va_start(ap, cmd);                                \
        r = call_fcntl(#name, fd, cmd, ap);               \
        va_end(ap);                                       \
        return r;                                         \
    }
WRAP_FCNTL(fcntl)
WRAP_FCNTL(fcntl64)

/* open: with O_DIRECT, refused (=fcntl) or marked (=write) */
static int call_open(const char *name, const char *path, int flags, mode_t mode)
{
    static int (*real[2])(const char *, int, ...);
    int (**f)(const char *, int, ...) = &real[strcmp(name, "open64") == 0];
    int fd;

    if (*f == NULL)
        *f = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, name);
    if ((flags & O_DIRECT) && refusing("fcntl")) {
        note("open\n");
        errno = EINVAL;
        return -1;
    }
    if (!(flags & O_DIRECT) || !refusing("write"))
        return (*f)(path, flags, mode);
    fd = (*f)(path, flags & ~O_DIRECT, mode);
    if (fd >= 0 && fd < MAX_FDS)
        direct_fd[fd] = 1;
    return fd;
}

#define WRAP_OPEN(name)                                   \
    int name(const char *path, int flags, ...)            \
    {                                                     \
        mode_t mode = 0;                                  \
        if (flags & (O_CREAT | O_TMPFILE)) {              \
            va_list ap;                                   \
            va_start(ap, flags);                          \
            mode = va_arg(ap, mode_t);                    \
            va_end(ap);                                   \
        }                                                 \
        return call_open(#name, path, flags, mode);       \
    }
WRAP_OPEN(open)
WRAP_OPEN(open64)

#define WRAP_PWRITE(name)                                                      \
    ssize_t name(int fd, const void *buf, size_t count, off_t at)              \
    {                                                                          \
        static ssize_t (*real)(int, const void *, size_t, off_t);              \
        if (real == NULL)                                                      \
            real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, #name); \
        if (refusing("write") && fd >= 0 && fd < MAX_FDS && direct_fd[fd]) {   \
            note("pwrite\n");                                                 \
            errno = EINVAL;                                                    \
            return -1;                                                         \
        }                                                                      \
        if (refusing("full")) {                                                \
            note("full\n");                                                   \
            errno = ENOSPC;                                                    \
            return -1;                                                         \
        }                                                                      \
        return real(fd, buf, count, at);                                       \
    }
WRAP_PWRITE(pwrite)
WRAP_PWRITE(pwrite64)

ssize_t write(int fd, const void *buf, size_t count)
{
    static ssize_t (*real)(int, const void *, size_t);

    if (real == NULL)
        real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (refusing("write") && fd >= 0 && fd < MAX_FDS && direct_fd[fd]) {
        note("write\n");
        errno = EINVAL;
        return -1;
    }
    return real(fd, buf, count);
}

int close(int fd)
{
    static int (*real)(int);

    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "close");
    if (fd >= 0 && fd < MAX_FDS)
        direct_fd[fd] = 0;   /* the number may come back for another file */
    return real(fd);
}
