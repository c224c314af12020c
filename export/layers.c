/* Image layers: streamed and verified (ex_layer_read), and stacked with
 * their whiteouts into a small file set (ex_layerfs_*). */
#include "layers.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/digest.h"

#define LAYER_CHUNK (64 * 1024)
#define PATH_MAX_LEN 4096
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* A layer read by libarchive straight off the network, hashed on the way. */
struct layer_src {
    struct al_blob_reader *s;   /* resumes a download that breaks off */
    struct al_sha256 *h;
    long long bytes;
    char buf[LAYER_CHUNK];
    struct al_err *e;
    int failed;
};

/* Reads the next chunk of the layer into src->buf; -1 on failure. */
static la_ssize_t src_read(struct layer_src *src)
{
    size_t got = 0;

    if (al_blob_reader_read(src->s, src->buf, sizeof(src->buf), &got, src->e) != 0) {
        src->failed = 1;
        return -1;
    }
    al_sha256_update(src->h, src->buf, got);
    src->bytes += (long long)got;
    return (la_ssize_t)got;
}

static la_ssize_t layer_read(struct archive *a, void *ud, const void **out)
{
    struct layer_src *src = ud;
    la_ssize_t n = src_read(src);

    if (n < 0)
        archive_set_error(a, EIO, "%s", src->e->msg);
    *out = src->buf;
    return n;
}

/* A tar reader for any of the layer compressions. */
static struct archive *layer_archive_new(void)
{
    struct archive *a = archive_read_new();

    if (a == NULL)
        return NULL;
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_none(a);
    archive_read_support_format_tar(a);
    return a;
}

/* Opens the layer as a tar and hands it to `fn`. */
static int stream_layer(struct layer_src *src, const char *what, ex_layer_fn fn,
                        void *ud, struct al_err *e)
{
    struct archive *a = layer_archive_new();
    int rc;

    if (a == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    if (archive_read_open(a, src, NULL, layer_read, NULL) != ARCHIVE_OK)
        rc = src->failed ? src->e->code
                         : al_err_set(e, AL_EINVAL, "%s is not a tar: %s", what,
                                      archive_error_string(a));
    else
        rc = fn(ud, a, what, e);
    if (rc != 0 && src->failed && rc != src->e->code)
        rc = src->e->code;
    archive_read_free(a);
    return rc;
}

int ex_layer_read(const struct al_repo *at, const struct al_desc *layer,
                  const char *what, ex_layer_fn fn, void *ud, struct al_err *e)
{
    struct layer_src *src = calloc(1, sizeof(*src));
    char got[AL_DIGEST_STR_MAX];
    int rc;

    if (src == NULL || (src->h = al_sha256_new()) == NULL) {
        free(src);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    src->e = e;
    rc = al_blob_reader_open(at, layer->digest, layer->size, NULL, NULL, &src->s, e);
    if (rc == 0)
        rc = stream_layer(src, what, fn, ud, e);
    /* Drain the rest so the whole layer is checked against its digest before
     * anything in it is believed. */
    while (rc == 0) {
        la_ssize_t n = src_read(src);
        if (n < 0)
            rc = e->code;
        if (n <= 0)
            break;
    }
    if (rc == 0) {
        al_sha256_final(src->h, got);
        if (strcmp(got, layer->digest) != 0 || src->bytes != layer->size)
            rc = al_err_set(e, AL_EDIGEST, "%s (%s) arrived with digest %s and %lld "
                            "bytes (expected %lld)", what, layer->digest, got,
                            src->bytes, layer->size);
    }
    al_blob_reader_close(src->s);
    al_sha256_free(src->h);
    free(src);
    return rc;
}

/* ---- the file set ---- */

void ex_layerfs_init(struct ex_layerfs *fs, int (*want)(void *ud, const char *path),
                     void *want_ud)
{
    memset(fs, 0, sizeof(*fs));
    fs->want = want;
    fs->want_ud = want_ud;
}

void ex_layerfs_release(struct ex_layerfs *fs)
{
    size_t i;

    for (i = 0; i < fs->n; i++) {
        free(fs->v[i].path);
        free(fs->v[i].data);
    }
    free(fs->v);
    fs->v = NULL;
    fs->n = 0;
    fs->total = 0;
}

/* `p` as a clean relative path in `out`: no leading "./" or "/", no
 * trailing "/", no "." components. -1 for ".." or a path too long. */
static int clean_path(const char *p, char out[PATH_MAX_LEN])
{
    size_t o = 0;

    while (*p != '\0') {
        size_t n = strcspn(p, "/");
        if ((n == 2 && p[0] == '.' && p[1] == '.'))
            return -1;
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (o + n + 2 > PATH_MAX_LEN)
                return -1;
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
        while (*p == '/')
            p++;
    }
    out[o] = '\0';
    return 0;
}

static void drop(struct ex_layerfs *fs, size_t i)
{
    fs->total -= fs->v[i].len;
    free(fs->v[i].path);
    free(fs->v[i].data);
    fs->v[i] = fs->v[--fs->n];
}

/* Removes `path` itself (unless `children_only`) and everything under it
 * ("" is the root), from layers below `below` only. */
static void remove_tree(struct ex_layerfs *fs, const char *path, int children_only,
                        unsigned below)
{
    size_t n = strlen(path), i = 0;

    while (i < fs->n) {
        const char *p = fs->v[i].path;
        int self = !children_only && strcmp(p, path) == 0;
        int under = n == 0 || (strncmp(p, path, n) == 0 && p[n] == '/');
        if ((self || under) && fs->v[i].layer < below)
            drop(fs, i);
        else
            i++;
    }
}

static const struct ex_layer_file *find(const struct ex_layerfs *fs, const char *path)
{
    size_t i;

    for (i = 0; i < fs->n; i++)
        if (strcmp(fs->v[i].path, path) == 0)
            return &fs->v[i];
    return NULL;
}

/* Adds a file taking `data` (freed here on failure). */
static int keep(struct ex_layerfs *fs, const char *path, char *data, size_t len,
                const char *what, struct al_err *e)
{
    struct ex_layer_file *grown;

    if (fs->n >= EX_LAYER_FILES_MAX || fs->total + len > EX_LAYER_TOTAL_MAX) {
        free(data);
        return al_err_set(e, AL_ETOOBIG, "%s: the files wanted add up to more than "
                          "%d files or %d MiB (at '%.200s'): is this the right image?",
                          what, EX_LAYER_FILES_MAX, EX_LAYER_TOTAL_MAX >> 20, path);
    }
    grown = realloc(fs->v, (fs->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(data);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    fs->v = grown;
    grown[fs->n].path = strdup(path);
    if (grown[fs->n].path == NULL) {
        free(data);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    grown[fs->n].data = data;
    grown[fs->n].len = len;
    grown[fs->n].layer = fs->layers;
    fs->n++;
    fs->total += len;
    return 0;
}

/* The current entry's data, at most EX_LAYER_FILE_MAX bytes. */
static int read_data(struct archive *a, struct archive_entry *ent, const char *path,
                     const char *what, char **out, size_t *len, struct al_err *e)
{
    size_t cap = 0, n = 0;
    char *data = NULL, chunk[16384];
    la_ssize_t got;

    *out = NULL;
    if (archive_entry_size_is_set(ent) && archive_entry_size(ent) > EX_LAYER_FILE_MAX)
        goto too_big;
    while ((got = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
        char *grown;
        if (n + (size_t)got > EX_LAYER_FILE_MAX)
            goto too_big;
        if (n + (size_t)got + 1 > cap) {
            cap = (n + (size_t)got + 1) * 2;
            grown = realloc(data, cap);
            if (grown == NULL) {
                free(data);
                return al_err_set(e, AL_ENOMEM, "out of memory");
            }
            data = grown;
        }
        memcpy(data + n, chunk, (size_t)got);
        n += (size_t)got;
    }
    if (got < 0) {
        free(data);
        return al_err_set(e, AL_EINVAL, "%s: cannot read '%.200s': %s", what, path,
                          archive_error_string(a));
    }
    if (data == NULL && (data = malloc(1)) == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    data[n] = '\0';
    *out = data;
    *len = n;
    return 0;
too_big:
    free(data);
    return al_err_set(e, AL_ETOOBIG, "%s: '%.200s' is larger than %d MiB: is this the "
                      "right image?", what, path, EX_LAYER_FILE_MAX >> 20);
}

/* A whiteout entry `path`, whose last component starts at path + base:
 * what it hides from the layers below. */
static void whiteout(struct ex_layerfs *fs, char *path, size_t base)
{
    char *name = path + base;

    if (strcmp(name, WH_OPAQUE) == 0) {
        path[base > 0 ? base - 1 : 0] = '\0';   /* its directory, "" at the root */
        remove_tree(fs, path, 1, fs->layers);
        return;
    }
    memmove(name, name + strlen(WH_PREFIX), strlen(name) - strlen(WH_PREFIX) + 1);
    remove_tree(fs, path, 0, fs->layers);
}

/* A hard link to a kept file keeps a copy under its own name. */
static int hardlink(struct ex_layerfs *fs, const char *path, const char *to,
                    const char *what, struct al_err *e)
{
    char target[PATH_MAX_LEN];
    const struct ex_layer_file *f;
    char *copy;

    if (clean_path(to, target) != 0 || (f = find(fs, target)) == NULL)
        return 0;
    copy = malloc(f->len + 1);
    if (copy == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    memcpy(copy, f->data, f->len + 1);
    return keep(fs, path, copy, f->len, what, e);
}

static int apply_entry(struct ex_layerfs *fs, struct archive *a,
                       struct archive_entry *ent, const char *what, struct al_err *e)
{
    char path[PATH_MAX_LEN];
    const char *base, *link = archive_entry_hardlink(ent);
    int wanted, type = (int)archive_entry_filetype(ent);
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (archive_entry_pathname(ent) == NULL || clean_path(archive_entry_pathname(ent), path) != 0 ||
        path[0] == '\0')
        return 0;
    base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
        whiteout(fs, path, (size_t)(base - path));
        return 0;
    }
    if (type == AE_IFDIR) {   /* replaces a file of that name, keeps the rest */
        const struct ex_layer_file *f = find(fs, path);
        if (f != NULL)
            drop(fs, (size_t)(f - fs->v));
        return 0;
    }
    /* anything else replaces what was at its path, and what was under it */
    remove_tree(fs, path, 0, fs->layers + 1);
    wanted = (type == AE_IFREG || link != NULL) &&
             (fs->want == NULL || fs->want(fs->want_ud, path));
    if (!wanted)
        return 0;
    if (link != NULL)
        return hardlink(fs, path, link, what, e);
    rc = read_data(a, ent, path, what, &data, &len, e);
    return rc == 0 ? keep(fs, path, data, len, what, e) : rc;
}

int ex_layerfs_apply(void *ud, struct archive *a, const char *what, struct al_err *e)
{
    struct ex_layerfs *fs = ud;
    struct archive_entry *ent;
    int r = ARCHIVE_OK, rc = 0;

    while (rc == 0 && (r = archive_read_next_header(a, &ent)) == ARCHIVE_OK)
        rc = apply_entry(fs, a, ent, what, e);
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = al_err_set(e, AL_EINVAL, "%s: cannot read the layer: %s", what,
                        archive_error_string(a));
    fs->layers++;
    return rc;
}

int ex_layerfs_apply_memory(struct ex_layerfs *fs, const void *data, size_t len,
                            const char *what, struct al_err *e)
{
    struct archive *a = layer_archive_new();
    int rc;

    if (a == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    if (archive_read_open_memory(a, data, len) != ARCHIVE_OK)
        rc = al_err_set(e, AL_EINVAL, "%s is not a tar: %s", what, archive_error_string(a));
    else
        rc = ex_layerfs_apply(fs, a, what, e);
    archive_read_free(a);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct ex_layer_file *)a)->path,
                  ((const struct ex_layer_file *)b)->path);
}

void ex_layerfs_sort(struct ex_layerfs *fs)
{
    if (fs->n > 1)
        qsort(fs->v, fs->n, sizeof(*fs->v), by_path);
}
