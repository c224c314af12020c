/* The export's plan: every unique blob once, in the order a reader needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../export/plan.h"
#include "test.h"

#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_INDEX "application/vnd.oci.image.index.v1+json"

static const char *dg(char c)
{
    static char v[8][80];
    static int k;
    char *d = v[k++ % 8];

    memcpy(d, "sha256:", 7);
    memset(d + 7, c, 64);
    d[71] = '\0';
    return d;
}

/* An image manifest with config `c` and layers `layers` (one char each,
 * all of size `size`; gzip, but layer 'f' is a plain tar). */
static void add_manifest(struct ex_image *img, char self, char c, const char *layers,
                         long long size)
{
    char text[4096];
    size_t n = 0, i;
    struct ex_manifest *m;

    n += (size_t)snprintf(text + n, sizeof(text) - n,
                          "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MANIFEST "\","
                          "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                          "\"digest\":\"%s\",\"size\":7},\"layers\":[", dg(c));
    for (i = 0; layers[i]; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar%s\","
                              "\"digest\":\"%s\",\"size\":%lld}", i ? "," : "",
                              layers[i] == 'f' ? "" : "+gzip",
                              dg(layers[i]), size);
    n += (size_t)snprintf(text + n, sizeof(text) - n, "]}");
    img->manifests = realloc(img->manifests, (img->n_manifests + 1) * sizeof(*m));
    m = &img->manifests[img->n_manifests++];
    memset(m, 0, sizeof(*m));
    snprintf(m->digest, sizeof(m->digest), "%s", dg(self));
    m->media_type = strdup(OCI_MANIFEST);
    m->data = strdup(text);
    m->len = n;
}

static void add_index(struct ex_image *img, char self, char child)
{
    char text[1024];
    struct ex_manifest *m;
    int n = snprintf(text, sizeof(text),
                     "{\"schemaVersion\":2,\"mediaType\":\"" OCI_INDEX "\",\"manifests\":["
                     "{\"mediaType\":\"" OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":100,"
                     "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
                     dg(child));

    img->manifests = realloc(img->manifests, (img->n_manifests + 1) * sizeof(*m));
    m = &img->manifests[img->n_manifests++];
    memset(m, 0, sizeof(*m));
    snprintf(m->digest, sizeof(m->digest), "%s", dg(self));
    m->media_type = strdup(OCI_INDEX);
    m->data = strdup(text);
    m->len = (size_t)n;
}

static void two_images(struct ex_images *l)
{
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(ex_images_add(l, "registry.example/a:1", "a:1", EX_ROLE_SAMPLES, NULL, 1, &e), 0);
    CHECK_INT(ex_images_add(l, "registry.example/b:1", "b:1", EX_ROLE_SAMPLES, NULL, 1, &e), 0);
    /* a: an index over one manifest; b shares layer 1 with a and has a
     * layer f that is not compressed */
    add_manifest(&l->v[0], 'a', 'c', "12", 50);
    add_index(&l->v[0], 'e', 'a');
    add_manifest(&l->v[1], 'b', 'd', "1f3", 50);
}

/* Configs and layers, those compressed already last (the bundle stores them
 * from the first on), then manifests. */
TEST(plan_orders_unique_blobs_before_manifests)
{
    static const char want[] = "cdf123aeb";
    struct ex_images l = {0};
    struct ex_plan p = {0};
    struct al_err e;
    size_t i;

    two_images(&l);
    al_err_init(&e);
    CHECK_INT(ex_plan_build(&p, &l, NULL, &e), 0);
    CHECK_INT(p.n, strlen(want));
    for (i = 0; i < p.n && i < strlen(want); i++) {
        CHECK_STR(p.v[i].digest, dg(want[i]));
        CHECK(p.v[i].held == NULL);
        CHECK_INT(p.v[i].kind, i < 6 ? (want[i] == 'c' || want[i] == 'd' ? AL_BLOB_CONFIG
                                                                          : AL_BLOB_LAYER)
                                     : AL_BLOB_MANIFEST);
        CHECK_INT(ex_blob_precompressed(&p.v[i]), i >= 3 && i < 6);
    }
    /* the shared layer is carried for the first image that has it */
    CHECK(p.v[3].from == &l.v[0]);
    CHECK_INT(p.v[3].size, 50);
    /* a manifest's bytes come from memory */
    CHECK(p.v[6].data == &l.v[0].manifests[0]);
    ex_plan_release(&p);
    ex_images_release(&l);
}

TEST(plan_marks_what_an_earlier_bundle_carried)
{
    struct ex_held_blob hb = {.size = 50, .kind = AL_BLOB_LAYER};
    struct ex_held held = {.v = &hb, .n = 1};
    struct ex_images l = {0};
    struct ex_plan p = {0};
    struct al_err e;
    size_t i, marked = 0;

    snprintf(hb.digest, sizeof(hb.digest), "%s", dg('2'));
    two_images(&l);
    al_err_init(&e);
    CHECK_INT(ex_plan_build(&p, &l, &held, &e), 0);
    for (i = 0; i < p.n; i++) {
        if (p.v[i].held == NULL)
            continue;
        marked++;
        CHECK_STR(p.v[i].digest, dg('2'));
    }
    CHECK_INT(marked, 1);
    ex_plan_release(&p);
    ex_images_release(&l);
}

/* registry.example/a:1 and b:1, --image both, no manifests yet */
static void two_named_images(struct ex_images *l)
{
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(ex_images_add(l, "registry.example/a:1", NULL, EX_ROLE_IMAGE, NULL, 1, &e), 0);
    CHECK_INT(ex_images_add(l, "registry.example/b:1", NULL, EX_ROLE_IMAGE, NULL, 1, &e), 0);
}

TEST(plan_refuses_one_digest_with_two_sizes)
{
    struct ex_images l = {0};
    struct ex_plan p = {0};
    struct al_err e;

    al_err_init(&e);
    two_named_images(&l);
    add_manifest(&l.v[0], 'a', 'c', "1", 50);
    add_manifest(&l.v[1], 'b', 'c', "1", 51);
    CHECK_INT(ex_plan_build(&p, &l, NULL, &e), AL_EDIGEST);
    CHECK(strstr(e.msg, "registry.example/a:1") != NULL);
    CHECK(strstr(e.msg, "registry.example/b:1") != NULL);
    ex_plan_release(&p);
    ex_images_release(&l);
}

/* A manifest whose digest is also a layer's would be folded into that
 * layer's entry, and the import would refuse the bundle: refused here. */
TEST(plan_refuses_a_digest_that_is_a_manifest_and_a_layer)
{
    struct ex_images l = {0};
    struct ex_plan p = {0};
    struct al_err e;

    al_err_init(&e);
    two_named_images(&l);
    add_manifest(&l.v[1], '1', 'd', "2", 50);
    add_manifest(&l.v[0], 'a', 'c', "1f", (long long)l.v[1].manifests[0].len);   /* same size */
    CHECK_INT(ex_plan_build(&p, &l, NULL, &e), AL_EINVAL);
    CHECK(strstr(e.msg, dg('1')) != NULL);
    CHECK(strstr(e.msg, "a layer in 'registry.example/a:1' but a manifest in "
                        "'registry.example/b:1'") != NULL);
    ex_plan_release(&p);
    ex_images_release(&l);
}

TEST(plan_of_failed_images_is_empty)
{
    struct ex_images l = {0};
    struct ex_plan p = {0};
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(ex_images_add(&l, "registry.example/a:1", NULL, EX_ROLE_IMAGE, NULL, 1, &e), 0);
    CHECK_INT(ex_plan_build(&p, &l, NULL, &e), 0);
    CHECK_INT(p.n, 0);
    ex_plan_release(&p);
    ex_images_release(&l);
}
