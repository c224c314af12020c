#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/file.h"
#include "airlock/lock.h"

/* Every entry is reached through descriptors of DIR/sha256 and DIR/tmp
 * opened without following a link, and never through a link inside them:
 * nothing outside the cache is read, renamed over or removed. */
struct ex_cache {
    char *dir;
    int sha_fd, tmp_fd;
    long long max;
    struct al_lock *lock;
    int look_only;   /* see ex_cache_open */
};

struct ex_cache_tee {
    FILE *f;
    char tmp[128];   /* its name in DIR/tmp */
};

void ex_cache_entry_name(const struct ex_cache *c, const char *digest, char *out,
                         size_t n)
{
    snprintf(out, n, "%s/sha256/%s", c->dir, digest + 7);
}

/* DIR/<sub>, created when missing; refused when it is a link, not a
 * directory, or not this user's alone. */
static int open_sub(struct ex_cache *c, int dfd, const char *sub, int *out,
                    struct al_err *e)
{
    char name[4200];
    int fd, rc;

    snprintf(name, sizeof(name), "%s/%s", c->dir, sub);
    if (c->look_only && faccessat(dfd, sub, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
        return 0;   /* (nothing cached yet: *out stays -1) */
    if (!c->look_only && mkdirat(dfd, sub, 0700) != 0 && errno != EEXIST)
        return al_err_sys(e, AL_EIO, errno, "cannot create '%s'", name);
    fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return al_err_set(e, AL_EINVAL, "'%s' is not a directory (a link?): remove it, "
                          "or use another --cache", name);
    rc = al_file_check_private_dir(fd, "cache", name, e);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

/* Temporaries of a run that was killed (the cache is locked: none is ours). */
static void clear_tmp(struct ex_cache *c)
{
    int fd = dup(c->tmp_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    struct stat st;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL)
        if (fstatat(c->tmp_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode))
            unlinkat(c->tmp_fd, de->d_name, 0);
    closedir(d);
}

static int open_dirs(struct ex_cache *c, struct al_err *e)
{
    int dfd, rc;

    if (!c->look_only && mkdir(c->dir, 0700) != 0 && errno != EEXIST)
        return al_err_sys(e, AL_EIO, errno, "cannot create the cache '%s'", c->dir);
    dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return al_err_sys(e, AL_EIO, errno, "cannot open the cache '%s'", c->dir);
    rc = al_file_check_private_dir(dfd, "cache", c->dir, e);
    if (rc == 0)
        rc = open_sub(c, dfd, "sha256", &c->sha_fd, e);
    if (rc == 0 && !c->look_only)
        rc = open_sub(c, dfd, "tmp", &c->tmp_fd, e);
    close(dfd);
    return rc;
}

int ex_cache_open(struct ex_cache **out, const char *dir, long long max_bytes,
                  int look_only, struct al_err *e)
{
    struct ex_cache *c = calloc(1, sizeof(*c));
    int rc;

    *out = NULL;
    if (c == NULL || (c->dir = strdup(dir)) == NULL) {
        free(c);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    c->sha_fd = c->tmp_fd = -1;
    c->max = max_bytes;
    c->look_only = look_only;
    rc = open_dirs(c, e);
    if (rc == 0 && !look_only)
        rc = al_lock_acquire(&c->lock, dir, "using the cache", e);
    if (rc != 0) {
        ex_cache_close(c);
        return rc;
    }
    if (!look_only)
        clear_tmp(c);
    *out = c;
    return 0;
}

void ex_cache_close(struct ex_cache *c)
{
    if (c == NULL)
        return;
    if (c->sha_fd >= 0)
        close(c->sha_fd);
    if (c->tmp_fd >= 0)
        close(c->tmp_fd);
    al_lock_release(c->lock);
    free(c->dir);
    free(c);
}

int ex_cache_get(struct ex_cache *c, const char *digest, long long size, int *wrong_size)
{
    struct stat st;
    int fd;

    *wrong_size = 0;
    if (c->sha_fd < 0)
        return -1;
    /* (O_NONBLOCK: a FIFO planted here must not hang the export) */
    fd = openat(c->sha_fd, digest + 7, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    if (st.st_size != size) {
        close(fd);
        if (!c->look_only)
            ex_cache_drop(c, digest);
        *wrong_size = 1;
        return -1;
    }
    fcntl(fd, F_SETFL, 0);
    if (!c->look_only)
        futimens(fd, NULL);   /* recently used */
    return fd;
}

void ex_cache_drop(struct ex_cache *c, const char *digest)
{
    struct stat st;

    if (fstatat(c->sha_fd, digest + 7, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode))
        unlinkat(c->sha_fd, digest + 7, 0);
}

struct ex_cache_tee *ex_cache_begin(struct ex_cache *c, const char *digest)
{
    struct ex_cache_tee *t = calloc(1, sizeof(*t));
    int fd;

    if (t == NULL)
        return NULL;
    snprintf(t->tmp, sizeof(t->tmp), "%s.partial.XXXXXX", digest + 7);
    fd = al_file_mkstemp(c->tmp_fd, t->tmp, 0600);
    t->f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (t->f == NULL) {
        if (fd >= 0) {
            close(fd);
            unlinkat(c->tmp_fd, t->tmp, 0);
        }
        free(t);
        return NULL;
    }
    return t;
}

int ex_cache_write(struct ex_cache_tee *t, const void *p, size_t n)
{
    return fwrite(p, 1, n, t->f) == n ? 0 : -1;
}

void ex_cache_commit(struct ex_cache *c, struct ex_cache_tee *t, const char *digest,
                     int ok)
{
    if (t == NULL)
        return;
    if (fclose(t->f) != 0)
        ok = 0;
    if (!ok || renameat(c->tmp_fd, t->tmp, c->sha_fd, digest + 7) != 0)
        unlinkat(c->tmp_fd, t->tmp, 0);
    free(t);
}

struct entry {
    char name[80];
    long long size;
    time_t used;
};

static int by_use(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return (x->used > y->used) - (x->used < y->used);
}

/* The regular files in DIR/sha256 (links and the rest are left alone). */
static struct entry *list_entries(struct ex_cache *c, size_t *n, long long *total)
{
    int fd = dup(c->sha_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct entry *v = NULL, *grown;
    struct dirent *de;
    struct stat st;

    *n = 0;
    *total = 0;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(v->name) ||
            fstatat(c->sha_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || (grown = realloc(v, (*n + 1) * sizeof(*v))) == NULL)
            continue;
        v = grown;
        memcpy(v[*n].name, de->d_name, strlen(de->d_name) + 1);
        v[*n].size = (long long)st.st_size;
        v[*n].used = st.st_mtime;
        *total += v[*n].size;
        (*n)++;
    }
    closedir(d);
    return v;
}

long long ex_cache_trim(struct ex_cache *c)
{
    long long total, removed = 0;
    struct entry *v;
    size_t n, i;

    if (c->max <= 0)
        return 0;
    v = list_entries(c, &n, &total);
    if (v == NULL)
        return 0;
    qsort(v, n, sizeof(*v), by_use);
    for (i = 0; i < n && total > c->max; i++) {
        if (unlinkat(c->sha_fd, v[i].name, 0) == 0) {
            total -= v[i].size;
            removed += v[i].size;
        }
    }
    free(v);
    return removed;
}
