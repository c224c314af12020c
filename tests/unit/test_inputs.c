/* The samples inputs, read from the real OpenShift data in ../shared/. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../export/inputs.h"
#include "test.h"

static size_t count_tags(const struct ex_images *l, int *jenkins)
{
    size_t i, n = 0;

    *jenkins = 0;
    for (i = 0; i < l->n; i++) {
        size_t j;
        n += l->v[i].n_tags;
        for (j = 0; j < l->v[i].n_tags; j++)
            if (strncmp(l->v[i].tags[j], "jenkins", 7) == 0)
                *jenkins = 1;
    }
    return n;
}

TEST(configmap_from_the_samples_operator)
{
    struct ex_images l = {0};
    struct al_err e;
    char path[512];
    size_t len;
    char *text;
    int jenkins;

    snprintf(path, sizeof(path), "%s/samples/imagestreamtag-to-image.json", test_shared());
    text = test_read_file(path, &len);
    al_err_init(&e);
    CHECK_INT(ex_parse_configmap(&l, text, len, path, &e), 0);
    /* 238 unique pull spec strings, but eap74-openjdk11-openshift-rhel8
     * appears with and without ":latest": one image */
    CHECK_INT(l.n, 237);
    CHECK_INT(count_tags(&l, &jenkins), 265);
    CHECK(!jenkins);
    ex_images_release(&l);
    free(text);
}

/* A List of all 50 ImageStreams, as `oc get is -n openshift -o json`
 * prints them. */
static char *samples_list(size_t *len)
{
    char dir[512], path[1024];
    struct dirent **names;
    int i, n;
    size_t cap = 1 << 20, used = 0;
    char *out = malloc(cap);

    snprintf(dir, sizeof(dir), "%s/samples/ocp-x86_64", test_shared());
    n = scandir(dir, &names, NULL, alphasort);
    CHECK(n > 0);
    used += (size_t)snprintf(out, cap, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
    for (i = 0; i < n; i++) {
        size_t flen;
        char *f;
        if (strstr(names[i]->d_name, ".json") == NULL) {
            free(names[i]);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        f = test_read_file(path, &flen);
        while (used + flen + 16 > cap)
            out = realloc(out, cap *= 2);
        if (out[used - 1] != '[')
            out[used++] = ',';
        memcpy(out + used, f, flen);
        used += flen;
        free(f);
        free(names[i]);
    }
    free(names);
    memcpy(out + used, "]}", 3);
    *len = used + 2;
    return out;
}

TEST(imagestreams_from_the_samples_operator)
{
    struct ex_images l = {0};
    struct al_err e;
    size_t len, i, failed = 0;
    char *text = samples_list(&len);
    int jenkins;

    al_err_init(&e);
    CHECK_INT(ex_parse_imagestreams(&l, text, len, "samples list", &e), 0);
    CHECK_STR(e.msg, "");
    /* 292 tags: 271 DockerImage tags and 21 aliases served by the image the
     * alias leads to, none fetched twice */
    CHECK_INT(count_tags(&l, &jenkins), 292);
    CHECK(jenkins);
    for (i = 0; i < l.n; i++)
        failed += l.v[i].failed;
    CHECK_INT(failed, 0);
    ex_images_release(&l);
    free(text);
}

TEST(imagestreams_union_with_configmap)
{
    struct ex_images l = {0};
    struct al_err e;
    char path[512];
    size_t len, cm_len, i;
    char *text = samples_list(&len), *cm;
    size_t n_is;
    int jenkins;

    snprintf(path, sizeof(path), "%s/samples/imagestreamtag-to-image.json", test_shared());
    cm = test_read_file(path, &cm_len);
    al_err_init(&e);
    CHECK_INT(ex_parse_imagestreams(&l, text, len, "samples list", &e), 0);
    n_is = l.n;
    CHECK_INT(ex_parse_configmap(&l, cm, cm_len, path, &e), 0);
    /* the ConfigMap adds no image and no tag that the imagestreams lack */
    CHECK_INT(l.n, n_is);
    CHECK_INT(count_tags(&l, &jenkins), 292);
    for (i = 0; i < l.n; i++)
        CHECK(l.v[i].role == EX_ROLE_SAMPLES);
    ex_images_release(&l);
    free(text);
    free(cm);
}

TEST(imagestream_alias_chains_and_dangling_aliases)
{
    const char *t =
        "{\"kind\":\"ImageStreamList\",\"items\":["
        "{\"kind\":\"ImageStream\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"tags\":["
        "{\"name\":\"1\",\"from\":{\"kind\":\"DockerImage\",\"name\":\"quay.io/x/a:1\"}},"
        "{\"name\":\"stable\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"1\"}},"
        "{\"name\":\"latest\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"stable\"}},"
        "{\"name\":\"other\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"b:2\"}},"
        "{\"name\":\"loop\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"loop\"}},"
        "{\"name\":\"gone\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"nothere\"}}]}},"
        "{\"kind\":\"ImageStream\",\"metadata\":{\"name\":\"b\"},\"spec\":{\"tags\":["
        "{\"name\":\"2\",\"from\":{\"kind\":\"DockerImage\",\"name\":\"quay.io/x/b:2\"}}]}}]}";
    struct ex_images l = {0};
    struct al_err e;
    size_t i, failed = 0;

    al_err_init(&e);
    CHECK_INT(ex_parse_imagestreams(&l, t, strlen(t), "t", &e), 0);
    for (i = 0; i < l.n; i++) {
        if (l.v[i].failed) {
            failed++;
            continue;
        }
        if (strcmp(l.v[i].name, "quay.io/x/a:1") == 0)
            CHECK_INT(l.v[i].n_tags, 3);
        else if (strcmp(l.v[i].name, "quay.io/x/b:2") == 0)
            CHECK_INT(l.v[i].n_tags, 2); /* b:2 and a:other */
        else
            CHECK(!"unexpected image");
    }
    CHECK_INT(failed, 2); /* loop, gone */
    ex_images_release(&l);
}

TEST(inputs_that_are_not_what_they_claim)
{
    struct ex_images l = {0};
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(ex_parse_configmap(&l, "{\"kind\":\"Secret\",\"data\":{}}", 27, "x.json", &e), AL_EINVAL);
    CHECK(strstr(e.msg, "x.json") != NULL);
    CHECK(ex_parse_configmap(&l, "{\"kind\":\"ConfigMap\",\"data\":{\"nounderscore\":\"a/b\"}}", 50, "y.json", &e) != 0);
    CHECK(strstr(e.msg, "nounderscore") != NULL);
    CHECK(ex_parse_imagestreams(&l, "[1,2", 4, "z.json", &e) != 0);
    CHECK(strstr(e.msg, "z.json") != NULL);
    ex_images_release(&l);
}

TEST(release_image_references_must_gather)
{
    struct al_err e;
    char path[512];
    size_t len;
    char *text, *spec = NULL;

    snprintf(path, sizeof(path), "%s/samples/release-4.12.0-image-references.json", test_shared());
    text = test_read_file(path, &len);
    al_err_init(&e);
    CHECK_INT(ex_release_component(text, len, "must-gather", &spec, &e), 0);
    CHECK_STR(spec, "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:"
                    "07d359641e4827bc34e31a5cefaf986acf4e78064fef531124cac0ed6da3e94c");
    free(spec);
    CHECK_INT(ex_release_component(text, len, "no-such-component", &spec, &e), AL_ENOTFOUND);
    CHECK(strstr(e.msg, "no-such-component") != NULL);
    free(text);
}

/* An image named twice keeps the weightier role, whichever input came
 * first: a samples tag that is also the release's must-gather is the
 * must-gather (bundle.json names it, the import hands it to the cluster, and
 * losing it ends the export), not a samples image that may fail alone. */
TEST(images_union_keeps_the_weightier_role)
{
    struct ex_images l = {0};
    struct al_err e;
    char buf[64];
    const char *z = "quay.io/x/z@sha256:"
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    al_err_init(&e);
    CHECK_INT(ex_images_add(&l, "quay.io/x/y:1", "y:1", EX_ROLE_SAMPLES, NULL, 0, &e), 0);
    CHECK_INT(ex_images_add(&l, "quay.io/x/y:1", NULL, EX_ROLE_MUST_GATHER, NULL, 1, &e), 0);
    CHECK_INT(ex_images_add(&l, "quay.io/x/y:1", "y:2", EX_ROLE_SAMPLES, NULL, 0, &e), 0);
    CHECK_INT(ex_images_add(&l, z, "z:1", EX_ROLE_SAMPLES, NULL, 0, &e), 0);
    CHECK_INT(ex_images_add(&l, z, NULL, EX_ROLE_IMAGE, NULL, 1, &e), 0);
    CHECK_INT(ex_images_add(&l, z, NULL, EX_ROLE_COMPONENT, "cli", 1, &e), 0);
    CHECK_INT(ex_images_add(&l, z, NULL, EX_ROLE_IMAGE, NULL, 1, &e), 0);
    CHECK_INT(l.n, 2);
    CHECK_INT(l.v[0].role, EX_ROLE_MUST_GATHER);
    CHECK_STR(ex_role_name(&l.v[0], buf, sizeof(buf)), "must-gather");
    CHECK_INT(l.v[0].n_tags, 2);   /* its tags stay: the import tags them too */
    CHECK_INT(l.v[1].role, EX_ROLE_COMPONENT);
    CHECK_STR(ex_role_name(&l.v[1], buf, sizeof(buf)), "release:cli");
    CHECK_INT(ex_images_add(&l, z, NULL, EX_ROLE_MUST_GATHER, NULL, 1, &e), 0);
    CHECK_STR(ex_role_name(&l.v[1], buf, sizeof(buf)), "must-gather");
    CHECK(l.v[1].component == NULL);
    ex_images_release(&l);
}
