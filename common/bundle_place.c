/* The bundle writer's stored tail, placed: entries written by several
 * threads at once, each straight to its place (al_bundle_writer_place in
 * airlock/bundle.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/bundle.h"
#include "airlock/pool.h"
#include "bundle_int.h"

/* Where the tail's entries lie in the file is known before any of their
 * bytes are: their sizes are, tar headers are fixed-size, and the raw blocks
 * are a fixed grid. So each download thread writes its blob straight to its
 * place, all of them at once and in any order, copying each byte once (into
 * its lane's buffer). Written in sequence, each blob waited for the one
 * before it and went through a pipe and the writer: one stream at a time,
 * which on two cores left a quarter of them idle.
 * Tar offset t of the region (0 at its first header) lies at file offset
 * place_file_at(t): raw block k holds the region's tar bytes [k rb, (k+1) rb)
 * (the last one fewer) after its header at f0 + k (rb + 3). */
#define PLACE_BUF (1024 * 1024)
#define TAR_BLOCK 512
#define USTAR_SIZE_MAX 077777777777LL   /* 11 octal digits */
#define PLAIN_NAME "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-"

struct al_bundle_placed_entry {
    char name[AL_BUNDLE_PLACED_NAME_MAX];
    long long at;        /* the region's tar offset of its header */
    long long size;
    atomic_int state;    /* PLACED_*: what place_end checks, so that an
                            entry no lane wrote fails the bundle instead of
                            leaving zeros where its bytes belong */
};

enum { PLACED_NOT_BEGUN, PLACED_BEGUN, PLACED_WRITTEN };

struct lane_job {
    long long window;    /* file offset of the buffer's first byte (aligned) */
    long long lo, hi;    /* the bytes of it to write */
};

struct al_bundle_lane {
    struct al_bundle_place *pl;
    struct al_pool *io;  /* the lane's writing thread, fed its buffers */
    char *buf[2];
    struct lane_job job[2];
    int cur;
    long long window;    /* file offset of buf[cur][0], page-aligned */
    long long pos;       /* file offset of the next byte */
    long long own_lo;    /* the entry's first file byte */
    long long t;         /* the region's tar offset of the next byte */
    long long data_end;  /* tar offset after the entry's data */
    size_t room;         /* what the last reserve offered */
    size_t entry;
    char spill[4096];    /* offered once the entry is whole: anything read
                            into it is more than the entry declared */
};

struct al_bundle_place {
    struct al_bundle_writer *w;
    long long f0, rb, tlen;
    struct al_bundle_placed_entry *v;
    size_t n;
    struct al_bundle_lane *lanes;
    size_t n_lanes;
    int fd_cached, fd_direct;   /* fd_direct -1: none */
    atomic_int direct_refused;  /* a write through fd_direct was refused */
    long long grain;            /* what is written whole with O_DIRECT: a page
                                   of the page cache, or the file system's
                                   block where that is larger */
    atomic_int cancelled;
};

static long long place_header_at(const struct al_bundle_place *pl, long long k)
{
    return pl->f0 + k * (pl->rb + RAW_HEADER);
}

/* The file offset of tar offset t: the block header's, at a block's start. */
static long long place_file_at(const struct al_bundle_place *pl, long long t)
{
    long long k = t / pl->rb;

    return t % pl->rb == 0 ? place_header_at(pl, k) : pl->f0 + t + RAW_HEADER * (k + 1);
}

static long long tar_padded(long long n)
{
    return (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

/* A ustar header as libarchive's pax_restricted writer makes one for a
 * name under 100 bytes and a size under 8 GiB (al_bundle_writer_can_place
 * checks both), so that a placed tail holds the same tar as a written one. */
static void ustar_header(char h[TAR_BLOCK], const char *name, long long size, time_t mtime)
{
    unsigned sum = 0;
    size_t i;

    memset(h, 0, TAR_BLOCK);
    memcpy(h, name, strlen(name));
    memcpy(h + 100, "000644 ", 8);
    memcpy(h + 108, "000000 ", 8);
    memcpy(h + 116, "000000 ", 8);
    snprintf(h + 124, 13, "%011llo ", (unsigned long long)size);
    snprintf(h + 136, 13, "%011llo ", (unsigned long long)mtime);
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 329, "000000 ", 8);
    memcpy(h + 337, "000000 ", 8);
    for (i = 0; i < TAR_BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);   /* then NUL, and the space left */
}

int al_bundle_writer_can_place(const struct al_bundle_writer *w,
                               const struct al_bundle_placed *v, size_t n)
{
    size_t i;

    if (n == 0 || w->digest || w->split || w->stored || w->out == NULL || w->place != NULL ||
        (w->header_seen && w->raw_max == 0) ||
        w->mtime < 0 || (long long)w->mtime > USTAR_SIZE_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        size_t len = strlen(v[i].name);
        if (len == 0 || len >= AL_BUNDLE_PLACED_NAME_MAX || v[i].size < 0 ||
            v[i].size > USTAR_SIZE_MAX || strspn(v[i].name, PLAIN_NAME) != len)
            return 0;   /* (libarchive would add a pax record, or refuse) */
    }
    return 1;
}

static int pwrite_all(int fd, const char *p, size_t n, long long at)
{
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? errno : EIO;
        p += k;
        n -= (size_t)k;
        at += k;
    }
    return 0;
}

/* In a lane's writing thread: a buffer's bytes [lo, hi) to the file. Whole
 * pages go straight to the medium; a partial page at either end is shared
 * with a neighbouring entry (or the writer's own bytes) and goes through
 * the page cache, where both halves meet. A page is never written both
 * ways: a direct write would not see the cached half, nor drop it. */
static int lane_write(void *ud, void *ctx, size_t worker, size_t item, struct al_err *e)
{
    struct al_bundle_lane *l = ud;
    struct al_bundle_place *pl = l->pl;
    const struct lane_job *j = &l->job[item];
    const char *b = l->buf[item];
    long long mid_lo = (j->lo + pl->grain - 1) / pl->grain * pl->grain;
    long long mid_hi = j->hi / pl->grain * pl->grain;
    int err = 0;

    (void)ctx;
    (void)worker;
    if (mid_lo >= mid_hi)   /* no whole page: all of it is the head */
        mid_lo = mid_hi = j->hi;
    if (j->lo < mid_lo)
        err = pwrite_all(pl->fd_cached, b + (j->lo - j->window), (size_t)(mid_lo - j->lo), j->lo);
    if (mid_lo < mid_hi && err == 0) {
        int direct = pl->fd_direct >= 0 && !atomic_load(&pl->direct_refused);
        if (direct)
            err = pwrite_all(pl->fd_direct, b + (mid_lo - j->window),
                             (size_t)(mid_hi - mid_lo), mid_lo);
        if (direct && err == EINVAL)   /* refused after all: not again */
            atomic_store(&pl->direct_refused, 1);
        if (!direct || err == EINVAL)
            err = pwrite_all(pl->fd_cached, b + (mid_lo - j->window),
                             (size_t)(mid_hi - mid_lo), mid_lo);
    }
    if (err == 0 && mid_hi < j->hi)
        err = pwrite_all(pl->fd_cached, b + (mid_hi - j->window), (size_t)(j->hi - mid_hi),
                         mid_hi);
    if (err != 0)
        return al_err_sys(e, AL_EIO, err, "cannot write '%s'", pl->w->partials[pl->w->n_parts - 1]);
    return 0;
}

/* Hands what the lane's buffer holds of the entry to its writing thread,
 * once that is done with the other buffer. */
static int lane_hand(struct al_bundle_lane *l, struct al_err *e)
{
    size_t worker;
    int rc;

    if (l->pos == l->window)
        return 0;
    if ((rc = al_pool_idle(l->io, &worker, e)) != 0)
        return rc;
    l->job[l->cur] = (struct lane_job){l->window, l->own_lo > l->window ? l->own_lo : l->window,
                                       l->pos};
    al_pool_give(l->io, worker, (size_t)l->cur);
    l->cur ^= 1;
    l->window = l->pos;   /* (a full buffer ends on a page; an entry's end is
                              followed by a begin, which sets it anew) */
    return 0;
}

static int lane_cancelled(const struct al_bundle_lane *l, struct al_err *e)
{
    if (l->pl->cancelled)
        return al_err_set(e, AL_EINTR, "writing the bundle was cancelled");
    return 0;
}

/* Bytes into the lane's buffer (zeros when p is NULL) at pos. */
static int lane_put(struct al_bundle_lane *l, const char *p, size_t n, struct al_err *e)
{
    while (n > 0) {
        size_t k = n, at = (size_t)(l->pos - l->window);
        if (at == PLACE_BUF) {
            int rc = lane_hand(l, e);
            if (rc != 0)
                return rc;
            at = (size_t)(l->pos - l->window);
        }
        if (k > PLACE_BUF - at)
            k = PLACE_BUF - at;
        if (p != NULL) {
            memcpy(l->buf[l->cur] + at, p, k);
            p += k;
        } else {
            memset(l->buf[l->cur] + at, 0, k);
        }
        l->pos += (long long)k;
        n -= k;
    }
    return 0;
}

/* The header of the raw block starting at t, if it is due and not put yet. */
static int lane_block_header(struct al_bundle_lane *l, struct al_err *e)
{
    const struct al_bundle_place *pl = l->pl;
    char h[RAW_HEADER];
    long long left;

    if (l->t % pl->rb != 0 || l->pos != place_header_at(pl, l->t / pl->rb))
        return 0;
    left = pl->tlen - l->t;
    al_bundle_put_raw_header(h, (size_t)(left < pl->rb ? left : pl->rb), 0);
    return lane_put(l, h, RAW_HEADER, e);
}

/* Tar bytes (zeros when p is NULL) at t, with the block headers between. */
static int lane_emit(struct al_bundle_lane *l, const char *p, long long n, struct al_err *e)
{
    while (n > 0) {
        long long k = l->pl->rb - l->t % l->pl->rb;
        int rc = lane_block_header(l, e);
        if (rc != 0)
            return rc;
        if (k > n)
            k = n;
        if ((rc = lane_put(l, p, (size_t)k, e)) != 0)
            return rc;
        if (p != NULL)
            p += k;
        l->t += k;
        n -= k;
    }
    return 0;
}

struct al_bundle_lane *al_bundle_writer_lane(struct al_bundle_writer *w, size_t k)
{
    return w->place != NULL && k < w->place->n_lanes ? &w->place->lanes[k] : NULL;
}

int al_bundle_lane_begin(struct al_bundle_lane *l, size_t entry, struct al_err *e)
{
    struct al_bundle_placed_entry *pe;
    char h[TAR_BLOCK];
    int rc = lane_cancelled(l, e), was = PLACED_NOT_BEGUN;

    if (rc != 0)
        return rc;
    if (entry >= l->pl->n)
        return al_err_set(e, AL_EINVAL, "no placed entry %zu (there are %zu)", entry,
                          l->pl->n);
    pe = &l->pl->v[entry];
    if (!atomic_compare_exchange_strong(&pe->state, &was, PLACED_BEGUN))
        return al_err_set(e, AL_EINVAL, "'%s' is placed twice", pe->name);
    l->entry = entry;
    l->t = pe->at;
    l->data_end = pe->at + TAR_BLOCK + pe->size;
    l->pos = l->own_lo = place_file_at(l->pl, l->t);
    l->window = l->pos / l->pl->grain * l->pl->grain;
    ustar_header(h, pe->name, pe->size, l->pl->w->mtime);
    return lane_emit(l, h, TAR_BLOCK, e);
}

int al_bundle_lane_reserve(struct al_bundle_lane *l, void **space, size_t *room,
                           struct al_err *e)
{
    long long k;
    size_t at;
    int rc = lane_cancelled(l, e);

    if (rc != 0)
        return rc;
    if (l->t == l->data_end) {
        *space = l->spill;
        *room = l->room = sizeof(l->spill);
        return 0;
    }
    if ((rc = lane_block_header(l, e)) != 0)
        return rc;
    at = (size_t)(l->pos - l->window);
    if (at == PLACE_BUF) {
        if ((rc = lane_hand(l, e)) != 0)
            return rc;
        at = 0;
    }
    k = l->pl->rb - l->t % l->pl->rb;
    if (k > l->data_end - l->t)
        k = l->data_end - l->t;
    if (k > (long long)(PLACE_BUF - at))
        k = (long long)(PLACE_BUF - at);
    *space = l->buf[l->cur] + at;
    *room = l->room = (size_t)k;
    return 0;
}

int al_bundle_lane_commit(struct al_bundle_lane *l, size_t n, struct al_err *e)
{
    const struct al_bundle_placed_entry *pe = &l->pl->v[l->entry];

    if (n == 0)
        return 0;
    if (n > l->room)
        return al_err_set(e, AL_EINVAL, "'%s': %zu bytes committed, %zu reserved", pe->name,
                          n, l->room);
    l->room = 0;
    if (l->t == l->data_end)
        return al_err_set(e, AL_EDIGEST, "'%s' is larger than its declared %lld bytes",
                          pe->name, pe->size);
    l->pos += (long long)n;
    l->t += (long long)n;
    return 0;
}

int al_bundle_lane_end(struct al_bundle_lane *l, struct al_err *e)
{
    struct al_bundle_placed_entry *pe = &l->pl->v[l->entry];
    int rc;

    if (l->t != l->data_end)
        return al_err_set(e, AL_EDIGEST, "'%s' has %lld bytes, %lld were declared", pe->name,
                          pe->size - (l->data_end - l->t), pe->size);
    if ((rc = lane_emit(l, NULL, tar_padded(pe->size) - pe->size, e)) != 0)
        return rc;
    if ((rc = lane_hand(l, e)) == 0)   /* (its writes are waited for at the end) */
        atomic_store(&pe->state, PLACED_WRITTEN);
    return rc;
}

void al_bundle_place_free(struct al_bundle_place *pl)
{
    size_t i;

    if (pl == NULL)
        return;
    for (i = 0; pl->lanes != NULL && i < pl->n_lanes; i++) {
        al_pool_free(pl->lanes[i].io);   /* (joins its thread first) */
        free(pl->lanes[i].buf[0]);
        free(pl->lanes[i].buf[1]);
    }
    if (pl->fd_direct >= 0)
        close(pl->fd_direct);
    free(pl->lanes);
    free(pl->v);
    free(pl);
}

void al_bundle_writer_place_cancel(struct al_bundle_writer *w)
{
    if (w->place != NULL)
        w->place->cancelled = 1;
}

/* The same file opened again, for writes straight to the medium beside the
 * writer's own descriptor, which goes through the page cache from here on
 * (fcntl's O_DIRECT is the open file's, shared by every descriptor of it).
 * /proc/self/fd/N names the open file itself, not a path anyone can replace;
 * without /proc, or where the file system refuses O_DIRECT, every write goes
 * through the page cache. */
static int reopen_direct(int fd)
{
    struct stat a, b;
    char name[64];
    int d;

    snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
    d = open(name, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (d >= 0 && (fstat(fd, &a) != 0 || fstat(d, &b) != 0 || a.st_dev != b.st_dev ||
                   a.st_ino != b.st_ino)) {   /* (no procfs there: something else) */
        close(d);
        d = -1;
    }
    return d;
}

/* See place.grain; 0 when no write can go straight to the medium safely. */
static long long direct_grain(int fd)
{
    long page = sysconf(_SC_PAGESIZE);
    long long grain = page > DIRECT_ALIGN ? page : DIRECT_ALIGN;
    struct stat st;

    if (fstat(fd, &st) == 0 && st.st_blksize > grain)
        grain = st.st_blksize;
    return grain <= PLACE_BUF && PLACE_BUF % grain == 0 ? grain : 0;
}

int al_bundle_writer_place(struct al_bundle_writer *w, const struct al_bundle_placed *v,
                           size_t n, size_t lanes, struct al_err *e)
{
    ZSTD_inBuffer none = {NULL, 0, 0};
    struct al_bundle_place *pl;
    long long t = 0;
    size_t i;
    int rc;

    if (!al_bundle_writer_can_place(w, v, n))
        return al_err_set(e, AL_EINVAL, "these entries cannot be placed");
    if (al_bundle_compress(w, &none, ZSTD_e_flush) != 0 || al_bundle_drain_blocks(w) != 0)
        return al_bundle_archive_fail(w, v[0].name, e);
    if (w->raw_max == 0)
        return al_err_set(e, AL_EINVAL, "the zstd frame cannot take a stored tail");
    w->stored = 1;
    w->raw_left = 0;
    al_bundle_direct_off(w);
    pl = calloc(1, sizeof(*pl));
    if (pl == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    pl->w = w;
    pl->fd_direct = -1;
    pl->v = calloc(n, sizeof(*pl->v));
    pl->n = n;
    pl->lanes = calloc(lanes ? lanes : 1, sizeof(*pl->lanes));
    pl->n_lanes = lanes ? lanes : 1;
    w->place = pl;
    if (pl->v == NULL || pl->lanes == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        snprintf(pl->v[i].name, sizeof(pl->v[i].name), "%s", v[i].name);
        pl->v[i].at = t;
        pl->v[i].size = v[i].size;
        atomic_init(&pl->v[i].state, PLACED_NOT_BEGUN);
        t += TAR_BLOCK + tar_padded(v[i].size);
    }
    pl->tlen = t;
    pl->f0 = w->parts[0].size;
    pl->rb = (long long)w->raw_max;
    pl->fd_cached = w->fd;
    pl->grain = direct_grain(w->fd);
    if (pl->grain > 0)
        pl->fd_direct = reopen_direct(w->fd);
    else
        pl->grain = DIRECT_ALIGN;   /* (windows still aligned; all cached) */
    for (i = 0; i < pl->n_lanes; i++) {
        struct al_bundle_lane *l = &pl->lanes[i];
        struct al_pool_cfg pc = {.n_workers = 1, .n_items = AL_POOL_FED,
                                 .fn = lane_write, .ud = l};
        l->pl = pl;
        l->buf[0] = aligned_alloc(DIRECT_ALIGN, PLACE_BUF);
        l->buf[1] = aligned_alloc(DIRECT_ALIGN, PLACE_BUF);
        if (l->buf[0] == NULL || l->buf[1] == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        if ((rc = al_pool_start(&l->io, &pc, e)) != 0)
            return rc;
    }
    return 0;
}

int al_bundle_writer_place_end(struct al_bundle_writer *w, struct al_err *e)
{
    struct al_bundle_place *pl = w->place;
    long long end;
    size_t i;
    int rc = 0;

    for (i = 0; i < pl->n_lanes; i++) {
        struct al_err why;
        al_err_init(&why);
        if (al_pool_wait(pl->lanes[i].io, &why) != 0 && rc == 0) {
            *e = why;
            rc = why.code;
        }
    }
    if (rc != 0)
        return rc;
    for (i = 0; i < pl->n; i++)
        if (atomic_load(&pl->v[i].state) != PLACED_WRITTEN)
            return al_err_set(e, AL_EINVAL, "'%s' was not written in full: the bundle would "
                              "lack it", pl->v[i].name);
    /* the writer goes on after the region, in raw blocks of its own */
    end = place_file_at(pl, pl->tlen);
    if (lseek(w->fd, (off_t)end, SEEK_SET) < 0)
        return al_err_sys(e, AL_EIO, errno, "cannot write '%s'", w->partials[w->n_parts - 1]);
    w->bytes += end - w->parts[0].size;
    w->parts[0].size = end;
    w->place = NULL;
    al_bundle_place_free(pl);
    return 0;
}
