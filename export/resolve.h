/* Inputs to images, and images to their manifests. */
#ifndef EX_RESOLVE_H
#define EX_RESOLVE_H

#include <stddef.h>

#include "airlock/err.h"
#include "airlock/http.h"
#include "airlock/registry.h"
#include "export.h"
#include "inputs.h"

/* Reads --samples-configmap, --imagestreams and --image into `images`
 * (the release's components are added by ex_release_add_components). */
int ex_read_inputs(struct ex_images *images, const struct ex_config *cfg,
                   struct al_err *e);

struct ex_resolve_cfg {
    const char *const *arches;        /* --arch; none: every platform */
    size_t n_arches;
    size_t jobs;                      /* images resolved at once */
    const struct al_http_opts *http;  /* each thread opens its own client */
    al_report_fn report;              /* images skipped, and why */
    void *ud;
};

/* Fetches every image's manifests (children first, the root last; an index
 * filtered to the --arch platforms). A samples image that cannot be had is
 * marked failed and reported; any other failure, or one that is not about
 * a single image, ends the export with the first such error in input
 * order. */
int ex_resolve_all(struct ex_images *images, struct al_registry *reg,
                   const struct ex_resolve_cfg *cfg, struct al_err *e);

/* Release images and --image are what the cluster needs: losing one ends
 * the export. Samples images may fail one by one. */
int ex_image_is_essential(const struct ex_image *img);

#endif
