#include "airlock/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct al_bundle_writer {
    struct archive *a;
    int fd;
    char *path;
    char *partial;
    time_t mtime;
    long long bytes;        /* compressed bytes written to the file */
    int write_errno;        /* errno of the first failed write */
    char entry[300];        /* the entry being streamed */
    long long entry_size;
    long long entry_written;
};

static la_ssize_t write_cb(struct archive *a, void *ud, const void *p, size_t n)
{
    struct al_bundle_writer *w = ud;
    const char *c = p;
    size_t done = 0;

    while (done < n) {
        ssize_t k = write(w->fd, c + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            w->write_errno = errno;
            archive_set_error(a, errno, "write failed");
            return -1;
        }
        done += (size_t)k;
    }
    w->bytes += (long long)n;
    return (la_ssize_t)n;
}

static int archive_fail(struct al_bundle_writer *w, const char *doing,
                        struct al_err *e)
{
    if (w->write_errno != 0)
        return al_err_sys(e, AL_EIO, w->write_errno, "cannot write '%s'",
                          w->partial);
    return al_err_set(e, AL_EIO, "cannot write '%s' (%s): %s", w->partial, doing,
                      archive_error_string(w->a) ? archive_error_string(w->a)
                                                 : "libarchive error");
}

static void writer_free(struct al_bundle_writer *w)
{
    if (w->a)
        archive_write_free(w->a);
    if (w->fd >= 0)
        close(w->fd);
    free(w->path);
    free(w->partial);
    free(w);
}

int al_bundle_writer_open(struct al_bundle_writer **out, const char *path,
                          time_t mtime, int zstd_level, struct al_err *e)
{
    struct al_bundle_writer *w;
    char opt[64];
    size_t n = strlen(path) + sizeof(".partial");

    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    w->fd = -1;
    w->mtime = mtime;
    w->path = strdup(path);
    w->partial = malloc(n);
    w->a = archive_write_new();
    if (w->path == NULL || w->partial == NULL || w->a == NULL) {
        writer_free(w);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    snprintf(w->partial, n, "%s.partial", path);
    w->fd = open(w->partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int err = errno;
        writer_free(w);
        return al_err_sys(e, AL_EIO, err, "cannot create '%s.partial'", path);
    }
    snprintf(opt, sizeof(opt), "zstd:compression-level=%d", zstd_level);
    if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
        archive_write_add_filter_zstd(w->a) != ARCHIVE_OK ||
        archive_write_set_options(w->a, opt) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
        archive_write_open2(w->a, w, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
        int rc = archive_fail(w, "setting up tar+zstd", e);
        al_bundle_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

static int write_header(struct al_bundle_writer *w, const char *name,
                        long long size, struct al_err *e)
{
    struct archive_entry *ent = archive_entry_new();
    int rc = 0;

    if (ent == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    archive_entry_set_pathname(ent, name);
    archive_entry_set_filetype(ent, AE_IFREG);
    archive_entry_set_perm(ent, 0644);
    archive_entry_set_size(ent, size);
    archive_entry_set_mtime(ent, w->mtime, 0);
    if (archive_write_header(w->a, ent) != ARCHIVE_OK)
        rc = archive_fail(w, name, e);
    archive_entry_free(ent);
    return rc;
}

int al_bundle_writer_begin(struct al_bundle_writer *w, const char *name,
                           long long size, struct al_err *e)
{
    snprintf(w->entry, sizeof(w->entry), "%s", name);
    w->entry_size = size;
    w->entry_written = 0;
    return write_header(w, name, size, e);
}

int al_bundle_writer_write(struct al_bundle_writer *w, const void *p, size_t n,
                           struct al_err *e)
{
    la_ssize_t k;

    if ((long long)n > w->entry_size - w->entry_written)
        return al_err_set(e, AL_EDIGEST, "'%s' is larger than its declared %lld bytes",
                          w->entry, w->entry_size);
    k = archive_write_data(w->a, p, n);
    if (k < 0 || (size_t)k != n)
        return archive_fail(w, w->entry, e);
    w->entry_written += (long long)n;
    return 0;
}

int al_bundle_writer_end(struct al_bundle_writer *w, struct al_err *e)
{
    if (w->entry_written != w->entry_size)
        return al_err_set(e, AL_EDIGEST, "'%s' has %lld bytes, %lld were declared",
                          w->entry, w->entry_written, w->entry_size);
    if (archive_write_finish_entry(w->a) != ARCHIVE_OK)
        return archive_fail(w, w->entry, e);
    return 0;
}

int al_bundle_writer_add(struct al_bundle_writer *w, const char *name,
                         const void *data, size_t len, struct al_err *e)
{
    int rc = al_bundle_writer_begin(w, name, (long long)len, e);

    if (rc == 0 && len > 0)
        rc = al_bundle_writer_write(w, data, len, e);
    if (rc == 0)
        rc = al_bundle_writer_end(w, e);
    return rc;
}

static void fsync_parent(const char *path)
{
    char *copy = strdup(path);
    int fd;

    if (copy == NULL)
        return;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int al_bundle_writer_commit(struct al_bundle_writer *w, struct al_err *e)
{
    int rc = 0;

    if (archive_write_close(w->a) != ARCHIVE_OK)
        rc = archive_fail(w, "finishing the archive", e);
    if (rc == 0 && fsync(w->fd) != 0)
        rc = al_err_sys(e, AL_EIO, errno, "cannot flush '%s'", w->partial);
    if (rc == 0 && close(w->fd) != 0)
        rc = al_err_sys(e, AL_EIO, errno, "cannot close '%s'", w->partial);
    w->fd = -1;
    if (rc == 0 && rename(w->partial, w->path) != 0)
        rc = al_err_sys(e, AL_EIO, errno, "cannot rename '%s' to '%s'",
                        w->partial, w->path);
    if (rc != 0) {
        al_bundle_writer_abort(w);
        return rc;
    }
    fsync_parent(w->path);
    writer_free(w);
    return 0;
}

void al_bundle_writer_abort(struct al_bundle_writer *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    unlink(w->partial);
    writer_free(w);
}

const char *al_bundle_writer_partial_path(const struct al_bundle_writer *w)
{
    return w->partial;
}

long long al_bundle_writer_bytes(const struct al_bundle_writer *w)
{
    return w->bytes;
}
