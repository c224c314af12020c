#include <string.h>

#include "airlock/kube.h"
#include "test.h"

static int name_ok(const char *v)
{
    struct al_err e;

    al_err_init(&e);
    return al_kube_name_check(v, "spec.additionalTrustedCA.name",
                              "image.config.openshift.io/cluster", &e) == 0;
}

TEST(kube_names_are_dns1123_subdomains)
{
    char longest[254], too_long[255];

    CHECK(name_ok("registry-config"));
    CHECK(name_ok("user-ca"));
    CHECK(name_ok("a"));
    CHECK(name_ok("ca.bundle.v2"));
    CHECK(name_ok("0abc9"));
    memset(longest, 'a', 253);
    longest[253] = '\0';
    CHECK(name_ok(longest));
    memset(too_long, 'a', 254);
    too_long[254] = '\0';
    CHECK(!name_ok(too_long));
    CHECK(!name_ok(""));
    CHECK(!name_ok("../../kube-system/configmaps/victim"));
    CHECK(!name_ok(".."));
    CHECK(!name_ok("."));
    CHECK(!name_ok("a/b"));
    CHECK(!name_ok("User-CA"));
    CHECK(!name_ok("-ca"));
    CHECK(!name_ok("ca-"));
    CHECK(!name_ok("ca."));
    CHECK(!name_ok("a..b"));
    CHECK(!name_ok("a.-b"));
    CHECK(!name_ok("a%2f"));
    CHECK(!name_ok("a?b"));
    CHECK(!name_ok("a b"));
    CHECK(!name_ok("a\nb"));
}

TEST(kube_name_refusal_names_field_and_value)
{
    char long_evil[400];
    struct al_err e;

    al_err_init(&e);
    CHECK(al_kube_name_check("../../kube-system/configmaps/victim",
                             "spec.additionalTrustedCA.name",
                             "image.config.openshift.io/cluster", &e) == AL_EINVAL);
    CHECK(strstr(e.msg, "spec.additionalTrustedCA.name") != NULL);
    CHECK(strstr(e.msg, "image.config.openshift.io/cluster") != NULL);
    CHECK(strstr(e.msg, "'../../kube-system/configmaps/victim'") != NULL);
    CHECK(strstr(e.msg, "oc edit image.config.openshift.io/cluster") != NULL);
    /* a long value is shortened, a control character shown as '?' */
    memset(long_evil, 'x', sizeof(long_evil) - 1);
    long_evil[sizeof(long_evil) - 1] = '\0';
    long_evil[3] = '\033';
    al_err_init(&e);
    CHECK(al_kube_name_check(long_evil, "f", "o", &e) == AL_EINVAL);
    CHECK(strstr(e.msg, "'xxx?xxxx") != NULL);
    CHECK(strstr(e.msg, "...'") != NULL);
    CHECK(strchr(e.msg, '\033') == NULL);
    CHECK(strlen(e.msg) < 300);
}
