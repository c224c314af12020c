#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "airlock/sign.h"
#include "test.h"

/* Writes a new private key of `type` ("ED25519" or "EC") as PEM. */
static void make_key(const char *type, const char *path)
{
    EVP_PKEY *k = strcmp(type, "EC") == 0 ? EVP_EC_gen("P-256") : EVP_PKEY_Q_keygen(NULL, NULL, type);
    FILE *f = fopen(path, "w");

    CHECK(k != NULL && f != NULL);
    CHECK(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
    EVP_PKEY_free(k);
}

static void round_trip(const char *type)
{
    char p1[300], p2[300];
    struct al_sig_key *k1 = NULL, *k2 = NULL, *pub = NULL;
    struct al_buf sig;
    struct al_err e;
    const char msg[] = "{\"format\":\"airlock-bundle\"}";
    char tampered[sizeof(msg)];

    snprintf(p1, sizeof(p1), "%s/%s-1.key", test_tmpdir(), type);
    snprintf(p2, sizeof(p2), "%s/%s-2.key", test_tmpdir(), type);
    make_key(type, p1);
    make_key(type, p2);
    al_err_init(&e);
    al_buf_init(&sig, 65536);
    CHECK_INT(al_sig_key_load_private(&k1, p1, &e), 0);
    CHECK_INT(al_sig_key_load_private(&k2, p2, &e), 0);
    CHECK_INT(al_sig_key_load_public(&pub, p1, &e), 0);
    CHECK_STR(al_sig_key_id(k1), al_sig_key_id(pub));
    CHECK(strcmp(al_sig_key_id(k1), al_sig_key_id(k2)) != 0);
    CHECK_INT(al_sig_sign(k1, msg, sizeof(msg) - 1, &sig, &e), 0);
    CHECK_INT(al_sig_verify(pub, msg, sizeof(msg) - 1, sig.data, sig.len, "bundle.json", &e), 0);
    memcpy(tampered, msg, sizeof(msg));
    tampered[3] ^= 1;
    CHECK_INT(al_sig_verify(pub, tampered, sizeof(msg) - 1, sig.data, sig.len, "bundle.json", &e), AL_ESIG);
    CHECK(strstr(e.msg, "bad signature") != NULL);
    CHECK_INT(al_sig_verify(k2, msg, sizeof(msg) - 1, sig.data, sig.len, "bundle.json", &e), AL_ESIG);
    CHECK(strstr(e.msg, "wrong key") != NULL);
    CHECK(strstr(e.msg, al_sig_key_id(k1)) != NULL);
    CHECK(al_sig_verify(pub, msg, sizeof(msg) - 1, "{}", 2, "bundle.json", &e) != 0);
    {
        char id[AL_KEY_ID_LEN];
        CHECK_INT(al_sig_doc_key_id(sig.data, sig.len, id, "bundle.json", &e), 0);
        CHECK_STR(id, al_sig_key_id(k1));
    }
    al_buf_release(&sig);
    al_sig_key_free(k1);
    al_sig_key_free(k2);
    al_sig_key_free(pub);
}

TEST(sign_ed25519_round_trip_and_wrong_key)
{
    round_trip("ED25519");
}

TEST(sign_ecdsa_p256_round_trip_and_wrong_key)
{
    round_trip("EC");
}

TEST(sign_doc_key_id_refuses_malformed_documents)
{
    static const char *const bad[] = {
        "{}", "not json", "{\"key_id\": 7}", "{\"key_id\": \"0123\"}",
        "{\"key_id\": \"0123456789ABCDEF\"}", "{\"key_id\": \"0123456789abcdeg\"}",
        "{\"key_id\": \"0123456789abcdef0\"}",
    };
    const char good[] = "{\"key_id\": \"0123456789abcdef\", \"signature\": \"x\"}";
    char id[AL_KEY_ID_LEN] = "x";
    struct al_err e;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        al_err_init(&e);
        CHECK_INT(al_sig_doc_key_id(bad[i], strlen(bad[i]), id, "receipt 'r.json'", &e),
                  AL_ESIG);
        CHECK_STR(id, "");
        CHECK(strstr(e.msg, "receipt 'r.json'") != NULL);
    }
    CHECK_INT(al_sig_doc_key_id(good, sizeof(good) - 1, id, "x", &e), 0);
    CHECK_STR(id, "0123456789abcdef");
}

TEST(sign_refuses_other_keys_and_names_the_file)
{
    char p[300];
    struct al_sig_key *k = NULL;
    struct al_err e;
    FILE *f;

    snprintf(p, sizeof(p), "%s/rsa.key", test_tmpdir());
    f = fopen(p, "w");
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    PEM_write_PrivateKey(f, rsa, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    EVP_PKEY_free(rsa);
    al_err_init(&e);
    CHECK(al_sig_key_load_private(&k, p, &e) != 0);
    CHECK(strstr(e.msg, "rsa.key") != NULL);
    CHECK(al_sig_key_load_private(&k, "/nonexistent.key", &e) != 0);
    CHECK(strstr(e.msg, "/nonexistent.key") != NULL);
}
