/* From inputs to images: the samples inputs and --image become images
 * (aliases followed and images united by name in inputs.c), then every
 * image's manifests are fetched, checked and kept in memory, children
 * before their index, with --arch choosing platforms. */
#include "resolve.h"
#include "fetch.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/manifest.h"
#include "airlock/pool.h"

/* What the resolving threads leave for the run, per image. */
struct resolving {
    const struct ex_resolve_cfg *cfg;
    struct ex_images *images;
    int *rc;
    struct al_err *err;
    char *before;       /* failed before resolving (an input's fault) */
    /* manifest bytes kept so far, all images: bounded like the import's */
    atomic_llong manifest_bytes;
    atomic_int over_budget;
};

/* Errors that concern one image only; anything else ends the export. */
static int is_per_image(int code)
{
    return code == AL_ENOTFOUND || code == AL_EDENIED || code == AL_EUNSUPPORTED ||
           code == AL_EINVAL || code == AL_ETOOBIG;
}

static int read_input(struct ex_images *images, const char *path,
                      int (*parse)(struct ex_images *, const char *, size_t,
                                   const char *, struct al_err *),
                      struct al_err *e)
{
    struct al_buf b;
    int rc;

    al_buf_init(&b, EX_INPUT_MAX);
    rc = al_buf_read_file(&b, path, e);
    if (rc == 0)
        rc = parse(images, b.data, b.len,
                   strcmp(path, "-") == 0 ? "standard input" : path, e);
    al_buf_release(&b);
    return rc;
}

/* Keeps a copy of a manifest's bytes. Their sum over the export is bounded
 * like the import's, before it is kept: a registry that serves thousands of
 * large children cannot grow the export's memory past the bound, nor make
 * it write a bundle the import would refuse. */
static int store_manifest(struct resolving *x, struct ex_image *img,
                          const struct al_buf *body, const char *media_type,
                          const char *digest, struct al_err *e)
{
    struct ex_manifest *grown;
    struct ex_manifest *m;
    long long total;
    size_t i;

    for (i = 0; i < img->n_manifests; i++)
        if (strcmp(img->manifests[i].digest, digest) == 0)
            return 0;
    total = atomic_fetch_add(&x->manifest_bytes, (long long)body->len) + (long long)body->len;
    if (total > AL_MANIFEST_BYTES_MAX) {
        atomic_store(&x->over_budget, 1);
        return al_err_set(e, AL_ETOOBIG, "image '%s': the manifests of this export pass "
                          "%lld bytes, the most one bundle may carry: export fewer "
                          "images at a time, or check what the registry at '%s' serves",
                          img->name, AL_MANIFEST_BYTES_MAX, img->ref.registry);
    }
    grown = realloc(img->manifests, (img->n_manifests + 1) * sizeof(*grown));
    if (grown == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    img->manifests = grown;
    m = &img->manifests[img->n_manifests];
    memset(m, 0, sizeof(*m));
    snprintf(m->digest, sizeof(m->digest), "%s", digest);
    m->media_type = strdup(media_type);
    m->data = malloc(body->len ? body->len : 1);
    if (m->media_type == NULL || m->data == NULL) {
        free(m->media_type);
        free(m->data);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    memcpy(m->data, body->data, body->len);
    m->len = body->len;
    img->n_manifests++;
    return 0;
}

/* The configs and layers one image may name across its platforms: a few
 * hundred at most in practice (a layer limit of 128, a handful of
 * platforms); an index of thousands of children of thousands of layers each
 * would otherwise cost hours of planning and gigabytes before any limit on
 * bundle.json stopped it. */
#define IMAGE_BLOBS_MAX 4096

static int arch_wanted(const struct ex_resolve_cfg *cfg, const struct al_desc *d)
{
    size_t i;

    if (cfg->n_arches == 0)
        return 1;
    for (i = 0; i < cfg->n_arches; i++)
        if (al_desc_platform_matches(d, cfg->arches[i]))
            return 1;
    return 0;
}

/* Fetches and parses one manifest of `img`; the bytes stay in `body`. */
static int fetch_manifest(struct al_registry *reg, const struct ex_image *img,
                          const char *reference, struct al_buf *body,
                          char digest[AL_DIGEST_STR_MAX], struct al_manifest *m,
                          struct al_err *e)
{
    char what[1200];
    char *mt = NULL;
    int rc;

    snprintf(what, sizeof(what), "image '%s'", img->name);
    rc = al_registry_get_manifest(&(struct al_repo){reg, img->ref.registry, img->ref.repo},
                                  reference, body, &mt, digest, e);
    if (rc == 0)
        rc = al_manifest_parse(body->data, body->len, mt, what, m, e);
    free(mt);
    return rc;
}

/* Fetches, checks and stores every wanted child of index `root`; returns
 * how many were kept in *kept. */
static int fetch_children(struct resolving *x, struct al_registry *reg,
                          struct ex_image *img, const struct al_manifest *root,
                          size_t *kept, struct al_err *e)
{
    size_t i, blobs = 0;
    int rc = 0;

    *kept = 0;
    for (i = 0; rc == 0 && i < root->n_children; i++) {
        struct al_manifest child = {0};
        struct al_buf body;
        char digest[AL_DIGEST_STR_MAX];

        if (!arch_wanted(x->cfg, &root->children[i]))
            continue;
        (*kept)++;
        al_buf_init(&body, AL_MANIFEST_MAX);
        rc = fetch_manifest(reg, img, root->children[i].digest, &body, digest, &child, e);
        if (rc == 0 && child.kind != AL_MANIFEST_IMAGE)
            rc = al_err_set(e, AL_EUNSUPPORTED, "image '%s': index %s inside an "
                            "index is not supported", img->name, digest);
        if (rc == 0 && (long long)body.len != root->children[i].size)
            rc = al_err_set(e, AL_EDIGEST, "image '%s': manifest %s is %zu bytes, "
                            "its index says %lld", img->name, digest, body.len,
                            root->children[i].size);
        blobs += rc == 0 ? child.n_layers + 1 : 0;
        if (rc == 0 && blobs > IMAGE_BLOBS_MAX)
            rc = al_err_set(e, AL_ETOOBIG, "image '%s': its platforms name more than %d "
                            "layers and configs, far more than any real image: refused "
                            "(check what the registry at '%s' serves)", img->name,
                            IMAGE_BLOBS_MAX, img->ref.registry);
        if (rc == 0)
            rc = store_manifest(x, img, &body, child.media_type, digest, e);
        al_manifest_release(&child);
        al_buf_release(&body);
    }
    return rc;
}

/* platform.<field> of an index entry, copied into `out`; NULL when absent. */
static char *copy_field(const json_t *entry, const char *field, char *out, size_t n)
{
    const char *v = json_string_value(
        json_object_get(json_object_get(entry, "platform"), field));

    if (v == NULL)
        return NULL;
    snprintf(out, n, "%s", v);
    return out;
}

/* An index of only the wanted entries of `orig` (their JSON kept as it was),
 * serialised into `out`: --arch kept several platforms but not all. */
static int filtered_index(const struct ex_resolve_cfg *cfg, const struct al_buf *orig,
                          const char *name, struct al_buf *out, struct al_err *e)
{
    json_error_t je;
    json_t *doc = json_loadb(orig->data, orig->len, 0, &je);
    json_t *all = json_object_get(doc, "manifests");
    json_t *kept = json_array();
    json_t *entry;
    char *text = NULL;
    size_t i;
    int rc = 0;

    json_array_foreach(all, i, entry) {
        struct al_desc d = {0};
        char os[64], arch[64], variant[64];
        d.os = copy_field(entry, "os", os, sizeof(os));
        d.arch = copy_field(entry, "architecture", arch, sizeof(arch));
        d.variant = copy_field(entry, "variant", variant, sizeof(variant));
        if (arch_wanted(cfg, &d))
            json_array_append(kept, entry);
    }
    if (doc == NULL || kept == NULL || json_object_set(doc, "manifests", kept) != 0 ||
        (text = json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(3))) == NULL)
        rc = al_err_set(e, AL_ENOMEM, "image '%s': cannot rewrite its index", name);
    if (rc == 0)
        rc = al_buf_puts(out, text, e);
    free(text);
    json_decref(kept);
    json_decref(doc);
    return rc;
}

/* An image named by digest whose index --arch cut down is mirrored under
 * another digest, which whatever pulls by the first (a release payload's
 * components, --image repo@sha256:...) will not find. */
static void pinned_note(struct resolving *x, const struct ex_image *img, const char *now)
{
    if (img->ref.digest != NULL && x->cfg->report != NULL)
        x->cfg->report(x->cfg->ud, "image '%s' is named by the digest of a multi-arch index; "
                       "with --arch the mirror gets %s instead, and pulls by %s will not "
                       "find it there (leave out --arch to carry the index whole)",
                       img->name, now, img->ref.digest);
}

/* Stores the root of an index after its children, as --arch leaves it: the
 * original when every platform is kept, nothing (the one child stands alone)
 * when one is, else a filtered index with a digest of its own. */
static int store_index(struct resolving *x, struct ex_image *img,
                       const struct al_buf *body,
                       const struct al_manifest *root, const char *digest,
                       size_t kept, struct al_err *e)
{
    struct al_buf filtered;
    char fdigest[AL_DIGEST_STR_MAX];
    int rc;

    if (kept == root->n_children)
        return store_manifest(x, img, body, root->media_type, digest, e);
    if (kept == 0)   /* a samples image is skipped; a release image ends the export */
        return al_err_set(e, AL_EUNSUPPORTED, "image '%s': none of its platforms is "
                          "among those given with --arch", img->name);
    if (kept == 1) {
        pinned_note(x, img, img->manifests[img->n_manifests - 1].digest);
        return 0;
    }
    al_buf_init(&filtered, AL_MANIFEST_MAX);
    rc = filtered_index(x->cfg, body, img->name, &filtered, e);
    if (rc == 0) {
        al_sha256_digest(filtered.data, filtered.len, fdigest);
        rc = store_manifest(x, img, &filtered, root->media_type, fdigest, e);
    }
    if (rc == 0)
        pinned_note(x, img, fdigest);
    al_buf_release(&filtered);
    return rc;
}

/* Fetches an image's manifests: children first, the root last. */
static int resolve_image(struct resolving *x, struct al_registry *reg,
                         struct ex_image *img, struct al_err *e)
{
    struct al_manifest root = {0};
    struct al_buf body;
    char digest[AL_DIGEST_STR_MAX];
    size_t kept = 0;
    int rc;

    img->source = al_registry_source(&(struct al_repo){reg, img->ref.registry,
                                                        img->ref.repo});
    if (img->source == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    al_buf_init(&body, AL_MANIFEST_MAX);
    rc = fetch_manifest(reg, img, img->ref.digest ? img->ref.digest : img->ref.tag,
                        &body, digest, &root, e);
    if (rc == 0 && root.kind == AL_MANIFEST_IMAGE)
        rc = store_manifest(x, img, &body, root.media_type, digest, e);
    if (rc == 0 && root.kind == AL_MANIFEST_INDEX)
        rc = fetch_children(x, reg, img, &root, &kept, e);
    if (rc == 0 && root.kind == AL_MANIFEST_INDEX)
        rc = store_index(x, img, &body, &root, digest, kept, e);
    al_manifest_release(&root);
    al_buf_release(&body);
    return rc;
}

/* Release images are what the cluster needs to be supported: losing one
 * ends the export. Samples images may fail one by one. */
int ex_image_is_essential(const struct ex_image *img)
{
    return img->role != EX_ROLE_SAMPLES;
}

static void release_manifests(struct ex_image *img)
{
    size_t i;

    for (i = 0; i < img->n_manifests; i++) {
        free(img->manifests[i].media_type);
        free(img->manifests[i].data);
    }
    free(img->manifests);
    img->manifests = NULL;
    img->n_manifests = 0;
}


/* Past the manifest budget no image can be kept: whichever met it first,
 * the export ends. */
static int ends_export(struct resolving *x, int code, const struct ex_image *img)
{
    return code != 0 && (!is_per_image(code) || ex_image_is_essential(img) ||
                         (code == AL_ETOOBIG && atomic_load(&x->over_budget)));
}

static int resolve_one(void *ud, void *ctx, size_t worker, size_t i, struct al_err *e)
{
    struct resolving *x = ud;
    struct ex_image *img = &x->images->v[i];

    (void)worker;
    if (x->before[i])
        return 0;
    x->rc[i] = resolve_image(x, ctx, img, &x->err[i]);
    /* an error that ends the export: resolving more is pointless */
    if (ends_export(x, x->rc[i], img)) {
        *e = x->err[i];
        return x->rc[i];
    }
    return 0;
}

static int registry_seen_before(const struct ex_images *images, size_t i)
{
    size_t k;

    for (k = 0; k < i; k++)
        if (!images->v[k].failed &&
            strcmp(images->v[k].ref.registry, images->v[i].ref.registry) == 0)
            return 1;
    return 0;
}

/* Each image on a thread of its own client (a clone of `reg`), what the
 * clones learnt (tokens) taken back into `reg` at the end. A failure that
 * ends the export is in x->rc and x->err like any other: the caller takes
 * the first one in input order, whichever thread met it first. */
static int resolve_on_threads(struct resolving *x, struct al_registry *reg,
                              struct al_err *e)
{
    size_t n = x->images->n, jobs = x->cfg->jobs ? x->cfg->jobs : 1;
    struct al_registry **regs;
    struct al_err perr;
    size_t i;
    int rc, item_failed = 0;

    if (jobs > n)
        jobs = n;
    if (jobs == 0)
        return 0;
    regs = calloc(jobs, sizeof(*regs));
    if (regs == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    al_err_init(&perr);
    rc = ex_clones_new(regs, jobs, reg, x->cfg->http, e);
    if (rc == 0) {
        struct al_pool_cfg pc = {.n_workers = jobs, .ctx = (void *const *)regs,
                                 .n_items = n, .fn = resolve_one, .ud = x};
        rc = al_pool_run(&pc, &perr);
        for (i = 0; rc != 0 && i < n; i++)
            item_failed |= ends_export(x, x->rc[i], &x->images->v[i]);
        if (rc != 0 && !item_failed)   /* no thread could start */
            *e = perr;
        else
            rc = 0;   /* the caller takes the items' failures in order */
    }
    ex_clones_free(regs, jobs, reg);
    free(regs);
    return rc;
}

/* Every image's manifests, --jobs at a time (a registry far away costs a
 * round trip or more per manifest); the outcomes are then taken in order. */
int ex_resolve_all(struct ex_images *images, struct al_registry *reg,
                   const struct ex_resolve_cfg *cfg, struct al_err *e)
{
    struct resolving x = {.cfg = cfg, .images = images};
    size_t i, n = images->n;
    int rc = 0;

    x.rc = calloc(n + 1, sizeof(int));
    x.err = calloc(n + 1, sizeof(struct al_err));
    x.before = calloc(n + 1, 1);
    if (x.rc == NULL || x.err == NULL || x.before == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    for (i = 0; rc == 0 && i < n; i++)
        x.before[i] = (char)images->v[i].failed;
    /* each registry once, here: one that is down is found (and retried) once,
     * and the threads start with its challenge */
    for (i = 0; rc == 0 && i < n; i++)
        if (!x.before[i] && !registry_seen_before(images, i))
            rc = al_registry_probe(reg, images->v[i].ref.registry, e);
    if (rc == 0)
        rc = resolve_on_threads(&x, reg, e);
    for (i = 0; rc == 0 && i < n; i++) {
        struct ex_image *img = &images->v[i];
        if (x.rc[i] == 0 && !img->failed)
            continue;
        if (x.before[i])
            continue;   /* failed before resolving: already reported */
        release_manifests(img);
        if (ends_export(&x, x.rc[i], img)) {
            *e = x.err[i];
            rc = x.rc[i];
            break;
        }
        if (x.rc[i] != 0)
            ex_image_fail(img, "%s", x.err[i].msg);
        cfg->report(cfg->ud, "skipping '%s': %s", img->name, img->reason);
    }
    free(x.rc);
    free(x.err);
    free(x.before);
    return rc;
}

int ex_read_inputs(struct ex_images *images, const struct ex_config *c, struct al_err *e)
{
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < c->n_configmaps; i++)
        rc = read_input(images, c->configmaps[i], ex_parse_configmap, e);
    for (i = 0; rc == 0 && i < c->n_imagestreams; i++)
        rc = read_input(images, c->imagestreams[i], ex_parse_imagestreams, e);
    for (i = 0; rc == 0 && i < c->n_images; i++)
        rc = ex_images_add(images, c->images[i], NULL, EX_ROLE_IMAGE, NULL, 1, e);
    return rc;
}
