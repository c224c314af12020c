/* The Docker Registry HTTP API v2 / OCI distribution API: the client and
 * the pull side (the push side is in airlock/registry_push.h).
 *
 * Images are named by their logical registry ("registry.redhat.io"); a
 * mirror mapping (--pull-from) says where that registry is actually reached.
 * Every endpoint is probed once at /v2/ to learn how it authenticates; Bearer
 * tokens are fetched per repository scope and cached; Basic credentials come
 * from the auth file of the endpoint actually contacted. */
#ifndef AIRLOCK_REGISTRY_H
#define AIRLOCK_REGISTRY_H

#include <stddef.h>

#include "airlock/auth.h"
#include "airlock/buf.h"
#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/http.h"

struct al_registry;

/* `http` and `auth` are borrowed and must outlive the registry client. */
int al_registry_new(struct al_registry **out, struct al_http *http,
                    const struct al_authfile *auth, struct al_err *e);
void al_registry_free(struct al_registry *r);   /* accepts NULL */

/* A second client, on connections of its own (made from `http_opts`,
 * closed by al_registry_free), that starts with what `src` has learnt
 * (mappings, settings, each endpoint's challenge and tokens): for another
 * thread, as a registry client is not thread-safe. */
int al_registry_clone(struct al_registry **out, const struct al_registry *src,
                      const struct al_http_opts *http_opts, struct al_err *e);

/* Takes into `into` what `from` (a clone) learnt that `into` lacks: probed
 * endpoints and tokens, so that the next clones start with them. */
void al_registry_absorb(struct al_registry *into, const struct al_registry *from);

/* Adds "FROM=TO": images of registry FROM are fetched from TO, which is
 * host[:port] optionally followed by a path prefix ("cache.local/redhat"). */
int al_registry_add_mapping(struct al_registry *r, const char *spec,
                            struct al_err *e);

/* A repository as the calls below name it: the client that reaches it and
 * its logical names. Every member is borrowed, so a compound literal at the
 * call site does: &(struct al_repo){reg, "quay.io", "org/app"}. */
struct al_repo {
    struct al_registry *reg;
    const char *registry;   /* logical registry: "registry.redhat.io" */
    const char *repo;       /* repository path on it: "ubi8/ruby-31" */
};

/* Where `at` is really fetched from, as "host[:port]/path"; newly
 * allocated (NULL when out of memory). */
char *al_registry_source(const struct al_repo *at);

/* Checks that `registry` answers like a registry (GET /v2/), once, and
 * learns how its endpoint authenticates. */
int al_registry_probe(struct al_registry *r, const char *registry, struct al_err *e);

/* Fetches a manifest by tag or digest into `body` (which the caller
 * initialised with a maximum) and returns its media type (owned by caller)
 * and computed digest. The digest is checked against `reference` when that
 * is a digest, and against Docker-Content-Digest when the registry sends it:
 * a mismatch is AL_EDIGEST. */
int al_registry_get_manifest(const struct al_repo *at, const char *reference,
                             struct al_buf *body, char **media_type,
                             char digest[AL_DIGEST_STR_MAX], struct al_err *e);

/* A blob of `size` bytes read to its end whatever the connection does: a
 * transfer that breaks off, stalls past the timeout or ends early is
 * resumed where it stopped (a Range request) up to the retries, each time
 * told to `on_resume` (may be NULL). Redirects are followed, credentials
 * never sent to the redirect target. Nothing past `size` is read: the
 * caller, who hashes the bytes anyway, checks them against the digest.
 * `*at` is copied, but its names are borrowed: they must outlive the
 * reader. */
struct al_blob_reader;
typedef void (*al_resume_fn)(void *ud, const char *digest, long long offset,
                             const char *why);
int al_blob_reader_open(const struct al_repo *at, const char *digest, long long size,
                        al_resume_fn on_resume, void *ud,
                        struct al_blob_reader **out, struct al_err *e);
/* *got = 0 once all `size` bytes were read. */
int al_blob_reader_read(struct al_blob_reader *br, void *p, size_t n, size_t *got,
                        struct al_err *e);
void al_blob_reader_close(struct al_blob_reader *br);   /* accepts NULL */

/* Transient failures (connection errors, timeouts, HTTP 429 and 5xx) are
 * tried again up to `retries` times, after `first_delay_ms` doubling each
 * time with jitter, or after what Retry-After asks (at most 120 s).
 * Default: 5 retries, 500 ms. */
void al_registry_set_retries(struct al_registry *r, int retries, long first_delay_ms);

#endif
