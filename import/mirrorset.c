/* The ImageDigestMirrorSet: which repositories, and merging them into the
 * one already in the cluster without dropping anything there. */
#include "mirrorset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/json.h"

void im_mirrors_release(struct im_mirrors *m)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        free(m->v[i].source);
        free(m->v[i].mirror);
    }
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

static int is_component(const char *role)
{
    return strcmp(role, "must-gather") == 0 || strncmp(role, "release:", 8) == 0;
}

static int has_source(const struct im_mirrors *m, const char *source)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (strcmp(m->v[i].source, source) == 0)
            return 1;
    return 0;
}

/* Appends source `registry/repo` -> `host/dest_repo`. */
static int add(struct im_mirrors *m, const struct im_plan *plan, const struct im_dest *d)
{
    struct im_mirror *grown;
    size_t sn = strlen(d->img->registry) + strlen(d->img->repository) + 2;
    size_t mn = strlen(plan->mirror_host) + strlen(d->repo) + 2;
    char *source = malloc(sn), *mirror = malloc(mn);

    grown = source && mirror ? realloc(m->v, (m->n + 1) * sizeof(*grown)) : NULL;
    if (grown == NULL) {
        free(source);
        free(mirror);
        return -1;
    }
    m->v = grown;
    snprintf(source, sn, "%s/%s", d->img->registry, d->img->repository);
    snprintf(mirror, mn, "%s/%s", plan->mirror_host, d->repo);
    if (has_source(m, source)) {
        free(source);
        free(mirror);
        return 0;
    }
    m->v[m->n].source = source;
    m->v[m->n].mirror = mirror;
    m->n++;
    return 0;
}

int im_mirrors_from_plan(struct im_mirrors *out, const struct im_plan *plan,
                         const struct im_pusher *pusher, struct al_err *e)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < plan->n_dests; i++) {
        const struct im_dest *d = &plan->dests[i];
        if (!is_component(d->img->role) || (pusher && im_pusher_dest_failed(pusher, i)))
            continue;
        if (add(out, plan, d) != 0)
            return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    return 0;
}

static json_t *entry(const struct im_mirror *mi)
{
    return json_pack("{s:s, s:[s]}", "source", mi->source, "mirrors", mi->mirror);
}

json_t *im_mirrorset_object(const struct im_mirrors *m)
{
    json_t *list = json_array();
    size_t i;

    for (i = 0; i < m->n; i++)
        json_array_append_new(list, entry(&m->v[i]));
    return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:o}}", "apiVersion",
                     "config.openshift.io/v1", "kind", "ImageDigestMirrorSet", "metadata",
                     "name", IM_MIRRORSET_NAME, "labels", "app.kubernetes.io/managed-by",
                     "airlock", "spec", "imageDigestMirrors", list);
}

json_t *im_mirrorset_merge(json_t *have, const struct im_mirrors *m)
{
    json_t *old = json_object_get(json_object_get(have, "spec"), "imageDigestMirrors");
    json_t *list = json_is_array(old) ? json_deep_copy(old) : json_array();
    size_t i;
    int changed = 0;

    for (i = 0; list != NULL && i < m->n; i++) {
        json_t *e = al_json_find(list, "source", m->v[i].source);
        json_t *mirrors = json_object_get(e, "mirrors");
        if (e == NULL) {
            json_array_append_new(list, entry(&m->v[i]));
            changed = 1;
        } else if (!json_is_array(mirrors)) {
            json_object_set_new(e, "mirrors", json_pack("[s]", m->v[i].mirror));
            changed = 1;
        } else if (!al_json_has_string(mirrors, m->v[i].mirror)) {
            json_array_append_new(mirrors, json_string(m->v[i].mirror));
            changed = 1;
        }
    }
    if (!changed) {
        json_decref(list);
        return NULL;
    }
    return list;
}
