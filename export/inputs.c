#include "inputs.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIAS_MAX_HOPS 16

static void image_release(struct ex_image *img)
{
    size_t i;

    free(img->pull_spec);
    free(img->name);
    al_ref_release(&img->ref);
    for (i = 0; i < img->n_tags; i++)
        free(img->tags[i]);
    free(img->tags);
    free(img->component);
    free(img->reason);
    free(img->source);
    for (i = 0; i < img->n_manifests; i++) {
        free(img->manifests[i].media_type);
        free(img->manifests[i].data);
    }
    free(img->manifests);
}

void ex_images_release(struct ex_images *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        image_release(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void ex_image_fail(struct ex_image *img, const char *fmt, ...)
{
    char msg[AL_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    al_utf8_scrub(msg);
    img->failed = 1;
    free(img->reason);
    img->reason = strdup(msg);
}

static int add_tag(struct ex_image *img, const char *tag, struct al_err *e)
{
    char **grown;
    size_t i;

    for (i = 0; i < img->n_tags; i++)
        if (strcmp(img->tags[i], tag) == 0)
            return 0;
    grown = realloc(img->tags, (img->n_tags + 1) * sizeof(*grown));
    if (grown == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    img->tags = grown;
    img->tags[img->n_tags] = strdup(tag);
    if (img->tags[img->n_tags] == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    img->n_tags++;
    return 0;
}

static struct ex_image *append_image(struct ex_images *l, const char *spec,
                                     const char *name, enum ex_role role,
                                     const char *component)
{
    struct ex_image *grown = realloc(l->v, (l->n + 1) * sizeof(*grown));
    struct ex_image *img;

    if (grown == NULL)
        return NULL;
    l->v = grown;
    img = &l->v[l->n];
    memset(img, 0, sizeof(*img));
    img->pull_spec = strdup(spec);
    img->name = strdup(name);
    img->role = role;
    img->component = component ? strdup(component) : NULL;
    if (img->pull_spec == NULL || img->name == NULL ||
        (component != NULL && img->component == NULL)) {
        image_release(img);
        return NULL;
    }
    l->n++;
    return img;
}

const char *ex_role_name(const struct ex_image *img, char *buf, size_t n)
{
    switch (img->role) {
    case EX_ROLE_SAMPLES:
        return "samples";
    case EX_ROLE_IMAGE:
        return "image";
    case EX_ROLE_MUST_GATHER:
        return "must-gather";
    case EX_ROLE_COMPONENT:
        break;
    }
    snprintf(buf, n, "release:%s", img->component ? img->component : "");
    return buf;
}

/* How much losing an image costs, for an image named by more than one input:
 * the must-gather is what the import hands to the cluster, a release
 * component is mirrored for the cluster, an --image was asked for by name,
 * a samples tag may fail alone. */
static int role_weight(enum ex_role role)
{
    switch (role) {
    case EX_ROLE_SAMPLES:
        return 0;
    case EX_ROLE_IMAGE:
        return 1;
    case EX_ROLE_COMPONENT:
        return 2;
    case EX_ROLE_MUST_GATHER:
        break;
    }
    return 3;
}

/* An image named again keeps the weightier role of the two. */
static int merge_role(struct ex_image *img, enum ex_role role, const char *component)
{
    char *copy = NULL;

    if (role_weight(role) <= role_weight(img->role))
        return 0;
    if (role == EX_ROLE_COMPONENT && component != NULL && (copy = strdup(component)) == NULL)
        return -1;
    free(img->component);
    img->component = copy;
    img->role = role;
    return 0;
}

int ex_images_add(struct ex_images *l, const char *pull_spec, const char *tag,
                  enum ex_role role, const char *component, int strict,
                  struct al_err *e)
{
    struct al_ref ref;
    struct al_err perr;
    struct ex_image *img = NULL;
    char *name;
    size_t i;
    int rc;

    al_err_init(&perr);
    if (al_ref_parse(pull_spec, &ref, &perr) != 0) {
        if (strict || perr.code == AL_ENOMEM)
            return al_err_set(e, perr.code, "%s", perr.msg);
        for (i = 0; i < l->n && img == NULL; i++)
            if (strcmp(l->v[i].name, pull_spec) == 0)
                img = &l->v[i];
        if (img == NULL && (img = append_image(l, pull_spec, pull_spec, role, component)) == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        ex_image_fail(img, "%s", perr.msg);
        return tag ? add_tag(img, tag, e) : 0;
    }
    name = al_ref_format(&ref);
    if (name == NULL) {
        al_ref_release(&ref);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    for (i = 0; i < l->n && img == NULL; i++)
        if (strcmp(l->v[i].name, name) == 0)
            img = &l->v[i];
    if (img == NULL) {
        img = append_image(l, pull_spec, name, role, component);
        if (img == NULL) {
            free(name);
            al_ref_release(&ref);
            return al_err_set(e, AL_ENOMEM, "out of memory");
        }
        img->ref = ref;
    } else {
        al_ref_release(&ref);
        if (merge_role(img, role, component) != 0) {
            free(name);
            return al_err_set(e, AL_ENOMEM, "out of memory");
        }
    }
    free(name);
    rc = tag ? add_tag(img, tag, e) : 0;
    return rc;
}

static json_t *load_json(const char *text, size_t len, const char *name,
                         struct al_err *e)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);

    if (root == NULL)
        al_err_set(e, AL_EINVAL, "cannot parse '%s': %s (line %d)", name, je.text,
                   je.line);
    else if (!json_is_object(root)) {
        json_decref(root);
        root = NULL;
        al_err_set(e, AL_EINVAL, "'%s' is not a JSON object", name);
    }
    return root;
}

int ex_parse_configmap(struct ex_images *l, const char *text, size_t len,
                       const char *name, struct al_err *e)
{
    json_t *root = load_json(text, len, name, e);
    json_t *data, *v;
    const char *key, *kind;
    int rc = 0;

    if (root == NULL)
        return e ? e->code : AL_EINVAL;
    kind = json_string_value(json_object_get(root, "kind"));
    data = json_object_get(root, "data");
    if (kind == NULL || strcmp(kind, "ConfigMap") != 0 || !json_is_object(data)) {
        json_decref(root);
        return al_err_set(e, AL_EINVAL,
                          "'%s' is not a ConfigMap with data (expected the output "
                          "of 'oc get configmap imagestreamtag-to-image -n "
                          "openshift-cluster-samples-operator -o json')", name);
    }
    json_object_foreach(data, key, v) {
        const char *us = strchr(key, '_');
        char tag[600];
        if (us == NULL || us == key || us[1] == '\0' || !json_is_string(v)) {
            rc = al_err_set(e, AL_EINVAL,
                            "'%s': key '%.200s' is not <imagestream>_<tag> with a "
                            "pull spec value", name, key);
            break;
        }
        snprintf(tag, sizeof(tag), "%.*s:%s", (int)(us - key), key, us + 1);
        rc = ex_images_add(l, json_string_value(v), tag, EX_ROLE_SAMPLES, NULL, 0, e);
        if (rc != 0)
            break;
    }
    json_decref(root);
    return rc;
}

/* Follows ImageStreamTag aliases from `tag` of stream `is` (whose spec.tags
 * is `tags`), looking in `streams` for cross-stream aliases. Returns the
 * DockerImage pull spec or NULL, with the reason in `why`. */
static const char *follow_alias(json_t *streams, json_t *is, const char *tag,
                                char *why, size_t wn)
{
    char target[300];
    json_t *cur_is = is;
    int hop;

    snprintf(target, sizeof(target), "%s", tag);
    for (hop = 0; hop < ALIAS_MAX_HOPS; hop++) {
        json_t *tags = json_object_get(json_object_get(cur_is, "spec"), "tags");
        json_t *t, *from;
        const char *kind, *fname, *colon;
        size_t i;

        t = NULL;
        json_array_foreach(tags, i, from) {
            if (json_is_string(json_object_get(from, "name")) &&
                strcmp(json_string_value(json_object_get(from, "name")), target) == 0) {
                t = from;
                break;
            }
        }
        if (t == NULL) {
            snprintf(why, wn, "alias leads to tag '%s', which does not exist", target);
            return NULL;
        }
        from = json_object_get(t, "from");
        kind = json_string_value(json_object_get(from, "kind"));
        fname = json_string_value(json_object_get(from, "name"));
        if (kind == NULL || fname == NULL) {
            snprintf(why, wn, "tag '%s' has no from", target);
            return NULL;
        }
        if (strcmp(kind, "DockerImage") == 0)
            return fname;
        if (strcmp(kind, "ImageStreamTag") != 0) {
            snprintf(why, wn, "tag '%s' is from a %s, not a DockerImage", target, kind);
            return NULL;
        }
        colon = strchr(fname, ':');
        if (colon != NULL) {
            const char *other = NULL;
            json_t *s;
            cur_is = NULL;
            json_array_foreach(streams, i, s) {
                other = json_string_value(json_object_get(json_object_get(s, "metadata"), "name"));
                if (other && strlen(other) == (size_t)(colon - fname) &&
                    strncmp(other, fname, (size_t)(colon - fname)) == 0) {
                    cur_is = s;
                    break;
                }
            }
            if (cur_is == NULL) {
                snprintf(why, wn, "alias to imagestream '%.*s', which is not in the input",
                         (int)(colon - fname), fname);
                return NULL;
            }
            snprintf(target, sizeof(target), "%s", colon + 1);
        } else {
            snprintf(target, sizeof(target), "%s", fname);
        }
    }
    snprintf(why, wn, "alias chain longer than %d hops", ALIAS_MAX_HOPS);
    return NULL;
}

static int add_stream(struct ex_images *l, json_t *streams, json_t *is,
                      const char *name, size_t *n_tags, struct al_err *e)
{
    const char *isname = json_string_value(json_object_get(json_object_get(is, "metadata"), "name"));
    json_t *tags = json_object_get(json_object_get(is, "spec"), "tags");
    json_t *t;
    size_t i;
    int rc = 0;

    if (isname == NULL || (tags != NULL && !json_is_array(tags)))
        return al_err_set(e, AL_EINVAL, "'%s': an ImageStream without metadata.name "
                          "or with malformed spec.tags", name);
    json_array_foreach(tags, i, t) {
        const char *tname = json_string_value(json_object_get(t, "name"));
        char why[400], label[600];
        const char *spec;
        if (tname == NULL || json_object_get(t, "from") == NULL)
            continue;
        snprintf(label, sizeof(label), "%s:%s", isname, tname);
        (*n_tags)++;
        spec = follow_alias(streams, is, tname, why, sizeof(why));
        if (spec != NULL) {
            rc = ex_images_add(l, spec, label, EX_ROLE_SAMPLES, NULL, 0, e);
        } else {
            char pseudo[700];
            snprintf(pseudo, sizeof(pseudo), "imagestreamtag %s", label);
            rc = ex_images_add(l, pseudo, label, EX_ROLE_SAMPLES, NULL, 0, e);
            if (rc == 0)
                ex_image_fail(&l->v[l->n - 1], "%s", why);
        }
        if (rc != 0)
            break;
    }
    return rc;
}

int ex_parse_imagestreams(struct ex_images *l, const char *text, size_t len,
                          const char *name, struct al_err *e)
{
    size_t streams = 0, tags = 0;

    return ex_parse_imagestreams_counted(l, text, len, name, &streams, &tags, e);
}

int ex_parse_imagestreams_counted(struct ex_images *l, const char *text, size_t len,
                                  const char *name, size_t *n_streams,
                                  size_t *n_tags, struct al_err *e)
{
    json_t *root = load_json(text, len, name, e);
    json_t *streams, *is;
    const char *kind;
    size_t i;
    int rc = 0, own = 0;

    if (root == NULL)
        return e ? e->code : AL_EINVAL;
    kind = json_string_value(json_object_get(root, "kind"));
    if (kind != NULL && strcmp(kind, "ImageStream") == 0) {
        streams = json_array();
        own = 1;
        if (streams == NULL || json_array_append(streams, root) != 0) {
            json_decref(streams);
            json_decref(root);
            return al_err_set(e, AL_ENOMEM, "out of memory");
        }
    } else if (kind != NULL && (strcmp(kind, "ImageStreamList") == 0 ||
                                strcmp(kind, "List") == 0) &&
               json_is_array(json_object_get(root, "items"))) {
        streams = json_object_get(root, "items");
    } else {
        json_decref(root);
        return al_err_set(e, AL_EINVAL, "'%s' is not an ImageStream, ImageStreamList "
                          "or List (expected the output of 'oc get is -n openshift "
                          "-o json')", name);
    }
    json_array_foreach(streams, i, is) {
        const char *k = json_string_value(json_object_get(is, "kind"));
        if (k != NULL && strcmp(k, "ImageStream") != 0)
            continue;
        (*n_streams)++;
        rc = add_stream(l, streams, is, name, n_tags, e);
        if (rc != 0)
            break;
    }
    if (own)
        json_decref(streams);
    json_decref(root);
    return rc;
}

int ex_release_component(const char *text, size_t len, const char *component,
                         char **pull_spec, struct al_err *e)
{
    json_t *root = load_json(text, len, "release-manifests/image-references", e);
    json_t *tags, *t;
    size_t i;
    int rc = 0;

    *pull_spec = NULL;
    if (root == NULL)
        return e ? e->code : AL_EINVAL;
    tags = json_object_get(json_object_get(root, "spec"), "tags");
    json_array_foreach(tags, i, t) {
        const char *n = json_string_value(json_object_get(t, "name"));
        const char *v = json_string_value(json_object_get(json_object_get(t, "from"), "name"));
        if (n && v && strcmp(n, component) == 0) {
            *pull_spec = strdup(v);
            break;
        }
    }
    if (*pull_spec == NULL)
        rc = al_err_set(e, AL_ENOTFOUND, "the release's image-references has no "
                        "component '%s'", component);
    json_decref(root);
    return rc;
}
