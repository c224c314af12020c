/* --cache DIR: blobs kept by digest between runs, so that a nightly export
 * downloads only what changed. Entries are verified (size and SHA-256) as
 * they are reused; a bad one is thrown away and fetched again. Written as
 * DIR/tmp/<hex>.partial and renamed into DIR/sha256/<hex> only once its
 * digest matched. */
#ifndef AIRLOCK_EXPORT_CACHE_H
#define AIRLOCK_EXPORT_CACHE_H

#include <stdio.h>

#include "airlock/digest.h"
#include "airlock/err.h"

struct ex_cache;

/* Opens (creating) DIR and locks it: a second run on the same cache is
 * AL_EBUSY. `max_bytes` 0: no limit. */
int ex_cache_open(struct ex_cache **out, const char *dir, long long max_bytes,
                  struct al_err *e);
void ex_cache_close(struct ex_cache *c);   /* accepts NULL */

/* An open entry of `size` bytes for `digest`, or NULL (not cached). */
FILE *ex_cache_get(struct ex_cache *c, const char *digest, long long size);
/* Throws away an entry that did not verify. */
void ex_cache_drop(struct ex_cache *c, const char *digest);

/* Writing an entry while it downloads: begin, write..., commit once the
 * digest matched (or abort). Failures only cost the cache, never the run. */
FILE *ex_cache_begin(struct ex_cache *c, const char *digest);
void ex_cache_commit(struct ex_cache *c, FILE *f, const char *digest, int ok);

/* Removes the least recently used entries until the cache is within its
 * maximum; returns the bytes removed. */
long long ex_cache_trim(struct ex_cache *c);

#endif
