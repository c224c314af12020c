#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/ref.h"
#include "test.h"

static void expect_ref(const char *in, const char *registry, const char *repo,
                       const char *tag, const char *digest)
{
    struct al_ref r;
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(al_ref_parse(in, &r, &e), 0);
    if (e.code != 0)
        return;
    CHECK_STR(r.registry, registry);
    CHECK_STR(r.repo, repo);
    CHECK(tag ? (r.tag && strcmp(r.tag, tag) == 0) : r.tag == NULL);
    CHECK(digest ? (r.digest && strcmp(r.digest, digest) == 0) : r.digest == NULL);
    al_ref_release(&r);
}

#define D64 "sha256:07d359641e4827bc34e31a5cefaf986acf4e78064fef531124cac0ed6da3e94c"

TEST(ref_parses_the_forms_samples_use)
{
    expect_ref("registry.redhat.io/ubi8/ruby-31:latest", "registry.redhat.io", "ubi8/ruby-31", "latest", NULL);
    expect_ref("registry.access.redhat.com/rhscl/mysql-80-rhel7", "registry.access.redhat.com",
               "rhscl/mysql-80-rhel7", "latest", NULL);
    expect_ref("quay.io/openshift-release-dev/ocp-v4.0-art-dev@" D64, "quay.io",
               "openshift-release-dev/ocp-v4.0-art-dev", NULL, D64);
    expect_ref("127.0.0.1:5000/a/b:1.0@" D64, "127.0.0.1:5000", "a/b", "1.0", D64);
    expect_ref("localhost/x", "localhost", "x", "latest", NULL);
}

TEST(ref_normalises_docker_hub)
{
    expect_ref("busybox", "docker.io", "library/busybox", "latest", NULL);
    expect_ref("docker.io/busybox:1", "docker.io", "library/busybox", "1", NULL);
    expect_ref("index.docker.io/user/app:2", "docker.io", "user/app", "2", NULL);
    CHECK_STR(al_registry_api_host("docker.io"), "registry-1.docker.io");
    CHECK_STR(al_registry_api_host("quay.io"), "quay.io");
}

TEST(ref_refuses_what_is_not_a_reference)
{
    static const char *bad[] = {
        "", "UPPER/case", "a b", "quay.io/x:", "quay.io/x@sha256:abc", "quay.io/x:tag!",
        "quay.io//x", "quay.io/x/", "-x/y", "quay.io/x@md5:0123", ":tag",
    };
    char long_tag[200];
    struct al_ref lr;
    struct al_err le;
    size_t i;

    /* tags are at most 128 characters */
    snprintf(long_tag, sizeof(long_tag), "quay.io/x:%0129d", 0);
    al_err_init(&le);
    CHECK_INT(al_ref_parse(long_tag, &lr, &le), AL_EINVAL);
    long_tag[strlen(long_tag) - 1] = '\0';
    CHECK_INT(al_ref_parse(long_tag, &lr, &le), 0);
    al_ref_release(&lr);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct al_ref r;
        struct al_err e;
        al_err_init(&e);
        CHECK_INT(al_ref_parse(bad[i], &r, &e), AL_EINVAL);
        CHECK(strlen(e.msg) > 0);
    }
}

TEST(ref_format_round_trips)
{
    struct al_ref r;
    struct al_err e;
    char *s, *d;

    al_err_init(&e);
    CHECK_INT(al_ref_parse("registry.redhat.io/ubi8/ruby-31:latest", &r, &e), 0);
    s = al_ref_format(&r);
    d = al_ref_format_digest(&r, D64);
    CHECK_STR(s, "registry.redhat.io/ubi8/ruby-31:latest");
    CHECK_STR(d, "registry.redhat.io/ubi8/ruby-31@" D64);
    free(s);
    free(d);
    al_ref_release(&r);
    CHECK(al_tag_valid("3.1-ubi8"));
    CHECK(!al_tag_valid(".hidden"));
}
