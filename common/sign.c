#include "airlock/sign.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/digest.h"

#define SIG_DOC_MAX 4096

struct al_sig_key {
    EVP_PKEY *pkey;
    int is_ed25519;
    char id[AL_KEY_ID_LEN];
};

void al_sig_key_free(struct al_sig_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

const char *al_sig_key_id(const struct al_sig_key *k)
{
    return k->id;
}

static int check_type_and_id(struct al_sig_key *k, const char *path,
                             struct al_err *e)
{
    unsigned char *der = NULL;
    char digest[AL_DIGEST_STR_MAX];
    char group[64] = "";
    size_t glen = 0;
    int len;

    if (EVP_PKEY_is_a(k->pkey, "ED25519")) {
        k->is_ed25519 = 1;
    } else if (EVP_PKEY_is_a(k->pkey, "EC") &&
               EVP_PKEY_get_utf8_string_param(k->pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                              group, sizeof(group), &glen) &&
               strcmp(group, "prime256v1") == 0) {
        k->is_ed25519 = 0;
    } else {
        return al_err_set(e, AL_EINVAL,
                          "key '%s' is neither Ed25519 nor ECDSA P-256 (make one "
                          "with 'openssl genpkey -algorithm ed25519')", path);
    }
    len = i2d_PUBKEY(k->pkey, &der);
    if (len <= 0)
        return al_err_set(e, AL_EINVAL, "cannot encode the public half of '%s'", path);
    al_sha256_digest(der, (size_t)len, digest);
    OPENSSL_free(der);
    snprintf(k->id, sizeof(k->id), "%.16s", digest + 7);
    return 0;
}

/* An encrypted key: asks for its passphrase (OpenSSL's prompt on the
 * terminal) only when standard input is a terminal; off one (cron, systemd,
 * a pipe) nobody could answer, so no prompt and a clear error instead. */
static int passphrase_cb(char *buf, int size, int rwflag, void *ud)
{
    int *asked = ud;

    *asked = 1;
    if (!isatty(STDIN_FILENO))
        return -1;
    return PEM_def_callback(buf, size, rwflag, NULL);
}

static int load_key(struct al_sig_key **out, const char *path, int want_private,
                    struct al_err *e)
{
    int asked = 0;

    struct al_sig_key *k;
    FILE *f;
    int rc;

    *out = NULL;
    f = fopen(path, "r");
    if (f == NULL)
        return al_err_sys(e, AL_EINVAL, errno, "cannot open key '%s'", path);
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        fclose(f);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    k->pkey = PEM_read_PrivateKey(f, NULL, passphrase_cb, &asked);
    if (k->pkey == NULL && !want_private) {
        rewind(f);
        ERR_clear_error();
        k->pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    }
    fclose(f);
    ERR_clear_error();
    if (k->pkey == NULL && asked) {
        al_sig_key_free(k);
        if (!isatty(STDIN_FILENO))
            return al_err_set(e, AL_EINVAL, "key '%s' is encrypted and standard input "
                              "is not a terminal to ask for its passphrase: run on a "
                              "terminal, or decrypt a copy ('openssl pkey -in %s -out "
                              "KEY') kept where only this job can read it", path, path);
        return al_err_set(e, AL_EINVAL, "cannot decrypt key '%s' (wrong passphrase?)",
                          path);
    }
    if (k->pkey == NULL) {
        al_sig_key_free(k);
        return al_err_set(e, AL_EINVAL, "'%s' is not a PEM %s key", path,
                          want_private ? "private (unencrypted)" : "public or private");
    }
    rc = check_type_and_id(k, path, e);
    if (rc != 0) {
        al_sig_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int al_sig_key_load_private(struct al_sig_key **out, const char *path,
                            struct al_err *e)
{
    return load_key(out, path, 1, e);
}

int al_sig_key_load_public(struct al_sig_key **out, const char *path,
                           struct al_err *e)
{
    return load_key(out, path, 0, e);
}

static const char *algorithm_name(const struct al_sig_key *k)
{
    return k->is_ed25519 ? "ed25519" : "ecdsa-p256-sha256";
}

int al_sig_sign(const struct al_sig_key *k, const void *data, size_t len,
                struct al_buf *out, struct al_err *e)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[256];
    char b64[400];
    size_t slen = sizeof(sig);
    json_t *doc = NULL;
    char *text = NULL;
    int rc = 0;

    if (ctx == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    if (EVP_DigestSignInit(ctx, NULL, k->is_ed25519 ? NULL : EVP_sha256(), NULL,
                           k->pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &slen, data, len) != 1) {
        rc = al_err_set(e, AL_ESIG, "signing failed: %s",
                        ERR_reason_error_string(ERR_get_error()));
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)b64, sig, (int)slen);
    doc = json_pack("{s:s, s:s, s:s}", "algorithm", algorithm_name(k), "key_id",
                    k->id, "signature", b64);
    text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    if (text == NULL) {
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
        goto out;
    }
    rc = al_buf_puts(out, text, e);
    if (rc == 0)
        rc = al_buf_puts(out, "\n", e);
out:
    free(text);
    json_decref(doc);
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

int al_sig_verify(const struct al_sig_key *k, const void *data, size_t len,
                  const char *sig_doc, size_t sig_len, const char *what,
                  struct al_err *e)
{
    json_error_t je;
    json_t *doc;
    const char *alg, *kid, *b64;
    unsigned char sig[400];
    EVP_MD_CTX *ctx = NULL;
    int n, rc = 0;
    size_t b64len;

    if (sig_len > SIG_DOC_MAX)
        return al_err_set(e, AL_ESIG, "signature of %s is larger than %d bytes",
                          what, SIG_DOC_MAX);
    doc = json_loadb(sig_doc, sig_len, JSON_REJECT_DUPLICATES, &je);
    alg = json_string_value(json_object_get(doc, "algorithm"));
    kid = json_string_value(json_object_get(doc, "key_id"));
    b64 = json_string_value(json_object_get(doc, "signature"));
    if (alg == NULL || kid == NULL || b64 == NULL) {
        rc = al_err_set(e, AL_ESIG, "signature of %s is malformed (expected "
                        "algorithm, key_id and signature)", what);
        goto out;
    }
    if (strcmp(kid, k->id) != 0) {
        rc = al_err_set(e, AL_ESIG, "wrong key: %s is signed by key %.16s, "
                        "the verification key is %s", what, kid, k->id);
        goto out;
    }
    if (strcmp(alg, algorithm_name(k)) != 0) {
        rc = al_err_set(e, AL_ESIG, "bad signature: %s names algorithm '%.32s' "
                        "but key %s is %s", what, alg, k->id, algorithm_name(k));
        goto out;
    }
    b64len = strlen(b64);
    if (b64len == 0 || b64len % 4 != 0 || b64len > 4 * sizeof(sig) / 3) {
        rc = al_err_set(e, AL_ESIG, "bad signature: %s has a malformed signature", what);
        goto out;
    }
    n = EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)b64len);
    if (n > 0 && b64[b64len - 1] == '=')
        n--;
    if (n > 0 && b64[b64len - 2] == '=')
        n--;
    ctx = EVP_MD_CTX_new();
    if (n <= 0 || ctx == NULL ||
        EVP_DigestVerifyInit(ctx, NULL, k->is_ed25519 ? NULL : EVP_sha256(), NULL,
                             k->pkey) != 1 ||
        EVP_DigestVerify(ctx, sig, (size_t)n, data, len) != 1)
        rc = al_err_set(e, AL_ESIG, "bad signature: %s does not match its "
                        "signature by key %s", what, k->id);
out:
    EVP_MD_CTX_free(ctx);
    json_decref(doc);
    ERR_clear_error();
    return rc;
}

int al_sig_doc_key_id(const char *sig_doc, size_t sig_len, char id[AL_KEY_ID_LEN],
                      const char *what, struct al_err *e)
{
    json_t *doc = NULL;
    const char *kid;
    int rc = 0;

    id[0] = '\0';
    if (sig_len <= SIG_DOC_MAX)
        doc = json_loadb(sig_doc, sig_len, JSON_REJECT_DUPLICATES, NULL);
    kid = json_string_value(json_object_get(doc, "key_id"));
    if (kid == NULL || strlen(kid) != AL_KEY_ID_LEN - 1 ||
        strspn(kid, "0123456789abcdef") != AL_KEY_ID_LEN - 1)
        rc = al_err_set(e, AL_ESIG, "signature of %s is malformed (no valid key_id)",
                        what);
    else
        memcpy(id, kid, AL_KEY_ID_LEN);
    json_decref(doc);
    return rc;
}

int al_sig_path(char *out, size_t n, const char *path, struct al_err *e)
{
    int k = snprintf(out, n, "%s.sig", path);

    if (k < 0 || (size_t)k >= n)
        return al_err_set(e, AL_ETOOBIG, "the signature file name of '%.200s' is "
                          "too long", path);
    return 0;
}
