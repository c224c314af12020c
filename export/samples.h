/* The samples imagestreams from the release itself: the files its
 * cluster-samples-operator image installs, for one architecture, read
 * straight from the image's layers. */
#ifndef EX_SAMPLES_H
#define EX_SAMPLES_H

#include <stddef.h>

#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/registry.h"
#include "inputs.h"

#define EX_SAMPLES_COMPONENT "cluster-samples-operator"

/* What bundle.json says of samples taken from the release. */
struct ex_samples {
    char *image;                     /* the operator image as the release
                                        names it (by digest); owned */
    char digest[AL_DIGEST_STR_MAX];  /* the manifest whose layers were read */
    char arch[16];                   /* operator directory: "x86_64" */
    size_t n_streams, n_tags;
};

/* The samples operator's directory for an architecture given as --arch
 * does (amd64, linux/arm64/v8, ...) or as the operator does (x86_64); NULL
 * when it has none. */
const char *ex_samples_arch_dir(const char *arch);

/* Reads component cluster-samples-operator of the release whose
 * image-references is `refs` (JSON text) and adds the images its
 * imagestreams for one architecture name to `images`, as --imagestreams
 * would. The architecture is `arch` (the first --arch) when given, else
 * the image's own: an index is picked by `platform` (what picked the
 * release's payload), a single image says its own in its config. `s` is
 * filled for bundle.json; release it with ex_samples_release() whatever
 * the result. */
int ex_samples_read(struct ex_samples *s, struct al_registry *reg, const char *refs,
                    size_t refs_len, const char *arch, const char *platform,
                    struct ex_images *images, struct al_err *e);
void ex_samples_release(struct ex_samples *s);

#endif
