/* Orchestration: inputs -> resolve every manifest -> plan unique blobs ->
 * signed bundle.json -> stream every blob through SHA-256 into the tar. */
#include "export.h"
#include "cache.h"
#include "fetch.h"
#include "since.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include "airlock/auth.h"
#include "airlock/bundle.h"
#include "airlock/http.h"
#include "airlock/lock.h"
#include "airlock/manifest.h"
#include "airlock/sign.h"

#define COPY_CHUNK (256 * 1024)
/* Bytes each download thread may hold ahead of the writer: at 500 Mbit/s
 * and 40 ms round trips a connection has about 2.5 MB in flight, which a
 * paused download resumes from without a gap. */
#define FETCH_AHEAD (4 * 1024 * 1024)

enum blob_kind { BLOB_LAYER, BLOB_CONFIG, BLOB_MANIFEST };

struct blob {
    char digest[AL_DIGEST_STR_MAX];
    long long size;
    const char *media_type;          /* borrowed from a manifest or image */
    enum blob_kind kind;
    const struct ex_image *from;     /* an image whose repository has it */
    const struct ex_manifest *data;  /* manifests only: bytes in memory */
    const struct ex_held_blob *held; /* carried by a --since bundle: left out */
};

struct plan {
    struct blob *v;
    size_t n;
    struct al_manifest *parsed;      /* parsed image manifests (own the media
                                        type strings the blobs borrow) */
    size_t n_parsed;
    const struct ex_held *held;      /* what --since bundles carried */
};

struct run {
    const struct ex_config *cfg;
    ex_report_fn report;
    void *ud;
    struct al_http *http;
    struct al_http_opts http_opts;   /* download threads open their own */
    struct al_authfile *auth;
    struct al_registry *reg;
    struct al_sig_key *key;
    struct al_bundle_writer *w;
    struct ex_images images;
    struct plan plan;
    struct ex_held held;
    struct ex_cache *cache;
    size_t cache_hits;
    long long done_bytes, total_bytes;
    struct timespec last_tick;
    time_t created;
    char id[33];
    /* release */
    char *release_source;
    char release_digest[AL_DIGEST_STR_MAX];
    const char *release_arch;
};

static struct al_bundle_writer *volatile g_writer;

const char *const *ex_partial_paths(size_t *n)
{
    struct al_bundle_writer *w = g_writer;

    *n = 0;
    return w ? al_bundle_writer_partials(w, n) : NULL;
}

/* Errors that concern one image only; anything else ends the export. */
static int is_per_image(int code)
{
    return code == AL_ENOTFOUND || code == AL_EDENIED || code == AL_EUNSUPPORTED ||
           code == AL_EINVAL || code == AL_ETOOBIG;
}

static int read_input(struct run *r, const char *path,
                      int (*parse)(struct ex_images *, const char *, size_t,
                                   const char *, struct al_err *),
                      struct al_err *e)
{
    struct al_buf b;
    int rc;

    al_buf_init(&b, EX_INPUT_MAX);
    rc = al_buf_read_file(&b, path, e);
    if (rc == 0)
        rc = parse(&r->images, b.data, b.len,
                   strcmp(path, "-") == 0 ? "standard input" : path, e);
    al_buf_release(&b);
    return rc;
}

static int store_manifest(struct ex_image *img, const struct al_buf *body,
                          const char *media_type, const char *digest,
                          struct al_err *e)
{
    struct ex_manifest *grown;
    struct ex_manifest *m;
    size_t i;

    for (i = 0; i < img->n_manifests; i++)
        if (strcmp(img->manifests[i].digest, digest) == 0)
            return 0;
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

static int arch_wanted(const struct ex_config *cfg, const struct al_desc *d)
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
static int fetch_children(struct run *r, struct al_registry *reg, struct ex_image *img,
                          const struct al_manifest *root, size_t *kept,
                          struct al_err *e)
{
    size_t i;
    int rc = 0;

    *kept = 0;
    for (i = 0; rc == 0 && i < root->n_children; i++) {
        struct al_manifest child = {0};
        struct al_buf body;
        char digest[AL_DIGEST_STR_MAX];

        if (!arch_wanted(r->cfg, &root->children[i]))
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
        if (rc == 0)
            rc = store_manifest(img, &body, child.media_type, digest, e);
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
static int filtered_index(const struct run *r, const struct al_buf *orig,
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
        if (arch_wanted(r->cfg, &d))
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

/* Stores the root of an index after its children, as --arch leaves it: the
 * original when every platform is kept, nothing (the one child stands alone)
 * when one is, else a filtered index with a digest of its own. */
static int store_index(struct run *r, struct ex_image *img, const struct al_buf *body,
                       const struct al_manifest *root, const char *digest,
                       size_t kept, struct al_err *e)
{
    struct al_buf filtered;
    char fdigest[AL_DIGEST_STR_MAX];
    int rc;

    if (kept == root->n_children)
        return store_manifest(img, body, root->media_type, digest, e);
    if (kept == 0) {
        ex_image_fail(img, "none of its platforms is among those given with --arch");
        return 0;
    }
    if (kept == 1)
        return 0;
    al_buf_init(&filtered, AL_MANIFEST_MAX);
    rc = filtered_index(r, body, img->name, &filtered, e);
    if (rc == 0) {
        al_sha256_digest(filtered.data, filtered.len, fdigest);
        rc = store_manifest(img, &filtered, root->media_type, fdigest, e);
    }
    al_buf_release(&filtered);
    return rc;
}

/* Fetches an image's manifests: children first, the root last. */
static int resolve_image(struct run *r, struct al_registry *reg, struct ex_image *img,
                         struct al_err *e)
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
        rc = store_manifest(img, &body, root.media_type, digest, e);
    if (rc == 0 && root.kind == AL_MANIFEST_INDEX)
        rc = fetch_children(r, reg, img, &root, &kept, e);
    if (rc == 0 && root.kind == AL_MANIFEST_INDEX)
        rc = store_index(r, img, &body, &root, digest, kept, e);
    al_manifest_release(&root);
    al_buf_release(&body);
    return rc;
}

/* Release images are what the cluster needs to be supported: losing one
 * ends the export. Samples images may fail one by one. */
static int image_is_essential(const struct ex_image *img)
{
    return strcmp(img->role, "must-gather") == 0 ||
           strncmp(img->role, "release:", 8) == 0 || strcmp(img->role, "image") == 0;
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

/* What the resolving threads leave for the run, per image. */
struct resolving {
    struct run *r;
    int *rc;
    struct al_err *err;
    char *before;       /* failed before resolving (an input's fault) */
};

static int resolve_one(void *ud, size_t i, struct al_registry *reg)
{
    struct resolving *x = ud;
    struct ex_image *img = &x->r->images.v[i];

    if (x->before[i])
        return 0;
    x->rc[i] = resolve_image(x->r, reg, img, &x->err[i]);
    /* an error that ends the export: resolving more is pointless */
    return x->rc[i] != 0 && (!is_per_image(x->rc[i]) || image_is_essential(img));
}

static int registry_seen_before(const struct run *r, size_t i)
{
    size_t k;

    for (k = 0; k < i; k++)
        if (!r->images.v[k].failed &&
            strcmp(r->images.v[k].ref.registry, r->images.v[i].ref.registry) == 0)
            return 1;
    return 0;
}

/* Every image's manifests, --jobs at a time (a registry far away costs a
 * round trip or more per manifest); the outcomes are then taken in order. */
static int resolve_all(struct run *r, struct al_err *e)
{
    struct resolving x = {.r = r};
    size_t i, n = r->images.n;
    int rc = 0;

    x.rc = calloc(n + 1, sizeof(int));
    x.err = calloc(n + 1, sizeof(struct al_err));
    x.before = calloc(n + 1, 1);
    if (x.rc == NULL || x.err == NULL || x.before == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    for (i = 0; rc == 0 && i < n; i++)
        x.before[i] = (char)r->images.v[i].failed;
    /* each registry once, here: one that is down is found (and retried) once,
     * and the threads start with its challenge */
    for (i = 0; rc == 0 && i < n; i++)
        if (!x.before[i] && !registry_seen_before(r, i))
            rc = al_registry_probe(r->reg, r->images.v[i].ref.registry, e);
    if (rc == 0)
        rc = ex_each((size_t)(r->cfg->jobs > 0 ? r->cfg->jobs : 1), &r->http_opts, r->reg,
                     n, resolve_one, &x, e);
    for (i = 0; rc == 0 && i < n; i++) {
        struct ex_image *img = &r->images.v[i];
        if (x.rc[i] == 0 && !img->failed)
            continue;
        if (x.before[i])
            continue;   /* failed before resolving: already reported */
        release_manifests(img);
        if (x.rc[i] != 0 && (!is_per_image(x.rc[i]) || image_is_essential(img))) {
            *e = x.err[i];
            rc = x.rc[i];
            break;
        }
        if (x.rc[i] != 0)
            ex_image_fail(img, "%s", x.err[i].msg);
        r->report(r->ud, "skipping '%s': %s", img->name, img->reason);
    }
    free(x.rc);
    free(x.err);
    free(x.before);
    return rc;
}

/* Adds a blob to the plan unless it is there; the same digest with two
 * sizes means a registry lied about one of them. */
static int plan_add(struct plan *p, const char *digest, long long size,
                    const char *media_type, enum blob_kind kind,
                    const struct ex_image *from, const struct ex_manifest *data,
                    struct al_err *e)
{
    struct blob *grown;
    size_t i;

    for (i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].digest, digest) != 0)
            continue;
        if (p->v[i].size != size)
            return al_err_set(e, AL_EDIGEST, "blob %s is %lld bytes in '%s' but %lld "
                              "in '%s'", digest, p->v[i].size, p->v[i].from->name,
                              size, from->name);
        return 0;
    }
    if (size < 0)
        return al_err_set(e, AL_EINVAL, "image '%s': blob %s has a negative size",
                          from->name, digest);
    grown = realloc(p->v, (p->n + 1) * sizeof(*grown));
    if (grown == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    p->v = grown;
    memset(&p->v[p->n], 0, sizeof(p->v[p->n]));
    snprintf(p->v[p->n].digest, sizeof(p->v[p->n].digest), "%s", digest);
    p->v[p->n].size = size;
    p->v[p->n].media_type = media_type;
    p->v[p->n].kind = kind;
    p->v[p->n].from = from;
    p->v[p->n].data = data;
    if (kind != BLOB_MANIFEST && p->held != NULL)
        p->v[p->n].held = ex_held_find(p->held, digest);
    p->n++;
    return 0;
}

static int plan_parse(struct plan *p, const struct ex_image *img,
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
static int plan_image_blobs(struct plan *p, const struct ex_image *img,
                            const struct ex_manifest *m, struct al_err *e)
{
    struct al_manifest *parsed = NULL;
    size_t i;
    int rc = plan_parse(p, img, m, &parsed, e);

    if (rc != 0 || parsed->kind != AL_MANIFEST_IMAGE)
        return rc;
    rc = plan_add(p, parsed->config.digest, parsed->config.size,
                  parsed->config.media_type, BLOB_CONFIG, img, NULL, e);
    for (i = 0; rc == 0 && i < parsed->n_layers; i++)
        rc = plan_add(p, parsed->layers[i].digest, parsed->layers[i].size,
                      parsed->layers[i].media_type, BLOB_LAYER, img, NULL, e);
    return rc;
}

/* Every unique blob once: configs and layers first, then manifests with
 * children before their indexes, so a reader meets what a manifest needs
 * before the manifest. */
static int plan_blobs(struct run *r, struct al_err *e)
{
    size_t i, j;
    int rc = 0;

    for (i = 0; rc == 0 && i < r->images.n; i++)
        for (j = 0; rc == 0 && j < r->images.v[i].n_manifests; j++)
            rc = plan_image_blobs(&r->plan, &r->images.v[i],
                                  &r->images.v[i].manifests[j], e);
    for (i = 0; rc == 0 && i < r->images.n; i++)
        for (j = 0; rc == 0 && j < r->images.v[i].n_manifests; j++) {
            const struct ex_manifest *m = &r->images.v[i].manifests[j];
            rc = plan_add(&r->plan, m->digest, (long long)m->len, m->media_type,
                          BLOB_MANIFEST, &r->images.v[i], m, e);
        }
    return rc;
}

static void plan_release(struct plan *p)
{
    size_t i;

    for (i = 0; i < p->n_parsed; i++)
        al_manifest_release(&p->parsed[i]);
    free(p->parsed);
    free(p->v);
    memset(p, 0, sizeof(*p));
}

static const char *kind_name(enum blob_kind k)
{
    return k == BLOB_LAYER ? "layer" : k == BLOB_CONFIG ? "config" : "manifest";
}

static json_t *json_strings(char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static void json_add_unique(json_t *a, const char *digest)
{
    size_t i;

    for (i = 0; i < json_array_size(a); i++)
        if (strcmp(json_string_value(json_array_get(a, i)), digest) == 0)
            return;
    json_array_append_new(a, json_string(digest));
}

/* Configs and layers of every manifest of the image: an importer meets these
 * before the manifests and must know which repositories need them. The
 * manifests were parsed once already by plan_blobs(), so this cannot fail
 * other than for memory. */
static json_t *image_blobs_json(const struct ex_image *img)
{
    json_t *a = json_array();
    size_t i, j;

    for (i = 0; a != NULL && i < img->n_manifests; i++) {
        const struct ex_manifest *m = &img->manifests[i];
        struct al_manifest parsed;
        if (al_manifest_parse(m->data, m->len, m->media_type, img->name, &parsed,
                              NULL) != 0)
            continue;
        if (parsed.kind == AL_MANIFEST_IMAGE) {
            json_add_unique(a, parsed.config.digest);
            for (j = 0; j < parsed.n_layers; j++)
                json_add_unique(a, parsed.layers[j].digest);
        }
        al_manifest_release(&parsed);
    }
    return a;
}

static json_t *image_json(const struct ex_image *img)
{
    const struct ex_manifest *root = &img->manifests[img->n_manifests - 1];
    json_t *o = json_object(), *ms = json_array();
    size_t i;

    for (i = 0; i < img->n_manifests; i++)
        json_array_append_new(ms, json_pack("{s:s, s:s, s:I}", "digest",
                                            img->manifests[i].digest, "media_type",
                                            img->manifests[i].media_type, "size",
                                            (json_int_t)img->manifests[i].len));
    json_object_set_new(o, "name", json_string(img->name));
    json_object_set_new(o, "pull_spec", json_string(img->pull_spec));
    json_object_set_new(o, "source", json_string(img->source));
    json_object_set_new(o, "registry", json_string(img->ref.registry));
    json_object_set_new(o, "repository", json_string(img->ref.repo));
    if (img->ref.tag != NULL)
        json_object_set_new(o, "tag", json_string(img->ref.tag));
    json_object_set_new(o, "digest", json_string(root->digest));
    json_object_set_new(o, "media_type", json_string(root->media_type));
    json_object_set_new(o, "role", json_string(img->role));
    json_object_set_new(o, "tags", json_strings(img->tags, img->n_tags));
    json_object_set_new(o, "manifests", ms);
    json_object_set_new(o, "blobs", image_blobs_json(img));
    return o;
}

static json_t *failed_json(const struct ex_image *img)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s}", "name", img->name, "pull_spec",
                     img->pull_spec, "role", img->role, "tags",
                     json_strings(img->tags, img->n_tags), "reason",
                     img->reason ? img->reason : "unknown");
}

static const struct ex_image *find_role(const struct run *r, const char *role)
{
    size_t i;

    for (i = 0; i < r->images.n; i++)
        if (strcmp(r->images.v[i].role, role) == 0 && !r->images.v[i].failed)
            return &r->images.v[i];
    return NULL;
}

static json_t *release_json(const struct run *r)
{
    const struct ex_image *mg = find_role(r, "must-gather");
    json_t *o, *comps = json_object();
    size_t i;

    for (i = 0; i < r->images.n; i++) {
        const struct ex_image *img = &r->images.v[i];
        if (strncmp(img->role, "release:", 8) == 0 && !img->failed)
            json_object_set_new(comps, img->role + 8, json_string(img->name));
    }
    o = json_pack("{s:s, s:s, s:s, s:s}", "pull_spec", r->cfg->release, "source",
                  r->release_source, "digest", r->release_digest, "arch",
                  r->release_arch);
    if (mg != NULL)
        json_object_set_new(o, "must_gather",
                            json_pack("{s:s, s:s}", "pull_spec", mg->name, "digest",
                                      mg->manifests[mg->n_manifests - 1].digest));
    json_object_set_new(o, "components", comps);
    return o;
}

static char *metadata_text(const struct run *r)
{
    json_t *doc = json_object(), *images = json_array(), *failed = json_array();
    json_t *blobs = json_array(), *relies = NULL;
    char created[32];
    char *text;
    size_t i;

    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime(&r->created));
    for (i = 0; i < r->images.n; i++)
        json_array_append_new(r->images.v[i].failed ? failed : images,
                              r->images.v[i].failed ? failed_json(&r->images.v[i])
                                                    : image_json(&r->images.v[i]));
    for (i = 0; i < r->plan.n; i++) {
        const struct blob *b = &r->plan.v[i];
        json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "digest", b->digest, "size",
                              (json_int_t)b->size, "media_type", b->media_type, "kind",
                              kind_name(b->kind));
        if (b->held == NULL) {
            json_array_append_new(blobs, o);
            continue;
        }
        json_object_set_new(o, "bundle_id", json_string(b->held->bundle_id));
        json_object_set_new(o, "repositories",
                            json_strings(b->held->repos, b->held->n_repos));
        if (relies == NULL)
            relies = json_array();
        json_array_append_new(relies, o);
    }
    if (relies != NULL)
        json_object_set_new(doc, "relies_on", relies);
    json_object_set_new(doc, "format", json_string(AL_BUNDLE_FORMAT));
    json_object_set_new(doc, "version", json_integer(AL_BUNDLE_VERSION));
    json_object_set_new(doc, "id", json_string(r->id));
    json_object_set_new(doc, "created", json_string(created));
    json_object_set_new(doc, "generator", json_string("airlock-export " AIRLOCK_VERSION));
    if (r->cfg->release != NULL)
        json_object_set_new(doc, "release", release_json(r));
    json_object_set_new(doc, "images", images);
    json_object_set_new(doc, "failed", failed);
    json_object_set_new(doc, "blobs", blobs);
    text = json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(1));
    json_decref(doc);
    return text;
}

/* index.json of an OCI image layout, so that an unpacked bundle is one
 * that skopeo and podman can read (oci:DIR:NAME). */
static char *layout_index_text(const struct run *r)
{
    json_t *doc = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType",
                            AL_MT_OCI_INDEX, "manifests");
    json_t *ms = json_object_get(doc, "manifests");
    char *text;
    size_t i;

    for (i = 0; i < r->images.n; i++) {
        const struct ex_image *img = &r->images.v[i];
        const struct ex_manifest *root;
        if (img->failed)
            continue;
        root = &img->manifests[img->n_manifests - 1];
        json_array_append_new(ms, json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType",
                                            root->media_type, "digest", root->digest,
                                            "size", (json_int_t)root->len,
                                            "annotations",
                                            "org.opencontainers.image.ref.name",
                                            img->name));
    }
    text = json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(1));
    json_decref(doc);
    return text;
}

/* bundle.json, its signature, and the OCI layout files. */
static int write_metadata(struct run *r, struct al_err *e)
{
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    char *meta = metadata_text(r), *index = layout_index_text(r);
    struct al_buf sig;
    int rc = 0;

    al_buf_init(&sig, 64 * 1024);
    if (meta == NULL || index == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    if (rc == 0)
        rc = al_sig_sign(r->key, meta, strlen(meta), &sig, e);
    if (rc == 0)
        rc = al_bundle_writer_add(r->w, AL_BUNDLE_META, meta, strlen(meta), e);
    if (rc == 0)
        rc = al_bundle_writer_add(r->w, AL_BUNDLE_SIG, sig.data, sig.len, e);
    if (rc == 0)
        rc = al_bundle_writer_add(r->w, "oci-layout", layout, sizeof(layout) - 1, e);
    if (rc == 0)
        rc = al_bundle_writer_add(r->w, "index.json", index, strlen(index), e);
    al_buf_release(&sig);
    free(meta);
    free(index);
    return rc;
}

static void blob_entry_name(const struct blob *b, char *out, size_t n)
{
    snprintf(out, n, "blobs/sha256/%s", b->digest + strlen("sha256:"));
}

static void tick(struct run *r, size_t n)
{
    struct timespec now;
    long long ms;

    r->done_bytes += (long long)n;
    if (r->cfg->progress == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - r->last_tick.tv_sec) * 1000 +
         (now.tv_nsec - r->last_tick.tv_nsec) / 1000000;
    if (ms < 250 && r->done_bytes < r->total_bytes)
        return;
    r->last_tick = now;
    r->cfg->progress(r->cfg->progress_ud, r->done_bytes, r->total_bytes);
}

/* What the download threads share with the run: the blobs to fetch (plan
 * indices, in bundle order) and a lock for the counters they touch. */
struct fetch_list {
    struct run *r;
    size_t *plan_index;
    size_t n;
    pthread_mutex_t lock;
};

/* A cached copy: verified whole first (a bad entry is dropped and the blob
 * downloaded instead), then copied out. *used says whether it was. */
static int fetch_cached(struct fetch_list *l, const struct blob *b, struct al_sha256 *h,
                        char *chunk, struct al_pipe *out, int *used, struct al_err *e)
{
    struct run *r = l->r;
    char got[AL_DIGEST_STR_MAX];
    FILE *f = r->cache ? ex_cache_get(r->cache, b->digest, b->size) : NULL;
    size_t n;
    int rc = 0;

    *used = 0;
    if (f == NULL)
        return 0;
    while ((n = fread(chunk, 1, COPY_CHUNK, f)) > 0)
        al_sha256_update(h, chunk, n);
    al_sha256_final(h, got);
    if (ferror(f) || strcmp(got, b->digest) != 0) {
        fclose(f);
        ex_cache_drop(r->cache, b->digest);
        r->report(r->ud, "cached blob %s is damaged: fetching it again", b->digest);
        return 0;
    }
    rewind(f);
    while (rc == 0 && (n = fread(chunk, 1, COPY_CHUNK, f)) > 0)
        rc = al_pipe_write(out, chunk, n, e);
    if (rc == 0 && ferror(f))
        rc = al_err_sys(e, AL_EIO, errno, "cannot read the cached blob %s", b->digest);
    fclose(f);
    *used = 1;
    pthread_mutex_lock(&l->lock);
    r->cache_hits++;
    pthread_mutex_unlock(&l->lock);
    return rc;
}

static void report_resume(void *ud, const char *digest, long long offset, const char *why)
{
    const struct run *r = ud;

    r->report(r->ud, "blob %s broke off after %lld bytes (%s): resuming", digest, offset,
              why);
}

/* In a download thread: one blob from its registry (or the cache) into
 * `out`, hashing each byte as it passes (the registry layer resumes a
 * download that breaks off). Ends in an error unless the bytes are the
 * digest's, so the bundle is abandoned rather than carry them. */
static int fetch_blob(void *ud, size_t item, struct al_registry *reg,
                      struct al_pipe *out, struct al_err *e)
{
    struct fetch_list *l = ud;
    struct run *r = l->r;
    const struct blob *b = &r->plan.v[l->plan_index[item]];
    struct al_blob_reader *br = NULL;
    struct al_sha256 *h = al_sha256_new();
    char *chunk = malloc(COPY_CHUNK), got[AL_DIGEST_STR_MAX];
    long long total = 0;
    size_t n = 0;
    int rc, used = 0;
    FILE *tee = NULL;

    rc = h && chunk ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");
    if (rc == 0)
        rc = fetch_cached(l, b, h, chunk, out, &used, e);
    if (rc != 0 || used)   /* (a damaged entry's hash was reset by its final) */
        goto out;
    if (r->cache)
        tee = ex_cache_begin(r->cache, b->digest);
    rc = al_blob_reader_open(&(struct al_repo){reg, b->from->ref.registry, b->from->ref.repo},
                             b->digest, b->size, report_resume, r, &br, e);
    while (rc == 0) {
        rc = al_blob_reader_read(br, chunk, COPY_CHUNK, &n, e);
        if (rc != 0 || n == 0)
            break;
        total += (long long)n;
        al_sha256_update(h, chunk, n);
        if (tee != NULL && fwrite(chunk, 1, n, tee) != n) {
            ex_cache_commit(r->cache, tee, b->digest, 0);   /* a full cache is no error */
            tee = NULL;
        }
        rc = al_pipe_write(out, chunk, n, e);
    }
    al_blob_reader_close(br);
    al_sha256_final(h, got);
    if (tee != NULL)
        ex_cache_commit(r->cache, tee, b->digest,
                        rc == 0 && total == b->size && strcmp(got, b->digest) == 0);
    if (rc != 0)
        rc = al_err_prefix(e, "blob %s of '%s'", b->digest, b->from->name);
    else if (strcmp(got, b->digest) != 0)
        rc = al_err_set(e, AL_EDIGEST, "blob %s of '%s' from %s: received %lld bytes "
                        "with digest %s", b->digest, b->from->name, b->from->source,
                        total, got);
out:
    al_sha256_free(h);
    free(chunk);
    return rc;
}

/* Copies one fetched blob from its pipe into the bundle. */
static int write_fetched(struct run *r, const struct blob *b, struct al_pipe *in,
                         char *chunk, struct al_err *e)
{
    char name[128];
    size_t n;
    int rc;

    blob_entry_name(b, name, sizeof(name));
    rc = al_bundle_writer_begin(r->w, name, b->size, e);
    while (rc == 0) {
        rc = al_pipe_read(in, chunk, COPY_CHUNK, &n, e);
        if (rc != 0 || n == 0)
            break;
        rc = al_bundle_writer_write(r->w, chunk, n, e);
        tick(r, n);
    }
    return rc == 0 ? al_bundle_writer_end(r->w, e) : rc;
}

/* The blobs go into the bundle in plan order; --jobs threads download
 * ahead of the one being written, each into a bounded pipe. */
static int write_blobs(struct run *r, struct al_err *e)
{
    struct fetch_list l = {.r = r};
    struct ex_fetcher *f = NULL;
    char *chunk = malloc(COPY_CHUNK);
    char name[128];
    size_t i, k = 0;
    int rc = 0;

    l.plan_index = calloc(r->plan.n + 1, sizeof(size_t));
    if (chunk == NULL || l.plan_index == NULL) {
        free(chunk);
        free(l.plan_index);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    for (i = 0; i < r->plan.n; i++)
        if (r->plan.v[i].held == NULL && r->plan.v[i].kind != BLOB_MANIFEST)
            l.plan_index[l.n++] = i;
    pthread_mutex_init(&l.lock, NULL);
    if (l.n > 0) {
        struct ex_fetch_cfg fc = {
            .jobs = (size_t)(r->cfg->jobs > 0 ? r->cfg->jobs : 1),
            .pipe_capacity = FETCH_AHEAD,
            .http = &r->http_opts,
            .reg = r->reg,
            .n_items = l.n,
            .fetch = fetch_blob,
            .ud = &l,
        };
        rc = ex_fetch_start(&f, &fc, e);
    }
    for (i = 0; rc == 0 && i < r->plan.n; i++) {
        const struct blob *b = &r->plan.v[i];
        if (b->held != NULL)
            continue;
        if (b->kind != BLOB_MANIFEST) {
            rc = write_fetched(r, b, ex_fetch_take(f, k), chunk, e);
            if (rc == 0)   /* on failure the thread is still writing: stop it */
                ex_fetch_done(f, k++);
            continue;
        }
        blob_entry_name(b, name, sizeof(name));
        rc = al_bundle_writer_add(r->w, name, b->data->data, b->data->len, e);
        tick(r, b->data->len);
    }
    ex_fetch_stop(f);
    pthread_mutex_destroy(&l.lock);
    free(l.plan_index);
    free(chunk);
    return rc;
}

static int read_inputs(struct run *r, struct al_err *e)
{
    const struct ex_config *c = r->cfg;
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < c->n_configmaps; i++)
        rc = read_input(r, c->configmaps[i], ex_parse_configmap, e);
    for (i = 0; rc == 0 && i < c->n_imagestreams; i++)
        rc = read_input(r, c->imagestreams[i], ex_parse_imagestreams, e);
    for (i = 0; rc == 0 && i < c->n_images; i++)
        rc = ex_images_add(&r->images, c->images[i], NULL, "image", 1, e);
    return rc;
}

/* One release component, found in image-references and added by digest. */
static int add_component(struct run *r, const struct al_buf *refs,
                         const char *component, struct al_err *e)
{
    char role[256];
    char *spec = NULL;
    int rc = ex_release_component(refs->data, refs->len, component, &spec, e);

    if (strcmp(component, "must-gather") == 0)
        snprintf(role, sizeof(role), "must-gather");
    else
        snprintf(role, sizeof(role), "release:%s", component);
    if (rc == 0)
        rc = ex_images_add(&r->images, spec, NULL, role, 1, e);
    free(spec);
    if (rc != 0)
        al_err_prefix(e, "release '%s'", r->cfg->release);
    return rc;
}

static int read_release(struct run *r, struct al_err *e)
{
    struct al_ref ref;
    struct al_buf refs;
    size_t i;
    int rc;

    if (r->cfg->release == NULL)
        return 0;
    r->release_arch = r->cfg->n_arches > 0 ? r->cfg->arches[0] : ex_host_arch();
    rc = al_ref_parse(r->cfg->release, &ref, e);
    if (rc != 0)
        return al_err_prefix(e, "--release");
    al_buf_init(&refs, EX_REFS_MAX);
    rc = ex_release_references(r->reg, &ref, r->release_arch, &refs,
                               r->release_digest, &r->release_source, e);
    if (rc == 0)
        rc = add_component(r, &refs, "must-gather", e);
    for (i = 0; rc == 0 && i < r->cfg->n_components; i++)
        rc = add_component(r, &refs, r->cfg->components[i], e);
    al_buf_release(&refs);
    al_ref_release(&ref);
    return rc;
}

static int open_clients(struct run *r, struct al_err *e)
{
    const struct ex_config *c = r->cfg;
    struct al_http_opts *o = &r->http_opts;
    size_t i;
    int rc;

    o->ca_files = c->ca_files;
    o->n_ca_files = c->n_ca_files;
    o->certs_d = c->certs_d;
    o->insecure = c->insecure;
    o->stall_timeout_s = c->timeout_s;
    o->user_agent = "airlock-export/" AIRLOCK_VERSION;
    rc = al_authfile_load(&r->auth, c->authfile, e);
    if (rc == 0)
        rc = al_http_new(&r->http, o, e);
    if (rc == 0)
        rc = al_registry_new(&r->reg, r->http, r->auth, e);
    if (rc == 0 && c->retries >= 0)
        al_registry_set_retries(r->reg, c->retries, 500);
    for (i = 0; rc == 0 && i < c->n_pull_from; i++)
        rc = al_registry_add_mapping(r->reg, c->pull_from[i], e);
    return rc;
}

static int new_bundle_id(char id[33], struct al_err *e)
{
    unsigned char raw[16];
    size_t i;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return al_err_set(e, AL_EIO, "cannot get random bytes for the bundle id");
    for (i = 0; i < sizeof(raw); i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static void remove_parts(const struct al_bundle_parts *p)
{
    size_t i;

    for (i = 0; i < p->n; i++)
        unlink(p->v[i].name);
}

/* FILE.parts (+ .sig): what each volume holds, so that each can be checked
 * on its own and a bad one named. */
static int write_parts_list(struct run *r, struct ex_result *res, struct al_err *e)
{
    const struct al_bundle_parts *p = &res->parts;
    json_t *doc = json_object(), *list = json_array();
    struct al_buf sig;
    char *text, *path = NULL, *sig_path = NULL;
    size_t i, n = strlen(r->cfg->output) + 16;
    int rc = 0;

    for (i = 0; i < p->n; i++) {
        const char *slash = strrchr(p->v[i].name, '/');
        json_array_append_new(list, json_pack("{s:s, s:I, s:s}", "name",
                                              slash ? slash + 1 : p->v[i].name, "size",
                                              (json_int_t)p->v[i].size, "digest",
                                              p->v[i].digest));
    }
    json_object_set_new(doc, "format", json_string("airlock-parts"));
    json_object_set_new(doc, "version", json_integer(1));
    json_object_set_new(doc, "bundle_id", json_string(r->id));
    json_object_set_new(doc, "size", json_integer(p->size));
    json_object_set_new(doc, "digest", json_string(p->digest));
    json_object_set_new(doc, "split_size", json_integer(p->split));
    json_object_set_new(doc, "parts", list);
    text = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    path = malloc(n);
    sig_path = malloc(n);
    al_buf_init(&sig, 64 * 1024);
    if (text == NULL || path == NULL || sig_path == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    if (rc == 0) {
        snprintf(path, n, "%s.parts", r->cfg->output);
        snprintf(sig_path, n, "%s.parts.sig", r->cfg->output);
        rc = al_sig_sign(r->key, text, strlen(text), &sig, e);
    }
    if (rc == 0)
        rc = al_file_write_atomic(path, text, strlen(text), e);
    if (rc == 0)
        rc = al_file_write_atomic(sig_path, sig.data, sig.len, e);
    if (rc != 0 && path != NULL)
        unlink(path);
    if (rc == 0)
        res->parts_list = path;
    else
        free(path);
    free(sig_path);
    free(text);
    al_buf_release(&sig);
    return rc;
}

void ex_result_release(struct ex_result *res)
{
    al_bundle_parts_release(&res->parts);
    free(res->parts_list);
    free(res->json);
    res->parts_list = NULL;
    res->json = NULL;
}

/* For --json: what a scheduler or a monitoring script needs. */
static char *summary_json(const struct run *r, const struct ex_result *res, int rc,
                          const struct al_err *e, double seconds)
{
    json_t *doc = json_object(), *failed = json_array(), *parts = json_array();
    char *text;
    size_t i;

    for (i = 0; i < r->images.n; i++)
        if (r->images.v[i].failed)
            json_array_append_new(failed, json_pack("{s:s, s:s}", "name", r->images.v[i].name,
                                                    "reason", r->images.v[i].reason ?
                                                    r->images.v[i].reason : ""));
    for (i = 0; rc == 0 && i < res->parts.n; i++)
        json_array_append_new(parts, json_pack("{s:s, s:I, s:s}", "name", res->parts.v[i].name,
                                               "size", (json_int_t)res->parts.v[i].size,
                                               "digest", res->parts.v[i].digest));
    json_object_set_new(doc, "ok", json_boolean(rc == 0));
    if (rc != 0)
        json_object_set_new(doc, "error", json_string(e->msg));
    json_object_set_new(doc, "output", json_string(r->cfg->output));
    json_object_set_new(doc, "bundle_id", json_string(r->id));
    json_object_set_new(doc, "images_exported", json_integer((json_int_t)res->images_exported));
    json_object_set_new(doc, "images_failed", json_integer((json_int_t)res->images_failed));
    json_object_set_new(doc, "failed", failed);
    json_object_set_new(doc, "blobs", json_integer((json_int_t)res->blobs));
    json_object_set_new(doc, "blob_bytes", json_integer(res->blob_bytes));
    json_object_set_new(doc, "relied_on", json_integer((json_int_t)res->relied));
    json_object_set_new(doc, "cache_hits", json_integer((json_int_t)res->cache_hits));
    json_object_set_new(doc, "bundle_bytes", json_integer(rc == 0 ? res->bundle_bytes : 0));
    json_object_set_new(doc, "parts", parts);
    if (res->parts_list)
        json_object_set_new(doc, "parts_list", json_string(res->parts_list));
    json_object_set_new(doc, "duration_seconds", json_real(seconds));
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static size_t count_exported(const struct run *r)
{
    size_t i, n = 0;

    for (i = 0; i < r->images.n; i++)
        n += !r->images.v[i].failed;
    return n;
}

/* Everything after the output is open: inputs, resolution, the bundle. */
static int export_images(struct run *r, struct ex_result *res, struct al_err *e)
{
    size_t i;
    int rc = read_inputs(r, e);

    if (rc == 0)
        rc = read_release(r, e);
    if (rc == 0 && r->images.n == 0)
        rc = al_err_set(e, AL_EINVAL, "nothing to export: give --samples-configmap, "
                        "--imagestreams, --release or --image");
    if (rc == 0)
        r->report(r->ud, "resolving %zu images", r->images.n);
    if (rc == 0)
        rc = resolve_all(r, e);
    if (rc == 0 && count_exported(r) == 0)
        rc = al_err_set(e, AL_ENOTFOUND, "none of the %zu images could be exported",
                        r->images.n);
    if (rc == 0)
        rc = plan_blobs(r, e);
    for (i = 0; rc == 0 && i < r->plan.n; i++) {
        if (r->plan.v[i].held != NULL) {
            res->relied++;
            continue;
        }
        res->blob_bytes += r->plan.v[i].size;
        res->blobs++;
    }
    if (rc == 0 && res->relied > 0)
        r->report(r->ud, "leaving out %zu blobs that earlier bundles carried (--since)",
                  res->relied);
    if (rc == 0)
        r->report(r->ud, "writing %zu blobs (%lld bytes)", res->blobs, res->blob_bytes);
    r->total_bytes = res->blob_bytes;
    if (rc == 0)
        rc = write_metadata(r, e);
    if (rc == 0)
        rc = write_blobs(r, e);
    res->images_exported = count_exported(r);
    res->images_failed = r->images.n - res->images_exported;
    return rc;
}

int ex_run(const struct ex_config *cfg, struct ex_result *res,
           ex_report_fn report, void *report_ud, struct al_err *e)
{
    struct run r;
    struct al_lock *lock = NULL;
    struct timespec t0, t1;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(&r, 0, sizeof(r));
    memset(res, 0, sizeof(*res));
    r.cfg = cfg;
    r.report = report;
    r.ud = report_ud;
    r.created = time(NULL);
    rc = new_bundle_id(r.id, e);
    if (rc == 0)
        rc = al_lock_acquire(&lock, cfg->output, "writing", e);
    if (rc == 0 && cfg->n_since > 0)
        rc = ex_held_load(&r.held, cfg->since, cfg->n_since, e);
    if (rc == 0 && cfg->cache_dir != NULL)
        rc = ex_cache_open(&r.cache, cfg->cache_dir, cfg->cache_max, e);
    r.plan.held = &r.held;
    if (rc == 0)
        rc = al_sig_key_load_private(&r.key, cfg->sign_key, e);
    if (rc == 0)
        rc = open_clients(&r, e);
    if (rc == 0)
        rc = al_bundle_writer_open_split(&r.w, cfg->output, r.created, cfg->zstd_level,
                                         cfg->split_size, cfg->zstd_threads, e);
    if (rc == 0)
        g_writer = r.w;
    if (rc == 0)
        rc = export_images(&r, res, e);
    if (rc == 0) {
        g_writer = NULL;   /* commit frees it; a signal now leaves finished files */
        rc = al_bundle_writer_commit_parts(r.w, &res->parts, e);
        res->bundle_bytes = res->parts.size;
        if (rc == 0 && cfg->split_size > 0)
            rc = write_parts_list(&r, res, e);
        if (rc == 0 && cfg->verify_written)
            rc = al_bundle_parts_verify(&res->parts, e);
        if (rc != 0) {   /* nothing that cannot be trusted may travel */
            remove_parts(&res->parts);
            if (res->parts_list != NULL) {
                unlink(res->parts_list);
                char sigp[4200];
                snprintf(sigp, sizeof(sigp), "%s.sig", res->parts_list);
                unlink(sigp);
            }
        }
    } else {
        g_writer = NULL;
        al_bundle_writer_abort(r.w);
    }
    snprintf(res->bundle_id, sizeof(res->bundle_id), "%s", r.id);
    if (r.cache != NULL) {
        long long trimmed = ex_cache_trim(r.cache);
        if (rc == 0 && r.report)
            r.report(r.ud, "cache: %zu blobs reused%s", r.cache_hits,
                     trimmed > 0 ? ", least recently used entries removed" : "");
        res->cache_hits = r.cache_hits;
        ex_cache_close(r.cache);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->json = summary_json(&r, res, rc, e,
                             (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    al_lock_release(lock);
    plan_release(&r.plan);
    ex_held_release(&r.held);
    ex_images_release(&r.images);
    free(r.release_source);
    al_registry_free(r.reg);
    al_http_free(r.http);
    al_authfile_free(r.auth);
    al_sig_key_free(r.key);
    return rc;
}
