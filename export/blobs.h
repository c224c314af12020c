/* Streams the plan's blobs into the bundle. */
#ifndef EX_BLOBS_H
#define EX_BLOBS_H

#include <stddef.h>

#include "airlock/bundle.h"
#include "airlock/err.h"
#include "airlock/http.h"
#include "airlock/registry.h"
#include "cache.h"
#include "plan.h"

struct ex_blobs_cfg {
    size_t jobs;                       /* blobs downloaded at once */
    const struct al_http_opts *http;   /* each thread opens its own client */
    const struct al_registry *reg;     /* cloned for each thread */
    struct ex_cache *cache;            /* --cache, or NULL */
    al_report_fn report;               /* resumed downloads, damaged cache entries */
    void *ud;
    /* At most 4 times a second and once at the end (done == total). */
    void (*progress)(void *ud, long long done, long long total);
    void *progress_ud;
};

/* Writes every blob of `plan` that no earlier bundle carried into `w`, in
 * plan order: manifests from memory, the rest from the cache or their
 * registry, each checked against its digest. *cache_hits: blobs the cache
 * gave. */
int ex_blobs_write(struct al_bundle_writer *w, const struct ex_plan *plan,
                   const struct ex_blobs_cfg *cfg, size_t *cache_hits,
                   struct al_err *e);

#endif
