/* The bundle writer's insides, shared by common/bundle.c (the writer) and
 * common/bundle_place.c (entries placed by several threads), and the stored
 * tail's arithmetic the unit tests check on its own. */
#ifndef AL_BUNDLE_INT_H
#define AL_BUNDLE_INT_H

#include <archive.h>
#include <stddef.h>
#include <time.h>
#include <zstd.h>

#include "airlock/bundle.h"
#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/pool.h"

/* Bytes per write(2) of the bundle: libarchive's default of 10 KiB made
 * one system call per 10 KiB, each starting mid-page (the kernel then
 * zeroes the rest of a fresh page first); whole MiBs are page-aligned.
 * Blocks are written (and hashed) by a thread of their own while the next
 * one is compressed: the compressing thread was the export's slowest. */
#define BUNDLE_WRITE_BLOCK (1024 * 1024)
#define BUNDLE_BLOCKS 2

/* zstd: layers that are compressed already (gzip, zstd) gain nothing from
 * any level, and even its fastest copies each byte five times (into its
 * job, into its literals twice, into a raw block, out of the job: 20% of
 * an export's CPU). So the frame has a stored tail: at the first such
 * entry of at least AL_BUNDLE_STORED_MIN, zstd is flushed and left, and from
 * there every byte goes into raw blocks the writer frames itself (RFC 8878
 * 3.1.1.2), copied once (or placed: bundle_place.c); the export puts those
 * entries last. The bundle stays one frame, which stock zstd reads. Raw
 * blocks the writer frames never cross one of its blocks,
 * so the header of the one being filled can still be corrected at the end;
 * hence no block may leave 1 to 3 bytes of the writer's block (no room for a
 * header and a byte). Jobs of 1 MiB without overlap keep each worker's
 * buffers small. */
#define RAW_BLOCK_MAX (128 * 1024)
#define RAW_HEADER 3
#define ZSTD_JOB_SIZE (1024 * 1024)

struct al_bundle_place;

struct al_bundle_writer {
    struct archive *a;
    int fd;                 /* the part being written */
    int direct;             /* fd is O_DIRECT (see direct_fits) */
    char *path;
    time_t mtime;
    long long bytes;        /* compressed bytes written in all */
    int write_errno;        /* errno of the first failed write */
    char entry[300];        /* the entry being streamed */
    long long entry_size;
    long long entry_written;
    long long split;        /* 0: one file; else the most bytes per part */
    struct al_bundle_part *parts;   /* AL_BUNDLE_PARTS_MAX slots, never moved */
    const char **partials;  /* their temporary names, for a signal handler */
    volatile size_t n_parts;
    struct al_sha256 *part_sha;
    struct al_sha256 *all_sha;      /* the whole bundle; only when split (one
                                       part is the whole bundle otherwise) */
    int digest;             /* hash what is written (see skip_digest) */
    int read_back;          /* see al_bundle_writer_read_back */
    int finished;           /* al_bundle_writer_finish succeeded */
    struct al_pool *out;    /* the writing thread, fed blocks */
    char *block[BUNDLE_BLOCKS];
    size_t block_len[BUNDLE_BLOCKS];
    size_t cur;             /* the block being filled */
    struct al_err out_err;  /* the writing thread's failure, once known */
    size_t handed;          /* blocks handed to the writing thread so far */
    ZSTD_CCtx *z;
    int z_failed;           /* zstd refused: its name in z_why */
    char z_why[128];
    /* the stored tail (see AL_BUNDLE_STORED_MIN) */
    int header_seen;        /* zstd's frame header was looked at */
    size_t raw_max;         /* the largest raw block its frame allows; 0:
                               the frame cannot take a stored tail */
    int stored;             /* zstd is left: bytes go into raw blocks */
    size_t raw_at;          /* the open raw block's header in block[cur] */
    size_t raw_size, raw_left;   /* its declared size, the bytes still due */
    struct al_bundle_place *place;    /* entries being placed (al_bundle_writer_place) */
};

/* O_DIRECT's alignment (see al_bundle_direct_off in bundle.c). */
#define DIRECT_ALIGN 4096

/* What bundle_place.c uses of the sequential writer (bundle.c). */
int al_bundle_compress(struct al_bundle_writer *w, ZSTD_inBuffer *in, ZSTD_EndDirective op);
int al_bundle_drain_blocks(struct al_bundle_writer *w);
void al_bundle_direct_off(struct al_bundle_writer *w);
int al_bundle_archive_fail(struct al_bundle_writer *w, const char *doing, struct al_err *e);
void al_bundle_put_raw_header(char *at, size_t size, int last);
/* Joins the lanes' writing threads and frees `pl`; accepts NULL. */
void al_bundle_place_free(struct al_bundle_place *pl);

/* The largest raw block that may follow the zstd frame header h[0..n), or 0
 * when no stored tail may follow it. */
size_t al_bundle_raw_block_max(const unsigned char *h, size_t n);

/* The size of the raw block to open with `room` bytes left of the writer's
 * block: at most raw_max, its header and bytes within the room, and never
 * leaving 1 to 3 bytes of it; 0 when none fits (room 1 to 3, raw_max below
 * 5). */
size_t al_bundle_raw_block_size(size_t room, size_t raw_max);

#endif
