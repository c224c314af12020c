/* bundle.json's model from what the export resolved and planned: the
 * export fills it, common/meta.c writes it (and the import reads it back). */
#include "metadata.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airlock/manifest.h"

/* Copies `s` (NULL stays NULL); sets *oom when out of memory. */
static char *copy(const char *s, int *oom)
{
    char *c = s ? strdup(s) : NULL;

    if (s != NULL && c == NULL)
        *oom = 1;
    return c;
}

static char **copy_strings(char *const *v, size_t n, int *oom)
{
    char **c = calloc(n + 1, sizeof(char *));
    size_t i;

    if (c == NULL)
        *oom = 1;
    for (i = 0; c != NULL && i < n; i++)
        c[i] = copy(v[i], oom);
    return c;
}

static void fill_blob(struct al_meta_blob *mb, const struct ex_blob *b, int *oom)
{
    memcpy(mb->digest, b->digest, sizeof(mb->digest));
    mb->size = b->size;
    mb->media_type = copy(b->media_type, oom);
    mb->kind = b->kind;
    if (b->held == NULL)
        return;
    mb->relied = 1;
    mb->bundle_id = copy(b->held->bundle_id, oom);
    mb->repos = copy_strings(b->held->repos, b->held->n_repos, oom);
    mb->n_repos = b->held->n_repos;
}

/* The plan's blobs: those carried in bundle order, then those relied on. */
static int fill_blobs(const struct ex_plan *plan, struct al_bundle_meta *m, int *oom)
{
    size_t i, pass;

    m->blobs = calloc(plan->n + 1, sizeof(*m->blobs));
    if (m->blobs == NULL)
        return -1;
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < plan->n; i++)
            if ((plan->v[i].held != NULL) == (pass == 1))
                fill_blob(&m->blobs[m->n_blobs++], &plan->v[i], oom);
        if (pass == 0)
            m->n_carried = m->n_blobs;
    }
    return *oom ? -1 : 0;
}

static int add_image_blob(const struct al_bundle_meta *m, struct al_meta_image *img,
                          const char *digest)
{
    long b = al_bundle_meta_find_blob(m, digest);
    size_t *grown, i;

    for (i = 0; b >= 0 && i < img->n_blobs; i++)
        if (img->blobs[i] == (size_t)b)
            return 0;
    if (b < 0)
        return 0;
    grown = realloc(img->blobs, (img->n_blobs + 1) * sizeof(size_t));
    if (grown == NULL)
        return -1;
    img->blobs = grown;
    img->blobs[img->n_blobs++] = (size_t)b;
    return 0;
}

/* Configs and layers of every manifest of the image: an importer meets these
 * before the manifests and must know which repositories need them. The
 * manifests were parsed once already by plan_blobs(), so this cannot fail
 * other than for memory. */
static int fill_image_blobs(const struct al_bundle_meta *m, const struct ex_image *img,
                            struct al_meta_image *out)
{
    size_t i, j;
    int rc = 0;

    for (i = 0; rc == 0 && i < img->n_manifests; i++) {
        const struct ex_manifest *mf = &img->manifests[i];
        struct al_manifest parsed;
        if (al_manifest_parse(mf->data, mf->len, mf->media_type, img->name, &parsed,
                              NULL) != 0)
            continue;
        if (parsed.kind == AL_MANIFEST_IMAGE) {
            rc = add_image_blob(m, out, parsed.config.digest);
            for (j = 0; rc == 0 && j < parsed.n_layers; j++)
                rc = add_image_blob(m, out, parsed.layers[j].digest);
        }
        al_manifest_release(&parsed);
    }
    return rc;
}

static int fill_image(const struct al_bundle_meta *m, const struct ex_image *img,
                      struct al_meta_image *out, int *oom)
{
    const struct ex_manifest *root = &img->manifests[img->n_manifests - 1];
    char role[300];
    size_t i;

    out->name = copy(img->name, oom);
    out->pull_spec = copy(img->pull_spec, oom);
    out->source = copy(img->source, oom);
    out->registry = copy(img->ref.registry, oom);
    out->repository = copy(img->ref.repo, oom);
    out->tag = copy(img->ref.tag, oom);
    memcpy(out->digest, root->digest, sizeof(out->digest));
    out->media_type = copy(root->media_type, oom);
    out->role = copy(ex_role_name(img, role, sizeof(role)), oom);
    out->tags = copy_strings(img->tags, img->n_tags, oom);
    out->n_tags = img->n_tags;
    out->manifests = calloc(img->n_manifests, sizeof(*out->manifests));
    if (out->manifests == NULL)
        return -1;
    for (i = 0; i < img->n_manifests; i++) {
        struct al_meta_manifest *mf = &out->manifests[out->n_manifests++];
        long b = al_bundle_meta_find_blob(m, img->manifests[i].digest);
        memcpy(mf->digest, img->manifests[i].digest, sizeof(mf->digest));
        mf->media_type = copy(img->manifests[i].media_type, oom);
        mf->size = (long long)img->manifests[i].len;
        mf->blob = b < 0 ? 0 : (size_t)b;
    }
    return *oom ? -1 : fill_image_blobs(m, img, out);
}

static void fill_failed(const struct ex_image *img, struct al_meta_failed *out, int *oom)
{
    char role[300];

    out->name = copy(img->name, oom);
    out->pull_spec = copy(img->pull_spec, oom);
    out->role = copy(ex_role_name(img, role, sizeof(role)), oom);
    out->tags = copy_strings(img->tags, img->n_tags, oom);
    out->n_tags = img->n_tags;
    out->reason = copy(img->reason ? img->reason : "unknown", oom);
}

static const struct ex_image *find_role(const struct ex_images *images, enum ex_role role)
{
    size_t i;

    for (i = 0; i < images->n; i++)
        if (images->v[i].role == role && !images->v[i].failed)
            return &images->v[i];
    return NULL;
}

static int fill_release(const struct ex_metadata_src *src, struct al_bundle_meta *m,
                        int *oom)
{
    const struct ex_image *mg = find_role(src->images, EX_ROLE_MUST_GATHER);
    const struct ex_release *rel = src->release;
    size_t i;

    m->release = copy(rel->pull_spec, oom);
    m->release_source = copy(rel->source, oom);
    m->release_digest = copy(rel->digest, oom);
    m->release_arch = copy(rel->arch, oom);
    if (mg != NULL) {
        m->must_gather = copy(mg->name, oom);
        m->must_gather_digest = copy(mg->manifests[mg->n_manifests - 1].digest, oom);
    }
    if (rel->has_samples) {
        m->samples_image = copy(rel->samples.image, oom);
        m->samples_digest = copy(rel->samples.digest, oom);
        m->samples_arch = copy(rel->samples.arch, oom);
        m->samples_streams = (long long)rel->samples.n_streams;
        m->samples_tags = (long long)rel->samples.n_tags;
    }
    m->components = calloc(src->images->n + 1, sizeof(*m->components));
    if (m->components == NULL)
        return -1;
    for (i = 0; i < src->images->n; i++) {
        const struct ex_image *img = &src->images->v[i];
        struct al_meta_component *c;
        if (img->role != EX_ROLE_COMPONENT || img->failed)
            continue;
        c = &m->components[m->n_components++];
        c->name = copy(img->component, oom);
        c->image = copy(img->name, oom);
    }
    return *oom ? -1 : 0;
}

static int fill_images(const struct ex_images *images, struct al_bundle_meta *m, int *oom)
{
    size_t i;
    int rc = 0;

    m->images = calloc(images->n + 1, sizeof(*m->images));
    m->failed = calloc(images->n + 1, sizeof(*m->failed));
    if (m->images == NULL || m->failed == NULL)
        return -1;
    for (i = 0; rc == 0 && i < images->n; i++) {
        if (images->v[i].failed)
            fill_failed(&images->v[i], &m->failed[m->n_failed++], oom);
        else
            rc = fill_image(m, &images->v[i], &m->images[m->n_images++], oom);
    }
    return rc != 0 || *oom ? -1 : 0;
}

int ex_metadata_model(const struct ex_metadata_src *src, struct al_bundle_meta *m,
                      struct al_err *e)
{
    char created[32];
    int oom = 0, rc;

    memset(m, 0, sizeof(*m));
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime(&src->created));
    m->id = copy(src->id, &oom);
    m->created = copy(created, &oom);
    m->generator = copy("airlock-export " AIRLOCK_VERSION, &oom);
    rc = fill_blobs(src->plan, m, &oom);
    if (rc == 0 && !oom)
        rc = al_bundle_meta_index(m, e);
    else
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    if (rc == 0 && src->release != NULL && fill_release(src, m, &oom) != 0)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    if (rc == 0 && fill_images(src->images, m, &oom) != 0)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    return rc;
}
