#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/lock.h"

struct ex_cache {
    char *dir;
    long long max;
    struct al_lock *lock;
};

static void entry_path(const struct ex_cache *c, const char *digest, const char *sub,
                       const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s/%s/%s%s", c->dir, sub, digest + 7, suffix);
}

int ex_cache_open(struct ex_cache **out, const char *dir, long long max_bytes,
                  struct al_err *e)
{
    struct ex_cache *c = calloc(1, sizeof(*c));
    char path[4096];
    int rc;

    *out = NULL;
    if (c == NULL || (c->dir = strdup(dir)) == NULL) {
        free(c);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    c->max = max_bytes;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = al_err_sys(e, AL_EIO, errno, "cannot create the cache '%s'", dir);
        ex_cache_close(c);
        return rc;
    }
    snprintf(path, sizeof(path), "%s/sha256", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/tmp", dir);
    mkdir(path, 0700);
    rc = al_lock_acquire(&c->lock, dir, "using the cache", e);
    if (rc != 0) {
        ex_cache_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void ex_cache_close(struct ex_cache *c)
{
    if (c == NULL)
        return;
    al_lock_release(c->lock);
    free(c->dir);
    free(c);
}

FILE *ex_cache_get(struct ex_cache *c, const char *digest, long long size)
{
    char path[4096];
    struct stat st;
    FILE *f;

    entry_path(c, digest, "sha256", "", path, sizeof(path));
    if (stat(path, &st) != 0 || st.st_size != size)
        return NULL;
    f = fopen(path, "rb");
    if (f != NULL)
        utimensat(AT_FDCWD, path, NULL, 0);   /* recently used */
    return f;
}

void ex_cache_drop(struct ex_cache *c, const char *digest)
{
    char path[4096];

    entry_path(c, digest, "sha256", "", path, sizeof(path));
    unlink(path);
}

FILE *ex_cache_begin(struct ex_cache *c, const char *digest)
{
    char path[4096];

    entry_path(c, digest, "tmp", ".partial", path, sizeof(path));
    return fopen(path, "wb");
}

void ex_cache_commit(struct ex_cache *c, FILE *f, const char *digest, int ok)
{
    char tmp[4096], path[4096];

    entry_path(c, digest, "tmp", ".partial", tmp, sizeof(tmp));
    entry_path(c, digest, "sha256", "", path, sizeof(path));
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
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

long long ex_cache_trim(struct ex_cache *c)
{
    char dir[4096], path[4096 + 300];
    struct entry *v = NULL, *grown;
    size_t n = 0, i;
    long long total = 0, removed = 0;
    struct dirent *de;
    struct stat st;
    DIR *d;

    if (c->max <= 0)
        return 0;
    snprintf(dir, sizeof(dir), "%s/sha256", c->dir);
    d = opendir(dir);
    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(v->name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || (grown = realloc(v, (n + 1) * sizeof(*v))) == NULL)
            continue;
        v = grown;
        memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1);
        v[n].size = (long long)st.st_size;
        v[n].used = st.st_mtime;
        total += v[n].size;
        n++;
    }
    closedir(d);
    qsort(v, n, sizeof(*v), by_use);
    for (i = 0; i < n && total > c->max; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, v[i].name);
        if (unlink(path) == 0) {
            total -= v[i].size;
            removed += v[i].size;
        }
    }
    free(v);
    return removed;
}
