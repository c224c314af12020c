/* One pass over a bundle: the signed metadata first, then every blob in the
 * order bundle.json lists them, each checked for size and SHA-256 as it
 * streams through a sink; manifests are kept and cross-checked at the end. */
#include "import.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/bundle.h"
#include "airlock/digest.h"
#include "airlock/manifest.h"

#define SIG_MAX (64 * 1024)
#define LAYOUT_MAX 4096
#define INDEX_MAX (16 * 1024 * 1024)
#define CHUNK (256 * 1024)

struct reader {
    const struct im_read_opts *o;
    struct al_bundle_reader *br;
    struct im_bundle *b;
    struct al_sha256 *sha;
    char *chunk;
    const char *label;
};

void im_bundle_release(struct im_bundle *b)
{
    size_t i;

    for (i = 0; b->manifests != NULL && i < b->meta.n_blobs; i++)
        free(b->manifests[i].data);
    free(b->manifests);
    al_bundle_meta_release(&b->meta);
    al_buf_release(&b->meta_text);
    memset(b, 0, sizeof(*b));
}

/* The next entry must be `want`, of at most `max` bytes, read whole. */
static int read_named(struct reader *r, const char *want, size_t max,
                      struct al_buf *out, struct al_err *e)
{
    const char *name;
    long long size;
    int rc;

    al_buf_init(out, max);
    rc = al_bundle_reader_next(r->br, &name, &size, e);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return al_err_set(e, AL_EINVAL, "%s ends before '%s': it is truncated or not "
                          "an airlock bundle", r->label, want);
    if (strcmp(name, want) != 0)
        return al_err_set(e, AL_EINVAL, "%s: expected '%s' but found '%s': not an "
                          "airlock bundle, or a damaged one", r->label, want, name);
    if (size > (long long)max)
        return al_err_set(e, AL_ETOOBIG, "%s: '%s' declares %lld bytes, more than the "
                          "%zu allowed", r->label, want, size, max);
    return al_bundle_reader_read_all(r->br, out, e);
}

static int check_signature(struct reader *r, struct al_err *e)
{
    struct al_buf sig;
    char what[400];
    int rc = read_named(r, AL_BUNDLE_SIG, SIG_MAX, &sig, e);

    if (rc == 0 && r->o->key != NULL) {
        snprintf(what, sizeof(what), "bundle.json of %s", r->label);
        rc = al_sig_verify(r->o->key, r->b->meta_text.data, r->b->meta_text.len,
                           sig.data, sig.len, what, e);
        if (rc == 0)
            snprintf(r->b->key_id, sizeof(r->b->key_id), "%s", al_sig_key_id(r->o->key));
    }
    al_buf_release(&sig);
    return rc;
}

static int check_manifest_budget(struct reader *r, struct al_err *e)
{
    const struct al_bundle_meta *m = &r->b->meta;
    long long total = 0;
    size_t i;

    for (i = 0; i < m->n_blobs; i++)
        if (m->blobs[i].kind == AL_BLOB_MANIFEST)
            total += m->blobs[i].size;
    if (total > AL_MANIFEST_BYTES_MAX)
        return al_err_set(e, AL_ETOOBIG, "%s declares %lld bytes of manifests, more "
                          "than the %lld this importer holds in memory", r->label,
                          total, AL_MANIFEST_BYTES_MAX);
    r->b->manifests = calloc(m->n_blobs + 1, sizeof(*r->b->manifests));
    return r->b->manifests ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");
}

/* A sink failure is the registry's, not the bundle's: noted in the bundle
 * so that the caller can tell the two apart. */
static int sink_result(struct reader *r, int rc)
{
    if (rc != 0)
        r->b->sink_failed = 1;
    return rc;
}

static int read_metadata(struct reader *r, struct al_err *e)
{
    char what[400];
    int rc = read_named(r, AL_BUNDLE_META, AL_BUNDLE_META_MAX, &r->b->meta_text, e);

    if (rc == 0)
        rc = check_signature(r, e);
    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "bundle.json of %s", r->label);
    rc = al_bundle_meta_parse(&r->b->meta, r->b->meta_text.data, r->b->meta_text.len,
                              what, e);
    if (rc == 0 && r->o->plan != NULL)
        rc = im_plan_build(r->o->plan, r->o->mirror, &r->b->meta, e);
    if (rc == 0)
        rc = check_manifest_budget(r, e);
    if (rc == 0 && r->o->ready != NULL)
        rc = sink_result(r, r->o->ready(r->o->ready_ud, r->b, e));
    return rc;
}

/* oci-layout and index.json are not signed and not used for pushing; they
 * must merely be what they claim to be. */
static int read_layout(struct reader *r, struct al_err *e)
{
    struct al_buf b;
    json_t *doc;
    int rc = read_named(r, "oci-layout", LAYOUT_MAX, &b, e);

    if (rc == 0) {
        doc = json_loadb(b.data, b.len, 0, NULL);
        if (!json_is_string(json_object_get(doc, "imageLayoutVersion")))
            rc = al_err_set(e, AL_EINVAL, "%s: 'oci-layout' is not an OCI layout "
                            "marker", r->label);
        json_decref(doc);
    }
    al_buf_release(&b);
    if (rc != 0)
        return rc;
    rc = read_named(r, "index.json", INDEX_MAX, &b, e);
    if (rc == 0) {
        doc = json_loadb(b.data, b.len, 0, NULL);
        if (!json_is_array(json_object_get(doc, "manifests")))
            rc = al_err_set(e, AL_EINVAL, "%s: 'index.json' is not an OCI image index",
                            r->label);
        json_decref(doc);
    }
    al_buf_release(&b);
    return rc;
}

/* Why entry `name` is not blob `i`: unknown, repeated or out of order. */
static int wrong_entry(struct reader *r, size_t i, const char *name,
                       struct al_err *e)
{
    const struct al_bundle_meta *m = &r->b->meta;
    char digest[AL_DIGEST_STR_MAX];
    long at = -1;

    if (strncmp(name, "blobs/sha256/", 13) == 0 && strlen(name + 13) == 64) {
        snprintf(digest, sizeof(digest), "sha256:%s", name + 13);
        at = al_bundle_meta_find_blob(m, digest);
    }
    if (at < 0 || (size_t)at >= m->n_carried)
        return al_err_set(e, AL_EINVAL, "%s: entry '%s' is not listed in bundle.json: "
                          "refused", r->label, name);
    if ((size_t)at < i)
        return al_err_set(e, AL_EINVAL, "%s: entry '%s' appears twice: refused",
                          r->label, name);
    return al_err_set(e, AL_EINVAL, "%s: entry '%s' is out of order (bundle.json "
                      "lists '%s' first): refused", r->label, name,
                      m->blobs[i].digest);
}

static int next_blob(struct reader *r, size_t i, struct al_err *e)
{
    const struct al_meta_blob *mb = &r->b->meta.blobs[i];
    const char *name;
    char want[AL_BUNDLE_NAME_MAX + 1];
    long long size;
    int rc = al_bundle_reader_next(r->br, &name, &size, e);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return al_err_set(e, AL_EINVAL, "%s ends after %zu of its %zu blobs: it is "
                          "truncated; copy it again", r->label, i, r->b->meta.n_carried);
    snprintf(want, sizeof(want), "blobs/sha256/%s", mb->digest + 7);
    if (strcmp(name, want) != 0)
        return wrong_entry(r, i, name, e);
    if (size != mb->size)
        return al_err_set(e, AL_EDIGEST, "%s: '%s' has %lld bytes but bundle.json says "
                          "%lld: refused", r->label, name, size, mb->size);
    return 0;
}

static int digest_mismatch(struct reader *r, const struct al_meta_blob *mb,
                           const char *got, struct al_err *e)
{
    return al_err_set(e, AL_EDIGEST, "%s: blob %s is corrupt (its content hashes to "
                      "%s): nothing of it was committed; copy the bundle again",
                      r->label, mb->digest, got);
}

static int read_manifest_blob(struct reader *r, size_t i, struct al_err *e)
{
    const struct al_meta_blob *mb = &r->b->meta.blobs[i];
    char got[AL_DIGEST_STR_MAX];
    struct al_buf b;
    int rc;

    al_buf_init(&b, (size_t)mb->size);
    rc = al_bundle_reader_read_all(r->br, &b, e);
    if (rc == 0) {
        al_sha256_digest(b.data, b.len, got);
        if (b.len != (size_t)mb->size || strcmp(got, mb->digest) != 0)
            rc = digest_mismatch(r, mb, got, e);
    }
    if (rc != 0) {
        al_buf_release(&b);
        return rc;
    }
    r->b->manifests[i].data = al_buf_detach(&b, &r->b->manifests[i].len);
    r->b->blob_bytes += mb->size;
    return 0;
}

static int stream_blob(struct reader *r, size_t i, struct al_err *e)
{
    const struct al_meta_blob *mb = &r->b->meta.blobs[i];
    const struct im_sink *sink = r->o->sink;
    char got[AL_DIGEST_STR_MAX];
    long long total = 0;
    size_t n;
    int rc = sink ? sink_result(r, sink->begin(sink->ud, i, e)) : 0;

    while (rc == 0) {
        rc = al_bundle_reader_read(r->br, r->chunk, CHUNK, &n, e);
        if (rc != 0 || n == 0)
            break;
        al_sha256_update(r->sha, r->chunk, n);
        total += (long long)n;
        if (sink)
            rc = sink_result(r, sink->data(sink->ud, r->chunk, n, e));
    }
    al_sha256_final(r->sha, got);
    if (rc == 0 && (total != mb->size || strcmp(got, mb->digest) != 0))
        rc = digest_mismatch(r, mb, got, e);
    if (sink) {
        int end_rc = sink->end(sink->ud, rc == 0, rc == 0 ? e : NULL);
        if (rc == 0)
            rc = sink_result(r, end_rc);
    }
    if (rc == 0)
        r->b->blob_bytes += total;
    return rc;
}

static int read_blobs(struct reader *r, struct al_err *e)
{
    const char *name;
    long long size;
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < r->b->meta.n_carried; i++) {
        rc = next_blob(r, i, e);
        if (rc == 0 && r->b->meta.blobs[i].kind == AL_BLOB_MANIFEST)
            rc = read_manifest_blob(r, i, e);
        else if (rc == 0)
            rc = stream_blob(r, i, e);
        if (rc == 0 && r->o->progress)
            r->o->progress(r->o->ready_ud, r->b->blob_bytes, i + 1);
    }
    if (rc != 0)
        return rc;
    rc = al_bundle_reader_next(r->br, &name, &size, e);
    if (rc > 0)
        return al_err_set(e, AL_EINVAL, "%s: entry '%s' is not listed in bundle.json: "
                          "refused", r->label, name);
    return rc;
}

static int image_has_blob(const struct al_bundle_meta *m,
                          const struct al_meta_image *img, const char *digest)
{
    size_t i;

    for (i = 0; i < img->n_blobs; i++)
        if (strcmp(m->blobs[img->blobs[i]].digest, digest) == 0)
            return 1;
    return 0;
}

static int image_has_manifest(const struct al_meta_image *img, const char *digest)
{
    size_t i;

    for (i = 0; i < img->n_manifests; i++)
        if (strcmp(img->manifests[i].digest, digest) == 0)
            return 1;
    return 0;
}

/* What each manifest references must be what bundle.json promised for its
 * image: the pusher relies on it to put blobs where manifests need them. */
static int check_manifest(struct reader *r, const struct al_meta_image *img,
                          const struct al_meta_manifest *mf, struct al_err *e)
{
    const struct im_manifest *data = &r->b->manifests[mf->blob];
    struct al_manifest m;
    const char *missing = NULL;
    char what[600];
    size_t i;
    int rc;

    snprintf(what, sizeof(what), "manifest %s of '%s' in %s", mf->digest, img->name,
             r->label);
    rc = al_manifest_parse(data->data, data->len, mf->media_type, what, &m, e);
    if (rc != 0)
        return rc;
    /* (it goes to the mirror as the manifest's Content-Type) */
    if (strcmp(m.media_type, mf->media_type) != 0)
        rc = al_err_set(e, AL_EINVAL, "%s: bundle.json gives it the media type '%.100s', "
                        "which is not the manifest's own ('%s'): refused", what,
                        mf->media_type, m.media_type);
    if (rc == 0 && m.kind == AL_MANIFEST_IMAGE) {
        if (!image_has_blob(&r->b->meta, img, m.config.digest))
            missing = m.config.digest;
        for (i = 0; missing == NULL && i < m.n_layers; i++)
            if (!image_has_blob(&r->b->meta, img, m.layers[i].digest))
                missing = m.layers[i].digest;
    } else if (rc == 0) {
        for (i = 0; missing == NULL && i < m.n_children; i++)
            if (!image_has_manifest(img, m.children[i].digest))
                missing = m.children[i].digest;
    }
    if (missing != NULL)
        rc = al_err_set(e, AL_EINVAL, "%s references %s, which bundle.json does not "
                        "list for that image: refused", what, missing);
    al_manifest_release(&m);
    return rc;
}

static int check_manifests(struct reader *r, struct al_err *e)
{
    const struct al_bundle_meta *m = &r->b->meta;
    size_t i, j;
    int rc = 0;

    for (i = 0; rc == 0 && i < m->n_images; i++)
        for (j = 0; rc == 0 && j < m->images[i].n_manifests; j++)
            rc = check_manifest(r, &m->images[i], &m->images[i].manifests[j], e);
    return rc;
}

int im_read(const struct im_read_opts *o, struct im_bundle *b, struct al_err *e)
{
    struct reader r = {.o = o, .b = b};
    int rc;

    memset(b, 0, sizeof(*b));
    al_buf_init(&b->meta_text, AL_BUNDLE_META_MAX);
    r.sha = al_sha256_new();
    r.chunk = malloc(CHUNK);
    if (r.sha == NULL || r.chunk == NULL) {
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
        goto out;
    }
    /* a volume list is checked against its signature as it is read */
    rc = al_bundle_reader_open_signed(&r.br, o->path, o->key, e);
    if (rc != 0)
        goto out;
    r.label = al_bundle_reader_label(r.br);
    rc = read_metadata(&r, e);
    if (rc == 0)
        rc = read_layout(&r, e);
    if (rc == 0)
        rc = read_blobs(&r, e);
    if (rc == 0)
        rc = check_manifests(&r, e);
out:
    al_bundle_reader_free(r.br);
    al_sha256_free(r.sha);
    free(r.chunk);
    return rc;
}
