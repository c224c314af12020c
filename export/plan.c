#include "plan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where each digest is in the plan while it is built (a jansson object as a
 * hash table: digest -> index), so that planning stays linear in the blobs
 * of thousands of images. */
static int index_plan(const struct ex_plan *p, json_t *at, struct al_err *e)
{
    size_t i;

    json_object_clear(at);
    for (i = 0; i < p->n; i++)
        if (json_object_set_new(at, p->v[i].digest, json_integer((json_int_t)i)) != 0)
            return al_err_set(e, AL_ENOMEM, "out of memory");
    return 0;
}

/* Adds a blob to the plan unless it is there; the same digest with two
 * sizes means a registry lied about one of them. */
static int plan_add(struct ex_plan *p, json_t *at, const struct ex_held *held,
                    const char *digest, long long size, const char *media_type,
                    enum al_blob_kind kind, const struct ex_image *from,
                    const struct ex_manifest *data, struct al_err *e)
{
    json_t *where = json_object_get(at, digest);
    struct ex_blob *grown;

    if (where != NULL) {
        const struct ex_blob *b = &p->v[json_integer_value(where)];
        if ((b->kind == AL_BLOB_MANIFEST) != (kind == AL_BLOB_MANIFEST))
            return al_err_set(e, AL_EINVAL, "blob %s is a %s in '%s' but a %s in '%s': "
                              "refused (check what the registry serves)", digest,
                              al_blob_kind_name(b->kind), b->from->name,
                              al_blob_kind_name(kind), from->name);
        if (b->size != size)
            return al_err_set(e, AL_EDIGEST, "blob %s is %lld bytes in '%s' but %lld "
                              "in '%s'", digest, b->size, b->from->name, size, from->name);
        return 0;
    }
    if (size < 0)
        return al_err_set(e, AL_EINVAL, "image '%s': blob %s has a negative size",
                          from->name, digest);
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        grown = realloc(p->v, cap * sizeof(*grown));
        if (grown == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        p->v = grown;
        p->cap = cap;
    }
    if (json_object_set_new(at, digest, json_integer((json_int_t)p->n)) != 0)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    memset(&p->v[p->n], 0, sizeof(p->v[p->n]));
    snprintf(p->v[p->n].digest, sizeof(p->v[p->n].digest), "%s", digest);
    p->v[p->n].size = size;
    p->v[p->n].media_type = media_type;
    p->v[p->n].kind = kind;
    p->v[p->n].from = from;
    p->v[p->n].data = data;
    if (kind != AL_BLOB_MANIFEST && held != NULL)
        p->v[p->n].held = ex_held_find(held, digest);
    p->n++;
    return 0;
}

static int plan_parse(struct ex_plan *p, const struct ex_image *img,
                      const struct ex_manifest *m, struct al_manifest **out,
                      struct al_err *e)
{
    struct al_manifest *grown = realloc(p->parsed, (p->n_parsed + 1) * sizeof(*grown));

    if (grown == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    p->parsed = grown;
    *out = &p->parsed[p->n_parsed];
    memset(*out, 0, sizeof(**out));
    p->n_parsed++;
    return al_manifest_parse(m->data, m->len, m->media_type, img->name, *out, e);
}

/* Layers and configs of one image manifest. */
static int plan_image_blobs(struct ex_plan *p, json_t *at, const struct ex_held *held,
                            const struct ex_image *img, const struct ex_manifest *m,
                            struct al_err *e)
{
    struct al_manifest *parsed = NULL;
    size_t i;
    int rc = plan_parse(p, img, m, &parsed, e);

    if (rc != 0 || parsed->kind != AL_MANIFEST_IMAGE)
        return rc;
    rc = plan_add(p, at, held, parsed->config.digest, parsed->config.size,
                  parsed->config.media_type, AL_BLOB_CONFIG, img, NULL, e);
    for (i = 0; rc == 0 && i < parsed->n_layers; i++)
        rc = plan_add(p, at, held, parsed->layers[i].digest, parsed->layers[i].size,
                      parsed->layers[i].media_type, AL_BLOB_LAYER, img, NULL, e);
    return rc;
}

int ex_blob_precompressed(const struct ex_blob *b)
{
    size_t n = b->media_type ? strlen(b->media_type) : 0;

    return b->kind == AL_BLOB_LAYER && n > 4 &&
           (strcmp(b->media_type + n - 4, "gzip") == 0 ||
            strcmp(b->media_type + n - 4, "zstd") == 0);
}

/* The blobs planned so far again, those compressed already last, each
 * group in the order it had. */
static int precompressed_last(struct ex_plan *p, struct al_err *e)
{
    struct ex_blob *sorted;
    size_t i, k = 0, n = p->n;
    int pass;

    if (n == 0)
        return 0;
    sorted = malloc(n * sizeof(*sorted));
    if (sorted == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < n; i++)
            if (ex_blob_precompressed(&p->v[i]) == pass)
                sorted[k++] = p->v[i];
    memcpy(p->v, sorted, n * sizeof(*sorted));
    free(sorted);
    return 0;
}

/* Every unique blob once: configs and layers first, then manifests with
 * children before their indexes, so a reader meets what a manifest needs
 * before the manifest. Of the configs and layers, those compressed already
 * go last: the bundle writer stores them uncompressed from the first on. */
int ex_plan_build(struct ex_plan *p, const struct ex_images *images,
                  const struct ex_held *held, struct al_err *e)
{
    json_t *at = json_object();
    size_t i, j;
    int rc = at ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");

    for (i = 0; rc == 0 && i < images->n; i++)
        for (j = 0; rc == 0 && j < images->v[i].n_manifests; j++)
            rc = plan_image_blobs(p, at, held, &images->v[i], &images->v[i].manifests[j], e);
    if (rc == 0)
        rc = precompressed_last(p, e);
    if (rc == 0)
        rc = index_plan(p, at, e);   /* (they moved) */
    for (i = 0; rc == 0 && i < images->n; i++)
        for (j = 0; rc == 0 && j < images->v[i].n_manifests; j++) {
            const struct ex_manifest *m = &images->v[i].manifests[j];
            rc = plan_add(p, at, NULL, m->digest, (long long)m->len, m->media_type,
                          AL_BLOB_MANIFEST, &images->v[i], m, e);
        }
    json_decref(at);
    return rc;
}

void ex_plan_release(struct ex_plan *p)
{
    size_t i;

    for (i = 0; i < p->n_parsed; i++)
        al_manifest_release(&p->parsed[i]);
    free(p->parsed);
    free(p->v);
    memset(p, 0, sizeof(*p));
}
