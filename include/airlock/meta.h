/* bundle.json (and the OCI index.json beside it): one model, written by the
 * export and read back by the import and by --since (see docs/FORMAT.md).
 * Parsing validates everything the importer later relies on, so that no
 * later step has to second-guess the metadata. Every pointer in the model
 * is owned by it and freed by al_bundle_meta_release(). */
#ifndef AIRLOCK_META_H
#define AIRLOCK_META_H

#include <stddef.h>

#include "airlock/digest.h"
#include "airlock/err.h"

#define AL_META_BLOBS_MAX 1000000          /* entries in "blobs" */
#define AL_META_IMAGES_MAX 100000          /* entries in "images" */
#define AL_META_BLOB_SIZE_MAX (1LL << 40)  /* 1 TiB: larger is a lie */

enum al_blob_kind { AL_BLOB_LAYER = 1, AL_BLOB_CONFIG, AL_BLOB_MANIFEST };

/* "layer", "config", "manifest". */
const char *al_blob_kind_name(enum al_blob_kind k);

/* The kind named `s` ("layer", ...): 0, or -1 when `s` is NULL or unknown. */
int al_blob_kind_parse(const char *s, enum al_blob_kind *out);

/* The key naming a bundle's id where another document refers to it
 * ("bundle_id": relies_on entries, the volume list, the receipt). */
extern const char al_meta_key_bundle_id[];

struct al_meta_blob {
    char digest[AL_DIGEST_STR_MAX];
    long long size;
    char *media_type;
    enum al_blob_kind kind;
    /* relied on, not carried (an incremental bundle): */
    int relied;
    char *bundle_id;          /* the earlier bundle that carried it */
    char **repos;             /* repositories it went to then */
    size_t n_repos;
};

struct al_meta_manifest {
    char digest[AL_DIGEST_STR_MAX];
    char *media_type;
    long long size;
    size_t blob;              /* index into al_bundle_meta.blobs */
};

struct al_meta_image {
    char *name;               /* "registry.redhat.io/ubi8/ruby-31:latest" */
    char *pull_spec;          /* as the input wrote it (NULL: not recorded) */
    char *source;             /* where it was fetched (NULL: not recorded) */
    char *registry;
    char *repository;         /* "ubi8/ruby-31" */
    char *tag;                /* NULL when exported by digest */
    char *role;               /* "samples", "image", "must-gather", ... */
    char digest[AL_DIGEST_STR_MAX];   /* the root manifest */
    char *media_type;
    char **tags;              /* imagestream tags served */
    size_t n_tags;
    struct al_meta_manifest *manifests;   /* children first, root last */
    size_t n_manifests;
    size_t *blobs;            /* configs and layers: indexes into .blobs */
    size_t n_blobs;
};

struct al_meta_failed {
    char *name;
    char *pull_spec;          /* NULL: not recorded */
    char *role;
    char *reason;
    char **tags;
    size_t n_tags;
};

/* A release component carried: "tools" -> "quay.io/...@sha256:...". */
struct al_meta_component {
    char *name;
    char *image;
};

struct al_bundle_meta {
    char *id;
    char *created;
    char *generator;
    char *release;            /* release pull spec, or NULL: no "release" */
    char *release_source;     /* the release's fields, NULL when absent */
    char *release_digest;
    char *release_arch;
    char *must_gather;        /* must-gather pull spec, or NULL */
    char *must_gather_digest;
    struct al_meta_component *components;   /* in the order written */
    /* samples read from the release's cluster-samples-operator image
     * ("release.samples"), or NULL image: none */
    char *samples_image;      /* the operator image, by digest */
    char *samples_digest;     /* the manifest whose layers were read */
    char *samples_arch;       /* the operator's directory: "x86_64" */
    long long samples_streams;
    long long samples_tags;
    size_t n_components;
    struct al_meta_image *images;
    size_t n_images;
    struct al_meta_failed *failed;
    size_t n_failed;
    struct al_meta_blob *blobs;   /* carried blobs in tar order, then the
                                     relied-on ones */
    size_t n_blobs;
    size_t n_carried;         /* blobs[0 .. n_carried) are in the bundle */
    size_t *by_digest;        /* blob indexes sorted by digest */
};

/* Parses and validates bundle.json text; `what` names it in messages. On
 * failure `m` is left empty (release it anyway). */
int al_bundle_meta_parse(struct al_bundle_meta *m, const char *text, size_t len,
                         const char *what, struct al_err *e);

/* Frees everything the model owns and leaves it empty. A writer fills a
 * zeroed struct with allocated members and releases it the same way. */
void al_bundle_meta_release(struct al_bundle_meta *m);

/* For a model filled in memory: sorts .by_digest over .blobs (allocating
 * it), so that al_bundle_meta_find_blob() works. AL_EINVAL on a digest
 * listed twice. */
int al_bundle_meta_index(struct al_bundle_meta *m, struct al_err *e);

/* The index of the blob with `digest`, or -1. Needs .by_digest. */
long al_bundle_meta_find_blob(const struct al_bundle_meta *m, const char *digest);

/* bundle.json text of the model: *text is NUL-terminated, the caller frees
 * it with free(). A NULL optional member leaves its key out; "relies_on"
 * holds blobs[n_carried ..]. */
int al_bundle_meta_write(const struct al_bundle_meta *m, char **text,
                         struct al_err *e);

/* index.json of the OCI image layout: each image's root manifest (the last
 * of .manifests) under its name. *text as for al_bundle_meta_write(). */
int al_bundle_meta_layout_index(const struct al_bundle_meta *m, char **text,
                                struct al_err *e);

#endif
