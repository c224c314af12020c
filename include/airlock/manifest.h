/* Docker and OCI image manifests and indexes (untrusted input). */
#ifndef AIRLOCK_MANIFEST_H
#define AIRLOCK_MANIFEST_H

#include <stddef.h>

#include "airlock/digest.h"
#include "airlock/err.h"

#define AL_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define AL_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define AL_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define AL_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define AL_MT_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1+json"
#define AL_MT_DOCKER_V1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* What registries are asked for: every supported kind, no schema 1. */
#define AL_MANIFEST_ACCEPT                                                    \
    "Accept: " AL_MT_OCI_INDEX ", " AL_MT_DOCKER_LIST ", " AL_MT_OCI_MANIFEST \
    ", " AL_MT_DOCKER_MANIFEST

#define AL_MANIFEST_MAX (4 * 1024 * 1024) /* largest manifest accepted */
#define AL_MANIFEST_MAX_ENTRIES 4096      /* layers or children */
/* All the manifest bytes one bundle may carry: the export stops there and
 * the import refuses more (they are kept in memory until verified). */
#define AL_MANIFEST_BYTES_MAX (512LL * 1024 * 1024)

enum al_manifest_kind { AL_MANIFEST_IMAGE = 1, AL_MANIFEST_INDEX = 2 };

struct al_desc {
    char *media_type;               /* owned */
    char digest[AL_DIGEST_STR_MAX];
    long long size;
    char *os, *arch, *variant;      /* platform of an index entry, or NULL */
};

struct al_manifest {
    enum al_manifest_kind kind;
    char *media_type;        /* the manifest's own media type (owned) */
    struct al_desc config;   /* images only */
    struct al_desc *layers;  /* images only */
    size_t n_layers;
    struct al_desc *children; /* indexes only */
    size_t n_children;
};

/* Parses manifest bytes. `content_type` (from the registry, may be NULL)
 * wins over the body's mediaType when it names a known type. Schema 1 is
 * AL_EUNSUPPORTED with a message saying so. `what` names the manifest. */
int al_manifest_parse(const char *data, size_t len, const char *content_type,
                      const char *what, struct al_manifest *m, struct al_err *e);
void al_manifest_release(struct al_manifest *m);

/* True for the two index media types. */
int al_media_type_is_index(const char *mt);

/* "linux/amd64", "linux/arm64/v8" matching for --arch: `want` is an arch
 * ("amd64"), or os/arch, or os/arch/variant. */
int al_desc_platform_matches(const struct al_desc *d, const char *want);

#endif
