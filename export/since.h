/* --since: what earlier bundles carried, so that an increment leaves it out
 * and says it relies on it. */
#ifndef AIRLOCK_EXPORT_SINCE_H
#define AIRLOCK_EXPORT_SINCE_H

#include <stddef.h>

#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/meta.h"

struct ex_held_blob {
    char digest[AL_DIGEST_STR_MAX];
    long long size;
    char *media_type;
    enum al_blob_kind kind;      /* a layer or a config */
    char *bundle_id;             /* the bundle that carried it */
    char **repos;                /* repositories it went to */
    size_t n_repos;
};

struct ex_held {
    struct ex_held_blob *v;      /* sorted by digest once loaded */
    size_t n;
};

/* Loads each PREV: a bundle (file, FILE.000 or FILE.parts) or its extracted
 * bundle.json. Blobs PREV itself relied on are held too. */
int ex_held_load(struct ex_held *h, const char *const *paths, size_t n,
                 struct al_err *e);
const struct ex_held_blob *ex_held_find(const struct ex_held *h, const char *digest);
void ex_held_release(struct ex_held *h);

#endif
