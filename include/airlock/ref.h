/* Image references: "[registry/]repository[:tag][@digest]".
 *
 * Parsing follows the distribution reference grammar: the first component is
 * a registry when it contains '.' or ':' or is "localhost"; otherwise the
 * registry is docker.io and one-component names get "library/". */
#ifndef AIRLOCK_REF_H
#define AIRLOCK_REF_H

#include <stddef.h>

#include "airlock/err.h"

#define AL_REF_MAX 1024 /* longest reference accepted, in bytes */

struct al_ref {
    char *registry;  /* "docker.io", "quay.io", "127.0.0.1:5000" (owned) */
    char *repo;      /* "library/busybox", "ubi8/ruby-31" (owned) */
    char *tag;       /* NULL when absent (owned) */
    char *digest;    /* "sha256:..." or NULL (owned) */
};

/* Parses `s` into `r` (which the caller later passes to al_ref_release()).
 * A reference with neither tag nor digest gets tag "latest". */
int al_ref_parse(const char *s, struct al_ref *r, struct al_err *e);

void al_ref_release(struct al_ref *r);

/* Formats "registry/repo[:tag][@digest]" into a newly allocated string
 * (NULL on allocation failure). */
char *al_ref_format(const struct al_ref *r);

/* Formats "registry/repo@digest" with the given digest. */
char *al_ref_format_digest(const struct al_ref *r, const char *digest);

/* The host[:port] to talk to for this registry: docker.io is served by
 * registry-1.docker.io. Returns a pointer to static or owned storage valid
 * as long as `registry` is. */
const char *al_registry_api_host(const char *registry);

/* True when `s` is a valid repository path ("ubi8/ruby-31"). */
int al_repo_valid(const char *s);

/* True when the `n` bytes at `s` are a valid registry host[:port]. */
int al_registry_name_valid(const char *s, size_t n);

/* True when `s` is a valid tag. */
int al_tag_valid(const char *s);

#endif
