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

/* Why an image is carried: what decides whether losing it ends the export
 * and how bundle.json names it. */
enum ex_role {
    EX_ROLE_SAMPLES,       /* an imagestream tag of the samples */
    EX_ROLE_IMAGE,         /* --image */
    EX_ROLE_MUST_GATHER,   /* the release's must-gather */
    EX_ROLE_COMPONENT,     /* another release component (--release-component) */
};

struct ex_image {
    char *pull_spec;     /* as first written in the input */
    char *name;          /* normalised "registry/repo:tag" or "...@digest" */
    struct al_ref ref;
    char **tags;         /* "<imagestream>:<tag>" served by this image */
    size_t n_tags;
    enum ex_role role;
    char *component;     /* EX_ROLE_COMPONENT: its tag in image-references */
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
 * for it; a new image takes `role` (and `component`, for
 * EX_ROLE_COMPONENT), one already there the weightier of its own and
 * `role` (must-gather, then a component, then --image, then samples: a
 * samples tag that is also the release's must-gather is the must-gather,
 * and ends the export if it fails). An invalid pull spec
 * becomes a failed entry naming `tag` unless `strict` is set, when it is an
 * error. */
int ex_images_add(struct ex_images *l, const char *pull_spec, const char *tag,
                  enum ex_role role, const char *component, int strict,
                  struct al_err *e);

/* The role as bundle.json spells it ("samples", "image", "must-gather",
 * "release:<component>"), in `buf`. */
const char *ex_role_name(const struct ex_image *img, char *buf, size_t n);

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

/* The same, adding to *n_streams and *n_tags the imagestreams and tags
 * read. */
int ex_parse_imagestreams_counted(struct ex_images *l, const char *text, size_t len,
                                  const char *name, size_t *n_streams,
                                  size_t *n_tags, struct al_err *e);

/* Finds tag `component` in a release's image-references ImageStream (JSON
 * text) and returns its pull spec, newly allocated. */
int ex_release_component(const char *text, size_t len, const char *component,
                         char **pull_spec, struct al_err *e);

#endif
