/* The receipt both ways (written by the import, read by --since). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/buf.h"
#include "airlock/receipt.h"
#include "airlock/sign.h"
#include "test.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
                       c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void add(struct al_receipt *r, const char *digest, long long size,
                enum al_blob_kind kind, const char *repo1, const char *repo2)
{
    struct al_meta_blob b = {.size = size, .kind = kind,
                             .media_type = (char *)"application/vnd.oci.image.layer.v1.tar"};
    struct al_receipt_blob *x = NULL;
    struct al_err e;

    snprintf(b.digest, sizeof(b.digest), "%s", digest);
    al_err_init(&e);
    CHECK_INT(al_receipt_add_blob(r, &b, &x, &e), 0);
    CHECK_INT(al_receipt_blob_add_repo(x, repo1, &e), 0);
    CHECK_INT(al_receipt_blob_add_repo(x, repo2, &e), 0);
    CHECK_INT(al_receipt_blob_add_repo(x, repo1, &e), 0);   /* once only */
}

TEST(receipt_reads_back_what_was_written)
{
    struct al_receipt r = {0}, back;
    struct al_err e;
    char path[300];
    char *text;
    size_t len, i, j;

    r.bundle_id = strdup("edc6125e");
    r.created = strdup("2026-11-25T11:33:37Z");
    r.mirror = strdup("mirror.example.com:5000");
    add(&r, D("a"), 300332, AL_BLOB_LAYER, "ubi8/ruby-31", "ubi8/python-39");
    add(&r, D("b"), 1200, AL_BLOB_CONFIG, "ubi8/ruby-31", "ocp/ruby");
    add(&r, D("c"), 7, AL_BLOB_LAYER, "mg", "mg2");
    CHECK_INT(r.blobs[0].n_repos, 2);
    snprintf(path, sizeof(path), "%s/receipt.json", test_tmpdir());
    al_err_init(&e);
    CHECK_INT(al_receipt_write(&r, path, NULL, &e), 0);
    text = test_read_file(path, &len);
    CHECK(al_receipt_is(text, len));
    CHECK_INT(al_receipt_parse(&back, text, len, "receipt", &e), 0);
    CHECK_STR(back.bundle_id, r.bundle_id);
    CHECK_STR(back.created, r.created);
    CHECK_STR(back.mirror, r.mirror);
    CHECK_INT(back.n_blobs, r.n_blobs);
    for (i = 0; i < r.n_blobs && i < back.n_blobs; i++) {
        CHECK_STR(back.blobs[i].digest, r.blobs[i].digest);
        CHECK_INT(back.blobs[i].size, r.blobs[i].size);
        CHECK_STR(back.blobs[i].media_type, r.blobs[i].media_type);
        CHECK_INT(back.blobs[i].kind, r.blobs[i].kind);
        CHECK_INT(back.blobs[i].n_repos, r.blobs[i].n_repos);
        for (j = 0; j < r.blobs[i].n_repos && j < back.blobs[i].n_repos; j++)
            CHECK_STR(back.blobs[i].repos[j], r.blobs[i].repos[j]);
    }
    free(text);
    al_receipt_release(&back);
    al_receipt_release(&r);
}

TEST(receipt_refuses_what_since_could_not_trust)
{
    struct al_receipt r;
    struct al_err e;
    static const char bad_repo[] =
        "{\"format\": \"airlock-receipt\", \"version\": 1, \"bundle_id\": \"x\","
        " \"blobs\": [{\"digest\": \"" D("a") "\", \"size\": 1, \"media_type\": \"t\","
        " \"kind\": \"layer\", \"repositories\": [\"../etc\"]}]}";
    static const char no_id[] = "{\"format\": \"airlock-receipt\", \"blobs\": []}";
    static const char bad_digest[] =
        "{\"format\": \"airlock-receipt\", \"bundle_id\": \"x\","
        " \"blobs\": [{\"digest\": \"md5:x\", \"size\": 1, \"media_type\": \"t\"}]}";

    al_err_init(&e);
    CHECK(al_receipt_is(bad_repo, strlen(bad_repo)));
    CHECK(!al_receipt_is("{\"format\": \"airlock-bundle\"}", 28));
    CHECK_INT(al_receipt_parse(&r, bad_repo, strlen(bad_repo), "--since 'r'", &e), AL_EINVAL);
    CHECK_STR(e.msg, "--since 'r': blobs[0] names an invalid repository");
    CHECK(r.n_blobs == 0 && r.bundle_id == NULL);
    CHECK_INT(al_receipt_parse(&r, no_id, strlen(no_id), "--since 'r'", &e), AL_EINVAL);
    CHECK_STR(e.msg, "--since 'r' is not an airlock receipt");
    CHECK_INT(al_receipt_parse(&r, bad_digest, strlen(bad_digest), "--since 'r'", &e),
              AL_EINVAL);
    CHECK(strstr(e.msg, "blobs[0] is not digest, size and media type") != NULL);
}

/* A receipt written unsigned over a signed one leaves no signature behind:
 * --since would call it a bad signature instead of an unsigned receipt. */
TEST(receipt_unsigned_removes_an_earlier_signature)
{
    struct al_receipt r = {0};
    struct al_sig_key *key = NULL;
    char path[300], sig[320];
    struct al_err e;

    al_err_init(&e);
    test_new_key("receipt-test.key", &key);
    r.bundle_id = strdup("edc6125e");
    r.created = strdup("2026-11-25T11:33:37Z");
    r.mirror = strdup("mirror.example.com:5000");
    add(&r, D("a"), 300332, AL_BLOB_LAYER, "ubi8/ruby-31", "ubi8/python-39");
    snprintf(path, sizeof(path), "%s/signed-receipt.json", test_tmpdir());
    snprintf(sig, sizeof(sig), "%s.sig", path);
    CHECK_INT(al_receipt_write(&r, path, key, &e), 0);
    CHECK(access(sig, F_OK) == 0);
    CHECK_INT(al_receipt_write(&r, path, NULL, &e), 0);
    CHECK(access(path, F_OK) == 0);
    CHECK(access(sig, F_OK) != 0);
    al_receipt_release(&r);
    al_sig_key_free(key);
}
