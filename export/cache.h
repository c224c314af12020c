/* --cache DIR: blobs kept by digest between runs, so that a nightly export
 * downloads only what changed. DIR, DIR/sha256 and DIR/tmp must be this
 * user's and not writable by others (else the cache is refused); entries
 * are reached only through those directories' descriptors, never through a
 * link. Written as DIR/tmp/<hex>.partial.XXXXXX and renamed into
 * DIR/sha256/<hex> only once its digest matched. A reused entry is checked
 * for its size when opened and hashed as it is copied into the bundle (see
 * blobs.c). */
#ifndef AIRLOCK_EXPORT_CACHE_H
#define AIRLOCK_EXPORT_CACHE_H

#include <stddef.h>
#include <stdio.h>

#include "airlock/digest.h"
#include "airlock/err.h"

struct ex_cache;

/* Opens (creating) DIR and locks it (DIR/.lock): a second run on the same
 * cache is AL_EBUSY; a DIR or subdirectory of another user's, writable by
 * others, or a link in place of DIR/sha256 or DIR/tmp is AL_EINVAL naming
 * it. `max_bytes` 0: no limit. With `look_only` (--dry-run) nothing in DIR
 * is created, locked, dropped or touched: entries are only looked up, and
 * nothing may be written (no ex_cache_begin, drop or trim). */
int ex_cache_open(struct ex_cache **out, const char *dir, long long max_bytes,
                  int look_only, struct al_err *e);
void ex_cache_close(struct ex_cache *c);   /* accepts NULL */

/* The entry of `digest` opened for reading (close() it): a regular file of
 * exactly `size` bytes, or -1 when there is none. An entry of another size
 * is dropped and *wrong_size set. */
int ex_cache_get(struct ex_cache *c, const char *digest, long long size, int *wrong_size);
/* Throws away an entry that did not verify. */
void ex_cache_drop(struct ex_cache *c, const char *digest);
/* DIR/sha256/<hex>, for messages. */
void ex_cache_entry_name(const struct ex_cache *c, const char *digest, char *out,
                         size_t n);

/* Writing an entry while it downloads: begin (NULL when the cache cannot
 * take it), write..., commit once the digest matched (ok 1) or not (ok 0;
 * the temporary goes). commit frees `t` and accepts NULL. Failures only
 * cost the cache, never the run. */
struct ex_cache_tee;
struct ex_cache_tee *ex_cache_begin(struct ex_cache *c, const char *digest);
int ex_cache_write(struct ex_cache_tee *t, const void *p, size_t n);
void ex_cache_commit(struct ex_cache *c, struct ex_cache_tee *t, const char *digest,
                     int ok);

/* Removes the least recently used entries until the cache is within its
 * maximum; returns the bytes removed. */
long long ex_cache_trim(struct ex_cache *c);

#endif
