#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/auth.h"
#include "test.h"

TEST(challenge_bearer_with_quoted_commas)
{
    struct al_challenge c;
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(al_challenge_parse("Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\","
                                 "scope=\"repository:a/b:pull,push\"", &c, &e), 0);
    CHECK_INT(c.scheme, AL_AUTH_BEARER);
    CHECK_STR(c.realm, "https://auth.example.com/token");
    CHECK_STR(c.service, "registry.example.com");
    CHECK_STR(c.scope, "repository:a/b:pull,push");
    al_challenge_release(&c);
}

TEST(challenge_basic_and_unknown)
{
    struct al_challenge c;
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(al_challenge_parse("basic realm=\"Registry Realm\"", &c, &e), 0);
    CHECK_INT(c.scheme, AL_AUTH_BASIC);
    CHECK_STR(c.realm, "Registry Realm");
    al_challenge_release(&c);
    CHECK(al_challenge_parse("Negotiate abc", &c, &e) != 0);
    CHECK(al_challenge_parse("Bearer realm=\"unterminated", &c, &e) != 0);
    CHECK(al_challenge_parse("", &c, &e) != 0);
}

TEST(token_response_forms)
{
    char *t = NULL;
    struct al_err e;
    const char *a = "{\"token\":\"abc\",\"expires_in\":300}";
    const char *b = "{\"access_token\":\"xyz\"}";

    al_err_init(&e);
    CHECK_INT(al_token_parse(a, strlen(a), &t, &e), 0);
    CHECK_STR(t, "abc");
    al_secret_free(t);
    CHECK_INT(al_token_parse(b, strlen(b), &t, &e), 0);
    CHECK_STR(t, "xyz");
    al_secret_free(t);
    CHECK(al_token_parse("{}", 2, &t, &e) != 0);
    CHECK(al_token_parse("nope", 4, &t, &e) != 0);
}

TEST(authfile_longest_prefix_and_docker_hub)
{
    /* dXNlcjE6cGFzczE= user1:pass1, dXNlcjI6cGFzczI= user2:pass2,
     * aHViOmh1YnBhc3M= hub:hubpass */
    const char *text = "{\"auths\":{"
        "\"registry.redhat.io\":{\"auth\":\"dXNlcjE6cGFzczE=\"},"
        "\"registry.redhat.io/ubi8\":{\"auth\":\"dXNlcjI6cGFzczI=\"},"
        "\"https://index.docker.io/v1/\":{\"auth\":\"aHViOmh1YnBhc3M=\"}}}";
    struct al_authfile *af = NULL;
    const char *u = NULL, *p = NULL;
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(al_authfile_parse(&af, text, strlen(text), "pull-secret.json", &e), 0);
    CHECK(al_authfile_find(af, "registry.redhat.io", "ubi8/ruby-31", &u, &p));
    CHECK_STR(u, "user2");
    CHECK(al_authfile_find(af, "registry.redhat.io", "rhel8/postgresql-13", &u, &p));
    CHECK_STR(u, "user1");
    CHECK_STR(p, "pass1");
    CHECK(al_authfile_find(af, "docker.io", "library/busybox", &u, &p));
    CHECK_STR(u, "hub");
    CHECK(!al_authfile_find(af, "quay.io", "x/y", &u, &p));
    al_authfile_free(af);
}

TEST(authfile_errors_name_the_file_not_the_secret)
{
    const char *bad = "{\"auths\":{\"quay.io\":{\"auth\":\"bm9jb2xvbg==\"}}}"; /* "nocolon" */
    struct al_authfile *af = NULL;
    struct al_err e;

    al_err_init(&e);
    CHECK(al_authfile_parse(&af, bad, strlen(bad), "my-auth.json", &e) != 0);
    CHECK(strstr(e.msg, "my-auth.json") != NULL);
    CHECK(strstr(e.msg, "bm9jb2xvbg") == NULL);
    CHECK(al_authfile_parse(&af, "{", 1, "broken.json", &e) != 0);
    CHECK(strstr(e.msg, "broken.json") != NULL);
    CHECK(al_authfile_load(&af, "/nonexistent/auth.json", &e) != 0);
    CHECK(strstr(e.msg, "/nonexistent/auth.json") != NULL);
}

TEST(basic_header)
{
    char *h = al_basic_header("user1", "pass1");

    CHECK_STR(h, "Authorization: Basic dXNlcjE6cGFzczE=");
    al_secret_free(h);
}

/* A syntax error right after a secret: jansson's message quotes the text
 * "near" the error; the auth file's message must not. */
TEST(authfile_parse_error_quotes_no_secret)
{
    const char *cases[] = {
        "{\"auths\":{\"quay.io\":{\"username\":\"u\",\"password\":\"hunter2\"x}}}",
        "{\"auths\":{\"quay.io\":{\"auth\":\"dXNlcjE6aHVudGVyMg==\" \"email\":\"\"}}}",
        "{\"auths\":{\"quay.io\":{\"password\":\"hunter2",
        "{\"auths\":{\"quay.io\":{\"password\":hunter2}}}",
        "{\"auths\":{\"quay.io\":{\"password\":\"hun\ter2\"}}}",
    };
    struct al_authfile *af = NULL;
    struct al_err e;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        al_err_init(&e);
        CHECK(al_authfile_parse(&af, cases[i], strlen(cases[i]), "auth.json", &e) != 0);
        CHECK(strstr(e.msg, "'auth.json'") != NULL);
        CHECK(strstr(e.msg, "line 1, column ") != NULL);
        CHECK(strstr(e.msg, "hunter") == NULL);
        CHECK(strstr(e.msg, "hun") == NULL);
        CHECK(strstr(e.msg, "dXNlcjE6") == NULL);
        CHECK(strstr(e.msg, "near") == NULL);
    }
}

/* The four names Docker Hub credentials are stored under, found for a
 * docker.io image whichever name the registry client asks with (it talks
 * to registry-1.docker.io). */
TEST(authfile_docker_hub_key_forms)
{
    const char *keys[] = {"docker.io", "index.docker.io", "https://index.docker.io/v1/",
                          "registry-1.docker.io"};
    const char *hosts[] = {"docker.io", "registry-1.docker.io", "index.docker.io"};
    char text[300];
    struct al_authfile *af = NULL;
    const char *u, *p;
    struct al_err e;
    size_t i, j;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        snprintf(text, sizeof(text), "{\"auths\":{\"%s\":{\"auth\":\"aHViOmh1YnBhc3M=\"}}}",
                 keys[i]);
        al_err_init(&e);
        CHECK_INT(al_authfile_parse(&af, text, strlen(text), "auth.json", &e), 0);
        for (j = 0; j < sizeof(hosts) / sizeof(hosts[0]); j++) {
            u = p = NULL;
            CHECK(al_authfile_find(af, hosts[j], "library/busybox", &u, &p));
            CHECK_STR(u, "hub");
        }
        CHECK(!al_authfile_find(af, "quay.io", "library/busybox", &u, &p));
        al_authfile_free(af);
    }
}

/* Docker Hub keeps the lookup order: a repository key beats the host, and
 * "docker.io" itself beats a legacy form of the same host. */
TEST(authfile_docker_hub_order)
{
    /* dXNlcjE6cGFzczE= user1:pass1, dXNlcjI6cGFzczI= user2:pass2,
     * aHViOmh1YnBhc3M= hub:hubpass */
    const char *text = "{\"auths\":{"
        "\"https://index.docker.io/v1/\":{\"auth\":\"aHViOmh1YnBhc3M=\"},"
        "\"docker.io\":{\"auth\":\"dXNlcjE6cGFzczE=\"},"
        "\"docker.io/myorg\":{\"auth\":\"dXNlcjI6cGFzczI=\"}}}";
    struct al_authfile *af = NULL;
    const char *u = NULL, *p = NULL;
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(al_authfile_parse(&af, text, strlen(text), "auth.json", &e), 0);
    CHECK(al_authfile_find(af, "registry-1.docker.io", "myorg/app", &u, &p));
    CHECK_STR(u, "user2");
    CHECK(al_authfile_find(af, "registry-1.docker.io", "library/busybox", &u, &p));
    CHECK_STR(u, "user1");
    CHECK(al_authfile_find(af, "docker.io", "myorgx/app", &u, &p));
    CHECK_STR(u, "user1");
    al_authfile_free(af);
}
