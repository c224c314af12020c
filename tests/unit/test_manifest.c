#include <stdio.h>
#include <string.h>

#include "airlock/digest.h"
#include "airlock/manifest.h"
#include "test.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static int parse(const char *text, const char *ct, struct al_manifest *m, struct al_err *e)
{
    al_err_init(e);
    memset(m, 0, sizeof(*m));
    return al_manifest_parse(text, strlen(text), ct, "test manifest", m, e);
}

TEST(manifest_docker_v2)
{
    struct al_manifest m;
    struct al_err e;
    const char *t = "{\"schemaVersion\":2,\"mediaType\":\"" AL_MT_DOCKER_MANIFEST "\","
        "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":7,\"digest\":\"" DA "\"},"
        "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":1234,\"digest\":\"" DB "\"}]}";

    CHECK_INT(parse(t, NULL, &m, &e), 0);
    CHECK_INT(m.kind, AL_MANIFEST_IMAGE);
    CHECK_STR(m.media_type, AL_MT_DOCKER_MANIFEST);
    CHECK_STR(m.config.digest, DA);
    CHECK_INT(m.n_layers, 1);
    CHECK_INT(m.layers[0].size, 1234);
    al_manifest_release(&m);
}

TEST(manifest_oci_index_with_platforms)
{
    struct al_manifest m;
    struct al_err e;
    const char *t = "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"" AL_MT_OCI_MANIFEST "\",\"size\":10,\"digest\":\"" DA "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"" AL_MT_OCI_MANIFEST "\",\"size\":11,\"digest\":\"" DB "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";

    CHECK_INT(parse(t, AL_MT_OCI_INDEX, &m, &e), 0);
    CHECK_INT(m.kind, AL_MANIFEST_INDEX);
    CHECK_INT(m.n_children, 2);
    CHECK(al_desc_platform_matches(&m.children[0], "amd64"));
    CHECK(al_desc_platform_matches(&m.children[0], "linux/amd64"));
    CHECK(!al_desc_platform_matches(&m.children[0], "arm64"));
    CHECK(al_desc_platform_matches(&m.children[1], "linux/arm64/v8"));
    CHECK(!al_desc_platform_matches(&m.children[1], "linux/arm64/v7"));
    CHECK(!al_desc_platform_matches(&m.children[1], "windows/arm64"));
    al_manifest_release(&m);
}

TEST(manifest_refuses_schema1_and_junk)
{
    struct al_manifest m;
    struct al_err e;

    CHECK_INT(parse("{\"schemaVersion\":1,\"fsLayers\":[]}", AL_MT_DOCKER_V1_SIGNED, &m, &e), AL_EUNSUPPORTED);
    CHECK(strstr(e.msg, "schema") != NULL);
    CHECK_INT(parse("not json", NULL, &m, &e), AL_EINVAL);
    CHECK(strstr(e.msg, "test manifest") != NULL);
    CHECK(parse("{\"schemaVersion\":2,\"mediaType\":\"" AL_MT_OCI_MANIFEST "\",\"config\":{\"size\":1,\"digest\":\"md5:00\"},\"layers\":[]}", NULL, &m, &e) != 0);
    CHECK(parse("{\"schemaVersion\":2,\"mediaType\":\"" AL_MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":\"x\",\"size\":-1,\"digest\":\"" DA "\"},\"layers\":[]}", NULL, &m, &e) != 0);
    CHECK(parse("[]", NULL, &m, &e) != 0);
}

/* CVE-2021-41190: bytes that read as an image manifest to one tool and as
 * an index to another are refused, whichever way they are served; a Docker
 * and an OCI name for the same kind are not a conflict. */
TEST(manifest_refuses_ambiguous_documents)
{
    struct al_manifest m;
    struct al_err e;
    const char *image = "\"config\":{\"mediaType\":\"x\",\"size\":7,\"digest\":\"" DA "\"},"
                        "\"layers\":[{\"mediaType\":\"y\",\"size\":9,\"digest\":\"" DB "\"}]";
    const char *index = "\"manifests\":[{\"mediaType\":\"" AL_MT_OCI_MANIFEST "\",\"size\":10,"
                        "\"digest\":\"" DA "\"}]";
    char t[1024];

    snprintf(t, sizeof(t), "{\"schemaVersion\":2,\"mediaType\":\"%s\",%s,%s}", AL_MT_OCI_MANIFEST,
             image, index);
    CHECK_INT(parse(t, AL_MT_OCI_INDEX, &m, &e), AL_EINVAL);
    CHECK(strstr(e.msg, "ambiguous manifest") != NULL);
    CHECK_INT(parse(t, AL_MT_OCI_MANIFEST, &m, &e), AL_EINVAL);
    CHECK_INT(parse(t, NULL, &m, &e), AL_EINVAL);
    snprintf(t, sizeof(t), "{\"schemaVersion\":2,\"mediaType\":\"%s\",%s}", AL_MT_OCI_MANIFEST, index);
    CHECK_INT(parse(t, AL_MT_OCI_INDEX, &m, &e), AL_EINVAL);   /* says image, served as index */
    snprintf(t, sizeof(t), "{\"schemaVersion\":2,\"mediaType\":\"%s\",%s}", AL_MT_DOCKER_LIST, image);
    CHECK_INT(parse(t, AL_MT_DOCKER_MANIFEST, &m, &e), AL_EINVAL);
    snprintf(t, sizeof(t), "{\"schemaVersion\":2,\"mediaType\":\"%s\",%s}", AL_MT_DOCKER_MANIFEST, image);
    CHECK_INT(parse(t, AL_MT_OCI_MANIFEST, &m, &e), 0);
    al_manifest_release(&m);
    snprintf(t, sizeof(t), "{\"schemaVersion\":2,%s}", index);
    CHECK_INT(parse(t, AL_MT_DOCKER_LIST, &m, &e), 0);
    al_manifest_release(&m);
}

TEST(digest_known_vector)
{
    char d[AL_DIGEST_STR_MAX];

    al_sha256_digest("abc", 3, d);
    CHECK_STR(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(al_digest_valid(d));
    CHECK(!al_digest_valid("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    CHECK(!al_digest_valid("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(!al_digest_valid("sha256:ba78"));
}
