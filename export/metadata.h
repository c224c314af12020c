/* bundle.json's model from the export's images, plan and release. */
#ifndef EX_METADATA_H
#define EX_METADATA_H

#include <time.h>

#include "airlock/err.h"
#include "airlock/meta.h"
#include "inputs.h"
#include "plan.h"
#include "release.h"

struct ex_metadata_src {
    const char *id;                   /* the bundle's id */
    time_t created;
    const struct ex_images *images;   /* failed ones go to "failed" */
    const struct ex_plan *plan;
    const struct ex_release *release; /* NULL without --release */
};

/* Fills `m` (release it with al_bundle_meta_release() whatever the result)
 * so that al_bundle_meta_write() gives bundle.json. */
int ex_metadata_model(const struct ex_metadata_src *src, struct al_bundle_meta *m,
                      struct al_err *e);

#endif
