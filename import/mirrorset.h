/* The ImageDigestMirrorSet (config.openshift.io/v1) for the release
 * components a bundle carried: each source repository mapped to its
 * repository in the mirror, so that pulls by digest of the release's
 * images (oc adm must-gather --image=...) resolve inside the cluster. */
#ifndef AIRLOCK_IMPORT_MIRRORSET_H
#define AIRLOCK_IMPORT_MIRRORSET_H

#include <jansson.h>
#include <stddef.h>

#include "airlock/err.h"
#include "import.h"

#define IM_MIRRORSET_NAME "airlock-release"
#define IM_MIRRORSET_PATH "/apis/config.openshift.io/v1/imagedigestmirrorsets"

/* One source repository and where the mirror has it. */
struct im_mirror {
    char *source;        /* "quay.io/openshift-release-dev/ocp-v4.0-art-dev" */
    char *mirror;        /* "mirror.example.com:5000/openshift-release-dev/..." */
};

struct im_mirrors {
    struct im_mirror *v;
    size_t n;
};

/* The release components of `m` (must-gather and release:<name>) that
 * landed (`pusher` says which failed; NULL: all landed), one entry per
 * source repository, in bundle order. Release `out` whatever the result. */
int im_mirrors_from_plan(struct im_mirrors *out, const struct im_plan *plan,
                         const struct im_pusher *pusher, struct al_err *e);
void im_mirrors_release(struct im_mirrors *m);

/* The whole ImageDigestMirrorSet named IM_MIRRORSET_NAME; the caller
 * decrefs it. */
json_t *im_mirrorset_object(const struct im_mirrors *m);

/* spec.imageDigestMirrors of the object `have` with every pair of `m`
 * added (a mirror appended to its source's entry, or a new entry), every
 * other entry and mirror kept in order; NULL when `have` already has them
 * all. The caller decrefs it. */
json_t *im_mirrorset_merge(json_t *have, const struct im_mirrors *m);

#endif
