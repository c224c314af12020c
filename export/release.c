/* The release payload: its last layer carries release-manifests/. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "airlock/manifest.h"
#include "release.h"


#define LAYER_CHUNK (64 * 1024)

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

/* A layer read by libarchive straight off the network, hashed on the way. */
struct layer_src {
    struct al_blob_reader *s;   /* resumes a download that breaks off */
    struct al_sha256 *h;
    long long bytes;
    char buf[LAYER_CHUNK];
    struct al_err *e;
    int failed;
};

/* Reads the next chunk of the layer into src->buf; -1 on failure. */
static la_ssize_t src_read(struct layer_src *src)
{
    size_t got = 0;

    if (al_blob_reader_read(src->s, src->buf, sizeof(src->buf), &got, src->e) != 0) {
        src->failed = 1;
        return -1;
    }
    al_sha256_update(src->h, src->buf, got);
    src->bytes += (long long)got;
    return (la_ssize_t)got;
}

static la_ssize_t layer_read(struct archive *a, void *ud, const void **out)
{
    struct layer_src *src = ud;
    la_ssize_t n = src_read(src);

    if (n < 0)
        archive_set_error(a, EIO, "%s", src->e->msg);
    *out = src->buf;
    return n;
}

static int find_references(struct layer_src *src, struct al_buf *refs,
                            const char *what, struct al_err *e)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ent;
    int rc = AL_ENOTFOUND, r;

    if (a == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_none(a);
    archive_read_support_format_tar(a);
    if (archive_read_open(a, src, NULL, layer_read, NULL) != ARCHIVE_OK) {
        rc = src->failed ? src->e->code
                         : al_err_set(e, AL_EINVAL, "%s: last layer is not a tar: %s",
                                      what, archive_error_string(a));
        goto out;
    }
    while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(ent);
        char chunk[16384];
        la_ssize_t n;
        if (strncmp(p, "./", 2) == 0)
            p += 2;
        if (strcmp(p, "release-manifests/image-references") != 0)
            continue;
        while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
            rc = al_buf_append(refs, chunk, (size_t)n, "image-references", e);
            if (rc != 0)
                goto out;
        }
        if (n < 0)
            break;
        rc = al_buf_append(refs, "", 0, "image-references", e);
        goto out;
    }
    if (src->failed)
        rc = src->e->code;
    else if (r != ARCHIVE_EOF)
        rc = al_err_set(e, AL_EINVAL, "%s: cannot read the last layer: %s", what,
                        archive_error_string(a));
    else
        rc = al_err_set(e, AL_ENOTFOUND, "%s: the last layer has no "
                        "release-manifests/image-references (is this a release "
                        "payload?)", what);
out:
    archive_read_free(a);
    return rc;
}

static int pick_platform(struct al_registry *reg, const struct al_ref *ref,
                         struct al_manifest *m, struct al_buf *body, char **mt,
                         char digest[AL_DIGEST_STR_MAX], const char *arch,
                         const char *what, struct al_err *e)
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
        rc = al_registry_get_manifest(&(struct al_repo){reg, ref->registry, ref->repo},
                                      child, body, mt, digest, e);
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
    struct layer_src src = {0};
    char what[1200], got[AL_DIGEST_STR_MAX], child_digest[AL_DIGEST_STR_MAX];
    char *mt = NULL, *name = al_ref_format(release);
    const struct al_repo at = {reg, release->registry, release->repo};
    const struct al_desc *last;
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
        rc = pick_platform(reg, release, &m, &body, &mt, child_digest, arch, what, e);
    if (rc != 0)
        goto out;
    if (m.n_layers == 0) {
        rc = al_err_set(e, AL_EINVAL, "%s has no layers", what);
        goto out;
    }
    last = &m.layers[m.n_layers - 1];
    src.h = al_sha256_new();
    src.e = e;
    if (src.h == NULL) {
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
        goto out;
    }
    rc = al_blob_reader_open(&at, last->digest, last->size, NULL, NULL, &src.s, e);
    if (rc == 0)
        rc = find_references(&src, refs, what, e);
    /* Drain the rest so the whole layer is checked against its digest before
     * anything in it is believed. */
    while (rc == 0) {
        la_ssize_t n = src_read(&src);
        if (n < 0)
            rc = e->code;
        if (n <= 0)
            break;
    }
    if (rc == 0) {
        al_sha256_final(src.h, got);
        if (strcmp(got, last->digest) != 0 || src.bytes != last->size)
            rc = al_err_set(e, AL_EDIGEST, "%s: last layer %s arrived with digest "
                            "%s and %lld bytes (expected %lld)", what, last->digest,
                            got, src.bytes, last->size);
    }
out:
    al_blob_reader_close(src.s);
    al_sha256_free(src.h);
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
    al_buf_release(&refs);
    al_ref_release(&ref);
    return rc;
}

void ex_release_release(struct ex_release *rel)
{
    free(rel->source);
    rel->source = NULL;
}
