#include "airlock/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <zstd.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdint.h>
#include <unistd.h>

#include "airlock/digest.h"
#include "airlock/file.h"
#include "airlock/pool.h"
#include "bundle_int.h"


static char *part_name(const struct al_bundle_writer *w, size_t i)
{
    size_t n = strlen(w->path) + 32;
    char *s = malloc(n);

    if (s == NULL)
        return NULL;
    if (w->split)
        snprintf(s, n, "%s.%03zu", w->path, i);
    else
        snprintf(s, n, "%s", w->path);
    return s;
}

/* PATH.partial.XXXXXX, or PATH.partial.NNN.XXXXXX for volume NNN: a name
 * no one can plant a link at beforehand, and one that the volumes' glob
 * (PATH.[0-9]*) does not match. */
static char *partial_template(const struct al_bundle_writer *w, size_t i)
{
    size_t n = strlen(w->path) + 40;
    char *s = malloc(n);

    if (s == NULL)
        return NULL;
    if (w->split)
        snprintf(s, n, "%s.partial.%03zu.XXXXXX", w->path, i);
    else
        snprintf(s, n, "%s.partial.XXXXXX", w->path);
    return s;
}

/* Closes the current part, recording its size and digest. */
static int close_part(struct al_bundle_writer *w)
{
    struct al_bundle_part *p = &w->parts[w->n_parts - 1];

    if (w->digest)
        al_sha256_final(w->part_sha, p->digest);
    if (fsync(w->fd) != 0 || close(w->fd) != 0) {
        w->write_errno = errno;
        w->fd = -1;
        return -1;
    }
    w->fd = -1;
    return 0;
}

/* The bundle goes from the writing thread's page-aligned blocks straight to
 * the medium (O_DIRECT), not copied into the page cache first: that copy
 * was 14% of an export's CPU at 850 MiB, and a bundle of gigabytes would
 * push everything else out of the cache. Each part is fsynced before it
 * counts anyway, so the medium's speed bounds the export either way. A
 * write that is not whole aligned pages at an aligned offset (the tail, a
 * cut between volumes), or a file system that refuses O_DIRECT, turns it
 * off for the rest of the part. */

static void direct_on(struct al_bundle_writer *w)
{
    int fl = fcntl(w->fd, F_GETFL);

    w->direct = fl >= 0 && fcntl(w->fd, F_SETFL, fl | O_DIRECT) == 0;
}

void al_bundle_direct_off(struct al_bundle_writer *w)
{
    int fl = fcntl(w->fd, F_GETFL);

    if (fl >= 0)
        fcntl(w->fd, F_SETFL, fl & ~O_DIRECT);
    w->direct = 0;
}

static int direct_fits(const char *c, size_t n, long long offset)
{
    return (uintptr_t)c % DIRECT_ALIGN == 0 && n % DIRECT_ALIGN == 0 &&
           offset % DIRECT_ALIGN == 0;
}

static int open_part(struct al_bundle_writer *w)
{
    size_t i = w->n_parts;
    struct al_bundle_part *p = &w->parts[i];

    if (i >= AL_BUNDLE_PARTS_MAX) {
        w->write_errno = EFBIG;
        return -1;
    }
    p->name = part_name(w, i);
    w->partials[i] = partial_template(w, i);
    if (p->name == NULL || w->partials[i] == NULL) {
        w->write_errno = ENOMEM;
        return -1;
    }
    /* (filled in before n_parts counts it, so a signal handler sees only
     * whole names) */
    w->fd = al_file_mkstemp(AT_FDCWD, (char *)(uintptr_t)w->partials[i], 0644);
    if (w->fd < 0) {
        w->write_errno = errno;
        return -1;
    }
    w->n_parts = i + 1;
    direct_on(w);
    return 0;
}

static int write_all(struct al_bundle_writer *w, const char *c, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t k;
        if (w->direct &&
            !direct_fits(c + done, n - done, w->parts[w->n_parts - 1].size + (long long)done))
            al_bundle_direct_off(w);
        k = write(w->fd, c + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EINVAL && w->direct) {   /* refused after all */
            al_bundle_direct_off(w);
            continue;
        }
        if (k < 0) {
            w->write_errno = errno;
            return -1;
        }
        done += (size_t)k;
    }
    if (w->digest)
        al_sha256_update(w->part_sha, c, n);
    if (w->all_sha != NULL)
        al_sha256_update(w->all_sha, c, n);
    w->parts[w->n_parts - 1].size += (long long)n;
    w->bytes += (long long)n;
    return 0;
}

/* In the writing thread: one block into the part(s), cut at the split. */
static int write_block(void *ud, void *ctx, size_t worker, size_t item, struct al_err *e)
{
    struct al_bundle_writer *w = ud;
    const char *c = w->block[item];
    size_t left = w->block_len[item];

    (void)ctx;
    (void)worker;
    while (left > 0) {
        size_t k = left;
        if (w->split) {
            long long room = w->split - w->parts[w->n_parts - 1].size;
            if (room == 0) {
                if (close_part(w) != 0 || open_part(w) != 0)
                    return al_err_set(e, AL_EIO, "write failed");
                continue;
            }
            if ((long long)k > room)
                k = (size_t)room;
        }
        if (write_all(w, c, k) != 0)
            return al_err_set(e, AL_EIO, "write failed");
        c += k;
        left -= k;
    }
    return 0;
}

/* Hands the block being filled to the writing thread, once it is done
 * with the one before (the pool's first failure stops everything). */
static int hand_block(struct al_bundle_writer *w)
{
    size_t worker;

    if (al_pool_idle(w->out, &worker, &w->out_err) != 0)
        return -1;
    al_pool_give(w->out, worker, w->cur);
    w->handed++;
    w->cur = (w->cur + 1) % BUNDLE_BLOCKS;
    w->block_len[w->cur] = 0;
    return 0;
}

/* Waits until every block handed over is written. */
int al_bundle_drain_blocks(struct al_bundle_writer *w)
{
    if (w->block_len[w->cur] > 0 && hand_block(w) != 0)
        return -1;
    return al_pool_wait(w->out, &w->out_err) != 0 ? -1 : 0;
}

/* The largest raw block that may follow what zstd wrote, from its frame
 * header h[0..n): min(Window_Size, 128 KiB) (RFC 8878 3.1.1.1.2, 3.1.1.2.3);
 * 0 for a header no stored tail may follow: one that declares the content's
 * size or a single segment (the tail would contradict them), a checksum of
 * the content (this writer does not compute one) or a dictionary. */
size_t al_bundle_raw_block_max(const unsigned char *h, size_t n)
{
    unsigned long long window;

    if (n < 6 || h[0] != 0x28 || h[1] != 0xb5 || h[2] != 0x2f || h[3] != 0xfd)
        return 0;
    if ((h[4] & 0xef) != 0)   /* all but the unused bit: FCS, single segment, checksum, dict */
        return 0;
    window = 1ULL << (10 + (h[5] >> 3));
    window += window / 8 * (h[5] & 7);
    return window < RAW_BLOCK_MAX ? (size_t)window : RAW_BLOCK_MAX;
}

/* Compresses `in` with zstd's end directive `op` straight into the blocks,
 * handing each full one to the writing thread. */
int al_bundle_compress(struct al_bundle_writer *w, ZSTD_inBuffer *in, ZSTD_EndDirective op)
{
    size_t left;

    do {
        ZSTD_outBuffer out = {w->block[w->cur], BUNDLE_WRITE_BLOCK, w->block_len[w->cur]};
        left = ZSTD_compressStream2(w->z, &out, in, op);
        if (ZSTD_isError(left)) {
            w->z_failed = 1;
            snprintf(w->z_why, sizeof(w->z_why), "zstd: %s", ZSTD_getErrorName(left));
            return -1;
        }
        /* the frame header comes first, whole, in the first block */
        if (!w->header_seen && w->handed == 0 && out.pos >= 6) {
            w->raw_max = al_bundle_raw_block_max((const unsigned char *)w->block[w->cur],
                                                 out.pos);
            w->header_seen = 1;
        }
        w->block_len[w->cur] = out.pos;
        if (out.pos == BUNDLE_WRITE_BLOCK && hand_block(w) != 0)
            return -1;
    } while (op == ZSTD_e_continue ? in->pos < in->size : left > 0);
    return 0;
}

void al_bundle_put_raw_header(char *at, size_t size, int last)
{
    unsigned long v = (unsigned long)size << 3 | (last ? 1u : 0u);   /* type 0: raw */

    at[0] = (char)(v & 0xff);
    at[1] = (char)(v >> 8 & 0xff);
    at[2] = (char)(v >> 16 & 0xff);
}

size_t al_bundle_raw_block_size(size_t room, size_t raw_max)
{
    size_t size, after;

    if (room <= RAW_HEADER || raw_max <= RAW_HEADER + 1)
        return 0;
    size = room - RAW_HEADER < raw_max ? room - RAW_HEADER : raw_max;
    after = room - RAW_HEADER - size;
    return after >= 1 && after <= RAW_HEADER ? size - (RAW_HEADER + 1) : size;
}

/* Opens a raw block in block[cur] (see al_bundle_raw_block_size). */
static int open_raw_block(struct al_bundle_writer *w)
{
    size_t room = BUNDLE_WRITE_BLOCK - w->block_len[w->cur], size;

    if (room == 0) {
        if (hand_block(w) != 0)
            return -1;
        room = BUNDLE_WRITE_BLOCK;
    }
    size = al_bundle_raw_block_size(room, w->raw_max);
    if (size == 0) {   /* (maybe_store and this function keep room from 1 to 3) */
        w->z_failed = 1;
        snprintf(w->z_why, sizeof(w->z_why), "no room for a raw block (%zu bytes left)", room);
        return -1;
    }
    w->raw_at = w->block_len[w->cur];
    al_bundle_put_raw_header(w->block[w->cur] + w->raw_at, size, 0);
    w->block_len[w->cur] += RAW_HEADER;
    w->raw_size = w->raw_left = size;
    return 0;
}

/* Bytes of the stored tail into raw blocks: their only copy. */
static int store(struct al_bundle_writer *w, const char *p, size_t n)
{
    while (n > 0) {
        size_t k = n;
        if (w->raw_left == 0 && open_raw_block(w) != 0)
            return -1;
        if (k > w->raw_left)
            k = w->raw_left;
        memcpy(w->block[w->cur] + w->block_len[w->cur], p, k);
        w->block_len[w->cur] += k;
        w->raw_left -= k;
        p += k;
        n -= k;
    }
    return 0;
}

/* libarchive's tar, in pieces of any size, into zstd or the stored tail. */
static la_ssize_t write_cb(struct archive *a, void *ud, const void *p, size_t n)
{
    struct al_bundle_writer *w = ud;
    ZSTD_inBuffer in = {p, n, 0};

    if (w->out == NULL)   /* aborted: libarchive's last flush goes nowhere */
        goto fail;
    if (w->stored ? store(w, p, n) != 0 : al_bundle_compress(w, &in, ZSTD_e_continue) != 0)
        goto fail;
    return (la_ssize_t)n;
fail:
    archive_set_error(a, w->write_errno ? w->write_errno : EIO, "%s",
                      w->z_failed ? w->z_why : "write failed");
    return -1;
}

/* Before an entry of `size` bytes: at the first large one that is compressed
 * already, zstd is flushed (every block it owes written, none marked last)
 * and the stored tail begins, unless the frame cannot take one or the flush
 * left 1 to 3 bytes of the writer's block (then it is the next entry's turn). */
static int maybe_store(struct al_bundle_writer *w, long long size, int precompressed)
{
    ZSTD_inBuffer none = {NULL, 0, 0};
    size_t room;

    if (w->stored || !precompressed || size < AL_BUNDLE_STORED_MIN || (w->header_seen && !w->raw_max))
        return 0;
    if (al_bundle_compress(w, &none, ZSTD_e_flush) != 0)   /* (the header, too, may be due) */
        return -1;
    room = BUNDLE_WRITE_BLOCK - w->block_len[w->cur];
    w->stored = w->raw_max > 0 && (room == 0 || room > RAW_HEADER);
    return 0;
}

/* The end of the zstd frame and every block written. In the stored tail: the
 * open raw block's header is cut to what it holds, and an empty raw block
 * marked last ends the frame. */
static int finish_stream(struct al_bundle_writer *w)
{
    ZSTD_inBuffer none = {NULL, 0, 0};
    char last[RAW_HEADER];
    size_t i;

    if (!w->stored) {
        if (al_bundle_compress(w, &none, ZSTD_e_end) != 0)
            return -1;
        return al_bundle_drain_blocks(w);
    }
    if (w->raw_left > 0)   /* (a block is opened for a byte at least) */
        al_bundle_put_raw_header(w->block[w->cur] + w->raw_at, w->raw_size - w->raw_left, 0);
    w->raw_left = 0;
    al_bundle_put_raw_header(last, 0, 1);
    for (i = 0; i < RAW_HEADER; i++) {   /* (the only bytes that may cross blocks) */
        if (w->block_len[w->cur] == BUNDLE_WRITE_BLOCK && hand_block(w) != 0)
            return -1;
        w->block[w->cur][w->block_len[w->cur]++] = last[i];
    }
    return al_bundle_drain_blocks(w);
}

int al_bundle_archive_fail(struct al_bundle_writer *w, const char *doing,
                        struct al_err *e)
{
    const char *where = w->n_parts ? w->partials[w->n_parts - 1] : w->path;

    if (w->write_errno == EFBIG)
        return al_err_set(e, AL_EIO, "'%s' needs more than %d volumes: choose a larger "
                          "--split-size", w->path, AL_BUNDLE_PARTS_MAX);
    if (w->write_errno != 0)
        return al_err_sys(e, AL_EIO, w->write_errno, "cannot write '%s'", where);
    if (w->z_failed)
        return al_err_set(e, AL_EIO, "cannot write '%s' (%s): %s", where, doing, w->z_why);
    return al_err_set(e, AL_EIO, "cannot write '%s' (%s): %s", where, doing,
                      archive_error_string(w->a) ? archive_error_string(w->a)
                                                 : "libarchive error");
}

static void writer_free(struct al_bundle_writer *w)
{
    size_t i;

    al_pool_free(w->out);   /* (joins the writing thread first) */
    w->out = NULL;
    al_bundle_place_free(w->place);   /* (joins the lanes' writing threads) */
    w->place = NULL;
    if (w->a)
        archive_write_free(w->a);
    if (w->fd >= 0)
        close(w->fd);
    for (i = 0; w->parts != NULL && i < AL_BUNDLE_PARTS_MAX; i++)
        free(w->parts[i].name);
    for (i = 0; w->partials != NULL && i < AL_BUNDLE_PARTS_MAX; i++)
        free((void *)(uintptr_t)w->partials[i]);
    free(w->parts);
    free(w->partials);
    for (i = 0; i < BUNDLE_BLOCKS; i++)
        free(w->block[i]);
    ZSTD_freeCCtx(w->z);
    al_sha256_free(w->part_sha);
    al_sha256_free(w->all_sha);
    free(w->path);
    free(w);
}

/* zstd in one frame, with `threads` workers (at least one, so that it
 * compresses beside the thread that makes the tar), small jobs. */
static int start_zstd(struct al_bundle_writer *w, int level, int threads, struct al_err *e)
{
    size_t r;

    w->z = ZSTD_createCCtx();
    if (w->z == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    r = ZSTD_CCtx_setParameter(w->z, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(w->z, ZSTD_c_nbWorkers, threads > 1 ? threads : 1);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(w->z, ZSTD_c_jobSize, ZSTD_JOB_SIZE);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(w->z, ZSTD_c_overlapLog, 1);   /* none */
    if (ZSTD_isError(r))
        return al_err_set(e, AL_EINVAL, "cannot set up zstd (level %d, %d threads): %s",
                          level, threads, ZSTD_getErrorName(r));
    return 0;
}

static int start_writing_thread(struct al_bundle_writer *w, struct al_err *e)
{
    struct al_pool_cfg pc = {.n_workers = 1, .n_items = AL_POOL_FED,
                             .fn = write_block, .ud = w};

    return al_pool_start(&w->out, &pc, e);
}

int al_bundle_writer_open_split(struct al_bundle_writer **out, const char *path,
                                time_t mtime, int zstd_level, long long split_size,
                                int zstd_threads, struct al_err *e)
{
    struct al_bundle_writer *w;
    int rc;

    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    w->fd = -1;
    w->mtime = mtime;
    w->digest = 1;
    al_err_init(&w->out_err);
    w->split = split_size > 0 ? split_size : 0;
    w->block[0] = aligned_alloc(DIRECT_ALIGN, BUNDLE_WRITE_BLOCK);
    w->block[1] = aligned_alloc(DIRECT_ALIGN, BUNDLE_WRITE_BLOCK);
    w->path = strdup(path);
    w->a = archive_write_new();
    w->parts = calloc(AL_BUNDLE_PARTS_MAX + 1, sizeof(*w->parts));
    w->partials = calloc(AL_BUNDLE_PARTS_MAX + 1, sizeof(*w->partials));
    w->part_sha = al_sha256_new();
    w->all_sha = w->split ? al_sha256_new() : NULL;
    if (w->path == NULL || w->a == NULL || w->parts == NULL || w->partials == NULL ||
        w->part_sha == NULL || (w->split && w->all_sha == NULL) ||
        w->block[0] == NULL || w->block[1] == NULL) {
        writer_free(w);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    if (open_part(w) != 0) {
        rc = al_err_sys(e, AL_EIO, w->write_errno, "cannot create '%s'",
                        w->partials[0] ? w->partials[0] : path);
        writer_free(w);
        return rc;
    }
    rc = start_zstd(w, zstd_level, zstd_threads, e);
    if (rc == 0)
        rc = start_writing_thread(w, e);
    if (rc != 0) {
        al_bundle_writer_abort(w);
        return rc;
    }
    /* libarchive makes the tar; zstd and the blocks are ours (write_cb) */
    if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
        archive_write_add_filter_none(w->a) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(w->a, 0) != ARCHIVE_OK ||
        archive_write_open2(w->a, w, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
        rc = al_bundle_archive_fail(w, "setting up the tar", e);
        al_bundle_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int al_bundle_writer_open(struct al_bundle_writer **out, const char *path,
                          time_t mtime, int zstd_level, struct al_err *e)
{
    return al_bundle_writer_open_split(out, path, mtime, zstd_level, 0, 1, e);
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
        rc = al_bundle_archive_fail(w, name, e);
    archive_entry_free(ent);
    return rc;
}

int al_bundle_writer_begin_compressed(struct al_bundle_writer *w, const char *name,
                                      long long size, int precompressed, struct al_err *e)
{
    if (w->place != NULL)
        return al_err_set(e, AL_EINVAL, "'%s': entries are being placed", name);
    snprintf(w->entry, sizeof(w->entry), "%s", name);
    w->entry_size = size;
    w->entry_written = 0;
    if (maybe_store(w, size, precompressed) != 0)
        return al_bundle_archive_fail(w, name, e);
    return write_header(w, name, size, e);
}

int al_bundle_writer_begin(struct al_bundle_writer *w, const char *name,
                           long long size, struct al_err *e)
{
    return al_bundle_writer_begin_compressed(w, name, size, 0, e);
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
        return al_bundle_archive_fail(w, w->entry, e);
    w->entry_written += (long long)n;
    return 0;
}

int al_bundle_writer_end(struct al_bundle_writer *w, struct al_err *e)
{
    if (w->entry_written != w->entry_size)
        return al_err_set(e, AL_EDIGEST, "'%s' has %lld bytes, %lld were declared",
                          w->entry, w->entry_written, w->entry_size);
    if (archive_write_finish_entry(w->a) != ARCHIVE_OK)
        return al_bundle_archive_fail(w, w->entry, e);
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

/* Removes finished names a failed commit may have renamed already. */
static void unlink_parts(struct al_bundle_writer *w, size_t renamed)
{
    size_t i;

    for (i = 0; i < renamed; i++)
        unlink(w->parts[i].name);
    for (i = 0; i < w->n_parts; i++)
        unlink(w->partials[i]);
}

/* Reads `path` back from its medium and checks it is the `size` bytes of
 * `digest` that were written; `name` is what messages call it. */
static int read_back(const char *path, const char *name, long long size, const char *digest,
                     struct al_err *e)
{
    struct al_sha256 *sha = al_sha256_new();
    char *buf = malloc(1 << 20), got[AL_DIGEST_STR_MAX];
    long long total = 0;
    ssize_t k = 0;
    int fd = -1, rc = 0;

    if (sha == NULL || buf == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    if (rc == 0 && (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        rc = al_err_sys(e, AL_EIO, errno, "cannot read back '%s'", name);
    if (rc == 0) {
        /* read the medium, not the page cache the writer just filled */
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        while ((k = read(fd, buf, 1 << 20)) > 0) {
            al_sha256_update(sha, buf, (size_t)k);
            total += k;
        }
        if (k < 0)
            rc = al_err_sys(e, AL_EIO, errno, "cannot read back '%s'", name);
        al_sha256_final(sha, got);
    }
    if (rc == 0 && (total != size || strcmp(got, digest) != 0))
        rc = al_err_set(e, AL_EIO, "the new '%s' (written as '%s') does not read back as "
                        "written (%lld bytes, %s; written %lld bytes, %s): the medium may be "
                        "faulty; it was removed, and an earlier '%s' is as it was", name,
                        path, total, got, size, digest, name);
    if (fd >= 0)
        close(fd);
    al_sha256_free(sha);
    free(buf);
    return rc;
}

int al_bundle_writer_finish(struct al_bundle_writer *w, struct al_err *e)
{
    int rc = 0;

    if (w->finished)
        return 0;
    if (w->place != NULL)
        return al_err_set(e, AL_EINVAL, "'%s': entries are being placed", w->path);
    if (archive_write_close(w->a) != ARCHIVE_OK)
        rc = al_bundle_archive_fail(w, "finishing the archive", e);
    if (rc == 0 && finish_stream(w) != 0)
        rc = al_bundle_archive_fail(w, "finishing the archive", e);
    if (rc == 0 && close_part(w) != 0)
        rc = al_err_sys(e, AL_EIO, w->write_errno, "cannot flush '%s'",
                        w->partials[w->n_parts - 1]);
    w->finished = rc == 0;
    return rc;
}

int al_bundle_writer_commit_parts(struct al_bundle_writer *w,
                                  struct al_bundle_parts *parts, struct al_err *e)
{
    size_t i, renamed = 0;
    int rc;

    if (parts)
        memset(parts, 0, sizeof(*parts));
    rc = al_bundle_writer_finish(w, e);
    for (i = 0; rc == 0 && w->read_back && i < w->n_parts; i++)
        rc = read_back(w->partials[i], w->parts[i].name, w->parts[i].size,
                       w->parts[i].digest, e);
    for (i = 0; rc == 0 && i < w->n_parts; i++) {
        if (rename(w->partials[i], w->parts[i].name) != 0)
            rc = al_err_sys(e, AL_EIO, errno, "cannot rename '%s' to '%s'",
                            w->partials[i], w->parts[i].name);
        else
            renamed++;   /* only what this writer created is removed on failure */
    }
    if (rc == 0 && parts != NULL) {
        parts->v = calloc(w->n_parts + 1, sizeof(*parts->v));
        if (parts->v == NULL)
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
        for (i = 0; rc == 0 && i < w->n_parts; i++) {
            parts->v[i] = w->parts[i];
            w->parts[i].name = NULL;     /* handed over */
            parts->n++;
        }
        if (w->all_sha != NULL)
            al_sha256_final(w->all_sha, parts->digest);
        else if (rc == 0)
            memcpy(parts->digest, parts->v[0].digest, sizeof(parts->digest));
        parts->size = w->bytes;
        parts->split = w->split;
    }
    if (rc != 0) {
        unlink_parts(w, renamed);
        writer_free(w);
        return rc;
    }
    fsync_parent(w->path);
    writer_free(w);
    return 0;
}

int al_bundle_writer_commit(struct al_bundle_writer *w, struct al_err *e)
{
    return al_bundle_writer_commit_parts(w, NULL, e);
}

void al_bundle_parts_release(struct al_bundle_parts *p)
{
    size_t i;

    for (i = 0; p->v != NULL && i < p->n; i++)
        free(p->v[i].name);
    free(p->v);
    memset(p, 0, sizeof(*p));
}

void al_bundle_writer_abort(struct al_bundle_writer *w)
{
    if (w == NULL)
        return;
    al_pool_free(w->out);   /* the writing threads stop using fd */
    w->out = NULL;
    al_bundle_place_free(w->place);
    w->place = NULL;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    unlink_parts(w, 0);
    writer_free(w);
}

void al_bundle_writer_skip_digest(struct al_bundle_writer *w)
{
    if (!w->split && !w->read_back)
        w->digest = 0;
}

void al_bundle_writer_read_back(struct al_bundle_writer *w)
{
    w->read_back = 1;
    w->digest = 1;
}

const char *const *al_bundle_writer_partials(const struct al_bundle_writer *w,
                                             size_t *n)
{
    *n = w->n_parts;
    return w->partials;
}

/* Whether `rest` (a name after "BASE.") is a volume number of at least
 * `first`, written as the writer writes it (%03zu). */
static int is_stale_volume(const char *rest, size_t first)
{
    size_t len = strspn(rest, "0123456789");
    char canon[32];

    if (len < 3 || len > 6 || rest[len] != '\0')
        return 0;
    snprintf(canon, sizeof(canon), "%03zu", (size_t)strtoul(rest, NULL, 10));
    return strcmp(canon, rest) == 0 && strtoul(rest, NULL, 10) >= first;
}

/* Whether `rest` is "partial.XXXXXX" or "partial.NNN.XXXXXX". */
static int is_partial(const char *rest)
{
    static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t digits;

    if (strncmp(rest, "partial.", 8) != 0)
        return 0;
    rest += 8;
    digits = strspn(rest, "0123456789");
    if (digits >= 3 && rest[digits] == '.')
        rest += digits + 1;
    return strlen(rest) == 6 && strspn(rest, alnum) == 6;
}

/* Unlinks, beside `path`, this user's regular files named BASE.<rest> for
 * which stale(rest, arg) holds; never follows a link. Returns how many. */
static int remove_beside(const char *path, int (*stale)(const char *, size_t),
                         size_t arg, struct al_err *e)
{
    char *copy = strdup(path), *copy2 = strdup(path);
    const char *dir, *base;
    struct dirent *de;
    struct stat st;
    size_t blen;
    int n = 0;
    DIR *d;

    if (copy == NULL || copy2 == NULL) {
        free(copy);
        free(copy2);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    dir = dirname(copy);
    base = basename(copy2);
    blen = strlen(base);
    d = opendir(dir);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, base, blen) != 0 || de->d_name[blen] != '.' ||
            !stale(de->d_name + blen + 1, arg))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || st.st_uid != geteuid())
            continue;
        n += unlinkat(dirfd(d), de->d_name, 0) == 0;
    }
    if (d != NULL)
        closedir(d);
    free(copy);
    free(copy2);
    return n;
}

static int partial_any(const char *rest, size_t unused)
{
    (void)unused;
    return is_partial(rest);
}

int al_bundle_remove_partials(const char *path, struct al_err *e)
{
    return remove_beside(path, partial_any, 0, e);
}

int al_bundle_remove_volumes_from(const char *path, size_t first, struct al_err *e)
{
    return remove_beside(path, is_stale_volume, first, e);
}
