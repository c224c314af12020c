#include "airlock/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct al_lock {
    int fd;
    char *path;
};

/* DIR/.lock for a directory, else .BASE.lock beside `what`. */
static char *lock_path(const char *what)
{
    const char *slash = strrchr(what, '/');
    size_t n = strlen(what) + 16;
    char *p = malloc(n);
    struct stat st;

    if (p == NULL)
        return NULL;
    if (stat(what, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(p, n, "%s/.lock", what);
    else if (slash != NULL)
        snprintf(p, n, "%.*s/.%s.lock", (int)(slash - what), what, slash + 1);
    else
        snprintf(p, n, ".%s.lock", what);
    return p;
}

/* Opens the lock file, refusing a link, a non-file and another user's file. */
static int open_lock(const char *path, const char *what, struct stat *st,
                     struct al_err *e)
{
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);

    if (fd < 0 && errno == ELOOP)
        return al_err_set(e, AL_EIO, "the lock '%s' is a link: remove it", path);
    if (fd < 0)
        return al_err_sys(e, AL_EIO, errno, "cannot create the lock '%s' for '%s'", path,
                          what);
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return al_err_set(e, AL_EIO, "the lock '%s' is not a regular file: remove it", path);
    }
    if (st->st_uid != geteuid()) {
        close(fd);
        return al_err_set(e, AL_EIO, "the lock '%s' belongs to another user: remove it, "
                          "and write '%s' to a directory only you can write to", path, what);
    }
    return fd;
}

static int busy(int fd, const char *what, const char *purpose, struct al_err *e)
{
    char pid_text[32] = "";
    ssize_t k = pread(fd, pid_text, sizeof(pid_text) - 1, 0);

    pid_text[k > 0 ? k : 0] = '\0';
    pid_text[strcspn(pid_text, "\n")] = '\0';
    return al_err_set(e, AL_EBUSY, "another run (pid %s) is %s '%s': wait for it to finish",
                      pid_text[0] ? pid_text : "unknown", purpose, what);
}

/* Locks the file at `path`; 1 when the file was unlinked by a run that
 * released it meanwhile (try again), 0 when held, or an error. */
static int lock_once(struct al_lock *l, const char *what, const char *purpose,
                     struct al_err *e)
{
    struct stat st, now;
    int rc;

    l->fd = open_lock(l->path, what, &st, e);
    if (l->fd < 0)
        return l->fd;
    if (flock(l->fd, LOCK_EX | LOCK_NB) != 0) {
        rc = busy(l->fd, what, purpose, e);
        close(l->fd);
        return rc;
    }
    if (lstat(l->path, &now) != 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
        close(l->fd);
        return 1;
    }
    return 0;
}

int al_lock_acquire(struct al_lock **out, const char *what, const char *purpose,
                    struct al_err *e)
{
    char pid_text[32];
    struct al_lock *l;
    int rc = 1, tries;

    *out = NULL;
    l = calloc(1, sizeof(*l));
    if (l == NULL || (l->path = lock_path(what)) == NULL) {
        free(l);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    for (tries = 0; rc == 1 && tries < 100; tries++)
        rc = lock_once(l, what, purpose, e);
    if (rc == 1)
        rc = al_err_set(e, AL_EBUSY, "the lock '%s' keeps changing: is another run "
                        "starting and stopping?", l->path);
    if (rc != 0) {
        free(l->path);
        free(l);
        return rc;
    }
    snprintf(pid_text, sizeof(pid_text), "%ld\n", (long)getpid());
    if (ftruncate(l->fd, 0) != 0 ||
        pwrite(l->fd, pid_text, strlen(pid_text), 0) != (ssize_t)strlen(pid_text))
        (void)0;   /* the pid is only for the message of a colliding run */
    *out = l;
    return 0;
}

void al_lock_release(struct al_lock *l)
{
    if (l == NULL)
        return;
    /* removed while still held: a run that opened it meanwhile sees that
     * its file is gone once it holds it, and starts over */
    unlink(l->path);
    close(l->fd);
    free(l->path);
    free(l);
}
