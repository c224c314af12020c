/* The cluster side of an import: what the OpenShift documentation has an
 * admin do by hand for the samples operator and must-gather in a
 * disconnected cluster. Every step reads before it writes, sends a merge
 * patch only of what differs (with the resourceVersion it read, so a
 * concurrent change is a 409 that is re-read and retried), and never drops
 * what the cluster already has. */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/json.h"
#include "airlock/file.h"

#define IMAGE_CONFIG "/apis/config.openshift.io/v1/images/cluster"
#define SAMPLES_CONFIG "/apis/samples.operator.openshift.io/v1/configs/cluster"
#define CM_PATH "/api/v1/namespaces/openshift-config/configmaps"
#define MG_STREAM "/apis/image.openshift.io/v1/namespaces/openshift/imagestreams/must-gather"
#define MG_IMPORTS "/apis/image.openshift.io/v1/namespaces/openshift/imagestreamimports"
#define ATTEMPTS 5

struct cl {
    struct al_kube *k;                /* NULL when writing manifests */
    const struct im_cluster_opts *o;
    al_report_fn report;
    void *ud;
    char ca_key[300];                 /* "<host>..<port>" */
};

/* "host:port" -> "host..port", the key OpenShift looks the CA up by. */
static void ca_key_for(const char *host, char *out, size_t n)
{
    const char *colon = strrchr(host, ':');

    if (colon != NULL && strchr(host, ']') < colon)
        snprintf(out, n, "%.*s..%s", (int)(colon - host), host, colon + 1);
    else
        snprintf(out, n, "%s", host);
}

static char *compact(json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Sends `patch` (adding the resourceVersion read) unless dry-running. */
static int send_patch(struct cl *c, const char *path, const char *what, json_t *obj,
                      json_t *patch, const char *summary, struct al_err *e)
{
    json_t *rv = json_object_get(json_object_get(obj, "metadata"), "resourceVersion");
    json_t *res = NULL;
    char *text = summary ? strdup(summary) : compact(patch);
    int rc = 0;

    if (c->o->dry_run) {
        c->report(c->ud, "would patch %s: %s", what, text ? text : "?");
    } else {
        json_t *md = json_object_get(patch, "metadata");
        if (rv != NULL && json_is_object(md))
            json_object_set(md, "resourceVersion", rv);
        else if (rv != NULL)
            json_object_set_new(patch, "metadata", json_pack("{s:O}", "resourceVersion", rv));
        rc = al_kube_merge_patch(c->k, path, what, patch, &res, e);
        if (rc == 0)
            c->report(c->ud, "patched %s: %s", what, text ? text : "?");
    }
    free(text);
    json_decref(res);
    return rc;
}

/* Reads `path`, asks `want` for a patch (NULL: nothing to change) and sends
 * it, re-reading on a conflict. */
static int ensure(struct cl *c, const char *path, const char *what,
                  int (*want)(struct cl *, json_t *obj, json_t **patch, struct al_err *),
                  const char *summary, struct al_err *e)
{
    json_t *obj = NULL, *patch = NULL;
    int attempt, rc = 0;

    for (attempt = 0; attempt < ATTEMPTS; attempt++) {
        rc = al_kube_get(c->k, path, what, &obj, e);
        if (rc == 0)
            rc = want(c, obj, &patch, e);
        if (rc == 0 && patch == NULL)
            c->report(c->ud, "%s already up to date", what);
        else if (rc == 0)
            rc = send_patch(c, path, what, obj, patch, summary, e);
        json_decref(obj);
        json_decref(patch);
        obj = patch = NULL;
        if (rc != AL_ECONFLICT)
            return rc;
        al_err_init(e);
    }
    return al_err_set(e, AL_ECONFLICT, "%s kept changing under airlock (%d attempts): "
                      "run again", what, ATTEMPTS);
}

/* ---- 1 and 2: the mirror's CA and the image config ---- */

static const char *trusted_ca_name(json_t *image_config)
{
    const char *n = json_string_value(json_object_get(
        json_object_get(json_object_get(image_config, "spec"), "additionalTrustedCA"), "name"));

    return n != NULL && n[0] != '\0' ? n : NULL;
}

static int registry_allowed(json_t *allowed, const char *host)
{
    size_t i;
    json_t *v;

    json_array_foreach(allowed, i, v) {
        const char *d = json_string_value(json_object_get(v, "domainName"));
        if (d != NULL && strcmp(d, host) == 0)
            return 1;
    }
    return 0;
}

static int want_image_config(struct cl *c, json_t *obj, json_t **patch, struct al_err *e)
{
    json_t *spec = json_object_get(obj, "spec");
    json_t *allowed = json_object_get(spec, "allowedRegistriesForImport");
    json_t *want_spec = json_object();

    (void)e;
    if (c->o->ca_pem != NULL && trusted_ca_name(obj) == NULL)
        json_object_set_new(want_spec, "additionalTrustedCA",
                            json_pack("{s:s}", "name", IM_CA_CONFIGMAP));
    if (json_is_array(allowed) && !registry_allowed(allowed, c->o->mirror_host)) {
        json_t *grown = json_deep_copy(allowed);
        json_array_append_new(grown, json_pack("{s:s, s:b}", "domainName",
                                               c->o->mirror_host, "insecure", 0));
        json_object_set_new(want_spec, "allowedRegistriesForImport", grown);
    }
    *patch = NULL;
    if (json_object_size(want_spec) > 0)
        *patch = json_pack("{s:o}", "spec", want_spec);
    else
        json_decref(want_spec);
    return 0;
}

static int want_ca_data(struct cl *c, json_t *obj, json_t **patch, struct al_err *e)
{
    const char *have = json_string_value(json_object_get(json_object_get(obj, "data"),
                                                         c->ca_key));

    (void)e;
    *patch = NULL;
    if (have == NULL || strcmp(have, c->o->ca_pem) != 0)
        *patch = json_pack("{s:{s:s}}", "data", c->ca_key, c->o->ca_pem);
    return 0;
}

static int create_ca_configmap(struct cl *c, const char *name, const char *what,
                               struct al_err *e)
{
    json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1",
                           "kind", "ConfigMap", "metadata", "name", name, "namespace",
                           "openshift-config", "data", c->ca_key, c->o->ca_pem);
    json_t *res = NULL;
    int rc = 0;

    if (c->o->dry_run)
        c->report(c->ud, "would create %s with key '%s'", what, c->ca_key);
    else
        rc = al_kube_create(c->k, CM_PATH, what, cm, &res, e);
    if (rc == 0 && !c->o->dry_run)
        c->report(c->ud, "created %s with key '%s'", what, c->ca_key);
    json_decref(cm);
    json_decref(res);
    return rc;
}

/* The CA goes into the ConfigMap the image config already names (keeping
 * its other keys), or into a new registry-config. */
static int apply_ca(struct cl *c, json_t *image_config, struct al_err *e)
{
    const char *name = trusted_ca_name(image_config);
    char path[512], what[400], summary[400];
    int rc;

    if (name == NULL)
        name = IM_CA_CONFIGMAP;
    rc = al_kube_name_check(name, "spec.additionalTrustedCA.name",
                            "image.config.openshift.io/cluster", e);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof(path), CM_PATH "/%s", name);
    snprintf(what, sizeof(what), "configmap openshift-config/%s", name);
    snprintf(summary, sizeof(summary), "key '%s' set to the mirror's CA", c->ca_key);
    rc = ensure(c, path, what, want_ca_data, summary, e);
    if (rc == AL_ENOTFOUND) {
        al_err_init(e);
        rc = create_ca_configmap(c, name, what, e);
        if (rc == AL_ECONFLICT) {   /* created meanwhile: update it instead */
            al_err_init(e);
            rc = ensure(c, path, what, want_ca_data, summary, e);
        }
    }
    return rc;
}

static int apply_trust(struct cl *c, struct al_err *e)
{
    json_t *image_config = NULL;
    int rc = al_kube_get(c->k, IMAGE_CONFIG, "image.config.openshift.io/cluster",
                         &image_config, e);

    if (rc == AL_ENOTFOUND)
        al_err_prefix(e, "is this an OpenShift cluster");
    if (rc == 0 && c->o->ca_pem != NULL)
        rc = apply_ca(c, image_config, e);
    json_decref(image_config);
    if (rc == 0)
        rc = ensure(c, IMAGE_CONFIG, "image.config.openshift.io/cluster",
                    want_image_config, NULL, e);
    return rc;
}

/* ---- 3: the samples operator ---- */

/* The imagestreams airlock itself put into skippedImagestreams, named in an
 * annotation of the samples config ("a,b,c"): once such a stream lands, it
 * is taken out again, while entries of the cluster's own are never touched.
 * Without it the list only grew, and a stream that failed once stayed
 * skipped (never installed) after the run that fixed it. */
#define SKIPPED_BY_AIRLOCK "airlock.openshift.io/skipped-imagestreams"

static json_t *split_names(const char *list)
{
    json_t *a = json_array();
    const char *p = list ? list : "";

    while (a != NULL && *p != '\0') {
        size_t n = strcspn(p, ",");
        json_t *name = json_stringn(p, n);
        if (n > 0 && name != NULL && !al_json_has_string(a, json_string_value(name)))
            json_array_append(a, name);
        json_decref(name);
        p += n + (p[n] == ',');
    }
    return a;
}

static char *join_names(const json_t *a)
{
    size_t i, len = 1, at = 0;
    json_t *v;
    char *out;

    json_array_foreach(a, i, v)
        len += json_string_length(v) + 1;
    out = calloc(1, len);
    json_array_foreach(a, i, v) {
        if (out == NULL)
            break;
        if (i > 0)
            out[at++] = ',';
        memcpy(out + at, json_string_value(v), json_string_length(v));
        at += json_string_length(v);
    }
    return out;
}

/* Removes the string `s` from the array `a`; true when it was there. */
static int remove_string(json_t *a, const char *s)
{
    size_t i;

    for (i = 0; i < json_array_size(a); i++)
        if (json_is_string(json_array_get(a, i)) &&
            strcmp(json_string_value(json_array_get(a, i)), s) == 0) {
            json_array_remove(a, i);
            return 1;
        }
    return 0;
}

static int want_samples(struct cl *c, json_t *obj, json_t **patch, struct al_err *e)
{
    json_t *spec = json_object_get(obj, "spec");
    json_t *skipped = json_object_get(spec, "skippedImagestreams");
    const char *reg = json_string_value(json_object_get(spec, "samplesRegistry"));
    const char *state = json_string_value(json_object_get(spec, "managementState"));
    const char *ours_was = json_string_value(json_object_get(
        json_object_get(json_object_get(obj, "metadata"), "annotations"), SKIPPED_BY_AIRLOCK));
    json_t *want = json_object(), *grown = json_is_array(skipped) ? json_deep_copy(skipped)
                                                                  : json_array();
    json_t *ours = split_names(ours_was);
    int changed = 0;
    char *ours_now;
    size_t i;

    if (want == NULL || grown == NULL || ours == NULL) {
        json_decref(want);
        json_decref(grown);
        json_decref(ours);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    for (i = 0; i < c->o->n_landed; i++)
        if (remove_string(ours, c->o->landed[i]))
            changed |= remove_string(grown, c->o->landed[i]);
    for (i = 0; i < c->o->n_skipped; i++) {
        if (al_json_has_string(grown, c->o->skipped[i]))
            continue;   /* (the cluster's own entry stays the cluster's) */
        json_array_append_new(grown, json_string(c->o->skipped[i]));
        if (!al_json_has_string(ours, c->o->skipped[i]))
            json_array_append_new(ours, json_string(c->o->skipped[i]));
        changed = 1;
    }
    if (changed)
        json_object_set(want, "skippedImagestreams", grown);
    json_decref(grown);
    ours_now = join_names(ours);
    json_decref(ours);
    if (ours_now == NULL) {
        json_decref(want);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    if (strcmp(ours_now, ours_was ? ours_was : "") != 0)
        json_object_set_new(want, "metadata", json_pack("{s:{s:o}}", "annotations",
                            SKIPPED_BY_AIRLOCK, ours_now[0] ? json_string(ours_now)
                                                            : json_null()));
    free(ours_now);
    if (reg == NULL || strcmp(reg, c->o->samples_registry) != 0)
        json_object_set_new(want, "samplesRegistry", json_string(c->o->samples_registry));
    if (state == NULL || strcmp(state, "Managed") != 0)
        json_object_set_new(want, "managementState", json_string("Managed"));
    *patch = NULL;
    if (json_object_size(want) > 0) {
        json_t *md = json_object_get(want, "metadata");
        *patch = json_object();
        if (md != NULL) {
            json_object_set(*patch, "metadata", md);
            json_object_del(want, "metadata");
        }
        if (json_object_size(want) > 0)
            json_object_set(*patch, "spec", want);
    }
    json_decref(want);
    return 0;
}

static int apply_samples(struct cl *c, struct al_err *e)
{
    int rc = ensure(c, SAMPLES_CONFIG, "configs.samples.operator.openshift.io/cluster",
                    want_samples, NULL, e);

    if (rc == AL_ENOTFOUND) {
        c->report(c->ud, "the samples operator is not installed (%s): its configuration "
                  "was skipped", e->msg);
        al_err_init(e);
        rc = 0;
    }
    return rc;
}

/* ---- 4: must-gather ---- */

/* spec.tags[name=latest] of the must-gather imagestream, or NULL. */
static json_t *latest_tag(json_t *stream)
{
    return al_json_find(json_object_get(json_object_get(stream, "spec"), "tags"), "name",
                        "latest");
}

/* The ImageStreamImport `oc import-image is/must-gather -n openshift` would
 * post, pointed at the mirror and keeping the tag's importPolicy (oc would
 * reset importMode from PreserveOriginal to Legacy). */
static json_t *must_gather_import(struct cl *c, json_t *stream)
{
    json_t *tag = latest_tag(stream);
    json_t *policy = json_object_get(tag, "importPolicy");
    json_t *refpol = json_object_get(tag, "referencePolicy");

    policy = policy ? json_incref(policy)
                    : json_pack("{s:s}", "importMode", "PreserveOriginal");
    refpol = refpol ? json_incref(refpol) : json_pack("{s:s}", "type", "Source");
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:b, s:[{s:{s:s, s:s}, s:{s:s}, s:o, s:o}]}}",
                     "apiVersion", "image.openshift.io/v1", "kind", "ImageStreamImport",
                     "metadata", "name", "must-gather", "namespace", "openshift",
                     "spec", "import", 1, "images", "from", "kind", "DockerImage", "name",
                     c->o->must_gather, "to", "name", "latest",
                     "importPolicy", policy, "referencePolicy", refpol);
}

static int import_failure(struct cl *c, json_t *res, struct al_err *e)
{
    json_t *st = json_object_get(json_array_get(json_object_get(
        json_object_get(res, "status"), "images"), 0), "status");
    const char *status = json_string_value(json_object_get(st, "status"));
    const char *msg = json_string_value(json_object_get(st, "message"));

    if (status != NULL && strcmp(status, "Failure") == 0)
        return al_err_set(e, AL_EHTTP, "the cluster could not import must-gather from "
                          "'%s': %s", c->o->must_gather, msg ? msg : "no reason given");
    return 0;
}

/* Whether the cluster holds must-gather from the mirror already: the spec
 * tag names it, and the status tag's newest image is its digest with no
 * failed import since (openshift-apiserver sets the spec tag even when the
 * import fails, so the spec alone would pass a failed run for a good one). */
static int must_gather_current(struct cl *c, json_t *stream)
{
    const char *want = c->o->must_gather, *at = strrchr(want, '@');
    const char *have = json_string_value(json_object_get(json_object_get(latest_tag(stream),
                                                                         "from"), "name"));
    json_t *st = al_json_find(json_object_get(json_object_get(stream, "status"), "tags"),
                              "tag", "latest");
    json_t *cond;
    size_t i;

    if (have == NULL || strcmp(have, want) != 0 || at == NULL)
        return 0;
    json_array_foreach(json_object_get(st, "conditions"), i, cond) {
        const char *type = json_string_value(json_object_get(cond, "type"));
        const char *status = json_string_value(json_object_get(cond, "status"));
        if (type && status && strcmp(type, "ImportSuccess") == 0 && strcmp(status, "False") == 0)
            return 0;
    }
    have = json_string_value(json_object_get(json_array_get(json_object_get(st, "items"), 0),
                                             "image"));
    return have != NULL && strcmp(have, at + 1) == 0;
}

static int apply_must_gather(struct cl *c, struct al_err *e)
{
    json_t *stream = NULL, *body, *res = NULL;
    int rc = al_kube_get(c->k, MG_STREAM, "imagestream openshift/must-gather", &stream, e);

    if (rc == AL_ENOTFOUND) {
        al_err_init(e);
        rc = 0;
    }
    if (rc != 0)
        return rc;
    if (must_gather_current(c, stream)) {
        c->report(c->ud, "imagestream openshift/must-gather already holds it from the mirror");
        json_decref(stream);
        return 0;
    }
    body = must_gather_import(c, stream);
    if (c->o->dry_run) {
        c->report(c->ud, "would import imagestream openshift/must-gather:latest from '%s'",
                  c->o->must_gather);
    } else {
        rc = al_kube_create(c->k, MG_IMPORTS, "imagestreamimport openshift/must-gather",
                            body, &res, e);
        if (rc == 0)
            rc = import_failure(c, res, e);
        if (rc == 0)
            c->report(c->ud, "imported imagestream openshift/must-gather:latest from '%s'",
                      c->o->must_gather);
    }
    json_decref(res);
    json_decref(body);
    json_decref(stream);
    return rc;
}

/* ---- 5: the ImageDigestMirrorSet of the release's components ---- */

#define IDMS_WHAT "imagedigestmirrorset " IM_MIRRORSET_NAME

static int want_mirror_set(struct cl *c, json_t *obj, json_t **patch, struct al_err *e)
{
    json_t *merged = im_mirrorset_merge(obj, c->o->mirrors);

    (void)e;
    *patch = merged ? json_pack("{s:{s:o}}", "spec", "imageDigestMirrors", merged) : NULL;
    return 0;
}

static int create_mirror_set(struct cl *c, struct al_err *e)
{
    json_t *obj = im_mirrorset_object(c->o->mirrors), *res = NULL;
    int rc = 0;

    if (c->o->dry_run)
        c->report(c->ud, "would create " IDMS_WHAT " for %zu repositories",
                  c->o->mirrors->n);
    else
        rc = al_kube_create(c->k, IM_MIRRORSET_PATH, IDMS_WHAT, obj, &res, e);
    if (rc == 0 && !c->o->dry_run)
        c->report(c->ud, "created " IDMS_WHAT " for %zu repositories", c->o->mirrors->n);
    json_decref(obj);
    json_decref(res);
    return rc;
}

/* Only with --apply-mirror-sets: it changes every node's registry
 * configuration. Only airlock's own mirror set is read or written. */
static int apply_mirror_set(struct cl *c, struct al_err *e)
{
    int rc;

    if (!c->o->apply_mirror_sets) {
        c->report(c->ud, "the ImageDigestMirrorSet for the release's %zu repositories was "
                  "not applied (it changes every node's registry configuration): give "
                  "--apply-mirror-sets, or --manifests-dir to review it",
                  c->o->mirrors->n);
        return 0;
    }
    rc = ensure(c, IM_MIRRORSET_PATH "/" IM_MIRRORSET_NAME, IDMS_WHAT, want_mirror_set,
                NULL, e);
    if (rc == AL_ENOTFOUND) {
        al_err_init(e);
        rc = create_mirror_set(c, e);
        if (rc == AL_ECONFLICT) {   /* created meanwhile: merge into it instead */
            al_err_init(e);
            rc = ensure(c, IM_MIRRORSET_PATH "/" IM_MIRRORSET_NAME, IDMS_WHAT,
                        want_mirror_set, NULL, e);
        }
    }
    return rc;
}

int im_cluster_apply(struct al_kube *k, const struct im_cluster_opts *o,
                     al_report_fn report, void *ud, struct al_err *e)
{
    struct cl c = {.k = k, .o = o, .report = report, .ud = ud};
    int rc;

    ca_key_for(o->mirror_host, c.ca_key, sizeof(c.ca_key));
    rc = apply_trust(&c, e);
    if (rc == 0)
        rc = apply_samples(&c, e);
    if (rc == 0 && o->must_gather != NULL)
        rc = apply_must_gather(&c, e);
    if (rc == 0 && o->mirrors != NULL && o->mirrors->n > 0)
        rc = apply_mirror_set(&c, e);
    return rc;
}

/* ---- --manifests-dir ---- */

/* A new file renamed into place: a link planted at its name (or at a
 * temporary name) is replaced, never written through. */
static int write_file(const char *dir, const char *name, const char *text, mode_t mode,
                      struct al_err *e)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return al_file_write_atomic_mode(path, text, strlen(text), mode, e);
}

int im_cluster_check_manifests_dir(const char *dir, struct al_err *e)
{
    int fd, rc;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return al_err_sys(e, AL_EIO, errno, "cannot create '%s'", dir);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return al_err_sys(e, AL_EIO, errno, "cannot open the manifests directory '%s'", dir);
    rc = al_file_check_private_dir(fd, "manifests directory", dir, e);
    close(fd);
    return rc;
}

static int write_json(const char *dir, const char *name, json_t *doc, struct al_err *e)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    int rc;

    if (text == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    rc = write_file(dir, name, text, 0666, e);
    free(text);
    return rc;
}

/* 40-image-digest-mirror-set.json, and its line in apply.sh: run only
 * with --apply-mirror-sets, as airlock-import itself would. */
static int write_mirror_set(const char *dir, const struct im_cluster_opts *o,
                            char *script, size_t n, struct al_err *e)
{
    static const char file[] = "40-image-digest-mirror-set.json";
    json_t *doc = im_mirrorset_object(o->mirrors);
    size_t used = strlen(script);
    int rc = write_json(dir, file, doc, e);

    json_decref(doc);
    if (o->apply_mirror_sets)
        snprintf(script + used, n - used, "oc apply -f %s\n", file);
    else
        snprintf(script + used, n - used,
                 "# %s maps the release's repositories to the mirror; it changes\n"
                 "# every node's registry configuration, so it is applied only when\n"
                 "# asked (airlock-import --apply-mirror-sets):\n"
                 "# oc apply -f %s\n", file, file);
    return rc;
}

int im_cluster_write_manifests(const char *dir, const struct im_cluster_opts *o,
                               struct al_err *e)
{
    struct cl c = {.o = o};
    json_t *skipped = json_array(), *doc;
    char script[8192];
    size_t i;
    int rc = 0;

    rc = im_cluster_check_manifests_dir(dir, e);
    if (rc != 0)
        return rc;
    ca_key_for(o->mirror_host, c.ca_key, sizeof(c.ca_key));
    for (i = 0; i < o->n_skipped; i++)
        json_array_append_new(skipped, json_string(o->skipped[i]));
    if (o->ca_pem != NULL) {
        doc = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
                        "ConfigMap", "metadata", "name", IM_CA_CONFIGMAP, "namespace",
                        "openshift-config", "data", c.ca_key, o->ca_pem);
        rc = write_json(dir, "10-registry-config.json", doc, e);
        json_decref(doc);
        doc = json_pack("{s:{s:{s:s}}}", "spec", "additionalTrustedCA", "name", IM_CA_CONFIGMAP);
        if (rc == 0)
            rc = write_json(dir, "20-image-config.patch.json", doc, e);
        json_decref(doc);
    }
    doc = json_pack("{s:{s:s, s:O, s:s}}", "spec", "samplesRegistry", o->samples_registry,
                    "skippedImagestreams", skipped, "managementState", "Managed");
    if (rc == 0)
        rc = write_json(dir, "30-samples-config.patch.json", doc, e);
    json_decref(doc);
    json_decref(skipped);
    snprintf(script, sizeof(script),
             "#!/bin/sh\n"
             "# What airlock-import would apply; review, then run with cluster-admin.\n"
             "# Merge patches replace lists: if the cluster already has an\n"
             "# additionalTrustedCA ConfigMap, allowedRegistriesForImport or\n"
             "# skippedImagestreams, merge them into these files first.\n"
             "set -eu\ncd \"$(dirname \"$0\")\"\n%s"
             "oc patch configs.samples.operator.openshift.io cluster --type merge "
             "--patch-file 30-samples-config.patch.json\n%s%s%s",
             o->ca_pem ? "oc apply -f 10-registry-config.json\n"
                         "oc patch image.config.openshift.io cluster --type merge "
                         "--patch-file 20-image-config.patch.json\n" : "",
             o->must_gather ? "oc tag --source=docker --import-mode=PreserveOriginal '" : "",
             o->must_gather ? o->must_gather : "",
             o->must_gather ? "' openshift/must-gather:latest\n" : "");
    if (rc == 0 && o->mirrors != NULL && o->mirrors->n > 0)
        rc = write_mirror_set(dir, o, script, sizeof(script), e);
    if (rc == 0)
        rc = write_file(dir, "apply.sh", script, 0777, e);
    return rc;
}
