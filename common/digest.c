#include "airlock/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct al_sha256 {
    EVP_MD_CTX *ctx;
};

struct al_sha256 *al_sha256_new(void)
{
    struct al_sha256 *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        al_sha256_free(h);
        return NULL;
    }
    return h;
}

void al_sha256_free(struct al_sha256 *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void al_sha256_update(struct al_sha256 *h, const void *p, size_t n)
{
    EVP_DigestUpdate(h->ctx, p, n);
}

static void format_digest(const unsigned char *md, char out[AL_DIGEST_STR_MAX])
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    memcpy(out, "sha256:", 7);
    for (i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[71] = '\0';
}

void al_sha256_final(struct al_sha256 *h, char out[AL_DIGEST_STR_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_DigestFinal_ex(h->ctx, md, &n);
    format_digest(md, out);
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void al_sha256_digest(const void *p, size_t n, char out[AL_DIGEST_STR_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    format_digest(md, out);
}

int al_digest_valid(const char *s)
{
    size_t i;

    if (s == NULL || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
        return 0;
    for (i = 7; i < 71; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}
