/* The bundle's blobs: every unique one once, in the order a reader needs
 * them. Pure: works on manifests already in memory, fetches nothing. */
#ifndef EX_PLAN_H
#define EX_PLAN_H

#include <stddef.h>

#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/manifest.h"
#include "airlock/meta.h"
#include "inputs.h"
#include "since.h"

struct ex_blob {
    char digest[AL_DIGEST_STR_MAX];
    long long size;
    const char *media_type;          /* borrowed from a manifest or image */
    enum al_blob_kind kind;
    const struct ex_image *from;     /* an image whose repository has it */
    const struct ex_manifest *data;  /* manifests only: bytes in memory */
    const struct ex_held_blob *held; /* carried by a --since bundle: left out */
};

struct ex_plan {
    struct ex_blob *v;
    size_t n, cap;
    struct al_manifest *parsed;      /* parsed image manifests (own the media
                                        type strings the blobs borrow) */
    size_t n_parsed;
};

/* Plans the blobs of every image not failed: configs and layers first (in
 * image order, each digest once; the layers compressed already after all
 * the others), then manifests with children before their indexes, so a
 * reader meets what a manifest needs before the manifest.
 * Blobs that `held` (may be NULL) says an earlier bundle carried are marked
 * so. The same digest with two sizes is AL_EDIGEST. `images` must outlive
 * the plan. */
int ex_plan_build(struct ex_plan *p, const struct ex_images *images,
                  const struct ex_held *held, struct al_err *e);
void ex_plan_release(struct ex_plan *p);

/* A layer whose media type says gzip or zstd (OCI "+gzip", "+zstd";
 * Docker "tar.gzip"): more compression gains nothing on it. */
int ex_blob_precompressed(const struct ex_blob *b);

#endif
