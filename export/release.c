/* The release payload: its last layer carries release-manifests/. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "airlock/manifest.h"
#include "layers.h"
#include "release.h"

const char *ex_host_arch(void)
{
    static char arch[sizeof(((struct utsname *)0)->machine) + 1];
    struct utsname u;

    if (uname(&u) != 0)
        return "amd64";
    if (strcmp(u.machine, "x86_64") == 0)
        return "amd64";
    if (strcmp(u.machine, "aarch64") == 0)
        return "arm64";
    snprintf(arch, sizeof(arch), "%s", u.machine);
    return arch;
}

/* image-references out of the last layer (an ex_layer_fn). */
static int find_references(void *ud, struct archive *a, const char *what,
                           struct al_err *e)
{
    struct al_buf *refs = ud;
    struct archive_entry *ent;
    int rc, r;

    while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(ent);
        char chunk[16384];
        la_ssize_t n;
        if (p != NULL && strncmp(p, "./", 2) == 0)
            p += 2;
        if (p == NULL || strcmp(p, "release-manifests/image-references") != 0)
            continue;
        while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
            rc = al_buf_append(refs, chunk, (size_t)n, "image-references", e);
            if (rc != 0)
                return rc;
        }
        if (n < 0)
            break;
        return al_buf_append(refs, "", 0, "image-references", e);
    }
    if (r != ARCHIVE_EOF)
        return al_err_set(e, AL_EINVAL, "%s: cannot read it: %s", what,
                          archive_error_string(a));
    return al_err_set(e, AL_ENOTFOUND, "%s has no release-manifests/image-references "
                      "(is this a release payload?)", what);
}

int ex_pick_platform(const struct al_repo *at, struct al_manifest *m,
                     struct al_buf *body, char **mt, char digest[AL_DIGEST_STR_MAX],
                     const char *arch, const char *what, struct al_err *e)
{
    size_t i;
    int rc;

    for (i = 0; i < m->n_children; i++) {
        char child[AL_DIGEST_STR_MAX];
        if (!al_desc_platform_matches(&m->children[i], arch))
            continue;
        snprintf(child, sizeof(child), "%s", m->children[i].digest);
        al_manifest_release(m);
        al_buf_release(body);
        free(*mt);
        *mt = NULL;
        rc = al_registry_get_manifest(at, child, body, mt, digest, e);
        if (rc == 0)
            rc = al_manifest_parse(body->data, body->len, *mt, what, m, e);
        if (rc == 0 && m->kind != AL_MANIFEST_IMAGE)
            rc = al_err_set(e, AL_EINVAL, "%s: nested index", what);
        return rc;
    }
    return al_err_set(e, AL_ENOTFOUND, "%s has no image for architecture '%s' "
                      "(choose one with --arch)", what, arch);
}

int ex_release_references(struct al_registry *reg, const struct al_ref *release,
                          const char *arch, struct al_buf *refs,
                          char digest[AL_DIGEST_STR_MAX], char **source,
                          struct al_err *e)
{
    struct al_buf body;
    struct al_manifest m = {0};
    char what[1200], last_what[1300], child_digest[AL_DIGEST_STR_MAX];
    char *mt = NULL, *name = al_ref_format(release);
    const struct al_repo at = {reg, release->registry, release->repo};
    int rc;

    *source = al_registry_source(&at);
    snprintf(what, sizeof(what), "release '%s'", name ? name : "?");
    free(name);
    al_buf_init(&body, AL_MANIFEST_MAX);
    rc = al_registry_get_manifest(&at, release->digest ? release->digest : release->tag,
                                  &body, &mt, digest, e);
    if (rc == 0)
        rc = al_manifest_parse(body.data, body.len, mt, what, &m, e);
    if (rc == 0 && m.kind == AL_MANIFEST_INDEX)
        rc = ex_pick_platform(&at, &m, &body, &mt, child_digest, arch, what, e);
    if (rc == 0 && m.n_layers == 0)
        rc = al_err_set(e, AL_EINVAL, "%s has no layers", what);
    snprintf(last_what, sizeof(last_what), "%s: last layer", what);
    if (rc == 0)
        rc = ex_layer_read(&at, &m.layers[m.n_layers - 1], last_what, find_references,
                           refs, e);
    al_manifest_release(&m);
    al_buf_release(&body);
    free(mt);
    return rc;
}

/* One release component, found in image-references and added by digest. */
static int add_component(struct ex_images *images, const char *release,
                         const struct al_buf *refs, const char *component,
                         struct al_err *e)
{
    int must_gather = strcmp(component, "must-gather") == 0;
    char *spec = NULL;
    int rc = ex_release_component(refs->data, refs->len, component, &spec, e);

    if (rc == 0)
        rc = ex_images_add(images, spec, NULL,
                           must_gather ? EX_ROLE_MUST_GATHER : EX_ROLE_COMPONENT,
                           must_gather ? NULL : component, 1, e);
    free(spec);
    if (rc != 0)
        al_err_prefix(e, "release '%s'", release);
    return rc;
}

int ex_release_read(struct ex_release *rel, const char *pull_spec, const char *arch,
                    const char *const *components, size_t n_components,
                    int samples, const char *samples_arch,
                    struct al_registry *reg, struct ex_images *images,
                    struct al_err *e)
{
    struct al_ref ref;
    struct al_buf refs;
    size_t i;
    int rc;

    memset(rel, 0, sizeof(*rel));
    rel->pull_spec = pull_spec;
    rel->arch = arch;
    rc = al_ref_parse(pull_spec, &ref, e);
    if (rc != 0)
        return al_err_prefix(e, "--release");
    al_buf_init(&refs, EX_REFS_MAX);
    rc = ex_release_references(reg, &ref, arch, &refs, rel->digest, &rel->source, e);
    if (rc == 0)
        rc = add_component(images, pull_spec, &refs, "must-gather", e);
    for (i = 0; rc == 0 && i < n_components; i++)
        rc = add_component(images, pull_spec, &refs, components[i], e);
    if (rc == 0 && samples) {
        rel->has_samples = 1;
        rc = ex_samples_read(&rel->samples, reg, refs.data, refs.len, samples_arch, arch,
                             images, e);
        if (rc != 0)
            al_err_prefix(e, "release '%s': samples", pull_spec);
    }
    al_buf_release(&refs);
    al_ref_release(&ref);
    return rc;
}

void ex_release_release(struct ex_release *rel)
{
    free(rel->source);
    rel->source = NULL;
    ex_samples_release(&rel->samples);
}
