/* The bundle: a zstd-compressed POSIX pax tar (see docs/FORMAT.md).
 *
 * Entry order: bundle.json, bundle.json.sig, oci-layout, index.json, then
 * blobs/sha256/<hex> with layers and configs before the manifests that use
 * them and child manifests before their indexes. */
#ifndef AIRLOCK_BUNDLE_H
#define AIRLOCK_BUNDLE_H

#include <stddef.h>
#include <time.h>

#include "airlock/buf.h"
#include "airlock/digest.h"
#include "airlock/err.h"

#define AL_BUNDLE_FORMAT "airlock-bundle"
#define AL_BUNDLE_VERSION 1
#define AL_BUNDLE_META "bundle.json"
#define AL_BUNDLE_SIG "bundle.json.sig"
#define AL_BUNDLE_META_MAX (64 * 1024 * 1024) /* bound for readers */

struct al_bundle_writer;

/* Creates a new `path`.partial.XXXXXX (a name no one can predict, created
 * with O_EXCL | O_NOFOLLOW); nothing named `path` exists until commit.
 * `mtime` stamps every entry (the bundle's creation time). */
int al_bundle_writer_open(struct al_bundle_writer **out, const char *path,
                          time_t mtime, int zstd_level, struct al_err *e);

/* Adds a whole entry from memory. */
int al_bundle_writer_add(struct al_bundle_writer *w, const char *name,
                         const void *data, size_t len, struct al_err *e);

/* Streams an entry of exactly `size` bytes: begin, write..., end. end()
 * fails when fewer or more bytes were written than declared. */
int al_bundle_writer_begin(struct al_bundle_writer *w, const char *name,
                           long long size, struct al_err *e);
int al_bundle_writer_write(struct al_bundle_writer *w, const void *p, size_t n,
                           struct al_err *e);
int al_bundle_writer_end(struct al_bundle_writer *w, struct al_err *e);

/* begin() for bytes that are compressed already (gzip or zstd layers) when
 * `precompressed`: from the first such entry of 1 MiB or more on, the
 * bundle's single zstd frame goes on in raw blocks (stored, copied once),
 * this entry and every later one, so a writer puts such entries last. */
int al_bundle_writer_begin_compressed(struct al_bundle_writer *w, const char *name,
                                      long long size, int precompressed,
                                      struct al_err *e);

/* Placing: the entries that come next, written by several threads at once,
 * each straight to its place in the file, in any order. Their sizes fix
 * where each lies (the stored tail: tar headers and raw blocks of fixed
 * sizes), so no entry waits for the one before it.
 *  - can_place: whether `v` can be placed now: a single-file bundle whose
 *    digest is skipped, no stored tail begun yet, nothing placed yet, plain
 *    names (letters, digits, "/._-") under 100 bytes and sizes under 8 GiB
 *    (a plain ustar header). Otherwise write them in turn.
 *  - place: lays the entries out after everything written so far, with
 *    `lanes` lanes (one for each thread that will write); it fails if the
 *    zstd frame cannot take a stored tail, which this writer's own settings
 *    never make. Until place_end, nothing else may be written.
 *  - lane k: one thread's way in, used by one thread at a time: begin an
 *    entry (by its index in `v`), reserve space and commit what was put in
 *    it (like al_pipe), end it (fails unless it had its declared size).
 *    Reserve offers space beyond a whole entry so that a reader can tell
 *    its end; committing bytes there fails.
 *  - place_end: after every entry ended, waits until all is written; the
 *    writer then goes on after them (add, begin..., commit).
 *  - place_cancel (any thread): every lane call fails from now on.
 * On any failure, abort the writer. */
#define AL_BUNDLE_STORED_MIN (1024 * 1024)
#define AL_BUNDLE_PLACED_NAME_MAX 100

struct al_bundle_placed {
    const char *name;
    long long size;
};

struct al_bundle_lane;

int al_bundle_writer_can_place(const struct al_bundle_writer *w,
                               const struct al_bundle_placed *v, size_t n);
int al_bundle_writer_place(struct al_bundle_writer *w, const struct al_bundle_placed *v,
                           size_t n, size_t lanes, struct al_err *e);
struct al_bundle_lane *al_bundle_writer_lane(struct al_bundle_writer *w, size_t k);
int al_bundle_lane_begin(struct al_bundle_lane *l, size_t entry, struct al_err *e);
int al_bundle_lane_reserve(struct al_bundle_lane *l, void **space, size_t *room,
                           struct al_err *e);
int al_bundle_lane_commit(struct al_bundle_lane *l, size_t n, struct al_err *e);
int al_bundle_lane_end(struct al_bundle_lane *l, struct al_err *e);
int al_bundle_writer_place_end(struct al_bundle_writer *w, struct al_err *e);
void al_bundle_writer_place_cancel(struct al_bundle_writer *w);

/* Finishes the archive, flushes it to stable storage and renames the
 * partial file(s) to their names. Frees `w` whether or not it succeeds (on
 * failure every partial file is removed). */
int al_bundle_writer_commit(struct al_bundle_writer *w, struct al_err *e);

/* Removes the partial file(s) and frees `w`. Accepts NULL. */
void al_bundle_writer_abort(struct al_bundle_writer *w);

/* Volumes: the bundle cut into parts PATH.000, PATH.001, ... of at most
 * `split_size` bytes each, whose concatenation is the bundle. */
#define AL_BUNDLE_PARTS_MAX 10000

struct al_bundle_part {
    char *name;                      /* the file written */
    long long size;
    char digest[AL_DIGEST_STR_MAX];  /* SHA-256 of the part's bytes */
};

struct al_bundle_parts {
    struct al_bundle_part *v;
    size_t n;
    long long split;                 /* 0: one file */
    long long size;                  /* the whole bundle */
    char digest[AL_DIGEST_STR_MAX];  /* SHA-256 of the whole bundle */
};

/* split_size 0 is al_bundle_writer_open(); zstd compresses on
 * `zstd_threads` worker threads of its own (at least one; the output stays
 * one zstd frame). */
int al_bundle_writer_open_split(struct al_bundle_writer **out, const char *path,
                                time_t mtime, int zstd_level, long long split_size,
                                int zstd_threads, struct al_err *e);

/* A single-file bundle whose digest no one will read: its bytes are not
 * hashed (a SHA-256 pass over the whole bundle) and the part's digest is
 * left empty. No effect on a split bundle, whose parts list needs them. */
void al_bundle_writer_skip_digest(struct al_bundle_writer *w);

/* At the commit, every part is read back from its medium (not the page
 * cache) and checked against the size and SHA-256 written, before any takes
 * its final name: a faulty medium fails the commit and leaves an earlier
 * bundle of those names as it was. */
void al_bundle_writer_read_back(struct al_bundle_writer *w);

/* Ends the archive and flushes the last part, renaming nothing: the
 * partial names (al_bundle_writer_partials) are then all there will be.
 * Optional before commit, which does it otherwise; on failure, abort. */
int al_bundle_writer_finish(struct al_bundle_writer *w, struct al_err *e);

/* Commits and describes what was written (parts may be NULL). */
int al_bundle_writer_commit_parts(struct al_bundle_writer *w,
                                  struct al_bundle_parts *parts, struct al_err *e);
void al_bundle_parts_release(struct al_bundle_parts *p);


/* The partial files so far, for a signal handler to unlink: the array and
 * its strings never move while `w` lives. */
const char *const *al_bundle_writer_partials(const struct al_bundle_writer *w,
                                             size_t *n);

/* Tidying up after an earlier run of this user's, for a caller that holds
 * the output's lock (al_lock_acquire), so that no other run is writing
 * these names. Only regular files of this user's, named exactly as this
 * writer names them, are removed; links are not followed. Both return how
 * many files went, or a negative code.
 * remove_partials: the temporaries of a run that was killed (PATH.partial.*).
 * remove_volumes_from: volumes PATH.NNN numbered `first` and up, left by an
 * earlier, longer export; call it only once the new volumes are committed,
 * so that `cat PATH.[0-9]*` and PATH.000 without its list read the new
 * bundle. */
int al_bundle_remove_partials(const char *path, struct al_err *e);
int al_bundle_remove_volumes_from(const char *path, size_t first, struct al_err *e);

/* Reading: a zstd stream (decoded here, so that a truncated frame and bytes
 * after it are told apart) under libarchive's tar reader. Entries come out
 * in order and are never written to disk. The reader refuses, naming the
 * entry: anything but a regular file (links, directories, devices), sparse
 * entries, absolute names, empty or ".." components, names over 255 bytes,
 * a truncated or corrupt stream, and anything but zero padding after the end
 * of the archive. Which entries belong is the caller's business. */
#define AL_BUNDLE_NAME_MAX 255

struct al_bundle_reader;

/* Opens `path`, or standard input when path is "-". Volumes are read in
 * turn, without joining them: `path` may be a volume list FILE.parts (each
 * volume checked for size and SHA-256 as it passes, so a damaged, missing or
 * foreign one is named), or FILE.000 (with FILE.parts beside it, or alone,
 * the next volumes then being FILE.001, ...). */
int al_bundle_reader_open(struct al_bundle_reader **out, const char *path,
                          struct al_err *e);

/* Advances to the next entry: returns 1 and sets *name (valid until the
 * next call) and *size, or 0 at the clean end of the bundle, or an error. */
int al_bundle_reader_next(struct al_bundle_reader *r, const char **name,
                          long long *size, struct al_err *e);

/* Reads up to `n` bytes of the current entry; *got = 0 at its end. */
int al_bundle_reader_read(struct al_bundle_reader *r, void *p, size_t n,
                          size_t *got, struct al_err *e);

/* Reads the rest of the current entry into `b` (bounded by its maximum). */
int al_bundle_reader_read_all(struct al_bundle_reader *r, struct al_buf *b,
                              struct al_err *e);

/* "bundle 'FILE'" or "bundle on standard input", for messages. */
const char *al_bundle_reader_label(const struct al_bundle_reader *r);

/* The volume list in use, or NULL. */
const char *al_bundle_reader_parts_list(const struct al_bundle_reader *r);

/* Compressed bytes consumed so far. */
long long al_bundle_reader_bytes(const struct al_bundle_reader *r);

/* Like al_bundle_reader_open(); when a volume list is used and `key` is not
 * NULL, the list is checked against its signature file first, over the very
 * bytes then parsed (AL_ESIG when unsigned, forged or by another key). The
 * key must outlive the reader. */
struct al_sig_key;
int al_bundle_reader_open_signed(struct al_bundle_reader **out, const char *path,
                                 const struct al_sig_key *key, struct al_err *e);

void al_bundle_reader_free(struct al_bundle_reader *r);   /* accepts NULL */

#endif
