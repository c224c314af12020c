#include "airlock/meta.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/buf.h"
#include "airlock/bundle.h"
#include "airlock/json.h"
#include "airlock/manifest.h"
#include "airlock/ref.h"

const char al_meta_key_bundle_id[] = "bundle_id";

struct parse {
    const char *what;
    struct al_err *e;
};

const char *al_blob_kind_name(enum al_blob_kind k)
{
    return k == AL_BLOB_LAYER ? "layer" : k == AL_BLOB_CONFIG ? "config" : "manifest";
}

int al_blob_kind_parse(const char *s, enum al_blob_kind *out)
{
    static const enum al_blob_kind all[] = {AL_BLOB_LAYER, AL_BLOB_CONFIG,
                                            AL_BLOB_MANIFEST};
    size_t i;

    for (i = 0; s != NULL && i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(s, al_blob_kind_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

static int bad(struct parse *p, const char *field, const char *why)
{
    return al_err_set(p->e, AL_EINVAL, "%s: %s %s", p->what, field, why);
}

/* A required (or optional) string member, duplicated. */
static int get_string(struct parse *p, json_t *obj, const char *key, int required,
                      char **out, const char *field)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL && !required)
        return 0;
    if (!json_is_string(v))
        return bad(p, field, "is missing or not a string");
    *out = strdup(json_string_value(v));
    return *out ? 0 : al_err_set(p->e, AL_ENOMEM, "out of memory");
}

static int get_digest(struct parse *p, json_t *obj, const char *key,
                      char out[AL_DIGEST_STR_MAX], const char *field)
{
    const char *s = json_string_value(json_object_get(obj, key));

    if (s == NULL || !al_digest_valid(s))
        return bad(p, field, "is not a sha256 digest");
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int get_size(struct parse *p, json_t *obj, long long max, long long *out,
                    const char *field)
{
    json_t *v = json_object_get(obj, "size");

    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > max)
        return bad(p, field, "has a missing or impossible size");
    *out = (long long)json_integer_value(v);
    return 0;
}

static int get_strings(struct parse *p, json_t *obj, const char *key,
                       char ***out, size_t *n, const char *field)
{
    json_t *a = json_object_get(obj, key), *v;
    size_t i;

    *out = NULL;
    *n = 0;
    if (a == NULL)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > AL_META_BLOBS_MAX)
        return bad(p, field, "is not a list of strings");
    *out = calloc(json_array_size(a) + 1, sizeof(char *));
    if (*out == NULL)
        return al_err_set(p->e, AL_ENOMEM, "out of memory");
    json_array_foreach(a, i, v) {
        if (!json_is_string(v))
            return bad(p, field, "is not a list of strings");
        (*out)[i] = strdup(json_string_value(v));
        if ((*out)[i] == NULL)
            return al_err_set(p->e, AL_ENOMEM, "out of memory");
        (*n)++;
    }
    return 0;
}

static int digest_cmp_ctx(const void *a, const void *b, void *ctx)
{
    const struct al_meta_blob *blobs = ctx;

    return strcmp(blobs[*(const size_t *)a].digest, blobs[*(const size_t *)b].digest);
}

/* Sorts the filled .by_digest; a digest may be listed once only. */
static int sort_blobs(struct al_bundle_meta *m, const char *what, struct al_err *e)
{
    size_t i;

    qsort_r(m->by_digest, m->n_blobs, sizeof(size_t), digest_cmp_ctx, m->blobs);
    for (i = 1; i < m->n_blobs; i++)
        if (strcmp(m->blobs[m->by_digest[i]].digest,
                   m->blobs[m->by_digest[i - 1]].digest) == 0)
            return al_err_set(e, AL_EINVAL, "%s: blob %s is listed twice", what,
                              m->blobs[m->by_digest[i]].digest);
    return 0;
}

static int parse_blob(struct parse *p, json_t *o, size_t i, struct al_meta_blob *b)
{
    char field[64];
    const char *kind = json_string_value(json_object_get(o, "kind"));
    int rc;

    snprintf(field, sizeof(field), "blobs[%zu]", i);
    if (!json_is_object(o))
        return bad(p, field, "is not an object");
    rc = get_digest(p, o, "digest", b->digest, field);
    if (rc == 0)
        rc = get_string(p, o, "media_type", 1, &b->media_type, field);
    if (rc != 0)
        return rc;
    if (al_blob_kind_parse(kind, &b->kind) != 0)
        return bad(p, field, "has an unknown kind");
    return get_size(p, o, b->kind == AL_BLOB_MANIFEST ? AL_MANIFEST_MAX
                                                      : AL_META_BLOB_SIZE_MAX,
                    &b->size, field);
}

static int parse_relied(struct parse *p, json_t *o, size_t i, struct al_meta_blob *b)
{
    char field[64];
    size_t j;
    int rc;

    snprintf(field, sizeof(field), "relies_on[%zu]", i);
    rc = parse_blob(p, o, i, b);
    if (rc == 0 && b->kind == AL_BLOB_MANIFEST)
        rc = bad(p, field, "is a manifest (manifests are always carried)");
    if (rc == 0)
        rc = get_string(p, o, al_meta_key_bundle_id, 1, &b->bundle_id, field);
    if (rc == 0)
        rc = get_strings(p, o, "repositories", &b->repos, &b->n_repos, field);
    for (j = 0; rc == 0 && j < b->n_repos; j++)
        if (!al_repo_valid(b->repos[j]))
            rc = bad(p, field, "names an invalid repository");
    b->relied = 1;
    return rc;
}

static int parse_blobs(struct parse *p, json_t *a, json_t *relied, struct al_bundle_meta *m)
{
    size_t i, n, nr;
    int rc = 0;

    if (!json_is_array(a) || json_array_size(a) > AL_META_BLOBS_MAX)
        return bad(p, "blobs", "is missing or too long");
    if (relied != NULL && (!json_is_array(relied) || json_array_size(relied) > AL_META_BLOBS_MAX))
        return bad(p, "relies_on", "is not a list");
    nr = relied ? json_array_size(relied) : 0;
    n = json_array_size(a) + nr;
    m->blobs = calloc(n + 1, sizeof(*m->blobs));
    m->by_digest = calloc(n + 1, sizeof(size_t));
    if (m->blobs == NULL || m->by_digest == NULL)
        return al_err_set(p->e, AL_ENOMEM, "out of memory");
    for (i = 0; i < json_array_size(a) && rc == 0; i++) {
        rc = parse_blob(p, json_array_get(a, i), i, &m->blobs[i]);
        m->n_blobs++;
        m->by_digest[i] = i;
    }
    m->n_carried = m->n_blobs;
    for (i = 0; i < nr && rc == 0; i++) {
        rc = parse_relied(p, json_array_get(relied, i), i, &m->blobs[m->n_blobs]);
        m->by_digest[m->n_blobs] = m->n_blobs;
        m->n_blobs++;
    }
    if (rc != 0)
        return rc;
    return sort_blobs(m, p->what, p->e);
}

int al_bundle_meta_index(struct al_bundle_meta *m, struct al_err *e)
{
    size_t i;

    free(m->by_digest);
    m->by_digest = calloc(m->n_blobs + 1, sizeof(size_t));
    if (m->by_digest == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    for (i = 0; i < m->n_blobs; i++)
        m->by_digest[i] = i;
    return sort_blobs(m, "bundle.json", e);
}

long al_bundle_meta_find_blob(const struct al_bundle_meta *m, const char *digest)
{
    size_t lo = 0, hi = m->n_blobs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->blobs[m->by_digest[mid]].digest, digest);
        if (c == 0)
            return (long)m->by_digest[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int parse_image_manifests(struct parse *p, json_t *a, const char *field,
                                 const struct al_bundle_meta *m,
                                 struct al_meta_image *img)
{
    size_t i;
    json_t *o;
    int rc = 0;

    if (!json_is_array(a) || json_array_size(a) == 0 ||
        json_array_size(a) > AL_MANIFEST_MAX_ENTRIES + 1)
        return bad(p, field, "has no manifests");
    img->manifests = calloc(json_array_size(a), sizeof(*img->manifests));
    if (img->manifests == NULL)
        return al_err_set(p->e, AL_ENOMEM, "out of memory");
    json_array_foreach(a, i, o) {
        struct al_meta_manifest *mf = &img->manifests[i];
        long b;
        img->n_manifests++;
        rc = get_digest(p, o, "digest", mf->digest, field);
        if (rc == 0)
            rc = get_string(p, o, "media_type", 1, &mf->media_type, field);
        if (rc == 0)
            rc = get_size(p, o, AL_MANIFEST_MAX, &mf->size, field);
        if (rc != 0)
            return rc;
        b = al_bundle_meta_find_blob(m, mf->digest);
        if (b < 0 || m->blobs[b].kind != AL_BLOB_MANIFEST || m->blobs[b].size != mf->size)
            return al_err_set(p->e, AL_EINVAL,
                              "%s: %s names manifest %s, which is not among the "
                              "bundle's manifests", p->what, field, mf->digest);
        mf->blob = (size_t)b;
    }
    if (strcmp(img->manifests[img->n_manifests - 1].digest, img->digest) != 0)
        return bad(p, field, "does not end with the image's own manifest");
    return 0;
}

static int parse_image_blobs(struct parse *p, json_t *a, const char *field,
                             const struct al_bundle_meta *m,
                             struct al_meta_image *img)
{
    size_t i;
    json_t *v;

    if (!json_is_array(a) || json_array_size(a) > AL_META_BLOBS_MAX)
        return bad(p, field, "has no list of blobs (written by an older airlock-export?)");
    img->blobs = calloc(json_array_size(a) + 1, sizeof(size_t));
    if (img->blobs == NULL)
        return al_err_set(p->e, AL_ENOMEM, "out of memory");
    json_array_foreach(a, i, v) {
        const char *d = json_string_value(v);
        long b = d ? al_bundle_meta_find_blob(m, d) : -1;
        if (b < 0 || m->blobs[b].kind == AL_BLOB_MANIFEST)
            return al_err_set(p->e, AL_EINVAL,
                              "%s: %s names blob %.80s, which is not a layer or "
                              "config of the bundle", p->what, field, d ? d : "(not a string)");
        img->blobs[img->n_blobs++] = (size_t)b;
    }
    return 0;
}

/* The name must parse and agree with registry, repository and tag, so that
 * the destination computed from them is the image the name says. */
static int check_image_name(struct parse *p, struct al_meta_image *img,
                            const char *field)
{
    struct al_ref ref;
    int rc, same;

    rc = al_ref_parse(img->name, &ref, NULL);
    if (rc != 0)
        return bad(p, field, "has an invalid name");
    same = strcmp(ref.registry, img->registry) == 0 &&
           strcmp(ref.repo, img->repository) == 0 &&
           ((img->tag == NULL && ref.tag == NULL) ||
            (img->tag != NULL && ref.tag != NULL && strcmp(img->tag, ref.tag) == 0));
    al_ref_release(&ref);
    return same ? 0 : bad(p, field, "has a name that disagrees with its registry, "
                                    "repository or tag");
}

static int parse_image(struct parse *p, json_t *o, size_t i,
                       const struct al_bundle_meta *m, struct al_meta_image *img)
{
    char field[64];
    int rc;

    snprintf(field, sizeof(field), "images[%zu]", i);
    if (!json_is_object(o))
        return bad(p, field, "is not an object");
    rc = get_string(p, o, "name", 1, &img->name, field);
    if (rc == 0)
        rc = get_string(p, o, "pull_spec", 0, &img->pull_spec, field);
    if (rc == 0)
        rc = get_string(p, o, "source", 0, &img->source, field);
    if (rc == 0)
        rc = get_string(p, o, "registry", 1, &img->registry, field);
    if (rc == 0)
        rc = get_string(p, o, "repository", 1, &img->repository, field);
    if (rc == 0)
        rc = get_string(p, o, "tag", 0, &img->tag, field);
    if (rc == 0)
        rc = get_string(p, o, "role", 1, &img->role, field);
    if (rc == 0)
        rc = get_string(p, o, "media_type", 1, &img->media_type, field);
    if (rc == 0)
        rc = get_digest(p, o, "digest", img->digest, field);
    if (rc == 0)
        rc = get_strings(p, o, "tags", &img->tags, &img->n_tags, field);
    if (rc == 0)
        rc = check_image_name(p, img, field);
    if (rc == 0)
        rc = parse_image_manifests(p, json_object_get(o, "manifests"), field, m, img);
    if (rc == 0)
        rc = parse_image_blobs(p, json_object_get(o, "blobs"), field, m, img);
    return rc;
}

static int parse_failed(struct parse *p, json_t *a, struct al_bundle_meta *m)
{
    size_t i;
    json_t *o;
    int rc = 0;

    if (a == NULL)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > AL_META_IMAGES_MAX)
        return bad(p, "failed", "is not a list");
    m->failed = calloc(json_array_size(a) + 1, sizeof(*m->failed));
    if (m->failed == NULL)
        return al_err_set(p->e, AL_ENOMEM, "out of memory");
    json_array_foreach(a, i, o) {
        struct al_meta_failed *f = &m->failed[i];
        m->n_failed++;
        rc = get_string(p, o, "name", 1, &f->name, "failed[]");
        if (rc == 0)
            rc = get_string(p, o, "pull_spec", 0, &f->pull_spec, "failed[]");
        if (rc == 0)
            rc = get_string(p, o, "role", 0, &f->role, "failed[]");
        if (rc == 0)
            rc = get_string(p, o, "reason", 0, &f->reason, "failed[]");
        if (rc == 0)
            rc = get_strings(p, o, "tags", &f->tags, &f->n_tags, "failed[]");
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_components(struct parse *p, json_t *o, struct al_bundle_meta *m)
{
    const char *k;
    json_t *v;

    if (o == NULL)
        return 0;
    if (!json_is_object(o) || json_object_size(o) > AL_META_IMAGES_MAX)
        return bad(p, "release.components", "is not an object");
    m->components = calloc(json_object_size(o) + 1, sizeof(*m->components));
    if (m->components == NULL)
        return al_err_set(p->e, AL_ENOMEM, "out of memory");
    json_object_foreach(o, k, v) {
        struct al_meta_component *c = &m->components[m->n_components];
        if (!json_is_string(v))
            return bad(p, "release.components", "is not a map of strings");
        m->n_components++;
        c->name = strdup(k);
        c->image = strdup(json_string_value(v));
        if (c->name == NULL || c->image == NULL)
            return al_err_set(p->e, AL_ENOMEM, "out of memory");
    }
    return 0;
}

/* An optional non-negative count member. */
static int get_count(struct parse *p, json_t *obj, const char *key, long long *out,
                     const char *field)
{
    json_t *v = json_object_get(obj, key);

    *out = 0;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > AL_META_BLOBS_MAX)
        return bad(p, field, "has an impossible count");
    *out = (long long)json_integer_value(v);
    return 0;
}

static int parse_samples(struct parse *p, json_t *o, struct al_bundle_meta *m)
{
    const char *field = "release.samples";
    const char *d;
    int rc;

    if (o == NULL)
        return 0;
    if (!json_is_object(o))
        return bad(p, field, "is not an object");
    d = json_string_value(json_object_get(o, "digest"));
    if (d != NULL && !al_digest_valid(d))
        return bad(p, field, "has a digest that is not a sha256 digest");
    rc = get_string(p, o, "image", 1, &m->samples_image, field);
    if (rc == 0)
        rc = get_string(p, o, "digest", 0, &m->samples_digest, field);
    if (rc == 0)
        rc = get_string(p, o, "arch", 0, &m->samples_arch, field);
    if (rc == 0)
        rc = get_count(p, o, "imagestreams", &m->samples_streams, field);
    if (rc == 0)
        rc = get_count(p, o, "tags", &m->samples_tags, field);
    return rc;
}

static int parse_release(struct parse *p, json_t *o, struct al_bundle_meta *m)
{
    json_t *mg = json_object_get(o, "must_gather");
    int rc;

    if (o == NULL)
        return 0;
    if (!json_is_object(o))
        return bad(p, "release", "is not an object");
    rc = get_string(p, o, "pull_spec", 1, &m->release, "release");
    if (rc == 0)
        rc = get_string(p, o, "source", 0, &m->release_source, "release");
    if (rc == 0)
        rc = get_string(p, o, "digest", 0, &m->release_digest, "release");
    if (rc == 0)
        rc = get_string(p, o, "arch", 0, &m->release_arch, "release");
    if (rc == 0 && mg != NULL)
        rc = get_string(p, mg, "pull_spec", 1, &m->must_gather, "release.must_gather");
    if (rc == 0 && mg != NULL)
        rc = get_string(p, mg, "digest", 0, &m->must_gather_digest,
                        "release.must_gather");
    if (rc == 0)
        rc = parse_components(p, json_object_get(o, "components"), m);
    if (rc == 0)
        rc = parse_samples(p, json_object_get(o, "samples"), m);
    return rc;
}

static int parse_doc(struct parse *p, json_t *doc, struct al_bundle_meta *m)
{
    json_t *images = json_object_get(doc, "images"), *o;
    const char *format = json_string_value(json_object_get(doc, "format"));
    json_t *version = json_object_get(doc, "version");
    size_t i;
    int rc;

    if (format == NULL || strcmp(format, AL_BUNDLE_FORMAT) != 0)
        return al_err_set(p->e, AL_EINVAL, "%s is not airlock bundle metadata", p->what);
    if (!json_is_integer(version) || json_integer_value(version) != AL_BUNDLE_VERSION)
        return al_err_set(p->e, AL_EUNSUPPORTED,
                          "%s has format version %lld; this airlock reads version %d: "
                          "use the airlock-import that matches the airlock-export",
                          p->what, json_is_integer(version) ? (long long)json_integer_value(version) : -1LL,
                          AL_BUNDLE_VERSION);
    rc = get_string(p, doc, "id", 1, &m->id, "id");
    if (rc == 0)
        rc = get_string(p, doc, "created", 0, &m->created, "created");
    if (rc == 0)
        rc = get_string(p, doc, "generator", 0, &m->generator, "generator");
    if (rc == 0)
        rc = parse_release(p, json_object_get(doc, "release"), m);
    if (rc == 0)
        rc = parse_blobs(p, json_object_get(doc, "blobs"), json_object_get(doc, "relies_on"), m);
    if (rc == 0)
        rc = parse_failed(p, json_object_get(doc, "failed"), m);
    if (rc != 0)
        return rc;
    if (!json_is_array(images) || json_array_size(images) > AL_META_IMAGES_MAX)
        return bad(p, "images", "is missing or too long");
    m->images = calloc(json_array_size(images) + 1, sizeof(*m->images));
    if (m->images == NULL)
        return al_err_set(p->e, AL_ENOMEM, "out of memory");
    json_array_foreach(images, i, o) {
        m->n_images++;
        rc = parse_image(p, o, i, m, &m->images[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int al_bundle_meta_parse(struct al_bundle_meta *m, const char *text, size_t len,
                         const char *what, struct al_err *e)
{
    struct parse p = {what, e};
    json_error_t jerr;
    json_t *doc;
    int rc;

    memset(m, 0, sizeof(*m));
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return al_err_set(e, AL_EINVAL, "%s is not valid JSON (line %d: %s)", what,
                          jerr.line, jerr.text);
    rc = json_is_object(doc) ? parse_doc(&p, doc, m)
                             : al_err_set(e, AL_EINVAL, "%s is not a JSON object", what);
    json_decref(doc);
    if (rc != 0)
        al_bundle_meta_release(m);
    return rc;
}

static void strings_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

static void image_release(struct al_meta_image *img)
{
    size_t i;

    free(img->name);
    free(img->pull_spec);
    free(img->source);
    free(img->registry);
    free(img->repository);
    free(img->tag);
    free(img->role);
    free(img->media_type);
    strings_free(img->tags, img->n_tags);
    for (i = 0; i < img->n_manifests; i++)
        free(img->manifests[i].media_type);
    free(img->manifests);
    free(img->blobs);
}

void al_bundle_meta_release(struct al_bundle_meta *m)
{
    size_t i;

    for (i = 0; i < m->n_images; i++)
        image_release(&m->images[i]);
    for (i = 0; i < m->n_failed; i++) {
        free(m->failed[i].name);
        free(m->failed[i].pull_spec);
        free(m->failed[i].role);
        free(m->failed[i].reason);
        strings_free(m->failed[i].tags, m->failed[i].n_tags);
    }
    for (i = 0; i < m->n_blobs; i++) {
        free(m->blobs[i].media_type);
        free(m->blobs[i].bundle_id);
        strings_free(m->blobs[i].repos, m->blobs[i].n_repos);
    }
    free(m->images);
    free(m->failed);
    free(m->blobs);
    free(m->by_digest);
    free(m->id);
    free(m->created);
    free(m->generator);
    free(m->release);
    free(m->release_source);
    free(m->release_digest);
    free(m->release_arch);
    free(m->must_gather);
    free(m->must_gather_digest);
    for (i = 0; i < m->n_components; i++) {
        free(m->components[i].name);
        free(m->components[i].image);
    }
    free(m->components);
    free(m->samples_image);
    free(m->samples_digest);
    free(m->samples_arch);
    memset(m, 0, sizeof(*m));
}

/* ---- writing ---- */

/* Sets `key` to the string `s`; a NULL `s` leaves the key out. */
static void put_string(json_t *o, const char *key, const char *s)
{
    if (s != NULL)
        json_object_set_new(o, key, json_string(s));
}

static json_t *blob_json(const struct al_meta_blob *b)
{
    json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "digest", b->digest, "size",
                          (json_int_t)b->size, "media_type", b->media_type, "kind",
                          al_blob_kind_name(b->kind));

    if (o != NULL && b->relied) {
        put_string(o, al_meta_key_bundle_id, b->bundle_id);
        json_object_set_new(o, "repositories", al_json_strings(b->repos, b->n_repos));
    }
    return o;
}

static json_t *image_json(const struct al_bundle_meta *m, const struct al_meta_image *img)
{
    json_t *o = json_object(), *ms = json_array(), *bs = json_array();
    size_t i;

    for (i = 0; i < img->n_manifests; i++)
        json_array_append_new(ms, json_pack("{s:s, s:s, s:I}", "digest",
                                            img->manifests[i].digest, "media_type",
                                            img->manifests[i].media_type, "size",
                                            (json_int_t)img->manifests[i].size));
    for (i = 0; i < img->n_blobs; i++)
        json_array_append_new(bs, json_string(m->blobs[img->blobs[i]].digest));
    put_string(o, "name", img->name);
    put_string(o, "pull_spec", img->pull_spec);
    put_string(o, "source", img->source);
    put_string(o, "registry", img->registry);
    put_string(o, "repository", img->repository);
    put_string(o, "tag", img->tag);
    put_string(o, "digest", img->digest);
    put_string(o, "media_type", img->media_type);
    put_string(o, "role", img->role);
    json_object_set_new(o, "tags", al_json_strings(img->tags, img->n_tags));
    json_object_set_new(o, "manifests", ms);
    json_object_set_new(o, "blobs", bs);
    return o;
}

static json_t *failed_json(const struct al_meta_failed *f)
{
    json_t *o = json_object();

    put_string(o, "name", f->name);
    put_string(o, "pull_spec", f->pull_spec);
    put_string(o, "role", f->role);
    json_object_set_new(o, "tags", al_json_strings(f->tags, f->n_tags));
    put_string(o, "reason", f->reason);
    return o;
}

static json_t *release_json(const struct al_bundle_meta *m)
{
    json_t *o = json_object(), *comps = json_object();
    size_t i;

    for (i = 0; i < m->n_components; i++)
        json_object_set_new(comps, m->components[i].name,
                            json_string(m->components[i].image));
    put_string(o, "pull_spec", m->release);
    put_string(o, "source", m->release_source);
    put_string(o, "digest", m->release_digest);
    put_string(o, "arch", m->release_arch);
    if (m->must_gather != NULL) {
        json_t *mg = json_object();
        put_string(mg, "pull_spec", m->must_gather);
        put_string(mg, "digest", m->must_gather_digest);
        json_object_set_new(o, "must_gather", mg);
    }
    json_object_set_new(o, "components", comps);
    if (m->samples_image != NULL) {
        json_t *s = json_object();
        put_string(s, "image", m->samples_image);
        put_string(s, "digest", m->samples_digest);
        put_string(s, "arch", m->samples_arch);
        json_object_set_new(s, "imagestreams", json_integer(m->samples_streams));
        json_object_set_new(s, "tags", json_integer(m->samples_tags));
        json_object_set_new(o, "samples", s);
    }
    return o;
}

/* bundle.json is written a value at a time, each dumped by jansson and
 * freed before the next is built: the whole document as one jansson tree
 * took about 8 KiB an image (most of the export's peak memory with
 * thousands of small images), its text takes about 1.5 KiB. The layout is
 * jansson's JSON_INDENT(1) for the whole document (a value dumped alone is
 * shifted to its depth: JSON text has no newline but between tokens), so
 * the bytes are what json_dumps of the one tree gave. */
struct meta_out {
    struct al_buf buf;
    int depth;          /* spaces after each newline of the value being dumped */
    int failed;         /* 0, or the first AL_E* code */
    const char *bad;    /* AL_EINVAL: the member that is not UTF-8 */
};

static int meta_out_cb(const char *p, size_t n, void *ud)
{
    static const char pad[] = "\n    ";
    struct meta_out *o = ud;
    size_t i, from = 0;

    for (i = 0; i < n && !o->failed; i++) {
        if (p[i] != '\n')
            continue;
        o->failed = al_buf_append(&o->buf, p + from, i - from, NULL, NULL);
        if (!o->failed)
            o->failed = al_buf_append(&o->buf, pad, 1 + (size_t)o->depth, NULL, NULL);
        from = i + 1;
    }
    if (!o->failed && from < n)
        o->failed = al_buf_append(&o->buf, p + from, n - from, NULL, NULL);
    return o->failed ? -1 : 0;
}

static void meta_put(struct meta_out *o, const char *s)
{
    if (!o->failed)
        o->failed = al_buf_puts(&o->buf, s, NULL);
}

/* Dumps `v` (consumed; NULL: out of memory) at `depth`. */
static void meta_value(struct meta_out *o, json_t *v, int depth)
{
    o->depth = depth;
    if (!o->failed && v == NULL)
        o->failed = AL_ENOMEM;
    else if (!o->failed &&
             json_dump_callback(v, meta_out_cb, o, JSON_PRESERVE_ORDER | JSON_INDENT(1) |
                                JSON_ENCODE_ANY) != 0 &&
             !o->failed)
        o->failed = AL_ENOMEM;   /* jansson's own allocation */
    json_decref(v);
}

/* `"key": ` of the document's next member. */
static void meta_key(struct meta_out *o, const char *key, int *first)
{
    meta_put(o, *first ? "\n \"" : ",\n \"");
    meta_put(o, key);
    meta_put(o, "\": ");
    *first = 0;
}

enum meta_list { LIST_IMAGES, LIST_FAILED, LIST_BLOBS, LIST_RELIED };

static void meta_list(struct meta_out *o, const struct al_bundle_meta *m, enum meta_list l)
{
    size_t i, from = 0, n = 0;

    switch (l) {
    case LIST_IMAGES: n = m->n_images; break;
    case LIST_FAILED: n = m->n_failed; break;
    case LIST_BLOBS: n = m->n_carried; break;
    case LIST_RELIED: from = m->n_carried; n = m->n_blobs; break;
    }
    if (from == n) {
        meta_put(o, "[]");
        return;
    }
    meta_put(o, "[");
    for (i = from; i < n && !o->failed; i++) {
        meta_put(o, i > from ? ",\n  " : "\n  ");
        meta_value(o, l == LIST_IMAGES   ? image_json(m, &m->images[i])
                      : l == LIST_FAILED ? failed_json(&m->failed[i])
                                         : blob_json(&m->blobs[i]),
                   2);
    }
    meta_put(o, "\n ]");
}

static void meta_string(struct meta_out *o, const char *key, const char *s, int *first)
{
    json_t *v;

    if (s == NULL)
        return;
    meta_key(o, key, first);
    v = json_string(s);
    if (v == NULL && !o->failed) {   /* jansson refuses text that is not UTF-8 */
        o->failed = AL_EINVAL;
        o->bad = key;
    }
    meta_value(o, v, 1);
}

/* The keys in the order airlock-export has always written them, so that
 * the same model gives the same bytes. */
int al_bundle_meta_write(const struct al_bundle_meta *m, char **text, struct al_err *e)
{
    struct meta_out o = {.failed = 0};
    int first = 1;

    *text = NULL;
    al_buf_init(&o.buf, AL_BUNDLE_META_MAX);
    meta_put(&o, "{");
    if (m->n_blobs > m->n_carried) {
        meta_key(&o, "relies_on", &first);
        meta_list(&o, m, LIST_RELIED);
    }
    meta_key(&o, "format", &first);
    meta_value(&o, json_string(AL_BUNDLE_FORMAT), 1);
    meta_key(&o, "version", &first);
    meta_value(&o, json_integer(AL_BUNDLE_VERSION), 1);
    meta_string(&o, "id", m->id, &first);
    meta_string(&o, "created", m->created, &first);
    meta_string(&o, "generator", m->generator, &first);
    if (m->release != NULL) {
        meta_key(&o, "release", &first);
        meta_value(&o, release_json(m), 1);
    }
    meta_key(&o, "images", &first);
    meta_list(&o, m, LIST_IMAGES);
    meta_key(&o, "failed", &first);
    meta_list(&o, m, LIST_FAILED);
    meta_key(&o, "blobs", &first);
    meta_list(&o, m, LIST_BLOBS);
    meta_put(&o, "\n}");
    if (o.failed)
        al_buf_release(&o.buf);
    if (o.failed == AL_ETOOBIG)
        return al_err_set(e, AL_ETOOBIG, "cannot write %s: it would be larger than the "
                          "%d MiB airlock-import reads (export fewer images into each "
                          "bundle)", AL_BUNDLE_META, AL_BUNDLE_META_MAX >> 20);
    if (o.failed == AL_EINVAL)
        return al_err_set(e, AL_EINVAL, "cannot write %s: its '%s' is not UTF-8 text",
                          AL_BUNDLE_META, o.bad);
    if (o.failed)
        return al_err_set(e, AL_ENOMEM, "out of memory writing %s", AL_BUNDLE_META);
    *text = al_buf_detach(&o.buf, NULL);
    return 0;
}

static int dump(json_t *doc, char **text, const char *what, struct al_err *e)
{
    *text = doc ? json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(1)) : NULL;
    json_decref(doc);
    return *text ? 0 : al_err_set(e, AL_ENOMEM, "out of memory writing %s", what);
}

int al_bundle_meta_layout_index(const struct al_bundle_meta *m, char **text,
                                struct al_err *e)
{
    json_t *doc = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType",
                            AL_MT_OCI_INDEX, "manifests");
    json_t *ms = json_object_get(doc, "manifests");
    size_t i;

    for (i = 0; i < m->n_images; i++) {
        const struct al_meta_image *img = &m->images[i];
        const struct al_meta_manifest *root;
        if (img->n_manifests == 0)
            continue;
        root = &img->manifests[img->n_manifests - 1];
        json_array_append_new(ms, json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType",
                                            root->media_type, "digest", root->digest,
                                            "size", (json_int_t)root->size,
                                            "annotations",
                                            "org.opencontainers.image.ref.name",
                                            img->name));
    }
    return dump(doc, text, "index.json", e);
}
