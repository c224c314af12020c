/* The push side of the registry client (the import's mirror): blob and
 * manifest HEADs, cross-repository mounts, streamed blob uploads and
 * manifest PUTs, on the client of airlock/registry.h. */
#ifndef AIRLOCK_REGISTRY_PUSH_H
#define AIRLOCK_REGISTRY_PUSH_H

#include <stddef.h>

#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/registry.h"

/* Ask for push as well as pull access on every repository from now on. */
void al_registry_set_push(struct al_registry *r, int push);

/* HEAD of a blob: *exists = 1 (200) or 0 (404); anything else is an error. */
int al_registry_blob_exists(const struct al_repo *at, const char *digest, int *exists,
                            struct al_err *e);

/* Cross-repository mount of `digest` from `from_repo` (on the same
 * registry) into `at`. *mounted = 0 when the registry declined (the upload
 * session it opened instead is cancelled): the caller then uploads. */
int al_registry_blob_mount(const struct al_repo *at, const char *digest,
                           const char *from_repo, int *mounted, struct al_err *e);

/* A blob upload streamed in the caller's rhythm: open (POST: a session),
 * write..., then commit or abort. The bytes travel in one request, PUT
 * <session>?digest=DIGEST with Content-Length `size` (a monolithic upload),
 * begun by the first write (or by commit for an empty blob). Its last byte
 * is sent only by commit, so the request that completes the commit is never
 * sent unless the caller commits: call commit only once the bytes are known
 * to be the digest's; abort cuts the body short and deletes the session.
 * Commit and abort free `up`. The upload keeps copies of the names in `*at`;
 * the client must outlive it. */
struct al_blob_upload;
int al_registry_upload_open(const struct al_repo *at, const char *digest, long long size,
                            struct al_blob_upload **out, struct al_err *e);
/* The same, unless the repository has the blob: a mount of it from the
 * repository itself (POST ?mount=DIGEST&from=REPO) asks both at once. 201:
 * *present = 1 and *out = NULL; 202: a session as from _open. A registry
 * that does not mount opens a session whether or not it has the blob. */
int al_registry_upload_open_unless_present(const struct al_repo *at, const char *digest,
                                           long long size, struct al_blob_upload **out,
                                           int *present, struct al_err *e);
int al_registry_upload_write(struct al_blob_upload *up, const void *p, size_t n,
                             struct al_err *e);
int al_registry_upload_commit(struct al_blob_upload *up, struct al_err *e);
void al_registry_upload_abort(struct al_blob_upload *up);   /* accepts NULL */
/* Instead of write and commit, for a blob of at least one byte: its bytes
 * pulled from `fill` straight into the HTTP client's buffer (see
 * al_http_upload_pull; fill decides whether to give the last byte, which
 * completes the commit), and the answer read. Frees `up` in every case;
 * AL_EINTR when fill abandoned the body (nothing was committed). */
int al_registry_upload_pull(struct al_blob_upload *up,
                            size_t (*fill)(void *ud, char *dst, size_t n), void *ud,
                            struct al_err *e);

/* HEAD of a manifest by tag or digest: *exists, and the registry's digest
 * for it ("" when it sent none). */
int al_registry_manifest_head(const struct al_repo *at, const char *reference,
                              char digest[AL_DIGEST_STR_MAX], int *exists,
                              struct al_err *e);

/* PUT of manifest bytes, unchanged, under a tag or their digest. */
int al_registry_put_manifest(const struct al_repo *at, const char *reference,
                             const char *media_type, const void *data, size_t len,
                             struct al_err *e);

#endif
