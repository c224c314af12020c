/* SHA-256 digests in the "sha256:<64 hex>" form used by OCI. */
#ifndef AIRLOCK_DIGEST_H
#define AIRLOCK_DIGEST_H

#include <stddef.h>

#include "airlock/err.h"

#define AL_DIGEST_STR_MAX 72 /* "sha256:" + 64 hex + NUL, rounded up */

struct al_sha256;   /* opaque streaming hasher */

/* Allocates a hasher; NULL on allocation failure. */
struct al_sha256 *al_sha256_new(void);
void al_sha256_free(struct al_sha256 *h);   /* accepts NULL */
void al_sha256_update(struct al_sha256 *h, const void *p, size_t n);
/* Writes "sha256:<hex>" into out and resets the hasher for reuse. */
void al_sha256_final(struct al_sha256 *h, char out[AL_DIGEST_STR_MAX]);

/* One-shot digest of a memory range. */
void al_sha256_digest(const void *p, size_t n, char out[AL_DIGEST_STR_MAX]);

/* True when `s` is exactly "sha256:" followed by 64 lowercase hex digits.
 * Other algorithms are refused: airlock verifies everything it carries. */
int al_digest_valid(const char *s);

#endif
