/* The cluster configuration step of airlock-import (see cluster.c). */
#ifndef AIRLOCK_IMPORT_CLUSTER_H
#define AIRLOCK_IMPORT_CLUSTER_H

#include <stddef.h>

#include "airlock/kube.h"
#include "import.h"
#include "mirrorset.h"

#define IM_CA_CONFIGMAP "registry-config"

struct im_cluster_opts {
    const char *mirror_host;       /* "mirror.example.com:5000" */
    const char *samples_registry;  /* host[:port][/prefix] for samplesRegistry */
    const char *ca_pem;            /* the mirror's CA, or NULL (publicly trusted) */
    const char *const *skipped;    /* imagestreams the samples operator must skip */
    size_t n_skipped;
    const char *const *landed;     /* imagestreams whose every tag landed: no
                                      longer skipped if airlock skipped them */
    size_t n_landed;
    const char *must_gather;       /* mirror reference by digest, or NULL */
    int dry_run;                   /* read, and report what would change */
    const struct im_mirrors *mirrors;  /* the release components' repositories
                                          (NULL or none: no mirror set) */
    int apply_mirror_sets;         /* --apply-mirror-sets: apply it too */
};

/* Applies the configuration through `k`; messages go to `report`. */
int im_cluster_apply(struct al_kube *k, const struct im_cluster_opts *o,
                     al_report_fn report, void *ud, struct al_err *e);

/* Creates `dir` when missing, and refuses it (AL_EINVAL naming it) unless
 * it is this user's alone: others could plant links at the names written
 * there. Called before the push, and again by the writer. */
int im_cluster_check_manifests_dir(const char *dir, struct al_err *e);

/* Writes the objects as JSON plus apply.sh (the equivalent oc commands) into
 * `dir` (checked as above), touching no cluster; a link at any of their
 * names is replaced, not followed. */
int im_cluster_write_manifests(const char *dir, const struct im_cluster_opts *o,
                               struct al_err *e);

#endif
