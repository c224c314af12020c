/* The release payload: its image-references name the images the release
 * brings (must-gather among them). */
#ifndef EX_RELEASE_H
#define EX_RELEASE_H

#include <stddef.h>

#include "airlock/buf.h"
#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/manifest.h"
#include "airlock/ref.h"
#include "airlock/registry.h"
#include "inputs.h"
#include "samples.h"

#define EX_REFS_MAX (16 * 1024 * 1024) /* image-references bound */

/* What bundle.json says of the release. */
struct ex_release {
    const char *pull_spec;              /* --release, borrowed */
    const char *arch;                   /* the payload's platform, borrowed */
    char *source;                       /* where it was read from, owned */
    char digest[AL_DIGEST_STR_MAX];     /* the payload manifest's */
    int has_samples;                    /* the samples were read from it */
    struct ex_samples samples;
};

/* Reads release `pull_spec` for `arch` and adds its must-gather and each of
 * `components` to `images`, by digest; with `samples`, also the samples its
 * cluster-samples-operator carries for `samples_arch` (NULL: the image's
 * own; see ex_samples_read). `rel` is filled for bundle.json; release it
 * with ex_release_release() whatever the result. */
int ex_release_read(struct ex_release *rel, const char *pull_spec, const char *arch,
                    const char *const *components, size_t n_components,
                    int samples, const char *samples_arch,
                    struct al_registry *reg, struct ex_images *images,
                    struct al_err *e);

/* Replaces index `m` (whose bytes are in `body`, media type `*mt`) by its
 * manifest for platform `arch`, fetched from `at`, with its digest. */
int ex_pick_platform(const struct al_repo *at, struct al_manifest *m,
                     struct al_buf *body, char **mt, char digest[AL_DIGEST_STR_MAX],
                     const char *arch, const char *what, struct al_err *e);
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
