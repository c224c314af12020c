/* The release payload: its image-references name the images the release
 * brings (must-gather among them). */
#ifndef EX_RELEASE_H
#define EX_RELEASE_H

#include <stddef.h>

#include "airlock/buf.h"
#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/ref.h"
#include "airlock/registry.h"
#include "inputs.h"

#define EX_REFS_MAX (16 * 1024 * 1024) /* image-references bound */

/* What bundle.json says of the release. */
struct ex_release {
    const char *pull_spec;              /* --release, borrowed */
    const char *arch;                   /* the payload's platform, borrowed */
    char *source;                       /* where it was read from, owned */
    char digest[AL_DIGEST_STR_MAX];     /* the payload manifest's */
};

/* Reads release `pull_spec` for `arch` and adds its must-gather and each of
 * `components` to `images`, by digest. `rel` is filled for bundle.json;
 * release it with ex_release_release() whatever the result. */
int ex_release_read(struct ex_release *rel, const char *pull_spec, const char *arch,
                    const char *const *components, size_t n_components,
                    struct al_registry *reg, struct ex_images *images,
                    struct al_err *e);
void ex_release_release(struct ex_release *rel);

/* Resolves the release: fetches the payload for `arch`, reads
 * release-manifests/image-references from its last layer (streamed), and
 * returns its text and the payload's digest. */
int ex_release_references(struct al_registry *reg, const struct al_ref *release,
                          const char *arch, struct al_buf *refs,
                          char digest[AL_DIGEST_STR_MAX], char **source,
                          struct al_err *e);

/* The host's architecture in OCI terms (amd64, arm64, ppc64le, s390x). */
const char *ex_host_arch(void);

#endif
