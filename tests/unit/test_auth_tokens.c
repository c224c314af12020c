/* The Bearer token cache of common/auth.c, through its private header: no
 * server is needed, since a request that would reach the token service
 * stops first at an endpoint that names no realm. */
#include <stdlib.h>
#include <string.h>

#include "../../common/registry_int.h"
#include "test.h"

TEST(token_cache_hit_miss_and_newest_first)
{
    struct reg_token *list = NULL;
    const struct reg_token *t = NULL;
    struct al_err e;

    al_err_init(&e);
    CHECK(auth_token_find(list, "repository:a/b:pull") == NULL);
    CHECK_INT(auth_token_add(&list, "repository:a/b:pull", "t1", &t, &e), 0);
    CHECK(t != NULL && t == auth_token_find(list, "repository:a/b:pull"));
    CHECK_STR(auth_token_find(list, "repository:a/b:pull")->header,
              "Authorization: Bearer t1");
    /* a scope is matched whole: pull,push is another token */
    CHECK(auth_token_find(list, "repository:a/b:pull,push") == NULL);
    CHECK(auth_token_find(list, "repository:a/b") == NULL);
    CHECK_INT(auth_token_add(&list, "repository:a/b:pull", "t2", NULL, &e), 0);
    CHECK_STR(auth_token_find(list, "repository:a/b:pull")->header,
              "Authorization: Bearer t2");
    auth_tokens_free(list);
    auth_tokens_free(NULL);
}

TEST(token_cache_learn_takes_only_missing_scopes)
{
    struct reg_token *src = NULL, *dst = NULL;
    const struct reg_token *t;
    struct al_err e;
    int n = 0;

    al_err_init(&e);
    CHECK_INT(auth_token_add(&src, "s1", "old", NULL, &e), 0);
    CHECK_INT(auth_token_add(&src, "s1", "new", NULL, &e), 0);
    CHECK_INT(auth_token_add(&src, "s2", "src2", NULL, &e), 0);
    CHECK_INT(auth_token_add(&dst, "s2", "mine", NULL, &e), 0);
    auth_tokens_learn(&dst, src);
    CHECK_STR(auth_token_find(dst, "s1")->header, "Authorization: Bearer new");
    CHECK_STR(auth_token_find(dst, "s2")->header, "Authorization: Bearer mine");
    for (t = dst; t != NULL; t = t->next)
        n++;
    CHECK_INT(n, 2);
    auth_tokens_free(src);
    auth_tokens_free(dst);
}

TEST(auth_header_cached_fresh_and_basic)
{
    /* dXNlcjE6cGFzczE= user1:pass1 */
    const char *text = "{\"auths\":{\"reg.example\":{\"auth\":\"dXNlcjE6cGFzczE=\"}}}";
    struct al_authfile *af = NULL;
    struct al_registry *r = NULL;
    struct reg_endpoint ep = {.host = "reg.example"};
    char *h = NULL;
    struct al_err e;

    al_err_init(&e);
    CHECK_INT(al_authfile_parse(&af, text, strlen(text), "auth.json", &e), 0);
    CHECK_INT(al_registry_new(&r, NULL, af, &e), 0);
    ep.ch.scheme = AL_AUTH_BEARER;
    CHECK_INT(auth_token_add(&ep.tokens, "repository:a/b:pull", "tok", NULL, &e), 0);
    CHECK_INT(auth_header(r, &ep, "a/b", "repository:a/b:pull", 0, &h, &e), 0);
    CHECK_STR(h, "Authorization: Bearer tok");
    al_secret_free(h);
    /* a miss, or `fresh`, goes to the token service: here, none named */
    CHECK_INT(auth_header(r, &ep, "a/c", "repository:a/c:pull", 0, &h, &e), AL_EINVAL);
    CHECK(h == NULL && strstr(e.msg, "names no realm") != NULL);
    al_err_init(&e);
    CHECK_INT(auth_header(r, &ep, "a/b", "repository:a/b:pull", 1, &h, &e), AL_EINVAL);
    CHECK(h == NULL);
    ep.ch.scheme = AL_AUTH_BASIC;
    CHECK_INT(auth_header(r, &ep, "a/b", "repository:a/b:pull", 0, &h, &e), 0);
    CHECK_STR(h, "Authorization: Basic dXNlcjE6cGFzczE=");
    al_secret_free(h);
    ep.host = "other.example";
    CHECK_INT(auth_header(r, &ep, "a/b", "repository:a/b:pull", 0, &h, &e), 0);
    CHECK(h == NULL);
    auth_tokens_free(ep.tokens);
    al_registry_free(r);
    al_authfile_free(af);
}
