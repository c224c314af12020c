#include "airlock/manifest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void desc_release(struct al_desc *d)
{
    free(d->media_type);
    free(d->os);
    free(d->arch);
    free(d->variant);
    memset(d, 0, sizeof(*d));
}

void al_manifest_release(struct al_manifest *m)
{
    size_t i;

    free(m->media_type);
    desc_release(&m->config);
    for (i = 0; i < m->n_layers; i++)
        desc_release(&m->layers[i]);
    for (i = 0; i < m->n_children; i++)
        desc_release(&m->children[i]);
    free(m->layers);
    free(m->children);
    memset(m, 0, sizeof(*m));
}

int al_media_type_is_index(const char *mt)
{
    return mt && (strcmp(mt, AL_MT_OCI_INDEX) == 0 ||
                  strcmp(mt, AL_MT_DOCKER_LIST) == 0);
}

static int known_type(const char *mt)
{
    return mt && (strcmp(mt, AL_MT_OCI_INDEX) == 0 ||
                  strcmp(mt, AL_MT_DOCKER_LIST) == 0 ||
                  strcmp(mt, AL_MT_OCI_MANIFEST) == 0 ||
                  strcmp(mt, AL_MT_DOCKER_MANIFEST) == 0);
}

static int is_schema1(const char *mt)
{
    return mt && (strcmp(mt, AL_MT_DOCKER_V1) == 0 ||
                  strcmp(mt, AL_MT_DOCKER_V1_SIGNED) == 0);
}

static char *opt_string(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* Media types end up in tar entry metadata and HTTP headers. */
static int media_type_sane(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > 255)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 127)
            return 0;
    return 1;
}

static int parse_desc(json_t *o, int with_platform, struct al_desc *d,
                      const char *what, const char *field, struct al_err *e)
{
    json_t *digest = json_object_get(o, "digest");
    json_t *size = json_object_get(o, "size");
    json_t *mt = json_object_get(o, "mediaType");
    json_t *plat;

    if (!json_is_object(o) || !json_is_string(digest) ||
        !al_digest_valid(json_string_value(digest)) || !json_is_integer(size) ||
        json_integer_value(size) < 0 || !json_is_string(mt) ||
        !media_type_sane(json_string_value(mt)))
        return al_err_set(e, AL_EINVAL,
                          "%s: malformed descriptor in \"%s\" (needs mediaType, "
                          "sha256 digest and size)", what, field);
    snprintf(d->digest, sizeof(d->digest), "%s", json_string_value(digest));
    d->size = json_integer_value(size);
    d->media_type = strdup(json_string_value(mt));
    if (d->media_type == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    plat = json_object_get(o, "platform");
    if (with_platform && json_is_object(plat)) {
        d->os = opt_string(plat, "os");
        d->arch = opt_string(plat, "architecture");
        d->variant = opt_string(plat, "variant");
    }
    return 0;
}

static int parse_desc_array(json_t *arr, int with_platform, struct al_desc **out,
                            size_t *n_out, const char *what, const char *field,
                            struct al_err *e)
{
    size_t i, n;
    struct al_desc *d;
    int rc;

    if (!json_is_array(arr))
        return al_err_set(e, AL_EINVAL, "%s: \"%s\" is not an array", what, field);
    n = json_array_size(arr);
    if (n > AL_MANIFEST_MAX_ENTRIES)
        return al_err_set(e, AL_ETOOBIG, "%s: more than %d entries in \"%s\"",
                          what, AL_MANIFEST_MAX_ENTRIES, field);
    d = calloc(n ? n : 1, sizeof(*d));
    if (d == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    *out = d;
    for (i = 0; i < n; i++) {
        rc = parse_desc(json_array_get(arr, i), with_platform, &d[i], what,
                        field, e);
        *n_out = i + 1;
        if (rc != 0)
            return rc;
    }
    *n_out = n;
    return 0;
}

int al_manifest_parse(const char *data, size_t len, const char *content_type,
                      const char *what, struct al_manifest *m, struct al_err *e)
{
    json_error_t je;
    json_t *root;
    const char *mt = NULL, *body_mt;
    char ct[256] = "";
    int rc;

    memset(m, 0, sizeof(*m));
    if (len > AL_MANIFEST_MAX)
        return al_err_set(e, AL_ETOOBIG, "%s: manifest larger than %d bytes",
                          what, AL_MANIFEST_MAX);
    if (content_type != NULL)
        snprintf(ct, sizeof(ct), "%.*s", (int)strcspn(content_type, "; "),
                 content_type);
    if (is_schema1(ct))
        return al_err_set(e, AL_EUNSUPPORTED,
                          "%s: Docker schema 1 manifests are unsupported "
                          "(push the image again with a current client)", what);
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return al_err_set(e, AL_EINVAL, "%s: manifest is not a JSON object (%s)",
                          what, root ? "wrong type" : je.text);
    }
    if (json_integer_value(json_object_get(root, "schemaVersion")) == 1) {
        rc = al_err_set(e, AL_EUNSUPPORTED,
                        "%s: Docker schema 1 manifests are unsupported "
                        "(push the image again with a current client)", what);
        goto out;
    }
    if (known_type(ct))
        mt = ct;
    else if (json_is_string(json_object_get(root, "mediaType")))
        mt = json_string_value(json_object_get(root, "mediaType"));
    else if (json_object_get(root, "manifests") != NULL)
        mt = AL_MT_OCI_INDEX;
    else if (json_object_get(root, "layers") != NULL)
        mt = AL_MT_OCI_MANIFEST;
    if (!known_type(mt)) {
        rc = al_err_set(e, AL_EUNSUPPORTED, "%s: unsupported manifest type '%.100s'",
                        what, mt ? mt : ct);
        goto out;
    }
    /* One document, one reading (CVE-2021-41190): a body that also reads as
     * the other kind is refused, as containerd does, or tools would disagree
     * about what the bytes this bundle signs are. */
    body_mt = json_string_value(json_object_get(root, "mediaType"));
    if (al_media_type_is_index(mt)
            ? (json_object_get(root, "config") != NULL || json_object_get(root, "layers") != NULL ||
               (known_type(body_mt) && !al_media_type_is_index(body_mt)))
            : (json_object_get(root, "manifests") != NULL ||
               (known_type(body_mt) && al_media_type_is_index(body_mt)))) {
        rc = al_err_set(e, AL_EINVAL, "%s: ambiguous manifest: served as '%s' but its body "
                        "reads as the other kind (an index with config or layers, or an "
                        "image manifest with manifests): refused", what, mt);
        goto out;
    }
    m->media_type = strdup(mt);
    if (m->media_type == NULL) {
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
        goto out;
    }
    if (al_media_type_is_index(mt)) {
        m->kind = AL_MANIFEST_INDEX;
        rc = parse_desc_array(json_object_get(root, "manifests"), 1, &m->children,
                              &m->n_children, what, "manifests", e);
    } else {
        m->kind = AL_MANIFEST_IMAGE;
        rc = parse_desc(json_object_get(root, "config"), 0, &m->config, what,
                        "config", e);
        if (rc == 0)
            rc = parse_desc_array(json_object_get(root, "layers"), 0, &m->layers,
                                  &m->n_layers, what, "layers", e);
    }
out:
    json_decref(root);
    if (rc != 0)
        al_manifest_release(m);
    return rc;
}

/* The variant an entry really has: arm64 without one is v8 (as the OCI
 * image-index spec's platform normalisation and containerd treat it). */
static const char *entry_variant(const struct al_desc *d)
{
    if (d->variant != NULL)
        return d->variant;
    return strcmp(d->arch, "arm64") == 0 ? "v8" : "";
}

int al_desc_platform_matches(const struct al_desc *d, const char *want)
{
    char os[64] = "", arch[64] = "", variant[64] = "";
    const char *s1 = strchr(want, '/');

    if (s1 == NULL) {
        snprintf(arch, sizeof(arch), "%s", want);
    } else {
        const char *s2 = strchr(s1 + 1, '/');
        snprintf(os, sizeof(os), "%.*s", (int)(s1 - want), want);
        if (s2) {
            snprintf(arch, sizeof(arch), "%.*s", (int)(s2 - s1 - 1), s1 + 1);
            snprintf(variant, sizeof(variant), "%s", s2 + 1);
        } else {
            snprintf(arch, sizeof(arch), "%s", s1 + 1);
        }
    }
    if (d->arch == NULL || strcmp(d->arch, arch) != 0)
        return 0;
    if (os[0] && (d->os == NULL || strcmp(d->os, os) != 0))
        return 0;
    if (variant[0] && strcmp(entry_variant(d), variant) != 0)
        return 0;
    return 1;
}
