#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../import/import.h"
#include "airlock/meta.h"
#include "test.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
                       c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

/* A small valid bundle.json: two images sharing a layer, one by digest. */
static json_t *valid_doc(void)
{
    return json_pack(
        "{s:s, s:i, s:s, s:s, s:{s:s, s:{s:s}},"
        " s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:[{s:s, s:s, s:i}], s:[s, s]},"
        "    {s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:i}], s:[s, s]}],"
        " s:[{s:s, s:s, s:s, s:[s]}],"
        " s:[{s:s, s:i, s:s, s:s}, {s:s, s:i, s:s, s:s}, {s:s, s:i, s:s, s:s},"
        "    {s:s, s:i, s:s, s:s}, {s:s, s:i, s:s, s:s}]}",
        "format", "airlock-bundle", "version", 1, "id", "abc", "created", "2026-11-25T00:00:00Z",
        "release", "pull_spec", "quay.io/r:1", "must_gather", "pull_spec", "quay.io/mg@" D("e"),
        "images",
        "name", "registry.redhat.io/ubi8/ruby-31:latest", "registry", "registry.redhat.io",
        "repository", "ubi8/ruby-31", "tag", "latest", "role", "samples",
        "digest", D("d"), "media_type", "application/vnd.oci.image.manifest.v1+json",
        "tags", "ruby:latest",
        "manifests", "digest", D("d"), "media_type", "application/vnd.oci.image.manifest.v1+json", "size", 300,
        "blobs", D("a"), D("b"),
        "name", "quay.io/mg@" D("e"), "registry", "quay.io", "repository", "mg",
        "role", "must-gather", "digest", D("e"),
        "media_type", "application/vnd.oci.image.manifest.v1+json",
        "manifests", "digest", D("e"), "media_type", "application/vnd.oci.image.manifest.v1+json", "size", 200,
        "blobs", D("a"), D("c"),
        "failed", "name", "registry.redhat.io/gone:1", "role", "samples", "reason", "manifest unknown",
        "tags", "gone:1",
        "blobs",
        "digest", D("a"), "size", 1000, "media_type", "application/vnd.oci.image.layer.v1.tar+gzip", "kind", "layer",
        "digest", D("b"), "size", 10, "media_type", "application/vnd.oci.image.config.v1+json", "kind", "config",
        "digest", D("c"), "size", 10, "media_type", "application/vnd.oci.image.config.v1+json", "kind", "config",
        "digest", D("d"), "size", 300, "media_type", "application/vnd.oci.image.manifest.v1+json", "kind", "manifest",
        "digest", D("e"), "size", 200, "media_type", "application/vnd.oci.image.manifest.v1+json", "kind", "manifest");
}

static int parse_doc(json_t *doc, struct al_bundle_meta *m, struct al_err *e)
{
    char *text = json_dumps(doc, 0);
    int rc;

    al_err_init(e);
    rc = al_bundle_meta_parse(m, text, strlen(text), "bundle.json", e);
    free(text);
    json_decref(doc);
    return rc;
}

TEST(meta_parses_a_valid_bundle_json)
{
    struct al_bundle_meta m;
    struct al_err e;

    if (parse_doc(valid_doc(), &m, &e) != 0) {
        fprintf(stderr, "  %s\n", e.msg);
        CHECK(!"valid bundle.json refused");
        return;
    }
    CHECK_INT(m.n_images, 2);
    CHECK_INT(m.n_blobs, 5);
    CHECK_INT(m.n_failed, 1);
    CHECK_STR(m.images[0].tag, "latest");
    CHECK(m.images[1].tag == NULL);
    CHECK_INT(m.images[1].n_blobs, 2);
    CHECK_STR(m.blobs[m.images[1].blobs[1]].digest, D("c"));
    CHECK_INT(m.images[0].manifests[0].blob, 3);
    CHECK_INT(al_bundle_meta_find_blob(&m, D("e")), 4);
    CHECK_INT(al_bundle_meta_find_blob(&m, D("f")), -1);
    CHECK_STR(m.must_gather, "quay.io/mg@" D("e"));
    CHECK_STR(m.failed[0].reason, "manifest unknown");
    al_bundle_meta_release(&m);
}

/* Applies `edit` to a valid document and expects `needle` in the error. */
static void expect_refused(void (*edit)(json_t *), const char *needle)
{
    struct al_bundle_meta m;
    struct al_err e;
    json_t *doc = valid_doc();

    edit(doc);
    CHECK(parse_doc(doc, &m, &e) < 0);
    CHECK(strstr(e.msg, needle) != NULL);
    if (strstr(e.msg, needle) == NULL)
        fprintf(stderr, "  wanted '%s' in: %s\n", needle, e.msg);
    al_bundle_meta_release(&m);
}

static json_t *blob(json_t *d, size_t i) { return json_array_get(json_object_get(d, "blobs"), i); }
static json_t *image(json_t *d, size_t i) { return json_array_get(json_object_get(d, "images"), i); }

static void wrong_format(json_t *d) { json_object_set_new(d, "format", json_string("tar")); }
static void newer_version(json_t *d) { json_object_set_new(d, "version", json_integer(2)); }
static void dup_blob(json_t *d) { json_object_set_new(blob(d, 1), "digest", json_string(D("a"))); }
static void bad_digest(json_t *d) { json_object_set_new(blob(d, 0), "digest", json_string("md5:x")); }
static void huge_manifest(json_t *d) { json_object_set_new(blob(d, 3), "size", json_integer(1LL << 30)); }
static void negative_size(json_t *d) { json_object_set_new(blob(d, 0), "size", json_integer(-1)); }
static void bad_kind(json_t *d) { json_object_set_new(blob(d, 0), "kind", json_string("exe")); }
static void name_mismatch(json_t *d) { json_object_set_new(image(d, 0), "repository", json_string("other/repo")); }
static void image_blob_unlisted(json_t *d)
{
    json_array_append_new(json_object_get(image(d, 0), "blobs"), json_string(D("9")));
}
static void manifest_unlisted(json_t *d)
{
    json_t *mf = json_array_get(json_object_get(image(d, 0), "manifests"), 0);
    json_object_set_new(mf, "digest", json_string(D("9")));
    json_object_set_new(image(d, 0), "digest", json_string(D("9")));
}
static void root_not_last(json_t *d) { json_object_set_new(image(d, 0), "digest", json_string(D("e"))); }
static void no_image_blobs(json_t *d) { json_object_del(image(d, 0), "blobs"); }
static void not_object(json_t *d) { json_object_set_new(d, "images", json_string("x")); }

TEST(meta_refuses_what_the_importer_could_not_trust)
{
    expect_refused(wrong_format, "is not airlock bundle metadata");
    expect_refused(newer_version, "format version 2");
    expect_refused(dup_blob, "is listed twice");
    expect_refused(bad_digest, "blobs[0] is not a sha256 digest");
    expect_refused(huge_manifest, "blobs[3] has a missing or impossible size");
    expect_refused(negative_size, "impossible size");
    expect_refused(bad_kind, "unknown kind");
    expect_refused(name_mismatch, "disagrees with its registry");
    expect_refused(image_blob_unlisted, "not a layer or config of the bundle");
    expect_refused(manifest_unlisted, "not among the bundle's manifests");
    expect_refused(root_not_last, "does not end with the image's own manifest");
    expect_refused(no_image_blobs, "has no list of blobs");
    expect_refused(not_object, "images is missing");
}

TEST(meta_refuses_invalid_json_with_the_line)
{
    struct al_bundle_meta m;
    struct al_err e;

    al_err_init(&e);
    CHECK(al_bundle_meta_parse(&m, "{\n\"a\": }", 8, "bundle.json", &e) < 0);
    CHECK(strstr(e.msg, "bundle.json is not valid JSON (line 2") != NULL);
    CHECK(al_bundle_meta_parse(&m, "{\"a\": 1, \"a\": 2}", 16, "bundle.json", &e) < 0);
    al_bundle_meta_release(&m);
}

TEST(plan_keeps_path_and_tag_and_mounts_shared_layers)
{
    struct al_bundle_meta m;
    struct im_plan p;
    struct al_err e;
    char *name;

    CHECK_INT(parse_doc(valid_doc(), &m, &e), 0);
    CHECK_INT(im_plan_build(&p, "mirror.example.com:5000", &m, &e), 0);
    CHECK_STR(p.mirror_host, "mirror.example.com:5000");
    CHECK_STR(p.dests[0].repo, "ubi8/ruby-31");
    CHECK_STR(p.dests[0].reference, "latest");
    CHECK_STR(p.dests[1].reference, D("e"));
    name = im_dest_name(&p, &p.dests[1]);
    CHECK_STR(name, "mirror.example.com:5000/mg@" D("e"));
    free(name);
    CHECK_INT(p.n_blob_repos[0], 2);     /* the shared layer: both repositories */
    CHECK_INT(p.n_blob_repos[1], 1);
    CHECK_INT(p.n_blob_repos[3], 0);     /* manifests are not blobs to upload */
    im_plan_release(&p);

    CHECK_INT(im_plan_build(&p, "mirror:5000/ocp/mirror", &m, &e), 0);
    CHECK_STR(p.dests[0].repo, "ocp/mirror/ubi8/ruby-31");
    im_plan_release(&p);
    al_bundle_meta_release(&m);
}

static void access_twin(json_t *d)
{
    /* the same path and tag from registry.access.redhat.com, other content */
    json_t *twin = json_deep_copy(image(d, 0));
    json_object_set_new(twin, "name", json_string("registry.access.redhat.com/ubi8/ruby-31:latest"));
    json_object_set_new(twin, "registry", json_string("registry.access.redhat.com"));
    json_object_set_new(twin, "digest", json_string(D("e")));
    json_object_set_new(json_array_get(json_object_get(twin, "manifests"), 0), "digest",
                        json_string(D("e")));
    json_object_set_new(json_array_get(json_object_get(twin, "manifests"), 0), "size",
                        json_integer(200));
    json_array_append_new(json_object_get(d, "images"), twin);
}

TEST(plan_refuses_two_images_on_one_mirror_name)
{
    struct al_bundle_meta m;
    struct im_plan p;
    struct al_err e;
    json_t *doc = valid_doc();

    access_twin(doc);
    CHECK_INT(parse_doc(doc, &m, &e), 0);
    CHECK(im_plan_build(&p, "mirror:5000", &m, &e) < 0);
    CHECK(strstr(e.msg, "'registry.redhat.io/ubi8/ruby-31:latest' and "
                        "'registry.access.redhat.com/ubi8/ruby-31:latest' would both land "
                        "on 'mirror:5000/ubi8/ruby-31:latest'") != NULL);
    im_plan_release(&p);
    al_bundle_meta_release(&m);
}

TEST(plan_checks_the_registry_option)
{
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(im_mirror_check("mirror.example.com:5000", &e), 0);
    CHECK_INT(im_mirror_check("127.0.0.1:5000/a/b", &e), 0);
    CHECK(im_mirror_check("https://mirror", &e) < 0);
    CHECK(strstr(e.msg, "without a scheme") != NULL);
    CHECK(im_mirror_check("", &e) < 0);
    CHECK(im_mirror_check("mirror/../x", &e) < 0);
    CHECK(im_mirror_check("mirror/A", &e) < 0);
    CHECK_INT(im_mirror_check("mirror/", &e), 0);   /* a trailing slash is harmless */
}

static void relies_on_layer(json_t *d)
{
    /* the shared layer left to an earlier bundle */
    json_t *blobs = json_object_get(d, "blobs");
    json_t *layer = json_deep_copy(json_array_get(blobs, 0));
    json_object_set_new(layer, "bundle_id", json_string("0123abcd"));
    json_object_set_new(layer, "repositories", json_pack("[s]", "ubi8/ruby-31"));
    json_array_remove(blobs, 0);
    json_object_set_new(d, "relies_on", json_pack("[o]", layer));
}

TEST(meta_reads_an_increment)
{
    struct al_bundle_meta m;
    struct al_err e;
    json_t *doc = valid_doc();
    long at;

    relies_on_layer(doc);
    if (parse_doc(doc, &m, &e) != 0) {
        fprintf(stderr, "  %s\n", e.msg);
        CHECK(!"increment refused");
        return;
    }
    CHECK_INT(m.n_carried, 4);
    CHECK_INT(m.n_blobs, 5);
    at = al_bundle_meta_find_blob(&m, D("a"));
    CHECK_INT(at, 4);
    CHECK(m.blobs[at].relied);
    CHECK_STR(m.blobs[at].bundle_id, "0123abcd");
    CHECK_STR(m.blobs[at].repos[0], "ubi8/ruby-31");
    CHECK_INT(m.images[1].blobs[0], 4);    /* images still name it */
    al_bundle_meta_release(&m);
}

static void relies_on_manifest(json_t *d)
{
    relies_on_layer(d);
    json_object_set_new(json_array_get(json_object_get(d, "relies_on"), 0), "kind",
                        json_string("manifest"));
    json_object_set_new(json_array_get(json_object_get(d, "relies_on"), 0), "size",
                        json_integer(10));
}

static void relies_on_carried_twice(json_t *d)
{
    relies_on_layer(d);
    json_array_append(json_object_get(d, "blobs"),
                      json_array_get(json_object_get(d, "relies_on"), 0));
}

TEST(meta_refuses_bad_increments)
{
    expect_refused(relies_on_manifest, "is a manifest (manifests are always carried)");
    expect_refused(relies_on_carried_twice, "is listed twice");
}
