/* Samples from the release: cluster-samples-operator's image carries the
 * imagestreams it installs under /opt/openshift/operator/<arch>/<group>/
 * imagestreams/; its layers are stacked (whiteouts applied) in memory and
 * only those files, for one architecture, are kept and read. */
#include "samples.h"

#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/buf.h"
#include "airlock/manifest.h"
#include "layers.h"
#include "release.h"

#define CONFIG_MAX (4 * 1024 * 1024)

/* OCI architecture names and the operator's directories. */
static const struct {
    const char *oci, *dir;
} arch_dirs[] = {
    {"amd64", "x86_64"}, {"arm64", "aarch64"}, {"ppc64le", "ppc64le"}, {"s390x", "s390x"},
};

const char *ex_samples_arch_dir(const char *arch)
{
    const char *slash = strchr(arch, '/');
    const char *a = slash ? slash + 1 : arch;
    size_t n = strcspn(a, "/"), i;

    for (i = 0; i < sizeof(arch_dirs) / sizeof(arch_dirs[0]); i++)
        if ((strlen(arch_dirs[i].oci) == n && strncmp(a, arch_dirs[i].oci, n) == 0) ||
            (strlen(arch_dirs[i].dir) == n && strncmp(a, arch_dirs[i].dir, n) == 0))
            return arch_dirs[i].dir;
    return NULL;
}

void ex_samples_release(struct ex_samples *s)
{
    free(s->image);
    s->image = NULL;
}

/* Only the imagestreams of the chosen architecture (`ud` is the pattern). */
static int want_path(void *ud, const char *path)
{
    return fnmatch(ud, path, FNM_PATHNAME) == 0;
}

/* The architecture a single image's config names, into `out`. */
static int config_arch(const struct al_repo *at, const struct al_desc *cfg,
                       const char *what, char *out, size_t n, struct al_err *e)
{
    struct al_blob_reader *br = NULL;
    struct al_sha256 *h = NULL;
    struct al_buf buf;
    char chunk[16384], got_digest[AL_DIGEST_STR_MAX];
    size_t got = 1;
    json_t *doc = NULL;
    const char *arch;
    int rc = 0;

    al_buf_init(&buf, CONFIG_MAX);
    if (cfg->size < 0 || cfg->size > CONFIG_MAX)
        return al_err_set(e, AL_ETOOBIG, "%s: its config of %lld bytes is over %d MiB",
                          what, cfg->size, CONFIG_MAX >> 20);
    h = al_sha256_new();
    if (h == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    rc = al_blob_reader_open(at, cfg->digest, cfg->size, NULL, NULL, &br, e);
    while (rc == 0 && got > 0) {
        rc = al_blob_reader_read(br, chunk, sizeof(chunk), &got, e);
        if (rc == 0)
            rc = al_buf_append(&buf, chunk, got, "image config", e);
        if (rc == 0)
            al_sha256_update(h, chunk, got);
    }
    if (rc == 0) {
        al_sha256_final(h, got_digest);
        if (strcmp(got_digest, cfg->digest) != 0 || (long long)buf.len != cfg->size)
            rc = al_err_set(e, AL_EDIGEST, "%s: its config %s arrived with digest %s",
                            what, cfg->digest, got_digest);
    }
    if (rc == 0)
        doc = json_loadb(buf.data ? buf.data : "", buf.len, 0, NULL);
    arch = json_string_value(json_object_get(doc, "architecture"));
    if (rc == 0 && arch == NULL)
        rc = al_err_set(e, AL_EINVAL, "%s: its config names no architecture (choose "
                        "one with --arch)", what);
    if (rc == 0)
        snprintf(out, n, "%s", arch);
    json_decref(doc);
    al_blob_reader_close(br);
    al_sha256_free(h);
    al_buf_release(&buf);
    return rc;
}

/* The operator image's manifest (the platform's, for an index) and the
 * architecture whose samples to take. */
static int operator_manifest(struct ex_samples *s, const struct al_repo *at,
                             const struct al_ref *ref, const char *arch,
                             const char *platform, const char *what,
                             struct al_manifest *m, char *own, size_t n,
                             struct al_err *e)
{
    struct al_buf body;
    char *mt = NULL;
    int rc, index = 0;

    al_buf_init(&body, AL_MANIFEST_MAX);
    rc = al_registry_get_manifest(at, ref->digest ? ref->digest : ref->tag, &body, &mt,
                                  s->digest, e);
    if (rc == 0)
        rc = al_manifest_parse(body.data, body.len, mt, what, m, e);
    if (rc == 0 && m->kind == AL_MANIFEST_INDEX) {
        index = 1;
        rc = ex_pick_platform(at, m, &body, &mt, s->digest, arch ? arch : platform,
                              what, e);
    }
    if (rc == 0 && arch != NULL)
        snprintf(own, n, "%s", arch);
    else if (rc == 0 && index)
        snprintf(own, n, "%s", platform);
    else if (rc == 0)
        rc = config_arch(at, &m->config, what, own, n, e);
    al_buf_release(&body);
    free(mt);
    return rc;
}

/* Every layer in order onto `fs`. */
static int stack_layers(const struct al_repo *at, const struct al_manifest *m,
                        const char *what, struct ex_layerfs *fs, struct al_err *e)
{
    char lwhat[1400];
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < m->n_layers; i++) {
        snprintf(lwhat, sizeof(lwhat), "%s: layer %zu of %zu", what, i + 1, m->n_layers);
        rc = ex_layer_read(at, &m->layers[i], lwhat, ex_layerfs_apply, fs, e);
    }
    return rc;
}

static int parse_files(struct ex_samples *s, struct ex_layerfs *fs, const char *what,
                       struct ex_images *images, struct al_err *e)
{
    char name[4200];
    size_t i;
    int rc = 0;

    if (fs->n == 0)
        return al_err_set(e, AL_ENOTFOUND, "%s has no imagestreams for %s under "
                          "/opt/openshift/operator/%s/ (give --no-samples to carry "
                          "only the release's components)", what, s->arch, s->arch);
    ex_layerfs_sort(fs);
    for (i = 0; rc == 0 && i < fs->n; i++) {
        snprintf(name, sizeof(name), "%s:/%s", EX_SAMPLES_COMPONENT, fs->v[i].path);
        rc = ex_parse_imagestreams_counted(images, fs->v[i].data, fs->v[i].len, name,
                                           &s->n_streams, &s->n_tags, e);
    }
    return rc;
}

int ex_samples_read(struct ex_samples *s, struct al_registry *reg, const char *refs,
                    size_t refs_len, const char *arch, const char *platform,
                    struct ex_images *images, struct al_err *e)
{
    struct al_ref ref = {0};
    struct al_manifest m = {0};
    struct ex_layerfs fs;
    char what[1200], own[64], pattern[128];
    const char *dir;
    int rc;

    memset(s, 0, sizeof(*s));
    ex_layerfs_init(&fs, want_path, pattern);
    rc = ex_release_component(refs, refs_len, EX_SAMPLES_COMPONENT, &s->image, e);
    if (rc == AL_ENOTFOUND)
        return al_err_set(e, rc, "the release's image-references has no component '%s' "
                          "to read the samples from: give --imagestreams or "
                          "--samples-configmap, or --no-samples", EX_SAMPLES_COMPONENT);
    if (rc == 0)
        rc = al_ref_parse(s->image, &ref, e);
    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "%s image '%s'", EX_SAMPLES_COMPONENT, s->image);
    rc = operator_manifest(s, &(struct al_repo){reg, ref.registry, ref.repo}, &ref, arch,
                           platform, what, &m, own, sizeof(own), e);
    dir = rc == 0 ? ex_samples_arch_dir(own) : NULL;
    if (rc == 0 && dir == NULL)
        rc = al_err_set(e, AL_EUNSUPPORTED, "no samples for architecture '%s' (the "
                        "samples operator has x86_64, aarch64, ppc64le and s390x): "
                        "choose one with --arch, or give --no-samples", own);
    if (rc == 0) {
        snprintf(s->arch, sizeof(s->arch), "%s", dir);
        snprintf(pattern, sizeof(pattern), "opt/openshift/operator/%s/*/imagestreams/*.json",
                 dir);
        rc = stack_layers(&(struct al_repo){reg, ref.registry, ref.repo}, &m, what, &fs, e);
    }
    if (rc == 0)
        rc = parse_files(s, &fs, what, images, e);
    ex_layerfs_release(&fs);
    al_manifest_release(&m);
    al_ref_release(&ref);
    return rc;
}
