/* What to export: images named by the samples inputs, a release, or the
 * command line, each with the imagestream tags it serves. */
#ifndef AIRLOCK_EXPORT_INPUTS_H
#define AIRLOCK_EXPORT_INPUTS_H

#include <stddef.h>

#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/ref.h"

#define EX_INPUT_MAX (64 * 1024 * 1024) /* largest input document */

/* One manifest fetched for an image (the root, or a child of an index). */
struct ex_manifest {
    char digest[AL_DIGEST_STR_MAX];
    char *media_type;
    char *data;          /* the exact bytes, owned */
    size_t len;
};

struct ex_image {
    char *pull_spec;     /* as first written in the input */
    char *name;          /* normalised "registry/repo:tag" or "...@digest" */
    struct al_ref ref;
    char **tags;         /* "<imagestream>:<tag>" served by this image */
    size_t n_tags;
    char *role;          /* "samples", "image", "must-gather", "release:<c>" */
    /* filled by resolution */
    int failed;
    char *reason;
    char *source;        /* where it was fetched from */
    struct ex_manifest *manifests; /* children first, the root last */
    size_t n_manifests;
};

struct ex_images {
    struct ex_image *v;
    size_t n;
};

void ex_images_release(struct ex_images *l);

/* Adds (or finds) the image for `pull_spec` and records `tag` (may be NULL)
 * and `role` for it. An invalid pull spec becomes a failed entry naming
 * `tag` unless `strict` is set, when it is an error. */
int ex_images_add(struct ex_images *l, const char *pull_spec, const char *tag,
                  const char *role, int strict, struct al_err *e);

/* Marks an image failed with a reason (printf-style). */
void ex_image_fail(struct ex_image *img, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The samples operator's imagestreamtag-to-image ConfigMap (JSON text):
 * keys "<imagestream>_<tag>", values pull specs. `name` is for messages. */
int ex_parse_configmap(struct ex_images *l, const char *text, size_t len,
                       const char *name, struct al_err *e);

/* An ImageStream, ImageStreamList or List of ImageStreams (JSON text), as
 * `oc get is -o json` prints them. ImageStreamTag aliases are followed to
 * the DockerImage they name; an alias that leads nowhere is a failed entry. */
int ex_parse_imagestreams(struct ex_images *l, const char *text, size_t len,
                          const char *name, struct al_err *e);

/* Finds tag `component` in a release's image-references ImageStream (JSON
 * text) and returns its pull spec, newly allocated. */
int ex_release_component(const char *text, size_t len, const char *component,
                         char **pull_spec, struct al_err *e);

#endif
