#include "airlock/buf.h"
#include "airlock/file.h"

#include <limits.h>
#include <openssl/evp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void al_buf_init(struct al_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void al_buf_release(struct al_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int al_buf_append(struct al_buf *b, const void *p, size_t n, const char *what,
                  struct al_err *e)
{
    size_t want;
    char *grown;

    if (n > b->max || b->len > b->max - n)
        return al_err_set(e, AL_ETOOBIG, "%s is larger than %zu bytes",
                          what ? what : "data", b->max);
    want = b->len + n + 1;
    if (want > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < want)
            cap *= 2;
        grown = realloc(b->data, cap);
        if (grown == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory reading %s",
                              what ? what : "data");
        b->data = grown;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int al_buf_puts(struct al_buf *b, const char *s, struct al_err *e)
{
    return al_buf_append(b, s, strlen(s), NULL, e);
}

char *al_buf_detach(struct al_buf *b, size_t *len)
{
    char *p = b->data;

    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

int al_buf_read_file(struct al_buf *b, const char *path, struct al_err *e)
{
    char chunk[65536];
    FILE *f;
    size_t n;
    int rc = 0;
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;

    f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL)
        return al_err_sys(e, AL_EIO, errno, "cannot open '%s'", path);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = al_buf_append(b, chunk, n, name, e);
        if (rc != 0)
            goto out;
    }
    if (ferror(f))
        rc = al_err_sys(e, AL_EIO, errno, "cannot read '%s'", name);
    else if (b->data == NULL)
        rc = al_buf_append(b, "", 0, name, e);
out:
    if (!is_stdin)
        fclose(f);
    return rc;
}

char *al_base64_decode(const char *b64, size_t n, size_t *out_len)
{
    unsigned char *out;
    int len;

    while (n > 0 && (b64[n - 1] == '\n' || b64[n - 1] == '\r' || b64[n - 1] == ' '))
        n--;
    if (n == 0 || n % 4 != 0 || n > (size_t)INT_MAX / 2)
        return NULL;
    out = malloc(n / 4 * 3 + 1);
    if (out == NULL)
        return NULL;
    len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    if (len < 0) {
        free(out);
        return NULL;
    }
    if (b64[n - 1] == '=')
        len--;
    if (b64[n - 2] == '=')
        len--;
    out[len] = '\0';
    *out_len = (size_t)len;
    return (char *)out;
}

int al_file_write_atomic(const char *path, const void *data, size_t len, struct al_err *e)
{
    return al_file_write_atomic_mode(path, data, len, 0666, e);
}

int al_str_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}
