/* bundle.json both ways: what the writer makes, the parser reads back
 * field for field (common/meta.c owns the format). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/meta.h"
#include "test.h"

#define H(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
             c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define D(c) "sha256:" H(c)
#define MT_M "application/vnd.oci.image.manifest.v1+json"
#define MT_L "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_C "application/vnd.oci.image.config.v1+json"

/* Every field the format has: a release with must-gather and components,
 * an image by tag and one by digest, a failed image, a blob relied on. */
static const char full_doc[] =
    "{\"relies_on\": [{\"digest\": \"" D("a") "\", \"size\": 1000, \"media_type\": \"" MT_L
    "\", \"kind\": \"layer\", \"bundle_id\": \"0123abcd\", \"repositories\": "
    "[\"ubi8/ruby-31\", \"mg\"]}],"
    " \"format\": \"airlock-bundle\", \"version\": 1, \"id\": \"abc\","
    " \"created\": \"2026-11-25T00:00:00Z\", \"generator\": \"airlock-export 0.1.0\","
    " \"release\": {\"pull_spec\": \"quay.io/r:1\", \"source\": \"cache.local/r\","
    "  \"digest\": \"" D("f") "\", \"arch\": \"amd64\","
    "  \"must_gather\": {\"pull_spec\": \"quay.io/mg@" D("e") "\", \"digest\": \"" D("e") "\"},"
    "  \"components\": {\"tools\": \"quay.io/mg@" D("e") "\", \"cli\": \"quay.io/cli:1\"},"
    "  \"samples\": {\"image\": \"quay.io/cso@" D("9") "\", \"digest\": \"" D("8") "\","
    "   \"arch\": \"x86_64\", \"imagestreams\": 50, \"tags\": 292}},"
    " \"images\": [{\"name\": \"registry.redhat.io/ubi8/ruby-31:latest\","
    "  \"pull_spec\": \"registry.redhat.io/ubi8/ruby-31\", \"source\": \"cache.local/ubi8/ruby-31\","
    "  \"registry\": \"registry.redhat.io\", \"repository\": \"ubi8/ruby-31\", \"tag\": \"latest\","
    "  \"digest\": \"" D("d") "\", \"media_type\": \"" MT_M "\", \"role\": \"samples\","
    "  \"tags\": [\"ruby:latest\", \"ruby:3.1\"],"
    "  \"manifests\": [{\"digest\": \"" D("d") "\", \"media_type\": \"" MT_M "\", \"size\": 300}],"
    "  \"blobs\": [\"" D("a") "\", \"" D("b") "\"]},"
    " {\"name\": \"quay.io/mg@" D("e") "\", \"pull_spec\": \"quay.io/mg@" D("e") "\","
    "  \"source\": \"quay.io/mg\", \"registry\": \"quay.io\", \"repository\": \"mg\","
    "  \"digest\": \"" D("e") "\", \"media_type\": \"" MT_M "\", \"role\": \"must-gather\","
    "  \"tags\": [], \"manifests\": [{\"digest\": \"" D("e") "\", \"media_type\": \"" MT_M
    "\", \"size\": 200}], \"blobs\": [\"" D("a") "\", \"" D("c") "\"]}],"
    " \"failed\": [{\"name\": \"registry.redhat.io/gone:1\", \"pull_spec\": \"gone:1\","
    "  \"role\": \"samples\", \"tags\": [\"gone:1\"], \"reason\": \"manifest unknown\"}],"
    " \"blobs\": ["
    "  {\"digest\": \"" D("b") "\", \"size\": 10, \"media_type\": \"" MT_C "\", \"kind\": \"config\"},"
    "  {\"digest\": \"" D("c") "\", \"size\": 11, \"media_type\": \"" MT_C "\", \"kind\": \"config\"},"
    "  {\"digest\": \"" D("d") "\", \"size\": 300, \"media_type\": \"" MT_M "\", \"kind\": \"manifest\"},"
    "  {\"digest\": \"" D("e") "\", \"size\": 200, \"media_type\": \"" MT_M "\", \"kind\": \"manifest\"}]}";

static void same_strings(char **a, size_t na, char **b, size_t nb)
{
    size_t i;

    CHECK_INT(na, nb);
    for (i = 0; i < na && i < nb; i++)
        CHECK_STR(a[i], b[i]);
}

/* Both NULL, or the same string. */
static void same_opt(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        CHECK(a == b);
    else
        CHECK_STR(a, b);
}

static void same_blob(const struct al_meta_blob *a, const struct al_meta_blob *b)
{
    CHECK_STR(a->digest, b->digest);
    CHECK_INT(a->size, b->size);
    CHECK_STR(a->media_type, b->media_type);
    CHECK_INT(a->kind, b->kind);
    CHECK_INT(a->relied, b->relied);
    same_opt(a->bundle_id, b->bundle_id);
    same_strings(a->repos, a->n_repos, b->repos, b->n_repos);
}

static void same_image(const struct al_meta_image *a, const struct al_meta_image *b)
{
    size_t i;

    same_opt(a->name, b->name);
    same_opt(a->pull_spec, b->pull_spec);
    same_opt(a->source, b->source);
    same_opt(a->registry, b->registry);
    same_opt(a->repository, b->repository);
    same_opt(a->tag, b->tag);
    same_opt(a->role, b->role);
    CHECK_STR(a->digest, b->digest);
    same_opt(a->media_type, b->media_type);
    same_strings(a->tags, a->n_tags, b->tags, b->n_tags);
    CHECK_INT(a->n_manifests, b->n_manifests);
    for (i = 0; i < a->n_manifests && i < b->n_manifests; i++) {
        CHECK_STR(a->manifests[i].digest, b->manifests[i].digest);
        CHECK_STR(a->manifests[i].media_type, b->manifests[i].media_type);
        CHECK_INT(a->manifests[i].size, b->manifests[i].size);
        CHECK_INT(a->manifests[i].blob, b->manifests[i].blob);
    }
    CHECK_INT(a->n_blobs, b->n_blobs);
    for (i = 0; i < a->n_blobs && i < b->n_blobs; i++)
        CHECK_INT(a->blobs[i], b->blobs[i]);
}

static void same_meta(const struct al_bundle_meta *a, const struct al_bundle_meta *b)
{
    size_t i;

    same_opt(a->id, b->id);
    same_opt(a->created, b->created);
    same_opt(a->generator, b->generator);
    same_opt(a->release, b->release);
    same_opt(a->release_source, b->release_source);
    same_opt(a->release_digest, b->release_digest);
    same_opt(a->release_arch, b->release_arch);
    same_opt(a->must_gather, b->must_gather);
    same_opt(a->must_gather_digest, b->must_gather_digest);
    same_opt(a->samples_image, b->samples_image);
    same_opt(a->samples_digest, b->samples_digest);
    same_opt(a->samples_arch, b->samples_arch);
    CHECK_INT(a->samples_streams, b->samples_streams);
    CHECK_INT(a->samples_tags, b->samples_tags);
    CHECK_INT(a->n_components, b->n_components);
    for (i = 0; i < a->n_components && i < b->n_components; i++) {
        CHECK_STR(a->components[i].name, b->components[i].name);
        CHECK_STR(a->components[i].image, b->components[i].image);
    }
    CHECK_INT(a->n_blobs, b->n_blobs);
    CHECK_INT(a->n_carried, b->n_carried);
    for (i = 0; i < a->n_blobs && i < b->n_blobs; i++)
        same_blob(&a->blobs[i], &b->blobs[i]);
    CHECK_INT(a->n_images, b->n_images);
    for (i = 0; i < a->n_images && i < b->n_images; i++)
        same_image(&a->images[i], &b->images[i]);
    CHECK_INT(a->n_failed, b->n_failed);
    for (i = 0; i < a->n_failed && i < b->n_failed; i++) {
        same_opt(a->failed[i].name, b->failed[i].name);
        same_opt(a->failed[i].pull_spec, b->failed[i].pull_spec);
        same_opt(a->failed[i].role, b->failed[i].role);
        same_opt(a->failed[i].reason, b->failed[i].reason);
        same_strings(a->failed[i].tags, a->failed[i].n_tags, b->failed[i].tags,
                     b->failed[i].n_tags);
    }
}

/* `text` is byte for byte what jansson writes for the same document. */
static void check_jansson_layout(const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    char *whole = doc ? json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(1)) : NULL;

    CHECK(whole != NULL);
    if (whole != NULL)
        CHECK_STR(text, whole);
    free(whole);
    json_decref(doc);
}

TEST(meta_writes_what_it_reads)
{
    struct al_bundle_meta a, b;
    struct al_err e;
    char *text = NULL, *again = NULL;

    al_err_init(&e);
    if (al_bundle_meta_parse(&a, full_doc, strlen(full_doc), "full", &e) != 0) {
        fprintf(stderr, "  %s\n", e.msg);
        CHECK(!"the full document was refused");
        return;
    }
    /* the fixture really has every optional part, or the test proves little */
    CHECK(a.release_source && a.must_gather_digest && a.n_components == 2);
    CHECK(a.samples_image && a.samples_digest && a.samples_tags == 292);
    CHECK(a.n_carried < a.n_blobs && a.n_failed == 1 && a.images[1].tag == NULL);
    CHECK_INT(al_bundle_meta_write(&a, &text, &e), 0);
    CHECK_INT(al_bundle_meta_parse(&b, text, strlen(text), "written", &e), 0);
    same_meta(&a, &b);
    /* and the same model gives the same bytes */
    CHECK_INT(al_bundle_meta_write(&b, &again, &e), 0);
    CHECK_STR(text, again);
    /* the keys in the order airlock-export has always written them */
    CHECK(strncmp(text, "{\n \"relies_on\": [", 17) == 0);
    CHECK(strstr(text, "\"generator\"") < strstr(text, "\"release\""));
    CHECK(strstr(text, "\"failed\"") < strstr(text, "\n \"blobs\""));
    /* written a value at a time, in the layout jansson gives the whole
     * document, as the export always wrote it */
    check_jansson_layout(text);
    free(text);
    free(again);
    {   /* and with empty lists, and nothing relied on */
        size_t n_failed = a.n_failed, n_blobs = a.n_blobs;
        a.n_failed = 0;
        a.n_blobs = a.n_carried;
        CHECK_INT(al_bundle_meta_write(&a, &text, &e), 0);
        CHECK(strstr(text, "\n \"failed\": [],\n") != NULL);
        CHECK(strstr(text, "relies_on") == NULL);
        check_jansson_layout(text);
        free(text);
        a.n_failed = n_failed;
        a.n_blobs = n_blobs;
    }
    {   /* text jansson cannot write fails, naming the member, and gives nothing */
        char *generator = a.generator, bad[] = "airlock \xff";
        a.generator = bad;
        text = (char *)"untouched";
        CHECK_INT(al_bundle_meta_write(&a, &text, &e), AL_EINVAL);
        CHECK(text == NULL);
        CHECK(strstr(e.msg, "'generator' is not UTF-8") != NULL);
        a.generator = generator;
    }
    al_bundle_meta_release(&a);
    al_bundle_meta_release(&b);
}

/* release.samples is optional, and checked when present. */
TEST(meta_samples_are_optional_and_checked)
{
    struct al_bundle_meta m;
    struct al_err e;
    char *doc = strdup(full_doc), *p;

    al_err_init(&e);
    /* a count that cannot be */
    p = strstr(doc, "\"tags\": 292");
    memcpy(p, "\"tags\": -92", 11);
    CHECK(al_bundle_meta_parse(&m, doc, strlen(doc), "bad", &e) != 0);
    CHECK(strstr(e.msg, "release.samples") != NULL);
    al_bundle_meta_release(&m);
    /* none at all: the older bundles */
    p = strstr(doc, ",  \"samples\"");
    memmove(p, strstr(p, "}}") + 1, strlen(strstr(p, "}}") + 1) + 1);
    al_err_init(&e);
    CHECK_INT(al_bundle_meta_parse(&m, doc, strlen(doc), "none", &e), 0);
    CHECK(m.samples_image == NULL && m.release != NULL);
    al_bundle_meta_release(&m);
    free(doc);
}

TEST(meta_writes_the_layout_index)
{
    struct al_bundle_meta m;
    struct al_err e;
    char *text = NULL;
    json_t *doc, *ms;

    al_err_init(&e);
    CHECK_INT(al_bundle_meta_parse(&m, full_doc, strlen(full_doc), "full", &e), 0);
    CHECK_INT(al_bundle_meta_layout_index(&m, &text, &e), 0);
    doc = json_loads(text ? text : "", 0, NULL);
    ms = json_object_get(doc, "manifests");
    CHECK_INT(json_array_size(ms), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(ms, 1), "digest")), D("e"));
    CHECK_INT(json_integer_value(json_object_get(json_array_get(ms, 1), "size")), 200);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(ms, 0),
                                                                "annotations"),
                                                "org.opencontainers.image.ref.name")),
              "registry.redhat.io/ubi8/ruby-31:latest");
    json_decref(doc);
    free(text);
    al_bundle_meta_release(&m);
}

TEST(meta_index_refuses_a_blob_listed_twice)
{
    struct al_bundle_meta m;
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(al_bundle_meta_parse(&m, full_doc, strlen(full_doc), "full", &e), 0);
    CHECK_INT(al_bundle_meta_index(&m, &e), 0);
    CHECK_INT(al_bundle_meta_find_blob(&m, D("c")), 1);
    memcpy(m.blobs[1].digest, m.blobs[0].digest, sizeof(m.blobs[1].digest));
    CHECK_INT(al_bundle_meta_index(&m, &e), AL_EINVAL);
    CHECK(strstr(e.msg, "is listed twice") != NULL);
    al_bundle_meta_release(&m);
}

TEST(blob_kind_names_both_ways)
{
    enum al_blob_kind k = AL_BLOB_LAYER;

    CHECK_INT(al_blob_kind_parse("config", &k), 0);
    CHECK_INT(k, AL_BLOB_CONFIG);
    CHECK_INT(al_blob_kind_parse(al_blob_kind_name(AL_BLOB_MANIFEST), &k), 0);
    CHECK_INT(k, AL_BLOB_MANIFEST);
    CHECK_INT(al_blob_kind_parse("exe", &k), -1);
    CHECK_INT(al_blob_kind_parse(NULL, &k), -1);
}
