#include "airlock/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/digest.h"

struct al_lock {
    int fd;
};

/* The absolute form of `what`, even when it does not exist yet. */
static int absolute(const char *what, char *out, size_t n)
{
    char *copy = strdup(what), *dir, *base, real[PATH_MAX];
    int rc = -1;

    if (copy == NULL)
        return -1;
    if (realpath(what, real) != NULL) {
        snprintf(out, n, "%s", real);
        rc = 0;
    } else {
        char *copy2 = strdup(what);
        dir = dirname(copy);
        base = copy2 ? basename(copy2) : NULL;
        if (base != NULL && realpath(dir, real) != NULL) {
            snprintf(out, n, "%s/%s", real, base);
            rc = 0;
        }
        free(copy2);
    }
    free(copy);
    return rc;
}

int al_lock_acquire(struct al_lock **out, const char *what, const char *purpose,
                    struct al_err *e)
{
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    char abs_path[PATH_MAX + 1], digest[AL_DIGEST_STR_MAX], path[PATH_MAX + 100];
    char pid_text[32] = "";
    struct al_lock *l;
    struct stat st;
    ssize_t k;

    *out = NULL;
    if (absolute(what, abs_path, sizeof(abs_path)) != 0)
        snprintf(abs_path, sizeof(abs_path), "%s", what);
    al_sha256_digest(abs_path, strlen(abs_path), digest);
    snprintf(path, sizeof(path), "%s/airlock-%.16s.lock",
             runtime && runtime[0] ? runtime : "/tmp", digest + 7);
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    /* /tmp is shared: never follow a link planted there, and never write to a
     * file someone else owns */
    l->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (l->fd < 0) {
        int err = errno;
        free(l);
        return al_err_sys(e, AL_EIO, err, "cannot create the lock '%s'", path);
    }
    if (fstat(l->fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(l->fd);
        free(l);
        return al_err_set(e, AL_EIO, "the lock '%s' is not a file of this user's: "
                          "remove it, or set XDG_RUNTIME_DIR", path);
    }
    if (flock(l->fd, LOCK_EX | LOCK_NB) != 0) {
        k = pread(l->fd, pid_text, sizeof(pid_text) - 1, 0);
        pid_text[k > 0 ? k : 0] = '\0';
        pid_text[strcspn(pid_text, "\n")] = '\0';
        close(l->fd);
        free(l);
        return al_err_set(e, AL_EBUSY, "another run (pid %s) is %s '%s': wait for it "
                          "to finish", pid_text[0] ? pid_text : "unknown", purpose, what);
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
    close(l->fd);
    free(l);
}
